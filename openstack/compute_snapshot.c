/* snapshot_instance: `openstack server image create`, as nova's
 * ComputeManager.snapshot_instance and _snapshot_instance with the libvirt
 * driver's snapshot (nova/compute/manager.py, nova/virt/libvirt/driver.py);
 * backup_instance: `openstack server backup create`, the same snapshot from
 * the task state image_backup, then the instance's backups of that type
 * beyond the rotation deleted, oldest first (_rotate_backups).
 *
 * nova-api has created the image in Glance (queued, with image_type,
 * instance_uuid, base_image_ref... as properties) and set the task state
 * image_snapshot_pending.  Here: image_snapshot, the backend copies the
 * guest's disk into a file (image_pending_upload), the file goes to Glance
 * with the properties the driver sets (image_uploading), task state None.
 *
 * A live copy quiesces the guest as Zed's _live_snapshot does
 * (compute_quiesce.c): with hw_qemu_guest_agent its filesystems are
 * frozen once the copy is in sync and thawed once it is stopped; a freeze
 * the agent cannot make is skipped ("Skipping quiescing instance"),
 * unless the image has os_require_quiesce, which fails the snapshot
 * (QemuGuestAgentNotEnabled before the copy without the agent,
 * InternalError when the agent fails).  Zed 26 skips the latter too:
 * sculpt keeps the property's word, as nova-api does for volume-backed
 * snapshots.
 *
 * Failures as nova's decorators handle them: the instance or the image
 * gone meanwhile ends the operation quietly (an image not yet active is
 * deleted); any other failure deletes the image (@delete_image_on_error),
 * records a fault, reverts the task state (the vm_state never changed)
 * and fails the action event and the call.
 */
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/glance.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_snapshot");

/* What differs between a snapshot and a backup. */
struct snap_kind {
    const char *event;
    const char *first_task;   /* the task state the API set */
    const char *taking_task;  /* the task while the backend copies the disk */
};

static const struct snap_kind snap_snapshot = {"compute_snapshot_instance",
                                               "image_snapshot_pending", "image_snapshot"};
/* Zed's _do_snapshot_instance: no step of its own before the copy */
static const struct snap_kind snap_backup = {"compute_backup_instance", "image_backup",
                                             "image_backup"};

json_t *os_snapshot_image_meta(const json_t *inst, const char *disk_format)
{
    /* _create_snapshot_metadata: the image's formats and the properties
     * nova's libvirt driver sets (what nova-api set stays) */
    json_t *sm = ovo_get(inst, "system_metadata");
    const char *container = json_string_value(json_object_get(sm, "image_container_format"));
    const char *src_disk = json_string_value(json_object_get(sm, "image_disk_format"));
    json_t *m = json_pack("{s:s, s:s, s:s, s:s}", "disk_format",
                          src_disk && strcmp(src_disk, "ami") == 0 ? "ami" : disk_format,
                          "container_format", container && *container ? container : "bare",
                          "image_location", "snapshot", "image_state", "available");
    const char *project = ovo_get_str(inst, "project_id");
    if (project && *project)
        json_object_set_new(m, "owner_id", json_string(project));
    static const char *const optional[] = {"kernel_id", "ramdisk_id", "os_type"};
    for (size_t k = 0; k < ARRAY_SIZE(optional); k++) {
        const char *v = ovo_get_str(inst, optional[k]);
        if (v && *v)
            json_object_set_new(m, optional[k], json_string(v));
    }
    return m;
}

/* Save; *gone when the instance was deleted or is being deleted
 * (InstanceNotFound, UnexpectedDeletingTaskStateError). */
static int snap_save(struct os_inst *i, const char *const *expected, bool *gone,
                     struct err **err)
{
    bool deleting = false;
    if (os_inst_save(i, expected, &deleting, err) == 0)
        return 0;
    *gone = deleting || err_code_of(*err) == ERR_NOT_FOUND;
    return -1;
}

/* The guarded task state step update_task_state() takes in nova. */
static int snap_step(struct os_inst *i, const char *to, const char *from, bool *gone,
                     struct err **err)
{
    const char *const expected[] = {from, NULL};
    os_inst_set_str(i, "task_state", to);
    return snap_save(i, expected, gone, err);
}

/* The instance went away (or is being deleted) during the snapshot:
 * nova drops an image that is not active yet and ends without a fault. */
static void snap_vanished(struct os_compute *c, struct os_inst *i, const char *image_id,
                          const char *token)
{
    log_info("snapshot of %s: the instance disappeared during the snapshot", os_inst_uuid(i));
    autoerr struct err *e = NULL;
    json_auto_t *image = os_glance_image_get(c->glance, image_id, token, &e);
    const char *status = json_string_value(json_object_get(image, "status"));
    if (image && (!status || strcmp(status, "active") != 0) &&
        os_glance_image_delete(c->glance, image_id, token, &e) < 0 &&
        err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "image %s not cleaned up", image_id);
}

const char *os_compute_req_image_id(struct os_compute *c, struct os_rpc_req *req,
                                    struct os_inst *i, const char *event, struct err **err)
{
    /* the id goes into Glance's URLs: nothing that would change the path */
    const char *image_id = json_string_value(json_object_get(req->msg->args, "image_id"));
    if (image_id && *image_id && strlen(image_id) <= 64 &&
        strcspn(image_id, "/?#%") == strlen(image_id) && c->glance)
        return image_id;
    if (!c->glance)
        err_set(err, ERR_UNAVAILABLE, "no image service configured ([glance])");
    else
        err_set(err, ERR_INVALID, "%s needs an `image_id`", req->msg->method);
    os_inst_event_start(i, event);
    os_compute_fail_op(c, i, event, *err);
    return NULL;
}

/* Delete the instance's backups of `type` beyond the newest `rotation`
 * (Zed's _rotate_backups): a backup that cannot be deleted is logged and
 * the next one tried; -1 with *err only when the list cannot be read. */
static int snap_rotate(struct os_compute *c, struct os_inst *i, const char *token,
                       const char *type, int64_t rotation, struct err **err)
{
    json_auto_t *filters = json_pack("{s:s, s:s, s:s}", "image_type", "backup", "backup_type",
                                     type, "instance_uuid", os_inst_uuid(i));
    json_auto_t *images =
        os_glance_image_list(c->glance, token, filters, "created_at", "desc", err);
    if (!images)
        return err_wrap(err, "backups of %s not listed for their rotation", os_inst_uuid(i));
    size_t n = json_array_size(images);
    log_info("%zu `%s` backup(s), rotation %lld", n, type, (long long)rotation);
    for (size_t k = n; k > (size_t)rotation; k--) {
        const char *id = json_string_value(json_object_get(json_array_get(images, k - 1), "id"));
        autoerr struct err *e = NULL;
        if (!id)
            continue;
        if (os_glance_image_delete(c->glance, id, token, &e) < 0 &&
            err_code_of(e) != ERR_NOT_FOUND)
            log_err(LOG_LEVEL_WARN, e, "backup %s not rotated out: the next one goes on", id);
        else
            log_info("backup %s rotated out", id);
    }
    return 0;
}

static int snap_run(const struct snap_kind *k, struct os_rpc_req *req, struct err **err)
{
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *image_id = os_compute_req_image_id(c, req, i, k->event, err);
    if (!image_id)
        return -1;
    const char *backup_type = json_string_value(json_object_get(req->msg->args, "backup_type"));
    json_t *rotation = json_object_get(req->msg->args, "rotation");
    if (k == &snap_backup && (!backup_type || !*backup_type || strlen(backup_type) > 255 ||
                              !json_is_integer(rotation) || json_integer_value(rotation) < 0)) {
        /* what nova-api's schema lets through: a type and a rotation >= 0 */
        err_set(err, ERR_INVALID, "backup_instance needs a `backup_type` and a `rotation` >= 0");
        os_inst_event_start(i, k->event);
        os_compute_fail_op(c, i, k->event, *err);
        return -1;
    }
    const char *token = os_ctx_str(req->msg->ctx, "auth_token");
    const char *uuid = os_inst_uuid(i);
    /* declared before the first goto: a jump must not skip a cleanup */
    json_auto_t *image = NULL;
    json_auto_t *meta = NULL;
    json_auto_t *updated = NULL;
    struct drv_hv_snapshot snap __attribute__((cleanup(drv_hv_snapshot_release))) = {0};
    bool gone = false;
    const char *const uploading[] = {"image_uploading", NULL};
    os_inst_event_start(i, k->event);

    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    if (snap_step(i, k->taking_task, k->first_task, &gone, err) < 0) {
        if (gone) {
            /* no point going on: the delete cleans up */
            log_info("snapshot of %s: the instance is being deleted", uuid);
            err_clear(err);
            os_inst_event_finish(i, k->event, NULL);
            return 0;
        }
        goto failed;
    }
    /* a backup is a snapshot to Zed's notifications too */
    os_compute_notify(c, i, "snapshot.start", NULL);
    image = os_glance_image_get(c->glance, image_id, token, err);
    if (!image)
        goto image_failed;
    log_info("instance %s snapshotting to image %s (%s)", uuid, image_id,
             json_string_value(json_object_get(image, "name")));

    /* the copy of a running (or paused) guest is live unless the
     * workaround asks for it cold: only a live one quiesces */
    enum drv_power_state power = os_compute_power_now(c, uuid);
    bool live = (power == DRV_POWER_RUNNING || power == DRV_POWER_PAUSED) &&
                !c->cfg->disable_libvirt_livesnapshot;
    enum drv_hv_quiesce quiesce = DRV_HV_QUIESCE_NONE;
    if (os_compute_snapshot_quiesce(c, i, live, &quiesce, err) < 0)
        goto failed;
    if (drv_hv_snapshot(c->hv, uuid, quiesce, &snap, err) < 0) {
        if (snap.quiesce_failed)
            os_compute_quiesce_error(c, i, NULL, err);
        goto failed;
    }
    if (snap_step(i, "image_pending_upload", k->taking_task, &gone, err) < 0 ||
        snap_step(i, "image_uploading", "image_pending_upload", &gone, err) < 0)
        goto failed;
    /* nova's image API update: the metadata, then the data */
    meta = os_snapshot_image_meta(i->prim, snap.format);
    updated = os_glance_image_update(c->glance, image_id, token, meta, err);
    if (!updated || os_glance_image_upload(c->glance, image_id, token, snap.path, err) < 0)
        goto image_failed;
    int64_t bytes = snap.bytes;
    drv_hv_snapshot_release(&snap);

    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    os_inst_set_str(i, "task_state", NULL);
    if (snap_save(i, uploading, &gone, err) < 0)
        goto failed;
    os_compute_record_state(c, i);
    os_compute_notify(c, i, "snapshot.end", NULL);
    log_info("instance %s: %s image %s uploaded (%lld bytes)", uuid,
             k == &snap_backup ? "backup" : "snapshot", image_id, (long long)bytes);
    if (k == &snap_backup &&
        snap_rotate(c, i, token, backup_type, json_integer_value(rotation), err) < 0) {
        /* the backup stands; the failure is the instance's fault */
        log_err(LOG_LEVEL_WARN, *err, "backup rotation failed");
        os_inst_fault(i, *err);
        os_inst_event_finish(i, k->event, *err);
        return -1;
    }
    os_inst_event_finish(i, k->event, NULL);
    return 0;

image_failed:
    if (err_code_of(*err) == ERR_NOT_FOUND) {
        /* the image was deleted meanwhile: nova stops, the instance as it was */
        log_warn("snapshot of %s: image %s not found", uuid, image_id);
        err_clear(err);
        os_inst_set_str(i, "task_state", NULL);
        if (os_inst_save(i, NULL, NULL, err) < 0) {
            os_inst_event_finish(i, k->event, *err);
            return -1;
        }
        os_inst_event_finish(i, k->event, NULL);
        return 0;
    }
failed:
    if (gone) {
        snap_vanished(c, i, image_id, token);
        err_clear(err);
        os_inst_event_finish(i, k->event, NULL);
        return 0;
    }
    {
        /* @delete_image_on_error */
        autoerr struct err *de = NULL;
        if (os_glance_image_delete(c->glance, image_id, token, &de) < 0 &&
            err_code_of(de) != ERR_NOT_FOUND)
            log_err(LOG_LEVEL_WARN, de, "image %s of the failed snapshot not deleted", image_id);
    }
    log_err(LOG_LEVEL_ERROR, *err, "snapshot of %s failed", uuid);
    os_compute_fail_op(c, i, k->event, *err);
    return -1;
}

int os_compute_snapshot_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    return snap_run(&snap_snapshot, req, err);
}

int os_compute_backup_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    return snap_run(&snap_backup, req, err);
}
