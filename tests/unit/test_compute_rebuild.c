/* The rules of a rebuild (openstack/compute_rebuild_plan.c): its task
 * states, when the guest's blueprint starts cold, what a restart does with
 * an interrupted rebuild, and an image's virtual size checked against the
 * flavor's disk; then the fake backend's guest made again over another
 * image as the rebuild does it (power-off, destroy, spawn: same uuid and
 * name, the new base). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/hypervisor.h"
#include "helpers/engine.h"
#include "helpers/tmpdir.h"
#include "openstack/compute_rebuild.h"

#define IMG_A "0b7a6c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
#define IMG_B "1c8b7d2f-3e4a-4b6c-9d0e-1f2a3b4c5d6e"
#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

static void test_tasks(void **state)
{
    (void)state;
    assert_true(os_rebuild_task("rebuilding"));
    assert_true(os_rebuild_task("rebuild_block_device_mapping"));
    assert_true(os_rebuild_task("rebuild_spawning"));
    assert_false(os_rebuild_task(NULL));
    assert_false(os_rebuild_task("resize_prep"));
    assert_false(os_rebuild_task("rebooting"));
    assert_false(os_rebuild_task(""));
}

static void test_new_blueprint(void **state)
{
    (void)state;
    assert_true(os_rebuild_new_blueprint(IMG_A, IMG_B));
    assert_false(os_rebuild_new_blueprint(IMG_A, IMG_A));
    /* an unknown old image: the class cannot be known the same */
    assert_true(os_rebuild_new_blueprint(NULL, IMG_A));
    assert_true(os_rebuild_new_blueprint("", IMG_A));
    assert_true(os_rebuild_new_blueprint(IMG_A, NULL));
}

static void test_recover_decide(void **state)
{
    (void)state;
    /* the rebuilt guest runs over the new image: finished */
    assert_int_equal(
        os_rebuild_recover_decide("rebuild_spawning", true, DRV_POWER_RUNNING, IMG_B, IMG_B),
        OS_REBUILD_RECOVER_FINISH);
    assert_int_equal(
        os_rebuild_recover_decide("rebuild_spawning", true, DRV_POWER_PAUSED, IMG_B, IMG_B),
        OS_REBUILD_RECOVER_FINISH);
    /* the old guest (before the destroy) is no finished rebuild, even
     * over the same image */
    assert_int_equal(os_rebuild_recover_decide("rebuilding", true, DRV_POWER_RUNNING, IMG_B, IMG_B),
                     OS_REBUILD_RECOVER_ERROR);
    assert_int_equal(os_rebuild_recover_decide("rebuild_block_device_mapping", false,
                                               DRV_POWER_NOSTATE, NULL, IMG_B),
                     OS_REBUILD_RECOVER_ERROR);
    /* spawning, but no guest, one not running, or another image */
    assert_int_equal(
        os_rebuild_recover_decide("rebuild_spawning", false, DRV_POWER_NOSTATE, NULL, IMG_B),
        OS_REBUILD_RECOVER_ERROR);
    assert_int_equal(
        os_rebuild_recover_decide("rebuild_spawning", true, DRV_POWER_SHUTDOWN, IMG_B, IMG_B),
        OS_REBUILD_RECOVER_ERROR);
    assert_int_equal(
        os_rebuild_recover_decide("rebuild_spawning", true, DRV_POWER_RUNNING, IMG_A, IMG_B),
        OS_REBUILD_RECOVER_ERROR);
    assert_int_equal(
        os_rebuild_recover_decide("rebuild_spawning", true, DRV_POWER_RUNNING, NULL, IMG_B),
        OS_REBUILD_RECOVER_ERROR);
    assert_int_equal(
        os_rebuild_recover_decide("rebuild_spawning", true, DRV_POWER_RUNNING, IMG_B, NULL),
        OS_REBUILD_RECOVER_ERROR);
}

static void test_image_of_base(void **state)
{
    (void)state;
    assert_string_equal(os_rebuild_image_of_base("/var/lib/sculpt/_base/" IMG_A), IMG_A);
    assert_string_equal(os_rebuild_image_of_base(IMG_A), IMG_A);
    assert_null(os_rebuild_image_of_base("/var/lib/sculpt/_base/"));
    assert_null(os_rebuild_image_of_base(NULL));
}

static char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_virtual_size(void **state)
{
    const char *dir = *state;
    struct err *err = NULL;
    int64_t size = 0;

    /* a qcow2 header of 2 GiB (what `qemu-img create -f qcow2 x 2G` writes
     * at offset 24), on a file of a few hundred bytes */
    unsigned char h[512] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
    h[24 + 4] = 0x80; /* 0x0000000080000000 big-endian */
    char *q = write_file(dir, "q.qcow2", h, sizeof(h));
    assert_int_equal(os_image_virtual_size(q, "qcow2", &size, &err), 0);
    assert_int_equal(size, 2LL << 30);
    /* as raw, the same file is its length */
    assert_int_equal(os_image_virtual_size(q, "raw", &size, &err), 0);
    assert_int_equal(size, (int64_t)sizeof(h));

    /* not qcow2 at all, or cut before its size field */
    char *r = write_file(dir, "r.img", "raw bytes here, nothing else......", 34);
    assert_int_equal(os_image_virtual_size(r, "qcow2", &size, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    char *cut = write_file(dir, "cut.qcow2", h, 20);
    assert_int_equal(os_image_virtual_size(cut, "qcow2", &size, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);

    /* another format, or no file */
    assert_int_equal(os_image_virtual_size(q, "vmdk", &size, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    err_clear(&err);
    assert_int_equal(os_image_virtual_size(q, NULL, &size, &err), -1);
    err_clear(&err);
    char *none = NULL;
    assert_true(asprintf(&none, "%s/missing", dir) > 0);
    assert_int_equal(os_image_virtual_size(none, "raw", &size, &err), -1);
    assert_non_null(err);
    err_clear(&err);
    free(q);
    free(r);
    free(cut);
    free(none);
}

static void spec_over(struct drv_hv_guest_spec *spec, char *base)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", UUID_A);
    spec->name = (char *)"instance-0000002a";
    spec->shape =
        (struct drv_shape){.vcpus_online = 1, .vcpus_max = 2, .mem_max_mib = 1024, .numa_node = -1};
    spec->shape.res.v[DRV_RES_VCPU] = 1;
    spec->shape.res.v[DRV_RES_MEM_MIB] = 512;
    spec->image.disk_base = base;
    spec->image.disk_format = (char *)"raw";
}

/* What the rebuild asks of a backend, on the fake: the same domain again
 * over the new base, and the recovery's reading of it. */
static void test_fake_respawn(void **state)
{
    const char *dir = *state;
    const char *const opts[] = {NULL};
    autoptr(drv_hv) hv = test_fake_hv_open(opts);
    struct err *err = NULL;
    char *a = write_file(dir, IMG_A, "image a", 7);
    char *b = write_file(dir, IMG_B, "image b", 7);
    struct drv_hv_guest_spec spec;
    spec_over(&spec, a);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    /* a spawn over a guest that is there is refused: the old one goes first */
    spec_over(&spec, b);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(drv_hv_power_off(hv, UUID_A, 0, &err), 0);
    assert_int_equal(drv_hv_destroy(hv, UUID_A, false, &err), 0);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);

    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    struct drv_hv_guest_spec got;
    assert_int_equal(drv_hv_get_spec(hv, UUID_A, &got, &err), 0);
    assert_string_equal(got.name, "instance-0000002a");
    const char *img = os_rebuild_image_of_base(got.image.disk_base);
    assert_non_null(img);
    assert_string_equal(img, IMG_B);
    assert_int_equal(os_rebuild_recover_decide("rebuild_spawning", true, info.state, img, IMG_B),
                     OS_REBUILD_RECOVER_FINISH);
    drv_hv_guest_spec_release(&got);
    free(a);
    free(b);
}

/* The source's filter (Nova's _destroy_evacuated_instances): evacuations
 * from this host that are not over yet, nothing else. */
static void test_evacuation_from(void **state)
{
    (void)state;
    assert_true(os_evacuation_from("evacuation", "kvm1", "accepted", "kvm1"));
    assert_true(os_evacuation_from("evacuation", "kvm1", "pre-migrating", "kvm1"));
    assert_true(os_evacuation_from("evacuation", "kvm1", "done", "kvm1"));
    /* cleaned up already, or the instance stayed here */
    assert_false(os_evacuation_from("evacuation", "kvm1", "completed", "kvm1"));
    assert_false(os_evacuation_from("evacuation", "kvm1", "failed", "kvm1"));
    assert_false(os_evacuation_from("evacuation", "kvm1", "error", "kvm1"));
    /* an evacuation to this host, or other moves from it */
    assert_false(os_evacuation_from("evacuation", "kvm2", "done", "kvm1"));
    assert_false(os_evacuation_from("migration", "kvm1", "done", "kvm1"));
    assert_false(os_evacuation_from("live-migration", "kvm1", "accepted", "kvm1"));
    assert_false(os_evacuation_from("resize", "kvm1", "done", "kvm1"));
    assert_false(os_evacuation_from(NULL, "kvm1", "done", "kvm1"));
    assert_false(os_evacuation_from("evacuation", NULL, "done", "kvm1"));
    assert_false(os_evacuation_from("evacuation", "kvm1", NULL, "kvm1"));
}

static void test_evac_source_plan(void **state)
{
    (void)state;
    struct os_evac_source_plan p = os_evac_source_plan(true, true);
    assert_true(p.destroy_guest && p.forget && p.drop_allocations && p.complete);
    /* restarted after the guest went: the rest is done again */
    p = os_evac_source_plan(false, true);
    assert_false(p.destroy_guest);
    assert_true(p.forget && p.drop_allocations && p.complete);
    /* deleted meanwhile: its delete released its allocations */
    p = os_evac_source_plan(true, false);
    assert_true(p.destroy_guest && p.forget);
    assert_false(p.drop_allocations);
    assert_false(p.complete);
}

static void test_evac_failure(void **state)
{
    (void)state;
    struct os_evac_failure f = os_evac_failure(OS_EVAC_FAIL_REFUSED);
    assert_string_equal(f.mig_status, "failed");
    assert_true(f.drop_dest_allocations);
    assert_true(f.keep_vm_state);
    f = os_evac_failure(OS_EVAC_FAIL_DELETED);
    assert_string_equal(f.mig_status, "failed");
    assert_false(f.drop_dest_allocations);
    f = os_evac_failure(OS_EVAC_FAIL_OTHER);
    assert_string_equal(f.mig_status, "failed");
    assert_true(f.drop_dest_allocations);
    assert_false(f.keep_vm_state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_new_blueprint),
        cmocka_unit_test(test_recover_decide),
        cmocka_unit_test(test_evacuation_from),
        cmocka_unit_test(test_evac_source_plan),
        cmocka_unit_test(test_evac_failure),
        cmocka_unit_test(test_image_of_base),
        cmocka_unit_test_setup_teardown(test_virtual_size, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_fake_respawn, test_tmpdir_setup, test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
