/* The legs of a move between hosts in this host's journal (DB_OP_MIGRATE
 * intents, compute_migrate.c): resize_instance records the source's copy
 * (`migrate_out`, then `handed over`), finish_resize the destination's
 * taking in (`migrate_in`, then `defined`).  db_reconcile() leaves them
 * open; after a crash the start-up recovery first finishes or rolls the
 * move back from Nova's task state (compute_resize.c), then closes each
 * open leg here as it ended -- and a destination whose taking in was cut
 * before its guest was defined removes what the source had copied for it,
 * which Nova's record does not tell. */
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "openstack/compute_migrate_priv.h"
#include "openstack/compute_priv.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_migrate_intents");

static bool step_is(const char *step, const char *want)
{
    return step && strcmp(step, want) == 0;
}

enum os_mig_intent_outcome os_mig_intent_outcome(const char *step, bool guest_here,
                                                 bool inst_found, const char *inst_host,
                                                 const char *host)
{
    if (step_is(step, OS_MIG_STEP_IN) || step_is(step, OS_MIG_STEP_DEFINED))
        return guest_here ? OS_MIG_INTENT_DONE : OS_MIG_INTENT_CLEANUP;
    if (step_is(step, OS_MIG_STEP_OUT) || step_is(step, OS_MIG_STEP_HANDED)) {
        bool here = inst_found && inst_host && strcmp(inst_host, host) == 0;
        return inst_found && !here ? OS_MIG_INTENT_DONE : OS_MIG_INTENT_ROLLED_BACK;
    }
    return OS_MIG_INTENT_ROLLED_BACK; /* not a leg this version records */
}

static const char *const outcome_text[OS_MIG_INTENT_LAST] = {
    [OS_MIG_INTENT_DONE] = "its part in place",
    [OS_MIG_INTENT_ROLLED_BACK] = "the instance stayed where it was",
    [OS_MIG_INTENT_CLEANUP] = "cut before the guest was defined: the copied files removed",
};

/* Close one open leg.  -1 with *err when Nova could not tell of the
 * instance (the intent stays open). */
static int intent_close(struct os_compute *c, const json_t *ctx, const struct db_intent *in,
                        struct err **err)
{
    const char *uuid = in->instance_uuid;
    json_auto_t *inst = NULL;
    bool guest = false;
    if (os_compute_instance_facts(c, ctx, uuid, &inst, &guest, err) < 0)
        return -1;
    enum os_mig_intent_outcome o =
        os_mig_intent_outcome(in->step, guest, inst != NULL,
                              inst ? ovo_get_str(inst, "host") : NULL, c->host);
    if (o == OS_MIG_INTENT_CLEANUP) {
        autoerr struct err *e = NULL;
        if (drv_hv_migrate_cleanup(c->hv, uuid, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "files copied for %s left", uuid);
    }
    autofree char *msg = xasprintf("closed at start-up: %s", outcome_text[o]);
    if (db_intent_finish(c->db, in->id,
                         o == OS_MIG_INTENT_DONE ? DB_INTENT_DONE : DB_INTENT_ROLLED_BACK, msg,
                         err) < 0)
        return err_wrap(err, "intent %lld not closed", (long long)in->id);
    log_info("interrupted `%s` leg of the move of %s: %s", in->step ? in->step : "?", uuid,
             outcome_text[o]);
    return 0;
}

void os_compute_migrate_intents_recover(struct os_compute *c)
{
    if (!c->db)
        return;
    autoerr struct err *e = NULL;
    autoptr(db_intent_list) l = db_intent_list_open(c->db, &e);
    if (!l) {
        log_err(LOG_LEVEL_WARN, e, "open legs of moves not read");
        return;
    }
    json_auto_t *ctx = NULL;
    for (size_t k = 0; k < l->n; k++) {
        const struct db_intent *in = l->v[k];
        if (in->op != DB_OP_MIGRATE)
            continue;
        if (!ctx)
            ctx = os_ctx_new_admin();
        log_ctx_set_instance(in->instance_uuid);
        autoerr struct err *e2 = NULL;
        if (intent_close(c, ctx, in, &e2) < 0)
            log_err(LOG_LEVEL_WARN, e2, "interrupted leg of a move left open: next start");
        log_ctx_set_instance(NULL);
    }
}
