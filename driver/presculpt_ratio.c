/* The empirical distribution of a class's ratios actual / forecast
 * (presculpt_priv.h): a decayed log-scale histogram, and the queries pool
 * sizing needs on D = forecast x ratio. */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "driver/presculpt_priv.h"

#define RH_LOG2_MIN (-(DRV_RH_OCTAVES / 2))
#define RH_RESCALE 1e100

void drv_rh_release(struct drv_ratio_hist *h)
{
    free(h->w);
    free(h->cw);
    free(h->cwr);
    memset(h, 0, sizeof(*h));
}

/* Ratio edges of bin k (1 .. BINS-2).  Bin 0 holds the ratios below
 * 2^-6, taken as 0: nothing came. */
static double rh_lo(int k)
{
    return k == 0 ? 0 : exp2((double)(k - 1) / DRV_RH_PER_OCTAVE + RH_LOG2_MIN);
}

static double rh_hi(int k)
{
    return k == 0 ? 0 : exp2((double)k / DRV_RH_PER_OCTAVE + RH_LOG2_MIN);
}

static int rh_bin(double r)
{
    if (!(r >= exp2(RH_LOG2_MIN)))
        return 0;
    double x = (log2(r) - RH_LOG2_MIN) * DRV_RH_PER_OCTAVE;
    if (x >= DRV_RH_BINS - 2)
        return DRV_RH_BINS - 1;
    return (int)x + 1;
}

void drv_rh_add(struct drv_ratio_hist *h, double r, int64_t bin, double half_life_bins)
{
    if (!(r >= 0) || !isfinite(r))
        return;
    if (!h->w) {
        h->w = xcalloc(DRV_RH_BINS, sizeof(*h->w));
        h->cw = xcalloc(DRV_RH_BINS, sizeof(*h->cw));
        h->cwr = xcalloc(DRV_RH_BINS, sizeof(*h->cwr));
        h->scale_bin = (double)bin;
        h->n_bin = bin;
    }
    double g = exp2(((double)bin - h->scale_bin) / half_life_bins);
    if (g > RH_RESCALE) {
        for (int k = 0; k < DRV_RH_BINS; k++)
            h->w[k] /= g;
        h->over_wr /= g;
        h->scale_bin = (double)bin;
        g = 1;
    }
    int k = rh_bin(r);
    h->w[k] += g;
    if (k == DRV_RH_BINS - 1)
        h->over_wr += g * r;
    h->n_eff = h->n_eff * exp2(-(double)(bin - h->n_bin) / half_life_bins) + 1;
    h->n_bin = bin;
    h->fresh = false;
}

bool drv_rh_usable(const struct drv_ratio_hist *h, double mu)
{
    return h->w && mu >= DRV_RH_MIN_MEAN && h->n_eff >= DRV_RH_MIN_SAMPLES;
}

/* Representative ratio sum of a whole bin: its weight at the bin's
 * middle (the overflow bin: its recorded ratios). */
static void rh_refresh(struct drv_ratio_hist *h)
{
    if (h->fresh)
        return;
    double cw = 0, cwr = 0;
    for (int k = 0; k < DRV_RH_BINS; k++) {
        cw += h->w[k];
        cwr += k == DRV_RH_BINS - 1 ? h->over_wr : h->w[k] * 0.5 * (rh_lo(k) + rh_hi(k));
        h->cw[k] = cw;
        h->cwr[k] = cwr;
    }
    h->fresh = true;
}

/* P(R < x) and E[R 1{R < x}], mass spread evenly within a bin. */
static void rh_below(struct drv_ratio_hist *h, double x, double *F, double *ER)
{
    double W = h->cw[DRV_RH_BINS - 1];
    int k = rh_bin(x);
    double cw = k ? h->cw[k - 1] : 0, cwr = k ? h->cwr[k - 1] : 0;
    if (k == 0 && x > 0) {
        cw = h->cw[0]; /* the point at 0 is below any x > 0 */
    } else if (k > 0 && k < DRV_RH_BINS - 1 && h->w[k] > 0) {
        double lo = rh_lo(k), hi = rh_hi(k), part = (x - lo) / (hi - lo);
        cw += h->w[k] * part;
        cwr += h->w[k] * part * 0.5 * (lo + x);
    }
    *F = cw / W;
    *ER = cwr / W;
}

uint32_t drv_rh_quantile(struct drv_ratio_hist *h, double mu, double q, uint32_t cap,
                         double *left)
{
    rh_refresh(h);
    double W = h->cw[DRV_RH_BINS - 1], want = q * W, r;
    int lo_k = 0, hi_k = DRV_RH_BINS - 1;
    while (lo_k < hi_k) { /* the first bin whose cumulative weight reaches q */
        int mid = (lo_k + hi_k) / 2;
        if (h->cw[mid] >= want)
            hi_k = mid;
        else
            lo_k = mid + 1;
    }
    if (lo_k == DRV_RH_BINS - 1) {
        r = h->w[lo_k] > 0 ? h->over_wr / h->w[lo_k] : rh_lo(lo_k);
    } else {
        double before = lo_k ? h->cw[lo_k - 1] : 0;
        double frac = h->w[lo_k] > 0 ? (want - before) / h->w[lo_k] : 0;
        r = rh_lo(lo_k) + frac * (rh_hi(lo_k) - rh_lo(lo_k)); /* 0 in bin 0 */
    }
    double s = ceil(mu * r - 1e-9);
    uint32_t S = s <= 0 ? 0 : s >= cap ? cap : (uint32_t)s;
    if (left) {
        double F, ER;
        rh_below(h, S / mu, &F, &ER);
        *left = S > 0 ? S * F - mu * ER : 0;
        if (*left < 0)
            *left = 0;
    }
    return S;
}

double drv_rh_p0(struct drv_ratio_hist *h, double mu)
{
    rh_refresh(h);
    double F, ER;
    rh_below(h, 0.5 / mu, &F, &ER);
    return F;
}
