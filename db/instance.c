/* Instances: the rows sculpt keeps of its guests, with their metadata and
 * flavor extra specs in instance_kv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"
#include "db/instance_priv.h"

static const struct db_stmt st_put = {
    "INSERT INTO instances (uuid, name, project_id, user_id, image_ref, flavor_name,"
    " flavor_vcpus, flavor_memory_mb, flavor_root_gb, flavor_ephemeral_gb, flavor_swap_mb,"
    " vm_state, task_state, power_state, domain, created_at, deleted_at,"
    " shape_res, shape_vcpus_online, shape_vcpus_max, shape_mem_max_mib, shape_pcpus,"
    " shape_numa_node, shape_cpu_weight)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
    " coalesce(sculpt_ts($16), now()), sculpt_ts($17), $18, $19, $20, $21, $22, $23, $24)"
    " ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, project_id = excluded.project_id,"
    " user_id = excluded.user_id, image_ref = excluded.image_ref,"
    " flavor_name = excluded.flavor_name, flavor_vcpus = excluded.flavor_vcpus,"
    " flavor_memory_mb = excluded.flavor_memory_mb, flavor_root_gb = excluded.flavor_root_gb,"
    " flavor_ephemeral_gb = excluded.flavor_ephemeral_gb,"
    " flavor_swap_mb = excluded.flavor_swap_mb, vm_state = excluded.vm_state,"
    " task_state = excluded.task_state, power_state = excluded.power_state,"
    " domain = excluded.domain, created_at = excluded.created_at,"
    " deleted_at = excluded.deleted_at, vanished_at = NULL, updated_at = now(),"
    " shape_res = excluded.shape_res, shape_vcpus_online = excluded.shape_vcpus_online,"
    " shape_vcpus_max = excluded.shape_vcpus_max,"
    " shape_mem_max_mib = excluded.shape_mem_max_mib, shape_pcpus = excluded.shape_pcpus,"
    " shape_numa_node = excluded.shape_numa_node, shape_cpu_weight = excluded.shape_cpu_weight",
    24};
static const struct db_stmt st_kv_clear = {
    "DELETE FROM instance_kv WHERE instance_uuid = $1", 1};
static const struct db_stmt st_kv_put = {
    "INSERT INTO instance_kv (instance_uuid, kind, pos, key, value)"
    " SELECT $1, $2, t.pos, t.k, t.v"
    " FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t(k, v, pos)",
    4};
static const struct db_stmt st_set_state = {
    "UPDATE instances SET vm_state = $2, task_state = $3, power_state = $4, updated_at = now()"
    " WHERE uuid = $1",
    4};
/* The predictor's state goes with the instance: a guest deleted has
 * nothing to continue. */
static const struct db_stmt st_delete = {
    "WITH state AS (DELETE FROM predictor_states WHERE instance_uuid = $1)"
    " UPDATE instances SET deleted_at = coalesce(sculpt_ts($2), now()), vm_state = 'deleted',"
    " task_state = NULL, power_state = 0, updated_at = now() WHERE uuid = $1",
    2};
/* Shelve offloaded: gone from this host like a delete, but its predictor
 * state stays (an unshelve here continues from it) until retention
 * removes the row. */
static const struct db_stmt st_offloaded = {
    "UPDATE instances SET deleted_at = coalesce(sculpt_ts($2), now()),"
    " vm_state = 'shelved_offloaded', task_state = NULL, power_state = 0, updated_at = now()"
    " WHERE uuid = $1",
    2};
static const struct db_stmt st_vanished = {
    "UPDATE instances SET vanished_at = now(), power_state = 0, vm_state = 'error',"
    " task_state = NULL, updated_at = now() WHERE uuid = $1 AND deleted_at IS NULL",
    1};
static const struct db_stmt st_power = {
    "UPDATE instances SET power_state = $2, updated_at = now() WHERE uuid = $1", 2};

/* The columns db_instance_from_row() reads, in order. */
#define DB_INSTANCE_COLUMNS                                                                \
    "i.uuid, i.name, i.project_id, i.user_id, i.image_ref, i.flavor_name, i.flavor_vcpus,"  \
    " i.flavor_memory_mb, i.flavor_root_gb, i.flavor_ephemeral_gb, i.flavor_swap_mb,"       \
    " i.vm_state, i.task_state, i.power_state, i.domain, sculpt_ms(i.created_at),"          \
    " sculpt_ms(i.deleted_at), i.shape_res, i.shape_vcpus_online, i.shape_vcpus_max,"       \
    " i.shape_mem_max_mib, i.shape_pcpus, i.shape_numa_node, i.shape_cpu_weight,"          \
    " (SELECT array_agg(key ORDER BY pos) FROM instance_kv k"                              \
    "   WHERE k.instance_uuid = i.uuid AND k.kind = 'm'),"                                  \
    " (SELECT array_agg(value ORDER BY pos) FROM instance_kv k"                            \
    "   WHERE k.instance_uuid = i.uuid AND k.kind = 'm'),"                                  \
    " (SELECT array_agg(key ORDER BY pos) FROM instance_kv k"                              \
    "   WHERE k.instance_uuid = i.uuid AND k.kind = 'x'),"                                  \
    " (SELECT array_agg(value ORDER BY pos) FROM instance_kv k"                            \
    "   WHERE k.instance_uuid = i.uuid AND k.kind = 'x')"

static const struct db_stmt st_get = {
    "SELECT " DB_INSTANCE_COLUMNS " FROM instances i WHERE i.uuid = $1", 1};
static const struct db_stmt st_list = {
    "SELECT " DB_INSTANCE_COLUMNS " FROM instances i"
    " WHERE ($1::text IS NULL OR i.project_id = $1)"
    " AND ($2::text IS NULL OR i.flavor_name = $2)"
    " AND ($3::text IS NULL OR i.image_ref = $3)"
    " AND ($4 OR i.deleted_at IS NULL)"
    " ORDER BY i.created_at, i.uuid",
    4};

/* ---- writing ---- */

static int db_kv_write(struct db_conn *c, const char *uuid, const char *kind,
                       const struct drv_kv *kv, size_t n, struct err **err)
{
    if (n == 0)
        return 0;
    const char **keys = xcalloc(n, sizeof(char *));
    const char **vals = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        keys[i] = kv[i].key;
        vals[i] = kv[i].value;
    }
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    db_param_str(&p, kind);
    db_param_texts(&p, keys, n);
    db_param_texts(&p, vals, n);
    free(keys);
    free(vals);
    return db_conn_run(c, &st_kv_put, &p, err) < 0 ? -1 : 0;
}

int db_instance_write(struct db_conn *c, const struct drv_instance *in, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, in->uuid);
    db_param_str(&p, in->name);
    db_param_str(&p, in->project_id);
    db_param_str(&p, in->user_id);
    db_param_str(&p, in->image_ref);
    db_param_str(&p, in->flavor.name);
    db_param_int(&p, in->flavor.vcpus);
    db_param_int(&p, in->flavor.memory_mb);
    db_param_int(&p, in->flavor.root_gb);
    db_param_int(&p, in->flavor.ephemeral_gb);
    db_param_int(&p, in->flavor.swap_mb);
    db_param_str(&p, in->vm_state);
    db_param_str(&p, in->task_state);
    db_param_int(&p, in->power_state);
    db_param_str(&p, in->domain);
    db_param_nonzero(&p, in->created_ms);
    db_param_nonzero(&p, in->deleted_ms);
    db_param_shape(&p, &in->shape);
    if (db_conn_run(c, &st_put, &p, err) < 0)
        return -1;

    autoparams k = DB_PARAMS_INIT;
    db_param_str(&k, in->uuid);
    if (db_conn_run(c, &st_kv_clear, &k, err) < 0 ||
        db_kv_write(c, in->uuid, "m", in->metadata, in->nmetadata, err) < 0 ||
        db_kv_write(c, in->uuid, "x", in->flavor.extra_specs, in->flavor.nextra_specs, err) < 0)
        return -1;
    return 0;
}

int db_instance_check(const struct drv_instance *inst, struct err **err)
{
    if (db_check_uuid("instance", inst->uuid, err) < 0 ||
        db_check_shape("instance shape", &inst->shape, err) < 0)
        return -1;
    for (size_t i = 0; i < inst->nmetadata; i++)
        if (!inst->metadata[i].key || !inst->metadata[i].value)
            return err_set(err, ERR_INVALID, "instance %s: metadata entry %zu is empty",
                           inst->uuid, i);
    for (size_t i = 0; i < inst->flavor.nextra_specs; i++)
        if (!inst->flavor.extra_specs[i].key || !inst->flavor.extra_specs[i].value)
            return err_set(err, ERR_INVALID, "instance %s: extra spec %zu is empty", inst->uuid,
                           i);
    return 0;
}

struct db_instance_item {
    struct db_item base;
    struct drv_instance *inst;
};

static int db_instance_item_exec(struct db_conn *c, struct db_item *it, struct db_batch *b,
                                 struct err **err)
{
    (void)b;
    return db_instance_write(c, ((struct db_instance_item *)it)->inst, err);
}

static void db_instance_item_free(struct db_item *it)
{
    drv_instance_free(((struct db_instance_item *)it)->inst);
    free(it);
}

static const struct db_item_ops db_instance_put_ops = {db_instance_item_exec,
                                                       db_instance_item_free};

int db_instance_put(struct db *db, const struct drv_instance *inst, struct err **err)
{
    if (db_instance_check(inst, err) < 0)
        return -1;
    struct db_instance_item *it = xzalloc(sizeof(*it));
    it->base.ops = &db_instance_put_ops;
    it->base.what = "instance_put";
    it->base.weight = 1;
    it->inst = drv_instance_dup(inst);
    return db_enqueue(db, &it->base, err);
}

int db_instance_set_state(struct db *db, const char *uuid, const char *vm_state,
                          const char *task_state, enum drv_power_state power,
                          struct err **err)
{
    if (db_check_uuid("instance", uuid, err) < 0)
        return -1;
    struct db_write *w = db_write_new("instance_set_state", 1);
    struct db_params *p = db_write_add(w, &st_set_state, "no such instance");
    db_param_str(p, uuid);
    db_param_str(p, vm_state);
    db_param_str(p, task_state);
    db_param_int(p, power);
    return db_enqueue(db, db_write_item(w), err);
}

/* The guest's domain was renamed: the instance's row, and the row of the
 * pool member handed over to it (which names the same domain). */
static const struct db_stmt st_set_domain = {
    "UPDATE instances SET domain = $2, updated_at = now() WHERE uuid = $1", 2};
static const struct db_stmt st_member_domain = {
    "UPDATE pool_members SET domain = $2"
    " WHERE instance_uuid = $1 AND state = 'handed_over'",
    2};

int db_instance_set_domain(struct db *db, const char *uuid, const char *domain, struct err **err)
{
    if (db_check_uuid("instance", uuid, err) < 0)
        return -1;
    if (!domain || !*domain)
        return err_set(err, ERR_INVALID, "instance %s: empty domain name", uuid);
    struct db_write *w = db_write_new("instance_set_domain", 1);
    struct db_params *p = db_write_add(w, &st_set_domain, "no such instance");
    db_param_str(p, uuid);
    db_param_str(p, domain);
    p = db_write_add(w, &st_member_domain, NULL);
    db_param_str(p, uuid);
    db_param_str(p, domain);
    return db_enqueue(db, db_write_item(w), err);
}

int db_instance_delete(struct db *db, const char *uuid, int64_t when_ms, struct err **err)
{
    if (db_check_uuid("instance", uuid, err) < 0)
        return -1;
    struct db_write *w = db_write_new("instance_delete", 1);
    struct db_params *p = db_write_add(w, &st_delete, "no such instance");
    db_param_str(p, uuid);
    db_param_nonzero(p, when_ms);
    return db_enqueue(db, db_write_item(w), err);
}

int db_instance_offloaded(struct db *db, const char *uuid, int64_t when_ms, struct err **err)
{
    if (db_check_uuid("instance", uuid, err) < 0)
        return -1;
    struct db_write *w = db_write_new("instance_offloaded", 1);
    struct db_params *p = db_write_add(w, &st_offloaded, "no such instance");
    db_param_str(p, uuid);
    db_param_nonzero(p, when_ms);
    return db_enqueue(db, db_write_item(w), err);
}

int db_instance_mark_vanished(struct db_conn *c, const char *uuid, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    return db_conn_run(c, &st_vanished, &p, err) < 0 ? -1 : 0;
}

int db_instance_mark_deleted(struct db_conn *c, const char *uuid, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    db_param_null(&p);
    return db_conn_run(c, &st_delete, &p, err) < 0 ? -1 : 0;
}

int db_instance_set_power(struct db_conn *c, const char *uuid, enum drv_power_state power,
                          struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    db_param_int(&p, power);
    return db_conn_run(c, &st_power, &p, err) < 0 ? -1 : 0;
}

int db_instance_set_state_now(struct db_conn *c, const char *uuid, const char *vm_state,
                              const char *task_state, enum drv_power_state power,
                              struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    db_param_str(&p, vm_state);
    db_param_str(&p, task_state);
    db_param_int(&p, power);
    return db_conn_run(c, &st_set_state, &p, err) < 0 ? -1 : 0;
}

/* ---- reading ---- */

static int db_kv_from_cols(const PGresult *r, int row, int col, struct drv_kv **out, size_t *n,
                           struct err **err)
{
    *out = NULL;
    *n = 0;
    if (db_col_is_null(r, row, col))
        return 0;
    char **keys = NULL, **vals = NULL;
    size_t nk = 0, nv = 0;
    int rc = -1;
    if (db_parse_texts(PQgetvalue(r, row, col), &keys, &nk, err) < 0)
        goto cleanup;
    if (db_parse_texts(PQgetvalue(r, row, col + 1), &vals, &nv, err) < 0)
        goto cleanup;
    if (nk != nv) {
        err_set(err, ERR_INTERNAL, "instance_kv: %zu keys for %zu values", nk, nv);
        goto cleanup;
    }
    *out = xcalloc(nk, sizeof(**out));
    for (size_t i = 0; i < nk; i++) {
        (*out)[i].key = steal_pointer(&keys[i]);
        (*out)[i].value = steal_pointer(&vals[i]);
    }
    *n = nk;
    rc = 0;
 cleanup:
    for (size_t i = 0; i < nk; i++)
        free(keys[i]);
    for (size_t i = 0; i < nv; i++)
        free(vals[i]);
    free(keys);
    free(vals);
    return rc;
}

static struct drv_instance *db_instance_from_row(const PGresult *r, int row, struct err **err)
{
    autoptr(drv_instance) in = xzalloc(sizeof(*in));
    db_col_uuid(r, row, 0, in->uuid);
    in->name = db_col_str(r, row, 1);
    in->project_id = db_col_str(r, row, 2);
    in->user_id = db_col_str(r, row, 3);
    in->image_ref = db_col_str(r, row, 4);
    in->flavor.name = db_col_str(r, row, 5);
    in->flavor.vcpus = (int32_t)db_col_int(r, row, 6);
    in->flavor.memory_mb = db_col_int(r, row, 7);
    in->flavor.root_gb = db_col_int(r, row, 8);
    in->flavor.ephemeral_gb = db_col_int(r, row, 9);
    in->flavor.swap_mb = db_col_int(r, row, 10);
    in->vm_state = db_col_str(r, row, 11);
    in->task_state = db_col_str(r, row, 12);
    in->power_state = (enum drv_power_state)db_col_int(r, row, 13);
    in->domain = db_col_str(r, row, 14);
    in->created_ms = db_col_int(r, row, 15);
    in->deleted_ms = db_col_int(r, row, 16);
    if (db_col_shape(r, row, 17, &in->shape, NULL, err) < 0 ||
        db_kv_from_cols(r, row, 17 + DB_SHAPE_COLS, &in->metadata, &in->nmetadata, err) < 0 ||
        db_kv_from_cols(r, row, 19 + DB_SHAPE_COLS, &in->flavor.extra_specs, &in->flavor.nextra_specs, err) < 0)
        return NULL;
    return steal_pointer(&in);
}

struct drv_instance *db_instance_get(struct db *db, const char *uuid, struct err **err)
{
    if (db_check_uuid("instance", uuid, err) < 0)
        return NULL;
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    PGresult *r = db_session_read(db, &st_get, &p, err);
    if (!r)
        return NULL;
    struct drv_instance *in = NULL;
    if (PQntuples(r) == 0)
        err_set(err, ERR_NOT_FOUND, "no instance %s", uuid);
    else
        in = db_instance_from_row(r, 0, err);
    PQclear(r);
    return in;
}

void db_instance_list_free(struct db_instance_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        drv_instance_free(l->v[i]);
    free(l->v);
    free(l);
}

struct db_instance_list *db_instance_list(struct db *db, const struct db_instance_filter *f,
                                          struct err **err)
{
    static const struct db_instance_filter live = {0};
    if (!f)
        f = &live;
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, f->project_id);
    db_param_str(&p, f->flavor_name);
    db_param_str(&p, f->image_ref);
    db_param_bool(&p, f->include_deleted);
    PGresult *r = db_session_read(db, &st_list, &p, err);
    if (!r)
        return NULL;
    autoptr(db_instance_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_instance_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}
