#!/bin/sh
# The AMQP transport's prefetch limit ([oslo_messaging_rabbit]
# rabbit_qos_prefetch_count) against a real RabbitMQ and a real
# oslo.messaging client, on sculpt's messaging stack (tests/harness/rpc-echo):
# - the broker shows the limit on every RPC server queue consumer (default
#   64, or as configured), and again after the broker dropped the
#   connection and the transport came back;
# - a window of 2 with a long request holding one slot unacked: a burst of
#   calls behind it still flows (the acks of finished requests behind an
#   unfinished one must leave before the window fills, or nothing more is
#   delivered until the long one ends -- the calls would time out).
set -eu
. "$SCULPT_TOP/tests/lib.sh"
stack=$SCULPT_TOP/contrib/stack
client="/usr/bin/python3 $SCULPT_TOP/tests/integration/amqp_echo_client.py"
[ -x "$SCULPT_BIN/rpc-echo" ] || { echo "no $SCULPT_BIN/rpc-echo (make O=... integration builds it)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sculpt-amqp-qos.XXXXXX)
echopid=""
stop_echo() {
    [ -n "$echopid" ] || return 0
    kill "$echopid" 2>/dev/null || true
    wait "$echopid" 2>/dev/null || true
    echopid=""
}
cleanup() {
    set +e
    stop_echo
    "$stack/rabbitmq.sh" stop "$tmp/run" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

RABBITMQ_PORT=auto "$stack/rabbitmq.sh" start "$tmp/run" >/dev/null
. "$tmp/run/env/rabbitmq.env"

start_echo() { # HOST [-o ...]...
    host=$1
    shift
    "$SCULPT_BIN/rpc-echo" -o "DEFAULT.transport_url=$RABBITMQ_URL" "$@" echo "$host" \
        >"$tmp/echo.out" 2>"$tmp/echo.log" &
    echopid=$!
    wait_consumers "$host"
}

# Wait until the three server queues of HOST have their consumer (an
# rpc-echo that exited never will: said at once).
wait_consumers() {
    i=0
    until [ "$("$RABBITMQ_CTL" -q list_consumers queue_name 2>/dev/null |
        grep -cE "^echo(\.$1|_fanout_[0-9a-f]+)?\$")" = 3 ]; do
        kill -0 "$echopid" 2>/dev/null ||
            { cat "$tmp/echo.log" >&2; echo "rpc-echo exited before it consumed" >&2; exit 1; }
        i=$((i + 1))
        [ $i -lt 300 ] || { cat "$tmp/echo.log" >&2; echo "rpc-echo did not consume" >&2; exit 1; }
        sleep 0.1
    done
}

# The prefetch of HOST's server queue consumers, one distinct value per line.
prefetch_of() {
    "$RABBITMQ_CTL" -q list_consumers queue_name prefetch_count |
        awk -v h="$1" '$1 == "echo" || $1 == "echo." h || $1 ~ /^echo_fanout_/ {print $2}' | sort -u
}

# 1. The default window.
start_echo h1
[ "$(prefetch_of h1)" = 64 ] || { echo "default prefetch: got '$(prefetch_of h1)'" >&2; exit 1; }
[ "$($client "$RABBITMQ_URL" echo h1 call hello)" = hello ]
stop_echo

# 2. No limit (oslo's default) sends no basic.qos.
start_echo h0 -o oslo_messaging_rabbit.rabbit_qos_prefetch_count=0
[ "$(prefetch_of h0)" = 0 ] || { echo "prefetch 0: got '$(prefetch_of h0)'" >&2; exit 1; }
stop_echo

# 3. A window of 2, kept across a reconnect, and a burst behind a long request.
start_echo h2 -o oslo_messaging_rabbit.rabbit_qos_prefetch_count=2 \
    -o oslo_messaging_rabbit.rabbit_retry_interval=0.2
[ "$(prefetch_of h2)" = 2 ] || { echo "prefetch 2: got '$(prefetch_of h2)'" >&2; exit 1; }
"$RABBITMQ_CTL" -q close_all_connections "amqp_qos test" >/dev/null
sleep 0.5
wait_consumers h2
[ "$(prefetch_of h2)" = 2 ] || { echo "prefetch after reconnect: got '$(prefetch_of h2)'" >&2; exit 1; }

# The sleep holds a worker and one of the two slots for 8 s; 40 calls from
# 4 threads, each allowed 6 s, must all come back meanwhile.
$client "$RABBITMQ_URL" echo h2 burst-behind 8000 40 4 6 | tee "$tmp/burst"
grep -q '^burst 40 calls' "$tmp/burst"
kill "$echopid"
rc=0
wait "$echopid" || rc=$?
echopid=""
[ $rc = 0 ] || { tail -n 30 "$tmp/echo.log" >&2; echo "rpc-echo exited with $rc" >&2; exit 1; }
# 40 calls (the sleep may still run: stats are taken before it ends)
grep -qE 'STATS handled=4[01] failed=0 reconnects=1' "$tmp/echo.out" || {
    cat "$tmp/echo.out" >&2
    echo "rpc-echo: unexpected stats" >&2
    exit 1
}
echo "amqp_qos: prefetch applied (64 by default, 0, 2), kept across a reconnect; no stall behind an unacked request"
