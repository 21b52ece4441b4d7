#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "helpers/tmpdir.h"

LOG_INIT("test.log");

static void test_redact_url(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"rabbit://nova:secret@127.0.0.1:5672/", "rabbit://nova:***@127.0.0.1:5672/"},
        {"rabbit://a:p1@h1:5672,b:p2@h2:5672/vhost", "rabbit://a:***@h1:5672,b:***@h2:5672/vhost"},
        {"postgresql://sculpt:pw@localhost/sculpt", "postgresql://sculpt:***@localhost/sculpt"},
        {"postgresql:///sculpt?host=/tmp", "postgresql:///sculpt?host=/tmp"},
        {"rabbit://guest@h/", "rabbit://guest@h/"},
        {"http://h/path/with:colon@x", "http://h/path/with:colon@x"},
        {"", ""},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(log_redact_url(cases[i].in, buf, sizeof(buf)), cases[i].out);
    char tiny[8];
    log_redact_url("rabbit://a:b@c/", tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), 7);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_lines_carry_context(void **state)
{
    const char *dir = *state; /* test_tmpdir_setup */
    autofree char *path = xasprintf("%s/sculpt.log", dir);
    struct err *err = NULL;
    assert_int_equal(log_setup(LOG_LEVEL_INFO, path, false, &err), 0);
    log_ctx_set("req-1234", "6f8c1a2e-0000-4000-8000-000000000001");
    log_info("spawned with %d vCPUs", 2);
    log_debug("not written: %d", 1);
    log_ctx_clear();
    log_warn("no context");
    log_shutdown();
    char *text = read_file(path);
    assert_non_null(strstr(text, "INFO test.log [req-1234] [instance: 6f8c1a2e-0000-4000-8000-000000000001]"));
    assert_non_null(strstr(text, "spawned with 2 vCPUs"));
    assert_null(strstr(text, "not written"));
    assert_non_null(strstr(text, "WARNING test.log [-] [instance: -]"));

    assert_int_equal(log_setup(LOG_LEVEL_DEBUG, path, true, &err), 0);
    log_ctx_set("req-\"q\"", NULL);
    log_debug("quote \" and newline\n");
    log_shutdown();
    text = read_file(path);
    assert_non_null(strstr(text, "\"request_id\":\"req-\\\"q\\\"\""));
    assert_non_null(strstr(text, "\"msg\":\"quote \\\" and newline\\u000a\""));
    log_ctx_clear();
    assert_int_equal(log_setup(LOG_LEVEL_WARN, "stderr", false, &err), 0);
}

static void test_bad_target(void **state)
{
    (void)state;
    struct err *err = NULL;
    assert_int_equal(log_setup(LOG_LEVEL_INFO, "/nonexistent/dir/log", false, &err), -1);
    assert_non_null(strstr(err->msg, "/nonexistent/dir/log"));
    err_free(err);
}

static void test_level_parse(void **state)
{
    (void)state;
    enum log_level l;
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("DEBUG", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("verbose", &l), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_url),
        cmocka_unit_test_setup_teardown(test_lines_carry_context, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test(test_bad_target),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
