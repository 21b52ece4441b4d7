/* Scratch folders for the unit tests, removed with what they hold. */
#ifndef SC_TESTS_TMPDIR_H
#define SC_TESTS_TMPDIR_H

/* A new empty folder /tmp/sculpt-<tag>.XXXXXX.  Aborts on failure;
 * caller removes it with test_rmtree() and frees the path. */
char *test_tmpdir(const char *tag);

/* Remove dir and everything under it (symbolic links not followed).
 * Returns 0, or -1 after printing what could not be removed. */
int test_rmtree(const char *dir);

/* cmocka setup and teardown: *state is a test_tmpdir("unit") path for
 * the test, removed after it whether it passed or failed. */
int test_tmpdir_setup(void **state);
int test_tmpdir_teardown(void **state);

#endif
