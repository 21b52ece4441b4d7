/* The live migrations this host runs as their source: a FIFO queue of
 * those waiting their turn, at most `max_running` of them run at once (0:
 * no limit), each on a thread of its own (nova's _live_migration_executor
 * and [DEFAULT] max_concurrent_live_migrations).  live_migration_abort
 * and live_migration_force_complete find them here without the
 * instance's lock, which a running migration holds: a queued one is taken
 * out of the queue, a running one is left a request it picks up (nova's
 * _waiting_live_migrations and active_migrations).
 *
 * A migration goes: held (queued, not yet let go by the request that made
 * it) -> queued (its turn to come) -> preparing (its run began) -> running
 * (its copy began), and its entry goes at os_live_runs_end.
 * Thread-safe; no Nova, no hypervisor: the run callback does the work. */
#ifndef SC_OPENSTACK_LIVE_RUNS_H
#define SC_OPENSTACK_LIVE_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct os_live_runs;

/* What became of a request. */
enum os_live_verdict {
    OS_LIVE_TAKEN,     /* the migration acts on it */
    OS_LIVE_NONE,      /* no migration of the instance under way here */
    OS_LIVE_OTHER,     /* one is, not the migration named */
    OS_LIVE_PREPARING, /* force complete: the copy has not begun */
    OS_LIVE_POSTCOPY,  /* abort: it runs in post-copy, too late */
    OS_LIVE_DEQUEUED,  /* abort: it was queued; out of the queue, its job the caller's */
};

/* Runs one migration's job (on a thread of the registry's; the job is
 * the callee's to free).  It calls os_live_runs_start, _take and _end for
 * the job's instance as it goes; its turn is over when it returns. */
typedef void (*os_live_run_fn)(void *opaque, void *job);

/* A registry running at most max_running migrations at once (0: no
 * limit) through `run`.  Free with os_live_runs_free, after
 * os_live_runs_close and os_live_runs_wait. */
struct os_live_runs *os_live_runs_new(unsigned max_running, os_live_run_fn run, void *opaque);
void os_live_runs_free(struct os_live_runs *r);

/* Migration `id` of instance `uuid` is queued, held until
 * os_live_runs_release.  CONFLICT when the instance has one here already,
 * UNAVAILABLE once the registry is closed (the service stops). */
int os_live_runs_queue(struct os_live_runs *r, const char *uuid, int64_t id, struct err **err);
/* The held migration of `uuid` may run in its turn, with `job`, which the
 * registry owns from now on.  False when an abort came while it was held,
 * or the registry was closed: its entry is gone and the job stays the
 * caller's, who cancels the migration. */
bool os_live_runs_release(struct os_live_runs *r, const char *uuid, void *job);
/* How many migrations wait in the queue before it starts (held or queued
 * ahead of it); -1 when `uuid` is not queued. */
int os_live_runs_ahead(struct os_live_runs *r, const char *uuid);
/* Its copy begins (running).  False when an abort came while it was
 * preparing: the caller rolls it back, cancelled (nova's
 * _do_live_migration finding it gone from the waiting queue). */
bool os_live_runs_start(struct os_live_runs *r, const char *uuid);
/* The requests (drv_hv_live_request bits) made since last asked; each is
 * answered once.  An abort answered is remembered (os_live_runs_end). */
unsigned os_live_runs_take(struct os_live_runs *r, const char *uuid);
/* Its copy switched to post-copy: the guest runs on the destination, an
 * abort is refused from now on (nova's API and manager see the migration
 * `running (post-copy)`). */
void os_live_runs_postcopy(struct os_live_runs *r, const char *uuid);
/* Over: the instance's entry goes.  Returns whether an abort was handed
 * to the migration (os_live_runs_take) or came while preparing. */
bool os_live_runs_end(struct os_live_runs *r, const char *uuid);

/* live_migration_abort of migration `id`: DEQUEUED (it was queued: taken
 * out, *job the caller's, who cancels it), TAKEN (held: its release
 * fails; preparing: the move ends at os_live_runs_start; running: the
 * next os_live_runs_take hands it over), NONE, OTHER (*current: the one
 * under way) or POSTCOPY. */
enum os_live_verdict os_live_runs_abort(struct os_live_runs *r, const char *uuid, int64_t id,
                                        int64_t *current, void **job);
/* live_migration_force_complete: TAKEN (running), PREPARING (queued or
 * preparing) or NONE. */
enum os_live_verdict os_live_runs_force(struct os_live_runs *r, const char *uuid);

/* The service stops: nothing starts any more, nothing is queued.  The
 * jobs of the queued migrations come back in *jobs (in queue order;
 * caller frees the array and cancels each), their number returned. */
size_t os_live_runs_close(struct os_live_runs *r, void ***jobs);
/* Wait until no migration runs. */
void os_live_runs_wait(struct os_live_runs *r);

/* What start-up does with a live migration from this host that a restart
 * cut, by the status Nova holds (nova's _reset_live_migration: the
 * migration in error, the task state cleared; sculpt also gives back
 * what the move held, so that nothing is lost). */
struct os_live_restart {
    bool abort_job;     /* running: its copy may go on in the hypervisor, aborted */
    bool undo;          /* the guest stays here: allocations back to the instance */
    bool dest_prepared; /* preparing or running: the destination told to roll back */
};
void os_live_restart_rule(const char *status, struct os_live_restart *out);
/* Whether a live migration Nova holds in `status` whose guest start-up no
 * longer finds here ended in the hypervisor while sculpt was down: a copy
 * under way (pre- or post-copy) goes on in libvirtd without its caller,
 * and the source's domain is undefined only once the guest runs on the
 * destination.  Its move is then finished, not undone. */
bool os_live_restart_finished(const char *status);

#endif
