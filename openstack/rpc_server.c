#include "openstack/rpc_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/keylock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "openstack/amqp.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.rpc_server");

/* Remembered _unique_ids of finished requests.  oslo keeps 16; we keep
 * more because we redeliver (ack late) where oslo loses.  A ring in
 * arrival order, indexed by a hash table (looked up on every request). */
#define RPC_DONE_IDS 4096
#define RPC_DONE_BUCKETS 8192

struct rpc_done {
    char id[OS_HEX_ID_LEN];
    int32_t next;               /* next slot in the same bucket, -1: end */
    int32_t bucket;             /* the bucket it is in, -1: slot unused */
};
/* Calls slower than this are logged at INFO. */
#define RPC_SLOW_MS 1000

struct rpc_work {
    struct rpc_work *next;
    struct os_delivery *d;
};

/* A delivery waiting for an ack when the request it duplicates finishes. */
struct rpc_ack {
    struct rpc_ack *next;
    uint64_t gen;
    uint64_t tag;
};

/* A request being handled, by _unique_id. */
struct rpc_inflight {
    struct rpc_inflight *next;
    char *unique_id;
    struct rpc_ack *extra;      /* redeliveries of it seen meanwhile */
};

/* A call being handled whose caller wants keep-alives. */
struct rpc_active {
    struct rpc_active *next;
    const char *msg_id;         /* borrowed from the os_msg */
    const char *reply_q;
    int64_t interval_ms;
    int64_t next_ms;
};

struct os_rpc_server {
    struct os_amqp *amqp;
    struct os_rpc_server_opts o;
    pthread_t *threads;
    int nthreads;
    pthread_t monitor;
    bool monitor_started;

    pthread_mutex_t lock;       /* queue, dedup, active calls, stats, stopping */
    pthread_cond_t work_cond;
    pthread_cond_t monitor_cond;
    bool stopping;
    int idle;                   /* workers waiting for work */
    int waking;                 /* of them, signalled and not yet running */
    struct rpc_work *head, *tail;
    struct rpc_inflight *inflight;
    struct rpc_done done[RPC_DONE_IDS];
    int32_t buckets[RPC_DONE_BUCKETS];
    unsigned done_next;
    struct rpc_active *active;
    struct os_rpc_server_stats stats;

    struct keylocks *ilocks;    /* per-instance serialization: o.locks or own */
    struct keylocks *own_ilocks;
};

static void rpc_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

struct os_rpc_server *os_rpc_server_new(struct os_amqp *amqp,
                                        const struct os_rpc_server_opts *opts)
{
    struct os_rpc_server *s = xzalloc(sizeof(*s));
    s->amqp = amqp;
    s->o = *opts;
    if (s->o.workers < 1)
        s->o.workers = 1;
    for (int i = 0; i < RPC_DONE_BUCKETS; i++)
        s->buckets[i] = -1;
    for (int i = 0; i < RPC_DONE_IDS; i++)
        s->done[i].bucket = -1;
    pthread_mutex_init(&s->lock, NULL);
    s->own_ilocks = opts->locks ? NULL : keylocks_new();
    s->ilocks = opts->locks ? opts->locks : s->own_ilocks;
    rpc_cond_init(&s->work_cond);
    rpc_cond_init(&s->monitor_cond);
    return s;
}

/* ---- dispatch table ------------------------------------------------------ */

static bool rpc_ns_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

const struct os_rpc_method *os_rpc_lookup(const struct os_rpc_method *table, size_t n,
                                          const char *namespace, const char *method,
                                          int major, int minor, struct os_fault *fault)
{
    bool compatible = false;
    for (size_t i = 0; i < n; i++) {
        const struct os_rpc_method *m = &table[i];
        if (!rpc_ns_equal(m->namespace, namespace) || m->major != major || minor > m->minor)
            continue;
        compatible = true;
        /* oslo's DefaultRPCAccessPolicy: private names are never served. */
        if (method[0] != '_' && strcmp(m->name, method) == 0)
            return m;
    }
    memset(fault, 0, sizeof(*fault));
    fault->module = "oslo_messaging.rpc.dispatcher";
    if (compatible) {
        fault->cls = "NoSuchMethod";
        fault->kwargs = json_object();
    } else {
        fault->cls = "UnsupportedVersion";
        fault->kwargs = json_pack("{s:s}", "method", method);
    }
    return NULL;
}

/* ---- replies ------------------------------------------------------------- */

static void rpc_publish_reply(struct os_rpc_server *s, const char *reply_q, const char *msg_id,
                              const json_t *result, const char *failure, bool ending)
{
    size_t len = 0;
    char *body = os_reply_encode(result, failure, ending, msg_id, &len);
    autoerr struct err *e = NULL;
    if (!body) {
        /* A handler returned something that is not JSON-encodable. */
        autofree char *f = os_failure_encode("NovaException", "nova.exception",
                                             "result cannot be encoded as JSON", NULL, 500);
        body = os_reply_encode(NULL, f, ending, msg_id, &len);
    }
    if (os_amqp_publish(s->amqp, "", reply_q, body, len, 0, true, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "reply to `%s` lost", reply_q);
}

static void rpc_reply_failure(struct os_rpc_server *s, const struct os_msg *m,
                              const struct err *e, const struct os_fault *fault)
{
    autofree char *failure = os_failure_from_err(e, fault);
    rpc_publish_reply(s, m->reply_q, m->msg_id, NULL, failure, true);
}

/* ---- de-duplication -------------------------------------------------------- */

static uint32_t rpc_hash(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (RPC_DONE_BUCKETS - 1);
}

/* Called with s->lock held. */
static bool rpc_done_has(struct os_rpc_server *s, const char *id)
{
    for (int32_t i = s->buckets[rpc_hash(id)]; i >= 0; i = s->done[i].next)
        if (strcmp(s->done[i].id, id) == 0)
            return true;
    return false;
}

/* Remember id, forgetting the oldest.  Called with s->lock held. */
static void rpc_done_add(struct os_rpc_server *s, const char *id)
{
    int32_t slot = (int32_t)s->done_next;
    struct rpc_done *d = &s->done[slot];
    if (d->bucket >= 0) {
        int32_t *pi = &s->buckets[d->bucket];
        while (*pi != slot)
            pi = &s->done[*pi].next;
        *pi = d->next;
    }
    snprintf(d->id, sizeof(d->id), "%s", id);
    d->bucket = (int32_t)rpc_hash(id);
    d->next = s->buckets[d->bucket];
    s->buckets[d->bucket] = slot;
    s->done_next = (s->done_next + 1) % RPC_DONE_IDS;
}

/* Register a request as in flight.  Returns false when it duplicates one:
 * then the delivery is acked now (already done) or with the original. */
static bool rpc_begin(struct os_rpc_server *s, const struct os_msg *m,
                      const struct os_delivery *d)
{
    if (!m->unique_id)
        return true;
    pthread_mutex_lock(&s->lock);
    if (rpc_done_has(s, m->unique_id)) {
        s->stats.duplicates++;
        pthread_mutex_unlock(&s->lock);
        os_amqp_ack(s->amqp, d->conn_gen, d->tag);
        return false;
    }
    for (struct rpc_inflight *f = s->inflight; f; f = f->next) {
        if (strcmp(f->unique_id, m->unique_id) == 0) {
            struct rpc_ack *k = xzalloc(sizeof(*k));
            k->gen = d->conn_gen;
            k->tag = d->tag;
            k->next = f->extra;
            f->extra = k;
            s->stats.duplicates++;
            pthread_mutex_unlock(&s->lock);
            return false;
        }
    }
    struct rpc_inflight *f = xzalloc(sizeof(*f));
    f->unique_id = xstrdup(m->unique_id);
    f->next = s->inflight;
    s->inflight = f;
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* The request is done: ack it and its duplicates, remember its id. */
static void rpc_end(struct os_rpc_server *s, const struct os_msg *m,
                    const struct os_delivery *d)
{
    struct rpc_ack *extra = NULL;
    if (m && m->unique_id) {
        pthread_mutex_lock(&s->lock);
        for (struct rpc_inflight **pf = &s->inflight; *pf; pf = &(*pf)->next) {
            if (strcmp((*pf)->unique_id, m->unique_id) == 0) {
                struct rpc_inflight *f = *pf;
                *pf = f->next;
                extra = f->extra;
                free(f->unique_id);
                free(f);
                break;
            }
        }
        rpc_done_add(s, m->unique_id);
        pthread_mutex_unlock(&s->lock);
    }
    os_amqp_ack(s->amqp, d->conn_gen, d->tag);
    while (extra) {
        struct rpc_ack *k = extra;
        extra = k->next;
        os_amqp_ack(s->amqp, k->gen, k->tag);
        free(k);
    }
}

/* ---- keep-alives ------------------------------------------------------------ */

static void rpc_active_add(struct os_rpc_server *s, struct rpc_active *a)
{
    pthread_mutex_lock(&s->lock);
    a->next = s->active;
    s->active = a;
    pthread_cond_signal(&s->monitor_cond);
    pthread_mutex_unlock(&s->lock);
}

static void rpc_active_remove(struct os_rpc_server *s, struct rpc_active *a)
{
    pthread_mutex_lock(&s->lock);
    for (struct rpc_active **pa = &s->active; *pa; pa = &(*pa)->next) {
        if (*pa == a) {
            *pa = a->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* Sends `ending: false` replies so a caller with a call-monitor timeout
 * knows we are still at it (oslo's RpcServer heartbeat). */
static void *rpc_monitor(void *arg)
{
    struct os_rpc_server *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        int64_t now = clock_mono_ms();
        int64_t next = now + 60000;
        for (struct rpc_active *a = s->active; a; a = a->next) {
            if (a->next_ms <= now) {
                rpc_publish_reply(s, a->reply_q, a->msg_id, NULL, NULL, false);
                a->next_ms = now + a->interval_ms;
            }
            if (a->next_ms < next)
                next = a->next_ms;
        }
        struct timespec dl = {next / 1000, (next % 1000) * 1000000};
        pthread_cond_timedwait(&s->monitor_cond, &s->lock, &dl);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- handling ----------------------------------------------------------------- */

static const char *rpc_instance_uuid(const struct os_msg *m)
{
    json_t *inst = json_object_get(m->args, "instance");
    const char *uuid = ovo_get_str(inst, "uuid");
    return uuid && uuid_is_valid(uuid) ? uuid : NULL;
}

static void rpc_handle(struct os_rpc_server *s, struct os_delivery *d)
{
    autoerr struct err *e = NULL;
    struct os_msg *partial = NULL;
    autoptr(os_msg) m = os_msg_decode(d->body, d->len, &partial, &e);
    if (!m) {
        /* Never silence: whoever named a reply queue hears why. */
        log_err(LOG_LEVEL_WARN, e, "malformed RPC message (%zu bytes) dropped", d->len);
        if (partial && os_msg_is_call(partial))
            rpc_reply_failure(s, partial, e, NULL);
        pthread_mutex_lock(&s->lock);
        s->stats.malformed++;
        pthread_mutex_unlock(&s->lock);
        os_msg_free(partial);
        rpc_end(s, NULL, d);
        return;
    }
    log_ctx_set(os_ctx_str(m->ctx, "request_id"), rpc_instance_uuid(m));
    if (!rpc_begin(s, m, d)) {
        log_info("duplicate of request `%s` (%s) ignored", m->unique_id, m->method);
        return;
    }

    int64_t t0 = clock_mono_ms();
    struct os_rpc_req req = {.msg = m, .opaque = s->o.opaque};
    json_t *result = NULL;
    int rc;
    const struct os_rpc_method *meth = os_rpc_lookup(
        s->o.table, s->o.ntable, m->namespace, m->method, m->ver_major, m->ver_minor, &req.fault);
    if (!meth) {
        bool nometh = strcmp(req.fault.cls, "NoSuchMethod") == 0;
        log_warn("%s `%s` version %s%s%s", nometh ? "no method" : "cannot serve", m->method,
                 m->version, m->namespace ? " in namespace " : "",
                 m->namespace ? m->namespace : "");
        /* oslo's exception takes the bare method or version as argument */
        rc = err_set(&e, ERR_UNSUPPORTED, "%s", nometh ? m->method : m->version);
    } else {
        struct rpc_active act = {0};
        bool monitored = os_msg_is_call(m) && m->timeout_s > 0;
        if (monitored) {
            act.msg_id = m->msg_id;
            act.reply_q = m->reply_q;
            act.interval_ms = m->timeout_s * 500;
            act.next_ms = clock_mono_ms() + act.interval_ms;
            rpc_active_add(s, &act);
        }
        const char *uuid = (meth->flags & OS_RPC_SERIALIZE) ? rpc_instance_uuid(m) : NULL;
        struct keylock *il = uuid ? keylock_acquire(s->ilocks, uuid) : NULL;
        rc = meth->fn(&req, &result, &e);
        keylock_release(s->ilocks, il);
        if (monitored)
            rpc_active_remove(s, &act);
        if (rc < 0 && !e)
            err_set(&e, ERR_INTERNAL, "%s failed without saying why", m->method);
    }
    int64_t took = clock_mono_ms() - t0;

    if (rc < 0) {
        log_err(LOG_LEVEL_WARN, e, "%s %s (%s) failed after %lld ms", m->method, m->version,
                os_msg_is_call(m) ? "call" : "cast", (long long)took);
        if (os_msg_is_call(m))
            rpc_reply_failure(s, m, e, &req.fault);
    } else {
        if (os_msg_is_call(m))
            rpc_publish_reply(s, m->reply_q, m->msg_id, result, NULL, true);
        if (!os_msg_is_call(m) || took >= RPC_SLOW_MS)
            log_info("%s %s (%s) done in %lld ms", m->method, m->version,
                     os_msg_is_call(m) ? "call" : "cast", (long long)took);
        else
            log_debug("%s %s (call) done in %lld ms", m->method, m->version, (long long)took);
    }
    if (s->o.done)
        s->o.done(s->o.opaque, m, meth ? meth->flags : 0, rc, e, (double)took);
    json_decref(result);
    os_fault_release(&req.fault);
    pthread_mutex_lock(&s->lock);
    if (rc < 0)
        s->stats.failed++;
    else
        s->stats.handled++;
    pthread_mutex_unlock(&s->lock);
    rpc_end(s, m, d);
}

/* Wake an idle worker for queued work unless one is already on its way.
 * Called with s->lock held; returns whether to signal (after unlocking).
 * One wake-up in flight at a time: a burst of quick requests is taken by
 * the workers already running instead of waking one thread per request
 * (each a futex call and two context switches), and whoever takes a
 * request with more behind it passes the wake-up on, so no request waits
 * behind a slow one for longer than a wake-up. */
static bool rpc_want_worker(struct os_rpc_server *s)
{
    if (!s->head || s->idle == 0 || s->waking > 0)
        return false;
    s->waking++;
    return true;
}

static void *rpc_worker(void *arg)
{
    struct os_rpc_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping) {
            s->idle++;
            pthread_cond_wait(&s->work_cond, &s->lock);
            s->idle--;
            if (s->waking > 0)
                s->waking--;
        }
        if (s->stopping) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        struct rpc_work *w = s->head;
        s->head = w->next;
        if (!s->head)
            s->tail = NULL;
        s->stats.queued--;
        bool wake = rpc_want_worker(s);
        pthread_mutex_unlock(&s->lock);
        if (wake)
            pthread_cond_signal(&s->work_cond);
        rpc_handle(s, w->d);
        os_delivery_free(w->d);
        free(w);
        log_ctx_clear();
    }
    return NULL;
}

void os_rpc_server_on_request(struct os_rpc_server *s, struct os_delivery *d)
{
    struct rpc_work *w = xzalloc(sizeof(*w));
    w->d = d;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        os_delivery_free(d); /* unacked: the broker redelivers it */
        free(w);
        return;
    }
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    s->stats.queued++;
    bool wake = rpc_want_worker(s);
    pthread_mutex_unlock(&s->lock);
    /* After the unlock, so the woken worker does not block on the lock
     * right away. */
    if (wake)
        pthread_cond_signal(&s->work_cond);
}

int os_rpc_server_start(struct os_rpc_server *s, struct err **err)
{
    s->threads = xcalloc((size_t)s->o.workers, sizeof(*s->threads));
    for (int i = 0; i < s->o.workers; i++) {
        int rc = pthread_create(&s->threads[i], NULL, rpc_worker, s);
        if (rc != 0) {
            os_rpc_server_stop(s);
            return err_set_errno(err, rc, "start RPC worker %d", i);
        }
        s->nthreads++;
    }
    int rc = pthread_create(&s->monitor, NULL, rpc_monitor, s);
    if (rc != 0) {
        os_rpc_server_stop(s);
        return err_set_errno(err, rc, "start the RPC keep-alive thread");
    }
    s->monitor_started = true;
    return 0;
}

void os_rpc_server_stop(struct os_rpc_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->work_cond);
    pthread_cond_broadcast(&s->monitor_cond);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    s->nthreads = 0;
    if (s->monitor_started)
        pthread_join(s->monitor, NULL);
    s->monitor_started = false;
}

void os_rpc_server_free(struct os_rpc_server *s)
{
    if (!s)
        return;
    os_rpc_server_stop(s);
    while (s->head) {
        struct rpc_work *w = s->head;
        s->head = w->next;
        os_delivery_free(w->d);
        free(w);
    }
    while (s->inflight) {
        struct rpc_inflight *f = s->inflight;
        s->inflight = f->next;
        while (f->extra) {
            struct rpc_ack *k = f->extra;
            f->extra = k->next;
            free(k);
        }
        free(f->unique_id);
        free(f);
    }
    free(s->threads);
    pthread_mutex_destroy(&s->lock);
    keylocks_free(s->own_ilocks);
    pthread_cond_destroy(&s->work_cond);
    pthread_cond_destroy(&s->monitor_cond);
    free(s);
}

void os_rpc_server_get_stats(struct os_rpc_server *s, struct os_rpc_server_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}
