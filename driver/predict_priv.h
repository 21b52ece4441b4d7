/* Internals of the prediction module, shared by predict*.c and tested
 * through tests/unit/test_predict.c.
 *
 * The building block is a conditional empirical distribution: for each
 * model setting, the log-ratio r = log((use + eps) / (base + eps)) of what
 * a guest used against the setting's base forecast, kept as decayed
 * weights over fixed bins, separately for each conditioning state (is the
 * guest above its long-run level? does its daily profile say a burst is
 * due?).  A guest's own weights are mixed with the fleet's pooled ones (a
 * prior worth [predict] prior_weight samples), so a new guest starts
 * calibrated and its own history takes over.
 */
#ifndef SC_DRIVER_PREDICT_PRIV_H
#define SC_DRIVER_PREDICT_PRIV_H

#include <pthread.h>

#include "driver/predict.h"

/* ---- bucket lookup ------------------------------------------------------- */

#define PR_LUT_BITS 6      /* cells per octave: 2^PR_LUT_BITS */
#define PR_LUT_CELLS 2048  /* at most 32 octaves */

/* Buckets over sorted positive edges: bucket 0 below edge[1], bucket j in
 * [edge[j], edge[j + 1]), the last one from edge[n - 1] up. */
struct drv_pr_lut {
    const double *edge; /* borrowed, n + 1 entries (edge[0] unused) */
    int n;              /* buckets, at most 256 */
    int emin, ncells;
    uint8_t cell[PR_LUT_CELLS];
};
void drv_pr_lut_init(struct drv_pr_lut *l, const double *edge, int n);
/* The bucket of x (NaN: bucket 0), as a binary search over the edges
 * would find it. */
int drv_pr_lut_find(const struct drv_pr_lut *l, double x);

/* ---- residual bins ------------------------------------------------------- */

/* Bin edges are uniform in asinh(r / PR_R0): fine near r = 0 (0.7% wide),
 * coarse in the tails, covering r in [-7, 7] (use from 1/1100 to 1100
 * times the base).  Values outside land in the end bins. */
#define PR_R0 0.02

/* The bin of r, in [0, DRV_PREDICT_BINS); and the bin of r = log(ratio)
 * without computing the log. */
int drv_pr_bin(double r);
int drv_pr_bin_ratio(double ratio);
/* The lower edge of bin j (j = DRV_PREDICT_BINS gives the upper end). */
double drv_pr_edge(int j);

/* exp() of every edge: the ratio to the base each edge stands for. */
const double *drv_pr_exp_edges(void);

/* A distribution over the bins, unnormalised: probabilities are cum[]
 * times inv.  Only the upper part is computed (levels asked for are at or
 * above the median): cum[j] for j >= lo; below, probabilities are
 * interpolated linearly down to 0. */
struct drv_pr_cdf {
    float cum[DRV_PREDICT_BINS + 1]; /* weight below edge j */
    int lo;                          /* first edge computed; cum[lo] < total / 2 */
    int qidx[DRV_Q_LAST];            /* the bin of each band level (p50, p90, p99),
                                      * found on the way down */
    double total, inv;               /* the whole weight and its inverse */
    double weight;                   /* effective samples behind it */
};

/* Mix a guest's weights (own[] * own_scale, totalling own_w samples) with
 * the fleet's (prior, total prior_w) counted as `pw` samples.  Either may
 * be empty (prior may be NULL); both empty give a point mass at r = 0. */
void drv_pr_cdf_mix(struct drv_pr_cdf *out, const float *own, double own_scale,
                    double own_w, const float *prior, double prior_w, double pw);
/* The bin holding probability p. */
int drv_pr_cdf_index(const struct drv_pr_cdf *c, double p);
/* The ratio to the base at probability p (linear in the ratio within a
 * bin). */
double drv_pr_cdf_quantile_ratio(const struct drv_pr_cdf *c, double p);
/* The same at band level q (drv_quantile_level[q]), from the bins the mix
 * found: no search. */
double drv_pr_cdf_band_ratio(const struct drv_pr_cdf *c, enum drv_quantile q);
/* P(R <= log(ratio)) (linear in the ratio within a bin). */
double drv_pr_cdf_at_ratio(const struct drv_pr_cdf *c, double ratio);

/* ---- model settings ---------------------------------------------------- */

enum drv_pr_model {
    PR_M_LEVEL,   /* base: the last reading; state: where it stands against the long-run level */
    PR_M_PEAK,    /* base: the peak of the last three readings; same state */
    PR_M_SEASON,  /* base: the last reading; state: what the hourly and daily profiles expect */
    PR_M_SPIKE,   /* base: the larger of the last reading and the seasonal peak; level state */
    PR_M_LAST,
};

#define PR_GROUPS_MAX 9    /* fleet groups a request belongs to */
#define PR_LIFE_BUCKETS 64 /* a guest's long-run share histogram: 16% wide buckets */
#define PR_RING 8           /* recent readings kept */
#define PR_HOUR_BINS 12     /* hourly profile: 5-minute bins at the default width */
#define PR_DAY_BINS 288     /* daily profile */
#define PR_HORIZON 8        /* samples ahead of the long-horizon calibration */
#define PR_DECAY_DAYS 64    /* daily-profile decay table; older peaks are gone */

/* One dimension of one guest. */
struct drv_pr_res {
    double last;                 /* last reading */
    double ring[PR_RING];        /* recent readings, newest at (n - 1) % PR_RING */
    double slow;                 /* long-run level (EWMA) */
    double eps;                  /* floor of the log-ratio */
    float day[PR_DAY_BINS];      /* decayed peak per bin of the day */
    uint16_t day_d[PR_DAY_BINS]; /* the day (since the guest's t0) it was last raised */
    float hour[PR_HOUR_BINS];    /* peak per bin over the last pass of the hour */
    int32_t hour_t[PR_HOUR_BINS];
    /* calibration, per model and state (decayed weights, guest scale) */
    float resid[PR_M_LAST][DRV_PREDICT_CONDS][DRV_PREDICT_BINS];
    float resid_w[PR_M_LAST][DRV_PREDICT_CONDS];
    /* long-horizon calibration of the level model: r of the reading
     * PR_HORIZON samples later against the base then */
    float horizon[DRV_PREDICT_CONDS][DRV_PREDICT_BINS];
    float horizon_w[DRV_PREDICT_CONDS];
    /* the long run: decayed weights of use / ceiling over PR_LIFE_BUCKETS
     * share buckets (guest scale, as the calibration) */
    float life[PR_LIFE_BUCKETS];
    float life_w;
    /* the competition */
    double cost[PR_M_LAST];      /* decayed realised cost, resource-steps */
    double cost_n[PR_M_LAST];    /* decayed count of steps it was evaluated */
    double model_alloc[PR_M_LAST]; /* each model's allocation in force */
    int follow;                  /* model followed */
    double alloc;                /* allocation followed (-1: none yet) */
    double applied;              /* shape the engine put in force (-1: not told) */
    double applied_prev;         /* ... before the last drv_predictor_applied() */
    bool squeezed, squeezed_prev; /* ... held below what the engine would give */
    double fair;                 /* log of this guest's overrun price multiplier */
    int streak;                  /* misses in a row up to the last sample */
    double cov90;                /* recent share of readings inside p90 */
    /* what was said about the awaited sample */
    int pend_cond[PR_M_LAST];
    double pend_base[PR_M_LAST];
    double pend_alloc[PR_M_LAST];
    double pend_p90;
};

struct drv_predictor {
    struct drv_fleet *fleet;       /* borrowed */
    struct drv_predict_config pc;
    struct drv_res ceiling;
    uint32_t mask;                 /* dimensions predicted */
    int nactive;                   /* how many */
    int64_t boot_s;
    int64_t t0;                    /* time of the first sample */
    int64_t last_t;                /* time of the last sample */
    int64_t pend_t;                /* sample time the pend_* values are for; INT64_MIN none */
    int64_t applied_t;             /* when the engine last said what is in force */
    uint64_t n;                    /* samples observed */
    double dt;                     /* typical interval between samples, s */
    double wscale;                 /* weight of a calibration sample now (grows) */
    int64_t wref_t;                /* time at which wscale was 1 */
    bool in_groups;                /* one of its groups' guests (not a what-if) */
    uint32_t ngroups;
    char groups[PR_GROUPS_MAX][DRV_FLEET_KEY_MAX]; /* fleet groups, most specific first */
    size_t gidx[PR_GROUPS_MAX];               /* where they were last found in the fleet */
    uint64_t gid[PR_GROUPS_MAX];
    struct drv_cost_model cm;      /* prices of the last next(), for observe() alone */
    float day_decay[PR_DECAY_DAYS]; /* the daily profile's decay by age in days */
    struct drv_pr_res *r[DRV_RES_LAST]; /* per dimension predicted (NULL: not), in the
                                          * same allocation */
};

/* Fill p->day_decay from p->pc.season_half_life_s (predict_config.c). */
void drv_predict_day_decay(struct drv_predictor *p);

/* ---- fleet ------------------------------------------------------------- */

struct drv_pr_group {
    struct drv_fleet_record rec;   /* weights relative to ref_t */
    uint64_t id;                   /* unique for the fleet's life: caches check it */
    int64_t ref_t;
    int64_t w_t;                   /* time the weight w was computed for (INT64_MIN: none) */
    double w;                      /* the weight of a sample at w_t */
    uint64_t used;                 /* LRU clock value of its last use */
};

struct drv_fleet {
    pthread_mutex_t lock;
    struct drv_predict_config pc;
    struct drv_pr_group *g;        /* owned array */
    size_t ng, cap;
    uint64_t clock;
    uint64_t next_id;
    struct drv_fleet_calibration calib; /* weights relative to calib_ref_t */
    float calib_w[DRV_RES_LAST][PR_M_LAST][DRV_PREDICT_CONDS];
    float horizon[DRV_RES_LAST][DRV_PREDICT_CONDS][DRV_PREDICT_BINS];
    float horizon_w[DRV_RES_LAST][DRV_PREDICT_CONDS];
    int64_t calib_ref_t;
    int64_t calib_w_t;             /* time calib_wv was computed for (INT64_MIN: none) */
    double calib_wv;               /* weight of a calibration sample then */
    bool calib_started;
    uint64_t guests_gen;           /* bumped whenever a guest is counted in groups */
};

/* The guests of group g other than p itself: a guest counts itself in its
 * groups, a what-if does not. */
static inline double drv_pr_fleet_others(const struct drv_predictor *p,
                                         const struct drv_pr_group *g)
{
    return (double)g->rec.guests - (p->in_groups ? 1 : 0);
}

/* Fleet internals the predictor calls with f->lock held. */
struct drv_pr_group *drv_fleet_group_locked(struct drv_fleet *f, const char *key, bool create,
                                            int64_t t);
/* The same through a cache of (index, id): fast when the group has not
 * moved. */
struct drv_pr_group *drv_fleet_group_cached_locked(struct drv_fleet *f, const char *key,
                                                   bool create, int64_t t, size_t *idx,
                                                   uint64_t *id);
/* The weight of a calibration sample at t in the fleet (rescaling first
 * when it grows large). */
double drv_fleet_weight_locked(struct drv_fleet *f, int64_t t);
/* One sample as the fleet's groups file it: use as a share of the
 * ceiling and its bucket per dimension (those with a ceiling in mask),
 * the hour of day and the age bucket.  Prepared once for all groups. */
struct drv_pr_sample {
    int64_t t;
    uint32_t mask;
    int age, hour;
    double share[DRV_RES_LAST];
    int bucket[DRV_RES_LAST];
};
void drv_pr_sample_of(struct drv_pr_sample *s, int64_t t, int64_t age_s, const struct drv_res *use,
                      const struct drv_res *ceiling, uint32_t mask);
/* Fold one sample into group g. */
void drv_fleet_group_add_locked(struct drv_fleet *f, struct drv_pr_group *g,
                                const struct drv_pr_sample *s);

/* The fleet keys of a request, most specific first, ending with "*".
 * Returns how many were written (at most PR_GROUPS_MAX). */
uint32_t drv_predict_request_keys(const struct drv_predict_request *req,
                                  char keys[PR_GROUPS_MAX][DRV_FLEET_KEY_MAX]);

/* "web-03" -> "web-#": digit runs become '#', so instance names of one
 * deployment share a pattern.  Writes at most size bytes. */
void drv_predict_name_pattern(const char *name, char *out, size_t size);

/* The long run of dimension k (lock held), in shares of the ceiling: use
 * at p50/p90/p99 and its mean, from the guest's own share histogram mixed
 * with its most specific fleet group's (guests a day or more old when the
 * group has them), worth a day of samples; without a group, the guest's
 * own once it has a day of it.  false: not known yet. */
bool drv_pr_longrun_locked(struct drv_predictor *p, int k, int64_t t, double q[DRV_Q_LAST],
                           double *mean);
/* The long-run share bucket of use / ceiling (bucket 0 below 1e-4, the
 * last one at or above the ceiling), and every bucket edge, 0 ..
 * PR_LIFE_BUCKETS. */
int drv_pr_life_bucket(double share);
const double *drv_pr_life_edges(void);

/* Age bucket of a guest `age_s` old, and share bucket of use / ceiling. */
int drv_pr_age_bucket(int64_t age_s);
int drv_pr_share_bucket(double share);
double drv_pr_share_edge(int b);

#endif
