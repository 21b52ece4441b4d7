/* The cost model's arithmetic on cases worked by hand (default prices:
 * 0.04 per vCPU-hour, 0.005 per GiB-hour, violations at 99x for a 1% SLO,
 * 0.0001 per reshape). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/cost_estimate.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_band_function(void **state)
{
    (void)state;
    /* knots (0, 0), (0.5, 1), (0.9, 2), (0.99, 3), (1, 3 + 1/9) */
    NEAR(drv_cost_band_quantile(1, 2, 3, 0.5), 1);
    NEAR(drv_cost_band_quantile(1, 2, 3, 0.7), 1.5);
    NEAR(drv_cost_band_quantile(1, 2, 3, 0.95), 2 + 0.05 / 0.09);
    NEAR(drv_cost_band_quantile(1, 2, 3, 1.0), 3 + 1.0 / 9);
    NEAR(drv_cost_band_quantile(1, 2, 3, 0.0), 0);
    /* flat bands: the need is known, no spread below the median either */
    NEAR(drv_cost_band_quantile(2, 2, 2, 0.1), 2);
    /* E[(U - 2)+] = 0.09 x (2.5 - 2) + 0.01 x (3 + 1/18 - 2) */
    NEAR(drv_cost_band_overrun(1, 2, 3, 2), 0.045 + 0.01 * (1 + 1.0 / 18));
    /* E[(U - 1)+] = 0.4 x 0.5 + 0.09 x 1.5 + 0.01 x (2 + 1/18) */
    NEAR(drv_cost_band_overrun(1, 2, 3, 1), 0.2 + 0.135 + 0.01 * (2 + 1.0 / 18));
    NEAR(drv_cost_band_overrun(1, 2, 3, 5), 0);
    NEAR(drv_cost_band_exceed(1, 2, 3, 1.5), 0.3);
    NEAR(drv_cost_band_exceed(1, 2, 3, 10), 0);
    NEAR(drv_cost_band_exceed(1, 2, 3, -1), 1);
    double m, sd;
    drv_cost_band_moments(1, 2, 3, &m, &sd);
    NEAR(m, 0.5 * 0.5 + 0.4 * 1.5 + 0.09 * 2.5 + 0.01 * (3 + 1.0 / 18));
    assert_true(sd > 0.5 && sd < 1.0);
    drv_cost_band_moments(4, 4, 4, &m, &sd);
    NEAR(m, 4);
    NEAR(sd, 0);
}

static struct drv_blueprint *bp_two_levels(double first, double second)
{
    struct err *err = NULL;
    struct drv_blueprint *bp = drv_blueprint_new(30, 60, 0, &err); /* half an hour */
    for (int32_t s = 0; s < 30; s++)
        for (int q = 0; q < DRV_Q_LAST; q++) {
            drv_blueprint_set(bp, s, DRV_RES_VCPU, (enum drv_quantile)q, s < 15 ? first : second);
            drv_blueprint_set(bp, s, DRV_RES_MEM_MIB, (enum drv_quantile)q, 1024);
        }
    return bp;
}

static void test_static_vs_sculpted(void **state)
{
    (void)state;
    struct cfg *cfg = cfg_new_defaults();
    struct drv_cost_model m;
    drv_cost_model_from_cfg(cfg, &m);
    cfg_unref(cfg);
    autoptr(drv_blueprint) bp = bp_two_levels(1, 0.5);
    struct drv_cost_shape_policy pol = {.kind = DRV_COST_SHAPE_STATIC, .hysteresis = 0.1};
    pol.flavor.v[DRV_RES_VCPU] = 2;
    pol.flavor.v[DRV_RES_MEM_MIB] = 4096;
    pol.floor.v[DRV_RES_MEM_MIB] = 128;
    struct drv_cost_terms st, sc;
    struct err *err = NULL;
    assert_int_equal(drv_cost_estimate(&m, bp, &pol, &st, &err), 0);
    /* 2 vCPU x 0.04 x 0.5 h and 4 GiB x 0.005 x 0.5 h, never violated */
    NEAR(st.resource[DRV_RES_VCPU], 0.04);
    NEAR(st.resource[DRV_RES_MEM_MIB], 0.01);
    NEAR(st.violation_total, 0);
    NEAR(st.reshapes, 0);
    NEAR(st.total, 0.05);
    NEAR(st.hours, 0.5);

    pol.kind = DRV_COST_SHAPE_SCULPTED;
    assert_int_equal(drv_cost_estimate(&m, bp, &pol, &sc, &err), 0);
    /* 1 vCPU for 15 min then 0.5 (one shrink past the 10% dead band) */
    NEAR(sc.resource[DRV_RES_VCPU], 0.04 * (1 * 0.25 + 0.5 * 0.25));
    NEAR(sc.resource[DRV_RES_MEM_MIB], 0.005 * 0.5);
    NEAR(sc.reshapes, 1);
    NEAR(sc.reshape, 0.0001);
    NEAR(sc.violation_total, 0);
    NEAR(sc.total, 0.015 + 0.0025 + 0.0001);

    /* a 5% dip stays inside the dead band: no reshape */
    autoptr(drv_blueprint) dip = bp_two_levels(1, 0.95);
    assert_int_equal(drv_cost_estimate(&m, dip, &pol, &sc, &err), 0);
    NEAR(sc.reshapes, 0);
    NEAR(sc.resource[DRV_RES_VCPU], 0.04 * 0.5);
}

static void test_violation_and_idle_terms(void **state)
{
    (void)state;
    struct cfg *cfg = cfg_new_defaults();
    struct drv_cost_model m;
    drv_cost_model_from_cfg(cfg, &m);
    cfg_unref(cfg);
    struct err *err = NULL;
    autoptr(drv_blueprint) bp = drv_blueprint_new(30, 60, 0, &err);
    for (int32_t s = 0; s < 30; s++) {
        drv_blueprint_set(bp, s, DRV_RES_VCPU, DRV_Q_P50, 1);
        drv_blueprint_set(bp, s, DRV_RES_VCPU, DRV_Q_P90, 2);
        drv_blueprint_set(bp, s, DRV_RES_VCPU, DRV_Q_P99, 3);
    }
    /* a 1-vCPU flavor for a guest whose bands reach 3: E[over] = 0.35556
     * vCPU, at 0.04 x 99 per vCPU-hour for half an hour */
    struct drv_cost_shape_policy pol = {.kind = DRV_COST_SHAPE_STATIC};
    pol.flavor.v[DRV_RES_VCPU] = 1;
    struct drv_cost_terms t;
    assert_int_equal(drv_cost_estimate(&m, bp, &pol, &t, &err), 0);
    NEAR(t.violation[DRV_RES_VCPU], 3.96 * (0.2 + 0.135 + 0.01 * (2 + 1.0 / 18)) * 0.5);
    NEAR(t.violation[DRV_RES_MEM_MIB], 0); /* memory not limited: not priced */
    /* sculpted at p99 (3) under a 4-vCPU flavor, held idle 30 min first */
    pol.kind = DRV_COST_SHAPE_SCULPTED;
    pol.flavor.v[DRV_RES_VCPU] = 4;
    pol.presculpted_s = 1800;
    assert_int_equal(drv_cost_estimate(&m, bp, &pol, &t, &err), 0);
    NEAR(t.resource[DRV_RES_VCPU], 0.04 * 3 * 0.5);
    NEAR(t.violation[DRV_RES_VCPU], 3.96 * 0.01 * (1.0 / 18) * 0.5);
    NEAR(t.idle, 0.04 * 3 * 0.5);
    /* the critical ratio of the defaults is the 1% SLO's quantile */
    NEAR(drv_cost_sculpted_alloc(&m, bp, 0, DRV_RES_VCPU, 0, 4), 3);

    pol.hysteresis = 2;
    assert_int_equal(drv_cost_estimate(&m, bp, &pol, &t, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_band_function),
        cmocka_unit_test(test_static_vs_sculpted),
        cmocka_unit_test(test_violation_and_idle_terms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
