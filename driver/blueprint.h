/* Blueprints: a guest's predicted need over time.
 *
 * Per resource, a series over a horizon at a fixed step, each step holding
 * the need at several quantiles (p50, p90, p99), plus a confidence in [0,1]
 * that says how much evidence stood behind the prediction.  The engine
 * allocates a band chosen by the cost model; the prediction module revises
 * the blueprint as use is observed.
 */
#ifndef SC_DRIVER_BLUEPRINT_H
#define SC_DRIVER_BLUEPRINT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/resource.h"

struct err;

enum drv_quantile {
    DRV_Q_P50,
    DRV_Q_P90,
    DRV_Q_P99,
    DRV_Q_LAST,
};

/* The probability level of each quantile: 0.50, 0.90, 0.99. */
extern const double drv_quantile_level[DRV_Q_LAST];
/* "p50", "p90", "p99". */
const char *drv_quantile_name(enum drv_quantile q);

/* Bounds a blueprint must respect (validated on every input path). */
#define DRV_BLUEPRINT_MAX_STEPS 10080 /* a week at one minute */
#define DRV_BLUEPRINT_MAX_STEP_S 86400

struct drv_blueprint {
    int64_t start_s;   /* Unix time (s) at which step 0 begins */
    int32_t step_s;    /* length of one step, s */
    int32_t nsteps;    /* steps in the horizon */
    double confidence; /* overall confidence in [0,1] */
    double res_confidence[DRV_RES_LAST]; /* per resource, in [0,1] */
    char model[48];    /* which model (and setting) produced it */
    double *q;         /* owned: [nsteps][DRV_RES_LAST][DRV_Q_LAST] */
    double *alloc;     /* owned, NULL when none: [nsteps][DRV_RES_LAST], the
                        * allocation the cost model picks at each step */
    /* The long run: the distribution of use over the days the guest is
     * expected to stay (its own history mixed with comparable guests'),
     * per resource at p50/p90/p99, and its mean.  A guest never moves
     * between hosts, so admission weighs what it will need while it
     * stays, not only over the horizon.  All zero for a resource: not
     * known (admission counts the allocation planned now instead). */
    double longrun[DRV_RES_LAST][DRV_Q_LAST];
    double longrun_mean[DRV_RES_LAST];
};

/* A blueprint with every value 0 and confidence 0.  Returns NULL with *err
 * when nsteps or step_s is out of bounds. */
struct drv_blueprint *drv_blueprint_new(int32_t nsteps, int32_t step_s,
                                        int64_t start_s, struct err **err);
void drv_blueprint_free(struct drv_blueprint *bp);
DEFINE_AUTOPTR(drv_blueprint)

/* A deep copy; caller frees. */
struct drv_blueprint *drv_blueprint_dup(const struct drv_blueprint *bp);

static inline double *drv_blueprint_cell(struct drv_blueprint *bp, int32_t step,
                                         enum drv_res_kind r)
{
    return bp->q + ((size_t)step * DRV_RES_LAST + (size_t)r) * DRV_Q_LAST;
}

static inline double drv_blueprint_get(const struct drv_blueprint *bp, int32_t step,
                                       enum drv_res_kind r, enum drv_quantile q)
{
    return bp->q[((size_t)step * DRV_RES_LAST + (size_t)r) * DRV_Q_LAST + (size_t)q];
}

static inline void drv_blueprint_set(struct drv_blueprint *bp, int32_t step,
                                     enum drv_res_kind r, enum drv_quantile q, double v)
{
    bp->q[((size_t)step * DRV_RES_LAST + (size_t)r) * DRV_Q_LAST + (size_t)q] = v;
}

/* Give the blueprint an allocation series (zeroed) if it has none. */
void drv_blueprint_alloc_ensure(struct drv_blueprint *bp);
/* The allocation at one step (zero when the blueprint has none, or the
 * step is outside the horizon). */
struct drv_res drv_blueprint_alloc_step(const struct drv_blueprint *bp, int32_t step);
/* Set the allocation at one step (creating the series if needed). */
void drv_blueprint_set_alloc(struct drv_blueprint *bp, int32_t step, struct drv_res a);

/* The need at one step and quantile, as a vector. */
struct drv_res drv_blueprint_step(const struct drv_blueprint *bp, int32_t step,
                                  enum drv_quantile q);

/* Per-dimension maximum over steps [from, to) at quantile q.  Steps are
 * clipped to the horizon; an empty range gives zero. */
struct drv_res drv_blueprint_peak(const struct drv_blueprint *bp, enum drv_quantile q,
                                  int32_t from, int32_t to);

/* Index of the step covering Unix time t_s, or -1 when t_s is outside the
 * horizon. */
int32_t drv_blueprint_step_at(const struct drv_blueprint *bp, int64_t t_s);

/* Set every step to `need` at every quantile: a flat blueprint, what a
 * static flavor amounts to. */
void drv_blueprint_fill_flat(struct drv_blueprint *bp, struct drv_res need);

/* Whether the blueprint describes resource r's long run. */
static inline bool drv_blueprint_has_longrun(const struct drv_blueprint *bp, enum drv_res_kind r)
{
    return bp->longrun[r][DRV_Q_P99] > 0;
}

/* Check a blueprint from outside (API, database): sane horizon and step,
 * values finite and non-negative, bands ordered p50 <= p90 <= p99,
 * confidences in [0,1].  Returns 0 or -1 with *err naming what and where. */
int drv_blueprint_validate(const struct drv_blueprint *bp, struct err **err);

#endif
