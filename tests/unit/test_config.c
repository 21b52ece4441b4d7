#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"

static struct cfg *load(const char *text, struct err **err)
{
    return cfg_load_string(text, "t.conf", err);
}

static void assert_fails(const char *text, const char *expect_in_msg)
{
    struct err *err = NULL;
    struct cfg *cfg = load(text, &err);
    assert_null(cfg);
    assert_non_null(err);
    assert_int_equal(err->code, ERR_INVALID);
    if (!strstr(err->msg, expect_in_msg))
        fail_msg("message `%s` lacks `%s`", err->msg, expect_in_msg);
    err_free(err);
}

static void test_defaults(void **state)
{
    (void)state;
    struct cfg *cfg = cfg_new_defaults();
    assert_int_equal(cfg->blueprint_horizon_s, 1800);
    assert_int_equal(cfg->blueprint_step_s, 60);
    assert_true(cfg->cpu_allocation_ratio == 16.0);
    assert_true(cfg->ram_allocation_ratio == 1.5);
    assert_true(cfg->disk_allocation_ratio == 1.0);
    assert_string_equal(cfg->log_level, "info");
    assert_true(cfg->host[0] != '\0'); /* derived from the hostname */
    cfg_unref(cfg);
}

static void test_load_values(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct cfg *cfg = load("# a comment\n"
                           "[DEFAULT]\n"
                           "host = compute-7\n"
                           "  ; indented comment\n"
                           "cpu_allocation_ratio = 4.5\n"
                           "reserved_host_cpus: 2\n"
                           "log_json = yes\n"
                           "log_level = debug\n"
                           "transport_url = rabbit://nova:secret@127.0.0.1:5672/\n"
                           "[sculpt]\n"
                           "blueprint_horizon = 3600\n",
                           &err);
    assert_null(err);
    assert_non_null(cfg);
    assert_string_equal(cfg->host, "compute-7");
    assert_true(cfg->cpu_allocation_ratio == 4.5);
    assert_int_equal(cfg->reserved_host_cpus, 2);
    assert_true(cfg->log_json);
    assert_string_equal(cfg->log_level, "debug");
    assert_int_equal(cfg->blueprint_horizon_s, 3600);
    assert_string_equal(cfg->transport_url, "rabbit://nova:secret@127.0.0.1:5672/");
    cfg_unref(cfg);
}

static void test_errors_name_the_line(void **state)
{
    (void)state;
    assert_fails("[DEFAULT]\nreserved_host_cpus = two\n", "t.conf:2: option `[DEFAULT] reserved_host_cpus`: `two` is not an integer");
    assert_fails("[DEFAULT]\n\ncpu_allocation_ratio = 100\n", "t.conf:3: option `[DEFAULT] cpu_allocation_ratio`: 100 is outside");
    assert_fails("[DEFAULT]\ncpu_allocation_ratio = nan\n", "t.conf:2:");
    assert_fails("[DEFAULT]\ncpu_allocation_ratio = 1e999\n", "not a finite number");
    assert_fails("[DEFAULT]\nno_such_option = 1\n", "t.conf:2: unknown option `[DEFAULT] no_such_option`");
    assert_fails("[nowhere]\n", "t.conf:1: unknown section `[nowhere]`");
    assert_fails("[DEFAULT\n", "t.conf:1: malformed section header");
    assert_fails("host = x\n", "t.conf:1: option `host` before any [section]");
    assert_fails("[DEFAULT]\njust words\n", "t.conf:2: expected `name = value`");
    assert_fails("[DEFAULT]\nlog_json = maybe\n", "t.conf:2: option `[DEFAULT] log_json`: `maybe` is not a boolean");
    assert_fails("[DEFAULT]\nlog_level = loud\n", "t.conf:2: option `[DEFAULT] log_level`: `loud` is not one of");
    assert_fails("[DEFAULT]\nreserved_host_cpus = -1\n", "is outside");
    assert_fails("[DEFAULT]\nreserved_host_cpus = 99999999999999999999999\n", "not an integer");
    assert_fails("[sculpt]\nblueprint_horizon = 60\nblueprint_step = 120\n", "longer than");
    /* oslo's HostAddressOpt: an address or a host name, nothing else */
    assert_fails("[vnc]\nserver_listen = 127.0.0.1'/><evil\n",
                 "option `[vnc] server_listen`: `127.0.0.1'/><evil` is not an IP address");
    assert_fails("[vnc]\nserver_proxyclient_address = a..b\n", "[vnc] server_proxyclient_address");
    assert_fails("[vnc]\nserver_listen = -host\n", "[vnc] server_listen");
    assert_fails("[vnc]\nserver_listen =\n", "[vnc] server_listen");
    struct err *err = NULL;
    struct cfg *cfg = load("[vnc]\nserver_listen = ::1\nserver_proxyclient_address = compute-7.example\n",
                           &err);
    assert_non_null(cfg);
    assert_true(cfg->vnc_enabled); /* Zed's default */
    assert_string_equal(cfg->vnc_server_listen, "::1");
    cfg_unref(cfg);
}

/* [serial_console] with Zed's names and defaults; a port range Nova's
 * regex refuses, or one without a port in it, is refused at load. */
static void test_serial_console_options(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct cfg *cfg = load("", &err);
    assert_non_null(cfg);
    assert_false(cfg->serial_console_enabled);
    assert_string_equal(cfg->serial_console_base_url, "ws://127.0.0.1:6083/");
    assert_string_equal(cfg->serial_console_proxyclient_address, "127.0.0.1");
    int start = 0, stop = 0;
    assert_int_equal(cfg_serial_port_range(cfg, &start, &stop), 0);
    assert_int_equal(start, 10000);
    assert_int_equal(stop, 20000);
    cfg_unref(cfg);
    cfg = load("[serial_console]\nenabled = true\nport_range = 0:65535\n", &err);
    assert_non_null(cfg);
    assert_true(cfg->serial_console_enabled);
    assert_int_equal(cfg_serial_port_range(cfg, &start, &stop), 0);
    assert_int_equal(start, 0);
    assert_int_equal(stop, 65535);
    cfg_unref(cfg);
    const char *bad[] = {"20000:10000", "5:5", "10000-20000", "10000:", ":20000", "1 :2",
                         "1: 2", "1:65536", "-1:5", "1:2:3", "99999999999999999999:1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "[serial_console]\nport_range = %s\n", bad[i]);
        assert_fails(text, "option `[serial_console] port_range`");
    }
    assert_fails("[serial_console]\nproxyclient_address = 10.0.0.1 x\n",
                 "[serial_console] proxyclient_address");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct err *err = NULL;
    assert_null(cfg_load("/nonexistent/sculpt.conf", &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    assert_non_null(strstr(err->msg, "/nonexistent/sculpt.conf"));
    err_free(err);
}

static void test_set_and_publish(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct cfg *cfg = cfg_new_defaults();
    assert_int_equal(cfg_set(cfg, "sculpt", "target_violation_rate", "0.02", &err), 0);
    assert_true(cfg->target_violation_rate == 0.02);
    assert_int_equal(cfg_set(cfg, "sculpt", "target_violation_rate", "0.9", &err), -1);
    err_clear(&err);
    assert_int_equal(cfg_set(cfg, "sculpt", "nope", "1", &err), -1);
    err_clear(&err);

    cfg_publish(cfg);
    struct cfg *cur = cfg_acquire();
    assert_ptr_equal(cur, cfg);
    cfg_unref(cur);
    struct cfg *next = cfg_new_defaults();
    cfg_publish(next);  /* drops the published reference on cfg */
    cfg_unref(cfg);     /* our own reference: cfg is freed here */
    cfg_unref(next);
    cfg_publish(NULL);  /* releases next */
}

/* Run-time changes: a copy changed by name, the original untouched; the
 * option table can be walked and read back as text. */
static void test_dup_describe_get(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct cfg *cfg = cfg_new_defaults();
    struct cfg *copy = cfg_dup(cfg);
    assert_int_equal(cfg_set(copy, "cost", "price_vcpu_hour", "0.1", &err), 0);
    assert_int_equal(cfg_set(copy, "api", "admin_token", "t0ken", &err), 0);
    assert_true(cfg->cost_vcpu_hour == 0.04 && copy->cost_vcpu_hour == 0.1);
    assert_string_equal(cfg->api_admin_token, "");
    assert_string_equal(copy->host, cfg->host);
    assert_ptr_not_equal(copy->host, cfg->host);

    char *text = cfg_get_text(copy, "cost", "price_vcpu_hour", &err);
    assert_string_equal(text, "0.1");
    free(text);
    text = cfg_get_text(copy, "api", "port", &err);
    assert_string_equal(text, "8790");
    free(text);
    text = cfg_get_text(copy, "api", "metrics_require_auth", &err);
    assert_string_equal(text, "true");
    free(text);
    assert_null(cfg_get_text(copy, "api", "nope", &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);

    struct cfg_option_info info;
    size_t n = 0;
    bool saw_price = false;
    while (cfg_option_describe(n, &info)) {
        if (strcmp(info.section, "cost") == 0 && strcmp(info.name, "price_vcpu_hour") == 0) {
            saw_price = true;
            assert_int_equal(info.kind, CFG_KIND_NUMBER);
            assert_true(info.min == 0 && info.max == 1e6);
        }
        n++;
    }
    assert_true(saw_price && n > 20);
    cfg_unref(copy);
    cfg_unref(cfg);
}

/* The committed contrib/sculpt.conf documents every option: it must be
 * what --sample-config prints (REGENERATE=1 rewrites it). */
static void test_sample_matches_contrib(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    cfg_write_sample(mem);
    fclose(mem);

    const char *path = "contrib/sculpt.conf";
    if (getenv("REGENERATE")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(buf, f);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *golden = xmalloc(len + 2);
    size_t n = fread(golden, 1, len + 1, f);
    fclose(f);
    golden[n] = '\0';
    if (n != len || memcmp(golden, buf, len) != 0)
        fail_msg("%s is stale: run `REGENERATE=1 make check` and commit it", path);

    /* all commented out: it loads to the defaults */
    struct err *err = NULL;
    struct cfg *cfg = cfg_load(path, &err);
    assert_null(err);
    assert_non_null(cfg);
    assert_int_equal(cfg->blueprint_horizon_s, 1800);
    cfg_unref(cfg);
    free(golden);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_values),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_serial_console_options),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_set_and_publish),
        cmocka_unit_test(test_dup_describe_get),
        cmocka_unit_test(test_sample_matches_contrib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
