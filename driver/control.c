#include "driver/control.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/host_priv.h"

LOG_INIT("driver.control");

struct ctl_guest {
    char uuid[DRV_UUID_LEN + 1];
    struct drv_predictor *pred;   /* owned */
    struct drv_blueprint *custom; /* owned; an operator's blueprint, NULL when none */
    bool saved;                   /* saved_crc/saved_len describe the state last saved */
    uint64_t resized_gen;         /* resize_gen its last drv_control_resize() made */
    uint32_t saved_crc;
    size_t saved_len;
};

struct drv_control {
    pthread_mutex_t lock; /* guards the guest table and the predictors */
    struct drv_sculpt *engine;
    struct drv_hv *hv;
    struct drv_fleet *fleet;
    struct drv_predict_config pc;
    struct drv_cost_model cm;
    struct drv_control_params p;
    struct drv_control_callbacks cb;
    struct ctl_guest *guests;
    size_t nguests, capguests;
    uint64_t resize_gen;  /* drv_control_resize() successes so far (under lock) */
    /* a change reaches the backend under it, the loop's and a resize's
     * (drv_control_apply_lock): taken before `lock`, never inside it */
    pthread_mutex_t apply_lock;
    /* the loop's thread */
    pthread_mutex_t run_lock;
    pthread_cond_t run_cond;
    pthread_t thread;
    bool running, stopping;
};

void drv_control_params_from_cfg(const struct cfg *cfg, struct drv_control_params *out)
{
    out->step_s = (int32_t)cfg->engine_step_s;
    out->horizon_s = (int32_t)cfg->blueprint_horizon_s;
    out->bp_step_s = (int32_t)cfg->blueprint_step_s;
    out->default_priority = (int32_t)cfg->engine_default_priority;
}

void drv_control_config_from_cfg(const struct cfg *cfg, struct drv_control_config *out)
{
    drv_predict_config_from_cfg(cfg, &out->predict);
    drv_cost_model_from_cfg(cfg, &out->cost);
    drv_control_params_from_cfg(cfg, &out->params);
}

static int ctl_params_validate(const struct drv_control_params *p, struct err **err)
{
    if (p->step_s < 1 || p->bp_step_s < 1 || p->horizon_s < p->bp_step_s ||
        p->horizon_s / p->bp_step_s > DRV_BLUEPRINT_MAX_STEPS)
        return err_set(err, ERR_INVALID, "control loop: step %d s, blueprint %d s every %d s",
                       p->step_s, p->horizon_s, p->bp_step_s);
    return 0;
}

struct drv_control *drv_control_new(struct drv_sculpt *engine, struct drv_hv *hv,
                                    struct drv_fleet *fleet, const struct drv_predict_config *pc,
                                    const struct drv_cost_model *cm,
                                    const struct drv_control_params *p,
                                    const struct drv_control_callbacks *cb, struct err **err)
{
    if (!engine || !hv || !fleet) {
        err_set(err, ERR_INVALID, "control loop: engine, backend and fleet are required");
        return NULL;
    }
    if (ctl_params_validate(p, err) < 0)
        return NULL;
    struct drv_control *c = xzalloc(sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->run_lock, NULL);
    pthread_mutex_init(&c->apply_lock, NULL);
    pthread_cond_init(&c->run_cond, NULL);
    c->engine = engine;
    c->hv = hv;
    c->fleet = fleet;
    c->pc = *pc;
    c->cm = *cm;
    c->p = *p;
    if (cb)
        c->cb = *cb;
    return c;
}

int drv_control_set_config(struct drv_control *c, const struct drv_predict_config *pc,
                           const struct drv_cost_model *cm, const struct drv_control_params *p,
                           struct err **err)
{
    if (p && ctl_params_validate(p, err) < 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    if (pc) {
        c->pc = *pc;
        for (size_t i = 0; i < c->nguests; i++)
            drv_predictor_set_config(c->guests[i].pred, pc);
    }
    if (cm)
        c->cm = *cm;
    if (p) {
        /* the thread reads its period under run_lock */
        pthread_mutex_lock(&c->run_lock);
        c->p = *p;
        pthread_cond_broadcast(&c->run_cond);
        pthread_mutex_unlock(&c->run_lock);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void drv_control_free(struct drv_control *c)
{
    if (!c)
        return;
    drv_control_stop(c);
    for (size_t i = 0; i < c->nguests; i++) {
        drv_predictor_free(c->guests[i].pred);
        drv_blueprint_free(c->guests[i].custom);
    }
    free(c->guests);
    pthread_cond_destroy(&c->run_cond);
    pthread_mutex_destroy(&c->run_lock);
    pthread_mutex_destroy(&c->apply_lock);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct drv_host *drv_control_host(struct drv_hv *hv, const struct cfg *cfg, struct err **err)
{
    struct drv_host_limits lim;
    drv_host_limits_from_cfg(cfg, &lim);
    if (cfg->host_topology_file && cfg->host_topology_file[0])
        return drv_host_load(cfg->host_topology_file, &lim, err);
    struct drv_hv_host info;
    if (drv_hv_host_info(hv, &info, err) < 0)
        return NULL;
    lim.mem_mib = info.mem_mib; /* the host's memory (see drv_host_limits) */
    struct drv_host *h = NULL;
    if (hv->ops->topology) {
        struct drv_host_builder b;
        drv_host_builder_init(&b, &lim, "capabilities"); /* the same, given directly */
        if (hv->ops->topology(hv, &b, err) == 0)
            h = drv_host_build(&b, err);
        drv_host_builder_release(&b);
    } else {
        autofree char *xml = drv_hv_capabilities(hv, err);
        if (!xml)
            return NULL;
        h = drv_host_parse(xml, &lim, err);
    }
    if (!h)
        err_wrap(err, "host topology from the %s backend", hv->ops->name);
    return h;
}

static struct ctl_guest *ctl_find(struct drv_control *c, const char *uuid)
{
    for (size_t i = 0; i < c->nguests; i++)
        if (strcmp(c->guests[i].uuid, uuid) == 0)
            return &c->guests[i];
    return NULL;
}

/* The engine's spec and the predictor's request of an instance, made to
 * agree on the ceiling and on the dimensions worth predicting. */
static int ctl_describe(struct drv_control *c, const struct drv_instance *inst, int64_t now_s,
                        struct drv_sculpt_guest_spec *spec, struct drv_predict_request *req,
                        struct err **err)
{
    if (drv_sculpt_spec_from_instance(inst, drv_sculpt_host(c->engine), c->p.default_priority, spec,
                                      err) < 0)
        return -1;
    drv_predict_request_from_instance(inst, req);
    req->ceiling = spec->ceiling;
    req->resources = 0;
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (spec->ceiling.v[k] > 0)
            req->resources |= 1u << k;
    if (req->boot_s <= 0)
        req->boot_s = now_s;
    return 0;
}

static void ctl_add(struct drv_control *c, const char *uuid, struct drv_predictor *pred)
{
    if (c->nguests == c->capguests) {
        c->capguests = c->capguests ? 2 * c->capguests : 16;
        c->guests = xreallocarray(c->guests, c->capguests, sizeof(*c->guests));
    }
    struct ctl_guest *g = &c->guests[c->nguests++];
    memset(g, 0, sizeof(*g));
    snprintf(g->uuid, sizeof(g->uuid), "%s", uuid);
    g->pred = pred;
}

/* A saved predictor state to continue from (NULL: none). */
struct ctl_saved {
    const unsigned char *state;
    size_t len;
    bool restored; /* set when the state was read */
};

/* The predictor of a guest: from its saved state when one reads, else
 * from the fleet (lock held). */
static struct drv_predictor *ctl_predictor(struct drv_control *c,
                                           const struct drv_predict_request *req,
                                           struct ctl_saved *saved, struct err **err)
{
    if (saved && saved->state) {
        autoerr struct err *e = NULL;
        struct drv_predictor *p =
            drv_predictor_import(c->fleet, req, &c->pc, saved->state, saved->len, &e);
        if (p) {
            saved->restored = true;
            return p;
        }
        log_err(LOG_LEVEL_WARN, e, "saved predictor state not used: the guest starts from "
                                   "the fleet");
    }
    return drv_predictor_new(c->fleet, req, &c->pc, err);
}

/* Predictor and first blueprint of a guest not held yet (lock held). */
static int ctl_prepare(struct drv_control *c, const struct drv_instance *inst, int64_t now_s,
                       bool counted, struct ctl_saved *saved, struct drv_sculpt_guest_spec *spec,
                       struct drv_predictor **pred, struct drv_blueprint **bp, struct err **err)
{
    struct drv_predict_request req;
    if (ctl_describe(c, inst, now_s, spec, &req, err) < 0)
        return -1;
    req.counted = counted;
    if (ctl_find(c, spec->uuid))
        return err_set(err, ERR_CONFLICT, "guest `%s` is already held", spec->uuid);
    *pred = ctl_predictor(c, &req, saved, err);
    if (!*pred)
        return -1;
    *bp = drv_predictor_blueprint(*pred, now_s, c->p.horizon_s, c->p.bp_step_s, &c->cm, err);
    if (!*bp) {
        drv_predictor_free(*pred);
        return -1;
    }
    return 0;
}

int drv_control_admit(struct drv_control *c, const struct drv_instance *inst, int64_t now_s,
                      struct drv_shape *shape, struct drv_sculpt_refusal *why, struct err **err)
{
    return drv_control_admit_with(c, inst, NULL, now_s, shape, why, err);
}

int drv_control_admit_with(struct drv_control *c, const struct drv_instance *inst,
                           const struct drv_blueprint *custom, int64_t now_s,
                           struct drv_shape *shape, struct drv_sculpt_refusal *why,
                           struct err **err)
{
    return drv_control_admit_reclaiming(c, inst, custom, now_s, NULL, shape, why, err);
}

int drv_control_admit_reclaiming(struct drv_control *c, const struct drv_instance *inst,
                                 const struct drv_blueprint *custom, int64_t now_s,
                                 struct drv_control_reclaim *r, struct drv_shape *shape,
                                 struct drv_sculpt_refusal *why, struct err **err)
{
    return drv_control_admit_state(c, inst, custom, now_s, r, NULL, 0, NULL, shape, why, err);
}

int drv_control_admit_state(struct drv_control *c, const struct drv_instance *inst,
                            const struct drv_blueprint *custom, int64_t now_s,
                            struct drv_control_reclaim *r, const unsigned char *state,
                            size_t len, bool *restored, struct drv_shape *shape,
                            struct drv_sculpt_refusal *why, struct err **err)
{
    if (r)
        r->taken = 0;
    if (restored)
        *restored = false;
    if (custom && drv_blueprint_validate(custom, err) < 0)
        return -1;
    struct drv_sculpt_guest_spec spec;
    struct drv_predictor *pred;
    struct drv_blueprint *bp;
    struct ctl_saved saved = {.state = state, .len = len};
    pthread_mutex_lock(&c->lock);
    /* a guest coming back with its state was counted by the fleet when
     * it was first admitted */
    int rc = ctl_prepare(c, inst, now_s, state != NULL, &saved, &spec, &pred, &bp, err);
    if (rc == 0) {
        rc = drv_sculpt_place_reclaiming(c->engine, &spec, custom ? custom : bp, now_s,
                                         r ? r->order : NULL, r ? r->n : 0,
                                         r ? &r->taken : NULL, shape, why, err);
        if (rc == 0) {
            drv_predictor_applied(pred, now_s, &shape->res, false);
            ctl_add(c, spec.uuid, pred);
            if (restored)
                *restored = saved.restored;
            if (custom)
                c->guests[c->nguests - 1].custom = drv_blueprint_dup(custom);
            else if (c->cb.blueprint)
                c->cb.blueprint(spec.uuid, bp, c->cb.opaque);
        } else {
            drv_predictor_free(pred);
        }
        drv_blueprint_free(bp);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* A running guest held with its shape; counted: the fleet knows it
 * already (a restart), else it is counted now (a hand-over). */
static int ctl_adopt(struct drv_control *c, const struct drv_instance *inst,
                     const struct drv_shape *shape, int64_t now_s, bool counted,
                     const unsigned char *state, size_t len, bool *restored, struct err **err)
{
    struct drv_sculpt_guest_spec spec;
    struct drv_predictor *pred;
    struct drv_blueprint *bp;
    struct ctl_saved saved = {.state = state, .len = len};
    pthread_mutex_lock(&c->lock);
    int rc = ctl_prepare(c, inst, now_s, counted, &saved, &spec, &pred, &bp, err);
    if (rc == 0) {
        rc = drv_sculpt_adopt(c->engine, &spec, bp, shape, now_s, err);
        if (rc == 0) {
            drv_predictor_applied(pred, now_s, &shape->res, false);
            ctl_add(c, spec.uuid, pred);
        } else {
            drv_predictor_free(pred);
        }
        drv_blueprint_free(bp);
    }
    pthread_mutex_unlock(&c->lock);
    if (restored)
        *restored = rc == 0 && saved.restored;
    return rc;
}

int drv_control_adopt(struct drv_control *c, const struct drv_instance *inst,
                      const struct drv_shape *shape, int64_t now_s, struct err **err)
{
    return ctl_adopt(c, inst, shape, now_s, true, NULL, 0, NULL, err);
}

int drv_control_adopt_new(struct drv_control *c, const struct drv_instance *inst,
                          const struct drv_shape *shape, int64_t now_s, struct err **err)
{
    return ctl_adopt(c, inst, shape, now_s, false, NULL, 0, NULL, err);
}

int drv_control_adopt_state(struct drv_control *c, const struct drv_instance *inst,
                            const struct drv_shape *shape, int64_t now_s,
                            const unsigned char *state, size_t len, bool *restored,
                            struct err **err)
{
    return ctl_adopt(c, inst, shape, now_s, true, state, len, restored, err);
}

/* Every guest's state (changed_only: only those that differ from the
 * one last saved); *held gets how many guests are held. */
static struct drv_control_state *ctl_states(struct drv_control *c, bool changed_only, size_t *n,
                                            size_t *held)
{
    pthread_mutex_lock(&c->lock);
    struct drv_control_state *v = xcalloc(c->nguests + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < c->nguests; i++) {
        const struct ctl_guest *g = &c->guests[i];
        struct drv_control_state *s = &v[k];
        s->len = drv_predictor_export(g->pred, &s->state);
        s->crc = drv_predictor_state_crc(s->state, s->len);
        if (changed_only && g->saved && g->saved_crc == s->crc && g->saved_len == s->len) {
            free(s->state);
            s->state = NULL;
            continue;
        }
        snprintf(s->uuid, sizeof(s->uuid), "%s", g->uuid);
        s->samples = drv_predictor_samples(g->pred);
        k++;
    }
    *n = k;
    if (held)
        *held = c->nguests;
    pthread_mutex_unlock(&c->lock);
    return v;
}

struct drv_control_state *drv_control_states(struct drv_control *c, size_t *n)
{
    return ctl_states(c, false, n, NULL);
}

struct drv_control_state *drv_control_states_changed(struct drv_control *c, size_t *n,
                                                     size_t *held)
{
    return ctl_states(c, true, n, held);
}

void drv_control_states_saved(struct drv_control *c, const struct drv_control_state *v,
                              size_t n)
{
    pthread_mutex_lock(&c->lock);
    /* v is in the table's order unless guests came or went in between */
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        while (j < c->nguests && strcmp(c->guests[j].uuid, v[i].uuid) != 0)
            j++;
        struct ctl_guest *g = j < c->nguests ? &c->guests[j] : ctl_find(c, v[i].uuid);
        if (!g) {
            j = 0;
            continue;
        }
        j = (size_t)(g - c->guests) + 1;
        g->saved = true;
        g->saved_crc = v[i].crc;
        g->saved_len = v[i].len;
    }
    pthread_mutex_unlock(&c->lock);
}

void drv_control_states_free(struct drv_control_state *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].state);
    free(v);
}

int drv_control_forget(struct drv_control *c, const char *uuid, struct err **err)
{
    pthread_mutex_lock(&c->lock);
    struct ctl_guest *g = ctl_find(c, uuid);
    if (!g) {
        pthread_mutex_unlock(&c->lock);
        return err_set(err, ERR_NOT_FOUND, "the control loop holds no guest `%s`", uuid);
    }
    drv_predictor_free(g->pred);
    drv_blueprint_free(g->custom);
    *g = c->guests[--c->nguests];
    pthread_mutex_unlock(&c->lock);
    struct err *e = NULL;
    if (drv_sculpt_remove(c->engine, uuid, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND) {
        *err = e;
        return -1;
    }
    err_free(e);
    return 0;
}

int drv_control_override(struct drv_control *c, const char *uuid, const struct drv_blueprint *bp,
                         struct err **err)
{
    if (drv_blueprint_validate(bp, err) < 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    struct ctl_guest *g = ctl_find(c, uuid);
    if (g) {
        drv_blueprint_free(g->custom);
        g->custom = drv_blueprint_dup(bp);
    }
    pthread_mutex_unlock(&c->lock);
    if (!g)
        return err_set(err, ERR_NOT_FOUND, "the control loop holds no guest `%s`", uuid);
    return drv_sculpt_set_blueprint(c->engine, uuid, bp, err);
}

struct drv_blueprint *drv_control_blueprint(struct drv_control *c, const char *uuid,
                                            struct err **err)
{
    struct drv_blueprint *out = NULL;
    pthread_mutex_lock(&c->lock);
    struct ctl_guest *g = ctl_find(c, uuid);
    if (g && g->custom)
        out = drv_blueprint_dup(g->custom);
    else if (g)
        out = drv_predictor_blueprint(g->pred, clock_wall_ms() / 1000, c->p.horizon_s,
                                      c->p.bp_step_s, &c->cm, err);
    pthread_mutex_unlock(&c->lock);
    if (!g)
        err_set(err, ERR_NOT_FOUND, "the control loop holds no guest `%s`", uuid);
    return out;
}

/* ---- one step ---- */

/* Samples in, blueprints out (lock held). */
static void ctl_learn(struct drv_control *c, int64_t now_s, const struct drv_hv_sample *samples,
                      size_t nsamples, struct drv_control_report *r)
{
    for (size_t i = 0; i < nsamples; i++) {
        const struct drv_hv_sample *s = &samples[i];
        struct ctl_guest *g = ctl_find(c, s->uuid);
        if (!g)
            continue; /* not ours, or forgotten meanwhile */
        r->samples++;
        if (c->cb.sample)
            c->cb.sample(s, c->cb.opaque);
        int64_t t = s->wall_ms / 1000;
        /* a first sample holds only memory: rates need two; a booting
         * guest's memory is not known yet (0 in s->use, which the engine
         * reads as no pressure; the predictor would learn it) */
        if (s->interval_s > 0 && !s->raw.guest_mem_pending)
            drv_predictor_observe(g->pred, t, &s->use);
        struct err *e = NULL;
        if (drv_sculpt_observe(c->engine, g->uuid, s->use, t, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "observed use of `%s` not taken", g->uuid);
        err_free(e);
        e = NULL;
        /* its balloon driver reports: the guest's kernel is up (the end
         * of a boot, with its use: drv_sculpt_boot); a first sample has no
         * use to tell whether the burst is spent */
        if (s->interval_s > 0 && s->raw.has_guest_mem && !s->raw.guest_mem_pending) {
            int64_t at = s->raw.guest_stats_wall_s > 0 ? s->raw.guest_stats_wall_s : t;
            if (drv_sculpt_guest_up(c->engine, g->uuid, at, &e) < 0)
                log_err(LOG_LEVEL_WARN, e, "boot of `%s` not followed", g->uuid);
            err_free(e);
            e = NULL;
        }
        /* a guest that did not plug the memory asked holds what it has */
        int held = drv_sculpt_hold_memory(c->engine, g->uuid, s->mem_short_mib, &e);
        if (held < 0)
            log_err(LOG_LEVEL_WARN, e, "memory held by `%s` not taken", g->uuid);
        else if (held && s->mem_short_mib > 0)
            log_warn("`%s` holds %.0f MiB, short of the memory asked: the engine counts that "
                     "and asks no more until it catches up",
                     g->uuid, s->mem_short_mib);
        else if (held)
            log_info("`%s` no longer short of its memory: the engine may grow it again", g->uuid);
        err_free(e);
    }
    for (size_t i = 0; i < c->nguests; i++) {
        struct ctl_guest *g = &c->guests[i];
        struct err *e = NULL;
        struct drv_blueprint *bp = NULL;
        if (g->custom &&
            now_s >= g->custom->start_s + (int64_t)g->custom->nsteps * g->custom->step_s) {
            log_info("custom blueprint of `%s` ended, back to the predictor's", g->uuid);
            drv_blueprint_free(g->custom);
            g->custom = NULL;
        }
        if (!g->custom)
            bp =
                drv_predictor_blueprint(g->pred, now_s, c->p.horizon_s, c->p.bp_step_s, &c->cm, &e);
        const struct drv_blueprint *use = g->custom ? g->custom : bp;
        if (use && drv_sculpt_set_blueprint(c->engine, g->uuid, use, &e) == 0) {
            r->revised++;
            if (c->cb.blueprint && !g->custom)
                c->cb.blueprint(g->uuid, use, c->cb.opaque);
        } else {
            log_err(LOG_LEVEL_WARN, e, "blueprint of `%s` not revised", g->uuid);
        }
        err_free(e);
        drv_blueprint_free(bp);
    }
    r->guests = c->nguests;
}

/* Tell a guest's predictor the shape the engine put in force at t_s, so
 * its SLO controller counts violations against what held (a squeeze, the
 * engine's hysteresis) and not against its own allocation. */
static void ctl_tell_applied(struct drv_control *c, const char *uuid, int64_t t_s,
                             const struct drv_shape *shape, bool squeezed)
{
    pthread_mutex_lock(&c->lock);
    struct ctl_guest *g = ctl_find(c, uuid);
    if (g)
        drv_predictor_applied(g->pred, t_s, &shape->res, squeezed);
    pthread_mutex_unlock(&c->lock);
}

/* Whether the guest was resized since the step that computed its change
 * (resize_gen `gen0` then): the engine holds it at the resize's shape
 * now, which the change would undo. */
static bool ctl_resized_since(struct drv_control *c, const char *uuid, uint64_t gen0)
{
    pthread_mutex_lock(&c->lock);
    struct ctl_guest *g = ctl_find(c, uuid);
    bool stale = g && g->resized_gen > gen0;
    pthread_mutex_unlock(&c->lock);
    return stale;
}

/* Apply one change, computed when resize_gen was `gen0`; on refusal tell
 * the engine what is in force.  A change for a guest resized since is
 * dropped: drv_control_resize() replaced the engine's record of it. */
static void ctl_apply(struct drv_control *c, const struct drv_sculpt_change *ch, uint64_t gen0,
                      int64_t now_s, struct drv_control_report *r)
{
    struct drv_hv_reshape_report rep;
    struct err *e = NULL;
    memset(&rep, 0, sizeof(rep));
    log_ctx_set_instance(ch->uuid);
    /* checked and applied under apply_lock: a resize's own reshape, which
     * follows its drv_control_resize(), comes after this one or finds the
     * change dropped */
    pthread_mutex_lock(&c->apply_lock);
    if (ctl_resized_since(c, ch->uuid, gen0)) {
        pthread_mutex_unlock(&c->apply_lock);
        r->stale++;
        log_info("%s dropped: the guest was resized since it was computed (%s)",
                 drv_sculpt_change_kind_name(ch->kind), ch->why);
        log_ctx_set_instance(NULL);
        return;
    }
    int64_t token = c->cb.apply_begin ? c->cb.apply_begin(ch, c->cb.opaque) : 0;
    int rc = drv_hv_reshape(c->hv, ch->uuid, &ch->to, &rep, &e);
    pthread_mutex_unlock(&c->apply_lock);
    if (rc == 0) {
        r->applied++;
        if (ch->kind != DRV_SCULPT_CHANGE_REPIN) /* a re-pinning keeps the entitlement */
            ctl_tell_applied(c, ch->uuid, now_s, &ch->to, ch->kind == DRV_SCULPT_CHANGE_SQUEEZE);
        log_debug("%s: %s", drv_sculpt_change_kind_name(ch->kind), ch->why);
        if (c->cb.change)
            c->cb.change(ch, token, &rep, NULL, c->cb.opaque);
        log_ctx_set_instance(NULL);
        return;
    }
    r->failed++;
    log_err(LOG_LEVEL_WARN, e, "%s not applied, retried next step",
            drv_sculpt_change_kind_name(ch->kind));
    /* the knobs already changed stay changed: read back what holds (the
     * memory as asked: a balloon set is on its way) */
    struct drv_hv_info info;
    struct drv_shape asked;
    struct err *e2 = NULL;
    const struct drv_shape *actual = &ch->from;
    if (drv_hv_get_info(c->hv, ch->uuid, &info, &e2) == 0) {
        drv_hv_info_asked(&info, &asked);
        if (drv_shape_validate(&asked, NULL) == 0)
            actual = &asked;
    }
    err_free(e2);
    e2 = NULL;
    if (drv_sculpt_revert(c->engine, ch->uuid, actual, &e2) < 0 && err_code_of(e2) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_ERROR, e2, "engine could not take back the shape in force");
    err_free(e2);
    if (ch->kind != DRV_SCULPT_CHANGE_REPIN)
        ctl_tell_applied(c, ch->uuid, now_s, actual, false);
    if (c->cb.change)
        c->cb.change(ch, token, NULL, e, c->cb.opaque);
    err_free(e);
    log_ctx_set_instance(NULL);
}

int drv_control_boot(struct drv_control *c, const char *uuid, int64_t now_s, struct err **err)
{
    struct drv_sculpt_change ch;
    pthread_mutex_lock(&c->lock);
    uint64_t gen0 = c->resize_gen;
    int rc = drv_sculpt_boot(c->engine, uuid, now_s, &ch, err);
    pthread_mutex_unlock(&c->lock);
    if (rc <= 0)
        return rc;
    struct drv_control_report r = {.t_s = now_s};
    ctl_apply(c, &ch, gen0, now_s, &r);
    return r.applied ? 1 : 0;
}

int drv_control_step(struct drv_control *c, int64_t now_s, struct drv_control_report *out,
                     struct err **err)
{
    struct drv_control_report r = {.t_s = now_s};
    int64_t t0 = clock_mono_ns();

    struct drv_hv_sample *samples = NULL;
    size_t nsamples = 0;
    struct err *e = NULL;
    /* a sample may set balloons (libvirt with memory hot-plug: the offset
     * under a stalled unplug, derived from the memory in force): under
     * apply_lock, so it never lands over a resize's reshape decided from
     * another memory */
    pthread_mutex_lock(&c->apply_lock);
    int src = drv_hv_sample(c->hv, &samples, &nsamples, &e);
    pthread_mutex_unlock(&c->apply_lock);
    if (src < 0) {
        /* reshape on what is known: blueprints still advance */
        r.sample_failed = true;
        log_err(LOG_LEVEL_WARN, e, "usage not sampled this step");
        err_free(e);
        samples = NULL;
        nsamples = 0;
    }
    int64_t t1 = clock_mono_ns();
    pthread_mutex_lock(&c->lock);
    ctl_learn(c, now_s, samples, nsamples, &r);
    pthread_mutex_unlock(&c->lock);
    free(samples);
    int64_t t2 = clock_mono_ns();

    struct drv_sculpt_change *changes = NULL;
    size_t n = 0;
    /* under the lock, so no drv_control_resize() comes between the
     * changes and the generation they are computed at */
    pthread_mutex_lock(&c->lock);
    uint64_t gen0 = c->resize_gen;
    int rc = drv_sculpt_step(c->engine, now_s, &changes, &n, err);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0)
        return -1;
    int64_t t3 = clock_mono_ns();
    r.changes = n;
    for (size_t i = 0; i < n; i++)
        ctl_apply(c, &changes[i], gen0, now_s, &r);
    free(changes);
    int64_t t4 = clock_mono_ns();

    r.sample_ns = t1 - t0;
    r.predict_ns = t2 - t1;
    r.engine_ns = t3 - t2;
    r.apply_ns = t4 - t3;
    r.total_ns = t4 - t0;
    if (c->cb.step)
        c->cb.step(&r, c->cb.opaque);
    if (out)
        *out = r;
    return 0;
}

/* ---- the thread ---- */

static void *ctl_thread(void *arg)
{
    struct drv_control *c = arg;
    int64_t next = clock_mono_ns();
    pthread_mutex_lock(&c->run_lock);
    while (!c->stopping) {
        pthread_mutex_unlock(&c->run_lock);
        struct err *e = NULL;
        if (drv_control_step(c, clock_wall_ms() / 1000, NULL, &e) < 0)
            log_err(LOG_LEVEL_ERROR, e, "control step failed");
        err_free(e);
        int64_t last = next;
        pthread_mutex_lock(&c->run_lock);
        /* the period may change while we wait (drv_control_set_config) */
        while (!c->stopping) {
            next = last + (int64_t)c->p.step_s * 1000000000LL;
            int64_t now = clock_mono_ns();
            if (next < now) /* a step longer than the period: do not pile up */
                next = now;
            /* wait on the monotonic clock (run_cond is set up with it) */
            struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
            if (pthread_cond_timedwait(&c->run_cond, &c->run_lock, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&c->run_lock);
    return NULL;
}

int drv_control_start(struct drv_control *c, struct err **err)
{
    pthread_mutex_lock(&c->run_lock);
    if (c->running) {
        pthread_mutex_unlock(&c->run_lock);
        return err_set(err, ERR_CONFLICT, "the control loop already runs");
    }
    /* the condition waits on CLOCK_MONOTONIC, like the step schedule */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&c->run_cond);
    pthread_cond_init(&c->run_cond, &attr);
    pthread_condattr_destroy(&attr);
    c->stopping = false;
    int rc = pthread_create(&c->thread, NULL, ctl_thread, c);
    if (rc != 0) {
        pthread_mutex_unlock(&c->run_lock);
        return err_set_errno(err, rc, "start the control loop thread");
    }
    c->running = true;
    pthread_mutex_unlock(&c->run_lock);
    return 0;
}

void drv_control_stop(struct drv_control *c)
{
    pthread_mutex_lock(&c->run_lock);
    if (!c->running) {
        pthread_mutex_unlock(&c->run_lock);
        return;
    }
    c->stopping = true;
    pthread_cond_broadcast(&c->run_cond);
    pthread_mutex_unlock(&c->run_lock);
    pthread_join(c->thread, NULL);
    pthread_mutex_lock(&c->run_lock);
    c->running = false;
    pthread_mutex_unlock(&c->run_lock);
}

int drv_control_resize(struct drv_control *c, const struct drv_instance *was_inst,
                       const struct drv_instance *inst, int64_t now_s, struct drv_shape *shape,
                       struct drv_sculpt_refusal *why, struct err **err)
{
    return drv_control_resize_reclaiming(c, was_inst, inst, NULL, now_s, NULL, shape, why, err);
}

int drv_control_resize_reclaiming(struct drv_control *c, const struct drv_instance *was_inst,
                                  const struct drv_instance *inst,
                                  const struct drv_blueprint *custom, int64_t now_s,
                                  struct drv_control_reclaim *r, struct drv_shape *shape,
                                  struct drv_sculpt_refusal *why, struct err **err)
{
    if (r)
        r->taken = 0;
    if (custom && drv_blueprint_validate(custom, err) < 0)
        return -1;
    struct drv_sculpt_guest_spec spec, old_spec;
    struct drv_predict_request req, old_req;
    if (strcmp(was_inst->uuid, inst->uuid) != 0)
        return err_set(err, ERR_INVALID, "resize of `%s` described as `%s`", inst->uuid,
                       was_inst->uuid);
    if (ctl_describe(c, inst, now_s, &spec, &req, err) < 0 ||
        ctl_describe(c, was_inst, now_s, &old_spec, &old_req, err) < 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    struct ctl_guest *g = ctl_find(c, inst->uuid);
    struct drv_shape was;
    struct drv_predictor *pred = NULL;
    struct drv_blueprint *bp = NULL, *old_bp = NULL;
    int rc = -1;
    if (!g) {
        err_set(err, ERR_NOT_FOUND, "the control loop holds no guest `%s`", inst->uuid);
        goto cleanup;
    }
    if (drv_sculpt_shape(c->engine, inst->uuid, &was, err) < 0)
        goto cleanup;
    /* a resize here does not reboot the guest: placed again, it boots
     * only if it was booting */
    spec.booted = old_spec.booted = !drv_sculpt_booting(c->engine, inst->uuid);
    /* what puts the guest back as it was when the new one is refused: the
     * blueprint it follows */
    old_bp = g->custom ? drv_blueprint_dup(g->custom)
                       : drv_predictor_blueprint(g->pred, now_s, c->p.horizon_s, c->p.bp_step_s,
                                                 &c->cm, err);
    if (!old_bp)
        goto cleanup;
    req.counted = false; /* a request of another class now */
    pred = drv_predictor_new(c->fleet, &req, &c->pc, err);
    if (!pred)
        goto cleanup;
    bp = drv_predictor_blueprint(pred, now_s, c->p.horizon_s, c->p.bp_step_s, &c->cm, err);
    if (!bp)
        goto cleanup;
    if (drv_sculpt_remove(c->engine, inst->uuid, err) < 0)
        goto cleanup;
    /* idle pool members give their room up as for a build; refused, none
     * was given up */
    if (drv_sculpt_place_reclaiming(c->engine, &spec, custom ? custom : bp, now_s,
                                    r ? r->order : NULL, r ? r->n : 0, r ? &r->taken : NULL, shape,
                                    why, err) < 0) {
        autoerr struct err *e = NULL;
        if (drv_sculpt_adopt(c->engine, &old_spec, old_bp, &was, now_s, &e) < 0)
            log_err(LOG_LEVEL_ERROR, e, "guest %s lost by the engine after a refused resize",
                    inst->uuid);
        goto cleanup;
    }
    drv_predictor_applied(pred, now_s, &shape->res, false);
    drv_predictor_free(g->pred);
    g->pred = steal_pointer(&pred);
    /* an operator's blueprint for the new class is followed as at a
     * build; the old class's is not */
    drv_blueprint_free(g->custom);
    g->custom = custom ? drv_blueprint_dup(custom) : NULL;
    g->resized_gen = ++c->resize_gen;
    if (c->cb.blueprint && !custom)
        c->cb.blueprint(spec.uuid, bp, c->cb.opaque);
    rc = 0;
 cleanup:
    pthread_mutex_unlock(&c->lock);
    drv_predictor_free(pred);
    drv_blueprint_free(bp);
    drv_blueprint_free(old_bp);
    return rc;
}

void drv_control_apply_lock(struct drv_control *c)
{
    pthread_mutex_lock(&c->apply_lock);
}

void drv_control_apply_unlock(struct drv_control *c)
{
    pthread_mutex_unlock(&c->apply_lock);
}
