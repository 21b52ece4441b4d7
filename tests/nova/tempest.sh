#!/bin/sh
# tempest.api.compute.servers.test_create_server and ServerActionsTestJSON's
# resize tests (confirm, confirm from stopped, revert) and rebuild tests (a
# running and a stopped server), and ServerRescueTestJSON's rescue and
# unrescue, against the local
# Nova whose compute nodes are sculpt-compute (tempest from Debian 12), on
# host NAME alone: sculpt resizes on the instance's own host only, so the
# other computes are disabled meanwhile (else the scheduler may pick one of
# them as a resize's destination, which refuses).
#   tests/nova/tempest.sh RUN_DIR NAME   (NAME: the sculpt.sh instance whose env names the image)
# TEMPEST_BROAD=1 runs all of tempest.api.compute instead (`make tempest`,
# about 15-25 minutes here): every microversion up to Zed's 2.93, stable
# device rescue, less the tests tests/nova/tempest-exclude.txt names (they
# need a real Neutron); TEMPEST_REGEX=RE runs the tests RE matches (with
# TEMPEST_BROAD=1, those of them the exclusions leave).
# NAME may be a libvirt host (`make tempest TEMPEST_HOST=kvm1`): its guests
# boot under TCG on a loaded machine, so the time-outs are longer and one
# worker runs the tests (TEMPEST_CONCURRENCY overrides either's 2 or 1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
broad=${TEMPEST_BROAD:-0}
run=$1
name=${2:-fake1}
set -a
. "$run/env/nova.env"
. "$run/env/$name.env"
set +a
ws=$run/tempest
driver=$(sed -n 's/^compute_driver *= *//p' "$SCULPT_CONF" | head -n 1)
# sculpt's libvirt guests are q35 machines, which have no IDE bus (its
# rescue refuses an IDE rescue device with a clear fault); they have VNC
# consoles through nova-novncproxy, the fake's guests none
if [ "$driver" = libvirt ]; then
    build_timeout=600 concurrency=${TEMPEST_CONCURRENCY:-1} ide_bus=false vnc_console=true
else
    build_timeout=180 concurrency=${TEMPEST_CONCURRENCY:-2} ide_bus=true vnc_console=false
fi
# tempest's commands write tempest.log where they run: run them in $run.
cd "$run"
# tempest keeps a registry of workspaces by name (~/.tempest): a name of
# this run's own, removed again at the end.
wsname=sculpt-$(basename "$run")
rm -rf "$ws"
tempest workspace remove --name "$wsname" >/dev/null 2>&1 || true
others=$(/usr/bin/python3 "$here/services.py" "$run" disable "$SCULPT_HOST" "tempest phase")
trap 'cd "$run" && tempest workspace remove --name "$wsname" >/dev/null 2>&1;
      /usr/bin/python3 "$here/services.py" "$run" enable $others' EXIT
tempest init --name "$wsname" "$ws" >"$run/tempest-init.log" 2>&1 ||
    { cat "$run/tempest-init.log" >&2; echo "tempest init failed" >&2; exit 1; }
cat >"$ws/etc/tempest.conf" <<EOT
[DEFAULT]
log_file = tempest.log
[auth]
admin_username = admin
admin_password = $NOVA_ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
use_dynamic_credentials = true
tempest_roles = member
[identity]
uri_v3 = $NOVA_KEYSTONE_URL
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = false
[compute]
image_ref = $SCULPT_IMAGE_ID
image_ref_alt = $SCULPT_IMAGE_ID
flavor_ref = $SCULPT_FLAVOR_ID
flavor_ref_alt = $SCULPT_FLAVOR_ALT_ID
build_timeout = $build_timeout
[compute-feature-enabled]
console_output = true
resize = true
live_migration = false
vnc_console = $vnc_console
spice_console = false
serial_console = false
attach_encrypted_volume = false
ide_bus = $ide_bus
[service_available]
nova = true
glance = true
neutron = false
cinder = false
swift = false
placement = true
[validation]
run_validation = false
[image-feature-enabled]
api_v1 = false
EOT
if [ "$broad" = 1 ]; then
    # (tempest reads a section given twice as one)
    cat >>"$ws/etc/tempest.conf" <<EOT
[compute]
min_microversion = 2.1
max_microversion = 2.93
[compute-feature-enabled]
stable_rescue = true
EOT
fi
cd "$ws"
set +e
regex="tempest.api.compute.servers.test_create_server|\
ServerActionsTestJSON.test_(resize_server_(confirm|confirm_from_stopped|revert)|\
rebuild_server|rebuild_server_in_stop_state)\b|\
ServerRescueTestJSON.test_rescue_unrescue_instance\b"
if [ "$broad" = 1 ]; then
    tempest run --concurrency $concurrency --regex "${TEMPEST_REGEX:-^tempest\.api\.compute\.}" \
        --exclude-list "$here/tempest-exclude.txt" >run.log 2>&1
else
    tempest run --concurrency $concurrency --regex "${TEMPEST_REGEX:-$regex}" >run.log 2>&1
fi
rc=$?
set -e
# (the run's folder goes with the stack: TEMPEST_LOG keeps the log)
[ -z "${TEMPEST_LOG:-}" ] || cp run.log "$TEMPEST_LOG"
grep -E "^(=|Totals| - )" run.log | tail -n 12
# what each resize and rebuild test cost (its setUp included)
grep -oE "test_re(size|build|scue)_[a-z_]*(\[[^]]*\])? \[[0-9.]+s\] \.\.\. [a-z]+" run.log || true
passed=$(sed -n 's/^ - Passed: *\([0-9]*\).*/\1/p' run.log | tail -n 1)
failed=$(sed -n 's/^ - Failed: *\([0-9]*\).*/\1/p' run.log | tail -n 1)
if [ $rc -ne 0 ] || [ "${failed:-1}" != 0 ] || [ "${passed:-0}" -lt 1 ]; then
    echo "tempest failed (exit $rc, passed ${passed:-?}, failed ${failed:-?}):" >&2
    grep -B2 -A30 -E "^(FAIL|ERROR)" run.log | head -n 80 >&2
    exit 1
fi
if [ "$broad" = 1 ] || [ -n "${TEMPEST_REGEX:-}" ]; then
    # why the others were skipped, by reason
    grep -o 'SKIPPED: .*' run.log | sed 's/ *\[.*//' | sort | uniq -c | sort -rn
    echo "tempest: $passed passed, 0 failed (log: $ws/run.log)"
    exit 0
fi
# a test skipped is no test of the rebuild or the rescue
for t in test_rebuild_server test_rebuild_server_in_stop_state test_rescue_unrescue_instance; do
    grep -qE "\.$t(\[[^]]*\])? \[[0-9.]+s\] \.\.\. ok" run.log ||
        { echo "tempest: $t did not run and pass" >&2; exit 1; }
done
echo "tempest: $passed passed, 0 failed"
