/* Conditional empirical distributions of log-ratios over fixed bins: the
 * calibration every model setting is scored with (predict_priv.h).
 *
 * Hot path: a guest asks for a few of these per dimension per sample, so
 * nothing here calls log or exp, and CDFs stay unnormalised (quantiles and
 * probabilities scale by the total on the fly). */
#include <math.h>

#include "driver/predict_priv.h"

#define PR_X_MAX 6.551 /* asinh(7 / PR_R0): bins cover r in [-7, 7], r = 0 an edge */
#define PR_X_STEP (2 * PR_X_MAX / DRV_PREDICT_BINS)

double drv_pr_edge(int j)
{
    return PR_R0 * sinh(-PR_X_MAX + PR_X_STEP * j);
}

int drv_pr_bin(double r)
{
    double x = asinh(r / PR_R0);
    int j = (int)floor((x + PR_X_MAX) / PR_X_STEP);
    if (j < 0 || isnan(x))
        return 0;
    return j >= DRV_PREDICT_BINS ? DRV_PREDICT_BINS - 1 : j;
}

/* exp() of every edge: the ratio to the base each edge stands for.  Built
 * once when the program starts (the edges are constants). */
static double pr_exp_edges[DRV_PREDICT_BINS + 1];
static struct drv_pr_lut pr_bin_lut;

__attribute__((constructor)) static void pr_edges_init(void)
{
    for (int j = 0; j <= DRV_PREDICT_BINS; j++)
        pr_exp_edges[j] = exp(drv_pr_edge(j));
    drv_pr_lut_init(&pr_bin_lut, pr_exp_edges, DRV_PREDICT_BINS);
}

const double *drv_pr_exp_edges(void)
{
    return pr_exp_edges;
}

int drv_pr_bin_ratio(double ratio)
{
    /* bin j holds ex[j] <= ratio < ex[j + 1]; the end bins take the rest */
    return drv_pr_lut_find(&pr_bin_lut, ratio);
}

void drv_pr_cdf_mix(struct drv_pr_cdf *out, const float *own, double own_scale,
                    double own_w, const float *prior, double prior_w, double pw)
{
    float a = own_w > 0 ? (float)own_scale : 0.0f;
    float b = prior && prior_w > 0 && pw > 0 ? (float)(pw / prior_w) : 0.0f;
    double total = (a > 0 ? own_w : 0) + (b > 0 ? pw : 0);

    out->weight = total;
    if (!(total > 0)) {
        /* no evidence at all: a point mass at r = 0 */
        int z = DRV_PREDICT_BINS / 2;
        for (int j = 0; j <= DRV_PREDICT_BINS; j++)
            out->cum[j] = j > z ? 1.0f : 0.0f;
        out->total = 1;
        out->inv = 1;
        out->lo = 0;
        out->weight = 0;
        for (int q = 0; q < DRV_Q_LAST; q++)
            out->qidx[q] = drv_pr_cdf_index(out, drv_quantile_level[q]);
        return;
    }
    /* the weights' sum is known: accumulate from the top down, and stop
     * below the median -- every level asked for is at or above it.  On
     * the way, the bins of the band levels: bin j holds level p when
     * cum[j] < p total <= cum[j + 1] (what drv_pr_cdf_index finds) */
    float cum = (float)total;
    /* the band levels from the top down, as weights */
    const enum drv_quantile down[DRV_Q_LAST] = {DRV_Q_P99, DRV_Q_P90, DRV_Q_P50};
    float x[DRV_Q_LAST];
    for (int i = 0; i < DRV_Q_LAST; i++)
        x[i] = (float)(drv_quantile_level[down[i]] * total);
    int j = DRV_PREDICT_BINS;
    out->cum[j] = cum;
#define PR_MIX_WALK(weight)                                                                        \
    for (int i = 0; i < DRV_Q_LAST; i++) {                                                         \
        while (j > 0 && cum >= x[i]) {                                                             \
            j--;                                                                                   \
            cum -= (weight);                                                                       \
            out->cum[j] = cum;                                                                     \
        }                                                                                          \
        out->qidx[down[i]] = j;                                                                    \
    }
    if (a > 0 && b > 0)
        PR_MIX_WALK(a * own[j] + b * prior[j])
    else if (a > 0)
        PR_MIX_WALK(a * own[j])
    else
        PR_MIX_WALK(b * prior[j])
#undef PR_MIX_WALK
    if (out->cum[j] < 0)
        out->cum[j] = 0;
    if (j == 0)
        out->cum[0] = 0;
    out->lo = j;
    out->total = total;
    out->inv = 1.0 / total;
}

int drv_pr_cdf_index(const struct drv_pr_cdf *c, double p)
{
    float x = (float)(p * c->total);
    int lo = c->lo, hi = DRV_PREDICT_BINS - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->cum[mid + 1] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Cumulative weight at edge j; below the edges computed, linear from 0 at
 * edge 0 (only allocations below the median ask, and they are rare). */
static double pr_cum(const struct drv_pr_cdf *c, int j)
{
    if (j >= c->lo)
        return c->cum[j];
    return c->lo > 0 ? c->cum[c->lo] * j / c->lo : 0;
}

/* The ratio at probability p, which bin j holds. */
static double pr_quantile_in(const struct drv_pr_cdf *c, int j, double p)
{
    const double *ex = pr_exp_edges;
    double lo = pr_cum(c, j) * c->inv, hi = c->cum[j + 1] * c->inv;
    double f = hi > lo ? (p - lo) / (hi - lo) : 1.0;
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    return ex[j] + f * (ex[j + 1] - ex[j]);
}

double drv_pr_cdf_quantile_ratio(const struct drv_pr_cdf *c, double p)
{
    return pr_quantile_in(c, drv_pr_cdf_index(c, p), p);
}

double drv_pr_cdf_band_ratio(const struct drv_pr_cdf *c, enum drv_quantile q)
{
    return pr_quantile_in(c, c->qidx[q], drv_quantile_level[q]);
}

double drv_pr_cdf_at_ratio(const struct drv_pr_cdf *c, double ratio)
{
    const double *ex = pr_exp_edges;
    if (!(ratio > ex[0]))
        return 0;
    if (ratio >= ex[DRV_PREDICT_BINS])
        return 1;
    int j = drv_pr_bin_ratio(ratio);
    double f = (ratio - ex[j]) / (ex[j + 1] - ex[j]);
    double lo = pr_cum(c, j), hi = pr_cum(c, j + 1);
    return (lo + f * (hi - lo)) * c->inv;
}
