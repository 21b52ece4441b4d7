/* Live reshape: each knob that differs from what is set, through its own
 * libvirt call, nothing else.  Order: vCPUs first (a grown guest needs its
 * new vCPUs before the quota is spread over them), then quota, pinning,
 * NUMA, balloon, bandwidth, I/O.  After each knob the entry records it, so
 * a failure part-way leaves an exact record and the next reshape retries
 * only the rest. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor_priv.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/guest.h"

LOG_INIT("driver.libvirt.reshape");

/* What reshape needs of an entry, copied out of the lock. */
struct lv_target {
    char name[DRV_HV_NAME_MAX + 1];
    struct drv_shape applied;
    struct drv_cpuset def_pcpus;
    int32_t vcpus_max;
    double mem_max_mib;
    enum drv_power_state state;
    char taps[DRV_HV_MAX_VIFS][DRV_HV_TAP_MAX + 1];
    size_t ntaps;
    char disk[8];
    struct lv_vmem vmem;
    int64_t started_ms;
    double held_mib;
};

static int lv_target_get(struct lv *lv, const char *uuid, struct lv_target *t, struct err **err)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (!e || !e->loaded) {
        pthread_mutex_unlock(&lv->lock);
        return err_set(err, ERR_NOT_FOUND, "no guest `%s`", uuid);
    }
    snprintf(t->name, sizeof(t->name), "%s", e->name);
    t->applied = e->applied;
    t->def_pcpus = e->def_pcpus;
    t->vcpus_max = e->applied.vcpus_max;
    t->mem_max_mib = e->applied.mem_max_mib;
    t->state = e->state;
    t->ntaps = e->names.ntaps;
    memcpy(t->taps, e->names.taps, sizeof(t->taps));
    snprintf(t->disk, sizeof(t->disk), "%s", e->names.disk);
    t->vmem = e->vmem;
    t->started_ms = e->started_ms;
    t->held_mib = e->held_mib;
    pthread_mutex_unlock(&lv->lock);
    return 0;
}

/* Record a knob as set. */
static void lv_applied(struct lv *lv, const char *uuid, enum drv_hv_knob k,
                       const struct drv_shape *want)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e) {
        struct drv_shape *a = &e->applied;
        switch (k) {
        case DRV_HV_KNOB_VCPUS:
            a->vcpus_online = want->vcpus_online;
            break;
        case DRV_HV_KNOB_QUOTA:
            a->res.v[DRV_RES_VCPU] = want->res.v[DRV_RES_VCPU];
            a->cpu_weight = want->cpu_weight;
            break;
        case DRV_HV_KNOB_PIN:
            a->pcpus = want->pcpus;
            break;
        case DRV_HV_KNOB_NUMA:
            a->numa_node = want->numa_node;
            break;
        case DRV_HV_KNOB_BALLOON:
            a->res.v[DRV_RES_MEM_MIB] = want->res.v[DRV_RES_MEM_MIB];
            e->held_mib = 0; /* on its way: reported as asked until read back */
            break;
        case DRV_HV_KNOB_NET:
            a->res.v[DRV_RES_NET_IN_MBPS] = want->res.v[DRV_RES_NET_IN_MBPS];
            a->res.v[DRV_RES_NET_OUT_MBPS] = want->res.v[DRV_RES_NET_OUT_MBPS];
            break;
        case DRV_HV_KNOB_DISK:
            for (int r = DRV_RES_DISK_READ_IOPS; r <= DRV_RES_DISK_WRITE_MBPS; r++)
                a->res.v[r] = want->res.v[r];
            break;
        default:
            break;
        }
    }
    pthread_mutex_unlock(&lv->lock);
}

/* Pin vCPUs [from, to) and, when `emulator`, the emulator threads. */
static int lv_pin_range(struct lv *lv, virDomainPtr dom, const struct lv_target *t,
                        const struct drv_shape *want, int32_t from, int32_t to, bool emulator,
                        int32_t *calls, struct err **err)
{
    char set[1024];
    lv_design_cpuset(want, lv->info.cpus, set, sizeof(set));
    for (int32_t v = from; v < to; v++) {
        (*calls)++;
        if (lv_guest_pin_vcpu(dom, t->name, v, set, lv->info.cpus, err) < 0)
            return -1;
    }
    if (emulator) {
        (*calls)++;
        if (lv_guest_pin_emulator(dom, t->name, set, lv->info.cpus, err) < 0)
            return -1;
    }
    return 0;
}

/* A balloon target set without memory hot-plug goes into the run metadata
 * with where the guest is (what it held when read back, else the previous
 * target): a restarted sculpt takes a balloon between the two for one on
 * its way, not for drift (a guest still short of an earlier target may
 * look moved elsewhere: it is asked again, which changes nothing).  A
 * failed write is logged: the next read-back then takes what the guest
 * holds, and a reshape asks again. */
static void lv_balloon_record(struct lv *lv, const char *uuid, virDomainPtr dom,
                              const struct lv_target *t, uint64_t target_kib)
{
    double held = t->held_mib > 0 ? t->held_mib : t->applied.res.v[DRV_RES_MEM_MIB];
    uint64_t from = (uint64_t)llround(held * 1024);
    struct lv_run run = {.started_ms = t->started_ms, .balloon_kib = target_kib, .from_kib = from};
    autoerr struct err *e = NULL;
    if (lv_write_run(dom, &run, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "balloon target of `%s` not recorded", t->name);
        run.balloon_kib = run.from_kib = 0;
    }
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *en = lv_entry_find(lv, uuid);
    if (en) {
        en->balloon_kib = run.balloon_kib;
        en->balloon_from_kib = run.from_kib;
    }
    pthread_mutex_unlock(&lv->lock);
}

/* Memory: the balloon within the boot memory and, above it, the
 * virtio-mem device's requested size; each called when it changes (the
 * balloon also when the offset under a guest holding more than requested
 * changes: vmem.h).  The request is recorded as made: its time runs. */
static int lv_memory(struct lv *lv, const char *uuid, virDomainPtr dom, const struct lv_target *t,
                     const struct drv_shape *want, int32_t *calls, struct err **err)
{
    uint64_t to = (uint64_t)llround(want->res.v[DRV_RES_MEM_MIB] * 1024);
    uint64_t from = (uint64_t)llround(t->applied.res.v[DRV_RES_MEM_MIB] * 1024);
    uint64_t bal0, bal1, split_req;
    lv_design_mem_split(from, t->vmem.boot_kib, t->vmem.size_kib, &bal0, &split_req);
    lv_design_mem_split(to, t->vmem.boot_kib, t->vmem.size_kib, &bal1, &split_req);
    /* the device as asked (read back from it); no plug of a few blocks */
    uint64_t req0 = t->vmem.requested_kib;
    uint64_t req1 = lv_design_vmem_request(to, t->vmem.boot_kib, t->vmem.size_kib, req0);
    struct lv_vmem v = t->vmem;
    if (req1 != req0)
        lv_vmem_request(&v, req1, clock_mono_ms());
    uint64_t bal_set = v.balloon_kib ? v.balloon_kib : bal0;
    bal1 = lv_vmem_balloon_kib(&v, bal1, v.boot_kib / 4);
    if (bal1 != bal_set || !t->vmem.size_kib) {
        (*calls)++;
        if (lv_guest_set_balloon(dom, t->name, bal1, err) < 0)
            return -1;
        v.balloon_kib = bal1;
        if (!t->vmem.size_kib)
            lv_balloon_record(lv, uuid, dom, t, bal1);
    }
    int rc = 0;
    if (req1 != req0) {
        (*calls)++;
        rc = lv_guest_set_vmem(dom, t->name, req1, err);
        if (rc < 0) { /* not made: the previous request still runs */
            v.requested_kib = t->vmem.requested_kib;
            v.since_ms = t->vmem.since_ms;
            v.stalled = t->vmem.stalled;
        }
    }
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e) {
        e->vmem.balloon_kib = v.balloon_kib;
        if (e->vmem.requested_kib != v.requested_kib || v.since_ms != t->vmem.since_ms) {
            e->vmem.requested_kib = v.requested_kib;
            e->vmem.since_ms = v.since_ms;
            e->vmem.stalled = v.stalled;
        }
    }
    pthread_mutex_unlock(&lv->lock);
    return rc;
}

static int lv_knob(struct lv *lv, const char *uuid, virDomainPtr dom, const struct lv_target *t,
                   const struct drv_shape *want, enum drv_hv_knob k, uint32_t changed,
                   int32_t *calls, struct err **err)
{
    const double *r = want->res.v;
    switch (k) {
    case DRV_HV_KNOB_VCPUS:
        (*calls)++;
        if (lv_guest_set_vcpus(dom, t->name, want->vcpus_online, err) < 0)
            return -1;
        /* hot-added vCPUs start with the definition's affinity; give them
         * the current one unless the pin knob re-pins everything anyway */
        if (want->vcpus_online > t->applied.vcpus_online && !(changed & (1u << DRV_HV_KNOB_PIN)) &&
            !drv_cpuset_equal(&want->pcpus, &t->def_pcpus))
            return lv_pin_range(lv, dom, t, want, t->applied.vcpus_online, want->vcpus_online,
                                false, calls, err);
        return 0;
    case DRV_HV_KNOB_QUOTA:
        (*calls)++;
        return lv_guest_set_sched(
            dom, t->name, lv_design_shares(drv_shape_cpu_weight(want), lv_design_cgroup_v2()),
            lv->pol.period_us,
            lv_design_quota(r[DRV_RES_VCPU], want->vcpus_online, lv->pol.period_us), err);
    case DRV_HV_KNOB_PIN:
        return lv_pin_range(lv, dom, t, want, 0, want->vcpus_online, true, calls, err);
    case DRV_HV_KNOB_NUMA: {
        /* "no node" live means every node */
        char nodes[32];
        if (want->numa_node >= 0)
            snprintf(nodes, sizeof(nodes), "%d", want->numa_node);
        else if (lv->nodes > 1)
            snprintf(nodes, sizeof(nodes), "0-%d", lv->nodes - 1);
        else
            snprintf(nodes, sizeof(nodes), "0");
        (*calls)++;
        return lv_guest_set_numa(dom, t->name, nodes, err);
    }
    case DRV_HV_KNOB_BALLOON:
        return lv_memory(lv, uuid, dom, t, want, calls, err);
    case DRV_HV_KNOB_NET: {
        double share = t->ntaps ? 1.0 / (double)t->ntaps : 0;
        for (size_t i = 0; i < t->ntaps; i++) {
            uint64_t in = lv_design_kBps(r[DRV_RES_NET_IN_MBPS] * share);
            uint64_t out = lv_design_kBps(r[DRV_RES_NET_OUT_MBPS] * share);
            (*calls)++;
            if (lv_guest_set_bandwidth(dom, t->name, t->taps[i], in, lv_design_burst_kB(in), out,
                                       lv_design_burst_kB(out), err) < 0)
                return -1;
        }
        return 0;
    }
    case DRV_HV_KNOB_DISK:
        if (!t->disk[0])
            return 0; /* nothing to limit */
        (*calls)++;
        return lv_guest_set_iotune(dom, t->name, t->disk, lv_design_iops(r[DRV_RES_DISK_READ_IOPS]),
                                   lv_design_iops(r[DRV_RES_DISK_WRITE_IOPS]),
                                   lv_design_bytes(r[DRV_RES_DISK_READ_MBPS]),
                                   lv_design_bytes(r[DRV_RES_DISK_WRITE_MBPS]), err);
    default:
        return 0;
    }
}

/* A guest that is off is reshaped by redefining it (one call). */
static int lv_reshape_defined(struct lv *lv, const char *uuid, const struct drv_shape *to,
                              struct drv_hv_reshape_report *rep, struct err **err)
{
    struct lv_target t;
    if (lv_target_get(lv, uuid, &t, err) < 0)
        return -1;
    rep->changed = drv_hv_shape_diff(&t.applied, to, lv->pol.period_us);
    if (!rep->changed)
        return 0;
    rep->calls = 1;
    virDomainPtr dom = lv_define(lv, uuid, to, err);
    if (!dom)
        return -1;
    virDomainFree(dom);
    return 0;
}

static int lv_reshape_once(struct lv *lv, const char *uuid, const struct drv_shape *to,
                           struct drv_hv_reshape_report *rep, struct err **err)
{
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return -1;
    struct lv_target t;
    int rc = lv_target_get(lv, uuid, &t, err);
    if (rc == 0 && (to->vcpus_max != t.vcpus_max || fabs(to->mem_max_mib - t.mem_max_mib) > 0.5))
        rc = err_set(err, ERR_INVALID,
                     "maxima %d vCPU / %.0f MiB differ from the defined %d / %.0f (a cold "
                     "resize changes them)",
                     to->vcpus_max, to->mem_max_mib, t.vcpus_max, t.mem_max_mib);
    if (rc == 0 && drv_hv_check_host_policy(&lv->info, lv->nodes, to, err) < 0)
        rc = -1;
    if (rc < 0) {
        virDomainFree(dom);
        return -1;
    }
    if (t.state != DRV_POWER_RUNNING && t.state != DRV_POWER_PAUSED) {
        virDomainFree(dom);
        return lv_reshape_defined(lv, uuid, to, rep, err);
    }

    struct drv_shape want = *to;
    if (want.vcpus_online < t.applied.vcpus_online && !lv->unplug) {
        want.vcpus_online = t.applied.vcpus_online;
        rep->vcpus_kept = true;
    }
    uint32_t changed = drv_hv_shape_diff(&t.applied, &want, lv->pol.period_us);
    for (int k = 0; k < DRV_HV_KNOB_LAST && rc == 0; k++) {
        if (!(changed & (1u << k)))
            continue;
        int64_t t0 = clock_mono_ns();
        rc = lv_knob(lv, uuid, dom, &t, &want, (enum drv_hv_knob)k, changed, &rep->calls, err);
        rep->knob_ns[k] = clock_mono_ns() - t0;
        if (rc == 0) {
            lv_applied(lv, uuid, (enum drv_hv_knob)k, &want);
            rep->changed |= 1u << k;
        }
    }
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e && rc == 0)
        e->wanted_online = to->vcpus_online;
    pthread_mutex_unlock(&lv->lock);
    virDomainFree(dom);
    if (rc < 0)
        lv_failed(lv, err ? *err : NULL);
    return rc;
}

int lv_reshape(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
               struct drv_hv_reshape_report *rep, struct err **err)
{
    struct lv *lv = lv_of(hv);
    int rc = lv_reshape_once(lv, uuid, to, rep, err);
    if (rc < 0)
        return err_wrap(err, "reshape `%s`", uuid);
    if (rep->changed)
        log_debug("reshaped %s: knobs 0x%x in %d calls%s", uuid, rep->changed, rep->calls,
                  rep->vcpus_kept ? " (vCPUs kept online)" : "");
    return 0;
}

int lv_resize_cold(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                   struct err **err)
{
    struct lv *lv = lv_of(hv);
    if (drv_hv_check_host_policy(&lv->info, lv->nodes, to, err) < 0)
        return err_wrap(err, "cold resize `%s`", uuid);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "cold resize");
    int active = virDomainIsActive(dom);
    int rc = lv_stop_hard(lv, dom, uuid, err);
    virDomainFree(dom);
    if (rc == 0) {
        dom = lv_define(lv, uuid, to, err);
        if (!dom)
            rc = -1;
        else if (active == 1)
            rc = lv_start(lv, dom, uuid, err);
        if (dom)
            virDomainFree(dom);
    }
    return rc < 0 ? err_wrap(err, "cold resize `%s`", uuid) : 0;
}
