/* The queue of live migrations out of this host (Zed's
 * _live_migration_executor, [DEFAULT] max_concurrent_live_migrations):
 * the live_migration cast queues its migration and returns (the
 * instance's lock and the RPC worker are free again: other requests, and
 * the abort of this one, get through); in its turn the migration runs on
 * a thread of the registry's (live_runs.c), holding the instance's lock
 * as any request on it, from a copy of the cast. */
#include <stdlib.h>

#include "common/config.h"
#include "common/err.h"
#include "common/keylock.h"
#include "common/log.h"
#include "openstack/compute_live_priv.h"
#include "openstack/compute_priv.h"
#include "openstack/live_runs.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_live_queue");

/* A migration's turn, on the registry's thread. */
static void live_queue_run(void *opaque, void *job)
{
    struct os_compute *c = opaque;
    struct os_msg *m = job;
    const char *uuid = ovo_get_str(json_object_get(m->args, "instance"), "uuid");
    log_ctx_set(os_ctx_str(m->ctx, "request_id"), uuid);
    struct keylock *il = uuid ? keylock_acquire(c->inst_locks, uuid) : NULL;
    struct os_rpc_req req = {.msg = m, .opaque = c};
    autoerr struct err *e = NULL;
    if (os_compute_live_run(&req, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "live migration of %s failed", uuid ? uuid : "?");
    keylock_release(c->inst_locks, il);
    os_fault_release(&req.fault);
    os_msg_free(m);
    log_ctx_set(NULL, NULL);
}

struct os_live_runs *os_compute_live_runs_new(struct os_compute *c)
{
    unsigned max = (unsigned)c->cfg->max_concurrent_live_migrations;
    if (max)
        log_info("live migrations out: %u at a time, the others queued", max);
    else
        log_info("live migrations out: no limit (max_concurrent_live_migrations = 0)");
    return os_live_runs_new(max, live_queue_run, c);
}

void os_compute_live_stop(struct os_compute *c)
{
    void **jobs = NULL;
    size_t n = os_live_runs_close(c->live_runs, &jobs);
    if (n)
        log_info("stopping: %zu queued live migration%s cancelled", n, n == 1 ? "" : "s");
    for (size_t k = 0; k < n; k++)
        os_compute_live_cancel_queued(c, jobs[k]);
    free(jobs);
    os_live_runs_wait(c->live_runs);
}
