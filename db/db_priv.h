/* Inside struct db: the writer's FIFO, the session pool, and what the
 * typed calls share.  Internal to db/ (db.h explains the model).
 *
 * Each recording call builds an item -- a struct embedding struct db_item
 * first, with the call's arguments copied -- and hands it to db_enqueue().
 * The writer thread runs items in order inside its transactions through
 * item->ops->exec and frees them once committed (or refused by the server).
 */
#ifndef SC_DB_DB_PRIV_H
#define SC_DB_DB_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/strbuf.h"
#include "db/conn.h"
#include "db/db.h"

/* What one writer transaction accumulates besides its statements: usage
 * samples of every item, sent as one COPY before COMMIT. */
struct db_batch {
    struct strbuf copy;   /* COPY text rows for usage_stage */
    size_t copy_rows;
};

struct db_item;

struct db_item_ops {
    /* Write the record within the writer's open transaction. */
    int (*exec)(struct db_conn *c, struct db_item *it, struct db_batch *b, struct err **err);
    /* Free the item (the struct embedding it). */
    void (*free)(struct db_item *it);
};

struct db_item {
    struct db_item *next;
    const struct db_item_ops *ops;
    const char *what;     /* the call, for logs ("instance_put"); static */
    uint64_t seq;         /* order of acknowledgement, from 1 */
    size_t weight;        /* records it counts for against queue_max */
};

struct db_session {
    struct db_conn conn;
    bool busy;
    long long epoch;            /* db->reconnects when it connected */
};

struct db {
    struct db_options opts;     /* opts.url points to url */
    char *url;
    char origin[37];            /* this process's id in sculpt_writer */
    int schema_version;

    pthread_mutex_t lock;       /* guards everything down to `writer` */
    pthread_cond_t wake;        /* the writer: work arrived, a kick, stop */
    pthread_cond_t progress;    /* waiters: done_seq moved or a connection attempt ended */
    struct db_item *head, *tail;
    long long queued;           /* sum of weights in the FIFO */
    uint64_t enq_seq;           /* last sequence number given */
    uint64_t done_seq;          /* every item up to it is committed or refused */
    bool connected;
    int64_t down_since_ms;
    int64_t down_logged_ms;     /* last "still unreachable" line */
    char *last_error;           /* why the last connection attempt failed */
    uint64_t failed_attempts;
    bool kick;                  /* someone waits: try to reconnect now */
    bool stopping;
    bool full;                  /* refusing writes (logged once per episode) */
    long long written, transactions, dropped, refused, reconnects;
    int64_t next_retention_ms;
    pthread_t writer;
    bool writer_started;
    struct db_conn wconn;       /* the writer's own connection (writer thread only) */

    int metrics_collector;      /* id of the /metrics collector, 0: none */
    long long metrics_last[5];  /* counters as last rendered (metrics.c) */

    pthread_mutex_t slock;      /* guards the session pool */
    pthread_cond_t sfree;
    struct db_session *sessions;
    int nsessions;
};

/* The common item: statements run in order (one transaction with the
 * rest of the writer's batch).  Build with db_write_new(), add statements
 * with db_write_add() (returns the parameters to fill), queue with
 * db_enqueue(db, &w->base, err). */
struct db_write;
struct db_write *db_write_new(const char *what, size_t weight);
/* `none_warning` (may be NULL): logged when the statement changes no row
 * (an update of a row that is gone: skipped, not an error). */
struct db_params *db_write_add(struct db_write *w, const struct db_stmt *st,
                               const char *none_warning);
struct db_item *db_write_item(struct db_write *w);

/* Queue an item (assigning its seq).  On refusal (queue full, closing) the
 * item is freed and -1 returned with ERR_UNAVAILABLE.  Any thread. */
int db_enqueue(struct db *db, struct db_item *it, struct err **err);

/* Start and stop the writer thread (db.c). */
int db_writer_start(struct db *db, struct err **err);
void db_writer_stop(struct db *db);

/* Wait until every item up to `seq` is done, at most timeout_ms.  Fails
 * fast with ERR_UNAVAILABLE when the writer cannot reach PostgreSQL. */
int db_wait_done(struct db *db, uint64_t seq, int64_t timeout_ms, struct err **err);

/* A session for a read or synchronous write, after every record
 * acknowledged so far is committed.  Release it with db_session_release()
 * (which closes a connection that broke, to reopen it next time). */
struct db_conn *db_session_acquire(struct db *db, struct err **err);
void db_session_release(struct db *db, struct db_conn *c);

/* One statement on a session (acquire, run, release). */
PGresult *db_session_query(struct db *db, const struct db_stmt *st, const struct db_params *p,
                           struct err **err);
long long db_session_run(struct db *db, const struct db_stmt *st, const struct db_params *p,
                         struct err **err);
/* A read-only statement on a session, tried once more on a new connection
 * when the session's connection turns out dead (the server restarted while
 * it sat idle; writes are not retried: they may have happened). */
PGresult *db_session_read(struct db *db, const struct db_stmt *st, const struct db_params *p,
                          struct err **err);

/* Fill list->v and list->n with fn(r, row, err) for every row of r.
 * Evaluates to false when fn failed (the list holds the rows built so
 * far, for the list's _free). */
#define DB_COLLECT(list, r, fn, err)                                                       \
    __extension__({                                                                        \
        int rows_ = PQntuples(r);                                                          \
        bool ok_ = true;                                                                   \
        (list)->v = xcalloc((size_t)rows_ + 1, sizeof(*(list)->v));                        \
        for (int i_ = 0; i_ < rows_ && ok_; i_++) {                                        \
            (list)->v[i_] = fn((r), i_, (err));                                            \
            if ((list)->v[i_])                                                             \
                (list)->n++;                                                               \
            else                                                                           \
                ok_ = false;                                                               \
        }                                                                                  \
        ok_;                                                                               \
    })

/* Cost terms as two parameters / columns (names text[], values float8[]). */
int db_check_terms(const struct db_cost_term *t, size_t n, struct err **err);
void db_param_terms(struct db_params *p, const struct db_cost_term *t, size_t n);
int db_col_terms(const PGresult *r, int row, int col, struct db_cost_term **out, size_t *n,
                 struct err **err);

/* Events written by reconciliation in its own transactions (event.c). */
int db_event_check(const struct db_event *e, struct err **err);
void db_event_params(struct db_params *p, const struct db_event *e);
const struct db_stmt *db_event_stmt_add(void);

/* A member's state change, for reconciliation (presculpt.c): $1 uuid,
 * $2 state, $3 reason. */
void db_member_state_params(struct db_params *p, const char *uuid, enum db_member_state state,
                            const char *reason);
const struct db_stmt *db_member_stmt_state(void);
/* $1 member uuid, $2 instance uuid: the member is handed over. */
const struct db_stmt *db_member_stmt_handover(void);

/* Closing an intent, for reconciliation (intent.c): $1 id, $2 state,
 * $3 message. */
void db_intent_finish_params(struct db_params *p, int64_t id, enum db_intent_state state,
                             const char *message);
const struct db_stmt *db_intent_stmt_finish(void);

/* Usage samples staged by items go to the table (usage.c). */
int db_usage_flush(struct db_conn *c, struct db_batch *b, struct err **err);

/* The retention policy on connection c (retention.c). */
int db_retention_apply(struct db_conn *c, const struct db_retention *r, int64_t now_ms,
                       struct err **err);

/* Migrations on an open connection (migrate.c). */
int db_migrate_conn(struct db_conn *c, int target, int *from, int *to, struct err **err);
int db_schema_version_conn(struct db_conn *c, int *version, struct err **err);

/* Argument checks shared by the typed calls. */
int db_check_uuid(const char *what, const char *uuid, struct err **err);
int db_check_shape(const char *what, const struct drv_shape *s, struct err **err);

/* Hand the error *e over to the caller's err (which may be NULL; an
 * error it held is replaced).  *e is NULL afterwards.  Returns -1. */
int db_err_pass(struct err **err, struct err **e);

/* Duplicate a possibly NULL string. */
char *db_strdup0(const char *s);

/* Stable text of an err_code for the events table ("OK" for 0), and back. */
const char *db_code_name(enum err_code code);
enum err_code db_code_parse(const char *name);

/* A driver record compressed (zlib) as bytea's hex input form, for a
 * bytea parameter; caller frees (zbytes.c). */
char *db_zbytes_pack(const void *p, size_t n);
/* A column db_zbytes_pack() wrote, uncompressed into out (room for max
 * bytes); *n gets the length.  ERR_INVALID naming `what` when damaged or
 * longer than max. */
int db_col_zbytes(const PGresult *r, int row, int col, void *out, size_t max, size_t *n,
                  const char *what, struct err **err);

#endif
