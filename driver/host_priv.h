/* Building a drv_host: the two readers (capabilities XML, description)
 * collect raw CPUs, nodes and L3 banks into a builder; drv_host_build()
 * checks them, orders CPUs, applies the operator's reservations and
 * computes capacity, the same way for both. */
#ifndef SC_DRIVER_HOST_PRIV_H
#define SC_DRIVER_HOST_PRIV_H

#include "driver/host.h"

struct drv_host_raw_cpu {
    int32_t id;
    int32_t node_id;  /* NUMA node id (not index) */
    int32_t socket;   /* -1: unknown */
    int32_t die;      /* -1: unknown */
    int32_t core;     /* -1: unknown (derived from siblings or id) */
    int32_t sibling0; /* lowest id of its SMT siblings, -1: unknown */
};

struct drv_host_raw_node {
    int32_t id;
    double mem_mib; /* < 0: not given */
};

struct drv_host_raw_l3 {
    int32_t id;
    struct drv_cpuset cpus;
};

struct drv_host_builder {
    struct drv_host_raw_cpu *cpus;
    int32_t ncpus, cap_cpus;
    struct drv_host_raw_node *nodes;
    int32_t nnodes, cap_nodes;
    struct drv_host_raw_l3 *l3;
    int32_t nl3, cap_l3;
    struct drv_host_limits limits;
    const char *source;
};

void drv_host_builder_init(struct drv_host_builder *b, const struct drv_host_limits *limits,
                           const char *source);
void drv_host_builder_release(struct drv_host_builder *b);
int drv_host_builder_add_node(struct drv_host_builder *b, int32_t id, double mem_mib,
                              struct err **err);
int drv_host_builder_add_cpu(struct drv_host_builder *b, const struct drv_host_raw_cpu *c,
                             struct err **err);
void drv_host_builder_add_l3(struct drv_host_builder *b, int32_t id, const struct drv_cpuset *cpus);

/* Check, order, reserve, total up.  Returns the host (caller frees) or NULL
 * with *err. */
struct drv_host *drv_host_build(struct drv_host_builder *b, struct err **err);

struct drv_host *drv_host_parse_capabilities(const char *xml, const struct drv_host_limits *lim,
                                             struct err **err);
struct drv_host *drv_host_parse_description(const char *text, const struct drv_host_limits *lim,
                                            struct err **err);

#endif
