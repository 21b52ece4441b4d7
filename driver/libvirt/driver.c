/* The libvirt backend's ops table: open and close, the guest table,
 * lifecycle events, and the lifecycle operations (spawn, destroy, power,
 * reboot, pause, suspend).  Knobs are in reshape.c, reading in observe.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor_priv.h"
#include "driver/libvirt/configdrive.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/guest.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt");

extern const struct drv_hv_ops drv_libvirt_ops;

/* How long an expected event may take to arrive. */
#define LV_EXPECT_MS 120000
/* How long a guest whose destroy failed may take to be found down. */
#define LV_GONE_WAIT_MS 2000

/* ---- the guest table ---- */

struct lv_entry *lv_entry_find(struct lv *lv, const char *uuid)
{
    for (size_t i = 0; i < lv->n; i++)
        if (strcasecmp(lv->g[i]->uuid, uuid) == 0)
            return lv->g[i];
    return NULL;
}

size_t lv_entry_uuids(struct lv *lv, lv_uuid_t **out)
{
    pthread_mutex_lock(&lv->lock);
    size_t n = lv->n;
    *out = xcalloc(n ? n : 1, sizeof(**out));
    for (size_t i = 0; i < n; i++)
        memcpy((*out)[i], lv->g[i]->uuid, sizeof(**out));
    pthread_mutex_unlock(&lv->lock);
    return n;
}

void lv_each_active(struct lv *lv,
                    void (*fn)(struct lv *lv, const char *uuid, virDomainPtr dom, void *arg),
                    void *arg)
{
    lv_uuid_t *uuids = NULL;
    size_t n = lv_entry_uuids(lv, &uuids);
    for (size_t i = 0; i < n; i++) {
        autoerr struct err *e = NULL;
        virDomainPtr dom = lv_domain(lv, uuids[i], false, &e);
        if (!dom)
            continue;
        if (virDomainIsActive(dom) == 1)
            fn(lv, uuids[i], dom, arg);
        virResetLastError();
        virDomainFree(dom);
    }
    free(uuids);
}

static struct lv_entry *lv_entry_add(struct lv *lv, const char *uuid)
{
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e)
        return e;
    e = xzalloc(sizeof(*e));
    snprintf(e->uuid, sizeof(e->uuid), "%s", uuid);
    e->state = DRV_POWER_NOSTATE;
    lv->g = xreallocarray(lv->g, lv->n + 1, sizeof(*lv->g));
    lv->g[lv->n++] = e;
    return e;
}

static void lv_entry_free(struct lv_entry *e)
{
    if (!e)
        return;
    if (e->dom)
        virDomainFree(e->dom);
    lv_meta_release(&e->meta);
    lv_knobs_release(&e->names);
    free(e);
}

static void lv_entry_remove(struct lv *lv, const char *uuid)
{
    for (size_t i = 0; i < lv->n; i++)
        if (strcasecmp(lv->g[i]->uuid, uuid) == 0) {
            lv_entry_free(lv->g[i]);
            lv->g[i] = lv->g[--lv->n];
            return;
        }
}

void lv_expect(struct lv *lv, const char *uuid, enum drv_hv_event_type type)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_add(lv, uuid);
    int64_t now = clock_mono_ms();
    /* drop expired ones first */
    int k = 0;
    for (int i = 0; i < e->nexpect; i++)
        if (e->expect[i].until_ms > now)
            e->expect[k++] = e->expect[i];
    e->nexpect = k;
    if (e->nexpect < LV_MAX_EXPECT)
        e->expect[e->nexpect++] = (struct lv_expect){type, now + LV_EXPECT_MS};
    pthread_mutex_unlock(&lv->lock);
}

void lv_unexpect(struct lv *lv, const char *uuid, enum drv_hv_event_type type)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    for (int i = e ? e->nexpect - 1 : -1; i >= 0; i--)
        if (e->expect[i].type == type) {
            e->expect[i] = e->expect[--e->nexpect];
            break;
        }
    pthread_mutex_unlock(&lv->lock);
}

/* Consume an expectation; call with the lock. */
static bool lv_expected(struct lv_entry *e, enum drv_hv_event_type type)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < e->nexpect; i++)
        if (e->expect[i].type == type && e->expect[i].until_ms > now) {
            e->expect[i] = e->expect[--e->nexpect];
            return true;
        }
    return false;
}

/* Is an expectation of `type` pending?  Call with the lock. */
static bool lv_pending(const struct lv_entry *e, enum drv_hv_event_type type)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < e->nexpect; i++)
        if (e->expect[i].type == type && e->expect[i].until_ms > now)
            return true;
    return false;
}

void lv_failed(struct lv *lv, const struct err *e)
{
    if (err_code_of(e) != ERR_UNAVAILABLE)
        return;
    virConnectPtr c = lv_host_conn(lv->host, NULL, NULL);
    if (c) {
        lv_host_check(lv->host, c);
        virConnectClose(c);
    }
}

void lv_knobs_shape(const struct lv_knobs *k, int32_t host_cpus, struct drv_shape *out)
{
    memset(out, 0, sizeof(*out));
    out->vcpus_online = k->vcpus_online;
    out->vcpus_max = k->vcpus_max;
    double vcpu = k->vcpus_online;
    /* the quota is kept to the microsecond: round what it gives back */
    if (k->quota_us > 0 && k->period_us > 0)
        vcpu = fmin(
            vcpu, round((double)k->quota_us * k->vcpus_online / (double)k->period_us * 1e4) / 1e4);
    out->res.v[DRV_RES_VCPU] = vcpu;
    out->res.v[DRV_RES_MEM_MIB] = (double)k->cur_kib / 1024;
    out->mem_max_mib = (double)k->max_kib / 1024;
    out->numa_node = k->numa_node;
    if (k->cpuset[0] && drv_cpuset_parse(k->cpuset, &out->pcpus, NULL) == 0) {
        /* an affinity covering the whole host is no pinning */
        bool all = true;
        for (int c = 0; c < host_cpus && all; c++)
            all = drv_cpuset_has(&out->pcpus, c);
        if (all)
            drv_cpuset_clear(&out->pcpus);
    }
    for (size_t i = 0; i < k->ntaps; i++) {
        out->res.v[DRV_RES_NET_IN_MBPS] += (double)k->in_kBps[i] / 125;
        out->res.v[DRV_RES_NET_OUT_MBPS] += (double)k->out_kBps[i] / 125;
    }
    out->res.v[DRV_RES_DISK_READ_IOPS] = (double)k->read_iops;
    out->res.v[DRV_RES_DISK_WRITE_IOPS] = (double)k->write_iops;
    out->res.v[DRV_RES_DISK_READ_MBPS] = (double)k->read_bytes / 1e6;
    out->res.v[DRV_RES_DISK_WRITE_MBPS] = (double)k->write_bytes / 1e6;
}

/* When the current run started and the balloon target set in it, from the
 * live metadata sculpt set (all 0 when there is none). */
static void lv_read_run(virDomainPtr dom, struct lv_run *out)
{
    char *xml =
        virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, LV_RUN_URI, VIR_DOMAIN_AFFECT_LIVE);
    if (!xml)
        virResetLastError();
    lv_run_parse(xml, out);
    free(xml);
}

int lv_write_run(virDomainPtr dom, const struct lv_run *run, struct err **err)
{
    autofree char *xml = lv_run_format(run);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, LV_RUN_PREFIX, LV_RUN_URI,
                             VIR_DOMAIN_AFFECT_LIVE) < 0)
        return lv_dom_error(err, "virDomainSetMetadata", dom);
    return 0;
}

void lv_run_of(const struct lv_entry *e, struct lv_run *out)
{
    *out = (struct lv_run){.started_ms = e->started_ms,
                           .balloon_kib = e->balloon_kib,
                           .from_kib = e->balloon_from_kib,
                           .gap_base_kib = e->vmem.gap_base_kib,
                           .has_gap_base = e->vmem.size_kib && e->vmem.has_gap_base};
}

/* Without memory hot-plug, the balloon read back (libvirt's
 * <currentMemory>: its actual size) against the target set in this run
 * (lock held): a balloon on its way to the target keeps the target as the
 * memory set, so a shrink the guest has not given back yet is neither
 * asked again nor taken for drift; one moved elsewhere is what holds. */
static void lv_entry_balloon_load(struct lv_entry *e, const struct lv_run *run, bool on)
{
    uint64_t held = (uint64_t)llround(e->applied.res.v[DRV_RES_MEM_MIB] * 1024);
    e->held_mib = 0;
    e->balloon_kib = on ? run->balloon_kib : 0;
    e->balloon_from_kib = on ? run->from_kib : 0;
    if (!e->balloon_kib || held == e->balloon_kib)
        return;
    if (!lv_design_balloon_moving(held, e->balloon_from_kib, e->balloon_kib)) {
        e->balloon_kib = e->balloon_from_kib = 0;
        return;
    }
    e->held_mib = (double)held / 1024;
    e->applied.res.v[DRV_RES_MEM_MIB] = (double)e->balloon_kib / 1024;
}

/* State and start time only, for an entry already loaded. */
static int lv_entry_refresh(struct lv *lv, const char *uuid, virDomainPtr dom, struct err **err)
{
    enum drv_power_state st;
    char reason[32];
    if (lv_guest_state(dom, virDomainGetName(dom), &st, reason, err) < 0)
        return -1;
    struct lv_run run = {0};
    if (st == DRV_POWER_RUNNING || st == DRV_POWER_PAUSED)
        lv_read_run(dom, &run);
    int64_t started = run.started_ms;
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e) {
        e->state = st;
        e->started_ms = started;
    }
    pthread_mutex_unlock(&lv->lock);
    return 0;
}

/* The memory hot-plug record from a domain's knobs (lock held): the
 * request as the device states it (set by another process, or before a
 * restart: its time runs from now), what the guest plugged, and the
 * memory as set -- not libvirt's <currentMemory>, which counts what is
 * plugged, so a guest short of its request is not asked again.  When the
 * balloon and the request are as this process set them (mem_set >= 0:
 * what it recorded), that record stands: the balloon may be offset under
 * an unplug that stalled. */
static enum lv_vmem_news lv_entry_vmem_load(struct lv *lv, struct lv_entry *e,
                                            const struct lv_knobs *k, double mem_set)
{
    struct lv_vmem *v = &e->vmem;
    uint64_t boot = k->max_kib - k->vmem_kib;
    int64_t now = clock_mono_ms();
    if (v->size_kib != k->vmem_kib || v->boot_kib != boot)
        lv_vmem_defined(v, boot, k->vmem_kib);
    if (!k->vmem_kib)
        return LV_VMEM_NEWS_NONE;
    uint64_t balloon = k->cur_kib > k->vmem_current_kib ? k->cur_kib - k->vmem_current_kib : 0;
    bool same_request = v->since_ms && v->requested_kib == k->vmem_requested_kib;
    if (!same_request)
        lv_vmem_request(v, k->vmem_requested_kib, now);
    if (mem_set >= 0 && same_request && v->balloon_kib == balloon) {
        e->applied.res.v[DRV_RES_MEM_MIB] = mem_set;
    } else {
        v->balloon_kib = balloon;
        e->applied.res.v[DRV_RES_MEM_MIB] =
            (double)(k->vmem_requested_kib ? boot + k->vmem_requested_kib : balloon) / 1024;
    }
    return lv_vmem_observe(v, k->vmem_current_kib, now, lv->vmem_timeout_ms);
}

int lv_entry_load(struct lv *lv, const char *uuid, virDomainPtr dom, bool knobs, struct err **err)
{
    /* what sculpt set is exact (libvirt reports the balloon's actual size,
     * which trails its target): read the knobs back only when asked */
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *have = lv_entry_find(lv, uuid);
    bool loaded = have && have->loaded;
    pthread_mutex_unlock(&lv->lock);
    if (loaded && !knobs)
        return lv_entry_refresh(lv, uuid, dom, err);

    const char *name = virDomainGetName(dom);
    struct lv_knobs k;
    if (lv_guest_read(dom, name, &k, err) < 0)
        return -1;
    enum drv_power_state st;
    char reason[32];
    if (lv_guest_state(dom, name, &st, reason, err) < 0) {
        lv_knobs_release(&k);
        return -1;
    }
    struct lv_meta meta = {0};
    bool ours = false;
    if (k.metadata) {
        autoerr struct err *merr = NULL;
        ours = lv_meta_parse(k.metadata, &meta, &merr) == 0;
        if (!ours)
            log_warn("domain `%s`: unreadable sculpt metadata: %s", name, merr->msg);
        snprintf(meta.spec.uuid, sizeof(meta.spec.uuid), "%s", uuid);
        /* the domain's name is the truth: a rename whose metadata write
         * failed left the old one there */
        if (ours && name && (!meta.spec.name || strcmp(meta.spec.name, name) != 0)) {
            free(meta.spec.name);
            meta.spec.name = xstrdup(name);
        }
    }
    bool on = st == DRV_POWER_RUNNING || st == DRV_POWER_PAUSED;
    struct lv_run run = {0};
    if (on)
        lv_read_run(dom, &run);
    int64_t started = run.started_ms;

    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_add(lv, uuid);
    snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
    e->state = st;
    e->started_ms = started;
    lv_meta_release(&e->meta);
    e->meta = meta;
    e->ours = ours;
    double mem_set = e->loaded ? e->applied.res.v[DRV_RES_MEM_MIB] : -1;
    lv_knobs_shape(&k, lv->info.cpus, &e->applied);
    /* a shrink kept online (TCG) is remembered only while we run */
    if (e->wanted_online <= 0 || e->wanted_online > e->applied.vcpus_online)
        e->wanted_online = e->applied.vcpus_online;
    if (ours)
        e->def_pcpus = meta.spec.shape.pcpus;
    enum lv_vmem_news news = lv_entry_vmem_load(lv, e, &k, mem_set);
    if (!k.vmem_kib)
        lv_entry_balloon_load(e, &run, on);
    /* the kernel's share learnt in this run, before a restart (FOLLOWUPS
     * #99): learnt anew, memory left offline by then would pass for it */
    if (k.vmem_kib && run.has_gap_base)
        lv_vmem_restore_gap(&e->vmem, run.gap_base_kib);
    e->gap_saved = run.has_gap_base;
    e->gap_saved_kib = run.gap_base_kib;
    struct lv_vmem vmem = e->vmem;
    lv_knobs_release(&e->names);
    e->names = k;
    e->names.metadata = NULL;
    e->loaded = true;
    pthread_mutex_unlock(&lv->lock);
    free(k.metadata);
    lv_vmem_report(lv, uuid, news, &vmem, st);
    return 0;
}

virDomainPtr lv_domain(struct lv *lv, const char *uuid, bool load, struct err **err)
{
    uint64_t gen;
    virConnectPtr conn = lv_host_conn(lv->host, &gen, err);
    if (!conn)
        return NULL;
    virDomainPtr dom = NULL;
    bool loaded = false;
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e && e->dom && e->gen == gen) {
        dom = e->dom;
        virDomainRef(dom);
        loaded = e->loaded;
    }
    pthread_mutex_unlock(&lv->lock);
    if (!dom) {
        dom = virDomainLookupByUUIDString(conn, uuid);
        if (!dom) {
            lv_error(err, "virDomainLookupByUUIDString", uuid);
            virConnectClose(conn);
            lv_failed(lv, err ? *err : NULL);
            return NULL;
        }
        pthread_mutex_lock(&lv->lock);
        e = lv_entry_add(lv, uuid);
        if (e->dom)
            virDomainFree(e->dom);
        virDomainRef(dom);
        e->dom = dom;
        e->gen = gen;
        loaded = e->loaded;
        pthread_mutex_unlock(&lv->lock);
    }
    virConnectClose(conn);
    if (load && !loaded && lv_entry_load(lv, uuid, dom, true, err) < 0) {
        virDomainFree(dom);
        return NULL;
    }
    return dom;
}

/* ---- events ---- */

static void lv_on_lifecycle(void *opaque, const char *uuid, const char *name, int event, int detail)
{
    struct lv *lv = opaque;
    enum drv_hv_event_type type;
    const char *reason;
    if (!lv_guest_event_map(event, detail, &type, &reason))
        return;
    struct drv_hv_event ev = {.type = type, .wall_ms = clock_wall_ms()};
    snprintf(ev.uuid, sizeof(ev.uuid), "%s", uuid);
    snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    bool ours = e && e->ours;
    if (e) {
        /* a start resumes the vCPUs QEMU was created with paused */
        ev.by_sculpt = lv_expected(e, type) ||
                       (type == DRV_HV_EVENT_RESUMED && lv_pending(e, DRV_HV_EVENT_STARTED)) ||
                       (e->migrating_out && lv_guest_event_is_switchover(event, detail));
        switch (type) {
        case DRV_HV_EVENT_STARTED:
        case DRV_HV_EVENT_RESUMED:
            e->state = DRV_POWER_RUNNING;
            if (type == DRV_HV_EVENT_STARTED) {
                e->has_prev = false;
                if (!ev.by_sculpt)
                    e->loaded = false; /* started elsewhere: read it back */
            }
            break;
        case DRV_HV_EVENT_PAUSED:
            e->state = DRV_POWER_PAUSED;
            break;
        case DRV_HV_EVENT_STOPPED:
            e->state =
                detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ? DRV_POWER_CRASHED : DRV_POWER_SHUTDOWN;
            e->has_prev = false;
            e->started_ms = 0;
            break;
        case DRV_HV_EVENT_SUSPENDED:
            e->state = DRV_POWER_SUSPENDED;
            e->has_prev = false;
            break;
        case DRV_HV_EVENT_CRASHED:
            e->state = DRV_POWER_CRASHED;
            break;
        case DRV_HV_EVENT_UNDEFINED:
            e->state = DRV_POWER_NOSTATE;
            break;
        default:
            break;
        }
        ev.state = e->state;
    }
    pthread_mutex_unlock(&lv->lock);
    /* other tools' guests are not sculpt's business; spawn's own DEFINED
     * arrives before its metadata is known, hence the by_sculpt test */
    if (!ours && !ev.by_sculpt) {
        log_debug("event %d/%d on `%s` (not sculpt's)", event, detail, name);
        return;
    }
    drv_hv_emit(lv->hv, &ev);
}

static void lv_on_memdev(void *opaque, const char *uuid, const char *alias, uint64_t size_kib)
{
    (void)alias; /* sculpt defines one virtio-mem device per guest */
    lv_vmem_on_size(opaque, uuid, size_kib);
}

/* After a reconnection: guests whose state changed while libvirtd was away
 * get the event they missed. */
static void lv_on_conn(void *opaque, bool connected)
{
    struct lv *lv = opaque;
    struct drv_hv_event ev = {.wall_ms = clock_wall_ms()};
    if (!connected) {
        ev.type = DRV_HV_EVENT_DISCONNECTED;
        snprintf(ev.reason, sizeof(ev.reason), "lost");
        drv_hv_emit(lv->hv, &ev);
        return;
    }
    pthread_mutex_lock(&lv->lock);
    size_t n = lv->n;
    char(*uuids)[DRV_UUID_LEN + 1] = xcalloc(n ? n : 1, sizeof(*uuids));
    enum drv_power_state *before = xcalloc(n ? n : 1, sizeof(*before));
    for (size_t i = 0; i < n; i++) {
        snprintf(uuids[i], sizeof(uuids[i]), "%s", lv->g[i]->uuid);
        before[i] = lv->g[i]->state;
        lv->g[i]->loaded = false;
    }
    pthread_mutex_unlock(&lv->lock);

    for (size_t i = 0; i < n; i++) {
        autoerr struct err *err = NULL;
        virDomainPtr dom = lv_domain(lv, uuids[i], true, &err);
        struct drv_hv_event gev = {.wall_ms = clock_wall_ms()};
        snprintf(gev.uuid, sizeof(gev.uuid), "%s", uuids[i]);
        if (!dom) {
            if (err_code_of(err) != ERR_NOT_FOUND)
                continue;
            pthread_mutex_lock(&lv->lock);
            lv_entry_remove(lv, uuids[i]);
            pthread_mutex_unlock(&lv->lock);
            gev.type = DRV_HV_EVENT_UNDEFINED;
            snprintf(gev.reason, sizeof(gev.reason), "vanished");
            drv_hv_emit(lv->hv, &gev);
            continue;
        }
        virDomainFree(dom);
        pthread_mutex_lock(&lv->lock);
        struct lv_entry *e = lv_entry_find(lv, uuids[i]);
        enum drv_power_state now = e ? e->state : DRV_POWER_NOSTATE;
        bool ours = e && e->ours;
        pthread_mutex_unlock(&lv->lock);
        if (!ours || now == before[i])
            continue;
        gev.state = now;
        gev.type = now == DRV_POWER_RUNNING     ? DRV_HV_EVENT_STARTED
                   : now == DRV_POWER_PAUSED    ? DRV_HV_EVENT_PAUSED
                   : now == DRV_POWER_SUSPENDED ? DRV_HV_EVENT_SUSPENDED
                                                : DRV_HV_EVENT_STOPPED;
        snprintf(gev.reason, sizeof(gev.reason), "while-disconnected");
        drv_hv_emit(lv->hv, &gev);
    }
    free(uuids);
    free(before);
    ev.type = DRV_HV_EVENT_RECONNECTED;
    snprintf(ev.reason, sizeof(ev.reason), "reconnected");
    drv_hv_emit(lv->hv, &ev);
}

/* ---- open / close ---- */

static const char *lv_pick_virt_type(virConnectPtr conn, const char *want)
{
    const char *type = virConnectGetType(conn);
    if (type && strcasecmp(type, "test") == 0)
        return "test";
    if (strcmp(want, "auto") != 0)
        return want;
    char *dcaps = virConnectGetDomainCapabilities(conn, NULL, "x86_64", "q35", "kvm", 0);
    char *caps = dcaps ? virConnectGetCapabilities(conn) : NULL;
    virResetLastError();
    bool kvm = caps && lv_cfg_caps_hw_virt(caps);
    if (dcaps && !kvm)
        log_warn("/dev/kvm is there but the host CPU shows no vmx/svm: guests use software "
                 "emulation (set [libvirt] virt_type = kvm to insist)");
    free(dcaps);
    free(caps);
    return kvm ? "kvm" : "qemu";
}

static int lv_read_host(struct lv *lv, const struct cfg *cfg, struct err **err)
{
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return -1;
    struct drv_hv_host *h = &lv->info;
    virNodeInfo ni;
    int rc = -1;
    if (virNodeGetInfo(conn, &ni) < 0) {
        lv_error(err, "virNodeGetInfo", NULL);
        goto cleanup;
    }
    char *hn = virConnectGetHostname(conn);
    snprintf(h->hostname, sizeof(h->hostname), "%s", hn ? hn : cfg->host);
    free(hn);
    virResetLastError();
    const char *type = virConnectGetType(conn);
    snprintf(h->hypervisor, sizeof(h->hypervisor), "%s", type ? type : "?");
    unsigned long ver = 0, lib = 0;
    if (virConnectGetVersion(conn, &ver) == 0)
        h->hypervisor_version = ver;
    if (virConnectGetLibVersion(conn, &lib) == 0)
        h->library_version = lib;
    virResetLastError();
    const char *vt = lv_pick_virt_type(conn, cfg->libvirt_virt_type);
    snprintf(h->virt_type, sizeof(h->virt_type), "%s", vt);
    h->cpus = (int32_t)ni.cpus;
    h->mem_mib = (double)ni.memory / 1024;
    unsigned long long free_b = virNodeGetFreeMemory(conn);
    virResetLastError();
    h->mem_free_mib = (double)free_b / (1024 * 1024);
    h->max_vcpus = cfg->libvirt_max_vcpus > 0 ? (int32_t)cfg->libvirt_max_vcpus : h->cpus;
    h->max_mem_mib = cfg->libvirt_max_memory_mb > 0
                         ? (double)cfg->libvirt_max_memory_mb
                         : fmax(h->mem_mib - (double)cfg->reserved_host_memory_mb, 0);
    if (strcmp(cfg->libvirt_vcpu_unplug, "always") == 0)
        lv->unplug = true;
    else if (strcmp(cfg->libvirt_vcpu_unplug, "never") == 0)
        lv->unplug = false;
    else /* QEMU 7.2's TCG never finishes a vCPU unplug (see README) */
        lv->unplug = strcmp(vt, "kvm") == 0;
    h->vcpu_unplug = lv->unplug;
    lv->nodes = ni.nodes > 0 ? (int32_t)ni.nodes : 1;
    rc = 0;
cleanup:
    virConnectClose(conn);
    return rc;
}

/* Every domain with sculpt's metadata becomes an entry. */
static int lv_adopt_all(struct lv *lv, struct err **err)
{
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return -1;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0)
        lv_error(err, "virConnectListAllDomains", NULL);
    virConnectClose(conn);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        autoerr struct err *e = NULL;
        if (virDomainGetUUIDString(doms[i], uuid) == 0 &&
            lv_entry_load(lv, uuid, doms[i], true, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "adopt domain %s", uuid);
        virDomainFree(doms[i]);
    }
    free(doms);
    /* forget what is not sculpt's */
    pthread_mutex_lock(&lv->lock);
    for (size_t i = 0; i < lv->n;) {
        if (!lv->g[i]->ours) {
            lv_entry_free(lv->g[i]);
            lv->g[i] = lv->g[--lv->n];
        } else {
            i++;
        }
    }
    log_info("libvirt: %zu guests of sculpt's found", lv->n);
    pthread_mutex_unlock(&lv->lock);
    return 0;
}

static void lv_free(struct lv *lv)
{
    for (size_t i = 0; i < lv->n; i++)
        lv_entry_free(lv->g[i]);
    free(lv->g);
    free(lv->uri);
    free(lv->instances_path);
    free(lv->qemu_img);
    free(lv->snapshots_dir);
    free(lv->cpu_mode);
    free(lv->cpu_model);
    free(lv->vnc_listen);
    lv_serial_release(&lv->serial);
    lv_ssh_release(&lv->ssh);
    free(lv->live.uri);
    free(lv->live.inbound_addr);
    pthread_mutex_destroy(&lv->lock);
    pthread_mutex_destroy(&lv->run_lock);
    free(lv);
}

static int lv_open(struct drv_hv *hv, const struct cfg *cfg, struct err **err)
{
    struct lv *lv = xzalloc(sizeof(*lv));
    pthread_mutex_init(&lv->lock, NULL);
    pthread_mutex_init(&lv->run_lock, NULL);
    lv->hv = hv;
    lv->uri = xstrdup(cfg->libvirt_uri);
    lv->instances_path = cfg->libvirt_instances_path[0]
                             ? xstrdup(cfg->libvirt_instances_path)
                             : xasprintf("%s/instances", cfg->state_path);
    lv->qemu_img = xstrdup(cfg->libvirt_qemu_img);
    lv->snapshots_dir = cfg->libvirt_snapshots_directory[0]
                            ? xstrdup(cfg->libvirt_snapshots_directory)
                            : xasprintf("%s/snapshots", lv->instances_path);
    snprintf(lv->snapshot_format, sizeof(lv->snapshot_format), "%s",
             cfg->libvirt_snapshot_image_format);
    lv->live_snapshot = !cfg->disable_libvirt_livesnapshot;
    lv->cpu_mode = xstrdup(cfg->libvirt_cpu_mode);
    lv->cpu_model = xstrdup(cfg->libvirt_cpu_model);
    lv->vnc_listen = xstrdup(cfg->vnc_server_listen);
    lv_serial_init(&lv->serial, cfg);
    lv_ssh_init(&lv->ssh, cfg);
    lv->live = (struct lv_live_cfg){
        .uri = xstrdup(cfg->libvirt_live_migration_uri),
        .inbound_addr = xstrdup(cfg->libvirt_live_migration_inbound_addr),
        .bandwidth_mib = (uint64_t)cfg->libvirt_live_migration_bandwidth_mib,
        .downtime_ms = (int64_t)cfg->libvirt_live_migration_downtime_ms,
        .completion_timeout_s = (int64_t)cfg->libvirt_live_migration_completion_timeout_s,
        .timeout_force = strcmp(cfg->libvirt_live_migration_timeout_action, "force_complete") == 0,
        .permit_post_copy = cfg->libvirt_live_migration_permit_post_copy,
    };
    if (lv->instances_path[0] != '/') {
        err_set(err, ERR_INVALID, "[libvirt] instances_path `%s` is not absolute",
                lv->instances_path);
        lv_free(lv);
        return -1;
    }
    hv->priv = lv;
    lv->vmem_timeout_ms = (int64_t)cfg->libvirt_memory_hotplug_timeout_s * 1000;
    lv->host = lv_host_open(lv->uri, cfg->libvirt_reconnect_interval_ms, lv_on_lifecycle,
                            lv_on_memdev, lv_on_conn, lv, err);
    if (!lv->host || lv_read_host(lv, cfg, err) < 0 || lv_adopt_all(lv, err) < 0) {
        err_wrap(err, "libvirt at `%s`", lv->uri);
        lv_host_close(lv->host);
        lv_free(lv);
        hv->priv = NULL;
        return -1;
    }
    lv->pol = (struct lv_policy){
        .virt_type = lv->info.virt_type,
        .cpu_mode = lv->cpu_mode,
        .cpu_model = lv->cpu_model,
        .instances_path = lv->instances_path,
        .period_us = cfg->libvirt_cpu_period_us,
        .pcie_ports = (int32_t)cfg->libvirt_num_pcie_ports,
        .balloon_period_s = (int32_t)cfg->libvirt_mem_stats_period_s,
        .host_cpus = lv->info.cpus,
        .memory_hotplug = cfg->libvirt_memory_hotplug,
        .boot_min_kib = (uint64_t)cfg->libvirt_memory_hotplug_boot_min_mb * 1024,
        .vnc_listen = cfg->vnc_enabled ? lv->vnc_listen : NULL,
        .serial_host = lv->serial.host,
    };
    if (lv->pol.memory_hotplug)
        lv_vmem_metrics_init();
    lv_snapshot_sweep(lv);
    log_info("libvirt: %s, %s %s guests, %d CPUs, %.0f MiB, vCPU unplug %s, memory %s", lv->uri,
             lv->info.hypervisor, lv->info.virt_type, lv->info.cpus, lv->info.mem_mib,
             lv->unplug ? "on" : "off (quota only)",
             lv->pol.memory_hotplug ? "hot-plugged (virtio-mem)" : "ballooned");
    return 0;
}

static void lv_close(struct drv_hv *hv)
{
    struct lv *lv = lv_of(hv);
    if (!lv)
        return;
    lv_host_close(lv->host); /* no callback after this */
    lv_free(lv);
    hv->priv = NULL;
}

static int lv_host_info(struct drv_hv *hv, struct drv_hv_host *out, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return -1;
    *out = lv->info;
    unsigned long long free_b = virNodeGetFreeMemory(conn);
    if (free_b == 0)
        virResetLastError();
    else
        out->mem_free_mib = (double)free_b / (1024 * 1024);
    virConnectClose(conn);
    return 0;
}

static char *lv_capabilities(struct drv_hv *hv, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return NULL;
    char *caps = virConnectGetCapabilities(conn);
    if (!caps)
        lv_error(err, "virConnectGetCapabilities", NULL);
    virConnectClose(conn);
    return caps;
}

/* ---- defining and starting ---- */

/* The title of domain `uuid`'s definition, when it is defined already
 * (NULL otherwise; caller frees): a title set since it was first defined
 * -- a hand-over's `NAME (INSTANCE-UUID)` -- outlives a redefinition. */
static char *lv_title_kept(virConnectPtr conn, const char *uuid)
{
    virDomainPtr dom = virDomainLookupByUUIDString(conn, uuid);
    if (!dom) {
        virResetLastError();
        return NULL;
    }
    char *t = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_TITLE, NULL, VIR_DOMAIN_AFFECT_CONFIG);
    virResetLastError(); /* no title: VIR_ERR_NO_DOMAIN_METADATA */
    virDomainFree(dom);
    char *out = t && *t ? xstrdup(t) : NULL;
    free(t);
    return out;
}

virDomainPtr lv_define(struct lv *lv, const char *uuid, const struct drv_shape *shape,
                       struct err **err)
{
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return NULL;
    autofree char *title = lv_title_kept(conn, uuid);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (!e || !e->ours) {
        pthread_mutex_unlock(&lv->lock);
        virConnectClose(conn);
        err_set(err, ERR_CONFLICT, "domain `%s` was not spawned by sculpt", uuid);
        return NULL;
    }
    struct lv_cfg_domain cfg;
    lv_design_domain(&lv->pol, &e->meta, shape, &cfg);
    /* the name it bears now (a handed-over member renamed since its
     * metadata was written: rename.c) */
    if (e->name[0])
        snprintf(cfg.name, sizeof(cfg.name), "%s", e->name);
    if (title) {
        free(cfg.title);
        cfg.title = steal_pointer(&title);
    }
    pthread_mutex_unlock(&lv->lock);
    if (cfg.serial_host) {
        /* held until the definition names the port */
        lv_serial_lock(&lv->serial);
        cfg.serial_port = lv_serial_acquire(&lv->serial, conn, uuid, 0, err);
        if (cfg.serial_port < 0) {
            lv_serial_unlock(&lv->serial);
            lv_cfg_domain_release(&cfg);
            virConnectClose(conn);
            err_wrap(err, "define `%s`", uuid);
            return NULL;
        }
    }
    autofree char *xml = lv_cfg_domain_format(&cfg);
    struct lv_vmem vmem;
    lv_vmem_defined(&vmem, cfg.mem_kib - cfg.vmem_kib, cfg.vmem_kib);
    vmem.balloon_kib = cfg.cur_mem_kib;
    bool serial = cfg.serial_host != NULL;
    lv_cfg_domain_release(&cfg);
    log_debug("define %s: %s", uuid, xml);
    lv_expect(lv, uuid, DRV_HV_EVENT_DEFINED);
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    if (serial)
        lv_serial_unlock(&lv->serial);
    if (!dom) {
        lv_unexpect(lv, uuid, DRV_HV_EVENT_DEFINED);
        lv_error(err, "virDomainDefineXML", uuid);
    }
    virConnectClose(conn);
    if (!dom)
        return NULL;
    pthread_mutex_lock(&lv->lock);
    e = lv_entry_find(lv, uuid);
    if (e) {
        e->meta.spec.shape = *shape;
        e->def_pcpus = shape->pcpus;
        e->applied = *shape;
        e->wanted_online = shape->vcpus_online;
        e->vmem = vmem;
    }
    pthread_mutex_unlock(&lv->lock);
    return dom;
}

int lv_start(struct lv *lv, virDomainPtr dom, const char *uuid, struct err **err)
{
    const char *name = virDomainGetName(dom);
    lv_expect(lv, uuid, DRV_HV_EVENT_STARTED);
    if (virDomainCreate(dom) < 0) {
        lv_unexpect(lv, uuid, DRV_HV_EVENT_STARTED);
        return lv_error(err, "virDomainCreate", name);
    }
    int64_t now = clock_wall_ms();
    struct lv_run run = {.started_ms = now};
    autoerr struct err *merr = NULL;
    pthread_mutex_lock(&lv->run_lock);
    if (lv_write_run(dom, &run, &merr) < 0)
        log_err(LOG_LEVEL_WARN, merr, "uptime of `%s` unknown", name);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e) {
        e->state = DRV_POWER_RUNNING;
        e->started_ms = now;
        e->gap_saved = false; /* a new run's metadata: the next sample writes it */
        e->balloon_kib = e->balloon_from_kib = 0; /* it boots with its memory */
        e->held_mib = 0;
        e->has_prev = false;
        e->mem_seen = false;
        e->mem_wait_ms = 0;
        /* this handle knows the new domain id; older ones do not */
        if (e->dom != dom) {
            virDomainRef(dom);
            if (e->dom)
                virDomainFree(e->dom);
            e->dom = dom;
        }
    }
    pthread_mutex_unlock(&lv->lock);
    pthread_mutex_unlock(&lv->run_lock);
    return 0;
}

int lv_stop_hard(struct lv *lv, virDomainPtr dom, const char *uuid, struct err **err)
{
    int active = virDomainIsActive(dom);
    if (active < 0)
        return lv_dom_error(err, "virDomainIsActive", dom);
    if (!active)
        return 0;
    lv_expect(lv, uuid, DRV_HV_EVENT_STOPPED);
    if (virDomainDestroy(dom) == 0)
        return 0;
    /* A guest that powers itself off is still active for libvirt until
     * QEMU has gone: a destroy in that moment fails, yet it is down. */
    virErrorPtr failed = virSaveLastError();
    for (int i = 0; i < LV_GONE_WAIT_MS / 100; i++) {
        if (virDomainIsActive(dom) == 0) {
            log_debug("%s went down by itself as it was destroyed (%s)", uuid,
                      failed && failed->message ? failed->message : "?");
            virFreeError(failed);
            return 0;
        }
        clock_sleep_ms(100);
    }
    lv_unexpect(lv, uuid, DRV_HV_EVENT_STOPPED);
    lv_error_saved(err, failed, "virDomainDestroy", virDomainGetName(dom));
    virFreeError(failed);
    return -1;
}

/* ---- spawn and destroy ---- */

int lv_spawn_files(struct lv *lv, const struct lv_meta *m,
                          const struct drv_hv_config_drive *cd, struct err **err)
{
    if (lv_volume_make_dir(m->instance_dir, err) < 0)
        return -1;
    /* a console log left by an earlier guest of the same uuid would mislead */
    unlink(m->console_log);
    if (m->config_drive && lv_configdrive_write(cd, m->config_drive, err) < 0)
        return -1;
    if (!m->disk_path)
        return 0;
    const struct drv_hv_image *im = &m->spec.image;
    return lv_volume_create_overlay(lv->qemu_img, im->disk_base, im->disk_format, im->root_gb,
                                    m->disk_path, err);
}

int lv_spawn_check_new(struct lv *lv, const struct drv_hv_guest_spec *spec, struct err **err)
{
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return -1;
    virDomainPtr old = virDomainLookupByUUIDString(conn, spec->uuid);
    if (!old) {
        char name[DRV_HV_NAME_MAX + 1];
        virResetLastError();
        drv_hv_domain_name(spec, name);
        old = virDomainLookupByName(conn, name);
    }
    virResetLastError();
    virConnectClose(conn);
    if (old) {
        virDomainFree(old);
        return err_set(err, ERR_CONFLICT, "a domain with uuid `%s` or its name exists", spec->uuid);
    }
    return 0;
}

int lv_spawn_install(struct lv *lv, struct lv_meta *meta, bool start, struct err **err)
{
    char uuid[DRV_UUID_LEN + 1];
    snprintf(uuid, sizeof(uuid), "%s", meta->spec.uuid);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_add(lv, uuid);
    lv_meta_release(&e->meta);
    e->meta = *meta;
    memset(meta, 0, sizeof(*meta));
    e->ours = true;
    e->loaded = true;
    e->state = DRV_POWER_SHUTDOWN;
    snprintf(e->name, sizeof(e->name), "%s", e->meta.spec.name);
    struct drv_shape shape = e->meta.spec.shape;
    pthread_mutex_unlock(&lv->lock);

    virDomainPtr dom = lv_define(lv, uuid, &shape, err);
    if (!dom || (start && lv_start(lv, dom, uuid, err) < 0)) {
        if (dom) {
            lv_stop_hard(lv, dom, uuid, NULL);
            if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0)
                virResetLastError();
            virDomainFree(dom);
        }
        pthread_mutex_lock(&lv->lock);
        struct lv_entry *gone = lv_entry_find(lv, uuid);
        autofree char *dir =
            gone && gone->meta.instance_dir ? xstrdup(gone->meta.instance_dir) : NULL;
        lv_entry_remove(lv, uuid);
        pthread_mutex_unlock(&lv->lock);
        if (dir)
            lv_volume_remove_dir(lv->instances_path, dir, NULL);
        return -1;
    }
    /* the taps and disk target as libvirt wrote them */
    struct lv_knobs k;
    if (lv_guest_read(dom, virDomainGetName(dom), &k, NULL) == 0) {
        pthread_mutex_lock(&lv->lock);
        e = lv_entry_find(lv, uuid);
        if (e) {
            lv_knobs_release(&e->names);
            e->names = k;
            free(e->names.metadata);
            e->names.metadata = NULL;
        } else {
            lv_knobs_release(&k);
        }
        pthread_mutex_unlock(&lv->lock);
    }
    virDomainFree(dom);
    return 0;
}

static int lv_spawn(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, struct err **err)
{
    struct lv *lv = lv_of(hv);
    if (drv_hv_check_host_policy(&lv->info, lv->nodes, &spec->shape, err) < 0 ||
        lv_spawn_check_new(lv, spec, err) < 0)
        return err_wrap(err, "spawn `%s`", spec->uuid);

    struct lv_meta meta;
    lv_design_meta(&lv->pol, spec, clock_wall_ms(), &meta);
    if (lv_spawn_files(lv, &meta, spec->config_drive, err) < 0) {
        bool ours = err_code_of(err ? *err : NULL) != ERR_CONFLICT;
        if (ours)
            lv_volume_remove_dir(lv->instances_path, meta.instance_dir, NULL);
        lv_meta_release(&meta);
        return err_wrap(err, "spawn `%s`", spec->uuid);
    }
    autofree char *name = xstrdup(meta.spec.name);
    if (lv_spawn_install(lv, &meta, true, err) < 0)
        return err_wrap(err, "spawn `%s`", spec->uuid);
    log_info("spawned %s (%s)", spec->uuid, name);
    return 0;
}

int lv_entry_drop(struct lv *lv, const char *uuid, bool keep_files, struct err **err)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    autofree char *dir =
        e && e->ours && e->meta.instance_dir ? xstrdup(e->meta.instance_dir) : NULL;
    autofree char *sock =
        e && e->ours && e->meta.console_socket ? xstrdup(e->meta.console_socket) : NULL;
    lv_entry_remove(lv, uuid);
    pthread_mutex_unlock(&lv->lock);
    if (sock && dir && strncmp(sock, dir, strlen(dir)) != 0)
        unlink(sock); /* the short path used when the folder's was too long */
    if (dir && !keep_files && lv_volume_remove_dir(lv->instances_path, dir, err) < 0)
        return -1;
    return 0;
}

static int lv_destroy(struct drv_hv *hv, const char *uuid, bool keep_disks, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "destroy");
    int rc = lv_stop_hard(lv, dom, uuid, err);
    if (rc == 0) {
        lv_expect(lv, uuid, DRV_HV_EVENT_UNDEFINED);
        unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                         VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
        if (virDomainUndefineFlags(dom, flags) < 0 &&
            virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0) {
            lv_unexpect(lv, uuid, DRV_HV_EVENT_UNDEFINED);
            rc = lv_dom_error(err, "virDomainUndefineFlags", dom);
        } else
            virResetLastError();
    }
    virDomainFree(dom);
    if (rc < 0)
        return err_wrap(err, "destroy");
    if (lv_entry_drop(lv, uuid, keep_disks, err) < 0)
        return err_wrap(err, "destroy `%s`: guest gone, files left", uuid);
    log_info("destroyed %s", uuid);
    return 0;
}

/* ---- power ---- */

int lv_power_off(struct drv_hv *hv, const char *uuid, int timeout_s, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "power off");
    const char *name = virDomainGetName(dom);
    int rc = 0;
    if (timeout_s > 0 && virDomainIsActive(dom) == 1) {
        lv_expect(lv, uuid, DRV_HV_EVENT_STOPPED);
        if (virDomainShutdown(dom) < 0) {
            autoerr struct err *e = NULL;
            lv_error(&e, "virDomainShutdown", name);
            log_err(LOG_LEVEL_WARN, e, "clean shutdown refused, stopping hard");
        }
        int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
        while (virDomainIsActive(dom) == 1 && clock_mono_ms() < deadline)
            clock_sleep_ms(100);
        /* still up (or libvirtd cannot say): the hard stop below expects
         * its own event; a leftover expectation would later take a stop
         * behind our back for ours */
        if (virDomainIsActive(dom) != 0)
            lv_unexpect(lv, uuid, DRV_HV_EVENT_STOPPED);
    }
    virResetLastError();
    rc = lv_stop_hard(lv, dom, uuid, err);
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "power off") : 0;
}

/* The shape a guest should start in: the latest one asked for. */
static int lv_latest_shape(struct lv *lv, const char *uuid, struct drv_shape *out, struct err **err)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    int rc = 0;
    if (!e || !e->ours) {
        rc = err_set(err, ERR_CONFLICT, "domain `%s` was not spawned by sculpt", uuid);
    } else {
        *out = e->applied;
        out->vcpus_online = e->wanted_online > 0 ? e->wanted_online : e->applied.vcpus_online;
        out->vcpus_max = e->meta.spec.shape.vcpus_max;
        out->mem_max_mib = e->meta.spec.shape.mem_max_mib;
        /* a quota read back over kept vCPUs may round above the online count */
        if (out->res.v[DRV_RES_VCPU] > out->vcpus_online)
            out->res.v[DRV_RES_VCPU] = out->vcpus_online;
    }
    pthread_mutex_unlock(&lv->lock);
    return rc;
}

/* Redefine from the latest shape (persistent config follows live
 * reshapes only here, so reshapes stay one call per knob) and start. */
int lv_boot(struct lv *lv, const char *uuid, struct err **err)
{
    struct drv_shape shape;
    if (lv_latest_shape(lv, uuid, &shape, err) < 0)
        return -1;
    virDomainPtr dom = lv_define(lv, uuid, &shape, err);
    if (!dom)
        return -1;
    int rc = lv_start(lv, dom, uuid, err);
    virDomainFree(dom);
    return rc;
}

static int lv_power_on(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "power on");
    int active = virDomainIsActive(dom);
    int saved = virDomainHasManagedSaveImage(dom, 0);
    virResetLastError();
    int rc = 0;
    if (active == 1)
        rc = 0;
    else if (saved == 1)
        rc = lv_start(lv, dom, uuid, err); /* restores the saved guest */
    else
        rc = lv_boot(lv, uuid, err);
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "power on") : 0;
}

static int lv_reboot(struct drv_hv *hv, const char *uuid, bool hard, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "reboot");
    int rc;
    if (!hard) {
        rc = virDomainReboot(dom, 0) < 0 ? lv_dom_error(err, "virDomainReboot", dom)
                                         : 0;
    } else {
        /* as Nova's hard reboot: a fresh QEMU from the definition */
        rc = lv_stop_hard(lv, dom, uuid, err);
        if (rc == 0)
            rc = lv_boot(lv, uuid, err);
    }
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "reboot") : 0;
}

/* pause, unpause, suspend (managed save), resume (restore) */
static int lv_simple(struct drv_hv *hv, const char *uuid, const char *what,
                     enum drv_hv_event_type expect, int (*call)(virDomainPtr),
                     const char *call_name, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "%s", what);
    lv_expect(lv, uuid, expect);
    int rc = call(dom) < 0 ? lv_dom_error(err, call_name, dom) : 0;
    if (rc < 0)
        lv_unexpect(lv, uuid, expect);
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "%s", what) : 0;
}

static int lv_call_managed_save(virDomainPtr dom)
{
    return virDomainManagedSave(dom, 0);
}

static int lv_pause(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return lv_simple(hv, uuid, "pause", DRV_HV_EVENT_PAUSED, virDomainSuspend, "virDomainSuspend",
                     err);
}

static int lv_unpause(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return lv_simple(hv, uuid, "unpause", DRV_HV_EVENT_RESUMED, virDomainResume, "virDomainResume",
                     err);
}

static int lv_inject_nmi(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "inject NMI");
    /* no lifecycle event: the guest runs on (or dumps and reboots itself) */
    int rc = virDomainInjectNMI(dom, 0) < 0 ? lv_dom_error(err, "virDomainInjectNMI", dom) : 0;
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "inject NMI") : 0;
}

/* Through the guest agent, which hashes the clear text itself (Nova
 * passes no VIR_DOMAIN_PASSWORD_ENCRYPTED).  libvirt's messages name the
 * agent's command, never its arguments. */
static int lv_set_user_password(struct drv_hv *hv, const char *uuid, const char *user,
                                const char *password, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "set the password of `%s`", user);
    int rc = 0;
    if (virDomainSetUserPassword(dom, user, password, 0) < 0) {
        virErrorPtr le = virGetLastError();
        bool agent_silent = le && le->code == VIR_ERR_AGENT_UNRESPONSIVE;
        rc = lv_dom_error(err, "virDomainSetUserPassword", dom);
        /* TIMEOUT is the agent's silence alone (Nova tells it apart); a
         * job that timed out is a failure like any other */
        if (!agent_silent && err_code_of(*err) == ERR_TIMEOUT)
            (*err)->code = ERR_INTERNAL;
    }
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "set the password of `%s`", user) : 0;
}

static int lv_suspend(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return lv_simple(hv, uuid, "suspend", DRV_HV_EVENT_SUSPENDED, lv_call_managed_save,
                     "virDomainManagedSave", err);
}

static int lv_resume(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "resume");
    int saved = virDomainHasManagedSaveImage(dom, 0);
    int rc;
    if (saved != 1) {
        virResetLastError();
        rc = err_set(err, ERR_CONFLICT, "resume `%s`: the guest is not suspended", uuid);
    } else {
        rc = lv_start(lv, dom, uuid, err);
    }
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "resume") : 0;
}

const struct drv_hv_ops drv_libvirt_ops = {
    .name = "libvirt",
    .open = lv_open,
    .close = lv_close,
    .host_info = lv_host_info,
    .capabilities = lv_capabilities,
    .spawn = lv_spawn,
    .destroy = lv_destroy,
    .power_off = lv_power_off,
    .power_on = lv_power_on,
    .reboot = lv_reboot,
    .pause = lv_pause,
    .inject_nmi = lv_inject_nmi,
    .set_user_password = lv_set_user_password,
    .fs_freeze = lv_fs_freeze,
    .fs_thaw = lv_fs_thaw,
    .unpause = lv_unpause,
    .suspend = lv_suspend,
    .resume = lv_resume,
    .reshape = lv_reshape,
    .resize_cold = lv_resize_cold,
    .get_info = lv_get_info,
    .list = lv_list,
    .sample = lv_sample,
    .console_output = lv_console_output,
    .console_port = lv_console_port,
    .diagnostics = lv_diagnostics,
    .get_spec = lv_get_spec,
    .set_identity = lv_set_identity,
    .rename = lv_rename,
    .migrate_out = lv_migrate_out,
    .migrate_in = lv_migrate_in,
    .migrate_cleanup = lv_migrate_cleanup,
    .live_prepare = lv_live_prepare,
    .live_migrate = lv_live_migrate,
    .live_abort = lv_live_abort,
    .live_finish = lv_live_finish,
    .live_rollback = lv_live_rollback,
    .insert_config_drive = lv_insert_config_drive,
    .snapshot = lv_snapshot,
    .rescue = lv_rescue,
    .unrescue = lv_unrescue,
    .images_in_use = lv_images_in_use,
};
