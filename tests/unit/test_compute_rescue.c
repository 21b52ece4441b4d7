/* The rules of rescue (openstack/compute_rescue_plan.c): which image a
 * rescue boots and how it is attached (a stable device rescue's device
 * and bus), its generated password, what a restart does with an
 * interrupted rescue or unrescue; then the fake backend's rescue and
 * unrescue as the compute manager drives them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/err.h"
#include "driver/fake/fake.h"
#include "driver/hypervisor.h"
#include "helpers/engine.h"
#include "openstack/compute_rescue.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define UUID_B "7a1d2b3c-4d5e-4f6a-9b0c-1d2e3f4a5b6c"

static void test_image_ref(void **state)
{
    (void)state;
    assert_string_equal(os_rescue_image_ref("r", "b", "i"), "r");
    assert_string_equal(os_rescue_image_ref(NULL, "b", "i"), "b");
    assert_string_equal(os_rescue_image_ref("", "b", "i"), "b");
    assert_string_equal(os_rescue_image_ref(NULL, NULL, "i"), "i");
    assert_string_equal(os_rescue_image_ref("", "", "i"), "i");
    assert_null(os_rescue_image_ref(NULL, "", ""));
    assert_null(os_rescue_image_ref(NULL, NULL, NULL));
}

static void test_password(void **state)
{
    (void)state;
    char a[13], b[13];
    struct err *err = NULL;
    assert_int_equal(os_rescue_password(a, 12, &err), 0);
    assert_int_equal(os_rescue_password(b, 12, &err), 0);
    assert_int_equal(strlen(a), 12);
    assert_string_not_equal(a, b);
    for (size_t k = 0; k < 12; k++) {
        assert_non_null(strchr("23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", a[k]));
        assert_null(strchr("01OIl", a[k]));
    }
    assert_int_equal(os_rescue_password(a, 0, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(os_rescue_password(a, 64, &err), -1);
    err_clear(&err);
}

static void test_recover_decide(void **state)
{
    (void)state;
    assert_true(os_rescue_task("rescuing"));
    assert_true(os_rescue_task("unrescuing"));
    assert_false(os_rescue_task("rebuilding"));
    assert_false(os_rescue_task(NULL));
    /* a rescue whose definition was written is finished */
    assert_int_equal(os_rescue_recover_decide("rescuing", "active", true, true),
                     OS_RESCUE_RECOVER_RESCUED);
    assert_int_equal(os_rescue_recover_decide("rescuing", "stopped", true, true),
                     OS_RESCUE_RECOVER_RESCUED);
    /* not yet written: undone, the guest's own runs -- unless the server
     * was stopped: it stays off */
    assert_int_equal(os_rescue_recover_decide("rescuing", "active", true, false),
                     OS_RESCUE_RECOVER_ACTIVE);
    assert_int_equal(os_rescue_recover_decide("rescuing", "error", true, false),
                     OS_RESCUE_RECOVER_ACTIVE);
    assert_int_equal(os_rescue_recover_decide("rescuing", "stopped", true, false),
                     OS_RESCUE_RECOVER_STOPPED);
    /* an unrescue is always finished */
    assert_int_equal(os_rescue_recover_decide("unrescuing", "rescued", true, true),
                     OS_RESCUE_RECOVER_ACTIVE);
    assert_int_equal(os_rescue_recover_decide("unrescuing", "rescued", true, false),
                     OS_RESCUE_RECOVER_ACTIVE);
    /* no guest: nothing to run */
    assert_int_equal(os_rescue_recover_decide("rescuing", "active", false, false),
                     OS_RESCUE_RECOVER_ERROR);
    assert_int_equal(os_rescue_recover_decide("unrescuing", "rescued", false, false),
                     OS_RESCUE_RECOVER_ERROR);
}

static void spec_of(struct drv_hv_guest_spec *spec, const char *uuid)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", uuid);
    spec->shape =
        (struct drv_shape){.vcpus_online = 1, .vcpus_max = 2, .mem_max_mib = 1024, .numa_node = -1};
    spec->shape.res.v[DRV_RES_VCPU] = 1;
    spec->shape.res.v[DRV_RES_MEM_MIB] = 512;
    spec->image.disk_base = (char *)"/cache/own";
}

/* Guest UUID_A spawned on `hv` with a config drive holding "{}". */
static void spawn_with_drive(struct drv_hv *hv)
{
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    spec.config_drive = xzalloc(sizeof(*spec.config_drive));
    drv_hv_config_drive_add(spec.config_drive, "openstack/latest/meta_data.json", "{}", 2);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    drv_hv_config_drive_free(spec.config_drive);
}

/* The fake backend: the rescue boots the rescue image with its drive,
 * is idempotent, and unrescue gives the guest's own back (again
 * idempotent, starting a guest left off). */
static void test_fake_rescue(void **state)
{
    (void)state;
    const char *const opts[] = {NULL};
    autoptr(drv_hv) hv = test_fake_hv_open(opts);
    struct err *err = NULL;
    spawn_with_drive(hv);

    struct drv_hv_image bad = {0};
    assert_int_equal(drv_hv_rescue(hv, UUID_A, &bad, NULL, NULL, 0, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    struct drv_hv_image img = {.disk_base = (char *)"/cache/rescue", .disk_format = (char *)"raw"};
    assert_int_equal(drv_hv_rescue(hv, UUID_B, &img, NULL, NULL, 0, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);

    struct drv_hv_config_drive cd = {0};
    drv_hv_config_drive_add(&cd, "openstack/latest/meta_data.json", "{\"admin_pass\": \"pw\"}", 21);
    assert_int_equal(drv_hv_rescue(hv, UUID_A, &img, NULL, &cd, 5, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_true(info.rescued);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    struct drv_hv_config_drive *got = NULL;
    assert_int_equal(drv_fake_config_drive(hv, UUID_A, &got, NULL, &err), 0);
    const struct drv_hv_file *f = drv_hv_config_drive_get(got, "openstack/latest/meta_data.json");
    assert_non_null(f);
    assert_int_equal(f->len, 21);
    drv_hv_config_drive_free(got);
    /* again: nothing changes */
    assert_int_equal(drv_hv_rescue(hv, UUID_A, &img, NULL, NULL, 0, &err), 0);
    assert_int_equal(drv_fake_config_drive(hv, UUID_A, &got, NULL, &err), 0);
    assert_non_null(got);
    drv_hv_config_drive_free(got);

    assert_int_equal(drv_hv_unrescue(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_false(info.rescued);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_int_equal(drv_fake_config_drive(hv, UUID_A, &got, NULL, &err), 0);
    assert_int_equal(drv_hv_config_drive_get(got, "openstack/latest/meta_data.json")->len, 2);
    drv_hv_config_drive_free(got);
    /* an unrescue finished after a restart: the guest off is started */
    assert_int_equal(drv_hv_power_off(hv, UUID_A, 0, &err), 0);
    assert_int_equal(drv_hv_unrescue(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_int_equal(drv_hv_unrescue(hv, UUID_B, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    free(cd.files[0].path);
    free(cd.files[0].data);
    free(cd.files);
}

/* hw_rescue_device / hw_rescue_bus as Nova reads them (blockinfo's
 * get_rescue_device, get_rescue_bus), then resolved and checked as the
 * backends take them (drv_hv_rescue_dev_resolve). */
static void test_rescue_dev(void **state)
{
    (void)state;
    static const struct {
        const char *props; /* the image's Glance record */
        int rc;
        enum err_code code;
        enum drv_hv_rescue_device device;
        enum drv_hv_bus bus;      /* as read */
        enum drv_hv_bus resolved; /* as attached; LAST: refused */
    } cases[] = {
        {"{}", 0, 0, DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT, DRV_HV_BUS_DEFAULT},
        {"{\"hw_disk_bus\": \"scsi\"}", 0, 0, DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT,
         DRV_HV_BUS_DEFAULT},
        {"{\"hw_rescue_device\": \"disk\"}", 0, 0, DRV_HV_RESCUE_DISK, DRV_HV_BUS_DEFAULT,
         DRV_HV_BUS_VIRTIO},
        {"{\"hw_rescue_device\": \"cdrom\"}", 0, 0, DRV_HV_RESCUE_CDROM, DRV_HV_BUS_DEFAULT,
         DRV_HV_BUS_SATA},
        {"{\"hw_rescue_device\": \"floppy\"}", 0, 0, DRV_HV_RESCUE_FLOPPY, DRV_HV_BUS_DEFAULT,
         DRV_HV_BUS_FDC},
        /* the bus alone: a disk */
        {"{\"hw_rescue_bus\": \"usb\"}", 0, 0, DRV_HV_RESCUE_DISK, DRV_HV_BUS_USB,
         DRV_HV_BUS_USB},
        {"{\"hw_rescue_device\": \"cdrom\", \"hw_rescue_bus\": \"scsi\"}", 0, 0,
         DRV_HV_RESCUE_CDROM, DRV_HV_BUS_SCSI, DRV_HV_BUS_SCSI},
        /* without hw_rescue_bus, the image's bus for that device */
        {"{\"hw_rescue_device\": \"cdrom\", \"hw_cdrom_bus\": \"usb\", \"hw_disk_bus\": \"scsi\"}",
         0, 0, DRV_HV_RESCUE_CDROM, DRV_HV_BUS_USB, DRV_HV_BUS_USB},
        {"{\"hw_rescue_device\": \"disk\", \"hw_disk_bus\": \"sata\"}", 0, 0,
         DRV_HV_RESCUE_DISK, DRV_HV_BUS_SATA, DRV_HV_BUS_SATA},
        /* read, but no machine attaches them so */
        {"{\"hw_rescue_device\": \"cdrom\", \"hw_rescue_bus\": \"virtio\"}", 0, 0,
         DRV_HV_RESCUE_CDROM, DRV_HV_BUS_VIRTIO, DRV_HV_BUS_LAST},
        {"{\"hw_rescue_device\": \"floppy\", \"hw_rescue_bus\": \"usb\"}", 0, 0,
         DRV_HV_RESCUE_FLOPPY, DRV_HV_BUS_USB, DRV_HV_BUS_LAST},
        {"{\"hw_rescue_bus\": \"fdc\"}", 0, 0, DRV_HV_RESCUE_DISK, DRV_HV_BUS_FDC,
         DRV_HV_BUS_LAST},
        /* refused when read, with Nova's words */
        {"{\"hw_rescue_device\": \"lun\"}", -1, ERR_UNSUPPORTED, 0, 0, 0},
        {"{\"hw_rescue_device\": \"tape\"}", -1, ERR_INVALID, 0, 0, 0},
        {"{\"hw_rescue_device\": \"legacy\"}", -1, ERR_INVALID, 0, 0, 0},
        {"{\"hw_rescue_device\": 7}", -1, ERR_INVALID, 0, 0, 0},
        {"{\"hw_rescue_bus\": \"xen\"}", -1, ERR_UNSUPPORTED, 0, 0, 0},
        {"{\"hw_rescue_bus\": \"default\"}", -1, ERR_UNSUPPORTED, 0, 0, 0},
        {"{\"hw_rescue_device\": \"disk\", \"hw_disk_bus\": \"lxc\"}", -1, ERR_UNSUPPORTED, 0,
         0, 0},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        json_t *meta = json_loads(cases[c].props, 0, NULL);
        assert_non_null(meta);
        struct drv_hv_rescue_dev dev = {DRV_HV_RESCUE_LAST, DRV_HV_BUS_LAST};
        struct err *err = NULL;
        int rc = os_rescue_dev_of(meta, &dev, &err);
        json_decref(meta);
        if (rc != cases[c].rc)
            fail_msg("%s: %d (%s)", cases[c].props, rc, err ? err->msg : "");
        if (rc < 0) {
            assert_int_equal(err_code_of(err), cases[c].code);
            assert_int_equal(dev.device, DRV_HV_RESCUE_LAST); /* untouched */
            assert_non_null(strstr(err->msg, "not supported"));
            err_clear(&err);
            continue;
        }
        assert_int_equal(dev.device, cases[c].device);
        assert_int_equal(dev.bus, cases[c].bus);
        struct drv_hv_rescue_dev out = {DRV_HV_RESCUE_LAST, DRV_HV_BUS_LAST};
        rc = drv_hv_rescue_dev_resolve(&dev, &out, &err);
        if (cases[c].resolved == DRV_HV_BUS_LAST) {
            assert_int_equal(rc, -1);
            assert_int_equal(err_code_of(err), ERR_INVALID);
            assert_int_equal(out.device, DRV_HV_RESCUE_LAST);
            err_clear(&err);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(out.device, cases[c].device);
        assert_int_equal(out.bus, cases[c].resolved);
    }
    /* the names both ways */
    for (int d = 0; d < DRV_HV_RESCUE_LAST; d++) {
        enum drv_hv_rescue_device back;
        assert_int_equal(drv_hv_rescue_device_parse(drv_hv_rescue_device_name(d), &back), 0);
        assert_int_equal(back, d);
    }
    for (int b = 0; b < DRV_HV_BUS_LAST; b++) {
        enum drv_hv_bus back;
        assert_int_equal(drv_hv_bus_parse(drv_hv_bus_name(b), &back), 0);
        assert_int_equal(back, b);
    }
    enum drv_hv_bus none;
    assert_int_equal(drv_hv_bus_parse("xen", &none), -1);
    assert_int_equal(drv_hv_bus_parse(NULL, &none), -1);
    assert_string_equal(drv_hv_bus_name(DRV_HV_BUS_LAST), "?");
}

/* The fake backend's stable device rescue: its own drive stays in, the
 * rescue image is attached as asked (its console says so), a kernel-only
 * image cannot be attached, and unrescue gives the guest's own back. */
static void test_fake_stable_rescue(void **state)
{
    (void)state;
    const char *const opts[] = {NULL};
    autoptr(drv_hv) hv = test_fake_hv_open(opts);
    struct err *err = NULL;
    spawn_with_drive(hv);

    struct drv_hv_config_drive cd = {0};
    drv_hv_config_drive_add(&cd, "openstack/latest/meta_data.json", "{\"admin_pass\": \"pw\"}", 21);
    struct drv_hv_image kernel_only = {.kernel = (char *)"/cache/vmlinuz"};
    struct drv_hv_rescue_dev dev = {DRV_HV_RESCUE_CDROM, DRV_HV_BUS_DEFAULT};
    assert_int_equal(drv_hv_rescue(hv, UUID_A, &kernel_only, &dev, &cd, 0, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    struct drv_hv_rescue_dev bad = {DRV_HV_RESCUE_FLOPPY, DRV_HV_BUS_VIRTIO};
    struct drv_hv_image img = {.disk_base = (char *)"/cache/rescue.iso",
                               .disk_format = (char *)"raw"};
    assert_int_equal(drv_hv_rescue(hv, UUID_A, &img, &bad, &cd, 0, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_false(info.rescued); /* refused before the guest was touched */
    assert_int_equal(info.state, DRV_POWER_RUNNING);

    assert_int_equal(drv_hv_rescue(hv, UUID_A, &img, &dev, &cd, 0, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_true(info.rescued);
    assert_int_equal(info.rescue_dev.device, DRV_HV_RESCUE_CDROM);
    assert_int_equal(info.rescue_dev.bus, DRV_HV_BUS_SATA); /* resolved */
    struct drv_hv_config_drive *got = NULL;
    assert_int_equal(drv_fake_config_drive(hv, UUID_A, &got, NULL, &err), 0);
    assert_int_equal(drv_hv_config_drive_get(got, "openstack/latest/meta_data.json")->len, 2);
    drv_hv_config_drive_free(got);
    char *console = drv_hv_console_output(hv, UUID_A, 4096, &err);
    assert_non_null(console);
    assert_non_null(strstr(console, "the rescue image last as a cdrom on sata"));
    free(console);

    assert_int_equal(drv_hv_unrescue(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_false(info.rescued);
    assert_int_equal(info.rescue_dev.device, DRV_HV_RESCUE_LEGACY);
    free(cd.files[0].path);
    free(cd.files[0].data);
    free(cd.files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_ref),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_recover_decide),
        cmocka_unit_test(test_fake_rescue),
        cmocka_unit_test(test_rescue_dev),
        cmocka_unit_test(test_fake_stable_rescue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
