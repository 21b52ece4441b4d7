/* A guest's predictor state across a restart (driver/predict_state.c): a
 * predictor exported and imported says exactly what one that never
 * stopped says, on a daily sine with a level step; damaged, truncated,
 * other-version and other-guest states are refused with a clear error. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/cost.h"
#include "driver/predict.h"

#define STEP 300
#define DAY 86400
#define T0 1372636800 /* 2013-07-01 00:00 UTC */
#define HORIZON 1800

struct env {
    struct drv_predict_config pc;
    struct drv_cost_model cm;
};

static void env_init(struct env *e)
{
    struct cfg *cfg = cfg_new_defaults();
    drv_predict_config_from_cfg(cfg, &e->pc);
    drv_cost_model_from_cfg(cfg, &e->cm);
    cfg_unref(cfg);
}

static struct drv_predict_request request(uint32_t resources)
{
    struct drv_predict_request req = {
        .flavor_name = "m1.large",
        .project_id = "alpha",
        .name = "web-01",
        .boot_s = T0,
        .resources = resources,
    };
    req.ceiling.v[DRV_RES_VCPU] = 8;
    req.ceiling.v[DRV_RES_MEM_MIB] = 8192;
    return req;
}

#define TWO_DIMS ((1u << DRV_RES_VCPU) | (1u << DRV_RES_MEM_MIB))

/* A daily sine around 3 vCPU, stepping up by 2 vCPU on day 2, with a
 * small deterministic wobble; memory climbs slowly with the same step. */
static struct drv_res usage(int i)
{
    double day = (double)(i * STEP % DAY) / DAY;
    double step = i * STEP >= 2 * DAY ? 2.0 : 0.0;
    struct drv_res u = drv_res_zero();
    u.v[DRV_RES_VCPU] = 3.0 + 1.5 * sin(2 * M_PI * day) + step + 0.2 * sin(i * 1.7);
    u.v[DRV_RES_MEM_MIB] = 2048 + 0.5 * i + 512 * step;
    return u;
}

/* One control-loop step of p: what it allocates for the next sample,
 * the engine applies it, then the sample comes. */
static void loop_step(struct env *e, struct drv_predictor *p, int i, struct drv_predict_step *s)
{
    int64_t t = T0 + (int64_t)(i + 1) * STEP;
    drv_predictor_next(p, t, &e->cm, s);
    drv_predictor_applied(p, t - STEP, &s->alloc, false);
    struct drv_res u = usage(i);
    drv_predictor_observe(p, t, &u);
}

/* Values equal within relative tolerance tol (0: to the bit). */
static void assert_close(const double *a, const double *b, size_t n, double tol)
{
    if (tol == 0) {
        assert_memory_equal(a, b, n * sizeof(double));
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > tol * (fabs(a[i]) + 1e-9))
            fail_msg("value %zu: %.17g against %.17g", i, a[i], b[i]);
}

/* The state of a fleet-less predictor after `steps` control-loop steps
 * (caller frees *bytes); returns its length. */
static size_t trained_state(struct env *e, const struct drv_predict_request *req, int steps,
                            unsigned char **bytes)
{
    struct err *err = NULL;
    struct drv_predictor *a = drv_predictor_new(NULL, req, &e->pc, &err);
    assert_non_null(a);
    struct drv_predict_step s;
    for (int i = 0; i < steps; i++)
        loop_step(e, a, i, &s);
    size_t len = drv_predictor_export(a, bytes);
    drv_predictor_free(a);
    return len;
}

static void assert_same_blueprint(const struct drv_blueprint *a, const struct drv_blueprint *b,
                                  double tol)
{
    assert_int_equal(a->nsteps, b->nsteps);
    size_t n = (size_t)a->nsteps * DRV_RES_LAST;
    assert_close(a->q, b->q, n * DRV_Q_LAST, tol);
    assert_close(a->alloc, b->alloc, n, tol);
    assert_close(a->res_confidence, b->res_confidence, DRV_RES_LAST, tol);
    assert_close(&a->longrun[0][0], &b->longrun[0][0], DRV_RES_LAST * DRV_Q_LAST, tol);
    assert_string_equal(a->model, b->model);
}

/* Run `split` steps, export, import, and run both predictors on for
 * `more` steps: every step's next() and blueprint agree to the bit. */
static void check_continues(struct env *e, bool with_fleet, int split, int more)
{
    struct drv_fleet *fleet = with_fleet ? drv_fleet_new(&e->pc) : NULL;
    struct drv_predict_request req = request(TWO_DIMS);
    struct err *err = NULL;
    struct drv_predictor *a = drv_predictor_new(fleet, &req, &e->pc, &err);
    assert_non_null(a);
    struct drv_predict_step sa, sb;
    for (int i = 0; i < split; i++)
        loop_step(e, a, i, &sa);

    unsigned char *bytes = NULL;
    size_t len = drv_predictor_export(a, &bytes);
    assert_true(len > 16 && len <= drv_predictor_state_max());
    /* the twin shares the fleet: it learns from both, as one guest's two
     * predictors never would, so the comparison runs on a fleet the
     * original alone feeds -- the twin sees it through a copy made now */
    struct drv_fleet *twin_fleet = NULL;
    if (fleet) {
        struct drv_fleet_record *recs = NULL;
        size_t n = 0;
        struct drv_fleet_calibration *calib = calloc(1, sizeof(*calib));
        drv_fleet_export(fleet, &recs, &n, calib);
        twin_fleet = drv_fleet_new(&e->pc);
        assert_int_equal(drv_fleet_import(twin_fleet, recs, n, calib, &err), 0);
        free(recs);
        free(calib);
    }
    struct drv_predictor *b = drv_predictor_import(twin_fleet, &req, &e->pc, bytes, len, &err);
    assert_non_null(b);
    assert_int_equal(drv_predictor_samples(b), drv_predictor_samples(a));
    /* the copy says the same as the state it came from */
    unsigned char *again = NULL;
    assert_int_equal(drv_predictor_export(b, &again), len);
    assert_memory_equal(bytes, again, len);
    free(again);
    free(bytes);

    for (int i = split; i < split + more; i++) {
        int64_t now = T0 + (int64_t)i * STEP;
        struct drv_blueprint *ba =
            drv_predictor_blueprint(a, now, HORIZON, STEP, &e->cm, &err);
        struct drv_blueprint *bb =
            drv_predictor_blueprint(b, now, HORIZON, STEP, &e->cm, &err);
        assert_non_null(ba);
        assert_non_null(bb);
        /* the fleet's records keep its weights as floats, relative to
         * its reference time: a restored fleet agrees to ~1e-8 */
        double tol = fleet && i > split ? 1e-6 : 0;
        assert_same_blueprint(ba, bb, tol);
        drv_blueprint_free(ba);
        drv_blueprint_free(bb);
        loop_step(e, a, i, &sa);
        loop_step(e, b, i, &sb);
        assert_close(&sa.q[0][0], &sb.q[0][0], DRV_Q_LAST * DRV_RES_LAST, tol);
        assert_close(sa.alloc.v, sb.alloc.v, DRV_RES_LAST, tol);
        assert_memory_equal(sa.model, sb.model, sizeof(sa.model));
    }
    drv_predictor_free(a);
    drv_predictor_free(b);
    drv_fleet_free(fleet);
    drv_fleet_free(twin_fleet);
}

/* Without a fleet the predictor alone decides: exact over a day after a
 * split before and one after the step. */
static void test_continues_alone(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    check_continues(&e, false, DAY / STEP + 17, DAY / STEP);
    check_continues(&e, false, 2 * DAY / STEP + 5, DAY / STEP / 2);
}

/* With a fleet restored from its records, as the service does: the
 * first blueprint and step after the restart are exact, the following
 * ones within the fleet records' float rounding. */
static void test_continues_with_fleet(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    check_continues(&e, true, 2 * DAY / STEP + 40, DAY / STEP / 2);
}

/* A restarted guest is not a cold start: its first blueprint is what it
 * learnt, not the ceiling a fleet-less cold start allocates. */
static void test_not_cold(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    struct drv_predict_request req = request(TWO_DIMS);
    struct err *err = NULL;
    unsigned char *bytes = NULL;
    size_t len = trained_state(&e, &req, DAY / STEP, &bytes);
    struct drv_predictor *b = drv_predictor_import(NULL, &req, &e.pc, bytes, len, &err);
    struct drv_predictor *cold = drv_predictor_new(NULL, &req, &e.pc, &err);
    struct drv_predict_step sb, sc;
    int64_t t = T0 + (int64_t)(DAY / STEP + 1) * STEP;
    drv_predictor_next(b, t, &e.cm, &sb);
    drv_predictor_next(cold, t, &e.cm, &sc);
    assert_true(sc.alloc.v[DRV_RES_VCPU] == 8);
    assert_true(sb.alloc.v[DRV_RES_VCPU] < 7);
    assert_int_not_equal(sb.model[DRV_RES_VCPU], -1);
    free(bytes);
    drv_predictor_free(b);
    drv_predictor_free(cold);
}

static void expect_refused(struct env *e, const struct drv_predict_request *req,
                           const unsigned char *bytes, size_t len, enum err_code code,
                           const char *msg)
{
    struct err *err = NULL;
    struct drv_predictor *p = drv_predictor_import(NULL, req, &e->pc, bytes, len, &err);
    assert_null(p);
    assert_non_null(err);
    assert_int_equal(err_code_of(err), code);
    if (!strstr(err->msg, msg))
        fail_msg("`%s` lacks `%s`", err->msg, msg);
    err_free(err);
}

static void test_refused(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    struct drv_predict_request req = request(TWO_DIMS);
    unsigned char *bytes = NULL;
    size_t len = trained_state(&e, &req, 50, &bytes);
    unsigned char *bad = malloc(len);

    expect_refused(&e, &req, NULL, 0, ERR_INVALID, "not a state");
    expect_refused(&e, &req, bytes, 10, ERR_INVALID, "not a state");
    /* truncated anywhere */
    for (size_t cut = 16; cut < len; cut += len / 7)
        expect_refused(&e, &req, bytes, cut, ERR_INVALID, "truncated");
    /* one bit flipped anywhere in the body */
    for (size_t at = 16; at < len; at += len / 11) {
        memcpy(bad, bytes, len);
        bad[at] ^= 0x10;
        expect_refused(&e, &req, bad, len, ERR_INVALID, "CRC-32");
    }
    /* another layout version */
    memcpy(bad, bytes, len);
    bad[4] = DRV_PREDICTOR_STATE_VERSION + 1;
    expect_refused(&e, &req, bad, len, ERR_UNSUPPORTED, "layout version 2");
    /* not ours at all */
    memcpy(bad, bytes, len);
    memcpy(bad, "JUNK", 4);
    expect_refused(&e, &req, bad, len, ERR_INVALID, "not a state");
    /* a guest predicting other dimensions */
    struct drv_predict_request all = request(0);
    expect_refused(&e, &all, bytes, len, ERR_INVALID, "dimensions");
    free(bad);
    free(bytes);
}

/* A well-formed state (right CRC) with a field out of range: refused by
 * the checks on read, not by the CRC. */
static void test_bad_field(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    struct drv_predict_request req = request(1u << DRV_RES_VCPU);
    unsigned char *bytes = NULL;
    size_t len = trained_state(&e, &req, 10, &bytes);
    /* body: mask (4), season_bin_s (4), ...: a bin width of 0 */
    memset(bytes + 16 + 4, 0, 4);
    uLong crc = crc32(0L, bytes + 16, (uInt)(len - 16));
    for (int i = 0; i < 4; i++)
        bytes[12 + i] = (unsigned char)(crc >> (8 * i));
    expect_refused(&e, &req, bytes, len, ERR_INVALID, "`season_bin_s` out of range");
    free(bytes);
}

/* The bound holds: what a guest predicting every dimension writes. */
static void test_bounded(void **state)
{
    (void)state;
    struct env e;
    env_init(&e);
    struct drv_predict_request req = request(0);
    for (int k = DRV_RES_MEM_MIB + 1; k < DRV_RES_LAST; k++)
        req.ceiling.v[k] = 1000;
    struct err *err = NULL;
    struct drv_predictor *a = drv_predictor_new(NULL, &req, &e.pc, &err);
    unsigned char *bytes = NULL;
    size_t len = drv_predictor_export(a, &bytes);
    assert_int_equal(len, drv_predictor_state_max());
    assert_true(len < 8 * 8 * 1024);
    free(bytes);
    drv_predictor_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_continues_alone),
        cmocka_unit_test(test_continues_with_fleet),
        cmocka_unit_test(test_not_cold),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bad_field),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
