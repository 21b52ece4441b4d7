/* Replaying a trace through allocation policies and scoring how each
 * allocation fits observed use.
 *
 * Definitions (fixed so figures compare across runs), over all VM-steps of
 * a resource:
 *   slack          = sum(max(alloc - use, 0)) / sum(alloc)
 *   violation_rate = share of steps with use > alloc
 *   shortfall      = sum(max(use - alloc, 0)) / sum(use)
 * Use is capped at the provisioned size, allocations are clipped to
 * [0, provisioned].
 *
 * For policies that report quantile bands (ops->bands), per resource:
 *   coverage_pXX   = share of steps with use <= the pXX band
 *   pinball_pXX    = sum of the pinball loss of the pXX band / sum(use)
 *                    (the quantile loss, scale-free)
 * and for every policy
 *   reshapes_per_vm_hour = allocation changes / VM-hours replayed
 *                    (a VM-hour is 3600 / step_s samples).
 */
#ifndef SC_DRIVER_REPLAY_H
#define SC_DRIVER_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/policy.h"
#include "driver/trace.h"

struct err;

struct drv_replay_stats {
    double sum_alloc, sum_use, sum_slack, sum_short;
    uint64_t steps, violations;
    uint64_t reshapes;              /* steps whose allocation differs from the last */
    double hours;                   /* VM-hours replayed */
    uint64_t band_steps;            /* steps with bands (ops->bands) */
    uint64_t inside[DRV_Q_LAST];    /* steps with use <= band */
    double pinball[DRV_Q_LAST];     /* summed pinball loss per band */
};

struct drv_replay_policy_result {
    const struct drv_policy_ops *ops;
    struct drv_policy_params params;
    char label[48];             /* name in reports: "vpa", "vpa_slo"... */
    struct drv_replay_stats res[DRV_TR_LAST];
};

struct drv_replay_result {
    size_t vms;
    uint64_t vm_steps;          /* samples replayed (per policy) */
    double elapsed_s;           /* time spent in the policies' loop */
    size_t npolicies;
    struct drv_replay_policy_result *policies;  /* owned */
};

/* Progress callback: VMs done of total.  May be NULL. */
typedef void (*drv_replay_progress_fn)(size_t done, size_t total, void *opaque);

/* One policy to run, with its parameters and report label (NULL label:
 * the policy's name). */
struct drv_replay_entry {
    const struct drv_policy_ops *ops;
    struct drv_policy_params params;
    const char *label;
};

/* Replay every VM of `tr` through each entry.  A policy with state shared
 * across VMs (ops->shared_new: fleet history) sees the samples of all VMs
 * in time order, as the service sees its guests; others go VM by VM.
 * Deterministic.  Fills *out
 * (release with drv_replay_result_release).  Returns 0, or -1 with *err. */
int drv_replay_run(const struct drv_trace *tr, const struct drv_replay_entry *entries,
                   size_t nentries, drv_replay_progress_fn progress, void *opaque,
                   struct drv_replay_result *out, struct err **err);
void drv_replay_result_release(struct drv_replay_result *r);

/* The figures of one stats record. */
double drv_replay_slack(const struct drv_replay_stats *s);
double drv_replay_violation_rate(const struct drv_replay_stats *s);
double drv_replay_shortfall(const struct drv_replay_stats *s);
double drv_replay_mean_alloc(const struct drv_replay_stats *s);
double drv_replay_mean_use(const struct drv_replay_stats *s);
double drv_replay_reshapes_per_vm_hour(const struct drv_replay_stats *s);
/* Calibration figures; false when the policy reported no bands. */
bool drv_replay_has_bands(const struct drv_replay_stats *s);
double drv_replay_coverage(const struct drv_replay_stats *s, enum drv_quantile q);
double drv_replay_pinball(const struct drv_replay_stats *s, enum drv_quantile q);

/* --tune-baselines: the parameters with which `ops` meets the SLO at the
 * least slack, per resource.  For each percentile of `percentiles` (none:
 * the policy's own), the margin is bisected down to the smallest that keeps
 * the violation rate <= target; margins may go below zero (a policy whose
 * defaults over-provision is brought down to the SLO too).  `base` gives
 * the rest of the parameters.  Deterministic.  Returns 0 with *out filled
 * (per_res set), or -1 with *err. */
int drv_replay_tune(const struct drv_trace *tr, const struct drv_policy_ops *ops,
                    const struct drv_policy_params *base, const double *percentiles,
                    size_t npercentiles, double target, struct drv_policy_params *out,
                    struct err **err);

#endif
