/* `autopilot`: the moving-window recommenders of Autopilot (Rzadca et al.,
 * "Autopilot: workload autoscaling at Google", EuroSys 2020, section 3.2):
 *
 *  - CPU: a percentile of usage under exponentially decaying weights --
 *    p95 (the paper's choice for latency-sensitive jobs), half-life 12 h;
 *  - memory: the decayed peak -- the largest reading, forgotten with a
 *    half-life of 48 h (the paper's longer memory window: an OOM costs more
 *    than throttling);
 *  - both raised by a safety margin of 10%;
 *  - network and disk are treated like CPU.
 *
 * The histogram is the same exponential-bucket decaying histogram as VPA's
 * (driver/histogram.c); Autopilot's own per-5-minute histograms are not
 * published, its statistics are.
 */
#include <math.h>

#include "driver/histogram.h"
#include "driver/policy.h"

#define AP_CPU_HALF_LIFE_S (12.0 * 3600)
#define AP_MEM_HALF_LIFE_S (48.0 * 3600)
#define AP_PERCENTILE 0.95
#define AP_MARGIN 0.10

struct drv_autopilot {
    struct drv_hist h[DRV_TR_LAST];  /* all but memory */
    bool has[DRV_TR_LAST];
    bool seen;
    double percentile[DRV_TR_LAST], margin[DRV_TR_LAST];
    double mem_peak;                 /* decayed peak, MiB */
    int64_t mem_t;                   /* time of mem_peak's last update */
};

static void drv_autopilot_init(void *state, const struct drv_policy_vm *vm,
                               const struct drv_policy_params *params, void *shared)
{
    struct drv_autopilot *a = state;
    (void)shared;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        a->has[k] = vm->has[k];
        a->percentile[k] = drv_policy_percentile(params, k, AP_PERCENTILE);
        a->margin[k] = drv_policy_margin(params, k, AP_MARGIN);
        if (k != DRV_TR_MEMORY)
            drv_hist_init(&a->h[k], 0.01, 1.05, k == DRV_TR_CPU ? 1000.0 : 1e6,
                          AP_CPU_HALF_LIFE_S);
    }
    a->seen = false;
    a->mem_peak = 0;
}

static double drv_autopilot_mem_at(const struct drv_autopilot *a, int64_t t)
{
    return a->mem_peak * exp2(-(double)(t - a->mem_t) / AP_MEM_HALF_LIFE_S);
}

static void drv_autopilot_decide(void *state, int64_t t, const double cap[DRV_TR_LAST],
                                 double alloc[DRV_TR_LAST])
{
    struct drv_autopilot *a = state;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!a->has[k] || !a->seen) {
            alloc[k] = cap[k];
            continue;
        }
        double x = k == DRV_TR_MEMORY ? drv_autopilot_mem_at(a, t)
                                      : drv_hist_percentile(&a->h[k], a->percentile[k]);
        alloc[k] = x * (1 + a->margin[k]);
    }
}

static void drv_autopilot_observe(void *state, const struct drv_policy_sample *s,
                                  const double alloc[DRV_TR_LAST])
{
    struct drv_autopilot *a = state;
    (void)alloc;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!a->has[k])
            continue;
        if (k == DRV_TR_MEMORY) {
            double decayed = a->seen ? drv_autopilot_mem_at(a, s->t) : 0;
            a->mem_peak = fmax(decayed, s->use[k]);
            a->mem_t = s->t;
        } else {
            drv_hist_add(&a->h[k], s->use[k], 1.0, s->t);
        }
    }
    a->seen = true;
}

const struct drv_policy_ops drv_policy_autopilot = {
    .name = "autopilot",
    .source = "Autopilot moving-window recommender (Rzadca et al., EuroSys 2020)",
    .state_size = sizeof(struct drv_autopilot),
    .init = drv_autopilot_init,
    .decide = drv_autopilot_decide,
    .observe = drv_autopilot_observe,
};
