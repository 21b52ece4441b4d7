/* The dispatch table's lookup as oslo's dispatcher answers, and oslo's
 * transport_url forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "openstack/amqp_priv.h"
#include "openstack/compute_priv.h"
#include "openstack/rpc_server.h"

static int handler(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)req;
    (void)result;
    (void)err;
    return 0;
}

static const struct os_rpc_method table[] = {
    {"baseapi", "ping", 1, 1, handler, 0},
    {NULL, "get_host_uptime", 6, 1, handler, 0},
    {NULL, "stop_instance", 6, 1, handler, OS_RPC_SERIALIZE},
};

static void test_lookup(void **state)
{
    (void)state;
    struct os_fault f;
    assert_ptr_equal(os_rpc_lookup(table, 3, NULL, "get_host_uptime", 6, 0, &f), &table[1]);
    assert_ptr_equal(os_rpc_lookup(table, 3, NULL, "get_host_uptime", 6, 1, &f), &table[1]);
    assert_ptr_equal(os_rpc_lookup(table, 3, "baseapi", "ping", 1, 0, &f), &table[0]);
    /* a newer minor, another major: the endpoint cannot serve the version */
    assert_null(os_rpc_lookup(table, 3, NULL, "get_host_uptime", 6, 2, &f));
    assert_string_equal(f.cls, "UnsupportedVersion");
    os_fault_release(&f);
    assert_null(os_rpc_lookup(table, 3, NULL, "get_host_uptime", 5, 0, &f));
    assert_string_equal(f.cls, "UnsupportedVersion");
    os_fault_release(&f);
    /* the version is served but not the method */
    assert_null(os_rpc_lookup(table, 3, NULL, "no_such", 6, 0, &f));
    assert_string_equal(f.cls, "NoSuchMethod");
    assert_string_equal(f.module, "oslo_messaging.rpc.dispatcher");
    os_fault_release(&f);
    /* private names are never dispatched */
    assert_null(os_rpc_lookup(table, 3, NULL, "_stop_instance", 6, 0, &f));
    assert_string_equal(f.cls, "NoSuchMethod");
    os_fault_release(&f);
    /* a namespace nobody serves */
    assert_null(os_rpc_lookup(table, 3, "compute_task", "ping", 1, 0, &f));
    assert_string_equal(f.cls, "UnsupportedVersion");
    os_fault_release(&f);
}

/* The compute table serves everything Zed sends at 6.x, baseapi at 1.x. */
static void test_compute_table(void **state)
{
    (void)state;
    static const char *const zed[] = {
        "build_and_run_instance", "terminate_instance", "stop_instance", "start_instance",
        "reboot_instance", "pause_instance", "unpause_instance", "suspend_instance",
        "resume_instance", "get_console_output", "get_host_uptime", "set_host_enabled",
        "external_instance_event", "prep_resize", "rebuild_instance", "snapshot_instance",
    };
    struct os_fault f;
    for (size_t i = 0; i < sizeof(zed) / sizeof(zed[0]); i++) {
        const struct os_rpc_method *m = os_rpc_lookup(os_compute_rpc_table,
                                                      os_compute_rpc_table_len, NULL, zed[i],
                                                      6, zed[i][0] == 'r' ? 1 : 0, &f);
        if (!m)
            fail_msg("`%s` not served", zed[i]);
    }
    for (size_t i = 0; i < os_compute_rpc_table_len; i++)
        for (size_t j = i + 1; j < os_compute_rpc_table_len; j++)
            if (strcmp(os_compute_rpc_table[i].name, os_compute_rpc_table[j].name) == 0 &&
                !os_compute_rpc_table[i].namespace == !os_compute_rpc_table[j].namespace)
                fail_msg("`%s` twice in the table", os_compute_rpc_table[i].name);
}

static void test_url(void **state)
{
    (void)state;
    struct os_amqp_url u;
    autoerr struct err *e = NULL;
    assert_int_equal(os_amqp_url_parse("rabbit://nova:s%40cret@127.0.0.1:5699/", &u, &e), 0);
    assert_int_equal(u.nservers, 1);
    assert_string_equal(u.servers[0].user, "nova");
    assert_string_equal(u.servers[0].password, "s@cret");
    assert_string_equal(u.servers[0].host, "127.0.0.1");
    assert_int_equal(u.servers[0].port, 5699);
    assert_string_equal(u.vhost, "/");
    os_amqp_url_release(&u);

    assert_int_equal(os_amqp_url_parse("rabbit://a:b@h1:1,c:d@[::1]:2/prod?ssl=0", &u, &e), 0);
    assert_int_equal(u.nservers, 2);
    assert_string_equal(u.servers[1].host, "::1");
    assert_int_equal(u.servers[1].port, 2);
    assert_string_equal(u.servers[1].user, "c");
    assert_string_equal(u.vhost, "prod");
    os_amqp_url_release(&u);

    assert_int_equal(os_amqp_url_parse("amqp://host", &u, &e), 0);
    assert_string_equal(u.servers[0].user, "guest");
    assert_int_equal(u.servers[0].port, 5672);
    os_amqp_url_release(&u);

    static const char *const bad[] = {
        "", "http://h/", "rabbit://", "rabbit://u:p@h:0/", "rabbit://u:p@h:65536/",
        "rabbit://u:p@h:x/", "rabbit://u%zz:p@h/", "rabbit://[::1/", "rabbit://h1,/",
        "rabbit://h:/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        if (os_amqp_url_parse(bad[i], &u, &e) == 0)
            fail_msg("accepted `%s`", bad[i]);
        assert_int_equal(e->code, ERR_INVALID);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_compute_table),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
