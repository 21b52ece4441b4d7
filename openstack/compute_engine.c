/* Where the compute manager meets the rest of sculpt: the request's
 * blueprint, the engine's admission and placement, and the record of what
 * runs here. */
#include <math.h>
#include <string.h>

#include "common/err.h"
#include "driver/shape.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"


/* The flavor as a shape: what Nova's own computes give a guest. */
static void engine_flavor_shape(const struct drv_instance *inst, struct drv_shape *shape)
{
    memset(shape, 0, sizeof(*shape));
    shape->res.v[DRV_RES_VCPU] = inst->flavor.vcpus;
    shape->res.v[DRV_RES_MEM_MIB] = (double)inst->flavor.memory_mb;
    shape->vcpus_online = inst->flavor.vcpus;
    shape->vcpus_max = inst->flavor.vcpus;
    shape->mem_max_mib = (double)inst->flavor.memory_mb;
    shape->numa_node = -1;
}

int os_compute_engine_place(struct os_compute *c, struct os_inst *i, struct drv_shape *shape,
                            struct err **err)
{
    (void)c;
    engine_flavor_shape(i->inst, shape);
    return drv_shape_validate(shape, err);
}

void os_compute_engine_spawned(struct os_compute *c, struct os_inst *i,
                               const struct drv_shape *shape)
{
    (void)c;
    (void)i;
    (void)shape;
}

void os_compute_engine_forget(struct os_compute *c, const char *uuid)
{
    (void)c;
    (void)uuid;
}

void os_compute_record_deleted(struct os_compute *c, const char *uuid)
{
    (void)c;
    (void)uuid;
}
