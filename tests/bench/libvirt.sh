#!/bin/sh
# bench-libvirt: live reshape latency through sculpt's libvirt backend
# (full reshape and per knob, p50/p95) against the same knobs set by bare
# libvirt calls in the same run (the floor), and the cold alternative
# (stop, redefine, start: a Nova resize), on the tiny real guest under a
# private libvirtd (tests/bench/bench_libvirt.c).  Software emulation (as in
# CI) unless SCULPT_BENCH_VIRT_TYPE=kvm.  Then a config drive's image made
# in-process against genisoimage, as Nova makes it (bench_configdrive.c).
# Then cold migration between two libvirt hosts (libvirt_migrate.sh).
# SCULPT_BENCH_LIBVIRT_PARTS (default "reshape configdrive migrate") runs
# some of the three.
set -eu
. "$SCULPT_TOP/tests/lib.sh"
parts=${SCULPT_BENCH_LIBVIRT_PARTS:-reshape configdrive migrate}
has_part() { case " $parts " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
tmp=$(mktemp -d /tmp/sculpt-lvb.XXXXXX)
stack="$SCULPT_TOP/contrib/stack/libvirt.sh"
trap '"$stack" stop "$tmp" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
if has_part reshape; then
    guest=$(tiny_guest_dir)
    "$stack" start "$tmp" >/dev/null
    . "$tmp/env/libvirt.env"
    "$SCULPT_BIN/../bench/bench_libvirt" "$LIBVIRT_URI" "$tmp/instances" "$guest" \
        "${SCULPT_BENCH_ROUNDS:-30}" "${SCULPT_BENCH_VIRT_TYPE:-qemu}"
    "$stack" stop "$tmp" >/dev/null
fi
# config drive images: in-process (libarchive) against genisoimage as Nova runs it
if has_part configdrive; then
    "$SCULPT_BIN/../bench/bench_configdrive" "$tmp" "${SCULPT_BENCH_ROUNDS:-30}"
fi
# cold migration (its own two libvirtds and sshd)
if has_part migrate; then
    sh "$SCULPT_TOP/tests/bench/libvirt_migrate.sh"
fi
echo "targets: reshape_overhead_ratio <= 1.1 (only changed knobs, nothing done twice); live_guest_restarts 0"
