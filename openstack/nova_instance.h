/* Nova's Instance as a compute handles it: the primitive decoded into the
 * driver's struct, the state transitions saved through the conductor with
 * Nova's expected_task_state guards, instance action events, and faults
 * (what @wrap_instance_event, @wrap_instance_fault and @reverts_task_state
 * do around nova-compute's methods).
 *
 * An os_inst keeps the primitive it came with and sends it back, changed,
 * with every save: the Python compute does the same, and the conductor's
 * save handlers act on nested objects too.
 *
 * Thread: one os_inst belongs to the RPC worker handling the request.
 */
#ifndef SC_OPENSTACK_NOVA_INSTANCE_H
#define SC_OPENSTACK_NOVA_INSTANCE_H

#include <jansson.h>
#include <stdbool.h>

#include "common/alloc.h"
#include "driver/instance.h"

struct err;
struct os_conductor;

/* Decode a Flavor primitive into f (released first by the caller). */
int os_flavor_decode(const json_t *prim, struct drv_flavor *f, struct err **err);

/* Decode an Instance primitive (validated: Zed versions at most).  Returns
 * a new instance or NULL with *err (ERR_INVALID, ERR_UNSUPPORTED). */
struct drv_instance *os_instance_decode(const json_t *prim, struct err **err);

/* A request's instance. */
struct os_inst {
    json_t *prim;                /* owned: the Instance primitive, kept current */
    struct drv_instance *inst;   /* owned: decoded */
    const json_t *ctx;           /* borrowed: the request's context */
    struct os_conductor *cond;   /* borrowed */
    const char *host;            /* borrowed: this compute */
};

/* Wrap the `instance` argument of a request.  NULL with *err when missing
 * or malformed. */
struct os_inst *os_inst_new(const json_t *prim, const json_t *ctx, struct os_conductor *cond,
                            const char *host, struct err **err);
void os_inst_free(struct os_inst *i);
DEFINE_AUTOPTR(os_inst)

/* Expected task states for a guarded save: a NULL-terminated list where
 * OS_TASK_NONE stands for Python's None. */
extern const char OS_TASK_NONE[];

/* Save the fields set since the last save.  `expected` (NULL: no guard)
 * lists task states the instance must be in, OS_TASK_NONE for None;
 * when `expected` is not NULL and empty is not meant, pass at least one.
 * ERR_CONFLICT when the guard failed (UnexpectedTaskStateError, or
 * UnexpectedDeletingTaskStateError: *deleting set when given). */
int os_inst_save(struct os_inst *i, const char *const *expected, bool *deleting,
                 struct err **err);

/* Setters that mark the field for the next save (NULL string -> None). */
void os_inst_set_str(struct os_inst *i, const char *field, const char *v);
void os_inst_set_int(struct os_inst *i, const char *field, int64_t v);
/* Set launched_at/terminated_at style fields to now. */
void os_inst_set_now(struct os_inst *i, const char *field);

/* vm_state / task_state / power_state as held now. */
const char *os_inst_vm_state(const struct os_inst *i);
const char *os_inst_task_state(const struct os_inst *i);
const char *os_inst_uuid(const struct os_inst *i);

/* InstanceActionEvent.event_start / event_finish_with_failure for event
 * `name` ("compute_stop_instance").  `failure` NULL: Success.  Errors are
 * logged, not returned: a missing action must not fail the operation. */
void os_inst_event_start(struct os_inst *i, const char *name);
void os_inst_event_finish(struct os_inst *i, const char *name, const struct err *failure);

/* The HTTP-style code a fault on the instance gets for `failure`: 404
 * for ERR_NOT_FOUND, 400 for ERR_INVALID, else 500 (NovaException's). */
int os_fault_code_of(const struct err *failure);

/* InstanceFault.create with the error's message (code: 500 unless the
 * error says otherwise).  Logged, not returned. */
void os_inst_fault(struct os_inst *i, const struct err *failure);
/* The same with the message and code of a Nova exception (its kwargs'
 * code, as Zed's exception_to_dict reads it). */
void os_inst_fault_as(struct os_inst *i, const char *msg, int code);

/* Instance.destroy (the row goes to deleted).  0 or -1. */
int os_inst_destroy(struct os_inst *i, struct err **err);

#endif
