/* oslo.messaging's Notifier with its messaging, messagingv2, log and noop
 * drivers (oslo_messaging/notify/notifier.py, messaging.py, _impl_log.py),
 * over the AMQP transport of openstack/amqp.c. */
#include "openstack/notifier.h"
#include "openstack/notifier_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "openstack/amqp.h"
#include "openstack/messaging.h"
#include "openstack/oslo.h"

LOG_INIT("openstack.notifier");

/* A drop is logged at most this often (with the count since): a broker
 * away for an hour must not fill the log with one line per event. */
#define NOTIFY_DROP_LOG_MS 10000

struct os_notifier {
    enum os_notify_driver driver;
    char **topics;
    size_t ntopics;
    char *publisher_id;
    char *exchange;
    struct os_amqp *amqp;       /* borrowed (the RPC one) or own_amqp */
    struct os_amqp *own_amqp;   /* owned: [oslo_messaging_notifications] transport_url */
    struct os_notifier_stats stats;   /* atomics */
    int64_t drop_logged_ms;           /* atomic: when a drop was last logged */
    uint64_t drops_logged;            /* atomic: stats.dropped at that time */
};

static const char *const driver_names[] = {
    [OS_NOTIFY_DRIVER_NONE] = "noop",
    [OS_NOTIFY_DRIVER_MESSAGINGV2] = "messagingv2",
    [OS_NOTIFY_DRIVER_MESSAGING] = "messaging",
    [OS_NOTIFY_DRIVER_LOG] = "log",
};

int os_notify_driver_parse(const char *name)
{
    if (!name || !name[0])
        return OS_NOTIFY_DRIVER_NONE;
    for (int d = 0; d < OS_NOTIFY_DRIVER_LAST; d++)
        if (strcmp(name, driver_names[d]) == 0)
            return d;
    return -1;
}

char *os_notify_timestamp(int64_t wall_us, char *buf, int size)
{
    time_t t = (time_t)(wall_us / 1000000);
    int64_t frac = wall_us % 1000000;
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    if (frac)
        snprintf(buf, (size_t)size, "%s.%06lld", date, (long long)frac);
    else
        snprintf(buf, (size_t)size, "%s", date);
    return buf;
}

/* A context value kept by _sanitize_context, or null. */
static json_t *ctx_keep(const json_t *ctx, const char *key)
{
    json_t *v = ctx ? json_object_get(ctx, key) : NULL;
    return v ? json_incref(v) : json_null();
}

static const char *ctx_dash(const json_t *ctx, const char *key)
{
    const char *s = ctx ? json_string_value(json_object_get(ctx, key)) : NULL;
    return s && s[0] ? s : "-";
}

json_t *os_notify_ctx_sanitize(const json_t *ctx, const char *ts)
{
    /* to_dict()'s keys in its order; the others than identity at their
     * defaults, as from_dict() of the safe keys leaves them */
    json_t *is_admin = ctx ? json_object_get(ctx, "is_admin") : NULL;
    json_t *roles = ctx ? json_object_get(ctx, "roles") : NULL;
    const char *user = ctx_dash(ctx, "user_id");
    const char *project = ctx_dash(ctx, "project_id");
    autofree char *identity = xasprintf("%s %s %s %s %s", user, project, ctx_dash(ctx, "domain"),
                                        ctx_dash(ctx, "user_domain"),
                                        ctx_dash(ctx, "project_domain"));
    json_t *out = json_object();
    json_object_set_new(out, "user", ctx_keep(ctx, "user_id"));
    json_object_set_new(out, "project_id", ctx_keep(ctx, "project_id"));
    json_object_set_new(out, "system_scope", ctx_keep(ctx, "system_scope"));
    json_object_set_new(out, "project", ctx_keep(ctx, "project_id"));
    json_object_set_new(out, "domain", ctx_keep(ctx, "domain"));
    json_object_set_new(out, "user_domain", ctx_keep(ctx, "user_domain"));
    json_object_set_new(out, "project_domain", ctx_keep(ctx, "project_domain"));
    json_object_set_new(out, "is_admin", json_boolean(json_is_true(is_admin)));
    json_object_set_new(out, "read_only", json_false());
    json_object_set_new(out, "show_deleted", json_false());
    json_object_set_new(out, "auth_token", json_null());
    json_object_set_new(out, "request_id", ctx_keep(ctx, "request_id"));
    json_object_set_new(out, "global_request_id", ctx_keep(ctx, "global_request_id"));
    json_object_set_new(out, "resource_uuid", json_null());
    json_object_set_new(out, "roles", json_is_array(roles) ? json_deep_copy(roles) : json_array());
    json_object_set_new(out, "user_identity", json_string(identity));
    json_object_set_new(out, "is_admin_project", json_true());
    json_object_set_new(out, "user_id", ctx_keep(ctx, "user_id"));
    json_object_set_new(out, "read_deleted", json_string("no"));
    json_object_set_new(out, "remote_address", json_null());
    json_object_set_new(out, "timestamp", json_string(ts));
    json_object_set_new(out, "quota_class", json_null());
    json_object_set_new(out, "user_name", ctx_keep(ctx, "user_name"));
    json_object_set_new(out, "service_catalog", json_array());
    json_object_set_new(out, "project_name", ctx_keep(ctx, "project_name"));
    return out;
}

json_t *os_notify_message(const char *message_id, const char *publisher_id,
                          const char *event_type, const char *priority, json_t *payload,
                          const char *timestamp)
{
    json_t *m = json_object();
    json_object_set_new(m, "message_id", json_string(message_id));
    json_object_set_new(m, "publisher_id", json_string(publisher_id));
    json_object_set_new(m, "event_type", json_string(event_type));
    json_object_set_new(m, "priority", json_string(priority));
    json_object_set_new(m, "payload", payload ? payload : json_object());
    json_object_set_new(m, "timestamp", json_string(timestamp));
    return m;
}

/* The topics list (oslo's ListOpt: comma-separated, blanks trimmed). */
static int notifier_topics(struct os_notifier *n, const char *list, struct err **err)
{
    const char *p = list;
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            for (size_t k = 0; k < len; k++)
                if (p[k] == '#' || p[k] == '*' || p[k] == ' ')
                    return err_set(err, ERR_INVALID,
                                   "option `[oslo_messaging_notifications] topics`: `%.*s` is "
                                   "not a routing key",
                                   (int)len, p);
            n->topics = xreallocarray(n->topics, n->ntopics + 1, sizeof(char *));
            n->topics[n->ntopics++] = xstrndup(p, len);
        }
        p = comma ? comma + 1 : NULL;
    }
    if (n->driver != OS_NOTIFY_DRIVER_NONE && n->ntopics == 0)
        return err_set(err, ERR_INVALID, "option `[oslo_messaging_notifications] topics` is "
                                         "empty while a driver is set");
    return 0;
}

/* The own transport only publishes: its reply queue gets nothing. */
static void notifier_deliver(void *opaque, struct os_delivery *d)
{
    (void)opaque;
    os_delivery_free(d);
}

struct os_notifier *os_notifier_new(const struct cfg *cfg, const char *publisher_id,
                                    struct os_amqp *rpc_amqp, struct err **err)
{
    int d = os_notify_driver_parse(cfg->notify_driver);
    if (d < 0) {
        err_set(err, ERR_INVALID, "option `[oslo_messaging_notifications] driver`: `%s` is "
                                  "not a driver sculpt has",
                cfg->notify_driver);
        return NULL;
    }
    struct os_notifier *n = xzalloc(sizeof(*n));
    n->driver = (enum os_notify_driver)d;
    n->publisher_id = xstrdup(publisher_id);
    n->exchange = xstrdup(cfg->control_exchange);
    n->amqp = rpc_amqp;
    if (notifier_topics(n, cfg->notify_topics, err) < 0) {
        os_notifier_free(n);
        return NULL;
    }
    bool on_bus = n->driver == OS_NOTIFY_DRIVER_MESSAGINGV2 ||
                  n->driver == OS_NOTIFY_DRIVER_MESSAGING;
    if (on_bus && cfg->notify_transport_url[0]) {
        struct os_amqp_opts o;
        os_messaging_amqp_opts(cfg, cfg->notify_transport_url, "sculpt-compute:notifications",
                               &o);
        struct os_amqp_handler h = {notifier_deliver, NULL, NULL};
        n->own_amqp = os_amqp_new(&o, &h, err);
        if (!n->own_amqp) {
            err_wrap(err, "[oslo_messaging_notifications] transport_url");
            os_notifier_free(n);
            return NULL;
        }
        n->amqp = n->own_amqp;
    }
    if (on_bus && !n->amqp) {
        err_set(err, ERR_INVALID, "notifications need a transport: set [DEFAULT] transport_url "
                                  "or [oslo_messaging_notifications] transport_url");
        os_notifier_free(n);
        return NULL;
    }
    if (n->driver != OS_NOTIFY_DRIVER_NONE)
        log_info("notifications: driver %s, topics %s, publisher %s%s", driver_names[n->driver],
                 cfg->notify_topics, n->publisher_id,
                 n->own_amqp ? ", own transport" : "");
    return n;
}

int os_notifier_start(struct os_notifier *n, struct err **err)
{
    if (!n || !n->own_amqp)
        return 0;
    return os_amqp_start(n->own_amqp, err);
}

void os_notifier_stop(struct os_notifier *n)
{
    if (n && n->own_amqp)
        os_amqp_stop(n->own_amqp);
}

void os_notifier_free(struct os_notifier *n)
{
    if (!n)
        return;
    os_notifier_stop(n);
    os_amqp_free(n->own_amqp);
    for (size_t i = 0; i < n->ntopics; i++)
        free(n->topics[i]);
    free(n->topics);
    free(n->publisher_id);
    free(n->exchange);
    free(n);
}

bool os_notifier_enabled(const struct os_notifier *n)
{
    return n && n->driver != OS_NOTIFY_DRIVER_NONE;
}

void os_notifier_get_stats(struct os_notifier *n, struct os_notifier_stats *out)
{
    out->queued = __atomic_load_n(&n->stats.queued, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&n->stats.dropped, __ATOMIC_RELAXED);
}

static void notifier_dropped(struct os_notifier *n, const char *event_type, const struct err *e)
{
    uint64_t dropped = __atomic_add_fetch(&n->stats.dropped, 1, __ATOMIC_RELAXED);
    int64_t now = clock_mono_ms();
    int64_t last = __atomic_load_n(&n->drop_logged_ms, __ATOMIC_RELAXED);
    if (last && now - last < NOTIFY_DROP_LOG_MS)
        return;
    if (!__atomic_compare_exchange_n(&n->drop_logged_ms, &last, now, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return; /* another thread logs this round */
    uint64_t before = __atomic_exchange_n(&n->drops_logged, dropped, __ATOMIC_RELAXED);
    log_err(LOG_LEVEL_WARN, e, "notification `%s` dropped (%llu dropped since the last such line)",
            event_type, (unsigned long long)(dropped - before));
}

static enum log_level notifier_log_level(const char *priority)
{
    if (strcmp(priority, "DEBUG") == 0)
        return LOG_LEVEL_DEBUG;
    if (strcmp(priority, "WARN") == 0)
        return LOG_LEVEL_WARN;
    if (strcmp(priority, "ERROR") == 0 || strcmp(priority, "CRITICAL") == 0)
        return LOG_LEVEL_ERROR;
    return LOG_LEVEL_INFO;
}

void os_notify(struct os_notifier *n, const json_t *ctx, const char *event_type,
               const char *priority, json_t *payload)
{
    if (!os_notifier_enabled(n)) {
        json_decref(payload);
        return;
    }
    autoerr struct err *e = NULL;
    char id[UUID_STR_LEN];
    if (uuid_generate(id, &e) < 0) {
        json_decref(payload);
        notifier_dropped(n, event_type, e);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    char ts[40], ctx_ts[40];
    os_notify_timestamp(now_us, ts, sizeof(ts));
    os_ctx_timestamp(now_us, ctx_ts, sizeof(ctx_ts));
    json_t *msg = os_notify_message(id, n->publisher_id, event_type, priority, payload, ts);

    if (n->driver == OS_NOTIFY_DRIVER_LOG) {
        /* oslo's LogDriver: the message as JSON on the
         * oslo.messaging.notification.EVENT logger, at its priority */
        autofree char *text = json_dumps(msg, JSON_COMPACT);
        LOG_AT(notifier_log_level(priority), "oslo.messaging.notification.%s: %s", event_type,
               text ? text : "(not encodable)");
        json_decref(msg);
        __atomic_add_fetch(&n->stats.queued, 1, __ATOMIC_RELAXED);
        return;
    }

    json_t *safe = os_notify_ctx_sanitize(ctx, ctx_ts);
    bool envelope = n->driver == OS_NOTIFY_DRIVER_MESSAGINGV2;
    autofree char *lower = xstrdup(priority);
    for (char *p = lower; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    for (size_t t = 0; t < n->ntopics; t++) {
        size_t len = 0;
        char *body = os_notification_encode(msg, safe, envelope, &len);
        if (!body) {
            err_set(&e, ERR_INVALID, "payload not encodable as JSON");
            notifier_dropped(n, event_type, e);
            break;
        }
        autofree char *key = xasprintf("%s.%s", n->topics[t], lower);
        err_clear(&e);
        if (os_amqp_notify(n->amqp, n->exchange, key, body, len, OS_NOTIFY_BACKLOG_MAX, &e) < 0) {
            notifier_dropped(n, event_type, e);
            continue;
        }
        __atomic_add_fetch(&n->stats.queued, 1, __ATOMIC_RELAXED);
        log_debug("notification %s %s queued for `%s`", event_type, id, key);
    }
    json_decref(safe);
    json_decref(msg);
}
