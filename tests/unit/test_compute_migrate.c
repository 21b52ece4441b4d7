/* A resize or cold migration between two hosts: the backends' legs
 * (drv_hv_migrate_out/in, two fake hosts) and what the compute manager
 * decides before it talks to anyone (openstack/compute_migrate_priv.h):
 * which migrations move, malformed legs, a refused prep_resize with and
 * without alternates, a move between hosts of different backends, what
 * becomes of a destination's move claim, and how a restart closes a leg
 * left open in the journal. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "driver/hypervisor.h"
#include "helpers/engine.h"
#include "openstack/compute_migrate_priv.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_resize_priv.h"
#include "openstack/ovo.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define UUID_B "7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5c"

static struct drv_hv *open_fake(void)
{
    const char *const opts[] = {"fake.topology=nodes=1,sockets=1,cores=4,threads=2,mem_mib=8192",
                                NULL};
    return test_fake_hv_open(opts);
}

static void spec_of(struct drv_hv_guest_spec *spec, const char *uuid, double mem)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", uuid);
    spec->shape.vcpus_online = 1;
    spec->shape.vcpus_max = 2;
    spec->shape.mem_max_mib = 2048;
    spec->shape.numa_node = -1;
    spec->shape.res.v[DRV_RES_VCPU] = 1;
    spec->shape.res.v[DRV_RES_MEM_MIB] = mem;
    spec->image.kernel = (char *)"/images/vmlinuz";
}

static enum drv_power_state state_of(struct drv_hv *hv, const char *uuid)
{
    struct drv_hv_info info;
    struct err *err = NULL;
    assert_int_equal(drv_hv_get_info(hv, uuid, &info, &err), 0);
    return info.state;
}

/* The guest leaves the source off but defined (a revert starts it), and
 * comes up on the destination in the new shape; a confirm destroys the
 * source's. */
static void test_fake_hosts(void **state)
{
    (void)state;
    autoptr(drv_hv) src = open_fake();
    autoptr(drv_hv) dst = open_fake();
    struct err *err = NULL;
    assert_true(drv_hv_can_migrate(src));
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A, 512);
    if (drv_hv_spawn(src, &spec, &err) < 0)
        fail_msg("spawn: %s", err->msg);

    char *disk_info = NULL;
    assert_int_equal(drv_hv_migrate_out(src, UUID_A, "host-b", 0, &disk_info, &err), 0);
    assert_non_null(disk_info);
    assert_int_equal(state_of(src, UUID_A), DRV_POWER_SHUTDOWN);

    spec.shape.res.v[DRV_RES_MEM_MIB] = 1024; /* the new flavor's shape */
    assert_int_equal(drv_hv_migrate_in(dst, &spec, disk_info, true, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(dst, UUID_A, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_true(info.shape.res.v[DRV_RES_MEM_MIB] > 1023);

    /* taken in twice: the guest exists */
    assert_int_equal(drv_hv_migrate_in(dst, &spec, disk_info, true, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);

    /* revert: the destination's copy goes, the source's starts again */
    assert_int_equal(drv_hv_destroy(dst, UUID_A, false, &err), 0);
    assert_int_equal(drv_hv_power_on(src, UUID_A, &err), 0);
    assert_int_equal(state_of(src, UUID_A), DRV_POWER_RUNNING);

    /* a stopped guest stays stopped on the destination */
    free(disk_info);
    disk_info = NULL;
    assert_int_equal(drv_hv_migrate_out(src, UUID_A, "host-b", 5, &disk_info, &err), 0);
    assert_int_equal(drv_hv_migrate_in(dst, &spec, disk_info, false, &err), 0);
    assert_int_equal(state_of(dst, UUID_A), DRV_POWER_SHUTDOWN);
    free(disk_info);
}

/* A handed-over pool member keeps its own domain uuid: what it leaves on
 * the destination is named by the instance's, the only one the
 * destination knows. */
static void test_fake_member(void **state)
{
    (void)state;
    autoptr(drv_hv) src = open_fake();
    autoptr(drv_hv) dst = open_fake();
    struct err *err = NULL;
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_B, 512); /* the member, under its own uuid */
    if (drv_hv_spawn(src, &spec, &err) < 0)
        fail_msg("spawn: %s", err->msg);
    drv_hv_alias(src, UUID_A, UUID_B);
    autofree char *disk_info = NULL;
    if (drv_hv_migrate_out(src, UUID_A, "host-b", 0, &disk_info, &err) < 0)
        fail_msg("migrate out: %s", err->msg);
    assert_int_equal(state_of(src, UUID_A), DRV_POWER_SHUTDOWN);
    spec_of(&spec, UUID_A, 512); /* the instance, as Nova names it */
    if (drv_hv_migrate_in(dst, &spec, disk_info, true, &err) < 0)
        fail_msg("migrate in: %s", err->msg);
    assert_int_equal(state_of(dst, UUID_A), DRV_POWER_RUNNING);
}

static void test_fake_bad_input(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake();
    struct err *err = NULL;
    char *disk_info = NULL;
    /* no such guest, a bad uuid, no destination */
    assert_int_equal(drv_hv_migrate_out(hv, UUID_A, "b", 0, &disk_info, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(drv_hv_migrate_out(hv, "nope", "b", 0, &disk_info, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_migrate_out(hv, UUID_A, "", 0, &disk_info, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_null(disk_info);
    /* disk_info missing, or another guest's */
    struct drv_hv_guest_spec spec;
    spec_of(&spec, UUID_A, 512);
    assert_int_equal(drv_hv_migrate_in(hv, &spec, NULL, true, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_migrate_in(hv, &spec, "fake-disk:" UUID_B, true, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_migrate_in(hv, &spec, "/var/lib/x", true, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    /* nothing was defined by the failures */
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &(struct drv_hv_info){0}, &err), -1);
    err_clear(&err);
}

static json_t *migration_of(const char *src, const char *dst)
{
    json_t *m = ovo_new("Migration");
    ovo_set_str(m, "uuid", UUID_B);
    ovo_set_str(m, "source_compute", src);
    ovo_set_str(m, "dest_compute", dst);
    return m;
}

static void test_moves(void **state)
{
    (void)state;
    json_auto_t *same = migration_of("fake1", "fake1");
    json_auto_t *other = migration_of("fake1", "fake2");
    json_auto_t *none = migration_of("fake1", NULL);
    assert_false(os_compute_migration_moves(same));
    assert_true(os_compute_migration_moves(other));
    assert_false(os_compute_migration_moves(none)); /* not scheduled yet */
    assert_false(os_compute_migration_moves(NULL));
}

static void test_malformed_legs(void **state)
{
    (void)state;
    struct err *err = NULL;
    static const char *const legs[] = {"resize_instance", "finish_resize",
                                       "finish_revert_resize"};
    for (size_t k = 0; k < sizeof(legs) / sizeof(legs[0]); k++) {
        json_auto_t *empty = json_object();
        assert_int_equal(os_migrate_check_leg(legs[k], empty, &err), -1);
        assert_int_equal(err->code, ERR_INVALID);
        err_clear(&err);
        assert_int_equal(os_migrate_check_leg(legs[k], NULL, &err), -1);
        err_clear(&err);
        /* a migration that names no destination */
        json_auto_t *half = json_pack("{s:o}", "migration", migration_of("fake1", NULL));
        assert_int_equal(os_migrate_check_leg(legs[k], half, &err), -1);
        assert_int_equal(err->code, ERR_INVALID);
        err_clear(&err);
        /* not a Migration at all */
        json_auto_t *wrong = json_pack("{s:{s:s}}", "migration", "uuid", UUID_B);
        assert_int_equal(os_migrate_check_leg(legs[k], wrong, &err), -1);
        err_clear(&err);
        json_auto_t *ok = json_pack("{s:o, s:s}", "migration", migration_of("fake1", "fake2"),
                                    "disk_info", "fake-disk:" UUID_A);
        assert_int_equal(os_migrate_check_leg(legs[k], ok, &err), 0);
        assert_null(err);
    }
    /* finish_resize needs the source's disk_info */
    json_auto_t *nodisk = json_pack("{s:o, s:n}", "migration", migration_of("fake1", "fake2"),
                                    "disk_info");
    assert_int_equal(os_migrate_check_leg("finish_resize", nodisk, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(os_migrate_check_leg("resize_instance", nodisk, &err), 0);
}

/* prep_resize's arguments as the conductor sends them. */
static json_t *prep_args(bool retry, size_t alternates)
{
    json_t *inst = ovo_new("Instance");
    ovo_set_str(inst, "uuid", UUID_A);
    json_t *flavor = ovo_new("Flavor");
    ovo_set_int(flavor, "id", 2);
    json_t *hosts = json_array();
    for (size_t k = 0; k < alternates; k++)
        json_array_append_new(hosts, json_pack("{s:s}", "service_host", "fake2"));
    json_t *fp = retry ? json_pack("{s:{s:i, s:[]}}", "retry", "num_attempts", 1, "hosts")
                       : json_object();
    return json_pack("{s:o, s:o, s:o, s:o, s:b, s:{s:s}}", "instance", inst, "flavor", flavor,
                     "host_list", hosts, "filter_properties", fp, "clean_shutdown", 1,
                     "request_spec", "nova_object.name", "RequestSpec");
}

static void test_reschedule(void **state)
{
    (void)state;
    /* retry and alternates: handed back to the conductor, the reason kept */
    json_auto_t *args = prep_args(true, 2);
    json_auto_t *c = os_migrate_reschedule_args(args, "not admitted: no room");
    assert_non_null(c);
    assert_false(json_is_true(json_object_get(c, "live")));
    assert_false(json_is_true(json_object_get(c, "rebuild")));
    assert_true(json_is_true(json_object_get(c, "clean_shutdown")));
    assert_int_equal(json_array_size(json_object_get(c, "host_list")), 2);
    assert_true(ovo_is(json_object_get(c, "flavor"), "Flavor"));
    json_t *retry = json_object_get(
        json_object_get(json_object_get(c, "scheduler_hint"), "filter_properties"), "retry");
    assert_string_equal(json_string_value(json_array_get(json_object_get(retry, "exc"), 0)),
                        "not admitted: no room");
    assert_int_equal(json_integer_value(json_object_get(retry, "num_attempts")), 1);
    /* the request's own filter_properties untouched */
    assert_null(json_object_get(
        json_object_get(json_object_get(args, "filter_properties"), "retry"), "exc"));

    /* no alternates left, or no retry (max_attempts 1): not rescheduled */
    json_auto_t *none = prep_args(true, 0);
    assert_null(os_migrate_reschedule_args(none, "x"));
    json_auto_t *noretry = prep_args(false, 2);
    assert_null(os_migrate_reschedule_args(noretry, "x"));
    /* malformed: no flavor, no instance */
    json_auto_t *noflavor = prep_args(true, 1);
    json_object_del(noflavor, "flavor");
    assert_null(os_migrate_reschedule_args(noflavor, "x"));
    json_auto_t *noinst = prep_args(true, 1);
    json_object_set_new(noinst, "instance", json_string("x"));
    assert_null(os_migrate_reschedule_args(noinst, "x"));
    assert_null(os_migrate_reschedule_args(NULL, "x"));
}

static json_t *node_of(const char *host, const char *hv_type)
{
    json_t *n = ovo_new("ComputeNode");
    ovo_set_str(n, "host", host);
    if (hv_type)
        ovo_set_str(n, "hypervisor_type", hv_type);
    return n;
}

/* A move across backends is refused at prep_resize (each backend refuses
 * the other's disk_info at finish_resize), with a refusal that goes to
 * Nova's alternates; one between hosts of the same backend goes on. */
static void test_backend_check(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake();
    struct drv_hv_host hi;
    struct err *err = NULL;
    memset(&hi, 0, sizeof(hi));
    assert_int_equal(drv_hv_host_info(hv, &hi, &err), 0);
    json_auto_t *fake_src = node_of("fake1", hi.hypervisor);
    json_auto_t *qemu_src = node_of("kvm1", "QEMU");

    assert_int_equal(os_migrate_check_backend(fake_src, hi.hypervisor, &err), 0);
    assert_null(err);
    assert_int_equal(os_migrate_check_backend(qemu_src, "QEMU", &err), 0);
    assert_int_equal(os_migrate_check_backend(qemu_src, "qemu", &err), 0);

    /* a fake source to a libvirt destination, and the other way */
    assert_int_equal(os_migrate_check_backend(fake_src, "QEMU", &err), -1);
    assert_int_equal(err->code, ERR_UNSUPPORTED);
    assert_string_equal(err->msg,
                        "cannot take a guest from `fake1`, a `fake` host: this host runs `QEMU`");
    json_auto_t *args = prep_args(true, 1);
    json_auto_t *c = os_migrate_reschedule_args(args, err->msg);
    assert_non_null(c);
    err_clear(&err);
    assert_int_equal(os_migrate_check_backend(qemu_src, hi.hypervisor, &err), -1);
    assert_int_equal(err->code, ERR_UNSUPPORTED);
    err_clear(&err);

    /* a node that says nothing of its backend, or is not a node */
    json_auto_t *silent = node_of("kvm1", NULL);
    assert_int_equal(os_migrate_check_backend(silent, "QEMU", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    json_auto_t *notnode = json_pack("{s:s}", "hypervisor_type", "QEMU");
    assert_int_equal(os_migrate_check_backend(notnode, "QEMU", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(os_migrate_check_backend(NULL, "QEMU", &err), -1);
    err_clear(&err);
    assert_int_equal(os_migrate_check_backend(qemu_src, "", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

/* Nova's in-progress rule: every status but the seven that end a move. */
static void test_in_progress(void **state)
{
    (void)state;
    static const char *const under_way[] = {"pre-migrating", "migrating", "post-migrating",
                                            "finished", "confirming", "reverting", "accepted",
                                            "queued", "running", "preparing", NULL};
    static const char *const over[] = {"confirmed", "reverted", "error", "failed",
                                       "completed", "cancelled", "done"};
    for (size_t k = 0; k < sizeof(under_way) / sizeof(under_way[0]); k++)
        assert_true(os_migration_in_progress(under_way[k]));
    for (size_t k = 0; k < sizeof(over) / sizeof(over[0]); k++)
        assert_false(os_migration_in_progress(over[k]));
}

/* A destination's claim: released only when its move here is over, the
 * instance not here (elsewhere or gone) and no guest defined here. */
static void test_move_claim(void **state)
{
    (void)state;
    static const struct {
        const char *src, *dst, *status; /* src NULL: no migration */
        bool found;
        const char *inst_host;
        bool guest;
        enum os_move_claim_verdict want;
    } cases[] = {
        /* the source rolled back: the instance stays there */
        {"kvm1", "kvm2", "error", true, "kvm1", false, OS_MOVE_CLAIM_RELEASE},
        {"kvm1", "kvm2", "failed", true, "kvm1", false, OS_MOVE_CLAIM_RELEASE},
        {"kvm1", "kvm2", "reverted", true, "kvm1", false, OS_MOVE_CLAIM_RELEASE},
        /* deleted meanwhile */
        {"kvm1", "kvm2", "error", false, NULL, false, OS_MOVE_CLAIM_RELEASE},
        /* still under way: prep_resize done, resize_instance not yet */
        {"kvm1", "kvm2", "pre-migrating", true, "kvm1", false, OS_MOVE_CLAIM_KEEP},
        {"kvm1", "kvm2", "migrating", true, "kvm1", false, OS_MOVE_CLAIM_KEEP},
        /* handed over: the instance is this host's */
        {"kvm1", "kvm2", "post-migrating", true, "kvm2", false, OS_MOVE_CLAIM_SETTLED},
        {"kvm1", "kvm2", "finished", true, "kvm2", true, OS_MOVE_CLAIM_SETTLED},
        {"kvm1", "kvm2", "error", true, "kvm2", true, OS_MOVE_CLAIM_SETTLED},
        /* over, but a guest is defined here: not ours to destroy */
        {"kvm1", "kvm2", "error", true, "kvm1", true, OS_MOVE_CLAIM_GUEST_HERE},
        /* no move to this host behind the row */
        {NULL, NULL, NULL, true, "kvm1", false, OS_MOVE_CLAIM_NOT_A_MOVE},
        {"kvm2", "kvm1", "error", true, "kvm2", false, OS_MOVE_CLAIM_NOT_A_MOVE},
        {"kvm2", "kvm2", "error", true, "kvm2", false, OS_MOVE_CLAIM_NOT_A_MOVE},
        {"kvm1", "kvm3", "error", true, "kvm1", false, OS_MOVE_CLAIM_NOT_A_MOVE},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        json_auto_t *mig = cases[k].src ? migration_of(cases[k].src, cases[k].dst) : NULL;
        if (mig)
            ovo_set_str(mig, "status", cases[k].status);
        struct os_move_claim_facts f = {.mig = mig, .inst_found = cases[k].found,
                                        .inst_host = cases[k].inst_host,
                                        .guest_here = cases[k].guest};
        enum os_move_claim_verdict v = os_move_claim_decide(&f, "kvm2");
        if (v != cases[k].want)
            fail_msg("case %zu: `%s`, not `%s`", k, os_move_claim_verdict_name(v),
                     os_move_claim_verdict_name(cases[k].want));
    }
    assert_string_equal(os_move_claim_verdict_name(OS_MOVE_CLAIM_LAST), "?");
}

/* A pass acts on a claim only as it copied it: a prep_resize of the same
 * instance since (a new move here) or a drop makes its answer stale. */
static void test_claim_current(void **state)
{
    (void)state;
    struct os_compute c;
    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cond, NULL);
    os_compute_move_claim_note(&c, UUID_A);
    os_compute_move_claim_note(&c, UUID_B);
    assert_int_equal(c.nmoves_in, 2);
    assert_true(c.moves_in_new);
    struct os_move_claim a = c.moves_in[0], b = c.moves_in[1];
    assert_true(os_compute_move_claim_current(&c, &a));
    assert_true(os_compute_move_claim_current(&c, &b));
    os_compute_move_claim_note(&c, UUID_A); /* another move of A here */
    assert_int_equal(c.nmoves_in, 2);
    assert_false(os_compute_move_claim_current(&c, &a));
    assert_true(os_compute_move_claim_current(&c, &b));
    os_compute_move_claim_drop(&c, UUID_B);
    assert_false(os_compute_move_claim_current(&c, &b));
    assert_int_equal(c.nmoves_in, 1);
    free(c.moves_in);
    pthread_mutex_destroy(&c.lock);
    pthread_cond_destroy(&c.cond);
}

/* How a restart closes a leg a crash left open in the journal. */
static void test_intent_outcome(void **state)
{
    (void)state;
    static const struct {
        const char *step;
        bool guest, found;
        const char *inst_host;
        enum os_mig_intent_outcome want;
    } cases[] = {
        /* destination: the guest defined, or the taking in cut short */
        {OS_MIG_STEP_DEFINED, true, true, "kvm2", OS_MIG_INTENT_DONE},
        {OS_MIG_STEP_IN, true, true, "kvm1", OS_MIG_INTENT_DONE},
        {OS_MIG_STEP_IN, false, true, "kvm1", OS_MIG_INTENT_CLEANUP},
        {OS_MIG_STEP_DEFINED, false, false, NULL, OS_MIG_INTENT_CLEANUP},
        /* source: handed over (Nova has it elsewhere), or it stayed here */
        {OS_MIG_STEP_HANDED, true, true, "kvm1", OS_MIG_INTENT_DONE},
        {OS_MIG_STEP_OUT, true, true, "kvm2", OS_MIG_INTENT_ROLLED_BACK},
        {OS_MIG_STEP_HANDED, true, true, "kvm2", OS_MIG_INTENT_ROLLED_BACK},
        {OS_MIG_STEP_OUT, true, false, NULL, OS_MIG_INTENT_ROLLED_BACK},
        /* no step this version records */
        {NULL, true, true, "kvm1", OS_MIG_INTENT_ROLLED_BACK},
        {"reshape", false, true, "kvm2", OS_MIG_INTENT_ROLLED_BACK},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        enum os_mig_intent_outcome o = os_mig_intent_outcome(
            cases[k].step, cases[k].guest, cases[k].found, cases[k].inst_host, "kvm2");
        if (o != cases[k].want)
            fail_msg("case %zu: %d, not %d", k, (int)o, (int)cases[k].want);
    }
}

/* A backend with nothing to leave behind cleans up as a no-op; a bad
 * uuid is refused. */
static void test_fake_cleanup(void **state)
{
    (void)state;
    autoptr(drv_hv) hv = open_fake();
    struct err *err = NULL;
    assert_int_equal(drv_hv_migrate_cleanup(hv, UUID_A, &err), 0);
    assert_null(err);
    assert_int_equal(drv_hv_migrate_cleanup(hv, "nope", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_hosts),  cmocka_unit_test(test_fake_member),
        cmocka_unit_test(test_fake_bad_input),
        cmocka_unit_test(test_moves),       cmocka_unit_test(test_malformed_legs),
        cmocka_unit_test(test_reschedule),  cmocka_unit_test(test_in_progress),
        cmocka_unit_test(test_move_claim),  cmocka_unit_test(test_claim_current),
        cmocka_unit_test(test_fake_cleanup),
        cmocka_unit_test(test_intent_outcome), cmocka_unit_test(test_backend_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
