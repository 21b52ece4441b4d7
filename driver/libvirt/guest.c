/* One domain's knobs, states and stats, each through its libvirt call. */
#include "driver/libvirt/guest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/libvirt/host.h"

/* Typed parameters built for one call, freed with the call. */
struct lv_params {
    virTypedParameterPtr p;
    int n, max;
    bool failed;
};

static void params_free(struct lv_params *ps)
{
    virTypedParamsFree(ps->p, ps->n);
}

#define autoparams __attribute__((cleanup(params_free))) struct lv_params

static void param_ull(struct lv_params *ps, const char *field, unsigned long long v)
{
    if (virTypedParamsAddULLong(&ps->p, &ps->n, &ps->max, field, v) < 0)
        ps->failed = true;
}

static void param_ll(struct lv_params *ps, const char *field, long long v)
{
    if (virTypedParamsAddLLong(&ps->p, &ps->n, &ps->max, field, v) < 0)
        ps->failed = true;
}

static void param_uint(struct lv_params *ps, const char *field, unsigned int v)
{
    if (virTypedParamsAddUInt(&ps->p, &ps->n, &ps->max, field, v) < 0)
        ps->failed = true;
}

static void param_str(struct lv_params *ps, const char *field, const char *v)
{
    if (virTypedParamsAddString(&ps->p, &ps->n, &ps->max, field, v) < 0)
        ps->failed = true;
}

int lv_guest_set_vcpus(virDomainPtr dom, const char *name, int32_t n, struct err **err)
{
    if (virDomainSetVcpusFlags(dom, (unsigned)n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainSetVcpusFlags", name);
    return 0;
}

int lv_guest_set_sched(virDomainPtr dom, const char *name, uint64_t shares, int64_t period_us,
                       int64_t quota_us, struct err **err)
{
    autoparams ps = {0};
    param_ull(&ps, VIR_DOMAIN_SCHEDULER_CPU_SHARES, shares);
    param_ull(&ps, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, (unsigned long long)period_us);
    param_ll(&ps, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, quota_us > 0 ? quota_us : -1);
    if (ps.failed)
        return lv_error(err, "virTypedParamsAdd", name);
    if (virDomainSetSchedulerParametersFlags(dom, ps.p, ps.n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainSetSchedulerParametersFlags", name);
    return 0;
}

/* A libvirt CPU map for a cpuset over the host's CPUs. */
static unsigned char *cpumap(const char *cpuset, int32_t host_cpus, int *maplen, struct err **err)
{
    struct drv_cpuset s;
    if (drv_cpuset_parse(cpuset, &s, err) < 0)
        return NULL;
    *maplen = VIR_CPU_MAPLEN(host_cpus);
    unsigned char *map = xzalloc((size_t)*maplen);
    for (int c = 0; c < host_cpus; c++)
        if (drv_cpuset_has(&s, c))
            VIR_USE_CPU(map, c);
    return map;
}

int lv_guest_pin_vcpu(virDomainPtr dom, const char *name, int32_t vcpu, const char *cpuset,
                      int32_t host_cpus, struct err **err)
{
    int len;
    autofree unsigned char *map = cpumap(cpuset, host_cpus, &len, err);
    if (!map)
        return -1;
    if (virDomainPinVcpuFlags(dom, (unsigned)vcpu, map, len, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainPinVcpuFlags", name);
    return 0;
}

int lv_guest_pin_emulator(virDomainPtr dom, const char *name, const char *cpuset, int32_t host_cpus,
                          struct err **err)
{
    int len;
    autofree unsigned char *map = cpumap(cpuset, host_cpus, &len, err);
    if (!map)
        return -1;
    if (virDomainPinEmulator(dom, map, len, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainPinEmulator", name);
    return 0;
}

int lv_guest_set_numa(virDomainPtr dom, const char *name, const char *nodeset, struct err **err)
{
    autoparams ps = {0};
    param_str(&ps, VIR_DOMAIN_NUMA_NODESET, nodeset);
    if (ps.failed)
        return lv_error(err, "virTypedParamsAdd", name);
    if (virDomainSetNumaParameters(dom, ps.p, ps.n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainSetNumaParameters", name);
    return 0;
}

int lv_guest_set_balloon(virDomainPtr dom, const char *name, uint64_t kib, struct err **err)
{
    if (virDomainSetMemoryFlags(dom, kib, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainSetMemoryFlags", name);
    return 0;
}

int lv_guest_set_vmem(virDomainPtr dom, const char *name, uint64_t requested_kib,
                      struct err **err)
{
    /* libvirt finds the device by its address: take it from the live XML */
    autofree char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return lv_error(err, "virDomainGetXMLDesc", name);
    autofree char *dev = lv_cfg_vmem_request(xml, requested_kib, err);
    if (!dev)
        return err_wrap(err, "domain `%s`", name);
    if (virDomainUpdateDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainUpdateDeviceFlags", name);
    return 0;
}

int lv_guest_set_bandwidth(virDomainPtr dom, const char *name, const char *tap, uint64_t in_kBps,
                           uint64_t in_burst_kB, uint64_t out_kBps, uint64_t out_burst_kB,
                           struct err **err)
{
    autoparams ps = {0};
    /* an average of 0 removes the limit in that direction */
    param_uint(&ps, VIR_DOMAIN_BANDWIDTH_IN_AVERAGE, (unsigned)in_kBps);
    if (in_kBps)
        param_uint(&ps, VIR_DOMAIN_BANDWIDTH_IN_BURST, (unsigned)in_burst_kB);
    param_uint(&ps, VIR_DOMAIN_BANDWIDTH_OUT_AVERAGE, (unsigned)out_kBps);
    if (out_kBps)
        param_uint(&ps, VIR_DOMAIN_BANDWIDTH_OUT_BURST, (unsigned)out_burst_kB);
    if (ps.failed)
        return lv_error(err, "virTypedParamsAdd", name);
    if (virDomainSetInterfaceParameters(dom, tap, ps.p, ps.n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainSetInterfaceParameters", name);
    return 0;
}

int lv_guest_set_iotune(virDomainPtr dom, const char *name, const char *disk, uint64_t read_iops,
                        uint64_t write_iops, uint64_t read_bytes, uint64_t write_bytes,
                        struct err **err)
{
    autoparams ps = {0};
    param_ull(&ps, VIR_DOMAIN_BLOCK_IOTUNE_READ_IOPS_SEC, read_iops);
    param_ull(&ps, VIR_DOMAIN_BLOCK_IOTUNE_WRITE_IOPS_SEC, write_iops);
    param_ull(&ps, VIR_DOMAIN_BLOCK_IOTUNE_READ_BYTES_SEC, read_bytes);
    param_ull(&ps, VIR_DOMAIN_BLOCK_IOTUNE_WRITE_BYTES_SEC, write_bytes);
    if (ps.failed)
        return lv_error(err, "virTypedParamsAdd", name);
    if (virDomainSetBlockIoTune(dom, disk, ps.p, ps.n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        return lv_error(err, "virDomainSetBlockIoTune", name);
    return 0;
}

int lv_guest_read(virDomainPtr dom, const char *name, struct lv_knobs *out, struct err **err)
{
    autofree char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return lv_error(err, "virDomainGetXMLDesc", name);
    if (lv_cfg_domain_read(xml, out, err) < 0)
        return err_wrap(err, "domain `%s`", name);
    return 0;
}

int lv_guest_state(virDomainPtr dom, const char *name, enum drv_power_state *state, char reason[32],
                   struct err **err)
{
    int st, why;
    if (virDomainGetState(dom, &st, &why, 0) < 0)
        return lv_error(err, "virDomainGetState", name);
    const char *r = "unknown";
    switch (st) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        *state = DRV_POWER_RUNNING;
        r = why == VIR_DOMAIN_RUNNING_RESTORED   ? "restored"
            : why == VIR_DOMAIN_RUNNING_UNPAUSED ? "unpaused"
            : why == VIR_DOMAIN_RUNNING_MIGRATED ? "migrated"
                                                 : "booted";
        break;
    case VIR_DOMAIN_PAUSED:
        *state = DRV_POWER_PAUSED;
        r = why == VIR_DOMAIN_PAUSED_USER      ? "user"
            : why == VIR_DOMAIN_PAUSED_IOERROR ? "ioerror"
            : why == VIR_DOMAIN_PAUSED_SAVE    ? "saving"
                                               : "paused";
        break;
    case VIR_DOMAIN_SHUTDOWN:
        *state = DRV_POWER_SHUTDOWN;
        r = "shutting-down";
        break;
    case VIR_DOMAIN_SHUTOFF: {
        *state = DRV_POWER_SHUTDOWN;
        r = why == VIR_DOMAIN_SHUTOFF_SHUTDOWN    ? "shutdown"
            : why == VIR_DOMAIN_SHUTOFF_DESTROYED ? "destroyed"
            : why == VIR_DOMAIN_SHUTOFF_CRASHED   ? "crashed"
            : why == VIR_DOMAIN_SHUTOFF_SAVED     ? "saved"
            : why == VIR_DOMAIN_SHUTOFF_FAILED    ? "failed"
                                                  : "shutoff";
        int saved = virDomainHasManagedSaveImage(dom, 0);
        if (saved < 0)
            virResetLastError();
        if (saved == 1) {
            *state = DRV_POWER_SUSPENDED;
            r = "saved";
        }
        break;
    }
    case VIR_DOMAIN_CRASHED:
        *state = DRV_POWER_CRASHED;
        r = "crashed";
        break;
    case VIR_DOMAIN_PMSUSPENDED:
        *state = DRV_POWER_SUSPENDED;
        r = "pmsuspended";
        break;
    default:
        *state = DRV_POWER_NOSTATE;
        break;
    }
    snprintf(reason, 32, "%s", r);
    return 0;
}

/* "net.3.rx.bytes" -> index 3 and the rest "rx.bytes". */
static const char *indexed(const char *field, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(field, prefix, n) != 0)
        return NULL;
    const char *p = field + n;
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '.' ? p + 1 : NULL;
}

void lv_guest_stats_parse(const virDomainStatsRecord *rec, struct drv_hv_counters *out)
{
    memset(out, 0, sizeof(*out));
    bool vcpu_times = false;
    for (int i = 0; i < rec->nparams; i++) {
        const virTypedParameter *p = &rec->params[i];
        const char *f = p->field, *rest;
        unsigned long long v = p->type == VIR_TYPED_PARAM_ULLONG  ? p->value.ul
                               : p->type == VIR_TYPED_PARAM_UINT  ? p->value.ui
                               : p->type == VIR_TYPED_PARAM_LLONG ? (unsigned long long)p->value.l
                               : p->type == VIR_TYPED_PARAM_INT   ? (unsigned long long)p->value.i
                                                                  : 0;
        if (strcmp(f, "cpu.time") == 0) {
            out->cpu_total_ns = v;
            out->has_cpu = true;
        } else if (strcmp(f, "vcpu.current") == 0) {
            out->vcpus_online = (int32_t)v;
        } else if ((rest = indexed(f, "vcpu.")) && strcmp(rest, "time") == 0) {
            out->cpu_time_ns += v;
            vcpu_times = true;
        } else if (strcmp(f, "balloon.current") == 0) {
            out->balloon_mib = (double)v / 1024;
            out->has_balloon = true;
        } else if (strcmp(f, "balloon.available") == 0) {
            out->guest_total_mib = (double)v / 1024;
            out->has_guest_mem = true;
        } else if (strcmp(f, "balloon.last-update") == 0) {
            out->guest_stats_wall_s = (int64_t)v;
        } else if (strcmp(f, "balloon.usable") == 0) {
            out->guest_usable_mib = (double)v / 1024;
        } else if (strcmp(f, "balloon.unused") == 0) {
            out->guest_free_mib = (double)v / 1024;
        } else if (strcmp(f, "balloon.rss") == 0) {
            out->rss_mib = (double)v / 1024;
        } else if ((rest = indexed(f, "net."))) {
            out->has_net = true;
            if (strcmp(rest, "rx.bytes") == 0)
                out->net_rx_bytes += v;
            else if (strcmp(rest, "tx.bytes") == 0)
                out->net_tx_bytes += v;
            else if (strcmp(rest, "rx.pkts") == 0)
                out->net_rx_pkts += v;
            else if (strcmp(rest, "tx.pkts") == 0)
                out->net_tx_pkts += v;
        } else if ((rest = indexed(f, "block."))) {
            out->has_blk = true;
            if (strcmp(rest, "rd.reqs") == 0)
                out->blk_rd_reqs += v;
            else if (strcmp(rest, "wr.reqs") == 0)
                out->blk_wr_reqs += v;
            else if (strcmp(rest, "rd.bytes") == 0)
                out->blk_rd_bytes += v;
            else if (strcmp(rest, "wr.bytes") == 0)
                out->blk_wr_bytes += v;
        }
    }
    if (!vcpu_times)
        out->cpu_time_ns = out->cpu_total_ns;
}

bool lv_guest_event_is_switchover(int event, int detail)
{
    return event == VIR_DOMAIN_EVENT_SUSPENDED && (detail == VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED ||
                                                   detail == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY);
}

bool lv_guest_event_map(int event, int detail, enum drv_hv_event_type *type, const char **reason)
{
    /* a rename undefines the old name and defines the new one: the
     * domain, its uuid and its state go on (driver/libvirt/rename.c) */
    if ((event == VIR_DOMAIN_EVENT_UNDEFINED && detail == VIR_DOMAIN_EVENT_UNDEFINED_RENAMED) ||
        (event == VIR_DOMAIN_EVENT_DEFINED && detail == VIR_DOMAIN_EVENT_DEFINED_RENAMED))
        return false;
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED:
        *type = DRV_HV_EVENT_DEFINED;
        *reason = detail == VIR_DOMAIN_EVENT_DEFINED_UPDATED ? "updated" : "added";
        return true;
    case VIR_DOMAIN_EVENT_UNDEFINED:
        *type = DRV_HV_EVENT_UNDEFINED;
        *reason = "removed";
        return true;
    case VIR_DOMAIN_EVENT_STARTED:
        *type = DRV_HV_EVENT_STARTED;
        *reason = detail == VIR_DOMAIN_EVENT_STARTED_RESTORED   ? "restored"
                  : detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED ? "migrated"
                  : detail == VIR_DOMAIN_EVENT_STARTED_WAKEUP   ? "wakeup"
                                                                : "booted";
        return true;
    case VIR_DOMAIN_EVENT_SUSPENDED:
        *type = DRV_HV_EVENT_PAUSED;
        *reason = detail == VIR_DOMAIN_EVENT_SUSPENDED_IOERROR     ? "ioerror"
                  : detail == VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG  ? "watchdog"
                  : detail == VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR ? "api-error"
                  : detail == VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED  ? "migrated"
                  : detail == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY  ? "post-copy"
                                                                   : "paused";
        return true;
    case VIR_DOMAIN_EVENT_RESUMED:
        *type = DRV_HV_EVENT_RESUMED;
        *reason = "unpaused";
        return true;
    case VIR_DOMAIN_EVENT_STOPPED:
        *type = detail == VIR_DOMAIN_EVENT_STOPPED_SAVED ? DRV_HV_EVENT_SUSPENDED
                                                         : DRV_HV_EVENT_STOPPED;
        *reason = detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN    ? "shutdown"
                  : detail == VIR_DOMAIN_EVENT_STOPPED_DESTROYED ? "destroyed"
                  : detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED   ? "crashed"
                  : detail == VIR_DOMAIN_EVENT_STOPPED_SAVED     ? "saved"
                  : detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED  ? "migrated"
                  : detail == VIR_DOMAIN_EVENT_STOPPED_FAILED    ? "failed"
                                                                 : "stopped";
        return true;
    case VIR_DOMAIN_EVENT_CRASHED:
        *type = DRV_HV_EVENT_CRASHED;
        *reason = "panicked";
        return true;
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
        *type = DRV_HV_EVENT_SUSPENDED;
        *reason = "pmsuspended";
        return true;
    default:
        return false; /* SHUTDOWN (in progress): STOPPED follows */
    }
}
