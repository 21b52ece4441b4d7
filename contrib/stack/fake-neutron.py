#!/usr/bin/python3
"""A stand-in for Neutron's API, enough for a cloud whose servers boot with
`--nic none`: nova-api lists ports when it shows a server (security
groups), nova-compute-side code and tempest list networks, ports and
security groups.  Every collection is empty; quotas are unlimited.

    fake-neutron.py PORT       (listens on 127.0.0.1)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9696


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'

    def reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = [p for p in self.path.split('?', 1)[0].split('/') if p]
        if not parts:
            href = 'http://127.0.0.1:%d/v2.0/' % PORT
            return self.reply(200, {'versions': [
                {'id': 'v2.0', 'status': 'CURRENT', 'links': [{'rel': 'self', 'href': href}]}]})
        if parts == ['v2.0']:
            return self.reply(200, {'resources': []})
        if len(parts) >= 2 and parts[-2] == 'quotas':
            return self.reply(200, {'quota': {k: -1 for k in (
                'network', 'subnet', 'port', 'router', 'floatingip',
                'security_group', 'security_group_rule')}})
        if parts[-1] == 'extensions':
            return self.reply(200, {'extensions': []})
        collection = parts[-1].replace('-', '_')
        if collection.endswith('.json'):
            collection = collection[:-5]
        if len(parts) >= 3 and not collection.endswith('s'):
            # GET of one resource by id: there are none
            return self.reply(404, {'NeutronError': {'type': 'NotFound',
                                                     'message': 'not found', 'detail': ''}})
        return self.reply(200, {collection: []})

    def do_DELETE(self):
        self.send_response(204)
        self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write('%s %s\n' % (self.command, self.path))


ThreadingHTTPServer(('127.0.0.1', PORT), Handler).serve_forever()
