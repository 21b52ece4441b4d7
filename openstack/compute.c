#include "openstack/compute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/err.h"
#include "common/keylock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "driver/presculpt_pool.h"
#include "openstack/compute_live_priv.h"
#include "openstack/compute_priv.h"
#include "openstack/live_runs.h"
#include "openstack/messaging.h"
#include "openstack/notifier.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "common/uuid.h"

LOG_INIT("openstack.compute");

struct os_compute *os_compute_new(const struct os_compute_deps *d, struct err **err)
{
    if (!d->cfg || !d->msg || !d->hv || !d->host || !d->engine) {
        err_set(err, ERR_INVALID,
                "compute manager needs config, messaging, backend, host and engine");
        return NULL;
    }
    struct os_compute *c = xzalloc(sizeof(*c));
    c->cfg = cfg_ref((struct cfg *)d->cfg);
    if (d->cfg->host[0]) {
        snprintf(c->host, sizeof(c->host), "%s", d->cfg->host);
    } else if (gethostname(c->host, sizeof(c->host) - 1) < 0 || !c->host[0]) {
        snprintf(c->host, sizeof(c->host), "localhost");
    }
    /* One node per host, named like it (Nova's libvirt driver uses the
     * hypervisor's hostname, which is the host's). */
    snprintf(c->node, sizeof(c->node), "%s", c->host);
    c->msg = d->msg;
    c->conductor.rpc = d->msg->client;
    c->conductor.timeout_ms = d->msg->call_timeout_ms;
    c->conductor.retries = 3;
    c->hv = d->hv;
    c->host_topo = d->host;
    c->engine = d->engine;
    c->fleet = d->fleet;
    c->db = d->db;
    c->placement = d->placement;
    c->images = d->images;
    c->glance = d->glance;
    c->started_s = time(NULL);
    c->inst_locks = keylocks_new();
    c->live_runs = os_compute_live_runs_new(c);
    c->rpc_seconds = metrics_histogram(
        "sculpt_rpc_duration_seconds",
        "Compute RPC requests from Nova, by method and outcome (ok or the error code), from "
        "delivery to reply",
        "method,outcome", metrics_latency_buckets, METRICS_LATENCY_NBUCKETS);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    struct drv_control_config cc;
    struct drv_control_callbacks cb;
    drv_control_config_from_cfg(d->cfg, &cc);
    os_compute_control_callbacks(c, &cb);
    c->control =
        drv_control_new(c->engine, c->hv, c->fleet, &cc.predict, &cc.cost, &cc.params, &cb, err);
    if (!c->control) {
        os_compute_free(c);
        return NULL;
    }
    c->pools = os_compute_pools_new(c, err);
    if (!c->pools && err && *err) {
        os_compute_free(c);
        return NULL;
    }
    autofree char *publisher = xasprintf("compute.%s", c->host);
    c->notifier = os_notifier_new(d->cfg, publisher, d->msg->amqp, err);
    if (!c->notifier || os_notifier_start(c->notifier, err) < 0) {
        os_compute_free(c);
        return NULL;
    }
    return c;
}

const char *os_compute_host(const struct os_compute *c)
{
    return c->host;
}

void os_compute_cancel(struct os_compute *c)
{
    pthread_mutex_lock(&c->lock);
    c->cancelled = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

int os_compute_set_config(struct os_compute *c, const struct cfg *cfg, struct err **err)
{
    struct drv_control_config cc;
    drv_control_config_from_cfg(cfg, &cc);
    os_compute_pools_config(c, cfg);
    return drv_control_set_config(c->control, &cc.predict, &cc.cost, &cc.params, err);
}

/* The method's name as the table spells it, "unknown" for one it does not
 * have: label values stay a bounded set whatever arrives. */
static const char *compute_method_label(const char *method)
{
    for (size_t i = 0; method && i < os_compute_rpc_table_len; i++)
        if (strcmp(os_compute_rpc_table[i].name, method) == 0)
            return os_compute_rpc_table[i].name;
    return "unknown";
}

/* Every request's latency into sculpt_rpc_duration_seconds, and requests
 * in the event log (source "rpc"): all but successful queries. */
static void compute_rpc_done(void *opaque, const struct os_msg *m, unsigned flags, int rc,
                             const struct err *e, double ms)
{
    struct os_compute *c = opaque;
    metrics_observe(c->rpc_seconds, ms / 1000.0,
                    METRICS_LABELS(compute_method_label(m->method),
                                   rc == 0 ? "ok" : err_code_name(err_code_of(e))));
    if (!c->db || (rc == 0 && (flags & OS_RPC_READ)))
        return;
    const char *uuid = ovo_get_str(json_object_get(m->args, "instance"), "uuid");
    char source[] = "rpc";
    struct db_event ev = {
        .request_id = (char *)os_ctx_str(m->ctx, "request_id"),
        .source = source,
        .action = m->method,
        .code = rc < 0 && e ? e->code : 0,
        .message = rc < 0 && e ? e->msg : NULL,
        .duration_ms = ms,
    };
    if (uuid && uuid_is_valid(uuid))
        snprintf(ev.instance_uuid, sizeof(ev.instance_uuid), "%s", uuid);
    autoerr struct err *dberr = NULL;
    if (db_event_add(c->db, &ev, &dberr) < 0)
        log_err(LOG_LEVEL_WARN, dberr, "event not recorded");
}

int os_compute_start(struct os_compute *c, struct err **err)
{
    log_info("compute host `%s`: waiting for nova-conductor", c->host);
    if (os_compute_wait_conductor(c, err) < 0)
        return -1;
    if (os_compute_register(c, err) < 0)
        return -1;
    /* members first: a handed-over guest answers to its instance's uuid
     * (events included); the classes they were made from before them */
    os_compute_pools_recall(c);
    os_compute_pools_restore(c);
    os_compute_sync_subscribe(c);
    /* Heartbeats from now on: recovering interrupted operations may take
     * longer than Nova's service_down_time. */
    if (os_compute_threads_start(c, err) < 0)
        return -1;
    if (os_compute_recover(c, err) < 0)
        return -1;
    if (drv_control_start(c->control, err) < 0)
        return -1;
    if (c->pools && drv_pool_mgr_start(c->pools, err) < 0)
        return -1;
    os_compute_report_resources(c, true);
    /* the tracked list is whole and the provider made: the periodic
     * thread may look for allocations left behind */
    pthread_mutex_lock(&c->lock);
    c->recovered = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);

    struct os_rpc_server_opts o = {
        .table = os_compute_rpc_table,
        .ntable = os_compute_rpc_table_len,
        .workers = (int)c->cfg->executor_thread_pool_size,
        .opaque = c,
        .done = compute_rpc_done,
        .locks = c->inst_locks,
    };
    if (os_messaging_serve(c->msg, &o, OS_COMPUTE_TOPIC, c->host, err) < 0)
        return -1;
    log_info("compute host `%s` serving `compute.%s` (node %s)", c->host, c->host, c->node_uuid);
    return 0;
}

void os_compute_stop(struct os_compute *c)
{
    if (!c)
        return;
    drv_hv_set_event_cb(c->hv, NULL, NULL);
    os_compute_threads_stop(c);
    if (c->pools)
        drv_pool_mgr_stop(c->pools);
    if (c->control)
        drv_control_stop(c->control);
    if (c->msg->server)
        os_rpc_server_stop(c->msg->server);
    /* no live_migration cast comes any more: the queued ones go */
    os_compute_live_stop(c);
    /* after the last request: its .end notification is queued */
    os_notifier_stop(c->notifier);
}

void os_compute_free(struct os_compute *c)
{
    if (!c)
        return;
    os_compute_stop(c);
    json_decref(c->service);
    json_decref(c->node_obj);
    free(c->tracked);
    free(c->to_sync);
    free(c->moves_in);
    keylocks_free(c->inst_locks); /* the server is stopped: nobody waits */
    os_live_runs_free(c->live_runs);
    drv_pool_mgr_free(c->pools);
    os_compute_pools_saved_free(c->pools_saved);
    drv_control_free(c->control);
    os_notifier_free(c->notifier);
    cfg_unref(c->cfg);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}
