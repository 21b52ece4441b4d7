#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

static int fails_with(struct err **err)
{
    return err_set(err, ERR_NOT_FOUND, "instance `%s` not found", "abc");
}

static void test_set_and_wrap(void **state)
{
    (void)state;
    struct err *err = NULL;
    assert_int_equal(fails_with(&err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    assert_string_equal(err->msg, "instance `abc` not found");
    err_wrap(&err, "terminate");
    assert_string_equal(err->msg, "terminate: instance `abc` not found");
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_free(err);
}

static void test_null_err_is_allowed(void **state)
{
    (void)state;
    assert_int_equal(fails_with(NULL), -1);
    assert_int_equal(err_wrap(NULL, "x"), -1);
    err_free(NULL);
    struct err *none = NULL;
    err_clear(&none);
    assert_null(none);
}

static void test_newest_error_wins(void **state)
{
    (void)state;
    struct err *err = NULL;
    err_set(&err, ERR_INVALID, "first");
    err_set(&err, ERR_CONFLICT, "second");
    assert_int_equal(err->code, ERR_CONFLICT);
    assert_string_equal(err->msg, "second");
    err_clear(&err);
    assert_null(err);
}

static void test_errno_mapping(void **state)
{
    (void)state;
    static const struct {
        int errnum;
        enum err_code code;
    } cases[] = {
        {ENOENT, ERR_NOT_FOUND},   {EINVAL, ERR_INVALID},     {EEXIST, ERR_CONFLICT},
        {ECONNREFUSED, ERR_UNAVAILABLE}, {ETIMEDOUT, ERR_TIMEOUT}, {EPERM, ERR_INTERNAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err *err = NULL;
        err_set_errno(&err, cases[i].errnum, "open `%s`", "f");
        assert_int_equal(err->code, cases[i].code);
        assert_non_null(strstr(err->msg, "open `f`: "));
        assert_non_null(strstr(err->msg, strerror(cases[i].errnum)));
        err_free(err);
    }
}

static void test_code_names(void **state)
{
    (void)state;
    assert_string_equal(err_code_name(ERR_INVALID), "INVALID");
    assert_string_equal(err_code_name(ERR_CAPACITY), "CAPACITY");
    assert_string_equal(err_code_name(0), "UNKNOWN");
    assert_string_equal(err_code_name(ERR_LAST), "UNKNOWN");
    for (int c = ERR_INVALID; c < ERR_LAST; c++)
        assert_string_not_equal(err_code_name((enum err_code)c), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_wrap),
        cmocka_unit_test(test_null_err_is_allowed),
        cmocka_unit_test(test_newest_error_wins),
        cmocka_unit_test(test_errno_mapping),
        cmocka_unit_test(test_code_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
