#!/bin/sh
# PostgreSQL state against a real PostgreSQL 15: the stack script (start,
# restart, idempotence, stop by PID), `sculptctl db migrate|version`, and
# tests/unit/test_db_pg.c (every typed call, 10,000-sample batch, a server
# restart in the middle of writes, the queue bound, reconciliation), which
# stops and starts this cluster itself.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

tmp=$(mktemp -d)
chmod 755 "$tmp" # the server runs as user postgres and must reach its folder
run="$tmp/run"
pg="$SCULPT_TOP/contrib/stack/postgres.sh"
cleanup() {
    "$pg" stop "$run" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$pg" start "$run"
"$pg" start "$run" 2>&1 | grep -q "already running"
"$pg" status "$run"
. "$run/env/postgres.env"
[ -n "$SCULPT_DB_URL" ] && [ -n "$SCULPT_DB_PID" ]
first_pid=$SCULPT_DB_PID
case "$SCULPT_DB_URL" in
postgresql://sculpt:*@127.0.0.1:*/sculpt) ;;
*) echo "unexpected URL shape" >&2; exit 1 ;;
esac
grep -q "^listen_addresses = '127.0.0.1'" "$run/postgres/data/postgresql.conf"

# stop by PID, start again on the same port and data
"$pg" stop "$run"
expect_fail 3 "not running" "$pg" status "$run"
[ ! -e "$run/env/postgres.env" ]
if kill -0 "$first_pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$first_pid/status"; then
    echo "pid $first_pid still alive after stop" >&2
    exit 1
fi
"$pg" stop "$run" 2>&1 | grep -q "not running"
"$pg" start "$run"
. "$run/env/postgres.env"
[ "$SCULPT_DB_PID" != "$first_pid" ]

# sculptctl db: migrate, version, the URL from sculpt.conf, no password shown
ctl="$SCULPT_BIN/sculptctl"
printf '[database]\nconnection = %s\n' "$SCULPT_DB_URL" >"$tmp/sculpt.conf"
pw=$(cat "$run/postgres/password")
"$ctl" db version --config "$tmp/sculpt.conf" >"$tmp/out" 2>&1
grep -q "schema version 0" "$tmp/out"
"$ctl" db migrate --config "$tmp/sculpt.conf" >"$tmp/out" 2>&1
grep -q "schema migrated from version 0 to" "$tmp/out"
SCULPT_DB_URL=$SCULPT_DB_URL "$ctl" db migrate >"$tmp/out" 2>&1
grep -q "schema already at version" "$tmp/out"
if grep -q "$pw" "$tmp/out"; then
    echo "the database password reached sculptctl's output" >&2
    exit 1
fi
"$ctl" db version --url "$SCULPT_DB_URL" | grep -q "schema version"
psql -X -q "$SCULPT_DB_URL" -c "INSERT INTO sculpt_schema (version, name) VALUES (999, 'future')"
expect_fail 1 "is newer than this sculpt knows" "$ctl" db migrate --url "$SCULPT_DB_URL"
expect_fail 1 "this sculpt knows" "$ctl" db version --url "$SCULPT_DB_URL"
expect_fail 2 "usage: sculptctl db" "$ctl" db frobnicate
expect_fail 1 "cannot connect to PostgreSQL" "$ctl" db version \
    --url "postgresql://sculpt@127.0.0.1:$(free_port)/sculpt?connect_timeout=2"

# the typed calls against this server (the test drops its scratch databases)
SCULPT_TEST_DB_URL=$SCULPT_DB_URL SCULPT_TEST_DB_RUN_DIR=$run \
    "$SCULPT_BIN/../tests/test_db_pg"
"$pg" status "$run"
echo "db: all checks passed"
