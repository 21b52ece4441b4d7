/* sculpt-replay --pack internals, shared by pack.c and pack_oracle.c. */
#ifndef SC_DRIVER_PACK_PRIV_H
#define SC_DRIVER_PACK_PRIV_H

#include <math.h>

#include "driver/cost.h"
#include "driver/pack.h"
#include "driver/predict.h"
#include "driver/sculpt.h"

/* The engine dimension of each trace resource (as policy_sculpt.c maps). */
static const enum drv_res_kind pack_dim[DRV_TR_LAST] = {
    [DRV_TR_CPU] = DRV_RES_VCPU,
    [DRV_TR_MEMORY] = DRV_RES_MEM_MIB,
    [DRV_TR_NET] = DRV_RES_NET_IN_MBPS,
    [DRV_TR_DISK] = DRV_RES_DISK_READ_MBPS,
};

/* How often a guest's long run is revised: it moves over days (a day of
 * samples weighs as much as the fleet's prior). */
#define PACK_LONGRUN_EVERY_S (6 * 3600)

/* Memory a VM gets when the trace has none: never binding. */
#define PACK_NOMINAL_MEM_MIB 1.0

struct pack_vm {
    const struct drv_trace_vm *tv;
    int64_t first_slot, last_slot;
    char uuid[DRV_UUID_LEN + 1];
    struct drv_res ceiling;
    int32_t vcpus_max;
    int32_t host; /* -1: not on a host */
    bool unplaced, affected, gone;
    bool fresh;                 /* a new sample arrived this step */
    size_t cur;                 /* latest sample at or before the step */
    void *state;                /* policy state (DRV_PACK_ALLOC) */
    struct drv_predictor *pred; /* DRV_PACK_SCULPT */
    struct drv_shape shape;     /* in force */
    bool squeezed;              /* ... lowered by the engine for a host shortage */
    double contig;
    int64_t reshaped_at; /* slot of the last counted reshape */
    /* the predictor's long run, revised hourly (it moves over days) */
    double longrun[DRV_RES_LAST][DRV_Q_LAST];
    double longrun_mean[DRV_RES_LAST];
    int64_t longrun_t;
};

struct pack_host {
    struct drv_sculpt *e; /* NULL: closed */
    int32_t nvms;
    double load[DRV_RES_LAST]; /* capped use this step */
    float *future[DRV_TR_LAST]; /* `oracle`: use of its VMs at every slot, NULL until used */
};

struct pack_run {
    const struct drv_trace *tr;
    const struct drv_pack_policy *pol;
    struct drv_host *host; /* with the policy's ratios */
    struct drv_sculpt_params params;
    struct drv_cost_model cm;
    struct drv_predict_config pc;
    struct drv_fleet *fleet[2]; /* cold: [0] for every VM; warm: [i % 2] for VM i,
                                 * trained on the VMs of the other parity */
    int32_t horizon_s;
    int64_t t0;
    int32_t step_s;
    struct pack_vm *vms;
    size_t nvms;
    struct pack_host *hosts;
    size_t nhosts, caphosts;
    void *shared;                  /* the policy's shared state */
    struct drv_blueprint *scratch; /* one-step blueprint for revisions */
    struct drv_pack_stats *st;
    int64_t steps_with_vms; /* denominator of the time averages */
    int64_t nslots;         /* slots of the whole replay */
};

static inline int64_t pack_slot(const struct pack_run *r, int64_t t)
{
    return (int64_t)floor((double)(t - r->t0) / r->step_s + 0.5);
}

/* ---- pack_oracle.c: the clairvoyant reference placement ---- */

/* The first open host on which vm's whole future use, added to what its
 * VMs will use, exceeds capacity in at most host_violation_rate of vm's
 * slots; -1 when none. */
int64_t pack_oracle_pick(struct pack_run *r, const struct pack_vm *vm);
/* vm placed on host h: its future use counts there from now on. */
void pack_oracle_add(struct pack_run *r, size_t h, const struct pack_vm *vm);
/* Forget host h's future (it closed). */
void pack_oracle_reset(struct pack_host *h);

#endif
