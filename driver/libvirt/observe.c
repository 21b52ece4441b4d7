/* Reading guests: info (read back from libvirt), the list, usage samples
 * from one virConnectGetAllDomainStats call, the console log, the spec. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/guest.h"

LOG_INIT("driver.libvirt.observe");

/* Memory hot-plug in the info: the guest holds the balloon and what it
 * plugged, whatever was requested. */
static void lv_info_vmem(const struct lv_vmem *v, struct drv_hv_info *out)
{
    out->shape.res.v[DRV_RES_MEM_MIB] =
        (double)lv_vmem_held_kib(v, lv_vmem_balloon_now_kib(v)) / 1024;
    out->mem_requested_mib = (double)v->requested_kib / 1024;
    out->mem_plugged_mib = (double)v->current_kib / 1024;
    out->mem_stalled = v->stalled;
    out->mem_offline_mib = v->offline ? (double)v->offline_kib / 1024 : 0;
}

/* Fill `out` from a freshly loaded entry and the domain. */
static int lv_info_fill(struct lv *lv, virDomainPtr dom, const char *uuid, bool knobs,
                        struct drv_hv_info *out, struct err **err)
{
    if (lv_entry_load(lv, uuid, dom, knobs, err) < 0)
        return -1;
    virDomainInfo di;
    if (virDomainGetInfo(dom, &di) < 0)
        return lv_dom_error(err, "virDomainGetInfo", dom);
    memset(out, 0, sizeof(*out));
    snprintf(out->uuid, sizeof(out->uuid), "%s", uuid);
    out->cpu_time_ns = di.cpuTime;
    unsigned int id = virDomainGetID(dom);
    out->domain_id = id == (unsigned int)-1 ? -1 : (int64_t)id;
    virResetLastError();

    enum drv_power_state st;
    if (lv_guest_state(dom, virDomainGetName(dom), &st, out->state_reason, err) < 0)
        return -1;
    out->state = st;
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e) {
        snprintf(out->name, sizeof(out->name), "%s", e->name);
        out->ours = e->ours;
        out->rescued = e->ours && e->meta.rescued;
        if (out->rescued)
            out->rescue_dev = e->meta.rescue_dev;
        out->shape = e->applied;
        out->vcpus_online_actual = e->applied.vcpus_online;
        if (e->wanted_online > 0 && e->wanted_online < e->applied.vcpus_online)
            out->shape.vcpus_online = e->wanted_online;
        if (out->shape.res.v[DRV_RES_VCPU] > out->shape.vcpus_online)
            out->shape.res.v[DRV_RES_VCPU] = out->shape.vcpus_online;
        bool on = st == DRV_POWER_RUNNING || st == DRV_POWER_PAUSED;
        out->started_wall_ms = on ? e->started_ms : 0;
        out->uptime_ms = on && e->started_ms ? clock_wall_ms() - e->started_ms : 0;
        /* memory: what the guest holds; what it was asked, apart */
        out->mem_asked_mib = e->applied.res.v[DRV_RES_MEM_MIB];
        if (on && e->vmem.size_kib)
            lv_info_vmem(&e->vmem, out);
        else if (on && e->held_mib > 0)
            out->shape.res.v[DRV_RES_MEM_MIB] = e->held_mib;
    }
    pthread_mutex_unlock(&lv->lock);
    return 0;
}

int lv_get_info(struct drv_hv *hv, const char *uuid, struct drv_hv_info *out, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "get info");
    int rc = lv_info_fill(lv, dom, uuid, false, out, err);
    virDomainFree(dom);
    if (rc < 0) {
        lv_failed(lv, err ? *err : NULL);
        return err_wrap(err, "get info");
    }
    return 0;
}

/* The counters of Nova's libvirt get_instance_diagnostics, read the way it
 * reads them: the domain's info, each vCPU's time, each disk's and each
 * interface's stats (those the hypervisor refuses stay -1, as Nova skips
 * them). */
static int lv_diag_fill(virDomainPtr dom, struct drv_hv_diag *out, struct err **err)
{
    virDomainInfo di;
    if (virDomainGetInfo(dom, &di) < 0)
        return lv_dom_error(err, "virDomainGetInfo", dom);
    char reason[32];
    if (lv_guest_state(dom, virDomainGetName(dom), &out->state, reason, err) < 0)
        return -1;
    out->mem_max_kib = (int64_t)di.maxMem;
    out->mem_kib = (int64_t)di.memory;
    out->ncpus = di.nrVirtCpu;
    bool active = virDomainIsActive(dom) == 1;
    virResetLastError();
    if (active && di.nrVirtCpu > 0) {
        autofree virVcpuInfoPtr vi = xcalloc(di.nrVirtCpu, sizeof(*vi));
        int n = virDomainGetVcpus(dom, vi, di.nrVirtCpu, NULL, 0);
        virResetLastError();
        if (n > 0) {
            out->cpu_time_ns = xcalloc(di.nrVirtCpu, sizeof(*out->cpu_time_ns));
            for (size_t k = 0; k < di.nrVirtCpu; k++)
                out->cpu_time_ns[k] = -1;
            for (int k = 0; k < n; k++)
                if (vi[k].number < di.nrVirtCpu)
                    out->cpu_time_ns[vi[k].number] = (int64_t)vi[k].cpuTime;
        }
    }
    autofree char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return lv_dom_error(err, "virDomainGetXMLDesc", dom);
    if (lv_cfg_diag_devices(xml, out, err) < 0)
        return -1;
    for (size_t k = 0; active && k < out->ndisks; k++) {
        struct drv_hv_diag_disk *d = &out->disks[k];
        virDomainBlockStatsStruct bs;
        if (virDomainBlockStats(dom, d->dev, &bs, sizeof(bs)) == 0) {
            d->read_requests = bs.rd_req;
            d->read_bytes = bs.rd_bytes;
            d->write_requests = bs.wr_req;
            d->write_bytes = bs.wr_bytes;
            d->errors = bs.errs;
        }
        virResetLastError();
    }
    for (size_t k = 0; active && k < out->nnics; k++) {
        struct drv_hv_diag_nic *c = &out->nics[k];
        virDomainInterfaceStatsStruct is;
        if (c->dev[0] && virDomainInterfaceStats(dom, c->dev, &is, sizeof(is)) == 0) {
            c->rx_octets = is.rx_bytes;
            c->rx_packets = is.rx_packets;
            c->rx_errors = is.rx_errs;
            c->rx_drop = is.rx_drop;
            c->tx_octets = is.tx_bytes;
            c->tx_packets = is.tx_packets;
            c->tx_errors = is.tx_errs;
            c->tx_drop = is.tx_drop;
        }
        virResetLastError();
    }
    return 0;
}

int lv_diagnostics(struct drv_hv *hv, const char *uuid, struct drv_hv_diag *out,
                   struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "diagnostics");
    int rc = lv_diag_fill(dom, out, err);
    virDomainFree(dom);
    if (rc < 0) {
        lv_failed(lv, err ? *err : NULL);
        return err_wrap(err, "diagnostics");
    }
    return 0;
}

int lv_list(struct drv_hv *hv, struct drv_hv_info **out, size_t *n, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return err_wrap(err, "list");
    virDomainPtr *doms = NULL;
    int nd = virConnectListAllDomains(conn, &doms, 0);
    if (nd < 0)
        lv_error(err, "virConnectListAllDomains", NULL);
    virConnectClose(conn);
    if (nd < 0) {
        lv_failed(lv, err ? *err : NULL);
        return -1;
    }
    struct drv_hv_info *infos = xcalloc(nd ? (size_t)nd : 1, sizeof(*infos));
    size_t k = 0;
    int rc = 0;
    for (int i = 0; i < nd; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (rc == 0 && virDomainGetUUIDString(doms[i], uuid) == 0) {
            autoerr struct err *e = NULL;
            if (lv_info_fill(lv, doms[i], uuid, true, &infos[k], &e) == 0)
                k++;
            else if (err_code_of(e) == ERR_UNAVAILABLE)
                rc = -1, err_set(err, ERR_UNAVAILABLE, "list: %s", e->msg);
            /* a domain undefined meanwhile just drops out of the list */
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    /* entries of non-sculpt domains were only needed for the list */
    pthread_mutex_lock(&lv->lock);
    for (size_t i = 0; i < lv->n;) {
        struct lv_entry *e = lv->g[i];
        if (!e->ours && e->nexpect == 0) {
            if (e->dom)
                virDomainFree(e->dom);
            lv_meta_release(&e->meta);
            lv_knobs_release(&e->names);
            free(e);
            lv->g[i] = lv->g[--lv->n];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&lv->lock);
    if (rc < 0) {
        free(infos);
        return -1;
    }
    *out = infos;
    *n = k;
    return 0;
}

static enum drv_power_state lv_stats_state(const virDomainStatsRecord *rec)
{
    int st = 0;
    if (virTypedParamsGetInt(rec->params, rec->nparams, "state.state", &st) != 1)
        return DRV_POWER_NOSTATE;
    switch (st) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return DRV_POWER_RUNNING;
    case VIR_DOMAIN_PAUSED:
        return DRV_POWER_PAUSED;
    case VIR_DOMAIN_CRASHED:
        return DRV_POWER_CRASHED;
    default:
        return DRV_POWER_SHUTDOWN;
    }
}

/* A guest's balloon driver reports its memory every [libvirt]
 * mem_stats_period_seconds once it has loaded: a running guest without its
 * figures this long after this process first missed them has none (no
 * driver), and the balloon stands for its use. */
#define LV_GUEST_STATS_GRACE_MS (300 * 1000)

/* Is guest e (sample x) booting, its memory figures still to come?  The
 * wait counts from the first sample without them (the start is not always
 * known to this process: its handle may have read the domain before the
 * start was recorded).  With the lock. */
static bool lv_guest_mem_pending(const struct lv *lv, struct lv_entry *e,
                                 const struct drv_hv_sample *x)
{
    if (lv->pol.balloon_period_s <= 0 || x->state != DRV_POWER_RUNNING)
        return false;
    if (x->raw.has_guest_mem) {
        e->mem_seen = true;
        return false;
    }
    if (e->mem_seen) /* it reported, then stopped: its balloon stands */
        return false;
    if (!e->mem_wait_ms)
        e->mem_wait_ms = x->wall_ms;
    return x->wall_ms - e->mem_wait_ms < LV_GUEST_STATS_GRACE_MS;
}

int lv_sample(struct drv_hv *hv, struct drv_hv_sample **out, size_t *n, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
    if (!conn)
        return err_wrap(err, "sample");
    unsigned stats = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                     VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_INTERFACE |
                     VIR_DOMAIN_STATS_BLOCK;
    virDomainStatsRecordPtr *recs = NULL;
    int64_t t0 = clock_mono_ns();
    int nr =
        virConnectGetAllDomainStats(conn, stats, &recs, VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    int64_t t1 = clock_mono_ns();
    int64_t wall = clock_wall_ms();
    if (nr < 0)
        lv_error(err, "virConnectGetAllDomainStats", NULL);
    virConnectClose(conn);
    if (nr < 0) {
        lv_failed(lv, err ? *err : NULL);
        return -1;
    }
    struct drv_hv_sample *s = xcalloc(nr ? (size_t)nr : 1, sizeof(*s));
    struct lv_vmem_seen *seen = xcalloc(nr ? (size_t)nr : 1, sizeof(*seen));
    char (*gaps)[DRV_UUID_LEN + 1] = xcalloc(nr ? (size_t)nr : 1, sizeof(*gaps));
    size_t k = 0, nseen = 0, ngaps = 0;
    pthread_mutex_lock(&lv->lock);
    for (int i = 0; i < nr; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (virDomainGetUUIDString(recs[i]->dom, uuid) < 0)
            continue;
        struct lv_entry *e = lv_entry_find(lv, uuid);
        if (!e || !e->ours)
            continue;
        struct drv_hv_sample *x = &s[k++];
        snprintf(x->uuid, sizeof(x->uuid), "%s", uuid);
        x->state = lv_stats_state(recs[i]);
        x->mono_ns = t0 + (t1 - t0) / 2;
        x->wall_ms = wall;
        lv_guest_stats_parse(recs[i], &x->raw);
        x->raw.guest_mem_pending = e->mem_pending = lv_guest_mem_pending(lv, e, x);
        drv_hv_sample_derive(e->has_prev ? &e->prev : NULL, x);
        if (lv_vmem_seen(lv, e, x, &seen[nseen]))
            nseen++;
        if (x->state == DRV_POWER_RUNNING && lv_vmem_gap_unsaved(e))
            snprintf(gaps[ngaps++], sizeof(gaps[0]), "%s", uuid);
        x->mem_short_mib = lv_vmem_short_mib(&e->vmem);
        e->prev = *x;
        e->has_prev = true;
    }
    pthread_mutex_unlock(&lv->lock);
    virDomainStatsRecordListFree(recs);
    log_debug("sampled %zu guests of %d in %.1f ms", k, nr, (double)(t1 - t0) / 1e6);
    for (size_t i = 0; i < nseen; i++)
        lv_vmem_report(lv, seen[i].uuid, seen[i].news, &seen[i].v, seen[i].state);
    free(seen);
    for (size_t i = 0; i < ngaps; i++)
        lv_vmem_gap_record(lv, gaps[i]);
    free(gaps);
    lv_vmem_tick(lv);
    *out = s;
    *n = k;
    return 0;
}

/* The last max_bytes of a file; "" when it does not exist yet. */
static char *read_tail(const char *path, size_t max_bytes, struct err **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return xstrdup("");
        err_set_errno(err, errno, "open `%s`", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        err_set_errno(err, errno, "stat `%s`", path);
        close(fd);
        return NULL;
    }
    off_t from = st.st_size > (off_t)max_bytes ? st.st_size - (off_t)max_bytes : 0;
    char *buf = xmalloc(max_bytes + 1);
    size_t got = 0;
    while (got < max_bytes) {
        ssize_t r = pread(fd, buf + got, max_bytes - got, from + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return buf;
}

char *lv_console_output(struct drv_hv *hv, const char *uuid, size_t max_bytes, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom) {
        err_wrap(err, "console output");
        return NULL;
    }
    virDomainFree(dom);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    autofree char *path = e && e->ours && e->meta.console_log ? xstrdup(e->meta.console_log) : NULL;
    pthread_mutex_unlock(&lv->lock);
    if (!path) {
        err_set(err, ERR_UNSUPPORTED, "console output of `%s`: not a guest of sculpt's", uuid);
        return NULL;
    }
    return read_tail(path, max_bytes, err);
}

int lv_console_port(struct drv_hv *hv, const char *uuid, enum drv_hv_console type, int *port,
                    struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "console");
    int active = virDomainIsActive(dom);
    /* the live definition: the port of this run (the inactive one has
     * none, autoport) */
    char *xml = active == 1 ? virDomainGetXMLDesc(dom, 0) : NULL;
    int rc;
    if (active == 0)
        rc = err_set(err, ERR_CONFLICT, "guest `%s` is not running", uuid);
    else if (!xml)
        rc = lv_dom_error(err, active < 0 ? "virDomainIsActive" : "virDomainGetXMLDesc", dom);
    else
        rc = lv_cfg_console_port(xml, type, port, err);
    free(xml);
    virDomainFree(dom);
    return rc;
}

int lv_get_spec(struct drv_hv *hv, const char *uuid, struct drv_hv_guest_spec *out,
                struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "get spec");
    virDomainFree(dom);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    int rc = 0;
    if (e && e->ours)
        drv_hv_guest_spec_copy(out, &e->meta.spec);
    else
        rc = err_set(err, ERR_UNSUPPORTED, "spec of `%s`: not a guest of sculpt's", uuid);
    pthread_mutex_unlock(&lv->lock);
    return rc;
}

int lv_images_in_use(struct drv_hv *hv, struct drv_hv_paths *out, struct err **err)
{
    struct lv *lv = lv_of(hv);
    lv_uuid_t *uuids = NULL;
    size_t n = lv_entry_uuids(lv, &uuids);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* loaded first: an entry whose metadata was never read would hide
         * its images */
        autoerr struct err *e = NULL;
        virDomainPtr dom = lv_domain(lv, uuids[i], true, &e);
        if (!dom) {
            if (err_code_of(e) != ERR_NOT_FOUND) {
                *err = steal_pointer(&e);
                rc = err_wrap(err, "guest `%s`", uuids[i]);
            }
            continue;
        }
        virDomainFree(dom);
        struct lv_meta m = {0};
        if (lv_entry_meta_get(lv, uuids[i], &m)) {
            drv_hv_paths_add_image(out, &m.spec.image);
            if (m.rescued)
                drv_hv_paths_add_image(out, &m.rescue_image);
            lv_meta_release(&m);
        }
    }
    free(uuids);
    return rc;
}

/* A pool member becomes an instance's guest: its title names the
 * instance, and sculpt's metadata (live and for the next boot) carries the
 * instance's identity, so virsh and a restarted sculpt-compute see whose
 * guest it is.  The domain keeps its name (libvirt renames only a domain
 * that is shut off) and its uuid. */
bool lv_entry_meta_get(struct lv *lv, const char *uuid, struct lv_meta *out)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    bool ours = e && e->ours;
    if (ours)
        lv_meta_copy(out, &e->meta);
    pthread_mutex_unlock(&lv->lock);
    return ours;
}

void lv_entry_meta_put(struct lv *lv, const char *uuid, struct lv_meta *m)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e) {
        lv_meta_release(&e->meta);
        e->meta = *m;
        memset(m, 0, sizeof(*m));
    }
    pthread_mutex_unlock(&lv->lock);
}

int lv_set_identity(struct drv_hv *hv, const char *uuid, const struct drv_hv_guest_spec *inst,
                    struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "set identity");
    struct lv_meta meta = {0};
    bool ours = lv_entry_meta_get(lv, uuid, &meta);
    int rc = -1;
    /* declared before the first goto: a jump must not skip a cleanup */
    autofree char *xml = NULL;
    autofree char *title = NULL;
    if (!ours) {
        err_set(err, ERR_UNSUPPORTED, "identity of `%s`: not a guest of sculpt's", uuid);
        goto cleanup;
    }
    char **fields[] = {&meta.spec.display_name, &meta.spec.project_id, &meta.spec.user_id,
                       &meta.spec.flavor_name};
    const char *values[] = {inst->display_name, inst->project_id, inst->user_id, inst->flavor_name};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        free(*fields[i]);
        *fields[i] = values[i] ? xstrdup(values[i]) : NULL;
    }
    unsigned flags = lv_affect_now(dom);
    xml = lv_meta_format_fragment(&meta);
    title = xasprintf("%s (%s)", inst->display_name ? inst->display_name : "", inst->uuid);
    const char *name = virDomainGetName(dom);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, LV_META_PREFIX, LV_META_URI,
                             flags) < 0 ||
        virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_TITLE, title, NULL, NULL, flags) < 0) {
        lv_error(err, "virDomainSetMetadata", name);
        goto cleanup;
    }
    lv_entry_meta_put(lv, uuid, &meta);
    rc = 0;
cleanup:
    lv_meta_release(&meta);
    virDomainFree(dom);
    return rc;
}
