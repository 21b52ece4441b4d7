/* The event log: requests received and their outcome. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"

static const struct db_stmt st_add = {
    "INSERT INTO events (at, request_id, instance_uuid, source, action, code, message,"
    " duration_ms) VALUES (coalesce(sculpt_ts($1), now()), $2, $3, $4, $5, $6, $7, $8)",
    8};
static const struct db_stmt st_list = {
    "SELECT id, sculpt_ms(at), request_id, instance_uuid, source, action, code, message,"
    " duration_ms FROM events"
    " WHERE at >= sculpt_ts($1) AND ($2::bigint IS NULL OR at < sculpt_ts($2))"
    " AND ($3::uuid IS NULL OR instance_uuid = $3) AND ($4::text IS NULL OR source = $4)"
    " AND ($5::text IS NULL OR request_id = $5)"
    " AND ($6::text IS NULL OR starts_with(action, $6))"
    " AND ($7::text IS NULL OR code = $7 OR ($7 = 'FAILED' AND code <> 'OK'))"
    " ORDER BY at DESC, id DESC LIMIT $8",
    8};

void db_event_params(struct db_params *p, const struct db_event *e)
{
    db_param_nonzero(p, e->at_ms);
    db_param_str(p, e->request_id);
    db_param_uuid(p, e->instance_uuid);
    db_param_str(p, e->source);
    db_param_str(p, e->action);
    db_param_str(p, db_code_name(e->code));
    db_param_str(p, e->message);
    db_param_double(p, e->duration_ms);
}

const struct db_stmt *db_event_stmt_add(void)
{
    return &st_add;
}

int db_event_check(const struct db_event *e, struct err **err)
{
    if (e->instance_uuid[0] && db_check_uuid("event", e->instance_uuid, err) < 0)
        return -1;
    if (!e->source || !*e->source || !e->action || !*e->action)
        return err_set(err, ERR_INVALID, "event: source and action are required");
    if (e->code < 0 || e->code >= ERR_LAST || !isfinite(e->duration_ms))
        return err_set(err, ERR_INVALID, "event `%s`: bad code %d or duration", e->action,
                       (int)e->code);
    return 0;
}

int db_event_add(struct db *db, const struct db_event *e, struct err **err)
{
    if (db_event_check(e, err) < 0)
        return -1;
    struct db_write *w = db_write_new("event_add", 1);
    db_event_params(db_write_add(w, &st_add, NULL), e);
    return db_enqueue(db, db_write_item(w), err);
}

void db_event_release(struct db_event *e)
{
    if (!e)
        return;
    free(e->request_id);
    free(e->source);
    free(e->action);
    free(e->message);
    e->request_id = e->source = e->action = e->message = NULL;
}

void db_event_list_free(struct db_event_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_event_release(&l->v[i]);
    free(l->v);
    free(l);
}

bool db_event_code_valid(const char *code)
{
    return strcmp(code, "OK") == 0 || strcmp(code, "FAILED") == 0 || db_code_parse(code) != 0;
}

struct db_event_list *db_event_list(struct db *db, const struct db_event_filter *f,
                                    struct err **err)
{
    static const struct db_event_filter all = {0};
    if (!f)
        f = &all;
    if (f->instance_uuid && db_check_uuid("event list", f->instance_uuid, err) < 0)
        return NULL;
    if (f->code && !db_event_code_valid(f->code)) {
        err_set(err, ERR_INVALID, "event list: `%.32s` is not OK, FAILED or an error code",
                f->code);
        return NULL;
    }
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, f->from_ms);
    db_param_nonzero(&p, f->to_ms);
    db_param_str(&p, f->instance_uuid);
    db_param_str(&p, f->source);
    db_param_str(&p, f->request_id);
    db_param_str(&p, f->action_prefix);
    db_param_str(&p, f->code);
    db_param_nonzero(&p, (long long)f->limit);
    PGresult *r = db_session_read(db, &st_list, &p, err);
    if (!r)
        return NULL;
    struct db_event_list *l = xzalloc(sizeof(*l));
    int rows = PQntuples(r);
    l->v = xcalloc((size_t)rows + 1, sizeof(*l->v));
    for (int i = 0; i < rows; i++) {
        struct db_event *e = &l->v[i];
        e->id = db_col_int(r, i, 0);
        e->at_ms = db_col_int(r, i, 1);
        e->request_id = db_col_str(r, i, 2);
        db_col_uuid(r, i, 3, e->instance_uuid);
        e->source = db_col_str(r, i, 4);
        e->action = db_col_str(r, i, 5);
        e->code = db_code_parse(PQgetvalue(r, i, 6));
        e->message = db_col_str(r, i, 7);
        e->duration_ms = db_col_double(r, i, 8);
    }
    l->n = (size_t)rows;
    PQclear(r);
    return l;
}
