/* The database layer on /metrics: whether PostgreSQL is reachable, the
 * write queue, what was written, dropped or refused, and how long the
 * writer's transactions take.  Gauges and counters are set by a collector
 * from db_status_get() just before each render. */
#include <stdlib.h>

#include "common/metrics.h"
#include "db/db_metrics.h"
#include "db/db_priv.h"

static struct metrics_family *db_m_up, *db_m_queued, *db_m_queue_max, *db_m_schema,
    *db_m_written, *db_m_transactions, *db_m_dropped, *db_m_refused, *db_m_reconnects,
    *db_m_txn_seconds;

static void db_metrics_families(void)
{
    db_m_up = metrics_gauge("sculpt_db_up", "1 while the database writer is connected to "
                            "PostgreSQL, 0 during an outage.", NULL);
    db_m_queued = metrics_gauge("sculpt_db_queue_records",
                                "Records acknowledged and not yet committed.", NULL);
    db_m_queue_max = metrics_gauge("sculpt_db_queue_max_records",
                                   "Bound of the write queue ([database] queue_max).", NULL);
    db_m_schema = metrics_gauge("sculpt_db_schema_version", "Schema version in use.", NULL);
    db_m_written = metrics_counter("sculpt_db_records_written_total",
                                   "Records committed to PostgreSQL.", NULL);
    db_m_transactions = metrics_counter("sculpt_db_transactions_total",
                                        "Write transactions committed.", NULL);
    db_m_dropped = metrics_counter("sculpt_db_records_dropped_total",
                                   "Queued records PostgreSQL refused for their content.", NULL);
    db_m_refused = metrics_counter("sculpt_db_records_refused_total",
                                   "Records refused because the write queue was full.", NULL);
    db_m_reconnects = metrics_counter("sculpt_db_reconnects_total",
                                      "Reconnections after PostgreSQL went away.", NULL);
    db_m_txn_seconds = metrics_histogram("sculpt_db_transaction_seconds",
                                         "Time to write and commit one writer transaction.",
                                         NULL, metrics_latency_buckets,
                                         METRICS_LATENCY_NBUCKETS);
}

/* Counters move by what changed since the last render. */
static void db_metrics_step(struct metrics_family *f, long long now, long long *last)
{
    if (now > *last)
        metrics_add(f, (double)(now - *last), NULL);
    *last = now;
}

static void db_metrics_collect(void *ctx)
{
    struct db *db = ctx;
    struct db_status st;
    db_status_get(db, &st);
    metrics_set(db_m_up, st.connected ? 1 : 0, NULL);
    metrics_set(db_m_queued, (double)st.queued, NULL);
    metrics_set(db_m_queue_max, (double)st.queue_max, NULL);
    metrics_set(db_m_schema, st.schema_version, NULL);
    db_metrics_step(db_m_written, st.written, &db->metrics_last[0]);
    db_metrics_step(db_m_transactions, st.transactions, &db->metrics_last[1]);
    db_metrics_step(db_m_dropped, st.dropped, &db->metrics_last[2]);
    db_metrics_step(db_m_refused, st.refused, &db->metrics_last[3]);
    db_metrics_step(db_m_reconnects, st.reconnects, &db->metrics_last[4]);
}

void db_metrics_start(struct db *db)
{
    db_metrics_families();
    db->metrics_collector = metrics_collector_add(db_metrics_collect, db);
}

void db_metrics_stop(struct db *db)
{
    if (db->metrics_collector > 0)
        metrics_collector_remove(db->metrics_collector);
    db->metrics_collector = 0;
}

void db_metrics_transaction(double seconds)
{
    if (db_m_txn_seconds)
        metrics_observe(db_m_txn_seconds, seconds, NULL);
}
