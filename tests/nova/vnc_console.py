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
import os  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
from urllib.parse import parse_qs, urlparse  # noqa: E402

from nova import exception  # noqa: E402

import console_lib  # noqa: E402


def fail(what):
    sys.exit('e2e FAILED: VNC console: %s' % what)


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
    r = console_lib.remote_console(a.server, 'vnc', 'novnc')
    if r.status_code != 200:
        fail('remote-consoles answered %d: %s' % (r.status_code, r.text))
    rc = r.json()['remote_console']
    base = os.environ['NOVA_NOVNCPROXY_URL']
    url = urlparse(rc['url'])
    if rc['protocol'] != 'vnc' or rc['type'] != 'novnc' or not rc['url'].startswith(base + '?'):
        fail('remote-consoles answered %r' % rc)
    # noVNC connects to the page's host with the `path` parameter
    path = parse_qs(url.query)['path'][0]
    ws = console_lib.WebSocket(url.hostname, url.port, '/' + path)
    if ' 101 ' not in ws.status + ' ':
        fail('nova-novncproxy answered %r' % ws.status)
    width, height, name = rfb_server_init(ws)
    # (QEMU names its desktop after -name guest=, which libvirt sets)
    if name != 'QEMU (%s)' % a.domain:
        fail('the VNC server is %r, not the domain %s' % (name, a.domain))
    print('e2e: VNC console: %s -> nova-novncproxy -> %r (RFB 003.008, %dx%d)'
          % (rc['url'], name, width, height))

    # ---- a token nobody was given: the proxy closes without a byte of RFB
    if not console_lib.bad_token_refused(url):
        fail('a bad token got bytes from the proxy')
    print('e2e: VNC console: a bad token is refused')

    # ---- the RPC: the reply Zed's manager gives, the port check
    ctxt, inst, api = console_lib.compute_rpc('vnc_console', a.server)
    info = api.get_vnc_console(ctxt, inst, 'novnc')
    if not console_lib.connect_info_ok(info, a.port, '%s?path=%%%%3Ftoken%%%%3D%%s' % base):
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
