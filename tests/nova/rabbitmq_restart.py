#!/usr/bin/python3
"""RabbitMQ stopped and started again while guests run and requests keep
coming: sculpt-compute reconnects and declares its queues again, its
service stays up in Nova (heartbeats resume within service_down_time), no
guest is lost, and requests work again.

    rabbitmq_restart.py RUN_DIR NAME      (NAME: a contrib/stack/sculpt.sh instance)

One Python process drives Nova (each `openstack` command costs seconds).
"""
import json
import os
import subprocess
import sys
import time

from phase import Phase, nova_admin, sculpt_domain, server_status, stack_env

say, fail, wait = Phase('rabbitmq').functions()


def main():
    run, name = sys.argv[1], sys.argv[2]
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stack = os.path.join(top, 'contrib', 'stack')
    env = stack_env(run, ('nova', 'rabbitmq', name))
    os.environ.update(env)
    host = env['SCULPT_HOST']
    libvirt = 'compute_driver = libvirt' in open(env['SCULPT_CONF']).read()
    if libvirt:
        env.update(stack_env(run, ('libvirt',)))

    nova, _ = nova_admin(env)

    def status(s):
        return server_status(nova, s, fail)

    servers = [nova.servers.create('rmq-%d' % n, env['SCULPT_IMAGE_ID'], env['SCULPT_FLAVOR_ID'],
                                   nics='none', availability_zone='nova:%s' % host)
               for n in (1, 2)]
    for s in servers:
        wait('%s ACTIVE' % s.name, lambda: status(s) == 'ACTIVE', 180)
    say('2 guests ACTIVE on %s' % host)

    def connects():
        with open(env['SCULPT_LOG']) as f:
            return f.read().count('connected to RabbitMQ')

    def consuming():
        out = subprocess.run([env['RABBITMQ_CTL'], '-q', 'list_queues', 'name', 'consumers'],
                             capture_output=True, text=True).stdout
        return any(l.split() == ['compute.%s' % host, '1'] for l in out.splitlines())

    before = connects()
    stop_file = os.path.join(run, 'rmq-load.stop')
    out_file = os.path.join(run, 'rmq-load.json')
    if os.path.exists(stop_file):
        os.unlink(stop_file)
    load = subprocess.Popen([sys.executable, os.path.join(top, 'tests', 'nova', 'rpc_load.py'),
                             '--host', host, '--seconds', '180', '--out', out_file,
                             '--stop-file', stop_file],
                            stderr=open(os.path.join(run, 'rmq-load.log'), 'w'))
    time.sleep(3)
    subprocess.run([os.path.join(stack, 'rabbitmq.sh'), 'stop', run], check=True,
                   stdout=subprocess.DEVNULL)
    say('RabbitMQ stopped')
    time.sleep(10)
    subprocess.run([os.path.join(stack, 'rabbitmq.sh'), 'start', run], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, RABBITMQ_PORT=env['RABBITMQ_PORT']))
    back = time.time()
    say('RabbitMQ started again')
    wait('sculpt-compute reconnected and consuming compute.%s' % host,
         lambda: connects() > before and consuming(), 60)
    say('sculpt-compute reconnected and consumes compute.%s again (%.1f s)'
        % (host, time.time() - back))
    wait('nova-compute %s up in Nova' % host,
         lambda: [s for s in nova.services.list(host=host, binary='nova-compute')
                  if s.state == 'up'], 120)
    say('service %s up in Nova' % host)

    def answered_after():
        try:
            r = json.load(open(out_file))
        except (OSError, ValueError):
            return None
        return [t for t in r['answered'] if t >= back]
    # the Python client reconnects on its own schedule (oslo's backoff)
    wait('the client answered after the restart', answered_after, 90)
    open(stop_file, 'w').close()
    if load.wait(60) != 0:
        fail('the RPC load generator failed')
    r = json.load(open(out_file))
    after = [t for t in r['answered'] if t >= back]
    say('client calls: %d answered (%d after the restart), %d failed while the broker was away'
        % (len(r['answered']), len(after), len(r['failed'])))
    if not after:
        fail('no request answered after the restart')

    def domstate(dom):
        return subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'domstate', dom],
                              capture_output=True, text=True).stdout.strip()

    # the guest by sculpt's record, not by Nova's instance_name: a build a
    # pre-sculpted member served runs under the member's name (whether one
    # did depends on what the phases before taught the host)
    for s in servers:
        s = nova.servers.get(s.id)
        if s.status != 'ACTIVE':
            fail('%s is %s after the restart' % (s.name, s.status))
        if libvirt:
            dom = sculpt_domain(env, s.id)
            if domstate(dom) != 'running':
                fail('guest %r of %s is %r after the restart' % (dom, s.name, domstate(dom)))
            say('%s runs as %s (%s)' % (s.name, dom, 'a pool member' if dom.startswith(
                'sculpt-pool-') else 'a cold build'))
    s = servers[0]
    nova.servers.stop(s)
    wait('stop after the restart', lambda: status(s) == 'SHUTOFF', 120)
    nova.servers.start(s)
    wait('start after the restart', lambda: status(s) == 'ACTIVE', 120)
    if libvirt:
        # stopped once, a member's domain bears the instance's name too
        iname = getattr(nova.servers.get(s.id), 'OS-EXT-SRV-ATTR:instance_name')
        wait('%s recorded as %s' % (s.name, iname), lambda: sculpt_domain(env, s.id) == iname, 10)
        if domstate(iname) != 'running':
            fail('guest %s of %s is %r after stop/start' % (iname, s.name, domstate(iname)))
    say('guests still ACTIVE%s; stop/start work after the restart'
        % (' and running' if libvirt else ''))
    for s in servers:
        nova.servers.delete(s)
    wait('servers deleted', lambda: not [x for x in nova.servers.list()
                                         if x.name.startswith('rmq-')], 120)
    say('cleaned up')

    def queue_counts():
        out = subprocess.run([env['RABBITMQ_CTL'], '-q', 'list_queues', 'name',
                              'messages_ready', 'messages_unacknowledged'],
                             capture_output=True, text=True).stdout
        for l in out.splitlines():
            f = l.split()
            if len(f) == 3 and f[0] == 'compute.%s' % host:
                return f[1], f[2]
        return None
    # acks are batched, but none waits once the host is idle
    wait('compute.%s drained: nothing ready or unacknowledged' % host,
         lambda: queue_counts() == ('0', '0'), 30)
    say('compute.%s holds nothing unacknowledged' % host)


if __name__ == '__main__':
    main()
