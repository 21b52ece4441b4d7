#include "driver/replay.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"

double drv_replay_slack(const struct drv_replay_stats *s)
{
    return s->sum_alloc > 0 ? s->sum_slack / s->sum_alloc : 0;
}

double drv_replay_violation_rate(const struct drv_replay_stats *s)
{
    return s->steps ? (double)s->violations / (double)s->steps : 0;
}

double drv_replay_shortfall(const struct drv_replay_stats *s)
{
    return s->sum_use > 0 ? s->sum_short / s->sum_use : 0;
}

double drv_replay_mean_alloc(const struct drv_replay_stats *s)
{
    return s->steps ? s->sum_alloc / (double)s->steps : 0;
}

double drv_replay_mean_use(const struct drv_replay_stats *s)
{
    return s->steps ? s->sum_use / (double)s->steps : 0;
}

double drv_replay_reshapes_per_vm_hour(const struct drv_replay_stats *s)
{
    return s->hours > 0 ? (double)s->reshapes / s->hours : 0;
}

bool drv_replay_has_bands(const struct drv_replay_stats *s)
{
    return s->band_steps > 0;
}

double drv_replay_coverage(const struct drv_replay_stats *s, enum drv_quantile q)
{
    return s->band_steps ? (double)s->inside[q] / (double)s->band_steps : 0;
}

double drv_replay_pinball(const struct drv_replay_stats *s, enum drv_quantile q)
{
    return s->sum_use > 0 ? s->pinball[q] / s->sum_use : 0;
}

static void drv_replay_stats_add(struct drv_replay_stats *into,
                                 const struct drv_replay_stats *s)
{
    into->sum_alloc += s->sum_alloc;
    into->sum_use += s->sum_use;
    into->sum_slack += s->sum_slack;
    into->sum_short += s->sum_short;
    into->steps += s->steps;
    into->violations += s->violations;
    into->reshapes += s->reshapes;
    into->hours += s->hours;
    into->band_steps += s->band_steps;
    for (int q = 0; q < DRV_Q_LAST; q++) {
        into->inside[q] += s->inside[q];
        into->pinball[q] += s->pinball[q];
    }
}

/* The bands' share of the figures for one step. */
static void drv_replay_score_bands(struct drv_replay_stats *x, const double q[DRV_Q_LAST],
                                   double u)
{
    x->band_steps++;
    for (int b = 0; b < DRV_Q_LAST; b++) {
        double tau = drv_quantile_level[b];
        if (u <= q[b])
            x->inside[b]++;
        x->pinball[b] += u >= q[b] ? tau * (u - q[b]) : (1 - tau) * (q[b] - u);
    }
}

/* One VM's replay through one policy: its state, sums and cursor. */
struct drv_replay_cursor {
    const struct drv_trace_vm *vm;
    void *state;
    size_t i;                            /* next sample */
    double prev[DRV_TR_LAST];            /* allocation at the last sample */
    struct drv_replay_stats st[DRV_TR_LAST];
};

static void drv_replay_start(const struct drv_trace *tr, struct drv_replay_cursor *c,
                             const struct drv_trace_vm *vm, void *state,
                             const struct drv_policy_ops *ops,
                             const struct drv_policy_params *params, void *shared)
{
    struct drv_policy_vm info = {.id = vm->id, .step_s = tr->step_s};
    memset(c, 0, sizeof(*c));
    c->vm = vm;
    c->state = state;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        info.has[k] = tr->has[k];
        info.cap0[k] = tr->has[k] ? vm->cap[k][0] : 0;
    }
    ops->init(state, &info, params, shared);
}

/* Decide, score and observe the cursor's next sample. */
static void drv_replay_sample(const struct drv_trace *tr, struct drv_replay_cursor *c,
                              const struct drv_policy_ops *ops)
{
    const struct drv_trace_vm *vm = c->vm;
    size_t i = c->i++;
    struct drv_policy_sample s;
    double alloc[DRV_TR_LAST];
    double bands[DRV_TR_LAST][DRV_Q_LAST];

    s.t = vm->t[i];
    s.cpu_avg = vm->cpu_avg ? vm->cpu_avg[i] : NAN;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!tr->has[k]) {
            s.cap[k] = s.use[k] = 0;
            continue;
        }
        s.cap[k] = vm->cap[k][i];
        s.use[k] = fmin(vm->use[k][i], s.cap[k]);
    }
    ops->decide(c->state, s.t, s.cap, alloc);
    if (ops->bands)
        ops->bands(c->state, bands);
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!tr->has[k])
            continue;
        double a = alloc[k];
        if (!(a >= 0))      /* NaN or negative from a policy: nothing */
            a = 0;
        if (a > s.cap[k])
            a = s.cap[k];
        alloc[k] = a;
        double u = s.use[k];
        struct drv_replay_stats *x = &c->st[k];
        x->sum_alloc += a;
        x->sum_use += u;
        if (a > u)
            x->sum_slack += a - u;
        else if (u > a) {
            x->sum_short += u - a;
            x->violations++;
        }
        x->steps++;
        if (i > 0 && a != c->prev[k])
            x->reshapes++;
        c->prev[k] = a;
        if (ops->bands)
            drv_replay_score_bands(x, bands[k], u);
    }
    ops->observe(c->state, &s, alloc);
}

/* Release the VM's state and add its sums to the totals. */
static void drv_replay_finish(const struct drv_trace *tr, struct drv_replay_cursor *c,
                              const struct drv_policy_ops *ops,
                              struct drv_replay_stats out[DRV_TR_LAST])
{
    if (ops->fini)
        ops->fini(c->state);
    for (int k = 0; k < DRV_TR_LAST; k++) {
        c->st[k].hours = (double)c->st[k].steps * tr->step_s / 3600.0;
        drv_replay_stats_add(&out[k], &c->st[k]);
    }
}

/* Replay one VM through one policy; per-VM sums are added to the totals in
 * VM order, so the result does not depend on how the loop is scheduled. */
static void drv_replay_vm(const struct drv_trace *tr, const struct drv_trace_vm *vm,
                          const struct drv_policy_ops *ops,
                          const struct drv_policy_params *params, void *shared,
                          void *state, struct drv_replay_stats out[DRV_TR_LAST])
{
    struct drv_replay_cursor c;
    drv_replay_start(tr, &c, vm, state, ops, params, shared);
    while (c.i < vm->n)
        drv_replay_sample(tr, &c, ops);
    drv_replay_finish(tr, &c, ops, out);
}

/* Is cursor a's next sample before b's (time, then VM order)? */
static bool drv_replay_before(const struct drv_replay_cursor *cur, size_t a, size_t b)
{
    int64_t ta = cur[a].vm->t[cur[a].i], tb = cur[b].vm->t[cur[b].i];
    return ta < tb || (ta == tb && a < b);
}

static void drv_replay_sift_down(const struct drv_replay_cursor *cur, size_t *heap, size_t n,
                                 size_t at)
{
    for (;;) {
        size_t l = 2 * at + 1, m = at;
        if (l < n && drv_replay_before(cur, heap[l], heap[m]))
            m = l;
        if (l + 1 < n && drv_replay_before(cur, heap[l + 1], heap[m]))
            m = l + 1;
        if (m == at)
            return;
        size_t x = heap[at];
        heap[at] = heap[m];
        heap[m] = x;
        at = m;
    }
}

/* Every VM of the trace through a policy that shares state across VMs
 * (fleet history): samples in time order across VMs, as a service sees
 * its guests, so nothing a VM is told comes from another VM's future and
 * what the fleet learns (its SLO price above all) is shared by guests
 * running at the same time.  Deterministic: ties go in VM order. */
static void drv_replay_fleet(const struct drv_trace *tr, const struct drv_policy_ops *ops,
                             const struct drv_policy_params *params, void *shared,
                             struct drv_replay_stats out[DRV_TR_LAST])
{
    size_t nv = tr->nvms, n = 0;
    size_t size = ops->state_size ? ops->state_size : 1;
    char *states = xcalloc(nv ? nv : 1, size);
    struct drv_replay_cursor *cur = xcalloc(nv ? nv : 1, sizeof(*cur));
    size_t *heap = xcalloc(nv ? nv : 1, sizeof(*heap));

    for (size_t v = 0; v < nv; v++) {
        drv_replay_start(tr, &cur[v], &tr->vms[v], states + v * size, ops, params, shared);
        if (tr->vms[v].n)
            heap[n++] = v;
    }
    for (size_t i = n / 2; i-- > 0;)
        drv_replay_sift_down(cur, heap, n, i);
    while (n > 0) {
        size_t v = heap[0];
        drv_replay_sample(tr, &cur[v], ops);
        if (cur[v].i == cur[v].vm->n)
            heap[0] = heap[--n];
        drv_replay_sift_down(cur, heap, n, 0);
    }
    for (size_t v = 0; v < nv; v++)
        drv_replay_finish(tr, &cur[v], ops, out);
    free(heap);
    free(cur);
    free(states);
}

int drv_replay_run(const struct drv_trace *tr, const struct drv_replay_entry *entries,
                   size_t nentries, drv_replay_progress_fn progress, void *opaque,
                   struct drv_replay_result *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (nentries == 0)
        return err_set(err, ERR_INVALID, "no policy to replay");
    out->policies = xcalloc(nentries, sizeof(*out->policies));
    out->npolicies = nentries;
    out->vms = tr->nvms;
    out->vm_steps = drv_trace_samples(tr);

    size_t state_max = 1;
    void **shared = xcalloc(nentries, sizeof(void *));
    for (size_t p = 0; p < nentries; p++) {
        struct drv_replay_policy_result *r = &out->policies[p];
        r->ops = entries[p].ops;
        r->params = entries[p].params;
        snprintf(r->label, sizeof(r->label), "%s",
                 entries[p].label ? entries[p].label : entries[p].ops->name);
        if (r->ops->state_size > state_max)
            state_max = r->ops->state_size;
        if (r->ops->shared_new)
            shared[p] = r->ops->shared_new(&r->params);
    }
    /* one state buffer reused for every VM and policy: states are small
     * and a replay of thousands of VMs should not churn the allocator */
    void *state = xzalloc(state_max);

    int64_t t0 = clock_mono_ns();
    /* policies with fleet state first, over the whole trace in time order */
    for (size_t p = 0; p < nentries; p++)
        if (out->policies[p].ops->shared_new)
            drv_replay_fleet(tr, out->policies[p].ops, &out->policies[p].params, shared[p],
                             out->policies[p].res);
    for (size_t v = 0; v < tr->nvms; v++) {
        for (size_t p = 0; p < nentries; p++) {
            if (out->policies[p].ops->shared_new)
                continue;
            memset(state, 0, state_max);
            drv_replay_vm(tr, &tr->vms[v], out->policies[p].ops, &out->policies[p].params,
                          shared[p], state, out->policies[p].res);
        }
        if (progress)
            progress(v + 1, tr->nvms, opaque);
    }
    out->elapsed_s = (double)(clock_mono_ns() - t0) / 1e9;

    for (size_t p = 0; p < nentries; p++)
        if (out->policies[p].ops->shared_free)
            out->policies[p].ops->shared_free(shared[p]);
    free(shared);
    free(state);
    return 0;
}

void drv_replay_result_release(struct drv_replay_result *r)
{
    free(r->policies);
    memset(r, 0, sizeof(*r));
}
