#include "driver/pack.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "driver/cost.h"
#include "driver/predict.h"
#include "driver/pack_priv.h"
#include "driver/sculpt.h"

static const struct drv_pack_policy pack_policies[] = {
    {"static", DRV_PACK_ALLOC, &drv_policy_static, 1.0, 1.0, false, false,
     "the flavor, no overcommit"},
    {"nova-default", DRV_PACK_ALLOC, &drv_policy_static, 16.0, 1.5, false, false,
     "the flavor, Nova Zed's allocation ratios (CPU 16.0, RAM 1.5)"},
    {"vpa", DRV_PACK_ALLOC, &drv_policy_vpa, 1.0, 1.0, false, false,
     "Kubernetes VPA recommender's allocation, applied every step"},
    {"autopilot", DRV_PACK_ALLOC, &drv_policy_autopilot, 1.0, 1.0, false, false,
     "Autopilot moving-window allocation, applied every step"},
    {"sculpt", DRV_PACK_SCULPT, NULL, -1, -1, false, false,
     "prediction module blueprints through the sculpting engine, empty fleet history"},
    {"sculpt-warm", DRV_PACK_SCULPT, NULL, -1, -1, true, false,
     "the same, each VM's fleet prior trained on the other half of the VMs"},
    /* ratios out of the way: the oracle alone decides what fits */
    {"oracle", DRV_PACK_ALLOC, &drv_policy_static, 64.0, 64.0, false, true,
     "the flavor, uncapped, placed knowing every VM's future use (a bound)"},
};

const struct drv_pack_policy *drv_pack_policy_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(pack_policies); i++)
        if (strcmp(pack_policies[i].name, name) == 0)
            return &pack_policies[i];
    return NULL;
}

const char *drv_pack_policy_names(void)
{
    return "static,nova-default,vpa,autopilot,sculpt,sculpt-warm,oracle";
}


static struct drv_res pack_to_res(const struct drv_trace *tr, const double v[DRV_TR_LAST])
{
    struct drv_res r = drv_res_zero();
    for (int k = 0; k < DRV_TR_LAST; k++)
        if (tr->has[k])
            r.v[pack_dim[k]] = v[k];
    return r;
}

/* The sample of vm at index i: use capped at the provisioned size. */
static void pack_sample(const struct drv_trace *tr, const struct drv_trace_vm *v, size_t i,
                        struct drv_policy_sample *s)
{
    s->t = v->t[i];
    s->cpu_avg = v->cpu_avg ? v->cpu_avg[i] : NAN;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!tr->has[k]) {
            s->cap[k] = s->use[k] = 0;
            continue;
        }
        s->cap[k] = v->cap[k][i];
        s->use[k] = fmin(v->use[k][i], s->cap[k]);
    }
}

static void pack_vm_setup(struct pack_run *r, size_t i)
{
    struct pack_vm *vm = &r->vms[i];
    const struct drv_trace_vm *v = &r->tr->vms[i];
    vm->tv = v;
    vm->first_slot = pack_slot(r, v->t[0]);
    vm->last_slot = pack_slot(r, v->t[v->n - 1]);
    snprintf(vm->uuid, sizeof(vm->uuid), "vm-%zu", i);
    /* the flavor: the largest size the trace provisioned the VM with */
    double cap[DRV_TR_LAST] = {0};
    for (size_t j = 0; j < v->n; j++)
        for (int k = 0; k < DRV_TR_LAST; k++)
            if (r->tr->has[k])
                cap[k] = fmax(cap[k], v->cap[k][j]);
    vm->ceiling = pack_to_res(r->tr, cap);
    if (!r->tr->has[DRV_TR_MEMORY])
        vm->ceiling.v[DRV_RES_MEM_MIB] = PACK_NOMINAL_MEM_MIB;
    vm->vcpus_max = (int32_t)ceil(vm->ceiling.v[DRV_RES_VCPU] - 1e-9);
    if (vm->vcpus_max < 1)
        vm->vcpus_max = 1;
    vm->host = -1;
}

static void pack_spec(const struct pack_vm *vm, struct drv_sculpt_guest_spec *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->uuid, vm->uuid, sizeof(s->uuid));
    s->ceiling = vm->ceiling;
    s->vcpus_max = vm->vcpus_max;
    s->mem_max_mib = vm->ceiling.v[DRV_RES_MEM_MIB];
}

static struct drv_sculpt *pack_host_open(struct pack_run *r, size_t *slot, struct err **err)
{
    size_t h = 0;
    while (h < r->nhosts && r->hosts[h].e)
        h++;
    if (h == r->nhosts) {
        if (r->nhosts == r->caphosts) {
            r->caphosts = r->caphosts ? 2 * r->caphosts : 16;
            r->hosts = xreallocarray(r->hosts, r->caphosts, sizeof(*r->hosts));
        }
        r->nhosts++;
        memset(&r->hosts[h], 0, sizeof(r->hosts[h]));
    }
    pack_oracle_reset(&r->hosts[h]);
    memset(&r->hosts[h], 0, sizeof(r->hosts[h]));
    r->hosts[h].e = drv_sculpt_new(r->host, &r->params, err);
    *slot = h;
    return r->hosts[h].e;
}

static void pack_vm_shape(const struct pack_run *r, struct pack_vm *vm, const struct drv_shape *s)
{
    vm->shape = *s;
    vm->contig = drv_host_contiguity(r->host, &s->pcpus);
}

/* The oracle's placement: the host it picks, else a new one if the VM's
 * own future fits an empty host, else nowhere (1). */
static int pack_oracle_place(struct pack_run *r, struct pack_vm *vm, const struct drv_blueprint *bp,
                             int64_t t, const struct drv_sculpt_guest_spec *spec, struct err **err)
{
    int64_t pick = pack_oracle_pick(r, vm);
    size_t h;
    if (pick >= 0) {
        h = (size_t)pick;
    } else {
        if (!pack_host_open(r, &h, err))
            return -1;
        if (pack_oracle_pick(r, vm) != (int64_t)h) {
            drv_sculpt_free(r->hosts[h].e);
            r->hosts[h].e = NULL;
            return 1;
        }
    }
    struct drv_shape shape;
    if (drv_sculpt_place(r->hosts[h].e, spec, bp, t, &shape, NULL, err) < 0)
        return -1;
    vm->host = (int32_t)h;
    r->hosts[h].nvms++;
    pack_vm_shape(r, vm, &shape);
    pack_oracle_add(r, h, vm);
    return 0;
}

/* First fit over open hosts, then a new host.  Returns 0 placed, 1 when
 * not even an empty host takes it, -1 on error. */
static int pack_place(struct pack_run *r, struct pack_vm *vm, const struct drv_blueprint *bp,
                      int64_t t, struct err **err)
{
    struct drv_sculpt_guest_spec spec;
    struct drv_shape shape;
    pack_spec(vm, &spec);
    if (r->pol->oracle)
        return pack_oracle_place(r, vm, bp, t, &spec, err);
    for (size_t h = 0; h < r->nhosts; h++) {
        if (!r->hosts[h].e)
            continue;
        struct err *e = NULL;
        if (drv_sculpt_place(r->hosts[h].e, &spec, bp, t, &shape, NULL, &e) == 0) {
            vm->host = (int32_t)h;
            r->hosts[h].nvms++;
            pack_vm_shape(r, vm, &shape);
            return 0;
        }
        bool capacity = err_code_of(e) == ERR_CAPACITY;
        if (!capacity) {
            *err = e;
            return -1;
        }
        err_free(e);
    }
    size_t h;
    struct drv_sculpt *eng = pack_host_open(r, &h, err);
    if (!eng)
        return -1;
    struct err *e = NULL;
    if (drv_sculpt_place(eng, &spec, bp, t, &shape, NULL, &e) == 0) {
        vm->host = (int32_t)h;
        r->hosts[h].nvms++;
        pack_vm_shape(r, vm, &shape);
        return 0;
    }
    drv_sculpt_free(eng);
    r->hosts[h].e = NULL;
    if (err_code_of(e) != ERR_CAPACITY) {
        *err = e;
        return -1;
    }
    err_free(e);
    return 1;
}

static void pack_leave(struct pack_run *r, struct pack_vm *vm)
{
    if (vm->host >= 0) {
        struct pack_host *h = &r->hosts[vm->host];
        drv_sculpt_remove(h->e, vm->uuid, NULL);
        if (--h->nvms == 0) {
            drv_sculpt_free(h->e);
            h->e = NULL;
            pack_oracle_reset(h);
        }
        vm->host = -1;
    }
    if (vm->state && r->pol->ops->fini)
        r->pol->ops->fini(vm->state);
    free(vm->state);
    vm->state = NULL;
    drv_predictor_free(vm->pred);
    vm->pred = NULL;
    vm->gone = true;
}

/* A flat one-step blueprint at `res` (what a baseline's allocation is). */
static void pack_flat(struct pack_run *r, int64_t t, struct drv_res res)
{
    struct drv_blueprint *bp = r->scratch;
    bp->start_s = t;
    free(bp->alloc);
    bp->alloc = NULL;
    drv_blueprint_fill_flat(bp, res);
    bp->confidence = 1;
    for (int k = 0; k < DRV_RES_LAST; k++)
        bp->res_confidence[k] = 1;
}

/* The predictor's next step as a one-step blueprint. */
static void pack_next(struct pack_run *r, struct pack_vm *vm, int64_t t)
{
    struct drv_predict_step st;
    drv_predictor_next(vm->pred, t, &r->cm, &st);
    struct drv_blueprint *bp = r->scratch;
    bp->start_s = t;
    double conf = 0;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        for (int q = 0; q < DRV_Q_LAST; q++)
            drv_blueprint_set(bp, 0, (enum drv_res_kind)k, (enum drv_quantile)q, st.q[q][k]);
        bp->res_confidence[k] = fmin(1, fmax(0, st.confidence[k]));
        conf += bp->res_confidence[k] / DRV_RES_LAST;
    }
    bp->confidence = conf;
    drv_blueprint_set_alloc(bp, 0, st.alloc);
    if (t - vm->longrun_t >= PACK_LONGRUN_EVERY_S) {
        drv_predictor_longrun(vm->pred, t, bp);
        memcpy(vm->longrun, bp->longrun, sizeof(vm->longrun));
        memcpy(vm->longrun_mean, bp->longrun_mean, sizeof(vm->longrun_mean));
        vm->longrun_t = t;
    } else {
        memcpy(bp->longrun, vm->longrun, sizeof(bp->longrun));
        memcpy(bp->longrun_mean, vm->longrun_mean, sizeof(bp->longrun_mean));
    }
    snprintf(bp->model, sizeof(bp->model), "%s", drv_predict_model_name(st.model[DRV_RES_VCPU]));
}

static struct drv_predictor *pack_predictor(struct pack_run *r, const struct pack_vm *vm,
                                            struct drv_fleet *fleet, int64_t t, struct err **err)
{
    char flavor[64];
    const struct drv_res *c = &vm->ceiling;
    drv_predict_size_flavor(c->v[DRV_RES_VCPU],
                            r->tr->has[DRV_TR_MEMORY] ? c->v[DRV_RES_MEM_MIB] : 0, flavor,
                            sizeof(flavor));
    /* a trace's VM ids are not names a tenant chose: no name pattern */
    struct drv_predict_request req = {.flavor_name = flavor, .boot_s = t};
    for (int k = 0; k < DRV_TR_LAST; k++)
        if (r->tr->has[k]) {
            req.ceiling.v[pack_dim[k]] = c->v[pack_dim[k]];
            req.resources |= 1u << pack_dim[k];
        }
    return drv_predictor_new(fleet, &req, &r->pc, err);
}

/* The fleet VM vm's predictor learns with and from. */
static struct drv_fleet *pack_fleet_of(const struct pack_run *r, const struct pack_vm *vm)
{
    return r->fleet[r->pol->warm ? (size_t)(vm - r->vms) % 2 : 0];
}

struct pack_event {
    int64_t t;
    uint32_t vm, i; /* VM index, sample index */
};

static int pack_event_cmp(const void *pa, const void *pb)
{
    const struct pack_event *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    if (a->vm != b->vm)
        return a->vm < b->vm ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* The warm prior: `fleet` learns from every sample of the VMs whose index
 * has the given parity, in time order across VMs, through predictors as
 * the service runs them (boot at the first sample, gone after the last). */
static int pack_fleet_train(struct pack_run *r, struct drv_fleet *fleet, size_t parity,
                            struct err **err)
{
    const struct drv_trace *tr = r->tr;
    size_t nev = 0;
    for (size_t v = parity; v < r->nvms; v += 2)
        nev += tr->vms[v].n;
    struct pack_event *ev = xcalloc(nev ? nev : 1, sizeof(*ev));
    nev = 0;
    for (size_t v = parity; v < r->nvms; v += 2)
        for (size_t i = 0; i < tr->vms[v].n; i++)
            ev[nev++] = (struct pack_event){tr->vms[v].t[i], (uint32_t)v, (uint32_t)i};
    qsort(ev, nev, sizeof(*ev), pack_event_cmp);
    struct drv_predictor **pred = xcalloc(r->nvms ? r->nvms : 1, sizeof(*pred));
    int rc = 0;
    for (size_t e = 0; e < nev && rc == 0; e++) {
        struct pack_vm *vm = &r->vms[ev[e].vm];
        struct drv_predictor **p = &pred[ev[e].vm];
        if (!*p && !(*p = pack_predictor(r, vm, fleet, ev[e].t, err))) {
            rc = -1;
            break;
        }
        struct drv_policy_sample s;
        struct drv_predict_step st;
        pack_sample(tr, vm->tv, ev[e].i, &s);
        drv_predictor_next(*p, s.t, &r->cm, &st);
        struct drv_res use = pack_to_res(tr, s.use);
        drv_predictor_observe(*p, s.t, &use);
        if (ev[e].i + 1 == vm->tv->n) {
            drv_predictor_free(*p);
            *p = NULL;
        }
    }
    for (size_t v = 0; v < r->nvms; v++)
        drv_predictor_free(pred[v]);
    free(pred);
    free(ev);
    return rc;
}

/* Arrival of vm at slot j (its first sample is fresh). */
static int pack_arrive(struct pack_run *r, struct pack_vm *vm, int64_t t, struct err **err)
{
    const struct drv_trace *tr = r->tr;
    struct drv_policy_sample s;
    pack_sample(tr, vm->tv, 0, &s);
    vm->cur = 0;
    int rc;
    if (r->pol->kind == DRV_PACK_ALLOC) {
        const struct drv_policy_ops *ops = r->pol->ops;
        struct drv_policy_vm info = {.id = vm->tv->id, .step_s = tr->step_s};
        for (int k = 0; k < DRV_TR_LAST; k++) {
            info.has[k] = tr->has[k];
            info.cap0[k] = s.cap[k];
        }
        vm->state = xzalloc(ops->state_size);
        struct drv_policy_params params = DRV_POLICY_PARAMS_DEFAULT;
        ops->init(vm->state, &info, &params, r->shared);
        double alloc[DRV_TR_LAST];
        ops->decide(vm->state, s.t, s.cap, alloc);
        for (int k = 0; k < DRV_TR_LAST; k++)
            alloc[k] = fmin(fmax(alloc[k], 0), s.cap[k]);
        struct drv_res a = pack_to_res(tr, alloc);
        if (!tr->has[DRV_TR_MEMORY])
            a.v[DRV_RES_MEM_MIB] = PACK_NOMINAL_MEM_MIB;
        pack_flat(r, t, a);
        rc = pack_place(r, vm, r->scratch, t, err);
    } else {
        vm->pred = pack_predictor(r, vm, pack_fleet_of(r, vm), t, err);
        if (!vm->pred)
            return -1;
        struct drv_blueprint *bp =
            drv_predictor_blueprint(vm->pred, t, r->horizon_s, r->step_s, &r->cm, err);
        if (!bp)
            return -1;
        memcpy(vm->longrun, bp->longrun, sizeof(vm->longrun));
        memcpy(vm->longrun_mean, bp->longrun_mean, sizeof(vm->longrun_mean));
        vm->longrun_t = t;
        rc = pack_place(r, vm, bp, t, err);
        drv_blueprint_free(bp);
    }
    if (rc < 0)
        return -1;
    if (rc == 1) {
        vm->unplaced = true;
        r->st->unplaced++;
        pack_leave(r, vm);
        return 0;
    }
    r->st->placed++;
    vm->reshaped_at = -1;
    return 0;
}

static void pack_count_reshape(struct pack_run *r, struct pack_vm *vm, int64_t j)
{
    if (vm->reshaped_at != j) {
        vm->reshaped_at = j;
        r->st->reshapes++;
    }
}

/* Before the step's use is seen: the policy decides for this step. */
static int pack_decide(struct pack_run *r, struct pack_vm *vm, int64_t j, struct err **err)
{
    const struct drv_trace *tr = r->tr;
    struct drv_policy_sample s;
    pack_sample(tr, vm->tv, vm->cur, &s);
    struct drv_sculpt *e = r->hosts[vm->host].e;
    if (r->pol->kind == DRV_PACK_ALLOC) {
        double alloc[DRV_TR_LAST];
        r->pol->ops->decide(vm->state, s.t, s.cap, alloc);
        for (int k = 0; k < DRV_TR_LAST; k++)
            alloc[k] = fmin(fmax(alloc[k], 0), s.cap[k]);
        struct drv_res a = pack_to_res(tr, alloc);
        if (!tr->has[DRV_TR_MEMORY])
            a.v[DRV_RES_MEM_MIB] = PACK_NOMINAL_MEM_MIB;
        struct drv_sculpt_change c;
        int rc = drv_sculpt_force(e, vm->uuid, a, s.t, &c, err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            pack_vm_shape(r, vm, &c.to);
            pack_count_reshape(r, vm, j);
        }
        return 0;
    }
    pack_next(r, vm, s.t);
    return drv_sculpt_set_blueprint(e, vm->uuid, r->scratch, err);
}

/* After the step's use is seen. */
static int pack_observe(struct pack_run *r, struct pack_vm *vm, struct err **err)
{
    const struct drv_trace *tr = r->tr;
    struct drv_policy_sample s;
    pack_sample(tr, vm->tv, vm->cur, &s);
    if (r->pol->kind == DRV_PACK_ALLOC) {
        double alloc[DRV_TR_LAST];
        for (int k = 0; k < DRV_TR_LAST; k++)
            alloc[k] = tr->has[k] ? vm->shape.res.v[pack_dim[k]] : 0;
        r->pol->ops->observe(vm->state, &s, alloc);
        return 0;
    }
    struct drv_res use = pack_to_res(tr, s.use);
    /* the engine's shape held over the interval that ends at s.t (it may
     * differ from the allocation the predictor followed: a squeeze, the
     * engine's hysteresis): the predictor's SLO accounting goes by it */
    drv_predictor_applied(vm->pred, s.t - 1, &vm->shape.res, vm->squeezed);
    drv_predictor_observe(vm->pred, s.t, &use);
    /* the hypervisor sees use within the shape */
    for (int k = 0; k < DRV_RES_LAST; k++)
        use.v[k] = fmin(use.v[k], vm->shape.res.v[k]);
    return drv_sculpt_observe(r->hosts[vm->host].e, vm->uuid, use, s.t, err);
}

static int pack_step_engines(struct pack_run *r, int64_t j, int64_t t, struct err **err)
{
    for (size_t h = 0; h < r->nhosts; h++) {
        if (!r->hosts[h].e)
            continue;
        struct drv_sculpt_change *ch = NULL;
        size_t n = 0;
        if (drv_sculpt_step(r->hosts[h].e, t, &ch, &n, err) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            size_t idx = strtoul(ch[i].uuid + 3, NULL, 10); /* "vm-<index>" */
            struct pack_vm *vm = &r->vms[idx];
            pack_vm_shape(r, vm, &ch[i].to);
            if (ch[i].kind != DRV_SCULPT_CHANGE_REPIN)
                vm->squeezed = ch[i].kind == DRV_SCULPT_CHANGE_SQUEEZE;
            pack_count_reshape(r, vm, j);
        }
        free(ch);
    }
    return 0;
}

/* Use against shapes and hosts for this step. */
static void pack_account(struct pack_run *r, struct pack_vm **active, size_t nactive, double h)
{
    const struct drv_trace *tr = r->tr;
    struct drv_pack_stats *st = r->st;
    for (size_t i = 0; i < r->nhosts; i++)
        memset(r->hosts[i].load, 0, sizeof(r->hosts[i].load));
    for (size_t i = 0; i < nactive; i++) {
        struct pack_vm *vm = active[i];
        const struct drv_trace_vm *v = vm->tv;
        struct pack_host *ph = &r->hosts[vm->host];
        bool violated = false;
        for (int k = 0; k < DRV_TR_LAST; k++) {
            if (!tr->has[k])
                continue;
            enum drv_res_kind d = pack_dim[k];
            double use = fmin(v->use[k][vm->cur], v->cap[k][vm->cur]);
            double shape = vm->shape.res.v[d];
            ph->load[d] += fmin(use, shape);
            st->cost_resource += r->cm.price[d] * shape * h;
            if (use > shape + 1e-9 * fmax(1.0, shape)) {
                violated = true;
                st->cost_violation += r->cm.violation[d] * (use - shape) * h;
            }
        }
        st->guest_violations += violated;
        st->contiguity += vm->contig;
        st->vm_steps++;
    }
    int32_t open = 0;
    for (size_t i = 0; i < r->nhosts; i++) {
        struct pack_host *ph = &r->hosts[i];
        if (!ph->e)
            continue;
        open++;
        st->host_steps++;
        bool violated = false;
        for (int d = 0; d < DRV_RES_LAST; d++) {
            double cap = r->host->capacity.v[d];
            if (ph->load[d] > cap * (1 + 1e-9)) {
                violated = true;
                st->cost_violation += r->cm.violation[d] * (ph->load[d] - cap) * h;
            }
        }
        ph->load[0] = violated ? -1 : 0; /* mark for the guests below */
        st->host_violations += violated;
    }
    for (size_t i = 0; i < nactive; i++)
        if (r->hosts[active[i]->host].load[0] < 0)
            active[i]->affected = true;
    if (open > 0) {
        st->hosts_mean += open;
        st->vms_per_host += (double)nactive / open;
        if (open > st->hosts_peak)
            st->hosts_peak = open;
    }
}

static int pack_arrival_cmp(const void *pa, const void *pb, void *opaque)
{
    const struct pack_run *r = opaque;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (r->vms[a].first_slot != r->vms[b].first_slot)
        return r->vms[a].first_slot < r->vms[b].first_slot ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int pack_policy_run(struct pack_run *r, void (*progress)(size_t, size_t, void *),
                           void *opaque, struct err **err)
{
    const struct drv_trace *tr = r->tr;
    size_t n = tr->nvms;
    r->vms = xcalloc(n, sizeof(*r->vms));
    r->nvms = n;
    r->t0 = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (tr->vms[i].n && tr->vms[i].t[0] < r->t0)
            r->t0 = tr->vms[i].t[0];
    int64_t last = 0;
    size_t *order = xcalloc(n ? n : 1, sizeof(size_t));
    size_t norder = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tr->vms[i].n)
            continue;
        pack_vm_setup(r, i);
        order[norder++] = i;
        if (r->vms[i].last_slot > last)
            last = r->vms[i].last_slot;
    }
    qsort_r(order, norder, sizeof(size_t), pack_arrival_cmp, r);
    r->nslots = last + 1;
    int64_t t_start = clock_mono_ns();
    /* the warm prior: fleet p has seen the VMs of the other parity */
    if (r->pol->warm && (pack_fleet_train(r, r->fleet[0], 1, err) < 0 ||
                         pack_fleet_train(r, r->fleet[1], 0, err) < 0)) {
        free(order);
        return -1;
    }
    if (r->pol->warm)
        r->st->prior_s = (double)(clock_mono_ns() - t_start) / 1e9;
    struct pack_vm **active = xcalloc(n ? n : 1, sizeof(*active));
    size_t nactive = 0, next = 0;
    double h = r->step_s / 3600.0;
    int rc = 0;

    for (int64_t j = 0; j <= last && rc == 0; j++) {
        int64_t t = r->t0 + j * r->step_s;
        /* departures */
        size_t w = 0;
        for (size_t i = 0; i < nactive; i++) {
            if (active[i]->last_slot < j)
                pack_leave(r, active[i]);
            else
                active[w++] = active[i];
        }
        nactive = w;
        /* everyone's newest sample; the policy decides on a fresh one */
        for (size_t i = 0; i < nactive && rc == 0; i++) {
            struct pack_vm *vm = active[i];
            vm->fresh = false;
            while (vm->cur + 1 < vm->tv->n && pack_slot(r, vm->tv->t[vm->cur + 1]) <= j) {
                vm->cur++;
                vm->fresh = true;
            }
            if (vm->fresh)
                rc = pack_decide(r, vm, j, err);
        }
        /* arrivals: their first sample is fresh */
        while (rc == 0 && next < norder && r->vms[order[next]].first_slot <= j) {
            struct pack_vm *vm = &r->vms[order[next++]];
            rc = pack_arrive(r, vm, t, err);
            if (rc == 0 && !vm->unplaced) {
                vm->fresh = true;
                active[nactive++] = vm;
            }
        }
        if (rc == 0 && r->pol->kind == DRV_PACK_SCULPT)
            rc = pack_step_engines(r, j, t, err);
        if (rc == 0 && nactive) {
            pack_account(r, active, nactive, h);
            r->steps_with_vms++;
        }
        /* gaps in a VM's samples: it stays, holding its shape, unobserved */
        for (size_t i = 0; i < nactive && rc == 0; i++)
            if (active[i]->fresh)
                rc = pack_observe(r, active[i], err);
        if (progress && (j % 512 == 0 || j == last))
            progress((size_t)j + 1, (size_t)last + 1, opaque);
    }
    r->st->elapsed_s = (double)(clock_mono_ns() - t_start) / 1e9;
    for (size_t i = 0; i < nactive; i++)
        pack_leave(r, active[i]);
    for (size_t i = 0; i < n; i++)
        if (r->vms[i].affected)
            r->st->guests_affected++;
    free(active);
    free(order);
    return rc;
}

static void pack_finish(struct drv_pack_stats *st, int64_t steps_with_vms, int32_t step_s,
                        double reshape_price)
{
    st->vm_hours = (double)st->vm_steps * step_s / 3600.0;
    if (steps_with_vms > 0) {
        st->hosts_mean /= (double)steps_with_vms;
        st->vms_per_host /= (double)steps_with_vms;
    }
    st->host_violation_rate =
        st->host_steps ? (double)st->host_violations / (double)st->host_steps : 0;
    st->guest_violation_rate =
        st->vm_steps ? (double)st->guest_violations / (double)st->vm_steps : 0;
    st->reshapes_per_vm_hour = st->vm_hours > 0 ? (double)st->reshapes / st->vm_hours : 0;
    st->contiguity = st->vm_steps ? st->contiguity / (double)st->vm_steps : 1;
    st->cost_reshape = (double)st->reshapes * reshape_price;
    st->cost = st->cost_resource + st->cost_violation + st->cost_reshape;
}

static int pack_one(const struct drv_trace *tr, const struct drv_host *host, const struct cfg *cfg,
                    const struct drv_pack_policy *pol, struct drv_pack_stats *st,
                    void (*progress)(size_t, size_t, void *), void *opaque, struct err **err)
{
    struct pack_run r = {.tr = tr, .pol = pol, .step_s = tr->step_s, .st = st};
    snprintf(st->name, sizeof(st->name), "%s", pol->name);
    r.host = drv_host_dup(host);
    if (pol->cpu_ratio > 0)
        r.host->ratio.v[DRV_RES_VCPU] = pol->cpu_ratio;
    if (pol->mem_ratio > 0)
        r.host->ratio.v[DRV_RES_MEM_MIB] = pol->mem_ratio;
    if (pol->oracle) /* it alone decides what fits, in every dimension */
        for (int k = 0; k < DRV_RES_LAST; k++)
            r.host->ratio.v[k] = pol->cpu_ratio;
    drv_sculpt_params_from_cfg(cfg, &r.params);
    r.params.records_max = 0; /* nobody reads them here */
    r.params.admit_by_risk = pol->kind == DRV_PACK_SCULPT;
    drv_cost_model_from_cfg(cfg, &r.cm);
    drv_predict_config_from_cfg(cfg, &r.pc);
    r.horizon_s = (int32_t)cfg->blueprint_horizon_s;
    if (r.horizon_s < r.step_s)
        r.horizon_s = r.step_s;
    r.scratch = drv_blueprint_new(1, r.step_s, 0, err);
    int rc = -1;
    if (!r.scratch)
        goto cleanup;
    if (pol->kind == DRV_PACK_SCULPT) {
        r.fleet[0] = drv_fleet_new(&r.pc);
        if (pol->warm)
            r.fleet[1] = drv_fleet_new(&r.pc);
    } else if (pol->ops->shared_new) {
        struct drv_policy_params params = DRV_POLICY_PARAMS_DEFAULT;
        params.cfg = cfg;
        r.shared = pol->ops->shared_new(&params);
    }
    rc = pack_policy_run(&r, progress, opaque, err);
    if (rc == 0)
        pack_finish(st, r.steps_with_vms, r.step_s, r.cm.reshape);
cleanup:
    for (size_t i = 0; i < r.nvms; i++)
        if (!r.vms[i].gone && (r.vms[i].state || r.vms[i].pred))
            pack_leave(&r, &r.vms[i]);
    for (size_t h = 0; h < r.nhosts; h++) {
        drv_sculpt_free(r.hosts[h].e);
        pack_oracle_reset(&r.hosts[h]);
    }
    free(r.hosts);
    free(r.vms);
    if (r.shared && pol->ops->shared_free)
        pol->ops->shared_free(r.shared);
    drv_fleet_free(r.fleet[0]);
    drv_fleet_free(r.fleet[1]);
    drv_blueprint_free(r.scratch);
    drv_host_free(r.host);
    return rc;
}

int drv_pack_run(const struct drv_trace *tr, const struct drv_host *host, const struct cfg *cfg,
                 const struct drv_pack_policy *const *policies, size_t npolicies,
                 void (*progress)(size_t done, size_t total, void *opaque), void *opaque,
                 struct drv_pack_result *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (npolicies == 0)
        return err_set(err, ERR_INVALID, "no policy to pack");
    if (tr->step_s < 1)
        return err_set(err, ERR_INVALID, "trace step %d s", tr->step_s);
    autocfg defaults = cfg ? NULL : cfg_new_defaults();
    if (!cfg)
        cfg = defaults;
    out->policies = xcalloc(npolicies, sizeof(*out->policies));
    out->npolicies = npolicies;
    out->vms = tr->nvms;
    out->step_s = tr->step_s;
    for (size_t p = 0; p < npolicies; p++) {
        struct drv_pack_stats *st = &out->policies[p];
        if (pack_one(tr, host, cfg, policies[p], st, progress, opaque, err) < 0) {
            err_wrap(err, "policy `%s`", policies[p]->name);
            drv_pack_result_release(out);
            return -1;
        }
        out->vm_steps += st->vm_steps;
        out->elapsed_s += st->elapsed_s;
    }
    return 0;
}

void drv_pack_result_release(struct drv_pack_result *r)
{
    free(r->policies);
    memset(r, 0, sizeof(*r));
}
