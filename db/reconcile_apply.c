/* Reconciliation, the repair: each fix's hypervisor part through the
 * caller's ops, then its rows and an event in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db_priv.h"
#include "db/instance_priv.h"
#include "db/reconcile.h"
#include "db/reshape_priv.h"

LOG_INIT("db.reconcile");

void db_view_free(struct db_view *v)
{
    if (!v)
        return;
    db_instance_list_free(v->instances);
    db_intent_list_free(v->intents);
    db_pool_member_list_free(v->members);
    free(v);
}

struct db_view *db_view_load(struct db *db, struct err **err)
{
    autoptr(db_view) v = xzalloc(sizeof(*v));
    v->instances = db_instance_list(db, NULL, err);
    if (!v->instances)
        return NULL;
    v->intents = db_intent_list_open(db, err);
    if (!v->intents)
        return NULL;
    v->members = db_pool_member_list(db, NULL, true, err);
    if (!v->members)
        return NULL;
    return steal_pointer(&v);
}

/* The row of a guest no row knew (adopted, or a spawn whose row was lost). */
static int db_fix_write_row(struct db_conn *c, const struct db_fix *f, struct err **err)
{
    struct drv_instance in = {0};
    snprintf(in.uuid, sizeof(in.uuid), "%s", f->uuid);
    in.name = f->domain;
    in.domain = f->domain;
    in.vm_state = f->vm_state ? f->vm_state : (char *)"active";
    in.power_state = f->power;
    in.shape = f->shape;
    return db_instance_write(c, &in, err);
}

static int db_fix_finish(struct db_conn *c, const struct db_fix *f, enum db_intent_state state,
                         struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_intent_finish_params(&p, f->intent_id, state, f->why);
    return db_conn_run(c, db_intent_stmt_finish(), &p, err) < 0 ? -1 : 0;
}

static int db_fix_set_shape(struct db_conn *c, const struct db_fix *f,
                            const struct drv_shape *shape, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, f->uuid);
    db_param_shape(&p, shape);
    return db_conn_run(c, db_reshape_stmt_set_shape(), &p, err) < 0 ? -1 : 0;
}

static int db_fix_member(struct db_conn *c, const char *member, enum db_member_state state,
                         const char *why, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_member_state_params(&p, member, state, why);
    return db_conn_run(c, db_member_stmt_state(), &p, err) < 0 ? -1 : 0;
}

static int db_fix_complete(struct db_conn *c, const struct db_fix *f, struct err **err)
{
    switch (f->op) {
    case DB_OP_SPAWN:
        if (f->row_missing && db_fix_write_row(c, f, err) < 0)
            return -1;
        if (db_instance_set_state_now(c, f->uuid, "active", NULL, f->power, err) < 0)
            return -1;
        break;
    case DB_OP_RESHAPE: {
        struct db_reshape r = {.from = f->from, .to = f->shape, .ok = true,
                               .reason = f->why, .intent_id = f->intent_id};
        snprintf(r.instance_uuid, sizeof(r.instance_uuid), "%s", f->uuid);
        autoparams p = DB_PARAMS_INIT;
        db_reshape_params(&p, &r);
        if (db_conn_run(c, db_reshape_stmt_add(), &p, err) < 0 ||
            db_fix_set_shape(c, f, &f->shape, err) < 0)
            return -1;
        break;
    }
    case DB_OP_DESTROY:
        if (db_instance_mark_deleted(c, f->uuid, err) < 0)
            return -1;
        break;
    case DB_OP_HANDOVER: {
        if (f->row_missing && db_fix_write_row(c, f, err) < 0)
            return -1;
        autoparams p = DB_PARAMS_INIT;
        db_param_str(&p, f->member_uuid);
        db_param_str(&p, f->uuid);
        if (db_conn_run(c, db_member_stmt_handover(), &p, err) < 0)
            return -1;
        break;
    }
    case DB_OP_MIGRATE: /* never planned (db_reconcile_plan) */
    case DB_OP_LAST:
        break;
    }
    return db_fix_finish(c, f, DB_INTENT_DONE, err);
}

static int db_fix_roll_back(struct db_conn *c, const struct db_fix *f, struct err **err)
{
    switch (f->op) {
    case DB_OP_SPAWN:
        if (db_instance_set_state_now(c, f->uuid, "error", NULL, DRV_POWER_NOSTATE, err) < 0)
            return -1;
        break;
    case DB_OP_RESHAPE:
        if (!f->apply_shape) /* no guest left: only the intent closes */
            return db_fix_finish(c, f, DB_INTENT_FAILED, err);
        if (db_fix_set_shape(c, f, &f->shape, err) < 0)
            return -1;
        break;
    case DB_OP_HANDOVER:
        if (db_fix_member(c, f->member_uuid, DB_MEMBER_RELEASED, "hand-over interrupted",
                          err) < 0 ||
            db_instance_set_state_now(c, f->uuid, "error", NULL, DRV_POWER_NOSTATE, err) < 0)
            return -1;
        break;
    case DB_OP_DESTROY:
    case DB_OP_MIGRATE:
    case DB_OP_LAST:
        break;
    }
    return db_fix_finish(c, f, DB_INTENT_ROLLED_BACK, err);
}

/* The database part of one fix, inside the caller's transaction. */
static int db_fix_rows(struct db_conn *c, const struct db_fix *f, bool hv_done,
                       struct err **err)
{
    switch (f->kind) {
    case DB_FIX_COMPLETE:
        return db_fix_complete(c, f, err);
    case DB_FIX_ROLL_BACK:
        return db_fix_roll_back(c, f, err);
    case DB_FIX_ADOPT:
        return db_fix_write_row(c, f, err);
    case DB_FIX_MARK_VANISHED:
        return db_instance_mark_vanished(c, f->uuid, err);
    case DB_FIX_MEMBER_GONE:
        return db_fix_member(c, f->uuid, DB_MEMBER_GONE, f->why, err);
    case DB_FIX_SYNC_POWER:
        return db_instance_set_power(c, f->uuid, f->power, err);
    case DB_FIX_NOVA_DELETED:
        return f->destroy_domain && hv_done ? db_instance_mark_deleted(c, f->uuid, err) : 0;
    case DB_FIX_REPORT:
    case DB_FIX_NOVA_MISSING:
    case DB_FIX_LAST:
        break;
    }
    return 0;
}

static int db_fix_event(struct db_conn *c, const struct db_fix *f, const struct err *failed,
                        struct err **err)
{
    struct db_event e = {
        .source = (char *)"reconcile",
        .action = xasprintf("reconcile.%s", db_fix_kind_name(f->kind)),
        .code = failed ? failed->code : 0,
        .message = failed ? xasprintf("%s; failed: %s", f->why, failed->msg) : xstrdup(f->why),
    };
    /* A pool member's uuid is not an instance's. */
    if (f->kind != DB_FIX_MEMBER_GONE)
        snprintf(e.instance_uuid, sizeof(e.instance_uuid), "%s", f->uuid);
    autoparams p = DB_PARAMS_INIT;
    db_event_params(&p, &e);
    int rc = db_conn_run(c, db_event_stmt_add(), &p, err) < 0 ? -1 : 0;
    free(e.action);
    free(e.message);
    return rc;
}

/* The hypervisor part; -1 with *err when it failed or cannot be done. */
static int db_fix_hypervisor(const struct db_fix *f, const struct db_reconcile_ops *ops,
                             struct err **err)
{
    if (f->destroy_domain) {
        if (!ops || !ops->destroy)
            return err_set(err, ERR_UNSUPPORTED, "no hypervisor operations to destroy `%s`",
                           f->domain);
        if (ops->destroy(ops->ctx, f->domain, err) < 0)
            return err_wrap(err, "destroy `%s`", f->domain);
    }
    if (f->apply_shape) {
        if (!ops || !ops->apply_shape)
            return err_set(err, ERR_UNSUPPORTED, "no hypervisor operations to reshape `%s`",
                           f->domain);
        /* The backend changes only the knobs whose read-back differs from
         * what is asked, and a balloon reads back its actual size, not the
         * target the interrupted reshape set: asked for `shape` straight
         * away, it would leave that target in force.  `redo` sets it
         * first, so the balloon differs.  Its failure leaves the read-back
         * as the reference: `shape` is applied all the same. */
        autoerr struct err *redo = NULL;
        if (f->has_redo && ops->apply_shape(ops->ctx, f->domain, &f->redo, &redo) < 0)
            log_err(LOG_LEVEL_WARN, redo, "interrupted reshape of `%s` not re-applied before "
                                          "its roll-back",
                    f->domain);
        if (ops->apply_shape(ops->ctx, f->domain, &f->shape, err) < 0)
            return err_wrap(err, "re-apply the shape of `%s`", f->domain);
    }
    return 0;
}

int db_reconcile_apply(struct db *db, const struct db_fix_list *fixes,
                       const struct db_reconcile_ops *ops, struct err **err)
{
    int failed = 0;
    for (size_t i = 0; i < fixes->n; i++) {
        const struct db_fix *f = &fixes->v[i];
        log_ctx_set_instance(f->kind == DB_FIX_MEMBER_GONE ? NULL : f->uuid);
        autoerr struct err *hv = NULL;
        bool hv_done = db_fix_hypervisor(f, ops, &hv) == 0;
        if (hv_done)
            log_warn("reconcile %s %s: %s", db_fix_kind_name(f->kind), f->uuid, f->why);
        else
            log_err(LOG_LEVEL_ERROR, hv, "reconcile %s %s (%s) not done", db_fix_kind_name(f->kind),
                    f->uuid, f->why);

        struct db_conn *c = db_session_acquire(db, err);
        if (!c) {
            log_ctx_set_instance(NULL);
            return -1;
        }
        autoerr struct err *e = NULL;
        int rc = db_conn_begin(c, &e);
        /* Without its hypervisor part a fix is only reported: the intent
         * stays open for the next start. */
        if (rc == 0 && hv_done)
            rc = db_fix_rows(c, f, hv_done, &e);
        if (rc == 0)
            rc = db_fix_event(c, f, hv, &e);
        if (rc == 0)
            rc = db_conn_commit(c, &e);
        if (rc < 0)
            db_conn_rollback(c);
        bool lost = !db_conn_is_open(c);
        db_session_release(db, c);
        if (rc < 0 && lost) {
            log_ctx_set_instance(NULL);
            db_err_pass(err, &e);
            return err_wrap(err, "reconcile");
        }
        if (rc < 0)
            log_err(LOG_LEVEL_ERROR, e, "reconcile %s %s: the database refused the fix",
                    db_fix_kind_name(f->kind), f->uuid);
        if (rc < 0 || !hv_done)
            failed++;
    }
    log_ctx_set_instance(NULL);
    return failed;
}

struct db_fix_list *db_reconcile(struct db *db, const struct db_guest *guests, size_t nguests,
                                 const struct db_nova_instance *nova, size_t nnova,
                                 const struct db_reconcile_opts *opts,
                                 const struct db_reconcile_ops *ops, int *failed,
                                 struct err **err)
{
    autoptr(db_view) view = db_view_load(db, err);
    if (!view)
        return NULL;
    autoptr(db_fix_list) fixes = db_reconcile_plan(view, guests, nguests, nova, nnova, opts);
    log_info("reconcile: %zu rows, %zu open intents, %zu pool members, %zu guests%s: "
             "%zu differences",
             view->instances->n, view->intents->n, view->members->n, nguests,
             nova ? ", Nova's view" : "", fixes->n);
    int n = db_reconcile_apply(db, fixes, ops, err);
    if (n < 0)
        return NULL;
    if (failed)
        *failed = n;
    return steal_pointer(&fixes);
}
