/* Memory hot-plug as the guests do it: what each guest plugged (libvirt's
 * memory-device-size-change event, a read back), the verdict when a guest
 * stops short of the request (a log line, a DRV_HV_EVENT_MEMORY event, the
 * metric sculpt_memory_hotplug_stalled_total) or plugs memory it leaves
 * offline (its MemTotal, sculpt_memory_hotplug_offline_total), and the
 * balloon lowered under a guest that holds more plugged than requested. */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "driver/hypervisor_priv.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/guest.h"

LOG_INIT("driver.libvirt.vmem");

#define MIB(kib) ((unsigned long long)((kib) / 1024))

/* The balloon never takes more than 3/4 of the boot memory: the guest's
 * kernel keeps the pages it cannot give up there. */
static uint64_t lv_vmem_floor_kib(const struct lv_vmem *v)
{
    return v->boot_kib / 4;
}

static struct metrics_family *lv_vmem_stalled_family(void)
{
    return metrics_counter("sculpt_memory_hotplug_stalled_total",
                           "Guests that stopped short of the memory hot-plug requested of them "
                           "([libvirt] memory_hotplug_timeout without a move).",
                           "direction");
}

static struct metrics_family *lv_vmem_offline_family(void)
{
    return metrics_counter("sculpt_memory_hotplug_offline_total",
                           "Guests that plugged memory their kernel left offline (absent from "
                           "their MemTotal for [libvirt] memory_hotplug_timeout).",
                           NULL);
}

void lv_vmem_metrics_init(void)
{
    /* every series from the start, so a rate() sees the first stall */
    metrics_add(lv_vmem_stalled_family(), 0, METRICS_LABELS("plug"));
    metrics_add(lv_vmem_stalled_family(), 0, METRICS_LABELS("unplug"));
    metrics_add(lv_vmem_offline_family(), 0, NULL);
}

/* The offline verdicts' log lines and event reasons. */
static const char *lv_vmem_report_offline(struct lv *lv, const char *uuid, enum lv_vmem_news n,
                                          const struct lv_vmem *v)
{
    if (n == LV_VMEM_NEWS_ONLINED) {
        log_info("guest %s shows the memory it plugged, after all", uuid);
        return "onlined";
    }
    log_warn("guest %s plugged %llu MiB but its kernel shows %llu MiB fewer than it holds, for "
             "%lld s: memory left offline (no memhp_default_state=online or udev rule in the "
             "guest?); it can use %llu MiB, the request stands",
             uuid, MIB(v->current_kib), MIB(v->offline_kib),
             (long long)(lv->vmem_timeout_ms / 1000),
             MIB(lv_vmem_usable_kib(v, lv_vmem_balloon_now_kib(v))));
    metrics_add(lv_vmem_offline_family(), 1, NULL);
    return "plug-offline";
}

void lv_vmem_report(struct lv *lv, const char *uuid, enum lv_vmem_news n, const struct lv_vmem *v,
                    enum drv_power_state state)
{
    if (n == LV_VMEM_NEWS_NONE)
        return;
    bool plug = v->current_kib < v->requested_kib;
    struct drv_hv_event ev = {
        .type = DRV_HV_EVENT_MEMORY, .state = state, .by_sculpt = true, .wall_ms = clock_wall_ms()};
    snprintf(ev.uuid, sizeof(ev.uuid), "%s", uuid);
    if (n == LV_VMEM_NEWS_OFFLINE || n == LV_VMEM_NEWS_ONLINED) {
        snprintf(ev.reason, sizeof(ev.reason), "%s", lv_vmem_report_offline(lv, uuid, n, v));
    } else if (n == LV_VMEM_NEWS_CAUGHT_UP) {
        log_info("guest %s holds the %llu MiB plugged that were requested, after all", uuid,
                 MIB(v->requested_kib));
        snprintf(ev.reason, sizeof(ev.reason), "caught-up");
    } else if (plug) {
        log_warn("guest %s plugged %llu MiB of the %llu MiB requested and made no move for %lld "
                 "s: it stays at %llu MiB of boot memory plus that (no virtio_mem driver in "
                 "the guest, or memory not onlined?); the request stands, not repeated",
                 uuid, MIB(v->current_kib), MIB(v->requested_kib),
                 (long long)(lv->vmem_timeout_ms / 1000), MIB(v->boot_kib));
        snprintf(ev.reason, sizeof(ev.reason), "plug-stalled");
    } else {
        log_warn("guest %s keeps %llu MiB plugged of the %llu MiB requested after %lld s "
                 "without a move (blocks it cannot unplug: kernel memory); the balloon takes "
                 "the excess",
                 uuid, MIB(v->current_kib), MIB(v->requested_kib),
                 (long long)(lv->vmem_timeout_ms / 1000));
        snprintf(ev.reason, sizeof(ev.reason), "unplug-stalled");
    }
    if (n == LV_VMEM_NEWS_STALLED)
        metrics_add(lv_vmem_stalled_family(), 1, METRICS_LABELS(plug ? "plug" : "unplug"));
    drv_hv_emit(lv->hv, &ev);
}

void lv_vmem_on_size(struct lv *lv, const char *uuid, uint64_t current_kib)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (!e || !e->vmem.size_kib) {
        pthread_mutex_unlock(&lv->lock);
        return;
    }
    /* a stall is declared by the tick, once the device is read back */
    enum lv_vmem_news n = lv_vmem_observe(&e->vmem, current_kib, clock_mono_ms(), INT64_MAX);
    struct lv_vmem v = e->vmem;
    enum drv_power_state st = e->state;
    pthread_mutex_unlock(&lv->lock);
    log_debug("guest %s: %llu MiB plugged of %llu requested", uuid, MIB(current_kib),
              MIB(v.requested_kib));
    lv_vmem_report(lv, uuid, n, &v, st);
}

double lv_vmem_short_mib(const struct lv_vmem *v)
{
    bool short_of_request = v->stalled && v->current_kib < v->requested_kib;
    if (!v->size_kib || (!v->offline && !short_of_request))
        return 0;
    /* what it holds, less what it left offline (plugged or not) */
    return (double)lv_vmem_usable_kib(v, lv_vmem_balloon_now_kib(v)) / 1024;
}

bool lv_vmem_seen(struct lv *lv, struct lv_entry *e, const struct drv_hv_sample *x,
                  struct lv_vmem_seen *out)
{
    const struct drv_hv_counters *r = &x->raw;
    if (!e->vmem.size_kib || x->state != DRV_POWER_RUNNING || !r->has_balloon ||
        !r->has_guest_mem || r->guest_stats_wall_s <= 0)
        return false;
    enum lv_vmem_news n = lv_vmem_observe_total(
        &e->vmem, (uint64_t)(r->balloon_mib * 1024 + 0.5), (uint64_t)(r->guest_total_mib * 1024 + 0.5),
        r->guest_stats_wall_s, x->wall_ms / 1000, x->mono_ns / 1000000, lv->vmem_timeout_ms);
    if (n == LV_VMEM_NEWS_NONE)
        return false;
    snprintf(out->uuid, sizeof(out->uuid), "%s", e->uuid);
    out->news = n;
    out->v = e->vmem;
    out->state = x->state;
    return true;
}

bool lv_vmem_gap_unsaved(const struct lv_entry *e)
{
    return e->vmem.size_kib && e->vmem.has_gap_base &&
           (!e->gap_saved || e->gap_saved_kib != e->vmem.gap_base_kib);
}

void lv_vmem_gap_record(struct lv *lv, const char *uuid)
{
    autoerr struct err *err = NULL;
    virDomainPtr dom = lv_domain(lv, uuid, false, &err);
    if (!dom) {
        log_err(LOG_LEVEL_DEBUG, err, "guest %s: kernel's memory share not recorded", uuid);
        return;
    }
    pthread_mutex_lock(&lv->run_lock);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    struct lv_run run;
    bool write = e && e->state == DRV_POWER_RUNNING && lv_vmem_gap_unsaved(e);
    if (write)
        lv_run_of(e, &run);
    pthread_mutex_unlock(&lv->lock);
    int rc = write ? lv_write_run(dom, &run, &err) : 0;
    if (write) {
        /* written or not, not tried again until it changes: a restart
         * without it learns it anew, as before */
        pthread_mutex_lock(&lv->lock);
        e = lv_entry_find(lv, uuid);
        if (e) {
            e->gap_saved = true;
            e->gap_saved_kib = run.gap_base_kib;
        }
        pthread_mutex_unlock(&lv->lock);
        if (rc < 0)
            log_err(LOG_LEVEL_WARN, err, "guest %s: kernel's memory share (%llu MiB) not "
                    "recorded in its run", uuid, MIB(run.gap_base_kib));
        else
            log_debug("guest %s: kernel's memory share %llu KiB recorded in its run", uuid,
                      (unsigned long long)run.gap_base_kib);
    }
    pthread_mutex_unlock(&lv->run_lock);
    virDomainFree(dom);
}

uint64_t lv_vmem_balloon_for(const struct lv_vmem *v, double mem_mib)
{
    uint64_t bal, req;
    lv_design_mem_split((uint64_t)(mem_mib * 1024 + 0.5), v->boot_kib, v->size_kib, &bal, &req);
    return lv_vmem_balloon_kib(v, bal, lv_vmem_floor_kib(v));
}

/* A guest about to be declared stalled is read back first: the request
 * may have changed behind this process (another sculpt process, virsh),
 * and a plug event may have been lost with a connection. */
static void lv_vmem_read_back(struct lv *lv, const char *uuid)
{
    autoerr struct err *err = NULL;
    virDomainPtr dom = lv_domain(lv, uuid, false, &err);
    if (dom) {
        if (lv_entry_load(lv, uuid, dom, true, &err) < 0)
            log_err(LOG_LEVEL_DEBUG, err, "guest %s: memory device not read back", uuid);
        virDomainFree(dom);
    }
}

/* Set the balloon of guest `uuid` to balloon_kib, the offset of what it
 * holds plugged beyond the request (`v`, as decided). */
static void lv_vmem_offset(struct lv *lv, const char *uuid, const struct lv_vmem *v,
                           uint64_t balloon_kib)
{
    autoerr struct err *err = NULL;
    virDomainPtr dom = lv_domain(lv, uuid, false, &err);
    if (dom && lv_guest_set_balloon(dom, virDomainGetName(dom), balloon_kib, &err) == 0) {
        pthread_mutex_lock(&lv->lock);
        struct lv_entry *e = lv_entry_find(lv, uuid);
        if (e)
            e->vmem.balloon_kib = balloon_kib;
        pthread_mutex_unlock(&lv->lock);
        log_info("guest %s: balloon at %llu MiB, offsetting %llu MiB plugged beyond the %llu "
                 "requested",
                 uuid, MIB(balloon_kib),
                 MIB(v->current_kib > v->requested_kib ? v->current_kib - v->requested_kib : 0),
                 MIB(v->requested_kib));
    } else {
        log_err(LOG_LEVEL_WARN, err,
                "guest %s: balloon not set to %llu MiB, tried again at the "
                "next sample",
                uuid, MIB(balloon_kib));
    }
    if (dom)
        virDomainFree(dom);
}

/* What the tick found of one guest. */
struct lv_vmem_due {
    char uuid[DRV_UUID_LEN + 1];
    struct lv_vmem v;
    uint64_t balloon_kib; /* the balloon to set */
};

void lv_vmem_tick(struct lv *lv)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&lv->lock);
    size_t cap = lv->n ? lv->n : 1, nd = 0;
    struct lv_vmem_due *due = xcalloc(cap, sizeof(*due));
    for (size_t i = 0; i < lv->n; i++) {
        struct lv_entry *e = lv->g[i];
        if (!e->ours || !e->loaded)
            continue;
        enum lv_vmem_guest g = e->state == DRV_POWER_PAUSED    ? LV_VMEM_GUEST_PAUSED
                               : e->state != DRV_POWER_RUNNING ? LV_VMEM_GUEST_DOWN
                               : e->mem_pending                ? LV_VMEM_GUEST_BOOTING
                                                               : LV_VMEM_GUEST_RUNNING;
        if (lv_vmem_due(&e->vmem, g, now, lv->vmem_timeout_ms))
            snprintf(due[nd++].uuid, sizeof(due[0].uuid), "%s", e->uuid);
    }
    pthread_mutex_unlock(&lv->lock);
    for (size_t i = 0; i < nd; i++)
        lv_vmem_read_back(lv, due[i].uuid); /* reports a stall it confirms */

    pthread_mutex_lock(&lv->lock);
    nd = 0;
    for (size_t i = 0; i < lv->n && nd < cap; i++) {
        struct lv_entry *e = lv->g[i];
        if (!e->ours || !e->loaded || !e->vmem.size_kib || !e->vmem.balloon_kib ||
            (e->state != DRV_POWER_RUNNING && e->state != DRV_POWER_PAUSED))
            continue;
        uint64_t want = lv_vmem_balloon_for(&e->vmem, e->applied.res.v[DRV_RES_MEM_MIB]);
        if (want == e->vmem.balloon_kib)
            continue;
        snprintf(due[nd].uuid, sizeof(due[nd].uuid), "%s", e->uuid);
        due[nd].v = e->vmem;
        due[nd++].balloon_kib = want;
    }
    pthread_mutex_unlock(&lv->lock);
    for (size_t i = 0; i < nd; i++)
        lv_vmem_offset(lv, due[i].uuid, &due[i].v, due[i].balloon_kib);
    free(due);
}
