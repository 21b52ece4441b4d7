/* A Nova resize, done live on this host: the running guest is re-sculpted
 * in place rather than rebuilt.  The protocol is Nova's (protocol.md 7,
 * nova/compute/manager.py): prep_resize on the destination, resize_instance
 * on the source, finish_resize on the destination; confirm_resize on the
 * source; revert_resize on the destination, finish_revert_resize on the
 * source.  Source and destination are this host (allow_resize_to_same_host),
 * so prep_resize runs the three legs one after the other and revert_resize
 * the two of a revert, each leg with its own instance action event and the
 * migration and instance states Nova's legs save.  resize_instance,
 * finish_resize and finish_revert_resize themselves, which only another
 * compute would send, stay unsupported (compute_rpc.c).  A request
 * RabbitMQ delivers again after a restart finds its migration moved on and
 * is ignored.
 *
 * What the guest goes through: the engine admits the new flavor's blueprint
 * as it would a build (a refusal fails the resize in prep_resize, before
 * anything changed: the instance stays ACTIVE on its old flavor, with a
 * fault, the migration in error and the allocations put back); the guest
 * is then reshaped live to the engine's shape -- vCPUs hot-plugged up to
 * its defined maximum, balloon, CPU quota, pinning.  A new flavor beyond
 * the maxima the domain is defined with cannot be had live: the guest is
 * redefined with the new maxima and restarted (a cold resize, as every
 * resize under Nova's libvirt driver is), and says so in the log.  Revert
 * reshapes back live (the maxima stay as they are). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_group_policy.h"
#include "openstack/compute_live_priv.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_resize_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"

LOG_INIT("openstack.compute_resize");

void os_rz_release(struct os_rz *r)
{
    if (!r->borrowed)
        os_inst_free(r->i);
    json_decref(r->mig);
}

int os_rz_open(struct os_rz *r, struct os_rpc_req *req, struct err **err)
{
    memset(r, 0, sizeof(*r));
    r->c = req->opaque;
    json_t *mig = json_object_get(req->msg->args, "migration");
    if (!ovo_is(mig, "Migration"))
        return err_set(err, ERR_INVALID, "`%s` needs a Migration", req->msg->method);
    if (!ovo_get_str(mig, "uuid"))
        return err_set(err, ERR_INVALID, "`%s`: the migration has no uuid", req->msg->method);
    r->i = os_compute_req_inst(r->c, req, err);
    if (!r->i)
        return -1;
    r->mig = json_deep_copy(mig);
    ovo_clear_changes(r->mig);
    return 0;
}

/* The migration's status as Nova has it now (Migration.get_by_id): a
 * request RabbitMQ delivers again after a restart carries the status it
 * was sent with, and the restart may have moved the resize on since.
 * NULL with *err; caller frees. */
static char *os_rz_status_now(struct os_rz *r, struct err **err)
{
    int64_t id = 0;
    if (!ovo_get_int(r->mig, "id", &id))
        return err_set(err, ERR_INVALID, "the migration has no id"), NULL;
    json_auto_t *m = os_conductor_class_action(&r->c->conductor, r->i->ctx, "Migration",
                                               "get_by_id", json_pack("[I]", (json_int_t)id),
                                               NULL, NULL, err);
    if (!m)
        return NULL;
    const char *st = ovo_get_str(m, "status");
    return xstrdup(st ? st : "");
}

/* Whether the request finds its migration in one of `want` (a
 * NULL-terminated list); when not, it is stale (logged) and is done with
 * nothing changed.  A status that cannot be read lets it go on. */
bool os_rz_current(struct os_rz *r, const char *method, const char *const *want)
{
    autoerr struct err *e = NULL;
    autofree char *st = os_rz_status_now(r, &e);
    if (!st) {
        log_err(LOG_LEVEL_WARN, e, "migration status not read again: going on");
        return true;
    }
    for (const char *const *w = want; *w; w++)
        if (strcmp(st, *w) == 0)
            return true;
    log_warn("%s for migration %s ignored: it is `%s` now (a request delivered again after a "
             "restart)", method, ovo_get_str(r->mig, "uuid"), st);
    return false;
}

/* Migration.save of a new status (and what else was set). */
int os_rz_mig_save(struct os_rz *r, const char *status, struct err **err)
{
    if (status)
        ovo_set_str(r->mig, "status", status);
    json_t *res = os_conductor_object_action(&r->c->conductor, r->i->ctx, r->mig, "save",
                                             NULL, NULL, NULL, err);
    if (!res)
        return err_wrap(err, "migration not saved as `%s`", status ? status : "");
    json_decref(res);
    return 0;
}

/* errors_out_migration: logged, not returned (the failure is the error). */
void os_rz_mig_error(struct os_rz *r)
{
    autoerr struct err *e = NULL;
    if (os_rz_mig_save(r, "error", &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "migration not set to error");
}

int os_rz_save(struct os_rz *r, const char *expected, struct err **err)
{
    const char *const list[] = {expected, NULL};
    return os_inst_save(r->i, expected ? list : NULL, NULL, err);
}

/* old_vm_state in system_metadata: set (prep) or removed (NULL). */
void os_rz_old_vm_state(struct os_rz *r, const char *v)
{
    json_t *sm = ovo_get(r->i->prim, "system_metadata");
    json_t *nsm = json_is_object(sm) ? json_deep_copy(sm) : json_object();
    if (v)
        json_object_set_new(nsm, "old_vm_state", json_string(v));
    else
        json_object_del(nsm, "old_vm_state");
    ovo_set(r->i->prim, "system_metadata", nsm);
}

bool os_rz_was_stopped(const struct os_rz *r)
{
    json_t *sm = ovo_get(r->i->prim, "system_metadata");
    const char *vm = json_string_value(json_object_get(sm, "old_vm_state"));
    return vm && strcmp(vm, "stopped") == 0;
}

int os_rz_prep_record(struct os_rz *r, const json_t *flavor, struct err **err)
{
    ovo_set(r->i->prim, "new_flavor", json_deep_copy(flavor));
    const char *vm = os_inst_vm_state(r->i);
    os_rz_old_vm_state(r, vm ? vm : "active");
    return os_rz_save(r, NULL, err);
}

/* _set_instance_info: the instance's flavor fields become `flavor`'s, and
 * the decoded copy follows. */
int os_rz_set_flavor(struct os_rz *r, const json_t *flavor, struct err **err)
{
    struct drv_flavor f;
    memset(&f, 0, sizeof(f));
    if (os_flavor_decode(flavor, &f, err) < 0)
        return -1;
    int64_t id = 0;
    if (ovo_get_int(flavor, "id", &id))
        ovo_set_int(r->i->prim, "instance_type_id", id);
    ovo_set_int(r->i->prim, "memory_mb", f.memory_mb);
    ovo_set_int(r->i->prim, "vcpus", f.vcpus);
    ovo_set_int(r->i->prim, "root_gb", f.root_gb);
    ovo_set_int(r->i->prim, "ephemeral_gb", f.ephemeral_gb);
    ovo_set(r->i->prim, "flavor", json_deep_copy(flavor));
    drv_flavor_release(&r->i->inst->flavor);
    r->i->inst->flavor = f;
    return 0;
}

/* The engine admits the instance with `flavor` in place of its present
 * one (the guest's defined maxima kept): *shape is the shape to reshape to.
 * ERR_CAPACITY (the engine's reason) when refused; the engine then holds
 * the guest as before. */
static int rz_admit(struct os_rz *r, const json_t *flavor, struct drv_shape *shape,
                    struct err **err)
{
    struct os_compute *c = r->c;
    struct drv_instance *inst = r->i->inst;
    struct drv_shape cur;
    if (drv_sculpt_shape(c->engine, inst->uuid, &cur, err) < 0)
        return err_wrap(err, "instance %s is not held by the engine", inst->uuid);
    autoptr(drv_instance) was = drv_instance_dup(inst);
    autoptr(drv_instance) now = drv_instance_dup(inst);
    was->vcpus_defined = now->vcpus_defined = cur.vcpus_max;
    was->mem_defined_mib = now->mem_defined_mib = cur.mem_max_mib;
    drv_flavor_release(&now->flavor);
    memset(&now->flavor, 0, sizeof(now->flavor));
    if (os_flavor_decode(flavor, &now->flavor, err) < 0)
        return -1;
    /* idle pool members give their room to a real guest's new flavor as to
     * a build (Placement does not count it: compute_presculpt.c), and an
     * operator's blueprint for the new class applies as at a build */
    autofree char *custom = NULL;
    if (os_compute_engine_reclass(c, was, now, "resize", shape, &custom, err) < 0)
        return err_wrap(err, "flavor `%s` not admitted", now->flavor.name ? now->flavor.name : "?");
    char res[160];
    log_info("flavor %s admitted: %s (%s)", now->flavor.name ? now->flavor.name : "?",
             drv_res_format(shape->res, res, sizeof(res)),
             custom ? custom : "a cold-start blueprint for its class");
    return 0;
}

/* The guest to `shape` under a reshape intent: live when the domain's
 * maxima hold it, else redefined and restarted.  *cold says which. */
static int rz_apply(struct os_rz *r, const struct drv_shape *shape, bool *cold, struct err **err)
{
    struct os_compute *c = r->c;
    const char *uuid = os_inst_uuid(r->i);
    struct drv_hv_info info;
    if (drv_hv_get_info(c->hv, uuid, &info, err) < 0)
        return -1;
    *cold = info.shape.vcpus_max != shape->vcpus_max ||
            info.shape.mem_max_mib < shape->mem_max_mib - 0.5 ||
            info.shape.mem_max_mib > shape->mem_max_mib + 0.5;
    bool running = info.state == DRV_POWER_RUNNING || info.state == DRV_POWER_PAUSED;
    struct drv_shape from; /* a roll-back asks the guest for what it was asked */
    drv_hv_info_asked(&info, &from);
    int64_t intent = os_compute_intent_reshape_begin(c, r->i, &from, shape);
    struct drv_hv_reshape_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc;
    /* a change the control loop computed before the admission lands
     * before this reshape or not at all */
    drv_control_apply_lock(c->control);
    if (*cold) {
        log_warn("the flavor asks %d vCPUs / %.0f MiB at most, the domain is defined with %d / "
                 "%.0f: redefined%s",
                 shape->vcpus_max, shape->mem_max_mib, info.shape.vcpus_max,
                 info.shape.mem_max_mib, running ? " and restarted" : " (it is off)");
        rc = drv_hv_resize_cold(c->hv, uuid, shape, err);
    } else {
        rc = drv_hv_reshape(c->hv, uuid, shape, &rep, err);
    }
    drv_control_apply_unlock(c->control);
    if (rc == 0)
        os_compute_intent_test_pause("resize", intent, uuid, 0, 0);
    os_compute_intent_finish(c, intent, rc == 0, rc < 0 ? *err : NULL);
    if (rc < 0)
        return -1;
    r->i->inst->shape = *shape;
    /* the row names the guest's domain as the hypervisor does (a request's
     * instance does not say; a handed-over member keeps its own name) */
    free(r->i->inst->domain);
    r->i->inst->domain = xstrdup(info.name);
    os_compute_record_instance(c, r->i);
    char res[160];
    log_info("reshaped %s to %d vCPUs %s (%s, %d calls)", *cold ? "cold" : "live",
             shape->vcpus_online, drv_res_format(shape->res, res, sizeof(res)),
             !running ? "off: taken at its next start" : *cold ? "restarted" : "not restarted",
             rep.calls);
    return 0;
}

/* A prep_resize that fails after the engine admitted the new flavor,
 * before the guest was touched: the engine holds the instance's own flavor
 * again and the guest takes the shape it gives.  Logged, not returned. */
static void rz_unadmit(struct os_rz *r)
{
    json_t *flavor = ovo_get(r->i->prim, "flavor");
    struct drv_shape shape;
    bool cold = false;
    autoerr struct err *e = NULL;
    if (!ovo_is(flavor, "Flavor"))
        err_set(&e, ERR_INVALID, "the instance has no flavor");
    else if (rz_admit(r, flavor, &shape, &e) == 0 && rz_apply(r, &shape, &cold, &e) == 0)
        return;
    log_err(LOG_LEVEL_ERROR, e, "the engine keeps the new flavor of a failed resize");
}

/* Instance.drop_migration_context. */
int os_rz_drop_context(struct os_rz *r, struct err **err)
{
    json_t *res = os_conductor_object_action(&r->c->conductor, r->i->ctx, r->i->prim,
                                             "drop_migration_context", NULL, NULL, NULL, err);
    if (!res)
        return err_wrap(err, "migration context not dropped");
    json_decref(res);
    return 0;
}

/* The resource tracker's move claim (resize_claim): the instance's
 * migration_context names the migration, which Nova's API reads to send an
 * external event (network-vif-plugged, volume-extended...) to both ends of
 * a move.  sculpt claims no NUMA cell, PCI device or resource of Nova's
 * (the engine places the guest), so the old and new ones are null.
 * Dropped by confirm and revert (Instance.drop_migration_context). */
int os_rz_set_context(struct os_rz *r, struct err **err)
{
    int64_t mid = 0;
    if (!ovo_get_int(r->mig, "id", &mid))
        return err_set(err, ERR_INVALID, "migration %s has no id", ovo_get_str(r->mig, "uuid"));
    json_t *mc = ovo_new("MigrationContext");
    ovo_set_str(mc, "instance_uuid", os_inst_uuid(r->i));
    ovo_set_int(mc, "migration_id", mid);
    static const char *const none[] = {"new_numa_topology", "old_numa_topology",
                                       "new_pci_devices",   "old_pci_devices",
                                       "new_pci_requests",  "old_pci_requests",
                                       "new_resources",     "old_resources"};
    for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++)
        ovo_set(mc, none[k], json_null());
    ovo_set(r->i->prim, "migration_context", mc);
    return os_rz_save(r, NULL, err) < 0 ? err_wrap(err, "migration context not saved") : 0;
}

/* A leg done: the tracker, the database and the action event told. */
void os_rz_done(struct os_rz *r, const char *event)
{
    os_compute_track_inst(r->c, r->i);
    os_compute_record_state(r->c, r->i);
    os_inst_event_finish(r->i, event, NULL);
}

/* The guest's power state now. */
void os_rz_power_state(struct os_rz *r)
{
    struct drv_hv_info info;
    autoerr struct err *e = NULL;
    if (drv_hv_get_info(r->c->hv, os_inst_uuid(r->i), &info, &e) == 0)
        os_inst_set_int(r->i, "power_state", info.state);
}

/* A leg failed: fault, task state reverted (vm_state `vm_state` when not
 * NULL), event failed, migration in error. */
int os_rz_fail(struct os_rz *r, const char *event, const char *vm_state, struct err **err)
{
    if (vm_state)
        os_inst_set_str(r->i, "vm_state", vm_state);
    os_compute_fail_op(r->c, r->i, event, *err);
    os_rz_mig_error(r);
    return -1;
}

/* ---- resize: prep_resize, resize_instance, finish_resize ---- */

/* resize_instance's part on the source: nothing to power off or copy, the
 * guest stays where it runs. */
static int rz_leg_migrate(struct os_rz *r, struct err **err)
{
    const char *event = "compute_resize_instance";
    os_inst_event_start(r->i, event);
    if (os_rz_mig_save(r, "migrating", err) < 0)
        return os_rz_fail(r, event, "error", err);
    os_inst_set_str(r->i, "task_state", "resize_migrating");
    if (os_rz_save(r, "resize_prep", err) < 0)
        return os_rz_fail(r, event, NULL, err);
    os_compute_notify(r->c, r->i, "resize.start", os_compute_notify_nw(r->i));
    if (os_rz_mig_save(r, "post-migrating", err) < 0)
        return os_rz_fail(r, event, "error", err);
    os_inst_set_str(r->i, "host", ovo_get_str(r->mig, "dest_compute"));
    os_inst_set_str(r->i, "node", ovo_get_str(r->mig, "dest_node"));
    os_inst_set_str(r->i, "task_state", "resize_migrated");
    if (os_rz_save(r, "resize_migrating", err) < 0)
        return os_rz_fail(r, event, NULL, err);
    os_inst_event_finish(r->i, event, NULL);
    os_compute_notify(r->c, r->i, "resize.end", os_compute_notify_nw(r->i));
    return 0;
}

/* finish_resize's part on the destination: the new flavor is the
 * instance's and the guest is reshaped to the engine's shape for it. */
static int rz_leg_finish(struct os_rz *r, struct err **err)
{
    struct os_compute *c = r->c;
    const char *event = "compute_finish_resize";
    os_inst_event_start(r->i, event);
    json_t *newf = ovo_get(r->i->prim, "new_flavor");
    json_t *oldf = ovo_get(r->i->prim, "flavor");
    if (!ovo_is(newf, "Flavor") || !ovo_is(oldf, "Flavor")) {
        err_set(err, ERR_INVALID, "instance %s has no new_flavor to finish its resize with",
                os_inst_uuid(r->i));
        return os_rz_fail(r, event, "error", err);
    }
    json_auto_t *old_copy = json_deep_copy(oldf);
    json_auto_t *new_copy = json_deep_copy(newf);
    if (os_rz_set_flavor(r, new_copy, err) < 0)
        return os_rz_fail(r, event, "error", err);
    ovo_set(r->i->prim, "old_flavor", json_incref(old_copy));
    os_inst_set_str(r->i, "task_state", "resize_finish");
    if (os_rz_save(r, "resize_migrated", err) < 0)
        return os_rz_fail(r, event, NULL, err);
    os_compute_notify(c, r->i, "finish_resize.start", os_compute_notify_nw(r->i));
    struct drv_shape shape;
    bool cold = false;
    if (drv_sculpt_shape(c->engine, os_inst_uuid(r->i), &shape, err) < 0 ||
        rz_apply(r, &shape, &cold, err) < 0)
        return os_rz_fail(r, event, "error", err);
    if (os_rz_mig_save(r, "finished", err) < 0)
        return os_rz_fail(r, event, "error", err);
    os_rz_power_state(r);
    os_inst_set_str(r->i, "vm_state", "resized");
    os_inst_set_str(r->i, "task_state", NULL);
    os_inst_set_now(r->i, "launched_at");
    if (os_rz_save(r, "resize_finish", err) < 0)
        return os_rz_fail(r, event, NULL, err);
    os_rz_done(r, event);
    os_compute_notify(c, r->i, "finish_resize.end", os_compute_notify_nw(r->i));
    log_info("resized %s to flavor %s: VERIFY_RESIZE", cold ? "cold" : "live",
             r->i->inst->flavor.name ? r->i->inst->flavor.name : "?");
    return 0;
}

/* A prep_resize refused before anything changed: the allocations the
 * conductor and the scheduler made for the resize are put back (the
 * migration's to the instance, as _revert_allocation), the instance stays
 * on its flavor, ACTIVE. */
int os_rz_prep_fail(struct os_rz *r, struct err **err)
{
    if (r->c->placement) {
        autoerr struct err *e = NULL;
        if (os_placement_move_allocations(r->c->placement, ovo_get_str(r->mig, "uuid"),
                                          os_inst_uuid(r->i), &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "allocations of the refused resize not put back");
    }
    os_inst_set_str(r->i, "new_flavor", NULL);
    os_rz_old_vm_state(r, NULL);
    os_compute_notify_error(r->c, r->i, "resize.error", NULL, *err);
    return os_rz_fail(r, "compute_prep_resize", NULL, err);
}

int os_compute_prep_resize(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *self = req->opaque;
    const char *from = ovo_get_str(json_object_get(req->msg->args, "instance"), "host");
    if (from && strcmp(from, self->host) != 0)
        return os_compute_migrate_prep(req, err); /* the instance comes from another host */
    struct os_rz r;
    if (os_rz_open(&r, req, err) < 0) {
        os_rz_release(&r);
        return -1;
    }
    struct os_compute *c = r.c;
    const char *event = "compute_prep_resize";
    const char *const fresh[] = {"pre-migrating", NULL};
    if (!os_rz_current(&r, "prep_resize", fresh)) {
        os_rz_release(&r);
        return 0;
    }
    os_inst_event_start(r.i, event);
    json_t *flavor = json_object_get(req->msg->args, "flavor");
    /* the usage under the old flavor, then the start (Zed's
     * _send_prep_resize_notifications) */
    os_compute_notify_exists(c, r.i, NULL, NULL);
    os_compute_notify(c, r.i, "resize.prep.start", NULL);
    const char *ihost = ovo_get_str(r.i->prim, "host");
    const char *type = ovo_get_str(r.mig, "migration_type");
    int64_t old_id = 0, new_id = -1;
    ovo_get_int(r.mig, "old_instance_type_id", &old_id);
    ovo_get_int(flavor, "id", &new_id);
    int rc = -1;
    if (!ovo_is(flavor, "Flavor"))
        err_set(err, ERR_INVALID, "prep_resize needs a Flavor");
    else if (!ihost || strcmp(ihost, c->host) != 0)
        err_set(err, ERR_UNSUPPORTED, "sculpt-compute resizes on the instance's own host only: "
                "%s runs on `%s`, not `%s`", os_inst_uuid(r.i), ihost ? ihost : "", c->host);
    else if ((type && strcmp(type, "resize") != 0) || old_id == new_id)
        err_set(err, ERR_UNSUPPORTED, "sculpt-compute cannot migrate %s to itself (a resize "
                "to another flavor can be done in place)", os_inst_uuid(r.i));
    else if (os_compute_group_policy_check(c, req->msg->ctx, os_inst_uuid(r.i), req->msg->args,
                                           false, err) == 0)
        rc = 0;
    if (rc < 0) {
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    struct drv_shape shape;
    if (os_rz_prep_record(&r, flavor, err) < 0 || rz_admit(&r, flavor, &shape, err) < 0) {
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    ovo_set_str(r.mig, "dest_compute", c->host);
    ovo_set_str(r.mig, "dest_node", c->node);
    ovo_set_str(r.mig, "dest_host", c->cfg->my_ip);
    if (os_rz_mig_save(&r, "pre-migrating", err) < 0 || os_rz_set_context(&r, err) < 0) {
        rz_unadmit(&r);
        os_rz_prep_fail(&r, err);
        os_rz_release(&r);
        return -1;
    }
    os_inst_event_finish(r.i, event, NULL);
    os_compute_notify(c, r.i, "resize.prep.end",
                      json_pack("{s:s?, s:I}", "new_instance_type", ovo_get_str(flavor, "name"),
                                "new_instance_type_id", (json_int_t)new_id));
    rc = rz_leg_migrate(&r, err);
    if (rc == 0)
        rc = rz_leg_finish(&r, err);
    os_rz_release(&r);
    return rc;
}

/* ---- confirm ---- */

/* The resize stands: the migration is confirmed, the instance ACTIVE (or
 * STOPPED) on its new flavor, and the migration's allocations (the old
 * flavor's) go.  The guest already has its new shape. */
int os_compute_confirm_resize(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_rz r;
    if (os_rz_open(&r, req, err) < 0) {
        os_rz_release(&r);
        return -1;
    }
    struct os_compute *c = r.c;
    const char *event = "compute_confirm_resize";
    const char *const fresh[] = {"finished", "confirming", "confirmed", NULL};
    if (!os_rz_current(&r, "confirm_resize", fresh)) {
        os_rz_release(&r);
        return 0;
    }
    os_inst_event_start(r.i, event);
    const char *status = ovo_get_str(r.mig, "status");
    if (status && strcmp(status, "confirmed") == 0) {
        log_info("migration %s confirmed already", ovo_get_str(r.mig, "uuid"));
        os_inst_event_finish(r.i, event, NULL);
        os_rz_release(&r);
        return 0;
    }
    if (!status || (strcmp(status, "finished") != 0 && strcmp(status, "confirming") != 0)) {
        err_set(err, ERR_CONFLICT, "migration %s is `%s`, not finished: nothing to confirm",
                ovo_get_str(r.mig, "uuid"), status ? status : "");
        os_inst_fault(r.i, *err);
        os_inst_event_finish(r.i, event, *err);
        os_rz_release(&r);
        return -1;
    }
    os_compute_notify(c, r.i, "resize.confirm.start", NULL);
    /* moved to another host: the guest here goes first (confirm_migration) */
    bool moved = os_compute_migration_moves(r.mig);
    int rc = moved ? os_compute_migrate_confirm(&r, err) : 0;
    if (rc == 0)
        rc = os_rz_mig_save(&r, "confirmed", err);
    if (rc == 0)
        rc = os_rz_drop_context(&r, err);
    if (rc == 0) {
        if (!moved) /* else the power state the destination saved */
            os_rz_power_state(&r);
        int64_t ps = 0;
        ovo_get_int(r.i->prim, "power_state", &ps);
        os_inst_set_str(r.i, "vm_state", ps == DRV_POWER_SHUTDOWN ? "stopped" : "active");
        os_inst_set_str(r.i, "task_state", NULL);
        const char *const expected[] = {OS_TASK_NONE, "deleting", "soft-deleting", NULL};
        rc = os_inst_save(r.i, expected, NULL, err);
    }
    if (rc == 0) {
        ovo_set(r.i->prim, "old_flavor", json_null());
        ovo_set(r.i->prim, "new_flavor", json_null());
        os_rz_old_vm_state(&r, NULL);
        rc = os_rz_save(&r, NULL, err);
    }
    if (rc < 0) {
        /* no reverts_task_state on confirm: fault, event, migration */
        os_inst_fault(r.i, *err);
        os_inst_event_finish(r.i, event, *err);
        os_rz_mig_error(&r);
        os_rz_release(&r);
        return -1;
    }
    if (c->placement) {
        autoerr struct err *e = NULL;
        if (os_placement_clear_allocations(c->placement, ovo_get_str(r.mig, "uuid"), &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "allocations of migration %s not released",
                    ovo_get_str(r.mig, "uuid"));
    }
    if (moved)
        os_inst_event_finish(r.i, event, NULL);
    else
        os_rz_done(&r, event);
    os_compute_notify(c, r.i, "resize.confirm.end", os_compute_notify_nw(r.i));
    log_info("resize to %s confirmed", r.i->inst->flavor.name ? r.i->inst->flavor.name : "?");
    os_rz_release(&r);
    return 0;
}

/* ---- revert: revert_resize, finish_revert_resize ---- */

/* finish_revert_resize's part: the old flavor is the instance's again, the
 * engine admits it (the new one's reservation given back) and the guest is
 * reshaped back live; the migration's allocations return to the instance. */
static int rz_leg_finish_revert(struct os_rz *r, struct err **err)
{
    struct os_compute *c = r->c;
    const char *event = "compute_finish_revert_resize";
    os_inst_event_start(r->i, event);
    json_t *oldf = ovo_get(r->i->prim, "old_flavor");
    if (!ovo_is(oldf, "Flavor")) {
        err_set(err, ERR_INVALID, "instance %s has no old_flavor to revert to",
                os_inst_uuid(r->i));
        return os_rz_fail(r, event, "error", err);
    }
    json_auto_t *old_copy = json_deep_copy(oldf);
    bool power_on = !os_rz_was_stopped(r);
    struct drv_shape shape;
    bool cold = false;
    if (rz_admit(r, old_copy, &shape, err) < 0)
        return os_rz_fail(r, event, "error", err);
    if (os_rz_set_flavor(r, old_copy, err) < 0)
        return os_rz_fail(r, event, "error", err);
    ovo_set(r->i->prim, "old_flavor", json_null());
    ovo_set(r->i->prim, "new_flavor", json_null());
    os_inst_set_str(r->i, "host", ovo_get_str(r->mig, "source_compute"));
    os_inst_set_str(r->i, "node", ovo_get_str(r->mig, "source_node"));
    if (os_rz_save(r, "resize_reverting", err) < 0)
        return os_rz_fail(r, event, NULL, err);
    if (c->placement) {
        autoerr struct err *e = NULL;
        if (os_placement_move_allocations(c->placement, ovo_get_str(r->mig, "uuid"),
                                          os_inst_uuid(r->i), &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "allocations of migration %s not moved back",
                    ovo_get_str(r->mig, "uuid"));
    }
    if (rz_apply(r, &shape, &cold, err) < 0)
        return os_rz_fail(r, event, "error", err);
    if (os_rz_drop_context(r, err) < 0)
        return os_rz_fail(r, event, NULL, err);
    os_inst_set_now(r->i, "launched_at");
    if (os_rz_save(r, "resize_reverting", err) < 0)
        return os_rz_fail(r, event, NULL, err);
    os_rz_power_state(r);
    os_rz_old_vm_state(r, NULL);
    os_inst_set_str(r->i, "vm_state", power_on ? "active" : "stopped");
    os_inst_set_str(r->i, "task_state", NULL);
    if (os_rz_save(r, NULL, err) < 0)
        return os_rz_fail(r, event, NULL, err);
    int64_t ps = DRV_POWER_NOSTATE;
    ovo_get_int(r->i->prim, "power_state", &ps);
    if (!power_on && ps != DRV_POWER_SHUTDOWN) {
        /* it was stopped before the resize: it is again */
        autoerr struct err *e = NULL;
        if (drv_hv_power_off(c->hv, os_inst_uuid(r->i), os_compute_shutdown_timeout(c, r->i),
                             &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "guest not stopped again after the revert");
    }
    os_rz_done(r, event);
    os_compute_notify(c, r->i, "resize.revert.end", NULL);
    log_info("resize reverted: flavor %s again",
             r->i->inst->flavor.name ? r->i->inst->flavor.name : "?");
    return 0;
}

int os_compute_revert_resize(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_rz r;
    if (os_rz_open(&r, req, err) < 0) {
        os_rz_release(&r);
        return -1;
    }
    const char *event = "compute_revert_resize";
    const char *const fresh[] = {"reverting", NULL};
    if (!os_rz_current(&r, "revert_resize", fresh)) {
        os_rz_release(&r);
        return 0;
    }
    os_inst_event_start(r.i, event);
    os_compute_notify_exists(r.c, r.i, NULL, NULL);
    os_compute_notify(r.c, r.i, "resize.revert.start", NULL);
    if (os_compute_migration_moves(r.mig)) {
        /* the guest here is the copy: destroyed, the source finishes */
        int rc = os_compute_migrate_revert(&r, err);
        if (rc < 0)
            os_rz_fail(&r, event, "error", err);
        else
            os_inst_event_finish(r.i, event, NULL);
        os_rz_release(&r);
        return rc;
    }
    /* nothing to destroy here: the guest is the one to put back */
    int rc = os_rz_mig_save(&r, "reverted", err);
    if (rc < 0) {
        os_rz_fail(&r, event, "error", err);
        os_rz_release(&r);
        return -1;
    }
    os_inst_event_finish(r.i, event, NULL);
    rc = rz_leg_finish_revert(&r, err);
    os_rz_release(&r);
    return rc;
}

/* ---- after a restart ---- */

/* The instance's migration that `task` belongs to: the resize in progress,
 * or (a revert under way) the one reverted already.  A new reference, or
 * NULL with *err. */
static json_t *rz_find_migration(struct os_compute *c, struct os_inst *i, struct err **err)
{
    json_auto_t *list = os_conductor_class_action(&c->conductor, i->ctx, "MigrationList",
                                                  "get_in_progress_by_instance",
                                                  json_pack("[s]", os_inst_uuid(i)), NULL, NULL,
                                                  err);
    if (!list)
        return NULL;
    json_t *objs = ovo_list_objects(list);
    size_t k;
    json_t *m, *found = NULL;
    json_array_foreach(objs, k, m) {
        const char *type = ovo_get_str(m, "migration_type");
        const char *src = ovo_get_str(m, "source_compute");
        const char *dst = ovo_get_str(m, "dest_compute");
        bool ours = (src && strcmp(src, c->host) == 0) || (dst && strcmp(dst, c->host) == 0);
        if (type && (strcmp(type, "resize") == 0 || strcmp(type, "migration") == 0) && ours)
            found = m;
    }
    if (found)
        return json_incref(found);
    json_t *m2 = os_conductor_class_action(&c->conductor, i->ctx, "Migration",
                                           "get_by_instance_and_status",
                                           json_pack("[s, s]", os_inst_uuid(i), "reverted"),
                                           NULL, NULL, err);
    if (m2 && !ovo_is(m2, "Migration")) {
        json_decref(m2);
        err_set(err, ERR_NOT_FOUND, "no migration of %s in progress", os_inst_uuid(i));
        return NULL;
    }
    return m2;
}

int os_compute_resize_recover(struct os_compute *c, struct os_inst *i, bool guest)
{
    const char *task = os_inst_task_state(i);
    /* a live migration out of here, cut (its guest here, or gone to the
     * destination while sculpt was down) */
    if (task && strcmp(task, "migrating") == 0)
        return os_compute_live_recover(c, i, guest);
    if (!task || strncmp(task, "resize_", 7) != 0)
        return 0;

    autoerr struct err *e = NULL;
    struct os_rz r = {.c = c, .i = i, .borrowed = true};
    r.mig = rz_find_migration(c, i, &e);
    if (!guest && (!r.mig || !os_compute_migration_moves(r.mig))) {
        /* no guest here and no move under way: left as it was */
        os_rz_release(&r);
        return 0;
    }
    if (!r.mig) {
        log_err(LOG_LEVEL_WARN, e, "`%s` of %s interrupted: its migration not found, the task "
                                   "state cleared", task, os_inst_uuid(i));
        os_inst_set_str(i, "task_state", NULL);
        autoerr struct err *e2 = NULL;
        if (os_inst_save(i, NULL, NULL, &e2) < 0)
            log_err(LOG_LEVEL_WARN, e2, "task state not cleared");
        return 1;
    }
    ovo_clear_changes(r.mig);
    if (os_compute_migration_moves(r.mig) && os_compute_migrate_recover(&r, task)) {
        os_rz_release(&r);
        return 1;
    }
    int rc = 0;
    if (strcmp(task, "resize_prep") == 0 || strcmp(task, "resize_migrating") == 0 ||
        strcmp(task, "resize_migrated") == 0) {
        /* the flavor was not switched nor the guest touched: as refused */
        err_set(&e, ERR_UNAVAILABLE, "resize interrupted by a restart of sculpt-compute: the "
                                     "instance stays on its flavor");
        os_rz_prep_fail(&r, &e);
        log_info("interrupted resize of %s rolled back", os_inst_uuid(i));
    } else if (strcmp(task, "resize_finish") == 0) {
        /* the new flavor is the instance's; the engine adopted the guest
         * as it runs, which may be above that flavor (a balloon giving
         * memory back slowly): admitted again, it takes the new flavor's
         * shape, as the leg would have */
        json_t *flavor = ovo_get(i->prim, "flavor");
        struct drv_shape shape;
        bool cold = false;
        autoerr struct err *e2 = NULL;
        if (!ovo_is(flavor, "Flavor"))
            err_set(&e2, ERR_INVALID, "the instance has no flavor");
        if (e2 || rz_admit(&r, flavor, &shape, &e2) < 0 || rz_apply(&r, &shape, &cold, &e2) < 0)
            log_err(LOG_LEVEL_WARN, e2, "the guest of %s not reshaped for its new flavor: the "
                                        "control loop takes it there", os_inst_uuid(i));
        rc = os_rz_mig_save(&r, "finished", &e);
        if (rc == 0) {
            os_rz_power_state(&r);
            os_inst_set_str(i, "vm_state", "resized");
            os_inst_set_str(i, "task_state", NULL);
            os_inst_set_now(i, "launched_at");
            rc = os_rz_save(&r, "resize_finish", &e);
        }
        if (rc < 0)
            os_rz_fail(&r, NULL, "error", &e);
        else
            log_info("interrupted resize of %s finished: VERIFY_RESIZE", os_inst_uuid(i));
    } else if (strcmp(task, "resize_reverting") == 0) {
        const char *st = ovo_get_str(r.mig, "status");
        if (!st || strcmp(st, "reverted") != 0)
            rc = os_rz_mig_save(&r, "reverted", &e);
        if (rc == 0)
            rc = rz_leg_finish_revert(&r, &e);
        if (rc == 0)
            log_info("interrupted revert of %s finished", os_inst_uuid(i));
    } else {
        log_warn("task `%s` of %s unknown: cleared", task, os_inst_uuid(i));
        os_inst_set_str(i, "task_state", NULL);
        rc = os_rz_save(&r, NULL, &e);
    }
    if (rc < 0)
        log_err(LOG_LEVEL_WARN, e, "interrupted `%s` of %s not recovered", task,
                os_inst_uuid(i));
    os_rz_release(&r);
    return 1;
}
