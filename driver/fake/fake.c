/* The fake backend: guests in memory, a clock moved by the caller, usage
 * following a demand capped by the shape (the host's CPUs shared by weight
 * when short).  One mutex guards everything;
 * events are collected under it and delivered after it is released, so a
 * subscriber may call back in. */
#include "driver/fake/fake.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "driver/host_priv.h"
#include "driver/hypervisor_priv.h"

LOG_INIT("driver.fake");

extern const struct drv_hv_ops drv_fake_ops;

struct fake_guest {
    struct drv_hv_guest_spec spec; /* spec->shape: the defined shape */
    char name[DRV_HV_NAME_MAX + 1];
    struct drv_shape shape; /* the latest shape (live when running) */
    int32_t online;         /* vCPUs actually online */
    enum drv_power_state state;
    char reason[32];
    int64_t domain_id;  /* -1 when off */
    int64_t started_ms; /* fake clock */
    struct drv_res demand;
    double mem_short_mib; /* reported as a memory hot-plug stall (0: none) */
    double mem_held_mib;  /* a balloon trailing its target: what the guest
                           * holds while it runs (0: what it was asked) */
    bool booting;         /* its memory figures still to come */
    struct drv_hv_counters raw;
    struct drv_hv_sample prev; /* last sample handed out */
    bool has_prev;
    struct strbuf console;
    /* rescued: booting from `rescue_image` with `rescue_cd` in its cdrom,
     * its own disk second (drv_hv_rescue); a stable device rescue
     * (rescue_dev): its own disk and drive, the rescue image last */
    bool rescued;
    struct drv_hv_rescue_dev rescue_dev;
    struct drv_hv_image rescue_image;
    struct drv_hv_config_drive *rescue_cd;
    bool frozen; /* its filesystems frozen through its agent (until it stops) */
};

struct fake_topology {
    int nodes, sockets, cores, threads;
    double mem_mib; /* per node */
};

struct fake {
    pthread_mutex_t lock;
    struct fake_guest **guests;
    size_t n;
    int64_t now_ms;
    int64_t next_id;
    int64_t calls;
    bool unplug;
    bool disconnected;
    struct fake_topology topo;
    struct drv_hv_host host;
    char fail_op[32];
    enum err_code fail_code;
    int fail_count;
};

/* Events raised under the lock, delivered after it. */
struct fake_events {
    struct drv_hv_event ev[4];
    int n;
};

static struct fake *fake_of(struct drv_hv *hv)
{
    return hv->priv;
}

static void fake_event(struct fake *f, struct fake_events *evs, enum drv_hv_event_type type,
                       const struct fake_guest *g, const char *reason, bool by_sculpt)
{
    if (evs->n >= (int)ARRAY_SIZE(evs->ev))
        return;
    struct drv_hv_event *e = &evs->ev[evs->n++];
    memset(e, 0, sizeof(*e));
    e->type = type;
    if (g) {
        snprintf(e->uuid, sizeof(e->uuid), "%s", g->spec.uuid);
        e->state = g->state;
    }
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    e->by_sculpt = by_sculpt;
    e->wall_ms = DRV_FAKE_EPOCH_MS + f->now_ms;
}

static void fake_unlock_and_emit(struct drv_hv *hv, struct fake_events *evs)
{
    pthread_mutex_unlock(&fake_of(hv)->lock);
    for (int i = 0; i < evs->n; i++)
        drv_hv_emit(hv, &evs->ev[i]);
}

static void fake_console(struct fake *f, struct fake_guest *g, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fake_console(struct fake *f, struct fake_guest *g, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    strbuf_printf(&g->console, "[%10.3f] %s\n",
                  g->state == DRV_POWER_RUNNING ? (double)(f->now_ms - g->started_ms) / 1000 : 0.0,
                  line);
    /* keep the buffer bounded like a rotated log */
    if (g->console.len > 4 * DRV_HV_CONSOLE_MAX) {
        size_t cut = g->console.len - DRV_HV_CONSOLE_MAX;
        memmove(g->console.s, g->console.s + cut, g->console.len - cut + 1);
        g->console.len -= cut;
    }
}

/* An injected failure of `op`, with f->lock held: consumed, and *err set
 * (every op on entry; a snapshot's freeze and thaw inside it). */
static bool fake_injected(struct fake *f, const char *op, struct err **err)
{
    if (f->fail_count <= 0 || strcmp(f->fail_op, op) != 0)
        return false;
    f->fail_count--;
    err_set(err, f->fail_code, "fake hypervisor: %s: injected failure", op);
    return true;
}

/* Every op starts here: the lock, the connection and injected failures. */
static int fake_enter(struct drv_hv *hv, const char *op, struct err **err)
{
    struct fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    if (f->disconnected) {
        pthread_mutex_unlock(&f->lock);
        return err_set(err, ERR_UNAVAILABLE, "fake hypervisor: %s: not connected", op);
    }
    if (fake_injected(f, op, err)) {
        pthread_mutex_unlock(&f->lock);
        return -1;
    }
    return 0;
}

static struct fake_guest *fake_find(struct fake *f, const char *uuid, struct err **err)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcasecmp(f->guests[i]->spec.uuid, uuid) == 0)
            return f->guests[i];
    err_set(err, ERR_NOT_FOUND, "no guest `%s`", uuid);
    return NULL;
}

static void fake_rescue_release(struct fake_guest *g)
{
    drv_hv_image_release(&g->rescue_image);
    drv_hv_config_drive_free(g->rescue_cd);
    g->rescue_cd = NULL;
    g->rescued = false;
    g->rescue_dev = (struct drv_hv_rescue_dev){DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT};
}

static void fake_guest_free(struct fake_guest *g)
{
    if (!g)
        return;
    drv_hv_guest_spec_release(&g->spec);
    strbuf_release(&g->console);
    fake_rescue_release(g);
    free(g);
}

/* ---- topology and host ---- */

static int fake_parse_topology(const char *text, struct fake_topology *t, struct err **err)
{
    struct fake_topology r = {1, 1, 4, 2, 16384};
    autofree char *copy = xstrdup(text);
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        char *end = NULL;
        if (!eq)
            return err_set(err, ERR_INVALID, "[fake] topology `%s`: `%s` is not key=value", text,
                           kv);
        *eq = '\0';
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || !(v >= 1) || v > (strcmp(kv, "mem_mib") ? 256 : 1 << 30))
            return err_set(err, ERR_INVALID, "[fake] topology `%s`: bad value for `%s`", text, kv);
        if (strcmp(kv, "nodes") == 0)
            r.nodes = (int)v;
        else if (strcmp(kv, "sockets") == 0)
            r.sockets = (int)v;
        else if (strcmp(kv, "cores") == 0)
            r.cores = (int)v;
        else if (strcmp(kv, "threads") == 0)
            r.threads = (int)v;
        else if (strcmp(kv, "mem_mib") == 0)
            r.mem_mib = v;
        else
            return err_set(err, ERR_INVALID, "[fake] topology `%s`: unknown key `%s`", text, kv);
    }
    if (r.nodes * r.sockets * r.cores * r.threads > DRV_CPUSET_MAX)
        return err_set(err, ERR_INVALID, "[fake] topology `%s`: more than %d CPUs", text,
                       DRV_CPUSET_MAX);
    *t = r;
    return 0;
}

static int fake_open(struct drv_hv *hv, const struct cfg *cfg, struct err **err)
{
    struct fake_topology t;
    if (fake_parse_topology(cfg->fake_topology, &t, err) < 0)
        return -1;
    struct fake *f = xzalloc(sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->topo = t;
    f->unplug = cfg->fake_vcpu_unplug;
    f->next_id = 1;
    struct drv_hv_host *h = &f->host;
    snprintf(h->hostname, sizeof(h->hostname), "%s", cfg->host);
    snprintf(h->hypervisor, sizeof(h->hypervisor), "fake");
    snprintf(h->virt_type, sizeof(h->virt_type), "fake");
    h->hypervisor_version = 1000000;
    h->cpus = t.nodes * t.sockets * t.cores * t.threads;
    h->mem_mib = t.mem_mib * t.nodes;
    h->mem_free_mib = h->mem_mib;
    h->max_vcpus = cfg->libvirt_max_vcpus > 0 ? (int32_t)cfg->libvirt_max_vcpus : h->cpus;
    h->max_mem_mib = cfg->libvirt_max_memory_mb > 0
                         ? (double)cfg->libvirt_max_memory_mb
                         : fmax(h->mem_mib - (double)cfg->reserved_host_memory_mb, 0);
    h->vcpu_unplug = f->unplug;
    hv->priv = f;
    return 0;
}

static void fake_close(struct drv_hv *hv)
{
    struct fake *f = fake_of(hv);
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        fake_guest_free(f->guests[i]);
    free(f->guests);
    pthread_mutex_destroy(&f->lock);
    free(f);
    hv->priv = NULL;
}

static int fake_host_info(struct drv_hv *hv, struct drv_hv_host *out, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "host_info", err) < 0)
        return -1;
    *out = f->host;
    double used = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->guests[i]->state == DRV_POWER_RUNNING || f->guests[i]->state == DRV_POWER_PAUSED)
            used += f->guests[i]->shape.res.v[DRV_RES_MEM_MIB];
    out->mem_free_mib = fmax(out->mem_mib - used, 0);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* libvirt's capabilities layout, numbered as Linux numbers a host: the
 * second thread of each core comes after all first threads. */
static char *fake_capabilities(struct drv_hv *hv, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "capabilities", err) < 0)
        return NULL;
    const struct fake_topology *t = &f->topo;
    int cores_total = t->nodes * t->sockets * t->cores;
    autostrbuf b = STRBUF_INIT;
    strbuf_printf(
        &b,
        "<capabilities>\n  <host>\n    <uuid>00000000-0000-4000-8000-00000000fa4e</uuid>\n"
        "    <cpu>\n      <arch>x86_64</arch>\n      <model>fake</model>\n"
        "      <vendor>sculpt</vendor>\n"
        "      <topology sockets='%d' dies='1' cores='%d' threads='%d'/>\n    </cpu>\n"
        "    <topology>\n      <cells num='%d'>\n",
        t->sockets, t->cores, t->threads, t->nodes);
    for (int n = 0; n < t->nodes; n++) {
        strbuf_printf(&b,
                      "        <cell id='%d'>\n          <memory unit='KiB'>%.0f</memory>\n"
                      "          <cpus num='%d'>\n",
                      n, t->mem_mib * 1024, t->sockets * t->cores * t->threads);
        for (int s = 0; s < t->sockets; s++)
            for (int th = 0; th < t->threads; th++)
                for (int c = 0; c < t->cores; c++) {
                    int core = (n * t->sockets + s) * t->cores + c;
                    autostrbuf sib = STRBUF_INIT;
                    for (int k = 0; k < t->threads; k++)
                        strbuf_printf(&sib, "%s%d", k ? "," : "", k * cores_total + core);
                    strbuf_printf(&b,
                                  "            <cpu id='%d' socket_id='%d' die_id='0' "
                                  "core_id='%d' siblings='%s'/>\n",
                                  th * cores_total + core, n * t->sockets + s, c, sib.s);
                }
        strbuf_append(&b, "          </cpus>\n        </cell>\n");
    }
    strbuf_append(&b, "      </cells>\n    </topology>\n  </host>\n</capabilities>\n");
    pthread_mutex_unlock(&f->lock);
    return strbuf_steal(&b);
}

/* The topology of fake_capabilities(), given to the engine's builder
 * directly (no XML reader needed). */
static int fake_topology(struct drv_hv *hv, struct drv_host_builder *b, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "topology", err) < 0)
        return -1;
    const struct fake_topology *t = &f->topo;
    int cores_total = t->nodes * t->sockets * t->cores;
    int rc = 0;
    for (int n = 0; n < t->nodes && rc == 0; n++) {
        rc = drv_host_builder_add_node(b, n, t->mem_mib, err);
        for (int s = 0; s < t->sockets && rc == 0; s++)
            for (int th = 0; th < t->threads && rc == 0; th++)
                for (int c = 0; c < t->cores && rc == 0; c++) {
                    int core = (n * t->sockets + s) * t->cores + c;
                    struct drv_host_raw_cpu cpu = {.id = th * cores_total + core,
                                                   .node_id = n,
                                                   .socket = n * t->sockets + s,
                                                   .die = 0,
                                                   .core = c,
                                                   .sibling0 = core};
                    rc = drv_host_builder_add_cpu(b, &cpu, err);
                }
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* ---- usage ---- */

static double cap_at(double demand, double limit)
{
    return limit > 0 ? fmin(demand, limit) : demand;
}

/* What a running guest's vCPUs would run if the host had room: its demand
 * within its quota and its online vCPUs. */
static double fake_cpu_want(const struct fake_guest *g)
{
    if (g->state != DRV_POWER_RUNNING)
        return 0;
    return fmax(0, fmin(g->demand.v[DRV_RES_VCPU], fmin(g->shape.res.v[DRV_RES_VCPU], g->online)));
}

/* The host's CPUs shared as CFS shares them when the guests want more than
 * there is: in proportion to their weights, a guest wanting less than its
 * share keeping what it wants and leaving the rest to the others
 * (weighted max-min fairness).  got[i] for every guest. */
static void fake_cpu_share(const struct fake *f, double *got)
{
    double want_total = 0;
    for (size_t i = 0; i < f->n; i++) {
        got[i] = -1; /* not settled */
        want_total += fake_cpu_want(f->guests[i]);
    }
    double room = f->host.cpus;
    if (want_total <= room) {
        for (size_t i = 0; i < f->n; i++)
            got[i] = fake_cpu_want(f->guests[i]);
        return;
    }
    for (bool settled = true; settled;) {
        double wsum = 0;
        for (size_t i = 0; i < f->n; i++)
            if (got[i] < 0)
                wsum += drv_shape_cpu_weight(&f->guests[i]->shape);
        settled = false;
        for (size_t i = 0; i < f->n && wsum > 0; i++) {
            double want = fake_cpu_want(f->guests[i]);
            if (got[i] < 0 && want <= room * drv_shape_cpu_weight(&f->guests[i]->shape) / wsum) {
                got[i] = want;
                room -= want;
                settled = true; /* the others' shares grow: look again */
            }
        }
        if (!settled)
            for (size_t i = 0; i < f->n; i++)
                if (got[i] < 0)
                    got[i] = wsum > 0 ? room * drv_shape_cpu_weight(&f->guests[i]->shape) / wsum
                                      : 0;
    }
}

/* Grow a running guest's counters by its use over dt_ms: `cpu` vCPUs (its
 * share of the host), the rest capped by its shape. */
static void fake_guest_run(struct fake_guest *g, double cpu, int64_t dt_ms)
{
    if (g->state != DRV_POWER_RUNNING || dt_ms <= 0)
        return;
    const double *d = g->demand.v, *lim = g->shape.res.v;
    double s = (double)dt_ms / 1000;
    g->raw.cpu_time_ns += (uint64_t)llround(cpu * s * 1e9);
    g->raw.cpu_total_ns = g->raw.cpu_time_ns + (uint64_t)llround(0.01 * s * 1e9);
    g->raw.net_rx_bytes +=
        (uint64_t)llround(cap_at(d[DRV_RES_NET_IN_MBPS], lim[DRV_RES_NET_IN_MBPS]) * 1e6 / 8 * s);
    g->raw.net_tx_bytes +=
        (uint64_t)llround(cap_at(d[DRV_RES_NET_OUT_MBPS], lim[DRV_RES_NET_OUT_MBPS]) * 1e6 / 8 * s);
    g->raw.net_rx_pkts = g->raw.net_rx_bytes / 1500;
    g->raw.net_tx_pkts = g->raw.net_tx_bytes / 1500;
    g->raw.blk_rd_reqs +=
        (uint64_t)llround(cap_at(d[DRV_RES_DISK_READ_IOPS], lim[DRV_RES_DISK_READ_IOPS]) * s);
    g->raw.blk_wr_reqs +=
        (uint64_t)llround(cap_at(d[DRV_RES_DISK_WRITE_IOPS], lim[DRV_RES_DISK_WRITE_IOPS]) * s);
    g->raw.blk_rd_bytes +=
        (uint64_t)llround(cap_at(d[DRV_RES_DISK_READ_MBPS], lim[DRV_RES_DISK_READ_MBPS]) * 1e6 * s);
    g->raw.blk_wr_bytes += (uint64_t)llround(
        cap_at(d[DRV_RES_DISK_WRITE_MBPS], lim[DRV_RES_DISK_WRITE_MBPS]) * 1e6 * s);
}

/* The level counters (memory, vCPUs) as they stand now. */
static void fake_guest_levels(struct fake_guest *g)
{
    double balloon = g->mem_held_mib > 0 ? g->mem_held_mib : g->shape.res.v[DRV_RES_MEM_MIB];
    g->raw.has_cpu = g->raw.has_balloon = true;
    g->raw.has_guest_mem = !g->booting;
    g->raw.guest_mem_pending = g->booting;
    g->raw.has_net = g->spec.nvifs > 0;
    g->raw.has_blk = g->spec.image.disk_base != NULL;
    g->raw.vcpus_online = g->online;
    g->raw.balloon_mib = balloon;
    g->raw.guest_total_mib = balloon;
    double used = fmin(g->demand.v[DRV_RES_MEM_MIB], balloon);
    g->raw.guest_usable_mib = balloon - used;
    g->raw.guest_free_mib = g->raw.guest_usable_mib;
    g->raw.rss_mib = used + 32;
}

/* ---- lifecycle ---- */

static void fake_start(struct fake *f, struct fake_guest *g, const char *reason)
{
    g->state = DRV_POWER_RUNNING;
    snprintf(g->reason, sizeof(g->reason), "%s", reason);
    g->domain_id = f->next_id++;
    g->started_ms = f->now_ms;
    g->online = g->shape.vcpus_online;
    memset(&g->raw, 0, sizeof(g->raw));
    g->has_prev = false;
    /* a boot's first lines, as a kernel prints them (tempest wants more
     * than three lines from a running server) */
    fake_console(f, g, "Linux version 6.1.0-sculpt-fake (sculpt fake backend)");
    fake_console(f, g, "Command line: console=ttyS0");
    fake_console(f, g, "GUEST-INIT-READY %s vcpus=%d mem_mib=%.0f", g->name, g->online,
                 g->shape.res.v[DRV_RES_MEM_MIB]);
}

static void fake_stop(struct fake *f, struct fake_guest *g, const char *reason)
{
    /* a clean shutdown ends the console as Linux's does (tempest reads a
     * stopped server's last lines) */
    if (strcmp(reason, "shutdown") == 0)
        fake_console(f, g, "reboot: Power down");
    g->state = DRV_POWER_SHUTDOWN;
    snprintf(g->reason, sizeof(g->reason), "%s", reason);
    g->domain_id = -1;
    g->frozen = false;
}

static int fake_spawn(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, struct err **err)
{
    struct fake *f = fake_of(hv);
    struct fake_events evs = {.n = 0};
    if (fake_enter(hv, "spawn", err) < 0)
        return -1;
    f->calls++;
    if (fake_find(f, spec->uuid, NULL)) {
        pthread_mutex_unlock(&f->lock);
        return err_set(err, ERR_CONFLICT, "spawn: guest `%s` exists", spec->uuid);
    }
    if (drv_hv_check_host_policy(&f->host, f->topo.nodes, &spec->shape, err) < 0) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "spawn `%s`", spec->uuid);
    }
    struct fake_guest *g = xzalloc(sizeof(*g));
    drv_hv_guest_spec_copy(&g->spec, spec);
    drv_hv_domain_name(spec, g->name);
    g->shape = spec->shape;
    f->guests = xreallocarray(f->guests, f->n + 1, sizeof(*f->guests));
    f->guests[f->n++] = g;
    fake_event(f, &evs, DRV_HV_EVENT_DEFINED, g, "added", true);
    fake_start(f, g, "booted");
    fake_event(f, &evs, DRV_HV_EVENT_STARTED, g, "booted", true);
    log_debug("spawned %s (%s)", g->name, g->spec.uuid);
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

static int fake_destroy(struct drv_hv *hv, const char *uuid, bool keep_disks, struct err **err)
{
    struct fake *f = fake_of(hv);
    struct fake_events evs = {.n = 0};
    (void)keep_disks;
    if (fake_enter(hv, "destroy", err) < 0)
        return -1;
    f->calls++;
    size_t i;
    for (i = 0; i < f->n && strcasecmp(f->guests[i]->spec.uuid, uuid) != 0; i++)
        ;
    if (i == f->n) {
        pthread_mutex_unlock(&f->lock);
        return err_set(err, ERR_NOT_FOUND, "destroy: no guest `%s`", uuid);
    }
    struct fake_guest *g = f->guests[i];
    if (g->state != DRV_POWER_SHUTDOWN) {
        fake_stop(f, g, "destroyed");
        fake_event(f, &evs, DRV_HV_EVENT_STOPPED, g, "destroyed", true);
    }
    fake_event(f, &evs, DRV_HV_EVENT_UNDEFINED, g, "removed", true);
    f->guests[i] = f->guests[--f->n];
    fake_guest_free(g);
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

/* A state change on one guest: `from` lists the states it is allowed from
 * (as a bit mask of 1 << state), `to` the result. */
static int fake_transition(struct drv_hv *hv, const char *op, const char *uuid, unsigned from,
                           enum drv_power_state to, enum drv_hv_event_type ev, const char *reason,
                           struct err **err)
{
    struct fake *f = fake_of(hv);
    struct fake_events evs = {.n = 0};
    if (fake_enter(hv, op, err) < 0)
        return -1;
    f->calls++;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "%s", op);
    }
    if (!(from & (1u << g->state))) {
        enum drv_power_state st = g->state;
        pthread_mutex_unlock(&f->lock);
        return err_set(err, ERR_CONFLICT, "%s `%s`: guest is %s", op, uuid,
                       drv_power_state_name(st));
    }
    if (to == DRV_POWER_RUNNING && g->state != DRV_POWER_PAUSED)
        fake_start(f, g, reason);
    else if (to == DRV_POWER_SHUTDOWN)
        fake_stop(f, g, reason);
    else {
        g->state = to;
        snprintf(g->reason, sizeof(g->reason), "%s", reason);
        if (to == DRV_POWER_SUSPENDED)
            g->domain_id = -1;
    }
    fake_event(f, &evs, ev, g, reason, true);
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

#define ST(s) (1u << (s))

static int fake_power_off(struct drv_hv *hv, const char *uuid, int timeout_s, struct err **err)
{
    return fake_transition(hv, "power_off", uuid, ST(DRV_POWER_RUNNING) | ST(DRV_POWER_PAUSED),
                           DRV_POWER_SHUTDOWN, DRV_HV_EVENT_STOPPED,
                           timeout_s ? "shutdown" : "destroyed", err);
}

static int fake_power_on(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return fake_transition(hv, "power_on", uuid, ST(DRV_POWER_SHUTDOWN) | ST(DRV_POWER_CRASHED),
                           DRV_POWER_RUNNING, DRV_HV_EVENT_STARTED, "booted", err);
}

static int fake_pause(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return fake_transition(hv, "pause", uuid, ST(DRV_POWER_RUNNING), DRV_POWER_PAUSED,
                           DRV_HV_EVENT_PAUSED, "user", err);
}

static int fake_unpause(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return fake_transition(hv, "unpause", uuid, ST(DRV_POWER_PAUSED), DRV_POWER_RUNNING,
                           DRV_HV_EVENT_RESUMED, "unpaused", err);
}

static int fake_suspend(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return fake_transition(hv, "suspend", uuid, ST(DRV_POWER_RUNNING) | ST(DRV_POWER_PAUSED),
                           DRV_POWER_SUSPENDED, DRV_HV_EVENT_SUSPENDED, "saved", err);
}

static int fake_resume(struct drv_hv *hv, const char *uuid, struct err **err)
{
    return fake_transition(hv, "resume", uuid, ST(DRV_POWER_SUSPENDED), DRV_POWER_RUNNING,
                           DRV_HV_EVENT_STARTED, "restored", err);
}

/* The running guest `uuid`, with f->lock held (the call counted); NULL
 * with the lock released and *err set (CONFLICT when it is not running). */
static struct fake_guest *fake_running(struct drv_hv *hv, const char *op, const char *uuid,
                                       struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, op, err) < 0)
        return NULL;
    f->calls++;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (g && g->state == DRV_POWER_RUNNING)
        return g;
    enum drv_power_state st = g ? g->state : DRV_POWER_NOSTATE;
    pthread_mutex_unlock(&f->lock);
    if (!g)
        err_wrap(err, "%s", op);
    else
        err_set(err, ERR_CONFLICT, "%s `%s`: guest is %s", op, uuid, drv_power_state_name(st));
    return NULL;
}

/* What a Linux guest without a crash kernel logs for an NMI. */
static int fake_inject_nmi(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct fake_guest *g = fake_running(hv, "inject_nmi", uuid, err);
    if (!g)
        return -1;
    fake_console(fake_of(hv), g, "Uhhuh. NMI received for unknown reason 00 on CPU 0.");
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return 0;
}

/* The tiny guest's agent as the fake plays it: it knows root and
 * Administrator, and logs the change, never the password. */
static int fake_set_user_password(struct drv_hv *hv, const char *uuid, const char *user,
                                  const char *password, struct err **err)
{
    (void)password;
    struct fake_guest *g = fake_running(hv, "set_user_password", uuid, err);
    if (!g)
        return -1;
    int rc = 0;
    if (!g->spec.guest_agent)
        rc = err_set(err, ERR_UNSUPPORTED, "set_user_password `%s`: QEMU guest agent is not "
                     "configured", uuid);
    else if (strcmp(user, "root") != 0 && strcmp(user, "Administrator") != 0)
        rc = err_set(err, ERR_INTERNAL, "set_user_password `%s`: the agent failed: user `%s` "
                     "unknown", uuid, user);
    else
        fake_console(fake_of(hv), g, "GUEST-PASSWORD user=%s", user);
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return rc;
}

/* The tiny guest's agent freezing or thawing its one filesystem, with
 * f->lock held (g running): what qemu-ga answers, and the console line
 * the tiny guest prints. */
#define FAKE_GUEST_FILESYSTEMS 1
static int fake_fs_locked(struct fake *f, struct fake_guest *g, bool freeze, int *count,
                          struct err **err)
{
    const char *op = freeze ? "fs_freeze" : "fs_thaw";
    *count = 0;
    if (!g->spec.guest_agent)
        return err_set(err, ERR_UNSUPPORTED, "%s `%s`: QEMU guest agent is not configured", op,
                       g->spec.uuid);
    if (freeze && g->frozen)
        return err_set(err, ERR_INTERNAL, "%s `%s`: the agent failed: the command "
                       "guest-fsfreeze-freeze has been disabled for this instance", op,
                       g->spec.uuid);
    *count = freeze || g->frozen ? FAKE_GUEST_FILESYSTEMS : 0;
    g->frozen = freeze;
    fake_console(f, g, "GUEST-FSFREEZE %s n=%d", freeze ? "frozen" : "thawed", *count);
    return 0;
}

static int fake_fs_freeze(struct drv_hv *hv, const char *uuid, int *count, struct err **err)
{
    struct fake_guest *g = fake_running(hv, "fs_freeze", uuid, err);
    if (!g)
        return -1;
    int rc = fake_fs_locked(fake_of(hv), g, true, count, err);
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return rc;
}

static int fake_fs_thaw(struct drv_hv *hv, const char *uuid, int *count, struct err **err)
{
    struct fake_guest *g = fake_running(hv, "fs_thaw", uuid, err);
    if (!g)
        return -1;
    int rc = fake_fs_locked(fake_of(hv), g, false, count, err);
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return rc;
}

static int fake_reboot(struct drv_hv *hv, const char *uuid, bool hard, struct err **err)
{
    struct fake *f = fake_of(hv);
    struct fake_guest *g = fake_running(hv, "reboot", uuid, err);
    if (!g)
        return -1;
    /* the domain keeps its id across a reboot, the guest OS restarts */
    g->started_ms = f->now_ms;
    fake_console(f, g, "GUEST-REBOOT %s", hard ? "hard" : "soft");
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* ---- shapes ---- */

static int fake_reshape(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                        struct drv_hv_reshape_report *rep, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "reshape", err) < 0)
        return -1;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "reshape");
    }
    if (to->vcpus_max != g->spec.shape.vcpus_max ||
        fabs(to->mem_max_mib - g->spec.shape.mem_max_mib) > 1e-6) {
        pthread_mutex_unlock(&f->lock);
        return err_set(err, ERR_INVALID,
                       "reshape `%s`: maxima %d vCPU / %.0f MiB differ from the defined %d / "
                       "%.0f (a cold resize changes them)",
                       uuid, to->vcpus_max, to->mem_max_mib, g->spec.shape.vcpus_max,
                       g->spec.shape.mem_max_mib);
    }
    if (drv_hv_check_host_policy(&f->host, f->topo.nodes, to, err) < 0) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "reshape `%s`", uuid);
    }
    bool live = g->state == DRV_POWER_RUNNING || g->state == DRV_POWER_PAUSED;
    struct drv_shape want = *to;
    if (live && want.vcpus_online < g->online && !f->unplug) {
        want.vcpus_online = g->online;
        rep->vcpus_kept = true;
    }
    struct drv_shape cur = g->shape;
    if (live)
        cur.vcpus_online = g->online;
    rep->changed = drv_hv_shape_diff(&cur, &want, 100000);
    for (int k = 0; k < DRV_HV_KNOB_LAST; k++)
        if (rep->changed & (1u << k))
            rep->calls++;
    f->calls += rep->calls;
    g->shape = *to;
    if (live) {
        g->online = want.vcpus_online;
        if (rep->changed)
            fake_console(f, g, "GUEST-STAT cpus_online=%d mem_mib=%.0f", g->online,
                         to->res.v[DRV_RES_MEM_MIB]);
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fake_resize_cold(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                            struct err **err)
{
    struct fake *f = fake_of(hv);
    struct fake_events evs = {.n = 0};
    if (fake_enter(hv, "resize_cold", err) < 0)
        return -1;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g || drv_hv_check_host_policy(&f->host, f->topo.nodes, to, err) < 0) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "cold resize `%s`", uuid);
    }
    f->calls += 3;
    bool was_on = g->state == DRV_POWER_RUNNING;
    if (was_on) {
        fake_stop(f, g, "destroyed");
        fake_event(f, &evs, DRV_HV_EVENT_STOPPED, g, "destroyed", true);
    }
    g->spec.shape = *to;
    g->shape = *to;
    if (was_on) {
        fake_start(f, g, "booted");
        fake_event(f, &evs, DRV_HV_EVENT_STARTED, g, "booted", true);
    }
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

/* ---- reading ---- */

static void fake_fill_info(struct fake *f, const struct fake_guest *g, struct drv_hv_info *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->uuid, sizeof(out->uuid), "%s", g->spec.uuid);
    snprintf(out->name, sizeof(out->name), "%s", g->name);
    out->state = g->state;
    snprintf(out->state_reason, sizeof(out->state_reason), "%s", g->reason);
    out->ours = true;
    out->domain_id = g->domain_id;
    bool on = g->state == DRV_POWER_RUNNING || g->state == DRV_POWER_PAUSED;
    out->started_wall_ms = on ? DRV_FAKE_EPOCH_MS + g->started_ms : 0;
    out->uptime_ms = on ? f->now_ms - g->started_ms : 0;
    out->cpu_time_ns = g->raw.cpu_total_ns;
    out->rescued = g->rescued;
    out->rescue_dev = g->rescue_dev;
    out->shape = g->shape;
    out->shape.vcpus_max = g->spec.shape.vcpus_max;
    out->shape.mem_max_mib = g->spec.shape.mem_max_mib;
    out->vcpus_online_actual = on ? g->online : g->shape.vcpus_online;
    /* as the libvirt backend: memory is what the guest holds */
    out->mem_asked_mib = g->shape.res.v[DRV_RES_MEM_MIB];
    if (on && g->mem_held_mib > 0)
        out->shape.res.v[DRV_RES_MEM_MIB] = g->mem_held_mib;
}

static int fake_get_info(struct drv_hv *hv, const char *uuid, struct drv_hv_info *out,
                         struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "get_info", err) < 0)
        return -1;
    f->calls++;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (g)
        fake_fill_info(f, g, out);
    pthread_mutex_unlock(&f->lock);
    return g ? 0 : err_wrap(err, "get_info");
}

static int fake_list(struct drv_hv *hv, struct drv_hv_info **out, size_t *n, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "list", err) < 0)
        return -1;
    f->calls++;
    *out = xcalloc(f->n ? f->n : 1, sizeof(**out));
    for (size_t i = 0; i < f->n; i++)
        fake_fill_info(f, f->guests[i], &(*out)[i]);
    *n = f->n;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fake_sample(struct drv_hv *hv, struct drv_hv_sample **out, size_t *n, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "sample", err) < 0)
        return -1;
    f->calls++;
    struct drv_hv_sample *s = xcalloc(f->n ? f->n : 1, sizeof(*s));
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct fake_guest *g = f->guests[i];
        if (g->state != DRV_POWER_RUNNING && g->state != DRV_POWER_PAUSED)
            continue;
        fake_guest_levels(g);
        struct drv_hv_sample *x = &s[k++];
        snprintf(x->uuid, sizeof(x->uuid), "%s", g->spec.uuid);
        x->state = g->state;
        x->mono_ns = f->now_ms * 1000000;
        x->wall_ms = DRV_FAKE_EPOCH_MS + f->now_ms;
        x->raw = g->raw;
        drv_hv_sample_derive(g->has_prev ? &g->prev : NULL, x);
        x->mem_short_mib = g->mem_short_mib;
        g->prev = *x;
        g->has_prev = true;
    }
    *out = s;
    *n = k;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* Its counters as the libvirt backend would give them: the vCPUs' time
 * shared evenly among those online, one disk (vda) with its I/O, no
 * interface (fake guests have none). */
static int fake_diagnostics(struct drv_hv *hv, const char *uuid, struct drv_hv_diag *out,
                            struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "diagnostics", err) < 0)
        return -1;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "diagnostics");
    }
    bool on = g->state == DRV_POWER_RUNNING || g->state == DRV_POWER_PAUSED;
    out->state = g->state;
    out->mem_max_kib = llround(g->spec.shape.mem_max_mib * 1024);
    out->mem_kib = llround((on && g->mem_held_mib > 0 ? g->mem_held_mib
                                                      : g->shape.res.v[DRV_RES_MEM_MIB]) *
                           1024);
    out->ncpus = g->spec.shape.vcpus_max > 0 ? (size_t)g->spec.shape.vcpus_max : 1;
    if (on) {
        out->cpu_time_ns = xcalloc(out->ncpus, sizeof(*out->cpu_time_ns));
        int32_t online = g->online > 0 ? g->online : 1;
        for (size_t k = 0; k < out->ncpus; k++)
            out->cpu_time_ns[k] = (int32_t)k < online ? (int64_t)(g->raw.cpu_time_ns / online) : 0;
    }
    out->disks = xcalloc(1, sizeof(*out->disks));
    out->ndisks = 1;
    snprintf(out->disks[0].dev, sizeof(out->disks[0].dev), "vda");
    out->disks[0].read_requests = (int64_t)g->raw.blk_rd_reqs;
    out->disks[0].read_bytes = (int64_t)g->raw.blk_rd_bytes;
    out->disks[0].write_requests = (int64_t)g->raw.blk_wr_reqs;
    out->disks[0].write_bytes = (int64_t)g->raw.blk_wr_bytes;
    out->disks[0].errors = 0;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static char *fake_console_output(struct drv_hv *hv, const char *uuid, size_t max_bytes,
                                 struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "console_output", err) < 0)
        return NULL;
    struct fake_guest *g = fake_find(f, uuid, err);
    char *r = NULL;
    if (g) {
        size_t len = g->console.len;
        size_t from = len > max_bytes ? len - max_bytes : 0;
        r = xstrdup(g->console.s ? g->console.s + from : "");
    }
    pthread_mutex_unlock(&f->lock);
    if (!g)
        err_wrap(err, "console_output");
    return r;
}

static int fake_get_spec(struct drv_hv *hv, const char *uuid, struct drv_hv_guest_spec *out,
                         struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "get_spec", err) < 0)
        return -1;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (g)
        drv_hv_guest_spec_copy(out, &g->spec);
    pthread_mutex_unlock(&f->lock);
    return g ? 0 : err_wrap(err, "get_spec");
}

static int fake_images_in_use(struct drv_hv *hv, struct drv_hv_paths *out, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "images_in_use", err) < 0)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        drv_hv_paths_add_image(out, &f->guests[i]->spec.image);
        if (f->guests[i]->rescued)
            drv_hv_paths_add_image(out, &f->guests[i]->rescue_image);
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* The instance's identity replaces the member's (the domain keeps its
 * name and uuid, as libvirt's does). */
static int fake_set_identity(struct drv_hv *hv, const char *uuid,
                             const struct drv_hv_guest_spec *inst, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "set_identity", err) < 0)
        return -1;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (g) {
        char **fields[] = {&g->spec.display_name, &g->spec.project_id, &g->spec.user_id,
                           &g->spec.flavor_name};
        const char *values[] = {inst->display_name, inst->project_id, inst->user_id,
                                inst->flavor_name};
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
            free(*fields[i]);
            *fields[i] = values[i] ? xstrdup(values[i]) : NULL;
        }
        fake_console(f, g, "identity: instance %s (%s)", inst->uuid,
                     inst->display_name ? inst->display_name : "-");
    }
    pthread_mutex_unlock(&f->lock);
    return g ? 0 : err_wrap(err, "set_identity");
}

/* As libvirt's: a guest that is off takes a name no other guest bears;
 * its uuid stays. */
static int fake_rename(struct drv_hv *hv, const char *uuid, const char *name, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "rename", err) < 0)
        return -1;
    int rc = -1;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g)
        goto cleanup;
    if (strcmp(g->name, name) == 0) {
        rc = 0;
        goto cleanup;
    }
    if (g->state != DRV_POWER_SHUTDOWN && g->state != DRV_POWER_CRASHED) {
        err_set(err, ERR_CONFLICT, "guest `%s` is %s: only a guest that is off can be renamed",
                g->name, drv_power_state_name(g->state));
        goto cleanup;
    }
    for (size_t i = 0; i < f->n; i++)
        if (f->guests[i] != g && strcmp(f->guests[i]->name, name) == 0) {
            err_set(err, ERR_CONFLICT, "domain `%s` exists already", name);
            goto cleanup;
        }
    fake_console(f, g, "renamed: `%s` -> `%s`", g->name, name);
    snprintf(g->name, sizeof(g->name), "%s", name);
    free(g->spec.name);
    g->spec.name = xstrdup(name);
    rc = 0;
cleanup:
    pthread_mutex_unlock(&f->lock);
    return rc < 0 ? err_wrap(err, "rename") : 0;
}

/* What the libvirt backend does with a media change: the cdrom drive of a
 * guest spawned with one takes the drive, live. */
static int fake_insert_config_drive(struct drv_hv *hv, const char *uuid,
                                    const struct drv_hv_config_drive *cd, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "insert_config_drive", err) < 0)
        return -1;
    f->calls++;
    struct fake_guest *g = fake_find(f, uuid, err);
    int rc = g ? 0 : -1;
    if (g && !g->spec.cdrom_tray && !g->spec.config_drive) {
        rc = err_set(err, ERR_UNSUPPORTED, "guest `%s` has no cdrom drive", uuid);
    } else if (g && !g->spec.config_drive) {
        g->spec.config_drive = drv_hv_config_drive_dup(cd);
        fake_console(f, g, "config drive: %zu files", cd->n);
    }
    pthread_mutex_unlock(&f->lock);
    return rc < 0 ? err_wrap(err, "insert_config_drive") : 0;
}

/* A fake guest has no disk to move: disk_info names the guest it was,
 * which the destination checks against the spec it is given. */
#define FAKE_DISK_INFO "fake-disk:"

static int fake_migrate_out(struct drv_hv *hv, const char *uuid, const char *inst_uuid,
                            const char *dest, int timeout_s, char **disk_info, struct err **err)
{
    struct drv_hv_info info;
    if (fake_get_info(hv, uuid, &info, err) < 0)
        return -1;
    if (info.state != DRV_POWER_SHUTDOWN && info.state != DRV_POWER_CRASHED &&
        fake_power_off(hv, uuid, timeout_s, err) < 0)
        return -1;
    *disk_info = xasprintf(FAKE_DISK_INFO "%s", inst_uuid);
    log_debug("guest %s off, its (fake) disks handed to %s", uuid, dest);
    return 0;
}

static int fake_migrate_in(struct drv_hv *hv, const struct drv_hv_guest_spec *spec,
                           const char *disk_info, bool power_on, struct err **err)
{
    size_t n = strlen(FAKE_DISK_INFO);
    if (strncmp(disk_info, FAKE_DISK_INFO, n) != 0 || strcasecmp(disk_info + n, spec->uuid) != 0)
        return err_set(err, ERR_INVALID, "disk_info `%s` is not guest %s's", disk_info, spec->uuid);
    if (fake_spawn(hv, spec, err) < 0)
        return -1;
    if (!power_on && fake_power_off(hv, spec->uuid, 0, err) < 0) {
        autoerr struct err *e = NULL;
        if (fake_destroy(hv, spec->uuid, false, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "half-migrated guest %s left defined", spec->uuid);
        return -1;
    }
    return 0;
}

/* A fake guest's disk never changes: its snapshot is its base image,
 * copied (a guest without one gets a small raw placeholder naming it).
 * The file goes to $TMPDIR; the caller removes it. */
static int fake_snapshot_copy(const char *uuid, const char *base, struct drv_hv_snapshot *out,
                              struct err **err);

/* A running or paused guest is copied live, quiesced as asked: frozen for
 * the copy (a freeze the agent cannot make -- a paused guest's cannot --
 * skipped or, required, failing the snapshot), thawed after it whatever
 * the copy did. */
static int fake_snapshot(struct drv_hv *hv, const char *uuid, enum drv_hv_quiesce quiesce,
                         struct drv_hv_snapshot *out, struct err **err)
{
    struct fake *f = fake_of(hv);
    if (fake_enter(hv, "snapshot", err) < 0)
        return -1;
    f->calls++;
    struct fake_guest *g = fake_find(f, uuid, err);
    autofree char *base = g && g->spec.image.disk_base ? xstrdup(g->spec.image.disk_base) : NULL;
    const char *fmt = g && g->spec.image.disk_format ? g->spec.image.disk_format : "qcow2";
    snprintf(out->format, sizeof(out->format), "%s", base ? fmt : "raw");
    bool in_qemu = g && (g->state == DRV_POWER_RUNNING || g->state == DRV_POWER_PAUSED);
    if (in_qemu && quiesce != DRV_HV_QUIESCE_NONE) {
        /* a paused guest's agent cannot answer (libvirt: not running) */
        autoerr struct err *fe = NULL;
        if (g->state == DRV_POWER_PAUSED)
            err_set(&fe, ERR_CONFLICT, "fs_freeze `%s`: guest is paused", uuid);
        if (fe || fake_injected(f, "fs_freeze", &fe) ||
            fake_fs_locked(f, g, true, &out->frozen, &fe) < 0) {
            if (quiesce == DRV_HV_QUIESCE_REQUIRE) {
                pthread_mutex_unlock(&f->lock);
                out->quiesce_failed = true;
                *err = steal_pointer(&fe);
                return -1;
            }
            log_info("Skipping quiescing instance %s: %s.", uuid, fe->msg);
        } else {
            out->quiesced = true;
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (!g)
        return -1;
    int rc = fake_snapshot_copy(uuid, base, out, err);
    if (!out->quiesced)
        return rc;
    int n = 0;
    autoerr struct err *te = NULL;
    pthread_mutex_lock(&f->lock);
    g = fake_find(f, uuid, &te);
    if (g && g->state == DRV_POWER_RUNNING &&
        (fake_injected(f, "fs_thaw", &te) || fake_fs_locked(f, g, false, &n, &te) < 0) &&
        rc == 0) {
        *err = steal_pointer(&te);
        rc = -1;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* The copy itself: the base image, or a placeholder naming the guest. */
static int fake_snapshot_copy(const char *uuid, const char *base, struct drv_hv_snapshot *out,
                              struct err **err)
{
    const char *tmp = getenv("TMPDIR");
    out->path = xasprintf("%s/sculpt-fake-snapshot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(out->path);
    if (fd < 0)
        return err_set_errno(err, errno, "create `%s`", out->path);
    int in = base ? open(base, O_RDONLY | O_CLOEXEC) : -1;
    if (base && in < 0) {
        close(fd);
        return err_set_errno(err, errno, "open the base image `%s`", base);
    }
    char buf[65536];
    ssize_t n = 0;
    if (in < 0) {
        memset(buf, 0, sizeof(buf));
        snprintf(buf, sizeof(buf), "sculpt fake snapshot of guest %s\n", uuid);
        n = (ssize_t)sizeof(buf);
    }
    int rc = 0;
    for (;;) {
        if (in >= 0 && (n = read(in, buf, sizeof(buf))) < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (write(fd, buf, (size_t)n) != n) {
            rc = err_set_errno(err, errno ? errno : EIO, "write `%s`", out->path);
            break;
        }
        out->bytes += n;
        if (in < 0)
            break;
    }
    if (n < 0)
        rc = err_set_errno(err, errno, "read `%s`", base);
    if (in >= 0)
        close(in);
    if (close(fd) < 0 && rc == 0)
        rc = err_set_errno(err, errno, "write `%s`", out->path);
    return rc;
}

/* Rescue: stopped (its clean shutdown is instant here), then started
 * from the rescue image; the fake keeps what it boots from. */
static int fake_rescue(struct drv_hv *hv, const char *uuid, const struct drv_hv_image *image,
                       const struct drv_hv_rescue_dev *dev, const struct drv_hv_config_drive *cd,
                       int timeout_s, struct err **err)
{
    struct fake *f = fake_of(hv);
    struct fake_events evs = {.n = 0};
    (void)timeout_s;
    if (fake_enter(hv, "rescue", err) < 0)
        return -1;
    f->calls++;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "rescue");
    }
    if (g->rescued) {
        pthread_mutex_unlock(&f->lock);
        return 0;
    }
    if (g->state != DRV_POWER_SHUTDOWN) {
        fake_stop(f, g, "shutdown");
        fake_event(f, &evs, DRV_HV_EVENT_STOPPED, g, "shutdown", true);
    }
    g->rescued = true;
    g->rescue_dev = *dev;
    g->rescue_image.kernel = image->kernel ? xstrdup(image->kernel) : NULL;
    g->rescue_image.initrd = image->initrd ? xstrdup(image->initrd) : NULL;
    g->rescue_image.cmdline = image->cmdline ? xstrdup(image->cmdline) : NULL;
    g->rescue_image.disk_base = image->disk_base ? xstrdup(image->disk_base) : NULL;
    g->rescue_image.disk_format = image->disk_format ? xstrdup(image->disk_format) : NULL;
    /* what the guest sees of its disks: a test reads it from the console */
    if (dev->device == DRV_HV_RESCUE_LEGACY) {
        g->rescue_cd = drv_hv_config_drive_dup(cd);
        fake_console(f, g, "rescue: the rescue disk first, its own disk second");
    } else {
        fake_console(f, g,
                     "rescue: its own disks as they were, the rescue image last as a %s on %s",
                     drv_hv_rescue_device_name(dev->device), drv_hv_bus_name(dev->bus));
    }
    fake_event(f, &evs, DRV_HV_EVENT_DEFINED, g, "updated", true);
    fake_start(f, g, "booted");
    fake_event(f, &evs, DRV_HV_EVENT_STARTED, g, "booted", true);
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

static int fake_unrescue(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct fake *f = fake_of(hv);
    struct fake_events evs = {.n = 0};
    if (fake_enter(hv, "unrescue", err) < 0)
        return -1;
    f->calls++;
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g) {
        pthread_mutex_unlock(&f->lock);
        return err_wrap(err, "unrescue");
    }
    if (g->rescued) {
        if (g->state != DRV_POWER_SHUTDOWN) {
            fake_stop(f, g, "destroyed");
            fake_event(f, &evs, DRV_HV_EVENT_STOPPED, g, "destroyed", true);
        }
        fake_rescue_release(g);
        fake_event(f, &evs, DRV_HV_EVENT_DEFINED, g, "updated", true);
    }
    if (g->state == DRV_POWER_SHUTDOWN) {
        fake_start(f, g, "booted");
        fake_event(f, &evs, DRV_HV_EVENT_STARTED, g, "booted", true);
    }
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

const struct drv_hv_ops drv_fake_ops = {
    .name = "fake",
    .open = fake_open,
    .close = fake_close,
    .host_info = fake_host_info,
    .capabilities = fake_capabilities,
    .topology = fake_topology,
    .spawn = fake_spawn,
    .destroy = fake_destroy,
    .power_off = fake_power_off,
    .power_on = fake_power_on,
    .reboot = fake_reboot,
    .pause = fake_pause,
    .diagnostics = fake_diagnostics,
    .inject_nmi = fake_inject_nmi,
    .set_user_password = fake_set_user_password,
    .fs_freeze = fake_fs_freeze,
    .fs_thaw = fake_fs_thaw,
    .unpause = fake_unpause,
    .suspend = fake_suspend,
    .resume = fake_resume,
    .reshape = fake_reshape,
    .resize_cold = fake_resize_cold,
    .get_info = fake_get_info,
    .list = fake_list,
    .sample = fake_sample,
    .console_output = fake_console_output,
    .get_spec = fake_get_spec,
    .set_identity = fake_set_identity,
    .insert_config_drive = fake_insert_config_drive,
    .rename = fake_rename,
    .migrate_out = fake_migrate_out,
    .migrate_in = fake_migrate_in,
    .snapshot = fake_snapshot,
    .rescue = fake_rescue,
    .unrescue = fake_unrescue,
    .images_in_use = fake_images_in_use,
};

/* ---- steering (fake.h) ---- */

static struct fake *fake_checked(struct drv_hv *hv, struct err **err)
{
    if (!hv || hv->ops != &drv_fake_ops) {
        err_set(err, ERR_INVALID, "not a fake hypervisor backend");
        return NULL;
    }
    return fake_of(hv);
}

/* Lock and find a guest for the steering calls (which ignore injected
 * failures and the connection). */
static struct fake_guest *fake_steer_find(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct fake *f = fake_checked(hv, err);
    if (!f)
        return NULL;
    pthread_mutex_lock(&f->lock);
    struct fake_guest *g = fake_find(f, uuid, err);
    if (!g)
        pthread_mutex_unlock(&f->lock);
    return g;
}

int drv_fake_set_demand(struct drv_hv *hv, const char *uuid, const struct drv_res *demand,
                        struct err **err)
{
    if (drv_res_validate(*demand, err) < 0)
        return err_wrap(err, "demand");
    struct fake_guest *g = fake_steer_find(hv, uuid, err);
    if (!g)
        return -1;
    g->demand = *demand;
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return 0;
}

int drv_fake_set_mem_short(struct drv_hv *hv, const char *uuid, double mib, struct err **err)
{
    if (!(mib >= 0) || mib > DRV_RES_MAX)
        return err_set(err, ERR_INVALID, "memory short at %g MiB", mib);
    struct fake_guest *g = fake_steer_find(hv, uuid, err);
    if (!g)
        return -1;
    g->mem_short_mib = mib;
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return 0;
}

int drv_fake_set_mem_held(struct drv_hv *hv, const char *uuid, double mib, struct err **err)
{
    if (!(mib >= 0) || mib > DRV_RES_MAX)
        return err_set(err, ERR_INVALID, "guest holding %g MiB", mib);
    struct fake_guest *g = fake_steer_find(hv, uuid, err);
    if (!g)
        return -1;
    g->mem_held_mib = mib;
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return 0;
}

int drv_fake_set_booting(struct drv_hv *hv, const char *uuid, bool booting, struct err **err)
{
    struct fake_guest *g = fake_steer_find(hv, uuid, err);
    if (!g)
        return -1;
    g->booting = booting;
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return 0;
}

int drv_fake_advance(struct drv_hv *hv, int64_t ms, struct err **err)
{
    struct fake *f = fake_checked(hv, err);
    if (!f)
        return -1;
    if (ms < 0 || ms > 366LL * 86400 * 1000)
        return err_set(err, ERR_INVALID, "advance the fake clock by %lld ms", (long long)ms);
    pthread_mutex_lock(&f->lock);
    f->now_ms += ms;
    double *cpu = xcalloc(f->n ? f->n : 1, sizeof(*cpu));
    fake_cpu_share(f, cpu);
    for (size_t i = 0; i < f->n; i++)
        fake_guest_run(f->guests[i], cpu[i], ms);
    free(cpu);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

int64_t drv_fake_now_ms(struct drv_hv *hv)
{
    struct fake *f = fake_checked(hv, NULL);
    if (!f)
        return -1;
    pthread_mutex_lock(&f->lock);
    int64_t t = f->now_ms;
    pthread_mutex_unlock(&f->lock);
    return t;
}

int64_t drv_fake_calls(struct drv_hv *hv)
{
    struct fake *f = fake_checked(hv, NULL);
    if (!f)
        return -1;
    pthread_mutex_lock(&f->lock);
    int64_t c = f->calls;
    pthread_mutex_unlock(&f->lock);
    return c;
}

int drv_fake_kill(struct drv_hv *hv, const char *uuid, const char *reason, struct err **err)
{
    if (strcmp(reason, "crashed") && strcmp(reason, "shutdown") && strcmp(reason, "destroyed"))
        return err_set(err, ERR_INVALID, "kill reason `%s` (crashed, shutdown, destroyed)", reason);
    struct fake_guest *g = fake_steer_find(hv, uuid, err);
    if (!g)
        return -1;
    struct fake *f = fake_of(hv);
    struct fake_events evs = {.n = 0};
    if (g->state != DRV_POWER_RUNNING && g->state != DRV_POWER_PAUSED) {
        pthread_mutex_unlock(&f->lock);
        return err_set(err, ERR_CONFLICT, "kill `%s`: not running", uuid);
    }
    fake_stop(f, g, reason);
    if (strcmp(reason, "crashed") == 0)
        g->state = DRV_POWER_CRASHED;
    fake_event(f, &evs, DRV_HV_EVENT_STOPPED, g, reason, false);
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

int drv_fake_tamper(struct drv_hv *hv, const char *uuid, const struct drv_shape *shape,
                    struct err **err)
{
    if (drv_shape_validate(shape, err) < 0)
        return -1;
    struct fake_guest *g = fake_steer_find(hv, uuid, err);
    if (!g)
        return -1;
    struct drv_shape s = *shape;
    s.vcpus_max = g->spec.shape.vcpus_max;
    s.mem_max_mib = g->spec.shape.mem_max_mib;
    g->shape = s;
    g->online = s.vcpus_online;
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return 0;
}

int drv_fake_fail_next(struct drv_hv *hv, const char *op, enum err_code code, int count,
                       struct err **err)
{
    struct fake *f = fake_checked(hv, err);
    if (!f)
        return -1;
    if (code <= 0 || code >= ERR_LAST || count < 0)
        return err_set(err, ERR_INVALID, "bad injected failure");
    pthread_mutex_lock(&f->lock);
    snprintf(f->fail_op, sizeof(f->fail_op), "%s", op);
    f->fail_code = code;
    f->fail_count = count;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fake_set_connected(struct drv_hv *hv, bool connected, struct err **err)
{
    struct fake *f = fake_checked(hv, err);
    if (!f)
        return -1;
    struct fake_events evs = {.n = 0};
    pthread_mutex_lock(&f->lock);
    if (f->disconnected == !connected) {
        pthread_mutex_unlock(&f->lock);
        return 0;
    }
    f->disconnected = !connected;
    fake_event(f, &evs, connected ? DRV_HV_EVENT_RECONNECTED : DRV_HV_EVENT_DISCONNECTED, NULL,
               connected ? "reconnected" : "lost", false);
    fake_unlock_and_emit(hv, &evs);
    return 0;
}

int drv_fake_disconnect(struct drv_hv *hv, struct err **err)
{
    return fake_set_connected(hv, false, err);
}

int drv_fake_reconnect(struct drv_hv *hv, struct err **err)
{
    return fake_set_connected(hv, true, err);
}

int drv_fake_config_drive(struct drv_hv *hv, const char *uuid, struct drv_hv_config_drive **out,
                          bool *tray, struct err **err)
{
    char dom[DRV_UUID_LEN + 1]; /* a handed-over member answers to its instance */
    drv_hv_domain_uuid(hv, uuid, dom);
    struct fake_guest *g = fake_steer_find(hv, dom, err);
    if (!g)
        return -1;
    /* a legacy rescue's cdrom holds the rescue's drive, a stable one's its own */
    bool legacy = g->rescued && g->rescue_dev.device == DRV_HV_RESCUE_LEGACY;
    *out = drv_hv_config_drive_dup(legacy ? g->rescue_cd : g->spec.config_drive);
    if (tray)
        *tray = g->spec.cdrom_tray || g->spec.config_drive;
    pthread_mutex_unlock(&fake_of(hv)->lock);
    return 0;
}
