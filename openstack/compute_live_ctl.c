/* live_migration_abort and live_migration_force_complete on the source,
 * as Zed's ComputeManager answers them (nova/compute/manager.py; casts
 * from the API, which let them through for a migration it lists as
 * queued, preparing or running, running only for force complete):
 *
 *   live_migration_abort(instance, migration_id)
 *        the migration under way here must be that one: while it waits
 *        in the queue, it is taken out and cancelled (its allocations
 *        back to the instance, the task state cleared, the guest never
 *        touched); while the destination prepares, it ends there,
 *        cancelled; while it copies,
 *        the job is aborted (virDomainAbortJob) and the move rolls back as
 *        _rollback_live_migration(migration_status='cancelled') does.
 *        Another migration, none, or one in post-copy: InvalidMigrationState
 *        with the state Nova holds (MigrationNotFound when it has no such
 *        migration).
 *   live_migration_force_complete(instance)
 *        the migration switches to post-copy when [libvirt]
 *        live_migration_permit_post_copy is set (then `running
 *        (post-copy)`), else the guest is paused until the copy is over;
 *        none running: NoActiveMigrationForInstance.
 *
 * Neither takes the instance's lock, which a running migration holds
 * for the whole move: each leaves its request with the migration
 * (live_runs.h), which acts on it within half a second.  Both record their instance
 * action event, and a failure its fault (wrap_instance_event,
 * wrap_instance_fault). */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "openstack/compute_live_priv.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/conductor.h"
#include "openstack/live_runs.h"
#include "openstack/oslo.h"
#include "openstack/nova_instance.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_live_ctl");

/* The failure of a request: fault and action event recorded, -1. */
static int ctl_fail(struct os_inst *i, const char *event, struct err **err)
{
    os_inst_fault(i, *err);
    os_inst_event_finish(i, event, *err);
    return -1;
}

/* InvalidMigrationState for migration `id`, in the state Nova holds
 * (MigrationNotFound when none). */
static int abort_refused(struct os_compute *c, struct os_rpc_req *req, struct os_inst *i,
                         int64_t id, const char *why, struct err **err)
{
    const char *uuid = os_inst_uuid(i);
    autofree char *remote = NULL;
    autoerr struct err *e = NULL;
    json_auto_t *mig =
        os_conductor_class_action(&c->conductor, req->msg->ctx, "Migration", "get_by_id",
                                  json_pack("[I]", (json_int_t)id), NULL, &remote, &e);
    if (!mig && remote && strcmp(remote, "MigrationNotFound") == 0) {
        os_fault_nova(&req->fault, "MigrationNotFound", 404);
        req->fault.kwargs = json_pack("{s:I}", "migration_id", (json_int_t)id);
        return err_set(err, ERR_NOT_FOUND, "Migration %lld could not be found.", (long long)id);
    }
    const char *state = mig ? ovo_get_str(mig, "status") : NULL;
    const char *mig_inst = mig ? ovo_get_str(mig, "instance_uuid") : NULL;
    if (!mig)
        log_err(LOG_LEVEL_WARN, e, "migration %lld not looked up", (long long)id);
    os_fault_nova(&req->fault, "InvalidMigrationState", 400);
    req->fault.kwargs =
        json_pack("{s:I, s:s, s:s, s:s}", "migration_id", (json_int_t)id, "instance_uuid", uuid,
                  "state", state ? state : "unknown", "method", "abort live migration");
    if (mig_inst && strcmp(mig_inst, uuid) != 0)
        return err_set(err, ERR_CONFLICT,
                       "Migration %lld is not of instance %s: cannot abort "
                       "live migration (%s).",
                       (long long)id, uuid, why);
    return err_set(err, ERR_CONFLICT,
                   "Migration %lld state of instance %s is %s. Cannot abort "
                   "live migration while the migration is in this state (%s).",
                   (long long)id, uuid, state ? state : "unknown", why);
}

int os_compute_live_migration_abort(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *event = "compute_live_migration_abort";
    os_inst_event_start(i, event);
    os_compute_notify(c, i, "live.migration.abort.start", NULL);
    json_t *jid = json_object_get(req->msg->args, "migration_id");
    if (!json_is_integer(jid)) {
        err_set(err, ERR_INVALID, "live_migration_abort needs an integer `migration_id`");
        return ctl_fail(i, event, err);
    }
    int64_t id = json_integer_value(jid), current = 0;
    const char *uuid = os_inst_uuid(i);
    void *job = NULL;
    switch (os_live_runs_abort(c->live_runs, uuid, id, &current, &job)) {
    case OS_LIVE_DEQUEUED:
        /* nova's future.cancel() succeeding: it never runs */
        log_info("live migration %lld of %s: abort asked while it was queued", (long long)id,
                 uuid);
        os_compute_live_cancel_queued(c, job);
        os_inst_event_finish(i, event, NULL);
        os_compute_notify(c, i, "live.migration.abort.end", NULL);
        return 0;
    case OS_LIVE_TAKEN:
        log_info("live migration %lld of %s: abort asked", (long long)id, uuid);
        os_inst_event_finish(i, event, NULL);
        os_compute_notify(c, i, "live.migration.abort.end", NULL);
        return 0;
    case OS_LIVE_OTHER: {
        char why[384];
        snprintf(why, sizeof(why), "migration %lld is the one under way on %s", (long long)current,
                 c->host);
        abort_refused(c, req, i, id, why, err);
        break;
    }
    case OS_LIVE_POSTCOPY:
        abort_refused(c, req, i, id, "it runs in post-copy", err);
        break;
    default: {
        char why[384];
        snprintf(why, sizeof(why), "none under way on %s", c->host);
        abort_refused(c, req, i, id, why, err);
        break;
    }
    }
    return ctl_fail(i, event, err);
}

int os_compute_live_migration_force_complete(struct os_rpc_req *req, json_t **result,
                                             struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    const char *event = "compute_live_migration_force_complete";
    const char *uuid = os_inst_uuid(i);
    os_inst_event_start(i, event);
    os_compute_notify(c, i, "live.migration.force.complete.start", NULL);
    enum os_live_verdict v = os_live_runs_force(c->live_runs, uuid);
    if (v == OS_LIVE_TAKEN) {
        log_info("live migration of %s: completion forced", uuid);
        os_inst_event_finish(i, event, NULL);
        os_compute_notify(c, i, "live.migration.force.complete.end", NULL);
        return 0;
    }
    os_fault_nova(&req->fault, "NoActiveMigrationForInstance", 404);
    req->fault.kwargs = json_pack("{s:s}", "instance_id", uuid);
    err_set(err, ERR_NOT_FOUND, "No active migration for instance %s%s.", uuid,
            v == OS_LIVE_PREPARING ? " (its copy has not begun)" : "");
    return ctl_fail(i, event, err);
}
