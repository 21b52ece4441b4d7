/* The image cache manager's pass (openstack/image_cache_age.c) on real
 * files: what is in use is kept and marked used, what is unused for the
 * minimum age goes (or is only counted with removal off), what a fetch
 * holds waits, a download a crash left goes, and foreign files stay. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "helpers/tmpdir.h"
#include "openstack/image_cache.h"

#define IMG_USED "11111111-2222-4333-8444-555555555551"
#define IMG_OLD "11111111-2222-4333-8444-555555555552"
#define IMG_YOUNG "11111111-2222-4333-8444-555555555553"
#define IMG_HELD "11111111-2222-4333-8444-555555555554"
#define IMG_PART "11111111-2222-4333-8444-555555555555"

#define DAY 86400

/* A file `name` in dir, `bytes` long, last modified `age_s` ago. */
static void put(const char *dir, const char *name, size_t bytes, time_t age_s)
{
    autofree char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (size_t i = 0; i < bytes; i++)
        fputc('x', f);
    fclose(f);
    struct timespec t[2] = {{.tv_sec = time(NULL) - age_s}, {.tv_sec = time(NULL) - age_s}};
    assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
}

static bool exists(const char *dir, const char *name)
{
    autofree char *p = xasprintf("%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static time_t age_of(const char *dir, const char *name)
{
    autofree char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return time(NULL) - st.st_mtim.tv_sec;
}

static void test_pass(void **state)
{
    const char *dir = *state;
    struct err *err = NULL;
    struct os_image_cache *c = os_image_cache_new(dir, NULL, 0, &err);
    assert_non_null(c);
    put(dir, IMG_USED, 10, 3 * DAY);
    put(dir, IMG_OLD, 100, 2 * DAY);
    put(dir, IMG_YOUNG, 10, DAY / 2);
    put(dir, IMG_HELD, 10, 3 * DAY);
    put(dir, IMG_PART, 10, 0); /* a download under way would hold its lock */
    put(dir, IMG_PART ".part", 10, 60);
    put(dir, "README", 10, 9 * DAY);
    put(dir, IMG_OLD ".qcow2", 10, 9 * DAY); /* not an image of the cache's naming */
    /* a fetch holding IMG_HELD (its own open file: flock is per open) */
    autofree char *lock = xasprintf("%s/%s.lock", dir, IMG_HELD);
    int held = open(lock, O_CREAT | O_RDWR, 0644);
    assert_true(held >= 0);
    assert_int_equal(flock(held, LOCK_EX), 0);
    /* the guest names its image through another spelling of the folder */
    autofree char *used = xasprintf("%s/./%s", dir, IMG_USED);
    char *in_use[] = {used, (char *)"/elsewhere/kernel"};

    struct os_image_cache_pass pass;
    /* removal off: counted, nothing removed */
    assert_int_equal(os_image_cache_age(c, in_use, 2, DAY, false, &pass, &err), 0);
    assert_int_equal(pass.removable, 1); /* IMG_OLD */
    assert_int_equal(pass.removed, 0);
    assert_true(exists(dir, IMG_OLD));
    assert_int_equal(pass.in_use, 1);
    assert_true(age_of(dir, IMG_USED) < 60);
    assert_int_equal(pass.young, 2); /* IMG_YOUNG, IMG_PART */
    assert_int_equal(pass.busy, 1);
    /* garbage whatever the setting: no fetch holds its image */
    assert_int_equal(pass.leftovers, 1);
    assert_false(exists(dir, IMG_PART ".part"));

    put(dir, IMG_USED, 10, 3 * DAY);
    assert_int_equal(os_image_cache_age(c, in_use, 2, DAY, true, &pass, &err), 0);
    assert_int_equal(pass.in_use, 1);
    assert_true(exists(dir, IMG_USED));
    assert_true(age_of(dir, IMG_USED) < 60);
    assert_int_equal(pass.young, 2);
    assert_int_equal(pass.removed, 1);
    assert_int_equal(pass.bytes_removed, 100);
    assert_false(exists(dir, IMG_OLD));
    assert_true(exists(dir, IMG_YOUNG));
    assert_true(exists(dir, IMG_HELD));
    assert_int_equal(pass.busy, 1);
    assert_int_equal(pass.leftovers, 0);
    assert_true(exists(dir, "README"));
    assert_true(exists(dir, IMG_OLD ".qcow2"));

    /* released: the held image goes at the next pass */
    close(held);
    assert_int_equal(os_image_cache_age(c, in_use, 2, DAY, true, &pass, &err), 0);
    assert_false(exists(dir, IMG_HELD));
    assert_int_equal(pass.removed, 1);
    assert_int_equal(pass.young, 2);

    /* a cache folder gone: an error, nothing else */
    os_image_cache_free(c);
    autofree char *gone = xasprintf("%s/gone", dir);
    c = os_image_cache_new(gone, NULL, 0, &err);
    assert_non_null(c);
    assert_int_equal(rmdir(gone), 0);
    assert_int_equal(os_image_cache_age(c, NULL, 0, DAY, true, &pass, &err), -1);
    err_clear(&err);
    os_image_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pass, test_tmpdir_setup, test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
