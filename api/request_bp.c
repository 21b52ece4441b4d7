#include "api/request_bp.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/config.h"
#include "db/db.h"
#include "driver/control.h"
#include "driver/predict.h"

void api_request_bp_release(struct api_request_bp *r)
{
    drv_instance_free(r->inst);
    drv_blueprint_free(r->bp);
    memset(r, 0, sizeof(*r));
}

/* A custom blueprint's template, starting now. */
static void api_take_custom(const struct db_custom_blueprint *cb, int64_t now_s,
                            struct api_request_bp *out)
{
    out->bp = drv_blueprint_dup(cb->bp);
    out->bp->start_s = now_s;
    snprintf(out->source, sizeof(out->source), "custom:%s", cb->name);
}

static int api_predict(const struct api_req *req, const struct api_bp_parse *ctx,
                       struct api_request_bp *out, struct err **err)
{
    if (api_require(req->deps->fleet, "the predictor (fleet history)", err) < 0)
        return -1;
    struct drv_control_config cc; /* predicted as the control loop would */
    struct drv_predict_request preq;
    drv_control_config_from_cfg(req->cfg, &cc);
    drv_predict_request_from_instance(out->inst, &preq);
    preq.boot_s = ctx->now_s;
    preq.what_if = true; /* the fleet gains no guest from it, nor counts it */
    autoptr(drv_predictor) p = drv_predictor_new(req->deps->fleet, &preq, &cc.predict, err);
    if (!p)
        return -1;
    out->bp =
        drv_predictor_blueprint(p, ctx->now_s, ctx->horizon_s, ctx->step_s, &cc.cost, err);
    if (!out->bp)
        return -1;
    snprintf(out->source, sizeof(out->source), "predictor");
    return 0;
}

int api_request_resolve(const struct api_req *req, json_t *body, const char *const *extra,
                        const struct api_bp_parse *ctx, struct api_request_bp *out,
                        struct err **err)
{
    const char *allowed[12] = {"blueprint", "blueprint_id"};
    size_t n = 2;
    for (const char *const *e = extra; e && *e && n < ARRAY_SIZE(allowed) - 1; e++)
        allowed[n++] = *e;
    allowed[n] = NULL;
    memset(out, 0, sizeof(*out));
    if (api_parse_instance_request(body, allowed, ctx->now_s * 1000, &out->inst, err) < 0)
        goto fail;

    json_t *inline_bp = json_object_get(body, "blueprint");
    json_t *bp_id = json_object_get(body, "blueprint_id");
    if (inline_bp && bp_id) {
        err_set(err, ERR_INVALID, "give `blueprint` or `blueprint_id`, not both");
        goto fail;
    }
    if (inline_bp) {
        if (api_parse_blueprint(inline_bp, "blueprint", ctx, &out->bp, err) < 0)
            goto fail;
        snprintf(out->source, sizeof(out->source), "request");
        return 0;
    }
    if (bp_id) {
        int64_t id = 0;
        if (api_json_int(body, "blueprint_id", "", 1, INT64_MAX, true, &id, err) < 0 ||
            api_require(req->deps->db, "the database", err) < 0)
            goto fail;
        autoptr(db_custom_blueprint) cb = db_custom_blueprint_get(req->deps->db, id, err);
        if (!cb)
            goto fail;
        api_take_custom(cb, ctx->now_s, out);
        return 0;
    }
    if (req->deps->db) {
        /* the rule real builds follow too (db_custom_blueprint_for) */
        struct err *e = NULL;
        autoptr(db_custom_blueprint) cb = db_custom_blueprint_for(req->deps->db, out->inst, &e);
        if (cb) {
            api_take_custom(cb, ctx->now_s, out);
            return 0;
        }
        if (err_code_of(e) != ERR_NOT_FOUND) {
            if (err)
                *err = e;
            else
                err_free(e);
            goto fail;
        }
        err_free(e);
    }
    if (api_predict(req, ctx, out, err) < 0)
        goto fail;
    return 0;
 fail:
    api_request_bp_release(out);
    return -1;
}
