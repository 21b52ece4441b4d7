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

#endif
