/* sculpt's durable state in PostgreSQL.  db/ is the only code that speaks
 * SQL; everything else calls the typed functions below and gets plain
 * driver/ structs back.
 *
 * Threading.  One `struct db` per process, shared by every thread (RPC
 * handlers, the control loop, the API, the pool manager).  It holds:
 *
 *   - a writer thread with its own connection and an in-memory FIFO.
 *     Recording calls (db_instance_put, db_usage_add, db_event_add, ...)
 *     validate and copy their arguments into the FIFO and return at once.
 *     The writer commits the FIFO in order, many records per transaction
 *     and usage samples as one COPY, each call's rows atomically.  A call
 *     that returned 0 is *acknowledged*: as long as the process lives it
 *     reaches PostgreSQL exactly once, across restarts and outages of the
 *     server (the writer reconnects with backoff and flushes).  The FIFO is
 *     bounded ([database] queue_max records); when it is full, recording
 *     calls fail with ERR_UNAVAILABLE and nothing queued is dropped.
 *
 *   - a small pool of session connections ([database] pool_size) on which
 *     reads and the few synchronous writes run in the calling thread.
 *     Each first waits until every record acknowledged before the call (by
 *     any thread) is committed -- read-your-writes -- for at most
 *     [database] sync_timeout; then ERR_UNAVAILABLE.
 *
 * Why a writer thread rather than a connection per thread: a write must not
 * block a guest's control step when PostgreSQL is slow or gone, and one
 * ordered stream makes the batching and the outage queue one mechanism.
 *
 * Errors follow common/err.h.  ERR_UNAVAILABLE: PostgreSQL unreachable or
 * the queue full (retrying later may work); ERR_NOT_FOUND: no such row;
 * ERR_CONFLICT: a unique name taken; ERR_INVALID: a bad argument (refused
 * before anything is queued); ERR_INTERNAL: an unexpected server error.
 *
 * Ownership: every returned struct or list is the caller's and is freed
 * with the _free() named next to it (each accepts NULL).  Input structs are
 * borrowed and copied.  Times are Unix milliseconds (int64_t *_ms); UUIDs
 * are 36-character strings.
 */
#ifndef SC_DB_DB_H
#define SC_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/blueprint.h"
#include "driver/instance.h"
#include "driver/presculpt_pool.h"
#include "driver/resource.h"
#include "driver/shape.h"

struct cfg;
struct db;

/* ------------------------------------------------------------------ */
/* Opening, closing, health                                            */
/* ------------------------------------------------------------------ */

/* How long history is kept; applied by the writer every interval_s. */
struct db_retention {
    int64_t usage_raw_s;         /* raw samples this long, then rolled up */
    int64_t usage_rollup_step_s; /* length of one rollup bucket */
    int64_t usage_rollup_s;      /* rollups this long */
    int64_t blueprints_s;        /* blueprint revisions (an instance's newest is kept) */
    int64_t events_s;            /* events and finished intents */
    int64_t snapshots_s;         /* host snapshots and reshape records of live guests */
    int64_t deleted_s;           /* deleted instances with everything about them */
    int64_t pool_classes_s;      /* pool classes not asked for (templates, requests),
                                  * and pools' rows with no live member not updated */
    int64_t pool_arrivals_s;     /* build requests the pool forecaster learns from */
    int64_t interval_s;          /* how often retention runs */
};

struct db_options {
    const char *url;            /* libpq URI or key=value string (borrowed) */
    long long queue_max;        /* records held in memory while PostgreSQL is away */
    int pool_size;              /* session connections for reads */
    int64_t startup_wait_ms;    /* db_open keeps trying to connect this long */
    int64_t sync_timeout_ms;    /* longest a read or sync write waits */
    int64_t backoff_max_ms;     /* longest pause between reconnection attempts */
    bool migrate;               /* apply pending migrations in db_open */
    bool run_retention;         /* the writer applies `retention` periodically */
    struct db_retention retention;
};

/* Fill opts from [database] of cfg.  opts->url points into cfg, which must
 * outlive the db_open() call (db_open copies what it keeps). */
void db_options_from_cfg(const struct cfg *cfg, struct db_options *opts);

/* Connect (retrying up to startup_wait_ms), check the schema version --
 * applying pending migrations when opts->migrate, refusing a schema newer
 * than this binary knows -- and start the writer thread.  Returns NULL with
 * *err: ERR_INVALID for an empty URL, ERR_UNAVAILABLE when PostgreSQL stays
 * unreachable, ERR_CONFLICT for a schema too new or too old.  Call from the
 * main thread; caller frees with db_close(). */
struct db *db_open(const struct db_options *opts, struct err **err);

/* Flush what is queued (waiting at most sync_timeout_ms; what cannot be
 * written then is logged as lost, with its count), stop the writer and
 * close every connection.  No other thread may use db during or after the
 * call.  Accepts NULL. */
void db_close(struct db *db);
static inline void db_free(struct db *db)
{
    db_close(db);
}
DEFINE_AUTOPTR(db)

/* Wait until every record acknowledged before this call is committed.
 * Returns 0, or -1 with ERR_UNAVAILABLE after timeout_ms (0: the
 * configured sync_timeout).  Any thread. */
int db_sync(struct db *db, int64_t timeout_ms, struct err **err);

/* What the layer is doing, for /metrics, logs and tests. */
struct db_status {
    bool connected;            /* the writer's connection is up */
    int64_t down_since_ms;     /* Unix ms of the outage's start, 0 when connected */
    long long queued;          /* records waiting in the FIFO */
    long long queue_max;
    long long written;         /* records committed since db_open */
    long long transactions;    /* writer transactions committed since db_open */
    long long dropped;         /* records refused by the server (logged one by one) */
    long long refused;         /* records refused because the FIFO was full */
    long long reconnects;      /* successful reconnections after an outage */
    int schema_version;
};
void db_status_get(struct db *db, struct db_status *out);

/* Apply the retention policy now, as the writer does every interval_s
 * (synchronous; on a session).  Returns 0 or -1. */
int db_retention_run(struct db *db, int64_t now_ms, struct err **err);

/* ------------------------------------------------------------------ */
/* Schema                                                              */
/* ------------------------------------------------------------------ */

/* Newest schema version this binary knows (the number of its last
 * db/migrations/NNNN_*.sql file). */
int db_schema_latest(void);

/* Apply every pending migration to the database at url, each in its own
 * transaction under an advisory lock (concurrent callers serialise).
 * *from and *to (may be NULL) get the versions before and after.  Refuses
 * (ERR_CONFLICT) a schema newer than this binary.  `sculptctl db migrate`
 * and db_open() use it.  Any thread; opens its own connection. */
int db_migrate(const char *url, int *from, int *to, struct err **err);

/* The same, stopping at version `target` (tests of upgrades from every
 * earlier version).  target <= db_schema_latest(). */
int db_migrate_to(const char *url, int target, int *from, int *to, struct err **err);

/* The version recorded in the database at url (0: empty database). */
int db_schema_version_at(const char *url, int *version, struct err **err);

/* `sculptctl db ...`: "migrate" and "version" with [--config FILE]
 * (default /etc/sculpt/sculpt.conf) or [--url URL] (or SCULPT_DB_URL in the
 * environment).  Prints to stdout/stderr; returns the exit status. */
int db_cli_main(int argc, char **argv);

/* ------------------------------------------------------------------ */
/* Instances                                                           */
/* ------------------------------------------------------------------ */

/* Record an instance as it is now (insert or replace; its metadata and the
 * flavor's extra specs with it, in one transaction).  inst->uuid must be a
 * valid UUID.  The shape is stored as given.  Queued. */
int db_instance_put(struct db *db, const struct drv_instance *inst, struct err **err);

/* Update the states Nova sees (task_state NULL: none).  A missing row is
 * logged by the writer and skipped.  Queued. */
int db_instance_set_state(struct db *db, const char *uuid, const char *vm_state,
                          const char *task_state, enum drv_power_state power,
                          struct err **err);

/* The instance's guest now bears domain name `domain` (a handed-over pool
 * member renamed): its row and its member's row say so.  Queued. */
int db_instance_set_domain(struct db *db, const char *uuid, const char *domain, struct err **err);

/* The instance was destroyed: its row stays (history for the predictor,
 * reshape log, usage) with deleted_ms set and vm_state "deleted", until
 * [database] deleted_retention.  Queued. */
int db_instance_delete(struct db *db, const char *uuid, int64_t when_ms, struct err **err);

/* The instance was shelved and offloaded (its guest destroyed here): its
 * row is as a deleted one's (deleted_ms set, vm_state
 * "shelved_offloaded"), but its predictor state stays, for an unshelve on
 * this host to continue from, until [database] deleted_retention removes
 * the row.  Queued (after a db_predictor_states_save() queued before it). */
int db_instance_offloaded(struct db *db, const char *uuid, int64_t when_ms, struct err **err);

/* One instance, deleted or not.  NULL with ERR_NOT_FOUND when unknown.
 * Caller frees with drv_instance_free(). */
struct drv_instance *db_instance_get(struct db *db, const char *uuid, struct err **err);

/* Filters are ANDed; NULL / false mean "any". */
struct db_instance_filter {
    const char *project_id;
    const char *flavor_name;
    const char *image_ref;
    bool include_deleted;      /* also rows with deleted_ms set */
};

struct db_instance_list {
    struct drv_instance **v;   /* owned, each freed by the list's free */
    size_t n;
};
void db_instance_list_free(struct db_instance_list *l);
DEFINE_AUTOPTR(db_instance_list)

/* Instances matching f (NULL: every live one), oldest first. */
struct db_instance_list *db_instance_list(struct db *db, const struct db_instance_filter *f,
                                          struct err **err);

/* ------------------------------------------------------------------ */
/* Blueprints: every revision, with what chose it                      */
/* ------------------------------------------------------------------ */

#define DB_TERM_NAME_MAX 32
/* One term of the cost the choice weighed ("alloc", "violation",
 * "reshape"), in the cost model's currency. */
struct db_cost_term {
    char name[DB_TERM_NAME_MAX];
    double value;
};

struct db_blueprint_rev {
    int64_t id;                 /* assigned by the database (ignored on input) */
    char instance_uuid[DRV_UUID_LEN + 1];
    int32_t revision;           /* 1, 2, ... per instance (assigned) */
    int64_t created_ms;         /* 0 on input: now */
    char *reason;               /* why this revision ("spawn", "use above p90") */
    struct drv_blueprint *bp;   /* owned; bp->model names the model */
    double band[DRV_RES_LAST];  /* quantile level allocated per resource (0.9 ...) */
    struct db_cost_term *terms; /* owned array */
    size_t nterms;
};
void db_blueprint_rev_free(struct db_blueprint_rev *rev);
DEFINE_AUTOPTR(db_blueprint_rev)

struct db_blueprint_rev_list {
    struct db_blueprint_rev **v;
    size_t n;
};
void db_blueprint_rev_list_free(struct db_blueprint_rev_list *l);
DEFINE_AUTOPTR(db_blueprint_rev_list)

/* Record a new revision for rev->instance_uuid (the blueprint is validated
 * with drv_blueprint_validate()).  Queued. */
int db_blueprint_add(struct db *db, const struct db_blueprint_rev *rev, struct err **err);

/* The newest revision of an instance; ERR_NOT_FOUND when it has none. */
struct db_blueprint_rev *db_blueprint_latest(struct db *db, const char *uuid, struct err **err);

/* Revisions of an instance, newest first, at most limit (0: all). */
struct db_blueprint_rev_list *db_blueprint_history(struct db *db, const char *uuid,
                                                   size_t limit, struct err **err);

/* Operator-written blueprints for a workload class (POST /v1/blueprints).
 * Synchronous: the row is committed when the call returns. */
struct db_custom_blueprint {
    int64_t id;                 /* assigned on create */
    char *name;                 /* unique */
    char *description;          /* may be NULL */
    char *flavor_name;          /* the class it applies to; NULL: any */
    char *image_ref;
    char *project_id;
    struct drv_blueprint *bp;   /* owned */
    int64_t created_ms, updated_ms;
};
void db_custom_blueprint_free(struct db_custom_blueprint *cb);
DEFINE_AUTOPTR(db_custom_blueprint)

struct db_custom_blueprint_list {
    struct db_custom_blueprint **v;
    size_t n;
};
void db_custom_blueprint_list_free(struct db_custom_blueprint_list *l);
DEFINE_AUTOPTR(db_custom_blueprint_list)

/* Returns the new id, or -1 (ERR_CONFLICT when the name is taken). */
int64_t db_custom_blueprint_create(struct db *db, const struct db_custom_blueprint *cb,
                                   struct err **err);
/* Replace every field of blueprint cb->id; ERR_NOT_FOUND, ERR_CONFLICT. */
int db_custom_blueprint_update(struct db *db, const struct db_custom_blueprint *cb,
                               struct err **err);
int db_custom_blueprint_delete(struct db *db, int64_t id, struct err **err);
struct db_custom_blueprint *db_custom_blueprint_get(struct db *db, int64_t id,
                                                    struct err **err);
/* Every custom blueprint, by id. */
struct db_custom_blueprint_list *db_custom_blueprint_list(struct db *db, struct err **err);

/* Which custom blueprint a request gets -- one rule for the API's
 * previews, candidates and estimates and for real builds: the most
 * specific blueprint whose class matches (every member it sets -- flavor
 * name, image, project -- equals the request's; more members set is more
 * specific), ties to the lowest id.  The index in `l`, or -1. */
ssize_t db_custom_blueprint_match(const struct db_custom_blueprint_list *l,
                                  const struct drv_instance *inst);
/* The same against the stored blueprints: a copy of the one that
 * matches, or NULL with ERR_NOT_FOUND when none does (other errors: the
 * database could not be read). */
struct db_custom_blueprint *db_custom_blueprint_for(struct db *db,
                                                    const struct drv_instance *inst,
                                                    struct err **err);

/* ------------------------------------------------------------------ */
/* Usage samples: what the predictor learns from                       */
/* ------------------------------------------------------------------ */

struct db_usage_sample {
    char instance_uuid[DRV_UUID_LEN + 1];
    int64_t t_ms;         /* start of the period */
    int32_t step_s;       /* its length */
    struct drv_res use;   /* mean use over the period */
    struct drv_res peak;  /* highest use in it (output; = use for a raw sample) */
    int32_t count;        /* raw samples it stands for (output; 1 for a raw sample) */
};

struct db_usage_list {
    struct db_usage_sample *v;  /* owned */
    size_t n;
};
void db_usage_list_free(struct db_usage_list *l);
DEFINE_AUTOPTR(db_usage_list)

/* Record n samples (one per guest per step; `peak` and `count` are
 * ignored).  Values are validated (finite, >= 0).  A sample for an
 * (instance, t_ms) already stored is ignored.  Queued; the writer writes
 * everything queued in one COPY. */
int db_usage_add(struct db *db, const struct db_usage_sample *s, size_t n, struct err **err);

enum db_usage_source {
    DB_USAGE_ALL,     /* raw samples where kept, rollups before that */
    DB_USAGE_RAW,     /* raw samples only */
    DB_USAGE_ROLLUP,  /* rollups only */
    DB_USAGE_LAST,
};

/* Filters are ANDed; NULL means any.  flavor/project/image select the
 * instances (deleted ones included: their history teaches the predictor). */
struct db_usage_query {
    const char *instance_uuid;
    const char *flavor_name;
    const char *project_id;
    const char *image_ref;
    int64_t from_ms;            /* [from_ms, to_ms); to_ms 0: no end */
    int64_t to_ms;
    int32_t bucket_s;           /* > 0: aggregate into buckets this long (mean of
                                   means weighted by count, max of peaks) */
    enum db_usage_source source;
    size_t limit;               /* at most this many rows (0: no limit) */
};

/* Samples ordered by instance, then time. */
struct db_usage_list *db_usage_query(struct db *db, const struct db_usage_query *q,
                                     struct err **err);

/* ------------------------------------------------------------------ */
/* Shapes applied                                                      */
/* ------------------------------------------------------------------ */

struct db_reshape {
    int64_t id;                 /* assigned */
    char instance_uuid[DRV_UUID_LEN + 1];
    int64_t at_ms;              /* when it began */
    struct drv_shape from;
    struct drv_shape to;
    char *reason;               /* the engine's explanation */
    double duration_ms;         /* how long applying it took */
    bool ok;                    /* false: it failed and `error` says why */
    char *error;                /* NULL when ok */
    int64_t intent_id;          /* the reshape intent it completes, 0: none */
    uint32_t knobs;             /* bit (1 << enum drv_hv_knob) per knob touched,
                                   as drv_hv_reshape_report.changed */
    int32_t hv_calls;           /* hypervisor calls it took (report.calls) */
};
void db_reshape_release(struct db_reshape *r); /* frees the strings, not r */

struct db_reshape_list {
    struct db_reshape *v;
    size_t n;
};
void db_reshape_list_free(struct db_reshape_list *l);
DEFINE_AUTOPTR(db_reshape_list)

/* Record a reshape; when ok, the instance's stored shape becomes `to` in
 * the same transaction.  A second record for the same intent_id is
 * ignored.  Queued. */
int db_reshape_add(struct db *db, const struct db_reshape *r, struct err **err);

/* Reshapes of an instance (NULL: all) in [from_ms, to_ms) (to_ms 0: no
 * end), newest first, at most limit (0: all). */
struct db_reshape_list *db_reshape_list(struct db *db, const char *uuid, int64_t from_ms,
                                        int64_t to_ms, size_t limit, struct err **err);

/* ------------------------------------------------------------------ */
/* Host topology and capacity snapshots                                */
/* ------------------------------------------------------------------ */

struct db_host_snapshot {
    int64_t id;                 /* assigned */
    int64_t at_ms;
    char *host;
    int32_t cpus;               /* host CPUs */
    int32_t numa_nodes;
    struct drv_res capacity;
    struct drv_res reserved;
    struct drv_res allocated;   /* sum of shapes */
    struct drv_res used;        /* observed */
    double fragmentation;       /* the engine's score, in [0,1] */
    char *topology;             /* the engine's own text form of the topology */
};
void db_host_snapshot_free(struct db_host_snapshot *s);
DEFINE_AUTOPTR(db_host_snapshot)

struct db_host_snapshot_list {
    struct db_host_snapshot **v;
    size_t n;
};
void db_host_snapshot_list_free(struct db_host_snapshot_list *l);
DEFINE_AUTOPTR(db_host_snapshot_list)

/* Queued. */
int db_host_snapshot_add(struct db *db, const struct db_host_snapshot *s, struct err **err);
/* The newest; ERR_NOT_FOUND when none. */
struct db_host_snapshot *db_host_snapshot_latest(struct db *db, struct err **err);
/* In [from_ms, to_ms) (to_ms 0: no end), oldest first, at most limit. */
struct db_host_snapshot_list *db_host_snapshot_list(struct db *db, int64_t from_ms,
                                                    int64_t to_ms, size_t limit,
                                                    struct err **err);

/* ------------------------------------------------------------------ */
/* Pre-sculpted pools and their members                                */
/* ------------------------------------------------------------------ */

/* A pool is a request class with a target size.  It is named by `key`,
 * chosen by the pool manager (e.g. "m1.small:cirros:any"). */
struct db_pool {
    char *key;
    char *flavor_name;          /* the class; NULL: any */
    char *image_ref;
    char *project_id;
    int32_t target_size;
    double confidence;          /* that a request comes within the members' lifetime */
    int64_t expires_ms;         /* 0: none */
    struct drv_shape shape;     /* what members are sculpted to */
    struct db_cost_term *terms; /* the cost terms that sized it (owned) */
    size_t nterms;
    int64_t hits, misses, expiries; /* output: counters (see db_pool_count) */
    int64_t booting_hits;       /* output: of hits, members handed over still booting */
    int64_t reclaims;           /* output: idle members destroyed for a real guest */
    int64_t created_ms, updated_ms; /* output */
};
void db_pool_free(struct db_pool *p);
DEFINE_AUTOPTR(db_pool)

struct db_pool_list {
    struct db_pool **v;
    size_t n;
};
void db_pool_list_free(struct db_pool_list *l);
DEFINE_AUTOPTR(db_pool_list)

enum db_member_state {
    DB_MEMBER_PREPARING,   /* being built (overlay, define) */
    DB_MEMBER_BOOTING,     /* started, its guest booting; paused once booted */
    DB_MEMBER_READY,       /* defined with the class's shape, not running */
    DB_MEMBER_PAUSED,      /* booted and paused: hand-over is a resume */
    DB_MEMBER_HANDED_OVER, /* became instance_uuid */
    DB_MEMBER_RELEASED,    /* destroyed: expired or reclaimed (see reason) */
    DB_MEMBER_GONE,        /* its domain vanished (found by reconcile) */
    DB_MEMBER_LAST,
};
/* "preparing", "ready", ...; and back (-1 when unknown). */
const char *db_member_state_name(enum db_member_state s);
int db_member_state_parse(const char *name);

struct db_pool_member {
    char uuid[DRV_UUID_LEN + 1];  /* the member's own uuid (its domain's) */
    char *pool_key;
    char *domain;                 /* hypervisor domain name */
    enum db_member_state state;
    struct drv_shape shape;
    int64_t created_ms;
    int64_t ready_ms;             /* 0: not yet */
    int64_t expires_ms;           /* 0: none */
    char instance_uuid[DRV_UUID_LEN + 1]; /* "" until handed over */
    int64_t handed_over_ms;
    char *reason;                 /* why it was released; NULL */
};
void db_pool_member_free(struct db_pool_member *m);
DEFINE_AUTOPTR(db_pool_member)

struct db_pool_member_list {
    struct db_pool_member **v;
    size_t n;
};
void db_pool_member_list_free(struct db_pool_member_list *l);
DEFINE_AUTOPTR(db_pool_member_list)

/* Insert or replace a pool by key.  Counters are kept.  Queued. */
int db_pool_put(struct db *db, const struct db_pool *p, struct err **err);
/* Remove a pool; its members' rows stay (history) with pool_key kept.  Queued. */
int db_pool_delete(struct db *db, const char *key, struct err **err);
/* What a pool's counters gained. */
struct db_pool_counts {
    int64_t hits, misses, expiries;
    int64_t reclaims;           /* idle members destroyed to make room for a real guest */
};
/* Add `d` to a pool's counters.  Queued. */
int db_pool_count(struct db *db, const char *key, const struct db_pool_counts *d,
                  struct err **err);
struct db_pool_list *db_pool_list(struct db *db, struct err **err);

/* Insert or replace a member.  Queued. */
int db_pool_member_put(struct db *db, const struct db_pool_member *m, struct err **err);
/* Change a member's state (reason may be NULL).  Queued. */
int db_pool_member_set_state(struct db *db, const char *uuid, enum db_member_state state,
                             const char *reason, struct err **err);
/* Hand member_uuid over to inst, in one transaction: the member becomes
 * HANDED_OVER to inst->uuid, the instance row is written (inst->domain is
 * the member's domain, as renamed), the pool's hits grow by one (and its
 * booting_hits when the member was still `booting`, also written as the
 * member's reason).  Queued. */
int db_pool_handover(struct db *db, const char *member_uuid, const struct drv_instance *inst,
                     bool booting, struct err **err);
/* Members of one pool (NULL: all pools); live_only: PREPARING, BOOTING,
 * READY and PAUSED only.  Oldest first. */
struct db_pool_member_list *db_pool_member_list(struct db *db, const char *pool_key,
                                                bool live_only, struct err **err);
/* What a restart needs, bounded by what lives: the live members and the
 * handed-over ones whose instance is not deleted (their guests answer to
 * the instance through an alias).  Released rows are left to the
 * retention ([database] event_retention).  Oldest first. */
struct db_pool_member_list *db_pool_member_list_restore(struct db *db, struct err **err);

/* What the pool manager learnt, kept across restarts: each request class
 * it has seen, with the template a member of it is made from once a cold
 * build taught it (driver/presculpt_pool.h), and the build requests per
 * class and second the forecaster learns from.  A class not asked for
 * within [database] pool_class_retention goes with its template and its
 * requests; requests older than pool_arrival_retention go (retention.c). */
struct db_pool_class {
    char *key;                  /* "flavor:image:project" (drv_pool_request_keys) */
    char *flavor_name;          /* the request that defines it; NULL: none */
    char *image_ref;
    char *project_id;
    int32_t vcpus;
    double mem_mib;
    int64_t root_gb;
    int64_t last_request_ms;    /* output: its latest request */
    bool has_template;          /* tmpl holds the class's template */
    int64_t learnt_ms;          /* output: when it was written */
    double boot_ms;             /* output: its learnt boot time; 0: none */
    /* owned strings; kept are the guest's flavor name, image, interface
     * count (not their addresses: each member gets its own) and shape,
     * and the engine spec's ceiling, vcpus_max, mem_max_mib and
     * mem_floor_mib -- what a member is made from (pm_make) */
    struct drv_pool_template tmpl;
};
void db_pool_class_free(struct db_pool_class *c);
DEFINE_AUTOPTR(db_pool_class)

struct db_pool_class_list {
    struct db_pool_class **v;
    size_t n;
};
void db_pool_class_list_free(struct db_pool_class_list *l);
DEFINE_AUTOPTR(db_pool_class_list)

/* A build request of class `cls` (its request fields) at t_ms: the
 * class's row (created, or its request fields and latest request updated)
 * and the request counted in its second.  Queued. */
int db_pool_arrival_add(struct db *db, const struct db_pool_class *cls, int64_t t_ms,
                        struct err **err);
/* The template of class `cls` (cls->tmpl; has_template is not looked at),
 * written with its request fields, learnt at now_ms.  Queued. */
int db_pool_class_learn(struct db *db, const struct db_pool_class *cls, int64_t now_ms,
                        struct err **err);
/* The classes asked for at or after since_ms, the most recent first, at
 * most `max`.  Caller frees with db_pool_class_list_free(). */
struct db_pool_class_list *db_pool_class_list(struct db *db, int64_t since_ms, size_t max,
                                              struct err **err);

/* The classes' learnt boot times (drv_pool_mgr_boot_times), each on its
 * class's row (a class whose row retention removed is passed over).
 * ERR_INVALID for an empty key or a boot time out of range.  Queued. */
int db_pool_class_boot_times_save(struct db *db, const struct drv_pool_boot *v, size_t n,
                                  struct err **err);

/* The planner's idle-budget calibration (drv_pool_mgr_calibration),
 * replacing the one saved before.  ERR_INVALID for values out of range.
 * Queued. */
int db_presculpt_calibration_save(struct db *db, const struct drv_presculpt_calibration *c,
                                  struct err **err);
/* The calibration last saved into *out; ERR_NOT_FOUND when none. */
int db_presculpt_calibration_get(struct db *db, struct drv_presculpt_calibration *out,
                                 struct err **err);

/* Requests of one class in one bin. */
struct db_pool_arrival {
    char *class_key;            /* owned */
    int64_t t_s;                /* the bin's start, Unix s */
    uint32_t n;
};
struct db_pool_arrival_list {
    struct db_pool_arrival *v;
    size_t n;
};
void db_pool_arrival_list_free(struct db_pool_arrival_list *l);
DEFINE_AUTOPTR(db_pool_arrival_list)

/* The requests from since_ms on, summed per class and bin of bin_s
 * seconds (Unix time multiples), oldest first; when there are more than
 * `max` (class, bin) rows, the newest `max`.  ERR_INVALID for bin_s <= 0. */
struct db_pool_arrival_list *db_pool_arrival_list(struct db *db, int64_t since_ms, int64_t bin_s,
                                                  size_t max, struct err **err);

/* ------------------------------------------------------------------ */
/* Event log: requests received and their outcome                      */
/* ------------------------------------------------------------------ */

struct db_event {
    int64_t id;                 /* assigned */
    int64_t at_ms;              /* 0 on input: now */
    char *request_id;           /* NULL: none */
    char instance_uuid[DRV_UUID_LEN + 1]; /* "": none */
    char *source;               /* "rpc", "api", "engine", "presculpt", "reconcile",
                                   "hypervisor" (a change behind sculpt's back) */
    char *action;               /* "build_and_run_instance", "PUT /v1/config/cost" */
    enum err_code code;         /* 0: success */
    char *message;              /* NULL: none */
    double duration_ms;
};
void db_event_release(struct db_event *e); /* frees the strings, not e */

struct db_event_list {
    struct db_event *v;
    size_t n;
};
void db_event_list_free(struct db_event_list *l);
DEFINE_AUTOPTR(db_event_list)

/* Queued. */
int db_event_add(struct db *db, const struct db_event *e, struct err **err);

struct db_event_filter {
    int64_t from_ms, to_ms;     /* [from, to); to 0: no end */
    const char *instance_uuid;  /* NULL: any */
    const char *source;         /* NULL: any */
    const char *request_id;     /* NULL: any */
    const char *action_prefix;  /* NULL: any; "memory." the memory events */
    const char *code;           /* NULL: any; "OK", "FAILED" (every error) or an
                                   err_code name ("TIMEOUT") */
    size_t limit;               /* 0: all */
};
/* True when `code` is a value db_event_filter.code takes. */
bool db_event_code_valid(const char *code);
/* Newest first.  ERR_INVALID for a bad uuid or code. */
struct db_event_list *db_event_list(struct db *db, const struct db_event_filter *f,
                                    struct err **err);

/* ------------------------------------------------------------------ */
/* Runtime settings (PUT /v1/config/...), persisted                    */
/* ------------------------------------------------------------------ */

/* One sculpt.conf option overridden at run time, in its text form. */
struct db_setting {
    char *section;              /* "cost", "sculpt", ... as in config_options.def */
    char *name;
    char *value;
    char *updated_by;           /* who changed it (user or request id); NULL */
    int64_t updated_ms;         /* output */
};

struct db_setting_list {
    struct db_setting *v;
    size_t n;
};
void db_setting_list_free(struct db_setting_list *l);
DEFINE_AUTOPTR(db_setting_list)

/* Store n settings in one transaction (replacing earlier values).  The
 * caller has validated them (cfg_set on a scratch config).  Queued. */
int db_settings_put(struct db *db, const struct db_setting *s, size_t n, struct err **err);
/* Forget overrides (section NULL: all; name NULL: the whole section).  Queued. */
int db_settings_clear(struct db *db, const char *section, const char *name, struct err **err);
/* Settings of one section (NULL: all), by section and name. */
struct db_setting_list *db_settings_list(struct db *db, const char *section, struct err **err);
/* Apply the stored settings over cfg (one not yet published) with
 * cfg_set().  A stored value the config now refuses is logged and skipped.
 * Returns the number applied, or -1. */
int db_settings_apply(struct db *db, struct cfg *cfg, struct err **err);

/* ------------------------------------------------------------------ */
/* Fleet history: what the predictor learnt, across restarts           */
/* ------------------------------------------------------------------ */

struct drv_fleet;

/* What was last saved or loaded, so the next save writes only the groups
 * that changed since.  One per fleet; not thread-safe (one saver). */
struct db_fleet_marks;
struct db_fleet_marks *db_fleet_marks_new(void);
void db_fleet_marks_free(struct db_fleet_marks *m);
DEFINE_AUTOPTR(db_fleet_marks)

/* Store the fleet's groups and calibration (drv_fleet_export), each with
 * its layout version, in one transaction: with marks, only what changed
 * since them (marks then move on); NULL: everything.  *written (may be
 * NULL) gets the number of groups written.  Queued. */
int db_fleet_save(struct db *db, struct drv_fleet *fleet, struct db_fleet_marks *marks,
                  size_t *written, struct err **err);

/* Merge the stored history into fleet (drv_fleet_import): the max_groups
 * most recently updated groups and the calibration.  A record of another
 * layout version is skipped with a log line (that group starts over).
 * marks (may be NULL) learn what was loaded.  Returns the groups loaded,
 * or -1. */
int db_fleet_load(struct db *db, struct drv_fleet *fleet, size_t max_groups,
                  struct db_fleet_marks *marks, struct err **err);

/* ------------------------------------------------------------------ */
/* Predictor states: each guest's learning, across restarts            */
/* ------------------------------------------------------------------ */

struct drv_control_state;

/* Store the predictor state of each guest (drv_control_states), in one
 * transaction, replacing what was saved before; a guest whose instance
 * row is missing or deleted is skipped.  *stored (may be NULL) gets the
 * bytes written (compressed).  Queued. */
int db_predictor_states_save(struct db *db, const struct drv_control_state *v, size_t n,
                             size_t *stored, struct err **err);

/* The state last saved for instance uuid (caller frees), *len its length;
 * for drv_control_adopt_state(), which checks it.  NULL with ERR_NOT_FOUND
 * when none was saved, ERR_INVALID when the stored bytes are damaged. */
unsigned char *db_predictor_state_get(struct db *db, const char *uuid, size_t *len,
                                      struct err **err);

/* ------------------------------------------------------------------ */
/* Intents: a journal for multi-step operations                        */
/* ------------------------------------------------------------------ */

/* Before a multi-step operation touches the hypervisor, its owner records
 * an intent (durably); it marks steps as it goes and finishes it.  After a
 * crash, the open intents tell db_reconcile() what was interrupted.
 *
 *   spawn:    id = db_intent_begin(SPAWN, uuid, domain, to = initial shape)
 *             db_instance_put(...) ... define, start ... db_intent_step(id, "started")
 *             db_instance_set_state(active, running); db_intent_finish(id, DONE)
 *   reshape:  id = db_intent_begin(RESHAPE, uuid, domain, from, to)
 *             apply ... db_reshape_add(r with intent_id = id); db_intent_finish(id, DONE)
 *   destroy:  id = db_intent_begin(DESTROY, uuid, domain) ... destroy, undefine ...
 *             db_instance_delete(); db_intent_finish(id, DONE)
 *   handover: id = db_intent_begin(HANDOVER, uuid, domain = new name, member_uuid)
 *             rename, re-identify, resume ... db_pool_handover(); db_intent_finish(id, DONE)
 *   migrate:  id = db_intent_begin(MIGRATE, uuid, domain, step = the leg's first step)
 *             one leg of a move between hosts (the source's copy out, the
 *             destination's taking in) ... db_intent_finish(id, DONE or ROLLED_BACK);
 *             db_reconcile() leaves it open: the compute manager, which
 *             knows the move, closes it after a crash
 */
enum db_op {
    DB_OP_SPAWN,
    DB_OP_RESHAPE,
    DB_OP_DESTROY,
    DB_OP_HANDOVER,
    DB_OP_MIGRATE,
    DB_OP_LAST,
};
const char *db_op_name(enum db_op op); /* "spawn", "reshape", ... */

enum db_intent_state {
    DB_INTENT_OPEN,
    DB_INTENT_DONE,
    DB_INTENT_ROLLED_BACK,
    DB_INTENT_FAILED,
    DB_INTENT_LAST,
};
const char *db_intent_state_name(enum db_intent_state s);

struct db_intent {
    int64_t id;                 /* assigned by db_intent_begin */
    enum db_op op;
    enum db_intent_state state; /* output */
    char instance_uuid[DRV_UUID_LEN + 1];
    char *domain;               /* the domain the operation acts on (NULL: unknown yet) */
    char member_uuid[DRV_UUID_LEN + 1]; /* hand-over: the pool member; "" otherwise */
    bool has_from;
    struct drv_shape from;      /* reshape: the shape before */
    bool has_to;
    struct drv_shape to;        /* reshape: the target; spawn: the initial shape */
    char *step;                 /* the last step reached (owner's words); NULL: none */
    char *request_id;           /* NULL: none */
    char *message;              /* output: how it ended */
    int64_t started_ms, updated_ms; /* output */
};
void db_intent_free(struct db_intent *in);
DEFINE_AUTOPTR(db_intent)

struct db_intent_list {
    struct db_intent **v;
    size_t n;
};
void db_intent_list_free(struct db_intent_list *l);
DEFINE_AUTOPTR(db_intent_list)

/* Record an intent and return its id once it is committed (after every
 * record acknowledged before it).  Synchronous: -1 with ERR_UNAVAILABLE
 * when PostgreSQL is unreachable -- the operation should then not start. */
int64_t db_intent_begin(struct db *db, const struct db_intent *in, struct err **err);
/* Note the step reached.  Queued. */
int db_intent_step(struct db *db, int64_t id, const char *step, struct err **err);
/* Close an intent (state DONE, ROLLED_BACK or FAILED; message may be NULL).  Queued. */
int db_intent_finish(struct db *db, int64_t id, enum db_intent_state state,
                     const char *message, struct err **err);
/* Open intents, oldest first. */
struct db_intent_list *db_intent_list_open(struct db *db, struct err **err);

#endif
