/* The database layer's Prometheus series (db/metrics.c).  Internal. */
#ifndef SC_DB_DB_METRICS_H
#define SC_DB_DB_METRICS_H

struct db;

/* Register the families and a collector reading db's status; undone by
 * db_metrics_stop() (db_open and db_close call them). */
void db_metrics_start(struct db *db);
void db_metrics_stop(struct db *db);
/* One writer transaction took `seconds` (writer thread). */
void db_metrics_transaction(double seconds);

#endif
