/* The string -> index map: lookups, replacement, growth past many keys,
 * keys that are not NUL-terminated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/strmap.h"

static void test_strmap(void **state)
{
    (void)state;
    autoptr(strmap) m = strmap_new();
    assert_int_equal(strmap_get(m, "a"), -1);
    strmap_put(m, "a", 1);
    strmap_put(m, "b", 2);
    strmap_put(m, "a", 3);
    assert_int_equal(strmap_get(m, "a"), 3);
    assert_int_equal(strmap_get(m, "b"), 2);
    assert_int_equal(strmap_size(m), 2);
    assert_int_equal(strmap_get(m, ""), -1);
    strmap_put(m, "", 7);
    assert_int_equal(strmap_get(m, ""), 7);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "class-%d", i);
        strmap_put(m, key, i);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "class-%d", i);
        assert_int_equal(strmap_get(m, key), i);
    }
    assert_int_equal(strmap_size(m), 10003);
    assert_int_equal(strmap_get_len(m, "class-12xyz", 8), 12);
    strmap_put_len(m, "abcdef", 2, 9);
    assert_int_equal(strmap_get(m, "ab"), 9);
    strmap_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
