/* What Placement is told: inventories whose capacity is the room admission
 * would still give (sculpt_admit.c), counted in flavors.
 *
 * Placement checks used + request <= (total - reserved) x ratio and
 * request <= max_unit, in flavor units; admission checks planned shapes,
 * expected use and long-run use.  For each rule the room left over the
 * held blueprints' horizons (the grid admission uses) is converted to
 * flavors at what the held guests show: flavors per planned shape for the
 * ceiling and risk rules, flavors per long-run use for the long run.  A
 * new guest is assumed to be like the ones held -- what Placement's model
 * cannot say otherwise -- so a flavor Placement accepts is one admission
 * would admit up to that assumption and the reporting hysteresis.
 *
 * Reclaimable guests (idle pool members) are left out of it all: Placement
 * holds no allocation for them, and a real guest that needs their room
 * gets it (drv_sculpt_place_reclaiming), so their room is free room.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "driver/sculpt_priv.h"

/* Is g counted in what Placement is told? */
static bool inv_counted(const struct sculpt_guest *g)
{
    return !g->spec.reclaimable;
}

/* Admission's grid over the counted guests: the finest step, to the end
 * of the longest horizon (at least one step: now). */
static void inv_grid(const struct drv_sculpt *e, int32_t *step_s, int32_t *n)
{
    int32_t step = 0;
    int64_t end = e->now_s;
    for (size_t i = 0; i < e->nguests; i++) {
        const struct drv_blueprint *bp = e->guests[i]->bp;
        if (!bp || !inv_counted(e->guests[i]))
            continue;
        if (step == 0 || bp->step_s < step)
            step = bp->step_s;
        int64_t bp_end = bp->start_s + (int64_t)bp->nsteps * bp->step_s;
        if (bp_end > end)
            end = bp_end;
    }
    if (step <= 0)
        step = 60;
    int64_t steps = (end - e->now_s + step - 1) / step;
    *step_s = step;
    *n = steps < 1 ? 1 : steps > 100000 ? 100000 : (int32_t)steps;
}

/* Does a held guest carry a long run for dimension k?  When none does the
 * fleet has nothing comparable yet, and candidates will not either:
 * admission then skips the long-run rule for them. */
static bool inv_longrun_known(const struct drv_sculpt *e, int k)
{
    for (size_t i = 0; i < e->nguests; i++) {
        const struct sculpt_guest *g = e->guests[i];
        if (inv_counted(g) && sculpt_shaped(g, k) && g->bp && drv_blueprint_has_longrun(g->bp, (enum drv_res_kind)k))
            return true;
    }
    return false;
}

/* The room in dimension k, in flavor units, and the rule bounding it
 * (DRV_SCULPT_RULE_LAST: none of them bounds it).  The grid is built. */
static double inv_room(const struct drv_sculpt *e, int k, double flavors,
                       enum drv_sculpt_rule *bound)
{
    const struct sculpt_agg *a = &e->agg;
    double cap = e->host->capacity.v[k], ceiling = cap * e->host->ratio.v[k];
    double ent0 = a->ent[k];
    /* flavors per planned shape: what a flavor unit costs the first two rules */
    double per_shape = ent0 > 0 ? flavors / ent0 : 1;
    double room = INFINITY;
    *bound = DRV_SCULPT_RULE_LAST;
    for (int32_t j = 0; j < a->nsteps; j++) {
        const double ent = a->ent[(size_t)j * DRV_RES_LAST + k];
        const double mean = a->mean[(size_t)j * DRV_RES_LAST + k];
        const double var = a->var[(size_t)j * DRV_RES_LAST + k];
        double r = (ceiling - ent) * per_shape;
        if (r < room) {
            room = r;
            *bound = DRV_SCULPT_RULE_CEILING;
        }
        if (!e->p.admit_by_risk)
            continue;
        double risk = mean + e->z * sqrt(var);
        /* shapes cap use: past the shapes' sum, only physical room counts;
         * below it, the room in use is counted in shapes */
        if (risk >= ent)
            r = (cap - ent) * per_shape;
        else if (mean > 0)
            r = (cap - risk) * ent / mean * per_shape;
        else
            r = (cap - risk) * per_shape;
        if (r < room) {
            room = r;
            *bound = DRV_SCULPT_RULE_RISK;
        }
    }
    double lr = a->longrun[k];
    if (e->p.admit_by_risk && lr > 0 && inv_longrun_known(e, k)) {
        double r = (cap - lr) * flavors / lr;
        if (r < room) {
            room = r;
            *bound = DRV_SCULPT_RULE_LONGRUN;
        }
    }
    return room > 0 ? room : 0;
}

static void inv_item(const struct drv_sculpt *e, size_t counted, int k, double total,
                     double reserved, struct drv_sculpt_inventory_item *it)
{
    double flavors = 0, reclaimable = 0;
    for (size_t i = 0; i < e->nguests; i++) {
        const struct sculpt_guest *g = e->guests[i];
        if (inv_counted(g))
            flavors += g->spec.ceiling.v[k];
        else
            reclaimable += g->shape.res.v[k];
    }
    double ratio = e->host->ratio.v[k];
    it->total = (int64_t)floor(total);
    it->reserved = (int64_t)ceil(reserved);
    if (it->reserved > it->total)
        it->reserved = it->total;
    it->min_unit = 1;
    it->step_size = 1;
    it->held = flavors;
    it->reclaimable = reclaimable;
    /* Placement applies the ratio to total - reserved, which the rounding
     * above may leave below the engine's capacity: divide by what
     * Placement multiplies */
    double usable = (double)(it->total - it->reserved);
    double eff = ratio;
    it->bound = DRV_SCULPT_RULE_LAST;
    if (counted > 0 && usable > 0) {
        enum drv_sculpt_rule bound;
        double room = inv_room(e, k, flavors, &bound);
        eff = (flavors + room) / usable;
        if (eff < ratio)
            it->bound = bound;
        eff = fmin(eff, ratio);
        eff = fmax(eff, flavors / usable);
    }
    it->allocation_ratio = floor(eff * 10000) / 10000; /* Placement keeps 4 decimals */
    it->room = fmax(usable * it->allocation_ratio - flavors, 0);
    double max_unit = floor(it->room + 1e-9);
    it->max_unit = max_unit < 1 ? 1 : max_unit > (double)it->total ? it->total : (int64_t)max_unit;
    if (it->max_unit < 1)
        it->max_unit = 1;
}

void drv_sculpt_inventory(struct drv_sculpt *e, struct drv_sculpt_inventory *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&e->lock);
    const struct drv_host *h = e->host;
    size_t counted = 0;
    for (size_t i = 0; i < e->nguests; i++)
        counted += inv_counted(e->guests[i]);
    if (counted > 0) {
        int32_t step_s, n;
        inv_grid(e, &step_s, &n);
        sculpt_agg_build(e, e->now_s, step_s, n, true);
    }
    double mem_total = 0;
    for (int32_t i = 0; i < h->nnodes; i++)
        mem_total += h->nodes[i].mem_mib;
    inv_item(e, counted, DRV_RES_VCPU, h->ncpus, h->ncpus - h->capacity.v[DRV_RES_VCPU], &out->vcpu);
    inv_item(e, counted, DRV_RES_MEM_MIB, mem_total, mem_total - h->capacity.v[DRV_RES_MEM_MIB],
             &out->memory_mb);
    struct drv_sculpt_inventory_item *d = &out->disk_gb;
    d->total = (int64_t)floor(h->disk_gb);
    d->reserved = (int64_t)ceil(h->disk_reserved_gb);
    if (d->reserved > d->total)
        d->reserved = d->total;
    d->min_unit = 1;
    d->step_size = 1;
    d->allocation_ratio = h->disk_gb_ratio;
    d->room = (double)(d->total - d->reserved) * d->allocation_ratio;
    d->bound = DRV_SCULPT_RULE_LAST;
    d->max_unit = d->total - d->reserved > 0 ? d->total - d->reserved : 1;
    pthread_mutex_unlock(&e->lock);
}

bool drv_sculpt_inventory_differs(const struct drv_sculpt_inventory *was,
                                  const struct drv_sculpt_inventory *now, double hysteresis,
                                  char *why, size_t why_len)
{
    static const char *const rc[3] = {"VCPU", "MEMORY_MB", "DISK_GB"};
    const struct drv_sculpt_inventory_item *a[3] = {&was->vcpu, &was->memory_mb, &was->disk_gb};
    const struct drv_sculpt_inventory_item *b[3] = {&now->vcpu, &now->memory_mb, &now->disk_gb};
    char tmp[8];
    if (!why || why_len == 0) {
        why = tmp;
        why_len = sizeof(tmp);
    }
    why[0] = '\0';
    for (int i = 0; i < 3; i++) {
        const struct drv_sculpt_inventory_item *o = a[i], *n = b[i];
        if (o->total != n->total || o->reserved != n->reserved || o->min_unit != n->min_unit ||
            o->step_size != n->step_size) {
            snprintf(why, why_len, "%s: total %lld -> %lld, reserved %lld -> %lld", rc[i],
                     (long long)o->total, (long long)n->total, (long long)o->reserved,
                     (long long)n->reserved);
            return true;
        }
        double usable = (double)(n->total - n->reserved);
        double band = fmax(hysteresis * usable, 1.0);
        double moved = fabs(n->allocation_ratio - o->allocation_ratio) * usable;
        const char *bound = n->bound == DRV_SCULPT_RULE_LAST ? "the configured ratio"
                                                             : drv_sculpt_rule_name(n->bound);
        if (moved > band && moved > 0) {
            snprintf(why, why_len,
                     "%s: allocation_ratio %.4g -> %.4g (capacity %+.4g, beyond the %.4g "
                     "hysteresis; room %.4g bound by %s)",
                     rc[i], o->allocation_ratio, n->allocation_ratio,
                     (n->allocation_ratio - o->allocation_ratio) * usable, band, n->room, bound);
            return true;
        }
        if (fabs((double)(n->max_unit - o->max_unit)) > band) {
            snprintf(why, why_len,
                     "%s: max_unit %lld -> %lld (beyond the %.4g hysteresis; bound by %s)", rc[i],
                     (long long)o->max_unit, (long long)n->max_unit, band, bound);
            return true;
        }
    }
    return false;
}
