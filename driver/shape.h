/* A guest's shape: the concrete resources the engine gives it now and the
 * hypervisor backend enforces.  The fractional entitlement is a drv_res; the
 * rest says where it lands on the host and how a hypervisor expresses it.
 *
 * Shared by the engine (which computes shapes), the backends (which apply
 * them live), the database (which records every change) and the API.
 */
#ifndef SC_DRIVER_SHAPE_H
#define SC_DRIVER_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "driver/resource.h"

struct err;

/* Host CPUs a guest may run on, as a bitmap (1024 CPUs is above any host
 * sculpt targets; more is refused where the topology is read). */
#define DRV_CPUSET_MAX 1024
struct drv_cpuset {
    uint64_t bits[DRV_CPUSET_MAX / 64];
};

void drv_cpuset_clear(struct drv_cpuset *s);
void drv_cpuset_set(struct drv_cpuset *s, int cpu);
void drv_cpuset_unset(struct drv_cpuset *s, int cpu);
bool drv_cpuset_has(const struct drv_cpuset *s, int cpu);
int drv_cpuset_count(const struct drv_cpuset *s);
bool drv_cpuset_equal(const struct drv_cpuset *a, const struct drv_cpuset *b);
/* "0-3,8,10-11" (libvirt's cpuset syntax); "" when empty.  Returns buf. */
char *drv_cpuset_format(const struct drv_cpuset *s, char *buf, int size);
/* Parse the same syntax.  Returns 0 or -1 with *err. */
int drv_cpuset_parse(const char *text, struct drv_cpuset *out, struct err **err);

struct drv_shape {
    struct drv_res res;      /* the entitlement: 1.35 vCPU, 1536 MiB, ... */
    int32_t vcpus_online;    /* vCPUs online in the guest: ceil(res.vcpu) */
    int32_t vcpus_max;       /* defined maximum: room to grow without restart */
    double mem_max_mib;      /* defined maximum memory; res.mem_mib is the balloon target */
    struct drv_cpuset pcpus; /* host CPUs the vCPUs may run on (empty: anywhere) */
    int32_t numa_node;       /* host NUMA node for memory, -1: none */
    uint32_t cpu_weight;     /* CFS weight under CPU contention, in cgroup v2 cpu.weight
                              * units (100: the default cgroup); 0: 100 per vCPU of
                              * res.vcpu (priority 0) */
};

/* cgroup v2's bounds on cpu.weight. */
#define DRV_SHAPE_WEIGHT_MIN 1
#define DRV_SHAPE_WEIGHT_MAX 10000

/* The weight for an entitlement at a priority: 100 per vCPU, so that under
 * contention guests of one priority share the host's CPUs in proportion
 * to what they are entitled to, doubled for every 100 of priority above 0
 * and halved for every 100 below, within [DRV_SHAPE_WEIGHT_MIN,
 * DRV_SHAPE_WEIGHT_MAX]. */
uint32_t drv_shape_weight_for(double vcpu, int32_t priority);

/* The weight a shape asks for: cpu_weight when set, else
 * drv_shape_weight_for(res.vcpu, 0). */
uint32_t drv_shape_cpu_weight(const struct drv_shape *s);

/* The CFS quota per vCPU that enforces res.vcpu spread over vcpus_online
 * vCPUs, for a period in microseconds; -1 (no limit) when the entitlement
 * covers every online vCPU fully. */
int64_t drv_shape_vcpu_quota_us(const struct drv_shape *s, int64_t period_us);

/* Consistency of a shape: res valid, 1 <= vcpus_online <= vcpus_max,
 * res.vcpu <= vcpus_online, res.mem_mib <= mem_max_mib.  Returns 0 or -1
 * with *err naming what is wrong. */
int drv_shape_validate(const struct drv_shape *s, struct err **err);

#endif
