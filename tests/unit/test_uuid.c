#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/uuid.h"

static void test_uuid(void **state)
{
    (void)state;
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    assert_int_equal(uuid_generate(a, NULL), 0);
    assert_int_equal(uuid_generate(b, NULL), 0);
    assert_true(uuid_is_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_true(uuid_is_valid("6F8C1A2E-0000-4000-8000-000000000001"));
    assert_false(uuid_is_valid("6f8c1a2e-0000-4000-8000-00000000000"));
    assert_false(uuid_is_valid("6f8c1a2e00000-4000-8000-000000000001"));
    assert_false(uuid_is_valid("6f8c1a2e-0000-4000-8000-00000000000g"));
    assert_false(uuid_is_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_uuid)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
