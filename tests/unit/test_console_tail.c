#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "openstack/console_tail.h"

/* Each answer is what Python gives for '\n'.join(log.split('\n')[-n:]). */
static void test_console_tail(void **state)
{
    (void)state;
    assert_string_equal(os_console_tail("a\nb\nc\nd\n", 3), "c\nd\n");
    assert_string_equal(os_console_tail("a\nb\nc\nd", 3), "b\nc\nd");
    assert_string_equal(os_console_tail("a\nb\n", 3), "a\nb\n");
    assert_string_equal(os_console_tail("a\nb\n", 1), "");
    assert_string_equal(os_console_tail("a\nb", 1), "b");
    assert_string_equal(os_console_tail("a\nb\nc", 0), "");
    assert_string_equal(os_console_tail("", 5), "");
    assert_string_equal(os_console_tail("\n\n", 2), "\n");
    assert_string_equal(os_console_tail("one line", 10), "one line");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_console_tail)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
