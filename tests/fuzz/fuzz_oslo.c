/* libFuzzer target for what sculpt-compute reads off the wire: the oslo
 * envelope and request, replies and failures, the Nova objects inside
 * (validated and decoded into driver structs), and transport URLs.  Any
 * input must give a clean error or a result, never a crash or a leak.
 * Seeds: tests/fuzz/corpus/fuzz_oslo/ (captured Nova traffic). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/amqp_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/oslo_priv.h"
#include "openstack/ovo.h"
#include "openstack/rpc_failure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_objects(const json_t *args)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)args, key, v) {
        struct err *e = NULL;
        if (ovo_validate(v, NULL, &e) == 0 && ovo_is(v, "Instance")) {
            struct drv_instance *inst = os_instance_decode(v, &e);
            drv_instance_free(inst);
        }
        err_free(e);
        e = NULL;
        json_t *copy = json_deep_copy(v);
        if (ovo_is(copy, NULL)) {
            ovo_set_str(copy, "task_state", "x");
            ovo_apply_updates(copy, v, &e);
            ovo_clear_changes(copy);
        }
        json_decref(copy);
        err_free(e);
    }
}

/* The JSON fast path answers what jansson answers (values, types, key
 * order) or steps aside. */
static void fuzz_json_fast(const char *text, size_t len)
{
    json_t *jfast = os_json_load_fast(text, len);
    if (!jfast)
        return;
    json_t *jslow = json_loadb(text, len, 0, NULL);
    char *a = json_dumps(jfast, JSON_COMPACT);
    char *b = jslow ? json_dumps(jslow, JSON_COMPACT) : NULL;
    if (!jslow || !json_equal(jfast, jslow) || !a || !b || strcmp(a, b) != 0)
        abort();
    free(a);
    free(b);
    json_decref(jslow);
    json_decref(jfast);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_min_level = LOG_LEVEL_LAST; /* the fuzzer's own output is enough */
        quiet = 1;
    }
    struct err *e = NULL;
    struct os_msg *partial = NULL;
    struct os_msg *m = os_msg_decode(data, size, &partial, &e);
    if (m) {
        fuzz_objects(m->args);
        int64_t t;
        ovo_datetime_parse(os_ctx_str(m->ctx, "timestamp"), &t);
    }
    os_msg_free(m);
    os_msg_free(partial);
    err_free(e);
    e = NULL;

    struct os_reply r;
    if (os_reply_decode(data, size, &r, &e) == 0) {
        if (r.failure) {
            char *cls = NULL;
            os_failure_to_err(r.failure, "fuzz", &cls, &e);
            free(cls);
        }
        os_reply_release(&r);
    }
    err_free(e);
    e = NULL;

    /* The envelope's fast path must agree with jansson whenever it answers. */
    size_t flen = 0;
    char *fast = os_envelope_inner((const char *)data, size, &flen);
    if (fast) {
        json_t *outer = json_loadb((const char *)data, size, 0, NULL);
        json_t *msg = json_object_get(outer, "oslo.message");
        if (!json_is_string(msg) || json_string_length(msg) != flen ||
            memcmp(json_string_value(msg), fast, flen) != 0)
            abort();
        json_decref(outer);
        fuzz_json_fast(fast, flen);
        free(fast);
    }

    /* So must the JSON fast path, on the envelope and the message in it. */
    fuzz_json_fast((const char *)data, size);

    char *s = xstrndup((const char *)data, size);
    struct os_amqp_url u;
    if (os_amqp_url_parse(s, &u, &e) == 0)
        os_amqp_url_release(&u);
    err_free(e);
    /* The envelope written directly is what jansson writes. */
    size_t wlen;
    char *wrapped = os_envelope_wrap_ascii(s, &wlen);
    if (wrapped) {
        json_t *outer = json_pack("{s:s, s:s}", "oslo.version", "2.0", "oslo.message", s);
        char *slow = outer ? json_dumps(outer, JSON_COMPACT) : NULL;
        if (!slow || strcmp(slow, wrapped) != 0 || wlen != strlen(slow))
            abort();
        free(slow);
        json_decref(outer);
        free(wrapped);
    }
    int major, minor;
    ovo_version_parse(s, &major, &minor);
    int64_t t;
    ovo_datetime_parse(s, &t);
    free(s);
    return 0;
}
