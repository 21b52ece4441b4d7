/* GET /v1/events: the event log (requests received and their outcome,
 * changes made behind sculpt's back, memory hot-plug outcomes), newest
 * first, filtered by instance, source, action prefix, outcome and time. */
#include <string.h>

#include "api/handle_events_priv.h"
#include "api/handlers.h"
#include "api/json_out.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/uuid.h"

/* Longest source, action prefix and request id accepted. */
#define API_EVENTS_SOURCE_MAX 32
#define API_EVENTS_TEXT_MAX 128

static bool api_source_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Printable ASCII: actions hold spaces ("PUT /v1/config/cost"). */
static bool api_text_char(char c)
{
    return c >= 0x20 && c < 0x7f;
}

static bool api_request_id_char(char c)
{
    return c > 0x20 && c < 0x7f;
}

/* Query parameter `name` when present: 1 to `max` bytes, each accepted by
 * `ok`.  *out is NULL when absent. */
static int api_query_text(const struct api_req *req, const char *name, size_t max,
                          bool (*ok)(char), const char *what, const char **out,
                          struct err **err)
{
    const char *v = api_query_str(req, name);
    *out = v;
    if (!v)
        return 0;
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return err_set(err, ERR_INVALID, "query parameter `%s`: %zu bytes, expected 1 to %zu",
                       name, n, max);
    for (size_t i = 0; i < n; i++)
        if (!ok(v[i]))
            return err_set(err, ERR_INVALID, "query parameter `%s`: `%.64s` is not %s", name,
                           v, what);
    return 0;
}

int api_events_query_parse(const struct api_req *req, int64_t now_s,
                           struct db_event_filter *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    out->instance_uuid = api_query_str(req, "instance");
    if (out->instance_uuid && !uuid_is_valid(out->instance_uuid))
        return err_set(err, ERR_INVALID, "query parameter `instance`: `%.64s` is not a UUID",
                       out->instance_uuid);
    if (api_query_text(req, "source", API_EVENTS_SOURCE_MAX, api_source_char,
                       "a source name (rpc, hypervisor, reconcile...)", &out->source, err) < 0 ||
        api_query_text(req, "action", API_EVENTS_TEXT_MAX, api_text_char, "printable text",
                       &out->action_prefix, err) < 0 ||
        api_query_text(req, "request_id", API_EVENTS_TEXT_MAX, api_request_id_char,
                       "a request id", &out->request_id, err) < 0)
        return -1;
    out->code = api_query_str(req, "code");
    if (out->code && !db_event_code_valid(out->code))
        return err_set(err, ERR_INVALID, "query parameter `code`: `%.32s` is not OK, FAILED "
                       "or an error code (INVALID, NOT_FOUND, CONFLICT, UNSUPPORTED, "
                       "CAPACITY, UNAVAILABLE, TIMEOUT, INTERNAL)", out->code);
    int64_t from = 0, to = 0, limit;
    if (api_query_time(req, "from", 0, now_s, &from, err) < 0 ||
        api_query_time(req, "to", 0, now_s, &to, err) < 0 ||
        api_query_int(req, "limit", API_EVENTS_LIMIT_DEFAULT, 1, API_EVENTS_LIMIT_MAX, &limit,
                      err) < 0)
        return -1;
    /* an absent bound is none: 0 (the epoch) stands for it below */
    if (api_query_str(req, "from") && api_query_str(req, "to") && from >= to)
        return err_set(err, ERR_INVALID, "`from` (%lld) is not before `to` (%lld)",
                       (long long)from, (long long)to);
    out->from_ms = from * 1000;
    out->to_ms = to * 1000;
    out->limit = (size_t)limit;
    return 0;
}

int api_handle_events(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct db_event_filter f;
    if (api_events_query_parse(req, clock_wall_ms() / 1000, &f, err) < 0 ||
        api_require(req->deps->db, "the database", err) < 0)
        return -1;
    size_t limit = f.limit;
    f.limit = limit + 1; /* one more says whether the limit cut the list */
    autoptr(db_event_list) l = db_event_list(req->deps->db, &f, err);
    if (!l)
        return err_wrap(err, "the event log");
    json_t *rows = json_array();
    for (size_t i = 0; i < l->n && i < limit; i++)
        json_array_append_new(rows, api_event_json(&l->v[i]));
    return api_reply(resp, 0,
                     json_pack("{s:o, s:I, s:b}", "events", rows, "limit", (json_int_t)limit,
                               "more", l->n > limit));
}
