# Step 4 of tests/nova/presculpt_wide.sh (sourced after step 3; `pool` is
# the family's pool, sculpt-compute runs with SCULPT_TEST_FAIL_FIT=ws-4): a
# member whose re-sculpt fails does not serve.  ws-3 deleted, a new member
# of the family pauses (defined with m1.small's 2 vCPUs and 256 MiB); a
# build of m1.tiny (ws-4) takes it, the engine admits it, the backend
# reshapes the member, then the re-sculpt fails (the test hook).  The
# member must be destroyed, its hit counted a miss, the engine must let
# go of the instance, and the build go on cold in a domain of its own
# defined with m1.tiny's 1 vCPU and 128 MiB -- not the family's 2 and 256
# the member had; no member row and no engine hold outlive their guests.

delete_wait ws-3
m4=$(poll 180 1 paused_member "pool_key = '$pool'") ||
    fail "no new paused member of $pool after 180 s"
u4=$(virsh_ domuuid "$m4")
[ "$(virsh_ vcpucount "$m4" --maximum --config | tr -d ' ')" = 2 ] ||
    fail "$m4 is not defined with the family's 2 vCPUs"
hits0=$(sql "select hits from pools where key = '$pool'")
misses0=$(sql "select misses from pools where key = '$pool'")
say "member $m4 paused (2 vCPUs / 256 MiB at most); pool $pool: $hits0 hits, $misses0 misses"

id4=$(create_flavor m1.tiny ws-4 --wait ACTIVE 180)
grep -q "pre-sculpted member $u4 does not serve: building cold: member $u4 not re-sculpted for $id4: SCULPT_TEST_FAIL_FIT" "$SCULPT_LOG" ||
    fail "ws-4 did not fail its re-sculpt of $m4: $(grep "$id4" "$SCULPT_LOG" | grep -i -e member -e pre-sculpted | head -n 5)"
# the member is gone and its row says why
! virsh_ domstate "$m4" >/dev/null 2>&1 || fail "$m4 outlives its failed re-sculpt"
sql_is "select state || ' ' || reason from pool_members where uuid = '$u4'" \
    "released not re-sculpted for its request" ||
    fail "row of $m4: $(sql "select state, reason from pool_members where uuid = '$u4'")"
# a cold build in a domain of its own, defined by its flavor
d4=$(sql "select domain from instances where uuid = '$id4'")
case "$d4" in instance-*) ;; *) fail "ws-4 runs in '$d4', not a domain of its own" ;; esac
[ "$(virsh_ vcpucount "$d4" --maximum --config | tr -d ' ')" = 1 ] ||
    fail "$d4 is not defined with m1.tiny's 1 vCPU: $(virsh_ vcpucount "$d4" | tr '\n' ' ')"
virsh_ dominfo "$d4" | grep -q '^Max memory: *131072 KiB' ||
    fail "$d4 is not defined with m1.tiny's 128 MiB: $(virsh_ dominfo "$d4" | grep -i memory)"
# the pool's history: a miss, no hit (a round writes the counters once it
# made its members: a spawn took over 18 s here at a load of 7, so
# 90 s, not two rounds' 20)
want="$hits0 $((misses0 + 1))"
q="select hits || ' ' || misses from pools where key = '$pool'"
poll 90 0.5 sql_gives "$q" "$want" || fail "pool $pool: hits misses $(sql "$q"), want $want"
# nothing leaks: live member rows have their guests; the engine holds
# ws-1, ws-4 and the live members, nothing else (a member may be in the
# making: asked again for a while)
live="state in ('preparing', 'booting', 'paused')"
no_leak() { # sets gone, held and want
    gone=""
    for r in $(sql "select domain from pool_members where $live"); do
        virsh_ domstate "$r" >/dev/null 2>&1 || gone="$gone $r"
    done
    held=$(SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN "$SCULPT_BIN/sculptctl" -f json host |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["guests"])')
    want=$((2 + $(sql "select count(*) from pool_members where $live")))
    [ -z "$gone" ] && [ "$held" = "$want" ]
}
poll 40 1 no_leak || fail "member rows without guests:${gone:- none}; the engine holds $held guests, want $want"
say "ws-4 built cold in $d4 (1 vCPU / 128 MiB at most, as m1.tiny); a miss counted; $held guests held"
