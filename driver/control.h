/* The service's per-step control loop: sample -> predict -> reshape ->
 * apply.
 *
 * Every step (default 60 s):
 *   1. sample every running guest through the hypervisor backend;
 *   2. feed each guest's predictor and the engine what it used;
 *   3. revise each guest's blueprint (or keep an operator's custom one
 *      while it lasts) and hand it to the engine;
 *   4. let the engine reshape (targets, hysteresis, shortage, defrag);
 *   5. apply each change through the backend; when the backend fails, the
 *      engine is told the shape actually in force and the next step
 *      retries;
 *   6. report everything through callbacks (the compute service persists
 *      usage, blueprints and reshapes and exports metrics from there).
 *
 * The loop borrows the engine, the backend handle and the fleet history:
 * they must outlive it.  It owns one predictor per guest.  All functions
 * are thread-safe (RPC handlers admit and forget guests while the loop
 * runs); callbacks run on the thread that called drv_control_step() --
 * the loop's own thread after drv_control_start() -- and must not call
 * back into the loop.
 */
#ifndef SC_DRIVER_CONTROL_H
#define SC_DRIVER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/blueprint.h"
#include "driver/cost.h"
#include "driver/host.h"
#include "driver/hypervisor.h"
#include "driver/instance.h"
#include "driver/predict.h"
#include "driver/sculpt.h"

struct cfg;
struct err;

struct drv_control_params {
    int32_t step_s;           /* [engine] step_interval */
    int32_t horizon_s;        /* [sculpt] blueprint_horizon */
    int32_t bp_step_s;        /* [sculpt] blueprint_step */
    int32_t default_priority; /* [engine] default_priority */
};

void drv_control_params_from_cfg(const struct cfg *cfg, struct drv_control_params *out);

/* Everything the loop takes from sculpt.conf: its guests' predictors
 * ([predict]), the cost model they and the engine weigh ([cost]) and its
 * own parameters.  What-if predictions outside the loop use the same. */
struct drv_control_config {
    struct drv_predict_config predict;
    struct drv_cost_model cost;
    struct drv_control_params params;
};

/* Fills @out from @cfg (read only; nothing kept). */
void drv_control_config_from_cfg(const struct cfg *cfg, struct drv_control_config *out);

/* What one step did. */
struct drv_control_report {
    int64_t t_s;        /* the step's time (Unix s) */
    size_t guests;      /* guests held */
    size_t samples;     /* usage samples taken for them */
    size_t revised;     /* blueprints revised */
    size_t changes;     /* shape changes the engine made */
    size_t applied;     /* ... applied through the backend */
    size_t failed;      /* ... the backend refused (retried next step) */
    size_t stale;       /* ... dropped: the guest was resized meanwhile */
    bool sample_failed; /* the backend could not be sampled this step */
    int64_t sample_ns, predict_ns, engine_ns, apply_ns, total_ns;
};

/* Callbacks; any may be NULL.  Pointers are valid during the call only. */
struct drv_control_callbacks {
    /* a usage sample of a guest the loop holds */
    void (*sample)(const struct drv_hv_sample *s, void *opaque);
    /* a guest's blueprint was revised (or first made) */
    void (*blueprint)(const char *uuid, const struct drv_blueprint *bp, void *opaque);
    /* a shape change is about to go through the backend (the caller
     * journals it); what it returns comes back to `change` as `token` */
    int64_t (*apply_begin)(const struct drv_sculpt_change *c, void *opaque);
    /* a shape change: applied (err NULL, report filled) or refused by the
     * backend (err set; the engine now holds the shape read back) */
    void (*change)(const struct drv_sculpt_change *c, int64_t token,
                   const struct drv_hv_reshape_report *report, const struct err *err,
                   void *opaque);
    /* the end of a step */
    void (*step)(const struct drv_control_report *r, void *opaque);
    void *opaque;
};

struct drv_control;

/* A loop over `engine`, `hv` and `fleet` (borrowed).  `pc` and `cm` are
 * copied.  Returns NULL with *err on bad parameters. */
struct drv_control *drv_control_new(struct drv_sculpt *engine, struct drv_hv *hv,
                                    struct drv_fleet *fleet, const struct drv_predict_config *pc,
                                    const struct drv_cost_model *cm,
                                    const struct drv_control_params *p,
                                    const struct drv_control_callbacks *cb, struct err **err);
/* Settings changed at run time (any of the three may be NULL: kept):
 * prediction settings for new guests and, as drv_predictor_set_config()
 * allows, for the predictors held; prices for every blueprint from now
 * on; the loop's period (the wait under way is re-timed), blueprint
 * horizon and step, default priority.  ERR_INVALID on bad parameters,
 * nothing changed. */
int drv_control_set_config(struct drv_control *c, const struct drv_predict_config *pc,
                           const struct drv_cost_model *cm, const struct drv_control_params *p,
                           struct err **err);

/* Stops the loop's thread if it runs, then frees; accepts NULL. */
void drv_control_free(struct drv_control *c);
DEFINE_AUTOPTR(drv_control)

/* The host an engine should work on: [host] topology_file when set, else
 * the backend's capabilities XML; [host] and [DEFAULT] limits applied (the
 * backend's memory when the capabilities carry none).  Caller frees. */
struct drv_host *drv_control_host(struct drv_hv *hv, const struct cfg *cfg, struct err **err);

/* A new guest: its predictor (primed from the fleet), its first blueprint,
 * admission and placement by the engine.  On success *shape is the shape to
 * spawn it with (drv_hv_spawn).  -1 with ERR_CAPACITY (the refusal in *why
 * when given, and as the message), ERR_CONFLICT (already held),
 * ERR_INVALID. */
int drv_control_admit(struct drv_control *c, const struct drv_instance *inst, int64_t now_s,
                      struct drv_shape *shape, struct drv_sculpt_refusal *why, struct err **err);

/* The same for a request an operator wrote a blueprint for (a custom
 * blueprint of its class, starting now; copied): the engine admits and
 * follows it, as after drv_control_override(), until its horizon ends,
 * then the predictor's, which learns from the guest meanwhile.  The
 * blueprint callback is not called for it (the caller knows where it
 * came from).  custom NULL: drv_control_admit(). */
int drv_control_admit_with(struct drv_control *c, const struct drv_instance *inst,
                           const struct drv_blueprint *custom, int64_t now_s,
                           struct drv_shape *shape, struct drv_sculpt_refusal *why,
                           struct err **err);

/* Reclaimable guests (idle pool members) a request may take the room of. */
struct drv_control_reclaim {
    const char *const *order; /* their uuids, the cheapest to lose first */
    size_t n;
    size_t taken; /* out: how many of the first the engine gave up (the
                   * caller destroys their guests) */
};

/* drv_control_admit_with() that, when the request does not fit, gives up
 * the fewest first guests of `r` that make it fit
 * (drv_sculpt_place_reclaiming); r NULL: none.  ERR_CAPACITY when even
 * all of them would not make room (nothing given up then). */
int drv_control_admit_reclaiming(struct drv_control *c, const struct drv_instance *inst,
                                 const struct drv_blueprint *custom, int64_t now_s,
                                 struct drv_control_reclaim *r, struct drv_shape *shape,
                                 struct drv_sculpt_refusal *why, struct err **err);

/* drv_control_admit_reclaiming() for a guest that comes back (an
 * unshelve): its predictor continues from `state` (a previous
 * drv_control_states() export; read as drv_control_adopt_state() reads
 * it, a state that cannot be read is logged and the guest starts from the
 * fleet), *restored (may be NULL) says which.  state NULL: a new guest. */
int drv_control_admit_state(struct drv_control *c, const struct drv_instance *inst,
                            const struct drv_blueprint *custom, int64_t now_s,
                            struct drv_control_reclaim *r, const unsigned char *state,
                            size_t len, bool *restored, struct drv_shape *shape,
                            struct drv_sculpt_refusal *why, struct err **err);

/* A guest that already runs with `shape` (start-up reconciliation, a
 * restart of sculpt-compute): held as it is, its predictor starting from
 * the fleet -- which counted it among its groups' guests when it was
 * admitted (a persisted fleet remembers), so it is not counted again.
 * ERR_CONFLICT, ERR_INVALID. */
int drv_control_adopt(struct drv_control *c, const struct drv_instance *inst,
                      const struct drv_shape *shape, int64_t now_s, struct err **err);

/* A held guest asks for another flavor (a Nova resize): `inst` -- the
 * same guest with its new flavor -- is admitted and placed as a build
 * would be, its reservation as `was` given back first, all under the
 * loop's lock so no admission comes between.  On success *shape is the
 * shape to reshape the guest to and its predictor starts again for its new
 * class.  On refusal (ERR_CAPACITY, the reason in *why when given) or
 * ERR_INVALID the engine holds the guest as before, at the shape in force.
 * ERR_NOT_FOUND when the guest is not held. */
int drv_control_resize(struct drv_control *c, const struct drv_instance *was,
                       const struct drv_instance *inst, int64_t now_s, struct drv_shape *shape,
                       struct drv_sculpt_refusal *why, struct err **err);

/* drv_control_resize() that, when the new flavor does not fit, gives up
 * the fewest first guests of `r` (idle pool members) that make it fit, as
 * drv_control_admit_reclaiming() does for a build; r->taken says how many
 * (the caller destroys their guests).  Refused: none given up.  `custom`
 * (may be NULL): an operator's blueprint for the new class, starting now
 * (copied), admitted and followed as drv_control_admit_with() does for a
 * build, until its horizon ends; the guest's new predictor learns
 * meanwhile.  NULL: the predictor's cold-start blueprint for the class. */
int drv_control_resize_reclaiming(struct drv_control *c, const struct drv_instance *was,
                                  const struct drv_instance *inst,
                                  const struct drv_blueprint *custom, int64_t now_s,
                                  struct drv_control_reclaim *r, struct drv_shape *shape,
                                  struct drv_sculpt_refusal *why, struct err **err);

/* Held around a reshape made outside the loop after drv_control_resize()
 * (a resize's own, through the backend): a step's change computed before
 * the resize then either reaches the backend first or is dropped, never
 * after it.  Also around any other reshape made outside the loop (a
 * member re-sculpted at a hand-over): the loop's usage sample runs under
 * it too, since a sample may set a balloon from the memory in force (the
 * libvirt backend's offset under a stalled unplug).  Not under any other
 * lock of the loop's; blocks the loop's changes and samples meanwhile (a
 * cold resize: seconds). */
void drv_control_apply_lock(struct drv_control *c);
void drv_control_apply_unlock(struct drv_control *c);

/* drv_control_adopt() for a guest that runs already but is new to the
 * fleet (a pre-sculpted member handed over to an instance): counted among
 * its groups' guests as drv_control_admit() counts a new one, so the
 * fleet's evidence grows with the builds pools serve.  ERR_CONFLICT,
 * ERR_INVALID. */
int drv_control_adopt_new(struct drv_control *c, const struct drv_instance *inst,
                          const struct drv_shape *shape, int64_t now_s, struct err **err);

/* Guest `uuid` was started or restarted (a power-on, a reboot, a moved
 * guest started on this host): its boot allowance starts again
 * (drv_sculpt_boot) and, when that raises its shape, the change goes
 * through the backend now (journalled and reported as the loop's own
 * changes; a refusal leaves the engine with the shape in force).  Returns
 * 1 when the shape rose, 0 when not, -1 with ERR_NOT_FOUND. */
int drv_control_boot(struct drv_control *c, const char *uuid, int64_t now_s, struct err **err);

/* Forget a guest (destroyed, gone): predictor and engine entry.
 * ERR_NOT_FOUND. */
int drv_control_forget(struct drv_control *c, const char *uuid, struct err **err);

/* An operator's blueprint for a guest, used instead of the predictor's
 * until its horizon ends (validated; copied).  ERR_NOT_FOUND, ERR_INVALID. */
int drv_control_override(struct drv_control *c, const char *uuid, const struct drv_blueprint *bp,
                         struct err **err);

/* A copy of the blueprint the engine follows for a guest; caller frees.
 * NULL with ERR_NOT_FOUND. */
struct drv_blueprint *drv_control_blueprint(struct drv_control *c, const char *uuid,
                                            struct err **err);

/* One guest's predictor state (drv_predictor_export), for the database. */
struct drv_control_state {
    char uuid[DRV_UUID_LEN + 1];
    uint64_t samples;     /* samples its predictor had observed */
    unsigned char *state; /* owned */
    size_t len;
    uint32_t crc;         /* drv_predictor_state_crc() of state */
};

/* The predictor state of every guest held (caller frees with
 * drv_control_states_free()); *n gets how many.  Takes the loop's lock
 * for the copies only: a step may wait about 30 us per guest. */
struct drv_control_state *drv_control_states(struct drv_control *c, size_t *n);
void drv_control_states_free(struct drv_control_state *v, size_t n);

/* As drv_control_states(), only the guests whose state differs from the
 * one last marked saved with drv_control_states_saved() (all of them the
 * first time): a guest that learnt nothing since (stopped, not sampled)
 * is not written again.  *held (may be NULL) gets how many guests are
 * held.  Every state is still exported under the loop's lock (about 30 us
 * a guest); only the copies of the changed ones are kept. */
struct drv_control_state *drv_control_states_changed(struct drv_control *c, size_t *n,
                                                     size_t *held);

/* The states v[0..n) (from drv_control_states_changed()) are saved --
 * queued for the database, which keeps what it acknowledged: the next
 * drv_control_states_changed() leaves out a guest whose state is still
 * the same.  A guest forgotten since is ignored.  Any thread. */
void drv_control_states_saved(struct drv_control *c, const struct drv_control_state *v,
                              size_t n);

/* drv_control_adopt() for a guest whose predictor state a previous run
 * saved: its predictor continues from `state` (drv_predictor_import).  A
 * state that cannot be read (damaged, another layout version, other
 * dimensions) is logged and the guest starts from the fleet; *restored
 * (may be NULL) says which.  state NULL: drv_control_adopt(). */
int drv_control_adopt_state(struct drv_control *c, const struct drv_instance *inst,
                            const struct drv_shape *shape, int64_t now_s,
                            const unsigned char *state, size_t len, bool *restored,
                            struct err **err);

/* Run one step at now_s (Unix s).  *out (may be NULL) gets the report.
 * Returns 0; -1 only on an internal failure (a backend that cannot be
 * sampled is reported, not an error: the step still reshapes on what it
 * knows). */
int drv_control_step(struct drv_control *c, int64_t now_s, struct drv_control_report *out,
                     struct err **err);

/* Run steps on a thread of the loop's own, the first at once, then every
 * step_s on the monotonic clock, stamped with the wall clock.  ERR_CONFLICT
 * when already running. */
int drv_control_start(struct drv_control *c, struct err **err);
/* Stop the thread and wait for it (a step in progress completes). */
void drv_control_stop(struct drv_control *c);

#endif
