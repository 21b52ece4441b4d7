/* The sculpting engine on small hosts with hand-made blueprints whose
 * answers are known. */
#include <math.h>
#include <pthread.h>
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

static struct drv_host *host_of(const char *desc, double cpu_ratio, double mem_ratio)
{
    struct drv_host_limits lim;
    drv_host_limits_default(&lim);
    lim.ratio[DRV_RES_VCPU] = cpu_ratio;
    lim.ratio[DRV_RES_MEM_MIB] = mem_ratio;
    struct err *err = NULL;
    struct drv_host *h = drv_host_parse(desc, &lim, &err);
    if (!h)
        fail_msg("%s: %s", desc, err->msg);
    return h;
}

static struct drv_sculpt_params params(void)
{
    struct cfg *cfg = cfg_new_defaults();
    struct drv_sculpt_params p;
    drv_sculpt_params_from_cfg(cfg, &p);
    cfg_unref(cfg);
    /* the steady state: the boot allowance's own tests turn it on */
    p.boot_share = 0;
    return p;
}

static struct drv_sculpt *engine(const struct drv_host *h, const struct drv_sculpt_params *p)
{
    struct err *err = NULL;
    struct drv_sculpt *e = drv_sculpt_new(h, p, &err);
    if (!e)
        fail_msg("engine: %s", err->msg);
    return e;
}

/* A blueprint of n steps from T0 whose CPU bands are given per step by
 * cpu(step) (p50, p90, p99) and memory flat at mem MiB. */
typedef void (*band_fn)(int32_t step, double out[3]);

static struct drv_blueprint *bp_of(int32_t n, band_fn cpu, double mem)
{
    struct err *err = NULL;
    struct drv_blueprint *bp = drv_blueprint_new(n, STEP, T0, &err);
    assert_non_null(bp);
    for (int32_t s = 0; s < n; s++) {
        double b[3];
        cpu(s, b);
        for (int q = 0; q < DRV_Q_LAST; q++) {
            drv_blueprint_set(bp, s, DRV_RES_VCPU, (enum drv_quantile)q, b[q]);
            drv_blueprint_set(bp, s, DRV_RES_MEM_MIB, (enum drv_quantile)q, mem);
        }
    }
    bp->confidence = 0.8;
    for (int k = 0; k < DRV_RES_LAST; k++)
        bp->res_confidence[k] = 0.8;
    snprintf(bp->model, sizeof(bp->model), "test");
    return bp;
}

static struct drv_blueprint *bp_flat(int32_t n, double cpu, double mem)
{
    return test_bp_flat(n, STEP, T0, cpu, mem);
}

static struct drv_sculpt_guest_spec spec_of(const char *uuid, int vcpus, double mem_mib,
                                            int priority)
{
    return test_guest_spec(uuid, vcpus, mem_mib, priority);
}

static void place_ok(struct drv_sculpt *e, const char *uuid, int vcpus, double mem, int priority,
                     struct drv_blueprint *bp, struct drv_shape *shape)
{
    struct drv_sculpt_guest_spec s = spec_of(uuid, vcpus, mem, priority);
    struct drv_shape local;
    struct err *err = NULL;
    if (drv_sculpt_place(e, &s, bp, T0, shape ? shape : &local, NULL, &err) < 0)
        fail_msg("place %s: %s", uuid, err->msg);
    drv_blueprint_free(bp);
}

static size_t step(struct drv_sculpt *e, int64_t t, struct drv_sculpt_change **ch)
{
    size_t n = 0;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_step(e, t, ch, &n, &err), 0);
    return n;
}

static double shape_of(struct drv_sculpt *e, const char *uuid, enum drv_res_kind k)
{
    struct drv_shape s;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_shape(e, uuid, &s, &err), 0);
    return s.res.v[k];
}

/* ---- admission ---- */

static void rise_at_20(int32_t s, double b[3])
{
    double x = s < 20 ? 2 : 6; /* fits now, not in 20 minutes */
    b[0] = b[1] = b[2] = x;
}

static void test_admit_over_horizon(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=32", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 4, 4096, 0, bp_flat(30, 4, 2048), NULL);

    struct drv_sculpt_guest_spec s = spec_of("b", 8, 4096, 0);
    autoptr(drv_blueprint) bp = bp_of(30, rise_at_20, 2048);
    struct drv_sculpt_refusal why;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_admit(e, &s, bp, T0, &why, &err), -1);
    assert_int_equal(err->code, ERR_CAPACITY);
    assert_int_equal(why.res, DRV_RES_VCPU);
    assert_int_equal(why.step, 20);
    assert_true(why.at_s == T0 + 20 * STEP);
    assert_true(fabs(why.need - 10) < 1e-9);
    assert_true(fabs(why.limit - 8) < 1e-9);
    assert_true(fabs(why.by - 2) < 1e-9);
    assert_int_equal(why.rule, DRV_SCULPT_RULE_CEILING);
    assert_non_null(strstr(why.text, "in 1200 s"));
    assert_non_null(strstr(err->msg, "`vcpu`"));
    err_clear(&err);

    /* place refuses the same way and records it */
    struct drv_shape shape;
    assert_int_equal(drv_sculpt_place(e, &s, bp, T0, &shape, NULL, &err), -1);
    assert_int_equal(err->code, ERR_CAPACITY);
    err_clear(&err);
    struct drv_sculpt_record r[4];
    assert_int_equal(drv_sculpt_records(e, "b", r, 4), 1);
    assert_int_equal(r[0].decision, DRV_SCULPT_DEC_REFUSE);
    assert_string_equal(r[0].term, "ceiling");

    /* the same blueprint twenty minutes shorter fits */
    autoptr(drv_blueprint) short_bp = bp_of(20, rise_at_20, 2048);
    assert_int_equal(drv_sculpt_admit(e, &s, short_bp, T0, NULL, &err), 0);
    /* and a guest larger than the host is refused for its size */
    struct drv_sculpt_guest_spec big = spec_of("c", 16, 4096, 0);
    autoptr(drv_blueprint) big_bp = bp_flat(30, 12, 1024);
    assert_int_equal(drv_sculpt_admit(e, &big, big_bp, T0, &why, &err), -1);
    assert_int_equal(why.rule, DRV_SCULPT_RULE_SIZE);
    err_clear(&err);
}

static void wide(int32_t s, double b[3])
{
    (void)s;
    b[0] = 0.5; /* usually idle, sometimes all of its 4 vCPUs */
    b[1] = 2.5;
    b[2] = 4;
}

static void test_admit_risk_limits_overcommit(void **state)
{
    (void)state;
    /* a 16x CPU ceiling, but bursty guests: the host SLO decides */
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=64", 16.0, 1.5);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    int placed = 0;
    struct err *err = NULL;
    struct drv_sculpt_refusal why;
    for (int i = 0; i < 32; i++) {
        char uuid[16];
        snprintf(uuid, sizeof(uuid), "g%d", i);
        struct drv_sculpt_guest_spec s = spec_of(uuid, 4, 1024, 0);
        autoptr(drv_blueprint) bp = bp_of(30, wide, 512);
        struct drv_shape shape;
        if (drv_sculpt_place(e, &s, bp, T0, &shape, &why, &err) < 0) {
            err_clear(&err);
            break;
        }
        placed++;
    }
    /* more than without overcommit (2 at 4 vCPUs each), far fewer than the
     * ceiling (32): expected use + z sigma must stay within 8 CPUs */
    assert_true(placed > 2);
    assert_true(placed < 16);
    assert_int_equal(why.rule, DRV_SCULPT_RULE_RISK);
    assert_int_equal(why.res, DRV_RES_VCPU);
    assert_true(why.need > 8 && fabs(why.limit - 8) < 1e-9);
}

static void test_admit_never_refuses_what_fits_physically(void **state)
{
    (void)state;
    /* bands wide enough that the risk rule alone would refuse it, but its
     * shape fits in the CPUs: shapes cap use, no risk to take */
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=64", 16.0, 1.5);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    struct drv_shape shape;
    place_ok(e, "big", 4, 1024, 0, bp_of(30, wide, 512), &shape);
    assert_true(fabs(shape.res.v[DRV_RES_VCPU] - 4) < 1e-12);
    /* a second one now overcommits, and the bands say that is too risky */
    struct drv_sculpt_guest_spec s = spec_of("next", 4, 1024, 0);
    autoptr(drv_blueprint) bp = bp_of(30, wide, 512);
    struct drv_sculpt_refusal why;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_admit(e, &s, bp, T0, &why, &err), -1);
    assert_int_equal(why.rule, DRV_SCULPT_RULE_RISK);
    assert_int_equal(why.step, 0);
    err_clear(&err);
}

static void quiet(int32_t s, double b[3])
{
    (void)s;
    b[0] = 0.5;
    b[1] = 0.8;
    b[2] = 1;
}

static void test_admit_longrun(void **state)
{
    (void)state;
    /* quiet now, but over the days they stay these guests run up to 3.5
     * of their 4 vCPUs: the host takes what fits their long run */
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=64", 16.0, 1.5);
    struct drv_sculpt_params p = params();
    assert_true(fabs(p.longrun_quantile - (1 - p.host_violation_rate)) < 1e-12);
    autoptr(drv_sculpt) e = engine(h, &p);
    struct drv_sculpt_refusal why;
    struct err *err = NULL;
    int placed = 0;
    for (int i = 0; i < 8; i++) {
        char uuid[16];
        snprintf(uuid, sizeof(uuid), "g%d", i);
        struct drv_sculpt_guest_spec s = spec_of(uuid, 4, 1024, 0);
        autoptr(drv_blueprint) bp = bp_of(30, quiet, 512);
        bp->longrun[DRV_RES_VCPU][DRV_Q_P50] = 0.5;
        bp->longrun[DRV_RES_VCPU][DRV_Q_P90] = 3;
        bp->longrun[DRV_RES_VCPU][DRV_Q_P99] = 3.5;
        bp->longrun_mean[DRV_RES_VCPU] = 1;
        struct drv_shape shape;
        if (drv_sculpt_place(e, &s, bp, T0, &shape, &why, &err) < 0) {
            assert_int_equal(err->code, ERR_CAPACITY);
            err_clear(&err);
            break;
        }
        placed++;
    }
    /* two at 3.5 each fit 8 CPUs, a third would reach 10.5 */
    assert_int_equal(placed, 2);
    assert_int_equal(why.rule, DRV_SCULPT_RULE_LONGRUN);
    assert_int_equal(why.res, DRV_RES_VCPU);
    assert_true(fabs(why.need - 10.5) < 1e-9 && fabs(why.limit - 8) < 1e-9);
    assert_non_null(strstr(why.text, "long-run"));

    /* at the p90 an operator may choose, 3 each: still two (9 > 8) */
    p.longrun_quantile = 0.9;
    autoptr(drv_sculpt) e9 = engine(h, &p);
    struct drv_sculpt_guest_spec s = spec_of("a", 4, 1024, 0);
    autoptr(drv_blueprint) bp = bp_of(30, quiet, 512);
    bp->longrun[DRV_RES_VCPU][DRV_Q_P50] = 0.5;
    bp->longrun[DRV_RES_VCPU][DRV_Q_P90] = 3;
    bp->longrun[DRV_RES_VCPU][DRV_Q_P99] = 3.5;
    struct drv_shape shape;
    assert_int_equal(drv_sculpt_place(e9, &s, bp, T0, &shape, NULL, &err), 0);
    snprintf(s.uuid, sizeof(s.uuid), "b");
    assert_int_equal(drv_sculpt_place(e9, &s, bp, T0, &shape, NULL, &err), 0);
    snprintf(s.uuid, sizeof(s.uuid), "c");
    assert_int_equal(drv_sculpt_admit(e9, &s, bp, T0, &why, &err), -1);
    assert_true(fabs(why.need - 9) < 1e-9);
    err_clear(&err);
    /* a guest whose blueprint has no long run is judged on its horizon */
    autoptr(drv_blueprint) plain = bp_of(30, quiet, 512);
    assert_int_equal(drv_sculpt_admit(e9, &s, plain, T0, NULL, &err), 0);
    /* a bad long run is refused as input */
    bp->longrun[DRV_RES_VCPU][DRV_Q_P99] = 1; /* below its p90 */
    assert_int_equal(drv_sculpt_admit(e9, &s, bp, T0, NULL, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

static void test_force(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 4, 4096, 0, bp_flat(30, 1, 1024), NULL);
    struct drv_res r = drv_res_zero();
    r.v[DRV_RES_VCPU] = 3.5;
    r.v[DRV_RES_MEM_MIB] = 9000;   /* clipped to the flavor */
    r.v[DRV_RES_NET_IN_MBPS] = 50; /* not limited for this guest: stays 0 */
    struct drv_sculpt_change c;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_force(e, "a", r, T0 + 5, &c, &err), 1);
    assert_true(fabs(c.to.res.v[DRV_RES_VCPU] - 3.5) < 1e-12);
    assert_true(fabs(c.to.res.v[DRV_RES_MEM_MIB] - 4096) < 1e-12);
    assert_true(c.to.res.v[DRV_RES_NET_IN_MBPS] == 0);
    assert_int_equal(c.to.vcpus_online, 4);
    assert_int_equal(drv_cpuset_count(&c.to.pcpus), 4);
    assert_int_equal(drv_sculpt_force(e, "a", r, T0 + 6, NULL, &err), 0);
    assert_int_equal(drv_sculpt_force(e, "zz", r, T0 + 6, NULL, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    struct drv_sculpt_record rec;
    assert_int_equal(drv_sculpt_records(e, "a", &rec, 1), 1);
    assert_string_equal(rec.term, "operator");
}

/* A guest that did not plug the memory asked (memory hot-plug): the
 * engine counts what it holds and asks no more until it is lifted. */
static void test_memory_hold(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 4, 4096, 0, bp_flat(60, 1, 2048), NULL);
    double asked = shape_of(e, "a", DRV_RES_MEM_MIB);
    assert_true(asked > 1024);
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_hold_memory(e, "a", 1024, &err), 1);
    assert_true(fabs(shape_of(e, "a", DRV_RES_MEM_MIB) - 1024) < 1e-9);
    assert_int_equal(drv_sculpt_hold_memory(e, "a", 1024, &err), 0);
    struct drv_sculpt_change *ch = NULL;
    for (int i = 1; i <= 3; i++) { /* the blueprint still wants more: not asked */
        size_t n = step(e, T0 + i * STEP, &ch);
        for (size_t j = 0; j < n; j++)
            assert_true(ch[j].to.res.v[DRV_RES_MEM_MIB] <= 1024 + 1e-9);
        free(ch);
        ch = NULL;
    }
    assert_true(fabs(shape_of(e, "a", DRV_RES_MEM_MIB) - 1024) < 1e-9);
    /* caught up: lifted, and the engine grows it to its blueprint again */
    assert_int_equal(drv_sculpt_hold_memory(e, "a", 0, &err), 1);
    assert_int_equal(drv_sculpt_hold_memory(e, "a", 0, &err), 0);
    size_t n = step(e, T0 + 4 * STEP, &ch);
    assert_int_equal(n, 1);
    assert_true(fabs(ch[0].to.res.v[DRV_RES_MEM_MIB] - asked) < 1e-9);
    free(ch);
    assert_int_equal(drv_sculpt_hold_memory(e, "zz", 512, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(drv_sculpt_hold_memory(e, "a", -1, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

/* ---- placement ---- */

static void test_contiguity_preference(void **state)
{
    (void)state;
    /* one node, two L3 domains of 4 cores x 2 threads */
    autoptr(drv_host) h = host_of("cpus=16,mem_gib=64,threads=2,l3=2", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    const char *names[] = {"a", "b", "c", "d", "e"};
    int vcpus[] = {2, 4, 4, 2, 4};
    struct drv_shape shape[5];
    for (int i = 0; i < 5; i++)
        place_ok(e, names[i], vcpus[i], 2048, 0, bp_flat(30, vcpus[i], 1024), &shape[i]);
    /* c does not straddle the two L3 domains though 2 CPUs were free on
     * each side: it takes a whole run of the second, d fills the first */
    char buf[64];
    assert_string_equal(drv_cpuset_format(&shape[2].pcpus, buf, sizeof(buf)), "4-5,12-13");
    assert_string_equal(drv_cpuset_format(&shape[3].pcpus, buf, sizeof(buf)), "3,11");
    for (int i = 0; i < 5; i++) {
        assert_int_equal(drv_cpuset_count(&shape[i].pcpus), vcpus[i]);
        assert_int_equal(shape[i].vcpus_online, vcpus[i]);
        assert_int_equal(shape[i].numa_node, 0);
    }
    /* whole CPUs each: no CPU shared, every guest in one run of one L3 */
    for (int i = 0; i < 5; i++) {
        assert_true(fabs(drv_host_contiguity(h, &shape[i].pcpus) - 1.0) < 1e-12);
        for (int j = 0; j < i; j++)
            for (int c = 0; c < 16; c++)
                assert_false(drv_cpuset_has(&shape[i].pcpus, c) &&
                             drv_cpuset_has(&shape[j].pcpus, c));
    }
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_true(fabs(snap->contiguity - 1.0) < 1e-12);
    assert_int_equal(snap->nguests, 5);
    for (int c = 0; c < 16; c++)
        assert_true(fabs(snap->cpu_load[c] - 1.0) < 1e-9);
}

static void test_fractional_shape(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    struct drv_shape s;
    place_ok(e, "a", 4, 4096, 0, bp_flat(30, 1.35, 1536), &s);
    assert_true(fabs(s.res.v[DRV_RES_VCPU] - 1.35) < 1e-12);
    assert_int_equal(s.vcpus_online, 2);
    assert_int_equal(s.vcpus_max, 4);
    assert_true(fabs(s.res.v[DRV_RES_MEM_MIB] - 1536) < 1e-12);
    assert_true(fabs(s.mem_max_mib - 4096) < 1e-12);
    assert_int_equal(drv_cpuset_count(&s.pcpus), 2);
    struct err *err = NULL;
    assert_int_equal(drv_shape_validate(&s, &err), 0);
    /* quota: 0.675 of each online vCPU */
    assert_int_equal(drv_shape_vcpu_quota_us(&s, 100000), 67500);
}

/* ---- reshaping ---- */

static void grown_early(int32_t s, double b[3])
{
    (void)s;
    b[0] = 1.5;
    b[1] = 2.5;
    b[2] = 3;
}

static void test_hysteresis_and_hold(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params(); /* hysteresis 10%, hold 3 */
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 4, 4096, 0, bp_flat(60, 2, 1024), NULL);
    struct err *err = NULL;
    struct drv_sculpt_change *ch = NULL;

    /* within the dead band: nothing moves */
    autoptr(drv_blueprint) near = bp_flat(60, 1.9, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e, "a", near, &err), 0);
    for (int i = 1; i <= 6; i++) {
        assert_int_equal(step(e, T0 + i * STEP, &ch), 0);
        free(ch);
    }
    /* well below: a shrink only once it held for more than 3 steps */
    autoptr(drv_blueprint) low = bp_flat(60, 1.0, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e, "a", low, &err), 0);
    for (int i = 7; i <= 9; i++) {
        assert_int_equal(step(e, T0 + i * STEP, &ch), 0);
        free(ch);
    }
    assert_int_equal(step(e, T0 + 10 * STEP, &ch), 1);
    assert_string_equal(ch[0].uuid, "a");
    assert_int_equal(ch[0].kind, DRV_SCULPT_CHANGE_RESHAPE);
    assert_true(fabs(ch[0].from.res.v[DRV_RES_VCPU] - 2) < 1e-12);
    assert_true(fabs(ch[0].to.res.v[DRV_RES_VCPU] - 1) < 1e-12);
    assert_int_equal(ch[0].to.vcpus_online, 1);
    assert_non_null(strstr(ch[0].why, "shrank `vcpu`"));
    free(ch);
    /* growth is immediate */
    autoptr(drv_blueprint) high = bp_flat(60, 3, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e, "a", high, &err), 0);
    assert_int_equal(step(e, T0 + 11 * STEP, &ch), 1);
    assert_true(fabs(ch[0].to.res.v[DRV_RES_VCPU] - 3) < 1e-12);
    assert_int_equal(ch[0].to.vcpus_online, 3);
    assert_int_equal(drv_cpuset_count(&ch[0].to.pcpus), 3);
    free(ch);
    struct drv_sculpt_record r[8];
    size_t n = drv_sculpt_records(e, "a", r, 8);
    assert_true(n >= 3);
    assert_int_equal(r[0].decision, DRV_SCULPT_DEC_GROW);
    assert_string_equal(r[0].term, "violation");
    assert_true(fabs(r[0].quantile - 0.99) < 1e-9);
    assert_int_equal(r[1].decision, DRV_SCULPT_DEC_SHRINK);
    assert_string_equal(r[1].term, "price");
}

/* A flat blueprint whose allocation (what the cost model picked) is the
 * same cpu and mem at every step. */
static struct drv_blueprint *bp_flat_alloc(int32_t n, double cpu, double mem)
{
    struct drv_blueprint *bp = bp_flat(n, cpu, mem);
    struct drv_res a = drv_res_zero();
    a.v[DRV_RES_VCPU] = cpu;
    a.v[DRV_RES_MEM_MIB] = mem;
    for (int32_t s = 0; s < n; s++)
        drv_blueprint_set_alloc(bp, s, a);
    return bp;
}

/* A blueprint allocation creeping up by a hair is no reshape; once the
 * creep adds up to half a percent it is, and use pressing on the limit
 * takes any growth at once. */
static void test_tiny_growth_waits(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 2, 2048, 0, bp_flat_alloc(30, 0.0811, 1024), NULL);
    struct err *err = NULL;
    struct drv_sculpt_change *ch = NULL;
    double creep[] = {0.08111, 0.0812, 0.0814, 0.0816};
    size_t want[] = {0, 0, 0, 1}; /* 0.0816 is 0.6% above 0.0811 */
    for (int i = 0; i < 4; i++) {
        autoptr(drv_blueprint) r = bp_flat_alloc(30, creep[i], 1024);
        assert_int_equal(drv_sculpt_set_blueprint(e, "a", r, &err), 0);
        assert_int_equal(step(e, T0 + (i + 1) * STEP, &ch), want[i]);
        free(ch);
    }
    assert_true(fabs(shape_of(e, "a", DRV_RES_VCPU) - 0.0816) < 1e-12);
    /* pressing on the limit: a growth of a hair is taken */
    autoptr(drv_blueprint) r = bp_flat_alloc(30, 0.08161, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e, "a", r, &err), 0);
    struct drv_res use = drv_res_zero();
    use.v[DRV_RES_VCPU] = 0.0816;
    use.v[DRV_RES_MEM_MIB] = 512;
    assert_int_equal(drv_sculpt_observe(e, "a", use, T0 + 5 * STEP, &err), 0);
    assert_int_equal(step(e, T0 + 5 * STEP, &ch), 1);
    free(ch);
}

/* One rule of "pressing on the limit" (use at SCULPT_PRESSING, 99%, of
 * the shape) for both things it decides: probing by doubling and taking a
 * growth under half a percent at once.  A guest 1/500 below its ceiling
 * whose use is at 99.5% of its shape grows to the ceiling now; one at 98%
 * waits. */
static void test_pressing_takes_tiny_growth(void **state)
{
    (void)state;
    static const struct {
        double use;
        size_t changes;
        double vcpu;
    } cases[] = {{0.9930, 1, 1.0}, {0.9780, 0, 0.998}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
        struct drv_sculpt_params p = params();
        autoptr(drv_sculpt) e = engine(h, &p);
        place_ok(e, "a", 1, 2048, 0, bp_flat_alloc(30, 0.998, 1024), NULL);
        assert_true(fabs(shape_of(e, "a", DRV_RES_VCPU) - 0.998) < 1e-12);
        struct drv_res use = drv_res_zero();
        use.v[DRV_RES_VCPU] = cases[i].use;
        use.v[DRV_RES_MEM_MIB] = 512;
        struct err *err = NULL;
        assert_int_equal(drv_sculpt_observe(e, "a", use, T0 + STEP, &err), 0);
        struct drv_sculpt_change *ch = NULL;
        assert_int_equal(step(e, T0 + STEP, &ch), cases[i].changes);
        free(ch);
        assert_true(fabs(shape_of(e, "a", DRV_RES_VCPU) - cases[i].vcpu) < 1e-12);
    }
}

static void test_reshape_price_skips_small_changes(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    p.shrink_hold_steps = 0;
    /* a shrink of 1 vCPU saves 0.04 x 0.5 h = 0.02: a reshape costing more
     * is not worth it, one costing less is */
    p.cost.reshape = 0.03;
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 4, 4096, 0, bp_flat(60, 2, 1024), NULL);
    struct err *err = NULL;
    struct drv_sculpt_change *ch = NULL;
    autoptr(drv_blueprint) low = bp_flat(60, 1, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e, "a", low, &err), 0);
    assert_int_equal(step(e, T0 + STEP, &ch), 0);
    free(ch);
    struct drv_sculpt_record r[2];
    assert_int_equal(drv_sculpt_records(e, "a", r, 1), 1);
    assert_int_equal(r[0].decision, DRV_SCULPT_DEC_SKIP);
    assert_string_equal(r[0].term, "reshape");
    assert_true(fabs(r[0].cost - 0.02) < 1e-9);

    p.cost.reshape = 0.01;
    autoptr(drv_sculpt) e2 = engine(h, &p);
    place_ok(e2, "a", 4, 4096, 0, bp_flat(60, 2, 1024), NULL);
    autoptr(drv_blueprint) low2 = bp_flat(60, 1, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e2, "a", low2, &err), 0);
    assert_int_equal(step(e2, T0 + STEP, &ch), 1);
    free(ch);
}

static void test_observed_use_overrides_blueprint(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    p.cost.reshape = 1e6; /* even a prohibitive price does not stop it */
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 4, 4096, 0, bp_flat(60, 1, 1024), NULL);
    struct err *err = NULL;
    struct drv_res use = drv_res_zero();
    use.v[DRV_RES_VCPU] = 1.0;     /* pressing on its 1 vCPU limit */
    use.v[DRV_RES_MEM_MIB] = 2000; /* and using more memory than planned */
    assert_int_equal(drv_sculpt_observe(e, "a", use, T0 + STEP, &err), 0);
    struct drv_sculpt_change *ch = NULL;
    assert_int_equal(step(e, T0 + STEP, &ch), 1);
    /* at its limit the need behind the cap is unknown: doubled */
    assert_true(fabs(ch[0].to.res.v[DRV_RES_VCPU] - 2) < 1e-9);
    /* memory: above the working set plus margin (the floor) */
    assert_true(fabs(ch[0].to.res.v[DRV_RES_MEM_MIB] - 2200) < 1e-9);
    free(ch);
    struct drv_sculpt_record r[2];
    assert_int_equal(drv_sculpt_records(e, "a", r, 1), 1);
    assert_string_equal(r[0].term, "observed");
    /* below its limit but above the blueprint: use plus the margin */
    use.v[DRV_RES_VCPU] = 1.5;
    assert_int_equal(drv_sculpt_observe(e, "a", use, T0 + 2 * STEP, &err), 0);
    assert_int_equal(step(e, T0 + 2 * STEP, &ch), 0); /* 1.65 is within the dead band */
    free(ch);
}

static void test_blueprint_allocation_series(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    /* bands say 3 at p99, the predictor's allocation says 2.5: it wins */
    struct drv_blueprint *bp = bp_of(30, grown_early, 1024);
    struct drv_res a = drv_res_zero();
    a.v[DRV_RES_VCPU] = 2.5;
    a.v[DRV_RES_MEM_MIB] = 1024;
    for (int32_t s = 0; s < 30; s++)
        drv_blueprint_set_alloc(bp, s, a);
    struct drv_shape shape;
    place_ok(e, "a", 4, 4096, 0, bp, &shape);
    assert_true(fabs(shape.res.v[DRV_RES_VCPU] - 2.5) < 1e-12);
    /* revisions with and without a series, same or other size: no leak,
     * no shared buffer */
    struct err *err = NULL;
    for (int i = 0; i < 4; i++) {
        autoptr(drv_blueprint) r = i % 2 ? bp_flat(30 + i, 2, 1024) : bp_of(30, grown_early, 1024);
        if (i == 2)
            drv_blueprint_set_alloc(r, 0, a);
        assert_int_equal(drv_sculpt_set_blueprint(e, "a", r, &err), 0);
    }
}

/* ---- shortage ---- */

static void grown(int32_t s, double b[3])
{
    (void)s;
    b[0] = 1.5;
    b[1] = 2.5;
    b[2] = 3;
}

static void test_squeeze_order(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "low", 4, 2048, 0, bp_flat(60, 2, 1024), NULL);
    place_ok(e, "high", 4, 2048, 10, bp_flat(60, 2, 1024), NULL);
    struct err *err = NULL;
    /* both now want 3 (p99) on a 4-CPU host */
    autoptr(drv_blueprint) up = bp_of(60, grown, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e, "low", up, &err), 0);
    assert_int_equal(drv_sculpt_set_blueprint(e, "high", up, &err), 0);
    struct drv_sculpt_change *ch = NULL;
    size_t n = step(e, T0 + STEP, &ch);
    assert_int_equal(n, 2);
    free(ch);
    /* the low priority goes down to its median first (1.5), the high one
     * gives only the rest: 3 - 0.5 = 2.5, its p90 */
    assert_true(fabs(shape_of(e, "low", DRV_RES_VCPU) - 1.5) < 1e-6);
    assert_true(fabs(shape_of(e, "high", DRV_RES_VCPU) - 2.5) < 1e-6);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_true(snap->guests[0].squeezed && snap->guests[1].squeezed);
    assert_true(fabs(snap->guests[0].target.v[DRV_RES_VCPU] - 3) < 1e-9);
    assert_false(snap->shortage);
    struct drv_sculpt_record r[2];
    assert_int_equal(drv_sculpt_records(e, "low", r, 1), 1);
    assert_int_equal(r[0].decision, DRV_SCULPT_DEC_SQUEEZE);
    assert_string_equal(r[0].term, "priority");
    assert_int_equal(drv_sculpt_records(e, "high", r, 1), 1);
    assert_true(fabs(r[0].quantile - 0.9) < 1e-6);

    /* stable: the next step changes nothing */
    assert_int_equal(step(e, T0 + 2 * STEP, &ch), 0);
    free(ch);
    /* the shortage passes: the high one shrinks (after its hold), the low
     * one gets its band back in the same step */
    autoptr(drv_blueprint) calm = bp_flat(60, 1.5, 1024);
    assert_int_equal(drv_sculpt_set_blueprint(e, "high", calm, &err), 0);
    for (int i = 3; i <= 5; i++) {
        assert_int_equal(step(e, T0 + i * STEP, &ch), 0);
        free(ch);
    }
    assert_int_equal(step(e, T0 + 6 * STEP, &ch), 2);
    free(ch);
    assert_true(fabs(shape_of(e, "low", DRV_RES_VCPU) - 2.5) < 1e-6);
}

static void test_memory_floor_under_shortage(void **state)
{
    (void)state;
    /* 4 GiB host, 512 MiB reserved: 3584 MiB for guests, no overcommit */
    struct drv_host_limits lim;
    drv_host_limits_default(&lim);
    lim.reserved_mem_mib = 512;
    struct err *err = NULL;
    autoptr(drv_host) h = drv_host_parse("cpus=4,mem_gib=4", &lim, &err);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    place_ok(e, "a", 1, 3072, 0, bp_flat(60, 0.5, 1500), NULL);
    place_ok(e, "b", 1, 3072, 5, bp_flat(60, 0.5, 1500), NULL);
    /* a uses 1500 MiB: its floor is 1650; both blueprints now ask for 3000 */
    struct drv_res use = drv_res_zero();
    use.v[DRV_RES_MEM_MIB] = 1500;
    assert_int_equal(drv_sculpt_observe(e, "a", use, T0 + STEP, &err), 0);
    autoptr(drv_blueprint) up = bp_flat(60, 0.5, 3000);
    assert_int_equal(drv_sculpt_set_blueprint(e, "a", up, &err), 0);
    assert_int_equal(drv_sculpt_set_blueprint(e, "b", up, &err), 0);
    struct drv_sculpt_change *ch = NULL;
    step(e, T0 + STEP, &ch);
    free(ch);
    double a = shape_of(e, "a", DRV_RES_MEM_MIB), b = shape_of(e, "b", DRV_RES_MEM_MIB);
    assert_true(a + b <= 3584 + 1e-6);
    /* the low priority is squeezed down to its floor, no further */
    assert_true(fabs(a - 1650) < 1e-6);
    assert_true(fabs(b - (3584 - 1650)) < 1e-6);

    /* floors alone over capacity: a shortage is recorded, floors kept */
    use.v[DRV_RES_MEM_MIB] = 2000;
    assert_int_equal(drv_sculpt_observe(e, "a", use, T0 + 2 * STEP, &err), 0);
    assert_int_equal(drv_sculpt_observe(e, "b", use, T0 + 2 * STEP, &err), 0);
    step(e, T0 + 2 * STEP, &ch);
    free(ch);
    assert_true(shape_of(e, "a", DRV_RES_MEM_MIB) >= 2200 - 1e-6);
    assert_true(shape_of(e, "b", DRV_RES_MEM_MIB) >= 2200 - 1e-6);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_true(snap->shortage);
    struct drv_sculpt_record r[16];
    size_t n = drv_sculpt_records(e, NULL, r, 16);
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        seen = seen || (r[i].decision == DRV_SCULPT_DEC_SHORTAGE && r[i].res == DRV_RES_MEM_MIB);
    assert_true(seen);
}

/* ---- fragmentation ---- */

static void adopt(struct drv_sculpt *e, const char *uuid, int vcpus, double vcpu, const char *cpus)
{
    struct drv_sculpt_guest_spec s = spec_of(uuid, vcpus, 2048, 0);
    struct drv_shape shape = {
        .vcpus_online = vcpus, .vcpus_max = vcpus, .mem_max_mib = 2048, .numa_node = -1};
    shape.res.v[DRV_RES_VCPU] = vcpu;
    shape.res.v[DRV_RES_MEM_MIB] = 1024;
    struct err *err = NULL;
    assert_int_equal(drv_cpuset_parse(cpus, &shape.pcpus, &err), 0);
    if (drv_sculpt_adopt(e, &s, NULL, &shape, T0, &err) < 0)
        fail_msg("adopt %s: %s", uuid, err->msg);
}

static void test_defrag_plan(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    p.move_budget = 1;
    autoptr(drv_sculpt) e = engine(h, &p);
    /* a scattered 2-vCPU guest, and a free run at 2-3 */
    adopt(e, "scattered", 2, 2, "0,4");
    adopt(e, "x", 1, 1, "1");
    adopt(e, "y", 1, 1, "5");
    struct drv_sculpt_change *ch = NULL;
    assert_int_equal(step(e, T0 + STEP, &ch), 1);
    assert_string_equal(ch[0].uuid, "scattered");
    assert_int_equal(ch[0].kind, DRV_SCULPT_CHANGE_REPIN);
    char buf[64];
    assert_string_equal(drv_cpuset_format(&ch[0].to.pcpus, buf, sizeof(buf)), "2-3");
    assert_true(drv_res_eq(ch[0].to.res, ch[0].from.res, 1e-12));
    free(ch);
    assert_int_equal(step(e, T0 + 2 * STEP, &ch), 0);
    free(ch);
}

static void test_defrag_moves_others_within_budget(void **state)
{
    (void)state;
    /* 4 CPUs fully used: the scattered guest needs a neighbour moved */
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=16", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    p.move_budget = 1;
    autoptr(drv_sculpt) e = engine(h, &p);
    adopt(e, "scattered", 2, 2, "0,3");
    adopt(e, "x", 1, 1, "1");
    adopt(e, "y", 1, 1, "2");
    struct drv_sculpt_change *ch = NULL;
    /* one move is not enough: nothing is planned */
    assert_int_equal(step(e, T0 + STEP, &ch), 0);
    free(ch);
    drv_sculpt_free(steal_pointer(&e));

    p.move_budget = 2;
    e = engine(h, &p);
    adopt(e, "scattered", 2, 2, "0,3");
    adopt(e, "x", 1, 1, "1");
    adopt(e, "y", 1, 1, "2");
    size_t n = step(e, T0 + STEP, &ch);
    assert_int_equal(n, 2);
    char buf[64];
    assert_string_equal(ch[0].uuid, "x");
    assert_string_equal(drv_cpuset_format(&ch[0].to.pcpus, buf, sizeof(buf)), "3");
    assert_string_equal(ch[1].uuid, "scattered");
    assert_string_equal(drv_cpuset_format(&ch[1].to.pcpus, buf, sizeof(buf)), "0-1");
    free(ch);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_true(fabs(snap->contiguity - 1.0) < 1e-12);
    assert_int_equal(snap->repins, 2);
    for (int c = 0; c < 4; c++)
        assert_true(fabs(snap->cpu_load[c] - 1.0) < 1e-9);
}

/* ---- Placement, views, errors, threads ---- */

static void test_inventory(void **state)
{
    (void)state;
    struct drv_host_limits lim;
    drv_host_limits_default(&lim);
    lim.ratio[DRV_RES_VCPU] = 16;
    lim.ratio[DRV_RES_MEM_MIB] = 1.5;
    lim.reserved_cpus = 1;
    lim.reserved_mem_mib = 1024;
    lim.disk_gb = 500;
    struct err *err = NULL;
    autoptr(drv_host) h = drv_host_parse("cpus=9,mem_gib=17", &lim, &err);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    struct drv_sculpt_inventory inv;
    drv_sculpt_inventory(e, &inv);
    assert_int_equal(inv.vcpu.total, 9);
    assert_int_equal(inv.vcpu.reserved, 1);
    assert_true(fabs(inv.vcpu.allocation_ratio - 16) < 1e-9);
    assert_int_equal(inv.memory_mb.total, 17408);
    assert_int_equal(inv.memory_mb.reserved, 1024);
    assert_true(fabs(inv.memory_mb.allocation_ratio - 1.5) < 1e-9);
    assert_int_equal(inv.disk_gb.total, 500);

    /* guests using their whole flavor: Placement sees less room than the
     * ceiling -- what is held plus what the engine would still admit */
    for (int i = 0; i < 3; i++) {
        char uuid[16];
        snprintf(uuid, sizeof(uuid), "g%d", i);
        place_ok(e, uuid, 2, 4096, 0, bp_flat(30, 2, 4096), NULL);
    }
    drv_sculpt_inventory(e, &inv);
    /* memory: 12288 held, 16384 usable: room 4096 -> ratio 1.0 */
    assert_true(fabs(inv.memory_mb.allocation_ratio - 1.0) < 1e-3);
    /* CPU: 6 held, risk leaves 2 of the 8 usable -> (6 + 2) / 8 */
    assert_true(fabs(inv.vcpu.allocation_ratio - 1.0) < 1e-3);
}

/* The CPU weight follows entitlement and priority; a priority change
 * reaches the backend at the next step even when nothing else moves. */
static void test_cpu_weight_priority(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 4.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    struct drv_shape s;
    place_ok(e, "hi", 2, 1024, 100, bp_flat(30, 1.5, 512), &s);
    assert_true(fabs(s.res.v[DRV_RES_VCPU] - 1.5) < 1e-9);
    assert_int_equal(s.cpu_weight, 300); /* 100 per vCPU, x2 for priority 100 */
    place_ok(e, "lo", 2, 1024, 0, bp_flat(30, 1.5, 512), &s);
    assert_int_equal(s.cpu_weight, 150);
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_set_priority(e, "lo", -100, &err), 0);
    struct drv_sculpt_change *ch = NULL;
    size_t n = step(e, T0 + STEP, &ch);
    assert_int_equal(n, 1);
    assert_string_equal(ch[0].uuid, "lo");
    assert_int_equal(ch[0].kind, DRV_SCULPT_CHANGE_RESHAPE);
    assert_int_equal(ch[0].from.cpu_weight, 150);
    assert_int_equal(ch[0].to.cpu_weight, 75);
    assert_true(fabs(ch[0].to.res.v[DRV_RES_VCPU] - 1.5) < 1e-9);
    assert_non_null(strstr(ch[0].why, "CPU weight 150 -> 75"));
    free(ch);
    n = step(e, T0 + 2 * STEP, &ch); /* said once */
    assert_int_equal(n, 0);
    free(ch);
}

/* A host with nothing reserved: capacity = total, as Placement sees it. */
static struct drv_host *host_unreserved(const char *desc, double cpu_ratio, double mem_ratio)
{
    struct drv_host_limits lim;
    drv_host_limits_default(&lim);
    lim.ratio[DRV_RES_VCPU] = cpu_ratio;
    lim.ratio[DRV_RES_MEM_MIB] = mem_ratio;
    lim.reserved_cpus = 0;
    lim.reserved_mem_mib = 0;
    lim.disk_gb = 100;
    struct err *err = NULL;
    struct drv_host *h = drv_host_parse(desc, &lim, &err);
    if (!h)
        fail_msg("%s: %s", desc, err->msg);
    return h;
}

/* Would Placement accept a flavor of `vcpus` on top of `held`? */
static bool placement_accepts(const struct drv_sculpt_inventory_item *it, double held, int vcpus)
{
    return vcpus <= it->max_unit &&
           held + vcpus <= (double)(it->total - it->reserved) * it->allocation_ratio + 1e-9;
}

static bool admits(struct drv_sculpt *e, const char *uuid, int vcpus, struct drv_blueprint *bp)
{
    struct drv_sculpt_guest_spec s = spec_of(uuid, vcpus, 1024, 0);
    struct err *err = NULL;
    struct drv_sculpt_refusal why;
    int rc = drv_sculpt_admit(e, &s, bp, T0, &why, &err);
    drv_blueprint_free(bp);
    if (rc < 0)
        assert_int_equal(err->code, ERR_CAPACITY);
    err_clear(&err);
    return rc == 0;
}

/* Hand-worked: certain use (flat bands) bounds CPU by the risk rule. */
static void test_inventory_risk(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_unreserved("cpus=8,mem_gib=16", 16, 1.5);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    /* two 4-vCPU/4 GiB flavors, each using 2 vCPUs and 2 GiB for sure */
    place_ok(e, "a", 4, 4096, 0, bp_flat(30, 2, 2048), NULL);
    place_ok(e, "b", 4, 4096, 0, bp_flat(30, 2, 2048), NULL);
    struct drv_sculpt_inventory inv;
    drv_sculpt_inventory(e, &inv);
    /* CPU: shapes 4, use 4 of 8: 4 shape units free = 8 flavor units (2
     * flavor per shape) -> (8 held + 8) / 8 = 2.0 */
    assert_true(fabs(inv.vcpu.allocation_ratio - 2.0) < 1e-9);
    assert_int_equal(inv.vcpu.bound, DRV_SCULPT_RULE_RISK);
    assert_true(fabs(inv.vcpu.held - 8) < 1e-9);
    assert_int_equal(inv.vcpu.max_unit, 8);
    /* memory: (16384 - 4096) x 2 = 24576 would give 2.0, over the 1.5
     * ceiling: the configured ratio stands; max_unit the total */
    assert_true(fabs(inv.memory_mb.allocation_ratio - 1.5) < 1e-9);
    assert_int_equal(inv.memory_mb.bound, DRV_SCULPT_RULE_LAST);
    assert_int_equal(inv.memory_mb.max_unit, 16384);
    assert_int_equal(inv.disk_gb.max_unit, 100);

    /* what Placement accepts, admission admits, and the other way round */
    assert_true(placement_accepts(&inv.vcpu, 8, 8));
    assert_false(placement_accepts(&inv.vcpu, 8, 9));
    assert_true(admits(e, "c", 8, bp_flat(30, 4, 1024)));
    assert_false(admits(e, "c", 9, bp_flat(30, 4.5, 1024)));
    place_ok(e, "c", 4, 1024, 0, bp_flat(30, 2, 1024), NULL);
    place_ok(e, "d", 4, 1024, 0, bp_flat(30, 2, 1024), NULL);
    drv_sculpt_inventory(e, &inv);
    /* full: capacity = what is held, the ratio unchanged, max_unit 1 */
    assert_true(fabs(inv.vcpu.allocation_ratio - 2.0) < 1e-9);
    assert_true(inv.vcpu.room < 1e-9);
    assert_int_equal(inv.vcpu.max_unit, 1);
    assert_false(placement_accepts(&inv.vcpu, 16, 1));
    assert_false(admits(e, "e", 1, bp_flat(30, 0.5, 512)));
}

/* Hand-worked: the guests' long run bounds CPU. */
static void test_inventory_longrun(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_unreserved("cpus=8,mem_gib=64", 16, 1.5);
    struct drv_sculpt_params p = params(); /* longrun at p99 */
    autoptr(drv_sculpt) e = engine(h, &p);
    for (int i = 0; i < 2; i++) {
        struct drv_blueprint *bp = bp_flat(30, 1, 1024);
        bp->longrun[DRV_RES_VCPU][DRV_Q_P50] = 1;
        bp->longrun[DRV_RES_VCPU][DRV_Q_P90] = 2;
        bp->longrun[DRV_RES_VCPU][DRV_Q_P99] = 3;
        place_ok(e, i ? "b" : "a", 4, 2048, 0, bp, NULL);
    }
    struct drv_sculpt_inventory inv;
    drv_sculpt_inventory(e, &inv);
    /* long run 3 + 3 = 6 of 8: 2 free at 8 flavor / 6 long-run units =
     * 2.667 flavor units -> (8 + 2.667) / 8 = 1.3333 (4 decimals, down) */
    assert_int_equal(inv.vcpu.bound, DRV_SCULPT_RULE_LONGRUN);
    assert_true(fabs(inv.vcpu.allocation_ratio - 1.3333) < 1e-9);
    assert_int_equal(inv.vcpu.max_unit, 2);
    /* a 2-vCPU guest like them (long run 1.5) fits both; a 3-vCPU one
     * (2.25) fits neither */
    assert_true(placement_accepts(&inv.vcpu, 8, 2));
    struct drv_blueprint *bp = bp_flat(30, 0.5, 512);
    bp->longrun[DRV_RES_VCPU][DRV_Q_P50] = 0.5;
    bp->longrun[DRV_RES_VCPU][DRV_Q_P90] = 1;
    bp->longrun[DRV_RES_VCPU][DRV_Q_P99] = 1.5;
    assert_true(admits(e, "c", 2, bp));
    assert_false(placement_accepts(&inv.vcpu, 8, 3));
    bp = bp_flat(30, 0.75, 512);
    bp->longrun[DRV_RES_VCPU][DRV_Q_P50] = 0.75;
    bp->longrun[DRV_RES_VCPU][DRV_Q_P90] = 1.5;
    bp->longrun[DRV_RES_VCPU][DRV_Q_P99] = 2.25;
    assert_false(admits(e, "c", 3, bp));
}

/* The hysteresis: small drifts are not written, real moves are, with why. */
static void test_inventory_differs(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_unreserved("cpus=8,mem_gib=16", 16, 1.5);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    struct drv_sculpt_inventory was, now;
    memset(&was, 0, sizeof(was));
    drv_sculpt_inventory(e, &now);
    char why[256];
    assert_true(drv_sculpt_inventory_differs(&was, &now, 0.05, why, sizeof(why)));
    assert_non_null(strstr(why, "VCPU: total 0 -> 8"));
    was = now;
    assert_false(drv_sculpt_inventory_differs(&was, &now, 0.05, why, sizeof(why)));
    /* VCPU: 8 usable, band max(0.05 x 8, 1 unit) = 1: 0.1 x 8 = 0.8 stays */
    now.vcpu.allocation_ratio = was.vcpu.allocation_ratio - 0.1;
    assert_false(drv_sculpt_inventory_differs(&was, &now, 0.05, why, sizeof(why)));
    now.vcpu.allocation_ratio = was.vcpu.allocation_ratio - 0.2; /* 1.6 units */
    now.vcpu.bound = DRV_SCULPT_RULE_LONGRUN;
    assert_true(drv_sculpt_inventory_differs(&was, &now, 0.05, why, sizeof(why)));
    assert_non_null(strstr(why, "VCPU: allocation_ratio 16 -> 15.8"));
    assert_non_null(strstr(why, "bound by longrun"));
    /* memory: band 0.05 x 16384 = 819.2 MiB; 0.04 x 16384 = 655 stays,
     * 0.06 (983) goes */
    now = was;
    now.memory_mb.allocation_ratio = was.memory_mb.allocation_ratio - 0.04;
    assert_false(drv_sculpt_inventory_differs(&was, &now, 0.05, NULL, 0));
    now.memory_mb.allocation_ratio = was.memory_mb.allocation_ratio - 0.06;
    assert_true(drv_sculpt_inventory_differs(&was, &now, 0.05, NULL, 0));
    /* hysteresis 0: any move of a unit or more */
    now = was;
    now.memory_mb.max_unit -= 2;
    assert_true(drv_sculpt_inventory_differs(&was, &now, 0, why, sizeof(why)));
    assert_non_null(strstr(why, "MEMORY_MB: max_unit 16384 -> 16382"));
    assert_false(drv_sculpt_inventory_differs(&was, &now, 0.05, why, sizeof(why)));
    now = was;
    now.disk_gb.reserved = 10;
    assert_true(drv_sculpt_inventory_differs(&was, &now, 0.5, why, sizeof(why)));
}

static void test_errors(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=4,mem_gib=8", 1.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    struct err *err = NULL;
    struct drv_shape s;
    place_ok(e, "a", 1, 1024, 0, bp_flat(10, 1, 512), NULL);
    struct drv_sculpt_guest_spec spec = spec_of("a", 1, 1024, 0);
    autoptr(drv_blueprint) bp = bp_flat(10, 1, 512);
    assert_int_equal(drv_sculpt_place(e, &spec, bp, T0, &s, NULL, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(drv_sculpt_remove(e, "nope", &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    spec = spec_of("", 1, 1024, 0);
    assert_int_equal(drv_sculpt_place(e, &spec, bp, T0, &s, NULL, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    spec = spec_of("b", 2, 1024, 0);
    spec.vcpus_max = 1;
    assert_int_equal(drv_sculpt_place(e, &spec, bp, T0, &s, NULL, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    bp->step_s = 0;
    spec = spec_of("b", 1, 1024, 0);
    assert_int_equal(drv_sculpt_place(e, &spec, bp, T0, &s, NULL, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    struct drv_res bad = drv_res_zero();
    bad.v[DRV_RES_VCPU] = -1;
    assert_int_equal(drv_sculpt_observe(e, "a", bad, T0, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_sculpt_set_priority(e, "a", 5000, &err), -1);
    err_clear(&err);
    assert_int_equal(drv_sculpt_remove(e, "a", &err), 0);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    assert_int_equal(snap->nguests, 0);
    assert_int_equal(snap->admitted, 1);

    p.hysteresis = 1.5;
    assert_null(drv_sculpt_new(h, &p, &err));
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

static void test_spec_from_instance(void **state)
{
    (void)state;
    struct drv_kv specs[] = {
        {(char *)"quota:vif_inbound_average", (char *)"12500"},
        {(char *)"quota:disk_total_iops_sec", (char *)"800"},
        {(char *)"quota:disk_write_bytes_sec", (char *)"50000000"},
        {(char *)"sculpt:priority", (char *)"7"},
    };
    struct drv_instance inst;
    memset(&inst, 0, sizeof(inst));
    snprintf(inst.uuid, sizeof(inst.uuid), "0e4b3a70-1c1e-4b49-9d7e-3a1f0a2b9c11");
    inst.flavor.name = (char *)"m1.small";
    inst.flavor.vcpus = 2;
    inst.flavor.memory_mb = 2048;
    inst.flavor.extra_specs = specs;
    inst.flavor.nextra_specs = 4;
    struct drv_sculpt_guest_spec s;
    struct err *err = NULL;
    assert_int_equal(drv_sculpt_spec_from_instance(&inst, NULL, 0, &s, &err), 0);
    assert_string_equal(s.uuid, inst.uuid);
    assert_true(fabs(s.ceiling.v[DRV_RES_VCPU] - 2) < 1e-12);
    assert_true(fabs(s.ceiling.v[DRV_RES_NET_IN_MBPS] - 100) < 1e-9);
    assert_true(s.ceiling.v[DRV_RES_NET_OUT_MBPS] == 0); /* not limited */
    assert_true(fabs(s.ceiling.v[DRV_RES_DISK_READ_IOPS] - 800) < 1e-12);
    assert_true(fabs(s.ceiling.v[DRV_RES_DISK_WRITE_MBPS] - 50) < 1e-12);
    assert_int_equal(s.priority, 7);
    specs[3].value = (char *)"urgent";
    assert_int_equal(drv_sculpt_spec_from_instance(&inst, NULL, 0, &s, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

struct worker {
    struct drv_sculpt *e;
    int id;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct err *err = NULL;
    for (int i = 0; i < 200; i++) {
        char uuid[32];
        snprintf(uuid, sizeof(uuid), "w%d-%d", w->id, i % 5);
        struct drv_sculpt_guest_spec s = spec_of(uuid, 1, 512, w->id);
        struct drv_blueprint *bp = bp_flat(10, 0.1, 256);
        struct drv_shape shape;
        if (drv_sculpt_place(w->e, &s, bp, T0 + i, &shape, NULL, &err) < 0)
            err_clear(&err);
        drv_blueprint_free(bp);
        struct drv_sculpt_change *ch = NULL;
        size_t n;
        drv_sculpt_step(w->e, T0 + i, &ch, &n, &err);
        free(ch);
        struct drv_sculpt_snapshot *snap = drv_sculpt_snapshot(w->e);
        drv_sculpt_snapshot_free(snap);
        if (i % 3 == 0 && drv_sculpt_remove(w->e, uuid, &err) < 0)
            err_clear(&err);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    autoptr(drv_host) h = host_of("cpus=8,mem_gib=16", 4.0, 1.0);
    struct drv_sculpt_params p = params();
    autoptr(drv_sculpt) e = engine(h, &p);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){e, i};
        pthread_create(&t[i], NULL, worker_run, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(e);
    double load = 0;
    for (int c = 0; c < snap->ncpus; c++)
        load += snap->cpu_load[c];
    /* the per-CPU loads still add up to the guests' entitlements */
    assert_true(fabs(load - snap->allocated.v[DRV_RES_VCPU]) < 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_over_horizon),
        cmocka_unit_test(test_admit_risk_limits_overcommit),
        cmocka_unit_test(test_admit_never_refuses_what_fits_physically),
        cmocka_unit_test(test_admit_longrun),
        cmocka_unit_test(test_force),
        cmocka_unit_test(test_memory_hold),
        cmocka_unit_test(test_contiguity_preference),
        cmocka_unit_test(test_fractional_shape),
        cmocka_unit_test(test_hysteresis_and_hold),
        cmocka_unit_test(test_tiny_growth_waits),
        cmocka_unit_test(test_pressing_takes_tiny_growth),
        cmocka_unit_test(test_reshape_price_skips_small_changes),
        cmocka_unit_test(test_observed_use_overrides_blueprint),
        cmocka_unit_test(test_blueprint_allocation_series),
        cmocka_unit_test(test_squeeze_order),
        cmocka_unit_test(test_memory_floor_under_shortage),
        cmocka_unit_test(test_defrag_plan),
        cmocka_unit_test(test_defrag_moves_others_within_budget),
        cmocka_unit_test(test_cpu_weight_priority),
        cmocka_unit_test(test_inventory),
        cmocka_unit_test(test_inventory_risk),
        cmocka_unit_test(test_inventory_longrun),
        cmocka_unit_test(test_inventory_differs),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_spec_from_instance),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
