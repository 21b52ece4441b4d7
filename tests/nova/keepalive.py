#!/usr/bin/python3
"""A call that takes longer than the caller's call-monitor timeout succeeds
only when the compute sends `ending: false` keep-alives (protocol.md 1.5):
stop_instance as a call with call_monitor_timeout=1 on a guest whose clean
shutdown takes seconds.

    keepalive.py --host HOST --server UUID     (RABBITMQ_URL in the environment)
"""
import eventlet
eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from nova import config, context, objects  # noqa: E402
from nova.compute import rpcapi as compute_rpcapi  # noqa: E402
from nova.conductor import rpcapi as conductor_rpcapi  # noqa: E402
from nova.objects import base as objects_base  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--host', required=True)
ap.add_argument('--server', required=True)
a = ap.parse_args()
conf = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
conf.write('[DEFAULT]\ntransport_url = %s\n' % os.environ['RABBITMQ_URL'])
conf.close()
config.parse_args(['keepalive', '--config-file', conf.name])
objects.register_all()
objects_base.NovaObject.indirection_api = conductor_rpcapi.ConductorAPI()
ctxt = context.get_admin_context()
inst = objects.Instance.get_by_uuid(ctxt, a.server)
inst.task_state = 'powering-off'
inst.save()
api = compute_rpcapi.ComputeAPI()
cctxt = api.router.client(ctxt).prepare(server=a.host, version='6.0', timeout=120,
                                        call_monitor_timeout=1)
t = time.time()
cctxt.call(ctxt, 'stop_instance', instance=inst, clean_shutdown=True)
took = time.time() - t
# Without a keep-alive oslo.messaging gives up once call_monitor_timeout
# (1 s) passes with no word from the compute; an answer after 1.2 s (room
# for the waiter's wake-up) can only have been kept alive.  The tiny
# guest's clean shutdown takes 1.4-3 s.
if took < 1.2:
    sys.exit('keepalive: the stop took %.1f s, too quick to need keep-alives' % took)
print('e2e: stop_instance as a call with a 1 s call-monitor timeout answered after %.1f s '
      '(keep-alives)' % took)
