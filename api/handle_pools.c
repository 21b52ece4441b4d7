/* GET /v1/pools: the pre-sculpted pools (classes, target sizes,
 * confidences, hits, misses, expiries) and their live members, with the
 * capacity they hold idle. */
#include <string.h>

#include "api/handlers.h"
#include "api/json_out.h"
#include "common/alloc.h"
#include "db/db.h"

static bool api_member_live(const struct db_pool_member *m)
{
    return m->state == DB_MEMBER_PREPARING || m->state == DB_MEMBER_READY ||
           m->state == DB_MEMBER_PAUSED;
}

int api_handle_pools(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    if (api_require(db, "the database", err) < 0)
        return -1;
    autoptr(db_pool_list) pools = db_pool_list(db, err);
    if (!pools)
        return -1;
    autoptr(db_pool_member_list) members = db_pool_member_list(db, NULL, true, err);
    if (!members)
        return -1;

    struct drv_res idle_total = drv_res_zero();
    int64_t hits = 0, misses = 0, expiries = 0;
    json_t *rows = json_array();
    for (size_t i = 0; i < pools->n; i++) {
        const struct db_pool *p = pools->v[i];
        json_t *row = api_pool_json(p);
        json_t *live = json_array();
        struct drv_res idle = drv_res_zero();
        for (size_t k = 0; k < members->n; k++) {
            const struct db_pool_member *m = members->v[k];
            if (!m->pool_key || strcmp(m->pool_key, p->key) != 0 || !api_member_live(m))
                continue;
            idle = drv_res_add(idle, m->shape.res);
            json_array_append_new(live, api_pool_member_json(m));
        }
        int64_t asked = p->hits + p->misses;
        json_object_set_new(row, "size", json_integer((json_int_t)json_array_size(live)));
        json_object_set_new(row, "members", live);
        json_object_set_new(row, "idle", api_res_json(&idle));
        json_object_set_new(row, "hit_rate", asked ? api_num((double)p->hits / (double)asked)
                                                   : json_null());
        json_array_append_new(rows, row);
        idle_total = drv_res_add(idle_total, idle);
        hits += p->hits;
        misses += p->misses;
        expiries += p->expiries;
    }
    int64_t asked = hits + misses;
    return api_reply(resp, 0,
                     json_pack("{s:o, s:{s:I, s:I, s:I, s:o, s:o, s:I}}", "pools", rows,
                               "totals", "hits", (json_int_t)hits, "misses",
                               (json_int_t)misses, "expiries", (json_int_t)expiries,
                               "hit_rate",
                               asked ? api_num((double)hits / (double)asked) : json_null(),
                               "idle", api_res_json(&idle_total), "members",
                               (json_int_t)members->n));
}
