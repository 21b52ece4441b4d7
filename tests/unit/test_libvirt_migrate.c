/* Cold migration's pure parts in the libvirt backend: the ssh, rsync and
 * scp argument vectors, the quoting of remote commands, host names, and
 * the disk_info record; the staging folder of a move that is over removed
 * (migrate_cleanup, on test:///default).  The real copy between two libvirtds is tested by
 * tests/integration/libvirt_migrate.sh. */
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
#include "common/config.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "driver/hypervisor.h"
#include "driver/libvirt/migrate.h"
#include "driver/libvirt/transfer.h"
#include "driver/libvirt/volume.h"
#include "helpers/lv_test.h"
#include "helpers/tmpdir.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

/* argv joined with '|' to compare in one string */
static char *joined(char **argv)
{
    struct strbuf b = STRBUF_INIT;
    for (char **p = argv; *p; p++)
        strbuf_printf(&b, "%s%s", p == argv ? "" : "|", *p);
    return strbuf_steal(&b);
}

static void test_quote(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"/srv/instances/x_migrating", "'/srv/instances/x_migrating'"},
        {"", "''"},
        {"it's", "'it'\\''s'"},
        {"$(rm -rf /) `x` ; a b", "'$(rm -rf /) `x` ; a b'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        autofree char *q = lv_ssh_quote(cases[i][0]);
        assert_string_equal(q, cases[i][1]);
    }
}

static void test_host_ok(void **state)
{
    (void)state;
    assert_true(lv_ssh_host_ok("127.0.0.1"));
    assert_true(lv_ssh_host_ok("compute-2.example.org"));
    assert_true(lv_ssh_host_ok("fe80::1"));
    assert_true(lv_ssh_host_ok("host_1"));
    assert_false(lv_ssh_host_ok(""));
    assert_false(lv_ssh_host_ok(NULL));
    assert_false(lv_ssh_host_ok("-oProxyCommand=touch /tmp/x"));
    assert_false(lv_ssh_host_ok("a b"));
    assert_false(lv_ssh_host_ok("a;b"));
    assert_false(lv_ssh_host_ok("root@host"));
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_false(lv_ssh_host_ok(long_name));
}

#define SSH_COMMON                                                                                \
    "-o|BatchMode=yes|-o|StrictHostKeyChecking=yes|-o|ConnectTimeout=30|-o|"                      \
    "ServerAliveInterval=15|-o|ServerAliveCountMax=4"

static void test_ssh_argv(void **state)
{
    (void)state;
    struct lv_ssh s = {.rsync = true, .port = 22, .connect_timeout_s = 30};
    char **v = lv_ssh_argv_command(&s, "10.0.0.2", "rm -rf -- 'x'");
    autofree char *j = joined(v);
    lv_argv_free(v);
    assert_string_equal(j, "ssh|" SSH_COMMON "|-p|22|--|10.0.0.2|rm -rf -- 'x'");

    s = (struct lv_ssh){.port = 2222,
                        .user = (char *)"nova",
                        .identity = (char *)"/etc/sculpt/id_ed25519",
                        .known_hosts = (char *)"/etc/sculpt/known_hosts",
                        .connect_timeout_s = 30};
    v = lv_ssh_argv_command(&s, "fe80::1", "true");
    autofree char *j2 = joined(v);
    lv_argv_free(v);
    assert_string_equal(j2, "ssh|" SSH_COMMON "|-o|UserKnownHostsFile=/etc/sculpt/known_hosts|"
                            "-i|/etc/sculpt/id_ed25519|-o|IdentitiesOnly=yes|-p|2222|-l|nova|--|"
                            "fe80::1|true");
}

static void test_copy_argv(void **state)
{
    (void)state;
    char *files[] = {(char *)"/i/u/disk", (char *)"/i/u/disk.config"};
    struct err *err = NULL;
    struct lv_ssh s = {.rsync = true, .port = 2200, .connect_timeout_s = 30};
    char **v = lv_ssh_argv_copy(&s, "10.0.0.2", files, 2, "/i/u_migrating", &err);
    assert_non_null(v);
    autofree char *j = joined(v);
    lv_argv_free(v);
    assert_string_equal(j, "rsync|--archive|--sparse|--protect-args|-e|ssh -o BatchMode=yes -o "
                           "StrictHostKeyChecking=yes -o ConnectTimeout=30 -o "
                           "ServerAliveInterval=15 -o ServerAliveCountMax=4 -p 2200|--|"
                           "/i/u/disk|/i/u/disk.config|10.0.0.2:/i/u_migrating/");
    /* rsync splits -e at spaces: a path with one is quoted */
    s.identity = (char *)"/keys/my key";
    s.user = (char *)"nova";
    v = lv_ssh_argv_copy(&s, "fe80::1", files, 1, "/i/u_migrating", &err);
    assert_non_null(v);
    assert_string_equal(v[5], "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o "
                              "ConnectTimeout=30 -o ServerAliveInterval=15 -o "
                              "ServerAliveCountMax=4 -i '/keys/my key' -o IdentitiesOnly=yes -p "
                              "2200");
    assert_string_equal(v[8], "nova@[fe80::1]:/i/u_migrating/");
    lv_argv_free(v);
    s.identity = (char *)"/keys/it's \"odd\"";
    assert_null(lv_ssh_argv_copy(&s, "h", files, 1, "/d", &err));
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);

    s = (struct lv_ssh){.port = 22, .user = (char *)"nova", .connect_timeout_s = 30};
    v = lv_ssh_argv_copy(&s, "h2", files, 2, "/i/u_migrating", &err);
    autofree char *j2 = joined(v);
    lv_argv_free(v);
    assert_string_equal(j2, "scp|-q|-p|" SSH_COMMON
                            "|-P|22|--|/i/u/disk|/i/u/disk.config|nova@h2:/i/u_migrating/");
}

static void test_ssh_bad_host(void **state)
{
    (void)state;
    struct lv_ssh s = {.port = 22, .connect_timeout_s = 1};
    struct err *err = NULL;
    assert_int_equal(lv_ssh_run(&s, "-oProxyCommand=x", "true", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    char *files[] = {(char *)"/x"};
    assert_int_equal(lv_ssh_copy(&s, "a b", files, 1, "/d", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

static void test_ssh_init(void **state)
{
    (void)state;
    struct err *err = NULL;
    autocfg cfg = cfg_new_defaults();
    assert_int_equal(cfg_set(cfg, "libvirt", "migration_transport", "scp", &err), 0);
    assert_int_equal(cfg_set(cfg, "libvirt", "migration_ssh_port", "2022", &err), 0);
    assert_int_equal(cfg_set(cfg, "libvirt", "migration_ssh_user", "nova", &err), 0);
    struct lv_ssh s;
    lv_ssh_init(&s, cfg);
    assert_false(s.rsync);
    assert_int_equal(s.port, 2022);
    assert_string_equal(s.user, "nova");
    assert_null(s.identity);
    assert_null(s.known_hosts);
    assert_int_equal(s.connect_timeout_s, 30);
    lv_ssh_release(&s);
    assert_int_equal(cfg_set(cfg, "libvirt", "migration_transport", "ftp", &err), -1);
    err_clear(&err);
}

static void test_info_roundtrip(void **state)
{
    (void)state;
    char *files[] = {(char *)"disk", (char *)"disk.config"};
    struct lv_mig_info m = {.dir = lv_mig_staging_dir("/srv/instances", UUID_A), .files = files, .n = 2};
    assert_string_equal(m.dir, "/srv/instances/" UUID_A "_migrating");
    autofree char *text = lv_mig_info_format(&m);
    assert_string_equal(text, "sculpt-libvirt-migration 1\ndir /srv/instances/" UUID_A
                              "_migrating\nfile disk\nfile disk.config\n");
    struct lv_mig_info back;
    struct err *err = NULL;
    assert_int_equal(lv_mig_info_parse(text, &back, &err), 0);
    assert_string_equal(back.dir, m.dir);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.files[0], "disk");
    assert_string_equal(back.files[1], "disk.config");
    lv_mig_info_release(&back);
    free(m.dir);
    /* no files: a guest without a disk */
    assert_int_equal(lv_mig_info_parse("sculpt-libvirt-migration 1\ndir /a/" UUID_A "_migrating\n",
                                       &back, &err),
                     0);
    assert_int_equal(back.n, 0);
    lv_mig_info_release(&back);
}

static void test_info_bad(void **state)
{
    (void)state;
    const char *bad[] = {
        NULL,
        "",
        "fake-disk:" UUID_A,
        "sculpt-libvirt-migration 2\ndir /a/" UUID_A "_migrating\n",
        "sculpt-libvirt-migration 1\n",
        "sculpt-libvirt-migration 1\nfile disk\n",
        "sculpt-libvirt-migration 1\ndir a/" UUID_A "_migrating\n",
        "sculpt-libvirt-migration 1\ndir /a/../" UUID_A "_migrating\n",
        "sculpt-libvirt-migration 1\ndir /a/" UUID_A "\n",
        "sculpt-libvirt-migration 1\ndir /a/not-a-uuid-at-all-but-36-characters_migrating\n",
        "sculpt-libvirt-migration 1\ndir /etc\n",
        "sculpt-libvirt-migration 1\ndir /a/" UUID_A "_migrating\nfile ../disk\n",
        "sculpt-libvirt-migration 1\ndir /a/" UUID_A "_migrating\nfile ..\n",
        "sculpt-libvirt-migration 1\ndir /a/" UUID_A "_migrating\nfile disk\nfile disk\n",
        "sculpt-libvirt-migration 1\ndir /a/" UUID_A "_migrating\nrun rm -rf /\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lv_mig_info m;
        struct err *err = NULL;
        assert_int_equal(lv_mig_info_parse(bad[i], &m, &err), -1);
        assert_int_equal(err->code, ERR_INVALID);
        assert_null(m.dir);
        assert_int_equal(m.n, 0);
        err_clear(&err);
    }
    /* more files than a guest's folder holds */
    struct strbuf b = STRBUF_INIT;
    strbuf_append(&b, "sculpt-libvirt-migration 1\ndir /a/" UUID_A "_migrating\n");
    for (int i = 0; i <= LV_MIG_MAX_FILES; i++)
        strbuf_printf(&b, "file f%d\n", i);
    struct lv_mig_info m;
    struct err *err = NULL;
    assert_int_equal(lv_mig_info_parse(b.s, &m, &err), -1);
    err_clear(&err);
    strbuf_release(&b);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void assert_moved(const char *from, const char *to, const char *text)
{
    assert_int_equal(access(from, F_OK), -1);
    char buf[64] = "";
    FILE *f = fopen(to, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, text);
    struct stat st;
    assert_int_equal(stat(to, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

/* A staged file moved into a guest's folder: renamed on one file system,
 * copied and removed across two (/dev/shm, a tmpfs, to /tmp where it is
 * one: the EXDEV path). */
static void test_volume_move(void **state)
{
    const char *dir = *state;
    struct err *err = NULL;
    autofree char *a = xasprintf("%s/a", dir);
    autofree char *b = xasprintf("%s/b", dir);
    write_file(a, "overlay\n", 0640);
    assert_int_equal(lv_volume_move(a, b, &err), 0);
    assert_moved(a, b, "overlay\n");
    /* nothing to move: an error naming it, nothing made */
    autofree char *c = xasprintf("%s/c", dir);
    assert_int_equal(lv_volume_move(a, c, &err), -1);
    assert_non_null(strstr(err->msg, a));
    err_clear(&err);
    assert_int_equal(access(c, F_OK), -1);
    struct stat shm;
    if (stat("/dev/shm", &shm) < 0 || !S_ISDIR(shm.st_mode))
        return;
    autofree char *far = xasprintf("/dev/shm/sculpt-move-%d", (int)getpid());
    write_file(far, "config drive\n", 0640);
    int rc = lv_volume_move(far, c, &err);
    unlink(far);
    assert_int_equal(rc, 0);
    assert_moved(far, c, "config drive\n");
}

/* migrate_cleanup: the staging folder the source's copy filled goes with
 * its files, nothing left is fine, the guest's own folder stays, and
 * something else under the staging name is refused. */
static void test_cleanup(void **state)
{
    const char *dir = *state;
    struct cfg *cfg = lv_test_cfg(dir);
    struct err *err = NULL;
    struct drv_hv *hv = drv_hv_open("libvirt", cfg, &err);
    assert_non_null(hv);
    autofree char *staging = lv_mig_staging_dir(dir, UUID_A);
    autofree char *guest = xasprintf("%s/%s", dir, UUID_A);
    autofree char *disk = xasprintf("%s/disk", staging);
    autofree char *own = xasprintf("%s/disk", guest);
    assert_int_equal(mkdir(staging, 0700), 0);
    assert_int_equal(mkdir(guest, 0700), 0);
    write_file(disk, "overlay\n", 0600);
    write_file(own, "guest's\n", 0600);
    assert_int_equal(drv_hv_migrate_cleanup(hv, UUID_A, &err), 0);
    assert_int_equal(access(staging, F_OK), -1);
    assert_int_equal(access(own, F_OK), 0);
    assert_int_equal(drv_hv_migrate_cleanup(hv, UUID_A, &err), 0); /* nothing left */
    write_file(staging, "not a folder\n", 0600);
    assert_int_equal(drv_hv_migrate_cleanup(hv, UUID_A, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(access(staging, F_OK), 0);
    unlink(staging);
    unlink(own);
    rmdir(guest);
    drv_hv_close(hv);
    cfg_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote),         cmocka_unit_test(test_host_ok),
        cmocka_unit_test(test_ssh_argv),      cmocka_unit_test(test_copy_argv),
        cmocka_unit_test(test_ssh_bad_host),  cmocka_unit_test(test_ssh_init),
        cmocka_unit_test(test_info_roundtrip), cmocka_unit_test(test_info_bad),
        cmocka_unit_test_setup_teardown(test_volume_move, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_cleanup, test_tmpdir_setup, test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
