/* Schema migrations: db/migrations/NNNN_name.sql, embedded in the binary,
 * applied in order, each in its own transaction with its row in
 * sculpt_schema.  An advisory lock serialises concurrent migrators
 * (sculpt-compute starting while an operator runs `sculptctl db migrate`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db_priv.h"
#include "db/migrate_priv.h"

LOG_INIT("db.migrate");

/* The SQL files go into .rodata as NUL-terminated strings (.incbin keeps
 * them byte for byte; the Makefile rebuilds this file when one changes). */
#define DB_EMBED(sym, path)                                                  \
    __asm__(".pushsection .rodata\n"                                         \
            ".globl " #sym "\n"                                              \
            ".hidden " #sym "\n"                                             \
            #sym ":\n"                                                       \
            ".incbin \"" path "\"\n"                                         \
            ".byte 0\n"                                                      \
            ".popsection\n");                                                \
    extern const char sym[]

DB_EMBED(db_sql_0001, "db/migrations/0001_initial.sql");
DB_EMBED(db_sql_0002, "db/migrations/0002_reshape_knobs.sql");
DB_EMBED(db_sql_0003, "db/migrations/0003_fleet_history.sql");
DB_EMBED(db_sql_0004, "db/migrations/0004_member_booting.sql");
DB_EMBED(db_sql_0005, "db/migrations/0005_predictor_states.sql");
DB_EMBED(db_sql_0006, "db/migrations/0006_shape_cpu_weight.sql");
DB_EMBED(db_sql_0007, "db/migrations/0007_pool_classes.sql");
DB_EMBED(db_sql_0008, "db/migrations/0008_presculpt_learnt.sql");
DB_EMBED(db_sql_0009, "db/migrations/0009_migrate_intents.sql");
DB_EMBED(db_sql_0010, "db/migrations/0010_pool_reclaims.sql");
DB_EMBED(db_sql_0011, "db/migrations/0011_pool_guest_agent.sql");

/* Version i + 1 is db_migrations[i]. */
const struct db_migration db_migrations[] = {
    {"0001_initial.sql", db_sql_0001},
    {"0002_reshape_knobs.sql", db_sql_0002},
    {"0003_fleet_history.sql", db_sql_0003},
    {"0004_member_booting.sql", db_sql_0004},
    {"0005_predictor_states.sql", db_sql_0005},
    {"0006_shape_cpu_weight.sql", db_sql_0006},
    {"0007_pool_classes.sql", db_sql_0007},
    {"0008_presculpt_learnt.sql", db_sql_0008},
    {"0009_migrate_intents.sql", db_sql_0009},
    {"0010_pool_reclaims.sql", db_sql_0010},
    {"0011_pool_guest_agent.sql", db_sql_0011},
};
const size_t db_nmigrations = ARRAY_SIZE(db_migrations);

int db_schema_latest(void)
{
    return (int)db_nmigrations;
}

/* A constant key for pg_advisory_xact_lock: "sculpt" in ASCII. */
#define DB_MIGRATE_LOCK "115997117108112116"

static const struct db_stmt st_version = {
    "SELECT coalesce(max(version), 0) FROM sculpt_schema", 0};
static const struct db_stmt st_record = {
    "INSERT INTO sculpt_schema (version, name) VALUES ($1, $2)", 2};

static const char db_schema_table[] =
    "CREATE TABLE IF NOT EXISTS sculpt_schema ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

static int db_read_version(struct db_conn *c, int *version, struct err **err)
{
    static const struct db_params none = DB_PARAMS_INIT;
    PGresult *r = db_conn_query(c, &st_version, &none, err);
    if (!r)
        return -1;
    *version = (int)db_col_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int db_schema_version_conn(struct db_conn *c, int *version, struct err **err)
{
    static const struct db_stmt st_exists = {
        "SELECT to_regclass('sculpt_schema') IS NOT NULL", 0};
    static const struct db_params none = DB_PARAMS_INIT;
    PGresult *r = db_conn_query(c, &st_exists, &none, err);
    if (!r)
        return -1;
    bool exists = db_col_bool(r, 0, 0);
    PQclear(r);
    if (!exists) {
        *version = 0;
        return 0;
    }
    return db_read_version(c, version, err);
}

/* One step: lock, re-read the version (someone may have got there first),
 * apply the next migration if still needed. */
static int db_migrate_step(struct db_conn *c, int target, int *version, struct err **err)
{
    autoparams p = DB_PARAMS_INIT; /* before any goto: cleaned up at `fail` */
    if (db_conn_begin(c, err) < 0)
        return -1;
    if (db_conn_exec_text(c, "SELECT pg_advisory_xact_lock(" DB_MIGRATE_LOCK ")", err) < 0 ||
        db_conn_exec_text(c, db_schema_table, err) < 0 || db_read_version(c, version, err) < 0)
        goto fail;
    if (*version > (int)db_nmigrations) {
        err_set(err, ERR_CONFLICT,
                "database schema version %d is newer than this sculpt knows (%d): "
                "run a newer sculpt or restore a matching database",
                *version, (int)db_nmigrations);
        goto fail;
    }
    if (*version >= target) {
        db_conn_rollback(c);
        return 0;
    }
    const struct db_migration *m = &db_migrations[*version];
    if (db_conn_exec_text(c, m->sql, err) < 0) {
        err_wrap(err, "migration %s", m->name);
        goto fail;
    }
    db_param_int(&p, *version + 1);
    db_param_str(&p, m->name);
    if (db_conn_run(c, &st_record, &p, err) < 0 || db_conn_commit(c, err) < 0)
        goto fail;
    log_info("applied database migration %s", m->name);
    (*version)++;
    return 1;
 fail:
    db_conn_rollback(c);
    return -1;
}

int db_migrate_conn(struct db_conn *c, int target, int *from, int *to, struct err **err)
{
    int version = 0;
    if (target < 0 || target > (int)db_nmigrations)
        return err_set(err, ERR_INVALID, "no schema version %d (this sculpt knows 0 to %d)",
                       target, (int)db_nmigrations);
    if (db_schema_version_conn(c, &version, err) < 0)
        return -1;
    if (from)
        *from = version;
    for (;;) {
        int rc = db_migrate_step(c, target, &version, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
    }
    if (to)
        *to = version;
    return 0;
}

int db_migrate_to(const char *url, int target, int *from, int *to, struct err **err)
{
    struct db_conn c = {0};
    if (db_conn_open(&c, url, 0, err) < 0)
        return -1;
    int rc = db_migrate_conn(&c, target, from, to, err);
    db_conn_close(&c);
    return rc;
}

int db_migrate(const char *url, int *from, int *to, struct err **err)
{
    return db_migrate_to(url, (int)db_nmigrations, from, to, err);
}

int db_schema_version_at(const char *url, int *version, struct err **err)
{
    struct db_conn c = {0};
    if (db_conn_open(&c, url, 0, err) < 0)
        return -1;
    int rc = db_schema_version_conn(&c, version, err);
    db_conn_close(&c);
    return rc;
}
