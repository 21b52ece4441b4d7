#!/usr/bin/python3
"""A running guest's VNC console end to end: the console URL from
nova-api (POST /servers/ID/remote-consoles, as `openstack console url show
--novnc`), then nova-novncproxy with its token -- which asks the compute
(validate_console_port) before it connects -- and through it QEMU's VNC
server: the RFB handshake up to ServerInit, whose desktop name is QEMU's
for the domain.  A bad token is refused; get_vnc_console's reply and
validate_console_port are checked at the RPC too.

    vnc_console.py --host HOST --server UUID --domain NAME --port PORT
        (OS_*, NOVA_API_URL, NOVA_NOVNCPROXY_URL, RABBITMQ_URL in the
        environment; PORT: the live domain's VNC port, as virsh reads it)
"""
import eventlet
eventlet.monkey_patch()

import argparse  # noqa: E402
import base64  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from urllib.parse import parse_qs, urlparse  # noqa: E402

from keystoneauth1 import session  # noqa: E402
from keystoneauth1.identity import v3  # noqa: E402

from nova import config, context, exception, objects  # noqa: E402
from nova.compute import rpcapi as compute_rpcapi  # noqa: E402
from nova.conductor import rpcapi as conductor_rpcapi  # noqa: E402
from nova.objects import base as objects_base  # noqa: E402

TIMEOUT = 30


def fail(what):
    sys.exit('e2e FAILED: VNC console: %s' % what)


class WebSocket:
    """Just enough of RFC 6455 for a client of binary messages."""

    def __init__(self, host, port, path):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(('GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n'
                           'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                           'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n'
                           % (path, host, port, key)).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise EOFError('closed during the handshake: %r' % head)
            head += chunk
        self.status = head.split(b'\r\n', 1)[0].decode()
        self.buf = b''
        self.closed = False

    def send(self, data):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else
                               bytes([0x80 | 126]) + struct.pack('!H', n))
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        out = b''
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError('connection closed')
            out += chunk
        return out

    def _frame(self):
        b0, b1 = self._exact(2)
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack('!H', self._exact(2))[0]
        elif n == 127:
            n = struct.unpack('!Q', self._exact(8))[0]
        payload = self._exact(n)  # a server's frames are not masked
        return b0 & 0x0f, payload

    def recv(self, n):
        """n bytes of the message stream; EOFError once the server closed."""
        while len(self.buf) < n:
            if self.closed:
                raise EOFError('closed by the proxy after %r' % self.buf)
            op, payload = self._frame()
            if op == 8:
                self.closed = True
            elif op in (0, 1, 2):
                self.buf += payload
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def rfb_server_init(ws):
    """RFB 3.8 as a noVNC client speaks it, up to the server's name."""
    version = ws.recv(12)
    if version != b'RFB 003.008\n':
        fail('the proxy sent %r, not RFB 003.008' % version)
    ws.send(version)
    count = ws.recv(1)[0]
    types = ws.recv(count)
    if 1 not in types:  # None: the proxy keeps the server's security to itself
        fail('security types %r offered' % types)
    ws.send(b'\x01')
    result = struct.unpack('!I', ws.recv(4))[0]
    if result != 0:
        fail('security result %d' % result)
    ws.send(b'\x01')  # ClientInit: shared
    width, height = struct.unpack('!HH', ws.recv(4))
    ws.recv(16)  # pixel format
    name = ws.recv(struct.unpack('!I', ws.recv(4))[0]).decode()
    return width, height, name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', required=True)
    ap.add_argument('--server', required=True)
    ap.add_argument('--domain', required=True)
    ap.add_argument('--port', required=True)
    a = ap.parse_args()

    # ---- the URL from nova-api, as the CLI and Horizon ask for it
    auth = v3.Password(auth_url=os.environ['OS_AUTH_URL'], username=os.environ['OS_USERNAME'],
                       password=os.environ['OS_PASSWORD'],
                       project_name=os.environ['OS_PROJECT_NAME'],
                       user_domain_name='Default', project_domain_name='Default')
    sess = session.Session(auth=auth)
    r = sess.post('%s/servers/%s/remote-consoles' % (os.environ['NOVA_API_URL'], a.server),
                  json={'remote_console': {'protocol': 'vnc', 'type': 'novnc'}},
                  headers={'OpenStack-API-Version': 'compute 2.6'}, raise_exc=False)
    if r.status_code != 200:
        fail('remote-consoles answered %d: %s' % (r.status_code, r.text))
    rc = r.json()['remote_console']
    base = os.environ['NOVA_NOVNCPROXY_URL']
    url = urlparse(rc['url'])
    if rc['protocol'] != 'vnc' or rc['type'] != 'novnc' or not rc['url'].startswith(base + '?'):
        fail('remote-consoles answered %r' % rc)
    # noVNC connects to the page's host with the `path` parameter
    path = parse_qs(url.query)['path'][0]
    ws = WebSocket(url.hostname, url.port, '/' + path)
    if ' 101 ' not in ws.status + ' ':
        fail('nova-novncproxy answered %r' % ws.status)
    width, height, name = rfb_server_init(ws)
    # (QEMU names its desktop after -name guest=, which libvirt sets)
    if name != 'QEMU (%s)' % a.domain:
        fail('the VNC server is %r, not the domain %s' % (name, a.domain))
    print('e2e: VNC console: %s -> nova-novncproxy -> %r (RFB 003.008, %dx%d)'
          % (rc['url'], name, width, height))

    # ---- a token nobody was given: the proxy closes without a byte of RFB
    ws = WebSocket(url.hostname, url.port, '/?token=%s' % ('0' * 8 + '-0000-0000-0000-' + '0' * 12))
    try:
        got = ws.recv(1)
        fail('a bad token got %r from the proxy' % got)
    except (EOFError, ConnectionError, socket.timeout):
        pass
    print('e2e: VNC console: a bad token is refused')

    # ---- the RPC: the reply Zed's manager gives, the port check
    conf = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
    conf.write('[DEFAULT]\ntransport_url = %s\n' % os.environ['RABBITMQ_URL'])
    conf.close()
    config.parse_args(['vnc_console', '--config-file', conf.name])
    os.unlink(conf.name)
    objects.register_all()
    objects_base.NovaObject.indirection_api = conductor_rpcapi.ConductorAPI()
    ctxt = context.get_admin_context()
    inst = objects.Instance.get_by_uuid(ctxt, a.server)
    api = compute_rpcapi.ComputeAPI()
    info = api.get_vnc_console(ctxt, inst, 'novnc')
    want = {'host': '127.0.0.1', 'port': a.port, 'internal_access_path': None}
    if sorted(info) != ['access_url', 'host', 'internal_access_path', 'port', 'token'] or \
            any(info[k] != v for k, v in want.items()) or \
            info['access_url'] != '%s?path=%%3Ftoken%%3D%s' % (base, info['token']):
        fail('get_vnc_console answered %r' % info)
    try:
        api.get_vnc_console(ctxt, inst, 'xvpvnc')
        fail('get_vnc_console of type xvpvnc answered')
    except exception.ConsoleTypeInvalid:
        pass
    if api.validate_console_port(ctxt, inst, a.port, 'novnc') is not True or \
            api.validate_console_port(ctxt, inst, str(int(a.port) + 1), 'novnc') is not False:
        fail('validate_console_port does not tell port %s from another' % a.port)
    print('e2e: VNC console: get_vnc_console %s:%s, a new token; validate_console_port; '
          'xvpvnc -> ConsoleTypeInvalid' % (info['host'], info['port']))


main()
