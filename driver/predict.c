/* Per-guest prediction: observe usage, say what the next steps will need
 * and what to allocate (predict.h, predict_priv.h).
 *
 * Every sample, each model setting gives a base forecast and a
 * conditioning state; the guest's calibration for that (model, state),
 * mixed with the fleet's, turns the base into a predictive distribution.
 * The allocation is the point of that distribution with the least
 * expected cost: the allocation itself against the overrun price times
 * the chance of being exceeded (what the SLO counts), plus the reshape
 * price when it changes.  The overrun price is the SLO's dual: the fleet's
 * controller raises it after each violation and lowers it a little after
 * each step that held, so the fleet's violation rate settles on the
 * target.  Each model setting's own allocations are scored on that same
 * cost as the samples come, and each guest follows the cheapest.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "driver/predict_priv.h"

static const char *const pr_model_names[PR_M_LAST] = {
    [PR_M_LEVEL] = "level",
    [PR_M_PEAK] = "peak",
    [PR_M_SEASON] = "season",
    [PR_M_SPIKE] = "spike",
};

const char *drv_predict_model_name(int model)
{
    return model >= 0 && model < PR_M_LAST ? pr_model_names[model] : "cold";
}

int drv_predict_model_count(void)
{
    return PR_M_LAST;
}

/* A guest's calibration weights are rescaled once a new sample would
 * weigh this much. */
#define PR_RESCALE_AT 1e6
/* The fairness controller's step relative to the fleet's. */
#define PR_FAIR_RATE 0.2
/* Switch to another model setting only when it is this much cheaper. */
#define PR_SWITCH_MARGIN 0.98
/* A shape in force this much (relative) below the allocation followed
 * was the engine's decision, not the allocation's (rounding aside). */
#define PR_APPLIED_TOL 1e-3
/* A challenger to the setting followed is scored one sample in this many. */
#define PR_CHALLENGE_EVERY 4
/* Guests older than a day feed the cold-start profiles (by age, by hour of
 * day) once an hour rather than every sample: those profiles are coarser. */
#define PR_FEED_ALL_AGE 86400
#define PR_FEED_OLD_S 3600
/* The overrun floor's rise per miss in a row, and where it stops. */
#define PR_STREAK_EXP 2.0
#define PR_STREAK_MAX 10
/* The SLO controller's gain schedule (see pr_learn_locked). */
#define PR_SLO_BOOST 10.0
#define PR_SLO_SETTLE 5000.0
/* Memory of the p90 coverage behind the confidence, in samples. */
#define PR_COV_ALPHA 0.01
/* The level state's edges: reading / long-run level at e^-1, e^-0.3, 1,
 * e^0.3, e^1. */
static const double pr_level_edges[DRV_PREDICT_CONDS - 1] = {0.36788, 0.74082, 1.0, 1.34986,
                                                             2.71828};
/* The seasonal state's edges: seasonal peak / reading at e^-0.2, e^0.05,
 * e^0.2, e^0.5, e^1.2. */
static const double pr_season_edges[DRV_PREDICT_CONDS - 1] = {0.81873, 1.05127, 1.22140,
                                                              1.64872, 3.32012};

/* The state of log(a / b) (floored at eps) among edges, compared as
 * ratios: no log on the hot path. */
static int pr_cond(const double *edges, double a, double b, double eps)
{
    double num = a + eps, den = b + eps;
    int c = 0;
    while (c < DRV_PREDICT_CONDS - 1 && num >= den * edges[c])
        c++;
    return c;
}

static bool pr_active(const struct drv_predictor *p, int k)
{
    return (p->mask & (1u << k)) != 0;
}

struct drv_predictor *drv_predictor_new(struct drv_fleet *fleet,
                                        const struct drv_predict_request *req,
                                        const struct drv_predict_config *pc,
                                        struct err **err)
{
    if (drv_res_validate(req->ceiling, err) < 0) {
        err_wrap(err, "predictor ceiling");
        return NULL;
    }
    uint32_t mask = req->resources ? req->resources & ((1u << DRV_RES_LAST) - 1)
                                   : (1u << DRV_RES_LAST) - 1;
    size_t nactive = 0;
    for (int k = 0; k < DRV_RES_LAST; k++)
        nactive += (mask >> k) & 1;
    /* one block: the predictor, then the state of each dimension predicted */
    struct drv_predictor *p = xzalloc(sizeof(*p) + nactive * sizeof(struct drv_pr_res));
    struct drv_pr_res *dims = (struct drv_pr_res *)(p + 1);
    for (int k = 0; k < DRV_RES_LAST; k++)
        p->r[k] = (mask >> k) & 1 ? dims++ : NULL;
    p->fleet = fleet;
    p->pc = *pc;
    p->ceiling = req->ceiling;
    p->mask = mask;
    p->nactive = (int)nactive;
    drv_predict_day_decay(p);
    p->boot_s = req->boot_s;
    p->last_t = INT64_MIN;
    p->pend_t = INT64_MIN;
    p->applied_t = INT64_MIN;
    p->wscale = 1.0;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        struct drv_pr_res *r = p->r[k];
        if (!r)
            continue;
        r->alloc = -1;
        r->applied = r->applied_prev = -1;
        r->squeezed = r->squeezed_prev = false;
        r->cov90 = 0.9;
        r->follow = PR_M_LEVEL;
        for (int m = 0; m < PR_M_LAST; m++)
            r->model_alloc[m] = -1;
        /* the floor of the log-ratio: a thousandth of the flavor, below
         * which differences are noise (set from the first reading when
         * the dimension is unbounded) */
        r->eps = req->ceiling.v[k] > 0 ? 1e-3 * req->ceiling.v[k] : 0;
    }
    p->ngroups = drv_predict_request_keys(req, p->groups);
    for (uint32_t i = 0; i < p->ngroups; i++)
        p->gidx[i] = SIZE_MAX;
    p->in_groups = !req->what_if;
    bool counted = req->counted || req->what_if;
    if (fleet) {
        pthread_mutex_lock(&fleet->lock);
        for (uint32_t i = 0; i < p->ngroups; i++) {
            struct drv_pr_group *g = drv_fleet_group_cached_locked(
                fleet, p->groups[i], !counted, req->boot_s, &p->gidx[i], &p->gid[i]);
            if (g && !counted)
                g->rec.guests += 1;
        }
        if (!counted)
            fleet->guests_gen++;
        pthread_mutex_unlock(&fleet->lock);
    }
    return p;
}

void drv_predictor_free(struct drv_predictor *p)
{
    free(p);
}

void drv_predictor_set_ceiling(struct drv_predictor *p, struct drv_res ceiling)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (isfinite(ceiling.v[k]) && ceiling.v[k] >= 0 && ceiling.v[k] <= DRV_RES_MAX)
            p->ceiling.v[k] = ceiling.v[k];
}

uint64_t drv_predictor_samples(const struct drv_predictor *p)
{
    return p->n;
}

/* ---- seasonal profiles ------------------------------------------------ */

static int pr_day_bins(const struct drv_predictor *p)
{
    int n = 86400 / p->pc.season_bin_s;
    return n > PR_DAY_BINS ? PR_DAY_BINS : n;
}

static int pr_hour_bins(const struct drv_predictor *p)
{
    int n = 3600 / p->pc.season_bin_s;
    if (n < 1)
        n = 1;
    return n > PR_HOUR_BINS ? PR_HOUR_BINS : n;
}

/* Where t falls in the seasonal profiles: the same for every dimension,
 * so found once per step. */
struct pr_when {
    int db, hb;      /* bin of the day, bin of the hour */
    int64_t day;     /* days since the guest's first sample */
    int64_t since;   /* seconds since it */
};

static int pr_bin_of(const struct drv_predictor *p, int64_t t, int period_bins)
{
    int64_t b = t / p->pc.season_bin_s;
    return (int)(((b % period_bins) + period_bins) % period_bins);
}

static void pr_when_of(const struct drv_predictor *p, int64_t t, struct pr_when *w)
{
    w->db = pr_bin_of(p, t, pr_day_bins(p));
    w->hb = pr_bin_of(p, t, pr_hour_bins(p));
    w->since = t - p->t0;
    w->day = w->since / 86400;
}

/* The daily profile's decay for a bin last raised on `day`. */
static double pr_day_decay(const struct drv_predictor *p, const struct pr_when *w, uint16_t day)
{
    int64_t d = w->day - day;
    return d < 0 ? 1.0 : d >= PR_DECAY_DAYS ? 0.0 : p->day_decay[d];
}

/* What the profiles expect at w: the decayed daily peak around its bin,
 * and the peak of its bin an hour earlier. */
static double pr_season_ref(const struct drv_predictor *p, const struct drv_pr_res *r,
                            const struct pr_when *w)
{
    int nd = pr_day_bins(p);
    double ref = 0;
    for (int d = -1; d <= 1; d++) {
        int b = w->db + d;
        b = b < 0 ? b + nd : b >= nd ? b - nd : b;
        if (r->day[b] <= 0)
            continue;
        double v = r->day[b] * pr_day_decay(p, w, r->day_d[b]);
        if (v > ref)
            ref = v;
    }
    int hb = w->hb;
    if (r->hour[hb] > ref && w->since - r->hour_t[hb] <= 2 * 3600)
        ref = r->hour[hb];
    return ref;
}

static void pr_season_add(struct drv_predictor *p, struct drv_pr_res *r, const struct pr_when *w,
                          double u)
{
    int32_t now = (int32_t)w->since;
    int db = w->db;
    double old = r->day[db] * pr_day_decay(p, w, r->day_d[db]);
    r->day[db] = (float)(u > old ? u : old);
    r->day_d[db] = (uint16_t)(now / 86400);
    int hb = w->hb;
    /* a new pass over the bin replaces the last one */
    if (now - r->hour_t[hb] > 1800 || r->hour[hb] < u)
        r->hour[hb] = (float)u;
    r->hour_t[hb] = now;
}

/* ---- the models --------------------------------------------------------- */

static double pr_peak3(const struct drv_predictor *p, const struct drv_pr_res *r)
{
    double x = r->last;
    uint64_t have = p->n < 3 ? p->n : 3;
    for (uint64_t i = 1; i < have; i++) {
        double v = r->ring[(p->n - 1 - i) % PR_RING];
        if (v > x)
            x = v;
    }
    return x;
}

/* The level state: where the last reading stands against the long-run
 * level. */
static int pr_level_cond(const struct drv_pr_res *r)
{
    return pr_cond(pr_level_edges, r->last, r->slow, r->eps);
}

/* Base forecast and state of model m for the sample at t, given the level
 * state. */
static void pr_model_input(const struct drv_predictor *p, const struct drv_pr_res *r, int m,
                           double sref, int level, double *base, int *cond)
{
    switch (m) {
    case PR_M_PEAK:
        *base = pr_peak3(p, r);
        *cond = level;
        break;
    case PR_M_SEASON:
        *base = r->last;
        *cond = pr_cond(pr_season_edges, sref, r->last, r->eps);
        break;
    case PR_M_SPIKE:
        *base = sref > r->last ? sref : r->last;
        *cond = level;
        break;
    default:
        *base = r->last;
        *cond = level;
        break;
    }
}

/* The use at ratio x to base b. */
static double pr_value(double b, double eps, double x, double ceiling)
{
    double v = (b + eps) * x - eps;
    if (v < 0)
        v = 0;
    if (ceiling > 0 && v > ceiling)
        v = ceiling;
    return v;
}

/* Everything the cost comparison needs for one dimension. */
struct pr_choice {
    double overrun;  /* price of a step over the shape, resource-steps */
    double unit;     /* currency per resource-step (the allocation's price) */
    double floor;    /* the allocation never goes below (memory's working set) */
    double ceiling;  /* nor above (0: unbounded) */
};

static double pr_clamp(const struct pr_choice *ch, double a)
{
    if (a < ch->floor)
        a = ch->floor;
    if (ch->ceiling > 0 && a > ch->ceiling)
        a = ch->ceiling;
    return a;
}

/* P(use > a) under cdf around base b; nothing exceeds the ceiling. */
static double pr_exceed(const struct drv_pr_cdf *c, double b, double eps,
                        const struct pr_choice *ch, double a)
{
    if (ch->ceiling > 0 && a >= ch->ceiling)
        return 0;
    return 1 - drv_pr_cdf_at_ratio(c, (a + eps) / (b + eps));
}

/* The expected cost of allocating a, in resource-steps. */
static double pr_cost_at(const struct drv_pr_cdf *c, double b, double eps,
                         const struct pr_choice *ch, double a)
{
    return a + ch->overrun * pr_exceed(c, b, eps, ch, a);
}

/* The cheapest allocation under cdf around base b, and its cost.
 * Candidates: the bin edges from the median up (within a bin the cost is
 * convex in the allocation, so an edge is where the optimum lies), the
 * floor and the ceiling. */
static double pr_choose(const struct drv_pr_cdf *c, double b, double eps,
                        const struct pr_choice *ch, double *cost_out)
{
    const double *ex = drv_pr_exp_edges();
    double best = -1, best_cost = INFINITY;
    if (ch->floor > 0) {
        best = pr_clamp(ch, ch->floor);
        best_cost = pr_cost_at(c, b, eps, ch, best);
    }
    if (ch->ceiling > 0 && pr_cost_at(c, b, eps, ch, ch->ceiling) < best_cost) {
        best = ch->ceiling;
        best_cost = ch->ceiling;
    }
    /* edge j costs B ex[j] - eps + overrun (1 - cum[j] inv): scan
     * B ex[j] - K cum[j] for the edges between the floor and the
     * ceiling, from the median up, until the allocation alone costs more */
    double B = b + eps, K = ch->overrun * c->inv, base = ch->overrun - eps;
    double lim = ch->ceiling > 0 ? ch->ceiling + eps : INFINITY;
    double lo = ch->floor + eps;
    for (int j = c->qidx[DRV_Q_P50] + 1; j < DRV_PREDICT_BINS; j++) {
        double a = B * ex[j];
        if (a >= lim || a - eps >= best_cost)
            break;
        if (a < lo)
            continue;
        double cost = a - K * c->cum[j] + base;
        if (cost < best_cost) {
            best_cost = cost;
            best = a - eps;
        }
    }
    /* the top edge: nothing above it */
    double top = B * ex[DRV_PREDICT_BINS] - eps;
    if (top < best_cost && top >= ch->floor && (ch->ceiling <= 0 || top < ch->ceiling)) {
        best_cost = top;
        best = top;
    }
    if (best < 0) {
        best = pr_clamp(ch, 0);
        best_cost = pr_cost_at(c, b, eps, ch, best);
    }
    *cost_out = best_cost;
    return best;
}

/* Whether to keep the shape in force: a reshape changes every dimension at
 * once and its saving accrues while the new shape holds (about a blueprint
 * horizon), so it happens when the summed saving per step (currency) over
 * that time beats the reshape price -- or when the shape in force is no
 * longer allowed (a dimension's `saving` is INFINITY). */
static bool pr_keep_shape(const double saving[DRV_RES_LAST], double reshape, double hold_steps)
{
    double total = 0;
    for (int k = 0; k < DRV_RES_LAST; k++)
        total += saving[k];
    return total * hold_steps <= reshape;
}

/* The price of one step over the shape for dimension k of this guest, in
 * resource-steps: the fleet controller's, scaled by the guest's size (a
 * miss on a large guest is priced like a larger allocation) and its
 * fairness multiplier. */
static double pr_overrun(const struct drv_predictor *p, const struct drv_pr_res *r, int k,
                         double log_overrun)
{
    (void)k;
    double x = exp(log_overrun + r->fair);
    /* never below [predict] overrun_floor samples of the guest's own level,
     * and that floor rises e^2-fold with each miss in a row: a fleet well
     * under its SLO must not spend its unused misses on one guest's level
     * shift, sample after sample */
    double floor = p->pc.overrun_floor * (r->slow > r->eps ? r->slow : r->eps);
    if (r->streak > 0)
        floor *= exp(PR_STREAK_EXP * (r->streak < PR_STREAK_MAX ? r->streak : PR_STREAK_MAX));
    return x > floor ? x : floor;
}

/* Prices in resource-steps for dimension k. */
static void pr_choice_init(const struct drv_predictor *p, const struct drv_pr_res *r, int k,
                           const struct drv_cost_model *cm, double log_overrun,
                           struct pr_choice *ch)
{
    double dt_h = (p->dt > 0 ? p->dt : 300.0) / 3600.0;
    double unit = cm->price[k] * dt_h;
    if (cm->overrun_units[k] > 0)
        ch->overrun = cm->overrun_units[k] / dt_h;
    else
        ch->overrun = pr_overrun(p, r, k, log_overrun);
    ch->unit = unit;
    ch->ceiling = p->ceiling.v[k];
    ch->floor = 0;
    if (k == DRV_RES_MEM_MIB && p->n > 0) {
        double margin = r->last * p->pc.memory_margin;
        if (margin < p->pc.memory_margin_mib)
            margin = p->pc.memory_margin_mib;
        ch->floor = r->last + margin;
        if (ch->ceiling > 0 && ch->floor > ch->ceiling)
            ch->floor = ch->ceiling;
    }
}

/* ---- cold start --------------------------------------------------------- */

/* Band values and evidence for dimension k of a guest `age_s` old at t,
 * from the most specific fleet group with enough guests (lock held). */
static double pr_cold_locked(struct drv_predictor *p, int k, int64_t t, int64_t age_s,
                             double q[DRV_Q_LAST], double *cdf_levels, double *cdf_values,
                             int *nknots)
{
    double ceil_k = p->ceiling.v[k];
    *nknots = 0;
    for (int i = 0; i < DRV_Q_LAST; i++)
        q[i] = ceil_k * drv_quantile_level[i];
    if (!p->fleet || ceil_k <= 0)
        return 0;
    for (uint32_t i = 0; i < p->ngroups; i++) {
        const struct drv_pr_group *g = drv_fleet_group_cached_locked(
            p->fleet, p->groups[i], false, t, &p->gidx[i], &p->gid[i]);
        if (!g || drv_pr_fleet_others(p, g) < p->pc.fleet_min_guests)
            continue;
        const struct drv_fleet_record *rec = &g->rec;
        int a = drv_pr_age_bucket(age_s);
        float w[DRV_FLEET_SHARE_BUCKETS];
        double total = 0;
        /* the guest's age bucket, widened to its neighbours when thin */
        for (int spread = 0; spread < DRV_FLEET_AGE_BUCKETS && total <= 0; spread++) {
            total = 0;
            for (int b = 0; b < DRV_FLEET_SHARE_BUCKETS; b++) {
                w[b] = 0;
                for (int aa = a - spread; aa <= a + spread; aa++)
                    if (aa >= 0 && aa < DRV_FLEET_AGE_BUCKETS)
                        w[b] += rec->age[k][aa][b];
                total += w[b];
            }
        }
        if (total <= 0)
            continue;
        /* the hour of day scales the profile by its ratio to the day's mean */
        int h = (int)((((t % 86400) + 86400) % 86400) / 3600);
        double day_sum = 0, day_w = 0, tod = 1.0;
        for (int hh = 0; hh < DRV_FLEET_TOD_BUCKETS; hh++) {
            day_sum += rec->tod_sum[k][hh];
            day_w += rec->tod_weight[k][hh];
        }
        if (rec->tod_weight[k][h] > 0 && day_sum > 0) {
            tod = (rec->tod_sum[k][h] / rec->tod_weight[k][h]) / (day_sum / day_w);
            tod = tod < 0.5 ? 0.5 : tod > 2.0 ? 2.0 : tod;
        }
        double cum = 0;
        int n = 0;
        for (int b = 0; b < DRV_FLEET_SHARE_BUCKETS; b++) {
            if (w[b] <= 0)
                continue;
            cum += w[b];
            double v = drv_pr_share_edge(b + 1) * ceil_k * tod;
            cdf_levels[n] = cum / total;
            cdf_values[n] = v > ceil_k ? ceil_k : v;
            n++;
        }
        cdf_levels[n - 1] = 1.0;
        *nknots = n;
        for (int qi = 0; qi < DRV_Q_LAST; qi++) {
            int b = 0;
            while (b < n - 1 && cdf_levels[b] < drv_quantile_level[qi])
                b++;
            q[qi] = cdf_values[b];
        }
        /* evidence: the group's guests and samples at this age */
        double guests = drv_pr_fleet_others(p, g);
        return guests / (guests + p->pc.fleet_min_guests) * total / (total + p->pc.prior_weight) *
               (i + 1 < p->ngroups ? 1.0 : 0.5);
    }
    return 0;
}

/* ---- one step ahead ----------------------------------------------------- */

/* Mix the guest's and the fleet's calibration for (k, m, c) (lock held). */
static void pr_cdf_locked(const struct drv_predictor *p, const struct drv_pr_res *r, int k,
                          int m, int c, struct drv_pr_cdf *out)
{
    const struct drv_fleet *f = p->fleet;
    double inv = 1.0 / p->wscale;
    drv_pr_cdf_mix(out, r->resid[m][c], inv, r->resid_w[m][c] * inv,
                   f ? f->calib.resid[k][m][c] : NULL, f ? f->calib_w[k][m][c] : 0,
                   p->pc.prior_weight);
}

static double pr_log_overrun_locked(const struct drv_predictor *p, int k)
{
    return p->fleet ? p->fleet->calib.log_overrun[k] : 0;
}

static double pr_confidence(const struct drv_predictor *p, const struct drv_pr_res *r,
                            const struct drv_pr_cdf *cdf)
{
    double e = cdf->weight;
    double evidence = e / (e + p->pc.prior_weight);
    /* bands that held less than they say cost confidence (more is the
     * discreteness of use, not a fault) */
    double off = (0.9 - r->cov90) / 0.3;
    return evidence * (off > 1 ? 0 : off > 0 ? 1 - off : 1);
}

/* Samples a new shape is expected to hold, and dimensions predicted. */
static double pr_hold_steps(const struct drv_predictor *p)
{
    double h = p->pc.reshape_hold_s / (p->dt > 0 ? p->dt : 300.0);
    return h < 1 ? 1 : h;
}

static int pr_nactive(const struct drv_predictor *p)
{
    return p->nactive ? p->nactive : 1;
}

/* Cold start for dimension k: bands from the fleet, and the cheapest of
 * their knots (lock held). */
static double pr_cold_step_locked(struct drv_predictor *p, int k, int64_t t,
                                  const struct drv_cost_model *cm, const struct pr_choice *ch,
                                  struct drv_predict_step *out)
{
    double q[DRV_Q_LAST], lv[DRV_FLEET_SHARE_BUCKETS], vv[DRV_FLEET_SHARE_BUCKETS];
    int nk;
    out->confidence[k] = pr_cold_locked(p, k, t, t - p->boot_s, q, lv, vv, &nk);
    for (int i = 0; i < DRV_Q_LAST; i++)
        out->q[i][k] = q[i];
    out->model[k] = -1;
    if (nk == 0)
        return p->ceiling.v[k];
    struct drv_cost_bands b = {lv, vv, nk};
    double dt_s = p->dt > 0 ? p->dt : 300.0, a = p->ceiling.v[k], best = INFINITY;
    for (int i = 0; i < nk; i++) {
        double c = drv_cost_expected(cm, (enum drv_res_kind)k, vv[i], &b, dt_s,
                                     ch->overrun * ch->unit, -1);
        if (c < best) {
            best = c;
            a = vv[i];
        }
    }
    return a;
}

/* The step ending at t: allocation and bands per dimension; with commit,
 * remember what was said so the sample at t can be scored. */
static void pr_step(struct drv_predictor *p, int64_t t, const struct drv_cost_model *cm,
                    struct drv_predict_step *out, bool commit)
{
    struct drv_fleet *f = p->fleet;
    double best[DRV_RES_LAST] = {0}, saving[DRV_RES_LAST] = {0};
    double hold = pr_hold_steps(p);
    int nactive = pr_nactive(p);
    memset(out, 0, sizeof(*out));
    struct pr_when when;
    if (p->n > 0)
        pr_when_of(p, t, &when);
    if (f)
        pthread_mutex_lock(&f->lock);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        struct drv_pr_res *r = p->r[k];
        if (!pr_active(p, k))
            continue;
        struct pr_choice ch;
        pr_choice_init(p, r, k, cm, pr_log_overrun_locked(p, k), &ch);
        if (p->n == 0) {
            best[k] = pr_cold_step_locked(p, k, t, cm, &ch, out);
            saving[k] = INFINITY;
            if (commit) {
                for (int m = 0; m < PR_M_LAST; m++) {
                    r->pend_alloc[m] = best[k];
                    r->pend_base[m] = NAN;
                }
                r->pend_p90 = out->q[DRV_Q_P90][k];
            }
            continue;
        }
        double sref = pr_season_ref(p, r, &when);
        struct drv_pr_cdf cdf[PR_M_LAST];
        double base[PR_M_LAST], alloc[PR_M_LAST], cost[PR_M_LAST];
        int cond[PR_M_LAST];
        /* every setting's base and state (its calibration learns from
         * every sample); allocations for the one followed and, in turn,
         * one challenger: the competition samples the others' costs */
        int m = r->follow;
        int challenger = -1;
        if (p->n % PR_CHALLENGE_EVERY == 0)
            challenger = (m + 1 + (int)(p->n / PR_CHALLENGE_EVERY % (PR_M_LAST - 1))) % PR_M_LAST;
        int level = pr_level_cond(r);
        for (int mm = 0; mm < PR_M_LAST; mm++) {
            pr_model_input(p, r, mm, sref, level, &base[mm], &cond[mm]);
            alloc[mm] = -1;
            if (mm != m && mm != challenger)
                continue;
            pr_cdf_locked(p, r, k, mm, cond[mm], &cdf[mm]);
            alloc[mm] = pr_choose(&cdf[mm], base[mm], r->eps, &ch, &cost[mm]);
        }
        best[k] = alloc[m];
        /* the challenger's allocations follow the same reshape rule, on
         * this dimension's share of the price, so settings compare as they
         * would be followed */
        double prev = challenger >= 0 ? r->model_alloc[challenger] : -1;
        if (prev >= 0 && pr_clamp(&ch, prev) == prev) {
            double extra = pr_cost_at(&cdf[challenger], base[challenger], r->eps, &ch, prev) -
                           cost[challenger];
            if (extra * ch.unit * hold <= cm->reshape / nactive)
                alloc[challenger] = prev;
        }
        /* what keeping the allocation in force would cost more per step */
        if (r->alloc >= 0 && pr_clamp(&ch, r->alloc) == r->alloc)
            saving[k] = (pr_cost_at(&cdf[m], base[m], r->eps, &ch, r->alloc) - cost[m]) * ch.unit;
        else
            saving[k] = INFINITY;
        out->model[k] = m;
        for (int i = 0; i < DRV_Q_LAST; i++)
            out->q[i][k] = pr_value(base[m], r->eps,
                                    drv_pr_cdf_band_ratio(&cdf[m], (enum drv_quantile)i),
                                    ch.ceiling);
        /* memory: the top band never below the working set plus margin */
        if (out->q[DRV_Q_P99][k] < ch.floor)
            out->q[DRV_Q_P99][k] = ch.floor;
        for (int i = 1; i < DRV_Q_LAST; i++)
            if (out->q[i][k] < out->q[i - 1][k])
                out->q[i][k] = out->q[i - 1][k];
        out->confidence[k] = pr_confidence(p, r, &cdf[m]);
        if (commit) {
            for (int mm = 0; mm < PR_M_LAST; mm++) {
                r->pend_base[mm] = base[mm];
                r->pend_cond[mm] = cond[mm];
                r->pend_alloc[mm] = alloc[mm];
            }
            r->pend_p90 = out->q[DRV_Q_P90][k];
        }
    }
    if (f)
        pthread_mutex_unlock(&f->lock);

    bool keep = pr_keep_shape(saving, cm->reshape, hold);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!pr_active(p, k))
            continue;
        out->alloc.v[k] = keep ? p->r[k]->alloc : best[k];
        if (commit) {
            p->r[k]->alloc = out->alloc.v[k];
            if (p->n > 0) /* the setting followed is scored on what was applied */
                p->r[k]->pend_alloc[p->r[k]->follow] = out->alloc.v[k];
        }
    }
    if (commit)
        p->pend_t = t;
}

void drv_predictor_next(struct drv_predictor *p, int64_t t_s, const struct drv_cost_model *cm,
                        struct drv_predict_step *out)
{
    p->cm = *cm;
    pr_step(p, t_s, cm, out, true);
}

/* ---- learning ------------------------------------------------------------ */

static void pr_rescale_guest(struct drv_predictor *p, double factor)
{
    for (int k = 0; k < DRV_RES_LAST; k++) {
        struct drv_pr_res *r = p->r[k];
        if (!r)
            continue;
        float *x = &r->resid[0][0][0];
        for (size_t i = 0; i < sizeof(r->resid) / sizeof(float); i++)
            x[i] = (float)(x[i] * factor);
        x = &r->resid_w[0][0];
        for (size_t i = 0; i < sizeof(r->resid_w) / sizeof(float); i++)
            x[i] = (float)(x[i] * factor);
        x = &r->horizon[0][0];
        for (size_t i = 0; i < sizeof(r->horizon) / sizeof(float); i++)
            x[i] = (float)(x[i] * factor);
        for (int c = 0; c < DRV_PREDICT_CONDS; c++)
            r->horizon_w[c] = (float)(r->horizon_w[c] * factor);
        for (int b = 0; b < PR_LIFE_BUCKETS; b++)
            r->life[b] = (float)(r->life[b] * factor);
        r->life_w = (float)(r->life_w * factor);
    }
}

/* Score the sample against what was said, learn from it (lock held). */
static void pr_learn_locked(struct drv_predictor *p, int k, double u, double decay,
                            double fw, int64_t t)
{
    struct drv_pr_res *r = p->r[k];
    struct drv_fleet *f = p->fleet;
    double target = p->pc.target_violation_rate;

    if (!isnan(r->pend_base[0])) {
        /* calibration of every model setting, the guest's and the fleet's */
        for (int m = 0; m < PR_M_LAST; m++) {
            int c = r->pend_cond[m];
            int j = drv_pr_bin_ratio((u + r->eps) / (r->pend_base[m] + r->eps));
            r->resid[m][c][j] += (float)p->wscale;
            r->resid_w[m][c] += (float)p->wscale;
            if (f) {
                f->calib.resid[k][m][c][j] += (float)fw;
                f->calib_w[k][m][c] += (float)fw;
            }
        }
        /* the competition: each setting's allocations on the same cost */
        double overrun = pr_overrun(p, r, k, pr_log_overrun_locked(p, k));
        double unit = p->cm.price[k] * (p->dt > 0 ? p->dt : 300.0) / 3600.0;
        double reshape = unit > 0 ? p->cm.reshape / unit / pr_nactive(p) : 0;
        for (int m = 0; m < PR_M_LAST; m++) {
            double a = r->pend_alloc[m];
            if (a < 0)
                continue; /* not evaluated this time */
            double c = a + (u > a ? overrun : 0) +
                       (r->model_alloc[m] >= 0 && a != r->model_alloc[m] ? reshape : 0);
            r->cost[m] = r->cost[m] * decay + c;
            r->cost_n[m] = r->cost_n[m] * decay + 1;
            r->model_alloc[m] = a;
        }
        /* follow the cheapest per step evaluated, once each has been tried */
        int best = r->follow;
        for (int m = 0; m < PR_M_LAST; m++)
            if (r->cost_n[m] > 0 && r->cost_n[best] > 0 &&
                r->cost[m] / r->cost_n[m] < r->cost[best] / r->cost_n[best] * PR_SWITCH_MARGIN)
                best = m;
        r->follow = best;
    }
    /* Was this sample the allocation's outcome?  Not while the engine held
     * the guest below it (a squeeze, a growth the engine skipped): the
     * hypervisor caps use at the shape, so whether the allocation would
     * have held cannot be seen, and counting the step as held (use <=
     * shape < allocation) would pull the price down for the engine's
     * decision.  Over an allocation use is visible up to the shape. */
    bool now = t > p->applied_t;
    double applied = now ? r->applied : r->applied_prev;
    bool answerable = !(now ? r->squeezed : r->squeezed_prev) &&
                      !(applied >= 0 && r->alloc >= 0 &&
                        applied < r->alloc * (1 - PR_APPLIED_TOL) - r->eps);
    bool violated = u > r->alloc && r->alloc >= 0;
    if (f && answerable) {
        /* the SLO controller: dual ascent on the overrun price, with a gain
         * that starts PR_SLO_BOOST times larger and settles over the
         * fleet's first PR_SLO_SETTLE samples (fast to find the price,
         * then exact: the long-run rate is the target whatever the gain) */
        double n = f->calib.steps[k];
        double gain = p->pc.slo_rate * (n < PR_SLO_SETTLE ? 1 + (PR_SLO_BOOST - 1) * (1 - n / PR_SLO_SETTLE) : 1);
        f->calib.log_overrun[k] += gain * ((violated ? 1.0 : 0.0) - target);
        if (f->calib.log_overrun[k] < -30)
            f->calib.log_overrun[k] = -30;
        if (f->calib.log_overrun[k] > 30)
            f->calib.log_overrun[k] = 30;
        f->calib.steps[k] += 1;
        f->calib.violations[k] += violated ? 1 : 0;
        f->calib.updated_s = t;
    }
    /* fairness: a guest over its cap pays more for its own overruns */
    if (answerable)
        r->fair += PR_FAIR_RATE * p->pc.slo_rate *
                   ((violated ? 1.0 : 0.0) - p->pc.guest_violation_cap * target);
    if (r->fair < 0)
        r->fair = 0;
    r->cov90 += PR_COV_ALPHA * ((u <= r->pend_p90 ? 1.0 : 0.0) - r->cov90);
    r->streak = violated ? r->streak + 1 : 0;

    /* long-horizon calibration: this reading against the one PR_HORIZON back */
    if (p->n >= PR_HORIZON) {
        double old = r->ring[(p->n - PR_HORIZON) % PR_RING];
        int c = pr_cond(pr_level_edges, old, r->slow, r->eps);
        int j = drv_pr_bin_ratio((u + r->eps) / (old + r->eps));
        r->horizon[c][j] += (float)p->wscale;
        r->horizon_w[c] += (float)p->wscale;
        if (f) {
            f->calib.horizon[k][c][j] += (float)fw;
            f->horizon_w[k][c] += (float)fw;
        }
    }
}

void drv_predictor_applied(struct drv_predictor *p, int64_t t_s, const struct drv_res *shape,
                           bool squeezed)
{
    bool later = t_s > p->applied_t;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        struct drv_pr_res *r = p->r[k];
        if (!r)
            continue;
        double x = shape->v[k];
        if (later) {
            r->applied_prev = r->applied;
            r->squeezed_prev = r->squeezed;
        }
        r->applied = isfinite(x) && x > 0 && x <= DRV_RES_MAX ? x : -1;
        r->squeezed = squeezed;
    }
    if (t_s > p->applied_t)
        p->applied_t = t_s;
}

void drv_predictor_observe(struct drv_predictor *p, int64_t t_s, const struct drv_res *use)
{
    struct drv_fleet *f = p->fleet;

    if (p->n > 0 && t_s <= p->last_t)
        return;
    if (p->n == 0) {
        p->t0 = t_s;
        p->wref_t = t_s;
    }
    double gap = p->n > 0 ? (double)(t_s - p->last_t) : 0;
    if (p->n == 1)
        p->dt = gap;
    else if (p->n > 1)
        p->dt += 0.05 * ((gap < 4 * p->dt ? gap : 4 * p->dt) - p->dt);
    /* what was said about t, if nobody asked before the sample came */
    if (p->pend_t != t_s) {
        struct drv_predict_step tmp;
        pr_step(p, t_s, &p->cm, &tmp, true);
    }
    p->wscale = exp2((double)(t_s - p->wref_t) / p->pc.calib_half_life_s);
    if (p->wscale > PR_RESCALE_AT) {
        pr_rescale_guest(p, 1.0 / p->wscale);
        p->wref_t = t_s;
        p->wscale = 1.0;
    }
    struct drv_res u = drv_res_zero();
    for (int k = 0; k < DRV_RES_LAST; k++) {
        double x = use->v[k];
        u.v[k] = isfinite(x) && x >= 0 && x <= DRV_RES_MAX ? x : (p->r[k] ? p->r[k]->last : 0);
    }
    struct pr_when when;
    pr_when_of(p, t_s, &when);
    /* decays over the gap, the same for every dimension */
    double alpha = p->n > 0 ? 1 - exp2(-gap / p->pc.level_half_life_s) : 1.0;
    double cost_decay = p->n > 0 ? exp2(-gap / p->pc.cost_half_life_s) : 1.0;
    if (f)
        pthread_mutex_lock(&f->lock);
    double fw = f ? drv_fleet_weight_locked(f, t_s) : 0;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        struct drv_pr_res *r = p->r[k];
        if (!pr_active(p, k))
            continue;
        double x = u.v[k];
        if (r->eps <= 0)
            r->eps = x > 0 ? 1e-3 * x : 1e-6;
        /* the fleet's first sample of a dimension: start the overrun price
         * high (a miss priced like the whole flavor for a step), from where
         * the controller comes down */
        if (f && f->calib.steps[k] == 0 && f->calib.log_overrun[k] == 0) {
            double scale = p->ceiling.v[k] > 0 ? p->ceiling.v[k] : 10 * (x > 0 ? x : 1);
            f->calib.log_overrun[k] = log(scale);
        }
        if (p->n > 0)
            pr_learn_locked(p, k, x, cost_decay, fw, t_s);
        pr_season_add(p, r, &when, x);
        if (p->ceiling.v[k] > 0) {
            r->life[drv_pr_life_bucket(x / p->ceiling.v[k])] += (float)p->wscale;
            r->life_w += (float)p->wscale;
        }
        r->slow += alpha * (x - r->slow);
        r->ring[p->n % PR_RING] = x;
        r->last = x;
    }
    bool feed = t_s - p->boot_s < PR_FEED_ALL_AGE || p->n == 0 ||
                t_s / PR_FEED_OLD_S != p->last_t / PR_FEED_OLD_S;
    if (f && feed) {
        struct drv_pr_sample smp;
        drv_pr_sample_of(&smp, t_s, t_s - p->boot_s, &u, &p->ceiling, p->mask);
        for (uint32_t i = 0; i < p->ngroups; i++) {
            struct drv_pr_group *g = drv_fleet_group_cached_locked(f, p->groups[i], true, t_s,
                                                                   &p->gidx[i], &p->gid[i]);
            if (g)
                drv_fleet_group_add_locked(f, g, &smp);
        }
    }
    if (f)
        pthread_mutex_unlock(&f->lock);
    p->n++;
    p->last_t = t_s;
}

/* ---- blueprints ---------------------------------------------------------- */

/* Probability levels at which a blueprint step's distribution is
 * described to the cost model. */
static const double pr_knot_levels[] = {0.5,   0.6,   0.7,   0.8,   0.85,  0.9,
                                        0.93,  0.95,  0.97,  0.98,  0.99,  0.993,
                                        0.995, 0.997, 0.998, 0.999, 0.9995, 1.0};
#define PR_KNOTS (sizeof(pr_knot_levels) / sizeof(pr_knot_levels[0]))
#define PR_KNOT_P50 0
#define PR_KNOT_P90 5
#define PR_KNOT_P99 10

/* What a blueprint needs of one dimension for the whole horizon, computed
 * once: the ratios to the base at every knot level, one sample ahead (per
 * state, as the seasonal state may change along the horizon) and
 * PR_HORIZON samples ahead. */
struct pr_horizon {
    bool have[DRV_PREDICT_CONDS];
    double near[DRV_PREDICT_CONDS][PR_KNOTS]; /* one sample ahead, by state */
    double far[PR_KNOTS];                     /* PR_HORIZON ahead, around the last reading */
};

static void pr_horizon_init_locked(struct drv_predictor *p, int k, struct pr_horizon *hz)
{
    struct drv_pr_res *r = p->r[k];
    const struct drv_fleet *f = p->fleet;
    struct drv_pr_cdf c;
    memset(hz->have, 0, sizeof(hz->have));
    int lc = pr_cond(pr_level_edges, r->last, r->slow, r->eps);
    double inv = 1.0 / p->wscale;
    drv_pr_cdf_mix(&c, r->horizon[lc], inv, r->horizon_w[lc] * inv,
                   f ? f->calib.horizon[k][lc] : NULL, f ? f->horizon_w[k][lc] : 0,
                   p->pc.prior_weight);
    for (size_t i = 0; i < PR_KNOTS; i++)
        hz->far[i] = drv_pr_cdf_quantile_ratio(&c, pr_knot_levels[i]);
}

/* Use at each knot level `h` samples ahead (at time t) for dimension k
 * following its model: between one and PR_HORIZON samples ahead the
 * one-sample calibration gives way to the long-horizon one
 * (log-linearly); beyond, the long-horizon one stands (lock held). */
static void pr_knots_locked(struct drv_predictor *p, int k, int64_t t, double h,
                            struct pr_horizon *hz, double *value)
{
    struct drv_pr_res *r = p->r[k];
    int m = r->follow, cond;
    double base;
    struct pr_when when;
    pr_when_of(p, t, &when);
    pr_model_input(p, r, m, pr_season_ref(p, r, &when), pr_level_cond(r), &base, &cond);
    if (!hz->have[cond]) {
        struct drv_pr_cdf c;
        pr_cdf_locked(p, r, k, m, cond, &c);
        for (size_t i = 0; i < PR_KNOTS; i++)
            hz->near[cond][i] = drv_pr_cdf_quantile_ratio(&c, pr_knot_levels[i]);
        hz->have[cond] = true;
    }
    double w = h <= 1 ? 0 : log(h) / log(PR_HORIZON);
    if (w > 1)
        w = 1;
    double ceil_k = p->ceiling.v[k];
    for (size_t i = 0; i < PR_KNOTS; i++) {
        double v = pr_value(base, r->eps, hz->near[cond][i], ceil_k);
        if (w > 0)
            v = (1 - w) * v + w * pr_value(r->last, r->eps, hz->far[i], ceil_k);
        value[i] = i > 0 && v < value[i - 1] ? value[i - 1] : v;
    }
}

/* The cheapest knot of bands b for dimension k (resource-steps: the
 * allocation plus the overrun price times the chance of being exceeded,
 * 1 - level at a knot), and its cost. */
static double pr_cheapest_knot(const struct drv_cost_bands *b, const struct pr_choice *ch,
                               double *cost_out)
{
    double best = -1, best_cost = INFINITY;
    for (int i = 0; i < b->n; i++) {
        double a = pr_clamp(ch, b->value[i]), exceed;
        if (a == b->value[i]) {
            /* at a knot: 1 - the highest level holding that value */
            int j = i;
            while (j + 1 < b->n && b->value[j + 1] == a)
                j++;
            exceed = 1 - b->level[j];
        } else {
            exceed = drv_cost_exceed_prob(b, a);
        }
        if (ch->ceiling > 0 && a >= ch->ceiling)
            exceed = 0;
        double cost = a + ch->overrun * exceed;
        if (cost < best_cost) {
            best_cost = cost;
            best = a;
        }
    }
    *cost_out = best_cost;
    return best;
}

/* "cpu=level,mem=peak,...": the setting each dimension follows. */
static void pr_model_label(const struct drv_predictor *p, const struct drv_predict_step *s,
                           char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (int k = 0; k < DRV_RES_LAST && n + 1 < size; k++) {
        if (!pr_active(p, k))
            continue;
        int w = snprintf(out + n, size - n, "%s%s=%s", n ? "," : "",
                         drv_res_kind_name((enum drv_res_kind)k),
                         drv_predict_model_name(s->model[k]));
        if (w < 0 || (size_t)w >= size - n) {
            out[n] = '\0';
            break;
        }
        n += (size_t)w;
    }
}

struct drv_blueprint *drv_predictor_blueprint(struct drv_predictor *p, int64_t now_s,
                                              int32_t horizon_s, int32_t step_s,
                                              const struct drv_cost_model *cm,
                                              struct err **err)
{
    if (step_s < 1 || horizon_s < step_s) {
        err_set(err, ERR_INVALID, "blueprint horizon %d s with step %d s", horizon_s, step_s);
        return NULL;
    }
    struct drv_blueprint *bp =
        drv_blueprint_new((horizon_s + step_s - 1) / step_s, step_s, now_s, err);
    if (!bp)
        return NULL;
    drv_blueprint_alloc_ensure(bp);

    /* step 0 is what next() says for the interval ending a step from now */
    struct drv_predict_step s0;
    pr_step(p, now_s + step_s, cm, &s0, false);
    double conf = 0;
    int nconf = 0;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        bp->res_confidence[k] = s0.confidence[k];
        if (pr_active(p, k)) {
            conf += s0.confidence[k];
            nconf++;
        }
        for (int q = 0; q < DRV_Q_LAST; q++)
            drv_blueprint_set(bp, 0, (enum drv_res_kind)k, (enum drv_quantile)q, s0.q[q][k]);
        bp->alloc[k] = s0.alloc.v[k];
    }
    bp->confidence = nconf ? conf / nconf : 0;
    snprintf(bp->model, sizeof(bp->model), "%s", p->n ? "" : "cold");
    if (p->n)
        pr_model_label(p, &s0, bp->model, sizeof(bp->model));

    struct drv_fleet *f = p->fleet;
    if (f)
        pthread_mutex_lock(&f->lock);
    struct pr_choice ch[DRV_RES_LAST];
    struct pr_horizon *hz = xcalloc(DRV_RES_LAST, sizeof(*hz));
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (pr_active(p, k)) {
            pr_choice_init(p, p->r[k], k, cm, pr_log_overrun_locked(p, k), &ch[k]);
            /* prices per blueprint step rather than per sample */
            ch[k].unit = cm->price[k] * step_s / 3600.0;
            if (p->n)
                pr_horizon_init_locked(p, k, &hz[k]);
        }
    double dt = p->dt > 0 ? p->dt : step_s;
    double hold = p->pc.reshape_hold_s / step_s;
    if (hold < 1)
        hold = 1;
    for (int32_t s = 1; s < bp->nsteps; s++) {
        int64_t t = now_s + (int64_t)(s + 1) * step_s;
        double h = p->n ? (double)(t - p->last_t) / dt : 1;
        double best[DRV_RES_LAST] = {0}, saving[DRV_RES_LAST] = {0};
        for (int k = 0; k < DRV_RES_LAST; k++) {
            if (!pr_active(p, k))
                continue;
            double value[PR_KNOTS], lv[DRV_FLEET_SHARE_BUCKETS], vv[DRV_FLEET_SHARE_BUCKETS];
            double q[DRV_Q_LAST];
            struct drv_cost_bands b;
            int nk;
            if (p->n == 0) {
                pr_cold_locked(p, k, t, t - p->boot_s, q, lv, vv, &nk);
                b = (struct drv_cost_bands){lv, vv, nk};
            } else {
                pr_knots_locked(p, k, t, h, &hz[k], value);
                b = (struct drv_cost_bands){pr_knot_levels, value, (int)PR_KNOTS};
                q[DRV_Q_P50] = value[PR_KNOT_P50];
                q[DRV_Q_P90] = value[PR_KNOT_P90];
                q[DRV_Q_P99] = value[PR_KNOT_P99];
            }
            if (q[DRV_Q_P99] < ch[k].floor)
                q[DRV_Q_P99] = ch[k].floor;
            for (int i = 0; i < DRV_Q_LAST; i++) {
                if (i > 0 && q[i] < q[i - 1])
                    q[i] = q[i - 1];
                drv_blueprint_set(bp, s, (enum drv_res_kind)k, (enum drv_quantile)i, q[i]);
            }
            /* the cheapest knot, and what keeping the previous step's
             * allocation would cost more (currency per step) */
            double prev = bp->alloc[(size_t)(s - 1) * DRV_RES_LAST + (size_t)k];
            if (b.n == 0) {
                best[k] = p->ceiling.v[k];
                saving[k] = prev == best[k] ? 0 : INFINITY;
                continue;
            }
            double cost;
            best[k] = pr_cheapest_knot(&b, &ch[k], &cost);
            if (pr_clamp(&ch[k], prev) == prev)
                saving[k] = (prev + ch[k].overrun * drv_cost_exceed_prob(&b, prev) - cost) *
                            ch[k].unit;
            else
                saving[k] = INFINITY;
        }
        /* one reshape for the whole shape, when it pays over its hold */
        bool keep = pr_keep_shape(saving, cm->reshape, hold);
        for (int k = 0; k < DRV_RES_LAST; k++)
            bp->alloc[(size_t)s * DRV_RES_LAST + (size_t)k] =
                keep ? bp->alloc[(size_t)(s - 1) * DRV_RES_LAST + (size_t)k] : best[k];
    }
    free(hz);
    if (f)
        pthread_mutex_unlock(&f->lock);
    drv_predictor_longrun(p, now_s, bp);
    return bp;
}
