/* The reshape record's statements, for reconciliation, which completes an
 * interrupted reshape inside its own transaction. */
#ifndef SC_DB_RESHAPE_PRIV_H
#define SC_DB_RESHAPE_PRIV_H

#include "db/conn.h"
#include "db/db.h"

/* Parameters of the statement db_reshape_stmt_add() returns. */
void db_reshape_params(struct db_params *p, const struct db_reshape *r);
const struct db_stmt *db_reshape_stmt_add(void);
/* $1 instance uuid, then a shape (six parameters). */
const struct db_stmt *db_reshape_stmt_set_shape(void);

#endif
