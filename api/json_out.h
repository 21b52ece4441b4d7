/* Plain structs into JSON for responses.  Every function returns a new
 * reference (never NULL: jansson aborts the process through our allocator
 * only when out of memory). */
#ifndef SC_API_JSON_OUT_H
#define SC_API_JSON_OUT_H

#include <jansson.h>
#include <stdint.h>

#include "driver/blueprint.h"
#include "driver/cost_estimate.h"
#include "driver/host.h"
#include "driver/instance.h"
#include "driver/resource.h"
#include "driver/sculpt.h"
#include "driver/shape.h"

struct db_custom_blueprint;
struct db_blueprint_rev;
struct db_reshape;
struct db_event;
struct db_usage_list;
struct db_pool;
struct db_pool_member;

/* A number, or null when it is not finite (JSON has no NaN). */
json_t *api_num(double x);

/* {"vcpu": 0.35, "mem_mib": 1536, ...}: every dimension. */
json_t *api_res_json(const struct drv_res *r);
/* "2026-11-25T19:41:46.123Z" from Unix ms (null for 0). */
json_t *api_time_json(int64_t wall_ms);
json_t *api_cpuset_json(const struct drv_cpuset *s);
/* The shape, with its effective CPU weight (drv_shape_cpu_weight). */
json_t *api_shape_json(const struct drv_shape *s);
/* The Placement inventory per resource class ("VCPU", "MEMORY_MB",
 * "DISK_GB"): Placement's fields, plus what the engine bases them on
 * (held, room, and the admission rule that bounds the room, null when the
 * configured ratio does). */
json_t *api_inventory_json(const struct drv_sculpt_inventory *inv);
json_t *api_kv_json(const struct drv_kv *kv, size_t n);

/* The blueprint as api_parse_blueprint() reads it, plus "start_time" and
 * per step "time" for plotting. */
json_t *api_blueprint_json(const struct drv_blueprint *bp);

json_t *api_flavor_json(const struct drv_flavor *f);
/* The Nova side of an instance: uuid, name, project, flavor, states, shape. */
json_t *api_instance_json(const struct drv_instance *inst);
json_t *api_guest_view_json(const struct drv_sculpt_guest_view *g);
json_t *api_record_json(const struct drv_sculpt_record *r);
json_t *api_refusal_json(const struct drv_sculpt_refusal *r);
json_t *api_cost_terms_json(const struct drv_cost_terms *t);
json_t *api_host_topology_json(const struct drv_host *h);

json_t *api_custom_blueprint_json(const struct db_custom_blueprint *cb);
json_t *api_blueprint_rev_json(const struct db_blueprint_rev *rev);
json_t *api_reshape_json(const struct db_reshape *r);
/* One event of the log: id, at (Unix s), time, instance (null: none),
 * request_id, source, action, code ("OK" or an error code), message,
 * duration_ms. */
json_t *api_event_json(const struct db_event *e);
/* Usage as columns for plotting: {"time": [...], "step_s": [...],
 * "use": {"vcpu": [...], ...}, "peak": {...}}. */
json_t *api_usage_json(const struct db_usage_list *l);
json_t *api_pool_json(const struct db_pool *p);
json_t *api_pool_member_json(const struct db_pool_member *m);

#endif
