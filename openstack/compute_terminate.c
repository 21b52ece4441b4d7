/* terminate_instance (also of a soft-deleted server, when the API's
 * force-delete or the reclaim of compute_reclaim.c asks it): the guest
 * destroyed with its disks, the instance saved as deleted and
 * destroyed in Nova's database, its Placement allocations released, the
 * schedulers told (nova/compute/manager.py _delete_instance). */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/messaging.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.compute_terminate");

/* The schedulers' view of what runs where ([filter_scheduler]
 * track_instance_changes). */
void os_compute_tell_schedulers_gone(struct os_compute *c, const json_t *ctx, const char *uuid)
{
    static const struct os_rpc_target t = {.topic = "scheduler", .version = "4.2",
                                           .fanout = true};
    json_auto_t *args = json_pack("{s:s, s:s}", "host_name", c->host, "instance_uuid", uuid);
    autoerr struct err *e = NULL;
    if (os_rpc_cast(c->msg->client, &t, "delete_instance_info", args, ctx, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "schedulers not told of the delete");
}

/* Destroy the guest, the engine's hold on it and its allocations; the
 * parts that are already gone are fine.  Returns -1 only when the guest
 * could not be destroyed. */
int os_compute_release_guest(struct os_compute *c, const char *uuid, struct err **err)
{
    autoerr struct err *e = NULL;
    int rc = drv_hv_destroy(c->hv, uuid, false, &e);
    if (rc < 0 && os_compute_hv_retry(c, rc, &e) < 0)
        rc = drv_hv_destroy(c->hv, uuid, false, &e);
    if (rc < 0) {
        if (err_code_of(e) != ERR_NOT_FOUND) {
            *err = steal_pointer(&e);
            return -1;
        }
        log_info("no guest to destroy");
    }
    os_compute_engine_forget(c, uuid);
    os_compute_untrack(c, uuid);
    if (c->placement && os_placement_delete_allocations(c->placement, uuid, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "Placement allocations not released");
    return 0;
}

int os_compute_terminate(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *event = "compute_terminate_instance";
    os_inst_event_start(i, event);
    os_compute_notify(c, i, "delete.start", NULL);
    os_compute_notify(c, i, "shutdown.start", NULL);
    int64_t intent = os_compute_intent_begin(c, DB_OP_DESTROY, i, NULL);
    if (os_compute_release_guest(c, os_inst_uuid(i), err) < 0) {
        /* Nova leaves an instance it could not delete in ERROR. */
        os_compute_intent_finish(c, intent, false, *err);
        os_inst_set_str(i, "vm_state", "error");
        os_compute_fail_op(c, i, event, *err);
        os_compute_record_state(c, i);
        return -1;
    }
    os_compute_notify(c, i, "shutdown.end", NULL);
    os_inst_set_str(i, "vm_state", "deleted");
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", DRV_POWER_NOSTATE);
    os_inst_set_now(i, "terminated_at");
    autoerr struct err *e = NULL;
    if (os_inst_save(i, NULL, NULL, &e) < 0 || os_inst_destroy(i, &e) < 0) {
        /* The guest is gone; Nova's record is the API's to clean up. */
        log_err(LOG_LEVEL_WARN, e, "instance destroyed here, not in Nova's database");
    } else {
        /* what Instance.destroy() leaves on the object delete.end tells of */
        os_inst_set_now(i, "deleted_at");
        ovo_set(i->prim, "deleted", json_true());
        os_compute_notify(c, i, "delete.end", NULL);
    }
    os_compute_record_deleted(c, os_inst_uuid(i));
    os_compute_intent_finish(c, intent, true, NULL);
    os_compute_console_tokens_clean(c, req->msg->ctx, os_inst_uuid(i));
    os_compute_tell_schedulers_gone(c, req->msg->ctx, os_inst_uuid(i));
    os_inst_event_finish(i, event, NULL);
    log_info("instance deleted");
    return 0;
}
