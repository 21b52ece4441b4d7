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
