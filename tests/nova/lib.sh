# Shell helpers the Nova phase scripts share (sourced; the caller defines
# fail MESSAGE and has the openstack CLI's environment).

# poll SECONDS STEP CMD...: run CMD every STEP seconds until it succeeds; 1
# once SECONDS have passed by the clock (CMD's own time counts).
poll() {
    _poll_end=$(($(date +%s) + $1))
    _poll_step=$2
    shift 2
    until "$@"; do
        [ "$(date +%s)" -lt "$_poll_end" ] || return 1
        sleep "$_poll_step"
    done
}

# nova_token: a Keystone token for the CLI's credentials (OS_*), kept for
# 30 minutes in NOVA_TEST_RUN (Keystone's default lifetime is an hour).
nova_token() {
    _tf=${NOVA_TEST_RUN:-${TMPDIR:-/tmp}}/.nova-token
    if [ ! -s "$_tf" ] || [ $(($(date +%s) - $(stat -c %Y "$_tf"))) -gt 1800 ]; then
        _auth=$(/usr/bin/python3 -c 'import json, os; e = os.environ; print(json.dumps({"auth": {
"identity": {"methods": ["password"], "password": {"user": {"name": e["OS_USERNAME"],
"domain": {"name": e["OS_USER_DOMAIN_NAME"]}, "password": e["OS_PASSWORD"]}}},
"scope": {"project": {"name": e["OS_PROJECT_NAME"], "domain": {"name": e["OS_PROJECT_DOMAIN_NAME"]}}}}}))')
        (umask 077 && curl -sf -D - -o /dev/null -H 'Content-Type: application/json' -d "$_auth" \
            "$OS_AUTH_URL/auth/tokens" | tr -d '\r' |
            sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p' >"$_tf.tmp") && [ -s "$_tf.tmp" ] &&
            mv "$_tf.tmp" "$_tf" || { rm -f "$_tf.tmp"; return 1; }
    fi
    cat "$_tf"
}

# nova_api METHOD PATH [JSON]: nova-api's answer to a request, through
# curl and the cached token: the openstack CLI costs 2 s of a core per
# call, and the waits below poll every second or two while guests boot on
# the same two cores.  Fails on an HTTP error.
nova_api() {
    _tok=$(nova_token) || return 1
    curl -sf -X "$1" -H "X-Auth-Token: $_tok" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} "$NOVA_API_URL/$2"
}

# server_state SERVER: "STATUS TASK_STATE" of a server (name or uuid) as
# nova-api shows it; nothing when Nova has no such server.
server_state() {
    case "$1" in
    ????????-????-????-????-????????????) _q="servers/$1" ;;
    *) _q="servers/detail?name=%5E$1%24" ;;
    esac
    nova_api GET "$_q" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [d["server"]] if "server" in d else d["servers"]
if len(s) == 1:
    print(s[0]["status"], s[0].get("OS-EXT-STS:task_state"))'
}

# console_output SERVER_UUID: the guest's console log as nova-api gives it.
console_output() {
    nova_api POST "servers/$1/action" '{"os-getConsoleOutput": {}}' |
        /usr/bin/python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["output"])'
}

# wait_status SERVER STATUS [SECONDS]: until Nova shows STATUS with no task
# in progress; fails at once on ERROR (with the fault), or after SECONDS.
wait_status() {
    _ws_end=$(($(date +%s) + ${3:-120}))
    while [ "$(date +%s)" -lt $_ws_end ]; do
        out=$(server_state "$1" 2>/dev/null)
        case "$out" in
        "$2 None") return 0 ;;
        ERROR*) openstack server show "$1" -c fault -f value >&2; fail "$1 went to ERROR" ;;
        esac
        sleep 1
    done
    fail "$1 not $2 after ${3:-120} s (now: $out)"
}

# config_drive DOMAIN: the medium in DOMAIN's read-only cdrom ("" when the
# drive is empty; fails when there is no cdrom).
config_drive() {
    virsh -c "$LIBVIRT_URI" dumpxml "$1" | /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
for d in ET.parse(sys.stdin).iter("disk"):
    if d.get("device") == "cdrom" and d.find("readonly") is not None:
        s = d.find("source")
        print(s.get("file") if s is not None else "")
        sys.exit(0)
sys.exit(1)' || fail "domain $1 has no read-only cdrom drive"
}

# check_config_drive DOMAIN INSTANCE_UUID USER_DATA_FILE [META_KEY META_VALUE]:
# DOMAIN's cdrom holds an ISO9660 volume labelled config-2 (read back with
# isoinfo, Rock Ridge names) whose user_data in `latest` and `2012-08-10`
# is the file, and whose meta_data.json names the instance (and holds the
# metadata item).  Prints the ISO's path.
check_config_drive() {
    _iso=$(config_drive "$1")
    [ -n "$_iso" ] || fail "the cdrom of $1 is empty"
    [ -f "$_iso" ] || fail "config drive $_iso of $1 is missing"
    isoinfo -d -i "$_iso" | grep -qx 'Volume id: config-2' ||
        fail "$_iso is not labelled config-2: $(isoinfo -d -i "$_iso" | grep 'Volume id')"
    for _v in latest 2012-08-10; do
        isoinfo -R -i "$_iso" -x "/openstack/$_v/user_data" | cmp -s - "$3" ||
            fail "openstack/$_v/user_data on $_iso is not $3"
    done
    _md=$(isoinfo -R -i "$_iso" -x /openstack/latest/meta_data.json)
    printf '%s' "$_md" | /usr/bin/python3 -c '
import json, sys
md = json.load(sys.stdin)
uuid, key, value = sys.argv[1], sys.argv[2], sys.argv[3]
assert md["uuid"] == uuid, "uuid %r" % md.get("uuid")
assert "hostname" in md and "name" in md and "launch_index" in md, sorted(md)
assert not key or md.get("meta", {}).get(key) == value, "meta %r" % md.get("meta")
' "$2" "${4:-}" "${5:-}" || fail "meta_data.json on $_iso: $_md"
    echo "$_iso"
}

# domain_of INSTANCE_UUID: the libvirt domain sculpt records for the
# instance (GET /v1/instances/UUID, through sculptctl), what virsh takes:
# Nova's instance_name for a cold build; a pre-sculpted pool member that
# served the build keeps its own name (sculpt-pool-...) while it runs, and
# bears the instance_name from the first time its guest is shut off.
domain_of() {
    SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN \
        "$SCULPT_BIN/sculptctl" -f json instance show "$1" |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get("domain") or "")'
}

# wait_domain INSTANCE_UUID NAME [SECONDS]: until sculpt records NAME as
# the instance's domain (its database writes are queued; default 15 s).
wait_domain() {
    poll "${3:-15}" 0.5 domain_is "$1" "$2" ||
        fail "instance $1 recorded as domain '$(domain_of "$1")', not $2"
}
domain_is() { [ "$(domain_of "$1")" = "$2" ]; }

# Server operations and their waits in one process polling Nova every
# 0.5 s (tests/nova/server_op.py): an openstack CLI call costs 2 s of a
# core here, and `openstack server delete --wait` looks again only after
# 5 s.
server_op() { /usr/bin/python3 "$(dirname "$0")/server_op.py" "$@"; } # from tests/nova/*.sh
# delete_wait SERVER...: each deleted, then until Nova knows none of them.
delete_wait() {
    server_op delete "$@" || fail "$* not deleted (see above)"
}
# stop_wait / start_wait SERVER: stopped (SHUTOFF), started (ACTIVE).
stop_wait() { server_op stop "$1" 120 || fail "$1 not stopped (see above)"; }
start_wait() { server_op start "$1" 120 || fail "$1 not started (see above)"; }
