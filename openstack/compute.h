/* sculpt-compute's compute manager: what nova-compute's ComputeManager
 * and resource tracker do, in front of sculpt's driver.
 *
 * Start-up registers the host with Nova through nova-conductor (Service,
 * ComputeNode), creates its Placement resource provider and inventories,
 * then serves the compute RPC API on `compute.<host>`; a heartbeat thread
 * keeps the service up in Nova (Service.save every report_interval) and a
 * periodic task keeps ComputeNode and Placement in step with the host.
 *
 * Every component is borrowed from the daemon (which owns and frees them)
 * and must outlive os_compute_stop().
 */
#ifndef SC_OPENSTACK_COMPUTE_H
#define SC_OPENSTACK_COMPUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

struct cfg;
struct err;
struct db;
struct drv_host;
struct drv_fleet;
struct drv_hv;
struct drv_sculpt;
struct drv_sculpt_inventory;
struct os_glance;
struct os_image_cache;
struct os_keystone;
struct os_messaging;
struct os_placement;

struct os_compute_deps {
    const struct cfg *cfg;          /* the configuration at start (a reference is taken) */
    struct os_messaging *msg;       /* started; RPC server not yet */
    struct drv_hv *hv;              /* the hypervisor backend */
    const struct drv_host *host;    /* the host's topology and limits */
    struct drv_sculpt *engine;      /* admission, placement and shapes */
    struct drv_fleet *fleet;        /* fleet history new guests' blueprints start from */
    struct db *db;                  /* durable state; NULL: none */
    struct os_placement *placement; /* NULL: Placement is not reported (tests without it) */
    struct os_image_cache *images;  /* NULL: builds fail (no image source) */
    struct os_glance *glance;       /* where snapshots go; NULL: they fail */
};

struct os_compute;

struct os_compute *os_compute_new(const struct os_compute_deps *deps, struct err **err);

/* Register with Nova (waiting for nova-conductor as long as it takes, or
 * until os_compute_cancel()), report the host, and serve RPC.  Returns 0,
 * or -1 with *err (ERR_TIMEOUT when cancelled, or a registration failure
 * Nova returned). */
int os_compute_start(struct os_compute *c, struct err **err);

/* Make a blocked os_compute_start() give up.  Async-signal-unsafe: call
 * from a normal thread. */
void os_compute_cancel(struct os_compute *c);

/* Stop heartbeats and periodic tasks, stop serving (requests in progress
 * finish).  The service goes down in Nova after service_down_time. */
void os_compute_stop(struct os_compute *c);
void os_compute_free(struct os_compute *c);
DEFINE_AUTOPTR(os_compute)

/* Save in the database (queued; nothing without a database) the
 * predictor state of every guest whose state changed since it was last
 * saved, so a restart continues their prediction: the daemon calls it
 * with the fleet history and after os_compute_stop().  *guests and
 * *bytes (compressed; either may be NULL) get what was written.  Any
 * thread. */
int os_compute_predictors_save(struct os_compute *c, size_t *guests, size_t *bytes,
                               struct err **err);

/* Save in the database (queued; nothing without a database or pools) what
 * the pool manager learnt besides requests and templates and changed
 * since the last save: each class's boot time, the planner's idle-budget
 * calibration; read back at start-up.  *written (may be NULL) gets how
 * many of them were written.  Any thread, one at a time. */
int os_compute_pools_save(struct os_compute *c, size_t *written, struct err **err);

/* Forget (at most 64 per call) the request classes nobody asked for within
 * [database] pool_class_retention and no live member was made from, as
 * the database's retention drops their rows: the running service's
 * classes stay bounded as a restarted one's are.  Returns how many went.
 * Any thread. */
size_t os_compute_pools_trim(struct os_compute *c);

/* Settings changed at run time (PUT /v1/config/..., SIGHUP) for what it
 * owns: the control loop (prediction settings, prices, period, blueprint
 * horizon and step) and the pool manager ([presculpt]).  Any thread.
 * ERR_INVALID: the control loop kept its settings (the pools took theirs). */
int os_compute_set_config(struct os_compute *c, const struct cfg *cfg, struct err **err);

/* The inventory Placement last got from this service and when (wall
 * clock ms); false before the first write.  It lags what the engine's
 * figures make now by up to [engine] inventory_hysteresis.  Any thread. */
bool os_compute_inventory_reported(struct os_compute *c, struct drv_sculpt_inventory *out,
                                   int64_t *at_ms);

/* The host and node names in use. */
const char *os_compute_host(const struct os_compute *c);


#endif
