/* Fleet history: what comparable guests used, for cold starts, and the
 * fleet's pooled calibration and SLO controller, for everyone.
 *
 * Groups are keyed by what a request can be compared on (predict_keys.c).
 * Weights decay with [predict] fleet_half_life: a sample at time t weighs
 * 2^((t - ref_t) / half_life), and the arrays are rescaled when that grows
 * large (VPA's decaying histogram does the same), so decay costs nothing
 * per sample.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "driver/predict_priv.h"

/* Rescale a group's weights once a new sample would weigh this much. */
#define PR_RESCALE_AT 1e6

static const int64_t pr_age_edges[DRV_FLEET_AGE_BUCKETS - 1] = {
    300, 900, 3600, 3 * 3600, 12 * 3600, 86400, 3 * 86400,
};

int drv_pr_age_bucket(int64_t age_s)
{
    int b = 0;
    while (b < DRV_FLEET_AGE_BUCKETS - 1 && age_s >= pr_age_edges[b])
        b++;
    return b;
}

/* Share buckets: [0, 1e-4), then log-spaced up to 1 (and above, in the
 * last bucket). */
#define PR_SHARE_MIN 1e-4

double drv_pr_share_edge(int b)
{
    if (b <= 0)
        return 0;
    return PR_SHARE_MIN * pow(1.0 / PR_SHARE_MIN, (double)(b - 1) / (DRV_FLEET_SHARE_BUCKETS - 2));
}

static double pr_share_edges[DRV_FLEET_SHARE_BUCKETS + 1];
static struct drv_pr_lut pr_share_lut;

__attribute__((constructor)) static void pr_share_edges_init(void)
{
    for (int b = 0; b <= DRV_FLEET_SHARE_BUCKETS; b++)
        pr_share_edges[b] = drv_pr_share_edge(b);
    drv_pr_lut_init(&pr_share_lut, pr_share_edges, DRV_FLEET_SHARE_BUCKETS);
}

int drv_pr_share_bucket(double share)
{
    /* [0, 1e-4) and NaN in bucket 0, then the last lower edge at most share */
    return drv_pr_lut_find(&pr_share_lut, share);
}

struct drv_fleet *drv_fleet_new(const struct drv_predict_config *pc)
{
    struct drv_fleet *f = xzalloc(sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->pc = *pc;
    f->calib.version = DRV_FLEET_RECORD_VERSION;
    f->calib_w_t = INT64_MIN;
    return f;
}

void drv_fleet_free(struct drv_fleet *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->lock);
    free(f->g);
    free(f);
}

size_t drv_fleet_groups(struct drv_fleet *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->ng;
    pthread_mutex_unlock(&f->lock);
    return n;
}

uint64_t drv_fleet_guests_generation(struct drv_fleet *f)
{
    pthread_mutex_lock(&f->lock);
    uint64_t gen = f->guests_gen;
    pthread_mutex_unlock(&f->lock);
    return gen;
}

static void pr_group_rescale(struct drv_pr_group *g, double factor)
{
    struct drv_fleet_record *r = &g->rec;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        for (int a = 0; a < DRV_FLEET_AGE_BUCKETS; a++)
            for (int b = 0; b < DRV_FLEET_SHARE_BUCKETS; b++)
                r->age[k][a][b] = (float)(r->age[k][a][b] * factor);
        for (int h = 0; h < DRV_FLEET_TOD_BUCKETS; h++) {
            r->tod_sum[k][h] = (float)(r->tod_sum[k][h] * factor);
            r->tod_weight[k][h] = (float)(r->tod_weight[k][h] * factor);
        }
    }
}

/* The weight of a sample at t in group g, rescaling first if needed;
 * samples of many guests come at the same t, so it is kept. */
static double pr_group_weight(struct drv_fleet *f, struct drv_pr_group *g, int64_t t)
{
    if (t == g->w_t)
        return g->w;
    double w = exp2((double)(t - g->ref_t) / f->pc.fleet_half_life_s);
    if (w > PR_RESCALE_AT) {
        pr_group_rescale(g, 1.0 / w);
        g->ref_t = t;
        w = 1.0;
    }
    g->w_t = t;
    g->w = w;
    return w;
}

struct drv_pr_group *drv_fleet_group_locked(struct drv_fleet *f, const char *key, bool create,
                                            int64_t t)
{
    f->clock++;
    for (size_t i = 0; i < f->ng; i++)
        if (strcmp(f->g[i].rec.key, key) == 0) {
            f->g[i].used = f->clock;
            return &f->g[i];
        }
    if (!create)
        return NULL;
    size_t slot;
    if (f->ng < (size_t)f->pc.fleet_max_groups) {
        if (f->ng == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 64;
            f->g = xreallocarray(f->g, f->cap, sizeof(*f->g));
        }
        slot = f->ng++;
    } else {
        /* full: the least recently used group goes, never the whole fleet's */
        slot = SIZE_MAX;
        for (size_t i = 0; i < f->ng; i++)
            if (strcmp(f->g[i].rec.key, "*") != 0 &&
                (slot == SIZE_MAX || f->g[i].used < f->g[slot].used))
                slot = i;
        if (slot == SIZE_MAX)
            return NULL;
    }
    struct drv_pr_group *g = &f->g[slot];
    memset(g, 0, sizeof(*g));
    g->rec.version = DRV_FLEET_RECORD_VERSION;
    snprintf(g->rec.key, sizeof(g->rec.key), "%s", key);
    g->id = ++f->next_id;
    g->ref_t = t;
    g->w_t = INT64_MIN;
    g->rec.updated_s = t;
    g->used = f->clock;
    return g;
}

struct drv_pr_group *drv_fleet_group_cached_locked(struct drv_fleet *f, const char *key,
                                                   bool create, int64_t t, size_t *idx,
                                                   uint64_t *id)
{
    if (*idx < f->ng && f->g[*idx].id == *id) {
        f->g[*idx].used = ++f->clock;
        return &f->g[*idx];
    }
    struct drv_pr_group *g = drv_fleet_group_locked(f, key, create, t);
    if (g) {
        *idx = (size_t)(g - f->g);
        *id = g->id;
    }
    return g;
}

double drv_fleet_weight_locked(struct drv_fleet *f, int64_t t)
{
    if (!f->calib_started) {
        f->calib_ref_t = t;
        f->calib_started = true;
    }
    if (t == f->calib_w_t)
        return f->calib_wv;
    double w = exp2((double)(t - f->calib_ref_t) / f->pc.calib_half_life_s);
    if (w > PR_RESCALE_AT) {
        float s = (float)(1.0 / w);
        float *p = &f->calib.resid[0][0][0][0];
        for (size_t i = 0; i < sizeof(f->calib.resid) / sizeof(float); i++)
            p[i] *= s;
        p = &f->calib_w[0][0][0];
        for (size_t i = 0; i < sizeof(f->calib_w) / sizeof(float); i++)
            p[i] *= s;
        p = &f->calib.horizon[0][0][0];
        for (size_t i = 0; i < sizeof(f->calib.horizon) / sizeof(float); i++)
            p[i] *= s;
        p = &f->horizon_w[0][0];
        for (size_t i = 0; i < sizeof(f->horizon_w) / sizeof(float); i++)
            p[i] *= s;
        f->calib_ref_t = t;
        w = 1.0;
    }
    f->calib_w_t = t;
    f->calib_wv = w;
    return w;
}

void drv_pr_sample_of(struct drv_pr_sample *s, int64_t t, int64_t age_s, const struct drv_res *use,
                      const struct drv_res *ceiling, uint32_t mask)
{
    s->t = t;
    s->age = drv_pr_age_bucket(age_s);
    s->hour = (int)((((t % 86400) + 86400) % 86400) / 3600);
    s->mask = 0;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!(mask & (1u << k)) || ceiling->v[k] <= 0)
            continue;
        s->mask |= 1u << k;
        s->share[k] = use->v[k] / ceiling->v[k];
        s->bucket[k] = drv_pr_share_bucket(s->share[k]);
    }
}

void drv_fleet_group_add_locked(struct drv_fleet *f, struct drv_pr_group *g,
                                const struct drv_pr_sample *s)
{
    double w = pr_group_weight(f, g, s->t);
    int a = s->age, h = s->hour;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!(s->mask & (1u << k)))
            continue;
        g->rec.age[k][a][s->bucket[k]] += (float)w;
        g->rec.tod_sum[k][h] += (float)(w * s->share[k]);
        g->rec.tod_weight[k][h] += (float)w;
    }
    if (s->t > g->rec.updated_s)
        g->rec.updated_s = s->t;
}

/* ---- the SLO controller ---------------------------------------------- */

double drv_fleet_overrun_units(struct drv_fleet *f, enum drv_res_kind k)
{
    pthread_mutex_lock(&f->lock);
    double x = exp(f->calib.log_overrun[k]);
    pthread_mutex_unlock(&f->lock);
    return x;
}

double drv_fleet_violation_rate(struct drv_fleet *f, enum drv_res_kind k)
{
    pthread_mutex_lock(&f->lock);
    double s = f->calib.steps[k], v = f->calib.violations[k];
    pthread_mutex_unlock(&f->lock);
    return s > 0 ? v / s : 0;
}

/* ---- export / import ---------------------------------------------------- */

void drv_fleet_export(struct drv_fleet *f, struct drv_fleet_record **out, size_t *n,
                      struct drv_fleet_calibration *calib)
{
    pthread_mutex_lock(&f->lock);
    *n = f->ng;
    *out = f->ng ? xcalloc(f->ng, sizeof(**out)) : NULL;
    for (size_t i = 0; i < f->ng; i++) {
        struct drv_pr_group g = f->g[i];
        /* weights relative to the record's own time */
        pr_group_rescale(&g, exp2((double)(g.ref_t - g.rec.updated_s) / f->pc.fleet_half_life_s));
        (*out)[i] = g.rec;
    }
    if (calib) {
        *calib = f->calib;
        calib->version = DRV_FLEET_RECORD_VERSION;
        /* weights relative to the record's time: its last update, or the
         * clock's reference when that is later (a first sample weighs
         * before any is learnt from; scaling from updated_s 0 overflows) */
        double s = 1.0;
        if (f->calib_started) {
            if (calib->updated_s < f->calib_ref_t)
                calib->updated_s = f->calib_ref_t;
            s = exp2((double)(f->calib_ref_t - calib->updated_s) / f->pc.calib_half_life_s);
        }
        float *p = &calib->resid[0][0][0][0];
        for (size_t i = 0; i < sizeof(calib->resid) / sizeof(float); i++)
            p[i] = (float)(p[i] * s);
        p = &calib->horizon[0][0][0];
        for (size_t i = 0; i < sizeof(calib->horizon) / sizeof(float); i++)
            p[i] = (float)(p[i] * s);
    }
    pthread_mutex_unlock(&f->lock);
}

static bool pr_floats_ok(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]) || p[i] < 0)
            return false;
    return true;
}

static int pr_record_check(const struct drv_fleet_record *r, struct err **err)
{
    if (r->version != DRV_FLEET_RECORD_VERSION)
        return err_set(err, ERR_INVALID, "fleet record version %u, expected %u", r->version,
                       DRV_FLEET_RECORD_VERSION);
    if (memchr(r->key, '\0', sizeof(r->key)) == NULL || r->key[0] == '\0')
        return err_set(err, ERR_INVALID, "fleet record with an empty or unterminated key");
    if (!isfinite(r->guests) || r->guests < 0 ||
        !pr_floats_ok(&r->age[0][0][0], sizeof(r->age) / sizeof(float)) ||
        !pr_floats_ok(&r->tod_sum[0][0], sizeof(r->tod_sum) / sizeof(float)) ||
        !pr_floats_ok(&r->tod_weight[0][0], sizeof(r->tod_weight) / sizeof(float)))
        return err_set(err, ERR_INVALID, "fleet record `%s` holds negative or non-finite weights",
                       r->key);
    return 0;
}

int drv_fleet_import(struct drv_fleet *f, const struct drv_fleet_record *recs, size_t n,
                     const struct drv_fleet_calibration *calib, struct err **err)
{
    for (size_t i = 0; i < n; i++)
        if (pr_record_check(&recs[i], err) < 0)
            return -1;
    if (calib) {
        if (calib->version != DRV_FLEET_RECORD_VERSION)
            return err_set(err, ERR_INVALID, "fleet calibration version %u, expected %u",
                           calib->version, DRV_FLEET_RECORD_VERSION);
        if (!pr_floats_ok(&calib->resid[0][0][0][0], sizeof(calib->resid) / sizeof(float)) ||
            !pr_floats_ok(&calib->horizon[0][0][0], sizeof(calib->horizon) / sizeof(float)))
            return err_set(err, ERR_INVALID, "fleet calibration holds negative or non-finite "
                                             "weights");
        for (int k = 0; k < DRV_RES_LAST; k++)
            if (!isfinite(calib->log_overrun[k]) || !isfinite(calib->steps[k]) ||
                !isfinite(calib->violations[k]))
                return err_set(err, ERR_INVALID, "fleet calibration `%s` controller state is "
                                                 "not finite",
                               drv_res_kind_name((enum drv_res_kind)k));
    }
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < n; i++) {
        struct drv_pr_group *g = drv_fleet_group_locked(f, recs[i].key, true, recs[i].updated_s);
        if (!g)
            continue;
        g->rec = recs[i];
        g->ref_t = recs[i].updated_s;
        g->w_t = INT64_MIN;
    }
    if (calib) {
        f->calib = *calib;
        f->calib_ref_t = calib->updated_s;
        f->calib_w_t = INT64_MIN;
        f->calib_started = true;
        for (int k = 0; k < DRV_RES_LAST; k++) {
            for (int m = 0; m < PR_M_LAST; m++)
                for (int c = 0; c < DRV_PREDICT_CONDS; c++) {
                    double w = 0;
                    for (int j = 0; j < DRV_PREDICT_BINS; j++)
                        w += calib->resid[k][m][c][j];
                    f->calib_w[k][m][c] = (float)w;
                }
            for (int c = 0; c < DRV_PREDICT_CONDS; c++) {
                double w = 0;
                for (int j = 0; j < DRV_PREDICT_BINS; j++)
                    w += calib->horizon[k][c][j];
                f->horizon_w[k][c] = (float)w;
            }
        }
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}
