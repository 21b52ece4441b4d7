/* What set_admin_password and the spawns read from an instance
 * (compute_password.c): whether its image asks for the QEMU guest agent,
 * with Nova's reading of a boolean property, and the user whose password
 * is set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "openstack/compute_priv.h"
#include "openstack/ovo.h"

/* An Instance primitive with these system_metadata pairs (NULL-ended). */
static json_t *inst_with(const char *os_type, const char *const *sysmeta)
{
    json_t *sm = json_object();
    for (size_t k = 0; sysmeta && sysmeta[k]; k += 2)
        json_object_set_new(sm, sysmeta[k], json_string(sysmeta[k + 1]));
    json_t *inst = ovo_new("Instance");
    ovo_set(inst, "system_metadata", sm);
    if (os_type)
        ovo_set_str(inst, "os_type", os_type);
    return inst;
}

static void test_prop_true(void **state)
{
    (void)state;
    const char *yes[] = {"yes", "YES", "true", "True", "1", "on", "y", "t"};
    const char *no[] = {"no", "false", "0", "off", "", "yess", "2"};
    for (size_t k = 0; k < sizeof(yes) / sizeof(*yes); k++)
        assert_true(os_image_prop_true(yes[k]));
    for (size_t k = 0; k < sizeof(no) / sizeof(*no); k++)
        assert_false(os_image_prop_true(no[k]));
    assert_false(os_image_prop_true(NULL));
}

static void test_wants_agent(void **state)
{
    (void)state;
    const char *const with[] = {"image_hw_qemu_guest_agent", "yes", NULL};
    const char *const without[] = {"image_hw_qemu_guest_agent", "no", NULL};
    json_auto_t *a = inst_with(NULL, with);
    json_auto_t *b = inst_with(NULL, without);
    json_auto_t *none = inst_with(NULL, NULL);
    assert_true(os_compute_wants_agent(a, NULL));
    assert_false(os_compute_wants_agent(b, NULL));
    assert_false(os_compute_wants_agent(none, NULL));
    /* a build's image dict speaks for the image it boots (a rebuild's new
     * image), as a string or a JSON boolean */
    json_auto_t *img_yes = json_pack("{s:{s:s}}", "properties", "hw_qemu_guest_agent", "true");
    json_auto_t *img_bool = json_pack("{s:{s:b}}", "properties", "hw_qemu_guest_agent", 1);
    json_auto_t *img_plain = json_pack("{s:{}}", "properties");
    assert_true(os_compute_wants_agent(b, img_yes));
    assert_true(os_compute_wants_agent(none, img_bool));
    assert_false(os_compute_wants_agent(a, img_plain));
    /* no properties at all: the instance's record */
    json_auto_t *img_bare = json_pack("{s:s}", "id", "i1");
    assert_true(os_compute_wants_agent(a, img_bare));
}

static void test_admin_user(void **state)
{
    (void)state;
    const char *const named[] = {"image_os_admin_user", "cloud", NULL};
    const char *const empty[] = {"image_os_admin_user", "", NULL};
    json_auto_t *a = inst_with("linux", named);
    json_auto_t *b = inst_with("windows", NULL);
    json_auto_t *c = inst_with(NULL, NULL);
    json_auto_t *d = inst_with("windows", empty);
    json_auto_t *e = inst_with("windows", named);
    assert_string_equal(os_compute_admin_user(a), "cloud");
    assert_string_equal(os_compute_admin_user(b), "Administrator");
    assert_string_equal(os_compute_admin_user(c), "root");
    assert_string_equal(os_compute_admin_user(d), "Administrator");
    assert_string_equal(os_compute_admin_user(e), "cloud");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prop_true),
        cmocka_unit_test(test_wants_agent),
        cmocka_unit_test(test_admin_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
