#include "driver/host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/host_priv.h"
#include "driver/module.h"

/* Size of the filesystem holding `path` (or its nearest existing parent),
 * in GB; 0 when none can be read. */
static double drv_host_fs_gb(const char *path)
{
    autofree char *p = xstrdup(path && *path ? path : "/");
    struct statvfs st;
    for (;;) {
        if (statvfs(p, &st) == 0)
            return (double)st.f_blocks * (double)st.f_frsize / 1e9;
        char *slash = strrchr(p, '/');
        if (!slash)
            return 0;
        if (slash == p) {
            if (p[1] == '\0')
                return 0;
            p[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
}

void drv_host_limits_from_cfg(const struct cfg *cfg, struct drv_host_limits *out)
{
    memset(out, 0, sizeof(*out));
    out->reserved_cpus = (int32_t)cfg->reserved_host_cpus;
    out->reserved_mem_mib = (double)cfg->reserved_host_memory_mb;
    out->reserved_disk_gb = (double)cfg->reserved_host_disk_mb / 1024.0;
    out->nic_mbps = cfg->host_nic_mbps;
    out->disk_read_iops = cfg->host_disk_read_iops;
    out->disk_write_iops = cfg->host_disk_write_iops;
    out->disk_read_mbps = cfg->host_disk_read_mbps;
    out->disk_write_mbps = cfg->host_disk_write_mbps;
    out->disk_gb = cfg->host_disk_gb > 0 ? cfg->host_disk_gb : drv_host_fs_gb(cfg->state_path);
    out->ratio[DRV_RES_VCPU] = cfg->cpu_allocation_ratio;
    out->ratio[DRV_RES_MEM_MIB] = cfg->ram_allocation_ratio;
    out->ratio[DRV_RES_NET_IN_MBPS] = cfg->net_allocation_ratio;
    out->ratio[DRV_RES_NET_OUT_MBPS] = cfg->net_allocation_ratio;
    for (int k = DRV_RES_DISK_READ_IOPS; k <= DRV_RES_DISK_WRITE_MBPS; k++)
        out->ratio[k] = cfg->disk_io_allocation_ratio;
    out->disk_gb_ratio = cfg->disk_allocation_ratio;
}

void drv_host_limits_default(struct drv_host_limits *out)
{
    memset(out, 0, sizeof(*out));
    out->nic_mbps = 10000;
    out->disk_read_iops = out->disk_write_iops = 20000;
    out->disk_read_mbps = out->disk_write_mbps = 1000;
    out->disk_gb = 1000;
    for (int k = 0; k < DRV_RES_LAST; k++)
        out->ratio[k] = 1.0;
    out->disk_gb_ratio = 1.0;
}

/* ---- builder ---- */

void drv_host_builder_init(struct drv_host_builder *b, const struct drv_host_limits *limits,
                           const char *source)
{
    memset(b, 0, sizeof(*b));
    b->limits = *limits;
    b->source = source;
}

void drv_host_builder_release(struct drv_host_builder *b)
{
    free(b->cpus);
    free(b->nodes);
    free(b->l3);
    memset(b, 0, sizeof(*b));
}

int drv_host_builder_add_node(struct drv_host_builder *b, int32_t id, double mem_mib,
                              struct err **err)
{
    if (id < 0 || id >= DRV_CPUSET_MAX)
        return err_set(err, ERR_INVALID, "NUMA node id %d out of range", id);
    for (int32_t i = 0; i < b->nnodes; i++)
        if (b->nodes[i].id == id)
            return err_set(err, ERR_INVALID, "NUMA node %d given twice", id);
    if (b->nnodes == b->cap_nodes) {
        b->cap_nodes = b->cap_nodes ? 2 * b->cap_nodes : 4;
        b->nodes = xreallocarray(b->nodes, (size_t)b->cap_nodes, sizeof(*b->nodes));
    }
    b->nodes[b->nnodes++] = (struct drv_host_raw_node){.id = id, .mem_mib = mem_mib};
    return 0;
}

int drv_host_builder_add_cpu(struct drv_host_builder *b, const struct drv_host_raw_cpu *c,
                             struct err **err)
{
    if (c->id < 0 || c->id >= DRV_CPUSET_MAX)
        return err_set(err, ERR_INVALID, "CPU id %d out of range (0 to %d)", c->id,
                       DRV_CPUSET_MAX - 1);
    for (int32_t i = 0; i < b->ncpus; i++)
        if (b->cpus[i].id == c->id)
            return err_set(err, ERR_INVALID, "CPU %d listed twice", c->id);
    if (b->ncpus == b->cap_cpus) {
        b->cap_cpus = b->cap_cpus ? 2 * b->cap_cpus : 16;
        b->cpus = xreallocarray(b->cpus, (size_t)b->cap_cpus, sizeof(*b->cpus));
    }
    b->cpus[b->ncpus++] = *c;
    return 0;
}

void drv_host_builder_add_l3(struct drv_host_builder *b, int32_t id, const struct drv_cpuset *cpus)
{
    if (b->nl3 == b->cap_l3) {
        b->cap_l3 = b->cap_l3 ? 2 * b->cap_l3 : 4;
        b->l3 = xreallocarray(b->l3, (size_t)b->cap_l3, sizeof(*b->l3));
    }
    b->l3[b->nl3].id = id;
    b->l3[b->nl3].cpus = *cpus;
    b->nl3++;
}

/* Sort keys computed once per CPU. */
struct drv_host_sortkey {
    int32_t node, l3, socket, die, core, id;
    int32_t raw; /* index into the builder's cpus */
};

static int drv_host_key_cmp(const void *pa, const void *pb)
{
    const struct drv_host_sortkey *a = pa, *b = pb;
    const int32_t ka[] = {a->node, a->l3, a->socket, a->die, a->core, a->id};
    const int32_t kb[] = {b->node, b->l3, b->socket, b->die, b->core, b->id};
    for (size_t i = 0; i < ARRAY_SIZE(ka); i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static int drv_host_node_cmp(const void *pa, const void *pb)
{
    const struct drv_host_raw_node *a = pa, *b = pb;
    return (a->id > b->id) - (a->id < b->id);
}

static int drv_host_int_cmp(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

static int drv_host_check_limits(const struct drv_host_limits *l, struct err **err)
{
    const double v[] = {l->nic_mbps,         l->disk_read_iops,   l->disk_write_iops,
                        l->disk_read_mbps,   l->disk_write_mbps,  l->disk_gb,
                        l->reserved_mem_mib, l->reserved_disk_gb, l->mem_mib};
    for (size_t i = 0; i < ARRAY_SIZE(v); i++)
        if (!(v[i] >= 0 && v[i] <= DRV_RES_MAX))
            return err_set(err, ERR_INVALID, "host limit %g out of range", v[i]);
    if (l->reserved_cpus < 0)
        return err_set(err, ERR_INVALID, "reserved CPUs %d is negative", l->reserved_cpus);
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (!(l->ratio[k] > 0 && l->ratio[k] <= 1024))
            return err_set(err, ERR_INVALID, "allocation ratio of `%s` is %g",
                           drv_res_kind_name((enum drv_res_kind)k), l->ratio[k]);
    if (!(l->disk_gb_ratio > 0 && l->disk_gb_ratio <= 1024))
        return err_set(err, ERR_INVALID, "disk allocation ratio is %g", l->disk_gb_ratio);
    return 0;
}

static int drv_host_build_memory(struct drv_host *h, const struct drv_host_builder *b,
                                 struct err **err)
{
    const struct drv_host_limits *l = &b->limits;
    bool any = false;
    double total = 0;

    double given = 0;
    for (int32_t i = 0; i < b->nnodes; i++) {
        any = any || b->nodes[i].mem_mib >= 0;
        given += b->nodes[i].mem_mib > 0 ? b->nodes[i].mem_mib : 0;
    }
    /* The nodes' figures say how memory splits between them; the host's
     * own total (l->mem_mib, the kernel's MemTotal through libvirt's node
     * info), when known, says how much there is.  They agree on most
     * hosts; where memory is hot-plugged (virtio-mem) the per-node counts
     * can lag far behind -- 9 of 24 GB on the CI machine. */
    double scale = any && l->mem_mib > 0 && given > 0 ? l->mem_mib / given : 1;
    for (int32_t i = 0; i < h->nnodes; i++) {
        double m = b->nodes[i].mem_mib * scale; /* nodes were sorted like h->nodes */
        if (!any)
            m = l->mem_mib / h->nnodes;
        h->nodes[i].mem_mib = m > 0 ? m : 0;
        total += h->nodes[i].mem_mib;
    }
    if (!(total > 0))
        return err_set(err, ERR_INVALID, "the %s gives no memory size", b->source);
    if (l->reserved_mem_mib >= total)
        return err_set(err, ERR_INVALID, "reserved memory %g MiB is not below the host's %g MiB",
                       l->reserved_mem_mib, total);
    double usable = 0;
    for (int32_t i = 0; i < h->nnodes; i++) {
        struct drv_host_node *n = &h->nodes[i];
        n->mem_usable_mib = n->mem_mib - l->reserved_mem_mib * (n->mem_mib / total);
        usable += n->mem_usable_mib;
    }
    h->capacity.v[DRV_RES_MEM_MIB] = usable;
    return 0;
}

/* Assign each sorted CPU its L3 index: the first bank listing it. */
static void drv_host_build_l3(struct drv_host *h, const struct drv_host_builder *b,
                              int32_t *l3_of_raw)
{
    for (int32_t i = 0; i < b->ncpus; i++)
        l3_of_raw[i] = -1;
    h->l3 = xcalloc((size_t)(b->nl3 ? b->nl3 : 1), sizeof(*h->l3));
    for (int32_t j = 0; j < b->nl3; j++) {
        struct drv_host_l3 *dst = &h->l3[h->nl3];
        drv_cpuset_clear(&dst->cpus);
        for (int32_t i = 0; i < b->ncpus; i++) {
            if (l3_of_raw[i] < 0 && drv_cpuset_has(&b->l3[j].cpus, b->cpus[i].id)) {
                l3_of_raw[i] = h->nl3;
                drv_cpuset_set(&dst->cpus, b->cpus[i].id);
            }
        }
        if (drv_cpuset_count(&dst->cpus) > 0) {
            dst->id = b->l3[j].id;
            h->nl3++;
        }
    }
}

struct drv_host *drv_host_build(struct drv_host_builder *b, struct err **err)
{
    const struct drv_host_limits *l = &b->limits;
    if (drv_host_check_limits(l, err) < 0)
        return NULL;
    if (b->ncpus == 0) {
        err_set(err, ERR_INVALID, "the %s lists no CPU", b->source);
        return NULL;
    }
    if (b->nnodes == 0) /* no NUMA information: one node holding everything */
        if (drv_host_builder_add_node(b, 0, -1, err) < 0)
            return NULL;
    qsort(b->nodes, (size_t)b->nnodes, sizeof(*b->nodes), drv_host_node_cmp);

    autoptr(drv_host) h = xzalloc(sizeof(*h));
    snprintf(h->source, sizeof(h->source), "%s", b->source);
    h->nnodes = b->nnodes;
    h->nodes = xcalloc((size_t)h->nnodes, sizeof(*h->nodes));
    for (int32_t i = 0; i < h->nnodes; i++)
        h->nodes[i].id = b->nodes[i].id;

    autofree int32_t *l3_of_raw = xcalloc((size_t)b->ncpus, sizeof(int32_t));
    drv_host_build_l3(h, b, l3_of_raw);

    autofree struct drv_host_sortkey *keys = xcalloc((size_t)b->ncpus, sizeof(*keys));
    for (int32_t i = 0; i < b->ncpus; i++) {
        const struct drv_host_raw_cpu *c = &b->cpus[i];
        int32_t node = -1;
        for (int32_t n = 0; n < h->nnodes; n++)
            if (h->nodes[n].id == c->node_id)
                node = n;
        if (node < 0) {
            err_set(err, ERR_INVALID, "CPU %d is in unknown NUMA node %d", c->id, c->node_id);
            return NULL;
        }
        keys[i].node = node;
        keys[i].l3 = l3_of_raw[i];
        /* without socket information, a NUMA node is the best guess */
        keys[i].socket = c->socket >= 0 ? c->socket : node;
        keys[i].die = c->die >= 0 ? c->die : 0;
        /* core identity: libvirt's core_id, else the first of its SMT
         * siblings, else the CPU itself (offset so the three never clash) */
        if (c->core >= 0)
            keys[i].core = c->core;
        else if (c->sibling0 >= 0)
            keys[i].core = DRV_CPUSET_MAX + c->sibling0;
        else
            keys[i].core = 2 * DRV_CPUSET_MAX + c->id;
        keys[i].id = c->id;
        keys[i].raw = i;
    }
    qsort(keys, (size_t)b->ncpus, sizeof(*keys), drv_host_key_cmp);

    h->ncpus = b->ncpus;
    h->cpus = xcalloc((size_t)h->ncpus, sizeof(*h->cpus));
    h->id_max = 0;
    for (int32_t i = 0; i < h->ncpus; i++) {
        struct drv_host_cpu *dst = &h->cpus[i];
        dst->id = keys[i].id;
        dst->node = keys[i].node;
        dst->socket = keys[i].socket;
        dst->core = keys[i].core;
        dst->l3 = keys[i].l3;
        if (dst->id > h->id_max)
            h->id_max = dst->id;
        drv_cpuset_set(&h->nodes[dst->node].cpus, dst->id);
    }
    h->index_by_id = xcalloc((size_t)h->id_max + 1, sizeof(int32_t));
    for (int32_t id = 0; id <= h->id_max; id++)
        h->index_by_id[id] = -1;
    for (int32_t i = 0; i < h->ncpus; i++)
        h->index_by_id[h->cpus[i].id] = i;

    /* cores, threads per core and sockets from the sorted order */
    int32_t run = 0, socks = 0, last_socket = -1;
    autofree int32_t *sockets = xcalloc((size_t)h->ncpus, sizeof(int32_t));
    for (int32_t i = 0; i < h->ncpus; i++) {
        const struct drv_host_sortkey *k = &keys[i], *p = i ? &keys[i - 1] : NULL;
        bool same_core = p && p->node == k->node && p->l3 == k->l3 && p->socket == k->socket &&
                         p->die == k->die && p->core == k->core;
        if (!same_core) {
            h->ncores++;
            run = 0;
        }
        run++;
        if (run > h->threads_per_core)
            h->threads_per_core = run;
        sockets[i] = k->socket;
    }
    qsort(sockets, (size_t)h->ncpus, sizeof(int32_t), drv_host_int_cmp);
    for (int32_t i = 0; i < h->ncpus; i++)
        if (i == 0 || sockets[i] != last_socket) {
            socks++;
            last_socket = sockets[i];
        }
    h->nsockets = socks;

    /* reserve the lowest-numbered CPUs for the host */
    if (l->reserved_cpus >= h->ncpus) {
        err_set(err, ERR_INVALID, "reserved_host_cpus %d leaves none of the %d CPUs to guests",
                l->reserved_cpus, h->ncpus);
        return NULL;
    }
    int32_t reserved = 0;
    for (int32_t id = 0; id <= h->id_max && reserved < l->reserved_cpus; id++) {
        int32_t i = h->index_by_id[id];
        if (i >= 0) {
            h->cpus[i].reserved = true;
            reserved++;
        }
    }
    drv_cpuset_clear(&h->usable);
    for (int32_t i = 0; i < h->ncpus; i++) {
        if (h->cpus[i].reserved)
            continue;
        drv_cpuset_set(&h->usable, h->cpus[i].id);
        h->nodes[h->cpus[i].node].ncpus_usable++;
    }

    if (drv_host_build_memory(h, b, err) < 0)
        return NULL;
    h->capacity.v[DRV_RES_VCPU] = h->ncpus - reserved;
    h->capacity.v[DRV_RES_NET_IN_MBPS] = l->nic_mbps;
    h->capacity.v[DRV_RES_NET_OUT_MBPS] = l->nic_mbps;
    h->capacity.v[DRV_RES_DISK_READ_IOPS] = l->disk_read_iops;
    h->capacity.v[DRV_RES_DISK_WRITE_IOPS] = l->disk_write_iops;
    h->capacity.v[DRV_RES_DISK_READ_MBPS] = l->disk_read_mbps;
    h->capacity.v[DRV_RES_DISK_WRITE_MBPS] = l->disk_write_mbps;
    for (int k = 0; k < DRV_RES_LAST; k++)
        h->ratio.v[k] = l->ratio[k];
    h->disk_gb = l->disk_gb;
    h->disk_reserved_gb = l->reserved_disk_gb;
    h->disk_gb_ratio = l->disk_gb_ratio;
    return steal_pointer(&h);
}

/* ---- public ---- */

/* The capabilities reader lives in the libvirt module with libxml2
 * (driver/module.h): linked in, or loaded when XML first comes. */
extern struct drv_host *drv_host_parse_capabilities(const char *xml,
                                                    const struct drv_host_limits *lim,
                                                    struct err **err) __attribute__((weak));
typedef struct drv_host *(*drv_host_caps_fn)(const char *, const struct drv_host_limits *,
                                             struct err **);

struct drv_host *drv_host_parse(const char *text, const struct drv_host_limits *limits,
                                struct err **err)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p != '<')
        return drv_host_parse_description(text, limits, err);
    drv_host_caps_fn parse = drv_host_parse_capabilities;
    if (!parse)
        parse = (drv_host_caps_fn)drv_module_sym("libvirt", "drv_host_parse_capabilities", err);
    if (!parse)
        return err_wrap(err, "read capabilities XML"), NULL;
    return parse(text, limits, err);
}

#define DRV_HOST_FILE_MAX (16 << 20)

struct drv_host *drv_host_load(const char *path, const struct drv_host_limits *limits,
                               struct err **err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        err_set_errno(err, errno, "open host description `%s`", path);
        return NULL;
    }
    autofree char *buf = xmalloc(DRV_HOST_FILE_MAX + 1);
    size_t n = fread(buf, 1, DRV_HOST_FILE_MAX + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > DRV_HOST_FILE_MAX) {
        err_set(err, ERR_INVALID, "host description `%s`: %s", path,
                bad ? "read error" : "larger than 16 MiB");
        return NULL;
    }
    buf[n] = '\0';
    struct drv_host *h = drv_host_parse(buf, limits, err);
    if (!h)
        err_wrap(err, "%s", path);
    return h;
}

void drv_host_free(struct drv_host *h)
{
    if (!h)
        return;
    free(h->cpus);
    free(h->nodes);
    free(h->l3);
    free(h->index_by_id);
    free(h);
}

struct drv_host *drv_host_dup(const struct drv_host *h)
{
    struct drv_host *d = xmalloc(sizeof(*d));
    *d = *h;
    d->cpus = xcalloc((size_t)h->ncpus, sizeof(*d->cpus));
    memcpy(d->cpus, h->cpus, (size_t)h->ncpus * sizeof(*d->cpus));
    d->nodes = xcalloc((size_t)h->nnodes, sizeof(*d->nodes));
    memcpy(d->nodes, h->nodes, (size_t)h->nnodes * sizeof(*d->nodes));
    d->l3 = xcalloc((size_t)(h->nl3 ? h->nl3 : 1), sizeof(*d->l3));
    memcpy(d->l3, h->l3, (size_t)h->nl3 * sizeof(*d->l3));
    d->index_by_id = xcalloc((size_t)h->id_max + 1, sizeof(int32_t));
    memcpy(d->index_by_id, h->index_by_id, ((size_t)h->id_max + 1) * sizeof(int32_t));
    return d;
}

int32_t drv_host_cpu_index(const struct drv_host *h, int32_t id)
{
    if (id < 0 || id > h->id_max)
        return -1;
    return h->index_by_id[id];
}

static int drv_host_i32_cmp(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

double drv_host_contiguity(const struct drv_host *h, const struct drv_cpuset *set)
{
    int32_t idx[DRV_CPUSET_MAX];
    int32_t n = 0;
    for (int32_t w = 0; w < DRV_CPUSET_MAX / 64; w++)
        for (uint64_t b = set->bits[w]; b; b &= b - 1) {
            int32_t i = drv_host_cpu_index(h, w * 64 + __builtin_ctzll(b));
            if (i >= 0)
                idx[n++] = i;
        }
    if (n == 0)
        return 1.0;
    qsort(idx, (size_t)n, sizeof(int32_t), drv_host_i32_cmp);
    /* in topology order nodes and L3 domains are contiguous, so counting
     * changes counts them; reserved CPUs in between do not break a run,
     * since no guest could have them anyway */
    int32_t runs = 1, l3s = 1, nodes = 1;
    for (int32_t i = 1; i < n; i++) {
        const struct drv_host_cpu *a = &h->cpus[idx[i - 1]], *b = &h->cpus[idx[i]];
        bool adjacent = true;
        for (int32_t j = idx[i - 1] + 1; j < idx[i] && adjacent; j++)
            adjacent = h->cpus[j].reserved;
        runs += !adjacent;
        l3s += a->l3 != b->l3 && a->l3 >= 0 && b->l3 >= 0;
        nodes += a->node != b->node;
    }
    return 1.0 / (1 + (runs - 1) + (l3s - 1) + (nodes - 1));
}

char *drv_host_describe(const struct drv_host *h, char *buf, int size)
{
    snprintf(buf, (size_t)size,
             "%d socket%s, %d node%s, %d cores, %d CPUs (%d reserved), %d L3, %.0f MiB usable",
             h->nsockets, h->nsockets == 1 ? "" : "s", h->nnodes, h->nnodes == 1 ? "" : "s",
             h->ncores, h->ncpus, h->ncpus - (int32_t)h->capacity.v[DRV_RES_VCPU], h->nl3,
             h->capacity.v[DRV_RES_MEM_MIB]);
    return buf;
}
