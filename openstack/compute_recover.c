/* After a start (first or after a crash): what Nova believes runs here
 * meets what the hypervisor runs (nova/compute/manager.py _init_instance
 * and _sync_power_states).
 *
 *  - every instance Nova places on this host is counted by the resource
 *    tracker, and its guest (when it runs) is adopted by the engine in
 *    the shape it has: nothing is restarted;
 *  - operations a crash interrupted are finished: a delete completes, a
 *    power operation is carried out, a build whose guest runs becomes
 *    ACTIVE, one whose guest never started becomes ERROR;
 *  - power states that drifted are saved as the hypervisor reports them.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "db/reconcile.h"
#include "driver/hypervisor.h"
#include "driver/presculpt_pool.h"
#include "driver/sculpt.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_rebuild.h"
#include "openstack/compute_shelve.h"
#include "openstack/compute_rescue.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"

LOG_INIT("openstack.compute_recover");

static const struct drv_hv_info *recover_find(const struct drv_hv_info *guests, size_t n,
                                              const char *uuid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(guests[i].uuid, uuid) == 0)
            return &guests[i];
    return NULL;
}

/* Hand a running guest to the control loop in the shape it was asked to
 * take (a balloon still giving memory back is on its way there), with the
 * maxima its domain is defined with (a handed-over pool member's may be
 * above its flavor's). */
static void recover_adopt(struct os_compute *c, const struct drv_instance *inst,
                          const struct drv_hv_info *g)
{
    autoerr struct err *e = NULL;
    struct drv_instance held = *inst; /* borrows inst's strings */
    held.vcpus_defined = g->shape.vcpus_max;
    held.mem_defined_mib = g->shape.mem_max_mib;
    struct drv_shape asked;
    drv_hv_info_asked(g, &asked);
    if (os_compute_engine_restore(c, &held, &asked, &e) < 0 && err_code_of(e) != ERR_CONFLICT)
        log_err(LOG_LEVEL_WARN, e, "guest %s not adopted by the engine", inst->uuid);
}

static int recover_save(struct os_inst *i, const char *what)
{
    autoerr struct err *e = NULL;
    if (os_inst_save(i, NULL, NULL, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "recovery of %s (%s) not saved", os_inst_uuid(i), what);
        return -1;
    }
    log_info("recovered %s: %s", os_inst_uuid(i), what);
    return 0;
}

/* Finish what the task state says was under way. */
static void recover_task(struct os_compute *c, struct os_inst *i, const struct drv_hv_info *g)
{
    const char *task = os_inst_task_state(i);
    const char *vm = os_inst_vm_state(i);
    const char *uuid = os_inst_uuid(i);
    autoerr struct err *e = NULL;

    if (task && strcmp(task, "deleting") == 0) {
        if (os_compute_release_guest(c, uuid, &e) < 0) {
            log_err(LOG_LEVEL_WARN, e, "interrupted delete of %s not finished", uuid);
            return;
        }
        os_inst_set_str(i, "vm_state", "deleted");
        os_inst_set_str(i, "task_state", NULL);
        os_inst_set_int(i, "power_state", DRV_POWER_NOSTATE);
        os_inst_set_now(i, "terminated_at");
        if (recover_save(i, "delete finished") == 0 && os_inst_destroy(i, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "instance %s not destroyed in Nova", uuid);
        return;
    }
    if (vm && strcmp(vm, "building") == 0) {
        if (g && g->state == DRV_POWER_RUNNING) {
            os_inst_set_str(i, "vm_state", "active");
            os_inst_set_str(i, "task_state", NULL);
            os_inst_set_int(i, "power_state", g->state);
            os_inst_set_now(i, "launched_at");
            recover_save(i, "build finished (its guest runs)");
        } else {
            err_set(&e, ERR_INTERNAL, "build interrupted by a restart of sculpt-compute");
            if (g)
                drv_hv_destroy(c->hv, uuid, false, NULL);
            os_compute_engine_forget(c, uuid);
            os_compute_untrack(c, uuid);
            os_inst_fault(i, e);
            os_inst_set_str(i, "vm_state", "error");
            os_inst_set_str(i, "task_state", NULL);
            recover_save(i, "build interrupted: ERROR");
            if (c->placement)
                os_placement_delete_allocations(c->placement, uuid, NULL);
        }
        return;
    }
    if (os_compute_rebuild_recover(c, i, g))
        return;
    if (os_compute_shelve_recover(c, i, g))
        return;
    if (os_compute_rescue_recover(c, i, g))
        return;
    if (!task)
        return;
    if (!g) {
        /* a move's destination that has not got the guest yet */
        os_compute_resize_recover(c, i, false);
        return;
    }
    int rc = 0;
    const char *final = NULL;
    if (strcmp(task, "powering-off") == 0) {
        rc = g->state == DRV_POWER_SHUTDOWN
                 ? 0
                 : drv_hv_power_off(c->hv, uuid, os_compute_shutdown_timeout(c, i), &e);
        final = "stopped";
    } else if (strcmp(task, "soft-deleting") == 0) {
        /* as soft_delete_instance: switched off at once, kept */
        rc = g->state == DRV_POWER_SHUTDOWN || g->state == DRV_POWER_SUSPENDED
                 ? 0
                 : drv_hv_power_off(c->hv, uuid, 0, &e);
        final = "soft-delete";
    } else if (strcmp(task, "powering-on") == 0 || strncmp(task, "reboot", 6) == 0 ||
               strcmp(task, "unpausing") == 0 || strcmp(task, "resuming") == 0 ||
               strcmp(task, "restoring") == 0) {
        if (g->state == DRV_POWER_SHUTDOWN)
            rc = os_compute_power_on_booting(c, uuid, &e);
        else if (g->state == DRV_POWER_PAUSED)
            rc = drv_hv_unpause(c->hv, uuid, &e);
        else if (g->state == DRV_POWER_SUSPENDED)
            rc = drv_hv_resume(c->hv, uuid, &e);
        final = "active";
    } else if (strcmp(task, "pausing") == 0) {
        rc = g->state == DRV_POWER_PAUSED ? 0 : drv_hv_pause(c->hv, uuid, &e);
        final = "paused";
    } else if (strcmp(task, "suspending") == 0) {
        rc = g->state == DRV_POWER_SUSPENDED ? 0 : drv_hv_suspend(c->hv, uuid, &e);
        final = "suspended";
    } else if (strncmp(task, "image_", 6) == 0) {
        /* a snapshot interrupted (nova clears the task state): a guest
         * it saved to disk comes back as it was; the backend removed
         * the copy at its start */
        bool was_up = vm && (strcmp(vm, "active") == 0 || strcmp(vm, "paused") == 0);
        if (was_up && g->state == DRV_POWER_SUSPENDED)
            rc = drv_hv_resume(c->hv, uuid, &e);
    } else if (os_compute_resize_recover(c, i, true)) {
        return;
    } else {
        /* Other tasks sculpt never starts. */
        os_inst_set_str(i, "task_state", NULL);
        recover_save(i, "stale task state cleared");
        return;
    }
    struct drv_hv_info now;
    enum drv_power_state st = drv_hv_get_info(c->hv, uuid, &now, NULL) == 0 ? now.state
                                                                            : g->state;
    if (rc < 0) {
        log_err(LOG_LEVEL_WARN, e, "interrupted `%s` of %s not finished", task, uuid);
        final = NULL;
    }
    if (final)
        os_inst_set_str(i, "vm_state", final);
    os_inst_set_str(i, "task_state", NULL);
    os_inst_set_int(i, "power_state", st);
    recover_save(i, final ? "interrupted power operation finished" : "task state cleared");
}

/* The database's view against the hypervisor's and Nova's (db/reconcile.h):
 * interrupted spawns, reshapes and destroys completed or rolled back. */
static void recover_db(struct os_compute *c, const json_t *objs)
{
    size_t n = json_array_size(objs);
    struct db_nova_instance *nova = xcalloc(n + 1, sizeof(*nova));
    size_t k;
    json_t *prim;
    size_t m = 0;
    json_array_foreach(objs, k, prim) {
        const char *uuid = ovo_get_str(prim, "uuid");
        if (!uuid || !uuid_is_valid(uuid))
            continue;
        snprintf(nova[m].uuid, sizeof(nova[m].uuid), "%s", uuid);
        nova[m].vm_state = ovo_get_str(prim, "vm_state");
        nova[m].task_state = ovo_get_str(prim, "task_state");
        m++;
    }
    struct db_reconcile_opts opts = {.domain_prefix = "instance-", .reap_nova_deleted = false};
    int failed = 0;
    autoerr struct err *e = NULL;
    autoptr(db_fix_list) fixes = db_reconcile_hypervisor(c->db, c->hv, nova, m, &opts, &failed, &e);
    if (!fixes)
        log_err(LOG_LEVEL_WARN, e, "database reconciliation skipped");
    else
        log_info("database reconciled: %zu fix(es), %d failed", fixes->n, failed);
    free(nova);
}

/* Rows of instances Nova does not place here: a move's admission a
 * restart cut (prep_resize wrote the row) among them, which the move
 * claims' pass sorts out (compute_migrate_claims.c). */
static void recover_moves_in(struct os_compute *c, const json_t *objs)
{
    autoerr struct err *e = NULL;
    autoptr(db_instance_list) rows = db_instance_list(c->db, NULL, &e);
    if (!rows) {
        log_err(LOG_LEVEL_WARN, e, "rows of moves to this host not read");
        return;
    }
    for (size_t r = 0; r < rows->n; r++) {
        const char *uuid = rows->v[r]->uuid;
        bool here = false;
        size_t k;
        json_t *prim;
        json_array_foreach(objs, k, prim) {
            const char *u = ovo_get_str(prim, "uuid");
            if (u && strcmp(u, uuid) == 0)
                here = true;
        }
        if (!here)
            os_compute_move_claim_note(c, uuid);
    }
}

/* Nova's instances on this host but those evacuated from it (`skip`): a
 * new array. */
static json_t *recover_not_evacuated(const json_t *objs, const json_t *skip)
{
    json_t *out = json_array();
    size_t k;
    json_t *prim;
    json_array_foreach(objs, k, prim) {
        const char *u = ovo_get_str(prim, "uuid");
        if (!u || !json_object_get(skip, u))
            json_array_append(out, prim);
    }
    return out;
}

int os_compute_recover(struct os_compute *c, struct err **err)
{
    json_auto_t *ctx = os_ctx_new_admin();
    /* evacuated while this host was down: gone from here first, as Nova's
     * _destroy_evacuated_instances before _init_instance */
    json_auto_t *evacuated = NULL;
    if (os_compute_evacuated_cleanup(c, ctx, &evacuated, err) < 0)
        return -1;
    json_auto_t *list = os_conductor_class_action(
        &c->conductor, ctx, "InstanceList", "get_by_host_and_node",
        json_pack("[s, s]", c->host, c->node),
        json_pack("{s:[s, s, s]}", "expected_attrs", "flavor", "system_metadata", "metadata"),
        NULL, err);
    if (!list)
        return err_wrap(err, "instances on this host");
    json_auto_t *objs = recover_not_evacuated(ovo_list_objects(list), evacuated);
    if (c->db) {
        recover_db(c, objs);
        recover_moves_in(c, objs);
    }

    struct drv_hv_info *guests = NULL;
    size_t nguests = 0;
    if (drv_hv_list(c->hv, &guests, &nguests, err) < 0)
        return err_wrap(err, "list the hypervisor's guests");
    autoerr struct err *e = NULL;

    size_t k;
    json_t *prim;
    size_t adopted = 0;
    json_array_foreach(objs, k, prim) {
        autoptr(os_inst) i = os_inst_new(prim, ctx, &c->conductor, c->host, &e);
        if (!i) {
            log_err(LOG_LEVEL_WARN, e, "instance from Nova not understood");
            err_clear(&e);
            continue;
        }
        log_ctx_set_instance(os_inst_uuid(i));
        const struct drv_hv_info *g = recover_find(guests, nguests, os_inst_uuid(i));
        const char *vm = os_inst_vm_state(i);
        /* a soft-deleted server keeps its guest and resources until it is
         * restored or reclaimed */
        bool gone = vm && (strcmp(vm, "deleted") == 0 || (strcmp(vm, "error") == 0 && !g));
        if (!gone) {
            os_compute_track_inst(c, i);
            if (g && g->state != DRV_POWER_NOSTATE) {
                recover_adopt(c, i->inst, g);
                adopted++;
            }
        }
        recover_task(c, i, g);
        /* a handed-over guest found (or just) shut off takes the
         * instance's domain name; the rows follow a rename a crash cut */
        if (!gone && g)
            os_compute_domain_settle(c, i);
        /* _sync_power_states: Nova shows what the hypervisor has. */
        if (!gone && !os_inst_task_state(i)) {
            enum drv_power_state st = g ? g->state : DRV_POWER_NOSTATE;
            int64_t have = -1;
            ovo_get_int(i->prim, "power_state", &have);
            if (have != (int64_t)st) {
                os_inst_set_int(i, "power_state", st);
                recover_save(i, g ? "power state synced" : "guest missing: power state NOSTATE");
            }
        }
        log_ctx_set_instance(NULL);
    }
    for (size_t g = 0; g < nguests; g++) {
        bool known = false;
        json_array_foreach(objs, k, prim) {
            const char *u = ovo_get_str(prim, "uuid");
            if (u && strcmp(u, guests[g].uuid) == 0)
                known = true;
        }
        if (!known && guests[g].ours && !(c->pools && drv_pool_mgr_has(c->pools, guests[g].uuid)))
            log_warn("guest %s (%s) runs here but Nova has no instance for it: left alone",
                     guests[g].uuid, guests[g].name);
    }
    log_info("%zu instance(s) on this host in Nova, %zu guest(s) on the hypervisor, %zu adopted",
             json_array_size(objs), nguests, adopted);
    free(guests);
    os_compute_migrate_intents_recover(c);
    return 0;
}
