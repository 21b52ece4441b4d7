/* GET /v1/pools: the pre-sculpted pools (classes, target sizes,
 * confidences, hits, misses, expiries, reclaims) and their live members, with the
 * capacity they hold idle. */
#include <string.h>

#include "api/handlers.h"
#include "api/json_out.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "db/db.h"

static bool api_member_live(const struct db_pool_member *m)
{
    return m->state == DB_MEMBER_PREPARING || m->state == DB_MEMBER_BOOTING ||
           m->state == DB_MEMBER_READY || m->state == DB_MEMBER_PAUSED;
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
    int64_t hits = 0, misses = 0, expiries = 0, booting_hits = 0, reclaims = 0;
    json_t *rows = json_array();
    for (size_t i = 0; i < pools->n; i++) {
        const struct db_pool *p = pools->v[i];
        json_t *row = api_pool_json(p);
        json_t *live = json_array();
        struct drv_res idle = drv_res_zero();
        int64_t booting = 0;
        for (size_t k = 0; k < members->n; k++) {
            const struct db_pool_member *m = members->v[k];
            if (!m->pool_key || strcmp(m->pool_key, p->key) != 0 || !api_member_live(m))
                continue;
            booting += m->state == DB_MEMBER_BOOTING;
            idle = drv_res_add(idle, m->shape.res);
            json_array_append_new(live, api_pool_member_json(m));
        }
        int64_t asked = p->hits + p->misses;
        json_object_set_new(row, "size", json_integer((json_int_t)json_array_size(live)));
        json_object_set_new(row, "booting", json_integer((json_int_t)booting));
        json_object_set_new(row, "members", live);
        json_object_set_new(row, "idle", api_res_json(&idle));
        json_object_set_new(row, "hit_rate", asked ? api_num((double)p->hits / (double)asked)
                                                   : json_null());
        json_array_append_new(rows, row);
        idle_total = drv_res_add(idle_total, idle);
        hits += p->hits;
        misses += p->misses;
        expiries += p->expiries;
        booting_hits += p->booting_hits;
        reclaims += p->reclaims;
    }
    int64_t asked = hits + misses;
    return api_reply(resp, 0,
                     json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I}}", "pools", rows,
                               "totals", "hits", (json_int_t)hits, "misses",
                               (json_int_t)misses, "expiries", (json_int_t)expiries,
                               "booting_hits", (json_int_t)booting_hits, "reclaims",
                               (json_int_t)reclaims,
                               "hit_rate",
                               asked ? api_num((double)hits / (double)asked) : json_null(),
                               "idle", api_res_json(&idle_total), "members",
                               (json_int_t)members->n));
}

/* The bucket of second t in [from, to]: `to` is now, and what happened in
 * this second belongs to the last bucket (a hand-over a moment before the
 * request would otherwise be left out).  -1 outside. */
static int64_t api_bucket(int64_t t, int64_t from, int64_t to, int64_t step, int64_t nb)
{
    if (t < from || t > to)
        return -1;
    int64_t b = (t - from) / step;
    return b < nb ? b : nb - 1;
}

/* GET /v1/pools/history: per time bucket, the requests that arrived (build
 * requests: instances created), how many a pool served (hand-overs), and
 * the pool members alive -- the pools' size against the arrivals. */
int api_handle_pools_history(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    int64_t from, to, step;
    if (api_query_range(req, 6 * 3600, &from, &to, err) < 0 ||
        api_query_int(req, "step", 300, 1, 86400, &step, err) < 0)
        return -1;
    int64_t nb = (to - from + step - 1) / step;
    if (nb > 20000)
        return err_set(err, ERR_INVALID, "%lld buckets: more than 20000; take a larger step",
                       (long long)nb);
    if (api_require(db, "the database", err) < 0)
        return -1;
    struct db_instance_filter f = {.include_deleted = true};
    autoptr(db_instance_list) insts = db_instance_list(db, &f, err);
    if (!insts)
        return -1;
    autoptr(db_pool_member_list) members = db_pool_member_list(db, NULL, false, err);
    if (!members)
        return -1;

    int64_t *arrivals = xcalloc((size_t)nb, sizeof(int64_t));
    int64_t *hits = xcalloc((size_t)nb, sizeof(int64_t));
    int64_t *alive = xcalloc((size_t)nb, sizeof(int64_t));
    for (size_t i = 0; i < insts->n; i++) {
        int64_t b = api_bucket(insts->v[i]->created_ms / 1000, from, to, step, nb);
        if (b >= 0)
            arrivals[b]++;
    }
    for (size_t i = 0; i < members->n; i++) {
        const struct db_pool_member *m = members->v[i];
        int64_t born = m->created_ms / 1000;
        int64_t end = m->handed_over_ms ? m->handed_over_ms / 1000
                      : api_member_live(m) ? to
                      : m->expires_ms      ? m->expires_ms / 1000
                                           : born;
        int64_t hb = m->handed_over_ms ? api_bucket(end, from, to, step, nb) : -1;
        if (hb >= 0)
            hits[hb]++;
        for (int64_t b = 0; b < nb; b++) {
            int64_t t = from + b * step; /* alive at the bucket's start */
            if (born <= t && t < end)
                alive[b]++;
        }
    }
    json_t *t = json_array(), *a = json_array(), *h = json_array(), *s = json_array();
    for (int64_t b = 0; b < nb; b++) {
        json_array_append_new(t, json_integer(from + b * step));
        json_array_append_new(a, json_integer(arrivals[b]));
        json_array_append_new(h, json_integer(hits[b]));
        json_array_append_new(s, json_integer(alive[b]));
    }
    free(arrivals);
    free(hits);
    free(alive);
    return api_reply(resp, 0,
                     json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "from", (json_int_t)from,
                               "to", (json_int_t)to, "step", (json_int_t)step, "t", t,
                               "arrivals", a, "hits", h, "pool_size", s));
}
