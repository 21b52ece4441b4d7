/* get_vnc_console's and get_serial_console's parts (compute_console.c): the ConsoleAuthToken Zed's
 * manager authorizes and the connection info it returns, in Zed's shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "openstack/compute_priv.h"
#include "openstack/ovo.h"

#define UUID "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define TOKEN "0b8f9a52-5b7e-4f4e-9d6c-3c2f0e1a7d11"
#define BASE "http://127.0.0.1:6080/vnc_auto.html"

static void test_token_object(void **state)
{
    (void)state;
    json_auto_t *t = os_console_token_new("novnc", "127.0.0.1", 5901, UUID, BASE);
    assert_true(ovo_is(t, "ConsoleAuthToken"));
    assert_string_equal(ovo_version(t), "1.1");
    assert_string_equal(ovo_get_str(t, "console_type"), "novnc");
    assert_string_equal(ovo_get_str(t, "host"), "127.0.0.1");
    int64_t port = 0;
    assert_true(ovo_get_int(t, "port", &port));
    assert_int_equal(port, 5901);
    assert_true(json_is_null(ovo_get(t, "internal_access_path")));
    assert_string_equal(ovo_get_str(t, "instance_uuid"), UUID);
    assert_string_equal(ovo_get_str(t, "access_url_base"), BASE);
    /* a new object: no id, no token (authorize makes them), every field
     * set is a change the conductor writes */
    assert_null(ovo_get(t, "id"));
    assert_null(ovo_get(t, "token"));
    assert_int_equal(json_array_size(json_object_get(t, "nova_object.changes")), 6);
}

/* Console.get_connection_info: host, the port as a string (libvirt's
 * XML attribute), internal_access_path None, the token in clear, and the
 * token's access_url: inside noVNC's `path` for novnc, `?token=` for
 * serial. */
static void test_connect_info(void **state)
{
    (void)state;
    json_auto_t *i = os_console_connect_info("novnc", "127.0.0.1", 5901, TOKEN, BASE);
    assert_int_equal(json_object_size(i), 5);
    assert_string_equal(json_string_value(json_object_get(i, "host")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(i, "port")), "5901");
    assert_true(json_is_null(json_object_get(i, "internal_access_path")));
    assert_string_equal(json_string_value(json_object_get(i, "token")), TOKEN);
    assert_string_equal(json_string_value(json_object_get(i, "access_url")),
                        BASE "?path=%3Ftoken%3D" TOKEN);
    json_auto_t *s = os_console_connect_info("serial", "127.0.0.1", 10000, TOKEN,
                                             "ws://127.0.0.1:6083/");
    assert_string_equal(json_string_value(json_object_get(s, "access_url")),
                        "ws://127.0.0.1:6083/?token=" TOKEN);
    /* the serial port an integer (Nova's driver parses the XML's) */
    assert_int_equal(json_integer_value(json_object_get(s, "port")), 10000);
    assert_true(json_is_integer(json_object_get(s, "port")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_object),
        cmocka_unit_test(test_connect_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
