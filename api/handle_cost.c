/* POST /v1/cost/estimate: what a request would cost sculpted versus as a
 * static flavor, term by term.  GET /v1/cost: the host's cost so far. */
#include <math.h>

#include "api/cost_account.h"
#include "api/handlers.h"
#include "api/json_in.h"
#include "api/json_out.h"
#include "api/request_bp.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "db/db.h"
#include "driver/cost_estimate.h"
#include "driver/sculpt.h"

/* The ceiling the cost policies use: the flavor's vCPUs and memory.  Other
 * dimensions stay 0: not shaped, not priced (drv_cost_estimate's rule). */
static struct drv_res api_flavor_ceiling(const struct drv_instance *inst)
{
    struct drv_res r = drv_res_zero();
    r.v[DRV_RES_VCPU] = inst->flavor.vcpus;
    r.v[DRV_RES_MEM_MIB] = (double)inst->flavor.memory_mb;
    return r;
}

static json_t *api_prices_json(const struct drv_cost_model *m)
{
    json_t *price = json_object(), *violation = json_object(), *idle = json_object();
    for (int k = 0; k < DRV_RES_LAST; k++) {
        const char *n = drv_res_kind_name((enum drv_res_kind)k);
        json_object_set_new(price, n, api_num(m->price[k]));
        json_object_set_new(violation, n, api_num(m->violation[k]));
        json_object_set_new(idle, n, api_num(m->idle[k]));
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "price_per_hour", price, "violation_per_hour",
                     violation, "idle_per_hour", idle, "reshape", api_num(m->reshape));
}

int api_handle_cost_estimate(struct api_req *req, struct api_resp *resp, struct err **err)
{
    json_t *body;
    if (api_req_body_object(req, &body, err) < 0)
        return -1;
    double presculpted_s = 0;
    if (api_json_number(body, "presculpted_s", "", 0, 7 * 86400, false, &presculpted_s, err) < 0)
        return -1;
    struct api_bp_parse ctx = {
        .now_s = clock_wall_ms() / 1000,
        .step_s = (int32_t)req->cfg->blueprint_step_s,
        .horizon_s = (int32_t)req->cfg->blueprint_horizon_s,
    };
    static const char *const extra[] = {"presculpted_s", NULL};
    struct api_request_bp rb;
    if (api_request_resolve(req, body, extra, &ctx, &rb, err) < 0)
        return -1;

    struct drv_cost_model cm;
    struct drv_sculpt_params sp;
    drv_cost_model_from_cfg(req->cfg, &cm);
    drv_sculpt_params_from_cfg(req->cfg, &sp);
    struct drv_cost_shape_policy sculpted = {
        .kind = DRV_COST_SHAPE_SCULPTED,
        .flavor = api_flavor_ceiling(rb.inst),
        .hysteresis = sp.hysteresis,
        .presculpted_s = presculpted_s,
    };
    struct drv_cost_shape_policy fixed = {
        .kind = DRV_COST_SHAPE_STATIC,
        .flavor = sculpted.flavor,
        .presculpted_s = presculpted_s,
    };
    struct drv_cost_terms a, b;
    if (drv_cost_estimate(&cm, rb.bp, &sculpted, &a, err) < 0 ||
        drv_cost_estimate(&cm, rb.bp, &fixed, &b, err) < 0) {
        api_request_bp_release(&rb);
        return -1;
    }
    double saving = b.total - a.total;
    json_t *doc = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "source", rb.source,
                            "blueprint", api_blueprint_json(rb.bp), "request",
                            api_instance_json(rb.inst), "sculpted", api_cost_terms_json(&a),
                            "static", api_cost_terms_json(&b), "saving", api_num(saving),
                            "saving_share", b.total > 0 ? api_num(saving / b.total) : api_num(0),
                            "prices", api_prices_json(&cm));
    api_request_bp_release(&rb);
    return api_reply(resp, 0, doc);
}

static json_t *api_terms_by_res(const double *v)
{
    json_t *o = json_object();
    for (int k = 0; k < DRV_RES_LAST; k++)
        json_object_set_new(o, drv_res_kind_name((enum drv_res_kind)k), api_num(v[k]));
    return o;
}

static double api_sum(const double *v)
{
    double s = 0;
    for (int k = 0; k < DRV_RES_LAST; k++)
        s += v[k];
    return s;
}

int api_handle_cost(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db *db = req->deps->db;
    int64_t from, to;
    if (api_query_range(req, 86400, &from, &to, err) < 0 ||
        api_require(db, "the database", err) < 0)
        return -1;
    struct db_instance_filter f = {.include_deleted = true};
    autoptr(db_instance_list) insts = db_instance_list(db, &f, err);
    if (!insts)
        return -1;
    struct db_usage_query q = {
        .from_ms = from * 1000,
        .to_ms = to * 1000,
        .source = DB_USAGE_ALL,
    };
    autoptr(db_usage_list) usage = db_usage_query(db, &q, err);
    if (!usage)
        return -1;
    /* shapes in force at `from` need the reshapes before it too */
    autoptr(db_reshape_list) rs = db_reshape_list(db, NULL, 0, to * 1000, 0, err);
    if (!rs)
        return -1;
    autoptr(db_pool_member_list) members = db_pool_member_list(db, NULL, false, err);
    if (!members)
        return -1;

    struct drv_cost_model cm;
    drv_cost_model_from_cfg(req->cfg, &cm);
    struct api_cost_account a;
    api_cost_account(&cm, insts, usage, rs, members, from * 1000, to * 1000, &a);
    json_t *doc = json_pack(
        "{s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o}, s:o, s:o, s:o, "
        "s:{s:o, s:o}, s:o, s:o}",
        "from", (json_int_t)from, "to", (json_int_t)to, "from_time", api_time_json(from * 1000),
        "to_time", api_time_json(to * 1000), "guest_hours", api_num(a.guest_hours), "samples",
        (json_int_t)a.samples, "samples_over_shape", (json_int_t)a.over_samples, "terms",
        "resource", api_num(api_sum(a.resource)), "violation", api_num(api_sum(a.violation)),
        "overrun", api_num(api_sum(a.overrun)), "reshape", api_num(a.reshape), "idle",
        api_num(a.idle), "resource", api_terms_by_res(a.resource), "violation",
        api_terms_by_res(a.violation), "overrun", api_terms_by_res(a.overrun), "static", "resource",
        api_terms_by_res(a.static_resource), "violation", api_terms_by_res(a.static_violation),
        "total", api_num(a.total), "static_total", api_num(a.static_total));
    json_object_set_new(doc, "reshapes", json_integer((json_int_t)a.reshapes));
    json_object_set_new(doc, "saving", api_num(a.static_total - a.total));
    return api_reply(resp, 0, doc);
}
