#!/usr/bin/python3
"""bench-rpc's set-up: an image (1 MiB of zeros: both computes under test
use in-memory drivers), a flavor, and one server on each host given.
Prints `HOST UUID` per server.  Credentials from the OS_* environment.

    rpc_setup.py HOST...
"""
import io
import os
import sys
import time

from glanceclient import client as glance_client
from keystoneauth1 import session
from keystoneauth1.identity import v3
from novaclient import client as nova_client

auth = v3.Password(auth_url=os.environ['OS_AUTH_URL'], username=os.environ['OS_USERNAME'],
                   password=os.environ['OS_PASSWORD'], project_name=os.environ['OS_PROJECT_NAME'],
                   user_domain_name='Default', project_domain_name='Default')
sess = session.Session(auth=auth)
glance = glance_client.Client('2', session=sess)
nova = nova_client.Client('2.37', session=sess)
img = glance.images.create(name='bench', disk_format='raw', container_format='bare',
                           visibility='public')
glance.images.upload(img.id, io.BytesIO(b'\0' * (1 << 20)))
flavor = nova.flavors.create('bench.tiny', 64, 1, 1)
servers = [(h, nova.servers.create('bench-%s' % h, img.id, flavor.id, nics='none',
                                   availability_zone='nova:%s' % h)) for h in sys.argv[1:]]
for h, s in servers:
    end = time.time() + 120
    while nova.servers.get(s.id).status != 'ACTIVE':
        if nova.servers.get(s.id).status == 'ERROR' or time.time() > end:
            sys.exit('bench server on %s did not become ACTIVE' % h)
        time.sleep(0.5)
    print(h, s.id)
