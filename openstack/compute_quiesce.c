/* Quiescing a guest (its filesystems frozen through its QEMU guest
 * agent), as Zed's libvirt driver and manager do it:
 *
 *   _can_quiesce      the hypervisor can (else InstanceQuiesceNotSupported)
 *                     and the image has hw_qemu_guest_agent (else
 *                     QemuGuestAgentNotEnabled)
 *   _requires_quiesce the image's os_require_quiesce (a boolean as Nova's
 *                     FlexibleBooleanField reads it)
 *   _set_quiesced     a failure of the freeze or thaw: InternalError
 *                     "Error from libvirt while quiescing NAME: [Error
 *                     Code N] message"
 *
 * quiesce_instance (a call) and unquiesce_instance (a cast) are what
 * nova-api uses around the volume snapshots of a volume-backed server's
 * snapshot: no fault, no action event, their failures go back to the
 * caller (expected_exceptions).  A live snapshot quiesces itself
 * (compute_snapshot.c, the backend's copy).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_quiesce");

bool os_compute_requires_quiesce(const json_t *inst)
{
    json_t *sm = ovo_get(inst, "system_metadata");
    return os_image_prop_true(json_string_value(json_object_get(sm, "image_os_require_quiesce")));
}

int os_compute_can_quiesce(const struct os_compute *c, const json_t *inst, struct os_fault *fault,
                           struct err **err)
{
    const char *uuid = ovo_get_str(inst, "uuid");
    if (!drv_hv_can_quiesce(c->hv)) {
        if (fault) {
            os_fault_nova(fault, "InstanceQuiesceNotSupported", 400);
            fault->kwargs = json_pack("{s:s}", "instance_id", uuid ? uuid : "");
        }
        return err_set(err, ERR_INVALID, "Quiescing is not supported in instance %s",
                       uuid ? uuid : "");
    }
    if (!os_compute_wants_agent(inst, NULL)) {
        if (fault)
            os_fault_nova(fault, "QemuGuestAgentNotEnabled", 400);
        return err_set(err, ERR_INVALID, "QEMU guest agent is not enabled");
    }
    return 0;
}

void os_compute_quiesce_error(const struct os_compute *c, const struct os_inst *i,
                              struct os_fault *fault, struct err **err)
{
    autofree char *name = os_compute_domain_name(i);
    autoerr struct err *cause = steal_pointer(err);
    err_set(err, ERR_INTERNAL, "Error from %s while quiescing %s: %s", c->hv->ops->name, name,
            cause && cause->msg ? cause->msg : "unknown failure");
    if (fault)
        os_fault_nova(fault, "InternalError", 500);
}

int os_compute_snapshot_quiesce(const struct os_compute *c, const struct os_inst *i, bool live,
                                enum drv_hv_quiesce *mode, struct err **err)
{
    *mode = DRV_HV_QUIESCE_NONE;
    if (!live)
        return 0; /* a guest saved or off for its copy writes nothing meanwhile */
    bool required = os_compute_requires_quiesce(i->prim);
    autoerr struct err *e = NULL;
    if (os_compute_can_quiesce(c, i->prim, NULL, &e) < 0) {
        if (required) {
            log_err(LOG_LEVEL_ERROR, e, "Quiescing instance failed but image property "
                    "\"os_require_quiesce\" is set");
            *err = steal_pointer(&e);
            return -1;
        }
        log_info("Quiescing instance not available: %s.", e->msg);
        return 0;
    }
    *mode = required ? DRV_HV_QUIESCE_REQUIRE : DRV_HV_QUIESCE_TRY;
    return 0;
}

/* The image properties _can_quiesce reads are in the instance's
 * system_metadata, which nova-api's Instance may come without: Zed's
 * ImageMeta.from_instance lazy-loads it; so does this (loaded into the
 * primitive's data, not changed, so no save writes it). */
static void quiesce_load_sysmeta(struct os_compute *c, struct os_inst *i)
{
    json_t *data = ovo_data(i->prim);
    if (!data || json_object_get(data, "system_metadata"))
        return;
    const char *const attrs[] = {"system_metadata", NULL};
    autoerr struct err *e = NULL;
    json_auto_t *now = os_compute_instance_now(c, i->ctx, os_inst_uuid(i), attrs, NULL, &e);
    json_t *sm = now ? ovo_get(now, "system_metadata") : NULL;
    if (sm)
        json_object_set(data, "system_metadata", sm);
    else
        log_err(LOG_LEVEL_WARN, e, "system_metadata of %s not loaded", os_inst_uuid(i));
}

/* quiesce_instance / unquiesce_instance: Zed's driver.quiesce and
 * unquiesce, the answer to the call (a cast's goes to the log). */
static int quiesce_set(struct os_rpc_req *req, bool freeze, struct err **err)
{
    struct os_compute *c = req->opaque;
    json_t *prim = json_object_get(req->msg->args, "instance");
    const char *uuid = ovo_get_str(prim, "uuid");
    if (!ovo_is(prim, "Instance") || !uuid)
        return err_set(err, ERR_INVALID, "%s needs an `instance`", req->msg->method);
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    quiesce_load_sysmeta(c, i);
    if (os_compute_can_quiesce(c, i->prim, &req->fault, err) < 0)
        return -1;
    int n = 0;
    if ((freeze ? drv_hv_fs_freeze : drv_hv_fs_thaw)(c->hv, uuid, &n, err) < 0) {
        if (err_code_of(*err) == ERR_NOT_FOUND) {
            /* get_guest's InstanceNotFound */
            os_fault_nova(&req->fault, "InstanceNotFound", 404);
            req->fault.kwargs = json_pack("{s:s}", "instance_id", uuid);
            err_clear(err);
            return err_set(err, ERR_NOT_FOUND, "Instance %s could not be found.", uuid);
        }
        os_compute_quiesce_error(c, i, &req->fault, err);
        log_err(LOG_LEVEL_WARN, *err, "%s failed", req->msg->method);
        return -1;
    }
    log_info("instance %s %s: %d filesystem(s)", uuid, freeze ? "quiesced" : "unquiesced", n);
    return 0;
}

int os_compute_quiesce_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    return quiesce_set(req, true, err);
}

int os_compute_unquiesce_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    /* Zed waits for the volume snapshots `mapping` names before the thaw;
     * sculpt serves no volumes (attach_volume is refused), so a server it
     * hosts has none to wait for */
    json_t *mapping = json_object_get(req->msg->args, "mapping");
    if (json_array_size(mapping) > 0)
        log_warn("unquiesce_instance: %zu block device mapping(s) not waited for (no volume "
                 "service here)", json_array_size(mapping));
    return quiesce_set(req, false, err);
}
