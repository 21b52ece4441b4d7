/* The dispatch table's lookup as oslo's dispatcher answers, oslo's
 * transport_url forms, and ack batching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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
        "check_can_live_migrate_destination", "check_can_live_migrate_source",
        "pre_live_migration", "live_migration", "post_live_migration_at_destination",
        "rollback_live_migration_at_destination", "live_migration_abort",
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

/* What the tracker sends: "t" for ack(t), "t+" for ack(t, multiple). */
struct sent {
    char log[256];
    int fail_after; /* the send that fails, 0: none */
    int n;
};

static int record_ack(void *opaque, uint64_t tag, bool multiple)
{
    struct sent *s = opaque;
    if (s->fail_after && ++s->n >= s->fail_after)
        return -1;
    size_t len = strlen(s->log);
    snprintf(s->log + len, sizeof(s->log) - len, "%s%llu%s", len ? " " : "",
             (unsigned long long)tag, multiple ? "+" : "");
    return 0;
}

static void test_ack_batching(void **state)
{
    (void)state;
    struct os_amqp_unacked u = {0};
    struct sent s = {0};
    for (uint64_t t = 1; t <= 200; t++) /* grows past its first size */
        os_amqp_unacked_push(&u, t);

    /* finished in order: one ack for the run */
    for (uint64_t t = 1; t <= 3; t++)
        assert_true(os_amqp_unacked_done(&u, t, 0));
    assert_int_equal(os_amqp_unacked_emit(&u, 0, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "3+");

    /* 5 and 6 finish before 4: held... */
    s.log[0] = '\0';
    assert_true(os_amqp_unacked_done(&u, 5, 100));
    assert_true(os_amqp_unacked_done(&u, 6, 105));
    assert_int_equal(os_amqp_unacked_emit(&u, 110, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "");
    /* ...then 4 comes: the three go as one */
    assert_true(os_amqp_unacked_done(&u, 4, 112));
    assert_int_equal(os_amqp_unacked_emit(&u, 112, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "6+");

    /* 9 finishes behind a long 7: alone once it waited 20 ms */
    s.log[0] = '\0';
    assert_true(os_amqp_unacked_done(&u, 9, 200));
    assert_int_equal(os_amqp_unacked_emit(&u, 219, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "");
    assert_int_equal(os_amqp_unacked_emit(&u, 220, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "9");
    /* going idle sends what is held at once */
    assert_true(os_amqp_unacked_done(&u, 10, 230));
    assert_int_equal(os_amqp_unacked_emit(&u, 230, 20, true, record_ack, &s), 0);
    assert_string_equal(s.log, "9 10");
    /* acked ones leave: a second ack of 9 is not the tracker's */
    assert_false(os_amqp_unacked_done(&u, 9, 235));
    /* when 7 and 8 finish, the ack(multiple) names 8, not 10 (acked) */
    assert_true(os_amqp_unacked_done(&u, 7, 240));
    assert_true(os_amqp_unacked_done(&u, 8, 240));
    assert_int_equal(os_amqp_unacked_emit(&u, 240, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "9 10 8+");

    /* a tag it does not hold, and one acked twice */
    assert_false(os_amqp_unacked_done(&u, 1000, 250));
    assert_true(os_amqp_unacked_done(&u, 11, 250));
    assert_true(os_amqp_unacked_done(&u, 11, 250));
    s.log[0] = '\0';
    assert_int_equal(os_amqp_unacked_emit(&u, 250, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "11+");

    /* a broken connection stops the sending; reset forgets everything */
    assert_true(os_amqp_unacked_done(&u, 12, 260));
    s = (struct sent){.fail_after = 1};
    assert_int_equal(os_amqp_unacked_emit(&u, 260, 20, false, record_ack, &s), -1);
    os_amqp_unacked_reset(&u);
    assert_false(os_amqp_unacked_done(&u, 13, 270));
    os_amqp_unacked_push(&u, 1); /* tags start again on a new connection */
    assert_true(os_amqp_unacked_done(&u, 1, 280));
    s = (struct sent){0};
    assert_int_equal(os_amqp_unacked_emit(&u, 280, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "1+");
    os_amqp_unacked_release(&u);
}

/* The ring wraps and grows with unfinished deliveries kept in order, and a
 * failed send keeps what it could not ack. */
static void test_ack_ring(void **state)
{
    (void)state;
    struct os_amqp_unacked u = {0};
    struct sent s = {0};
    for (uint64_t t = 1; t <= 60; t++)
        os_amqp_unacked_push(&u, t);
    for (uint64_t t = 1; t <= 50; t++)
        assert_true(os_amqp_unacked_done(&u, t, 0));
    assert_int_equal(os_amqp_unacked_emit(&u, 0, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "50+");
    for (uint64_t t = 61; t <= 160; t++) /* wraps, then grows */
        os_amqp_unacked_push(&u, t);
    assert_int_equal(u.n, 110);
    /* odd ones finish, 51 (the front) does not */
    for (uint64_t t = 53; t <= 160; t += 2)
        assert_true(os_amqp_unacked_done(&u, t, 10));
    s = (struct sent){.fail_after = 3};
    assert_int_equal(os_amqp_unacked_emit(&u, 10, 20, true, record_ack, &s), -1);
    assert_string_equal(s.log, "53 55");
    assert_int_equal(u.n, 108); /* 53 and 55 left, the rest stays */
    s = (struct sent){0};
    assert_int_equal(os_amqp_unacked_emit(&u, 10, 20, true, record_ack, &s), 0);
    assert_int_equal(u.n, 56); /* 51, 52, 54, ... 160 */
    assert_int_equal(u.ndone, 0);
    assert_false(os_amqp_unacked_done(&u, 57, 11));
    /* the even ones finish from the back; 51 last: one ack for them all */
    s = (struct sent){0};
    for (uint64_t t = 160; t >= 52; t -= 2)
        assert_true(os_amqp_unacked_done(&u, t, 12));
    assert_int_equal(os_amqp_unacked_emit(&u, 12, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "");
    assert_true(os_amqp_unacked_done(&u, 51, 13));
    assert_int_equal(os_amqp_unacked_emit(&u, 13, 20, false, record_ack, &s), 0);
    assert_string_equal(s.log, "160+");
    assert_int_equal(u.n, 0);
    assert_int_equal(u.ndone, 0);
    os_amqp_unacked_release(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_compute_table),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_ack_batching),
        cmocka_unit_test(test_ack_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
