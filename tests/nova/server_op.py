"""Server operations for the Nova phases' shell scripts, each with its wait
in one process that polls Nova every half second: an openstack CLI call
costs 2 s of a core on the 2-core test machine, and `openstack server
delete --wait` sleeps 5 s before it looks again.  Credentials: the OS_*
variables of nova.env.

    server_op.py create NAME FLAVOR IMAGE ZONE [--user-data FILE]
                 [--config-drive] [--property K=V]... [--wait STATUS SECONDS]
        prints the new server's id (once it shows STATUS with no task
        under way, with --wait)
    server_op.py stop|start NAME SECONDS
        the action, then until SHUTOFF, resp. ACTIVE, with no task
    server_op.py delete NAME... [--timeout SECONDS]
        deletes each, then until Nova knows none of them (120 s)
    server_op.py show NAME FIELD...
        each field of the server (e.g. OS-EXT-STS:power_state), a line each
    server_op.py console NAME
        the server's console log
    server_op.py password NAME PASSWORD
        the changePassword action (a call through to the host); prints
        `http=CODE task=TASK_STATE event=RESULT` (202 on success; the
        task state once the API answered; the compute_set_admin_password
        event's result in the newest changePassword action) and, on a
        refusal, the API's message on a second line
    server_op.py snapshot NAME IMAGE_NAME SECONDS
        the createImage action, then until the server has no task and its
        image is active or gone; prints `image=STATUS|gone status=STATUS
        task=TASK event=RESULT` (the compute_snapshot_instance event's
        result in the newest createImage action) and the image's id on a
        second line
    server_op.py placement HOST
        JSON: the resource provider named HOST (`uuid`), its VCPU
        inventory (`inventory`) and usages (`usages`, by resource class)
A server in ERROR fails at once with its fault (exit 1, on stderr).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from novaclient import exceptions as nova_exc  # noqa: E402

from phase import nova_admin  # noqa: E402

POLL = 0.5


def die(msg):
    print('server_op: %s' % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def find(nova, name):
    """The server named exactly name (Nova's name filter is a regex)."""
    hits = [s for s in nova.servers.list(search_opts={'name': name}) if s.name == name]
    if len(hits) != 1:
        die('%d servers named %s' % (len(hits), name))
    return hits[0]


def wait_status(nova, server_id, name, status, seconds):
    end = time.time() + seconds
    seen = None
    while True:
        s = nova.servers.get(server_id)
        task = getattr(s, 'OS-EXT-STS:task_state', None)
        seen = '%s (task %s)' % (s.status, task)
        if s.status == 'ERROR':
            die('%s went to ERROR: %s' % (name, getattr(s, 'fault', {})))
        if s.status == status and task is None:
            return
        if time.time() >= end:
            die('%s not %s after %d s (now: %s)' % (name, status, seconds, seen))
        time.sleep(POLL)


def gone(nova, server_id, name):
    try:
        s = nova.servers.get(server_id)
    except nova_exc.NotFound:
        return True
    if s.status == 'ERROR':
        die('%s went to ERROR while deleted: %s' % (name, getattr(s, 'fault', {})))
    return False


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='op', required=True)
    c = sub.add_parser('create')
    c.add_argument('name')
    c.add_argument('flavor')
    c.add_argument('image')
    c.add_argument('zone')
    c.add_argument('--user-data')
    c.add_argument('--config-drive', action='store_true')
    c.add_argument('--property', action='append', default=[])
    c.add_argument('--wait', nargs=2, metavar=('STATUS', 'SECONDS'))
    for op in ('stop', 'start'):
        a = sub.add_parser(op)
        a.add_argument('name')
        a.add_argument('seconds', type=int)
    d = sub.add_parser('delete')
    d.add_argument('names', nargs='+')
    d.add_argument('--timeout', type=int, default=120)
    sh = sub.add_parser('show')
    sh.add_argument('name')
    sh.add_argument('fields', nargs='+')
    co = sub.add_parser('console')
    co.add_argument('name')
    pw = sub.add_parser('password')
    pw.add_argument('name')
    pw.add_argument('password')
    sn = sub.add_parser('snapshot')
    sn.add_argument('name')
    sn.add_argument('image_name')
    sn.add_argument('seconds', type=int)
    pl = sub.add_parser('placement')
    pl.add_argument('host')
    args = p.parse_args()

    nova, sess = nova_admin(os.environ)
    if args.op == 'show':
        s = find(nova, args.name)
        for f in args.fields:
            print(getattr(s, f))
        return
    if args.op == 'console':
        print(find(nova, args.name).get_console_output())
        return
    if args.op == 'password':
        s = find(nova, args.name)
        code, msg = 202, ''
        try:
            nova.servers.change_password(s.id, args.password)
        except nova_exc.ClientException as e:
            code, msg = e.code, e.message
        task = getattr(nova.servers.get(s.id), 'OS-EXT-STS:task_state', None)
        acts = [a for a in nova.instance_action.list(s.id) if a.action == 'changePassword']
        acts.sort(key=lambda a: a.start_time)
        events = nova.instance_action.get(s.id, acts[-1].request_id).events if acts else []
        result = [e['result'] for e in events if e['event'] == 'compute_set_admin_password']
        print('http=%s task=%s event=%s' % (code, task, result[0] if result else None))
        if msg:
            print(msg)
        return
    if args.op == 'snapshot':
        s = find(nova, args.name)
        image_id = nova.servers.create_image(s.id, args.image_name)
        image_id = image_id.get('image_id') if isinstance(image_id, dict) else image_id
        ep = {'service_type': 'image', 'interface': 'public'}
        end = time.time() + args.seconds
        while True:
            r = sess.get('/v2/images/%s' % image_id, endpoint_filter=ep, raise_exc=False)
            image = 'gone' if r.status_code == 404 else r.json().get('status')
            srv = nova.servers.get(s.id)
            task = getattr(srv, 'OS-EXT-STS:task_state', None)
            if task is None and image in ('active', 'gone', 'deleted'):
                break
            if time.time() >= end:
                die('%s: image %s, task %s after %d s' % (args.name, image, task, args.seconds))
            time.sleep(POLL)
        acts = [a for a in nova.instance_action.list(s.id) if a.action == 'createImage']
        acts.sort(key=lambda a: a.start_time)
        events = nova.instance_action.get(s.id, acts[-1].request_id).events if acts else []
        result = [e['result'] for e in events if e['event'] == 'compute_snapshot_instance']
        print('image=%s status=%s task=%s event=%s' % (image, srv.status, task,
                                                       result[0] if result else None))
        print(image_id)
        return
    if args.op == 'placement':
        ep = {'service_type': 'placement', 'interface': 'public'}
        hdr = {'OpenStack-API-Version': 'placement 1.17'}
        rps = sess.get('/resource_providers?name=%s' % args.host, endpoint_filter=ep,
                       headers=hdr).json()['resource_providers']
        if len(rps) != 1:
            die('%d resource providers named %s' % (len(rps), args.host))
        rp = rps[0]['uuid']
        inv = sess.get('/resource_providers/%s/inventories/VCPU' % rp, endpoint_filter=ep,
                       headers=hdr).json()
        usages = sess.get('/resource_providers/%s/usages' % rp, endpoint_filter=ep,
                          headers=hdr).json()['usages']
        print(json.dumps({'uuid': rp, 'inventory': inv, 'usages': usages}))
        return
    if args.op == 'create':
        userdata = None
        if args.user_data:
            with open(args.user_data) as f:
                userdata = f.read()
        meta = dict(kv.split('=', 1) for kv in args.property) or None
        s = nova.servers.create(args.name, args.image, nova.flavors.find(name=args.flavor),
                                nics='none', availability_zone=args.zone, userdata=userdata,
                                config_drive=args.config_drive or None, meta=meta)
        if args.wait:
            wait_status(nova, s.id, args.name, args.wait[0], int(args.wait[1]))
        print(s.id)
    elif args.op in ('stop', 'start'):
        s = find(nova, args.name)
        getattr(nova.servers, args.op)(s.id)
        wait_status(nova, s.id, args.name, 'SHUTOFF' if args.op == 'stop' else 'ACTIVE',
                    args.seconds)
    else:
        servers = [(find(nova, n).id, n) for n in args.names]
        for sid, _ in servers:
            nova.servers.delete(sid)
        end = time.time() + args.timeout
        left = servers
        while left:
            left = [(sid, n) for sid, n in left if not gone(nova, sid, n)]
            if not left:
                break
            if time.time() >= end:
                die('%s not deleted after %d s' % (' '.join(n for _, n in left), args.timeout))
            time.sleep(POLL)


if __name__ == '__main__':
    main()
