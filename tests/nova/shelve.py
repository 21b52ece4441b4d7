#!/usr/bin/python3
"""Shelving through Nova (phase `shelve` of tests/integration/nova.sh):

  1. KVM (libvirt, a real QEMU guest), shelved_offload_time 0 as Nova's
     default: `server shelve` -> SHELVED_OFFLOADED at once: the domain and
     its files gone from libvirt, the instance's Placement allocations
     gone, no host, the shelved image active in Glance and named in
     system_metadata (shelved_image_id, shelved_host, shelved_at);
     `server unshelve --host KVM` -> ACTIVE on KVM, its domain running
     again from the shelved image, its predictor continuing from the state
     saved at the offload, allocations back, the shelved image deleted
     and the shelved_* keys gone.
  2. FAKE (in-memory backend), failures as Nova names them: a shelve to
     an image that does not exist (ImageNotFound: ACTIVE, the guest
     running again, a fault, no image left); an unshelve the engine
     refuses (ComputeResourcesUnavailable: still SHELVED_OFFLOADED, a
     fault, no host, no allocations); an unshelve of an unknown instance
     (InstanceNotFound); then unshelved to KVM: running there, its
     predictor carried by its shelved image.
  3. FAKE restarted with shelved_offload_time 2: a shelve is offloaded by
     the periodic task; an unshelve held open after its spawn
     (SCULPT_TEST_PAUSE_INTENT) and FAKE killed (-9): the restart undoes
     it (SHELVED_OFFLOADED, no host, no allocations, a fault) and ignores
     the request RabbitMQ delivers again.  Restarted with -1: shelve ->
     SHELVED (the guest kept, powered off, allocations kept), unshelve ->
     ACTIVE through start_instance with the shelved image deleted; shelve
     offload from the API -> SHELVED_OFFLOADED.  FAKE keeps -1 after the
     phase (no later phase shelves; a restart would cost 10 s).

    shelve.py RUN_DIR KVM FAKE
"""
import eventlet
eventlet.monkey_patch()

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402

from novaclient import client as nova_client  # noqa: E402

from nova import config, context, exception, objects  # noqa: E402
from nova.compute import rpcapi as compute_rpcapi  # noqa: E402
from nova.conductor import rpcapi as conductor_rpcapi  # noqa: E402
from nova.objects import base as objects_base  # noqa: E402

import phase  # noqa: E402
from phase import Phase, nova_admin, sculpt_domain, stack_env  # noqa: E402

P = Phase('shelve')
say, fail, wait = P.functions()
SHELVED_KEYS = ('shelved_at', 'shelved_image_id', 'shelved_host')


def main():
    run, kvm, fake = sys.argv[1], sys.argv[2], sys.argv[3]
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stack = os.path.join(top, 'contrib', 'stack')
    env = stack_env(run, ('nova', 'rabbitmq', 'libvirt', kvm))
    kvm_env = stack_env(run, (kvm,))
    nova_admin_client, sess = nova_admin(env)
    nova = nova_client.Client('2.91', session=sess)  # unshelve to a host

    conf = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
    conf.write('[DEFAULT]\ntransport_url = %s\nrpc_response_timeout = 30\n' % env['RABBITMQ_URL'])
    conf.close()
    config.parse_args(['shelve', '--config-file', conf.name])
    objects.register_all()
    objects_base.NovaObject.indirection_api = conductor_rpcapi.ConductorAPI()
    ctxt = context.get_admin_context()
    api = compute_rpcapi.ComputeAPI()

    def service(kind, method, path, **kw):
        return sess.request(path, method, raise_exc=False,
                            endpoint_filter={'service_type': kind, 'interface': 'public'}, **kw)

    def allocations(sid):
        r = service('placement', 'GET', '/allocations/%s' % sid)
        return r.json().get('allocations') or {}

    def image_status(image_id):
        r = service('image', 'GET', '/v2/images/%s' % image_id)
        return r.json().get('status') if r.status_code == 200 else r.status_code

    def virsh(*args):
        return subprocess.run(['virsh', '-c', env['LIBVIRT_URI']] + list(args),
                              capture_output=True, text=True)

    def inst(sid):
        return objects.Instance.get_by_uuid(ctxt, sid, expected_attrs=['system_metadata'])

    def settled(sid, status):
        """Nova shows status with no task under way (fails on ERROR)."""
        def check():
            s = nova.servers.get(sid)
            if s.status == 'ERROR':
                fail('%s in ERROR: %s' % (s.name, getattr(s, 'fault', {})))
            return s.status == status and getattr(s, 'OS-EXT-STS:task_state') is None
        wait(lambda: '%s %s (it is %s)' % (sid, status, nova.servers.get(sid).status), check,
             240)
        return nova.servers.get(sid)

    def no_task(sid):
        wait('%s: no task' % sid, lambda: inst(sid).task_state is None, 60)
        return inst(sid)

    def faults(sid):
        return objects.InstanceFaultList.get_by_instance_uuids(ctxt, [sid]).objects

    def create(name, host):
        s = nova.servers.create(name, env['SCULPT_IMAGE_ID'], env['SCULPT_FLAVOR_ID'],
                                nics='none', availability_zone='nova:%s' % host)
        settled(s.id, 'ACTIVE')
        return s

    def host_of(sid):
        return getattr(nova_admin_client.servers.get(sid), 'OS-EXT-SRV-ATTR:host')

    cleanup = []
    try:
        # ---- 1. the whole cycle on a real guest
        s = create('shelve-kvm', kvm)
        cleanup.append(s)
        dom = sculpt_domain(kvm_env, s.id)
        if virsh('domstate', dom).stdout.split('\n')[0] != 'running':
            fail('domain %s of %s not running' % (dom, s.id))
        if not allocations(s.id):
            fail('no allocations for %s before the shelve' % s.id)
        log_at = phase.log_size(kvm_env['SCULPT_LOG'])
        nova.servers.shelve(s)
        settled(s.id, 'SHELVED_OFFLOADED')
        if virsh('dominfo', dom).returncode == 0 or virsh('dominfo', s.id).returncode == 0:
            fail('domain %s still defined on %s after the offload' % (dom, kvm))
        if allocations(s.id):
            fail('allocations of %s left after the offload: %r' % (s.id, allocations(s.id)))
        if host_of(s.id):
            fail('offloaded %s still on host %r' % (s.id, host_of(s.id)))
        sm = inst(s.id).system_metadata
        missing = [k for k in SHELVED_KEYS if not sm.get(k)]
        if missing or sm['shelved_host'] != kvm:
            fail('system_metadata after the shelve: %r' % sm)
        image = sm['shelved_image_id']
        if image_status(image) != 'active':
            fail('shelved image %s is %s' % (image, image_status(image)))
        if phase.sculpt_has(kvm_env, s.id):
            fail('%s still listed by %s after the offload' % (s.id, kvm))
        say('shelve -> SHELVED_OFFLOADED: domain %s gone, allocations gone, image %s active'
            % (dom, image))

        nova.servers.unshelve(s, host=kvm)
        settled(s.id, 'ACTIVE')
        if host_of(s.id) != kvm:
            fail('unshelved on %r, not %s' % (host_of(s.id), kvm))
        state = virsh('domstate', s.id).stdout.split('\n')[0]
        if state != 'running':
            fail('unshelved %s: domain is %r' % (s.id, state))
        if not allocations(s.id):
            fail('no allocations for %s after the unshelve' % s.id)
        if image_status(image) != 404:
            fail('shelved image %s is %s after the unshelve' % (image, image_status(image)))
        sm = inst(s.id).system_metadata
        if any(k in sm for k in SHELVED_KEYS):
            fail('shelved_* left after the unshelve: %r' % sm)
        text = phase.log_since(kvm_env['SCULPT_LOG'], log_at)
        if 'predictor of %s continues from the state saved when it left' % s.id not in text:
            fail('the unshelved predictor of %s did not continue from its saved state' % s.id)
        say('unshelve -> ACTIVE on %s: domain running, predictor continued, image deleted'
            % kvm)
        P.delete_server(nova, s, 'shelve-kvm')
        cleanup.remove(s)

        # ---- 2. failures, on the fake host
        f = create('shelve-fake', fake)
        cleanup.append(f)
        cl = api.router.client(ctxt).prepare(server=fake, version='6.0')

        def call_fails(what, exc, method, **kw):
            try:
                cl.call(ctxt, method, **kw)
            except exc as e:
                return e
            except Exception as e:  # noqa: B902
                fail('%s raised %s: %s, expected %s' % (what, type(e).__name__, e, exc.__name__))
            fail('%s answered, expected %s' % (what, exc.__name__))

        i = inst(f.id)
        nfaults = len(faults(f.id))
        i.task_state = 'shelving'
        i.save()
        missing = str(uuid.uuid4())
        call_fails('shelve to a missing image', exception.ImageNotFound, 'shelve_instance',
                   instance=i, image_id=missing, clean_shutdown=True, accel_uuids=[])
        i = no_task(f.id)
        fl = faults(f.id)
        if i.vm_state != 'active' or i.power_state != 1:
            fail('shelve to a missing image left %s/%s' % (i.vm_state, i.power_state))
        if len(fl) != nfaults + 1 or missing not in fl[0].message:
            fail('shelve to a missing image: faults %r' % [x.message for x in fl])
        say('shelve to a missing image -> ImageNotFound, ACTIVE, running, fault: %s'
            % fl[0].message[:70])

        nova.servers.shelve(f)
        settled(f.id, 'SHELVED_OFFLOADED')
        i = inst(f.id)
        image = i.system_metadata['shelved_image_id']
        i.task_state = 'unshelving'
        i.save()
        # a flavor no host holds, in the request only: the engine refuses it
        i.flavor.vcpus = 512
        i.flavor.memory_mb = 4 * 1024 * 1024
        i.obj_reset_changes(recursive=True)
        img = service('image', 'GET', '/v2/images/%s' % image).json()
        call_fails('unshelve the engine refuses', exception.ComputeResourcesUnavailable,
                   'unshelve_instance', instance=i, image=img, filter_properties={}, node=fake,
                   request_spec=None, accel_uuids=[])
        i = no_task(f.id)
        fl = faults(f.id)
        if i.vm_state != 'shelved_offloaded' or i.host or allocations(f.id):
            fail('refused unshelve left %s host %r allocations %r' %
                 (i.vm_state, i.host, allocations(f.id)))
        if len(fl) != nfaults + 2 or i.flavor.vcpus == 512:
            fail('refused unshelve: faults %d, vcpus %s' % (len(fl), i.flavor.vcpus))
        if image_status(image) != 'active':
            fail('the shelved image went with a refused unshelve')
        say('unshelve the engine refuses -> ComputeResourcesUnavailable, SHELVED_OFFLOADED, '
            'no host, fault: %s' % fl[0].message[:70])
        ghost = objects.Instance(context=ctxt, uuid=str(uuid.uuid4()), host=fake, node=fake,
                                 vm_state='shelved_offloaded', task_state='unshelving')
        call_fails('unshelve of an unknown instance', exception.InstanceNotFound,
                   'unshelve_instance', instance=ghost, image=img, filter_properties={},
                   node=fake, request_spec=None, accel_uuids=[])
        say('unshelve of an unknown instance -> InstanceNotFound')

        # its image carries its predictor to another host (and backend)
        log_at = phase.log_size(kvm_env['SCULPT_LOG'])
        nova.servers.unshelve(f, host=kvm)
        settled(f.id, 'ACTIVE')
        state = virsh('domstate', f.id).stdout.split('\n')[0]
        if host_of(f.id) != kvm or state != 'running':
            fail('%s unshelved from %s: host %r, domain %r' % (f.id, fake, host_of(f.id), state))
        text = phase.log_since(kvm_env['SCULPT_LOG'], log_at)
        if 'predictor of %s continues from the state saved when it left' % f.id not in text or \
                'carried by its shelved image' not in text:
            fail('the predictor of %s did not come with its image to %s' % (f.id, kvm))
        say('shelved on %s, unshelved on %s: running, its predictor carried by the image'
            % (fake, kvm))
        P.delete_server(nova, f, f.name)
        cleanup.remove(f)

        # ---- 3. the timed offload; a kill -9 mid-unshelve; shelved, not offloaded
        fake_env = stack_env(run, (fake,))

        def restart(extra, pause=None, kill=False):
            """FAKE stopped (kill: SIGKILL) and started with `extra` in
            its sculpt.conf (pause: SCULPT_TEST_PAUSE_INTENT)."""
            e = dict(os.environ, SCULPT_NAME=fake, SCULPT_HOST=fake, SCULPT_COMPUTE_DRIVER='fake',
                     SCULPT_DEMO_GUESTS='0', SCULPT_EXTRA_CONF=extra, SCULPT_QUICK_START='1')
            e.pop('SCULPT_TEST_PAUSE_INTENT', None)
            if pause:
                e['SCULPT_TEST_PAUSE_INTENT'] = pause
            sh = os.path.join(stack, 'sculpt.sh')
            if kill:
                pid = int(stack_env(run, (fake,))['SCULPT_PID'])
                os.kill(pid, 9)
                wait('%s gone' % fake, lambda: not os.path.exists('/proc/%d' % pid) or
                     open('/proc/%d/stat' % pid).read().split(') ')[1][0] == 'Z', 10)
            subprocess.run([sh, 'stop', run], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=e)
            out = os.path.join(run, fake, 'sculpt-compute.out')
            if not kill and os.path.exists(out):
                with open(out, errors='replace') as fh:
                    if 'Sanitizer' in fh.read():
                        fail('sanitizer report from %s' % fake)
            subprocess.run([sh, 'start', run], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=e)

        restart('[DEFAULT]\nshelved_offload_time = 2\n', pause='unshelve:120')
        g = create('shelve-fake2', fake)
        cleanup.append(g)
        t0 = phase.log_size(fake_env['SCULPT_LOG'])
        nova.servers.shelve(g)
        settled(g.id, 'SHELVED_OFFLOADED')
        if 'shelved for more than 2 s: offloading' not in phase.log_since(fake_env['SCULPT_LOG'],
                                                                          t0):
            fail('%s offloaded, but not by the periodic task' % g.id)
        say('shelved_offload_time 2: SHELVED, then offloaded by the periodic task')

        # the unshelve's spawn intent held open, sculpt-compute killed: the
        # restart undoes it, the unshelve RabbitMQ delivers again is ignored
        t0 = phase.log_size(fake_env['SCULPT_LOG'])
        nova.servers.unshelve(g, host=fake)
        wait('unshelve of %s held' % g.id,
             lambda: 'holding the unshelve intent' in
             phase.log_since(fake_env['SCULPT_LOG'], t0), 60)
        nfaults = len(faults(g.id))
        restart('[DEFAULT]\nshelved_offload_time = -1\n', kill=True)
        settled(g.id, 'SHELVED_OFFLOADED')
        i = inst(g.id)
        fl = faults(g.id)
        if i.host or allocations(g.id) or len(fl) != nfaults + 1 or \
                'interrupted' not in fl[0].message:
            fail('interrupted unshelve: host %r, allocations %r, faults %r' %
                 (i.host, allocations(g.id), [x.message for x in fl]))
        wait('the unshelve delivered again ignored',
             lambda: 'came again' in phase.log_since(fake_env['SCULPT_LOG'], t0), 30)
        say('kill -9 mid-unshelve -> SHELVED_OFFLOADED, no host, no allocations, fault: %s; '
            'the redelivery ignored' % fl[0].message[:60])

        nova.servers.unshelve(g, host=fake)
        settled(g.id, 'ACTIVE')
        nova.servers.shelve(g)
        settled(g.id, 'SHELVED')
        i = inst(g.id)
        image = i.system_metadata['shelved_image_id']
        if i.host != fake or not allocations(g.id) or i.power_state != 4:
            fail('SHELVED %s: host %r, allocations %r, power %s' %
                 (g.id, i.host, allocations(g.id), i.power_state))
        nova.servers.unshelve(g)
        settled(g.id, 'ACTIVE')
        i = inst(g.id)
        if image_status(image) != 404 or any(k in i.system_metadata for k in SHELVED_KEYS):
            fail('unshelve of a SHELVED server left image %s (%s), %r' %
                 (image, image_status(image), i.system_metadata))
        say('shelved_offload_time -1: SHELVED (guest and allocations kept), unshelved -> '
            'ACTIVE through start_instance, image deleted')
        nova.servers.shelve(g)
        settled(g.id, 'SHELVED')
        nova.servers.shelve_offload(g)
        settled(g.id, 'SHELVED_OFFLOADED')
        if allocations(g.id) or inst(g.id).host:
            fail('shelve offload of %s left allocations or a host' % g.id)
        say('shelve offload of a SHELVED server -> SHELVED_OFFLOADED (%s keeps '
            'shelved_offload_time -1: no later phase shelves)' % fake)
    finally:
        for x in cleanup:
            P.delete_server(nova, x, x.name)
    say('all shelve checks passed')


if __name__ == '__main__':
    main()
