/* What sculpt-replay's modes share on the command line
 * (driver/replay_cli_common.h): the --policy list's every refusal, the
 * usage-trace --format and the config with --set overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/replay_cli_common.h"

static const char *const colours[] = {"red", "green", "blue"};

static const void *find_colour(const char *name)
{
    for (size_t i = 0; i < sizeof(colours) / sizeof(colours[0]); i++)
        if (strcmp(colours[i], name) == 0)
            return &colours[i];
    return NULL;
}

/* The error drv_replay_cli_policies() gives for @list with room for @max. */
static void expect_refused(const char *list, size_t max, const char *msg)
{
    const void *keys[3];
    struct err *err = NULL;
    assert_int_equal(drv_replay_cli_policies(list, find_colour, "red, green, blue", keys, max,
                                             &err),
                     -1);
    assert_non_null(err);
    assert_int_equal(err->code, ERR_INVALID);
    assert_string_equal(err->msg, msg);
    err_free(err);
}

static void test_policies(void **state)
{
    (void)state;
    const void *keys[3];
    struct err *err = NULL;
    assert_int_equal(drv_replay_cli_policies("blue,red", find_colour, "", keys, 3, &err), 2);
    assert_null(err);
    assert_ptr_equal(keys[0], &colours[2]);
    assert_ptr_equal(keys[1], &colours[0]);
    /* empty names between commas are skipped, not refused */
    assert_int_equal(drv_replay_cli_policies(",green,,", find_colour, "", keys, 3, &err), 1);
    assert_ptr_equal(keys[0], &colours[1]);

    expect_refused("red,mauve", 3, "unknown policy `mauve` (known: red, green, blue)");
    expect_refused("red,blue,red", 3, "policy `red` given twice");
    expect_refused("red,blue,green", 2, "more than 2 policies");
    expect_refused("", 3, "--policy needs at least one policy");
    expect_refused(",,", 3, "--policy needs at least one policy");
}

static void test_trace_format(void **state)
{
    (void)state;
    enum drv_trace_format f = DRV_TRACE_FORMAT_LAST;
    struct err *err = NULL;
    assert_int_equal(drv_replay_cli_trace_format("azure-cpu", &f, &err), 0);
    assert_int_equal(f, drv_trace_format_parse("azure-cpu"));
    assert_int_equal(drv_replay_cli_trace_format("google", &f, &err), -1);
    assert_string_equal(err->msg,
                        "unknown format `google` (bitbrains, azure-cpu, alibaba-machines)");
    err_free(err);
}

static void test_config(void **state)
{
    (void)state;
    struct err *err = NULL;
    const char *sets[] = {"sculpt.target_violation_rate=0.05", "presculpt.idle_budget=0.2"};
    struct cfg *cfg = drv_replay_cli_config(NULL, sets, 2, &err);
    assert_non_null(cfg);
    assert_true(cfg->target_violation_rate > 0.0499 && cfg->target_violation_rate < 0.0501);
    cfg_unref(cfg);

    const char *bad[] = {"sculpt.target_violation_rate=0.05", "nodot=1"};
    assert_null(drv_replay_cli_config(NULL, bad, 2, &err));
    assert_string_equal(err->msg, "--set `nodot=1`: expected SECTION.OPTION=VALUE");
    err_clear(&err);
    const char *range[] = {"sculpt.target_violation_rate=2"};
    assert_null(drv_replay_cli_config(NULL, range, 1, &err));
    assert_non_null(strstr(err->msg, "--set `sculpt.target_violation_rate=2`"));
    err_clear(&err);
    assert_null(drv_replay_cli_config("/nonexistent/sculpt.conf", NULL, 0, &err));
    assert_non_null(strstr(err->msg, "/nonexistent/sculpt.conf"));
    err_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_trace_format),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
