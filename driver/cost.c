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
