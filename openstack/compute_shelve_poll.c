/* [DEFAULT] shelved_offload_time > 0: shelved servers are offloaded once
 * shelved that long, as nova-compute's _poll_shelved_instances does --
 * the SHELVED instances on this host with no task, those whose
 * shelved_at is older than the time set to shelving_offloading, then
 * shelve_offload_instance.  Cast to this host's own topic rather than
 * called here, so it goes through the RPC dispatch one at a time with the
 * instance's other requests (and a restart finds the task to finish). */
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_shelve.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_shelve_poll");

void os_compute_shelve_poll(struct os_compute *c)
{
    long long after = c->cfg->shelved_offload_time;
    if (after <= 0)
        return;
    json_auto_t *ctx = os_ctx_new_admin();
    autoerr struct err *e = NULL;
    json_auto_t *list = os_conductor_class_action(
        &c->conductor, ctx, "InstanceList", "get_by_filters", NULL,
        json_pack("{s:{s:s, s:n, s:s}, s:[s]}", "filters", "vm_state", "shelved", "task_state",
                  "host", c->host, "expected_attrs", "system_metadata"),
        NULL, &e);
    if (!list) {
        log_err(LOG_LEVEL_WARN, e, "shelved instances not read: next pass");
        return;
    }
    int64_t now = time(NULL);
    size_t k;
    json_t *prim;
    json_array_foreach(ovo_list_objects(list), k, prim)
    {
        const char *uuid = ovo_get_str(prim, "uuid");
        json_t *sm = ovo_get(prim, "system_metadata");
        const char *at = json_string_value(json_object_get(sm, "shelved_at"));
        int64_t at_s = 0;
        if (!uuid || !at || ovo_datetime_parse(at, &at_s) < 0 ||
            !os_shelve_offload_due(after, at_s, now))
            continue;
        log_ctx_set_instance(uuid);
        log_info("shelved for more than %lld s: offloading", after);
        autoerr struct err *e2 = NULL;
        if (os_compute_cast_self(c, ctx, prim, "shelving_offloading", "shelve_offload_instance",
                                 json_pack("{s:b, s:[]}", "clean_shutdown", 0, "accel_uuids"),
                                 &e2) < 0)
            log_err(LOG_LEVEL_WARN, e2, "offload of %s not started: next pass", uuid);
        log_ctx_set_instance(NULL);
    }
}
