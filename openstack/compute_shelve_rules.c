/* The decisions of shelving that depend on states alone (compute_shelve.h):
 * which request a redelivered RPC still is, and how a restart finishes
 * what a crash interrupted.  Pure, so every rule is unit tested. */
#include <string.h>

#include "openstack/compute_shelve.h"

static bool eq(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

bool os_shelve_task_is_shelving(const char *task)
{
    return eq(task, "shelving") || eq(task, "shelving_image_pending_upload") ||
           eq(task, "shelving_image_uploading");
}

enum os_shelve_go os_shelve_check(enum os_shelve_op op, const char *vm, const char *task)
{
    if (eq(task, "deleting") || eq(task, "soft-deleting") || eq(vm, "deleted"))
        return OS_SHELVE_GO_GONE;
    switch (op) {
    case OS_SHELVE_OP_SHELVE:
        /* the API set `shelving`; anything else: a restart settled it */
        return eq(task, "shelving") ? OS_SHELVE_GO_ON : OS_SHELVE_GO_SETTLED;
    case OS_SHELVE_OP_OFFLOAD:
        /* shelve_offload from the API (shelved, shelving_offloading) or
         * for a volume-backed shelve (shelving) */
        if (eq(task, "shelving_offloading") || eq(task, "shelving"))
            return OS_SHELVE_GO_ON;
        return OS_SHELVE_GO_SETTLED;
    case OS_SHELVE_OP_UNSHELVE:
        /* unshelving from the API, spawning when a crash cut an earlier
         * delivery before its claim put the instance on a host */
        if (eq(vm, "shelved_offloaded") && (eq(task, "unshelving") || eq(task, "spawning")))
            return OS_SHELVE_GO_ON;
        return OS_SHELVE_GO_SETTLED;
    }
    return OS_SHELVE_GO_SETTLED;
}

enum os_shelve_fix os_shelve_recover_plan(const char *vm, const char *task, bool guest,
                                          bool guest_running)
{
    if (os_shelve_task_is_shelving(task) && !eq(vm, "shelved") && !eq(vm, "shelved_offloaded"))
        /* stopped before the shelve was saved: no shelved image recorded,
         * the instance goes back to what it was */
        return guest ? OS_SHELVE_FIX_UNDO_SHELVE : OS_SHELVE_FIX_CLEAR_TASK;
    if (eq(task, "shelving_offloading"))
        /* shelved; the offload (at once, or asked) is finished */
        return OS_SHELVE_FIX_OFFLOAD;
    if (eq(vm, "shelved_offloaded") && (eq(task, "spawning") || eq(task, "unshelving")))
        return guest && guest_running ? OS_SHELVE_FIX_FINISH_UNSHELVE : OS_SHELVE_FIX_UNDO_UNSHELVE;
    if (eq(vm, "shelved_offloaded") && !task && !guest)
        /* offloaded, but the save that takes it off this host was cut */
        return OS_SHELVE_FIX_LEAVE_HOST;
    return OS_SHELVE_FIX_NONE;
}

bool os_shelve_offload_now(int64_t shelved_offload_time)
{
    return shelved_offload_time == 0;
}

bool os_shelve_offload_due(int64_t shelved_offload_time, int64_t shelved_at_s, int64_t now_s)
{
    return shelved_offload_time > 0 && shelved_at_s > 0 &&
           now_s - shelved_at_s > shelved_offload_time;
}
