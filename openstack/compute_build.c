/* build_and_run_instance: the request becomes a guest (nova/compute/
 * manager.py _do_build_and_run_instance, protocol.md 7.2 and 7.3).
 *
 * A pre-sculpted member of the request's class, when one is ready, is
 * handed over first (compute_presculpt.c): the guest runs within
 * milliseconds of the request, and the build goes from `building` to
 * `active` without networking, block devices or a spawn.  Otherwise:
 *
 *   event_start(compute__do_build_and_run_instance)
 *   save(expected [scheduling, None])  vm_state building, task_state None
 *   claim: the engine admits and places the request's blueprint
 *   save {host, node, launched_on}
 *   save(expected [None]) networking; save block_device_mapping;
 *   save(expected block_device_mapping) spawning
 *   images from Glance into the cache; the backend spawns the guest
 *   save(expected spawning) active, power_state, launched_at
 *   event_finish
 *
 * A build that cannot be admitted or spawned fails as Nova's do: a fault,
 * vm_state error with host and node cleared, allocations released.  A
 * delete arriving meanwhile (UnexpectedDeletingTaskStateError) aborts the
 * build and leaves the rest to terminate_instance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "openstack/compute_group_policy.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/config_drive.h"
#include "openstack/image_cache.h"
#include "openstack/messaging.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.compute_build");

#define BUILD_EVENT "compute__do_build_and_run_instance"

int os_compute_build_images(struct os_compute *c, struct os_inst *i, const json_t *image,
                            const json_t *ctx, struct drv_hv_guest_spec *spec, struct err **err)
{
    return os_compute_fetch_images(c, i, image, ctx, spec, false, NULL, err);
}

int os_compute_fetch_images(struct os_compute *c, struct os_inst *i, const json_t *image,
                            const json_t *ctx, struct drv_hv_guest_spec *spec, bool iso,
                            json_t **meta_out, struct err **err)
{
    if (!c->images)
        return err_set(err, ERR_UNAVAILABLE, "no image source configured ([glance])");
    const char *token = os_ctx_str(ctx, "auth_token");
    const char *image_id = json_string_value(json_object_get(image, "id"));
    if (!image_id)
        image_id = i->inst->image_ref;
    if (!image_id || !*image_id)
        return err_set(err, ERR_UNSUPPORTED, "boot from volume is not supported by sculpt");
    json_auto_t *meta = NULL;
    spec->image.disk_base = os_image_cache_fetch(c->images, image_id, token, &meta, err);
    if (!spec->image.disk_base)
        return -1;
    const char *fmt = json_string_value(json_object_get(meta, "disk_format"));
    if (fmt && strcmp(fmt, "qcow2") != 0 && strcmp(fmt, "raw") != 0 && strcmp(fmt, "ami") != 0 &&
        !(iso && strcmp(fmt, "iso") == 0))
        return err_set(err, ERR_UNSUPPORTED, "image %s has disk_format `%s` (qcow2, raw or ami%s)",
                       image_id, fmt, iso ? ", or iso" : "");
    spec->image.disk_format = xstrdup(fmt && strcmp(fmt, "qcow2") == 0 ? "qcow2" : "raw");
    spec->image.root_gb = i->inst->flavor.root_gb;
    spec->guest_agent = os_compute_wants_agent(i->prim, image);

    /* Image properties live at the top level in Glance v2; Nova's image
     * dict nests them under `properties`. */
    json_t *props = json_object_get(image, "properties");
    const char *kernel = json_string_value(json_object_get(props, "kernel_id"));
    const char *ramdisk = json_string_value(json_object_get(props, "ramdisk_id"));
    const char *cmdline = json_string_value(json_object_get(props, "os_command_line"));
    if (!kernel)
        kernel = json_string_value(json_object_get(meta, "kernel_id"));
    if (!ramdisk)
        ramdisk = json_string_value(json_object_get(meta, "ramdisk_id"));
    if (!cmdline)
        cmdline = json_string_value(json_object_get(meta, "os_command_line"));
    if (kernel && *kernel) {
        spec->image.kernel = os_image_cache_fetch(c->images, kernel, token, NULL, err);
        if (!spec->image.kernel)
            return err_wrap(err, "kernel of image %s", image_id);
    }
    if (ramdisk && *ramdisk) {
        spec->image.initrd = os_image_cache_fetch(c->images, ramdisk, token, NULL, err);
        if (!spec->image.initrd)
            return err_wrap(err, "ramdisk of image %s", image_id);
    }
    if (cmdline && *cmdline)
        spec->image.cmdline = xstrdup(cmdline);
    if (meta_out)
        *meta_out = json_incref(meta);
    return 0;
}

void os_compute_tell_schedulers_new(struct os_compute *c, const struct os_inst *i,
                                    const json_t *ctx)
{
    static const struct os_rpc_target t = {.topic = "scheduler", .version = "4.2",
                                           .fanout = true};
    json_t *list = ovo_new("InstanceList");
    ovo_set(list, "objects", json_pack("[O]", i->prim));
    json_auto_t *args = json_pack("{s:s, s:o}", "host_name", c->host, "instance_info", list);
    autoerr struct err *e = NULL;
    if (os_rpc_cast(c->msg->client, &t, "update_instance_info", args, ctx, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "schedulers not told of the new instance");
}

/* The build failed for good: what Nova's _do_build_and_run_instance does
 * for a BuildAbortException, and _locked_do_build_and_run_instance after
 * it (allocations released).  A refusal by the server group check is not
 * counted as a failed build (Zed's FAILED_BY_POLICY): a host is not to be
 * weighed down for keeping a group's policy. */
static void build_fail_as(struct os_compute *c, struct os_inst *i, const struct err *failure,
                          bool spawned, bool by_policy)
{
    autoerr struct err *e = NULL;
    log_err(LOG_LEVEL_ERROR, failure, "build failed");
    if (spawned && drv_hv_destroy(c->hv, os_inst_uuid(i), false, &e) < 0 &&
        err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "guest of the failed build not destroyed");
    err_clear(&e);
    os_compute_engine_forget(c, os_inst_uuid(i));
    os_inst_fault(i, failure);
    os_inst_set_str(i, "host", NULL);
    os_inst_set_str(i, "node", NULL);
    os_inst_set_str(i, "launched_on", NULL);
    os_inst_set_str(i, "availability_zone", NULL);
    os_inst_set_str(i, "vm_state", "error");
    os_inst_set_str(i, "task_state", NULL);
    if (os_inst_save(i, NULL, NULL, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "instance not set to ERROR");
    os_compute_record_state(c, i);
    /* its host cleared, it is no longer this host's: a row the admission
     * recorded goes (the API deletes such an instance without us) */
    os_compute_record_deleted(c, os_inst_uuid(i));
    err_clear(&e);
    if (c->placement && os_placement_delete_allocations(c->placement, os_inst_uuid(i), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "allocations of the failed build not released");
    pthread_mutex_lock(&c->lock);
    if (!by_policy)
        c->failed_builds++;
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
    os_compute_untrack(c, os_inst_uuid(i));
    os_inst_event_finish(i, BUILD_EVENT, failure);
}

static void build_fail(struct os_compute *c, struct os_inst *i, const struct err *failure,
                       bool spawned)
{
    build_fail_as(c, i, failure, spawned, false);
}

/* An argument of the request, or `dflt` (borrowed) when absent. */
static json_t *build_arg(const json_t *args, const char *key, json_t *dflt)
{
    json_t *v = json_object_get(args, key);
    return v ? v : dflt;
}

/* The engine refused the request and Nova gave alternates: hand it back
 * to the conductor to try the next host, as nova-compute does with a
 * RescheduledException (protocol.md 7.3).  Returns 0 when rescheduled,
 * -1 when there is nothing to reschedule to (the caller fails the build). */
static int build_reschedule(struct os_compute *c, struct os_inst *i, const struct os_msg *m,
                            const struct err *why, bool by_policy)
{
    const json_t *args = m->args;
    json_t *fp = json_object_get(args, "filter_properties");
    json_t *retry = json_object_get(fp, "retry");
    json_t *host_list = json_object_get(args, "host_list");
    if (!json_is_object(retry) || !json_is_array(host_list) || json_array_size(host_list) == 0)
        return -1;
    autoerr struct err *e = NULL;
    log_info("refused here, %zu alternate host(s): rescheduling", json_array_size(host_list));
    os_inst_set_str(i, "task_state", "scheduling");
    os_inst_set_str(i, "host", NULL);
    os_inst_set_str(i, "node", NULL);
    if (os_inst_save(i, NULL, NULL, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "reschedule not saved: failing the build instead");
        return -1;
    }
    if (c->placement && os_placement_delete_allocations(c->placement, os_inst_uuid(i), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "allocations not released before the reschedule");
    json_auto_t *fp2 = json_deep_copy(fp);
    json_t *retry2 = json_object_get(fp2, "retry");
    json_object_set_new(retry2, "exc_reason", json_string(why->msg));
    json_object_set_new(retry2, "exc", json_pack("[s]", why->msg));
    /* nova/conductor/rpcapi.py build_instances, version 1.19 */
    json_auto_t *cargs = json_pack("{s:[O], s:O, s:O, s:[O]}", "instances", i->prim,
                                   "filter_properties", fp2, "request_spec",
                                   build_arg(args, "request_spec", json_null()), "host_lists",
                                   host_list);
    static const char *const passed[] = {"image", "admin_password", "injected_files",
                                         "requested_networks", "security_groups"};
    for (size_t k = 0; cargs && k < ARRAY_SIZE(passed); k++)
        json_object_set(cargs, passed[k], build_arg(args, passed[k], json_null()));
    static const struct os_rpc_target t = {.topic = "conductor", .namespace = "compute_task",
                                           .version = "1.19"};
    if (!cargs || os_rpc_cast(c->msg->client, &t, "build_instances", cargs, m->ctx, &e) < 0) {
        log_err(LOG_LEVEL_ERROR, e, "reschedule cast failed");
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    if (!by_policy)
        c->failed_builds++;
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
    os_compute_untrack(c, os_inst_uuid(i));
    os_inst_event_finish(i, BUILD_EVENT, why);
    return 0;
}

/* The server group check refused this host after the claim: the claim
 * (and a pre-sculpted guest already handed over) is undone, and the
 * build goes to the next host, or fails when there is none -- Zed's
 * RescheduledByPolicyException. */
static void build_refused_by_group(struct os_compute *c, struct os_inst *i, const struct os_msg *m,
                                   const struct err *why, bool spawned)
{
    autoerr struct err *e = NULL;
    log_err(LOG_LEVEL_WARN, why, "refused by the server group check");
    if (spawned && drv_hv_destroy(c->hv, os_inst_uuid(i), false, &e) < 0 &&
        err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "pre-sculpted guest of the refused build not destroyed");
    os_compute_engine_forget(c, os_inst_uuid(i));
    if (build_reschedule(c, i, m, why, true) < 0)
        build_fail_as(c, i, why, false, true);
    else
        os_compute_record_deleted(c, os_inst_uuid(i)); /* the row the admission made */
}

/* A delete came while we built: undo our part, the delete does the rest. */
static void build_abort_for_delete(struct os_compute *c, struct os_inst *i, bool spawned,
                                   const struct err *why)
{
    autoerr struct err *e = NULL;
    log_info("instance deleted while building: build abandoned");
    if (spawned && drv_hv_destroy(c->hv, os_inst_uuid(i), false, &e) < 0 &&
        err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "guest of the abandoned build not destroyed");
    os_compute_engine_forget(c, os_inst_uuid(i));
    os_compute_untrack(c, os_inst_uuid(i));
    os_inst_event_finish(i, BUILD_EVENT, why);
}

/* compute.instance.create.error, as each of Zed's build failures after
 * create.start sends it (before the instance is set to ERROR or handed
 * back for a reschedule). */
static void build_notify_error(struct os_compute *c, struct os_inst *i, const struct err *why)
{
    os_compute_notify_error(c, i, "create.error", NULL, why);
}

/* Requests are acked once handled, so a build interrupted by a crash of
 * sculpt-compute comes again after the restart -- when the start-up
 * recovery has already settled its instance (ACTIVE with the guest that
 * started, or ERROR).  Nova's record says so: anything but `building` is
 * a build already over.  When Nova cannot be asked, the build goes on
 * (its saves are guarded by task state anyway). */
static bool build_settled(struct os_compute *c, const char *uuid, const json_t *ctx)
{
    autoerr struct err *e = NULL;
    json_auto_t *prim = os_compute_instance_now(c, ctx, uuid, NULL, NULL, &e);
    const char *vm = prim ? ovo_get_str(prim, "vm_state") : NULL;
    if (!vm || strcmp(vm, "building") == 0)
        return false;
    log_warn("build of %s came again (redelivered after a restart) but the instance is already "
             "%s: nothing to do",
             uuid, vm);
    return true;
}

int os_compute_config_drive(struct os_compute *c, const json_t *prim, const json_t *image,
                            const json_t *files, const char *password,
                            struct drv_hv_config_drive **out, struct err **err)
{
    const struct os_config_drive_opts o = {.force = c->cfg->force_config_drive,
                                           .dhcp_domain = c->cfg->dhcp_domain};
    *out = NULL;
    if (!os_config_drive_required(prim, image, &o))
        return 0;
    *out = os_config_drive_build(prim, files, password, &o, err);
    return *out ? 0 : -1;
}

int os_compute_instance_config_drive(struct os_compute *c, struct os_inst *i, const json_t *image,
                                     const json_t *files, const char *password,
                                     struct drv_hv_config_drive **out, struct err **err)
{
    if (os_compute_config_drive(c, i->prim, image, files, password, out, err) < 0)
        return err_wrap(err, "config drive");
    if (!*out)
        return 0;
    const char *was = ovo_get_str(i->prim, "config_drive");
    if (!was || strcmp(was, "True") != 0)
        os_inst_set_str(i, "config_drive", "True");
    log_info("config drive of %zu files for the guest", (*out)->n);
    return 0;
}

/* The instance's config drive when it needs one (*out NULL otherwise). */
static int build_config_drive(struct os_compute *c, struct os_inst *i, const struct os_msg *m,
                              struct drv_hv_config_drive **out, struct err **err)
{
    return os_compute_instance_config_drive(
        c, i, json_object_get(m->args, "image"), json_object_get(m->args, "injected_files"),
        json_string_value(json_object_get(m->args, "admin_password")), out, err);
}

int os_compute_build(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    int64_t t_request = clock_mono_ns();
    struct os_compute *c = req->opaque;
    const json_t *args = req->msg->args;
    const json_t *ctx = req->msg->ctx;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    if (!i->inst->flavor.vcpus)
        return err_set(err, ERR_INVALID, "instance %s has no flavor", os_inst_uuid(i));
    const json_t *image = json_object_get(args, "image");
    if (image && !json_is_object(image))
        return err_set(err, ERR_INVALID, "`image` is not a dict");
    if (build_settled(c, os_inst_uuid(i), ctx))
        return 0;
    const char *node = json_string_value(json_object_get(args, "node"));
    if (node && strcmp(node, c->node) != 0)
        log_warn("build for node `%s`, ours is `%s`: building here anyway", node, c->node);

    bool deleting = false;
    /* before the first `goto failed`: a jump past a cleanup variable's
     * initialisation would free garbage at the end (clang refuses it) */
    autoerr struct err *e = NULL;
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    int64_t intent = 0;

    /* The config drive, before any guest runs: a pre-sculpted one gets it
     * inserted before it resumes, a cold one is defined with it.  A drive
     * that cannot be made fails the build below, with its fault. */
    autoptr(drv_hv_config_drive) cdrive = NULL;
    autoerr struct err *cd_err = NULL;
    if (build_config_drive(c, i, req->msg, &cdrive, &cd_err) < 0)
        log_err(LOG_LEVEL_WARN, cd_err, "no config drive for the guest");

    /* A pre-sculpted member: the guest runs before anything else (even
     * the action event, a round trip to the conductor). */
    bool hit = os_compute_pools_resume(c, i) > 0 ||
               (!cd_err && os_compute_pools_take(c, i, cdrive, &intent, &e) > 0);
    err_clear(&e);
    if (hit) {
        log_info("guest running %.1f ms after the request: pre-sculpted domain `%s`",
                 (double)(clock_mono_ns() - t_request) / 1e6, i->inst->domain);
        os_compute_pools_identify(c, i);
    }
    os_inst_event_start(i, BUILD_EVENT);

    const char *const first[] = {"scheduling", OS_TASK_NONE, NULL};
    os_inst_set_str(i, "vm_state", "building");
    os_inst_set_str(i, "task_state", NULL);
    if (os_inst_save(i, first, &deleting, err) < 0) {
        os_compute_intent_finish(c, intent, false, *err);
        if (deleting)
            build_abort_for_delete(c, i, hit, *err);
        else if (hit)
            build_fail(c, i, *err, true);
        else
            os_inst_event_finish(i, BUILD_EVENT, *err);
        return -1;
    }
    json_t *image_name = json_object_get(image, "name");
    os_compute_notify(c, i, "create.start",
                      json_pack("{s:O}", "image_name", image_name ? image_name : json_null()));
    if (cd_err) {
        build_notify_error(c, i, cd_err);
        build_fail(c, i, cd_err, false);
        return err_set(err, err_code_of(cd_err), "%s", cd_err->msg);
    }

    /* The claim: the engine admits the request or refuses it (idle
     * members give their room back first when it does not fit). */
    int rc = hit ? 0 : os_compute_engine_place(c, i, &spec.shape, err);
    if (rc < 0) {
        build_notify_error(c, i, *err);
        if (err_code_of(*err) != ERR_CAPACITY || build_reschedule(c, i, req->msg, *err, false) < 0)
            build_fail(c, i, *err, false);
        drv_hv_guest_spec_release(&spec);
        return -1;
    }
    os_inst_set_str(i, "host", c->host);
    os_inst_set_str(i, "node", c->node);
    os_inst_set_str(i, "launched_on", c->host);
    if (os_inst_save(i, NULL, NULL, err) < 0)
        goto failed;
    /* once the host is saved, as Zed checks inside its instance claim: a
     * build of the same group checked after this one counts it here */
    rc = os_compute_group_policy_check(c, ctx, os_inst_uuid(i), args, false, err);
    if (rc < 0)
        goto failed;
    if (rc > 0) {
        build_notify_error(c, i, *err);
        os_compute_intent_finish(c, intent, false, *err);
        build_refused_by_group(c, i, req->msg, *err, hit);
        drv_hv_guest_spec_release(&spec);
        return -1;
    }
    os_compute_track_inst(c, i);
    if (hit)
        goto running;

    const char *const none[] = {OS_TASK_NONE, NULL};
    const char *const bdm[] = {"block_device_mapping", NULL};
    os_inst_set_str(i, "task_state", "networking");
    if (os_inst_save(i, none, &deleting, err) < 0)
        goto failed;
    json_t *nets = ovo_list_objects(json_object_get(args, "requested_networks"));
    size_t k;
    json_t *net;
    json_array_foreach(nets, k, net) {
        const char *id = ovo_get_str(net, "network_id");
        if (id && strcmp(id, "none") != 0)
            log_warn("network `%s` requested: sculpt plugs no Neutron ports, the guest gets "
                     "none", id);
    }
    os_inst_set_str(i, "task_state", "block_device_mapping");
    if (os_inst_save(i, NULL, NULL, err) < 0)
        goto failed;
    os_inst_set_str(i, "task_state", "spawning");
    if (os_inst_save(i, bdm, &deleting, err) < 0)
        goto failed;

    snprintf(spec.uuid, sizeof(spec.uuid), "%s", os_inst_uuid(i));
    spec.name = os_compute_domain_name(i);
    spec.display_name = i->inst->name ? xstrdup(i->inst->name) : NULL;
    spec.project_id = i->inst->project_id ? xstrdup(i->inst->project_id) : NULL;
    spec.user_id = i->inst->user_id ? xstrdup(i->inst->user_id) : NULL;
    spec.flavor_name = i->inst->flavor.name ? xstrdup(i->inst->flavor.name) : NULL;
    if (os_compute_build_images(c, i, image, ctx, &spec, err) < 0)
        goto failed;
    spec.config_drive = steal_pointer(&cdrive);
    intent = os_compute_intent_begin(c, DB_OP_SPAWN, i, &spec.shape);
    rc = drv_hv_spawn(c->hv, &spec, err);
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
        rc = drv_hv_spawn(c->hv, &spec, err);
    if (rc < 0)
        goto failed;
    os_compute_intent_step(c, intent, "started");
    log_info("guest spawned %.1f ms after the request",
             (double)(clock_mono_ns() - t_request) / 1e6);
    os_compute_pools_learn(c, i, &spec);
    os_compute_intent_test_pause("spawn", intent, os_inst_uuid(i), 0, 0);

running:;
    struct drv_hv_info info;
    enum drv_power_state power = DRV_POWER_RUNNING;
    if (drv_hv_get_info(c->hv, os_inst_uuid(i), &info, &e) == 0)
        power = info.state;
    const char *const spawning[] = {"spawning", NULL}, *const idle[] = {OS_TASK_NONE, NULL};
    os_inst_set_str(i, "vm_state", "active");
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", power);
    os_inst_set_now(i, "launched_at");
    if (os_inst_save(i, hit ? idle : spawning, &deleting, err) < 0) {
        build_notify_error(c, i, *err);
        os_compute_intent_finish(c, intent, false, *err);
        if (deleting)
            build_abort_for_delete(c, i, true, *err);
        else
            build_fail(c, i, *err, true);
        drv_hv_guest_spec_release(&spec);
        return -1;
    }
    os_compute_record_state(c, i);
    os_compute_intent_finish(c, intent, true, NULL);
    os_compute_track_inst(c, i);
    os_compute_tell_schedulers_new(c, i, ctx);
    os_inst_event_finish(i, BUILD_EVENT, NULL);
    os_compute_notify(c, i, "create.end",
                      json_pack("{s:s, s:o}", "message", "Success", "fixed_ips",
                                os_compute_notify_fixed_ips(i)));
    drv_hv_guest_spec_release(&spec);
    log_info("instance active %.1f ms after the request%s",
             (double)(clock_mono_ns() - t_request) / 1e6, hit ? " (pre-sculpted)" : "");
    if (hit)
        os_compute_pools_learn(c, i, NULL);
    return 0;

failed:
    build_notify_error(c, i, *err);
    os_compute_intent_finish(c, intent, false, *err);
    if (deleting)
        build_abort_for_delete(c, i, hit, *err);
    else
        build_fail(c, i, *err, hit);
    drv_hv_guest_spec_release(&spec);
    return -1;
}
