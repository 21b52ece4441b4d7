#!/usr/bin/python3
"""Crashes and restarts around a running guest lose nothing:

  1. sculpt-compute killed with SIGKILL; a stop request sent while it is
     dead waits in its queue; restarted, it adopts the guest (not
     restarted) and carries the stop out;
  2. sculpt's PostgreSQL stopped while a start request is served, then
     started again: the guest starts, and the database gets the instance's
     state once it is back (nothing acknowledged is dropped);
  3. libvirtd restarted under the running guest: the guest keeps running
     and sculpt-compute goes on driving it;
  4. the guest destroyed behind sculpt's back (virsh destroy): Nova shows
     SHUTOFF within seconds (the backend's lifecycle event), the database
     agrees;
  5. SIGKILL in the middle of a spawn (between db_intent_begin and
     db_intent_finish, held there by the test-only SCULPT_TEST_PAUSE_INTENT)
     and 6. in the middle of a reshape the control loop applies: after the
     restart no intent is open, the database row matches what virsh shows,
     the reshape (the growth to a raised CPU floor, the only one held) whose
     guest had taken its new shape is completed, and a reconcile.* event
     says what was done; the build the broker redelivers changes nothing;
  7. fleet history: a guest is in the saved history within seconds of
     its admission (before each SIGKILL above), and a clean restart keeps
     the confidence a request's preview had;
  8. Placement allocations against the host of an instance Nova deleted
     are released after a restart (the resource tracker's rule), those of
     a consumer Nova does not know are kept;
  9. each guest's predictor state is saved at a clean stop and restored
     at the start: the first blueprint after it is not a cold start and
     the guest keeps its shape; the same over a SIGKILL, from the state
     the last periodic save wrote; a damaged state is refused (cold
     start).
  10. SIGKILL in the middle of a rebuild, once its new guest runs: the
     restart finishes it, the redelivered request changes nothing.
  11. SIGKILL in the middle of a rescue and then of the unrescue (held
     by the hook once libvirt runs the rescue guest, resp. the guest's
     own again, before Nova's record is saved): the restart finishes
     each (RESCUE with the rescue disk first and the guest's own, its
     marker read by the rescue system, second; then ACTIVE booted from
     its own disk, the rescue files gone) and the redelivered request
     changes nothing.
  12. SIGKILL in the middle of a shelve offload (held once the guest is
     destroyed) and then of the unshelve (held once the guest runs
     again): the restart finishes the offload (SHELVED_OFFLOADED, no
     host, no allocations, the shelved image carrying the predictor
     state this host saved) and then the unshelve (ACTIVE, running from
     the shelved image's disk, the image deleted).

    crash.py RUN_DIR NAME      (NAME: a contrib/stack/sculpt.sh instance, libvirt backend)
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid as uuid_mod
import zlib

from novaclient import client as nova_client

import phase
from phase import Phase, nova_admin, sculpt_domain, server_status, stack_env

say, fail, wait = Phase('crash').functions()


def main():
    run, name = sys.argv[1], sys.argv[2]
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stack = os.path.join(top, 'contrib', 'stack')
    env = stack_env(run, ('nova', 'rabbitmq', 'libvirt', name))
    # sculpt's own PostgreSQL (tests/integration/nova.sh), not Nova's
    pgrun = os.path.join(run, 'sculpt-db')
    env.update(stack_env(pgrun, ('postgres',)))
    host = env['SCULPT_HOST']
    nova, sess = nova_admin(env)

    def placement(method, path, body=None):
        """Placement as the admin (microversion 1.28: consumer generations)."""
        r = sess.request(path, method, json=body, raise_exc=False,
                         endpoint_filter={'service_type': 'placement', 'interface': 'public'},
                         headers={'OpenStack-API-Version': 'placement 1.28'})
        if r.status_code >= 300:
            fail('Placement %s %s: %d %s' % (method, path, r.status_code, r.text))
        return r.json() if r.content else None

    def status(s):
        return server_status(nova, s, fail)

    def domstate(dom):
        return subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'domstate', dom],
                              capture_output=True, text=True).stdout.strip()

    def domid(dom):
        return subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'domid', dom],
                              capture_output=True, text=True).stdout.strip()

    # A control step every 3 s from the first restart on: guests are
    # sampled and reshaped within seconds.  Predictor states are saved
    # every 10 s (the option's least): a guest killed with sculpt-compute
    # continues from its last periodic save, not from a cold start.
    save = '\n[predict]\nfleet_save_interval = 10'
    fast = '[engine]\nstep_interval = 3' + save

    def sculpt(action, pause=None, extra=fast):
        """pause: the hook's OP[:SECONDS[:MIN_VCPU[:TO_VCPU]]] (SECONDS 120 unless given)."""
        e = dict(os.environ, SCULPT_NAME=name, SCULPT_DEMO_GUESTS='0', SCULPT_EXTRA_CONF=extra)
        e.pop('SCULPT_TEST_PAUSE_INTENT', None)
        if pause:
            e['SCULPT_TEST_PAUSE_INTENT'] = pause if ':' in pause else pause + ':120'
        subprocess.run([os.path.join(stack, 'sculpt.sh'), action, run], check=True,
                       stdout=subprocess.DEVNULL, env=e)

    def sculpt_pid():
        return int(stack_env(run, (name,))['SCULPT_PID'])

    def kill9():
        pid = sculpt_pid()
        os.kill(pid, 9)
        wait('sculpt-compute gone', lambda: not os.path.exists('/proc/%d' % pid) or
             open('/proc/%d/stat' % pid).read().split(') ')[1][0] == 'Z', 10)

    def held_step(op, offset):
        """The uuid whose `op` the pause hook holds (a step recorded by
        Nova's task state, no intent), once it does."""
        m = re.search(r'SCULPT_TEST_PAUSE_INTENT: holding the %s of ([0-9a-f-]{36})' % op,
                      log_since(offset))
        return m.group(1) if m else None

    def log_size():
        return phase.log_size(env['SCULPT_LOG'])

    def log_since(offset):
        return phase.log_since(env['SCULPT_LOG'], offset)

    def held(op, offset):
        """The (intent id, uuid) the pause hook holds open, once it does."""
        m = re.search(r'SCULPT_TEST_PAUSE_INTENT: holding the %s intent (\d+) of ([0-9a-f-]{36})'
                      % op, log_since(offset))
        return (int(m.group(1)), m.group(2)) if m else None

    def psql(sql):
        out = subprocess.run(['psql', '-X', '-q', '-t', '-A', '-F', '|', env['SCULPT_DB_URL'],
                              '-c', sql], capture_output=True, text=True)
        if out.returncode != 0:
            fail('psql: %s: %s' % (sql, out.stderr))
        return out.stdout.strip()

    def api(method, path, body=None):
        k = stack_env(run, (name,))
        req = urllib.request.Request(k['SCULPT_API_URL'] + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={'X-Auth-Token': k['SCULPT_API_TOKEN'],
                                              'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b'null')

    def virsh_shape(dom):
        """(vCPU entitlement, memory MiB) as libvirt enforces them."""
        def val(args, key):
            out = subprocess.run(['virsh', '-c', env['LIBVIRT_URI']] + args + [dom],
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                f = line.replace(':', ' ').split()
                if f and f[0] == key:
                    return float(f[-1])
            return None
        quota, period = val(['schedinfo'], 'vcpu_quota'), val(['schedinfo'], 'vcpu_period')
        online = float(subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'vcpucount', '--live',
                                       '--active', dom], capture_output=True,
                                      text=True).stdout.strip() or 0)
        vcpu = online if quota is None or quota < 0 else quota * online / period
        return vcpu, (val(['dommemstat'], 'actual') or 0) / 1024

    def row_shape(uuid):
        res = psql("select shape_res from instances where uuid = '%s'" % uuid)
        v = [float(x) for x in res.strip('{}').split(',')]
        return v[0], v[1]

    last_seen = {}

    def row_matches_virsh(uuid, dom):
        (rv, rm), (lv, lm) = row_shape(uuid), virsh_shape(dom)
        last_seen.update(uuid=uuid, row=(rv, rm), virsh=(lv, lm))
        return abs(rv - lv) < 0.02 and abs(rm - lm) < 2

    def row_vs_virsh():
        """What the last comparison saw (vCPU, MiB), and the guest's last
        intents and reshapes, for a failure."""
        u = last_seen.get('uuid')
        return ('the row matches virsh (last seen: row %s, virsh %s; intents: %s; reshapes: %s)'
                % (last_seen.get('row'), last_seen.get('virsh'),
                   psql("select string_agg(id || ' ' || state || ' ' || to_res[1], ', ') from "
                        "(select * from intents where instance_uuid = '%s' order by id desc "
                        "limit 3) i" % u),
                   psql("select string_agg(sculpt_ms(at) || ' ' || from_res[1] || '->' || "
                        "to_res[1] || ' ' || ok, ', ') from (select * from reshapes where "
                        "instance_uuid = '%s' order by id desc limit 3) r" % u)))

    def reshapes_since(at):
        """The reshapes recorded since `at` (a database timestamp), as
        `guest from->to`: what the control loop did around a hold."""
        names = {s.id: 'crash-1', s2.id: 'crash-2'}
        out = psql("select instance_uuid || ' ' || round(from_res[1]::numeric, 3) || '->' || "
                   "round(to_res[1]::numeric, 3) from reshapes where at >= '%s' order by id" % at)
        return ', '.join(names.get(l.split()[0], l.split()[0][:8]) + ' ' + l.split()[1]
                         for l in out.splitlines()) or 'none'

    def states_saved(uuids):
        """How many of these guests have a saved predictor state that
        learnt something."""
        return psql("select count(*) from predictor_states where samples > 0 and instance_uuid "
                    "in (%s)" % ', '.join("'%s'" % u for u in uuids))

    def no_open_intents(upto):
        """No intent begun before the restart is left open (the hook may
        hold a new reshape's open meanwhile)."""
        return psql("select count(*) from intents where state = 'open' and id <= %d"
                    % upto) == '0'

    def fleet_guests():
        """Guests of m1.tiny the saved fleet history counts (each is
        counted once, when admitted: saved within seconds, so a crash
        does not forget it)."""
        url = stack_env(pgrun, ('postgres',))['SCULPT_DB_URL']
        out = subprocess.run(['psql', '-X', '-q', '-t', '-A', url, '-c',
                              "select coalesce(max(guests), 0) from fleet_groups "
                              "where key = 'flavor=m1.tiny'"], capture_output=True, text=True)
        return float(out.stdout.strip() or 0)

    counted = fleet_guests()
    s = nova.servers.create('crash-1', env['SCULPT_IMAGE_ID'], env['SCULPT_FLAVOR_ID'],
                            nics='none', availability_zone='nova:%s' % host)
    wait('crash-1 ACTIVE', lambda: status(s) == 'ACTIVE', 180)
    def domain(server):
        """The server's domain as sculpt records it (a pool member that
        served the build keeps its own name until it is first stopped)."""
        return sculpt_domain(stack_env(run, (name,)), server.id)

    dom = domain(s)
    qemu_id = domid(dom)
    say('crash-1 ACTIVE as %s (domain id %s)' % (dom, qemu_id))
    wait('crash-1 counted in the saved fleet history', lambda: fleet_guests() >= counted + 1, 15)

    # 1. SIGKILL, a request while dead, restart (with the spawn hook armed
    # for step 5: nothing spawns before it)
    kill9()
    say('sculpt-compute killed (SIGKILL)')
    nova.servers.stop(s)
    time.sleep(2)
    if domstate(dom) != 'running':
        fail('the guest did not survive the crash: %r' % domstate(dom))
    sculpt('start', pause='spawn')
    say('sculpt-compute restarted')
    wait('the queued stop carried out', lambda: status(s) == 'SHUTOFF', 120)
    # stopped, the guest bears the instance's name (a pool member's is
    # renamed now): the record follows within the writer's delay
    name1 = getattr(nova.servers.get(s.id), 'OS-EXT-SRV-ATTR:instance_name')
    wait('crash-1 recorded as %s' % name1, lambda: domain(s) == name1, 10)
    if dom != name1:
        say('pool member %s renamed %s at the stop' % (dom, name1))
    dom = name1
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
    env.update(stack_env(pgrun, ('postgres',)))

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

    # 4. the guest dies behind sculpt's back
    t = time.time()
    subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'destroy', dom], check=True,
                   stdout=subprocess.DEVNULL)
    wait('Nova sees the destroyed guest SHUTOFF', lambda: status(s) == 'SHUTOFF', 20)
    took = time.time() - t
    wait('the database agrees (stopped, power state shutdown)',
         lambda: psql("select vm_state || ' ' || power_state from instances where uuid = '%s'"
                      % s.id) == 'stopped 4', 10)
    if not psql("select count(*) from events where instance_uuid = '%s' and source = "
                "'hypervisor' and action = 'power_state.shutdown'" % s.id) != '0':
        fail('no event says the guest stopped behind our back')
    say('virsh destroy: SHUTOFF in Nova after %.1f s, the database agrees' % took)
    nova.servers.start(s)
    wait('start after the destroy', lambda: status(s) == 'ACTIVE', 120)

    # 5. SIGKILL in the middle of a spawn
    offset = log_size()
    s2 = nova.servers.create('crash-2', env['SCULPT_IMAGE_ID'], env['SCULPT_FLAVOR_ID'],
                             nics='none', availability_zone='nova:%s' % host)
    intent, uuid = wait('the spawn held open by the hook', lambda: held('spawn', offset), 120)
    if uuid != s2.id:
        fail('the hook held %s, not crash-2' % uuid)
    dom2 = wait('crash-2\'s domain recorded', lambda: domain(s2), 10)
    wait('crash-2 counted in the saved fleet history', lambda: fleet_guests() >= counted + 2, 15)
    # crash-1's predictor state in a periodic save: after the kill it
    # continues from it.  A guest whose state was never saved starts cold
    # and its first step re-grows it to cold-start bands -- a growth the
    # hook below would take for the one it waits for.
    # (its first sample waits for the memory figures of the guest started
    # in 4., which a loaded machine's TCG boot gives minutes later)
    wait('crash-1\'s predictor state saved by the period',
         lambda: states_saved((s.id,)) == '1', 180)
    kill9()
    say('sculpt-compute killed in the spawn of crash-2 (intent %d open)' % intent)
    offset = log_size()
    offset_at = psql("select now()")
    # the reshape held in 6. is the growth to the raised CPU floor: the
    # hook holds only a growth by GROW or more (15 times the comparison's
    # tolerance, never a step's small correction).  The shrinks that
    # follow the restart are let through: crash-1 (started again in 4.)
    # and crash-2 (spawned) are shaped 1 vCPU for their boot, and the
    # blueprints that learn from their idling take that back to a few
    # hundredths (a hook that held any large change held one of those,
    # 1 -> 0.05 vCPU, and took it for the growth).
    # The hook also asks the held reshape's `to` to be the floor: a
    # guest's own growth by GROW before the SIGHUP (its blueprint
    # following a burst of its boot) is let through, not held.
    grow = 0.3
    floor = 0.8
    sculpt('start', pause='reshape:120:%g:%g' % (grow, floor))
    # the guest had started: the spawn is completed, Nova's build finished
    wait('crash-2 ACTIVE after the recovery', lambda: status(s2) == 'ACTIVE', 60)
    wait('no open intent (spawn)', lambda: no_open_intents(intent), 10)
    state = psql("select state from intents where id = %d" % intent)
    row = psql("select vm_state || ' ' || power_state from instances where uuid = '%s'" % s2.id)
    ds = domstate(dom2)
    if row != 'active 1' or ds != 'running' or state != 'done':
        fail('after the crash in the spawn: row %r, domain %r, intent %s' % (row, ds, state))
    if psql("select count(*) from events where instance_uuid = '%s' and source = 'reconcile' "
            "and action like 'reconcile.%%' and at > now() - interval '5 minutes'" % s2.id) == '0':
        fail('no reconcile event for crash-2')
    wait('the redelivered build seen', lambda: 'came again' in log_since(offset), 30)
    if status(s2) != 'ACTIVE' or domstate(dom2) != 'running':
        fail('the redelivered build changed crash-2')
    say('crash in the spawn: intent completed, row `%s`, guest running, the redelivered build '
        'ignored' % row)

    # 6. SIGKILL in the middle of a reshape.  Raising the CPU floor
    # (SIGHUP: the running engine takes it) makes the next step grow
    # every guest shaped below it to the floor, in one reshape: by GROW
    # or more for a guest below 0.5 (the guests' blueprints fall well
    # below that once they idle: a guest just (re)started or spawned is
    # shaped for its boot, 1 vCPU, first; two guests at 0.8 leave room on
    # two CPUs).  Only that growth is held: nothing held before the
    # SIGHUP, and the held reshape's `to` is the floor.
    wait('a guest shaped %g vCPU or less (its predictor learnt it idles)' % (floor - grow),
         lambda: min(virsh_shape(dom)[0], virsh_shape(dom2)[0]) <= floor - grow + 1e-9, 120)
    if held('reshape', offset):
        fail('a reshape was held before the floor was raised: %s (reshapes since the restart: '
             '%s)' % (held('reshape', offset), reshapes_since(offset_at)))
    with open(env['SCULPT_CONF'], 'a') as f:
        f.write('\n[engine]\ncpu_floor_vcpu = %g\n' % floor)
    os.kill(sculpt_pid(), signal.SIGHUP)
    intent, uuid = wait('a reshape held open by the hook', lambda: held('reshape', offset), 60)
    frm, to = [float(x) for x in psql("select from_res[1] || ' ' || to_res[1] from intents "
                                      "where id = %d" % intent).split()]
    rdom, rname = [(d, n) for d, u, n in ((dom, s.id, 'crash-1'), (dom2, s2.id, 'crash-2'))
                   if u == uuid][0]
    before_kill = reshapes_since(offset_at)
    kill9()
    # the hook holds the intent after libvirt took the new shape
    at_kill = virsh_shape(rdom)[0]
    say('sculpt-compute killed in the growth of %s to the floor (intent %d: vcpu %s -> %s; '
        'virsh: %s; reshapes since the restart: %s)'
        % (rname, intent, frm, to, at_kill, before_kill))
    if not (to - frm >= grow and abs(to - floor) < 0.005):
        fail('the held reshape of %s is %s -> %s vCPU, not a growth to the %g floor'
             % (rname, frm, to, floor))
    if abs(at_kill - to) > 0.02:
        fail('libvirt holds vcpu %s, not the held reshape\'s to %s' % (at_kill, to))
    last = int(psql("select max(id) from intents"))
    sculpt('start', extra='')
    wait('no open intent (reshape)', lambda: no_open_intents(last), 20)
    state = psql("select state from intents where id = %d" % intent)
    # the guest had its new shape: the reshape is completed, not undone
    if state != 'done' or psql("select count(*) from reshapes where intent_id = %d and "
                               "abs(to_res[1] - %r) < 1e-6" % (intent, to)) != '1':
        fail('the reshape whose guest took its new shape was not completed: intent %s' % state)
    wait(row_vs_virsh, lambda: row_matches_virsh(uuid, rdom), 20)
    if psql("select count(*) from events where instance_uuid = '%s' and source = 'reconcile' "
            "and message like 'reshape interrupted%%'" % uuid) == '0':
        fail('no reconcile event for the interrupted reshape')
    say('crash in the reshape: intent %s, row %s, virsh agrees' % (state, last_seen.get('row')))

    # 7. fleet history across a clean restart: one guest of a class is
    # history enough for this check (a run-time setting, kept too).  The
    # fleet learns from the guests' samples (a control step every 3 s),
    # then sampling is frozen (SIGHUP: an hour between steps; a first
    # step at start only reads memory, which feeds no predictor) so the
    # preview is compared on what was saved.
    sculpt('stop')
    sculpt('start')
    api('PUT', '/v1/config/predictor', {'fleet_min_guests': 1})
    q = urllib.parse.urlencode({'flavor': 'm1.tiny', 'vcpus': 1, 'memory_mb': 128,
                                'image': env['SCULPT_IMAGE_ID'],
                                'project': nova.servers.get(s.id).tenant_id})

    def confidence():
        return api('GET', '/v1/blueprints/preview?' + q)['confidence']
    wait('a preview with confidence', confidence, 30)

    def model_of(u):
        return psql("select model from blueprints where instance_uuid = '%s' "
                    "order by revision desc limit 1" % u)
    # 9 below checks that a clean stop saves both guests' predictor states
    # with what they learnt: crash-2, spawned seconds ago, must have learnt
    # from one sample before sampling is frozen (a loaded machine may not
    # have stepped it yet)
    wait('both guests\' blueprints learnt from their own samples (not cold)',
         lambda: all(model_of(u) not in ('', 'cold') for u in (s.id, s2.id)), 60)
    slow = '[engine]\nstep_interval = 3600' + save
    with open(env['SCULPT_CONF']) as f:
        conf = f.read()
    with open(env['SCULPT_CONF'], 'w') as f:
        f.write(re.sub(r'(?m)^step_interval = 3$', 'step_interval = 3600', conf))
    offset = log_size()
    os.kill(sculpt_pid(), signal.SIGHUP)
    wait('the slow step taken', lambda: 'configuration reloaded' in log_since(offset), 10)
    time.sleep(1)  # a step under way ends
    before = confidence()
    if not before:
        fail('no confidence after SIGHUP: the run-time fleet_min_guests was not kept over it')
    sculpt('stop', extra=slow)
    sculpt('start', extra=slow)
    after = confidence()
    if abs(after - before) > 0.02 * before:
        fail('the preview\'s confidence went from %.4f to %.4f over a restart' % (before, after))
    api('PUT', '/v1/config/predictor', {'fleet_min_guests': 3})
    say('fleet history kept over a clean restart: preview confidence %.3f, then %.3f'
        % (before, after))

    # 9. (before 8 deletes the guests) each guest's predictor across a
    # clean restart: its state is saved at the stop and restored at the
    # start, so the first step's
    # blueprint continues what it learnt (neither `cold` nor a confidence
    # lost) and the guest's shape is the one it had -- no re-grow to
    # cold-start bands.  The same over a SIGKILL, from the last periodic
    # save.  A state that cannot be read is refused and that guest starts
    # cold (which also shows the checks above can fail).
    def last_bp(u):
        rev, model, conf = psql("select revision || '|' || model || '|' || confidence from "
                                "blueprints where instance_uuid = '%s' order by revision desc "
                                "limit 1" % u).split('|')
        return int(rev), model, float(conf)

    def restart_slow(between=None, crash=False, pause=None):
        """A clean stop (SIGKILL with `crash`), `between` run while
        sculpt-compute is down, a start (with the hook `pause` armed)."""
        rev = last_bp(s.id)[0]
        if crash:
            kill9()
        else:
            sculpt('stop', extra=slow)
        if between:
            between()
        offset = log_size()
        sculpt('start', pause=pause, extra=slow)
        wait('the first step after the restart revised crash-1\'s blueprint',
             lambda: last_bp(s.id)[0] > rev, 30)
        return log_since(offset)

    def continues_over(how, between=None, crash=False):
        """crash-1's predictor continues from its saved state over a
        restart: the log says so, its blueprint is neither cold nor less
        confident, its shape is the one it had."""
        shape_before = virsh_shape(dom)
        _, model_b, conf_b = last_bp(s.id)
        if model_b == 'cold':
            fail('crash-1\'s blueprint is a cold start before the %s' % how)
        log = restart_slow(between, crash)
        if 'predictor of %s continues from its saved state' % s.id not in log:
            fail('crash-1\'s predictor did not continue from its saved state over a %s' % how)
        _, model_a, conf_a = last_bp(s.id)
        if model_a == 'cold' or abs(conf_a - conf_b) > 0.02 + 0.05 * conf_b:
            fail('crash-1\'s blueprint went from %s (confidence %.3f) to %s (%.3f) over a %s'
                 % (model_b, conf_b, model_a, conf_a, how))
        shape_after = virsh_shape(dom)
        if abs(shape_after[0] - shape_before[0]) > 0.02 or \
                abs(shape_after[1] - shape_before[1]) > 2:
            fail('crash-1\'s shape went from %s to %s over a %s' % (shape_before, shape_after, how))
        say('predictor state kept over a %s: blueprint %s (confidence %.3f, then %.3f), '
            'shape %.2f vCPU / %.0f MiB unchanged' % (how, model_a, conf_b, conf_a, *shape_after))

    down = []
    continues_over('clean restart', between=lambda: down.append(psql("select now()")))
    if states_saved((s.id, s2.id)) != '2':
        fail('predictor states saved at the clean stop: %s of 2' % states_saved((s.id, s2.id)))
    # kill -9: what a crash leaves is the last periodic save, which writes
    # only the states that changed since the running sculpt-compute last
    # saved them (all of them once after a start).  The restart must read
    # a state the period wrote, not the one the clean stop left.
    wait('the periodic save (fleet_save_interval 10 s) of both predictor states',
         lambda: psql("select count(*) from predictor_states where instance_uuid in "
                      "('%s', '%s') and saved_at > '%s'" % (s.id, s2.id, down[0])) == '2', 25)
    continues_over('kill -9 after a periodic save', crash=True)
    junk = zlib.compress(b'JUNK' + bytes(60)).hex()
    # (the rebuild hook armed for 10.)
    log = restart_slow(lambda: psql("update predictor_states set state = '\\x%s' where "
                                    "instance_uuid = '%s'" % (junk, s.id)), pause='rebuild')
    if 'saved predictor state not used' not in log or last_bp(s.id)[1] != 'cold':
        fail('a damaged predictor state was not refused (blueprint %s)' % last_bp(s.id)[1])
    say('a damaged predictor state is refused: crash-1 starts cold')

    # 10. SIGKILL in the middle of a rebuild of crash-2 (onto its own
    # image), held by the hook once the rebuilt guest runs: the restart
    # finishes the rebuild (ACTIVE, the guest running, no intent open)
    # and the request the broker redelivers changes nothing.
    offset = log_size()
    nova.servers.rebuild(s2, env['SCULPT_IMAGE_ID'])
    intent, uuid = wait('the rebuild held open by the hook', lambda: held('rebuild', offset), 60)
    if uuid != s2.id:
        fail('the hook held the rebuild of %s, not crash-2' % uuid)
    kill9()
    say('sculpt-compute killed in the rebuild of crash-2 (intent %d open)' % intent)
    offset = log_size()
    # (the rescue hook armed for 11.)
    sculpt('start', pause='rescue', extra=slow)
    wait('crash-2 ACTIVE after the recovery', lambda: status(s2) == 'ACTIVE', 60)
    if 'rebuild finished (its rebuilt guest runs)' not in log_since(offset):
        fail('the recovery did not finish the rebuild of crash-2')
    wait('no open intent (rebuild)', lambda: no_open_intents(intent), 10)
    wait('the redelivered rebuild seen', lambda: 'came again' in log_since(offset), 30)
    dom2 = domain(s2)
    if status(s2) != 'ACTIVE' or domstate(dom2) != 'running':
        fail('after the crash in the rebuild: crash-2 %s, domain %s %r'
             % (status(s2), dom2, domstate(dom2)))
    say('crash in the rebuild: finished at the restart, guest %s running, the redelivered '
        'rebuild ignored' % dom2)

    # 11. SIGKILL in the middle of a rescue of crash-1 (a legacy rescue
    # from its own image), held by the hook once libvirt runs the rescue
    # guest and before Nova's record says RESCUE; then in the middle of
    # its unrescue, held once the guest's own definition runs again.
    folder = os.path.join(run, name, 'state', 'instances', s.id)

    def console():
        """The guest's console log ('' while it has none: an offloaded
        guest's folder is gone, an unshelved one's starts a new log)."""
        try:
            with open(os.path.join(folder, 'console.log'), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def last_boot():
        """(boots so far, the console since the last one)."""
        text = console()
        return text.count('GUEST-INIT-READY'), text[text.rfind('GUEST-INIT-READY'):]

    def disks(d):
        """The file names of the domain's disks, in order."""
        xml = subprocess.run(['virsh', '-c', env['LIBVIRT_URI'], 'dumpxml', d],
                             capture_output=True, text=True).stdout
        return [os.path.basename(f) for f in
                re.findall(r"<disk type='file' device='disk'>.*?<source file='([^']+)'", xml,
                           re.S)]

    def nova_states(server):
        x = nova.servers.get(server.id)
        return (getattr(x, 'OS-EXT-STS:vm_state'), getattr(x, 'OS-EXT-STS:task_state'))

    def own_disk_intact():
        out = subprocess.run(['qemu-img', 'check', '-U', os.path.join(folder, 'disk')],
                             capture_output=True, text=True)
        return out.returncode == 0

    boots, _ = last_boot()
    offset = log_size()
    nova.servers.rescue(s)
    uuid = wait('the rescue held open by the hook', lambda: held_step('rescue', offset), 60)
    if uuid != s.id:
        fail('the hook held the rescue of %s, not crash-1' % uuid)
    if disks(dom)[:2] != ['disk.rescue', 'disk'] or domstate(dom) != 'running':
        fail('held rescue: libvirt has %s (%s), not the rescue guest'
             % (disks(dom), domstate(dom)))
    kill9()
    say('sculpt-compute killed in the rescue of crash-1 (the rescue guest runs, Nova has %s/%s)'
        % nova_states(s))
    offset = log_size()
    sculpt('start', pause='unrescue', extra=slow)
    wait('crash-1 RESCUE after the recovery', lambda: status(s) == 'RESCUE', 60)
    if 'recovered %s: rescuing interrupted, now rescued' % s.id not in log_since(offset):
        fail('the recovery did not finish the rescue of crash-1')
    wait('the redelivered rescue seen',
         lambda: 'rescuing of %s came again' % s.id in log_since(offset), 30)
    # the rescue system sees the guest's own disk second, its marker intact
    wait('the rescue guest booted with crash-1\'s own disk second (its marker)',
         lambda: last_boot()[0] > boots and
         'GUEST-OTHER-DISK vdb marker=SCULPT-BASE-IMAGE' in last_boot()[1], 120)
    if disks(dom)[:2] != ['disk.rescue', 'disk'] or domstate(dom) != 'running' or \
            status(s) != 'RESCUE':
        fail('after the crash in the rescue: %s, domain %s %r'
             % (status(s), disks(dom), domstate(dom)))
    say('crash in the rescue: RESCUE, the rescue disk first and its own second (marker read), '
        'the redelivered rescue ignored')

    boots, _ = last_boot()
    offset = log_size()
    nova.servers.unrescue(s)
    uuid = wait('the unrescue held open by the hook', lambda: held_step('unrescue', offset), 60)
    if uuid != s.id or disks(dom) != ['disk'] or domstate(dom) != 'running':
        fail('held unrescue of %s: libvirt has %s (%s), not the guest\'s own'
             % (uuid, disks(dom), domstate(dom)))
    kill9()
    say('sculpt-compute killed in the unrescue of crash-1 (its own guest runs, Nova has %s/%s)'
        % nova_states(s))
    offset = log_size()
    sculpt('start', pause='offload', extra=slow)
    wait('crash-1 ACTIVE after the recovery', lambda: status(s) == 'ACTIVE', 60)
    if 'recovered %s: unrescuing interrupted, now active' % s.id not in log_since(offset):
        fail('the recovery did not finish the unrescue of crash-1')
    wait('the redelivered unrescue seen',
         lambda: 'unrescuing of %s came again' % s.id in log_since(offset), 30)
    # booted from its own disk; the first GUEST-STAT comes after the
    # disks' lines: none of another disk since that boot
    wait('crash-1 booted again from its own disk',
         lambda: last_boot()[0] > boots and 'GUEST-STAT' in last_boot()[1], 120)
    if 'GUEST-DISK marker=SCULPT-BASE-IMAGE' not in last_boot()[1] or \
            'GUEST-OTHER-DISK' in last_boot()[1]:
        fail('crash-1 after the unrescue: %r' % last_boot()[1][:300])
    left = [f for f in os.listdir(folder) if f.endswith('.rescue')]
    if left or disks(dom) != ['disk'] or domstate(dom) != 'running' or not own_disk_intact():
        fail('after the crash in the unrescue: rescue files %s, domain %s %r, own disk %s'
             % (left, disks(dom), domstate(dom), 'intact' if own_disk_intact() else 'damaged'))
    say('crash in the unrescue: ACTIVE, booted from its own disk (its marker), rescue files '
        'gone, the redelivered unrescue ignored')

    # 12. SIGKILL in the middle of the shelve offload of crash-1
    # (shelved_offload_time 0: at once), held once its guest is destroyed,
    # then in the middle of its unshelve, held once the guest runs again.
    glance = dict(service_type='image', interface='public')

    def image(image_id):
        r = sess.request('/v2/images/%s' % image_id, 'GET', endpoint_filter=glance,
                         raise_exc=False)
        return r.json() if r.status_code == 200 else None

    def host_of(server):
        return getattr(nova.servers.get(server.id), 'OS-EXT-SRV-ATTR:host')

    offset = log_size()
    nova.servers.shelve(s)
    uuid = wait('the offload held open by the hook', lambda: held_step('offload', offset), 120)
    if uuid != s.id or domstate(dom) != '':
        fail('held offload of %s: the domain is %r' % (uuid, domstate(dom)))
    kill9()
    say('sculpt-compute killed in the offload of crash-1 (guest gone, Nova has %s/%s)'
        % nova_states(s))
    offset = log_size()
    sculpt('start', pause='unshelve', extra=slow)
    wait('crash-1 SHELVED_OFFLOADED after the recovery',
         lambda: status(s) == 'SHELVED_OFFLOADED', 60)
    if 'recovered %s: interrupted offload finished' % s.id not in log_since(offset):
        fail('the recovery did not finish the offload of crash-1')
    if host_of(s) or placement('GET', '/allocations/%s' % s.id)['allocations']:
        fail('offloaded crash-1: host %r, allocations %s'
             % (host_of(s), placement('GET', '/allocations/%s' % s.id)['allocations']))
    r = sess.request('/v2/images?name=crash-1-shelved', 'GET', endpoint_filter=glance)
    found = r.json()['images']
    if len(found) != 1 or found[0]['status'] != 'active' or \
            not found[0].get('sculpt_predictor_state', '').startswith('z1:'):
        fail('the shelved image after the recovered offload: %s'
             % [{k: str(v)[:40] for k, v in f.items()} for f in found])
    img_id = found[0]['id']
    # the shelve the broker redelivers finds it done: the image is the
    # instance's shelved one now, kept
    wait('the redelivered shelve seen',
         lambda: 'shelve of %s: the instance is no longer shelving' % s.id in log_since(offset),
         30)
    if (image(img_id) or {}).get('status') != 'active':
        fail('the redelivered shelve left the shelved image %s' % image(img_id))
    say('crash in the offload: SHELVED_OFFLOADED, no host, no allocations, the shelved image '
        '%s active with the predictor state this host saved' % img_id)

    boots, _ = last_boot()
    offset = log_size()
    nova_client.Client('2.91', session=sess).servers.unshelve(s, host=host)  # to this host
    intent, uuid = wait('the unshelve held open by the hook', lambda: held('unshelve', offset),
                        120)
    if uuid != s.id:
        fail('the hook held the unshelve of %s, not crash-1' % uuid)
    kill9()
    say('sculpt-compute killed in the unshelve of crash-1 (its guest %r, Nova has %s/%s)'
        % ((domstate(dom),) + nova_states(s)))
    offset = log_size()
    sculpt('start', extra=slow)
    wait('crash-1 ACTIVE after the recovery', lambda: status(s) == 'ACTIVE', 60)
    if 'recovered %s: unshelve finished (its guest runs)' % s.id not in log_since(offset):
        fail('the recovery did not finish the unshelve of crash-1')
    wait('the shelved image deleted', lambda: (image(img_id) or {}).get('status') in
         (None, 'deleted'), 30)
    wait('the redelivered unshelve seen',
         lambda: 'unshelve of %s came again' % s.id in log_since(offset), 30)
    dom = domain(s)
    # the first GUEST-STAT comes after the disk's line
    wait('crash-1 booted from the shelved image\'s disk',
         lambda: last_boot()[0] > boots and 'GUEST-STAT' in last_boot()[1], 120)
    if 'GUEST-DISK marker=SCULPT-BASE-IMAGE' not in last_boot()[1] or host_of(s) != host or \
            domstate(dom) != 'running' or \
            not placement('GET', '/allocations/%s' % s.id)['allocations']:
        fail('after the crash in the unshelve: host %r, domain %s %r, console %r'
             % (host_of(s), dom, domstate(dom), last_boot()[1][:200]))
    say('crash in the unshelve: ACTIVE on %s, booted from the shelved disk (its marker), '
        'allocations back, the image deleted, the redelivered unshelve ignored' % host)

    # 8. allocations left in Placement: one of an instance Nova deleted
    # is released by the next pass over the provider's allocations (one
    # runs after each start), one of a consumer Nova does not know (a
    # build racing its creation, for all we can tell) is kept.
    held_by = placement('GET', '/allocations/%s' % s.id)
    if len(held_by['allocations']) != 1:
        fail('crash-1 allocations: %s' % held_by)
    for x in (s, s2):
        nova.servers.delete(x)
    wait('crash-1 and crash-2 deleted',
         lambda: not [x for x in nova.servers.list() if x.id in (s.id, s2.id)], 120)
    stray = str(uuid_mod.uuid4())
    for consumer in (s.id, stray):
        placement('PUT', '/allocations/%s' % consumer, {
            'allocations': {rp: {'resources': a['resources']}
                            for rp, a in held_by['allocations'].items()},
            'consumer_generation': None, 'project_id': held_by['project_id'],
            'user_id': held_by['user_id']})
    say('allocations put back for the deleted crash-1 and for a consumer Nova does not know')
    sculpt('stop', extra=slow)
    offset = log_size()
    sculpt('start', extra=slow)
    wait('the deleted instance\'s allocations released',
         lambda: not placement('GET', '/allocations/%s' % s.id)['allocations'], 30)
    wait('the pass over the allocations ended',
         lambda: 'of deleted instances released' in log_since(offset), 10)
    if not placement('GET', '/allocations/%s' % stray)['allocations']:
        fail('the allocations of a consumer Nova does not know were released')
    placement('DELETE', '/allocations/%s' % stray)
    say('allocations of the deleted instance released after the restart; the unknown '
        'consumer\'s kept')
    say('cleaned up')


if __name__ == '__main__':
    main()
