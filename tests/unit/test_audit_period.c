#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "openstack/audit_period.h"

static int64_t at(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(s, "%Y-%m-%d %H:%M:%S", &tm));
    return (int64_t)timegm(&tm);
}

/* Each row is what Zed's nova.utils.last_completed_audit_period answered
 * for unit@offset with before=now (python3-nova on this machine). */
static void test_last_period(void **state)
{
    (void)state;
    static const struct {
        const char *unit;
        int offset;
        const char *now, *begin, *end;
    } cases[] = {
        {"month", 1, "2026-11-27 14:10:05", "2026-10-01 00:00:00", "2026-11-01 00:00:00"},
        {"month", 1, "2026-11-01 00:00:00", "2026-09-01 00:00:00", "2026-10-01 00:00:00"},
        {"month", 1, "2026-01-15 00:00:00", "2025-12-01 00:00:00", "2026-01-01 00:00:00"},
        {"month", 15, "2026-03-10 08:00:00", "2026-01-15 00:00:00", "2026-02-15 00:00:00"},
        {"year", 1, "2026-11-27 14:10:05", "2025-01-01 00:00:00", "2026-01-01 00:00:00"},
        {"year", 1, "2026-01-01 00:00:00", "2024-01-01 00:00:00", "2025-01-01 00:00:00"},
        {"year", 6, "2026-03-01 00:00:00", "2024-06-01 00:00:00", "2025-06-01 00:00:00"},
        {"day", 0, "2026-11-27 14:10:05", "2026-11-26 00:00:00", "2026-11-27 00:00:00"},
        {"day", 0, "2026-11-27 00:00:00", "2026-11-25 00:00:00", "2026-11-26 00:00:00"},
        {"day", 15, "2026-03-01 10:00:00", "2026-02-27 15:00:00", "2026-02-28 15:00:00"},
        {"hour", 0, "2026-11-27 14:10:05", "2026-11-27 13:00:00", "2026-11-27 14:00:00"},
        {"hour", 30, "2026-11-27 14:10:05", "2026-11-27 12:30:00", "2026-11-27 13:30:00"},
        {"hour", 10, "2026-11-27 14:10:00", "2026-11-27 12:10:00", "2026-11-27 13:10:00"},
        {"hour", 0, "2026-01-01 00:00:00", "2025-12-31 22:00:00", "2025-12-31 23:00:00"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        int64_t b = 0, e = 0;
        os_audit_period_last(cases[k].unit, cases[k].offset, at(cases[k].now), &b, &e);
        char bs[32], es[32];
        os_audit_time_str(b, bs, sizeof(bs));
        os_audit_time_str(e, es, sizeof(es));
        assert_string_equal(bs, cases[k].begin);
        assert_string_equal(es, cases[k].end);
    }
}

static void test_period_option(void **state)
{
    (void)state;
    struct err *e = NULL;
    struct cfg *c = cfg_new_defaults();
    char unit[8];
    int offset = -1;
    assert_int_equal(cfg_audit_period(c, unit, &offset), 0);
    assert_string_equal(unit, "month");
    assert_int_equal(offset, 1);
    cfg_unref(c);
    c = cfg_load_string("[DEFAULT]\ninstance_usage_audit_period = hour@30\n", "t", &e);
    assert_non_null(c);
    assert_int_equal(cfg_audit_period(c, unit, &offset), 0);
    assert_string_equal(unit, "hour");
    assert_int_equal(offset, 30);
    cfg_unref(c);
    static const char *const bad[] = {"week", "hour@60", "month@0x", "month@29", "year@13",
                                      "day@", "hourly"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char text[96];
        snprintf(text, sizeof(text), "[DEFAULT]\ninstance_usage_audit_period = %s\n", bad[k]);
        c = cfg_load_string(text, "t", &e);
        assert_null(c);
        assert_non_null(strstr(e->msg, "instance_usage_audit_period"));
        err_clear(&e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_last_period),
                                       cmocka_unit_test(test_period_option)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
