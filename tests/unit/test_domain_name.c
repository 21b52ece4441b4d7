/* A handed-over pool member comes to bear its instance's domain name the
 * first time it is off (openstack/compute_domain_name.c), through the fake
 * backend: a running member keeps its name, one shut off is renamed to
 * Nova's instance_name and keeps its uuid, a settle again changes nothing,
 * a cold build's guest is never renamed, a name another guest bears is
 * refused and the guest keeps working under its own.  The libvirt side is
 * in test_libvirt.c (test:///default) and, on real guests, in the Nova
 * harness's presculpt phase. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/hypervisor.h"
#include "helpers/engine.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/ovo.h"

#define MEMBER "1f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define INSTANCE "2f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5c"
#define COLD "3f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5d"

static void spawn(struct drv_hv *hv, const char *uuid, const char *name)
{
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", uuid);
    spec.name = (char *)name;
    spec.image.kernel = (char *)"/images/vmlinuz";
    spec.shape =
        (struct drv_shape){.vcpus_online = 1, .vcpus_max = 1, .mem_max_mib = 128, .numa_node = -1};
    spec.shape.res.v[DRV_RES_VCPU] = 1;
    spec.shape.res.v[DRV_RES_MEM_MIB] = 128;
    struct err *err = NULL;
    if (drv_hv_spawn(hv, &spec, &err) < 0)
        fail_msg("spawn %s: %s", name, err->msg);
}

/* Nova's Instance primitive, as far as the domain name needs it. */
static struct os_inst *an_inst(const char *uuid, long long id)
{
    struct os_inst *i = xzalloc(sizeof(*i));
    i->prim = json_pack("{s:s, s:{s:I, s:s}}", "nova_object.name", "Instance", "nova_object.data",
                        "id", (json_int_t)id, "uuid", uuid);
    i->inst = xzalloc(sizeof(*i->inst));
    snprintf(i->inst->uuid, sizeof(i->inst->uuid), "%s", uuid);
    return i;
}

static void name_is(struct drv_hv *hv, const char *uuid, const char *want)
{
    struct drv_hv_info info;
    struct err *err = NULL;
    if (drv_hv_get_info(hv, uuid, &info, &err) < 0)
        fail_msg("get_info %s: %s", uuid, err->msg);
    if (strcmp(info.name, want) != 0)
        fail_msg("%s is named `%s`, want `%s`", uuid, info.name, want);
}

static void test_settle(void **state)
{
    (void)state;
    struct os_compute c;
    memset(&c, 0, sizeof(c));
    c.hv = test_fake_hv_open(NULL);
    struct err *err = NULL;

    spawn(c.hv, MEMBER, "sculpt-pool-1f0c1a2b");
    struct drv_hv_guest_spec id = {.uuid = INSTANCE, .display_name = (char *)"web-1"};
    assert_int_equal(drv_hv_handover(c.hv, MEMBER, &id, &err), 0);
    autoptr(os_inst) i = an_inst(INSTANCE, 42);

    /* running: libvirt would refuse, nothing is tried */
    os_compute_domain_settle(&c, i);
    name_is(c.hv, INSTANCE, "sculpt-pool-1f0c1a2b");

    /* off: Nova's instance_name, the member's uuid kept */
    assert_int_equal(drv_hv_power_off(c.hv, INSTANCE, 0, &err), 0);
    os_compute_domain_settle(&c, i);
    name_is(c.hv, INSTANCE, "instance-0000002a");
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(c.hv, INSTANCE, dom);
    assert_string_equal(dom, MEMBER);
    os_compute_domain_settle(&c, i);
    name_is(c.hv, INSTANCE, "instance-0000002a");
    assert_int_equal(drv_hv_power_on(c.hv, INSTANCE, &err), 0);
    name_is(c.hv, INSTANCE, "instance-0000002a");

    /* a cold build's guest is never renamed, off or not */
    spawn(c.hv, COLD, "sculpt-" COLD);
    autoptr(os_inst) cold = an_inst(COLD, 43);
    assert_int_equal(drv_hv_power_off(c.hv, COLD, 0, &err), 0);
    os_compute_domain_settle(&c, cold);
    name_is(c.hv, COLD, "sculpt-" COLD);

    /* the name taken by another guest: refused, the guest keeps its own
     * and still starts */
    assert_int_equal(drv_hv_destroy(c.hv, INSTANCE, false, &err), 0);
    spawn(c.hv, MEMBER, "sculpt-pool-1f0c1a2b");
    assert_int_equal(drv_hv_handover(c.hv, MEMBER, &id, &err), 0);
    assert_int_equal(drv_hv_power_off(c.hv, INSTANCE, 0, &err), 0);
    autoptr(os_inst) clash = an_inst(INSTANCE, 0); /* no id: sculpt-<uuid> */
    assert_int_equal(drv_hv_rename(c.hv, COLD, "sculpt-" INSTANCE, &err), 0);
    os_compute_domain_settle(&c, clash);
    name_is(c.hv, INSTANCE, "sculpt-pool-1f0c1a2b");
    assert_int_equal(drv_hv_power_on(c.hv, INSTANCE, &err), 0);

    /* what the backend refuses, drv_hv_rename refuses first */
    assert_int_equal(drv_hv_rename(c.hv, INSTANCE, "two words", &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_rename(c.hv, "not-a-uuid", "x", &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_rename(c.hv, INSTANCE, "instance-0000002a", &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT); /* running */
    err_clear(&err);
    drv_hv_close(c.hv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
