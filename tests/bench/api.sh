#!/bin/sh
# REST API throughput and tail latency with a loopback load generator
# (Debian's wrk), against the api-harness (fake backend, real engine,
# predictor and PostgreSQL layer, 8 guests with an hour of history).
#
#   BENCH api_rps, BENCH api_p99_ms          GET /v1/host with the admin token:
#                                            authentication, an engine snapshot,
#                                            topology and figures as JSON
#   BENCH api_instances_rps, ..._p99_ms      GET /v1/instances: the database too
#   BENCH api_floor_rps, api_floor_p99_ms    baseline, same run: GET /v1, public and
#                                            answered by the server alone -- the cost
#                                            of HTTP and JSON without any component
set -eu
. "$SCULPT_TOP/tests/lib.sh"
command -v wrk >/dev/null || { echo "bench-api: wrk is not installed (contrib/install-deps.sh api)" >&2; exit 1; }
duration=${SCULPT_BENCH_SECONDS:-8}
conns=${SCULPT_BENCH_CONNECTIONS:-16}

tmp=$(mktemp -d)
trap 'api_harness_cleanup "$tmp"' EXIT

sh "$SCULPT_TOP/contrib/stack/postgres.sh" start "$tmp" >/dev/null 2>&1
. "$tmp/env/postgres.env"
cat >"$tmp/sculpt.conf" <<CONF
[DEFAULT]
log_level = warning
state_path = $tmp/state
[database]
connection = $SCULPT_DB_URL
pool_size = 4
[api]
port = 0
admin_token = bench-token
threads = 4
[fake]
topology = nodes=2,sockets=2,cores=8,threads=2,mem_mib=131072
CONF
api_harness_start "$tmp/sculpt.conf" 8 60 "$tmp"

# run NAME PATH [TOKEN]: wrk for $duration s; prints NAME's figures
run() {
    if [ -n "${3:-}" ]; then
        wrk -t2 -c"$conns" -d"${duration}s" --latency -H "X-Auth-Token: $3" "$url$2" >"$tmp/wrk.out"
    else
        wrk -t2 -c"$conns" -d"${duration}s" --latency "$url$2" >"$tmp/wrk.out"
    fi
    if grep -q 'Non-2xx' "$tmp/wrk.out"; then
        echo "bench-api: $2 answered errors:" >&2
        cat "$tmp/wrk.out" >&2
        exit 1
    fi
    python3 - "$tmp/wrk.out" "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
name = sys.argv[2]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
print("BENCH %s_rps %.0f" % (name, rps))
print("BENCH %s_p99_ms %.3f" % (name, p99))
PY
}

echo "wrk: 2 threads, $conns connections, ${duration}s per route, server: 4 threads"
run api_floor /v1
run api /v1/host bench-token
run api_instances /v1/instances bench-token
echo "baseline: api_floor (GET /v1, no authentication, no component), measured in the same run"
