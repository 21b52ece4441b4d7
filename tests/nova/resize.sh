#!/bin/sh
# Nova resizes done live on real guests (host NAME, libvirt backend), the
# other compute hosts disabled meanwhile so the scheduler keeps the resize
# on NAME (allow_resize_to_same_host).  NAME is restarted described as 4
# CPUs (`[host] topology_file`, vCPUs not pinned): during a resize
# Placement holds the old flavor (the migration's) and the new (the
# instance's) side by side, which this 2-core machine's inventory would
# not take.  Then:
#   1. m1.small -> m1.tiny: VERIFY_RESIZE, the same QEMU process (never
#      restarted), libvirt enforcing the engine's new shape (balloon, CPU
#      quota) within m1.tiny; confirm -> ACTIVE on m1.tiny, Placement
#      holding m1.tiny's allocation only (the migration's released);
#   2. m1.tiny -> m1.small (within the maxima the domain is defined with):
#      live again, then revert -> ACTIVE on m1.tiny, its shape back, the
#      allocations moved back from the migration to the instance;
#   3. a flavor the engine refuses (a `sculpt:priority` out of range): the
#      resize fails cleanly -- ACTIVE on m1.tiny, a fault, the migration
#      in error, allocations as before, the guest untouched;
#   4. sculpt-compute killed (-9) in the middle of a resize to m1.small,
#      its reshape intent held open (SCULPT_TEST_PAUSE_INTENT): the restart
#      finishes it (VERIFY_RESIZE on m1.small, migration finished, the
#      guest still the same QEMU), the prep_resize RabbitMQ delivers again
#      is ignored, and the confirm works.
#   tests/nova/resize.sh RUN_DIR NAME
set -eu
run=$1
name=$2
phase=resize
. "$(dirname "$0")/presculpt_lib.sh"
export OS_COMPUTE_API_VERSION=2.59

printf 'cpus=4\nmem_gib=8\n' >"$run/resize-host.txt"
restart_host "[host]
topology_file = $run/resize-host.txt
[engine]
pin_vcpus = false"
say "host $host restarted as 4 CPUs"

others=$(openstack compute service list --service nova-compute -f value -c Host | grep -vx "$host" || true)
enable_others() {
    for h in $others; do
        openstack compute service set --enable "$h" nova-compute || true
    done
    openstack flavor delete rz-refused >/dev/null 2>&1 || true
}
finish() {
    rc=$?
    enable_others
    exit $rc
}
trap finish EXIT
for h in $others; do
    openstack compute service set --disable --disable-reason "resize phase" "$h" nova-compute
done

# The guest's QEMU process, found by its domain's uuid: other test stacks
# on this machine may run domains of the same name.
qemu_pid() {
    _u=$(virsh_ domuuid "$1" | head -n 1)
    [ -n "$_u" ] || fail "no domain $1"
    pgrep -f -- "-uuid $_u" || true
}

# shape_ok UUID DOMAIN MAX_VCPU MAX_MIB: libvirt enforces the shape the
# database records for the instance, within the flavor (10 s to settle:
# the control loop reshapes meanwhile).  A guest under software emulation
# gives memory back to a balloon slowly (minutes for 128 MiB): below its
# defined maximum and on its way is enough when the target is lower.
shape_ok() {
    i=0
    while [ $i -lt 20 ]; do
        res=$(sql "select shape_res[1] || ' ' || shape_res[2] from instances where uuid = '$1'")
        online=$(virsh_ vcpucount "$2" --live --active | tr -d ' ')
        quota=$(virsh_ schedinfo "$2" | awk '$1=="vcpu_quota"{print $3}')
        period=$(virsh_ schedinfo "$2" | awk '$1=="vcpu_period"{print $3}')
        actual=$(virsh_ dommemstat "$2" | awk '$1=="actual"{print $2}')
        maxmem=$(virsh_ dominfo "$2" | awk '$1=="Max"{print $3}')
        got=$(/usr/bin/python3 -c '
import sys
rv, rm = map(float, sys.argv[1].split())
online, quota, period = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
actual, maxmem = int(sys.argv[5]) / 1024, int(sys.argv[6]) / 1024
mv, mm = float(sys.argv[7]), float(sys.argv[8])
v = online if quota < 0 else quota * online / period
mem = abs(actual - rm) < 2 or (rm < actual < maxmem - 2)
ok = abs(v - rv) < 0.02 and mem and rv <= mv + 1e-6 and rm <= mm + 0.5
print("%s row %.3f vCPU %.0f MiB, libvirt %.3f vCPU (%d online) balloon %.0f of %.0f MiB" %
      ("ok" if ok else "no", rv, rm, v, online, actual, maxmem))' "$res" "$online" \
            "${quota:--1}" "${period:-100000}" "$actual" "$maxmem" "$3" "$4")
        case "$got" in ok*) echo "$got"; return 0 ;; esac
        sleep 0.5
        i=$((i + 1))
    done
    fail "the shape of $2 is not the engine's within $3 vCPU / $4 MiB: $got"
}

# alloc CONSUMER: its allocation on our provider, "VCPU MEMORY_MB" ("-" when none)
rp=$(openstack resource provider list --name "$host" -f value -c uuid)
[ -n "$rp" ] || fail "no resource provider named $host"
alloc() {
    openstack resource provider allocation show "$1" -f json | /usr/bin/python3 -c '
import json, sys
rp = sys.argv[1]
for a in json.load(sys.stdin):
    if a["resource_provider"] == rp:
        r = a["resources"]
        print(r.get("VCPU", 0), r.get("MEMORY_MB", 0))
        sys.exit(0)
print("-")' "$rp"
}
mig_of() { # SERVER STATUS: the uuid of its migration in that status
    openstack server migration list --server "$1" --status "$2" -f value -c UUID | head -n 1
}
flavor_of() {
    openstack server show "$1" -f json -c flavor |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["flavor"]["original_name"])'
}

t=$(date +%s)
id=$(create_flavor m1.small rz-1)
wait_status rz-1 ACTIVE 180
# the guest by sculpt's record: a pool member may have served the build
# (it keeps its own domain name while it runs)
dom=$(domain_of "$id")
[ -n "$dom" ] || fail "sculpt records no domain for rz-1 ($id)"
pid=$(qemu_pid "$dom")
[ -n "$pid" ] || fail "no QEMU process for $dom"
# ACTIVE comes before the guest has booted (under TCG, seconds later): its
# balloon gives memory back only once its driver runs, which the driver's
# statistics show (a pool member that served the build has booted already)
i=0
until virsh_ dommemstat "$dom" | grep -q '^usable '; do
    [ $i -lt 240 ] || fail "the balloon driver of $dom does not answer: $(virsh_ dommemstat "$dom" | tr '\n' ' ')"
    sleep 0.5
    i=$((i + 1))
done
say "rz-1 ($dom, QEMU pid $pid) ACTIVE on m1.small in $(($(date +%s) - t)) s, booted"

# 1. down to m1.tiny, live, confirmed
t=$(date +%s)
openstack server resize --flavor m1.tiny rz-1
wait_status rz-1 VERIFY_RESIZE 60
[ "$(qemu_pid "$dom")" = "$pid" ] || fail "QEMU of $dom restarted: pid $(qemu_pid "$dom"), was $pid"
[ "$(flavor_of rz-1)" = m1.tiny ] || fail "rz-1 shows flavor $(flavor_of rz-1) in VERIFY_RESIZE"
mig=$(mig_of rz-1 finished)
[ -n "$mig" ] || fail "no finished migration for rz-1"
s=$(shape_ok "$id" "$dom" 1 128)
say "resize to m1.tiny -> VERIFY_RESIZE in $(($(date +%s) - t)) s, same QEMU; $s"
[ "$(alloc "$mig")" = "2 256" ] || fail "migration $mig holds '$(alloc "$mig")', not m1.small's"
[ "$(alloc "$id")" = "1 128" ] || fail "rz-1 holds '$(alloc "$id")', not m1.tiny's"
openstack server resize confirm rz-1
wait_status rz-1 ACTIVE 60
[ "$(flavor_of rz-1)" = m1.tiny ] || fail "rz-1 is on $(flavor_of rz-1) after the confirm"
[ -n "$(mig_of rz-1 confirmed)" ] || fail "the migration of rz-1 is not confirmed"
[ "$(alloc "$mig")" = - ] || fail "migration $mig still holds '$(alloc "$mig")' after the confirm"
[ "$(alloc "$id")" = "1 128" ] || fail "rz-1 holds '$(alloc "$id")' after the confirm"
[ "$(qemu_pid "$dom")" = "$pid" ] || fail "QEMU of $dom restarted by the confirm"
s=$(shape_ok "$id" "$dom" 1 128)
say "confirm -> ACTIVE on m1.tiny, Placement: m1.tiny's allocation only; $s"

# 2. up to m1.small within the domain's maxima, live, reverted
t=$(date +%s)
openstack server resize --flavor m1.small rz-1
wait_status rz-1 VERIFY_RESIZE 60
[ "$(qemu_pid "$dom")" = "$pid" ] || fail "QEMU of $dom restarted by the second resize"
[ "$(flavor_of rz-1)" = m1.small ] || fail "rz-1 shows flavor $(flavor_of rz-1), not m1.small"
s=$(shape_ok "$id" "$dom" 2 256)
say "resize to m1.small -> VERIFY_RESIZE in $(($(date +%s) - t)) s, same QEMU; $s"
mig=$(mig_of rz-1 finished)
t=$(date +%s)
openstack server resize revert rz-1
wait_status rz-1 ACTIVE 60
[ "$(flavor_of rz-1)" = m1.tiny ] || fail "rz-1 is on $(flavor_of rz-1) after the revert"
[ -n "$(mig_of rz-1 reverted)" ] || fail "the migration of rz-1 is not reverted"
[ "$(alloc "$mig")" = - ] || fail "migration $mig still holds '$(alloc "$mig")' after the revert"
[ "$(alloc "$id")" = "1 128" ] || fail "rz-1 holds '$(alloc "$id")' after the revert"
[ "$(qemu_pid "$dom")" = "$pid" ] || fail "QEMU of $dom restarted by the revert"
s=$(shape_ok "$id" "$dom" 1 128)
say "revert -> ACTIVE on m1.tiny in $(($(date +%s) - t)) s, allocations back; $s"

# 3. refused by the engine: a clean failure
openstack flavor create --vcpus 1 --ram 128 --disk 1 --property sculpt:priority=5000 \
    rz-refused >/dev/null
openstack server resize --flavor rz-refused rz-1
wait_status rz-1 ACTIVE 60
[ "$(openstack server show rz-1 -f value -c status)" = ACTIVE ] || fail "rz-1 not ACTIVE"
[ "$(flavor_of rz-1)" = m1.tiny ] || fail "rz-1 is on $(flavor_of rz-1) after a refused resize"
[ -n "$(mig_of rz-1 error)" ] || fail "the refused migration of rz-1 is not in error"
# (Nova shows a fault on ERROR servers only: the action's event has it)
req=$(openstack server event list rz-1 -f value -c "Request ID" -c Action | awk '$2=="resize"{print $1; exit}')
fault=$(openstack server event show rz-1 "$req" -f json | /usr/bin/python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    if e["event"] == "compute_prep_resize" and e["result"] == "Error":
        print((e.get("traceback") or "").strip())')
case "$fault" in *priority*) ;; *) fail "the refused resize of rz-1 has no failed event naming why: '$fault'" ;; esac
[ "$(alloc "$id")" = "1 128" ] || fail "rz-1 holds '$(alloc "$id")' after a refused resize"
[ "$(qemu_pid "$dom")" = "$pid" ] || fail "QEMU of $dom restarted by a refused resize"
say "a resize the engine refuses: ACTIVE on m1.tiny, fault '$fault', migration in error"

# 4. a crash in the middle
conf="[host]
topology_file = $run/resize-host.txt
[engine]
pin_vcpus = false"
SCULPT_TEST_PAUSE_INTENT=resize:120 restart_host "$conf"
openstack server resize --flavor m1.small rz-1
i=0
until grep -q "holding the resize intent" "$SCULPT_LOG"; do
    [ $i -lt 60 ] || fail "the resize of rz-1 never reached its reshape"
    sleep 1
    i=$((i + 1))
done
kill -9 "$(cat "$run/$name/sculpt-compute.pid")"
say "sculpt-compute killed in the middle of the resize to m1.small"
restart_host "$conf"
wait_status rz-1 VERIFY_RESIZE 60
[ "$(flavor_of rz-1)" = m1.small ] || fail "rz-1 is on $(flavor_of rz-1) after the restart"
mig=$(mig_of rz-1 finished)
[ -n "$mig" ] || fail "the interrupted migration of rz-1 is not finished"
grep -q "interrupted resize of $id finished" "$SCULPT_LOG" || fail "no recovery of the resize logged"
[ "$(qemu_pid "$dom")" = "$pid" ] || fail "QEMU of $dom restarted over the crash"
i=0
until grep -q "prep_resize.*ignored: it is \`finished\` now" "$SCULPT_LOG"; do
    [ $i -lt 30 ] || fail "the prep_resize delivered again was not ignored"
    sleep 1
    i=$((i + 1))
done
openstack server resize confirm rz-1
wait_status rz-1 ACTIVE 60
[ "$(flavor_of rz-1)" = m1.small ] || fail "rz-1 is on $(flavor_of rz-1) after the confirm"
[ "$(alloc "$id")" = "2 256" ] || fail "rz-1 holds '$(alloc "$id")' after the confirm"
[ "$(alloc "$mig")" = - ] || fail "migration $mig still holds '$(alloc "$mig")'"
s=$(shape_ok "$id" "$dom" 2 256)
say "restart after a kill -9 mid-resize: VERIFY_RESIZE on m1.small, confirmed; $s"

openstack server delete --wait rz-1
restart_host ""
say "host $host back to its configuration: all checks passed"
