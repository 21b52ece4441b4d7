/* The diagnostics Nova gets (compute_diagnostics.c): a Diagnostics object
 * whose counts match its lists and whose unknown counters are null, and
 * the older flat dict with Zed's libvirt keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/ovo.h"

static void diag_of(struct drv_hv_diag *d, int64_t *cpus, struct drv_hv_diag_disk *disks,
                    struct drv_hv_diag_nic *nics)
{
    memset(d, 0, sizeof(*d));
    d->state = DRV_POWER_RUNNING;
    d->mem_max_kib = 512 * 1024;
    d->mem_kib = 384 * 1024;
    d->ncpus = 2;
    d->cpu_time_ns = cpus;
    d->disks = disks;
    d->ndisks = 2;
    d->nics = nics;
    d->nnics = 1;
}

static void test_object(void **state)
{
    (void)state;
    int64_t cpus[] = {1500000000, -1};
    struct drv_hv_diag_disk disks[] = {{"vda", 4096, 3, 8192, 5, 0},
                                       {"sda", -1, -1, -1, -1, -1}};
    struct drv_hv_diag_nic nics[] = {{"52:54:00:12:34:56", "tap0", 10, 1, 0, 0, 20, 2, 0, 0}};
    struct drv_hv_diag d;
    diag_of(&d, cpus, disks, nics);
    json_auto_t *o = os_diag_object(&d, "qemu", true, 42);
    assert_true(ovo_is(o, "Diagnostics"));
    assert_string_equal(ovo_get_str(o, "state"), "running");
    assert_string_equal(ovo_get_str(o, "driver"), "libvirt");
    assert_string_equal(ovo_get_str(o, "hypervisor"), "qemu");
    int64_t v = 0;
    assert_true(ovo_get_int(o, "num_cpus", &v) && v == 2);
    assert_true(ovo_get_int(o, "num_disks", &v) && v == 2);
    assert_true(ovo_get_int(o, "num_nics", &v) && v == 1);
    assert_true(ovo_get_int(o, "uptime", &v) && v == 42);
    assert_true(json_is_true(ovo_get(o, "config_drive")));
    json_t *mem = ovo_get(o, "memory_details");
    assert_true(ovo_is(mem, "MemoryDiagnostics"));
    assert_true(ovo_get_int(mem, "maximum", &v) && v == 512);
    assert_true(ovo_get_int(mem, "used", &v) && v == 384);
    json_t *cpu1 = json_array_get(ovo_get(o, "cpu_details"), 1);
    assert_true(ovo_is(cpu1, "CpuDiagnostics"));
    assert_true(json_is_null(ovo_get(cpu1, "time"))); /* not given: null, never -1 */
    json_t *vda = json_array_get(ovo_get(o, "disk_details"), 0);
    assert_true(ovo_get_int(vda, "read_bytes", &v) && v == 4096);
    assert_true(ovo_get_int(vda, "write_requests", &v) && v == 5);
    assert_true(json_is_null(ovo_get(json_array_get(ovo_get(o, "disk_details"), 1),
                                     "read_bytes")));
    json_t *nic = json_array_get(ovo_get(o, "nic_details"), 0);
    assert_string_equal(ovo_get_str(nic, "mac_address"), "52:54:00:12:34:56");
    assert_true(ovo_get_int(nic, "tx_octets", &v) && v == 20);

    /* a guest whose vCPU times could not be read: no cpu_details */
    d.cpu_time_ns = NULL;
    json_auto_t *o2 = os_diag_object(&d, "kvm", false, -1);
    assert_true(ovo_get_int(o2, "num_cpus", &v) && v == 0);
    assert_true(json_is_null(ovo_get(o2, "uptime")));
}

static void test_legacy(void **state)
{
    (void)state;
    int64_t cpus[] = {1500000000, 700};
    struct drv_hv_diag_disk disks[] = {{"vda", 4096, 3, 8192, 5, 0},
                                       {"sda", -1, -1, -1, -1, -1}};
    struct drv_hv_diag_nic nics[] = {{"52:54:00:12:34:56", "tap0", 10, 1, 0, 0, 20, 2, 0, 0}};
    struct drv_hv_diag d;
    diag_of(&d, cpus, disks, nics);
    json_auto_t *o = os_diag_legacy(&d);
    assert_int_equal(json_integer_value(json_object_get(o, "cpu1_time")), 700);
    assert_int_equal(json_integer_value(json_object_get(o, "vda_read")), 4096);
    assert_int_equal(json_integer_value(json_object_get(o, "vda_read_req")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "vda_write")), 8192);
    assert_null(json_object_get(o, "sda_read")); /* refused by libvirt: left out */
    assert_int_equal(json_integer_value(json_object_get(o, "tap0_tx")), 20);
    assert_int_equal(json_integer_value(json_object_get(o, "tap0_rx_packets")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "memory")), 512 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_legacy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
