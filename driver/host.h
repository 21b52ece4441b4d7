/* The host a sculpt engine places guests on: its CPU topology (sockets,
 * NUMA nodes, cores and their SMT siblings, L3 domains), memory per NUMA
 * node, NIC bandwidth and disk I/O, less what the operator keeps for the
 * host itself, and the overcommit ceilings per resource.
 *
 * Read from libvirt's capabilities XML (what the libvirt backend returns)
 * or from a description ("cpus=32,mem_gib=256,sockets=2,threads=2", one
 * key=value per line or comma-separated: the fake backend and
 * sculpt-replay).  Both go through drv_host_parse(), which tells them
 * apart.  Capabilities carry no NIC or disk figures; those come from
 * [host] in sculpt.conf (struct drv_host_limits).
 *
 * A drv_host is immutable once built: share it read-only between threads.
 */
#ifndef SC_DRIVER_HOST_H
#define SC_DRIVER_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/resource.h"
#include "driver/shape.h"

struct cfg;
struct err;

/* What the topology source does not say, and what the operator reserves.
 * Filled from sculpt.conf by drv_host_limits_from_cfg(). */
struct drv_host_limits {
    int32_t reserved_cpus;      /* host CPUs kept back, lowest-numbered first */
    double reserved_mem_mib;    /* memory kept back, taken from the nodes in proportion */
    double reserved_disk_gb;    /* local disk kept back */
    double nic_mbps;            /* NIC bandwidth per direction, Mbit/s */
    double disk_read_iops;      /* disk read operations/s */
    double disk_write_iops;     /* disk write operations/s */
    double disk_read_mbps;      /* disk read throughput, MB/s */
    double disk_write_mbps;     /* disk write throughput, MB/s */
    double disk_gb;             /* local disk for guests, GB (Placement DISK_GB) */
    double ratio[DRV_RES_LAST]; /* overcommit ceiling per dimension */
    double disk_gb_ratio;       /* overcommit ceiling of DISK_GB */
    double mem_mib;             /* host memory (libvirt's node info: the kernel's
                                 * MemTotal); the nodes' own figures are scaled to
                                 * add up to it, or it is split evenly when the
                                 * source gives none per node; 0: unknown */
};

/* One logical CPU (a hardware thread). */
struct drv_host_cpu {
    int32_t id;     /* OS CPU number, as libvirt and cpusets name it */
    int32_t node;   /* index into drv_host.nodes */
    int32_t socket; /* socket id (0 when the source does not say) */
    int32_t core;   /* core id within the socket; SMT siblings share it */
    int32_t l3;     /* index into drv_host.l3, -1 when unknown */
    bool reserved;  /* kept for the host: never given to guests */
};

struct drv_host_node {
    int32_t id;             /* NUMA node id as libvirt names it */
    double mem_mib;         /* memory of the node */
    double mem_usable_mib;  /* less its share of the reserved memory */
    int32_t ncpus_usable;   /* CPUs of the node guests may use */
    struct drv_cpuset cpus; /* every CPU of the node */
};

struct drv_host_l3 {
    int32_t id;             /* cache bank id */
    struct drv_cpuset cpus; /* CPUs sharing this last-level cache */
};

struct drv_host {
    int32_t ncpus;
    struct drv_host_cpu *cpus; /* owned; in topology order: node, L3, socket,
                                * core, then SMT thread -- so siblings are
                                * adjacent and "contiguous" means adjacent here */
    int32_t nnodes;
    struct drv_host_node *nodes; /* owned, by node id */
    int32_t nl3;
    struct drv_host_l3 *l3; /* owned; empty when the source has no cache info */
    int32_t nsockets;
    int32_t ncores;           /* physical cores (distinct socket/core pairs) */
    int32_t threads_per_core; /* largest number of SMT siblings of a core */
    struct drv_cpuset usable; /* CPUs guests may run on */
    struct drv_res capacity;  /* physical capacity for guests: usable CPUs,
                               * usable MiB, NIC, disk I/O */
    struct drv_res ratio;     /* overcommit ceiling per dimension */
    double disk_gb;           /* local disk for guests, GB */
    double disk_reserved_gb;
    double disk_gb_ratio;
    int32_t id_max;       /* largest CPU id */
    int32_t *index_by_id; /* owned: [id_max + 1], CPU id -> index into cpus, -1 */
    char source[32];      /* "capabilities" or "description" */
};

/* Limits from [DEFAULT] reserved_host_* and *_allocation_ratio, and [host]. */
void drv_host_limits_from_cfg(const struct cfg *cfg, struct drv_host_limits *out);

/* Limits with no reservation, ratio 1.0 everywhere and generous NIC/disk
 * figures: what a bare description means when no config is given. */
void drv_host_limits_default(struct drv_host_limits *out);

/* Build a host from `text`: libvirt capabilities XML when it starts with
 * '<', else a description.  `limits` fills what the source does not give;
 * a description's own keys (nic_mbps=...) win over it.  Returns a host the
 * caller frees with drv_host_free(), or NULL with *err (ERR_INVALID) saying
 * what is wrong (unknown key, no CPU, a CPU in two nodes, more than
 * DRV_CPUSET_MAX CPUs, every CPU reserved...). */
struct drv_host *drv_host_parse(const char *text, const struct drv_host_limits *limits,
                                struct err **err);

/* The same, reading `path`.  Errors name the file. */
struct drv_host *drv_host_load(const char *path, const struct drv_host_limits *limits,
                               struct err **err);

void drv_host_free(struct drv_host *h);
DEFINE_AUTOPTR(drv_host)

/* A deep copy; caller frees. */
struct drv_host *drv_host_dup(const struct drv_host *h);

/* Index into h->cpus of the CPU with OS number `id`, or -1. */
int32_t drv_host_cpu_index(const struct drv_host *h, int32_t id);

/* How contiguous a set of CPUs is, in [0, 1]: 1 when it is one run of
 * adjacent CPUs (in topology order) inside one L3 domain and one NUMA
 * node; each extra run, L3 domain or node lowers it.  An empty set scores
 * 1 (an unpinned guest has nothing to scatter). */
double drv_host_contiguity(const struct drv_host *h, const struct drv_cpuset *set);

/* One line for logs: "2 sockets, 2 nodes, 24 cores, 48 CPUs (2 reserved),
 * 2 L3, 96000 MiB usable". */
char *drv_host_describe(const struct drv_host *h, char *buf, int size);

#endif
