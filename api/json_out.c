#include "api/json_out.h"

#include <math.h>
#include <string.h>

#include "common/clock.h"
#include "db/db.h"

json_t *api_num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *api_res_json(const struct drv_res *r)
{
    json_t *o = json_object();
    for (int k = 0; k < DRV_RES_LAST; k++)
        json_object_set_new(o, drv_res_kind_name((enum drv_res_kind)k), api_num(r->v[k]));
    return o;
}

json_t *api_time_json(int64_t wall_ms)
{
    if (wall_ms <= 0)
        return json_null();
    char buf[40];
    return json_string(clock_format_iso(wall_ms, buf, sizeof(buf)));
}

json_t *api_cpuset_json(const struct drv_cpuset *s)
{
    char buf[4096];
    return json_string(drv_cpuset_format(s, buf, sizeof(buf)));
}

json_t *api_shape_json(const struct drv_shape *s)
{
    return json_pack("{s:o, s:i, s:i, s:o, s:o, s:i, s:I}", "res", api_res_json(&s->res),
                     "vcpus_online", s->vcpus_online, "vcpus_max", s->vcpus_max, "mem_max_mib",
                     api_num(s->mem_max_mib), "pcpus", api_cpuset_json(&s->pcpus), "numa_node",
                     s->numa_node, "cpu_weight", (json_int_t)drv_shape_cpu_weight(s));
}

static json_t *api_inventory_item_json(const struct drv_sculpt_inventory_item *it)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:s?}", "total",
                     (json_int_t)it->total, "reserved", (json_int_t)it->reserved, "min_unit",
                     (json_int_t)it->min_unit, "max_unit", (json_int_t)it->max_unit, "step_size",
                     (json_int_t)it->step_size, "allocation_ratio", api_num(it->allocation_ratio),
                     "held", api_num(it->held), "room", api_num(it->room), "reclaimable",
                     api_num(it->reclaimable), "bound",
                     it->bound < DRV_SCULPT_RULE_LAST ? drv_sculpt_rule_name(it->bound) : NULL);
}

json_t *api_inventory_json(const struct drv_sculpt_inventory *inv)
{
    return json_pack("{s:o, s:o, s:o}", "VCPU", api_inventory_item_json(&inv->vcpu), "MEMORY_MB",
                     api_inventory_item_json(&inv->memory_mb), "DISK_GB",
                     api_inventory_item_json(&inv->disk_gb));
}

json_t *api_kv_json(const struct drv_kv *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, kv[i].key, json_string(kv[i].value ? kv[i].value : ""));
    return o;
}

static bool api_bp_resource_used(const struct drv_blueprint *bp, enum drv_res_kind k)
{
    if (k == DRV_RES_VCPU || k == DRV_RES_MEM_MIB)
        return true;
    for (int32_t s = 0; s < bp->nsteps; s++)
        if (drv_blueprint_get(bp, s, k, DRV_Q_P99) != 0)
            return true;
    return false;
}

json_t *api_blueprint_json(const struct drv_blueprint *bp)
{
    json_t *res = json_object();
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!api_bp_resource_used(bp, (enum drv_res_kind)k))
            continue;
        json_t *r = json_pack("{s:o}", "confidence", api_num(bp->res_confidence[k]));
        for (int q = 0; q < DRV_Q_LAST; q++) {
            json_t *a = json_array();
            for (int32_t s = 0; s < bp->nsteps; s++)
                json_array_append_new(a, api_num(drv_blueprint_get(bp, s, (enum drv_res_kind)k,
                                                                   (enum drv_quantile)q)));
            json_object_set_new(r, drv_quantile_name((enum drv_quantile)q), a);
        }
        json_object_set_new(res, drv_res_kind_name((enum drv_res_kind)k), r);
    }
    json_t *o = json_pack("{s:I, s:i, s:i, s:I, s:o, s:s, s:o}", "start", (json_int_t)bp->start_s,
                          "step_s", bp->step_s, "nsteps", bp->nsteps, "horizon_s",
                          (json_int_t)bp->step_s * bp->nsteps, "confidence",
                          api_num(bp->confidence), "model", bp->model, "resources", res);
    if (bp->start_s > 0)
        json_object_set_new(o, "start_time", api_time_json(bp->start_s * 1000));
    if (bp->alloc) {
        /* what the cost model picks per step, the shape the engine aims at */
        json_t *alloc = json_object();
        for (int k = 0; k < DRV_RES_LAST; k++) {
            if (!api_bp_resource_used(bp, (enum drv_res_kind)k))
                continue;
            json_t *a = json_array();
            for (int32_t st = 0; st < bp->nsteps; st++)
                json_array_append_new(a, api_num(drv_blueprint_alloc_step(bp, st).v[k]));
            json_object_set_new(alloc, drv_res_kind_name((enum drv_res_kind)k), a);
        }
        json_object_set_new(o, "alloc", alloc);
    }
    return o;
}

json_t *api_flavor_json(const struct drv_flavor *f)
{
    return json_pack("{s:s?, s:i, s:I, s:I, s:I, s:I, s:o}", "name", f->name, "vcpus", f->vcpus,
                     "memory_mb", (json_int_t)f->memory_mb, "root_gb", (json_int_t)f->root_gb,
                     "ephemeral_gb", (json_int_t)f->ephemeral_gb, "swap_mb", (json_int_t)f->swap_mb,
                     "extra_specs", api_kv_json(f->extra_specs, f->nextra_specs));
}

json_t *api_instance_json(const struct drv_instance *inst)
{
    return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:s?, s:s?, s:i, s:s?, s:o, "
                     "s:o}",
                     "uuid", inst->uuid, "name", inst->name, "project_id", inst->project_id,
                     "user_id", inst->user_id, "image", inst->image_ref, "flavor",
                     api_flavor_json(&inst->flavor), "metadata",
                     api_kv_json(inst->metadata, inst->nmetadata), "vm_state", inst->vm_state,
                     "task_state", inst->task_state, "power_state", (int)inst->power_state,
                     "domain", inst->domain, "created", api_time_json(inst->created_ms), "shape",
                     api_shape_json(&inst->shape));
}

json_t *api_guest_view_json(const struct drv_sculpt_guest_view *g)
{
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:s, s:b, s:b, s:o, s:o, "
                     "s:I, s:o}",
                     "uuid", g->uuid, "shape", api_shape_json(&g->shape), "target",
                     api_res_json(&g->target), "use", api_res_json(&g->use), "floor",
                     api_res_json(&g->floor), "ceiling", api_res_json(&g->ceiling), "priority",
                     g->priority, "contiguity", api_num(g->contiguity), "confidence",
                     api_num(g->confidence), "model", g->model, "squeezed", g->squeezed,
                     "reclaimable", g->reclaimable, "placed",
                     api_time_json(g->placed_s * 1000), "last_reshape",
                     api_time_json(g->last_reshape_s * 1000), "reshapes", (json_int_t)g->reshapes,
                     "boot_until", api_time_json(g->boot_until_s * 1000));
}

json_t *api_record_json(const struct drv_sculpt_record *r)
{
    return json_pack(
        "{s:I, s:I, s:o, s:s?, s:s, s:s?, s:o, s:s, s:o, s:o, s:o, s:s}", "seq", (json_int_t)r->seq,
        "t", (json_int_t)r->t_s, "time", api_time_json(r->t_s * 1000), "uuid",
        r->uuid[0] ? r->uuid : NULL, "decision", drv_sculpt_decision_name(r->decision), "resource",
        r->res >= 0 && r->res < DRV_RES_LAST ? drv_res_kind_name((enum drv_res_kind)r->res) : NULL,
        "quantile", api_num(r->quantile), "term", r->term, "from", api_num(r->from), "to",
        api_num(r->to), "cost", api_num(r->cost), "text", r->text);
}

json_t *api_refusal_json(const struct drv_sculpt_refusal *r)
{
    return json_pack("{s:s, s:s, s:i, s:I, s:o, s:o, s:o, s:o, s:s}", "rule",
                     drv_sculpt_rule_name(r->rule), "resource", drv_res_kind_name(r->res), "step",
                     r->step, "at", (json_int_t)r->at_s, "time", api_time_json(r->at_s * 1000),
                     "need", api_num(r->need), "limit", api_num(r->limit), "by", api_num(r->by),
                     "text", r->text);
}

json_t *api_cost_terms_json(const struct drv_cost_terms *t)
{
    json_t *resource = json_object(), *violation = json_object();
    for (int k = 0; k < DRV_RES_LAST; k++) {
        const char *n = drv_res_kind_name((enum drv_res_kind)k);
        json_object_set_new(resource, n, api_num(t->resource[k]));
        json_object_set_new(violation, n, api_num(t->violation[k]));
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "resource", resource,
                     "violation", violation, "resource_total", api_num(t->resource_total),
                     "violation_total", api_num(t->violation_total), "reshape", api_num(t->reshape),
                     "idle", api_num(t->idle), "total", api_num(t->total), "reshapes",
                     api_num(t->reshapes), "hours", api_num(t->hours));
}

json_t *api_host_topology_json(const struct drv_host *h)
{
    json_t *nodes = json_array();
    for (int32_t i = 0; i < h->nnodes; i++) {
        const struct drv_host_node *n = &h->nodes[i];
        json_array_append_new(nodes, json_pack("{s:i, s:o, s:o, s:i, s:o}", "id", n->id, "mem_mib",
                                               api_num(n->mem_mib), "mem_usable_mib",
                                               api_num(n->mem_usable_mib), "usable_cpus",
                                               n->ncpus_usable, "cpus", api_cpuset_json(&n->cpus)));
    }
    json_t *l3 = json_array();
    for (int32_t i = 0; i < h->nl3; i++)
        json_array_append_new(l3, json_pack("{s:i, s:o}", "id", h->l3[i].id, "cpus",
                                            api_cpuset_json(&h->l3[i].cpus)));
    json_t *cpus = json_array();
    struct drv_cpuset reserved;
    drv_cpuset_clear(&reserved);
    for (int32_t i = 0; i < h->ncpus; i++) {
        const struct drv_host_cpu *c = &h->cpus[i];
        if (c->reserved)
            drv_cpuset_set(&reserved, c->id);
        json_array_append_new(cpus, json_pack("{s:i, s:i, s:i, s:i, s:i, s:b}", "id", c->id, "node",
                                              c->node, "socket", c->socket, "core", c->core, "l3",
                                              c->l3, "reserved", c->reserved));
    }
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "source",
                     h->source, "cpus", h->ncpus, "cores", h->ncores, "sockets", h->nsockets,
                     "threads_per_core", h->threads_per_core, "usable_cpus",
                     api_cpuset_json(&h->usable), "reserved_cpus", api_cpuset_json(&reserved),
                     "numa_nodes", nodes, "l3", l3, "cpu_list", cpus, "disk_gb",
                     api_num(h->disk_gb), "disk_reserved_gb", api_num(h->disk_reserved_gb));
}

json_t *api_custom_blueprint_json(const struct db_custom_blueprint *cb)
{
    return json_pack("{s:I, s:s, s:s?, s:{s:s?, s:s?, s:s?}, s:o, s:o, s:o}", "id",
                     (json_int_t)cb->id, "name", cb->name, "description", cb->description, "match",
                     "flavor", cb->flavor_name, "image", cb->image_ref, "project_id",
                     cb->project_id, "blueprint", api_blueprint_json(cb->bp), "created",
                     api_time_json(cb->created_ms), "updated", api_time_json(cb->updated_ms));
}

json_t *api_blueprint_rev_json(const struct db_blueprint_rev *rev)
{
    json_t *band = json_object();
    for (int k = 0; k < DRV_RES_LAST; k++)
        json_object_set_new(band, drv_res_kind_name((enum drv_res_kind)k), api_num(rev->band[k]));
    json_t *terms = json_object();
    for (size_t i = 0; i < rev->nterms; i++)
        json_object_set_new(terms, rev->terms[i].name, api_num(rev->terms[i].value));
    return json_pack("{s:i, s:o, s:s?, s:o, s:o, s:o}", "revision", rev->revision, "created",
                     api_time_json(rev->created_ms), "reason", rev->reason, "band", band,
                     "cost_terms", terms, "blueprint", api_blueprint_json(rev->bp));
}

json_t *api_reshape_json(const struct db_reshape *r)
{
    return json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:s?, s:o, s:b, s:s?}", "id",
                     (json_int_t)r->id, "uuid", r->instance_uuid, "at",
                     (json_int_t)(r->at_ms / 1000), "time", api_time_json(r->at_ms), "from",
                     api_shape_json(&r->from), "to", api_shape_json(&r->to), "reason", r->reason,
                     "duration_ms", api_num(r->duration_ms), "ok", r->ok, "error", r->error);
}

json_t *api_event_json(const struct db_event *e)
{
    return json_pack("{s:I, s:I, s:o, s:o, s:s?, s:s, s:s, s:s, s:s?, s:o}", "id",
                     (json_int_t)e->id, "at", (json_int_t)(e->at_ms / 1000), "time",
                     api_time_json(e->at_ms), "instance",
                     e->instance_uuid[0] ? json_string(e->instance_uuid) : json_null(),
                     "request_id", e->request_id, "source", e->source ? e->source : "",
                     "action", e->action ? e->action : "", "code",
                     e->code ? err_code_name(e->code) : "OK", "message", e->message,
                     "duration_ms", api_num(e->duration_ms));
}

json_t *api_usage_json(const struct db_usage_list *l)
{
    json_t *t = json_array(), *step = json_array(), *use = json_object(), *peak = json_object();
    json_t *use_col[DRV_RES_LAST], *peak_col[DRV_RES_LAST];
    for (int k = 0; k < DRV_RES_LAST; k++) {
        use_col[k] = json_array();
        peak_col[k] = json_array();
        json_object_set_new(use, drv_res_kind_name((enum drv_res_kind)k), use_col[k]);
        json_object_set_new(peak, drv_res_kind_name((enum drv_res_kind)k), peak_col[k]);
    }
    for (size_t i = 0; l && i < l->n; i++) {
        const struct db_usage_sample *s = &l->v[i];
        json_array_append_new(t, json_integer(s->t_ms / 1000));
        json_array_append_new(step, json_integer(s->step_s));
        for (int k = 0; k < DRV_RES_LAST; k++) {
            json_array_append_new(use_col[k], api_num(s->use.v[k]));
            json_array_append_new(peak_col[k], api_num(s->peak.v[k]));
        }
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "t", t, "step_s", step, "use", use, "peak", peak);
}

json_t *api_pool_json(const struct db_pool *p)
{
    json_t *terms = json_object();
    for (size_t i = 0; i < p->nterms; i++)
        json_object_set_new(terms, p->terms[i].name, api_num(p->terms[i].value));
    return json_pack(
        "{s:s, s:{s:s?, s:s?, s:s?}, s:i, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
        "key",
        p->key, "class", "flavor", p->flavor_name, "image", p->image_ref, "project_id",
        p->project_id, "target_size", p->target_size, "confidence", api_num(p->confidence),
        "expires", api_time_json(p->expires_ms), "shape", api_shape_json(&p->shape), "cost_terms",
        terms, "hits", (json_int_t)p->hits, "misses", (json_int_t)p->misses, "expiries",
        (json_int_t)p->expiries, "booting_hits", (json_int_t)p->booting_hits, "reclaims",
        (json_int_t)p->reclaims, "created", api_time_json(p->created_ms), "updated",
        api_time_json(p->updated_ms));
}

json_t *api_pool_member_json(const struct db_pool_member *m)
{
    return json_pack("{s:s, s:s?, s:s?, s:s, s:o, s:o, s:o, s:o, s:s?, s:o, s:s?}", "uuid", m->uuid,
                     "pool", m->pool_key, "domain", m->domain, "state",
                     db_member_state_name(m->state), "shape", api_shape_json(&m->shape), "created",
                     api_time_json(m->created_ms), "ready", api_time_json(m->ready_ms), "expires",
                     api_time_json(m->expires_ms), "instance_uuid",
                     m->instance_uuid[0] ? m->instance_uuid : NULL, "handed_over",
                     api_time_json(m->handed_over_ms), "reason", m->reason);
}
