/* The serving side of oslo.messaging RPC: requests from our server queues
 * are decoded, checked, dispatched through one table of {namespace,
 * method, version, handler} (Redis's command table), and answered.
 *
 * What oslo's RPCServer does and callers rely on, plus what a compute
 * owes its operators:
 * - a reply with `result` or `failure` and `ending: true` for every call,
 *   never for a cast; keep-alives (`ending: false`) every _timeout/2 s
 *   while a call runs;
 * - NoSuchMethod / UnsupportedVersion failures as oslo's dispatcher sends
 *   them; a failure (never silence, never a crash) for a malformed message
 *   that still names a reply queue;
 * - operations on one instance run one at a time (Nova's
 *   synchronized(instance.uuid)); different instances run concurrently on
 *   a pool of worker threads;
 * - a request is acked when its handler is done, and duplicates (same
 *   _unique_id, e.g. redelivered after a reconnect) are not run twice.
 */
#ifndef SC_OPENSTACK_RPC_SERVER_H
#define SC_OPENSTACK_RPC_SERVER_H

#include <jansson.h>
#include <stdbool.h>

#include "common/alloc.h"
#include "common/keylock.h"
#include "openstack/rpc_failure.h"

struct err;
struct os_amqp;
struct os_delivery;
struct os_msg;

/* What a handler sees of its request. */
struct os_rpc_req {
    const struct os_msg *msg;   /* method, args, context (msg->ctx) */
    void *opaque;               /* the server's opaque pointer */
    struct os_fault fault;      /* set to send a specific exception class */
};

/* Handle a request: return 0 and set *result (a new reference, or leave
 * NULL for None), or -1 with *err (and optionally req->fault).  Runs on a
 * worker thread. */
typedef int (*os_rpc_handler_fn)(struct os_rpc_req *req, json_t **result, struct err **err);

enum os_rpc_flags {
    OS_RPC_SERIALIZE = 1 << 0, /* one at a time per args.instance uuid */
    OS_RPC_READ = 1 << 1,      /* changes nothing (a query): not logged when it succeeds */
};

struct os_rpc_method {
    const char *namespace;  /* NULL for the main endpoint */
    const char *name;
    int major;              /* the endpoint's version: requests with this */
    int minor;              /* major and a minor up to this are served */
    os_rpc_handler_fn fn;
    unsigned flags;
};

/* Called after every request was handled (rc 0 or -1 with its error;
 * `flags` of its table entry, 0 when it had none), for the event log.
 * Runs on the worker; must not block long. */
typedef void (*os_rpc_done_fn)(void *opaque, const struct os_msg *m, unsigned flags, int rc,
                               const struct err *e, double ms);

struct os_rpc_server_opts {
    const struct os_rpc_method *table;
    size_t ntable;
    int workers;            /* handler threads */
    void *opaque;           /* passed to handlers in req->opaque */
    os_rpc_done_fn done;    /* may be NULL */
    /* The locks that serialize an instance's requests (OS_RPC_SERIALIZE),
     * shared with work outside the RPC path; NULL: the server's own.
     * Must stay until the server is stopped. */
    struct keylocks *locks;
};

struct os_rpc_server;

/* A server replying through `amqp` (which must outlive it). */
struct os_rpc_server *os_rpc_server_new(struct os_amqp *amqp,
                                        const struct os_rpc_server_opts *opts);
int os_rpc_server_start(struct os_rpc_server *s, struct err **err);
/* Finish the requests being handled, drop the queued ones (unacked, so
 * the broker gives them back) and join the workers. */
void os_rpc_server_stop(struct os_rpc_server *s);
void os_rpc_server_free(struct os_rpc_server *s);
DEFINE_AUTOPTR(os_rpc_server)

/* Feed a request delivery (takes ownership).  I/O thread. */
void os_rpc_server_on_request(struct os_rpc_server *s, struct os_delivery *d);

/* Look a method up as the dispatcher does.  Returns the entry, or NULL
 * with *fault set to NoSuchMethod or UnsupportedVersion (fault->kwargs
 * owned by the caller). */
const struct os_rpc_method *os_rpc_lookup(const struct os_rpc_method *table, size_t n,
                                          const char *namespace, const char *method,
                                          int major, int minor, struct os_fault *fault);

struct os_rpc_server_stats {
    unsigned long long handled;
    unsigned long long failed;
    unsigned long long duplicates;
    unsigned long long malformed;
    unsigned long long queued;     /* waiting for a worker now */
};
void os_rpc_server_get_stats(struct os_rpc_server *s, struct os_rpc_server_stats *out);

#endif
