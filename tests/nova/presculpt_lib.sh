# What the pre-sculpting phases (tests/nova/presculpt*.sh) share: sourced
# after the caller set run (RUN_DIR), name (the host) and phase (its name in
# messages); loads the environments of nova, libvirt, postgres and the host.
top=$(cd "$(dirname "$0")/../.." && pwd)
stack=$top/contrib/stack
set -a
. "$run/env/nova.env"
. "$run/env/libvirt.env"
. "$run/env/postgres.env"
. "$run/env/$name.env"
set +a
host=$SCULPT_HOST
export OS_COMPUTE_API_VERSION=2.37
t0=$(date +%s)
say() { echo "$phase [$(($(date +%s) - t0))s]: $*"; }
fail() {
    echo "$phase FAILED: $*" >&2
    tail -n 30 "$SCULPT_LOG" >&2 || true
    exit 1
}
virsh_() { virsh -c "$LIBVIRT_URI" "$@"; }
# the host's own PostgreSQL when it has one (tests/integration/nova.sh)
db_url=$SCULPT_DB_URL
[ -f "$run/sculpt-db/env/postgres.env" ] &&
    db_url=$(sed -n 's/^SCULPT_DB_URL=//p' "$run/sculpt-db/env/postgres.env")
sql() { psql "$db_url" -tAc "$1"; }
# Writes to PostgreSQL are queued: wait until QUERY gives WANT (10 s).
sql_is() { # QUERY WANT
    poll 10 0.5 sql_gives "$1" "$2"
}
sql_gives() { [ "$(sql "$1")" = "$2" ]; }

restart_host() { # EXTRA_CONF [forget] [SQL run while the host is down]
    SCULPT_NAME=$name SCULPT_HOST=$host SCULPT_COMPUTE_DRIVER=libvirt SCULPT_DEMO_GUESTS=0 \
        "$stack/sculpt.sh" stop "$run" >/dev/null
    [ -z "${3:-}" ] || sql "$3" >/dev/null
    # forget: what the host learnt of pools (classes, their templates and
    # boot times, the requests the forecast learns from, the idle
    # calibration, kept across restarts: the phases before taught it
    # m1.tiny) and pre-sculpting settings changed at run time, as on a host
    # that never saw them
    [ "${2:-}" != forget ] ||
        sql "delete from pool_classes; delete from presculpt_calibration;
             delete from settings where section = 'presculpt'" >/dev/null
    # each start truncates the output: what the sanitizers said goes first
    if grep -q Sanitizer "$run/$name/sculpt-compute.out" 2>/dev/null; then
        head -n 60 "$run/$name/sculpt-compute.out" >&2
        fail "sanitizer report from $name"
    fi
    SCULPT_NAME=$name SCULPT_HOST=$host SCULPT_COMPUTE_DRIVER=libvirt SCULPT_DEMO_GUESTS=0 \
        SCULPT_DATABASE_URL=$db_url SCULPT_EXTRA_CONF="$1" "$stack/sculpt.sh" start "$run" >/dev/null
    . "$run/env/$name.env"
}

. "$top/tests/nova/lib.sh"

# How long a new member may take to be made and paused, in seconds: a
# planning round and the spawn (30 s) and twice the longest boot a member
# of this host took so far (sculpt's log; the load of a shared machine
# moves within a run: members took 81 s to boot at a load of 12), never
# less than 180 s -- 30 s and [presculpt] boot_wait_max (120 s), after
# which a member is paused whether its guest showed its boot or not, with
# room to spare (the first member has no boot before it to go by).
member_bound() {
    _boot=$(sed -n -e 's/.* member [0-9a-f-]* booted in \([0-9.]*\) s: paused.*/\1/p' \
        -e 's/.* member [0-9a-f-]* paused, ready, after \([0-9.]*\) s.*/\1/p' \
        -e 's/.* member [0-9a-f-]* not seen booted .* after \([0-9.]*\) s: paused.*/\1/p' "$SCULPT_LOG" |
        sort -n | tail -n 1)
    awk -v b="${_boot:-0}" 'BEGIN { s = int(30 + 2 * b); print (s > 180 ? s : 180) }'
}

# The paused member domains, once there is one (within SECONDS of the
# clock, by default member_bound): paused in libvirt and in PostgreSQL (a
# domain is paused for a moment in its spawn too).
wait_member() {
    _bound=${1:-$(member_bound)}
    _end=$(($(date +%s) + _bound))
    while [ "$(date +%s)" -lt "$_end" ]; do
        found=""
        for d in $(virsh_ list --all --name | grep '^sculpt-pool-' || true); do
            [ "$(virsh_ domstate "$d" 2>/dev/null | head -n 1)" = paused ] &&
                [ "$(sql "select state from pool_members where domain = '$d'")" = paused ] &&
                found="$found $d"
        done
        [ -n "$found" ] && { echo $found; return 0; }
        sleep 1
    done
    fail "no paused pool member after $_bound s"
}

# paused_member CONDITION: prints a paused member's domain, of the pools
# the SQL CONDITION on pool_members picks, paused in libvirt too (a domain
# is paused for a moment in its spawn); 1 while there is none.
paused_member() {
    for _d in $(sql "select domain from pool_members where ($1) and state = 'paused'"); do
        [ "$(virsh_ domstate "$_d" 2>/dev/null | head -n 1)" = paused ] && { echo "$_d"; return 0; }
    done
    return 1
}

# The domain the last pre-sculpted build took, from the log.
taken() {
    grep -o 'pre-sculpted domain `sculpt-pool-[0-9a-f]*`' "$SCULPT_LOG" | tail -n 1 |
        sed 's/.*`\(.*\)`/\1/'
}

# create_flavor FLAVOR NAME [OPTIONS...]: the new server's id; OPTIONS of
# server_op.py create (--user-data FILE, --config-drive, --property K=V,
# --wait STATUS SECONDS: printed once the server is there).
create_flavor() {
    _f=$1
    _n=$2
    shift 2
    server_op create "$_n" "$_f" "$SCULPT_IMAGE_ID" "nova:$host" "$@" ||
        fail "$_n not created (see above)"
}

create() { # NAME [OPTIONS...]
    create_flavor m1.tiny "$@"
}

# PUT /v1/config/presculpt K=V...
presculpt_set() {
    SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN \
        "$SCULPT_BIN/sculptctl" config set presculpt "$@" >/dev/null ||
        fail "sculptctl config set presculpt $*"
}
