/* Requests: what a guest is known by before it runs, the fleet groups it
 * is compared with, and the [predict] configuration. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "driver/predict_priv.h"

void drv_predict_config_default(struct drv_predict_config *pc)
{
    autocfg cfg = cfg_new_defaults();
    drv_predict_config_from_cfg(cfg, pc);
}

void drv_predict_config_from_cfg(const struct cfg *cfg, struct drv_predict_config *pc)
{
    memset(pc, 0, sizeof(*pc));
    pc->target_violation_rate = cfg->target_violation_rate;
    pc->season_bin_s = (int32_t)cfg->predict_season_bin_s;
    pc->season_half_life_s = cfg->predict_season_half_life_days * 86400.0;
    pc->level_half_life_s = cfg->predict_level_half_life_s;
    pc->calib_half_life_s = cfg->predict_calib_half_life_s;
    pc->cost_half_life_s = cfg->predict_cost_half_life_s;
    pc->reshape_hold_s = (double)cfg->blueprint_horizon_s;
    pc->prior_weight = cfg->predict_prior_weight;
    pc->slo_rate = cfg->predict_slo_rate;
    pc->guest_violation_cap = cfg->predict_guest_violation_cap;
    pc->overrun_floor = cfg->predict_overrun_floor;
    pc->memory_margin = cfg->predict_memory_margin;
    pc->memory_margin_mib = cfg->predict_memory_margin_mib;
    pc->fleet_max_groups = (int32_t)cfg->predict_fleet_max_groups;
    pc->fleet_min_guests = (int32_t)cfg->predict_fleet_min_guests;
    pc->fleet_half_life_s = cfg->predict_fleet_half_life_days * 86400.0;
}

/* A flavor extra spec as a number, or 0 when absent or not a number. */
static double pr_extra_spec(const struct drv_flavor *f, const char *key)
{
    const char *v = drv_kv_get(f->extra_specs, f->nextra_specs, key);
    if (!v)
        return 0;
    char *end;
    double x = strtod(v, &end);
    return end != v && *end == '\0' && x > 0 && x <= DRV_RES_MAX ? x : 0;
}

void drv_predict_request_from_instance(const struct drv_instance *inst,
                                       struct drv_predict_request *req)
{
    const struct drv_flavor *f = &inst->flavor;
    memset(req, 0, sizeof(*req));
    req->flavor_name = f->name;
    req->project_id = inst->project_id;
    req->image_ref = inst->image_ref;
    req->name = inst->name;
    req->metadata = inst->metadata;
    req->nmetadata = inst->nmetadata;
    req->boot_s = inst->created_ms / 1000;
    req->ceiling.v[DRV_RES_VCPU] = f->vcpus > 0 ? f->vcpus : 0;
    req->ceiling.v[DRV_RES_MEM_MIB] = f->memory_mb > 0 ? (double)f->memory_mb : 0;
    /* Nova's libvirt quota extra specs: interface averages in KB/s, disk
     * limits in operations and bytes per second; absent means unbounded */
    req->ceiling.v[DRV_RES_NET_IN_MBPS] = pr_extra_spec(f, "quota:vif_inbound_average") * 8e-3;
    req->ceiling.v[DRV_RES_NET_OUT_MBPS] = pr_extra_spec(f, "quota:vif_outbound_average") * 8e-3;
    req->ceiling.v[DRV_RES_DISK_READ_IOPS] = pr_extra_spec(f, "quota:disk_read_iops_sec");
    req->ceiling.v[DRV_RES_DISK_WRITE_IOPS] = pr_extra_spec(f, "quota:disk_write_iops_sec");
    req->ceiling.v[DRV_RES_DISK_READ_MBPS] = pr_extra_spec(f, "quota:disk_read_bytes_sec") / 1e6;
    req->ceiling.v[DRV_RES_DISK_WRITE_MBPS] = pr_extra_spec(f, "quota:disk_write_bytes_sec") / 1e6;
}

void drv_predict_size_flavor(double vcpus, double mem_mib, char *out, size_t size)
{
    if (mem_mib > 0)
        snprintf(out, size, "cpu%g-mem%.0fg", vcpus, fmax(1.0, round(mem_mib / 1024.0)));
    else
        snprintf(out, size, "cpu%g", vcpus);
}

void drv_predict_name_pattern(const char *name, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return;
    for (const char *p = name; *p && n + 1 < size; p++) {
        if (isdigit((unsigned char)*p)) {
            while (isdigit((unsigned char)p[1]))
                p++;
            out[n++] = '#';
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

static bool pr_set(const char *s)
{
    return s && *s;
}

uint32_t drv_predict_request_keys(const struct drv_predict_request *req,
                                  char keys[PR_GROUPS_MAX][DRV_FLEET_KEY_MAX])
{
    char pattern[64] = "";
    uint32_t n = 0;
    const char *proj = req->project_id, *flavor = req->flavor_name, *image = req->image_ref;

    if (pr_set(req->name))
        drv_predict_name_pattern(req->name, pattern, sizeof(pattern));
    /* most specific first: a deployment (project and name pattern), then a
     * project's or an image's use of a flavor, then one attribute alone */
    if (pr_set(proj) && pattern[0])
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "project=%s|name=%s", proj, pattern);
    if (pr_set(proj) && pr_set(flavor))
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "project=%s|flavor=%s", proj, flavor);
    if (pr_set(image) && pr_set(flavor))
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "image=%s|flavor=%s", image, flavor);
    if (pattern[0])
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "name=%s", pattern);
    if (pr_set(proj))
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "project=%s", proj);
    if (pr_set(flavor))
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "flavor=%s", flavor);
    if (pr_set(image))
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "image=%s", image);
    /* guests of the same size, whatever their flavor's name: flavors of
     * one size tend to run the same kind of work */
    if (req->ceiling.v[DRV_RES_VCPU] > 0)
        snprintf(keys[n++], DRV_FLEET_KEY_MAX, "vcpus=%g", req->ceiling.v[DRV_RES_VCPU]);
    snprintf(keys[n++], DRV_FLEET_KEY_MAX, "*");
    return n;
}
