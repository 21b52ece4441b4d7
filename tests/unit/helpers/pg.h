/* A real PostgreSQL for the tests that need one.  The integration script
 * (tests/integration/db.sh) starts a private cluster with
 * contrib/stack/postgres.sh and sets SCULPT_TEST_DB_URL (a database on
 * it) and SCULPT_TEST_DB_RUN_DIR (the stack's RUN_DIR, for restarts);
 * without them these tests skip. */
#ifndef SC_TESTS_PG_H
#define SC_TESTS_PG_H

#include <stdbool.h>

/* Whether a test cluster is configured. */
bool test_pg_available(void);

/* The URL of a new empty database `sculpt_t_<tag>_<pid>` on the test
 * cluster (dropped by test_pg_drop).  Aborts on failure; caller frees. */
char *test_pg_scratch(const char *tag);
void test_pg_drop(const char *url);

/* Run SQL on url; returns the first column of the first row (NULL when no
 * row; caller frees).  Aborts on failure. */
char *test_pg_exec(const char *url, const char *sql);
/* The same, as a number (first column of the first row). */
long long test_pg_count(const char *url, const char *sql);

/* Stop and start the test cluster by PID through its stack script. */
void test_pg_stop(void);
void test_pg_start(void);

#endif
