/* A wide pool's member handed over: it idles at its family's base shape
 * and is defined with the family's largest (with [libvirt] memory_hotplug
 * its domain boots with the base's memory and a virtio-mem device holds
 * the rest).  The engine admits the request as it would a cold build (the
 * member's own reservation given back first), and the member is
 * re-sculpted to the shape the engine gives -- vCPUs hot-plugged, memory
 * ballooned or plugged within its domain's maxima -- before its guest runs
 * as the instance. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/presculpt_pool.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"

LOG_INIT("openstack.compute_presculpt_fit");

/* Tests only: SCULPT_TEST_FAIL_FIT=NAME makes the re-sculpt of a member
 * for the instance of display name NAME fail after the backend grew it,
 * as a reshape whose last call failed would -- the path the Nova harness
 * cannot reach otherwise (tests/nova/presculpt_wide_failed.sh).  Unset
 * (always, outside tests): nothing. */
static int fit_test_fail(const struct drv_instance *inst, struct err **err)
{
    const char *name = getenv("SCULPT_TEST_FAIL_FIT");
    if (!name || !*name || !inst->name || strcmp(name, inst->name) != 0)
        return 0;
    log_warn("SCULPT_TEST_FAIL_FIT: the re-sculpt for `%s` fails", name);
    return err_set(err, ERR_UNAVAILABLE, "SCULPT_TEST_FAIL_FIT: reshape of `%s` failed", name);
}

int os_compute_pools_fit(struct os_compute *c, struct os_inst *i, const struct drv_pool_member *m,
                         struct drv_shape *out, struct err **err)
{
    struct drv_instance *inst = i->inst;
    int64_t t0 = clock_mono_ns();
    if (m->shape.vcpus_max < inst->flavor.vcpus ||
        m->shape.mem_max_mib < (double)inst->flavor.memory_mb - 0.5)
        return err_set(err, ERR_CAPACITY,
                       "member %s is defined with %d vCPUs / %.0f MiB at most, the flavor asks "
                       "%d / %lld",
                       m->uuid, m->shape.vcpus_max, m->shape.mem_max_mib, inst->flavor.vcpus,
                       (long long)inst->flavor.memory_mb);
    /* the engine's shapes keep the member's maxima (its domain's); put
     * back on failure, or the cold build that follows would define its
     * domain with the family's largest */
    int32_t vcpus_defined = inst->vcpus_defined;
    double mem_defined_mib = inst->mem_defined_mib;
    inst->vcpus_defined = m->shape.vcpus_max;
    inst->mem_defined_mib = m->shape.mem_max_mib;
    inst->booted = true; /* the member's guest is up: no boot allowance */
    autoerr struct err *e = NULL;
    if (drv_sculpt_remove(c->engine, m->uuid, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "member %s not forgotten by the engine", m->uuid);
    struct drv_hv_reshape_report rep;
    bool placed = os_compute_engine_place(c, i, out, err) == 0;
    inst->booted = false;
    int rc = -1;
    if (placed) { /* not under a sample's balloon offset (control.c) */
        drv_control_apply_lock(c->control);
        rc = drv_hv_reshape(c->hv, m->uuid, out, &rep, err);
        drv_control_apply_unlock(c->control);
    }
    if (rc < 0 || fit_test_fail(inst, err) < 0) {
        if (placed)
            os_compute_engine_forget(c, inst->uuid);
        inst->vcpus_defined = vcpus_defined;
        inst->mem_defined_mib = mem_defined_mib;
        return err_wrap(err, "member %s not re-sculpted for %s", m->uuid, inst->uuid);
    }
    char from[160], to[160];
    log_info("member %s re-sculpted for instance %s in %.1f ms (%d calls): %d vCPUs %s -> %d "
             "vCPUs %s",
             m->uuid, inst->uuid, (double)(clock_mono_ns() - t0) / 1e6, rep.calls,
             m->shape.vcpus_online, drv_res_format(m->shape.res, from, sizeof(from)),
             out->vcpus_online, drv_res_format(out->res, to, sizeof(to)));
    return 0;
}
