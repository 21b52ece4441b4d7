/* Where the compute manager meets the rest of sculpt: the control loop
 * (driver/control.h) turns a request into a blueprint, the engine admits
 * and places it, and the loop reshapes it every step; what runs here and
 * what the loop does is recorded in the database. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/host.h"
#include "driver/sculpt.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_engine");

/* The operator's custom blueprint for the request's class, starting now
 * (db_custom_blueprint_for: the rule the API's previews follow), or NULL.
 * A database that cannot say is logged: the predictor answers instead. */
static struct db_custom_blueprint *engine_custom_blueprint(struct os_compute *c,
                                                           const struct drv_instance *inst,
                                                           int64_t now)
{
    if (!c->db)
        return NULL;
    autoerr struct err *e = NULL;
    struct db_custom_blueprint *cb = db_custom_blueprint_for(c->db, inst, &e);
    if (!cb) {
        if (err_code_of(e) != ERR_NOT_FOUND)
            log_err(LOG_LEVEL_WARN, e, "custom blueprints not read: the predictor's blueprint "
                                       "is used");
        return NULL;
    }
    cb->bp->start_s = now;
    snprintf(cb->bp->model, sizeof(cb->bp->model), "custom:%s", cb->name);
    return cb;
}

/* The band the engine allocates of a revision's blueprint, per resource:
 * the critical quantile of the prices in force (they may have changed
 * since the start). */
static void engine_bands(struct os_compute *c, struct db_blueprint_rev *rev)
{
    struct drv_cost_model cm;
    autocfg cur = cfg_acquire();
    drv_cost_model_from_cfg(cur ? cur : c->cfg, &cm);
    for (int k = 0; k < DRV_RES_LAST; k++)
        rev->band[k] = drv_cost_critical_quantile(&cm, (enum drv_res_kind)k);
}

/* The custom blueprint as the instance's first revision. */
static void engine_record_custom(struct os_compute *c, const char *uuid,
                                 const struct db_custom_blueprint *cb)
{
    if (!c->db)
        return;
    autofree char *reason = xasprintf("custom blueprint `%s` (id %lld)", cb->name,
                                      (long long)cb->id);
    struct db_blueprint_rev rev = {.reason = reason, .bp = cb->bp};
    snprintf(rev.instance_uuid, sizeof(rev.instance_uuid), "%s", uuid);
    engine_bands(c, &rev);
    autoerr struct err *e = NULL;
    if (db_blueprint_add(c->db, &rev, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "blueprint of %s not recorded", uuid);
}

/* The predictor state saved for a guest (an unshelved one's, kept at its
 * offload), or NULL. */
static unsigned char *engine_saved_state(struct os_compute *c, const char *uuid, size_t *len)
{
    *len = 0;
    if (!c->db)
        return NULL;
    autoerr struct err *e = NULL;
    unsigned char *state = db_predictor_state_get(c->db, uuid, len, &e);
    if (!state && err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "saved predictor state of %s not read: it starts from the "
                                   "fleet", uuid);
    return state;
}

static int engine_place(struct os_compute *c, struct os_inst *i, bool again,
                        const unsigned char *carried, size_t carried_len, struct drv_shape *shape,
                        struct err **err)
{
    struct drv_instance *inst = i->inst;
    int64_t now = time(NULL);
    free(inst->domain);
    inst->domain = os_compute_domain_name(i);
    /* The row first: the blueprint the control loop records on admission
     * refers to it (the database writer keeps the order). */
    memset(&inst->shape, 0, sizeof(inst->shape));
    inst->shape.numa_node = -1;
    os_compute_record_instance(c, i);
    /* A build redelivered after a crash finds its guest held already. */
    drv_control_forget(c->control, inst->uuid, NULL);
    struct drv_sculpt_refusal why;
    memset(&why, 0, sizeof(why));
    autoptr(db_custom_blueprint) custom = engine_custom_blueprint(c, inst, now);
    /* idle pool members never cost a real request: the engine takes
     * their room when the request would not fit otherwise */
    struct drv_control_reclaim reclaim;
    os_compute_pools_reclaim_order(c, &reclaim);
    size_t len = carried_len;
    autofree unsigned char *saved =
        again && !carried ? engine_saved_state(c, inst->uuid, &len) : NULL;
    const unsigned char *state = carried ? carried : saved;
    bool restored = false;
    int rc = drv_control_admit_state(c->control, inst, custom ? custom->bp : NULL, now, &reclaim,
                                     state, len, &restored, shape, &why, err);
    os_compute_pools_reclaimed(c, inst->uuid, again ? "unshelve" : "build", &reclaim);
    if (rc < 0)
        return -1;
    if (restored)
        log_info("predictor of %s continues from the state saved when it left (%zu bytes, %s)",
                 inst->uuid, len, carried ? "carried by its shelved image" : "this host's");
    if (custom)
        engine_record_custom(c, inst->uuid, custom);
    char res[160];
    log_info("admitted and placed: %s (%s)", drv_res_format(shape->res, res, sizeof(res)),
             custom ? custom->bp->model : "the predictor's blueprint");
    inst->shape = *shape;
    os_compute_record_instance(c, i);
    return 0;
}

int os_compute_engine_place(struct os_compute *c, struct os_inst *i, struct drv_shape *shape,
                            struct err **err)
{
    return engine_place(c, i, false, NULL, 0, shape, err);
}

int os_compute_engine_place_again(struct os_compute *c, struct os_inst *i,
                                  const unsigned char *carried, size_t carried_len,
                                  struct drv_shape *shape, struct err **err)
{
    return engine_place(c, i, true, carried, carried_len, shape, err);
}

int os_compute_engine_reclass(struct os_compute *c, const struct drv_instance *was,
                              const struct drv_instance *now, const char *what,
                              struct drv_shape *shape, char **custom, struct err **err)
{
    *custom = NULL;
    int64_t t = time(NULL);
    autoptr(db_custom_blueprint) cb = engine_custom_blueprint(c, now, t);
    struct drv_sculpt_refusal why;
    memset(&why, 0, sizeof(why));
    struct drv_control_reclaim reclaim;
    os_compute_pools_reclaim_order(c, &reclaim);
    int rc = drv_control_resize_reclaiming(c->control, was, now, cb ? cb->bp : NULL, t, &reclaim,
                                           shape, &why, err);
    os_compute_pools_reclaimed(c, now->uuid, what, &reclaim);
    if (rc < 0)
        return -1;
    if (cb) {
        engine_record_custom(c, now->uuid, cb);
        *custom = xstrdup(cb->name);
    }
    return 0;
}

int os_compute_engine_adopt(struct os_compute *c, const struct drv_instance *inst,
                            const struct drv_shape *shape, bool new_guest, struct err **err)
{
    if (new_guest)
        return drv_control_adopt_new(c->control, inst, shape, time(NULL), err);
    return drv_control_adopt(c->control, inst, shape, time(NULL), err);
}

int os_compute_engine_restore(struct os_compute *c, const struct drv_instance *inst,
                              const struct drv_shape *shape, struct err **err)
{
    size_t len = 0;
    autofree unsigned char *state = NULL;
    if (c->db) {
        autoerr struct err *e = NULL;
        state = db_predictor_state_get(c->db, inst->uuid, &len, &e);
        if (!state && err_code_of(e) != ERR_NOT_FOUND)
            log_err(LOG_LEVEL_WARN, e, "saved predictor state not read: %s starts from the "
                                       "fleet", inst->uuid);
    }
    bool restored = false;
    if (drv_control_adopt_state(c->control, inst, shape, time(NULL), state, len, &restored,
                                err) < 0)
        return -1;
    if (restored)
        log_info("predictor of %s continues from its saved state (%zu bytes)", inst->uuid, len);
    return 0;
}

int os_compute_predictors_save(struct os_compute *c, size_t *guests, size_t *bytes,
                               struct err **err)
{
    if (!c->db || !c->control)
        return 0;
    size_t n = 0;
    struct drv_control_state *v = drv_control_states_changed(c->control, &n, NULL);
    int rc = db_predictor_states_save(c->db, v, n, bytes, err);
    if (rc == 0)
        drv_control_states_saved(c->control, v, n);
    drv_control_states_free(v, n);
    if (rc == 0 && guests)
        *guests = n;
    return rc;
}

char *os_compute_domain_name(const struct os_inst *i)
{
    int64_t id = 0;
    if (ovo_get_int(i->prim, "id", &id) && id > 0)
        return xasprintf("instance-%08llx", (unsigned long long)id);
    return xasprintf("sculpt-%s", i->inst->uuid);
}

/* An intent of `op` on the instance's domain (`from`, `to` may be NULL). */
static int64_t engine_intent_begin(struct os_compute *c, int op, const struct os_inst *i,
                                   const struct drv_shape *from, const struct drv_shape *to,
                                   const char *step)
{
    if (!c->db)
        return 0;
    autofree char *domain = os_compute_domain_name(i);
    struct db_intent in = {
        .op = (enum db_op)op,
        .domain = domain,
        .has_from = from != NULL,
        .has_to = to != NULL,
        .step = (char *)step,
        .request_id = (char *)os_ctx_str(i->ctx, "request_id"),
    };
    if (from)
        in.from = *from;
    if (to)
        in.to = *to;
    snprintf(in.instance_uuid, sizeof(in.instance_uuid), "%s", i->inst->uuid);
    autoerr struct err *e = NULL;
    int64_t id = db_intent_begin(c->db, &in, &e);
    if (id < 0) {
        log_err(LOG_LEVEL_WARN, e, "%s intent not recorded: going on without it",
                db_op_name(in.op));
        return 0;
    }
    return id;
}

int64_t os_compute_intent_begin(struct os_compute *c, int op, const struct os_inst *i,
                                const struct drv_shape *to)
{
    return engine_intent_begin(c, op, i, NULL, to, NULL);
}

int64_t os_compute_intent_migrate_begin(struct os_compute *c, const struct os_inst *i,
                                        const struct drv_shape *to, const char *step)
{
    return engine_intent_begin(c, DB_OP_MIGRATE, i, NULL, to, step);
}

int64_t os_compute_intent_reshape_begin(struct os_compute *c, const struct os_inst *i,
                                        const struct drv_shape *from, const struct drv_shape *to)
{
    return engine_intent_begin(c, DB_OP_RESHAPE, i, from, to, NULL);
}

void os_compute_intent_step(struct os_compute *c, int64_t id, const char *step)
{
    autoerr struct err *e = NULL;
    if (c->db && id > 0 && db_intent_step(c->db, id, step, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "intent step not recorded");
}

void os_compute_intent_finish(struct os_compute *c, int64_t id, bool ok, const struct err *why)
{
    autoerr struct err *e = NULL;
    if (c->db && id > 0 &&
        db_intent_finish(c->db, id, ok ? DB_INTENT_DONE : DB_INTENT_ROLLED_BACK,
                         why ? why->msg : NULL, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "intent not closed");
}

/* SCULPT_TEST_PAUSE_INTENT's hold (os_compute_intent_test_pause,
 * os_compute_test_pause): `what` names the held step in the log line. */
static void test_pause(const char *op, const char *what, const char *uuid, double from, double to)
{
    /* Tests only: SCULPT_TEST_PAUSE_INTENT=OP[:SECONDS[:MIN_VCPU[:TO_VCPU]]]
     * holds the first step of OP ("spawn", "reshape", "handover",
     * "resize", "rebuild", "unshelve", "offload", "rescue", "unrescue")
     * for SECONDS (default 120), after the hypervisor did its part and
     * before the operation's record is finished, so a test can kill -9
     * the process there.  With MIN_VCPU, only a change of the vCPU
     * entitlement by at least that much in its direction: a growth by
     * MIN_VCPU or more when it is positive, a shrink by -MIN_VCPU or more
     * when negative (a reshape too small to tell its `from` and `to`
     * apart, or one the other way, is let through).  With TO_VCPU too,
     * only a change to that entitlement (within 0.005): a test that
     * raises a floor holds the growth to it, never a guest's own growth
     * that happened to come first.  Unset (always, outside tests):
     * nothing. */
    static atomic_bool used;
    const char *want = getenv("SCULPT_TEST_PAUSE_INTENT");
    if (!want)
        return;
    size_t n = strcspn(want, ":");
    if (strlen(op) != n || strncmp(want, op, n) != 0)
        return;
    char *end = (char *)want + n;
    long secs = *end == ':' ? strtol(end + 1, &end, 10) : 120;
    double min = *end == ':' ? strtod(end + 1, &end) : 0;
    double target = *end == ':' ? strtod(end + 1, NULL) : -1;
    double change = to - from;
    if ((min > 0 && change < min) || (min < 0 && change > min) ||
        (target >= 0 && fabs(to - target) > 0.005) || atomic_exchange(&used, true))
        return;
    log_warn("SCULPT_TEST_PAUSE_INTENT: holding the %s of %s open for %ld s", what, uuid, secs);
    clock_sleep_ms(secs * 1000);
    log_warn("SCULPT_TEST_PAUSE_INTENT: the %s goes on", what);
}

void os_compute_intent_test_pause(const char *op, int64_t id, const char *uuid, double from,
                                  double to)
{
    if (id <= 0 || !getenv("SCULPT_TEST_PAUSE_INTENT"))
        return;
    char what[64];
    snprintf(what, sizeof(what), "%s intent %lld", op, (long long)id);
    test_pause(op, what, uuid, from, to);
}

void os_compute_test_pause(const char *op, const char *uuid)
{
    if (getenv("SCULPT_TEST_PAUSE_INTENT"))
        test_pause(op, op, uuid, 0, 0);
}

void os_compute_record_instance(struct os_compute *c, const struct os_inst *i)
{
    autoerr struct err *e = NULL;
    if (c->db && db_instance_put(c->db, i->inst, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "instance row not recorded");
}

void os_compute_record_state(struct os_compute *c, const struct os_inst *i)
{
    autoerr struct err *e = NULL;
    int64_t power = 0;
    ovo_get_int(i->prim, "power_state", &power);
    if (c->db && db_instance_set_state(c->db, i->inst->uuid, os_inst_vm_state(i),
                                       os_inst_task_state(i), (enum drv_power_state)power,
                                       &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "instance state not recorded");
}

void os_compute_engine_forget(struct os_compute *c, const char *uuid)
{
    drv_control_forget(c->control, uuid, NULL);
    pthread_mutex_lock(&c->lock);
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
}

void os_compute_engine_booting(struct os_compute *c, const char *uuid)
{
    autoerr struct err *e = NULL;
    if (c->control && drv_control_boot(c->control, uuid, time(NULL), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "boot allowance of %s not given", uuid);
}

enum drv_power_state os_compute_power_now(struct os_compute *c, const char *uuid)
{
    struct drv_hv_info info;
    autoerr struct err *e = NULL;
    return drv_hv_get_info(c->hv, uuid, &info, &e) == 0 ? info.state : DRV_POWER_NOSTATE;
}

int os_compute_power_on_booting(struct os_compute *c, const char *uuid, struct err **err)
{
    if (drv_hv_power_on(c->hv, uuid, err) < 0)
        return -1;
    os_compute_engine_booting(c, uuid);
    return 0;
}

void os_compute_record_offloaded(struct os_compute *c, const char *uuid)
{
    autoerr struct err *e = NULL;
    if (!c->db)
        return;
    /* the guest's predictor state first: the row's deletion mark stops
     * any later save of it */
    if (os_compute_predictors_save(c, NULL, NULL, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "predictor states not saved before the offload of %s", uuid);
    err_clear(&e);
    if (db_instance_offloaded(c->db, uuid, clock_wall_ms(), &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "instance offload not recorded");
        return;
    }
    /* written before Nova shows the instance offloaded: an unshelve may
     * follow at once (an outage leaves it queued: logged) */
    if (db_sync(c->db, 5000, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "the offload of %s is not written yet", uuid);
}

void os_compute_record_deleted(struct os_compute *c, const char *uuid)
{
    autoerr struct err *e = NULL;
    if (c->db && db_instance_delete(c->db, uuid, clock_wall_ms(), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "instance deletion not recorded");
}

/* ---- the control loop's callbacks ---- */

static void ctl_sample(const struct drv_hv_sample *smp, void *opaque)
{
    struct os_compute *c = opaque;
    if (!c->db || smp->interval_s <= 0)
        return;
    struct db_usage_sample u = {
        .t_ms = smp->wall_ms - (int64_t)(smp->interval_s * 1000),
        .step_s = (int32_t)(smp->interval_s + 0.5),
        .use = smp->use,
    };
    snprintf(u.instance_uuid, sizeof(u.instance_uuid), "%s", smp->uuid);
    if (u.step_s < 1)
        u.step_s = 1;
    autoerr struct err *e = NULL;
    if (db_usage_add(c->db, &u, 1, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "usage sample not recorded");
}

static void ctl_blueprint(const char *uuid, const struct drv_blueprint *bp, void *opaque)
{
    struct os_compute *c = opaque;
    if (!c->db)
        return;
    char reason[] = "predictor";
    struct db_blueprint_rev rev = {.reason = reason, .bp = (struct drv_blueprint *)bp};
    snprintf(rev.instance_uuid, sizeof(rev.instance_uuid), "%s", uuid);
    engine_bands(c, &rev);
    autoerr struct err *e = NULL;
    if (db_blueprint_add(c->db, &rev, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "blueprint of %s not recorded", uuid);
}

/* The reshape's intent, before the backend changes anything: a crash
 * half-way is completed or rolled back at the next start. */
static int64_t ctl_apply_begin(const struct drv_sculpt_change *ch, void *opaque)
{
    struct os_compute *c = opaque;
    if (!c->db)
        return 0;
    struct db_intent in = {
        .op = DB_OP_RESHAPE, .has_from = true, .from = ch->from, .has_to = true, .to = ch->to};
    snprintf(in.instance_uuid, sizeof(in.instance_uuid), "%s", ch->uuid);
    autoerr struct err *e = NULL;
    int64_t id = db_intent_begin(c->db, &in, &e);
    if (id < 0) {
        log_err(LOG_LEVEL_WARN, e, "reshape intent not recorded: going on without it");
        return 0;
    }
    return id;
}

static void ctl_change(const struct drv_sculpt_change *ch, int64_t intent,
                       const struct drv_hv_reshape_report *rep, const struct err *failure,
                       void *opaque)
{
    struct os_compute *c = opaque;
    if (!failure)
        os_compute_intent_test_pause("reshape", intent, ch->uuid, ch->from.res.v[DRV_RES_VCPU],
                                     ch->to.res.v[DRV_RES_VCPU]);
    char res[160];
    if (failure)
        log_warn("reshape of %s refused by the backend: %s", ch->uuid, failure->msg);
    else
        log_info("reshaped %s to %s: %s", ch->uuid, drv_res_format(ch->to.res, res, sizeof(res)),
                 ch->why);
    pthread_mutex_lock(&c->lock);
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (!c->db)
        return;
    struct db_reshape r = {
        .at_ms = clock_wall_ms(),
        .from = ch->from,
        .to = ch->to,
        .reason = (char *)ch->why,
        .duration_ms = rep ? (double)rep->total_ns / 1e6 : 0,
        .ok = failure == NULL,
        .error = failure ? failure->msg : NULL,
        .intent_id = intent,
        .knobs = rep ? rep->changed : 0,
        .hv_calls = rep ? rep->calls : 0,
    };
    snprintf(r.instance_uuid, sizeof(r.instance_uuid), "%s", ch->uuid);
    autoerr struct err *e = NULL;
    if (db_reshape_add(c->db, &r, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "reshape of %s not recorded", ch->uuid);
    /* a refused reshape leaves the shape read back in force: rolled back */
    if (intent > 0 &&
        db_intent_finish(c->db, intent, failure ? DB_INTENT_ROLLED_BACK : DB_INTENT_DONE,
                         failure ? failure->msg : NULL, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "reshape intent not closed");
}

static void ctl_step(const struct drv_control_report *rep, void *opaque)
{
    struct os_compute *c = opaque;
    log_debug("control step: %zu guests, %zu samples, %zu changes (%zu applied, %zu refused) "
              "in %.1f ms",
              rep->guests, rep->samples, rep->changes, rep->applied, rep->failed,
              (double)rep->total_ns / 1e6);
    if (!c->db)
        return;
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(c->engine);
    if (!snap)
        return;
    char topo[256];
    struct db_host_snapshot hs = {
        .at_ms = rep->t_s * 1000,
        .host = c->host,
        .cpus = c->host_topo->ncpus,
        .numa_nodes = c->host_topo->nnodes,
        .capacity = snap->capacity,
        .allocated = snap->allocated,
        .used = snap->used,
        .fragmentation = 1.0 - snap->contiguity,
        .topology = drv_host_describe(c->host_topo, topo, sizeof(topo)),
    };
    autoerr struct err *e = NULL;
    if (db_host_snapshot_add(c->db, &hs, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "host snapshot not recorded");
}

void os_compute_control_callbacks(struct os_compute *c, struct drv_control_callbacks *cb)
{
    memset(cb, 0, sizeof(*cb));
    cb->sample = ctl_sample;
    cb->blueprint = ctl_blueprint;
    cb->apply_begin = ctl_apply_begin;
    cb->change = ctl_change;
    cb->step = ctl_step;
    cb->opaque = c;
}
