/* The oslo.messaging envelope and Nova objects, on captured traffic
 * (tests/data/openstack/PROVENANCE.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/oslo_priv.h"
#include "openstack/ovo.h"
#include "openstack/rpc_failure.h"

#define DATA "tests/data/openstack/"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_decode_build(void **state)
{
    (void)state;
    size_t len;
    autofree char *body = slurp(DATA "build_and_run_instance.json", &len);
    autoerr struct err *e = NULL;
    autoptr(os_msg) m = os_msg_decode(body, len, NULL, &e);
    assert_non_null(m);
    assert_string_equal(m->method, "build_and_run_instance");
    assert_string_equal(m->version, "6.0");
    assert_int_equal(m->ver_major, 6);
    assert_int_equal(m->ver_minor, 0);
    assert_null(m->namespace);
    assert_false(os_msg_is_call(m));
    assert_non_null(m->unique_id);
    assert_string_equal(os_ctx_str(m->ctx, "project_name"), "demo");
    assert_string_equal(os_ctx_str(m->ctx, "auth_token"), "gAAAAAB-redacted");

    json_t *inst = json_object_get(m->args, "instance");
    assert_int_equal(ovo_validate(inst, "Instance", &e), 0);
    assert_int_equal(ovo_validate(json_object_get(m->args, "request_spec"), "RequestSpec", &e), 0);
    autoptr(drv_instance) di = os_instance_decode(inst, &e);
    assert_non_null(di);
    assert_string_equal(di->uuid, "785eb4c1-a2b7-470e-af39-770d323a06a1");
    assert_string_equal(di->name, "vm3");
    assert_string_equal(di->flavor.name, "m1.nano");
    assert_int_equal(di->flavor.vcpus, 1);
    assert_int_equal(di->flavor.memory_mb, 128);
    assert_int_equal(di->flavor.root_gb, 1);
    assert_string_equal(drv_kv_get(di->flavor.extra_specs, di->flavor.nextra_specs,
                                   "hw_rng:allowed"),
                        "True");
    assert_string_equal(drv_kv_get(di->metadata, di->nmetadata, "role"), "probe");
    assert_string_equal(di->vm_state, "building");
    assert_string_equal(di->task_state, "scheduling");
    assert_int_equal(di->power_state, DRV_POWER_NOSTATE);
    assert_true(di->created_ms > 0);
}

static void test_decode_call(void **state)
{
    (void)state;
    size_t len;
    autofree char *body = slurp(DATA "get_console_output.json", &len);
    autoerr struct err *e = NULL;
    autoptr(os_msg) m = os_msg_decode(body, len, NULL, &e);
    assert_non_null(m);
    assert_true(os_msg_is_call(m));
    assert_string_equal(m->msg_id, "2e0a940433e24804875340db5498a13c");
    assert_string_equal(m->reply_q, "reply_62bbdccf25ee4acba986692f4897e777");
    assert_int_equal(m->timeout_s, 0);
    assert_int_equal(json_integer_value(json_object_get(m->args, "tail_length")), 2);
}

/* Malformed input is refused with a reason; what could be read of a call
 * is kept so a failure reply can still be sent. */
static void test_decode_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "[1,2]",
        "{\"oslo.version\": \"3.0\", \"oslo.message\": \"{}\"}",
        "{\"oslo.version\": \"2.0\"}",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{nope\"}",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"[]\"}",
        "{\"args\": {}}",
        "{\"method\": 7}",
        "{\"method\": \"x\", \"args\": []}",
        "{\"method\": \"x\", \"version\": \"six\"}",
        "{\"method\": \"x\", \"version\": 6}",
        "{\"method\": \"x\", \"namespace\": 1}",
        "{\"method\": \"x\", \"_msg_id\": \"a\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        autoerr struct err *e = NULL;
        struct os_msg *m = os_msg_decode(bad[i], strlen(bad[i]), NULL, &e);
        if (m)
            fail_msg("accepted `%s`", bad[i]);
        assert_int_equal(e->code, ERR_INVALID);
    }
    const char *call = "{\"oslo.version\": \"2.0\", \"oslo.message\": "
                       "\"{\\\"args\\\": {}, \\\"_msg_id\\\": \\\"m1\\\", "
                       "\\\"_reply_q\\\": \\\"reply_x\\\"}\"}";
    autoerr struct err *e = NULL;
    struct os_msg *partial = NULL;
    assert_null(os_msg_decode(call, strlen(call), &partial, &e));
    assert_non_null(partial);
    assert_true(os_msg_is_call(partial));
    assert_string_equal(partial->reply_q, "reply_x");
    os_msg_free(partial);
    /* a bare dict without the envelope is accepted, as oslo does */
    const char *bare = "{\"method\": \"ping\", \"namespace\": \"baseapi\", \"version\": \"1.0\", "
                       "\"args\": {\"arg\": 1}}";
    autoptr(os_msg) m = os_msg_decode(bare, strlen(bare), NULL, &e);
    assert_non_null(m);
    assert_string_equal(m->namespace, "baseapi");
}

/* A request we encode decodes back, context included; the context
 * timestamp has the exact form Nova's from_dict parses. */
static void test_request_roundtrip(void **state)
{
    (void)state;
    json_auto_t *ctx = os_ctx_new_admin();
    const char *ts = os_ctx_str(ctx, "timestamp");
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 26);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_null(strchr(ts, 'Z'));
    assert_int_equal(strncmp(os_ctx_str(ctx, "request_id"), "req-", 4), 0);
    assert_int_equal(json_object_size(ctx), 25);

    json_auto_t *args = json_pack("{s:s, s:[i, f, n]}", "name", "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                  "list", 1, 16.0);
    size_t len;
    autofree char *body = os_request_encode("object_action", NULL, "3.0", args, ctx, "abc",
                                            "reply_q", 30, &len);
    assert_non_null(body);
    assert_int_equal(strlen(body), len);
    autoerr struct err *e = NULL;
    autoptr(os_msg) m = os_msg_decode(body, len, NULL, &e);
    assert_non_null(m);
    assert_string_equal(m->method, "object_action");
    assert_true(json_equal(m->args, args));
    assert_true(json_equal(m->ctx, ctx));
    assert_int_equal(m->timeout_s, 30);
    assert_int_equal(strlen(m->unique_id), 32);
    /* floats stay floats: Nova's Float fields reject ints elsewhere */
    assert_true(json_is_real(json_array_get(json_object_get(m->args, "list"), 1)));
}

static void test_reply(void **state)
{
    (void)state;
    size_t len;
    autofree char *body = slurp(DATA "reply_failure.json", &len);
    struct os_reply r;
    autoerr struct err *e = NULL;
    assert_int_equal(os_reply_decode(body, len, &r, &e), 0);
    assert_true(r.ending);
    assert_non_null(r.failure);
    autofree char *cls = NULL;
    assert_int_equal(os_failure_to_err(r.failure, "conductor ComputeNode.get", &cls, &e), -1);
    assert_string_equal(cls, "ComputeHostNotFound");
    assert_int_equal(e->code, ERR_NOT_FOUND);
    assert_non_null(strstr(e->msg, "could not be found"));
    os_reply_release(&r);

    autofree char *okb = slurp(DATA "reply_service_create.json", &len);
    assert_int_equal(os_reply_decode(okb, len, &r, &e), 0);
    assert_null(r.failure);
    assert_true(json_is_array(r.result));
    os_reply_release(&r);

    json_auto_t *res = json_string("ANOTHER\nLAST LINE");
    autofree char *mine = os_reply_encode(res, NULL, true, "m1", &len);
    assert_int_equal(os_reply_decode(mine, len, &r, &e), 0);
    assert_string_equal(r.msg_id, "m1");
    assert_string_equal(json_string_value(r.result), "ANOTHER\nLAST LINE");
    os_reply_release(&r);
}

/* Our errors become failures Nova rebuilds into the right exception. */
static void test_failure_mapping(void **state)
{
    (void)state;
    struct {
        enum err_code code;
        const char *cls;
        const char *module;
    } cases[] = {
        {ERR_INVALID, "Invalid", "nova.exception"},
        {ERR_NOT_FOUND, "NotFound", "nova.exception"},
        {ERR_UNSUPPORTED, "NotImplementedError", "builtins"},
        {ERR_CAPACITY, "ComputeResourcesUnavailable", "nova.exception"},
        {ERR_INTERNAL, "NovaException", "nova.exception"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        autoerr struct err *e = NULL;
        err_set(&e, cases[i].code, "it broke `%s`", "here");
        autofree char *f = os_failure_from_err(e, NULL);
        autofree char *cls = NULL, *module = NULL, *msg = NULL;
        json_t *kw = NULL;
        assert_int_equal(os_failure_decode(f, &cls, &module, &msg, &kw), 0);
        assert_string_equal(cls, cases[i].cls);
        assert_string_equal(module, cases[i].module);
        assert_string_equal(msg, "it broke `here`");
        json_decref(kw);
        /* and back: the code survives the round trip */
        autoerr struct err *back = NULL;
        os_failure_to_err(f, "x", NULL, &back);
        assert_int_equal(back->code, cases[i].code == ERR_CAPACITY ? ERR_INTERNAL : cases[i].code);
    }
    struct os_fault fault = {.cls = "Stale", .kwargs = json_object()};
    os_fault_nova(&fault, "InstanceNotFound", 404); /* releases what it held */
    assert_null(fault.kwargs);
    assert_string_equal(fault.module, "nova.exception");
    fault.kwargs = json_pack("{s:s}", "instance_id", "u1");
    autoerr struct err *e = NULL;
    err_set(&e, ERR_NOT_FOUND, "gone");
    autofree char *f = os_failure_from_err(e, &fault);
    json_t *kw = NULL;
    autofree char *cls = NULL;
    assert_int_equal(os_failure_decode(f, &cls, NULL, NULL, &kw), 0);
    assert_string_equal(cls, "InstanceNotFound");
    assert_string_equal(json_string_value(json_object_get(kw, "instance_id")), "u1");
    assert_int_equal(json_integer_value(json_object_get(kw, "code")), 404);
    json_decref(kw);
    os_fault_release(&fault);
}

static void test_ovo(void **state)
{
    (void)state;
    assert_string_equal(ovo_zed_version("Instance"), "2.7");
    assert_string_equal(ovo_zed_version("Service"), "1.22");
    assert_null(ovo_zed_version("NoSuchThing"));
    assert_true(ovo_version_cmp("1.10", "1.9") > 0);
    assert_true(ovo_version_cmp("2.7.1", "2.7") == 0);
    int a, b;
    assert_int_equal(ovo_version_parse("6.1", &a, &b), 0);
    assert_int_equal(ovo_version_parse("6", &a, &b), -1);
    assert_int_equal(ovo_version_parse("6.x", &a, &b), -1);

    json_auto_t *svc = ovo_new("Service");
    ovo_set_str(svc, "host", "h1");
    ovo_set_int(svc, "report_count", 1);
    ovo_set_int(svc, "report_count", 2);
    assert_int_equal(json_array_size(json_object_get(svc, "nova_object.changes")), 2);
    json_auto_t *upd = json_pack("{s:i, s:s, s:[]}", "id", 3, "updated_at", "2026-01-01T00:00:00Z",
                                 "obj_what_changed");
    autoerr struct err *e = NULL;
    assert_int_equal(ovo_apply_updates(svc, upd, &e), 0);
    ovo_clear_changes(svc);
    assert_int_equal(json_array_size(json_object_get(svc, "nova_object.changes")), 0);
    int64_t id;
    assert_true(ovo_get_int(svc, "id", &id));
    assert_int_equal(id, 3);
    assert_null(ovo_get(svc, "obj_what_changed"));
    assert_int_equal(ovo_validate(svc, "Service", &e), 0);

    /* a newer version than Zed knows, nested or not, is refused */
    json_auto_t *newer = json_deep_copy(svc);
    json_object_set_new(newer, "nova_object.version", json_string("1.23"));
    assert_int_equal(ovo_validate(newer, "Service", &e), -1);
    assert_int_equal(e->code, ERR_UNSUPPORTED);
    err_clear(&e);
    json_auto_t *node = ovo_new("ComputeNode");
    json_t *spec = ovo_new("HVSpec");
    json_object_set_new(spec, "nova_object.version", json_string("1.9"));
    ovo_set(node, "supported_hv_specs", json_pack("[o]", spec));
    assert_int_equal(ovo_validate(node, "ComputeNode", &e), -1);
    err_clear(&e);
    json_auto_t *ns = ovo_new("Flavor");
    json_object_set_new(ns, "nova_object.namespace", json_string("other"));
    assert_int_equal(ovo_validate(ns, "Flavor", &e), -1);
    assert_int_equal(e->code, ERR_INVALID);
}

static void test_datetime(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(ovo_datetime_parse("2026-11-25T17:50:36Z", &t), 0);
    char buf[32];
    assert_string_equal(ovo_datetime_format(t, buf, sizeof(buf)), "2026-11-25T17:50:36Z");
    int64_t t2;
    assert_int_equal(ovo_datetime_parse("2026-11-25T19:50:36.123456+02:00", &t2), 0);
    assert_int_equal(t, t2);
    assert_int_equal(ovo_datetime_parse("2026-11-25T17:50:36", &t2), 0);
    assert_int_equal(t, t2);
    assert_int_equal(ovo_datetime_parse("2026-11-25 17:50:36.5", &t2), 0);
    assert_int_equal(ovo_datetime_parse("2026-13-25T17:50:36Z", &t2), -1);
    assert_int_equal(ovo_datetime_parse("yesterday", &t2), -1);
    assert_int_equal(ovo_datetime_parse("2026-11-25T17:50:36Zjunk", &t2), -1);
    char ts[40];
    assert_string_equal(os_ctx_timestamp(1764093006140844LL, ts, sizeof(ts)),
                        "2025-11-25T17:50:06.140844");
}

/* The envelope's fast path gives exactly what jansson gives, or steps
 * aside. */
static void check_envelope(const char *body)
{
    size_t n = 0;
    autofree char *fast = os_envelope_inner(body, strlen(body), &n);
    json_t *outer = json_loads(body, 0, NULL);
    const char *slow = json_string_value(json_object_get(outer, "oslo.message"));
    if (fast) {
        assert_non_null(slow);
        assert_int_equal(n, json_string_length(json_object_get(outer, "oslo.message")));
        assert_memory_equal(fast, slow, n);
    }
    json_decref(outer);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, OS_HEX_ID_LEN);
}

/* Message ids: 32 lowercase hex digits, never twice in a process, and a
 * forked child does not repeat its parent's. */
static void test_hex_ids(void **state)
{
    (void)state;
    enum { N = 200000 };
    char(*ids)[OS_HEX_ID_LEN] = xcalloc(N + 2, OS_HEX_ID_LEN);
    for (int i = 0; i < N; i++) {
        os_hex_id(ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 32);
    }
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[OS_HEX_ID_LEN];
        os_hex_id(id);
        _exit(write(fds[1], id, sizeof(id)) == (ssize_t)sizeof(id) ? 0 : 1);
    }
    assert_int_equal(read(fds[0], ids[N], OS_HEX_ID_LEN), OS_HEX_ID_LEN);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(fds[0]);
    close(fds[1]);
    os_hex_id(ids[N + 1]); /* the parent's next: the child made its own */
    qsort(ids, N + 2, OS_HEX_ID_LEN, cmp_id);
    for (int i = 1; i <= N + 1; i++)
        assert_int_not_equal(memcmp(ids[i - 1], ids[i], OS_HEX_ID_LEN), 0);
    free(ids);
}

/* The JSON fast path gives exactly what jansson gives (values, types,
 * key order), or steps aside. */
static bool check_json_fast(const char *text, size_t len)
{
    json_t *fast = os_json_load_fast(text, len);
    json_t *slow = json_loadb(text, len, 0, NULL);
    if (fast) {
        assert_non_null(slow);
        assert_true(json_equal(fast, slow));
        autofree char *a = json_dumps(fast, JSON_COMPACT);
        autofree char *b = json_dumps(slow, JSON_COMPACT);
        assert_string_equal(a, b);
    }
    json_decref(slow);
    json_decref(fast);
    return fast != NULL;
}

/* The captured messages the JSON tests read. */
static const char *const captured[] = {"build_and_run_instance.json", "get_console_output.json",
                                       "reply_failure.json", "reply_service_create.json"};

/* Captured message i: its body (*len) and the message text inside its
 * envelope (returned, *n); caller frees both. */
static char *captured_inner(size_t i, char **body, size_t *len, size_t *n)
{
    char path[128];
    snprintf(path, sizeof(path), DATA "%s", captured[i]);
    *body = slurp(path, len);
    char *inner = os_envelope_inner(*body, *len, n);
    assert_non_null(inner);
    return inner;
}

static void test_json_fast_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(captured); i++) {
        size_t len, n;
        autofree char *body = NULL;
        autofree char *inner = captured_inner(i, &body, &len, &n);
        assert_true(check_json_fast(inner, n)); /* what oslo writes takes it */
        assert_true(check_json_fast(body, len));
    }
    static const struct {
        const char *text;
        bool taken;
    } cases[] = {
        {"{}", true},
        {" {\"a\" : [ ] ,\"b\":{ } }\n", true},
        {"{\"a\": [1, -2, 0, -0, 3.5, -0.25, 1e3, 2E-2, 1.5e+300, true, false, null]}", true},
        {"{\"i\": 9223372036854775807, \"j\": -9223372036854775808}", true},
        {"{\"a\": 1, \"b\": 2, \"a\": 3}", true}, /* the later value, the first place */
        {"{\"\": \"\", \"k\\n\\u00e9\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u20ac\\ud83d\\ude00\"}", true},
        {"{\"a\": [[[[{\"b\": [\"c\"]}]]]]}", true},
        {"{\"i\": 9223372036854775808}", false},   /* too big: jansson's error */
        {"{\"r\": 1e400}", false},                 /* overflow: jansson's error */
        {"{\"r\": 1e-400}", false},                /* underflow: jansson's call */
        {"{\"n\": 01}", false},
        {"{\"n\": -}", false},
        {"{\"n\": 1.}", false},
        {"{\"n\": .5}", false},
        {"{\"n\": 1e}", false},
        {"{\"n\": +1}", false},
        {"{\"n\": 1x}", false},
        {"{\"t\": tru}", false},
        {"{\"t\": truex}", false},
        {"{\"t\": nul}", false},
        {"{\"s\": \"\\u0000\"}", false},
        {"{\"s\": \"\\ud83d\"}", false},
        {"{\"s\": \"\\ude00\"}", false},
        {"{\"s\": \"\\x\"}", false},
        {"{\"s\": \"\\u12\"}", false},
        {"{\"s\": \"a\tb\"}", false},
        {"{\"s\": \"\xc3\xa9\"}", false},          /* raw UTF-8: jansson checks it */
        {"{\"s\": \"\xff\"}", false},
        {"{\"s\": \"open}", false},
        {"{\"a\": 1,}", false},
        {"{\"a\" 1}", false},
        {"{,}", false},
        {"{\"a\": [1,]}", false},
        {"{\"a\": [1 2]}", false},
        {"{\"a\": 1} x", false},
        {"{\"a\": 1}}", false},
        {"{\"a\": 1", false},
        {"[1, 2]", false},                         /* not an object: jansson's */
        {"\"s\"", false},
        {"", false},
        {"   ", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool taken = check_json_fast(cases[i].text, strlen(cases[i].text));
        if (taken != cases[i].taken)
            fail_msg("case %zu `%s`: fast path %s", i, cases[i].text,
                     taken ? "answered" : "stepped aside");
    }
    /* a NUL byte inside the buffer, and nesting deeper than the fast
     * path goes (jansson still parses it) */
    static const char nul[] = "{\"a\": 1}\0";
    assert_false(check_json_fast(nul, sizeof(nul) - 1));
    char deep[2 * 100 + 16];
    int n = snprintf(deep, sizeof(deep), "{\"a\": ");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    assert_false(check_json_fast(deep, (size_t)n));
    json_t *j = json_loadb(deep, (size_t)n, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    /* a key longer than the stack copy, escaped, before an escaped value */
    char longkey[600];
    n = snprintf(longkey, sizeof(longkey), "{\"\\n");
    for (int i = 0; i < 300; i++)
        longkey[n++] = 'k';
    n += snprintf(longkey + n, sizeof(longkey) - (size_t)n, "\": \"v\\n\", \"x\\t\": \"y\\t\"}");
    assert_true(check_json_fast(longkey, (size_t)n));
}

/* The captured messages, changed at many places (a byte replaced, the text
 * cut short, an escape or a number spliced in): on every variant the fast
 * path answers what jansson answers or steps aside, and both outcomes
 * occur.  The fuzz target does the same on random inputs. */
static void test_json_fast_mutations(void **state)
{
    (void)state;
    static const char bytes[] = {'"', '\\', '}', ']', ',', '0', '-', 'e', ' ', 'u', '\x80', '\t'};
    static const char *const splices[] = {"\\u00e9",  "\\ud83d\\ude00", "\\ud83d", "\\u0000",
                                          "1e400",    "-0.5e-3",        "[[[[",    "\\\"",
                                          "\xc3\xa9", "99999999999999999999"};
    size_t taken = 0, aside = 0;
    for (size_t f = 0; f < ARRAY_SIZE(captured); f++) {
        size_t len, n;
        autofree char *body = NULL;
        autofree char *inner = captured_inner(f, &body, &len, &n);
        autofree char *v = xmalloc(n + 32);
        for (size_t at = 0; at < n; at += 97) {
            for (size_t b = 0; b < ARRAY_SIZE(bytes); b++) {
                memcpy(v, inner, n);
                v[at] = bytes[b];
                check_json_fast(v, n) ? taken++ : aside++;
            }
            check_json_fast(inner, at) ? taken++ : aside++;
        }
        for (size_t at = 0; at < n; at += 211) {
            for (size_t k = 0; k < ARRAY_SIZE(splices); k++) {
                size_t sl = strlen(splices[k]);
                memcpy(v, inner, at);
                memcpy(v + at, splices[k], sl);
                memcpy(v + at + sl, inner + at, n - at);
                check_json_fast(v, n + sl) ? taken++ : aside++;
            }
        }
    }
    assert_true(taken > 100);
    assert_true(aside > 100);
}

/* Nesting around the fast path's limit: it answers up to its depth and
 * steps aside beyond, jansson parsing both. */
static void test_json_fast_depth(void **state)
{
    (void)state;
    bool seen_taken = false, seen_aside = false;
    for (int depth = 55; depth < 75; depth++) {
        struct strbuf b = STRBUF_INIT;
        strbuf_append(&b, "{\"a\": ");
        for (int i = 0; i < depth; i++)
            strbuf_append(&b, i % 2 ? "{\"k\\u00e9\": " : "[");
        strbuf_append(&b, "\"\\ud83d\\ude00\"");
        for (int i = depth - 1; i >= 0; i--)
            strbuf_append(&b, i % 2 ? "}" : "]");
        strbuf_append(&b, "}");
        json_t *j = json_loadb(b.s, b.len, 0, NULL);
        assert_non_null(j);
        json_decref(j);
        bool taken = check_json_fast(b.s, b.len);
        /* once it steps aside, it does so for every deeper document */
        assert_false(taken && seen_aside);
        seen_taken |= taken;
        seen_aside |= !taken;
        strbuf_release(&b);
    }
    assert_true(seen_taken && seen_aside);
}

/* The envelope written directly is byte for byte jansson's. */
static void check_wrap(const char *text)
{
    size_t n = 0;
    autofree char *fast = os_envelope_wrap_ascii(text, &n);
    json_t *outer = json_pack("{s:s, s:s}", "oslo.version", "2.0", "oslo.message", text);
    autofree char *slow = json_dumps(outer, JSON_COMPACT);
    json_decref(outer);
    assert_non_null(fast);
    assert_string_equal(fast, slow);
    assert_int_equal(n, strlen(slow));
}

static void test_envelope_wrap(void **state)
{
    (void)state;
    char all[128];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    check_wrap(all);
    check_wrap("");
    check_wrap("{\"result\":\"a\\nb \\\"q\\\" \\\\ \\u00e9\",\"failure\":null,\"ending\":true}");
    size_t n;
    assert_null(os_envelope_wrap_ascii("caf\xc3\xa9", &n)); /* jansson's: it checks UTF-8 */
    /* a reply goes out in that form and reads back */
    json_auto_t *res = json_string("line 1\nline \"2\"\t\\");
    size_t blen;
    autofree char *body = os_reply_encode(res, NULL, true, "m1", &blen);
    assert_int_equal(blen, strlen(body));
    struct os_reply r;
    struct err *e = NULL;
    assert_int_equal(os_reply_decode(body, blen, &r, &e), 0);
    assert_true(json_equal(r.result, res));
    assert_string_equal(r.msg_id, "m1");
    os_reply_release(&r);
}

static void test_envelope_fast_path(void **state)
{
    (void)state;
    static const char *const files[] = {"build_and_run_instance.json", "get_console_output.json",
                                        "reply_failure.json", "reply_service_create.json"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char path[128];
        size_t len;
        snprintf(path, sizeof(path), DATA "%s", files[i]);
        autofree char *body = slurp(path, &len);
        size_t n;
        autofree char *fast = os_envelope_inner(body, len, &n);
        assert_non_null(fast); /* what oslo writes takes the fast path */
        check_envelope(body);
    }
    static const char *const cases[] = {
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"a\\\": \\\"\\\\u00e9\\\"}\"}",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\\u00e9\\ud83d\\ude00\\n\\t\\/\"}",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\\ud83d\"}",     /* lone surrogate */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\\u0000\"}",     /* NUL */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"a\"} x",           /* trailing junk */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"a\", \"x\": 1}", /* extra key */
        "{\"oslo.message\": \"{}\", \"oslo.version\": \"2.0\"}",           /* other order */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"a\\q\"}",        /* bad escape */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"unterminated",
        "  {\"oslo.version\": \"2.17\", \"oslo.message\": \"{}\"}\n",
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"a\xff\"}", /* not UTF-8 */
        "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\xc3\xa9\"}", /* raw UTF-8 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        check_envelope(cases[i]);
    /* our own requests take it too */
    json_auto_t *args = json_object();
    size_t blen;
    autofree char *mine = os_request_encode("ping", NULL, "1.0", args, NULL, NULL, NULL, 0, &blen);
    size_t n;
    autofree char *minei = os_envelope_inner(mine, blen, &n);
    assert_non_null(minei);
    check_envelope(mine);
    autofree char *lone = os_envelope_inner(cases[2], strlen(cases[2]), &n);
    assert_null(lone);
    autofree char *ws = os_envelope_inner(cases[9], strlen(cases[9]), &n);
    assert_non_null(ws);
    assert_string_equal(ws, "{}");
    /* raw bytes above 0x7F are jansson's to judge (it refuses bad UTF-8) */
    autofree char *raw = os_envelope_inner(cases[10], strlen(cases[10]), &n);
    assert_null(raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_build),     cmocka_unit_test(test_decode_call),
        cmocka_unit_test(test_decode_malformed), cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_reply),            cmocka_unit_test(test_failure_mapping),
        cmocka_unit_test(test_ovo),              cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_envelope_fast_path), cmocka_unit_test(test_hex_ids),
        cmocka_unit_test(test_json_fast_path), cmocka_unit_test(test_json_fast_mutations),
        cmocka_unit_test(test_json_fast_depth), cmocka_unit_test(test_envelope_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
