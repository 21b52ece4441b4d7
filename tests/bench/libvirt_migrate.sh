#!/bin/sh
# bench-libvirt, cold migration (tests/bench/bench_migrate.c): a stopped
# guest's folder moved between two private libvirtds over the loopback
# sshd, set up as tests/integration/libvirt_migrate.sh does
# (migrate_hosts_start), against rsync and cp of the same files in the
# same run; then the downtime of a running guest's move.
#   SCULPT_BENCH_MIGRATE_ROUNDS (5), SCULPT_BENCH_MIGRATE_MIB (128: data
#   written into the overlay first), SCULPT_BENCH_VIRT_TYPE (qemu)
set -eu
. "$SCULPT_TOP/tests/lib.sh"
migrate_hosts_start lvbm >/dev/null
"$SCULPT_BIN/../bench/bench_migrate" "$URI_A" "$T/a/instances" "$URI_B" "$T/b/instances" \
    "$T/b/cache/base.qcow2" "$G" "$SSHD_PORT" "$S/client_key" "$S/known_hosts" \
    "${SCULPT_BENCH_MIGRATE_ROUNDS:-5}" "${SCULPT_BENCH_MIGRATE_MIB:-128}" \
    "${SCULPT_BENCH_VIRT_TYPE:-qemu}"
