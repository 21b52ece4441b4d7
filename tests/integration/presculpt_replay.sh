#!/bin/sh
# sculpt-replay --arrivals end to end: every arrival format on the real
# excerpts in the repository, the JSON the issue fixes, determinism, clear
# errors; and, when the public traces are beside the checkout, the targets
# the README reports (>= 80% hits at <= 10% idle capacity on each dataset).
set -eu
. "$SCULPT_TOP/tests/lib.sh"

replay="$SCULPT_BIN/sculpt-replay"
data="$SCULPT_TOP/tests/data/arrivals"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_json() { # FILE FORMAT
    python3 - "$@" <<'PY'
import json, sys
path, fmt = sys.argv[1:3]
d = json.load(open(path))
assert d["format"] == fmt, d["format"]
assert d["requests"] > 0 and d["used_vcpu_h"] > 0, d
pol = d["policies"]
assert sorted(pol) == ["fixed", "hybrid", "none", "sculpt"], sorted(pol)
for name, m in pol.items():
    for k in ("hit_rate", "idle_share", "cold_starts", "cost"):
        assert isinstance(m[k], (int, float)), (name, k, m[k])
    assert 0 <= m["hit_rate"] <= 1 and m["idle_share"] >= 0 and m["cost"] >= 0, (name, m)
    assert m["hits"] + m["cold_starts"] == d["requests"], (name, m)
    # re-sculpting hand-overs are priced, and only hits are re-sculpted
    assert 0 <= m["reshapes"] <= m["hits"], (name, m)
    assert abs(m["cost"] - m["cost_idle"] - m["cost_cold"] - m["cost_reshape"]) < 1e-4 * max(1, m["cost"]), (name, m)  # %.6g in the JSON
assert pol["none"]["hit_rate"] == 0 and pol["none"]["idle_share"] == 0
assert pol["none"]["cold_starts"] == d["requests"]
# the planner beats no pools on the cost model it minimises
assert pol["sculpt"]["cost"] < pol["none"]["cost"], pol
print(fmt, "ok:", {k: (round(v["hit_rate"], 4), round(v["idle_share"], 4)) for k, v in pol.items()})
PY
}

for f in azure-arrivals azure-functions alibaba-batch; do
    "$replay" --arrivals --quiet --json --format "$f" "$data/$f" >"$tmp/$f.json"
    check_json "$tmp/$f.json" "$f"
done

# deterministic: identical figures on a second run (timings aside)
"$replay" --arrivals --quiet --json --format azure-functions "$data/azure-functions" >"$tmp/again.json"
python3 - "$tmp/azure-functions.json" "$tmp/again.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for d in (a, b):
    d.pop("load_s")
    for m in d["policies"].values():
        m.pop("elapsed_s")
assert a == b, "the replay is not deterministic"
PY

# a table by default; one policy; options from the config and --set
"$replay" --arrivals --quiet --format azure-arrivals "$data/azure-arrivals" >"$tmp/table.txt"
grep -q '^sculpt ' "$tmp/table.txt"
grep -q 'interval 300 s' "$tmp/table.txt"
"$replay" --arrivals --quiet --json --policy sculpt --format alibaba-batch \
    --set presculpt.idle_budget=0.02 "$data/alibaba-batch" >"$tmp/tight.json"
python3 - "$tmp/tight.json" "$tmp/alibaba-batch.json" <<'PY'
import json, sys
tight, loose = (json.load(open(p))["policies"]["sculpt"] for p in sys.argv[1:])
assert list(json.load(open(sys.argv[1]))["policies"]) == ["sculpt"]
# a tighter idle budget: less idle capacity, fewer hits
assert tight["idle_share"] < loose["idle_share"], (tight, loose)
assert tight["hit_rate"] <= loose["hit_rate"], (tight, loose)
PY
printf '[presculpt]\ncold_start_price = 0\n' >"$tmp/free.conf"
"$replay" --arrivals --quiet --json --policy sculpt --config "$tmp/free.conf" \
    --format azure-functions "$data/azure-functions" >"$tmp/free.json"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["policies"]["sculpt"]; assert m["hits"] == 0, m' "$tmp/free.json"
"$replay" --arrivals --quiet --classes 3 --policy sculpt --format azure-arrivals \
    "$data/azure-arrivals" >"$tmp/worst.txt"
grep -q 'classes with most cold starts' "$tmp/worst.txt"

# the full public traces, when this checkout sits beside them
full=${SCULPT_TRACES:-"$SCULPT_TOP/../shared/data/traces"}
if [ -d "$full" ]; then
    for pair in azure-arrivals:azure-public-dataset-v1-vm-arrivals \
        azure-functions:azure-functions-2019-invitro-sample1000 \
        alibaba-batch:alibaba-cluster-trace-v2017-batch-task; do
        f=${pair%%:*} dir=$full/${pair#*:}
        "$replay" --arrivals --quiet --json --policy hybrid,sculpt --format "$f" "$dir" >"$tmp/full-$f.json"
        python3 - "$tmp/full-$f.json" "$f" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, h = d["policies"]["sculpt"], d["policies"]["hybrid"]
print(sys.argv[2], "sculpt", round(s["hit_rate"], 4), round(s["idle_share"], 4),
      "hybrid", round(h["hit_rate"], 4), round(h["idle_share"], 4))
assert s["hit_rate"] >= 0.8 and s["idle_share"] <= 0.1, s
# ahead of hybrid on both figures (the issue's target), and cheaper
assert s["hit_rate"] > h["hit_rate"] and s["idle_share"] < h["idle_share"], (s, h)
assert s["cost"] < h["cost"], (s, h)
PY
    done
fi

# bad input: a clear message and a non-zero exit, never a crash
expect_fail 2 "usage:" "$replay" --arrivals
expect_fail 2 "usage:" "$replay" --arrivals --format azure-arrivals
expect_fail 2 "usage:" "$replay" --arrivals --format azure-arrivals a b
expect_fail 1 "unknown format \`google\`" "$replay" --arrivals --format google x
expect_fail 1 "unknown policy \`oracle\`" "$replay" --arrivals --format azure-arrivals --policy oracle "$data/azure-arrivals"
expect_fail 1 "policy \`sculpt\` given twice" "$replay" --arrivals --format azure-arrivals --policy sculpt,sculpt "$data/azure-arrivals"
expect_fail 1 "/nonexistent" "$replay" --arrivals --format azure-arrivals /nonexistent
expect_fail 1 "no \`batch_task.csv.gz\`" "$replay" --arrivals --format alibaba-batch "$data/azure-arrivals"
expect_fail 1 "expected SECTION.OPTION=VALUE" "$replay" --arrivals --format azure-arrivals --set x "$data/azure-arrivals"
expect_fail 1 "idle_budget" "$replay" --arrivals --format azure-arrivals --set presculpt.idle_budget=-1 "$data/azure-arrivals"
expect_fail 1 "--fixed-size" "$replay" --arrivals --format azure-arrivals --fixed-size lots "$data/azure-arrivals"
mkdir -p "$tmp/bad/maps"
cp "$data/azure-arrivals/maps/flav_map.txt" "$tmp/bad/maps/"
printf '300 a,|\n600 a,q,|\n' >"$tmp/bad/v1.x.txt"
expect_fail 1 "v1.x.txt:2: unknown flavor \`q\`" "$replay" --arrivals --format azure-arrivals "$tmp/bad"
printf 'not gzip' >"$tmp/bad/v1.x.txt.gz"
rm "$tmp/bad/v1.x.txt"
expect_fail 1 "v1.x.txt.gz" "$replay" --arrivals --format azure-arrivals "$tmp/bad"
echo "presculpt_replay: all checks passed"
