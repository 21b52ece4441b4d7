#!/bin/sh
# sculpt-replay end to end: every format on the real excerpts in the
# repository (and on the full public traces when they are beside the
# checkout), the JSON shape the issue fixes, determinism, and clear errors.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

replay="$SCULPT_BIN/sculpt-replay"
data="$SCULPT_TOP/tests/data/traces"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_json() { # FILE FORMAT RESOURCES...
    python3 - "$@" <<'PY'
import json, sys
path, fmt, resources = sys.argv[1], sys.argv[2], sys.argv[3:]
d = json.load(open(path))
assert d["format"] == fmt, d["format"]
assert d["vms"] > 0 and d["steps"] > 0, d
for k in ("elapsed_s", "vm_steps_per_s"):
    assert isinstance(d[k], (int, float)), k
assert sorted(d["policies"]) == ["autopilot", "sculpt", "static", "vpa"], d["policies"].keys()
for name, per in d["policies"].items():
    assert sorted(per) == sorted(resources), (name, per.keys())
    for r, m in per.items():
        for key in ("slack", "violation_rate", "shortfall", "mean_alloc", "mean_use"):
            assert isinstance(m[key], (int, float)), (name, r, key)
        assert 0 <= m["slack"] <= 1 and 0 <= m["violation_rate"] <= 1 and 0 <= m["shortfall"] <= 1
        if name == "static":
            assert m["violation_rate"] == 0, (r, m)
        else:
            assert m["mean_alloc"] <= d["policies"]["static"][r]["mean_alloc"] + 1e-9, (name, r)
print(fmt, "ok:", d["vms"], "VMs", d["steps"], "steps")
PY
}

run_format() { # FORMAT PATH RESOURCES...
    fmt=$1 path=$2
    shift 2
    "$replay" --quiet --format "$fmt" --json "$path" >"$tmp/$fmt.json"
    check_json "$tmp/$fmt.json" "$fmt" "$@"
}

run_format bitbrains "$data/bitbrains" cpu memory net disk
run_format azure-cpu "$data/azure-cpu" cpu
run_format alibaba-machines "$data/alibaba-machines" cpu memory net disk

# deterministic: identical figures on a second run (timings aside)
"$replay" --quiet --format bitbrains --json "$data/bitbrains" >"$tmp/again.json"
python3 - "$tmp/bitbrains.json" "$tmp/again.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for d in (a, b):
    for k in ("elapsed_s", "load_s", "vm_steps_per_s"):
        d.pop(k)
assert a == b, "replay is not deterministic"
PY

# a table by default, with one row per policy and resource
"$replay" --quiet --format azure-cpu "$data/azure-cpu/vm_1126.csv.gz" >"$tmp/table.txt"
grep -q '^cpu *vpa ' "$tmp/table.txt"

# one policy only
"$replay" --quiet --format azure-cpu --policy vpa --json "$data/azure-cpu" >"$tmp/vpa.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert list(d["policies"])==["vpa"]' "$tmp/vpa.json"

# the full public traces, when this checkout sits beside them
full="$SCULPT_TOP/../shared/data/traces"
if [ -d "$full" ]; then
    run_format bitbrains "$full/bitbrains-gwa-t-12-rnd" cpu memory net disk
    run_format azure-cpu "$full/azure-public-dataset-v1-cpu-100vms" cpu
    run_format alibaba-machines "$full/alibaba-cluster-trace-v2018-machines" cpu memory net disk
fi

# bad input: a clear message and a non-zero exit, never a crash
expect_fail 2 "usage:" "$replay"
expect_fail 2 "usage:" "$replay" --format bitbrains
expect_fail 1 "unknown format \`google\`" "$replay" --format google x
expect_fail 1 "unknown policy \`oracle\`" "$replay" --format bitbrains --policy oracle "$data/bitbrains"
expect_fail 1 "policy \`vpa\` given twice" "$replay" --format bitbrains --policy vpa,vpa "$data/bitbrains"
expect_fail 1 "/nonexistent" "$replay" --format bitbrains /nonexistent
expect_fail 1 "expected 11 fields" "$replay" --format bitbrains "$data/azure-cpu/vm_1126.csv.gz"
printf 'not gzip at all\n' >"$tmp/vm_1.csv.gz"
expect_fail 1 "vm_1.csv.gz:1" "$replay" --format azure-cpu "$tmp/vm_1.csv.gz"
head -c 3000 "$data/azure-cpu/vm_1126.csv.gz" >"$tmp/vm_2.csv.gz"
expect_fail 1 "vm_2.csv.gz" "$replay" --format azure-cpu "$tmp/vm_2.csv.gz"
echo "replay_cli: all checks passed"
