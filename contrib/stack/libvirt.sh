#!/bin/sh
# A private libvirtd + virtlogd for sculpt, started by hand (no systemd).
#
#   contrib/stack/libvirt.sh start|stop|restart|status RUN_DIR
#
# Everything lives under RUN_DIR/libvirt/.  The daemons run in their own
# mount namespace where RUN_DIR/libvirt/{etc,run,lib,cache,log} are bind-
# mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt and /var/log/libvirt: their sockets, domain
# definitions, state and logs are private, the system's are never touched,
# and several instances (make run, each test run, CI) coexist on one host.
# Clients reach it through a unix socket:
#   qemu:///system?socket=RUN_DIR/libvirt/run/libvirt-sock
# written to RUN_DIR/env/libvirt.env as LIBVIRT_URI (and LIBVIRT_DEFAULT_URI
# for virsh).  With SCULPT_LIBVIRT_TCP_PORT=N at the first start it also
# listens on 127.0.0.1:N without authentication (kept across restarts;
# LIBVIRT_TCP_URI in the env file): the way another private libvirtd
# reaches it for a live migration (peer to peer), which libvirt refuses
# over a unix socket.  Loopback only, and only for tests: anyone on the
# machine may then drive it.  `restart` restarts libvirtd alone (guests keep running, as
# after a libvirtd crash); `stop` destroys this daemon's guests, then stops
# both daemons by PID.  Every action is idempotent.
#
# Host-wide needs (done once, as root): the libvirt-qemu user and group
# (libvirt's qemu driver resolves them before reading qemu.conf).  QEMU runs
# as root (qemu.conf in the private /etc/libvirt) so it reads images and
# disks anywhere.  Kernels without sch_sfq / cls_fw / act_police make
# libvirt's interface bandwidth fail: a `tc` shim in libvirtd's PATH runs
# the real tc and forgives only those sub-commands when the kernel refuses
# them (logged in RUN_DIR/libvirt/log/tc-shim.log; the htb rate limit into
# the guest still applies, the police filter on traffic from the guest
# does not).
set -eu

action=${1:-}
run=${2:-}
case "$action" in start|stop|restart|status) ;; *)
    echo "usage: $0 start|stop|restart|status RUN_DIR" >&2; exit 2 ;;
esac
[ -n "$run" ] || { echo "$0: RUN_DIR missing" >&2; exit 2; }
mkdir -p "$run"
run=$(cd "$run" && pwd)
. "$(dirname "$0")/lib/pid.sh"
stop_failed=0
top="$run/libvirt"
sock="$top/run/libvirt-sock"
uri="qemu:///system?socket=$sock"
lpid="$top/libvirtd.pid"
vpid="$top/virtlogd.pid"
# the QEMU capabilities libvirt probes at first start (~5 s) are cached
# machine-wide and copied into each private cache
caps_seed=${SCULPT_LIBVIRT_CAPS_CACHE:-/var/cache/sculpt/libvirt-qemu-capabilities}

alive() { # PIDFILE -> is the process alive?
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

answers() {
    virsh -q -c "$uri" version >/dev/null 2>&1
}

wait_answer() { # SECONDS
    i=0
    while [ $i -lt $(($1 * 10)) ]; do
        answers && return 0
        alive "$lpid" || return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

write_config() {
    mkdir -p "$top/etc/qemu" "$top/run" "$top/lib" "$top/cache/qemu" "$top/log" "$top/shim" \
        "$run/env"
    # a host uuid of its own, kept across restarts: libvirt refuses a live
    # migration between daemons of one uuid (the machine's) as "to the same
    # host", and each private libvirtd stands for a host
    [ -s "$top/host_uuid" ] || cat /proc/sys/kernel/random/uuid >"$top/host_uuid"
    host_uuid=$(cat "$top/host_uuid")
    [ -n "${SCULPT_LIBVIRT_TCP_PORT:-}" ] && [ ! -s "$top/tcp_port" ] &&
        echo "$SCULPT_LIBVIRT_TCP_PORT" >"$top/tcp_port"
    tcp_port=$(cat "$top/tcp_port" 2>/dev/null || true)
    listen_tcp=0
    [ -z "$tcp_port" ] || listen_tcp=1
    cat >"$top/etc/libvirtd.conf" <<EOF
# private libvirtd of $run (contrib/stack/libvirt.sh)
listen_tls = 0
listen_tcp = $listen_tcp
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
keepalive_interval = 5
keepalive_count = 5
host_uuid = "$host_uuid"
EOF
    if [ -n "$tcp_port" ]; then
        printf 'listen_addr = "127.0.0.1"\ntcp_port = "%s"\nauth_tcp = "none"\n' \
            "$tcp_port" >>"$top/etc/libvirtd.conf"
    fi
    # VNC displays from a block of 100 ports of this daemon's own (from its
    # host uuid, so a restart keeps it): each libvirtd checks only that a
    # port is free when it picks it, and two private daemons starting
    # guests at once (tests in parallel) picked the same one, the second
    # QEMU failing "Failed to find an available port" (ci25a)
    vnc_min=$((5900 + $(printf '%s' "$host_uuid" | cksum | cut -d' ' -f1) % 200 * 100))
    cat >"$top/etc/qemu.conf" <<EOF
# QEMU runs as root: images, overlays and console logs may live anywhere
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "logd"
remote_display_port_min = $vnc_min
remote_display_port_max = $((vnc_min + 99))
EOF
    printf 'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"\n' >"$top/etc/virtlogd.conf"
    cat >"$top/shim/tc" <<EOF
#!/bin/sh
# tc for libvirtd: the real one, except that the sfq leaf, the fw filter
# and the police action are forgiven when this kernel lacks them.
out=\$(/usr/sbin/tc "\$@" 2>&1) && { [ -n "\$out" ] && printf '%s\n' "\$out"; exit 0; }
rc=\$?
case " \$* " in
*" sfq "*|*" police "*|*" fw "*)
    echo "\$(date -u +%FT%TZ) forgiven: tc \$* (\$out)" >>"$top/log/tc-shim.log"
    exit 0 ;;
esac
printf '%s\n' "\$out" >&2
exit \$rc
EOF
    chmod 755 "$top/shim/tc"
}

host_setup() {
    if ! getent group libvirt-qemu >/dev/null; then
        groupadd -r libvirt-qemu
    fi
    if ! getent passwd libvirt-qemu >/dev/null; then
        useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
    fi
}

# Run "$@" inside the daemons' namespace: enter virtlogd's when it runs,
# else make a new one with the private mounts.
in_namespace() {
    if alive "$vpid"; then
        nsenter -t "$(cat "$vpid")" -m -- "$@"
    else
        unshare --mount --propagation private -- sh -c '
            top=$1; shift
            mount --bind "$top/etc" /etc/libvirt
            mount --bind "$top/run" /run/libvirt
            mount --bind "$top/lib" /var/lib/libvirt
            mount --bind "$top/cache" /var/cache/libvirt
            mount --bind "$top/log" /var/log/libvirt
            exec "$@"' sh "$top" "$@"
    fi
}

start_daemons() {
    # daemons must not keep the caller's descriptors (pipes, FIFOs) open
    for fd in 3 4 5 6 7 8 9; do eval "exec $fd>&-"; done
    # the mount points must exist on the host
    mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
    if ! alive "$vpid"; then
        in_namespace /usr/sbin/virtlogd --daemon --pid-file "$vpid"
        i=0
        while ! alive "$vpid" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        alive "$vpid" || { echo "libvirt.sh: virtlogd did not start" >&2; exit 1; }
    fi
    if ! alive "$lpid"; then
        if [ -d "$caps_seed" ] && [ -z "$(ls -A "$top/cache/qemu/capabilities" 2>/dev/null)" ]; then
            mkdir -p "$top/cache/qemu/capabilities"
            cp -p "$caps_seed"/*.xml "$top/cache/qemu/capabilities/" 2>/dev/null || true
        fi
        rm -f "$lpid"
        in_namespace env PATH="$top/shim:/usr/sbin:/usr/bin:/sbin:/bin" \
            /usr/sbin/libvirtd --daemon ${tcp_port:+--listen} --pid-file "$lpid" \
            --config /etc/libvirt/libvirtd.conf
        i=0
        while [ ! -s "$lpid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    if ! wait_answer 90; then
        echo "libvirt.sh: libvirtd did not answer on $sock; its log:" >&2
        tail -n 20 "$top/log/libvirtd.log" >&2 2>/dev/null || true
        exit 1
    fi
    if [ ! -d "$caps_seed" ] && [ -n "$(ls -A "$top/cache/qemu/capabilities" 2>/dev/null)" ]; then
        mkdir -p "$caps_seed.tmp.$$" &&
            cp -p "$top/cache/qemu/capabilities"/*.xml "$caps_seed.tmp.$$/" &&
            mv -T "$caps_seed.tmp.$$" "$caps_seed" 2>/dev/null || rm -rf "$caps_seed.tmp.$$"
    fi
}

write_env() {
    # /dev/kvm alone is not enough: nested hosts without vmx/svm offer it,
    # and guests then hang or abort
    virt=qemu
    [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
        grep -qwE 'vmx|svm' /proc/cpuinfo && virt=kvm
    cat >"$run/env/libvirt.env.tmp" <<EOF
LIBVIRT_URI=$uri
LIBVIRT_DEFAULT_URI=$uri
LIBVIRT_DIR=$top
LIBVIRT_LOG=$top/log/libvirtd.log
LIBVIRT_HOST_VIRT_TYPE=$virt
EOF
    [ -n "$tcp_port" ] &&
        echo "LIBVIRT_TCP_URI=qemu+tcp://127.0.0.1:$tcp_port/system" >>"$run/env/libvirt.env.tmp"
    mv "$run/env/libvirt.env.tmp" "$run/env/libvirt.env"
}

# SIGTERM, SIGKILL after 10 s; waits (bounded) until the process is gone
# (kill -0 would count a zombie PID 1 has not reaped) and says how it went.
stop_pid() { # PIDFILE NAME
    alive "$1" || { rm -f "$1"; return 0; }
    pid=$(cat "$1")
    if pid_stop "libvirt.sh: $2" "$pid" TERM:10 KILL:5; then
        echo "libvirt: $2 stopped ($pid_report)"
    else
        echo "libvirt.sh: $2 not stopped: $pid_report" >&2
        stop_failed=1
    fi
    rm -f "$1"
}

case "$action" in
start)
    if [ "$(id -u)" != 0 ]; then
        echo "libvirt.sh: libvirtd for QEMU guests runs as root here" >&2
        exit 1
    fi
    host_setup
    write_config
    start_daemons
    write_env
    echo "libvirt: $uri (libvirtd $(cat "$lpid"), virtlogd $(cat "$vpid"))"
    ;;
restart)
    stop_pid "$lpid" libvirtd
    "$0" start "$run"
    ;;
stop)
    if alive "$lpid" && answers; then
        for d in $(virsh -q -c "$uri" list --name 2>/dev/null); do
            virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true
        done
    fi
    # QEMUs left by a libvirtd that died: the ones in this namespace
    ns=""
    alive "$vpid" && ns=$(readlink "/proc/$(cat "$vpid")/ns/mnt" 2>/dev/null || true)
    stop_pid "$lpid" libvirtd
    if [ -n "$ns" ]; then
        for p in /proc/[0-9]*; do
            case "$(cat "$p/comm" 2>/dev/null)" in qemu-system-*) ;; *) continue ;; esac
            [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
            if pid_stop "libvirt.sh: QEMU" "${p#/proc/}" KILL:5; then
                echo "libvirt: QEMU left by libvirtd killed ($pid_report)"
            else
                echo "libvirt.sh: QEMU not stopped: $pid_report" >&2
                stop_failed=1
            fi
        done
    fi
    stop_pid "$vpid" virtlogd
    rm -f "$run/env/libvirt.env"
    [ "$stop_failed" = 0 ] || exit 1
    ;;
status)
    if alive "$lpid" && answers; then
        n=$(virsh -q -c "$uri" list --name 2>/dev/null | grep -c . || true)
        echo "libvirt: running, $uri, libvirtd $(cat "$lpid"), $n guests running"
        exit 0
    fi
    echo "libvirt: stopped"
    exit 3
    ;;
esac
