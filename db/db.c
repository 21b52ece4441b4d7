/* The database handle: opening (connect, migrate, start the writer),
 * closing, the session pool, status, and checks the typed calls share. */
#include "db/db.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/uuid.h"
#include "db/db_metrics.h"
#include "db/db_priv.h"

LOG_INIT("db.db");

void db_options_from_cfg(const struct cfg *cfg, struct db_options *o)
{
    memset(o, 0, sizeof(*o));
    o->url = cfg->db_connection;
    o->queue_max = cfg->db_queue_max;
    o->pool_size = (int)cfg->db_pool_size;
    o->startup_wait_ms = cfg->db_startup_wait_s * 1000;
    o->sync_timeout_ms = cfg->db_sync_timeout_s * 1000;
    o->backoff_max_ms = cfg->db_reconnect_max_s * 1000;
    o->migrate = cfg->db_auto_migrate;
    o->run_retention = true;
    o->retention.usage_raw_s = cfg->db_usage_raw_retention_s;
    o->retention.usage_rollup_step_s = cfg->db_usage_rollup_step_s;
    o->retention.usage_rollup_s = cfg->db_usage_rollup_retention_s;
    o->retention.blueprints_s = cfg->db_blueprint_retention_s;
    o->retention.events_s = cfg->db_event_retention_s;
    o->retention.snapshots_s = cfg->db_snapshot_retention_s;
    o->retention.deleted_s = cfg->db_deleted_retention_s;
    o->retention.pool_classes_s = cfg->db_pool_class_retention_s;
    o->retention.pool_arrivals_s = cfg->db_pool_arrival_retention_s;
    o->retention.interval_s = cfg->db_retention_interval_s;
}

/* Fill unset (zero) options with the defaults of config_options.def, so a
 * caller may set only the URL. */
static void db_options_complete(struct db_options *o)
{
    autocfg defaults = cfg_new_defaults();
    struct db_options d;
    db_options_from_cfg(defaults, &d);
    if (o->queue_max <= 0)
        o->queue_max = d.queue_max;
    if (o->pool_size <= 0)
        o->pool_size = d.pool_size;
    if (o->sync_timeout_ms <= 0)
        o->sync_timeout_ms = d.sync_timeout_ms;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = d.backoff_max_ms;
    int64_t *r = &o->retention.usage_raw_s;
    const int64_t *dr = &d.retention.usage_raw_s;
    for (size_t i = 0; i < sizeof(o->retention) / sizeof(int64_t); i++)
        if (r[i] <= 0)
            r[i] = dr[i];
}

/* Connect the writer, retrying until startup_wait_ms has passed. */
static int db_open_connect(struct db *db, struct err **err)
{
    int64_t deadline = clock_mono_ms() + db->opts.startup_wait_ms;
    int64_t pause = 200;
    bool logged = false;
    for (;;) {
        autoerr struct err *e = NULL;
        if (db_conn_open(&db->wconn, db->url, 0, &e) == 0)
            return 0;
        if (e->code != ERR_UNAVAILABLE || clock_mono_ms() + pause > deadline)
            return db_err_pass(err, &e);
        if (!logged) {
            log_err(LOG_LEVEL_WARN, e, "waiting up to %.1f s for PostgreSQL",
                    (double)db->opts.startup_wait_ms / 1000.0);
            logged = true;
        }
        clock_sleep_ms(pause);
        pause = pause * 2 > 2000 ? 2000 : pause * 2;
    }
}

static int db_open_schema(struct db *db, struct err **err)
{
    int version = 0;
    if (db->opts.migrate) {
        int from = 0;
        if (db_migrate_conn(&db->wconn, db_schema_latest(), &from, &version, err) < 0)
            return -1;
        if (from != version)
            log_info("database schema migrated from version %d to %d", from, version);
    } else {
        if (db_schema_version_conn(&db->wconn, &version, err) < 0)
            return -1;
        if (version > db_schema_latest())
            return err_set(err, ERR_CONFLICT,
                           "database schema version %d is newer than this sculpt knows (%d): "
                           "run a newer sculpt or restore a matching database",
                           version, db_schema_latest());
        if (version < db_schema_latest())
            return err_set(err, ERR_CONFLICT,
                           "database schema version %d is older than this sculpt needs (%d): "
                           "run `sculptctl db migrate`",
                           version, db_schema_latest());
    }
    db->schema_version = version;
    return 0;
}

struct db *db_open(const struct db_options *opts, struct err **err)
{
    if (!opts->url || !*opts->url) {
        err_set(err, ERR_INVALID, "no database: set [database] connection in sculpt.conf");
        return NULL;
    }
    struct db *db = xzalloc(sizeof(*db));
    db->opts = *opts;
    db_options_complete(&db->opts);
    db->url = xstrdup(opts->url);
    db->opts.url = db->url;
    pthread_mutex_init(&db->lock, NULL);
    pthread_cond_init(&db->wake, NULL);
    pthread_cond_init(&db->progress, NULL);
    pthread_mutex_init(&db->slock, NULL);
    pthread_cond_init(&db->sfree, NULL);
    db->nsessions = db->opts.pool_size;
    db->sessions = xcalloc((size_t)db->nsessions, sizeof(*db->sessions));
    db->next_retention_ms = clock_wall_ms() + db->opts.retention.interval_s * 1000;

    char redacted[512];
    log_redact_url(db->url, redacted, sizeof(redacted));
    if (uuid_generate(db->origin, err) < 0 || db_open_connect(db, err) < 0 ||
        db_open_schema(db, err) < 0) {
        err_wrap(err, "database `%s`", redacted);
        db_close(db);
        return NULL;
    }
    db->connected = true;
    if (db_writer_start(db, err) < 0) {
        db_close(db);
        return NULL;
    }
    db_metrics_start(db);
    log_info("database `%s` open: schema version %d, write queue bound %lld records, "
             "%d session connections",
             redacted, db->schema_version, db->opts.queue_max, db->nsessions);
    return db;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    db_metrics_stop(db);
    db_writer_stop(db);
    db_conn_close(&db->wconn);
    for (int i = 0; i < db->nsessions; i++)
        db_conn_close(&db->sessions[i].conn);
    free(db->sessions);
    pthread_mutex_destroy(&db->lock);
    pthread_cond_destroy(&db->wake);
    pthread_cond_destroy(&db->progress);
    pthread_mutex_destroy(&db->slock);
    pthread_cond_destroy(&db->sfree);
    free(db->last_error);
    free(db->url);
    free(db);
}

int db_sync(struct db *db, int64_t timeout_ms, struct err **err)
{
    pthread_mutex_lock(&db->lock);
    uint64_t target = db->enq_seq;
    pthread_mutex_unlock(&db->lock);
    return db_wait_done(db, target, timeout_ms, err);
}

void db_status_get(struct db *db, struct db_status *out)
{
    pthread_mutex_lock(&db->lock);
    out->connected = db->connected;
    out->down_since_ms = db->down_since_ms;
    out->queued = db->queued;
    out->queue_max = db->opts.queue_max;
    out->written = db->written;
    out->transactions = db->transactions;
    out->dropped = db->dropped;
    out->refused = db->refused;
    out->reconnects = db->reconnects;
    out->schema_version = db->schema_version;
    pthread_mutex_unlock(&db->lock);
}

/* Session connections were made before the writer last reconnected: the
 * server restarted since, so they are stale and are reopened. */
struct db_conn *db_session_acquire(struct db *db, struct err **err)
{
    if (db_sync(db, 0, err) < 0)
        return NULL;
    pthread_mutex_lock(&db->lock);
    long long epoch = db->reconnects;
    pthread_mutex_unlock(&db->lock);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += db->opts.sync_timeout_ms / 1000;
    struct db_session *s = NULL;
    pthread_mutex_lock(&db->slock);
    while (!s) {
        for (int i = 0; i < db->nsessions && !s; i++)
            if (!db->sessions[i].busy)
                s = &db->sessions[i];
        if (s)
            break;
        if (pthread_cond_timedwait(&db->sfree, &db->slock, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&db->slock);
            err_set(err, ERR_UNAVAILABLE, "every database session busy for %lld ms",
                    (long long)db->opts.sync_timeout_ms);
            return NULL;
        }
    }
    s->busy = true;
    pthread_mutex_unlock(&db->slock);

    if (s->conn.pg && s->epoch != epoch)
        db_conn_close(&s->conn);
    if (!db_conn_is_open(&s->conn)) {
        if (db_conn_open(&s->conn, db->url, db->opts.sync_timeout_ms, err) < 0) {
            db_session_release(db, &s->conn);
            return NULL;
        }
        s->epoch = epoch;
    }
    return &s->conn;
}

void db_session_release(struct db *db, struct db_conn *c)
{
    struct db_session *s = (struct db_session *)c;
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        db_conn_rollback(c);
    if (!db_conn_is_open(c))
        db_conn_close(c);
    pthread_mutex_lock(&db->slock);
    s->busy = false;
    pthread_cond_signal(&db->sfree);
    pthread_mutex_unlock(&db->slock);
}

PGresult *db_session_query(struct db *db, const struct db_stmt *st, const struct db_params *p,
                           struct err **err)
{
    struct db_conn *c = db_session_acquire(db, err);
    if (!c)
        return NULL;
    PGresult *r = db_conn_query(c, st, p, err);
    db_session_release(db, c);
    return r;
}

PGresult *db_session_read(struct db *db, const struct db_stmt *st, const struct db_params *p,
                          struct err **err)
{
    for (int attempt = 0;; attempt++) {
        struct db_conn *c = db_session_acquire(db, err);
        if (!c)
            return NULL;
        autoerr struct err *e = NULL;
        PGresult *r = db_conn_query(c, st, p, &e);
        bool lost = !r && !db_conn_is_open(c);
        db_session_release(db, c);
        if (r)
            return r;
        if (!lost || attempt == 1) {
            db_err_pass(err, &e);
            return NULL;
        }
    }
}

long long db_session_run(struct db *db, const struct db_stmt *st, const struct db_params *p,
                         struct err **err)
{
    struct db_conn *c = db_session_acquire(db, err);
    if (!c)
        return -1;
    long long n = db_conn_run(c, st, p, err);
    db_session_release(db, c);
    return n;
}

int db_retention_run(struct db *db, int64_t now_ms, struct err **err)
{
    struct db_conn *c = db_session_acquire(db, err);
    if (!c)
        return -1;
    int rc = db_retention_apply(c, &db->opts.retention, now_ms, err);
    db_session_release(db, c);
    return rc;
}

int db_check_uuid(const char *what, const char *uuid, struct err **err)
{
    if (!uuid || !uuid_is_valid(uuid))
        return err_set(err, ERR_INVALID, "%s: `%s` is not a UUID", what, uuid ? uuid : "(null)");
    return 0;
}

int db_check_shape(const char *what, const struct drv_shape *s, struct err **err)
{
    if (drv_res_validate(s->res, err) < 0)
        return err_wrap(err, "%s", what);
    if (!isfinite(s->mem_max_mib) || s->mem_max_mib < 0 || s->mem_max_mib > DRV_RES_MAX ||
        s->vcpus_online < 0 || s->vcpus_max < 0 || s->numa_node < -1)
        return err_set(err, ERR_INVALID, "%s: bad shape (vcpus %d/%d, max memory %g MiB, node %d)",
                       what, s->vcpus_online, s->vcpus_max, s->mem_max_mib, s->numa_node);
    if (s->cpu_weight > DRV_SHAPE_WEIGHT_MAX)
        return err_set(err, ERR_INVALID, "%s: CPU weight %u above %d", what, s->cpu_weight,
                       DRV_SHAPE_WEIGHT_MAX);
    return 0;
}

int db_err_pass(struct err **err, struct err **e)
{
    if (err) {
        err_free(*err);
        *err = steal_pointer(e);
    } else {
        err_clear(e);
    }
    return -1;
}

char *db_strdup0(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

const char *db_code_name(enum err_code code)
{
    return code == 0 ? "OK" : err_code_name(code);
}

enum err_code db_code_parse(const char *name)
{
    for (int c = ERR_INVALID; c < ERR_LAST; c++)
        if (strcmp(err_code_name((enum err_code)c), name) == 0)
            return (enum err_code)c;
    return 0;
}
