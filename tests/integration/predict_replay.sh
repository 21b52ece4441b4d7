#!/bin/sh
# The prediction module through sculpt-replay on the real excerpts in the
# repository: the sculpt policy beside the baselines and the baselines tuned
# to the SLO (--tune-baselines), the JSON keys the issue fixes, calibration
# and SLO sanity, determinism, the SLO override, --bench-predict, and clear
# errors.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

replay="$SCULPT_BIN/sculpt-replay"
data="$SCULPT_TOP/tests/data/traces"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # FILE TARGET RESOURCES...
    python3 - "$@" <<'PY'
import json, sys
path, target, resources = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
d = json.load(open(path))
pol = d["policies"]
assert sorted(pol) == ["autopilot", "autopilot_slo", "sculpt", "static", "vpa", "vpa_slo"], pol.keys()
for name, per in pol.items():
    assert sorted(per) == sorted(resources), (name, per.keys())
    for r, m in per.items():
        for k in ("slack", "violation_rate", "shortfall", "mean_alloc", "mean_use",
                  "reshapes_per_vm_hour"):
            assert isinstance(m[k], (int, float)), (name, r, k)
for r in resources:
    s = pol["sculpt"][r]
    for k in ("pinball_p50", "pinball_p90", "coverage_p50", "coverage_p90", "coverage_p99"):
        assert isinstance(s[k], (int, float)), (r, k)
    # the bands hold about as often as they say (small excerpts: wide
    # margins), where use moves at all: a counter creeping up by less than
    # the bins resolve (Alibaba's net) sits on its bands
    if s["slack"] > 0.05:
        assert 0.35 <= s["coverage_p50"] <= 0.9, (r, s)
        assert 0.8 <= s["coverage_p90"] <= 0.99, (r, s)
    assert s["coverage_p99"] >= 0.95, (r, s)
    assert s["pinball_p50"] >= 0 and s["pinball_p90"] >= 0, (r, s)
    # the SLO through the cost model (a few thousand steps: a point of slack)
    assert s["violation_rate"] <= target + 0.01, (r, s)
    assert s["mean_alloc"] <= pol["static"][r]["mean_alloc"] + 1e-9, (r, s)
    # the tuned baselines meet the SLO and say how they were tuned
    for b in ("vpa_slo", "autopilot_slo"):
        t = pol[b][r]
        assert t["violation_rate"] <= target + 1e-9, (b, r, t)
        assert "margin" in t, (b, r, t)
    assert "percentile" in pol["vpa_slo"][r], r
    assert "pinball_p50" not in pol["vpa"][r]
print(d["format"], "ok:", {r: (round(pol["sculpt"][r]["slack"], 3),
                               round(pol["sculpt"][r]["violation_rate"], 4)) for r in resources})
PY
}

run() { # FORMAT PATH [ARGS...]
    fmt=$1 path=$2
    shift 2
    "$replay" --quiet --json --tune-baselines --format "$fmt" "$@" "$path"
}

run bitbrains "$data/bitbrains" >"$tmp/bb.json"
check "$tmp/bb.json" 0.01 cpu memory net disk
run azure-cpu "$data/azure-cpu" >"$tmp/az.json"
check "$tmp/az.json" 0.01 cpu
run alibaba-machines "$data/alibaba-machines" >"$tmp/ali.json"
check "$tmp/ali.json" 0.01 cpu memory net disk

# deterministic: the same figures on a second run (timings aside)
run bitbrains "$data/bitbrains" >"$tmp/bb2.json"
python3 - "$tmp/bb.json" "$tmp/bb2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for d in (a, b):
    for k in ("elapsed_s", "load_s", "vm_steps_per_s"):
        d.pop(k)
assert a == b, "replay with sculpt is not deterministic"
PY

# the SLO from the command line: a looser target, more violations, less slack
run azure-cpu "$data/azure-cpu" --target-violation-rate 0.05 >"$tmp/az5.json"
check "$tmp/az5.json" 0.05 cpu
python3 - "$tmp/az.json" "$tmp/az5.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["policies"] for p in sys.argv[1:])
assert b["sculpt"]["cpu"]["violation_rate"] > a["sculpt"]["cpu"]["violation_rate"], "SLO ignored"
assert b["sculpt"]["cpu"]["slack"] < a["sculpt"]["cpu"]["slack"], "SLO ignored"
assert b["vpa_slo"]["cpu"]["slack"] <= a["vpa_slo"]["cpu"]["slack"]
PY

# the same SLO from sculpt.conf
printf '[sculpt]\ntarget_violation_rate = 0.05\n' >"$tmp/sculpt.conf"
run azure-cpu "$data/azure-cpu" --config "$tmp/sculpt.conf" >"$tmp/az5c.json"
python3 - "$tmp/az5.json" "$tmp/az5c.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["policies"] for p in sys.argv[1:])
assert a == b, "sculpt.conf and --target-violation-rate disagree"
PY

# a table too, with the tuned rows
"$replay" --quiet --tune-baselines --format azure-cpu "$data/azure-cpu" >"$tmp/table.txt"
grep -q '^cpu *sculpt ' "$tmp/table.txt"
grep -q '^cpu *vpa_slo ' "$tmp/table.txt"

# what prediction costs, on the same excerpt
"$replay" --bench-predict --json --format azure-cpu "$data/azure-cpu" >"$tmp/bench.json"
python3 - "$tmp/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["blueprint_steps"] == 30 and d["blueprint_us"] > 0 and d["vpa_decide_us"] > 0, d
# blueprints hold over their horizon too, step after step
steps = d["horizon_coverage"]["cpu"]
assert len(steps) == 6, steps
for p50, p90, p99 in steps:
    assert p50 <= p90 <= p99 and p90 >= 0.8 and p99 >= 0.95, steps
PY

# a VM left with one sample (bitbrains vm_54: every other row has no
# capacity) has no second half to time the calls in: its only one serves
"$replay" --bench-predict --json --format bitbrains "$data/bitbrains" >"$tmp/bench-bb.json"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["vms"] == 10, d' \
    "$tmp/bench-bb.json"

# bad input: a clear message, never a crash
expect_fail 1 "--target-violation-rate" "$replay" --format azure-cpu --target-violation-rate 2 "$data/azure-cpu"
expect_fail 1 "--target-violation-rate" "$replay" --format azure-cpu --target-violation-rate lots "$data/azure-cpu"
expect_fail 2 "usage:" "$replay" --bench-predict
expect_fail 1 "unknown format" "$replay" --bench-predict --format nope "$data/azure-cpu"
echo "predict_replay: all checks passed"
