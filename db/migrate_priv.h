/* The embedded migrations, for the test that every file in
 * db/migrations/ is embedded, numbered and in order. */
#ifndef SC_DB_MIGRATE_PRIV_H
#define SC_DB_MIGRATE_PRIV_H

#include <stddef.h>

struct db_migration {
    const char *name;   /* file name in db/migrations/ */
    const char *sql;    /* its text */
};

extern const struct db_migration db_migrations[];
extern const size_t db_nmigrations;

#endif
