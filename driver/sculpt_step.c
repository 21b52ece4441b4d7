/* One step of the engine: every guest's target, hysteresis and the reshape
 * price, then the host-wide shortage resolution, then placement of what
 * changed and defragmentation.
 *
 * Target, per shaped dimension: the blueprint's allocation (else the cost
 * model's quantile of its bands), the largest over the next lead steps (a
 * shape must be in place before the need); raised to observed use x
 * (1 + margin) when use runs above it (the blueprint lags), and to twice
 * the shape when use presses on the limit (the need behind a cap cannot be
 * seen, so it is probed); kept between the floor (memory working set plus
 * margin) and the ceiling (the flavor).
 *
 * Hysteresis: a target above the shape is taken at once (from half a
 * percent up, or any growth use presses for); one more than the dead band
 * below it only after it stayed there for the hold steps.  Then
 * the change is priced: its saving over the reshape horizon (allocation
 * price of what is released, minus the expected violations it adds, from
 * the bands) must pay one reshape, else it is skipped -- except a growth
 * that observed use already presses against, or a floor that rose.
 *
 * Shortage: where the shapes exceed capacity x ratio -- or exceed capacity
 * while the host is contended: for CPU, NIC and disk (caps the host shares
 * out) when observed use reaches 95% of capacity, for memory (which must be
 * backed) when the bands say aggregate use would pass it beyond the host
 * SLO -- the lowest priority is squeezed first.  Contention of a shared
 * dimension never squeezes the highest priority present: within a
 * priority the host's scheduler shares, the squeeze only moves capacity
 * from lower priorities to higher ones.  Inside a priority every guest is
 * lowered to the same quantile level of its own bands (equal marginal
 * expected violation cost), first no lower than its median, then toward
 * its floor; the next priority is touched only when the lower one is
 * exhausted.  What no floor allows is recorded as a shortage.
 *
 * Boot allowance (drv_sculpt_boot in sculpt.h): after every guest's want,
 * a booting guest's vCPU want is raised to its allowance within the CPU
 * the other guests' wants leave free -- before the shortage pass, whose
 * rules then apply to it as to any want.  A boot that ended (the guest up
 * and quiet, or its time out) takes its target back at once.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "driver/cost_estimate.h"
#include "driver/sculpt_priv.h"

LOG_INIT("driver.sculpt.step");

/* A host is contended in a throttled dimension when its guests' observed
 * use reaches this share of capacity. */
#define SCULPT_SATURATED 0.95
/* A guest presses on its limit when its use reaches this share of it: its
 * need is then probed by doubling, and any growth is taken at once. */
#define SCULPT_PRESSING 0.99
/* A growth smaller than this share of the shape changes no guest's outcome
 * but costs a round of hypervisor calls: it waits until it adds up, unless
 * use presses on the limit or the floor rose (the blueprint's allocation
 * creeps by 1e-5 vCPU from one step to the next otherwise). */
#define SCULPT_MIN_GROWTH 0.005

void sculpt_change_push(struct drv_sculpt_change **changes, size_t *n, size_t *cap,
                        const struct sculpt_guest *g, enum drv_sculpt_change_kind kind,
                        const struct drv_shape *from, const char *why)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *changes = xreallocarray(*changes, *cap, sizeof(**changes));
    }
    struct drv_sculpt_change *c = &(*changes)[(*n)++];
    memcpy(c->uuid, g->spec.uuid, sizeof(c->uuid));
    c->kind = kind;
    c->from = *from;
    c->to = g->shape;
    snprintf(c->why, sizeof(c->why), "%s", why);
}

/* The bands of g for dimension k at step s; a guest without a blueprint
 * has its shape as every band. */
static void sculpt_bands(const struct sculpt_guest *g, int32_t s, int k, double b[3])
{
    if (!g->bp) {
        b[0] = b[1] = b[2] = g->shape.res.v[k];
        return;
    }
    b[0] = drv_blueprint_get(g->bp, s, k, DRV_Q_P50);
    b[1] = drv_blueprint_get(g->bp, s, k, DRV_Q_P90);
    b[2] = drv_blueprint_get(g->bp, s, k, DRV_Q_P99);
}

/* Per guest, what this step decided before the shortage pass. */
struct sculpt_want {
    struct drv_res res;
    int32_t s0;             /* blueprint step now */
    int term[DRV_RES_LAST]; /* why the target is what it is */
    bool forced;            /* must not be skipped for its price */
    double saving;          /* priced saving of the change */
    bool squeezed;
    double squeeze_u; /* quantile level it was squeezed to */
    bool boot;             /* its vCPU want is its boot allowance */
    const char *boot_over; /* its boot ended this step (why), else NULL */
};

enum { TERM_BAND, TERM_OBSERVED, TERM_FLOOR, TERM_CEILING };
static const char *const term_names[] = {"violation", "observed", "floor", "ceiling"};

static void sculpt_target(struct drv_sculpt *e, struct sculpt_guest *g, struct sculpt_want *w)
{
    struct drv_res floor = sculpt_floor(e, g);
    w->s0 = g->bp ? sculpt_bp_step(g->bp, e->now_s) : 0;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!sculpt_shaped(g, k))
            continue;
        double t = 0;
        int term = TERM_BAND;
        if (g->bp) {
            for (int32_t s = w->s0; s < w->s0 + e->p.lead_steps && s < g->bp->nsteps; s++)
                t = fmax(t, sculpt_planned(e, g, s, k, 0));
        } else {
            t = g->shape.res.v[k];
        }
        if (g->has_use && g->use.v[k] * (1 + e->p.observed_margin) > t) {
            t = g->use.v[k] * (1 + e->p.observed_margin);
            term = TERM_OBSERVED;
        }
        if (g->has_use && g->use.v[k] >= SCULPT_PRESSING * g->shape.res.v[k] &&
            g->shape.res.v[k] > 0 && t < 2 * g->shape.res.v[k]) {
            /* use at the limit hides the need behind it: probe by doubling */
            t = 2 * g->shape.res.v[k];
            term = TERM_OBSERVED;
        }
        if (t < floor.v[k]) {
            t = floor.v[k];
            term = TERM_FLOOR;
        }
        if (t > g->spec.ceiling.v[k]) {
            t = g->spec.ceiling.v[k];
            term = TERM_CEILING;
        }
        if (k == DRV_RES_MEM_MIB && g->mem_hold_mib > 0 && t > g->mem_hold_mib) {
            t = g->mem_hold_mib; /* the guest cannot take more now */
            term = TERM_CEILING;
        }
        g->target.v[k] = t;
        w->term[k] = term;
    }
}

/* Hysteresis, hold and the reshape price: what g should move to. */
static void sculpt_decide(struct drv_sculpt *e, struct sculpt_guest *g, struct sculpt_want *w)
{
    const struct drv_res *cur = &g->shape.res;
    struct drv_res floor = sculpt_floor(e, g);
    bool low = false;
    w->res = *cur;
    w->forced = false;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!sculpt_shaped(g, k))
            continue;
        double t = g->target.v[k], c = cur->v[k];
        if (t > c * (1 + 1e-9) + 1e-12) {
            bool pressed = (g->has_use && g->use.v[k] >= SCULPT_PRESSING * c) || c < floor.v[k];
            if (!pressed && t < c * (1 + SCULPT_MIN_GROWTH))
                continue;
            w->res.v[k] = t;
            /* use pressing on the limit, a floor that rose, or an allocation
             * the predictor already priced (reshape included): no haggling */
            if (pressed || w->term[k] != TERM_BAND || (g->bp && g->bp->alloc))
                w->forced = true;
        } else if (t < c * (1 - e->p.hysteresis)) {
            low = true;
        }
    }
    g->low_steps = low ? g->low_steps + 1 : 0;
    if (w->boot_over && g->target.v[DRV_RES_VCPU] < cur->v[DRV_RES_VCPU]) {
        /* the allowance was no target: no hold to ride out */
        w->res.v[DRV_RES_VCPU] = g->target.v[DRV_RES_VCPU];
        w->forced = true;
    }
    if (low && g->low_steps > e->p.shrink_hold_steps)
        for (int k = 0; k < DRV_RES_LAST; k++)
            if (sculpt_shaped(g, k) && g->target.v[k] < cur->v[k] * (1 - e->p.hysteresis))
                w->res.v[k] = g->target.v[k];

    /* the saving of moving from cur to w over the reshape horizon */
    double hours = e->p.reshape_horizon_s / 3600.0, saving = 0;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!sculpt_shaped(g, k) || w->res.v[k] == cur->v[k])
            continue;
        double b[3];
        sculpt_bands(g, w->s0, k, b);
        double over_cur = drv_cost_band_overrun(b[0], b[1], b[2], cur->v[k]);
        double over_new = drv_cost_band_overrun(b[0], b[1], b[2], w->res.v[k]);
        saving += (e->p.cost.price[k] * (cur->v[k] - w->res.v[k]) +
                   e->p.cost.violation[k] * (over_cur - over_new)) *
                  hours;
    }
    w->saving = saving;
}

static bool sculpt_res_differs(const struct drv_res *a, const struct drv_res *b)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (fabs(a->v[k] - b->v[k]) > 1e-9 * fmax(1.0, fabs(b->v[k])))
            return true;
    return false;
}

/* ---- boot allowance ---- */

/* Has g's boot ended at now (why), or is it still booting (NULL)?  Up:
 * it reported its figures since the boot began, and its last observed CPU
 * use fell below half its shape (the burst is spent). */
static const char *sculpt_boot_ended(const struct drv_sculpt *e, const struct sculpt_guest *g)
{
    if (e->now_s >= g->boot_until_s)
        return "its time is out";
    if (e->p.boot_share <= 0 || e->p.boot_max_s <= 0)
        return "the allowance is off";
    if (g->boot_up_s && g->has_use && g->use_t >= g->boot_up_s &&
        g->use.v[DRV_RES_VCPU] < 0.5 * g->shape.res.v[DRV_RES_VCPU])
        return "the guest is up and quiet";
    return NULL;
}

/* A booting guest's vCPU want is its target (the blueprint's, use's)
 * raised to its allowance within what the other wants leave free -- in
 * turn: a later one gets what is left.  Hysteresis does not
 * hold it: it follows the free CPU down at once (others need it), and up
 * once the rise is worth a reshape. */
static void sculpt_boot_pass(struct drv_sculpt *e, struct sculpt_want *wants)
{
    double sum = 0;
    for (size_t i = 0; i < e->nguests; i++)
        sum += wants[i].res.v[DRV_RES_VCPU];
    for (size_t i = 0; i < e->nguests; i++) {
        struct sculpt_guest *g = e->guests[i];
        struct sculpt_want *w = &wants[i];
        if (!g->boot_until_s)
            continue;
        double was = w->res.v[DRV_RES_VCPU], cur = g->shape.res.v[DRV_RES_VCPU];
        g->boot_base_vcpu = g->target.v[DRV_RES_VCPU];
        double to = sculpt_boot_allowance(e, g, g->boot_base_vcpu, sum - was);
        if (to >= cur && to <= cur * (1 + SCULPT_MIN_GROWTH))
            to = cur; /* not worth a reshape */
        w->res.v[DRV_RES_VCPU] = to;
        w->boot = to > g->boot_base_vcpu;
        if (to != cur)
            w->forced = true;
        sum += to - was;
    }
}

/* ---- shortage ---- */

struct sculpt_sq {
    struct sculpt_guest *g;
    struct sculpt_want *w;
    double b[3];       /* bands now */
    double hi, lo;     /* range for the current pass */
    bool below_median; /* second pass: straight from the median (u = 0.5) to lo (u = 0) */
};

static double sculpt_sq_value(const struct sculpt_sq *q, double u)
{
    double v;
    if (q->below_median) /* the bands say nothing useful below the median */
        v = q->lo + (q->hi - q->lo) * (u / 0.5);
    else
        v = drv_cost_band_quantile(q->b[0], q->b[1], q->b[2], u);
    return fmin(q->hi, fmax(q->lo, v));
}

static double sculpt_sq_reduction(const struct sculpt_sq *q, size_t n, double u)
{
    double r = 0;
    for (size_t i = 0; i < n; i++)
        r += q[i].hi - sculpt_sq_value(&q[i], u);
    return r;
}

/* Lower the guests of one priority class in [ulo, uhi] by `excess`
 * (or as far as they go).  Returns what is left of the excess. */
static double sculpt_squeeze_class(struct sculpt_sq *q, size_t n, int k, double ulo, double uhi,
                                   double excess)
{
    double most = sculpt_sq_reduction(q, n, ulo);
    double u = ulo;
    if (most > excess) {
        /* equal quantile level for everyone: bisect on it */
        double a = ulo, b = uhi;
        for (int it = 0; it < 50; it++) {
            double m = (a + b) / 2;
            if (sculpt_sq_reduction(q, n, m) > excess)
                a = m;
            else
                b = m;
        }
        u = a;
    }
    double done = 0;
    for (size_t i = 0; i < n; i++) {
        double v = sculpt_sq_value(&q[i], u);
        if (v < q[i].w->res.v[k] - 1e-12) {
            done += q[i].w->res.v[k] - v;
            q[i].w->res.v[k] = v;
            q[i].w->squeezed = true;
            q[i].w->squeeze_u = u;
            q[i].w->forced = true;
        }
    }
    return excess - done;
}

static int sculpt_sq_prio_cmp(const void *pa, const void *pb)
{
    const struct sculpt_sq *a = pa, *b = pb;
    if (a->g->spec.priority != b->g->spec.priority)
        return a->g->spec.priority < b->g->spec.priority ? -1 : 1;
    return strcmp(a->g->spec.uuid, b->g->spec.uuid);
}

static void sculpt_shortage(struct drv_sculpt *e, struct sculpt_want *wants, int k)
{
    const double cap = e->host->capacity.v[k];
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < e->nguests; i++)
        if (sculpt_shaped(e->guests[i], k)) {
            sum += wants[i].res.v[k];
            n++;
        }
    double budget = cap * e->host->ratio.v[k];
    bool contended = false; /* squeezing for contention, not for the ceiling */
    if (sum > cap) {
        if (k != DRV_RES_MEM_MIB) {
            /* CPU, NIC and disk limits are caps the host shares out only
             * under contention: overcommitted caps cost nothing until the
             * host is busy.  Priority decides once it is. */
            double used = 0;
            for (size_t i = 0; i < e->nguests; i++)
                if (sculpt_shaped(e->guests[i], k))
                    used += fmin(e->guests[i]->use.v[k], e->guests[i]->shape.res.v[k]);
            if (used >= SCULPT_SATURATED * cap && cap < budget) {
                budget = cap;
                contended = true;
            }
        } else {
            /* memory must be backed: is aggregate use expected above it? */
            double mean = 0, var = 0;
            for (size_t i = 0; i < e->nguests; i++) {
                struct sculpt_guest *g = e->guests[i];
                if (!sculpt_shaped(g, k))
                    continue;
                double m, v;
                sculpt_moments(g, wants[i].s0, k, wants[i].res.v[k], &m, &v);
                mean += m;
                var += v;
            }
            if (fmin(sum, mean + e->z * sqrt(var)) > cap)
                budget = fmin(budget, cap);
        }
    }
    double excess = sum - budget;
    if (excess <= 1e-9 * fmax(1.0, budget))
        return;

    struct sculpt_sq *q = xcalloc(n, sizeof(*q));
    size_t m = 0;
    for (size_t i = 0; i < e->nguests; i++) {
        struct sculpt_guest *g = e->guests[i];
        if (!sculpt_shaped(g, k))
            continue;
        q[m].g = g;
        q[m].w = &wants[i];
        sculpt_bands(g, wants[i].s0, k, q[m].b);
        m++;
    }
    qsort(q, m, sizeof(*q), sculpt_sq_prio_cmp);
    /* under contention of a shared resource the highest priority is not
     * squeezed: the host's scheduler shares fairly inside a priority, the
     * squeeze only makes room for it at the expense of the lower ones */
    size_t top = m;
    if (contended)
        while (top > 0 && q[top - 1].g->spec.priority == q[m - 1].g->spec.priority)
            top--;
    /* pass 1: down to the median at most; pass 2: down to the floor */
    for (int pass = 0; pass < 2 && excess > 1e-9; pass++) {
        for (size_t c0 = 0; c0 < top && excess > 1e-9;) {
            size_t c1 = c0;
            while (c1 < top && q[c1].g->spec.priority == q[c0].g->spec.priority)
                c1++;
            for (size_t i = c0; i < c1; i++) {
                struct drv_res floor = sculpt_floor(e, q[i].g);
                double med = drv_cost_band_quantile(q[i].b[0], q[i].b[1], q[i].b[2], 0.5);
                q[i].hi = q[i].w->res.v[k];
                q[i].lo =
                    pass == 0 ? fmin(q[i].hi, fmax(floor.v[k], med)) : fmin(q[i].hi, floor.v[k]);
                q[i].below_median = pass == 1;
            }
            excess = pass == 0 ? sculpt_squeeze_class(q + c0, c1 - c0, k, 0.5, e->crit[k], excess)
                               : sculpt_squeeze_class(q + c0, c1 - c0, k, 0.0, 0.5, excess);
            c0 = c1;
        }
    }
    free(q);
    if (contended)
        return; /* what is left is shared by the host's scheduler */
    if (excess > 1e-9 * fmax(1.0, budget)) {
        e->shortage = true;
        sculpt_record(e, NULL, DRV_SCULPT_DEC_SHORTAGE, k, 0, "floor", sum, budget, 0,
                      "`%s`: every guest at its floor still needs %.4g %s over the %.4g %s "
                      "the host can give",
                      drv_res_kind_name((enum drv_res_kind)k), excess,
                      drv_res_kind_unit((enum drv_res_kind)k), budget,
                      drv_res_kind_unit((enum drv_res_kind)k));
        /* once when it starts: the records keep every step of it */
        if (!e->was_short)
            log_warn("host short of `%s` by %.4g %s even with every guest at its floor",
                     drv_res_kind_name((enum drv_res_kind)k), excess,
                     drv_res_kind_unit((enum drv_res_kind)k));
    }
}

/* ---- applying ---- */

/* The dimension whose change weighs most in money, for the record. */
static int sculpt_main_dim(const struct drv_sculpt *e, const struct drv_res *from,
                           const struct drv_res *to)
{
    int best = DRV_RES_VCPU;
    double w = -1;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        double x = fabs(to->v[k] - from->v[k]) * fmax(e->p.cost.price[k], 1e-12);
        if (x > w && to->v[k] != from->v[k]) {
            w = x;
            best = k;
        }
    }
    return best;
}

static void sculpt_apply(struct drv_sculpt *e, struct sculpt_guest *g, const struct sculpt_want *w,
                         struct drv_sculpt_change **changes, size_t *n, size_t *cap)
{
    int32_t online = (int32_t)ceil(w->res.v[DRV_RES_VCPU] - 1e-9);
    if (w->squeezed) /* a squeeze is temporary: keep vCPUs, lower the quota */
        online = (int32_t)fmax(online, fmin(g->shape.vcpus_online,
                                            ceil(g->target.v[DRV_RES_VCPU] - 1e-9)));
    struct drv_shape from = sculpt_reshape_to(e, g, w->res, online, e->now_s);
    g->squeezed = w->squeezed;

    int k = sculpt_main_dim(e, &from.res, &g->shape.res);
    const char *name = drv_res_kind_name((enum drv_res_kind)k);
    const char *unit = drv_res_kind_unit((enum drv_res_kind)k);
    double a = from.res.v[k], b = g->shape.res.v[k];
    char why[192] = "";
    enum drv_sculpt_decision d;
    bool explain = e->ring_cap > 0; /* sculpt-replay keeps no records: no text */
    if (w->squeezed) {
        d = DRV_SCULPT_DEC_SQUEEZE;
        e->squeezes++;
        if (explain)
            snprintf(why, sizeof(why),
                     "squeezed `%s` %.4g -> %.4g %s (target %.4g): host short, priority %d, "
                     "lowered to its p%.3g band",
                     name, a, b, unit, g->target.v[k], g->spec.priority, 100 * w->squeeze_u);
    } else if (k == DRV_RES_VCPU && (w->boot || w->boot_over)) {
        d = b > a ? DRV_SCULPT_DEC_GROW : DRV_SCULPT_DEC_SHRINK;
        if (explain && w->boot)
            snprintf(why, sizeof(why),
                     "boot allowance: `vcpu` %.4g -> %.4g vCPU while the guest boots (its plan "
                     "%.4g; %lld s left at most), from the host's free CPU",
                     a, b, g->boot_base_vcpu, (long long)(g->boot_until_s - e->now_s));
        else if (explain)
            snprintf(why, sizeof(why),
                     "boot over (%s): `vcpu` %.4g -> %.4g vCPU, the boot allowance given back "
                     "for its blueprint's target",
                     w->boot_over, a, b);
    } else {
        d = b > a ? DRV_SCULPT_DEC_GROW : DRV_SCULPT_DEC_SHRINK;
        const char *basis = w->term[k] == TERM_OBSERVED  ? "observed use plus margin"
                            : w->term[k] == TERM_FLOOR   ? "the floor (working set plus margin)"
                            : w->term[k] == TERM_CEILING ? "the flavor's ceiling"
                                                         : "the blueprint's band";
        if (explain)
            snprintf(why, sizeof(why),
                     "%s `%s` %.4g -> %.4g %s: %s (p%.3g over %d steps), "
                     "saving %.3g per reshape of %.3g",
                     b > a ? "grew" : "shrank", name, a, b, unit, basis, 100 * e->crit[k],
                     e->p.lead_steps, w->saving, e->p.cost.reshape);
    }
    bool boot = !w->squeezed && k == DRV_RES_VCPU && (w->boot || w->boot_over);
    sculpt_record(e, g->spec.uuid, d, k, w->squeezed ? w->squeeze_u : e->crit[k],
                  w->squeezed ? "priority"
                  : boot      ? "boot"
                  : b > a     ? (w->term[k] == TERM_BAND ? "violation" : term_names[w->term[k]])
                              : "price",
                  a, b, w->saving, "%s", why);
    sculpt_change_push(changes, n, cap, g,
                       w->squeezed ? DRV_SCULPT_CHANGE_SQUEEZE : DRV_SCULPT_CHANGE_RESHAPE, &from,
                       why);
}

/* A guest whose entitlement stays may still need another CPU weight (its
 * priority changed, or it was adopted with the backend's default). */
static void sculpt_reweigh(struct drv_sculpt *e, struct sculpt_guest *g,
                           struct drv_sculpt_change **changes, size_t *n, size_t *cap)
{
    uint32_t w = drv_shape_weight_for(g->shape.res.v[DRV_RES_VCPU], g->spec.priority);
    if (w == drv_shape_cpu_weight(&g->shape)) {
        g->shape.cpu_weight = w; /* the same weight, now said */
        return;
    }
    struct drv_shape from = g->shape;
    g->shape.cpu_weight = w;
    char why[192] = "";
    if (e->ring_cap > 0)
        snprintf(why, sizeof(why), "CPU weight %u -> %u: %.4g vCPU at priority %d",
                 drv_shape_cpu_weight(&from), w, g->shape.res.v[DRV_RES_VCPU], g->spec.priority);
    sculpt_record(e, g->spec.uuid,
                  w > drv_shape_cpu_weight(&from) ? DRV_SCULPT_DEC_GROW : DRV_SCULPT_DEC_SHRINK,
                  DRV_RES_VCPU, 0, "priority", drv_shape_cpu_weight(&from), w, 0, "%s", why);
    sculpt_change_push(changes, n, cap, g, DRV_SCULPT_CHANGE_RESHAPE, &from, why);
}

int sculpt_step(struct drv_sculpt *e, int64_t now_s, struct drv_sculpt_change **changes,
                size_t *nchanges)
{
    size_t n = 0, cap = 0;
    struct drv_sculpt_change *ch = NULL;
    e->now_s = now_s;
    e->was_short = e->shortage;
    e->shortage = false;
    struct sculpt_want *wants = xcalloc(e->nguests ? e->nguests : 1, sizeof(*wants));

    for (size_t i = 0; i < e->nguests; i++) {
        struct sculpt_guest *g = e->guests[i];
        if (g->boot_until_s && (wants[i].boot_over = sculpt_boot_ended(e, g)) != NULL)
            g->boot_until_s = 0;
        sculpt_target(e, g, &wants[i]);
        sculpt_decide(e, g, &wants[i]);
    }
    sculpt_boot_pass(e, wants);
    for (int k = 0; k < DRV_RES_LAST; k++)
        sculpt_shortage(e, wants, k);
    for (size_t i = 0; i < e->nguests; i++) {
        struct sculpt_guest *g = e->guests[i];
        struct sculpt_want *w = &wants[i];
        if (!sculpt_res_differs(&w->res, &g->shape.res)) {
            g->squeezed = w->squeezed;
            sculpt_reweigh(e, g, &ch, &n, &cap);
            continue;
        }
        if (!w->forced && w->saving < e->p.cost.reshape) {
            e->skipped++;
            int k = sculpt_main_dim(e, &g->shape.res, &w->res);
            sculpt_record(e, g->spec.uuid, DRV_SCULPT_DEC_SKIP, k, e->crit[k], "reshape",
                          g->shape.res.v[k], w->res.v[k], w->saving,
                          "kept `%s` at %.4g (wanted %.4g): saving %.3g does not pay a reshape "
                          "of %.3g",
                          drv_res_kind_name((enum drv_res_kind)k), g->shape.res.v[k], w->res.v[k],
                          w->saving, e->p.cost.reshape);
            sculpt_reweigh(e, g, &ch, &n, &cap);
            continue;
        }
        sculpt_apply(e, g, w, &ch, &n, &cap);
    }
    free(wants);
    sculpt_defrag(e, &ch, &n, &cap);
    if (n)
        e->version++;
    *changes = ch;
    *nchanges = n;
    return 0;
}
