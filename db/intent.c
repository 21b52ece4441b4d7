/* Intents: the journal of multi-step operations (spawn, reshape, destroy,
 * hand-over) that lets a restart finish or undo what a crash interrupted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"

static const struct db_stmt st_begin = {
    "INSERT INTO intents (op, instance_uuid, domain, member_uuid, from_res, from_vcpus_online,"
    " from_vcpus_max, from_mem_max_mib, from_pcpus, from_numa_node, from_cpu_weight, to_res,"
    " to_vcpus_online, to_vcpus_max, to_mem_max_mib, to_pcpus, to_numa_node, to_cpu_weight, step,"
    " request_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
    " $19, $20)"
    " RETURNING id",
    20};
static const struct db_stmt st_step = {
    "UPDATE intents SET step = $2, updated_at = now() WHERE id = $1", 2};
static const struct db_stmt st_finish = {
    "UPDATE intents SET state = $2, message = $3, finished_at = now(), updated_at = now()"
    " WHERE id = $1",
    3};
static const struct db_stmt st_open = {
    "SELECT id, op, state, instance_uuid, domain, member_uuid, from_res, from_vcpus_online,"
    " from_vcpus_max, from_mem_max_mib, from_pcpus, from_numa_node, from_cpu_weight, to_res,"
    " to_vcpus_online, to_vcpus_max, to_mem_max_mib, to_pcpus, to_numa_node, to_cpu_weight, step,"
    " request_id, message, sculpt_ms(started_at), sculpt_ms(updated_at)"
    " FROM intents WHERE state = 'open' ORDER BY id",
    0};

static const char *const db_ops[DB_OP_LAST] = {
    [DB_OP_SPAWN] = "spawn",
    [DB_OP_RESHAPE] = "reshape",
    [DB_OP_DESTROY] = "destroy",
    [DB_OP_HANDOVER] = "handover",
    [DB_OP_MIGRATE] = "migrate",
};
static const char *const db_intent_states[DB_INTENT_LAST] = {
    [DB_INTENT_OPEN] = "open",
    [DB_INTENT_DONE] = "done",
    [DB_INTENT_ROLLED_BACK] = "rolled_back",
    [DB_INTENT_FAILED] = "failed",
};

const char *db_op_name(enum db_op op)
{
    return op >= 0 && op < DB_OP_LAST ? db_ops[op] : "?";
}

const char *db_intent_state_name(enum db_intent_state s)
{
    return s >= 0 && s < DB_INTENT_LAST ? db_intent_states[s] : "?";
}

static int db_name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int64_t db_intent_begin(struct db *db, const struct db_intent *in, struct err **err)
{
    if (in->op < 0 || in->op >= DB_OP_LAST)
        return err_set(err, ERR_INVALID, "intent: bad operation %d", (int)in->op);
    if (db_check_uuid("intent", in->instance_uuid, err) < 0 ||
        (in->member_uuid[0] && db_check_uuid("intent member", in->member_uuid, err) < 0) ||
        (in->has_from && db_check_shape("intent from", &in->from, err) < 0) ||
        (in->has_to && db_check_shape("intent to", &in->to, err) < 0))
        return -1;
    if (in->op == DB_OP_RESHAPE && !(in->has_from && in->has_to))
        return err_set(err, ERR_INVALID, "reshape intent for %s needs both shapes",
                       in->instance_uuid);
    if (in->op == DB_OP_HANDOVER && !in->member_uuid[0])
        return err_set(err, ERR_INVALID, "hand-over intent for %s needs the member",
                       in->instance_uuid);
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, db_op_name(in->op));
    db_param_str(&p, in->instance_uuid);
    db_param_str(&p, in->domain);
    db_param_uuid(&p, in->member_uuid);
    if (in->has_from)
        db_param_shape(&p, &in->from);
    else
        db_param_shape_null(&p);
    if (in->has_to)
        db_param_shape(&p, &in->to);
    else
        db_param_shape_null(&p);
    db_param_str(&p, in->step);
    db_param_str(&p, in->request_id);
    PGresult *r = db_session_query(db, &st_begin, &p, err);
    if (!r)
        return err_wrap(err, "record the %s intent of %s", db_op_name(in->op),
                        in->instance_uuid);
    int64_t id = db_col_int(r, 0, 0);
    PQclear(r);
    return id;
}

int db_intent_step(struct db *db, int64_t id, const char *step, struct err **err)
{
    if (id <= 0 || !step)
        return err_set(err, ERR_INVALID, "intent %lld: no step", (long long)id);
    struct db_write *w = db_write_new("intent_step", 1);
    struct db_params *p = db_write_add(w, &st_step, "no such intent");
    db_param_int(p, id);
    db_param_str(p, step);
    return db_enqueue(db, db_write_item(w), err);
}

void db_intent_finish_params(struct db_params *p, int64_t id, enum db_intent_state state,
                             const char *message)
{
    db_param_int(p, id);
    db_param_str(p, db_intent_state_name(state));
    db_param_str(p, message);
}

const struct db_stmt *db_intent_stmt_finish(void)
{
    return &st_finish;
}

int db_intent_finish(struct db *db, int64_t id, enum db_intent_state state,
                     const char *message, struct err **err)
{
    if (id <= 0 || state <= DB_INTENT_OPEN || state >= DB_INTENT_LAST)
        return err_set(err, ERR_INVALID, "intent %lld: bad final state %d", (long long)id,
                       (int)state);
    struct db_write *w = db_write_new("intent_finish", 1);
    db_intent_finish_params(db_write_add(w, &st_finish, "no such intent"), id, state, message);
    return db_enqueue(db, db_write_item(w), err);
}

void db_intent_free(struct db_intent *in)
{
    if (!in)
        return;
    free(in->domain);
    free(in->step);
    free(in->request_id);
    free(in->message);
    free(in);
}

void db_intent_list_free(struct db_intent_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_intent_free(l->v[i]);
    free(l->v);
    free(l);
}

static struct db_intent *db_intent_from_row(const PGresult *r, int row, struct err **err)
{
    autoptr(db_intent) in = xzalloc(sizeof(*in));
    in->id = db_col_int(r, row, 0);
    int op = db_name_index(db_ops, DB_OP_LAST, PQgetvalue(r, row, 1));
    int state = db_name_index(db_intent_states, DB_INTENT_LAST, PQgetvalue(r, row, 2));
    if (op < 0 || state < 0) {
        err_set(err, ERR_INTERNAL, "intent %lld: unknown operation `%s` or state `%s`",
                (long long)in->id, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2));
        return NULL;
    }
    in->op = (enum db_op)op;
    in->state = (enum db_intent_state)state;
    db_col_uuid(r, row, 3, in->instance_uuid);
    in->domain = db_col_str(r, row, 4);
    db_col_uuid(r, row, 5, in->member_uuid);
    if (db_col_shape(r, row, 6, &in->from, &in->has_from, err) < 0 ||
        db_col_shape(r, row, 6 + DB_SHAPE_COLS, &in->to, &in->has_to, err) < 0)
        return NULL;
    int col = 6 + 2 * DB_SHAPE_COLS;
    in->step = db_col_str(r, row, col);
    in->request_id = db_col_str(r, row, col + 1);
    in->message = db_col_str(r, row, col + 2);
    in->started_ms = db_col_int(r, row, col + 3);
    in->updated_ms = db_col_int(r, row, col + 4);
    return steal_pointer(&in);
}

struct db_intent_list *db_intent_list_open(struct db *db, struct err **err)
{
    static const struct db_params none = DB_PARAMS_INIT;
    PGresult *r = db_session_read(db, &st_open, &none, err);
    if (!r)
        return NULL;
    autoptr(db_intent_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_intent_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}
