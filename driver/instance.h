/* What sculpt knows of a guest: the Nova fields it needs, its flavor as
 * requested, and its state.  Plain C: openstack/ decodes Nova objects into
 * this, db/ stores it, the engine and backends act on it.
 */
#ifndef SC_DRIVER_INSTANCE_H
#define SC_DRIVER_INSTANCE_H

#include <stdint.h>

#include "common/alloc.h"
#include "driver/shape.h"

#define DRV_UUID_LEN 36

/* A key/value pair (metadata, flavor extra specs, image properties). */
struct drv_kv {
    char *key;
    char *value;
};

/* The request's flavor as Nova sent it: integers, the ceiling sculpt
 * sculpts below (unless the operator allows more). */
struct drv_flavor {
    char *name;
    int32_t vcpus;
    int64_t memory_mb;
    int64_t root_gb;
    int64_t ephemeral_gb;
    int64_t swap_mb;
    struct drv_kv *extra_specs;   /* owned array */
    size_t nextra_specs;
};

/* Nova's power_state values (nova/compute/power_state.py). */
enum drv_power_state {
    DRV_POWER_NOSTATE = 0,
    DRV_POWER_RUNNING = 1,
    DRV_POWER_PAUSED = 3,
    DRV_POWER_SHUTDOWN = 4,
    DRV_POWER_CRASHED = 6,
    DRV_POWER_SUSPENDED = 7,
};

struct drv_instance {
    char uuid[DRV_UUID_LEN + 1];
    char *name;                   /* display name */
    char *project_id;
    char *user_id;
    char *image_ref;              /* Glance image uuid */
    struct drv_flavor flavor;
    struct drv_kv *metadata;      /* owned array */
    size_t nmetadata;
    char *vm_state;               /* Nova vm_state as last reported ("active") */
    char *task_state;             /* NULL when none */
    enum drv_power_state power_state;
    char *domain;                 /* hypervisor domain name; NULL before spawn */
    int64_t created_ms;           /* Unix ms */
    int64_t deleted_ms;           /* Unix ms it was destroyed; 0 while it exists */
    struct drv_shape shape;       /* the shape applied now */
    /* Defined with more room than its flavor (a pool member handed over:
     * its domain's maxima are its group's or family's): the engine's
     * shapes keep these maxima.  0: the flavor's. */
    int32_t vcpus_defined;
    double mem_defined_mib;
    /* Its guest runs and has booted already (a pool member handed over):
     * the engine gives it no boot allowance. */
    bool booted;
};

/* Release what the instance owns and the struct itself; accepts NULL. */
void drv_instance_free(struct drv_instance *inst);
DEFINE_AUTOPTR(drv_instance)

/* Release the arrays of a flavor (not the struct). */
void drv_flavor_release(struct drv_flavor *f);
/* Deep copy; caller frees with drv_instance_free(). */
struct drv_instance *drv_instance_dup(const struct drv_instance *inst);
/* Value of key in a kv array, or NULL. */
const char *drv_kv_get(const struct drv_kv *kv, size_t n, const char *key);
void drv_kv_release(struct drv_kv *kv, size_t n);
struct drv_kv *drv_kv_dup(const struct drv_kv *kv, size_t n);

#endif
