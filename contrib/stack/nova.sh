#!/bin/sh
# A minimal real OpenStack Zed control plane, DevStack-like, from Debian 12
# packages: Keystone, Placement, Glance, nova-api, nova-conductor,
# nova-scheduler, nova-novncproxy (VNC consoles) and nova-serialproxy (serial
# consoles) on the private PostgreSQL and RabbitMQ (contrib/stack/
# postgres.sh and rabbitmq.sh, started first), plus a stand-in for Neutron
# (contrib/stack/fake-neutron.py: servers boot with --nic none, but
# `server show` and tempest still ask Neutron for ports).  No compute: that
# is sculpt-compute (contrib/stack/sculpt.sh).
#
#   contrib/stack/nova.sh start|stop|status RUN_DIR
#
# Everything lives in RUN_DIR/nova (etc/, log/, state, pid files), listens
# on 127.0.0.1 at ports picked free on the first start and kept after.  The
# first start creates the databases and bootstraps Keystone (~1.5 min);
# later starts only start the services.  No systemd: services are started
# with setsid and stopped by PID.
#
# Writes RUN_DIR/env/nova.env:
#   OS_AUTH_URL OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_USER_DOMAIN_NAME
#   OS_PROJECT_DOMAIN_NAME OS_REGION_NAME OS_IDENTITY_API_VERSION (admin creds)
#   NOVA_KEYSTONE_URL NOVA_PLACEMENT_URL NOVA_GLANCE_URL NOVA_API_URL
#   NOVA_NEUTRON_URL NOVA_NOVNCPROXY_URL (nova-novncproxy's page) NOVA_CONF (the control plane's nova.conf, for nova-manage)
#   NOVA_SERIALPROXY_URL (nova-serialproxy's WebSocket, the computes' [serial_console] base_url)
#   NOVA_ADMIN_PASSWORD
set -eu
action=${1:-}
run=${2:-}
[ -n "$action" ] && [ -n "$run" ] || { echo "usage: $0 start|stop|status RUN_DIR" >&2; exit 2; }
mkdir -p "$run"
run=$(cd "$run" && pwd)
dir=$run/nova
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # Debian's: the OpenStack libraries live in its dist-packages
services="keystone placement glance-api fake-neutron nova-api nova-conductor nova-scheduler
    nova-novncproxy nova-serialproxy"

say() { echo "nova: $*" >&2; }
die() { say "$*"; exit 1; }

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# PID of a service when alive (a zombie counts as dead: PID 1 here does not reap).
alive() {
    f=$dir/run/$1.pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    st=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null || echo Z)
    [ "$st" != Z ]
}

waitfor() { # SECONDS WHAT CMD...
    n=$(($1 * 4)); what=$2; shift 2
    i=0
    while [ $i -lt $n ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
        i=$((i + 1))
    done
    die "timed out waiting for $what"
}

http_ok() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" | grep -q "^$2"; }

# OpenStack's command-line tools print an eventlet traceback at exit.
quiet() {
    log=$dir/log/setup.log
    echo "+ $*" >>"$log"
    "$@" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "failed: $*"; }
}

load_env() {
    [ -f "$run/env/postgres.env" ] || die "PostgreSQL is not running (contrib/stack/postgres.sh start $run)"
    [ -f "$run/env/rabbitmq.env" ] || die "RabbitMQ is not running (contrib/stack/rabbitmq.sh start $run)"
    . "$run/env/postgres.env"
    . "$run/env/rabbitmq.env"
    # postgresql://USER:PASS@HOST:PORT/DB -> SQLAlchemy's form, per database
    pg_base=$(echo "$SCULPT_DB_URL" | sed 's|^postgresql://|postgresql+psycopg2://|; s|/[^/]*$||')
}

load_ports() {
    if [ ! -f "$dir/ports" ]; then
        {
            echo "ks=$(free_port)"
            echo "pl=$(free_port)"
            echo "gl=$(free_port)"
            echo "ne=$(free_port)"
            echo "nv=$(free_port)"
        } >"$dir/ports"
    fi
    . "$dir/ports"
    # (a RUN_DIR from before nova-novncproxy was started gets its port now)
    [ -n "${vp:-}" ] || { echo "vp=$(free_port)" >>"$dir/ports" && . "$dir/ports"; }
    [ -n "${sp:-}" ] || { echo "sp=$(free_port)" >>"$dir/ports" && . "$dir/ports"; }
    KS=http://127.0.0.1:$ks
}

authsec() { # SECTION: the password auth lines every service uses
    cat <<EOF
[$1]
auth_url = $KS/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = admin
username = admin
password = $adminpw
region_name = RegionOne
EOF
}

ksauth() {
    authsec keystone_authtoken
    echo "www_authenticate_uri = $KS/v3"
    echo "service_token_roles_required = true"
    echo "service_token_roles = admin"
}

write_configs() {
    e=$dir/etc
    mkdir -p "$e/keystone" "$e/placement" "$e/nova" "$e/glance"
    cat >"$e/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $dir/log/keystone.log
[database]
connection = $pg_base/keystone
max_pool_size = 4
max_overflow = 4
[identity]
# bcrypt's least: every token asked for by password (each openstack CLI
# call, each service's login) costs 0.3 s of a core at the default 12
# rounds, on a loopback stack whose passwords are throwaway
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/keystone/fernet-keys
[credential]
key_repository = $dir/keystone/credential-keys
EOF
    {
        cat <<EOF
[DEFAULT]
log_file = $dir/log/placement.log
[api]
auth_strategy = keystone
[placement_database]
connection = $pg_base/placement
max_pool_size = 4
max_overflow = 4
EOF
        ksauth
    } >"$e/placement/placement.conf"
    {
        cat <<EOF
[DEFAULT]
transport_url = $RABBITMQ_URL
state_path = $dir/state
my_ip = 127.0.0.1
debug = false
# sculpt resizes guests in place, on their own host
allow_resize_to_same_host = True
[api]
auth_strategy = keystone
[api_database]
connection = $pg_base/nova_api
max_pool_size = 4
max_overflow = 4
[database]
connection = $pg_base/nova
max_pool_size = 4
max_overflow = 4
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[oslo_concurrency]
lock_path = $dir/state/lock
[oslo_messaging_notifications]
driver = noop
[vnc]
# nova-novncproxy's: the computes' [vnc] options are in their own conf
novncproxy_host = 127.0.0.1
novncproxy_port = $vp
# (noVNC's page that connects at once; Zed's help says so for noVNC >= 1.0)
novncproxy_base_url = http://127.0.0.1:$vp/vnc_lite.html
[serial_console]
# nova-serialproxy's: the computes' [serial_console] options are in their own conf
serialproxy_host = 127.0.0.1
serialproxy_port = $sp
[glance]
api_servers = http://127.0.0.1:$gl
EOF
        ksauth
        authsec placement
        authsec service_user
        echo "send_service_user_token = true"
        authsec neutron
        echo "endpoint_override = http://127.0.0.1:$ne"
    } >"$e/nova/nova.conf"
    cp /etc/nova/api-paste.ini "$e/nova/"
    {
        cat <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $gl
workers = 1
log_file = $dir/log/glance-api.log
[database]
connection = $pg_base/glance
max_pool_size = 4
max_overflow = 4
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $dir/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $dir/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $dir/glance/tasks
EOF
        ksauth
    } >"$e/glance/glance-api.conf"
}

# uwsgi with `Connection: close`: keystoneauth otherwise reuses half-closed
# keep-alive connections and fails at random (recipe, gotcha 1).
start_uwsgi() { # NAME PORT WSGI-FILE PROCESSES [ENV=VALUE]
    name=$1 port=$2 wsgi=$3 procs=$4
    shift 4
    env "$@" setsid nohup uwsgi --plugin python3 --http-socket "127.0.0.1:$port" \
        --wsgi-file "$wsgi" --master --processes "$procs" --threads 1 --enable-threads \
        --die-on-term --lazy-apps --buffer-size 65535 --add-header "Connection: close" \
        --pidfile "$dir/run/$name.pid" >"$dir/log/$name-uwsgi.log" 2>&1 </dev/null &
}

start_daemon() { # NAME CMD...
    name=$1
    shift
    setsid nohup "$@" >"$dir/log/$name.out" 2>&1 </dev/null &
    echo $! >"$dir/run/$name.pid"
}

create_databases() {
    for db in keystone placement nova_api nova nova_cell0 glance; do
        exists=$(PGPASSWORD=$(echo "$SCULPT_DB_URL" | sed 's|^postgresql://[^:]*:\([^@]*\)@.*|\1|') \
            psql -X -q -t -A -h 127.0.0.1 -p "$SCULPT_DB_PORT" -U sculpt -d sculpt \
            -c "select 1 from pg_database where datname = '$db'")
        if [ "$exists" != 1 ]; then
            PGPASSWORD=$(echo "$SCULPT_DB_URL" | sed 's|^postgresql://[^:]*:\([^@]*\)@.*|\1|') \
                psql -X -q -h 127.0.0.1 -p "$SCULPT_DB_PORT" -U sculpt -d sculpt \
                -c "create database $db" >/dev/null
        fi
    done
}

bootstrap_keystone() {
    KC="--config-file $dir/etc/keystone/keystone.conf"
    quiet keystone-manage $KC db_sync
    quiet keystone-manage $KC fernet_setup --keystone-user root --keystone-group root
    quiet keystone-manage $KC credential_setup --keystone-user root --keystone-group root
    quiet keystone-manage $KC bootstrap --bootstrap-password "$adminpw" \
        --bootstrap-region-id RegionOne --bootstrap-admin-url "$KS/v3/" \
        --bootstrap-internal-url "$KS/v3/" --bootstrap-public-url "$KS/v3/"
}

# Services and endpoints in one Python process: each `openstack` command
# costs seconds on two cores.
register_endpoints() {
    quiet $PY - "$KS/v3" "$adminpw" "$pl" "$nv" "$gl" "$ne" <<'EOF'
import sys
from keystoneauth1.identity import v3
from keystoneauth1 import session
from keystoneclient.v3 import client
url, pw, pl, nv, gl, ne = sys.argv[1:]
ks = client.Client(session=session.Session(auth=v3.Password(
    auth_url=url, username='admin', password=pw, project_name='admin',
    user_domain_name='Default', project_domain_name='Default')))
for name, typ, ep in [('placement', 'placement', 'http://127.0.0.1:%s' % pl),
                      ('nova', 'compute', 'http://127.0.0.1:%s/v2.1' % nv),
                      ('glance', 'image', 'http://127.0.0.1:%s' % gl),
                      ('neutron', 'network', 'http://127.0.0.1:%s' % ne)]:
    svc = ks.services.create(name=name, type=typ)
    for itf in ('public', 'internal', 'admin'):
        ks.endpoints.create(service=svc, url=ep, interface=itf, region='RegionOne')
for role in ('member', 'reader'):
    if not ks.roles.list(name=role):
        ks.roles.create(name=role)
EOF
}

write_client_env() {
    umask 077
    cat >"$run/env/nova.env.tmp" <<EOF
OS_AUTH_URL=$KS/v3
OS_USERNAME=admin
OS_PASSWORD=$adminpw
OS_PROJECT_NAME=admin
OS_USER_DOMAIN_NAME=Default
OS_PROJECT_DOMAIN_NAME=Default
OS_REGION_NAME=RegionOne
OS_IDENTITY_API_VERSION=3
NOVA_ADMIN_PASSWORD=$adminpw
NOVA_KEYSTONE_URL=$KS/v3
NOVA_PLACEMENT_URL=http://127.0.0.1:$pl
NOVA_GLANCE_URL=http://127.0.0.1:$gl
NOVA_API_URL=http://127.0.0.1:$nv/v2.1
NOVA_NEUTRON_URL=http://127.0.0.1:$ne
NOVA_NOVNCPROXY_URL=http://127.0.0.1:$vp/vnc_lite.html
NOVA_SERIALPROXY_URL=ws://127.0.0.1:$sp/
NOVA_CONF=$dir/etc/nova/nova.conf
EOF
    mv "$run/env/nova.env.tmp" "$run/env/nova.env"
}

queue_consumed() { # QUEUE
    . "$run/env/rabbitmq.env"
    "$RABBITMQ_CTL" -q list_queues name consumers 2>/dev/null | grep -qE "^$1[[:space:]]+[1-9]"
}

start() {
    mkdir -p "$dir/run" "$dir/log" "$dir/state/lock" "$dir/keystone/fernet-keys" \
        "$dir/keystone/credential-keys" "$dir/glance/images" "$dir/glance/staging" \
        "$dir/glance/tasks"
    load_env
    load_ports
    [ -f "$dir/admin_password" ] || { umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$dir/admin_password"; }
    adminpw=$(cat "$dir/admin_password")
    write_configs
    fresh=0
    [ -f "$dir/bootstrapped" ] || fresh=1
    NC="--config-file $dir/etc/nova/nova.conf"

    if [ $fresh = 1 ]; then
        say "first start: databases and Keystone bootstrap (about a minute)"
        : >"$dir/log/setup.log"
        create_databases
        bootstrap_keystone
    fi
    if [ $fresh = 1 ]; then
        # Placement's and Glance's schemas are made while Nova's are: each
        # is a Python process of its own, one after another they took
        # twice the time on two cores
        (quiet placement-manage --config-file "$dir/etc/placement/placement.conf" db sync) &
        placement_sync=$!
        (quiet glance-manage --config-file "$dir/etc/glance/glance-api.conf" db_sync) &
        glance_sync=$!
    fi
    alive keystone || start_uwsgi keystone "$ks" /usr/bin/keystone-wsgi-public 2 \
        OS_KEYSTONE_CONFIG_FILES="$dir/etc/keystone/keystone.conf"
    if [ $fresh = 1 ]; then
        quiet nova-manage $NC api_db sync
        quiet nova-manage $NC cell_v2 map_cell0 --database_connection "$pg_base/nova_cell0"
        quiet nova-manage $NC cell_v2 create_cell --name cell1
        quiet nova-manage $NC db sync
        wait $placement_sync || die "Placement's database not made"
        wait $glance_sync || die "Glance's database not made"
    fi
    alive placement || start_uwsgi placement "$pl" /usr/bin/placement-api 1 \
        OS_PLACEMENT_CONFIG_DIR="$dir/etc/placement"
    waitfor 120 "Keystone" http_ok "$KS/v3" 200
    [ $fresh = 1 ] && register_endpoints
    alive fake-neutron || start_daemon fake-neutron $PY "$here/fake-neutron.py" "$ne"
    alive glance-api || start_daemon glance-api glance-api --config-file "$dir/etc/glance/glance-api.conf"
    alive nova-api || start_uwsgi nova-api "$nv" /usr/bin/nova-api-wsgi 1 \
        OS_NOVA_CONFIG_DIR="$dir/etc/nova"
    alive nova-conductor || start_daemon nova-conductor nova-conductor $NC \
        --log-file "$dir/log/nova-conductor.log"
    alive nova-scheduler || start_daemon nova-scheduler nova-scheduler $NC \
        --log-file "$dir/log/nova-scheduler.log"
    # (python3-nova has its module, Debian's nova-novncproxy package only
    # a script and a unit for it)
    alive nova-novncproxy || start_daemon nova-novncproxy $PY -c \
        'import sys; from nova.cmd.novncproxy import main; sys.argv[0] = "nova-novncproxy"; sys.exit(main())' \
        $NC --log-file "$dir/log/nova-novncproxy.log"
    alive nova-serialproxy || start_daemon nova-serialproxy $PY -c \
        'import sys; from nova.cmd.serialproxy import main; sys.argv[0] = "nova-serialproxy"; sys.exit(main())' \
        $NC --log-file "$dir/log/nova-serialproxy.log"
    waitfor 120 "Placement" http_ok "http://127.0.0.1:$pl/" 200
    waitfor 120 "nova-api" http_ok "http://127.0.0.1:$nv/" 200
    waitfor 60 "Glance" http_ok "http://127.0.0.1:$gl/" 300
    waitfor 30 "the Neutron stand-in" http_ok "http://127.0.0.1:$ne/" 200
    waitfor 90 "nova-conductor" queue_consumed conductor
    waitfor 90 "nova-scheduler" queue_consumed scheduler
    waitfor 60 "nova-novncproxy" http_ok "http://127.0.0.1:$vp/vnc_lite.html" 200
    # (a WebSocket server: any HTTP answer says it listens)
    waitfor 60 "nova-serialproxy" http_ok "http://127.0.0.1:$sp/" "[1-5]"
    [ $fresh = 1 ] && touch "$dir/bootstrapped"
    write_client_env
    say "running: Keystone $KS/v3, nova-api http://127.0.0.1:$nv, Placement :$pl, Glance :$gl"
}

stop() {
    [ -d "$dir/run" ] || { say "not running"; return 0; }
    for s in $(echo $services | tr ' ' '\n' | tac); do
        if alive "$s"; then
            kill "$(cat "$dir/run/$s.pid")" 2>/dev/null || true
        fi
    done
    i=0
    while [ $i -lt 80 ]; do
        left=""
        for s in $services; do alive "$s" && left="$left $s"; done
        [ -z "$left" ] && break
        sleep 0.25
        i=$((i + 1))
    done
    for s in $left; do
        say "$s ignored SIGTERM: killing it"
        kill -9 "$(cat "$dir/run/$s.pid")" 2>/dev/null || true
    done
    rm -f "$run/env/nova.env"
    say "stopped"
}

status() {
    rc=0
    for s in $services; do
        if alive "$s"; then
            echo "nova: $s running (pid $(cat "$dir/run/$s.pid"))"
        else
            echo "nova: $s not running"
            rc=3
        fi
    done
    return $rc
}

case "$action" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status RUN_DIR" >&2; exit 2 ;;
esac
