/* /v1/blueprints: custom blueprints an operator writes for a workload
 * class (stored in PostgreSQL). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/audit.h"
#include "api/handlers.h"
#include "api/json_in.h"
#include "api/json_out.h"
#include "api/request_bp.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "db/db.h"

static void api_bp_defaults(const struct api_req *req, struct api_bp_parse *ctx)
{
    *ctx = (struct api_bp_parse){
        .now_s = clock_wall_ms() / 1000,
        .step_s = (int32_t)req->cfg->blueprint_step_s,
        .horizon_s = (int32_t)req->cfg->blueprint_horizon_s,
    };
}

static int api_bp_id(const struct api_req *req, int64_t *out, struct err **err)
{
    const char *v = req->params[0];
    char *end;
    errno = 0;
    long long id = strtoll(v, &end, 10);
    if (!*v || *end || errno || id < 1)
        return err_set(err, ERR_INVALID, "`%.64s` is not a blueprint id (a positive integer)",
                       v);
    *out = id;
    return 0;
}

int api_handle_blueprint_list(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    if (api_require(db, "the database", err) < 0)
        return -1;
    autoptr(db_custom_blueprint_list) l = db_custom_blueprint_list(db, err);
    if (!l)
        return -1;
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, api_custom_blueprint_json(l->v[i]));
    return api_reply(resp, 0, json_pack("{s:o}", "blueprints", a));
}

/* The event log's note of a blueprint: its id, name and the class it
 * applies to. */
static void api_bp_note(struct api_req *req, int64_t id, const struct db_custom_blueprint *cb)
{
    if (id > 0)
        api_audit_note(req, "blueprint %lld", (long long)id);
    if (!cb)
        return;
    autofree char *name = api_audit_value(cb->name, false);
    api_audit_note(req, "name %s, for flavor %s, image %s, project %s, %d step(s) of %d s", name,
                   cb->flavor_name ? cb->flavor_name : "any", cb->image_ref ? cb->image_ref : "any",
                   cb->project_id ? cb->project_id : "any", cb->bp ? (int)cb->bp->nsteps : 0,
                   cb->bp ? (int)cb->bp->step_s : 0);
}

static int api_blueprint_reply(struct db *db, int64_t id, int status, struct api_resp *resp,
                               struct err **err)
{
    autoptr(db_custom_blueprint) cb = db_custom_blueprint_get(db, id, err);
    if (!cb)
        return -1;
    return api_reply(resp, status, api_custom_blueprint_json(cb));
}

int api_handle_blueprint_create(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    json_t *body;
    struct api_bp_parse ctx;
    api_bp_defaults(req, &ctx);
    if (api_req_body_object(req, &body, err) < 0)
        return -1;
    autoptr(db_custom_blueprint) cb = NULL;
    if (api_parse_custom_blueprint(body, &ctx, &cb, err) < 0)
        return -1;
    int64_t id = api_require(db, "the database", err) < 0 ? -1
                                                          : db_custom_blueprint_create(db, cb, err);
    api_bp_note(req, id, cb);
    if (id < 0)
        return -1;
    resp->location = xasprintf("/v1/blueprints/%lld", (long long)id);
    return api_blueprint_reply(db, id, 201, resp, err);
}

int api_handle_blueprint_get(struct api_req *req, struct api_resp *resp, struct err **err)
{
    int64_t id;
    if (api_bp_id(req, &id, err) < 0 || api_require(req->deps->db, "the database", err) < 0)
        return -1;
    return api_blueprint_reply(req->deps->db, id, 0, resp, err);
}

int api_handle_blueprint_put(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    int64_t id;
    json_t *body;
    struct api_bp_parse ctx;
    api_bp_defaults(req, &ctx);
    if (api_bp_id(req, &id, err) < 0 || api_req_body_object(req, &body, err) < 0)
        return -1;
    autoptr(db_custom_blueprint) cb = NULL;
    api_bp_note(req, id, NULL);
    if (api_parse_custom_blueprint(body, &ctx, &cb, err) < 0)
        return -1;
    api_bp_note(req, 0, cb);
    if (api_require(db, "the database", err) < 0)
        return -1;
    cb->id = id;
    if (db_custom_blueprint_update(db, cb, err) < 0)
        return -1;
    return api_blueprint_reply(db, id, 0, resp, err);
}

int api_handle_blueprint_delete(struct api_req *req, struct api_resp *resp, struct err **err)
{
    int64_t id;
    if (api_bp_id(req, &id, err) < 0 || api_require(req->deps->db, "the database", err) < 0)
        return -1;
    /* what it was, for the event log: read before it goes (a failed read
     * leaves the id alone in the record, the delete still runs) */
    autoptr(db_custom_blueprint) gone = db_custom_blueprint_get(req->deps->db, id, NULL);
    api_bp_note(req, id, gone);
    if (db_custom_blueprint_delete(req->deps->db, id, err) < 0)
        return -1;
    resp->status = 204;
    return 0;
}

/* The request a preview's query string describes, as the JSON body the
 * other routes take (so one parser checks both). */
static int api_preview_body(const struct api_req *req, json_t **out, struct err **err)
{
    int64_t vcpus, mem, root;
    if (api_query_int(req, "vcpus", 0, 0, INT32_MAX, &vcpus, err) < 0 ||
        api_query_int(req, "memory_mb", 0, 0, INT64_MAX / 2, &mem, err) < 0 ||
        api_query_int(req, "root_gb", 0, 0, INT64_MAX / 2, &root, err) < 0)
        return -1;
    if (!vcpus || !mem)
        return err_set(err, ERR_INVALID, "query parameters `vcpus` and `memory_mb` are required");
    json_t *flavor = json_pack("{s:I, s:I, s:I}", "vcpus", (json_int_t)vcpus, "memory_mb",
                               (json_int_t)mem, "root_gb", (json_int_t)root);
    json_t *body = json_pack("{s:o}", "flavor", flavor);
    if (api_query_str(req, "flavor"))
        json_object_set_new(flavor, "name", json_string(api_query_str(req, "flavor")));
    static const struct {
        const char *param, *key;
    } str[] = {{"image", "image"}, {"project", "project_id"}, {"name", "name"}};
    for (size_t i = 0; i < ARRAY_SIZE(str); i++)
        if (api_query_str(req, str[i].param))
            json_object_set_new(body, str[i].key, json_string(api_query_str(req, str[i].param)));
    const char *md = api_query_str(req, "metadata");
    if (md) {
        struct drv_kv *kv;
        size_t n;
        if (api_parse_kv_text(md, "metadata", &kv, &n, err) < 0) {
            json_decref(body);
            return -1;
        }
        json_t *m = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(m, kv[i].key, json_string(kv[i].value));
        drv_kv_release(kv, n);
        json_object_set_new(body, "metadata", m);
    }
    *out = body;
    return 0;
}

int api_handle_blueprint_preview(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct api_bp_parse ctx;
    api_bp_defaults(req, &ctx);
    int64_t horizon, step;
    if (api_query_int(req, "horizon", ctx.horizon_s, 60, 7 * 86400, &horizon, err) < 0 ||
        api_query_int(req, "step", ctx.step_s, 1, DRV_BLUEPRINT_MAX_STEP_S, &step, err) < 0)
        return -1;
    if (horizon % step != 0 || horizon / step > DRV_BLUEPRINT_MAX_STEPS)
        return err_set(err, ERR_INVALID, "a horizon of %lld s is not 1 to %d whole steps of "
                       "%lld s", (long long)horizon, DRV_BLUEPRINT_MAX_STEPS, (long long)step);
    ctx.horizon_s = (int32_t)horizon;
    ctx.step_s = (int32_t)step;
    json_t *body = NULL;
    if (api_preview_body(req, &body, err) < 0)
        return -1;
    struct api_request_bp rb;
    int rc = api_request_resolve(req, body, NULL, &ctx, &rb, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    json_t *doc = json_pack("{s:s, s:o, s:o, s:o}", "source", rb.source, "confidence",
                            api_num(rb.bp->confidence), "blueprint", api_blueprint_json(rb.bp),
                            "request", api_instance_json(rb.inst));
    api_request_bp_release(&rb);
    return api_reply(resp, 0, doc);
}
