#!/usr/bin/python3
"""Nova's compute services switched off and on around a phase that needs
one host alone (a same-host resize: the scheduler must not pick another).

    services.py RUN_DIR disable HOST REASON   disables every nova-compute
                                              but HOST's; prints their ids
    services.py RUN_DIR enable ID...          enables them again
"""
import os
import sys

from novaclient import client as nova_client

from phase import load_env, nova_admin


def computes_alone(nova, host, reason):
    """Every nova-compute but host's disabled (`reason`): their ids."""
    ids = []
    for s in nova.services.list(binary='nova-compute'):
        if s.host != host:
            nova.services.disable_log_reason(s.id, reason)
            ids.append(s.id)
    return ids


def computes_back(nova, ids):
    for sid in ids:
        nova.services.enable(sid)


def computes_pair(nova, a, b, reason):
    """Every nova-compute but a's and b's disabled (`reason`): their ids,
    for computes_back."""
    others = computes_alone(nova, a, reason)
    for s in nova.services.list(binary='nova-compute'):
        if s.host == b:
            computes_back(nova, [s.id])
            others.remove(s.id)
    return others


def compute_away(nova, host, reason):
    """host's nova-compute disabled (`reason`)."""
    for s in nova.services.list(binary='nova-compute'):
        if s.host == host:
            nova.services.disable_log_reason(s.id, reason)


def main():
    run, action = sys.argv[1], sys.argv[2]
    _, sess = nova_admin(load_env(os.path.join(run, 'env', 'nova.env')))
    # 2.53: services named by their uuid
    nova = nova_client.Client('2.53', session=sess)
    if action == 'disable':
        for sid in computes_alone(nova, sys.argv[3], sys.argv[4]):
            print(sid)
    elif action == 'enable':
        computes_back(nova, sys.argv[3:])
    else:
        sys.exit('services.py: unknown action %r' % action)


if __name__ == '__main__':
    main()
