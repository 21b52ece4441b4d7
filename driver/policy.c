#include "driver/policy.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* Every policy sculpt-replay knows, in the order reports list them. */
static const struct drv_policy_ops *const drv_policies[] = {
    &drv_policy_static,
    &drv_policy_vpa,
    &drv_policy_autopilot,
    &drv_policy_sculpt,
};

const struct drv_policy_ops *drv_policy_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(drv_policies); i++)
        if (strcmp(drv_policies[i]->name, name) == 0)
            return drv_policies[i];
    return NULL;
}

const char *drv_policy_names(void)
{
    static char names[256];
    if (!names[0]) {
        size_t n = 0;
        for (size_t i = 0; i < ARRAY_SIZE(drv_policies) && n < sizeof(names); i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? "," : "",
                                  drv_policies[i]->name);
    }
    return names;
}

double drv_policy_margin(const struct drv_policy_params *p, int k, double def)
{
    double m = p->per_res ? p->res_margin[k] : p->margin;
    return m >= 0 || p->per_res ? m : def;
}

double drv_policy_percentile(const struct drv_policy_params *p, int k, double def)
{
    double x = p->per_res ? p->res_percentile[k] : p->percentile;
    return x > 0 ? x : def;
}
