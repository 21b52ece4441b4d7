/* Blueprints: every revision of every instance's blueprint (queued), and
 * the operator's custom blueprints (synchronous). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"

/* A blueprint spans seven parameters or columns: model, start (ms), step_s,
 * nsteps, confidence, res_confidence[], q[]. */
#define DB_BP_COLUMNS                                                                      \
    "model, sculpt_ms(start_at), step_s, nsteps, confidence, res_confidence, q"

static const struct db_stmt st_rev_add = {
    "INSERT INTO blueprints (instance_uuid, revision, created_at, reason, model, start_at,"
    " step_s, nsteps, confidence, res_confidence, q, band, term_names, term_values)"
    " SELECT $1, coalesce(max(revision), 0) + 1, coalesce(sculpt_ts($2), now()), $3, $4,"
    " sculpt_ts($5), $6, $7, $8, $9, $10, $11, $12, $13"
    " FROM blueprints WHERE instance_uuid = $1",
    13};
static const struct db_stmt st_rev_history = {
    "SELECT id, instance_uuid, revision, sculpt_ms(created_at), reason, band, term_names,"
    " term_values, " DB_BP_COLUMNS
    " FROM blueprints WHERE instance_uuid = $1 ORDER BY revision DESC LIMIT $2",
    2};
#define DB_REV_COL_BP 8

static const struct db_stmt st_custom_create = {
    "INSERT INTO custom_blueprints (name, description, flavor_name, image_ref, project_id,"
    " model, start_at, step_s, nsteps, confidence, res_confidence, q)"
    " VALUES ($1, $2, $3, $4, $5, $6, sculpt_ts($7), $8, $9, $10, $11, $12) RETURNING id",
    12};
static const struct db_stmt st_custom_update = {
    "UPDATE custom_blueprints SET name = $1, description = $2, flavor_name = $3,"
    " image_ref = $4, project_id = $5, model = $6, start_at = sculpt_ts($7), step_s = $8,"
    " nsteps = $9, confidence = $10, res_confidence = $11, q = $12, updated_at = now()"
    " WHERE id = $13",
    13};
static const struct db_stmt st_custom_delete = {
    "DELETE FROM custom_blueprints WHERE id = $1", 1};
#define DB_CUSTOM_COLUMNS                                                                  \
    "id, name, description, flavor_name, image_ref, project_id, sculpt_ms(created_at),"     \
    " sculpt_ms(updated_at), " DB_BP_COLUMNS
#define DB_CUSTOM_COL_BP 8
static const struct db_stmt st_custom_get = {
    "SELECT " DB_CUSTOM_COLUMNS " FROM custom_blueprints WHERE id = $1", 1};
static const struct db_stmt st_custom_list = {
    "SELECT " DB_CUSTOM_COLUMNS " FROM custom_blueprints ORDER BY id", 0};

static size_t db_bp_cells(const struct drv_blueprint *bp)
{
    return (size_t)bp->nsteps * DRV_RES_LAST * DRV_Q_LAST;
}

static void db_param_blueprint(struct db_params *p, const struct drv_blueprint *bp)
{
    db_param_strdup(p, bp->model);
    db_param_int(p, bp->start_s * 1000);
    db_param_int(p, bp->step_s);
    db_param_int(p, bp->nsteps);
    db_param_double(p, bp->confidence);
    db_param_doubles(p, bp->res_confidence, DRV_RES_LAST);
    db_param_doubles(p, bp->q, db_bp_cells(bp));
}

static struct drv_blueprint *db_col_blueprint(const PGresult *r, int row, int col,
                                              struct err **err)
{
    autoptr(drv_blueprint) bp = drv_blueprint_new((int32_t)db_col_int(r, row, col + 3),
                                                  (int32_t)db_col_int(r, row, col + 2),
                                                  db_col_int(r, row, col + 1) / 1000, err);
    if (!bp)
        return NULL;
    snprintf(bp->model, sizeof(bp->model), "%s", PQgetvalue(r, row, col));
    bp->confidence = db_col_double(r, row, col + 4);
    if (db_col_doubles(r, row, col + 5, bp->res_confidence, DRV_RES_LAST, err) < 0 ||
        db_col_doubles(r, row, col + 6, bp->q, db_bp_cells(bp), err) < 0)
        return NULL;
    return steal_pointer(&bp);
}

static int db_check_blueprint(const char *what, const struct drv_blueprint *bp,
                              struct err **err)
{
    if (!bp)
        return err_set(err, ERR_INVALID, "%s: no blueprint", what);
    if (drv_blueprint_validate(bp, err) < 0)
        return err_wrap(err, "%s", what);
    return 0;
}

void db_param_terms(struct db_params *p, const struct db_cost_term *t, size_t n)
{
    const char **names = xcalloc(n + 1, sizeof(char *));
    double *values = xcalloc(n + 1, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        names[i] = t[i].name;
        values[i] = t[i].value;
    }
    db_param_texts(p, names, n);
    db_param_doubles(p, values, n);
    free(names);
    free(values);
}

int db_check_terms(const struct db_cost_term *t, size_t n, struct err **err)
{
    if (n && !t)
        return err_set(err, ERR_INVALID, "%zu cost terms without an array", n);
    for (size_t i = 0; i < n; i++)
        if (!memchr(t[i].name, '\0', sizeof(t[i].name)) || !t[i].name[0] ||
            !isfinite(t[i].value))
            return err_set(err, ERR_INVALID, "cost term %zu: empty or unterminated name, or "
                           "a value that is not finite", i);
    return 0;
}

int db_col_terms(const PGresult *r, int row, int col, struct db_cost_term **out, size_t *n,
                 struct err **err)
{
    char **names = NULL;
    double *values = NULL;
    size_t nn = 0, nv = 0;
    int rc = -1;
    *out = NULL;
    *n = 0;
    if (db_parse_texts(PQgetvalue(r, row, col), &names, &nn, err) < 0 ||
        db_parse_doubles_alloc(PQgetvalue(r, row, col + 1), &values, &nv, err) < 0)
        goto cleanup;
    if (nn != nv) {
        err_set(err, ERR_INTERNAL, "%zu cost term names for %zu values", nn, nv);
        goto cleanup;
    }
    *out = xcalloc(nn + 1, sizeof(**out));
    for (size_t i = 0; i < nn; i++) {
        snprintf((*out)[i].name, sizeof((*out)[i].name), "%s", names[i] ? names[i] : "");
        (*out)[i].value = values[i];
    }
    *n = nn;
    rc = 0;
 cleanup:
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    free(values);
    return rc;
}

/* ---- revisions ---- */

void db_blueprint_rev_free(struct db_blueprint_rev *rev)
{
    if (!rev)
        return;
    free(rev->reason);
    drv_blueprint_free(rev->bp);
    free(rev->terms);
    free(rev);
}

void db_blueprint_rev_list_free(struct db_blueprint_rev_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_blueprint_rev_free(l->v[i]);
    free(l->v);
    free(l);
}

int db_blueprint_add(struct db *db, const struct db_blueprint_rev *rev, struct err **err)
{
    if (db_check_uuid("blueprint", rev->instance_uuid, err) < 0 ||
        db_check_blueprint("blueprint revision", rev->bp, err) < 0 ||
        db_check_terms(rev->terms, rev->nterms, err) < 0)
        return -1;
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (!(rev->band[k] >= 0.0 && rev->band[k] <= 1.0))
            return err_set(err, ERR_INVALID, "blueprint band of `%s` is %g, not in [0,1]",
                           drv_res_kind_name((enum drv_res_kind)k), rev->band[k]);
    struct db_write *w = db_write_new("blueprint_add", 1);
    struct db_params *p = db_write_add(w, &st_rev_add, NULL);
    db_param_str(p, rev->instance_uuid);
    db_param_nonzero(p, rev->created_ms);
    db_param_str(p, rev->reason);
    db_param_blueprint(p, rev->bp);
    db_param_doubles(p, rev->band, DRV_RES_LAST);
    db_param_terms(p, rev->terms, rev->nterms);
    return db_enqueue(db, db_write_item(w), err);
}

static struct db_blueprint_rev *db_rev_from_row(const PGresult *r, int row, struct err **err)
{
    autoptr(db_blueprint_rev) rev = xzalloc(sizeof(*rev));
    rev->id = db_col_int(r, row, 0);
    db_col_uuid(r, row, 1, rev->instance_uuid);
    rev->revision = (int32_t)db_col_int(r, row, 2);
    rev->created_ms = db_col_int(r, row, 3);
    rev->reason = db_col_str(r, row, 4);
    if (db_col_doubles(r, row, 5, rev->band, DRV_RES_LAST, err) < 0 ||
        db_col_terms(r, row, 6, &rev->terms, &rev->nterms, err) < 0)
        return NULL;
    rev->bp = db_col_blueprint(r, row, DB_REV_COL_BP, err);
    if (!rev->bp)
        return NULL;
    return steal_pointer(&rev);
}

struct db_blueprint_rev_list *db_blueprint_history(struct db *db, const char *uuid,
                                                   size_t limit, struct err **err)
{
    if (db_check_uuid("blueprint history", uuid, err) < 0)
        return NULL;
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    db_param_nonzero(&p, (long long)limit);
    PGresult *r = db_session_read(db, &st_rev_history, &p, err);
    if (!r)
        return NULL;
    autoptr(db_blueprint_rev_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_rev_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}

struct db_blueprint_rev *db_blueprint_latest(struct db *db, const char *uuid, struct err **err)
{
    autoptr(db_blueprint_rev_list) l = db_blueprint_history(db, uuid, 1, err);
    if (!l)
        return NULL;
    if (l->n == 0) {
        err_set(err, ERR_NOT_FOUND, "instance %s has no blueprint", uuid);
        return NULL;
    }
    return steal_pointer(&l->v[0]);
}

/* ---- custom blueprints ---- */

void db_custom_blueprint_free(struct db_custom_blueprint *cb)
{
    if (!cb)
        return;
    free(cb->name);
    free(cb->description);
    free(cb->flavor_name);
    free(cb->image_ref);
    free(cb->project_id);
    drv_blueprint_free(cb->bp);
    free(cb);
}

void db_custom_blueprint_list_free(struct db_custom_blueprint_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_custom_blueprint_free(l->v[i]);
    free(l->v);
    free(l);
}

static int db_custom_params(const struct db_custom_blueprint *cb, struct db_params *p,
                            struct err **err)
{
    if (!cb->name || !*cb->name || strlen(cb->name) > 255)
        return err_set(err, ERR_INVALID, "custom blueprint: name must have 1 to 255 characters");
    if (db_check_blueprint("custom blueprint", cb->bp, err) < 0)
        return -1;
    db_param_str(p, cb->name);
    db_param_str(p, cb->description);
    db_param_str(p, cb->flavor_name);
    db_param_str(p, cb->image_ref);
    db_param_str(p, cb->project_id);
    db_param_blueprint(p, cb->bp);
    return 0;
}

/* A taken name reads better than the server's constraint message. */
static void db_custom_name_conflict(const char *name, struct err **err)
{
    if (err && err_code_of(*err) == ERR_CONFLICT)
        err_set(err, ERR_CONFLICT, "a custom blueprint named `%s` exists", name);
}

int64_t db_custom_blueprint_create(struct db *db, const struct db_custom_blueprint *cb,
                                   struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    if (db_custom_params(cb, &p, err) < 0)
        return -1;
    PGresult *r = db_session_query(db, &st_custom_create, &p, err);
    if (!r) {
        db_custom_name_conflict(cb->name, err);
        return -1;
    }
    int64_t id = db_col_int(r, 0, 0);
    PQclear(r);
    return id;
}

/* Run a statement changing one custom blueprint by id: NOT_FOUND when no
 * row changed. */
static int db_custom_change(struct db *db, const struct db_stmt *st, struct db_params *p,
                            int64_t id, struct err **err)
{
    long long n = db_session_run(db, st, p, err);
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(err, ERR_NOT_FOUND, "no custom blueprint %lld", (long long)id);
    return 0;
}

int db_custom_blueprint_update(struct db *db, const struct db_custom_blueprint *cb,
                               struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    if (db_custom_params(cb, &p, err) < 0)
        return -1;
    db_param_int(&p, cb->id);
    if (db_custom_change(db, &st_custom_update, &p, cb->id, err) < 0) {
        db_custom_name_conflict(cb->name, err);
        return -1;
    }
    return 0;
}

int db_custom_blueprint_delete(struct db *db, int64_t id, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, id);
    return db_custom_change(db, &st_custom_delete, &p, id, err);
}

static struct db_custom_blueprint *db_custom_from_row(const PGresult *r, int row,
                                                      struct err **err)
{
    autoptr(db_custom_blueprint) cb = xzalloc(sizeof(*cb));
    cb->id = db_col_int(r, row, 0);
    cb->name = db_col_str(r, row, 1);
    cb->description = db_col_str(r, row, 2);
    cb->flavor_name = db_col_str(r, row, 3);
    cb->image_ref = db_col_str(r, row, 4);
    cb->project_id = db_col_str(r, row, 5);
    cb->created_ms = db_col_int(r, row, 6);
    cb->updated_ms = db_col_int(r, row, 7);
    cb->bp = db_col_blueprint(r, row, DB_CUSTOM_COL_BP, err);
    if (!cb->bp)
        return NULL;
    return steal_pointer(&cb);
}

struct db_custom_blueprint *db_custom_blueprint_get(struct db *db, int64_t id,
                                                    struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, id);
    PGresult *r = db_session_read(db, &st_custom_get, &p, err);
    if (!r)
        return NULL;
    struct db_custom_blueprint *cb = NULL;
    if (PQntuples(r) == 0)
        err_set(err, ERR_NOT_FOUND, "no custom blueprint %lld", (long long)id);
    else
        cb = db_custom_from_row(r, 0, err);
    PQclear(r);
    return cb;
}

struct db_custom_blueprint_list *db_custom_blueprint_list(struct db *db, struct err **err)
{
    static const struct db_params none = DB_PARAMS_INIT;
    PGresult *r = db_session_read(db, &st_custom_list, &none, err);
    if (!r)
        return NULL;
    autoptr(db_custom_blueprint_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_custom_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}

/* A class member matches when the blueprint leaves it open or the request
 * has the same value; each member set and matched makes it more specific. */
static bool db_class_field(const char *want, const char *have, int *score)
{
    if (!want)
        return true;
    if (!have || strcmp(want, have) != 0)
        return false;
    (*score)++;
    return true;
}

ssize_t db_custom_blueprint_match(const struct db_custom_blueprint_list *l,
                                  const struct drv_instance *inst)
{
    ssize_t best = -1;
    int best_score = -1;
    for (size_t i = 0; l && i < l->n; i++) {
        const struct db_custom_blueprint *cb = l->v[i];
        int score = 0;
        if (!db_class_field(cb->flavor_name, inst->flavor.name, &score) ||
            !db_class_field(cb->image_ref, inst->image_ref, &score) ||
            !db_class_field(cb->project_id, inst->project_id, &score))
            continue;
        if (score > best_score || (score == best_score && cb->id < l->v[best]->id)) {
            best = (ssize_t)i;
            best_score = score;
        }
    }
    return best;
}

struct db_custom_blueprint *db_custom_blueprint_for(struct db *db,
                                                    const struct drv_instance *inst,
                                                    struct err **err)
{
    autoptr(db_custom_blueprint_list) l = db_custom_blueprint_list(db, err);
    if (!l)
        return NULL;
    ssize_t i = db_custom_blueprint_match(l, inst);
    if (i < 0) {
        err_set(err, ERR_NOT_FOUND, "no custom blueprint matches");
        return NULL;
    }
    return steal_pointer(&l->v[i]); /* the list frees the NULL left */
}
