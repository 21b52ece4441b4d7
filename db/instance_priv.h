/* Instance rows on a given connection: used by the hand-over (pools) and
 * by reconciliation inside their own transactions. */
#ifndef SC_DB_INSTANCE_PRIV_H
#define SC_DB_INSTANCE_PRIV_H

#include "db/conn.h"
#include "db/db.h"

/* Argument checks of db_instance_put(). */
int db_instance_check(const struct drv_instance *inst, struct err **err);
/* Insert or replace the row and its key/value pairs. */
int db_instance_write(struct db_conn *c, const struct drv_instance *in, struct err **err);
int db_instance_mark_vanished(struct db_conn *c, const char *uuid, struct err **err);
int db_instance_mark_deleted(struct db_conn *c, const char *uuid, struct err **err);
int db_instance_set_power(struct db_conn *c, const char *uuid, enum drv_power_state power,
                          struct err **err);
int db_instance_set_state_now(struct db_conn *c, const char *uuid, const char *vm_state,
                              const char *task_state, enum drv_power_state power,
                              struct err **err);

#endif
