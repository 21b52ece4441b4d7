/* Domain XML and sculpt's metadata, written and read with libxml2's tree
 * API (values are escaped by libxml2, never pasted into text). */
#include "driver/libvirt/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/alloc.h"
#include "common/err.h"

void lv_cfg_domain_release(struct lv_cfg_domain *d)
{
    free(d->title);
    for (size_t i = 0; i < d->ndisks; i++)
        free(d->disks[i].path);
    free(d->last.path);
    free(d->cdrom_path);
    free(d->serial_socket);
    free(d->serial_log);
    free(d->metadata);
    memset(d, 0, sizeof(*d));
}

/* ---- writing ---- */

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static xmlNodePtr childf(xmlNodePtr parent, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static xmlNodePtr childf(xmlNodePtr parent, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    autofree char *text = xvasprintf(fmt, ap);
    va_end(ap);
    return child(parent, name, text);
}

static void prop(xmlNodePtr n, const char *name, const char *value)
{
    xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

static void propf(xmlNodePtr n, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void propf(xmlNodePtr n, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    autofree char *text = xvasprintf(fmt, ap);
    va_end(ap);
    prop(n, name, text);
}

static char *doc_dump(xmlDocPtr doc, xmlNodePtr root)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlNodeDump(buf, doc, root, 0, 1);
    char *s = xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return s;
}

static void format_os(xmlNodePtr dom, const struct lv_cfg_domain *d)
{
    xmlNodePtr os = child(dom, "os", NULL);
    xmlNodePtr type = child(os, "type", "hvm");
    prop(type, "arch", "x86_64");
    prop(type, "machine", d->machine);
    if (d->kernel) {
        child(os, "kernel", d->kernel);
        if (d->initrd)
            child(os, "initrd", d->initrd);
        if (d->cmdline)
            child(os, "cmdline", d->cmdline);
    } else if (!d->last.path || !d->last.boot_order) {
        /* libvirt refuses <boot dev> beside a device's <boot order> */
        prop(child(os, "boot", NULL), "dev", "hd");
    }
}

static void format_cpu(xmlNodePtr dom, const struct lv_cfg_domain *d)
{
    xmlNodePtr vcpu = childf(dom, "vcpu", "%d", d->vcpus_max);
    prop(vcpu, "placement", "static");
    if (d->cpuset[0])
        prop(vcpu, "cpuset", d->cpuset);
    propf(vcpu, "current", "%d", d->vcpus_current);

    xmlNodePtr tune = child(dom, "cputune", NULL);
    childf(tune, "shares", "%llu", (unsigned long long)d->shares);
    childf(tune, "period", "%lld", (long long)d->period_us);
    if (d->quota_us > 0)
        childf(tune, "quota", "%lld", (long long)d->quota_us);
    if (d->cpuset[0])
        prop(child(tune, "emulatorpin", NULL), "cpuset", d->cpuset);

    if (d->numa_node >= 0) {
        xmlNodePtr mem = child(child(dom, "numatune", NULL), "memory", NULL);
        prop(mem, "mode", "strict");
        propf(mem, "nodeset", "%d", d->numa_node);
    }

    xmlNodePtr cpu = child(dom, "cpu", NULL);
    prop(cpu, "mode", d->cpu_mode);
    if (strcmp(d->cpu_mode, "custom") == 0) {
        prop(cpu, "match", "exact");
        /* QEMU drops what the host lacks (svm of qemu64 on a nested host) */
        prop(cpu, "check", "none");
        prop(child(cpu, "model", d->cpu_model), "fallback", "allow");
    }
    /* a virtio-mem device plugs into a guest NUMA node: one, holding
     * every vCPU and the boot memory */
    if (d->vmem_kib) {
        xmlNodePtr cell = child(child(cpu, "numa", NULL), "cell", NULL);
        prop(cell, "id", "0");
        if (d->vcpus_max > 1)
            propf(cell, "cpus", "0-%d", d->vcpus_max - 1);
        else
            prop(cell, "cpus", "0");
        propf(cell, "memory", "%llu", (unsigned long long)(d->mem_kib - d->vmem_kib));
        prop(cell, "unit", "KiB");
    }
}

static void format_disk(xmlNodePtr devs, const struct lv_cfg_disk *k)
{
    const char *device = k->device ? k->device : "disk";
    bool is_disk = strcmp(device, "disk") == 0;
    xmlNodePtr disk = child(devs, "disk", NULL);
    prop(disk, "type", "file");
    prop(disk, "device", device);
    xmlNodePtr drv = child(disk, "driver", NULL);
    prop(drv, "name", "qemu");
    prop(drv, "type", k->format);
    if (is_disk)
        prop(drv, "discard", "unmap");
    prop(child(disk, "source", NULL), "file", k->path);
    xmlNodePtr tgt = child(disk, "target", NULL);
    prop(tgt, "dev", k->target);
    prop(tgt, "bus", k->bus ? k->bus : "virtio");
    if (k->boot_order > 0)
        propf(child(disk, "boot", NULL), "order", "%d", k->boot_order);
    if (strcmp(device, "cdrom") == 0)
        child(disk, "readonly", NULL);
    /* the shape's limits are a disk's; a medium is only read at boot */
    if (is_disk && (k->read_iops || k->write_iops || k->read_bytes || k->write_bytes)) {
        xmlNodePtr io = child(disk, "iotune", NULL);
        if (k->read_bytes)
            childf(io, "read_bytes_sec", "%llu", (unsigned long long)k->read_bytes);
        if (k->write_bytes)
            childf(io, "write_bytes_sec", "%llu", (unsigned long long)k->write_bytes);
        if (k->read_iops)
            childf(io, "read_iops_sec", "%llu", (unsigned long long)k->read_iops);
        if (k->write_iops)
            childf(io, "write_iops_sec", "%llu", (unsigned long long)k->write_iops);
    }
}

/* Nova's config drive: raw, read-only, on the q35's built-in AHCI. */
static void format_cdrom(xmlNodePtr devs, const char *path)
{
    xmlNodePtr disk = child(devs, "disk", NULL);
    prop(disk, "type", "file");
    prop(disk, "device", "cdrom");
    xmlNodePtr drv = child(disk, "driver", NULL);
    prop(drv, "name", "qemu");
    prop(drv, "type", "raw");
    if (path)
        prop(child(disk, "source", NULL), "file", path);
    xmlNodePtr tgt = child(disk, "target", NULL);
    prop(tgt, "dev", LV_CDROM_TARGET);
    prop(tgt, "bus", "sata");
    child(disk, "readonly", NULL);
}

static void format_nic(xmlNodePtr devs, const struct lv_cfg_nic *n)
{
    xmlNodePtr nic = child(devs, "interface", NULL);
    prop(nic, "type", "ethernet");
    prop(child(nic, "mac", NULL), "address", n->mac);
    xmlNodePtr tgt = child(nic, "target", NULL);
    prop(tgt, "dev", n->tap);
    prop(tgt, "managed", "yes");
    prop(child(nic, "model", NULL), "type", "virtio");
    if (n->in_kBps || n->out_kBps) {
        xmlNodePtr bw = child(nic, "bandwidth", NULL);
        if (n->in_kBps) {
            xmlNodePtr in = child(bw, "inbound", NULL);
            propf(in, "average", "%llu", (unsigned long long)n->in_kBps);
            propf(in, "burst", "%llu", (unsigned long long)n->in_burst_kB);
        }
        if (n->out_kBps) {
            xmlNodePtr out = child(bw, "outbound", NULL);
            propf(out, "average", "%llu", (unsigned long long)n->out_kBps);
            propf(out, "burst", "%llu", (unsigned long long)n->out_burst_kB);
        }
    }
}

static void format_devices(xmlNodePtr dom, const struct lv_cfg_domain *d)
{
    xmlNodePtr devs = child(dom, "devices", NULL);
    for (size_t i = 0; i < d->ndisks; i++)
        format_disk(devs, &d->disks[i]);
    if (d->cdrom)
        format_cdrom(devs, d->cdrom_path);
    if (d->last.path) {
        format_disk(devs, &d->last);
        /* virtio-scsi: the controller every current guest kernel drives
         * (libvirt's default would be an emulated LSI one) */
        if (d->last.bus && strcmp(d->last.bus, "scsi") == 0) {
            xmlNodePtr scsi = child(devs, "controller", NULL);
            prop(scsi, "type", "scsi");
            prop(scsi, "model", "virtio-scsi");
        }
    }
    for (size_t i = 0; i < d->nnics; i++)
        format_nic(devs, &d->nics[i]);
    if (strcmp(d->machine, "q35") == 0) {
        /* the root first, then the spare ports hot-plugged devices land on */
        xmlNodePtr root = child(devs, "controller", NULL);
        prop(root, "type", "pci");
        prop(root, "index", "0");
        prop(root, "model", "pcie-root");
        for (int i = 0; i < d->pcie_ports; i++) {
            xmlNodePtr port = child(devs, "controller", NULL);
            prop(port, "type", "pci");
            prop(port, "model", "pcie-root-port");
        }
    }
    if (d->serial_host && d->serial_port > 0) {
        /* Nova's LibvirtConfigGuestSerial of type tcp: QEMU listens,
         * nova-serialproxy connects; the log keeps get_console_output */
        xmlNodePtr ser = child(devs, "serial", NULL);
        prop(ser, "type", "tcp");
        xmlNodePtr src = child(ser, "source", NULL);
        prop(src, "mode", "bind");
        prop(src, "host", d->serial_host);
        char service[16];
        snprintf(service, sizeof(service), "%d", (int)d->serial_port);
        prop(src, "service", service);
        prop(child(ser, "protocol", NULL), "type", "raw");
        if (d->serial_log) {
            xmlNodePtr log = child(ser, "log", NULL);
            prop(log, "file", d->serial_log);
            prop(log, "append", "on");
        }
        prop(child(ser, "target", NULL), "port", "0");
    } else if (d->serial_socket) {
        xmlNodePtr ser = child(devs, "serial", NULL);
        prop(ser, "type", "unix");
        xmlNodePtr src = child(ser, "source", NULL);
        prop(src, "mode", "bind");
        prop(src, "path", d->serial_socket);
        if (d->serial_log) {
            xmlNodePtr log = child(ser, "log", NULL);
            prop(log, "file", d->serial_log);
            prop(log, "append", "on");
        }
        prop(child(ser, "target", NULL), "port", "0");
    }
    if (d->guest_agent) {
        /* Nova's _add_qga_device; a path left to libvirt (its channel
         * folder) fits every instances_path and migrates */
        xmlNodePtr ch = child(devs, "channel", NULL);
        prop(ch, "type", "unix");
        prop(child(ch, "source", NULL), "mode", "bind");
        xmlNodePtr tgt = child(ch, "target", NULL);
        prop(tgt, "type", "virtio");
        prop(tgt, "name", LV_GUEST_AGENT_CHANNEL);
    }
    if (d->vmem_kib) {
        xmlNodePtr mem = child(devs, "memory", NULL);
        prop(mem, "model", "virtio-mem");
        xmlNodePtr tgt = child(mem, "target", NULL);
        prop(childf(tgt, "size", "%llu", (unsigned long long)d->vmem_kib), "unit", "KiB");
        child(tgt, "node", "0");
        prop(childf(tgt, "block", "%llu", (unsigned long long)LV_VMEM_BLOCK_KIB), "unit", "KiB");
        prop(child(tgt, "requested", "0"), "unit", "KiB");
    }
    if (d->vnc_listen) {
        /* Nova's LibvirtConfigGuestGraphics: the port chosen by libvirt
         * at each start; its video device the virtio one Zed picks on
         * x86 (VGA-compatible until the guest drives virtio-gpu) */
        xmlNodePtr gr = child(devs, "graphics", NULL);
        prop(gr, "type", "vnc");
        prop(gr, "autoport", "yes");
        prop(gr, "listen", d->vnc_listen);
        prop(child(child(devs, "video", NULL), "model", NULL), "type", "virtio");
    }
    xmlNodePtr bal = child(devs, "memballoon", NULL);
    prop(bal, "model", "virtio");
    if (d->balloon_period_s > 0)
        propf(child(bal, "stats", NULL), "period", "%d", d->balloon_period_s);
}

char *lv_cfg_domain_format(const struct lv_cfg_domain *d)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
    xmlDocSetRootElement(doc, dom);
    prop(dom, "type", d->type);
    child(dom, "name", d->name);
    child(dom, "uuid", d->uuid);
    if (d->title)
        child(dom, "title", d->title);
    if (d->metadata) {
        xmlNodePtr meta = child(dom, "metadata", NULL);
        xmlNodePtr parsed = NULL;
        if (xmlParseInNodeContext(meta, d->metadata, (int)strlen(d->metadata), 0, &parsed) ==
                XML_ERR_OK &&
            parsed)
            xmlAddChildList(meta, parsed);
        else if (parsed)
            xmlFreeNodeList(parsed);
    }
    /* memory devices need a maximum and a slot (virtio-mem uses none) */
    if (d->vmem_kib) {
        xmlNodePtr mx = childf(dom, "maxMemory", "%llu", (unsigned long long)d->mem_kib);
        prop(mx, "slots", "1");
        prop(mx, "unit", "KiB");
    }
    prop(childf(dom, "memory", "%llu", (unsigned long long)d->mem_kib), "unit", "KiB");
    prop(childf(dom, "currentMemory", "%llu", (unsigned long long)d->cur_mem_kib), "unit", "KiB");
    format_cpu(dom, d);
    format_os(dom, d);
    xmlNodePtr feat = child(dom, "features", NULL);
    child(feat, "acpi", NULL);
    child(feat, "apic", NULL);
    child(dom, "on_poweroff", "destroy");
    child(dom, "on_reboot", "restart");
    child(dom, "on_crash", "destroy");
    format_devices(dom, d);
    char *s = doc_dump(doc, dom);
    xmlFreeDoc(doc);
    return s;
}

char *lv_cfg_cdrom_format(const char *path)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr devs = xmlNewNode(NULL, BAD_CAST "devices");
    xmlDocSetRootElement(doc, devs);
    format_cdrom(devs, path);
    char *s = doc_dump(doc, devs->children);
    xmlFreeDoc(doc);
    return s;
}

char *lv_cfg_copy_dest_format(const char *path)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr disk = xmlNewNode(NULL, BAD_CAST "disk");
    xmlDocSetRootElement(doc, disk);
    prop(disk, "type", "file");
    prop(child(disk, "driver", NULL), "type", "qcow2");
    prop(child(disk, "source", NULL), "file", path);
    char *s = doc_dump(doc, disk);
    xmlFreeDoc(doc);
    return s;
}

/* ---- sculpt's metadata ---- */

void lv_meta_rescue_clear(struct lv_meta *m)
{
    drv_hv_image_release(&m->rescue_image);
    free(m->rescue_disk);
    free(m->rescue_config_drive);
    m->rescue_disk = m->rescue_config_drive = NULL;
    m->rescued = false;
    m->rescue_dev = (struct drv_hv_rescue_dev){DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT};
}

void lv_meta_release(struct lv_meta *m)
{
    lv_meta_rescue_clear(m);
    drv_hv_guest_spec_release(&m->spec);
    free(m->disk_path);
    free(m->instance_dir);
    free(m->console_log);
    free(m->console_socket);
    free(m->config_drive);
    memset(m, 0, sizeof(*m));
}

static char *dup_opt(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void lv_meta_copy(struct lv_meta *dst, const struct lv_meta *src)
{
    *dst = *src;
    drv_hv_guest_spec_copy(&dst->spec, &src->spec);
    dst->disk_path = dup_opt(src->disk_path);
    dst->instance_dir = dup_opt(src->instance_dir);
    dst->console_log = dup_opt(src->console_log);
    dst->console_socket = dup_opt(src->console_socket);
    dst->config_drive = dup_opt(src->config_drive);
    const struct drv_hv_image *ri = &src->rescue_image;
    dst->rescue_image = (struct drv_hv_image){.kernel = dup_opt(ri->kernel),
                                              .initrd = dup_opt(ri->initrd),
                                              .cmdline = dup_opt(ri->cmdline),
                                              .disk_base = dup_opt(ri->disk_base),
                                              .disk_format = dup_opt(ri->disk_format),
                                              .root_gb = ri->root_gb};
    dst->rescue_disk = dup_opt(src->rescue_disk);
    dst->rescue_config_drive = dup_opt(src->rescue_config_drive);
}

static void prop_opt(xmlNodePtr n, const char *name, const char *value)
{
    if (value)
        prop(n, name, value);
}

static char *meta_format(const struct lv_meta *m, bool with_ns)
{
    const struct drv_hv_guest_spec *s = &m->spec;
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "instance");
    xmlNsPtr ns = NULL;
    if (with_ns) {
        ns = xmlNewNs(root, BAD_CAST LV_META_URI, BAD_CAST LV_META_PREFIX);
        xmlSetNs(root, ns);
    }
    xmlDocSetRootElement(doc, root);
    propf(root, "created", "%lld", (long long)m->created_ms);

    xmlNodePtr owner = xmlNewChild(root, ns, BAD_CAST "owner", NULL);
    prop_opt(owner, "display_name", s->display_name);
    prop_opt(owner, "project", s->project_id);
    prop_opt(owner, "user", s->user_id);
    prop_opt(owner, "flavor", s->flavor_name);
    prop_opt(owner, "name", s->name);

    xmlNodePtr im = xmlNewChild(root, ns, BAD_CAST "image", NULL);
    prop_opt(im, "kernel", s->image.kernel);
    prop_opt(im, "initrd", s->image.initrd);
    prop_opt(im, "cmdline", s->image.cmdline);
    prop_opt(im, "disk_base", s->image.disk_base);
    prop_opt(im, "disk_format", s->image.disk_format);
    propf(im, "root_gb", "%lld", (long long)s->image.root_gb);
    if (s->guest_agent)
        prop(im, "guest_agent", "yes");

    xmlNodePtr files = xmlNewChild(root, ns, BAD_CAST "files", NULL);
    prop_opt(files, "dir", m->instance_dir);
    prop_opt(files, "disk", m->disk_path);
    prop_opt(files, "console_log", m->console_log);
    prop_opt(files, "console_socket", m->console_socket);
    prop_opt(files, "config_drive", m->config_drive);
    if (s->cdrom_tray)
        prop(files, "cdrom", "yes");

    if (m->rescued) {
        xmlNodePtr r = xmlNewChild(root, ns, BAD_CAST "rescue", NULL);
        prop_opt(r, "kernel", m->rescue_image.kernel);
        prop_opt(r, "initrd", m->rescue_image.initrd);
        prop_opt(r, "cmdline", m->rescue_image.cmdline);
        prop_opt(r, "disk_base", m->rescue_image.disk_base);
        prop_opt(r, "disk_format", m->rescue_image.disk_format);
        prop_opt(r, "disk", m->rescue_disk);
        prop_opt(r, "config_drive", m->rescue_config_drive);
        if (m->rescue_dev.device != DRV_HV_RESCUE_LEGACY) {
            prop(r, "device", drv_hv_rescue_device_name(m->rescue_dev.device));
            prop(r, "bus", drv_hv_bus_name(m->rescue_dev.bus));
        }
    }

    for (size_t i = 0; i < s->nvifs; i++) {
        xmlNodePtr v = xmlNewChild(root, ns, BAD_CAST "vif", NULL);
        prop(v, "mac", s->vifs[i].mac);
        prop(v, "tap", s->vifs[i].tap);
        prop_opt(v, "port", s->vifs[i].port_id);
    }

    const struct drv_shape *sh = &s->shape;
    xmlNodePtr shape = xmlNewChild(root, ns, BAD_CAST "shape", NULL);
    propf(shape, "vcpus_online", "%d", sh->vcpus_online);
    propf(shape, "vcpus_max", "%d", sh->vcpus_max);
    propf(shape, "mem_max_mib", "%.17g", sh->mem_max_mib);
    propf(shape, "numa_node", "%d", sh->numa_node);
    char cpus[1024];
    prop(shape, "pcpus", drv_cpuset_format(&sh->pcpus, cpus, sizeof(cpus)));
    for (int k = 0; k < DRV_RES_LAST; k++)
        propf(shape, drv_res_kind_name((enum drv_res_kind)k), "%.17g", sh->res.v[k]);

    char *out = doc_dump(doc, root);
    xmlFreeDoc(doc);
    return out;
}

char *lv_meta_format(const struct lv_meta *m)
{
    return meta_format(m, true);
}

char *lv_meta_format_fragment(const struct lv_meta *m)
{
    return meta_format(m, false);
}

static char *attr(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    if (!v)
        return NULL;
    char *s = xstrdup((const char *)v);
    xmlFree(v);
    return s;
}

static int attr_num(xmlNodePtr n, const char *name, double lo, double hi, double *out,
                    struct err **err)
{
    autofree char *v = attr(n, name);
    char *end = NULL;
    if (!v)
        return err_set(err, ERR_INVALID, "sculpt metadata: `%s` missing", name);
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= lo && x <= hi))
        return err_set(err, ERR_INVALID, "sculpt metadata: `%s` = `%s`", name, v);
    *out = x;
    return 0;
}

static int meta_parse_shape(xmlNodePtr n, struct drv_shape *sh, struct err **err)
{
    double v;
    memset(sh, 0, sizeof(*sh));
    if (attr_num(n, "vcpus_online", 1, DRV_CPUSET_MAX, &v, err) < 0)
        return -1;
    sh->vcpus_online = (int32_t)v;
    if (attr_num(n, "vcpus_max", 1, DRV_CPUSET_MAX, &v, err) < 0)
        return -1;
    sh->vcpus_max = (int32_t)v;
    if (attr_num(n, "mem_max_mib", 0, DRV_RES_MAX, &sh->mem_max_mib, err) < 0)
        return -1;
    if (attr_num(n, "numa_node", -1, 1024, &v, err) < 0)
        return -1;
    sh->numa_node = (int32_t)v;
    autofree char *cpus = attr(n, "pcpus");
    if (cpus && drv_cpuset_parse(cpus, &sh->pcpus, err) < 0)
        return -1;
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (attr_num(n, drv_res_kind_name((enum drv_res_kind)k), 0, DRV_RES_MAX, &sh->res.v[k],
                     err) < 0)
            return -1;
    return 0;
}

static bool is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static int meta_parse_root(xmlNodePtr root, struct lv_meta *m, struct err **err)
{
    struct drv_hv_guest_spec *s = &m->spec;
    autofree char *created = attr(root, "created");
    m->created_ms = created ? strtoll(created, NULL, 10) : 0;
    bool have_shape = false;
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (is(n, "owner")) {
            s->display_name = attr(n, "display_name");
            s->project_id = attr(n, "project");
            s->user_id = attr(n, "user");
            s->flavor_name = attr(n, "flavor");
            s->name = attr(n, "name");
        } else if (is(n, "image")) {
            s->image.kernel = attr(n, "kernel");
            s->image.initrd = attr(n, "initrd");
            s->image.cmdline = attr(n, "cmdline");
            s->image.disk_base = attr(n, "disk_base");
            s->image.disk_format = attr(n, "disk_format");
            autofree char *gb = attr(n, "root_gb");
            s->image.root_gb = gb ? strtoll(gb, NULL, 10) : 0;
            autofree char *agent = attr(n, "guest_agent");
            s->guest_agent = agent && strcmp(agent, "yes") == 0;
        } else if (is(n, "files")) {
            m->instance_dir = attr(n, "dir");
            m->disk_path = attr(n, "disk");
            m->console_log = attr(n, "console_log");
            m->console_socket = attr(n, "console_socket");
            m->config_drive = attr(n, "config_drive");
            autofree char *cdrom = attr(n, "cdrom");
            s->cdrom_tray = cdrom && strcmp(cdrom, "yes") == 0;
        } else if (is(n, "rescue") && !m->rescued) {
            m->rescued = true;
            m->rescue_image.kernel = attr(n, "kernel");
            m->rescue_image.initrd = attr(n, "initrd");
            m->rescue_image.cmdline = attr(n, "cmdline");
            m->rescue_image.disk_base = attr(n, "disk_base");
            m->rescue_image.disk_format = attr(n, "disk_format");
            m->rescue_disk = attr(n, "disk");
            m->rescue_config_drive = attr(n, "config_drive");
            /* absent (a legacy rescue, or one defined before stable
             * rescues were): LEGACY */
            autofree char *device = attr(n, "device");
            autofree char *bus = attr(n, "bus");
            if (device && bus &&
                (drv_hv_rescue_device_parse(device, &m->rescue_dev.device) < 0 ||
                 drv_hv_bus_parse(bus, &m->rescue_dev.bus) < 0))
                return err_set(err, ERR_INVALID, "sculpt metadata: rescue device `%s` on bus `%s`",
                               device, bus);
        } else if (is(n, "vif") && s->nvifs < DRV_HV_MAX_VIFS) {
            struct drv_hv_vif *v = &s->vifs[s->nvifs++];
            autofree char *mac = attr(n, "mac");
            autofree char *tap = attr(n, "tap");
            snprintf(v->mac, sizeof(v->mac), "%s", mac ? mac : "");
            snprintf(v->tap, sizeof(v->tap), "%s", tap ? tap : "");
            v->port_id = attr(n, "port");
        } else if (is(n, "shape")) {
            if (meta_parse_shape(n, &s->shape, err) < 0)
                return -1;
            have_shape = true;
        }
    }
    if (!have_shape)
        return err_set(err, ERR_INVALID, "sculpt metadata: no shape");
    return 0;
}

int lv_meta_parse(const char *xml, struct lv_meta *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return err_set(err, ERR_INVALID, "sculpt metadata: not XML");
    xmlNodePtr root = xmlDocGetRootElement(doc);
    int rc;
    if (!root || !is(root, "instance"))
        rc = err_set(err, ERR_INVALID, "sculpt metadata: no <instance> element");
    else
        rc = meta_parse_root(root, out, err);
    xmlFreeDoc(doc);
    if (rc < 0)
        lv_meta_release(out);
    return rc;
}

char *lv_run_format(const struct lv_run *r)
{
    autofree char *gap = r->has_gap_base
                             ? xasprintf(" gap_base='%llu'", (unsigned long long)r->gap_base_kib)
                             : xstrdup("");
    if (!r->balloon_kib)
        return xasprintf("<run started='%lld'%s/>", (long long)r->started_ms, gap);
    return xasprintf("<run started='%lld' balloon='%llu' from='%llu'%s/>",
                     (long long)r->started_ms, (unsigned long long)r->balloon_kib,
                     (unsigned long long)r->from_kib, gap);
}

/* The value of attribute ` name='N'`: true with *out set, false when it is
 * absent or not a number (*out 0). */
static bool run_attr(const char *xml, const char *name, long long *out)
{
    size_t len = strlen(name);
    *out = 0;
    for (const char *p = xml ? strstr(xml, name) : NULL; p; p = strstr(p + 1, name)) {
        if (p == xml || (p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n') || p[len] != '=')
            continue;
        p += len + 1;
        if (*p == '\'' || *p == '"')
            p++;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0)
            return false;
        *out = v;
        return true;
    }
    return false;
}

void lv_run_parse(const char *xml, struct lv_run *out)
{
    long long v;
    memset(out, 0, sizeof(*out));
    run_attr(xml, "started", &v);
    out->started_ms = v;
    run_attr(xml, "balloon", &v);
    out->balloon_kib = (uint64_t)v;
    if (out->balloon_kib && run_attr(xml, "from", &v))
        out->from_kib = (uint64_t)v;
    out->has_gap_base = run_attr(xml, "gap_base", &v);
    out->gap_base_kib = (uint64_t)v;
}

/* ---- reading a domain's knobs ---- */

void lv_knobs_release(struct lv_knobs *k)
{
    free(k->metadata);
    k->metadata = NULL;
}

static xmlNodePtr first(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
        if (is(n, name))
            return n;
    return NULL;
}

static uint64_t text_u64(xmlNodePtr n)
{
    if (!n)
        return 0;
    xmlChar *t = xmlNodeGetContent(n);
    uint64_t v = t ? strtoull((const char *)t, NULL, 10) : 0;
    xmlFree(t);
    return v;
}

static int64_t text_i64(xmlNodePtr n)
{
    if (!n)
        return 0;
    xmlChar *t = xmlNodeGetContent(n);
    int64_t v = t ? strtoll((const char *)t, NULL, 10) : 0;
    xmlFree(t);
    return v;
}

/* An attribute of the first child element `elem`, or NULL. */
static char *attr_opt_child(xmlNodePtr n, const char *elem, const char *name)
{
    xmlNodePtr c = first(n, elem);
    return c ? attr(c, name) : NULL;
}

static uint64_t attr_u64(xmlNodePtr n, const char *name)
{
    autofree char *v = n ? attr(n, name) : NULL;
    return v ? strtoull(v, NULL, 10) : 0;
}

/* KiB from an element with an optional unit attribute. */
static uint64_t mem_kib(xmlNodePtr n)
{
    uint64_t v = text_u64(n);
    autofree char *unit = n ? attr(n, "unit") : NULL;
    if (!unit || strcmp(unit, "KiB") == 0 || strcmp(unit, "k") == 0)
        return v;
    if (strcmp(unit, "MiB") == 0 || strcmp(unit, "M") == 0)
        return v * 1024;
    if (strcmp(unit, "GiB") == 0 || strcmp(unit, "G") == 0)
        return v * 1024 * 1024;
    if (strcmp(unit, "b") == 0 || strcmp(unit, "bytes") == 0)
        return v / 1024;
    return v;
}

static void read_cputune(xmlNodePtr dom, struct lv_knobs *k)
{
    xmlNodePtr vcpu = first(dom, "vcpu");
    k->vcpus_max = (int32_t)text_u64(vcpu);
    autofree char *cur = vcpu ? attr(vcpu, "current") : NULL;
    k->vcpus_online = cur ? (int32_t)strtol(cur, NULL, 10) : k->vcpus_max;
    autofree char *cpuset = vcpu ? attr(vcpu, "cpuset") : NULL;
    if (cpuset)
        snprintf(k->cpuset, sizeof(k->cpuset), "%s", cpuset);

    xmlNodePtr tune = first(dom, "cputune");
    k->shares = text_u64(first(tune, "shares"));
    k->period_us = text_i64(first(tune, "period"));
    k->quota_us = text_i64(first(tune, "quota"));
    for (xmlNodePtr n = tune ? tune->children : NULL; n; n = n->next) {
        autofree char *id = is(n, "vcpupin") ? attr(n, "vcpu") : NULL;
        autofree char *set = id && strcmp(id, "0") == 0 ? attr(n, "cpuset") : NULL;
        if (set)
            snprintf(k->cpuset, sizeof(k->cpuset), "%s", set);
    }
    xmlNodePtr mem = first(first(dom, "numatune"), "memory");
    autofree char *nodes = mem ? attr(mem, "nodeset") : NULL;
    k->numa_node = nodes && *nodes ? (int32_t)strtol(nodes, NULL, 10) : -1;
}

static void read_devices(xmlNodePtr devs, struct lv_knobs *k)
{
    for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next) {
        if (is(n, "interface") && k->ntaps < DRV_HV_MAX_VIFS) {
            autofree char *dev = attr_opt_child(n, "target", "dev");
            size_t i = k->ntaps++;
            snprintf(k->taps[i], sizeof(k->taps[i]), "%s", dev ? dev : "");
            xmlNodePtr bw = first(n, "bandwidth");
            k->in_kBps[i] = attr_u64(first(bw, "inbound"), "average");
            k->out_kBps[i] = attr_u64(first(bw, "outbound"), "average");
        } else if (is(n, "memory") && !k->vmem_kib) {
            autofree char *model = attr(n, "model");
            if (!model || strcmp(model, "virtio-mem") != 0)
                continue;
            xmlNodePtr tgt = first(n, "target");
            k->vmem_kib = mem_kib(first(tgt, "size"));
            k->vmem_requested_kib = mem_kib(first(tgt, "requested"));
            k->vmem_current_kib = mem_kib(first(tgt, "current"));
        } else if (is(n, "disk") && !k->disk[0]) {
            autofree char *device = attr(n, "device");
            if (device && strcmp(device, "disk") != 0)
                continue; /* the config drive's cdrom has no I/O limits */
            autofree char *dev = attr_opt_child(n, "target", "dev");
            if (!dev)
                continue;
            snprintf(k->disk, sizeof(k->disk), "%s", dev);
            xmlNodePtr io = first(n, "iotune");
            k->read_iops = text_u64(first(io, "read_iops_sec"));
            k->write_iops = text_u64(first(io, "write_iops_sec"));
            k->read_bytes = text_u64(first(io, "read_bytes_sec"));
            k->write_bytes = text_u64(first(io, "write_bytes_sec"));
        }
    }
}

int lv_cfg_domain_read(const char *xml, struct lv_knobs *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return err_set(err, ERR_INVALID, "domain XML does not parse");
    xmlNodePtr dom = xmlDocGetRootElement(doc);
    if (!dom || !is(dom, "domain")) {
        xmlFreeDoc(doc);
        return err_set(err, ERR_INVALID, "domain XML without <domain>");
    }
    read_cputune(dom, out);
    out->cur_kib = mem_kib(first(dom, "currentMemory"));
    out->max_kib = mem_kib(first(dom, "memory"));
    if (!out->cur_kib)
        out->cur_kib = out->max_kib;
    read_devices(first(dom, "devices"), out);
    for (xmlNodePtr n = first(dom, "metadata") ? first(dom, "metadata")->children : NULL; n;
         n = n->next)
        if (is(n, "instance") && n->ns && n->ns->href &&
            strcmp((const char *)n->ns->href, LV_META_URI) == 0)
            out->metadata = doc_dump(doc, n);
    xmlFreeDoc(doc);
    return 0;
}

int lv_cfg_diag_devices(const char *xml, struct drv_hv_diag *out, struct err **err)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return err_set(err, ERR_INVALID, "domain XML does not parse");
    xmlNodePtr dom = xmlDocGetRootElement(doc);
    xmlNodePtr devs = dom && is(dom, "domain") ? first(dom, "devices") : NULL;
    for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next) {
        if (is(n, "disk")) {
            /* every disk with a target, the config drive's cdrom too (Nova's
             * _get_io_devices) */
            autofree char *dev = attr_opt_child(n, "target", "dev");
            if (!dev)
                continue;
            out->disks = xreallocarray(out->disks, out->ndisks + 1, sizeof(*out->disks));
            struct drv_hv_diag_disk *d = &out->disks[out->ndisks++];
            memset(d, 0xff, sizeof(*d)); /* every counter -1 until read */
            snprintf(d->dev, sizeof(d->dev), "%s", dev);
        } else if (is(n, "interface")) {
            autofree char *mac = attr_opt_child(n, "mac", "address");
            autofree char *dev = attr_opt_child(n, "target", "dev");
            out->nics = xreallocarray(out->nics, out->nnics + 1, sizeof(*out->nics));
            struct drv_hv_diag_nic *c = &out->nics[out->nnics++];
            memset(c, 0xff, sizeof(*c));
            snprintf(c->mac, sizeof(c->mac), "%s", mac ? mac : "");
            snprintf(c->dev, sizeof(c->dev), "%s", dev ? dev : "");
        }
    }
    xmlFreeDoc(doc);
    return 0;
}

char *lv_cfg_copy_target(const char *xml, const char *dir)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return NULL;
    char *found = NULL;
    size_t dl = strlen(dir), sl = strlen(".delta");
    xmlNodePtr dom = xmlDocGetRootElement(doc);
    xmlNodePtr devs = dom && is(dom, "domain") ? first(dom, "devices") : NULL;
    for (xmlNodePtr n = devs ? devs->children : NULL; n && !found; n = n->next) {
        xmlNodePtr mirror = is(n, "disk") ? first(n, "mirror") : NULL;
        autofree char *job = mirror ? attr(mirror, "job") : NULL;
        if (!job || strcmp(job, "copy") != 0)
            continue;
        /* the destination: <source file=...> (an older libvirt: file=) */
        autofree char *file = attr_opt_child(mirror, "source", "file");
        if (!file)
            file = attr(mirror, "file");
        size_t fl = file ? strlen(file) : 0;
        if (fl > dl + sl && strncmp(file, dir, dl) == 0 && file[dl] == '/' &&
            strcmp(file + fl - sl, ".delta") == 0)
            found = attr_opt_child(n, "target", "dev");
    }
    xmlFreeDoc(doc);
    return found;
}

static xmlNodePtr vmem_device(xmlNodePtr dom)
{
    for (xmlNodePtr n = first(dom, "devices") ? first(dom, "devices")->children : NULL; n;
         n = n->next) {
        autofree char *model = is(n, "memory") ? attr(n, "model") : NULL;
        if (model && strcmp(model, "virtio-mem") == 0)
            return n;
    }
    return NULL;
}

char *lv_cfg_vmem_request(const char *domain_xml, uint64_t requested_kib, struct err **err)
{
    xmlDocPtr doc =
        xmlReadMemory(domain_xml, (int)strlen(domain_xml), "domain.xml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
    if (!doc) {
        err_set(err, ERR_INVALID, "domain XML does not parse");
        return NULL;
    }
    xmlNodePtr dom = xmlDocGetRootElement(doc);
    xmlNodePtr mem = dom && is(dom, "domain") ? vmem_device(dom) : NULL;
    xmlNodePtr tgt = mem ? first(mem, "target") : NULL;
    if (!tgt) {
        xmlFreeDoc(doc);
        err_set(err, ERR_NOT_FOUND, "domain without a virtio-mem device");
        return NULL;
    }
    /* what the guest has plugged is libvirt's to report, not to be set */
    xmlNodePtr cur = first(tgt, "current");
    if (cur) {
        xmlUnlinkNode(cur);
        xmlFreeNode(cur);
    }
    xmlNodePtr req = first(tgt, "requested");
    if (!req)
        req = child(tgt, "requested", NULL);
    autofree char *v = xasprintf("%llu", (unsigned long long)requested_kib);
    xmlNodeSetContent(req, BAD_CAST v);
    xmlSetProp(req, BAD_CAST "unit", BAD_CAST "KiB");
    char *out = doc_dump(doc, mem);
    xmlFreeDoc(doc);
    return out;
}

bool lv_cfg_caps_hw_virt(const char *caps_xml)
{
    xmlDocPtr doc = xmlReadMemory(caps_xml, (int)strlen(caps_xml), "capabilities.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return false;
    bool found = false;
    xmlNodePtr cpu = first(first(xmlDocGetRootElement(doc), "host"), "cpu");
    for (xmlNodePtr n = cpu ? cpu->children : NULL; n && !found; n = n->next) {
        autofree char *name = is(n, "feature") ? attr(n, "name") : NULL;
        found = name && (strcmp(name, "vmx") == 0 || strcmp(name, "svm") == 0);
    }
    xmlFreeDoc(doc);
    return found;
}
