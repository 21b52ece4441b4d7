/* Host topology and capacity over time. */
#include <math.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"

static const struct db_stmt st_add = {
    "INSERT INTO host_snapshots (at, host, cpus, numa_nodes, capacity, reserved, allocated,"
    " used, fragmentation, topology)"
    " VALUES (coalesce(sculpt_ts($1), now()), $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    10};
#define DB_SNAPSHOT_COLUMNS                                                                \
    "id, sculpt_ms(at), host, cpus, numa_nodes, capacity, reserved, allocated, used,"       \
    " fragmentation, topology"
static const struct db_stmt st_latest = {
    "SELECT " DB_SNAPSHOT_COLUMNS " FROM host_snapshots ORDER BY at DESC, id DESC LIMIT 1", 0};
static const struct db_stmt st_list = {
    "SELECT " DB_SNAPSHOT_COLUMNS " FROM host_snapshots"
    " WHERE at >= sculpt_ts($1) AND ($2::bigint IS NULL OR at < sculpt_ts($2))"
    " ORDER BY at, id LIMIT $3",
    3};

int db_host_snapshot_add(struct db *db, const struct db_host_snapshot *s, struct err **err)
{
    const struct drv_res *vecs[] = {&s->capacity, &s->reserved, &s->allocated, &s->used};
    for (size_t i = 0; i < ARRAY_SIZE(vecs); i++)
        if (drv_res_validate(*vecs[i], err) < 0)
            return err_wrap(err, "host snapshot");
    if (!s->host || !*s->host || s->cpus < 0 || s->numa_nodes < 0 ||
        !(s->fragmentation >= 0.0 && s->fragmentation <= 1.0))
        return err_set(err, ERR_INVALID, "host snapshot: bad host `%s`, %d CPUs, %d nodes or "
                       "fragmentation %g", s->host ? s->host : "", s->cpus, s->numa_nodes,
                       s->fragmentation);
    struct db_write *w = db_write_new("host_snapshot_add", 1);
    struct db_params *p = db_write_add(w, &st_add, NULL);
    db_param_nonzero(p, s->at_ms);
    db_param_str(p, s->host);
    db_param_int(p, s->cpus);
    db_param_int(p, s->numa_nodes);
    for (size_t i = 0; i < ARRAY_SIZE(vecs); i++)
        db_param_res(p, vecs[i]);
    db_param_double(p, s->fragmentation);
    db_param_str(p, s->topology);
    return db_enqueue(db, db_write_item(w), err);
}

void db_host_snapshot_free(struct db_host_snapshot *s)
{
    if (!s)
        return;
    free(s->host);
    free(s->topology);
    free(s);
}

void db_host_snapshot_list_free(struct db_host_snapshot_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_host_snapshot_free(l->v[i]);
    free(l->v);
    free(l);
}

static struct db_host_snapshot *db_snapshot_from_row(const PGresult *r, int row,
                                                     struct err **err)
{
    autoptr(db_host_snapshot) s = xzalloc(sizeof(*s));
    s->id = db_col_int(r, row, 0);
    s->at_ms = db_col_int(r, row, 1);
    s->host = db_col_str(r, row, 2);
    s->cpus = (int32_t)db_col_int(r, row, 3);
    s->numa_nodes = (int32_t)db_col_int(r, row, 4);
    if (db_col_res(r, row, 5, &s->capacity, err) < 0 ||
        db_col_res(r, row, 6, &s->reserved, err) < 0 ||
        db_col_res(r, row, 7, &s->allocated, err) < 0 ||
        db_col_res(r, row, 8, &s->used, err) < 0)
        return NULL;
    s->fragmentation = db_col_double(r, row, 9);
    s->topology = db_col_str(r, row, 10);
    return steal_pointer(&s);
}

struct db_host_snapshot *db_host_snapshot_latest(struct db *db, struct err **err)
{
    static const struct db_params none = DB_PARAMS_INIT;
    PGresult *r = db_session_read(db, &st_latest, &none, err);
    if (!r)
        return NULL;
    struct db_host_snapshot *s = NULL;
    if (PQntuples(r) == 0)
        err_set(err, ERR_NOT_FOUND, "no host snapshot yet");
    else
        s = db_snapshot_from_row(r, 0, err);
    PQclear(r);
    return s;
}

struct db_host_snapshot_list *db_host_snapshot_list(struct db *db, int64_t from_ms,
                                                    int64_t to_ms, size_t limit,
                                                    struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, from_ms);
    db_param_nonzero(&p, to_ms);
    db_param_nonzero(&p, (long long)limit);
    PGresult *r = db_session_read(db, &st_list, &p, err);
    if (!r)
        return NULL;
    autoptr(db_host_snapshot_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_snapshot_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}
