/* Registration with Nova, the service heartbeat and the resource tracker:
 * what nova/service.py, nova/servicegroup/drivers/db.py and the compute
 * side of nova/compute/resource_tracker.py do (protocol.md section 5). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "driver/host.h"
#include "driver/hypervisor.h"
#include "driver/sculpt.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_shelve.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"

LOG_INIT("openstack.compute_service");

/* nova/service.py's INITIAL_REPORTING_DELAY. */
#define HEARTBEAT_FIRST_MS 5000
/* nova-compute's update_available_resource spacing. */
#define RESOURCES_INTERVAL_MS 60000
/* what moved is reported this soon: changes that come together (a
 * build's claim, spawn and first reshapes) make one write */
#define RESOURCES_SOON_MS 5000
/* How often move claims are asked of Nova while there are some (a
 * claim lives from prep_resize to resize_instance's end, seconds, unless
 * the source gives up) */
#define MOVE_CLAIMS_INTERVAL_MS 10000
#define PING_TIMEOUT_MS 10000

/* Wait on the compute's condition until `ms` passed or stop/cancel (or,
 * with `syncs`, a guest to sync or a move claim noted).  Called with
 * c->lock held.  Returns true when stopping. */
static bool svc_wait_for(struct os_compute *c, int64_t ms, bool syncs)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t dl_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + ms * 1000000;
    struct timespec dl = {dl_ns / 1000000000, dl_ns % 1000000000};
    while (!c->stopping && !c->cancelled && !(syncs && (c->nto_sync || c->moves_in_new))) {
        if (syncs && c->resources_dirty) {
            /* the periodic pass: what moved is due soon, not at the minute */
            clock_gettime(CLOCK_MONOTONIC, &now);
            int64_t soon_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec +
                              RESOURCES_SOON_MS * 1000000LL;
            if (soon_ns < dl_ns) {
                dl_ns = soon_ns;
                dl = (struct timespec){dl_ns / 1000000000, dl_ns % 1000000000};
            }
        }
        if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
            break;
    }
    return c->stopping || c->cancelled;
}

static bool svc_wait(struct os_compute *c, int64_t ms)
{
    return svc_wait_for(c, ms, false);
}

int os_compute_wait_conductor(struct os_compute *c, struct err **err)
{
    for (int attempt = 1;; attempt++) {
        autoerr struct err *e = NULL;
        if (os_conductor_ping(&c->conductor, PING_TIMEOUT_MS, &e) == 0) {
            if (attempt > 1)
                log_info("nova-conductor answers");
            return 0;
        }
        log_err(LOG_LEVEL_WARN, e, "waiting for nova-conductor (attempt %d)", attempt);
        pthread_mutex_lock(&c->lock);
        bool stop = svc_wait(c, attempt < 10 ? 1000 : 5000);
        pthread_mutex_unlock(&c->lock);
        if (stop)
            return err_set(err, ERR_TIMEOUT, "stopped while waiting for nova-conductor");
    }
}

/* ---- the ComputeNode record ---- */

/* Set a field only when its value differs (steals v). */
static void svc_set(json_t *obj, const char *field, json_t *v)
{
    json_t *old = ovo_get(obj, field);
    if (old && json_equal(old, v)) {
        json_decref(v);
        return;
    }
    ovo_set(obj, field, v);
}

static char *svc_cpu_info(const struct drv_host *h, const struct cfg *cfg)
{
    int32_t sockets = h->nsockets > 0 ? h->nsockets : 1;
    int32_t threads = h->threads_per_core > 0 ? h->threads_per_core : 1;
    int32_t cores = h->ncores > 0 ? h->ncores / sockets : h->ncpus / sockets / threads;
    json_auto_t *j = json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i}, s:[]}", "arch", "x86_64",
                               "model", cfg->libvirt_cpu_model, "vendor", "Intel", "topology",
                               "cells", h->nnodes, "sockets", sockets, "cores",
                               cores > 0 ? cores : 1, "threads", threads, "features");
    return json_dumps(j, JSON_COMPACT);
}

static double svc_host_mem_mib(const struct drv_host *h)
{
    double mem = 0;
    for (int32_t i = 0; i < h->nnodes; i++)
        mem += h->nodes[i].mem_mib;
    return mem;
}

/* Fields that describe the host (set on create, refreshed when changed). */
static void svc_node_static(struct os_compute *c, json_t *obj)
{
    const struct drv_host *h = c->host_topo;
    struct drv_hv_host hi;
    autoerr struct err *e = NULL;
    memset(&hi, 0, sizeof(hi));
    if (drv_hv_host_info(c->hv, &hi, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "host information unavailable; reporting the topology only");
        snprintf(hi.hypervisor, sizeof(hi.hypervisor), "QEMU");
        snprintf(hi.virt_type, sizeof(hi.virt_type), "qemu");
    }
    autofree char *cpu_info = svc_cpu_info(h, c->cfg);
    svc_set(obj, "host", json_string(c->host));
    svc_set(obj, "hypervisor_hostname", json_string(c->node));
    svc_set(obj, "vcpus", json_integer(h->ncpus));
    svc_set(obj, "memory_mb", json_integer((json_int_t)llround(svc_host_mem_mib(h))));
    svc_set(obj, "local_gb", json_integer((json_int_t)llround(h->disk_gb)));
    svc_set(obj, "hypervisor_type", json_string(hi.hypervisor[0] ? hi.hypervisor : "QEMU"));
    svc_set(obj, "hypervisor_version", json_integer((json_int_t)hi.hypervisor_version));
    svc_set(obj, "cpu_info", json_string(cpu_info));
    svc_set(obj, "host_ip", json_string(c->cfg->my_ip));
    svc_set(obj, "disk_available_least", json_integer((json_int_t)llround(h->disk_gb)));
    svc_set(obj, "cpu_allocation_ratio", json_real(c->cfg->cpu_allocation_ratio));
    svc_set(obj, "ram_allocation_ratio", json_real(c->cfg->ram_allocation_ratio));
    svc_set(obj, "disk_allocation_ratio", json_real(c->cfg->disk_allocation_ratio));
    json_t *spec = ovo_new("HVSpec");
    ovo_set_str(spec, "arch", "x86_64");
    ovo_set_str(spec, "hv_type", hi.virt_type[0] ? hi.virt_type : "qemu");
    ovo_set_str(spec, "vm_mode", "hvm");
    svc_set(obj, "supported_hv_specs", json_pack("[o]", spec));
    if (!ovo_get(obj, "numa_topology"))
        ovo_set(obj, "numa_topology", json_null());
}

/* Usage, counted in flavors as Nova's resource tracker does. */
static void svc_node_usage(struct os_compute *c, json_t *obj)
{
    const struct drv_host *h = c->host_topo;
    int64_t vcpus = 0, mem = c->cfg->reserved_host_memory_mb, disk = 0, workload = 0;
    json_auto_t *stats = json_object();
    char key[96], val[32];
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->ntracked; i++) {
        const struct os_tracked *t = &c->tracked[i];
        vcpus += t->vcpus;
        mem += t->memory_mb;
        disk += t->disk_gb;
        if (strcmp(t->vm_state, "building") == 0 || strstr(t->task_state, "resize") ||
            strcmp(t->task_state, "rebuilding") == 0 || strstr(t->task_state, "image_"))
            workload++;
        const char *kinds[][2] = {{"num_vm_", t->vm_state},
                                  {"num_task_", t->task_state[0] ? t->task_state : "None"},
                                  {"num_proj_", t->project_id}};
        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
            snprintf(key, sizeof(key), "%s%s", kinds[k][0], kinds[k][1]);
            json_t *v = json_object_get(stats, key);
            snprintf(val, sizeof(val), "%lld", (long long)(v ? atoll(json_string_value(v)) : 0) + 1);
            json_object_set_new(stats, key, json_string(val));
        }
    }
    size_t n = c->ntracked;
    uint64_t failed = c->failed_builds;
    pthread_mutex_unlock(&c->lock);
    snprintf(val, sizeof(val), "%zu", n);
    json_object_set_new(stats, "num_instances", json_string(val));
    snprintf(val, sizeof(val), "%lld", (long long)workload);
    json_object_set_new(stats, "io_workload", json_string(val));
    snprintf(val, sizeof(val), "%llu", (unsigned long long)failed);
    json_object_set_new(stats, "failed_builds", json_string(val));
    if (n) {
        snprintf(val, sizeof(val), "%zu", n);
        json_object_set_new(stats, "num_os_type_None", json_string(val));
    }

    int64_t mem_total = llround(svc_host_mem_mib(h));
    int64_t disk_total = llround(h->disk_gb);
    svc_set(obj, "vcpus_used", json_integer(vcpus));
    svc_set(obj, "memory_mb_used", json_integer(mem));
    svc_set(obj, "local_gb_used", json_integer(disk));
    svc_set(obj, "free_ram_mb", json_integer(mem_total - mem));
    svc_set(obj, "free_disk_gb", json_integer(disk_total - disk));
    svc_set(obj, "running_vms", json_integer((json_int_t)n));
    svc_set(obj, "current_workload", json_integer(workload));
    svc_set(obj, "stats", json_incref(stats));
    svc_set(obj, "metrics", json_string("[]"));
    if (!ovo_get(obj, "pci_device_pools")) {
        json_t *pools = ovo_new("PciDevicePoolList");
        ovo_set(pools, "objects", json_array());
        ovo_set(obj, "pci_device_pools", pools);
    }
}

static json_t *svc_changes(json_t *obj)
{
    return json_object_get(obj, "nova_object.changes");
}

int os_compute_register(struct os_compute *c, struct err **err)
{
    json_auto_t *ctx = os_ctx_new_admin();
    autofree char *cls = NULL;

    /* Service: get, create on first start, bring the version up to ours. */
    json_auto_t *svc = os_conductor_class_action(&c->conductor, ctx, "Service", "get_by_host_and_binary",
                                                 json_pack("[s, s]", c->host, OS_COMPUTE_BINARY),
                                                 NULL, NULL, err);
    if (!svc)
        return err_wrap(err, "register service");
    if (json_is_null(svc)) {
        json_decref(svc);
        svc = ovo_new("Service");
        ovo_set_str(svc, "host", c->host);
        ovo_set_str(svc, "binary", OS_COMPUTE_BINARY);
        ovo_set_str(svc, "topic", OS_COMPUTE_TOPIC);
        ovo_set_int(svc, "report_count", 0);
        ovo_set_int(svc, "version", OS_SERVICE_VERSION);
        json_auto_t *r = os_conductor_object_action(&c->conductor, ctx, svc, "create", NULL, NULL, NULL,
                                                    err);
        if (!r)
            return err_wrap(err, "create service `%s`", c->host);
        log_info("registered service %s/%s", OS_COMPUTE_BINARY, c->host);
    } else {
        if (ovo_validate(svc, "Service", err) < 0)
            return err_wrap(err, "Service.get_by_host_and_binary");
        int64_t v = 0;
        if (!ovo_get_int(svc, "version", &v) || v != OS_SERVICE_VERSION) {
            ovo_set_int(svc, "version", OS_SERVICE_VERSION);
            json_auto_t *r = os_conductor_object_action(&c->conductor, ctx, svc, "save", NULL, NULL,
                                                        NULL, err);
            if (!r)
                return err_wrap(err, "update service version");
        }
        log_info("service %s/%s known to Nova (id %lld)", OS_COMPUTE_BINARY, c->host,
                 (long long)json_integer_value(ovo_get(svc, "id")));
    }
    bool disabled = false;
    ovo_get_bool(svc, "disabled", &disabled);

    /* ComputeNode: get, or create with our uuid (= the provider's). */
    json_auto_t *node = os_conductor_class_action(&c->conductor, ctx, "ComputeNode",
                                                  "get_by_host_and_nodename",
                                                  json_pack("[s, s]", c->host, c->node), NULL,
                                                  &cls, err);
    if (!node) {
        if (!cls || strcmp(cls, "ComputeHostNotFound") != 0)
            return err_wrap(err, "look up compute node");
        err_clear(err);
        char uuid[UUID_STR_LEN];
        if (uuid_generate(uuid, err) < 0)
            return -1;
        node = ovo_new("ComputeNode");
        ovo_set_str(node, "uuid", uuid);
        svc_node_static(c, node);
        svc_node_usage(c, node);
        json_auto_t *r = os_conductor_object_action(&c->conductor, ctx, node, "create", NULL, NULL,
                                                    NULL, err);
        if (!r)
            return err_wrap(err, "create compute node `%s`", c->node);
        log_info("registered compute node `%s` (%s)", c->node, uuid);
    } else if (ovo_validate(node, "ComputeNode", err) < 0) {
        return err_wrap(err, "ComputeNode.get_by_host_and_nodename");
    }
    const char *uuid = ovo_get_str(node, "uuid");
    if (!uuid || !uuid_is_valid(uuid))
        return err_set(err, ERR_INTERNAL, "compute node `%s` has no uuid", c->node);

    pthread_mutex_lock(&c->lock);
    json_decref(c->service);
    c->service = json_incref(svc);
    json_decref(c->node_obj);
    c->node_obj = json_incref(node);
    snprintf(c->node_uuid, sizeof(c->node_uuid), "%s", uuid);
    c->disabled = disabled;
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* ---- Placement ---- */

/* The engine's figures (drv_sculpt_inventory): Placement accepts what
 * admission would admit, as far as its model can say it. */
static void svc_inventory(const struct drv_sculpt_inventory *si,
                          struct os_placement_inventory inv[3])
{
    const struct drv_sculpt_inventory_item *it[3] = {&si->vcpu, &si->memory_mb, &si->disk_gb};
    const char *rc[3] = {"VCPU", "MEMORY_MB", "DISK_GB"};
    for (int i = 0; i < 3; i++)
        inv[i] = (struct os_placement_inventory){rc[i], it[i]->total, it[i]->reserved,
                                                 it[i]->min_unit, it[i]->max_unit,
                                                 it[i]->step_size, it[i]->allocation_ratio};
}

/* Write the inventories when they moved beyond the hysteresis since
 * Placement last got them (or when forced: a restart, a re-registration,
 * where Placement may hold anything). */
static int svc_report_inventories(struct os_compute *c, const char *uuid, bool force,
                                  struct err **err)
{
    struct drv_sculpt_inventory si;
    drv_sculpt_inventory(c->engine, &si);
    pthread_mutex_lock(&c->lock);
    struct drv_sculpt_inventory was = c->inv_reported;
    pthread_mutex_unlock(&c->lock);
    char why[256];
    bool differs = drv_sculpt_inventory_differs(&was, &si, c->cfg->engine_inventory_hysteresis,
                                                why, sizeof(why));
    if (!differs && !force)
        return 0;
    struct os_placement_inventory inv[3];
    svc_inventory(&si, inv);
    if (os_placement_set_inventories(c->placement, uuid, inv, 3, err) < 0)
        return -1;
    if (differs)
        log_info("Placement inventory of %s follows admission: %s", uuid, why);
    pthread_mutex_lock(&c->lock);
    c->inv_reported = si;
    c->inv_reported_ms = clock_wall_ms();
    pthread_mutex_unlock(&c->lock);
    return 0;
}

bool os_compute_inventory_reported(struct os_compute *c, struct drv_sculpt_inventory *out,
                                   int64_t *at_ms)
{
    pthread_mutex_lock(&c->lock);
    bool written = c->inv_reported_ms != 0;
    if (written) {
        *out = c->inv_reported;
        *at_ms = c->inv_reported_ms;
    }
    pthread_mutex_unlock(&c->lock);
    return written;
}

/* Capabilities the scheduler may ask for (os-traits names).  No interface
 * or volume attach: sculpt refuses those, so it does not claim them. */
static const char *const svc_traits[] = {
    "COMPUTE_NODE",
    "COMPUTE_IMAGE_TYPE_QCOW2",
    "COMPUTE_IMAGE_TYPE_RAW",
    "COMPUTE_IMAGE_TYPE_AKI",
    "COMPUTE_IMAGE_TYPE_ARI",
    "COMPUTE_IMAGE_TYPE_AMI",
    "COMPUTE_NET_VIF_MODEL_VIRTIO",
    "COMPUTE_STORAGE_BUS_VIRTIO",
    "CUSTOM_SCULPT",
};

static int svc_report_placement(struct os_compute *c, bool force, struct err **err)
{
    if (!c->placement)
        return 0;
    char uuid[DRV_UUID_LEN + 1];
    pthread_mutex_lock(&c->lock);
    snprintf(uuid, sizeof(uuid), "%s", c->node_uuid);
    bool disabled = c->disabled;
    pthread_mutex_unlock(&c->lock);
    if (os_placement_ensure_provider(c->placement, uuid, c->node, err) < 0)
        return -1;
    if (svc_report_inventories(c, uuid, force, err) < 0)
        return -1;
    const char *traits[ARRAY_SIZE(svc_traits) + 1];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(svc_traits); i++)
        traits[n++] = svc_traits[i];
    if (disabled)
        traits[n++] = "COMPUTE_STATUS_DISABLED";
    return os_placement_set_traits(c->placement, uuid, traits, n, err);
}

void os_compute_report_resources(struct os_compute *c, bool force)
{
    autoerr struct err *e = NULL;
    json_auto_t *ctx = os_ctx_new_admin();
    pthread_mutex_lock(&c->lock);
    json_t *node = c->node_obj ? json_deep_copy(c->node_obj) : NULL;
    bool dirty = c->resources_dirty;
    c->resources_dirty = false;
    pthread_mutex_unlock(&c->lock);
    if (!node)
        return;
    svc_node_static(c, node);
    svc_node_usage(c, node);
    if (json_array_size(svc_changes(node)) > 0) {
        json_t *r = os_conductor_object_action(&c->conductor, ctx, node, "save", NULL, NULL, NULL, &e);
        if (!r) {
            log_err(LOG_LEVEL_WARN, e, "compute node usage not saved; retrying later");
            err_clear(&e);
            pthread_mutex_lock(&c->lock);
            c->resources_dirty = true;
            pthread_mutex_unlock(&c->lock);
        } else {
            json_decref(r);
            pthread_mutex_lock(&c->lock);
            json_decref(c->node_obj);
            c->node_obj = json_incref(node);
            pthread_mutex_unlock(&c->lock);
        }
    }
    json_decref(node);
    if ((force || dirty) && svc_report_placement(c, force, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "Placement not updated; retrying later");
        pthread_mutex_lock(&c->lock);
        c->resources_dirty = true;
        pthread_mutex_unlock(&c->lock);
    }
}

/* ---- threads ---- */

static void svc_heartbeat_once(struct os_compute *c)
{
    autoerr struct err *e = NULL;
    autofree char *cls = NULL;
    json_auto_t *ctx = os_ctx_new_admin();
    pthread_mutex_lock(&c->lock);
    json_auto_t *svc = json_deep_copy(c->service);
    pthread_mutex_unlock(&c->lock);
    int64_t count = 0;
    ovo_get_int(svc, "report_count", &count);
    ovo_set_int(svc, "report_count", count + 1);
    json_t *r = os_conductor_object_action(&c->conductor, ctx, svc, "save", NULL, NULL, &cls, &e);
    if (!r) {
        /* nova-compute logs "Lost connection to nova-conductor" and tries
         * again at the next interval; the service is down after 60 s. */
        log_err(LOG_LEVEL_WARN, e, "service heartbeat failed");
        if (cls && strcmp(cls, "ServiceNotFound") == 0) {
            log_warn("our service record was deleted: registering again");
            err_clear(&e);
            if (os_compute_register(c, &e) < 0)
                log_err(LOG_LEVEL_WARN, e, "registering again failed");
            else
                os_compute_report_resources(c, true);
        }
        return;
    }
    json_decref(r);
    pthread_mutex_lock(&c->lock);
    json_decref(c->service);
    c->service = json_incref(svc);
    pthread_mutex_unlock(&c->lock);
    log_debug("heartbeat %lld", (long long)count + 1);
}

static void *svc_heartbeat_thread(void *arg)
{
    struct os_compute *c = arg;
    int64_t wait = HEARTBEAT_FIRST_MS;
    log_ctx_clear();
    for (;;) {
        pthread_mutex_lock(&c->lock);
        bool stop = svc_wait(c, wait);
        pthread_mutex_unlock(&c->lock);
        if (stop)
            break;
        int64_t t0 = clock_mono_ms();
        svc_heartbeat_once(c);
        /* keep the cadence: a slow save must not delay the next one more */
        wait = c->cfg->report_interval * 1000 - (clock_mono_ms() - t0);
        if (wait < 100)
            wait = 100;
    }
    return NULL;
}

/* A quarter of a time in seconds, between 1 s and the resources interval:
 * how often a periodic pass looks for what is due after that time. */
static int64_t svc_quarter_ms(int64_t seconds)
{
    int64_t ms = seconds * 250;
    return ms < 1000 ? 1000 : ms > RESOURCES_INTERVAL_MS ? RESOURCES_INTERVAL_MS : ms;
}

static void *svc_periodic_thread(void *arg)
{
    struct os_compute *c = arg;
    int64_t orphans_due = 0; /* the first pass once recovered */
    int64_t confirm_due = 0;
    int64_t claims_due = 0;
    int64_t shelve_due = 0;
    int64_t reclaim_due = 0;
    int64_t audit_due = 0;
    int64_t images_due = 0;
    int64_t tokens_due = 0;
    log_ctx_clear();
    for (;;) {
        /* resizes are confirmed within a quarter of the window after it
         * ends (Nova: within its periodic tasks' minute); shelved and
         * soft-deleted servers the same, with their own times */
        int64_t confirm_ms = svc_quarter_ms(c->cfg->resize_confirm_window);
        int64_t shelve_ms = svc_quarter_ms(c->cfg->shelved_offload_time);
        int64_t reclaim_ms = svc_quarter_ms(c->cfg->reclaim_instance_interval);
        /* Zed: manager_interval 0 is its periodic tasks' minute, -1 never */
        int64_t images_ms = c->cfg->image_cache_manager_interval > 0
                                ? c->cfg->image_cache_manager_interval * 1000
                                : RESOURCES_INTERVAL_MS;
        /* instance_delete_interval: the same, for expired console tokens */
        int64_t tokens_ms = c->cfg->instance_delete_interval > 0
                                ? c->cfg->instance_delete_interval * 1000
                                : RESOURCES_INTERVAL_MS;
        pthread_mutex_lock(&c->lock);
        /* a second at a time until the recovery is over (it may be slow) */
        int64_t ms = !c->recovered ? 1000 : RESOURCES_INTERVAL_MS;
        if (c->cfg->resize_confirm_window > 0 && ms > confirm_ms)
            ms = confirm_ms;
        if (c->cfg->shelved_offload_time > 0 && ms > shelve_ms)
            ms = shelve_ms;
        if (c->cfg->reclaim_instance_interval > 0 && ms > reclaim_ms)
            ms = reclaim_ms;
        if (c->cfg->image_cache_manager_interval >= 0 && ms > images_ms)
            ms = images_ms;
        if (c->cfg->instance_delete_interval >= 0 && ms > tokens_ms)
            ms = tokens_ms;
        if (c->nmoves_in > 0 && ms > MOVE_CLAIMS_INTERVAL_MS)
            ms = MOVE_CLAIMS_INTERVAL_MS;
        bool stop = svc_wait_for(c, ms, true);
        bool recovered = c->recovered;
        bool claims = c->nmoves_in > 0;
        c->moves_in_new = false;
        pthread_mutex_unlock(&c->lock);
        if (stop)
            break;
        os_compute_sync_pending(c);
        os_compute_report_resources(c, false);
        /* update_available_resource's pass over our allocations, at its
         * spacing: only with the whole list of what we track */
        if (recovered && clock_mono_ms() >= orphans_due) {
            os_compute_orphans_release(c);
            orphans_due = clock_mono_ms() + RESOURCES_INTERVAL_MS;
        }
        if (recovered && c->cfg->resize_confirm_window > 0 && clock_mono_ms() >= confirm_due) {
            os_compute_resize_autoconfirm(c);
            confirm_due = clock_mono_ms() + confirm_ms;
        }
        if (recovered && c->cfg->shelved_offload_time > 0 && clock_mono_ms() >= shelve_due) {
            os_compute_shelve_poll(c);
            shelve_due = clock_mono_ms() + shelve_ms;
        }
        if (recovered && c->cfg->reclaim_instance_interval > 0 &&
            clock_mono_ms() >= reclaim_due) {
            os_compute_reclaim_poll(c);
            reclaim_due = clock_mono_ms() + reclaim_ms;
        }
        /* Zed's _instance_usage_audit runs at the periodic tasks' minute */
        if (recovered && c->cfg->instance_usage_audit && clock_mono_ms() >= audit_due) {
            os_compute_usage_audit(c);
            audit_due = clock_mono_ms() + RESOURCES_INTERVAL_MS;
        }
        if (recovered && c->cfg->image_cache_manager_interval >= 0 &&
            clock_mono_ms() >= images_due) {
            os_compute_image_cache_pass(c);
            images_due = clock_mono_ms() + images_ms;
        }
        if (recovered && c->cfg->instance_delete_interval >= 0 &&
            clock_mono_ms() >= tokens_due) {
            autoerr struct err *e = NULL;
            if (os_compute_console_tokens_purge(c, &e) < 0)
                log_err(LOG_LEVEL_WARN, e, "expired console tokens not removed");
            tokens_due = clock_mono_ms() + tokens_ms;
        }
        if (recovered && claims && clock_mono_ms() >= claims_due) {
            os_compute_move_claims_check(c);
            claims_due = clock_mono_ms() + MOVE_CLAIMS_INTERVAL_MS;
        }
    }
    return NULL;
}

int os_compute_threads_start(struct os_compute *c, struct err **err)
{
    int rc = pthread_create(&c->heartbeat, NULL, svc_heartbeat_thread, c);
    if (rc != 0)
        return err_set_errno(err, rc, "start the heartbeat thread");
    c->heartbeat_started = true;
    rc = pthread_create(&c->periodic, NULL, svc_periodic_thread, c);
    if (rc != 0)
        return err_set_errno(err, rc, "start the periodic thread");
    c->periodic_started = true;
    return 0;
}

void os_compute_threads_stop(struct os_compute *c)
{
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (c->heartbeat_started)
        pthread_join(c->heartbeat, NULL);
    if (c->periodic_started)
        pthread_join(c->periodic, NULL);
    c->heartbeat_started = c->periodic_started = false;
}

void os_compute_resources_moved_locked(struct os_compute *c)
{
    c->resources_dirty = true;
    pthread_cond_broadcast(&c->cond);
}

void os_compute_track(struct os_compute *c, const struct os_tracked *t)
{
    pthread_mutex_lock(&c->lock);
    size_t i = 0;
    while (i < c->ntracked && strcmp(c->tracked[i].uuid, t->uuid) != 0)
        i++;
    if (i == c->ntracked) {
        c->tracked = xreallocarray(c->tracked, c->ntracked + 1, sizeof(*c->tracked));
        c->ntracked++;
    }
    c->tracked[i] = *t;
    os_compute_resources_moved_locked(c);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void os_compute_untrack(struct os_compute *c, const char *uuid)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->ntracked; i++) {
        if (strcmp(c->tracked[i].uuid, uuid) == 0) {
            c->tracked[i] = c->tracked[--c->ntracked];
            os_compute_resources_moved_locked(c);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}
