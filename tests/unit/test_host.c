#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "common/alloc.h"
#include "driver/host.h"
#include "helpers/tmpdir.h"

#define HOST_DATA "tests/data/host/"

static struct drv_host *load(const char *file, const struct drv_host_limits *lim)
{
    struct err *err = NULL;
    struct drv_host *h = drv_host_load(file, lim, &err);
    if (!h)
        fail_msg("%s: %s", file, err->msg);
    return h;
}

static struct drv_host_limits limits_none(void)
{
    struct drv_host_limits l;
    drv_host_limits_default(&l);
    return l;
}

/* CPU ids in topology order as a string, for compact assertions. */
static const char *order(const struct drv_host *h, int n)
{
    static char buf[512];
    int len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && i < h->ncpus; i++)
        len += snprintf(buf + len, sizeof(buf) - (size_t)len, "%s%d", i ? "," : "", h->cpus[i].id);
    return buf;
}

static void test_cascadelake_two_nodes_smt(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    autoptr(drv_host) h = load(HOST_DATA "cascadelake-2node-smt.xml", &lim);

    assert_string_equal(h->source, "capabilities");
    assert_int_equal(h->ncpus, 96);
    assert_int_equal(h->nnodes, 2);
    assert_int_equal(h->nsockets, 2);
    assert_int_equal(h->ncores, 48);
    assert_int_equal(h->threads_per_core, 2);
    assert_int_equal(h->nl3, 2);
    /* siblings sit next to each other in topology order, node 0 first */
    assert_string_equal(order(h, 6), "0,48,1,49,2,50");
    assert_int_equal(h->cpus[48].id, 24);
    assert_int_equal(h->cpus[48].node, 1);
    assert_int_equal(h->cpus[48].l3, 1);
    /* memory per node, KiB -> MiB */
    assert_true(fabs(h->nodes[0].mem_mib - 32646592 / 1024.0) < 1e-6);
    assert_true(fabs(h->nodes[1].mem_mib - 32982940 / 1024.0) < 1e-6);
    assert_int_equal(drv_cpuset_count(&h->nodes[1].cpus), 48);
    assert_true(fabs(h->capacity.v[DRV_RES_VCPU] - 96) < 1e-12);
    assert_int_equal(drv_host_cpu_index(h, 49), 3);
    assert_int_equal(drv_host_cpu_index(h, 500), -1);
}

static void test_reservations(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    lim.reserved_cpus = 2;
    lim.reserved_mem_mib = 1024;
    lim.nic_mbps = 25000;
    autoptr(drv_host) h = load(HOST_DATA "cascadelake-2node-smt.xml", &lim);

    /* the lowest-numbered CPUs go to the host */
    assert_true(h->cpus[drv_host_cpu_index(h, 0)].reserved);
    assert_true(h->cpus[drv_host_cpu_index(h, 1)].reserved);
    assert_false(h->cpus[drv_host_cpu_index(h, 2)].reserved);
    assert_false(drv_cpuset_has(&h->usable, 1));
    assert_int_equal(drv_cpuset_count(&h->usable), 94);
    assert_int_equal(h->nodes[0].ncpus_usable, 46);
    assert_true(fabs(h->capacity.v[DRV_RES_VCPU] - 94) < 1e-12);
    /* reserved memory comes off the nodes in proportion to their size */
    double total = (32646592 + 32982940) / 1024.0;
    assert_true(fabs(h->capacity.v[DRV_RES_MEM_MIB] - (total - 1024)) < 1e-6);
    assert_true(fabs(h->nodes[0].mem_usable_mib -
                     (h->nodes[0].mem_mib - 1024 * h->nodes[0].mem_mib / total)) < 1e-6);
    assert_true(fabs(h->capacity.v[DRV_RES_NET_OUT_MBPS] - 25000) < 1e-9);

    lim.reserved_cpus = 96;
    struct err *err = NULL;
    assert_null(drv_host_load(HOST_DATA "cascadelake-2node-smt.xml", &lim, &err));
    assert_non_null(strstr(err->msg, "leaves none"));
    err_clear(&err);
}

static void test_contiguity(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    autoptr(drv_host) h = load(HOST_DATA "cascadelake-2node-smt.xml", &lim);
    struct drv_cpuset s;
    struct err *err = NULL;

    assert_int_equal(drv_cpuset_parse("0-1,48-49", &s, &err), 0);
    assert_true(fabs(drv_host_contiguity(h, &s) - 1.0) < 1e-12);
    assert_int_equal(drv_cpuset_parse("0,2", &s, &err), 0); /* 48 and 1 between */
    assert_true(fabs(drv_host_contiguity(h, &s) - 0.5) < 1e-12);
    /* the last core of node 0 and the first of node 1: two runs, two L3
     * domains, two nodes */
    assert_int_equal(drv_cpuset_parse("23,71,24,72", &s, &err), 0);
    assert_true(fabs(drv_host_contiguity(h, &s) - 1.0 / 3) < 1e-12);
    drv_cpuset_clear(&s);
    assert_true(fabs(drv_host_contiguity(h, &s) - 1.0) < 1e-12);

    /* a reserved CPU in between does not break a run */
    lim.reserved_cpus = 1;
    autoptr(drv_host) r = load(HOST_DATA "libvirt-resctrl-2node.xml", &lim);
    assert_int_equal(drv_cpuset_parse("1-2", &s, &err), 0);
    assert_true(fabs(drv_host_contiguity(r, &s) - 1.0) < 1e-12);
}

static void test_amd_dies_two_l3(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    autoptr(drv_host) h = load(HOST_DATA "libvirt-real-full-smt.xml", &lim);
    assert_int_equal(h->ncpus, 32);
    assert_int_equal(h->nnodes, 1);
    assert_int_equal(h->nsockets, 1);
    assert_int_equal(h->ncores, 16);
    assert_int_equal(h->threads_per_core, 2);
    assert_int_equal(h->nl3, 2);
    assert_string_equal(order(h, 4), "0,16,1,17");
    /* the second die (and L3) starts at core 8 */
    assert_int_equal(h->cpus[16].id, 8);
    assert_int_equal(h->cpus[16].l3, 1);
    struct drv_cpuset s;
    struct err *err = NULL;
    assert_int_equal(drv_cpuset_parse("7,23,8,24", &s, &err), 0);
    /* adjacent in order, but across two L3 domains */
    assert_true(fabs(drv_host_contiguity(h, &s) - 0.5) < 1e-12);
}

static void test_old_libvirt_without_sockets(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    autoptr(drv_host) h = load(HOST_DATA "libvirt-test3-2node-nosocket.xml", &lim);
    assert_int_equal(h->ncpus, 24);
    assert_int_equal(h->nnodes, 2);
    assert_int_equal(h->nsockets, 2); /* one per node, the best guess */
    assert_int_equal(h->ncores, 24);
    assert_int_equal(h->threads_per_core, 1);
    assert_int_equal(h->nl3, 0);
    assert_string_equal(order(h, 3), "0,2,4");
    assert_int_equal(h->cpus[12].id, 1);
}

static void test_memory_only_node(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    autoptr(drv_host) h = load(HOST_DATA "libvirt-hmat-memonly-node.xml", &lim);
    assert_int_equal(h->nnodes, 2);
    assert_int_equal(h->nodes[1].ncpus_usable, 0);
    assert_true(fabs(h->capacity.v[DRV_RES_MEM_MIB] - 3072) < 1e-9);
    assert_int_equal(h->nl3, 24);
    assert_int_equal(h->nsockets, 24);
}

static void test_this_machine(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    lim.reserved_mem_mib = 512;
    autoptr(drv_host) h = load(HOST_DATA "ci-machine-2cpu.xml", &lim);
    assert_int_equal(h->ncpus, 2);
    assert_int_equal(h->nnodes, 1);
    assert_int_equal(h->ncores, 2);
    assert_int_equal(h->threads_per_core, 1);
    assert_int_equal(h->nl3, 1);
    assert_true(fabs(h->capacity.v[DRV_RES_MEM_MIB] - (8874196 / 1024.0 - 512)) < 1e-6);
}

/* The CI machine's cells counted 8.5 of its 24 GiB (virtio-mem plugs
 * memory the per-node counters do not follow): the host's own total, as
 * libvirt's node info gives it, wins; the nodes keep their proportions. */
static void test_node_memory_follows_host_total(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    lim.reserved_mem_mib = 512;
    lim.mem_mib = 24684092 / 1024.0; /* /proc/meminfo MemTotal */
    autoptr(drv_host) h = load(HOST_DATA "ci-machine-2cpu.xml", &lim);
    assert_true(fabs(h->nodes[0].mem_mib - 24684092 / 1024.0) < 1e-6);
    assert_true(fabs(h->capacity.v[DRV_RES_MEM_MIB] - (24684092 / 1024.0 - 512)) < 1e-6);

    /* two nodes of 32646592 and 32982940 KiB, the host says 96 GiB */
    lim = limits_none();
    lim.mem_mib = 96 * 1024;
    autoptr(drv_host) two = load(HOST_DATA "cascadelake-2node-smt.xml", &lim);
    double share0 = 32646592.0 / (32646592.0 + 32982940.0);
    assert_true(fabs(two->nodes[0].mem_mib - 96 * 1024 * share0) < 1e-6);
    assert_true(fabs(two->nodes[1].mem_mib - 96 * 1024 * (1 - share0)) < 1e-6);
    assert_true(fabs(two->capacity.v[DRV_RES_MEM_MIB] - 96 * 1024) < 1e-6);
}

static void test_offline_cpu_and_missing_memory(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    struct err *err = NULL;
    const char *xml = "<capabilities><host><topology><cells num='1'><cell id='0'><cpus num='3'>"
                      "<cpu id='0' socket_id='0' core_id='0' siblings='0'/>"
                      "<cpu id='1' socket_id='0' core_id='1' siblings='1'/>"
                      "<cpu id='2'/>"
                      "</cpus></cell></cells></topology></host></capabilities>";
    /* no memory in the cells and none from the limits */
    assert_null(drv_host_parse(xml, &lim, &err));
    assert_non_null(strstr(err->msg, "no memory"));
    err_clear(&err);
    lim.mem_mib = 4096;
    autoptr(drv_host) h = drv_host_parse(xml, &lim, &err);
    assert_non_null(h);
    assert_int_equal(h->ncpus, 2); /* CPU 2 is offline */
    assert_true(fabs(h->capacity.v[DRV_RES_MEM_MIB] - 4096) < 1e-9);
}

static void test_description(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    struct err *err = NULL;
    autoptr(drv_host) h =
        drv_host_parse("cpus=32,mem_gib=256,sockets=2,threads=2,nic_mbps=40000", &lim, &err);
    assert_non_null(h);
    assert_string_equal(h->source, "description");
    assert_int_equal(h->ncpus, 32);
    assert_int_equal(h->nnodes, 2);
    assert_int_equal(h->nsockets, 2);
    assert_int_equal(h->ncores, 16);
    assert_int_equal(h->threads_per_core, 2);
    assert_int_equal(h->nl3, 2);
    /* Linux numbering: siblings 16 apart, adjacent in topology order */
    assert_string_equal(order(h, 4), "0,16,1,17");
    assert_int_equal(h->cpus[16].id, 8);
    assert_int_equal(h->cpus[16].node, 1);
    assert_true(fabs(h->capacity.v[DRV_RES_MEM_MIB] - 262144) < 1e-9);
    assert_true(fabs(h->capacity.v[DRV_RES_NET_IN_MBPS] - 40000) < 1e-9);

    /* a file with comments and one key per line, same parser (in a
     * folder of its own: test runs side by side do not share it) */
    char *dir = test_tmpdir("test-host");
    autofree char *path = xasprintf("%s/host.desc", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# a small host\ncpus = 8   # logical\nmem_mib=16384\nl3=2\n"
          "reserved_cpus=1, cpu_allocation_ratio=4\n",
          f);
    fclose(f);
    autoptr(drv_host) g = drv_host_load(path, &lim, &err);
    assert_int_equal(test_rmtree(dir), 0);
    free(dir);
    assert_non_null(g);
    assert_int_equal(g->nl3, 2);
    assert_true(fabs(g->capacity.v[DRV_RES_VCPU] - 7) < 1e-12);
    assert_true(fabs(g->ratio.v[DRV_RES_VCPU] - 4) < 1e-12);

    autoptr(drv_host) d = drv_host_dup(g);
    assert_int_equal(d->ncpus, 8);
    assert_int_equal(drv_host_cpu_index(d, 7), drv_host_cpu_index(g, 7));
}

static void test_bad_input(void **state)
{
    (void)state;
    struct drv_host_limits lim = limits_none();
    struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"cpus=8,mem_gib=16,colour=blue", "unknown key `colour`"},
        {"mem_gib=16", "`cpus` must be"},
        {"cpus=8", "mem_gib"},
        {"cpus=8,mem_gib=-1", "not a valid value"},
        {"cpus=6,mem_gib=16,nodes=4", "do not split evenly"},
        {"cpus=8,mem_gib=16,mem_mib=3", "memory given twice"},
        {"cpus=8 mem_gib=16", "not a valid value"},
        {"cpus=2000,mem_gib=16", "`cpus` must be"},
        {"<capabilities><host>", "not well-formed"},
        {"<capabilities><host/></capabilities>", "no <host><topology><cells>"},
        {"<other/>", "no <capabilities><host>"},
        {"<capabilities><host><topology><cells><cell id='0'><memory>1024</memory><cpus>"
         "<cpu id='0'/><cpu id='0'/></cpus></cell></cells></topology></host></capabilities>",
         "listed twice"},
        {"<capabilities><host><topology><cells><cell id='0'><memory unit='parsec'>1</memory>"
         "</cell></cells></topology></host></capabilities>",
         "unknown memory unit"},
        {"<capabilities><host><topology><cells><cell id='0'><memory>1024</memory><cpus>"
         "<cpu id='-3'/></cpus></cell></cells></topology></host></capabilities>",
         "not a valid number"},
        {"<capabilities><host><topology><cells><cell id='0'><memory>1024</memory>"
         "</cell></cells></topology></host></capabilities>",
         "no CPU"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct err *err = NULL;
        struct drv_host *h = drv_host_parse(cases[i].text, &lim, &err);
        if (h || !err || !strstr(err->msg, cases[i].msg))
            fail_msg("case %zu `%s`: got `%s`", i, cases[i].text, err ? err->msg : "success");
        assert_int_equal(err->code, ERR_INVALID);
        err_clear(&err);
    }
    struct err *err = NULL;
    assert_null(drv_host_load("/nonexistent/host.xml", &lim, &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
}

static void test_limits_from_cfg(void **state)
{
    (void)state;
    struct cfg *cfg = cfg_new_defaults();
    struct err *err = NULL;
    assert_int_equal(cfg_set(cfg, "host", "nic_mbps", "2500", &err), 0);
    assert_int_equal(cfg_set(cfg, "host", "disk_gb", "300", &err), 0);
    assert_int_equal(cfg_set(cfg, "DEFAULT", "reserved_host_cpus", "1", &err), 0);
    struct drv_host_limits l;
    drv_host_limits_from_cfg(cfg, &l);
    assert_true(fabs(l.ratio[DRV_RES_VCPU] - 16.0) < 1e-12);
    assert_true(fabs(l.ratio[DRV_RES_MEM_MIB] - 1.5) < 1e-12);
    assert_true(fabs(l.disk_gb_ratio - 1.0) < 1e-12);
    assert_true(fabs(l.nic_mbps - 2500) < 1e-12);
    assert_true(fabs(l.disk_gb - 300) < 1e-12);
    assert_true(fabs(l.reserved_mem_mib - 512) < 1e-12);
    assert_int_equal(l.reserved_cpus, 1);
    /* disk_gb 0: the filesystem under state_path (or its nearest parent) */
    assert_int_equal(cfg_set(cfg, "host", "disk_gb", "0", &err), 0);
    drv_host_limits_from_cfg(cfg, &l);
    assert_true(l.disk_gb > 0);
    cfg_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cascadelake_two_nodes_smt),
        cmocka_unit_test(test_reservations),
        cmocka_unit_test(test_contiguity),
        cmocka_unit_test(test_amd_dies_two_l3),
        cmocka_unit_test(test_old_libvirt_without_sockets),
        cmocka_unit_test(test_memory_only_node),
        cmocka_unit_test(test_this_machine),
        cmocka_unit_test(test_node_memory_follows_host_total),
        cmocka_unit_test(test_offline_cpu_and_missing_memory),
        cmocka_unit_test(test_description),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_limits_from_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
