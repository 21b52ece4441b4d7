/* The REST server in-process on a free loopback port, driven with libcurl:
 * routing, authentication, limits and the error format. */
#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/openapi.h"
#include "api/route.h"
#include "api/server.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "helpers/tmpdir.h"

struct fixture {
    struct cfg *cfg;
    struct api_server *srv;
    char base[64];
    char *dir;              /* owned scratch folder, removed by teardown pass or fail */
};

struct reply {
    long status;
    struct strbuf body;
    struct strbuf headers;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    strbuf_append_len(ud, p, size * n);
    return size * n;
}

/* method path [token] [body] -> status, body, headers */
static void http(struct fixture *f, const char *method, const char *path, const char *token,
                 const char *body, struct reply *r)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[512];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    struct curl_slist *h = NULL;
    char auth[256];
    if (token) {
        snprintf(auth, sizeof(auth), "X-Auth-Token: %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    memset(r, 0, sizeof(*r));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->body.s)
        strbuf_append(&r->body, "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void reply_release(struct reply *r)
{
    strbuf_release(&r->body);
    strbuf_release(&r->headers);
}

/* The error body's code, checked for shape. */
static void assert_error(struct reply *r, long status, const char *code)
{
    if (r->status != status)
        fail_msg("status %ld, expected %ld: %s", r->status, status, r->body.s);
    json_error_t jerr;
    json_t *j = json_loads(r->body.s, 0, &jerr);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_non_null(json_string_value(json_object_get(e, "message")));
    assert_non_null(strstr(json_string_value(json_object_get(e, "request_id")), "req-"));
    json_decref(j);
}

static int setup(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));
    struct err *err = NULL;
    f->dir = test_tmpdir("api-server");
    f->cfg = cfg_new_defaults();
    assert_int_equal(cfg_set(f->cfg, "api", "port", "0", &err), 0);
    assert_int_equal(cfg_set(f->cfg, "api", "admin_token", "s3cret", &err), 0);
    assert_int_equal(cfg_set(f->cfg, "api", "max_body_size", "2048", &err), 0);
    cfg_publish(f->cfg);
    struct api_deps deps = {0};
    f->srv = api_server_start(&deps, f->cfg, &err);
    if (!f->srv)
        fail_msg("start: %s", err->msg);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", api_server_port(f->srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    api_server_stop(f->srv);
    cfg_publish(NULL);
    cfg_unref(f->cfg);
    int rc = test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return rc;
}

static void test_public_and_auth(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http(f, "GET", "/v1", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.s, "\"version\":\"v1\""));
    assert_non_null(strcasestr(r.headers.s, "X-OpenStack-Request-Id: req-"));
    reply_release(&r);

    http(f, "GET", "/metrics", NULL, NULL, &r);
    assert_error(&r, 401, "UNAUTHORIZED");
    assert_non_null(strcasestr(r.headers.s, "WWW-Authenticate: Bearer"));
    reply_release(&r);
    http(f, "GET", "/metrics", "wrong", NULL, &r);
    assert_error(&r, 401, "UNAUTHORIZED");
    reply_release(&r);
    /* the 401s above were counted: in libmicrohttpd's completion callback,
     * which may run after the client has its answer, so look again for a
     * while before failing */
    const char *counted = "sculpt_api_request_duration_seconds_count{method=\"GET\","
                          "route=\"/metrics\",status=\"401\"} 2";
    bool seen = false;
    for (int i = 0; i < 200 && !seen; i++) {
        if (i)
            usleep(10 * 1000);
        http(f, "GET", "/metrics", "s3cret", NULL, &r);
        assert_int_equal(r.status, 200);
        seen = strstr(r.body.s, counted) != NULL;
        if (!seen && i == 199) {
            print_error("%s\n", r.body.s);
            reply_release(&r);
            fail_msg("not in /metrics after 2 s: %s", counted);
        }
        reply_release(&r);
    }
}

static void test_routing_errors(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http(f, "GET", "/v1/nope", "s3cret", NULL, &r);
    assert_error(&r, 404, "NOT_FOUND");
    reply_release(&r);
    http(f, "DELETE", "/v1", "s3cret", NULL, &r);
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_non_null(strcasestr(r.headers.s, "Allow: GET"));
    reply_release(&r);
    http(f, "GET", "/v1?bogus=1", NULL, NULL, &r);
    assert_error(&r, 400, "INVALID");
    assert_non_null(strstr(r.body.s, "unknown query parameter `bogus`"));
    reply_release(&r);
    http(f, "GET", "/dashboard/../../etc/passwd", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    reply_release(&r);
}

/* GET /v1/events checks its query before it needs the database, then
 * says the database is missing (this server has none). */
static void test_events_without_db(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http(f, "GET", "/v1/events?verbose=1", "s3cret", NULL, &r);
    assert_error(&r, 400, "INVALID");
    assert_non_null(strstr(r.body.s, "unknown query parameter `verbose`"));
    reply_release(&r);
    http(f, "GET", "/v1/events?limit=5000", "s3cret", NULL, &r);
    assert_error(&r, 400, "INVALID");
    assert_non_null(strstr(r.body.s, "outside [1, 1000]"));
    reply_release(&r);
    http(f, "GET", "/v1/events?instance=6f1c3c36-1f44-4a1b-9b1e-7ab1ce1e2d10", "s3cret", NULL,
         &r);
    assert_error(&r, 503, "UNAVAILABLE");
    assert_non_null(strstr(r.body.s, "the database is not running"));
    reply_release(&r);
    http(f, "GET", "/v1/events", NULL, NULL, &r);
    assert_error(&r, 401, "UNAUTHORIZED");
    reply_release(&r);
}

static void test_body_limit(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    char *big = xmalloc(4096);
    memset(big, ' ', 4095);
    big[4095] = '\0';
    big[0] = '{';
    big[4094] = '}';
    /* a GET route with a body is refused, but the size is checked first */
    http(f, "GET", "/v1", "s3cret", big, &r);
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    reply_release(&r);
    big[100] = '}';
    big[101] = '\0';
    http(f, "GET", "/v1", "s3cret", big, &r);
    assert_error(&r, 400, "INVALID");
    reply_release(&r);
    free(big);
}

static void test_dashboard_and_openapi(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http(f, "GET", "/", NULL, NULL, &r);
    assert_int_equal(r.status, 302);
    assert_non_null(strcasestr(r.headers.s, "Location: /dashboard/"));
    reply_release(&r);
    http(f, "GET", "/dashboard/", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.headers.s, "Content-Type: text/html"));
    assert_non_null(strstr(r.body.s, "<title>"));
    reply_release(&r);
    http(f, "GET", "/dashboard/vendor/uPlot.iife.min.js", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.body.len > 40000);
    reply_release(&r);

    http(f, "GET", "/v1/openapi.json", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *doc = json_loads(r.body.s, 0, NULL);
    assert_non_null(doc);
    json_t *paths = json_object_get(doc, "paths");
    /* every visible route is described, with its method */
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *rt = &api_routes[i];
        if (rt->flags & API_ROUTE_HIDDEN)
            continue;
        char method[8];
        snprintf(method, sizeof(method), "%s", rt->method);
        for (char *p = method; *p; p++)
            *p = (char)(*p | 0x20);
        if (!json_object_get(json_object_get(paths, rt->pattern), method))
            fail_msg("%s %s missing from the description", rt->method, rt->pattern);
    }
    json_decref(doc);
    reply_release(&r);
}

/* [cost] price_vcpu_hour as the API answers it (status 200 asked). */
static double price_of(struct reply *r)
{
    if (r->status != 200)
        fail_msg("status %ld: %s", r->status, r->body.s);
    json_error_t jerr;
    json_t *j = json_loads(r->body.s, 0, &jerr);
    assert_non_null(j);
    double v = json_number_value(json_object_get(json_object_get(j, "values"), "price_vcpu_hour"));
    json_decref(j);
    reply_release(r);
    return v;
}

/* PUT then DELETE /v1/config/cost: the value goes back to what the
 * configuration's source says -- the defaults, then a file read again --
 * and a source that cannot be read leaves the running value alone. */
static void test_config_reset(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    const char *put = "{\"price_vcpu_hour\": 0.05}";
    http(f, "GET", "/v1/config/cost", "s3cret", NULL, &r);
    double dflt = price_of(&r);
    assert_true(dflt != 0.05);
    http(f, "PUT", "/v1/config/cost", "s3cret", put, &r);
    assert_true(price_of(&r) == 0.05);
    http(f, "DELETE", "/v1/config/cost", "s3cret", NULL, &r);
    assert_true(price_of(&r) == dflt);
    http(f, "GET", "/v1/config/cost", "s3cret", NULL, &r);
    assert_true(price_of(&r) == dflt);

    /* from a file: its value, read at the reset */
    autofree char *path = xasprintf("%s/sculpt.conf", f->dir);
    FILE *conf = fopen(path, "w");
    assert_non_null(conf);
    fputs("[api]\nport = 0\nadmin_token = s3cret\n[cost]\nprice_vcpu_hour = 0.07\n", conf);
    assert_int_equal(fclose(conf), 0);
    struct err *err = NULL;
    struct cfg *file = cfg_load(path, &err);
    assert_non_null(file);
    cfg_publish(file);
    http(f, "PUT", "/v1/config/cost", "s3cret", put, &r);
    assert_true(price_of(&r) == 0.05);
    http(f, "DELETE", "/v1/config/cost", "s3cret", NULL, &r);
    assert_true(price_of(&r) == 0.07);
    http(f, "PUT", "/v1/config/cost", "s3cret", put, &r);
    assert_true(price_of(&r) == 0.05);
    unlink(path);
    http(f, "DELETE", "/v1/config/cost", "s3cret", NULL, &r);
    assert_error(&r, 503, "UNAVAILABLE");
    assert_non_null(strstr(r.body.s, "sculpt.conf not read again"));
    reply_release(&r);
    http(f, "GET", "/v1/config/cost", "s3cret", NULL, &r);
    assert_true(price_of(&r) == 0.05);
    cfg_publish(f->cfg);
    cfg_unref(file);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_and_auth),
        cmocka_unit_test(test_routing_errors),
        cmocka_unit_test(test_events_without_db),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_dashboard_and_openapi),
        cmocka_unit_test(test_config_reset),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
