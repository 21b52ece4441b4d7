/* Predictive pre-sculpting: forecast build requests per class, and decide
 * how many guests to prepare ahead for each class (the pools), by the cost
 * model, within the host's share and the idle budget.
 *
 * A request class is what a prepared guest must match: flavor x image x
 * project in the service (a flavor letter, a function, an Alibaba request
 * in the replayed traces).  Classes belong to a group: guests whose classes
 * differ only in memory, so one prepared member of the group can be
 * re-sculpted (ballooned) to any of them at hand-over.  Groups belong to a
 * family: guests that differ in vCPUs too (same image and project), so a
 * member of the family, prepared at a base shape and defined with the
 * family's largest, can be re-sculpted live (vCPU hot-plug, balloon) to
 * any of its classes at hand-over.  A pool is held per class, per group
 * or per family, where the class's own history is too thin or too bursty
 * to pay: the planner takes whichever costs less.
 *
 * The same planner runs in the service (sculpt-compute's pool manager)
 * and in `sculpt-replay --arrivals`, so the replay's figures are what the
 * service would do.  Time is in seconds on any fixed origin (Unix time in
 * the service, the trace's origin in the replay); it advances in
 * intervals of `interval_s`, and the forecaster learns from each closed
 * interval only.
 *
 * Not thread-safe: one owner (the pool manager's thread).
 */
#ifndef SC_DRIVER_PRESCULPT_H
#define SC_DRIVER_PRESCULPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/cost.h"
#include "driver/resource.h"

struct cfg;
struct err;

struct drv_presculpt_params {
    int64_t interval_s;         /* forecasting and planning interval */
    int64_t horizon_s;          /* how far forecasts are reported */
    int64_t member_ttl_s;       /* an unclaimed member is destroyed this long after it was made */
    double cold_start_s;        /* latency of a cold build: members are ordered this far ahead */
    double cold_start_price;    /* price of one cold start (the tenant's wait) */
    double idle_budget;         /* expected idle pool capacity <= budget x capacity guests use */
    double max_share;           /* pool reservations <= share x host capacity */
    struct drv_res host;        /* host capacity; zero: unknown (no share cap) */
    struct drv_cost_model cost; /* idle[] prices idle pre-sculpted capacity */
    /* the pool manager's */
    bool enabled;               /* members made and claimed (off: rounds destroy them) */
    bool wide_pools;            /* families may be pooled as one (members re-sculpted live) */
    char boot_marker[128];      /* printed on its console once booted; "": no sign */
    int64_t boot_wait_max_s;    /* paused anyway after this long */
};

/* Fill params from [presculpt] and [cost]; host capacity is left zero for
 * the caller (the engine knows it). */
void drv_presculpt_params_from_cfg(const struct cfg *cfg, struct drv_presculpt_params *p);

struct drv_presculpt;

/* A new planner with no class.  Caller frees with drv_presculpt_free(). */
struct drv_presculpt *drv_presculpt_new(const struct drv_presculpt_params *p);
void drv_presculpt_free(struct drv_presculpt *ps);
DEFINE_AUTOPTR(drv_presculpt)

/* Change the parameters (PUT /v1/config/presculpt); the learned history is
 * kept.  interval_s cannot change (the history is binned by it): -1 with
 * ERR_INVALID. */
int drv_presculpt_set_params(struct drv_presculpt *ps, const struct drv_presculpt_params *p,
                             struct err **err);
const struct drv_presculpt_params *drv_presculpt_params(const struct drv_presculpt *ps);

/* The index of class `key` (created when new, with its group and the size
 * one guest of it requests; a group's member size is the largest of its
 * classes seen).  An existing class keeps its group; its size is updated.
 * A new group joins family `family_key` (an existing one keeps its
 * family); drv_presculpt_class() puts it in a family of its own. */
int drv_presculpt_class_in(struct drv_presculpt *ps, const char *key, const char *group_key,
                           const char *family_key, const struct drv_res *size);
int drv_presculpt_class(struct drv_presculpt *ps, const char *key, const char *group_key,
                        const struct drv_res *size);
/* Forget the classes i with drop[i] (i < drv_presculpt_nclasses()), and
 * the groups and families left without a class: the others keep what
 * they learnt, under new indices -- remap[i] (nclasses entries) gets
 * class i's new index, -1 for one dropped.  Returns how many classes went. */
size_t drv_presculpt_drop_classes(struct drv_presculpt *ps, const bool *drop, int *remap);
size_t drv_presculpt_nclasses(const struct drv_presculpt *ps);
size_t drv_presculpt_ngroups(const struct drv_presculpt *ps);
size_t drv_presculpt_nfamilies(const struct drv_presculpt *ps);
/* Pool slots: classes, then groups, then families (the `have` layout). */
size_t drv_presculpt_nslots(const struct drv_presculpt *ps);
const char *drv_presculpt_class_key(const struct drv_presculpt *ps, int cls);
const char *drv_presculpt_group_key(const struct drv_presculpt *ps, int group);
const char *drv_presculpt_family_key(const struct drv_presculpt *ps, int family);
int drv_presculpt_class_group(const struct drv_presculpt *ps, int cls);
int drv_presculpt_group_family(const struct drv_presculpt *ps, int group);

/* Record `count` build requests of class `cls` at time t_s.  Requests
 * must come in time order; one older than the open interval counts in it. */
void drv_presculpt_record(struct drv_presculpt *ps, int cls, int64_t t_s, uint32_t count);

enum drv_pool_level {
    DRV_POOL_CLASS,             /* members of one class */
    DRV_POOL_GROUP,             /* members any class of the group can take */
    DRV_POOL_FAMILY,            /* members at a base shape, re-sculpted live to any class */
};

/* One pool of a plan: how many members to hold ready for the interval. */
struct drv_pool_plan {
    enum drv_pool_level level;
    int index;                  /* class, group or family index */
    const char *key;            /* its key (owned by the planner) */
    uint32_t target;            /* members to have ready */
    struct drv_res member;      /* what one member reserves (a family's: its base shape) */
    struct drv_res member_max;  /* what it is defined with: the most it grows to at hand-over */
    double reshaped;            /* expected share of its hand-overs that re-sculpt the member */
    double mean;                /* requests expected in the interval */
    double quantile;            /* the demand quantile the target covers */
    double confidence;          /* P(>= 1 request within a member's lifetime) */
    double exp_idle_members;    /* E[members left unclaimed] */
    double exp_cold;            /* E[requests the pool cannot serve] */
    double exp_cost;            /* E[idle cost + cold-start cost] of the interval */
};

struct drv_presculpt_plan_out {
    struct drv_pool_plan *pools; /* owned by the planner, valid until the next plan */
    size_t npools;              /* only pools with target > 0 or in use */
    double idle_price_factor;   /* >= 1: how much the budget raised the price of idle */
    double exp_idle_vcpu_s;     /* expected idle vCPU-seconds of the plan */
    double allowed_idle_vcpu_s; /* what the budget allowed (INFINITY: no guest data) */
    double idle_calibration;    /* the budget was tightened by this factor (>= 1) */
    bool budget_bound;          /* the budget or the host share constrained the plan */
};

/* Plan the pools for the interval that starts at target_s, knowing what
 * was recorded before now_s (now_s <= target_s; the difference is the lead
 * the cold-start latency asks for).  in_use: what guests use on the host
 * now (its vcpu drives the idle budget; NULL: unknown, no budget).  have:
 * the members each pool holds now, classes first (by index) then groups
 * (nclasses + group index) then families (nclasses + ngroups + family
 * index): drv_presculpt_nslots() entries, or NULL: members already made are kept up to a
 * higher quantile than new ones are made (destroying wastes their
 * preparation).  with_confidence computes each pool's confidence
 * (costlier).  Returns 0; the plan is in *out (pools with target 0 are
 * left out: their members are to be destroyed). */
int drv_presculpt_plan(struct drv_presculpt *ps, int64_t now_s, int64_t target_s,
                       const struct drv_res *in_use, const uint32_t *have,
                       bool with_confidence, struct drv_presculpt_plan_out *out,
                       struct err **err);

/* What idled in the interval of the last plan (vCPU-seconds of members
 * left unclaimed, and preparations of members destroyed unclaimed), as the
 * pool manager measured it.  The planner holds the budget on what really
 * idles: while the measured idle runs above what the budget allowed (over
 * about six hours), it plans for a tighter budget. */
void drv_presculpt_report_idle(struct drv_presculpt *ps, double idle_vcpu_s);
/* The factor (>= 1) the budget is tightened by now. */
double drv_presculpt_idle_calibration(const struct drv_presculpt *ps);

/* What drv_presculpt_report_idle() learnt, kept across a restart: EWMAs
 * of the measured and the allowed idle vCPU-seconds per interval (of
 * interval_s: they mean nothing for another), the weight the EWMAs have
 * gathered (0 to 1) and the log of the tightening factor. */
struct drv_presculpt_calibration {
    int64_t interval_s;
    double real_idle, allowed_idle, weight, log_factor;
};
void drv_presculpt_calibration_get(const struct drv_presculpt *ps,
                                   struct drv_presculpt_calibration *out);
/* Continue from a saved calibration.  ERR_INVALID for values out of
 * range, ERR_CONFLICT for another interval than the planner's (it then
 * starts over from 1). */
int drv_presculpt_calibration_set(struct drv_presculpt *ps,
                                  const struct drv_presculpt_calibration *in, struct err **err);

/* The forecast of class `cls` for the `n` intervals starting at the one
 * holding t_s: mean and p10/p50/p90 requests per interval, and the
 * confidence that at least one request comes in the member lifetime from
 * the first of them. */
struct drv_forecast_step {
    int64_t t_s;
    double mean, p10, p50, p90;
};
int drv_presculpt_forecast(const struct drv_presculpt *ps, int cls, int64_t t_s,
                           struct drv_forecast_step *steps, size_t n, double *confidence,
                           struct err **err);

#endif
