/* Start-up reconciliation: the database, the hypervisor and Nova compared,
 * each difference logged and fixed.
 *
 * Three views meet here:
 *   - the database: live instance rows, open intents (operations a crash
 *     interrupted), live pool members -- loaded with db_view_load();
 *   - the hypervisor: the guests it has (a plain list the caller builds
 *     from its backend, so this module depends on no backend);
 *   - Nova: the instances it believes run on this host (optional: NULL
 *     until the caller can ask the conductor).
 *
 * db_reconcile_plan() is pure -- it only compares -- so every rule is unit
 * tested on hand-made lists.  db_reconcile_apply() carries the plan out:
 * database fixes itself, hypervisor fixes through the caller's ops (a
 * destroy, a shape re-applied).  db_reconcile() does all three steps.
 *
 * The rules, in order:
 *   1. An open intent is completed when its effect is in place and rolled
 *      back when it is not:
 *        spawn    guest running or paused -> COMPLETE (row gets its state);
 *                 guest defined but not running -> ROLL_BACK (destroy it,
 *                 instance to vm_state "error"); no guest -> ROLL_BACK
 *                 (instance to "error");
 *        reshape  guest shape == `to` -> COMPLETE (row takes `to`, a reshape
 *                 record is written once); otherwise -> ROLL_BACK (re-apply
 *                 `from`, the shape the guest last ran in); no guest: the
 *                 intent is closed FAILED and the row handled by rule 3;
 *        destroy  guest still there -> COMPLETE (destroy it, mark deleted);
 *                 gone -> COMPLETE (mark deleted);
 *        handover instance's domain present -> COMPLETE (member handed over,
 *                 row kept); otherwise -> ROLL_BACK (member released and its
 *                 domain destroyed if present, instance to "error").
 *   2. A guest no row or member knows is ADOPTed when it is sculpt's (the
 *      backend says so, or its domain name starts with the configured
 *      prefix, or Nova lists its uuid), otherwise REPORTed and left alone.
 *   3. A live row whose guest is gone is MARK_VANISHED (power NOSTATE,
 *      vm_state "error"); a live member whose domain is gone, MEMBER_GONE.
 *   4. A row whose power state differs from the guest's takes the guest's
 *      (SYNC_POWER).
 *   5. With Nova's view: an instance Nova places here that neither the
 *      database nor the hypervisor has is NOVA_MISSING (reported: the
 *      caller tells Nova); a guest whose instance Nova no longer has (or has
 *      as "deleted") is NOVA_DELETED (destroyed only with reap_nova_deleted).
 *
 * Guests are matched to rows by domain name first, then by uuid (a handed
 * over pool member keeps its domain uuid under the instance's name).
 */
#ifndef SC_DB_RECONCILE_H
#define SC_DB_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* What the hypervisor has (borrowed strings). */
struct db_guest {
    char uuid[DRV_UUID_LEN + 1];
    const char *domain;
    enum drv_power_state power;  /* RUNNING, PAUSED, SHUTDOWN (defined, off) ... */
    bool has_shape;              /* the backend could read the shape back */
    struct drv_shape shape;
    bool ours;                   /* the backend knows it as sculpt's (its metadata) */
};

/* What Nova believes runs on this host (borrowed strings). */
struct db_nova_instance {
    char uuid[DRV_UUID_LEN + 1];
    const char *vm_state;        /* "active", "building", "deleted", ... */
    const char *task_state;      /* NULL: none */
};

/* The database's side, loaded in one read. */
struct db_view {
    struct db_instance_list *instances;   /* live rows (not deleted) */
    struct db_intent_list *intents;       /* open intents */
    struct db_pool_member_list *members;  /* live members */
};
void db_view_free(struct db_view *v);
DEFINE_AUTOPTR(db_view)
/* Caller frees with db_view_free(). */
struct db_view *db_view_load(struct db *db, struct err **err);

enum db_fix_kind {
    DB_FIX_COMPLETE,      /* an interrupted operation whose effect is in place */
    DB_FIX_ROLL_BACK,     /* an interrupted operation undone */
    DB_FIX_ADOPT,         /* a guest of ours no row knew: row added */
    DB_FIX_REPORT,        /* a guest not ours: left alone, reported */
    DB_FIX_MARK_VANISHED, /* a row whose guest is gone */
    DB_FIX_MEMBER_GONE,   /* a pool member whose domain is gone */
    DB_FIX_SYNC_POWER,    /* the row takes the guest's power state */
    DB_FIX_NOVA_MISSING,  /* Nova places an instance here we do not have */
    DB_FIX_NOVA_DELETED,  /* we run a guest Nova deleted */
    DB_FIX_LAST,
};
const char *db_fix_kind_name(enum db_fix_kind k); /* "complete", "roll_back", ... */

struct db_fix {
    enum db_fix_kind kind;
    char uuid[DRV_UUID_LEN + 1];  /* the instance (or member) concerned */
    char *domain;                 /* its domain; NULL when none */
    int64_t intent_id;            /* COMPLETE / ROLL_BACK: the intent; 0 otherwise */
    enum db_op op;                /* the intent's operation */
    bool destroy_domain;          /* the fix destroys `domain` on the hypervisor */
    bool apply_shape;             /* the fix (re-)applies `shape` to `domain` */
    struct drv_shape shape;
    enum drv_power_state power;   /* the guest's power state (when it has one) */
    char *why;                    /* one line for the log and the event log */
    struct drv_shape from;        /* COMPLETE reshape: the shape before (for its record) */
    bool has_redo;                /* ROLL_BACK reshape: `redo` is applied before `shape` */
    struct drv_shape redo;        /* the guest as read back with the interrupted reshape's
                                     balloon target: a balloon reads back its actual size,
                                     so only a change makes the roll-back set it back */
    char member_uuid[DRV_UUID_LEN + 1]; /* hand-over: the pool member */
    char *vm_state;               /* ADOPT: Nova's vm_state; NULL: "active" */
    bool row_missing;             /* COMPLETE spawn/hand-over: no instance row (the
                                     write was lost): a minimal one is made */
};

struct db_fix_list {
    struct db_fix *v;
    size_t n;
};
void db_fix_list_free(struct db_fix_list *l);
DEFINE_AUTOPTR(db_fix_list)

struct db_reconcile_opts {
    const char *domain_prefix;    /* names of sculpt's domains ("instance-"); NULL: none */
    bool reap_nova_deleted;       /* destroy guests Nova deleted (nova's
                                     running_deleted_instance_action = reap) */
};

/* Compare the views.  nova may be NULL (unknown: rule 5 is skipped).
 * Never fails; caller frees with db_fix_list_free(). */
struct db_fix_list *db_reconcile_plan(const struct db_view *view, const struct db_guest *guests,
                                      size_t nguests, const struct db_nova_instance *nova,
                                      size_t nnova, const struct db_reconcile_opts *opts);

/* The hypervisor side of the fixes, provided by the caller (sculpt-compute
 * wires its backend here). */
struct db_reconcile_ops {
    void *ctx;
    /* Stop (if running) and undefine the domain, its disks too. */
    int (*destroy)(void *ctx, const char *domain, struct err **err);
    /* Apply a shape live. */
    int (*apply_shape)(void *ctx, const char *domain, const struct drv_shape *shape,
                       struct err **err);
};

/* Carry out every fix: the hypervisor part through ops (ops NULL: fixes
 * needing the hypervisor are left to the caller and logged so), then the
 * database part, each fix's rows in one transaction, each fix logged and
 * recorded as an event (source "reconcile").  A fix that fails is logged
 * and the others go on.  Returns the number of fixes that failed (0: all
 * done), or -1 with *err when the database is unavailable.  Waits for
 * every write (db_sync). */
int db_reconcile_apply(struct db *db, const struct db_fix_list *fixes,
                       const struct db_reconcile_ops *ops, struct err **err);

/* Load, plan, apply.  Returns the plan (caller frees) or NULL with *err
 * when the database could not be read or written.  *failed (may be NULL)
 * gets the number of fixes that failed. */
struct db_fix_list *db_reconcile(struct db *db, const struct db_guest *guests, size_t nguests,
                                 const struct db_nova_instance *nova, size_t nnova,
                                 const struct db_reconcile_opts *opts,
                                 const struct db_reconcile_ops *ops, int *failed,
                                 struct err **err);

/* db_reconcile() against a hypervisor backend (driver/hypervisor.h): its
 * guests from drv_hv_list() (sculpt's own recognised by `ours`), fixes
 * carried out with drv_hv_destroy() and drv_hv_reshape().  What
 * sculpt-compute calls at start-up, before it serves RPCs. */
struct drv_hv;
struct db_fix_list *db_reconcile_hypervisor(struct db *db, struct drv_hv *hv,
                                            const struct db_nova_instance *nova, size_t nnova,
                                            const struct db_reconcile_opts *opts, int *failed,
                                            struct err **err);

#endif
