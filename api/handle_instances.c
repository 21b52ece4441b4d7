/* GET /v1/instances and /v1/instances/{uuid}: what Nova asked for (the
 * database), the shape in force and what the engine aims at (the engine),
 * the blueprint, usage history and the reshape log with reasons. */
#include <string.h>

#include "api/handlers.h"
#include "api/json_out.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/sculpt.h"


/* Rows returned at most by one history query (usage samples, reshapes,
 * decisions): enough for a week at one minute. */
#define API_HISTORY_MAX 20000

static const struct drv_sculpt_guest_view *api_view_find(const struct drv_sculpt_snapshot *s,
                                                         const char *uuid)
{
    for (size_t i = 0; s && i < s->nguests; i++)
        if (strcmp(s->guests[i].uuid, uuid) == 0)
            return &s->guests[i];
    return NULL;
}

/* One row of the list: the instance (when the database knows it) with the
 * engine's view merged in. */
static json_t *api_instance_row(const struct drv_instance *inst,
                                const struct drv_sculpt_guest_view *g)
{
    json_t *row = inst ? api_instance_json(inst) : json_pack("{s:s}", "uuid", g->uuid);
    if (g) {
        json_object_set_new(row, "shape", api_shape_json(&g->shape));
        json_object_set_new(row, "engine", api_guest_view_json(g));
    } else {
        json_object_set_new(row, "engine", json_null());
    }
    return row;
}

int api_handle_instance_list(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    struct drv_sculpt *engine = req->deps->engine;
    if (!db && !engine)
        return err_set(err, ERR_UNAVAILABLE, "neither the database nor the engine runs here");
    autoptr(drv_sculpt_snapshot) snap = engine ? drv_sculpt_snapshot(engine) : NULL;
    const char *deleted = api_query_str(req, "deleted");
    if (deleted && strcmp(deleted, "true") != 0 && strcmp(deleted, "false") != 0)
        return err_set(err, ERR_INVALID, "query parameter `deleted`: `%.16s` is not true or "
                       "false", deleted);
    json_t *rows = json_array();
    bool *seen = snap ? xcalloc(snap->nguests + 1, sizeof(bool)) : NULL;
    if (db) {
        struct db_instance_filter f = {
            .project_id = api_query_str(req, "project"),
            .flavor_name = api_query_str(req, "flavor"),
            .image_ref = api_query_str(req, "image"),
            .include_deleted = deleted && strcmp(deleted, "true") == 0,
        };
        autoptr(db_instance_list) l = db_instance_list(db, &f, err);
        if (!l) {
            json_decref(rows);
            free(seen);
            return -1;
        }
        for (size_t i = 0; i < l->n; i++) {
            const struct drv_sculpt_guest_view *g = api_view_find(snap, l->v[i]->uuid);
            if (g)
                seen[g - snap->guests] = true;
            json_array_append_new(rows, api_instance_row(l->v[i], g));
        }
    }
    /* Guests the engine holds that the database does not list (yet), when
     * no filter asks for database fields. */
    bool filtered = api_query_str(req, "project") || api_query_str(req, "flavor") ||
                    api_query_str(req, "image");
    for (size_t i = 0; snap && !filtered && i < snap->nguests; i++)
        if (!seen[i])
            json_array_append_new(rows, api_instance_row(NULL, &snap->guests[i]));
    free(seen);
    return api_reply(resp, 0, json_pack("{s:o}", "instances", rows));
}

/* The time range and step of the history asked for. */
struct api_range {
    int64_t from_s, to_s, step_s, limit;
};

static int api_range_parse(const struct api_req *req, struct api_range *r, struct err **err)
{
    if (api_query_range(req, 3600, &r->from_s, &r->to_s, err) < 0 ||
        api_query_int(req, "step", 0, 0, 86400, &r->step_s, err) < 0 ||
        api_query_int(req, "limit", 1000, 1, API_HISTORY_MAX, &r->limit, err) < 0)
        return -1;
    if (r->step_s && (r->to_s - r->from_s) / r->step_s > API_HISTORY_MAX)
        return err_set(err, ERR_INVALID, "%lld steps of %lld s: more than %d points; "
                       "take a larger step", (long long)((r->to_s - r->from_s) / r->step_s),
                       (long long)r->step_s, API_HISTORY_MAX);
    return 0;
}

/* The band the blueprints predicted over the range, stitched from their
 * revisions: each revision speaks for the steps from its start until the
 * next revision's (so the past shows what was predicted then, not what is
 * predicted now).  Columns: t, and per quantile (and the allocation) one
 * array per resource. */
static json_t *api_band_history(const struct db_blueprint_rev_list *revs,
                                const struct api_range *r)
{
    static const char *const cols[] = {"p50", "p90", "p99", "alloc"};
    json_t *t = json_array();
    json_t *doc = json_pack("{s:o}", "t", t);
    json_t *col[4][DRV_RES_LAST];
    for (int c = 0; c < 4; c++) {
        json_t *o = json_object();
        for (int k = 0; k < DRV_RES_LAST; k++) {
            col[c][k] = json_array();
            json_object_set_new(o, drv_res_kind_name((enum drv_res_kind)k), col[c][k]);
        }
        json_object_set_new(doc, cols[c], o);
    }
    /* revisions come newest first: walk them oldest first */
    for (size_t i = revs->n; i-- > 0;) {
        const struct drv_blueprint *bp = revs->v[i]->bp;
        int64_t until = i > 0 ? revs->v[i - 1]->bp->start_s : r->to_s + 1;
        for (int32_t s = 0; s < bp->nsteps; s++) {
            int64_t ts = bp->start_s + (int64_t)s * bp->step_s;
            if (ts >= until || ts > r->to_s)
                break;
            if (ts < r->from_s)
                continue;
            json_array_append_new(t, json_integer(ts));
            struct drv_res a = drv_blueprint_alloc_step(bp, s);
            for (int k = 0; k < DRV_RES_LAST; k++) {
                for (int q = 0; q < DRV_Q_LAST; q++)
                    json_array_append_new(col[q][k],
                                          api_num(drv_blueprint_get(bp, s, (enum drv_res_kind)k,
                                                                    (enum drv_quantile)q)));
                json_array_append_new(col[3][k], bp->alloc ? api_num(a.v[k]) : json_null());
            }
        }
    }
    return doc;
}

/* Everything the database holds about one instance over the range. */
static int api_instance_history(struct db *db, const char *uuid, const struct api_range *r,
                                json_t *doc, struct err **err)
{
    autoerr struct err *bperr = NULL;
    autoptr(db_blueprint_rev) rev = db_blueprint_latest(db, uuid, &bperr);
    if (!rev && err_code_of(bperr) != ERR_NOT_FOUND) {
        *err = steal_pointer(&bperr);
        return -1;
    }
    json_object_set_new(doc, "blueprint", rev ? api_blueprint_rev_json(rev) : json_null());
    /* enough revisions to cover the range at one per control step */
    autoptr(db_blueprint_rev_list) revs = db_blueprint_history(db, uuid, 2000, err);
    if (!revs)
        return -1;
    json_object_set_new(doc, "band_history", api_band_history(revs, r));

    struct db_usage_query q = {
        .instance_uuid = uuid,
        .from_ms = r->from_s * 1000,
        .to_ms = r->to_s * 1000,
        .bucket_s = (int32_t)r->step_s,
        .source = DB_USAGE_ALL,
        .limit = API_HISTORY_MAX,
    };
    autoptr(db_usage_list) usage = db_usage_query(db, &q, err);
    if (!usage)
        return -1;
    json_object_set_new(doc, "usage", api_usage_json(usage));

    autoptr(db_reshape_list) rs = db_reshape_list(db, uuid, r->from_s * 1000, r->to_s * 1000,
                                                  (size_t)r->limit, err);
    if (!rs)
        return -1;
    json_t *reshapes = json_array();
    for (size_t i = 0; i < rs->n; i++)
        json_array_append_new(reshapes, api_reshape_json(&rs->v[i]));
    json_object_set_new(doc, "reshapes", reshapes);
    return 0;
}

/* The engine's decisions about one guest (or all) in the range, newest
 * first. */
static json_t *api_decisions(struct drv_sculpt *engine, const char *uuid,
                             const struct api_range *r)
{
    json_t *a = json_array();
    if (!engine)
        return a;
    struct drv_sculpt_record *recs = xcalloc((size_t)r->limit, sizeof(*recs));
    size_t n = drv_sculpt_records(engine, uuid, recs, (size_t)r->limit);
    for (size_t i = 0; i < n; i++)
        if (recs[i].t_s >= r->from_s && recs[i].t_s <= r->to_s)
            json_array_append_new(a, api_record_json(&recs[i]));
    free(recs);
    return a;
}

int api_handle_instance_show(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    struct drv_sculpt *engine = req->deps->engine;
    const char *uuid;
    struct api_range range;
    if (api_req_uuid_param(req, 0, &uuid, err) < 0 || api_range_parse(req, &range, err) < 0)
        return -1;
    if (!db && !engine)
        return err_set(err, ERR_UNAVAILABLE, "neither the database nor the engine runs here");
    log_ctx_set_instance(uuid);

    autoptr(drv_instance) inst = NULL;
    if (db) {
        autoerr struct err *e = NULL;
        inst = db_instance_get(db, uuid, &e);
        if (!inst && err_code_of(e) != ERR_NOT_FOUND) {
            *err = steal_pointer(&e);
            return -1;
        }
    }
    autoptr(drv_sculpt_snapshot) snap = engine ? drv_sculpt_snapshot(engine) : NULL;
    const struct drv_sculpt_guest_view *g = api_view_find(snap, uuid);
    if (!inst && !g)
        return err_set(err, ERR_NOT_FOUND, "no instance `%s` on this host", uuid);

    json_t *doc = api_instance_row(inst, g);
    json_object_set_new(doc, "range",
                        json_pack("{s:I, s:I, s:I, s:o, s:o}", "from", (json_int_t)range.from_s,
                                  "to", (json_int_t)range.to_s, "step",
                                  (json_int_t)range.step_s, "from_time",
                                  api_time_json(range.from_s * 1000), "to_time",
                                  api_time_json(range.to_s * 1000)));
    if (db && api_instance_history(db, uuid, &range, doc, err) < 0) {
        json_decref(doc);
        return -1;
    }
    if (!db) {
        json_object_set_new(doc, "blueprint", json_null());
        json_object_set_new(doc, "band_history", json_null());
        json_object_set_new(doc, "usage", api_usage_json(NULL));
        json_object_set_new(doc, "reshapes", json_array());
    }
    json_object_set_new(doc, "decisions", api_decisions(engine, uuid, &range));
    return api_reply(resp, 0, doc);
}

int api_handle_reshapes(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    struct api_range range;
    if (api_range_parse(req, &range, err) < 0)
        return -1;
    if (!db && !req->deps->engine)
        return err_set(err, ERR_UNAVAILABLE, "neither the database nor the engine runs here");
    json_t *reshapes = json_array();
    if (db) {
        autoptr(db_reshape_list) rs = db_reshape_list(db, NULL, range.from_s * 1000,
                                                      range.to_s * 1000, (size_t)range.limit,
                                                      err);
        if (!rs) {
            json_decref(reshapes);
            return -1;
        }
        for (size_t i = 0; i < rs->n; i++)
            json_array_append_new(reshapes, api_reshape_json(&rs->v[i]));
    }
    return api_reply(resp, 0,
                     json_pack("{s:o, s:o}", "reshapes", reshapes, "decisions",
                               api_decisions(req->deps->engine, NULL, &range)));
}
