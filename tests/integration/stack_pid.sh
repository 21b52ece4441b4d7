#!/bin/sh
# contrib/stack/lib/pid.sh, what the stack scripts' `stop` waits with: a
# process is gone only once every thread has exited (a zombie left to a PID
# 1 that does not reap counts as gone), escalation is said and reported,
# and a process that outlives every step is reported as still there.
# About 4 s.
set -eu
. "$SCULPT_TOP/contrib/stack/lib/pid.sh"

fail() { echo "FAILED: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A process that ignores SIGTERM: SIGKILL ends it, and the report says so.
/usr/bin/python3 -c 'import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(60)' &
pid=$!
sleep 0.5
pid_gone "$pid" && fail "pid_gone: a sleeping process counted as gone"
pid_stop test "$pid" TERM:1 KILL:2 2>"$tmp/err" || fail "pid_stop: $pid_report"
grep -q "test: pid $pid still there after 1\.[0-9] s: SIGKILL" "$tmp/err" ||
    fail "no escalation said: $(cat "$tmp/err")"
case "$pid_report" in "pid $pid exited after 1."[0-9]" s, on SIGKILL") ;; *) fail "report: $pid_report" ;; esac
# it is a zombie now (not reaped yet): gone
pid_gone "$pid" || fail "pid_gone: a zombie counted as alive"
wait "$pid" 2>/dev/null || true

# One that exits on SIGTERM: no escalation.
sleep 60 &
pid=$!
pid_stop test "$pid" TERM:2 KILL:2 || fail "pid_stop: $pid_report"
case "$pid_report" in "pid $pid exited after 0."[0-9]" s") ;; *) fail "report: $pid_report" ;; esac
wait "$pid" 2>/dev/null || true

# A multi-threaded process whose main thread has exited while another
# thread runs on: its leader is a zombie, the process is not gone.
/usr/bin/python3 -c 'import ctypes, threading, time
libc = ctypes.CDLL(None)
threading.Thread(target=time.sleep, args=(2.5,)).start()
time.sleep(0.2)
libc.pthread_exit(None)' &
pid=$!
sleep 1
[ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat")" = Z ] || fail "the leader of $pid is not a zombie"
pid_gone "$pid" && fail "pid_gone: a process with a live thread counted as gone"
# `-`: asked already (nothing sent); it outlives a 0 s step, then exits
pid_stop test "$pid" -:0 && fail "pid_stop: gone before its thread ended"
case "$pid_report" in "pid $pid still there after 0."[0-9]" s") ;; *) fail "report: $pid_report" ;; esac
pid_stop test "$pid" -:5 || fail "pid_stop: $pid_report"
wait "$pid" 2>/dev/null || true
echo "stack_pid: all checks passed"
