/* Where the compute manager meets the rest of sculpt: a request becomes a
 * blueprint (the predictor, primed from the fleet's history), the engine
 * admits and places it, and what runs here is recorded. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/sculpt.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"

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
    return 0;
}

void os_compute_engine_spawned(struct os_compute *c, struct os_inst *i,
                               const struct drv_shape *shape)
{
    (void)c;
    (void)i;
    (void)shape;
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
    (void)c;
    (void)uuid;
}
