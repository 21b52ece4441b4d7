/* The host's cost so far (GET /v1/cost), from what the database recorded:
 * every guest's shape over time (its reshape log) against its observed use
 * (usage samples), priced by the cost model term by term, next to what the
 * same guests would have cost at their static flavors.
 *
 * Terms, in the currency over [from, to):
 *   resource   price[k] x shape x hours, for each dimension the flavor sizes
 *   violation  violation[k] x (use - shape)+ x hours
 *   overrun    overrun_units[k] x price[k] per sample over the shape
 *   reshape    applied reshapes x the reshape price
 *   idle       idle[k] x a pool member's shape x hours it waited
 */
#ifndef SC_API_COST_ACCOUNT_H
#define SC_API_COST_ACCOUNT_H

#include <stdint.h>

#include "driver/cost.h"
#include "driver/resource.h"

struct db_instance_list;
struct db_usage_list;
struct db_reshape_list;
struct db_pool_member_list;

struct api_cost_account {
    double resource[DRV_RES_LAST];
    double violation[DRV_RES_LAST];
    double overrun[DRV_RES_LAST];
    double static_resource[DRV_RES_LAST]; /* the flavors over the same samples */
    double static_violation[DRV_RES_LAST];
    double reshape;
    double reshapes;          /* applied reshapes counted */
    double idle;
    double guest_hours;       /* covered by usage samples */
    int64_t samples;
    int64_t over_samples;     /* samples with use above the shape in some dimension */
    double total, static_total;
};

/* Account [from_ms, to_ms).  `usage` is ordered by instance then time (as
 * db_usage_query() returns it); `reshapes` any order; members may be NULL.
 * A sample of an instance the list lacks is skipped. */
void api_cost_account(const struct drv_cost_model *m, const struct db_instance_list *insts,
                      const struct db_usage_list *usage, const struct db_reshape_list *reshapes,
                      const struct db_pool_member_list *members, int64_t from_ms, int64_t to_ms,
                      struct api_cost_account *out);

#endif
