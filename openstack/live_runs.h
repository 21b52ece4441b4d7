/* The live migrations this host runs as their source, where
 * live_migration_abort and live_migration_force_complete find them: both
 * come while live_migration holds the instance's lock for the whole move,
 * so they do not take it; they leave a request here, which the migration
 * picks up (nova's _waiting_live_migrations and active_migrations).
 * Thread-safe; pure (no Nova, no hypervisor). */
#ifndef SC_OPENSTACK_LIVE_RUNS_H
#define SC_OPENSTACK_LIVE_RUNS_H

#include <stdbool.h>
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
};

struct os_live_runs *os_live_runs_new(void);
void os_live_runs_free(struct os_live_runs *r);

/* Migration `id` of instance `uuid` begins (preparing).  CONFLICT when the
 * instance has one under way already. */
int os_live_runs_begin(struct os_live_runs *r, const char *uuid, int64_t id, struct err **err);
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

/* live_migration_abort of migration `id`: TAKEN (preparing: the move
 * ends at os_live_runs_start; running: the next os_live_runs_take hands
 * it over), NONE, OTHER (*current: the one under way) or POSTCOPY. */
enum os_live_verdict os_live_runs_abort(struct os_live_runs *r, const char *uuid, int64_t id,
                                        int64_t *current);
/* live_migration_force_complete: TAKEN (running), PREPARING or NONE. */
enum os_live_verdict os_live_runs_force(struct os_live_runs *r, const char *uuid);

#endif
