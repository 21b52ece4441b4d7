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
