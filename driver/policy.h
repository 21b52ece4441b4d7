/* Allocation policies replayed by sculpt-replay: one ops table each.
 *
 * For each VM a policy gets a state, then, sample by sample, is asked what
 * to allocate at time t (having seen only the samples before t) and is then
 * shown the sample.  Allocations are clipped to [0, provisioned] by the
 * replay, so a policy may return anything non-negative.
 */
#ifndef SC_DRIVER_POLICY_H
#define SC_DRIVER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/blueprint.h"
#include "driver/trace.h"

struct cfg;

/* One observed sample, as the replay shows it to a policy. */
struct drv_policy_sample {
    int64_t t;                  /* s */
    double use[DRV_TR_LAST];    /* capped at cap (readings above are artefacts) */
    double cap[DRV_TR_LAST];    /* provisioned size */
    double cpu_avg;             /* average CPU where the trace has it, else NaN */
};

/* What a policy knows about a VM before its first sample. */
struct drv_policy_vm {
    const char *id;
    bool has[DRV_TR_LAST];      /* resources the trace carries */
    int32_t step_s;             /* nominal sampling interval */
    double cap0[DRV_TR_LAST];   /* provisioned size at the first sample */
};

/* Tunables a replay may override (--tune-baselines).  A negative value
 * keeps the policy's published default. */
struct drv_policy_params {
    double margin;              /* safety margin, fraction (0.15 = +15%) */
    double percentile;          /* target percentile in (0,1) */
    /* Per-resource values, used instead of the two above when per_res is
     * set: --tune-baselines tunes each resource on its own. */
    bool per_res;
    double res_margin[DRV_TR_LAST];
    double res_percentile[DRV_TR_LAST];
    /* The configuration the replay runs with (prices, SLO, [predict]);
     * NULL: built-in defaults.  Borrowed for the replay's duration. */
    const struct cfg *cfg;
};

#define DRV_POLICY_PARAMS_DEFAULT {-1.0, -1.0, false, {0}, {0}, NULL}

/* The margin (percentile) a policy uses for resource k: the per-resource
 * value when set, else the scalar, else `def` when that is negative. */
double drv_policy_margin(const struct drv_policy_params *p, int k, double def);
double drv_policy_percentile(const struct drv_policy_params *p, int k, double def);

struct drv_policy_ops {
    const char *name;
    const char *source;         /* where the algorithm and its constants come from */
    size_t state_size;          /* bytes of per-VM state the replay allocates */
    /* Set up the state for one VM.  `shared` is what shared_new returned. */
    void (*init)(void *state, const struct drv_policy_vm *vm,
                 const struct drv_policy_params *params, void *shared);
    /* Allocation for the sample at time t (only earlier samples seen). */
    void (*decide)(void *state, int64_t t, const double cap[DRV_TR_LAST],
                   double alloc[DRV_TR_LAST]);
    /* The sample at time t and the allocation that was in force. */
    void (*observe)(void *state, const struct drv_policy_sample *s,
                    const double alloc[DRV_TR_LAST]);
    /* Optional: the quantile bands (p50, p90, p99) per resource behind the
     * last decide(), for the replay's calibration figures. */
    void (*bands)(const void *state, double q[DRV_TR_LAST][DRV_Q_LAST]);
    /* Release what init allocated (may be NULL). */
    void (*fini)(void *state);
    /* Optional state shared by all VMs of one replay (fleet history):
     * created before the first VM, freed after the last. */
    void *(*shared_new)(const struct drv_policy_params *params);
    void (*shared_free)(void *shared);
};

extern const struct drv_policy_ops drv_policy_static;
extern const struct drv_policy_ops drv_policy_vpa;
extern const struct drv_policy_ops drv_policy_autopilot;
extern const struct drv_policy_ops drv_policy_sculpt;

/* Look a policy up by name; NULL when unknown. */
const struct drv_policy_ops *drv_policy_find(const char *name);
/* Comma-separated names of every policy, for usage messages. */
const char *drv_policy_names(void);

#endif
