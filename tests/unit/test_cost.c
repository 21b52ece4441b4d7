#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/cost.h"

static void test_derived_from_slo(void **state)
{
    (void)state;
    struct cfg *cfg = cfg_new_defaults(); /* target 1%, factor derived */
    struct drv_cost_model m;
    drv_cost_model_from_cfg(cfg, &m);
    /* 1% SLO: a violation costs 99 times the allocation */
    assert_true(fabs(m.violation[DRV_RES_VCPU] - 0.04 * 99) < 1e-12);
    assert_true(fabs(drv_cost_critical_quantile(&m, DRV_RES_VCPU) - 0.99) < 1e-12);
    assert_true(fabs(drv_cost_critical_quantile(&m, DRV_RES_MEM_MIB) - 0.99) < 1e-12);
    /* memory is priced per GiB-hour in the config, per MiB-hour here */
    assert_true(fabs(m.price[DRV_RES_MEM_MIB] - 0.005 / 1024) < 1e-15);

    struct err *err = NULL;
    assert_int_equal(cfg_set(cfg, "sculpt", "target_violation_rate", "0.05", &err), 0);
    drv_cost_model_from_cfg(cfg, &m);
    assert_true(fabs(drv_cost_critical_quantile(&m, DRV_RES_VCPU) - 0.95) < 1e-12);
    /* an explicit factor wins over the SLO */
    assert_int_equal(cfg_set(cfg, "cost", "violation_factor", "9", &err), 0);
    drv_cost_model_from_cfg(cfg, &m);
    assert_true(fabs(drv_cost_critical_quantile(&m, DRV_RES_VCPU) - 0.9) < 1e-12);
    cfg_unref(cfg);
}

static void test_step_cost(void **state)
{
    (void)state;
    struct cfg *cfg = cfg_new_defaults();
    struct drv_cost_model m;
    drv_cost_model_from_cfg(cfg, &m);
    /* 2 vCPU for half an hour, use 1.5: 2 * 0.04 * 0.5 */
    assert_true(fabs(drv_cost_step(&m, DRV_RES_VCPU, 2, 1.5, 1800) - 0.04) < 1e-12);
    /* use 2.5 over 2: plus 0.5 * 0.04 * 99 * 0.5 */
    assert_true(fabs(drv_cost_step(&m, DRV_RES_VCPU, 2, 2.5, 1800) - (0.04 + 0.99)) < 1e-12);
    cfg_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derived_from_slo),
        cmocka_unit_test(test_step_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
