#!/bin/sh
# sculpt-compute as the compute node of a real Nova Zed: one control plane
# (PostgreSQL, RabbitMQ, Keystone, Placement, Glance, nova-api, -conductor,
# -scheduler: contrib/stack/) started once for every phase below, two
# sculpt-compute hosts on it -- `fake1` (in-memory backend) and, with
# libvirt, `kvm1` (real QEMU guests) -- then:
#   rpc       python3-nova's ComputeAPI drives every RPC method, plus
#             malformed messages, an unknown method and old versions
#             (tests/nova/rpc_api.py)
#   e2e       openstack server create/stop/start/reboot/console/delete on
#             real guests, a snapshot, a rebuild onto it and a server booted
#             from it, the first one's notifications (tests/nova/e2e.sh)
#   shelve    shelve, offload and unshelve: a real guest on kvm1 (offloaded
#             at once, unshelved there with its predictor's history), and
#             on fake1 a missing image, an unshelve the engine refuses, an
#             unknown instance, shelved_offload_time 2 and -1 (tests/nova/shelve.py)
#   presculpt pre-sculpted pools on real guests: a member made, handed over to
#             a build, kept across a restart, expired (tests/nova/presculpt.sh)
#   presculpt-wide a wide pool's member, started at 1 vCPU, grown live to a
#             build of 2 vCPUs (tests/nova/presculpt_wide.sh)
#   hotplug   memory hot-plug through Nova: a guest plugs what its blueprint
#             asks and shows it; one whose kernel leaves it offline is
#             declared so, and held at what it can use (tests/nova/hotplug.sh)
#   resize    resizes done live on real guests: down and confirmed, up and
#             reverted, one the engine refuses, a kill -9 mid-resize then
#             the confirm window, a stopped server (tests/nova/resize.py)
#   migrate   cold migrations and resizes between two hosts (fake1 and a
#             second in-memory host, fake2, started for it): confirmed,
#             reverted, a flavor only the other host holds, a move to kvm1
#             refused for its backend (tests/nova/migrate.py)
#   migrate-kvm cold migrations between two libvirt hosts (kvm1 and kvm2, a
#             second libvirtd started for it; the guest's files over ssh to an
#             sshd on loopback): reverted, confirmed, a stopped server, a
#             copy ssh refuses rolled back (tests/nova/migrate_kvm.py)
#   tempest   tempest.api.compute.servers.test_create_server and
#             ServerActionsTestJSON's resize and rebuild tests, on fake1
#             alone (tests/nova/tempest.sh)
#   tempest-broad  all of tempest.api.compute on fake1 alone, or on the
#             host TEMPEST_HOST names (kvm1) (not in the default list:
#             `make tempest`, 15-25 minutes on fake1)
#   rabbitmq  RabbitMQ stopped and restarted under load (tests/nova/rabbitmq_restart.py)
#   settings  what the REST API changes reaches the running fake1 (prices,
#             custom blueprints), previews and estimates answer, the RPC
#             latency histogram, a Keystone token (tests/nova/settings.py)
#   crash     sculpt-compute killed, PostgreSQL stopped, libvirtd restarted
#             around a running guest; a guest destroyed behind sculpt's
#             back; kill -9 in the middle of a spawn and of a reshape; the
#             fleet history and the predictor states over a restart and
#             a kill -9, kill -9 in the middle of a rebuild, a rescue, an
#             unrescue, a shelve offload and an unshelve (tests/nova/crash.py)
# Everything runs in a temporary RUN_DIR on free ports and is stopped by PID
# at the end.  NOVA_TEST_KEEP=1 keeps the stack running (prints RUN_DIR);
# NOVA_TEST_PHASES="rpc e2e" runs only those phases.
# Phase scripts live in tests/nova/.
set -eu
top=${SCULPT_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
export SCULPT_BIN=${SCULPT_BIN:-$top/build/bin}
. "$top/tests/lib.sh"
stack=$top/contrib/stack
run=$(mktemp -d /tmp/sculpt-nova.XXXXXX)
export NOVA_TEST_RUN=$run
phases=${NOVA_TEST_PHASES:-rpc e2e shelve presculpt presculpt-wide hotplug resize migrate migrate-kvm tempest settings rabbitmq crash}
t0=$(date +%s)
say() { echo "[$(($(date +%s) - t0))s] $*"; }

cleanup() {
    rc=$?
    set +e
    if [ $rc -ne 0 ]; then
        for f in "$run"/fake1/sculpt-compute.log "$run"/kvm1/sculpt-compute.log \
            "$run"/fake2/sculpt-compute.log "$run"/kvm2/sculpt-compute.log \
            "$run"/nova/log/nova-conductor.log; do
            [ -f "$f" ] && { echo "---- last lines of $f"; tail -n 40 "$f"; }
        done
    fi
    if [ "${NOVA_TEST_KEEP:-0}" = 1 ]; then
        echo "stack kept in $run"
        exit $rc
    fi
    stack_stop_all "$run" kvm1 fake1 fake2 kvm2
    "$stack/libvirt.sh" stop "$run/kvm2-virt" >/dev/null 2>&1
    [ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null
    # The sanitized build reports leaks and errors at exit, on stderr.
    for f in "$run"/kvm1/sculpt-compute.out "$run"/fake1/sculpt-compute.out \
        "$run"/fake2/sculpt-compute.out "$run"/kvm2/sculpt-compute.out; do
        if [ -f "$f" ] && grep -q "Sanitizer" "$f"; then
            echo "---- sanitizer report in $f"
            head -n 60 "$f"
            rc=1
        fi
    done
    rm -rf "$run"
    exit $rc
}
trap cleanup EXIT INT TERM

# kvm1 as the stack starts it: its own PostgreSQL, and the key and port of
# the sshd cold migrations copy through.  Phases that restart it with
# settings of their own (hotplug, resize...) leave those out: migrate-kvm
# starts it so again.
kvm1_env() {
    env SCULPT_NAME=kvm1 SCULPT_HOST=kvm1 SCULPT_COMPUTE_DRIVER=libvirt SCULPT_DEMO_GUESTS=0 \
        SCULPT_DATABASE_URL="$(sed -n 's/^SCULPT_DB_URL=//p' "$run/sculpt-db/env/postgres.env")" "$@"
}
# The [libvirt] options of a host that live-migrates to the libvirtd
# listening on loopback port $1 (migrate-kvm).
live_conf() {
    printf 'live_migration_uri = qemu+tcp://%%s:%s/system\nlive_migration_inbound_addr = 127.0.0.1\nlive_migration_completion_timeout = 120\n' "$1"
}
# kvm1's guests get TCP serial consoles (phase e2e reaches one through
# nova-serialproxy), on ports of a range of this run's: the libvirtds of
# runs side by side do not see each other's domains.  The ranges lie
# above the libvirtds' VNC blocks (5900-25899, contrib/stack/libvirt.sh)
# and below the kernel's ephemeral ports (32768).  Phases that type on a
# console's unix socket (migrate-kvm) restart kvm1 without them.
SERIAL_BASE=$((26000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 67 * 100))
start_kvm1() {
    # (the image cache manager and the purge of expired console tokens
    # every 2 s: e2e ages images and expires a token by hand)
    kvm1_env SCULPT_EXTRA_CONF="$(printf '%s\n[image_cache]\nmanager_interval = 2\n[DEFAULT]\ninstance_delete_interval = 2\n[serial_console]\nenabled = true\nport_range = %s:%s' \
        "$SSHD_CONF" $SERIAL_BASE $((SERIAL_BASE + 100)))" \
        "$stack/sculpt.sh" start "$run"
}

RABBITMQ_PORT=auto "$stack/rabbitmq.sh" start "$run"
"$stack/postgres.sh" start "$run"
libvirt=0
# kvm1's and kvm2's libvirtds listen on loopback TCP too: live migrations
# between them (phase migrate-kvm) go peer to peer, which libvirt refuses
# over a unix socket
KVM1_TCP_PORT=$(free_port)
KVM2_TCP_PORT=$(free_port)
while [ "$KVM2_TCP_PORT" = "$KVM1_TCP_PORT" ]; do KVM2_TCP_PORT=$(free_port); done
if [ -x "$stack/libvirt.sh" ]; then
    SCULPT_LIBVIRT_TCP_PORT=$KVM1_TCP_PORT "$stack/libvirt.sh" start "$run"
    libvirt=1
fi
say "PostgreSQL, RabbitMQ$( [ $libvirt = 1 ] && echo ', libvirtd') up"
"$stack/nova.sh" start "$run"
say "Nova control plane up"
# fake1 reclaims soft-deleted servers after 10 s and audits its usage
# (phase rpc)
SCULPT_NAME=fake1 SCULPT_HOST=fake1 SCULPT_COMPUTE_DRIVER=fake SCULPT_DEMO_GUESTS=0 \
    SCULPT_EXTRA_CONF="$(printf '[DEFAULT]\nreclaim_instance_interval = 10\ninstance_usage_audit = true')" \
    "$stack/sculpt.sh" start "$run"
if [ $libvirt = 1 ]; then
    # the sshd cold migrations between libvirt hosts copy through (phase
    # migrate-kvm); kvm1 logs in with its key
    sshd_test_start "$run/sshd"
    # kvm1 keeps its state in a PostgreSQL of its own, which the crash
    # phase stops while Nova (on the other one) goes on.
    "$stack/postgres.sh" start "$run/sculpt-db"
    start_kvm1
fi
say "sculpt-compute hosts up"
# From here every host a phase restarts was started once above (or is
# started for the first time, and sculpt.sh then maps it anyway): its
# restarts skip Nova's discover_hosts and the image and flavor set-up, 5 s
# of Python each, and the phases restart hosts some 25 times.
export SCULPT_QUICK_START=1

set -a
. "$run/env/nova.env"
. "$run/env/rabbitmq.env"
. "$run/env/fake1.env"
set +a

for phase in $phases; do
    case $phase in
    rpc)
        say "phase rpc: ComputeAPI against fake1"
        /usr/bin/python3 "$top/tests/nova/rpc_api.py" --host fake1 \
            $([ $libvirt = 1 ] && echo --other-host kvm1)
        ;;
    e2e)
        [ $libvirt = 1 ] || { echo "phase e2e needs contrib/stack/libvirt.sh" >&2; exit 1; }
        # kvm1 as start_kvm1 starts it (a phase before may have
        # restarted it with settings of its own)
        if ! grep -q '^port_range = '$SERIAL_BASE: "$run/kvm1/sculpt.conf"; then
            kvm1_env "$stack/sculpt.sh" stop "$run" >/dev/null
            start_kvm1 >/dev/null
        fi
        say "phase e2e: real guests on kvm1"
        sh "$top/tests/nova/e2e.sh" "$run" kvm1
        ;;
    shelve)
        [ $libvirt = 1 ] || { echo "phase shelve needs contrib/stack/libvirt.sh" >&2; exit 1; }
        say "phase shelve: shelve, offload and unshelve on kvm1 and fake1"
        /usr/bin/python3 "$top/tests/nova/shelve.py" "$run" kvm1 fake1
        ;;
    presculpt)
        [ $libvirt = 1 ] || { echo "phase presculpt needs contrib/stack/libvirt.sh" >&2; exit 1; }
        say "phase presculpt: pools on kvm1"
        sh "$top/tests/nova/presculpt.sh" "$run" kvm1
        ;;
    presculpt-wide)
        [ $libvirt = 1 ] || { echo "phase presculpt-wide needs contrib/stack/libvirt.sh" >&2; exit 1; }
        say "phase presculpt-wide: a wide pool's member grown at hand-over on kvm1"
        sh "$top/tests/nova/presculpt_wide.sh" "$run" kvm1
        ;;
    hotplug)
        [ $libvirt = 1 ] || { echo "phase hotplug needs contrib/stack/libvirt.sh" >&2; exit 1; }
        say "phase hotplug: memory hot-plug through Nova on kvm1"
        sh "$top/tests/nova/hotplug.sh" "$run" kvm1
        ;;
    resize)
        [ $libvirt = 1 ] || { echo "phase resize needs contrib/stack/libvirt.sh" >&2; exit 1; }
        say "phase resize: live resizes on kvm1"
        /usr/bin/python3 "$top/tests/nova/resize.py" "$run" kvm1
        ;;
    migrate)
        [ $libvirt = 1 ] || { echo "phase migrate needs contrib/stack/libvirt.sh (kvm1)" >&2; exit 1; }
        # a second in-memory host, larger, for this phase only (migrate.py
        # leaves its service disabled); its own PostgreSQL: sculpt's rows
        # are per host
        "$stack/postgres.sh" start "$run/sculpt-db2"
        SCULPT_DATABASE_URL=$(sed -n 's/^SCULPT_DB_URL=//p' "$run/sculpt-db2/env/postgres.env") \
            SCULPT_NAME=fake2 SCULPT_HOST=fake2 SCULPT_COMPUTE_DRIVER=fake SCULPT_DEMO_GUESTS=0 \
            SCULPT_EXTRA_CONF="$(printf '[fake]\ntopology = nodes=1,sockets=1,cores=8,threads=2,mem_mib=65536')" \
            "$stack/sculpt.sh" start "$run"
        say "phase migrate: cold migrations and resizes between fake1 and fake2"
        /usr/bin/python3 "$top/tests/nova/migrate.py" "$run" fake1 fake2 kvm1
        ;;
    migrate-kvm)
        [ $libvirt = 1 ] || { echo "phase migrate-kvm needs contrib/stack/libvirt.sh" >&2; exit 1; }
        # a second libvirt host for this phase only (migrate_kvm.py leaves
        # its service disabled): its own libvirtd and PostgreSQL
        SCULPT_LIBVIRT_TCP_PORT=$KVM2_TCP_PORT "$stack/libvirt.sh" start "$run/kvm2-virt" >/dev/null
        cp "$run/kvm2-virt/env/libvirt.env" "$run/env/kvm2-libvirt.env"
        "$stack/postgres.sh" start "$run/sculpt-db3"
        SCULPT_DATABASE_URL=$(sed -n 's/^SCULPT_DB_URL=//p' "$run/sculpt-db3/env/postgres.env") \
            SCULPT_NAME=kvm2 SCULPT_HOST=kvm2 SCULPT_COMPUTE_DRIVER=libvirt SCULPT_DEMO_GUESTS=0 \
            SCULPT_EXTRA_CONF="$(printf '%s\n[libvirt]\nconnection_uri = %s\n%s' "$SSHD_CONF" \
                "$(sed -n 's/^LIBVIRT_URI=//p' "$run/kvm2-virt/env/libvirt.env")" \
                "$(live_conf "$KVM1_TCP_PORT")")" \
            "$stack/sculpt.sh" start "$run"
        # each start truncates kvm1's output: what the sanitizers said goes first
        if grep -q Sanitizer "$run/kvm1/sculpt-compute.out" 2>/dev/null; then
            head -n 60 "$run/kvm1/sculpt-compute.out" >&2
            echo "sanitizer report from kvm1" >&2
            exit 1
        fi
        kvm1_env "$stack/sculpt.sh" stop "$run" >/dev/null
        kvm1_env SCULPT_EXTRA_CONF="$(printf '%s\n[libvirt]\n%s' "$SSHD_CONF" \
            "$(live_conf "$KVM2_TCP_PORT")")" "$stack/sculpt.sh" start "$run" >/dev/null
        say "phase migrate-kvm: cold and live migrations between kvm1 and kvm2"
        /usr/bin/python3 "$top/tests/nova/migrate_kvm.py" "$run" kvm1 kvm2
        ;;
    tempest)
        say "phase tempest"
        sh "$top/tests/nova/tempest.sh" "$run" fake1
        ;;
    tempest-broad)
        th=${TEMPEST_HOST:-fake1}
        case $th in
        fake1) ;;
        kvm1)
            [ $libvirt = 1 ] || { echo "TEMPEST_HOST=kvm1 needs contrib/stack/libvirt.sh" >&2; exit 1; }
            # tempest holds several guests of 1 and 2 vCPUs at once, whose
            # TCG boots load this 2-core host: at the 1% host SLO admission
            # refuses builds and resizes (NoValidHost); tempest runs at 50%
            kvm1_env "$stack/sculpt.sh" stop "$run" >/dev/null
            kvm1_env SCULPT_EXTRA_CONF="$(printf '%s\n[engine]\nhost_violation_rate = 0.5' "$SSHD_CONF")" \
                "$stack/sculpt.sh" start "$run" >/dev/null
            ;;
        *) echo "TEMPEST_HOST is fake1 or kvm1, not $th" >&2; exit 2 ;;
        esac
        say "phase tempest-broad: all of tempest.api.compute on $th (make tempest)"
        TEMPEST_BROAD=1 sh "$top/tests/nova/tempest.sh" "$run" "$th"
        ;;
    settings)
        say "phase settings: run-time settings and custom blueprints on fake1"
        /usr/bin/python3 "$top/tests/nova/settings.py" "$run" fake1
        ;;
    rabbitmq)
        say "phase rabbitmq: broker restart under load"
        /usr/bin/python3 "$top/tests/nova/rabbitmq_restart.py" "$run" "$([ $libvirt = 1 ] && echo kvm1 || echo fake1)"
        ;;
    crash)
        [ $libvirt = 1 ] || { echo "phase crash needs contrib/stack/libvirt.sh" >&2; exit 1; }
        say "phase crash: restarts and crashes around guests, kill -9 mid-spawn and mid-reshape"
        /usr/bin/python3 "$top/tests/nova/crash.py" "$run" kvm1
        ;;
    *)
        echo "unknown phase $phase" >&2
        exit 2
        ;;
    esac
done
say "all phases passed"
