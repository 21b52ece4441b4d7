/* Packing a trace's VMs onto hosts: `sculpt-replay --pack`.
 *
 * VMs arrive in trace order (first sample time, then trace order) and leave
 * after their last sample.  Each arrival goes to the first open host whose
 * engine admits it, else to a new host; a host is closed when its last VM
 * leaves.  Every policy runs on its own fleet of identical hosts, with the
 * same engine (driver/sculpt*) doing admission and CPU placement:
 *
 *   static        the flavor (the trace's provisioned size), ratios 1.0
 *   nova-default  the flavor, Nova Zed's ratios (CPU 16.0, RAM 1.5)
 *   vpa           the VPA recommender's allocation every step, ratios 1.0
 *   autopilot     Autopilot's moving-window allocation, ratios 1.0
 *   sculpt        blueprints from the prediction module (driver/predict*),
 *                 admitted, reshaped and squeezed by the engine under the
 *                 configured ceilings and the host-level SLO; the fleet
 *                 history starts empty (a new region: every cold start
 *                 knows nothing)
 *   oracle        the flavor, uncapped, placed knowing the future: the first
 *                 host on which the VM's whole future use, added to its
 *                 VMs', exceeds capacity in at most host_violation_rate of
 *                 the VM's slots (a bound for placement without migration)
 *   sculpt-warm   the same as sculpt with a fleet that has seen other guests before:
 *                 cross-fitted, each VM's predictor starts from a fleet
 *                 trained on the other half of the trace's VMs (index
 *                 parity) over the whole trace, as a host has history of
 *                 past guests; no VM ever learns from its own samples
 *                 before they happen
 *
 * The four trace resources map onto the engine's dimensions as the replay's
 * `sculpt` policy maps them: cpu -> vcpu, memory -> mem_mib, net (in + out)
 * -> net_in_mbps, disk (read + write) -> disk_read_mbps; a trace without
 * memory gives every VM a nominal 1 MiB so memory never binds.  A guest's
 * use is capped by its shape (quota, balloon, bandwidth limits); a host
 * violates in a step when the guests' capped use exceeds its physical
 * capacity in any dimension.
 *
 * Figures per policy, over the whole replay:
 *   hosts_peak, hosts_mean   open hosts, most and time-average
 *   vms_per_host             time-average of VMs per open host
 *   host_violation_rate      host-steps violated / host-steps
 *   guests_affected          VMs that ever sat on a host in a violated step
 *   guest_violation_rate     VM-steps with use above the shape / VM-steps
 *   reshapes_per_vm_hour     steps whose shape changed / VM-hours
 *   contiguity               mean over VM-steps of the CPU set's contiguity
 *   cost                     resource-time + violations (guest and host
 *                            contention) + reshapes, in the cost model's
 *                            currency
 */
#ifndef SC_DRIVER_PACK_H
#define SC_DRIVER_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/host.h"
#include "driver/policy.h"
#include "driver/trace.h"

struct cfg;
struct err;

enum drv_pack_kind {
    DRV_PACK_ALLOC,  /* a replay policy's allocation, applied as it is */
    DRV_PACK_SCULPT, /* the prediction module's blueprints through the engine */
};

struct drv_pack_policy {
    const char *name;
    enum drv_pack_kind kind;
    const struct drv_policy_ops *ops; /* DRV_PACK_ALLOC */
    double cpu_ratio, mem_ratio;      /* < 0: the host's (from sculpt.conf) */
    bool warm;                        /* DRV_PACK_SCULPT: cross-fitted fleet prior */
    bool oracle;                      /* placed knowing every VM's future use */
    const char *what;                 /* one line for reports */
};

/* The policies --pack knows, in report order; NULL when unknown. */
const struct drv_pack_policy *drv_pack_policy_find(const char *name);
/* "static,nova-default,vpa,autopilot,sculpt,sculpt-warm,oracle". */
const char *drv_pack_policy_names(void);

struct drv_pack_stats {
    char name[24];
    int32_t hosts_peak;
    double hosts_mean;
    double vms_per_host;
    double host_violation_rate;
    uint64_t guests_affected;
    double guest_violation_rate;
    double reshapes_per_vm_hour;
    double contiguity;
    double cost;
    double cost_resource, cost_violation, cost_reshape; /* the terms of cost */
    uint64_t host_steps, host_violations;
    uint64_t vm_steps, guest_violations, reshapes;
    double vm_hours;
    size_t placed, unplaced; /* VMs placed; VMs no empty host could hold */
    double elapsed_s; /* the whole replay, prior_s included */
    double prior_s;   /* sculpt-warm: training the fleet priors */
};

struct drv_pack_result {
    size_t vms;
    int32_t step_s;
    uint64_t vm_steps; /* summed over policies */
    double elapsed_s;  /* summed over policies */
    size_t npolicies;
    struct drv_pack_stats *policies; /* owned */
};

/* Replay `tr` onto hosts like `host` under each policy.  `cfg` gives prices,
 * [engine], [predict] and the SLO (NULL: defaults).  Deterministic.  Fills
 * *out (release with drv_pack_result_release).  Returns 0, or -1 with *err. */
int drv_pack_run(const struct drv_trace *tr, const struct drv_host *host, const struct cfg *cfg,
                 const struct drv_pack_policy *const *policies, size_t npolicies,
                 void (*progress)(size_t done, size_t total, void *opaque), void *opaque,
                 struct drv_pack_result *out, struct err **err);
void drv_pack_result_release(struct drv_pack_result *r);

#endif
