/* The compute manager's legacy instance notifications
 * (ComputeManager._notify_about_instance_usage). */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/audit_period.h"
#include "openstack/compute_priv.h"
#include "openstack/glance.h"
#include "openstack/nova_instance.h"
#include "openstack/notifier.h"
#include "openstack/notifier_priv.h"
#include "openstack/notify_payload.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_notify");

/* What info_from_instance reads and a request's Instance may come
 * without: Nova lazy-loads them (Instance.obj_load_attr, a get_by_uuid
 * through the conductor); so does this, once, into the primitive's data
 * -- loaded, not changed, so no save writes them. */
static void notify_load_missing(struct os_compute *c, const json_t *ctx, json_t *prim)
{
    static const char *const lazy[] = {"flavor", "metadata", "system_metadata"};
    const char *missing[ARRAY_SIZE(lazy) + 1] = {NULL};
    size_t n = 0;
    json_t *data = ovo_data(prim);
    for (size_t k = 0; k < ARRAY_SIZE(lazy); k++)
        if (!json_object_get(data, lazy[k]))
            missing[n++] = lazy[k];
    const char *uuid = ovo_get_str(prim, "uuid");
    if (n == 0 || !data || !uuid)
        return;
    autoerr struct err *e = NULL;
    json_auto_t *now = os_compute_instance_now(c, ctx, uuid, missing, NULL, &e);
    if (!now) {
        log_err(LOG_LEVEL_WARN, e, "notification payload without the instance's %s", missing[0]);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        json_t *v = ovo_get(now, missing[k]);
        if (v)
            json_object_set(data, missing[k], v);
    }
    log_debug("notification payload: %zu field(s) lazy-loaded, the first `%s`", n, missing[0]);
}

void os_compute_notify_prim(struct os_compute *c, const json_t *ctx, json_t *prim,
                            const char *suffix, json_t *extra, const char *fault_cls,
                            const struct err *fault)
{
    if (!os_notifier_enabled(c->notifier) || !prim) {
        json_decref(extra);
        return;
    }
    notify_load_missing(c, ctx, prim);
    autofree char *url = os_glance_image_url(c->glance, ovo_get_str(prim, "image_ref"));
    /* network_info's fixed IPs have their place among the instance's */
    json_t *fixed_ips = json_incref(json_object_get(extra, "fixed_ips"));
    if (fixed_ips)
        json_object_del(extra, "fixed_ips");
    json_t *payload = os_notify_instance_info(prim, url, fixed_ips);
    if (extra)
        json_object_update(payload, extra);
    json_decref(extra);
    if (fault)
        os_notify_add_fault(payload, fault_cls, fault);
    size_t n = strlen(suffix);
    bool error = n >= 5 && strcmp(suffix + n - 5, "error") == 0;
    autofree char *event = xasprintf("compute.instance.%s", suffix);
    os_notify(c->notifier, ctx, event, error ? "ERROR" : "INFO", payload);
}

json_t *os_compute_notify_fixed_ips(const struct os_inst *i)
{
    /* a NetworkModel field: JSON text in the primitive */
    json_t *nw = ovo_get(ovo_get(i->prim, "info_cache"), "network_info");
    json_auto_t *parsed = json_is_string(nw) ? json_loads(json_string_value(nw), 0, NULL) : NULL;
    return os_notify_fixed_ips(parsed ? parsed : nw);
}

json_t *os_compute_notify_nw(const struct os_inst *i)
{
    return json_pack("{s:o}", "fixed_ips", os_compute_notify_fixed_ips(i));
}

void os_compute_notify(struct os_compute *c, const struct os_inst *i, const char *suffix,
                       json_t *extra)
{
    os_compute_notify_prim(c, i->ctx, i->prim, suffix, extra, NULL, NULL);
}

void os_compute_notify_error(struct os_compute *c, const struct os_inst *i, const char *suffix,
                             const char *fault_cls, const struct err *fault)
{
    os_compute_notify_prim(c, i->ctx, i->prim, suffix, NULL, fault_cls, fault);
}

void os_compute_notify_exists_prim(struct os_compute *c, const json_t *ctx, json_t *prim,
                                   const json_t *sysmeta, const char *image_ref,
                                   const char *begin, const char *end)
{
    if (!os_notifier_enabled(c->notifier))
        return;
    if (!sysmeta)
        sysmeta = ovo_get(prim, "system_metadata");
    json_t *image_meta = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)sysmeta, key, v) {
        if (strncmp(key, "image_", 6) == 0)
            json_object_set(image_meta, key + 6, v);
    }
    json_t *extra = json_pack("{s:s, s:s, s:o}", "audit_period_beginning", begin,
                              "audit_period_ending", end, "image_meta", image_meta);
    if (image_ref) {
        autofree char *url = os_glance_image_url(c->glance, image_ref);
        json_object_set_new(extra, "image_ref_url", json_string(url));
    }
    os_compute_notify_prim(c, ctx, prim, "exists", extra, NULL, NULL);
}

void os_compute_notify_exists(struct os_compute *c, const struct os_inst *i,
                              const json_t *sysmeta, const char *image_ref)
{
    if (!os_notifier_enabled(c->notifier))
        return;
    /* audit_period_bounds(current_period=True): from the end of the last
     * completed audit period to now, as str() of naive UTC datetimes */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char unit[8];
    int offset;
    if (cfg_audit_period(c->cfg, unit, &offset) < 0) { /* refused at start */
        snprintf(unit, sizeof(unit), "month");
        offset = 1;
    }
    int64_t last_begin, last_end;
    os_audit_period_last(unit, offset, tv.tv_sec, &last_begin, &last_end);
    char begin[40], end[40];
    os_audit_time_str(last_end, begin, sizeof(begin));
    os_notify_timestamp((int64_t)tv.tv_sec * 1000000 + tv.tv_usec, end, sizeof(end));
    os_compute_notify_exists_prim(c, i->ctx, i->prim, sysmeta, image_ref, begin, end);
}
