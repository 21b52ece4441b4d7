/* The engine's boot allowance: a booting guest holds its flavor's vCPUs
 * (what the host has free of them) until it is up and quiet or its time
 * is out, then its blueprint's shape; admission does not count it. */
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

static struct drv_host *host_of(const char *desc, double cpu_ratio)
{
    struct drv_host_limits lim;
    drv_host_limits_default(&lim);
    lim.ratio[DRV_RES_VCPU] = cpu_ratio;
    lim.ratio[DRV_RES_MEM_MIB] = 1.0;
    struct err *err = NULL;
    struct drv_host *h = drv_host_parse(desc, &lim, &err);
    if (!h)
        fail_msg("%s: %s", desc, err->msg);
    return h;
}

/* The defaults: the whole flavor for 180 s at most. */
static struct drv_sculpt *engine_on(const struct drv_host *h)
{
    struct cfg *cfg = cfg_new_defaults();
    struct drv_sculpt_params p;
    drv_sculpt_params_from_cfg(cfg, &p);
    cfg_unref(cfg);
    assert_true(p.boot_share == 1 && p.boot_max_s == 180);
    struct err *err = NULL;
    struct drv_sculpt *e = drv_sculpt_new(h, &p, &err);
    if (!e)
        fail_msg("engine: %s", err->msg);
    return e;
}

/* Place `uuid` (flavor of `vcpus`, blueprint flat at `plan` vCPU) at t;
 * `booted`: a guest already up (a pool member handed over). */
static double place(struct drv_sculpt *e, const char *uuid, int vcpus, double plan, int64_t t,
                    bool booted)
{
    struct drv_sculpt_guest_spec s = test_guest_spec(uuid, vcpus, 1024, 0);
    s.booted = booted;
    struct drv_blueprint *bp = test_bp_flat(60, STEP, t, plan, 512);
    struct drv_shape shape;
    struct err *err = NULL;
    if (drv_sculpt_place(e, &s, bp, t, &shape, NULL, &err) < 0)
        fail_msg("place %s: %s", uuid, err->msg);
    drv_blueprint_free(bp);
    return shape.res.v[DRV_RES_VCPU];
}

static double vcpu_of(struct drv_sculpt *e, const char *uuid)
{
    struct drv_shape s;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_shape(e, uuid, &s, &err), 0);
    return s.res.v[DRV_RES_VCPU];
}

static void step(struct drv_sculpt *e, int64_t t)
{
    struct drv_sculpt_change *ch = NULL;
    size_t n = 0;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_step(e, t, &ch, &n, &err), 0);
    free(ch);
}

static void observe(struct drv_sculpt *e, const char *uuid, double vcpu, int64_t t)
{
    struct drv_res use = drv_res_zero();
    use.v[DRV_RES_VCPU] = vcpu;
    use.v[DRV_RES_MEM_MIB] = 300;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_observe(e, uuid, use, t, &err), 0);
}

/* The newest record of `uuid` with term `term`, or NULL (into *out). */
static const struct drv_sculpt_record *record_of(struct drv_sculpt *e, const char *uuid,
                                                 const char *term, struct drv_sculpt_record *out)
{
    struct drv_sculpt_record r[16];
    size_t n = drv_sculpt_records(e, uuid, r, 16);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].term, term) == 0) {
            *out = r[i];
            return out;
        }
    return NULL;
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

/* A spawned guest gets its flavor's vCPUs above its plan, and says why. */
static void test_placed_with_allowance(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=16", 16);
    autoptr(drv_sculpt) e = engine_on(h);
    assert_true(near(place(e, "a", 2, 0.25, T0, false), 2));
    struct drv_sculpt_record rec;
    assert_non_null(record_of(e, "a", "contiguity", &rec));
    assert_non_null(strstr(rec.text, "boot allowance 2 vCPU over its plan's 0.25"));
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_true(snap->guests[0].boot_until_s == T0 + 180);
    /* a member handed over is up already: its plan alone */
    assert_true(near(place(e, "b", 2, 0.25, T0, true), 0.25));
}

/* Only what the host has free: never another guest's shape. */
static void test_capped_by_free_cpu(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=2,mem_gib=16", 16);
    autoptr(drv_sculpt) e = engine_on(h);
    assert_true(near(place(e, "busy", 2, 1.5, T0, true), 1.5));
    assert_true(near(place(e, "a", 2, 0.2, T0, false), 0.5)); /* 2 - 1.5 */
    /* a second boot gets what is left: its plan */
    assert_true(near(place(e, "b", 1, 0.1, T0, false), 0.1));
    /* the step keeps the others where their blueprints put them: "a"
     * has what both leave (2 - 1.5 - 0.1) */
    step(e, T0 + STEP);
    assert_true(near(vcpu_of(e, "busy"), 1.5));
    assert_true(near(vcpu_of(e, "a"), 0.4));
    assert_true(near(vcpu_of(e, "b"), 0.1));
    /* the busy guest goes: the boots share its room, each within its
     * flavor, none above what the others leave */
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_remove(e, "busy", &err), 0);
    step(e, T0 + 2 * STEP);
    double a = vcpu_of(e, "a"), b = vcpu_of(e, "b");
    assert_true(near(a + b, 2));
    assert_true(a > 0.4 + 1e-9 && a <= 2 && b >= 0.1 && b <= 1);
    struct drv_sculpt_record rec;
    assert_non_null(record_of(e, "a", "boot", &rec));
    assert_non_null(strstr(rec.text, "boot allowance: `vcpu` 0.4 -> "));
}

/* A guest that needs its CPU back from a booting one gets it at the next
 * step: the allowance yields, the other is not held at its floor. */
static void test_yields_to_others(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=2,mem_gib=16", 16);
    autoptr(drv_sculpt) e = engine_on(h);
    assert_true(near(place(e, "a", 2, 0.2, T0, false), 2));
    assert_true(near(place(e, "other", 2, 0.5, T0, true), 0.5));
    /* the other one's blueprint rises to 1.5 */
    autoptr(drv_blueprint) up = test_bp_flat(60, STEP, T0, 1.5, 512);
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_set_blueprint(e, "other", up, &err), 0);
    step(e, T0 + STEP);
    assert_true(near(vcpu_of(e, "other"), 1.5));
    assert_true(near(vcpu_of(e, "a"), 0.5));
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_false(snap->shortage);
    assert_false(snap->guests[0].squeezed || snap->guests[1].squeezed);
}

/* The boot ends when the guest is up (its figures since the boot began)
 * and quiet, and the shape goes back to the plan at once. */
static void test_ends_when_up_and_quiet(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=16", 16);
    autoptr(drv_sculpt) e = engine_on(h);
    assert_true(near(place(e, "a", 1, 0.25, T0, false), 1));
    struct err *err = NULL;
    /* figures from before the boot say nothing */
    assert_int_equal(drv_sculpt_guest_up(e, "a", T0 - 5, &err), 0);
    observe(e, "a", 0.1, T0 + 30);
    step(e, T0 + 30);
    assert_true(near(vcpu_of(e, "a"), 1));
    /* up, but still busy (cloud-init) */
    assert_int_equal(drv_sculpt_guest_up(e, "a", T0 + 40, &err), 0);
    observe(e, "a", 0.8, T0 + 60);
    step(e, T0 + 60);
    assert_true(near(vcpu_of(e, "a"), 1));
    /* quiet: back to the plan, no shrink hold */
    observe(e, "a", 0.05, T0 + 90);
    step(e, T0 + 90);
    assert_true(near(vcpu_of(e, "a"), 0.25));
    struct drv_sculpt_record rec;
    assert_non_null(record_of(e, "a", "boot", &rec));
    assert_int_equal(rec.decision, DRV_SCULPT_DEC_SHRINK);
    assert_non_null(strstr(rec.text, "boot over (the guest is up and quiet)"));
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_true(snap->guests[0].boot_until_s == 0);
    /* and it stays there */
    step(e, T0 + 120);
    assert_true(near(vcpu_of(e, "a"), 0.25));
}

/* Without a sign of life the allowance lasts boot_burst_max_s. */
static void test_ends_on_timeout(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=16", 16);
    autoptr(drv_sculpt) e = engine_on(h);
    assert_true(near(place(e, "a", 1, 0.25, T0, false), 1));
    for (int64_t t = T0 + STEP; t < T0 + 180; t += STEP) {
        observe(e, "a", 0.05, t);
        step(e, t);
        assert_true(near(vcpu_of(e, "a"), 1));
    }
    step(e, T0 + 180);
    assert_true(near(vcpu_of(e, "a"), 0.25));
    struct drv_sculpt_record rec;
    assert_non_null(record_of(e, "a", "boot", &rec));
    assert_non_null(strstr(rec.text, "its time is out"));
}

/* A power-on or reboot starts the allowance again, now. */
static void test_reboot_starts_again(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=16", 16);
    autoptr(drv_sculpt) e = engine_on(h);
    place(e, "a", 2, 0.25, T0, false);
    step(e, T0 + 200); /* timed out */
    assert_true(near(vcpu_of(e, "a"), 0.25));
    struct drv_sculpt_change ch;
    struct err *err = NULL;
    int64_t t = T0 + 1000;
    assert_int_equal(drv_sculpt_boot(e, "a", t, &ch, &err), 1);
    assert_string_equal(ch.uuid, "a");
    assert_true(near(ch.from.res.v[DRV_RES_VCPU], 0.25));
    assert_true(near(ch.to.res.v[DRV_RES_VCPU], 2));
    assert_int_equal(ch.to.vcpus_online, 2);
    assert_non_null(strstr(ch.why, "boot allowance"));
    /* already there: nothing to apply */
    assert_int_equal(drv_sculpt_boot(e, "a", t + 1, &ch, &err), 0);
    /* the step keeps it while it boots, then lets go */
    step(e, t + STEP);
    assert_true(near(vcpu_of(e, "a"), 2));
    assert_int_equal(drv_sculpt_guest_up(e, "a", t + 70, &err), 0);
    observe(e, "a", 0.1, t + 2 * STEP);
    step(e, t + 2 * STEP);
    assert_true(near(vcpu_of(e, "a"), 0.25));
    assert_int_equal(drv_sculpt_boot(e, "nobody", t, &ch, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_free(err);
}

/* Admission counts a booting guest at its plan: a guest that fits the
 * blueprints is admitted whatever boots meanwhile. */
static void test_admission_ignores_allowance(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=2,mem_gib=16", 1.0); /* no overcommit */
    autoptr(drv_sculpt) e = engine_on(h);
    assert_true(near(place(e, "a", 2, 0.5, T0, false), 2));
    assert_true(near(place(e, "b", 2, 1.4, T0, false), 1.4));
    /* the step gives "a" what "b" leaves */
    step(e, T0 + STEP);
    assert_true(near(vcpu_of(e, "a"), 0.6));
    assert_true(near(vcpu_of(e, "b"), 1.4));
}

/* Switched off (share 0 or no time), and bad values refused. */
static void test_off_and_invalid(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=16", 16);
    struct cfg *cfg = cfg_new_defaults();
    struct err *err = NULL;
    assert_int_equal(cfg_set(cfg, "engine", "boot_burst_vcpus", "0.5", &err), 0);
    struct drv_sculpt_params p;
    drv_sculpt_params_from_cfg(cfg, &p);
    assert_true(near(p.boot_share, 0.5));
    assert_int_equal(cfg_set(cfg, "engine", "boot_burst_vcpus", "1.5", &err), -1);
    assert_non_null(strstr(err->msg, "boot_burst_vcpus"));
    err_free(err);
    err = NULL;
    assert_int_equal(cfg_set(cfg, "engine", "boot_burst_vcpus", "half", &err), -1);
    err_free(err);
    err = NULL;
    assert_int_equal(cfg_set(cfg, "engine", "boot_burst_max_s", "-1", &err), -1);
    err_free(err);
    err = NULL;
    cfg_unref(cfg);

    autoptr(drv_sculpt) half = drv_sculpt_new(h, &p, &err);
    assert_non_null(half);
    assert_true(near(place(half, "a", 4, 0.25, T0, false), 2));

    p.boot_share = 0;
    autoptr(drv_sculpt) off = drv_sculpt_new(h, &p, &err);
    assert_true(near(place(off, "a", 4, 0.25, T0, false), 0.25));
    struct drv_sculpt_change ch;
    assert_int_equal(drv_sculpt_boot(off, "a", T0 + 10, &ch, &err), 0);

    p.boot_share = 2;
    assert_null(drv_sculpt_new(h, &p, &err));
    assert_int_equal(err->code, ERR_INVALID);
    err_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placed_with_allowance),
        cmocka_unit_test(test_capped_by_free_cpu),
        cmocka_unit_test(test_yields_to_others),
        cmocka_unit_test(test_ends_when_up_and_quiet),
        cmocka_unit_test(test_ends_on_timeout),
        cmocka_unit_test(test_reboot_starts_again),
        cmocka_unit_test(test_admission_ignores_allowance),
        cmocka_unit_test(test_off_and_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
