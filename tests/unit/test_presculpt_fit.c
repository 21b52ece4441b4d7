/* A wide pool's member at hand-over, in the compute manager
 * (os_compute_pools_take over the fake backend, the real engine, control
 * loop and pool manager): grown for the request when the engine admits it
 * (another pool's idle member reclaimed when it holds the room);
 * when the engine refuses the request, the live reshape fails or the
 * hand-over itself fails, the member is destroyed, its pool's hit is
 * counted a miss, the engine holds neither the member nor the instance,
 * and the cold build that follows is defined with the request's flavor --
 * not with the family's largest vCPUs and memory the member had.  A build
 * redelivered after its hand-over finds the guest, renamed or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "driver/fake/fake.h"
#include "driver/predict.h"
#include "driver/presculpt_pool.h"
#include "helpers/engine.h"
#include "openstack/compute_priv.h"
#include "openstack/messaging.h"
#include "openstack/nova_instance.h"
#include "openstack/ovo.h"

#define MEMBER "1f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01"
#define OTHER "1f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a02"
#define RESIDENT "1f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a03"
#define INSTANCE "2f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a04"
#define FAMILY "disk=1:img-1"

/* The family's largest, what its members are defined with. */
#define WIDE_VCPUS 4
#define WIDE_MEM_MIB 1024.0

struct rig {
    struct test_control t; /* without a loop: the compute manager makes its own */
    struct os_messaging msg; /* never connected: the test asks Nova nothing */
    struct os_compute *c;
    struct os_inst *i;
};

static int rig_setup(void **state)
{
    struct rig *r = xzalloc(sizeof(*r));
    /* 4 CPUs, 2048 MiB for guests (2560 less the 512 reserved), no memory
     * overcommit: the memory of the request decides its admission */
    const char *const opts[] = {"fake.topology=nodes=1,sockets=1,cores=4,threads=1,mem_mib=2560",
                                "DEFAULT.ram_allocation_ratio=1.0", "DEFAULT.host=kvm1", NULL};
    test_fleet_open(opts, &r->t);
    const struct os_compute_deps d = {.cfg = r->t.cfg,
                                      .msg = &r->msg,
                                      .hv = r->t.hv,
                                      .host = r->t.host,
                                      .engine = r->t.engine,
                                      .fleet = r->t.fleet};
    struct err *err = NULL;
    r->c = os_compute_new(&d, &err);
    assert_non_null(r->c);
    assert_non_null(r->c->pools);

    /* m1.small (2 vCPUs, 256 MiB) of the family's image and disk */
    json_t *prim = ovo_new("Instance");
    json_object_set_new(prim, "nova_object.data",
                        json_pack("{s:i, s:s}", "id", 7, "uuid", INSTANCE));
    r->i = xzalloc(sizeof(*r->i));
    r->i->prim = prim;
    struct drv_instance *inst = xzalloc(sizeof(*inst));
    snprintf(inst->uuid, sizeof(inst->uuid), "%s", INSTANCE);
    inst->name = xstrdup("ws-3");
    inst->project_id = xstrdup("proj");
    inst->image_ref = xstrdup("img-1");
    inst->flavor = (struct drv_flavor){
        .name = xstrdup("m1.small"), .vcpus = 2, .memory_mb = 256, .root_gb = 1};
    r->i->inst = inst;
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *r = *state;
    os_inst_free(r->i);
    os_compute_free(r->c);
    test_control_close(&r->t);
    free(r);
    return 0;
}

/* A member of `pool` paused at its base shape (1 vCPU, `mem` MiB),
 * defined with the family's largest, as a restart finds it: the pool
 * manager takes it back and the engine holds it. */
static void member_add(struct rig *r, const char *uuid, const char *pool, double mem)
{
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", uuid);
    autofree char *name = xasprintf(DRV_POOL_DOMAIN_PREFIX "%.8s", uuid + 28);
    spec.name = name;
    spec.flavor_name = (char *)"m1.tiny";
    spec.shape = (struct drv_shape){
        .vcpus_online = 1, .vcpus_max = WIDE_VCPUS, .mem_max_mib = WIDE_MEM_MIB, .numa_node = -1};
    spec.shape.res.v[DRV_RES_VCPU] = 1;
    spec.shape.res.v[DRV_RES_MEM_MIB] = mem;
    spec.image.kernel = (char *)"/images/vmlinuz";
    assert_int_equal(drv_hv_spawn(r->t.hv, &spec, &err), 0);
    assert_int_equal(drv_hv_pause(r->t.hv, uuid, &err), 0);
    int64_t now = clock_wall_ms();
    struct drv_pool_member mb = {.state = DRV_MEMBER_PAUSED,
                                 .shape = spec.shape,
                                 .created_ms = now,
                                 .ready_ms = now,
                                 .expires_ms = now + 3600 * 1000};
    snprintf(mb.uuid, sizeof(mb.uuid), "%s", uuid);
    snprintf(mb.domain, sizeof(mb.domain), "%s", name);
    snprintf(mb.pool, sizeof(mb.pool), "%s", pool);
    snprintf(mb.class_key, sizeof(mb.class_key), "%s", pool);
    assert_int_equal(drv_pool_mgr_restore(r->c->pools, &mb, 1, now, &err), 0);
    assert_true(drv_pool_mgr_has(r->c->pools, uuid));
}

/* A guest that holds `mem` MiB of the host, whatever it is asked. */
static void resident_add(struct rig *r, double mem)
{
    struct err *err = NULL;
    struct drv_sculpt_guest_spec es = {.uuid = RESIDENT, .vcpus_max = 1, .mem_max_mib = mem};
    es.ceiling.v[DRV_RES_VCPU] = 1;
    es.ceiling.v[DRV_RES_MEM_MIB] = mem;
    int64_t now_s = clock_wall_ms() / 1000;
    struct drv_blueprint *bp = drv_blueprint_new(30, 60, now_s, &err);
    assert_non_null(bp);
    drv_blueprint_fill_flat(bp, es.ceiling);
    struct drv_shape shape;
    if (drv_sculpt_place(r->t.engine, &es, bp, now_s, &shape, NULL, &err) < 0)
        fail_msg("resident not placed: %s", err->msg);
    drv_blueprint_free(bp);
}

static bool engine_holds(struct rig *r, const char *uuid)
{
    autoptr(drv_sculpt_snapshot) s = drv_sculpt_snapshot(r->t.engine);
    for (size_t k = 0; k < s->nguests; k++)
        if (strcasecmp(s->guests[k].uuid, uuid) == 0)
            return true;
    return false;
}

static bool guest_exists(struct rig *r, const char *uuid)
{
    struct err *err = NULL;
    struct drv_hv_info info;
    if (drv_hv_get_info(r->t.hv, uuid, &info, &err) == 0)
        return true;
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    return false;
}

static struct drv_pool_view family_view(struct rig *r)
{
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->c->pools);
    for (size_t k = 0; k < st->npools; k++)
        if (strcmp(st->pools[k].key, FAMILY) == 0)
            return st->pools[k];
    fail_msg("no pool `%s`", FAMILY);
    return (struct drv_pool_view){0};
}

/* What a failed hand-over must leave: the member gone (guest, manager,
 * engine), no guest and no hold under the instance's uuid, the hit a
 * miss, and the instance defined by its flavor again. */
static void assert_member_gone(struct rig *r)
{
    const struct drv_instance *inst = r->i->inst;
    assert_false(guest_exists(r, MEMBER));
    assert_false(guest_exists(r, INSTANCE));
    assert_false(drv_pool_mgr_has(r->c->pools, MEMBER));
    assert_false(engine_holds(r, MEMBER));
    assert_false(engine_holds(r, INSTANCE));
    struct drv_pool_view v = family_view(r);
    assert_int_equal(v.hits, 0);
    assert_int_equal(v.misses, 1);
    assert_int_equal(inst->vcpus_defined, 0);
    assert_true(inst->mem_defined_mib == 0);
}

/* The build goes on cold, as os_compute_build does: admitted (members
 * give their room back when it does not fit), spawned in the engine's
 * shape -- whose maxima are the flavor's. */
static void build_cold(struct rig *r)
{
    struct err *err = NULL;
    struct drv_shape shape;
    int rc = os_compute_engine_place(r->c, r->i, &shape, &err);
    if (rc < 0)
        fail_msg("cold build not admitted: %s", err->msg);
    assert_int_equal(shape.vcpus_max, 2);
    assert_true(shape.mem_max_mib == 256);
    assert_string_equal(r->i->inst->domain, "instance-00000007");
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", INSTANCE);
    spec.name = r->i->inst->domain;
    spec.shape = shape;
    spec.image.kernel = (char *)"/images/vmlinuz";
    assert_int_equal(drv_hv_spawn(r->t.hv, &spec, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->t.hv, INSTANCE, &info, &err), 0);
    assert_string_equal(info.name, "instance-00000007");
    assert_int_equal(info.shape.vcpus_max, 2);
    assert_true(info.shape.mem_max_mib == 256);
    assert_true(engine_holds(r, INSTANCE));
}

/* The member serves: grown live to the request's shape, held by the
 * engine as the instance, which keeps the member's maxima. */
static void test_fit(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    member_add(r, MEMBER, FAMILY, 128);
    int64_t intent = -1;
    assert_int_equal(os_compute_pools_take(r->c, r->i, NULL, &intent, &err), 1);
    assert_null(err);
    const struct drv_instance *inst = r->i->inst;
    assert_int_equal(inst->vcpus_defined, WIDE_VCPUS);
    assert_true(inst->mem_defined_mib == WIDE_MEM_MIB);
    assert_string_equal(inst->domain, DRV_POOL_DOMAIN_PREFIX "2e3f4a01");
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->t.hv, INSTANCE, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_int_equal(info.shape.vcpus_max, WIDE_VCPUS);
    assert_int_equal(info.shape.vcpus_online, inst->shape.vcpus_online);
    assert_true(info.shape.res.v[DRV_RES_MEM_MIB] == inst->shape.res.v[DRV_RES_MEM_MIB]);
    assert_true(engine_holds(r, INSTANCE));
    assert_false(engine_holds(r, MEMBER));
    struct drv_pool_view v = family_view(r);
    assert_int_equal(v.hits, 1);
    assert_int_equal(v.misses, 0);
}

/* Another pool's idle member holds the room the request needs: the
 * engine takes it (the member destroyed and released, counted a reclaim)
 * and the member serves. */
static void test_fit_reclaims(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    resident_add(r, 1664);
    member_add(r, MEMBER, FAMILY, 128);
    member_add(r, OTHER, "m1.tiny:img-1:proj", 256);
    int64_t intent = -1;
    assert_int_equal(os_compute_pools_take(r->c, r->i, NULL, &intent, &err), 1);
    assert_null(err);
    assert_true(engine_holds(r, INSTANCE));
    assert_false(drv_pool_mgr_has(r->c->pools, OTHER));
    assert_false(engine_holds(r, OTHER));
    assert_false(guest_exists(r, OTHER));
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->c->pools);
    int64_t reclaims = 0;
    for (size_t k = 0; k < st->npools; k++)
        reclaims += st->pools[k].reclaims;
    assert_int_equal(reclaims, 1);
    struct drv_pool_view v = family_view(r);
    assert_int_equal(v.hits, 1);
}

/* Even with the other member's room the request does not fit: the member
 * does not serve, the other is left alone, the cold build is refused
 * saying why. */
static void test_refused(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    resident_add(r, 1800);
    member_add(r, MEMBER, FAMILY, 128);
    member_add(r, OTHER, "m1.tiny:img-1:proj", 120);
    int64_t intent = -1;
    assert_int_equal(os_compute_pools_take(r->c, r->i, NULL, &intent, &err), 0);
    assert_null(err);
    assert_int_equal(intent, 0);
    assert_member_gone(r);
    assert_true(drv_pool_mgr_has(r->c->pools, OTHER));
    struct drv_shape shape;
    assert_int_equal(os_compute_engine_place(r->c, r->i, &shape, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CAPACITY);
    assert_non_null(strstr(err->msg, "reclaimable guest"));
    err_clear(&err);
    assert_true(drv_pool_mgr_has(r->c->pools, OTHER));
    assert_true(engine_holds(r, OTHER));
}

/* Admitted, but the backend fails the live reshape. */
static void test_reshape_failed(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    member_add(r, MEMBER, FAMILY, 128);
    assert_int_equal(drv_fake_fail_next(r->t.hv, "reshape", ERR_UNAVAILABLE, 1, &err), 0);
    int64_t intent = -1;
    assert_int_equal(os_compute_pools_take(r->c, r->i, NULL, &intent, &err), 0);
    assert_null(err);
    assert_member_gone(r);
    build_cold(r);
}

/* Admitted and grown, then the hand-over (the resume) fails. */
static void test_handover_failed(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    member_add(r, MEMBER, FAMILY, 128);
    assert_int_equal(drv_fake_fail_next(r->t.hv, "unpause", ERR_UNAVAILABLE, 1, &err), 0);
    int64_t intent = -1;
    assert_int_equal(os_compute_pools_take(r->c, r->i, NULL, &intent, &err), 0);
    assert_null(err);
    assert_member_gone(r);
    build_cold(r);
}

/* A build that comes again after its hand-over completed (a restart in
 * between redelivers it) finds the instance's guest by sculpt's record of
 * the hand-over, also once the guest bears Nova's instance_name: nothing is
 * spawned, the build goes on with the guest as it runs.  A fresh build (no
 * hand-over) is not taken for one. */
static void test_resume_renamed(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    autoptr(os_inst) fresh = xzalloc(sizeof(*fresh));
    fresh->inst = xzalloc(sizeof(*fresh->inst));
    snprintf(fresh->inst->uuid, sizeof(fresh->inst->uuid), "%s", INSTANCE);
    assert_int_equal(os_compute_pools_resume(r->c, fresh), 0);

    member_add(r, MEMBER, FAMILY, 128);
    int64_t intent = -1;
    assert_int_equal(os_compute_pools_take(r->c, r->i, NULL, &intent, &err), 1);
    /* stopped and started: renamed while it was off */
    assert_int_equal(drv_hv_power_off(r->t.hv, INSTANCE, 0, &err), 0);
    os_compute_domain_settle(r->c, r->i);
    assert_int_equal(drv_hv_power_on(r->t.hv, INSTANCE, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->t.hv, INSTANCE, &info, &err), 0);
    assert_string_equal(info.name, "instance-00000007");

    assert_int_equal(os_compute_pools_resume(r->c, fresh), 1);
    assert_string_equal(fresh->inst->domain, "instance-00000007");
    assert_int_equal(fresh->inst->shape.vcpus_max, WIDE_VCPUS);
    assert_true(engine_holds(r, INSTANCE));
    struct drv_hv_info *guests = NULL;
    size_t n = 0;
    assert_int_equal(drv_hv_list(r->t.hv, &guests, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(guests[0].name, "instance-00000007");
    free(guests);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fit, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_fit_reclaims, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_refused, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_reshape_failed, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_handover_failed, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_resume_renamed, rig_setup, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
