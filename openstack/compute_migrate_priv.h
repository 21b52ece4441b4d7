/* The pure parts of compute_migrate.c, tested on their own. */
#ifndef SC_OPENSTACK_COMPUTE_MIGRATE_PRIV_H
#define SC_OPENSTACK_COMPUTE_MIGRATE_PRIV_H

#include <jansson.h>
#include <stdbool.h>

struct err;

/* The conductor's migrate_server arguments (1.20) that hand a resize
 * refused here to the next of prep_resize's alternates
 * (_reschedule_resize_or_reraise), `why` recorded in the retry; NULL when
 * prep_resize's arguments `args` give no retry or no alternates (nothing
 * to reschedule to) or lack the instance or flavor.  Caller frees. */
json_t *os_migrate_reschedule_args(const json_t *args, const char *why);
/* INVALID unless the arguments of leg `method` (resize_instance,
 * finish_resize, finish_revert_resize) carry a Migration naming both
 * hosts (and finish_resize the source's disk_info). */
int os_migrate_check_leg(const char *method, const json_t *args, struct err **err);

/* UNSUPPORTED unless `src_node`, the source's ComputeNode primitive,
 * reports the hypervisor_type `here` (this host's, as it reports it to
 * Nova; compared without case): each backend refuses the other's
 * disk_info at finish_resize, so a move across backends is refused at
 * prep_resize, where a refusal can still be rescheduled.  INVALID when
 * the source's node is not a ComputeNode or names no hypervisor_type.
 * Pure. */
int os_migrate_check_backend(const json_t *src_node, const char *here, struct err **err);

/* Whether a migration in `status` is still under way, as Nova's resource
 * tracker counts it (migration_get_in_progress_by_host_and_node: all but
 * confirmed, reverted, error, failed, completed, cancelled, done); a
 * migration without a status is.  Pure. */
bool os_migration_in_progress(const char *status);

/* What becomes of the admission a destination made for a move
 * (prep_resize), or of the row a restart found for it. */
enum os_move_claim_verdict {
    OS_MOVE_CLAIM_KEEP,       /* its migration is under way: asked again later */
    OS_MOVE_CLAIM_SETTLED,    /* the instance is on this host now: it is ours */
    OS_MOVE_CLAIM_NOT_A_MOVE, /* no move to this host behind it: left alone */
    OS_MOVE_CLAIM_GUEST_HERE, /* the move is over but a guest is defined here:
                               * left alone (an operator's call) */
    OS_MOVE_CLAIM_RELEASE,    /* the move is over, the instance elsewhere or
                               * gone: admission, row and staging files go */
    OS_MOVE_CLAIM_LAST,
};
/* What Nova and the hypervisor say of one instance (strings borrowed). */
struct os_move_claim_facts {
    const json_t *mig;        /* its latest migration naming this host (a
                               * Migration primitive), NULL: none */
    bool inst_found;          /* Nova has the instance (not deleted) */
    const char *inst_host;    /* its host, NULL when none */
    bool guest_here;          /* the hypervisor here has its guest */
};
/* The verdict for this host `host`.  Pure. */
enum os_move_claim_verdict os_move_claim_decide(const struct os_move_claim_facts *f,
                                                const char *host);
const char *os_move_claim_verdict_name(enum os_move_claim_verdict v);

/* The steps a leg's intent (DB_OP_MIGRATE) records: the source's copy
 * begun and done (resize_instance), the destination's taking in begun and
 * its guest defined (finish_resize). */
#define OS_MIG_STEP_OUT "migrate_out"
#define OS_MIG_STEP_HANDED "handed over"
#define OS_MIG_STEP_IN "migrate_in"
#define OS_MIG_STEP_DEFINED "defined"

/* How a restart closes a leg's intent that a crash left open. */
enum os_mig_intent_outcome {
    OS_MIG_INTENT_DONE,        /* the leg's part is in place (guest here, or handed over) */
    OS_MIG_INTENT_ROLLED_BACK, /* the instance stayed (or went back) where it was */
    OS_MIG_INTENT_CLEANUP,     /* rolled back, and what the source copied here goes
                                * (drv_hv_migrate_cleanup): taking in was cut short */
    OS_MIG_INTENT_LAST,
};
/* The outcome for an open intent at `step` on host `host`, once the
 * start-up recovery ran: `guest_here` whether the hypervisor has the
 * instance's guest, `inst_found`/`inst_host` what Nova says of it now.
 * Pure. */
enum os_mig_intent_outcome os_mig_intent_outcome(const char *step, bool guest_here,
                                                 bool inst_found, const char *inst_host,
                                                 const char *host);

#endif
