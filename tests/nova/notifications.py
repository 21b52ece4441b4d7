#!/usr/bin/python3
"""sculpt-compute's legacy notifications, read as a consumer reads them:
oslo.messaging's notification listener (get_notification_listener) on the
stack's RabbitMQ, exchange `nova`, topic `notifications`.

    notifications.py listen OUT_FILE      (RABBITMQ_URL in the environment)
        writes one JSON line per notification received, in the order they
        came; runs until killed (SIGTERM)
    notifications.py check OUT_FILE --server UUID --host HOST --events "A B ..."
        [--field event:key=value ...] [--wait SECONDS]
        --image IMAGE [--image2 IMAGE2]
        waits until the server's notifications (compute.instance.* with
        payload instance_id UUID) number as many as --events, then checks
        they are exactly those, in that order, with oslo's envelope fields
        and the key payload fields (image_ref_url: IMAGE's, IMAGE2's from
        rebuild.start on); each --field adds one exact check

Every check prints one line; the first failure exits 1.
"""
import json
import os
import re
import signal
import sys
import tempfile
import time

UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
# str(timeutils.utcnow()): the fraction is left out when it is zero
STAMP_RE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$')
CREATED_RE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$')
STRTIME_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$')


def listen(out):
    import oslo_messaging as messaging
    from oslo_config import cfg

    conf = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
    # one dispatch thread: lines are written in the order messages came
    conf.write('[DEFAULT]\ntransport_url = %s\nexecutor_thread_pool_size = 1\n'
               % os.environ['RABBITMQ_URL'])
    conf.close()
    cfg.CONF(['--config-file', conf.name], project='notifications-test')
    transport = messaging.get_notification_transport(cfg.CONF)
    f = open(out, 'a')

    class Endpoint(object):
        def _record(self, priority, ctxt, publisher_id, event_type, payload, metadata):
            f.write(json.dumps({'priority': priority, 'publisher_id': publisher_id,
                                'event_type': event_type, 'payload': payload,
                                'metadata': metadata, 'ctxt': ctxt}) + '\n')
            f.flush()
            return messaging.NotificationResult.HANDLED

        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            return self._record('INFO', ctxt, publisher_id, event_type, payload, metadata)

        def error(self, ctxt, publisher_id, event_type, payload, metadata):
            return self._record('ERROR', ctxt, publisher_id, event_type, payload, metadata)

    targets = [messaging.Target(topic='notifications', exchange='nova')]
    listener = messaging.get_notification_listener(transport, targets, [Endpoint()],
                                                   executor='threading')
    done = []
    signal.signal(signal.SIGTERM, lambda *a: done.append(1))
    listener.start()
    # ready: the queue is declared and consumed
    open(out + '.ready', 'w').close()
    while not done:
        time.sleep(0.2)
    listener.stop()
    listener.wait()
    f.close()


checks = 0


def ok(what):
    global checks
    checks += 1
    print('ok %d - notifications: %s' % (checks, what), flush=True)


def fail(what, n=None):
    print('not ok - notifications: %s' % what, flush=True)
    if n is not None:
        print('# the notification: %s' % json.dumps(n)[:3000], flush=True)
    sys.exit(1)


def server_events(path, server):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if not line.endswith('\n'):
                    break  # being written
                n = json.loads(line)
                p = n.get('payload') or {}
                if n['event_type'].startswith('compute.instance.') and \
                        p.get('instance_id') == server:
                    out.append(n)
    except FileNotFoundError:
        pass
    return out


def check(a):
    want = a.events.split()
    end = time.time() + a.wait
    got = server_events(a.out, a.server)
    while len(got) < len(want) and time.time() < end:
        time.sleep(0.5)
        got = server_events(a.out, a.server)
    types = [n['event_type'][len('compute.instance.'):] for n in got]
    if types != want:
        fail('server %s: events %s, expected %s' % (a.server, ' '.join(types), ' '.join(want)))
    ok('%d events for %s in order: %s' % (len(types), a.server, ' '.join(types)))

    last = ''
    image = a.image
    for n, t in zip(got, types):
        if t == 'rebuild.start' and a.image2:
            image = a.image2  # the instance's image from here on
        md, p = n['metadata'], n['payload']
        what = '%s (%s)' % (t, md.get('message_id'))
        if n['publisher_id'] != 'compute.%s' % a.host:
            fail('%s: publisher_id %r' % (what, n['publisher_id']), n)
        prio = 'ERROR' if t.endswith('error') else 'INFO'
        if n['priority'] != prio:
            fail('%s: priority %s, expected %s' % (what, n['priority'], prio))
        if not UUID_RE.match(md.get('message_id') or ''):
            fail('%s: message_id %r is not a uuid' % (what, md.get('message_id')))
        if not STAMP_RE.match(md.get('timestamp') or ''):
            fail('%s: timestamp %r is not str(utcnow())' % (what, md.get('timestamp')))
        if md['timestamp'] < last:
            fail('%s: timestamp %s before the previous one %s' % (what, md['timestamp'], last))
        last = md['timestamp']
        c = n['ctxt']
        if c.get('auth_token') is not None or c.get('service_catalog'):
            fail('%s: the context carries secrets: %r' % (what, c))
        if not (c.get('request_id') or '').startswith('req-'):
            fail('%s: context request_id %r' % (what, c.get('request_id')))
        for k in ('tenant_id', 'user_id', 'display_name', 'instance_type', 'instance_flavor_id',
                  'memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb', 'disk_gb', 'host', 'node',
                  'availability_zone', 'created_at', 'launched_at', 'terminated_at',
                  'deleted_at', 'state', 'state_description', 'image_ref_url', 'image_meta',
                  'metadata', 'hostname', 'reservation_id', 'progress'):
            if k not in p:
                fail('%s: payload without %s: %s' % (what, k, sorted(p)), n)
        # create.start comes before the claim gives the instance its host
        # (as a real nova-compute's does)
        where = None if t == 'create.start' else a.host
        if p['host'] != where or p['node'] != where:
            fail('%s: host %r node %r, expected %r' % (what, p['host'], p['node'], where), n)
        if p['disk_gb'] != p['root_gb'] + p['ephemeral_gb'] or p['memory_mb'] <= 0 or \
                p['vcpus'] <= 0:
            fail('%s: capacity %r' % (what, {k: p[k] for k in ('memory_mb', 'vcpus',
                                                               'root_gb', 'ephemeral_gb',
                                                               'disk_gb')}), n)
        if not CREATED_RE.match(p['created_at']):
            fail('%s: created_at %r is not str(datetime)' % (what, p['created_at']))
        for k in ('launched_at', 'terminated_at', 'deleted_at'):
            if p[k] and not STRTIME_RE.match(p[k]):
                fail('%s: %s %r is not utils.strtime' % (what, k, p[k]))
        if t == 'exists':
            # the current audit period: this month's (Zed's default unit)
            if p.get('audit_period_beginning') != p.get('audit_period_ending', '')[:8] + \
                    '01 00:00:00' or not STAMP_RE.match(p['audit_period_ending']):
                fail('%s: audit period %r to %r' % (what, p.get('audit_period_beginning'),
                                                    p.get('audit_period_ending')))
        if not p['image_ref_url'].endswith('/images/%s' % image):
            fail('%s: image_ref_url %r, expected .../images/%s' % (what, p['image_ref_url'],
                                                                   image))
    ok('publisher compute.%s, priorities, uuids, timestamps in order, sanitized contexts, '
       'payload keys and formats' % a.host)

    # each --field EVENT:KEY=VALUE (VALUE as JSON when it parses) holds on
    # the first notification of that event
    for spec in a.field:
        ev, kv = spec.split(':', 1)
        k, v = kv.split('=', 1)
        try:
            v = json.loads(v)
        except ValueError:
            pass
        n = got[types.index(ev)]
        if n['payload'].get(k) != v:
            fail('%s: %s is %r, expected %r' % (ev, k, n['payload'].get(k), v), n)
    ok('%d payload values as expected (%s)' % (len(a.field), ', '.join(a.field)))


def main():
    import argparse
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('listen')
    p.add_argument('out')
    p = sub.add_parser('check')
    p.add_argument('out')
    p.add_argument('--server', required=True)
    p.add_argument('--host', required=True)
    p.add_argument('--image', required=True, help="the server's image")
    p.add_argument('--image2', help='the image it is rebuilt onto')
    p.add_argument('--events', required=True)
    p.add_argument('--field', action='append', default=[])
    p.add_argument('--wait', type=float, default=60)
    a = ap.parse_args()
    if a.cmd == 'listen':
        listen(a.out)
    else:
        check(a)


if __name__ == '__main__':
    main()
