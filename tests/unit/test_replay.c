#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/replay.h"

/* A test policy: always 0.6 of whatever. */
static void fixed_init(void *s, const struct drv_policy_vm *vm,
                       const struct drv_policy_params *p, void *shared)
{
    (void)s;
    (void)vm;
    (void)p;
    (void)shared;
}
static void fixed_decide(void *s, int64_t t, const double cap[DRV_TR_LAST],
                         double alloc[DRV_TR_LAST])
{
    (void)s;
    (void)t;
    (void)cap;
    for (int k = 0; k < DRV_TR_LAST; k++)
        alloc[k] = 0.6;
}
static void fixed_observe(void *s, const struct drv_policy_sample *x, const double a[DRV_TR_LAST])
{
    (void)s;
    (void)x;
    (void)a;
}
static const struct drv_policy_ops fixed = {
    .name = "fixed", .state_size = 1, .init = fixed_init, .decide = fixed_decide,
    .observe = fixed_observe,
};

static void test_definitions(void **state)
{
    (void)state;
    int64_t t[] = {0, 300, 600, 900};
    float use[] = {0.5f, 1.5f, 0.2f, 0.25f}; /* 1.5 > cap: counted as 1.0 */
    float cap[] = {1, 1, 1, 1};
    char id[] = "v";
    struct drv_trace_vm vm = {.id = id, .n = 4, .t = t};
    vm.use[DRV_TR_CPU] = use;
    vm.cap[DRV_TR_CPU] = cap;
    struct drv_trace tr = {.format = DRV_TRACE_AZURE_CPU, .step_s = 300, .nvms = 1, .vms = &vm};
    tr.has[DRV_TR_CPU] = true;

    struct drv_replay_entry e[2] = {
        {&drv_policy_static, DRV_POLICY_PARAMS_DEFAULT, NULL},
        {&fixed, DRV_POLICY_PARAMS_DEFAULT, "fixed_label"},
    };
    struct drv_replay_result r;
    struct err *err = NULL;
    assert_int_equal(drv_replay_run(&tr, e, 2, NULL, NULL, &r, &err), 0);
    assert_int_equal(r.vm_steps, 4);
    const struct drv_replay_stats *s = &r.policies[0].res[DRV_TR_CPU];
    /* use 0.5, 1.0, 0.2, 0.25 (sum 1.95) against 1 each (sum 4) */
    assert_true(fabs(drv_replay_slack(s) - (0.5 + 0 + 0.8 + 0.75) / 4) < 1e-6);
    assert_true(drv_replay_violation_rate(s) == 0);
    assert_true(drv_replay_shortfall(s) == 0);
    assert_true(fabs(drv_replay_mean_use(s) - 1.95 / 4) < 1e-6);
    assert_string_equal(r.policies[1].label, "fixed_label");
    s = &r.policies[1].res[DRV_TR_CPU];
    /* 0.6 each (sum 2.4): slack 0.1 + 0.4 + 0.35 = 0.85; short 0.4 at one step */
    assert_true(fabs(drv_replay_slack(s) - 0.85 / 2.4) < 1e-6);
    assert_true(fabs(drv_replay_violation_rate(s) - 0.25) < 1e-12);
    assert_true(fabs(drv_replay_shortfall(s) - 0.4 / 1.95) < 1e-6);
    assert_true(fabs(drv_replay_mean_alloc(s) - 0.6) < 1e-6);
    assert_int_equal(r.policies[1].res[DRV_TR_MEMORY].steps, 0);
    drv_replay_result_release(&r);

    assert_int_equal(drv_replay_run(&tr, e, 0, NULL, NULL, &r, &err), -1);
    err_clear(&err);
}

static void test_deterministic_on_real_trace(void **state)
{
    (void)state;
    const char *path = "tests/data/traces/bitbrains";
    struct err *err = NULL;
    struct drv_trace *tr = drv_trace_load(DRV_TRACE_BITBRAINS, &path, 1, NULL, NULL, &err);
    assert_non_null(tr);
    struct drv_replay_entry e[3] = {
        {&drv_policy_static, DRV_POLICY_PARAMS_DEFAULT, NULL},
        {&drv_policy_vpa, DRV_POLICY_PARAMS_DEFAULT, NULL},
        {&drv_policy_autopilot, DRV_POLICY_PARAMS_DEFAULT, NULL},
    };
    struct drv_replay_result a, b;
    assert_int_equal(drv_replay_run(tr, e, 3, NULL, NULL, &a, &err), 0);
    assert_int_equal(drv_replay_run(tr, e, 3, NULL, NULL, &b, &err), 0);
    for (size_t p = 0; p < 3; p++)
        assert_memory_equal(a.policies[p].res, b.policies[p].res, sizeof(a.policies[p].res));
    /* static never violates; the others allocate less than static */
    for (int k = 0; k < DRV_TR_LAST; k++) {
        assert_int_equal(a.policies[0].res[k].violations, 0);
        assert_true(a.policies[1].res[k].sum_alloc < a.policies[0].res[k].sum_alloc);
        assert_true(a.policies[2].res[k].sum_alloc < a.policies[0].res[k].sum_alloc);
    }
    drv_replay_result_release(&a);
    drv_replay_result_release(&b);
    drv_trace_free(tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_definitions),
        cmocka_unit_test(test_deterministic_on_real_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
