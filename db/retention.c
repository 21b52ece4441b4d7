/* Bounded history: raw usage rolled up into buckets (mean and peak), and
 * everything past its retention removed, in one transaction. */
#include <stdio.h>

#include "common/err.h"
#include "common/log.h"
#include "db/db_priv.h"

LOG_INIT("db.retention");

#define DB_MERGE_MEAN(c)                                                                    \
    " " c " = (usage_rollups." c " * usage_rollups.n + excluded." c " * excluded.n)"        \
    " / (usage_rollups.n + excluded.n)"
#define DB_MERGE_PEAK(c) " " c "_peak = greatest(usage_rollups." c "_peak, excluded." c "_peak)"
#define DB_RES_EACH(m, sep)                                                                 \
    m("vcpu") sep m("mem_mib") sep m("net_in_mbps") sep m("net_out_mbps") sep              \
    m("disk_read_iops") sep m("disk_write_iops") sep m("disk_read_mbps") sep              \
    m("disk_write_mbps")
#define DB_AVG(c) " avg(" c ")"
#define DB_MAX(c) " max(" c ")"

/* Pool members go with the events once released, or once their instance
 * is deleted when handed over (a live instance's guest answers to it
 * through its member's row).  $1: cutoff (ms, a bucket boundary), $2: bucket length (s).  Moves raw
 * samples before the cutoff into their buckets, merging with what a bucket
 * already holds (weighted by sample counts). */
static const struct db_stmt st_rollup = {
    "WITH moved AS (DELETE FROM usage_samples WHERE t < sculpt_ts($1) RETURNING *)"
    " INSERT INTO usage_rollups (instance_uuid, t, step_s, n, vcpu, mem_mib, net_in_mbps,"
    " net_out_mbps, disk_read_iops, disk_write_iops, disk_read_mbps, disk_write_mbps,"
    " vcpu_peak, mem_mib_peak, net_in_mbps_peak, net_out_mbps_peak, disk_read_iops_peak,"
    " disk_write_iops_peak, disk_read_mbps_peak, disk_write_mbps_peak)"
    " SELECT instance_uuid, date_bin(make_interval(secs => $2::integer), t,"
    " timestamptz 'epoch'), $2::integer, count(*),"
    DB_RES_EACH(DB_AVG, ",") "," DB_RES_EACH(DB_MAX, ",")
    " FROM moved GROUP BY 1, 2"
    " ON CONFLICT (instance_uuid, t) DO UPDATE SET n = usage_rollups.n + excluded.n,"
    DB_RES_EACH(DB_MERGE_MEAN, ",") "," DB_RES_EACH(DB_MERGE_PEAK, ","),
    2};
static const struct db_stmt st_rollups_expire = {
    "DELETE FROM usage_rollups WHERE t < sculpt_ts($1)", 1};
/* An instance's newest revision stays whatever its age. */
static const struct db_stmt st_blueprints_expire = {
    "DELETE FROM blueprints b WHERE b.created_at < sculpt_ts($1) AND b.revision <"
    " (SELECT max(revision) FROM blueprints b2 WHERE b2.instance_uuid = b.instance_uuid)",
    1};
static const struct db_stmt st_events_expire = {
    "WITH e AS (DELETE FROM events WHERE at < sculpt_ts($1) RETURNING 1),"
    " i AS (DELETE FROM intents WHERE finished_at < sculpt_ts($1) RETURNING 1),"
    " m AS (DELETE FROM pool_members m WHERE m.updated_at < sculpt_ts($1)"
    "  AND (m.state IN ('released', 'gone') OR (m.state = 'handed_over' AND NOT EXISTS"
    "  (SELECT 1 FROM instances i WHERE i.uuid = m.instance_uuid AND i.deleted_at IS NULL)))"
    "  RETURNING 1),"
    " w AS (DELETE FROM sculpt_writer WHERE updated_at < sculpt_ts($1) RETURNING 1)"
    " SELECT (SELECT count(*) FROM e) + (SELECT count(*) FROM i) + (SELECT count(*) FROM m)",
    1};
static const struct db_stmt st_snapshots_expire = {
    "WITH s AS (DELETE FROM host_snapshots WHERE at < sculpt_ts($1) RETURNING 1),"
    " r AS (DELETE FROM reshapes WHERE at < sculpt_ts($1) RETURNING 1)"
    " SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM r)",
    1};
/* A deleted instance goes with everything about it. */
static const struct db_stmt st_deleted_expire = {
    "WITH gone AS (DELETE FROM instances WHERE deleted_at < sculpt_ts($1) RETURNING uuid),"
    " a AS (DELETE FROM usage_samples WHERE instance_uuid IN (SELECT uuid FROM gone)),"
    " b AS (DELETE FROM usage_rollups WHERE instance_uuid IN (SELECT uuid FROM gone)),"
    " c AS (DELETE FROM blueprints WHERE instance_uuid IN (SELECT uuid FROM gone)),"
    " d AS (DELETE FROM reshapes WHERE instance_uuid IN (SELECT uuid FROM gone))"
    " SELECT count(*) FROM gone",
    1};

/* A class nobody asked for goes with its template and requests (cascade);
 * a pool's row, once no member lives and the manager stopped updating it
 * (a class or group it does not hold since a restart). */
static const struct db_stmt st_pool_classes_expire = {
    "WITH c AS (DELETE FROM pool_classes WHERE last_request_at < sculpt_ts($1) RETURNING 1),"
    " p AS (DELETE FROM pools p WHERE p.updated_at < sculpt_ts($1) AND NOT EXISTS"
    "  (SELECT 1 FROM pool_members m WHERE m.pool_key = p.key"
    "   AND m.state IN ('preparing', 'booting', 'ready', 'paused')) RETURNING 1)"
    " SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM p)",
    1};
static const struct db_stmt st_pool_arrivals_expire = {
    "WITH a AS (DELETE FROM pool_arrivals WHERE t_s < $1::bigint / 1000 RETURNING 1)"
    " SELECT count(*) FROM a",
    1};

static long long db_retention_step(struct db_conn *c, const struct db_stmt *st, int64_t cutoff,
                                   bool counted, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, cutoff);
    if (!counted)
        return db_conn_run(c, st, &p, err);
    PGresult *r = db_conn_query(c, st, &p, err);
    if (!r)
        return -1;
    long long n = db_col_int(r, 0, 0);
    PQclear(r);
    return n;
}

int db_retention_apply(struct db_conn *c, const struct db_retention *r, int64_t now_ms,
                       struct err **err)
{
    int64_t bucket_ms = r->usage_rollup_step_s * 1000;
    int64_t cutoff = now_ms - r->usage_raw_s * 1000;
    cutoff -= ((cutoff % bucket_ms) + bucket_ms) % bucket_ms;

    if (db_conn_begin(c, err) < 0)
        return -1;
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, cutoff);
    db_param_int(&p, r->usage_rollup_step_s);
    long long buckets = db_conn_run(c, &st_rollup, &p, err);
    long long rollups = buckets < 0 ? -1
        : db_retention_step(c, &st_rollups_expire, now_ms - r->usage_rollup_s * 1000, false, err);
    long long revs = rollups < 0 ? -1
        : db_retention_step(c, &st_blueprints_expire, now_ms - r->blueprints_s * 1000, false, err);
    long long events = revs < 0 ? -1
        : db_retention_step(c, &st_events_expire, now_ms - r->events_s * 1000, true, err);
    long long snaps = events < 0 ? -1
        : db_retention_step(c, &st_snapshots_expire, now_ms - r->snapshots_s * 1000, true, err);
    long long gone = snaps < 0 ? -1
        : db_retention_step(c, &st_deleted_expire, now_ms - r->deleted_s * 1000, true, err);
    long long classes = gone < 0 ? -1
        : db_retention_step(c, &st_pool_classes_expire, now_ms - r->pool_classes_s * 1000, true,
                            err);
    long long arrivals = classes < 0 ? -1
        : db_retention_step(c, &st_pool_arrivals_expire, now_ms - r->pool_arrivals_s * 1000,
                            true, err);
    if (arrivals < 0 || db_conn_commit(c, err) < 0) {
        db_conn_rollback(c);
        return err_wrap(err, "retention");
    }
    if (buckets || rollups || revs || events || snaps || gone || classes || arrivals)
        log_info("retention: %lld usage buckets rolled up, %lld old buckets, %lld blueprint "
                 "revisions, %lld events/intents/members, %lld snapshots/reshapes, %lld "
                 "deleted instances, %lld pool classes/pools and %lld per-second request "
                 "counts removed",
                 buckets, rollups, revs, events, snaps, gone, classes, arrivals);
    return 0;
}
