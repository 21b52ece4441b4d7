/* [DEFAULT] reclaim_instance_interval > 0: soft-deleted servers on this
 * host are deleted for good once deleted that long, as nova-compute's
 * _reclaim_queued_deletes does -- the SOFT_DELETED instances here with no
 * task whose deleted_at is older than the interval (or unset).  Each is set
 * to `deleting` (guarded by no task, so a restore that came first wins)
 * and its terminate_instance cast to this host's own topic: it goes
 * through the RPC dispatch with the instance's other requests, and a
 * restart finds the task to finish. */
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/compute_priv.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_reclaim");

bool os_reclaim_due(int64_t interval_s, bool has_deleted_at, int64_t deleted_at_s, int64_t now_s)
{
    /* Zed's _deleted_old_enough: no deleted_at is old enough */
    return interval_s > 0 && (!has_deleted_at || now_s - deleted_at_s > interval_s);
}

void os_compute_reclaim_poll(struct os_compute *c)
{
    long long interval = c->cfg->reclaim_instance_interval;
    if (interval <= 0)
        return;
    json_auto_t *ctx = os_ctx_new_admin();
    autoerr struct err *e = NULL;
    json_auto_t *list = os_conductor_class_action(
        &c->conductor, ctx, "InstanceList", "get_by_filters", NULL,
        json_pack("{s:{s:s, s:n, s:s}, s:[]}", "filters", "vm_state", "soft-delete",
                  "task_state", "host", c->host, "expected_attrs"),
        NULL, &e);
    if (!list) {
        log_err(LOG_LEVEL_WARN, e, "soft-deleted instances not read: next pass");
        return;
    }
    int64_t now = time(NULL);
    size_t k;
    json_t *prim;
    json_array_foreach(ovo_list_objects(list), k, prim) {
        const char *uuid = ovo_get_str(prim, "uuid");
        const char *at = ovo_get_str(prim, "deleted_at");
        int64_t at_s = 0;
        bool has_at = at && ovo_datetime_parse(at, &at_s) == 0;
        if (!uuid || !os_reclaim_due(interval, has_at, at_s, now))
            continue;
        log_ctx_set_instance(uuid);
        log_info("soft-deleted for more than %lld s: reclaiming", interval);
        autoerr struct err *e2 = NULL;
        json_t *bdms = ovo_new("BlockDeviceMappingList");
        ovo_set(bdms, "objects", json_array());
        if (os_compute_cast_self(c, ctx, prim, "deleting", "terminate_instance",
                                 json_pack("{s:o}", "bdms", bdms), &e2) < 0)
            log_err(LOG_LEVEL_WARN, e2, "reclaim of %s not started: next pass", uuid);
        log_ctx_set_instance(NULL);
    }
}
