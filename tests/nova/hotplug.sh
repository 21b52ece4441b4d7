#!/bin/sh
# Memory hot-plug through Nova on real guests: the libvirt host NAME
# restarted with `[libvirt] memory_hotplug` (pools off: no member of the
# flavor competes for the machine; engine steps of 10 s), then
#   1. a flavor of 640 MiB whose custom blueprint needs 256 MiB for its
#      first 1.5 minutes and 512 after: two servers of it, one of the
#      ordinary image and one of an image whose kernel leaves hot-added
#      memory offline (`memhp_default_state=offline` on its command line,
#      as a stock Debian 12 kernel does);
#   2. each guest is defined to boot with 256 MiB and a virtio-mem device
#      of 384 MiB, none of it requested;
#   3. once the blueprint rises, the engine asks each for 256 MiB more: the
#      first plugs it and its MemTotal (the balloon's guest statistics)
#      grows by exactly that;
#   4. the second plugs it too, as the host sees it, but its MemTotal does
#      not move: sculpt declares it offline after [libvirt]
#      memory_hotplug_timeout (a warning, sculpt_memory_hotplug_offline_total)
#      and the engine counts only what the guest can use.
# At the end the host is restarted with its ordinary configuration.
#   tests/nova/hotplug.sh RUN_DIR NAME
set -eu
run=$1
name=$2
phase=hotplug
. "$(dirname "$0")/presculpt_lib.sh"

TIMEOUT=20 # [libvirt] memory_hotplug_timeout, s
# engine steps (and usage samples) every 10 s, not 60: the blueprint's
# rise and the verdict come within the phase's minutes
restart_host "[engine]
step_interval = 10
[libvirt]
memory_hotplug = true
memory_hotplug_timeout = $TIMEOUT
mem_stats_period_seconds = 2
[presculpt]
enabled = false"
say "host $host restarted with memory hot-plug"

ctl() { SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" "$@"; }
openstack flavor create m1.hotplug --vcpus 1 --ram 640 --disk 1 >/dev/null
# the same disk, kernel and initrd as the ordinary image; its command line
# leaves hot-added memory offline
props=$(openstack image show "$SCULPT_IMAGE_ID" -f json -c properties)
cmdline=$(printf '%s' "$props" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["properties"]["os_command_line"])')
openstack image save --file "$run/hotplug-base.qcow2" "$SCULPT_IMAGE_ID"
offline_image=$(openstack image create hotplug-offline --disk-format qcow2 --container-format bare \
    --file "$run/hotplug-base.qcow2" --property "kernel_id=$SCULPT_KERNEL_ID" \
    --property "ramdisk_id=$SCULPT_RAMDISK_ID" \
    --property "os_command_line=$cmdline memhp_default_state=offline" -f value -c id)
rm -f "$run/hotplug-base.qcow2"

# 1. 256 MiB for 3 steps of 30 s, then 512: the engine grows 2 of its
# steps (10 s) ahead, so the definition takes 256, and the guests have
# booted and shown their MemTotal (what their kernel keeps for itself)
# before the rise, 70-90 s after the build (a booted guest shows it within
# 20 s of its build, 25 s on a loaded machine)
mem=$(/usr/bin/python3 -c 'print([256] * 3 + [512] * 17)')
bp_id=$(printf '{"name": "hotplug", "match": {"flavor": "m1.hotplug"},
    "blueprint": {"step_s": 30, "nsteps": 20, "confidence": 0.9,
    "resources": {"vcpu": {"p50": 0.3, "p99": 0.5}, "mem_mib": {"p50": %s}}}}' "$mem" |
    ctl -f json blueprint create - |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') ||
    fail "custom blueprint for m1.hotplug not created"
t_build=$(date +%s)
id1=$(create_flavor m1.hotplug hp-1)
id2=$(openstack server create --flavor m1.hotplug --image "$offline_image" --nic none \
    --availability-zone "nova:$host" hp-2 -f value -c id)
wait_status hp-1 ACTIVE 180
wait_status hp-2 ACTIVE 180
say "hp-1 and hp-2 ACTIVE in $(($(date +%s) - t_build)) s"
d1=$(domain_of "$id1")
d2=$(domain_of "$id2")

# 2. the definition
vmem() { # DOMAIN FIELD: the virtio-mem device's field (KiB) in the live XML
    virsh_ dumpxml "$1" | sed -n "/model='virtio-mem'/,/<\/memory>/p" |
        sed -n "s/.*<$2 unit='KiB'>\([0-9]*\)<.*/\1/p"
}
for d in "$d1" "$d2"; do
    virsh_ dumpxml "$d" | grep -q "<maxMemory slots='1' unit='KiB'>655360</maxMemory>" ||
        fail "$d is not defined with 640 MiB at most: $(virsh_ dumpxml "$d" | grep -i memory)"
    [ "$(vmem "$d" size)" = 393216 ] || fail "$d has no virtio-mem device of 384 MiB"
done
say "both defined to boot with 256 MiB and a virtio-mem device of 384 MiB"

# MemTotal as the guest's balloon driver reports it (KiB; "" before it does)
guest_total() { virsh_ dommemstat "$1" 2>/dev/null | sed -n 's/^available \([0-9]*\)$/\1/p'; }
plugged() { # DOMAIN: 256 MiB requested and plugged
    [ "$(vmem "$1" requested)" = 262144 ] && [ "$(vmem "$1" current)" = 262144 ]
}
# 3-4. the blueprint rises: 256 MiB requested of both and
# plugged by both (as the host sees it); the first guest's MemTotal is the
# second's (the same kernel and boot memory) and what it plugged
grown() {
    _t1=$(guest_total "$d1")
    _t2=$(guest_total "$d2")
    plugged "$d1" && plugged "$d2" && [ -n "$_t1" ] && [ -n "$_t2" ] &&
        [ $((_t1 - _t2 - 262144)) -le 4096 ] && [ $((_t1 - _t2 - 262144)) -ge -4096 ]
}
poll 300 1 grown ||
    fail "not grown by 256 MiB: hp-1 requested $(vmem "$d1" requested), plugged $(vmem "$d1" current), MemTotal $(guest_total "$d1") KiB; hp-2 requested $(vmem "$d2" requested), plugged $(vmem "$d2" current), MemTotal $(guest_total "$d2") KiB"
say "256 MiB plugged into both $(($(date +%s) - t_build)) s after the build; MemTotal hp-1 $(guest_total "$d1") KiB, hp-2 $(guest_total "$d2") KiB"

uuid2=$(virsh_ domuuid "$d2")
poll $((TIMEOUT + 60)) 1 grep -q "guest $uuid2 plugged 256 MiB but its kernel shows .* MiB fewer" "$SCULPT_LOG" ||
    fail "hp-2's offline memory not declared"
curl -sf -H "X-Auth-Token: $SCULPT_API_TOKEN" "$SCULPT_API_URL/metrics" | grep -qx 'sculpt_memory_hotplug_offline_total 1' ||
    fail "sculpt_memory_hotplug_offline_total is not 1"
# the engine counts what hp-2 can use: what it held before the plug and
# the page structures' allowance of what it plugged (8 MiB), not 512 MiB
held_mib() {
    sed -n "s/.*\`$id2\` holds \([0-9]*\) MiB, short of the memory asked.*/\1/p" "$SCULPT_LOG" |
        tail -n 1
}
held() { [ -n "$(held_mib)" ]; }
poll 30 1 held || fail "the engine does not hold hp-2 at what it can use"
[ "$(held_mib)" -le 264 ] && [ "$(held_mib)" -gt 128 ] ||
    fail "the engine holds hp-2 at $(held_mib) MiB, not what it can use"
grep -q "guest $(virsh_ domuuid "$d1") plugged .* but its kernel shows" "$SCULPT_LOG" &&
    fail "hp-1 declared offline"
say "hp-2: 256 MiB plugged, its MemTotal unmoved, declared offline; the engine holds it at $(held_mib) MiB"

delete_wait hp-1 hp-2
ctl blueprint delete "$bp_id" >/dev/null || fail "custom blueprint $bp_id not deleted"
openstack image delete "$offline_image"
openstack flavor delete m1.hotplug
restart_host ""
say "host $host back to its configuration: all checks passed"
