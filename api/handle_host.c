/* GET /v1/host: topology, capacity, reserved, allocated (sum of shapes),
 * used (observed), free, how contiguous the guests' CPU sets are, and the
 * Placement inventory the engine's figures make. */
#include "api/handlers.h"
#include "api/json_out.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "db/db.h"
#include "driver/sculpt.h"

/* What the operator keeps back: reserved CPUs and each node's share of
 * the reserved memory. */
static struct drv_res api_host_reserved(const struct drv_host *h)
{
    struct drv_res r = drv_res_zero();
    for (int32_t i = 0; i < h->ncpus; i++)
        if (h->cpus[i].reserved)
            r.v[DRV_RES_VCPU] += 1;
    for (int32_t i = 0; i < h->nnodes; i++)
        r.v[DRV_RES_MEM_MIB] += h->nodes[i].mem_mib - h->nodes[i].mem_usable_mib;
    return drv_res_clamp_nonneg(r);
}

int api_handle_host(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct drv_sculpt *engine = req->deps->engine;
    if (api_require(engine, "the sculpting engine", err) < 0)
        return -1;
    const struct drv_host *h = drv_sculpt_host(engine);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(engine);

    struct drv_res reserved = api_host_reserved(h);
    struct drv_res free_now = drv_res_clamp_nonneg(drv_res_sub(snap->capacity, snap->allocated));
    struct drv_res headroom = drv_res_clamp_nonneg(drv_res_sub(snap->ceiling, snap->allocated));
    json_t *load = json_array();
    for (int32_t i = 0; i < snap->ncpus && i < h->ncpus; i++)
        json_array_append_new(load, json_pack("{s:i, s:i, s:b, s:o}", "cpu", h->cpus[i].id,
                                              "node", h->nodes[h->cpus[i].node].id, "reserved",
                                              h->cpus[i].reserved, "entitled",
                                              api_num(snap->cpu_load[i])));
    json_t *doc = json_pack(
        "{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:I, "
        "s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
        "host", req->cfg->host, "t", (json_int_t)snap->t_s, "time",
        api_time_json(snap->t_s * 1000), "topology", api_host_topology_json(h), "capacity",
        api_res_json(&snap->capacity), "reserved", api_res_json(&reserved), "ratio",
        api_res_json(&h->ratio), "ceiling", api_res_json(&snap->ceiling), "allocated",
        api_res_json(&snap->allocated), "used", api_res_json(&snap->used), "free",
        api_res_json(&free_now), "headroom", api_res_json(&headroom), "flavors",
        api_res_json(&snap->flavors), "contiguity", api_num(snap->contiguity), "shortage",
        snap->shortage, "guests", (json_int_t)snap->nguests, "counters", "admitted",
        (json_int_t)snap->admitted, "refused", (json_int_t)snap->refused, "reshapes",
        (json_int_t)snap->reshapes, "squeezes", (json_int_t)snap->squeezes, "repins",
        (json_int_t)snap->repins, "skipped", (json_int_t)snap->skipped, "cpu_load", load);
    /* fragmentation as the database records it: the complement of contiguity */
    json_object_set_new(doc, "fragmentation", api_num(1.0 - snap->contiguity));
    /* what sculpt-compute reports to Placement (it writes it when it moved
     * beyond [engine] inventory_hysteresis since the last write) */
    struct drv_sculpt_inventory inv;
    drv_sculpt_inventory(engine, &inv);
    json_object_set_new(doc, "inventory", api_inventory_json(&inv));
    /* and what Placement last got: it lags `inventory` by up to the
     * hysteresis, and it is what the scheduler decides by */
    struct drv_sculpt_inventory was;
    int64_t at_ms;
    const struct api_deps *d = req->deps;
    if (d->inventory_reported && d->inventory_reported(d->ctx, &was, &at_ms))
        json_object_set_new(doc, "inventory_reported",
                            json_pack("{s:o, s:o}", "time", api_time_json(at_ms), "inventory",
                                      api_inventory_json(&was)));
    else
        json_object_set_new(doc, "inventory_reported", json_null());
    return api_reply(resp, 0, doc);
}

/* GET /v1/host/history: the host's capacity, allocated and used over time,
 * from the snapshots the daemon records. */
int api_handle_host_history(struct api_req *req, struct api_resp *resp, struct err **err)
{
    int64_t from, to, limit;
    if (api_query_range(req, 3600, &from, &to, err) < 0 ||
        api_query_int(req, "limit", 5000, 1, 100000, &limit, err) < 0)
        return -1;
    if (api_require(req->deps->db, "the database", err) < 0)
        return -1;
    autoptr(db_host_snapshot_list) l = db_host_snapshot_list(req->deps->db, from * 1000,
                                                             to * 1000, (size_t)limit, err);
    if (!l)
        return -1;
    json_t *t = json_array(), *frag = json_array();
    json_t *cols[4];
    static const char *const names[] = {"capacity", "reserved", "allocated", "used"};
    json_t *doc = json_pack("{s:I, s:I, s:o, s:o}", "from", (json_int_t)from, "to",
                            (json_int_t)to, "t", t, "fragmentation", frag);
    for (int c = 0; c < 4; c++) {
        cols[c] = json_object();
        for (int k = 0; k < DRV_RES_LAST; k++)
            json_object_set_new(cols[c], drv_res_kind_name((enum drv_res_kind)k), json_array());
        json_object_set_new(doc, names[c], cols[c]);
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct db_host_snapshot *s = l->v[i];
        const struct drv_res *v[4] = {&s->capacity, &s->reserved, &s->allocated, &s->used};
        json_array_append_new(t, json_integer(s->at_ms / 1000));
        json_array_append_new(frag, api_num(s->fragmentation));
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < DRV_RES_LAST; k++)
                json_array_append_new(
                    json_object_get(cols[c], drv_res_kind_name((enum drv_res_kind)k)),
                    api_num(v[c]->v[k]));
    }
    return api_reply(resp, 0, doc);
}
