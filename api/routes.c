/* The route table: dispatch, the query-parameter check and the OpenAPI
 * description all read it (api/route.h). */
#include "api/handlers.h"
#include "api/route.h"
#include "common/alloc.h"

#define PUBLIC API_ROUTE_PUBLIC
#define BODY API_ROUTE_BODY

const struct api_route api_routes[] = {
    /* meta */
    {"GET", "/", api_handle_root, PUBLIC | API_ROUTE_HIDDEN, 302, "root", "meta",
     "Redirect to the dashboard", NULL, NULL, NULL, NULL},
    {"GET", "/dashboard", api_handle_root, PUBLIC | API_ROUTE_HIDDEN, 302, "dashboardRoot",
     "meta", "Redirect to the dashboard", NULL, NULL, NULL, NULL},
    {"GET", "/dashboard/*", api_handle_dashboard, PUBLIC | API_ROUTE_HIDDEN | API_ROUTE_PREFIX,
     200, "dashboard", "meta", "The dashboard's files", NULL, NULL, NULL, NULL},
    {"GET", "/v1", api_handle_version, PUBLIC, 200, "getVersion", "meta",
     "The API version and where to find its description", NULL, "Version", NULL, NULL},
    {"GET", "/v1/openapi.json", api_handle_openapi, PUBLIC, 200, "getOpenAPI", "meta",
     "This description", NULL, "OpenAPIDocument", NULL, NULL},
    {"GET", "/metrics", api_handle_metrics, API_ROUTE_METRICS, 200, "getMetrics", "meta",
     "Prometheus metrics (text exposition format 0.0.4)", NULL, "PrometheusText",
     "text/plain", NULL},
};

const size_t api_nroutes = ARRAY_SIZE(api_routes);
