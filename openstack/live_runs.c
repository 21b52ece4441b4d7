/* The live migrations under way from this host (live_runs.h): a short
 * list under one mutex; a host runs a handful at most. */
#include "openstack/live_runs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/hypervisor.h"

struct live_run {
    char uuid[DRV_UUID_LEN + 1];
    int64_t id;
    bool running;
    bool abort_asked; /* while preparing, or not yet handed over */
    bool abort_handed;
    bool postcopy;    /* switched to post-copy: no abort any more */
    unsigned pending; /* drv_hv_live_request bits not yet taken */
    struct live_run *next;
};

struct os_live_runs {
    pthread_mutex_t lock;
    struct live_run *head;
};

struct os_live_runs *os_live_runs_new(void)
{
    struct os_live_runs *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void os_live_runs_free(struct os_live_runs *r)
{
    if (!r)
        return;
    while (r->head) {
        struct live_run *n = r->head->next;
        free(r->head);
        r->head = n;
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Under the lock. */
static struct live_run **find(struct os_live_runs *r, const char *uuid)
{
    struct live_run **p = &r->head;
    while (*p && strcmp((*p)->uuid, uuid) != 0)
        p = &(*p)->next;
    return p;
}

int os_live_runs_begin(struct os_live_runs *r, const char *uuid, int64_t id, struct err **err)
{
    if (strlen(uuid) > DRV_UUID_LEN)
        return err_set(err, ERR_INVALID, "`%s` is no instance uuid", uuid);
    pthread_mutex_lock(&r->lock);
    struct live_run **p = find(r, uuid);
    if (*p) {
        int64_t other = (*p)->id;
        pthread_mutex_unlock(&r->lock);
        return err_set(err, ERR_CONFLICT, "instance %s has live migration %lld under way", uuid,
                       (long long)other);
    }
    struct live_run *n = xcalloc(1, sizeof(*n));
    memcpy(n->uuid, uuid, strlen(uuid) + 1);
    n->id = id;
    *p = n;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

bool os_live_runs_start(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    bool go = n && !n->abort_asked;
    if (n && go)
        n->running = true;
    pthread_mutex_unlock(&r->lock);
    return go;
}

unsigned os_live_runs_take(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    unsigned out = 0;
    if (n && n->running) {
        out = n->pending;
        n->pending = 0;
        if (out & DRV_HV_LIVE_ABORT)
            n->abort_handed = true;
    }
    pthread_mutex_unlock(&r->lock);
    return out;
}

void os_live_runs_postcopy(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    if (n)
        n->postcopy = true;
    pthread_mutex_unlock(&r->lock);
}

bool os_live_runs_end(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run **p = find(r, uuid);
    struct live_run *n = *p;
    bool aborted = false;
    if (n) {
        aborted = n->abort_handed || (n->abort_asked && !n->running);
        *p = n->next;
        free(n);
    }
    pthread_mutex_unlock(&r->lock);
    return aborted;
}

enum os_live_verdict os_live_runs_abort(struct os_live_runs *r, const char *uuid, int64_t id,
                                        int64_t *current)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    enum os_live_verdict v = OS_LIVE_NONE;
    if (n && n->id != id) {
        v = OS_LIVE_OTHER;
        if (current)
            *current = n->id;
    } else if (n && n->postcopy) {
        v = OS_LIVE_POSTCOPY;
    } else if (n) {
        v = OS_LIVE_TAKEN;
        n->abort_asked = true;
        if (n->running && !n->abort_handed)
            n->pending |= DRV_HV_LIVE_ABORT;
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

enum os_live_verdict os_live_runs_force(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    enum os_live_verdict v = !n ? OS_LIVE_NONE : !n->running ? OS_LIVE_PREPARING : OS_LIVE_TAKEN;
    if (v == OS_LIVE_TAKEN)
        n->pending |= DRV_HV_LIVE_FORCE_COMPLETE;
    pthread_mutex_unlock(&r->lock);
    return v;
}
