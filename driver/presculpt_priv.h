/* Internals of pre-sculpting, tested through tests/unit/test_presculpt.c:
 * the count distribution and the per-class forecaster. */
#ifndef SC_DRIVER_PRESCULPT_PRIV_H
#define SC_DRIVER_PRESCULPT_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "driver/presculpt.h"

/* a / b rounded toward minus infinity (times before an origin). */
static inline int64_t drv_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- Requests per interval: a negative binomial ----
 * Mean mu, overdispersion phi: Var = mu + phi mu^2 (phi = 0: Poisson).
 * Batches (tenants starting VMs together) show up as phi > 0; phi < 0 (a
 * class steadier than Poisson, from a mean of 1 up) is a normal.  Exact sums
 * up to mu = DRV_NB_EXACT_MAX; above, a moment-matched gamma (a normal
 * when its shape is large), with a continuity correction. */
#define DRV_NB_EXACT_MAX 200.0

/* P(D = 0). */
double drv_nb_p0(double mu, double phi);
/* P(D <= s). */
double drv_nb_cdf(double mu, double phi, uint32_t s);
/* The smallest s with P(D <= s) >= q (q in [0, 1)), capped at `cap`.
 * *left, when given, gets E[(s - D)+]: members a pool of s leaves unclaimed. */
uint32_t drv_nb_quantile(double mu, double phi, double q, uint32_t cap, double *left);
/* E[(s - D)+]. */
double drv_nb_left(double mu, double phi, uint32_t s);

/* The exact distribution as tables: F[s] = P(D <= s) and L[s] =
 * E[(s - D)+] for s < n, up to where F reaches q_top or `max` entries.
 * Returns n, or 0 where the distribution is not summed exactly (large
 * means, phi < 0). */
uint32_t drv_nb_table(double mu, double phi, double q_top, double *F, double *L, uint32_t max);

/* Regularized lower incomplete gamma P(a, x); exposed for the tests. */
double drv_gamma_p(double a, double x);

/* ---- The empirical shape of a class's forecast errors ----
 * For classes with enough requests per interval, the distribution of
 * requests is the forecast times a ratio drawn from the class's recent
 * ratios actual / forecast: whatever its shape (a tenant's batches in the
 * tail, a surge's end at zero, a timer's steadiness) it is the one the
 * class has shown, in the state it is in (presculpt_forecast.c).  A decayed
 * histogram on a log scale, 32 bins per octave
 * from 2^-6 to 2^6, plus a bin for ~0 and one for larger ratios. */
#define DRV_RH_OCTAVES 12
#define DRV_RH_PER_OCTAVE 32
#define DRV_RH_BINS (DRV_RH_OCTAVES * DRV_RH_PER_OCTAVE + 2)
/* Used from this forecast up, once the histogram holds this much. */
#define DRV_RH_MIN_MEAN 5.0
#define DRV_RH_MIN_SAMPLES 24.0

struct drv_ratio_hist {
    double *w;                  /* DRV_RH_BINS weights (scaled); NULL until the first */
    double *cw, *cwr;           /* cumulative weight and weight x ratio, when fresh */
    double over_wr;             /* weight x ratio above the last edge */
    double scale_bin;           /* interval whose samples weigh 1 */
    double n_eff;               /* decayed sample count */
    int64_t n_bin;              /* interval of the last n_eff update */
    bool fresh;                 /* cw, cwr up to date */
};

void drv_rh_release(struct drv_ratio_hist *h);
/* Add ratio r observed in interval `bin`; samples halve in weight every
 * half_life_bins intervals. */
void drv_rh_add(struct drv_ratio_hist *h, double r, int64_t bin, double half_life_bins);
bool drv_rh_usable(const struct drv_ratio_hist *h, double mu);
/* Queries on D = mu x R (refreshes the cumulative sums when needed). */
uint32_t drv_rh_quantile(struct drv_ratio_hist *h, double mu, double q, uint32_t cap,
                         double *left);
double drv_rh_p0(struct drv_ratio_hist *h, double mu);

/* ---- The per-class forecaster ----
 * Requests per interval are forecast by a combination of experts, each
 * weighted by the inverse cube of its recent mean squared one-step error
 * (Bates and Granger's combination, sharpened), so a class whose requests
 * follow the last minutes, a trend, the hour, the day or the week gets the
 * forecast that has been right for it:
 *   - levels: exponentially weighted means with half-lives from one
 *     interval to a day (what the class asks for lately);
 *   - trend: Holt's damped linear trend;
 *   - seasons: for periods of 5, 10, 15, 30 and 60 minutes (timers), a
 *     day and a week, the mean at the same phase of past cycles, each
 *     from its first complete cycle on.
 * The experts are combined in two stages: within each family (the recent
 * levels and trend; the timer seasons; the calendar, day and week) by
 * their own errors, then the families' forecasts by theirs.  Experts of one
 * family err together (every level and the trend miss the same burst), and
 * weights from errors alone assume independent errors: five recent
 * experts would outvote the day's season even where it is as good, while
 * an average of forecasts whose errors are unlike is better than either.
 * Dispersion (phi) is the moment estimate of the combined forecast's
 * squared error beyond Poisson, as a ratio of decayed sums so that sparse
 * classes are not dominated by single requests. */
#define DRV_FC_NLEVEL 4
#define DRV_FC_TREND DRV_FC_NLEVEL
#define DRV_FC_NPERIOD 7
#define DRV_FC_SEASON0 (DRV_FC_NLEVEL + 1)
#define DRV_FC_NEXPERT (DRV_FC_SEASON0 + DRV_FC_NPERIOD)
/* Families: experts 0 .. DRV_FC_TREND, the seasons up to an hour, the day
 * and the week. */
#define DRV_FC_FAMILY_RECENT 0
#define DRV_FC_FAMILY_TIMER 1
#define DRV_FC_FAMILY_CALENDAR 2
#define DRV_FC_NFAMILY 3
#define DRV_FC_CALENDAR0 (DRV_FC_SEASON0 + 5)
#define DRV_FC_PHI_MAX 100.0

/* What all classes of one planner share: constants derived from the
 * interval. */
struct drv_fc_model {
    int64_t bin_s;
    double level_alpha[DRV_FC_NLEVEL];
    double trend_alpha, trend_beta, trend_damp;
    struct {
        bool on;                /* the period is a multiple of 2+ intervals */
        int64_t bins;           /* period in intervals */
        int64_t cell_bins;      /* intervals per phase cell */
        int64_t ncells;
        double alpha;           /* per-interval update within a cell */
    } period[DRV_FC_NPERIOD];
    double err_alpha;           /* errors and dispersion */
    double ratio_hl_bins;       /* half-life of the ratio histogram */
};

struct drv_fc {
    double level[DRV_FC_NLEVEL];
    double trend_level, trend_slope;
    double err[DRV_FC_NEXPERT]; /* EWMA of squared one-step errors (times wsum) */
    double wraw[DRV_FC_NEXPERT]; /* unnormalized weights from err */
    double ferr[DRV_FC_NFAMILY]; /* EWMA of each family's squared one-step error (times wsum) */
    bool frecord[DRV_FC_NFAMILY]; /* the family has voted: ferr holds its record */
    double phi;                 /* overdispersion: (s2 - m1) / m2; < 0: underdispersed */
    double s2, m1, m2;          /* EWMAs of squared error, mean and squared mean (times wsum) */
    double wsum;                /* weight the EWMAs have gathered: they start empty */
    float *season[DRV_FC_NPERIOD]; /* phase cells; NULL until the first request */
    /* actual / forecast, where forecasts are large enough, apart by
     * whether the interval before came above its forecast: surges and
     * tenants' waves of batches last, so the two differ */
    struct drv_ratio_hist rh[2];
    int state;                  /* 1: the last interval came above its forecast */
    int64_t first_bin;          /* interval of the first request; -1: none yet */
    int64_t next_bin;           /* the next interval to observe */
    double total;               /* requests observed */
};

void drv_fc_model_init(struct drv_fc_model *m, int64_t bin_s);
void drv_fc_init(struct drv_fc *f);
void drv_fc_release(struct drv_fc *f);
/* Observe interval `bin` (absolute index t / bin_s) with `count` requests.
 * Intervals must come in order; skipped ones count as zero requests.
 * Before the first request nothing is learned. */
void drv_fc_observe(const struct drv_fc_model *m, struct drv_fc *f, int64_t bin, double count);
/* Expected requests in interval `bin` (>= next_bin - 1); 0 before the
 * first request. */
double drv_fc_mean(const struct drv_fc_model *m, const struct drv_fc *f, int64_t bin);
/* The weight each expert has now (sums to 1 over the valid ones: the
 * family's weight times the expert's within its family); for tests and
 * the API's explanations. */
void drv_fc_weights(const struct drv_fc_model *m, const struct drv_fc *f, double *w);
static inline bool drv_fc_active(const struct drv_fc *f)
{
    return f->first_bin >= 0;
}

/* ---- Pool sizing (presculpt.c) ---- */
struct drv_pool_sizing {
    uint32_t target;            /* members to hold */
    uint32_t destroyed;         /* of `have`, those to destroy */
    double q;                   /* the quantile new members are made to */
    double left;                /* E[members unclaimed] */
    double cost;                /* expected cost at factor f */
};

/* Size one pool facing a negative binomial demand, as the planner does,
 * with the idle price raised by f and `have` members made already. */
void drv_presculpt_size_nb(const struct drv_presculpt_params *p, double mu, double phi,
                           const struct drv_res *size, double f, uint32_t have,
                           struct drv_pool_sizing *out);

#endif

