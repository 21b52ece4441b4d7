/* The pool replay: request-arrival traces through pool policies, interval
 * by interval (presculpt_replay.h has the definitions). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "driver/presculpt_priv.h"
#include "driver/presculpt_replay_priv.h"

static const char *const pool_policy_names[DRV_POOL_POLICY_LAST] = {
    [DRV_POOL_POLICY_NONE] = "none",
    [DRV_POOL_POLICY_FIXED] = "fixed",
    [DRV_POOL_POLICY_HYBRID] = "hybrid",
    [DRV_POOL_POLICY_SCULPT] = "sculpt",
};

const char *drv_pool_policy_name(enum drv_pool_policy p)
{
    return (p >= 0 && p < DRV_POOL_POLICY_LAST) ? pool_policy_names[p] : "?";
}

int drv_pool_policy_parse(const char *name)
{
    for (int p = 0; p < DRV_POOL_POLICY_LAST; p++)
        if (strcmp(pool_policy_names[p], name) == 0)
            return p;
    return -1;
}

double drv_pool_hit_rate(const struct drv_pool_result *r)
{
    return r->requests ? (double)r->hits / (double)r->requests : 0;
}

double drv_pool_idle_share(const struct drv_pool_result *r)
{
    return r->used_vcpu_s > 0 ? r->idle_vcpu_s / r->used_vcpu_s : NAN;
}

double drv_pool_cost(const struct drv_pool_result *r)
{
    return r->cost_idle + r->cost_cold + r->cost_reshape;
}

/* ---- members of one pool: batches in the order they were made (so in
 * order of expiry), claimed oldest first, destroyed newest first ---- */

struct sim_batch {
    int64_t expiry;             /* interval at whose start it is destroyed */
    uint32_t n;
    float vcpu, mem;            /* what one member reserves */
    float max_vcpu, max_mem;    /* the most it can be re-sculpted to */
};

struct sim_pool {
    struct sim_batch *b;
    size_t head, len, cap;      /* live batches are b[head .. head+len) */
    uint64_t n;                 /* members */
    double vcpu, mem;           /* reserved by them */
};

static void pool_push(struct sim_pool *p, int64_t expiry, uint32_t n, float vcpu, float mem,
                      float max_vcpu, float max_mem)
{
    if (n == 0)
        return;
    if (p->head + p->len == p->cap) {
        if (p->head > 0) {
            memmove(p->b, p->b + p->head, p->len * sizeof(*p->b));
            p->head = 0;
        } else {
            p->cap = p->cap ? 2 * p->cap : 4;
            p->b = xreallocarray(p->b, p->cap, sizeof(*p->b));
        }
    }
    p->b[p->head + p->len++] = (struct sim_batch){expiry, n, vcpu, mem, max_vcpu, max_mem};
    p->n += n;
    p->vcpu += (double)n * vcpu;
    p->mem += (double)n * mem;
}

/* Take up to `want` members of batch b of pool p; returns how many. */
static uint32_t batch_take(struct sim_pool *p, struct sim_batch *b, uint64_t want)
{
    uint32_t k = (uint32_t)(want < b->n ? want : b->n);
    b->n -= k;
    p->n -= k;
    p->vcpu -= (double)k * b->vcpu;
    p->mem -= (double)k * b->mem;
    return k;
}

/* Remove up to n members from the front (claim/expiry) or the back
 * (surplus); returns how many, adding what they reserved to *vcpu and
 * *mem. */
static uint64_t pool_remove(struct sim_pool *p, uint64_t n, bool front, double *vcpu,
                            double *mem)
{
    uint64_t done = 0;
    while (done < n && p->len > 0) {
        struct sim_batch *b = front ? &p->b[p->head] : &p->b[p->head + p->len - 1];
        uint32_t k = batch_take(p, b, n - done);
        done += k;
        if (vcpu)
            *vcpu += (double)k * b->vcpu;
        if (mem)
            *mem += (double)k * b->mem;
        if (b->n == 0) {
            if (front)
                p->head++;
            p->len--;
        }
    }
    if (p->len == 0) {
        p->head = 0;
        p->vcpu = p->mem = 0; /* no rounding residue */
    }
    return done;
}

/* Claim up to n members for requests of `size`, oldest first, of those
 * that can be re-sculpted to it; returns how many, *reshaped counting
 * those whose shape is not the request's (re-sculpted at hand-over). */
static uint64_t pool_claim(struct sim_pool *p, uint64_t n, const struct drv_res *size,
                           uint64_t *reshaped)
{
    float v = (float)size->v[DRV_RES_VCPU], m = (float)size->v[DRV_RES_MEM_MIB];
    uint64_t done = 0;
    for (size_t i = p->head; i < p->head + p->len && done < n; i++) {
        struct sim_batch *b = &p->b[i];
        if (b->n == 0 || b->max_vcpu < v || b->max_mem < m)
            continue;
        uint32_t k = batch_take(p, b, n - done);
        done += k;
        if (b->vcpu != v || b->mem != m)
            *reshaped += k;
    }
    /* batches emptied: compact, keeping the order */
    size_t w = p->head;
    for (size_t i = p->head; i < p->head + p->len; i++)
        if (p->b[i].n > 0)
            p->b[w++] = p->b[i];
    p->len = w - p->head;
    if (p->len == 0) {
        p->head = 0;
        p->vcpu = p->mem = 0;
    }
    return done;
}

/* Members whose expiry has come, from the front. */
static uint64_t pool_expire(struct sim_pool *p, int64_t bin, double *vcpu, double *mem)
{
    uint64_t done = 0;
    while (p->len > 0 && p->b[p->head].expiry <= bin)
        done += pool_remove(p, p->b[p->head].n, true, vcpu, mem);
    return done;
}

/* ---- one replay of one policy ---- */

struct sim_rec {
    int64_t bin;
    uint32_t cls, count;
};

struct sim {
    const struct drv_arrival_trace *tr;
    const struct drv_pool_replay_opts *o;
    int64_t dt, t0, nbins, score_bin, ttl_bins, lead_bins;
    const double *use;          /* vCPU-seconds used per interval; NULL: unknown */
    uint32_t *counts;           /* this interval's requests per class */
    uint32_t *touched;          /* classes with counts != 0 */
    size_t ntouched;
    /* what a policy may learn: intervals before the decision time only */
    struct sim_rec *q;
    size_t qhead, qlen, qcap;
    uint32_t *obs_counts, *obs_touched;
    size_t obs_ntouched;
    size_t nslots;              /* classes, then groups */
    struct sim_pool *pools;
    uint32_t *target;
    struct drv_res *gsize;      /* group, then family member size the policy asks for */
    struct drv_res *gmax;       /* the most a group or family member grows to */
    double *idle;               /* vCPU-seconds idle in each interval (waste included) */
};

/* A policy: plan() sets s->target (and s->gsize for group pools) for
 * interval `bin`; observe() learns interval `bin` from s->obs_counts of
 * the classes in s->obs_touched, once the decision time is past it. */
struct sim_policy {
    void *(*create)(struct sim *s);
    void (*destroy)(void *st);
    int (*plan)(void *st, struct sim *s, int64_t bin, struct drv_pool_result *r,
                struct err **err);
    void (*observe)(void *st, struct sim *s, int64_t bin);
};

/* none */
static void *none_create(struct sim *s)
{
    (void)s;
    return xzalloc(1);
}

static int none_plan(void *st, struct sim *s, int64_t bin, struct drv_pool_result *r,
                     struct err **err)
{
    (void)st, (void)bin, (void)r, (void)err;
    memset(s->target, 0, s->nslots * sizeof(*s->target));
    return 0;
}

static void none_observe(void *st, struct sim *s, int64_t bin)
{
    (void)st, (void)s, (void)bin;
}

/* fixed: a class asked for once keeps fixed_size members */
static void *fixed_create(struct sim *s)
{
    return xcalloc(s->tr->nclasses ? s->tr->nclasses : 1, sizeof(bool));
}

static int fixed_plan(void *st, struct sim *s, int64_t bin, struct drv_pool_result *r,
                      struct err **err)
{
    const bool *seen = st;
    (void)bin, (void)r, (void)err;
    memset(s->target, 0, s->nslots * sizeof(*s->target));
    for (size_t c = 0; c < s->tr->nclasses; c++)
        s->target[c] = seen[c] ? s->o->fixed_size : 0;
    return 0;
}

static void fixed_observe(void *st, struct sim *s, int64_t bin)
{
    bool *seen = st;
    (void)bin;
    for (size_t i = 0; i < s->obs_ntouched; i++)
        seen[s->obs_touched[i]] = true;
}

/* hybrid */
static void *hybrid_create(struct sim *s)
{
    return drv_hybrid_new(s->tr->nclasses, s->dt);
}

static void hybrid_destroy(void *st)
{
    drv_hybrid_free(st);
}

static int hybrid_plan(void *st, struct sim *s, int64_t bin, struct drv_pool_result *r,
                       struct err **err)
{
    (void)r, (void)err;
    memset(s->target, 0, s->nslots * sizeof(*s->target));
    for (size_t c = 0; c < s->tr->nclasses; c++)
        s->target[c] = drv_hybrid_target(st, c, bin);
    return 0;
}

static void hybrid_observe(void *st, struct sim *s, int64_t bin)
{
    for (size_t i = 0; i < s->obs_ntouched; i++)
        drv_hybrid_observe(st, s->obs_touched[i], bin, s->obs_counts[s->obs_touched[i]]);
}

/* sculpt: the service's planner */
struct sculpt_st {
    struct drv_presculpt *ps;
    uint32_t *have;             /* members per slot, for the planner */
    uint64_t bound, plans;
};

static void *sculpt_create(struct sim *s)
{
    struct sculpt_st *st = xzalloc(sizeof(*st));
    struct drv_presculpt_params p = s->o->params;
    p.interval_s = s->dt;
    st->ps = drv_presculpt_new(&p);
    st->have = xcalloc(s->nslots, sizeof(*st->have));
    /* the planner interns classes and groups in the trace's order, so
     * indices (and the slot layout: classes, then groups) agree */
    for (size_t c = 0; c < s->tr->nclasses; c++) {
        const struct drv_arrival_class *cl = &s->tr->classes[c];
        const struct drv_arrival_group *g = &s->tr->groups[cl->group];
        int ix = drv_presculpt_class_in(st->ps, cl->key, g->key, s->tr->families[g->family].key,
                                        &cl->size);
        if (ix != (int)c || drv_presculpt_class_group(st->ps, ix) != (int)cl->group ||
            drv_presculpt_group_family(st->ps, (int)cl->group) != (int)g->family)
            abort(); /* a bug: both intern in first-seen order */
    }
    return st;
}

static void sculpt_destroy(void *p)
{
    struct sculpt_st *st = p;
    drv_presculpt_free(st->ps);
    free(st->have);
    free(st);
}

static int sculpt_plan(void *p, struct sim *s, int64_t bin, struct drv_pool_result *r,
                       struct err **err)
{
    struct sculpt_st *st = p;
    /* what idled and what guests used over the last interval the
     * decision knows */
    if (bin - 1 - s->lead_bins >= 0)
        drv_presculpt_report_idle(st->ps, s->idle[bin - 1 - s->lead_bins]);
    struct drv_res used = drv_res_zero();
    int64_t last = bin - 1 - s->lead_bins;
    if (s->use && last >= 0)
        used.v[DRV_RES_VCPU] = s->use[last] / (double)s->dt;
    struct drv_presculpt_plan_out out;
    for (size_t k = 0; k < s->nslots; k++)
        st->have[k] = s->pools[k].n > UINT32_MAX ? UINT32_MAX : (uint32_t)s->pools[k].n;
    if (drv_presculpt_plan(st->ps, s->t0 + (bin - s->lead_bins) * s->dt, s->t0 + bin * s->dt,
                           s->use ? &used : NULL, st->have, false, &out, err) < 0)
        return -1;
    st->plans++;
    st->bound += out.budget_bound;

    r->budget_bound_share = (double)st->bound / (double)st->plans;
    memset(s->target, 0, s->nslots * sizeof(*s->target));
    for (size_t i = 0; i < out.npools; i++) {
        const struct drv_pool_plan *pl = &out.pools[i];
        size_t g = (size_t)pl->index;
        if (pl->level == DRV_POOL_CLASS) {
            s->target[pl->index] = pl->target;
            continue;
        }
        if (pl->level == DRV_POOL_FAMILY)
            g += s->tr->ngroups;
        s->target[s->tr->nclasses + g] = pl->target;
        s->gsize[g] = pl->member;
        s->gmax[g] = pl->member_max;
    }
    return 0;
}

static void sculpt_observe(void *p, struct sim *s, int64_t bin)
{
    struct sculpt_st *st = p;
    for (size_t i = 0; i < s->obs_ntouched; i++)
        drv_presculpt_record(st->ps, (int)s->obs_touched[i], s->t0 + bin * s->dt,
                             s->obs_counts[s->obs_touched[i]]);
}

static void free_void(void *p)
{
    free(p);
}

static const struct sim_policy sim_policies[DRV_POOL_POLICY_LAST] = {
    [DRV_POOL_POLICY_NONE] = {none_create, free_void, none_plan, none_observe},
    [DRV_POOL_POLICY_FIXED] = {fixed_create, free_void, fixed_plan, fixed_observe},
    [DRV_POOL_POLICY_HYBRID] = {hybrid_create, hybrid_destroy, hybrid_plan, hybrid_observe},
    [DRV_POOL_POLICY_SCULPT] = {sculpt_create, sculpt_destroy, sculpt_plan, sculpt_observe},
};

/* Shared by every policy's run: the intervals, the vCPUs in use at each
 * interval's start, the vCPU-seconds the scored guests used. */
struct sim_frame {
    int64_t dt, t0, nbins, score_bin;
    double *use;                /* vCPU-seconds used per interval; NULL: no lifetime known */
    double used_vcpu_s;
};

static void sim_frame_build(const struct drv_arrival_trace *tr, int64_t dt,
                            struct sim_frame *f)
{
    memset(f, 0, sizeof(*f));
    f->dt = dt;
    f->t0 = drv_floor_div(tr->arr[0].t, dt) * dt;
    f->nbins = drv_floor_div(tr->t_end - f->t0 + dt - 1, dt);
    if (f->nbins < 1)
        f->nbins = 1;
    f->score_bin = tr->score_from == INT64_MAX ? 0 : drv_floor_div(tr->score_from - f->t0, dt);
    if (tr->score_from == INT64_MAX)
        return; /* no lifetime: nothing is known to run */

    /* a guest of unknown lifetime runs its class's mean known lifetime */
    double *sum = xcalloc(tr->nclasses, sizeof(double)), all = 0;
    uint64_t *n = xcalloc(tr->nclasses, sizeof(uint64_t)), alln = 0;
    for (size_t i = 0; i < tr->narr; i++) {
        const struct drv_arrival *a = &tr->arr[i];
        if (isnan(a->lifetime_s))
            continue;
        sum[a->cls] += (double)a->count * a->lifetime_s;
        n[a->cls] += a->count;
        all += (double)a->count * a->lifetime_s;
        alln += a->count;
    }
    /* vCPU-seconds used in each interval: the ends partially, the
     * intervals between whole (a running sum of differences) */
    double *diff = xcalloc((size_t)f->nbins + 1, sizeof(double));
    f->use = xcalloc((size_t)f->nbins, sizeof(double));
    double horizon = (double)(tr->t_end - f->t0), D = (double)dt;
    for (size_t i = 0; i < tr->narr; i++) {
        const struct drv_arrival *a = &tr->arr[i];
        double life = a->lifetime_s;
        if (isnan(life))
            life = n[a->cls] ? sum[a->cls] / (double)n[a->cls] : all / (double)alln;
        double v = (double)a->count * tr->classes[a->cls].size.v[DRV_RES_VCPU];
        double start = (double)(a->t - f->t0), end = start + life;
        if (end > horizon)
            end = horizon;
        if (end > start) {
            int64_t kb = (int64_t)floor(start / D), ke = (int64_t)floor(end / D);
            if (ke >= f->nbins)
                ke = f->nbins - 1;
            if (kb == ke) {
                f->use[kb] += v * (end - start);
            } else {
                f->use[kb] += v * ((double)(kb + 1) * D - start);
                f->use[ke] += v * (end - (double)ke * D);
                diff[kb + 1] += v * D;
                diff[ke] -= v * D;
            }
        }
        if (drv_floor_div(a->t - f->t0, dt) >= f->score_bin && !isnan(a->lifetime_s)) {
            double cut = (double)(tr->t_end - a->t);
            f->used_vcpu_s += v * (a->lifetime_s < cut ? a->lifetime_s : (cut > 0 ? cut : 0));
        }
    }
    double run = 0;
    for (int64_t k = 0; k < f->nbins; k++) {
        run += diff[k];
        f->use[k] += run;
    }
    free(diff);
    free(sum);
    free(n);
}

static void sim_queue(struct sim *s, int64_t bin)
{
    for (size_t i = 0; i < s->ntouched; i++) {
        if (s->qhead + s->qlen == s->qcap) {
            if (s->qhead > 0) {
                memmove(s->q, s->q + s->qhead, s->qlen * sizeof(*s->q));
                s->qhead = 0;
            } else {
                s->qcap = s->qcap ? 2 * s->qcap : 256;
                s->q = xreallocarray(s->q, s->qcap, sizeof(*s->q));
            }
        }
        s->q[s->qhead + s->qlen++] =
            (struct sim_rec){bin, s->touched[i], s->counts[s->touched[i]]};
    }
}

/* Let the policy learn every queued interval up to `upto`. */
static void sim_deliver(struct sim *s, const struct sim_policy *pol, void *st, int64_t upto)
{
    while (s->qlen > 0 && s->q[s->qhead].bin <= upto) {
        int64_t bin = s->q[s->qhead].bin;
        s->obs_ntouched = 0;
        while (s->qlen > 0 && s->q[s->qhead].bin == bin) {
            const struct sim_rec *r = &s->q[s->qhead++];
            s->qlen--;
            s->obs_counts[r->cls] = r->count;
            s->obs_touched[s->obs_ntouched++] = r->cls;
        }
        pol->observe(st, s, bin);
        for (size_t i = 0; i < s->obs_ntouched; i++)
            s->obs_counts[s->obs_touched[i]] = 0;
    }
    if (s->qlen == 0)
        s->qhead = 0;
}

static int sim_run(const struct drv_arrival_trace *tr, const struct drv_pool_replay_opts *o,
                   const struct sim_frame *f, enum drv_pool_policy policy,
                   drv_pool_progress_fn progress, void *opaque, struct drv_pool_result *r,
                   struct err **err)
{
    const struct sim_policy *pol = &sim_policies[policy];
    const struct drv_cost_model *cm = &o->params.cost;
    struct sim s = {
        .tr = tr,
        .o = o,
        .dt = f->dt,
        .t0 = f->t0,
        .nbins = f->nbins,
        .score_bin = f->score_bin,
        .use = f->use,
    };
    double prep_s = o->params.cold_start_s;
    int ret = -1;
    int64_t t_start = clock_mono_ns();

    s.ttl_bins = o->params.member_ttl_s / s.dt;
    if (s.ttl_bins < 1)
        s.ttl_bins = 1;
    s.lead_bins = (int64_t)floor(prep_s / (double)s.dt);
    s.nslots = tr->nclasses + tr->ngroups + tr->nfamilies;
    s.counts = xcalloc(tr->nclasses, sizeof(*s.counts));
    s.touched = xcalloc(tr->nclasses, sizeof(*s.touched));
    s.obs_counts = xcalloc(tr->nclasses, sizeof(*s.obs_counts));
    s.obs_touched = xcalloc(tr->nclasses, sizeof(*s.obs_touched));
    s.pools = xcalloc(s.nslots, sizeof(*s.pools));
    s.target = xcalloc(s.nslots, sizeof(*s.target));
    s.gsize = xcalloc(tr->ngroups + tr->nfamilies + 1, sizeof(*s.gsize));
    s.gmax = xcalloc(tr->ngroups + tr->nfamilies + 1, sizeof(*s.gmax));
    s.idle = xcalloc((size_t)s.nbins, sizeof(*s.idle));
    memset(r, 0, sizeof(*r));
    r->policy = policy;
    if (o->per_slot)
        r->slots = xcalloc(s.nslots, sizeof(*r->slots));
    r->used_vcpu_s = f->used_vcpu_s;
    void *st = pol->create(&s);

    size_t ai = 0;
    for (int64_t b = 0; b < s.nbins; b++) {
        bool scored = b >= s.score_bin;
        double waste_v = 0, waste_m = 0;
        /* expiry, then the policy's sizes: make or destroy */
        for (size_t k = 0; k < s.nslots; k++) {
            double wv = 0;
            r->expired += pool_expire(&s.pools[k], b, &wv, &waste_m);
            waste_v += wv;
            if (r->slots && scored)
                r->slots[k].idle_vcpu_s += wv * prep_s;
        }
        /* decided cold_start_latency before the interval starts */
        sim_deliver(&s, pol, st, b - 1 - s.lead_bins);
        if (pol->plan(st, &s, b, r, err) < 0)
            goto cleanup;
        for (size_t k = 0; k < s.nslots; k++) {
            struct sim_pool *p = &s.pools[k];
            if (p->n > s.target[k]) {
                double wv = 0;
                r->destroyed += pool_remove(p, p->n - s.target[k], false, &wv, &waste_m);
                waste_v += wv;
                if (r->slots && scored)
                    r->slots[k].idle_vcpu_s += wv * prep_s;
            } else if (p->n < s.target[k]) {
                const struct drv_res *sz = k < tr->nclasses
                                               ? &tr->classes[k].size
                                               : &s.gsize[k - tr->nclasses];
                const struct drv_res *mx = k < tr->nclasses ? sz : &s.gmax[k - tr->nclasses];
                uint32_t add = s.target[k] - (uint32_t)p->n;
                pool_push(p, b + s.ttl_bins, add, (float)sz->v[DRV_RES_VCPU],
                          (float)sz->v[DRV_RES_MEM_MIB], (float)mx->v[DRV_RES_VCPU],
                          (float)mx->v[DRV_RES_MEM_MIB]);
                r->made += add;
            }
        }
        /* this interval's requests: the class's pool, then the group's,
         * then the family's (members it can be re-sculpted to) */
        s.ntouched = 0;
        int64_t bin_end = s.t0 + (b + 1) * s.dt;
        for (; ai < tr->narr && tr->arr[ai].t < bin_end; ai++) {
            const struct drv_arrival *a = &tr->arr[ai];
            if (s.counts[a->cls] == 0)
                s.touched[s.ntouched++] = a->cls;
            uint64_t c = (uint64_t)s.counts[a->cls] + a->count;
            s.counts[a->cls] = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
        }
        for (size_t i = 0; i < s.ntouched; i++) {
            uint32_t cls = s.touched[i], want = s.counts[cls];
            const struct drv_arrival_class *cl = &tr->classes[cls];
            uint64_t reshaped = 0;
            uint64_t got = pool_remove(&s.pools[cls], want, true, NULL, NULL);
            if (got < want)
                got += pool_claim(&s.pools[tr->nclasses + cl->group], want - got, &cl->size,
                                  &reshaped);
            if (got < want)
                got += pool_claim(&s.pools[tr->nclasses + tr->ngroups +
                                           tr->groups[cl->group].family],
                                  want - got, &cl->size, &reshaped);
            if (scored) {
                r->reshapes += reshaped;
                r->requests += want;
                r->hits += got;
                r->cold += want - got;
                if (r->slots) {
                    r->slots[cls].requests += want;
                    r->slots[cls].hits += got;
                }
            }
        }
        double idle_v = waste_v * prep_s, idle_m = waste_m * prep_s;
        if (scored)
            r->waste_vcpu_s += idle_v;
        for (size_t k = 0; k < s.nslots; k++) {
            idle_v += s.pools[k].vcpu * (double)s.dt;
            idle_m += s.pools[k].mem * (double)s.dt;
            if (r->slots && scored)
                r->slots[k].idle_vcpu_s += s.pools[k].vcpu * (double)s.dt;
        }
        s.idle[b] = idle_v;
        if (scored) {
            r->idle_vcpu_s += idle_v;
            r->idle_mem_mib_s += idle_m;
        }
        sim_queue(&s, b);
        for (size_t i = 0; i < s.ntouched; i++)
            s.counts[s.touched[i]] = 0;
        if (progress && (b % 4096 == 0 || b == s.nbins - 1))
            progress((uint64_t)b + 1, (uint64_t)s.nbins, opaque);
    }
    r->cost_idle = (r->idle_vcpu_s * cm->idle[DRV_RES_VCPU] +
                    r->idle_mem_mib_s * cm->idle[DRV_RES_MEM_MIB]) /
                   3600.0;
    r->cost_cold = (double)r->cold * o->params.cold_start_price;
    r->cost_reshape = (double)r->reshapes * cm->reshape;
    r->elapsed_s = (double)(clock_mono_ns() - t_start) / 1e9;
    ret = 0;
cleanup:
    pol->destroy(st);
    for (size_t k = 0; k < s.nslots; k++)
        free(s.pools[k].b);
    free(s.pools);
    free(s.counts);
    free(s.touched);
    free(s.obs_counts);
    free(s.obs_touched);
    free(s.q);
    free(s.target);
    free(s.gsize);
    free(s.gmax);
    free(s.idle);
    return ret;
}

int drv_pool_replay(const struct drv_arrival_trace *tr, const struct drv_pool_replay_opts *o,
                    const enum drv_pool_policy *policies, size_t npolicies,
                    drv_pool_progress_fn progress, void *opaque, struct drv_pool_result *out,
                    int64_t *bin_s, struct err **err)
{
    if (tr->narr == 0)
        return err_set(err, ERR_INVALID, "the trace has no arrival");
    /* the planner's interval, or the trace's resolution if coarser */
    int64_t dt = o->params.interval_s > tr->bin_s ? o->params.interval_s : tr->bin_s;
    if (dt % tr->bin_s != 0)
        dt += tr->bin_s - dt % tr->bin_s;
    if (bin_s)
        *bin_s = dt;
    struct sim_frame f;
    sim_frame_build(tr, dt, &f);
    int ret = 0;
    for (size_t i = 0; i < npolicies && ret == 0; i++) {
        if (policies[i] < 0 || policies[i] >= DRV_POOL_POLICY_LAST) {
            ret = err_set(err, ERR_INVALID, "unknown pool policy %d", (int)policies[i]);
            break;
        }
        ret = sim_run(tr, o, &f, policies[i], progress, opaque, &out[i], err);
    }
    free(f.use);
    return ret;
}
