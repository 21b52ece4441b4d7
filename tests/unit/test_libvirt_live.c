/* Live migration's pure parts in the libvirt backend (live.h): the
 * dest_info record, the domain XML's paths rewritten to the
 * destination's, the URIs, the completion deadline and the way a
 * completion is forced; the ops of a
 * backend that cannot live-migrate.  The migration itself, between two
 * libvirtds, is tested by tests/integration/libvirt_migrate.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/libvirt/config.h"
#include "driver/hypervisor.h"
#include "driver/libvirt/live.h"
#include "helpers/engine.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define SRC "/srv/a/instances/" UUID_A
#define DST "/var/b/" UUID_A

static void src_meta(struct lv_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->instance_dir = (char *)SRC;
    m->disk_path = (char *)SRC "/disk";
    m->console_log = (char *)SRC "/console.log";
    m->console_socket = (char *)"/tmp/sculpt-console-" UUID_A ".sock";
    m->config_drive = (char *)SRC "/disk.config";
    m->spec.image.disk_base = (char *)"/srv/a/cache/base";
}

static void dst_meta(struct lv_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->instance_dir = (char *)DST;
    m->disk_path = (char *)DST "/disk";
    m->console_log = (char *)DST "/console.log";
    m->console_socket = (char *)DST "/console.sock";
    m->config_drive = (char *)DST "/disk.config";
    m->spec.image.disk_base = (char *)"/var/b/_base/base";
}

static void test_info_roundtrip(void **state)
{
    (void)state;
    struct lv_meta m;
    dst_meta(&m);
    struct lv_live_info i;
    lv_live_info_of(&m, "10.0.0.2", &i);
    autofree char *text = lv_live_info_format(&i);
    assert_string_equal(text, "sculpt-libvirt-live 1\naddr 10.0.0.2\ndir " DST "\ndisk " DST
                              "/disk\nbase /var/b/_base/base\nlog " DST "/console.log\nsocket " DST
                              "/console.sock\ncdrom " DST "/disk.config\n");
    struct lv_live_info back;
    struct err *err = NULL;
    assert_int_equal(lv_live_info_parse(text, &back, &err), 0);
    assert_string_equal(back.addr, "10.0.0.2");
    assert_string_equal(back.dir, DST);
    assert_string_equal(back.cdrom, DST "/disk.config");
    lv_live_info_release(&back);
    /* no address: the destination's host name; no disk, no config drive */
    m.disk_path = m.config_drive = NULL;
    lv_live_info_of(&m, "", &i);
    autofree char *bare = lv_live_info_format(&i);
    assert_null(strstr(bare, "addr"));
    assert_null(strstr(bare, "base"));
    assert_int_equal(lv_live_info_parse(bare, &back, &err), 0);
    assert_null(back.addr);
    assert_null(back.disk);
    lv_live_info_release(&back);
    /* the destination's VNC address, which the source's XML takes */
    i.vnc = (char *)"127.0.0.2";
    autofree char *vnc = lv_live_info_format(&i);
    assert_non_null(strstr(vnc, "\nvnc 127.0.0.2\n"));
    assert_int_equal(lv_live_info_parse(vnc, &back, &err), 0);
    assert_string_equal(back.vnc, "127.0.0.2");
    lv_live_info_release(&back);
    /* and the serial console's address and port there */
    i.serial = (char *)"127.0.0.3";
    i.serial_port = (char *)"10007";
    autofree char *ser = lv_live_info_format(&i);
    assert_non_null(strstr(ser, "\nserial 127.0.0.3\nserial_port 10007\n"));
    assert_int_equal(lv_live_info_parse(ser, &back, &err), 0);
    assert_string_equal(back.serial, "127.0.0.3");
    assert_string_equal(back.serial_port, "10007");
    lv_live_info_release(&back);
}

static void test_info_bad(void **state)
{
    (void)state;
    const char *bad[] = {
        NULL,
        "",
        "sculpt-libvirt-migration 1\ndir /a\n",
        "sculpt-libvirt-live 2\ndir /a\n",
        "sculpt-libvirt-live 1\n",
        "sculpt-libvirt-live 1\naddr 10.0.0.1\n",
        "sculpt-libvirt-live 1\ndir a/b\n",
        "sculpt-libvirt-live 1\ndir /a/../etc\n",
        "sculpt-libvirt-live 1\ndir /a/..\n",
        "sculpt-libvirt-live 1\ndir /a\ndir /b\n",
        "sculpt-libvirt-live 1\ndir /a'/><evil/>\n",
        "sculpt-libvirt-live 1\ndir /a&amp;\n",
        "sculpt-libvirt-live 1\ndir /a\naddr -oProxyCommand=x\n",
        "sculpt-libvirt-live 1\ndir /a\naddr a b\n",
        "sculpt-libvirt-live 1\ndir /a\ndisk /a/disk\n",
        "sculpt-libvirt-live 1\ndir /a\nbase /b\n",
        "sculpt-libvirt-live 1\ndir /a\nrun rm -rf /\n",
        "sculpt-libvirt-live 1\ndir /a\nnothing\n",
        "sculpt-libvirt-live 1\ndir /a\nvnc 127.0.0.1'/><evil/>\n",
        "sculpt-libvirt-live 1\ndir /a\nvnc \n",
        "sculpt-libvirt-live 1\ndir /a\nserial 127.0.0.1\n",
        "sculpt-libvirt-live 1\ndir /a\nserial_port 10000\n",
        "sculpt-libvirt-live 1\ndir /a\nserial 127.0.0.1\nserial_port 65536\n",
        "sculpt-libvirt-live 1\ndir /a\nserial 127.0.0.1\nserial_port 0\n",
        "sculpt-libvirt-live 1\ndir /a\nserial 127.0.0.1\nserial_port 1'/>\n",
        "sculpt-libvirt-live 1\ndir /a\nserial a'/>\nserial_port 10000\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lv_live_info m;
        struct err *err = NULL;
        assert_int_equal(lv_live_info_parse(bad[i], &m, &err), -1);
        assert_int_equal(err_code_of(err), ERR_INVALID);
        assert_null(m.dir);
        err_clear(&err);
    }
}

static void test_rewrite(void **state)
{
    (void)state;
    struct lv_meta s, d;
    src_meta(&s);
    dst_meta(&d);
    struct lv_live_info i;
    lv_live_info_of(&d, NULL, &i);
    const char *xml =
        "<domain><devices><disk><source file='" SRC "/disk'/><backingStore><source "
        "file='/srv/a/cache/base'/></backingStore></disk><disk device='cdrom'><source file='" SRC
        "/disk.config'/></disk><serial type='unix'><source path='/tmp/sculpt-console-" UUID_A
        ".sock'/><log file='" SRC "/console.log'/></serial></devices><metadata><sculpt:instance>"
        "<dir>" SRC "</dir><base>/srv/a/cache/base</base><other>/srv/a/instances/x</other>"
        "</sculpt:instance></metadata></domain>";
    struct err *err = NULL;
    autofree char *out = lv_live_rewrite_xml(xml, &s, &i, &err);
    assert_non_null(out);
    assert_string_equal(
        out, "<domain><devices><disk><source file='" DST "/disk'/><backingStore><source "
             "file='/var/b/_base/base'/></backingStore></disk><disk device='cdrom'><source file='" DST
             "/disk.config'/></disk><serial type='unix'><source path='" DST
             "/console.sock'/><log file='" DST "/console.log'/></serial></devices><metadata>"
             "<sculpt:instance><dir>" DST "</dir><base>/var/b/_base/base</base>"
             "<other>/srv/a/instances/x</other></sculpt:instance></metadata></domain>");
    /* the same paths on both hosts: nothing changes */
    lv_live_info_of(&s, NULL, &i);
    autofree char *same = lv_live_rewrite_xml(xml, &s, &i, &err);
    assert_string_equal(same, xml);
    /* the destination lacks the guest's config drive */
    lv_live_info_of(&d, NULL, &i);
    i.cdrom = NULL;
    assert_null(lv_live_rewrite_xml(xml, &s, &i, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    /* a source path XML would escape */
    lv_live_info_of(&d, NULL, &i);
    s.console_log = (char *)"/srv/a&b/console.log";
    assert_null(lv_live_rewrite_xml(xml, &s, &i, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
}

static void test_uris(void **state)
{
    (void)state;
    struct err *err = NULL;
    autofree char *a = lv_live_dest_uri("qemu+tcp://%s/system", "compute-2", &err);
    assert_string_equal(a, "qemu+tcp://compute-2/system");
    autofree char *b = lv_live_dest_uri("qemu+ssh://nova@%s:2222/system", "fd00::2", &err);
    assert_string_equal(b, "qemu+ssh://nova@[fd00::2]:2222/system");
    autofree char *c = lv_live_dest_uri("qemu+tcp://10.0.0.9/system", "x", &err);
    assert_string_equal(c, "qemu+tcp://10.0.0.9/system");
    assert_null(lv_live_dest_uri("qemu+tcp://%d/system", "x", &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_null(lv_live_dest_uri("qemu+tcp://x/system%", "x", &err));
    err_clear(&err);
    autofree char *m = lv_live_migrate_uri("127.0.0.1");
    assert_string_equal(m, "tcp://127.0.0.1");
    autofree char *m6 = lv_live_migrate_uri("fd00::2");
    assert_string_equal(m6, "tcp://[fd00::2]");
}

static void test_deadline(void **state)
{
    (void)state;
    const uint64_t gib = 1ull << 30;
    assert_int_equal(lv_live_deadline_ms(0, 10 * gib), 0);
    assert_int_equal(lv_live_deadline_ms(800, 0), 1600000);        /* 2 GiB at least */
    assert_int_equal(lv_live_deadline_ms(800, 256 << 20), 1600000); /* a tiny guest */
    assert_int_equal(lv_live_deadline_ms(800, 3 * gib), 2400000);
    assert_int_equal(lv_live_deadline_ms(1, 3 * gib + 1), 4000);   /* a GiB begun counts */
}

/* Nova's should_trigger_timeout_action: past the limit, unless there is
 * none or the migration runs in post-copy. */
static void test_past_deadline(void **state)
{
    (void)state;
    assert_false(lv_live_past_deadline(0, 1000000, false)); /* no limit */
    assert_false(lv_live_past_deadline(2000, 2000, false)); /* at it: not past */
    assert_true(lv_live_past_deadline(2000, 2001, false));
    assert_false(lv_live_past_deadline(2000, 9000, true)); /* in post-copy */
}

/* Nova's run_tasks for force-complete: post-copy when the migration was
 * started with it permitted, else a pause; nothing in post-copy already
 * or for a guest not running. */
static void test_force_how(void **state)
{
    (void)state;
    assert_int_equal(lv_live_force_how(true, false, true), LV_LIVE_FORCE_POSTCOPY);
    assert_int_equal(lv_live_force_how(false, false, true), LV_LIVE_FORCE_PAUSE);
    assert_int_equal(lv_live_force_how(true, true, false), LV_LIVE_FORCE_DONE);
    assert_int_equal(lv_live_force_how(true, true, true), LV_LIVE_FORCE_DONE);
    assert_int_equal(lv_live_force_how(false, false, false), LV_LIVE_FORCE_DONE); /* paused */
    assert_int_equal(lv_live_force_how(true, false, false), LV_LIVE_FORCE_DONE);
}

/* A backend without the ops (the fake one) answers UNSUPPORTED; bad
 * arguments are INVALID before that. */
static void test_unsupported(void **state)
{
    (void)state;
    const char *const opts[] = {"fake.topology=nodes=1,sockets=1,cores=4,threads=2,mem_mib=8192",
                                NULL};
    autoptr(drv_hv) hv = test_fake_hv_open(opts);
    assert_false(drv_hv_can_live_migrate(hv));
    struct err *err = NULL;
    assert_int_equal(drv_hv_live_migrate(hv, UUID_A, "b", "sculpt-libvirt-live 1\ndir /a\n", NULL,
                                         &err),
                     -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    err_clear(&err);
    assert_int_equal(drv_hv_live_migrate(hv, "nope", "b", "x", NULL, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_live_migrate(hv, UUID_A, "", "x", NULL, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_live_migrate(hv, UUID_A, "b", "", NULL, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_live_abort(hv, UUID_A, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    err_clear(&err);
    assert_int_equal(drv_hv_live_rollback(hv, "nope", &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", UUID_A);
    char *info = (char *)"untouched";
    assert_int_equal(drv_hv_live_prepare(hv, &spec, &info, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    assert_null(info);
    err_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_roundtrip), cmocka_unit_test(test_info_bad),
        cmocka_unit_test(test_rewrite),        cmocka_unit_test(test_uris),
        cmocka_unit_test(test_deadline),       cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_past_deadline),  cmocka_unit_test(test_force_how),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
