#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/instance.h"
#include "driver/shape.h"

static void test_cpuset(void **state)
{
    (void)state;
    struct drv_cpuset s;
    struct err *err = NULL;
    char buf[128];
    assert_int_equal(drv_cpuset_parse("0-3,8,10-11", &s, &err), 0);
    assert_int_equal(drv_cpuset_count(&s), 7);
    assert_true(drv_cpuset_has(&s, 2) && drv_cpuset_has(&s, 8) && !drv_cpuset_has(&s, 9));
    assert_string_equal(drv_cpuset_format(&s, buf, sizeof(buf)), "0-3,8,10-11");
    drv_cpuset_unset(&s, 8);
    drv_cpuset_set(&s, 64);
    assert_string_equal(drv_cpuset_format(&s, buf, sizeof(buf)), "0-3,10-11,64");
    assert_int_equal(drv_cpuset_parse("", &s, &err), 0);
    assert_int_equal(drv_cpuset_count(&s), 0);
    assert_string_equal(drv_cpuset_format(&s, buf, sizeof(buf)), "");
    static const char *const bad[] = {"3-1", "a", "1,,x", "5000", "-1", "1-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(drv_cpuset_parse(bad[i], &s, &err), -1);
        err_clear(&err);
    }
}

static void test_shape(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct drv_shape s = {.vcpus_online = 2, .vcpus_max = 4, .mem_max_mib = 2048, .numa_node = 0};
    s.res.v[DRV_RES_VCPU] = 1.5;
    s.res.v[DRV_RES_MEM_MIB] = 1536;
    assert_int_equal(drv_shape_validate(&s, &err), 0);
    /* 1.5 vCPU over 2 online vCPUs: 75 ms of every 100 ms per vCPU */
    assert_int_equal(drv_shape_vcpu_quota_us(&s, 100000), 75000);
    s.res.v[DRV_RES_VCPU] = 2;
    assert_int_equal(drv_shape_vcpu_quota_us(&s, 100000), -1);
    s.res.v[DRV_RES_VCPU] = 2.5;
    assert_int_equal(drv_shape_validate(&s, &err), -1);
    err_clear(&err);
    s.res.v[DRV_RES_VCPU] = 1;
    s.vcpus_online = 5;
    assert_int_equal(drv_shape_validate(&s, &err), -1);
    err_clear(&err);
    s.vcpus_online = 2;
    s.res.v[DRV_RES_MEM_MIB] = 4096;
    assert_int_equal(drv_shape_validate(&s, &err), -1);
    assert_non_null(strstr(err->msg, "above the maximum"));
    err_clear(&err);
}

/* The CPU weight: 100 per vCPU, x2 per 100 of priority, within cgroup v2's range. */
static void test_cpu_weight(void **state)
{
    (void)state;
    assert_int_equal(drv_shape_weight_for(1, 0), 100);
    assert_int_equal(drv_shape_weight_for(2.5, 0), 250);
    assert_int_equal(drv_shape_weight_for(2.5, 100), 500);
    assert_int_equal(drv_shape_weight_for(2.5, -100), 125);
    assert_int_equal(drv_shape_weight_for(1, 50), 141); /* 100 x 2^0.5 */
    assert_int_equal(drv_shape_weight_for(0.001, 0), 1);
    assert_int_equal(drv_shape_weight_for(64, 1000), DRV_SHAPE_WEIGHT_MAX);
    assert_int_equal(drv_shape_weight_for(1, -1000), DRV_SHAPE_WEIGHT_MIN);
    struct drv_shape s = {.vcpus_online = 2, .vcpus_max = 2, .mem_max_mib = 512, .numa_node = -1};
    s.res.v[DRV_RES_VCPU] = 1.5;
    s.res.v[DRV_RES_MEM_MIB] = 256;
    assert_int_equal(drv_shape_cpu_weight(&s), 150); /* unset: per vCPU */
    s.cpu_weight = 600;
    assert_int_equal(drv_shape_cpu_weight(&s), 600);
    struct err *err = NULL;
    assert_int_equal(drv_shape_validate(&s, &err), 0);
    s.cpu_weight = DRV_SHAPE_WEIGHT_MAX + 1;
    assert_int_equal(drv_shape_validate(&s, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

static void test_instance_dup(void **state)
{
    (void)state;
    struct drv_kv md[] = {{(char *)"role", (char *)"web"}};
    struct drv_instance inst = {.uuid = "6f8c1a2e-0000-4000-8000-000000000001",
                                .name = (char *)"vm1",
                                .metadata = md,
                                .nmetadata = 1};
    inst.flavor.name = (char *)"m1.small";
    inst.flavor.vcpus = 1;
    struct drv_instance *c = drv_instance_dup(&inst);
    assert_string_equal(c->name, "vm1");
    assert_ptr_not_equal(c->name, inst.name);
    assert_string_equal(drv_kv_get(c->metadata, c->nmetadata, "role"), "web");
    assert_null(drv_kv_get(c->metadata, c->nmetadata, "nope"));
    assert_null(c->project_id);
    drv_instance_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpuset),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_cpu_weight),
        cmocka_unit_test(test_instance_dup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
