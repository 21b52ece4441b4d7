/* Usage samples: written in bulk (COPY into a per-connection staging
 * table, then one INSERT ... ON CONFLICT DO NOTHING so a repeated sample is
 * skipped rather than failing its whole batch), read by guest, by class
 * (flavor, project, image) and by time range, raw or rolled up. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "db/db_priv.h"

static const char db_stage_create[] =
    "CREATE TEMP TABLE IF NOT EXISTS usage_stage (LIKE usage_samples) ON COMMIT DELETE ROWS";
static const char db_stage_copy[] =
    "COPY usage_stage (instance_uuid, t, step_s, vcpu, mem_mib, net_in_mbps, net_out_mbps,"
    " disk_read_iops, disk_write_iops, disk_read_mbps, disk_write_mbps) FROM STDIN";
static const struct db_stmt st_stage_move = {
    "INSERT INTO usage_samples SELECT * FROM usage_stage ON CONFLICT DO NOTHING", 0};

/* Raw samples and rollups as one relation, filtered by time -- [$5, $6)
 * in ms, $6 NULL: no end -- and by guest: $1 the instance, $2 flavor, $3
 * project, $4 image (NULL: any).  $7 includes raw samples, $8 rollups.
 * Three filters, each its own statement so the planner sees a plain
 * condition: with a class, a semi-join the planner turns into index scans
 * per instance; with a guest alone, the primary key; with neither, time. */
#define DB_USAGE_MEANS                                                                     \
    "vcpu, mem_mib, net_in_mbps, net_out_mbps, disk_read_iops, disk_write_iops,"            \
    " disk_read_mbps, disk_write_mbps"
#define DB_USAGE_PEAKS                                                                     \
    "vcpu_peak, mem_mib_peak, net_in_mbps_peak, net_out_mbps_peak, disk_read_iops_peak,"    \
    " disk_write_iops_peak, disk_read_mbps_peak, disk_write_mbps_peak"
#define DB_USAGE_TIME " x.t >= sculpt_ts($5) AND ($6::bigint IS NULL OR x.t < sculpt_ts($6))"
#define DB_USAGE_BY_GUEST DB_USAGE_TIME " AND x.instance_uuid = $1 AND $2::text IS NULL"       \
    " AND $3::text IS NULL AND $4::text IS NULL"
#define DB_USAGE_BY_CLASS DB_USAGE_TIME " AND x.instance_uuid IN (SELECT uuid FROM instances"   \
    " WHERE ($1::uuid IS NULL OR uuid = $1) AND ($2::text IS NULL OR flavor_name = $2)"        \
    " AND ($3::text IS NULL OR project_id = $3) AND ($4::text IS NULL OR image_ref = $4))"
#define DB_USAGE_ANY DB_USAGE_TIME " AND $1::uuid IS NULL AND $2::text IS NULL"                \
    " AND $3::text IS NULL AND $4::text IS NULL"
#define DB_USAGE_UNION(filter)                                                             \
    "SELECT x.instance_uuid, x.t, x.step_s, 1 AS n, " DB_USAGE_MEANS ", " DB_USAGE_MEANS    \
    " FROM usage_samples x WHERE $7 AND" filter " UNION ALL"                               \
    " SELECT x.instance_uuid, x.t, x.step_s, x.n, " DB_USAGE_MEANS ", " DB_USAGE_PEAKS      \
    " FROM usage_rollups x WHERE $8 AND" filter

#define DB_USAGE_PLAIN(filter)                                                             \
    {"SELECT u.instance_uuid, sculpt_ms(u.t), u.step_s, u.n, u.* FROM ("                    \
     DB_USAGE_UNION(filter) ") u ORDER BY u.instance_uuid, u.t LIMIT $9",                  \
     9}

/* Means weighted by the samples behind them, peaks as maxima. */
#define DB_WMEAN(c) "sum(u." c " * u.n) / sum(u.n)"
#define DB_USAGE_BUCKETS(filter)                                                           \
    {"SELECT u.instance_uuid, sculpt_ms(u.bt), $10::integer, sum(u.n)::integer,"            \
     " 0, 0, 0, 0, " /* placeholders keep the column layout of the plain query */          \
     DB_WMEAN("vcpu") ", " DB_WMEAN("mem_mib") ", " DB_WMEAN("net_in_mbps") ", "            \
     DB_WMEAN("net_out_mbps") ", " DB_WMEAN("disk_read_iops") ", "                          \
     DB_WMEAN("disk_write_iops") ", " DB_WMEAN("disk_read_mbps") ", "                       \
     DB_WMEAN("disk_write_mbps") ","                                                       \
     " max(u.p0), max(u.p1), max(u.p2), max(u.p3), max(u.p4), max(u.p5), max(u.p6),"        \
     " max(u.p7)"                                                                          \
     " FROM (SELECT date_bin(make_interval(secs => $10::integer), v.t,"                     \
     "  timestamptz 'epoch') AS bt, v.*"                                                   \
     "  FROM (" DB_USAGE_UNION(filter) ") AS v (instance_uuid, t, step_s, n, vcpu, mem_mib," \
     "   net_in_mbps, net_out_mbps, disk_read_iops, disk_write_iops, disk_read_mbps,"       \
     "   disk_write_mbps, p0, p1, p2, p3, p4, p5, p6, p7)) u"                               \
     " GROUP BY u.instance_uuid, u.bt ORDER BY u.instance_uuid, u.bt LIMIT $9",            \
     10}

enum db_usage_filter {
    DB_USAGE_FILTER_GUEST,
    DB_USAGE_FILTER_CLASS,
    DB_USAGE_FILTER_ANY,
    DB_USAGE_FILTER_LAST,
};
static const struct db_stmt st_query[DB_USAGE_FILTER_LAST] = {
    DB_USAGE_PLAIN(DB_USAGE_BY_GUEST),
    DB_USAGE_PLAIN(DB_USAGE_BY_CLASS),
    DB_USAGE_PLAIN(DB_USAGE_ANY),
};
static const struct db_stmt st_query_bucket[DB_USAGE_FILTER_LAST] = {
    DB_USAGE_BUCKETS(DB_USAGE_BY_GUEST),
    DB_USAGE_BUCKETS(DB_USAGE_BY_CLASS),
    DB_USAGE_BUCKETS(DB_USAGE_ANY),
};

/* st_query's columns: uuid, t_ms, step_s, n, then u.* repeats uuid, t,
 * step_s, n before the 8 means and 8 peaks. */
#define DB_USAGE_COL_MEANS 8
#define DB_USAGE_COL_PEAKS (DB_USAGE_COL_MEANS + DRV_RES_LAST)

struct db_usage_item {
    struct db_item base;
    size_t n;
    struct db_usage_sample *v;
};

static int db_usage_item_exec(struct db_conn *c, struct db_item *it, struct db_batch *b,
                              struct err **err)
{
    (void)c;
    (void)err;
    struct db_usage_item *u = (struct db_usage_item *)it;
    char ts[32];
    for (size_t i = 0; i < u->n; i++) {
        const struct db_usage_sample *s = &u->v[i];
        strbuf_printf(&b->copy, "%s\t%s\t%d", s->instance_uuid,
                      clock_format_iso(s->t_ms, ts, sizeof(ts)), s->step_s);
        for (int k = 0; k < DRV_RES_LAST; k++)
            strbuf_printf(&b->copy, "\t%.17g", s->use.v[k]);
        strbuf_append_len(&b->copy, "\n", 1);
    }
    b->copy_rows += u->n;
    return 0;
}

static void db_usage_item_free(struct db_item *it)
{
    free(((struct db_usage_item *)it)->v);
    free(it);
}

static const struct db_item_ops db_usage_ops = {db_usage_item_exec, db_usage_item_free};

int db_usage_flush(struct db_conn *c, struct db_batch *b, struct err **err)
{
    static const struct db_params none = DB_PARAMS_INIT;
    if (!c->stage_ready) {
        if (db_conn_exec_text(c, db_stage_create, err) < 0)
            return -1;
        c->stage_ready = true;
    }
    if (db_conn_copy_in(c, db_stage_copy, b->copy.s, b->copy.len, err) < 0 ||
        db_conn_run(c, &st_stage_move, &none, err) < 0)
        return err_wrap(err, "write %zu usage samples", b->copy_rows);
    return 0;
}

int db_usage_add(struct db *db, const struct db_usage_sample *s, size_t n, struct err **err)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (db_check_uuid("usage sample", s[i].instance_uuid, err) < 0)
            return -1;
        if (s[i].t_ms <= 0 || s[i].step_s <= 0)
            return err_set(err, ERR_INVALID,
                           "usage sample of %s: time %lld ms and step %d s must be positive",
                           s[i].instance_uuid, (long long)s[i].t_ms, s[i].step_s);
        if (drv_res_validate(s[i].use, err) < 0)
            return err_wrap(err, "usage sample of %s", s[i].instance_uuid);
    }
    struct db_usage_item *it = xzalloc(sizeof(*it));
    it->base.ops = &db_usage_ops;
    it->base.what = "usage_add";
    it->base.weight = n;
    it->n = n;
    it->v = xcalloc(n, sizeof(*it->v));
    memcpy(it->v, s, n * sizeof(*s));
    return db_enqueue(db, &it->base, err);
}

void db_usage_list_free(struct db_usage_list *l)
{
    if (!l)
        return;
    free(l->v);
    free(l);
}

struct db_usage_list *db_usage_query(struct db *db, const struct db_usage_query *q,
                                     struct err **err)
{
    if (q->instance_uuid && db_check_uuid("usage query", q->instance_uuid, err) < 0)
        return NULL;
    if (q->bucket_s < 0 || q->from_ms < 0 || q->to_ms < 0 || q->source >= DB_USAGE_LAST) {
        err_set(err, ERR_INVALID, "usage query: bad bucket %d s or range [%lld, %lld)",
                q->bucket_s, (long long)q->from_ms, (long long)q->to_ms);
        return NULL;
    }
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, q->instance_uuid);
    db_param_str(&p, q->flavor_name);
    db_param_str(&p, q->project_id);
    db_param_str(&p, q->image_ref);
    db_param_int(&p, q->from_ms);
    db_param_nonzero(&p, q->to_ms);
    db_param_bool(&p, q->source != DB_USAGE_ROLLUP);
    db_param_bool(&p, q->source != DB_USAGE_RAW);
    db_param_nonzero(&p, (long long)q->limit);
    if (q->bucket_s)
        db_param_int(&p, q->bucket_s);

    enum db_usage_filter flt = q->flavor_name || q->project_id || q->image_ref
                                   ? DB_USAGE_FILTER_CLASS
                               : q->instance_uuid ? DB_USAGE_FILTER_GUEST
                                                  : DB_USAGE_FILTER_ANY;
    PGresult *r = db_session_read(db, q->bucket_s ? &st_query_bucket[flt] : &st_query[flt],
                                   &p, err);
    if (!r)
        return NULL;
    autoptr(db_usage_list) l = xzalloc(sizeof(*l));
    int rows = PQntuples(r);
    l->v = xcalloc((size_t)rows + 1, sizeof(*l->v));
    for (int i = 0; i < rows; i++) {
        struct db_usage_sample *s = &l->v[i];
        db_col_uuid(r, i, 0, s->instance_uuid);
        s->t_ms = db_col_int(r, i, 1);
        s->step_s = (int32_t)db_col_int(r, i, 2);
        s->count = (int32_t)db_col_int(r, i, 3);
        for (int k = 0; k < DRV_RES_LAST; k++) {
            s->use.v[k] = db_col_double(r, i, DB_USAGE_COL_MEANS + k);
            s->peak.v[k] = db_col_double(r, i, DB_USAGE_COL_PEAKS + k);
        }
    }
    l->n = (size_t)rows;
    PQclear(r);
    return steal_pointer(&l);
}
