#!/bin/sh
# bench-db: usage-sample write throughput and history-query latency on a
# private PostgreSQL started for the run (tests/bench/bench_db.c).
set -eu
tmp=$(mktemp -d)
chmod 755 "$tmp"
pg="$SCULPT_TOP/contrib/stack/postgres.sh"
trap '"$pg" stop "$tmp/run" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
"$pg" start "$tmp/run" 2>/dev/null
. "$tmp/run/env/postgres.env"
SCULPT_BENCH_DB_URL=$SCULPT_DB_URL "$SCULPT_BIN/../bench/bench_db"
