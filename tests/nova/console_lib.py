"""What the remote console tests share (vnc_console.py, serial_console.py):
the console URL from nova-api, a WebSocket client for the proxies, and
the compute RPC API as nova-api and the proxies call it."""
import base64
import os
import socket
import struct
import tempfile

from keystoneauth1 import session
from keystoneauth1.identity import v3

from nova import config, context, objects
from nova.compute import rpcapi as compute_rpcapi
from nova.conductor import rpcapi as conductor_rpcapi
from nova.objects import base as objects_base

TIMEOUT = 30


def remote_console(server, protocol, console_type):
    """POST /servers/ID/remote-consoles (microversion 2.6) as the CLI
    does for `openstack console url show`: the requests response."""
    auth = v3.Password(auth_url=os.environ['OS_AUTH_URL'], username=os.environ['OS_USERNAME'],
                       password=os.environ['OS_PASSWORD'],
                       project_name=os.environ['OS_PROJECT_NAME'],
                       user_domain_name='Default', project_domain_name='Default')
    sess = session.Session(auth=auth)
    return sess.post('%s/servers/%s/remote-consoles' % (os.environ['NOVA_API_URL'], server),
                     json={'remote_console': {'protocol': protocol, 'type': console_type}},
                     headers={'OpenStack-API-Version': 'compute 2.6'}, raise_exc=False)


def compute_rpc(prog, server):
    """(admin context, the server's Instance, ComputeAPI) over RabbitMQ."""
    conf = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
    conf.write('[DEFAULT]\ntransport_url = %s\n' % os.environ['RABBITMQ_URL'])
    conf.close()
    config.parse_args([prog, '--config-file', conf.name])
    os.unlink(conf.name)
    objects.register_all()
    objects_base.NovaObject.indirection_api = conductor_rpcapi.ConductorAPI()
    ctxt = context.get_admin_context()
    return ctxt, objects.Instance.get_by_uuid(ctxt, server), compute_rpcapi.ComputeAPI()


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

    def recv_any(self):
        """The bytes of the next data message (b'' once the server
        closed); socket.timeout when none came in the socket's timeout."""
        if self.buf:
            out, self.buf = self.buf, b''
            return out
        while not self.closed:
            op, payload = self._frame()
            if op == 8:
                self.closed = True
            elif op in (0, 1, 2):
                return payload
        return b''

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


def bad_token_refused(url):
    """Whether the proxy at `url` (a parsed console URL) closes a
    connection whose token nobody was given without sending a byte."""
    ws = WebSocket(url.hostname, url.port, '/?token=%s' % ('0' * 8 + '-0000-0000-0000-' + '0' * 12))
    try:
        ws.recv(1)
        return False
    except (EOFError, ConnectionError, socket.timeout):
        return True


def connect_info_ok(info, port, access_url):
    """Whether a get_*_console reply is Zed's connection info for `port`
    on loopback, with `access_url` % its token."""
    want = {'host': '127.0.0.1', 'port': port, 'internal_access_path': None}
    return sorted(info) == ['access_url', 'host', 'internal_access_path', 'port', 'token'] and \
        all(info[k] == v for k, v in want.items()) and \
        info['access_url'] == access_url % info['token']
