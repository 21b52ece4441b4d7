/* Prediction: a request plus history becomes a blueprint, revised online.
 *
 * Three objects:
 *
 *  - drv_fleet: what past and present guests used, grouped by what a new
 *    request can be compared on (flavor, project, image, name pattern, and
 *    combinations), as a function of time since boot and time of day, plus
 *    the fleet's calibration of every model setting.  Bounded (at most
 *    [predict] fleet_max_groups groups), learns from every observed sample,
 *    and exports to / imports from plain records (drv_fleet_record) the
 *    database can keep.  Thread-safe (one mutex).
 *
 *  - drv_predictor: one guest's state.  observe() feeds it a usage sample;
 *    blueprint() returns the predicted need over a horizon with p50/p90/p99
 *    bands, a confidence per resource and overall, the model setting that
 *    produced it, and the allocation the cost model picks per step.
 *    Before the guest has history, the blueprint comes from the fleet
 *    (cold start); then several model settings compete and the guest
 *    follows the one with the lowest recent cost.  Bounded state, O(1) work
 *    per observe(), a blueprint in microseconds.  Not thread-safe: one
 *    owner (the control loop) at a time.
 *
 *  - drv_predict_config: the [predict] settings.
 *
 * Memory is never allocated (nor its p99 band predicted) below the observed
 * working set plus [predict] memory_margin.  Nothing is predicted above the
 * request's ceiling (the flavor) unless the ceiling is unbounded (0).
 *
 * The allocation minimises, under the predictive distribution, the
 * allocation plus the overrun price times the chance of being exceeded plus
 * the reshape price; the overrun price is the SLO's dual, set by the
 * fleet's controller so its violation rate meets [sculpt]
 * target_violation_rate (README, "Prediction").
 */
#ifndef SC_DRIVER_PREDICT_H
#define SC_DRIVER_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/blueprint.h"
#include "driver/cost.h"
#include "driver/instance.h"
#include "driver/resource.h"

struct cfg;
struct err;

/* ---- configuration ---------------------------------------------------- */

/* The [predict] settings (see common/config_options.def for each). */
struct drv_predict_config {
    double target_violation_rate; /* [sculpt]: the SLO allocations aim at */
    int32_t season_bin_s;         /* width of a seasonal-profile bin, s */
    double season_half_life_s;    /* daily profile memory */
    double level_half_life_s;     /* long-run level memory */
    double calib_half_life_s;     /* calibration (residual distributions) memory */
    double cost_half_life_s;      /* model settings' cost comparison window */
    double reshape_hold_s;        /* how long a new shape is expected to hold ([sculpt]
                                   * blueprint_horizon): a reshape's saving accrues over it */
    double prior_weight;          /* fleet calibration weight, samples */
    double slo_rate;              /* SLO controller step (log scale) */
    double guest_violation_cap;   /* fairness: multiple of the SLO */
    double overrun_floor;         /* a miss costs at least this many samples of the level */
    double memory_margin;         /* fraction above the working set */
    double memory_margin_mib;     /* ... at least this */
    int32_t fleet_max_groups;     /* bound on fleet history groups */
    int32_t fleet_min_guests;     /* guests a group needs before cold starts use it */
    double fleet_half_life_s;     /* fleet history memory */
};

/* Built-in defaults (the same as the sample sculpt.conf). */
void drv_predict_config_default(struct drv_predict_config *pc);
/* From [predict] and [sculpt] target_violation_rate. */
void drv_predict_config_from_cfg(const struct cfg *cfg, struct drv_predict_config *pc);

/* ---- requests ---------------------------------------------------------- */

/* What is known of a guest before it runs.  Strings are borrowed for the
 * duration of the call that takes the request; any may be NULL. */
struct drv_predict_request {
    const char *flavor_name;
    const char *project_id;
    const char *image_ref;
    const char *name;             /* display name; digits are a pattern ("web-#") */
    const struct drv_kv *metadata;
    size_t nmetadata;
    struct drv_res ceiling;       /* the flavor's size per dimension; 0 = unbounded */
    int64_t boot_s;               /* when the guest started, Unix s (or trace time) */
    uint32_t resources;           /* bitmask of dimensions to predict (1u << kind); 0 = all */
    bool counted;                 /* already counted in its fleet groups -- a what-if (a
                                   * preview, an estimate) or a guest adopted after a
                                   * restart that a persisted fleet remembers: the
                                   * predictor reads the groups but neither creates them
                                   * nor counts itself as one more guest */
    bool what_if;                 /* a preview or an estimate, not a guest: counted as above,
                                   * and not one of its groups' guests either, so a group
                                   * needs fleet_min_guests others, not itself plus them */
};

/* A flavor name for a guest known only by its size (a trace replay):
 * "cpu8-mem20g", memory rounded to whole GiB as flavors are sized, or
 * "cpu8" without memory.  Writes at most size bytes. */
void drv_predict_size_flavor(double vcpus, double mem_mib, char *out, size_t size);

/* Fill a request from an instance: flavor name and size (vCPUs, memory),
 * project, image, name, metadata, created time.  Borrows the instance's
 * strings: the request is valid while the instance is. */
void drv_predict_request_from_instance(const struct drv_instance *inst,
                                       struct drv_predict_request *req);

/* ---- fleet history ----------------------------------------------------- */

struct drv_fleet;

/* A new, empty fleet history; caller frees with drv_fleet_free(). */
struct drv_fleet *drv_fleet_new(const struct drv_predict_config *pc);
void drv_fleet_free(struct drv_fleet *f);
DEFINE_AUTOPTR(drv_fleet)

/* New [predict] settings for a running fleet (its memory and bound);
 * thread-safe. */
void drv_fleet_set_config(struct drv_fleet *f, const struct drv_predict_config *pc);

/* Groups held now. */
size_t drv_fleet_groups(struct drv_fleet *f);
/* Changes whenever a new guest is counted among its groups' guests (a
 * predictor made for a request that is not `counted`).  A guest is counted
 * once, when admitted: whoever persists the fleet saves when this moves,
 * so a crash soon after does not forget the guest. */
uint64_t drv_fleet_guests_generation(struct drv_fleet *f);
/* The overrun price the SLO controller holds for dimension k, in units of
 * the resource (a step over the shape costs as much as allocating that
 * much more for one step), and the violation rate it has seen. */
double drv_fleet_overrun_units(struct drv_fleet *f, enum drv_res_kind k);
double drv_fleet_violation_rate(struct drv_fleet *f, enum drv_res_kind k);

/* The fleet as plain records, for the database: fixed size, no pointers;
 * `version` changes whenever the layout does (a record of another version
 * is refused on import).  Store each as bytes keyed by `key`.
 *
 * A group record holds what cold starts read: use as a share of the
 * ceiling by time since boot and by hour of day.  The calibration record
 * (one per fleet) holds the pooled distributions of use around each model
 * setting's forecast, new guests start from, and the SLO controller's
 * overrun prices. */
#define DRV_FLEET_RECORD_VERSION 1
#define DRV_FLEET_KEY_MAX 96
#define DRV_FLEET_AGE_BUCKETS 8    /* since boot: <5m, <15m, <1h, <3h, <12h, <1d, <3d, more */
#define DRV_FLEET_TOD_BUCKETS 24   /* hour of day */
#define DRV_FLEET_SHARE_BUCKETS 24 /* use / ceiling, log-spaced */
#define DRV_PREDICT_MODELS 4       /* model settings (drv_predict_model_name) */
#define DRV_PREDICT_CONDS 6        /* conditioning states per model */
#define DRV_PREDICT_BINS 40        /* residual bins */

struct drv_fleet_record {
    uint32_t version;
    char key[DRV_FLEET_KEY_MAX];  /* "flavor=m1.small", "project=..|name=web-#", "*" */
    double guests;                /* guests that have fed it */
    int64_t updated_s;            /* time of the last sample folded in */
    float age[DRV_RES_LAST][DRV_FLEET_AGE_BUCKETS][DRV_FLEET_SHARE_BUCKETS];
    float tod_sum[DRV_RES_LAST][DRV_FLEET_TOD_BUCKETS];    /* sum of use / ceiling */
    float tod_weight[DRV_RES_LAST][DRV_FLEET_TOD_BUCKETS]; /* samples behind it */
};

struct drv_fleet_calibration {
    uint32_t version;
    int64_t updated_s;
    float resid[DRV_RES_LAST][DRV_PREDICT_MODELS][DRV_PREDICT_CONDS][DRV_PREDICT_BINS];
    float horizon[DRV_RES_LAST][DRV_PREDICT_CONDS][DRV_PREDICT_BINS]; /* longer-horizon */
    double log_overrun[DRV_RES_LAST]; /* SLO controller state */
    double steps[DRV_RES_LAST];       /* samples behind the controller */
    double violations[DRV_RES_LAST];  /* ... and violations among them */
};

/* Every group as records (caller frees *out with free()) and the
 * calibration.  Thread-safe. */
void drv_fleet_export(struct drv_fleet *f, struct drv_fleet_record **out, size_t *n,
                      struct drv_fleet_calibration *calib);
/* Merge records into the fleet (a group with the same key is replaced; the
 * calibration, when given, replaces the fleet's).  Returns 0, or -1 with
 * *err on a record of another version or with bad values (nothing is
 * imported then).  Thread-safe. */
int drv_fleet_import(struct drv_fleet *f, const struct drv_fleet_record *recs, size_t n,
                     const struct drv_fleet_calibration *calib, struct err **err);

/* ---- per-guest predictor ------------------------------------------------ */

struct drv_predictor;

/* A predictor for one guest, primed from `fleet` (borrowed: it must outlive
 * the predictor; NULL: no fleet, so a cold start allocates the ceiling,
 * with bands at 50/90/99% of it and confidence 0).  Caller frees with
 * drv_predictor_free().  Returns NULL with *err on an invalid request (a
 * negative or non-finite ceiling). */
struct drv_predictor *drv_predictor_new(struct drv_fleet *fleet,
                                        const struct drv_predict_request *req,
                                        const struct drv_predict_config *pc,
                                        struct err **err);
void drv_predictor_free(struct drv_predictor *p);
DEFINE_AUTOPTR(drv_predictor)

/* New settings for a running predictor, used from the next observe() or
 * blueprint() on: every one but season_bin_s, which sizes its seasonal
 * profile and applies to predictors made from then on. */
void drv_predictor_set_config(struct drv_predictor *p, const struct drv_predict_config *pc);

/* The flavor changed (resize): new ceiling, history kept. */
void drv_predictor_set_ceiling(struct drv_predictor *p, struct drv_res ceiling);

/* The use measured over the interval ending at t_s.  Samples at or before
 * the last one are ignored, as are non-finite or negative values (the
 * dimension keeps its last reading).  Feeds the fleet too. */
void drv_predictor_observe(struct drv_predictor *p, int64_t t_s, const struct drv_res *use);

/* The engine put `shape` in force at t_s (a reshape applied, a squeeze, a
 * placement, a failed reshape's shape read back).  For samples after t_s
 * the SLO controller counts a violation as use above that shape rather
 * than above the predictor's own allocation.  A sample is not the
 * allocation's outcome -- it moves neither the SLO controller nor the
 * guest's fairness term, as the engine and not the price decided it --
 * while `squeezed` (the engine holds the guest below what it would give
 * it, for a host shortage) or while the shape is below the allocation
 * followed (the engine limited it).  A dimension at 0 (unlimited),
 * negative or not finite: not told (the allocation followed counts).
 * Called by the one owner of the predictor. */
void drv_predictor_applied(struct drv_predictor *p, int64_t t_s, const struct drv_res *shape,
                           bool squeezed);

/* What the predictor says about the interval that ends at t_s (the next
 * sample): the fast path of blueprint() for one step, used by the replay
 * and by a control loop that reshapes every sample. */
struct drv_predict_step {
    double q[DRV_Q_LAST][DRV_RES_LAST]; /* bands p50, p90, p99 */
    struct drv_res alloc;              /* the allocation the cost model picks */
    double confidence[DRV_RES_LAST];   /* in [0,1] */
    int model[DRV_RES_LAST];           /* the model setting followed (index;
                                        * -1: cold start from the fleet) */
};
void drv_predictor_next(struct drv_predictor *p, int64_t t_s, const struct drv_cost_model *cm,
                        struct drv_predict_step *out);

/* The blueprint from now_s over horizon_s at step_s: bands, confidences,
 * model, and bp->alloc set to the allocation the cost model picks per step
 * (changes only where the saving beats the reshape price).  Caller frees
 * with drv_blueprint_free().  Returns NULL with *err when the horizon or
 * step is out of the blueprint's bounds. */
struct drv_blueprint *drv_predictor_blueprint(struct drv_predictor *p, int64_t now_s,
                                              int32_t horizon_s, int32_t step_s,
                                              const struct drv_cost_model *cm,
                                              struct err **err);

/* The long run (bp->longrun, bp->longrun_mean) of every dimension with a
 * ceiling: the distribution of use over the days the guest stays -- its
 * own decayed history mixed with its fleet group's (settled guests, worth
 * a day of samples), or its own alone once it has a day of it.  Left at
 * zero (not known) while neither exists: admission then goes by the
 * horizon's bands.  What admission weighs, as no guest ever moves between
 * hosts.  drv_predictor_blueprint() fills it too. */
void drv_predictor_longrun(struct drv_predictor *p, int64_t now_s, struct drv_blueprint *bp);

/* ---- per-guest state across restarts ---------------------------------- */

/* A predictor's learnt state as bytes the database can keep, so a restart
 * of the service continues each guest where it stopped instead of a cold
 * start: a header ("SCPS", the layout version, the body's length, its
 * CRC-32), then fixed-width little-endian fields -- the guest's recent
 * readings, seasonal profiles, calibration, long run, each model
 * setting's recent cost, what it said about the awaited sample, its SLO
 * fairness term.  At most drv_predictor_state_max() bytes.  The version
 * changes whenever the layout does. */
#define DRV_PREDICTOR_STATE_VERSION 1

size_t drv_predictor_state_max(void);

/* The state of p into *out (caller frees with free()); returns its
 * length.  Called by the predictor's one owner. */
size_t drv_predictor_export(const struct drv_predictor *p, unsigned char **out);

/* The CRC-32 of an exported state's body, as its header records it (0
 * for bytes shorter than a header): two exports of one predictor with
 * the same CRC and length are, but for a 2^-32 chance, the same state --
 * what a caller saving only changed states compares. */
uint32_t drv_predictor_state_crc(const void *data, size_t len);

/* A predictor for the guest of req (as drv_predictor_new(), and counted:
 * the guest was counted among its groups' guests when admitted) that
 * continues from `data`, with the settings pc (as after
 * drv_predictor_set_config(): the seasonal bin width stays the state's).
 * It then says and learns exactly what the exported predictor would have.
 * NULL with *err: ERR_UNSUPPORTED for another layout version, ERR_INVALID
 * for bytes that are not a state, truncated or damaged ones (CRC), a
 * field out of range, or a state of other dimensions than req's -- the
 * caller then starts the guest cold. */
struct drv_predictor *drv_predictor_import(struct drv_fleet *fleet,
                                           const struct drv_predict_request *req,
                                           const struct drv_predict_config *pc, const void *data,
                                           size_t len, struct err **err);

/* Samples observed, and the name of model setting i ("level", "peak",
 * "season", "spike"; "cold" for -1). */
uint64_t drv_predictor_samples(const struct drv_predictor *p);
const char *drv_predict_model_name(int model);
int drv_predict_model_count(void);

#endif
