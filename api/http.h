/* What a handler sees of a request and fills in of the response.
 *
 * Handlers are thin (crun's src/kill.c over libcrun): they read validated
 * input through the helpers below, call into the components, and either
 * fill `resp` and return 0, or return -1 with *err set; the server maps the
 * error's code to an HTTP status through one table (api_err_status()).
 */
#ifndef SC_API_HTTP_H
#define SC_API_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/server.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "driver/instance.h"

struct api_route;

#define API_MAX_PATH_PARAMS 4

/* The event-log record of a change made through the API (api/audit.h). */
struct api_audit {
    const char *action;               /* "config.set"; NULL: the request changes nothing */
    struct strbuf notes;              /* what changed, as the handler said it */
};

struct api_req {
    const char *method;               /* "GET", ... (HEAD is served as GET) */
    const char *path;                 /* decoded path, no query */
    const struct api_route *route;    /* the route that matched */
    char *params[API_MAX_PATH_PARAMS]; /* owned: path parameters in pattern order */
    struct drv_kv *query;             /* owned: query parameters, validated names */
    size_t nquery;
    json_t *body;                     /* owned: parsed JSON body, NULL when none */
    const struct api_deps *deps;
    struct cfg *cfg;                  /* reference on the published config */
    const char *request_id;           /* "req-<uuid>" */
    const char *user;                 /* who authenticated ("admin-token", a user id) */
    struct api_audit audit;           /* owned: filled by api_audit_begin/_note */
};

struct api_resp {
    int status;                       /* 0: the route's success status */
    json_t *json;                     /* owned; sent as application/json */
    char *text;                       /* owned; sent as-is with content_type */
    size_t text_len;
    const void *blob;                 /* borrowed static body (built-in assets) */
    size_t blob_len;
    const char *content_type;         /* for text and blob */
    char *location;                   /* owned; Location header (201) */
};

typedef int (*api_handler_fn)(struct api_req *req, struct api_resp *resp, struct err **err);

/* The HTTP status for an error code (one table), and the error body
 * {"error": {"code", "message", "request_id"}}. */
int api_err_status(enum err_code code);
json_t *api_error_body(const char *code, const char *message, const char *request_id);

/* Query parameters.  Each returns 0 and sets *out (to `def` when the
 * parameter is absent), or -1 with an INVALID error naming the parameter
 * and the bad value. */
const char *api_query_str(const struct api_req *req, const char *name);
int api_query_int(const struct api_req *req, const char *name, int64_t def, int64_t min,
                  int64_t max, int64_t *out, struct err **err);
/* A time as Unix seconds ("1700000000") or ISO 8601 UTC
 * ("2026-11-25T19:41:46Z"); relative "-3600" means an hour before now. */
int api_query_time(const struct api_req *req, const char *name, int64_t def, int64_t now_s,
                   int64_t *out, struct err **err);

/* The time range of `from` and `to` (api_query_time forms): `from`
 * defaults to `span_s` before now, `to` to now, and `from` must come
 * before `to`.  Returns 0 or -1 with INVALID. */
int api_query_range(const struct api_req *req, int64_t span_s, int64_t *from_s, int64_t *to_s,
                    struct err **err);

/* The body as an object; INVALID "a JSON object body is required" when the
 * request has none. */
int api_req_body_object(const struct api_req *req, json_t **out, struct err **err);

/* The path parameter `i` checked as a UUID (INVALID otherwise). */
int api_req_uuid_param(const struct api_req *req, size_t i, const char **out,
                       struct err **err);

/* Fail with UNAVAILABLE naming `what` when a dependency is missing. */
int api_require(const void *dep, const char *what, struct err **err);

/* Set a JSON response (steals `json`) with status (0: the route's). */
static inline int api_reply(struct api_resp *resp, int status, json_t *json)
{
    resp->status = status;
    resp->json = json;
    return 0;
}

#endif
