#!/usr/bin/python3
"""Cold migrations between two libvirt hosts (A and B: sculpt-compute on
two private libvirtds, their own instances and image caches, B's guest files
copied over ssh by driver/libvirt/migrate.c), the other computes disabled
meanwhile (and B at the end):

  1. a server built on A (the tiny guest, with a config drive), its guest
     booted, is cold-migrated (`server migrate`): VERIFY_RESIZE on B, the
     guest running on B's libvirtd and booted there (its console), its
     config drive came along and is in its cdrom, A's domain defined and
     shut off; reverted: ACTIVE on A, A's guest booted again, B's domain
     and folder gone;
  2. migrated again and confirmed: ACTIVE on B, A's domain and folder gone;
  3. stopped, migrated back to A: VERIFY_RESIZE with the guest defined but
     left off (a stopped server stays stopped), confirmed: SHUTOFF on A, B
     emptied; started: it boots on A;
  4. migrated while B's sshd refuses A's key (authorized_keys moved
     away): the copy fails, the migration is `error`, the server ACTIVE on
     A with its guest started again (it boots), nothing on B; B, which
     admitted the move (prep_resize), releases that admission on its own
     within 60 s (GET /v1/instances on B no longer lists the server, B's
     log says so) and removes a staging folder a copy left for it there
     (one planted in B's instances_path before the move);
  5. the same refusal with B killed (-9) as soon as it admitted the move
     (prep_resize) and started again once A rolled back: B's restart finds
     the row prep_resize wrote for an instance Nova places on A and
     releases it (GET /v1/instances on B, B's log after the restart), and
     the staging folder planted again.
  6-7. live migrations (below);
  8. a live migration back to A, B's bandwidth 4 MiB/s (B restarted so),
     aborted as it copies (`live-migration-abort`): cancelled, ACTIVE on
     B, the guest running on (its uptime, no boot), A emptied;
  9. again, its completion forced (`live-migration-force-complete`), B
     permitting post-copy since its restart: the migration switched to
     post-copy (B's libvirt reports the guest suspended for post-copy,
     never paused), `running (post-copy)` in Nova, then completed,
     running on A, no boot.  Before the force, with B running one live
     migration at a time (max_concurrent_live_migrations = 1) and mk-1's
     guest dirtying its memory (its copy cannot end alone), mk-2 (built
     on B at 8) is live-migrated too: `queued`; aborted (2.65): cancelled,
     ACTIVE on B, its guest running there, its allocations on B alone;
     live-migrated again: `queued` until mk-1's is over, then it runs
     (forced too) and completes on A.
 9b. mk-g built on B in mk-2's anti-affinity group; mk-2 live-migrated
     back to B with force (the scheduler and its group filter bypassed):
     B's late group check refuses it, mk-2 ACTIVE and running on A.
 9c. A killed (-9) while mk-2 is live-migrated to B, its copy ending on
     B while A is down: A's restart finishes the move (ACTIVE on B, the
     migration completed, allocations on B alone, no reboot).
 10. evacuated: A's sculpt-compute stopped (its guest runs on in A's
     libvirtd) and forced down, `server evacuate` to B: ACTIVE on B with
     a running guest, B's provider in its allocations, the migration
     done; A started again (forced down unset) destroys its guest and
     folder, drops A's provider from the allocations and its own row,
     and completes the migration.
Each host's journal then holds every leg it ran as a `migrate` intent,
closed: A's copies out (done, or rolled back when refused) and taking in,
B's.

    migrate_kvm.py RUN_DIR A B    (A, B: contrib/stack/sculpt.sh instances
                                   on libvirt; B's libvirtd's env in
                                   RUN_DIR/env/B-libvirt.env)
"""
import calendar
import os
import re
import signal
import socket
import subprocess
import sys
import time

from novaclient import client as nova_client
from novaclient import exceptions as nova_exceptions

from phase import Phase, load_env, nova_admin, placement_get, sculpt_api, stack_env
from phase import sculpt_has as phase_sculpt_has
from services import compute_away, computes_back, computes_pair

PHASE = Phase('migrate-kvm')
say, fail, wait = PHASE.functions()


def main():
    run, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
    env = stack_env(run, ['nova'])
    envs = {a: stack_env(run, [a]), b: stack_env(run, [b])}
    uris = {a: load_env(os.path.join(run, 'env', 'libvirt.env'))['LIBVIRT_URI'],
            b: load_env(os.path.join(run, 'env', b + '-libvirt.env'))['LIBVIRT_URI']}
    _, sess = nova_admin(env)
    nova = nova_client.Client('2.59', session=sess)
    t0 = time.time()
    last = {}
    a_down = [None]  # A's nova-compute service id while forced down

    def placement(path):
        return placement_get(sess, path, fail)

    def record_pid(host, pid):
        """A process of host's started here, where contrib/stack/sculpt.sh
        records it: its pid file, and its env file (0600: the API token),
        which later phases (crash) read."""
        with open(os.path.join(run, host, 'sculpt-compute.pid'), 'w') as f:
            f.write('%d\n' % pid)
        envf = os.path.join(run, 'env', host + '.env')
        with open(envf) as f:
            lines = [('SCULPT_PID=%d\n' % pid) if line.startswith('SCULPT_PID=') else line
                     for line in f]
        with os.fdopen(os.open(envf + '.tmp', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                       'w') as f:
            f.writelines(lines)
        os.replace(envf + '.tmp', envf)

    def start_sculpt(host, extra=None):
        """host's sculpt-compute as contrib/stack/sculpt.sh starts it (with
        `extra` appended to its configuration)."""
        conf = envs[host]['SCULPT_CONF']
        if extra:
            with open(conf) as f:
                text = f.read()
            conf = os.path.join(run, host, 'sculpt-step.conf')
            with open(conf, 'w') as f:
                f.write(text + '\n' + extra)
        with open(os.path.join(run, host, 'sculpt-compute.out'), 'ab') as out:
            p = subprocess.Popen([os.path.join(os.environ['SCULPT_BIN'], 'sculpt-compute'),
                                  '--config', conf],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 start_new_session=True)
        record_pid(host, p.pid)
        return p

    def virsh(host, *args):
        r = subprocess.run(['virsh', '-q', '-c', uris[host]] + list(args),
                           capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    def state(host, uuid):
        """The domain's state on host's libvirtd, None when it has none."""
        return virsh(host, 'domstate', uuid)

    def folder(host, uuid):
        return os.path.join(run, host, 'state', 'instances', uuid)

    def boots(host, uuid):
        """GUEST-INIT-READY lines in the guest's console log on host."""
        try:
            with open(os.path.join(folder(host, uuid), 'console.log'), errors='replace') as f:
                return len(re.findall(r'GUEST-INIT-READY', f.read()))
        except FileNotFoundError:
            return 0

    def wait_boot(host, uuid, n):
        wait('guest %s booted on %s (%d boots)' % (uuid, host, n),
             lambda: boots(host, uuid) >= n, 180)

    def host_of(x):
        return getattr(x, 'OS-EXT-SRV-ATTR:host')

    def wait_status(s, status, timeout=120):
        def now():
            x = nova.servers.get(s.id)
            if x.status == 'ERROR':
                fail('%s in ERROR: %s' % (x.name, getattr(x, 'fault', None)))
            last['s'] = '%s/%s on %s' % (x.status, getattr(x, 'OS-EXT-STS:task_state', None),
                                         host_of(x))
            ok = x.status == status and getattr(x, 'OS-EXT-STS:task_state', None) is None
            return x if ok else None
        return wait(lambda: '%s %s (now %s)' % (s.name, status, last.get('s')), now, timeout)

    def move(s, src, dst):
        """Migrate: VERIFY_RESIZE on dst with a finished migration; seconds taken."""
        t = time.time()
        nova.servers.migrate(s)
        x = wait_status(s, 'VERIFY_RESIZE')
        if host_of(x) != dst:
            fail('%s on %s in VERIFY_RESIZE, not %s' % (s.name, host_of(x), dst))
        ms = nova.migrations.list(instance_uuid=s.id, status='finished')
        if not ms or ms[0].source_compute != src or ms[0].dest_compute != dst:
            fail('no finished migration %s -> %s: %r' % (src, dst, ms and ms[0].to_dict()))
        return time.time() - t

    def sculpt_has(host, uuid):
        """Whether GET /v1/instances on host's sculpt-compute lists uuid."""
        return phase_sculpt_has(envs[host], uuid)

    def api_lists(host, uuid):
        """sculpt_has, None while host's REST API does not answer."""
        try:
            return sculpt_has(host, uuid)
        except OSError:
            return None

    def log_text(host):
        with open(envs[host]['SCULPT_LOG'], errors='replace') as f:
            return f.read()

    def restart(host, proc, extra):
        """host's sculpt-compute (proc: its process, started here) stopped
        and started again with `extra` appended to its configuration; the
        new process once its REST API answers."""
        proc.terminate()
        proc.wait(60)
        proc = start_sculpt(host, extra)
        wait('%s restarted' % host,
             lambda: proc.poll() is None and api_lists(host, s.id) is not None, 90)
        return proc

    def console_lines(host, uuid, pattern):
        with open(os.path.join(folder(host, uuid), 'console.log'), errors='replace') as f:
            return re.findall(pattern, f.read())

    def console_cmd(host, uuid, cmd, answer, tries=1, answer_s=30):
        """cmd typed on the guest's serial console (the socket beside its
        log); the last match of the `answer` pattern it prints.  A command
        that may be typed again (`tries` > 1) is, when the guest's tty did
        not echo it: a guest busy under a loaded host's TCG may leave the
        line in the UART until QEMU drops it with the client."""
        n = len(console_lines(host, uuid, answer))
        line = cmd.encode()
        for attempt in range(tries):
            sk = socket.socket(socket.AF_UNIX)
            sk.connect(os.path.join(folder(host, uuid), 'console.sock'))
            try:
                # connected until the guest's tty echoes the line: QEMU
                # drops what the UART has not taken when the client leaves
                sk.sendall(line + b'\n')
                sk.settimeout(0.5)
                seen, end = b'', time.time() + 30
                while line + b'\r\n' not in seen and line + b'\n' not in seen \
                        and time.time() < end:
                    try:
                        seen += sk.recv(4096)
                    except socket.timeout:
                        pass
            finally:
                sk.close()
            if line + b'\r\n' in seen or line + b'\n' in seen \
                    or len(console_lines(host, uuid, answer)) > n:
                break
            say('   (the guest on %s did not echo `%s` in 30 s%s)'
                % (host, cmd, '; typed again' if attempt + 1 < tries else ''))
        got = wait('the guest on %s answering `%s`' % (host, cmd),
                   lambda: (lambda m: len(m) > n and m)(console_lines(host, uuid, answer)),
                   answer_s)
        return got[-1]

    def guest_uptime(host, uuid):
        """The guest's uptime (s), from the GUEST-STAT line it prints when
        `stat` is typed on its serial console."""
        return int(console_cmd(host, uuid, 'stat', r'GUEST-STAT uptime=(\d+)', tries=3))

    def live_status(mig_id, server=None):
        m = [m for m in nova.migrations.list(instance_uuid=(server or s).id,
                                             migration_type='live-migration')
             if m.id == mig_id]
        last['mig'] = m[0].status if m else None
        return last['mig']

    def live_queued(server):
        """server's newest live migration once it is `queued` (it must
        not start while another runs)."""
        def now():
            ms = nova.migrations.list(instance_uuid=server.id, migration_type='live-migration')
            m = max(ms, key=lambda m: m.id) if ms else None
            last['mig'] = m and '%d %s' % (m.id, m.status)
            if m and m.status not in ('accepted', 'queued') and m.id not in seen_live:
                fail('live migration %d of %s %s: it did not wait its turn'
                     % (m.id, server.name, m.status))
            return m if m and m.status == 'queued' and m.id not in seen_live else None
        m = wait(lambda: 'a live migration of %s queued (now %s)' % (server.name, last.get('mig')),
                 now, 60)
        seen_live.add(m.id)
        return m

    def live_ids():
        return {m.id for m in nova.migrations.list(instance_uuid=s.id,
                                                   migration_type='live-migration')}

    def live_running(known):
        """The server's live migration not among `known` (the conductor
        makes it) once it copies (running)."""
        def now():
            ms = [m for m in nova.migrations.list(instance_uuid=s.id,
                                                  migration_type='live-migration')
                  if m.id not in known]
            m = max(ms, key=lambda m: m.id) if ms else None
            last['mig'] = m and m.status
            if m and m.status in ('error', 'failed', 'completed', 'cancelled'):
                fail('live migration %d %s before it was seen running' % (m.id, m.status))
            return m if m and m.status == 'running' else None
        return wait(lambda: 'a live migration of mk-1 running (now %s)' % last.get('mig'),
                    now, 120)

    def action_ok(action, event):
        """The server's newest `action` (nova-api's name): its compute
        `event` a success."""
        acts = [x for x in nova.instance_action.list(s) if x.action == action]
        if not acts:
            fail('no %s action on mk-1' % action)
        ev = [e for e in (nova.instance_action.get(s, acts[0].request_id).events or [])
              if e['event'] == event]
        if not ev or ev[0].get('result') != 'Success':
            fail('%s: event %s %r' % (action, event, ev))

    def boot_until(host, uuid):
        """When the guest's boot allowance ends on host (epoch s; 0: none)."""
        v = (sculpt_api(envs[host], 'GET', '/v1/instances/%s' % uuid).get('engine')
             or {}).get('boot_until')
        if not v:
            return 0
        return calendar.timegm(time.strptime(v[:19], '%Y-%m-%dT%H:%M:%S'))

    def states_are(what, uuid, want):
        got = {h: state(h, uuid) for h in (a, b)}
        if got != want:
            fail('%s: domains %s, not %s' % (what, got, want))

    # the phases before teach the predictors that small guests idle (0.28
    # vCPU for m1.tiny): each boot takes the engine's boot allowance, the
    # flavor's whole vCPU, until the guest is up and quiet
    tiny = {f.name: f for f in nova.flavors.list()}['m1.tiny']
    s = None
    s2 = None
    group = None
    sg = None
    seen_live = set()
    others = []
    bp = None
    try:
        others = computes_pair(nova, a, b, 'migrate-kvm phase')
        s = nova.servers.create('mk-1', envs[a]['SCULPT_IMAGE_ID'], tiny.id, nics='none',
                                availability_zone='nova:%s' % a, config_drive=True)
        x = wait_status(s, 'ACTIVE', 180)
        if host_of(x) != a:
            fail('mk-1 built on %s, not %s' % (host_of(x), a))
        wait_boot(a, s.id, 1)
        why = [d.get('text', '') for d in
               sculpt_api(envs[a], 'GET', '/v1/instances/%s' % s.id).get('decisions', [])]
        # (run alone, before the predictors learnt m1.tiny, its plan may be
        # the whole vCPU already: no allowance above it)
        if not any('boot allowance' in t or t.startswith('placed at vcpu=1,') for t in why):
            fail('mk-1 on %s: booted below its vCPU, no boot allowance among its decisions: %s'
                 % (a, why))
        say('mk-1 ACTIVE on %s (booted on its boot allowance), its guest booted' % a)

        # 1. migrated, reverted
        dt = move(s, a, b)
        states_are('in VERIFY_RESIZE', s.id, {a: 'shut off', b: 'running'})
        wait_boot(b, s.id, 1)
        if not os.path.exists(os.path.join(folder(b, s.id), 'disk')):
            fail('no overlay in %s' % folder(b, s.id))
        if os.path.exists(folder(a, s.id) + '_migrating'):
            fail('staging folder %s_migrating left' % folder(a, s.id))
        cd = os.path.join(folder(b, s.id), 'disk.config')
        if not os.path.exists(cd) or cd not in (virsh(b, 'domblklist', s.id) or ''):
            fail('no config drive %s in the guest on %s: %s'
                 % (cd, b, virsh(b, 'domblklist', s.id)))
        say('1. migrated %s -> %s (VERIFY_RESIZE in %.1f s), booted on %s' % (a, b, dt, b))
        nova.servers.revert_resize(s)
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != a:
            fail('after the revert: on %s' % host_of(x))
        states_are('after the revert', s.id, {a: 'running', b: None})
        if os.path.exists(folder(b, s.id)):
            fail('after the revert: %s left' % folder(b, s.id))
        wait_boot(a, s.id, 2)
        say('   reverted: ACTIVE on %s, booted there again, %s emptied' % (a, b))

        # 2. migrated, confirmed
        dt = move(s, a, b)
        wait_boot(b, s.id, 1)
        nova.servers.confirm_resize(s)
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != b:
            fail('after the confirm: on %s' % host_of(x))
        states_are('after the confirm', s.id, {a: None, b: 'running'})
        if os.path.exists(folder(a, s.id)):
            fail('after the confirm: %s left' % folder(a, s.id))
        say('2. migrated %s -> %s (%.1f s), confirmed: ACTIVE on %s, %s emptied'
            % (a, b, dt, b, a))

        # 3. stopped, migrated back, stays off
        nova.servers.stop(s)
        wait_status(s, 'SHUTOFF')
        dt = move(s, b, a)
        states_are('stopped, in VERIFY_RESIZE', s.id, {a: 'shut off', b: 'shut off'})
        nova.servers.confirm_resize(s)
        x = wait_status(s, 'SHUTOFF')
        if host_of(x) != a:
            fail('after the confirm: on %s' % host_of(x))
        states_are('stopped, confirmed', s.id, {a: 'shut off', b: None})
        before = boots(a, s.id)
        nova.servers.start(s)
        wait_status(s, 'ACTIVE')
        wait_boot(a, s.id, before + 1)
        say('3. stopped, migrated %s -> %s (%.1f s) left off, confirmed; started: booted on %s'
            % (b, a, dt, a))

        # 4. the copy refused: rolled back on A; B gives its admission up
        keys = os.path.join(run, 'sshd', 'authorized_keys')
        # what a copy cut short would leave for B (B's instances_path)
        staging = folder(b, s.id) + '_migrating'

        def plant():
            os.makedirs(staging)
            with open(os.path.join(staging, 'disk'), 'wb') as f:
                f.write(b'half a copy')

        plant()
        until0 = boot_until(a, s.id)
        os.rename(keys, keys + '.away')
        try:
            before = boots(a, s.id)
            nova.servers.migrate(s)
            ms = wait(lambda: 'migration of mk-1 in error (now %s)' % last.get('s'),
                      lambda: nova.migrations.list(instance_uuid=s.id, status='error'), 120)
        finally:
            os.rename(keys + '.away', keys)
        if ms[0].dest_compute != b:
            fail('the refused migration went to %s, not %s' % (ms[0].dest_compute, b))
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != a:
            fail('after the refused copy: on %s' % host_of(x))
        states_are('after the refused copy', s.id, {a: 'running', b: None})
        # started again, it boots: with a boot allowance of its own (a new
        # one, later than any the start of 3 gave; read before it boots)
        until1 = boot_until(a, s.id)
        if until1 <= until0:
            fail('mk-1 started again on %s after the refused copy without a boot allowance '
                 '(boot_until %s, %s before)' % (a, until1, until0))
        wait_boot(a, s.id, before + 1)
        if os.path.exists(folder(b, s.id)) or os.path.exists(folder(a, s.id) + '_migrating'):
            fail('after the refused copy: files of mk-1 left for %s' % b)
        say('4. copy refused by %s\'s sshd: migration error, ACTIVE on %s, booted again on a '
            'boot allowance' % (b, a))
        t = time.time()
        wait('%s releases the admission of the refused move' % b,
             lambda: not sculpt_has(b, s.id) and not os.path.exists(staging)
             and 'admission for migration %s released' % ms[0].uuid in log_text(b), 60)
        if not sculpt_has(a, s.id):
            fail('after %s released its admission: %s lost mk-1' % (b, a))
        say('   %s released its admission and the staging folder in %.1f s' % (b, time.time() - t))

        # 5. the same refusal, B killed (-9) once it admitted the move and
        # started again after A rolled back: its restart releases the row
        plant()
        booted = boots(a, s.id)
        admitted = log_text(b).count('admitted here')
        errors = len(nova.migrations.list(instance_uuid=s.id, status='error'))
        with open(os.path.join(run, b, 'sculpt-compute.pid')) as f:
            pb = int(f.read().strip())
        os.rename(keys, keys + '.away')
        try:
            nova.servers.migrate(s)
            wait('%s admits mk-1 again (prep_resize)' % b,
                 lambda: log_text(b).count('admitted here') > admitted, 60)
            os.kill(pb, signal.SIGKILL)
            ms = wait('migration of mk-1 in error again',
                      lambda: (lambda m: len(m) > errors and m)(
                          nova.migrations.list(instance_uuid=s.id, status='error')), 120)
        finally:
            os.rename(keys + '.away', keys)
        x = wait_status(s, 'ACTIVE')
        if host_of(x) != a:
            fail('after the second refused copy: on %s' % host_of(x))
        mig = max(ms, key=lambda m: m.id)
        if mig.dest_compute != b:
            fail('the second refused migration went to %s, not %s' % (mig.dest_compute, b))
        if not os.path.exists(staging):
            fail('%s let the move go before it was killed' % b)
        mark = len(log_text(b))
        t = time.time()
        p = start_sculpt(b)
        wait('%s, restarted, releases the row of the refused move' % b,
             lambda: p.poll() is None and not os.path.exists(staging)
             and 'admission for migration %s released' % mig.uuid in log_text(b)[mark:]
             and api_lists(b, s.id) is False, 90)
        if not sculpt_has(a, s.id):
            fail('after %s\'s restart: %s lost mk-1' % (b, a))
        say('5. %s killed (-9) after admitting a move %s refused: its restart released the row '
            'and the staging folder in %.1f s' % (b, a, time.time() - t))

        # 6. live-migrated (block migration) to B: it runs on without a
        # reboot (the boot the refused move of 5 started over first, or it
        # would end on B)
        wait_boot(a, s.id, booted + 1)
        before = boots(a, s.id)
        # B's engine gives m1.tiny half a vCPU (a custom blueprint there):
        # the guest arrives with A's shape and must take B's
        bp = sculpt_api(envs[b], 'POST', '/v1/blueprints', {
            'name': 'migrate-kvm-live', 'match': {'flavor': 'm1.tiny'},
            'blueprint': {'step_s': 60, 'nsteps': 20, 'confidence': 0.9,
                          'resources': {'vcpu': {'p50': 0.5, 'p99': 0.5},
                                        'mem_mib': {'p50': tiny.ram}}}})['id']
        t = time.time()
        mark = len(log_text(a))
        nova.servers.live_migrate(s, b, 'auto')
        x = wait_status(s, 'ACTIVE', 180)
        dt = time.time() - t
        if host_of(x) != b:
            fail('after the live migration: on %s' % host_of(x))
        # the source's pause at the switch-over is the migration's, not a
        # pause by hand for the power sync to tell Nova of
        own = re.findall(r'event paused %s .*' % s.id, log_text(a)[mark:])
        if [line for line in own if 'not by sculpt' in line]:
            fail('%s took the switch-over pause of mk-1 for someone else\'s: %s' % (a, own))
        ms = nova.migrations.list(instance_uuid=s.id, migration_type='live-migration')
        if not ms or ms[0].status != 'completed' or ms[0].dest_compute != b:
            fail('live migration not completed to %s: %r' % (b, ms and ms[0].to_dict()))
        states_are('after the live migration', s.id, {a: None, b: 'running'})
        if os.path.exists(folder(a, s.id)):
            fail('after the live migration: %s left' % folder(a, s.id))
        if not sculpt_has(b, s.id) or api_lists(a, s.id):
            fail('after the live migration: sculpt has mk-1 on %s %s, on %s %s'
                 % (a, api_lists(a, s.id), b, sculpt_has(b, s.id)))
        time.sleep(3)
        if boots(b, s.id) != 0 or boots(a, s.id) not in (0, before):
            fail('the guest booted again after the live migration (%d boots on %s)'
                 % (boots(b, s.id), b))
        view = sculpt_api(envs[b], 'GET', '/v1/instances/%s' % s.id)
        held = view['shape']['res']['vcpu']
        if abs(held - 0.5) > 1e-6:
            fail('after the live migration %s holds mk-1 at %.3f vCPU, not its blueprint\'s 0.5'
                 % (b, held))
        if (view.get('engine') or {}).get('boot_until'):
            fail('after the live migration %s gave the running mk-1 a boot allowance' % b)

        def vcpus_on_b():
            online = int(virsh(b, 'vcpucount', s.id, '--live', '--active') or 0)
            info = dict(re.split(r'\s*:\s*', line, maxsplit=1)
                        for line in (virsh(b, 'schedinfo', s.id) or '').splitlines() if ':' in line)
            quota, period = int(info.get('vcpu_quota', -1)), int(info.get('vcpu_period', 100000))
            last['vcpus'] = '%d online, quota %d of %d' % (online, quota, period)
            return online if quota < 0 else quota * online / period
        wait(lambda: '%s\'s libvirt to run mk-1 at 0.5 vCPU (%s)' % (b, last.get('vcpus')),
             lambda: abs(vcpus_on_b() - 0.5) < 0.02, 10)
        say('6. live-migrated %s -> %s in %.1f s: ACTIVE on %s at its engine\'s 0.5 vCPU, '
            'no reboot, %s emptied' % (a, b, dt, b, a))

        # 7. live-migrated back, A's preparation failing (a folder in the
        # way): rolled back, running on B as before, A keeps nothing
        os.makedirs(folder(a, s.id))
        with open(os.path.join(folder(a, s.id), 'disk'), 'wb') as f:
            f.write(b'in the way')
        try:
            nova.servers.live_migrate(s, a, 'auto')
            ms = wait('live migration back in error',
                      lambda: [m for m in nova.migrations.list(
                          instance_uuid=s.id, migration_type='live-migration')
                          if m.status in ('error', 'failed')], 120)
            x = wait_status(s, 'ACTIVE')
        finally:
            subprocess.run(['rm', '-rf', folder(a, s.id)], check=True)
        if host_of(x) != b:
            fail('after the failed live migration: on %s' % host_of(x))
        states_are('after the failed live migration', s.id, {a: None, b: 'running'})
        wait('%s drops the claim of the failed live migration' % a,
             lambda: api_lists(a, s.id) is False, 60)
        if boots(b, s.id) != 0:
            fail('the guest rebooted during the failed live migration')
        say('7. live migration back to %s failed (%s): rolled back, running on %s, no reboot'
            % (a, ms[0].status, b))

        # 8. live-migrated back to A made slow on purpose (B restarted with
        # live_migration_bandwidth = 4 MiB/s; post-copy permitted, for 9:
        # nothing switches to it unasked) and aborted while it copies:
        # the migration cancelled, ACTIVE on B with its guest running on as
        # before (its uptime on, no boot), A emptied and its claim released
        p = restart(b, p, '[DEFAULT]\nmax_concurrent_live_migrations = 1\n'
                    '[libvirt]\nlive_migration_bandwidth = 4\n'
                    'live_migration_permit_post_copy = true\n')
        # mk-2, for 9, built on B as 8 goes
        # (in an anti-affinity group, alone there until 9b)
        group = nova.server_groups.create(name='mk-anti', policies=['anti-affinity'])
        s2 = nova.servers.create('mk-2', envs[b]['SCULPT_IMAGE_ID'], tiny.id, nics='none',
                                 availability_zone='nova:%s' % b,
                                 scheduler_hints={'group': group.id})
        up0 = guest_uptime(b, s.id)
        known = live_ids()
        nova.servers.live_migrate(s, a, 'auto')
        mig = live_running(known)
        t = time.time()
        nova.server_migrations.live_migration_abort(s, mig.id)
        wait('live migration %d cancelled (now %s)' % (mig.id, last.get('mig')),
             lambda: live_status(mig.id) == 'cancelled', 60)
        x = wait_status(s, 'ACTIVE')
        dt = time.time() - t
        if host_of(x) != b:
            fail('after the abort: on %s' % host_of(x))
        states_are('after the abort', s.id, {a: None, b: 'running'})
        wait('%s drops the claim of the aborted live migration' % a,
             lambda: api_lists(a, s.id) is False and not os.path.exists(folder(a, s.id)), 60)
        up1 = guest_uptime(b, s.id)
        if boots(b, s.id) != 0 or up1 < up0:
            fail('the guest rebooted during the aborted live migration (%d boots, uptime %d s '
                 'after, %d s before)' % (boots(b, s.id), up1, up0))
        action_ok('live_migration_cancel', 'compute_live_migration_abort')
        say('8. live migration back to %s (4 MiB/s) aborted while it copied: cancelled in '
            '%.1f s, ACTIVE on %s running on (uptime %d -> %d s), %s emptied'
            % (a, dt, b, up0, up1, a))

        # 9. again, its completion forced while it copies: B switches it to
        # post-copy (permitted), the guest runs on A at once, its memory
        # fetched from B as it touches it; B's libvirt reports it suspended
        # for post-copy, never paused (its domain events, listened to from
        # before the migration: a title set shows the listener is there)
        known = live_ids()
        evf = os.path.join(run, 'postcopy-events')
        with open(evf, 'w') as out:
            ev = subprocess.Popen(['virsh', '-q', '-c', uris[b], 'event', '--domain', s.id,
                                   '--loop', '--all'], stdout=out, stderr=subprocess.STDOUT)

        def events():
            with open(evf, errors='replace') as f:
                return f.read()
        x2 = wait_status(s2, 'ACTIVE', 180)
        if host_of(x2) != b:
            fail('mk-2 built on %s, not %s' % (host_of(x2), b))
        rps = {h: placement('/resource_providers?name=%s' % h)['resource_providers'][0]['uuid']
               for h in (a, b)}
        # mk-1's copy cannot end alone: its guest rewrites 16 MiB of its
        # memory faster than B's 4 MiB/s send it
        console_cmd(b, s.id, 'dirty 16 120', r'GUEST-ACK dirty 16', answer_s=60)
        nova65 = nova_client.Client('2.65', session=sess)
        try:
            wait('%s\'s domain events listened to' % b,
                 lambda: virsh(b, 'desc', s.id, '--live', '--title', 'events-on') is not None
                 and 'metadata-change' in events(), 30)
            nova.servers.live_migrate(s, a, 'auto')
            mig = live_running(known)
            # one at a time on B: mk-2's waits its turn, and its abort
            # (2.65) cancels it there: nothing began, its guest runs on B,
            # its allocations are B's alone again
            t2 = time.time()
            nova.servers.live_migrate(s2, a, 'auto')
            q = live_queued(s2)
            nova65.server_migrations.live_migration_abort(s2, q.id)
            wait('queued live migration %d of mk-2 cancelled (now %s)' % (q.id, last.get('mig')),
                 lambda: live_status(q.id, s2) == 'cancelled', 60)
            x2 = wait_status(s2, 'ACTIVE', 30)
            held2 = placement('/allocations/%s' % s2.id)['allocations']
            if host_of(x2) != b or list(held2) != [rps[b]] \
                    or placement('/allocations/%s' % q.uuid)['allocations']:
                fail('mk-2 after its queued migration was cancelled: on %s, allocations %s, the '
                     'migration\'s %s' % (host_of(x2), held2,
                                          placement('/allocations/%s' % q.uuid)['allocations']))
            if state(b, s2.id) != 'running' or state(a, s2.id) is not None \
                    or api_lists(a, s2.id):
                fail('mk-2 after its queued migration was cancelled: domains %s, on %s\'s sculpt '
                     '%s' % ({h: state(h, s2.id) for h in (a, b)}, a, api_lists(a, s2.id)))
            if live_status(mig.id) != 'running':
                fail('mk-1\'s migration %s after mk-2\'s was cancelled' % last.get('mig'))
            # queued again, not aborted: it runs once mk-1's is over
            nova.servers.live_migrate(s2, a, 'auto')
            q2 = live_queued(s2)
            dq = time.time() - t2
            t = time.time()
            nova.server_migrations.live_migrate_force_complete(s, mig.id)
            wait('%s switches the live migration of mk-1 to post-copy' % b,
                 lambda: 'live migration switched to post-copy' in log_text(b), 60)
            x = wait_status(s, 'ACTIVE', 180)
            dt = time.time() - t
        finally:
            ev.terminate()
            ev.wait()
        if host_of(x) != a or live_status(mig.id) != 'completed':
            fail('after the forced live migration: on %s, migration %s'
                 % (host_of(x), live_status(mig.id)))
        if 'Suspended Post-copy' not in events() or 'Suspended Paused' in events():
            fail('%s\'s libvirt did not run the forced migration in post-copy: %s'
                 % (b, events()[-800:]))
        if 'live migration %s of %s: running (post-copy)' % (mig.uuid, s.id) not in log_text(b):
            fail('migration %d not set to running (post-copy)' % mig.id)
        states_are('after the forced live migration', s.id, {a: 'running', b: None})
        up2 = guest_uptime(a, s.id)
        if boots(a, s.id) != 0 or up2 < up1:
            fail('the guest rebooted during the forced live migration (%d boots, uptime %d s '
                 'after, %d s before)' % (boots(a, s.id), up2, up1))
        action_ok('live_migration_force_complete', 'compute_live_migration_force_complete')
        say('9. live migration to %s forced to complete: switched to post-copy (running on %s '
            'at once, never paused on %s), done %.1f s later, running on %s (uptime %d s)'
            % (a, a, b, dt, a, up2))
        # mk-2's queued migration, its turn come: forced too (B's 4 MiB/s)
        t = time.time()
        wait('mk-2\'s live migration %d running once mk-1\'s is over (now %s)'
             % (q2.id, last.get('mig')),
             lambda: live_status(q2.id, s2) in ('running', 'running (post-copy)', 'completed'), 120)
        if live_status(q2.id, s2) == 'running':
            try:
                nova.server_migrations.live_migrate_force_complete(s2, q2.id)
            except nova_exceptions.ClientException:
                if live_status(q2.id, s2) == 'running':  # not moved on meanwhile
                    raise
        x2 = wait_status(s2, 'ACTIVE', 120)
        if host_of(x2) != a or live_status(q2.id, s2) != 'completed' or state(a, s2.id) != 'running':
            fail('mk-2 after its turn: on %s, migration %s, domain %s on %s'
                 % (host_of(x2), last.get('mig'), state(a, s2.id), a))
        say('   mk-2\'s migration queued behind it: aborted while queued, cancelled (ACTIVE and '
            'running on %s, allocations there alone); queued again, run after it, completed '
            '%.1f s later on %s (%.1f s queued)' % (b, time.time() - t, a, dq))

        # 9b. the late group check of a live migration: mk-g, built on B
        # (forced) in mk-2's anti-affinity group; mk-2 live-migrated back
        # to B with force (2.30: no scheduler, its group filter bypassed)
        # is refused by B's own check (check_can_live_migrate_destination,
        # MigrationPreCheckError): mk-2 ACTIVE on A, running on, B holds
        # nothing of it
        t = time.time()
        sg = nova.servers.create('mk-g', envs[b]['SCULPT_IMAGE_ID'], tiny.id, nics='none',
                                 availability_zone='nova:%s' % b,
                                 scheduler_hints={'group': group.id})
        xg = wait_status(sg, 'ACTIVE', 180)
        if host_of(xg) != b:
            fail('mk-g built on %s, not %s' % (host_of(xg), b))
        mark = len(log_text(b))
        known2 = {m.id for m in nova.migrations.list(instance_uuid=s2.id,
                                                       migration_type='live-migration')}
        why = 'Anti-affinity instance group policy was violated'
        try:
            nova_client.Client('2.30', session=sess).servers.live_migrate(s2, b, 'auto',
                                                                          force=True)
            told = None  # refused after the API returned: the migration tells
        except nova_exceptions.BadRequest as e:
            told = str(e)
            if why not in told:
                fail('mk-2\'s forced live migration to %s refused for another reason: %s'
                     % (b, told))
        wait('%s logs the anti-affinity refusal of mk-2' % b, lambda: why in log_text(b)[mark:], 60)
        if told is None:
            wait('mk-2\'s forced live migration to %s in error' % b,
                 lambda: [m for m in nova.migrations.list(instance_uuid=s2.id,
                                                          migration_type='live-migration')
                          if m.id not in known2 and m.status == 'error'], 60)
        x2 = wait_status(s2, 'ACTIVE')
        held = placement('/allocations/%s' % s2.id)['allocations']
        if host_of(x2) != a or state(a, s2.id) != 'running' or rps[b] in held:
            fail('mk-2 after its refused live migration: on %s, domain %s on %s, allocations %s'
                 % (host_of(x2), state(a, s2.id), a, held))
        if state(b, s2.id) is not None or api_lists(b, s2.id):
            fail('after the refusal %s holds mk-2 (domain %s)' % (b, state(b, s2.id)))
        nova.servers.delete(sg)
        wait('mk-g deleted', lambda: not [x for x in nova.servers.list() if x.id == sg.id], 60)
        sg = None
        say('9b. mk-2 forced onto %s beside mk-g of its anti-affinity group: refused by %s\'s '
            'late group check (%s) in %.1f s, ACTIVE on %s and running on'
            % (b, b, 'HTTP 400' if told else 'migration in error', time.time() - t, a))

        # 9c. A killed (-9) in the middle of mk-2's live migration to B:
        # the copy goes on in A's libvirtd without its caller and ends on
        # B while A is down (A restarted first at 32 MiB/s, the guest
        # dirtying 16 MiB for 8 s: its copy cannot end sooner).  A's
        # restart finishes the move (Zed's _init_instance would put the
        # migration in error and leave the instance on A, its guest gone):
        # ACTIVE on B, running on (its uptime, no boot), the migration
        # completed, allocations on B alone, A keeps nothing of it
        with open(os.path.join(run, a, 'sculpt-compute.pid')) as f:
            pa = int(f.read().strip())
        os.kill(pa, signal.SIGTERM)
        wait('%s\'s sculpt-compute stopped' % a, lambda: api_lists(a, s2.id) is None, 60)
        pa = start_sculpt(a, '[libvirt]\nlive_migration_bandwidth = 32\n')
        wait('%s restarted at 32 MiB/s' % a,
             lambda: pa.poll() is None and api_lists(a, s2.id) is True, 90)
        t = time.time()
        up0 = guest_uptime(a, s2.id)
        known2 = {m.id for m in nova.migrations.list(instance_uuid=s2.id,
                                                       migration_type='live-migration')}
        console_cmd(a, s2.id, 'dirty 16 8', r'GUEST-ACK dirty 16', answer_s=60)
        nova.servers.live_migrate(s2, b, 'auto')

        def copying():
            ms = [m for m in nova.migrations.list(instance_uuid=s2.id,
                                                  migration_type='live-migration')
                  if m.id not in known2]
            last['mig'] = ms and ms[0].status
            job = virsh(a, 'domjobinfo', s2.id) or ''
            return ms and ms[0].status == 'running' and 'Unbounded' in job and ms[0]
        mig = wait(lambda: 'mk-2\'s live migration copying on %s (now %s)' % (a, last.get('mig')),
                   copying, 60)
        os.kill(pa.pid, signal.SIGKILL)
        pa.wait(30)
        wait('mk-2\'s copy ended on %s with %s down' % (b, a),
             lambda: state(a, s2.id) is None and state(b, s2.id) == 'running', 120)
        dt = time.time() - t
        mark = len(log_text(a))
        start_sculpt(a)
        x2 = wait_status(s2, 'ACTIVE', 120)
        wait('%s, restarted, finishes mk-2\'s move' % a,
             lambda: live_status(mig.id, s2) == 'completed' and api_lists(a, s2.id) is False
             and list(placement('/allocations/%s' % s2.id)['allocations']) == [rps[b]], 60)
        x2 = nova.servers.get(s2.id)
        if host_of(x2) != b or not sculpt_has(b, s2.id) or os.path.exists(folder(a, s2.id)):
            fail('mk-2 after %s\'s restart: on %s, on %s\'s sculpt %s, %s\'s folder left %s'
                 % (a, host_of(x2), b, sculpt_has(b, s2.id), a, os.path.exists(folder(a, s2.id))))
        if 'ended while sculpt-compute was down' not in log_text(a)[mark:]:
            fail('%s\'s restart did not say it finished the move of mk-2' % a)
        up1 = guest_uptime(b, s2.id)
        if up1 < up0 or boots(b, s2.id) != 0:
            # the guest's own last words before its boot (panic=-1: a
            # kernel panic reboots it at once)
            with open(os.path.join(folder(b, s2.id), 'console.log'), errors='replace') as f:
                say('   console of mk-2 on %s:\n%s' % (b, f.read()[-3000:]))
            fail('mk-2 rebooted over the cut migration (uptime %d -> %d s, %d boots on %s)'
                 % (up0, up1, boots(b, s2.id), b))
        say('9c. %s killed (-9) while mk-2 was copied to %s: the copy ended there %.1f s later '
            'with %s down; its restart finished the move (migration completed, ACTIVE on %s, '
            'uptime %d -> %d s)' % (a, b, dt, a, b, up0, up1))
        nova.servers.delete(s2)
        wait('mk-2 deleted', lambda: not [x for x in nova.servers.list() if x.id == s2.id], 60)
        s2 = None
        nova.server_groups.delete(group.id)
        group = None

        # every leg in its host's journal (migrate intents), none left open
        def legs(host):
            with open(os.path.join(run, host, 'database_url')) as f:
                url = f.read().strip()
            out = subprocess.run(['psql', '-X', '-q', '-t', '-A', url, '-c',
                                  "SELECT state, count(*) FROM intents WHERE op = 'migrate'"
                                  " GROUP BY state"], capture_output=True, text=True)
            if out.returncode != 0:
                fail('psql on %s\'s database: %s' % (host, out.stderr))
            return {k: int(v) for k, v in (line.split('|') for line in out.stdout.split())}
        want = {a: {'done': 5, 'rolled_back': 2}, b: {'done': 5, 'rolled_back': 1}}
        got = {h: legs(h) for h in (a, b)}
        if got != want:
            fail('legs of the moves in the journals: %s, not %s' % (got, want))
        say('   journals: %s' % got)

        # 10. evacuated: A down (its sculpt-compute stopped, its guest
        # running on in A's libvirtd, the service forced down), the server
        # rebuilt on B from its image; A, started again, cleans up
        t = time.time()
        with open(os.path.join(run, a, 'sculpt-compute.pid')) as f:
            pa = int(f.read().strip())
        a_down[0] = nova.services.list(host=a, binary='nova-compute')[0].id
        os.kill(pa, signal.SIGTERM)
        wait('%s\'s sculpt-compute stopped' % a, lambda: api_lists(a, s.id) is None, 30)
        nova.services.force_down(a_down[0], True)
        nova.servers.evacuate(s, host=b)
        x = wait_status(s, 'ACTIVE', 120)
        if host_of(x) != b:
            fail('after the evacuation: on %s' % host_of(x))
        if state(b, s.id) != 'running' or state(a, s.id) != 'running':
            fail('evacuated: domains %s' % {h: state(h, s.id) for h in (a, b)})
        evs = nova.migrations.list(instance_uuid=s.id, migration_type='evacuation')
        if not evs or evs[0].status != 'done' or evs[0].dest_compute != b:
            fail('evacuation migration: %r' % (evs and evs[0].to_dict()))
        held = placement('/allocations/%s' % s.id)['allocations']
        if (held.get(rps[b]) or {}).get('resources', {}).get('VCPU') != tiny.vcpus:
            fail('evacuated to %s: allocations %s' % (b, held))
        say('10. %s down, evacuated to %s: ACTIVE there, guest running, migration done in '
            '%.1f s (allocations on %s)' % (a, b, time.time() - t,
                                            sorted(h for h in (a, b) if rps[h] in held)))
        # started again, then up (Nova refuses to unset forced down while
        # `done` evacuations from the host are not `completed`)
        t = time.time()
        start_sculpt(a)
        wait('%s, started again, cleans up the evacuated mk-1' % a,
             lambda: api_lists(a, s.id) is False and state(a, s.id) is None
             and not os.path.exists(folder(a, s.id))
             and list(placement('/allocations/%s' % s.id)['allocations']) == [rps[b]]
             and nova.migrations.list(instance_uuid=s.id,
                                      migration_type='evacuation')[0].status == 'completed', 60)
        if state(b, s.id) != 'running':
            fail('after %s\'s clean-up the guest on %s is %s' % (a, b, state(b, s.id)))
        nova.services.force_down(a_down[0], False)
        a_down[0] = None
        say('    %s started again: its guest and folder gone, its allocations dropped, the '
            'migration completed in %.1f s' % (a, time.time() - t))
        say('phase passed in %.0f s' % (time.time() - t0))
    finally:
        if a_down[0] is not None:  # the phase failed with A down: A back up
            if api_lists(a, s.id) is None:
                start_sculpt(a)
            try:
                wait('%s up again' % a, lambda: api_lists(a, s.id) is not None, 60)
                nova.services.force_down(a_down[0], False)
            except (Exception, SystemExit) as e:  # the phase's own failure first
                print('migrate-kvm: %s left forced down: %s' % (a, e), file=sys.stderr)
        if s is not None:
            PHASE.delete_server(nova, s, 'mk-1')
        if s2 is not None:
            PHASE.delete_server(nova, s2, 'mk-2')
        if sg is not None:
            PHASE.delete_server(nova, sg, 'mk-g')
        if group is not None:
            try:
                nova.server_groups.delete(group.id)
            except nova_exceptions.ClientException as e:  # the phase's failure first
                print('migrate-kvm: server group mk-anti not deleted: %s' % e, file=sys.stderr)
        if bp is not None:
            try:
                sculpt_api(envs[b], 'DELETE', '/v1/blueprints/%d' % bp)
            except OSError as e:  # the phase's own failure comes first
                print('migrate-kvm: blueprint %d on %s not deleted: %s' % (bp, b, e),
                      file=sys.stderr)
        computes_back(nova, others)
        compute_away(nova, b, 'migrate-kvm phase over')


if __name__ == '__main__':
    main()
