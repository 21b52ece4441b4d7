/* The live migrations from this host (live_runs.h): one list under one
 * mutex, in the order they came; a host runs a handful at most.  A
 * migration's turn runs on a thread started for it; a thread whose
 * migration is over takes the next one in the queue, so at most
 * max_running threads run (one per migration without a limit). */
#include "openstack/live_runs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"

LOG_INIT("openstack.live_runs");

enum live_state {
    LIVE_HELD,      /* queued; its request not done with it yet */
    LIVE_QUEUED,    /* waiting its turn, `job` set */
    LIVE_PREPARING, /* its turn began */
    LIVE_RUNNING,   /* its copy began */
};

struct live_run {
    char uuid[DRV_UUID_LEN + 1];
    int64_t id;
    enum live_state state;
    void *job;        /* owned while LIVE_QUEUED */
    bool abort_asked; /* while held or preparing, or not yet handed over */
    bool abort_handed;
    bool postcopy;    /* switched to post-copy: no abort any more */
    unsigned pending; /* drv_hv_live_request bits not yet taken */
    struct live_run *next;
};

struct os_live_runs {
    pthread_mutex_t lock;
    pthread_cond_t idle;   /* `busy` fell */
    struct live_run *head; /* in the order they came */
    unsigned max_running;  /* 0: no limit */
    unsigned busy;         /* threads running migrations */
    bool closed;
    os_live_run_fn run;
    void *opaque;
};

struct os_live_runs *os_live_runs_new(unsigned max_running, os_live_run_fn run, void *opaque)
{
    struct os_live_runs *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->idle, NULL);
    r->max_running = max_running;
    r->run = run;
    r->opaque = opaque;
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
    pthread_cond_destroy(&r->idle);
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

/* The first migration waiting its turn, preparing from now on; NULL
 * when none may start.  Under the lock. */
static struct live_run *next_run(struct os_live_runs *r)
{
    if (r->closed)
        return NULL;
    for (struct live_run *n = r->head; n; n = n->next)
        if (n->state == LIVE_QUEUED) {
            n->state = LIVE_PREPARING;
            return n;
        }
    return NULL;
}

/* Its migration's turn, then the next one's as long as one waits. */
static void *runner(void *arg)
{
    void **a = arg;
    struct os_live_runs *r = a[0];
    void *job = a[1];
    free(a);
    while (job) {
        r->run(r->opaque, job);
        pthread_mutex_lock(&r->lock);
        struct live_run *n = next_run(r);
        job = n ? steal_pointer(&n->job) : NULL;
        if (!job) {
            r->busy--;
            pthread_cond_broadcast(&r->idle);
        }
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

/* Start the migrations whose turn it is.  Under the lock. */
static void kick(struct os_live_runs *r)
{
    while (r->max_running == 0 || r->busy < r->max_running) {
        struct live_run *n = next_run(r);
        if (!n)
            return;
        void **a = xcalloc(2, sizeof(*a));
        a[0] = r;
        a[1] = n->job;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        int rc = pthread_create(&t, &at, runner, a);
        pthread_attr_destroy(&at);
        if (rc != 0) {
            /* it waits on, first in the queue: the next kick starts it */
            n->state = LIVE_QUEUED;
            free(a);
            log_error("no thread for live migration %lld of %s (error %d): it waits",
                      (long long)n->id, n->uuid, rc);
            return;
        }
        n->job = NULL;
        r->busy++;
    }
}

int os_live_runs_queue(struct os_live_runs *r, const char *uuid, int64_t id, struct err **err)
{
    if (strlen(uuid) > DRV_UUID_LEN)
        return err_set(err, ERR_INVALID, "`%s` is no instance uuid", uuid);
    pthread_mutex_lock(&r->lock);
    if (r->closed) {
        pthread_mutex_unlock(&r->lock);
        return err_set(err, ERR_UNAVAILABLE,
                       "live migration %lld of %s not queued: the service is stopping",
                       (long long)id, uuid);
    }
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
    n->state = LIVE_HELD;
    *p = n;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

bool os_live_runs_release(struct os_live_runs *r, const char *uuid, void *job)
{
    pthread_mutex_lock(&r->lock);
    struct live_run **p = find(r, uuid);
    struct live_run *n = *p;
    bool go = n && n->state == LIVE_HELD && !n->abort_asked && !r->closed;
    if (go) {
        n->state = LIVE_QUEUED;
        n->job = job;
        kick(r);
    } else if (n && n->state == LIVE_HELD) {
        *p = n->next;
        free(n);
    }
    pthread_mutex_unlock(&r->lock);
    return go;
}

int os_live_runs_ahead(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    int ahead = 0;
    struct live_run *n = r->head;
    for (; n && strcmp(n->uuid, uuid) != 0; n = n->next)
        if (n->state == LIVE_HELD || n->state == LIVE_QUEUED)
            ahead++;
    if (!n || (n->state != LIVE_HELD && n->state != LIVE_QUEUED))
        ahead = -1;
    pthread_mutex_unlock(&r->lock);
    return ahead;
}

bool os_live_runs_start(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    bool go = n && n->state == LIVE_PREPARING && !n->abort_asked;
    if (go)
        n->state = LIVE_RUNNING;
    pthread_mutex_unlock(&r->lock);
    return go;
}

unsigned os_live_runs_take(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    unsigned out = 0;
    if (n && n->state == LIVE_RUNNING) {
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
        aborted = n->abort_handed || (n->abort_asked && n->state != LIVE_RUNNING);
        *p = n->next;
        /* a queued job would be lost: only its own run ends an entry */
        if (n->state == LIVE_QUEUED)
            log_error("live migration %lld of %s ended while queued", (long long)n->id, uuid);
        free(n);
    }
    pthread_mutex_unlock(&r->lock);
    return aborted;
}

enum os_live_verdict os_live_runs_abort(struct os_live_runs *r, const char *uuid, int64_t id,
                                        int64_t *current, void **job)
{
    pthread_mutex_lock(&r->lock);
    struct live_run **p = find(r, uuid);
    struct live_run *n = *p;
    enum os_live_verdict v = OS_LIVE_NONE;
    if (n && n->id != id) {
        v = OS_LIVE_OTHER;
        if (current)
            *current = n->id;
    } else if (n && n->state == LIVE_QUEUED) {
        /* nova's future.cancel(): it never runs */
        v = OS_LIVE_DEQUEUED;
        *job = n->job;
        *p = n->next;
        free(n);
    } else if (n && n->postcopy) {
        v = OS_LIVE_POSTCOPY;
    } else if (n) {
        v = OS_LIVE_TAKEN;
        n->abort_asked = true;
        if (n->state == LIVE_RUNNING && !n->abort_handed)
            n->pending |= DRV_HV_LIVE_ABORT;
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

enum os_live_verdict os_live_runs_force(struct os_live_runs *r, const char *uuid)
{
    pthread_mutex_lock(&r->lock);
    struct live_run *n = *find(r, uuid);
    enum os_live_verdict v = !n                         ? OS_LIVE_NONE
                             : n->state != LIVE_RUNNING ? OS_LIVE_PREPARING
                                                        : OS_LIVE_TAKEN;
    if (v == OS_LIVE_TAKEN)
        n->pending |= DRV_HV_LIVE_FORCE_COMPLETE;
    pthread_mutex_unlock(&r->lock);
    return v;
}

size_t os_live_runs_close(struct os_live_runs *r, void ***jobs)
{
    pthread_mutex_lock(&r->lock);
    r->closed = true;
    size_t n = 0;
    for (struct live_run *x = r->head; x; x = x->next)
        n += x->state == LIVE_QUEUED;
    *jobs = xcalloc(n ? n : 1, sizeof(**jobs));
    size_t k = 0;
    struct live_run **p = &r->head;
    while (*p) {
        struct live_run *x = *p;
        if (x->state == LIVE_QUEUED) {
            (*jobs)[k++] = x->job;
            *p = x->next;
            free(x);
        } else {
            p = &x->next;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return k;
}

void os_live_runs_wait(struct os_live_runs *r)
{
    pthread_mutex_lock(&r->lock);
    while (r->busy > 0)
        pthread_cond_wait(&r->idle, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void os_live_restart_rule(const char *status, struct os_live_restart *out)
{
    const char *st = status ? status : "";
    bool running = strcmp(st, "running") == 0;
    /* in post-copy the guest runs on the destination with part of its
     * memory here: neither host can take it back (nova: reboot it) */
    bool postcopy = strcmp(st, "running (post-copy)") == 0;
    *out = (struct os_live_restart){
        .abort_job = running,
        .undo = !postcopy,
        .dest_prepared = running || strcmp(st, "preparing") == 0,
    };
}

bool os_live_restart_finished(const char *status)
{
    return status &&
           (strcmp(status, "running") == 0 || strcmp(status, "running (post-copy)") == 0);
}
