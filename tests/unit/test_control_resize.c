/* A held guest resized through the control loop (drv_control_resize) with
 * the fake backend: the new flavor admitted as a build would be, the
 * shape reshaped live within the domain's maxima, a refusal leaving the
 * guest as it was, a resize back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/control.h"
#include "driver/fake/fake.h"
#include "helpers/engine.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define UUID_B "7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5c"

/* A host of 4 CPUs and 4 GiB. */
static int rig_setup(void **state)
{
    struct test_control *r = xzalloc(sizeof(*r));
    const char *const opts[] = {"fake.topology=nodes=1,sockets=1,cores=4,threads=1,mem_mib=4096",
                                NULL};
    test_control_open(opts, NULL, r);
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    struct test_control *r = *state;
    test_control_close(r);
    free(r);
    return 0;
}

static int64_t now_s(struct test_control *r)
{
    return (DRV_FAKE_EPOCH_MS + drv_fake_now_ms(r->hv)) / 1000;
}

static void inst_init(struct drv_instance *inst, const char *uuid, const char *flavor, int vcpus,
                      int64_t mem_mb)
{
    memset(inst, 0, sizeof(*inst));
    snprintf(inst->uuid, sizeof(inst->uuid), "%s", uuid);
    inst->project_id = (char *)"demo";
    inst->flavor.name = (char *)flavor;
    inst->flavor.vcpus = vcpus;
    inst->flavor.memory_mb = mem_mb;
}

/* Admit and spawn a guest; its shape comes back in *shape. */
static void spawn(struct test_control *r, const struct drv_instance *inst, struct drv_shape *shape)
{
    struct err *err = NULL;
    if (drv_control_admit(r->ctl, inst, now_s(r), shape, NULL, &err) < 0)
        fail_msg("admit %s: %s", inst->uuid, err->msg);
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", inst->uuid);
    spec.shape = *shape;
    spec.image.kernel = (char *)"/images/vmlinuz";
    if (drv_hv_spawn(r->hv, &spec, &err) < 0)
        fail_msg("spawn %s: %s", inst->uuid, err->msg);
}

static void held(struct test_control *r, const char *uuid, struct drv_shape *out)
{
    struct err *err = NULL;
    if (drv_sculpt_shape(r->engine, uuid, out, &err) < 0)
        fail_msg("shape of %s: %s", uuid, err->msg);
}

/* Down to a smaller flavor and back up within the maxima the guest was
 * defined with: each shape within its flavor, applied live by the backend
 * (its maxima unchanged), and what the engine then holds. */
static void test_resize_down_and_up(void **state)
{
    struct test_control *r = *state;
    struct err *err = NULL;
    struct drv_instance big, small;
    inst_init(&big, UUID_A, "m1.small", 2, 1024);
    inst_init(&small, UUID_A, "m1.tiny", 1, 512);
    struct drv_shape s0, s1, s2, h;
    spawn(r, &big, &s0);
    big.vcpus_defined = small.vcpus_defined = s0.vcpus_max;
    big.mem_defined_mib = small.mem_defined_mib = s0.mem_max_mib;

    assert_int_equal(drv_control_resize(r->ctl, &big, &small, now_s(r), &s1, NULL, &err), 0);
    assert_true(s1.res.v[DRV_RES_VCPU] <= 1.0 + 1e-9);
    assert_true(s1.res.v[DRV_RES_MEM_MIB] <= 512.0 + 1e-9);
    assert_int_equal(s1.vcpus_max, s0.vcpus_max); /* the domain's maxima kept */
    assert_true(s1.mem_max_mib == s0.mem_max_mib);
    held(r, UUID_A, &h);
    assert_true(drv_res_eq(h.res, s1.res, 1e-9));
    struct drv_hv_reshape_report rep;
    assert_int_equal(drv_hv_reshape(r->hv, UUID_A, &s1, &rep, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->hv, UUID_A, &info, &err), 0);
    assert_true(drv_res_eq(info.shape.res, s1.res, 1e-6));

    assert_int_equal(drv_control_resize(r->ctl, &small, &big, now_s(r), &s2, NULL, &err), 0);
    assert_true(s2.res.v[DRV_RES_MEM_MIB] <= 1024.0 + 1e-9);
    assert_int_equal(s2.vcpus_max, s0.vcpus_max);
    assert_int_equal(drv_hv_reshape(r->hv, UUID_A, &s2, &rep, &err), 0);
    held(r, UUID_A, &h);
    assert_true(drv_res_eq(h.res, s2.res, 1e-9));
}

/* A flavor the engine cannot admit: the guest stays held at the shape in
 * force, and a later resize that fits still works. */
static void test_refused_resize_keeps_the_guest(void **state)
{
    struct test_control *r = *state;
    struct err *err = NULL;
    struct drv_instance a, b, huge, bad;
    inst_init(&a, UUID_A, "m1.small", 2, 1024);
    inst_init(&b, UUID_B, "m1.small", 2, 1024);
    struct drv_shape sa, sb, out, h;
    spawn(r, &a, &sa);
    spawn(r, &b, &sb);
    a.vcpus_defined = sa.vcpus_max;
    a.mem_defined_mib = sa.mem_max_mib;

    /* more memory than the host has: refused for capacity */
    inst_init(&huge, UUID_A, "m1.huge", 2, 1024 * 64);
    huge.vcpus_defined = a.vcpus_defined;
    struct drv_sculpt_refusal why;
    memset(&why, 0, sizeof(why));
    assert_int_equal(drv_control_resize(r->ctl, &a, &huge, now_s(r), &out, &why, &err), -1);
    assert_int_equal(err->code, ERR_CAPACITY);
    err_clear(&err);
    held(r, UUID_A, &h);
    assert_true(drv_res_eq(h.res, sa.res, 1e-9));
    assert_int_equal(h.vcpus_max, sa.vcpus_max);

    /* a flavor the engine cannot read: refused as invalid, guest kept */
    inst_init(&bad, UUID_A, "m1.bad", 1, 512);
    struct drv_kv spec = {(char *)"sculpt:priority", (char *)"5000"};
    bad.flavor.extra_specs = &spec;
    bad.flavor.nextra_specs = 1;
    assert_int_equal(drv_control_resize(r->ctl, &a, &bad, now_s(r), &out, NULL, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    assert_non_null(strstr(err->msg, "sculpt:priority"));
    err_clear(&err);
    held(r, UUID_A, &h);
    assert_true(drv_res_eq(h.res, sa.res, 1e-9));

    /* the other guest is untouched, and a guest not held is not found */
    held(r, UUID_B, &h);
    assert_true(drv_res_eq(h.res, sb.res, 1e-9));
    struct drv_instance ghost;
    inst_init(&ghost, "9f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5e", "m1.tiny", 1, 512);
    assert_int_equal(drv_control_resize(r->ctl, &ghost, &ghost, now_s(r), &out, NULL, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    /* two different guests are not one resize */
    assert_int_equal(drv_control_resize(r->ctl, &a, &b, now_s(r), &out, NULL, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resize_down_and_up, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_refused_resize_keeps_the_guest, rig_setup,
                                        rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
