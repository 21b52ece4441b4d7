/* `vpa`: the Kubernetes Vertical Pod Autoscaler recommender with its
 * published defaults (kubernetes/autoscaler, vertical-pod-autoscaler/pkg/
 * recommender: model/aggregations_config.go, model/container.go,
 * logic/recommender.go, logic/estimator.go):
 *
 *  - CPU: decaying histogram of usage samples, exponential buckets from
 *    0.01 cores growing 5% up to 1000 cores, half-life 24 h, each sample
 *    weighted by max(CPU request, 0.1) -- the request is the allocation in
 *    force when the sample was taken;
 *  - memory: one peak per 24 h aggregation interval (a later larger sample
 *    in the same interval replaces the peak), histogram of peaks from 10 MB
 *    growing 5% up to 1 TB, half-life 24 h; the 8-interval history length
 *    is the horizon after which a peak weighs 1/256;
 *  - target = p90 of the histogram x (1 + 15% safety margin), at least
 *    25 millicores and 250 MiB (podMinCPUMillicores, podMinMemoryMb);
 *  - no samples yet: no recommendation, the provisioned size stays.
 *
 * VPA has no network or disk recommender; those are treated like CPU
 * (decaying p90 histogram, weight 1, +15%) so every resource has a figure.
 * Memory is handled in bytes as VPA does (the traces are in MiB).
 */
#include <math.h>

#include "driver/histogram.h"
#include "driver/policy.h"

#define VPA_HALF_LIFE_S (24.0 * 3600)
#define VPA_MEM_INTERVAL_S (24 * 3600)
#define VPA_TARGET_PERCENTILE 0.9
#define VPA_SAFETY_MARGIN 0.15
#define VPA_MIN_CPU 0.025
#define VPA_MIN_MEM_BYTES (250.0 * 1024 * 1024)
#define VPA_MIN_SAMPLE_WEIGHT 0.1
#define MIB 1048576.0

struct drv_vpa {
    struct drv_hist h[DRV_TR_LAST];
    bool has[DRV_TR_LAST];
    double percentile[DRV_TR_LAST], margin[DRV_TR_LAST];
    int64_t mem_window_end;   /* end of the current memory interval (s) */
    double mem_peak;          /* bytes; 0 = none in this interval */
    int64_t last_mem_t;
    bool mem_started;
};

static void drv_vpa_init(void *state, const struct drv_policy_vm *vm,
                         const struct drv_policy_params *params, void *shared)
{
    struct drv_vpa *v = state;
    (void)shared;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        v->has[k] = vm->has[k];
        v->percentile[k] = drv_policy_percentile(params, k, VPA_TARGET_PERCENTILE);
        v->margin[k] = drv_policy_margin(params, k, VPA_SAFETY_MARGIN);
        if (k == DRV_TR_MEMORY)
            drv_hist_init(&v->h[k], 1e7, 1.05, 1e12, VPA_HALF_LIFE_S);
        else if (k == DRV_TR_CPU)
            drv_hist_init(&v->h[k], 0.01, 1.05, 1000.0, VPA_HALF_LIFE_S);
        else
            drv_hist_init(&v->h[k], 0.01, 1.05, 1e6, VPA_HALF_LIFE_S);
    }
    v->mem_started = false;
    v->mem_peak = 0;
}

static void drv_vpa_decide(void *state, int64_t t, const double cap[DRV_TR_LAST],
                           double alloc[DRV_TR_LAST])
{
    struct drv_vpa *v = state;
    (void)t;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!v->has[k] || drv_hist_empty(&v->h[k])) {
            alloc[k] = cap[k];
            continue;
        }
        double x = drv_hist_percentile(&v->h[k], v->percentile[k]) * (1 + v->margin[k]);
        if (k == DRV_TR_MEMORY)
            x = fmax(x, VPA_MIN_MEM_BYTES) / MIB;
        else if (k == DRV_TR_CPU)
            x = fmax(x, VPA_MIN_CPU);
        alloc[k] = x;
    }
}

/* container.go addMemorySample: one peak per aggregation interval. */
static void drv_vpa_memory_sample(struct drv_vpa *v, int64_t t, double bytes)
{
    struct drv_hist *h = &v->h[DRV_TR_MEMORY];

    if (v->mem_started && t <= v->last_mem_t)
        return;
    v->last_mem_t = t;
    if (!v->mem_started) {
        v->mem_window_end = t;
        v->mem_started = true;
    }
    bool add = false;
    if (t < v->mem_window_end) {
        if (v->mem_peak != 0 && bytes > v->mem_peak) {
            drv_hist_subtract(h, v->mem_peak, 1.0, v->mem_window_end);
            add = true;
        }
    } else {
        int64_t shift = ((t - v->mem_window_end) / VPA_MEM_INTERVAL_S) * VPA_MEM_INTERVAL_S +
                        VPA_MEM_INTERVAL_S;
        v->mem_window_end += shift;
        v->mem_peak = 0;
        add = true;
    }
    if (add) {
        drv_hist_add(h, bytes, 1.0, v->mem_window_end);
        v->mem_peak = bytes;
    }
}

static void drv_vpa_observe(void *state, const struct drv_policy_sample *s,
                            const double alloc[DRV_TR_LAST])
{
    struct drv_vpa *v = state;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!v->has[k])
            continue;
        if (k == DRV_TR_MEMORY)
            drv_vpa_memory_sample(v, s->t, s->use[k] * MIB);
        else if (k == DRV_TR_CPU)
            drv_hist_add(&v->h[k], s->use[k], fmax(alloc[k], VPA_MIN_SAMPLE_WEIGHT), s->t);
        else
            drv_hist_add(&v->h[k], s->use[k], 1.0, s->t);
    }
}

const struct drv_policy_ops drv_policy_vpa = {
    .name = "vpa",
    .source = "Kubernetes VPA recommender defaults (kubernetes/autoscaler, "
              "vertical-pod-autoscaler/pkg/recommender)",
    .state_size = sizeof(struct drv_vpa),
    .init = drv_vpa_init,
    .decide = drv_vpa_decide,
    .observe = drv_vpa_observe,
};
