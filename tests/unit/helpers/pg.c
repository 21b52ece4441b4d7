#include "pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"

bool test_pg_available(void)
{
    const char *url = getenv("SCULPT_TEST_DB_URL");
    return url && *url;
}

static void test_pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *test_pg_connect(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "test_pg: connect: %s", PQerrorMessage(pg));
        abort();
    }
    PQsetNoticeProcessor(pg, test_pg_quiet, NULL);
    return pg;
}

char *test_pg_exec(const char *url, const char *sql)
{
    PGconn *pg = test_pg_connect(url);
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fprintf(stderr, "test_pg: `%s`: %s", sql, PQerrorMessage(pg));
        abort();
    }
    char *out = NULL;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return out;
}

long long test_pg_count(const char *url, const char *sql)
{
    char *v = test_pg_exec(url, sql);
    long long n = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return n;
}

/* url with its database (the path after the last '/') replaced. */
static char *test_pg_url_for(const char *url, const char *dbname)
{
    const char *slash = strrchr(url, '/');
    const char *query = strchr(slash ? slash : url, '?');
    return xasprintf("%.*s/%s%s", (int)(slash - url), url, dbname, query ? query : "");
}

char *test_pg_scratch(const char *tag)
{
    const char *base = getenv("SCULPT_TEST_DB_URL");
    char *name = xasprintf("sculpt_t_%s_%d", tag, (int)getpid());
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    free(test_pg_exec(base, sql));
    free(sql);
    sql = xasprintf("CREATE DATABASE %s", name);
    free(test_pg_exec(base, sql));
    free(sql);
    char *url = test_pg_url_for(base, name);
    free(name);
    return url;
}

void test_pg_drop(const char *url)
{
    if (!url)
        return;
    const char *name = strrchr(url, '/') + 1;
    char *sql = xasprintf("DROP DATABASE IF EXISTS %.*s WITH (FORCE)", (int)strcspn(name, "?"),
                          name);
    free(test_pg_exec(getenv("SCULPT_TEST_DB_URL"), sql));
    free(sql);
}

static void test_pg_stack(const char *action)
{
    const char *top = getenv("SCULPT_TOP");
    const char *run = getenv("SCULPT_TEST_DB_RUN_DIR");
    if (!run) {
        fprintf(stderr, "test_pg: SCULPT_TEST_DB_RUN_DIR is not set\n");
        abort();
    }
    char *cmd = xasprintf("'%s/contrib/stack/postgres.sh' %s '%s' >&2", top ? top : ".", action,
                          run);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_pg: `%s` failed\n", cmd);
        abort();
    }
    free(cmd);
}

void test_pg_stop(void)
{
    test_pg_stack("stop");
}

void test_pg_start(void)
{
    test_pg_stack("start");
}
