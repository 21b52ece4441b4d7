/* Nova's messaging for sculpt-compute: the AMQP transport with an RPC
 * client (calls to nova-conductor) and, once serving, the RPC server of
 * the `compute` topic.  This is what oslo.messaging's get_rpc_transport +
 * RPCClient + get_rpc_server amount to in nova-compute.
 */
#ifndef SC_OPENSTACK_MESSAGING_H
#define SC_OPENSTACK_MESSAGING_H

#include <stdbool.h>

#include "common/alloc.h"
#include "openstack/rpc_client.h"
#include "openstack/rpc_server.h"

struct cfg;
struct err;
struct os_amqp;

struct os_messaging {
    struct os_amqp *amqp;
    struct os_rpc_client *client;
    struct os_rpc_server *server;   /* NULL until os_messaging_serve() */
    char *exchange;
    int64_t call_timeout_ms;        /* [DEFAULT] rpc_response_timeout */
};

struct os_amqp_opts;
/* The options of an AMQP connection to `transport_url` as sculpt.conf
 * gives them ([DEFAULT] control_exchange, [oslo_messaging_rabbit]); `name`
 * (borrowed) is shown by the broker. */
void os_messaging_amqp_opts(const struct cfg *cfg, const char *transport_url, const char *name,
                            struct os_amqp_opts *out);

/* Build the transport from [DEFAULT] transport_url, control_exchange,
 * rpc_response_timeout and [oslo_messaging_rabbit]; `name` is shown by
 * the broker.  Returns NULL with *err for a bad configuration. */
struct os_messaging *os_messaging_new(const struct cfg *cfg, const char *name,
                                      struct err **err);
/* Start connecting (in the background). */
int os_messaging_start(struct os_messaging *m, struct err **err);
/* Serve `topic` on `host` with the dispatch table in `opts`: start the
 * workers, then consume the server queues. */
int os_messaging_serve(struct os_messaging *m, const struct os_rpc_server_opts *opts,
                       const char *topic, const char *host, struct err **err);
/* Stop serving and close the connection (queued replies get a last
 * chance to go out). */
void os_messaging_stop(struct os_messaging *m);
void os_messaging_free(struct os_messaging *m);
DEFINE_AUTOPTR(os_messaging)

#endif
