/* Baselines against hand-computed expectations.  Bucket boundaries follow
 * VPA's exponential histogram: bucket b starts at
 * first * (ratio^b - 1) / (ratio - 1). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "driver/histogram.h"
#include "driver/policy.h"

#define H 3600
#define MIB 1048576.0

static double vpa_bucket_end(double first, int bucket)
{
    return first * (pow(1.05, bucket + 1) - 1) / 0.05;
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    struct drv_hist h;
    assert_true(drv_hist_init(&h, 0.01, 1.05, 1000.0, 24.0 * H));
    /* ceil(log(1000 * 0.05 / 0.01 + 1) / log(1.05)) + 1 */
    assert_int_equal(h.nbuckets, 176);
    assert_int_equal(drv_hist_bucket(&h, 0.005), 0);
    assert_int_equal(drv_hist_bucket(&h, 1.0), 36);  /* log(6)/log(1.05) = 36.7 */
    assert_int_equal(drv_hist_bucket(&h, 5000.0), 175);
    assert_true(drv_hist_empty(&h));
    assert_true(drv_hist_percentile(&h, 0.9) == 0);

    /* 9 samples at 0.1 and 1 at 1.0: p50 is the 0.1 bucket, p95 the 1.0 one */
    for (int i = 0; i < 9; i++)
        drv_hist_add(&h, 0.1, 1.0, 0);
    drv_hist_add(&h, 1.0, 1.0, 0);
    int b01 = drv_hist_bucket(&h, 0.1);
    assert_true(fabs(drv_hist_percentile(&h, 0.5) - vpa_bucket_end(0.01, b01)) < 1e-12);
    assert_true(fabs(drv_hist_percentile(&h, 0.95) - vpa_bucket_end(0.01, 36)) < 1e-12);

    /* a sample one half-life later weighs twice as much */
    struct drv_hist d;
    drv_hist_init(&d, 0.01, 1.05, 1000.0, 24.0 * H);
    drv_hist_add(&d, 0.1, 1.0, 0);
    drv_hist_add(&d, 1.0, 1.0, 24 * H);
    assert_true(fabs(d.total - 3.0) < 1e-12);
    assert_true(fabs(drv_hist_percentile(&d, 0.34) - vpa_bucket_end(0.01, 36)) < 1e-12);
    assert_true(fabs(drv_hist_percentile(&d, 0.33) - vpa_bucket_end(0.01, b01)) < 1e-12);
    /* far in the future the reference shifts; percentiles are unchanged */
    drv_hist_add(&d, 1.0, 1.0, 200LL * 24 * H);
    assert_true(isfinite(d.total));
    assert_true(fabs(drv_hist_percentile(&d, 0.5) - vpa_bucket_end(0.01, 36)) < 1e-12);

    /* subtracting what was added empties the histogram */
    struct drv_hist s;
    drv_hist_init(&s, 1e7, 1.05, 1e12, 24.0 * H);
    drv_hist_add(&s, 5e8, 1.0, 100);
    drv_hist_subtract(&s, 5e8, 1.0, 100);
    assert_true(drv_hist_empty(&s));
}

struct run {
    const struct drv_policy_ops *ops;
    void *st;
    double alloc[DRV_TR_LAST];
};

static void run_start(struct run *r, const struct drv_policy_ops *ops, bool mem)
{
    struct drv_policy_vm vm = {.id = "t", .step_s = 300};
    struct drv_policy_params p = DRV_POLICY_PARAMS_DEFAULT;
    vm.has[DRV_TR_CPU] = true;
    vm.has[DRV_TR_MEMORY] = mem;
    r->ops = ops;
    r->st = calloc(1, ops->state_size);
    ops->init(r->st, &vm, &p, NULL);
}

static void run_decide(struct run *r, int64_t t)
{
    double cap[DRV_TR_LAST] = {4, 8192, 0, 0};
    r->ops->decide(r->st, t, cap, r->alloc);
}

static void run_observe(struct run *r, int64_t t, double cpu, double mem)
{
    struct drv_policy_sample s = {.t = t, .use = {cpu, mem, 0, 0}, .cap = {4, 8192, 0, 0}};
    r->ops->observe(r->st, &s, r->alloc);
}

static void run_end(struct run *r)
{
    if (r->ops->fini)
        r->ops->fini(r->st);
    free(r->st);
}

static void test_static(void **state)
{
    (void)state;
    struct run r;
    run_start(&r, &drv_policy_static, true);
    run_decide(&r, 0);
    assert_true(r.alloc[DRV_TR_CPU] == 4 && r.alloc[DRV_TR_MEMORY] == 8192);
    run_observe(&r, 0, 0.1, 100);
    run_decide(&r, 300);
    assert_true(r.alloc[DRV_TR_CPU] == 4);
    run_end(&r);
}

static void test_vpa(void **state)
{
    (void)state;
    struct run r;
    run_start(&r, &drv_policy_vpa, true);
    run_decide(&r, 0); /* no sample yet: no recommendation, the flavor stays */
    assert_true(r.alloc[DRV_TR_CPU] == 4 && r.alloc[DRV_TR_MEMORY] == 8192);
    for (int i = 0; i < 100; i++) {
        run_observe(&r, i * 300, 1.0, 1024);
        run_decide(&r, (i + 1) * 300);
    }
    /* CPU: end of the bucket holding 1.0 (36), +15% */
    double cpu = vpa_bucket_end(0.01, 36) * 1.15;
    assert_true(fabs(r.alloc[DRV_TR_CPU] - cpu) < 1e-9);
    /* memory: 1 GiB = 1073741824 B falls in bucket 37 (log(6.369)/log(1.05) = 37.9) */
    double mem = vpa_bucket_end(1e7, 37) * 1.15 / MIB;
    assert_true(fabs(r.alloc[DRV_TR_MEMORY] - mem) < 1e-6);
    run_end(&r);

    /* minimums: 25 millicores, 250 MiB */
    run_start(&r, &drv_policy_vpa, true);
    run_observe(&r, 0, 0.0, 1);
    run_decide(&r, 300);
    assert_true(fabs(r.alloc[DRV_TR_CPU] - 0.025) < 1e-12);
    assert_true(fabs(r.alloc[DRV_TR_MEMORY] - 250) < 1e-9);
    run_end(&r);

    /* memory keeps one peak per day: a larger sample the same day replaces
     * the peak, so the p90 is the day's peak, not the count of samples */
    run_start(&r, &drv_policy_vpa, true);
    run_observe(&r, 0, 0.5, 100);
    for (int i = 1; i < 10; i++)
        run_observe(&r, i * 300, 0.5, 100);
    run_observe(&r, 3000, 0.5, 2048); /* same day, larger */
    run_decide(&r, 3300);
    int b = (int)(log(2048 * MIB * 0.05 / 1e7 + 1) / log(1.05));
    assert_true(fabs(r.alloc[DRV_TR_MEMORY] - vpa_bucket_end(1e7, b) * 1.15 / MIB) < 1e-6);
    run_end(&r);
}

static void test_autopilot(void **state)
{
    (void)state;
    struct run r;
    run_start(&r, &drv_policy_autopilot, true);
    run_decide(&r, 0);
    assert_true(r.alloc[DRV_TR_CPU] == 4);
    run_observe(&r, 0, 1.0, 1000);
    run_decide(&r, 48 * H); /* one memory half-life later: half the peak, +10% */
    assert_true(fabs(r.alloc[DRV_TR_MEMORY] - 500 * 1.1) < 1e-9);
    assert_true(fabs(r.alloc[DRV_TR_CPU] - vpa_bucket_end(0.01, 36) * 1.1) < 1e-9);
    run_observe(&r, 48 * H, 1.0, 100); /* smaller than the decayed peak */
    run_decide(&r, 96 * H);
    assert_true(fabs(r.alloc[DRV_TR_MEMORY] - 250 * 1.1) < 1e-9);
    run_observe(&r, 96 * H, 1.0, 4000); /* a new peak replaces it at once */
    run_decide(&r, 96 * H + 300);
    assert_true(r.alloc[DRV_TR_MEMORY] > 4000 * 1.1 * 0.99);
    run_end(&r);
}

static void test_registry(void **state)
{
    (void)state;
    assert_ptr_equal(drv_policy_find("vpa"), &drv_policy_vpa);
    assert_null(drv_policy_find("oracle"));
    assert_ptr_equal(drv_policy_find("sculpt"), &drv_policy_sculpt);
    assert_string_equal(drv_policy_names(), "static,vpa,autopilot,sculpt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_vpa),
        cmocka_unit_test(test_autopilot),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
