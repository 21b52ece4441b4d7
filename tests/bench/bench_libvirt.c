/* bench-libvirt: live reshape through sculpt's libvirt backend against the
 * same knobs set by bare libvirt calls (the floor sculpt stands on), and
 * the cold alternative (stop, redefine, start: what a Nova resize does),
 * all on one tiny real guest in one run.
 *
 *   bench_libvirt URI INSTANCES_DIR GUEST_DIR [ROUNDS] [VIRT_TYPE]
 *
 * A full reshape flips every knob that moves both ways live (quota and
 * shares, pinning, balloon, bandwidth, I/O tune) between two shapes; vCPU
 * hot-add is timed on its own (under TCG it only grows).  Sculpt and bare
 * libvirt run in alternating blocks so both see the same host noise; each
 * bare block has an even length, so it ends on the shape sculpt last set
 * and sculpt's record of the knobs stays true.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "driver/hypervisor.h"
#include "helpers/console_log.h"

#define MAXS 512

/* A fresh uuid per run: tap names are host-wide and runs may overlap. */
static char UUID[UUID_STR_LEN];

static void die(const char *what, struct err *e)
{
    fprintf(stderr, "bench_libvirt: %s: %s\n", what, e ? e->msg : virGetLastErrorMessage());
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i];
}

/* The two shapes a full reshape flips between (4 vCPUs online). */
static struct drv_shape shape_ab(int which)
{
    struct drv_shape s = {.vcpus_online = 4, .vcpus_max = 4, .mem_max_mib = 512, .numa_node = -1};
    double *r = s.res.v;
    r[DRV_RES_VCPU] = which ? 3.0 : 1.5;
    r[DRV_RES_MEM_MIB] = which ? 320 : 256;
    r[DRV_RES_NET_IN_MBPS] = which ? 40 : 10;
    r[DRV_RES_NET_OUT_MBPS] = which ? 60 : 20;
    r[DRV_RES_DISK_READ_IOPS] = which ? 400 : 200;
    r[DRV_RES_DISK_WRITE_IOPS] = which ? 300 : 100;
    r[DRV_RES_DISK_WRITE_MBPS] = which ? 10 : 5;
    drv_cpuset_set(&s.pcpus, which ? 1 : 0);
    return s;
}

/* ---- the same knobs by bare libvirt calls ---- */

enum { RAW_QUOTA, RAW_PIN, RAW_BALLOON, RAW_NET, RAW_DISK, RAW_LAST };
static const char *const raw_names[RAW_LAST] = {"quota", "pin", "balloon", "net", "disk"};

static double raw_full(virDomainPtr dom, const char *tap, int host_cpus, int which,
                       double knob_ms[RAW_LAST])
{
    struct drv_shape s = shape_ab(which);
    const double *r = s.res.v;
    int64_t t0 = clock_mono_ns(), t;
    virTypedParameterPtr p = NULL;
    int n = 0, max = 0;

    t = clock_mono_ns();
    virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_SCHEDULER_CPU_SHARES,
                            (unsigned long long)llround(r[DRV_RES_VCPU] * 1024));
    virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, 100000);
    virTypedParamsAddLLong(&p, &n, &max, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA,
                           llround(r[DRV_RES_VCPU] / s.vcpus_online * 100000));
    if (virDomainSetSchedulerParametersFlags(dom, p, n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        die("raw sched", NULL);
    virTypedParamsFree(p, n);
    knob_ms[RAW_QUOTA] = (double)(clock_mono_ns() - t) / 1e6;

    t = clock_mono_ns();
    unsigned char map[VIR_CPU_MAPLEN(64)];
    memset(map, 0, sizeof(map));
    VIR_USE_CPU(map, which ? 1 : 0);
    for (int v = 0; v < s.vcpus_online; v++)
        if (virDomainPinVcpuFlags(dom, (unsigned)v, map, VIR_CPU_MAPLEN(host_cpus),
                                  VIR_DOMAIN_AFFECT_CURRENT) < 0)
            die("raw pin", NULL);
    if (virDomainPinEmulator(dom, map, VIR_CPU_MAPLEN(host_cpus), VIR_DOMAIN_AFFECT_CURRENT) < 0)
        die("raw emulator pin", NULL);
    knob_ms[RAW_PIN] = (double)(clock_mono_ns() - t) / 1e6;

    t = clock_mono_ns();
    if (virDomainSetMemoryFlags(dom, (unsigned long)llround(r[DRV_RES_MEM_MIB] * 1024),
                                VIR_DOMAIN_AFFECT_CURRENT) < 0)
        die("raw balloon", NULL);
    knob_ms[RAW_BALLOON] = (double)(clock_mono_ns() - t) / 1e6;

    t = clock_mono_ns();
    p = NULL, n = 0, max = 0;
    unsigned in = (unsigned)llround(r[DRV_RES_NET_IN_MBPS] * 125);
    unsigned out = (unsigned)llround(r[DRV_RES_NET_OUT_MBPS] * 125);
    virTypedParamsAddUInt(&p, &n, &max, VIR_DOMAIN_BANDWIDTH_IN_AVERAGE, in);
    virTypedParamsAddUInt(&p, &n, &max, VIR_DOMAIN_BANDWIDTH_IN_BURST, in / 8 < 32 ? 32 : in / 8);
    virTypedParamsAddUInt(&p, &n, &max, VIR_DOMAIN_BANDWIDTH_OUT_AVERAGE, out);
    virTypedParamsAddUInt(&p, &n, &max, VIR_DOMAIN_BANDWIDTH_OUT_BURST,
                          out / 8 < 32 ? 32 : out / 8);
    if (virDomainSetInterfaceParameters(dom, tap, p, n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        die("raw bandwidth", NULL);
    virTypedParamsFree(p, n);
    knob_ms[RAW_NET] = (double)(clock_mono_ns() - t) / 1e6;

    t = clock_mono_ns();
    p = NULL, n = 0, max = 0;
    virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_BLOCK_IOTUNE_READ_IOPS_SEC,
                            (unsigned long long)r[DRV_RES_DISK_READ_IOPS]);
    virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_BLOCK_IOTUNE_WRITE_IOPS_SEC,
                            (unsigned long long)r[DRV_RES_DISK_WRITE_IOPS]);
    virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_BLOCK_IOTUNE_READ_BYTES_SEC, 0);
    virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_BLOCK_IOTUNE_WRITE_BYTES_SEC,
                            (unsigned long long)llround(r[DRV_RES_DISK_WRITE_MBPS] * 1e6));
    if (virDomainSetBlockIoTune(dom, "vda", p, n, VIR_DOMAIN_AFFECT_CURRENT) < 0)
        die("raw iotune", NULL);
    virTypedParamsFree(p, n);
    knob_ms[RAW_DISK] = (double)(clock_mono_ns() - t) / 1e6;
    return (double)(clock_mono_ns() - t0) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_libvirt URI INSTANCES_DIR GUEST_DIR [ROUNDS] [VIRT_TYPE]\n");
        return 2;
    }
    const char *uri = argv[1], *inst = argv[2], *guest = argv[3];
    int rounds = argc > 4 ? atoi(argv[4]) : 30;
    const char *vt = argc > 5 ? argv[5] : "qemu";
    int per_block = 2; /* even: a bare block ends where it began */
    struct err *err = NULL;
    if (uuid_generate(UUID, &err) < 0)
        die("uuid", err);

    struct cfg *cfg = cfg_new_defaults();
    if (cfg_set(cfg, "DEFAULT", "log_level", "warning", &err) < 0 ||
        cfg_set(cfg, "libvirt", "connection_uri", uri, &err) < 0 ||
        cfg_set(cfg, "libvirt", "instances_path", inst, &err) < 0 ||
        cfg_set(cfg, "libvirt", "virt_type", vt, &err) < 0 ||
        cfg_set(cfg, "libvirt", "max_vcpus", "4", &err) < 0)
        die("config", err);
    log_setup(LOG_LEVEL_WARN, "stderr", false, NULL);
    struct drv_hv *hv = drv_hv_open("libvirt", cfg, &err);
    if (!hv)
        die("open", err);
    struct drv_hv_host host;
    if (drv_hv_host_info(hv, &host, &err) < 0)
        die("host", err);

    /* the tiny guest, 1 vCPU online of 4 */
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", UUID);
    autofree char *kernel = xasprintf("%s/vmlinuz", guest);
    autofree char *initrd = xasprintf("%s/initrd.gz", guest);
    autofree char *disk = xasprintf("%s/base.qcow2", guest);
    spec.image.kernel = kernel;
    spec.image.initrd = initrd;
    spec.image.disk_base = disk;
    spec.image.cmdline = (char *)"console=ttyS0 panic=-1 quiet loglevel=4";
    spec.nvifs = 1;
    spec.shape = shape_ab(0);
    spec.shape.vcpus_online = 1;
    spec.shape.res.v[DRV_RES_VCPU] = 1;
    if (drv_hv_spawn(hv, &spec, &err) < 0)
        die("spawn", err);
    autofree char *log = xasprintf("%s/%s/console.log", inst, UUID);
    /* boots are bounded at 600 s: under TCG on this shared 2-core machine
     * one took 48 s at load 18, and a 3-vCPU one after a cold resize
     * did not end within the 180 s this waited before */
    int64_t boot_ms = console_log_wait("bench_libvirt", log, "GUEST-INIT-READY", 1, 600);
    printf("guest booted in %lld ms (%s)\n", (long long)boot_ms, host.virt_type);

    /* vCPU hot-add 1 -> 2 -> 3 -> 4, with the quota spread over them */
    double hotadd[8], hotadd_raw_n = 0;
    int nh = 0;
    for (int online = 2; online <= 4; online++) {
        struct drv_shape s = shape_ab(0);
        s.vcpus_online = online;
        s.res.v[DRV_RES_VCPU] = 1.5 < online ? 1.5 : online;
        struct drv_hv_reshape_report rep;
        if (drv_hv_reshape(hv, UUID, &s, &rep, &err) < 0)
            die("hot-add", err);
        hotadd[nh++] = (double)rep.knob_ns[DRV_HV_KNOB_VCPUS] / 1e6;
    }
    (void)hotadd_raw_n;
    console_log_wait("bench_libvirt", log, "cpus_online=0-3 ", 1, 60);

    virConnectPtr conn = virConnectOpen(uri);
    virDomainPtr dom = conn ? virDomainLookupByUUIDString(conn, UUID) : NULL;
    if (!dom)
        die("bare libvirt connection", NULL);
    struct drv_hv_guest_spec got;
    if (drv_hv_get_spec(hv, UUID, &got, &err) < 0)
        die("spec", err);
    char tap[DRV_HV_TAP_MAX + 1];
    snprintf(tap, sizeof(tap), "%s", got.vifs[0].tap);
    drv_hv_guest_spec_release(&got);
    struct drv_hv_info info0;
    if (drv_hv_get_info(hv, UUID, &info0, &err) < 0)
        die("info", err);

    static double full[MAXS], raw[MAXS], knob[DRV_HV_KNOB_LAST][MAXS], rknob[RAW_LAST][MAXS];
    int nf = 0, nr = 0, calls = 0;
    int which = 0; /* the shape in force: shape_ab(0) */
    for (int b = 0; b < rounds && nf + per_block <= MAXS; b++) {
        for (int i = 0; i < per_block; i++) {
            which = !which;
            struct drv_shape s = shape_ab(which);
            struct drv_hv_reshape_report rep;
            if (drv_hv_reshape(hv, UUID, &s, &rep, &err) < 0)
                die("reshape", err);
            full[nf] = (double)rep.total_ns / 1e6;
            for (int k = 0; k < DRV_HV_KNOB_LAST; k++)
                knob[k][nf] = (double)rep.knob_ns[k] / 1e6;
            nf++;
            calls = rep.calls;
        }
        for (int i = 0; i < per_block; i++) {
            double km[RAW_LAST];
            raw[nr] = raw_full(dom, tap, host.cpus, i % 2 ? which : !which, km);
            for (int k = 0; k < RAW_LAST; k++)
                rknob[k][nr] = km[k];
            nr++;
        }
    }

    /* the guest never restarted */
    struct drv_hv_info info1;
    if (drv_hv_get_info(hv, UUID, &info1, &err) < 0)
        die("info", err);
    int restarts = console_log_count(log, "GUEST-INIT-READY") - 1 + (info1.domain_id != info0.domain_id);

    /* the cold alternative: stop, redefine, start (twice) */
    double cold[2], cold_ready[2];
    for (int i = 0; i < 2; i++) {
        int boots = console_log_count(log, "GUEST-INIT-READY");
        struct drv_shape s = shape_ab(i % 2);
        s.vcpus_max = 3 + i % 2;
        s.vcpus_online = 3;
        int64_t t0 = clock_mono_ns();
        if (drv_hv_resize_cold(hv, UUID, &s, &err) < 0)
            die("cold resize", err);
        cold[i] = (double)(clock_mono_ns() - t0) / 1e6;
        console_log_wait("bench_libvirt", log, "GUEST-INIT-READY", boots + 1, 600);
        cold_ready[i] = (double)(clock_mono_ns() - t0) / 1e6;
    }

    double full_p50 = pct(full, nf, 0.5), full_p95 = pct(full, nf, 0.95);
    double raw_p50 = pct(raw, nr, 0.5), raw_p95 = pct(raw, nr, 0.95);
    double cold_ms = (cold[0] + cold[1]) / 2, cold_ready_ms = (cold_ready[0] + cold_ready[1]) / 2;
    printf("full reshape: %d knobs, %d libvirt calls each; %d through sculpt, %d bare\n", 5, calls,
           nf, nr);
    printf("BENCH reshape_full_p50_ms %.2f\n", full_p50);
    printf("BENCH reshape_full_p95_ms %.2f\n", full_p95);
    printf("BENCH raw_libvirt_full_p50_ms %.2f\n", raw_p50);
    printf("BENCH raw_libvirt_full_p95_ms %.2f\n", raw_p95);
    printf("BENCH reshape_overhead_ratio %.3f\n", full_p50 / raw_p50);
    printf("BENCH cold_resize_ms %.0f\n", cold_ms);
    printf("BENCH cold_resize_guest_ready_ms %.0f\n", cold_ready_ms);
    printf("BENCH cold_vs_live_ratio %.1f\n", cold_ms / full_p50);
    printf("BENCH live_guest_restarts %d\n", restarts);
    static const int map[RAW_LAST] = {DRV_HV_KNOB_QUOTA, DRV_HV_KNOB_PIN, DRV_HV_KNOB_BALLOON,
                                      DRV_HV_KNOB_NET, DRV_HV_KNOB_DISK};
    for (int k = 0; k < RAW_LAST; k++) {
        printf("BENCH reshape_%s_p50_ms %.2f\n", raw_names[k], pct(knob[map[k]], nf, 0.5));
        printf("BENCH raw_libvirt_%s_p50_ms %.2f\n", raw_names[k], pct(rknob[k], nr, 0.5));
    }
    printf("BENCH reshape_vcpu_hotadd_p50_ms %.2f\n", pct(hotadd, nh, 0.5));

    virDomainFree(dom);
    virConnectClose(conn);
    if (drv_hv_destroy(hv, UUID, false, &err) < 0)
        die("destroy", err);
    drv_hv_close(hv);
    cfg_unref(cfg);
    log_shutdown();
    return 0;
}
