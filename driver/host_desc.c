/* A host description -> drv_host: key=value pairs separated by commas or
 * newlines, `#` starts a comment.  A symmetric machine is built from it,
 * CPUs numbered as Linux numbers them on x86 (the first thread of every
 * core first, then the second threads: siblings are N apart).
 *
 *   cpus      logical CPUs (required)
 *   mem_gib   or mem_mib: memory (required)
 *   sockets   default 1
 *   nodes     NUMA nodes, a multiple of sockets (default: one per socket)
 *   threads   SMT threads per core, default 1
 *   l3        L3 domains per NUMA node, default 1
 *   nic_mbps, disk_read_iops, disk_write_iops, disk_read_mbps,
 *   disk_write_mbps, disk_gb, reserved_cpus, reserved_mem_mib,
 *   cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio,
 *   net_allocation_ratio, disk_io_allocation_ratio: override the limits.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "driver/host_priv.h"

struct drv_desc {
    double cpus, mem_mib, sockets, nodes, threads, l3;
    struct drv_host_limits lim;
};

static char *drv_desc_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Where a key's value goes; NULL when the key is unknown. */
static double *drv_desc_slot(struct drv_desc *d, const char *key, double *scale)
{
    struct {
        const char *key;
        double *slot;
        double scale;
    } keys[] = {
        {"cpus", &d->cpus, 1},
        {"mem_mib", &d->mem_mib, 1},
        {"mem_gib", &d->mem_mib, 1024},
        {"sockets", &d->sockets, 1},
        {"nodes", &d->nodes, 1},
        {"threads", &d->threads, 1},
        {"l3", &d->l3, 1},
        {"nic_mbps", &d->lim.nic_mbps, 1},
        {"disk_read_iops", &d->lim.disk_read_iops, 1},
        {"disk_write_iops", &d->lim.disk_write_iops, 1},
        {"disk_read_mbps", &d->lim.disk_read_mbps, 1},
        {"disk_write_mbps", &d->lim.disk_write_mbps, 1},
        {"disk_gb", &d->lim.disk_gb, 1},
        {"reserved_mem_mib", &d->lim.reserved_mem_mib, 1},
        {"cpu_allocation_ratio", &d->lim.ratio[DRV_RES_VCPU], 1},
        {"ram_allocation_ratio", &d->lim.ratio[DRV_RES_MEM_MIB], 1},
        {"disk_allocation_ratio", &d->lim.disk_gb_ratio, 1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (strcmp(keys[i].key, key) == 0) {
            *scale = keys[i].scale;
            return keys[i].slot;
        }
    }
    return NULL;
}

static int drv_desc_number(const char *key, const char *val, double *out, struct err **err)
{
    char *end;
    errno = 0;
    double x = strtod(val, &end);
    if (end == val || *end || errno || !isfinite(x) || x < 0 || x > DRV_RES_MAX)
        return err_set(err, ERR_INVALID, "host description: `%s` is not a valid value for `%s`",
                       val, key);
    *out = x;
    return 0;
}

/* The keys that set several limits at once or an integer; false when `key`
 * is not one of them. */
static bool drv_desc_special(struct drv_desc *d, const char *key, double x, bool apply)
{
    if (strcmp(key, "reserved_cpus") == 0) {
        if (apply)
            d->lim.reserved_cpus = (int32_t)fmin(x, DRV_CPUSET_MAX);
    } else if (strcmp(key, "net_allocation_ratio") == 0) {
        if (apply)
            d->lim.ratio[DRV_RES_NET_IN_MBPS] = d->lim.ratio[DRV_RES_NET_OUT_MBPS] = x;
    } else if (strcmp(key, "disk_io_allocation_ratio") == 0) {
        for (int k = DRV_RES_DISK_READ_IOPS; apply && k <= DRV_RES_DISK_WRITE_MBPS; k++)
            d->lim.ratio[k] = x;
    } else {
        return false;
    }
    return true;
}

static int drv_desc_read(struct drv_desc *d, const char *text, struct err **err)
{
    autofree char *copy = xstrdup(text);
    char *save = NULL;
    bool seen_mem = false;

    /* comments first, so a `#` inside a comma list ends that line only */
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save2 = NULL;
        for (char *tok = strtok_r(line, ",", &save2); tok; tok = strtok_r(NULL, ",", &save2)) {
            tok = drv_desc_trim(tok);
            if (!*tok)
                continue;
            char *eq = strchr(tok, '=');
            if (!eq)
                return err_set(err, ERR_INVALID, "host description: expected `key=value`, got `%s`",
                               tok);
            *eq = '\0';
            char *key = drv_desc_trim(tok), *val = drv_desc_trim(eq + 1);
            double x = 0, scale = 1;
            double *slot = drv_desc_slot(d, key, &scale);
            if (!slot && !drv_desc_special(d, key, 0, false))
                return err_set(err, ERR_INVALID, "host description: unknown key `%s`", key);
            if (drv_desc_number(key, val, &x, err) < 0)
                return -1;
            if (!slot) {
                drv_desc_special(d, key, x, true);
                continue;
            }
            if (slot == &d->mem_mib) {
                if (seen_mem)
                    return err_set(err, ERR_INVALID, "host description: memory given twice (`%s`)",
                                   key);
                seen_mem = true;
            }
            *slot = x * scale;
        }
    }
    return 0;
}

static bool drv_desc_whole(double x, double lo, double hi)
{
    return x >= lo && x <= hi && x == floor(x);
}

struct drv_host *drv_host_parse_description(const char *text, const struct drv_host_limits *lim,
                                            struct err **err)
{
    struct drv_desc d = {
        .cpus = 0, .mem_mib = 0, .sockets = 1, .nodes = 0, .threads = 1, .l3 = 1, .lim = *lim};
    if (drv_desc_read(&d, text, err) < 0)
        return NULL;
    if (d.nodes == 0)
        d.nodes = d.sockets;
    if (!drv_desc_whole(d.cpus, 1, DRV_CPUSET_MAX)) {
        err_set(err, ERR_INVALID, "host description: `cpus` must be 1 to %d (got %g)",
                DRV_CPUSET_MAX, d.cpus);
        return NULL;
    }
    if (!(d.mem_mib > 0)) {
        err_set(err, ERR_INVALID, "host description: `mem_gib` or `mem_mib` is required");
        return NULL;
    }
    if (!drv_desc_whole(d.sockets, 1, d.cpus) || !drv_desc_whole(d.nodes, 1, d.cpus) ||
        !drv_desc_whole(d.threads, 1, 8) || !drv_desc_whole(d.l3, 1, d.cpus)) {
        err_set(err, ERR_INVALID,
                "host description: sockets, nodes, threads and l3 must be "
                "whole numbers (threads at most 8)");
        return NULL;
    }
    int32_t cpus = (int32_t)d.cpus, nodes = (int32_t)d.nodes, sockets = (int32_t)d.sockets;
    int32_t threads = (int32_t)d.threads, l3 = (int32_t)d.l3;
    if (nodes % sockets || cpus % (threads * nodes) || (cpus / threads / nodes) % l3) {
        err_set(err, ERR_INVALID,
                "host description: %d CPUs do not split evenly into %d socket(s), %d node(s), "
                "%d thread(s) per core and %d L3 domain(s) per node",
                cpus, sockets, nodes, threads, l3);
        return NULL;
    }
    int32_t cores = cpus / threads, cores_per_node = cores / nodes;
    int32_t cores_per_l3 = cores_per_node / l3, nodes_per_socket = nodes / sockets;

    struct drv_host_builder b;
    drv_host_builder_init(&b, &d.lim, "description");
    struct drv_host *h = NULL;
    for (int32_t n = 0; n < nodes; n++)
        if (drv_host_builder_add_node(&b, n, d.mem_mib / nodes, err) < 0)
            goto cleanup;
    for (int32_t g = 0; g < cores; g++) {
        int32_t node = g / cores_per_node;
        for (int32_t t = 0; t < threads; t++) {
            struct drv_host_raw_cpu c = {
                .id = t * cores + g,
                .node_id = node,
                .socket = node / nodes_per_socket,
                .die = 0,
                .core = g,
                .sibling0 = g,
            };
            if (drv_host_builder_add_cpu(&b, &c, err) < 0)
                goto cleanup;
        }
    }
    for (int32_t dom = 0; dom < nodes * l3; dom++) {
        struct drv_cpuset s;
        drv_cpuset_clear(&s);
        for (int32_t g = dom * cores_per_l3; g < (dom + 1) * cores_per_l3; g++)
            for (int32_t t = 0; t < threads; t++)
                drv_cpuset_set(&s, t * cores + g);
        drv_host_builder_add_l3(&b, dom, &s);
    }
    h = drv_host_build(&b, err);
cleanup:
    drv_host_builder_release(&b);
    return h;
}
