/* The live migrations under way as their abort and force-complete find
 * them (openstack/live_runs.h): an abort while the destination prepares
 * ends the move before its copy; one while it copies is handed to the
 * migration once; another migration's id, or none, is refused; a forced
 * completion only while the copy runs; an abort racing the migration's
 * end either reaches it or finds nothing, never a stale entry. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/hypervisor.h"
#include "openstack/live_runs.h"

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"

static void test_abort_running(void **state)
{
    (void)state;
    struct os_live_runs *r = os_live_runs_new();
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL), OS_LIVE_NONE);
    assert_int_equal(os_live_runs_begin(r, U1, 7, NULL), 0);
    struct err *e = NULL;
    assert_int_equal(os_live_runs_begin(r, U1, 8, &e), -1);
    assert_int_equal(err_code_of(e), ERR_CONFLICT);
    err_free(e);
    assert_true(os_live_runs_start(r, U1));
    assert_int_equal(os_live_runs_take(r, U1), 0);
    int64_t cur = 0;
    assert_int_equal(os_live_runs_abort(r, U1, 8, &cur), OS_LIVE_OTHER);
    assert_int_equal(cur, 7);
    assert_int_equal(os_live_runs_abort(r, U2, 7, NULL), OS_LIVE_NONE);
    assert_int_equal(os_live_runs_take(r, U1), 0); /* refused ones ask nothing */
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL), OS_LIVE_TAKEN); /* twice: once handed */
    assert_int_equal(os_live_runs_take(r, U1), DRV_HV_LIVE_ABORT);
    assert_int_equal(os_live_runs_take(r, U1), 0);
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), 0); /* handed already */
    assert_true(os_live_runs_end(r, U1));
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL), OS_LIVE_NONE);
    assert_false(os_live_runs_end(r, U1));
    os_live_runs_free(r);
}

static void test_abort_preparing(void **state)
{
    (void)state;
    struct os_live_runs *r = os_live_runs_new();
    assert_int_equal(os_live_runs_begin(r, U1, 3, NULL), 0);
    assert_int_equal(os_live_runs_take(r, U1), 0);
    assert_int_equal(os_live_runs_abort(r, U1, 3, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), 0); /* nothing runs to abort */
    assert_false(os_live_runs_start(r, U1));       /* the move ends before its copy */
    assert_true(os_live_runs_end(r, U1));
    /* not aborted: ends as it went */
    assert_int_equal(os_live_runs_begin(r, U1, 4, NULL), 0);
    assert_true(os_live_runs_start(r, U1));
    assert_false(os_live_runs_end(r, U1));
    os_live_runs_free(r);
}

static void test_force(void **state)
{
    (void)state;
    struct os_live_runs *r = os_live_runs_new();
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_NONE);
    assert_int_equal(os_live_runs_begin(r, U1, 5, NULL), 0);
    assert_int_equal(os_live_runs_begin(r, U2, 6, NULL), 0);
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_PREPARING);
    assert_true(os_live_runs_start(r, U1));
    assert_int_equal(os_live_runs_take(r, U1), 0); /* asked before it ran: not kept */
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_abort(r, U1, 5, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), DRV_HV_LIVE_FORCE_COMPLETE | DRV_HV_LIVE_ABORT);
    assert_int_equal(os_live_runs_take(r, U2), 0); /* the other instance's is its own */
    assert_true(os_live_runs_end(r, U1));
    assert_false(os_live_runs_end(r, U2));
    os_live_runs_free(r);
}

/* In post-copy the guest runs on the destination: an abort is refused
 * (Nova's manager finds the migration no longer `running`), a force is
 * taken (the driver finds nothing more to do). */
static void test_postcopy(void **state)
{
    (void)state;
    struct os_live_runs *r = os_live_runs_new();
    assert_int_equal(os_live_runs_begin(r, U1, 9, NULL), 0);
    assert_true(os_live_runs_start(r, U1));
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), DRV_HV_LIVE_FORCE_COMPLETE);
    os_live_runs_postcopy(r, U1);
    os_live_runs_postcopy(r, U2); /* none: nothing happens */
    assert_int_equal(os_live_runs_abort(r, U1, 9, NULL), OS_LIVE_POSTCOPY);
    assert_int_equal(os_live_runs_take(r, U1), 0);
    int64_t cur = 0;
    assert_int_equal(os_live_runs_abort(r, U1, 4, &cur), OS_LIVE_OTHER); /* another id first */
    assert_int_equal(cur, 9);
    assert_false(os_live_runs_end(r, U1)); /* no abort handed */
    os_live_runs_free(r);
}

/* Aborts racing the migration's end from another thread: every abort
 * either is TAKEN while the entry exists or finds NONE; none lands on the
 * next migration of the instance. */
struct racer {
    struct os_live_runs *r;
    int taken, none, other;
    int stop;
};

static void *abort_racer(void *arg)
{
    struct racer *x = arg;
    while (!__atomic_load_n(&x->stop, __ATOMIC_SEQ_CST)) {
        switch (os_live_runs_abort(x->r, U1, 1, NULL)) {
        case OS_LIVE_TAKEN:
            x->taken++;
            break;
        case OS_LIVE_NONE:
            x->none++;
            break;
        default:
            x->other++;
            break;
        }
    }
    return NULL;
}

static void test_race(void **state)
{
    (void)state;
    struct racer x = {.r = os_live_runs_new()};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, abort_racer, &x), 0);
    int ended_aborted = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t id = i % 2 ? 2 : 1; /* migration 2 is never the one aborted */
        assert_int_equal(os_live_runs_begin(x.r, U1, id, NULL), 0);
        bool started = os_live_runs_start(x.r, U1);
        unsigned asked = started ? os_live_runs_take(x.r, U1) : 0;
        bool aborted = os_live_runs_end(x.r, U1);
        if (id == 2)
            assert_false(aborted || !started || asked);
        else /* ended cancelled exactly when the abort reached it */
            assert_true(aborted == (!started || (asked & DRV_HV_LIVE_ABORT) != 0));
        ended_aborted += aborted;
    }
    __atomic_store_n(&x.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    /* each move that ended cancelled had an abort taken for it */
    assert_true(ended_aborted <= x.taken);
    os_live_runs_free(x.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abort_running), cmocka_unit_test(test_abort_preparing),
        cmocka_unit_test(test_force),         cmocka_unit_test(test_postcopy),
        cmocka_unit_test(test_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
