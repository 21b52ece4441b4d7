/* rebuild_instance on this host: the guest made again from the
 * instance's new image (compute_rebuild.h says how, step by step). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "openstack/compute_group_policy.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_rebuild.h"
#include "openstack/config_drive.h"
#include "openstack/messaging.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.compute_rebuild");

#define REBUILD_EVENT "compute_rebuild_instance"

static const char *const T_REBUILDING[] = {"rebuilding", NULL};
static const char *const T_BDM[] = {"rebuild_block_device_mapping", NULL};
static const char *const T_SPAWNING[] = {"rebuild_spawning", NULL};

/* Requests are acked once handled: a rebuild a crash interrupted comes
 * again after the restart, whose recovery settled it already (ERROR, or
 * finished).  Nova's record says so: no rebuild task any more.  When
 * Nova cannot be asked, the rebuild goes on (its saves are guarded). */
static bool rebuild_settled(struct os_compute *c, const char *uuid, const json_t *ctx)
{
    autoerr struct err *e = NULL;
    json_auto_t *prim = os_compute_instance_now(c, ctx, uuid, NULL, NULL, &e);
    if (!prim)
        return false;
    const char *task = ovo_get_str(prim, "task_state");
    if (os_rebuild_task(task))
        return false;
    log_warn("rebuild of %s came again (redelivered after a restart) but its task is `%s`: "
             "nothing to do",
             uuid, task ? task : "None");
    return true;
}

void os_fault_image(struct os_fault *f, const char *image_id, const struct err *e)
{
    os_fault_release(f); /* no class: the table's, by e's code */
    switch (err_code_of(e)) {
    case ERR_NOT_FOUND:
        os_fault_nova(f, "ImageNotFound", 404);
        f->kwargs = json_pack("{s:s}", "image_id", image_id);
        break;
    case ERR_UNAVAILABLE:
    case ERR_TIMEOUT:
        os_fault_nova(f, "GlanceConnectionFailed", 500);
        f->kwargs = json_pack("{s:s, s:s}", "server", "glance", "reason", e ? e->msg : "");
        break;
    case ERR_UNSUPPORTED:
    case ERR_INVALID:
        os_fault_nova(f, "ImageUnacceptable", 400);
        f->kwargs = json_pack("{s:s, s:s}", "image_id", image_id, "reason", e ? e->msg : "");
        break;
    default:
        break;
    }
}

/* A failure before the guest was touched that Nova raises before its
 * _error_out_instance_on_exception (the image's metadata unreachable, the
 * claim refused): the instance keeps its vm_state, the task is reverted. */
static int rebuild_fail_keep(struct os_compute *c, struct os_inst *i, struct err **err)
{
    log_err(LOG_LEVEL_WARN, *err, "rebuild refused, instance left as it was");
    os_compute_notify_error(c, i, "rebuild.error", NULL, *err);
    os_compute_fail_op(c, i, REBUILD_EVENT, *err);
    return -1;
}

/* A failed rebuild: vm_state ERROR, as Nova's does.  The guest's state
 * as it is (gone when the old one was destroyed and the new one did not
 * spawn: the engine lets it go then). */
static int rebuild_fail_error(struct os_compute *c, struct os_inst *i, struct err **err)
{
    log_err(LOG_LEVEL_ERROR, *err, "rebuild failed: instance in ERROR");
    os_compute_notify_error(c, i, "rebuild.error", NULL, *err);
    enum drv_power_state st = os_compute_power_now(c, os_inst_uuid(i));
    if (st == DRV_POWER_NOSTATE)
        os_compute_engine_forget(c, os_inst_uuid(i));
    os_inst_set_str(i, "vm_state", "error");
    os_inst_set_int(i, "power_state", st);
    os_compute_fail_op(c, i, REBUILD_EVENT, *err);
    os_compute_record_state(c, i);
    os_compute_track_inst(c, i);
    return -1;
}

/* A step of the rebuild failed (`deleting`: because the instance is
 * being deleted, whose delete does the rest): ERROR otherwise. */
static int rebuild_fail_unless_deleting(struct os_compute *c, struct os_inst *i, bool deleting,
                                        struct err **err)
{
    if (!deleting)
        return rebuild_fail_error(c, i, err);
    os_inst_event_finish(i, REBUILD_EVENT, *err);
    return -1;
}

/* The schedulers' view of the instance (_update_scheduler_instance_info). */
static void rebuild_tell_schedulers(struct os_compute *c, const struct os_inst *i)
{
    static const struct os_rpc_target t = {.topic = "scheduler", .version = "4.2", .fanout = true};
    json_t *list = ovo_new("InstanceList");
    ovo_set(list, "objects", json_pack("[O]", i->prim));
    json_auto_t *args = json_pack("{s:s, s:o}", "host_name", c->host, "instance_info", list);
    autoerr struct err *e = NULL;
    if (os_rpc_cast(c->msg->client, &t, "update_instance_info", args, i->ctx, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "schedulers not told of the rebuild");
}

/* The event log's word on the blueprint a rebuild gives (source
 * "engine", action "blueprint.rebuild"): what an operator asks first when
 * a rebuilt guest's shape changed. */
static void rebuild_blueprint_event(struct os_compute *c, const struct os_inst *i,
                                    const char *message)
{
    if (!c->db)
        return;
    char source[] = "engine", action[] = "blueprint.rebuild";
    struct db_event ev = {.request_id = (char *)os_ctx_str(i->ctx, "request_id"),
                          .source = source,
                          .action = action,
                          .message = (char *)message};
    snprintf(ev.instance_uuid, sizeof(ev.instance_uuid), "%s", os_inst_uuid(i));
    autoerr struct err *e = NULL;
    if (db_event_add(c->db, &ev, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "event not recorded");
}

/* The shape the rebuilt guest spawns in.  A new image: admitted again as
 * a new workload of its class (its reservation given back first, the
 * guest held as before when refused).  The same image: the shape in
 * force.  Not held (an instance in ERROR whose guest went, or one
 * evacuated here): admitted as a build is. */
static int rebuild_shape(struct os_compute *c, struct os_inst *i, bool evacuate,
                         const char *orig_image, struct drv_shape *shape, struct err **err)
{
    struct drv_instance *inst = i->inst;
    struct drv_shape cur;
    autoerr struct err *e = NULL;
    if (drv_sculpt_shape(c->engine, inst->uuid, &cur, &e) < 0) {
        log_info("not held by the engine (%s): admitted anew", e ? e->msg : "?");
        if (os_compute_engine_place(c, i, shape, err) < 0)
            return -1;
        rebuild_blueprint_event(c, i, evacuate ? "evacuated here: admitted as a build, a "
                                                 "cold-start blueprint for its class"
                                               : "not held: admitted anew, as a build");
        return 0;
    }
    if (!os_rebuild_new_blueprint(orig_image, inst->image_ref)) {
        *shape = cur;
        log_info("same image: the guest keeps its blueprint and what its predictor learnt");
        rebuild_blueprint_event(c, i, "same image: blueprint and predictor kept");
        return 0;
    }
    autoptr(drv_instance) was = drv_instance_dup(inst);
    autoptr(drv_instance) now = drv_instance_dup(inst);
    was->vcpus_defined = now->vcpus_defined = cur.vcpus_max;
    was->mem_defined_mib = now->mem_defined_mib = cur.mem_max_mib;
    free(was->image_ref);
    was->image_ref = orig_image ? xstrdup(orig_image) : NULL;
    autofree char *custom = NULL;
    if (os_compute_engine_reclass(c, was, now, "rebuild", shape, &custom, err) < 0)
        return err_wrap(err, "image %s not admitted", inst->image_ref ? inst->image_ref : "?");
    char res[160];
    drv_res_format(shape->res, res, sizeof(res));
    autofree char *bp = custom ? xasprintf("custom blueprint `%s`", custom)
                               : xstrdup("cold-start blueprint");
    log_info("new image %s: %s for its class, %s", inst->image_ref, bp, res);
    autofree char *msg = xasprintf("image %s -> %s: %s for the new image, %s",
                                   orig_image ? orig_image : "?", inst->image_ref, bp, res);
    rebuild_blueprint_event(c, i, msg);
    return 0;
}

/* The config drive of the rebuilt guest (NULL when it needs none): the
 * new password, files and metadata; needed as Nova's required_by says of
 * the instance with its new image (its image_* system_metadata, which the
 * API replaced: a new image with img_config_drive=mandatory gives one). */
static int rebuild_config_drive(struct os_compute *c, struct os_inst *i, const json_t *args,
                                struct drv_hv_config_drive **out, struct err **err)
{
    json_auto_t *image = os_config_drive_image_of(i->prim);
    return os_compute_instance_config_drive(c, i, image, json_object_get(args, "injected_files"),
                                            json_string_value(json_object_get(args, "new_pass")),
                                            out, err);
}

/* The old guest gone (cleanly powered off first), its disks with it. */
static int rebuild_destroy(struct os_compute *c, struct os_inst *i, struct err **err)
{
    const char *uuid = os_inst_uuid(i);
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(c->hv, uuid, dom);
    autoerr struct err *e = NULL;
    if (drv_hv_power_off(c->hv, uuid, os_compute_shutdown_timeout(c, i), &e) < 0 &&
        err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "clean power-off failed: destroyed hard");
    int rc = drv_hv_destroy(c->hv, uuid, false, err);
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
        rc = drv_hv_destroy(c->hv, uuid, false, err);
    if (rc < 0 && err_code_of(*err) != ERR_NOT_FOUND)
        return -1;
    err_clear(err);
    /* a handed-over pool member's domain is gone: no alias after a restart */
    if (strcmp(dom, uuid) != 0 && c->db &&
        db_pool_member_set_state(c->db, dom, DB_MEMBER_RELEASED, "instance rebuilt", &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "member %s not released", dom);
    return 0;
}

/* Spawn the rebuilt guest: the instance's domain (uuid, name) over the
 * new image in `spec` (consumed), journalled as a spawn. */
static int rebuild_spawn(struct os_compute *c, struct os_inst *i, struct drv_hv_guest_spec *spec,
                         struct err **err)
{
    struct drv_instance *inst = i->inst;
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", inst->uuid);
    spec->name = os_compute_domain_name(i);
    spec->display_name = inst->name ? xstrdup(inst->name) : NULL;
    spec->project_id = inst->project_id ? xstrdup(inst->project_id) : NULL;
    spec->user_id = inst->user_id ? xstrdup(inst->user_id) : NULL;
    spec->flavor_name = inst->flavor.name ? xstrdup(inst->flavor.name) : NULL;
    free(inst->domain);
    inst->domain = xstrdup(spec->name);
    inst->shape = spec->shape;
    os_compute_record_instance(c, i);
    int64_t intent = os_compute_intent_begin(c, DB_OP_SPAWN, i, &spec->shape);
    int rc = drv_hv_spawn(c->hv, spec, err);
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
        rc = drv_hv_spawn(c->hv, spec, err);
    if (rc < 0) {
        os_compute_intent_finish(c, intent, false, *err);
        return -1;
    }
    os_compute_intent_step(c, intent, "started");
    os_compute_intent_test_pause("rebuild", intent, inst->uuid, 0, 0);
    os_compute_intent_finish(c, intent, true, NULL);
    return 0;
}

/* Zed's _get_image_name of the new image: its name in the request spec
 * the API sent (the ImageMeta of the image rebuilt onto), '' without. */
static json_t *rebuild_image_name(const json_t *args)
{
    const json_t *image = ovo_get(json_object_get(args, "request_spec"), "image");
    const char *name = image && ovo_data(image) ? ovo_get_str(image, "name") : NULL;
    return json_string(name ? name : "");
}

int os_compute_rebuild_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    const json_t *args = req->msg->args;
    (void)result;
    bool evacuate = json_is_true(json_object_get(args, "recreate"));
    int64_t t0 = clock_mono_ns();
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    if (rebuild_settled(c, uuid, req->msg->ctx))
        return 0;
    os_inst_event_start(i, REBUILD_EVENT);
    json_t *mig = ovo_is(json_object_get(args, "migration"), "Migration")
                      ? json_object_get(args, "migration")
                      : NULL;
    const char *node = json_string_value(json_object_get(args, "scheduled_node"));
    if (!node || !*node)
        node = c->node;
    bool deleting = false, refused = false;
    const char *was_host = ovo_get_str(i->prim, "host");
    bool elsewhere = !was_host || strcmp(was_host, c->host) != 0;
    autofree char *orig_vm = xstrdup(os_inst_vm_state(i) ? os_inst_vm_state(i) : "active");
    const char *orig_image = json_string_value(json_object_get(args, "orig_image_ref"));
    /* an evacuation's image is the instance's (the API sends none) */
    const char *image_ref = json_string_value(json_object_get(args, "image_ref"));
    if (evacuate)
        log_info("evacuating instance to this host (migration %s)",
                 mig && ovo_get_str(mig, "uuid") ? ovo_get_str(mig, "uuid") : "?");
    if (image_ref && *image_ref &&
        (!i->inst->image_ref || strcmp(image_ref, i->inst->image_ref) != 0)) {
        /* the API saved it on the instance before casting; a request is
         * what the guest is made of */
        free(i->inst->image_ref);
        i->inst->image_ref = xstrdup(image_ref);
    }
    image_ref = i->inst->image_ref;
    log_info("rebuilding from image %s (was %s)", image_ref ? image_ref : "?",
             orig_image ? orig_image : "?");

    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    autoptr(drv_hv_config_drive) cdrive = NULL;
    json_auto_t *image = json_pack("{s:s?}", "id", image_ref);
    int rc = -1;
    if (json_is_true(json_object_get(args, "preserve_ephemeral"))) {
        os_fault_nova(&req->fault, "PreserveEphemeralNotSupported", 400);
        err_set(err, ERR_INVALID,
                "The current driver does not support preserving ephemeral partitions.");
        rc = rebuild_fail_error(c, i, err);
        goto out;
    }
    if (evacuate && json_is_true(json_object_get(args, "on_shared_storage"))) {
        /* instance disks are this host's own: never on shared storage */
        os_fault_nova(&req->fault, "InvalidSharedStorage", 400);
        req->fault.kwargs = json_pack("{s:s, s:s}", "path", "", "reason",
                                      "Invalid state of instance files on shared storage");
        err_set(err, ERR_INVALID, "Invalid state of instance files on shared storage");
        rc = rebuild_fail_error(c, i, err);
        goto out;
    }

    /* The image first, before anything is done to the guest. */
    if (os_compute_build_images(c, i, image, req->msg->ctx, &spec, err) < 0) {
        os_fault_image(&req->fault, image_ref ? image_ref : "", *err);
        enum err_code code = err_code_of(*err);
        if (code == ERR_NOT_FOUND) {
            /* the fault in Nova's words, Glance's after them */
            autofree char *why = xstrdup((*err)->msg);
            err_clear(err);
            err_set(err, ERR_NOT_FOUND, "Image %s could not be found. (%s)",
                    image_ref ? image_ref : "", why);
        }
        /* an evacuation's image is fetched at spawn in Nova: ERROR */
        rc = !evacuate && (code == ERR_NOT_FOUND || code == ERR_UNAVAILABLE || code == ERR_TIMEOUT)
                 ? rebuild_fail_keep(c, i, err)
                 : rebuild_fail_error(c, i, err);
        goto out;
    }
    int64_t vsize = 0;
    int64_t root = i->inst->flavor.root_gb * (1LL << 30);
    if (os_image_virtual_size(spec.image.disk_base, spec.image.disk_format, &vsize, err) < 0) {
        os_fault_image(&req->fault, image_ref, *err);
        rc = rebuild_fail_error(c, i, err);
        goto out;
    }
    if (root > 0 && vsize > root) {
        /* what libvirt's imagebackend raises at spawn */
        os_fault_nova(&req->fault, "FlavorDiskSmallerThanImage", 400);
        req->fault.kwargs = json_pack("{s:I, s:I}", "flavor_size", (json_int_t)root, "image_size",
                                      (json_int_t)vsize);
        err_set(err, ERR_INVALID,
                "Flavor's disk is too small for requested image. Flavor disk is %lld bytes, "
                "image is %lld bytes.",
                (long long)root, (long long)vsize);
        rc = rebuild_fail_error(c, i, err);
        goto out;
    }
    if (rebuild_config_drive(c, i, args, &cdrive, err) < 0) {
        rc = rebuild_fail_error(c, i, err);
        goto out;
    }
    /* an evacuation forced past the scheduler, or scheduled at once with
     * another member of its group, is checked against the group's policy
     * after the claim, as Zed's _do_rebuild_instance does; a refusal
     * fails it as a refused claim does (rebuilds are not rescheduled) */
    int policy = 0;
    int shaped = rebuild_shape(c, i, evacuate, orig_image, &spec.shape, err);
    if (shaped == 0 && evacuate && json_object_get(args, "request_spec")) {
        policy = os_compute_group_policy_check(c, req->msg->ctx, uuid, args, false, err);
        if (policy != 0)
            os_compute_engine_forget(c, uuid);
    }
    if (shaped < 0 || policy != 0) {
        refused = true;
        if (err_code_of(*err) == ERR_CAPACITY || policy > 0) {
            os_fault_nova(&req->fault, "BuildAbortException", 500);
            req->fault.kwargs =
                json_pack("{s:s, s:s}", "instance_uuid", uuid, "reason", (*err)->msg);
        }
        rc = rebuild_fail_keep(c, i, err);
        goto out;
    }
    if (evacuate && os_compute_evacuate_claimed(c, req->msg->ctx, mig, node, err) < 0) {
        rc = rebuild_fail_error(c, i, err);
        goto out;
    }

    /* the usage so far under the old image, then the rebuild's start
     * under the new one (Zed's _do_rebuild_instance) */
    os_compute_notify_exists(c, i, json_object_get(args, "orig_sys_metadata"), orig_image);
    os_compute_notify(c, i, "rebuild.start",
                      json_pack("{s:o}", "image_name", rebuild_image_name(args)));
    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    os_inst_set_str(i, "task_state", "rebuilding");
    if (os_inst_save(i, T_REBUILDING, &deleting, err) < 0) {
        /* deleted meanwhile: the delete does the rest */
        if (deleting)
            os_inst_event_finish(i, REBUILD_EVENT, *err);
        else
            rebuild_fail_keep(c, i, err);
        goto out;
    }
    /* the loop's changes wait until the new guest runs */
    if (c->control)
        drv_control_apply_lock(c->control);
    rc = rebuild_destroy(c, i, err);
    if (rc == 0) {
        os_inst_set_str(i, "task_state", "rebuild_block_device_mapping");
        rc = os_inst_save(i, T_REBUILDING, &deleting, err);
    }
    if (rc == 0) {
        os_inst_set_str(i, "task_state", "rebuild_spawning");
        rc = os_inst_save(i, T_BDM, &deleting, err);
    }
    if (rc == 0) {
        spec.config_drive = steal_pointer(&cdrive);
        rc = rebuild_spawn(c, i, &spec, err);
    }
    if (c->control)
        drv_control_apply_unlock(c->control);
    if (rc < 0) {
        rebuild_fail_unless_deleting(c, i, deleting, err);
        goto out;
    }

    /* Stopped before, stopped after (Nova stops it once spawned). */
    bool stopped = strcmp(orig_vm, "stopped") == 0;
    if (stopped) {
        autoerr struct err *e = NULL;
        if (drv_hv_power_off(c->hv, uuid, 0, &e) < 0) {
            log_err(LOG_LEVEL_WARN, e, "rebuilt guest not stopped again");
            stopped = false;
        }
    } else {
        os_compute_engine_booting(c, uuid);
    }
    os_inst_set_str(i, "vm_state", stopped ? "stopped" : "active");
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    os_inst_set_int(i, "progress", 0);
    os_inst_set_now(i, "launched_at");
    if (evacuate) {
        /* finish_evacuation: the instance is this host's */
        os_inst_set_str(i, "host", c->host);
        os_inst_set_str(i, "node", node);
    }
    rc = os_inst_save(i, T_SPAWNING, &deleting, err);
    if (rc < 0) {
        rebuild_fail_unless_deleting(c, i, deleting, err);
        goto out;
    }
    os_compute_record_state(c, i);
    os_compute_track_inst(c, i);
    if (evacuate)
        os_compute_evacuate_done(c, req->msg->ctx, mig);
    rebuild_tell_schedulers(c, i);
    os_inst_event_finish(i, REBUILD_EVENT, NULL);
    os_compute_notify(c, i, "rebuild.end",
                      json_pack("{s:o}", "image_name", rebuild_image_name(args)));
    log_info("%s from image %s in %.1f ms, %s", evacuate ? "evacuated here" : "rebuilt",
             image_ref, (double)(clock_mono_ns() - t0) / 1e6, stopped ? "stopped" : "active");
out:
    if (rc < 0 && evacuate)
        os_compute_evacuate_failed(c, req->msg->ctx, mig, uuid, elsewhere,
                                   deleting  ? OS_EVAC_FAIL_DELETED
                                   : refused ? OS_EVAC_FAIL_REFUSED
                                             : OS_EVAC_FAIL_OTHER);
    drv_hv_guest_spec_release(&spec);
    return rc;
}

int os_compute_rebuild_recover(struct os_compute *c, struct os_inst *i, const struct drv_hv_info *g)
{
    const char *task = os_inst_task_state(i);
    if (!os_rebuild_task(task))
        return 0;
    const char *uuid = os_inst_uuid(i);
    const char *guest_image = NULL;
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    if (g && drv_hv_get_spec(c->hv, uuid, &spec, NULL) == 0)
        guest_image = os_rebuild_image_of_base(spec.image.disk_base);
    enum os_rebuild_recovery r = os_rebuild_recover_decide(
        task, g != NULL, g ? g->state : DRV_POWER_NOSTATE, guest_image, i->inst->image_ref);
    drv_hv_guest_spec_release(&spec);
    autoerr struct err *e = NULL;
    if (r == OS_REBUILD_RECOVER_FINISH) {
        const char *vm = os_inst_vm_state(i);
        bool stopped =
            vm && strcmp(vm, "stopped") == 0 && drv_hv_power_off(c->hv, uuid, 0, &e) == 0;
        os_inst_set_str(i, "vm_state", stopped ? "stopped" : "active");
        os_inst_set_str(i, "task_state", NULL);
        os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
        os_inst_set_now(i, "launched_at");
        if (os_inst_save(i, NULL, NULL, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "finished rebuild of %s not saved", uuid);
        else
            log_info("recovered %s: rebuild finished (its rebuilt guest runs)", uuid);
        return 1;
    }
    /* _init_instance: "Instance failed to rebuild correctly, setting to
     * ERROR state"; a guest still here is left as it is */
    err_set(&e, ERR_INTERNAL, "rebuild interrupted by a restart of sculpt-compute");
    if (!g)
        os_compute_engine_forget(c, uuid);
    os_inst_fault(i, e);
    os_inst_set_str(i, "vm_state", "error");
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", g ? g->state : DRV_POWER_NOSTATE);
    autoerr struct err *se = NULL;
    if (os_inst_save(i, NULL, NULL, &se) < 0)
        log_err(LOG_LEVEL_WARN, se, "interrupted rebuild of %s not saved", uuid);
    else
        log_info("recovered %s: rebuild interrupted: ERROR", uuid);
    return 1;
}
