/* Shelving (openstack/compute_shelve*.c): shelve_instance,
 * shelve_offload_instance and unshelve_instance as nova's ComputeManager
 * does them, the timed offload of [DEFAULT] shelved_offload_time, and
 * what a restart does about one a crash interrupted. */
#ifndef SC_OPENSTACK_COMPUTE_SHELVE_H
#define SC_OPENSTACK_COMPUTE_SHELVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "openstack/rpc_server.h"

struct err;
struct os_compute;
struct os_inst;
struct drv_hv_info;

int os_compute_shelve_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_shelve_offload_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_unshelve_instance(struct os_rpc_req *req, json_t **result, struct err **err);

/* start_instance of a SHELVED instance (the conductor's unshelve of one
 * not offloaded), as nova's start_instance: its shelved image deleted and
 * the shelved_* keys dropped from i's system_metadata (saved with the
 * start's save).  Nothing for an instance that was not shelved. */
void os_compute_shelved_started(struct os_compute *c, struct os_inst *i);

/* ---- compute_shelve_rules.c: pure ---- */

enum os_shelve_op { OS_SHELVE_OP_SHELVE, OS_SHELVE_OP_OFFLOAD, OS_SHELVE_OP_UNSHELVE };

/* What a request finds when it reads the instance as Nova has it now. */
enum os_shelve_go {
    OS_SHELVE_GO_ON,      /* the request's task is under way: do it */
    OS_SHELVE_GO_SETTLED, /* already done or undone (a redelivery after a restart) */
    OS_SHELVE_GO_GONE,    /* deleted or being deleted */
};
/* The request `op`, the instance's vm_state and task_state now (NULL:
 * None). */
enum os_shelve_go os_shelve_check(enum os_shelve_op op, const char *vm, const char *task);

/* One of the task states of a shelve before it is saved SHELVED. */
bool os_shelve_task_is_shelving(const char *task);

/* At start, for an instance Nova places on this host. */
enum os_shelve_fix {
    OS_SHELVE_FIX_NONE,            /* not shelving */
    OS_SHELVE_FIX_CLEAR_TASK,      /* shelve cut, no guest: task state cleared */
    OS_SHELVE_FIX_UNDO_SHELVE,     /* shelve cut before SHELVED: guest back as it was */
    OS_SHELVE_FIX_OFFLOAD,         /* SHELVED, offload under way: finish it */
    OS_SHELVE_FIX_FINISH_UNSHELVE, /* unshelve's guest runs: ACTIVE */
    OS_SHELVE_FIX_UNDO_UNSHELVE,   /* unshelve cut before its guest ran: offloaded again */
    OS_SHELVE_FIX_LEAVE_HOST,      /* SHELVED_OFFLOADED still on this host (the offload's
                                    * last save cut): host and node None */
};
/* For an instance Nova places on this host.  `guest`: its guest is on
 * this host; `guest_running`: it runs. */
enum os_shelve_fix os_shelve_recover_plan(const char *vm, const char *task, bool guest,
                                          bool guest_running);

/* [DEFAULT] shelved_offload_time: 0 offloads at once, -1 never, N > 0
 * after N seconds shelved (checked by the periodic task). */
bool os_shelve_offload_now(int64_t shelved_offload_time);
bool os_shelve_offload_due(int64_t shelved_offload_time, int64_t shelved_at_s, int64_t now_s);

/* ---- compute_shelve_state.c: pure ---- */

/* The image property that carries a shelved guest's predictor state. */
#define OS_SHELVE_STATE_PROPERTY "sculpt_predictor_state"
/* A predictor state (drv_control_states) as the property's text (caller
 * frees); NULL with *err. */
char *os_shelve_state_encode(const unsigned char *state, size_t len, struct err **err);
/* The state back from the text (at most `max` bytes: drv_predictor_state_max;
 * caller frees), *len its length; NULL with *err ERR_INVALID when the text
 * is not one or is damaged. */
unsigned char *os_shelve_state_decode(const char *text, size_t max, size_t *len, struct err **err);

/* ---- compute_shelve.c, compute_shelve_poll.c ---- */

/* Start-up: what os_shelve_recover_plan() says for instance i (g: its
 * guest, NULL when none).  1 when the instance was shelving (handled,
 * failures logged), 0 otherwise. */
int os_compute_shelve_recover(struct os_compute *c, struct os_inst *i, const struct drv_hv_info *g);

/* One pass of _poll_shelved_instances: SHELVED instances on this host
 * whose shelved_at is older than shelved_offload_time are offloaded
 * (shelving_offloading, then shelve_offload_instance cast to this host).
 * Periodic thread; failures logged and retried at the next pass. */
void os_compute_shelve_poll(struct os_compute *c);

#endif
