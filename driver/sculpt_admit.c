/* Admission over a blueprint's whole horizon.
 *
 * At every step from now to the end of the candidate's horizon and in every
 * dimension it is shaped in:
 *   ceiling  sum of planned shapes (every guest's cost-model band, between
 *            its floor and flavor; now: at least the shape in force)
 *            <= capacity x overcommit ratio;
 *   risk     sum of expected use + z x sqrt(sum of variances) <= capacity,
 *            z the normal quantile of 1 - host_violation_rate, means and
 *            variances from each blueprint's bands (sculpt_moments), the
 *            whole capped by the sum of the shapes (which cap use).
 * The sums over the guests already held are kept for the candidate's time
 * grid and reused until the engine changes.  The first step that fails is
 * reported, with its worst dimension.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "driver/cost_estimate.h"
#include "driver/sculpt_priv.h"

void sculpt_agg_release(struct sculpt_agg *a)
{
    free(a->ent);
    free(a->mean);
    free(a->var);
    memset(a, 0, sizeof(*a));
}

static void sculpt_agg_add_guest(const struct drv_sculpt *e, struct sculpt_agg *a,
                                 const struct sculpt_guest *g)
{
    struct drv_res floor = sculpt_floor(e, g);
    for (int32_t j = 0; j < a->nsteps; j++) {
        int64_t t = a->start_s + (int64_t)j * a->step_s;
        int32_t s = g->bp ? sculpt_bp_step(g->bp, t) : 0;
        double *ent = a->ent + (size_t)j * DRV_RES_LAST;
        double *mean = a->mean + (size_t)j * DRV_RES_LAST;
        double *var = a->var + (size_t)j * DRV_RES_LAST;
        for (int k = 0; k < DRV_RES_LAST; k++) {
            if (!sculpt_shaped(g, k))
                continue;
            double plan = sculpt_planned(e, g, s, k, floor.v[k]);
            if (j == 0 || !g->bp) /* now (or no plan): what is in force counts */
                plan = fmax(plan, k == DRV_RES_VCPU && g->boot_until_s
                                      ? fmin(g->shape.res.v[k], g->boot_base_vcpu)
                                      : g->shape.res.v[k]);
            double m, v;
            sculpt_moments(g, s, k, plan, &m, &v);
            if (j == 0)
                a->longrun[k] += sculpt_longrun(e, g, k, plan);
            ent[k] += plan;
            mean[k] += m;
            var[k] += v;
        }
    }
}

void sculpt_agg_build(struct drv_sculpt *e, int64_t start_s, int32_t step_s, int32_t n,
                      bool without_reclaimable)
{
    struct sculpt_agg *a = &e->agg;
    if (a->ent && a->version == e->version && a->start_s == start_s && a->step_s == step_s &&
        a->nsteps == n && a->without_reclaimable == without_reclaimable)
        return;
    if (n > a->cap) {
        free(a->ent);
        free(a->mean);
        free(a->var);
        a->ent = xcalloc((size_t)n * DRV_RES_LAST, sizeof(double));
        a->mean = xcalloc((size_t)n * DRV_RES_LAST, sizeof(double));
        a->var = xcalloc((size_t)n * DRV_RES_LAST, sizeof(double));
        a->cap = n;
    } else {
        size_t bytes = (size_t)n * DRV_RES_LAST * sizeof(double);
        memset(a->ent, 0, bytes);
        memset(a->mean, 0, bytes);
        memset(a->var, 0, bytes);
    }
    memset(a->longrun, 0, sizeof(a->longrun));
    a->version = e->version;
    a->start_s = start_s;
    a->step_s = step_s;
    a->nsteps = n;
    a->without_reclaimable = without_reclaimable;
    for (size_t i = 0; i < e->nguests; i++) {
        const struct sculpt_guest *g = e->guests[i];
        if (!g->excluded && !(without_reclaimable && g->spec.reclaimable))
            sculpt_agg_add_guest(e, a, g);
    }
}

static void sculpt_refusal_fill(const struct drv_sculpt *e, struct drv_sculpt_refusal *w,
                                enum drv_sculpt_rule rule, int k, int32_t step, int64_t t,
                                int64_t now_s, double need, double limit)
{
    w->rule = rule;
    w->res = (enum drv_res_kind)k;
    w->step = step;
    w->at_s = t;
    w->need = need;
    w->limit = limit;
    w->by = need - limit;
    const char *unit = drv_res_kind_unit((enum drv_res_kind)k);
    const char *name = drv_res_kind_name((enum drv_res_kind)k);
    long long in_s = (long long)(t - now_s);
    switch (rule) {
    case DRV_SCULPT_RULE_SIZE:
        snprintf(w->text, sizeof(w->text),
                 "`%s`: the guest alone needs %.4g %s in %lld s, more than the host's %.4g %s "
                 "(capacity x ratio %g)",
                 name, need, unit, in_s, limit, unit, e->host->ratio.v[k]);
        break;
    case DRV_SCULPT_RULE_LONGRUN:
        snprintf(w->text, sizeof(w->text),
                 "`%s`: long-run use at p%g of the guests it would join would reach %.4g %s, "
                 "over the capacity of %.4g %s by %.4g %s",
                 name, 100 * e->p.longrun_quantile, need, unit, limit, unit, need - limit, unit);
        break;
    case DRV_SCULPT_RULE_CEILING:
        snprintf(w->text, sizeof(w->text),
                 "`%s` in %lld s (step %d): shapes would reach %.4g %s, over the ceiling of %.4g "
                 "%s (capacity x ratio %g) by %.4g %s",
                 name, in_s, step, need, unit, limit, unit, e->host->ratio.v[k], need - limit,
                 unit);
        break;
    default:
        snprintf(w->text, sizeof(w->text),
                 "`%s` in %lld s (step %d): expected use plus margin for a %g%% host SLO would "
                 "reach %.4g %s, over the capacity of %.4g %s by %.4g %s",
                 name, in_s, step, 100 * e->p.host_violation_rate, need, unit, limit, unit,
                 need - limit, unit);
        break;
    }
}

int sculpt_admit_check(struct drv_sculpt *e, const struct sculpt_guest *cand, int64_t now_s,
                       struct drv_sculpt_refusal *why)
{
    const struct drv_blueprint *bp = cand->bp;
    int32_t s0 = sculpt_bp_step(bp, now_s);
    int32_t n = bp->nsteps - s0;
    /* the grid starts now and follows the candidate's steps */
    sculpt_agg_build(e, now_s, bp->step_s, n, false);
    const struct sculpt_agg *a = &e->agg;
    struct drv_res floor = sculpt_floor(e, cand);
    const struct drv_res *cap = &e->host->capacity, *ratio = &e->host->ratio;

    for (int32_t j = 0; j < n; j++) {
        int32_t s = s0 + j;
        int64_t t = now_s + (int64_t)j * bp->step_s;
        double worst = 0;
        int wk = -1;
        enum drv_sculpt_rule wrule = DRV_SCULPT_RULE_CEILING;
        double wneed = 0, wlimit = 0;
        for (int k = 0; k < DRV_RES_LAST; k++) {
            if (!sculpt_shaped(cand, k))
                continue;
            double plan = sculpt_planned(e, cand, s, k, floor.v[k]);
            double m, v;
            sculpt_moments(cand, s, k, plan, &m, &v);
            double ceiling = cap->v[k] * ratio->v[k];
            const double *ent = a->ent + (size_t)j * DRV_RES_LAST;
            const double *mean = a->mean + (size_t)j * DRV_RES_LAST;
            const double *var = a->var + (size_t)j * DRV_RES_LAST;
            struct {
                enum drv_sculpt_rule rule;
                double need, limit;
            } checks[] = {
                {DRV_SCULPT_RULE_SIZE, plan, ceiling},
                {DRV_SCULPT_RULE_CEILING, ent[k] + plan, ceiling},
                /* shapes cap use: the risk never exceeds the shapes' sum */
                {DRV_SCULPT_RULE_RISK, fmin(ent[k] + plan, mean[k] + m + e->z * sqrt(var[k] + v)),
                 cap->v[k]},
            };
            size_t nchecks = e->p.admit_by_risk ? ARRAY_SIZE(checks) : 2;
            for (size_t c = 0; c < nchecks; c++) {
                double excess = checks[c].need - checks[c].limit;
                if (excess <= 1e-9 * fmax(1.0, checks[c].limit))
                    continue;
                double rel = checks[c].limit > 0 ? excess / checks[c].limit : INFINITY;
                if (wk < 0 || rel > worst) {
                    worst = rel;
                    wk = k;
                    wrule = checks[c].rule;
                    wneed = checks[c].need;
                    wlimit = checks[c].limit;
                }
                break; /* the first rule broken is the reason */
            }
        }
        if (wk >= 0) {
            sculpt_refusal_fill(e, why, wrule, wk, s, t, now_s, wneed, wlimit);
            return -1;
        }
    }
    /* the long run, for a candidate that describes it: once, not per step */
    if (e->p.admit_by_risk) {
        int wk = -1;
        double worst = 0, wneed = 0;
        for (int k = 0; k < DRV_RES_LAST; k++) {
            if (!sculpt_shaped(cand, k) || !drv_blueprint_has_longrun(bp, (enum drv_res_kind)k))
                continue;
            double plan = sculpt_planned(e, cand, s0, k, floor.v[k]);
            double need = a->longrun[k] + sculpt_longrun(e, cand, k, plan);
            double excess = need - cap->v[k];
            if (excess <= 1e-9 * fmax(1.0, cap->v[k]))
                continue;
            double rel = cap->v[k] > 0 ? excess / cap->v[k] : INFINITY;
            if (wk < 0 || rel > worst) {
                worst = rel;
                wk = k;
                wneed = need;
            }
        }
        if (wk >= 0) {
            sculpt_refusal_fill(e, why, DRV_SCULPT_RULE_LONGRUN, wk, s0, now_s, now_s, wneed,
                                cap->v[wk]);
            return -1;
        }
    }
    return 0;
}
