/* The route table: dispatch, the query-parameter check and the OpenAPI
 * description all read it (api/route.h).  Order matters only where two
 * patterns match one path: the first wins (/v1/blueprints/preview before
 * /v1/blueprints/{id}). */
#include "api/handlers.h"
#include "api/route.h"
#include "common/alloc.h"

#define PUBLIC API_ROUTE_PUBLIC
#define BODY API_ROUTE_BODY
#define HIDDEN API_ROUTE_HIDDEN

static const struct api_param range_params[] = {
    {"from", "string", "Start of the range: Unix seconds, ISO 8601 UTC, or a negative number "
                       "of seconds before now (default: an hour ago)"},
    {"to", "string", "End of the range, in the same forms (default: now)"},
    {"step", "integer", "Aggregate usage into buckets of this many seconds (0: as stored)"},
    {"limit", "integer", "Most reshapes and decisions returned (default 1000)"},
    {NULL, NULL, NULL},
};

static const struct api_param instance_list_params[] = {
    {"project", "string", "Only this project's instances"},
    {"flavor", "string", "Only instances of this flavor (name)"},
    {"image", "string", "Only instances of this image"},
    {"deleted", "boolean", "Include deleted instances (their history is kept)"},
    {NULL, NULL, NULL},
};

static const struct api_param preview_params[] = {
    {"flavor", "string", "Flavor name"},
    {"vcpus", "integer", "The flavor's vCPUs (required)"},
    {"memory_mb", "integer", "The flavor's memory in MiB (required)"},
    {"root_gb", "integer", "The flavor's root disk in GB"},
    {"image", "string", "Image id"},
    {"project", "string", "Project id"},
    {"name", "string", "Display name (digits count as a pattern: web-1, web-2)"},
    {"metadata", "string", "Instance metadata as k=v,k2=v2"},
    {"horizon", "integer", "Horizon in seconds (default [sculpt] blueprint_horizon)"},
    {"step", "integer", "Step in seconds (default [sculpt] blueprint_step)"},
    {NULL, NULL, NULL},
};

static const struct api_param cost_params[] = {
    {"from", "string", "Start: Unix seconds, ISO 8601 UTC or -SECONDS (default: a day ago)"},
    {"to", "string", "End (default: now)"},
    {NULL, NULL, NULL},
};

static const struct api_param history_params[] = {
    {"from", "string", "Start: Unix seconds, ISO 8601 UTC or -SECONDS (default: an hour ago)"},
    {"to", "string", "End (default: now)"},
    {"limit", "integer", "Most snapshots returned (default 5000)"},
    {NULL, NULL, NULL},
};

static const struct api_param bucket_params[] = {
    {"from", "string", "Start: Unix seconds, ISO 8601 UTC or -SECONDS (default: 6 hours ago)"},
    {"to", "string", "End (default: now)"},
    {"step", "integer", "Bucket length in seconds (default 300)"},
    {NULL, NULL, NULL},
};

static const struct api_param event_params[] = {
    {"instance", "string", "Only this instance's events (UUID)"},
    {"source", "string", "Only events from this source: rpc (Nova's requests), api, "
                         "hypervisor (memory hot-plug outcomes, changes behind sculpt's "
                         "back), reconcile, engine, presculpt"},
    {"action", "string", "Only actions starting with this text (\"memory.\", "
                         "\"power_state.\", \"build_and_run_instance\")"},
    {"request_id", "string", "Only this request's events (req-...)"},
    {"code", "string", "Only this outcome: OK, FAILED (every error) or an error code "
                       "(TIMEOUT, INVALID...)"},
    {"from", "string", "Start: Unix seconds, ISO 8601 UTC or -SECONDS (default: no bound)"},
    {"to", "string", "End, excluded (default: no bound)"},
    {"limit", "integer", "Most events returned, newest first (default 100, at most 1000)"},
    {NULL, NULL, NULL},
};

const struct api_route api_routes[] = {
    /* meta */
    {"GET", "/", api_handle_root, PUBLIC | HIDDEN, 302, "root", "meta",
     "Redirect to the dashboard", NULL, NULL, NULL, NULL, NULL},
    {"GET", "/dashboard", api_handle_root, PUBLIC | HIDDEN, 302, "dashboardRoot", "meta",
     "Redirect to the dashboard", NULL, NULL, NULL, NULL, NULL},
    {"GET", "/dashboard/*", api_handle_dashboard, PUBLIC | HIDDEN | API_ROUTE_PREFIX, 200,
     "dashboard", "meta", "The dashboard's files", NULL, NULL, NULL, NULL, NULL},
    {"GET", "/v1", api_handle_version, PUBLIC, 200, "getVersion", "meta",
     "The API version and where to find its description", NULL, "Version", NULL, NULL, NULL},
    {"GET", "/v1/openapi.json", api_handle_openapi, PUBLIC, 200, "getOpenAPI", "meta",
     "This description", NULL, "OpenAPIDocument", NULL, NULL, NULL},
    {"GET", "/metrics", api_handle_metrics, API_ROUTE_METRICS, 200, "getMetrics", "meta",
     "Prometheus metrics (text exposition format 0.0.4)", NULL, "PrometheusText",
     "text/plain", NULL, NULL},

    /* the host and its guests */
    {"GET", "/v1/host", api_handle_host, 0, 200, "getHost", "host",
     "Topology, capacity, reserved, allocated (sum of shapes), used, free, contiguity", NULL,
     "Host", NULL, NULL, NULL},
    {"GET", "/v1/host/history", api_handle_host_history, 0, 200, "getHostHistory", "host",
     "Capacity, reserved, allocated and used over time (the daemon's host snapshots)", NULL,
     "HostHistory", NULL, history_params, NULL},
    {"GET", "/v1/instances", api_handle_instance_list, 0, 200, "listInstances", "instances",
     "Instances with the shape in force and what the engine aims at", NULL, "InstanceList",
     NULL, instance_list_params, NULL},
    {"GET", "/v1/instances/{uuid}", api_handle_instance_show, 0, 200, "getInstance",
     "instances",
     "One instance: shape now, blueprint, usage history, reshape log and decisions with "
     "reasons",
     NULL, "InstanceDetail", NULL, range_params, NULL},
    {"GET", "/v1/reshapes", api_handle_reshapes, 0, 200, "listReshapes", "instances",
     "The host's reshape log and the engine's decisions over a time range", NULL,
     "ReshapeTimeline", NULL, range_params, NULL},
    {"GET", "/v1/events", api_handle_events, 0, 200, "listEvents", "instances",
     "The event log, newest first: requests and their outcome, memory hot-plug outcomes, "
     "changes made behind sculpt's back",
     NULL, "EventList", NULL, event_params, NULL},

    /* blueprints */
    {"GET", "/v1/blueprints", api_handle_blueprint_list, 0, 200, "listBlueprints",
     "blueprints", "Custom blueprints", NULL, "CustomBlueprintList", NULL, NULL, NULL},
    {"POST", "/v1/blueprints", api_handle_blueprint_create, BODY, 201, "createBlueprint",
     "blueprints", "Create a custom blueprint for a workload class", "CustomBlueprintInput",
     "CustomBlueprint", NULL, NULL, NULL},
    {"GET", "/v1/blueprints/preview", api_handle_blueprint_preview, 0, 200, "previewBlueprint",
     "blueprints",
     "The blueprint a request (flavor, image, project, metadata) would get now, with its "
     "confidence and where it comes from",
     NULL, "BlueprintPreview", NULL, preview_params, NULL},
    {"GET", "/v1/blueprints/{id}", api_handle_blueprint_get, 0, 200, "getBlueprint",
     "blueprints", "One custom blueprint", NULL, "CustomBlueprint", NULL, NULL, NULL},
    {"PUT", "/v1/blueprints/{id}", api_handle_blueprint_put, BODY, 200, "replaceBlueprint",
     "blueprints", "Replace a custom blueprint", "CustomBlueprintInput", "CustomBlueprint",
     NULL, NULL, NULL},
    {"DELETE", "/v1/blueprints/{id}", api_handle_blueprint_delete, 0, 204, "deleteBlueprint",
     "blueprints", "Delete a custom blueprint", NULL, NULL, NULL, NULL, NULL},

    /* placement and cost */
    {"POST", "/v1/placement/candidates", api_handle_candidates, BODY, 200, "placementCandidates",
     "placement",
     "Can this host place the request or blueprint over its horizon: with which shape, or "
     "what is short, by how much, when",
     "GuestRequest", "Candidates", NULL, NULL, NULL},
    {"POST", "/v1/cost/estimate", api_handle_cost_estimate, BODY, 200, "estimateCost", "cost",
     "Cost of a request or blueprint sculpted versus as a static flavor, term by term",
     "CostEstimateRequest", "CostEstimate", NULL, NULL, NULL},
    {"GET", "/v1/cost", api_handle_cost, 0, 200, "getCost", "cost",
     "The host's cost so far, by term, next to what static flavors would have cost", NULL,
     "CostSoFar", NULL, cost_params, NULL},

    /* pools */
    {"GET", "/v1/pools", api_handle_pools, 0, 200, "listPools", "pools",
     "Pre-sculpted pools: classes, sizes, confidences, hits, misses, expiries, idle capacity",
     NULL, "PoolList", NULL, NULL, NULL},

    {"GET", "/v1/pools/history", api_handle_pools_history, 0, 200, "getPoolHistory", "pools",
     "Per time bucket: requests that arrived, requests a pool served, pool members alive",
     NULL, "PoolHistory", NULL, bucket_params, NULL},

    /* run-time settings */
    {"GET", "/v1/config/predictor", api_handle_config_get, 0, 200, "getPredictorConfig",
     "config", "Prediction settings ([predict], and [sculpt] as sculpt.*)", NULL, "Config",
     NULL, NULL, "predict,sculpt"},
    {"PUT", "/v1/config/predictor", api_handle_config_put, BODY, 200, "setPredictorConfig",
     "config", "Change prediction settings now; persisted", "ConfigChange", "Config", NULL,
     NULL, "predict,sculpt"},
    {"DELETE", "/v1/config/predictor", api_handle_config_delete, 0, 200, "resetPredictorConfig",
     "config", "Prediction settings back to sculpt.conf: the run-time changes removed", NULL,
     "Config", NULL, NULL, "predict,sculpt"},
    {"GET", "/v1/config/cost", api_handle_config_get, 0, 200, "getCostConfig", "config",
     "The cost model's prices ([cost])", NULL, "Config", NULL, NULL, "cost"},
    {"PUT", "/v1/config/cost", api_handle_config_put, BODY, 200, "setCostConfig", "config",
     "Change prices now; persisted", "ConfigChange", "Config", NULL, NULL, "cost"},
    {"DELETE", "/v1/config/cost", api_handle_config_delete, 0, 200, "resetCostConfig", "config",
     "Prices back to sculpt.conf: the run-time changes removed", NULL, "Config", NULL, NULL,
     "cost"},
    {"GET", "/v1/config/presculpt", api_handle_config_get, 0, 200, "getPresculptConfig",
     "config", "Pre-sculpting settings ([presculpt])", NULL, "Config", NULL, NULL,
     "presculpt"},
    {"PUT", "/v1/config/presculpt", api_handle_config_put, BODY, 200, "setPresculptConfig",
     "config", "Change pre-sculpting settings now; persisted", "ConfigChange", "Config", NULL,
     NULL, "presculpt"},
    {"DELETE", "/v1/config/presculpt", api_handle_config_delete, 0, 200, "resetPresculptConfig",
     "config", "Pre-sculpting settings back to sculpt.conf: the run-time changes removed", NULL,
     "Config", NULL, NULL, "presculpt"},
};

const size_t api_nroutes = ARRAY_SIZE(api_routes);
