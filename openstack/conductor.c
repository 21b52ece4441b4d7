#include "openstack/conductor.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/ovo.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.conductor");

static const struct os_rpc_target conductor_target = {
    .topic = "conductor",
    .version = "3.0",
};

/* A call, retried when the connection to RabbitMQ dropped under it (the
 * conductor may or may not have seen it: the object methods we call are
 * safe to repeat, and a guarded save that already went through fails with
 * a conflict the caller recognises). */
static json_t *conductor_call(struct os_conductor *c, const struct os_rpc_target *t,
                              const char *method, const json_t *args, const json_t *ctx,
                              int64_t timeout_ms, char **remote_class, struct err **err)
{
    for (int attempt = 0;; attempt++) {
        autoerr struct err *e = NULL;
        json_t *r = os_rpc_call(c->rpc, t, method, args, ctx, timeout_ms, remote_class, &e);
        if (r)
            return r;
        if (err_code_of(e) != ERR_UNAVAILABLE || attempt >= c->retries) {
            if (err) {
                err_free(*err);
                *err = steal_pointer(&e);
            }
            return NULL;
        }
        log_err(LOG_LEVEL_WARN, e, "retrying (attempt %d of %d)", attempt + 2, c->retries + 1);
        clock_sleep_ms(500);
    }
}

int os_conductor_ping(struct os_conductor *c, int64_t timeout_ms, struct err **err)
{
    static const struct os_rpc_target ping = {
        .topic = "conductor", .namespace = "baseapi", .version = "1.0"};
    json_auto_t *args = json_pack("{s:s}", "arg", "1.21 GigaWatts");
    json_t *r = os_rpc_call(c->rpc, &ping, "ping", args, NULL, timeout_ms, NULL, err);
    if (!r)
        return -1;
    json_decref(r);
    return 0;
}

json_t *os_conductor_class_action(struct os_conductor *c, const json_t *ctx, const char *objname,
                                  const char *objmethod, json_t *args, json_t *kwargs,
                                  char **remote_class, struct err **err)
{
    const char *version = ovo_zed_version(objname);
    if (!version) {
        json_decref(args);
        json_decref(kwargs);
        err_set(err, ERR_INTERNAL, "no Zed version known for `%s`", objname);
        return NULL;
    }
    json_auto_t *a = json_pack("{s:s, s:s, s:{s:s}, s:o, s:o}", "objname", objname, "objmethod",
                               objmethod, "object_versions", objname, version, "args",
                               args ? args : json_array(), "kwargs",
                               kwargs ? kwargs : json_object());
    char what[128];
    snprintf(what, sizeof(what), "%s.%s", objname, objmethod);
    json_t *r = conductor_call(c, &conductor_target, "object_class_action_versions", a, ctx,
                               c->timeout_ms, remote_class, err);
    if (!r)
        err_wrap(err, "%s", what);
    return r;
}

json_t *os_conductor_object_action(struct os_conductor *c, const json_t *ctx, json_t *obj,
                                   const char *objmethod, json_t *args, json_t *kwargs,
                                   char **remote_class, struct err **err)
{
    char what[128];
    snprintf(what, sizeof(what), "%s.%s", ovo_name(obj) ? ovo_name(obj) : "?", objmethod);
    json_auto_t *a = json_pack("{s:O, s:s, s:o, s:o}", "objinst", obj, "objmethod", objmethod,
                               "args", args ? args : json_array(), "kwargs",
                               kwargs ? kwargs : json_object());
    json_auto_t *r = conductor_call(c, &conductor_target, "object_action", a, ctx,
                                    c->timeout_ms, remote_class, err);
    if (!r) {
        err_wrap(err, "%s", what);
        return NULL;
    }
    /* [updates, return value] */
    if (!json_is_array(r) || json_array_size(r) != 2) {
        err_set(err, ERR_INTERNAL, "%s: reply is not [updates, result]", what);
        return NULL;
    }
    if (ovo_apply_updates(obj, json_array_get(r, 0), err) < 0) {
        err_wrap(err, "%s", what);
        return NULL;
    }
    ovo_clear_changes(obj);
    return json_incref(json_array_get(r, 1));
}
