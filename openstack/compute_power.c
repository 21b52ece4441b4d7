/* Power operations: stop, start, reboot, pause, unpause, suspend, resume,
 * and the soft delete and restore of a server (nova-api soft-deletes when
 * its reclaim_instance_interval is set: the guest is switched off and
 * kept, with its disk and resources, until restored or reclaimed --
 * compute_reclaim.c).  The API sets the task state (powering-off...)
 * before casting; the compute acts on the guest and saves the final state
 * guarded by that task state, inside an instance action event
 * (nova/compute/manager.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_shelve.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_power");

struct power_op {
    const char *method;
    const char *expected[4];   /* task states for the final save */
    const char *vm_state;      /* final vm_state */
    const char *notify;        /* compute.instance.NOTIFY.start / .end, as Zed names it */
    int (*act)(struct os_compute *c, struct os_inst *i, const json_t *args, struct err **err);
};

static int act_stop(struct os_compute *c, struct os_inst *i, const json_t *args,
                    struct err **err)
{
    json_t *clean = json_object_get(args, "clean_shutdown");
    int timeout = json_is_false(clean) ? 0 : os_compute_shutdown_timeout(c, i);
    return drv_hv_power_off(c->hv, os_inst_uuid(i), timeout, err);
}

static int act_start(struct os_compute *c, struct os_inst *i, const json_t *args,
                    struct err **err)
{
    (void)args;
    return os_compute_power_on_booting(c, os_inst_uuid(i), err);
}

static int act_pause(struct os_compute *c, struct os_inst *i, const json_t *args,
                    struct err **err)
{
    (void)args;
    return drv_hv_pause(c->hv, os_inst_uuid(i), err);
}

static int act_unpause(struct os_compute *c, struct os_inst *i, const json_t *args,
                    struct err **err)
{
    (void)args;
    return drv_hv_unpause(c->hv, os_inst_uuid(i), err);
}

static int act_suspend(struct os_compute *c, struct os_inst *i, const json_t *args,
                    struct err **err)
{
    (void)args;
    return drv_hv_suspend(c->hv, os_inst_uuid(i), err);
}

static int act_resume(struct os_compute *c, struct os_inst *i, const json_t *args,
                    struct err **err)
{
    (void)args;
    return drv_hv_resume(c->hv, os_inst_uuid(i), err);
}

/* Zed's soft_delete_instance: the libvirt driver has no soft_delete, so
 * the guest is powered off as power_off() does by default, at once (no
 * clean shutdown).  A guest already off, or saved by a suspend, stays as
 * it is: restore starts it from there. */
static int act_soft_delete(struct os_compute *c, struct os_inst *i, const json_t *args,
                           struct err **err)
{
    (void)args;
    struct drv_hv_info info;
    autoerr struct err *e = NULL;
    if (drv_hv_get_info(c->hv, os_inst_uuid(i), &info, &e) == 0 &&
        (info.state == DRV_POWER_SHUTDOWN || info.state == DRV_POWER_SUSPENDED))
        return 0;
    return drv_hv_power_off(c->hv, os_inst_uuid(i), 0, err);
}

static const struct power_op op_stop = {"stop_instance", {"powering-off"}, "stopped", "power_off", act_stop};
static const struct power_op op_start = {"start_instance", {"powering-on"}, "active", "power_on", act_start};
static const struct power_op op_pause = {"pause_instance", {"pausing"}, "paused", "pause", act_pause};
static const struct power_op op_unpause = {"unpause_instance", {"unpausing"}, "active", "unpause",
                                           act_unpause};
static const struct power_op op_suspend = {"suspend_instance", {"suspending"}, "suspended", "suspend",
                                           act_suspend};
static const struct power_op op_resume = {"resume_instance", {"resuming"}, "active", "resume", act_resume};
/* vm_states.SOFT_DELETED is "soft-delete" */
static const struct power_op op_soft_delete = {"soft_delete_instance", {"soft-deleting"},
                                               "soft-delete", "soft_delete", act_soft_delete};
static const struct power_op op_restore = {"restore_instance", {"restoring"}, "active", "restore",
                                           act_start};

/* The guest's power state now, as Nova numbers it. */
static enum drv_power_state power_now(struct os_compute *c, const char *uuid)
{
    struct drv_hv_info info;
    autoerr struct err *e = NULL;
    if (drv_hv_get_info(c->hv, uuid, &info, &e) < 0)
        return DRV_POWER_NOSTATE;
    return info.state;
}

static int power_run(const struct power_op *op, struct os_rpc_req *req, struct err **err)
{
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    char event[64];
    snprintf(event, sizeof(event), "compute_%s", op->method);
    os_inst_event_start(i, event);
    char notify[48];
    snprintf(notify, sizeof(notify), "%s.start", op->notify);
    os_compute_notify(c, i, notify, NULL);

    /* a handed-over guest that stopped on its own takes the instance's
     * domain name before it starts again */
    if (op == &op_start || op == &op_restore)
        os_compute_domain_settle(c, i);
    int rc = op->act(c, i, req->msg->args, err);
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
        rc = op->act(c, i, req->msg->args, err);
    if (rc < 0) {
        if (err_code_of(*err) == ERR_NOT_FOUND)
            os_fault_instance_not_found(&req->fault, os_inst_uuid(i));
        os_compute_fail_op(c, i, event, *err);
        return -1;
    }
    if (op == &op_suspend) {
        /* resume puts the guest back in the state it had */
        json_t *sm = ovo_get(i->prim, "system_metadata");
        json_t *nsm = json_is_object(sm) ? json_deep_copy(sm) : json_object();
        json_object_set_new(nsm, "old_vm_state", json_string(os_inst_vm_state(i) ? os_inst_vm_state(i)
                                                                                   : "active"));
        ovo_set(i->prim, "system_metadata", nsm);
    }
    if (op == &op_stop || op == &op_soft_delete)
        os_compute_domain_settle(c, i);
    if (op == &op_start)
        os_compute_shelved_started(c, i);
    os_inst_set_int(i, "power_state", power_now(c, os_inst_uuid(i)));
    os_inst_set_str(i, "vm_state", op->vm_state);
    os_inst_set_str(i, "task_state", NULL);
    const char *expected[5] = {NULL};
    for (int k = 0; k < 4 && op->expected[k]; k++)
        expected[k] = op->expected[k];
    bool deleting = false;
    if (os_inst_save(i, expected, &deleting, err) < 0) {
        /* The instance moved on (a delete came): the guest's state is what
         * the next operation starts from. */
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    os_compute_track_inst(c, i);
    os_compute_record_state(c, i);
    os_inst_event_finish(i, event, NULL);
    snprintf(notify, sizeof(notify), "%s.end", op->notify);
    os_compute_notify(c, i, notify, NULL);
    log_info("%s: instance %s", op->method, op->vm_state);
    return 0;
}

/* The handlers of the table above, one per operation. */
#define POWER_HANDLER(name)                                                                    \
    int os_compute_##name##_instance(struct os_rpc_req *req, json_t **result, struct err **err) \
    {                                                                                          \
        (void)result;                                                                          \
        return power_run(&op_##name, req, err);                                                \
    }
POWER_HANDLER(stop)
POWER_HANDLER(start)
POWER_HANDLER(pause)
POWER_HANDLER(unpause)
POWER_HANDLER(suspend)
POWER_HANDLER(resume)
POWER_HANDLER(soft_delete)
POWER_HANDLER(restore)

/* trigger_crash_dump (`openstack server dump create`): an NMI to the
 * guest, as Zed's libvirt driver sends it.  No task or power state changes
 * (what the guest does with it is its own set-up: a crash kernel dumps and
 * reboots, others log it); a refusal is recorded as a fault on the
 * instance, as wrap_instance_fault does, with no task to revert. */
int os_compute_trigger_crash_dump(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *event = "compute_trigger_crash_dump";
    os_inst_event_start(i, event);
    os_compute_notify(c, i, "trigger_crash_dump.start", NULL);
    if (drv_hv_inject_nmi(c->hv, os_inst_uuid(i), err) < 0) {
        enum err_code code = err_code_of(*err);
        if (code == ERR_NOT_FOUND)
            os_fault_instance_not_found(&req->fault, os_inst_uuid(i));
        else if (code == ERR_CONFLICT) {
            os_fault_nova(&req->fault, "InstanceNotRunning", 409);
            req->fault.kwargs = json_pack("{s:s}", "instance_id", os_inst_uuid(i));
        } else if (code == ERR_UNSUPPORTED)
            os_fault_nova(&req->fault, "TriggerCrashDumpNotSupported", 400);
        os_inst_fault(i, *err);
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    os_inst_event_finish(i, event, NULL);
    os_compute_notify(c, i, "trigger_crash_dump.end", NULL);
    log_info("trigger_crash_dump: NMI sent to the guest");
    return 0;
}

/* SOFT: rebooting -> reboot_pending -> reboot_started -> done; HARD the
 * same with the _hard states (nova's reboot_instance). */
int os_compute_reboot_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *type = json_string_value(json_object_get(req->msg->args, "reboot_type"));
    if (type && strcmp(type, "SOFT") != 0 && strcmp(type, "HARD") != 0)
        return err_set(err, ERR_INVALID, "reboot_type `%s` is neither SOFT nor HARD", type);
    bool hard = type && strcmp(type, "HARD") == 0;
    const char *event = "compute_reboot_instance";
    os_inst_event_start(i, event);

    const char *const soft_expected[] = {"rebooting", "reboot_pending", "reboot_started", NULL};
    const char *const hard_expected[] = {"rebooting_hard", "reboot_pending_hard",
                                         "reboot_started_hard", NULL};
    const char *const pending[] = {hard ? "reboot_pending_hard" : "reboot_pending", NULL};
    bool deleting = false;
    os_inst_set_str(i, "task_state", pending[0]);
    os_inst_set_int(i, "power_state", power_now(c, os_inst_uuid(i)));
    if (os_inst_save(i, hard ? hard_expected : soft_expected, &deleting, err) < 0) {
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    /* after the pending state is saved, as Zed's _reboot_instance */
    os_compute_notify(c, i, "reboot.start", NULL);
    os_inst_set_str(i, "task_state", hard ? "reboot_started_hard" : "reboot_started");
    if (os_inst_save(i, pending, &deleting, err) < 0) {
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    /* As nova's libvirt driver: a soft reboot is a clean shutdown and a
     * start, falling back to switching the guest off when it does not
     * shut down in time (a guest that ignores ACPI still reboots); a hard
     * reboot starts a fresh QEMU.  A stopped guest is simply started.
     * Off, a handed-over member takes the instance's domain name. */
    int rc;
    if (power_now(c, os_inst_uuid(i)) == DRV_POWER_SHUTDOWN) {
        os_compute_domain_settle(c, i);
        rc = drv_hv_power_on(c->hv, os_inst_uuid(i), err);
    } else if (hard) {
        rc = drv_hv_reboot(c->hv, os_inst_uuid(i), true, err);
    } else if ((rc = drv_hv_power_off(c->hv, os_inst_uuid(i), os_compute_shutdown_timeout(c, i),
                                      err)) == 0) {
        os_compute_domain_settle(c, i);
        rc = drv_hv_power_on(c->hv, os_inst_uuid(i), err);
    }
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0) {
        /* the hypervisor came back: the same again, from where the guest is */
        if (power_now(c, os_inst_uuid(i)) == DRV_POWER_SHUTDOWN)
            rc = drv_hv_power_on(c->hv, os_inst_uuid(i), err);
        else
            rc = drv_hv_reboot(c->hv, os_inst_uuid(i), true, err);
    }
    if (rc < 0) {
        if (err_code_of(*err) == ERR_NOT_FOUND)
            os_fault_instance_not_found(&req->fault, os_inst_uuid(i));
        /* Zed tells of the failure only for a guest left running */
        if (power_now(c, os_inst_uuid(i)) == DRV_POWER_RUNNING)
            os_compute_notify_error(c, i, "reboot.error", req->fault.cls, *err);
        os_inst_set_str(i, "vm_state", "error");
        os_compute_fail_op(c, i, event, *err);
        return -1;
    }
    os_compute_engine_booting(c, os_inst_uuid(i));
    os_inst_set_str(i, "vm_state", "active");
    os_inst_set_int(i, "power_state", power_now(c, os_inst_uuid(i)));
    os_inst_set_str(i, "task_state", NULL);
    if (os_inst_save(i, NULL, NULL, err) < 0) {
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    os_compute_track_inst(c, i);
    os_compute_record_state(c, i);
    os_inst_event_finish(i, event, NULL);
    os_compute_notify(c, i, "reboot.end", NULL);
    return 0;
}
