/* Shapes applied: a record per reshape, and the instance's stored shape
 * following it in the same transaction. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"
#include "db/reshape_priv.h"
#include "driver/hypervisor.h"

static const struct db_stmt st_add = {
    "INSERT INTO reshapes (instance_uuid, at, from_res, from_vcpus_online, from_vcpus_max,"
    " from_mem_max_mib, from_pcpus, from_numa_node, from_cpu_weight, to_res, to_vcpus_online,"
    " to_vcpus_max, to_mem_max_mib, to_pcpus, to_numa_node, to_cpu_weight, reason, duration_ms,"
    " ok, error, intent_id, knobs, hv_calls)"
    " VALUES ($1, coalesce(sculpt_ts($2), now()), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
    " $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
    " ON CONFLICT (intent_id) DO NOTHING",
    23};
static const struct db_stmt st_set_shape = {
    "UPDATE instances SET shape_res = $2, shape_vcpus_online = $3, shape_vcpus_max = $4,"
    " shape_mem_max_mib = $5, shape_pcpus = $6, shape_numa_node = $7, shape_cpu_weight = $8,"
    " updated_at = now() WHERE uuid = $1",
    8};
static const struct db_stmt st_list = {
    "SELECT id, instance_uuid, sculpt_ms(at), from_res, from_vcpus_online, from_vcpus_max,"
    " from_mem_max_mib, from_pcpus, from_numa_node, from_cpu_weight, to_res, to_vcpus_online,"
    " to_vcpus_max, to_mem_max_mib, to_pcpus, to_numa_node, to_cpu_weight, reason, duration_ms,"
    " ok, error, intent_id, knobs, hv_calls FROM reshapes WHERE ($1::uuid IS NULL OR instance_uuid = $1)"
    " AND at >= sculpt_ts($2) AND ($3::bigint IS NULL OR at < sculpt_ts($3))"
    " ORDER BY at DESC, id DESC LIMIT $4",
    4};

void db_reshape_params(struct db_params *p, const struct db_reshape *r)
{
    db_param_str(p, r->instance_uuid);
    db_param_nonzero(p, r->at_ms);
    db_param_shape(p, &r->from);
    db_param_shape(p, &r->to);
    db_param_str(p, r->reason);
    db_param_double(p, r->duration_ms);
    db_param_bool(p, r->ok);
    db_param_str(p, r->error);
    db_param_nonzero(p, r->intent_id);
    const char *names[DRV_HV_KNOB_LAST];
    size_t n = 0;
    for (int k = 0; k < DRV_HV_KNOB_LAST; k++)
        if (r->knobs & (1u << k))
            names[n++] = drv_hv_knob_name((enum drv_hv_knob)k);
    db_param_texts(p, names, n);
    db_param_int(p, r->hv_calls);
}

/* The knob names of a text[] column back into a mask (unknown names, from
 * a newer sculpt, are skipped). */
static uint32_t db_col_knobs(const PGresult *r, int row, int col)
{
    char **names = NULL;
    size_t n = 0;
    uint32_t mask = 0;
    if (db_parse_texts(PQgetvalue(r, row, col), &names, &n, NULL) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; names[i] && k < DRV_HV_KNOB_LAST; k++)
            if (strcmp(names[i], drv_hv_knob_name((enum drv_hv_knob)k)) == 0)
                mask |= 1u << k;
        free(names[i]);
    }
    free(names);
    return mask;
}

const struct db_stmt *db_reshape_stmt_add(void)
{
    return &st_add;
}

const struct db_stmt *db_reshape_stmt_set_shape(void)
{
    return &st_set_shape;
}

int db_reshape_add(struct db *db, const struct db_reshape *r, struct err **err)
{
    if (db_check_uuid("reshape", r->instance_uuid, err) < 0 ||
        db_check_shape("reshape from", &r->from, err) < 0 ||
        db_check_shape("reshape to", &r->to, err) < 0)
        return -1;
    if (r->knobs >> DRV_HV_KNOB_LAST || r->hv_calls < 0)
        return err_set(err, ERR_INVALID, "reshape of %s: unknown knobs 0x%x or %d calls",
                       r->instance_uuid, (unsigned)r->knobs, r->hv_calls);
    if (!isfinite(r->duration_ms) || r->duration_ms < 0)
        return err_set(err, ERR_INVALID, "reshape of %s: duration %g ms", r->instance_uuid,
                       r->duration_ms);
    struct db_write *w = db_write_new("reshape_add", 1);
    db_reshape_params(db_write_add(w, &st_add, NULL), r);
    if (r->ok) {
        struct db_params *p = db_write_add(w, &st_set_shape, "no such instance");
        db_param_str(p, r->instance_uuid);
        db_param_shape(p, &r->to);
    }
    return db_enqueue(db, db_write_item(w), err);
}

void db_reshape_release(struct db_reshape *r)
{
    if (!r)
        return;
    free(r->reason);
    free(r->error);
    r->reason = r->error = NULL;
}

void db_reshape_list_free(struct db_reshape_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_reshape_release(&l->v[i]);
    free(l->v);
    free(l);
}

struct db_reshape_list *db_reshape_list(struct db *db, const char *uuid, int64_t from_ms,
                                        int64_t to_ms, size_t limit, struct err **err)
{
    if (uuid && db_check_uuid("reshape list", uuid, err) < 0)
        return NULL;
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    db_param_int(&p, from_ms);
    db_param_nonzero(&p, to_ms);
    db_param_nonzero(&p, (long long)limit);
    PGresult *r = db_session_read(db, &st_list, &p, err);
    if (!r)
        return NULL;
    autoptr(db_reshape_list) l = xzalloc(sizeof(*l));
    int rows = PQntuples(r);
    l->v = xcalloc((size_t)rows + 1, sizeof(*l->v));
    for (int i = 0; i < rows; i++) {
        struct db_reshape *x = &l->v[i];
        x->id = db_col_int(r, i, 0);
        db_col_uuid(r, i, 1, x->instance_uuid);
        x->at_ms = db_col_int(r, i, 2);
        int col = 3 + 2 * DB_SHAPE_COLS;
        x->reason = db_col_str(r, i, col);
        x->duration_ms = db_col_double(r, i, col + 1);
        x->ok = db_col_bool(r, i, col + 2);
        x->error = db_col_str(r, i, col + 3);
        x->intent_id = db_col_int(r, i, col + 4);
        x->knobs = db_col_knobs(r, i, col + 5);
        x->hv_calls = (int32_t)db_col_int(r, i, col + 6);
        l->n++;
        if (db_col_shape(r, i, 3, &x->from, NULL, err) < 0 ||
            db_col_shape(r, i, 3 + DB_SHAPE_COLS, &x->to, NULL, err) < 0) {
            PQclear(r);
            return NULL;
        }
    }
    PQclear(r);
    return steal_pointer(&l);
}
