/* The `oracle` policy of sculpt-replay --pack: what placement alone could
 * achieve with perfect foresight and no migration.  Each VM keeps its
 * flavor (no cap on its use), and goes to the first open host on which
 * its whole future use, added to what that host's VMs will use, exceeds
 * the host's capacity in at most [engine] host_violation_rate of its
 * slots -- a bound no causal policy reaches by placement, the reference
 * the host count of `sculpt` is to be read against. */
#include <stdlib.h>
#include <string.h>

#include "driver/pack_priv.h"

/* vm's use at each slot of its life (the latest sample at or before the
 * slot, capped at the provisioned size), trace resource k: out[k][s -
 * first_slot]. */
static void pack_oracle_series(const struct pack_run *r, const struct pack_vm *vm,
                               float *out[DRV_TR_LAST])
{
    const struct drv_trace_vm *v = vm->tv;
    size_t cur = 0;
    for (int64_t s = vm->first_slot; s <= vm->last_slot; s++) {
        while (cur + 1 < v->n && pack_slot(r, v->t[cur + 1]) <= s)
            cur++;
        for (int k = 0; k < DRV_TR_LAST; k++)
            if (out[k])
                out[k][s - vm->first_slot] = (float)fmin(v->use[k][cur], v->cap[k][cur]);
    }
}

static void pack_oracle_buffers(const struct pack_run *r, const struct pack_vm *vm,
                                float *buf[DRV_TR_LAST])
{
    size_t len = (size_t)(vm->last_slot - vm->first_slot + 1);
    for (int k = 0; k < DRV_TR_LAST; k++)
        buf[k] = r->tr->has[k] ? xcalloc(len, sizeof(float)) : NULL;
    pack_oracle_series(r, vm, buf);
}

int64_t pack_oracle_pick(struct pack_run *r, const struct pack_vm *vm)
{
    float *u[DRV_TR_LAST];
    pack_oracle_buffers(r, vm, u);
    int64_t len = vm->last_slot - vm->first_slot + 1;
    int64_t allowed = (int64_t)(r->params.host_violation_rate * (double)len);
    int64_t pick = -1;
    for (size_t h = 0; h < r->nhosts && pick < 0; h++) {
        const struct pack_host *ph = &r->hosts[h];
        if (!ph->e)
            continue;
        int64_t over = 0;
        for (int64_t i = 0; i < len && over <= allowed; i++) {
            bool v = false;
            for (int k = 0; k < DRV_TR_LAST && !v; k++) {
                if (!u[k])
                    continue;
                double cap = r->host->capacity.v[pack_dim[k]];
                double have = ph->future[k] ? ph->future[k][vm->first_slot + i] : 0;
                v = have + u[k][i] > cap * (1 + 1e-9);
            }
            over += v;
        }
        if (over <= allowed)
            pick = (int64_t)h;
    }
    for (int k = 0; k < DRV_TR_LAST; k++)
        free(u[k]);
    return pick;
}

void pack_oracle_add(struct pack_run *r, size_t h, const struct pack_vm *vm)
{
    struct pack_host *ph = &r->hosts[h];
    float *u[DRV_TR_LAST];
    pack_oracle_buffers(r, vm, u);
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!u[k])
            continue;
        if (!ph->future[k])
            ph->future[k] = xcalloc((size_t)r->nslots, sizeof(float));
        for (int64_t s = vm->first_slot; s <= vm->last_slot; s++)
            ph->future[k][s] += u[k][s - vm->first_slot];
        free(u[k]);
    }
}

void pack_oracle_reset(struct pack_host *h)
{
    for (int k = 0; k < DRV_TR_LAST; k++) {
        free(h->future[k]);
        h->future[k] = NULL;
    }
}
