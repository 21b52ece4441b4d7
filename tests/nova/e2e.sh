#!/bin/sh
# End to end on real guests (create, stop/start, reboots, console, VNC and serial consoles, a snapshot,
# a rebuild onto it and a server booted from it, delete): the openstack CLI
# against the local Nova, with sculpt-compute (libvirt backend) as host
# HOST; checked on the hypervisor with virsh,
# qemu-img, isoinfo (the config drive with the server's user data and
# metadata) and in Placement.
#   tests/nova/e2e.sh RUN_DIR NAME   (NAME: a sculpt.sh instance)
set -eu
run=$1
name=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
set -a
. "$run/env/nova.env"
. "$run/env/libvirt.env"
. "$run/env/$name.env"
set +a
host=$SCULPT_HOST
export OS_COMPUTE_API_VERSION=2.37
say() { echo "e2e: $*"; }
fail() { echo "e2e FAILED: $*" >&2; exit 1; }

. "$top/tests/nova/lib.sh"

domstate() { virsh -c "$LIBVIRT_URI" domstate "$1" 2>/dev/null | head -n 1; }
# serial_port DOMAIN: the port of its TCP serial console on 127.0.0.1
serial_port() {
    virsh -c "$LIBVIRT_URI" dumpxml "$1" | tr -d '\n' |
        sed -n "s|.*<serial type='tcp'> *<source mode='bind' host='127.0.0.1' service='\([0-9]*\)'[^>]*>.*|\1|p"
}

# wait_console SERVER_UUID TEXT SECONDS [COUNT]: the guest printed TEXT on
# its serial console (COUNT times, default once: the log keeps every boot)
wait_console() {
    _wc_end=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt $_wc_end ]; do
        [ "$(console_output "$1" 2>/dev/null | grep -c "$2")" -ge "${4:-1}" ] && return 0
        sleep 1
    done
    console_output "$1" | tail -n 20 >&2
    fail "console of $1 never showed '$2'"
}

# Nova's legacy notifications of e2e-1, as oslo.messaging's notification
# listener reads them (sculpt.sh sets [oslo_messaging_notifications]
# driver = messagingv2); checked after the delete
notes=$run/e2e.notifications
rm -f "$notes" "$notes.ready"
/usr/bin/python3 "$top/tests/nova/notifications.py" listen "$notes" &
notes_pid=$!
trap 'kill $notes_pid 2>/dev/null || :' EXIT

t=$(date +%s)
# user data and metadata reach the guest on its config drive
ud=$run/e2e.user-data
printf '#cloud-config\n# e2e %s\nruncmd: [[echo, "user data: it is here"]]\n' "$(date +%s%N)" >"$ud"
# an RSA key pair: changePassword keeps the password encrypted with it
rm -f "$run/e2e-key" "$run/e2e-key.pub"
ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C e2e -f "$run/e2e-key" || fail "ssh-keygen"
openstack keypair create --public-key "$run/e2e-key.pub" e2e-key >/dev/null || fail "keypair create"
openstack server create --flavor m1.tiny --image "$SCULPT_IMAGE_ID" --nic none \
    --user-data "$ud" --config-drive true --property role=e2e --key-name e2e-key \
    --availability-zone "nova:$host" e2e-1 -f value -c id >"$run/e2e.id"
id=$(cat "$run/e2e.id")
wait_status e2e-1 ACTIVE 180
say "create -> ACTIVE in $(($(date +%s) - t)) s"
# the guest by sculpt's record: a pre-sculpted member that served the
# build runs under its own name until it is first stopped
dom=$(domain_of "$id")
[ "$(domstate "$dom")" = running ] || fail "domain $dom is '$(domstate "$dom")', not running"
[ "$(openstack server show e2e-1 -f value -c OS-EXT-SRV-ATTR:host)" = "$host" ] || fail "not on $host"
iso=$(check_config_drive "$dom" "$id" "$ud" role e2e)
[ "$(openstack server show e2e-1 -f value -c config_drive)" = True ] ||
    fail "Nova does not show config_drive True for e2e-1"
wait_console "$id" GUEST-INIT-READY 120
say "guest $dom runs and reached its init; its config drive $iso holds the user data"

t=$(date +%s)
openstack server stop e2e-1
wait_status e2e-1 SHUTOFF 120
# stopped, the guest bears Nova's instance_name whichever way it was built
dom=$(openstack server show e2e-1 -f value -c OS-EXT-SRV-ATTR:instance_name)
wait_domain "$id" "$dom"
[ "$(domstate "$dom")" = "shut off" ] || fail "domain $dom is '$(domstate "$dom")' after stop"
say "stop -> SHUTOFF in $(($(date +%s) - t)) s, domain shut off"
# no console of a guest that does not run: Zed's InstanceNotReady, 409
console_not_ready() { # PROTOCOL TYPE
    _cn_code=$(curl -s -o "$run/e2e.$1-stopped" -w '%{http_code}' -X POST -H "X-Auth-Token: $(nova_token)" \
        -H 'Content-Type: application/json' -H 'OpenStack-API-Version: compute 2.6' \
        -d "{\"remote_console\": {\"protocol\": \"$1\", \"type\": \"$2\"}}" \
        "$NOVA_API_URL/servers/$id/remote-consoles")
    [ "$_cn_code" = 409 ] && grep -q "is not ready" "$run/e2e.$1-stopped" ||
        fail "$1 console of a stopped server: HTTP $_cn_code $(cat "$run/e2e.$1-stopped")"
}
console_not_ready vnc novnc
console_not_ready serial serial

t=$(date +%s)
openstack server start e2e-1
wait_status e2e-1 ACTIVE 120
[ "$(domstate "$dom")" = running ] || fail "domain $dom not running after start"
say "start -> ACTIVE in $(($(date +%s) - t)) s"

t=$(date +%s)
openstack server reboot --soft e2e-1
wait_status e2e-1 ACTIVE 180
[ "$(domstate "$dom")" = running ] || fail "domain $dom not running after reboot"
say "soft reboot -> ACTIVE in $(($(date +%s) - t)) s"
boots=$(console_output "$id" | grep -c GUEST-INIT-READY)
openstack server reboot --hard e2e-1
wait_status e2e-1 ACTIVE 180
say "hard reboot -> ACTIVE"

lines=$(openstack console log show --lines 5 e2e-1 | wc -l)
[ "$lines" -ge 1 ] && [ "$lines" -le 5 ] || fail "console log --lines 5 gave $lines lines"
# the new boot's line, not an earlier one: an NMI sent before the guest's
# kernel is up is lost (it happened under load)
wait_console "$id" GUEST-INIT-READY 120 $((boots + 1))
say "console output: $lines lines, the guest came back up"

# trigger_crash_dump (microversion 2.17): an NMI, which the guest's kernel
# logs (it has no crash kernel to dump with) and runs on
openstack --os-compute-api-version 2.17 server dump create e2e-1
wait_console "$id" 'NMI received' 60
wait_status e2e-1 ACTIVE 10
say "dump create -> the guest's kernel logged the NMI, still ACTIVE"

# changePassword on an image without hw_qemu_guest_agent: refused at
# once, as Zed's QemuGuestAgentNotEnabled (409), no task left behind, the
# action's event failed
out=$(server_op password e2e-1 e2e-no-agent-pw) || fail "changePassword"
printf '%s\n' "$out" | grep -qx 'http=409 task=None event=Error' &&
    printf '%s\n' "$out" | grep -q 'QEMU guest agent is not enabled' ||
    fail "changePassword without the agent: $out"
say "changePassword, image without the guest agent -> 409, task cleared, event Error"

# diagnostics (microversion 2.48): libvirt's counters of the running guest
openstack --os-compute-api-version 2.48 server show --diagnostics -f json e2e-1 |
    /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["state"] == "running" and d["driver"] == "libvirt", d
assert d["num_cpus"] >= 1 and d["cpu_details"][0]["time"] > 0, d
assert d["num_disks"] >= 1 and d["disk_details"][0]["read_bytes"] > 0, d
assert d["memory_details"]["maximum"] > 0, d
print("e2e: diagnostics: %d vCPU(s), %d disk(s) (read %d bytes), %d MiB" % (d["num_cpus"],
      d["num_disks"], d["disk_details"][0]["read_bytes"], d["memory_details"]["maximum"]))
' || fail "server show --diagnostics"

# the VNC console ([vnc] enabled, sculpt.conf's default): Nova's URL,
# nova-novncproxy with its token, QEMU's VNC server behind it (the port
# the live domain has, which validate_console_port must tell apart)
t=$(date +%s)
vnc=$(virsh -c "$LIBVIRT_URI" vncdisplay "$dom" | head -n 1)
case "$vnc" in 127.0.0.1:[0-9]*) ;; *) fail "domain $dom's VNC display is '$vnc'" ;; esac
/usr/bin/python3 "$top/tests/nova/vnc_console.py" --host "$host" --server "$id" --domain "$dom" \
    --port $((5900 + ${vnc#*:})) || fail "VNC console"
say "VNC console checked in $(($(date +%s) - t)) s"

# expired console tokens leave Nova's database (kvm1 purges them every 2 s,
# instance_delete_interval): the oldest of the check's tokens made expired
# goes, the others stay
nova_db=$(sed -n 's/^SCULPT_DB_URL=//p' "$run/env/postgres.env")
nova_db=${nova_db%/*}/nova
nova_sql() { psql -X -q -t -A "$nova_db" -c "$1"; }
tokens() { nova_sql "select count(*) from console_auth_tokens where instance_uuid = '$id'"; }
n=$(tokens) || fail "Nova's console tokens not read"
[ "$n" -ge 2 ] || fail "$n console token(s) of $id in Nova's database, expected 2 or more"
tok=$(nova_sql "select min(id) from console_auth_tokens where instance_uuid = '$id'")
nova_sql "update console_auth_tokens set expires = extract(epoch from now())::int - 1 where id = $tok" >/dev/null ||
    fail "token not expired by hand"
end=$(($(date +%s) + 30))
until [ "$(nova_sql "select count(*) from console_auth_tokens where id = $tok")" = 0 ]; do
    [ "$(date +%s)" -lt $end ] || fail "the expired console token $tok still in Nova's database after 30 s"
    sleep 0.5
done
[ "$(tokens)" = $((n - 1)) ] || fail "unexpired console tokens removed too ($(tokens) of $n left)"
say "an expired console token removed by the host's purge, $((n - 1)) unexpired kept"

# the serial console (kvm1 runs with [serial_console] enabled in this
# phase: tests/integration/nova.sh): the domain's TCP serial port, Nova's
# URL, nova-serialproxy with its token, a line typed to the guest and its
# answer
t=$(date +%s)
sport=$(serial_port "$dom")
[ -n "$sport" ] || fail "domain $dom has no TCP serial console on 127.0.0.1"
/usr/bin/python3 "$top/tests/nova/serial_console.py" --server "$id" --port "$sport" ||
    fail "serial console"
say "serial console checked in $(($(date +%s) - t)) s"

# A call whose handler outlives the caller's call-monitor timeout only
# succeeds with keep-alives.
/usr/bin/python3 "$top/tests/nova/keepalive.py" --host "$host" --server "$id"
wait_status e2e-1 SHUTOFF 10
openstack server start e2e-1
wait_status e2e-1 ACTIVE 120

rp=$(openstack resource provider list --name "$host" -f value -c uuid)
[ -n "$rp" ] || fail "no resource provider named $host"
used=$(openstack resource provider usage show "$rp" -f value -c resource_class -c usage | awk '$1=="VCPU"{print $2}')
[ "$used" = 1 ] || fail "Placement shows $used VCPU used on $host, expected 1"

# the drive stays through power cycles and reboots
[ "$(check_config_drive "$dom" "$id" "$ud")" = "$iso" ] || fail "config drive of $dom moved"

# a snapshot, taken live (the guest's QEMU runs on throughout): the image
# in Glance with nova's properties, a server booted from it on this host,
# both deleted after
qpid=$(cat "$LIBVIRT_DIR/run/qemu/$dom.pid")
t=$(date +%s)
# (--wait prints its progress on stdout: the image's id from Glance)
openstack server image create --wait --name e2e-snap e2e-1 >/dev/null
snap=$(openstack image show e2e-snap -f value -c id)
wait_status e2e-1 ACTIVE 30
[ "$(domstate "$dom")" = running ] || fail "domain $dom not running after the snapshot"
[ "$(cat "$LIBVIRT_DIR/run/qemu/$dom.pid")" = "$qpid" ] ||
    fail "the snapshot was not live: $dom runs in a new QEMU process"
# (owner_id too, which openstacksdk shows as the image's owner: rpc_api.py
# reads it from Glance itself)
openstack image show "$snap" -f json | /usr/bin/python3 -c '
import json, sys
im = json.load(sys.stdin)
p = im.get("properties") or {}
p = dict(p, **im)
want = {"status": "active", "disk_format": "qcow2", "container_format": "bare",
        "image_type": "snapshot", "instance_uuid": sys.argv[1], "base_image_ref": sys.argv[2],
        "image_location": "snapshot"}
bad = {k: (p.get(k), v) for k, v in want.items() if p.get(k) != v}
assert not bad and im.get("size"), bad or im
' "$id" "$SCULPT_IMAGE_ID" || fail "snapshot image $snap: $(openstack image show "$snap" -f json)"
say "snapshot -> image $snap active in $(($(date +%s) - t)) s"

# the image cache manager (kvm1 runs it every 2 s): the image e2e-1 runs
# from, made to look unused for 3 days, is kept and marked used again
cache=$(dirname "$SCULPT_CONF")/state/_base
[ -f "$cache/$SCULPT_IMAGE_ID" ] || fail "image $SCULPT_IMAGE_ID not in kvm1's cache $cache"
touch -d '3 days ago' "$cache/$SCULPT_IMAGE_ID"
poll 30 1 sh -c "[ -n \"\$(find '$cache/$SCULPT_IMAGE_ID' -mmin -1)\" ]" ||
    fail "image $SCULPT_IMAGE_ID, in use, not marked used by the image cache manager in 30 s"

# rebuild onto the snapshot: the same domain (uuid, name) made again over
# the new image's base, a new config drive (user data, metadata, the new
# password), ACTIVE; a new image is a new workload, so its blueprint
# starts cold (sculpt's event log says which).  The snapshot asks for the
# QEMU guest agent: the rebuilt domain gets its channel; and for quiesced
# snapshots (os_require_quiesce)
t=$(date +%s)
openstack image set --property hw_qemu_guest_agent=yes --property os_require_quiesce=yes "$snap"
ud2=$run/e2e.user-data-rebuilt
printf '#cloud-config\n# rebuilt %s\n' "$(date +%s%N)" >"$ud2"
openstack --os-compute-api-version 2.57 server rebuild --image "$snap" --user-data "$ud2" \
    --property role=rebuilt --password e2e-rebuilt-pw e2e-1 >/dev/null
wait_status e2e-1 ACTIVE 180
[ "$(openstack server show e2e-1 -f value -c image)" = "e2e-snap ($snap)" ] ||
    fail "Nova shows image '$(openstack server show e2e-1 -f value -c image)' after the rebuild"
[ "$(domstate "$dom")" = running ] || fail "domain $dom is '$(domstate "$dom")' after the rebuild"
[ "$(virsh -c "$LIBVIRT_URI" domuuid "$dom" | head -n 1)" = "$id" ] ||
    fail "domain $dom is not instance $id after the rebuild"
disk=$(virsh -c "$LIBVIRT_URI" domblklist "$dom" --details | awk '$2 == "disk" {print $4; exit}')
qemu-img info -U --output=json "$disk" | /usr/bin/python3 -c '
import json, os, sys
b = json.load(sys.stdin).get("backing-filename") or ""
assert os.path.basename(b) == sys.argv[1], b
' "$snap" || fail "disk $disk of $dom is not over image $snap: $(qemu-img info -U "$disk")"
iso=$(check_config_drive "$dom" "$id" "$ud2" role rebuilt)
isoinfo -R -i "$iso" -x /openstack/latest/meta_data.json | /usr/bin/python3 -c '
import json, sys
m = json.load(sys.stdin)
assert m.get("admin_pass") == "e2e-rebuilt-pw"
assert m.get("public_keys", {}).get("e2e-key", "").strip() == open(sys.argv[1]).read().strip(), m.get("public_keys")
' "$run/e2e-key.pub" || fail "the rebuilt config drive $iso lacks the new password or the key"
SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" events \
    --instance "$id" --action blueprint.rebuild | grep -q "cold-start blueprint for the new image" ||
    fail "no cold-start blueprint recorded for the rebuild onto a new image"
say "rebuild onto $snap -> ACTIVE in $(($(date +%s) - t)) s: same domain, disk over the new image, new config drive, new blueprint"

# changePassword through the guest agent (the rebuilt guest's tiny agent
# sets root's hash in its /etc/shadow and prints it), once libvirt sees
# the agent's port open: 202, the hash is the password's, which no line
# of sculpt-compute's log holds; the agent stopped: 501
t=$(date +%s)
agent_is() { # STATE: the agent channel's state in the live XML
    _ai_end=$(($(date +%s) + 120))
    until virsh -c "$LIBVIRT_URI" dumpxml "$dom" |
        grep -q "name='org.qemu.guest_agent.0' state='$1'"; do
        [ "$(date +%s)" -lt $_ai_end ] || fail "the agent channel of $dom never $1"
        sleep 0.5
    done
}
agent_is connected
pw=e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
out=$(server_op password e2e-1 "$pw") || fail "changePassword"
[ "$out" = 'http=202 task=None event=Success' ] || fail "changePassword with the agent: $out"
wait_console "$id" 'GUEST-PASSWORD user=root hash=' 30
hash=$(console_output "$id" | sed -n 's/.*GUEST-PASSWORD user=root hash=\([^[:space:]]*\).*/\1/p' | tail -n 1)
[ "$(openssl passwd -6 -salt "$(echo "$hash" | cut -d'$' -f3)" "$pw")" = "$hash" ] ||
    fail "the guest's root hash '$hash' is not the password's"
! grep -qF "$pw" "$SCULPT_LOG" || fail "the password is in $SCULPT_LOG"
# kept encrypted with the server's RSA key for os-server-password: the
# owner's private key reads it back
got=$(nova get-password e2e-1 "$run/e2e-key") || fail "nova get-password"
[ "$got" = "$pw" ] || fail "nova get-password read '$got', not the password set"
# a snapshot of the guest with its agent, os_require_quiesce on its image:
# quiesced (the agent's freeze, then its thaw, on the guest's console,
# sculpt's log between the copy's sync and its end)
tq=$(date +%s)
nf=$(console_output "$id" | grep -c 'GUEST-FSFREEZE thawed' || :)
out=$(server_op snapshot e2e-1 e2e-quiesced 120) || fail "quiesced snapshot"
[ "$(echo "$out" | head -n 1)" = 'image=active status=ACTIVE task=None event=Success' ] ||
    fail "quiesced snapshot: $out"
wait_console "$id" 'GUEST-FSFREEZE thawed' 30 $((nf + 1))
[ "$(console_output "$id" | grep -o 'GUEST-FSFREEZE [a-z]*' | tail -n 2 | tr '\n' ' ')" = \
    'GUEST-FSFREEZE frozen GUEST-FSFREEZE thawed ' ] || fail "not frozen, then thawed"
grep -q "live snapshot of $id: copy in sync, 0 filesystem(s) frozen" "$SCULPT_LOG" ||
    fail "no freeze in sync in $SCULPT_LOG"
openstack image delete "$(echo "$out" | tail -n 1)"
say "snapshot quiesced through the agent (frozen, thawed) in $(($(date +%s) - tq)) s"
# quiesce_instance and unquiesce_instance, as nova-api calls them around a
# volume-backed snapshot: frozen once the call answers, thawed by the cast
tq=$(date +%s)
nf=$(console_output "$id" | grep -c 'GUEST-FSFREEZE thawed' || :)
/usr/bin/python3 "$top/tests/nova/quiesce_rpc.py" --server "$id" || fail "quiesce_instance"
wait_console "$id" 'GUEST-FSFREEZE thawed' 30 $((nf + 1))
[ "$(console_output "$id" | grep -o 'GUEST-FSFREEZE [a-z]*' | tail -n 2 | tr '\n' ' ')" = \
    'GUEST-FSFREEZE frozen GUEST-FSFREEZE thawed ' ] ||
    fail "quiesce_instance/unquiesce_instance: not frozen, then thawed"
say "quiesce_instance froze, unquiesce_instance thawed through the agent in $(($(date +%s) - tq)) s"
# (on the guest's TCP serial console: kvm1 runs with [serial_console]
# enabled in this phase)
sport=$(serial_port "$dom")
[ -n "$sport" ] || fail "domain $dom has no TCP serial console on 127.0.0.1"
(. "$top/tests/lib.sh" && guest_send "tcp:127.0.0.1:$sport" "agent off" >/dev/null) || fail "agent off"
agent_is disconnected
out=$(server_op password e2e-1 "$pw-2") || fail "changePassword"
printf '%s\n' "$out" | grep -qx 'http=501 task=None event=Error' ||
    fail "changePassword, the agent stopped: $out"
wait_status e2e-1 ACTIVE 10
say "changePassword via the guest agent -> 202, root's hash set, the password for nova get-password, in $(($(date +%s) - t)) s; agent stopped -> 501"
# the agent stopped, os_require_quiesce: the snapshot fails as Zed's fails
# a snapshot (its image deleted, the server ACTIVE with no task, the
# action's event Error), the guest running on, not frozen
t=$(date +%s)
out=$(server_op snapshot e2e-1 e2e-unquiesced 60) || fail "snapshot, agent stopped"
[ "$(echo "$out" | head -n 1)" = 'image=gone status=ACTIVE task=None event=Error' ] ||
    fail "required quiesce, agent stopped: $out"
[ "$(domstate "$dom")" = running ] || fail "domain $dom not running after the failed snapshot"
[ "$(console_output "$id" | grep -o 'GUEST-FSFREEZE [a-z]*' | tail -n 1)" = 'GUEST-FSFREEZE thawed' ] ||
    fail "the guest was left frozen"
grep -q "Quiescing instance $id failed and it is required" "$SCULPT_LOG" ||
    fail "no failed quiesce in $SCULPT_LOG"
say "snapshot, quiesce required, agent stopped -> image deleted, ACTIVE, event Error in $(($(date +%s) - t)) s"
t=$(date +%s)
openstack server create --flavor m1.tiny --image "$snap" --nic none \
    --availability-zone "nova:$host" e2e-2 -f value -c id >"$run/e2e2.id"
wait_status e2e-2 ACTIVE 180
# (what the image holds is checked by libvirt_live.sh: a boot here is
# another minute under TCG)
[ "$(domstate "$(domain_of "$(cat "$run/e2e2.id")")")" = running ] ||
    fail "the server from the snapshot does not run"
delete_wait e2e-2
openstack image delete "$snap"
say "a server from the snapshot ACTIVE in $(($(date +%s) - t)) s; both deleted"

t=$(date +%s)
delete_wait e2e-1
say "delete done in $(($(date +%s) - t)) s"
openstack keypair delete e2e-key || fail "keypair delete"
if virsh -c "$LIBVIRT_URI" dominfo "$dom" >/dev/null 2>&1; then
    fail "domain $dom still defined after the delete"
fi
[ ! -e "$iso" ] || fail "config drive $iso left after the delete"
# the snapshot's image, which no guest runs from any more, unused for 3
# days: the image cache manager removes it
[ -f "$cache/$snap" ] || fail "image $snap not in kvm1's cache"
touch -d '3 days ago' "$cache/$snap"
poll 30 1 sh -c "[ ! -e '$cache/$snap' ]" ||
    fail "image $snap, unused, not removed by the image cache manager in 30 s"
grep -q "image $snap unused for [0-9]* s: removed" "$SCULPT_LOG" ||
    fail "no log line for the removal of image $snap"
# and /metrics counts it (the bytes too), the cached images by state (set
# once the pass ends, just after the removal)
cache_metrics() {
    curl -sf -H "X-Auth-Token: $SCULPT_API_TOKEN" "${SCULPT_API_URL%/}/metrics" |
        awk '$1 == "sculpt_image_cache_removed_total" && $2 >= 1 {r = 1}
            $1 == "sculpt_image_cache_removed_bytes_total" && $2 > 0 {b = 1}
            $1 == "sculpt_image_cache_images{state=\"in_use\"}" {u = 1} END {exit !(r && b && u)}'
}
poll 10 0.5 cache_metrics ||
    fail "image cache metrics: $(curl -s -H "X-Auth-Token: $SCULPT_API_TOKEN" "${SCULPT_API_URL%/}/metrics" | grep sculpt_image_cache)"
say "image cache manager: an image in use kept, an unused one removed"
# (the listener waits for delete.end: it is sent after the instance is
# destroyed, which the API may show first)
/usr/bin/python3 "$top/tests/nova/notifications.py" check "$notes" --server "$id" --host "$host" \
    --image "$SCULPT_IMAGE_ID" --image2 "$snap" --events "create.start create.end
    power_off.start power_off.end power_on.start power_on.end reboot.start reboot.end
    reboot.start reboot.end trigger_crash_dump.start trigger_crash_dump.end
    power_off.start power_off.end power_on.start power_on.end snapshot.start snapshot.end
    exists rebuild.start rebuild.end snapshot.start snapshot.end snapshot.start delete.start
    shutdown.start shutdown.end delete.end" \
    --field create.start:state=building --field create.start:image_name=sculpt-tiny \
    --field create.start:display_name=e2e-1 --field create.start:instance_type=m1.tiny \
    --field create.start:memory_mb=128 --field create.start:vcpus=1 \
    --field create.start:root_gb=1 --field 'create.start:metadata={"role": "e2e"}' \
    --field create.start:launched_at= --field create.end:state=active \
    --field create.end:message=Success --field 'create.end:fixed_ips=[]' \
    --field power_off.start:state_description=powering-off \
    --field power_off.end:state=stopped --field power_off.end:state_description= \
    --field power_on.end:state=active --field reboot.start:state_description=reboot_pending \
    --field snapshot.start:state_description=image_snapshot \
    --field rebuild.start:image_name=e2e-snap --field 'rebuild.end:metadata={"role": "rebuilt"}' \
    --field delete.start:state_description=deleting --field delete.end:state=deleted ||
    fail "notifications of e2e-1"
kill $notes_pid
wait $notes_pid || :
say "notifications: e2e-1's 28 compute.instance.* events in order, through oslo.messaging's listener"
for rc in VCPU MEMORY_MB DISK_GB; do
    used=$(openstack resource provider usage show "$rp" -f value -c resource_class -c usage | awk -v rc=$rc '$1==rc{print $2}')
    [ "$used" = 0 ] || fail "Placement still shows $used $rc used on $host"
done
say "domain gone, Placement allocations freed"
