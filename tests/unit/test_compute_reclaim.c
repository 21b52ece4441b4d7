/* When a soft-deleted server is reclaimed (compute_reclaim.c): Zed's
 * _reclaim_queued_deletes with _deleted_old_enough. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "openstack/compute_priv.h"

static void test_due(void **state)
{
    (void)state;
    const int64_t now = 1800000000;
    /* off: never */
    assert_false(os_reclaim_due(0, true, now - 86400, now));
    /* older than the interval, strictly (timeutils.is_older_than) */
    assert_true(os_reclaim_due(60, true, now - 61, now));
    assert_false(os_reclaim_due(60, true, now - 60, now));
    assert_false(os_reclaim_due(60, true, now - 5, now));
    /* a deleted_at in the future (clocks apart): not yet */
    assert_false(os_reclaim_due(60, true, now + 30, now));
    /* no deleted_at: old enough */
    assert_true(os_reclaim_due(60, false, 0, now));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
