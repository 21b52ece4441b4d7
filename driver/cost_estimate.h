/* What a guest will cost over its blueprint's horizon, term by term, under
 * a shape policy: sculpted (the engine's band, hysteresis and reshape rule)
 * or a static flavor.  The API shows both side by side.
 *
 * Units: every term is in the cost model's currency over the horizon.
 *   resource   sum over steps of price[k] x allocation x step hours
 *   violation  sum over steps of violation[k] x E[use - allocation]+ x step hours,
 *              the expectation taken over the blueprint's bands
 *   reshape    reshapes x price of one reshape
 *   idle       idle[k] x allocation x hours held idle before handover
 *              (pre-sculpted guests)
 *
 * The bands define a quantile function, linear between (0, q0), (0.5, p50),
 * (0.9, p90), (0.99, p99) and (1, p99 + (p99 - p90) / 9), where q0 continues
 * the p50-p90 slope down (p50 - 1.25 (p90 - p50), at least 0); expectations
 * are exact integrals of it.
 */
#ifndef SC_DRIVER_COST_ESTIMATE_H
#define SC_DRIVER_COST_ESTIMATE_H

#include <stdint.h>

#include "driver/blueprint.h"
#include "driver/cost.h"
#include "driver/resource.h"

struct err;

/* The need at quantile level u in [0, 1] from three bands. */
double drv_cost_band_quantile(double p50, double p90, double p99, double u);

/* E[(U - a)+] for U distributed as the bands say. */
double drv_cost_band_overrun(double p50, double p90, double p99, double a);

/* P(U > a) for U distributed as the bands say. */
double drv_cost_band_exceed(double p50, double p90, double p99, double a);

/* Mean and standard deviation of U. */
void drv_cost_band_moments(double p50, double p90, double p99, double *mean, double *sd);

enum drv_cost_shape_kind {
    DRV_COST_SHAPE_SCULPTED, /* the cost model's band each step, with hysteresis */
    DRV_COST_SHAPE_STATIC,   /* the flavor for the whole horizon */
    DRV_COST_SHAPE_LAST,
};

/* How the guest would be shaped. */
struct drv_cost_shape_policy {
    enum drv_cost_shape_kind kind;
    struct drv_res flavor; /* the static size; also the sculpted ceiling.  A
                            * dimension at 0 is not limited: neither shaped
                            * nor priced (a flavor without a NIC quota) */
    struct drv_res floor;  /* sculpted: never below (memory working set) */
    double hysteresis;     /* sculpted: relative dead band before a shrink */
    double presculpted_s;  /* seconds held idle before handover (0: none) */
};

/* Term by term; every field in the currency. */
struct drv_cost_terms {
    double resource[DRV_RES_LAST];
    double violation[DRV_RES_LAST];
    double resource_total;
    double violation_total;
    double reshape;
    double idle;
    double total;
    double reshapes; /* how many reshapes the policy makes */
    double hours;    /* horizon length */
};

/* Cost of `bp` under `pol` with model `m`.  Returns 0, or -1 with *err
 * (ERR_INVALID) on a bad blueprint or policy. */
int drv_cost_estimate(const struct drv_cost_model *m, const struct drv_blueprint *bp,
                      const struct drv_cost_shape_policy *pol, struct drv_cost_terms *out,
                      struct err **err);

/* The allocation the sculpted policy makes at `step` for resource k before
 * hysteresis: the blueprint's own allocation when it carries one (the
 * predictor's choice under the same model), else the cost model's
 * critical quantile of the bands; between floor and ceiling. */
double drv_cost_sculpted_alloc(const struct drv_cost_model *m, const struct drv_blueprint *bp,
                               int32_t step, enum drv_res_kind k, double floor, double ceiling);

#endif
