#!/usr/bin/python3
"""quiesce_instance, then unquiesce_instance, on a running server whose
image has the guest agent, as nova-api calls them around a volume-backed
snapshot: the call returns once the agent froze the guest's filesystems,
the cast thaws them (the caller reads both on the guest's console).

    quiesce_rpc.py --server UUID   (RABBITMQ_URL in the environment)
"""
import eventlet
eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--server', required=True)
    a = ap.parse_args()
    ctxt, inst, api = console_lib.compute_rpc('quiesce_rpc', a.server)
    api.quiesce_instance(ctxt, inst)
    print('e2e: quiesce_instance answered')
    api.unquiesce_instance(ctxt, inst)


if __name__ == '__main__':
    main()
