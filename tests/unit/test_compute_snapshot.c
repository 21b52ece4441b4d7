/* Server snapshots: the Glance patch and properties nova's driver sets
 * (openstack/glance.c, compute_snapshot.c), the fake backend's
 * snapshot through the hypervisor boundary (its file, its format, and
 * nothing left after release or a failure), and quiescing (Zed's rules,
 * compute_quiesce.c, and the fake's freeze around its copy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/fake/fake.h"
#include "driver/hypervisor.h"
#include "helpers/engine.h"
#include "helpers/tmpdir.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/ovo.h"
#include "openstack/glance.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define UUID_B "7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5c"

static void assert_op(const json_t *ops, size_t k, const char *op, const char *path,
                      const char *value)
{
    json_t *o = json_array_get(ops, k);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "op")), op);
    assert_string_equal(json_string_value(json_object_get(o, "path")), path);
    if (value)
        assert_string_equal(json_string_value(json_object_get(o, "value")), value);
    else
        assert_null(json_object_get(o, "value"));
}

static void test_patch_ops(void **state)
{
    (void)state;
    json_auto_t *image = json_pack("{s:s, s:s, s:s, s:s}", "id", "x", "disk_format", "raw",
                                   "image_type", "snapshot", "gone", "soon");
    json_auto_t *want =
        json_pack("{s:s, s:s, s:s, s:n, s:n, s:s}", "disk_format", "qcow2", "image_type",
                  "snapshot", "owner_id", "p1", "gone", "never_there", "a/b~c", "v");
    json_auto_t *ops = os_glance_patch_ops(image, want);
    assert_int_equal(json_array_size(ops), 4);
    assert_op(ops, 0, "replace", "/disk_format", "qcow2"); /* differs */
    /* image_type: the same already, no op */
    assert_op(ops, 1, "add", "/owner_id", "p1");           /* new */
    assert_op(ops, 2, "remove", "/gone", NULL);            /* null: removed */
    /* never_there: null and absent, no op */
    assert_op(ops, 3, "add", "/a~1b~0c", "v");             /* RFC 6901 escapes */
}

static json_t *instance(const char *kernel, const char *container, const char *src_disk)
{
    json_t *sm = json_object();
    if (container)
        json_object_set_new(sm, "image_container_format", json_string(container));
    if (src_disk)
        json_object_set_new(sm, "image_disk_format", json_string(src_disk));
    return json_pack("{s:s, s:{s:s, s:s, s:s?, s:s, s:o}}", "nova_object.name", "Instance",
                     "nova_object.data", "uuid", UUID_A, "project_id", "proj", "kernel_id",
                     kernel, "ramdisk_id", "", "system_metadata", sm);
}

static void test_image_meta(void **state)
{
    (void)state;
    json_auto_t *i = instance("k-1", "ovf", "qcow2");
    json_auto_t *m = os_snapshot_image_meta(i, "raw");
    assert_string_equal(json_string_value(json_object_get(m, "disk_format")), "raw");
    assert_string_equal(json_string_value(json_object_get(m, "container_format")), "ovf");
    assert_string_equal(json_string_value(json_object_get(m, "image_location")), "snapshot");
    assert_string_equal(json_string_value(json_object_get(m, "image_state")), "available");
    assert_string_equal(json_string_value(json_object_get(m, "owner_id")), "proj");
    assert_string_equal(json_string_value(json_object_get(m, "kernel_id")), "k-1");
    assert_null(json_object_get(m, "ramdisk_id")); /* empty: not set */
    assert_null(json_object_get(m, "os_type"));
    /* no source formats known: bare; glance forces ami to stay ami */
    json_auto_t *j = instance(NULL, NULL, "ami");
    json_auto_t *n = os_snapshot_image_meta(j, "qcow2");
    assert_string_equal(json_string_value(json_object_get(n, "container_format")), "bare");
    assert_string_equal(json_string_value(json_object_get(n, "disk_format")), "ami");
    assert_null(json_object_get(n, "kernel_id"));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void test_fake_snapshot(void **state)
{
    const char *dir = *state;
    /* the fake writes its snapshots into $TMPDIR: this test's folder,
     * removed with what it holds whatever happens */
    assert_int_equal(setenv("TMPDIR", dir, 1), 0);
    const char *const opts[] = {NULL};
    autoptr(drv_hv) hv = test_fake_hv_open(opts);
    struct err *err = NULL;
    char base[256];
    snprintf(base, sizeof(base), "%s/base", dir);
    int fd = open(base, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "base image bytes", 16), 16);
    close(fd);

    struct drv_hv_guest_spec spec = {0};
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", UUID_A);
    spec.shape = (struct drv_shape){.vcpus_online = 1, .vcpus_max = 2, .mem_max_mib = 1024,
                                    .numa_node = -1};
    spec.shape.res.v[DRV_RES_VCPU] = 1;
    spec.shape.res.v[DRV_RES_MEM_MIB] = 512;
    spec.image.disk_base = base;
    spec.image.disk_format = (char *)"raw";
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);

    /* its disk never changed: the snapshot is its base, in its format */
    struct drv_hv_snapshot snap;
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_NONE, &snap, &err), 0);
    assert_string_equal(snap.format, "raw");
    assert_int_equal(snap.bytes, 16);
    size_t len;
    char *got = slurp(snap.path, &len);
    assert_int_equal(len, 16);
    assert_memory_equal(got, "base image bytes", 16);
    free(got);
    char *path = strdup(snap.path);
    drv_hv_snapshot_release(&snap);
    assert_int_equal(access(path, F_OK), -1); /* removed */
    assert_null(snap.path);
    free(path);

    /* a guest without a disk: a placeholder naming it */
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", UUID_B);
    spec.image.disk_base = NULL;
    spec.image.kernel = (char *)"/images/vmlinuz";
    if (drv_hv_spawn(hv, &spec, &err) < 0)
        fail_msg("spawn: %s", err->msg);
    assert_int_equal(drv_hv_snapshot(hv, UUID_B, DRV_HV_QUIESCE_NONE, &snap, &err), 0);
    assert_string_equal(snap.format, "raw");
    got = slurp(snap.path, &len);
    assert_int_equal(len, 65536);
    assert_non_null(strstr(got, UUID_B));
    free(got);
    drv_hv_snapshot_release(&snap);

    /* no such guest, a failure: an error and no file */
    assert_int_equal(drv_hv_snapshot(hv, "0f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                                     DRV_HV_QUIESCE_NONE, &snap, &err),
                     -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    assert_null(snap.path);
    err_clear(&err);
    assert_int_equal(drv_fake_fail_next(hv, "snapshot", ERR_INTERNAL, 1, &err), 0);
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_NONE, &snap, &err), -1);
    assert_int_equal(err->code, ERR_INTERNAL);
    assert_null(snap.path);
    err_clear(&err);
    assert_int_equal(drv_hv_snapshot(hv, "not-a-uuid", DRV_HV_QUIESCE_NONE, &snap, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

/* A live snapshot quiesced through the fake's agent: frozen for the copy
 * and thawed after it (console lines in that order); a freeze the agent
 * cannot make skipped, or, required, failing the snapshot with the
 * agent's own error and nothing left frozen; none asked, none made. */
static void test_fake_snapshot_quiesce(void **state)
{
    assert_int_equal(setenv("TMPDIR", (const char *)*state, 1), 0);
    const char *const opts[] = {NULL};
    autoptr(drv_hv) hv = test_fake_hv_open(opts);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec = {0};
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", UUID_A);
    spec.shape = (struct drv_shape){.vcpus_online = 1, .vcpus_max = 2, .mem_max_mib = 1024,
                                    .numa_node = -1};
    spec.shape.res.v[DRV_RES_VCPU] = 1;
    spec.shape.res.v[DRV_RES_MEM_MIB] = 512;
    spec.image.kernel = (char *)"/images/vmlinuz";
    spec.guest_agent = true;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);

    struct drv_hv_snapshot snap;
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_TRY, &snap, &err), 0);
    assert_true(snap.quiesced);
    assert_int_equal(snap.frozen, 1);
    drv_hv_snapshot_release(&snap);
    autofree char *out = drv_hv_console_output(hv, UUID_A, 0, &err);
    const char *fr = strstr(out, "GUEST-FSFREEZE frozen n=1");
    assert_non_null(fr);
    assert_non_null(strstr(fr, "GUEST-FSFREEZE thawed n=1"));

    /* the agent silent: skipped when not required */
    assert_int_equal(drv_fake_fail_next(hv, "fs_freeze", ERR_TIMEOUT, 1, &err), 0);
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_TRY, &snap, &err), 0);
    assert_false(snap.quiesced);
    drv_hv_snapshot_release(&snap);
    /* required: the snapshot fails with the agent's error, unwrapped */
    assert_int_equal(drv_fake_fail_next(hv, "fs_freeze", ERR_TIMEOUT, 1, &err), 0);
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_REQUIRE, &snap, &err), -1);
    assert_int_equal(err_code_of(err), ERR_TIMEOUT);
    assert_true(snap.quiesce_failed);
    assert_null(snap.path);
    assert_string_equal(err->msg, "fake hypervisor: fs_freeze: injected failure");
    err_clear(&err);
    /* a thaw that fails fails the snapshot (Zed's unquiesce raising) */
    assert_int_equal(drv_fake_fail_next(hv, "fs_thaw", ERR_INTERNAL, 1, &err), 0);
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_TRY, &snap, &err), -1);
    assert_null(snap.path);
    err_clear(&err);
    int n = 0;
    assert_int_equal(drv_hv_fs_thaw(hv, UUID_A, &n, &err), 0);
    assert_int_equal(n, 1); /* that one was left frozen */
    /* nothing asked: nothing frozen; a guest off is not frozen either */
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_NONE, &snap, &err), 0);
    assert_false(snap.quiesced);
    drv_hv_snapshot_release(&snap);
    /* a paused guest's agent cannot answer */
    assert_int_equal(drv_hv_pause(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_TRY, &snap, &err), 0);
    assert_false(snap.quiesced);
    drv_hv_snapshot_release(&snap);
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_REQUIRE, &snap, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(drv_hv_unpause(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_power_off(hv, UUID_A, 0, &err), 0);
    assert_int_equal(drv_hv_snapshot(hv, UUID_A, DRV_HV_QUIESCE_REQUIRE, &snap, &err), 0);
    assert_false(snap.quiesced);
    drv_hv_snapshot_release(&snap);
    free(out);
    out = drv_hv_console_output(hv, UUID_A, 0, &err);
    const char *last = out, *p;
    while ((p = strstr(last + 1, "GUEST-FSFREEZE")))
        last = p;
    assert_non_null(strstr(last, "thawed")); /* the last word: thawed */
}

/* An Instance primitive: id, uuid and these system_metadata pairs. */
static json_t *inst_props(const char *const *sysmeta)
{
    json_t *sm = json_object();
    for (size_t k = 0; sysmeta && sysmeta[k]; k += 2)
        json_object_set_new(sm, sysmeta[k], json_string(sysmeta[k + 1]));
    json_t *inst = ovo_new("Instance");
    ovo_set(inst, "system_metadata", sm);
    ovo_set_int(inst, "id", 42);
    ovo_set_str(inst, "uuid", UUID_A);
    return inst;
}

/* Zed's _can_quiesce, _requires_quiesce (a boolean as Nova reads it) and
 * the quiesce mode of a snapshot, with the faults they give. */
static void test_quiesce_rules(void **state)
{
    (void)state;
    const char *const opts[] = {NULL};
    autoptr(drv_hv) hv = test_fake_hv_open(opts);
    struct os_compute c = {.hv = hv};
    const char *const agent[] = {"image_hw_qemu_guest_agent", "yes", NULL};
    const char *const required[] = {"image_hw_qemu_guest_agent", "True",
                                    "image_os_require_quiesce", "yes", NULL};
    const char *const required_only[] = {"image_os_require_quiesce", "1", NULL};
    const char *const not_required[] = {"image_hw_qemu_guest_agent", "y",
                                        "image_os_require_quiesce", "no", NULL};
    json_auto_t *a = inst_props(agent);
    json_auto_t *r = inst_props(required);
    json_auto_t *ro = inst_props(required_only);
    json_auto_t *nr = inst_props(not_required);
    json_auto_t *none = inst_props(NULL);
    assert_false(os_compute_requires_quiesce(a));
    assert_true(os_compute_requires_quiesce(r));
    assert_true(os_compute_requires_quiesce(ro));
    assert_false(os_compute_requires_quiesce(nr));
    assert_false(os_compute_requires_quiesce(none));

    struct err *err = NULL;
    struct os_fault f = {0};
    assert_int_equal(os_compute_can_quiesce(&c, a, &f, &err), 0);
    assert_null(f.cls);
    assert_int_equal(os_compute_can_quiesce(&c, none, &f, &err), -1);
    assert_string_equal(f.cls, "QemuGuestAgentNotEnabled");
    assert_int_equal(f.code, 400);
    assert_string_equal(err->msg, "QEMU guest agent is not enabled");
    err_clear(&err);
    os_fault_release(&f);

    enum drv_hv_quiesce q;
    struct os_inst ia = {.prim = a}, ir = {.prim = r}, iro = {.prim = ro}, inr = {.prim = nr},
                   inone = {.prim = none};
    assert_int_equal(os_compute_snapshot_quiesce(&c, &ia, true, &q, &err), 0);
    assert_int_equal(q, DRV_HV_QUIESCE_TRY);
    assert_int_equal(os_compute_snapshot_quiesce(&c, &ir, true, &q, &err), 0);
    assert_int_equal(q, DRV_HV_QUIESCE_REQUIRE);
    assert_int_equal(os_compute_snapshot_quiesce(&c, &inr, true, &q, &err), 0);
    assert_int_equal(q, DRV_HV_QUIESCE_TRY);
    assert_int_equal(os_compute_snapshot_quiesce(&c, &inone, true, &q, &err), 0);
    assert_int_equal(q, DRV_HV_QUIESCE_NONE);
    /* required without the agent: the snapshot fails before its copy */
    assert_int_equal(os_compute_snapshot_quiesce(&c, &iro, true, &q, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    assert_string_equal(err->msg, "QEMU guest agent is not enabled");
    err_clear(&err);
    /* a cold copy (the guest off or saved) needs none */
    assert_int_equal(os_compute_snapshot_quiesce(&c, &iro, false, &q, &err), 0);
    assert_int_equal(q, DRV_HV_QUIESCE_NONE);
    assert_int_equal(os_compute_snapshot_quiesce(&c, &ir, false, &q, &err), 0);
    assert_int_equal(q, DRV_HV_QUIESCE_NONE);

    /* the agent's failure as Zed's InternalError names it */
    err_set(&err, ERR_TIMEOUT, "[Error Code 86] Guest agent is not responding");
    os_compute_quiesce_error(&c, &ia, &f, &err);
    assert_string_equal(f.cls, "InternalError");
    assert_int_equal(err_code_of(err), ERR_INTERNAL);
    assert_string_equal(err->msg, "Error from fake while quiescing instance-0000002a: "
                                  "[Error Code 86] Guest agent is not responding");
    err_clear(&err);
    os_fault_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_ops),
        cmocka_unit_test(test_image_meta),
        cmocka_unit_test_setup_teardown(test_fake_snapshot, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_fake_snapshot_quiesce, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test(test_quiesce_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
