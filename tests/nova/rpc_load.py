#!/usr/bin/python3
"""Keep calling a compute host (get_host_uptime through python3-nova's
ComputeAPI) for a while and record when calls were answered and when they
failed: the RabbitMQ restart test's client.

    rpc_load.py --host HOST --seconds N --out FILE.json [--stop-file F]  (RABBITMQ_URL from env)
"""
import eventlet
eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from nova import config, context, objects  # noqa: E402
from nova.compute import rpcapi as compute_rpcapi  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--host', required=True)
ap.add_argument('--seconds', type=float, default=60)
ap.add_argument('--out', required=True)
ap.add_argument('--stop-file', help='stop early once this file exists')
a = ap.parse_args()
conf = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
conf.write('[DEFAULT]\ntransport_url = %s\nrpc_response_timeout = 5\n'
           '[oslo_messaging_rabbit]\nrabbit_retry_interval = 1\nrabbit_interval_max = 2\n'
           % os.environ['RABBITMQ_URL'])
conf.close()
config.parse_args(['rpc_load', '--config-file', conf.name])
objects.register_all()
ctxt = context.get_admin_context()
api = compute_rpcapi.ComputeAPI()
res = {'answered': [], 'failed': []}
end = time.time() + a.seconds
while time.time() < end and not (a.stop_file and os.path.exists(a.stop_file)):
    try:
        api.get_host_uptime(ctxt, a.host)
        res['answered'].append(time.time())
    except Exception:  # noqa: B902 - any failure while the broker is away
        res['failed'].append(time.time())
        time.sleep(0.5)
    # progress for whoever watches, replaced atomically
    with open(a.out + '.tmp', 'w') as f:
        json.dump(res, f)
    os.rename(a.out + '.tmp', a.out)
    time.sleep(0.2)
