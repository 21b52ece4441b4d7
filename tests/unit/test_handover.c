/* The hand-over of a pre-sculpted pool member at the hypervisor boundary,
 * through the fake backend: the member becomes the instance's guest, is
 * resumed, and every call, list, sample, spec and event names it by the
 * instance's uuid; a restart restores the alias; refusals; the instance's
 * config drive inserted into the member's empty cdrom before it runs, or
 * no hand-over at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "driver/fake/fake.h"
#include "driver/hypervisor.h"
#include "helpers/engine.h"

#define MEMBER "1f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define INSTANCE "2f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5c"
#define OTHER "3f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5d"

static void member_spec(struct drv_hv_guest_spec *spec, const char *uuid)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", uuid);
    spec->name = (char *)"sculpt-pool-1";
    spec->flavor_name = (char *)"m1.tiny";
    spec->shape =
        (struct drv_shape){.vcpus_online = 1, .vcpus_max = 2, .mem_max_mib = 512, .numa_node = -1};
    spec->shape.res.v[DRV_RES_VCPU] = 1;
    spec->shape.res.v[DRV_RES_MEM_MIB] = 512;
    spec->image.kernel = (char *)"/images/vmlinuz";
}

static void test_handover(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = test_fake_hv_open(NULL);
    struct test_hv_events seen = {0};
    drv_hv_set_event_cb(hv, test_hv_events_record, &seen);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    member_spec(&spec, MEMBER);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    assert_int_equal(drv_hv_pause(hv, MEMBER, &err), 0);

    struct drv_hv_guest_spec inst = {.uuid = INSTANCE,
                                     .display_name = (char *)"web-1",
                                     .project_id = (char *)"proj",
                                     .user_id = (char *)"alice",
                                     .flavor_name = (char *)"m1.tiny"};
    seen.n = 0;
    assert_int_equal(drv_hv_handover(hv, MEMBER, &inst, &err), 0);
    /* resumed, and the event names the instance */
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ev[0].type, DRV_HV_EVENT_RESUMED);
    assert_string_equal(seen.ev[0].uuid, INSTANCE);

    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, INSTANCE, &info, &err), 0);
    assert_string_equal(info.uuid, INSTANCE);
    assert_string_equal(info.name, "sculpt-pool-1"); /* the domain keeps its name */
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(hv, INSTANCE, dom);
    assert_string_equal(dom, MEMBER);
    drv_hv_domain_uuid(hv, OTHER, dom);
    assert_string_equal(dom, OTHER);

    struct drv_hv_info *list = NULL;
    size_t n = 0;
    assert_int_equal(drv_hv_list(hv, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].uuid, INSTANCE);
    free(list);
    struct drv_hv_sample *samples = NULL;
    assert_int_equal(drv_hv_sample(hv, &samples, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(samples[0].uuid, INSTANCE);
    free(samples);

    /* the identity follows, under the instance's uuid */
    assert_int_equal(drv_hv_set_identity(hv, INSTANCE, &inst, &err), 0);
    struct drv_hv_guest_spec got;
    assert_int_equal(drv_hv_get_spec(hv, INSTANCE, &got, &err), 0);
    assert_string_equal(got.uuid, INSTANCE);
    assert_string_equal(got.display_name, "web-1");
    assert_string_equal(got.project_id, "proj");
    drv_hv_guest_spec_release(&got);

    /* the instance's operations reach the member's domain */
    struct drv_shape bigger = spec.shape;
    bigger.res.v[DRV_RES_VCPU] = 1.5;
    bigger.vcpus_online = 2;
    assert_int_equal(drv_hv_reshape(hv, INSTANCE, &bigger, NULL, &err), 0);
    assert_int_equal(drv_hv_reboot(hv, INSTANCE, true, &err), 0);
    char *console = drv_hv_console_output(hv, INSTANCE, 4096, &err);
    assert_non_null(console);
    assert_non_null(strstr(console, "identity: instance " INSTANCE " (web-1)"));
    free(console);

    /* a second hand-over to the same instance is refused */
    member_spec(&spec, OTHER);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    assert_int_equal(drv_hv_handover(hv, OTHER, &inst, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT);
    err_clear(&err);

    /* destroyed by its instance's uuid: the alias goes with it */
    assert_int_equal(drv_hv_destroy(hv, INSTANCE, false, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, INSTANCE, &info, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    drv_hv_domain_uuid(hv, INSTANCE, dom);
    assert_string_equal(dom, INSTANCE);
}

static void test_refusals_and_restore(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = test_fake_hv_open(NULL);
    struct err *err = NULL;
    struct drv_hv_guest_spec inst = {.uuid = INSTANCE};
    /* no such member */
    assert_int_equal(drv_hv_handover(hv, MEMBER, &inst, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(drv_hv_handover(hv, "nope", &inst, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    /* a member shut off cannot be handed over: it would boot */
    struct drv_hv_guest_spec spec;
    member_spec(&spec, MEMBER);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    assert_int_equal(drv_hv_power_off(hv, MEMBER, 0, &err), 0);
    assert_int_equal(drv_hv_handover(hv, MEMBER, &inst, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT);
    err_clear(&err);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, INSTANCE, &info, &err), -1);
    err_clear(&err);
    /* a restart: the alias the database kept is restored */
    drv_hv_alias(hv, INSTANCE, MEMBER);
    assert_int_equal(drv_hv_get_info(hv, INSTANCE, &info, &err), 0);
    assert_string_equal(info.uuid, INSTANCE);
    assert_int_equal(drv_hv_power_on(hv, INSTANCE, &err), 0);
    /* a failed resume leaves no alias */
    struct drv_hv_guest_spec other = {.uuid = OTHER};
    member_spec(&spec, "4f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5e");
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    assert_int_equal(drv_hv_pause(hv, spec.uuid, &err), 0);
    assert_int_equal(drv_fake_fail_next(hv, "unpause", ERR_UNAVAILABLE, 1, &err), 0);
    assert_int_equal(drv_hv_handover(hv, spec.uuid, &other, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNAVAILABLE);
    err_clear(&err);
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(hv, OTHER, dom);
    assert_string_equal(dom, OTHER);
    /* the hand-over itself, then the identity, which may fail alone */
    assert_int_equal(drv_hv_handover(hv, spec.uuid, &other, &err), 0);
    drv_hv_domain_uuid(hv, OTHER, dom);
    assert_string_equal(dom, spec.uuid);
    assert_int_equal(drv_hv_get_info(hv, OTHER, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_int_equal(drv_fake_fail_next(hv, "set_identity", ERR_UNAVAILABLE, 1, &err), 0);
    assert_int_equal(drv_hv_set_identity(hv, OTHER, &other, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNAVAILABLE);
    err_clear(&err);
    assert_int_equal(drv_hv_set_identity(hv, OTHER, &other, &err), 0);
}

static struct drv_hv_config_drive *drive_of(const char *user_data)
{
    struct drv_hv_config_drive *cd = xzalloc(sizeof(*cd));
    drv_hv_config_drive_add(cd, "openstack/latest/meta_data.json", "{}", 2);
    drv_hv_config_drive_add(cd, "openstack/latest/user_data", user_data, strlen(user_data));
    return cd;
}

static void test_config_drive(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = test_fake_hv_open(NULL);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    /* a cold spawn attaches the drive it is given */
    member_spec(&spec, OTHER);
    spec.config_drive = drive_of("cold");
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    struct drv_hv_config_drive *got = NULL;
    bool tray = false;
    assert_int_equal(drv_fake_config_drive(hv, OTHER, &got, &tray, &err), 0);
    assert_true(tray);
    assert_non_null(got);
    assert_string_equal(drv_hv_config_drive_get(got, "openstack/latest/user_data")->data, "cold");
    drv_hv_config_drive_free(got);
    /* a drive that would climb out of its folder is refused */
    drv_hv_config_drive_add(spec.config_drive, "../escape", "x", 1);
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5f");
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    drv_hv_config_drive_free(spec.config_drive);

    /* a member without an empty drive cannot take the instance's: no
     * hand-over, the member stays paused and is not the instance's */
    member_spec(&spec, MEMBER);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    assert_int_equal(drv_hv_pause(hv, MEMBER, &err), 0);
    struct drv_hv_guest_spec inst = {.uuid = INSTANCE, .config_drive = drive_of("#cloud-config")};
    assert_int_equal(drv_hv_handover(hv, MEMBER, &inst, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    err_clear(&err);
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(hv, INSTANCE, dom);
    assert_string_equal(dom, INSTANCE);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, MEMBER, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_PAUSED);
    assert_int_equal(drv_hv_destroy(hv, MEMBER, false, &err), 0);

    /* a member with the empty drive: the drive is in before it resumes */
    member_spec(&spec, MEMBER);
    spec.cdrom_tray = true;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    assert_int_equal(drv_hv_pause(hv, MEMBER, &err), 0);
    assert_int_equal(drv_fake_config_drive(hv, MEMBER, &got, &tray, &err), 0);
    assert_true(tray);
    assert_null(got);
    /* a failed insertion: no hand-over either */
    assert_int_equal(drv_fake_fail_next(hv, "insert_config_drive", ERR_UNAVAILABLE, 1, &err), 0);
    assert_int_equal(drv_hv_handover(hv, MEMBER, &inst, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNAVAILABLE);
    err_clear(&err);
    assert_int_equal(drv_hv_get_info(hv, MEMBER, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_PAUSED);
    assert_int_equal(drv_hv_handover(hv, MEMBER, &inst, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, INSTANCE, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_int_equal(drv_fake_config_drive(hv, INSTANCE, &got, &tray, &err), 0);
    assert_non_null(got);
    assert_int_equal(got->n, 2);
    assert_string_equal(drv_hv_config_drive_get(got, "openstack/latest/user_data")->data,
                        "#cloud-config");
    drv_hv_config_drive_free(got);
    drv_hv_config_drive_free(inst.config_drive);
    /* inserted again (a hand-over done again after a crash): kept as it was */
    inst.config_drive = drive_of("again");
    assert_int_equal(hv->ops->insert_config_drive(hv, MEMBER, inst.config_drive, &err), 0);
    assert_int_equal(drv_fake_config_drive(hv, INSTANCE, &got, &tray, &err), 0);
    assert_string_equal(drv_hv_config_drive_get(got, "openstack/latest/user_data")->data,
                        "#cloud-config");
    drv_hv_config_drive_free(got);
    drv_hv_config_drive_free(inst.config_drive);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handover),
        cmocka_unit_test(test_refusals_and_restore),
        cmocka_unit_test(test_config_drive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
