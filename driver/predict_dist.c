/* Conditional empirical distributions of log-ratios over fixed bins: the
 * calibration every model setting is scored with (predict_priv.h). */
#include <math.h>

#include "driver/predict_priv.h"

#define PR_X_MIN (-5.63) /* asinh(-7 / PR_R0): symmetric, so r = 0 is an edge */
#define PR_X_MAX 5.63
#define PR_X_STEP ((PR_X_MAX - PR_X_MIN) / DRV_PREDICT_BINS)

int drv_pr_bin(double r)
{
    double x = asinh(r / PR_R0);
    int j = (int)floor((x - PR_X_MIN) / PR_X_STEP);
    if (j < 0 || isnan(x))
        return 0;
    return j >= DRV_PREDICT_BINS ? DRV_PREDICT_BINS - 1 : j;
}

double drv_pr_edge(int j)
{
    return PR_R0 * sinh(PR_X_MIN + PR_X_STEP * j);
}

/* Edges (and their exponentials) are needed on every query: computed once. */
static double pr_edges[DRV_PREDICT_BINS + 1];
static double pr_exp_edges[DRV_PREDICT_BINS + 1];
static pthread_once_t pr_edges_once = PTHREAD_ONCE_INIT;

static void pr_edges_init(void)
{
    for (int j = 0; j <= DRV_PREDICT_BINS; j++) {
        pr_edges[j] = drv_pr_edge(j);
        pr_exp_edges[j] = exp(pr_edges[j]);
    }
}

const double *drv_pr_exp_edges(void)
{
    pthread_once(&pr_edges_once, pr_edges_init);
    return pr_exp_edges;
}

static const double *pr_edges_get(void)
{
    pthread_once(&pr_edges_once, pr_edges_init);
    return pr_edges;
}

void drv_pr_cdf_mix(struct drv_pr_cdf *out, const float *own, double own_w,
                    const float *prior, double prior_w, double pw)
{
    double a = own_w > 0 ? 1.0 : 0.0;
    double b = prior_w > 0 ? pw / prior_w : 0.0;
    double total = (own_w > 0 ? own_w : 0) + (prior_w > 0 ? pw : 0);
    double cum = 0;

    out->cum[0] = 0;
    if (total <= 0) {
        /* no evidence at all: a point mass at r = 0 */
        int z = drv_pr_bin(0);
        for (int j = 0; j < DRV_PREDICT_BINS; j++)
            out->cum[j + 1] = j >= z ? 1.0 : 0.0;
        out->weight = 0;
        return;
    }
    for (int j = 0; j < DRV_PREDICT_BINS; j++) {
        double w = 0;
        if (a > 0)
            w += own[j];
        if (b > 0)
            w += b * prior[j];
        cum += w;
        out->cum[j + 1] = cum;
    }
    double inv = cum > 0 ? 1.0 / cum : 0;
    for (int j = 1; j <= DRV_PREDICT_BINS; j++)
        out->cum[j] *= inv;
    out->cum[DRV_PREDICT_BINS] = 1.0;
    out->weight = total;
}

double drv_pr_cdf_quantile(const struct drv_pr_cdf *c, double p)
{
    const double *e = pr_edges_get();
    int j = 0;
    while (j < DRV_PREDICT_BINS - 1 && c->cum[j + 1] < p)
        j++;
    double lo = c->cum[j], hi = c->cum[j + 1];
    double f = hi > lo ? (p - lo) / (hi - lo) : 1.0;
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    return e[j] + f * (e[j + 1] - e[j]);
}

double drv_pr_cdf_at(const struct drv_pr_cdf *c, double r)
{
    const double *e = pr_edges_get();
    if (r <= e[0])
        return 0;
    if (r >= e[DRV_PREDICT_BINS])
        return 1;
    int j = drv_pr_bin(r);
    double f = (r - e[j]) / (e[j + 1] - e[j]);
    return c->cum[j] + f * (c->cum[j + 1] - c->cum[j]);
}
