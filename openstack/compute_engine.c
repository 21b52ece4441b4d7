/* Where the compute manager meets the rest of sculpt: a request becomes a
 * blueprint (the predictor, primed from the fleet's history), the engine
 * admits and places it, and what runs here is recorded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/sculpt.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_engine");

/* Keep a guest's predictor (replacing an older one). */
static void engine_keep_predictor(struct os_compute *c, const char *uuid, struct drv_predictor *p)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->npredictors; i++) {
        if (strcmp(c->predictors[i].uuid, uuid) == 0) {
            drv_predictor_free(c->predictors[i].p);
            c->predictors[i].p = p;
            pthread_mutex_unlock(&c->lock);
            return;
        }
    }
    c->predictors = xreallocarray(c->predictors, c->npredictors + 1, sizeof(*c->predictors));
    snprintf(c->predictors[c->npredictors].uuid, DRV_UUID_LEN + 1, "%s", uuid);
    c->predictors[c->npredictors].p = p;
    c->npredictors++;
    pthread_mutex_unlock(&c->lock);
}

static void engine_drop_predictor(struct os_compute *c, const char *uuid)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->npredictors; i++) {
        if (strcmp(c->predictors[i].uuid, uuid) == 0) {
            drv_predictor_free(c->predictors[i].p);
            c->predictors[i] = c->predictors[--c->npredictors];
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* The blueprint of a request: a new predictor, primed from the fleet. */
static struct drv_blueprint *engine_blueprint(struct os_compute *c, const struct drv_instance *inst,
                                              int64_t now_s, struct drv_predictor **pred,
                                              struct err **err)
{
    struct drv_predict_request req;
    drv_predict_request_from_instance(inst, &req);
    if (!req.boot_s)
        req.boot_s = now_s;
    struct drv_predictor *p = drv_predictor_new(c->fleet, &req, &c->predict_cfg, err);
    if (!p)
        return NULL;
    struct drv_blueprint *bp =
        drv_predictor_blueprint(p, now_s, (int32_t)c->cfg->blueprint_horizon_s,
                                (int32_t)c->cfg->blueprint_step_s, &c->cost, err);
    if (!bp) {
        drv_predictor_free(p);
        return NULL;
    }
    *pred = p;
    return bp;
}

int os_compute_engine_place(struct os_compute *c, struct os_inst *i, struct drv_shape *shape,
                            struct err **err)
{
    const struct drv_instance *inst = i->inst;
    int64_t now = time(NULL);
    struct drv_sculpt_guest_spec spec;
    if (drv_sculpt_spec_from_instance(inst, c->host_topo, (int32_t)c->cfg->engine_default_priority,
                                      &spec, err) < 0)
        return -1;
    struct drv_predictor *pred = NULL;
    autoptr(drv_blueprint) bp = engine_blueprint(c, inst, now, &pred, err);
    if (!bp)
        return err_wrap(err, "blueprint");
    struct drv_sculpt_refusal why;
    memset(&why, 0, sizeof(why));
    /* A build redelivered after a crash finds its guest placed already. */
    drv_sculpt_remove(c->engine, inst->uuid, NULL);
    if (drv_sculpt_place(c->engine, &spec, bp, now, shape, &why, err) < 0) {
        drv_predictor_free(pred);
        return -1;
    }
    char res[160];
    log_info("placed: %s (blueprint %s, confidence %.2f)",
             drv_res_format(shape->res, res, sizeof(res)), bp->model, bp->confidence);
    engine_keep_predictor(c, inst->uuid, pred);

    /* The row first, then its first blueprint revision: the writer keeps
     * the order. */
    i->inst->shape = *shape;
    free(i->inst->domain);
    i->inst->domain = os_compute_domain_name(i);
    os_compute_record_instance(c, i);
    if (c->db) {
        char reason[] = "spawn";
        struct db_blueprint_rev rev = {.reason = reason, .bp = bp};
        snprintf(rev.instance_uuid, sizeof(rev.instance_uuid), "%s", inst->uuid);
        for (int k = 0; k < DRV_RES_LAST; k++)
            rev.band[k] = drv_cost_critical_quantile(&c->cost, (enum drv_res_kind)k);
        autoerr struct err *e = NULL;
        if (db_blueprint_add(c->db, &rev, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "blueprint not recorded");
    }
    return 0;
}

char *os_compute_domain_name(const struct os_inst *i)
{
    int64_t id = 0;
    if (ovo_get_int(i->prim, "id", &id) && id > 0)
        return xasprintf("instance-%08llx", (unsigned long long)id);
    return xasprintf("sculpt-%s", i->inst->uuid);
}

int64_t os_compute_intent_begin(struct os_compute *c, int op, const struct os_inst *i,
                                const struct drv_shape *to)
{
    if (!c->db)
        return 0;
    autofree char *domain = os_compute_domain_name(i);
    struct db_intent in = {
        .op = (enum db_op)op,
        .domain = domain,
        .has_to = to != NULL,
        .request_id = (char *)os_ctx_str(i->ctx, "request_id"),
    };
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
    drv_sculpt_remove(c->engine, uuid, NULL);
    engine_drop_predictor(c, uuid);
    pthread_mutex_lock(&c->lock);
    c->resources_dirty = true;
    pthread_mutex_unlock(&c->lock);
}

void os_compute_record_deleted(struct os_compute *c, const char *uuid)
{
    autoerr struct err *e = NULL;
    if (c->db && db_instance_delete(c->db, uuid, clock_wall_ms(), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "instance deletion not recorded");
}
