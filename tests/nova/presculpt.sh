#!/bin/sh
# Pre-sculpting end to end on real guests: the libvirt host NAME of the
# harness restarted with pools at a short interval ([presculpt] below), then
#   1. a cold build of m1.tiny teaches sculpt the class; a member of it is
#      made: defined with the class's shape, started, paused;
#   2. a second build of the class, with user data and a config drive,
#      takes the member: the instance that comes ACTIVE is the member's
#      domain, resumed (no spawn), its title and sculpt's metadata naming
#      the instance, its empty cdrom now holding the instance's config
#      drive; its console and delete work through the instance;
#      PostgreSQL has the hand-over;
#   3. sculpt-compute restarts with a member paused: the member is found,
#      kept, and taken by the next build;
#   4. a member nobody claims is destroyed within its lifetime and counted;
#   5. a restart with pre-sculpting off, while a handed-over instance runs,
#      a member is paused and a domain named as a member has no row (as
#      when a crash comes before the member's row reaches PostgreSQL): the
#      instance is kept, the member and the domain are destroyed.
# At the end the host is restarted with its ordinary configuration.
#   tests/nova/presculpt.sh RUN_DIR NAME
set -eu
run=$1
name=$2
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
say() { echo "presculpt [$(($(date +%s) - t0))s]: $*"; }
fail() {
    echo "presculpt FAILED: $*" >&2
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
    i=0
    while [ $i -lt 20 ]; do
        [ "$(sql "$1")" = "$2" ] && return 0
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}

restart_host() { # EXTRA_CONF
    SCULPT_NAME=$name SCULPT_HOST=$host SCULPT_COMPUTE_DRIVER=libvirt SCULPT_DEMO_GUESTS=0 \
        "$stack/sculpt.sh" stop "$run" >/dev/null
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

# The paused member domains, once there is one (SECONDS).
wait_member() {
    i=0
    while [ $i -lt "$1" ]; do
        found=""
        for d in $(virsh_ list --all --name | grep '^sculpt-pool-' || true); do
            [ "$(virsh_ domstate "$d" 2>/dev/null | head -n 1)" = paused ] && found="$found $d"
        done
        [ -n "$found" ] && { echo $found; return 0; }
        sleep 2
        i=$((i + 2))
    done
    fail "no paused pool member after $1 s"
}

# The domain the last pre-sculpted build took, from the log.
taken() {
    grep -o 'pre-sculpted domain `sculpt-pool-[0-9a-f]*`' "$SCULPT_LOG" | tail -n 1 |
        sed 's/.*`\(.*\)`/\1/'
}

create() { # NAME [OPTIONS...]
    _n=$1
    shift
    openstack server create --flavor m1.tiny --image "$SCULPT_IMAGE_ID" --nic none \
        --availability-zone "nova:$host" "$@" "$_n" -f value -c id
}

pools_conf='[presculpt]
interval = 10
member_lifetime = 60
idle_budget = 100
max_share = 0.5
cold_start_price = 100'

restart_host "$pools_conf"
say "host $host restarted with pools every 10 s"

# 1. a cold build teaches the class; a member is made and paused
id1=$(create ps-1)
wait_status ps-1 ACTIVE 240
grep -q "guest spawned" "$SCULPT_LOG" || fail "ps-1 was not built cold"
ready=$(wait_member 120)
for d in $ready; do
    u=$(virsh_ domuuid "$d")
    sql_is "select state from pool_members where uuid = '$u'" paused ||
        fail "member $d not recorded as paused"
    [ -z "$(config_drive "$d")" ] || fail "member $d has a medium in its cdrom"
done
say "cold build of ps-1, then member(s) paused:$ready"

# 2. the next build of the class takes one, its config drive inserted live
ud=$run/presculpt.user-data
printf '#cloud-config\n# ps-2 %s\n' "$(date +%s%N)" >"$ud"
t=$(date +%s)
id2=$(create ps-2 --user-data "$ud" --config-drive true --property role=pool)
wait_status ps-2 ACTIVE 120
say "ps-2 ACTIVE in $(($(date +%s) - t)) s"
m1=$(taken)
case " $ready " in *" $m1 "*) ;; *) fail "ps-2 took no member that was ready (took '$m1')" ;; esac
m1_uuid=$(sql "select uuid from pool_members where domain = '$m1'")
[ "$(virsh_ domstate "$m1" | head -n 1)" = running ] || fail "$m1 is not running"
[ "$(virsh_ domuuid "$m1")" = "$m1_uuid" ] || fail "$m1 is not the member's domain"
title=$(virsh_ desc "$m1" --title)
case "$title" in *"ps-2 ($id2)"*) ;; *) fail "title of $m1 is '$title'" ;; esac
virsh_ dumpxml "$m1" | grep -q "display_name=\"ps-2\"" || fail "sculpt's metadata of $m1 does not name ps-2"
sql_is "select state || ' ' || instance_uuid from pool_members where uuid = '$m1_uuid'" "handed_over $id2" ||
    fail "hand-over not recorded"
sql_is "select domain from instances where uuid = '$id2'" "$m1" || fail "instance row of ps-2 does not name $m1"
iso=$(check_config_drive "$m1" "$id2" "$ud" role pool)
virsh_ dumpxml --inactive "$m1" | grep -q "$iso" || fail "$m1's definition lacks its config drive"
# a member is paused right after its start: its boot may end after the hand-over
i=0
until openstack console log show ps-2 2>/dev/null | grep -q GUEST-INIT-READY; do
    [ $i -lt 120 ] || fail "console of ps-2 (the member's) never showed the guest's init"
    sleep 3
    i=$((i + 3))
done
say "ps-2 is member $m1, resumed: title '$title', config drive $iso, recorded in PostgreSQL"
openstack server delete --wait ps-2
virsh_ dominfo "$m1" >/dev/null 2>&1 && fail "$m1 still defined after ps-2 was deleted"
[ ! -e "$iso" ] || fail "config drive $iso left after ps-2 was deleted"
say "delete of ps-2 destroyed $m1"

# 3. a restart with a member paused: kept, then taken
m2=$(wait_member 120)
m2=${m2%% *}
m2_uuid=$(virsh_ domuuid "$m2")
restart_host "$pools_conf"
[ "$(virsh_ domstate "$m2" | head -n 1)" = paused ] || fail "$m2 not kept across the restart"
grep -q "member $m2_uuid found paused after a restart" "$SCULPT_LOG" || fail "$m2 not taken back"
id3=$(create ps-3)
wait_status ps-3 ACTIVE 120
m3=$(taken)
[ -n "$m3" ] && [ "$m3" != "$m1" ] || fail "ps-3 was built cold after the restart"
sql_is "select instance_uuid from pool_members where domain = '$m3'" "$id3" ||
    fail "ps-3's hand-over of $m3 not recorded"
say "after a restart member $m2 was kept; ps-3 took member $m3"
# room for the next members on a small host (ps-3 keeps the idle budget)
openstack server delete --wait ps-1

# 4. nobody claims: members expire (or go as surplus) and are counted
i=0
while [ $i -lt 240 ]; do
    n=$(sql "select count(*) from pool_members where reason in ('expired unclaimed', 'surplus')")
    [ "$n" -gt 0 ] && break
    sleep 5
    i=$((i + 5))
done
[ "$n" -gt 0 ] || fail "no member expired in 240 s"
gone=$(sql "select domain from pool_members where reason in ('expired unclaimed', 'surplus') limit 1")
virsh_ dominfo "$gone" >/dev/null 2>&1 && fail "expired member $gone still defined"
say "$n member(s) destroyed unclaimed ($gone and its resources gone)"

# 5. pre-sculpting off at a restart, a member without a row: members go,
#    ps-3 stays
m5=$(wait_member 120)
m5=${m5%% *}
m5_uuid=$(virsh_ domuuid "$m5")
orphan=sculpt-pool-0bad0000
virsh_ dumpxml --inactive "$m5" | sed -e '/<uuid>/d' -e '/<disk /,/<\/disk>/d' \
    -e '/<metadata>/,/<\/metadata>/d' -e "s|<name>$m5</name>|<name>$orphan</name>|" \
    >"$run/orphan.xml"
virsh_ define "$run/orphan.xml" >/dev/null
restart_host '[presculpt]
enabled = false'
virsh_ dominfo "$orphan" >/dev/null 2>&1 && fail "$orphan (no row) still defined"
grep -q "pool member \`$orphan\` .* had no row: destroyed" "$SCULPT_LOG" ||
    fail "$orphan (no row) not destroyed"
virsh_ dominfo "$m5" >/dev/null 2>&1 && fail "member $m5 still defined with pre-sculpting off"
grep -q "pool member $m5_uuid .* destroyed: pre-sculpting disabled" "$SCULPT_LOG" ||
    fail "member $m5 not destroyed with pre-sculpting off"
sql_is "select state from pool_members where uuid = '$m5_uuid'" released ||
    fail "release of $m5 not recorded"
left=$(virsh_ list --all --name | grep '^sculpt-pool-' | grep -v "^$m3\$" || true)
[ -z "$left" ] || fail "members left with pre-sculpting off: $left"
[ "$(virsh_ domstate "$m3" | head -n 1)" = running ] || fail "ps-3's guest $m3 not running"
ps=$(openstack server show ps-3 -f value -c status -c OS-EXT-STS:power_state | tr '\n' ' ')
case " $ps" in *" ACTIVE "*) ;; *) fail "ps-3 after the restart: $ps" ;; esac
case " $ps" in *" 1 "* | *" Running "*) ;; *) fail "ps-3 not running in Nova: $ps" ;; esac
grep -q "guest of instance $id3 .* is gone" "$SCULPT_LOG" && fail "ps-3 taken for vanished"
say "pre-sculpting off at a restart: member $m5 and $orphan (no row) destroyed, ps-3 kept"

openstack server delete --wait ps-3
restart_host ""
say "host $host back to its configuration: all checks passed"
