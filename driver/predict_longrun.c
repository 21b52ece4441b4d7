/* The long run of a guest: the distribution of its use over days rather
 * than over a blueprint's horizon (predict.h, blueprint.h `longrun`).
 *
 * Sculpt never moves a guest to another host, so what a host admits today
 * it carries for the guest's whole stay.  Admission therefore also weighs
 * each guest's long-run distribution: the guest's own decayed histogram of
 * use as a share of its flavor (PR_LIFE_BUCKETS log-spaced buckets), mixed
 * with the most specific fleet group's (what comparable guests used once
 * past their first day, when the group has seen such guests), the group
 * worth a day of samples -- a daily cycle is the shortest stretch over
 * which a guest shows its range.  Without a group, the prior is the
 * flavor spread evenly (what the cold start's bands say too): nothing
 * known, nothing overcommitted on faith.
 *
 * Each histogram is a piecewise-linear CDF over its own buckets; the
 * mixture's quantiles are found by bisection on the share.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "driver/predict_priv.h"

/* How much the fleet's prior weighs against the guest's own samples. */
#define PR_LIFE_PRIOR_S 86400.0
/* Fleet age bucket from which guests count as settled (a day). */
#define PR_LIFE_SETTLED_BUCKET 6
/* The guest's own buckets: [0, 1e-4), log-spaced to 1, then [1, ...). */
#define PR_LIFE_MIN 1e-4

static double pr_life_edges[PR_LIFE_BUCKETS + 1];

__attribute__((constructor)) static void pr_life_edges_init(void)
{
    pr_life_edges[0] = 0;
    for (int b = 1; b < PR_LIFE_BUCKETS; b++)
        pr_life_edges[b] = PR_LIFE_MIN * pow(1.0 / PR_LIFE_MIN, (double)(b - 1) /
                                                                     (PR_LIFE_BUCKETS - 2));
    pr_life_edges[PR_LIFE_BUCKETS] = 1;
}

double drv_pr_life_edge(int b)
{
    return b <= 0 ? 0 : b >= PR_LIFE_BUCKETS ? 1 : pr_life_edges[b];
}

int drv_pr_life_bucket(double share)
{
    if (!(share >= PR_LIFE_MIN))
        return 0;
    if (share >= 1)
        return PR_LIFE_BUCKETS - 1;
    int lo = 1, hi = PR_LIFE_BUCKETS - 2;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (share >= pr_life_edges[mid])
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* A histogram over buckets whose edges edge(0..n) are given, the last
 * bucket a point mass at the ceiling (share 1). */
struct pr_hist {
    const double *w;
    int n;
    double (*edge)(int b);
    double total;
};

/* Weight at or below share x (linear within a bucket). */
static double pr_hist_cdf(const struct pr_hist *h, double x)
{
    double c = 0;
    for (int b = 0; b < h->n; b++) {
        if (h->w[b] <= 0)
            continue;
        double lo = h->edge(b), hi = b == h->n - 1 ? 1 : fmin(h->edge(b + 1), 1);
        if (b == h->n - 1 || hi <= lo) {
            /* at the ceiling (or a bucket squeezed to a point) */
            if (x >= lo)
                c += h->w[b];
        } else if (x >= hi) {
            c += h->w[b];
        } else if (x > lo) {
            c += h->w[b] * (x - lo) / (hi - lo);
        }
    }
    return c;
}

static double pr_hist_mean(const struct pr_hist *h)
{
    double m = 0;
    for (int b = 0; b < h->n; b++) {
        double lo = fmin(h->edge(b), 1), hi = b == h->n - 1 ? 1 : fmin(h->edge(b + 1), 1);
        m += h->w[b] * 0.5 * (lo + hi);
    }
    return m;
}

/* The share at level u of a * x + b * y + c * z (weights totalling 1). */
static double pr_mix_quantile(const struct pr_hist *x, double a, const struct pr_hist *y,
                              double b, const struct pr_hist *z, double c, double u)
{
    const struct pr_hist *h[3] = {x, y, z};
    const double w[3] = {a, b, c};
    double lo = 0, hi = 1;
    for (int it = 0; it < 40; it++) {
        double mid = 0.5 * (lo + hi), cum = 0;
        for (int i = 0; i < 3; i++)
            if (w[i] > 0 && h[i]->total > 0)
                cum += w[i] * pr_hist_cdf(h[i], mid) / h[i]->total;
        if (cum >= u)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* One bucket [0, 1): the flavor spread evenly. */
static double pr_even_edge(int b)
{
    return b <= 0 ? 0 : 1;
}

/* The group's share histogram for dimension k over ages from the guest's
 * own on (settled guests first); its total, 0 when empty. */
static double pr_group_life(const struct drv_fleet_record *rec, int k, int age_bucket,
                            double *w)
{
    int from[3] = {age_bucket > PR_LIFE_SETTLED_BUCKET ? age_bucket : PR_LIFE_SETTLED_BUCKET,
                   age_bucket, 0};
    for (int i = 0; i < 3; i++) {
        double total = 0;
        for (int b = 0; b < DRV_FLEET_SHARE_BUCKETS; b++) {
            w[b] = 0;
            for (int a = from[i]; a < DRV_FLEET_AGE_BUCKETS; a++)
                w[b] += rec->age[k][a][b];
            total += w[b];
        }
        if (total > 0)
            return total;
    }
    return 0;
}

void drv_pr_longrun_locked(struct drv_predictor *p, int k, int64_t t, double q[DRV_Q_LAST],
                           double *mean)
{
    const struct drv_pr_res *r = p->r[k];
    double own_w[PR_LIFE_BUCKETS], prior_w[DRV_FLEET_SHARE_BUCKETS];
    struct pr_hist prior = {prior_w, DRV_FLEET_SHARE_BUCKETS, drv_pr_share_edge, 0};
    int age = drv_pr_age_bucket(t - p->boot_s);
    bool whole_fleet = false;
    for (uint32_t i = 0; p->fleet && i < p->ngroups && prior.total <= 0; i++) {
        const struct drv_pr_group *g = drv_fleet_group_cached_locked(
            p->fleet, p->groups[i], false, t, &p->gidx[i], &p->gid[i]);
        /* a guest counts itself in its groups: it needs min_guests others */
        if (g && g->rec.guests >= p->pc.fleet_min_guests + 1) {
            prior.total = pr_group_life(&g->rec, k, age, prior_w);
            whole_fleet = i + 1 == p->ngroups;
        }
    }
    if (prior.total <= 0) {
        /* nothing comparable: the flavor spread evenly */
        prior_w[0] = 1;
        prior_w[1] = 0;
        prior = (struct pr_hist){prior_w, 2, pr_even_edge, 1};
    }
    struct pr_hist own = {own_w, PR_LIFE_BUCKETS, drv_pr_life_edge, 0};
    double inv = 1.0 / p->wscale;
    for (int b = 0; b < PR_LIFE_BUCKETS; b++) {
        own_w[b] = r->life[b] * inv;
        own.total += own_w[b];
    }
    double dt = p->dt > 0 ? p->dt : p->pc.season_bin_s;
    double pw = PR_LIFE_PRIOR_S / dt;
    double a = own.total / (own.total + pw), b = 1 - a;
    /* the whole fleet says little of one kind of guest: half of its weight
     * stays with the even spread (as a cold start's confidence halves) */
    double even_w[2] = {1, 0};
    struct pr_hist even = {even_w, 2, pr_even_edge, 1};
    double c = whole_fleet ? b / 2 : 0;
    b -= c;
    for (int i = 0; i < DRV_Q_LAST; i++)
        q[i] = pr_mix_quantile(&own, a, &prior, b, &even, c, drv_quantile_level[i]);
    *mean = (own.total > 0 ? a * pr_hist_mean(&own) / own.total : 0) +
            b * pr_hist_mean(&prior) / prior.total + c * 0.5;
}

void drv_predictor_longrun(struct drv_predictor *p, int64_t now_s, struct drv_blueprint *bp)
{
    memset(bp->longrun, 0, sizeof(bp->longrun));
    memset(bp->longrun_mean, 0, sizeof(bp->longrun_mean));
    if (p->fleet)
        pthread_mutex_lock(&p->fleet->lock);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        double ceil_k = p->ceiling.v[k];
        if (!p->r[k] || !(ceil_k > 0))
            continue; /* unbounded: no share to speak of */
        double q[DRV_Q_LAST], mean;
        drv_pr_longrun_locked(p, k, now_s, q, &mean);
        for (int i = 0; i < DRV_Q_LAST; i++)
            bp->longrun[k][i] = q[i] * ceil_k;
        bp->longrun_mean[k] = mean * ceil_k;
    }
    if (p->fleet)
        pthread_mutex_unlock(&p->fleet->lock);
}
