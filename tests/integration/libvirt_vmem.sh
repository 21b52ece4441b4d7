#!/bin/sh
# Memory hot-plug ([libvirt] memory_hotplug) on a real libvirtd and QEMU
# guest (the tiny guest, software emulation as in CI): a guest defined to
# boot with 256 MiB and a virtio-mem device up to 1280 MiB; reshapes plug
# memory above the boot memory and unplug it again, the balloon moves
# within it, each checked from inside the guest (MemTotal on its serial
# console) and from libvirt (the device's requested and plugged sizes); a
# paused guest (a pool member at hand-over) plugs once it runs; a second
# sculpt process adopts the guest and reshapes it from what the domain
# says.  A second guest booted without the virtio_mem driver never plugs:
# sculpt reports what it holds, declares it stalled once (a warning, an
# event) after [libvirt] memory_hotplug_timeout, and neither a reshape, a
# reconcile nor another process asks it again.  A third guest, booted
# with its memory left offline as a stock kernel does, plugs what is asked
# but shows none of it: declared offline (a warning, an event) until it
# onlines it, by a restarted process too (the kernel's own share kept in
# the run's metadata).  One private libvirtd
# (contrib/stack/libvirt.sh).
set -eu
. "$SCULPT_TOP/tests/lib.sh"

libvirt_test_start vmem
VMEM_TIMEOUT=10 # s without a move before a guest is declared stalled
OPTS="-o libvirt.connection_uri=$LIBVIRT_URI -o libvirt.virt_type=$VT
      -o libvirt.instances_path=$T/instances -o libvirt.memory_hotplug=true
      -o libvirt.max_vcpus=2 -o libvirt.memory_hotplug_timeout=$VMEM_TIMEOUT"
# shellcheck disable=SC2086
hv_session_start "$T" "$HVCTL" -o DEFAULT.log_level=warning $OPTS \
    -o libvirt.mem_stats_period_seconds=1

U=$(cat /proc/sys/kernel/random/uuid)
DOM=sculpt-$U
LOG=$T/instances/$U/console.log

# ---- the definition ----
hv spawn uuid=$U kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline \
    vcpu=1 mem_mib=256 online=1 max=2 mem_max=1280 || fail "spawn"
XML=$($VIRSH dumpxml $DOM)
has() { printf '%s\n' "$XML" | grep -Eq "$1"; }
check "maximum 1280 MiB, one slot" has "<maxMemory slots='1' unit='KiB'>1310720</maxMemory>"
check "boots with 256 MiB in one guest NUMA cell" \
    has "<cell id='0' cpus='0-1' memory='262144' unit='KiB'"
check "a virtio-mem device of 1024 MiB" sh -c "printf '%s' \"\$0\" |
    sed -n \"/model='virtio-mem'/,/<\/memory>/p\" | grep -q \"<size unit='KiB'>1048576<\"" "$XML"
wait_match "$LOG" 'GUEST-INIT-READY' 120 >/dev/null || fail "guest did not boot"
echo "booted after $(( $(date +%s) - t0 ))s"
base=$(wait_match "$LOG" 'GUEST-STAT .*memtotal_kb=' 30 | sed 's/.*memtotal_kb=\([0-9]*\).*/\1/')
[ -n "$base" ] || fail "no memtotal from the guest"
echo "guest MemTotal at 256 MiB of boot memory: $base KiB"

plugged() { # the device's size plugged by the guest, KiB
    $VIRSH dumpxml $DOM | sed -n "/model='virtio-mem'/,/<\/memory>/p" |
        sed -n "s/.*<current unit='KiB'>\([0-9]*\)<.*/\1/p"
}
plugged_is() { test "$(plugged)" = "$1"; }
requested() {
    $VIRSH dumpxml $DOM | sed -n "/model='virtio-mem'/,/<\/memory>/p" |
        sed -n "s/.*<requested unit='KiB'>\([0-9]*\)<.*/\1/p"
}
# mem_reshape MIB CALLS DELTA_KIB: reshape to MIB, expect CALLS libvirt
# calls, and the guest's MemTotal at base + DELTA_KIB
mem_reshape() {
    _t0=$(date +%s%N)
    # MemTotal passes through other sizes on the way: count this one anew
    _seen=$(grep -c "memtotal_kb=$((base + $3)) " "$LOG" || true)
    hv reshape uuid=$U mem_mib=$1 || fail "reshape to $1 MiB"
    check "$1 MiB: changed balloon in $2 calls" \
        test "$(kv changed "$HV_OUT") $(kv calls "$HV_OUT")" = "balloon $2"
    wait_match "$LOG" "memtotal_kb=$((base + $3)) " 120 $((_seen + 1)) >/dev/null ||
        fail "the guest does not hold $1 MiB (MemTotal $((base + $3)) KiB)"
    echo "ok: the guest holds $1 MiB after $(( ($(date +%s%N) - _t0) / 1000000 )) ms"
}

# ---- above the boot memory: plugged ----
mem_reshape 768 1 524288
check "requested 512 MiB" test "$(requested)" = 524288
check "plugged 512 MiB" retry 30 plugged_is 524288
check "balloon untouched at the boot memory" \
    sh -c "$VIRSH dommemstat $DOM | grep -qx 'actual 262144'"
mem_reshape 1280 1 1048576
check "plugged 1024 MiB" retry 30 plugged_is 1048576

# ---- below it: unplugged, then ballooned ----
# The guest onlines what is plugged beyond 3x its boot memory (768 MiB
# here) as kernel memory (guest-init.sh), where a page it cannot move keeps
# a block plugged (its driver retries later): it holds 192 MiB and what it
# could not unplug, which is that part at most.
hv reshape uuid=$U mem_mib=192 || fail "reshape to 192 MiB"
check "192 MiB: changed balloon in 2 calls" \
    test "$(kv changed "$HV_OUT") $(kv calls "$HV_OUT")" = "balloon 2"
check "requested 0" test "$(requested)" = 0
check "balloon at 192 MiB" retry 30 sh -c "$VIRSH dommemstat $DOM | grep -qx 'actual 196608'"
guest_total() { grep 'GUEST-STAT' "$LOG" | tail -n 1 | sed 's/.*memtotal_kb=\([0-9]*\).*/\1/'; }
# sampled_info UUID KEY OP VALUE: after a sample (the engine's step, which
# declares stalls and memory left offline), guest UUID's info KEY OP VALUE
sampled_info() {
    hv sample >/dev/null && hv info uuid=$1 >/dev/null && test "$(kv "$2" "$HV_OUT")" "$3" "$4"
}
settled() { # the guest's MemTotal is 192 MiB's plus what stays plugged
    _p=$(plugged)
    [ -n "$_p" ] && [ "$(guest_total)" = $((base - 65536 + _p)) ] &&
        sleep 5 && [ "$(plugged)" = "$_p" ] && [ "$(guest_total)" = $((base - 65536 + _p)) ]
}
check "the guest holds 192 MiB and what stays plugged" retry 120 settled
left=$(plugged)
echo "left plugged after the unplug: $left KiB of 1048576"
check "the movable part unplugged (at most 256 MiB left)" test "$left" -le 262144
hv info uuid=$U || fail "info"
check "info: plugged as libvirt says, 0 requested" \
    test "$(kv mem_plugged "$HV_OUT") $(kv mem_requested "$HV_OUT")" = "$((left / 1024)) 0"
if [ "$left" -gt 0 ]; then
    # what the guest could not unplug: stalled after the timeout, then
    # the balloon (at the next sample) takes it, down to 192 MiB in all
    check "the unplug declared stalled" retry $((VMEM_TIMEOUT + 30)) sampled_info $U mem_stalled = 1
    check "event memory unplug-stalled" grep -q "^EVENT memory $U reason=unplug-stalled" "$T/hv.out"
    hv sample || fail "sample" # the balloon offset comes with the next sample
    check "balloon offset by what stays plugged" retry 30 \
        sh -c "$VIRSH dommemstat $DOM | grep -qx 'actual $((196608 - left))'"
    check "the guest holds 192 MiB" retry 60 sh -c \
        "grep 'GUEST-STAT' '$LOG' | tail -n 1 | grep -q 'memtotal_kb=$((base - 65536)) '"
    hv info uuid=$U || fail "info"
    check "info: it holds 192 MiB" test "$(kv mem_mib "$HV_OUT")" = 192
else
    echo "ok: everything unplugged this run: no balloon offset needed"
fi

# ---- across it: the balloon back to the boot memory and a plug ----
mem_reshape 512 2 262144

# ---- while paused (a pool member at hand-over): plugged once it runs ----
hv pause uuid=$U || fail "pause"
seen=$(grep -c "memtotal_kb=$((base + 131072)) " "$LOG" || true)
hv reshape uuid=$U mem_mib=384 || fail "reshape while paused"
check "paused: one call (the device)" test "$(kv calls "$HV_OUT")" = 1
check "requested 128 MiB while paused" test "$(requested)" = 131072
hv unpause uuid=$U || fail "unpause"
wait_match "$LOG" "memtotal_kb=$((base + 131072)) " 120 $((seen + 1)) >/dev/null ||
    fail "the guest does not hold 384 MiB after it runs again"
echo "ok: the guest holds 384 MiB once unpaused"

# ---- another sculpt process adopts the guest and splits from the domain ----
seen=$(grep -c "memtotal_kb=$((base + 393216)) " "$LOG" || true)
# shellcheck disable=SC2086
out=$("$HVCTL" -o DEFAULT.log_level=error $OPTS reshape uuid=$U mem_mib=640 2>>"$T/hvctl.err") ||
    fail "reshape from a second process: $out"
check "second process: one call (the device)" test "$(kv calls "$out")" = 1
wait_match "$LOG" "memtotal_kb=$((base + 393216)) " 60 $((seen + 1)) >/dev/null ||
    fail "the guest does not hold 640 MiB"
check "requested 384 MiB" test "$(requested)" = 393216
hv info uuid=$U || fail "info"
check "still the first boot" test "$(kv state "$HV_OUT")" = running
check "one boot across all of it" test "$(grep -c GUEST-INIT-READY "$LOG")" = 1
hv destroy uuid=$U || fail "destroy"

# ---- a guest that does not plug: booted without the virtio_mem driver ----
# spawn_with UUID EXTRA WHAT: the tiny guest with EXTRA on its kernel
# command line, as the first (DOM and LOG name it), booted
spawn_with() {
    DOM=sculpt-$1
    LOG=$T/instances/$1/console.log
    printf '%s %s\n' "$(cat "$G/cmdline")" "$2" >"$T/cmdline-$1"
    hv spawn uuid=$1 kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$T/cmdline-$1 \
        vcpu=1 mem_mib=256 online=1 max=2 mem_max=1280 || fail "spawn $3"
    wait_match "$LOG" 'GUEST-INIT-READY' 120 >/dev/null || fail "guest $3 did not boot"
}
U2=$(cat /proc/sys/kernel/random/uuid)
spawn_with "$U2" module_blacklist=virtio_mem "without virtio_mem"
check "the guest has no virtio_mem driver" grep -q "Module virtio_mem is blacklisted" "$LOG"
hv reshape uuid=$U2 mem_mib=768 || fail "reshape to 768 MiB"
check "768 MiB requested in one call" test "$(kv calls "$HV_OUT")" = 1
t_req=$(date +%s)
check "requested 512 MiB" test "$(requested)" = 524288
hv info uuid=$U2 || fail "info"
check "info: it holds 256 MiB, 512 requested, 0 plugged, not yet stalled" test \
    "$(kv mem_mib "$HV_OUT") $(kv mem_requested "$HV_OUT") $(kv mem_plugged "$HV_OUT") $(kv mem_stalled "$HV_OUT")" = \
    "256 512 0 0"
check "declared stalled after the timeout" retry $((VMEM_TIMEOUT + 30)) sampled_info $U2 mem_stalled = 1
took=$(( $(date +%s) - t_req ))
echo "stalled after ${took}s (timeout ${VMEM_TIMEOUT}s)"
check "not before the timeout" test "$took" -ge "$VMEM_TIMEOUT"
check "info: still 256 MiB held" test "$(kv mem_mib "$HV_OUT")" = 256
check "event memory plug-stalled, once" \
    test "$(grep -c "^EVENT memory $U2 reason=plug-stalled" "$T/hv.out")" = 1
check "a warning names the guest and what it holds" \
    grep -q "guest $U2 plugged 0 MiB of the 512 MiB requested" "$T/hv.err"
hv reshape uuid=$U2 mem_mib=768 || fail "reshape again"
check "the same shape again: no call" test "$(kv calls "$HV_OUT")" = 0
hv reconcile uuid=$U2 mem_mib=768 || fail "reconcile"
check "reconcile: no drift, nothing asked again" \
    sh -c "printf '%s\n' \"\$0\" | grep -q '^DRIFT $U2 none'" "$HV_OUT"
# shellcheck disable=SC2086
out=$("$HVCTL" -o DEFAULT.log_level=error $OPTS reshape uuid=$U2 mem_mib=768 2>>"$T/hvctl.err") ||
    fail "reshape from a second process: $out"
check "second process: the request read back, not repeated" test "$(kv calls "$out")" = 0
check "requested still 512 MiB, nothing plugged" \
    test "$(requested) $(plugged)" = "524288 0"
hv sample || fail "sample"
check "still one stall event" \
    test "$(grep -c "^EVENT memory $U2 reason=plug-stalled" "$T/hv.out")" = 1
hv destroy uuid=$U2 || fail "destroy"

# ---- a guest that plugs but leaves the memory offline (a stock kernel) ----
U3=$(cat /proc/sys/kernel/random/uuid)
spawn_with "$U3" memhp_default_state=offline "with memory left offline"
wait_match "$LOG" 'GUEST-STAT .*memtotal_kb=' 30 >/dev/null || fail "no memtotal from the guest"
# the kernel's own share is learnt from statistics newer than the boot
sampled_twice() { hv sample >/dev/null && sleep 2 && hv sample >/dev/null; }
check "sampled at the boot memory" sampled_twice
hv reshape uuid=$U3 mem_mib=768 || fail "reshape to 768 MiB"
check "plugged 512 MiB (as the host sees it)" retry 30 plugged_is 524288
check "its MemTotal unchanged" test "$(guest_total)" = "$base"
t_req=$(date +%s)
check "declared offline after the timeout" retry $((VMEM_TIMEOUT + 30)) sampled_info $U3 mem_offline != 0
took=$(( $(date +%s) - t_req ))
echo "offline declared after ${took}s (timeout ${VMEM_TIMEOUT}s): $(kv mem_offline "$HV_OUT") MiB"
check "not a stall: plugged as asked" test "$(kv mem_stalled "$HV_OUT") $(kv mem_plugged "$HV_OUT")" = "0 512"
check "offline: 512 MiB less the page structures' allowance" \
    test "$(kv mem_offline "$HV_OUT")" -ge 448 -a "$(kv mem_offline "$HV_OUT")" -le 512
check "event memory plug-offline, once" \
    test "$(grep -c "^EVENT memory $U3 reason=plug-offline" "$T/hv.out")" = 1
check "a warning names the guest and what it left offline" \
    grep -q "guest $U3 plugged 512 MiB but its kernel shows .* MiB fewer" "$T/hv.err"
# sculpt restarted while the memory is offline (FOLLOWUPS #99): the new
# process starts from the kernel's share the run's metadata keeps, not
# from the first gap it sees (which counts the offline memory)
check "the kernel's share kept in the run's metadata" \
    sh -c "$VIRSH dumpxml $DOM | grep -q 'gap_base=.[0-9]'"
hv_session_stop || fail "hvctl session"
# shellcheck disable=SC2086
hv_session_start "$T" "$HVCTL" -o DEFAULT.log_level=warning $OPTS \
    -o libvirt.mem_stats_period_seconds=1
check "declared offline again by a restarted process" \
    retry $((VMEM_TIMEOUT + 30)) sampled_info $U3 mem_offline != 0
check "event memory plug-offline from the restarted process" \
    grep -q "^EVENT memory $U3 reason=plug-offline" "$T/hv.out"
# its owner onlines it: MemTotal follows and the verdict is lifted
guest_send "$T/instances/$U3/console.sock" online
wait_match "$LOG" "memtotal_kb=$((base + 524288)) " 60 >/dev/null ||
    fail "the guest did not online what was plugged"
check "the verdict lifted once it shows the memory" retry 30 sampled_info $U3 mem_offline = 0
check "event memory onlined" grep -q "^EVENT memory $U3 reason=onlined" "$T/hv.out"
hv destroy uuid=$U3 || fail "destroy"
hv_session_stop || fail "hvctl session"
echo "libvirt_vmem: passed in $(( $(date +%s) - t0 ))s"
