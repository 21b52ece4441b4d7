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
# back on A; a confirm (A's destroyed) leaves it on B alone.  Then live,
# B -> A while it runs (driver/libvirt/live.c): A refuses a guest beyond
# its policy and a missing base, leaving nothing; a migration to A
# unprepared fails, and one past its completion timeout is aborted, both
# leaving it running on B, A rolled back; the real one, its completion
# forced past its timeout (live_migration_timeout_action), leaves it
# running on A, not rebooted (its uptime, no boot line), with its disk's
# data (the guest's writes, the pattern) in A's overlay and nothing on B;
# back A -> B with post-copy permitted, forced into it: libvirt reports
# the source's guest suspended for post-copy, never paused, and it runs on
# at B, not rebooted, its data there.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

# A and B also listen on loopback TCP: the other's libvirtd reaches it
# there for a live migration (libvirt refuses a unix socket for one)
SCULPT_LIBVIRT_TCP_PORT=$(free_port)
SCULPT_LIBVIRT_TCP_PORT_B=$(free_port)
while [ "$SCULPT_LIBVIRT_TCP_PORT_B" = "$SCULPT_LIBVIRT_TCP_PORT" ]; do
    SCULPT_LIBVIRT_TCP_PORT_B=$(free_port)
done
export SCULPT_LIBVIRT_TCP_PORT SCULPT_LIBVIRT_TCP_PORT_B
migrate_hosts_start lvmig # A, B with its base cache, the sshd in $S
unset SCULPT_LIBVIRT_TCP_PORT SCULPT_LIBVIRT_TCP_PORT_B
TCP_A=$(sed -n 's/^LIBVIRT_TCP_URI=//p' "$T/env/libvirt.env")
PORT_A=${TCP_A##*:}
PORT_A=${PORT_A%%/*}
TCP_B=$(sed -n 's/^LIBVIRT_TCP_URI=//p' "$T/b/env/libvirt.env")
PORT_B=${TCP_B##*:}
PORT_B=${PORT_B%%/*}
VA="virsh -q -c $URI_A"
VB="virsh -q -c $URI_B"

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
# no interface: its tap, named after the guest, would be on both "hosts"
# at once during a live migration on one machine
GUEST="kernel=$G/vmlinuz initrd=$G/initrd.gz cmdline=@$G/cmdline vcpu=1 mem_mib=256 online=1 max=2 mem_max=384 vifs=0"

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

# ---- live, B -> A, running: refused, failed and aborted ones first ----
# A takes live migrations at 127.0.0.1, its libvirtd on its own port
LA="-o libvirt.live_migration_inbound_addr=127.0.0.1"
LB="-o libvirt.live_migration_uri=qemu+tcp://%s:$PORT_A/system"
BLOG=$B/console.log
LOG=$BLOG # what a failure shows from here
# the guest's uptime now, from a GUEST-STAT it prints (console LOG, socket SOCK)
uptime_of() { # LOG SOCK
    _n=$(grep -c 'GUEST-STAT' "$1" 2>/dev/null || true)
    guest_send "$2" stat || return 1
    wait_match "$1" 'GUEST-STAT' 30 $((_n + 1)) >/dev/null || return 1
    grep 'GUEST-STAT' "$1" | tail -n 1 | sed 's/.*uptime=\([0-9]*\).*/\1/'
}
ha $LA live-prepare info="$T/live" uuid=$U $GUEST max=8 disk=$G/base.qcow2 &&
    fail "A took a guest beyond its max_vcpus"
check "A: nothing made for a refused guest" test ! -e "$A"
ha $LA live-prepare info="$T/live" uuid=$U $GUEST disk=$T/b/cache/missing.qcow2 &&
    fail "A prepared over a missing base"
check "A: nothing left by a failed prepare" test ! -e "$A"
# A never prepared: its QEMU finds no disk, the guest runs on at B
printf 'sculpt-libvirt-live 1\naddr 127.0.0.1\ndir %s\ndisk %s/disk\nbase %s\nlog %s/console.log\nsocket %s/console.sock\n' \
    "$A" "$A" "$G/base.qcow2" "$A" "$A" >"$T/live-unprepared"
hb $LB live-migrate uuid=$U dest=127.0.0.1 info="$T/live-unprepared" &&
    fail "live migration to an unprepared host"
check "B: still running after a failed migration" sh -c "$VB domstate $DOM | grep -qx running"
check "A: no domain" sh -c "! $VA dominfo $DOM >/dev/null 2>&1"
ha live-rollback uuid=$U || fail "rollback on A with nothing there"
wait_match "$BLOG" 'GUEST-INIT-READY' 120 >/dev/null || fail "the guest did not boot on B"
UP0=$(uptime_of "$BLOG" "$B/console.sock") || fail "no GUEST-STAT on B"
guest_send "$B/console.sock" "disk 4" || fail "console on B"
wait_match "$BLOG" 'GUEST-ACK disk 4' 30 >/dev/null || fail "no disk write on B"
# prepared, but too slow for its completion timeout (1 MiB/s, 1 s a GiB,
# 2 GiB at least): aborted after 2 s, rolled back on A; its completion
# was forced after 1 s (the guest paused): it runs again on B
ha $LA live-prepare info="$T/live" uuid=$U $GUEST disk=$G/base.qcow2 || fail "live-prepare on A"
check "A: an empty overlay over A's base" sh -c "qemu-img info -U '$A/disk' | grep -q 'backing file: $G/base.qcow2'"
hb $LB -o libvirt.live_migration_bandwidth=1 -o libvirt.live_migration_completion_timeout=1 \
    live-migrate uuid=$U dest=127.0.0.1 info="$T/live" force-complete=1 &&
    fail "a migration past its timeout"
has_err live-migrate TIMEOUT || fail "a migration past its timeout is TIMEOUT"
printf '%s\n' "$HV_OUT" | grep -qx PAUSED || fail "the forced migration did not pause the guest"
check "B: running after the abort (resumed)" sh -c "$VB domstate $DOM | grep -qx running"
ha live-rollback uuid=$U || fail "rollback on A"
check "A: no domain after the rollback" sh -c "! $VA dominfo $DOM >/dev/null 2>&1"
check "A: no folder after the rollback" test ! -e "$A"
check "B: its files kept" test -s "$B/disk"
# slow again, aborted by hand (live_migration_abort) from another process
ha $LA live-prepare info="$T/live" uuid=$U $GUEST disk=$G/base.qcow2 || fail "live-prepare on A"
"$HVCTL" -o DEFAULT.log_level=warning -o "libvirt.connection_uri=$URI_B" \
    -o "libvirt.instances_path=$T/b/instances" $LB -o libvirt.live_migration_bandwidth=1 \
    live-migrate uuid=$U dest=127.0.0.1 info="$T/live" >"$T/slow.out" 2>>"$T/hvctl.err" &
slow=$!
retry 20 sh -c "grep -q '^PROGRESS' '$T/slow.out'" || fail "the slow migration did not start"
hb live-abort uuid=$U || fail "abort a migration under way"
wait "$slow" && fail "an aborted migration succeeded"
grep -q '^ERR live-migrate' "$T/slow.out" || fail "the aborted migration says nothing"
hb live-abort uuid=$U && fail "abort with no migration under way"
has_err live-abort CONFLICT || fail "an abort of nothing is CONFLICT"
check "B: running after the abort by hand" sh -c "$VB domstate $DOM | grep -qx running"
ha live-rollback uuid=$U || fail "rollback on A"
check "A: no folder after the second rollback" test ! -e "$A"
UPX=$(uptime_of "$BLOG" "$B/console.sock") || fail "the guest does not answer on B after the abort"

# ---- live, B -> A, for real: the guest runs on, its disk's data came ----
ha $LA live-prepare info="$T/live" uuid=$U $GUEST disk=$G/base.qcow2 || fail "live-prepare on A"
check "dest_info names A's folder" grep -qx "dir $A" "$T/live"
tl=$(date +%s)
# its completion forced past its completion timeout (1 s a GiB: 2 s;
# live_migration_timeout_action = force_complete, no post-copy): the
# guest paused on B until it is over, libvirt resumes it on A.  The guest
# rewrites 16 MiB of random memory meanwhile, faster than 16 MiB/s copies
# it: unpaused, the copy never converges, so it cannot finish before the
# pause (it once did, the guest idle)
guest_send "$B/console.sock" "dirty 16 60" || fail "console on B"
wait_match "$BLOG" 'GUEST-ACK dirty 16' 30 >/dev/null || fail "the guest does not dirty its memory"
hb $LB -o libvirt.live_migration_bandwidth=16 -o libvirt.live_migration_completion_timeout=1 \
    -o libvirt.live_migration_timeout_action=force_complete live-migrate uuid=$U dest=127.0.0.1 \
    info="$T/live" || fail "live migration B -> A"
printf '%s\n' "$HV_OUT" | sed 's/^/  | /' # its progress, for a failure's reader
printf '%s\n' "$HV_OUT" | grep -q '^PROGRESS .*memory=[1-9]' || fail "no progress reported"
printf '%s\n' "$HV_OUT" | grep -qx PAUSED ||
    fail "the migration past its timeout did not pause the guest: $(tail -n 3 "$T/hvctl.err")"
echo "live migration took $(( $(date +%s) - tl ))s"
ha live-finish uuid=$U || fail "live-finish on A"
check "A: running" sh -c "$VA domstate $DOM | grep -qx running"
check "A: defined (persistent)" sh -c "$VA dominfo $DOM | grep -q 'Persistent: *yes'"
check "A: its disk is A's overlay" sh -c "$VA domblklist $DOM | grep -q ' $A/disk\$'"
check "A: sculpt's metadata, A's folder" sh -c "$VA dumpxml $DOM | grep -q \"$A/console.log\""
check "B: domain gone" sh -c "! $VB dominfo $DOM >/dev/null 2>&1"
check "B: folder gone" test ! -e "$B"
check "A: the pattern written before the cold moves" \
    sh -c "qemu-io -r -U -f qcow2 -c 'read -P 0x5a 8M 1M' '$A/disk' >/dev/null"
check "A: the guest's writes held by A's overlay" written "$A/disk"
LOG=$A/console.log
check "A: no boot (the guest was not restarted)" sh -c "! grep -q GUEST-INIT-READY '$A/console.log'"
UP1=$(uptime_of "$A/console.log" "$A/console.sock") || fail "the guest does not answer on A"
[ "$UP1" -ge "$UPX" ] || fail "uptime $UP1 s on A, $UPX s on B before: rebooted"

# ---- live, A -> B, forced into post-copy ----
# post-copy permitted (live_migration_permit_post_copy), the completion
# forced after the first progress report: the guest runs on B at once, its
# memory fetched from A as it touches it; A's libvirt reports the guest
# suspended for post-copy (a pause would be "Suspended Paused").  The
# guest dirties its memory again: the copy cannot end before the switch
LB_IN="-o libvirt.live_migration_inbound_addr=127.0.0.1"
LA_OUT="-o libvirt.live_migration_uri=qemu+tcp://%s:$PORT_B/system"
hb $LB_IN live-prepare info="$T/live" uuid=$U $GUEST disk=$T/b/cache/base.qcow2 ||
    fail "live-prepare on B"
guest_send "$A/console.sock" "dirty 16 30" || fail "console on A"
wait_match "$LOG" 'GUEST-ACK dirty 16' 30 >/dev/null || fail "the guest does not dirty its memory on A"
# A's domain events, from before the migration: a title set (its
# metadata-change event) shows the listener is there
$VA event --domain "$DOM" --loop --all >"$T/events" 2>&1 &
evp=$!
retry 20 sh -c "$VA desc '$DOM' --live --title events-on >/dev/null &&
    grep -q metadata-change '$T/events'" || fail "no domain events from A"
tp=$(date +%s)
ha $LA_OUT -o libvirt.live_migration_bandwidth=16 -o libvirt.live_migration_permit_post_copy=true \
    live-migrate uuid=$U dest=127.0.0.1 info="$T/live" force-complete=1 || fail "live migration A -> B"
kill "$evp" 2>/dev/null
wait "$evp" 2>/dev/null || true
printf '%s\n' "$HV_OUT" | sed 's/^/  | /'
sed 's/^/  events | /' "$T/events"
printf '%s\n' "$HV_OUT" | grep -qx POSTCOPY || fail "the forced migration did not switch to post-copy"
printf '%s\n' "$HV_OUT" | grep -qx PAUSED && fail "the migration with post-copy paused the guest"
printf '%s\n' "$HV_OUT" | grep -q '^EVENT paused .*by_sculpt=0' &&
    fail "the post-copy switch's suspensions reported as not sculpt's"
check "A's libvirt: the guest suspended for post-copy" grep -q 'Suspended Post-copy' "$T/events"
check "A's libvirt: never paused" sh -c "! grep -q 'Suspended Paused' '$T/events'"
echo "post-copy live migration took $(( $(date +%s) - tp ))s"
hb live-finish uuid=$U || fail "live-finish on B"
check "B: running" sh -c "$VB domstate $DOM | grep -qx running"
check "A: domain gone" sh -c "! $VA dominfo $DOM >/dev/null 2>&1"
check "A: folder gone" test ! -e "$A"
check "B: the guest's writes held by B's overlay" written "$B/disk"
LOG=$BLOG
check "B: no boot (the guest was not restarted)" sh -c "! grep -q GUEST-INIT-READY '$BLOG'"
UP2=$(uptime_of "$BLOG" "$B/console.sock") || fail "the guest does not answer on B"
[ "$UP2" -ge "$UP1" ] || fail "uptime $UP2 s on B, $UP1 s on A before: rebooted"
hb destroy uuid=$U || fail "destroy on B"
! grep -q Sanitizer "$T/hvctl.err" 2>/dev/null || { cat "$T/hvctl.err" >&2; fail "sanitizer report"; }
echo "libvirt_migrate passed in $(( $(date +%s) - t0 ))s"
