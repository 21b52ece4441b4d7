#include "openstack/messaging.h"

#include <stdlib.h>

#include "common/config.h"
#include "common/err.h"
#include "openstack/amqp.h"

static void messaging_deliver(void *opaque, struct os_delivery *d)
{
    struct os_messaging *m = opaque;
    struct os_rpc_server *server = __atomic_load_n(&m->server, __ATOMIC_ACQUIRE);
    if (d->kind == OS_DELIVERY_REPLY) {
        os_rpc_client_on_reply(m->client, d);
    } else if (server) {
        os_rpc_server_on_request(server, d);
    } else {
        os_delivery_free(d); /* unacked: redelivered once we serve */
    }
}

static void messaging_state(void *opaque, bool up, uint64_t gen)
{
    struct os_messaging *m = opaque;
    (void)gen;
    if (!up)
        os_rpc_client_on_down(m->client);
}

void os_messaging_amqp_opts(const struct cfg *cfg, const char *transport_url, const char *name,
                            struct os_amqp_opts *out)
{
    *out = (struct os_amqp_opts){
        .transport_url = transport_url,
        .exchange = cfg->control_exchange,
        .durable = cfg->amqp_durable_queues,
        .auto_delete = cfg->amqp_auto_delete,
        .heartbeat_s = (int)cfg->heartbeat_timeout_threshold,
        .retry_interval_ms = (int)(cfg->rabbit_retry_interval * 1000),
        .retry_backoff_ms = (int)(cfg->rabbit_retry_backoff * 1000),
        .interval_max_ms = (int)(cfg->rabbit_interval_max * 1000),
        .name = name,
    };
}

struct os_messaging *os_messaging_new(const struct cfg *cfg, const char *name,
                                      struct err **err)
{
    struct os_messaging *m = xzalloc(sizeof(*m));
    struct os_amqp_opts o;
    os_messaging_amqp_opts(cfg, cfg->transport_url, name, &o);
    o.prefetch_count = (int)cfg->rabbit_qos_prefetch_count;
    struct os_amqp_handler h = {messaging_deliver, messaging_state, m};
    m->amqp = os_amqp_new(&o, &h, err);
    if (!m->amqp) {
        free(m);
        err_wrap(err, "[DEFAULT] transport_url");
        return NULL;
    }
    m->exchange = xstrdup(cfg->control_exchange);
    m->client = os_rpc_client_new(m->amqp, m->exchange);
    m->call_timeout_ms = cfg->rpc_response_timeout * 1000;
    return m;
}

int os_messaging_start(struct os_messaging *m, struct err **err)
{
    return os_amqp_start(m->amqp, err);
}

int os_messaging_serve(struct os_messaging *m, const struct os_rpc_server_opts *opts,
                       const char *topic, const char *host, struct err **err)
{
    struct os_rpc_server *s = os_rpc_server_new(m->amqp, opts);
    if (os_rpc_server_start(s, err) < 0) {
        os_rpc_server_free(s);
        return -1;
    }
    /* Published before the I/O thread can deliver a request to it. */
    __atomic_store_n(&m->server, s, __ATOMIC_RELEASE);
    os_amqp_listen(m->amqp, topic, host);
    return 0;
}

void os_messaging_stop(struct os_messaging *m)
{
    if (!m)
        return;
    if (m->server)
        os_rpc_server_stop(m->server);
    os_amqp_stop(m->amqp);
    os_rpc_client_on_down(m->client);
}

void os_messaging_free(struct os_messaging *m)
{
    if (!m)
        return;
    os_messaging_stop(m);
    os_rpc_server_free(m->server);
    os_rpc_client_free(m->client);
    os_amqp_free(m->amqp);
    free(m->exchange);
    free(m);
}
