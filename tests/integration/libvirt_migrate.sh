#!/bin/sh
# Cold migration between two libvirt hosts (driver/libvirt/migrate.c) on
# this machine: two private libvirtds (hosts A and B, each its own
# instances_path and base image cache), an sshd started by hand on
# loopback (a generated host key, an authorized key, both under the test's
# folder), and the tiny guest.  The guest writes to its disk on A; a
# migration refused by ssh (unknown host key) leaves it off and whole on A,
# startable again; a real one copies its overlay over ssh (rsync, then
# scp); a migrate-in that fails leaves nothing on B; the one that works
# rebases the overlay onto B's base, grows it to the new flavor's disk and
# defines the guest, left off when asked, and it boots on B with the
# data written on A; a revert (B's guest destroyed, A's started) brings it
# back on A; a confirm (A's destroyed) leaves it on B alone.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

libvirt_test_start lvmig
URI_A=$LIBVIRT_URI
SSHD_PID=""
migrate_cleanup() {
    [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
    "$SCULPT_TOP/contrib/stack/libvirt.sh" stop "$T/b" >/dev/null 2>&1 || true
    libvirt_test_cleanup
}
trap migrate_cleanup EXIT INT TERM PIPE
"$SCULPT_TOP/contrib/stack/libvirt.sh" start "$T/b" >/dev/null
URI_B=$(sed -n 's/^LIBVIRT_URI=//p' "$T/b/env/libvirt.env")
VA="virsh -q -c $URI_A"
VB="virsh -q -c $URI_B"

# ---- an sshd on loopback, its keys under T ----
S=$T/sshd
sshd_test_start "$S" || fail "no sshd"
PORT=$SSHD_PORT
: >"$S/unknown_hosts"

# hvctl on host A or B (one process a command, as two compute hosts)
hvx() { # URI INSTANCES [-o ...] COMMAND...
    _uri=$1 _inst=$2
    shift 2
    HV_OUT=$("$HVCTL" -o DEFAULT.log_level=warning -o "libvirt.connection_uri=$_uri" \
        -o "libvirt.virt_type=$VT" -o "libvirt.instances_path=$_inst" -o libvirt.max_vcpus=4 \
        -o "libvirt.migration_ssh_port=$PORT" -o "libvirt.migration_ssh_identity=$S/client_key" \
        -o "libvirt.migration_ssh_known_hosts=$S/known_hosts" "$@" 2>>"$T/hvctl.err")
    _rc=$?
    echo "> $* -> $(printf '%s\n' "$HV_OUT" | grep -E '^(OK|ERR) ' | head -n 1)"
    return $_rc
}
ha() { hvx "$URI_A" "$T/a/instances" "$@"; }
hb() { hvx "$URI_B" "$T/b/instances" "$@"; }
has_err() { printf '%s\n' "$HV_OUT" | grep -q "^ERR $1 $2"; }

U=$(cat /proc/sys/kernel/random/uuid)
DOM=sculpt-$U
A=$T/a/instances/$U
B=$T/b/instances/$U
STAGE=$T/a/instances/${U}_migrating # A's instances_path: the staging folder on the destination
LOG=$A/console.log
mkdir -p "$T/b/cache"
cp "$G/base.qcow2" "$T/b/cache/base.qcow2" # B's own cache of the same image
GUEST="kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline vcpu=1 mem_mib=256 online=1 max=2 mem_max=384"

# written OVERLAY: the guest's `disk 4` (4 MiB of zeros from 1 MiB on)
# is held by OVERLAY itself (as data or zero clusters), not by its base:
# every byte of it in one extent or another (the guest's page cache writes
# back in no set order, and map splits where the clusters do not follow)
written() {
    qemu-img map -U --output=json "$1" | /usr/bin/python3 -c '
import json, sys
m = sorted((e["start"], e["start"] + e["length"]) for e in json.load(sys.stdin)
           if e["depth"] == 0 and e.get("present", True))
at = 1 << 20
for a, b in m:
    if a <= at < b:
        at = b
sys.exit(0 if at >= 5 << 20 else 1)'
}
# ---- a guest on A writes to its disk ----
ha spawn uuid=$U $GUEST disk=$G/base.qcow2 || fail "spawn on A"
wait_match "$LOG" 'GUEST-INIT-READY' 120 >/dev/null || fail "guest did not boot on A"
echo "booted on A after $(( $(date +%s) - t0 ))s"
guest_send "$A/console.sock" "disk 4" || fail "console"
wait_match "$LOG" 'GUEST-ACK disk 4' 30 >/dev/null || fail "no disk write in the guest"

# ---- ssh refuses (unknown host key): the guest is off, whole, on A ----
ha -o "libvirt.migration_ssh_known_hosts=$S/unknown_hosts" migrate-out uuid=$U dest=127.0.0.1 \
    info="$T/info" timeout=60 && fail "migration past an unknown host key"
has_err migrate-out UNAVAILABLE || fail "an ssh failure is UNAVAILABLE"
wait_match "$LOG" 'GUEST-POWER-BUTTON' 5 >/dev/null || fail "not shut down cleanly first"
check "A's guest shut off" sh -c "$VA domstate $DOM | grep -qx 'shut off'"
check "no staging folder left" test ! -e "$STAGE"
check "A's overlay kept" test -s "$A/disk"
# (QEMU writes the overlay's cluster tables out when the guest stops)
check "the guest's write is in A's overlay" written "$A/disk"
# a pattern written while it is off, read back on B
qemu-io -f qcow2 -c "write -P 0x5a 8M 1M" "$A/disk" | grep -q '^wrote' || fail "qemu-io write"
ha migrate-out uuid=$U dest=-oProxyCommand=x info="$T/info" && fail "an option for a host"
has_err migrate-out INVALID || fail "a bad host is INVALID"

# ---- out over rsync; a migrate-in that fails leaves nothing on B ----
ha migrate-out uuid=$U dest=127.0.0.1 info="$T/info" || fail "migrate out (rsync)"
check "disk_info names the staging folder" grep -qx "dir $STAGE" "$T/info"
check "the overlay staged" cmp -s "$A/disk" "$STAGE/disk"
check "A keeps its own" test -s "$A/disk"
check "no console log copied" test ! -e "$STAGE/console.log"
hb migrate-in info="$T/info" uuid=$U $GUEST disk=$T/b/cache/missing.qcow2 &&
    fail "migrate in over a missing base"
check "B: no domain" sh -c "! $VB dominfo $DOM >/dev/null 2>&1"
check "B: no folder" test ! -e "$B"
check "B: no staging left" test ! -e "$STAGE"
printf 'sculpt-libvirt-migration 1\ndir /etc\n' >"$T/bad-info"
hb migrate-in info="$T/bad-info" uuid=$U $GUEST disk=$T/b/cache/base.qcow2 &&
    fail "migrate in from /etc"
has_err migrate-in INVALID || fail "a bad disk_info is INVALID"

# ---- out over scp, in on B: off as asked, then started ----
ha -o libvirt.migration_transport=scp migrate-out uuid=$U dest=127.0.0.1 info="$T/info" ||
    fail "migrate out (scp)"
hb migrate-in info="$T/info" off=1 uuid=$U $GUEST disk=$T/b/cache/base.qcow2 root_gb=1 ||
    fail "migrate in on B"
check "B: defined, shut off (a stopped server stays off)" sh -c "$VB domstate $DOM | grep -qx 'shut off'"
check "B: sculpt's metadata" sh -c "$VB dumpxml $DOM | grep -q 'sculpt:instance'"
check "B: staging folder gone" test ! -e "$STAGE"
check "B: overlay over B's base" sh -c "qemu-img info -U '$B/disk' | grep -q 'backing file: $T/b/cache/base.qcow2'"
check "B: grown to the flavor's 1 GiB" sh -c "qemu-img info -U '$B/disk' | grep -q 'virtual size: 1 GiB'"
check "B: the data written on A" qemu-img compare -U "$A/disk" "$B/disk"
check "B: the guest's write held by the overlay" written "$B/disk"
check "B: the pattern written on A" sh -c "qemu-io -r -U -f qcow2 -c 'read -P 0x5a 8M 1M' '$B/disk' >/dev/null"
check "A: still defined, off (for a revert)" sh -c "$VA domstate $DOM | grep -qx 'shut off'"
hb power-on uuid=$U || fail "power on on B"
wait_match "$B/console.log" 'GUEST-INIT-READY' 120 >/dev/null || { LOG=$B/console.log; fail "no boot on B"; }
wait_match "$B/console.log" 'GUEST-DISK marker=SCULPT-BASE-IMAGE' 10 >/dev/null ||
    { LOG=$B/console.log; fail "B's base not seen through the migrated overlay"; }
check "B: running" sh -c "$VB domstate $DOM | grep -qx running"
hb migrate-in info="$T/info" uuid=$U $GUEST disk=$T/b/cache/base.qcow2 && fail "migrate in twice"
has_err migrate-in CONFLICT || fail "a second migrate-in is CONFLICT"

# ---- revert: B's guest goes, A's starts again ----
hb destroy uuid=$U || fail "destroy on B (revert)"
check "B: folder gone" test ! -e "$B"
ha power-on uuid=$U || fail "power on on A (revert)"
wait_match "$LOG" 'GUEST-INIT-READY' 120 2 >/dev/null || fail "no boot on A after the revert"
check "A: running" sh -c "$VA domstate $DOM | grep -qx running"
check "A: its write kept" written "$A/disk"

# ---- again, running, and confirmed: A's guest goes, B's stays ----
ha migrate-out uuid=$U dest=127.0.0.1 info="$T/info" timeout=0 || fail "migrate out again"
hb migrate-in info="$T/info" uuid=$U $GUEST disk=$T/b/cache/base.qcow2 || fail "migrate in again"
check "B: started" sh -c "$VB domstate $DOM | grep -qx running"
ha destroy uuid=$U || fail "destroy on A (confirm)"
check "A: domain gone" sh -c "! $VA dominfo $DOM >/dev/null 2>&1"
check "A: folder gone" test ! -e "$A"
check "B: still running" sh -c "$VB domstate $DOM | grep -qx running"
hb destroy uuid=$U || fail "destroy on B"
! grep -q Sanitizer "$T/hvctl.err" 2>/dev/null || { cat "$T/hvctl.err" >&2; fail "sanitizer report"; }
echo "libvirt_migrate passed in $(( $(date +%s) - t0 ))s"
