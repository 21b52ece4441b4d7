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
 * which a guest shows its range.  The whole fleet says little of one kind
 * of guest: when only it matched, half of the prior's weight goes to the
 * flavor spread evenly (as a cold start's confidence halves).  With no
 * group, a day of the guest's own history stands alone; before that the
 * long run is not known (left at zero), and admission goes by the
 * horizon's bands as it does for any blueprint without one.
 *
 * Each histogram is linear between its edges, so the mixture is linear
 * between the union of them: its quantiles come from one ordered walk.
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
static struct drv_pr_lut pr_life_lut;

/* A set of share buckets: bucket b spans [edge[b], edge[b + 1]) clipped to
 * the ceiling (share 1), use spread evenly within; the last bucket, and
 * any the clipping leaves empty, is use at the ceiling.  mid[] and inv[]
 * (1 / width, 0 at the ceiling) are kept beside the edges. */
struct pr_buckets {
    int n;
    const double *edge; /* n + 1, increasing */
    double mid[PR_LIFE_BUCKETS];
    double inv[PR_LIFE_BUCKETS];
};

static struct pr_buckets pr_life_set, pr_share_set, pr_even_set;
static double pr_share_edges[DRV_FLEET_SHARE_BUCKETS + 1]; /* the fleet's, copied here:
                                                            * constructors run in no set order */
static const double pr_even_edges[3] = {0, 1, 1};

static void pr_buckets_init(struct pr_buckets *s, const double *edge, int n)
{
    s->n = n;
    s->edge = edge;
    for (int b = 0; b < n; b++) {
        double lo = edge[b], hi = b == n - 1 ? 1 : fmin(edge[b + 1], 1);
        bool spread = b < n - 1 && lo < 1 && hi > lo;
        s->mid[b] = spread ? 0.5 * (lo + hi) : 1;
        s->inv[b] = spread ? 1 / (hi - lo) : 0;
    }
}

__attribute__((constructor)) static void pr_life_edges_init(void)
{
    pr_life_edges[0] = 0;
    for (int b = 1; b < PR_LIFE_BUCKETS; b++)
        pr_life_edges[b] = PR_LIFE_MIN * pow(1.0 / PR_LIFE_MIN, (double)(b - 1) /
                                                                     (PR_LIFE_BUCKETS - 2));
    pr_life_edges[PR_LIFE_BUCKETS] = 1;
    drv_pr_lut_init(&pr_life_lut, pr_life_edges, PR_LIFE_BUCKETS);
    pr_buckets_init(&pr_life_set, pr_life_edges, PR_LIFE_BUCKETS);
    for (int b = 0; b <= DRV_FLEET_SHARE_BUCKETS; b++)
        pr_share_edges[b] = drv_pr_share_edge(b);
    pr_buckets_init(&pr_share_set, pr_share_edges, DRV_FLEET_SHARE_BUCKETS);
    pr_buckets_init(&pr_even_set, pr_even_edges, 2);
}

const double *drv_pr_life_edges(void)
{
    return pr_life_edges;
}

int drv_pr_life_bucket(double share)
{
    return drv_pr_lut_find(&pr_life_lut, share);
}

/* Weights over a set of buckets, and their total. */
struct pr_hist {
    const double *w;
    const struct pr_buckets *set;
    double total;
};

static double pr_hist_mean(const struct pr_hist *h)
{
    double m = 0;
    for (int b = 0; b < h->set->n; b++)
        m += h->w[b] * h->set->mid[b];
    return m;
}

/* Quantiles at levels u[0..nu) (increasing) of the mixture
 * sum_i coef[i] h[i] / total_i (coefficients totalling 1): walk the union
 * of the edges below the ceiling in order, the mixture's CDF linear in
 * between; what the walk does not reach lies at the ceiling. */
static void pr_mix_quantiles(const struct pr_hist *h, const double *coef, int nh, const double *u,
                             int nu, double *out)
{
    int cur[3] = {0, 0, 0};      /* the bucket each histogram is in */
    double below[3] = {0, 0, 0}; /* its weight below that bucket, scaled */
    double scale[3] = {0, 0, 0}; /* coef / total */
    int live[3], nl = 0;
    for (int i = 0; i < nh; i++)
        if (coef[i] > 0 && h[i].total > 0) {
            scale[i] = coef[i] / h[i].total;
            live[nl++] = i;
        }
    double x0 = 0, f0 = 0;
    int qi = 0;
    while (qi < nu) {
        /* the next edge of any histogram, up to the ceiling */
        double x = 1;
        for (int l = 0; l < nl; l++) {
            const struct pr_hist *g = &h[live[l]];
            double e = g->set->edge[cur[live[l]] + 1];
            if (e < x)
                x = e;
        }
        double f = 0;
        for (int l = 0; l < nl; l++) {
            int i = live[l], b = cur[i];
            const struct pr_buckets *set = h[i].set;
            f += below[i] + scale[i] * h[i].w[b] * (x - set->edge[b]) * set->inv[b];
        }
        while (qi < nu && f >= u[qi]) {
            out[qi] = f > f0 ? x0 + (x - x0) * (u[qi] - f0) / (f - f0) : x0;
            qi++;
        }
        if (x >= 1)
            break;
        /* pass the edge at x */
        for (int l = 0; l < nl; l++) {
            int i = live[l];
            const struct pr_buckets *set = h[i].set;
            if (set->edge[cur[i] + 1] <= x && cur[i] < set->n - 1) {
                below[i] += scale[i] * h[i].w[cur[i]] * (set->inv[cur[i]] > 0);
                cur[i]++;
            }
        }
        x0 = x;
        f0 = f;
    }
    for (; qi < nu; qi++)
        out[qi] = 1;
}

static const double pr_even_w[2] = {1, 0};

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

bool drv_pr_longrun_locked(struct drv_predictor *p, int k, int64_t t, double q[DRV_Q_LAST],
                           double *mean)
{
    const struct drv_pr_res *r = p->r[k];
    double own_w[PR_LIFE_BUCKETS], prior_w[DRV_FLEET_SHARE_BUCKETS];
    struct pr_hist h[3] = {
        {own_w, &pr_life_set, 0},
        {prior_w, &pr_share_set, 0},
        {pr_even_w, &pr_even_set, 1},
    };
    int age = drv_pr_age_bucket(t - p->boot_s);
    bool whole_fleet = false;
    for (uint32_t i = 0; p->fleet && i < p->ngroups && h[1].total <= 0; i++) {
        const struct drv_pr_group *g = drv_fleet_group_cached_locked(
            p->fleet, p->groups[i], false, t, &p->gidx[i], &p->gid[i]);
        if (g && drv_pr_fleet_others(p, g) >= p->pc.fleet_min_guests) {
            h[1].total = pr_group_life(&g->rec, k, age, prior_w);
            whole_fleet = i + 1 == p->ngroups;
        }
    }
    double inv = 1.0 / p->wscale;
    for (int b = 0; b < PR_LIFE_BUCKETS; b++) {
        own_w[b] = r->life[b] * inv;
        h[0].total += own_w[b];
    }
    double dt = p->dt > 0 ? p->dt : p->pc.season_bin_s;
    double pw = PR_LIFE_PRIOR_S / dt;
    double coef[3] = {1, 0, 0};
    if (h[1].total > 0) {
        coef[0] = h[0].total / (h[0].total + pw);
        double prior = 1 - coef[0];
        coef[1] = whole_fleet ? prior / 2 : prior;
        coef[2] = prior - coef[1];
    } else if (h[0].total < pw) {
        return false; /* neither comparable guests nor a day of its own */
    }
    pr_mix_quantiles(h, coef, 3, drv_quantile_level, DRV_Q_LAST, q);
    *mean = 0;
    for (int i = 0; i < 3; i++)
        if (coef[i] > 0 && h[i].total > 0)
            *mean += coef[i] * pr_hist_mean(&h[i]) / h[i].total;
    return true;
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
        if (!drv_pr_longrun_locked(p, k, now_s, q, &mean))
            continue; /* not known yet */
        for (int i = 0; i < DRV_Q_LAST; i++)
            bp->longrun[k][i] = q[i] * ceil_k;
        bp->longrun_mean[k] = mean * ceil_k;
    }
    if (p->fleet)
        pthread_mutex_unlock(&p->fleet->lock);
}
