#!/bin/sh
# Wide pools end to end on real guests: the libvirt host NAME restarted
# with pools at a short interval, described as 4 CPUs (`[host]
# topology_file`, vCPUs not pinned: this 2-core machine's engine admits 2
# vCPUs of flavors, and a grown m1.small beside a resident m1.tiny needs
# 3), then
#   1. cold builds of m1.small (2 vCPUs, 256 MiB) and m1.tiny (1 vCPU, 128
#      MiB; the same image and disk: one family) teach sculpt both classes;
#      m1.small's guest goes, m1.tiny's stays (the idle budget is a share of
#      what guests use);
#   2. the planner pools the family as one: a member is made from m1.tiny's
#      guest, defined with 2 vCPUs and 256 MiB at most, started at 1 vCPU and
#      128 MiB (what the engine holds for it), paused once booted;
#   3. a build of m1.small takes it: the engine admits the request as a cold
#      build, the member is grown live -- a vCPU hot-plugged, the balloon
#      raised -- and the instance that comes ACTIVE is the member's domain
#      with 2 vCPUs online and 256 MiB (virsh vcpucount, dommemstat);
#   4. a member whose re-sculpt fails (the test-only SCULPT_TEST_FAIL_FIT
#      hook fails it for ws-4) does not serve: destroyed, counted a miss,
#      the build of m1.tiny goes on cold with the flavor's maxima, nothing
#      leaks (tests/nova/presculpt_wide_failed.sh).
# At the end the host is restarted with its ordinary configuration.
#   tests/nova/presculpt_wide.sh RUN_DIR NAME
set -eu
run=$1
name=$2
phase=presculpt-wide
. "$(dirname "$0")/presculpt_lib.sh"

printf 'cpus=4\nmem_gib=8\n' >"$run/wide-host.txt"
export SCULPT_TEST_FAIL_FIT=ws-4
restart_host "[host]
topology_file = $run/wide-host.txt
[engine]
pin_vcpus = false
[presculpt]
interval = 10
member_lifetime = 300
idle_budget = 100
max_share = 0.25
cold_start_price = 100" forget
say "host $host restarted with pools every 10 s"

# 1. both classes of the family taught by cold builds
create_flavor m1.small ws-2 --wait ACTIVE 240 >/dev/null
delete_wait ws-2
create_flavor m1.tiny ws-1 --wait ACTIVE 240 >/dev/null
say "cold builds of m1.small (deleted) and m1.tiny"

# 2. a member of the family pool, paused at its base shape
m=$(poll 180 1 paused_member "pool_key like 'disk=%'") ||
    fail "no paused member of a family pool after 180 s"
pool=$(sql "select pool_key from pool_members where domain = '$m'")
[ "$(virsh_ vcpucount "$m" --maximum --config | tr -d ' ')" = 2 ] ||
    fail "$m is not defined with 2 vCPUs: $(virsh_ vcpucount "$m" | tr '\n' ' ')"
[ "$(virsh_ vcpucount "$m" --live --active | tr -d ' ')" = 1 ] ||
    fail "$m does not run 1 vCPU: $(virsh_ vcpucount "$m" | tr '\n' ' ')"
# (the definition: the live XML shows where the guest's balloon got to)
virsh_ dumpxml --inactive "$m" | grep -q "<memory unit='KiB'>262144</memory>" ||
    fail "$m is not defined with 256 MiB: $(virsh_ dumpxml --inactive "$m" | grep -i memory)"
virsh_ dumpxml --inactive "$m" | grep -q "<currentMemory unit='KiB'>131072</currentMemory>" ||
    fail "$m is not started at 128 MiB: $(virsh_ dumpxml --inactive "$m" | grep -i memory)"
grep -q "pool \`$pool\`: member .* started in vcpu=1,mem_mib=128," "$SCULPT_LOG" ||
    fail "the engine does not hold $m at its base shape"
say "member $m of pool $pool: paused at 1 vCPU / 128 MiB, defined with 2 / 256"

# 3. a build of m1.small takes it and grows it live.  m1.small needs
# 1.2-1.5 vCPUs (a custom blueprint, removed at the end): the engine's shape
# has 2 online whatever the fleet learnt before (idle guests would give it
# a fraction of one, and nothing to hot-plug)
bp_id=$(printf '%s' '{"name": "presculpt-wide", "match": {"flavor": "m1.small"},
    "blueprint": {"step_s": 60, "horizon_s": 1800, "confidence": 0.9,
    "resources": {"vcpu": {"p50": 1.2, "p90": 1.4, "p99": 1.5},
                  "mem_mib": {"p50": 256, "p99": 256}}}}' |
    SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" -f json blueprint create - |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') ||
    fail "custom blueprint for m1.small not created"
t=$(date +%s)
id3=$(create_flavor m1.small ws-3 --wait ACTIVE 120)
say "ws-3 ACTIVE in $(($(date +%s) - t)) s"
[ "$(taken)" = "$m" ] || fail "ws-3 did not take $m (took '$(taken)')"
m_uuid=$(virsh_ domuuid "$m")
grep -q "member $m_uuid re-sculpted for instance $id3 in [0-9.]* ms" "$SCULPT_LOG" ||
    fail "$m not re-sculpted for ws-3"
[ "$(virsh_ domstate "$m" | head -n 1)" = running ] || fail "$m is not running"
# grown: the hot-plugged vCPU and the raised balloon, as libvirt reads them
# from QEMU and the guest (30 s at most: not once, right after ACTIVE)
grown() {
    [ "$(virsh_ vcpucount "$m" --live --active | tr -d ' ')" = 2 ] &&
        virsh_ dommemstat "$m" | grep -qx 'actual 262144'
}
poll 30 1 grown ||
    fail "$m not grown to 2 vCPUs and 256 MiB 30 s after ACTIVE: $(virsh_ vcpucount "$m" --live --active | tr -d ' ') vCPUs, $(virsh_ dommemstat "$m" | tr '\n' ' ')"
sql_is "select state || ' ' || instance_uuid from pool_members where domain = '$m'" "handed_over $id3" ||
    fail "hand-over of $m not recorded"
sql_is "select domain from instances where uuid = '$id3'" "$m" || fail "instance row of ws-3 does not name $m"
say "ws-3 is member $m grown live: 2 vCPUs online, balloon at 256 MiB"

. "$(dirname "$0")/presculpt_wide_failed.sh"

delete_wait ws-4 ws-1
SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" blueprint delete "$bp_id" >/dev/null ||
    fail "custom blueprint $bp_id not deleted"
unset SCULPT_TEST_FAIL_FIT
restart_host "" forget
say "host $host back to its configuration: all checks passed"
