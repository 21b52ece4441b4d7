#!/bin/sh
# A private PostgreSQL 15 cluster for sculpt, under RUN_DIR/postgres:
#   data/  the cluster (initdb on first start)     sock/  its unix socket
#   log/   the server log                           password, port
# It listens on 127.0.0.1 at a port free when the cluster was made (kept
# across restarts) and on the unix socket.  Role `sculpt` (password auth,
# CREATEDB for the tests' scratch databases) owns database `sculpt`.
# Clients read RUN_DIR/env/postgres.env:
#   SCULPT_DB_URL=postgresql://sculpt:PASSWORD@127.0.0.1:PORT/sculpt
#   SCULPT_DB_PORT=PORT  SCULPT_DB_PID=PID  SCULPT_DB_SOCKET_DIR=DIR
# As root, the server runs as the `postgres` user (PostgreSQL refuses
# root).  Stopped by the PID it recorded; every action is idempotent.
#
#   contrib/stack/postgres.sh start|stop|status RUN_DIR
set -eu

usage() {
    echo "usage: $0 start|stop|status RUN_DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
run=$(cd "$2" && pwd)
dir=$run/postgres
data=$dir/data
env_file=$run/env/postgres.env
bindir=${SCULPT_PG_BINDIR:-/usr/lib/postgresql/15/bin}
. "$(dirname "$0")/lib/pid.sh"

say() { echo "postgres: $*" >&2; }
die() { say "$*"; exit 1; }

# Run a server binary as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Whether PID runs (a zombie left to a PID 1 that does not reap is dead).
pid_alive() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null || echo Z)
    [ "$state" != Z ]
}

# The postmaster's PID when it is alive, else nothing.
server_pid() {
    [ -f "$data/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    pid_alive "$pid" && echo "$pid"
    return 0
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

write_env() {
    pid=$1
    mkdir -p "$run/env"
    umask 077
    cat >"$env_file.tmp" <<EOF
SCULPT_DB_URL=postgresql://sculpt:$(cat "$dir/password")@127.0.0.1:$(cat "$dir/port")/sculpt
SCULPT_DB_PORT=$(cat "$dir/port")
SCULPT_DB_PID=$pid
SCULPT_DB_SOCKET_DIR=$dir/sock
EOF
    mv "$env_file.tmp" "$env_file"
}

make_cluster() {
    [ -x "$bindir/initdb" ] || die "no PostgreSQL 15 in $bindir (install postgresql-15: contrib/install-deps.sh db)"
    rm -rf "$data"
    mkdir -p "$dir/sock" "$dir/log"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "no \`postgres\` user to run the server as"
        # The server must reach its folder: RUN_DIR is ours to open up.
        chmod a+x "$run"
        chown postgres "$dir" "$dir/sock" "$dir/log"
        runuser -u postgres -- test -w "$dir" ||
            die "user postgres cannot write $dir: make the folders above it traversable (chmod a+x)"
    fi
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/password"
    chmod 600 "$dir/password"
    free_port >"$dir/port"
    as_owner "$bindir/initdb" -D "$data" -U postgres --auth-local=peer \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/log/initdb.log" 2>&1 ||
        { cat "$dir/log/initdb.log" >&2; die "initdb failed"; }
    as_owner sh -c "cat >>'$data/postgresql.conf'" <<EOF

# sculpt's private cluster (contrib/stack/postgres.sh)
listen_addresses = '127.0.0.1'
port = $(cat "$dir/port")
unix_socket_directories = '$dir/sock'
max_connections = 60
shared_buffers = 64MB
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

psql_admin() {
    as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$(cat "$dir/port")" \
        -U postgres -d postgres "$@"
}

start() {
    pid=$(server_pid)
    if [ -n "$pid" ]; then
        write_env "$pid"
        say "already running (pid $pid, port $(cat "$dir/port"))"
        return 0
    fi
    fresh=0
    if [ ! -f "$data/PG_VERSION" ]; then
        make_cluster
        fresh=1
    fi
    # A server killed hard leaves its lock file behind.
    rm -f "$data/postmaster.pid"
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/log/postgres.log" -w -t 60 -s start ||
        { tail -n 20 "$dir/log/postgres.log" >&2; die "the server did not start"; }
    if [ $fresh = 1 ]; then
        psql_admin -v pw="$(cat "$dir/password")" <<'EOF'
CREATE ROLE sculpt LOGIN CREATEDB PASSWORD :'pw';
CREATE DATABASE sculpt OWNER sculpt;
EOF
    fi
    pid=$(server_pid)
    [ -n "$pid" ] || die "the server exited right after starting; see $dir/log/postgres.log"
    write_env "$pid"
    say "running (pid $pid, 127.0.0.1:$(cat "$dir/port"), socket $dir/sock)"
}

stop() {
    pid=$(server_pid)
    rm -f "$env_file"
    if [ -z "$pid" ]; then
        say "not running"
        return 0
    fi
    # SIGINT is PostgreSQL's fast shutdown (abort sessions, checkpoint,
    # exit), SIGQUIT its immediate one.  The lock file goes before the
    # process does: wait for the process.
    pid_stop postgres "$pid" INT:30 QUIT:10 KILL:5 || die "not stopped: $pid_report"
    say "stopped ($pid_report)"
}

status() {
    pid=$(server_pid)
    if [ -n "$pid" ]; then
        echo "postgres: running (pid $pid, port $(cat "$dir/port"))"
        return 0
    fi
    echo "postgres: not running"
    return 3
}

case "$action" in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
