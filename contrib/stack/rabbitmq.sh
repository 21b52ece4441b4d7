#!/bin/sh
# A private RabbitMQ for sculpt and Nova: its own node name, ports, epmd,
# Erlang cookie and data, all under RUN_DIR/rabbitmq, listening on
# 127.0.0.1 only.  No systemd: the server is started by hand and stopped
# through rabbitmqctl and its PID.
#
#   contrib/stack/rabbitmq.sh start|stop|status RUN_DIR
#
# Ports: each node gets a block of 16 ports of its own -- AMQP, Erlang
# distribution, epmd and the range its rabbitmqctl calls listen on -- taken
# below the kernel's ephemeral range (net.ipv4.ip_local_port_range), so no
# outgoing connection on this machine can hold one of them while the node
# is down for a restart, and reserved under ${TMPDIR:-/tmp}/sculpt-rabbitmq-ports
# (a reservation lasts as long as its RUN_DIR/rabbitmq folder), so two
# nodes never share one.  RABBITMQ_PORT: the AMQP port -- a number, or `auto`
# for the block's; unset: 5672 when free, else the block's.  The chosen
# ports are kept in RUN_DIR/rabbitmq/ports, so a restart keeps the same URL;
# `stop` returns only once the node's process has exited (by its PID,
# SIGTERM after 10 s, SIGKILL 2 s later) and its ports are released.
# Writes RUN_DIR/env/rabbitmq.env:
#   RABBITMQ_URL=rabbit://nova:PASSWORD@127.0.0.1:PORT/   (oslo transport_url)
#   RABBITMQ_PORT, RABBITMQ_USER, RABBITMQ_PASSWORD, RABBITMQ_NODENAME
#   RABBITMQ_CTL=<wrapper running rabbitmqctl against this node>
set -eu
action=${1:-}
run=${2:-}
[ -n "$action" ] && [ -n "$run" ] || { echo "usage: $0 start|stop|status RUN_DIR" >&2; exit 2; }
mkdir -p "$run"
run=$(cd "$run" && pwd)
dir="$run/rabbitmq"
sbin=/usr/lib/rabbitmq/bin
. "$(dirname "$0")/lib/pid.sh"

# Free to listen on: another listener is what matters, not the TIME_WAIT
# connections a stopped broker leaves (RabbitMQ binds with SO_REUSEADDR).
port_free() {
    /usr/bin/python3 -c 'import socket,sys
for p in sys.argv[1:]:
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1",int(p))); s.listen(1); s.close()' "$@" 2>/dev/null
}

# Wait up to $1 tenths of a second for ports $2... to be free.
wait_ports_free() {
    n=$1; shift
    i=0
    until port_free "$@"; do
        i=$((i + 1))
        [ $i -lt "$n" ] || return 1
        sleep 0.1
    done
}

# Reserve a block of 16 ports below the ephemeral range for this RUN_DIR;
# prints "BASE".  Blocks whose owner's folder is gone are taken back.
reserve_block() {
    /usr/bin/python3 - "$dir" <<'EOPY'
import fcntl, os, random, socket, sys
owner = sys.argv[1]
root = os.path.join(os.environ.get('TMPDIR') or '/tmp', 'sculpt-rabbitmq-ports')
os.makedirs(root, exist_ok=True)
lo, hi = (int(x) for x in open('/proc/sys/net/ipv4/ip_local_port_range').read().split())
# Below the ephemeral range if there is room (16384 ports), else above it.
band = (max(1024, lo - 16384), lo) if lo - 16384 >= 1024 else (hi + 1, 65536)
blocks = (band[1] - band[0]) // 16
if blocks < 16:
    sys.exit('rabbitmq: no room for private ports outside ip_local_port_range %d-%d' % (lo, hi))

def free(base):
    for p in range(base, base + 16):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', p))
            s.listen(1)
        except OSError:
            return False
        finally:
            s.close()
    return True

with open(os.path.join(root, '.lock'), 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    for k in random.sample(range(blocks), blocks):
        base = band[0] + 16 * k
        entry = os.path.join(root, str(base))
        try:
            held = open(entry).read().strip()
        except OSError:
            held = ''
        if held and held != owner and os.path.exists(held):
            continue
        if not free(base):
            continue
        with open(entry, 'w') as f:
            f.write(owner + '\n')
        print(base)
        sys.exit(0)
sys.exit('rabbitmq: no free block of 16 ports in %d-%d' % band)
EOPY
}

# The environment every rabbitmq-server/rabbitmqctl call of this node needs
# (the /usr/sbin wrappers su to the rabbitmq user: wrong HOME and cookie).
write_env_sh() {
    sched=$(( $(nproc) / 2 ))
    [ "$sched" -ge 1 ] || sched=1
    cat >"$dir/env.sh" <<EOT
export HOME=$dir/home
export RABBITMQ_NODENAME=$node
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist
export ERL_EPMD_PORT=$epmd
export RABBITMQ_CTL_DIST_PORT_MIN=$ctl_min
export RABBITMQ_CTL_DIST_PORT_MAX=$ctl_max
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE=$dir/mnesia
export RABBITMQ_LOG_BASE=$dir/log
export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq
# Erlang's schedulers spin while idle by default; on a small host shared
# with the services around it that spinning takes CPU they need.  One
# scheduler per two cores (+S): the broker's work per message is a chain
# of Erlang processes (reader, channel, queue, writer) handing it on, and
# on a host whose cores the clients use too, hand-offs between schedulers
# cost more than they gain -- on 2 cores one scheduler spends ~25% less
# CPU per RPC call (bench-rpc) than two.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none +S $sched:$sched -kernel inet_dist_use_interface {127,0,0,1}"
# The distribution listeners (the node's and its CLI calls') on loopback too.
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOT
    cat >"$dir/rabbitmqctl" <<EOT
#!/bin/sh
. $dir/env.sh
exec $sbin/rabbitmqctl "\$@"
EOT
    chmod +x "$dir/rabbitmqctl"
}

ctl() { "$dir/rabbitmqctl" "$@"; }

running() {
    [ -f "$dir/rabbitmq.pid" ] || return 1
    pid=$(cat "$dir/rabbitmq.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # PID 1 here does not reap: a dead server may linger as a zombie.
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
    [ "$state" != Z ]
}

load_ports() {
    if [ -f "$dir/ports" ]; then
        . "$dir/ports"
        # ports files written before the blocks: no CLI range of their own
        ctl_min=${ctl_min:-35672}
        ctl_max=${ctl_max:-35682}
    else
        base=$(reserve_block)
        port=${RABBITMQ_PORT:-}
        case "$port" in
        auto) port=$base ;;
        '') if port_free 5672; then port=5672; else port=$base; fi ;;
        esac
        dist=$((base + 1))
        epmd=$((base + 2))
        ctl_min=$((base + 3))
        ctl_max=$((base + 15))
        node="sculpt$(echo "$run" | cksum | cut -d' ' -f1)@localhost"
        printf 'port=%s\ndist=%s\nepmd=%s\nctl_min=%s\nctl_max=%s\nnode=%s\n' \
            "$port" "$dist" "$epmd" "$ctl_min" "$ctl_max" "$node" >"$dir/ports.new"
        mv "$dir/ports.new" "$dir/ports"
    fi
}

start() {
    mkdir -p "$dir/home" "$dir/log" "$dir/mnesia" "$run/env"
    load_ports
    write_env_sh
    if running; then
        write_client_env
        echo "rabbitmq: already running (pid $(cat "$dir/rabbitmq.pid"), port $port)"
        return 0
    fi
    # A node stopped a moment ago may still be letting go of its ports.
    for p in $port $dist; do
        wait_ports_free 150 "$p" || {
            echo "rabbitmq: port $p is in use:" >&2
            ss -ltnp "sport = :$p" >&2 2>/dev/null || true
            exit 1
        }
    done
    echo '[].' >"$dir/enabled_plugins"
    # No listeners.tcp.* here: it would clash with RABBITMQ_NODE_IP_ADDRESS/PORT.
    cat >"$dir/rabbitmq.conf" <<EOT
loopback_users = none
log.file.level = info
EOT
    [ -f "$dir/password" ] || { umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"; }
    rm -f "$dir/rabbitmq.pid"
    (
        . "$dir/env.sh"
        setsid nohup "$sbin/rabbitmq-server" >"$dir/log/server.out" 2>&1 </dev/null &
    )
    sleep 1
    if ! ctl wait --timeout 120 "$dir/rabbitmq.pid" >/dev/null 2>&1; then
        echo "rabbitmq: did not start; last lines of $dir/log/server.out:" >&2
        tail -n 20 "$dir/log/server.out" >&2
        stop >/dev/null 2>&1 || true
        exit 1
    fi
    pass=$(cat "$dir/password")
    if ! ctl -q list_users 2>/dev/null | grep -q '^nova'; then
        ctl -q add_user nova "$pass" >/dev/null
        ctl -q set_permissions -p / nova '.*' '.*' '.*' >/dev/null
        ctl -q set_user_tags nova administrator >/dev/null
        ctl -q delete_user guest >/dev/null 2>&1 || true
    fi
    write_client_env
    echo "rabbitmq: running (pid $(cat "$dir/rabbitmq.pid"), amqp 127.0.0.1:$port)"
}

write_client_env() {
    pass=$(cat "$dir/password")
    cat >"$run/env/rabbitmq.env" <<EOT
RABBITMQ_URL=rabbit://nova:$pass@127.0.0.1:$port/
RABBITMQ_PORT=$port
RABBITMQ_USER=nova
RABBITMQ_PASSWORD=$pass
RABBITMQ_NODENAME=$node
RABBITMQ_CTL=$dir/rabbitmqctl
EOT
}

stop() {
    [ -f "$dir/ports" ] || { echo "rabbitmq: not running"; return 0; }
    load_ports
    write_env_sh
    how="" gone=yes
    if running; then
        pid=$(cat "$dir/rabbitmq.pid")
        pid_t0=$(date +%s%N)
        ctl -q stop >/dev/null 2>&1 || true
        # Waited for by PID: the node removes its pid file and closes its
        # ports seconds before its beam.smp has exited.
        pid_stop rabbitmq "$pid" -:10 TERM:2 KILL:5 || gone=no
        how=" ($pid_report)"
    fi
    rm -f "$dir/rabbitmq.pid"
    # The node's own epmd goes with it (it refuses while it still counts
    # the node as alive, for a moment after the node exits).
    i=0
    until port_free "$epmd"; do
        (. "$dir/env.sh"; epmd -port "$epmd" -kill >/dev/null 2>&1) || true
        i=$((i + 1))
        [ $i -lt 50 ] || break
        sleep 0.1
    done
    # Return once the listeners are gone, so a start right after can bind.
    wait_ports_free 100 "$port" "$dist" "$epmd" ||
        echo "rabbitmq: stopped, but one of ports $port $dist $epmd is still in use" >&2
    [ "$gone" = yes ] || { echo "rabbitmq: not stopped: $pid_report" >&2; return 1; }
    echo "rabbitmq: stopped$how"
}

status() {
    [ -f "$dir/ports" ] || { echo "rabbitmq: not running"; return 1; }
    load_ports
    if running; then
        echo "rabbitmq: running (pid $(cat "$dir/rabbitmq.pid"), amqp 127.0.0.1:$port)"
    else
        echo "rabbitmq: not running"
        return 1
    fi
}

case "$action" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status RUN_DIR" >&2; exit 2 ;;
esac
