#!/usr/bin/python3
"""A running guest's serial console end to end ([serial_console] enabled
on its host): the console URL from nova-api (POST
/servers/ID/remote-consoles, protocol serial, as `openstack console url
show --serial`), then nova-serialproxy with its token -- which asks the
compute (validate_console_port) before it connects -- and through it
QEMU's TCP serial port: a line typed to the tiny guest's init (`stat`)
and its answer read back, and found in get_console_output's log too.  A
bad token is refused; get_serial_console's reply, another console type
and validate_console_port are checked at the RPC.

    serial_console.py --server UUID --port PORT
        (OS_*, NOVA_API_URL, NOVA_SERIALPROXY_URL, RABBITMQ_URL in the
        environment; PORT: the domain's TCP serial port, as its XML has it)
"""
import eventlet
eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

from nova import exception  # noqa: E402

import console_lib  # noqa: E402


def fail(what):
    sys.exit('e2e FAILED: serial console: %s' % what)


def typed(ws, line, answer, seconds):
    """`line` typed on the console until the guest's tty echoes it (a line
    a busy guest's UART dropped is typed again), then what it printed up
    to and including the line holding `answer`."""
    ws.sock.settimeout(1)
    seen, end, sent = b'', time.time() + seconds, 0
    while time.time() < end:
        if line not in seen and time.time() >= sent + 5:
            ws.send(line + b'\n')
            sent = time.time()
        try:
            chunk = ws.recv_any()
        except socket.timeout:
            continue
        if not chunk:
            fail('nova-serialproxy closed the console after %r' % seen)
        seen += chunk
        at = seen.find(answer, seen.find(line) + len(line)) if line in seen else -1
        if at >= 0 and b'\n' in seen[at:]:
            return seen[at:seen.index(b'\n', at)].decode(errors='replace').strip()
    fail('no %r after typing %r in %d s: %r' % (answer, line, seconds, seen[-400:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--server', required=True)
    ap.add_argument('--port', type=int, required=True)
    a = ap.parse_args()

    # ---- the URL from nova-api, as `openstack console url show --serial`
    r = console_lib.remote_console(a.server, 'serial', 'serial')
    if r.status_code != 200:
        fail('remote-consoles answered %d: %s' % (r.status_code, r.text))
    rc = r.json()['remote_console']
    base = os.environ['NOVA_SERIALPROXY_URL']
    if rc['protocol'] != 'serial' or rc['type'] != 'serial' or \
            not rc['url'].startswith(base + '?token='):
        fail('remote-consoles answered %r' % rc)
    url = urlparse(rc['url'])
    ws = console_lib.WebSocket(url.hostname, url.port, '/?' + url.query)
    if ' 101 ' not in ws.status + ' ':
        fail('nova-serialproxy answered %r' % ws.status)
    # the tiny guest's init answers `stat` with a GUEST-STAT line
    stat = typed(ws, b'stat', b'GUEST-STAT', 60)
    ws.sock.close()
    print('e2e: serial console: %s -> nova-serialproxy -> %s:%d: `stat` -> %r'
          % (base, '127.0.0.1', a.port, stat))

    # ---- a token nobody was given: closed without a byte of the console
    if not console_lib.bad_token_refused(url):
        fail('a bad token got bytes from the proxy')
    print('e2e: serial console: a bad token is refused')

    # ---- the RPC: Zed's reply, another type refused, the port check,
    # and the log behind get_console_output still written
    ctxt, inst, api = console_lib.compute_rpc('serial_console', a.server)
    info = api.get_serial_console(ctxt, inst, 'serial')
    if not console_lib.connect_info_ok(info, a.port, '%s?token=%%s' % base):
        fail('get_serial_console answered %r' % info)
    try:
        api.get_serial_console(ctxt, inst, 'novnc')
        fail('get_serial_console of type novnc answered')
    except exception.ConsoleTypeInvalid:
        pass
    if api.validate_console_port(ctxt, inst, str(a.port), 'serial') is not True or \
            api.validate_console_port(ctxt, inst, str(a.port + 1), 'serial') is not False:
        fail('validate_console_port does not tell port %d from another' % a.port)
    if stat not in api.get_console_output(ctxt, inst, 200):
        fail('%r is not in get_console_output' % stat)
    print('e2e: serial console: get_serial_console %s:%s, a new token; validate_console_port; '
          'novnc -> ConsoleTypeInvalid; the answer in get_console_output'
          % (info['host'], info['port']))


main()
