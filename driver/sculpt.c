/* The engine object: guests, their lookup, the public entry points (each
 * under the mutex) and snapshots.  The decisions themselves live in
 * sculpt_admit.c, sculpt_pin.c and sculpt_step.c; what Placement is told,
 * in sculpt_inventory.c. */
#include "driver/sculpt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/cost_estimate.h"
#include "driver/sculpt_priv.h"

void drv_sculpt_params_from_cfg(const struct cfg *cfg, struct drv_sculpt_params *out)
{
    memset(out, 0, sizeof(*out));
    out->host_violation_rate = cfg->engine_host_violation_rate;
    out->longrun_quantile = cfg->engine_longrun_quantile > 0 ? cfg->engine_longrun_quantile
                                                             : 1 - cfg->engine_host_violation_rate;
    out->hysteresis = cfg->engine_hysteresis;
    out->shrink_hold_steps = (int32_t)cfg->engine_shrink_hold_steps;
    out->lead_steps = (int32_t)cfg->engine_lead_steps;
    out->observed_margin = cfg->engine_observed_margin;
    out->mem_floor_margin = cfg->engine_mem_floor_margin;
    out->cpu_floor_vcpu = cfg->engine_cpu_floor_vcpu;
    out->reshape_horizon_s = cfg->engine_reshape_horizon_s;
    out->move_budget = (int32_t)cfg->engine_move_budget;
    out->records_max = (int32_t)cfg->engine_records_max;
    out->pin_vcpus = cfg->engine_pin_vcpus;
    out->admit_by_risk = true;
    out->boot_share = cfg_engine_boot_burst_share(cfg);
    out->boot_max_s = (double)cfg->engine_boot_burst_max_s;
    drv_cost_model_from_cfg(cfg, &out->cost);
}

static const char *const rule_names[DRV_SCULPT_RULE_LAST] = {
    [DRV_SCULPT_RULE_CEILING] = "ceiling",
    [DRV_SCULPT_RULE_RISK] = "risk",
    [DRV_SCULPT_RULE_FLOOR] = "floor",
    [DRV_SCULPT_RULE_SIZE] = "size",
    [DRV_SCULPT_RULE_LONGRUN] = "longrun",
};

const char *drv_sculpt_rule_name(enum drv_sculpt_rule r)
{
    return r >= 0 && r < DRV_SCULPT_RULE_LAST ? rule_names[r] : "?";
}

static const char *const change_names[DRV_SCULPT_CHANGE_LAST] = {
    [DRV_SCULPT_CHANGE_RESHAPE] = "reshape",
    [DRV_SCULPT_CHANGE_SQUEEZE] = "squeeze",
    [DRV_SCULPT_CHANGE_REPIN] = "repin",
};

const char *drv_sculpt_change_kind_name(enum drv_sculpt_change_kind k)
{
    return k >= 0 && k < DRV_SCULPT_CHANGE_LAST ? change_names[k] : "?";
}

/* Acklam's rational approximation of the standard normal quantile
 * (relative error below 1.2e-9 over (0, 1)). */
static double sculpt_normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double lo = 0.02425;
    if (p <= 0)
        return -INFINITY;
    if (p >= 1)
        return INFINITY;
    if (p < lo) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - lo)
        return -sculpt_normal_quantile(1 - p);
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

static int sculpt_params_validate(const struct drv_sculpt_params *p, struct err **err)
{
    if (!(p->host_violation_rate > 0 && p->host_violation_rate < 1))
        return err_set(err, ERR_INVALID, "engine: host violation rate %g outside (0, 1)",
                       p->host_violation_rate);
    if (!(p->longrun_quantile >= 0.5 && p->longrun_quantile <= 1))
        return err_set(err, ERR_INVALID, "engine: long-run quantile %g outside [0.5, 1]",
                       p->longrun_quantile);
    if (!(p->hysteresis >= 0 && p->hysteresis < 1))
        return err_set(err, ERR_INVALID, "engine: hysteresis %g outside [0, 1)", p->hysteresis);
    if (p->shrink_hold_steps < 0 || p->lead_steps < 1 || p->move_budget < 0 || p->records_max < 0)
        return err_set(err, ERR_INVALID, "engine: hold %d, lead %d, move budget %d, records %d",
                       p->shrink_hold_steps, p->lead_steps, p->move_budget, p->records_max);
    if (!(p->observed_margin >= 0) || !(p->mem_floor_margin >= 0) || !(p->cpu_floor_vcpu > 0) ||
        !(p->reshape_horizon_s > 0))
        return err_set(err, ERR_INVALID,
                       "engine: margins, CPU floor or reshape horizon out of "
                       "range");
    if (!(p->boot_share >= 0 && p->boot_share <= 1) ||
        !(p->boot_max_s >= 0 && p->boot_max_s <= 86400))
        return err_set(err, ERR_INVALID,
                       "engine: boot allowance of %g of the flavor's vCPUs for %g s (a share in "
                       "[0, 1], at most 86400 s)",
                       p->boot_share, p->boot_max_s);
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (!(p->cost.price[k] >= 0) || !(p->cost.violation[k] >= 0))
            return err_set(err, ERR_INVALID, "engine: negative price for `%s`",
                           drv_res_kind_name((enum drv_res_kind)k));
    return 0;
}

struct drv_sculpt *drv_sculpt_new(const struct drv_host *host, const struct drv_sculpt_params *p,
                                  struct err **err)
{
    if (sculpt_params_validate(p, err) < 0)
        return NULL;
    struct drv_sculpt *e = xzalloc(sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    e->host = drv_host_dup(host);
    e->p = *p;
    e->z = sculpt_normal_quantile(1 - p->host_violation_rate);
    for (int k = 0; k < DRV_RES_LAST; k++)
        e->crit[k] = drv_cost_critical_quantile(&p->cost, (enum drv_res_kind)k);
    e->cpu_load = xcalloc((size_t)host->ncpus, sizeof(double));
    e->node_mem = xcalloc((size_t)host->nnodes, sizeof(double));
    e->usable = xcalloc((size_t)host->ncpus, sizeof(int32_t));
    for (int32_t i = 0; i < host->ncpus; i++)
        if (!host->cpus[i].reserved)
            e->usable[e->nusable++] = i;
    e->nslots = 64;
    e->slots = xcalloc(e->nslots, sizeof(int32_t));
    sculpt_records_init(e, (size_t)p->records_max);
    return e;
}

int drv_sculpt_set_params(struct drv_sculpt *e, const struct drv_sculpt_params *p,
                          struct err **err)
{
    if (sculpt_params_validate(p, err) < 0)
        return -1;
    pthread_mutex_lock(&e->lock);
    int32_t records_max = e->p.records_max; /* the ring is sized once */
    e->p = *p;
    e->p.records_max = records_max;
    e->z = sculpt_normal_quantile(1 - p->host_violation_rate);
    for (int k = 0; k < DRV_RES_LAST; k++)
        e->crit[k] = drv_cost_critical_quantile(&p->cost, (enum drv_res_kind)k);
    e->version++; /* admission's sums weigh guests at the new quantiles */
    pthread_mutex_unlock(&e->lock);
    return 0;
}

void drv_sculpt_get_params(struct drv_sculpt *e, struct drv_sculpt_params *out)
{
    pthread_mutex_lock(&e->lock);
    *out = e->p;
    pthread_mutex_unlock(&e->lock);
}

void drv_sculpt_free(struct drv_sculpt *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nguests; i++) {
        drv_blueprint_free(e->guests[i]->bp);
        free(e->guests[i]);
    }
    free(e->guests);
    free(e->slots);
    free(e->cpu_load);
    free(e->node_mem);
    free(e->usable);
    sculpt_agg_release(&e->agg);
    sculpt_records_release(e);
    drv_host_free(e->host);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

const struct drv_host *drv_sculpt_host(const struct drv_sculpt *e)
{
    return e->host;
}

/* ---- guest table: an array plus an open-addressing index by uuid ---- */

static uint64_t sculpt_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void sculpt_index_rebuild(struct drv_sculpt *e)
{
    size_t want = 64;
    while (want < 4 * (e->nguests + 1))
        want *= 2;
    if (want != e->nslots) {
        free(e->slots);
        e->nslots = want;
        e->slots = xcalloc(want, sizeof(int32_t));
    } else {
        memset(e->slots, 0, want * sizeof(int32_t));
    }
    for (size_t i = 0; i < e->nguests; i++) {
        size_t s = sculpt_hash(e->guests[i]->spec.uuid) & (e->nslots - 1);
        while (e->slots[s] != 0)
            s = (s + 1) & (e->nslots - 1);
        e->slots[s] = (int32_t)i + 1;
    }
}

struct sculpt_guest *sculpt_find(struct drv_sculpt *e, const char *uuid)
{
    size_t s = sculpt_hash(uuid) & (e->nslots - 1);
    for (size_t probes = 0; probes < e->nslots && e->slots[s] != 0; probes++) {
        struct sculpt_guest *g = e->guests[e->slots[s] - 1];
        if (strcmp(g->spec.uuid, uuid) == 0)
            return g;
        s = (s + 1) & (e->nslots - 1);
    }
    return NULL;
}

/* Takes @e's lock and finds @uuid's guest. Returns the guest with the lock
 * held (the caller unlocks), or NULL with the lock released and *err set
 * to NOT_FOUND. */
static struct sculpt_guest *sculpt_lock_guest(struct drv_sculpt *e, const char *uuid,
                                              struct err **err)
{
    pthread_mutex_lock(&e->lock);
    struct sculpt_guest *g = sculpt_find(e, uuid);
    if (!g) {
        pthread_mutex_unlock(&e->lock);
        err_set(err, ERR_NOT_FOUND, "no guest `%s` on this host", uuid);
    }
    return g;
}

static void sculpt_insert(struct drv_sculpt *e, struct sculpt_guest *g)
{
    if (e->nguests == e->capguests) {
        e->capguests = e->capguests ? 2 * e->capguests : 16;
        e->guests = xreallocarray(e->guests, e->capguests, sizeof(*e->guests));
    }
    e->guests[e->nguests++] = g;
    if (4 * e->nguests > e->nslots) {
        sculpt_index_rebuild(e);
        return;
    }
    size_t s = sculpt_hash(g->spec.uuid) & (e->nslots - 1);
    while (e->slots[s] != 0)
        s = (s + 1) & (e->nslots - 1);
    e->slots[s] = (int32_t)e->nguests;
}

static void sculpt_delete(struct drv_sculpt *e, struct sculpt_guest *g)
{
    for (size_t i = 0; i < e->nguests; i++) {
        if (e->guests[i] == g) {
            e->guests[i] = e->guests[--e->nguests];
            break;
        }
    }
    sculpt_index_rebuild(e); /* removal is rare: rebuild instead of tombstones */
}

/* ---- helpers shared by the decision files ---- */

int32_t sculpt_bp_step(const struct drv_blueprint *bp, int64_t t_s)
{
    if (t_s <= bp->start_s)
        return 0;
    int64_t s = (t_s - bp->start_s) / bp->step_s;
    return s >= bp->nsteps ? bp->nsteps - 1 : (int32_t)s;
}

struct drv_res sculpt_floor(const struct drv_sculpt *e, const struct sculpt_guest *g)
{
    struct drv_res f = drv_res_zero();
    double mem = fmax(g->spec.mem_floor_mib, g->ws_mib * (1 + e->p.mem_floor_margin));
    mem = fmax(mem, SCULPT_MEM_MIN_MIB);
    f.v[DRV_RES_MEM_MIB] = fmin(mem, g->spec.ceiling.v[DRV_RES_MEM_MIB]);
    f.v[DRV_RES_VCPU] = fmin(e->p.cpu_floor_vcpu, g->spec.ceiling.v[DRV_RES_VCPU]);
    return f;
}

double sculpt_planned(const struct drv_sculpt *e, const struct sculpt_guest *g, int32_t s, int k,
                      double floor)
{
    double ceil = g->spec.ceiling.v[k];
    if (!g->bp)
        return fmin(fmax(g->shape.res.v[k], floor), ceil);
    double p99 = drv_blueprint_get(g->bp, s, k, DRV_Q_P99);
    double a;
    if (g->bp->alloc && (g->bp->alloc[(size_t)s * DRV_RES_LAST + (size_t)k] > 0 || p99 == 0))
        /* the predictor already priced its bands with the same cost model */
        a = g->bp->alloc[(size_t)s * DRV_RES_LAST + (size_t)k];
    else
        a = drv_cost_band_quantile(drv_blueprint_get(g->bp, s, k, DRV_Q_P50),
                                   drv_blueprint_get(g->bp, s, k, DRV_Q_P90), p99, e->crit[k]);
    return fmin(fmax(a, floor), ceil);
}

void sculpt_moments(const struct sculpt_guest *g, int32_t s, int k, double plan, double *mean,
                    double *var)
{
    if (!g->bp) {
        *mean = plan;
        *var = 0;
        return;
    }
    double m, sd;
    drv_cost_band_moments(drv_blueprint_get(g->bp, s, k, DRV_Q_P50),
                          drv_blueprint_get(g->bp, s, k, DRV_Q_P90),
                          drv_blueprint_get(g->bp, s, k, DRV_Q_P99), &m, &sd);
    *mean = fmin(m, plan);
    *var = sd * sd;
}

double sculpt_longrun(const struct drv_sculpt *e, const struct sculpt_guest *g, int k,
                      double plan_now)
{
    if (!g->bp || !drv_blueprint_has_longrun(g->bp, (enum drv_res_kind)k))
        return plan_now;
    const double *q = g->bp->longrun[k];
    return fmin(drv_cost_band_quantile(q[DRV_Q_P50], q[DRV_Q_P90], q[DRV_Q_P99],
                                       e->p.longrun_quantile),
                g->spec.ceiling.v[k]);
}

double sculpt_boot_allowance(const struct drv_sculpt *e, const struct sculpt_guest *g, double base,
                             double others)
{
    double want = e->p.boot_share * g->spec.ceiling.v[DRV_RES_VCPU];
    double free_cpu = e->host->capacity.v[DRV_RES_VCPU] - others;
    return fmax(base, fmin(want, free_cpu));
}

void sculpt_boot_begin(const struct drv_sculpt *e, struct sculpt_guest *g, int64_t now_s)
{
    if (e->p.boot_share <= 0 || e->p.boot_max_s <= 0)
        return;
    g->boot_start_s = now_s;
    g->boot_until_s = now_s + (int64_t)ceil(e->p.boot_max_s);
    g->boot_up_s = 0;
}

/* The vCPU shapes of every guest but g. */
static double sculpt_others_vcpu(const struct drv_sculpt *e, const struct sculpt_guest *g)
{
    double sum = 0;
    for (size_t i = 0; i < e->nguests; i++)
        if (e->guests[i] != g)
            sum += e->guests[i]->shape.res.v[DRV_RES_VCPU];
    return sum;
}

void sculpt_shape_finish(const struct sculpt_guest *g, struct drv_shape *s)
{
    if (s->vcpus_online < 1)
        s->vcpus_online = (int32_t)ceil(s->res.v[DRV_RES_VCPU] - 1e-9);
    if (s->vcpus_online < 1)
        s->vcpus_online = 1;
    if (s->vcpus_online > g->spec.vcpus_max)
        s->vcpus_online = g->spec.vcpus_max;
    s->vcpus_max = g->spec.vcpus_max;
    s->mem_max_mib = g->spec.mem_max_mib;
    s->cpu_weight = drv_shape_weight_for(s->res.v[DRV_RES_VCPU], g->spec.priority);
}

struct drv_shape sculpt_reshape_to(struct drv_sculpt *e, struct sculpt_guest *g, struct drv_res res,
                                   int32_t online, int64_t now_s)
{
    struct drv_shape from = g->shape;
    sculpt_pin_unload(e, g);
    g->shape.res = res;
    g->shape.vcpus_online = online;
    sculpt_shape_finish(g, &g->shape);
    if (g->shape.vcpus_online != from.vcpus_online || drv_cpuset_count(&from.pcpus) == 0)
        sculpt_pin_place(e, g, true);
    else
        sculpt_pin_load(e, g);
    g->reshapes++;
    g->last_reshape_s = now_s;
    e->reshapes++;
    return from;
}

void sculpt_change_fill(struct drv_sculpt_change *change, const struct sculpt_guest *g,
                        const struct drv_shape *from, const char *why)
{
    if (!change)
        return;
    memcpy(change->uuid, g->spec.uuid, sizeof(change->uuid));
    change->kind = DRV_SCULPT_CHANGE_RESHAPE;
    change->from = *from;
    change->to = g->shape;
    snprintf(change->why, sizeof(change->why), "%s", why);
}

/* ---- validation ---- */

static int sculpt_spec_validate(const struct drv_sculpt_guest_spec *s, struct err **err)
{
    size_t n = strnlen(s->uuid, sizeof(s->uuid));
    if (n == 0 || n > DRV_UUID_LEN)
        return err_set(err, ERR_INVALID, "guest spec without a uuid");
    for (size_t i = 0; i < n; i++)
        if (s->uuid[i] <= ' ' || s->uuid[i] > '~')
            return err_set(err, ERR_INVALID, "guest uuid `%s` has invalid characters", s->uuid);
    if (drv_res_validate(s->ceiling, err) < 0)
        return err_wrap(err, "guest `%s` ceiling", s->uuid);
    if (!(s->ceiling.v[DRV_RES_VCPU] > 0) || !(s->ceiling.v[DRV_RES_MEM_MIB] > 0))
        return err_set(err, ERR_INVALID, "guest `%s`: the ceiling needs vCPUs and memory", s->uuid);
    if (s->vcpus_max < 1 || s->vcpus_max > DRV_CPUSET_MAX ||
        s->vcpus_max < s->ceiling.v[DRV_RES_VCPU] - 1e-9)
        return err_set(err, ERR_INVALID, "guest `%s`: %d vCPUs defined for a ceiling of %g",
                       s->uuid, s->vcpus_max, s->ceiling.v[DRV_RES_VCPU]);
    if (!(s->mem_max_mib >= s->ceiling.v[DRV_RES_MEM_MIB] - 1e-9) || s->mem_max_mib > DRV_RES_MAX)
        return err_set(err, ERR_INVALID, "guest `%s`: %g MiB defined for a ceiling of %g MiB",
                       s->uuid, s->mem_max_mib, s->ceiling.v[DRV_RES_MEM_MIB]);
    if (s->priority < -1000 || s->priority > 1000)
        return err_set(err, ERR_INVALID, "guest `%s`: priority %d outside [-1000, 1000]", s->uuid,
                       s->priority);
    if (!(s->mem_floor_mib >= 0) || s->mem_floor_mib > s->ceiling.v[DRV_RES_MEM_MIB])
        return err_set(err, ERR_INVALID, "guest `%s`: memory floor %g MiB above its ceiling",
                       s->uuid, s->mem_floor_mib);
    return 0;
}

static struct sculpt_guest *sculpt_guest_new(const struct drv_sculpt_guest_spec *spec,
                                             const struct drv_blueprint *bp, int64_t now_s)
{
    struct sculpt_guest *g = xzalloc(sizeof(*g));
    g->spec = *spec;
    g->spec.uuid[DRV_UUID_LEN] = '\0';
    g->bp = bp ? drv_blueprint_dup(bp) : NULL;
    g->placed_s = now_s;
    g->shape.numa_node = -1;
    return g;
}

static void sculpt_guest_free(struct sculpt_guest *g)
{
    if (g) {
        drv_blueprint_free(g->bp);
        free(g);
    }
}

/* The initial shape of a new guest: its plan over the first lead steps. */
static void sculpt_initial_shape(struct drv_sculpt *e, struct sculpt_guest *g, int64_t now_s)
{
    struct drv_res floor = sculpt_floor(e, g);
    int32_t s0 = sculpt_bp_step(g->bp, now_s);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (!sculpt_shaped(g, k))
            continue;
        double a = 0;
        for (int32_t s = s0; s < s0 + e->p.lead_steps && s < g->bp->nsteps; s++)
            a = fmax(a, sculpt_planned(e, g, s, k, floor.v[k]));
        g->shape.res.v[k] = a;
        g->target.v[k] = a;
    }
    /* a new guest boots: CPU the host has free, on top of its plan */
    if (!g->spec.booted) {
        sculpt_boot_begin(e, g, now_s);
        g->boot_base_vcpu = g->shape.res.v[DRV_RES_VCPU];
        if (g->boot_until_s)
            g->shape.res.v[DRV_RES_VCPU] = sculpt_boot_allowance(
                e, g, g->boot_base_vcpu, sculpt_others_vcpu(e, g));
    }
    g->shape.vcpus_online = 0;
    sculpt_shape_finish(g, &g->shape);
}

/* ---- public entry points ---- */

int drv_sculpt_admit(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                     const struct drv_blueprint *bp, int64_t now_s, struct drv_sculpt_refusal *why,
                     struct err **err)
{
    struct drv_sculpt_refusal local;
    if (sculpt_spec_validate(spec, err) < 0 || drv_blueprint_validate(bp, err) < 0)
        return -1;
    struct sculpt_guest *g = sculpt_guest_new(spec, bp, now_s);
    pthread_mutex_lock(&e->lock);
    int rc = sculpt_admit_check(e, g, now_s, why ? why : &local);
    pthread_mutex_unlock(&e->lock);
    sculpt_guest_free(g);
    if (rc < 0)
        return err_set(err, ERR_CAPACITY, "%s", (why ? why : &local)->text);
    return 0;
}

/* Forget the first k reclaimable guests of `order` for `for_uuid`
 * (under the lock). */
static void sculpt_reclaim_take(struct drv_sculpt *e, const char *const *order, size_t k,
                                const char *for_uuid)
{
    for (size_t i = 0; i < k; i++) {
        struct sculpt_guest *g = sculpt_find(e, order[i]);
        if (!g || !g->spec.reclaimable)
            continue;
        sculpt_pin_unload(e, g);
        sculpt_delete(e, g);
        char res[160];
        sculpt_record(e, g->spec.uuid, DRV_SCULPT_DEC_REMOVE, -1, 0, "reclaim", 0, 0, 0,
                      "reclaimed for %s: %s given back", for_uuid,
                      drv_res_format(g->shape.res, res, sizeof(res)));
        sculpt_guest_free(g);
    }
    e->version++;
}

int drv_sculpt_place_reclaiming(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                                const struct drv_blueprint *bp, int64_t now_s,
                                const char *const *order, size_t n, size_t *taken,
                                struct drv_shape *shape, struct drv_sculpt_refusal *why,
                                struct err **err)
{
    struct drv_sculpt_refusal local;
    struct drv_sculpt_refusal *w = why ? why : &local;
    size_t k = 0;
    if (taken)
        *taken = 0;
    if (sculpt_spec_validate(spec, err) < 0 || drv_blueprint_validate(bp, err) < 0)
        return -1;
    struct sculpt_guest *g = sculpt_guest_new(spec, bp, now_s);
    pthread_mutex_lock(&e->lock);
    if (sculpt_find(e, g->spec.uuid)) {
        pthread_mutex_unlock(&e->lock);
        err_set(err, ERR_CONFLICT, "guest `%s` is already placed", g->spec.uuid);
        sculpt_guest_free(g);
        return -1;
    }
    if (sculpt_admit_check(e, g, now_s, w) < 0 &&
        (n == 0 || sculpt_reclaim_plan(e, g, now_s, order, n, &k, w) < 0)) {
        e->refused++;
        sculpt_record(e, g->spec.uuid, DRV_SCULPT_DEC_REFUSE, w->res, e->crit[w->res],
                      drv_sculpt_rule_name(w->rule), w->need, w->limit, 0, "%s", w->text);
        pthread_mutex_unlock(&e->lock);
        if (n > 0)
            err_set(err, ERR_CAPACITY, "%s (with every reclaimable guest's room given back)",
                    w->text);
        else
            err_set(err, ERR_CAPACITY, "%s", w->text);
        sculpt_guest_free(g);
        return -1;
    }
    if (k > 0)
        sculpt_reclaim_take(e, order, k, g->spec.uuid);
    sculpt_initial_shape(e, g, now_s);
    sculpt_pin_place(e, g, false);
    sculpt_insert(e, g);
    e->admitted++;
    e->version++;
    if (now_s > e->now_s)
        e->now_s = now_s;
    char res[160], cpus[96], boot[96] = "";
    if (g->boot_until_s && g->shape.res.v[DRV_RES_VCPU] > g->boot_base_vcpu + 1e-9)
        snprintf(boot, sizeof(boot), "; boot allowance %.4g vCPU over its plan's %.4g for %lld s at most",
                 g->shape.res.v[DRV_RES_VCPU], g->boot_base_vcpu,
                 (long long)(g->boot_until_s - now_s));
    sculpt_record(e, g->spec.uuid, DRV_SCULPT_DEC_ADMIT, DRV_RES_VCPU, e->crit[DRV_RES_VCPU],
                  "contiguity", 0, drv_host_contiguity(e->host, &g->shape.pcpus), 0,
                  "placed at %s on CPUs [%s] node %d (band p%g of blueprint `%s`)%s",
                  drv_res_format(g->shape.res, res, sizeof(res)),
                  drv_cpuset_format(&g->shape.pcpus, cpus, sizeof(cpus)), g->shape.numa_node,
                  100 * e->crit[DRV_RES_VCPU], g->bp->model, boot);
    *shape = g->shape;
    pthread_mutex_unlock(&e->lock);
    if (taken)
        *taken = k;
    return 0;
}

int drv_sculpt_place(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                     const struct drv_blueprint *bp, int64_t now_s, struct drv_shape *shape,
                     struct drv_sculpt_refusal *why, struct err **err)
{
    return drv_sculpt_place_reclaiming(e, spec, bp, now_s, NULL, 0, NULL, shape, why, err);
}

int drv_sculpt_set_reclaimable(struct drv_sculpt *e, const char *uuid, bool reclaimable,
                               struct err **err)
{
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    if (g->spec.reclaimable != reclaimable) {
        g->spec.reclaimable = reclaimable;
        e->version++;
    }
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int drv_sculpt_adopt(struct drv_sculpt *e, const struct drv_sculpt_guest_spec *spec,
                     const struct drv_blueprint *bp, const struct drv_shape *shape, int64_t now_s,
                     struct err **err)
{
    if (sculpt_spec_validate(spec, err) < 0 || (bp && drv_blueprint_validate(bp, err) < 0))
        return -1;
    if (drv_shape_validate(shape, err) < 0)
        return err_wrap(err, "adopt `%s`", spec->uuid);
    for (int i = 0; i < DRV_CPUSET_MAX; i++)
        if (drv_cpuset_has(&shape->pcpus, i) && drv_host_cpu_index(e->host, i) < 0)
            return err_set(err, ERR_INVALID, "adopt `%s`: CPU %d is not on this host", spec->uuid,
                           i);
    if (shape->numa_node >= e->host->nnodes)
        return err_set(err, ERR_INVALID, "adopt `%s`: NUMA node %d is not on this host", spec->uuid,
                       shape->numa_node);
    struct sculpt_guest *g = sculpt_guest_new(spec, bp, now_s);
    g->shape = *shape;
    g->target = shape->res;
    pthread_mutex_lock(&e->lock);
    if (sculpt_find(e, g->spec.uuid)) {
        pthread_mutex_unlock(&e->lock);
        sculpt_guest_free(g);
        return err_set(err, ERR_CONFLICT, "guest `%s` is already held", spec->uuid);
    }
    sculpt_pin_load(e, g);
    sculpt_insert(e, g);
    e->version++;
    char res[160];
    sculpt_record(e, g->spec.uuid, DRV_SCULPT_DEC_ADMIT, -1, 0, "adopt", 0, 0, 0,
                  "adopted as it runs: %s", drv_res_format(g->shape.res, res, sizeof(res)));
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int drv_sculpt_remove(struct drv_sculpt *e, const char *uuid, struct err **err)
{
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    sculpt_pin_unload(e, g);
    sculpt_delete(e, g);
    e->version++;
    sculpt_record(e, uuid, DRV_SCULPT_DEC_REMOVE, -1, 0, "", 0, 0, 0,
                  "removed after %" PRId64 " s, %" PRIu64 " reshapes", e->now_s - g->placed_s,
                  g->reshapes);
    pthread_mutex_unlock(&e->lock);
    sculpt_guest_free(g);
    return 0;
}

int drv_sculpt_set_blueprint(struct drv_sculpt *e, const char *uuid, const struct drv_blueprint *bp,
                             struct err **err)
{
    if (drv_blueprint_validate(bp, err) < 0)
        return -1;
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    if (g->bp && g->bp->nsteps == bp->nsteps && !g->bp->alloc == !bp->alloc) {
        /* same layout: copy in place, no allocation (the common case) */
        double *q = g->bp->q, *alloc = g->bp->alloc;
        memcpy(q, bp->q, (size_t)bp->nsteps * DRV_RES_LAST * DRV_Q_LAST * sizeof(double));
        if (alloc)
            memcpy(alloc, bp->alloc, (size_t)bp->nsteps * DRV_RES_LAST * sizeof(double));
        *g->bp = *bp;
        g->bp->q = q;
        g->bp->alloc = alloc;
    } else {
        drv_blueprint_free(g->bp);
        g->bp = drv_blueprint_dup(bp);
    }
    e->version++;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int drv_sculpt_set_priority(struct drv_sculpt *e, const char *uuid, int32_t priority,
                            struct err **err)
{
    if (priority < -1000 || priority > 1000)
        return err_set(err, ERR_INVALID, "priority %d outside [-1000, 1000]", priority);
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    g->spec.priority = priority;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int drv_sculpt_observe(struct drv_sculpt *e, const char *uuid, struct drv_res use, int64_t t_s,
                       struct err **err)
{
    if (drv_res_validate(use, err) < 0)
        return err_wrap(err, "observed use of `%s`", uuid);
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    g->use = use;
    g->has_use = true;
    g->use_t = t_s;
    /* the working set is forgotten over about the time a reshape is meant
     * to hold: long enough to ride out a lull, short enough to let go */
    double decayed = g->ws_mib;
    if (g->ws_t && t_s > g->ws_t)
        decayed *= exp2(-(double)(t_s - g->ws_t) / e->p.reshape_horizon_s);
    g->ws_mib = fmax(decayed, use.v[DRV_RES_MEM_MIB]);
    g->ws_t = t_s;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int drv_sculpt_step(struct drv_sculpt *e, int64_t now_s, struct drv_sculpt_change **changes,
                    size_t *nchanges, struct err **err)
{
    (void)err;
    pthread_mutex_lock(&e->lock);
    int rc = sculpt_step(e, now_s, changes, nchanges);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int drv_sculpt_force(struct drv_sculpt *e, const char *uuid, struct drv_res res, int64_t now_s,
                     struct drv_sculpt_change *change, struct err **err)
{
    if (drv_res_validate(res, err) < 0)
        return err_wrap(err, "entitlement for `%s`", uuid);
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    e->now_s = now_s;
    struct drv_res want = g->shape.res;
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (sculpt_shaped(g, k))
            want.v[k] = fmin(res.v[k], g->spec.ceiling.v[k]);
    if (drv_res_eq(want, g->shape.res, 0)) {
        pthread_mutex_unlock(&e->lock);
        return 0;
    }
    struct drv_shape from = sculpt_reshape_to(e, g, want, 0, now_s);
    g->target = want;
    g->squeezed = false;
    e->version++;
    if (e->ring_cap) {
        char a[160], b[160];
        sculpt_record(e, uuid,
                      want.v[DRV_RES_VCPU] >= from.res.v[DRV_RES_VCPU] ? DRV_SCULPT_DEC_GROW
                                                                       : DRV_SCULPT_DEC_SHRINK,
                      -1, 0, "operator", 0, 0, 0, "set from %s to %s",
                      drv_res_format(from.res, a, sizeof(a)), drv_res_format(want, b, sizeof(b)));
    }
    sculpt_change_fill(change, g, &from, "set by request");
    pthread_mutex_unlock(&e->lock);
    return 1;
}

int drv_sculpt_revert(struct drv_sculpt *e, const char *uuid, const struct drv_shape *actual,
                      struct err **err)
{
    if (drv_shape_validate(actual, err) < 0)
        return err_wrap(err, "revert `%s`", uuid);
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    sculpt_pin_unload(e, g);
    g->shape = *actual;
    sculpt_pin_load(e, g);
    e->version++;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int drv_sculpt_hold_memory(struct drv_sculpt *e, const char *uuid, double mib, struct err **err)
{
    if (!(mib >= 0) || mib > DRV_RES_MAX)
        return err_set(err, ERR_INVALID, "memory hold %g MiB of `%s`", mib, uuid);
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    int changed = fabs(g->mem_hold_mib - mib) > 1e-9;
    g->mem_hold_mib = mib;
    if (mib > 0 && g->shape.res.v[DRV_RES_MEM_MIB] > mib + 1e-9) {
        sculpt_pin_unload(e, g); /* its memory is counted on its node */
        g->shape.res.v[DRV_RES_MEM_MIB] = mib;
        sculpt_pin_load(e, g);
        changed = 1;
    }
    if (changed)
        e->version++;
    pthread_mutex_unlock(&e->lock);
    return changed;
}

int drv_sculpt_boot(struct drv_sculpt *e, const char *uuid, int64_t now_s,
                    struct drv_sculpt_change *change, struct err **err)
{
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    sculpt_boot_begin(e, g, now_s);
    if (!g->boot_until_s) {
        pthread_mutex_unlock(&e->lock);
        return 0;
    }
    if (now_s > e->now_s)
        e->now_s = now_s;
    double cur = g->shape.res.v[DRV_RES_VCPU];
    g->boot_base_vcpu = fmin(cur, fmax(g->target.v[DRV_RES_VCPU], sculpt_floor(e, g).v[DRV_RES_VCPU]));
    double to = sculpt_boot_allowance(e, g, cur, sculpt_others_vcpu(e, g));
    if (to <= cur * (1 + 1e-9) + 1e-12) {
        pthread_mutex_unlock(&e->lock);
        return 0;
    }
    struct drv_res res = g->shape.res;
    res.v[DRV_RES_VCPU] = to;
    struct drv_shape from = sculpt_reshape_to(e, g, res, 0, now_s);
    e->version++;
    char why[192];
    snprintf(why, sizeof(why),
             "boot allowance: `vcpu` %.4g -> %.4g vCPU while the guest boots (%lld s at most), "
             "from the host's free CPU",
             cur, to, (long long)(g->boot_until_s - now_s));
    sculpt_record(e, uuid, DRV_SCULPT_DEC_GROW, DRV_RES_VCPU, 0, "boot", cur, to, 0, "%s", why);
    sculpt_change_fill(change, g, &from, why);
    pthread_mutex_unlock(&e->lock);
    return 1;
}

bool drv_sculpt_booting(struct drv_sculpt *e, const char *uuid)
{
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, NULL);
    if (!g)
        return false;
    bool booting = g->boot_until_s != 0;
    pthread_mutex_unlock(&e->lock);
    return booting;
}

int drv_sculpt_guest_up(struct drv_sculpt *e, const char *uuid, int64_t at_s, struct err **err)
{
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    if (g->boot_until_s && !g->boot_up_s && at_s >= g->boot_start_s)
        g->boot_up_s = at_s;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int drv_sculpt_shape(struct drv_sculpt *e, const char *uuid, struct drv_shape *out,
                     struct err **err)
{
    struct sculpt_guest *g = sculpt_lock_guest(e, uuid, err);
    if (!g)
        return -1;
    *out = g->shape;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

/* ---- views ---- */

static int sculpt_view_cmp(const void *a, const void *b)
{
    return strcmp(((const struct drv_sculpt_guest_view *)a)->uuid,
                  ((const struct drv_sculpt_guest_view *)b)->uuid);
}

struct drv_sculpt_snapshot *drv_sculpt_snapshot(struct drv_sculpt *e)
{
    struct drv_sculpt_snapshot *s = xzalloc(sizeof(*s));
    pthread_mutex_lock(&e->lock);
    s->t_s = e->now_s;
    s->capacity = e->host->capacity;
    s->ceiling = drv_res_mul(e->host->capacity, e->host->ratio);
    s->shortage = e->shortage;
    s->admitted = e->admitted;
    s->refused = e->refused;
    s->reshapes = e->reshapes;
    s->squeezes = e->squeezes;
    s->repins = e->repins;
    s->skipped = e->skipped;
    s->nguests = e->nguests;
    s->guests = xcalloc(e->nguests ? e->nguests : 1, sizeof(*s->guests));
    double contig = 0;
    size_t pinned = 0;
    for (size_t i = 0; i < e->nguests; i++) {
        const struct sculpt_guest *g = e->guests[i];
        struct drv_sculpt_guest_view *v = &s->guests[i];
        memcpy(v->uuid, g->spec.uuid, sizeof(v->uuid));
        v->shape = g->shape;
        v->target = g->target;
        v->use = g->use;
        v->floor = sculpt_floor(e, g);
        v->ceiling = g->spec.ceiling;
        v->priority = g->spec.priority;
        v->contiguity = drv_host_contiguity(e->host, &g->shape.pcpus);
        v->confidence = g->bp ? g->bp->confidence : 0;
        snprintf(v->model, sizeof(v->model), "%s", g->bp ? g->bp->model : "adopted");
        v->squeezed = g->squeezed;
        v->reclaimable = g->spec.reclaimable;
        v->boot_until_s = g->boot_until_s;
        v->placed_s = g->placed_s;
        v->last_reshape_s = g->last_reshape_s;
        v->reshapes = g->reshapes;
        s->allocated = drv_res_add(s->allocated, g->shape.res);
        s->used = drv_res_add(s->used, g->use);
        s->flavors = drv_res_add(s->flavors, g->spec.ceiling);
        if (drv_cpuset_count(&g->shape.pcpus) > 0) {
            contig += v->contiguity;
            pinned++;
        }
    }
    s->contiguity = pinned ? contig / (double)pinned : 1.0;
    s->ncpus = e->host->ncpus;
    s->cpu_load = xcalloc((size_t)s->ncpus, sizeof(double));
    memcpy(s->cpu_load, e->cpu_load, (size_t)s->ncpus * sizeof(double));
    pthread_mutex_unlock(&e->lock);
    qsort(s->guests, s->nguests, sizeof(*s->guests), sculpt_view_cmp);
    return s;
}

void drv_sculpt_snapshot_free(struct drv_sculpt_snapshot *s)
{
    if (!s)
        return;
    free(s->guests);
    free(s->cpu_load);
    free(s);
}
