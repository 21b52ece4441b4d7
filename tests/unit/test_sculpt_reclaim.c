/* Reclaimable guests (idle pre-sculpted pool members) in the engine: left
 * out of what Placement is told, and given up, the fewest cheapest first,
 * for a real guest that would not fit otherwise. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/sculpt.h"
#include "helpers/engine.h"

#define T0 1700000000LL
#define STEP 60

/* 8 CPUs, 16 GiB, nothing reserved, no overcommit: Placement's model and
 * the engine's ceiling agree, so the figures can be worked by hand. */
static struct drv_sculpt *engine_8(struct drv_host **hp)
{
    struct drv_host_limits lim;
    drv_host_limits_default(&lim);
    lim.ratio[DRV_RES_VCPU] = 1;
    lim.ratio[DRV_RES_MEM_MIB] = 1;
    lim.reserved_cpus = 0;
    lim.reserved_mem_mib = 0;
    lim.disk_gb = 100;
    struct err *err = NULL;
    *hp = drv_host_parse("cpus=8,mem_gib=16", &lim, &err);
    if (!*hp)
        fail_msg("host: %s", err->msg);
    struct cfg *cfg = cfg_new_defaults();
    struct drv_sculpt_params p;
    drv_sculpt_params_from_cfg(cfg, &p);
    cfg_unref(cfg);
    struct drv_sculpt *e = drv_sculpt_new(*hp, &p, &err);
    if (!e)
        fail_msg("engine: %s", err->msg);
    return e;
}

/* A guest using its whole flavor for sure (flat bands). */
static struct drv_blueprint *bp_full(int vcpus, double mem)
{
    return test_bp_flat(30, STEP, T0, vcpus, mem);
}

static struct drv_sculpt_guest_spec spec_of(const char *uuid, int vcpus, double mem,
                                            bool reclaimable)
{
    struct drv_sculpt_guest_spec s = test_guest_spec(uuid, vcpus, mem, reclaimable ? -1000 : 0);
    s.reclaimable = reclaimable;
    return s;
}

static void place(struct drv_sculpt *e, const char *uuid, int vcpus, double mem, bool member)
{
    struct drv_sculpt_guest_spec s = spec_of(uuid, vcpus, mem, member);
    struct drv_blueprint *bp = bp_full(vcpus, mem);
    struct drv_shape shape;
    struct err *err = NULL;
    if (drv_sculpt_place(e, &s, bp, T0, &shape, NULL, &err) < 0)
        fail_msg("place %s: %s", uuid, err->msg);
    drv_blueprint_free(bp);
}

static bool holds(struct drv_sculpt *e, const char *uuid)
{
    struct drv_shape s;
    struct err *err = NULL;
    bool held = drv_sculpt_shape(e, uuid, &s, &err) == 0;
    err_clear(&err);
    return held;
}

/* Place `uuid` (vcpus, 1 GiB) taking members' room from `order`;
 * returns the call's result, *taken how many of order went. */
static int place_reclaiming(struct drv_sculpt *e, const char *uuid, int vcpus,
                            const char *const *order, size_t n, size_t *taken, struct err **err)
{
    struct drv_sculpt_guest_spec s = spec_of(uuid, vcpus, 1024, false);
    struct drv_blueprint *bp = bp_full(vcpus, 1024);
    struct drv_shape shape;
    struct drv_sculpt_refusal why;
    int rc = drv_sculpt_place_reclaiming(e, &s, bp, T0, order, n, taken, &shape, &why, err);
    drv_blueprint_free(bp);
    return rc;
}

static void test_inventory_leaves_members_out(void **state)
{
    (void)state;
    struct drv_host *h;
    struct drv_sculpt *e = engine_8(&h);
    place(e, "real", 4, 4096, false);
    struct drv_sculpt_inventory bare;
    drv_sculpt_inventory(e, &bare);
    /* 4 of 8 CPUs held, 4 left: Placement may give 4 more */
    assert_true(fabs(bare.vcpu.held - 4) < 1e-9);
    assert_true(fabs(bare.vcpu.room - 4) < 1e-6);
    assert_int_equal(bare.vcpu.max_unit, 4);
    assert_true(bare.vcpu.reclaimable == 0);

    /* two idle members take the rest of the CPUs: Placement is told the
     * same as without them, and how much they hold */
    place(e, "m1", 2, 2048, true);
    place(e, "m2", 2, 2048, true);
    struct drv_sculpt_inventory with;
    drv_sculpt_inventory(e, &with);
    assert_true(fabs(with.vcpu.allocation_ratio - bare.vcpu.allocation_ratio) < 1e-9);
    assert_true(fabs(with.vcpu.held - 4) < 1e-9);
    assert_true(fabs(with.vcpu.room - bare.vcpu.room) < 1e-9);
    assert_int_equal(with.vcpu.max_unit, 4);
    assert_true(fabs(with.vcpu.reclaimable - 4) < 1e-9);
    assert_true(fabs(with.memory_mb.reclaimable - 4096) < 1e-9);
    assert_int_equal(with.memory_mb.max_unit, bare.memory_mb.max_unit);
    assert_false(drv_sculpt_inventory_differs(&bare, &with, 0.05, NULL, 0));
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    for (size_t i = 0; i < snap->nguests; i++)
        assert_int_equal(snap->guests[i].reclaimable, snap->guests[i].uuid[0] == 'm');

    /* the same guests, not reclaimable (a member claimed, a real guest):
     * their room is no longer free */
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_set_reclaimable(e, "m1", false, &err), 0);
    assert_int_equal(drv_sculpt_set_reclaimable(e, "m2", false, &err), 0);
    struct drv_sculpt_inventory held;
    drv_sculpt_inventory(e, &held);
    assert_true(fabs(held.vcpu.held - 8) < 1e-9);
    assert_true(held.vcpu.room < 1e-6);
    assert_int_equal(held.vcpu.max_unit, 1);
    assert_true(held.vcpu.reclaimable == 0);
    assert_true(drv_sculpt_inventory_differs(&with, &held, 0.05, NULL, 0));
    assert_int_equal(drv_sculpt_set_reclaimable(e, "gone", true, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);

    /* members only: the configured ratios, every unit free */
    struct drv_host *h2;
    struct drv_sculpt *e2 = engine_8(&h2);
    place(e2, "m3", 2, 2048, true);
    struct drv_sculpt_inventory only;
    drv_sculpt_inventory(e2, &only);
    assert_true(fabs(only.vcpu.allocation_ratio - 1) < 1e-9);
    assert_int_equal(only.vcpu.max_unit, 8);
    assert_true(fabs(only.vcpu.reclaimable - 2) < 1e-9);
    drv_sculpt_free(e2);
    drv_host_free(h2);
    drv_sculpt_free(e);
    drv_host_free(h);
}

static void test_reclaim_order(void **state)
{
    (void)state;
    struct drv_host *h;
    struct drv_sculpt *e = engine_8(&h);
    struct err *err = NULL;
    size_t taken = 99;
    place(e, "real", 4, 4096, false);
    place(e, "m1", 1, 1024, true);
    place(e, "m2", 1, 1024, true);
    place(e, "m3", 2, 2048, true);

    /* 2 vCPUs: the first two of the order give them */
    const char *const order[] = {"m1", "m2", "m3"};
    assert_int_equal(place_reclaiming(e, "b", 2, order, 3, &taken, &err), 0);
    assert_int_equal(taken, 2);
    assert_false(holds(e, "m1"));
    assert_false(holds(e, "m2"));
    assert_true(holds(e, "m3"));
    assert_true(holds(e, "b"));
    assert_int_equal(drv_sculpt_remove(e, "b", &err), 0);
    place(e, "m1", 1, 1024, true);
    place(e, "m2", 1, 1024, true);

    /* the other order: m3 alone gives them */
    const char *const big_first[] = {"m3", "m1", "m2"};
    assert_int_equal(place_reclaiming(e, "b", 2, big_first, 3, &taken, &err), 0);
    assert_int_equal(taken, 1);
    assert_false(holds(e, "m3"));
    assert_true(holds(e, "m1") && holds(e, "m2"));

    /* a fit without any reclaim takes nothing */
    const char *const rest[] = {"m1", "m2"};
    assert_int_equal(drv_sculpt_remove(e, "b", &err), 0);
    assert_int_equal(place_reclaiming(e, "c", 1, rest, 2, &taken, &err), 0);
    assert_int_equal(taken, 0);
    assert_true(holds(e, "m1") && holds(e, "m2"));

    /* 4 vCPUs: 1 free plus both members' 2 make 3: refused, with the
     * reason, and nothing given up */
    assert_int_equal(place_reclaiming(e, "d", 4, rest, 2, &taken, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CAPACITY);
    assert_non_null(strstr(err->msg, "reclaimable"));
    err_clear(&err);
    assert_int_equal(taken, 0);
    assert_true(holds(e, "m1") && holds(e, "m2"));
    assert_false(holds(e, "d"));

    /* a claimed member (not reclaimable) and a real guest in the list are
     * passed over: m2 goes, m1 and c stay */
    assert_int_equal(drv_sculpt_set_reclaimable(e, "m1", false, &err), 0);
    const char *const mixed[] = {"c", "m1", "m2", "none"};
    assert_int_equal(place_reclaiming(e, "f", 2, mixed, 4, &taken, &err), 0);
    assert_int_equal(taken, 3);
    assert_true(holds(e, "c") && holds(e, "m1"));
    assert_false(holds(e, "m2"));
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    for (size_t i = 0; i < snap->nguests; i++)
        assert_false(snap->guests[i].reclaimable);
    drv_sculpt_free(e);
    drv_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inventory_leaves_members_out),
        cmocka_unit_test(test_reclaim_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
