/* Where a guest's vCPUs run and its memory lives.
 *
 * A guest with n vCPUs online is pinned to n host CPUs, its entitlement
 * spread evenly over them (each CPU carries a fractional load).  Candidate
 * sets are the runs of n adjacent usable CPUs in topology order (SMT
 * siblings are adjacent there) and, as a fallback, the n least-loaded CPUs
 * wherever they are.  A set costs
 *     max CPU load after placing / balanced load + 0.5 x (1 - contiguity)
 * (balanced load: the host's pinned entitlement spread over every usable
 * CPU, at least 1): a scattered set wins only when every contiguous run
 * would be loaded half again above the balanced level.  Memory goes to the
 * set's NUMA node when the node has room under the memory ratio.
 *
 * Defragmentation re-pins scattered guests onto a contiguous run, moving
 * the guests in the way when that is what it takes, within the move budget.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/sculpt_priv.h"

#define SCULPT_SCATTER_PENALTY 0.5
#define SCULPT_STICKY_BONUS 0.05

/* Call fn(host cpu index) for each CPU of set. */
#define SCULPT_FOR_EACH_CPU(e, set, idx)                                                           \
    for (int32_t w_ = 0; w_ < DRV_CPUSET_MAX / 64; w_++)                                           \
        for (uint64_t b_ = (set)->bits[w_]; b_; b_ &= b_ - 1)                                      \
            for (int32_t idx = drv_host_cpu_index((e)->host, w_ * 64 + __builtin_ctzll(b_)),       \
                         once_ = 1;                                                                \
                 once_ && idx >= 0; once_ = 0)

void sculpt_pin_unload(struct drv_sculpt *e, struct sculpt_guest *g)
{
    SCULPT_FOR_EACH_CPU(e, &g->shape.pcpus, idx)
    e->cpu_load[idx] -= g->cpu_share;
    if (g->shape.numa_node >= 0 && g->shape.numa_node < e->host->nnodes)
        e->node_mem[g->shape.numa_node] -= g->mem_on_node;
    g->cpu_share = 0;
    g->mem_on_node = 0;
}

void sculpt_pin_load(struct drv_sculpt *e, struct sculpt_guest *g)
{
    /* reshapes mostly keep the CPU set: count and score it only when it moved */
    if (!drv_cpuset_equal(&g->contig_of, &g->shape.pcpus) || g->contig == 0) {
        g->contig_of = g->shape.pcpus;
        g->npcpus = drv_cpuset_count(&g->shape.pcpus);
        g->contig = drv_host_contiguity(e->host, &g->shape.pcpus);
    }
    int n = g->npcpus;
    g->cpu_share = n ? g->shape.res.v[DRV_RES_VCPU] / n : 0;
    SCULPT_FOR_EACH_CPU(e, &g->shape.pcpus, idx)
    e->cpu_load[idx] += g->cpu_share;
    g->mem_on_node = 0;
    if (g->shape.numa_node >= 0 && g->shape.numa_node < e->host->nnodes) {
        g->mem_on_node = g->shape.res.v[DRV_RES_MEM_MIB];
        e->node_mem[g->shape.numa_node] += g->mem_on_node;
    }
}

static double sculpt_balanced_load(const struct drv_sculpt *e, double extra)
{
    double total = extra;
    for (int32_t i = 0; i < e->nusable; i++)
        total += e->cpu_load[e->usable[i]];
    double bal = e->nusable ? total / e->nusable : 1;
    return bal > 1 ? bal : 1;
}

struct sculpt_pick {
    struct drv_cpuset set;
    double cost;
    double maxload; /* after placing */
    double contiguity;
    bool found;
};

/* Best run of k adjacent usable CPUs avoiding `blocked` (host indices, may
 * be NULL); `only_whole` keeps runs inside one L3 domain and node. */
static void sculpt_best_run(const struct drv_sculpt *e, int32_t k, double share, double bal,
                            const bool *blocked, bool only_whole, const struct drv_cpuset *cur,
                            struct sculpt_pick *best)
{
    const struct drv_host *h = e->host;
    int32_t curn = cur ? drv_cpuset_count(cur) : 0;
    for (int32_t p = 0; p + k <= e->nusable; p++) {
        double maxload = 0;
        int32_t l3s = 1, nodes = 1, overlap = 0;
        bool skip = false;
        for (int32_t i = 0; i < k && !skip; i++) {
            int32_t idx = e->usable[p + i];
            if (blocked && blocked[idx])
                skip = true;
            maxload = fmax(maxload, e->cpu_load[idx]);
            if (i > 0) {
                const struct drv_host_cpu *a = &h->cpus[e->usable[p + i - 1]], *b = &h->cpus[idx];
                l3s += a->l3 != b->l3;
                nodes += a->node != b->node;
            }
            if (curn && drv_cpuset_has(cur, h->cpus[idx].id))
                overlap++;
        }
        if (skip || (only_whole && (l3s > 1 || nodes > 1)))
            continue;
        double contig = 1.0 / (1 + (l3s - 1) + (nodes - 1));
        double cost = (maxload + share) / bal + SCULPT_SCATTER_PENALTY * (1 - contig);
        if (curn)
            cost -= SCULPT_STICKY_BONUS * overlap / (double)curn;
        if (!best->found || cost < best->cost - 1e-12) {
            best->found = true;
            best->cost = cost;
            best->maxload = maxload + share;
            best->contiguity = contig;
            drv_cpuset_clear(&best->set);
            for (int32_t i = 0; i < k; i++)
                drv_cpuset_set(&best->set, h->cpus[e->usable[p + i]].id);
        }
    }
}

struct sculpt_loaded {
    double load;
    int32_t pos;
};

static int sculpt_loaded_cmp(const void *pa, const void *pb)
{
    const struct sculpt_loaded *a = pa, *b = pb;
    if (a->load != b->load)
        return a->load < b->load ? -1 : 1;
    return a->pos - b->pos;
}

/* The k least-loaded usable CPUs, wherever they are. */
static void sculpt_least_loaded(const struct drv_sculpt *e, int32_t k, double share, double bal,
                                struct sculpt_pick *best)
{
    struct sculpt_loaded *l = xcalloc((size_t)e->nusable, sizeof(*l));
    for (int32_t i = 0; i < e->nusable; i++)
        l[i] = (struct sculpt_loaded){e->cpu_load[e->usable[i]], i};
    qsort(l, (size_t)e->nusable, sizeof(*l), sculpt_loaded_cmp);
    struct drv_cpuset set;
    drv_cpuset_clear(&set);
    double maxload = 0;
    for (int32_t i = 0; i < k; i++) {
        drv_cpuset_set(&set, e->host->cpus[e->usable[l[i].pos]].id);
        maxload = fmax(maxload, l[i].load);
    }
    free(l);
    double contig = drv_host_contiguity(e->host, &set);
    double cost = (maxload + share) / bal + SCULPT_SCATTER_PENALTY * (1 - contig);
    if (!best->found || cost < best->cost - 1e-12) {
        best->found = true;
        best->cost = cost;
        best->maxload = maxload + share;
        best->contiguity = contig;
        best->set = set;
    }
}

/* The NUMA node of a set when it lies in one node with memory room. */
static int32_t sculpt_pick_node(const struct drv_sculpt *e, const struct drv_cpuset *set,
                                double mem)
{
    int32_t node = -1;
    SCULPT_FOR_EACH_CPU(e, set, idx)
    {
        int32_t n = e->host->cpus[idx].node;
        if (node >= 0 && n != node)
            return -1;
        node = n;
    }
    if (node < 0)
        return -1;
    double room = e->host->nodes[node].mem_usable_mib * e->host->ratio.v[DRV_RES_MEM_MIB];
    return e->node_mem[node] + mem <= room ? node : -1;
}

static int32_t sculpt_pin_count(const struct drv_sculpt *e, const struct sculpt_guest *g)
{
    int32_t k = g->shape.vcpus_online;
    if (k < 1)
        k = 1;
    return k > e->nusable ? e->nusable : k;
}

void sculpt_pin_place(struct drv_sculpt *e, struct sculpt_guest *g, bool keep)
{
    if (!e->p.pin_vcpus || e->nusable == 0) {
        drv_cpuset_clear(&g->shape.pcpus);
        g->shape.numa_node = -1;
        sculpt_pin_load(e, g);
        return;
    }
    int32_t k = sculpt_pin_count(e, g);
    double share = g->shape.res.v[DRV_RES_VCPU] / k;
    double bal = sculpt_balanced_load(e, share * k);
    struct sculpt_pick best = {.found = false};
    sculpt_best_run(e, k, share, bal, NULL, false, keep ? &g->shape.pcpus : NULL, &best);
    sculpt_least_loaded(e, k, share, bal, &best);
    g->shape.pcpus = best.set;
    g->shape.numa_node = sculpt_pick_node(e, &best.set, g->shape.res.v[DRV_RES_MEM_MIB]);
    sculpt_pin_load(e, g);
}

/* ---- defragmentation ---- */

static int sculpt_frag_cmp(const void *pa, const void *pb)
{
    const struct sculpt_guest *a = *(struct sculpt_guest *const *)pa;
    const struct sculpt_guest *b = *(struct sculpt_guest *const *)pb;
    int ka = a->npcpus, kb = b->npcpus;
    if (ka != kb)
        return kb - ka; /* large guests first: they are the hardest to fit later */
    return strcmp(a->spec.uuid, b->spec.uuid);
}

static void sculpt_repin(struct drv_sculpt *e, struct sculpt_guest *g, const struct drv_cpuset *to,
                         struct drv_sculpt_change **changes, size_t *n, size_t *cap,
                         const char *why)
{
    struct drv_shape from = g->shape;
    double before = drv_host_contiguity(e->host, &from.pcpus);
    g->shape.pcpus = *to;
    g->shape.numa_node = sculpt_pick_node(e, to, g->shape.res.v[DRV_RES_MEM_MIB]);
    sculpt_pin_load(e, g);
    double after = g->contig;
    char a[96], b[96], text[192] = "";
    if (e->ring_cap > 0) /* sculpt-replay keeps no records: no text */
        snprintf(text, sizeof(text), "re-pinned [%s] -> [%s]: contiguity %.2f -> %.2f (%s)",
                 drv_cpuset_format(&from.pcpus, a, sizeof(a)), drv_cpuset_format(to, b, sizeof(b)),
                 before, after, why);
    sculpt_record(e, g->spec.uuid, DRV_SCULPT_DEC_REPIN, DRV_RES_VCPU, 0, "contiguity", before,
                  after, 0, "%s", text);
    sculpt_change_push(changes, n, cap, g, DRV_SCULPT_CHANGE_REPIN, &from, text);
    e->repins++;
}

/* Free a contiguous run for g by moving the guests pinned in it elsewhere
 * (each to a contiguous run outside it).  Returns the moves made, 0 when no
 * run can be freed within `budget` moves (g's own move included). */
static int sculpt_evict_for(struct drv_sculpt *e, struct sculpt_guest *g, int32_t budget,
                            struct drv_sculpt_change **changes, size_t *n, size_t *cap)
{
    const struct drv_host *h = e->host;
    int32_t k = sculpt_pin_count(e, g);
    double share = g->shape.res.v[DRV_RES_VCPU] / k;
    double bal = sculpt_balanced_load(e, share * k);
    bool *blocked = xcalloc((size_t)h->ncpus, sizeof(bool));
    struct sculpt_guest **movers = xcalloc(e->nguests + 1, sizeof(*movers));
    struct drv_cpuset *dest = xcalloc(e->nguests + 1, sizeof(*dest));
    int moved = 0;

    for (int32_t p = 0; p + k <= e->nusable && !moved; p++) {
        /* a run inside one L3 domain and node */
        bool whole = true;
        for (int32_t i = 1; i < k; i++) {
            const struct drv_host_cpu *a = &h->cpus[e->usable[p + i - 1]];
            const struct drv_host_cpu *b = &h->cpus[e->usable[p + i]];
            whole = whole && a->l3 == b->l3 && a->node == b->node;
        }
        if (!whole)
            continue;
        struct drv_cpuset run;
        drv_cpuset_clear(&run);
        memset(blocked, 0, (size_t)h->ncpus * sizeof(bool));
        for (int32_t i = 0; i < k; i++) {
            drv_cpuset_set(&run, h->cpus[e->usable[p + i]].id);
            blocked[e->usable[p + i]] = true;
        }
        int32_t nm = 0;
        bool too_many = false;
        for (size_t i = 0; i < e->nguests && !too_many; i++) {
            struct sculpt_guest *o = e->guests[i];
            if (o == g || o->npcpus == 0)
                continue;
            bool hit = false;
            for (int32_t w = 0; w < DRV_CPUSET_MAX / 64 && !hit; w++)
                hit = (o->shape.pcpus.bits[w] & run.bits[w]) != 0;
            if (hit) {
                if (nm + 2 > budget)
                    too_many = true;
                else
                    movers[nm++] = o;
            }
        }
        if (too_many || nm == 0)
            continue;
        /* try: lift the movers, re-place each outside the run */
        for (int32_t i = 0; i < nm; i++)
            sculpt_pin_unload(e, movers[i]);
        bool ok = true;
        int32_t placed = 0;
        for (int32_t i = 0; i < nm && ok; i++) {
            struct sculpt_guest *o = movers[i];
            int32_t ko = sculpt_pin_count(e, o);
            double so = o->shape.res.v[DRV_RES_VCPU] / ko;
            struct sculpt_pick pick = {.found = false};
            sculpt_best_run(e, ko, so, bal, blocked, true, NULL, &pick);
            ok = pick.found && pick.maxload <= bal + 1e-9;
            if (ok) {
                dest[i] = pick.set;
                /* hold its load while the next mover looks */
                struct drv_shape saved = o->shape;
                o->shape.pcpus = pick.set;
                o->shape.numa_node = -1;
                sculpt_pin_load(e, o);
                o->shape = saved;
                placed++;
            }
        }
        double maxrun = 0;
        for (int32_t i = 0; i < k; i++)
            maxrun = fmax(maxrun, e->cpu_load[e->usable[p + i]]);
        /* undo the trial loads, then commit or restore */
        for (int32_t i = 0; i < placed; i++) {
            struct sculpt_guest *o = movers[i];
            double so = o->shape.res.v[DRV_RES_VCPU] / sculpt_pin_count(e, o);
            SCULPT_FOR_EACH_CPU(e, &dest[i], idx)
            e->cpu_load[idx] -= so;
        }
        if (!ok || maxrun + share > bal + 1e-9) {
            for (int32_t i = 0; i < nm; i++)
                sculpt_pin_load(e, movers[i]);
            continue;
        }
        for (int32_t i = 0; i < nm; i++)
            sculpt_repin(e, movers[i], &dest[i], changes, n, cap,
                         "making room for a scattered guest");
        sculpt_repin(e, g, &run, changes, n, cap, "a contiguous run freed for it");
        moved = nm + 1;
    }
    free(blocked);
    free(movers);
    free(dest);
    return moved;
}

void sculpt_defrag(struct drv_sculpt *e, struct drv_sculpt_change **changes, size_t *n, size_t *cap)
{
    int32_t budget = e->p.move_budget;
    if (!e->p.pin_vcpus || budget <= 0 || e->nguests == 0)
        return;
    struct sculpt_guest **frag = xcalloc(e->nguests, sizeof(*frag));
    size_t nf = 0;
    for (size_t i = 0; i < e->nguests; i++) {
        struct sculpt_guest *g = e->guests[i];
        if (g->npcpus > 0 && g->contig < 1.0)
            frag[nf++] = g;
    }
    qsort(frag, nf, sizeof(*frag), sculpt_frag_cmp);
    for (size_t i = 0; i < nf && budget > 0; i++) {
        struct sculpt_guest *g = frag[i];
        if (g->contig >= 1.0)
            continue; /* already fixed as a side effect */
        sculpt_pin_unload(e, g);
        int32_t k = sculpt_pin_count(e, g);
        double share = g->shape.res.v[DRV_RES_VCPU] / k;
        double bal = sculpt_balanced_load(e, share * k);
        struct sculpt_pick pick = {.found = false};
        sculpt_best_run(e, k, share, bal, NULL, true, NULL, &pick);
        if (pick.found && pick.maxload <= bal + 1e-9) {
            sculpt_repin(e, g, &pick.set, changes, n, cap, "a contiguous run had room");
            budget--;
            continue;
        }
        sculpt_pin_load(e, g);
        if (budget >= 2) {
            sculpt_pin_unload(e, g);
            int moved = sculpt_evict_for(e, g, budget, changes, n, cap);
            if (moved == 0)
                sculpt_pin_load(e, g);
            budget -= moved;
        }
    }
    free(frag);
}
