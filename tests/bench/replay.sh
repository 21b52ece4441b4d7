#!/bin/sh
# Replay throughput on the Bitbrains traces: the three baselines together
# (BENCH replay_vm_steps_per_s), against the bare replay loop with only the
# `static` policy measured in the same run (the floor of the machinery).
set -eu
. "$SCULPT_TOP/tests/lib.sh"
data=$(bitbrains_data)
echo "data: $data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

best() { replay_best "$tmp/best.json" --policy "$1" "$data"; } # POLICIES
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$tmp/best.json" "$1"; }

best static,vpa,autopilot
steps=$(field steps)
echo "BENCH replay_vm_steps_per_s $(field vm_steps_per_s)"
echo "BENCH replay_load_rows_per_s $(python3 -c "import json;d=json.load(open('$tmp/best.json'));print(round(d['rows']/d['load_s']))")"
best static
echo "BENCH replay_static_vm_steps_per_s $(field vm_steps_per_s)"
echo "vm_steps: $steps (each counted once per policy); target >= 1000000 VM-steps/s on one core"

# The replay with sculpt among the policies (the prediction module on every
# VM-step, in time order across VMs), and sculpt alone.
best static,vpa,autopilot,sculpt
echo "BENCH replay_with_sculpt_vm_steps_per_s $(field vm_steps_per_s)"
best sculpt
echo "BENCH replay_sculpt_vm_steps_per_s $(field vm_steps_per_s)"

# One blueprint ([sculpt] horizon and step: 30 steps, every resource) and
# one next-step prediction, on predictors warmed on half of each VM,
# against VPA's recommendation for one step measured in the same run.
"$SCULPT_BIN/sculpt-replay" --bench-predict --json --format bitbrains "$data" >"$tmp/predict.json"
pfield() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$tmp/predict.json" "$1"; }
echo "BENCH predict_blueprint_us $(pfield blueprint_us)"
echo "BENCH predict_next_us $(pfield next_us)"
echo "BENCH predict_vpa_decide_us $(pfield vpa_decide_us)"
echo "blueprint: $(pfield blueprint_steps) steps over $(pfield vms) VMs; target predict_blueprint_us <= 50"
