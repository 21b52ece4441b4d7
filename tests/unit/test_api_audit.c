/* Operator changes for the event log (api/audit.c): which routes are
 * recorded, what the handlers say changed (old and new values, what a
 * refused change asked for) and the message that goes into the log.  The
 * write itself, through the queued writer into PostgreSQL, is checked by
 * tests/integration/api.sh (api_check.py check_audit). */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/audit.h"
#include "api/handlers.h"
#include "api/route.h"
#include "api/server.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"

/* A request as the server makes it, for method and path, as admin-token. */
struct call {
    struct api_req req;
    struct api_resp resp;
    struct api_deps deps;
    struct err *err;
    int rc;
};

static void call_run(struct call *c, const char *method, const char *path, const char *body)
{
    memset(c, 0, sizeof(*c));
    const struct api_route *r = NULL;
    assert_int_equal(api_route_match(method, path, &r, c->req.params, NULL, 0), API_MATCH_OK);
    c->req.method = method;
    c->req.path = path;
    c->req.route = r;
    c->req.deps = &c->deps;
    c->req.cfg = cfg_acquire();
    c->req.request_id = "req-test";
    c->req.user = "admin-token";
    if (body) {
        c->req.body = json_loads(body, 0, NULL);
        assert_non_null(c->req.body);
    }
    api_audit_begin(&c->req);
    c->rc = r->handler(&c->req, &c->resp, &c->err);
}

static void call_release(struct call *c)
{
    api_audit_release(&c->req.audit);
    for (size_t i = 0; i < API_MAX_PATH_PARAMS; i++)
        free(c->req.params[i]);
    json_decref(c->req.body);
    json_decref(c->resp.json);
    free(c->resp.location);
    cfg_unref(c->req.cfg);
    err_free(c->err);
}

static char *text_of(const char *section, const char *name)
{
    struct cfg *cfg = cfg_acquire();
    char *t = cfg_get_text(cfg, section, name, NULL);
    cfg_unref(cfg);
    return t;
}

static void test_audited_routes(void **state)
{
    (void)state;
    size_t audited = 0;
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *r = &api_routes[i];
        const char *a = api_audit_action(r);
        bool config = strncmp(r->pattern, "/v1/config/", 11) == 0;
        bool bp = strncmp(r->pattern, "/v1/blueprints", 14) == 0;
        if (strcmp(r->method, "GET") == 0 || (!config && !bp)) {
            /* reads, and the POSTs that only ask (candidates, estimates) */
            if (a)
                fail_msg("%s %s is recorded as %s", r->method, r->pattern, a);
            continue;
        }
        const char *want = config ? (strcmp(r->method, "PUT") == 0 ? "config.set" : "config.reset")
                           : strcmp(r->method, "POST") == 0 ? "blueprint.create"
                           : strcmp(r->method, "PUT") == 0  ? "blueprint.replace"
                                                            : "blueprint.delete";
        if (!a || strcmp(a, want) != 0)
            fail_msg("%s %s: action %s, expected %s", r->method, r->pattern, a ? a : "none",
                     want);
        audited++;
    }
    /* three config routes with PUT and DELETE each, blueprints' three */
    assert_int_equal(audited, 9);
    assert_null(api_audit_action(NULL));
}

static void test_message(void **state)
{
    (void)state;
    struct api_req req = {.method = "DELETE", .path = "/v1/blueprints/7", .user = "5c1e (alice) in project 0f3a (demo)"};
    api_audit_note(&req, "ignored: not audited");
    assert_int_equal(req.audit.notes.len, 0);
    req.audit.action = "blueprint.delete";
    char *m = api_audit_message(&req, NULL);
    assert_string_equal(m, "DELETE /v1/blueprints/7 by 5c1e (alice) in project 0f3a (demo)");
    free(m);
    api_audit_note(&req, "blueprint %d", 7);
    api_audit_note(&req, "name %s", "x");
    struct err *e = NULL;
    err_set(&e, ERR_NOT_FOUND, "no blueprint 7");
    m = api_audit_message(&req, e);
    assert_string_equal(m, "DELETE /v1/blueprints/7 by 5c1e (alice) in project 0f3a (demo): "
                           "blueprint 7; name x; failed: no blueprint 7");
    free(m);
    err_free(e);
    req.user = NULL;
    api_audit_release(&req.audit);
    req.audit.action = "blueprint.delete";
    m = api_audit_message(&req, NULL);
    assert_string_equal(m, "DELETE /v1/blueprints/7 by anonymous");
    free(m);
    api_audit_release(&req.audit);
    /* no database: nothing to write to, and nothing fails */
    struct api_deps deps = {0};
    req.deps = &deps;
    api_audit_finish(&req, NULL, 1.0);

    char long_value[200];
    memset(long_value, 'v', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    char *v = api_audit_value(long_value, false);
    assert_int_equal(strlen(v), 96 + 3);
    assert_string_equal(v + 96, "...");
    free(v);
    v = api_audit_value("hunter2", true);
    assert_string_equal(v, "***");
    free(v);
    v = api_audit_value("", false);
    assert_string_equal(v, "\"\"");
    free(v);
    v = api_audit_value(NULL, false);
    assert_string_equal(v, "(unset)");
    free(v);
}

static void test_config_changes(void **state)
{
    (void)state;
    struct call c;
    char *dflt = text_of("cost", "price_vcpu_hour");
    char *rate = text_of("sculpt", "target_violation_rate");

    call_run(&c, "PUT", "/v1/config/cost", "{\"price_vcpu_hour\": 0.05}");
    assert_int_equal(c.rc, 0);
    char *want = xasprintf("[cost] price_vcpu_hour %s -> 0.05", dflt);
    assert_string_equal(c.req.audit.notes.s, want);
    free(want);
    call_release(&c);

    /* the other section of a route by "section.name"; both changes said */
    call_run(&c, "PUT", "/v1/config/predictor",
             "{\"sculpt.target_violation_rate\": 0.02, \"season_half_life\": 5}");
    if (c.rc < 0)
        fail_msg("PUT predictor: %s", c.err->msg);
    assert_non_null(strstr(c.req.audit.notes.s, "[sculpt] target_violation_rate "));
    assert_non_null(strstr(c.req.audit.notes.s, " -> 0.02"));
    assert_non_null(strstr(c.req.audit.notes.s, "[predict] season_half_life 3 -> 5; [sculpt] target_violation_rate "));
    call_release(&c);

    /* refused: what was asked, nothing said changed */
    call_run(&c, "PUT", "/v1/config/cost", "{\"price_vcpu_hour\": \"cheap\"}");
    assert_int_equal(c.rc, -1);
    assert_string_equal(c.req.audit.notes.s, "asked price_vcpu_hour=\"cheap\"");
    char *m = api_audit_message(&c.req, c.err);
    assert_non_null(strstr(m, "PUT /v1/config/cost by admin-token: asked price_vcpu_hour="
                              "\"cheap\"; failed: "));
    free(m);
    call_release(&c);

    /* reset: each option changed back with its old and new value */
    call_run(&c, "DELETE", "/v1/config/cost", NULL);
    assert_int_equal(c.rc, 0);
    want = xasprintf("[cost] price_vcpu_hour 0.05 -> %s", dflt);
    assert_string_equal(c.req.audit.notes.s, want);
    free(want);
    call_release(&c);
    call_run(&c, "DELETE", "/v1/config/cost", NULL);
    assert_int_equal(c.rc, 0);
    assert_string_equal(c.req.audit.notes.s, "no option changed back: all as in (defaults)");
    call_release(&c);
    call_run(&c, "DELETE", "/v1/config/predictor", NULL);
    assert_int_equal(c.rc, 0);
    want = xasprintf("-> %s", rate);
    assert_non_null(strstr(c.req.audit.notes.s, want));
    free(want);
    call_release(&c);
    free(dflt);
    free(rate);
}

static void test_blueprint_refused(void **state)
{
    (void)state;
    struct call c;
    /* no database: the create is refused after the body was read, and the
     * record says what was asked */
    call_run(&c, "POST", "/v1/blueprints",
             "{\"name\": \"bp-a\", \"match\": {\"flavor\": \"m1.small\"},"
             " \"blueprint\": {\"horizon_s\": 300, \"resources\": {\"vcpu\": {\"p50\": 0.5}}}}");
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.err->code, ERR_UNAVAILABLE);
    assert_non_null(strstr(c.req.audit.notes.s, "name bp-a, for flavor m1.small, image any"));
    call_release(&c);
    call_run(&c, "DELETE", "/v1/blueprints/x", NULL);
    assert_int_equal(c.rc, -1);
    char *m = api_audit_message(&c.req, c.err);
    assert_non_null(strstr(m, "DELETE /v1/blueprints/x by admin-token: failed: "));
    free(m);
    call_release(&c);
}

static int setup(void **state)
{
    (void)state;
    struct cfg *cfg = cfg_new_defaults();
    cfg_publish(cfg);
    cfg_unref(cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfg_publish(NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audited_routes),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_config_changes),
        cmocka_unit_test(test_blueprint_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
