#include "api/cost_account.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "db/db.h"

/* One guest's reshapes, oldest first. */
struct api_timeline {
    const struct db_reshape **v;
    size_t n;
};

static int api_reshape_cmp(const void *a, const void *b)
{
    const struct db_reshape *x = *(const struct db_reshape *const *)a;
    const struct db_reshape *y = *(const struct db_reshape *const *)b;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

static void api_timeline_of(const struct db_reshape_list *l, const char *uuid,
                            struct api_timeline *t)
{
    t->n = 0;
    t->v = NULL;
    for (size_t i = 0; l && i < l->n; i++) {
        if (!l->v[i].ok || strcmp(l->v[i].instance_uuid, uuid) != 0)
            continue;
        t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
        t->v[t->n++] = &l->v[i];
    }
    qsort(t->v, t->n, sizeof(*t->v), api_reshape_cmp);
}

/* The entitlement in force at t: the last reshape at or before t, else
 * what the first reshape changed from, else the instance's stored shape. */
static struct drv_res api_shape_at(const struct api_timeline *t, const struct drv_instance *inst,
                                   int64_t t_ms)
{
    const struct db_reshape *last = NULL;
    for (size_t i = 0; i < t->n && t->v[i]->at_ms <= t_ms; i++)
        last = t->v[i];
    if (last)
        return last->to.res;
    if (t->n)
        return t->v[0]->from.res;
    return inst->shape.res;
}

static struct drv_res api_flavor_res(const struct drv_instance *inst)
{
    struct drv_res r = drv_res_zero();
    r.v[DRV_RES_VCPU] = inst->flavor.vcpus;
    r.v[DRV_RES_MEM_MIB] = (double)inst->flavor.memory_mb;
    return r;
}

static const struct drv_instance *api_inst_find(const struct db_instance_list *l,
                                                const char *uuid)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->v[i]->uuid, uuid) == 0)
            return l->v[i];
    return NULL;
}

/* Price one sample of one guest. */
static void api_account_sample(const struct drv_cost_model *m, const struct db_usage_sample *s,
                               struct drv_res shape, struct drv_res flavor,
                               struct api_cost_account *out)
{
    double h = s->step_s / 3600.0;
    bool over = false;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        /* A dimension the flavor does not size is neither shaped nor priced
         * (the convention of drv_cost_estimate). */
        if (flavor.v[k] <= 0)
            continue;
        double use = s->use.v[k];
        out->resource[k] += m->price[k] * shape.v[k] * h;
        out->static_resource[k] += m->price[k] * flavor.v[k] * h;
        if (use > shape.v[k]) {
            out->violation[k] += m->violation[k] * (use - shape.v[k]) * h;
            out->overrun[k] += m->overrun_units[k] * m->price[k];
            over = true;
        }
        if (use > flavor.v[k])
            out->static_violation[k] += m->violation[k] * (use - flavor.v[k]) * h;
    }
    out->guest_hours += h;
    out->samples++;
    out->over_samples += over;
}

static void api_account_idle(const struct drv_cost_model *m,
                             const struct db_pool_member_list *members, int64_t from_ms,
                             int64_t to_ms, struct api_cost_account *out)
{
    for (size_t i = 0; members && i < members->n; i++) {
        const struct db_pool_member *p = members->v[i];
        /* It waited from creation until handed over, released (at its
         * expiry, the only end the record keeps) or now. */
        int64_t end = p->handed_over_ms         ? p->handed_over_ms
                      : p->state == DB_MEMBER_RELEASED || p->state == DB_MEMBER_GONE
                          ? (p->expires_ms ? p->expires_ms : p->created_ms)
                          : to_ms;
        int64_t a = p->created_ms > from_ms ? p->created_ms : from_ms;
        int64_t b = end < to_ms ? end : to_ms;
        if (b <= a)
            continue;
        double h = (double)(b - a) / 3.6e6;
        for (int k = 0; k < DRV_RES_LAST; k++)
            out->idle += m->idle[k] * p->shape.res.v[k] * h;
    }
}

void api_cost_account(const struct drv_cost_model *m, const struct db_instance_list *insts,
                      const struct db_usage_list *usage, const struct db_reshape_list *reshapes,
                      const struct db_pool_member_list *members, int64_t from_ms, int64_t to_ms,
                      struct api_cost_account *out)
{
    memset(out, 0, sizeof(*out));
    struct api_timeline t = {NULL, 0};
    const char *cur = NULL;
    const struct drv_instance *inst = NULL;
    for (size_t i = 0; usage && i < usage->n; i++) {
        const struct db_usage_sample *s = &usage->v[i];
        if (s->t_ms < from_ms || s->t_ms >= to_ms)
            continue;
        if (!cur || strcmp(cur, s->instance_uuid) != 0) {
            cur = s->instance_uuid;
            inst = api_inst_find(insts, cur);
            free(t.v);
            api_timeline_of(reshapes, cur, &t);
        }
        if (!inst)
            continue;
        api_account_sample(m, s, api_shape_at(&t, inst, s->t_ms), api_flavor_res(inst), out);
    }
    free(t.v);
    for (size_t i = 0; reshapes && i < reshapes->n; i++)
        if (reshapes->v[i].ok && reshapes->v[i].at_ms >= from_ms && reshapes->v[i].at_ms < to_ms)
            out->reshapes += 1;
    out->reshape = out->reshapes * m->reshape;
    api_account_idle(m, members, from_ms, to_ms, out);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        out->total += out->resource[k] + out->violation[k] + out->overrun[k];
        out->static_total += out->static_resource[k] + out->static_violation[k];
    }
    out->total += out->reshape + out->idle;
}
