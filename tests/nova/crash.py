#!/usr/bin/python3
"""Crashes and restarts around a running guest lose nothing:

  1. sculpt-compute killed with SIGKILL; a stop request sent while it is
     dead waits in its queue; restarted, it adopts the guest (not
     restarted) and carries the stop out;
  2. sculpt's PostgreSQL stopped while a start request is served, then
     started again: the guest starts, and the database gets the instance's
     state once it is back (nothing acknowledged is dropped);
  3. libvirtd restarted under the running guest: the guest keeps running
     and sculpt-compute goes on driving it.

    crash.py RUN_DIR NAME      (NAME: a contrib/stack/sculpt.sh instance, libvirt backend)
"""
import os
import subprocess
import sys
import time

from keystoneauth1 import session
from keystoneauth1.identity import v3
from novaclient import client as nova_client

t0 = time.time()


def say(msg):
    print('crash [%ds]: %s' % (time.time() - t0, msg), flush=True)


def fail(msg):
    print('crash FAILED: %s' % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if '=' in line:
                k, v = line.rstrip('\n').split('=', 1)
                env[k] = v
    return env


def wait(what, cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.5)
    fail('%s: not within %d s' % (what, timeout))


def main():
    run, name = sys.argv[1], sys.argv[2]
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stack = os.path.join(top, 'contrib', 'stack')
    env = {}
    for n in ('nova', 'rabbitmq', 'libvirt', name):
        env.update(load_env(os.path.join(run, 'env', n + '.env')))
    # sculpt's own PostgreSQL (tests/integration/nova.sh), not Nova's
    pgrun = os.path.join(run, 'sculpt-db')
    host = env['SCULPT_HOST']
    auth = v3.Password(auth_url=env['OS_AUTH_URL'], username='admin',
                       password=env['OS_PASSWORD'], project_name='admin',
                       user_domain_name='Default', project_domain_name='Default')
    nova = nova_client.Client('2.37', session=session.Session(auth=auth))

    def status(s):
        s = nova.servers.get(s.id)
        if s.status == 'ERROR':
            fail('%s in ERROR: %s' % (s.name, getattr(s, 'fault', {})))
        return s.status if getattr(s, 'OS-EXT-STS:task_state') is None else None

    def domstate(dom):
        return subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'domstate', dom],
                              capture_output=True, text=True).stdout.strip()

    def domid(dom):
        return subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'domid', dom],
                              capture_output=True, text=True).stdout.strip()

    def sculpt(action):
        subprocess.run([os.path.join(stack, 'sculpt.sh'), action, run], check=True,
                       stdout=subprocess.DEVNULL,
                       env=dict(os.environ, SCULPT_NAME=name, SCULPT_DEMO_GUESTS='0'))

    s = nova.servers.create('crash-1', env['SCULPT_IMAGE_ID'], env['SCULPT_FLAVOR_ID'],
                            nics='none', availability_zone='nova:%s' % host)
    wait('crash-1 ACTIVE', lambda: status(s) == 'ACTIVE', 180)
    dom = getattr(nova.servers.get(s.id), 'OS-EXT-SRV-ATTR:instance_name')
    qemu_id = domid(dom)
    say('crash-1 ACTIVE as %s (domain id %s)' % (dom, qemu_id))

    # 1. SIGKILL, a request while dead, restart
    pid = int(load_env(os.path.join(run, 'env', name + '.env'))['SCULPT_PID'])
    os.kill(pid, 9)
    wait('sculpt-compute gone', lambda: not os.path.exists('/proc/%d' % pid) or
         open('/proc/%d/stat' % pid).read().split(') ')[1][0] == 'Z', 10)
    say('sculpt-compute killed (SIGKILL)')
    nova.servers.stop(s)
    time.sleep(2)
    if domstate(dom) != 'running':
        fail('the guest did not survive the crash: %r' % domstate(dom))
    sculpt('start')
    say('sculpt-compute restarted')
    wait('the queued stop carried out', lambda: status(s) == 'SHUTOFF', 120)
    if domstate(dom) != 'shut off':
        fail('domain %s is %r after the queued stop' % (dom, domstate(dom)))
    with open(env['SCULPT_LOG']) as f:
        lines = [l for l in f if l.rstrip().endswith(' adopted')]
    if not lines or lines[-1].rstrip().endswith(' 0 adopted'):
        fail('the running guest was not adopted after the restart: %s' % (lines[-1:] or ''))
    say('the stop sent while sculpt-compute was dead was carried out; the guest was adopted')

    # 2. PostgreSQL away while a request is served
    subprocess.run([os.path.join(stack, 'postgres.sh'), 'stop', pgrun], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    say('PostgreSQL stopped')
    nova.servers.start(s)
    wait('start while PostgreSQL is away', lambda: status(s) == 'ACTIVE', 120)
    subprocess.run([os.path.join(stack, 'postgres.sh'), 'start', pgrun], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    say('PostgreSQL started again')
    env.update(load_env(os.path.join(pgrun, 'env', 'postgres.env')))

    def db_state():
        out = subprocess.run(
            ['psql', '-X', '-q', '-t', '-A', env['SCULPT_DB_URL'], '-c',
             "select vm_state from instances where uuid = '%s'" % s.id],
            capture_output=True, text=True)
        return out.stdout.strip() == 'active'
    wait('the database catches up (instance active)', db_state, 60)
    say('the state written while PostgreSQL was away reached it')

    # 3. libvirtd restarted under the guest
    before = domid(dom)
    subprocess.run([os.path.join(stack, 'libvirt.sh'), 'restart', run], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    say('libvirtd restarted')
    if domstate(dom) != 'running' or domid(dom) != before:
        fail('the guest did not keep running through the libvirtd restart')
    nova.servers.stop(s)
    wait('stop after the libvirtd restart', lambda: status(s) == 'SHUTOFF', 120)
    nova.servers.start(s)
    wait('start after the libvirtd restart', lambda: status(s) == 'ACTIVE', 120)
    say('the guest ran through the libvirtd restart; stop/start work after it')
    nova.servers.delete(s)
    wait('crash-1 deleted', lambda: not [x for x in nova.servers.list() if x.id == s.id], 120)
    say('cleaned up')


if __name__ == '__main__':
    main()
