/* set_admin_password (`openstack server set --root-password`, the
 * changePassword action): the password of the guest's admin user set
 * through its QEMU guest agent, as Zed's libvirt driver and manager do
 * it.  nova-api set task_state updating_password and waits for this
 * call's reply, which it turns into HTTP:
 *
 *   guest not running             InstancePasswordSetFailed   409
 *   image without the agent       QemuGuestAgentNotEnabled    409
 *   agent not answering           NotImplementedError         501
 *   anything else (the agent      InstancePasswordSetFailed   409
 *     refused, libvirt failed)      ("error setting admin password")
 *
 * Set, the password is kept encrypted with the instance's ssh-rsa key in
 * its system_metadata (Zed's _save_instance_password_if_sshkey_present),
 * for os-server-password and `nova get-password`.
 *
 * The task state is cleared on every path (guarded by updating_password,
 * as Zed saves it), the action event finishes with the outcome and a
 * failure is recorded as a fault.  The password itself is never logged
 * nor put in a message: only the user it was set for. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/ssh_encrypt.h"

LOG_INIT("openstack.compute_password");

#define PASSWORD_EVENT "compute_set_admin_password"
#define PASSWORD_TASK "updating_password"

bool os_image_prop_true(const char *v)
{
    /* oslo_utils.strutils.bool_from_string, as Nova's FlexibleBooleanField */
    static const char *const yes[] = {"1", "t", "true", "on", "y", "yes"};
    if (!v)
        return false;
    for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++)
        if (strcasecmp(v, yes[k]) == 0)
            return true;
    return false;
}

/* An image property of the instance as Nova keeps it (system_metadata
 * image_<name>, where instance.image_meta comes from), or NULL. */
static const char *inst_image_prop(const json_t *inst, const char *name)
{
    char key[96];
    snprintf(key, sizeof(key), "image_%s", name);
    return json_string_value(json_object_get(ovo_get(inst, "system_metadata"), key));
}

bool os_compute_wants_agent(const json_t *inst, const json_t *image)
{
    /* a build's or rebuild's image dict says it for the image it boots;
     * the instance's own record for the others (a migration's destination) */
    json_t *props = json_object_get(image, "properties");
    if (json_is_object(props)) {
        json_t *v = json_object_get(props, "hw_qemu_guest_agent");
        if (json_is_boolean(v))
            return json_is_true(v);
        return os_image_prop_true(json_string_value(v));
    }
    return os_image_prop_true(inst_image_prop(inst, "hw_qemu_guest_agent"));
}

const char *os_compute_admin_user(const json_t *inst)
{
    const char *user = inst_image_prop(inst, "os_admin_user");
    if (user && *user)
        return user;
    const char *os_type = ovo_get_str(inst, "os_type");
    return os_type && strcmp(os_type, "windows") == 0 ? "Administrator" : "root";
}

/* The end of every path: task state cleared (guarded by updating_password,
 * so a delete that came meanwhile wins), the fault and the event.  A
 * failed guard is what goes back then, as Zed lets UnexpectedTaskStateError
 * through. */
static int password_done(struct os_inst *i, struct err **err)
{
    bool failed = *err != NULL;
    if (failed)
        os_inst_fault(i, *err);
    const char *const expected[] = {PASSWORD_TASK, NULL};
    os_inst_set_str(i, "task_state", NULL);
    autoerr struct err *save = NULL;
    if (os_inst_save(i, expected, NULL, &save) < 0) {
        log_err(LOG_LEVEL_WARN, save, "task state %s not cleared", PASSWORD_TASK);
        if (!failed) {
            os_inst_event_finish(i, PASSWORD_EVENT, save);
            *err = steal_pointer(&save);
            return -1;
        }
    }
    os_inst_event_finish(i, PASSWORD_EVENT, *err);
    return failed ? -1 : 0;
}

static void fault_set_failed(struct os_rpc_req *req, const char *uuid, const char *reason,
                             struct err **err)
{
    os_fault_nova(&req->fault, "InstancePasswordSetFailed", 409);
    req->fault.kwargs = json_pack("{s:s, s:s}", "instance", uuid, "reason", reason);
    err_set(err, ERR_CONFLICT, "Failed to set admin password on %s because %s", uuid, reason);
}

/* The password encrypted with the owner's ssh-rsa key into the instance's
 * system_metadata, saved with the task state; nothing without such a key. */
static int password_keep_encrypted(struct os_inst *i, const char *password, struct err **err)
{
    const char *key = ovo_get_str(i->prim, "key_data");
    if (!os_ssh_key_is_rsa(key))
        return 0;
    autofree char *enc = os_ssh_encrypt_b64(key, password, err);
    json_t *sm = enc ? os_password_sysmeta(ovo_get(i->prim, "system_metadata"), enc, err) : NULL;
    if (!sm)
        return -1;
    ovo_set(i->prim, "system_metadata", sm);
    return 0;
}

int os_compute_set_admin_password(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    const char *password = json_string_value(json_object_get(req->msg->args, "new_pass"));
    os_inst_event_start(i, PASSWORD_EVENT);

    if (os_compute_power_now(c, uuid) != DRV_POWER_RUNNING) {
        char reason[96];
        snprintf(reason, sizeof(reason), "instance %s is not running", uuid);
        fault_set_failed(req, uuid, reason, err);
        return password_done(i, err);
    }
    /* _can_set_admin_password: the image decides, not the domain */
    if (!os_compute_wants_agent(i->prim, NULL)) {
        os_fault_nova(&req->fault, "QemuGuestAgentNotEnabled", 400);
        err_set(err, ERR_INVALID, "QEMU guest agent is not enabled");
        log_debug("guest agent is not enabled for the instance");
        return password_done(i, err);
    }
    if (!password) {
        log_err(LOG_LEVEL_ERROR, NULL, "set_admin_password failed: no new_pass in the request");
        fault_set_failed(req, uuid, "error setting admin password", err);
        return password_done(i, err);
    }
    const char *user = os_compute_admin_user(i->prim);
    autoerr struct err *e = NULL;
    if (drv_hv_set_user_password(c->hv, uuid, user, password, &e) < 0) {
        if (err_code_of(e) == ERR_TIMEOUT) {
            /* VIR_ERR_AGENT_UNRESPONSIVE: Zed's NotImplementedError */
            log_err(LOG_LEVEL_WARN, e,
                    "set_admin_password is not implemented by this driver "
                    "or guest instance (the agent does not answer)");
            err_set(err, ERR_UNSUPPORTED,
                    "set_admin_password is not implemented by this driver "
                    "or guest instance.");
        } else {
            /* the real reason stays in the log; the caller gets a
             * generic one, as Zed words it */
            log_err(LOG_LEVEL_ERROR, e, "set_admin_password failed for user `%s`", user);
            fault_set_failed(req, uuid, "error setting admin password", err);
        }
        return password_done(i, err);
    }
    if (password_keep_encrypted(i, password, &e) < 0) {
        /* Zed raises from the driver: the generic failure, the reason logged */
        log_err(LOG_LEVEL_ERROR, e, "set_admin_password failed: the password not saved");
        fault_set_failed(req, uuid, "error setting admin password", err);
        return password_done(i, err);
    }
    log_info("Admin password set (user `%s`)", user);
    return password_done(i, err);
}
