#include "openstack/rpc_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/amqp.h"
#include "openstack/oslo.h"
#include "openstack/rpc_failure.h"

LOG_INIT("openstack.rpc_client");

/* One call waiting for its reply. */
struct rpc_pending {
    struct rpc_pending *next;
    char msg_id[OS_HEX_ID_LEN];
    pthread_cond_t cond;
    bool done;
    bool lost;          /* the connection dropped before the reply */
    json_t *result;     /* last non-null result seen */
    char *failure;
};

struct os_rpc_client {
    struct os_amqp *amqp;
    char *exchange;
    pthread_mutex_t lock;
    struct rpc_pending *pending;
};

struct os_rpc_client *os_rpc_client_new(struct os_amqp *amqp, const char *exchange)
{
    struct os_rpc_client *c = xzalloc(sizeof(*c));
    c->amqp = amqp;
    c->exchange = xstrdup(exchange ? exchange : "nova");
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void os_rpc_client_free(struct os_rpc_client *c)
{
    if (!c)
        return;
    os_rpc_client_on_down(c);
    /* Waiters unlink themselves; they must be gone before the lock is. */
    for (;;) {
        pthread_mutex_lock(&c->lock);
        bool empty = c->pending == NULL;
        pthread_mutex_unlock(&c->lock);
        if (empty)
            break;
        clock_sleep_ms(1);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->exchange);
    free(c);
}

void os_rpc_client_on_reply(struct os_rpc_client *c, struct os_delivery *d)
{
    struct os_reply r;
    autoerr struct err *e = NULL;
    if (os_reply_decode(d->body, d->len, &r, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "dropping a malformed reply");
        os_delivery_free(d);
        return;
    }
    os_delivery_free(d);
    pthread_mutex_lock(&c->lock);
    struct rpc_pending *p = c->pending;
    while (p && strcmp(p->msg_id, r.msg_id) != 0)
        p = p->next;
    if (!p) {
        pthread_mutex_unlock(&c->lock);
        log_debug("reply for `%s`, which nobody waits for (timed out?)", r.msg_id);
        os_reply_release(&r);
        return;
    }
    if (r.failure) {
        free(p->failure);
        p->failure = steal_pointer(&r.failure);
    } else if (!json_is_null(r.result)) {
        json_decref(p->result);
        p->result = steal_pointer(&r.result);
    }
    if (r.ending || p->failure) {
        p->done = true;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&c->lock);
    os_reply_release(&r);
}

void os_rpc_client_on_down(struct os_rpc_client *c)
{
    pthread_mutex_lock(&c->lock);
    for (struct rpc_pending *p = c->pending; p; p = p->next) {
        if (!p->done) {
            p->lost = true;
            p->done = true;
            pthread_cond_signal(&p->cond);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static char *rpc_routing_key(const struct os_rpc_target *t)
{
    return t->server ? xasprintf("%s.%s", t->topic, t->server) : xstrdup(t->topic);
}

static void rpc_what(const struct os_rpc_target *t, const char *method, char *buf, size_t n)
{
    snprintf(buf, n, "%s %s", t->topic, method);
}

json_t *os_rpc_call(struct os_rpc_client *c, const struct os_rpc_target *t, const char *method,
                    const json_t *args, const json_t *ctx, int64_t timeout_ms,
                    char **remote_class, struct err **err)
{
    char what[160];
    rpc_what(t, method, what, sizeof(what));
    int64_t start = clock_mono_ms();
    if (!os_amqp_wait_connected(c->amqp, timeout_ms)) {
        err_set(err, ERR_UNAVAILABLE, "%s: RabbitMQ is unreachable", what);
        return NULL;
    }
    int64_t left = timeout_ms - (clock_mono_ms() - start);
    if (left < 1)
        left = 1;

    struct rpc_pending p;
    memset(&p, 0, sizeof(p));
    os_hex_id(p.msg_id);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p.cond, &ca);
    pthread_condattr_destroy(&ca);

    size_t len = 0;
    char *body = os_request_encode(method, t->namespace, t->version, args, ctx, p.msg_id,
                                   os_amqp_reply_queue(c->amqp), 0, &len);
    if (!body) {
        pthread_cond_destroy(&p.cond);
        err_set(err, ERR_INVALID, "%s: arguments cannot be encoded as JSON", what);
        return NULL;
    }
    autofree char *rk = rpc_routing_key(t);

    pthread_mutex_lock(&c->lock);
    p.next = c->pending;
    c->pending = &p;
    pthread_mutex_unlock(&c->lock);

    json_t *result = NULL;
    if (os_amqp_publish(c->amqp, c->exchange, rk, body, len, left, false, err) < 0) {
        err_wrap(err, "%s", what);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t dl_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + left * 1000000;
        struct timespec dl = {dl_ns / 1000000000, dl_ns % 1000000000};
        pthread_mutex_lock(&c->lock);
        while (!p.done) {
            if (pthread_cond_timedwait(&p.cond, &c->lock, &dl) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&c->lock);
        if (p.failure) {
            os_failure_to_err(p.failure, what, remote_class, err);
        } else if (p.lost) {
            err_set(err, ERR_UNAVAILABLE, "%s: connection to RabbitMQ lost during the call",
                    what);
        } else if (!p.done) {
            err_set(err, ERR_TIMEOUT, "%s: no reply within %lld ms", what,
                    (long long)timeout_ms);
        } else {
            result = p.result ? steal_pointer(&p.result) : json_null();
        }
    }

    pthread_mutex_lock(&c->lock);
    struct rpc_pending **pp = &c->pending;
    while (*pp && *pp != &p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p.next;
    pthread_mutex_unlock(&c->lock);
    pthread_cond_destroy(&p.cond);
    json_decref(p.result);
    free(p.failure);
    return result;
}

int os_rpc_cast(struct os_rpc_client *c, const struct os_rpc_target *t, const char *method,
                const json_t *args, const json_t *ctx, struct err **err)
{
    char what[160];
    rpc_what(t, method, what, sizeof(what));
    size_t len = 0;
    char *body = os_request_encode(method, t->namespace, t->version, args, ctx, NULL, NULL, 0,
                                   &len);
    if (!body)
        return err_set(err, ERR_INVALID, "%s: arguments cannot be encoded as JSON", what);
    autofree char *exchange = t->fanout ? xasprintf("%s_fanout", t->topic) : xstrdup(c->exchange);
    autofree char *rk = t->fanout ? xstrdup("") : rpc_routing_key(t);
    if (os_amqp_publish(c->amqp, exchange, rk, body, len, 0, false, err) < 0)
        return err_wrap(err, "%s", what);
    return 0;
}
