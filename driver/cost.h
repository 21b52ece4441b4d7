/* The cost model: what a guest's shape costs, what a violation costs, what
 * a reshape costs.  The engine minimises it within the SLO, and the
 * prediction module uses the same prices to choose the band it allocates.
 * All prices are in one currency unit (configurable, [cost] in sculpt.conf).
 */
#ifndef SC_DRIVER_COST_H
#define SC_DRIVER_COST_H

#include "driver/resource.h"

struct cfg;

struct drv_cost_model {
    double price[DRV_RES_LAST];     /* per unit allocated per hour */
    double violation[DRV_RES_LAST]; /* per unit of use above the shape per hour */
    double idle[DRV_RES_LAST];      /* per unit of idle pre-sculpted capacity per hour */
    double reshape;                 /* per reshape of a live guest */
    /* Per step in which use exceeds the shape, as a multiple of the price
     * of one unit-hour: Autopilot's overrun, what the SLO counts.  0: set
     * online by the predictor's SLO controller (the dual price at which
     * the fleet's violation rate meets target_violation_rate). */
    double overrun_units[DRV_RES_LAST];
    double target_violation_rate;   /* [sculpt] the SLO */
};

/* A predictive distribution of one resource's use over one step, as
 * quantile knots: value[i] is the use at probability level[i], levels
 * increasing in (0, 1], values non-decreasing. */
struct drv_cost_bands {
    const double *level;
    const double *value;
    int n;
};

/* Build the model from [cost] (and [sculpt] target_violation_rate when the
 * violation factor is derived). */
void drv_cost_model_from_cfg(const struct cfg *cfg, struct drv_cost_model *m);

/* Cost of holding `alloc` of resource k for dt_s seconds while `use` was
 * needed: the allocation's price plus the price of any use above it. */
double drv_cost_step(const struct drv_cost_model *m, enum drv_res_kind k, double alloc,
                     double use, double dt_s);

/* The allocation quantile that minimises expected cost for resource k (the
 * newsvendor critical ratio v / (v + p)): with the violation price derived
 * from the SLO it equals 1 - target_violation_rate. */
double drv_cost_critical_quantile(const struct drv_cost_model *m, enum drv_res_kind k);

/* P(use > alloc) under the bands: linear between knots, 1 - level[0]
 * scaled down linearly below the first knot (use 0 at level 0), and 0 at
 * or above the last knot. */
double drv_cost_exceed_prob(const struct drv_cost_bands *b, double alloc);

/* E[max(use - alloc, 0)] under the bands (same interpolation). */
double drv_cost_expected_short(const struct drv_cost_bands *b, double alloc);

/* Expected cost of holding `alloc` of resource k for dt_s seconds when use
 * follows the bands: the allocation's price, the per-unit violation price
 * on the expected shortfall, `overrun` (currency) per step over the shape
 * times its probability, and the reshape price when alloc differs from
 * `prev` (prev < 0: no allocation yet, no reshape).  Pass the overrun
 * price explicitly: m->overrun_units scaled, or the SLO controller's. */
double drv_cost_expected(const struct drv_cost_model *m, enum drv_res_kind k, double alloc,
                         const struct drv_cost_bands *b, double dt_s, double overrun,
                         double prev);

#endif
