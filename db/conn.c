#include "db/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

LOG_INIT("db.conn");

/* libpq's message on one line: its line breaks and tabs become single
 * spaces, the trailing newline goes. */
static char *db_conn_message(const char *msg)
{
    char *m = xstrdup(msg && *msg ? msg : "no message");
    size_t w = 0;
    for (size_t r = 0; m[r]; r++) {
        char ch = m[r] == '\n' || m[r] == '\t' ? ' ' : m[r];
        if (ch == ' ' && (w == 0 || m[w - 1] == ' '))
            continue;
        m[w++] = ch;
    }
    while (w && m[w - 1] == ' ')
        w--;
    m[w] = '\0';
    return m;
}

/* Server notices ("relation already exists, skipping") are not errors;
 * libpq would print them on stderr. */
static void db_conn_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("PostgreSQL notice: %s", message);
}

int db_conn_open(struct db_conn *c, const char *url, int64_t statement_timeout_ms,
                 struct err **err)
{
    /* Defaults first: expand_dbname lets the URL override them. */
    const char *keys[] = {"connect_timeout", "application_name", "keepalives",
                          "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout", "dbname", NULL};
    const char *vals[] = {"5", "sculpt", "1", "10", "5", "3", "15000", url, NULL};

    db_conn_close(c);
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg)
        return err_set(err, ERR_INTERNAL, "libpq could not allocate a connection");
    if (PQstatus(pg) != CONNECTION_OK) {
        autofree char *msg = db_conn_message(PQerrorMessage(pg));
        /* A malformed URL fails before any network traffic. */
        bool bad_url = strstr(msg, "invalid") && !strstr(msg, "connection to server");
        PQfinish(pg);
        return err_set(err, bad_url ? ERR_INVALID : ERR_UNAVAILABLE,
                       "cannot connect to PostgreSQL: %s", msg);
    }
    PQsetNoticeProcessor(pg, db_conn_notice, NULL);
    c->pg = pg;
    c->nprepared = 0;
    c->stage_ready = false;

    /* Custom plans always: the optional filters ($1 IS NULL OR ...) then
     * fold away and indexes are used; planning costs little here. */
    static const struct db_stmt set_timeout = {
        "SELECT set_config('statement_timeout', $1, false),"
        " set_config('plan_cache_mode', 'force_custom_plan', false)",
        1};
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, statement_timeout_ms);
    if (db_conn_run(c, &set_timeout, &p, err) < 0) {
        db_conn_close(c);
        return -1;
    }
    return 0;
}

void db_conn_close(struct db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->nprepared = 0;
    c->stage_ready = false;
}

bool db_conn_is_open(const struct db_conn *c)
{
    return c->pg && PQstatus(c->pg) == CONNECTION_OK;
}

/* SQLSTATE -> our codes.  Connection trouble and server shutdown are
 * UNAVAILABLE (a retry after reconnecting may work); constraint violations
 * CONFLICT; bad data INVALID; a statement timeout TIMEOUT. */
static enum err_code db_conn_code(const char *sqlstate)
{
    if (!sqlstate)
        return ERR_UNAVAILABLE;
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
        strcmp(sqlstate, "53300") == 0 || strcmp(sqlstate, "40001") == 0 ||
        strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "55P03") == 0)
        return ERR_UNAVAILABLE;
    if (strcmp(sqlstate, "57014") == 0)
        return ERR_TIMEOUT;
    if (strncmp(sqlstate, "23", 2) == 0)
        return ERR_CONFLICT;
    if (strncmp(sqlstate, "22", 2) == 0)
        return ERR_INVALID;
    return ERR_INTERNAL;
}

/* Convert a failed result (or none: the connection broke) into *err. */
static int db_conn_fail(struct db_conn *c, PGresult *res, struct err **err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    autofree char *msg = db_conn_message(primary ? primary : PQerrorMessage(c->pg));
    enum err_code code = db_conn_code(state);
    if (PQstatus(c->pg) != CONNECTION_OK)
        code = ERR_UNAVAILABLE;
    if (state)
        err_set(err, code, "PostgreSQL: %s (SQLSTATE %s)", msg, state);
    else
        err_set(err, code, "PostgreSQL: %s", msg);
    PQclear(res);
    return -1;
}

static bool db_conn_result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

static int db_conn_prepare(struct db_conn *c, const struct db_stmt *st, char name[32],
                           struct err **err)
{
    snprintf(name, 32, "s%lx", (unsigned long)(uintptr_t)st);
    for (size_t i = 0; i < c->nprepared; i++)
        if (c->prepared[i] == st)
            return 0;
    if (c->nprepared == DB_CONN_STMTS_MAX)
        return err_set(err, ERR_INTERNAL, "more than %d statements on one connection",
                       DB_CONN_STMTS_MAX);
    PGresult *res = PQprepare(c->pg, name, st->sql, st->nparams, NULL);
    if (!db_conn_result_ok(res)) {
        db_conn_fail(c, res, err);
        return err_wrap(err, "prepare `%.60s`", st->sql);
    }
    PQclear(res);
    c->prepared[c->nprepared++] = st;
    return 0;
}

PGresult *db_conn_query(struct db_conn *c, const struct db_stmt *st, const struct db_params *p,
                        struct err **err)
{
    char name[32];
    if (!c->pg) {
        err_set(err, ERR_UNAVAILABLE, "PostgreSQL: not connected");
        return NULL;
    }
    if (p->n != st->nparams) {
        err_set(err, ERR_INTERNAL, "statement `%.60s` takes %d parameters, got %d", st->sql,
                st->nparams, p->n);
        return NULL;
    }
    if (db_conn_prepare(c, st, name, err) < 0)
        return NULL;
    PGresult *res = PQexecPrepared(c->pg, name, p->n, p->v, NULL, NULL, 0);
    if (!db_conn_result_ok(res)) {
        db_conn_fail(c, res, err);
        return NULL;
    }
    return res;
}

long long db_conn_run(struct db_conn *c, const struct db_stmt *st, const struct db_params *p,
                      struct err **err)
{
    PGresult *res = db_conn_query(c, st, p, err);
    if (!res)
        return -1;
    const char *n = PQcmdTuples(res);
    long long rows = n && *n ? strtoll(n, NULL, 10) : 0;
    PQclear(res);
    return rows;
}

int db_conn_exec_text(struct db_conn *c, const char *sql, struct err **err)
{
    if (!c->pg)
        return err_set(err, ERR_UNAVAILABLE, "PostgreSQL: not connected");
    PGresult *res = PQexec(c->pg, sql);
    if (!db_conn_result_ok(res))
        return db_conn_fail(c, res, err);
    PQclear(res);
    return 0;
}

int db_conn_begin(struct db_conn *c, struct err **err)
{
    return db_conn_exec_text(c, "BEGIN", err);
}

int db_conn_commit(struct db_conn *c, struct err **err)
{
    return db_conn_exec_text(c, "COMMIT", err);
}

void db_conn_rollback(struct db_conn *c)
{
    /* The staging table may have been created by the transaction undone. */
    c->stage_ready = false;
    if (!db_conn_is_open(c))
        return;
    PGresult *res = PQexec(c->pg, "ROLLBACK");
    PQclear(res);
}

int db_conn_copy_in(struct db_conn *c, const char *copy_sql, const char *data, size_t len,
                    struct err **err)
{
    if (!c->pg)
        return err_set(err, ERR_UNAVAILABLE, "PostgreSQL: not connected");
    PGresult *res = PQexec(c->pg, copy_sql);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN)
        return db_conn_fail(c, res, err);
    PQclear(res);
    /* libpq queues the data; large buffers go in slices it can flush. */
    const size_t slice = 1 << 20;
    for (size_t off = 0; off < len; off += slice) {
        size_t n = len - off < slice ? len - off : slice;
        if (PQputCopyData(c->pg, data + off, (int)n) != 1)
            return db_conn_fail(c, NULL, err);
    }
    if (PQputCopyEnd(c->pg, NULL) != 1)
        return db_conn_fail(c, NULL, err);
    res = PQgetResult(c->pg);
    int rc = 0;
    if (!db_conn_result_ok(res))
        rc = db_conn_fail(c, res, err);
    else
        PQclear(res);
    /* Drain to the end of the command so the connection is ready again. */
    while ((res = PQgetResult(c->pg)) != NULL)
        PQclear(res);
    return rc;
}

bool db_conn_retryable(const struct db_conn *c, const struct err *e)
{
    if (!db_conn_is_open(c))
        return true;
    return err_code_of(e) == ERR_UNAVAILABLE;
}
