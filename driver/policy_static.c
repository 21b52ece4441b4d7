/* `static`: the VM's provisioned size, what a Nova flavor gives.  It never
 * violates (use is capped at the provisioned size) and is the slack every
 * other policy is measured against. */
#include "driver/policy.h"

static void drv_static_init(void *state, const struct drv_policy_vm *vm,
                            const struct drv_policy_params *params, void *shared)
{
    (void)state;
    (void)vm;
    (void)params;
    (void)shared;
}

static void drv_static_decide(void *state, int64_t t, const double cap[DRV_TR_LAST],
                              double alloc[DRV_TR_LAST])
{
    (void)state;
    (void)t;
    for (int k = 0; k < DRV_TR_LAST; k++)
        alloc[k] = cap[k];
}

static void drv_static_observe(void *state, const struct drv_policy_sample *s,
                               const double alloc[DRV_TR_LAST])
{
    (void)state;
    (void)s;
    (void)alloc;
}

const struct drv_policy_ops drv_policy_static = {
    .name = "static",
    .source = "Nova flavor: the provisioned size recorded in the trace",
    .state_size = 1,
    .init = drv_static_init,
    .decide = drv_static_decide,
    .observe = drv_static_observe,
};
