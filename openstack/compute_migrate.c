/* A resize or cold migration between two hosts, as Zed's ComputeManager
 * runs it (protocol.md 7, nova/compute/manager.py):
 *
 *   prep_resize (dest)    the engine admits the new flavor's blueprint (a
 *                         refusal goes back to the conductor with the
 *                         alternates, _reschedule_resize_or_reraise);
 *                         migration pre-migrating with dest_*, the
 *                         MigrationContext; cast resize_instance
 *   resize_instance (src) migrating; the guest off and its disks handed
 *                         over (migrate_disk_and_power_off); post-migrating;
 *                         instance host/node = dest; cast finish_resize
 *   finish_resize (dest)  the new flavor is the instance's; the guest
 *                         defined and started in the engine's shape
 *                         (finish_migration); finished, RESIZED
 *   confirm_resize (src)  the source's guest destroyed, the engine's
 *                         admission released, the migration's allocations
 *                         (the old flavor here) emptied
 *   revert_resize (dest)  the destination's guest destroyed, its admission
 *                         released; reverted; cast finish_revert_resize
 *   finish_revert_resize (src) the old flavor and host back, the guest
 *                         started again (the engine held it throughout),
 *                         the migration's allocations back to the instance
 *
 * The source keeps the guest's admission until the confirm, so a revert
 * always has its room.  A request delivered again after a restart finds
 * its migration moved on and is ignored (os_rz_current). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_group_policy.h"
#include "openstack/compute_migrate_priv.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_resize_priv.h"
#include "openstack/conductor.h"
#include "openstack/messaging.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.compute_migrate");

/* How long the conductor may take to hand a refused resize on. */
#define MIGRATE_RESCHEDULE_TIMEOUT_MS 60000

bool os_compute_migration_moves(const json_t *mig)
{
    const char *src = ovo_get_str(mig, "source_compute");
    const char *dst = ovo_get_str(mig, "dest_compute");
    return src && dst && *dst && strcmp(src, dst) != 0;
}

json_t *os_migrate_reschedule_args(const json_t *args, const char *why)
{
    json_t *fp = json_object_get(args, "filter_properties");
    json_t *retry = json_object_get(fp, "retry");
    json_t *host_list = json_object_get(args, "host_list");
    json_t *flavor = json_object_get(args, "flavor");
    json_t *inst = json_object_get(args, "instance");
    if (!json_is_object(retry) || !json_is_array(host_list) || json_array_size(host_list) == 0 ||
        !ovo_is(flavor, "Flavor") || !ovo_is(inst, "Instance"))
        return NULL;
    json_t *fp2 = json_deep_copy(fp);
    json_t *retry2 = json_object_get(fp2, "retry");
    /* traceback.format_exception_only's lines, as Nova records them */
    json_object_set_new(retry2, "exc", json_pack("[s]", why ? why : ""));
    json_t *cs = json_object_get(args, "clean_shutdown");
    json_t *rs = json_object_get(args, "request_spec");
    /* nova/conductor/rpcapi.py migrate_server, version 1.20 */
    return json_pack("{s:O, s:{s:o}, s:b, s:b, s:O, s:n, s:n, s:n, s:b, s:O, s:O}", "instance",
                     inst, "scheduler_hint", "filter_properties", fp2, "live", 0, "rebuild", 0,
                     "flavor", flavor, "block_migration", "disk_over_commit", "reservations",
                     "clean_shutdown", !json_is_false(cs), "request_spec",
                     rs ? rs : json_null(), "host_list", host_list);
}

int os_migrate_check_leg(const char *method, const json_t *args, struct err **err)
{
    if (!json_is_object(args))
        return err_set(err, ERR_INVALID, "`%s` needs its arguments", method);
    json_t *mig = json_object_get(args, "migration");
    if (!ovo_is(mig, "Migration"))
        return err_set(err, ERR_INVALID, "`%s` needs a Migration", method);
    const char *src = ovo_get_str(mig, "source_compute");
    const char *dst = ovo_get_str(mig, "dest_compute");
    if (!src || !*src || !dst || !*dst)
        return err_set(err, ERR_INVALID, "`%s`: migration %s names no source or destination",
                       method, ovo_get_str(mig, "uuid") ? ovo_get_str(mig, "uuid") : "?");
    if (strcmp(method, "finish_resize") == 0) {
        json_t *di = json_object_get(args, "disk_info");
        if (!json_is_string(di) || !*json_string_value(di))
            return err_set(err, ERR_INVALID, "finish_resize needs the source's `disk_info`");
    }
    return 0;
}

int os_migrate_check_backend(const json_t *src_node, const char *here, struct err **err)
{
    if (!ovo_is(src_node, "ComputeNode"))
        return err_set(err, ERR_INVALID, "the source's compute node is not a ComputeNode");
    const char *host = ovo_get_str(src_node, "host");
    const char *there = ovo_get_str(src_node, "hypervisor_type");
    if (!there || !*there)
        return err_set(err, ERR_INVALID, "the compute node of `%s` reports no hypervisor_type",
                       host ? host : "?");
    if (!here || !*here)
        return err_set(err, ERR_INVALID, "this host's hypervisor_type is unknown");
    if (strcasecmp(there, here) != 0)
        return err_set(err, ERR_UNSUPPORTED, "cannot take a guest from `%s`, a `%s` host: this "
                       "host runs `%s`", host ? host : "?", there, here);
    return 0;
}

/* Cast `method` of a leg to compute `host` (6.0). */
static int mg_cast(struct os_rz *r, const char *host, const char *method, json_t *args,
                   struct err **err)
{
    const struct os_rpc_target t = {.topic = OS_COMPUTE_TOPIC, .server = host, .version = "6.0"};
    json_auto_t *a = args;
    if (!a)
        return err_set(err, ERR_INTERNAL, "`%s` arguments not made", method);
    if (os_rpc_cast(r->c->msg->client, &t, method, a, r->i->ctx, err) < 0)
        return err_wrap(err, "`%s` not sent to %s", method, host);
    return 0;
}

/* The arguments every leg passes on: instance, migration, request_spec. */
static json_t *mg_leg_args(struct os_rz *r, const json_t *args)
{
    json_t *rs = json_object_get(args, "request_spec");
    return json_pack("{s:O, s:O, s:O}", "instance", r->i->prim, "migration", r->mig,
                     "request_spec", rs ? rs : json_null());
}

/* A leg's request opened into *r: 1 to go on (the caller releases r), 0
 * when the migration moved on since (a request delivered again) and -1
 * with *err; r is released on 0 and -1. */
static int mg_open(struct os_rz *r, struct os_rpc_req *req, const char *status, struct err **err)
{
    const char *method = req->msg->method;
    memset(r, 0, sizeof(*r));
    r->borrowed = true;
    if (strcmp(method, "prep_resize") != 0 && os_migrate_check_leg(method, req->msg->args, err) < 0)
        return -1;
    if (os_rz_open(r, req, err) < 0) {
        os_rz_release(r);
        return -1;
    }
    const char *const fresh[] = {status, NULL};
    if (!os_rz_current(r, method, fresh)) {
        os_rz_release(r);
        return 0;
    }
    return 1;
}

/* ---- prep_resize on the destination ---- */

/* The engine refused: the allocations back to the instance and, when Nova
 * gave alternates, the resize handed back to the conductor (1); 0 when
 * there is nothing to reschedule to (the caller fails the resize). */
static int mg_reschedule(struct os_rz *r, struct os_rpc_req *req, const struct err *why)
{
    json_auto_t *cargs = os_migrate_reschedule_args(req->msg->args, why->msg);
    if (!cargs)
        return 0;
    autoerr struct err *e = NULL;
    if (r->c->placement && os_placement_move_allocations(r->c->placement,
                                                         ovo_get_str(r->mig, "uuid"),
                                                         os_inst_uuid(r->i), &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "allocations of the refused resize not put back");
        err_clear(&e);
    }
    os_inst_set_str(r->i, "task_state", "resize_prep");
    os_inst_set_str(r->i, "new_flavor", NULL);
    os_rz_old_vm_state(r, NULL);
    if (os_rz_save(r, NULL, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "reschedule not saved: failing the resize instead");
        return 0;
    }
    /* the conductor reads the instance from the database */
    json_object_set(cargs, "instance", r->i->prim);
    log_info("refused here, %zu alternate host(s): rescheduling the resize",
             json_array_size(json_object_get(cargs, "host_list")));
    static const struct os_rpc_target t = {.topic = "conductor", .namespace = "compute_task",
                                           .version = "1.20"};
    json_auto_t *res = os_rpc_call(r->c->msg->client, &t, "migrate_server", cargs, req->msg->ctx,
                                   MIGRATE_RESCHEDULE_TIMEOUT_MS, NULL, &e);
    if (!res) {
        log_err(LOG_LEVEL_ERROR, e, "the conductor did not take the resize back");
        return 0;
    }
    os_inst_fault(r->i, why);
    os_inst_event_finish(r->i, "compute_prep_resize", why);
    return 1;
}

int os_migrate_check_source_node(struct os_compute *c, const char *src, const char *node,
                                 struct err **err)
{
    json_auto_t *ctx = os_ctx_new_admin();
    json_auto_t *src_node = os_conductor_class_action(&c->conductor, ctx, "ComputeNode",
                                                      "get_by_host_and_nodename",
                                                      json_pack("[s, s]", src, node), NULL, NULL,
                                                      err);
    if (!src_node)
        return err_wrap(err, "compute node `%s` of `%s` not read", node, src);
    char here[64] = "";
    pthread_mutex_lock(&c->lock);
    const char *t = ovo_get_str(c->node_obj, "hypervisor_type");
    snprintf(here, sizeof(here), "%s", t ? t : "");
    pthread_mutex_unlock(&c->lock);
    return os_migrate_check_backend(src_node, here, err);
}

/* The migration's source against this host (os_migrate_check_source_node). */
static int mg_check_source(struct os_rz *r, struct err **err)
{
    const char *src = ovo_get_str(r->mig, "source_compute");
    const char *node = ovo_get_str(r->mig, "source_node");
    if (!node || !*node)
        node = ovo_get_str(r->i->prim, "node");
    if (!src || !*src || !node || !*node)
        return err_set(err, ERR_INVALID, "migration %s names no source host or node",
                       ovo_get_str(r->mig, "uuid") ? ovo_get_str(r->mig, "uuid") : "?");
    return os_migrate_check_source_node(r->c, src, node, err);
}

int os_compute_migrate_prep(struct os_rpc_req *req, struct err **err)
{
    struct os_rz r;
    int go = mg_open(&r, req, "pre-migrating", err);
    if (go <= 0)
        return go;
    struct os_compute *c = r.c;
    const char *event = "compute_prep_resize";
    os_inst_event_start(r.i, event);
    json_t *flavor = json_object_get(req->msg->args, "flavor");
    os_compute_notify_exists(c, r.i, NULL, NULL);
    os_compute_notify(c, r.i, "resize.prep.start", NULL);
    const char *src = ovo_get_str(r.i->prim, "host");
    int rc = -1, policy = 0;
    if (!ovo_is(flavor, "Flavor"))
        err_set(err, ERR_INVALID, "prep_resize needs a Flavor");
    else if (!drv_hv_can_migrate(c->hv))
        err_set(err, ERR_UNSUPPORTED, "the `%s` backend of %s cannot take a guest from another "
                "host", c->hv->ops->name, c->host);
    else if (mg_check_source(&r, err) < 0)
        err_wrap(err, "`%s` refuses the move", c->host);
    else if ((policy = os_compute_group_policy_check(c, req->msg->ctx, os_inst_uuid(r.i),
                                                     req->msg->args, false, err)) == 0)
        rc = 0;
    if (rc < 0) {
        /* a host that cannot take the guest, or would break its server
         * group's policy, passes it on as a full one does */
        if ((err_code_of(*err) == ERR_UNSUPPORTED || policy > 0) &&
            mg_reschedule(&r, req, *err)) {
            err_clear(err);
            os_rz_release(&r);
            return 0;
        }
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    if (os_rz_prep_record(&r, flavor, err) < 0) {
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    /* the resize claim: the engine admits the new flavor here, as a build */
    autoptr(drv_instance) keep = drv_instance_dup(r.i->inst);
    struct drv_flavor nf;
    memset(&nf, 0, sizeof(nf));
    struct drv_shape shape;
    if (os_flavor_decode(flavor, &nf, err) < 0) {
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    drv_flavor_release(&r.i->inst->flavor);
    r.i->inst->flavor = nf;
    if (os_compute_engine_place(c, r.i, &shape, err) < 0) {
        os_compute_engine_forget(c, os_inst_uuid(r.i));
        os_compute_record_deleted(c, os_inst_uuid(r.i));
        drv_flavor_release(&r.i->inst->flavor);
        r.i->inst->flavor = keep->flavor;
        memset(&keep->flavor, 0, sizeof(keep->flavor));
        int done = err_code_of(*err) == ERR_CAPACITY ? mg_reschedule(&r, req, *err) : 0;
        if (done) {
            err_clear(err);
            os_rz_release(&r);
            return 0;
        }
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    ovo_set_str(r.mig, "dest_compute", c->host);
    ovo_set_str(r.mig, "dest_node", c->node);
    ovo_set_str(r.mig, "dest_host", c->cfg->my_ip);
    if (os_rz_mig_save(&r, "pre-migrating", err) < 0 || os_rz_set_context(&r, err) < 0 ||
        mg_cast(&r, src, "resize_instance",
                json_pack("{s:O, s:O, s:O, s:O, s:b, s:O}", "instance", r.i->prim, "migration",
                          r.mig, "image",
                          json_object_get(req->msg->args, "image")
                              ? json_object_get(req->msg->args, "image") : json_null(),
                          "flavor", flavor, "clean_shutdown",
                          !json_is_false(json_object_get(req->msg->args, "clean_shutdown")),
                          "request_spec",
                          json_object_get(req->msg->args, "request_spec")
                              ? json_object_get(req->msg->args, "request_spec") : json_null()),
                err) < 0) {
        os_compute_engine_forget(c, os_inst_uuid(r.i));
        os_compute_record_deleted(c, os_inst_uuid(r.i));
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    /* the tracker counts the incoming flavor here from now on, until the
     * instance is here or its move is over (compute_migrate_claims.c) */
    os_compute_track_inst(c, r.i);
    os_compute_move_claim_note(c, os_inst_uuid(r.i));
    os_inst_event_finish(r.i, event, NULL);
    int64_t new_id = 0;
    ovo_get_int(flavor, "id", &new_id);
    os_compute_notify(c, r.i, "resize.prep.end",
                      json_pack("{s:s?, s:I}", "new_instance_type", ovo_get_str(flavor, "name"),
                                "new_instance_type_id", (json_int_t)new_id));
    char res[160];
    log_info("migration %s from %s admitted here: %s", ovo_get_str(r.mig, "uuid"), src,
             drv_res_format(shape.res, res, sizeof(res)));
    os_rz_release(&r);
    return 0;
}

/* ---- resize_instance on the source ---- */

int os_compute_resize_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_rz r;
    int go = mg_open(&r, req, "pre-migrating", err);
    if (go <= 0)
        return go;
    struct os_compute *c = r.c;
    const char *event = "compute_resize_instance";
    const char *dest = ovo_get_str(r.mig, "dest_compute");
    /* where the disks go: the address the destination gave (its my_ip,
     * prep_resize), as Nova's migrate_disk_and_power_off takes dest_host */
    const char *dest_addr = ovo_get_str(r.mig, "dest_host");
    if (!dest_addr || !*dest_addr)
        dest_addr = dest;
    const char *uuid = os_inst_uuid(r.i);
    os_inst_event_start(r.i, event);
    struct drv_hv_info info;
    bool was_on = false;
    if (drv_hv_get_info(c->hv, uuid, &info, err) < 0 || os_rz_mig_save(&r, "migrating", err) < 0) {
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    was_on = info.state == DRV_POWER_RUNNING || info.state == DRV_POWER_PAUSED;
    os_inst_set_str(r.i, "task_state", "resize_migrating");
    if (os_rz_save(&r, "resize_prep", err) < 0) {
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    os_compute_notify(c, r.i, "resize.start", os_compute_notify_nw(r.i));
    autofree char *disk_info = NULL;
    bool clean = !json_is_false(json_object_get(req->msg->args, "clean_shutdown"));
    /* this host's record of the leg (os_compute_migrate_intents_recover) */
    int64_t intent = os_compute_intent_migrate_begin(c, r.i, NULL, OS_MIG_STEP_OUT);
    int rc = drv_hv_migrate_out(c->hv, uuid, dest_addr, clean ? os_compute_shutdown_timeout(c, r.i) : 0,
                                &disk_info, err);
    if (rc < 0) {
        /* the guest as it was, the resize undone: the instance stays here */
        autoerr struct err *e = NULL;
        if (was_on && os_compute_power_on_booting(c, uuid, &e) < 0 &&
            err_code_of(e) != ERR_CONFLICT)
            log_err(LOG_LEVEL_WARN, e, "guest not started again after a failed migration");
        os_compute_intent_finish(c, intent, false, *err);
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    os_compute_intent_step(c, intent, OS_MIG_STEP_HANDED);
    os_rz_power_state(&r);
    if (os_rz_mig_save(&r, "post-migrating", err) < 0)
        goto fail_after;
    os_inst_set_str(r.i, "host", dest);
    os_inst_set_str(r.i, "node", ovo_get_str(r.mig, "dest_node"));
    os_inst_set_str(r.i, "task_state", "resize_migrated");
    if (os_rz_save(&r, "resize_migrating", err) < 0)
        goto fail_after;
    os_compute_notify(c, r.i, "resize.end", os_compute_notify_nw(r.i));
    json_t *fargs = mg_leg_args(&r, req->msg->args);
    json_object_set(fargs, "image", json_object_get(req->msg->args, "image")
                                        ? json_object_get(req->msg->args, "image")
                                        : json_null());
    json_object_set_new(fargs, "disk_info", json_string(disk_info));
    if (mg_cast(&r, dest, "finish_resize", fargs, err) < 0)
        goto fail_after;
    os_compute_track_inst(c, r.i);
    os_compute_record_state(c, r.i);
    os_compute_intent_finish(c, intent, true, NULL);
    os_inst_event_finish(r.i, event, NULL);
    log_info("guest off, handed to %s (migration %s)", dest, ovo_get_str(r.mig, "uuid"));
    os_rz_release(&r);
    return 0;
fail_after:
    /* the guest is off and maybe Nova has it on its way: an operator's
     * call (the instance in error, its guest kept here) */
    os_compute_intent_finish(c, intent, false, *err);
    os_rz_fail(&r, event, "error", err);
    os_rz_release(&r);
    return -1;
}

/* ---- finish_resize on the destination ---- */

int os_compute_finish_resize(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_rz r;
    int go = mg_open(&r, req, "post-migrating", err);
    if (go <= 0)
        return go;
    struct os_compute *c = r.c;
    const char *event = "compute_finish_resize";
    const char *uuid = os_inst_uuid(r.i);
    json_auto_t *old_copy = NULL;
    json_auto_t *new_copy = NULL;
    int64_t intent = 0;
    bool defined = false; /* migrate_in done: the leg's part is in place */
    os_inst_event_start(r.i, event);
    json_t *newf = ovo_get(r.i->prim, "new_flavor");
    json_t *oldf = ovo_get(r.i->prim, "flavor");
    if (!ovo_is(newf, "Flavor") || !ovo_is(oldf, "Flavor")) {
        err_set(err, ERR_INVALID, "instance %s has no new_flavor to finish its resize with", uuid);
        goto fail;
    }
    struct drv_shape shape;
    if (drv_sculpt_shape(c->engine, uuid, &shape, NULL) < 0) {
        /* a restart since prep_resize lost the admission: again, with the
         * new flavor */
        struct drv_flavor nf;
        memset(&nf, 0, sizeof(nf));
        if (os_flavor_decode(newf, &nf, err) < 0)
            goto fail;
        drv_flavor_release(&r.i->inst->flavor);
        r.i->inst->flavor = nf;
        if (os_compute_engine_place(c, r.i, &shape, err) < 0) {
            err_wrap(err, "instance %s not admitted here again", uuid);
            goto fail;
        }
    }
    old_copy = json_deep_copy(oldf);
    new_copy = json_deep_copy(newf);
    if (os_rz_set_flavor(&r, new_copy, err) < 0)
        goto fail;
    ovo_set(r.i->prim, "old_flavor", json_incref(old_copy));
    os_inst_set_str(r.i, "task_state", "resize_finish");
    if (os_rz_save(&r, "resize_migrated", err) < 0) {
        os_rz_fail(&r, event, NULL, err);
        os_rz_release(&r);
        return -1;
    }
    os_compute_notify(c, r.i, "finish_resize.start", os_compute_notify_nw(r.i));
    bool power_on = !os_rz_was_stopped(&r);
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", uuid);
    spec.name = os_compute_domain_name(r.i);
    spec.display_name = r.i->inst->name ? xstrdup(r.i->inst->name) : NULL;
    spec.project_id = r.i->inst->project_id ? xstrdup(r.i->inst->project_id) : NULL;
    spec.user_id = r.i->inst->user_id ? xstrdup(r.i->inst->user_id) : NULL;
    spec.flavor_name = r.i->inst->flavor.name ? xstrdup(r.i->inst->flavor.name) : NULL;
    spec.shape = shape;
    /* the base image under the disks, in this host's cache (the disks
     * themselves come with disk_info) */
    if (os_compute_build_images(c, r.i, json_object_get(req->msg->args, "image"), req->msg->ctx,
                                &spec, err) < 0) {
        drv_hv_guest_spec_release(&spec);
        goto fail;
    }
    const char *disk_info = json_string_value(json_object_get(req->msg->args, "disk_info"));
    intent = os_compute_intent_migrate_begin(c, r.i, &shape, OS_MIG_STEP_IN);
    int rc = drv_hv_migrate_in(c->hv, &spec, disk_info, power_on, err);
    free(r.i->inst->domain);
    r.i->inst->domain = spec.name ? xstrdup(spec.name) : NULL;
    drv_hv_guest_spec_release(&spec);
    if (rc < 0)
        goto fail;
    defined = true;
    os_compute_intent_step(c, intent, OS_MIG_STEP_DEFINED);
    r.i->inst->shape = shape;
    os_compute_record_instance(c, r.i);
    if (os_rz_mig_save(&r, "finished", err) < 0)
        goto fail;
    os_rz_power_state(&r);
    os_inst_set_str(r.i, "vm_state", "resized");
    os_inst_set_str(r.i, "task_state", NULL);
    os_inst_set_now(r.i, "launched_at");
    if (os_rz_save(&r, "resize_finish", err) < 0) {
        /* the guest is defined here: the leg is done, Nova's record not */
        os_compute_intent_finish(c, intent, true, NULL);
        os_rz_fail(&r, event, NULL, err);
        os_rz_release(&r);
        return -1;
    }
    os_compute_intent_finish(c, intent, true, NULL);
    os_rz_done(&r, event);
    os_compute_notify(c, r.i, "finish_resize.end", os_compute_notify_nw(r.i));
    log_info("migrated in from %s, flavor %s: VERIFY_RESIZE", ovo_get_str(r.mig, "source_compute"),
             r.i->inst->flavor.name ? r.i->inst->flavor.name : "?");
    os_rz_release(&r);
    return 0;
fail:
    os_compute_intent_finish(c, intent, defined, *err);
    os_rz_fail(&r, event, "error", err);
    os_rz_release(&r);
    return -1;
}

/* ---- confirm_resize on the source ---- */

int os_compute_migrate_confirm(struct os_rz *r, struct err **err)
{
    /* driver.confirm_migration: what stayed here goes, and with it the
     * room the engine kept for a revert */
    if (os_compute_move_release(r->c, os_inst_uuid(r->i), false, err) < 0)
        return -1;
    log_info("migration %s to %s confirmed: the guest here destroyed", ovo_get_str(r->mig, "uuid"),
             ovo_get_str(r->mig, "dest_compute"));
    return 0;
}

/* ---- revert_resize on the destination, finish_revert_resize on the source ---- */

int os_compute_migrate_revert(struct os_rz *r, struct err **err)
{
    const char *src = ovo_get_str(r->mig, "source_compute");
    /* driver.destroy of the guest here; the tracker drops the move claim */
    if (os_compute_move_release(r->c, os_inst_uuid(r->i), true, err) < 0)
        return -1;
    if (os_rz_mig_save(r, "reverted", err) < 0)
        return -1;
    if (os_rz_save(r, "resize_reverting", err) < 0)
        return -1;
    json_t *args = json_pack("{s:O, s:O, s:n}", "instance", r->i->prim, "migration", r->mig,
                             "request_spec");
    if (mg_cast(r, src, "finish_revert_resize", args, err) < 0)
        return -1;
    log_info("migration %s reverted here: finishing on %s", ovo_get_str(r->mig, "uuid"), src);
    return 0;
}

int os_compute_finish_revert_resize(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_rz r;
    int go = mg_open(&r, req, "reverted", err);
    if (go <= 0)
        return go;
    struct os_compute *c = r.c;
    const char *event = "compute_finish_revert_resize";
    const char *uuid = os_inst_uuid(r.i);
    json_auto_t *old_copy = NULL;
    os_inst_event_start(r.i, event);
    json_t *oldf = ovo_get(r.i->prim, "old_flavor");
    if (!ovo_is(oldf, "Flavor")) {
        err_set(err, ERR_INVALID, "instance %s has no old_flavor to revert to", uuid);
        goto fail;
    }
    old_copy = json_deep_copy(oldf);
    bool power_on = !os_rz_was_stopped(&r);
    if (os_rz_set_flavor(&r, old_copy, err) < 0)
        goto fail;
    ovo_set(r.i->prim, "old_flavor", json_null());
    ovo_set(r.i->prim, "new_flavor", json_null());
    os_inst_set_str(r.i, "host", ovo_get_str(r.mig, "source_compute"));
    os_inst_set_str(r.i, "node", ovo_get_str(r.mig, "source_node"));
    if (os_rz_save(&r, "resize_reverting", err) < 0) {
        os_rz_fail(&r, event, NULL, err);
        os_rz_release(&r);
        return -1;
    }
    if (c->placement) {
        autoerr struct err *e = NULL;
        if (os_placement_move_allocations(c->placement, ovo_get_str(r.mig, "uuid"), uuid, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "allocations of migration %s not moved back",
                    ovo_get_str(r.mig, "uuid"));
    }
    /* driver.finish_revert_migration: the guest the engine held all along */
    if (power_on && drv_hv_power_on(c->hv, uuid, err) < 0) {
        if (err_code_of(*err) != ERR_CONFLICT) /* running already: a request done again */
            goto fail;
        err_clear(err);
    } else if (power_on) {
        os_compute_engine_booting(c, uuid);
    }
    os_inst_set_now(r.i, "launched_at");
    os_rz_power_state(&r);
    os_rz_old_vm_state(&r, NULL);
    os_inst_set_str(r.i, "vm_state", power_on ? "active" : "stopped");
    os_inst_set_str(r.i, "task_state", NULL);
    if (os_rz_save(&r, "resize_reverting", err) < 0) {
        os_rz_fail(&r, event, NULL, err);
        os_rz_release(&r);
        return -1;
    }
    os_rz_done(&r, event);
    os_compute_notify(r.c, r.i, "resize.revert.end", NULL);
    log_info("migration %s reverted: back on flavor %s", ovo_get_str(r.mig, "uuid"),
             r.i->inst->flavor.name ? r.i->inst->flavor.name : "?");
    os_rz_release(&r);
    return 0;
fail:
    os_rz_fail(&r, event, "error", err);
    os_rz_release(&r);
    return -1;
}

/* ---- after a restart ---- */

/* The guest of the instance on this host, off or on. */
static bool mg_guest_here(struct os_rz *r)
{
    struct drv_hv_info info;
    return drv_hv_get_info(r->c->hv, os_inst_uuid(r->i), &info, NULL) == 0;
}

/* The source's guest on again, unless it was stopped before the move. */
static void mg_source_power_on(struct os_rz *r)
{
    if (os_rz_was_stopped(r))
        return;
    autoerr struct err *e = NULL;
    if (os_compute_power_on_booting(r->c, os_inst_uuid(r->i), &e) < 0 &&
        err_code_of(e) != ERR_CONFLICT)
        log_err(LOG_LEVEL_WARN, e, "guest not started again");
}

/* The destination gives the move up and the source takes the instance back,
 * as a revert does (finish_revert_resize), the migration `reverted`. */
static int mg_give_back(struct os_rz *r, struct err **err)
{
    if (!ovo_is(ovo_get(r->i->prim, "old_flavor"), "Flavor"))
        ovo_set(r->i->prim, "old_flavor", json_deep_copy(ovo_get(r->i->prim, "flavor")));
    os_inst_set_str(r->i, "task_state", "resize_reverting");
    if (os_rz_save(r, NULL, err) < 0)
        return -1;
    return os_compute_migrate_revert(r, err);
}

int os_compute_migrate_recover(struct os_rz *r, const char *task)
{
    struct os_compute *c = r->c;
    const char *uuid = os_inst_uuid(r->i);
    bool source = strcmp(ovo_get_str(r->mig, "source_compute"), c->host) == 0;
    autoerr struct err *e = NULL;
    int rc = 0;
    if (source && (strcmp(task, "resize_prep") == 0 || strcmp(task, "resize_migrating") == 0)) {
        /* the guest did not leave: on again if it was, the move undone
         * (the destination's admission is its own to drop) */
        mg_source_power_on(r);
        err_set(&e, ERR_UNAVAILABLE, "migration interrupted by a restart of sculpt-compute on %s: "
                                     "the instance stays here", c->host);
        os_rz_prep_fail(r, &e);
        log_info("interrupted migration of %s rolled back on its source", uuid);
        return 1;
    }
    if (source && strcmp(task, "resize_reverting") == 0) {
        /* finish_revert_resize interrupted: the guest is here, off */
        mg_source_power_on(r);
        return 0; /* the same-host revert's recovery finishes it */
    }
    if (!source && (strcmp(task, "resize_migrated") == 0 ||
                    (strcmp(task, "resize_finish") == 0 && !mg_guest_here(r)) ||
                    strcmp(task, "resize_reverting") == 0)) {
        /* the guest never came up here (or is being given back): the
         * source, which kept it, takes the instance back */
        rc = mg_give_back(r, &e);
        if (rc < 0)
            log_err(LOG_LEVEL_WARN, e, "interrupted migration of %s not given back to %s", uuid,
                    ovo_get_str(r->mig, "source_compute"));
        else
            log_info("interrupted migration of %s given back to %s", uuid,
                     ovo_get_str(r->mig, "source_compute"));
        return 1;
    }
    return 0; /* resize_finish with its guest here: finished as on one host */
}
