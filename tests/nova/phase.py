"""What the Nova harness's phase scripts (tests/nova/*.py, run by
tests/integration/nova.sh) share: progress lines, failing, the stack's
env files (contrib/stack/*.sh write RUN_DIR/env/NAME.env) and waiting for
a condition.

    from phase import Phase, stack_env
    say, fail, wait = Phase('crash').functions()
"""
import json
import os
import sys
import time
import urllib.request

from keystoneauth1 import session
from keystoneauth1.identity import v3
from novaclient import client as nova_client


class Phase:
    def __init__(self, name, poll=0.5):
        self.name = name
        self.poll = poll
        self.t0 = time.time()

    def say(self, msg):
        print('%s [%ds]: %s' % (self.name, time.time() - self.t0, msg), flush=True)

    def fail(self, msg):
        print('%s FAILED: %s' % (self.name, msg), file=sys.stderr, flush=True)
        sys.exit(1)

    def wait(self, what, cond, timeout):
        """cond()'s first true value, polled until timeout seconds pass.
        what may be a function: called at the timeout, it can tell what
        was last seen."""
        end = time.time() + timeout
        while time.time() < end:
            v = cond()
            if v:
                return v
            time.sleep(self.poll)
        self.fail('%s: not within %d s' % (what() if callable(what) else what, timeout))

    def delete_server(self, nova, server, name):
        """server deleted, waited for (60 s), in a phase's clean-up: an
        error from Nova is told, the phase's own failure came first."""
        try:
            nova.servers.delete(server)
            self.wait('%s deleted' % name,
                      lambda: not [x for x in nova.servers.list() if x.id == server.id], 60)
        except Exception as e:
            print('%s: %s not deleted: %s' % (self.name, name, e), file=sys.stderr)

    def functions(self):
        return self.say, self.fail, self.wait


def load_env(path):
    """A KEY=value file as a dict."""
    env = {}
    with open(path) as f:
        for line in f:
            if '=' in line:
                k, v = line.rstrip('\n').split('=', 1)
                env[k] = v
    return env


def stack_env(run, names):
    """The env files RUN_DIR/env/NAME.env the stack scripts wrote for each
    of names, merged in that order (a later file's keys win) into one dict.
    run may be any stack's run folder (e.g. a host's own PostgreSQL's)."""
    env = {}
    for n in names:
        env.update(load_env(os.path.join(run, 'env', n + '.env')))
    return env


def log_size(path):
    return os.path.getsize(path)


def log_since(path, offset):
    """What was written to the log at path from offset on."""
    with open(path, errors='replace') as f:
        f.seek(offset)
        return f.read()


def nova_admin(env):
    """(novaclient at API 2.37, its Keystone session) as the cloud's admin,
    from nova.env's OS_AUTH_URL and OS_PASSWORD."""
    sess = session.Session(auth=v3.Password(
        auth_url=env['OS_AUTH_URL'], username='admin', password=env['OS_PASSWORD'],
        project_name='admin', user_domain_name='Default', project_domain_name='Default'))
    return nova_client.Client('2.37', session=sess), sess


def server_status(nova, server, fail):
    """The server's status once no task is under way (None while one is);
    fails on ERROR with Nova's fault."""
    s = nova.servers.get(server.id)
    if s.status == 'ERROR':
        fail('%s in ERROR: %s' % (s.name, getattr(s, 'fault', {})))
    return s.status if getattr(s, 'OS-EXT-STS:task_state') is None else None


def placement_get(sess, path, fail):
    """GET path from Placement as sess's user (microversion 1.28): its JSON
    answer; fails on an HTTP error."""
    r = sess.request(path, 'GET', raise_exc=False,
                     endpoint_filter={'service_type': 'placement', 'interface': 'public'},
                     headers={'OpenStack-API-Version': 'placement 1.28'})
    if r.status_code >= 300:
        fail('Placement GET %s: %d %s' % (path, r.status_code, r.text))
    return r.json()


def sculpt_domain(env, uuid):
    """The libvirt domain of instance uuid as sculpt records it (GET
    /v1/instances/{uuid}, `domain`), from env's SCULPT_API_URL and
    SCULPT_API_TOKEN; '' when none is recorded.  What virsh takes: Nova's
    instance_name for a cold build, but a pre-sculpted pool member that
    served the build keeps its own name (sculpt-pool-...) while it runs and
    bears the instance_name only from the first time it is shut off."""
    req = urllib.request.Request('%s/v1/instances/%s' % (env['SCULPT_API_URL'], uuid),
                                 headers={'X-Auth-Token': env['SCULPT_API_TOKEN']})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read()).get('domain') or ''


def sculpt_api(env, method, path, body=None):
    """A call to the REST API of the sculpt-compute of env (SCULPT_API_URL,
    SCULPT_API_TOKEN): its JSON answer (None when empty); an HTTP error
    raises urllib.error.HTTPError."""
    req = urllib.request.Request(
        env['SCULPT_API_URL'] + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={'X-Auth-Token': env['SCULPT_API_TOKEN'], 'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def sculpt_has(env, uuid):
    """Whether GET /v1/instances on the sculpt-compute of env
    (SCULPT_API_URL, SCULPT_API_TOKEN) lists instance uuid."""
    req = urllib.request.Request('%s/v1/instances' % env['SCULPT_API_URL'],
                                 headers={'X-Auth-Token': env['SCULPT_API_TOKEN']})
    with urllib.request.urlopen(req, timeout=30) as r:
        rows = json.loads(r.read())['instances']
    return any(row.get('uuid') == uuid for row in rows)
