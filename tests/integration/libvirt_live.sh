#!/bin/sh
# The libvirt backend against a real libvirtd and a real QEMU guest (the
# tiny guest, software emulation as in CI): spawn from a qcow2 overlay,
# every knob reshaped live and checked from inside the guest (its serial
# console) and from libvirt (virsh), fractional CPU enforced and sampled,
# no restart across reshapes, a libvirtd restart survived, a guest killed
# behind sculpt's back noticed, power cycle, suspend/resume, snapshot
# (live, the guest running on; cold: saved, copied, restored), rescue and
# unrescue, cold resize, the guest agent (a password; a live snapshot
# quiesced, skipped or refused without it; a freeze a crash left thawed),
# reconcile, destroy.  One private libvirtd (contrib/stack/libvirt.sh).
set -eu
. "$SCULPT_TOP/tests/lib.sh"

libvirt_test_start lv
hvctl() { # a separate sculpt process on the same libvirtd
    "$HVCTL" -o DEFAULT.log_level=error -o "libvirt.connection_uri=$LIBVIRT_URI" \
        -o "libvirt.virt_type=$VT" -o "libvirt.instances_path=$T/instances" \
        -o libvirt.max_vcpus=4 "$@" 2>>"$T/hvctl.err"
}
hv_session_start "$T" "$HVCTL" -o DEFAULT.log_level=warning \
    -o "libvirt.connection_uri=$LIBVIRT_URI" -o "libvirt.virt_type=$VT" \
    -o "libvirt.instances_path=$T/instances" -o libvirt.mem_stats_period_seconds=1 \
    -o libvirt.max_vcpus=4 -o libvirt.reconnect_interval=200

hv host || fail "host info"
check "virt type $VT" test "$(kv virt_type "$HV_OUT")" = "$VT"
hv caps || fail "capabilities"
printf '%s\n' "$HV_OUT" | grep -q "<cells num=" || fail "capabilities without NUMA cells"

# a fresh uuid per run: tap names are host-wide and runs may overlap
U=$(cat /proc/sys/kernel/random/uuid)
DOM=sculpt-$U
DIR=$T/instances/$U
LOG=$DIR/console.log
SOCK=$DIR/console.sock
base_sum=$(sha256sum "$G/base.qcow2" | cut -d' ' -f1)

# ---- spawn ----
hv spawn uuid=$U kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline \
    disk=$G/base.qcow2 vcpu=1 mem_mib=256 online=1 max=3 mem_max=512 numa=0 ||
    fail "spawn"
spawned=$(date +%s)
# the engine's boot signal (drv_sculpt_guest_up): booting until the
# guest's balloon driver reports its memory, then its figures, taken since
# the start (the engine's boot allowance lasts until then)
hv sample || fail "sample"
check "booting: no memory figures yet" sh -c "printf '%s\n' \"\$0\" | grep -q \"^SAMPLE $U .* booting=1 guest_mem=0 \"" "$HV_OUT"
wait_match "$LOG" 'GUEST-INIT-READY' 120 >/dev/null || fail "guest did not boot"
echo "booted after $(( $(date +%s) - t0 ))s"
up_since() { # the guest's figures, taken at or after $1
    hv sample && printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U .* booting=0 guest_mem=1 " |
        sed 's/.*guest_stats_s=//' | { read -r s && [ "$s" -ge "$1" ]; }
}
check "up: its figures since the start" retry 30 up_since "$spawned"
wait_match "$LOG" 'GUEST-DISK marker=SCULPT-BASE-IMAGE' 10 >/dev/null ||
    fail "base image not seen through the overlay"
check "overlay backed by the base" sh -c "qemu-img info -U '$DIR/disk' | grep -q 'backing file: $G/base.qcow2'"
hv spawn uuid=$U kernel=$G/vmlinuz vcpu=1 mem_mib=256 online=1 max=3 mem_max=512 &&
    fail "second spawn of the same uuid"
check "duplicate spawn is CONFLICT" sh -c "printf '%s' \"\$0\" | grep -q '^ERR spawn CONFLICT'" "$HV_OUT"
hv spawn uuid=$(cat /proc/sys/kernel/random/uuid) kernel=$G/vmlinuz vcpu=1 mem_mib=256 \
    online=1 max=64 mem_max=512 && fail "spawn above the host policy"
check "above host policy is CAPACITY" sh -c "printf '%s' \"\$0\" | grep -q '^ERR spawn CAPACITY'" "$HV_OUT"

hv info uuid=$U || fail "info"
ID=$(kv id "$HV_OUT")
check "domain type $VT" sh -c "$VIRSH dumpxml $DOM | grep -q \"<domain type='$VT'\""
check "q35 with spare root ports" sh -c "$VIRSH dumpxml $DOM | grep -q pcie-root-port"
check "numatune on node 0" sh -c "$VIRSH numatune $DOM | grep -Eq 'numa_nodeset *: 0'"
wait_match "$LOG" 'memtotal_kb=2[0-3][0-9]{4} ' 60 >/dev/null || fail "balloon never reached 256 MiB"

# ---- vCPU hot-add + quota ----
hv reshape uuid=$U online=3 vcpu=2.5 || fail "reshape vcpus"
check "changed vcpus,quota" test "$(kv changed "$HV_OUT")" = "vcpus,quota"
wait_match "$LOG" 'cpus_online=0-2 ' 30 >/dev/null || fail "hot-added vCPUs not online in the guest"
check "libvirt: 3 vCPUs live" sh -c "$VIRSH vcpucount $DOM --live --active | grep -qx ' *3'"
check "quota 2.5/3 of the period" sh -c "$VIRSH schedinfo $DOM | grep -Eq 'vcpu_quota *: 83333$'"
# the CPU weight (cpu.weight units) reaches libvirt's cpu_shares: as is on a
# cgroup v2 host, x 10.24 on v1 (the kernel's mapping)
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then v2=1; else v2=0; fi
shares() { [ $v2 = 1 ] && echo "$1" || echo $(( ($1 * 1024 + 50) / 100 )); }
check "weight 250 (2.5 vCPU): cpu_shares $(shares 250)" \
    sh -c "$VIRSH schedinfo $DOM | grep -Eq 'cpu_shares *: $(shares 250)$'"
hv reshape uuid=$U weight=1000 || fail "reshape the CPU weight"
check "changed quota (the weight) only" test "$(kv changed "$HV_OUT")" = "quota"
check "weight 1000 live: cpu_shares $(shares 1000)" \
    sh -c "$VIRSH schedinfo $DOM | grep -Eq 'cpu_shares *: $(shares 1000)$'"
check "weight 1000 in the live XML" \
    sh -c "$VIRSH dumpxml $DOM | grep -q '<shares>$(shares 1000)</shares>'"
hv reshape uuid=$U weight=0 || fail "reshape the CPU weight back"
check "weight back to per vCPU" \
    sh -c "$VIRSH schedinfo $DOM | grep -Eq 'cpu_shares *: $(shares 250)$'"

# ---- balloon down and up ----
hv reshape uuid=$U mem_mib=160 || fail "balloon down"
check "changed balloon only" test "$(kv changed "$HV_OUT")" = "balloon"
wait_match "$LOG" 'memtotal_kb=1[0-3][0-9]{4} ' 30 >/dev/null || fail "guest memory did not shrink"
# balloon_at KIB: the balloon there, as QEMU's live query says and as
# libvirt records it in the domain (<currentMemory>, which sculpt reads):
# the record moves on QEMU's BALLOON_CHANGE events, rate-limited to one a
# second, so it can trail the query
balloon_at() {
    $VIRSH dommemstat $DOM | grep -qx "actual $1" &&
        $VIRSH dumpxml $DOM | grep -q "<currentMemory unit='KiB'>$1<"
}
hv reshape uuid=$U mem_mib=320 || fail "balloon up"
wait_match "$LOG" 'memtotal_kb=2[6-9][0-9]{4} ' 30 >/dev/null || fail "guest memory did not grow"
check "libvirt balloon at 320 MiB" retry 30 balloon_at 327680

# ---- a balloon on its way is neither drift nor asked again ----
# libvirt reports the balloon's actual size; a paused guest's cannot move.
# A sculpt started anew (a crash) reads the target from the run metadata.
hv pause uuid=$U || fail "pause"
hv reshape uuid=$U mem_mib=192 || fail "balloon down while paused"
check "libvirt balloon still at 320 MiB" sh -c "$VIRSH dommemstat $DOM | grep -qx 'actual 327680'"
out=$(hvctl info uuid=$U) || fail "info from a new process: $out"
check "a new process: holds 320, asked 192" \
    test "$(kv mem_mib "$out") $(kv mem_asked "$out")" = "320 192"
out=$(hvctl reshape uuid=$U mem_mib=192) || fail "reshape from a new process: $out"
check "the target stands: not asked again" test "$(kv changed "$out")" = "none"
hv unpause uuid=$U || fail "unpause"
check "balloon reached 192 MiB" retry 30 balloon_at 196608
hv reshape uuid=$U mem_mib=320 || fail "balloon up again"
check "libvirt balloon at 320 MiB again" retry 30 balloon_at 327680

# ---- an NMI (Nova's trigger_crash_dump): a guest without a crash kernel
# logs it and runs on ----
nmi_before=$(grep -c 'NMI received' "$LOG" || true)
hv nmi uuid=$U || fail "inject NMI"
check "the guest's kernel logged the NMI" \
    retry 30 sh -c "test \$(grep -c 'NMI received' '$LOG') -gt $nmi_before"
check "still running after the NMI" sh -c "$VIRSH domstate $DOM | grep -qx running"

# ---- pinning, bandwidth, I/O tune ----
hv reshape uuid=$U pcpus=1 || fail "pin"
check "changed pin" test "$(kv changed "$HV_OUT")" = "pin"
check "every vCPU on CPU 1" sh -c "test \"\$($VIRSH vcpupin $DOM | awk '{print \$2}' | sort -u)\" = 1"
check "emulator on CPU 1" sh -c "$VIRSH emulatorpin $DOM | grep -Eq '(^|[ :])1$'"
TAP=$($VIRSH domiflist $DOM | awk 'NR==1{print $1}')
hv reshape uuid=$U net_in_mbps=10 net_out_mbps=20 || fail "bandwidth"
check "changed net" test "$(kv changed "$HV_OUT")" = "net"
check "inbound 1250 KB/s" sh -c "$VIRSH domiftune $DOM $TAP | grep -Eq 'inbound.average *: 1250$'"
check "outbound 2500 KB/s" sh -c "$VIRSH domiftune $DOM $TAP | grep -Eq 'outbound.average *: 2500$'"
check "htb rate 10Mbit on $TAP" sh -c "tc class show dev $TAP | grep -q 'rate 10Mbit'"
hv reshape uuid=$U disk_read_iops=200 disk_write_iops=100 disk_write_mbps=5 || fail "iotune"
check "changed disk" test "$(kv changed "$HV_OUT")" = "disk"
check "read_iops_sec 200" sh -c "$VIRSH blkdeviotune $DOM vda | grep -Eq '^read_iops_sec *: 200$'"
check "write_bytes_sec 5 MB/s" sh -c "$VIRSH blkdeviotune $DOM vda | grep -Eq '^write_bytes_sec *: 5000000$'"
hv reshape uuid=$U || fail "reshape to the same shape"
check "nothing done twice" test "$(kv changed "$HV_OUT") $(kv calls "$HV_OUT")" = "none 0"

# ---- the idle guest's use, the baseline of the usage checks ----
hv sample || fail "sample"
sleep 2
hv sample || fail "sample"
idle=$(printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U" | tr ' ' '\n' | sed -n 's/^use_vcpu=//p')
echo "idle guest: use_vcpu=$idle"

# ---- a shrink keeps the vCPUs (TCG) and lowers the quota ----
# (the guest burns 3 CPUs meanwhile, for the usage checks below)
guest_send "$SOCK" "burn 3 40"
wait_match "$LOG" 'GUEST-ACK burn 3' 20 >/dev/null || fail "guest did not burn"
hv reshape uuid=$U online=1 vcpu=0.5 pcpus= || fail "shrink"
if [ "$VT" = qemu ]; then
    check "vCPUs kept online" test "$(kv kept "$HV_OUT")" = 1
    check "quota 0.5/3" sh -c "$VIRSH schedinfo $DOM | grep -Eq 'vcpu_quota *: 16667$'"
    check "3 vCPUs still live" sh -c "$VIRSH vcpucount $DOM --live --active | grep -qx ' *3'"
fi
hv info uuid=$U || fail "info after shrink"
check "info: 1 vCPU asked, 3 online" test "$(kv online "$HV_OUT")/$(kv actual "$HV_OUT")" = "1/3"

# ---- usage: fractional CPU enforced and sampled ----
# The 3 burning vCPUs under 0.5 vCPU, under 0.06 vCPU, then without a
# limit.  The host's 2 CPUs are shared with other work, so only the caps
# are exact; the unlimited phase must merely beat the tightest cap.
use_under() { # SHAPE_VCPU -> use_vcpu over 4 s at that entitlement
    hv reshape uuid=$U online=3 vcpu=$1 >&2 || fail "reshape to $1 vCPU"
    hv sample >&2 || fail "sample"
    sleep 4
    hv sample >&2 || fail "sample"
    printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U" | tr ' ' '\n' | sed -n 's/^use_vcpu=//p'
}
use_a=$(use_under 0.5)
use_b=$(use_under 0.06)
check "quota 0.06/3 of the period" sh -c "$VIRSH schedinfo $DOM | grep -Eq 'vcpu_quota *: 2000$'"
use_c=$(use_under 3)
[ -n "$use_a" ] && [ -n "$use_b" ] && [ -n "$use_c" ] || fail "usage phases"
check "no quota at 3 of 3 vCPUs" sh -c "$VIRSH schedinfo $DOM | grep -Eq 'vcpu_quota *: -1$'"
echo "burning 3 vCPUs: use_vcpu $use_a under 0.5, $use_b under 0.06, $use_c unlimited (idle $idle)"
check "held at the 0.5 vCPU shape" awk -v u="$use_a" 'BEGIN{exit !(u < 0.6)}'
check "held at the 0.06 vCPU shape" awk -v u="$use_b" 'BEGIN{exit !(u < 0.12)}'
check "use moved with the burn and the quota" awk -v b="$use_b" -v c="$use_c" -v i="$idle" \
    'BEGIN{exit !(c > b + 0.08 && c > i + 0.05)}'
hv sample || fail "sample"
mem=$(printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U" | tr ' ' '\n' | sed -n 's/^use_mem_mib=//p')
check "memory use reported ($mem MiB)" awk -v m="$mem" 'BEGIN{exit !(m > 5 && m < 320)}'
wr0=$(printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U" | tr ' ' '\n' | sed -n 's/^blk_wr_bytes=//p')
tx0=$(printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U" | tr ' ' '\n' | sed -n 's/^net_tx=//p')
hv reshape uuid=$U online=3 vcpu=2 || fail "quota 2"
guest_send "$SOCK" "disk 8"
wait_match "$LOG" 'GUEST-ACK disk 8' 60 >/dev/null || fail "guest did not write"
guest_send "$SOCK" "net 200"
wait_match "$LOG" 'GUEST-ACK net 200' 60 >/dev/null || fail "guest did not send"
hv sample || fail "sample"
wr1=$(printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U" | tr ' ' '\n' | sed -n 's/^blk_wr_bytes=//p')
tx1=$(printf '%s\n' "$HV_OUT" | grep "^SAMPLE $U" | tr ' ' '\n' | sed -n 's/^net_tx=//p')
check "8 MiB written counted ($wr0 -> $wr1)" test $((wr1 - wr0)) -ge 8388608
check "guest's sends counted as its tx ($tx0 -> $tx1)" test $((tx1 - tx0)) -ge 200000

# ---- CPU weight under contention: two guests burning on one host CPU ----
# The kernel shares CPU 1 between the two domains by their weights whatever
# else runs there (other work on a busy machine may leave them little of it:
# only the ratio is checked); swapping the weights must swap who gets most.
V=$(cat /proc/sys/kernel/random/uuid)
VLOG=$T/instances/$V/console.log
hv spawn uuid=$V kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline \
    disk=$G/base.qcow2 vcpu=1 mem_mib=256 online=1 max=1 mem_max=256 pcpus=1 weight=900 \
    agent=1 || fail "spawn a second guest"
wait_match "$VLOG" 'GUEST-INIT-READY' 120 >/dev/null || fail "second guest did not boot"
hv reshape uuid=$U online=3 vcpu=3 pcpus=1 weight=100 || fail "pin the first guest with it"
use_of() { # UUID -> use_vcpu in the last sample
    printf '%s\n' "$HV_OUT" | grep "^SAMPLE $1" | tr ' ' '\n' | sed -n 's/^use_vcpu=//p'
}
contend() { # -> "use_U use_V" over 5 s, both burning
    guest_send "$SOCK" "burn 3 12" >/dev/null && guest_send "$T/instances/$V/console.sock" "burn 1 12" >/dev/null ||
        fail "burn"
    sleep 1
    hv sample >&2 || fail "sample"
    sleep 5
    hv sample >&2 || fail "sample"
    echo "$(use_of $U) $(use_of $V)"
}
set -- $(contend)
echo "CPU 1 shared at weights 100 / 900: use_vcpu $1 / $2"
check "the weight 900 guest gets most of CPU 1 ($2 vs $1)" \
    awk -v u="$1" -v v="$2" 'BEGIN{exit !(v > 3 * u && v > 0.05)}'
hv reshape uuid=$U weight=900 || fail "weight 900 on the first"
hv reshape uuid=$V weight=100 || fail "weight 100 on the second"
sleep 6 # the burns above end
set -- $(contend)
echo "CPU 1 shared at weights 900 / 100: use_vcpu $1 / $2"
check "swapped weights swap the shares ($1 vs $2)" \
    awk -v u="$1" -v v="$2" 'BEGIN{exit !(u > 3 * v && u > 0.05)}'
hv reshape uuid=$U online=3 vcpu=2 pcpus= weight=0 || fail "unpin the first guest"
sleep 6

# ---- a password through the guest agent (Nova's set_admin_password) ----
# The second guest has the agent's channel (an image with
# hw_qemu_guest_agent); libvirt talks to the agent once the guest opened its
# port, which the live XML's channel state says
VDOM=sculpt-$V
ta=$(date +%s)
agent_is() { $VIRSH dumpxml $VDOM | grep -q "name='org.qemu.guest_agent.0' state='$1'"; }
check "the agent's channel connected" retry 60 agent_is connected
pw=sculpt-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')/x
hv set-password uuid=$V password="$pw" || fail "set the root password"
line=$(wait_match "$VLOG" 'GUEST-PASSWORD user=root hash=' 10) || fail "the agent did not set it"
hash=${line##*hash=}
hash=$(printf '%s' "$hash" | tr -d '\r ')
salt=$(printf '%s' "$hash" | cut -d'$' -f3)
check "the guest's /etc/shadow holds the password's hash" \
    test "$(openssl passwd -6 -salt "$salt" "$pw")" = "$hash"
check "the password itself never on the console" sh -c "! grep -qF '$pw' '$VLOG'"
check "libvirt opened with a sync (guest-sync)" grep -q 'GUEST-AGENT guest-sync' "$VLOG"
hv set-password uuid=$V user=nosuch password=x && fail "a user the guest lacks"
check "an unknown user is the agent's error (Nova: InternalError)" \
    sh -c "printf '%s' \"\$0\" | grep -q '^ERR set-password INTERNAL .*guest-set-user-password'" "$HV_OUT"
# ---- a live snapshot quiesced through the agent (Zed's _live_snapshot) ----
# frozen once the copy is in sync, thawed once it is stopped (the log's
# order and the guest's console lines); the freeze recorded in the live
# metadata meanwhile, none left after; a freeze a crash left (recorded,
# made by hand) thawed by the next sculpt process to open
tq=$(date +%s)
hvq() { # a separate sculpt process logging at info into $T/q.log
    "$HVCTL" -o DEFAULT.log_level=info -o "libvirt.connection_uri=$LIBVIRT_URI" \
        -o "libvirt.virt_type=$VT" -o "libvirt.instances_path=$T/instances" \
        -o libvirt.max_vcpus=4 "$@" 2>"$T/q.log"
}
QURI=https://sculpt.openstack.org/xmlns/quiesce/1
unrecorded() { ! $VIRSH metadata $VDOM $QURI --live >/dev/null 2>&1; }
fs_is() { $VIRSH qemu-agent-command $VDOM '{"execute": "guest-fsfreeze-status"}' | grep -q "\"$1\""; }
nq=$(grep -c 'GUEST-FSFREEZE' "$VLOG" || :)
out=$(hvq snapshot uuid=$V out="$T/quiesced.qcow2" quiesce=require) || {
    cat "$T/q.log" >&2
    fail "quiesced snapshot"
}
check "quiesced ($out)" sh -c "printf '%s' '$out' | grep -q ' live=1 quiesced=1 frozen=0'"
wait_match "$VLOG" 'GUEST-FSFREEZE thawed' 10 $((nq / 2 + 1)) >/dev/null || fail "no thaw on the console"
check "the console: frozen, then thawed" \
    test "$(grep -o 'GUEST-FSFREEZE [a-z]*' "$VLOG" | tail -n 2 | tr '\n' ' ')" = \
    "GUEST-FSFREEZE frozen GUEST-FSFREEZE thawed "
check "the log: in sync and frozen, copy stopped, thawed" \
    test "$(sed -n 's/.*live snapshot of [0-9a-f-]*: \(copy in sync\|copy stopped\|[0-9]* filesystem(s) thawed\).*/\1/p' "$T/q.log" | tr '\n' '|')" = \
    "copy in sync|copy stopped|0 filesystem(s) thawed|"
check "the image is the guest's disk" \
    qemu-img compare -U -f qcow2 -F qcow2 "$T/instances/$V/disk" "$T/quiesced.qcow2"
check "the agent says thawed" fs_is thawed
check "no freeze record left" unrecorded
$VIRSH metadata $VDOM $QURI --live --key sculptquiesce --set "<frozen by='snapshot'/>" ||
    fail "record a freeze by hand"
$VIRSH domfsfreeze $VDOM >/dev/null || fail "virsh domfsfreeze"
check "frozen by hand" fs_is frozen
hvctl host >/dev/null || fail "hvctl host"
check "thawed by the next start" fs_is thawed
check "its record dropped" unrecorded
rm -f "$T/quiesced.qcow2"
guest_send "$T/instances/$V/console.sock" "agent off" >/dev/null || fail "stop the agent"
check "the agent's channel disconnected" retry 60 agent_is disconnected
hv set-password uuid=$V password=x && fail "an agent that stopped"
check "an agent that stopped does not answer (Nova: NotImplementedError)" \
    sh -c "printf '%s' \"\$0\" | grep -q '^ERR set-password TIMEOUT'" "$HV_OUT"
# without the agent: skipped when not required (Zed's log line), the
# snapshot failing when required -- the guest running on, no copy, no
# record, nothing left frozen
out=$(hvq snapshot uuid=$V out="$T/unquiesced.qcow2" quiesce=try) || fail "snapshot, agent off"
check "agent off, not required: taken, not quiesced" \
    sh -c "printf '%s' '$out' | grep -q ' live=1 quiesced=0'"
check "the log says why" grep -q "Skipping quiescing instance $V: \[Error Code 86\]" "$T/q.log"
out=$(hvq snapshot uuid=$V out="$T/refused.qcow2" quiesce=require) && fail "a required quiesce, agent off"
check "agent off, required: the agent's error ($out)" \
    test "${out#ERR snapshot TIMEOUT \[Error Code 86\] }" != "$out"
check "the guest runs on" sh -c "$VIRSH domstate $VDOM | grep -qx running"
check "no copy left" sh -c "o=\$($VIRSH blockjob $VDOM '$T/instances/$V/disk' --raw) && ! printf '%s' \"\$o\" | grep -q cur="
check "no record left" unrecorded
check "no file left, the console's last word thawed" sh -c "[ ! -e '$T/refused.qcow2' ] && [ -z \"\$(ls -A '$T/instances/snapshots')\" ] && grep -o 'GUEST-FSFREEZE [a-z]*' '$VLOG' | tail -n 1 | grep -q thawed"
rm -f "$T/unquiesced.qcow2"
echo "the quiesce checks took $(( $(date +%s) - tq ))s"
hv destroy uuid=$V || fail "destroy the second guest"
check "a domain without the agent's channel" sh -c "! $VIRSH dumpxml $DOM | grep -q guest_agent"
hv set-password uuid=$U password=x && fail "a guest without the agent"
check "no channel: refused (UNSUPPORTED)" \
    sh -c "printf '%s' \"\$0\" | grep -q '^ERR set-password UNSUPPORTED'" "$HV_OUT"
echo "the guest agent's checks took $(( $(date +%s) - ta ))s"

# ---- no restart across all of it ----
guest_send "$SOCK" "stat"
sleep 1.5
check "one boot only" test "$(grep -c GUEST-INIT-READY "$LOG")" = 1
up=$(grep GUEST-STAT "$LOG" | tail -n 1 | sed 's/.*uptime=\([0-9.]*\).*/\1/')
hv info uuid=$U || fail "info"
check "same domain id" test "$(kv id "$HV_OUT")" = "$ID"
echo "guest uptime ${up}s after every reshape, libvirt uptime $(kv uptime_ms "$HV_OUT") ms"
check "uptime ran on" awk -v u="$up" 'BEGIN{exit !(u > 15)}'

# ---- libvirtd restarts under us ----
hv events || true
"$SCULPT_TOP/contrib/stack/libvirt.sh" restart "$T" >/dev/null || fail "libvirtd restart"
hv wait-event type=reconnected timeout_ms=60000 || fail "no reconnection"
hv reshape uuid=$U mem_mib=300 || fail "reshape after the restart"
hv info uuid=$U || fail "info after the restart"
check "still running, same id" test "$(kv state "$HV_OUT") $(kv id "$HV_OUT")" = "running $ID"
check "still one boot" test "$(grep -c GUEST-INIT-READY "$LOG")" = 1

# ---- a sculpt that starts anew adopts the guest from libvirt alone ----
out=$(hvctl spec uuid=$U) || fail "spec from a new process: $out"
check "spec kept in the domain" test "$(kv kernel "$out") $(kv vifs "$out")" = "$G/vmlinuz 1"
out=$(hvctl list) || fail "list from a new process: $out"
line=$(printf '%s\n' "$out" | grep "^GUEST $U")
check "adopted: ours, running, knobs read back" test \
    "$(kv ours "$line") $(kv state "$line") $(kv actual "$line") $(kv vcpu "$line") $(kv net_in_mbps "$line")" = \
    "1 running 3 2 10"

# ---- reconcile after a change behind sculpt's back ----
$VIRSH schedinfo $DOM --live --set vcpu_quota=20000 >/dev/null || fail "virsh schedinfo"
$VIRSH setmem $DOM 200M --live || fail "virsh setmem"
# the drift is there once libvirt records it (balloon_at)
retry 30 balloon_at 204800 ||
    fail "balloon never reached 200M: $($VIRSH dumpxml $DOM | grep currentMemory)"
hv reconcile uuid=$U online=3 vcpu=2 mem_mib=300 net_in_mbps=10 net_out_mbps=20 \
    disk_read_iops=200 disk_write_iops=100 disk_write_mbps=5 || fail "reconcile"
printf '%s\n' "$HV_OUT" | grep DRIFT
check "drift found and reapplied" sh -c "printf '%s' \"\$0\" | grep -q 'DRIFT $U reshaped .*reapplied quota,balloon'" "$HV_OUT"
check "quota back at 2/3" sh -c "$VIRSH schedinfo $DOM | grep -Eq 'vcpu_quota *: 66667$'"
check "balloon back at 300 MiB" retry 30 balloon_at 307200

# ---- a guest killed behind sculpt's back ----
pid=$(cat "$T/libvirt/run/qemu/$DOM.pid")
kill -9 "$pid"
hv wait-event type=stopped uuid=$U timeout_ms=30000 || fail "death not noticed"
check "not by sculpt" test "$(kv by_sculpt "$HV_OUT")" = 0
hv info uuid=$U || fail "info after death"
check "state shutdown" test "$(kv state "$HV_OUT")" = shutdown
# reshaped while off: the next boot takes it.  2 vCPUs, unthrottled: the
# rescues below boot this guest three times more, and a TCG guest with 3
# vCPUs throttled by a quota on a busy 2-core host once stalled its boot
# in soft lockups (ci24b)
hv reshape uuid=$U online=2 vcpu=2 || fail "reshape while off"

# a pattern in the overlay while the guest is off (the snapshot below
# must carry it, and the guest's own write over part of it)
qemu-io -f qcow2 -c "write -P 0x5a 1M 2M" "$DIR/disk" | grep -q '^wrote' || fail "qemu-io write"

# ---- power cycle in the latest shape ----
hv power-on uuid=$U || fail "power on"
started=$(date +%s)
hv sample || fail "sample"
check "booting again after the power-on" sh -c "printf '%s\n' \"\$0\" | grep -q \"^SAMPLE $U .* booting=1 guest_mem=0 \"" "$HV_OUT"
wait_match "$LOG" 'GUEST-INIT-READY' 120 2 >/dev/null || fail "no second boot"
check "up again: its figures since the power-on" retry 30 up_since "$started"
check "booted with 2 vCPUs (the shape given while off)" sh -c "$VIRSH vcpucount $DOM --live --active | grep -qx ' *2'"
check "no quota at 2 of 2 vCPUs" sh -c "$VIRSH schedinfo $DOM | grep -Eq 'vcpu_quota *: -1$'"
hv suspend uuid=$U || fail "suspend"
hv info uuid=$U || fail "info"
check "suspended" test "$(kv state "$HV_OUT")" = suspended
hv resume uuid=$U || fail "resume"
guest_send "$SOCK" "stat"
sleep 1.5
check "restored, not rebooted" test "$(grep -c GUEST-INIT-READY "$LOG")" = 2

# ---- snapshot, live: copied whole (overlay and base) while the guest runs ----
guest_send "$SOCK" "disk 1" || fail "console"
wait_match "$LOG" 'GUEST-ACK disk 1' 30 >/dev/null || fail "no disk write in the guest"
qpid=$(cat "$T/libvirt/run/qemu/$DOM.pid")
S=$T/snap.qcow2
hv snapshot uuid=$U out="$S" || fail "snapshot"
check "snapshot taken live" test "$(kv live "$HV_OUT")" = 1
check "snapshot in qcow2" test "$(kv format "$HV_OUT")" = qcow2
check "standalone (no backing file)" sh -c "! qemu-img info '$S' | grep -q 'backing file'"
check "holds the guest's write (zeros at 1M)" sh -c "qemu-io -f qcow2 -r -c 'read -P 0 1M 1M' '$S' | grep -q '^read'"
check "holds the overlay's data (0x5a at 2M)" sh -c "qemu-io -f qcow2 -r -c 'read -P 0x5a 2M 1M' '$S' | grep -q '^read'"
check "holds the base (its marker)" sh -c "qemu-io -f qcow2 -r -c 'read -v 0 16' '$S' | grep -q 'SCULPT.BASE.IMAG'"
check "same as the guest's disk" qemu-img compare -U -f qcow2 -F qcow2 "$DIR/disk" "$S"
check "never stopped (the same QEMU process, running)" sh -c "[ \"\$(cat '$T/libvirt/run/qemu/$DOM.pid')\" = $qpid ] && kill -0 $qpid && $VIRSH domstate $DOM | grep -qx running"
check "no block job left" sh -c "o=\$($VIRSH blockjob $DOM '$DIR/disk' --raw) && ! printf '%s' \"\$o\" | grep -q cur="
check "still defined (persistent)" sh -c "$VIRSH dominfo $DOM | grep -q '^Persistent: *yes'"
check "no snapshot file left" sh -c "[ -z \"\$(ls -A '$T/instances/snapshots')\" ]"
# a live snapshot's copy left running by a crash (started by hand as
# lv_snapshot starts it): the next sculpt process to open stops it and
# removes its delta
D=$T/instances/snapshots/$U-crash1.delta
qemu-img create -q -f qcow2 -F qcow2 -b "$(qemu-img info -U "$DIR/disk" | sed -n 's/^backing file: //p')" "$D" \
    "$(qemu-img info -U "$DIR/disk" | sed -n 's/^virtual size: .*(\([0-9]*\) bytes)/\1/p')" || fail "delta"
$VIRSH blockcopy $DOM "$DIR/disk" "$D" --shallow --reuse-external --transient-job --wait --timeout 60 \
    >/dev/null 2>&1
check "a copy left running" sh -c "$VIRSH blockjob $DOM '$DIR/disk' --raw | grep -q cur="
hvctl host >/dev/null || fail "hvctl host"
check "stopped by the next start" sh -c "o=\$($VIRSH blockjob $DOM '$DIR/disk' --raw) && ! printf '%s' \"\$o\" | grep -q cur="
check "its delta removed" test ! -e "$D"
check "the guest running on" sh -c "[ \"\$(cat '$T/libvirt/run/qemu/$DOM.pid')\" = $qpid ]"
# ---- cold ([workarounds] disable_libvirt_livesnapshot): saved, copied, restored ----
hvctl -o workarounds.disable_libvirt_livesnapshot=true snapshot uuid=$U out="$T/cold.qcow2" \
    >"$T/cold.out" || fail "cold snapshot"
check "snapshot taken cold" grep -q ' live=0' "$T/cold.out"
check "cold: holds the guest's write and the base" sh -c "qemu-io -f qcow2 -r -c 'read -P 0 1M 1M' '$T/cold.qcow2' | grep -q '^read' && qemu-io -f qcow2 -r -c 'read -v 0 16' '$T/cold.qcow2' | grep -q 'SCULPT.BASE.IMAG'"
check "cold: saved and restored (a new QEMU process)" sh -c "[ \"\$(cat '$T/libvirt/run/qemu/$DOM.pid')\" != $qpid ] && $VIRSH domstate --reason $DOM | grep -qx 'running (restored)'"
guest_send "$SOCK" "stat"
sleep 1.5
check "restored, not rebooted" test "$(grep -c GUEST-INIT-READY "$LOG")" = 2
check "no snapshot file left" sh -c "[ -z \"\$(ls -A '$T/instances/snapshots')\" ]"
# qemu-img failing, live and cold: the guest is back all the same, nothing left
for cold in false true; do
    hvctl -o libvirt.qemu_img=false -o workarounds.disable_libvirt_livesnapshot=$cold \
        snapshot uuid=$U out="$T/bad.qcow2" && fail "snapshot with a failing qemu-img"
    check "guest running after a failed snapshot" sh -c "$VIRSH domstate $DOM | grep -qx running"
    check "nothing left by the failed snapshot" sh -c "[ ! -e '$T/bad.qcow2' ] && [ -z \"\$(ls -A '$T/instances/snapshots')\" ]"
done
# ---- rescue: the rescue image first, the guest's disk second; unrescue ----
rescue_t0=$(date +%s)
R=$T/rescue.img
printf 'SCULPT-RESCUE-IMAGE\n' >"$R" && truncate -s 1M "$R"
blk() { $VIRSH domblklist $DOM | awk '$1 ~ /^(vd|sd)/ {printf "%s=%s ", $1, $2}'; }
hv rescue uuid=$U kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline disk="$R" \
    disk_format=raw password=RESCUE-PW-42 timeout=0 || fail "rescue"
hv info uuid=$U || fail "info"
check "rescued, running" test "$(kv rescued "$HV_OUT") $(kv state "$HV_OUT")" = "1 running"
check "rescue disk first, its own second, the rescue's drive" \
    test "$(blk)" = "vda=$DIR/disk.rescue vdb=$DIR/disk sda=$DIR/disk.config.rescue "
check "rescue overlay over the rescue image" sh -c "qemu-img info -U '$DIR/disk.rescue' | grep -q 'backing file: $R'"
check "the rescue password in its drive" grep -q RESCUE-PW-42 "$DIR/disk.config.rescue"
wait_match "$LOG" 'GUEST-DISK marker=SCULPT-RESCUE-IMAGE' 120 >/dev/null || fail "the rescue image did not boot"
out=$(hvctl info uuid=$U) || fail "info from a new process: $out"
check "the rescue read back from the definition by a new process" test "$(kv rescued "$out")" = 1
disks=$(grep -c 'GUEST-DISK marker=' "$LOG")
hv unrescue uuid=$U || fail "unrescue"
hv info uuid=$U || fail "info"
check "unrescued, running" test "$(kv rescued "$HV_OUT") $(kv state "$HV_OUT")" = "0 running"
check "its own disk alone again" test "$(blk)" = "vda=$DIR/disk "
check "rescue files gone" test ! -e "$DIR/disk.rescue" -a ! -e "$DIR/disk.config.rescue"
check "its data intact (0x5a at 2M)" sh -c "qemu-io -U -f qcow2 -r -c 'read -P 0x5a 2M 1M' '$DIR/disk' | grep -q '^read'"
# the disk's line follows READY: wait for it, not for READY
wait_match "$LOG" 'GUEST-DISK marker=' 120 $((disks + 1)) >/dev/null || fail "no boot after the unrescue"
check "booted from its own disk" sh -c "grep 'GUEST-DISK marker=' '$LOG' | tail -n 1 | grep -q SCULPT-BASE-IMAGE"
echo "rescue and unrescue in $(( $(date +%s) - rescue_t0 ))s"

# ---- stable device rescue (hw_rescue_device/bus): its own disk stays vda,
# the rescue image added last as a virtio disk, booted first ----
rescue_t0=$(date +%s)
hv rescue uuid=$U kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline disk="$R" \
    disk_format=raw device=cdrom bus=ide password=RESCUE-PW-42 timeout=0 &&
    fail "a rescue cdrom on IDE (q35 has none)"
check "refused UNSUPPORTED, before the guest was touched" sh -c \
    "printf '%s' \"\$0\" | grep -q '^ERR rescue UNSUPPORTED .*no IDE bus' && $VIRSH domstate $DOM | grep -qx running" "$HV_OUT"
hv rescue uuid=$U kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline disk="$R" \
    disk_format=raw device=disk bus=virtio password=RESCUE-PW-42 timeout=0 || fail "stable rescue"
hv info uuid=$U || fail "info"
check "rescued as a virtio disk, running" test "$(kv rescued "$HV_OUT") $(kv rescue_device "$HV_OUT") $(kv rescue_bus "$HV_OUT") $(kv state "$HV_OUT")" = "1 disk virtio running"
check "its own disk first, the rescue disk last" test "$(blk)" = "vda=$DIR/disk vdb=$DIR/disk.rescue "
check "the rescue disk first in the boot order" sh -c "$VIRSH dumpxml $DOM | awk '/<disk /{d = \"\"} {d = d \$0} /<\\/disk>/ && d ~ /disk.rescue/ {print d}' | grep -q \"<boot order='1'/>\""
check "no rescue drive (Nova attaches the guest's own)" test ! -e "$DIR/disk.config.rescue"
# the rescue disk's line follows its own disk's: both are this boot's
wait_match "$LOG" 'GUEST-OTHER-DISK vdb marker=SCULPT-RESCUE-IMAGE' 120 >/dev/null || fail "the guest does not see the rescue disk"
check "its own disk still vda" sh -c "grep 'GUEST-DISK marker=' '$LOG' | tail -n 1 | grep -q SCULPT-BASE-IMAGE"
out=$(hvctl info uuid=$U) || fail "info from a new process: $out"
check "the stable rescue read back from the definition by a new process" \
    test "$(kv rescued "$out") $(kv rescue_device "$out") $(kv rescue_bus "$out")" = "1 disk virtio"
disks=$(grep -c 'GUEST-DISK marker=' "$LOG")
hv unrescue uuid=$U || fail "unrescue of the stable rescue"
hv info uuid=$U || fail "info"
check "unrescued, running" test "$(kv rescued "$HV_OUT") $(kv state "$HV_OUT")" = "0 running"
check "its own disk alone again" test "$(blk)" = "vda=$DIR/disk "
check "rescue disk gone" test ! -e "$DIR/disk.rescue"
wait_match "$LOG" 'GUEST-DISK marker=' 120 $((disks + 1)) >/dev/null || fail "no boot after the unrescue"
check "booted from its own disk" sh -c "grep 'GUEST-DISK marker=' '$LOG' | tail -n 1 | grep -q SCULPT-BASE-IMAGE"
# the guest watches its power button once its first GUEST-STAT of this boot
# is out (the power-off below presses it)
check "its power button watched" retry 30 sh -c "awk '/GUEST-INIT-READY/ {s = 0} /GUEST-STAT/ {s = 1} END {exit !s}' '$LOG'"
# its disk lines come before that GUEST-STAT: all of this boot's are out
check "no rescue disk seen since the unrescue" awk '/GUEST-INIT-READY/ {n = 0} /GUEST-OTHER-DISK/ {n++} END {exit n}' "$LOG"
echo "stable rescue and unrescue in $(( $(date +%s) - rescue_t0 ))s"
hv unrescue uuid=$U || fail "unrescue of a guest not rescued"
hv events || true # forget the rescue's own stops and starts

hv power-off uuid=$U timeout=60 || fail "power off"
hv wait-event type=stopped uuid=$U timeout_ms=30000 || fail "no stop event"
check "stopped by sculpt" test "$(kv by_sculpt "$HV_OUT")" = 1
check "a clean shutdown (ACPI power button)" test "$(kv reason "$HV_OUT")" = shutdown
wait_match "$LOG" 'GUEST-POWER-BUTTON' 5 >/dev/null || fail "the guest did not see the button"
hv nmi uuid=$U && fail "an NMI to a stopped guest"
check "an NMI to a stopped guest is refused (Nova: InstanceNotRunning)" \
    sh -c "printf '%s' \"\$0\" | grep -q '^ERR nmi CONFLICT'" "$HV_OUT"

# ---- cold resize changes the maxima ----
boots=$(grep -c GUEST-INIT-READY "$LOG")
hv power-on uuid=$U || fail "power on"
# up before the cold resize, so that the boot after it is the next one
wait_match "$LOG" 'GUEST-INIT-READY' 120 $((boots + 1)) >/dev/null || fail "no boot after the power-on"
hv cold uuid=$U max=2 online=2 vcpu=2 mem_max=384 mem_mib=256 || fail "cold resize"
hv info uuid=$U || fail "info"
check "new maxima" test "$(kv max "$HV_OUT") $(kv mem_max "$HV_OUT")" = "2 384"
hv reshape uuid=$U max=3 && fail "live reshape of the maximum"
check "maximum is not live" sh -c "printf '%s' \"\$0\" | grep -q '^ERR reshape INVALID'" "$HV_OUT"

# ---- the guest shuts itself down ----
wait_match "$LOG" 'GUEST-INIT-READY' 120 $((boots + 2)) >/dev/null &&
    grep GUEST-INIT-READY "$LOG" | tail -n 1 | grep -q 'cpus_online=0-1[[:space:]]*$' ||
    fail "no boot in the new shape after the cold resize"
hv events || true # forget the cold resize's own events
guest_send "$SOCK" "poweroff" || fail "console"
hv wait-event type=stopped uuid=$U timeout_ms=60000 || fail "shutdown inside not noticed"
check "shut down inside, not by sculpt" test "$(kv by_sculpt "$HV_OUT") $(kv reason "$HV_OUT")" = "0 shutdown"

# ---- errors name the call and the domain ----
hv reshape uuid=$(cat /proc/sys/kernel/random/uuid) && fail "reshape of nothing"
check "NOT_FOUND with the call" sh -c "printf '%s' \"\$0\" | grep -q 'ERR reshape NOT_FOUND .*virDomainLookupByUUIDString'" "$HV_OUT"

# ---- destroy ----
hv destroy uuid=$U || fail "destroy"
check "domain gone" sh -c "! $VIRSH dominfo $DOM >/dev/null 2>&1"
check "files gone" test ! -e "$DIR"
check "base image untouched" test "$(sha256sum "$G/base.qcow2" | cut -d' ' -f1)" = "$base_sum"
hv info uuid=$U && fail "info of a destroyed guest"
hv_session_stop || fail "hvctl ended badly"
! grep -q Sanitizer "$T/hvctl.err" 2>/dev/null || { cat "$T/hvctl.err" >&2; fail "sanitizer report"; }
echo "libvirt_live passed in $(( $(date +%s) - t0 ))s"
