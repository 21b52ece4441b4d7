#!/bin/sh
# sculpt-replay --pack on the real trace excerpts in the repository: every
# policy side by side, the JSON shape the issue fixes, figures that must hold
# whatever the trace (static never violates, overcommit never needs more
# hosts than static), determinism, host files, and clear errors.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

replay="$SCULPT_BIN/sculpt-replay"
data="$SCULPT_TOP/tests/data/traces"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_pack() { # FILE
    python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
pol = d["policies"]
assert list(pol) == ["static", "nova-default", "vpa", "autopilot", "sculpt", "sculpt-warm",
                     "oracle"], list(pol)
keys = ("hosts_peak", "hosts_mean", "vms_per_host", "host_violation_rate", "guests_affected",
        "reshapes_per_vm_hour", "contiguity", "cost")
for name, m in pol.items():
    for k in keys:
        assert isinstance(m[k], (int, float)), (name, k)
    assert m["hosts_peak"] >= 1 and 0 < m["hosts_mean"] <= m["hosts_peak"], (name, m)
    assert 0 <= m["host_violation_rate"] <= 1 and 0 <= m["contiguity"] <= 1, (name, m)
    assert m["cost"] > 0 and m["vm_steps"] > 0, (name, m)
    assert m["placed"] + m["unplaced"] == d["vms"], (name, m)
st = pol["static"]
# the flavor with no overcommit: no violation of any kind, never a reshape
# beyond the trace's own resizes
assert st["host_violation_rate"] == 0 and st["guest_violation_rate"] == 0, st
assert st["guests_affected"] == 0, st
for name in ("nova-default", "sculpt", "sculpt-warm"):
    assert pol[name]["hosts_peak"] <= st["hosts_peak"], (name, pol[name], st)
# whatever it packs, sculpt keeps guests near the SLO the predictor aims at,
# and the hosts within theirs: guests are admitted on their long run
for name in ("sculpt", "sculpt-warm"):
    assert pol[name]["guest_violation_rate"] < 0.05, pol[name]
    assert pol[name]["host_violation_rate"] <= 0.01, pol[name]
# the warm prior is trained, and only for sculpt-warm
assert pol["sculpt-warm"]["prior_s"] > 0 and pol["sculpt"]["prior_s"] == 0, pol
# perfect foresight places at least as tightly as static, with its flavors
# uncapped (no guest violation) and hosts near the host SLO
orc = pol["oracle"]
assert orc["hosts_peak"] <= st["hosts_peak"] and orc["guest_violation_rate"] == 0, orc
assert orc["host_violation_rate"] <= 0.02, orc
print(d["format"], "ok:", d["vms"], "VMs;",
      ", ".join("%s %d hosts" % (n, m["hosts_peak"]) for n, m in pol.items()))
PY
}

"$replay" --pack --quiet --json --format bitbrains --host cpus=8,mem_gib=48 "$data/bitbrains" >"$tmp/bb.json"
check_pack "$tmp/bb.json"
"$replay" --pack --quiet --json --format azure-cpu --host cpus=4,mem_gib=16 \
    "$data/azure-cpu" >"$tmp/az.json"
check_pack "$tmp/az.json"
"$replay" --pack --quiet --json --format alibaba-machines \
    --host cpus=192,mem_gib=256,sockets=2,threads=2 "$data/alibaba-machines" >"$tmp/ali.json"
check_pack "$tmp/ali.json"

# a host from real capabilities XML, and a description file
"$replay" --pack --quiet --json --format bitbrains --policy static,sculpt \
    --host "$SCULPT_TOP/tests/data/host/cascadelake-2node-smt.xml" "$data/bitbrains" >"$tmp/xml.json"
python3 -c "
import json; d = json.load(open('$tmp/xml.json'))
assert d['host']['cpus'] == 96 and d['host']['nodes'] == 2, d['host']
assert list(d['policies']) == ['static', 'sculpt']"
printf '# 16 CPUs\ncpus=16\nmem_gib=64\nthreads=2\n' >"$tmp/host.desc"
"$replay" --pack --quiet --format bitbrains --policy static --host "$tmp/host.desc" \
    "$data/bitbrains" >"$tmp/table.txt"
grep -q "16 CPUs" "$tmp/table.txt"
grep -q "^static " "$tmp/table.txt"

# this machine's own topology, as libvirt reports it (the embedded QEMU
# driver: no daemon to start or stop)
virsh -c "qemu:///embed?root=$tmp/embed" capabilities >"$tmp/caps.xml"
"$replay" --pack --quiet --json --format bitbrains --policy static,sculpt \
    --host "$tmp/caps.xml" "$data/bitbrains" >"$tmp/live.json"
python3 -c "
import json, os; d = json.load(open('$tmp/live.json'))
assert d['host']['cpus'] == os.cpu_count(), (d['host'], os.cpu_count())
print('this machine:', d['host'], {n: m['hosts_peak'] for n, m in d['policies'].items()})"

# deterministic: the same figures twice (timings aside)
"$replay" --pack --quiet --json --format bitbrains --host cpus=8,mem_gib=48 "$data/bitbrains" >"$tmp/bb2.json"
python3 - "$tmp/bb.json" "$tmp/bb2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for d in (a, b):
    d.pop("elapsed_s"); d.pop("vm_steps_per_s")
    for m in d["policies"].values():
        m.pop("elapsed_s"); m.pop("prior_s")
assert a == b, "pack replay is not deterministic"
PY

# errors: clear messages, usage exit codes
expect_fail 1 "unknown key \`gpus\`" "$replay" --pack --format bitbrains --host gpus=4 "$data/bitbrains"
expect_fail 1 "unknown policy \`magic\`" "$replay" --pack --format bitbrains --policy magic "$data/bitbrains"
expect_fail 1 "policy \`static\` given twice" "$replay" --pack --format bitbrains --policy static,static "$data/bitbrains"
expect_fail 2 "usage:" "$replay" --pack --format bitbrains
printf '<capabilities><host>' >"$tmp/bad.xml"
expect_fail 1 "not well-formed" "$replay" --pack --format bitbrains --host "$tmp/bad.xml" "$data/bitbrains"
echo "engine_pack: ok"
