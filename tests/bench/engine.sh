#!/bin/sh
# Pack replay throughput on the Bitbrains traces: every policy side by side
# (BENCH pack_vm_steps_per_s, VM-steps summed over the five policies),
# against the bare packing machinery -- the `static` policy alone, measured
# in the same run (BENCH pack_static_vm_steps_per_s) -- and the engine with
# a replayed allocation policy, no predictor (BENCH pack_engine_vm_steps_per_s,
# `autopilot`: an allocation change nearly every step through the engine),
# and `sculpt` alone (BENCH pack_sculpt_vm_steps_per_s: predictor and engine).
# Also the packing itself: sculpt's hosts as a share of static's, cold and
# with a cross-fitted fleet prior, beside the oracle's bound.
set -eu
. "$SCULPT_TOP/tests/lib.sh"
data=$(bitbrains_data)
echo "data: $data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

best() { replay_best "$tmp/best.json" --pack --policy "$1" "$data"; } # POLICIES
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$tmp/best.json" "$1"; }

best static,nova-default,vpa,autopilot,sculpt
echo "BENCH pack_vm_steps_per_s $(field vm_steps_per_s)"
python3 - "$tmp/best.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for name, m in d["policies"].items():
    print("  %-13s %10.0f VM-steps/s  hosts %d" % (name, m["vm_steps"] / m["elapsed_s"], m["hosts_peak"]))
PY
# The packing itself, against static in the same run: sculpt with an empty
# fleet history, with a fleet prior cross-fitted on the other half of the
# VMs, and the oracle (perfect foresight, no migration: the bound).
"$SCULPT_BIN/sculpt-replay" --pack --quiet --json --format bitbrains \
    --policy static,sculpt,sculpt-warm,oracle "$data" >"$tmp/pack.json"
python3 - "$tmp/pack.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["policies"]
for name in ("sculpt", "sculpt-warm", "oracle"):
    key = name.replace("-", "_")
    print("BENCH pack_%s_hosts_vs_static %.3f" % (key, p[name]["hosts_peak"] / p["static"]["hosts_peak"]))
    print("BENCH pack_%s_host_violation_rate %.4f" % (key, p[name]["host_violation_rate"]))
print("  sculpt-warm prior trained in %.2f s" % p["sculpt-warm"]["prior_s"])
PY
best sculpt
echo "BENCH pack_sculpt_vm_steps_per_s $(field vm_steps_per_s)"
best static
echo "BENCH pack_static_vm_steps_per_s $(field vm_steps_per_s)"
best autopilot
echo "BENCH pack_engine_vm_steps_per_s $(field vm_steps_per_s)"
echo "target: pack_vm_steps_per_s >= 1000000; sculpt hosts <= 1/3 of static at host violations <= 1%"
