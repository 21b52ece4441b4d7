/* One PostgreSQL connection: connecting, prepared statements, converting
 * PGresult failures into struct err.  Internal to db/; one thread uses a
 * connection at a time.
 *
 * Statements are declared where they are used, as static `struct db_stmt`
 * values, and prepared on a connection the first time it runs them (again
 * after a reconnection).  Every statement takes its values as parameters:
 * no SQL is ever assembled from data.
 */
#ifndef SC_DB_CONN_H
#define SC_DB_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/codec.h"

struct err;

struct db_stmt {
    const char *sql;
    int nparams;
};

/* Statements prepared per connection; above any count db/ declares. */
#define DB_CONN_STMTS_MAX 160

struct db_conn {
    PGconn *pg;                 /* NULL while closed */
    const struct db_stmt *prepared[DB_CONN_STMTS_MAX];
    size_t nprepared;
    bool stage_ready;           /* the usage staging table exists */
};

/* Connect to url (application_name "sculpt", a 5 s connect timeout, TCP
 * keepalives and user timeout so a vanished server is noticed) and set
 * statement_timeout (ms, 0: none).  ERR_UNAVAILABLE when the server cannot
 * be reached, ERR_INVALID for a malformed URL. */
int db_conn_open(struct db_conn *c, const char *url, int64_t statement_timeout_ms,
                 struct err **err);
void db_conn_close(struct db_conn *c);
bool db_conn_is_open(const struct db_conn *c);

/* Run a prepared statement.  Returns the result (TUPLES_OK or COMMAND_OK;
 * caller PQclear()s) or NULL with *err (see db_conn_classify). */
PGresult *db_conn_query(struct db_conn *c, const struct db_stmt *st, const struct db_params *p,
                        struct err **err);

/* The same for statements without rows; returns the rows affected or -1. */
long long db_conn_run(struct db_conn *c, const struct db_stmt *st, const struct db_params *p,
                      struct err **err);

/* Plain SQL text without parameters (BEGIN, COMMIT, a migration file). */
int db_conn_exec_text(struct db_conn *c, const char *sql, struct err **err);

int db_conn_begin(struct db_conn *c, struct err **err);
int db_conn_commit(struct db_conn *c, struct err **err);
/* Roll back, ignoring failures (the connection may be gone). */
void db_conn_rollback(struct db_conn *c);

/* COPY `copy_sql` FROM STDIN with the text-format rows in data. */
int db_conn_copy_in(struct db_conn *c, const char *copy_sql, const char *data, size_t len,
                    struct err **err);

/* Whether a failure on this connection calls for a reconnection and a
 * retry (connection lost, server shutting down, serialization failure)
 * rather than giving the record up. */
bool db_conn_retryable(const struct db_conn *c, const struct err *e);

#endif
