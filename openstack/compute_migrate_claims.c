/* The admission a destination makes for a move (prep_resize) outlives the
 * move when the source gives up on its own: resize_instance fails there
 * (the copy refused, the guest started again), the migration goes to
 * `error` and nothing is sent here.  Nova's destination drops such a move
 * claim because its resource tracker's periodic update counts only the
 * migrations in progress (_update_usage_from_migrations over
 * MigrationList.get_in_progress_by_host_and_node).  sculpt's engine holds
 * admissions until told, so each claim is noted at prep_resize and asked
 * of Nova by the periodic thread until the instance is here (the claim is
 * then an instance's like any other) or its move is over elsewhere (the
 * admission, the tracker's entry, the row and the files the source's copy
 * left are released).  After a restart the engine holds nothing, but the
 * row prep_resize wrote is still there: the recovery notes rows Nova does
 * not place here, and the first pass sorts them the same way. */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/keylock.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_migrate_priv.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_resize_priv.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_migrate_claims");

bool os_migration_in_progress(const char *status)
{
    static const char *const over[] = {"confirmed", "reverted", "error",  "failed",
                                       "completed", "cancelled", "done"};
    if (!status)
        return true;
    for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++)
        if (strcmp(status, over[i]) == 0)
            return false;
    return true;
}

static const char *const claim_verdicts[OS_MOVE_CLAIM_LAST] = {
    [OS_MOVE_CLAIM_KEEP] = "its migration is under way",
    [OS_MOVE_CLAIM_SETTLED] = "the instance is here",
    [OS_MOVE_CLAIM_NOT_A_MOVE] = "no move to this host",
    [OS_MOVE_CLAIM_GUEST_HERE] = "its move is over but its guest is defined here",
    [OS_MOVE_CLAIM_RELEASE] = "its move is over, the instance elsewhere",
};

const char *os_move_claim_verdict_name(enum os_move_claim_verdict v)
{
    return v >= 0 && v < OS_MOVE_CLAIM_LAST ? claim_verdicts[v] : "?";
}

enum os_move_claim_verdict os_move_claim_decide(const struct os_move_claim_facts *f,
                                                const char *host)
{
    const char *dst = f->mig ? ovo_get_str(f->mig, "dest_compute") : NULL;
    if (!f->mig || !dst || strcmp(dst, host) != 0 || !os_compute_migration_moves(f->mig))
        return OS_MOVE_CLAIM_NOT_A_MOVE;
    if (f->inst_found && f->inst_host && strcmp(f->inst_host, host) == 0)
        return OS_MOVE_CLAIM_SETTLED;
    if (os_migration_in_progress(ovo_get_str(f->mig, "status")))
        return OS_MOVE_CLAIM_KEEP;
    if (f->guest_here)
        return OS_MOVE_CLAIM_GUEST_HERE;
    return OS_MOVE_CLAIM_RELEASE;
}

void os_compute_move_claim_note(struct os_compute *c, const char *uuid)
{
    pthread_mutex_lock(&c->lock);
    size_t i = 0;
    while (i < c->nmoves_in && strcmp(c->moves_in[i].uuid, uuid) != 0)
        i++;
    if (i == c->nmoves_in) {
        c->moves_in = xreallocarray(c->moves_in, c->nmoves_in + 1, sizeof(*c->moves_in));
        snprintf(c->moves_in[i].uuid, sizeof(c->moves_in[i].uuid), "%s", uuid);
        c->moves_in[i].gen = 0;
        c->nmoves_in++;
        c->moves_in_new = true; /* the periodic thread asks at 10 s from now on */
        pthread_cond_broadcast(&c->cond);
    } else {
        c->moves_in[i].gen++; /* another move: a pass's answer may be older */
    }
    pthread_mutex_unlock(&c->lock);
}

void os_compute_move_claim_drop(struct os_compute *c, const char *uuid)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nmoves_in; i++) {
        if (strcmp(c->moves_in[i].uuid, uuid) == 0) {
            memmove(&c->moves_in[i], &c->moves_in[i + 1],
                    (c->nmoves_in - i - 1) * sizeof(*c->moves_in));
            c->nmoves_in--;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

bool os_compute_move_claim_current(struct os_compute *c, const struct os_move_claim *m)
{
    pthread_mutex_lock(&c->lock);
    bool same = false;
    for (size_t i = 0; i < c->nmoves_in && !same; i++)
        same = strcmp(c->moves_in[i].uuid, m->uuid) == 0 && c->moves_in[i].gen == m->gen;
    pthread_mutex_unlock(&c->lock);
    return same;
}

int os_compute_move_release(struct os_compute *c, const char *uuid, bool staging,
                            struct err **err)
{
    if (drv_hv_destroy(c->hv, uuid, false, err) < 0) {
        if (err_code_of(*err) != ERR_NOT_FOUND)
            return err_wrap(err, "guest of %s not destroyed", uuid);
        err_clear(err);
    }
    os_compute_engine_forget(c, uuid);
    os_compute_untrack(c, uuid);
    os_compute_record_deleted(c, uuid);
    os_compute_move_claim_drop(c, uuid);
    if (staging) {
        autoerr struct err *e = NULL;
        if (drv_hv_migrate_cleanup(c->hv, uuid, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "files of the move of %s left", uuid);
    }
    pthread_mutex_lock(&c->lock);
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* Nova's answer for one claim: 0 with *v, -1 with *err (asked again). */
static int claim_look(struct os_compute *c, const json_t *ctx, const char *uuid,
                      enum os_move_claim_verdict *v, json_t **mig_out, struct err **err)
{
    /* the newest first, as the API lists them (created_at, id desc) */
    json_auto_t *list = os_conductor_class_action(
        &c->conductor, ctx, "MigrationList", "get_by_filters",
        json_pack("[{s:s, s:s}]", "instance_uuid", uuid, "host", c->host),
        json_pack("{s:[s, s], s:[s, s], s:i}", "sort_keys", "created_at", "id", "sort_dirs",
                  "desc", "desc", "limit", 1),
        NULL, err);
    if (!list)
        return err_wrap(err, "migrations of %s not read", uuid);
    json_t *objs = ovo_list_objects(list);
    json_t *mig = json_array_size(objs) > 0 ? json_array_get(objs, 0) : NULL;
    if (mig && !ovo_is(mig, "Migration"))
        return err_set(err, ERR_INVALID, "migrations of %s: not a Migration", uuid);
    bool gone = false;
    json_auto_t *inst = NULL;
    if (mig) {
        /* read after the migration: a move finished meanwhile shows here */
        inst = os_compute_instance_now(c, ctx, uuid, NULL, &gone, err);
        if (!inst && !gone)
            return err_wrap(err, "instance %s not read", uuid);
        err_clear(err);
    }
    struct drv_hv_info info;
    struct os_move_claim_facts f = {
        .mig = mig,
        .inst_found = inst != NULL,
        .inst_host = inst ? ovo_get_str(inst, "host") : NULL,
        .guest_here = drv_hv_get_info(c->hv, uuid, &info, NULL) == 0,
    };
    *v = os_move_claim_decide(&f, c->host);
    *mig_out = mig ? json_incref(mig) : NULL;
    return 0;
}

/* Act on verdict `v` for claim `m` (not KEEP), holding the instance's RPC
 * lock: a prep_resize of the same instance is then either done, and has
 * noted the claim again (so `v`, read before, is stale and waits for the
 * next pass), or not begun, and admits after the release. */
static void claim_act(struct os_compute *c, const struct os_move_claim *m,
                      enum os_move_claim_verdict v, const json_t *mig)
{
    const char *uuid = m->uuid;
    struct keylock *il = keylock_acquire(c->inst_locks, uuid);
    autoerr struct err *e = NULL;
    if (!os_compute_move_claim_current(c, m)) {
        log_debug("move claim of %s noted again meanwhile: next pass", uuid);
    } else if (v == OS_MOVE_CLAIM_RELEASE) {
        if (os_compute_move_release(c, uuid, true, &e) < 0) {
            log_err(LOG_LEVEL_WARN, e, "move claim of %s not released: next pass", uuid);
        } else {
            log_info("admission for migration %s released: %s (migration %s)",
                     ovo_get_str(mig, "uuid") ? ovo_get_str(mig, "uuid") : "?",
                     os_move_claim_verdict_name(v),
                     ovo_get_str(mig, "status") ? ovo_get_str(mig, "status") : "?");
        }
    } else {
        if (v == OS_MOVE_CLAIM_GUEST_HERE)
            log_warn("move claim of %s kept: %s", uuid, os_move_claim_verdict_name(v));
        else
            log_debug("move claim of %s settled: %s", uuid, os_move_claim_verdict_name(v));
        os_compute_move_claim_drop(c, uuid);
    }
    keylock_release(c->inst_locks, il);
}

void os_compute_move_claims_check(struct os_compute *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->nmoves_in;
    struct os_move_claim *claims = n ? xcalloc(n, sizeof(*claims)) : NULL;
    if (n)
        memcpy(claims, c->moves_in, n * sizeof(*claims));
    pthread_mutex_unlock(&c->lock);
    /* Nova is asked without the instance's lock: its RPCs do not wait
     * on the conductor's answers here */
    json_auto_t *ctx = n ? os_ctx_new_admin() : NULL;
    for (size_t k = 0; k < n; k++) {
        const char *uuid = claims[k].uuid;
        log_ctx_set_instance(uuid);
        autoerr struct err *e = NULL;
        json_auto_t *mig = NULL;
        enum os_move_claim_verdict v;
        if (claim_look(c, ctx, uuid, &v, &mig, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "move claim of %s not checked: next pass", uuid);
        else if (v != OS_MOVE_CLAIM_KEEP)
            claim_act(c, &claims[k], v, mig);
        log_ctx_set_instance(NULL);
    }
    free(claims);
}
