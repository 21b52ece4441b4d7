/* The compute RPC API as sculpt serves it: one table of {namespace,
 * method, version, handler} (Redis's command table).  Zed's ComputeAPI
 * sends 6.0 (6.1 for rebuild_instance); the baseapi namespace answers
 * ping.  A method not listed gets oslo's NoSuchMethod; a listed method
 * sculpt does not implement fails the way Nova expects a failed operation
 * to (compute_unsupported.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/console_tail.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_rebuild.h"
#include "openstack/compute_shelve.h"
#include "openstack/compute_rescue.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_rpc");

/* ---- baseapi ---- */

static int rpc_ping(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)err;
    json_t *arg = json_object_get(req->msg->args, "arg");
    *result = json_pack("{s:s, s:O}", "service", "compute", "arg", arg ? arg : json_null());
    return 0;
}

static int rpc_get_backdoor_port(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)req;
    (void)result; /* None: no eventlet backdoor here */
    (void)err;
    return 0;
}

/* ---- host ---- */

/* What `uptime` prints, which is what nova-compute returns (the API shows
 * it in os-hypervisors/{id}/uptime). */
static int rpc_get_host_uptime(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)req;
    double up = 0, l1 = 0, l5 = 0, l15 = 0;
    FILE *f = fopen("/proc/uptime", "r");
    if (!f || fscanf(f, "%lf", &up) != 1) {
        if (f)
            fclose(f);
        return err_set(err, ERR_INTERNAL, "cannot read /proc/uptime");
    }
    fclose(f);
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) != 3)
            l1 = l5 = l15 = 0;
        fclose(f);
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    long mins = (long)up / 60;
    long days = mins / 1440, hours = (mins % 1440) / 60, m = mins % 60;
    char upbuf[64];
    if (days > 0)
        snprintf(upbuf, sizeof(upbuf), "%ld day%s, %2ld:%02ld", days, days == 1 ? "" : "s",
                 hours, m);
    else if (hours > 0)
        snprintf(upbuf, sizeof(upbuf), "%2ld:%02ld", hours, m);
    else
        snprintf(upbuf, sizeof(upbuf), "%ld min", m);
    *result = json_sprintf(" %02d:%02d:%02d up %s,  0 users,  load average: %.2f, %.2f, %.2f",
                           tm.tm_hour, tm.tm_min, tm.tm_sec, upbuf, l1, l5, l15);
    return 0;
}

static int rpc_set_host_enabled(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    json_t *enabled = json_object_get(req->msg->args, "enabled");
    if (!json_is_boolean(enabled))
        return err_set(err, ERR_INVALID, "set_host_enabled needs a boolean `enabled`");
    pthread_mutex_lock(&c->lock);
    c->disabled = !json_is_true(enabled);
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
    /* The trait COMPUTE_STATUS_DISABLED follows now, as nova-compute does
     * it inside this call. */
    os_compute_report_resources(c, true);
    log_info("host %s", json_is_true(enabled) ? "enabled" : "disabled");
    *result = json_string(json_is_true(enabled) ? "enabled" : "disabled");
    return 0;
}

/* Neutron and Cinder events: sculpt's guests have no ports or volumes
 * managed by Nova, so there is nothing to wait for; acknowledge them. */
static int rpc_external_instance_event(struct os_rpc_req *req, json_t **result,
                                       struct err **err)
{
    (void)result;
    json_t *events = json_object_get(req->msg->args, "events");
    if (!json_is_array(events))
        return err_set(err, ERR_INVALID, "external_instance_event needs an `events` list");
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        log_info("external event `%s` (%s) for %s", ovo_get_str(ev, "name"),
                 ovo_get_str(ev, "status"), ovo_get_str(ev, "instance_uuid"));
    }
    return 0;
}

static int rpc_check_instance_shared_storage(struct os_rpc_req *req, json_t **result,
                                             struct err **err)
{
    (void)req;
    (void)err;
    *result = json_false(); /* guests' disks are local to this host */
    return 0;
}

/* ---- consoles ---- */

static int rpc_get_console_output(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    autoptr(drv_instance) inst = os_instance_decode(json_object_get(req->msg->args, "instance"),
                                                    err);
    if (!inst)
        return -1;
    json_t *tail = json_object_get(req->msg->args, "tail_length");
    if (tail && !json_is_null(tail) && (!json_is_integer(tail) || json_integer_value(tail) < 0))
        return err_set(err, ERR_INVALID, "tail_length must be a non-negative integer");
    autofree char *out = drv_hv_console_output(c->hv, inst->uuid, DRV_HV_CONSOLE_MAX, err);
    if (!out) {
        if (err_code_of(*err) == ERR_NOT_FOUND)
            os_fault_instance_not_found(&req->fault, inst->uuid);
        return -1;
    }
    /* nova's _tail_log */
    const char *start =
        json_is_integer(tail) ? os_console_tail(out, (long)json_integer_value(tail)) : out;
    *result = json_string(start);
    if (!*result) /* not UTF-8: a console may hold anything */
        *result = json_stringn_nocheck(start, strlen(start));
    return 0;
}

static int rpc_console_unavailable(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    const char *type = json_string_value(json_object_get(req->msg->args, "console_type"));
    return os_console_type_unavailable(req, type ? type : "", err);
}

#define COMPUTE(name, fn, flags) {NULL, name, 6, 1, fn, flags}
#define SERIAL OS_RPC_SERIALIZE
#define READ OS_RPC_READ

const struct os_rpc_method os_compute_rpc_table[] = {
    {"baseapi", "ping", 1, 1, rpc_ping, OS_RPC_READ},
    {"baseapi", "get_backdoor_port", 1, 1, rpc_get_backdoor_port, OS_RPC_READ},

    COMPUTE("build_and_run_instance", os_compute_build, SERIAL),
    COMPUTE("terminate_instance", os_compute_terminate, SERIAL),
    COMPUTE("stop_instance", os_compute_stop_instance, SERIAL),
    COMPUTE("start_instance", os_compute_start_instance, SERIAL),
    COMPUTE("reboot_instance", os_compute_reboot_instance, SERIAL),
    COMPUTE("pause_instance", os_compute_pause_instance, SERIAL),
    COMPUTE("unpause_instance", os_compute_unpause_instance, SERIAL),
    COMPUTE("suspend_instance", os_compute_suspend_instance, SERIAL),
    COMPUTE("resume_instance", os_compute_resume_instance, SERIAL),
    COMPUTE("soft_delete_instance", os_compute_soft_delete_instance, SERIAL),
    COMPUTE("get_console_output", rpc_get_console_output, READ),
    COMPUTE("get_host_uptime", rpc_get_host_uptime, READ),
    COMPUTE("set_host_enabled", rpc_set_host_enabled, 0),
    COMPUTE("external_instance_event", rpc_external_instance_event, 0),
    COMPUTE("check_instance_shared_storage", rpc_check_instance_shared_storage, READ),
    COMPUTE("get_vnc_console", os_compute_get_vnc_console, READ),
    COMPUTE("get_spice_console", rpc_console_unavailable, READ),
    COMPUTE("get_serial_console", os_compute_get_serial_console, READ),
    COMPUTE("get_rdp_console", rpc_console_unavailable, READ),
    COMPUTE("get_mks_console", rpc_console_unavailable, READ),
    COMPUTE("validate_console_port", os_compute_validate_console_port, READ),
    COMPUTE("prep_resize", os_compute_prep_resize, SERIAL),
    COMPUTE("confirm_resize", os_compute_confirm_resize, SERIAL),
    COMPUTE("revert_resize", os_compute_revert_resize, SERIAL),
    COMPUTE("resize_instance", os_compute_resize_instance, SERIAL),
    COMPUTE("finish_resize", os_compute_finish_resize, SERIAL),
    COMPUTE("finish_revert_resize", os_compute_finish_revert_resize, SERIAL),
    COMPUTE("snapshot_instance", os_compute_snapshot_instance, SERIAL),
    COMPUTE("shelve_instance", os_compute_shelve_instance, SERIAL),
    COMPUTE("shelve_offload_instance", os_compute_shelve_offload_instance, SERIAL),
    COMPUTE("unshelve_instance", os_compute_unshelve_instance, SERIAL),
    COMPUTE("check_can_live_migrate_destination", os_compute_live_check_dest, 0),
    COMPUTE("check_can_live_migrate_source", os_compute_live_check_source, READ),
    COMPUTE("pre_live_migration", os_compute_pre_live_migration, SERIAL),
    COMPUTE("live_migration", os_compute_live_migration, SERIAL),
    COMPUTE("post_live_migration_at_destination", os_compute_post_live_at_dest, SERIAL),
    COMPUTE("rollback_live_migration_at_destination", os_compute_rollback_live_at_dest, SERIAL),
    COMPUTE("rebuild_instance", os_compute_rebuild_instance, SERIAL),
    COMPUTE("inject_network_info", os_compute_inject_network_info, READ),
    COMPUTE("backup_instance", os_compute_backup_instance, SERIAL),
    COMPUTE("set_admin_password", os_compute_set_admin_password, SERIAL),
    COMPUTE("rescue_instance", os_compute_rescue_instance, SERIAL),
    COMPUTE("unrescue_instance", os_compute_unrescue_instance, SERIAL),
    COMPUTE("restore_instance", os_compute_restore_instance, SERIAL),
    COMPUTE("trigger_crash_dump", os_compute_trigger_crash_dump, SERIAL),
    COMPUTE("live_migration_abort", os_compute_live_migration_abort, 0),
    COMPUTE("live_migration_force_complete", os_compute_live_migration_force_complete, 0),
    COMPUTE("get_diagnostics", os_compute_get_diagnostics, READ),
    COMPUTE("get_instance_diagnostics", os_compute_get_instance_diagnostics, READ),
    COMPUTE("cache_images", os_compute_cache_images, 0),
    /* nova-api's volume-backed snapshots: not serialised with the
     * instance's operations (Zed takes no lock either) */
    COMPUTE("quiesce_instance", os_compute_quiesce_instance, 0),
    COMPUTE("unquiesce_instance", os_compute_unquiesce_instance, 0),

    /* Operations Nova may send that sculpt does not implement (volumes,
     * interfaces, host power): each fails with NotImplementedError
     * and leaves the instance as it was (fault recorded, task state
     * reverted, action event failed, migration errored) instead of stuck. */
    COMPUTE("attach_interface", os_compute_unsupported, SERIAL),
    COMPUTE("detach_interface", os_compute_unsupported, SERIAL),
    COMPUTE("attach_volume", os_compute_unsupported, SERIAL),
    COMPUTE("detach_volume", os_compute_unsupported, SERIAL),
    COMPUTE("swap_volume", os_compute_unsupported, SERIAL),
    COMPUTE("reserve_block_device_name", os_compute_unsupported, SERIAL),
    COMPUTE("remove_volume_connection", os_compute_unsupported, SERIAL),
    COMPUTE("host_power_action", os_compute_unsupported, 0),
    COMPUTE("host_maintenance_mode", os_compute_unsupported, 0),
    COMPUTE("add_fixed_ip_to_instance", os_compute_unsupported, SERIAL),
    COMPUTE("remove_fixed_ip_from_instance", os_compute_unsupported, SERIAL),
    COMPUTE("volume_snapshot_create", os_compute_unsupported, SERIAL),
    COMPUTE("volume_snapshot_delete", os_compute_unsupported, SERIAL),
};

const size_t os_compute_rpc_table_len = ARRAY_SIZE(os_compute_rpc_table);
