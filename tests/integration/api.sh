#!/bin/sh
# The REST API, sculptctl and the dashboard against real components: the
# api-harness (fake hypervisor backend, the real engine, predictor and
# PostgreSQL layer, an hour of control-loop history) on a private
# PostgreSQL.  Every route, its errors and the OpenAPI description
# (api_check.py), run-time settings across a restart and their reset to
# sculpt.conf (DELETE /v1/config/...), sculptctl's tables and
# JSON, and the dashboard in headless Chromium.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

tmp=$(mktemp -d)
trap 'api_harness_cleanup "$tmp"' EXIT

sh "$SCULPT_TOP/contrib/stack/postgres.sh" start "$tmp" >/dev/null
. "$tmp/env/postgres.env"
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
cat >"$tmp/sculpt.conf" <<CONF
[DEFAULT]
host = api-test-host
state_path = $tmp/state
[database]
connection = $SCULPT_DB_URL
[api]
port = 0
admin_token = $token
max_body_size = 1048576
[fake]
topology = nodes=2,sockets=2,cores=4,threads=2,mem_mib=32768
CONF

api_harness_start "$tmp/sculpt.conf" 4 60 "$tmp"
echo "api-harness at $url"
/usr/bin/python3 "$SCULPT_TOP/tests/integration/api_check.py" "$url" "$token" main

# sculptctl: tables by default, JSON with -f json, the endpoint from the
# environment or from sculpt.conf
export SCULPT_URL="$url" SCULPT_TOKEN="$token"
ctl="$SCULPT_BIN/sculptctl"
# the tables say what the JSON says: the Placement inventory (GET /v1/host)
# and the shapes' CPU weight (tests/integration/ctl_tables_check.py)
check_tables="/usr/bin/python3 $SCULPT_TOP/tests/integration/ctl_tables_check.py"
"$ctl" host >"$tmp/out"
grep -q '^vcpu (vCPU) ' "$tmp/out"
"$ctl" -f json host >"$tmp/out.json"
$check_tables host "$tmp/out" "$tmp/out.json"
"$ctl" instances >"$tmp/out"
grep -q 'm1.small' "$tmp/out"
"$ctl" -f json instances >"$tmp/out.json"
$check_tables instances "$tmp/out" "$tmp/out.json"
uuid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["uuid"])' <"$tmp/out.json")
"$ctl" instance show "$uuid" --from -1800 --step 300 >"$tmp/out"
grep -q '^reshapes:' "$tmp/out"
grep -q 'band' "$tmp/out"
"$ctl" -f json instance show "$uuid" --from -1800 --step 300 >"$tmp/out.json"
$check_tables shape "$tmp/out" "$tmp/out.json"
cat >"$tmp/bp.json" <<'JSON'
{"name": "ctl-bp", "match": {"flavor": "m1.medium"},
 "blueprint": {"horizon_s": 300, "resources": {"vcpu": {"p50": 0.5, "p90": 0.8}}}}
JSON
"$ctl" blueprint create "$tmp/bp.json" | grep -q 'name ctl-bp'
id=$("$ctl" -f json blueprint list | python3 -c 'import json,sys; print([b["id"] for b in json.load(sys.stdin)["blueprints"] if b["name"]=="ctl-bp"][0])')
"$ctl" blueprint show "$id" | grep -q '^vcpu '
"$ctl" blueprint preview --flavor m1.medium --vcpus 2 --memory-mb 4096 | grep -q 'source custom:ctl-bp'
"$ctl" blueprint delete "$id" | grep -q deleted
expect_fail 1 "NOT_FOUND (HTTP 404)" "$ctl" blueprint show "$id"
"$ctl" candidates --flavor m1.small --vcpus 1 --memory-mb 2048 | grep -q '^placeable  yes'
"$ctl" candidates --vcpus 512 --memory-mb 99999999 | grep -q '^short '
"$ctl" cost estimate --flavor m1.small --vcpus 1 --memory-mb 2048 | grep -q '^saving '
"$ctl" cost show --from -1800 | grep -q '^resource '
"$ctl" config set cost price_reshape=0.0003 >"$tmp/out"
grep -q 'price_reshape .*0.0003' "$tmp/out"
"$ctl" -f json config get cost | python3 -c 'import json,sys; assert json.load(sys.stdin)["values"]["price_reshape"] == 0.0003'
expect_fail 1 "is not a valid number" "$ctl" config set cost price_reshape=free
expect_fail 2 "usage" "$ctl" config set gpu x=1
"$ctl" pools | grep -Eq '^m1\.small:cirros:demo .* 2$'  # RECLAIMS, the last column
"$ctl" reshapes --from -600 | grep -q 'CPU_WEIGHT  *MEM_MIB  *REASON'
"$ctl" metrics | grep -q '^sculpt_guests '
# the event log: every filter reaches the API, the table says what the JSON says
"$ctl" events --source hypervisor >"$tmp/out"
"$ctl" --json events --source hypervisor >"$tmp/out.json"
$check_tables events "$tmp/out" "$tmp/out.json"
grep -q 'memory.plug-stalled  *TIMEOUT' "$tmp/out"
"$ctl" events --limit 2 >"$tmp/out"
"$ctl" -f json events --limit 2 >"$tmp/out.json"
$check_tables events "$tmp/out" "$tmp/out.json"
grep -q '^(more than 2 events match' "$tmp/out"
ev_uuid=$("$ctl" --json events --action memory.plug |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][0]["instance"])')
[ "$("$ctl" --json events --instance "$ev_uuid" --action memory. --failed --from -7200 --to -60 |
    python3 -c 'import json,sys; print(" ".join(e["action"] for e in json.load(sys.stdin)["events"]))')" = memory.plug-stalled ]
"$ctl" events --request-id req-harness-0 --code OK | grep -q 'build_and_run_instance'
expect_fail 1 "is not a UUID" "$ctl" events --instance nope
expect_fail 1 "outside [1, 1000]" "$ctl" events --limit 0
expect_fail 2 "usage" "$ctl" events --failed --code OK
expect_fail 2 "unknown option" "$ctl" events --kind memory
expect_fail 1 "UNAUTHORIZED (HTTP 401)" env SCULPT_TOKEN=wrong "$ctl" host
expect_fail 1 "cannot reach the API" env SCULPT_URL=http://127.0.0.1:9 "$ctl" host
# the endpoint and token from sculpt.conf ([api] listen, port, admin_token)
sed "s/^port = 0/port = $(cat "$tmp/port")/" "$tmp/sculpt.conf" >"$tmp/ctl.conf"
env -u SCULPT_URL -u SCULPT_TOKEN "$ctl" --config "$tmp/ctl.conf" host | grep -q 'api-test-host'

# the dashboard, rendered by Chromium from the running server
/usr/bin/python3 "$SCULPT_TOP/tests/browser/dashboard_check.py" "$url/dashboard/" "$token" \
    --expect resourceBars=4 --expect cpuMap=16 --expect hostHistory=20 --expect guest=20 \
    --expect guestTable=4 --expect guestEvents=1 --expect timeline=1 --expect pools=1 \
    --screenshot "${SCULPT_SCREENSHOT:-$tmp/dashboard.png}"

# PostgreSQL down: the event log answers 503 with why, and again once it
# is back (the API's database sessions reconnect); an operator's change
# made meanwhile is applied and reaches the event log once it is back
sh "$SCULPT_TOP/contrib/stack/postgres.sh" stop "$tmp" >/dev/null
expect_fail 1 "UNAVAILABLE (HTTP 503)" "$ctl" events
case "$out" in *"the event log: "*) ;; *) echo "FAILED: 503 without why: $out" >&2; exit 1 ;; esac
"$ctl" config set cost price_reshape=0.0005 | grep -q 'price_reshape .*0.0005'
sh "$SCULPT_TOP/contrib/stack/postgres.sh" start "$tmp" >/dev/null
"$ctl" events --action memory. | grep -q 'memory.caught-up'
"$ctl" --json events --source api --action config.set --limit 1 | python3 -c '
import json, sys
e = json.load(sys.stdin)["events"][0]
assert e["code"] == "OK" and "[cost] price_reshape 0.0003 -> 0.0005" in e["message"], e'

# run-time settings survive a restart
api_harness_stop
api_harness_start "$tmp/sculpt.conf" 4 5 "$tmp"
/usr/bin/python3 "$SCULPT_TOP/tests/integration/api_check.py" "$url" "$token" persisted
# and `sculptctl config reset` is the way back to sculpt.conf, for the next
# start too (the stored changes are gone)
export SCULPT_URL="$url"
"$ctl" config reset cost | grep -q '^price_vcpu_hour '
"$ctl" -f json config get cost | python3 -c 'import json,sys; j = json.load(sys.stdin); assert not j["overrides"] and j["values"]["price_vcpu_hour"] != 0.05, j["values"]'
[ "$(psql "$SCULPT_DB_URL" -tAc "select count(*) from settings where section = 'cost'")" = 0 ]
expect_fail 2 "usage" "$ctl" config reset gpu
api_harness_stop
echo "api: all checks passed"
