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

/* Replay one VM through one policy; per-VM sums are added to the totals in
 * VM order, so the result does not depend on how the loop is scheduled. */
static void drv_replay_vm(const struct drv_trace *tr, const struct drv_trace_vm *vm,
                          const struct drv_policy_ops *ops,
                          const struct drv_policy_params *params, void *shared,
                          void *state, struct drv_replay_stats out[DRV_TR_LAST])
{
    struct drv_policy_vm info = {.id = vm->id, .step_s = tr->step_s};
    struct drv_replay_stats st[DRV_TR_LAST];
    memset(st, 0, sizeof(st));
    for (int k = 0; k < DRV_TR_LAST; k++) {
        info.has[k] = tr->has[k];
        info.cap0[k] = tr->has[k] ? vm->cap[k][0] : 0;
    }
    ops->init(state, &info, params, shared);

    struct drv_policy_sample s;
    double alloc[DRV_TR_LAST], prev[DRV_TR_LAST] = {0};
    double bands[DRV_TR_LAST][DRV_Q_LAST];
    for (size_t i = 0; i < vm->n; i++) {
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
        ops->decide(state, s.t, s.cap, alloc);
        if (ops->bands)
            ops->bands(state, bands);
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
            struct drv_replay_stats *x = &st[k];
            x->sum_alloc += a;
            x->sum_use += u;
            if (a > u)
                x->sum_slack += a - u;
            else if (u > a) {
                x->sum_short += u - a;
                x->violations++;
            }
            x->steps++;
            if (i > 0 && a != prev[k])
                x->reshapes++;
            prev[k] = a;
            if (ops->bands)
                drv_replay_score_bands(x, bands[k], u);
        }
        ops->observe(state, &s, alloc);
    }
    if (ops->fini)
        ops->fini(state);
    for (int k = 0; k < DRV_TR_LAST; k++) {
        st[k].hours = (double)st[k].steps * tr->step_s / 3600.0;
        drv_replay_stats_add(&out[k], &st[k]);
    }
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
    for (size_t v = 0; v < tr->nvms; v++) {
        for (size_t p = 0; p < nentries; p++) {
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
