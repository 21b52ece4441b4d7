#!/usr/bin/python3
"""Cold migrations and resizes between two sculpt hosts (A and B, both on
the in-memory backend; B larger), the other computes disabled meanwhile
(and B at the end):

  1. a server built on A is cold-migrated (`server migrate`): VERIFY_RESIZE
     on B, Placement holding the old flavor on A (the migration's) and the
     flavor on B (the instance's), both sculpts listing it; confirmed:
     ACTIVE on B, A's allocation and A's guest and row gone;
  2. migrated again (to A) and reverted: ACTIVE on B again, A's
     allocation and row gone, B's guest kept;
  3. migrated to A and confirmed: ACTIVE on A, B emptied;
  5. migrated to B, B stopped with the guest on its way (finish_resize
     queued), killed (-9) and started again: B gives the instance back to
     A (a revert), A starts its guest again, the redelivered finish_resize
     is ignored;
  6. migrated to K, a libvirt host (`server migrate --host K`, K enabled
     meanwhile): K refuses at prep_resize (a guest from a `fake` host),
     the instance stays ACTIVE on A with its allocations, K lists nothing;
  4. resized to a flavor only B holds: Nova targets B; VERIFY_RESIZE on B
     with the new flavor, confirmed, A emptied.

    migrate.py RUN_DIR A B K    (A, B, K: contrib/stack/sculpt.sh instances)
"""
import os
import signal
import subprocess
import sys
import time

from novaclient import client as nova_client

from phase import Phase, nova_admin, placement_get, stack_env
from phase import sculpt_has as phase_sculpt_has
from services import compute_away, computes_back, computes_pair

PHASE = Phase('migrate')
say, fail, wait = PHASE.functions()

# B's sculpt.conf addition, as tests/integration/nova.sh starts it
B_CONF = '[fake]\ntopology = nodes=1,sockets=1,cores=8,threads=2,mem_mib=65536'


def main():
    run, a, b, k = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = stack_env(run, ['nova'])
    envs = {n: stack_env(run, [n]) for n in (a, b)}
    _, sess = nova_admin(env)
    nova = nova_client.Client('2.59', session=sess)
    t0 = time.time()

    def placement(path):
        return placement_get(sess, path, fail)

    rp = {}
    for n in (a, b):
        rps = placement('/resource_providers?name=%s' % n)['resource_providers']
        if len(rps) != 1:
            fail('no resource provider named %s' % n)
        rp[n] = rps[0]['uuid']

    def allocs(consumer):
        """{host: (VCPU, MEMORY_MB)} of the consumer on A and B."""
        got = placement('/allocations/%s' % consumer)['allocations']
        return {n: (got[rp[n]]['resources'].get('VCPU', 0),
                    got[rp[n]]['resources'].get('MEMORY_MB', 0))
                for n in (a, b) if rp[n] in got}

    def allocs_are(what, consumer, want):
        got = allocs(consumer)
        if got != want:
            fail('%s: allocations of %s %s, not %s' % (what, consumer, got, want))

    def sculpt_has(host, uuid):
        return phase_sculpt_has(envs[host], uuid)

    def sculpts_are(what, uuid, want):
        got = {n: sculpt_has(n, uuid) for n in (a, b)}
        if got != want:
            fail('%s: GET /v1/instances lists %s on %s' % (what, uuid, got))

    last = {}

    def wait_status(s, status, timeout=60):
        def now():
            x = nova.servers.get(s.id)
            if x.status == 'ERROR':
                fail('%s in ERROR: %s' % (x.name, getattr(x, 'fault', None)))
            last['s'] = '%s/%s' % (x.status, getattr(x, 'OS-EXT-STS:task_state', None))
            ok = x.status == status and getattr(x, 'OS-EXT-STS:task_state', None) is None
            return x if ok else None
        return wait(lambda: '%s %s (now %s)' % (s.name, status, last.get('s')), now, timeout)

    def pid_of(host):
        with open(os.path.join(run, host, 'sculpt-compute.pid')) as f:
            return int(f.read().strip())

    def restart_b():
        """B started again as nova.sh started it (its database remembered)."""
        e = dict(os.environ, SCULPT_NAME=b, SCULPT_HOST=b, SCULPT_COMPUTE_DRIVER='fake',
                 SCULPT_DEMO_GUESTS='0', SCULPT_EXTRA_CONF=B_CONF)
        subprocess.run([os.path.join(top, 'contrib', 'stack', 'sculpt.sh'), 'start', run],
                       check=True, stdout=subprocess.DEVNULL, env=e)
        envs[b] = stack_env(run, [b])

    def task_is(s, task):
        x = nova.servers.get(s.id)
        last['t'] = '%s/%s on %s' % (x.status, getattr(x, 'OS-EXT-STS:task_state', None),
                                    host_of(x))
        return getattr(x, 'OS-EXT-STS:task_state', None) == task

    def host_of(x):
        return getattr(x, 'OS-EXT-SRV-ATTR:host')

    def migration(s, status):
        ms = nova.migrations.list(instance_uuid=s.id, status=status)
        return ms[0] if ms else None

    def move(s, src, dst, how, flavor):
        """Migrate (or resize to `how`), VERIFY_RESIZE on dst, both sides
        checked; returns the migration uuid."""
        t = time.time()
        if how is None:
            nova.servers.migrate(s)
        else:
            nova.servers.resize(s, how.id)
        x = wait_status(s, 'VERIFY_RESIZE')
        if host_of(x) != dst:
            fail('%s on %s in VERIFY_RESIZE, not %s' % (s.name, host_of(x), dst))
        m = migration(s, 'finished')
        if not m or m.source_compute != src or m.dest_compute != dst:
            fail('no finished migration %s -> %s for %s: %r' % (src, dst, s.name, m and m.to_dict()))
        if x.flavor['original_name'] != flavor.name:
            fail('%s shows flavor %s, not %s' % (s.name, x.flavor['original_name'], flavor.name))
        sculpts_are('in VERIFY_RESIZE', s.id, {a: True, b: True})
        return m.uuid, time.time() - t

    flavors = {f.name: f for f in nova.flavors.list()}
    tiny = flavors['m1.tiny']
    big = nova.flavors.create('mg-big', 40960, 1, 1)
    s = None
    others = []
    try:
        others = computes_pair(nova, a, b, 'migrate phase')
        s = nova.servers.create('mg-1', envs[a]['SCULPT_IMAGE_ID'], tiny.id, nics='none',
                                availability_zone='nova:%s' % a)
        x = wait_status(s, 'ACTIVE', 120)
        if host_of(x) != a:
            fail('mg-1 built on %s, not %s' % (host_of(x), a))
        say('mg-1 ACTIVE on %s' % a)

        # 1. cold migration, confirmed
        mig, dt = move(s, a, b, None, tiny)
        allocs_are('in VERIFY_RESIZE', mig, {a: (1, 128)})
        allocs_are('in VERIFY_RESIZE', s.id, {b: (1, 128)})
        nova.servers.confirm_resize(s)
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != b or migration(s, 'confirmed') is None:
            fail('after the confirm: on %s, migration %r' % (host_of(x), migration(s, 'confirmed')))
        allocs_are('after the confirm', mig, {})
        allocs_are('after the confirm', s.id, {b: (1, 128)})
        sculpts_are('after the confirm', s.id, {a: False, b: True})
        say('1. migrated %s -> %s (VERIFY_RESIZE in %.1f s), confirmed: ACTIVE on %s, %s '
            'emptied' % (a, b, dt, b, a))

        # 2. cold migration, reverted
        mig, dt = move(s, b, a, None, tiny)
        nova.servers.revert_resize(s)
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != b or migration(s, 'reverted') is None:
            fail('after the revert: on %s, migration %r' % (host_of(x), migration(s, 'reverted')))
        allocs_are('after the revert', mig, {})
        allocs_are('after the revert', s.id, {b: (1, 128)})
        sculpts_are('after the revert', s.id, {a: False, b: True})
        say('2. migrated %s -> %s (%.1f s), reverted: ACTIVE on %s, %s emptied'
            % (b, a, dt, b, a))

        # 3. back to A, confirmed
        mig, dt = move(s, b, a, None, tiny)
        nova.servers.confirm_resize(s)
        wait_status(s, 'ACTIVE')
        allocs_are('after the confirm', s.id, {a: (1, 128)})
        sculpts_are('after the confirm', s.id, {a: True, b: False})
        say('3. migrated %s -> %s (%.1f s), confirmed' % (b, a, dt))

        # 5. B killed (-9) with the guest on its way: A (the source, held
        # with SIGSTOP meanwhile) hands the guest over and casts
        # finish_resize to B, which is stopped, then killed and started
        # again; B's restart finds the move without its guest and gives
        # the instance back to A, which kept the guest; the finish_resize
        # RabbitMQ delivers again is ignored
        t = time.time()
        pa, pb = pid_of(a), pid_of(b)
        os.kill(pa, signal.SIGSTOP)
        try:
            nova.servers.migrate(s)
            wait('%s admits mg-1 (prep_resize)' % b, lambda: sculpt_has(b, s.id), 30)
            time.sleep(1)  # its resize_instance cast on its way to A
            os.kill(pb, signal.SIGSTOP)
        finally:
            os.kill(pa, signal.SIGCONT)
        try:
            wait(lambda: 'mg-1 handed to %s (resize_migrated; now %s)' % (b, last.get('t')),
                 lambda: task_is(s, 'resize_migrated'), 30)
        finally:
            os.kill(pb, signal.SIGKILL)
        restart_b()
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != a or x.flavor['original_name'] != tiny.name:
            fail('after %s\'s restart: mg-1 on %s with %s' % (b, host_of(x), x.flavor))
        m = migration(s, 'reverted')
        if m is None or m.dest_compute != b:
            fail('the interrupted migration of mg-1 is not reverted: %r'
                 % [(y.status, y.dest_compute) for y in nova.migrations.list(instance_uuid=s.id)])
        allocs_are('after the give-back', s.id, {a: (1, 128)})
        allocs_are('after the give-back', m.uuid, {})
        sculpts_are('after the give-back', s.id, {a: True, b: False})
        # power_state as sculpt read it from A's hypervisor (1: running)
        if getattr(x, 'OS-EXT-STS:power_state') != 1:
            fail('the guest of mg-1 on %s is not running again: power state %s'
                 % (a, getattr(x, 'OS-EXT-STS:power_state')))
        say('5. %s killed (-9) mid-migration: its restart gave mg-1 back to %s (ACTIVE, guest '
            'running, migration reverted) in %.1f s' % (b, a, time.time() - t))

        # 6. a libvirt host refuses a guest from a fake one at prep_resize
        # (no alternates with a target host: the move fails, nothing moves)
        t = time.time()
        errors = len(nova.migrations.list(instance_uuid=s.id, status='error'))
        kid = [svc.id for svc in nova.services.list(binary='nova-compute') if svc.host == k]
        computes_back(nova, kid)
        try:
            nova.servers.migrate(s, host=k)
            wait('the move of mg-1 to %s in error' % k,
                 lambda: len(nova.migrations.list(instance_uuid=s.id, status='error')) > errors,
                 60)
        finally:
            for sid in kid:
                nova.services.disable_log_reason(sid, 'migrate phase')
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != a:
            fail('after %s refused: mg-1 on %s, not %s' % (k, host_of(x), a))
        allocs_are('after the refusal', s.id, {a: (1, 128)})
        kenv = stack_env(run, [k])
        if phase_sculpt_has(kenv, s.id):
            fail('%s lists mg-1 after refusing it' % k)
        with open(kenv['SCULPT_LOG'], errors='replace') as f:
            said = [ln for ln in f if 'cannot take a guest from `%s`, a `fake` host' % a in ln]
        if not said:
            fail('%s did not refuse mg-1 at prep_resize for its backend' % k)
        say('6. migration %s -> %s (libvirt) refused at prep_resize in %.1f s: ACTIVE on %s'
            % (a, k, time.time() - t, a))

        # 4. a flavor only B holds
        mig, dt = move(s, a, b, big, big)
        allocs_are('in VERIFY_RESIZE', mig, {a: (1, 128)})
        allocs_are('in VERIFY_RESIZE', s.id, {b: (1, 40960)})
        nova.servers.confirm_resize(s)
        wait_status(s, 'ACTIVE')
        allocs_are('after the confirm', s.id, {b: (1, 40960)})
        allocs_are('after the confirm', mig, {})
        sculpts_are('after the confirm', s.id, {a: False, b: True})
        say('4. resized to mg-big (fits %s only): on %s (%.1f s), confirmed' % (b, b, dt))
        say('phase passed in %.0f s' % (time.time() - t0))
    finally:
        if s is not None:
            PHASE.delete_server(nova, s, 'mg-1')
        computes_back(nova, others)
        # B away for the phases after this one, which expect the hosts
        # they had
        compute_away(nova, b, 'migrate phase over')
        big.delete()


if __name__ == '__main__':
    main()
