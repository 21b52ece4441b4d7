/* Pre-sculpted pools (a request class with a target size) and their
 * members (guests prepared ahead of a request). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"
#include "db/instance_priv.h"

static const struct db_stmt st_pool_put = {
    "INSERT INTO pools (key, flavor_name, image_ref, project_id, target_size, confidence,"
    " expires_at, shape_res, shape_vcpus_online, shape_vcpus_max, shape_mem_max_mib,"
    " shape_pcpus, shape_numa_node, shape_cpu_weight, term_names, term_values)"
    " VALUES ($1, $2, $3, $4, $5, $6, sculpt_ts($7), $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    " ON CONFLICT (key) DO UPDATE SET flavor_name = excluded.flavor_name,"
    " image_ref = excluded.image_ref, project_id = excluded.project_id,"
    " target_size = excluded.target_size, confidence = excluded.confidence,"
    " expires_at = excluded.expires_at, shape_res = excluded.shape_res,"
    " shape_vcpus_online = excluded.shape_vcpus_online,"
    " shape_vcpus_max = excluded.shape_vcpus_max,"
    " shape_mem_max_mib = excluded.shape_mem_max_mib, shape_pcpus = excluded.shape_pcpus,"
    " shape_numa_node = excluded.shape_numa_node, shape_cpu_weight = excluded.shape_cpu_weight,"
    " term_names = excluded.term_names, term_values = excluded.term_values, updated_at = now()",
    16};
static const struct db_stmt st_pool_delete = {"DELETE FROM pools WHERE key = $1", 1};
static const struct db_stmt st_pool_count = {
    "UPDATE pools SET hits = hits + $2, misses = misses + $3, expiries = expiries + $4,"
    " reclaims = reclaims + $5, updated_at = now() WHERE key = $1",
    5};
static const struct db_stmt st_pool_list = {
    "SELECT key, flavor_name, image_ref, project_id, target_size, confidence,"
    " sculpt_ms(expires_at), shape_res, shape_vcpus_online, shape_vcpus_max,"
    " shape_mem_max_mib, shape_pcpus, shape_numa_node, shape_cpu_weight, term_names, term_values,"
    " hits, misses,"
    " expiries, sculpt_ms(created_at), sculpt_ms(updated_at), booting_hits, reclaims FROM pools"
    " ORDER BY key",
    0};

static const struct db_stmt st_member_put = {
    "INSERT INTO pool_members (uuid, pool_key, domain, state, shape_res, shape_vcpus_online,"
    " shape_vcpus_max, shape_mem_max_mib, shape_pcpus, shape_numa_node, shape_cpu_weight,"
    " created_at, ready_at, expires_at, instance_uuid, handed_over_at, reason)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce(sculpt_ts($12), now()),"
    " sculpt_ts($13), sculpt_ts($14), $15, sculpt_ts($16), $17)"
    " ON CONFLICT (uuid) DO UPDATE SET pool_key = excluded.pool_key, domain = excluded.domain,"
    " state = excluded.state, shape_res = excluded.shape_res,"
    " shape_vcpus_online = excluded.shape_vcpus_online,"
    " shape_vcpus_max = excluded.shape_vcpus_max,"
    " shape_mem_max_mib = excluded.shape_mem_max_mib, shape_pcpus = excluded.shape_pcpus,"
    " shape_numa_node = excluded.shape_numa_node, shape_cpu_weight = excluded.shape_cpu_weight,"
    " created_at = excluded.created_at, ready_at = excluded.ready_at,"
    " expires_at = excluded.expires_at, instance_uuid = excluded.instance_uuid,"
    " handed_over_at = excluded.handed_over_at, reason = excluded.reason, updated_at = now()",
    17};
static const struct db_stmt st_member_state = {
    "UPDATE pool_members SET state = $2, reason = coalesce($3, reason),"
    " ready_at = CASE WHEN $2 IN ('ready', 'paused') THEN coalesce(ready_at, now())"
    "  ELSE ready_at END, updated_at = now() WHERE uuid = $1",
    3};
static const struct db_stmt st_member_handover = {
    "UPDATE pool_members SET state = 'handed_over', instance_uuid = $2,"
    " handed_over_at = now(), updated_at = now() WHERE uuid = $1",
    2};
static const struct db_stmt st_member_handover_booting = {
    "UPDATE pool_members SET state = 'handed_over', instance_uuid = $2,"
    " handed_over_at = now(), reason = 'handed over still booting', updated_at = now()"
    " WHERE uuid = $1",
    2};
static const struct db_stmt st_pool_hit = {
    "UPDATE pools SET hits = hits + 1, booting_hits = booting_hits + $2::integer,"
    " updated_at = now() WHERE key = (SELECT pool_key FROM pool_members WHERE uuid = $1)",
    2};
static const struct db_stmt st_member_list = {
    "SELECT uuid, pool_key, domain, state, shape_res, shape_vcpus_online, shape_vcpus_max,"
    " shape_mem_max_mib, shape_pcpus, shape_numa_node, shape_cpu_weight, sculpt_ms(created_at),"
    " sculpt_ms(ready_at), sculpt_ms(expires_at), instance_uuid, sculpt_ms(handed_over_at),"
    " reason FROM pool_members WHERE ($1::text IS NULL OR pool_key = $1)"
    " AND (NOT $2 OR state IN ('preparing', 'booting', 'ready', 'paused'))"
    " ORDER BY created_at, uuid",
    2};
static const struct db_stmt st_member_list_restore = {
    "SELECT m.uuid, m.pool_key, m.domain, m.state, m.shape_res, m.shape_vcpus_online,"
    " m.shape_vcpus_max, m.shape_mem_max_mib, m.shape_pcpus, m.shape_numa_node,"
    " m.shape_cpu_weight,"
    " sculpt_ms(m.created_at), sculpt_ms(m.ready_at), sculpt_ms(m.expires_at),"
    " m.instance_uuid, sculpt_ms(m.handed_over_at), m.reason FROM pool_members m"
    " WHERE m.state IN ('preparing', 'booting', 'ready', 'paused')"
    " OR (m.state = 'handed_over' AND EXISTS (SELECT 1 FROM instances i"
    "  WHERE i.uuid = m.instance_uuid AND i.deleted_at IS NULL))"
    " ORDER BY m.created_at, m.uuid",
    0};

static const char *const db_member_states[DB_MEMBER_LAST] = {
    [DB_MEMBER_PREPARING] = "preparing",     [DB_MEMBER_BOOTING] = "booting",
    [DB_MEMBER_READY] = "ready",
    [DB_MEMBER_PAUSED] = "paused",           [DB_MEMBER_HANDED_OVER] = "handed_over",
    [DB_MEMBER_RELEASED] = "released",       [DB_MEMBER_GONE] = "gone",
};

const char *db_member_state_name(enum db_member_state s)
{
    return s >= 0 && s < DB_MEMBER_LAST ? db_member_states[s] : "?";
}

int db_member_state_parse(const char *name)
{
    for (int s = 0; s < DB_MEMBER_LAST; s++)
        if (strcmp(db_member_states[s], name) == 0)
            return s;
    return -1;
}

/* ---- pools ---- */

static int db_check_key(const char *key, struct err **err)
{
    if (!key || !*key || strlen(key) > 255)
        return err_set(err, ERR_INVALID, "pool key must have 1 to 255 characters");
    return 0;
}

int db_pool_put(struct db *db, const struct db_pool *pool, struct err **err)
{
    if (db_check_key(pool->key, err) < 0 || db_check_shape("pool shape", &pool->shape, err) < 0 ||
        db_check_terms(pool->terms, pool->nterms, err) < 0)
        return -1;
    if (pool->target_size < 0 || !(pool->confidence >= 0.0 && pool->confidence <= 1.0))
        return err_set(err, ERR_INVALID, "pool `%s`: size %d or confidence %g out of range",
                       pool->key, pool->target_size, pool->confidence);
    struct db_write *w = db_write_new("pool_put", 1);
    struct db_params *p = db_write_add(w, &st_pool_put, NULL);
    db_param_str(p, pool->key);
    db_param_str(p, pool->flavor_name);
    db_param_str(p, pool->image_ref);
    db_param_str(p, pool->project_id);
    db_param_int(p, pool->target_size);
    db_param_double(p, pool->confidence);
    db_param_nonzero(p, pool->expires_ms);
    db_param_shape(p, &pool->shape);
    db_param_terms(p, pool->terms, pool->nterms);
    return db_enqueue(db, db_write_item(w), err);
}

int db_pool_delete(struct db *db, const char *key, struct err **err)
{
    if (db_check_key(key, err) < 0)
        return -1;
    struct db_write *w = db_write_new("pool_delete", 1);
    db_param_str(db_write_add(w, &st_pool_delete, "no such pool"), key);
    return db_enqueue(db, db_write_item(w), err);
}

int db_pool_count(struct db *db, const char *key, const struct db_pool_counts *d,
                  struct err **err)
{
    if (db_check_key(key, err) < 0)
        return -1;
    struct db_write *w = db_write_new("pool_count", 1);
    struct db_params *p = db_write_add(w, &st_pool_count, "no such pool");
    db_param_str(p, key);
    db_param_int(p, d->hits);
    db_param_int(p, d->misses);
    db_param_int(p, d->expiries);
    db_param_int(p, d->reclaims);
    return db_enqueue(db, db_write_item(w), err);
}

void db_pool_free(struct db_pool *pool)
{
    if (!pool)
        return;
    free(pool->key);
    free(pool->flavor_name);
    free(pool->image_ref);
    free(pool->project_id);
    free(pool->terms);
    free(pool);
}

void db_pool_list_free(struct db_pool_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_pool_free(l->v[i]);
    free(l->v);
    free(l);
}

static struct db_pool *db_pool_from_row(const PGresult *r, int row, struct err **err)
{
    autoptr(db_pool) pool = xzalloc(sizeof(*pool));
    pool->key = db_col_str(r, row, 0);
    pool->flavor_name = db_col_str(r, row, 1);
    pool->image_ref = db_col_str(r, row, 2);
    pool->project_id = db_col_str(r, row, 3);
    pool->target_size = (int32_t)db_col_int(r, row, 4);
    pool->confidence = db_col_double(r, row, 5);
    pool->expires_ms = db_col_int(r, row, 6);
    int col = 7 + DB_SHAPE_COLS;
    if (db_col_shape(r, row, 7, &pool->shape, NULL, err) < 0 ||
        db_col_terms(r, row, col, &pool->terms, &pool->nterms, err) < 0)
        return NULL;
    pool->hits = db_col_int(r, row, col + 2);
    pool->misses = db_col_int(r, row, col + 3);
    pool->expiries = db_col_int(r, row, col + 4);
    pool->created_ms = db_col_int(r, row, col + 5);
    pool->updated_ms = db_col_int(r, row, col + 6);
    pool->booting_hits = db_col_int(r, row, col + 7);
    pool->reclaims = db_col_int(r, row, col + 8);
    return steal_pointer(&pool);
}

struct db_pool_list *db_pool_list(struct db *db, struct err **err)
{
    static const struct db_params none = DB_PARAMS_INIT;
    PGresult *r = db_session_read(db, &st_pool_list, &none, err);
    if (!r)
        return NULL;
    autoptr(db_pool_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_pool_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}

/* ---- members ---- */

int db_pool_member_put(struct db *db, const struct db_pool_member *m, struct err **err)
{
    if (db_check_uuid("pool member", m->uuid, err) < 0 || db_check_key(m->pool_key, err) < 0 ||
        db_check_shape("pool member shape", &m->shape, err) < 0 ||
        (m->instance_uuid[0] && db_check_uuid("pool member's instance", m->instance_uuid, err) < 0))
        return -1;
    if (m->state < 0 || m->state >= DB_MEMBER_LAST)
        return err_set(err, ERR_INVALID, "pool member %s: bad state %d", m->uuid, (int)m->state);
    struct db_write *w = db_write_new("pool_member_put", 1);
    struct db_params *p = db_write_add(w, &st_member_put, NULL);
    db_param_str(p, m->uuid);
    db_param_str(p, m->pool_key);
    db_param_str(p, m->domain);
    db_param_str(p, db_member_state_name(m->state));
    db_param_shape(p, &m->shape);
    db_param_nonzero(p, m->created_ms);
    db_param_nonzero(p, m->ready_ms);
    db_param_nonzero(p, m->expires_ms);
    db_param_uuid(p, m->instance_uuid);
    db_param_nonzero(p, m->handed_over_ms);
    db_param_str(p, m->reason);
    return db_enqueue(db, db_write_item(w), err);
}

void db_member_state_params(struct db_params *p, const char *uuid, enum db_member_state state,
                            const char *reason)
{
    db_param_str(p, uuid);
    db_param_str(p, db_member_state_name(state));
    db_param_str(p, reason);
}

const struct db_stmt *db_member_stmt_state(void)
{
    return &st_member_state;
}

const struct db_stmt *db_member_stmt_handover(void)
{
    return &st_member_handover;
}

int db_pool_member_set_state(struct db *db, const char *uuid, enum db_member_state state,
                             const char *reason, struct err **err)
{
    if (db_check_uuid("pool member", uuid, err) < 0)
        return -1;
    if (state < 0 || state >= DB_MEMBER_LAST)
        return err_set(err, ERR_INVALID, "pool member %s: bad state %d", uuid, (int)state);
    struct db_write *w = db_write_new("pool_member_set_state", 1);
    db_member_state_params(db_write_add(w, &st_member_state, "no such pool member"), uuid,
                           state, reason);
    return db_enqueue(db, db_write_item(w), err);
}

/* The hand-over: the instance row and the member's new state together. */
struct db_handover_item {
    struct db_item base;
    char member[DRV_UUID_LEN + 1];
    bool booting; /* the member was still booting */
    struct drv_instance *inst;
};

static int db_handover_exec(struct db_conn *c, struct db_item *it, struct db_batch *b,
                            struct err **err)
{
    (void)b;
    struct db_handover_item *h = (struct db_handover_item *)it;
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, h->member);
    db_param_str(&p, h->inst->uuid);
    autoparams q = DB_PARAMS_INIT;
    db_param_str(&q, h->member);
    db_param_int(&q, h->booting);
    const struct db_stmt *st = h->booting ? &st_member_handover_booting : &st_member_handover;
    if (db_instance_write(c, h->inst, err) < 0 || db_conn_run(c, st, &p, err) < 0 ||
        db_conn_run(c, &st_pool_hit, &q, err) < 0)
        return -1;
    return 0;
}

static void db_handover_free(struct db_item *it)
{
    drv_instance_free(((struct db_handover_item *)it)->inst);
    free(it);
}

static const struct db_item_ops db_handover_ops = {db_handover_exec, db_handover_free};

int db_pool_handover(struct db *db, const char *member_uuid, const struct drv_instance *inst,
                     bool booting, struct err **err)
{
    if (db_check_uuid("pool member", member_uuid, err) < 0 || db_instance_check(inst, err) < 0)
        return -1;
    struct db_handover_item *it = xzalloc(sizeof(*it));
    it->base.ops = &db_handover_ops;
    it->base.what = "pool_handover";
    it->base.weight = 1;
    snprintf(it->member, sizeof(it->member), "%s", member_uuid);
    it->booting = booting;
    it->inst = drv_instance_dup(inst);
    return db_enqueue(db, &it->base, err);
}

void db_pool_member_free(struct db_pool_member *m)
{
    if (!m)
        return;
    free(m->pool_key);
    free(m->domain);
    free(m->reason);
    free(m);
}

void db_pool_member_list_free(struct db_pool_member_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_pool_member_free(l->v[i]);
    free(l->v);
    free(l);
}

static struct db_pool_member *db_member_from_row(const PGresult *r, int row, struct err **err)
{
    autoptr(db_pool_member) m = xzalloc(sizeof(*m));
    db_col_uuid(r, row, 0, m->uuid);
    m->pool_key = db_col_str(r, row, 1);
    m->domain = db_col_str(r, row, 2);
    int state = db_member_state_parse(PQgetvalue(r, row, 3));
    if (state < 0) {
        err_set(err, ERR_INTERNAL, "pool member %s: unknown state `%s`", m->uuid,
                PQgetvalue(r, row, 3));
        return NULL;
    }
    m->state = (enum db_member_state)state;
    if (db_col_shape(r, row, 4, &m->shape, NULL, err) < 0)
        return NULL;
    int col = 4 + DB_SHAPE_COLS;
    m->created_ms = db_col_int(r, row, col);
    m->ready_ms = db_col_int(r, row, col + 1);
    m->expires_ms = db_col_int(r, row, col + 2);
    db_col_uuid(r, row, col + 3, m->instance_uuid);
    m->handed_over_ms = db_col_int(r, row, col + 4);
    m->reason = db_col_str(r, row, col + 5);
    return steal_pointer(&m);
}

static struct db_pool_member_list *db_member_list_read(struct db *db, const struct db_stmt *st,
                                                       const struct db_params *p,
                                                       struct err **err)
{
    PGresult *r = db_session_read(db, st, p, err);
    if (!r)
        return NULL;
    autoptr(db_pool_member_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_member_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}

struct db_pool_member_list *db_pool_member_list(struct db *db, const char *pool_key,
                                                bool live_only, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, pool_key);
    db_param_bool(&p, live_only);
    return db_member_list_read(db, &st_member_list, &p, err);
}

struct db_pool_member_list *db_pool_member_list_restore(struct db *db, struct err **err)
{
    static const struct db_params none = DB_PARAMS_INIT;
    return db_member_list_read(db, &st_member_list_restore, &none, err);
}
