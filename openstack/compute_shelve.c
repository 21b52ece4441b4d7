/* Shelving, as nova's ComputeManager does it (nova/compute/manager.py
 * shelve_instance, _shelve_instance, shelve_offload_instance,
 * _shelve_offload_instance, unshelve_instance, _unshelve_instance) with
 * the libvirt driver's snapshot, destroy and spawn:
 *
 *   shelve   the guest powered off (cleanly unless asked not to, or
 *            paused), its disk uploaded to the image nova-api created
 *            (shelving -> shelving_image_pending_upload ->
 *            shelving_image_uploading), system_metadata shelved_at,
 *            shelved_image_id, shelved_host; vm_state SHELVED; with
 *            [DEFAULT] shelved_offload_time 0 (Nova's default) offloaded
 *            at once (task shelving_offloading)
 *   offload  the guest and its files destroyed, the engine's hold and the
 *            tracker's count dropped, the Placement allocations deleted
 *            (delete_allocation_for_shelve_offloaded_instance), vm_state
 *            SHELVED_OFFLOADED, host and node None; sculpt's row is marked
 *            offloaded and the guest's predictor state kept for an
 *            unshelve on this host
 *   unshelve (the conductor scheduled it here) spawning; the engine's
 *            admission as for a build (a refusal: allocations deleted,
 *            host None, fault, still SHELVED_OFFLOADED); the guest spawned
 *            from the shelved image through the image cache; vm_state
 *            ACTIVE, the shelved image deleted, the shelved_* keys gone
 *
 * An unshelve of a SHELVED instance is the conductor's start_instance
 * (compute_power.c finishes it the way nova's start_instance does).
 *
 * Requests are acked once handled, so one a crash cut comes again after
 * the restart, which has settled its instance already
 * (compute_shelve_recover.c): each handler reads the instance as Nova has
 * it now and does nothing when its task is over (os_shelve_check).
 * Nova has no notifications sent by sculpt to follow here: none are.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "driver/predict.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_shelve.h"
#include "openstack/config_drive.h"
#include "openstack/glance.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"

LOG_INIT("openstack.compute_shelve");

#define SHELVE_EVENT "compute_shelve_instance"
#define OFFLOAD_EVENT "compute_shelve_offload_instance"
#define UNSHELVE_EVENT "compute_unshelve_instance"

static const char *const SHELVED_KEYS[] = {"shelved_at", "shelved_image_id", "shelved_host"};

/* ---- faults by Nova's names ---- */

static void fault_image(struct os_fault *f, const char *image_id, const struct err *e)
{
    os_fault_release(f);
    if (err_code_of(e) == ERR_NOT_FOUND) {
        os_fault_nova(f, "ImageNotFound", 404);
        f->kwargs = json_pack("{s:s}", "image_id", image_id ? image_id : "");
    } else if (err_code_of(e) == ERR_UNAVAILABLE || err_code_of(e) == ERR_TIMEOUT) {
        os_fault_nova(f, "GlanceConnectionFailed", 503);
        f->kwargs = json_pack("{s:s, s:s}", "server", "glance", "reason", e ? e->msg : "");
    }
}

/* ---- the instance as Nova has it now ---- */

/* Whether the request is still to be done (os_shelve_check on Nova's
 * record); *now (may be NULL) gets that record.  When Nova cannot be
 * asked the request goes on: its saves are guarded by task state. */
static enum os_shelve_go shelve_check(struct os_compute *c, const json_t *ctx, enum os_shelve_op op,
                                      const char *uuid, json_t **now)
{
    autoerr struct err *e = NULL;
    bool gone = false;
    json_t *prim = os_compute_instance_now(
        c, ctx, uuid, (const char *const[]){"system_metadata", NULL}, &gone, &e);
    if (now)
        *now = NULL;
    if (!prim) {
        if (gone)
            return OS_SHELVE_GO_GONE;
        log_err(LOG_LEVEL_WARN, e, "instance %s not read: going on", uuid);
        return OS_SHELVE_GO_ON;
    }
    enum os_shelve_go go =
        os_shelve_check(op, ovo_get_str(prim, "vm_state"), ovo_get_str(prim, "task_state"));
    if (now)
        *now = prim;
    else
        json_decref(prim);
    return go;
}

/* A copy of the instance's system_metadata (an empty object if none). */
static json_t *shelve_sysmeta(const struct os_inst *i)
{
    json_t *sm = ovo_get(i->prim, "system_metadata");
    return json_is_object(sm) ? json_deep_copy(sm) : json_object();
}

static const char *shelve_sysmeta_str(const json_t *prim, const char *key)
{
    return json_string_value(json_object_get(ovo_get(prim, "system_metadata"), key));
}

/* _power_off_instance: a guest that runs or is paused is stopped
 * (clean: within the shutdown timeout first); one that is off, suspended
 * or gone is left as it is.  0, or -1 with *err. */
static int shelve_power_off(struct os_compute *c, struct os_inst *i, bool clean, struct err **err)
{
    const char *uuid = os_inst_uuid(i);
    int st = os_compute_power_now(c, uuid);
    if (st != DRV_POWER_RUNNING && st != DRV_POWER_PAUSED)
        return 0;
    int timeout = clean && st == DRV_POWER_RUNNING ? os_compute_shutdown_timeout(c, i) : 0;
    int rc = drv_hv_power_off(c->hv, uuid, timeout, err);
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
        rc = drv_hv_power_off(c->hv, uuid, timeout, err);
    return rc;
}

/* The image of a shelve that did not happen, deleted (logged). */
static void shelve_drop_image(struct os_compute *c, const char *image_id, const char *token)
{
    autoerr struct err *e = NULL;
    if (!c->glance || !image_id)
        return;
    if (os_glance_image_delete(c->glance, image_id, token, &e) < 0 &&
        err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "image %s not deleted", image_id);
    else
        log_info("image %s deleted", image_id);
}

/* ---- offload ---- */

/* The guest's predictor state onto its shelved image (property
 * OS_SHELVE_STATE_PROPERTY), for an unshelve on any host.  Logged, not
 * returned: without it the guest starts from that host's fleet. */
static void offload_carry_state(struct os_compute *c, struct os_inst *i)
{
    const char *uuid = os_inst_uuid(i);
    const char *image_id = shelve_sysmeta_str(i->prim, "shelved_image_id");
    if (!c->glance || !c->control || !image_id || !*image_id)
        return;
    size_t n = 0;
    struct drv_control_state *v = drv_control_states(c->control, &n);
    autoerr struct err *e = NULL;
    autofree char *text = NULL;
    size_t len = 0;
    for (size_t k = 0; k < n && !text; k++)
        if (strcmp(v[k].uuid, uuid) == 0) {
            len = v[k].len;
            text = os_shelve_state_encode(v[k].state, v[k].len, &e);
        }
    drv_control_states_free(v, n);
    if (!text && !e && c->db) {
        /* the control loop has none (an offload a restart finishes: the
         * guest was gone before the engine could adopt it): the one this
         * host saved last */
        autofree unsigned char *saved = db_predictor_state_get(c->db, uuid, &len, &e);
        if (saved)
            text = os_shelve_state_encode(saved, len, &e);
        else if (err_code_of(e) == ERR_NOT_FOUND)
            err_clear(&e);
    }
    if (!text) {
        if (e)
            log_err(LOG_LEVEL_WARN, e, "predictor state of %s not carried", uuid);
        return;
    }
    json_auto_t *want = json_pack("{s:s}", OS_SHELVE_STATE_PROPERTY, text);
    json_auto_t *img =
        os_glance_image_update(c->glance, image_id, os_ctx_str(i->ctx, "auth_token"), want, &e);
    if (!img)
        log_err(LOG_LEVEL_WARN, e, "predictor state of %s not put on image %s", uuid, image_id);
    else
        log_info("predictor state of %s (%zu bytes, %zu as text) carried by image %s", uuid, len,
                 strlen(text), image_id);
}

/* The offload's last step, SHELVED_OFFLOADED saved: no RPC may reach this
 * host for it any more (host and node None) and the schedulers hear it
 * left.  0, or -1 with *err. */
static int offload_leave_host(struct os_compute *c, struct os_inst *i, struct err **err)
{
    os_inst_set_str(i, "host", NULL);
    os_inst_set_str(i, "node", NULL);
    const char *const none[] = {OS_TASK_NONE, NULL};
    if (os_inst_save(i, none, NULL, err) < 0)
        return -1;
    os_compute_tell_schedulers_gone(c, i->ctx, os_inst_uuid(i));
    return 0;
}

/* _shelve_offload_instance on instance i (SHELVED, its task one of
 * `expected`): 0, or -1 with *err and the instance as it was saved last
 * (the guest may be gone: the offload can be asked again). */
static int offload_do(struct os_compute *c, struct os_inst *i, bool clean,
                      const char *const *expected, struct err **err)
{
    const char *uuid = os_inst_uuid(i);
    log_info("shelve offloading %s", uuid);
    os_compute_notify(c, i, "shelve_offload.start", NULL);
    autoerr struct err *e = NULL;
    if (shelve_power_off(c, i, clean, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND) {
        *err = steal_pointer(&e);
        return -1;
    }
    err_clear(&e);
    int power = os_compute_power_now(c, uuid);
    int rc = drv_hv_destroy(c->hv, uuid, false, &e);
    if (rc < 0 && os_compute_hv_retry(c, rc, &e) < 0)
        rc = drv_hv_destroy(c->hv, uuid, false, &e);
    if (rc < 0 && err_code_of(e) != ERR_NOT_FOUND) {
        *err = steal_pointer(&e);
        return -1;
    }
    os_compute_test_pause("offload", uuid);
    /* the guest's predictor state, before the engine forgets it: on the
     * shelved image for any host, in this host's database */
    offload_carry_state(c, i);
    os_compute_record_offloaded(c, uuid);
    os_compute_engine_forget(c, uuid);
    os_compute_untrack(c, uuid);
    /* before SHELVED_OFFLOADED: a client polling for it may schedule
     * into the room at once */
    if (c->placement && os_placement_delete_allocations(c->placement, uuid, err) < 0)
        return err_wrap(err, "allocations of %s not deleted", uuid);
    os_inst_set_int(i, "power_state", power);
    os_inst_set_str(i, "vm_state", "shelved_offloaded");
    os_inst_set_str(i, "task_state", NULL);
    if (os_inst_save(i, expected, NULL, err) < 0)
        return -1;
    if (offload_leave_host(c, i, err) < 0)
        return -1;
    os_compute_notify(c, i, "shelve_offload.end", NULL);
    log_info("instance %s shelved and offloaded", uuid);
    return 0;
}

int os_compute_shelve_offload_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    enum os_shelve_go go = shelve_check(c, req->msg->ctx, OS_SHELVE_OP_OFFLOAD, uuid, NULL);
    if (go == OS_SHELVE_GO_GONE) {
        os_fault_instance_not_found(&req->fault, uuid);
        return err_set(err, ERR_NOT_FOUND, "instance %s is gone", uuid);
    }
    if (go == OS_SHELVE_GO_SETTLED) {
        log_warn("shelve_offload of %s came again (a restart settled it): nothing to do", uuid);
        return 0;
    }
    os_inst_event_start(i, OFFLOAD_EVENT);
    const char *const expected[] = {"shelving", "shelving_offloading", NULL};
    bool clean = !json_is_false(json_object_get(req->msg->args, "clean_shutdown"));
    if (offload_do(c, i, clean, expected, err) < 0) {
        log_err(LOG_LEVEL_ERROR, *err, "shelve offload of %s failed", uuid);
        if (err_code_of(*err) == ERR_NOT_FOUND)
            os_fault_instance_not_found(&req->fault, uuid);
        os_compute_fail_op(c, i, OFFLOAD_EVENT, *err);
        return -1;
    }
    os_inst_event_finish(i, OFFLOAD_EVENT, NULL);
    return 0;
}

/* ---- shelve ---- */

/* The guarded task state step of _shelve_instance's update_task_state. */
static int shelve_step(struct os_inst *i, const char *to, const char *from, struct err **err)
{
    const char *const expected[] = {from, NULL};
    os_inst_set_str(i, "task_state", to);
    return os_inst_save(i, expected, NULL, err);
}

/* The shelve itself, from `shelving`: 0, or -1 with *err (image errors
 * with their fault in req). */
static int shelve_do(struct os_compute *c, struct os_rpc_req *req, struct os_inst *i,
                     const char *image_id, bool *offloaded, struct err **err)
{
    const char *uuid = os_inst_uuid(i);
    const char *token = os_ctx_str(req->msg->ctx, "auth_token");
    json_auto_t *image = NULL;
    json_auto_t *meta = NULL;
    json_auto_t *updated = NULL;
    json_t *sm = NULL;
    struct drv_hv_snapshot snap __attribute__((cleanup(drv_hv_snapshot_release))) = {0};
    *offloaded = false;

    image = os_glance_image_get(c->glance, image_id, token, err);
    if (!image) {
        fault_image(&req->fault, image_id, *err);
        return -1;
    }
    /* a paused guest is not asked to shut down: some refuse */
    bool clean = !json_is_false(json_object_get(req->msg->args, "clean_shutdown"));
    if (shelve_power_off(c, i, clean, err) < 0)
        return -1;
    os_compute_domain_settle(c, i);
    /* the guest is off: nothing to quiesce */
    if (drv_hv_snapshot(c->hv, uuid, DRV_HV_QUIESCE_NONE, &snap, err) < 0)
        return -1;
    if (shelve_step(i, "shelving_image_pending_upload", "shelving", err) < 0 ||
        shelve_step(i, "shelving_image_uploading", "shelving_image_pending_upload", err) < 0)
        return -1;
    meta = os_snapshot_image_meta(i->prim, snap.format);
    updated = os_glance_image_update(c->glance, image_id, token, meta, err);
    if (!updated || os_glance_image_upload(c->glance, image_id, token, snap.path, err) < 0) {
        fault_image(&req->fault, image_id, *err);
        return -1;
    }
    log_info("instance %s: shelved image %s uploaded (%lld bytes)", uuid, image_id,
             (long long)snap.bytes);
    drv_hv_snapshot_release(&snap);

    char base[24], at[40];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* timeutils.utcnow().isoformat() */
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(at, sizeof(at), "%s.%06d", base, (int)(ts.tv_nsec / 1000));
    sm = shelve_sysmeta(i);
    json_object_set_new(sm, "shelved_at", json_string(at));
    json_object_set_new(sm, "shelved_image_id", json_string(image_id));
    json_object_set_new(sm, "shelved_host", json_string(c->host));
    ovo_set(i->prim, "system_metadata", sm);
    bool offload = os_shelve_offload_now(c->cfg->shelved_offload_time);
    os_inst_set_str(i, "vm_state", "shelved");
    os_inst_set_str(i, "task_state", offload ? "shelving_offloading" : NULL);
    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    const char *const shelving[] = {"shelving", "shelving_image_uploading", NULL};
    if (os_inst_save(i, shelving, NULL, err) < 0)
        return -1;
    os_compute_record_state(c, i);
    os_compute_track_inst(c, i);
    os_compute_notify(c, i, "shelve.end", NULL);
    log_info("instance %s shelved%s", uuid, offload ? ": offloading" : "");
    if (!offload)
        return 0;
    const char *const offloading[] = {"shelving", "shelving_offloading", NULL};
    /* the image is the shelved instance's now: a failed offload keeps it */
    if (offload_do(c, i, false, offloading, err) < 0) {
        *offloaded = true;
        return err_wrap(err, "offload");
    }
    *offloaded = true;
    return 0;
}

int os_compute_shelve_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    const char *token = os_ctx_str(req->msg->ctx, "auth_token");
    const char *image_id = os_compute_req_image_id(c, req, i, SHELVE_EVENT, err);
    if (!image_id)
        return -1;
    json_auto_t *now = NULL;
    enum os_shelve_go go = shelve_check(c, req->msg->ctx, OS_SHELVE_OP_SHELVE, uuid, &now);
    if (go != OS_SHELVE_GO_ON) {
        /* gone, or a restart undid (or finished) the shelve: the image is
         * not needed unless it is the instance's shelved one */
        const char *kept = now ? shelve_sysmeta_str(now, "shelved_image_id") : NULL;
        log_warn("shelve of %s: the instance is %s", uuid,
                 go == OS_SHELVE_GO_GONE ? "gone" : "no longer shelving (settled by a restart)");
        if (!kept || strcmp(kept, image_id) != 0)
            shelve_drop_image(c, image_id, token);
        return 0;
    }
    os_inst_event_start(i, SHELVE_EVENT);
    os_compute_notify_exists(c, i, NULL, NULL);
    os_compute_notify(c, i, "shelve.start", NULL);
    log_info("shelving %s to image %s", uuid, image_id);
    bool offloaded = false;
    if (shelve_do(c, req, i, image_id, &offloaded, err) < 0) {
        log_err(LOG_LEVEL_ERROR, *err, "shelve of %s failed", uuid);
        if (!offloaded) {
            /* not shelved: the image would be nobody's */
            shelve_drop_image(c, image_id, token);
        }
        if (err_code_of(*err) == ERR_NOT_FOUND && !req->fault.cls)
            os_fault_instance_not_found(&req->fault, uuid);
        int64_t was = DRV_POWER_NOSTATE;
        ovo_get_int(i->prim, "power_state", &was);
        if (!offloaded && was == DRV_POWER_RUNNING && os_compute_power_now(c, uuid) == DRV_POWER_SHUTDOWN) {
            /* the instance as it was: running (nova leaves it off) */
            autoerr struct err *pe = NULL;
            if (os_compute_power_on_booting(c, uuid, &pe) < 0)
                log_err(LOG_LEVEL_WARN, pe, "guest of the failed shelve not started again");
        }
        os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
        os_compute_fail_op(c, i, SHELVE_EVENT, *err);
        os_compute_record_state(c, i);
        return -1;
    }
    os_inst_event_finish(i, SHELVE_EVENT, NULL);
    return 0;
}

/* ---- unshelve ---- */

/* The unshelve failed (claim refused, spawn failed...): as nova's
 * _unshelve_instance cleans up -- allocations deleted, host and node None
 * -- and reverts_task_state: still SHELVED_OFFLOADED, with a fault. */
static void unshelve_fail(struct os_compute *c, struct os_inst *i, bool spawned,
                          const struct err *failure)
{
    const char *uuid = os_inst_uuid(i);
    autoerr struct err *e = NULL;
    log_err(LOG_LEVEL_ERROR, failure, "unshelve of %s failed", uuid);
    if (spawned && drv_hv_destroy(c->hv, uuid, false, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "guest of the failed unshelve not destroyed");
    err_clear(&e);
    os_compute_record_offloaded(c, uuid);
    os_compute_engine_forget(c, uuid);
    os_compute_untrack(c, uuid);
    if (c->placement && os_placement_delete_allocations(c->placement, uuid, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "allocations of the failed unshelve not deleted");
    os_inst_set_str(i, "host", NULL);
    os_inst_set_str(i, "node", NULL);
    os_inst_set_str(i, "vm_state", "shelved_offloaded");
    os_inst_set_int(i, "power_state", DRV_POWER_NOSTATE);
    os_compute_fail_op(c, i, UNSHELVE_EVENT, failure);
}

/* What _unshelve_instance does after the spawn: the shelved image deleted,
 * the shelved_* keys removed, ACTIVE (shared with the restart's
 * recovery).  `expected` guards the save. */
static int unshelve_finish(struct os_compute *c, struct os_inst *i, const char *const *expected,
                           struct err **err)
{
    const char *uuid = os_inst_uuid(i);
    const char *token = os_ctx_str(i->ctx, "auth_token");
    const char *image_id = shelve_sysmeta_str(i->prim, "shelved_image_id");
    if (image_id && *image_id)
        shelve_drop_image(c, image_id, token);
    json_t *sm = shelve_sysmeta(i);
    for (size_t k = 0; k < ARRAY_SIZE(SHELVED_KEYS); k++)
        json_object_del(sm, SHELVED_KEYS[k]);
    ovo_set(i->prim, "system_metadata", sm);
    os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
    os_inst_set_str(i, "vm_state", "active");
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_now(i, "launched_at");
    if (os_inst_save(i, expected, NULL, err) < 0)
        return -1;
    os_compute_record_state(c, i);
    os_compute_track_inst(c, i);
    os_compute_tell_schedulers_new(c, i, i->ctx);
    return 0;
}

void os_compute_shelved_started(struct os_compute *c, struct os_inst *i)
{
    const char *image_id = shelve_sysmeta_str(i->prim, "shelved_image_id");
    bool shelved = false;
    for (size_t k = 0; k < ARRAY_SIZE(SHELVED_KEYS); k++)
        shelved |= shelve_sysmeta_str(i->prim, SHELVED_KEYS[k]) != NULL;
    if (!shelved)
        return;
    if (image_id && *image_id)
        shelve_drop_image(c, image_id, os_ctx_str(i->ctx, "auth_token"));
    json_t *sm = shelve_sysmeta(i);
    for (size_t k = 0; k < ARRAY_SIZE(SHELVED_KEYS); k++)
        json_object_del(sm, SHELVED_KEYS[k]);
    ovo_set(i->prim, "system_metadata", sm);
}

/* The predictor state the shelved image carries (nova's image dict nests
 * properties; Glance's has them at the top), or NULL (logged when it
 * cannot be read). */
static unsigned char *unshelve_carried_state(const json_t *image, size_t *len)
{
    const char *text = json_string_value(
        json_object_get(json_object_get(image, "properties"), OS_SHELVE_STATE_PROPERTY));
    if (!text)
        text = json_string_value(json_object_get(image, OS_SHELVE_STATE_PROPERTY));
    *len = 0;
    if (!text)
        return NULL;
    autoerr struct err *e = NULL;
    unsigned char *state = os_shelve_state_decode(text, drv_predictor_state_max(), len, &e);
    if (!state)
        log_err(LOG_LEVEL_WARN, e, "predictor state of the shelved image not used");
    return state;
}

/* The guest, spawned from the shelved image as a build spawns one. */
static int unshelve_spawn(struct os_compute *c, struct os_rpc_req *req, struct os_inst *i,
                          const json_t *image, struct drv_hv_guest_spec *spec, struct err **err)
{
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", os_inst_uuid(i));
    spec->name = os_compute_domain_name(i);
    spec->display_name = i->inst->name ? xstrdup(i->inst->name) : NULL;
    spec->project_id = i->inst->project_id ? xstrdup(i->inst->project_id) : NULL;
    spec->user_id = i->inst->user_id ? xstrdup(i->inst->user_id) : NULL;
    spec->flavor_name = i->inst->flavor.name ? xstrdup(i->inst->flavor.name) : NULL;
    if (os_compute_build_images(c, i, image, req->msg->ctx, spec, err) < 0) {
        fault_image(&req->fault, json_string_value(json_object_get(image, "id")), *err);
        return -1;
    }
    /* the config drive the instance had (no injected files, no password:
     * as nova's unshelve spawns) */
    if (os_compute_config_drive(c, i->prim, image, NULL, NULL, &spec->config_drive, err) < 0)
        return err_wrap(err, "config drive");
    int rc = drv_hv_spawn(c->hv, spec, err);
    if (rc < 0 && os_compute_hv_retry(c, rc, err) < 0)
        rc = drv_hv_spawn(c->hv, spec, err);
    return rc;
}

int os_compute_unshelve_instance(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *uuid = os_inst_uuid(i);
    const json_t *image = json_object_get(req->msg->args, "image");
    if (image && !json_is_null(image) && !json_is_object(image))
        return err_set(err, ERR_INVALID, "`image` is not a dict");
    enum os_shelve_go go = shelve_check(c, req->msg->ctx, OS_SHELVE_OP_UNSHELVE, uuid, NULL);
    if (go == OS_SHELVE_GO_GONE) {
        os_fault_instance_not_found(&req->fault, uuid);
        return err_set(err, ERR_NOT_FOUND, "instance %s is gone", uuid);
    }
    if (go == OS_SHELVE_GO_SETTLED) {
        log_warn("unshelve of %s came again (a restart settled it): nothing to do", uuid);
        return 0;
    }
    const char *node = json_string_value(json_object_get(req->msg->args, "node"));
    if (node && strcmp(node, c->node) != 0)
        log_warn("unshelve for node `%s`, ours is `%s`: here anyway", node, c->node);
    os_inst_event_start(i, UNSHELVE_EVENT);
    os_compute_notify(c, i, "unshelve.start", NULL);
    log_info("unshelving %s", uuid);

    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    int64_t intent = 0;
    bool spawned = false;
    autofree unsigned char *carried = NULL;
    size_t carried_len = 0;
    const char *const unshelving[] = {"unshelving", "spawning", NULL};
    const char *const spawning[] = {"spawning", NULL};
    os_inst_set_str(i, "task_state", "spawning");
    if (os_inst_save(i, unshelving, NULL, err) < 0)
        goto failed;
    if (!json_is_object(image)) {
        err_set(err, ERR_UNSUPPORTED,
                "unshelve of a volume-backed instance: sculpt boots only "
                "from images");
        goto failed;
    }
    /* the claim: admitted as a build is, its predictor continuing from
     * the state its image carries (or this host kept) */
    carried = unshelve_carried_state(image, &carried_len);
    if (os_compute_engine_place_again(c, i, carried, carried_len, &spec.shape, err) < 0)
        goto failed;
    os_inst_set_str(i, "host", c->host);
    os_inst_set_str(i, "node", c->node);
    os_inst_set_str(i, "launched_on", c->host);
    if (os_inst_save(i, spawning, NULL, err) < 0)
        goto failed;
    os_compute_track_inst(c, i);
    intent = os_compute_intent_begin(c, DB_OP_SPAWN, i, &spec.shape);
    if (unshelve_spawn(c, req, i, image, &spec, err) < 0)
        goto failed;
    spawned = true;
    os_compute_intent_step(c, intent, "started");
    os_compute_intent_test_pause("unshelve", intent, uuid, 0, 0);
    if (unshelve_finish(c, i, spawning, err) < 0)
        goto failed;
    os_compute_intent_finish(c, intent, true, NULL);
    os_inst_event_finish(i, UNSHELVE_EVENT, NULL);
    os_compute_notify(c, i, "unshelve.end", NULL);
    drv_hv_guest_spec_release(&spec);
    log_info("instance %s unshelved", uuid);
    return 0;

failed:
    os_compute_intent_finish(c, intent, false, *err);
    if (err_code_of(*err) == ERR_NOT_FOUND && !req->fault.cls)
        os_fault_instance_not_found(&req->fault, uuid);
    unshelve_fail(c, i, spawned, *err);
    drv_hv_guest_spec_release(&spec);
    return -1;
}

/* ---- start-up ---- */

int os_compute_shelve_recover(struct os_compute *c, struct os_inst *i, const struct drv_hv_info *g)
{
    const char *uuid = os_inst_uuid(i);
    const char *vm = os_inst_vm_state(i);
    enum os_shelve_fix fix = os_shelve_recover_plan(vm, os_inst_task_state(i), g != NULL,
                                                    g && g->state == DRV_POWER_RUNNING);
    autoerr struct err *e = NULL;
    switch (fix) {
    case OS_SHELVE_FIX_NONE:
        return 0;
    case OS_SHELVE_FIX_CLEAR_TASK:
    case OS_SHELVE_FIX_UNDO_SHELVE:
        /* the shelve never saved SHELVED: the instance as it was (a guest
         * the shelve powered off, or that a snapshot saved, runs again)
         * and the redelivered request deletes its image */
        if (g && vm && strcmp(vm, "active") == 0) {
            int rc = 0;
            if (g->state == DRV_POWER_SHUTDOWN)
                rc = os_compute_power_on_booting(c, uuid, &e);
            else if (g->state == DRV_POWER_SUSPENDED)
                rc = drv_hv_resume(c->hv, uuid, &e);
            if (rc < 0)
                log_err(LOG_LEVEL_WARN, e, "guest of the interrupted shelve of %s not started",
                        uuid);
        }
        os_inst_set_int(i, "power_state", os_compute_power_now(c, uuid));
        os_inst_set_str(i, "task_state", NULL);
        if (os_inst_save(i, NULL, NULL, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "interrupted shelve of %s not undone", uuid);
        else
            log_info("recovered %s: interrupted shelve undone", uuid);
        os_compute_record_state(c, i);
        return 1;
    case OS_SHELVE_FIX_OFFLOAD: {
        const char *const offloading[] = {"shelving_offloading", NULL};
        if (offload_do(c, i, false, offloading, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "interrupted offload of %s not finished", uuid);
        else
            log_info("recovered %s: interrupted offload finished", uuid);
        return 1;
    }
    case OS_SHELVE_FIX_FINISH_UNSHELVE: {
        const char *const spawning[] = {"spawning", "unshelving", NULL};
        if (unshelve_finish(c, i, spawning, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "interrupted unshelve of %s not finished", uuid);
        else
            log_info("recovered %s: unshelve finished (its guest runs)", uuid);
        return 1;
    }
    case OS_SHELVE_FIX_LEAVE_HOST:
        /* Nova's resource tracker counts no SHELVED_OFFLOADED instance:
         * nor does this host's */
        os_compute_untrack(c, uuid);
        if (offload_leave_host(c, i, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "offloaded %s not taken off this host", uuid);
        else
            log_info("recovered %s: offloaded, taken off this host", uuid);
        return 1;
    case OS_SHELVE_FIX_UNDO_UNSHELVE:
        err_set(&e, ERR_INTERNAL, "unshelve interrupted by a restart of sculpt-compute");
        unshelve_fail(c, i, g != NULL, e);
        log_info("recovered %s: interrupted unshelve undone (SHELVED_OFFLOADED)", uuid);
        return 1;
    }
    return 0;
}
