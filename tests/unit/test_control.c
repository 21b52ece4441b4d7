/* The control loop with the fake backend: guests admitted by the engine,
 * spawned in their shape, sampled, predicted and reshaped step after step;
 * backend failures reported and retried; the loop's own thread. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
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
#define UUID_C "8f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5d"

struct seen {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int samples, blueprints, applied, failed, steps, begun;
    int64_t last_token;
    char last_failed[DRV_UUID_LEN + 1];
};

static void on_sample(const struct drv_hv_sample *s, void *opaque)
{
    (void)s;
    ((struct seen *)opaque)->samples++;
}

static void on_blueprint(const char *uuid, const struct drv_blueprint *bp, void *opaque)
{
    (void)uuid;
    assert_true(bp->nsteps > 0);
    ((struct seen *)opaque)->blueprints++;
}

/* The journal's side: each change gets a token before the backend sees
 * it, and `change` gets the same one back. */
static int64_t on_apply_begin(const struct drv_sculpt_change *c, void *opaque)
{
    (void)c;
    struct seen *s = opaque;
    s->last_token = 1000 + ++s->begun;
    return s->last_token;
}

static void on_change(const struct drv_sculpt_change *c, int64_t token,
                      const struct drv_hv_reshape_report *rep, const struct err *err,
                      void *opaque)
{
    struct seen *s = opaque;
    assert_int_equal(token, s->last_token);
    if (err) {
        assert_null(rep);
        s->failed++;
        snprintf(s->last_failed, sizeof(s->last_failed), "%s", c->uuid);
    } else {
        assert_non_null(rep);
        s->applied++;
    }
}

static void on_step(const struct drv_control_report *r, void *opaque)
{
    struct seen *s = opaque;
    (void)r;
    pthread_mutex_lock(&s->lock);
    s->steps++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

struct rig {
    struct test_control t; /* on a host of 8 CPUs and 16 GiB */
    struct seen seen;
};

static int rig_setup(void **state)
{
    struct rig *r = xzalloc(sizeof(*r));
    pthread_mutex_init(&r->seen.lock, NULL);
    pthread_cond_init(&r->seen.cond, NULL);
    struct drv_control_callbacks cb = {
        .sample = on_sample,
        .blueprint = on_blueprint,
        .apply_begin = on_apply_begin,
        .change = on_change,
        .step = on_step,
        .opaque = &r->seen,
    };
    const char *const opts[] = {"fake.topology=nodes=1,sockets=1,cores=4,threads=2,mem_mib=16384",
                                NULL};
    test_control_open(opts, &cb, &r->t);
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *r = *state;
    test_control_close(&r->t);
    pthread_cond_destroy(&r->seen.cond);
    pthread_mutex_destroy(&r->seen.lock);
    free(r);
    return 0;
}

static int64_t fake_now_s(struct rig *r)
{
    return (DRV_FAKE_EPOCH_MS + drv_fake_now_ms(r->t.hv)) / 1000;
}

/* Admit through the loop, then spawn in the shape it gives (what the
 * compute manager does). */
static void admit_and_spawn(struct rig *r, const char *uuid, int vcpus, int64_t mem_mb)
{
    struct drv_instance inst;
    memset(&inst, 0, sizeof(inst));
    snprintf(inst.uuid, sizeof(inst.uuid), "%s", uuid);
    inst.name = (char *)"web-1";
    inst.project_id = (char *)"demo";
    inst.flavor.name = (char *)"m1.test";
    inst.flavor.vcpus = vcpus;
    inst.flavor.memory_mb = mem_mb;
    struct drv_shape shape;
    struct err *err = NULL;
    if (drv_control_admit(r->t.ctl, &inst, fake_now_s(r), &shape, NULL, &err) < 0)
        fail_msg("admit %s: %s", uuid, err->msg);
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", uuid);
    spec.shape = shape;
    spec.image.kernel = (char *)"/images/vmlinuz";
    if (drv_hv_spawn(r->t.hv, &spec, &err) < 0)
        fail_msg("spawn %s: %s", uuid, err->msg);
    /* a second admission of the same guest is a conflict */
    assert_int_equal(drv_control_admit(r->t.ctl, &inst, fake_now_s(r), &shape, NULL, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
}

static void demand(struct rig *r, const char *uuid, double vcpu, double mem)
{
    struct drv_res d = drv_res_zero();
    d.v[DRV_RES_VCPU] = vcpu;
    d.v[DRV_RES_MEM_MIB] = mem;
    struct err *err = NULL;
    assert_int_equal(drv_fake_set_demand(r->t.hv, uuid, &d, &err), 0);
}

static struct drv_control_report run_step(struct rig *r)
{
    struct err *err = NULL;
    assert_int_equal(drv_fake_advance(r->t.hv, 60000, &err), 0);
    struct drv_control_report rep;
    assert_int_equal(drv_control_step(r->t.ctl, fake_now_s(r), &rep, &err), 0);
    return rep;
}

/* The backend enforces what the engine holds. */
static void assert_in_sync(struct rig *r, const char *uuid)
{
    struct drv_shape held;
    struct drv_hv_info info;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_shape(r->t.engine, uuid, &held, &err), 0);
    assert_int_equal(drv_hv_get_info(r->t.hv, uuid, &info, &err), 0);
    assert_true(drv_res_eq(held.res, info.shape.res, 1e-6));
    assert_true(drv_cpuset_equal(&held.pcpus, &info.shape.pcpus));
}

static double held(struct rig *r, const char *uuid, enum drv_res_kind k)
{
    struct drv_shape s;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_shape(r->t.engine, uuid, &s, &err), 0);
    return s.res.v[k];
}

static void test_loop_reshapes_toward_use(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 4, 4096);
    admit_and_spawn(r, UUID_B, 2, 2048);
    assert_int_equal(r->seen.blueprints, 2);
    double a0 = held(r, UUID_A, DRV_RES_VCPU), m0 = held(r, UUID_A, DRV_RES_MEM_MIB);
    demand(r, UUID_A, 0.4, 700);  /* mostly idle */
    demand(r, UUID_B, 1.8, 1500); /* busy */
    int changes = 0;
    for (int i = 0; i < 90; i++) {
        struct drv_control_report rep = run_step(r);
        assert_int_equal(rep.guests, 2);
        assert_int_equal(rep.samples, 2);
        assert_int_equal(rep.revised, 2);
        assert_int_equal(rep.failed, 0);
        assert_int_equal(rep.applied, rep.changes);
        changes += (int)rep.changes;
    }
    assert_int_equal(r->seen.samples, 180);
    assert_int_equal(r->seen.applied, changes);
    assert_int_equal(r->seen.begun, changes);
    assert_true(changes > 0);
    /* the idle guest gave back CPU and memory, never below what it uses */
    double a = held(r, UUID_A, DRV_RES_VCPU), m = held(r, UUID_A, DRV_RES_MEM_MIB);
    assert_true(a < a0 && a < 2.0 && a >= 0.4);
    assert_true(m < m0 && m >= 700);
    /* the busy one keeps what it needs */
    assert_true(held(r, UUID_B, DRV_RES_VCPU) >= 1.8);
    assert_in_sync(r, UUID_A);
    assert_in_sync(r, UUID_B);

    /* demand rises: the shape follows within a few steps */
    demand(r, UUID_A, 2.5, 700);
    for (int i = 0; i < 5; i++)
        run_step(r);
    assert_true(held(r, UUID_A, DRV_RES_VCPU) >= 2.5);
    assert_in_sync(r, UUID_A);
}

/* A guest whose memory hot-plug stalled short of its request: the loop
 * holds the engine at what the guest has until it catches up. */
static void test_memory_short(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 2, 4096);
    demand(r, UUID_A, 0.5, 3000);
    for (int i = 0; i < 5; i++)
        run_step(r);
    double m0 = held(r, UUID_A, DRV_RES_MEM_MIB);
    assert_true(m0 >= 3000);
    struct err *err = NULL;
    assert_int_equal(drv_fake_set_mem_short(r->t.hv, UUID_A, 1024, &err), 0);
    for (int i = 0; i < 5; i++) {
        run_step(r);
        assert_true(fabs(held(r, UUID_A, DRV_RES_MEM_MIB) - 1024) < 1e-9);
    }
    /* caught up: the engine grows it back to what it uses */
    assert_int_equal(drv_fake_set_mem_short(r->t.hv, UUID_A, 0, &err), 0);
    for (int i = 0; i < 5; i++)
        run_step(r);
    assert_true(held(r, UUID_A, DRV_RES_MEM_MIB) >= 3000);
    assert_in_sync(r, UUID_A);
    assert_int_equal(drv_fake_set_mem_short(r->t.hv, UUID_A, -1, &err), -1);
    err_clear(&err);
}

/* A booting guest, its memory figures still to come: the loop does not
 * read its balloon as its use (a guest at its limit, whose memory the
 * engine would double step after step), nor teach its predictor that. */
static void test_booting_guest(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 2, 4096);
    demand(r, UUID_A, 0.5, 600);
    for (int i = 0; i < 10; i++)
        run_step(r);
    double m0 = held(r, UUID_A, DRV_RES_MEM_MIB);
    assert_true(m0 < 2048);
    /* rebooted: its driver has yet to report */
    struct err *err = NULL;
    assert_int_equal(drv_fake_set_booting(r->t.hv, UUID_A, true, &err), 0);
    for (int i = 0; i < 5; i++) {
        run_step(r);
        assert_true(held(r, UUID_A, DRV_RES_MEM_MIB) <= m0 + 1e-9);
    }
    /* booted, using 3000 MiB: now it grows */
    assert_int_equal(drv_fake_set_booting(r->t.hv, UUID_A, false, &err), 0);
    demand(r, UUID_A, 0.5, 3000);
    for (int i = 0; i < 5; i++)
        run_step(r);
    assert_true(held(r, UUID_A, DRV_RES_MEM_MIB) >= 3000);
    assert_in_sync(r, UUID_A);
    assert_int_equal(drv_fake_set_booting(r->t.hv, UUID_B, true, &err), -1);
    err_clear(&err);
}

/* The boot allowance through the loop and the backend: the flavor's vCPUs
 * from the spawn until the guest is up (its balloon driver reports, with a
 * use to judge) and quiet; a reboot gives them again, applied at once. */
static void test_boot_allowance(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 2, 2048);
    assert_true(fabs(held(r, UUID_A, DRV_RES_VCPU) - 2) < 1e-9);
    struct err *err = NULL;
    assert_int_equal(drv_fake_set_booting(r->t.hv, UUID_A, true, &err), 0);
    demand(r, UUID_A, 0.1, 300);
    for (int i = 0; i < 2; i++) { /* not up */
        run_step(r);
        assert_true(fabs(held(r, UUID_A, DRV_RES_VCPU) - 2) < 1e-9);
    }
    assert_int_equal(drv_fake_set_booting(r->t.hv, UUID_A, false, &err), 0);
    run_step(r);
    double plan = held(r, UUID_A, DRV_RES_VCPU);
    assert_true(plan < 1);
    assert_in_sync(r, UUID_A);
    /* rebooted: the allowance at once, through the backend */
    assert_int_equal(drv_fake_set_booting(r->t.hv, UUID_A, true, &err), 0);
    assert_int_equal(drv_control_boot(r->t.ctl, UUID_A, fake_now_s(r), &err), 1);
    assert_true(fabs(held(r, UUID_A, DRV_RES_VCPU) - 2) < 1e-9);
    assert_in_sync(r, UUID_A);
    /* a step before it is up keeps it; its time out ends it */
    run_step(r);
    assert_true(fabs(held(r, UUID_A, DRV_RES_VCPU) - 2) < 1e-9);
    for (int i = 0; i < 3; i++)
        run_step(r);
    assert_true(held(r, UUID_A, DRV_RES_VCPU) < 1);
    assert_in_sync(r, UUID_A);
    assert_int_equal(drv_control_boot(r->t.ctl, UUID_B, fake_now_s(r), &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    /* a resize in place does not reboot the guest: no allowance for it */
    struct drv_instance was, to;
    memset(&was, 0, sizeof(was));
    snprintf(was.uuid, sizeof(was.uuid), "%s", UUID_A);
    was.name = (char *)"web-1";
    was.project_id = (char *)"demo";
    was.flavor.name = (char *)"m1.test";
    was.flavor.vcpus = 2;
    was.flavor.memory_mb = 2048;
    to = was;
    to.flavor.name = (char *)"m1.bigger";
    to.flavor.vcpus = 3;
    struct drv_shape s;
    assert_false(drv_sculpt_booting(r->t.engine, UUID_A));
    if (drv_control_resize(r->t.ctl, &was, &to, fake_now_s(r), &s, NULL, &err) < 0)
        fail_msg("resize: %s", err->msg);
    assert_false(drv_sculpt_booting(r->t.engine, UUID_A));
    /* one resized while it boots keeps booting */
    /* (0: its new flavor's cold start holds it as high already) */
    assert_true(drv_control_boot(r->t.ctl, UUID_A, fake_now_s(r), &err) >= 0);
    assert_true(drv_sculpt_booting(r->t.engine, UUID_A));
    if (drv_control_resize(r->t.ctl, &to, &was, fake_now_s(r), &s, NULL, &err) < 0)
        fail_msg("resize back: %s", err->msg);
    assert_true(drv_sculpt_booting(r->t.engine, UUID_A));
    assert_true(fabs(held(r, UUID_A, DRV_RES_VCPU) - 2) < 1e-9);
    assert_false(drv_sculpt_booting(r->t.engine, UUID_B));
}

static void test_backend_failures_are_retried(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 4, 4096);
    demand(r, UUID_A, 0.3, 600);
    for (int i = 0; i < 40; i++)
        run_step(r);
    double before = held(r, UUID_A, DRV_RES_VCPU);
    struct err *err = NULL;
    /* the guest jumps; the first reshape is refused by the backend */
    demand(r, UUID_A, 3.0, 600);
    assert_int_equal(drv_fake_fail_next(r->t.hv, "reshape", ERR_UNAVAILABLE, 1, &err), 0);
    int failed = 0;
    for (int i = 0; i < 6; i++)
        failed += (int)run_step(r).failed;
    assert_int_equal(failed, 1);
    assert_int_equal(r->seen.failed, 1);
    assert_string_equal(r->seen.last_failed, UUID_A);
    assert_true(held(r, UUID_A, DRV_RES_VCPU) > before);
    assert_in_sync(r, UUID_A);

    /* sampling fails: the step reports it and goes on */
    assert_int_equal(drv_fake_fail_next(r->t.hv, "sample", ERR_UNAVAILABLE, 1, &err), 0);
    struct drv_control_report rep = run_step(r);
    assert_true(rep.sample_failed);
    assert_int_equal(rep.samples, 0);
    assert_int_equal(rep.revised, 1);
}

static void test_override_and_forget(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 4, 4096);
    admit_and_spawn(r, UUID_B, 2, 2048);
    demand(r, UUID_A, 0.2, 500);
    run_step(r);
    struct err *err = NULL;
    /* an operator's blueprint: 3 vCPUs for the next 10 minutes */
    autoptr(drv_blueprint) bp = drv_blueprint_new(10, 60, fake_now_s(r), &err);
    struct drv_res need = drv_res_zero();
    need.v[DRV_RES_VCPU] = 3;
    need.v[DRV_RES_MEM_MIB] = 1024;
    drv_blueprint_fill_flat(bp, need);
    assert_int_equal(drv_control_override(r->t.ctl, UUID_A, bp, &err), 0);
    int before = r->seen.blueprints;
    /* A holds its cold-start flavor (4): 3 is a shrink, after the hold */
    for (int i = 0; i < 5; i++)
        run_step(r);
    assert_true(fabs(held(r, UUID_A, DRV_RES_VCPU) - 3) < 1e-9);
    assert_int_equal(r->seen.blueprints, before + 5); /* only B's were revised */
    autoptr(drv_blueprint) cur = drv_control_blueprint(r->t.ctl, UUID_A, &err);
    assert_non_null(cur);
    assert_true(fabs(drv_blueprint_get(cur, 0, DRV_RES_VCPU, DRV_Q_P99) - 3) < 1e-9);
    assert_int_equal(drv_control_override(r->t.ctl, "nope", bp, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);

    assert_int_equal(drv_control_forget(r->t.ctl, UUID_A, &err), 0);
    assert_int_equal(drv_control_forget(r->t.ctl, UUID_A, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    struct drv_control_report rep = run_step(r);
    assert_int_equal(rep.guests, 1);
    assert_int_equal(rep.samples, 1); /* A still runs, but is not ours any more */
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(r->t.engine);
    assert_int_equal(snap->nguests, 1);
}

static void test_adopt_after_restart(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 2, 2048);
    struct drv_shape shape;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_shape(r->t.engine, UUID_A, &shape, &err), 0);
    /* a new loop and engine on the same backend: the guest is taken over as
     * it runs */
    struct drv_sculpt_params p;
    drv_sculpt_params_from_cfg(r->t.cfg, &p);
    autoptr(drv_sculpt) e2 = drv_sculpt_new(r->t.host, &p, &err);
    autoptr(drv_control) c2 =
        drv_control_new(e2, r->t.hv, r->t.fleet, &r->t.pc, &r->t.cm, &r->t.cp, NULL, &err);
    struct drv_instance inst;
    memset(&inst, 0, sizeof(inst));
    snprintf(inst.uuid, sizeof(inst.uuid), "%s", UUID_A);
    inst.flavor.vcpus = 2;
    inst.flavor.memory_mb = 2048;
    assert_int_equal(drv_control_adopt(c2, &inst, &shape, fake_now_s(r), &err), 0);
    struct drv_shape s2;
    assert_int_equal(drv_sculpt_shape(e2, UUID_A, &s2, &err), 0);
    assert_true(drv_res_eq(s2.res, shape.res, 0));
    /* a restart is no boot: the running guest gets no allowance */
    assert_false(drv_sculpt_booting(e2, UUID_A));
    assert_int_equal(drv_fake_advance(r->t.hv, 60000, &err), 0);
    struct drv_control_report rep;
    assert_int_equal(drv_control_step(c2, fake_now_s(r), &rep, &err), 0);
    assert_int_equal(rep.samples, 1);
    assert_int_equal(rep.failed, 0);
    assert_false(drv_sculpt_booting(e2, UUID_A));
    /* the recovery finishing an interrupted power-on (its guest off,
     * adopted so): started, it boots, with its allowance */
    assert_int_equal(drv_hv_power_off(r->t.hv, UUID_A, 0, &err), 0);
    assert_int_equal(drv_hv_power_on(r->t.hv, UUID_A, &err), 0);
    assert_true(drv_control_boot(c2, UUID_A, fake_now_s(r), &err) >= 0);
    assert_true(drv_sculpt_booting(e2, UUID_A));
}

/* The guests the fleet's group `key` has counted. */
static double fleet_guests(struct drv_fleet *f, const char *key)
{
    struct drv_fleet_record *recs = NULL;
    size_t n = 0;
    drv_fleet_export(f, &recs, &n, NULL);
    double guests = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(recs[i].key, key) == 0)
            guests = recs[i].guests;
    free(recs);
    return guests;
}

/* A pool member handed over is a new guest to the fleet: counted among its
 * groups' guests as an admitted one is, where a guest taken over after a
 * restart is not counted again. */
static void test_adopt_new_is_counted(void **state)
{
    struct rig *r = *state;
    struct drv_instance inst;
    memset(&inst, 0, sizeof(inst));
    inst.name = (char *)"pool-1";
    inst.project_id = (char *)"demo";
    inst.flavor.name = (char *)"m1.pool";
    inst.flavor.vcpus = 1;
    inst.flavor.memory_mb = 512;
    struct drv_shape shape;
    memset(&shape, 0, sizeof(shape));
    shape.res.v[DRV_RES_VCPU] = 0.5;
    shape.res.v[DRV_RES_MEM_MIB] = 512;
    shape.vcpus_online = 1;
    shape.vcpus_max = 1;
    shape.mem_max_mib = 512;
    struct err *err = NULL;
    assert_true(fleet_guests(r->t.fleet, "flavor=m1.pool") == 0);

    snprintf(inst.uuid, sizeof(inst.uuid), "%s", UUID_A);
    assert_int_equal(drv_control_adopt_new(r->t.ctl, &inst, &shape, fake_now_s(r), &err), 0);
    assert_true(fleet_guests(r->t.fleet, "flavor=m1.pool") == 1);

    snprintf(inst.uuid, sizeof(inst.uuid), "%s", UUID_B);
    assert_int_equal(drv_control_adopt(r->t.ctl, &inst, &shape, fake_now_s(r), &err), 0);
    assert_true(fleet_guests(r->t.fleet, "flavor=m1.pool") == 1);

    /* held once: a second adoption is a conflict and counts nothing */
    assert_int_equal(drv_control_adopt_new(r->t.ctl, &inst, &shape, fake_now_s(r), &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
    assert_true(fleet_guests(r->t.fleet, "flavor=m1.pool") == 1);
}

/* Only the guests whose predictor state changed since it was marked
 * saved are handed out again. */
static size_t changed(struct rig *r, struct drv_control_state **v)
{
    size_t n = 0, held = 0;
    *v = drv_control_states_changed(r->t.ctl, &n, &held);
    assert_int_equal(held, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal((*v)[i].crc, drv_predictor_state_crc((*v)[i].state, (*v)[i].len));
        assert_true((*v)[i].state && (*v)[i].len > 16);
    }
    return n;
}

static void test_states_changed(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 2, 2048);
    admit_and_spawn(r, UUID_B, 1, 1024);
    run_step(r);
    struct drv_control_state *v;
    assert_int_equal(changed(r, &v), 2); /* nothing saved yet */
    drv_control_states_saved(r->t.ctl, v, 1);
    char rest[DRV_UUID_LEN + 1];
    snprintf(rest, sizeof(rest), "%s", v[1].uuid);
    drv_control_states_free(v, 2);
    assert_int_equal(changed(r, &v), 1);
    assert_string_equal(v[0].uuid, rest);
    drv_control_states_saved(r->t.ctl, v, 1);
    drv_control_states_free(v, 1);
    assert_int_equal(changed(r, &v), 0);
    drv_control_states_free(v, 0);

    /* states marked saved after the guests learnt more: still changed */
    size_t n = 0;
    struct drv_control_state *old = drv_control_states(r->t.ctl, &n);
    assert_int_equal(n, 2);
    run_step(r);
    drv_control_states_saved(r->t.ctl, old, n);
    assert_int_equal(changed(r, &v), 2);
    /* a guest forgotten in between is passed over */
    struct err *err = NULL;
    assert_int_equal(drv_control_forget(r->t.ctl, UUID_A, &err), 0);
    drv_control_states_saved(r->t.ctl, v, 2);
    drv_control_states_free(v, 2);
    drv_control_states_free(old, n);
    size_t held = 0;
    v = drv_control_states_changed(r->t.ctl, &n, &held);
    assert_int_equal(n, 0);
    assert_int_equal(held, 1);
    drv_control_states_free(v, n);
}

/* A guest's predictor state, exported (NULL when not held). */
static struct drv_control_state *state_of(struct rig *r, const char *uuid, size_t *n)
{
    struct drv_control_state *v = drv_control_states(r->t.ctl, n);
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v[i].uuid, uuid) == 0) {
            struct drv_control_state *one = xzalloc(sizeof(*one));
            *one = v[i];
            v[i].state = NULL;
            drv_control_states_free(v, *n);
            *n = 1;
            return one;
        }
    drv_control_states_free(v, *n);
    *n = 0;
    return NULL;
}

/* A guest that leaves (shelve offload) and comes back (unshelve) is
 * admitted again with the predictor it had: its samples go on; a damaged
 * state is no refusal, the guest starts from the fleet. */
static void test_admit_with_saved_state(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    admit_and_spawn(r, UUID_A, 2, 2048);
    for (int i = 0; i < 5; i++) {
        demand(r, UUID_A, 0.5, 800);
        run_step(r);
    }
    size_t n = 0;
    struct drv_control_state *saved = state_of(r, UUID_A, &n);
    assert_non_null(saved);
    assert_true(saved->samples >= 4);
    assert_int_equal(drv_control_forget(r->t.ctl, UUID_A, &err), 0);
    assert_int_equal(drv_hv_destroy(r->t.hv, UUID_A, false, &err), 0);

    struct drv_instance inst;
    memset(&inst, 0, sizeof(inst));
    snprintf(inst.uuid, sizeof(inst.uuid), "%s", UUID_A);
    inst.name = (char *)"web-1";
    inst.project_id = (char *)"demo";
    inst.flavor.name = (char *)"m1.test";
    inst.flavor.vcpus = 2;
    inst.flavor.memory_mb = 2048;
    struct drv_shape shape;
    bool restored = false;
    assert_int_equal(drv_control_admit_state(r->t.ctl, &inst, NULL, fake_now_s(r), NULL,
                                             saved->state, saved->len, &restored, &shape, NULL,
                                             &err),
                     0);
    assert_true(restored);
    size_t m = 0;
    struct drv_control_state *again = state_of(r, UUID_A, &m);
    assert_non_null(again);
    assert_int_equal(again->samples, saved->samples);
    drv_control_states_free(again, 1);

    /* damaged: admitted all the same, from the fleet */
    assert_int_equal(drv_control_forget(r->t.ctl, UUID_A, &err), 0);
    saved->state[saved->len - 1] ^= 0xff;
    assert_int_equal(drv_control_admit_state(r->t.ctl, &inst, NULL, fake_now_s(r), NULL,
                                             saved->state, saved->len, &restored, &shape, NULL,
                                             &err),
                     0);
    assert_false(restored);
    again = state_of(r, UUID_A, &m);
    assert_non_null(again);
    assert_int_equal(again->samples, 0);
    drv_control_states_free(again, 1);
    drv_control_states_free(saved, 1);
}

static void test_thread(void **state)
{
    struct rig *r = *state;
    admit_and_spawn(r, UUID_A, 2, 2048);
    struct err *err = NULL;
    assert_int_equal(drv_control_start(r->t.ctl, &err), 0);
    assert_int_equal(drv_control_start(r->t.ctl, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
    /* the first step runs at once */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&r->seen.lock);
    while (r->seen.steps == 0)
        assert_int_equal(pthread_cond_timedwait(&r->seen.cond, &r->seen.lock, &ts), 0);
    pthread_mutex_unlock(&r->seen.lock);
    /* stopping does not wait out the 60 s period */
    drv_control_stop(r->t.ctl);
    drv_control_stop(r->t.ctl);
    assert_int_equal(r->seen.steps, 1);
}

/* The admission record names the band the engine allocates. */
static bool admit_record_says(struct rig *r, const char *uuid, const char *text)
{
    struct drv_sculpt_record rec[8];
    size_t n = drv_sculpt_records(r->t.engine, uuid, rec, 8);
    for (size_t i = 0; i < n; i++)
        if (rec[i].decision == DRV_SCULPT_DEC_ADMIT)
            return strstr(rec[i].text, text) != NULL;
    fail_msg("no admission record for %s", uuid);
    return false;
}

/* Settings changed at run time reach the engine, the loop and its
 * predictors without a restart. */
static void test_set_config(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    admit_and_spawn(r, UUID_A, 2, 2048);
    assert_true(admit_record_says(r, UUID_A, "band p99")); /* 1 - target_violation_rate */
    for (int i = 0; i < 30; i++) {
        demand(r, UUID_A, 0.5, 800);
        run_step(r);
    }
    /* one guest of the class is not enough history for a cold start: the
     * next one gets its flavor, with no confidence */
    admit_and_spawn(r, UUID_C, 2, 2048);
    autoptr(drv_blueprint) bp_c = drv_control_blueprint(r->t.ctl, UUID_C, &err);
    assert_true(bp_c->confidence == 0);

    /* a violation now costs what the allocation does (the critical ratio
     * v / (v + p) is one half); one guest of a class is history enough;
     * a step every second */
    autocfg next = cfg_dup(r->t.cfg);
    assert_int_equal(cfg_set(next, "cost", "violation_factor", "1", &err), 0);
    assert_int_equal(cfg_set(next, "predict", "fleet_min_guests", "1", &err), 0);
    assert_int_equal(cfg_set(next, "engine", "step_interval", "1", &err), 0);
    struct drv_sculpt_params sp;
    drv_sculpt_params_from_cfg(next, &sp);
    assert_int_equal(drv_sculpt_set_params(r->t.engine, &sp, &err), 0);
    struct drv_control_config cc;
    drv_control_config_from_cfg(next, &cc);
    drv_fleet_set_config(r->t.fleet, &cc.predict);
    assert_int_equal(drv_control_set_config(r->t.ctl, &cc.predict, &cc.cost, &cc.params, &err), 0);
    struct drv_sculpt_params now;
    drv_sculpt_get_params(r->t.engine, &now);
    assert_true(fabs(now.cost.violation[DRV_RES_VCPU] - now.cost.price[DRV_RES_VCPU]) < 1e-12);

    admit_and_spawn(r, UUID_B, 2, 2048);
    assert_true(admit_record_says(r, UUID_B, "band p50"));
    autoptr(drv_blueprint) bp_b = drv_control_blueprint(r->t.ctl, UUID_B, &err);
    assert_true(bp_b->confidence > 0);
    assert_non_null(bp_b->alloc);
    assert_true(bp_b->alloc[DRV_RES_VCPU] < 1.5); /* from A's half a vCPU, not the flavor */

    /* bad values are refused and change nothing */
    struct drv_control_params bad = cc.params;
    bad.bp_step_s = 0;
    assert_int_equal(drv_control_set_config(r->t.ctl, NULL, NULL, &bad, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    struct drv_sculpt_params badp = sp;
    badp.hysteresis = 2;
    assert_int_equal(drv_sculpt_set_params(r->t.engine, &badp, &err), -1);
    err_clear(&err);
    drv_sculpt_get_params(r->t.engine, &now);
    assert_true(now.hysteresis < 1);

    /* the loop's thread takes the new period: several steps in a few
     * seconds where the default (60 s) would give one */
    int before = r->seen.steps;
    assert_int_equal(drv_control_start(r->t.ctl, &err), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&r->seen.lock);
    while (r->seen.steps < before + 3)
        assert_int_equal(pthread_cond_timedwait(&r->seen.cond, &r->seen.lock, &ts), 0);
    pthread_mutex_unlock(&r->seen.lock);
    drv_control_stop(r->t.ctl);
}

/* A custom blueprint admitted with the guest is what the engine follows,
 * and what the loop reports, until its horizon ends. */
static void test_admit_with_custom(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    autoptr(drv_blueprint) bp = drv_blueprint_new(10, 60, fake_now_s(r), &err);
    struct drv_res need = drv_res_zero();
    need.v[DRV_RES_VCPU] = 1.25;
    need.v[DRV_RES_MEM_MIB] = 1024;
    drv_blueprint_fill_flat(bp, need);
    snprintf(bp->model, sizeof(bp->model), "custom:batch");
    struct drv_instance inst;
    memset(&inst, 0, sizeof(inst));
    snprintf(inst.uuid, sizeof(inst.uuid), "%s", UUID_A);
    inst.flavor.name = (char *)"m1.test";
    inst.flavor.vcpus = 4;
    inst.flavor.memory_mb = 4096;
    inst.booted = true; /* no boot allowance: the shape is the blueprint's */
    struct drv_shape shape;
    assert_int_equal(
        drv_control_admit_with(r->t.ctl, &inst, bp, fake_now_s(r), &shape, NULL, &err), 0);
    assert_true(fabs(shape.res.v[DRV_RES_VCPU] - 1.25) < 1e-9);
    assert_int_equal(r->seen.blueprints, 0); /* the caller records where it came from */
    autoptr(drv_blueprint) cur = drv_control_blueprint(r->t.ctl, UUID_A, &err);
    assert_string_equal(cur->model, "custom:batch");
    assert_true(admit_record_says(r, UUID_A, "custom:batch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loop_reshapes_toward_use, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_booting_guest, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_boot_allowance, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_memory_short, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_backend_failures_are_retried, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_override_and_forget, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_adopt_after_restart, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_adopt_new_is_counted, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_states_changed, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_admit_with_saved_state, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_thread, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_set_config, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_admit_with_custom, rig_setup, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
