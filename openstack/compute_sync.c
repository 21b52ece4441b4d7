/* A guest's power state changed without sculpt doing it -- it powered
 * itself off, crashed, was paused by hand -- and Nova must see it
 * (nova/compute/manager.py _sync_instance_power_state): the backend's
 * event queues the instance, the periodic thread reads Nova's record and
 * saves what the hypervisor says.  A running instance whose guest stopped
 * becomes SHUTOFF (vm_state stopped), as Nova's sync stops it.  Memory
 * events (a hot-plug stall, memory left offline, a catch-up) change no
 * power state: they go straight to the event log. */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_sync");

/* Queue a guest for a sync (c->lock held). */
static void sync_queue(struct os_compute *c, const char *uuid)
{
    for (size_t i = 0; i < c->nto_sync; i++)
        if (strcmp(c->to_sync[i], uuid) == 0)
            return;
    c->to_sync = xreallocarray(c->to_sync, c->nto_sync + 1, sizeof(*c->to_sync));
    snprintf(c->to_sync[c->nto_sync++], DRV_UUID_LEN + 1, "%s", uuid);
}

void os_compute_memory_event(const struct drv_hv_event *ev, const struct drv_hv_info *info,
                             struct db_event *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->instance_uuid, sizeof(out->instance_uuid), "%s", ev->uuid);
    out->at_ms = ev->wall_ms;
    out->source = xstrdup("hypervisor");
    const char *why = ev->reason[0] ? ev->reason : "changed";
    out->action = xasprintf("memory.%s", why);
    size_t n = strlen(why);
    bool late = (n > 8 && strcmp(why + n - 8, "-stalled") == 0) ||
                (n > 8 && strcmp(why + n - 8, "-offline") == 0);
    out->code = late ? ERR_TIMEOUT : 0;
    if (!info) {
        out->message = xasprintf("memory hot-plug %s (the guest could not be read)", why);
        return;
    }
    autofree char *offline =
        info->mem_offline_mib > 0 ? xasprintf(", %.0f MiB left offline", info->mem_offline_mib)
                                  : NULL;
    out->message = xasprintf("memory hot-plug %s: asked %.0f MiB, holds %.0f MiB (device: "
                             "%.0f MiB requested, %.0f MiB plugged%s)",
                             why, info->mem_asked_mib, info->shape.res.v[DRV_RES_MEM_MIB],
                             info->mem_requested_mib, info->mem_plugged_mib,
                             offline ? offline : "");
}

/* A memory event goes to the event log as it comes (a queued write):
 * nothing to tell Nova, the power state is unchanged. */
static void sync_record_memory(struct os_compute *c, const struct drv_hv_event *ev)
{
    if (!c->db || !ev->uuid[0])
        return;
    struct drv_hv_info info;
    bool read = drv_hv_get_info(c->hv, ev->uuid, &info, NULL) == 0;
    struct db_event rec;
    os_compute_memory_event(ev, read ? &info : NULL, &rec);
    autoerr struct err *e = NULL;
    if (db_event_add(c->db, &rec, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "memory event of %s not recorded", ev->uuid);
    db_event_release(&rec);
}

/* The backend's event thread: note it and return. */
static void sync_event(const struct drv_hv_event *ev, void *opaque)
{
    struct os_compute *c = opaque;
    if (ev->type == DRV_HV_EVENT_MEMORY) {
        sync_record_memory(c, ev);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (ev->type == DRV_HV_EVENT_RECONNECTED) {
        /* events were lost while the hypervisor was away: look at all */
        for (size_t i = 0; i < c->ntracked; i++)
            sync_queue(c, c->tracked[i].uuid);
    } else if (!ev->by_sculpt && ev->uuid[0] &&
               (ev->type == DRV_HV_EVENT_STOPPED || ev->type == DRV_HV_EVENT_CRASHED ||
                ev->type == DRV_HV_EVENT_STARTED || ev->type == DRV_HV_EVENT_PAUSED ||
                ev->type == DRV_HV_EVENT_RESUMED || ev->type == DRV_HV_EVENT_SUSPENDED)) {
        sync_queue(c, ev->uuid);
    } else {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void os_compute_sync_subscribe(struct os_compute *c)
{
    drv_hv_set_event_cb(c->hv, sync_event, c);
}

/* The event log says why the instance changed without a request. */
static void sync_record_event(struct os_compute *c, const char *uuid, enum drv_power_state power,
                              const char *vm_state)
{
    if (!c->db)
        return;
    autofree char *action = xasprintf("power_state.%s", drv_power_state_name(power));
    autofree char *msg = xasprintf("changed behind sculpt's back; Nova told (vm_state %s)",
                                   vm_state ? vm_state : "?");
    struct db_event ev = {.source = (char *)"hypervisor", .action = action, .message = msg};
    snprintf(ev.instance_uuid, sizeof(ev.instance_uuid), "%s", uuid);
    autoerr struct err *e = NULL;
    if (db_event_add(c->db, &ev, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "event not recorded");
}

static void sync_one(struct os_compute *c, const char *uuid)
{
    autoerr struct err *e = NULL;
    struct drv_hv_info info;
    enum drv_power_state power = DRV_POWER_NOSTATE;
    if (drv_hv_get_info(c->hv, uuid, &info, &e) == 0)
        power = info.state;
    else if (err_code_of(e) != ERR_NOT_FOUND)
        return; /* the hypervisor cannot say now; a later event will */
    err_clear(&e);
    json_auto_t *ctx = os_ctx_new_admin();
    bool gone = false;
    json_auto_t *prim = os_compute_instance_now(
        c, ctx, uuid, (const char *const[]){"flavor", "system_metadata", NULL}, &gone, &e);
    if (!prim) {
        if (!gone)
            log_err(LOG_LEVEL_WARN, e, "power state of %s not synced", uuid);
        return;
    }
    autoptr(os_inst) i = os_inst_new(prim, ctx, &c->conductor, c->host, &e);
    if (!i)
        return;
    const char *host = ovo_get_str(i->prim, "host");
    const char *vm = os_inst_vm_state(i);
    int64_t have = -1;
    ovo_get_int(i->prim, "power_state", &have);
    if (!host || strcmp(host, c->host) != 0 || os_inst_task_state(i) || !vm ||
        strcmp(vm, "building") == 0 || have == (int64_t)power)
        return; /* not ours, busy, or already right */
    os_inst_set_int(i, "power_state", power);
    if (strcmp(vm, "active") == 0 &&
        (power == DRV_POWER_SHUTDOWN || power == DRV_POWER_CRASHED || power == DRV_POWER_NOSTATE))
        os_inst_set_str(i, "vm_state", "stopped");
    const char *const none[] = {OS_TASK_NONE, NULL};
    if (os_inst_save(i, none, NULL, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "power state of %s not synced", uuid);
        return;
    }
    log_info("instance %s: power state %s from the hypervisor (vm_state %s)", uuid,
             drv_power_state_name(power), os_inst_vm_state(i));
    os_compute_track_inst(c, i);
    os_compute_record_state(c, i);
    sync_record_event(c, uuid, power, os_inst_vm_state(i));
}

void os_compute_sync_pending(struct os_compute *c)
{
    for (;;) {
        char uuid[DRV_UUID_LEN + 1];
        pthread_mutex_lock(&c->lock);
        if (c->nto_sync == 0) {
            pthread_mutex_unlock(&c->lock);
            return;
        }
        snprintf(uuid, sizeof(uuid), "%s", c->to_sync[--c->nto_sync]);
        pthread_mutex_unlock(&c->lock);
        sync_one(c, uuid);
    }
}
