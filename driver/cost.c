#include "driver/cost.h"

#include "common/config.h"

void drv_cost_model_from_cfg(const struct cfg *cfg, struct drv_cost_model *m)
{
    double factor = cfg->cost_violation_factor;
    if (factor <= 0) {
        /* newsvendor: allocate at quantile 1 - r  <=>  v / (v + p) = 1 - r */
        double r = cfg->target_violation_rate > 0 ? cfg->target_violation_rate : 1e-4;
        factor = (1 - r) / r;
    }
    m->price[DRV_RES_VCPU] = cfg->cost_vcpu_hour;
    m->price[DRV_RES_MEM_MIB] = cfg->cost_mem_gib_hour / 1024.0;
    m->price[DRV_RES_NET_IN_MBPS] = cfg->cost_net_mbps_hour;
    m->price[DRV_RES_NET_OUT_MBPS] = cfg->cost_net_mbps_hour;
    m->price[DRV_RES_DISK_READ_IOPS] = cfg->cost_disk_iops_hour;
    m->price[DRV_RES_DISK_WRITE_IOPS] = cfg->cost_disk_iops_hour;
    m->price[DRV_RES_DISK_READ_MBPS] = cfg->cost_disk_mbps_hour;
    m->price[DRV_RES_DISK_WRITE_MBPS] = cfg->cost_disk_mbps_hour;
    for (int k = 0; k < DRV_RES_LAST; k++) {
        m->violation[k] = m->price[k] * factor;
        m->idle[k] = m->price[k] * cfg->cost_idle_factor;
    }
    m->reshape = cfg->cost_reshape;
    for (int k = 0; k < DRV_RES_LAST; k++)
        m->overrun_units[k] = cfg->cost_overrun_units;
    m->target_violation_rate = cfg->target_violation_rate;
}

double drv_cost_step(const struct drv_cost_model *m, enum drv_res_kind k, double alloc,
                     double use, double dt_s)
{
    double hours = dt_s / 3600.0;
    double over = use > alloc ? use - alloc : 0;
    return (m->price[k] * alloc + m->violation[k] * over) * hours;
}

double drv_cost_critical_quantile(const struct drv_cost_model *m, enum drv_res_kind k)
{
    double v = m->violation[k], p = m->price[k];
    if (v + p <= 0)
        return 0.5;
    return v / (v + p);
}

double drv_cost_exceed_prob(const struct drv_cost_bands *b, double alloc)
{
    if (b->n < 1)
        return 0;
    if (alloc >= b->value[b->n - 1])
        return 0;
    if (alloc < b->value[0]) {
        /* below the first knot: the CDF rises linearly from 0 at use 0 */
        double f = b->value[0] > 0 && alloc > 0 ? b->level[0] * alloc / b->value[0] : 0;
        return 1 - f;
    }
    int i = 0;
    while (i + 1 < b->n && b->value[i + 1] <= alloc)
        i++;
    if (i + 1 >= b->n)
        return 0;
    double v0 = b->value[i], v1 = b->value[i + 1];
    double f = v1 > v0 ? b->level[i] + (b->level[i + 1] - b->level[i]) * (alloc - v0) / (v1 - v0)
                       : b->level[i + 1];
    return 1 - f;
}

double drv_cost_expected_short(const struct drv_cost_bands *b, double alloc)
{
    /* integrate P(use > x) from alloc to the last knot, piece by piece */
    double sum = 0, prev_v = 0, prev_l = 0;
    for (int i = 0; i < b->n; i++) {
        double v = b->value[i], l = b->level[i];
        if (v > alloc) {
            double lo = prev_v > alloc ? prev_v : alloc;
            double w = v - lo;
            if (w > 0) {
                /* exceedance falls linearly from 1-F(lo) to 1-l over [lo, v] */
                double f_lo = v > prev_v ? prev_l + (l - prev_l) * (lo - prev_v) / (v - prev_v) : l;
                sum += w * ((1 - f_lo) + (1 - l)) / 2;
            }
        }
        prev_v = v;
        prev_l = l;
    }
    return sum;
}

double drv_cost_expected(const struct drv_cost_model *m, enum drv_res_kind k, double alloc,
                         const struct drv_cost_bands *b, double dt_s, double overrun,
                         double prev)
{
    double hours = dt_s / 3600.0;
    double c = m->price[k] * alloc * hours;
    if (m->violation[k] > 0)
        c += m->violation[k] * drv_cost_expected_short(b, alloc) * hours;
    c += overrun * drv_cost_exceed_prob(b, alloc);
    if (prev >= 0 && alloc != prev)
        c += m->reshape;
    return c;
}
