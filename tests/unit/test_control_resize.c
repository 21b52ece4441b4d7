/* A held guest resized through the control loop (drv_control_resize) with
 * the fake backend: the new flavor admitted as a build would be, the
 * shape reshaped live within the domain's maxima, a refusal leaving the
 * guest as it was, a resize back. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* Spawn `was` (its shape in *s0), then give both records the maxima the
 * domain was defined with, as compute_resize.c reads them off the domain. */
static void spawn_to_resize(struct test_control *r, struct drv_instance *was,
                            struct drv_instance *now, struct drv_shape *s0)
{
    spawn(r, was, s0);
    was->vcpus_defined = now->vcpus_defined = s0->vcpus_max;
    was->mem_defined_mib = now->mem_defined_mib = s0->mem_max_mib;
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
    spawn_to_resize(r, &big, &small, &s0);

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

#define MEMBER "8f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5d"

/* A resize whose new flavor does not fit beside an idle pool member (a
 * reclaimable guest) takes the member's room, as a build would: refused
 * with no member offered, admitted when it is, the member given up. */
static void test_resize_reclaims_members(void **state)
{
    struct test_control *r = *state;
    struct err *err = NULL;
    struct drv_instance tiny, big;
    inst_init(&tiny, UUID_A, "m1.tiny", 1, 512);
    inst_init(&big, UUID_A, "m1.medium", 2, 2048);
    struct drv_shape s0, out, h;
    spawn(r, &tiny, &s0);
    tiny.vcpus_defined = big.vcpus_defined = 2;
    tiny.mem_defined_mib = big.mem_defined_mib = 2048;
    /* the member holds the rest of the host's memory for sure */
    struct drv_sculpt_guest_spec ms = test_guest_spec(MEMBER, 1, 3000, -1000);
    ms.reclaimable = true;
    struct drv_blueprint *bp = test_bp_flat(30, 60, now_s(r), 0.5, 3000);
    struct drv_shape mshape;
    if (drv_sculpt_place(r->engine, &ms, bp, now_s(r), &mshape, NULL, &err) < 0)
        fail_msg("member: %s", err->msg);
    drv_blueprint_free(bp);

    assert_int_equal(drv_control_resize(r->ctl, &tiny, &big, now_s(r), &out, NULL, &err), -1);
    assert_int_equal(err->code, ERR_CAPACITY);
    err_clear(&err);
    held(r, UUID_A, &h);
    assert_true(drv_res_eq(h.res, s0.res, 1e-9));

    const char *order[] = {MEMBER};
    struct drv_control_reclaim rc = {.order = order, .n = 1, .taken = 7};
    assert_int_equal(drv_control_resize_reclaiming(r->ctl, &tiny, &big, NULL, now_s(r), &rc,
                                                   &out, NULL, &err),
                     0);
    assert_int_equal(rc.taken, 1);
    assert_true(out.res.v[DRV_RES_MEM_MIB] > 512);
    held(r, UUID_A, &h);
    assert_true(drv_res_eq(h.res, out.res, 1e-9));
    assert_int_equal(drv_sculpt_shape(r->engine, MEMBER, &h, &err), -1); /* given up */
    err_clear(&err);
}

/* Steps whose first change resizes the other guest before the step's
 * other changes reach the backend: a resize between drv_control_step's
 * engine step and its reshapes. */
struct racer {
    struct test_control *r;
    struct drv_instance inst[2][2]; /* [guest][0: m1.small, 1: m1.tiny] */
    int on[2];                      /* the flavor each guest is on */
    bool armed;                     /* resize at the step's next change */
    int resized;
};

static int64_t racer_apply_begin(const struct drv_sculpt_change *c, void *opaque)
{
    struct racer *x = opaque;
    if (!x->armed)
        return 0;
    x->armed = false;
    int g = strcmp(c->uuid, UUID_A) == 0 ? 1 : 0; /* the other guest */
    struct err *err = NULL;
    struct drv_shape to;
    const struct drv_instance *was = &x->inst[g][x->on[g]];
    const struct drv_instance *now = &x->inst[g][!x->on[g]];
    if (drv_control_resize(x->r->ctl, was, now, now_s(x->r), &to, NULL, &err) < 0)
        fail_msg("resize %s: %s", was->uuid, err->msg);
    /* the resize's own reshape (compute_resize.c holds the apply lock
     * around it; this thread holds it already) */
    if (drv_hv_reshape(x->r->hv, was->uuid, &to, NULL, &err) < 0)
        fail_msg("reshape %s: %s", was->uuid, err->msg);
    x->on[g] = !x->on[g];
    x->resized++;
    return 0;
}

/* A change the loop computed before a resize is dropped, not applied over
 * the resize's shape: the backend keeps what the engine holds. */
static void test_step_change_before_resize_is_dropped(void **state)
{
    struct test_control *r = *state;
    struct err *err = NULL;
    struct racer x = {.r = r};
    struct drv_control_callbacks cb = {.apply_begin = racer_apply_begin, .opaque = &x};
    drv_control_free(r->ctl);
    r->ctl = drv_control_new(r->engine, r->hv, r->fleet, &r->pc, &r->cm, &r->cp, &cb, &err);
    assert_non_null(r->ctl);
    const char *uuids[2] = {UUID_A, UUID_B};
    for (int g = 0; g < 2; g++) {
        inst_init(&x.inst[g][0], uuids[g], "m1.small", 2, 1024);
        inst_init(&x.inst[g][1], uuids[g], "m1.tiny", 1, 512);
        struct drv_shape s;
        spawn_to_resize(r, &x.inst[g][0], &x.inst[g][1], &s);
        struct drv_res d = drv_res_zero();
        d.v[DRV_RES_VCPU] = 0.2;
        d.v[DRV_RES_MEM_MIB] = 300;
        assert_int_equal(drv_fake_set_demand(r->hv, uuids[g], &d, &err), 0);
    }
    size_t stale = 0, steps = 0;
    for (; steps < 60 && stale == 0; steps++) {
        assert_int_equal(drv_fake_advance(r->hv, 60000, &err), 0);
        x.armed = true;
        struct drv_control_report rep;
        assert_int_equal(drv_control_step(r->ctl, now_s(r), &rep, &err), 0);
        assert_int_equal(rep.failed, 0);
        stale += rep.stale;
        assert_int_equal(rep.applied + rep.stale, rep.changes);
        /* whatever came first, the backend enforces what the engine holds */
        for (int g = 0; g < 2; g++) {
            struct drv_shape h;
            struct drv_hv_info info;
            held(r, uuids[g], &h);
            assert_int_equal(drv_hv_get_info(r->hv, uuids[g], &info, &err), 0);
            if (!drv_res_eq(h.res, info.shape.res, 1e-6))
                fail_msg("step %zu: %s held at %.3f vCPU, the backend enforces %.3f", steps,
                         uuids[g], h.res.v[DRV_RES_VCPU], info.shape.res.v[DRV_RES_VCPU]);
        }
    }
    assert_true(x.resized > 0);
    assert_int_equal(stale, 1); /* a step with changes for both guests came */
}

struct stepper {
    struct test_control *r;
    int rc;
};

static void *step_thread(void *opaque)
{
    struct stepper *st = opaque;
    struct err *err = NULL;
    struct drv_control_report rep;
    st->rc = drv_control_step(st->r->ctl, now_s(st->r), &rep, &err);
    err_free(err);
    return NULL;
}

/* A step's usage sample waits for a reshape made outside the loop under
 * the apply lock: a backend's sample may set a balloon from the memory in
 * force (libvirt's offset under a stalled unplug), which must not land
 * over a resize's reshape. */
static void test_sample_waits_for_apply_lock(void **state)
{
    struct test_control *r = *state;
    struct drv_instance inst;
    inst_init(&inst, UUID_A, "m1.small", 2, 1024);
    struct drv_shape s;
    spawn(r, &inst, &s);
    drv_control_apply_lock(r->ctl);
    int64_t calls = drv_fake_calls(r->hv);
    struct stepper st = {.r = r, .rc = -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, step_thread, &st), 0);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_int_equal(drv_fake_calls(r->hv), calls); /* not sampled meanwhile */
    drv_control_apply_unlock(r->ctl);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(st.rc, 0);
    assert_true(drv_fake_calls(r->hv) > calls);
}

/* An operator's flat blueprint of `vcpus` and `mem_mib`, model `model`,
 * starting now. */
static struct drv_blueprint *custom_bp(struct test_control *r, double vcpus, double mem_mib,
                                       const char *model)
{
    struct err *err = NULL;
    struct drv_blueprint *bp = drv_blueprint_new(10, 60, now_s(r), &err);
    if (!bp)
        fail_msg("blueprint: %s", err->msg);
    struct drv_res need = drv_res_zero();
    need.v[DRV_RES_VCPU] = vcpus;
    need.v[DRV_RES_MEM_MIB] = mem_mib;
    drv_blueprint_fill_flat(bp, need);
    snprintf(bp->model, sizeof(bp->model), "%s", model);
    return bp;
}

static bool follows(struct test_control *r, const char *uuid, const char *model)
{
    struct err *err = NULL;
    struct drv_blueprint *cur = drv_control_blueprint(r->ctl, uuid, &err);
    if (!cur)
        fail_msg("blueprint of %s: %s", uuid, err->msg);
    bool same = strcmp(cur->model, model) == 0;
    drv_blueprint_free(cur);
    return same;
}

/* A resize to a flavor an operator wrote a blueprint for: the engine
 * admits and follows it as at a build (the shape is the blueprint's, the
 * loop reports it); a resize to a class without one is the predictor's
 * cold start again, the old class's custom blueprint dropped. */
static void test_resize_to_custom_class(void **state)
{
    struct test_control *r = *state;
    struct err *err = NULL;
    struct drv_instance tiny, big;
    inst_init(&tiny, UUID_A, "m1.tiny", 1, 512);
    inst_init(&big, UUID_A, "m1.medium", 2, 2048);
    tiny.booted = big.booted = true; /* no boot allowance: the blueprint's shape */
    struct drv_shape s0, out, h;
    spawn(r, &tiny, &s0);
    tiny.vcpus_defined = big.vcpus_defined = 2;
    tiny.mem_defined_mib = big.mem_defined_mib = 2048;
    struct drv_blueprint *bp = custom_bp(r, 1.25, 1536, "custom:medium");
    assert_int_equal(
        drv_control_resize_reclaiming(r->ctl, &tiny, &big, bp, now_s(r), NULL, &out, NULL, &err),
        0);
    drv_blueprint_free(bp); /* copied */
    assert_true(fabs(out.res.v[DRV_RES_VCPU] - 1.25) < 1e-9);
    assert_true(fabs(out.res.v[DRV_RES_MEM_MIB] - 1536) < 1e-6);
    held(r, UUID_A, &h);
    assert_true(drv_res_eq(h.res, out.res, 1e-9));
    assert_true(follows(r, UUID_A, "custom:medium"));

    /* back to m1.tiny, no blueprint for it: the predictor's again */
    assert_int_equal(drv_control_resize(r->ctl, &big, &tiny, now_s(r), &out, NULL, &err), 0);
    assert_false(follows(r, UUID_A, "custom:medium"));
    assert_true(out.res.v[DRV_RES_VCPU] <= 1.0 + 1e-9);

    /* a blueprint that is not one is refused, the guest held as it was */
    held(r, UUID_A, &h);
    bp = custom_bp(r, 1.0, 256, "custom:bad");
    bp->step_s = 0;
    assert_int_equal(
        drv_control_resize_reclaiming(r->ctl, &tiny, &big, bp, now_s(r), NULL, &out, NULL, &err),
        -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    drv_blueprint_free(bp);
    struct drv_shape h2;
    held(r, UUID_A, &h2);
    assert_true(drv_res_eq(h.res, h2.res, 1e-9));
}

/* A rebuild onto an image an operator wrote a blueprint for: the same
 * flavor, another image -- another class, whose blueprint the engine
 * follows as at a build. */
static void test_rebuild_to_custom_class(void **state)
{
    struct test_control *r = *state;
    struct err *err = NULL;
    struct drv_instance was, now;
    inst_init(&was, UUID_A, "m1.small", 2, 1024);
    inst_init(&now, UUID_A, "m1.small", 2, 1024);
    was.image_ref = (char *)"img-old";
    now.image_ref = (char *)"img-batch";
    was.booted = now.booted = true;
    struct drv_shape s0, out;
    spawn_to_resize(r, &was, &now, &s0);
    assert_false(follows(r, UUID_A, "custom:batch"));
    struct drv_blueprint *bp = custom_bp(r, 0.75, 768, "custom:batch");
    assert_int_equal(
        drv_control_resize_reclaiming(r->ctl, &was, &now, bp, now_s(r), NULL, &out, NULL, &err),
        0);
    drv_blueprint_free(bp);
    assert_true(fabs(out.res.v[DRV_RES_VCPU] - 0.75) < 1e-9);
    assert_true(fabs(out.res.v[DRV_RES_MEM_MIB] - 768) < 1e-6);
    assert_true(follows(r, UUID_A, "custom:batch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resize_down_and_up, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_refused_resize_keeps_the_guest, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_step_change_before_resize_is_dropped, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_sample_waits_for_apply_lock, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_resize_reclaims_members, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_resize_to_custom_class, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_to_custom_class, rig_setup, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
