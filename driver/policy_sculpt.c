/* `sculpt`: the prediction module (driver/predict*), exactly as the service
 * runs it.  One fleet history per replay (shared_new), fed by every VM in
 * replay order; per VM a predictor asked, before each sample, for the
 * allocation of the coming step (the first step of its blueprint) and shown
 * the sample afterwards.  Prices and the SLO come from sculpt.conf ([cost],
 * [sculpt], [predict]).
 *
 * The replay's four resources map onto the service's dimensions: cpu ->
 * vcpu, memory -> mem_mib, net (in + out) -> net_in_mbps, disk (read +
 * write) -> disk_read_mbps.  A VM's flavor is its provisioned size
 * ("cpu4-mem8g", memory rounded to GiB as flavors are sized); traces carry
 * no project, image or instance name (a VM's id is not a name its tenant
 * chose, so it forms no name pattern).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "driver/policy.h"
#include "driver/predict.h"

static const enum drv_res_kind sculpt_dim[DRV_TR_LAST] = {
    [DRV_TR_CPU] = DRV_RES_VCPU,
    [DRV_TR_MEMORY] = DRV_RES_MEM_MIB,
    [DRV_TR_NET] = DRV_RES_NET_IN_MBPS,
    [DRV_TR_DISK] = DRV_RES_DISK_READ_MBPS,
};

struct drv_sculpt_shared {
    struct drv_fleet *fleet;
    struct drv_predict_config pc;
    struct drv_cost_model cm;
};

struct drv_sculpt {
    struct drv_sculpt_shared *sh;
    struct drv_predictor *p;     /* created at the first decision (the VM's boot) */
    const char *id;
    bool has[DRV_TR_LAST];
    double cap[DRV_TR_LAST];
    double bands[DRV_TR_LAST][DRV_Q_LAST];
};

static void *drv_sculpt_shared_new(const struct drv_policy_params *params)
{
    struct drv_sculpt_shared *sh = xzalloc(sizeof(*sh));
    autocfg defaults = params->cfg ? NULL : cfg_new_defaults();
    const struct cfg *cfg = params->cfg ? params->cfg : defaults;
    drv_predict_config_from_cfg(cfg, &sh->pc);
    drv_cost_model_from_cfg(cfg, &sh->cm);
    sh->fleet = drv_fleet_new(&sh->pc);
    return sh;
}

static void drv_sculpt_shared_free(void *shared)
{
    struct drv_sculpt_shared *sh = shared;
    if (!sh)
        return;
    drv_fleet_free(sh->fleet);
    free(sh);
}

static void drv_sculpt_init(void *state, const struct drv_policy_vm *vm,
                            const struct drv_policy_params *params, void *shared)
{
    struct drv_sculpt *s = state;
    (void)params;
    s->sh = shared;
    s->p = NULL;
    s->id = vm->id;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        s->has[k] = vm->has[k];
        s->cap[k] = vm->cap0[k];
    }
}

static struct drv_res drv_sculpt_ceiling(const struct drv_sculpt *s)
{
    struct drv_res c = drv_res_zero();
    for (int k = 0; k < DRV_TR_LAST; k++)
        if (s->has[k])
            c.v[sculpt_dim[k]] = s->cap[k];
    return c;
}

static void drv_sculpt_start(struct drv_sculpt *s, int64_t t)
{
    char flavor[64];
    /* a trace's VM ids are not names a tenant chose: no name pattern */
    struct drv_predict_request req = {.boot_s = t};
    drv_predict_size_flavor(s->cap[DRV_TR_CPU], s->has[DRV_TR_MEMORY] ? s->cap[DRV_TR_MEMORY] : 0,
                            flavor, sizeof(flavor));
    req.flavor_name = flavor;
    req.ceiling = drv_sculpt_ceiling(s);
    for (int k = 0; k < DRV_TR_LAST; k++)
        if (s->has[k])
            req.resources |= 1u << sculpt_dim[k];
    /* the ceiling comes from the trace's own figures: always valid */
    s->p = drv_predictor_new(s->sh->fleet, &req, &s->sh->pc, NULL);
}

static void drv_sculpt_decide(void *state, int64_t t, const double cap[DRV_TR_LAST],
                              double alloc[DRV_TR_LAST])
{
    struct drv_sculpt *s = state;
    struct drv_predict_step step;
    bool resized = false;
    for (int k = 0; k < DRV_TR_LAST; k++)
        if (s->has[k] && cap[k] != s->cap[k]) {
            s->cap[k] = cap[k];
            resized = true;
        }
    if (!s->p)
        drv_sculpt_start(s, t);
    else if (resized)
        drv_predictor_set_ceiling(s->p, drv_sculpt_ceiling(s));
    if (!s->p) {
        for (int k = 0; k < DRV_TR_LAST; k++)
            alloc[k] = cap[k];
        return;
    }
    drv_predictor_next(s->p, t, &s->sh->cm, &step);
    for (int k = 0; k < DRV_TR_LAST; k++) {
        alloc[k] = s->has[k] ? step.alloc.v[sculpt_dim[k]] : cap[k];
        for (int q = 0; q < DRV_Q_LAST; q++)
            s->bands[k][q] = step.q[q][sculpt_dim[k]];
    }
}

static void drv_sculpt_observe(void *state, const struct drv_policy_sample *x,
                               const double alloc[DRV_TR_LAST])
{
    struct drv_sculpt *s = state;
    (void)alloc;
    if (!s->p)
        return;
    struct drv_res use = drv_res_zero();
    for (int k = 0; k < DRV_TR_LAST; k++)
        if (s->has[k])
            use.v[sculpt_dim[k]] = x->use[k];
    drv_predictor_observe(s->p, x->t, &use);
}

static void drv_sculpt_bands(const void *state, double q[DRV_TR_LAST][DRV_Q_LAST])
{
    const struct drv_sculpt *s = state;
    for (int k = 0; k < DRV_TR_LAST; k++)
        for (int b = 0; b < DRV_Q_LAST; b++)
            q[k][b] = s->bands[k][b];
}

static void drv_sculpt_fini(void *state)
{
    struct drv_sculpt *s = state;
    drv_predictor_free(s->p);
    s->p = NULL;
}

const struct drv_policy_ops drv_policy_sculpt = {
    .name = "sculpt",
    .source = "sculpt's prediction module (driver/predict*): per-guest conditional "
              "distributions, fleet calibration, cost-chosen allocation",
    .state_size = sizeof(struct drv_sculpt),
    .init = drv_sculpt_init,
    .decide = drv_sculpt_decide,
    .observe = drv_sculpt_observe,
    .bands = drv_sculpt_bands,
    .fini = drv_sculpt_fini,
    .shared_new = drv_sculpt_shared_new,
    .shared_free = drv_sculpt_shared_free,
};
