#!/bin/sh
# Pre-sculpting end to end on real guests: the libvirt host NAME of the
# harness restarted with pools at a short interval ([presculpt] below), then
#   1. a cold build of m1.tiny teaches sculpt the class; a member of it is
#      made: defined with the class's shape, started, recorded `booting`,
#      paused once its console shows the guest booted;
#   2. a second build of the class, with user data and a config drive,
#      takes the member (the phase's image asks for the guest agent: the
#      member has its channel, and a password is set through it): the instance that comes ACTIVE is the member's
#      domain, resumed (no spawn), booted already (its console shows the
#      guest's init at once), its title and sculpt's metadata naming the
#      instance, its empty cdrom now holding the instance's config drive;
#      its console and delete work through the instance; PostgreSQL has
#      the hand-over; stopped, the domain is renamed to Nova's
#      instance_name (uuid kept; both rows follow) and starts again
#      under it;
#   3. sculpt-compute restarts with a member paused: the member is found,
#      kept, and taken by the next build; ps-2's rows, set back to the
#      member's domain name while the host is down (what a crash between
#      the rename and its rows leaves), name its domain again;
#   4. a member nobody claims is destroyed within its lifetime (shortened at
#      run time through PUT /v1/config/presculpt) and counted;
#   5. a restart with pre-sculpting off, while a handed-over instance runs,
#      a member is paused and a domain named as a member has no row (as
#      when a crash comes before the member's row reaches PostgreSQL): the
#      instance is kept, the member and the domain are destroyed;
#   6. pre-sculpting turned on at run time (PUT /v1/config/presculpt
#      enabled=true with a new interval), no restart: a cold build made
#      while it was off taught the class, and a member is made and paused;
#   7. SIGKILL in the middle of a hand-over, held there by the test-only
#      SCULPT_TEST_PAUSE_INTENT=handover (after the member's guest was
#      resumed as the instance's, before the hand-over reached PostgreSQL):
#      after the restart the instance is ACTIVE as the member's domain, the
#      member row is handed over, no intent is open; with pools turned off
#      no member domain is left and the engine holds the instances only;
#   8. the run-time settings reset to sculpt.conf (DELETE
#      /v1/config/presculpt), then a restart with pools on and no member
#      left: the class's template and its requests come back from
#      PostgreSQL, a member is made without a new cold build and the next
#      build takes it;
#   9. idle members never cost a real request: Placement's inventory
#      leaves them out, and a build of m1.small that fits only without
#      them is admitted by reclaiming them (tests/nova/presculpt_reclaim.sh).
# At the end the host is restarted with its ordinary configuration.
#   tests/nova/presculpt.sh RUN_DIR NAME
set -eu
run=$1
name=$2
phase=presculpt
. "$(dirname "$0")/presculpt_lib.sh"

# members live 10 minutes: step 3's member must outlive a restart and a
# build, which took 188 s together on a loaded 2-core machine (with a
# lifetime of 180 s it expired, a new member took the room and ps-3 went
# to ERROR); step 4 shortens the lifetime at run time anyway
pools_conf='[presculpt]
interval = 10
member_lifetime = 600
idle_budget = 100
max_share = 0.5
cold_start_price = 100'

restart_host "$pools_conf" forget
say "host $host restarted with pools every 10 s"
# the image asks for the QEMU guest agent (hw_qemu_guest_agent) for the
# phase: its class's template has the agent's channel, so do its members,
# and they serve its builds (step 2 sets a password through it; step 8
# reads the template back from PostgreSQL)
openstack image set --property hw_qemu_guest_agent=yes "$SCULPT_IMAGE_ID" ||
    fail "image property not set"

# 1. a cold build teaches the class; a member is made, boots, is paused
id1=$(create ps-1 --wait ACTIVE 240)
grep -q "guest spawned" "$SCULPT_LOG" || fail "ps-1 was not built cold"
ready=$(wait_member)
for d in $ready; do
    u=$(virsh_ domuuid "$d")
    sql_is "select state from pool_members where uuid = '$u'" paused ||
        fail "member $d not recorded as paused"
    [ -z "$(config_drive "$d")" ] || fail "member $d has a medium in its cdrom"
    virsh_ dumpxml "$d" | grep -q "name='org.qemu.guest_agent.0'" ||
        fail "member $d has no guest agent channel"
    grep -q "member $u (\`$d\`) started in .*, booting" "$SCULPT_LOG" ||
        fail "member $d not started booting"
    grep -q "member $u booted in [0-9.]* s: paused, ready" "$SCULPT_LOG" ||
        fail "member $d not paused once its guest was seen booted"
done
boot=$(grep -o 'booted in [0-9.]* s: paused' "$SCULPT_LOG" | head -n 1)
# the pools API tells members booting and hand-overs of booting members
pools_json=$(SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" -f json pools)
echo "$pools_json" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["totals"]["booting_hits"] == 0, j["totals"]
assert all("booting" in p and "booting_hits" in p for p in j["pools"]), j["pools"]
' || fail "GET /v1/pools without booting counts: $pools_json"
say "cold build of ps-1, then member(s) paused once booted ($boot):$ready"

# 2. the next build of the class takes one, its config drive inserted live
ud=$run/presculpt.user-data
printf '#cloud-config\n# ps-2 %s\n' "$(date +%s%N)" >"$ud"
t=$(date +%s)
id2=$(create ps-2 --user-data "$ud" --config-drive --property role=pool --wait ACTIVE 120)
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
# the member was paused once booted: the guest's init is on its console
# already, once (the hand-over resumed it, it did not boot again)
n=$(server_op console ps-2 2>/dev/null | grep -c GUEST-INIT-READY || true)
[ "$n" = 1 ] || fail "console of ps-2 (the member's) shows the guest's init $n times at ACTIVE"
grep -q "member $m1_uuid handed over to instance $id2 booted" "$SCULPT_LOG" ||
    fail "hand-over of $m1 not logged as of a booted guest"
# the member's guest agent answers for the instance: a password set
_end=$(($(date +%s) + 60))
until virsh_ dumpxml "$m1" | grep -q "name='org.qemu.guest_agent.0' state='connected'"; do
    [ "$(date +%s)" -lt $_end ] || fail "the agent channel of $m1 never connected"
    sleep 0.5
done
out=$(server_op password ps-2 "ps2-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')") ||
    fail "changePassword of ps-2"
[ "$out" = 'http=202 task=None event=Success' ] || fail "changePassword of ps-2 (member $m1): $out"
say "ps-2 is member $m1, resumed: title '$title', config drive $iso, recorded in PostgreSQL, its guest agent setting a password"
# ps-2 stays (deleted after 3.) and ps-1 goes: one guest keeps the budget,
# and step 3's member is made while ps-2 stops and starts
delete_wait ps-1
# its first stop renames the member's domain to Nova's instance_name
# (libvirt renames only a domain that is shut off); its uuid stays
iname=$(server_op show ps-2 OS-EXT-SRV-ATTR:instance_name)
[ "$(domain_of "$id2")" = "$m1" ] || fail "sculpt does not record ps-2 as $m1: '$(domain_of "$id2")'"
t=$(date +%s)
stop_wait ps-2
wait_domain "$id2" "$iname"
[ "$(virsh_ domstate "$iname" 2>/dev/null | head -n 1)" = "shut off" ] ||
    fail "no domain $iname shut off after ps-2's stop: $(virsh_ list --all --name | tr '\n' ' ')"
[ "$(virsh_ domuuid "$iname")" = "$m1_uuid" ] || fail "$iname is not member $m1's domain"
virsh_ dominfo "$m1" >/dev/null 2>&1 && fail "$m1 still defined under the member's name"
sql_is "select domain from pool_members where uuid = '$m1_uuid'" "$iname" ||
    fail "the member row of $m1 does not name $iname"
sql_is "select domain from instances where uuid = '$id2'" "$iname" || fail "instance row of ps-2 does not name $iname"
virsh_ dumpxml "$iname" | grep -q "name=\"$iname\"" || fail "sculpt's metadata of $iname names another domain"
grep -q "domain \`$m1\` of $id2 is now \`$iname\`" "$SCULPT_LOG" || fail "the rename of $m1 is not logged"
start_wait ps-2
[ "$(virsh_ domstate "$iname" | head -n 1)" = running ] || fail "$iname is not running after ps-2's start"
case "$(virsh_ desc "$iname" --title)" in *"ps-2 ($id2)"*) ;; *) fail "title of $iname lost" ;; esac
say "ps-2 stopped: $m1 renamed $iname (uuid $m1_uuid kept), started again, running ($(($(date +%s) - t)) s)"

# 3. a restart with a member paused: kept, then taken
m2=$(wait_member)
m2=${m2%% *}
m2_uuid=$(virsh_ domuuid "$m2")
# ps-2's rows name the member's domain again while the host is down, as a
# crash between the rename and its rows would leave them: the restart finds
# the guest by its uuid and writes its name
restart_host "$pools_conf" "" "update instances set domain = '$m1' where uuid = '$id2';
    update pool_members set domain = '$m1' where uuid = '$m1_uuid'"
sql_is "select domain from instances where uuid = '$id2'" "$iname" ||
    fail "the instance row of ps-2 still names $m1 after the restart"
sql_is "select domain from pool_members where uuid = '$m1_uuid'" "$iname" ||
    fail "the member row of $m1 still names it after the restart"
[ "$(virsh_ domstate "$iname" | head -n 1)" = running ] || fail "$iname (ps-2) not running after the restart"
[ "$(virsh_ domstate "$m2" | head -n 1)" = paused ] || fail "$m2 not kept across the restart"
grep -q "member $m2_uuid found paused after a restart" "$SCULPT_LOG" || fail "$m2 not taken back"
id3=$(create ps-3 --wait ACTIVE 120)
m3=$(taken)
[ -n "$m3" ] && [ "$m3" != "$m1" ] || fail "ps-3 was built cold after the restart"
sql_is "select instance_uuid from pool_members where domain = '$m3'" "$id3" ||
    fail "ps-3's hand-over of $m3 not recorded"
say "after a restart member $m2 was kept, ps-2's rows named $iname again; ps-3 took member $m3"
# room for the next members on a small host (ps-3 keeps the idle budget)
delete_wait ps-2
virsh_ dominfo "$iname" >/dev/null 2>&1 && fail "$iname still defined after ps-2 was deleted"
[ ! -e "$iso" ] || fail "config drive $iso left after ps-2 was deleted"
say "delete of ps-2 destroyed $iname (member $m1)"

# 4. nobody claims: members expire (or go as surplus) and are counted; the
#    lifetime shortened at run time holds for the members there are (one
#    made before the change: booting or paused, it may expire either way;
#    waiting for its boot cost up to 50 s under load)
m4=""
member_made() {
    m4=$(sql "select domain from pool_members where state in ('booting', 'paused') order by created_at desc limit 1")
    [ -n "$m4" ]
}
bound=$(member_bound)
poll "$bound" 1 member_made || fail "no member made in $bound s"
presculpt_set member_lifetime=10
expired() { [ "$(sql "select count(*) from pool_members where domain = '$m4' and reason in ('expired unclaimed', 'surplus')")" = 1 ]; }
poll 240 1 expired || fail "member $m4 not expired in 240 s"
n=$(sql "select count(*) from pool_members where reason in ('expired unclaimed', 'surplus')")
gone=$m4
virsh_ dominfo "$gone" >/dev/null 2>&1 && fail "expired member $gone still defined"
say "$n member(s) destroyed unclaimed ($gone and its resources gone)"
presculpt_set member_lifetime=600

# 5. pre-sculpting off at a restart, a member without a row: members go,
#    ps-3 stays
m5=$(wait_member)
m5=${m5%% *}
m5_uuid=$(virsh_ domuuid "$m5")
orphan=sculpt-pool-0bad0000
virsh_ dumpxml --inactive "$m5" | sed -e '/<uuid>/d' -e '/<disk /,/<\/disk>/d' \
    -e '/<metadata>/,/<\/metadata>/d' -e "s|<name>$m5</name>|<name>$orphan</name>|" \
    >"$run/orphan.xml"
virsh_ define "$run/orphan.xml" >/dev/null
# (this start also arms the test-only hook of step 7: the first hand-over
# from now on is held)
export SCULPT_TEST_PAUSE_INTENT=handover:120
restart_host "$pools_conf
enabled = false"
unset SCULPT_TEST_PAUSE_INTENT
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
ps=$(server_op show ps-3 status OS-EXT-STS:power_state | tr '\n' ' ')
case " $ps" in *" ACTIVE "*) ;; *) fail "ps-3 after the restart: $ps" ;; esac
case " $ps" in *" 1 "* | *" Running "*) ;; *) fail "ps-3 not running in Nova: $ps" ;; esac
grep -q "guest of instance $id3 .* is gone" "$SCULPT_LOG" && fail "ps-3 taken for vanished"
say "pre-sculpting off at a restart: member $m5 and $orphan (no row) destroyed, ps-3 kept"

# 6. on at run time, with a new interval: a build made while off taught the
#    class; a member is made, boots and is paused, without a restart
id4=$(create ps-4 --wait ACTIVE 240)
[ -z "$(virsh_ list --all --name | grep '^sculpt-pool-' | grep -v "^$m3\$" || true)" ] ||
    fail "a member was made with pre-sculpting off"
# its class is learnt; its room goes to the member (with ps-3 and ps-4 on
# this 2-CPU host the engine admits no member, nor Placement a ps-7)
delete_wait ps-4
presculpt_set enabled=true interval=15
m6=$(wait_member)
grep -q "interval 15 s (was 10 s): the forecast starts over" "$SCULPT_LOG" ||
    fail "new interval not applied at run time"
grep -q "pre-sculpting on: members are made from this round on" "$SCULPT_LOG" ||
    fail "pre-sculpting not turned on at run time"
say "pre-sculpting on at run time (interval 15 s): member(s)$m6 paused"

# 7. SIGKILL in the middle of a hand-over (the hook armed at step 5's start)
id7=$(create ps-7)
poll 120 1 grep -q "holding the handover intent [0-9]* of $id7 open" "$SCULPT_LOG" ||
    fail "the hand-over to ps-7 was not held (ps-7: $(openstack server show ps-7 -f value -c status -c fault 2>&1 | tr '\n' ' '))"
sql_is "select count(*) from intents where state = 'open' and op = 'handover' and instance_uuid = '$id7'" 1 ||
    fail "the held hand-over's intent is not in PostgreSQL"
m7_uuid=$(grep -o "takes member [0-9a-f-]* of pool" "$SCULPT_LOG" | tail -n 1 | cut -d' ' -f3)
m7=$(virsh_ domname "$m7_uuid")
kill -9 "$SCULPT_PID"
say "sculpt-compute killed (SIGKILL) in the hand-over of member $m7 to ps-7"
# (sculpt.conf says off from now on: step 6's enabled=true, changed at run
# time, wins until step 8 resets it)
restart_host "$pools_conf
enabled = false"
wait_status ps-7 ACTIVE 120
sql_is "select domain from instances where uuid = '$id7'" "$m7" ||
    fail "ps-7 is not the member's domain $m7 after the restart"
[ "$(virsh_ domstate "$m7" | head -n 1)" = running ] || fail "$m7 (ps-7) is not running"
sql_is "select state || ' ' || instance_uuid from pool_members where uuid = '$m7_uuid'" \
    "handed_over $id7" || fail "member row of $m7 not handed over to ps-7"
sql_is "select count(*) from intents where state = 'open'" 0 || fail "intents left open"
grep -q "hand-over of pool member $m7_uuid interrupted .*: completed" "$SCULPT_LOG" ||
    fail "the interrupted hand-over was not completed by the recovery"
# pools off: every member goes; the engine then holds the instances only
presculpt_set enabled=false
others_gone() { ! virsh_ list --all --name | grep '^sculpt-pool-' | grep -qv "^\($m3\|$m7\)\$"; }
poll 60 1 others_gone || fail "members left 60 s after pre-sculpting was turned off"
want=$(sql "select count(*) from instances where deleted_at is null")
held=$(SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" -f json host |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["guests"])')
[ "$held" = "$want" ] || fail "the engine holds $held guests for $want instances (a member leaked)"
say "hand-over completed after the crash: ps-7 is $m7; $held guests held for $want instances"

delete_wait ps-7

# 8. the run-time changes reset (DELETE /v1/config/presculpt): sculpt.conf's
#    values again (pools off, interval 10 s), none stored; then a restart
#    with pools on and no member left: the class, its template and the
#    requests the forecast learns from come back from PostgreSQL, a member
#    is made with no new cold build, and the next build takes it (ps-3 runs
#    on: an empty host pools nothing, the idle budget is a share of what
#    guests use)
t8=$(date +%s)
SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" -f json \
    config reset presculpt | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
v = j["values"]
assert not j["overrides"], j["overrides"]
assert v["enabled"] is False and v["interval"] == 10 and v["member_lifetime"] == 600, v
' || fail "DELETE /v1/config/presculpt did not go back to sculpt.conf"
[ "$(sql "select count(*) from settings where section = 'presculpt'")" = 0 ] ||
    fail "run-time [presculpt] settings still stored after the reset"
[ -z "$(virsh_ list --all --name | grep '^sculpt-pool-' | grep -v "^$m3\$" || true)" ] ||
    fail "members left before the restart of step 8"
[ "$(sql "select count(*) from pool_members where state in ('preparing', 'booting', 'ready', 'paused')")" = 0 ] ||
    fail "live member rows before the restart of step 8"
sql_is "select count(*) from pool_classes where key like 'm1.tiny:%' and learnt_at is not null" 1 ||
    fail "the class m1.tiny and its template not in PostgreSQL"
# what its members' boots taught (saved every fleet_save_interval) and the
# planner's idle calibration are kept too
sql_is "select count(*) from pool_classes where key like 'm1.tiny:%' and boot_ms > 0" 1 ||
    fail "the class m1.tiny's boot time not in PostgreSQL"
sql_is "select count(*) from presculpt_calibration" 1 ||
    fail "the idle calibration not in PostgreSQL"
factor8=$(sql "select exp(log_factor) from presculpt_calibration")
log0=$(wc -l <"$SCULPT_LOG")
since_restart() { tail -n +$((log0 + 1)) "$SCULPT_LOG"; }
restart_host "$pools_conf"
since_restart | grep -q "request class(es) read back, [1-9][0-9]* with a template" ||
    fail "no class template read back at the restart"
since_restart | grep -q "[1-9][0-9]* with a boot time;" ||
    fail "no class boot time read back at the restart"
read_back=$(since_restart | sed -n 's/.* with a boot time;.*tightened by \([0-9.e+-]*\)$/\1/p')
awk -v a="$read_back" -v b="$factor8" 'BEGIN { exit !(a != "" && a - b < 0.01 * b && b - a < 0.01 * b) }' ||
    fail "the idle calibration ($factor8) not read back at the restart ('$read_back')"
m8=$(wait_member)
m8=${m8%% *}
since_restart | grep -q "guest spawned" && fail "a cold build ran after the restart of step 8"
id8=$(create ps-8 --wait ACTIVE 120)
[ "$(taken)" = "$m8" ] || fail "ps-8 did not take member $m8 (took '$(taken)')"
sql_is "select instance_uuid from pool_members where domain = '$m8'" "$id8" ||
    fail "ps-8's hand-over of $m8 not recorded"
since_restart | grep -q "guest spawned" && fail "ps-8 was built cold"
delete_wait ps-8 ps-3
say "reset to sculpt.conf; restarted with no member: $m8 made from the class read back (its boot time too, idle calibration $factor8), taken by ps-8 ($(($(date +%s) - t8)) s)"

# 9. a build that fits only by reclaiming members (the host empty)
. "$(dirname "$0")/presculpt_reclaim.sh"

openstack image unset --property hw_qemu_guest_agent "$SCULPT_IMAGE_ID" ||
    fail "image property not unset"
restart_host "" forget
say "host $host back to its configuration: all checks passed"
