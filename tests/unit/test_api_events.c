/* GET /v1/events's query (api_events_query_parse): defaults, every filter
 * and each way a parameter can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/handle_events_priv.h"
#include "common/alloc.h"
#include "common/err.h"

#define NOW 1764000000LL /* 2025-11-24T16:00:00Z */
#define UUID "6f1c3c36-1f44-4a1b-9b1e-7ab1ce1e2d10"

/* Parse the query given as "k", "v", ... NULL; returns 0 or -1 with *err. */
static int parse(struct db_event_filter *f, struct err **err, ...)
{
    struct drv_kv kv[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, err);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL && n < 16; n++) {
        kv[n].key = (char *)k;
        kv[n].value = (char *)va_arg(ap, const char *);
    }
    va_end(ap);
    struct api_req req = {.method = "GET", .path = "/v1/events", .query = kv, .nquery = n};
    return api_events_query_parse(&req, NOW, f, err);
}

/* The query is refused with INVALID and a message holding `needle`. */
#define REFUSED(needle, ...)                                                                  \
    do {                                                                                      \
        struct db_event_filter f_;                                                            \
        struct err *e_ = NULL;                                                                \
        assert_int_equal(parse(&f_, &e_, __VA_ARGS__, NULL), -1);                             \
        assert_int_equal(err_code_of(e_), ERR_INVALID);                                       \
        if (!strstr(e_->msg, needle))                                                         \
            fail_msg("message `%s` lacks `%s`", e_->msg, needle);                             \
        err_free(e_);                                                                         \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    struct db_event_filter f;
    struct err *err = NULL;
    assert_int_equal(parse(&f, &err, NULL), 0);
    assert_int_equal(f.limit, API_EVENTS_LIMIT_DEFAULT);
    assert_int_equal(f.from_ms, 0);
    assert_int_equal(f.to_ms, 0);
    assert_null(f.instance_uuid);
    assert_null(f.source);
    assert_null(f.action_prefix);
    assert_null(f.request_id);
    assert_null(f.code);
}

static void test_every_filter(void **state)
{
    (void)state;
    struct db_event_filter f;
    struct err *err = NULL;
    assert_int_equal(parse(&f, &err, "instance", UUID, "source", "hypervisor", "action",
                           "memory.", "request_id", "req-1", "code", "TIMEOUT", "from", "-3600",
                           "to", "2025-11-24T16:00:00Z", "limit", "1000", NULL),
                     0);
    assert_string_equal(f.instance_uuid, UUID);
    assert_string_equal(f.source, "hypervisor");
    assert_string_equal(f.action_prefix, "memory.");
    assert_string_equal(f.request_id, "req-1");
    assert_string_equal(f.code, "TIMEOUT");
    assert_int_equal(f.from_ms, (NOW - 3600) * 1000);
    assert_int_equal(f.to_ms, NOW * 1000);
    assert_int_equal(f.limit, API_EVENTS_LIMIT_MAX);
    /* an action with spaces (an API route), every outcome word, one bound */
    assert_int_equal(parse(&f, &err, "action", "PUT /v1/config/cost", "code", "FAILED", "to",
                           "1763990000", NULL),
                     0);
    assert_int_equal(f.from_ms, 0);
    assert_int_equal(f.to_ms, 1763990000LL * 1000);
    assert_int_equal(parse(&f, &err, "code", "OK", "from", "1763990000", NULL), 0);
    assert_int_equal(f.from_ms, 1763990000LL * 1000);
    assert_int_equal(f.to_ms, 0);
    assert_null(err);
}

static void test_refused(void **state)
{
    (void)state;
    REFUSED("is not a UUID", "instance", "6f1c3c36");
    REFUSED("is not a UUID", "instance", "");
    REFUSED("neither Unix seconds", "from", "yesterday");
    REFUSED("neither Unix seconds", "to", "2025-11-24T16:00:00+01:00");
    REFUSED("ten years", "from", "99999999999");
    REFUSED("is not before", "from", "-60", "to", "-120");
    REFUSED("is not before", "from", "1763990000", "to", "1763990000");
    REFUSED("outside [1, 1000]", "limit", "0");
    REFUSED("outside [1, 1000]", "limit", "1001");
    REFUSED("outside [1, 1000]", "limit", "-5");
    REFUSED("is not an integer", "limit", "ten");
    REFUSED("is not an integer", "limit", "");
    REFUSED("is not a source name", "source", "RPC");
    REFUSED("is not a source name", "source", "rpc;drop");
    REFUSED("expected 1 to 32", "source", "");
    REFUSED("expected 1 to 32", "source", "abcdefghijklmnopqrstuvwxyz0123456789");
    REFUSED("is not printable text", "action", "memory.\n");
    REFUSED("expected 1 to 128", "action", "");
    REFUSED("is not a request id", "request_id", "req 1");
    REFUSED("is not OK, FAILED or an error code", "code", "ok");
    REFUSED("is not OK, FAILED or an error code", "code", "SLOW");
    char *long_action = xmalloc(130);
    memset(long_action, 'a', 129);
    long_action[129] = '\0';
    REFUSED("129 bytes, expected 1 to 128", "action", long_action);
    free(long_action);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_filter),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
