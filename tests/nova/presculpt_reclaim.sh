# Step 9 of tests/nova/presculpt.sh (sourced at its end, the host empty,
# pools on at `pools_conf`): idle members never cost a real request.  On
# the real host (2 CPUs here), with custom blueprints that make the shapes
# known -- m1.tiny needs 0.5 vCPU, m1.small 1.5 (its flavor: 2 vCPUs):
#   a. a cold build of m1.tiny (rs-1) teaches the class at 0.5 vCPU; a
#      member of it is made and paused: the engine holds 0.5 + 0.5 x
#      members, and the room of a 1.5-vCPU guest only without the members;
#   b. Placement's inventory leaves the members out: sculpt counts held
#      what Nova allocated (rs-1's flavor, not the members'), reports the
#      members' room as `reclaimable`, and Placement takes a 2-vCPU flavor
#      (its capacity less what Nova allocated, and max_unit, say so);
#   c. a build of m1.small (rs-2, another class and group: it takes no
#      member) is admitted by reclaiming the member(s): ACTIVE, built cold,
#      the members' guests destroyed, their rows released with the reason,
#      the reclaim counted in sculpt_pool_reclaimed_total and in the
#      member's pool (GET /v1/pools reclaims, sculpt_pool_reclaims_total).
# Shapes come from the custom blueprints (removed at the end), not from
# what the fleet learnt before.

bp_create() { # NAME FLAVOR VCPU MEM_MIB -> id
    printf '{"name": "%s", "match": {"flavor": "%s"}, "blueprint": {"step_s": 60,
        "horizon_s": 1800, "confidence": 0.9, "resources": {
        "vcpu": {"p50": %s, "p90": %s, "p99": %s},
        "mem_mib": {"p50": %s, "p99": %s}}}}' "$1" "$2" "$3" "$3" "$3" "$4" "$4" |
        SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" -f json blueprint create - |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' ||
        fail "custom blueprint for $2 not created"
}
host_json() {
    SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" -f json host
}

t9=$(date +%s)
# m1.small's need: all the host's CPUs but rs-1's 0.5 (1.5 on 2 CPUs), at
# most its flavor's 2 vCPUs
cap=$(host_json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["capacity"]["vcpu"])')
need=$(awk -v c="$cap" 'BEGIN { if (c - 0.5 > 2 || c - 0.5 < 1) exit 1; printf "%.3f", c - 0.5 }') ||
    fail "step 9 wants a host of 1.5 to 2.5 CPUs for guests, this one has $cap"
bp_tiny=$(bp_create reclaim-tiny m1.tiny 0.5 128)
bp_small=$(bp_create reclaim-small m1.small "$need" 256)
# the members of step 8 go with their guests (an empty host pools nothing)
members_gone() { ! virsh_ list --all --name | grep -q '^sculpt-pool-'; }
poll 60 1 members_gone || fail "members left 60 s after the host was emptied"

# a. the resident teaches the class at 0.5 vCPU; a member is made
log9=$(wc -l <"$SCULPT_LOG")
id_r1=$(create rs-1 --wait ACTIVE 240)
tail -n +$((log9 + 1)) "$SCULPT_LOG" | grep -q "guest spawned" || fail "rs-1 was not built cold"
members=$(wait_member)
held=$(host_json | /usr/bin/python3 -c '
import json, sys
print("%.3f" % json.load(sys.stdin)["inventory"]["VCPU"]["reclaimable"])')
awk -v h="$held" 'BEGIN { exit !(h > 0) }' ||
    fail "sculpt reports no reclaimable room for member(s)$members"
say "rs-1 built cold at 0.5 vCPU of $cap (m1.small needs $need); member(s)$members paused, holding $held vCPU"

# b. Placement sees the members' room as free
reported() { # sculpt's VCPU inventory, as it stands, is the one Placement has
    host_json | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
now, rep = j["inventory"]["VCPU"], (j["inventory_reported"] or {}).get("inventory", {}).get("VCPU")
sys.exit(0 if rep and rep["max_unit"] == now["max_unit"] else 1)'
}
poll 60 1 reported || fail "sculpt did not report its inventory to Placement in 60 s"
inv=$(host_json)
# the resource provider named $host: its VCPU inventory and usages
placement=$(server_op placement "$host") || fail "no resource provider of $host in Placement"
echo "$inv" | /usr/bin/python3 -c '
import json, sys
inv = json.loads(sys.argv[1])["inventory"]["VCPU"]
rp = json.loads(sys.argv[2])
pl, used = rp["inventory"], rp["usages"].get("VCPU", 0)
free = (pl["total"] - pl["reserved"]) * pl["allocation_ratio"] - used
assert inv["reclaimable"] >= 0.5 - 1e-6, "members hold %r" % inv["reclaimable"]
assert used == 1, "Nova allocated %r VCPU (rs-1 only expected)" % used
# what sculpt counts held is what Nova allocated: the members are not in it
assert abs(inv["held"] - used) < 1e-6, "sculpt holds %r VCPU of flavors, Nova %r" % (inv["held"], used)
assert pl["max_unit"] >= 2 and free >= 2, \
    "Placement would refuse m1.small: max_unit %r, free %.2f (%r, sculpt %r)" % (
        pl["max_unit"], free, pl, inv)
print("Placement VCPU: ratio %.4f, max_unit %d, free %.2f for 1 allocated; sculpt: held %.2f, "
      "room %.2f, reclaimable %.2f" % (pl["allocation_ratio"], pl["max_unit"], free, inv["held"],
                                       inv["room"], inv["reclaimable"]))
' "$(echo "$inv")" "$placement" >"$run/reclaim-inventory.txt" 2>&1 ||
    fail "Placement's inventory with members: $(cat "$run/reclaim-inventory.txt")"
say "$(cat "$run/reclaim-inventory.txt")"

# c. m1.small fits only by reclaiming: admitted, the member(s) destroyed
metric0=$(curl -s -H "X-Auth-Token: $SCULPT_API_TOKEN" "${SCULPT_API_URL%/}/metrics" | sed -n 's/^sculpt_pool_reclaimed_total \([0-9.e+]*\)$/\1/p')
# the pools' own count (GET /v1/pools, kept in PostgreSQL)
pools_reclaims() {
    curl -s -H "X-Auth-Token: $SCULPT_API_TOKEN" "${SCULPT_API_URL%/}/v1/pools" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["totals"]["reclaims"])'
}
reclaims0=$(pools_reclaims)
[ -n "$reclaims0" ] || fail "GET /v1/pools has no reclaims total"
t=$(date +%s)
id_r2=$(create_flavor m1.small rs-2 --wait ACTIVE 240)
tail -n +$((log9 + 1)) "$SCULPT_LOG" | grep "\[instance: $id_r2\]" | grep -q "pre-sculpted domain" &&
    fail "rs-2 took a member"
line=$(grep "instance $id_r2 fits by reclaiming [1-9][0-9]* idle pool member" "$SCULPT_LOG" | tail -n 1)
[ -n "$line" ] || fail "rs-2 was admitted without reclaiming a member"
gone=$(sql "select domain from pool_members where reason = 'reclaimed for instance $id_r2'")
[ -n "$gone" ] || fail "no member row released as reclaimed for rs-2"
for d in $gone; do
    sql_is "select state from pool_members where domain = '$d'" released || fail "member $d not released"
    virsh_ dominfo "$d" >/dev/null 2>&1 && fail "reclaimed member $d still defined"
done
# one event per member destroyed, under rs-2 and its build's request
sql_is "select count(*) from events where source = 'presculpt' and action = 'pool.reclaim' and instance_uuid = '$id_r2' and request_id like 'req-%' and message like '%room for the instance''s build'" "$(echo $gone | wc -w)" ||
    fail "pool.reclaim events of rs-2: $(sql "select request_id, message from events where action = 'pool.reclaim'")"
metric1=$(curl -s -H "X-Auth-Token: $SCULPT_API_TOKEN" "${SCULPT_API_URL%/}/metrics" | sed -n 's/^sculpt_pool_reclaimed_total \([0-9.e+]*\)$/\1/p')
awk -v a="${metric0:-0}" -v b="$metric1" -v n="$(echo $gone | wc -w)" 'BEGIN { exit !(b - a == n) }' ||
    fail "sculpt_pool_reclaimed_total went from '${metric0:-0}' to '$metric1', $(echo $gone | wc -w) reclaimed"
# counted in their pools at once (a pool not yet recorded since a restart:
# at the end of the pool manager's next round, every 10 s here, after the
# members it makes: 90 s under load)
reclaims_counted() { [ "$(pools_reclaims)" = "$((reclaims0 + $(echo $gone | wc -w)))" ]; }
poll 90 0.5 reclaims_counted ||
    fail "GET /v1/pools counts $(pools_reclaims) reclaims, $reclaims0 before and $(echo $gone | wc -w) reclaimed"
key=$(sql "select pool_key from pool_members where domain = '$(echo $gone | cut -d' ' -f1)'")
curl -s -H "X-Auth-Token: $SCULPT_API_TOKEN" "${SCULPT_API_URL%/}/metrics" |
    grep -Eq "^sculpt_pool_reclaims_total\{pool=\"$key\"\} [1-9]" ||
    fail "no sculpt_pool_reclaims_total of pool $key"
say "rs-2 (m1.small) ACTIVE in $(($(date +%s) - t)) s, admitted by reclaiming member(s)$(echo " $gone" | tr '\n' ' ')"

delete_wait rs-2 rs-1
for b in $bp_tiny $bp_small; do
    SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" blueprint delete "$b" >/dev/null ||
        fail "custom blueprint $b not deleted"
done
say "a build that fits only by reclaiming idle members served ($(($(date +%s) - t9)) s)"
