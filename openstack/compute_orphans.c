/* Allocations Placement holds against this host's provider for instances
 * that are gone: the resource tracker's _remove_deleted_instances_allocations
 * (nova/compute/resource_tracker.py), run by the periodic thread.  The
 * scheduler allocates before a build reaches us and a delete that missed
 * us (a crash, Nova's local delete while we were down) may leave them
 * behind: Placement then counts capacity nobody uses.
 *
 * Nova's rule, kept as it is: only an instance Nova has deleted (and not
 * hidden by a cross-cell move) loses its allocations.  A consumer Nova
 * does not know (a build racing its own creation, a migration), one not
 * yet on a host (scheduled here, not started), one on this host that we
 * do not track (a claim in flight) and one now on another host (its move
 * cleans up) keep theirs; the last two are logged. */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "openstack/compute_priv.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"

LOG_INIT("openstack.compute_orphans");

static const char *const os_orphan_verdicts[OS_ORPHAN_LAST] = {
    [OS_ORPHAN_KEEP_TRACKED] = "tracked here",
    [OS_ORPHAN_KEEP_UNKNOWN] = "no such instance in Nova",
    [OS_ORPHAN_RELEASE] = "instance deleted",
    [OS_ORPHAN_KEEP_HIDDEN] = "deleted but hidden (cross-cell move)",
    [OS_ORPHAN_KEEP_SCHEDULED] = "scheduled here, not started",
    [OS_ORPHAN_KEEP_IN_MOTION] = "on this host with a task under way",
    [OS_ORPHAN_KEEP_UNMANAGED] = "on this host but not tracked",
    [OS_ORPHAN_KEEP_MOVED] = "on another host",
};

const char *os_orphan_verdict_name(enum os_orphan_verdict v)
{
    return v >= 0 && v < OS_ORPHAN_LAST ? os_orphan_verdicts[v] : "?";
}

static bool orphan_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

enum os_orphan_verdict os_orphan_decide(bool tracked, const struct os_orphan_instance *in,
                                        const char *host, const char *node)
{
    if (tracked)
        return OS_ORPHAN_KEEP_TRACKED;
    if (!in || !in->found)
        return OS_ORPHAN_KEEP_UNKNOWN;
    if (in->deleted)
        return in->hidden ? OS_ORPHAN_KEEP_HIDDEN : OS_ORPHAN_RELEASE;
    if (!in->host || !*in->host)
        return OS_ORPHAN_KEEP_SCHEDULED;
    if (orphan_streq(in->host, host) && orphan_streq(in->node, node))
        return in->task_state && *in->task_state ? OS_ORPHAN_KEEP_IN_MOTION
                                                 : OS_ORPHAN_KEEP_UNMANAGED;
    /* another host (its move cleans up), or another node of ours */
    return OS_ORPHAN_KEEP_MOVED;
}

static bool orphan_tracked(struct os_compute *c, const char *uuid)
{
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->ntracked && !found; i++)
        found = strcmp(c->tracked[i].uuid, uuid) == 0;
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Nova's record of consumer `uuid`, deleted ones included
 * (read_deleted=yes).  0 (in->found false when Nova has no such
 * instance) or -1 when Nova cannot say. */
static int orphan_lookup(struct os_compute *c, const char *uuid, json_t **prim,
                         struct os_orphan_instance *in, struct err **err)
{
    json_auto_t *ctx = os_ctx_new_admin();
    json_object_set_new(ctx, "read_deleted", json_string("yes"));
    bool gone = false;
    memset(in, 0, sizeof(*in));
    *prim = os_compute_instance_now(c, ctx, uuid, NULL, &gone, err);
    if (!*prim) {
        if (gone) {
            err_clear(err);
            return 0;
        }
        return -1;
    }
    in->found = true;
    ovo_get_bool(*prim, "deleted", &in->deleted);
    ovo_get_bool(*prim, "hidden", &in->hidden);
    in->host = ovo_get_str(*prim, "host");
    in->node = ovo_get_str(*prim, "node");
    in->task_state = ovo_get_str(*prim, "task_state");
    return 0;
}

int os_compute_orphans_release(struct os_compute *c)
{
    if (!c->placement)
        return 0;
    char rp[DRV_UUID_LEN + 1];
    pthread_mutex_lock(&c->lock);
    snprintf(rp, sizeof(rp), "%s", c->node_uuid);
    pthread_mutex_unlock(&c->lock);
    if (!rp[0])
        return 0;
    autoerr struct err *e = NULL;
    json_auto_t *allocs = os_placement_provider_allocations(c->placement, rp, &e);
    if (!allocs) {
        /* no provider yet (Placement was away at start): nothing held */
        if (err_code_of(e) == ERR_NOT_FOUND)
            return 0;
        log_err(LOG_LEVEL_WARN, e, "allocations of deleted instances not looked for");
        return -1;
    }
    int released = 0;
    const char *consumer;
    json_t *a;
    json_object_foreach(allocs, consumer, a) {
        (void)a;
        if (!uuid_is_valid(consumer) || orphan_tracked(c, consumer))
            continue;
        json_auto_t *prim = NULL;
        struct os_orphan_instance in;
        if (orphan_lookup(c, consumer, &prim, &in, &e) < 0) {
            log_err(LOG_LEVEL_WARN, e, "consumer %s of our allocations not looked up", consumer);
            err_clear(&e);
            continue;
        }
        /* the lookup took time: a build may have been tracked meanwhile */
        enum os_orphan_verdict v = os_orphan_decide(orphan_tracked(c, consumer), &in, c->host,
                                                    c->node);
        log_ctx_set_instance(consumer);
        switch (v) {
        case OS_ORPHAN_RELEASE: {
            int rc = os_placement_clear_allocations(c->placement, consumer, &e);
            if (rc < 0) {
                /* a conflict (the consumer changed) is retried next round */
                log_err(LOG_LEVEL_WARN, e, "allocations of deleted instance %s not released",
                        consumer);
                err_clear(&e);
            } else if (rc > 0) {
                log_warn("instance %s was deleted but held allocations against this host: "
                         "released",
                         consumer);
                released++;
            }
            break;
        }
        case OS_ORPHAN_KEEP_UNMANAGED:
        case OS_ORPHAN_KEEP_MOVED:
            log_warn("instance %s holds allocations against this host (%s, host `%s`): left "
                     "alone",
                     consumer, os_orphan_verdict_name(v), in.host ? in.host : "");
            break;
        default:
            log_debug("allocations of %s kept: %s", consumer, os_orphan_verdict_name(v));
            break;
        }
        log_ctx_set_instance(NULL);
    }
    if (released > 0)
        log_info("allocations against this host: %zu consumer(s), %d of deleted instances "
                 "released",
                 json_object_size(allocs), released);
    return released;
}
