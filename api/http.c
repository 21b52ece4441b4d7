/* Request helpers shared by the handlers, and the one table that maps the
 * project's error codes to HTTP statuses. */
#include "api/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/uuid.h"

static const int api_status_of[ERR_LAST] = {
    [ERR_INVALID] = 400,      /* the request is wrong */
    [ERR_NOT_FOUND] = 404,
    [ERR_CONFLICT] = 409,     /* state does not allow it, or it exists */
    [ERR_UNSUPPORTED] = 501,  /* valid, but not something we do */
    [ERR_CAPACITY] = 409,     /* the host cannot hold it now */
    [ERR_UNAVAILABLE] = 503,  /* a component or service is down */
    [ERR_TIMEOUT] = 504,
    [ERR_INTERNAL] = 500,
};

int api_err_status(enum err_code code)
{
    if (code <= 0 || code >= ERR_LAST || !api_status_of[code])
        return 500;
    return api_status_of[code];
}

json_t *api_error_body(const char *code, const char *message, const char *request_id)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message ? message : "");
    if (request_id)
        json_object_set_new(e, "request_id", json_string(request_id));
    return json_pack("{s:o}", "error", e);
}

const char *api_query_str(const struct api_req *req, const char *name)
{
    return drv_kv_get(req->query, req->nquery, name);
}

int api_query_int(const struct api_req *req, const char *name, int64_t def, int64_t min,
                  int64_t max, int64_t *out, struct err **err)
{
    const char *v = api_query_str(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno)
        return err_set(err, ERR_INVALID, "query parameter `%s`: `%s` is not an integer", name,
                       v);
    if (n < min || n > max)
        return err_set(err, ERR_INVALID,
                       "query parameter `%s`: %lld is outside [%lld, %lld]", name, n,
                       (long long)min, (long long)max);
    *out = n;
    return 0;
}

/* Unix seconds from "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC only: an offset
 * would be a second way to say the same thing). */
static int api_parse_iso(const char *v, int64_t *out)
{
    struct tm tm = {0};
    const char *rest = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.') {
        rest++;
        if (*rest < '0' || *rest > '9')
            return -1;
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    if (strcmp(rest, "Z") != 0)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int api_query_time(const struct api_req *req, const char *name, int64_t def, int64_t now_s,
                   int64_t *out, struct err **err)
{
    /* Ten years either side of now: enough for any history we keep, and it
     * keeps later arithmetic far from overflow. */
    const int64_t span = 10LL * 366 * 86400;
    const char *v = api_query_str(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    int64_t t;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*v && !*end && !errno)
        t = n < 0 ? now_s + n : n;
    else if (api_parse_iso(v, &t) < 0)
        return err_set(err, ERR_INVALID,
                       "query parameter `%s`: `%s` is neither Unix seconds, a negative offset "
                       "from now, nor an ISO 8601 UTC time",
                       name, v);
    if (t < now_s - span || t > now_s + span)
        return err_set(err, ERR_INVALID, "query parameter `%s`: `%s` is more than ten years "
                       "from now", name, v);
    *out = t;
    return 0;
}

int api_query_range(const struct api_req *req, int64_t span_s, int64_t *from_s, int64_t *to_s,
                    struct err **err)
{
    int64_t now = clock_wall_ms() / 1000;
    if (api_query_time(req, "from", now - span_s, now, from_s, err) < 0 ||
        api_query_time(req, "to", now, now, to_s, err) < 0)
        return -1;
    if (*from_s >= *to_s)
        return err_set(err, ERR_INVALID, "`from` (%lld) is not before `to` (%lld)",
                       (long long)*from_s, (long long)*to_s);
    return 0;
}

int api_req_body_object(const struct api_req *req, json_t **out, struct err **err)
{
    if (!req->body || !json_is_object(req->body))
        return err_set(err, ERR_INVALID, "a JSON object body is required");
    *out = req->body;
    return 0;
}

int api_req_uuid_param(const struct api_req *req, size_t i, const char **out,
                       struct err **err)
{
    const char *v = i < API_MAX_PATH_PARAMS ? req->params[i] : NULL;
    if (!v || !uuid_is_valid(v))
        return err_set(err, ERR_INVALID, "`%.64s` is not a UUID", v ? v : "");
    *out = v;
    return 0;
}

int api_require(const void *dep, const char *what, struct err **err)
{
    if (dep)
        return 0;
    return err_set(err, ERR_UNAVAILABLE, "%s is not running in this process", what);
}
