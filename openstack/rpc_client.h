/* The calling side of oslo.messaging RPC: casts and calls to a topic
 * (nova-conductor, the schedulers, other computes), replies matched by
 * _msg_id on our reply queue (oslo's ReplyWaiter).
 *
 * Thread: every function may be called from any thread; calls block the
 * calling thread only.
 */
#ifndef SC_OPENSTACK_RPC_CLIENT_H
#define SC_OPENSTACK_RPC_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/alloc.h"

struct err;
struct os_amqp;
struct os_delivery;

/* Where a message goes: exchange `nova`, routing key TOPIC or
 * TOPIC.SERVER, or the TOPIC_fanout exchange. */
struct os_rpc_target {
    const char *topic;      /* "conductor", "scheduler", "compute" */
    const char *server;     /* a host, or NULL for the shared topic queue */
    const char *namespace;  /* NULL, "baseapi", "compute_task" */
    const char *version;    /* "3.0" */
    bool fanout;
};

struct os_rpc_client;

/* A client publishing through `amqp` to `exchange` ("nova").  The amqp
 * handle must outlive the client. */
struct os_rpc_client *os_rpc_client_new(struct os_amqp *amqp, const char *exchange);
/* Fails the calls still waiting; accepts NULL. */
void os_rpc_client_free(struct os_rpc_client *c);
DEFINE_AUTOPTR(os_rpc_client)

/* Feed a delivery from the reply queue (takes ownership).  I/O thread. */
void os_rpc_client_on_reply(struct os_rpc_client *c, struct os_delivery *d);
/* The connection went down: calls in flight fail with ERR_UNAVAILABLE
 * (their reply may never come; callers retry).  I/O thread. */
void os_rpc_client_on_down(struct os_rpc_client *c);

/* Call `method` and wait up to timeout_ms for the reply.  `args` and
 * `ctx` (the _context_* values; NULL for none) are borrowed.  Returns the
 * result (a new reference; json null when the method returned None), or
 * NULL with *err: ERR_TIMEOUT, ERR_UNAVAILABLE (no broker), or the code
 * mapped from the remote failure (rpc_failure.h), whose class is stored in
 * *remote_class when given (caller frees). */
json_t *os_rpc_call(struct os_rpc_client *c, const struct os_rpc_target *t, const char *method,
                    const json_t *args, const json_t *ctx, int64_t timeout_ms,
                    char **remote_class, struct err **err);

/* Publish a cast (no reply).  Returns 0 or -1 with *err. */
int os_rpc_cast(struct os_rpc_client *c, const struct os_rpc_target *t, const char *method,
                const json_t *args, const json_t *ctx, struct err **err);

#endif
