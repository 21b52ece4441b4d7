/* Which allocations against our provider are released: Nova's rule in
 * _remove_deleted_instances_allocations, case by case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "openstack/compute_priv.h"

#define HOST "kvm1"
#define NODE "kvm1.example"

struct orphan_case {
    const char *what;
    bool tracked;
    bool known;               /* Nova has a record (else `in` is NULL) */
    struct os_orphan_instance in;
    enum os_orphan_verdict want;
};

static const struct orphan_case cases[] = {
    {"tracked, even if Nova says deleted (the delete is ours, under way)", true, true,
     {true, true, false, HOST, NODE, "deleting"}, OS_ORPHAN_KEEP_TRACKED},
    {"tracked build", true, true, {true, false, false, NULL, NULL, "spawning"},
     OS_ORPHAN_KEEP_TRACKED},
    {"no record at all", false, false, {0}, OS_ORPHAN_KEEP_UNKNOWN},
    {"InstanceNotFound (a build racing its creation, a migration)", false, true, {0},
     OS_ORPHAN_KEEP_UNKNOWN},
    {"deleted here", false, true, {true, true, false, HOST, NODE, NULL}, OS_ORPHAN_RELEASE},
    {"deleted elsewhere", false, true, {true, true, false, "other", "other", NULL},
     OS_ORPHAN_RELEASE},
    {"deleted before it had a host", false, true, {true, true, false, NULL, NULL, NULL},
     OS_ORPHAN_RELEASE},
    {"deleted but hidden (cross-cell)", false, true, {true, true, true, HOST, NODE, NULL},
     OS_ORPHAN_KEEP_HIDDEN},
    {"scheduled, no host yet", false, true, {true, false, false, NULL, NULL, "scheduling"},
     OS_ORPHAN_KEEP_SCHEDULED},
    {"scheduled, empty host", false, true, {true, false, false, "", NULL, NULL},
     OS_ORPHAN_KEEP_SCHEDULED},
    {"here, a claim in flight", false, true, {true, false, false, HOST, NODE, "spawning"},
     OS_ORPHAN_KEEP_IN_MOTION},
    {"here, not tracked, no task", false, true, {true, false, false, HOST, NODE, NULL},
     OS_ORPHAN_KEEP_UNMANAGED},
    {"here, empty task state", false, true, {true, false, false, HOST, NODE, ""},
     OS_ORPHAN_KEEP_UNMANAGED},
    {"moved to another host", false, true, {true, false, false, "other", "other", NULL},
     OS_ORPHAN_KEEP_MOVED},
    {"our host, another node", false, true, {true, false, false, HOST, "node2", NULL},
     OS_ORPHAN_KEEP_MOVED},
    {"soft-deleted (not deleted yet)", false, true, {true, false, false, HOST, NODE, NULL},
     OS_ORPHAN_KEEP_UNMANAGED},
};

static void test_decide(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct orphan_case *k = &cases[i];
        enum os_orphan_verdict v =
            os_orphan_decide(k->tracked, k->known ? &k->in : NULL, HOST, NODE);
        if (v != k->want)
            fail_msg("%s: got `%s`, want `%s`", k->what, os_orphan_verdict_name(v),
                     os_orphan_verdict_name(k->want));
    }
}

/* Only one verdict releases: a deleted, unhidden, untracked instance. */
static void test_only_deleted_released(void **state)
{
    (void)state;
    const char *hosts[] = {NULL, "", HOST, "other"};
    const char *tasks[] = {NULL, "", "spawning", "deleting"};
    for (int tracked = 0; tracked < 2; tracked++)
        for (int found = 0; found < 2; found++)
            for (int deleted = 0; deleted < 2; deleted++)
                for (int hidden = 0; hidden < 2; hidden++)
                    for (size_t h = 0; h < 4; h++)
                        for (size_t t = 0; t < 4; t++) {
                            struct os_orphan_instance in = {found, deleted, hidden, hosts[h],
                                                            NODE, tasks[t]};
                            bool release = os_orphan_decide(tracked, &in, HOST, NODE) ==
                                           OS_ORPHAN_RELEASE;
                            assert_int_equal(release, !tracked && found && deleted && !hidden);
                        }
}

static void test_names(void **state)
{
    (void)state;
    for (int v = 0; v < OS_ORPHAN_LAST; v++)
        assert_string_not_equal(os_orphan_verdict_name((enum os_orphan_verdict)v), "?");
    assert_string_equal(os_orphan_verdict_name(OS_ORPHAN_LAST), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_only_deleted_released),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
