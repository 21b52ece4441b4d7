/* Config drives: the checks on a drive's files, Nova's
 * layout of meta_data.json / user_data / vendor and network data per
 * metadata version (hand-checked against nova/api/metadata/base.py), when
 * a build needs a drive, and the refusals (bad base64, user data above
 * Nova's limit, malformed injected files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/hypervisor.h"
#include "openstack/config_drive.h"
#include "openstack/ovo.h"

#define UUID "7d4e0a53-6c39-4f52-9b7a-2d2f4c8e6b11"

static void test_drive_checks(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct drv_hv_config_drive cd = {0};
    assert_int_equal(drv_hv_config_drive_validate(&cd, &err), -1);
    err_clear(&err);
    drv_hv_config_drive_add(&cd, "openstack/latest/user_data", "hi", 2);
    assert_int_equal(drv_hv_config_drive_validate(&cd, &err), 0);
    assert_string_equal(drv_hv_config_drive_get(&cd, "openstack/latest/user_data")->data, "hi");
    assert_null(drv_hv_config_drive_get(&cd, "openstack/latest"));
    static const char *const bad[] = {"/etc/passwd", "../x",  "openstack/../../x",
                                      "a//b",        "a/",    "",
                                      "a/./b",       "openstack/latest/user_data",
                                      "openstack/latest/user_data/x", "openstack"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct drv_hv_config_drive *d = drv_hv_config_drive_dup(&cd);
        drv_hv_config_drive_add(d, bad[i], "x", 1);
        assert_int_equal(drv_hv_config_drive_validate(d, &err), -1);
        assert_int_equal(err_code_of(err), ERR_INVALID);
        err_clear(&err);
        drv_hv_config_drive_free(d);
    }
    for (size_t i = 0; i < cd.n; i++) {
        free(cd.files[i].path);
        free(cd.files[i].data);
    }
    free(cd.files);
}

/* An Instance primitive as build_and_run_instance carries it (the fields
 * the drive reads; protocol.md 7.2). */
static json_t *instance(const char *user_data)
{
    json_t *kp = json_pack("{s:s, s:s, s:s}", "name", "mykey", "public_key",
                           "ssh-ed25519 AAAAC3Nza mykey", "type", "ssh");
    json_t *kpo = ovo_new("KeyPair");
    json_object_set_new(kpo, "nova_object.data", kp);
    json_t *kpl = ovo_new("KeyPairList");
    json_object_set_new(kpl, "nova_object.data", json_pack("{s:[o]}", "objects", kpo));
    json_t *data = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s, s:s}, s:s, s:s, s:o, s:s, s:n}", "uuid", UUID,
        "display_name", "web 1", "hostname", "web-1", "availability_zone", "nova",
        "launch_index", 0, "project_id", "p1", "metadata", "role", "web", "tier", "front",
        "key_name", "mykey", "key_data", "ssh-ed25519 AAAAC3Nza mykey", "keypairs", kpl,
        "config_drive", "", "launched_at");
    if (user_data)
        json_object_set_new(data, "user_data", json_string(user_data));
    else
        json_object_set_new(data, "user_data", json_null());
    json_t *inst = ovo_new("Instance");
    json_object_set_new(inst, "nova_object.data", data);
    return inst;
}

static const struct os_config_drive_opts OPTS = {.force = false, .dhcp_domain = "novalocal"};

static json_t *md_of(const struct drv_hv_config_drive *cd, const char *version)
{
    char path[80];
    snprintf(path, sizeof(path), "openstack/%s/meta_data.json", version);
    const struct drv_hv_file *f = drv_hv_config_drive_get(cd, path);
    assert_non_null(f);
    json_error_t je;
    json_t *md = json_loadb(f->data, f->len, 0, &je);
    assert_non_null(md);
    return md;
}

static void test_layout(void **state)
{
    (void)state;
    /* "#!/bin/sh\necho hi\n" */
    json_auto_t *inst = instance("IyEvYmluL3NoCmVjaG8gaGkK");
    json_auto_t *files = json_pack("[[s, s]]", "/etc/motd", "d2VsY29tZQ==");
    struct err *err = NULL;
    struct drv_hv_config_drive *cd = os_config_drive_build(inst, files, "s3cret", &OPTS, &err);
    assert_non_null(cd);

    const struct drv_hv_file *ud = drv_hv_config_drive_get(cd, "openstack/latest/user_data");
    assert_non_null(ud);
    assert_int_equal(ud->len, 18);
    assert_memory_equal(ud->data, "#!/bin/sh\necho hi\n", 18);
    assert_non_null(drv_hv_config_drive_get(cd, "openstack/2012-08-10/user_data"));
    const struct drv_hv_file *content = drv_hv_config_drive_get(cd, "openstack/content/0000");
    assert_non_null(content);
    assert_string_equal(content->data, "welcome");

    json_auto_t *latest = md_of(cd, "latest");
    assert_string_equal(json_string_value(json_object_get(latest, "uuid")), UUID);
    assert_string_equal(json_string_value(json_object_get(latest, "name")), "web 1");
    assert_string_equal(json_string_value(json_object_get(latest, "hostname")), "web-1.novalocal");
    assert_string_equal(json_string_value(json_object_get(latest, "availability_zone")), "nova");
    assert_int_equal(json_integer_value(json_object_get(latest, "launch_index")), 0);
    assert_true(json_is_integer(json_object_get(latest, "launch_index")));
    assert_string_equal(json_string_value(json_object_get(latest, "project_id")), "p1");
    assert_string_equal(json_string_value(json_object_get(latest, "admin_pass")), "s3cret");
    json_t *meta = json_object_get(latest, "meta");
    assert_int_equal(json_object_size(meta), 2);
    assert_string_equal(json_string_value(json_object_get(meta, "role")), "web");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(latest, "public_keys"), "mykey")),
        "ssh-ed25519 AAAAC3Nza mykey");
    json_t *key = json_array_get(json_object_get(latest, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(key, "type")), "ssh");
    json_t *file = json_array_get(json_object_get(latest, "files"), 0);
    assert_string_equal(json_string_value(json_object_get(file, "path")), "/etc/motd");
    assert_string_equal(json_string_value(json_object_get(file, "content_path")), "/content/0000");
    /* 512 random bytes, base64 */
    assert_int_equal(strlen(json_string_value(json_object_get(latest, "random_seed"))), 684);
    assert_true(json_is_array(json_object_get(latest, "devices")));
    assert_true(json_is_array(json_object_get(latest, "dedicated_cpus")));

    /* Folsom's has none of what later versions added */
    json_auto_t *folsom = md_of(cd, "2012-08-10");
    assert_string_equal(json_string_value(json_object_get(folsom, "uuid")), UUID);
    assert_null(json_object_get(folsom, "random_seed"));
    assert_null(json_object_get(folsom, "project_id"));
    assert_null(json_object_get(folsom, "devices"));
    assert_null(drv_hv_config_drive_get(cd, "openstack/2012-08-10/vendor_data.json"));
    assert_null(drv_hv_config_drive_get(cd, "openstack/2012-08-10/network_data.json"));
    assert_non_null(drv_hv_config_drive_get(cd, "openstack/2013-10-17/vendor_data.json"));
    assert_null(drv_hv_config_drive_get(cd, "openstack/2013-10-17/network_data.json"));
    assert_null(drv_hv_config_drive_get(cd, "openstack/2016-06-30/vendor_data2.json"));
    assert_non_null(drv_hv_config_drive_get(cd, "openstack/2016-10-06/vendor_data2.json"));
    const struct drv_hv_file *net =
        drv_hv_config_drive_get(cd, "openstack/latest/network_data.json");
    assert_string_equal(net->data, "{\"links\":[],\"networks\":[],\"services\":[]}");
    assert_string_equal(drv_hv_config_drive_get(cd, "openstack/latest/vendor_data.json")->data,
                        "{}");
    assert_string_equal(drv_hv_config_drive_get(cd, "openstack/latest/vendor_data2.json")->data,
                        "{}");
    /* 10 versions: meta_data + user_data each, vendor_data from Havana (8),
     * network_data from Liberty (7), vendor_data2 from Newton 2 (5), content */
    assert_int_equal(cd->n, 10 + 10 + 8 + 7 + 5 + 1);
    assert_int_equal(drv_hv_config_drive_validate(cd, &err), 0);
    drv_hv_config_drive_free(cd);
}

static void test_minimal(void **state)
{
    (void)state;
    /* no user data, no key, no files, no domain: only what Nova always writes */
    json_auto_t *inst = instance(NULL);
    json_t *data = json_object_get(inst, "nova_object.data");
    json_object_set_new(data, "key_name", json_null());
    json_object_set_new(data, "key_data", json_null());
    json_object_set_new(data, "metadata", json_object());
    json_t *kpl = ovo_new("KeyPairList");
    json_object_set_new(kpl, "nova_object.data", json_pack("{s:[]}", "objects"));
    json_object_set_new(data, "keypairs", kpl);
    const struct os_config_drive_opts bare = {.force = false, .dhcp_domain = ""};
    struct err *err = NULL;
    struct drv_hv_config_drive *cd = os_config_drive_build(inst, NULL, NULL, &bare, &err);
    assert_non_null(cd);
    assert_null(drv_hv_config_drive_get(cd, "openstack/latest/user_data"));
    json_auto_t *md = md_of(cd, "latest");
    assert_string_equal(json_string_value(json_object_get(md, "hostname")), "web-1");
    assert_null(json_object_get(md, "meta"));
    assert_null(json_object_get(md, "files"));
    assert_null(json_object_get(md, "public_keys"));
    assert_null(json_object_get(md, "admin_pass"));
    assert_int_equal(cd->n, 10 + 8 + 7 + 5);
    drv_hv_config_drive_free(cd);
}

static void test_required(void **state)
{
    (void)state;
    json_auto_t *inst = instance(NULL);
    json_t *data = json_object_get(inst, "nova_object.data");
    const struct os_config_drive_opts force = {.force = true, .dhcp_domain = ""};
    assert_false(os_config_drive_required(inst, NULL, &OPTS));
    assert_true(os_config_drive_required(inst, NULL, &force));
    json_auto_t *mandatory =
        json_pack("{s:{s:s}}", "properties", "img_config_drive", "mandatory");
    json_auto_t *optional = json_pack("{s:{s:s}}", "properties", "img_config_drive", "optional");
    assert_true(os_config_drive_required(inst, mandatory, &OPTS));
    assert_false(os_config_drive_required(inst, optional, &OPTS));
    json_object_set_new(data, "config_drive", json_string("True"));
    assert_true(os_config_drive_required(inst, NULL, &OPTS));
    json_object_set_new(data, "config_drive", json_string("False"));
    assert_false(os_config_drive_required(inst, NULL, &OPTS));
    /* user data alone: sculpt has no metadata service to serve it */
    json_object_set_new(data, "user_data", json_string("aGk="));
    assert_true(os_config_drive_required(inst, NULL, &OPTS));
    json_object_set_new(data, "user_data", json_null());
    /* force_config_drive does not apply to an instance launched before */
    json_object_set_new(data, "launched_at", json_string("2026-11-26T01:00:00Z"));
    assert_false(os_config_drive_required(inst, NULL, &force));
}

/* A rebuild onto a new image: the instance's image is what its image_*
 * system_metadata says (the API replaced them with the new image's), and
 * an img_config_drive=mandatory there asks for a drive as a build's image
 * dict would. */
static void test_required_by_new_image(void **state)
{
    (void)state;
    json_auto_t *inst = instance(NULL);
    json_t *data = json_object_get(inst, "nova_object.data");
    json_object_set_new(data, "launched_at", json_string("2026-11-26T01:00:00Z"));
    json_object_set_new(data, "image_ref", json_string("img-new"));
    json_t *sm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:s}", "image_img_config_drive",
                           "mandatory", "image_min_disk", "1", "image_disk_format", "qcow2",
                           "image_img_block_device_mapping", "[]", "image_hw_rng_model", "virtio",
                           "image_os_type", "clean_shutdown_timeout", "60");
    json_object_set_new(data, "system_metadata", sm);
    json_auto_t *image = os_config_drive_image_of(inst);
    assert_string_equal(json_string_value(json_object_get(image, "id")), "img-new");
    assert_string_equal(json_string_value(json_object_get(image, "min_disk")), "1");
    assert_string_equal(json_string_value(json_object_get(image, "disk_format")), "qcow2");
    json_t *props = json_object_get(image, "properties");
    assert_string_equal(json_string_value(json_object_get(props, "img_config_drive")),
                        "mandatory");
    assert_string_equal(json_string_value(json_object_get(props, "hw_rng_model")), "virtio");
    assert_null(json_object_get(props, "min_disk"));
    assert_null(json_object_get(props, "img_block_device_mapping"));
    assert_null(json_object_get(props, "os_type")); /* null: none */
    assert_null(json_object_get(props, "clean_shutdown_timeout"));
    assert_true(os_config_drive_required(inst, image, &OPTS));

    /* the image before (optional) gave none; nor does an instance
     * without system_metadata */
    json_object_set_new(sm, "image_img_config_drive", json_string("optional"));
    json_auto_t *optional = os_config_drive_image_of(inst);
    assert_false(os_config_drive_required(inst, optional, &OPTS));
    json_object_del(data, "system_metadata");
    json_auto_t *bare = os_config_drive_image_of(inst);
    assert_non_null(json_object_get(bare, "properties"));
    assert_false(os_config_drive_required(inst, bare, &OPTS));
}

static void test_refusals(void **state)
{
    (void)state;
    struct err *err = NULL;
    json_auto_t *bad = instance("not base64!");
    assert_null(os_config_drive_build(bad, NULL, NULL, &OPTS, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    assert_non_null(strstr(err->msg, "user_data"));
    assert_non_null(strstr(err->msg, "base64"));
    err_clear(&err);

    /* Nova's API refuses more than 65535 characters; one more here */
    char *big = malloc(OS_USER_DATA_MAX + 2);
    memset(big, 'A', OS_USER_DATA_MAX + 1);
    big[OS_USER_DATA_MAX + 1] = '\0';
    json_auto_t *huge = instance(big);
    assert_null(os_config_drive_build(huge, NULL, NULL, &OPTS, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    assert_non_null(strstr(err->msg, "65535"));
    err_clear(&err);
    /* at the limit it is fine (65532 = 4 * 16383 characters) */
    big[OS_USER_DATA_MAX - 3] = '\0';
    json_auto_t *full = instance(big);
    struct drv_hv_config_drive *cd = os_config_drive_build(full, NULL, NULL, &OPTS, &err);
    assert_non_null(cd);
    assert_int_equal(drv_hv_config_drive_get(cd, "openstack/latest/user_data")->len,
                     (OS_USER_DATA_MAX - 3) / 4 * 3);
    drv_hv_config_drive_free(cd);
    free(big);

    json_auto_t *ok = instance(NULL);
    json_auto_t *notlist = json_string("x");
    json_auto_t *short_ = json_pack("[[s]]", "/etc/motd");
    json_auto_t *badb64 = json_pack("[[s, s]]", "/etc/motd", "%%%");
    const json_t *files[] = {notlist, short_, badb64};
    for (size_t i = 0; i < 3; i++) {
        assert_null(os_config_drive_build(ok, files[i], NULL, &OPTS, &err));
        assert_int_equal(err_code_of(err), ERR_INVALID);
        err_clear(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drive_checks),
        cmocka_unit_test(test_layout),   cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_required), cmocka_unit_test(test_required_by_new_image),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
