/* The pool planner: from each class's forecast, how many members to hold
 * ready for the next interval.
 *
 * For one pool, the k-th member is worth holding when the chance it is
 * claimed times the price of a cold start exceeds the chance it idles
 * through the interval times the price of idle capacity: the newsvendor's
 * critical ratio, so the target is the demand quantile
 *     q = cold / (cold + f x idle)
 * where idle is the member's idle price for one interval and f >= 1 the
 * factor the budget imposes (1 while the budget is not binding).  A member
 * left unclaimed is not lost: it serves the next interval, so one
 * interval's idle price is its whole overage cost.
 *
 * A group of classes (same vCPUs and image, memory re-sculpted at
 * hand-over) is pooled as one when that is cheaper than per-class pools:
 * thin or bursty classes pool their uncertainty (the sum of independent
 * counts is relatively steadier) at the price of members reserving the
 * group's largest memory.
 *
 * Groups of one family (different vCPUs, same image and project) are pooled
 * as one when that is cheaper still: a family member idles at a base shape
 * (what the engine reserves for it meanwhile) and is re-sculpted live to the
 * request's flavor at hand-over, grown by vCPU hot-plug and balloon up to the
 * family's largest (what its domain is defined with), or shrunk.  The base
 * is the size of one of its groups' smallest classes, the one with the
 * lowest expected idle and re-sculpt cost; each hand-over that re-sculpts is
 * priced at [cost] price_reshape (group hand-overs that balloon, too).
 *
 * The budget: the plan's expected idle vCPU-seconds may not exceed
 * idle_budget x the vCPUs guests use x the interval, and its reservations
 * may not exceed max_share of the host.  When they would, f is raised
 * (bisection on log f) until the plan fits: every pool then gives up its
 * least likely members first, the Lagrangian solution of "most hits for
 * the idle capacity allowed".
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/strmap.h"
#include "driver/presculpt_priv.h"

#define PS_FACTOR_MAX 1e9
#define PS_BISECT_ITERS 24
#define PS_TARGET_CAP 10000000u
/* The budget is held on what really idles: the idle measured against
 * what the budget allowed over about a day (from an hour of reports on);
 * while it runs more than 10% above, a tightening factor grows (at most
 * e-fold an hour), and it relaxes as the measure comes back under. */
#define PS_CAL_HL_S (24 * 3600.0)
#define PS_CAL_TOLERANCE 1.1
#define PS_CAL_RATE_S 3600.0
#define PS_CAL_MAX 4.0

/* The demand one pool faces in the interval being planned: the ratio
 * histogram of its forecaster when usable, else the negative binomial,
 * tabulated once per plan (the budget's bisection asks many quantiles). */
struct ps_dist {
    double mu, phi;
    struct drv_ratio_hist *rh;  /* the ratio histogram, when usable */
    double *F, *L;              /* else the negative binomial's tables, n entries */
    uint32_t n, cap;
};

struct ps_class {
    char *key;
    int group;
    struct drv_res size;
    struct drv_fc fc;
    uint32_t pending;       /* requests in the open interval */
    /* the plan being evaluated */
    struct ps_dist dist;
    double mu, phi, q, left;
    uint32_t target;
};

struct ps_group {
    char *key;
    struct drv_fc fc;       /* the group's own forecaster: its classes' bursts
                             * come together, which a sum of independent
                             * class forecasts would not see */
    uint32_t pending;
    struct drv_res size;    /* what a group member reserves: the largest active request */
    int *cls;
    size_t ncls, cls_cap;
    bool pooled;            /* planned as one pool */
    size_t nactive;         /* classes with a forecast */
    int family;
    struct ps_dist dist;
    double mu, phi, q, left;
    double reshaped;        /* share of its requests a group member is re-sculpted for */
    uint32_t target;
    /* the evaluation at one factor: its cheapest plan (per class or as one) */
    double cost, idle_vcpu_s, res_vcpu, res_mem, waste;
};

struct ps_family {
    char *key;
    struct drv_fc fc;       /* the family's own forecaster */
    uint32_t pending;
    int *grp;
    size_t ngrp, grp_cap;
    size_t nactive;         /* groups with an active class */
    struct drv_res base;    /* what a member reserves while it idles */
    struct drv_res max;     /* what it is defined with: the largest active class */
    double reshaped;        /* share of its requests a member is re-sculpted for */
    bool pooled;
    struct ps_dist dist;
    double mu, phi, q, left;
    uint32_t target;
};

struct drv_presculpt {
    struct drv_presculpt_params p;
    struct drv_fc_model model;
    struct ps_class *cls;
    size_t ncls, cls_cap;
    struct ps_group *grp;
    size_t ngrp, grp_cap;
    struct ps_family *fam;
    size_t nfam, fam_cap;
    struct strmap *cls_ix, *grp_ix, *fam_ix;
    bool started;
    int64_t open_bin;       /* the interval requests are being counted in */
    struct drv_pool_plan *plans;
    size_t plans_cap;
    /* measured against expected idle (EWMAs that start empty) */
    double last_allowed;        /* the last plan's allowed idle; NAN: none */
    double cal_real, cal_allowed, cal_w; /* EWMAs of measured and allowed idle */
    double cal_log;             /* log of the tightening factor, >= 0 */
};

void drv_presculpt_params_from_cfg(const struct cfg *cfg, struct drv_presculpt_params *p)
{
    memset(p, 0, sizeof(*p));
    p->interval_s = cfg->presculpt_interval_s;
    p->horizon_s = cfg->presculpt_horizon_s;
    p->member_ttl_s = cfg->presculpt_member_ttl_s;
    p->cold_start_s = cfg->presculpt_cold_start_s;
    p->cold_start_price = cfg->presculpt_cold_start_price;
    p->idle_budget = cfg->presculpt_idle_budget;
    p->max_share = cfg->presculpt_max_share;
    drv_cost_model_from_cfg(cfg, &p->cost);
    p->enabled = cfg->presculpt_enabled;
    p->wide_pools = cfg->presculpt_wide_pools;
    snprintf(p->boot_marker, sizeof(p->boot_marker), "%s",
             cfg->presculpt_boot_marker ? cfg->presculpt_boot_marker : "");
    p->boot_wait_max_s = cfg->presculpt_boot_wait_max_s;
}

struct drv_presculpt *drv_presculpt_new(const struct drv_presculpt_params *p)
{
    struct drv_presculpt *ps = xzalloc(sizeof(*ps));
    ps->p = *p;
    if (ps->p.interval_s <= 0)
        ps->p.interval_s = 60;
    drv_fc_model_init(&ps->model, ps->p.interval_s);
    ps->last_allowed = NAN;
    ps->cls_ix = strmap_new();
    ps->grp_ix = strmap_new();
    ps->fam_ix = strmap_new();
    return ps;
}

void drv_presculpt_free(struct drv_presculpt *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->ncls; i++) {
        free(ps->cls[i].key);
        drv_fc_release(&ps->cls[i].fc);
        free(ps->cls[i].dist.F);
        free(ps->cls[i].dist.L);
    }
    for (size_t i = 0; i < ps->ngrp; i++) {
        free(ps->grp[i].key);
        free(ps->grp[i].cls);
        drv_fc_release(&ps->grp[i].fc);
        free(ps->grp[i].dist.F);
        free(ps->grp[i].dist.L);
    }
    for (size_t i = 0; i < ps->nfam; i++) {
        free(ps->fam[i].key);
        free(ps->fam[i].grp);
        drv_fc_release(&ps->fam[i].fc);
        free(ps->fam[i].dist.F);
        free(ps->fam[i].dist.L);
    }
    free(ps->cls);
    free(ps->grp);
    free(ps->fam);
    free(ps->plans);
    strmap_free(ps->cls_ix);
    strmap_free(ps->grp_ix);
    strmap_free(ps->fam_ix);
    free(ps);
}

int drv_presculpt_set_params(struct drv_presculpt *ps, const struct drv_presculpt_params *p,
                             struct err **err)
{
    if (p->interval_s != ps->p.interval_s)
        return err_set(err, ERR_INVALID,
                       "the interval cannot change at run time (%lld s, asked %lld s)",
                       (long long)ps->p.interval_s, (long long)p->interval_s);
    ps->p = *p;
    return 0;
}

const struct drv_presculpt_params *drv_presculpt_params(const struct drv_presculpt *ps)
{
    return &ps->p;
}

static int ps_family(struct drv_presculpt *ps, const char *key)
{
    int64_t ix = strmap_get(ps->fam_ix, key);
    if (ix >= 0)
        return (int)ix;
    if (ps->nfam == ps->fam_cap) {
        ps->fam_cap = ps->fam_cap ? 2 * ps->fam_cap : 16;
        ps->fam = xreallocarray(ps->fam, ps->fam_cap, sizeof(*ps->fam));
    }
    struct ps_family *f = &ps->fam[ps->nfam];
    memset(f, 0, sizeof(*f));
    f->key = xstrdup(key);
    drv_fc_init(&f->fc);
    strmap_put(ps->fam_ix, key, (int64_t)ps->nfam);
    return (int)ps->nfam++;
}

static int ps_group(struct drv_presculpt *ps, const char *key, const char *family_key)
{
    int64_t ix = strmap_get(ps->grp_ix, key);
    if (ix >= 0)
        return (int)ix;
    int fi = ps_family(ps, family_key);
    if (ps->ngrp == ps->grp_cap) {
        ps->grp_cap = ps->grp_cap ? 2 * ps->grp_cap : 16;
        ps->grp = xreallocarray(ps->grp, ps->grp_cap, sizeof(*ps->grp));
    }
    struct ps_group *g = &ps->grp[ps->ngrp];
    memset(g, 0, sizeof(*g));
    g->key = xstrdup(key);
    g->family = fi;
    drv_fc_init(&g->fc);
    strmap_put(ps->grp_ix, key, (int64_t)ps->ngrp);
    struct ps_family *f = &ps->fam[fi];
    if (f->ngrp == f->grp_cap) {
        f->grp_cap = f->grp_cap ? 2 * f->grp_cap : 4;
        f->grp = xreallocarray(f->grp, f->grp_cap, sizeof(*f->grp));
    }
    f->grp[f->ngrp++] = (int)ps->ngrp;
    return (int)ps->ngrp++;
}

int drv_presculpt_class(struct drv_presculpt *ps, const char *key, const char *group_key,
                        const struct drv_res *size)
{
    return drv_presculpt_class_in(ps, key, group_key, group_key, size);
}

int drv_presculpt_class_in(struct drv_presculpt *ps, const char *key, const char *group_key,
                           const char *family_key, const struct drv_res *size)
{
    int64_t ix = strmap_get(ps->cls_ix, key);
    if (ix >= 0) {
        ps->cls[ix].size = *size;
        return (int)ix;
    }
    int g = ps_group(ps, group_key, family_key);
    if (ps->ncls == ps->cls_cap) {
        ps->cls_cap = ps->cls_cap ? 2 * ps->cls_cap : 16;
        ps->cls = xreallocarray(ps->cls, ps->cls_cap, sizeof(*ps->cls));
    }
    struct ps_class *c = &ps->cls[ps->ncls];
    memset(c, 0, sizeof(*c));
    c->key = xstrdup(key);
    c->group = g;
    c->size = *size;
    drv_fc_init(&c->fc);
    struct ps_group *gr = &ps->grp[g];
    if (gr->ncls == gr->cls_cap) {
        gr->cls_cap = gr->cls_cap ? 2 * gr->cls_cap : 4;
        gr->cls = xreallocarray(gr->cls, gr->cls_cap, sizeof(*gr->cls));
    }
    gr->cls[gr->ncls++] = (int)ps->ncls;
    strmap_put(ps->cls_ix, key, (int64_t)ps->ncls);
    return (int)ps->ncls++;
}

static void ps_dist_release(struct ps_dist *d)
{
    free(d->F);
    free(d->L);
}

/* Compact an index list in place through map (-1: gone); the new count. */
static size_t ps_remap_list(int *v, size_t n, const int *map)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (map[v[i]] >= 0)
            v[k++] = map[v[i]];
    return k;
}

size_t drv_presculpt_drop_classes(struct drv_presculpt *ps, const bool *drop, int *remap)
{
    size_t nc = 0, ng = 0, nf = 0, dropped = 0;
    strmap_free(ps->cls_ix);
    ps->cls_ix = strmap_new();
    for (size_t i = 0; i < ps->ncls; i++) {
        struct ps_class *c = &ps->cls[i];
        if (drop[i]) {
            free(c->key);
            drv_fc_release(&c->fc);
            ps_dist_release(&c->dist);
            remap[i] = -1;
            dropped++;
            continue;
        }
        remap[i] = (int)nc;
        strmap_put(ps->cls_ix, c->key, (int64_t)nc);
        ps->cls[nc++] = *c;
    }
    ps->ncls = nc;
    if (!dropped)
        return 0;
    /* groups without a class go, then families without a group */
    int *gmap = xcalloc(ps->ngrp + 1, sizeof(*gmap));
    strmap_free(ps->grp_ix);
    ps->grp_ix = strmap_new();
    for (size_t g = 0; g < ps->ngrp; g++) {
        struct ps_group *gr = &ps->grp[g];
        gr->ncls = ps_remap_list(gr->cls, gr->ncls, remap);
        if (!gr->ncls) {
            free(gr->key);
            free(gr->cls);
            drv_fc_release(&gr->fc);
            ps_dist_release(&gr->dist);
            gmap[g] = -1;
            continue;
        }
        gmap[g] = (int)ng;
        strmap_put(ps->grp_ix, gr->key, (int64_t)ng);
        ps->grp[ng++] = *gr;
    }
    ps->ngrp = ng;
    for (size_t i = 0; i < ps->ncls; i++)
        ps->cls[i].group = gmap[ps->cls[i].group];
    int *fmap = xcalloc(ps->nfam + 1, sizeof(*fmap));
    strmap_free(ps->fam_ix);
    ps->fam_ix = strmap_new();
    for (size_t f = 0; f < ps->nfam; f++) {
        struct ps_family *fm = &ps->fam[f];
        fm->ngrp = ps_remap_list(fm->grp, fm->ngrp, gmap);
        if (!fm->ngrp) {
            free(fm->key);
            free(fm->grp);
            drv_fc_release(&fm->fc);
            ps_dist_release(&fm->dist);
            fmap[f] = -1;
            continue;
        }
        fmap[f] = (int)nf;
        strmap_put(ps->fam_ix, fm->key, (int64_t)nf);
        ps->fam[nf++] = *fm;
    }
    ps->nfam = nf;
    for (size_t g = 0; g < ps->ngrp; g++)
        ps->grp[g].family = fmap[ps->grp[g].family];
    free(gmap);
    free(fmap);
    return dropped;
}

size_t drv_presculpt_nclasses(const struct drv_presculpt *ps)
{
    return ps->ncls;
}

size_t drv_presculpt_ngroups(const struct drv_presculpt *ps)
{
    return ps->ngrp;
}

size_t drv_presculpt_nfamilies(const struct drv_presculpt *ps)
{
    return ps->nfam;
}

size_t drv_presculpt_nslots(const struct drv_presculpt *ps)
{
    return ps->ncls + ps->ngrp + ps->nfam;
}

const char *drv_presculpt_family_key(const struct drv_presculpt *ps, int family)
{
    return family >= 0 && (size_t)family < ps->nfam ? ps->fam[family].key : NULL;
}

int drv_presculpt_group_family(const struct drv_presculpt *ps, int group)
{
    return group >= 0 && (size_t)group < ps->ngrp ? ps->grp[group].family : -1;
}

const char *drv_presculpt_class_key(const struct drv_presculpt *ps, int cls)
{
    return cls >= 0 && (size_t)cls < ps->ncls ? ps->cls[cls].key : NULL;
}

const char *drv_presculpt_group_key(const struct drv_presculpt *ps, int group)
{
    return group >= 0 && (size_t)group < ps->ngrp ? ps->grp[group].key : NULL;
}

int drv_presculpt_class_group(const struct drv_presculpt *ps, int cls)
{
    return cls >= 0 && (size_t)cls < ps->ncls ? ps->cls[cls].group : -1;
}

/* One forecaster learns the count of the open interval and the empty
 * ones up to `bin`. */
static void ps_fc_close(struct drv_presculpt *ps, struct drv_fc *fc, uint32_t *pending,
                        int64_t bin)
{
    drv_fc_observe(&ps->model, fc, ps->open_bin, *pending);
    if (drv_fc_active(fc))
        drv_fc_observe(&ps->model, fc, bin - 1, 0);
    *pending = 0;
}

/* Close every interval before `bin`: each class learns its count. */
static void ps_close_until(struct drv_presculpt *ps, int64_t bin)
{
    if (!ps->started || bin <= ps->open_bin)
        return;
    for (size_t i = 0; i < ps->ncls; i++)
        ps_fc_close(ps, &ps->cls[i].fc, &ps->cls[i].pending, bin);
    for (size_t i = 0; i < ps->ngrp; i++)
        if (ps->grp[i].ncls >= 2) /* a class alone is its own forecast */
            ps_fc_close(ps, &ps->grp[i].fc, &ps->grp[i].pending, bin);
    for (size_t i = 0; i < ps->nfam; i++)
        if (ps->fam[i].ngrp >= 2) /* a group alone is its own forecast */
            ps_fc_close(ps, &ps->fam[i].fc, &ps->fam[i].pending, bin);
    ps->open_bin = bin;
}

static void ps_count_add(uint32_t *pending, uint32_t count)
{
    uint64_t n = (uint64_t)*pending + count;
    *pending = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

void drv_presculpt_record(struct drv_presculpt *ps, int cls, int64_t t_s, uint32_t count)
{
    if (cls < 0 || (size_t)cls >= ps->ncls || count == 0)
        return;
    int64_t bin = drv_floor_div(t_s, ps->p.interval_s);
    if (!ps->started) {
        ps->started = true;
        ps->open_bin = bin;
    }
    ps_close_until(ps, bin);
    struct ps_group *g = &ps->grp[ps->cls[cls].group];
    ps_count_add(&ps->cls[cls].pending, count);
    ps_count_add(&g->pending, count);
    ps_count_add(&ps->fam[g->family].pending, count);
}

/* Price of one member of `size` idling through one interval. */
static double ps_idle_price(const struct drv_presculpt *ps, const struct drv_res *size)
{
    double per_h = 0;
    for (int k = 0; k < DRV_RES_LAST; k++)
        per_h += size->v[k] * ps->p.cost.idle[k];
    return per_h * (double)ps->p.interval_s / 3600.0;
}

/* One pool at factor f, holding `have` members now: its target, the
 * quantile it covers, E[members unclaimed] and the members destroyed.
 * Returns the expected cost at factor f (the objective).
 *
 * A member already made is kept up to a higher quantile than a new one is
 * made: destroying it wastes its preparation (cold_start_latency of idle
 * capacity), keeping it risks one interval of idle.  Keeping the k-th
 * member pays while P(D >= k) (cold + f idle) >= f idle (1 - prep / interval). */
#define PS_TABLE_MAX 4096u

/* q_top: the highest quantile the plan may ask (at factor 1). */
static void ps_dist_prepare(struct ps_dist *d, struct drv_fc *fc, double mu, double q_top)
{
    d->mu = mu;
    d->phi = fc ? fc->phi : d->phi;
    d->n = 0;
    d->rh = fc && drv_rh_usable(&fc->rh[fc->state], mu) ? &fc->rh[fc->state] : NULL;
    if (d->rh)
        return;
    if (!d->F) {
        d->cap = PS_TABLE_MAX;
        d->F = xcalloc(d->cap, sizeof(*d->F));
        d->L = xcalloc(d->cap, sizeof(*d->L));
    }
    d->n = drv_nb_table(mu, d->phi, q_top, d->F, d->L, d->cap);
}

/* The q-quantile of the demand and E[(S - D)+] there. */
static uint32_t ps_quantile(const struct ps_dist *d, double q, uint32_t cap, double *left)
{
    if (d->rh)
        return drv_rh_quantile(d->rh, d->mu, q, cap, left);
    if (d->n == 0 || q > d->F[d->n - 1])
        return drv_nb_quantile(d->mu, d->phi, q, cap, left);
    uint32_t lo = 0, hi = d->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->F[mid] >= q)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo > cap)
        lo = cap;
    if (left)
        *left = d->L[lo];
    return lo;
}

static double ps_size_pool(const struct drv_presculpt *ps, const struct ps_dist *d,
                           const struct drv_res *size, double f, uint32_t have,
                           uint32_t *target, double *q, double *left, uint32_t *destroyed)
{
    double mu = d->mu;
    double idle = ps_idle_price(ps, size), cold = ps->p.cold_start_price;
    double prep = ps->p.cold_start_s / (double)ps->p.interval_s;
    if (prep > 1)
        prep = 1;
    *q = cold > 0 ? cold / (cold + f * idle) : 0;
    *target = ps_quantile(d, *q, PS_TARGET_CAP, left);
    if (have > *target) {
        double q_keep = cold + f * idle > 0 ? (cold + f * idle * prep) / (cold + f * idle) : 0;
        double keep_left;
        uint32_t keep = ps_quantile(d, q_keep, have, &keep_left);
        if (keep > *target) {
            *target = keep;
            *left = keep_left;
        }
    }
    *destroyed = have > *target ? have - *target : 0;
    double shortfall = mu - *target + *left;
    return f * idle * (*left + prep * *destroyed) + cold * (shortfall > 0 ? shortfall : 0);
}

void drv_presculpt_size_nb(const struct drv_presculpt_params *p, double mu, double phi,
                           const struct drv_res *size, double f, uint32_t have,
                           struct drv_pool_sizing *out)
{
    struct drv_presculpt ps = {.p = *p};
    struct ps_dist d = {.mu = mu, .phi = phi};
    memset(out, 0, sizeof(*out));
    out->cost = ps_size_pool(&ps, &d, size, f, have, &out->target, &out->q, &out->left,
                             &out->destroyed);
}

/* The highest quantile a pool of members of `size` is sized at: a
 * member already made, kept, at factor 1. */
static double ps_q_top(const struct drv_presculpt *ps, const struct drv_res *size)
{
    double idle = ps_idle_price(ps, size), cold = ps->p.cold_start_price;
    double prep = ps->p.cold_start_s / (double)ps->p.interval_s;
    if (prep > 1)
        prep = 1;
    return cold + idle > 0 ? (cold + idle * prep) / (cold + idle) : 0;
}

struct ps_totals {
    double idle_vcpu_s;     /* expected */
    double res_vcpu, res_mem; /* reserved by the targets */
};

/* Expected price of the re-sculpts a pool's hand-overs need: each of its
 * claims (target - left) re-sculpts its member with chance `reshaped`. */
static double ps_reshape_cost(const struct drv_presculpt *ps, uint32_t target, double left,
                              double reshaped)
{
    double claims = (double)target - left;
    return ps->p.cost.reshape * reshaped * (claims > 0 ? claims : 0);
}

static double ps_prep_share(const struct drv_presculpt *ps)
{
    double prep = ps->p.cold_start_s / (double)ps->p.interval_s;
    return prep > 1 ? 1 : prep;
}

/* Size group g's pools at factor f: per class or as one, whichever costs
 * less; the result in g->cost, g->idle_vcpu_s, g->res_*, and g->waste (the
 * price of destroying every member its pools hold, should its family be
 * pooled instead). */
static void ps_eval_group(struct drv_presculpt *ps, int gi, double f, const uint32_t *have)
{
    struct ps_group *g = &ps->grp[gi];
    double dt = (double)ps->p.interval_s, prep_s = ps->p.cold_start_s;
    double prep = ps_prep_share(ps);
    double fine = 0, idle_fine = 0, vcpu_fine = 0, mem_fine = 0;
    uint32_t gone;
    g->waste = 0;
    for (size_t k = 0; k < g->ncls; k++) {
        struct ps_class *c = &ps->cls[g->cls[k]];
        c->target = 0;
        c->left = 0;
        if (have)
            g->waste += have[g->cls[k]] * f * ps_idle_price(ps, &c->size) * prep;
        if (!drv_fc_active(&c->fc))
            continue;
        fine += ps_size_pool(ps, &c->dist, &c->size, f, have ? have[g->cls[k]] : 0,
                             &c->target, &c->q, &c->left, &gone);
        idle_fine += (c->left * dt + gone * prep_s) * c->size.v[DRV_RES_VCPU];
        vcpu_fine += c->target * c->size.v[DRV_RES_VCPU];
        mem_fine += c->target * c->size.v[DRV_RES_MEM_MIB];
    }
    g->pooled = false;
    g->target = 0;
    g->left = 0;
    uint32_t g_have = have ? have[ps->ncls + (size_t)gi] : 0, g_gone = 0;
    g->waste += g_have * f * ps_idle_price(ps, &g->size) * prep;
    double whole = INFINITY;
    if (g->nactive >= 2 && g->mu > 0) {
        whole = ps_size_pool(ps, &g->dist, &g->size, f, g_have, &g->target, &g->q, &g->left,
                             &g_gone) +
                ps_reshape_cost(ps, g->target, g->left, g->reshaped);
        g->pooled = whole < fine;
    }
    if (g->pooled) {
        g->cost = whole;
        g->idle_vcpu_s = (g->left * dt + g_gone * prep_s) * g->size.v[DRV_RES_VCPU];
        g->res_vcpu = g->target * g->size.v[DRV_RES_VCPU];
        g->res_mem = g->target * g->size.v[DRV_RES_MEM_MIB];
    } else {
        g->target = 0;
        g->cost = fine;
        g->idle_vcpu_s = idle_fine;
        g->res_vcpu = vcpu_fine;
        g->res_mem = mem_fine;
    }
}

/* A family pool of members at `base`, at factor f: its expected cost
 * (idle, cold starts, re-sculpts); target, quantile, left and members
 * destroyed in the out parameters. */
static double ps_family_cost(const struct drv_presculpt *ps, const struct ps_family *fm,
                             const struct drv_res *base, double reshaped, double f,
                             uint32_t have, uint32_t *target, double *q, double *left,
                             uint32_t *gone)
{
    return ps_size_pool(ps, &fm->dist, base, f, have, target, q, left, gone) +
           ps_reshape_cost(ps, *target, *left, reshaped);
}

/* Size every pool at factor f; choose per group between per-class pools
 * and one group pool, and per family between those and one family pool.
 * have: members per slot now (classes, groups, families), or NULL. */
static void ps_eval(struct drv_presculpt *ps, double f, const uint32_t *have,
                    struct ps_totals *t)
{
    double dt = (double)ps->p.interval_s, prep_s = ps->p.cold_start_s;
    double prep = ps_prep_share(ps);
    memset(t, 0, sizeof(*t));
    for (size_t gi = 0; gi < ps->ngrp; gi++)
        ps_eval_group(ps, (int)gi, f, have);
    for (size_t fi = 0; fi < ps->nfam; fi++) {
        struct ps_family *fm = &ps->fam[fi];
        uint32_t f_have = have ? have[ps->ncls + ps->ngrp + fi] : 0, f_gone = 0;
        double groups = 0, groups_waste = 0;
        for (size_t k = 0; k < fm->ngrp; k++) {
            groups += ps->grp[fm->grp[k]].cost;
            groups_waste += ps->grp[fm->grp[k]].waste;
        }
        fm->pooled = false;
        fm->target = 0;
        fm->left = 0;
        if (fm->nactive >= 2 && fm->mu > 0) {
            /* switching destroys the members the other way holds */
            double wide = ps_family_cost(ps, fm, &fm->base, fm->reshaped, f, f_have,
                                         &fm->target, &fm->q, &fm->left, &f_gone) +
                          groups_waste;
            double narrow = groups + f_have * f * ps_idle_price(ps, &fm->base) * prep;
            fm->pooled = wide < narrow;
        }
        if (fm->pooled) {
            t->idle_vcpu_s += (fm->left * dt + f_gone * prep_s) * fm->base.v[DRV_RES_VCPU];
            t->res_vcpu += fm->target * fm->base.v[DRV_RES_VCPU];
            t->res_mem += fm->target * fm->base.v[DRV_RES_MEM_MIB];
            continue;
        }
        fm->target = 0;
        for (size_t k = 0; k < fm->ngrp; k++) {
            const struct ps_group *g = &ps->grp[fm->grp[k]];
            t->idle_vcpu_s += g->idle_vcpu_s;
            t->res_vcpu += g->res_vcpu;
            t->res_mem += g->res_mem;
        }
    }
}

void drv_presculpt_report_idle(struct drv_presculpt *ps, double idle_vcpu_s)
{
    if (!isfinite(ps->last_allowed) || !(idle_vcpu_s >= 0))
        return;
    double dt = (double)ps->p.interval_s, a = 1 - pow(0.5, dt / PS_CAL_HL_S);
    ps->cal_real += a * (idle_vcpu_s - ps->cal_real);
    ps->cal_allowed += a * (ps->last_allowed - ps->cal_allowed);
    ps->cal_w += a * (1 - ps->cal_w);
    ps->last_allowed = NAN;
    if (ps->cal_w < 1 - pow(0.5, 3600.0 / PS_CAL_HL_S) || !(ps->cal_allowed > 0))
        return;
    double over = log(ps->cal_real / ps->cal_allowed / PS_CAL_TOLERANCE);
    ps->cal_log += dt / PS_CAL_RATE_S * (over > 1 ? 1 : over);
    if (ps->cal_log < 0)
        ps->cal_log = 0;
    if (ps->cal_log > log(PS_CAL_MAX))
        ps->cal_log = log(PS_CAL_MAX);
}

double drv_presculpt_idle_calibration(const struct drv_presculpt *ps)
{
    return exp(ps->cal_log);
}

void drv_presculpt_calibration_get(const struct drv_presculpt *ps,
                                   struct drv_presculpt_calibration *out)
{
    out->interval_s = ps->p.interval_s;
    out->real_idle = ps->cal_real;
    out->allowed_idle = ps->cal_allowed;
    out->weight = ps->cal_w;
    out->log_factor = ps->cal_log;
}

int drv_presculpt_calibration_set(struct drv_presculpt *ps,
                                  const struct drv_presculpt_calibration *in, struct err **err)
{
    if (!(in->real_idle >= 0 && in->real_idle < 1e15) ||
        !(in->allowed_idle >= 0 && in->allowed_idle < 1e15) ||
        !(in->weight >= 0 && in->weight <= 1) ||
        !(in->log_factor >= 0 && in->log_factor <= log(PS_CAL_MAX) + 1e-9))
        return err_set(err, ERR_INVALID,
                       "idle calibration out of range: idle %g of %g allowed, weight %g, "
                       "factor log %g",
                       in->real_idle, in->allowed_idle, in->weight, in->log_factor);
    if (in->interval_s != ps->p.interval_s)
        return err_set(err, ERR_CONFLICT, "idle calibration of %lld s intervals, planning every "
                       "%lld s", (long long)in->interval_s, (long long)ps->p.interval_s);
    ps->cal_real = in->real_idle;
    ps->cal_allowed = in->allowed_idle;
    ps->cal_w = in->weight;
    ps->cal_log = in->log_factor;
    return 0;
}

static bool ps_fits(const struct drv_presculpt *ps, const struct ps_totals *t, double allowed)
{
    if (t->idle_vcpu_s * drv_presculpt_idle_calibration(ps) > allowed * (1 + 1e-9))
        return false;
    const struct drv_res *h = &ps->p.host;
    if (h->v[DRV_RES_VCPU] > 0 && t->res_vcpu > ps->p.max_share * h->v[DRV_RES_VCPU])
        return false;
    if (h->v[DRV_RES_MEM_MIB] > 0 && t->res_mem > ps->p.max_share * h->v[DRV_RES_MEM_MIB])
        return false;
    return true;
}

/* P(no request of class c in the member lifetime from interval bin). */
static double ps_p_none(const struct drv_presculpt *ps, const struct ps_class *c, int64_t bin)
{
    int64_t n = ps->p.member_ttl_s / ps->p.interval_s;
    double p = 1;
    if (n < 1)
        n = 1;
    for (int64_t h = 0; h < n && p > 1e-12; h++)
        p *= drv_nb_p0(drv_fc_mean(&ps->model, &c->fc, bin + h), c->fc.phi);
    return p;
}

static struct drv_pool_plan *ps_plan_push(struct drv_presculpt *ps, size_t *n)
{
    if (*n == ps->plans_cap) {
        ps->plans_cap = ps->plans_cap ? 2 * ps->plans_cap : 32;
        ps->plans = xreallocarray(ps->plans, ps->plans_cap, sizeof(*ps->plans));
    }
    struct drv_pool_plan *pl = &ps->plans[(*n)++];
    memset(pl, 0, sizeof(*pl));
    return pl;
}

static void ps_plan_fill(const struct drv_presculpt *ps, struct drv_pool_plan *pl, double mu,
                         uint32_t target, double q, double left, const struct drv_res *size,
                         const struct drv_res *max, double reshaped)
{
    double idle = ps_idle_price(ps, size), shortfall = mu - target + left;
    pl->target = target;
    pl->member = *size;
    pl->member_max = *max;
    pl->reshaped = reshaped;
    pl->mean = mu;
    pl->quantile = q;
    pl->exp_idle_members = left;
    pl->exp_cold = shortfall > 0 ? shortfall : 0;
    pl->exp_cost = idle * left + ps->p.cold_start_price * pl->exp_cold +
                   ps_reshape_cost(ps, target, left, reshaped);
}

static bool ps_same_size(const struct drv_res *a, const struct drv_res *b)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (a->v[k] != b->v[k])
            return false;
    return true;
}

/* Share of the requests of the active classes in `cls` (n of them) whose
 * size is not `size`: those a member of `size` is re-sculpted for. */
static double ps_reshaped_share(const struct drv_presculpt *ps, const int *cls, size_t n,
                                const struct drv_res *size)
{
    double all = 0, same = 0;
    for (size_t k = 0; k < n; k++) {
        const struct ps_class *c = &ps->cls[cls[k]];
        if (!drv_fc_active(&c->fc))
            continue;
        all += c->mu;
        if (ps_same_size(&c->size, size))
            same += c->mu;
    }
    return all > 0 ? 1 - same / all : 1;
}

static double ps_family_reshaped(const struct drv_presculpt *ps, const struct ps_family *fm,
                                 const struct drv_res *size)
{
    double all = 0, other = 0;
    for (size_t k = 0; k < fm->ngrp; k++) {
        const struct ps_group *g = &ps->grp[fm->grp[k]];
        double mu = 0;
        for (size_t j = 0; j < g->ncls; j++)
            if (drv_fc_active(&ps->cls[g->cls[j]].fc))
                mu += ps->cls[g->cls[j]].mu;
        all += mu;
        other += mu * ps_reshaped_share(ps, g->cls, g->ncls, size);
    }
    return all > 0 ? other / all : 1;
}

/* The smallest active class of group g (by vCPUs, then memory), or NULL. */
static const struct ps_class *ps_group_smallest(const struct drv_presculpt *ps,
                                                const struct ps_group *g)
{
    const struct ps_class *best = NULL;
    for (size_t k = 0; k < g->ncls; k++) {
        const struct ps_class *c = &ps->cls[g->cls[k]];
        if (!drv_fc_active(&c->fc))
            continue;
        if (!best || c->size.v[DRV_RES_VCPU] < best->size.v[DRV_RES_VCPU] ||
            (c->size.v[DRV_RES_VCPU] == best->size.v[DRV_RES_VCPU] &&
             c->size.v[DRV_RES_MEM_MIB] < best->size.v[DRV_RES_MEM_MIB]))
            best = c;
    }
    return best;
}

/* Prepare family fm for the interval tbin: its active groups, the largest
 * shape a member is defined with, its demand, and the base shape its
 * members idle at: of its groups' smallest classes, the one whose pool
 * costs least at factor 1 (idle at the base, cold starts, re-sculpts of
 * the hand-overs to other sizes). */
static void ps_family_prepare(struct drv_presculpt *ps, struct ps_family *fm, int64_t tbin,
                              uint32_t have)
{
    fm->nactive = 0;
    fm->mu = 0;
    fm->max = drv_res_zero();
    if (!ps->p.wide_pools || fm->ngrp < 2 || !drv_fc_active(&fm->fc))
        return;
    const struct ps_class *cheapest = NULL;
    for (size_t k = 0; k < fm->ngrp; k++) {
        const struct ps_group *g = &ps->grp[fm->grp[k]];
        const struct ps_class *c = ps_group_smallest(ps, g);
        if (!c)
            continue;
        fm->nactive++;
        fm->max = drv_res_max(fm->max, g->size);
        if (!cheapest || ps_idle_price(ps, &c->size) < ps_idle_price(ps, &cheapest->size))
            cheapest = c;
    }
    if (fm->nactive < 2)
        return;
    fm->mu = drv_fc_mean(&ps->model, &fm->fc, tbin);
    fm->phi = fm->fc.phi;
    ps_dist_prepare(&fm->dist, &fm->fc, fm->mu, ps_q_top(ps, &cheapest->size));
    double best = INFINITY;
    for (size_t k = 0; k < fm->ngrp; k++) {
        const struct ps_class *c = ps_group_smallest(ps, &ps->grp[fm->grp[k]]);
        if (!c)
            continue;
        uint32_t target, gone;
        double q, left, reshaped = ps_family_reshaped(ps, fm, &c->size);
        double cost = ps_family_cost(ps, fm, &c->size, reshaped, 1, have, &target, &q, &left,
                                     &gone);
        if (cost < best) {
            best = cost;
            fm->base = c->size;
            fm->reshaped = reshaped;
        }
    }
}

/* The plan of group gi (its own pool, or its classes'), pushed after n. */
static void ps_plan_group(struct drv_presculpt *ps, int gi, int64_t tbin, bool with_confidence,
                          size_t *n)
{
    struct ps_group *g = &ps->grp[gi];
    if (g->pooled) {
        if (g->target == 0)
            return;
        struct drv_pool_plan *pl = ps_plan_push(ps, n);
        pl->level = DRV_POOL_GROUP;
        pl->index = gi;
        pl->key = g->key;
        ps_plan_fill(ps, pl, g->mu, g->target, g->q, g->left, &g->size, &g->size, g->reshaped);
        if (with_confidence) {
            double none = 1;
            for (size_t k = 0; k < g->ncls; k++)
                if (drv_fc_active(&ps->cls[g->cls[k]].fc))
                    none *= ps_p_none(ps, &ps->cls[g->cls[k]], tbin);
            pl->confidence = 1 - none;
        }
        return;
    }
    for (size_t k = 0; k < g->ncls; k++) {
        struct ps_class *c = &ps->cls[g->cls[k]];
        if (c->target == 0)
            continue;
        struct drv_pool_plan *pl = ps_plan_push(ps, n);
        pl->level = DRV_POOL_CLASS;
        pl->index = g->cls[k];
        pl->key = c->key;
        ps_plan_fill(ps, pl, c->mu, c->target, c->q, c->left, &c->size, &c->size, 0);
        if (with_confidence)
            pl->confidence = 1 - ps_p_none(ps, c, tbin);
    }
}

int drv_presculpt_plan(struct drv_presculpt *ps, int64_t now_s, int64_t target_s,
                       const struct drv_res *in_use, const uint32_t *have,
                       bool with_confidence, struct drv_presculpt_plan_out *out,
                       struct err **err)
{
    if (target_s < now_s)
        return err_set(err, ERR_INVALID, "plan for %lld s made at %lld s: the past",
                       (long long)target_s, (long long)now_s);
    int64_t dt = ps->p.interval_s, tbin = drv_floor_div(target_s, dt);
    ps_close_until(ps, drv_floor_div(now_s, dt));
    for (size_t i = 0; i < ps->ncls; i++) {
        struct ps_class *c = &ps->cls[i];
        if (!drv_fc_active(&c->fc))
            continue;
        c->mu = drv_fc_mean(&ps->model, &c->fc, tbin);
        c->phi = c->fc.phi;
        ps_dist_prepare(&c->dist, &c->fc, c->mu, ps_q_top(ps, &c->size));
    }
    for (size_t i = 0; i < ps->ngrp; i++) {
        struct ps_group *g = &ps->grp[i];
        g->size = drv_res_zero();
        g->nactive = 0;
        for (size_t k = 0; k < g->ncls; k++) {
            const struct ps_class *c = &ps->cls[g->cls[k]];
            if (drv_fc_active(&c->fc)) {
                g->size = drv_res_max(g->size, c->size);
                g->nactive++;
            }
        }
        g->mu = 0;
        if (g->nactive < 2)
            continue;
        g->mu = drv_fc_mean(&ps->model, &g->fc, tbin);
        g->phi = g->fc.phi;
        g->reshaped = ps_reshaped_share(ps, g->cls, g->ncls, &g->size);
        ps_dist_prepare(&g->dist, &g->fc, g->mu, ps_q_top(ps, &g->size));
    }
    for (size_t i = 0; i < ps->nfam; i++)
        ps_family_prepare(ps, &ps->fam[i], tbin, have ? have[ps->ncls + ps->ngrp + i] : 0);

    double allowed = INFINITY;
    if (in_use && ps->p.idle_budget >= 0)
        allowed = ps->p.idle_budget * in_use->v[DRV_RES_VCPU] * (double)dt;
    struct ps_totals t;
    double f = 1;
    ps_eval(ps, f, have, &t);
    bool bound = !ps_fits(ps, &t, allowed);
    if (bound) {
        /* the smallest factor whose plan fits */
        double lo = 0, hi = log(PS_FACTOR_MAX);
        ps_eval(ps, PS_FACTOR_MAX, have, &t);
        if (!ps_fits(ps, &t, allowed)) {
            f = INFINITY; /* even the surest members do not fit: no pool */
        } else {
            for (int i = 0; i < PS_BISECT_ITERS; i++) {
                double mid = 0.5 * (lo + hi);
                ps_eval(ps, exp(mid), have, &t);
                if (ps_fits(ps, &t, allowed))
                    hi = mid;
                else
                    lo = mid;
            }
            f = exp(hi);
            ps_eval(ps, f, have, &t);
        }
    }

    size_t n = 0;
    memset(out, 0, sizeof(*out));
    for (size_t fi = 0; fi < ps->nfam && isfinite(f); fi++) {
        struct ps_family *fm = &ps->fam[fi];
        if (fm->pooled) {
            if (fm->target == 0)
                continue;
            struct drv_pool_plan *pl = ps_plan_push(ps, &n);
            pl->level = DRV_POOL_FAMILY;
            pl->index = (int)fi;
            pl->key = fm->key;
            ps_plan_fill(ps, pl, fm->mu, fm->target, fm->q, fm->left, &fm->base, &fm->max,
                         fm->reshaped);
            if (with_confidence) {
                double none = 1;
                for (size_t j = 0; j < fm->ngrp; j++) {
                    const struct ps_group *g = &ps->grp[fm->grp[j]];
                    for (size_t k = 0; k < g->ncls; k++)
                        if (drv_fc_active(&ps->cls[g->cls[k]].fc))
                            none *= ps_p_none(ps, &ps->cls[g->cls[k]], tbin);
                }
                pl->confidence = 1 - none;
            }
            continue;
        }
        for (size_t j = 0; j < fm->ngrp; j++)
            ps_plan_group(ps, fm->grp[j], tbin, with_confidence, &n);
    }
    out->pools = ps->plans;
    out->npools = n;
    out->idle_price_factor = f;
    out->exp_idle_vcpu_s = isfinite(f) ? t.idle_vcpu_s : 0;
    out->allowed_idle_vcpu_s = allowed;
    out->idle_calibration = drv_presculpt_idle_calibration(ps);
    out->budget_bound = bound;
    ps->last_allowed = allowed;
    return 0;
}

int drv_presculpt_forecast(const struct drv_presculpt *ps, int cls, int64_t t_s,
                           struct drv_forecast_step *steps, size_t n, double *confidence,
                           struct err **err)
{
    if (cls < 0 || (size_t)cls >= ps->ncls)
        return err_set(err, ERR_NOT_FOUND, "no request class %d", cls);
    const struct ps_class *c = &ps->cls[cls];
    int64_t dt = ps->p.interval_s, bin = drv_floor_div(t_s, dt);
    for (size_t i = 0; i < n; i++) {
        double mu = drv_fc_mean(&ps->model, &c->fc, bin + (int64_t)i);
        steps[i].t_s = (bin + (int64_t)i) * dt;
        steps[i].mean = mu;
        struct drv_ratio_hist *rh = (struct drv_ratio_hist *)&c->fc.rh[c->fc.state];
        struct ps_dist d = {.mu = mu, .phi = c->fc.phi, .rh = drv_rh_usable(rh, mu) ? rh : NULL};
        steps[i].p10 = ps_quantile(&d, 0.1, PS_TARGET_CAP, NULL);
        steps[i].p50 = ps_quantile(&d, 0.5, PS_TARGET_CAP, NULL);
        steps[i].p90 = ps_quantile(&d, 0.9, PS_TARGET_CAP, NULL);
    }
    if (confidence)
        *confidence = drv_fc_active(&c->fc) ? 1 - ps_p_none(ps, c, bin) : 0;
    return 0;
}
