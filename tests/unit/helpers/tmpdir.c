#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

char *test_tmpdir(const char *tag)
{
    char *dir = xasprintf("/tmp/sculpt-%s.XXXXXX", tag);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "test_tmpdir: mkdtemp `%s`: %s\n", dir, strerror(errno));
        abort();
    }
    return dir;
}

static int rmtree_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0) {
        fprintf(stderr, "test_rmtree: remove `%s`: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int test_rmtree(const char *dir)
{
    return nftw(dir, rmtree_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int test_tmpdir_setup(void **state)
{
    *state = test_tmpdir("unit");
    return 0;
}

int test_tmpdir_teardown(void **state)
{
    char *dir = *state;
    int rc = test_rmtree(dir);
    free(dir);
    return rc;
}
