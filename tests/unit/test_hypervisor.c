/* The hypervisor boundary (driver/hypervisor.c) through the fake backend:
 * argument checks, lifecycle and events, reshape of changed knobs only,
 * usage sampling, reconcile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/control.h"
#include "driver/fake/fake.h"
#include "driver/host.h"
#include "driver/hypervisor.h"
#include "helpers/engine.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define UUID_B "7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5c"
#define UUID_C "8f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5d"

static struct drv_hv *open_fake(bool unplug)
{
    const char *const opts[] = {"fake.topology=nodes=2,sockets=1,cores=4,threads=2,mem_mib=8192",
                                unplug ? "fake.vcpu_unplug=true" : "fake.vcpu_unplug=false",
                                NULL};
    return test_fake_hv_open(opts);
}

static struct drv_shape shape_of(double vcpu, int online, double mem)
{
    struct drv_shape s = {
        .vcpus_online = online, .vcpus_max = 4, .mem_max_mib = 2048, .numa_node = -1};
    s.res.v[DRV_RES_VCPU] = vcpu;
    s.res.v[DRV_RES_MEM_MIB] = mem;
    return s;
}

static void spec_of(struct drv_hv_guest_spec *spec, const char *uuid)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", uuid);
    spec->shape = shape_of(1, 1, 512);
    spec->image.kernel = (char *)"/images/vmlinuz";
    spec->image.disk_base = (char *)"/images/base.qcow2";
    spec->nvifs = 1;
}

static void test_backend_registry(void **state)
{
    (void)state;
    assert_non_null(drv_hv_backend("fake"));
    assert_null(drv_hv_backend("xen"));
    autocfg cfg = cfg_new_defaults();
    struct err *err = NULL;
    assert_null(drv_hv_open("xen", cfg, &err));
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

static void test_spec_checks(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;

    spec_of(&spec, "not-a-uuid");
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);

    spec_of(&spec, UUID_A);
    spec.image.kernel = NULL;
    spec.image.disk_base = NULL;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_non_null(strstr(err->msg, "neither a kernel nor a disk"));
    err_clear(&err);

    spec_of(&spec, UUID_A);
    spec.image.kernel = (char *)"relative/vmlinuz";
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    err_clear(&err);

    spec_of(&spec, UUID_A);
    snprintf(spec.vifs[0].tap, sizeof(spec.vifs[0].tap), "vnet0");
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_non_null(strstr(err->msg, "vnet"));
    err_clear(&err);

    spec_of(&spec, UUID_A);
    snprintf(spec.vifs[0].mac, sizeof(spec.vifs[0].mac), "01:00:00:00:00:01");
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    err_clear(&err);

    /* more than the host policy allows: 16 CPUs in the fake host */
    spec_of(&spec, UUID_A);
    spec.shape.vcpus_max = 64;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_int_equal(err->code, ERR_CAPACITY);
    err_clear(&err);

    spec_of(&spec, UUID_A);
    spec.shape.numa_node = 2;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_int_equal(err->code, ERR_CAPACITY);
    err_clear(&err);

    /* an impossible shape */
    spec_of(&spec, UUID_A);
    spec.shape.res.v[DRV_RES_VCPU] = 3;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    err_clear(&err);
}

static void test_lifecycle_events(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    struct test_hv_events seen = {0};
    drv_hv_set_event_cb(hv, test_hv_events_record, &seen);
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ev[1].type, DRV_HV_EVENT_STARTED);
    assert_true(seen.ev[1].by_sculpt);

    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_string_equal(info.name, "sculpt-" UUID_A);
    int64_t id = info.domain_id;
    assert_int_equal(drv_fake_advance(hv, 5000, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.uptime_ms, 5000);

    assert_int_equal(drv_hv_pause(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_pause(hv, UUID_A, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(drv_hv_unpause(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_suspend(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_SUSPENDED);
    assert_int_equal(drv_hv_resume(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_power_off(hv, UUID_A, 0, &err), 0);
    assert_int_equal(drv_hv_power_on(hv, UUID_A, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_true(info.domain_id != id);

    /* behind sculpt's back */
    seen.n = 0;
    assert_int_equal(drv_fake_kill(hv, UUID_A, "crashed", &err), 0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ev[0].type, DRV_HV_EVENT_STOPPED);
    assert_false(seen.ev[0].by_sculpt);
    assert_string_equal(seen.ev[0].reason, "crashed");
    assert_int_equal(drv_hv_power_on(hv, UUID_A, &err), 0);

    assert_int_equal(drv_hv_destroy(hv, UUID_A, false, &err), 0);
    assert_int_equal(drv_hv_destroy(hv, UUID_A, false, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
}

static void test_reshape_knobs(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(false);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);

    struct drv_hv_reshape_report rep;
    struct drv_shape s = shape_of(1, 1, 512);
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &s, &rep, &err), 0);
    assert_int_equal(rep.changed, 0); /* nothing differs: nothing done */

    s = shape_of(2.5, 3, 768);
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &s, &rep, &err), 0);
    assert_int_equal(rep.changed, (1u << DRV_HV_KNOB_VCPUS) | (1u << DRV_HV_KNOB_QUOTA) |
                                      (1u << DRV_HV_KNOB_BALLOON));
    assert_int_equal(rep.calls, 3);

    s.res.v[DRV_RES_NET_IN_MBPS] = 100;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &s, &rep, &err), 0);
    assert_int_equal(rep.changed, 1u << DRV_HV_KNOB_NET);

    /* a shrink without unplug keeps the vCPUs online, lowers the quota */
    s = shape_of(0.5, 1, 768);
    s.res.v[DRV_RES_NET_IN_MBPS] = 100;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &s, &rep, &err), 0);
    assert_true(rep.vcpus_kept);
    assert_int_equal(rep.changed, 1u << DRV_HV_KNOB_QUOTA);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.vcpus_online_actual, 3);
    assert_int_equal(info.shape.vcpus_online, 1);

    /* the maxima are not live knobs */
    s.vcpus_max = 3;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &s, &rep, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    s.vcpus_max = 8;
    assert_int_equal(drv_hv_resize_cold(hv, UUID_A, &s, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.shape.vcpus_max, 8);
    assert_int_equal(info.vcpus_online_actual, 1);

    /* injected failure */
    assert_int_equal(drv_fake_fail_next(hv, "reshape", ERR_TIMEOUT, 1, &err), 0);
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &s, &rep, &err), -1);
    assert_int_equal(err->code, ERR_TIMEOUT);
    err_clear(&err);
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &s, &rep, &err), 0);
}

static void test_shape_diff_units(void **state)
{
    (void)state;
    struct drv_shape a = shape_of(1.5, 2, 1024), b = a;
    b.res.v[DRV_RES_MEM_MIB] += 0.0001;    /* below a KiB: the balloon cannot tell */
    b.res.v[DRV_RES_NET_OUT_MBPS] = 0.001; /* 0.125 KB/s rounds to 0 */
    assert_int_equal(drv_hv_shape_diff(&a, &b, 100000), 0);
    b.res.v[DRV_RES_DISK_WRITE_MBPS] = 0.5;
    drv_cpuset_set(&b.pcpus, 3);
    b.numa_node = 1;
    assert_int_equal(drv_hv_shape_diff(&a, &b, 100000),
                     (1u << DRV_HV_KNOB_DISK) | (1u << DRV_HV_KNOB_PIN) | (1u << DRV_HV_KNOB_NUMA));
}

static void test_sampling(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    spec.shape = shape_of(1.5, 2, 1024);
    spec.shape.res.v[DRV_RES_NET_IN_MBPS] = 100;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    struct drv_res demand = drv_res_zero();
    demand.v[DRV_RES_VCPU] = 2; /* more than the 1.5 it is entitled to */
    demand.v[DRV_RES_MEM_MIB] = 300;
    demand.v[DRV_RES_NET_IN_MBPS] = 40;
    demand.v[DRV_RES_DISK_WRITE_IOPS] = 250;
    assert_int_equal(drv_fake_set_demand(hv, UUID_A, &demand, &err), 0);

    autofree struct drv_hv_sample *s1 = NULL;
    size_t n = 0;
    assert_int_equal(drv_hv_sample(hv, &s1, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(s1[0].interval_s == 0);
    assert_true(s1[0].use.v[DRV_RES_MEM_MIB] == 300);

    assert_int_equal(drv_fake_advance(hv, 10000, &err), 0);
    autofree struct drv_hv_sample *s2 = NULL;
    assert_int_equal(drv_hv_sample(hv, &s2, &n, &err), 0);
    assert_true(s2[0].interval_s == 10);
    assert_float_equal(s2[0].use.v[DRV_RES_VCPU], 1.5, 1e-9); /* capped by the shape */
    assert_float_equal(s2[0].use.v[DRV_RES_NET_IN_MBPS], 40, 1e-6);
    assert_float_equal(s2[0].use.v[DRV_RES_DISK_WRITE_IOPS], 250, 1e-9);

    /* a restarted guest's counters go back: treated as a first sample */
    struct drv_hv_sample prev = s2[0], cur = s2[0];
    cur.mono_ns += 1000000000;
    cur.raw.cpu_time_ns = 5;
    drv_hv_sample_derive(&prev, &cur);
    assert_true(cur.interval_s == 0);
    assert_true(cur.use.v[DRV_RES_VCPU] == 0);

    /* stopped guests are not sampled */
    assert_int_equal(drv_hv_power_off(hv, UUID_A, 0, &err), 0);
    autofree struct drv_hv_sample *s3 = NULL;
    assert_int_equal(drv_hv_sample(hv, &s3, &n, &err), 0);
    assert_int_equal(n, 0);
}

/* More CPU wanted than the host has: shared by weight, as CFS does, and a
 * guest wanting less than its share keeps what it wants. */
static void test_cpu_contention_by_weight(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true); /* 16 CPUs */
    struct err *err = NULL;
    /* wants 4, 4, 4, 4, 1 = 17; weights 800, 400, 400, 400, 400 */
    const double want[5] = {4, 4, 4, 4, 1};
    const double got[5] = {4, 11.0 / 3, 11.0 / 3, 11.0 / 3, 1};
    char uuid[5][DRV_UUID_LEN + 1];
    for (int i = 0; i < 5; i++) {
        struct drv_hv_guest_spec spec;
        snprintf(uuid[i], sizeof(uuid[i]), "00000000-0000-4000-8000-00000000000%c", '0' + i);
        spec_of(&spec, uuid[i]);
        spec.shape = shape_of(4, 4, 512);
        spec.shape.cpu_weight = i == 0 ? 800 : 400;
        assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
        struct drv_res d = drv_res_zero();
        d.v[DRV_RES_VCPU] = want[i];
        d.v[DRV_RES_MEM_MIB] = 256;
        assert_int_equal(drv_fake_set_demand(hv, uuid[i], &d, &err), 0);
    }
    autofree struct drv_hv_sample *s0 = NULL, *s1 = NULL, *s2 = NULL;
    size_t n = 0;
    assert_int_equal(drv_hv_sample(hv, &s0, &n, &err), 0);
    assert_int_equal(drv_fake_advance(hv, 10000, &err), 0);
    assert_int_equal(drv_hv_sample(hv, &s1, &n, &err), 0);
    assert_int_equal(n, 5);
    for (size_t j = 0; j < n; j++)
        for (int i = 0; i < 5; i++)
            if (strcmp(s1[j].uuid, uuid[i]) == 0)
                assert_float_equal(s1[j].use.v[DRV_RES_VCPU], got[i], 1e-6);
    /* the weight changed live: 800 -> 100 for the first */
    struct drv_shape to = shape_of(4, 4, 512);
    to.cpu_weight = 100;
    struct drv_hv_reshape_report rep;
    assert_int_equal(drv_hv_reshape(hv, uuid[0], &to, &rep, &err), 0);
    assert_true(rep.changed & (1u << DRV_HV_KNOB_QUOTA));
    /* its share (16 x 100 / 1700) is now the smallest: the others' wants
     * (4, 4, 4, 1) fit within theirs, and it gets the 3 CPUs left */
    assert_int_equal(drv_fake_advance(hv, 10000, &err), 0);
    assert_int_equal(drv_hv_sample(hv, &s2, &n, &err), 0);
    for (size_t j = 0; j < n; j++)
        if (strcmp(s2[j].uuid, uuid[0]) == 0)
            assert_float_equal(s2[j].use.v[DRV_RES_VCPU], 3, 1e-6);
}

static void test_reconcile(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    spec_of(&spec, UUID_C);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);

    /* A drifted behind our back; B believed but missing; C unknown */
    struct drv_shape drift = shape_of(1, 1, 256);
    assert_int_equal(drv_fake_tamper(hv, UUID_A, &drift, &err), 0);
    struct drv_hv_expect ex[2] = {
        {.uuid = UUID_A, .state = DRV_POWER_RUNNING, .shape = shape_of(1, 1, 512)},
        {.uuid = UUID_B, .state = DRV_POWER_RUNNING, .shape = shape_of(1, 1, 512)},
    };
    autoptr(drv_hv_reconcile) r = drv_hv_reconcile_run(hv, ex, 2, &err);
    assert_non_null(r);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->items[0].drift, DRV_HV_DRIFT_RESHAPED);
    assert_non_null(strstr(r->items[0].message, "balloon"));
    assert_int_equal(r->items[1].drift, DRV_HV_DRIFT_MISSING);
    assert_int_equal(r->items[2].drift, DRV_HV_DRIFT_UNKNOWN);
    assert_string_equal(r->items[2].uuid, UUID_C);

    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_true(info.shape.res.v[DRV_RES_MEM_MIB] == 512);

    /* a second pass finds nothing to do */
    autoptr(drv_hv_reconcile) r2 = drv_hv_reconcile_run(hv, ex, 1, &err);
    assert_int_equal(r2->items[0].drift, DRV_HV_DRIFT_NONE);
}

static void test_disconnect(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    struct test_hv_events seen = {0};
    drv_hv_set_event_cb(hv, test_hv_events_record, &seen);
    assert_int_equal(drv_fake_disconnect(hv, &err), 0);
    struct drv_hv_host host;
    assert_int_equal(drv_hv_host_info(hv, &host, &err), -1);
    assert_int_equal(err->code, ERR_UNAVAILABLE);
    err_clear(&err);
    assert_int_equal(drv_fake_reconnect(hv, &err), 0);
    assert_int_equal(drv_hv_host_info(hv, &host, &err), 0);
    assert_int_equal(host.cpus, 16);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ev[0].type, DRV_HV_EVENT_DISCONNECTED);
    assert_int_equal(seen.ev[1].type, DRV_HV_EVENT_RECONNECTED);
}

static void test_capabilities(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    autofree char *caps = drv_hv_capabilities(hv, &err);
    assert_non_null(caps);
    assert_non_null(strstr(caps, "<cells num='2'>"));
    /* core 0 of node 0 has threads 0 and 8 (8 cores in all) */
    assert_non_null(
        strstr(caps, "<cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0,8'/>"));
    assert_non_null(
        strstr(caps, "<cpu id='12' socket_id='1' die_id='0' core_id='0' siblings='4,12'/>"));
}

/* The fake hands the engine its topology directly (no XML reader in a
 * program without the libvirt module): the host must be the one its
 * capabilities XML describes, CPU by CPU. */
static void assert_same_host(const struct drv_host *a, const struct drv_host *b)
{
    assert_int_equal(a->ncpus, b->ncpus);
    for (int32_t i = 0; i < a->ncpus; i++) {
        assert_int_equal(a->cpus[i].id, b->cpus[i].id);
        assert_int_equal(a->cpus[i].node, b->cpus[i].node);
        assert_int_equal(a->cpus[i].socket, b->cpus[i].socket);
        assert_int_equal(a->cpus[i].core, b->cpus[i].core);
        assert_int_equal(a->cpus[i].l3, b->cpus[i].l3);
        assert_int_equal(a->cpus[i].reserved, b->cpus[i].reserved);
    }
    assert_int_equal(a->nnodes, b->nnodes);
    for (int32_t i = 0; i < a->nnodes; i++) {
        assert_int_equal(a->nodes[i].id, b->nodes[i].id);
        assert_true(a->nodes[i].mem_mib == b->nodes[i].mem_mib);
        assert_true(a->nodes[i].mem_usable_mib == b->nodes[i].mem_usable_mib);
        assert_int_equal(a->nodes[i].ncpus_usable, b->nodes[i].ncpus_usable);
        assert_true(drv_cpuset_equal(&a->nodes[i].cpus, &b->nodes[i].cpus));
    }
    assert_int_equal(a->nl3, b->nl3);
    assert_int_equal(a->nsockets, b->nsockets);
    assert_int_equal(a->ncores, b->ncores);
    assert_int_equal(a->threads_per_core, b->threads_per_core);
    assert_true(drv_cpuset_equal(&a->usable, &b->usable));
    for (int k = 0; k < DRV_RES_LAST; k++) {
        assert_true(a->capacity.v[k] == b->capacity.v[k]);
        assert_true(a->ratio.v[k] == b->ratio.v[k]);
    }
    assert_string_equal(a->source, b->source);
}

static void test_topology(void **state)
{
    (void)state;
    static const char *const topologies[] = {
        "nodes=1,sockets=1,cores=4,threads=2,mem_mib=16384",
        "nodes=2,sockets=2,cores=3,threads=2,mem_mib=8192",
        "nodes=4,sockets=1,cores=2,threads=1,mem_mib=1024",
    };
    for (size_t t = 0; t < ARRAY_SIZE(topologies); t++) {
        autocfg cfg = cfg_new_defaults();
        struct err *err = NULL;
        assert_int_equal(cfg_set(cfg, "DEFAULT", "compute_driver", "fake", &err), 0);
        assert_int_equal(cfg_set(cfg, "DEFAULT", "reserved_host_cpus", "1", &err), 0);
        assert_int_equal(cfg_set(cfg, "fake", "topology", topologies[t], &err), 0);
        autoptr(drv_hv) hv = drv_hv_open(NULL, cfg, &err);
        assert_non_null(hv);
        autoptr(drv_host) direct = drv_control_host(hv, cfg, &err);
        assert_non_null(direct);

        struct drv_hv_host info;
        assert_int_equal(drv_hv_host_info(hv, &info, &err), 0);
        struct drv_host_limits lim;
        drv_host_limits_from_cfg(cfg, &lim);
        lim.mem_mib = info.mem_mib;
        autofree char *caps = drv_hv_capabilities(hv, &err);
        assert_non_null(caps);
        autoptr(drv_host) parsed = drv_host_parse(caps, &lim, &err);
        assert_non_null(parsed);
        assert_same_host(direct, parsed);
    }
}

static void test_console(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    autofree char *out = drv_hv_console_output(hv, UUID_A, 0, &err);
    assert_non_null(strstr(out, "GUEST-INIT-READY"));
    autofree char *tail = drv_hv_console_output(hv, UUID_A, 5, &err);
    assert_int_equal(strlen(tail), 5);
}

/* The images the guests read: each guest's kernel and base image, a
 * rescued guest's rescue image too, sorted and each once. */
static void test_images_in_use(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    struct drv_hv_paths used;
    assert_int_equal(drv_hv_images_in_use(hv, &used, &err), 0);
    assert_int_equal(used.n, 0);
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    spec_of(&spec, UUID_B);
    spec.image.initrd = (char *)"/images/initrd";
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    struct drv_hv_image rescue = {.disk_base = (char *)"/images/rescue.qcow2"};
    assert_int_equal(drv_hv_rescue(hv, UUID_B, &rescue, NULL, NULL, 0, &err), 0);
    assert_int_equal(drv_hv_images_in_use(hv, &used, &err), 0);
    const char *want[] = {"/images/base.qcow2", "/images/initrd", "/images/rescue.qcow2",
                          "/images/vmlinuz"};
    assert_int_equal(used.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(used.v[i], want[i]);
    drv_hv_paths_release(&used);
    /* a backend that cannot list them fails the call (nothing is removed) */
    assert_int_equal(drv_fake_fail_next(hv, "images_in_use", ERR_UNAVAILABLE, 1, &err), 0);
    assert_int_equal(drv_hv_images_in_use(hv, &used, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNAVAILABLE);
    assert_int_equal(used.n, 0);
    err_clear(&err);
}

/* Guest A without the guest agent's channel, guest B with it, running. */
static void spawn_agent_pair(struct drv_hv *hv)
{
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    spec_of(&spec, UUID_B);
    spec.guest_agent = true;
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
}

/* set_user_password through the fake's agent: only with a channel, only
 * on a running guest, an unknown user refused, the change logged without
 * the password; bad arguments refused at the boundary. */
static void test_set_user_password(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    spawn_agent_pair(hv);

    assert_int_equal(drv_hv_set_user_password(hv, UUID_A, "root", "pw-1", &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    err_clear(&err);
    assert_int_equal(drv_hv_set_user_password(hv, UUID_B, "root", "pw-1", &err), 0);
    autofree char *out = drv_hv_console_output(hv, UUID_B, 0, &err);
    assert_non_null(strstr(out, "GUEST-PASSWORD user=root"));
    assert_null(strstr(out, "pw-1"));
    assert_int_equal(drv_hv_set_user_password(hv, UUID_B, "nobody", "pw-1", &err), -1);
    assert_int_equal(err_code_of(err), ERR_INTERNAL);
    assert_null(strstr(err->msg, "pw-1"));
    err_clear(&err);
    assert_int_equal(drv_hv_set_user_password(hv, UUID_B, "a:b", "pw-1", &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_set_user_password(hv, UUID_B, "root", NULL, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_set_user_password(hv, UUID_C, "root", "pw-1", &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(drv_hv_power_off(hv, UUID_B, 0, &err), 0);
    assert_int_equal(drv_hv_set_user_password(hv, UUID_B, "root", "pw-1", &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT);
    err_clear(&err);

    /* the channel is part of the guest's record */
    struct drv_hv_guest_spec back;
    assert_int_equal(drv_hv_get_spec(hv, UUID_B, &back, &err), 0);
    assert_true(back.guest_agent);
    drv_hv_guest_spec_release(&back);
}

/* Freeze and thaw through the fake's agent: only with a channel, only on
 * a running guest, qemu-ga's answers (a second freeze refused, a thaw of
 * a guest not frozen thaws nothing), console lines in order, the agent's
 * silence injected; a stop ends a freeze. */
static void test_fs_freeze(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake(true);
    struct err *err = NULL;
    spawn_agent_pair(hv);
    assert_true(drv_hv_can_quiesce(hv));

    int n = -1;
    assert_int_equal(drv_hv_fs_freeze(hv, UUID_A, &n, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    assert_int_equal(n, 0);
    err_clear(&err);
    assert_int_equal(drv_hv_fs_freeze(hv, UUID_B, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(drv_hv_fs_freeze(hv, UUID_B, &n, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INTERNAL);
    err_clear(&err);
    assert_int_equal(drv_hv_fs_thaw(hv, UUID_B, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(drv_hv_fs_thaw(hv, UUID_B, &n, &err), 0);
    assert_int_equal(n, 0);
    autofree char *out = drv_hv_console_output(hv, UUID_B, 0, &err);
    const char *fr = strstr(out, "GUEST-FSFREEZE frozen n=1");
    assert_non_null(fr);
    assert_non_null(strstr(fr, "GUEST-FSFREEZE thawed n=1"));

    /* the agent not answering: TIMEOUT, nothing frozen */
    assert_int_equal(drv_fake_fail_next(hv, "fs_freeze", ERR_TIMEOUT, 1, &err), 0);
    assert_int_equal(drv_hv_fs_freeze(hv, UUID_B, NULL, &err), -1);
    assert_int_equal(err_code_of(err), ERR_TIMEOUT);
    err_clear(&err);
    assert_int_equal(drv_hv_fs_thaw(hv, UUID_B, &n, &err), 0);
    assert_int_equal(n, 0);

    /* a guest that stops is thawed; one not running refuses */
    assert_int_equal(drv_hv_fs_freeze(hv, UUID_B, NULL, &err), 0);
    assert_int_equal(drv_hv_power_off(hv, UUID_B, 0, &err), 0);
    assert_int_equal(drv_hv_fs_thaw(hv, UUID_B, &n, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(drv_hv_power_on(hv, UUID_B, &err), 0);
    assert_int_equal(drv_hv_fs_freeze(hv, UUID_B, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(drv_hv_fs_freeze(hv, UUID_C, &n, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(drv_hv_fs_freeze(hv, "nope", &n, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_registry), cmocka_unit_test(test_spec_checks),
        cmocka_unit_test(test_lifecycle_events), cmocka_unit_test(test_reshape_knobs),
        cmocka_unit_test(test_shape_diff_units), cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_cpu_contention_by_weight),
        cmocka_unit_test(test_reconcile),        cmocka_unit_test(test_disconnect),
        cmocka_unit_test(test_capabilities),     cmocka_unit_test(test_topology),
        cmocka_unit_test(test_console),         cmocka_unit_test(test_set_user_password),
        cmocka_unit_test(test_images_in_use),    cmocka_unit_test(test_fs_freeze),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
