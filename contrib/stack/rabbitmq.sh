#!/bin/sh
# A private RabbitMQ for sculpt and Nova: its own node name, ports, epmd,
# Erlang cookie and data, all under RUN_DIR/rabbitmq, listening on
# 127.0.0.1 only.  No systemd: the server is started by hand and stopped
# through rabbitmqctl and its PID.
#
#   contrib/stack/rabbitmq.sh start|stop|status RUN_DIR
#
# Ports: RABBITMQ_PORT (AMQP, default 5672 when free, else any free port);
# the Erlang distribution and epmd ports are picked free.  Chosen ports are
# kept in RUN_DIR/rabbitmq/ports, so a restart keeps the same URL.
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

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# Free to listen on: another listener is what matters, not the TIME_WAIT
# connections a stopped broker leaves (RabbitMQ binds with SO_REUSEADDR).
port_free() {
    /usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(1)' "$1" 2>/dev/null
}

# The environment every rabbitmq-server/rabbitmqctl call of this node needs
# (the /usr/sbin wrappers su to the rabbitmq user: wrong HOME and cookie).
write_env_sh() {
    cat >"$dir/env.sh" <<EOT
export HOME=$dir/home
export RABBITMQ_NODENAME=$node
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist
export ERL_EPMD_PORT=$epmd
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE=$dir/mnesia
export RABBITMQ_LOG_BASE=$dir/log
export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq
# Erlang's schedulers spin while idle by default; on a small host shared
# with the services around it that spinning takes CPU they need.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
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
    else
        port=${RABBITMQ_PORT:-}
        if [ -z "$port" ]; then
            if port_free 5672; then port=5672; else port=$(free_port); fi
        fi
        dist=$(free_port)
        epmd=$(free_port)
        node="sculpt$(echo "$run" | cksum | cut -d' ' -f1)@localhost"
        printf 'port=%s\ndist=%s\nepmd=%s\nnode=%s\n' "$port" "$dist" "$epmd" "$node" >"$dir/ports"
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
    for p in $port $dist; do
        port_free "$p" || { echo "rabbitmq: port $p is in use" >&2; exit 1; }
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
    if running; then
        pid=$(cat "$dir/rabbitmq.pid")
        ctl -q stop >/dev/null 2>&1 || true
        i=0
        while running && [ $i -lt 40 ]; do sleep 0.25; i=$((i + 1)); done
        if running; then kill "$pid" 2>/dev/null || true; sleep 1; fi
        if running; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    # The wrapper shell started by setsid, if still there.
    (. "$dir/env.sh"; epmd -port "$epmd" -kill >/dev/null 2>&1) || true
    rm -f "$dir/rabbitmq.pid"
    echo "rabbitmq: stopped"
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
