/* Live migrations out of this host, inside the compute manager:
 * compute_live.c runs one (its turn: os_compute_live_run), cancels a
 * queued one and recovers one a restart cut; compute_live_queue.c queues
 * them (live_runs.h) and starts each on a thread of its own in its turn. */
#ifndef SC_OPENSTACK_COMPUTE_LIVE_PRIV_H
#define SC_OPENSTACK_COMPUTE_LIVE_PRIV_H

#include "openstack/rpc_server.h"

struct err;
struct os_compute;
struct os_inst;
struct os_msg;

/* The registry of c's live migrations out, running at most [DEFAULT]
 * max_concurrent_live_migrations at once.  Caller frees with
 * os_live_runs_free (after os_compute_live_stop). */
struct os_live_runs *os_compute_live_runs_new(struct os_compute *c);
/* The service stops: the queued migrations are cancelled (nova's
 * cleanup_host), then the running ones are waited for.  Call once the
 * RPC server stopped; idempotent. */
void os_compute_live_stop(struct os_compute *c);

/* A queued migration's turn (nova's _do_live_migration): req carries the
 * live_migration cast's arguments and context; the instance's lock is
 * the caller's.  -1 with *err when it failed (rolled back). */
int os_compute_live_run(struct os_rpc_req *req, struct err **err);
/* A queued migration cancelled before its turn (an abort, or the service
 * stopping): its allocations back to the instance, the task state
 * cleared, the migration `cancelled`; the guest was never touched.
 * Frees `job` (the queued copy of its cast). */
void os_compute_live_cancel_queued(struct os_compute *c, struct os_msg *job);
/* At start-up, an instance here whose task state is `migrating` (nova's
 * _reset_live_migration): its live migration from this host, cut by the
 * restart (queued, preparing or running), ends in `error` with what it
 * held given back and the guest running on here; the task state is
 * cleared.  Without its guest here (`guest` false) a migration whose copy
 * had begun ended on the destination while sculpt was down, and is
 * finished there instead.  Returns 1 when handled, 0 when left. */
int os_compute_live_recover(struct os_compute *c, struct os_inst *i, bool guest);

#endif
