# Helpers shared by the integration scripts (sourced, not run).

# expect_fail RC TEXT CMD...: CMD must exit with RC and print TEXT (stdout or
# stderr).
expect_fail() {
    want_rc=$1 want_text=$2
    shift 2
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ "$rc" != "$want_rc" ]; then
        echo "FAILED: '$*' exited $rc, expected $want_rc; output:" >&2
        echo "$out" >&2
        exit 1
    fi
    case "$out" in
    *"$want_text"*) ;;
    *)
        echo "FAILED: '$*' output lacks '$want_text':" >&2
        echo "$out" >&2
        exit 1
        ;;
    esac
}

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# api_harness_start CONF GUESTS MINUTES DIR: start tests/harness/api-harness
# in the background (log in DIR/harness.log); sets harness_pid and url
# (http://127.0.0.1:PORT) once it listens.  Stop it with api_harness_stop.
api_harness_start() {
    rm -f "$4/port"
    "$SCULPT_BIN/api-harness" --config "$1" --guests "$2" --minutes "$3" \
        --port-file "$4/port" >>"$4/harness.log" 2>&1 &
    harness_pid=$!
    i=0
    while [ ! -s "$4/port" ]; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$harness_pid" 2>/dev/null; then
            echo "api-harness did not start; its log:" >&2
            tail -n 30 "$4/harness.log" >&2
            return 1
        fi
        sleep 0.1
    done
    url="http://127.0.0.1:$(cat "$4/port")"
}

# api_harness_stop: stop the harness by its PID; fails unless it exits 0.
api_harness_stop() {
    kill "$harness_pid"
    wait "$harness_pid" || { echo "api-harness did not stop cleanly" >&2; return 1; }
    harness_pid=""
}

# api_harness_cleanup DIR: for an EXIT trap -- stop the harness if it
# runs, the PostgreSQL of DIR (contrib/stack/postgres.sh), remove DIR;
# whatever failed first.
api_harness_cleanup() {
    set +e
    if [ -n "${harness_pid:-}" ]; then
        kill "$harness_pid" 2>/dev/null
        wait "$harness_pid" 2>/dev/null
    fi
    sh "$SCULPT_TOP/contrib/stack/postgres.sh" stop "$1" >/dev/null 2>&1
    rm -rf "$1"
}

# ---- sculpt-replay benchmarks on the Bitbrains traces ----

# shared_dir: the `shared` folder (data, docs) beside the checkout, or
# beside the main checkout when this one is a worktree elsewhere (git
# worktree add /work/wt/NAME); empty when there is none.
shared_dir() {
    _sd=$SCULPT_TOP/../shared
    if [ ! -d "$_sd" ]; then
        _gc=$(git -C "$SCULPT_TOP" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&
            _sd=$(dirname "$_gc")/../shared
    fi
    [ -d "$_sd" ] && echo "$_sd"
    return 0
}

# bitbrains_data: the folder of the full public Bitbrains traces beside the
# checkout (or $SCULPT_BENCH_BITBRAINS), else the repository's excerpt
# (ten VMs: one host holds them all, no packing figure means anything).
bitbrains_data() {
    _d=${SCULPT_BENCH_BITBRAINS:-$(shared_dir)/data/traces/bitbrains-gwa-t-12-rnd}
    [ -d "$_d" ] || _d="$SCULPT_TOP/tests/data/traces/bitbrains"
    echo "$_d"
}

# replay_best OUT ARGS...: `sculpt-replay --quiet --json --format bitbrains
# ARGS...` three times; the JSON of the fastest run (vm_steps_per_s) in OUT.
replay_best() {
    _out=$1
    shift
    rm -f "$_out"
    for _i in 1 2 3; do
        "$SCULPT_BIN/sculpt-replay" --quiet --json --format bitbrains "$@" >"$_out.run"
        python3 - "$_out.run" "$_out" <<'PY'
import json, os, sys
new = json.load(open(sys.argv[1]))
best = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else None
if best is None or new["vm_steps_per_s"] > best["vm_steps_per_s"]:
    json.dump(new, open(sys.argv[2], "w"))
PY
    done
    rm -f "$_out.run"
}

# ---- libvirt and the tiny guest (issue 5) ----

# tiny_guest_dir: build the tiny test guest once per machine (cached) and
# print its folder (vmlinuz, initrd.gz, base.qcow2, cmdline).
tiny_guest_dir() {
    "$SCULPT_TOP/contrib/guest/build-tiny-guest.sh" "${SCULPT_GUEST_CACHE:-/var/cache/sculpt/tiny-guest}"
}

# fail MESSAGE: report a failed check and stop the test (exit 1), with
# the last lines of the guest's console when $LOG names one.
fail() {
    echo "FAILED: $*" >&2
    [ -n "${LOG:-}" ] && { echo "--- console:" >&2; tail -n 15 "$LOG" >&2; }
    exit 1
}

# check DESCRIPTION CMD...: "ok: DESCRIPTION" when CMD succeeds, else fail.
check() {
    _what=$1
    shift
    if "$@"; then echo "ok: $_what"; else fail "$_what"; fi
}

# libvirt_test_start NAME: the opening of a test on a real libvirtd: a
# private one (contrib/stack/libvirt.sh) in a new folder T
# (/tmp/sculpt-NAME.XXXXXX), its env loaded (LIBVIRT_URI), and
# G (the tiny guest's folder), VIRSH, HVCTL ($SCULPT_BIN/hvctl, checked),
# VT (SCULPT_TEST_VIRT_TYPE, else qemu: software emulation as on CI) and t0
# (the start, in seconds) set.  On exit the hvctl session (when one runs),
# the libvirtd and T go.
libvirt_test_start() {
    T=$(mktemp -d "/tmp/sculpt-$1.XXXXXX")
    trap libvirt_test_cleanup EXIT INT TERM PIPE
    t0=$(date +%s)
    G=$(tiny_guest_dir)
    "$SCULPT_TOP/contrib/stack/libvirt.sh" start "$T"
    . "$T/env/libvirt.env"
    VIRSH="virsh -q -c $LIBVIRT_URI"
    HVCTL="$SCULPT_BIN/hvctl"
    [ -x "$HVCTL" ] || fail "no $HVCTL (make O=... integration builds it)"
    VT=${SCULPT_TEST_VIRT_TYPE:-qemu}
}

libvirt_test_cleanup() {
    [ -n "${HV_PID:-}" ] && kill -0 "$HV_PID" 2>/dev/null && { hv_session_stop || true; }
    "$SCULPT_TOP/contrib/stack/libvirt.sh" stop "$T" >/dev/null 2>&1 || true
    rm -rf "$T"
}

# guest_send SOCKET LINE: type LINE on a guest's serial console (the unix
# socket beside its console.log, or tcp:HOST:PORT for a TCP console, as
# [serial_console] defines it); the tiny guest obeys burn/disk/net/stat/
# poweroff.  Stays connected until the guest's tty echoes the line and its
# newline (QEMU drops what the guest's UART has not taken yet when the
# client leaves: a line echoed without its newline was never obeyed).
guest_send() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys, time
if sys.argv[1].startswith("tcp:"):
    host, port = sys.argv[1][4:].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
else:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
line = sys.argv[2].encode() + b"\n"
s.sendall(line)
s.settimeout(0.5)
seen, end = b"", time.time() + 30
while line not in seen.replace(b"\r", b"") and time.time() < end:
    try:
        chunk = s.recv(4096)
    except socket.timeout:
        continue
    if not chunk:
        break
    seen += chunk
s.close()
sys.exit(0 if line in seen.replace(b"\r", b"") else 1)
PY
}

# wait_match FILE REGEX [SECONDS] [COUNT]: wait until FILE holds at least
# COUNT (default 1) lines matching the extended REGEX.  Prints the last one.
wait_match() {
    _f=$1 _re=$2 _t=${3:-60} _c=${4:-1}
    _wm_end=$(( $(date +%s) + _t ))
    while :; do
        _n=$(grep -cE "$_re" "$_f" 2>/dev/null || true)
        if [ "${_n:-0}" -ge "$_c" ]; then
            grep -E "$_re" "$_f" | tail -n 1
            return 0
        fi
        if [ "$(date +%s)" -ge "$_wm_end" ]; then
            echo "TIMEOUT after ${_t}s waiting for /$_re/ x$_c in $_f; last lines:" >&2
            tail -n 5 "$_f" >&2 2>/dev/null
            return 1
        fi
        sleep 0.2
    done
}

# An hvctl session (tests/tools/hvctl run): one backend handle driven line
# by line.  hv_session_start DIR HVCTL [ARGS...] starts it; `hv CMD...`
# sends one command, waits for its OK/ERR line and leaves everything it
# printed in $HV_OUT (returns 1 on ERR); hv_session_stop ends it.
hv_session_start() {
    HV_DIR=$1
    shift
    rm -f "$HV_DIR/hv.in"
    mkfifo "$HV_DIR/hv.in"
    : >"$HV_DIR/hv.out"
    "$@" run <"$HV_DIR/hv.in" >>"$HV_DIR/hv.out" 2>"$HV_DIR/hv.err" &
    HV_PID=$!
    exec 9>"$HV_DIR/hv.in"
}

hv() {
    _off=$(wc -c <"$HV_DIR/hv.out")
    if ! kill -0 "$HV_PID" 2>/dev/null; then
        echo "hv: hvctl is gone; its stderr:" >&2
        tail -n 20 "$HV_DIR/hv.err" >&2
        return 1
    fi
    echo "$*" >&9
    _hv_end=$(( $(date +%s) + ${HV_TIMEOUT:-180} ))
    while :; do
        HV_OUT=$(tail -c +$((_off + 1)) "$HV_DIR/hv.out")
        _last=$(printf '%s\n' "$HV_OUT" | grep -E '^(OK|ERR) ' | head -n 1)
        [ -n "$_last" ] && break
        if ! kill -0 "$HV_PID" 2>/dev/null || [ "$(date +%s)" -ge "$_hv_end" ]; then
            echo "hv: no answer to '$*'; hvctl stderr:" >&2
            tail -n 20 "$HV_DIR/hv.err" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "> $* -> $_last"
    case "$_last" in OK*) return 0 ;; *) return 1 ;; esac
}

hv_session_stop() {
    echo quit >&9 2>/dev/null || true
    exec 9>&-
    _rc=0
    wait "$HV_PID" 2>/dev/null || _rc=$?
    # a sanitizer's report (the test build) fails the session
    if grep -q "Sanitizer" "$HV_DIR/hv.err" 2>/dev/null; then
        cat "$HV_DIR/hv.err" >&2
        return 1
    fi
    return $_rc
}

# kv KEY TEXT: the value of KEY=value in TEXT (first match).
kv() {
    printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# retry SECONDS CMD...: run CMD every 0.2 s until it succeeds (1 on timeout).
# Each helper keeps its deadline in a variable of its own: CMD may be one
# of them (hv, wait_match), and a shared one pushed the deadline on at
# each call, so a check that never came true ran forever.
retry() {
    _retry_end=$(( $(date +%s) + $1 ))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$_retry_end" ] || return 1
        sleep 0.2
    done
}

# stack_stop_all RUN_DIR [SCULPT_NAME...]: for a cleanup trap -- stop, by
# PID, what contrib/stack/ started under RUN_DIR, in the reverse of
# contrib/run.sh's order: the sculpt-compute instances named, Nova,
# libvirtd (when the stack has it), RabbitMQ, then every PostgreSQL, the
# one in RUN_DIR and any in a folder of it (nova.sh's sculpt-db).  Each
# script's stop is idempotent; output and failures are ignored.  Needs
# $top (the repository).
stack_stop_all() {
    _run=$1
    shift
    _stack=$top/contrib/stack
    for _n in "$@"; do
        SCULPT_NAME=$_n "$_stack/sculpt.sh" stop "$_run" >/dev/null 2>&1
    done
    "$_stack/nova.sh" stop "$_run" >/dev/null 2>&1
    [ -x "$_stack/libvirt.sh" ] && "$_stack/libvirt.sh" stop "$_run" >/dev/null 2>&1
    "$_stack/rabbitmq.sh" stop "$_run" >/dev/null 2>&1
    for _pg in "$_run"/*/postgres; do
        [ -d "$_pg" ] && [ "$_pg" != "$_run/postgres" ] &&
            "$_stack/postgres.sh" stop "${_pg%/postgres}" >/dev/null 2>&1
    done
    "$_stack/postgres.sh" stop "$_run" >/dev/null 2>&1
    return 0
}

# ---- an sshd for cold migrations between libvirt hosts ----

# sshd_test_start DIR: an sshd on 127.0.0.1 on a free port, run by hand in
# the foreground of a background job, with a host key and one client key
# generated in DIR (its config, log and known_hosts there too); waits
# until it answers.  Sets SSHD_PID (stop it with kill), SSHD_PORT, and
# SSHD_CONF: the sculpt.conf lines ([libvirt] migration_ssh_*) of a host
# whose migrations log in with that key.
sshd_test_start() {
    _s=$1
    mkdir -p "$_s"
    ssh-keygen -q -t ed25519 -N '' -f "$_s/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$_s/client_key"
    cp "$_s/client_key.pub" "$_s/authorized_keys"
    SSHD_PORT=$(free_port)
    cat >"$_s/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $_s/host_key
AuthorizedKeysFile $_s/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
    mkdir -p /run/sshd # its privilege separation folder
    /usr/sbin/sshd -D -e -f "$_s/sshd_config" 2>"$_s/sshd.log" &
    SSHD_PID=$!
    echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$_s/host_key.pub")" >"$_s/known_hosts"
    SSHD_CONF=$(printf '[libvirt]\nmigration_ssh_port = %s\nmigration_ssh_identity = %s\nmigration_ssh_known_hosts = %s\n' \
        "$SSHD_PORT" "$_s/client_key" "$_s/known_hosts")
    retry 10 ssh -o BatchMode=yes -o UserKnownHostsFile="$_s/known_hosts" -i "$_s/client_key" \
        -p "$SSHD_PORT" 127.0.0.1 true || {
        cat "$_s/sshd.log" >&2
        echo "sshd on $SSHD_PORT not answering" >&2
        return 1
    }
}

# migrate_hosts_start NAME: what a migration between libvirt hosts needs
# on this machine (bench-libvirt, libvirt_migrate.sh; A on loopback TCP
# too when SCULPT_LIBVIRT_TCP_PORT is exported, for a live one, and B
# when SCULPT_LIBVIRT_TCP_PORT_B is): host A
# (libvirt_test_start NAME: T, G, HVCTL, VT, t0; URI_A), host B, a second
# private libvirtd in $T/b (URI_B) with its own cache of the tiny guest's
# base ($T/b/cache/base.qcow2), and an sshd on loopback in $T/sshd (S;
# sshd_test_start: SSHD_PORT, SSHD_CONF...).  Both hosts' instances live
# in $T/a/instances and $T/b/instances.  On exit B, the sshd and what
# libvirt_test_start started go.
migrate_hosts_start() {
    SSHD_PID=""
    libvirt_test_start "$1"
    trap migrate_hosts_cleanup EXIT INT TERM PIPE
    URI_A=$LIBVIRT_URI
    # (B never on A's TCP port, when the caller gave A one; on its own
    # when SCULPT_LIBVIRT_TCP_PORT_B names one)
    env -u SCULPT_LIBVIRT_TCP_PORT ${SCULPT_LIBVIRT_TCP_PORT_B:+SCULPT_LIBVIRT_TCP_PORT=$SCULPT_LIBVIRT_TCP_PORT_B} \
        "$SCULPT_TOP/contrib/stack/libvirt.sh" start "$T/b" >/dev/null ||
        fail "no libvirtd for host B"
    URI_B=$(sed -n 's/^LIBVIRT_URI=//p' "$T/b/env/libvirt.env")
    mkdir -p "$T/b/cache"
    cp "$G/base.qcow2" "$T/b/cache/base.qcow2"
    S=$T/sshd
    sshd_test_start "$S" || fail "no sshd"
}

migrate_hosts_cleanup() {
    [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
    "$SCULPT_TOP/contrib/stack/libvirt.sh" stop "$T/b" >/dev/null 2>&1 || true
    libvirt_test_cleanup
}
