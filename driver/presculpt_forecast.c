/* The per-class request forecaster: a combination of level, trend and
 * seasonal experts weighted by their recent errors, in families
 * (presculpt_priv.h has the model).  Learns from each closed interval;
 * never sees the future. */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "driver/presculpt_priv.h"

/* Half-lives of the level experts after the first, which is the last
 * interval itself: a quarter hour, three hours, a day. */
static const double fc_level_half_life_s[DRV_FC_NLEVEL - 1] = {900, 3 * 3600, 86400};
/* Timer periods (Shahrad et al. find most triggers are timers of a few
 * minutes to an hour), the day and the week. */
static const int64_t fc_period_s[DRV_FC_NPERIOD] = {300, 600, 900, 1800, 3600, 86400,
                                                    7 * 86400};
/* Phase cells of the long periods are at most this wide... */
#define FC_LONG_PERIOD_S 86400
#define FC_LONG_CELL_S 300
/* ...and a seasonal cell forgets with a half-life of this many cycles. */
#define FC_SEASON_HALF_LIFE_CYCLES 2.0
#define FC_TREND_LEVEL_HL_S 1800.0
#define FC_TREND_SLOPE_HL_S (6 * 3600.0)
#define FC_TREND_DAMP 0.98
/* Errors and dispersion average over an hour, at least 8 intervals. */
#define FC_ERR_HL_S 3600.0
#define FC_ERR_HL_MIN_BINS 8.0
#define FC_WEIGHT_EPS 1e-3
/* Weights are the inverse mean squared errors to this power: sharper than
 * Bates and Granger's (power 1), nearer to following the expert that has
 * been right lately, which suits classes that switch between behaviours
 * (a timer, a surge, quiet). */
#define FC_WEIGHT_POWER 3.0
/* The ratio histogram forgets over six hours, at least 48 intervals. */
#define FC_RATIO_HL_S (6 * 3600.0)
#define FC_RATIO_HL_MIN_BINS 48.0
/* Level innovations are clipped at this many forecast sigmas. */
#define FC_LEVEL_CLIP 4.0
/* A gap longer than this many intervals is not replayed bin by bin: the
 * class's experts are reset to "nothing lately". */
#define FC_MAX_GAP_BINS (8 * 7 * 86400)

static double alpha_for(double bin_s, double half_life_s)
{
    double a = 1 - pow(0.5, bin_s / half_life_s);
    return a < 1 ? a : 1;
}

void drv_fc_model_init(struct drv_fc_model *m, int64_t bin_s)
{
    memset(m, 0, sizeof(*m));
    m->bin_s = bin_s;
    m->level_alpha[0] = 1;
    for (int i = 1; i < DRV_FC_NLEVEL; i++)
        m->level_alpha[i] = alpha_for((double)bin_s, fc_level_half_life_s[i - 1]);
    m->trend_alpha = alpha_for((double)bin_s, FC_TREND_LEVEL_HL_S);
    m->trend_beta = alpha_for((double)bin_s, FC_TREND_SLOPE_HL_S);
    m->trend_damp = FC_TREND_DAMP;
    for (int j = 0; j < DRV_FC_NPERIOD; j++) {
        int64_t p = fc_period_s[j];
        if (p % bin_s != 0 || p / bin_s < 2)
            continue;
        m->period[j].on = true;
        m->period[j].bins = p / bin_s;
        int64_t cell = 1;
        if (p >= FC_LONG_PERIOD_S && FC_LONG_CELL_S % bin_s == 0)
            cell = FC_LONG_CELL_S / bin_s;
        m->period[j].cell_bins = cell;
        m->period[j].ncells = m->period[j].bins / cell;
        m->period[j].alpha = 1 - pow(0.5, 1.0 / (FC_SEASON_HALF_LIFE_CYCLES * (double)cell));
    }
    m->ratio_hl_bins = FC_RATIO_HL_S / (double)bin_s;
    if (m->ratio_hl_bins < FC_RATIO_HL_MIN_BINS)
        m->ratio_hl_bins = FC_RATIO_HL_MIN_BINS;
    double hl_bins = FC_ERR_HL_S / (double)bin_s;
    if (hl_bins < FC_ERR_HL_MIN_BINS)
        hl_bins = FC_ERR_HL_MIN_BINS;
    m->err_alpha = 1 - pow(0.5, 1 / hl_bins);
}

void drv_fc_init(struct drv_fc *f)
{
    memset(f, 0, sizeof(*f));
    f->first_bin = -1;
    f->next_bin = -1;
}

void drv_fc_release(struct drv_fc *f)
{
    for (int j = 0; j < DRV_FC_NPERIOD; j++) {
        free(f->season[j]);
        f->season[j] = NULL;
    }
    drv_rh_release(&f->rh[0]);
    drv_rh_release(&f->rh[1]);
}

static int64_t fc_cell(const struct drv_fc_model *m, int j, int64_t bin)
{
    int64_t ph = bin % m->period[j].bins;
    if (ph < 0)
        ph += m->period[j].bins;
    return ph / m->period[j].cell_bins;
}

/* Does expert e forecast interval `bin` (cycles: how many complete
 * cycles a seasonal expert needs)?  A season forecasts after one cycle,
 * and is trusted (votes) after two: its first forecasts are its record,
 * so a one-off burst is not taken for a timer. */
static bool fc_ready(const struct drv_fc_model *m, const struct drv_fc *f, int e, int64_t bin,
                     int64_t cycles)
{
    if (e < DRV_FC_SEASON0)
        return true;
    int j = e - DRV_FC_SEASON0;
    return m->period[j].on && f->season[j] && bin - f->first_bin >= cycles * m->period[j].bins;
}

/* Expert e's forecast for `bin` (>= next_bin - 1). */
static double fc_expert(const struct drv_fc_model *m, const struct drv_fc *f, int e, int64_t bin)
{
    if (e < DRV_FC_NLEVEL)
        return f->level[e];
    if (e == DRV_FC_TREND) {
        double h = (double)(bin - f->next_bin + 1), damp = m->trend_damp;
        /* damped trend: l + (d + d^2 + ... + d^h) b */
        double sum = h < 1 ? 0 : damp * (1 - pow(damp, h)) / (1 - damp);
        double v = f->trend_level + sum * f->trend_slope;
        return v > 0 ? v : 0;
    }
    int j = e - DRV_FC_SEASON0;
    return f->season[j][fc_cell(m, j, bin)];
}

/* The unnormalized weight of each expert, kept with the class: the
 * errors change only when an interval is observed. */
static void fc_reweigh(struct drv_fc *f)
{
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        f->wraw[e] = pow((f->wsum > 0 ? f->err[e] / f->wsum : 0) + FC_WEIGHT_EPS,
                         -FC_WEIGHT_POWER);
}

static int fc_family(int e)
{
    if (e <= DRV_FC_TREND)
        return DRV_FC_FAMILY_RECENT;
    return e < DRV_FC_CALENDAR0 ? DRV_FC_FAMILY_TIMER : DRV_FC_FAMILY_CALENDAR;
}

/* Within each family, the weights of its experts that have `cycles`
 * complete cycles at `bin` (normalized in the family: w[e]), and, when the
 * experts' forecasts ex are given, each family's forecast fm.  ok[F]:
 * family F has such an expert. */
static void fc_family_forecasts(const struct drv_fc_model *m, const struct drv_fc *f,
                                int64_t bin, int64_t cycles, const double *ex, double *w,
                                double *fm, bool *ok)
{
    double sum[DRV_FC_NFAMILY] = {0};
    for (int e = 0; e < DRV_FC_NEXPERT; e++) {
        w[e] = fc_ready(m, f, e, bin, cycles) ? f->wraw[e] : 0;
        sum[fc_family(e)] += w[e];
    }
    for (int F = 0; F < DRV_FC_NFAMILY; F++) {
        ok[F] = sum[F] > 0;
        if (ex)
            fm[F] = 0;
    }
    for (int e = 0; e < DRV_FC_NEXPERT; e++) {
        int F = fc_family(e);
        w[e] = ok[F] ? w[e] / sum[F] : 0;
        if (ex && w[e] > 0)
            fm[F] += w[e] * ex[e];
    }
}

/* Weights of the experts able to forecast `bin`: each family's weight
 * (from its record) times the expert's within the family; they sum to 1. */
static void fc_weights_at(const struct drv_fc_model *m, const struct drv_fc *f, int64_t bin,
                          double *w)
{
    double fw[DRV_FC_NFAMILY], sum = 0;
    bool ok[DRV_FC_NFAMILY];
    fc_family_forecasts(m, f, bin, 2, NULL, w, NULL, ok);
    for (int F = 0; F < DRV_FC_NFAMILY; F++) {
        fw[F] = ok[F] && f->frecord[F]
                    ? pow((f->wsum > 0 ? f->ferr[F] / f->wsum : 0) + FC_WEIGHT_EPS,
                          -FC_WEIGHT_POWER)
                    : 0;
        sum += fw[F];
    }
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        w[e] = sum > 0 ? w[e] * fw[fc_family(e)] / sum : 0;
}

void drv_fc_weights(const struct drv_fc_model *m, const struct drv_fc *f, double *w)
{
    fc_weights_at(m, f, f->next_bin, w);
}

double drv_fc_mean(const struct drv_fc_model *m, const struct drv_fc *f, int64_t bin)
{
    if (!drv_fc_active(f))
        return 0;
    double w[DRV_FC_NEXPERT], mu = 0;
    fc_weights_at(m, f, bin, w);
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        if (w[e] > 0)
            mu += w[e] * fc_expert(m, f, e, bin);
    return mu > 0 ? mu : 0;
}

static void fc_start(const struct drv_fc_model *m, struct drv_fc *f, int64_t bin, double y)
{
    f->first_bin = bin;
    for (int i = 0; i < DRV_FC_NLEVEL; i++)
        f->level[i] = y;
    f->trend_level = y;
    f->trend_slope = 0;
    /* no expert has a record yet: equal weights; the averages start
     * empty (wsum 0) so the first errors are not diluted by a prior */
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        f->err[e] = 0;
    for (int F = 0; F < DRV_FC_NFAMILY; F++) {
        f->ferr[F] = 0;
        f->frecord[F] = F == DRV_FC_FAMILY_RECENT; /* the seasons': from their first vote */
    }
    f->s2 = f->m1 = f->m2 = f->wsum = 0;
    fc_reweigh(f);
    /* a new class is as bursty as a geometric until its first error */
    f->phi = 1;
    for (int j = 0; j < DRV_FC_NPERIOD; j++)
        if (m->period[j].on && !f->season[j])
            f->season[j] = xcalloc((size_t)m->period[j].ncells, sizeof(float));
}

static void fc_observe_one(const struct drv_fc_model *m, struct drv_fc *f, int64_t bin,
                           double y)
{
    double a = m->err_alpha, mu = 0;
    double sd = f->wsum > 0 ? sqrt(f->s2 / f->wsum) : 0; /* before this interval */
    double ex[DRV_FC_NEXPERT], w[DRV_FC_NEXPERT], fm[DRV_FC_NFAMILY];
    bool ok[DRV_FC_NFAMILY];

    /* every expert's forecast once: the combined one (what drv_fc_mean
     * gives), the families' and the experts' errors all use them */
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        ex[e] = fc_ready(m, f, e, bin, 1) ? fc_expert(m, f, e, bin) : 0;
    fc_weights_at(m, f, bin, w);
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        if (w[e] > 0)
            mu += w[e] * ex[e];
    if (mu < 0)
        mu = 0;

    /* each family's record of what it votes, from its first vote on,
     * starting at the combined forecast's error (no favour either way) */
    fc_family_forecasts(m, f, bin, 2, ex, w, fm, ok);
    for (int F = 0; F < DRV_FC_NFAMILY; F++) {
        if (!ok[F])
            continue;
        if (!f->frecord[F]) {
            f->ferr[F] = f->s2;
            f->frecord[F] = true;
        }
        f->ferr[F] += a * ((y - fm[F]) * (y - fm[F]) - f->ferr[F]);
    }

    for (int e = 0; e < DRV_FC_NEXPERT; e++) {
        if (!fc_ready(m, f, e, bin, 1))
            continue;
        double d = y - ex[e];
        /* a seasonal expert's record starts from the combined one's */
        if (e >= DRV_FC_SEASON0 && bin - f->first_bin == m->period[e - DRV_FC_SEASON0].bins)
            f->err[e] = f->s2;
        f->err[e] += a * (d * d - f->err[e]);
    }
    if (mu >= DRV_RH_MIN_MEAN)
        drv_rh_add(&f->rh[f->state], y / mu, bin, m->ratio_hl_bins);
    f->state = y > mu;
    f->wsum += a * (1 - f->wsum);
    f->s2 += a * ((y - mu) * (y - mu) - f->s2);
    f->m1 += a * (mu - f->m1);
    f->m2 += a * (mu * mu - f->m2);
    f->phi = f->m2 > 1e-12 ? (f->s2 - f->m1) / f->m2 : 0;
    if (f->phi < -0.99 * f->m1 / (f->m2 > 1e-12 ? f->m2 : 1))
        f->phi = -0.99 * f->m1 / (f->m2 > 1e-12 ? f->m2 : 1);
    if (f->phi > DRV_FC_PHI_MAX)
        f->phi = DRV_FC_PHI_MAX;

    /* the slower levels take a burst a few sigmas at a time: a tenant's
     * one-off batch is not a new level, a lasting change gets through
     * within a few intervals (the last-interval expert follows it at once) */
    for (int i = 0; i < DRV_FC_NLEVEL; i++) {
        double d = y - f->level[i];
        if (i > 0 && sd > 0 && fabs(d) > FC_LEVEL_CLIP * (sd + 1))
            d = d > 0 ? FC_LEVEL_CLIP * (sd + 1) : -FC_LEVEL_CLIP * (sd + 1);
        f->level[i] += m->level_alpha[i] * d;
    }
    double l0 = f->trend_level, b0 = f->trend_slope, d = m->trend_damp;
    f->trend_level = m->trend_alpha * y + (1 - m->trend_alpha) * (l0 + d * b0);
    f->trend_slope = m->trend_beta * (f->trend_level - l0) + (1 - m->trend_beta) * d * b0;

    for (int j = 0; j < DRV_FC_NPERIOD; j++) {
        if (!m->period[j].on)
            continue;
        float *cell = &f->season[j][fc_cell(m, j, bin)];
        int64_t age = bin - f->first_bin, cb = m->period[j].cell_bins;
        double al = m->period[j].alpha;
        if (age < m->period[j].bins) {
            /* first visit of this cell: the mean of its intervals so far */
            int64_t pos = bin % m->period[j].bins;
            if (pos < 0)
                pos += m->period[j].bins;
            pos %= cb;
            if (pos > age)
                pos = age;
            al = 1.0 / (double)(pos + 1);
        }
        *cell += (float)(al * (y - *cell));
    }
    f->total += y;
    f->next_bin = bin + 1;
    fc_reweigh(f);
}

void drv_fc_observe(const struct drv_fc_model *m, struct drv_fc *f, int64_t bin, double count)
{
    if (!drv_fc_active(f)) {
        if (count <= 0)
            return;
        fc_start(m, f, bin, count);
        /* the first interval is also the first observation of the seasons */
        for (int j = 0; j < DRV_FC_NPERIOD; j++)
            if (m->period[j].on)
                f->season[j][fc_cell(m, j, bin)] = (float)count;
        f->total = count;
        f->next_bin = bin + 1;
        return;
    }
    if (bin < f->next_bin)
        return; /* already closed */
    if (bin - f->next_bin > FC_MAX_GAP_BINS / m->bin_s) {
        /* silent for weeks: start over from this interval */
        drv_fc_release(f);
        drv_fc_init(f);
        drv_fc_observe(m, f, bin, count);
        return;
    }
    for (int64_t b = f->next_bin; b < bin; b++)
        fc_observe_one(m, f, b, 0);
    fc_observe_one(m, f, bin, count);
}
