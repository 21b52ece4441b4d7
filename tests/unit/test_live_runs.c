/* The live migrations out of a host (openstack/live_runs.h): they wait
 * in a FIFO queue and run in their turn, at most max_running at once (0:
 * no limit), each on a thread of the registry's; an abort of a queued one
 * takes it out (its job back to the caller), of a held one fails its
 * release, of one preparing ends the move before its copy, of one copying
 * is handed to it once; another migration's id, or none, is refused; a
 * forced completion only while the copy runs; closing hands the queued
 * ones back; an abort racing the migration's end either reaches it or
 * finds nothing, never a stale entry; and what start-up does with a
 * migration a restart cut. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/hypervisor.h"
#include "openstack/live_runs.h"

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define U3 "33333333-3333-4333-8333-333333333333"

#define MAXJOBS 4096

/* The run callback's side: which jobs (small integers) ran, in which
 * order, how many at once at most; each runs until the test lets it
 * finish (finish()). */
struct h {
    pthread_mutex_t m;
    pthread_cond_t c;
    int order[MAXJOBS];
    int nstarted;
    bool done[MAXJOBS];
    int running, max_seen;
};

static struct h H;

static void h_reset(void)
{
    pthread_mutex_destroy(&H.m);
    pthread_cond_destroy(&H.c);
    memset(&H, 0, sizeof(H));
    pthread_mutex_init(&H.m, NULL);
    pthread_cond_init(&H.c, NULL);
}

static void run_job(void *opaque, void *job)
{
    (void)opaque;
    int id = (int)(intptr_t)job;
    pthread_mutex_lock(&H.m);
    H.order[H.nstarted++] = id;
    if (++H.running > H.max_seen)
        H.max_seen = H.running;
    pthread_cond_broadcast(&H.c);
    while (!H.done[id])
        pthread_cond_wait(&H.c, &H.m);
    H.running--;
    pthread_mutex_unlock(&H.m);
}

static bool started(int id)
{
    for (int k = 0; k < H.nstarted; k++)
        if (H.order[k] == id)
            return true;
    return false;
}

/* Wait until job id runs (its entry preparing). */
static void wait_started(int id)
{
    pthread_mutex_lock(&H.m);
    while (!started(id))
        pthread_cond_wait(&H.c, &H.m);
    pthread_mutex_unlock(&H.m);
}

static void finish(int id)
{
    pthread_mutex_lock(&H.m);
    H.done[id] = true;
    pthread_cond_broadcast(&H.c);
    pthread_mutex_unlock(&H.m);
}

static int nstarted(void)
{
    pthread_mutex_lock(&H.m);
    int n = H.nstarted;
    pthread_mutex_unlock(&H.m);
    return n;
}

static struct os_live_runs *runs_new(unsigned max)
{
    h_reset();
    return os_live_runs_new(max, run_job, NULL);
}

/* Migration id of uuid queued and let go, job `id`. */
static void submit(struct os_live_runs *r, const char *uuid, int id)
{
    assert_int_equal(os_live_runs_queue(r, uuid, id, NULL), 0);
    assert_true(os_live_runs_release(r, uuid, (void *)(intptr_t)id));
}

/* Its run over as the compute's: the entry ended, the job returns. */
static bool end_run(struct os_live_runs *r, const char *uuid, int id)
{
    bool aborted = os_live_runs_end(r, uuid);
    finish(id);
    return aborted;
}

static void runs_free(struct os_live_runs *r)
{
    void **jobs = NULL;
    assert_int_equal(os_live_runs_close(r, &jobs), 0);
    free(jobs);
    os_live_runs_wait(r);
    os_live_runs_free(r);
}

static void test_abort_running(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(1);
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL, NULL), OS_LIVE_NONE);
    submit(r, U1, 7);
    wait_started(7);
    struct err *e = NULL;
    assert_int_equal(os_live_runs_queue(r, U1, 8, &e), -1);
    assert_int_equal(err_code_of(e), ERR_CONFLICT);
    err_free(e);
    assert_true(os_live_runs_start(r, U1));
    assert_int_equal(os_live_runs_take(r, U1), 0);
    int64_t cur = 0;
    assert_int_equal(os_live_runs_abort(r, U1, 8, &cur, NULL), OS_LIVE_OTHER);
    assert_int_equal(cur, 7);
    assert_int_equal(os_live_runs_abort(r, U2, 7, NULL, NULL), OS_LIVE_NONE);
    assert_int_equal(os_live_runs_take(r, U1), 0); /* refused ones ask nothing */
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL, NULL), OS_LIVE_TAKEN); /* once handed */
    assert_int_equal(os_live_runs_take(r, U1), DRV_HV_LIVE_ABORT);
    assert_int_equal(os_live_runs_take(r, U1), 0);
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), 0); /* handed already */
    assert_true(end_run(r, U1, 7));
    assert_int_equal(os_live_runs_abort(r, U1, 7, NULL, NULL), OS_LIVE_NONE);
    assert_false(os_live_runs_end(r, U1));
    runs_free(r);
}

static void test_abort_preparing(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(1);
    submit(r, U1, 3);
    wait_started(3);
    assert_int_equal(os_live_runs_take(r, U1), 0);
    assert_int_equal(os_live_runs_abort(r, U1, 3, NULL, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), 0); /* nothing runs to abort */
    assert_false(os_live_runs_start(r, U1));       /* the move ends before its copy */
    assert_true(end_run(r, U1, 3));
    /* not aborted: ends as it went */
    submit(r, U1, 4);
    wait_started(4);
    assert_true(os_live_runs_start(r, U1));
    assert_false(end_run(r, U1, 4));
    runs_free(r);
}

static void test_force(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(0);
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_NONE);
    submit(r, U1, 5);
    submit(r, U2, 6);
    wait_started(5);
    wait_started(6);
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_PREPARING);
    assert_true(os_live_runs_start(r, U1));
    assert_int_equal(os_live_runs_take(r, U1), 0); /* asked before it ran: not kept */
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_abort(r, U1, 5, NULL, NULL), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), DRV_HV_LIVE_FORCE_COMPLETE | DRV_HV_LIVE_ABORT);
    assert_int_equal(os_live_runs_take(r, U2), 0); /* the other instance's is its own */
    assert_true(end_run(r, U1, 5));
    assert_false(end_run(r, U2, 6));
    runs_free(r);
}

/* In post-copy the guest runs on the destination: an abort is refused
 * (Nova's manager finds the migration no longer `running`), a force is
 * taken (the driver finds nothing more to do). */
static void test_postcopy(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(1);
    submit(r, U1, 9);
    wait_started(9);
    assert_true(os_live_runs_start(r, U1));
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_TAKEN);
    assert_int_equal(os_live_runs_take(r, U1), DRV_HV_LIVE_FORCE_COMPLETE);
    os_live_runs_postcopy(r, U1);
    os_live_runs_postcopy(r, U2); /* none: nothing happens */
    assert_int_equal(os_live_runs_abort(r, U1, 9, NULL, NULL), OS_LIVE_POSTCOPY);
    assert_int_equal(os_live_runs_take(r, U1), 0);
    int64_t cur = 0;
    assert_int_equal(os_live_runs_abort(r, U1, 4, &cur, NULL), OS_LIVE_OTHER); /* id first */
    assert_int_equal(cur, 9);
    assert_false(end_run(r, U1, 9)); /* no abort handed */
    runs_free(r);
}

/* max 1 (nova's default): one runs, the others wait in the order they
 * came, `ahead` counts those before; an abort takes a queued one out (it
 * never runs, its job the caller's); a force of a queued one finds no
 * copy; the next starts when the one running is over. */
static void test_queue_order(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(1);
    submit(r, U1, 1);
    wait_started(1);
    submit(r, U2, 2);
    submit(r, U3, 3);
    assert_int_equal(os_live_runs_ahead(r, U1), -1); /* running, not queued */
    assert_int_equal(os_live_runs_ahead(r, U2), 0);
    assert_int_equal(os_live_runs_ahead(r, U3), 1);
    assert_int_equal(os_live_runs_force(r, U2), OS_LIVE_PREPARING);
    assert_int_equal(os_live_runs_take(r, U2), 0);
    assert_false(os_live_runs_start(r, U2)); /* not its turn */
    int64_t cur = 0;
    void *job = NULL;
    assert_int_equal(os_live_runs_abort(r, U2, 5, &cur, &job), OS_LIVE_OTHER);
    assert_int_equal(cur, 2);
    assert_null(job);
    assert_int_equal(os_live_runs_abort(r, U2, 2, NULL, &job), OS_LIVE_DEQUEUED);
    assert_int_equal((int)(intptr_t)job, 2);
    assert_int_equal(os_live_runs_abort(r, U2, 2, NULL, &job), OS_LIVE_NONE);
    assert_int_equal(os_live_runs_ahead(r, U3), 0);
    submit(r, U2, 4); /* queued again: behind U3 */
    assert_int_equal(os_live_runs_ahead(r, U2), 1);
    assert_int_equal(nstarted(), 1);
    assert_true(os_live_runs_start(r, U1));
    assert_false(end_run(r, U1, 1));
    wait_started(3);
    assert_int_equal(nstarted(), 2);
    assert_false(end_run(r, U3, 3));
    wait_started(4);
    assert_false(end_run(r, U2, 4));
    runs_free(r);
    assert_int_equal(H.nstarted, 3);
    assert_int_equal(H.order[0], 1);
    assert_int_equal(H.order[1], 3);
    assert_int_equal(H.order[2], 4);
    assert_int_equal(H.max_seen, 1);
}

/* A limit of 2 runs two at once; 0 runs all at once. */
static void test_limit(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(2);
    submit(r, U1, 1);
    submit(r, U2, 2);
    submit(r, U3, 3);
    wait_started(1);
    wait_started(2);
    assert_int_equal(os_live_runs_ahead(r, U3), 0);
    assert_int_equal(nstarted(), 2);
    assert_false(end_run(r, U2, 2));
    wait_started(3);
    assert_false(end_run(r, U1, 1));
    assert_false(end_run(r, U3, 3));
    runs_free(r);
    assert_int_equal(H.max_seen, 2);

    r = runs_new(0);
    submit(r, U1, 1);
    submit(r, U2, 2);
    submit(r, U3, 3);
    wait_started(1);
    wait_started(2);
    wait_started(3);
    assert_int_equal(os_live_runs_ahead(r, U3), -1);
    assert_false(end_run(r, U1, 1));
    assert_false(end_run(r, U2, 2));
    assert_false(end_run(r, U3, 3));
    runs_free(r);
    assert_int_equal(H.max_seen, 3);
}

/* Held (its cast still saving `queued`): an abort is taken, and the
 * release fails (the cast cancels it, job still its own); closing fails
 * it too, and refuses new ones. */
static void test_held(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(1);
    assert_int_equal(os_live_runs_queue(r, U1, 1, NULL), 0);
    assert_int_equal(os_live_runs_ahead(r, U1), 0);
    assert_int_equal(os_live_runs_force(r, U1), OS_LIVE_PREPARING);
    void *job = NULL;
    assert_int_equal(os_live_runs_abort(r, U1, 1, NULL, &job), OS_LIVE_TAKEN);
    assert_null(job);
    assert_false(os_live_runs_release(r, U1, (void *)1));
    assert_int_equal(os_live_runs_abort(r, U1, 1, NULL, &job), OS_LIVE_NONE);
    assert_int_equal(os_live_runs_queue(r, U1, 2, NULL), 0);
    void **jobs = NULL;
    assert_int_equal(os_live_runs_close(r, &jobs), 0); /* held: its cast cancels it */
    free(jobs);
    assert_false(os_live_runs_release(r, U1, (void *)2));
    struct err *e = NULL;
    assert_int_equal(os_live_runs_queue(r, U2, 3, &e), -1);
    assert_int_equal(err_code_of(e), ERR_UNAVAILABLE);
    err_free(e);
    os_live_runs_wait(r);
    os_live_runs_free(r);
    assert_int_equal(H.nstarted, 0);
}

/* The service stops (nova's cleanup_host): the queued ones come back in
 * their order, the running one is waited for, nothing else starts. */
static void test_close(void **state)
{
    (void)state;
    struct os_live_runs *r = runs_new(1);
    submit(r, U1, 1);
    wait_started(1);
    submit(r, U2, 2);
    submit(r, U3, 3);
    void **jobs = NULL;
    assert_int_equal(os_live_runs_close(r, &jobs), 2);
    assert_int_equal((int)(intptr_t)jobs[0], 2);
    assert_int_equal((int)(intptr_t)jobs[1], 3);
    free(jobs);
    assert_int_equal(os_live_runs_abort(r, U2, 2, NULL, NULL), OS_LIVE_NONE);
    assert_true(os_live_runs_start(r, U1));
    assert_false(end_run(r, U1, 1));
    os_live_runs_wait(r);
    os_live_runs_free(r);
    assert_int_equal(H.nstarted, 1);
}

/* Start-up after a restart (nova's _reset_live_migration, nothing lost). */
static void test_restart_rule(void **state)
{
    (void)state;
    struct os_live_restart x;
    os_live_restart_rule("queued", &x);
    assert_true(x.undo && !x.abort_job && !x.dest_prepared);
    os_live_restart_rule("accepted", &x);
    assert_true(x.undo && !x.abort_job && !x.dest_prepared);
    os_live_restart_rule("preparing", &x);
    assert_true(x.undo && !x.abort_job && x.dest_prepared);
    os_live_restart_rule("running", &x);
    assert_true(x.undo && x.abort_job && x.dest_prepared);
    os_live_restart_rule("running (post-copy)", &x);
    assert_true(!x.undo && !x.abort_job && !x.dest_prepared);
    os_live_restart_rule(NULL, &x);
    assert_true(x.undo && !x.abort_job && !x.dest_prepared);
    /* its guest gone from here: finished only once its copy began */
    assert_true(os_live_restart_finished("running"));
    assert_true(os_live_restart_finished("running (post-copy)"));
    assert_false(os_live_restart_finished("preparing"));
    assert_false(os_live_restart_finished("queued"));
    assert_false(os_live_restart_finished(NULL));
}

/* Aborts racing the migrations from another thread: every abort is
 * DEQUEUED while queued, TAKEN while it runs or NONE; none lands on the
 * next migration of the instance. */
struct racer {
    struct os_live_runs *r;
    int taken, none, other, dequeued;
    int wrong; /* jobs of migration 2 an abort of migration 1 took out */
    int stop;
};

static void *abort_racer(void *arg)
{
    struct racer *x = arg;
    while (!__atomic_load_n(&x->stop, __ATOMIC_SEQ_CST)) {
        void *job = NULL;
        switch (os_live_runs_abort(x->r, U1, 1, NULL, &job)) {
        case OS_LIVE_DEQUEUED:
            x->dequeued++;
            if ((int)(intptr_t)job % 2 != 1) /* no cmocka assert off its thread */
                x->wrong++;
            pthread_mutex_lock(&H.m);
            H.done[(int)(intptr_t)job] = true; /* never runs: counted as over */
            H.order[H.nstarted++] = -(int)(intptr_t)job;
            pthread_cond_broadcast(&H.c);
            pthread_mutex_unlock(&H.m);
            break;
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
    struct racer x = {.r = runs_new(1)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, abort_racer, &x), 0);
    int ended_aborted = 0, dequeued = 0;
    for (int i = 1; i < 1000; i++) {
        /* odd jobs are migration 1 (aborted), even ones migration 2 */
        int64_t id = i % 2 ? 1 : 2;
        assert_int_equal(os_live_runs_queue(x.r, U1, id, NULL), 0);
        if (!os_live_runs_release(x.r, U1, (void *)(intptr_t)i)) {
            assert_int_equal(id, 1); /* aborted while held */
            ended_aborted++;
            continue;
        }
        pthread_mutex_lock(&H.m);
        while (!started(i) && !started(-i))
            pthread_cond_wait(&H.c, &H.m);
        bool ran = started(i);
        pthread_mutex_unlock(&H.m);
        if (!ran) {
            dequeued++;
            continue;
        }
        bool go = os_live_runs_start(x.r, U1);
        unsigned asked = go ? os_live_runs_take(x.r, U1) : 0;
        bool aborted = end_run(x.r, U1, i);
        if (id == 2)
            assert_false(aborted || !go || asked);
        else /* ended cancelled exactly when the abort reached it */
            assert_true(aborted == (!go || (asked & DRV_HV_LIVE_ABORT) != 0));
        ended_aborted += aborted;
    }
    __atomic_store_n(&x.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    assert_int_equal(dequeued, x.dequeued);
    /* only migration 1's jobs were taken out (an abort that found migration
     * 2 under way counts in `other`, as often as the racer spun) */
    assert_int_equal(x.wrong, 0);
    /* each move that ended cancelled had an abort taken for it */
    assert_true(ended_aborted <= x.taken);
    runs_free(x.r);
}

int main(void)
{
    pthread_mutex_init(&H.m, NULL);
    pthread_cond_init(&H.c, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abort_running), cmocka_unit_test(test_abort_preparing),
        cmocka_unit_test(test_force),         cmocka_unit_test(test_postcopy),
        cmocka_unit_test(test_queue_order),   cmocka_unit_test(test_limit),
        cmocka_unit_test(test_held),          cmocka_unit_test(test_close),
        cmocka_unit_test(test_restart_rule),  cmocka_unit_test(test_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
