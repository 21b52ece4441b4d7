/* The pool replay on synthetic traces whose figures are worked out by
 * hand: no pools, a fixed pool, the hybrid histogram on a timer, the lead
 * the cold-start latency asks for, and the sculpt planner's determinism
 * and budget. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/arrival_priv.h"
#include "driver/presculpt_replay.h"

static const struct drv_res one_vcpu = {{[DRV_RES_VCPU] = 1, [DRV_RES_MEM_MIB] = 512}};

/* `count` requests of class "x" every `every` intervals of 60 s, n times,
 * each living `life` seconds. */
static struct drv_arrival_trace *periodic(int n, int every, uint32_t count, float life)
{
    struct drv_arrival_builder b;
    drv_arrival_builder_init(&b, DRV_ARRIVAL_FUNCTIONS, 60);
    uint32_t x = drv_arrival_builder_class(&b, "x", "x", "x", &one_vcpu);
    for (int i = 0; i < n; i++)
        drv_arrival_builder_push(&b, (int64_t)i * every * 60, x, count, life);
    return drv_arrival_builder_finish(&b);
}

static struct drv_pool_replay_opts opts(void)
{
    struct cfg *cfg = cfg_new_defaults();
    struct drv_pool_replay_opts o = {.fixed_size = 2};
    drv_presculpt_params_from_cfg(cfg, &o.params);
    cfg_unref(cfg);
    return o;
}

static void run1(const struct drv_arrival_trace *tr, const struct drv_pool_replay_opts *o,
                 enum drv_pool_policy p, struct drv_pool_result *r)
{
    struct err *err = NULL;
    int64_t bin_s;
    if (drv_pool_replay(tr, o, &p, 1, NULL, NULL, r, &bin_s, &err) < 0)
        fail_msg("replay: %s", err->msg);
    assert_int_equal(bin_s, 60);
}

static void test_none_and_fixed(void **state)
{
    (void)state;
    struct drv_arrival_trace *tr = periodic(10, 1, 1, 100);
    struct drv_pool_replay_opts o = opts();
    struct drv_pool_result r;
    run1(tr, &o, DRV_POOL_POLICY_NONE, &r);
    assert_int_equal(r.requests, 10);
    assert_int_equal(r.hits, 0);
    assert_int_equal(r.cold, 10);
    assert_true(r.idle_vcpu_s == 0);
    /* the last guest is cut at the end of observation (its interval's end) */
    assert_true(r.used_vcpu_s == 9 * 100 + 60);
    assert_true(drv_pool_cost(&r) == 10 * o.params.cold_start_price);

    /* fixed 2: from the second interval, two ready, one taken, one idles */
    run1(tr, &o, DRV_POOL_POLICY_FIXED, &r);
    assert_int_equal(r.hits, 9);
    assert_int_equal(r.made, 10);
    assert_true(r.idle_vcpu_s == 9 * 60);
    assert_true(fabs(drv_pool_idle_share(&r) - 540.0 / 960) < 1e-12);
    assert_true(fabs(drv_pool_hit_rate(&r) - 0.9) < 1e-12);

    /* a cold start of 90 s: the decision for interval b is made before
     * b - 1 ended, so the pool comes one interval later */
    o.params.cold_start_s = 90;
    run1(tr, &o, DRV_POOL_POLICY_FIXED, &r);
    assert_int_equal(r.hits, 8);
    drv_arrival_trace_free(tr);
}

static void test_hybrid_timer(void **state)
{
    (void)state;
    /* three requests every five minutes for three hours */
    struct drv_arrival_trace *tr = periodic(36, 5, 3, 100);
    struct drv_pool_replay_opts o = opts();
    o.per_slot = true;
    struct drv_pool_result r;
    run1(tr, &o, DRV_POOL_POLICY_HYBRID, &r);
    /* all but the first arrival find their three members */
    assert_int_equal(r.hits, 35 * 3);
    assert_int_equal(r.made, 35 * 3);
    /* until 10 idle times are known: the standard keep-alive, three
     * members idling the four minutes between arrivals, ten times; then
     * the histogram (every IT is 5 minutes: head 5, tail 6) pre-warms at
     * 4.5 minutes and members are taken as they are made */
    assert_true(r.idle_vcpu_s == 10 * 4 * 3 * 60);
    assert_int_equal(r.slots[0].hits, 105);
    free(r.slots);
    drv_arrival_trace_free(tr);
}

/* A steady stream: 20 requests a minute, each guest living 30 minutes. */
static struct drv_arrival_trace *steady(void)
{
    struct drv_arrival_builder b;
    drv_arrival_builder_init(&b, DRV_ARRIVAL_FUNCTIONS, 60);
    uint32_t x = drv_arrival_builder_class(&b, "x", "x", "x", &one_vcpu);
    uint32_t y = drv_arrival_builder_class(&b, "y", "y", "y", &one_vcpu);
    for (int i = 0; i < 24 * 60; i++) {
        drv_arrival_builder_push(&b, (int64_t)i * 60, x, 20 + (uint32_t)(i % 7), 1800);
        if (i % 10 == 0)
            drv_arrival_builder_push(&b, (int64_t)i * 60, y, 4, 600);
    }
    return drv_arrival_builder_finish(&b);
}

static void test_sculpt(void **state)
{
    (void)state;
    struct drv_arrival_trace *tr = steady();
    struct drv_pool_replay_opts o = opts();
    enum drv_pool_policy all[] = {DRV_POOL_POLICY_NONE, DRV_POOL_POLICY_FIXED,
                                  DRV_POOL_POLICY_HYBRID, DRV_POOL_POLICY_SCULPT};
    struct drv_pool_result r[4], again[4];
    struct err *err = NULL;
    assert_int_equal(drv_pool_replay(tr, &o, all, 4, NULL, NULL, r, NULL, &err), 0);
    assert_int_equal(drv_pool_replay(tr, &o, all, 4, NULL, NULL, again, NULL, &err), 0);
    for (int i = 0; i < 4; i++) {
        /* deterministic */
        assert_int_equal(r[i].hits, again[i].hits);
        assert_true(r[i].idle_vcpu_s == again[i].idle_vcpu_s);
        assert_int_equal(r[i].requests, r[0].requests);
        assert_int_equal(r[i].hits + r[i].cold, r[i].requests);
    }
    /* the planner serves nearly all of a steady stream within its budget */
    assert_true(drv_pool_hit_rate(&r[3]) > 0.9);
    assert_true(drv_pool_idle_share(&r[3]) <= 0.1);
    assert_true(drv_pool_cost(&r[3]) < drv_pool_cost(&r[0]));
    /* a budget of nothing: nothing is prepared */
    o.params.idle_budget = 0;
    assert_int_equal(drv_pool_replay(tr, &o, &all[3], 1, NULL, NULL, r, NULL, &err), 0);
    assert_int_equal(r[0].hits, 0);
    assert_true(r[0].idle_vcpu_s == 0);
    drv_arrival_trace_free(tr);
}

/* Two flavors of one family, 1 and 4 vCPUs, each asked a request every
 * third minute on the same minutes (a tenant's pair), guests living an
 * hour. */
static struct drv_arrival_trace *pairs(void)
{
    struct drv_arrival_builder b;
    drv_arrival_builder_init(&b, DRV_ARRIVAL_AZURE, 60);
    struct drv_res four = {{[DRV_RES_VCPU] = 4, [DRV_RES_MEM_MIB] = 4096}};
    uint32_t s = drv_arrival_builder_class(&b, "s", "vcpu=1", "vm", &one_vcpu);
    uint32_t l = drv_arrival_builder_class(&b, "l", "vcpu=4", "vm", &four);
    for (int i = 0; i < 24 * 60; i += 3) {
        drv_arrival_builder_push(&b, (int64_t)i * 60, s, 1, 3600);
        drv_arrival_builder_push(&b, (int64_t)i * 60, l, 1, 3600);
    }
    return drv_arrival_builder_finish(&b);
}

static void test_sculpt_family(void **state)
{
    (void)state;
    struct drv_arrival_trace *tr = pairs();
    assert_int_equal(tr->nfamilies, 1);
    assert_int_equal(tr->groups[tr->classes[1].group].family, 0);
    struct drv_pool_replay_opts o = opts();
    o.per_slot = true;
    enum drv_pool_policy sc = DRV_POOL_POLICY_SCULPT;
    struct drv_pool_result wide, narrow;
    struct err *err = NULL;
    o.params.wide_pools = true;
    assert_int_equal(drv_pool_replay(tr, &o, &sc, 1, NULL, NULL, &wide, NULL, &err), 0);
    o.params.wide_pools = false;
    assert_int_equal(drv_pool_replay(tr, &o, &sc, 1, NULL, NULL, &narrow, NULL, &err), 0);
    /* without wide pools nothing is re-sculpted (a class's own members) */
    assert_int_equal(narrow.reshapes, 0);
    assert_true(narrow.cost_reshape == 0);
    /* with them, the family's members (slot 2 + 2 + 0) serve both flavors:
     * the 4-vCPU requests grow a member, each hand-over priced */
    size_t fam = tr->nclasses + tr->ngroups;
    assert_true(wide.slots[fam].idle_vcpu_s > 0);
    assert_true(wide.reshapes > 0);
    assert_true(wide.reshapes <= wide.hits);
    assert_true(fabs(wide.cost_reshape - (double)wide.reshapes * o.params.cost.reshape) < 1e-12);
    assert_true(fabs(drv_pool_cost(&wide) - (wide.cost_idle + wide.cost_cold + wide.cost_reshape)) <
                1e-9);
    /* members idle at the base (1 vCPU), not at the largest flavor: the
     * same hits for less idle capacity */
    assert_true(wide.hits >= narrow.hits);
    assert_true(wide.idle_vcpu_s < narrow.idle_vcpu_s);
    free(wide.slots);
    free(narrow.slots);
    drv_arrival_trace_free(tr);
}

static void test_policy_names(void **state)
{
    (void)state;
    for (int p = 0; p < DRV_POOL_POLICY_LAST; p++)
        assert_int_equal(drv_pool_policy_parse(drv_pool_policy_name((enum drv_pool_policy)p)), p);
    assert_int_equal(drv_pool_policy_parse("oracle"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_and_fixed),
        cmocka_unit_test(test_hybrid_timer),
        cmocka_unit_test(test_sculpt),
        cmocka_unit_test(test_sculpt_family),
        cmocka_unit_test(test_policy_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
