/* Policy: the domain a spec and a shape call for on this host. */
#include "driver/libvirt/designer.h"

#include <linux/magic.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/hypervisor_priv.h"

uint64_t lv_design_shares(uint32_t weight, bool cgroup_v2)
{
    if (weight < DRV_SHAPE_WEIGHT_MIN)
        weight = DRV_SHAPE_WEIGHT_MIN;
    if (weight > DRV_SHAPE_WEIGHT_MAX)
        weight = DRV_SHAPE_WEIGHT_MAX;
    if (cgroup_v2)
        return weight;
    uint64_t s = ((uint64_t)weight * 1024 + 50) / 100;
    return s < 2 ? 2 : s;
}

static bool lv_cgroup_v2;
static pthread_once_t lv_cgroup_once = PTHREAD_ONCE_INIT;

static void lv_cgroup_probe(void)
{
    struct statfs fs;
    lv_cgroup_v2 = statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool lv_design_cgroup_v2(void)
{
    pthread_once(&lv_cgroup_once, lv_cgroup_probe);
    return lv_cgroup_v2;
}

int64_t lv_design_quota(double vcpu, int32_t online, int64_t period_us)
{
    struct drv_shape s = {.vcpus_online = online};
    s.res.v[DRV_RES_VCPU] = vcpu;
    return drv_shape_vcpu_quota_us(&s, period_us);
}

uint64_t lv_design_kBps(double mbps)
{
    return mbps > 0 ? (uint64_t)llround(fmax(mbps * 125, 1)) : 0;
}

uint64_t lv_design_burst_kB(uint64_t kBps)
{
    uint64_t b = kBps / 8;
    return b < 32 ? 32 : b;
}

uint64_t lv_design_bytes(double mbps)
{
    return mbps > 0 ? (uint64_t)llround(fmax(mbps * 1e6, 1)) : 0;
}

uint64_t lv_design_iops(double iops)
{
    return iops > 0 ? (uint64_t)llround(fmax(iops, 1)) : 0;
}

char *lv_design_cpuset(const struct drv_shape *s, int32_t host_cpus, char *buf, int size)
{
    if (drv_cpuset_count(&s->pcpus) > 0)
        return drv_cpuset_format(&s->pcpus, buf, size);
    if (host_cpus > 1)
        snprintf(buf, (size_t)size, "0-%d", host_cpus - 1);
    else
        snprintf(buf, (size_t)size, "0");
    return buf;
}

void lv_design_vmem(uint64_t max_kib, uint64_t cur_kib, uint64_t min_kib, uint64_t *boot_kib,
                    uint64_t *size_kib)
{
    uint64_t boot = cur_kib > min_kib ? cur_kib : min_kib;
    uint64_t room = max_kib > boot ? max_kib - boot : 0;
    *size_kib = room / LV_VMEM_ALIGN_KIB * LV_VMEM_ALIGN_KIB;
    *boot_kib = max_kib - *size_kib;
}

bool lv_design_balloon_moving(uint64_t held_kib, uint64_t from_kib, uint64_t target_kib)
{
    const uint64_t slack = 1024;
    uint64_t lo = from_kib < target_kib ? from_kib : target_kib;
    uint64_t hi = from_kib < target_kib ? target_kib : from_kib;
    return held_kib + slack >= lo && held_kib <= hi + slack;
}

void lv_design_mem_split(uint64_t mem_kib, uint64_t boot_kib, uint64_t size_kib,
                         uint64_t *balloon_kib, uint64_t *requested_kib)
{
    if (!size_kib || mem_kib <= boot_kib) {
        *balloon_kib = mem_kib;
        *requested_kib = 0;
        return;
    }
    uint64_t above = mem_kib - boot_kib;
    uint64_t req = (above + LV_VMEM_BLOCK_KIB - 1) / LV_VMEM_BLOCK_KIB * LV_VMEM_BLOCK_KIB;
    *balloon_kib = boot_kib;
    *requested_kib = req < size_kib ? req : size_kib;
}

uint64_t lv_design_vmem_request(uint64_t mem_kib, uint64_t boot_kib, uint64_t size_kib,
                                uint64_t requested_now_kib)
{
    uint64_t balloon, req;
    lv_design_mem_split(mem_kib, boot_kib, size_kib, &balloon, &req);
    uint64_t blocks = (boot_kib / 16 + LV_VMEM_BLOCK_KIB - 1) / LV_VMEM_BLOCK_KIB;
    uint64_t min_kib = (blocks ? blocks : 1) * LV_VMEM_BLOCK_KIB;
    uint64_t above = mem_kib > boot_kib ? mem_kib - boot_kib : 0;
    if (!requested_now_kib && above < min_kib && req < size_kib)
        return 0;
    return req;
}

void lv_design_meta(const struct lv_policy *p, const struct drv_hv_guest_spec *spec, int64_t now_ms,
                    struct lv_meta *out)
{
    memset(out, 0, sizeof(*out));
    drv_hv_guest_spec_copy(&out->spec, spec);
    struct drv_hv_guest_spec *s = &out->spec;
    if (!s->name) {
        char name[DRV_HV_NAME_MAX + 1];
        drv_hv_domain_name(spec, name);
        s->name = xstrdup(name);
    }
    if (s->image.disk_base && !s->image.disk_format)
        s->image.disk_format = xstrdup("qcow2");
    for (size_t i = 0; i < s->nvifs; i++) {
        drv_hv_tap_name(spec, i, s->vifs[i].tap);
        drv_hv_mac(spec, i, s->vifs[i].mac);
    }
    out->instance_dir = xasprintf("%s/%s", p->instances_path, spec->uuid);
    out->disk_path = s->image.disk_base ? xasprintf("%s/disk", out->instance_dir) : NULL;
    /* the drive's contents are written once, at spawn; the guest's record
     * keeps only where they are (Nova's disk.config) */
    if (s->config_drive)
        out->config_drive = xasprintf("%s/%s", out->instance_dir, LV_CONFIG_DRIVE_FILE);
    drv_hv_config_drive_free(s->config_drive);
    s->config_drive = NULL;
    out->console_log = xasprintf("%s/console.log", out->instance_dir);
    out->console_socket = xasprintf("%s/console.sock", out->instance_dir);
    /* a unix socket path has 107 bytes at most */
    if (strlen(out->console_socket) > 100) {
        free(out->console_socket);
        out->console_socket = xasprintf("/tmp/sculpt-console-%s.sock", spec->uuid);
    }
    out->created_ms = now_ms;
}

int lv_design_rescue_check(const struct drv_hv_rescue_dev *dev, struct err **err)
{
    if (dev->bus == DRV_HV_BUS_IDE)
        return err_set(err, ERR_UNSUPPORTED,
                       "a rescue %s on the ide bus: sculpt's guests are q35 machines, which have "
                       "no IDE bus (sata, scsi, usb or virtio)",
                       drv_hv_rescue_device_name(dev->device));
    return 0;
}

/* The first target named `prefix` + a letter that no device of `d` holds
 * (blockinfo.find_disk_dev_for_disk_bus). */
static void design_next_target(const struct lv_cfg_domain *d, const char *prefix, char *out,
                               size_t size)
{
    for (char c = 'a'; c <= 'z'; c++) {
        snprintf(out, size, "%s%c", prefix, c);
        bool taken = d->cdrom && strcmp(out, LV_CDROM_TARGET) == 0;
        for (size_t k = 0; k < d->ndisks && !taken; k++)
            taken = strcmp(out, d->disks[k].target) == 0;
        if (!taken)
            return;
    }
}

/* blockinfo.get_dev_prefix_for_disk_bus */
static const char *design_bus_prefix(enum drv_hv_bus bus)
{
    switch (bus) {
    case DRV_HV_BUS_IDE:
        return "hd";
    case DRV_HV_BUS_FDC:
        return "fd";
    case DRV_HV_BUS_SCSI:
    case DRV_HV_BUS_USB:
    case DRV_HV_BUS_SATA:
        return "sd";
    default:
        return "vd";
    }
}

void lv_design_domain(const struct lv_policy *p, const struct lv_meta *m,
                      const struct drv_shape *shape, struct lv_cfg_domain *out)
{
    const struct drv_hv_guest_spec *s = &m->spec;
    const double *r = shape->res.v;
    memset(out, 0, sizeof(*out));
    out->type = p->virt_type;
    snprintf(out->name, sizeof(out->name), "%s", s->name);
    snprintf(out->uuid, sizeof(out->uuid), "%s", s->uuid);
    out->title = s->display_name ? xstrdup(s->display_name) : NULL;
    out->mem_kib = (uint64_t)llround(shape->mem_max_mib * 1024);
    out->cur_mem_kib = (uint64_t)llround(r[DRV_RES_MEM_MIB] * 1024);
    /* boot with what the shape holds (and what a kernel needs to boot);
     * the rest is plugged when asked */
    if (p->memory_hotplug) {
        uint64_t boot;
        lv_design_vmem(out->mem_kib, out->cur_mem_kib, p->boot_min_kib, &boot, &out->vmem_kib);
    }
    out->vcpus_max = shape->vcpus_max;
    out->vcpus_current = shape->vcpus_online;
    if (drv_cpuset_count(&shape->pcpus) > 0)
        drv_cpuset_format(&shape->pcpus, out->cpuset, sizeof(out->cpuset));
    out->shares = lv_design_shares(drv_shape_cpu_weight(shape), lv_design_cgroup_v2());
    out->period_us = p->period_us;
    out->quota_us = lv_design_quota(r[DRV_RES_VCPU], shape->vcpus_online, p->period_us);
    out->numa_node = shape->numa_node;
    out->machine = "q35";
    /* TCG cannot pass the host CPU through */
    if (!p->cpu_mode || strcmp(p->cpu_mode, "auto") == 0)
        out->cpu_mode = strcmp(p->virt_type, "kvm") == 0 ? "host-passthrough" : "custom";
    else
        out->cpu_mode = p->cpu_mode;
    out->cpu_model = p->cpu_model;
    /* rescued (Nova's rescue domain): booting from the rescue image; a
     * legacy rescue has the rescue disk first, the guest's own second, the
     * rescue's drive; a stable one its own devices as they were */
    bool legacy = m->rescued && m->rescue_dev.device == DRV_HV_RESCUE_LEGACY;
    const struct drv_hv_image *boot = m->rescued ? &m->rescue_image : &s->image;
    out->kernel = boot->kernel;
    out->initrd = boot->initrd;
    out->cmdline = boot->cmdline;
    const char *disks[2] = {legacy ? m->rescue_disk : m->disk_path,
                            legacy ? m->disk_path : NULL};
    for (size_t k = 0; k < 2; k++) {
        if (!disks[k])
            continue;
        struct lv_cfg_disk *d = &out->disks[out->ndisks];
        d->path = xstrdup(disks[k]);
        d->format = "qcow2";
        snprintf(d->target, sizeof(d->target), "vd%c", (char)('a' + out->ndisks));
        out->ndisks++;
        d->read_iops = lv_design_iops(r[DRV_RES_DISK_READ_IOPS]);
        d->write_iops = lv_design_iops(r[DRV_RES_DISK_WRITE_IOPS]);
        d->read_bytes = lv_design_bytes(r[DRV_RES_DISK_READ_MBPS]);
        d->write_bytes = lv_design_bytes(r[DRV_RES_DISK_WRITE_MBPS]);
    }
    const char *drive = legacy ? m->rescue_config_drive : m->config_drive;
    out->cdrom = drive || m->config_drive || s->cdrom_tray;
    out->cdrom_path = drive ? xstrdup(drive) : NULL;
    if (m->rescued && !legacy && m->rescue_disk) {
        struct lv_cfg_disk *d = &out->last;
        d->path = xstrdup(m->rescue_disk);
        d->format = "qcow2";
        d->device = drv_hv_rescue_device_name(m->rescue_dev.device);
        d->bus = drv_hv_bus_name(m->rescue_dev.bus);
        d->boot_order = 1;
        design_next_target(out, design_bus_prefix(m->rescue_dev.bus), d->target,
                           sizeof(d->target));
        d->read_iops = lv_design_iops(r[DRV_RES_DISK_READ_IOPS]);
        d->write_iops = lv_design_iops(r[DRV_RES_DISK_WRITE_IOPS]);
        d->read_bytes = lv_design_bytes(r[DRV_RES_DISK_READ_MBPS]);
        d->write_bytes = lv_design_bytes(r[DRV_RES_DISK_WRITE_MBPS]);
    }
    /* a guest's bandwidth is shared evenly by its interfaces */
    double share = s->nvifs ? 1.0 / (double)s->nvifs : 0;
    for (size_t i = 0; i < s->nvifs; i++) {
        struct lv_cfg_nic *n = &out->nics[out->nnics++];
        snprintf(n->mac, sizeof(n->mac), "%s", s->vifs[i].mac);
        snprintf(n->tap, sizeof(n->tap), "%s", s->vifs[i].tap);
        n->in_kBps = lv_design_kBps(r[DRV_RES_NET_IN_MBPS] * share);
        n->out_kBps = lv_design_kBps(r[DRV_RES_NET_OUT_MBPS] * share);
        n->in_burst_kB = lv_design_burst_kB(n->in_kBps);
        n->out_burst_kB = lv_design_burst_kB(n->out_kBps);
    }
    /* the virtio-mem device and the agent's virtio-serial controller each
     * take a root port of their own: the spare ones stay spare */
    out->pcie_ports = p->pcie_ports + (out->vmem_kib ? 1 : 0) + (s->guest_agent ? 1 : 0);
    out->guest_agent = s->guest_agent;
    out->vnc_listen = p->vnc_listen;
    out->serial_host = p->serial_host; /* its port chosen at definition */
    out->serial_socket = xstrdup(m->console_socket);
    out->serial_log = xstrdup(m->console_log);
    out->balloon_period_s = p->balloon_period_s;
    struct lv_meta defined = *m;
    defined.spec.shape = *shape;
    out->metadata = lv_meta_format(&defined);
}
