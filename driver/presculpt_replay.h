/* Replaying request-arrival traces through pool policies: how many
 * requests each would have served from a pool, how much pre-sculpted
 * capacity sat idle, what it cost.  `sculpt-replay --arrivals` prints it.
 *
 * The replay moves in intervals (the trace's resolution or the planner's
 * interval, whichever is coarser).  At the start of each interval every
 * policy sets its pools' sizes, knowing only the arrivals of earlier
 * intervals (those before the decision time, cold_start_latency ahead);
 * new members are made, surplus ones destroyed.  The interval's requests
 * then take members, their class's pool first, then their group's, then
 * their family's (a member that can be re-sculpted to the request: its
 * domain's maximum holds it); the rest are cold starts.  A member whose
 * shape is not the request's is re-sculpted at hand-over (a reshape).  Definitions (fixed so figures compare), over the
 * scored part of the trace (from its first arrival with a known
 * lifetime):
 *   hit_rate   = requests served from a pool / requests
 *   idle_share = vCPU-seconds of members that sat idle / vCPU-seconds the
 *                arriving guests used (lifetime, cut at the end of
 *                observation)
 * A member idles for each whole interval it waits unclaimed; one claimed
 * in the interval it was made for does not (the trace does not say when
 * within an interval a request came; Shahrad et al. account at the same
 * granularity).  A member destroyed or expired unclaimed also wasted its
 * preparation (cold_start_latency), counted as idle.
 * A member idles at the shape it reserves (a family member: its base).
 *   cost = idle capacity at the [cost] idle prices + cold starts at
 *          [presculpt] cold_start_price + hand-over reshapes at [cost]
 *          price_reshape
 */
#ifndef SC_DRIVER_PRESCULPT_REPLAY_H
#define SC_DRIVER_PRESCULPT_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "driver/arrival.h"
#include "driver/presculpt.h"

struct err;

enum drv_pool_policy {
    DRV_POOL_POLICY_NONE,     /* no pools: every request is a cold start */
    DRV_POOL_POLICY_FIXED,    /* `fixed_size` members per class once it was asked for */
    DRV_POOL_POLICY_HYBRID,   /* Shahrad et al.'s hybrid histogram (presculpt_hybrid.c) */
    DRV_POOL_POLICY_SCULPT,   /* the forecaster and pool planner (presculpt.c) */
    DRV_POOL_POLICY_LAST,
};

const char *drv_pool_policy_name(enum drv_pool_policy p);
int drv_pool_policy_parse(const char *name);

struct drv_pool_replay_opts {
    struct drv_presculpt_params params; /* interval, lifetime, latency, prices, budget */
    uint32_t fixed_size;
    bool per_slot;                      /* fill drv_pool_result.slots */
};

/* Figures of one pool slot: classes first, then groups, then families
 * (per_slot). */
struct drv_pool_slot_result {
    uint64_t requests, hits;            /* classes only: requests of the class */
    double idle_vcpu_s;                 /* members of this slot, waste included */
};

struct drv_pool_result {
    enum drv_pool_policy policy;
    uint64_t requests, hits, cold;      /* scored */
    double idle_vcpu_s, idle_mem_mib_s; /* scored, waste included */
    double waste_vcpu_s;                /* of which: preparations thrown away */
    double used_vcpu_s;                 /* by the scored arrivals */
    uint64_t made, expired, destroyed;  /* members */
    uint64_t reshapes;                  /* scored hand-overs that re-sculpted their member */
    double cost_idle, cost_cold, cost_reshape;
    double budget_bound_share;          /* sculpt: share of intervals the budget bound */
    double elapsed_s;
    struct drv_pool_slot_result *slots; /* per_slot: nclasses + ngroups + nfamilies; caller frees */
};

double drv_pool_hit_rate(const struct drv_pool_result *r);
double drv_pool_idle_share(const struct drv_pool_result *r);   /* NAN: no lifetime known */
double drv_pool_cost(const struct drv_pool_result *r);

/* Progress callback: intervals done of total.  May be NULL. */
typedef void (*drv_pool_progress_fn)(uint64_t done, uint64_t total, void *opaque);

/* Replay `tr` through each policy.  Deterministic.  out[i] gets policy
 * i's figures.  *bin_s, when given, gets the interval used.  Returns 0, or
 * -1 with *err. */
int drv_pool_replay(const struct drv_arrival_trace *tr, const struct drv_pool_replay_opts *o,
                    const enum drv_pool_policy *policies, size_t npolicies,
                    drv_pool_progress_fn progress, void *opaque, struct drv_pool_result *out,
                    int64_t *bin_s, struct err **err);

#endif
