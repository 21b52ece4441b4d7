/* The AMQP 0-9-1 transport to Nova's RabbitMQ (rabbit driver of
 * oslo.messaging), over rabbitmq-c.
 *
 * One I/O thread owns the connection: rabbitmq-c is not thread-safe, so
 * every other thread hands it messages to publish and deliveries to ack
 * through a queue and an eventfd.  The thread declares what oslo declares
 * (the topic exchange, our reply queue and, once listen() was called, the
 * RPC server queues TOPIC, TOPIC.HOST and the TOPIC_fanout fanout), keeps
 * AMQP heartbeats going, and on any failure tears the connection down and
 * reconnects with exponential backoff, declaring everything again.
 *
 * Requests are acked only when the caller says so (after they are handled
 * or durably recorded), so a crash or a broker restart redelivers them
 * instead of losing them; deliveries carry the connection generation they
 * came on, and an ack for an older generation is dropped (the broker has
 * already requeued that message).
 */
#ifndef SC_OPENSTACK_AMQP_H
#define SC_OPENSTACK_AMQP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

struct err;

struct os_amqp_opts {
    const char *transport_url; /* rabbit://user:pass@host:port[,user:pass@host2:port]/vhost */
    const char *exchange;      /* oslo's control_exchange: "nova" */
    bool durable;              /* amqp_durable_queues (topic exchange and queues) */
    bool auto_delete;          /* amqp_auto_delete */
    int heartbeat_s;           /* heartbeat_timeout_threshold; 0 disables heartbeats */
    int retry_interval_ms;     /* first reconnect delay (rabbit_retry_interval) */
    int retry_backoff_ms;      /* added per attempt (rabbit_retry_backoff) */
    int interval_max_ms;       /* longest delay between attempts (rabbit_interval_max) */
    const char *name;          /* client name shown by the broker ("sculpt-compute") */
    int prefetch_count;        /* rabbit_qos_prefetch_count: unacked requests the broker
                                * hands each RPC server queue's consumer; 0 = no limit.
                                * Acks held back for batching never stall a full window:
                                * with nothing else to do the I/O thread sends them. */
};

enum os_delivery_kind {
    OS_DELIVERY_REQUEST, /* on one of the RPC server queues; ack it when done */
    OS_DELIVERY_REPLY,   /* on our reply queue; needs no ack */
};

struct os_delivery {
    enum os_delivery_kind kind;
    uint64_t conn_gen;   /* connection it came on (see os_amqp_ack) */
    uint64_t tag;        /* delivery tag on that connection */
    bool redelivered;    /* the broker delivered it before (we may have seen it) */
    char *body;          /* owned, NUL-terminated for convenience */
    size_t len;
};

void os_delivery_free(struct os_delivery *d);
DEFINE_AUTOPTR(os_delivery)

struct os_amqp_handler {
    /* A message arrived; takes ownership of d.  Runs on the I/O thread:
     * hand the work over, do not block. */
    void (*deliver)(void *opaque, struct os_delivery *d);
    /* The connection came up (declarations done) or went down.  Runs on
     * the I/O thread. */
    void (*state)(void *opaque, bool up, uint64_t conn_gen);
    void *opaque;
};

struct os_amqp;

/* Parse the options and prepare (no connection yet).  Returns NULL with
 * *err (ERR_INVALID) for a bad transport_url.  Free with os_amqp_free. */
struct os_amqp *os_amqp_new(const struct os_amqp_opts *opts, const struct os_amqp_handler *h,
                            struct err **err);
/* Start the I/O thread; it connects in the background.  Returns 0 or -1. */
int os_amqp_start(struct os_amqp *a, struct err **err);
/* Publish what is queued (for up to a second), close the connection and
 * join the thread.  Safe to call twice. */
void os_amqp_stop(struct os_amqp *a);
/* Stops it first if needed; accepts NULL. */
void os_amqp_free(struct os_amqp *a);
DEFINE_AUTOPTR(os_amqp)

/* The name of our reply queue ("reply_<hex>"), stable across reconnects. */
const char *os_amqp_reply_queue(const struct os_amqp *a);

/* Consume the RPC server queues of `topic` for `host` from now on (also
 * after every reconnect).  Call once; Nova's computes do it only after
 * their startup registration. */
void os_amqp_listen(struct os_amqp *a, const char *topic, const char *host);

/* Queue a message for publishing with oslo's properties (application/json,
 * utf-8, persistent).  `body` is stolen.  expiration_ms > 0 sets the
 * per-message TTL (calls); a message still queued when it expires is
 * dropped.  `mandatory` is for replies.  Returns 0, or -1 with *err
 * (ERR_UNAVAILABLE) when stopping or when too much is queued while the
 * broker is away.  Any thread. */
int os_amqp_publish(struct os_amqp *a, const char *exchange, const char *routing_key,
                    char *body, size_t len, int64_t expiration_ms, bool mandatory,
                    struct err **err);

/* Queue a notification (oslo's notify_send): published as os_amqp_publish
 * does, without expiry, after its default queue -- named as the routing
 * key and bound to it on `exchange` -- was declared on this connection,
 * as oslo declares it so that nothing is lost before a consumer binds.
 * Never waits for the broker: returns -1 with *err (ERR_UNAVAILABLE)
 * when stopping or when `backlog_max` messages of any kind already wait
 * for it.  `body` is stolen.  Any thread. */
int os_amqp_notify(struct os_amqp *a, const char *exchange, const char *routing_key, char *body,
                   size_t len, size_t backlog_max, struct err **err);

/* Acknowledge a request delivery.  Dropped when conn_gen is not the
 * current connection's.  Any thread. */
void os_amqp_ack(struct os_amqp *a, uint64_t conn_gen, uint64_t tag);

/* Is the connection up (declarations done)?  Any thread. */
bool os_amqp_connected(struct os_amqp *a);
/* Block until connected or timeout_ms passes (< 0: forever).  Returns
 * whether connected.  Any thread. */
bool os_amqp_wait_connected(struct os_amqp *a, int64_t timeout_ms);

struct os_amqp_stats {
    uint64_t published;
    uint64_t delivered;
    uint64_t reconnects;   /* connections made after the first */
    uint64_t dropped;      /* queued messages dropped (expired or returned) */
};
void os_amqp_get_stats(struct os_amqp *a, struct os_amqp_stats *out);

/* Test hook: close the socket under the I/O thread as a network failure
 * would.  Any thread. */
void os_amqp_break(struct os_amqp *a);

#endif
