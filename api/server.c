/* The HTTP side: libmicrohttpd's callbacks, request checks in a fixed
 * order (route, token, body size and type, query names, JSON), dispatch
 * through the route table, and the response.
 */
#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/audit.h"
#include "api/auth.h"
#include "api/http.h"
#include "api/keystone_auth.h"
#include "api/metrics_collect.h"
#include "api/route.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/strbuf.h"
#include "common/uuid.h"

LOG_INIT("api.server");

struct api_server {
    struct MHD_Daemon *mhd;
    struct api_deps deps;
    struct cfg *cfg;                 /* reference: what was fixed at start */
    struct api_auth *auth;
    uint16_t port;
    struct metrics_family *latency;  /* sculpt_api_request_duration_seconds */
    int collector;                   /* metrics collector id, 0: none */
};

/* One request's state across libmicrohttpd's calls (its con_cls). */
struct api_conn {
    int64_t start_ns;
    char request_id[48];
    const struct api_route *route;   /* NULL when unmatched */
    char *params[API_MAX_PATH_PARAMS];
    char user[256];                  /* who authenticated (api_auth_check) */
    struct strbuf body;
    size_t body_limit;
    bool answered;                   /* a response was queued early */
    bool too_large;                  /* the body outgrew the limit: dropping it */
    size_t dropped;                  /* bytes dropped since */
    int status;                      /* what was sent, for metrics */
};

static void api_conn_free(struct api_conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < API_MAX_PATH_PARAMS; i++)
        free(c->params[i]);
    strbuf_release(&c->body);
    free(c);
}

static void api_resp_release(struct api_resp *r)
{
    json_decref(r->json);
    free(r->text);
    free(r->location);
}

/* Queue `r` as the response; takes what r owns.  Returns MHD's verdict. */
static enum MHD_Result api_send(struct MHD_Connection *conn, struct api_conn *c,
                                struct api_resp *r, const char *allow)
{
    struct MHD_Response *resp;
    const char *type = r->content_type;

    if (r->json) {
        char *text = json_dumps(r->json, JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (!text)
            abort(); /* jansson fails here only when out of memory */
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        type = "application/json";
    } else if (r->text) {
        resp = MHD_create_response_from_buffer(r->text_len, r->text, MHD_RESPMEM_MUST_FREE);
        r->text = NULL;
    } else if (r->blob) {
        resp = MHD_create_response_from_buffer(r->blob_len, (void *)r->blob,
                                               MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        api_resp_release(r);
        return MHD_NO;
    }
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-OpenStack-Request-Id", c->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (!r->blob)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (r->status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"sculpt\"");
    c->status = r->status;
    c->answered = true;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    api_resp_release(r);
    return ret;
}

static enum MHD_Result api_send_error(struct MHD_Connection *conn, struct api_conn *c,
                                      int status, const char *code, const char *message,
                                      const char *allow)
{
    struct api_resp r = {.status = status,
                         .json = api_error_body(code, message, c->request_id)};
    return api_send(conn, c, &r, allow);
}

/* Report a handler's error once, here where it is handled: 5xx are our
 * failures (error), 4xx the client's (info). */
static enum MHD_Result api_send_err(struct MHD_Connection *conn, struct api_conn *c,
                                    const struct err *e)
{
    int status = api_err_status(e->code);
    if (status >= 500)
        log_err(LOG_LEVEL_ERROR, e, "%s failed", c->route ? c->route->pattern : "request");
    else
        log_info("%s refused: %s", c->route ? c->route->pattern : "request", e->msg);
    return api_send_error(conn, c, status, err_code_name(e->code), e->msg, NULL);
}

static const char *api_token_of(struct MHD_Connection *conn)
{
    const char *t = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Auth-Token");
    if (t && *t)
        return t;
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (a && strncasecmp(a, "Bearer ", 7) == 0)
        return a + 7;
    return NULL;
}

static bool api_route_public(const struct api_route *r, const struct cfg *cfg)
{
    if (r->flags & API_ROUTE_PUBLIC)
        return true;
    return (r->flags & API_ROUTE_METRICS) && !cfg->api_metrics_auth;
}

/* Checks that need only the request line and headers, in the order a
 * client can act on: route, credentials, body size and type.  Returns true
 * when a response was queued (or the connection must close). */
static bool api_check_headers(struct api_server *srv, struct MHD_Connection *conn,
                              struct api_conn *c, const char *url, const char *method,
                              const struct cfg *cfg, enum MHD_Result *ret)
{
    char allow[64];
    enum api_match m = api_route_match(method, url, &c->route, c->params, allow, sizeof(allow));
    if (m == API_MATCH_NO_PATH) {
        *ret = api_send_error(conn, c, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such route", NULL);
        return true;
    }
    if (m == API_MATCH_NO_METHOD) {
        char msg[128];
        snprintf(msg, sizeof(msg), "method %s is not allowed here (allowed: %s)", method, allow);
        *ret = api_send_error(conn, c, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", msg,
                              allow);
        return true;
    }

    if (!api_route_public(c->route, cfg)) {
        char why[256];
        enum api_auth_result a = api_auth_check(srv->auth, cfg, api_token_of(conn),
                                                clock_wall_ms() / 1000, c->user, why,
                                                sizeof(why));
        static const struct {
            int status;
            const char *code;
        } refusal[] = {
            [API_AUTH_MISSING] = {MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED"},
            [API_AUTH_INVALID] = {MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED"},
            [API_AUTH_FORBIDDEN] = {MHD_HTTP_FORBIDDEN, "FORBIDDEN"},
            [API_AUTH_UNAVAILABLE] = {MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE"},
        };
        if (a != API_AUTH_OK) {
            *ret = api_send_error(conn, c, refusal[a].status, refusal[a].code, why, NULL);
            return true;
        }
    } else {
        snprintf(c->user, sizeof(c->user), "anonymous");
    }

    const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len && strtoull(len, NULL, 10) > c->body_limit) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the body is larger than the limit of %zu bytes",
                 c->body_limit);
        *ret = api_send_error(conn, c, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE", msg,
                              NULL);
        return true;
    }
    const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_TYPE);
    if ((c->route->flags & API_ROUTE_BODY) && type &&
        strncasecmp(type, "application/json", 16) != 0) {
        *ret = api_send_error(conn, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json",
                              NULL);
        return true;
    }
    (void)srv;
    return false;
}

struct api_query_walk {
    const struct api_route *route;
    struct drv_kv *kv;
    size_t n;
    char *bad;                       /* owned: first problem found */
};

static enum MHD_Result api_query_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    struct api_query_walk *w = cls;
    (void)kind;
    if (w->bad)
        return MHD_NO;
    if (!api_route_has_param(w->route, key)) {
        w->bad = xasprintf("unknown query parameter `%.64s`", key);
        return MHD_NO;
    }
    if (drv_kv_get(w->kv, w->n, key)) {
        w->bad = xasprintf("query parameter `%.64s` is given twice", key);
        return MHD_NO;
    }
    w->kv = xreallocarray(w->kv, w->n + 1, sizeof(*w->kv));
    w->kv[w->n].key = xstrdup(key);
    w->kv[w->n].value = xstrdup(value ? value : "");
    w->n++;
    return MHD_YES;
}

static void api_req_release(struct api_req *req)
{
    api_audit_release(&req->audit);
    drv_kv_release(req->query, req->nquery);
    json_decref(req->body);
    cfg_unref(req->cfg);
}

/* The whole request is in: validate the query and body, run the handler. */
static enum MHD_Result api_dispatch(struct api_server *srv, struct MHD_Connection *conn,
                                    struct api_conn *c, const char *url, const char *method)
{
    struct api_req req = {
        .method = strcmp(method, "HEAD") == 0 ? "GET" : method,
        .path = url,
        .route = c->route,
        .deps = &srv->deps,
        .cfg = cfg_acquire(),
        .request_id = c->request_id,
        .user = c->user,
    };
    if (!req.cfg)
        req.cfg = cfg_ref(srv->cfg);
    memcpy(req.params, c->params, sizeof(req.params));
    api_audit_begin(&req);
    autoerr struct err *err = NULL;
    enum MHD_Result ret;

    struct api_query_walk w = {.route = c->route};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, api_query_collect, &w);
    req.query = w.kv;
    req.nquery = w.n;
    if (w.bad) {
        err_set(&err, ERR_INVALID, "%s", w.bad);
        free(w.bad);
        goto fail;
    }

    if (c->body.len > 0) {
        if (!(c->route->flags & API_ROUTE_BODY)) {
            err_set(&err, ERR_INVALID, "this route takes no body");
            goto fail;
        }
        json_error_t jerr;
        req.body = json_loadb(c->body.s, c->body.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!req.body) {
            err_set(&err, ERR_INVALID, "the body is not valid JSON: %s (line %d, column %d)",
                    jerr.text, jerr.line, jerr.column);
            goto fail;
        }
    }

    struct api_resp resp = {0};
    if (c->route->handler(&req, &resp, &err) < 0) {
        api_resp_release(&resp);
        goto fail;
    }
    if (!resp.status)
        resp.status = c->route->status;
    if (!resp.json && !resp.text && !resp.blob && resp.status < 300 && resp.status != 204) {
        /* jansson refuses non-finite numbers: a NaN in a component's state
         * ends up here rather than as an empty 200. */
        api_resp_release(&resp);
        err_set(&err, ERR_INTERNAL, "the response could not be encoded as JSON");
        goto fail;
    }
    api_audit_finish(&req, NULL, (double)(clock_mono_ns() - c->start_ns) / 1e6);
    ret = api_send(conn, c, &resp, NULL);
    api_req_release(&req);
    return ret;

 fail:
    api_audit_finish(&req, err, (double)(clock_mono_ns() - c->start_ns) / 1e6);
    ret = api_send_err(conn, c, err);
    api_req_release(&req);
    return ret;
}

static enum MHD_Result api_access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct api_server *srv = cls;
    struct api_conn *c = *con_cls;
    (void)version;

    if (!c) {
        c = xzalloc(sizeof(*c));
        *con_cls = c;
        c->start_ns = clock_mono_ns();
        c->body_limit = (size_t)srv->cfg->api_max_body_bytes;
        char uuid[UUID_STR_LEN];
        if (uuid_generate(uuid, NULL) < 0)
            snprintf(uuid, sizeof(uuid), "%lld", (long long)c->start_ns);
        snprintf(c->request_id, sizeof(c->request_id), "req-%s", uuid);
        log_ctx_set(c->request_id, NULL);
        autocfg cfg = cfg_acquire();
        enum MHD_Result ret = MHD_YES;
        api_check_headers(srv, conn, c, url, method, cfg ? cfg : srv->cfg, &ret);
        log_ctx_clear();
        return ret;
    }
    if (c->answered) {
        /* Refused early: drop whatever body is still coming. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->too_large || c->body.len + n > c->body_limit) {
            /* A body without Content-Length grew past the limit: read and
             * drop the rest, then answer 413 -- answering mid-stream would
             * close on unread data and the client would see a reset, not
             * the answer.  Past 16 times the limit we hang up instead. */
            c->too_large = true;
            c->dropped += n;
            strbuf_release(&c->body);
            return c->dropped > 16 * c->body_limit ? MHD_NO : MHD_YES;
        }
        strbuf_append_len(&c->body, upload_data, n);
        return MHD_YES;
    }
    if (c->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the body is larger than the limit of %zu bytes",
                 c->body_limit);
        return api_send_error(conn, c, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE", msg,
                              NULL);
    }
    log_ctx_set(c->request_id, NULL);
    enum MHD_Result ret = api_dispatch(srv, conn, c, url, method);
    log_ctx_clear();
    return ret;
}

static void api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    struct api_conn *c = *con_cls;
    (void)conn;
    (void)toe;
    if (!c)
        return;
    if (c->answered) {
        char status[8];
        snprintf(status, sizeof(status), "%d", c->status);
        double s = (double)(clock_mono_ns() - c->start_ns) / 1e9;
        metrics_observe(srv->latency, s,
                        METRICS_LABELS(c->route ? c->route->method : "other",
                                       c->route ? c->route->pattern : "unmatched", status));
    }
    api_conn_free(c);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void api_mhd_log(void *cls, const char *fmt,
                                                               va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_warn("libmicrohttpd: %s", buf);
}

/* Bind [api] listen:port ourselves, so a failure says why (address in
 * use, not an address...) rather than libmicrohttpd's bare NULL. */
static int api_listen(const struct cfg *cfg, bool *ipv6, struct err **err)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    if (inet_pton(AF_INET, cfg->api_listen, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->api_port);
        len = sizeof(*in4);
        *ipv6 = false;
    } else if (inet_pton(AF_INET6, cfg->api_listen, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->api_port);
        len = sizeof(*in6);
        *ipv6 = true;
    } else {
        return err_set(err, ERR_INVALID,
                       "option `[api] listen`: `%s` is not an IPv4 or IPv6 address",
                       cfg->api_listen);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set_errno(err, errno, "socket for the API");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (*ipv6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return err_set_errno(err, e, "listen on [%s]:%lld for the API", cfg->api_listen,
                             cfg->api_port);
    }
    return fd;
}

struct api_server *api_server_start(const struct api_deps *deps, const struct cfg *cfg,
                                    struct err **err)
{
    bool ipv6 = false;
    int fd = api_listen(cfg, &ipv6, err);
    if (fd < 0)
        return NULL;

    struct api_server *srv = xzalloc(sizeof(*srv));
    srv->deps = *deps;
    srv->cfg = cfg_ref((struct cfg *)cfg);
    srv->auth = api_keystone_auth_new(deps->keystone);
    srv->latency = metrics_histogram("sculpt_api_request_duration_seconds",
                                     "Time to answer a REST API request, by route and status.",
                                     "method,route,status", metrics_latency_buckets,
                                     METRICS_LATENCY_NBUCKETS);

    srv->collector = api_metrics_collect_start(&srv->deps);

    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, api_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->api_threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->api_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
        MHD_OPTION_NOTIFY_COMPLETED, api_completed, srv,
        MHD_OPTION_END);
    if (!srv->mhd) {
        close(fd);
        err_set(err, ERR_INTERNAL, "libmicrohttpd could not start on [%s]:%lld",
                cfg->api_listen, cfg->api_port);
        api_server_stop(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : (uint16_t)cfg->api_port;
    log_info("REST API listening on http://%s%s%s:%u/ (%lld threads)", ipv6 ? "[" : "",
             cfg->api_listen, ipv6 ? "]" : "", srv->port, cfg->api_threads);
    return srv;
}

uint16_t api_server_port(const struct api_server *srv)
{
    return srv->port;
}

void api_server_stop(struct api_server *srv)
{
    if (!srv)
        return;
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd); /* closes the listen socket too */
    if (srv->collector)
        api_metrics_collect_stop(srv->collector);
    api_auth_free(srv->auth);
    cfg_unref(srv->cfg);
    free(srv);
}
