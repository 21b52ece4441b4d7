/* The late server group check's decisions (compute_group_policy.c), from
 * what Nova would answer: the group hint of a request, the rule
 * max_server_per_host, the members counted on this host, affinity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "openstack/compute_group_policy.h"

#define A "7b0c1b63-5b1b-4b9e-9d7e-1f2a3b4c5d01"
#define B "7b0c1b63-5b1b-4b9e-9d7e-1f2a3b4c5d02"
#define C "7b0c1b63-5b1b-4b9e-9d7e-1f2a3b4c5d03"
#define G "0e9f6a8b-2c3d-4e5f-8a9b-0c1d2e3f4a5b"

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *v = json_loads(s, 0, &je);
    if (!v)
        fail_msg("bad JSON in the test: %s: %s", je.text, s);
    return v;
}

static void test_hint(void **state)
{
    (void)state;
    /* the request spec's hints (a dict of lists) come first */
    json_auto_t *both = parse(
        "{\"request_spec\": {\"nova_object.name\": \"RequestSpec\", \"nova_object.data\": "
        "{\"scheduler_hints\": {\"group\": [\"" G "\"]}}}, "
        "\"filter_properties\": {\"scheduler_hints\": {\"group\": \"other\"}}}");
    assert_string_equal(os_group_hint(both), G);
    /* no hints in the spec (an older conductor's reschedule): the filter
     * properties' single value */
    json_auto_t *legacy = parse(
        "{\"request_spec\": {\"nova_object.name\": \"RequestSpec\", \"nova_object.data\": "
        "{\"scheduler_hints\": {}}}, "
        "\"filter_properties\": {\"scheduler_hints\": {\"group\": \"" G "\"}}}");
    assert_string_equal(os_group_hint(legacy), G);
    json_auto_t *none = parse("{\"request_spec\": null, \"filter_properties\": {}}");
    assert_null(os_group_hint(none));
    json_auto_t *empty = parse("{\"filter_properties\": {\"scheduler_hints\": {\"group\": \"\"}}}");
    assert_null(os_group_hint(empty));
    json_auto_t *other = parse("{\"filter_properties\": {\"scheduler_hints\": {\"x\": [\"1\"]}}}");
    assert_null(os_group_hint(other));
    assert_null(os_group_hint(NULL));
}

static void test_max_per_host(void **state)
{
    (void)state;
    static const struct {
        const char *rules;
        long want;
    } cases[] = {
        {"{}", 1},
        {"{\"max_server_per_host\": \"3\"}", 3},
        {"{\"max_server_per_host\": \"1\"}", 1},
        /* what the API never lets through: the default, never 0 or less */
        {"{\"max_server_per_host\": \"0\"}", 1},
        {"{\"max_server_per_host\": \"x\"}", 1},
        {"{\"max_server_per_host\": \"2x\"}", 1},
        {"{\"max_server_per_host\": 2}", 1},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char buf[256];
        snprintf(buf, sizeof(buf),
                 "{\"nova_object.name\": \"InstanceGroup\", \"nova_object.data\": "
                 "{\"policy\": \"anti-affinity\", \"_rules\": %s}}",
                 cases[k].rules);
        json_auto_t *g = parse(buf);
        assert_int_equal(os_group_max_per_host(g), cases[k].want);
    }
    json_auto_t *bare = parse("{\"nova_object.name\": \"InstanceGroup\", "
                              "\"nova_object.data\": {\"policy\": \"anti-affinity\"}}");
    assert_int_equal(os_group_max_per_host(bare), 1);
}

static void test_members_here(void **state)
{
    (void)state;
    json_auto_t *members = parse("[\"" A "\", \"" B "\", \"" C "\"]");
    /* the instance itself never counts (its host is already saved) */
    json_auto_t *only_me = parse("[\"" A "\"]");
    assert_int_equal(os_group_members_here(members, only_me, A), 0);
    /* another member here, and one not a member */
    json_auto_t *two = parse("[\"" A "\", \"" B "\", \"0000\"]");
    assert_int_equal(os_group_members_here(members, two, A), 1);
    /* one migrating here counts as one here (the caller adds it) */
    json_auto_t *all = parse("[\"" A "\", \"" B "\", \"" C "\"]");
    assert_int_equal(os_group_members_here(members, all, A), 2);
    json_auto_t *nobody = parse("[]");
    assert_int_equal(os_group_members_here(members, nobody, A), 0);
    assert_int_equal(os_group_members_here(NULL, all, A), 0);
}

static void test_affinity(void **state)
{
    (void)state;
    json_auto_t *none = parse("[]");
    assert_true(os_group_affinity_ok(none, "kvm1")); /* the first member goes anywhere */
    json_auto_t *here = parse("[\"kvm1\"]");
    assert_true(os_group_affinity_ok(here, "kvm1"));
    json_auto_t *there = parse("[\"fake1\"]");
    assert_false(os_group_affinity_ok(there, "kvm1"));
    json_auto_t *split = parse("[\"fake1\", \"kvm1\"]"); /* already broken: here is one of them */
    assert_true(os_group_affinity_ok(split, "kvm1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hint),
        cmocka_unit_test(test_max_per_host),
        cmocka_unit_test(test_members_here),
        cmocka_unit_test(test_affinity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
