/* Live migration between two hosts, as Zed's ComputeManager runs it
 * (nova/compute/manager.py; block migration, as nova's libvirt driver
 * does it without shared storage):
 *
 *   check_can_live_migrate_destination (dest, call from the conductor)
 *        the backend can, the source runs the same one, the engine would
 *        admit the guest here (a dry run); then the source's check; a
 *        refusal is MigrationPreCheckError, which the conductor passes on
 *        (or tries the scheduler's next host)
 *   check_can_live_migrate_source (src) the guest runs here; block
 *        migration (no shared storage here); the LibvirtLiveMigrateData
 *   live_migration (src, cast) queued (compute_live_queue.c: at most
 *        [DEFAULT] max_concurrent_live_migrations run at once, the others
 *        wait in the order they came; an abort cancels a queued one); in
 *        its turn (_do_live_migration, os_compute_live_run) preparing;
 *        pre_live_migration on the
 *        destination; running, live_migrate with its progress in the
 *        Migration; then _post_live_migration: the destination takes the
 *        guest on (post_live_migration_at_destination), what stayed here
 *        goes, the source allocations the migration held are deleted,
 *        completed.  A failure rolls back (_rollback_live_migration): the
 *        guest runs here as before, the migration's allocations back to
 *        the instance, the destination's claim and folder gone
 *        (rollback_live_migration_at_destination), the migration in error
 *   pre_live_migration (dest, call) the engine's claim and the backend's
 *        live_prepare; sculpt's dest_info travels back in the reply
 *
 * The migrate_data primitive carries two keys of sculpt's own next to
 * Nova's fields (sculpt_dest_info, sculpt_domain_uuid): only the two
 * sculpt-computes read them (the conductor sees the destination's check
 * reply, which has neither). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_group_policy.h"
#include "openstack/compute_live_priv.h"
#include "openstack/compute_migrate_priv.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_resize_priv.h"
#include "openstack/conductor.h"
#include "openstack/live_runs.h"
#include "openstack/config_drive.h"
#include "openstack/messaging.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.compute_live");

/* Nova's long_rpc_timeout (1800 s): a block migration's copy is slow. */
#define LIVE_CALL_TIMEOUT_MS 1800000
#define LIVE_CHECK_TIMEOUT_MS 60000
/* How often the Migration's progress figures are saved. */
#define LIVE_PROGRESS_SAVE_MS 2000

#define LMD_KEY_DEST_INFO "sculpt_dest_info"
#define LMD_KEY_DOMAIN "sculpt_domain_uuid"

/* ---- the migrate_data object ---- */

static json_t *lmd_new(void)
{
    return json_pack("{s:s, s:s, s:s, s:{}, s:[]}", "nova_object.name", "LibvirtLiveMigrateData",
                     "nova_object.namespace", "nova", "nova_object.version", "1.10",
                     "nova_object.data", "nova_object.changes");
}

/* A copy of the request's migrate_data `key` (INVALID unless it is a
 * LibvirtLiveMigrateData). */
static json_t *lmd_from(const json_t *args, const char *key, struct err **err)
{
    json_t *md = json_object_get(args, key);
    if (!ovo_is(md, "LibvirtLiveMigrateData"))
        return err_set(err, ERR_INVALID, "`%s` is not a LibvirtLiveMigrateData", key), NULL;
    return json_deep_copy(md);
}

/* MigrationPreCheckError(reason), what the conductor expects of a check. */
static void live_precheck_fault(struct os_rpc_req *req, const struct err *e)
{
    os_fault_nova(&req->fault, "MigrationPreCheckError", 400);
    req->fault.kwargs = json_pack("{s:s}", "reason", e && e->msg ? e->msg : "refused");
}

/* ---- check_can_live_migrate_destination on the destination ---- */

/* The instance's source host against this one
 * (os_migrate_check_source_node). */
static int live_check_backend(struct os_compute *c, struct os_inst *i, struct err **err)
{
    const char *src = ovo_get_str(i->prim, "host");
    const char *node = ovo_get_str(i->prim, "node");
    if (!src || !*src || !node || !*node)
        return err_set(err, ERR_INVALID, "instance %s names no host or node", os_inst_uuid(i));
    if (strcmp(src, c->host) == 0)
        return err_set(err, ERR_INVALID, "instance %s is on %s already", os_inst_uuid(i), src);
    return os_migrate_check_source_node(c, src, node, err);
}

/* Whether the engine would admit instance i here now: admitted, then
 * forgotten (the claim is pre_live_migration's). */
static int live_admission_dry_run(struct os_compute *c, struct os_inst *i, struct err **err)
{
    struct drv_shape shape;
    int rc = os_compute_engine_place(c, i, &shape, err);
    os_compute_engine_forget(c, os_inst_uuid(i));
    os_compute_record_deleted(c, os_inst_uuid(i));
    return rc;
}

int os_compute_live_check_dest(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    json_t *bm = json_object_get(req->msg->args, "block_migration");
    int rc = -1;
    if (!drv_hv_can_live_migrate(c->hv))
        err_set(err, ERR_UNSUPPORTED, "the `%s` backend of %s cannot live-migrate",
                c->hv->ops->name, c->host);
    else if (json_is_false(bm))
        err_set(err, ERR_UNSUPPORTED, "%s has no storage shared with %s: live migration needs "
                "block migration", c->host, ovo_get_str(i->prim, "host"));
    else if (live_check_backend(c, i, err) < 0 || live_admission_dry_run(c, i, err) < 0)
        err_wrap(err, "`%s` refuses the live migration", c->host);
    else if (os_compute_group_policy_check(c, req->msg->ctx, os_inst_uuid(i), NULL, true, err))
        /* Zed's words; the conductor tries its next host */
        err_wrap(err, "Failed to validate instance group policy due to");
    else
        rc = 0;
    if (rc < 0) {
        live_precheck_fault(req, *err);
        return -1;
    }
    json_auto_t *md = lmd_new();
    ovo_set(md, "block_migration", json_true());
    ovo_set(md, "disk_over_commit", json_false());
    ovo_set(md, "is_shared_block_storage", json_false());
    ovo_set(md, "is_shared_instance_path", json_false());
    ovo_set(md, "is_volume_backed", json_false());
    ovo_set_str(md, "target_connect_addr", c->cfg->my_ip);
    ovo_set(md, "graphics_listen_addr_vnc", json_null());
    ovo_set(md, "graphics_listen_addr_spice", json_null());
    ovo_set(md, "serial_listen_addr", json_null());
    ovo_set(md, "dst_wants_file_backed_memory", json_false());
    ovo_set(md, "dst_supports_numa_live_migration", json_false());
    /* the source's own check, as nova's manager calls it from here */
    const struct os_rpc_target t = {.topic = OS_COMPUTE_TOPIC,
                                    .server = ovo_get_str(i->prim, "host"), .version = "6.0"};
    json_auto_t *sargs = json_pack("{s:O, s:O}", "instance", i->prim, "dest_check_data", md);
    json_auto_t *res = os_rpc_call(c->msg->client, &t, "check_can_live_migrate_source", sargs,
                                   req->msg->ctx, LIVE_CHECK_TIMEOUT_MS, NULL, err);
    if (!res) {
        err_wrap(err, "the source refuses the live migration");
        live_precheck_fault(req, *err);
        return -1;
    }
    if (!ovo_is(res, "LibvirtLiveMigrateData")) {
        err_set(err, ERR_INVALID, "the source's check answered no LibvirtLiveMigrateData");
        live_precheck_fault(req, *err);
        return -1;
    }
    log_info("live migration of %s from %s: admissible here", os_inst_uuid(i),
             ovo_get_str(i->prim, "host"));
    *result = json_incref(res);
    return 0;
}

/* ---- check_can_live_migrate_source on the source ---- */

int os_compute_live_check_source(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    json_auto_t *md = lmd_from(req->msg->args, "dest_check_data", err);
    if (!md)
        return -1;
    struct drv_hv_info info;
    if (drv_hv_get_info(c->hv, os_inst_uuid(i), &info, err) < 0) {
        err_wrap(err, "no guest of instance %s on %s", os_inst_uuid(i), c->host);
        live_precheck_fault(req, *err);
        return -1;
    }
    if (info.state != DRV_POWER_RUNNING && info.state != DRV_POWER_PAUSED) {
        err_set(err, ERR_CONFLICT, "the guest of instance %s is not running", os_inst_uuid(i));
        live_precheck_fault(req, *err);
        return -1;
    }
    if (!drv_hv_can_live_migrate(c->hv)) {
        err_set(err, ERR_UNSUPPORTED, "the `%s` backend of %s cannot live-migrate",
                c->hv->ops->name, c->host);
        live_precheck_fault(req, *err);
        return -1;
    }
    ovo_set(md, "block_migration", json_true());
    ovo_set(md, "is_shared_block_storage", json_false());
    ovo_set(md, "is_shared_instance_path", json_false());
    ovo_set_str(md, "instance_relative_path", os_inst_uuid(i));
    ovo_set(md, "src_supports_native_luks", json_false());
    ovo_set(md, "src_supports_numa_live_migration", json_false());
    *result = json_incref(md);
    return 0;
}

/* ---- pre_live_migration on the destination ---- */

/* The guest spec of instance i here in `shape`, its domain `dom`
 * (caller releases). */
static int live_spec(struct os_compute *c, struct os_inst *i, const char *dom,
                     const struct drv_shape *shape, struct os_rpc_req *req,
                     struct drv_hv_guest_spec *spec, struct err **err)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", dom);
    spec->name = os_compute_domain_name(i);
    spec->display_name = i->inst->name ? xstrdup(i->inst->name) : NULL;
    spec->project_id = i->inst->project_id ? xstrdup(i->inst->project_id) : NULL;
    spec->user_id = i->inst->user_id ? xstrdup(i->inst->user_id) : NULL;
    spec->flavor_name = i->inst->flavor.name ? xstrdup(i->inst->flavor.name) : NULL;
    spec->shape = *shape;
    /* the base under the overlay the copy fills, in this host's cache */
    if (os_compute_build_images(c, i, NULL, req->msg->ctx, spec, err) < 0) {
        drv_hv_guest_spec_release(spec);
        return -1;
    }
    /* the config drive made again here, as nova's pre_live_migration does
     * without shared storage (the files injected at boot are not kept) */
    if (os_compute_config_drive(c, i->prim, NULL, NULL, NULL, &spec->config_drive, err) < 0) {
        drv_hv_guest_spec_release(spec);
        return err_wrap(err, "config drive");
    }
    return 0;
}

int os_compute_pre_live_migration(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    json_auto_t *md = lmd_from(req->msg->args, "migrate_data", err);
    if (!md)
        return -1;
    const char *uuid = os_inst_uuid(i);
    const char *event = "compute_pre_live_migration";
    os_inst_event_start(i, event);
    os_compute_notify(c, i, "live_migration.pre.start", os_compute_notify_nw(i));
    /* the definitive moment for the server group's policy (Zed): the
     * source rolls the migration back, the server stays ACTIVE there */
    if (os_compute_group_policy_check(c, req->msg->ctx, uuid, NULL, true, err) != 0) {
        err_wrap(err, "`%s` refuses the live migration", c->host);
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    struct drv_shape shape;
    i->inst->booted = true; /* it runs: no boot allowance when it arrives */
    int placed = os_compute_engine_place(c, i, &shape, err);
    i->inst->booted = false;
    if (placed < 0) {
        os_compute_engine_forget(c, uuid);
        os_compute_record_deleted(c, uuid);
        err_wrap(err, "`%s` refuses the live migration", c->host);
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    struct drv_hv_guest_spec spec;
    autofree char *dest_info = NULL;
    /* a handed-over pool member's domain keeps its own uuid: it arrives
     * under it, and what is made for it here is named by it */
    const char *dom = ovo_get_str(md, LMD_KEY_DOMAIN);
    if (!dom || !*dom)
        dom = uuid;
    bool have_spec = live_spec(c, i, dom, &shape, req, &spec, err) == 0;
    if (!have_spec || drv_hv_live_prepare(c->hv, &spec, &dest_info, err) < 0) {
        if (have_spec)
            drv_hv_guest_spec_release(&spec);
        os_compute_engine_forget(c, uuid);
        os_compute_record_deleted(c, uuid);
        os_inst_event_finish(i, event, *err);
        return -1;
    }
    free(i->inst->domain);
    i->inst->domain = spec.name ? xstrdup(spec.name) : NULL;
    drv_hv_guest_spec_release(&spec);
    i->inst->shape = shape;
    os_compute_record_instance(c, i);
    /* the tracker counts it here from now on, as a cold move's */
    os_compute_track_inst(c, i);
    /* the claim: released by rollback_live_migration_at_destination, or
     * by the claims' check once the migration is over elsewhere */
    os_compute_move_claim_note(c, uuid);
    if (strcmp(dom, uuid) != 0)
        drv_hv_alias(c->hv, uuid, dom);
    ovo_set_str(md, LMD_KEY_DEST_INFO, dest_info);
    os_inst_event_finish(i, event, NULL);
    os_compute_notify(c, i, "live_migration.pre.end", os_compute_notify_nw(i));
    char res[160];
    log_info("ready to take %s live: %s", uuid, drv_res_format(shape.res, res, sizeof(res)));
    *result = json_incref(md);
    return 0;
}

/* ---- live_migration on the source ---- */

struct live_watch {
    struct os_rz *r;
    int64_t last_ms;
};

/* The abort and force-complete requests made since the driver last
 * asked (live_runs.h). */
static unsigned live_requests(void *opaque)
{
    struct live_watch *w = opaque;
    return os_live_runs_take(w->r->c->live_runs, os_inst_uuid(w->r->i));
}

/* The job's figures into the Migration (memory_*, disk_*) and the
 * instance's progress, every LIVE_PROGRESS_SAVE_MS. */
static void live_progress(void *opaque, const struct drv_hv_live_progress *p)
{
    struct live_watch *w = opaque;
    int64_t now = clock_mono_ms();
    if (w->last_ms && now - w->last_ms < LIVE_PROGRESS_SAVE_MS)
        return;
    w->last_ms = now;
    json_t *mig = w->r->mig;
    ovo_set(mig, "memory_total", json_integer((json_int_t)p->memory_total));
    ovo_set(mig, "memory_processed", json_integer((json_int_t)p->memory_processed));
    ovo_set(mig, "memory_remaining", json_integer((json_int_t)p->memory_remaining));
    ovo_set(mig, "disk_total", json_integer((json_int_t)p->disk_total));
    ovo_set(mig, "disk_processed", json_integer((json_int_t)p->disk_processed));
    ovo_set(mig, "disk_remaining", json_integer((json_int_t)p->disk_remaining));
    autoerr struct err *e = NULL;
    if (os_rz_mig_save(w->r, NULL, &e) < 0)
        log_err(LOG_LEVEL_DEBUG, e, "live migration progress not saved");
}

/* Switched to post-copy (a forced completion with post-copy permitted):
 * the migration `running (post-copy)`, as nova's trigger_postcopy_switch
 * saves it; Nova's API refuses an abort or another force from now on, and
 * so does the registry an abort that comes anyway. */
static void live_postcopy(void *opaque)
{
    struct live_watch *w = opaque;
    os_live_runs_postcopy(w->r->c->live_runs, os_inst_uuid(w->r->i));
    autoerr struct err *e = NULL;
    if (os_rz_mig_save(w->r, "running (post-copy)", &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "migration not set to running (post-copy)");
    else
        log_info("live migration %s of %s: running (post-copy)", ovo_get_str(w->r->mig, "uuid"),
                 os_inst_uuid(w->r->i));
}

/* What _rollback_live_migration undoes: the instance's task state
 * cleared, the migration's allocations back to the instance
 * (_revert_allocation), the destination told to drop its claim (when it
 * may have prepared), the migration `status`. */
static void live_undo(struct os_rz *r, const json_t *md, bool dest_prepared, const char *status)
{
    struct os_compute *c = r->c;
    const char *uuid = os_inst_uuid(r->i);
    autoerr struct err *e = NULL;
    os_inst_set_str(r->i, "task_state", NULL);
    os_inst_set_int(r->i, "progress", 0);
    if (os_rz_save(r, "migrating", &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "instance %s not saved after the rollback", uuid);
        err_clear(&e);
    }
    if (c->placement &&
        os_placement_move_allocations(c->placement, ovo_get_str(r->mig, "uuid"), uuid, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "allocations of migration %s not moved back",
                ovo_get_str(r->mig, "uuid"));
        err_clear(&e);
    }
    if (dest_prepared) {
        const struct os_rpc_target t = {.topic = OS_COMPUTE_TOPIC,
                                        .server = ovo_get_str(r->mig, "dest_compute"),
                                        .version = "6.0"};
        json_auto_t *a = json_pack("{s:O, s:b, s:O}", "instance", r->i->prim, "destroy_disks", 1,
                                   "migrate_data", md);
        if (os_rpc_cast(c->msg->client, &t, "rollback_live_migration_at_destination", a,
                        r->i->ctx, &e) < 0) {
            log_err(LOG_LEVEL_WARN, e, "rollback not sent to %s", t.server);
            err_clear(&e);
        }
    }
    if (os_rz_mig_save(r, status, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "migration not set to %s", status);
}

/* _rollback_live_migration: the guest runs here as before (live_undo),
 * the migration `status`; `why` the failure (NULL: cancelled by an
 * abort). */
static void live_rollback_source(struct os_rz *r, const json_t *md, bool dest_prepared,
                                 const char *status, const struct err *why)
{
    os_compute_notify(r->c, r->i, "live_migration._rollback.start", NULL);
    live_undo(r, md, dest_prepared, status);
    /* a cancelled one is no failure (nova's driver returns normally) */
    if (why)
        os_inst_fault(r->i, why);
    os_inst_event_finish(r->i, "compute_live_migration", why);
    os_compute_notify(r->c, r->i, "live_migration._rollback.end", NULL);
    log_info("live migration of %s rolled back (%s): it stays on %s", os_inst_uuid(r->i), status,
             r->c->host);
}

/* _post_live_migration: the destination takes the guest on, what stayed
 * here goes, the source's allocations the migration held are deleted. */
static int live_post_source(struct os_rz *r, struct err **err)
{
    struct os_compute *c = r->c;
    const char *uuid = os_inst_uuid(r->i);
    const char *dest = ovo_get_str(r->mig, "dest_compute");
    const struct os_rpc_target t = {.topic = OS_COMPUTE_TOPIC, .server = dest, .version = "6.0"};
    os_compute_notify(c, r->i, "live_migration._post.start", os_compute_notify_nw(r->i));
    json_auto_t *pargs = json_pack("{s:O, s:b}", "instance", r->i->prim, "block_migration", 1);
    json_auto_t *res = os_rpc_call(c->msg->client, &t, "post_live_migration_at_destination",
                                   pargs, r->i->ctx, LIVE_CALL_TIMEOUT_MS, NULL, err);
    bool dest_ok = true;
    if (!res && *err) {
        /* the guest runs there: Nova's manager logs this and goes on */
        log_err(LOG_LEVEL_ERROR, *err, "post_live_migration_at_destination failed on %s", dest);
        err_clear(err);
        dest_ok = false;
    }
    /* driver.cleanup: the guest left with its files; the engine's
     * admission, tracker and row here go */
    autoerr struct err *e = NULL;
    if (os_compute_move_release(c, uuid, false, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "what stayed of %s here not released", uuid);
        err_clear(&e);
    }
    /* a token names this host's port: useless now (Zed's manager) */
    os_compute_console_tokens_clean(c, r->i->ctx, uuid);
    if (c->placement &&
        os_placement_delete_allocations(c->placement, ovo_get_str(r->mig, "uuid"), &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "source allocations of migration %s not deleted",
                ovo_get_str(r->mig, "uuid"));
        err_clear(&e);
    }
    if (!dest_ok) {
        /* the destination did not take the instance on: Nova's record
         * left to an operator (host moved, in error) */
        os_inst_set_str(r->i, "host", dest);
        os_inst_set_str(r->i, "node", ovo_get_str(r->mig, "dest_node"));
        os_inst_set_str(r->i, "vm_state", "error");
        os_inst_set_str(r->i, "task_state", NULL);
        if (os_rz_save(r, NULL, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "instance %s not saved", uuid);
    }
    os_compute_notify(c, r->i, "live_migration._post.end", os_compute_notify_nw(r->i));
    return os_rz_mig_save(r, "completed", err);
}

/* The checks every live_migration gets before it is queued: a
 * destination, a migrate_data and the migration's id.  -1 with *err. */
static int live_args(struct os_rz *r, const json_t *args, json_t **md, int64_t *mig_id,
                     struct err **err)
{
    const char *dest = ovo_get_str(r->mig, "dest_compute");
    if (!dest || !*dest)
        return err_set(err, ERR_INVALID, "live migration %s names no destination",
                       ovo_get_str(r->mig, "uuid"));
    *md = lmd_from(args, "migrate_data", err);
    if (!*md)
        return -1;
    if (!ovo_get_int(r->mig, "id", mig_id))
        return err_set(err, ERR_INVALID, "live migration %s has no id",
                       ovo_get_str(r->mig, "uuid"));
    return 0;
}

/* A copy of the request, which its migration runs from in its turn. */
static struct os_msg *live_job_new(const struct os_msg *m)
{
    struct os_msg *j = xzalloc(sizeof(*j));
    j->method = xstrdup(m->method);
    j->version = m->version ? xstrdup(m->version) : NULL;
    j->ver_major = m->ver_major;
    j->ver_minor = m->ver_minor;
    j->args = json_deep_copy(m->args);
    j->ctx = json_deep_copy(m->ctx);
    return j;
}

int os_compute_live_migration(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_rz r;
    if (os_rz_open(&r, req, err) < 0) {
        os_rz_release(&r);
        return -1;
    }
    struct os_compute *c = r.c;
    const char *uuid = os_inst_uuid(r.i);
    /* a cast delivered again after a restart: the restart ended its
     * migration (os_compute_live_recover) */
    static const char *const fresh[] = {"accepted", NULL};
    if (!os_rz_current(&r, "live_migration", fresh)) {
        os_rz_release(&r);
        return 0;
    }
    os_inst_event_start(r.i, "compute_live_migration");
    json_auto_t *md = NULL;
    int64_t mig_id = 0;
    bool registered = false;
    if (live_args(&r, req->msg->args, &md, &mig_id, err) < 0)
        goto fail;
    /* from here an abort finds it (live_migration_abort does not wait for
     * the instance's lock); it starts once let go below, in its turn */
    if (os_live_runs_queue(c->live_runs, uuid, mig_id, err) < 0)
        goto fail;
    registered = true;
    if (os_rz_mig_save(&r, "queued", err) < 0)
        goto fail;
    int ahead = os_live_runs_ahead(c->live_runs, uuid);
    struct os_msg *job = live_job_new(req->msg);
    if (!os_live_runs_release(c->live_runs, uuid, job)) {
        /* aborted before it was let go, or the service stops */
        log_info("live migration %s of %s cancelled while queued", ovo_get_str(r.mig, "uuid"),
                 uuid);
        os_msg_free(job);
        live_rollback_source(&r, md, false, "cancelled", NULL);
        os_rz_release(&r);
        return 0;
    }
    log_info("live migration %s of %s to %s queued (%d waiting before it)",
             ovo_get_str(r.mig, "uuid"), uuid, ovo_get_str(r.mig, "dest_compute"), ahead);
    os_rz_release(&r);
    return 0;
fail:
    if (registered)
        os_live_runs_end(c->live_runs, uuid);
    live_rollback_source(&r, md, false, "error", *err);
    os_rz_release(&r);
    return -1;
}

void os_compute_live_cancel_queued(struct os_compute *c, struct os_msg *job)
{
    struct os_rpc_req req = {.msg = job, .opaque = c};
    struct os_rz r;
    autoerr struct err *e = NULL;
    if (os_rz_open(&r, &req, &e) < 0) {
        log_err(LOG_LEVEL_ERROR, e, "a queued live migration not cancelled");
    } else {
        live_rollback_source(&r, NULL, false, "cancelled", NULL);
        log_info("queued live migration %s of %s cancelled", ovo_get_str(r.mig, "uuid"),
                 os_inst_uuid(r.i));
    }
    os_rz_release(&r);
    os_fault_release(&req.fault);
    os_msg_free(job);
}

int os_compute_live_run(struct os_rpc_req *req, struct err **err)
{
    struct os_compute *c = req->opaque;
    const char *uuid = ovo_get_str(json_object_get(req->msg->args, "instance"), "uuid");
    struct os_rz r;
    if (os_rz_open(&r, req, err) < 0) {
        os_rz_release(&r);
        if (uuid)
            os_live_runs_end(c->live_runs, uuid);
        return -1;
    }
    uuid = os_inst_uuid(r.i);
    const char *event = "compute_live_migration";
    const char *dest = ovo_get_str(r.mig, "dest_compute");
    json_auto_t *md = NULL;
    json_auto_t *pre = NULL;
    json_auto_t *pargs = NULL;
    bool prepared = false;
    bool registered = true;
    int64_t mig_id = 0;
    if (live_args(&r, req->msg->args, &md, &mig_id, err) < 0)
        goto fail;
    /* _do_live_migration */
    if (os_rz_mig_save(&r, "preparing", err) < 0)
        goto fail;
    /* the guest's own uuid (a handed-over pool member keeps its domain's) */
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(c->hv, uuid, dom);
    ovo_set_str(md, LMD_KEY_DOMAIN, dom);
    ovo_set(md, "migration", json_deep_copy(r.mig));
    const struct os_rpc_target t = {.topic = OS_COMPUTE_TOPIC, .server = dest, .version = "6.0"};
    pargs = json_pack("{s:O, s:n, s:O}", "instance", r.i->prim, "disk", "migrate_data", md);
    pre = os_rpc_call(c->msg->client, &t, "pre_live_migration", pargs, req->msg->ctx,
                      LIVE_CALL_TIMEOUT_MS, NULL, err);
    if (!pre || !ovo_is(pre, "LibvirtLiveMigrateData")) {
        if (pre)
            err_set(err, ERR_INVALID, "pre_live_migration answered no LibvirtLiveMigrateData");
        /* _cleanup_pre_live_migration: the destination's claim goes too */
        prepared = true;
        goto fail;
    }
    prepared = true;
    const char *dest_info = ovo_get_str(pre, LMD_KEY_DEST_INFO);
    const char *addr = ovo_get_str(md, "target_connect_addr");
    if (!dest_info) {
        err_set(err, ERR_INVALID, "pre_live_migration on %s gave no %s", dest, LMD_KEY_DEST_INFO);
        goto fail;
    }
    /* aborted while the destination prepared: nothing began, it ends
     * cancelled (nova's _do_live_migration, its migration gone from the
     * waiting queue) */
    if (!os_live_runs_start(c->live_runs, uuid)) {
        os_live_runs_end(c->live_runs, uuid);
        log_info("live migration %s of %s aborted before its copy began",
                 ovo_get_str(r.mig, "uuid"), uuid);
        live_rollback_source(&r, pre, true, "cancelled", NULL);
        os_rz_release(&r);
        return 0;
    }
    if (os_rz_mig_save(&r, "running", err) < 0)
        goto fail;
    struct live_watch w = {.r = &r};
    const struct drv_hv_live_watch watch = {.progress = live_progress,
                                            .requests = live_requests,
                                            .postcopy = live_postcopy,
                                            .opaque = &w};
    int64_t intent = os_compute_intent_migrate_begin(c, r.i, NULL, OS_MIG_STEP_OUT);
    if (drv_hv_live_migrate(c->hv, uuid, addr && *addr ? addr : dest, dest_info, &watch,
                            err) < 0) {
        os_compute_intent_finish(c, intent, false, *err);
        registered = false;
        if (os_live_runs_end(c->live_runs, uuid) && err_code_of(*err) == ERR_CONFLICT) {
            /* aborted as asked: rolled back, cancelled, no failure (nova's
             * monitor finding the job VIR_DOMAIN_JOB_CANCELLED) */
            log_err(LOG_LEVEL_INFO, *err, "live migration %s of %s cancelled",
                    ovo_get_str(r.mig, "uuid"), uuid);
            err_clear(err);
            live_rollback_source(&r, pre, true, "cancelled", NULL);
            os_rz_release(&r);
            return 0;
        }
        goto fail;
    }
    os_live_runs_end(c->live_runs, uuid);
    registered = false;
    os_compute_intent_step(c, intent, OS_MIG_STEP_HANDED);
    int rc = live_post_source(&r, err);
    os_compute_intent_finish(c, intent, true, NULL);
    if (rc < 0) {
        log_err(LOG_LEVEL_WARN, *err, "live migration of %s done, its record not", uuid);
        err_clear(err);
    }
    os_inst_event_finish(r.i, event, NULL);
    log_info("%s live-migrated to %s (migration %s)", uuid, dest, ovo_get_str(r.mig, "uuid"));
    os_rz_release(&r);
    return 0;
fail:
    if (registered)
        os_live_runs_end(c->live_runs, uuid);
    live_rollback_source(&r, pre ? pre : md, prepared, "error", *err);
    os_rz_release(&r);
    return -1;
}

/* The instance's live migration from this host still in progress (the
 * newest), a new reference; NULL when none (*err set when Nova could not
 * say). */
static json_t *live_find_migration(struct os_compute *c, struct os_inst *i, struct err **err)
{
    json_auto_t *list = os_conductor_class_action(
        &c->conductor, i->ctx, "MigrationList", "get_in_progress_by_instance",
        json_pack("[s, s]", os_inst_uuid(i), "live-migration"), NULL, NULL, err);
    if (!list)
        return NULL;
    json_t *objs = ovo_list_objects(list);
    size_t k;
    json_t *m, *found = NULL;
    int64_t best = -1;
    json_array_foreach(objs, k, m) {
        const char *src = ovo_get_str(m, "source_compute");
        int64_t id = 0;
        if (src && strcmp(src, c->host) == 0 && ovo_get_int(m, "id", &id) && id > best) {
            best = id;
            found = m;
        }
    }
    return found ? json_incref(found) : NULL;
}

/* The guest left while sculpt-compute was down: its copy, which libvirtd
 * went on with, ended on the destination.  The move is finished as the
 * migration's own end would have finished it.  1 when handled, 0 when
 * the migration never began a copy (the guest went some other way). */
static int live_recover_gone(struct os_rz *r, const char *was)
{
    const char *uuid = os_inst_uuid(r->i);
    if (!os_live_restart_finished(was))
        return 0;
    autoerr struct err *e = NULL;
    if (live_post_source(r, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "live migration of %s finished, its record not", uuid);
    err_clear(&e);
    /* the files the guest left here, which the migration's own end
     * removes: the backend's clean-up of a guest not here any more */
    if (drv_hv_live_rollback(r->c->hv, uuid, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "files %s left here not removed", uuid);
    log_info("recovered %s: its live migration %s to %s (%s) ended while sculpt-compute was "
             "down: the guest runs there, the move finished",
             uuid, ovo_get_str(r->mig, "uuid"), ovo_get_str(r->mig, "dest_compute"), was);
    return 1;
}

int os_compute_live_recover(struct os_compute *c, struct os_inst *i, bool guest)
{
    const char *uuid = os_inst_uuid(i);
    autoerr struct err *e = NULL;
    struct os_rz r = {.c = c, .i = i, .borrowed = true};
    r.mig = live_find_migration(c, i, &e);
    if (!r.mig && !guest) {
        if (e)
            log_err(LOG_LEVEL_WARN, e, "live migrations of %s not read", uuid);
        return 0;
    }
    if (!r.mig) {
        if (e)
            log_err(LOG_LEVEL_WARN, e, "live migrations of %s not read: its task state cleared",
                    uuid);
        os_inst_set_str(i, "task_state", NULL);
        err_clear(&e);
        if (os_rz_save(&r, "migrating", &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "task state of %s not cleared", uuid);
        else
            log_info("recovered %s: found migrating with no live migration from here, its task "
                     "state cleared", uuid);
        return 1;
    }
    ovo_clear_changes(r.mig);
    const char *st = ovo_get_str(r.mig, "status");
    autofree char *was = xstrdup(st ? st : "?");
    if (!guest) {
        int rc = live_recover_gone(&r, was);
        os_rz_release(&r);
        return rc;
    }
    struct os_live_restart rule;
    os_live_restart_rule(was, &rule);
    /* nova's _reset_live_migration: a copy still under way aborted */
    if (rule.abort_job && drv_hv_live_abort(c->hv, uuid, &e) < 0 &&
        err_code_of(e) != ERR_CONFLICT)
        log_err(LOG_LEVEL_WARN, e, "interrupted live migration of %s not aborted", uuid);
    err_clear(&e);
    if (rule.undo) {
        /* the guest runs here as before; what the move held given back */
        json_auto_t *md = lmd_new();
        live_undo(&r, md, rule.dest_prepared, "error");
        log_info("recovered %s: its live migration %s (%s) was cut by a restart: error, the "
                 "guest stays here", uuid, ovo_get_str(r.mig, "uuid"), was);
    } else {
        os_inst_set_str(i, "task_state", NULL);
        if (os_rz_save(&r, "migrating", &e) < 0 || os_rz_mig_save(&r, "error", &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "interrupted live migration of %s not recorded", uuid);
        log_error("live migration %s of %s was cut in post-copy by a restart: error (the guest "
                  "must be rebooted)", ovo_get_str(r.mig, "uuid"), uuid);
    }
    os_rz_release(&r);
    return 1;
}

/* ---- post_live_migration_at_destination, rollback_live_migration_at_destination ---- */

/* The guest came with the source's shape (its quota, pinning, balloon);
 * it takes the one this host's engine gave it at pre_live_migration, which
 * the control loop takes as applied.  A failure is logged: the guest runs
 * here all the same, and the loop's next change applies a whole shape. */
static void live_apply_shape(struct os_compute *c, struct os_inst *i)
{
    const char *uuid = os_inst_uuid(i);
    autoerr struct err *e = NULL;
    struct drv_shape shape;
    if (drv_sculpt_shape(c->engine, uuid, &shape, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "%s keeps the source's shape", uuid);
        return;
    }
    struct drv_hv_reshape_report rep;
    drv_control_apply_lock(c->control);
    int rc = drv_hv_reshape(c->hv, uuid, &shape, &rep, &e);
    drv_control_apply_unlock(c->control);
    char res[160];
    if (rc < 0) {
        log_err(LOG_LEVEL_WARN, e, "%s keeps the source's shape, not %s", uuid,
                drv_res_format(shape.res, res, sizeof(res)));
        return;
    }
    i->inst->shape = shape;
    log_info("%s shaped as this host's engine holds it: %s (%d calls)", uuid,
             drv_res_format(shape.res, res, sizeof(res)), rep.calls);
}

int os_compute_post_live_at_dest(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    char src[256];
    snprintf(src, sizeof(src), "%s", ovo_get_str(i->prim, "host") ? ovo_get_str(i->prim, "host") : "?");
    os_compute_notify(c, i, "live_migration.post.dest.start", os_compute_notify_nw(i));
    if (drv_hv_live_finish(c->hv, uuid, err) < 0)
        return err_wrap(err, "the guest of %s not taken on here", uuid);
    os_compute_move_claim_drop(c, uuid);
    live_apply_shape(c, i);
    struct drv_hv_info info;
    if (drv_hv_get_info(c->hv, uuid, &info, NULL) == 0)
        os_inst_set_int(i, "power_state", info.state == DRV_POWER_RUNNING ? 1 : 3);
    os_inst_set_str(i, "host", c->host);
    os_inst_set_str(i, "node", c->node);
    os_inst_set_str(i, "task_state", NULL);
    ovo_set(i->prim, "migration_context", json_null());
    const char *const expect[] = {"migrating", NULL};
    if (os_inst_save(i, expect, NULL, err) < 0)
        return err_wrap(err, "instance %s not saved as here", uuid);
    os_compute_track_inst(c, i);
    os_compute_record_state(c, i);
    os_compute_notify(c, i, "live_migration.post.dest.end", os_compute_notify_nw(i));
    log_info("%s live-migrated here from %s", uuid, src);
    return 0;
}

int os_compute_rollback_live_at_dest(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    os_compute_notify(c, i, "live_migration.rollback.dest.start", os_compute_notify_nw(i));
    if (drv_hv_live_rollback(c->hv, uuid, err) < 0 && err_code_of(*err) != ERR_NOT_FOUND)
        return err_wrap(err, "live migration of %s not rolled back here", uuid);
    err_clear(err);
    os_compute_move_claim_drop(c, uuid);
    if (os_compute_move_release(c, uuid, false, err) < 0)
        return -1;
    os_compute_notify(c, i, "live_migration.rollback.dest.end", os_compute_notify_nw(i));
    log_info("live migration of %s rolled back here", uuid);
    return 0;
}
