#include "lv_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct cfg *lv_test_cfg(const char *dir)
{
    struct cfg *cfg = cfg_new_defaults();
    struct err *err = NULL;
    if (cfg_set(cfg, "libvirt", "connection_uri", "test:///default", &err) < 0 ||
        cfg_set(cfg, "libvirt", "instances_path", dir, &err) < 0) {
        fprintf(stderr, "lv_test_cfg: %s\n", err ? err->msg : "?");
        abort();
    }
    return cfg;
}

void lv_test_spec(struct drv_hv_guest_spec *spec, const char *uuid, int vcpus_max,
                  int mem_max_mib)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", uuid);
    spec->image.kernel = (char *)"/img/vmlinuz";
    spec->shape = (struct drv_shape){
        .vcpus_online = 1, .vcpus_max = vcpus_max, .mem_max_mib = mem_max_mib, .numa_node = -1};
    spec->shape.res.v[DRV_RES_VCPU] = 1;
    spec->shape.res.v[DRV_RES_MEM_MIB] = 256;
}
