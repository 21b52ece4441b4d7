/* The route table: one entry per operation drives dispatch, the query
 * parameter check and the OpenAPI description (api_openapi_build()), so the
 * description cannot drift from what the server answers.  Like Redis's
 * command table (src/commands.def).
 */
#ifndef SC_API_ROUTE_H
#define SC_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http.h"

/* A query parameter a route accepts; others are refused with 400. */
struct api_param {
    const char *name;
    const char *type;        /* OpenAPI type: "string", "integer", "number", "boolean" */
    const char *description;
};

enum api_route_flags {
    API_ROUTE_PUBLIC = 1 << 0,   /* no token needed (dashboard assets, description) */
    API_ROUTE_BODY = 1 << 1,     /* takes a JSON body */
    API_ROUTE_METRICS = 1 << 2,  /* public when [api] metrics_require_auth is off */
    API_ROUTE_HIDDEN = 1 << 3,   /* not in the OpenAPI description (assets) */
    API_ROUTE_PREFIX = 1 << 4,   /* pattern ends in "*": matches any rest of the path */
};

struct api_route {
    const char *method;          /* "GET", "POST", "PUT", "DELETE" */
    const char *pattern;         /* "/v1/instances/{uuid}" */
    api_handler_fn handler;
    unsigned flags;              /* enum api_route_flags */
    int status;                  /* success status: 200, 201, 204 */
    const char *operation_id;    /* OpenAPI operationId */
    const char *tag;             /* OpenAPI tag (group in the description) */
    const char *summary;
    const char *request_schema;  /* components/schemas name, or NULL */
    const char *response_schema; /* components/schemas name, or NULL */
    const char *content_type;    /* non-JSON success body ("text/plain"), or NULL */
    const struct api_param *query; /* terminated by {NULL}, or NULL */
    const char *arg;             /* for the handler: e.g. the config sections it serves */
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

enum api_match {
    API_MATCH_OK,
    API_MATCH_NO_PATH,       /* 404 */
    API_MATCH_NO_METHOD,     /* 405: the path exists for other methods */
};

/* Find the route for method and path.  On API_MATCH_OK *route is set and
 * params[] receives copies of the path parameters (caller frees each).  On
 * API_MATCH_NO_METHOD, `allow` (when not NULL, `allow_size` bytes) gets
 * the methods the path accepts, comma-separated. */
enum api_match api_route_match(const char *method, const char *path,
                               const struct api_route **route,
                               char *params[API_MAX_PATH_PARAMS], char *allow,
                               size_t allow_size);

/* Is `name` one of the route's query parameters? */
bool api_route_has_param(const struct api_route *route, const char *name);

#endif
