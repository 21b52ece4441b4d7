/* Reconciliation, the comparison: three views in, a list of fixes out
 * (the rules are in reconcile.h).  Pure: no database, no hypervisor. */
#include "db/reconcile.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "driver/hypervisor.h"

static const char *const db_fix_kinds[DB_FIX_LAST] = {
    [DB_FIX_COMPLETE] = "complete",
    [DB_FIX_ROLL_BACK] = "roll_back",
    [DB_FIX_ADOPT] = "adopt",
    [DB_FIX_REPORT] = "report",
    [DB_FIX_MARK_VANISHED] = "mark_vanished",
    [DB_FIX_MEMBER_GONE] = "member_gone",
    [DB_FIX_SYNC_POWER] = "sync_power",
    [DB_FIX_NOVA_MISSING] = "nova_missing",
    [DB_FIX_NOVA_DELETED] = "nova_deleted",
};

const char *db_fix_kind_name(enum db_fix_kind k)
{
    return k >= 0 && k < DB_FIX_LAST ? db_fix_kinds[k] : "?";
}

void db_fix_list_free(struct db_fix_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].domain);
        free(l->v[i].why);
        free(l->v[i].vm_state);
    }
    free(l->v);
    free(l);
}

/* The comparison's working state. */
struct db_plan {
    const struct db_view *view;
    const struct db_guest *guests;
    size_t nguests;
    const struct db_nova_instance *nova;
    size_t nnova;
    const struct db_reconcile_opts *opts;
    bool *guest_seen;      /* a row, member or intent accounts for it */
    bool *row_done;        /* an intent's fix covers the instance row */
    struct db_fix_list *out;
    size_t cap;
};

static struct db_fix *db_plan_add(struct db_plan *pl, enum db_fix_kind kind, const char *uuid,
                                  const char *domain, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static struct db_fix *db_plan_add(struct db_plan *pl, enum db_fix_kind kind, const char *uuid,
                                  const char *domain, const char *fmt, ...)
{
    if (pl->out->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 8;
        pl->out->v = xreallocarray(pl->out->v, pl->cap, sizeof(*pl->out->v));
    }
    struct db_fix *f = &pl->out->v[pl->out->n++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    snprintf(f->uuid, sizeof(f->uuid), "%s", uuid ? uuid : "");
    f->domain = domain ? xstrdup(domain) : NULL;
    f->shape.numa_node = -1;
    f->from.numa_node = -1;
    va_list ap;
    va_start(ap, fmt);
    f->why = xvasprintf(fmt, ap);
    va_end(ap);
    return f;
}

static const struct db_guest *db_plan_guest(struct db_plan *pl, const char *domain,
                                            const char *uuid)
{
    if (domain)
        for (size_t i = 0; i < pl->nguests; i++)
            if (pl->guests[i].domain && strcmp(pl->guests[i].domain, domain) == 0)
                return &pl->guests[i];
    if (uuid && *uuid)
        for (size_t i = 0; i < pl->nguests; i++)
            if (strcasecmp(pl->guests[i].uuid, uuid) == 0)
                return &pl->guests[i];
    return NULL;
}

static void db_plan_see(struct db_plan *pl, const struct db_guest *g)
{
    if (g)
        pl->guest_seen[g - pl->guests] = true;
}

static ssize_t db_plan_row(const struct db_plan *pl, const char *uuid)
{
    const struct db_instance_list *l = pl->view->instances;
    for (size_t i = 0; l && i < l->n; i++)
        if (strcasecmp(l->v[i]->uuid, uuid) == 0)
            return (ssize_t)i;
    return -1;
}

static const struct db_pool_member *db_plan_member(const struct db_plan *pl, const char *uuid)
{
    const struct db_pool_member_list *l = pl->view->members;
    for (size_t i = 0; l && i < l->n; i++)
        if (strcasecmp(l->v[i]->uuid, uuid) == 0)
            return l->v[i];
    return NULL;
}

static const struct db_nova_instance *db_plan_nova(const struct db_plan *pl, const char *uuid)
{
    for (size_t i = 0; i < pl->nnova; i++)
        if (strcasecmp(pl->nova[i].uuid, uuid) == 0)
            return &pl->nova[i];
    return NULL;
}

/* A soft-deleted server ("soft-delete") is not gone: its guest is kept,
 * switched off, until it is restored or reclaimed. */
static bool db_nova_gone(const struct db_nova_instance *n)
{
    return !n || (n->vm_state && strcmp(n->vm_state, "deleted") == 0);
}

static bool db_guest_up(const struct db_guest *g)
{
    return g->power == DRV_POWER_RUNNING || g->power == DRV_POWER_PAUSED;
}

static bool db_shape_same(const struct drv_shape *a, const struct drv_shape *b)
{
    return drv_res_eq(a->res, b->res, 1e-3) && a->vcpus_online == b->vcpus_online &&
           drv_cpuset_equal(&a->pcpus, &b->pcpus);
}

static void db_fix_intent(struct db_fix *f, const struct db_intent *in)
{
    f->intent_id = in->id;
    f->op = in->op;
    snprintf(f->member_uuid, sizeof(f->member_uuid), "%s", in->member_uuid);
}

static void db_plan_spawn(struct db_plan *pl, const struct db_intent *in, ssize_t row)
{
    const char *domain = in->domain ? in->domain
                         : row >= 0 ? pl->view->instances->v[row]->domain : NULL;
    const struct db_guest *g = db_plan_guest(pl, domain, in->instance_uuid);
    struct db_fix *f;
    if (g && db_guest_up(g)) {
        f = db_plan_add(pl, DB_FIX_COMPLETE, in->instance_uuid, g->domain,
                        "spawn interrupted after its guest started (step `%s`): completed",
                        in->step ? in->step : "none");
        f->power = g->power;
        f->row_missing = row < 0;
        if (in->has_to)
            f->shape = in->to;
    } else if (g) {
        f = db_plan_add(pl, DB_FIX_ROLL_BACK, in->instance_uuid, g->domain,
                        "spawn interrupted before its guest ran (step `%s`): guest destroyed, "
                        "instance set to error",
                        in->step ? in->step : "none");
        f->destroy_domain = true;
    } else {
        f = db_plan_add(pl, DB_FIX_ROLL_BACK, in->instance_uuid, domain,
                        "spawn interrupted before its guest existed (step `%s`): instance set "
                        "to error",
                        in->step ? in->step : "none");
    }
    db_fix_intent(f, in);
    db_plan_see(pl, g);
    if (row >= 0)
        pl->row_done[row] = true;
}

static void db_plan_reshape(struct db_plan *pl, const struct db_intent *in, ssize_t row)
{
    const char *domain = in->domain ? in->domain
                         : row >= 0 ? pl->view->instances->v[row]->domain : NULL;
    const struct db_guest *g = db_plan_guest(pl, domain, in->instance_uuid);
    struct db_fix *f;
    if (!g) {
        /* Rule 3 marks the row; the intent just closes. */
        f = db_plan_add(pl, DB_FIX_ROLL_BACK, in->instance_uuid, domain,
                        "reshape interrupted and its guest is gone: intent failed");
    } else if (g->has_shape && db_shape_same(&g->shape, &in->to)) {
        f = db_plan_add(pl, DB_FIX_COMPLETE, in->instance_uuid, g->domain,
                        "reshape interrupted after the guest took its new shape: completed");
        f->shape = in->to;
        f->from = in->from;
    } else {
        f = db_plan_add(pl, DB_FIX_ROLL_BACK, in->instance_uuid, g->domain,
                        "reshape interrupted half-way: the previous shape re-applied");
        f->apply_shape = true;
        f->shape = in->from;
        /* The balloon reads back its actual size, not its target: the
         * reshape may have set a target the guest has not reached.  The
         * guest as it is, with that target, goes first (every other knob
         * reads back exactly: that step changes only the balloon). */
        if (g->has_shape && fabs(g->shape.res.v[DRV_RES_MEM_MIB] -
                                 in->to.res.v[DRV_RES_MEM_MIB]) >= 1.0 / 1024) {
            f->has_redo = true;
            f->redo = g->shape;
            f->redo.res.v[DRV_RES_MEM_MIB] = in->to.res.v[DRV_RES_MEM_MIB];
        }
    }
    f->power = g ? g->power : DRV_POWER_NOSTATE;
    db_fix_intent(f, in);
}

static void db_plan_destroy(struct db_plan *pl, const struct db_intent *in, ssize_t row)
{
    const char *domain = in->domain ? in->domain
                         : row >= 0 ? pl->view->instances->v[row]->domain : NULL;
    const struct db_guest *g = db_plan_guest(pl, domain, in->instance_uuid);
    struct db_fix *f = db_plan_add(pl, DB_FIX_COMPLETE, in->instance_uuid, g ? g->domain : domain,
                                   g ? "destroy interrupted with the guest still defined: "
                                       "destroyed"
                                     : "destroy interrupted after the guest went: completed");
    f->destroy_domain = g != NULL;
    db_fix_intent(f, in);
    db_plan_see(pl, g);
    if (row >= 0)
        pl->row_done[row] = true;
}

static void db_plan_handover(struct db_plan *pl, const struct db_intent *in, ssize_t row)
{
    const struct db_pool_member *m = db_plan_member(pl, in->member_uuid);
    const struct db_guest *g = in->domain ? db_plan_guest(pl, in->domain, NULL) : NULL;
    struct db_fix *f;
    if (g) {
        f = db_plan_add(pl, DB_FIX_COMPLETE, in->instance_uuid, g->domain,
                        "hand-over of pool member %s interrupted after the guest took the "
                        "instance's name: completed",
                        in->member_uuid);
        f->power = g->power;
        f->row_missing = row < 0;
        f->shape = in->has_to ? in->to : m ? m->shape : g->shape;
    } else {
        g = m ? db_plan_guest(pl, m->domain, m->uuid) : db_plan_guest(pl, NULL, in->member_uuid);
        f = db_plan_add(pl, DB_FIX_ROLL_BACK, in->instance_uuid, g ? g->domain : NULL,
                        "hand-over of pool member %s interrupted: member released%s, instance "
                        "set to error",
                        in->member_uuid, g ? " and its guest destroyed" : "");
        f->destroy_domain = g != NULL;
    }
    db_fix_intent(f, in);
    db_plan_see(pl, g);
    if (row >= 0)
        pl->row_done[row] = true;
}

/* Rule 2 (and 5 for guests): a guest nothing accounts for. */
static void db_plan_unknown_guest(struct db_plan *pl, const struct db_guest *g)
{
    const char *prefix = pl->opts ? pl->opts->domain_prefix : NULL;
    bool named_ours = g->ours || (prefix && *prefix && g->domain &&
                                  strncmp(g->domain, prefix, strlen(prefix)) == 0);
    const struct db_nova_instance *n = pl->nova ? db_plan_nova(pl, g->uuid) : NULL;
    struct db_fix *f;
    if (n && !db_nova_gone(n)) {
        f = db_plan_add(pl, DB_FIX_ADOPT, g->uuid, g->domain,
                        "guest of Nova's instance %s had no row: adopted", g->uuid);
        f->vm_state = n->vm_state ? xstrdup(n->vm_state) : NULL;
    } else if (named_ours && pl->nova) {
        f = db_plan_add(pl, DB_FIX_NOVA_DELETED, g->uuid, g->domain,
                        "guest `%s` is sculpt's but Nova has no such instance%s", g->domain,
                        pl->opts->reap_nova_deleted ? ": destroyed" : ": left running");
        f->destroy_domain = pl->opts->reap_nova_deleted;
    } else if (named_ours) {
        f = db_plan_add(pl, DB_FIX_ADOPT, g->uuid, g->domain,
                        "guest `%s` is sculpt's but had no row: adopted", g->domain);
    } else {
        f = db_plan_add(pl, DB_FIX_REPORT, g->uuid, g->domain,
                        "guest `%s` is not sculpt's: left alone", g->domain ? g->domain : "?");
    }
    f->power = g->power;
    if (g->has_shape)
        f->shape = g->shape;
}

struct db_fix_list *db_reconcile_plan(const struct db_view *view, const struct db_guest *guests,
                                      size_t nguests, const struct db_nova_instance *nova,
                                      size_t nnova, const struct db_reconcile_opts *opts)
{
    static const struct db_reconcile_opts no_opts = {0};
    size_t nrows = view->instances ? view->instances->n : 0;
    struct db_plan pl = {
        .view = view, .guests = guests, .nguests = nguests, .nova = nova, .nnova = nnova,
        .opts = opts ? opts : &no_opts,
        .guest_seen = xcalloc(nguests + 1, sizeof(bool)),
        .row_done = xcalloc(nrows + 1, sizeof(bool)),
        .out = xzalloc(sizeof(struct db_fix_list)),
    };

    /* 1. Interrupted operations. */
    for (size_t i = 0; view->intents && i < view->intents->n; i++) {
        const struct db_intent *in = view->intents->v[i];
        ssize_t row = db_plan_row(&pl, in->instance_uuid);
        switch (in->op) {
        case DB_OP_SPAWN:
            db_plan_spawn(&pl, in, row);
            break;
        case DB_OP_RESHAPE:
            db_plan_reshape(&pl, in, row);
            break;
        case DB_OP_DESTROY:
            db_plan_destroy(&pl, in, row);
            break;
        case DB_OP_HANDOVER:
            db_plan_handover(&pl, in, row);
            break;
        case DB_OP_MIGRATE: /* the compute manager's, with Nova's view of the move */
        case DB_OP_LAST:
            break;
        }
    }

    /* 3 and 4. Rows against guests; 5. rows against Nova. */
    for (size_t i = 0; i < nrows; i++) {
        const struct drv_instance *in = view->instances->v[i];
        const struct db_guest *g = db_plan_guest(&pl, in->domain, in->uuid);
        db_plan_see(&pl, g);
        if (pl.row_done[i])
            continue;
        const struct db_nova_instance *n = nova ? db_plan_nova(&pl, in->uuid) : NULL;
        if (nova && db_nova_gone(n)) {
            struct db_fix *f = db_plan_add(&pl, DB_FIX_NOVA_DELETED, in->uuid,
                                           g ? g->domain : in->domain,
                                           "Nova no longer has instance %s%s", in->uuid,
                                           g && pl.opts->reap_nova_deleted ? ": destroyed"
                                           : g ? ": guest left running" : "");
            f->destroy_domain = g && pl.opts->reap_nova_deleted;
            f->power = g ? g->power : DRV_POWER_NOSTATE;
            continue;
        }
        bool already_marked = in->power_state == DRV_POWER_NOSTATE && in->vm_state &&
                              strcmp(in->vm_state, "error") == 0;
        if (!g && !already_marked) {
            db_plan_add(&pl, DB_FIX_MARK_VANISHED, in->uuid, in->domain,
                        "the guest of instance %s (`%s`) is gone", in->uuid,
                        in->domain ? in->domain : "no domain");
        } else if (g && g->power != in->power_state) {
            struct db_fix *f = db_plan_add(&pl, DB_FIX_SYNC_POWER, in->uuid, g->domain,
                                           "power state `%s` recorded, the guest's is `%s`",
                                           drv_power_state_name(in->power_state),
                                           drv_power_state_name(g->power));
            f->power = g->power;
        }
    }

    /* 3. Pool members against guests. */
    for (size_t i = 0; view->members && i < view->members->n; i++) {
        const struct db_pool_member *m = view->members->v[i];
        const struct db_guest *g = db_plan_guest(&pl, m->domain, m->uuid);
        if (g) {
            db_plan_see(&pl, g);
            continue;
        }
        bool in_handover = false;
        for (size_t k = 0; view->intents && k < view->intents->n; k++)
            if (strcasecmp(view->intents->v[k]->member_uuid, m->uuid) == 0)
                in_handover = true;
        if (!in_handover)
            db_plan_add(&pl, DB_FIX_MEMBER_GONE, m->uuid, m->domain,
                        "pool member %s of `%s` has no guest", m->uuid, m->pool_key);
    }

    /* 2. Guests nothing accounts for. */
    for (size_t i = 0; i < nguests; i++)
        if (!pl.guest_seen[i])
            db_plan_unknown_guest(&pl, &guests[i]);

    /* 5. Instances Nova places here that nobody has. */
    for (size_t i = 0; nova && i < nnova; i++) {
        const struct db_nova_instance *n = &nova[i];
        if (db_nova_gone(n) || db_plan_row(&pl, n->uuid) >= 0 ||
            db_plan_guest(&pl, NULL, n->uuid))
            continue;
        db_plan_add(&pl, DB_FIX_NOVA_MISSING, n->uuid, NULL,
                    "Nova places instance %s (%s) here but there is no row and no guest",
                    n->uuid, n->vm_state ? n->vm_state : "?");
    }

    free(pl.guest_seen);
    free(pl.row_done);
    return pl.out;
}
