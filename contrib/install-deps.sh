#!/bin/sh
# Install the Debian 12 packages sculpt needs to build and test.  Idempotent:
# it only calls apt when something is missing, so `make test` and `make run`
# run it every time.  Needs root (CI runs as root) when anything is missing.
#
#   contrib/install-deps.sh            every group
#   contrib/install-deps.sh build ...  only the named groups
set -eu

# Group -> packages.  Add a package to the group of the feature that needs it.
pkgs_build="gcc make pkg-config libc6-dev zlib1g-dev libcmocka-dev libjansson-dev
  libcurl4-openssl-dev libssl-dev librabbitmq-dev libpq-dev libmicrohttpd-dev libvirt-dev
  libxml2-dev"
pkgs_tools="valgrind clang libclang-rt-14-dev python3 curl procps iproute2"
# db: the private PostgreSQL cluster (contrib/stack/postgres.sh) and its tests.
pkgs_db="postgresql-15 postgresql-client-15"
# api: the dashboard test drives Debian's Chromium, the route test validates
# answers with python3-jsonschema, bench-api loads the server with wrk.
pkgs_api="chromium python3-jsonschema wrk"
# engine: `virsh` and libvirt's QEMU driver, to read this host's topology
# (capabilities) in tests/integration/engine_pack.sh
pkgs_engine="libvirt-clients libvirt-daemon-driver-qemu"
# libvirt: a private libvirtd + QEMU for real guests (contrib/stack/libvirt.sh)
# and the tiny test guest (contrib/guest/).  The minimal daemon
# set, not libvirt-daemon-system: no systemd units, polkit, default network
# or firewall bits, which a hand-started daemon on these machines does not
# use.
pkgs_libvirt="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
  qemu-utils cpio util-linux"
# isofs: libarchive makes config drives in-process (driver/libvirt/iso.c);
# genisoimage only for tests: its isoinfo reads them back (unit test, Nova
# harness), and it is bench-libvirt's baseline (Nova's way).
pkgs_isofs="libarchive-dev genisoimage"
# migrate: cold migration between libvirt hosts copies an instance's files
# over ssh (driver/libvirt/migrate.c); its test starts an sshd on loopback.
pkgs_migrate="openssh-client openssh-server rsync"

# nova: RabbitMQ, a real Nova Zed control plane (Keystone, Placement,
# Glance, nova-api, -conductor, -scheduler, run under uwsgi) for
# contrib/stack/{rabbitmq,nova}.sh, python3-nova and oslo.messaging as the
# real RPC client of the tests, the OpenStack clients, and tempest;
# nova-novncproxy runs from python3-nova with websockify and noVNC's pages.
pkgs_nova="rabbitmq-server keystone placement-api nova-api nova-conductor nova-scheduler
  glance-api uwsgi-plugin-python3 python3-nova python3-oslo.messaging python3-kombu
  python3-psycopg2 python3-openstackclient python3-osc-placement python3-novaclient
  python3-glanceclient python3-keystoneclient tempest python3-websockify novnc"

groups=${*:-"build tools db api engine libvirt isofs migrate nova"}
want=""
for g in $groups; do
    eval "list=\${pkgs_$g:-}"
    [ -n "$list" ] || { echo "install-deps: unknown group '$g'" >&2; exit 2; }
    want="$want $list"
done

missing=""
for p in $want; do
    status=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *" installed") ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: run as root: contrib/install-deps.sh" >&2
    exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Servers (RabbitMQ, Keystone, PostgreSQL...) must not be started on their
# default ports by their packages: every service here is started by hand
# under the run folder.  Forbid it for the install (invoke-rc.d asks
# policy-rc.d), unless the machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt_install() {
    apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "$@" >&2
}
# A fresh machine may have no package lists yet; fetch them once on failure.
if ! apt_install $missing; then
    apt-get -o DPkg::Lock::Timeout=900 update -q >&2
    apt_install $missing
fi
