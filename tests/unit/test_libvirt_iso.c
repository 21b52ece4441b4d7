/* Config drive images made in-process (driver/libvirt/iso.c, configdrive.c)
 * read back by another implementation: genisoimage's isoinfo (package
 * group isofs), through the Rock Ridge and the Joliet trees, byte for
 * byte; the volume id from the primary volume descriptor. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "driver/hypervisor.h"
#include "driver/libvirt/configdrive.h"
#include "driver/libvirt/iso.h"
#include "helpers/tmpdir.h"

static char *tmp; /* the group's scratch folder (helpers/tmpdir) */

static int setup(void **state)
{
    (void)state;
    tmp = test_tmpdir("test-iso");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = test_rmtree(tmp);
    free(tmp);
    tmp = NULL;
    return rc;
}

/* All of a command's standard output (it must exit 0). */
static char *run_out(const char *cmd, size_t *len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    autostrbuf out = STRBUF_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        strbuf_append_len(&out, buf, n);
    assert_int_equal(pclose(p), 0);
    *len = out.len;
    return out.s ? strbuf_steal(&out) : xstrdup("");
}

/* `f` as isoinfo reads it from `iso` through `tree` ("-R" or "-J"). */
static void assert_file_read_back(const char *iso, const char *tree, const struct drv_hv_file *f)
{
    autofree char *cmd = xasprintf("isoinfo %s -i '%s' -x '/%s'", tree, iso, f->path);
    size_t len = 0;
    autofree char *got = run_out(cmd, &len);
    if (len != f->len)
        fail_msg("%s: %zu bytes read back, %zu written", cmd, len, f->len);
    assert_memory_equal(got, f->data, f->len);
}

static void assert_volume_id(const char *iso, const char *want)
{
    autofree char *cmd = xasprintf("isoinfo -d -i '%s'", iso);
    size_t len = 0;
    autofree char *d = run_out(cmd, &len);
    autofree char *line = xasprintf("\nVolume id: %s\n", want);
    if (!strstr(d, line))
        fail_msg("no `Volume id: %s` in:\n%s", want, d);
    assert_non_null(strstr(d, "Rock Ridge signatures"));
    assert_non_null(strstr(d, "Joliet with UCS level"));
}

static void drive_free(struct drv_hv_config_drive *cd)
{
    for (size_t i = 0; i < cd->n; i++) {
        free(cd->files[i].path);
        free(cd->files[i].data);
    }
    free(cd->files);
    memset(cd, 0, sizeof(*cd));
}

/* A drive like Nova's, plus the awkward cases: an empty file, a binary
 * blob holding every byte value (NULs too) over several ISO blocks, a name
 * past Joliet's 64 characters, dots where ISO 9660 allows none, a nested
 * folder. */
static void drive_of(struct drv_hv_config_drive *cd)
{
    memset(cd, 0, sizeof(*cd));
    const char *md = "{\"uuid\": \"6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\", \"hostname\": \"vm\"}";
    drv_hv_config_drive_add(cd, "openstack/latest/meta_data.json", md, strlen(md));
    drv_hv_config_drive_add(cd, "openstack/2012-08-10/meta_data.json", md, strlen(md));
    size_t blob_len = 70001;
    autofree unsigned char *blob = xmalloc(blob_len);
    for (size_t i = 0; i < blob_len; i++)
        blob[i] = (unsigned char)(i * 7 + i / 256);
    drv_hv_config_drive_add(cd, "openstack/latest/user_data", blob, blob_len);
    drv_hv_config_drive_add(cd, "openstack/content/0000", "", 0);
    drv_hv_config_drive_add(cd, "ec2/2009-04-04/meta-data.json", md, strlen(md));
    drv_hv_config_drive_add(cd, "ec2/latest/.hidden.several.dots.txt", "dots\n", 5);
    drv_hv_config_drive_add(cd, "openstack/latest/nested/deeper/still/file.txt", "nest\n", 5);
    autofree char *long_name =
        xasprintf("openstack/latest/%s", "a-file-name-well-past-the-sixty-four-characters-"
                                         "of-joliet-and-the-31-of-iso-level-2.json");
    drv_hv_config_drive_add(cd, long_name, "long\n", 5);
}

static void test_image_read_back(void **state)
{
    (void)state;
    struct drv_hv_config_drive cd;
    drive_of(&cd);
    autofree char *iso = xasprintf("%s/disk.config", tmp);
    struct err *err = NULL;
    assert_int_equal(lv_configdrive_write(&cd, iso, &err), 0);
    assert_null(err);
    assert_volume_id(iso, "config-2");
    for (size_t i = 0; i < cd.n; i++) {
        assert_file_read_back(iso, "-R", &cd.files[i]);
        assert_file_read_back(iso, "-J", &cd.files[i]);
    }
    /* -r: readable by all, owned by root, nothing writable */
    autofree char *cmd = xasprintf("isoinfo -R -l -i '%s' | grep -c -- '-r--r--r--  *1  *0  *0 '",
                                   iso);
    size_t len = 0;
    autofree char *count = run_out(cmd, &len);
    assert_int_equal(atoi(count), (int)cd.n);
    /* the image alone is left: no .part, no temporary folder */
    autofree char *ls = xasprintf("test \"$(ls -A '%s')\" = disk.config", tmp);
    assert_int_equal(system(ls), 0);

    /* a drive that fails leaves the image in place untouched */
    struct stat before, after;
    assert_int_equal(stat(iso, &before), 0);
    char name[300];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    autofree char *too_long = xasprintf("openstack/%s", name);
    drv_hv_config_drive_add(&cd, too_long, "x", 1);
    assert_int_equal(lv_configdrive_write(&cd, iso, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    assert_non_null(strstr(err->msg, "nnnnnnnn"));
    err_clear(&err);
    assert_int_equal(stat(iso, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(system(ls), 0);
    drive_free(&cd);
    unlink(iso);
}

static void test_errors(void **state)
{
    (void)state;
    struct drv_hv_config_drive cd;
    drive_of(&cd);
    struct err *err = NULL;

    /* a folder that is not there: the errno's code, nothing made */
    assert_int_equal(lv_configdrive_write(&cd, "/nonexistent-sculpt/disk.config", &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    assert_non_null(strstr(err->msg, "/nonexistent-sculpt/disk.config.part"));
    err_clear(&err);
    /* a path that is a folder */
    assert_int_equal(lv_iso_write(&(struct lv_iso_label){.volume_id = "config-2"}, cd.files,
                                  cd.n, tmp, &err),
                     -1);
    assert_non_null(strstr(err->msg, "create"));
    err_clear(&err);
    /* relative */
    assert_int_equal(lv_configdrive_write(&cd, "disk.config", &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);

    autofree char *iso = xasprintf("%s/bad.iso", tmp);
    /* a volume id over 32 characters */
    struct lv_iso_label long_id = {.volume_id = "a-volume-id-of-thirty-three-chars"};
    assert_int_equal(lv_iso_write(&long_id, cd.files, cd.n, iso, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    /* a name Rock Ridge cannot hold (255 bytes) is refused, not cut */
    char name[300];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    autofree char *too_long = xasprintf("openstack/%s", name);
    struct drv_hv_file lf = {.path = too_long, .data = (char *)"x", .len = 1};
    struct lv_iso_label label = {.volume_id = "config-2"};
    assert_int_equal(lv_iso_write(&label, &lf, 1, iso, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    assert_non_null(strstr(err->msg, "nnnnnnnn"));
    err_clear(&err);
    autofree char *too_long_dir = xasprintf("%s/x", name);
    lf.path = too_long_dir;
    assert_int_equal(lv_iso_write(&label, &lf, 1, iso, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    /* a file where a folder must be, either way round */
    struct drv_hv_file clash[] = {{.path = (char *)"a", .data = (char *)"x", .len = 1},
                                  {.path = (char *)"a/b", .data = (char *)"x", .len = 1}};
    assert_int_equal(lv_iso_write(&label, clash, 2, iso, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    assert_non_null(strstr(err->msg, "`a/b`: `a` is a file, not a folder"));
    err_clear(&err);
    struct drv_hv_file clash2[] = {clash[1], clash[0]};
    assert_int_equal(lv_iso_write(&label, clash2, 2, iso, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    assert_non_null(strstr(err->msg, "`a` is a folder, not a file"));
    err_clear(&err);
    /* a bad drive is refused before any file is made */
    drv_hv_config_drive_add(&cd, "../escape", "x", 1);
    assert_int_equal(lv_configdrive_write(&cd, iso, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_not_equal(access(iso, F_OK), 0);
    drive_free(&cd);
}

/* Images made at once from several threads come out whole and each
 * with its own label. */
struct job {
    char iso[256];
    char label[16];
    int rc;
};

static void *make_one(void *arg)
{
    struct job *j = arg;
    struct drv_hv_config_drive cd;
    drive_of(&cd);
    struct lv_iso_label label = {.volume_id = j->label, .publisher = "sculpt tests"};
    struct err *err = NULL;
    j->rc = lv_iso_write(&label, cd.files, cd.n, j->iso, &err);
    err_clear(&err);
    drive_free(&cd);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 4 };
    struct job jobs[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        snprintf(jobs[i].iso, sizeof(jobs[i].iso), "%s/t%d.iso", tmp, i);
        snprintf(jobs[i].label, sizeof(jobs[i].label), "vol-%d", i);
        jobs[i].rc = -2;
        assert_int_equal(pthread_create(&t[i], NULL, make_one, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    struct drv_hv_config_drive cd;
    drive_of(&cd);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_volume_id(jobs[i].iso, jobs[i].label);
        assert_file_read_back(jobs[i].iso, "-R", drv_hv_config_drive_get(&cd, "openstack/latest/user_data"));
        unlink(jobs[i].iso);
    }
    drive_free(&cd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_image_read_back),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
