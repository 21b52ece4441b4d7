/* The writer thread: drains the FIFO of acknowledged records into
 * PostgreSQL, in order, many per transaction; survives the server going
 * away (keeps the records, reconnects with backoff, resumes exactly where
 * the last committed transaction ended).
 *
 * Exactly once: each transaction also stores the sequence number of its
 * last record in sculpt_writer under this process's origin.  If the
 * connection breaks while COMMIT is in flight, the writer cannot know
 * whether it committed; after reconnecting it reads that number back and
 * skips what is already there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db_metrics.h"
#include "db/db_priv.h"

LOG_INIT("db.writer");

/* A transaction holds at most this many items / records. */
#define DB_BATCH_ITEMS 2000
#define DB_BATCH_RECORDS 50000
#define DB_BACKOFF_MIN_MS 100
/* While PostgreSQL stays away, a reminder this often. */
#define DB_DOWN_REMINDER_MS 60000
/* The writer's statements may take long (retention); not forever. */
#define DB_WRITER_STATEMENT_TIMEOUT_MS 300000

static const struct db_stmt st_log_seq = {
    "INSERT INTO sculpt_writer (origin, seq) VALUES ($1, $2) "
    "ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, updated_at = now()",
    2};
static const struct db_stmt st_read_seq = {
    "SELECT seq FROM sculpt_writer WHERE origin = $1", 1};

/* Deadline for pthread_cond_timedwait, ms from now on CLOCK_REALTIME. */
static struct timespec db_deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int db_enqueue(struct db *db, struct db_item *it, struct err **err)
{
    it->next = NULL;
    pthread_mutex_lock(&db->lock);
    if (db->stopping) {
        pthread_mutex_unlock(&db->lock);
        it->ops->free(it);
        return err_set(err, ERR_UNAVAILABLE, "database layer is closing");
    }
    if (db->queued + (long long)it->weight > db->opts.queue_max) {
        db->refused += (long long)it->weight;
        if (!db->full) {
            db->full = true;
            log_error("database write queue full (%lld records, [database] queue_max): "
                      "refusing new writes until PostgreSQL takes the queued ones",
                      db->queued);
        }
        long long queued = db->queued;
        pthread_mutex_unlock(&db->lock);
        const char *what = it->what;
        it->ops->free(it);
        return err_set(err, ERR_UNAVAILABLE,
                       "database write queue full (%lld records): `%s` refused", queued, what);
    }
    it->seq = ++db->enq_seq;
    db->queued += (long long)it->weight;
    if (db->tail)
        db->tail->next = it;
    else
        db->head = it;
    db->tail = it;
    pthread_cond_signal(&db->wake);
    pthread_mutex_unlock(&db->lock);
    return 0;
}

/* Remove items up to and including `last` (lock held); they are done. */
static void db_writer_pop(struct db *db, const struct db_item *last, bool written)
{
    struct db_item *it = db->head;
    for (;;) {
        struct db_item *next = it->next;
        bool end = it == last;
        db->queued -= (long long)it->weight;
        if (written)
            db->written += (long long)it->weight;
        db->done_seq = it->seq;
        it->ops->free(it);
        it = next;
        if (end)
            break;
    }
    db->head = it;
    if (!it)
        db->tail = NULL;
    if (db->full && db->queued < db->opts.queue_max * 9 / 10) {
        db->full = false;
        log_info("database write queue below its bound again (%lld records)", db->queued);
    }
    pthread_cond_broadcast(&db->progress);
}

/* Pop the items the database already has (seq <= committed), lock held. */
static void db_writer_skip_committed(struct db *db, uint64_t committed)
{
    struct db_item *last = NULL;
    for (struct db_item *it = db->head; it && it->seq <= committed; it = it->next)
        last = it;
    if (last)
        db_writer_pop(db, last, true);
}

/* Run items first..last in one transaction.  Lock not held. */
static int db_writer_txn(struct db *db, struct db_item *first, const struct db_item *last,
                         struct db_batch *b, struct err **err)
{
    struct db_conn *c = &db->wconn;
    autoparams p = DB_PARAMS_INIT; /* before any goto: cleaned up at `fail` */
    strbuf_reset(&b->copy);
    b->copy_rows = 0;
    if (db_conn_begin(c, err) < 0)
        return -1;
    for (struct db_item *it = first;; it = it->next) {
        if (it->ops->exec(c, it, b, err) < 0) {
            err_wrap(err, "%s", it->what);
            goto fail;
        }
        if (it == last)
            break;
    }
    if (b->copy_rows && db_usage_flush(c, b, err) < 0)
        goto fail;
    db_param_str(&p, db->origin);
    db_param_int(&p, (long long)last->seq);
    if (db_conn_run(c, &st_log_seq, &p, err) < 0)
        goto fail;
    if (db_conn_commit(c, err) < 0)
        goto fail;
    return 0;
 fail:
    db_conn_rollback(c);
    return -1;
}

/* Connect the writer and learn how far this origin got.  Lock not held. */
static int db_writer_connect(struct db *db, uint64_t *committed, struct err **err)
{
    if (db_conn_open(&db->wconn, db->url, DB_WRITER_STATEMENT_TIMEOUT_MS, err) < 0)
        return -1;
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, db->origin);
    PGresult *r = db_conn_query(&db->wconn, &st_read_seq, &p, err);
    if (!r) {
        db_conn_close(&db->wconn);
        return -1;
    }
    *committed = PQntuples(r) ? (uint64_t)db_col_int(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

/* The connection broke (connect_failed false) or a connection attempt
 * failed (true: readers waiting on the writer give up then, PostgreSQL is
 * really away).  Lock held. */
static void db_writer_note_down(struct db *db, const struct err *e, bool connect_failed)
{
    int64_t now = clock_wall_ms();
    const char *why = e && e->msg ? e->msg : "unknown error";
    if (db->connected || !db->down_since_ms) {
        db->down_since_ms = now;
        db->down_logged_ms = now;
        log_warn("PostgreSQL unreachable (%s): keeping writes in memory (%lld records queued, "
                 "at most %lld) and reconnecting with backoff",
                 why, db->queued, db->opts.queue_max);
    } else if (now - db->down_logged_ms >= DB_DOWN_REMINDER_MS) {
        db->down_logged_ms = now;
        log_warn("PostgreSQL still unreachable after %lld s (%s): %lld records queued",
                 (long long)((now - db->down_since_ms) / 1000), why, db->queued);
    }
    db->connected = false;
    free(db->last_error);
    db->last_error = xstrdup(why);
    if (connect_failed)
        db->failed_attempts++;
    pthread_cond_broadcast(&db->progress);
}

static void db_writer_note_up(struct db *db, uint64_t committed)
{
    if (db->down_since_ms) {
        log_info("PostgreSQL reachable again after %.1f s: writing %lld queued records",
                 (double)(clock_wall_ms() - db->down_since_ms) / 1000.0, db->queued);
        db->reconnects++;
    }
    db->connected = true;
    db->down_since_ms = 0;
    db_writer_skip_committed(db, committed);
    pthread_cond_broadcast(&db->progress);
}

/* After a transaction failed for its data: run its items one per
 * transaction so one bad record is dropped, not its neighbours.  Lock
 * held on entry and exit.  Returns -1 when the connection broke. */
static int db_writer_one_by_one(struct db *db, const struct db_item *last, struct db_batch *b)
{
    for (;;) {
        struct db_item *it = db->head;
        bool end = it == last;
        pthread_mutex_unlock(&db->lock);
        autoerr struct err *e = NULL;
        int rc = db_writer_txn(db, it, it, b, &e);
        bool retry = rc < 0 && db_conn_retryable(&db->wconn, e);
        pthread_mutex_lock(&db->lock);
        if (retry) {
            db_conn_close(&db->wconn);
            db_writer_note_down(db, e, false);
            return -1;
        }
        if (rc < 0) {
            log_err(LOG_LEVEL_ERROR, e, "PostgreSQL refused a queued write (seq %llu); dropped",
                    (unsigned long long)it->seq);
            db->dropped += (long long)it->weight;
        } else {
            db->transactions++;
        }
        db_writer_pop(db, it, rc == 0);
        if (end)
            return 0;
    }
}

static void db_writer_retention(struct db *db)
{
    autoerr struct err *e = NULL;
    if (db_retention_apply(&db->wconn, &db->opts.retention, clock_wall_ms(), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "retention did not run");
}

static void *db_writer_main(void *arg)
{
    struct db *db = arg;
    struct db_batch batch = {STRBUF_INIT, 0};
    int64_t backoff = DB_BACKOFF_MIN_MS;
    int64_t stop_deadline = 0;

    pthread_mutex_lock(&db->lock);
    for (;;) {
        if (db->stopping) {
            if (!stop_deadline)
                stop_deadline = clock_mono_ms() + db->opts.sync_timeout_ms;
            if (!db->head || clock_mono_ms() >= stop_deadline)
                break;
        }
        if (!db->connected) {
            pthread_mutex_unlock(&db->lock);
            autoerr struct err *e = NULL;
            uint64_t committed = 0;
            int rc = db_writer_connect(db, &committed, &e);
            pthread_mutex_lock(&db->lock);
            if (rc == 0) {
                db_writer_note_up(db, committed);
                backoff = DB_BACKOFF_MIN_MS;
                continue;
            }
            db_writer_note_down(db, e, true);
            if (!db->kick && !db->stopping) {
                struct timespec ts = db_deadline(backoff);
                while (!db->kick && !db->stopping &&
                       pthread_cond_timedwait(&db->wake, &db->lock, &ts) != ETIMEDOUT)
                    ;
            } else if (db->stopping) {
                /* Closing: retry at the pace of a short backoff until the deadline. */
                pthread_mutex_unlock(&db->lock);
                clock_sleep_ms(DB_BACKOFF_MIN_MS);
                pthread_mutex_lock(&db->lock);
            }
            db->kick = false;
            backoff = backoff * 2 > db->opts.backoff_max_ms ? db->opts.backoff_max_ms
                                                            : backoff * 2;
            continue;
        }
        if (!db->head) {
            if (db->stopping)
                break;
            int64_t now = clock_wall_ms();
            if (db->opts.run_retention && now >= db->next_retention_ms) {
                db->next_retention_ms = now + db->opts.retention.interval_s * 1000;
                pthread_mutex_unlock(&db->lock);
                db_writer_retention(db);
                pthread_mutex_lock(&db->lock);
                if (!db_conn_is_open(&db->wconn))
                    db_writer_note_down(db, NULL, false);
                continue;
            }
            if (db->opts.run_retention) {
                struct timespec ts = db_deadline(db->next_retention_ms - now);
                pthread_cond_timedwait(&db->wake, &db->lock, &ts);
            } else {
                pthread_cond_wait(&db->wake, &db->lock);
            }
            continue;
        }

        /* One transaction: items from the head, within the batch bounds. */
        struct db_item *first = db->head, *last = first;
        size_t records = first->weight, items = 1;
        while (last->next && items < DB_BATCH_ITEMS &&
               records + last->next->weight <= DB_BATCH_RECORDS) {
            last = last->next;
            records += last->weight;
            items++;
        }
        pthread_mutex_unlock(&db->lock);
        autoerr struct err *e = NULL;
        int64_t t0 = clock_mono_ns();
        int rc = db_writer_txn(db, first, last, &batch, &e);
        bool retry = rc < 0 && db_conn_retryable(&db->wconn, e);
        if (rc == 0)
            db_metrics_transaction((double)(clock_mono_ns() - t0) / 1e9);
        pthread_mutex_lock(&db->lock);
        if (rc == 0) {
            db->transactions++;
            db_writer_pop(db, last, true);
        } else if (retry) {
            db_conn_close(&db->wconn);
            db_writer_note_down(db, e, false);
        } else {
            log_err(LOG_LEVEL_WARN, e, "a write transaction of %zu records failed; "
                    "retrying its records one by one", records);
            db_writer_one_by_one(db, last, &batch);
        }
    }

    long long lost = db->queued;
    while (db->head) {
        struct db_item *it = db->head;
        db->head = it->next;
        it->ops->free(it);
    }
    db->tail = NULL;
    db->queued = 0;
    pthread_mutex_unlock(&db->lock);
    if (lost)
        log_error("closing with PostgreSQL unreachable: %lld queued records were not written",
                  lost);
    db_conn_close(&db->wconn);
    strbuf_release(&batch.copy);
    return NULL;
}

int db_writer_start(struct db *db, struct err **err)
{
    int rc = pthread_create(&db->writer, NULL, db_writer_main, db);
    if (rc != 0)
        return err_set_errno(err, rc, "start the database writer thread");
    db->writer_started = true;
    return 0;
}

void db_writer_stop(struct db *db)
{
    if (!db->writer_started)
        return;
    pthread_mutex_lock(&db->lock);
    db->stopping = true;
    pthread_cond_broadcast(&db->wake);
    pthread_mutex_unlock(&db->lock);
    pthread_join(db->writer, NULL);
    db->writer_started = false;
}

int db_wait_done(struct db *db, uint64_t seq, int64_t timeout_ms, struct err **err)
{
    if (timeout_ms <= 0)
        timeout_ms = db->opts.sync_timeout_ms;
    struct timespec ts = db_deadline(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&db->lock);
    uint64_t attempts = db->failed_attempts;
    while (db->done_seq < seq) {
        if (!db->connected) {
            if (db->failed_attempts != attempts) {
                rc = err_set(err, ERR_UNAVAILABLE,
                             "PostgreSQL unreachable (%s): %lld records waiting to be written",
                             db->last_error ? db->last_error : "?", db->queued);
                break;
            }
            db->kick = true;
            pthread_cond_signal(&db->wake);
        }
        if (pthread_cond_timedwait(&db->progress, &db->lock, &ts) == ETIMEDOUT &&
            db->done_seq < seq) {
            rc = err_set(err, ERR_UNAVAILABLE,
                         "earlier writes not committed within %lld ms (%lld records queued)",
                         (long long)timeout_ms, db->queued);
            break;
        }
    }
    pthread_mutex_unlock(&db->lock);
    return rc;
}
