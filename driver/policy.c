#include "driver/policy.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* Every policy sculpt-replay knows, in the order reports list them. */
static const struct drv_policy_ops *const drv_policies[] = {
    &drv_policy_static,
    &drv_policy_vpa,
    &drv_policy_autopilot,
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
