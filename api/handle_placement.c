/* POST /v1/placement/candidates: can this host place a request (or a
 * blueprint) over its whole horizon, starting with which shape -- and if
 * not, which resource is short, by how much, and when. */
#include <math.h>

#include "api/handlers.h"
#include "api/json_out.h"
#include "api/request_bp.h"
#include "common/clock.h"
#include "common/config.h"
#include "driver/cost.h"
#include "driver/cost_estimate.h"
#include "driver/sculpt.h"

/* The entitlement the guest would start with: the blueprint's allocation
 * at its first step (the cost model's band when it carries none), within
 * the ceiling.  Host CPUs are chosen when it is placed, so pcpus stays
 * empty here. */
static struct drv_shape api_start_shape(const struct drv_cost_model *cm,
                                        const struct drv_blueprint *bp,
                                        const struct drv_sculpt_guest_spec *spec)
{
    struct drv_shape s = {.numa_node = -1};
    struct drv_res a = drv_blueprint_alloc_step(bp, 0);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        double ceil_k = spec->ceiling.v[k] > 0 ? spec->ceiling.v[k] : DRV_RES_MAX;
        if (!bp->alloc)
            a.v[k] = drv_cost_sculpted_alloc(cm, bp, 0, (enum drv_res_kind)k, 0, ceil_k);
        if (a.v[k] > ceil_k)
            a.v[k] = ceil_k;
    }
    s.res = a;
    s.vcpus_max = spec->vcpus_max;
    s.mem_max_mib = spec->mem_max_mib;
    s.vcpus_online = (int32_t)ceil(a.v[DRV_RES_VCPU]);
    if (s.vcpus_online < 1)
        s.vcpus_online = 1;
    if (s.vcpus_online > s.vcpus_max)
        s.vcpus_online = s.vcpus_max;
    return s;
}

int api_handle_candidates(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct drv_sculpt *engine = req->deps->engine;
    json_t *body;
    if (api_req_body_object(req, &body, err) < 0)
        return -1;
    struct api_bp_parse ctx = {
        .now_s = clock_wall_ms() / 1000,
        .step_s = (int32_t)req->cfg->blueprint_step_s,
        .horizon_s = (int32_t)req->cfg->blueprint_horizon_s,
    };
    struct api_request_bp rb;
    if (api_request_resolve(req, body, NULL, &ctx, &rb, err) < 0)
        return -1;
    int rc = -1;
    autoerr struct err *refused = NULL;
    struct drv_sculpt_guest_spec spec;
    if (api_require(engine, "the sculpting engine", err) < 0 ||
        drv_sculpt_spec_from_instance(rb.inst, drv_sculpt_host(engine),
                                      (int32_t)req->cfg->engine_default_priority, &spec,
                                      err) < 0)
        goto out;

    struct drv_sculpt_refusal why;
    bool placeable = drv_sculpt_admit(engine, &spec, rb.bp, ctx.now_s, &why, &refused) == 0;
    if (!placeable && err_code_of(refused) != ERR_CAPACITY) {
        *err = steal_pointer(&refused);
        goto out;
    }
    struct drv_cost_model cm;
    drv_cost_model_from_cfg(req->cfg, &cm);
    struct drv_shape shape = api_start_shape(&cm, rb.bp, &spec);
    struct drv_res peak = drv_blueprint_peak(rb.bp, DRV_Q_P99, 0, rb.bp->nsteps);
    json_t *doc = json_pack(
        "{s:b, s:s, s:o, s:o, s:{s:o, s:i, s:o, s:i}, s:o, s:o, s:o}", "placeable", placeable,
        "source", rb.source, "blueprint", api_blueprint_json(rb.bp), "request",
        api_instance_json(rb.inst), "spec", "ceiling", api_res_json(&spec.ceiling), "vcpus_max",
        spec.vcpus_max, "mem_max_mib", api_num(spec.mem_max_mib), "priority", spec.priority,
        "shape", placeable ? api_shape_json(&shape) : json_null(), "peak_p99",
        api_res_json(&peak), "refusal", placeable ? json_null() : api_refusal_json(&why));
    api_reply(resp, 0, doc);
    rc = 0;
 out:
    api_request_bp_release(&rb);
    return rc;
}
