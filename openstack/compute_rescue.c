/* rescue_instance / unrescue_instance on this host (compute_rescue.h
 * says how, step by step). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_rebuild.h"
#include "openstack/compute_rescue.h"
#include "openstack/config_drive.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_rescue");

#define RESCUE_EVENT "compute_rescue_instance"
#define UNRESCUE_EVENT "compute_unrescue_instance"
#define RESCUE_PASSWORD_LEN 12 /* Nova's [DEFAULT] password_length */

static const char *const T_RESCUING[] = {"rescuing", NULL};
static const char *const T_UNRESCUING[] = {"unrescuing", NULL};

/* Requests are acked once handled: one a crash interrupted comes again
 * after the restart, whose recovery settled it.  Nova's record says so:
 * the task is no longer `task`.  When Nova cannot be asked, it goes on
 * (its saves are guarded). */
static bool rescue_settled(struct os_compute *c, const char *uuid, const json_t *ctx,
                           const char *task)
{
    autoerr struct err *e = NULL;
    json_auto_t *prim = os_compute_instance_now(c, ctx, uuid, NULL, NULL, &e);
    if (!prim)
        return false;
    const char *now = ovo_get_str(prim, "task_state");
    if (now && strcmp(now, task) == 0)
        return false;
    log_warn("%s of %s came again (redelivered after a restart) but its task is `%s`: "
             "nothing to do",
             task, uuid, now ? now : "None");
    return true;
}

/* _error_out_instance_on_exception: vm_state ERROR, the fault recorded,
 * the task cleared. */
static int rescue_fail_error(struct os_compute *c, struct os_inst *i, const char *event,
                             struct err **err)
{
    log_err(LOG_LEVEL_ERROR, *err, "%s failed: instance in ERROR", event);
    os_inst_set_str(i, "vm_state", "error");
    os_inst_set_int(i, "power_state", os_compute_power_now(c, os_inst_uuid(i)));
    os_compute_fail_op(c, i, event, *err);
    os_compute_record_state(c, i);
    return -1;
}

/* The config drive of the rescue (NULL when the instance needs none):
 * Nova's, with the rescue password as its admin_pass. */
static int rescue_config_drive(struct os_compute *c, struct os_inst *i, const char *password,
                               struct drv_hv_config_drive **out, struct err **err)
{
    if (os_compute_config_drive(c, i->prim, NULL, NULL, password, out, err) < 0)
        return err_wrap(err, "config drive");
    return 0;
}

/* A legacy rescue boots its image as a disk: an ISO is for a stable
 * rescue (hw_rescue_device cdrom, most often). */
static int rescue_image_check(const char *image_ref, const json_t *meta, struct err **err)
{
    const char *fmt = json_string_value(json_object_get(meta, "disk_format"));
    if (!os_rescue_is_stable(meta) && fmt && strcmp(fmt, "iso") == 0)
        return err_set(err, ERR_UNSUPPORTED,
                       "image %s has disk_format `iso` (qcow2, raw or ami; an ISO needs "
                       "hw_rescue_device, a stable device rescue)",
                       image_ref);
    return 0;
}

int os_compute_rescue_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    const json_t *args = req->msg->args;
    (void)result;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    if (rescue_settled(c, uuid, req->msg->ctx, "rescuing"))
        return 0;
    os_inst_event_start(i, RESCUE_EVENT);
    json_t *sm = ovo_get(i->prim, "system_metadata");
    const char *image_ref = os_rescue_image_ref(
        json_string_value(json_object_get(args, "rescue_image_ref")),
        json_string_value(json_object_get(sm, "image_base_image_ref")), i->inst->image_ref);
    const char *given = json_string_value(json_object_get(args, "rescue_password"));
    char generated[RESCUE_PASSWORD_LEN + 1];
    if (!given || !*given) {
        if (os_rescue_password(generated, RESCUE_PASSWORD_LEN, err) < 0) {
            os_compute_fail_op(c, i, RESCUE_EVENT, *err);
            return -1;
        }
        given = generated;
    }
    bool clean = !json_is_false(json_object_get(args, "clean_shutdown"));
    log_info("rescuing from image %s (%s shutdown)", image_ref ? image_ref : "?",
             clean ? "clean" : "hard");

    /* The image first (_get_rescue_image, before Nova's try): a failure
     * leaves the instance as it was, its task reverted. */
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    autoptr(drv_hv_config_drive) cdrive = NULL;
    int rc = -1;
    json_auto_t *image = json_pack("{s:s?}", "id", image_ref);
    json_auto_t *meta = NULL;
    if (!image_ref) {
        err_set(err, ERR_NOT_FOUND,
                "Image could not be found: the instance has no image to rescue with");
        os_fault_image(&req->fault, "", *err);
        os_compute_fail_op(c, i, RESCUE_EVENT, *err);
        goto out;
    }
    if (os_compute_fetch_images(c, i, image, req->msg->ctx, &spec, true, &meta, err) < 0 ||
        rescue_image_check(image_ref, meta, err) < 0) {
        os_fault_image(&req->fault, image_ref, *err);
        if (err_code_of(*err) == ERR_NOT_FOUND) {
            autofree char *why = xstrdup((*err)->msg);
            err_clear(err);
            err_set(err, ERR_NOT_FOUND, "Image %s could not be found. (%s)", image_ref, why);
        }
        log_err(LOG_LEVEL_WARN, *err, "rescue refused, instance left as it was");
        os_compute_fail_op(c, i, RESCUE_EVENT, *err);
        goto out;
    }

    /* Zed's _get_image_name of the rescue image */
    const char *rescue_name = json_string_value(json_object_get(meta, "name"));
    os_compute_notify(c, i, "rescue.start",
                      json_pack("{s:s, s:o}", "rescue_image_name", rescue_name ? rescue_name : "",
                                "fixed_ips", os_compute_notify_fixed_ips(i)));

    /* From here on Nova's try: a failure is InstanceNotRescuable, ERROR. */
    int timeout = clean ? os_compute_shutdown_timeout(c, i) : 0;
    struct drv_hv_rescue_dev dev = {DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT};
    if (rescue_config_drive(c, i, given, &cdrive, err) == 0 &&
        os_rescue_dev_of(meta, &dev, err) == 0) {
        rc = drv_hv_rescue(c->hv, uuid, &spec.image, &dev, cdrive, timeout, err);
        if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
            rc = drv_hv_rescue(c->hv, uuid, &spec.image, &dev, cdrive, timeout, err);
    }
    if (rc < 0) {
        autofree char *why = xasprintf("Driver Error: %s", (*err)->msg);
        os_fault_nova(&req->fault, "InstanceNotRescuable", 400);
        req->fault.kwargs = json_pack("{s:s, s:s}", "instance_id", uuid, "reason", why);
        enum err_code code = err_code_of(*err);
        err_clear(err);
        err_set(err, code,
                "Instance %s cannot be rescued: %s", uuid, why);
        rescue_fail_error(c, i, RESCUE_EVENT, err);
        goto out;
    }
    os_compute_engine_booting(c, uuid);
    os_compute_test_pause("rescue", uuid);
    os_compute_notify_exists(c, i, NULL, NULL);

    bool deleting = false;
    os_inst_set_str(i, "vm_state", "rescued");
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    os_inst_set_now(i, "launched_at");
    if (os_inst_save(i, T_RESCUING, &deleting, err) < 0) {
        /* deleted meanwhile: the delete does the rest */
        os_inst_event_finish(i, RESCUE_EVENT, *err);
        goto out;
    }
    os_compute_record_state(c, i);
    os_compute_track_inst(c, i);
    os_inst_event_finish(i, RESCUE_EVENT, NULL);
    os_compute_notify(c, i, "rescue.end",
                      json_pack("{s:s, s:o}", "rescue_image_name", rescue_name ? rescue_name : "",
                                "fixed_ips", os_compute_notify_fixed_ips(i)));
    if (dev.device == DRV_HV_RESCUE_LEGACY)
        log_info("rescued from image %s", image_ref);
    else
        log_info("rescued from image %s, a %s on %s after its own disks (stable device rescue)",
                 image_ref, drv_hv_rescue_device_name(dev.device), drv_hv_bus_name(dev.bus));
out:
    drv_hv_guest_spec_release(&spec);
    return rc;
}

int os_compute_unrescue_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    (void)result;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    if (rescue_settled(c, uuid, req->msg->ctx, "unrescuing"))
        return 0;
    os_inst_event_start(i, UNRESCUE_EVENT);
    os_compute_notify(c, i, "unrescue.start", os_compute_notify_nw(i));
    log_info("unrescuing");
    int rc = drv_hv_unrescue(c->hv, uuid, err);
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
        rc = drv_hv_unrescue(c->hv, uuid, err);
    if (rc < 0)
        return rescue_fail_error(c, i, UNRESCUE_EVENT, err);
    os_compute_engine_booting(c, uuid);
    os_compute_test_pause("unrescue", uuid);
    bool deleting = false;
    os_inst_set_str(i, "vm_state", "active");
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    if (os_inst_save(i, T_UNRESCUING, &deleting, err) < 0) {
        os_inst_event_finish(i, UNRESCUE_EVENT, *err);
        return -1;
    }
    os_compute_record_state(c, i);
    os_compute_track_inst(c, i);
    os_inst_event_finish(i, UNRESCUE_EVENT, NULL);
    os_compute_notify(c, i, "unrescue.end", os_compute_notify_nw(i));
    log_info("unrescued");
    return 0;
}

int os_compute_rescue_recover(struct os_compute *c, struct os_inst *i, const struct drv_hv_info *g)
{
    const char *task = os_inst_task_state(i);
    if (!os_rescue_task(task))
        return 0;
    const char *uuid = os_inst_uuid(i);
    autofree char *was = xstrdup(task);
    enum os_rescue_recovery r =
        os_rescue_recover_decide(task, os_inst_vm_state(i), g != NULL, g && g->rescued);
    autoerr struct err *e = NULL;
    int rc = 0;
    const char *vm = "active";
    switch (r) {
    case OS_RESCUE_RECOVER_RESCUED:
        /* what rescue_instance saves after drv_hv_rescue */
        rc = g->state == DRV_POWER_RUNNING ? 0 : os_compute_power_on_booting(c, uuid, &e);
        vm = "rescued";
        os_inst_set_now(i, "launched_at");
        break;
    case OS_RESCUE_RECOVER_ACTIVE:
        /* the rescue files go too (an unrescue removes them whatever it
         * finds) */
        rc = drv_hv_unrescue(c->hv, uuid, &e);
        if (rc == 0 && (g->rescued || g->state != DRV_POWER_RUNNING))
            os_compute_engine_booting(c, uuid);
        break;
    case OS_RESCUE_RECOVER_STOPPED:
        /* its own definition, off: the rescue's files (if made) are
         * replaced by the next rescue, removed with the instance */
        vm = "stopped";
        break;
    case OS_RESCUE_RECOVER_ERROR:
        err_set(&e, ERR_INTERNAL, "%s interrupted by a restart of sculpt-compute, no guest",
                was);
        rc = -1;
        break;
    }
    if (rc < 0) {
        os_inst_fault(i, e);
        vm = "error";
    }
    os_inst_set_str(i, "vm_state", vm);
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", g ? os_compute_power_now(c, uuid) : DRV_POWER_NOSTATE);
    autoerr struct err *se = NULL;
    if (os_inst_save(i, NULL, NULL, &se) < 0) {
        log_err(LOG_LEVEL_WARN, se, "interrupted %s of %s not saved", was, uuid);
        return 1;
    }
    os_compute_record_state(c, i);
    os_compute_track_inst(c, i);
    log_info("recovered %s: %s interrupted, now %s", uuid, was, vm);
    return 1;
}
