#!/bin/sh
# sculpt-compute as the compute node of the local Nova (contrib/stack/nova.sh),
# on the private RabbitMQ, PostgreSQL and libvirtd started before it.
#
#   contrib/stack/sculpt.sh start|stop|status RUN_DIR
#
# start: writes RUN_DIR/sculpt/sculpt.conf from RUN_DIR/env/*.env, starts
# sculpt-compute (SCULPT_BIN, else build/bin), waits until it consumes its
# RPC queue, maps it into Nova's cell (nova-manage cell_v2 discover_hosts),
# makes sure the tiny test guest is in Glance (kernel, ramdisk and disk
# image) with flavors m1.tiny and m1.small, and boots SCULPT_DEMO_GUESTS demo
# servers (default 2; 0 for none).
#
# Environment knobs (all optional):
#   SCULPT_NAME            instance of this script (default "sculpt"): its files go
#                          to RUN_DIR/$SCULPT_NAME and RUN_DIR/env/$SCULPT_NAME.env,
#                          so a run dir may hold several compute hosts
#   SCULPT_HOST            Nova host name (default: $SCULPT_NAME-<hostname>)
#   SCULPT_COMPUTE_DRIVER  libvirt (default when RUN_DIR/env/libvirt.env exists) or fake
#   SCULPT_DEMO_GUESTS     demo servers to boot (default 2)
#   SCULPT_LOG_LEVEL       debug|info|warning|error (default info)
#   SCULPT_GUEST_DIR       where the tiny test guest is cached (default
#                          /var/cache/sculpt/tiny-guest: once per machine and version)
#   SCULPT_DATABASE_URL    sculpt's PostgreSQL (default: the one given at an earlier
#                          start of this instance, else RUN_DIR/env/postgres.env's,
#                          the one Nova's services use too)
#   SCULPT_NOTIFY_DRIVER   [oslo_messaging_notifications] driver (default messagingv2,
#                          as a cloud with Ceilometer runs; empty: none)
#   SCULPT_EXTRA_CONF      more sculpt.conf text, appended (tests: [presculpt] ...)
#   SCULPT_QUICK_START=1   a restart of an instance started before: no
#                          discover_hosts, no demo set-up (tests)
#
# Writes RUN_DIR/env/$SCULPT_NAME.env: SCULPT_HOST SCULPT_CONF SCULPT_PID
# SCULPT_API_URL SCULPT_API_TOKEN SCULPT_DASHBOARD SCULPT_LOG, and after the
# demo set-up SCULPT_IMAGE_ID SCULPT_KERNEL_ID SCULPT_RAMDISK_ID
# SCULPT_FLAVOR_ID SCULPT_FLAVOR_ALT_ID.
set -eu
action=${1:-}
run=${2:-}
[ -n "$action" ] && [ -n "$run" ] || { echo "usage: $0 start|stop|status RUN_DIR" >&2; exit 2; }
mkdir -p "$run"
run=$(cd "$run" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
name=${SCULPT_NAME:-sculpt}
dir=$run/$name
envf=$run/env/$name.env
bin=${SCULPT_BIN:-$top/build/bin}
PY=/usr/bin/python3

say() { echo "$name: $*" >&2; }
die() { say "$*"; exit 1; }

alive() {
    [ -f "$dir/sculpt-compute.pid" ] || return 1
    pid=$(cat "$dir/sculpt-compute.pid" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    st=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null || echo Z)
    [ "$st" != Z ]
}

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

need_env() {
    [ -f "$run/env/$1.env" ] || die "$1 is not running (contrib/stack/$1.sh start $run)"
    . "$run/env/$1.env"
}

write_conf() {
    driver=${SCULPT_COMPUTE_DRIVER:-}
    if [ -z "$driver" ]; then
        if [ -f "$run/env/libvirt.env" ]; then driver=libvirt; else driver=fake; fi
    fi
    [ -f "$dir/api_port" ] || free_port >"$dir/api_port"
    [ -f "$dir/api_token" ] || { umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/api_token"; }
    umask 077
    {
        cat <<EOF
# Written by contrib/stack/sculpt.sh from $run/env/*.env
[DEFAULT]
host = $host
state_path = $dir/state
transport_url = $RABBITMQ_URL
compute_driver = $driver
log_level = ${SCULPT_LOG_LEVEL:-info}
log_file = $dir/sculpt-compute.log

[keystone_authtoken]
auth_url = $NOVA_KEYSTONE_URL
username = admin
password = $NOVA_ADMIN_PASSWORD
project_name = admin
region_name = RegionOne

[glance]
api_servers = $NOVA_GLANCE_URL

[oslo_messaging_notifications]
driver = ${SCULPT_NOTIFY_DRIVER-messagingv2}

[api]
listen = 127.0.0.1
port = $(cat "$dir/api_port")
admin_token = $(cat "$dir/api_token")
EOF
        # a restart keeps the database the instance started with
        if [ -n "${SCULPT_DATABASE_URL:-}" ]; then
            printf '%s\n' "$SCULPT_DATABASE_URL" >"$dir/database_url"
        fi
        if [ -f "$dir/database_url" ]; then
            printf '\n[database]\nconnection = %s\n' "$(cat "$dir/database_url")"
        elif [ -f "$run/env/postgres.env" ]; then
            . "$run/env/postgres.env"
            printf '\n[database]\nconnection = %s\n' "$SCULPT_DB_URL"
        fi
        if [ "$driver" = libvirt ]; then
            . "$run/env/libvirt.env"
            printf '\n[libvirt]\nconnection_uri = %s\nvirt_type = %s\n' "$LIBVIRT_URI" \
                "${LIBVIRT_HOST_VIRT_TYPE:-qemu}"
        fi
        # console URLs point at the control plane's nova-novncproxy
        if [ -n "${NOVA_NOVNCPROXY_URL:-}" ]; then
            printf '\n[vnc]\nnovncproxy_base_url = %s\n' "$NOVA_NOVNCPROXY_URL"
        fi
        # and at its nova-serialproxy (serial consoles stay off unless
        # SCULPT_EXTRA_CONF sets [serial_console] enabled)
        if [ -n "${NOVA_SERIALPROXY_URL:-}" ]; then
            printf '\n[serial_console]\nbase_url = %s\n' "$NOVA_SERIALPROXY_URL"
        fi
        if [ -n "${SCULPT_EXTRA_CONF:-}" ]; then
            printf '\n%s\n' "$SCULPT_EXTRA_CONF"
        fi
    } >"$dir/sculpt.conf"
}

consuming() {
    "$RABBITMQ_CTL" -q list_queues name consumers 2>/dev/null |
        grep -qE "^compute\.$host[[:space:]]+[1-9]"
}

write_client_env() {
    umask 077
    cat >"$envf.tmp" <<EOF
SCULPT_HOST=$host
SCULPT_CONF=$dir/sculpt.conf
SCULPT_PID=$(cat "$dir/sculpt-compute.pid")
SCULPT_LOG=$dir/sculpt-compute.log
SCULPT_API_URL=http://127.0.0.1:$(cat "$dir/api_port")
SCULPT_API_TOKEN=$(cat "$dir/api_token")
SCULPT_DASHBOARD=http://127.0.0.1:$(cat "$dir/api_port")/dashboard/#token=$(cat "$dir/api_token")
EOF
    [ -f "$dir/demo.env" ] && cat "$dir/demo.env" >>"$envf.tmp"
    mv "$envf.tmp" "$envf"
}

start() {
    need_env rabbitmq
    need_env nova
    mkdir -p "$dir/state"
    [ -f "$dir/host" ] || echo "${SCULPT_HOST:-$name-$(hostname -s)}" >"$dir/host"
    host=$(cat "$dir/host")
    write_conf
    if alive; then
        write_client_env
        say "already running (pid $(cat "$dir/sculpt-compute.pid"), host $host)"
        return 0
    fi
    [ -x "$bin/sculpt-compute" ] || die "no $bin/sculpt-compute (run make first)"
    "$bin/sculpt-compute" --config "$dir/sculpt.conf" --check-config >/dev/null 2>"$dir/check.log" ||
        { cat "$dir/check.log" >&2; die "sculpt.conf refused"; }
    setsid nohup "$bin/sculpt-compute" --config "$dir/sculpt.conf" >"$dir/sculpt-compute.out" 2>&1 </dev/null &
    echo $! >"$dir/sculpt-compute.pid"
    i=0
    until consuming; do
        alive || { tail -n 20 "$dir/sculpt-compute.log" "$dir/sculpt-compute.out" >&2 2>/dev/null; die "sculpt-compute exited"; }
        i=$((i + 1))
        [ $i -lt 240 ] || die "sculpt-compute did not register within 60 s (see $dir/sculpt-compute.log)"
        sleep 0.25
    done
    # Map the new host into Nova's cell, or the scheduler never picks it.
    # SCULPT_QUICK_START=1 (a test's restart of a host started before:
    # mapped, its image and flavors in place) skips that and the demo,
    # about 5 s of Python.
    quick=0
    [ "${SCULPT_QUICK_START:-0}" = 1 ] && [ -f "$dir/discover.log" ] && quick=1
    if [ $quick = 0 ]; then
        nova-manage --config-file "$NOVA_CONF" cell_v2 discover_hosts >"$dir/discover.log" 2>&1 ||
            { cat "$dir/discover.log" >&2; die "nova-manage cell_v2 discover_hosts failed"; }
    fi
    write_client_env
    say "running (pid $(cat "$dir/sculpt-compute.pid")) as Nova host $host, REST API http://127.0.0.1:$(cat "$dir/api_port")/"
    [ $quick = 1 ] || demo
    say "dashboard: http://127.0.0.1:$(cat "$dir/api_port")/dashboard/#token=$(cat "$dir/api_token")"
}

# The tiny guest in Glance, flavors, and demo servers.
demo() {
    guests=${SCULPT_DEMO_GUESTS:-2}
    build=$top/contrib/guest/build-tiny-guest.sh
    if [ ! -x "$build" ]; then
        say "no $build: no test image uploaded, no demo servers"
        return 0
    fi
    # built once, shared (a folder per version of the guest)
    guest_dir=$("$build" "${SCULPT_GUEST_DIR:-/var/cache/sculpt/tiny-guest}" 2>"$dir/guest-build.log") ||
        { tail -n 20 "$dir/guest-build.log" >&2; die "the tiny guest did not build"; }
    set -a
    . "$run/env/nova.env"
    set +a
    $PY "$here/nova-demo.py" --guest "$guest_dir" --host "$host" --servers "$guests" \
        --env "$dir/demo.env" || die "demo set-up failed"
    write_client_env
}

stop() {
    if alive; then
        pid=$(cat "$dir/sculpt-compute.pid")
        kill "$pid" 2>/dev/null || true
        i=0
        while alive && [ $i -lt 120 ]; do sleep 0.25; i=$((i + 1)); done
        if alive; then
            say "pid $pid ignored SIGTERM for 30 s: killing it"
            kill -9 "$pid" 2>/dev/null || true
        fi
        say "stopped (pid $pid)"
    else
        say "not running"
    fi
    rm -f "$envf"
}

status() {
    if alive; then
        echo "$name: running (pid $(cat "$dir/sculpt-compute.pid"), host $(cat "$dir/host"))"
        return 0
    fi
    echo "$name: not running"
    return 3
}

case "$action" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status RUN_DIR" >&2; exit 2 ;;
esac
