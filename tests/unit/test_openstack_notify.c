/* Nova's legacy notifications: the payload, the sanitized context and the
 * message against what a real Zed nova-compute sent for the same build
 * (tests/data/openstack/PROVENANCE.md), the envelope, the timestamp, the
 * fault, the drivers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "openstack/notifier.h"
#include "openstack/notifier_priv.h"
#include "openstack/notify_payload.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

#define DATA "tests/data/openstack/"
#define IMAGE_URL "http://127.0.0.1:29292/images/155d900f-4e14-4e4c-a73d-069cbf4541e6"

/* The message dict inside an envelope body file. */
static json_t *load_message(const char *path)
{
    json_error_t je;
    json_auto_t *outer = json_load_file(path, 0, &je);
    assert_non_null(outer);
    const char *inner = json_string_value(json_object_get(outer, "oslo.message"));
    assert_non_null(inner);
    json_t *m = json_loads(inner, 0, &je);
    assert_non_null(m);
    return m;
}

/* The build request's instance, as it is when create.start goes: saved
 * with task_state None by the build's first save. */
static json_t *build_instance(json_t **ctx)
{
    json_auto_t *req = load_message(DATA "build_and_run_instance.json");
    json_t *inst = json_deep_copy(json_object_get(json_object_get(req, "args"), "instance"));
    ovo_set_str(inst, "task_state", NULL);
    if (ctx) {
        *ctx = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(req, key, v) {
            if (strncmp(key, "_context_", 9) == 0)
                json_object_set(*ctx, key + 9, v);
        }
    }
    return inst;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
    if (!json_equal(got, want)) {
        autofree char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
        autofree char *w = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);
        fail_msg("got:\n%s\nwanted:\n%s", g, w);
    }
}

/* The keys of an object in their order, as one string. */
static char *keys_of(const json_t *o)
{
    struct strbuf {
        char *s;
    } b = {xstrdup("")};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        char *n = xasprintf("%s%s ", b.s, key);
        free(b.s);
        b.s = n;
    }
    return b.s;
}

static void test_payload_as_nova_sent_it(void **state)
{
    (void)state;
    json_auto_t *inst = build_instance(NULL);
    json_auto_t *real = load_message(DATA "notify_create_start.json");
    json_auto_t *payload = os_notify_instance_info(inst, IMAGE_URL, NULL);
    json_object_set_new(payload, "image_name", json_string("cirros"));
    json_t *want = json_object_get(real, "payload");
    assert_json_equal(payload, want);
    autofree char *kg = keys_of(payload);
    autofree char *kw = keys_of(want);
    assert_string_equal(kg, kw);
}

static void test_payload_end_as_nova_sent_it(void **state)
{
    (void)state;
    json_auto_t *inst = build_instance(NULL);
    json_auto_t *real = load_message(DATA "notify_create_end.json");
    json_t *want = json_object_get(real, "payload");
    /* what the build changed before create.end; launched_at to the
     * second (a primitive carries no fraction) */
    ovo_set_str(inst, "host", "h1");
    ovo_set_str(inst, "node", "h1");
    ovo_set_str(inst, "vm_state", "active");
    ovo_set_str(inst, "launched_at", "2026-11-25T17:50:38Z");
    json_object_set_new(want, "launched_at", json_string("2026-11-25T17:50:38.000000"));
    json_auto_t *payload = os_notify_instance_info(inst, IMAGE_URL, os_notify_fixed_ips(NULL));
    json_object_set_new(payload, "message", json_string("Success"));
    assert_json_equal(payload, want);
    autofree char *kg = keys_of(payload);
    autofree char *kw = keys_of(want);
    assert_string_equal(kg, kw);
}

static void test_message_as_nova_sent_it(void **state)
{
    (void)state;
    json_t *ctx = NULL;
    json_auto_t *inst = build_instance(&ctx);
    json_auto_t *ctx_owned = ctx;
    json_auto_t *real = load_message(DATA "notify_create_start.json");
    /* the real one's ids and times; everything else ours */
    const char *id = json_string_value(json_object_get(real, "message_id"));
    const char *ts = json_string_value(json_object_get(real, "timestamp"));
    const char *cts = json_string_value(json_object_get(real, "_context_timestamp"));
    json_t *payload = os_notify_instance_info(inst, IMAGE_URL, NULL);
    json_object_set_new(payload, "image_name", json_string("cirros"));
    json_auto_t *msg = os_notify_message(id, "compute.h1", "compute.instance.create.start", "INFO",
                                         payload, ts);
    json_auto_t *safe = os_notify_ctx_sanitize(ctx, cts);
    /* the request's context carried the user's token and catalog */
    assert_non_null(json_string_value(json_object_get(ctx, "auth_token")));
    size_t len = 0;
    autofree char *body = os_notification_encode(msg, safe, true, &len);
    assert_non_null(body);
    assert_int_equal(strlen(body), len);
    assert_null(strstr(body, "gAAAAAB"));

    json_error_t je;
    json_auto_t *outer = json_loads(body, 0, &je);
    assert_non_null(outer);
    assert_string_equal(json_string_value(json_object_get(outer, "oslo.version")), "2.0");
    json_auto_t *got = json_loads(json_string_value(json_object_get(outer, "oslo.message")), 0, &je);
    assert_non_null(got);
    /* _unique_id: a fresh hex id */
    const char *uid = json_string_value(json_object_get(got, "_unique_id"));
    assert_non_null(uid);
    assert_int_equal(strlen(uid), 32);
    json_object_set(got, "_unique_id", json_object_get(real, "_unique_id"));
    assert_json_equal(got, real);
    autofree char *kg = keys_of(got);
    autofree char *kw = keys_of(real);
    assert_string_equal(kg, kw);

    /* messaging (format 1.0): the same dict, bare */
    autofree char *bare = os_notification_encode(msg, safe, false, &len);
    json_auto_t *b = json_loads(bare, 0, &je);
    assert_non_null(b);
    assert_null(json_object_get(b, "oslo.version"));
    assert_string_equal(json_string_value(json_object_get(b, "event_type")),
                        "compute.instance.create.start");
    assert_string_equal(json_string_value(json_object_get(b, "_context_request_id")),
                        "req-d6d808ed-e158-4a65-acb1-ca2d0def1d51");
}

static void test_ctx_without_request(void **state)
{
    (void)state;
    json_auto_t *safe = os_notify_ctx_sanitize(NULL, "2026-11-27T13:00:00.000001");
    assert_string_equal(json_string_value(json_object_get(safe, "user_identity")), "- - - - -");
    assert_true(json_is_null(json_object_get(safe, "auth_token")));
    assert_true(json_is_false(json_object_get(safe, "is_admin")));
    assert_int_equal(json_array_size(json_object_get(safe, "roles")), 0);
    assert_int_equal(json_object_size(safe), 25);
}

static void test_timestamp(void **state)
{
    (void)state;
    char buf[40];
    /* 2026-11-25 17:50:37.949186, and Python's str() without a fraction */
    assert_string_equal(os_notify_timestamp(1795629037949186LL, buf, sizeof(buf)),
                        "2026-11-25 17:50:37.949186");
    assert_string_equal(os_notify_timestamp(1795629037000000LL, buf, sizeof(buf)),
                        "2026-11-25 17:50:37");
    assert_string_equal(os_notify_timestamp(1795629037000001LL, buf, sizeof(buf)),
                        "2026-11-25 17:50:37.000001");
    assert_string_equal(os_notify_str_datetime("2026-11-25T17:50:36Z", buf, sizeof(buf)),
                        "2026-11-25 17:50:36+00:00");
    assert_string_equal(os_notify_str_datetime(NULL, buf, sizeof(buf)), "None");
    assert_string_equal(os_notify_isotime("2026-11-25T17:50:36Z", buf, sizeof(buf)),
                        "2026-11-25T17:50:36.000000");
    assert_string_equal(os_notify_isotime(NULL, buf, sizeof(buf)), "");
    assert_string_equal(os_notify_isotime("garbage", buf, sizeof(buf)), "");
}

static void test_fault(void **state)
{
    (void)state;
    autoerr struct err *e = NULL;
    err_set(&e, ERR_NOT_FOUND, "Instance x could not be found.");
    json_auto_t *p = json_object();
    os_notify_add_fault(p, "InstanceNotFound", e);
    assert_string_equal(json_string_value(json_object_get(p, "message")),
                        "Instance x could not be found.");
    assert_int_equal(json_integer_value(json_object_get(p, "code")), 404);
    assert_string_equal(json_string_value(json_object_get(p, "exception")),
                        "InstanceNotFound('Instance x could not be found.')");

    /* 300 characters (two bytes each): 255 kept, whole */
    autoerr struct err *big = NULL;
    char text[601];
    for (int k = 0; k < 300; k++)
        memcpy(text + 2 * k, "\xc3\xa9", 2);
    text[600] = '\0';
    err_set(&big, ERR_INTERNAL, "%s", text);
    json_auto_t *q = json_object();
    os_notify_add_fault(q, NULL, big);
    const char *m = json_string_value(json_object_get(q, "message"));
    assert_non_null(m);
    assert_int_equal(strlen(m), 510);
    assert_int_equal(json_integer_value(json_object_get(q, "code")), 500);
    assert_int_equal(strncmp(json_string_value(json_object_get(q, "exception")),
                             "NovaException('", 15),
                     0);

    autoerr struct err *quoted = NULL;
    err_set(&quoted, ERR_INVALID, "image 'x' is bad");
    json_auto_t *r = json_object();
    os_notify_add_fault(r, "ImageUnacceptable", quoted);
    assert_string_equal(json_string_value(json_object_get(r, "exception")),
                        "ImageUnacceptable(\"image 'x' is bad\")");
    assert_int_equal(json_integer_value(json_object_get(r, "code")), 400);
}

static void test_fixed_ips(void **state)
{
    (void)state;
    json_error_t je;
    json_auto_t *nw = json_loads(
        "[{\"address\": \"fa:16:3e:00:00:01\", \"network\": {\"label\": \"private\", "
        "\"subnets\": [{\"ips\": [{\"address\": \"10.0.0.5\", \"type\": \"fixed\", "
        "\"version\": 4, \"meta\": {}, \"floating_ips\": []}]}]}}]",
        0, &je);
    assert_non_null(nw);
    json_auto_t *ips = os_notify_fixed_ips(nw);
    assert_int_equal(json_array_size(ips), 1);
    json_t *ip = json_array_get(ips, 0);
    assert_string_equal(json_string_value(json_object_get(ip, "address")), "10.0.0.5");
    assert_string_equal(json_string_value(json_object_get(ip, "label")), "private");
    assert_string_equal(json_string_value(json_object_get(ip, "vif_mac")), "fa:16:3e:00:00:01");
    json_auto_t *none = os_notify_fixed_ips(NULL);
    assert_int_equal(json_array_size(none), 0);
}

static void test_drivers(void **state)
{
    (void)state;
    assert_int_equal(os_notify_driver_parse(""), OS_NOTIFY_DRIVER_NONE);
    assert_int_equal(os_notify_driver_parse("noop"), OS_NOTIFY_DRIVER_NONE);
    assert_int_equal(os_notify_driver_parse("messagingv2"), OS_NOTIFY_DRIVER_MESSAGINGV2);
    assert_int_equal(os_notify_driver_parse("messaging"), OS_NOTIFY_DRIVER_MESSAGING);
    assert_int_equal(os_notify_driver_parse("log"), OS_NOTIFY_DRIVER_LOG);
    assert_int_equal(os_notify_driver_parse("kafka"), -1);

    /* off: nothing built, the payload freed (ASan checks) */
    autoerr struct err *e = NULL;
    struct cfg *cfg = cfg_new_defaults();
    struct os_notifier *n = os_notifier_new(cfg, "compute.h1", NULL, &e);
    assert_non_null(n);
    assert_false(os_notifier_enabled(n));
    os_notify(n, NULL, "compute.instance.create.start", "INFO", json_object());
    os_notify(NULL, NULL, "compute.instance.create.start", "INFO", json_object());
    os_notifier_free(n);

    /* log: a line, no transport needed */
    assert_int_equal(cfg_set(cfg, "oslo_messaging_notifications", "driver", "log", &e), 0);
    n = os_notifier_new(cfg, "compute.h1", NULL, &e);
    assert_non_null(n);
    assert_true(os_notifier_enabled(n));
    os_notify(n, NULL, "compute.instance.exists", "INFO", json_pack("{s:s}", "k", "v"));
    struct os_notifier_stats st;
    os_notifier_get_stats(n, &st);
    assert_int_equal(st.queued, 1);
    os_notifier_free(n);

    /* on the bus without any transport: refused */
    assert_int_equal(cfg_set(cfg, "oslo_messaging_notifications", "driver", "messagingv2", &e), 0);
    assert_null(os_notifier_new(cfg, "compute.h1", NULL, &e));
    assert_non_null(e);
    err_clear(&e);
    /* a topic that is no routing key */
    assert_int_equal(cfg_set(cfg, "oslo_messaging_notifications", "driver", "log", &e), 0);
    assert_int_equal(cfg_set(cfg, "oslo_messaging_notifications", "topics", "a, b#", &e), 0);
    assert_null(os_notifier_new(cfg, "compute.h1", NULL, &e));
    assert_non_null(strstr(e->msg, "b#"));
    err_clear(&e);
    cfg_unref(cfg);
}

/* RabbitMQ away: notifications wait in the outbox up to the backlog
 * bound, then are dropped and counted; no call blocks. */
static void test_broker_away(void **state)
{
    (void)state;
    autoerr struct err *e = NULL;
    struct cfg *cfg = cfg_new_defaults();
    assert_int_equal(cfg_set(cfg, "oslo_messaging_notifications", "driver", "messagingv2", &e), 0);
    assert_int_equal(cfg_set(cfg, "oslo_messaging_notifications", "topics", "notifications, audit",
                             &e),
                     0);
    /* nothing listens on port 1 */
    assert_int_equal(cfg_set(cfg, "oslo_messaging_notifications", "transport_url",
                             "rabbit://guest:guest@127.0.0.1:1/", &e),
                     0);
    struct os_notifier *n = os_notifier_new(cfg, "compute.h1", NULL, &e);
    assert_non_null(n);
    assert_int_equal(os_notifier_start(n, &e), 0);
    const int sent = OS_NOTIFY_BACKLOG_MAX / 2 + 3;
    for (int k = 0; k < sent; k++)
        os_notify(n, NULL, "compute.instance.exists", "INFO", json_pack("{s:i}", "k", k));
    struct os_notifier_stats st;
    os_notifier_get_stats(n, &st);
    /* one message per topic; the backlog bound counts them all */
    assert_int_equal(st.queued, OS_NOTIFY_BACKLOG_MAX);
    assert_int_equal(st.dropped, 2 * sent - OS_NOTIFY_BACKLOG_MAX);
    os_notifier_free(n);
    cfg_unref(cfg);
}

/* versioned/both are refused while a driver is set, accepted without */
static void test_format_config(void **state)
{
    (void)state;
    autoerr struct err *e = NULL;
    struct cfg *c = cfg_load_string("[notifications]\nnotification_format = versioned\n", "t", &e);
    assert_non_null(c);
    cfg_unref(c);
    c = cfg_load_string("[oslo_messaging_notifications]\ndriver = noop\n"
                        "[notifications]\nnotification_format = both\n",
                        "t", &e);
    assert_non_null(c);
    cfg_unref(c);
    c = cfg_load_string("[oslo_messaging_notifications]\ndriver = messagingv2\n"
                        "[notifications]\nnotification_format = both\n",
                        "t", &e);
    assert_null(c);
    assert_non_null(strstr(e->msg, "notification_format"));
    err_clear(&e);
    c = cfg_load_string("[oslo_messaging_notifications]\ndriver = kafka\n", "t", &e);
    assert_null(c);
    err_clear(&e);
    c = cfg_load_string("[notifications]\nnotify_on_state_change = vm_state\n"
                        "default_level = WARN\n",
                        "t", &e);
    assert_non_null(c);
    cfg_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_as_nova_sent_it),
        cmocka_unit_test(test_payload_end_as_nova_sent_it),
        cmocka_unit_test(test_message_as_nova_sent_it),
        cmocka_unit_test(test_ctx_without_request),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_fault),
        cmocka_unit_test(test_fixed_ips),
        cmocka_unit_test(test_drivers),
        cmocka_unit_test(test_format_config),
        cmocka_unit_test(test_broker_away),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
