/* The sculpting engine: places guests' blueprints on one host's topology
 * and reshapes them, step by step, along their blueprints and toward what
 * is observed.
 *
 *  - Admission: a blueprint is admitted when, at every step of its horizon,
 *    the host stays within its overcommit ceilings (the sum of the shapes
 *    the cost model would give) and the host's aggregate use stays within
 *    physical capacity at the host-level SLO (the guests' expected use
 *    plus z times the root of the sum of their variances, read from the
 *    bands -- wide when a blueprint had little evidence -- and never more
 *    than the sum of the shapes, which cap use).  As no guest ever moves
 *    to another host, the guests' long-run use (the blueprints' `longrun`
 *    distributions, each at [engine] longrun_quantile, summed) must fit
 *    physical capacity too.  A refusal says which resource, at which step,
 *    by how much.
 *  - Placement: vCPUs online and the CPU quota follow the entitlement; the
 *    vCPUs are pinned to a run of adjacent CPUs in one L3 domain / NUMA
 *    node when one has room, and memory goes to that node; the result is
 *    scored by drv_host_contiguity().
 *  - Reshape: each step a guest's target is the blueprint's allocation (the
 *    predictor prices its bands with the same cost model) or, when it has
 *    none, the band the cost model picks (newsvendor quantile v / (v + p)),
 *    the largest over the next lead steps, raised to
 *    observed use plus a margin when the blueprint lags, kept between its
 *    floor and its flavor.  Growth is immediate; shrinking waits for the
 *    target to stay low for hold steps (hysteresis), and a change whose
 *    expected saving does not pay the reshape price is skipped.
 *  - Shortage: when the shapes exceed what the host can give, the lowest
 *    priority goes first, and inside a priority the guests whose squeeze
 *    costs least in expected violations (equal quantile level, hence equal
 *    marginal cost); never below a guest's memory floor.
 *  - Fragmentation: guests whose CPU set is scattered are re-pinned to a
 *    contiguous run, moving others out of the way if need be, within a
 *    budget of moves per step.
 *  - Every decision is recorded (bounded ring) with the band and the cost
 *    term behind it, for the API.
 *
 * Threads: every function takes the engine's mutex; call from any thread
 * (RPC handlers, the control loop, the REST API).  Queries return copies
 * (snapshots, records) the caller owns.
 */
#ifndef SC_DRIVER_SCULPT_H
#define SC_DRIVER_SCULPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/blueprint.h"
#include "driver/cost.h"
#include "driver/host.h"
#include "driver/instance.h"
#include "driver/resource.h"
#include "driver/shape.h"

struct cfg;
struct err;

struct drv_sculpt;

/* Tunables ([engine] in sculpt.conf). */
struct drv_sculpt_params {
    double host_violation_rate; /* host SLO: share of steps aggregate use may exceed capacity */
    double longrun_quantile;    /* admission: guests counted at this long-run quantile */
    double hysteresis;          /* relative dead band below the shape before shrinking */
    int32_t shrink_hold_steps;  /* steps a lower target must persist before a shrink */
    int32_t lead_steps;         /* a target covers this many blueprint steps ahead */
    double observed_margin;     /* headroom over observed use when the blueprint lags */
    double mem_floor_margin;    /* memory floor = observed working set x (1 + margin) */
    double cpu_floor_vcpu;      /* smallest CPU entitlement of a running guest */
    double reshape_horizon_s;   /* how long a reshape is expected to hold, for its saving */
    int32_t move_budget;        /* re-pinnings per step for defragmentation */
    int32_t records_max;        /* decision records kept (ring); 0: none (sculpt-replay) */
    bool pin_vcpus;             /* pin vCPUs to host CPUs (false: float anywhere) */
    bool admit_by_risk;         /* check the host-level risk at admission (true from
                                 * the config; sculpt-replay clears it to replay
                                 * Nova's rule: the ceilings alone) */
    double boot_share;          /* boot allowance: this share of the flavor's vCPUs
                                 * while a guest boots (0: none) */
    double boot_max_s;          /* ... for at most this long (0: none) */
    struct drv_cost_model cost; /* prices, violation prices, reshape price */
};

/* Defaults and values from sculpt.conf ([engine], [cost], [sculpt]). */
void drv_sculpt_params_from_cfg(const struct cfg *cfg, struct drv_sculpt_params *out);

/* What the engine needs to know of a guest besides its blueprint. */
struct drv_sculpt_guest_spec {
    char uuid[DRV_UUID_LEN + 1];
    struct drv_res ceiling; /* never shaped above (the flavor; NIC/disk: its quota
                             * extra specs or the host's capacity) */
    int32_t vcpus_max;      /* vCPUs the guest is defined with (room to grow) */
    double mem_max_mib;     /* memory it is defined with */
    int32_t priority;       /* higher is squeezed later; default 0 */
    double mem_floor_mib;   /* never ballooned below this (0: observed working set) */
    bool booted;            /* runs and has booted already (a pool member handed
                             * over): placed without a boot allowance */
    bool reclaimable;       /* speculative (an idle pre-sculpted pool member): its
                             * room is free room to the inventory, and
                             * drv_sculpt_place_reclaiming() gives it up for a
                             * real guest; cleared when it is claimed */
};

/* The spec of a Nova instance: flavor ceiling, Nova's quota:* extra specs
 * for NIC and disk limits (else the host's capacity), and the priority
 * from the `sculpt:priority` extra spec or metadata (else
 * `default_priority`).  Returns 0 or -1 with *err (ERR_INVALID: a flavor
 * without vCPUs or memory, an unreadable extra spec). */
int drv_sculpt_spec_from_instance(const struct drv_instance *inst, const struct drv_host *host,
                                  int32_t default_priority, struct drv_sculpt_guest_spec *out,
                                  struct err **err);

/* Why a guest was refused. */
enum drv_sculpt_rule {
    DRV_SCULPT_RULE_CEILING, /* shapes would exceed capacity x overcommit ratio */
    DRV_SCULPT_RULE_RISK,    /* aggregate use would exceed capacity beyond the host SLO */
    DRV_SCULPT_RULE_FLOOR,   /* memory floors alone exceed what the host has */
    DRV_SCULPT_RULE_SIZE,    /* the guest alone is larger than the host */
    DRV_SCULPT_RULE_LONGRUN, /* guests' long-run use (blueprint `longrun`) would exceed capacity */
    DRV_SCULPT_RULE_LAST,
};
const char *drv_sculpt_rule_name(enum drv_sculpt_rule r);

struct drv_sculpt_refusal {
    enum drv_sculpt_rule rule;
    enum drv_res_kind res; /* the resource that does not fit */
    int32_t step;          /* blueprint step where it does not fit */
    int64_t at_s;          /* Unix time of that step */
    double need;           /* what the host would need there, in res's unit */
    double limit;          /* what it can give */
    double by;             /* need - limit */
    char text[256];        /* the whole reason as a sentence */
};

/* A host-side engine on `host` (copied).  Returns NULL with *err when the
 * parameters are out of range.  Free with drv_sculpt_free(). */
struct drv_sculpt *drv_sculpt_new(const struct drv_host *host, const struct drv_sculpt_params *p,
                                  struct err **err);
void drv_sculpt_free(struct drv_sculpt *e);
DEFINE_AUTOPTR(drv_sculpt)

/* New tunables for a running engine (a run-time change of [engine] or
 * [cost]): validated as drv_sculpt_new() does, then used from the next
 * decision on; shapes in force stay until the next step revises them.
 * records_max keeps its value from drv_sculpt_new() (the ring is sized
 * once).  -1 with ERR_INVALID, the engine unchanged. */
int drv_sculpt_set_params(struct drv_sculpt *e, const struct drv_sculpt_params *p,
                          struct err **err);
/* The tunables in force. */
void drv_sculpt_get_params(struct drv_sculpt *e, struct drv_sculpt_params *out);

/* The host the engine works on (owned by the engine, immutable). */
const struct drv_host *drv_sculpt_host(const struct drv_sculpt *e);

/* Would `bp` fit over its whole horizon from now_s on?  0 when it does;
 * -1 with ERR_CAPACITY and *why filled (why may be NULL) when it does not,
 * ERR_INVALID on a bad spec or blueprint.  Changes nothing. */
int drv_sculpt_admit(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                     const struct drv_blueprint *bp, int64_t now_s, struct drv_sculpt_refusal *why,
                     struct err **err);

/* Admit and place a new guest: on success the engine holds it (with a copy
 * of bp) and *shape is the shape to spawn it with.  -1 with ERR_CAPACITY
 * (the refusal's text as message, and *why when given), ERR_CONFLICT when
 * the uuid is already placed, ERR_INVALID on bad input. */
int drv_sculpt_place(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                     const struct drv_blueprint *bp, int64_t now_s, struct drv_shape *shape,
                     struct drv_sculpt_refusal *why, struct err **err);

/* drv_sculpt_place() for a real guest that may take the room of
 * reclaimable guests: `order` lists candidates (uuids, `n` of them, the
 * cheapest to lose first); guests not held or not reclaimable are passed
 * over.  When the guest fits as the host stands, it is placed and *taken
 * is 0.  Else the engine finds the fewest first candidates whose room
 * makes it fit, forgets them (the caller destroys their guests) and
 * places the guest in the same critical section: *taken is how many of
 * the first entries of `order` it forgot.  When even all of them would
 * not make room, nothing changes: -1 with ERR_CAPACITY and *why (may be
 * NULL) the refusal with every candidate's room given back. */
int drv_sculpt_place_reclaiming(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                                const struct drv_blueprint *bp, int64_t now_s,
                                const char *const *order, size_t n, size_t *taken,
                                struct drv_shape *shape, struct drv_sculpt_refusal *why,
                                struct err **err);

/* Set or clear a held guest's reclaimable flag (a member claimed for a
 * request is no longer reclaimable).  ERR_NOT_FOUND: not held (a
 * reclaim took it). */
int drv_sculpt_set_reclaimable(struct drv_sculpt *e, const char *uuid, bool reclaimable,
                               struct err **err);

/* Take over a guest that already runs with `shape` (start-up
 * reconciliation, a restart of sculpt-compute): no admission check, the
 * shape is kept as it is.  ERR_CONFLICT when already held. */
int drv_sculpt_adopt(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                     const struct drv_blueprint *bp, const struct drv_shape *shape, int64_t now_s,
                     struct err **err);

/* Forget a guest (destroyed, migrated away).  ERR_NOT_FOUND if unknown. */
int drv_sculpt_remove(struct drv_sculpt *e, const char *uuid, struct err **err);

/* Replace a guest's blueprint with a revision (copied).  ERR_NOT_FOUND,
 * ERR_INVALID. */
int drv_sculpt_set_blueprint(struct drv_sculpt *e, const char *uuid, const struct drv_blueprint *bp,
                             struct err **err);

/* Change a guest's priority.  ERR_NOT_FOUND. */
int drv_sculpt_set_priority(struct drv_sculpt *e, const char *uuid, int32_t priority,
                            struct err **err);

/* Record observed use (what the guest used over the last interval, capped
 * by its shape where the hypervisor enforces it).  ERR_NOT_FOUND,
 * ERR_INVALID. */
int drv_sculpt_observe(struct drv_sculpt *e, const char *uuid, struct drv_res use, int64_t t_s,
                       struct err **err);

enum drv_sculpt_change_kind {
    DRV_SCULPT_CHANGE_RESHAPE, /* entitlement changed (maybe with vCPUs, pinning) */
    DRV_SCULPT_CHANGE_SQUEEZE, /* lowered below target: the host is short */
    DRV_SCULPT_CHANGE_REPIN,   /* only the CPU set / NUMA node moved (defragmentation) */
    DRV_SCULPT_CHANGE_LAST,
};
const char *drv_sculpt_change_kind_name(enum drv_sculpt_change_kind k);

/* One shape change to apply through the hypervisor backend. */
struct drv_sculpt_change {
    char uuid[DRV_UUID_LEN + 1];
    enum drv_sculpt_change_kind kind;
    struct drv_shape from; /* the shape in force before */
    struct drv_shape to;   /* the shape to apply */
    char why[192];         /* the explanation (band, cost term); empty when
                            * the engine keeps no records (records_max 0) */
};

/* Advance to now_s: compute every guest's new shape (reshape, squeeze,
 * defragmentation).  The engine takes the new shapes as in force; the
 * caller applies each change and, when the backend fails, reports the
 * shape actually in force with drv_sculpt_revert().  *changes (caller
 * frees with free()) gets *nchanges entries, possibly none.  Returns 0 or
 * -1 with *err. */
int drv_sculpt_step(struct drv_sculpt *e, int64_t now_s, struct drv_sculpt_change **changes,
                    size_t *nchanges, struct err **err);

/* Set a guest's entitlement now, as an operator decides (or a baseline
 * policy replayed by sculpt-replay): blueprint, hysteresis and price are
 * bypassed; shaped dimensions take `res` clipped to the ceiling (the
 * others stay unlimited), vCPUs online follow, CPUs are re-pinned when
 * their count changes.  The decision is recorded.  *change (may be NULL)
 * gets the change.  Returns 1 when the shape changed, 0 when it already
 * was so, -1 with *err (ERR_NOT_FOUND, ERR_INVALID). */
int drv_sculpt_force(struct drv_sculpt *e, const char *uuid, struct drv_res res, int64_t now_s,
                     struct drv_sculpt_change *change, struct err **err);

/* The backend could not apply a change: `actual` is the shape in force.
 * ERR_NOT_FOUND. */
int drv_sculpt_revert(struct drv_sculpt *e, const char *uuid, const struct drv_shape *actual,
                      struct err **err);

/* The guest holds `mib` of memory and can take no more for now (memory
 * hot-plug: it did not plug what was asked): the shape in force is
 * lowered to it and targets stop there until lifted (`mib` 0), so the
 * engine accounts what the guest has and asks nothing it cannot take.
 * Returns 1 when that changed the engine's view, 0 when it already was
 * so, -1 with *err (ERR_NOT_FOUND, ERR_INVALID). */
int drv_sculpt_hold_memory(struct drv_sculpt *e, const char *uuid, double mib, struct err **err);

/* ---- boot allowance ----
 *
 * A guest boots (kernel, init, cloud-init) on more CPU than its steady
 * state: its blueprint, learnt from guests that idle once up, does not
 * describe that burst.  From its placement (a spawn) -- or from
 * drv_sculpt_boot() (a power-on, a reboot, a migrated guest started) --
 * until it is booted, its vCPU shape is at least the boot allowance:
 * [engine] boot_burst_vcpus of its flavor's vCPUs, taken only from the
 * host's free CPU (capacity less every other guest's shape), so no other
 * guest is lowered for it; under a shortage the squeeze rules apply as to
 * any shape.  Admission does not count it (best effort: a guest that fits
 * its blueprint is admitted whatever boots meanwhile).  The boot ends at
 * the first step when the guest has shown it is up (drv_sculpt_guest_up:
 * its balloon driver reported its memory after the boot began) and its
 * CPU use fell below half the allowance, or boot_burst_max_s after it
 * began; its shape then goes back to its blueprint's at once (no shrink
 * hold: the allowance was no target).  The decisions are recorded with
 * the term "boot". */

/* Guest `uuid` (re)boots now: its boot allowance starts again and, when
 * the host has free CPU, its vCPU shape rises to it now; *change (may be
 * NULL) gets the change to apply through the backend.  Returns 1 when the
 * shape changed, 0 when not (no free CPU, the allowance off, the shape
 * already as high), -1 with ERR_NOT_FOUND. */
int drv_sculpt_boot(struct drv_sculpt *e, const char *uuid, int64_t now_s,
                    struct drv_sculpt_change *change, struct err **err);

/* Whether guest `uuid`'s boot allowance is in force (false for a guest
 * the engine does not hold). */
bool drv_sculpt_booting(struct drv_sculpt *e, const char *uuid);

/* Guest `uuid` showed it is up: its own figures (the balloon driver's
 * memory statistics) taken at `at_s` (Unix s).  Figures older than the
 * boot under way are ignored (libvirt keeps the last ones across a
 * reboot).  ERR_NOT_FOUND. */
int drv_sculpt_guest_up(struct drv_sculpt *e, const char *uuid, int64_t at_s, struct err **err);

/* The shape the engine holds for a guest.  ERR_NOT_FOUND. */
int drv_sculpt_shape(struct drv_sculpt *e, const char *uuid, struct drv_shape *out,
                     struct err **err);

/* ---- explanations ---- */

enum drv_sculpt_decision {
    DRV_SCULPT_DEC_ADMIT,    /* placed */
    DRV_SCULPT_DEC_REFUSE,   /* admission refused */
    DRV_SCULPT_DEC_GROW,     /* entitlement raised */
    DRV_SCULPT_DEC_SHRINK,   /* entitlement lowered */
    DRV_SCULPT_DEC_SKIP,     /* a change not worth its reshape price */
    DRV_SCULPT_DEC_SQUEEZE,  /* lowered for a host shortage */
    DRV_SCULPT_DEC_REPIN,    /* CPU set moved */
    DRV_SCULPT_DEC_SHORTAGE, /* the host is short even at every floor */
    DRV_SCULPT_DEC_REMOVE,   /* guest left */
    DRV_SCULPT_DEC_LAST,
};
const char *drv_sculpt_decision_name(enum drv_sculpt_decision d);

/* One decision and why. */
struct drv_sculpt_record {
    uint64_t seq; /* increasing, for paging */
    int64_t t_s;
    char uuid[DRV_UUID_LEN + 1]; /* "" for host-wide records */
    enum drv_sculpt_decision decision;
    int32_t res;     /* enum drv_res_kind concerned, -1 for none */
    double quantile; /* band level allocated (0.99 = p99), 0 when none */
    char term[16];   /* deciding cost term or rule: "price", "violation",
                      * "reshape", "observed", "floor", "ceiling", "risk",
                      * "priority", "contiguity", "reclaim" */
    double from, to; /* value before and after (in res's unit; contiguity) */
    double cost;     /* cost behind the decision (saving per reshape, or
                      * expected cost per hour), in the currency */
    char text[160];  /* the sentence */
};

/* Copy up to `max` records, newest first, into out (uuid NULL: all; else
 * that guest's).  Returns how many were copied. */
size_t drv_sculpt_records(struct drv_sculpt *e, const char *uuid, struct drv_sculpt_record *out,
                          size_t max);

/* ---- read-only views ---- */

struct drv_sculpt_guest_view {
    char uuid[DRV_UUID_LEN + 1];
    struct drv_shape shape; /* in force */
    struct drv_res target;  /* what the blueprint and observations ask for */
    struct drv_res use;     /* last observed */
    struct drv_res floor;   /* lowest the engine would go */
    struct drv_res ceiling;
    int32_t priority;
    double contiguity; /* of shape.pcpus */
    double confidence; /* of the blueprint */
    char model[48];    /* blueprint model */
    bool squeezed;     /* below target for a shortage */
    bool reclaimable;  /* its spec's flag */
    int64_t boot_until_s; /* booting: its boot allowance ends by then; 0: booted */
    int64_t placed_s;
    int64_t last_reshape_s; /* 0: never */
    uint64_t reshapes;
};

struct drv_sculpt_snapshot {
    int64_t t_s;              /* time of the last step (or placement) */
    struct drv_res capacity;  /* physical, for guests */
    struct drv_res ceiling;   /* capacity x ratio */
    struct drv_res allocated; /* sum of shapes */
    struct drv_res used;      /* sum of last observed use */
    struct drv_res flavors;   /* sum of guests' ceilings (what Nova allocated) */
    double contiguity;        /* mean over pinned guests (1 when none) */
    bool shortage;            /* the last step could not fit every floor */
    uint64_t admitted, refused, reshapes, squeezes, repins, skipped;
    size_t nguests;
    struct drv_sculpt_guest_view *guests; /* owned, by uuid */
    int32_t ncpus;
    double *cpu_load; /* owned: entitlement pinned per host CPU (host cpu order) */
};

/* A consistent copy of the engine's state; caller frees with
 * drv_sculpt_snapshot_free(). */
struct drv_sculpt_snapshot *drv_sculpt_snapshot(struct drv_sculpt *e);
void drv_sculpt_snapshot_free(struct drv_sculpt_snapshot *s);
DEFINE_AUTOPTR(drv_sculpt_snapshot)

/* ---- what Nova's Placement should see ---- */

/* One Placement inventory record (placement API: total, reserved,
 * min_unit, max_unit, step_size, allocation_ratio), and what bounds it. */
struct drv_sculpt_inventory_item {
    int64_t total;
    int64_t reserved;
    int64_t min_unit;
    int64_t max_unit; /* the largest guest the engine would admit now */
    int64_t step_size;
    double allocation_ratio;
    double held;                /* flavors held (what Nova allocated), in the class's unit */
    double room;                /* flavor units the engine would still admit */
    enum drv_sculpt_rule bound; /* the admission rule that limits the room;
                                 * DRV_SCULPT_RULE_LAST: the configured ratio */
    double reclaimable;         /* held by reclaimable guests' shapes in force,
                                 * in the class's unit: counted as free room */
};

struct drv_sculpt_inventory {
    struct drv_sculpt_inventory_item vcpu;      /* VCPU */
    struct drv_sculpt_inventory_item memory_mb; /* MEMORY_MB */
    struct drv_sculpt_inventory_item disk_gb;   /* DISK_GB */
};

/* Inventories that make Placement accept what admission would admit, as
 * far as Placement's model (used + request <= (total - reserved) x ratio,
 * request <= max_unit) can say it.  Totals and reserved are the host's.
 * Placement counts flavors, the engine shapes and use: the room each
 * admission rule leaves (the ceiling, the host-level risk and the
 * guests' long run, over the held blueprints' horizons) is converted to
 * flavor units at the held guests' own ratios (flavors per planned shape,
 * flavors per long-run use), and the smallest is the room.  The ratio is
 * (held + room) / (total - reserved), never above the configured ceiling
 * nor below what is held; max_unit is the room (at least 1, at most the
 * total).  With no guest held, the configured ratios stand.  DISK_GB is
 * not shaped: its configured ratio stands, max_unit the usable disk.
 * Reclaimable guests (idle pool members, which Placement holds no
 * allocation for) are left out of every sum: their room is free room, as
 * drv_sculpt_place_reclaiming() gives it to the first real guest that
 * needs it; `reclaimable` says how much of it they hold. */
void drv_sculpt_inventory(struct drv_sculpt *e, struct drv_sculpt_inventory *out);

/* Is `now` worth a Placement write over `was` (what Placement last got)?
 * True when a total, reserved, min_unit or step_size changed, or when a
 * class's capacity ((total - reserved) x ratio) or max_unit moved by more
 * than `hysteresis` x (total - reserved) (at least one unit); *why (may be
 * NULL) then says which and by how much, and which rule bounds the new
 * room.  Small drifts are left alone: each write costs Placement a
 * generation bump and Nova's scheduler a refresh. */
bool drv_sculpt_inventory_differs(const struct drv_sculpt_inventory *was,
                                  const struct drv_sculpt_inventory *now, double hysteresis,
                                  char *why, size_t why_len);

#endif
