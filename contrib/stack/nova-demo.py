#!/usr/bin/python3
"""Put the tiny test guest into Glance (kernel as `aki`, initrd as `ari`,
the disk as `qcow2` with kernel_id / ramdisk_id / os_command_line), create
flavors m1.tiny and m1.small, and boot demo servers on one compute host.
Idempotent: what exists is reused.  Credentials from the OS_* environment
(RUN_DIR/env/nova.env).  One Python process: each `openstack` command costs
seconds on two cores.

    nova-demo.py --guest DIR --host HOST --servers N --env OUT.env
"""
import argparse
import os
import sys
import time

from glanceclient import client as glance_client
from keystoneauth1 import session
from keystoneauth1.identity import v3
from novaclient import client as nova_client

IMAGE, KERNEL, RAMDISK = 'sculpt-tiny', 'sculpt-tiny-kernel', 'sculpt-tiny-ramdisk'
FLAVORS = [('m1.tiny', 1, 128, 1), ('m1.small', 2, 256, 1)]


def image(glance, name, path, disk_format, container_format, props=None):
    for img in glance.images.list(filters={'name': name}):
        if img.status == 'active':
            return img.id
        glance.images.delete(img.id)
    img = glance.images.create(name=name, disk_format=disk_format,
                               container_format=container_format, visibility='public',
                               **(props or {}))
    with open(path, 'rb') as f:
        glance.images.upload(img.id, f)
    return img.id


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--guest', required=True)
    ap.add_argument('--host', required=True)
    ap.add_argument('--servers', type=int, default=2)
    ap.add_argument('--env', required=True)
    ap.add_argument('--timeout', type=int, default=300)
    a = ap.parse_args()

    auth = v3.Password(auth_url=os.environ['OS_AUTH_URL'], username=os.environ['OS_USERNAME'],
                       password=os.environ['OS_PASSWORD'],
                       project_name=os.environ['OS_PROJECT_NAME'],
                       user_domain_name='Default', project_domain_name='Default')
    sess = session.Session(auth=auth)
    glance = glance_client.Client('2', session=sess)
    nova = nova_client.Client('2.37', session=sess)

    g = a.guest
    kernel = image(glance, KERNEL, os.path.join(g, 'vmlinuz'), 'aki', 'aki')
    ramdisk = image(glance, RAMDISK, os.path.join(g, 'initrd.gz'), 'ari', 'ari')
    with open(os.path.join(g, 'cmdline')) as f:
        cmdline = f.read().strip()
    # The tiny guest's init does not act on the ACPI power button: a clean
    # shutdown would only wait out the timeout before switching it off.
    disk = image(glance, IMAGE, os.path.join(g, 'base.qcow2'), 'qcow2', 'bare',
                 {'kernel_id': kernel, 'ramdisk_id': ramdisk, 'os_command_line': cmdline,
                  'os_shutdown_timeout': '3'})

    flavor_ids = []
    existing = {f.name: f for f in nova.flavors.list(is_public=None)}
    for name, vcpus, ram, disk_gb in FLAVORS:
        f = existing.get(name) or nova.flavors.create(name, ram, vcpus, disk_gb)
        flavor_ids.append(f.id)

    servers = []
    have = {s.name: s for s in nova.servers.list()}
    for n in range(1, a.servers + 1):
        name = 'demo-%d' % n
        if name in have:
            servers.append(have[name])
            continue
        # m1.tiny: on a 2-CPU machine the engine admits two of them, not a
        # tiny and a small (their cold-start blueprints need 3 CPUs)
        flavor = flavor_ids[0]
        servers.append(nova.servers.create(name, disk, flavor, nics='none',
                                           availability_zone='nova:%s' % a.host,
                                           meta={'role': 'demo'}))
    deadline = time.time() + a.timeout
    for s in servers:
        while True:
            s = nova.servers.get(s.id)
            if s.status in ('ACTIVE', 'ERROR'):
                break
            if time.time() > deadline:
                sys.exit('demo server %s still %s after %d s' % (s.name, s.status, a.timeout))
            time.sleep(1)
        if s.status == 'ERROR':
            sys.exit('demo server %s failed: %s' % (s.name, getattr(s, 'fault', {})))
        print('demo server %s (%s) ACTIVE' % (s.name, s.id))
        # its VNC console in a browser, through nova-novncproxy
        try:
            c = nova.servers.get_console_url(s, 'novnc')
            c = c.get('remote_console') or c.get('console') or {}
            print('  console: %s  (for [consoleauth] token_ttl, 10 min; later: '
                  'openstack console url show --novnc %s)' % (c.get('url'), s.name))
        except Exception as e:  # noqa: B902 -- the demo runs without it
            print('  no console URL: %s' % e)

    with open(a.env, 'w') as f:
        f.write('SCULPT_IMAGE_ID=%s\nSCULPT_KERNEL_ID=%s\nSCULPT_RAMDISK_ID=%s\n'
                'SCULPT_FLAVOR_ID=%s\nSCULPT_FLAVOR_ALT_ID=%s\n'
                % (disk, kernel, ramdisk, flavor_ids[0], flavor_ids[1]))


if __name__ == '__main__':
    main()
