/* A Nova instance as the engine sees it: the flavor is the ceiling, Nova's
 * quota:* extra specs (nova/virt/libvirt/designer.py and the flavor docs)
 * bound the NIC and disk dimensions, and `sculpt:priority` orders guests
 * under shortage. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "driver/sculpt.h"

#define SCULPT_PRIORITY_KEY "sculpt:priority"

/* A non-negative number from an extra spec; *out untouched when absent. */
static int sculpt_spec_number(const struct drv_flavor *f, const char *key, double *out,
                              struct err **err)
{
    const char *v = drv_kv_get(f->extra_specs, f->nextra_specs, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= 0) || x > DRV_RES_MAX)
        return err_set(err, ERR_INVALID, "flavor `%s`: extra spec `%s` is `%s`, not a number",
                       f->name ? f->name : "?", key, v);
    *out = x;
    return 0;
}

int drv_sculpt_spec_from_instance(const struct drv_instance *inst, const struct drv_host *host,
                                  int32_t default_priority, struct drv_sculpt_guest_spec *out,
                                  struct err **err)
{
    const struct drv_flavor *f = &inst->flavor;
    (void)host;
    memset(out, 0, sizeof(*out));
    snprintf(out->uuid, sizeof(out->uuid), "%s", inst->uuid);
    if (f->vcpus < 1 || f->memory_mb < 1)
        return err_set(err, ERR_INVALID, "flavor `%s` of `%s`: %d vCPUs, %lld MiB",
                       f->name ? f->name : "?", inst->uuid, f->vcpus, (long long)f->memory_mb);
    out->ceiling.v[DRV_RES_VCPU] = f->vcpus;
    out->ceiling.v[DRV_RES_MEM_MIB] = (double)f->memory_mb;
    out->vcpus_max = f->vcpus > inst->vcpus_defined ? f->vcpus : inst->vcpus_defined;
    out->mem_max_mib = (double)f->memory_mb > inst->mem_defined_mib ? (double)f->memory_mb
                                                                    : inst->mem_defined_mib;
    out->booted = inst->booted;

    /* Nova's quotas: vif averages in KB/s (libvirt's unit, as the backends
     * and the predictor read it), disk limits per second */
    double in_kb = 0, out_kb = 0, r_iops = 0, w_iops = 0, t_iops = 0, r_b = 0, w_b = 0, t_b = 0;
    if (sculpt_spec_number(f, "quota:vif_inbound_average", &in_kb, err) < 0 ||
        sculpt_spec_number(f, "quota:vif_outbound_average", &out_kb, err) < 0 ||
        sculpt_spec_number(f, "quota:disk_read_iops_sec", &r_iops, err) < 0 ||
        sculpt_spec_number(f, "quota:disk_write_iops_sec", &w_iops, err) < 0 ||
        sculpt_spec_number(f, "quota:disk_total_iops_sec", &t_iops, err) < 0 ||
        sculpt_spec_number(f, "quota:disk_read_bytes_sec", &r_b, err) < 0 ||
        sculpt_spec_number(f, "quota:disk_write_bytes_sec", &w_b, err) < 0 ||
        sculpt_spec_number(f, "quota:disk_total_bytes_sec", &t_b, err) < 0)
        return -1;
    const double kb_to_mbit = 8e-3;
    out->ceiling.v[DRV_RES_NET_IN_MBPS] = in_kb * kb_to_mbit;
    out->ceiling.v[DRV_RES_NET_OUT_MBPS] = out_kb * kb_to_mbit;
    /* a total limit bounds each direction when no direction is given */
    out->ceiling.v[DRV_RES_DISK_READ_IOPS] = r_iops > 0 ? r_iops : t_iops;
    out->ceiling.v[DRV_RES_DISK_WRITE_IOPS] = w_iops > 0 ? w_iops : t_iops;
    out->ceiling.v[DRV_RES_DISK_READ_MBPS] = (r_b > 0 ? r_b : t_b) / 1e6;
    out->ceiling.v[DRV_RES_DISK_WRITE_MBPS] = (w_b > 0 ? w_b : t_b) / 1e6;

    const char *prio = drv_kv_get(f->extra_specs, f->nextra_specs, SCULPT_PRIORITY_KEY);
    if (!prio)
        prio = drv_kv_get(inst->metadata, inst->nmetadata, SCULPT_PRIORITY_KEY);
    out->priority = default_priority;
    if (prio) {
        char *end;
        errno = 0;
        long p = strtol(prio, &end, 10);
        if (end == prio || *end || errno || p < -1000 || p > 1000)
            return err_set(err, ERR_INVALID,
                           "`" SCULPT_PRIORITY_KEY "` of `%s` is `%s` (an integer in "
                           "[-1000, 1000])",
                           inst->uuid, prio);
        out->priority = (int32_t)p;
    }
    return 0;
}
