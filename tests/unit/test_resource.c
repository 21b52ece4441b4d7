#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/blueprint.h"
#include "driver/resource.h"

static struct drv_res res(double vcpu, double mem)
{
    struct drv_res r = drv_res_zero();
    r.v[DRV_RES_VCPU] = vcpu;
    r.v[DRV_RES_MEM_MIB] = mem;
    return r;
}

static void test_arithmetic(void **state)
{
    (void)state;
    struct drv_res a = res(0.35, 1536), b = res(1.0, 512);
    b.v[DRV_RES_NET_IN_MBPS] = 120;
    struct drv_res s = drv_res_add(a, b);
    assert_true(fabs(s.v[DRV_RES_VCPU] - 1.35) < 1e-12);
    assert_true(s.v[DRV_RES_MEM_MIB] == 2048);
    assert_true(s.v[DRV_RES_NET_IN_MBPS] == 120);
    struct drv_res d = drv_res_sub(a, b);
    assert_true(fabs(d.v[DRV_RES_VCPU] + 0.65) < 1e-12);
    assert_true(drv_res_clamp_nonneg(d).v[DRV_RES_VCPU] == 0);
    assert_true(drv_res_clamp_nonneg(d).v[DRV_RES_MEM_MIB] == 1024);
    assert_true(drv_res_scale(a, 2).v[DRV_RES_MEM_MIB] == 3072);
    assert_true(drv_res_max(a, b).v[DRV_RES_VCPU] == 1.0);
    assert_true(drv_res_min(a, b).v[DRV_RES_MEM_MIB] == 512);
    assert_true(drv_res_mul(a, res(2, 0.5)).v[DRV_RES_MEM_MIB] == 768);
    assert_true(drv_res_is_zero(drv_res_zero()));
    assert_false(drv_res_is_zero(a));
    assert_true(drv_res_eq(a, res(0.35, 1536), 1e-12));
    assert_false(drv_res_eq(a, b, 1e-12));
}

static void test_fits(void **state)
{
    (void)state;
    struct drv_res cap = res(4, 8192);
    enum drv_res_kind over;
    double by;
    assert_true(drv_res_fits(res(4, 8192), cap, &over, &by));
    assert_true(drv_res_le(res(0.1 + 0.2, 0), res(0.3, 0))); /* float sums still fit */
    assert_false(drv_res_fits(res(4.5, 100), cap, &over, &by));
    assert_int_equal(over, DRV_RES_VCPU);
    assert_true(fabs(by - 0.5) < 1e-12);
    /* the worse relative excess is reported: 10% of memory vs 2.5% of CPU */
    assert_false(drv_res_fits(res(4.1, 9011.2), cap, &over, &by));
    assert_int_equal(over, DRV_RES_MEM_MIB);
    assert_true(fabs(by - 819.2) < 1e-6);
    /* any need where the capacity is zero does not fit */
    struct drv_res need = drv_res_zero();
    need.v[DRV_RES_DISK_READ_IOPS] = 1;
    assert_false(drv_res_fits(need, cap, &over, NULL));
    assert_int_equal(over, DRV_RES_DISK_READ_IOPS);
}

static void test_validate_and_parse(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct drv_res r;
    assert_int_equal(drv_res_parse("vcpu=0.35,mem_mib=1536,net_in_mbps=120,disk_read_iops=800", &r, &err), 0);
    assert_true(r.v[DRV_RES_VCPU] == 0.35 && r.v[DRV_RES_DISK_READ_IOPS] == 800);
    char buf[256];
    assert_string_equal(drv_res_format(r, buf, sizeof(buf)),
                        "vcpu=0.35,mem_mib=1536,net_in_mbps=120,disk_read_iops=800");
    assert_string_equal(drv_res_format(drv_res_zero(), buf, sizeof(buf)), "0");

    static const char *const bad[] = {
        "vcpu=-1", "vcpu=abc", "vcpu", "cores=2", "vcpu=1,vcpu=2", "vcpu=inf", "vcpu=nan",
        "mem_mib=1e300", "vcpu=1e999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(drv_res_parse(bad[i], &r, &err), -1);
        assert_int_equal(err->code, ERR_INVALID);
        err_clear(&err);
    }
    struct drv_res n = res(NAN, 1);
    assert_int_equal(drv_res_validate(n, &err), -1);
    assert_non_null(strstr(err->msg, "`vcpu`"));
    err_clear(&err);
}

static void test_kind_names(void **state)
{
    (void)state;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        assert_int_equal(drv_res_kind_parse(drv_res_kind_name((enum drv_res_kind)k)), k);
        assert_string_not_equal(drv_res_kind_unit((enum drv_res_kind)k), "?");
    }
    assert_int_equal(drv_res_kind_parse("gpu"), -1);
}

static void test_blueprint(void **state)
{
    (void)state;
    struct err *err = NULL;
    assert_null(drv_blueprint_new(0, 60, 0, &err));
    err_clear(&err);
    assert_null(drv_blueprint_new(30, 0, 0, &err));
    err_clear(&err);
    assert_null(drv_blueprint_new(DRV_BLUEPRINT_MAX_STEPS + 1, 60, 0, &err));
    err_clear(&err);

    struct drv_blueprint *bp = drv_blueprint_new(30, 60, 1000, &err);
    assert_non_null(bp);
    drv_blueprint_fill_flat(bp, res(1, 1024));
    /* a ramp in p90 CPU: peak over [10, 20) is step 19 */
    for (int s = 0; s < 30; s++) {
        drv_blueprint_set(bp, s, DRV_RES_VCPU, DRV_Q_P50, 0.5);
        drv_blueprint_set(bp, s, DRV_RES_VCPU, DRV_Q_P90, 1 + s * 0.1);
        drv_blueprint_set(bp, s, DRV_RES_VCPU, DRV_Q_P99, 5);
    }
    bp->confidence = 0.8;
    for (int k = 0; k < DRV_RES_LAST; k++)
        bp->res_confidence[k] = 0.5;
    assert_int_equal(drv_blueprint_validate(bp, &err), 0);
    struct drv_res peak = drv_blueprint_peak(bp, DRV_Q_P90, 10, 20);
    assert_true(fabs(peak.v[DRV_RES_VCPU] - 2.9) < 1e-12);
    assert_true(peak.v[DRV_RES_MEM_MIB] == 1024);
    assert_true(drv_res_is_zero(drv_blueprint_peak(bp, DRV_Q_P90, 40, 50)));
    assert_int_equal(drv_blueprint_step_at(bp, 999), -1);
    assert_int_equal(drv_blueprint_step_at(bp, 1000), 0);
    assert_int_equal(drv_blueprint_step_at(bp, 1000 + 60 * 29 + 59), 29);
    assert_int_equal(drv_blueprint_step_at(bp, 1000 + 60 * 30), -1);

    struct drv_blueprint *c = drv_blueprint_dup(bp);
    drv_blueprint_set(c, 3, DRV_RES_VCPU, DRV_Q_P50, 9); /* p50 above p90 */
    assert_int_equal(drv_blueprint_validate(c, &err), -1);
    assert_non_null(strstr(err->msg, "step 3 `vcpu` bands out of order"));
    err_clear(&err);
    drv_blueprint_set(c, 3, DRV_RES_VCPU, DRV_Q_P50, -1);
    assert_int_equal(drv_blueprint_validate(c, &err), -1);
    err_clear(&err);
    drv_blueprint_set(c, 3, DRV_RES_VCPU, DRV_Q_P50, 0.5);
    c->confidence = 1.5;
    assert_int_equal(drv_blueprint_validate(c, &err), -1);
    err_clear(&err);
    /* the copy is deep */
    assert_true(drv_blueprint_get(bp, 3, DRV_RES_VCPU, DRV_Q_P50) == 0.5);
    drv_blueprint_free(c);
    drv_blueprint_free(bp);
    drv_blueprint_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_fits),
        cmocka_unit_test(test_validate_and_parse),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_blueprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
