/* What a resize's legs share (compute_resize.c: on this host;
 * compute_migrate.c: between two hosts): one request's instance and
 * migration, and the saves, faults and state changes Nova's legs make. */
#ifndef SC_OPENSTACK_COMPUTE_RESIZE_PRIV_H
#define SC_OPENSTACK_COMPUTE_RESIZE_PRIV_H

#include <jansson.h>
#include <stdbool.h>

#include "openstack/rpc_server.h"

struct err;
struct os_compute;
struct os_inst;

/* One resize request: its instance and its migration (a copy, saved as it
 * goes). */
struct os_rz {
    struct os_compute *c;
    struct os_inst *i;  /* owned unless `borrowed` */
    bool borrowed;
    json_t *mig;        /* owned */
};

/* The request's instance and Migration (INVALID without them); release
 * with os_rz_release() whatever it returns. */
int os_rz_open(struct os_rz *r, struct os_rpc_req *req, struct err **err);
void os_rz_release(struct os_rz *r);
/* Whether Nova's migration is in one of `want` (NULL-terminated) now; a
 * stale request (delivered again after a restart) is logged. */
bool os_rz_current(struct os_rz *r, const char *method, const char *const *want);
/* Migration.save with `status` (NULL: unchanged). */
int os_rz_mig_save(struct os_rz *r, const char *status, struct err **err);
/* errors_out_migration (logged). */
void os_rz_mig_error(struct os_rz *r);
/* Instance.save, expecting task state `expected` (NULL: any). */
int os_rz_save(struct os_rz *r, const char *expected, struct err **err);
/* system_metadata's old_vm_state set to v (NULL: removed), not saved. */
void os_rz_old_vm_state(struct os_rz *r, const char *v);
/* Whether the server was stopped when the resize or move began (its
 * old_vm_state): it stays off at the end, whichever way the move ends. */
bool os_rz_was_stopped(const struct os_rz *r);
/* _prep_resize's record on the destination: the new flavor and the state
 * to come back to, saved. */
int os_rz_prep_record(struct os_rz *r, const json_t *flavor, struct err **err);
/* The instance's flavor fields become `flavor`'s (not saved). */
int os_rz_set_flavor(struct os_rz *r, const json_t *flavor, struct err **err);
/* Instance.drop_migration_context. */
int os_rz_drop_context(struct os_rz *r, struct err **err);
/* The instance's MigrationContext names the migration (saved). */
int os_rz_set_context(struct os_rz *r, struct err **err);
/* A leg done: tracker, database and action event. */
void os_rz_done(struct os_rz *r, const char *event);
/* power_state from the hypervisor (not saved). */
void os_rz_power_state(struct os_rz *r);
/* A leg failed: fault, task state reverted (vm_state set when not NULL),
 * event failed, migration in error.  Returns -1. */
int os_rz_fail(struct os_rz *r, const char *event, const char *vm_state, struct err **err);
/* A prep_resize refused before anything changed: the migration's
 * allocations back to the instance, new_flavor and old_vm_state dropped,
 * then os_rz_fail.  Returns -1. */
int os_rz_prep_fail(struct os_rz *r, struct err **err);

/* compute_migrate.c: the legs of a resize or cold migration between two
 * hosts.  prep_resize, confirm_resize and revert_resize come to
 * compute_resize.c, which hands them here when the instance moves. */
int os_compute_migrate_prep(struct os_rpc_req *req, struct err **err);
int os_compute_migrate_confirm(struct os_rz *r, struct err **err);
int os_compute_migrate_revert(struct os_rz *r, struct err **err);
/* At start, a move between hosts a restart interrupted (task `task`):
 * rolled back on the source before the guest left, given back to the
 * source by a destination without the guest; 1 when handled (failures
 * logged), 0 when the same-host resize's recovery finishes it. */
int os_compute_migrate_recover(struct os_rz *r, const char *task);
/* Whether migration `mig` moves the instance to another host. */
bool os_compute_migration_moves(const json_t *mig);

#endif
