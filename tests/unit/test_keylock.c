/* Locks named by strings: one holder per name, other names free, waiters
 * served in turn, nothing left once all are released. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "common/keylock.h"

struct contender {
    struct keylocks *t;
    const char *key;
    int *inside; /* holders of `key` at once, under the key's lock */
    int max_inside;
    int rounds;
};

static void *contend(void *arg)
{
    struct contender *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        struct keylock *l = keylock_acquire(c->t, c->key);
        int now = __atomic_add_fetch(c->inside, 1, __ATOMIC_SEQ_CST);
        if (now > c->max_inside)
            c->max_inside = now;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL); /* hold it long enough for others to queue */
        __atomic_sub_fetch(c->inside, 1, __ATOMIC_SEQ_CST);
        keylock_release(c->t, l);
    }
    return NULL;
}

static void test_exclusive(void **state)
{
    (void)state;
    autoptr(keylocks) t = keylocks_new();
    int inside = 0;
    enum { N = 4 };
    struct contender cs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        cs[i] = (struct contender){.t = t, .key = "6f0c1a2b", .inside = &inside, .rounds = 200};
        assert_int_equal(pthread_create(&th[i], NULL, contend, &cs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(cs[i].max_inside, 1);
    }
    assert_int_equal(inside, 0);
}

static void test_names(void **state)
{
    (void)state;
    autoptr(keylocks) t = keylocks_new();
    struct keylock *a = keylock_acquire(t, "a");
    /* another name does not wait for `a` (this would hang otherwise) */
    struct keylock *b = keylock_acquire(t, "b");
    assert_ptr_not_equal(a, b);
    keylock_release(t, a);
    keylock_release(t, b);
    keylock_release(t, NULL);
    /* released and made again: the table forgot the first (ASan sees a
     * leak or a use after free otherwise) */
    a = keylock_acquire(t, "a");
    keylock_release(t, a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exclusive),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
