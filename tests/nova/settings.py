#!/usr/bin/python3
"""What the REST API changes reaches the running sculpt-compute, and what
the API answers is what real builds get (NAME: a sculpt.sh instance):

  1. previews, placement candidates and cost estimates answer in the
     daemon (its fleet history is handed to the API);
  2. prices changed with PUT /v1/config/cost reach the engine without a
     restart: a build after the change is placed at the band the new
     prices call for (the engine's admission record, the blueprint
     revision's band);
  3. an operator's custom blueprint for a class (POST /v1/blueprints) is
     what a real build of that class gets, as the preview said;
  4. the RPC latency histogram counts the builds; the API takes a
     Keystone token as well as its admin token;
  5. Placement's inventory follows admission: once guests are held, the
     VCPU allocation_ratio is the engine's (below the configured 16, at or
     above what is allocated), the daemon logged why, and a build Placement
     then accepts is admitted.

    settings.py RUN_DIR NAME
"""
import json
import os
import re
import sys
import urllib.error
import urllib.request

from phase import Phase, load_env, nova_admin

say, fail, wait = Phase('settings', poll=0.3).functions()


def main():
    run, name = sys.argv[1], sys.argv[2]
    env = {}
    for n in ('nova', name):
        env.update(load_env(os.path.join(run, 'env', n + '.env')))
    host = env['SCULPT_HOST']
    nova, sess = nova_admin(env)

    def api(method, path, body=None, token=None, status=200):
        req = urllib.request.Request(
            env['SCULPT_API_URL'] + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={'X-Auth-Token': token or env['SCULPT_API_TOKEN'],
                     'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                got, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            got, text = e.code, e.read()
        if got != status:
            fail('%s %s: %d, expected %d: %s' % (method, path, got, status, text[:300]))
        return json.loads(text) if text and got != 204 else None

    def build(server_name, flavor_id):
        s = nova.servers.create(server_name, env['SCULPT_IMAGE_ID'], flavor_id, nics='none',
                                availability_zone='nova:%s' % host)

        def active():
            x = nova.servers.get(s.id)
            if x.status == 'ERROR':
                fail('%s in ERROR: %s' % (server_name, getattr(x, 'fault', {})))
            return x.status == 'ACTIVE'
        wait('%s ACTIVE' % server_name, active, 120)
        return s

    def admission(uuid):
        d = api('GET', '/v1/instances/%s' % uuid)
        adm = [x for x in d['decisions'] if x['decision'] == 'admit']
        if not adm or not d['blueprint']:
            fail('instance %s has no admission record or blueprint: %s' % (uuid, d))
        return adm[0], d

    tiny, small = env['SCULPT_FLAVOR_ID'], env['SCULPT_FLAVOR_ALT_ID']
    project = sess.get_project_id()
    request = {'flavor': {'name': 'm1.tiny', 'vcpus': 1, 'memory_mb': 128},
               'image': env['SCULPT_IMAGE_ID'], 'project_id': project}

    # 1. the fleet reaches the API
    p = api('GET', '/v1/blueprints/preview?flavor=m1.tiny&vcpus=1&memory_mb=128')
    c = api('POST', '/v1/placement/candidates', request)
    e = api('POST', '/v1/cost/estimate', request)
    if p['source'] != 'predictor' or not c['placeable'] or e['static']['total'] <= 0:
        fail('preview %s, candidates %s, estimate %s' % (p['source'], c['placeable'], e))
    say('preview, candidates and cost estimate answer in the daemon')

    # 2. prices reach the engine: the band it allocates follows them (from
    # the default: the violation price derived from the SLO, p99)
    api('PUT', '/v1/config/cost', {'violation_factor': 0})
    servers = [build('settings-1', tiny)]
    before, _ = admission(servers[0].id)
    api('PUT', '/v1/config/cost', {'violation_factor': 1})
    try:
        servers.append(build('settings-2', tiny))
        after, detail = admission(servers[1].id)
    finally:
        api('PUT', '/v1/config/cost', {'violation_factor': 0})
    if abs(before['quantile'] - 0.99) > 1e-9 or abs(after['quantile'] - 0.5) > 1e-9 or \
            'band p50' not in after['text']:
        fail('the engine allocated p%g, then p%g (%s)' % (100 * before['quantile'],
                                                           100 * after['quantile'], after['text']))
    if abs(detail['blueprint']['band']['vcpu'] - 0.5) > 1e-9:
        fail('the blueprint revision records band %s' % detail['blueprint']['band'])
    say('violation_factor 0 -> 1 through the API: the next build is placed at p50, not p99')

    # 3. a custom blueprint for m1.small: the preview and a real build agree
    custom = api('POST', '/v1/blueprints', {
        'name': 'settings-small', 'match': {'flavor': 'm1.small'},
        'blueprint': {'step_s': 60, 'horizon_s': 600, 'confidence': 0.9,
                      'resources': {'vcpu': {'p50': 0.25, 'p90': 0.3, 'p99': 0.35},
                                    'mem_mib': {'p50': 150, 'p99': 200}}}}, status=201)
    try:
        p = api('GET', '/v1/blueprints/preview?flavor=m1.small&vcpus=1&memory_mb=256')
        if p['source'] != 'custom:settings-small':
            fail('preview of m1.small: %s' % p['source'])
        servers.append(build('settings-3', small))
        adm, d = admission(servers[2].id)
    finally:
        api('DELETE', '/v1/blueprints/%d' % custom['id'], status=204)
    eng = d['engine'] or {}
    # the blueprint's 0.35 vCPU is the plan; while the guest boots its
    # shape is the boot allowance above it, which the placement names
    plan = d['shape']['res']['vcpu']
    m = re.search(r"boot allowance [0-9.]+ vCPU over its plan's ([0-9.]+)", adm['text'])
    if m:
        plan = float(m.group(1))
    if 'settings-small' not in d['blueprint']['reason'] or \
            eng.get('model') != 'custom:settings-small' or \
            'custom:settings-small' not in adm['text'] or \
            not 0.2 < plan < 0.4:
        fail('the m1.small build did not get its custom blueprint: %s / %s / %s / %s' % (
            d['blueprint']['reason'], eng.get('model'), adm['text'], d['shape']['res']))
    say('custom blueprint `settings-small`: previewed and given to the real m1.small build '
        '(%.2f vCPU%s)' % (plan, ', above it while it boots' if m else ''))

    # 4. metrics and a Keystone token
    with urllib.request.urlopen(urllib.request.Request(
            env['SCULPT_API_URL'] + '/metrics',
            headers={'X-Auth-Token': env['SCULPT_API_TOKEN']}), timeout=30) as r:
        metrics = r.read().decode()
    line = [x for x in metrics.splitlines() if x.startswith(
        'sculpt_rpc_duration_seconds_count{method="build_and_run_instance",outcome="ok"}')]
    if not line or float(line[0].split()[-1]) < 3:
        fail('sculpt_rpc_duration_seconds does not count the builds: %s' % line)
    api('GET', '/v1/host', token=sess.get_token())
    api('GET', '/v1/host', token='not-a-token', status=401)
    # a change made with it is in the event log under its user and project
    # ids (names can be reused), each with its name
    api('PUT', '/v1/config/cost', {'violation_factor': 1}, token=sess.get_token())
    ev = api('GET', '/v1/events?source=api&action=config.set&limit=1')['events']
    access = sess.auth.get_access(sess)
    who = '%s (%s) in project %s (%s)' % (access.user_id, access.username, access.project_id,
                                          access.project_name)
    if not ev or ev[0]['code'] != 'OK' or \
            'PUT /v1/config/cost by %s: [cost] violation_factor ' % who not in ev[0]['message'] \
            or not ev[0]['message'].endswith(' -> 1'):
        fail('the change made with a Keystone token, in the event log: %s (expected by %s)' % (
            ev, who))
    say('RPC latency histogram counts the builds; a Keystone token is accepted, and a change '
        'made with it is in the event log under its user and project ids')

    # 5. Placement's inventory follows admission
    def placement(path):
        r = sess.get(path, endpoint_filter={'service_type': 'placement'},
                     headers={'OpenStack-API-Version': 'placement 1.14'}, raise_exc=False)
        if r.status_code != 200:
            fail('GET %s: %d %s' % (path, r.status_code, r.text[:300]))
        return r.json()

    rps = placement('/resource_providers?name=%s' % host)['resource_providers']
    if len(rps) != 1:
        fail('resource provider %s: %s' % (host, rps))
    rp = rps[0]['uuid']
    seen = {}

    def vcpu_follows():
        inv = placement('/resource_providers/%s/inventories' % rp)['inventories']['VCPU']
        seen['inv'] = inv
        return inv if inv['allocation_ratio'] < 16.0 else None
    inv = wait(lambda: 'VCPU inventory still at the configured ratio: %s' % seen.get('inv'),
               vcpu_follows, 90)
    used = placement('/resource_providers/%s/usages' % rp)['usages'].get('VCPU', 0)
    usable = inv['total'] - inv['reserved']
    if used > usable * inv['allocation_ratio'] + 1e-6 or inv['max_unit'] < 1:
        fail('VCPU inventory %s below the %d allocated' % (inv, used))
    # GET /v1/host's inventory_reported is Placement's copy (the engine's
    # own `inventory` may have moved on within the hysteresis)
    fields = ('total', 'reserved', 'min_unit', 'max_unit', 'step_size', 'allocation_ratio')

    def same_as_placement():
        got = placement('/resource_providers/%s/inventories' % rp)['inventories']
        rep = api('GET', '/v1/host').get('inventory_reported')
        seen['rep'] = (rep, got)
        if not rep:
            return None
        for rc in ('VCPU', 'MEMORY_MB', 'DISK_GB'):
            a, b = rep['inventory'][rc], got[rc]
            if any(abs(a[k] - b[k]) > 1e-4 * max(1.0, abs(b[k])) for k in fields):
                return None
        return rep
    rep = wait(lambda: 'GET /v1/host inventory_reported is not Placement\'s copy: %s'
               % (seen.get('rep'),), same_as_placement, 60)
    with open(os.path.join(run, name, 'sculpt-compute.log')) as f:
        why = [x for x in f if 'follows admission' in x and 'VCPU: allocation_ratio' in x]
    if not why:
        fail('sculpt-compute did not log why the VCPU inventory changed')
    servers.append(build('settings-4', tiny))
    admission(servers[-1].id)
    say('Placement VCPU ratio %.4g (max_unit %d, %d of %d allocated; %s); a build it accepts '
        'is admitted; GET /v1/host shows Placement\'s copy written at %s'
        % (inv['allocation_ratio'], inv['max_unit'], used, usable,
           why[-1].split('follows admission: ')[-1].strip()[:120], rep['time']))

    for s in servers:
        nova.servers.delete(s)
    ids = {s.id for s in servers}
    wait('servers deleted', lambda: not [x for x in nova.servers.list() if x.id in ids], 120)
    say('cleaned up')


if __name__ == '__main__':
    main()
