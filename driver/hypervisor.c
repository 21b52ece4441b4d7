/* The hypervisor boundary: backend registry, argument checks done once for
 * every backend, and the pieces both backends share (names, spec copies,
 * usage derivation, shape comparison, reconcile). */
#include "driver/hypervisor.h"
#include "driver/hypervisor_priv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "driver/module.h"

LOG_INIT("driver.hypervisor");

extern const struct drv_hv_ops drv_fake_ops;
/* In the libvirt module (driver/module.h); weak so that a program without
 * the module's objects links, and one with them (tests) uses them. */
extern const struct drv_hv_ops drv_libvirt_ops __attribute__((weak));

const struct drv_hv_ops *drv_hv_backend_load(const char *name, struct err **err)
{
    if (name && strcmp(name, "fake") == 0)
        return &drv_fake_ops;
    if (name && strcmp(name, "libvirt") == 0) {
        if (&drv_libvirt_ops)
            return &drv_libvirt_ops;
        const struct drv_hv_ops *ops = drv_module_sym("libvirt", "drv_libvirt_ops", err);
        if (!ops)
            err_wrap(err, "compute driver `libvirt`");
        return ops;
    }
    err_set(err, ERR_INVALID, "unknown compute driver `%s` (libvirt, fake)", name ? name : "");
    return NULL;
}

const struct drv_hv_ops *drv_hv_backend(const char *name)
{
    return drv_hv_backend_load(name, NULL);
}

static const char *const drv_hv_knob_names[DRV_HV_KNOB_LAST] = {
    "vcpus", "quota", "pin", "numa", "balloon", "net", "disk",
};

const char *drv_hv_knob_name(enum drv_hv_knob k)
{
    return (unsigned)k < DRV_HV_KNOB_LAST ? drv_hv_knob_names[k] : "?";
}

static const char *const drv_hv_rescue_device_names[DRV_HV_RESCUE_LAST] = {
    "legacy", "disk", "cdrom", "floppy",
};

static const char *const drv_hv_bus_names[DRV_HV_BUS_LAST] = {
    "default", "virtio", "scsi", "usb", "ide", "sata", "fdc",
};

const char *drv_hv_rescue_device_name(enum drv_hv_rescue_device d)
{
    return (unsigned)d < DRV_HV_RESCUE_LAST ? drv_hv_rescue_device_names[d] : "?";
}

const char *drv_hv_bus_name(enum drv_hv_bus b)
{
    return (unsigned)b < DRV_HV_BUS_LAST ? drv_hv_bus_names[b] : "?";
}

int drv_hv_rescue_device_parse(const char *name, enum drv_hv_rescue_device *out)
{
    for (int d = 0; name && d < DRV_HV_RESCUE_LAST; d++)
        if (strcmp(name, drv_hv_rescue_device_names[d]) == 0) {
            *out = (enum drv_hv_rescue_device)d;
            return 0;
        }
    return -1;
}

int drv_hv_bus_parse(const char *name, enum drv_hv_bus *out)
{
    for (int b = 0; name && b < DRV_HV_BUS_LAST; b++)
        if (strcmp(name, drv_hv_bus_names[b]) == 0) {
            *out = (enum drv_hv_bus)b;
            return 0;
        }
    return -1;
}

int drv_hv_rescue_dev_resolve(const struct drv_hv_rescue_dev *in, struct drv_hv_rescue_dev *out,
                              struct err **err)
{
    if ((unsigned)in->device >= DRV_HV_RESCUE_LAST || (unsigned)in->bus >= DRV_HV_BUS_LAST)
        return err_set(err, ERR_INVALID, "rescue device %d on bus %d", (int)in->device,
                       (int)in->bus);
    struct drv_hv_rescue_dev r = *in;
    if (r.device == DRV_HV_RESCUE_LEGACY) {
        *out = r;
        return 0;
    }
    /* blockinfo.get_disk_bus_for_device_type on a q35 machine */
    if (r.bus == DRV_HV_BUS_DEFAULT)
        r.bus = r.device == DRV_HV_RESCUE_DISK    ? DRV_HV_BUS_VIRTIO
                : r.device == DRV_HV_RESCUE_CDROM ? DRV_HV_BUS_SATA
                                                  : DRV_HV_BUS_FDC;
    bool floppy = r.device == DRV_HV_RESCUE_FLOPPY;
    if (floppy != (r.bus == DRV_HV_BUS_FDC) ||
        (r.device == DRV_HV_RESCUE_CDROM && r.bus == DRV_HV_BUS_VIRTIO))
        return err_set(err, ERR_INVALID, "a rescue %s cannot be on the %s bus",
                       drv_hv_rescue_device_name(r.device), drv_hv_bus_name(r.bus));
    *out = r;
    return 0;
}

static const char *const drv_hv_event_names[DRV_HV_EVENT_LAST] = {
    "started", "stopped", "paused",    "resumed",      "suspended",
    "crashed", "defined", "undefined", "disconnected", "reconnected", "memory",
};

const char *drv_hv_event_name(enum drv_hv_event_type t)
{
    return (unsigned)t < DRV_HV_EVENT_LAST ? drv_hv_event_names[t] : "?";
}

static const char *const drv_hv_drift_names[DRV_HV_DRIFT_LAST] = {
    "none", "reshaped", "state", "missing", "unknown", "failed",
};

const char *drv_hv_drift_name(enum drv_hv_drift d)
{
    return (unsigned)d < DRV_HV_DRIFT_LAST ? drv_hv_drift_names[d] : "?";
}

const char *drv_power_state_name(enum drv_power_state s)
{
    switch (s) {
    case DRV_POWER_NOSTATE:
        return "pending";
    case DRV_POWER_RUNNING:
        return "running";
    case DRV_POWER_PAUSED:
        return "paused";
    case DRV_POWER_SHUTDOWN:
        return "shutdown";
    case DRV_POWER_CRASHED:
        return "crashed";
    case DRV_POWER_SUSPENDED:
        return "suspended";
    }
    return "?";
}

/* ---- for backends ---- */

void drv_hv_emit(struct drv_hv *hv, const struct drv_hv_event *in)
{
    drv_hv_event_cb cb = __atomic_load_n(&hv->event_cb, __ATOMIC_ACQUIRE);
    struct drv_hv_event copy = *in, *ev = &copy;
    if (ev->uuid[0])
        drv_hv_instance_uuid(hv, ev->uuid); /* a handed-over member: its instance */
    log_info("event %s %s reason=%s state=%s%s", drv_hv_event_name(ev->type),
             ev->uuid[0] ? ev->uuid : "-", ev->reason, drv_power_state_name(ev->state),
             ev->by_sculpt ? "" : " (not by sculpt)");
    if (cb)
        cb(ev, hv->event_opaque);
}

int drv_hv_check_host_policy(const struct drv_hv_host *host, int nodes, const struct drv_shape *s,
                             struct err **err)
{
    if (host->max_vcpus > 0 && s->vcpus_max > host->max_vcpus)
        return err_set(err, ERR_CAPACITY, "%d vCPUs at most, the host policy allows %d",
                       s->vcpus_max, host->max_vcpus);
    if (host->max_mem_mib > 0 && s->mem_max_mib > host->max_mem_mib + 1e-6)
        return err_set(err, ERR_CAPACITY, "%.0f MiB at most, the host policy allows %.0f MiB",
                       s->mem_max_mib, host->max_mem_mib);
    for (int c = host->cpus; c < DRV_CPUSET_MAX; c++)
        if (drv_cpuset_has(&s->pcpus, c))
            return err_set(err, ERR_CAPACITY, "pinned to host CPU %d, the host has %d", c,
                           host->cpus);
    if (s->numa_node >= nodes)
        return err_set(err, ERR_CAPACITY, "NUMA node %d, the host has %d", s->numa_node, nodes);
    return 0;
}

void drv_hv_domain_name(const struct drv_hv_guest_spec *spec, char out[DRV_HV_NAME_MAX + 1])
{
    if (spec->name)
        snprintf(out, DRV_HV_NAME_MAX + 1, "%s", spec->name);
    else
        snprintf(out, DRV_HV_NAME_MAX + 1, "sculpt-%s", spec->uuid);
}

void drv_hv_tap_name(const struct drv_hv_guest_spec *spec, size_t i, char out[DRV_HV_TAP_MAX + 1])
{
    const struct drv_hv_vif *v = &spec->vifs[i];
    if (v->tap[0])
        snprintf(out, DRV_HV_TAP_MAX + 1, "%s", v->tap);
    else if (v->port_id)
        snprintf(out, DRV_HV_TAP_MAX + 1, "tap%.11s", v->port_id);
    else {
        /* "sc" + 11 hex digits of the uuid + the index: 14 characters */
        char hex[12];
        size_t n = 0;
        for (const char *p = spec->uuid; *p && n < 11; p++)
            if (*p != '-')
                hex[n++] = *p;
        hex[n] = '\0';
        snprintf(out, DRV_HV_TAP_MAX + 1, "sc%s%zu", hex, i % 10);
    }
}

void drv_hv_mac(const struct drv_hv_guest_spec *spec, size_t i, char out[18])
{
    if (spec->vifs[i].mac[0]) {
        snprintf(out, 18, "%s", spec->vifs[i].mac);
        return;
    }
    /* FNV-1a of the uuid and the index: stable across redefinitions */
    uint32_t h = 2166136261u;
    for (const char *p = spec->uuid; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ (uint32_t)i) * 16777619u;
    snprintf(out, 18, "52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

/* ---- specs ---- */

void drv_hv_image_release(struct drv_hv_image *im)
{
    free(im->kernel);
    free(im->initrd);
    free(im->cmdline);
    free(im->disk_base);
    free(im->disk_format);
    memset(im, 0, sizeof(*im));
}

void drv_hv_guest_spec_release(struct drv_hv_guest_spec *spec)
{
    if (!spec)
        return;
    free(spec->name);
    free(spec->display_name);
    free(spec->project_id);
    free(spec->user_id);
    free(spec->flavor_name);
    drv_hv_image_release(&spec->image);
    for (size_t i = 0; i < spec->nvifs && i < DRV_HV_MAX_VIFS; i++)
        free(spec->vifs[i].port_id);
    drv_hv_config_drive_free(spec->config_drive);
    memset(spec, 0, sizeof(*spec));
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void drv_hv_guest_spec_copy(struct drv_hv_guest_spec *dst, const struct drv_hv_guest_spec *src)
{
    *dst = *src;
    dst->name = dup_or_null(src->name);
    dst->display_name = dup_or_null(src->display_name);
    dst->project_id = dup_or_null(src->project_id);
    dst->user_id = dup_or_null(src->user_id);
    dst->flavor_name = dup_or_null(src->flavor_name);
    dst->image.kernel = dup_or_null(src->image.kernel);
    dst->image.initrd = dup_or_null(src->image.initrd);
    dst->image.cmdline = dup_or_null(src->image.cmdline);
    dst->image.disk_base = dup_or_null(src->image.disk_base);
    dst->image.disk_format = dup_or_null(src->image.disk_format);
    for (size_t i = 0; i < src->nvifs && i < DRV_HV_MAX_VIFS; i++)
        dst->vifs[i].port_id = dup_or_null(src->vifs[i].port_id);
    dst->config_drive = drv_hv_config_drive_dup(src->config_drive);
}

/* ---- usage ---- */

void drv_hv_sample_derive(const struct drv_hv_sample *prev, struct drv_hv_sample *cur)
{
    const struct drv_hv_counters *a = prev ? &prev->raw : NULL;
    const struct drv_hv_counters *b = &cur->raw;
    struct drv_res use = drv_res_zero();

    /* Memory is a level, not a rate: the guest's own view when its balloon
     * driver reports it (used = total - available, caches excluded), else
     * what the balloon holds -- unless the driver is yet to report (a
     * booting guest): then 0, not known, since the balloon read as use
     * looks like a guest at its limit, whose memory the engine doubles. */
    if (b->has_guest_mem && b->guest_total_mib > 0) {
        double avail = b->guest_usable_mib > 0 ? b->guest_usable_mib : b->guest_free_mib;
        use.v[DRV_RES_MEM_MIB] = fmax(b->guest_total_mib - avail, 0);
    } else if (b->has_balloon && !b->guest_mem_pending) {
        use.v[DRV_RES_MEM_MIB] = b->balloon_mib;
    }

    double dt = prev ? (double)(cur->mono_ns - prev->mono_ns) / 1e9 : 0;
    bool restarted =
        a && ((a->has_cpu && b->has_cpu && b->cpu_time_ns < a->cpu_time_ns) ||
              (a->has_net && b->has_net &&
               (b->net_rx_bytes < a->net_rx_bytes || b->net_tx_bytes < a->net_tx_bytes)) ||
              (a->has_blk && b->has_blk &&
               (b->blk_rd_reqs < a->blk_rd_reqs || b->blk_wr_reqs < a->blk_wr_reqs)));
    if (!a || dt <= 0 || restarted) {
        cur->interval_s = 0;
        cur->use = use;
        return;
    }
    cur->interval_s = dt;
    if (a->has_cpu && b->has_cpu)
        use.v[DRV_RES_VCPU] = (double)(b->cpu_time_ns - a->cpu_time_ns) / 1e9 / dt;
    if (a->has_net && b->has_net) {
        use.v[DRV_RES_NET_IN_MBPS] = (double)(b->net_rx_bytes - a->net_rx_bytes) * 8 / 1e6 / dt;
        use.v[DRV_RES_NET_OUT_MBPS] = (double)(b->net_tx_bytes - a->net_tx_bytes) * 8 / 1e6 / dt;
    }
    if (a->has_blk && b->has_blk) {
        use.v[DRV_RES_DISK_READ_IOPS] = (double)(b->blk_rd_reqs - a->blk_rd_reqs) / dt;
        use.v[DRV_RES_DISK_WRITE_IOPS] = (double)(b->blk_wr_reqs - a->blk_wr_reqs) / dt;
        use.v[DRV_RES_DISK_READ_MBPS] = (double)(b->blk_rd_bytes - a->blk_rd_bytes) / 1e6 / dt;
        use.v[DRV_RES_DISK_WRITE_MBPS] = (double)(b->blk_wr_bytes - a->blk_wr_bytes) / 1e6 / dt;
    }
    cur->use = use;
}

/* ---- shapes ---- */

static int64_t knob_round(double v, double unit)
{
    return (int64_t)llround(v * unit);
}

uint32_t drv_hv_shape_diff(const struct drv_shape *from, const struct drv_shape *to,
                           int64_t period_us)
{
    uint32_t d = 0;
    const double *a = from->res.v, *b = to->res.v;

    if (from->vcpus_online != to->vcpus_online)
        d |= 1u << DRV_HV_KNOB_VCPUS;
    /* the weight (shares) follows entitlement and priority */
    if (drv_shape_vcpu_quota_us(from, period_us) != drv_shape_vcpu_quota_us(to, period_us) ||
        knob_round(a[DRV_RES_VCPU], 1024) != knob_round(b[DRV_RES_VCPU], 1024) ||
        drv_shape_cpu_weight(from) != drv_shape_cpu_weight(to))
        d |= 1u << DRV_HV_KNOB_QUOTA;
    if (!drv_cpuset_equal(&from->pcpus, &to->pcpus))
        d |= 1u << DRV_HV_KNOB_PIN;
    if (from->numa_node != to->numa_node)
        d |= 1u << DRV_HV_KNOB_NUMA;
    if (knob_round(a[DRV_RES_MEM_MIB], 1024) != knob_round(b[DRV_RES_MEM_MIB], 1024))
        d |= 1u << DRV_HV_KNOB_BALLOON;
    /* Mbit/s -> KB/s, libvirt's bandwidth unit */
    if (knob_round(a[DRV_RES_NET_IN_MBPS], 125) != knob_round(b[DRV_RES_NET_IN_MBPS], 125) ||
        knob_round(a[DRV_RES_NET_OUT_MBPS], 125) != knob_round(b[DRV_RES_NET_OUT_MBPS], 125))
        d |= 1u << DRV_HV_KNOB_NET;
    if (knob_round(a[DRV_RES_DISK_READ_IOPS], 1) != knob_round(b[DRV_RES_DISK_READ_IOPS], 1) ||
        knob_round(a[DRV_RES_DISK_WRITE_IOPS], 1) != knob_round(b[DRV_RES_DISK_WRITE_IOPS], 1) ||
        knob_round(a[DRV_RES_DISK_READ_MBPS], 1e6) != knob_round(b[DRV_RES_DISK_READ_MBPS], 1e6) ||
        knob_round(a[DRV_RES_DISK_WRITE_MBPS], 1e6) != knob_round(b[DRV_RES_DISK_WRITE_MBPS], 1e6))
        d |= 1u << DRV_HV_KNOB_DISK;
    return d;
}

/* ---- the checked entry points ---- */

struct drv_hv *drv_hv_open(const char *name, const struct cfg *cfg, struct err **err)
{
    if (!name)
        name = cfg->compute_driver;
    const struct drv_hv_ops *ops = drv_hv_backend_load(name, err);
    if (!ops)
        return NULL;
    struct drv_hv *hv = xzalloc(sizeof(*hv));
    hv->ops = ops;
    if (ops->open(hv, cfg, err) < 0) {
        free(hv);
        return NULL;
    }
    log_info("hypervisor backend `%s` open", ops->name);
    return hv;
}

void drv_hv_close(struct drv_hv *hv)
{
    if (!hv)
        return;
    hv->ops->close(hv);
    drv_hv_aliases_free(hv);
    free(hv);
}

void drv_hv_set_event_cb(struct drv_hv *hv, drv_hv_event_cb cb, void *opaque)
{
    /* Backends read both under their own lock when they dispatch; the pair
     * is written before any guest exists in the documented use. */
    hv->event_opaque = opaque;
    __atomic_store_n(&hv->event_cb, cb, __ATOMIC_RELEASE);
}

static int check_uuid(const char *uuid, struct err **err)
{
    if (!uuid || !uuid_is_valid(uuid))
        return err_set(err, ERR_INVALID, "bad instance uuid `%s`", uuid ? uuid : "(null)");
    return 0;
}

int drv_hv_host_info(struct drv_hv *hv, struct drv_hv_host *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    return hv->ops->host_info(hv, out, err);
}

char *drv_hv_capabilities(struct drv_hv *hv, struct err **err)
{
    return hv->ops->capabilities(hv, err);
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool mac_ok(const char *m)
{
    unsigned b[6];
    char tail;
    if (strlen(m) != 17 || sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
                                  &b[5], &tail) != 6)
        return false;
    return (b[0] & 1) == 0; /* not multicast */
}

static int check_path(const char *what, const char *p, struct err **err)
{
    if (p && p[0] != '/')
        return err_set(err, ERR_INVALID, "%s `%s` is not an absolute path", what, p);
    if (p && strpbrk(p, "\n'\"<>&"))
        return err_set(err, ERR_INVALID, "%s `%s` holds characters not allowed in a path", what, p);
    return 0;
}

static int check_spec(const struct drv_hv_guest_spec *spec, struct err **err)
{
    if (check_uuid(spec->uuid, err) < 0)
        return -1;
    if (spec->name && !name_ok(spec->name, DRV_HV_NAME_MAX))
        return err_set(err, ERR_INVALID,
                       "domain name `%s`: 1 to %d letters, digits, `-`, `_` or `.`", spec->name,
                       DRV_HV_NAME_MAX);
    if (drv_shape_validate(&spec->shape, err) < 0)
        return -1;
    const struct drv_hv_image *im = &spec->image;
    if (!im->kernel && !im->disk_base)
        return err_set(err, ERR_INVALID, "image: neither a kernel nor a disk to boot from");
    if (im->initrd && !im->kernel)
        return err_set(err, ERR_INVALID, "image: an initrd without a kernel");
    if (check_path("kernel", im->kernel, err) < 0 || check_path("initrd", im->initrd, err) < 0 ||
        check_path("disk base", im->disk_base, err) < 0)
        return -1;
    if (im->cmdline && (strlen(im->cmdline) > 2048 || strpbrk(im->cmdline, "\n")))
        return err_set(err, ERR_INVALID, "kernel command line too long or multi-line");
    if (im->disk_format && strcmp(im->disk_format, "qcow2") != 0 &&
        strcmp(im->disk_format, "raw") != 0)
        return err_set(err, ERR_INVALID, "disk format `%s` (qcow2 or raw)", im->disk_format);
    if (im->root_gb < 0 || im->root_gb > 65536)
        return err_set(err, ERR_INVALID, "root disk of %lld GB", (long long)im->root_gb);
    if (spec->nvifs > DRV_HV_MAX_VIFS)
        return err_set(err, ERR_INVALID, "%zu interfaces (at most %d)", spec->nvifs,
                       DRV_HV_MAX_VIFS);
    for (size_t i = 0; i < spec->nvifs; i++) {
        const struct drv_hv_vif *v = &spec->vifs[i];
        if (v->mac[0] && !mac_ok(v->mac))
            return err_set(err, ERR_INVALID, "interface %zu: bad MAC address `%s`", i, v->mac);
        if (v->port_id && !uuid_is_valid(v->port_id))
            return err_set(err, ERR_INVALID, "interface %zu: bad port id `%s`", i, v->port_id);
        if (v->tap[0] && (!name_ok(v->tap, DRV_HV_TAP_MAX) || strncmp(v->tap, "vnet", 4) == 0))
            return err_set(err, ERR_INVALID,
                           "interface %zu: tap name `%s` (at most %d characters, not `vnet*`)", i,
                           v->tap, DRV_HV_TAP_MAX);
    }
    if (spec->config_drive && drv_hv_config_drive_validate(spec->config_drive, err) < 0)
        return -1;
    return 0;
}

int drv_hv_spawn(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, struct err **err)
{
    if (check_spec(spec, err) < 0)
        return err_wrap(err, "spawn `%s`", spec->uuid);
    return hv->ops->spawn(hv, spec, err);
}

/* The uuid the backend knows (a handed-over member's own), in `dom`. */
#define HV_DOMAIN(uuid)                                                                            \
    char dom[DRV_UUID_LEN + 1];                                                                    \
    drv_hv_domain_uuid(hv, uuid, dom)

int drv_hv_destroy(struct drv_hv *hv, const char *uuid, bool keep_disks, struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    HV_DOMAIN(uuid);
    if (hv->ops->destroy(hv, dom, keep_disks, err) < 0)
        return -1;
    drv_hv_alias_drop(hv, uuid);
    return 0;
}

int drv_hv_power_off(struct drv_hv *hv, const char *uuid, int timeout_s, struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (timeout_s < 0 || timeout_s > 3600)
        return err_set(err, ERR_INVALID, "shutdown timeout %d s (0 to 3600)", timeout_s);
    HV_DOMAIN(uuid);
    return hv->ops->power_off(hv, dom, timeout_s, err);
}

#define DRV_HV_UUID_OP(op)                                                                         \
    int drv_hv_##op(struct drv_hv *hv, const char *uuid, struct err **err)                         \
    {                                                                                              \
        if (check_uuid(uuid, err) < 0)                                                             \
            return -1;                                                                             \
        HV_DOMAIN(uuid);                                                                           \
        return hv->ops->op(hv, dom, err);                                                          \
    }
DRV_HV_UUID_OP(power_on)
DRV_HV_UUID_OP(pause)
DRV_HV_UUID_OP(unpause)
DRV_HV_UUID_OP(suspend)
DRV_HV_UUID_OP(resume)
DRV_HV_UUID_OP(inject_nmi)

int drv_hv_set_user_password(struct drv_hv *hv, const char *uuid, const char *user,
                             const char *password, struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!user || !*user || strlen(user) > 255 || strpbrk(user, ":\n"))
        return err_set(err, ERR_INVALID, "user name `%s` for a password", user ? user : "");
    if (!password)
        return err_set(err, ERR_INVALID, "no password for `%s`", user);
    if (!hv->ops->set_user_password)
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot set a guest's password",
                       hv->ops->name);
    HV_DOMAIN(uuid);
    return hv->ops->set_user_password(hv, dom, user, password, err);
}

static int hv_fs_op(struct drv_hv *hv, const char *uuid, bool freeze, int *count,
                    struct err **err)
{
    int n = 0;
    if (count)
        *count = 0;
    if (check_uuid(uuid, err) < 0)
        return -1;
    int (*op)(struct drv_hv *, const char *, int *, struct err **) =
        freeze ? hv->ops->fs_freeze : hv->ops->fs_thaw;
    if (!op)
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot quiesce a guest",
                       hv->ops->name);
    HV_DOMAIN(uuid);
    if (op(hv, dom, &n, err) < 0)
        return -1;
    if (count)
        *count = n;
    return 0;
}

int drv_hv_fs_freeze(struct drv_hv *hv, const char *uuid, int *count, struct err **err)
{
    return hv_fs_op(hv, uuid, true, count, err);
}

int drv_hv_fs_thaw(struct drv_hv *hv, const char *uuid, int *count, struct err **err)
{
    return hv_fs_op(hv, uuid, false, count, err);
}

bool drv_hv_can_quiesce(const struct drv_hv *hv)
{
    return hv->ops->fs_freeze && hv->ops->fs_thaw;
}

int drv_hv_reboot(struct drv_hv *hv, const char *uuid, bool hard, struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    HV_DOMAIN(uuid);
    return hv->ops->reboot(hv, dom, hard, err);
}

int drv_hv_reshape(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                   struct drv_hv_reshape_report *report, struct err **err)
{
    struct drv_hv_reshape_report scratch;
    if (!report)
        report = &scratch;
    memset(report, 0, sizeof(*report));
    if (check_uuid(uuid, err) < 0 || drv_shape_validate(to, err) < 0)
        return err_wrap(err, "reshape `%s`", uuid ? uuid : "(null)");
    HV_DOMAIN(uuid);
    int64_t t0 = clock_mono_ns();
    int rc = hv->ops->reshape(hv, dom, to, report, err);
    report->total_ns = clock_mono_ns() - t0;
    return rc;
}

int drv_hv_resize_cold(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                       struct err **err)
{
    if (check_uuid(uuid, err) < 0 || drv_shape_validate(to, err) < 0)
        return err_wrap(err, "cold resize `%s`", uuid ? uuid : "(null)");
    HV_DOMAIN(uuid);
    return hv->ops->resize_cold(hv, dom, to, err);
}

bool drv_hv_can_migrate(const struct drv_hv *hv)
{
    return hv->ops->migrate_out && hv->ops->migrate_in;
}

int drv_hv_migrate_out(struct drv_hv *hv, const char *uuid, const char *dest, int timeout_s,
                       char **disk_info, struct err **err)
{
    *disk_info = NULL;
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!dest || !*dest || strlen(dest) > 255)
        return err_set(err, ERR_INVALID, "migrate `%s`: bad destination host", uuid);
    if (!drv_hv_can_migrate(hv))
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot migrate a guest to another host",
                       hv->ops->name);
    HV_DOMAIN(uuid);
    if (hv->ops->migrate_out(hv, dom, uuid, dest, timeout_s < 0 ? 0 : timeout_s, disk_info, err) < 0)
        return err_wrap(err, "migrate `%s` to `%s`", uuid, dest);
    return 0;
}

int drv_hv_migrate_in(struct drv_hv *hv, const struct drv_hv_guest_spec *spec,
                      const char *disk_info, bool power_on, struct err **err)
{
    if (!disk_info || !*disk_info)
        return err_set(err, ERR_INVALID, "migrate `%s` in: no disk_info", spec->uuid);
    if (!drv_hv_can_migrate(hv))
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot take a guest from another host",
                       hv->ops->name);
    if (check_spec(spec, err) < 0)
        return err_wrap(err, "migrate `%s` in", spec->uuid);
    if (hv->ops->migrate_in(hv, spec, disk_info, power_on, err) < 0)
        return err_wrap(err, "migrate `%s` in", spec->uuid);
    return 0;
}

int drv_hv_migrate_cleanup(struct drv_hv *hv, const char *uuid, struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!hv->ops->migrate_cleanup)
        return 0;
    if (hv->ops->migrate_cleanup(hv, uuid, err) < 0)
        return err_wrap(err, "clean up after the move of `%s`", uuid);
    return 0;
}

bool drv_hv_can_live_migrate(const struct drv_hv *hv)
{
    const struct drv_hv_ops *o = hv->ops;
    return o->live_prepare && o->live_migrate && o->live_abort && o->live_finish &&
           o->live_rollback;
}

int drv_hv_live_prepare(struct drv_hv *hv, const struct drv_hv_guest_spec *spec,
                        char **dest_info, struct err **err)
{
    *dest_info = NULL;
    if (!drv_hv_can_live_migrate(hv))
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot take a running guest",
                       hv->ops->name);
    if (check_spec(spec, err) < 0 || hv->ops->live_prepare(hv, spec, dest_info, err) < 0)
        return err_wrap(err, "prepare the live migration of `%s` here", spec->uuid);
    return 0;
}

int drv_hv_live_migrate(struct drv_hv *hv, const char *uuid, const char *dest,
                        const char *dest_info, const struct drv_hv_live_watch *watch,
                        struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!dest || !*dest || strlen(dest) > 255)
        return err_set(err, ERR_INVALID, "live-migrate `%s`: bad destination host", uuid);
    if (!dest_info || !*dest_info)
        return err_set(err, ERR_INVALID, "live-migrate `%s`: no dest_info", uuid);
    if (!drv_hv_can_live_migrate(hv))
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot live-migrate a guest",
                       hv->ops->name);
    static const struct drv_hv_live_watch none = {0};
    HV_DOMAIN(uuid);
    if (hv->ops->live_migrate(hv, dom, dest, dest_info, watch ? watch : &none, err) < 0)
        return err_wrap(err, "live-migrate `%s` to `%s`", uuid, dest);
    drv_hv_alias_drop(hv, uuid);
    return 0;
}

#define DRV_HV_LIVE_OP(op, what)                                                                   \
    int drv_hv_live_##op(struct drv_hv *hv, const char *uuid, struct err **err)                    \
    {                                                                                              \
        if (check_uuid(uuid, err) < 0)                                                             \
            return -1;                                                                             \
        if (!drv_hv_can_live_migrate(hv))                                                          \
            return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot live-migrate a guest",       \
                           hv->ops->name);                                                         \
        HV_DOMAIN(uuid);                                                                           \
        if (hv->ops->live_##op(hv, dom, err) < 0)                                                  \
            return err_wrap(err, what " `%s`", uuid);                                              \
        return 0;                                                                                  \
    }

DRV_HV_LIVE_OP(abort, "abort the live migration of")
DRV_HV_LIVE_OP(finish, "take on the live-migrated")
DRV_HV_LIVE_OP(rollback, "roll back the live migration here of")

void drv_hv_snapshot_release(struct drv_hv_snapshot *s)
{
    if (!s)
        return;
    if (s->path && unlink(s->path) < 0 && errno != ENOENT)
        log_warn("snapshot file %s not removed: %s", s->path, strerror(errno));
    free(s->path);
    memset(s, 0, sizeof(*s));
}

int drv_hv_snapshot(struct drv_hv *hv, const char *uuid, enum drv_hv_quiesce quiesce,
                    struct drv_hv_snapshot *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (check_uuid(uuid, err) < 0)
        return -1;
    if ((unsigned)quiesce >= DRV_HV_QUIESCE_LAST)
        return err_set(err, ERR_INVALID, "snapshot `%s`: quiesce mode %d", uuid, (int)quiesce);
    if (!hv->ops->snapshot)
        return err_set(err, ERR_UNSUPPORTED, "the %s backend cannot snapshot guests",
                       hv->ops->name);
    HV_DOMAIN(uuid);
    if (hv->ops->snapshot(hv, dom, quiesce, out, err) < 0) {
        bool quiesce_failed = out->quiesce_failed;
        drv_hv_snapshot_release(out);
        out->quiesce_failed = quiesce_failed;
        return quiesce_failed ? -1 : err_wrap(err, "snapshot `%s`", uuid);
    }
    if (!out->path || (strcmp(out->format, "qcow2") != 0 && strcmp(out->format, "raw") != 0)) {
        drv_hv_snapshot_release(out);
        return err_set(err, ERR_INTERNAL, "snapshot `%s`: the backend gave no image", uuid);
    }
    return 0;
}

int drv_hv_rescue(struct drv_hv *hv, const char *uuid, const struct drv_hv_image *image,
                  const struct drv_hv_rescue_dev *dev, const struct drv_hv_config_drive *cd,
                  int timeout_s, struct err **err)
{
    struct drv_hv_rescue_dev how = {DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT};
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!hv->ops->rescue)
        return err_set(err, ERR_UNSUPPORTED, "the %s backend cannot rescue guests", hv->ops->name);
    if (!image || (!image->disk_base && !image->kernel))
        return err_set(err, ERR_INVALID, "rescue `%s`: an image with a disk or a kernel", uuid);
    if (timeout_s < 0 || timeout_s > 3600)
        return err_set(err, ERR_INVALID, "shutdown timeout %d s (0 to 3600)", timeout_s);
    if (cd && drv_hv_config_drive_validate(cd, err) < 0)
        return err_wrap(err, "rescue `%s`", uuid);
    if (dev && drv_hv_rescue_dev_resolve(dev, &how, err) < 0)
        return err_wrap(err, "rescue `%s`", uuid);
    if (how.device != DRV_HV_RESCUE_LEGACY && !image->disk_base)
        return err_set(err, ERR_INVALID,
                       "rescue `%s`: a stable device rescue attaches the rescue image's disk, "
                       "and this image has none", uuid);
    HV_DOMAIN(uuid);
    if (hv->ops->rescue(hv, dom, image, &how, cd, timeout_s, err) < 0)
        return err_wrap(err, "rescue `%s`", uuid);
    return 0;
}

int drv_hv_unrescue(struct drv_hv *hv, const char *uuid, struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!hv->ops->unrescue)
        return err_set(err, ERR_UNSUPPORTED, "the %s backend cannot rescue guests", hv->ops->name);
    HV_DOMAIN(uuid);
    if (hv->ops->unrescue(hv, dom, err) < 0)
        return err_wrap(err, "unrescue `%s`", uuid);
    return 0;
}

int drv_hv_get_info(struct drv_hv *hv, const char *uuid, struct drv_hv_info *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (check_uuid(uuid, err) < 0)
        return -1;
    HV_DOMAIN(uuid);
    if (hv->ops->get_info(hv, dom, out, err) < 0)
        return -1;
    drv_hv_instance_uuid(hv, out->uuid);
    return 0;
}

int drv_hv_list(struct drv_hv *hv, struct drv_hv_info **out, size_t *n, struct err **err)
{
    *out = NULL;
    *n = 0;
    if (hv->ops->list(hv, out, n, err) < 0)
        return -1;
    for (size_t i = 0; i < *n; i++)
        drv_hv_instance_uuid(hv, (*out)[i].uuid);
    return 0;
}

int drv_hv_sample(struct drv_hv *hv, struct drv_hv_sample **out, size_t *n, struct err **err)
{
    *out = NULL;
    *n = 0;
    if (hv->ops->sample(hv, out, n, err) < 0)
        return -1;
    for (size_t i = 0; i < *n; i++)
        drv_hv_instance_uuid(hv, (*out)[i].uuid);
    return 0;
}

char *drv_hv_console_output(struct drv_hv *hv, const char *uuid, size_t max_bytes, struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return NULL;
    if (max_bytes == 0 || max_bytes > DRV_HV_CONSOLE_MAX)
        max_bytes = DRV_HV_CONSOLE_MAX;
    HV_DOMAIN(uuid);
    return hv->ops->console_output(hv, dom, max_bytes, err);
}

int drv_hv_console_port(struct drv_hv *hv, const char *uuid, enum drv_hv_console type, int *port,
                        struct err **err)
{
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!hv->ops->console_port)
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` gives guests no remote console",
                       hv->ops->name);
    HV_DOMAIN(uuid);
    return hv->ops->console_port(hv, dom, type, port, err);
}

void drv_hv_diag_release(struct drv_hv_diag *d)
{
    if (!d)
        return;
    free(d->cpu_time_ns);
    free(d->disks);
    free(d->nics);
    memset(d, 0, sizeof(*d));
}

int drv_hv_diagnostics(struct drv_hv *hv, const char *uuid, struct drv_hv_diag *out,
                       struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (check_uuid(uuid, err) < 0)
        return -1;
    if (!hv->ops->diagnostics)
        return err_set(err, ERR_UNSUPPORTED, "the %s backend gives no diagnostics",
                       hv->ops->name);
    HV_DOMAIN(uuid);
    if (hv->ops->diagnostics(hv, dom, out, err) < 0) {
        drv_hv_diag_release(out);
        return -1;
    }
    return 0;
}

int drv_hv_get_spec(struct drv_hv *hv, const char *uuid, struct drv_hv_guest_spec *out,
                    struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (check_uuid(uuid, err) < 0)
        return -1;
    HV_DOMAIN(uuid);
    if (hv->ops->get_spec(hv, dom, out, err) < 0)
        return -1;
    drv_hv_instance_uuid(hv, out->uuid);
    return 0;
}

static void paths_add(struct drv_hv_paths *p, const char *path)
{
    if (!path || !*path)
        return;
    p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
    p->v[p->n++] = xstrdup(path);
}

void drv_hv_paths_add_image(struct drv_hv_paths *p, const struct drv_hv_image *im)
{
    paths_add(p, im->kernel);
    paths_add(p, im->initrd);
    paths_add(p, im->disk_base);
}

void drv_hv_paths_release(struct drv_hv_paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static int paths_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int drv_hv_images_in_use(struct drv_hv *hv, struct drv_hv_paths *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (!hv->ops->images_in_use)
        return err_set(err, ERR_UNSUPPORTED, "the %s backend cannot list its guests' images",
                       hv->ops->name);
    if (hv->ops->images_in_use(hv, out, err) < 0) {
        drv_hv_paths_release(out);
        return err_wrap(err, "images in use");
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), paths_cmp);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (k > 0 && strcmp(out->v[k - 1], out->v[i]) == 0)
            free(out->v[i]);
        else
            out->v[k++] = out->v[i];
    }
    out->n = k;
    return 0;
}

void drv_hv_info_asked(const struct drv_hv_info *info, struct drv_shape *out)
{
    *out = info->shape;
    if (info->mem_asked_mib > 0)
        out->res.v[DRV_RES_MEM_MIB] = info->mem_asked_mib;
}

/* ---- reconcile ---- */

void drv_hv_reconcile_free(struct drv_hv_reconcile *r)
{
    if (!r)
        return;
    free(r->items);
    free(r);
}

static struct drv_hv_reconcile_item *reconcile_add(struct drv_hv_reconcile *r, const char *uuid,
                                                   enum drv_hv_drift drift,
                                                   enum drv_power_state actual)
{
    r->items = xreallocarray(r->items, r->n + 1, sizeof(*r->items));
    struct drv_hv_reconcile_item *it = &r->items[r->n++];
    memset(it, 0, sizeof(*it));
    snprintf(it->uuid, sizeof(it->uuid), "%s", uuid);
    it->drift = drift;
    it->actual = actual;
    return it;
}

static const struct drv_hv_info *find_info(const struct drv_hv_info *list, size_t n,
                                           const char *uuid)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i].uuid, uuid) == 0)
            return &list[i];
    return NULL;
}

/* Reapply the believed shape to a running guest whose live shape differs. */
static void reconcile_shape(struct drv_hv *hv, struct drv_hv_reconcile *r,
                            const struct drv_hv_expect *e, const struct drv_hv_info *in)
{
    /* The backend compares with the shape it just read back (list) and
     * touches only what differs; a vCPU kept online (TCG) is not drift. */
    const struct drv_shape *want = &e->shape;
    if (e->shape.vcpus_max != in->shape.vcpus_max ||
        fabs(e->shape.mem_max_mib - in->shape.mem_max_mib) > 0.5) {
        struct drv_hv_reconcile_item *it =
            reconcile_add(r, e->uuid, DRV_HV_DRIFT_FAILED, in->state);
        snprintf(it->message, sizeof(it->message),
                 "defined maxima %d vCPU / %.0f MiB differ from the believed %d / %.0f",
                 in->shape.vcpus_max, in->shape.mem_max_mib, e->shape.vcpus_max,
                 e->shape.mem_max_mib);
        return;
    }
    autoerr struct err *err = NULL;
    struct drv_hv_reshape_report rep;
    if (drv_hv_reshape(hv, e->uuid, want, &rep, &err) < 0) {
        struct drv_hv_reconcile_item *it =
            reconcile_add(r, e->uuid, DRV_HV_DRIFT_FAILED, in->state);
        snprintf(it->message, sizeof(it->message), "%s", err->msg);
        return;
    }
    if (!rep.changed) {
        reconcile_add(r, e->uuid, DRV_HV_DRIFT_NONE, in->state);
        return;
    }
    struct drv_hv_reconcile_item *it = reconcile_add(r, e->uuid, DRV_HV_DRIFT_RESHAPED, in->state);
    int n = 0;
    for (int k = 0; k < DRV_HV_KNOB_LAST && n < (int)sizeof(it->message) - 16; k++)
        if (rep.changed & (1u << k))
            n += snprintf(it->message + n, sizeof(it->message) - (size_t)n, "%s%s",
                          n ? "," : "reapplied ", drv_hv_knob_name((enum drv_hv_knob)k));
}

struct drv_hv_reconcile *drv_hv_reconcile_run(struct drv_hv *hv, const struct drv_hv_expect *expect,
                                              size_t n, struct err **err)
{
    autofree struct drv_hv_info *list = NULL;
    size_t nlist = 0;
    if (drv_hv_list(hv, &list, &nlist, err) < 0)
        return err_wrap(err, "reconcile"), NULL;

    struct drv_hv_reconcile *r = xzalloc(sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        const struct drv_hv_expect *e = &expect[i];
        const struct drv_hv_info *in = find_info(list, nlist, e->uuid);
        if (!in) {
            reconcile_add(r, e->uuid, DRV_HV_DRIFT_MISSING, DRV_POWER_NOSTATE);
            continue;
        }
        if (in->state != e->state) {
            struct drv_hv_reconcile_item *it =
                reconcile_add(r, e->uuid, DRV_HV_DRIFT_STATE, in->state);
            snprintf(it->message, sizeof(it->message), "believed %s, is %s (%s)",
                     drv_power_state_name(e->state), drv_power_state_name(in->state),
                     in->state_reason);
            continue;
        }
        if (in->state == DRV_POWER_RUNNING || in->state == DRV_POWER_PAUSED)
            reconcile_shape(hv, r, e, in);
        else
            reconcile_add(r, e->uuid, DRV_HV_DRIFT_NONE, in->state);
    }
    for (size_t i = 0; i < nlist; i++) {
        if (!list[i].ours)
            continue;
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            known = strcasecmp(expect[j].uuid, list[i].uuid) == 0;
        if (!known)
            reconcile_add(r, list[i].uuid, DRV_HV_DRIFT_UNKNOWN, list[i].state);
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].drift != DRV_HV_DRIFT_NONE)
            log_warn("reconcile %s: %s %s", r->items[i].uuid, drv_hv_drift_name(r->items[i].drift),
                     r->items[i].message);
    return r;
}
