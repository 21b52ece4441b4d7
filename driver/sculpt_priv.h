/* The sculpting engine's insides, shared by sculpt*.c and the unit tests.
 * Every function here expects the engine's mutex held by its caller. */
#ifndef SC_DRIVER_SCULPT_PRIV_H
#define SC_DRIVER_SCULPT_PRIV_H

#include <pthread.h>

#include "driver/sculpt.h"

/* Smallest memory a running guest is ballooned to, MiB (when its ceiling
 * allows): below it no guest OS boots. */
#define SCULPT_MEM_MIN_MIB 128.0

struct sculpt_guest {
    struct drv_sculpt_guest_spec spec;
    struct drv_blueprint *bp; /* owned; NULL: adopted without one (flat at its shape) */
    struct drv_shape shape;   /* in force */
    struct drv_res target;    /* last target (before any squeeze) */
    struct drv_res use;       /* last observed */
    bool has_use;
    int64_t use_t;
    double ws_mib; /* working set: decayed peak of observed memory */
    int64_t ws_t;
    int32_t low_steps; /* consecutive steps with the target below the dead band */
    bool squeezed;
    int64_t placed_s;
    int64_t last_reshape_s;
    uint64_t reshapes;
    double cpu_share;            /* entitlement on each CPU of shape.pcpus */
    int32_t npcpus;              /* CPUs in shape.pcpus (as last loaded) */
    double contig;               /* their contiguity (as last loaded) */
    struct drv_cpuset contig_of; /* the set contig was computed for */
    double mem_on_node;          /* memory counted on shape.numa_node */
    double mem_hold_mib;         /* > 0: all the memory the guest can hold now
                                  * (it did not plug more): targets stop there */
    bool excluded;               /* left out of the sums for a trial (sculpt_reclaim.c) */
    /* boot allowance (drv_sculpt_boot) */
    int64_t boot_start_s;  /* when the boot under way began */
    int64_t boot_until_s;  /* it ends by then; 0: not booting */
    int64_t boot_up_s;     /* the guest showed it is up (its figures' time); 0: not yet */
    double boot_base_vcpu; /* its vCPU target without the allowance (admission counts it) */
};

/* Aggregates over a time grid, for admission (rebuilt when stale). */
struct sculpt_agg {
    uint64_t version; /* engine version it was built at */
    int64_t start_s;
    int32_t step_s, nsteps;
    double *ent;  /* [nsteps][DRV_RES_LAST] sum of planned shapes */
    double *mean; /* [nsteps][DRV_RES_LAST] sum of expected use */
    double *var;  /* [nsteps][DRV_RES_LAST] sum of variances */
    int32_t cap;  /* allocated steps */
    double longrun[DRV_RES_LAST]; /* sum of long-run use at the admission quantile */
    bool without_reclaimable;     /* reclaimable guests left out (the inventory) */
};

struct drv_sculpt {
    pthread_mutex_t lock;
    struct drv_host *host; /* owned */
    struct drv_sculpt_params p;
    double z;                  /* standard normal quantile of 1 - host_violation_rate */
    double crit[DRV_RES_LAST]; /* the cost model's quantile per resource */
    struct sculpt_guest **guests;
    size_t nguests, capguests;
    int32_t *slots; /* open addressing: guest index + 1, 0 empty, -1 deleted */
    size_t nslots;
    double *cpu_load; /* [host->ncpus] entitlement pinned per CPU (host order) */
    int32_t *usable;  /* host cpu indices guests may use, in topology order */
    int32_t nusable;
    double *node_mem; /* [host->nnodes] memory placed per node */
    uint64_t version; /* bumped by every change of guests or shapes */
    struct sculpt_agg agg;
    int64_t now_s;
    bool shortage;              /* the last step could not fit every floor */
    bool was_short;             /* ... and the one before (log once per episode) */
    uint64_t admitted, refused, reshapes, squeezes, repins, skipped;
    struct drv_sculpt_record *ring;
    size_t ring_cap, ring_head, ring_n;
    uint64_t seq;
};

/* ---- sculpt.c ---- */
struct sculpt_guest *sculpt_find(struct drv_sculpt *e, const char *uuid);
/* The blueprint step covering t (clamped to the horizon). */
int32_t sculpt_bp_step(const struct drv_blueprint *bp, int64_t t_s);
/* Floors of a guest now: memory working set plus margin, CPU minimum. */
struct drv_res sculpt_floor(const struct drv_sculpt *e, const struct sculpt_guest *g);
/* Is dimension k shaped for this guest (a positive ceiling)? */
static inline bool sculpt_shaped(const struct sculpt_guest *g, int k)
{
    return g->spec.ceiling.v[k] > 0;
}
/* The planned entitlement of g for dimension k at blueprint step s: the
 * blueprint's allocation when it carries one (the predictor chose it with
 * the same cost model), else the cost model's quantile of its bands;
 * between floor and ceiling. */
double sculpt_planned(const struct drv_sculpt *e, const struct sculpt_guest *g, int32_t s, int k,
                      double floor);
/* Expected use and its variance for g in dimension k at blueprint step s
 * when it holds `plan`: the moments of its bands, the mean capped at the
 * plan (which the hypervisor enforces).  A blueprint made without evidence
 * has wide bands (the predictor's cold start spreads over the whole
 * flavor), so little evidence already means a large variance.  Without a
 * blueprint: the plan, certain. */
void sculpt_moments(const struct sculpt_guest *g, int32_t s, int k, double plan, double *mean,
                    double *var);
/* What g counts for in dimension k in the long run: its blueprint's
 * long-run quantile at [engine] longrun_quantile, or (not known) what is
 * planned for it now. */
double sculpt_longrun(const struct drv_sculpt *e, const struct sculpt_guest *g, int k,
                      double plan_now);
/* Fill vcpus_online/maxima from res and spec. */
void sculpt_shape_finish(const struct sculpt_guest *g, struct drv_shape *s);
/* Give guest g entitlement `res` with `online` vCPUs online (0: as many
 * as res needs), pinned again only when that count changes or it had no
 * pins, and count the reshape at now_s.  Returns the shape it had.
 * e->lock held. */
struct drv_shape sculpt_reshape_to(struct drv_sculpt *e, struct sculpt_guest *g, struct drv_res res,
                                   int32_t online, int64_t now_s);
/* Describe g's reshape from `from` in *change (NULL: nothing). */
void sculpt_change_fill(struct drv_sculpt_change *change, const struct sculpt_guest *g,
                        const struct drv_shape *from, const char *why);

/* The vCPU shape a booting guest may hold: its base (what it holds
 * without the allowance), raised to the allowance within the host's CPU
 * that `others` (the other guests' vCPU shapes) leave free. */
double sculpt_boot_allowance(const struct drv_sculpt *e, const struct sculpt_guest *g, double base,
                             double others);
/* Start g's boot at now_s (its allowance applies until it ends). */
void sculpt_boot_begin(const struct drv_sculpt *e, struct sculpt_guest *g, int64_t now_s);

/* ---- sculpt_admit.c ---- */
/* Check a new guest over its horizon; 0 or -1 with *why filled. */
int sculpt_admit_check(struct drv_sculpt *e, const struct sculpt_guest *cand, int64_t now_s,
                       struct drv_sculpt_refusal *why);
void sculpt_agg_release(struct sculpt_agg *a);
/* Sums over the held guests on the grid (start, step, n) into e->agg,
 * rebuilt when the grid, the mode or the engine changed since the last
 * build.  Guests marked excluded are left out, and reclaimable ones too
 * when without_reclaimable. */
void sculpt_agg_build(struct drv_sculpt *e, int64_t start_s, int32_t step_s, int32_t n,
                      bool without_reclaimable);

/* ---- sculpt_reclaim.c ---- */
/* cand does not fit as the host stands: the fewest first entries of
 * `order` (held reclaimable guests; others passed over) whose room makes
 * it fit.  0 with *k set (the guests are not touched), or -1 with *why
 * the refusal with every candidate left out. */
int sculpt_reclaim_plan(struct drv_sculpt *e, const struct sculpt_guest *cand, int64_t now_s,
                        const char *const *order, size_t n, size_t *k,
                        struct drv_sculpt_refusal *why);

/* ---- sculpt_pin.c ---- */
/* Pin g (shape.res.vcpu and vcpus_online set) and choose its memory node;
 * updates the load arrays.  `keep` tries the current set first. */
void sculpt_pin_place(struct drv_sculpt *e, struct sculpt_guest *g, bool keep);
/* Take g's load off the CPUs and its node. */
void sculpt_pin_unload(struct drv_sculpt *e, struct sculpt_guest *g);
/* Put g's load (as its shape says) on the CPUs and node. */
void sculpt_pin_load(struct drv_sculpt *e, struct sculpt_guest *g);
/* Plan re-pinnings that restore contiguity, within the move budget;
 * appends REPIN changes. */
void sculpt_defrag(struct drv_sculpt *e, struct drv_sculpt_change **changes, size_t *n,
                   size_t *cap);

/* ---- sculpt_step.c ---- */
int sculpt_step(struct drv_sculpt *e, int64_t now_s, struct drv_sculpt_change **changes,
                size_t *nchanges);
/* Append a change (growing the array). */
void sculpt_change_push(struct drv_sculpt_change **changes, size_t *n, size_t *cap,
                        const struct sculpt_guest *g, enum drv_sculpt_change_kind kind,
                        const struct drv_shape *from, const char *why);

/* ---- sculpt_record.c ---- */
void sculpt_records_init(struct drv_sculpt *e, size_t cap);
void sculpt_records_release(struct drv_sculpt *e);
/* Record a decision; text is printf-formatted. */
void sculpt_record(struct drv_sculpt *e, const char *uuid, enum drv_sculpt_decision d, int res,
                   double quantile, const char *term, double from, double to, double cost,
                   const char *fmt, ...) __attribute__((format(printf, 10, 11)));

#endif
