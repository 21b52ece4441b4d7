/* The API's request parsers: what they accept, and a clear refusal for
 * each kind of bad input; and the answers' shape and Placement inventory. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/json_in.h"
#include "api/json_out.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "db/db.h"

static const struct api_bp_parse ctx = {.now_s = 1700000000, .step_s = 60, .horizon_s = 1800};

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        fail_msg("bad test JSON `%s`: %s", text, jerr.text);
    return j;
}

static void expect_msg(struct err *err, const char *want, const char *input)
{
    if (!err)
        fail_msg("`%s` was accepted, expected `%s`", input, want);
    assert_int_equal(err->code, ERR_INVALID);
    if (!strstr(err->msg, want))
        fail_msg("`%s`: message `%s` lacks `%s`", input, err->msg, want);
}

static void test_instance_request(void **state)
{
    (void)state;
    struct err *err = NULL;
    json_t *j = parse("{\"flavor\": {\"name\": \"m1.small\", \"vcpus\": 2, \"memory_mb\": 2048,"
                      " \"root_gb\": 10, \"extra_specs\": {\"quota:vif_inbound_average\": \"1000\"}},"
                      " \"image\": \"cirros\", \"project_id\": \"p1\", \"name\": \"web-1\","
                      " \"metadata\": {\"tier\": \"web\"}, \"blueprint_id\": 3}");
    static const char *const extra[] = {"blueprint_id", NULL};
    struct drv_instance *inst = NULL;
    assert_int_equal(api_parse_instance_request(j, extra, 5000, &inst, &err), 0);
    assert_string_equal(inst->flavor.name, "m1.small");
    assert_int_equal(inst->flavor.vcpus, 2);
    assert_int_equal(inst->flavor.memory_mb, 2048);
    assert_int_equal(inst->flavor.nextra_specs, 1);
    assert_string_equal(inst->project_id, "p1");
    assert_string_equal(drv_kv_get(inst->metadata, inst->nmetadata, "tier"), "web");
    assert_int_equal(strlen(inst->uuid), 36);
    assert_int_equal(inst->created_ms, 5000);
    drv_instance_free(inst);
    json_decref(j);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"[]", "expected an object"},
        {"{}", "`flavor` is required"},
        {"{\"flavor\": {\"vcpus\": 2}}", "`flavor.memory_mb` is required"},
        {"{\"flavor\": {\"vcpus\": 0, \"memory_mb\": 1}}", "`flavor.vcpus` is 0"},
        {"{\"flavor\": {\"vcpus\": 1.5, \"memory_mb\": 1}}", "expected an integer"},
        {"{\"flavor\": {\"vcpus\": \"2\", \"memory_mb\": 1}}", "expected an integer, got a string"},
        {"{\"flavor\": {\"vcpus\": 1, \"memory_mb\": -1}}", "`flavor.memory_mb` is -1"},
        {"{\"flavor\": {\"vcpus\": 1, \"memory_mb\": 1, \"gpus\": 1}}", "unknown member `flavor.gpus`"},
        {"{\"flavor\": {\"vcpus\": 1, \"memory_mb\": 1}, \"uuid\": \"x\"}", "not a UUID"},
        {"{\"flavor\": {\"vcpus\": 1, \"memory_mb\": 1}, \"metadata\": {\"a\": 1}}",
         "`metadata.a`: expected a string"},
        {"{\"flavor\": {\"vcpus\": 1, \"memory_mb\": 1}, \"name\": \"a\\u0001b\"}",
         "control character"},
        {"{\"flavor\": {\"vcpus\": 1, \"memory_mb\": 1}, \"blueprint\": {}}",
         "unknown member `blueprint`"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        j = parse(bad[i].json);
        assert_int_equal(api_parse_instance_request(j, NULL, 0, &inst, &err), -1);
        expect_msg(err, bad[i].msg, bad[i].json);
        err_clear(&err);
        json_decref(j);
    }
    /* a name over the size limit */
    char *longname = xmalloc(400);
    memset(longname, 'a', 399);
    longname[399] = '\0';
    j = json_pack("{s:{s:i, s:i}, s:s}", "flavor", "vcpus", 1, "memory_mb", 1, "name", longname);
    assert_int_equal(api_parse_instance_request(j, NULL, 0, &inst, &err), -1);
    expect_msg(err, "longer than 255 bytes", "long name");
    err_clear(&err);
    json_decref(j);
    free(longname);
}

static void test_blueprint(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct drv_blueprint *bp = NULL;
    json_t *j = parse("{\"step_s\": 60, \"nsteps\": 3, \"confidence\": 0.8, \"resources\": {"
                      "\"vcpu\": {\"p50\": [0.2, 0.3, 0.4], \"p90\": 0.5, \"p99\": [0.6, 0.7, 0.8],"
                      " \"confidence\": 0.6}, \"mem_mib\": {\"p50\": 512}}}");
    assert_int_equal(api_parse_blueprint(j, "", &ctx, &bp, &err), 0);
    assert_int_equal(bp->nsteps, 3);
    assert_int_equal(bp->start_s, 1700000000);
    assert_true(drv_blueprint_get(bp, 1, DRV_RES_VCPU, DRV_Q_P50) == 0.3);
    assert_true(drv_blueprint_get(bp, 2, DRV_RES_VCPU, DRV_Q_P90) == 0.5);
    assert_true(drv_blueprint_get(bp, 2, DRV_RES_VCPU, DRV_Q_P99) == 0.8);
    /* missing upper bands equal the one below */
    assert_true(drv_blueprint_get(bp, 0, DRV_RES_MEM_MIB, DRV_Q_P99) == 512);
    assert_true(bp->res_confidence[DRV_RES_VCPU] == 0.6);
    assert_true(bp->res_confidence[DRV_RES_MEM_MIB] == 0.8);
    assert_string_equal(bp->model, "custom");
    drv_blueprint_free(bp);
    json_decref(j);

    /* defaults: the configured step and horizon */
    j = parse("{\"resources\": {\"vcpu\": {\"p50\": 1}}}");
    assert_int_equal(api_parse_blueprint(j, "", &ctx, &bp, &err), 0);
    assert_int_equal(bp->nsteps, 30);
    assert_int_equal(bp->step_s, 60);
    drv_blueprint_free(bp);
    json_decref(j);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{}", "`resources` is required"},
        {"{\"resources\": {}}", "at least one resource"},
        {"{\"resources\": {\"gpu\": {\"p50\": 1}}}", "`resources.gpu` is not a resource"},
        {"{\"resources\": {\"vcpu\": {\"p90\": 1}}}", "`resources.vcpu.p50` is required"},
        {"{\"resources\": {\"vcpu\": {\"p50\": -1}}}", "`resources.vcpu.p50` is -1"},
        {"{\"resources\": {\"vcpu\": {\"p50\": 2, \"p90\": 1}}}", "bands out of order"},
        {"{\"nsteps\": 2, \"resources\": {\"vcpu\": {\"p50\": [1, 2, 3]}}}",
         "has 3 values, the horizon 2 steps"},
        {"{\"nsteps\": 2, \"resources\": {\"vcpu\": {\"p50\": [1, \"x\"]}}}",
         "`resources.vcpu.p50[1]`: expected a number"},
        {"{\"step_s\": 0, \"resources\": {\"vcpu\": {\"p50\": 1}}}", "`step_s` is 0"},
        {"{\"step_s\": 60, \"horizon_s\": 90, \"resources\": {\"vcpu\": {\"p50\": 1}}}",
         "not a whole number of steps"},
        {"{\"nsteps\": 20000, \"resources\": {\"vcpu\": {\"p50\": 1}}}", "`nsteps` is 20000"},
        {"{\"nsteps\": 2, \"horizon_s\": 120, \"resources\": {\"vcpu\": {\"p50\": 1}}}",
         "not both"},
        {"{\"confidence\": 1.5, \"resources\": {\"vcpu\": {\"p50\": 1}}}", "`confidence` is 1.5"},
        {"{\"resources\": {\"vcpu\": {\"p50\": 1, \"confidence\": -0.1}}}",
         "`resources.vcpu.confidence` is -0.1"},
        {"{\"resources\": {\"vcpu\": {\"p50\": 1e300}}}", "must be 0 to"},
        {"{\"resources\": {\"vcpu\": {\"p50\": 1, \"p75\": 2}}}", "unknown member"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        j = parse(bad[i].json);
        assert_int_equal(api_parse_blueprint(j, "", &ctx, &bp, &err), -1);
        expect_msg(err, bad[i].msg, bad[i].json);
        err_clear(&err);
        json_decref(j);
    }
}

static void test_custom_blueprint(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct db_custom_blueprint *cb = NULL;
    json_t *j = parse("{\"name\": \"batch-nightly\", \"description\": \"ETL\", \"match\": "
                      "{\"flavor\": \"m1.large\", \"project_id\": \"p9\"}, \"blueprint\": "
                      "{\"horizon_s\": 600, \"resources\": {\"vcpu\": {\"p50\": 1, \"p90\": 2}}}}");
    assert_int_equal(api_parse_custom_blueprint(j, &ctx, &cb, &err), 0);
    json_decref(j);
    assert_non_null(cb);
    /* templates have no start: they start when applied */
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"blueprint\": {}}", "`name` is required"},
        {"{\"name\": \"a b\", \"blueprint\": {}}", "is not 1 to 64 letters"},
        {"{\"name\": \"x\"}", "`blueprint` is required"},
        {"{\"name\": \"x\", \"match\": {\"host\": \"h\"}, \"blueprint\": {}}",
         "unknown member `match.host`"},
        {"{\"name\": \"x\", \"blueprint\": {\"start\": 5, \"resources\": {\"vcpu\": {\"p50\": 1}}}}",
         "unknown member `blueprint.start`"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct db_custom_blueprint *other = NULL;
        j = parse(bad[i].json);
        assert_int_equal(api_parse_custom_blueprint(j, &ctx, &other, &err), -1);
        expect_msg(err, bad[i].msg, bad[i].json);
        err_clear(&err);
        json_decref(j);
    }
    assert_string_equal(cb->name, "batch-nightly");
    assert_string_equal(cb->flavor_name, "m1.large");
    assert_null(cb->image_ref);
    assert_int_equal(cb->bp->nsteps, 10);
    assert_int_equal(cb->bp->start_s, 0);
    free(cb->name);
    free(cb->description);
    free(cb->flavor_name);
    free(cb->project_id);
    drv_blueprint_free(cb->bp);
    free(cb);
}

static void test_settings(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct cfg *scratch = cfg_new_defaults();
    json_t *j = parse("{\"price_vcpu_hour\": 0.05, \"violation_factor\": 10}");
    assert_int_equal(api_parse_settings(j, "cost", scratch, &err), 2);
    assert_true(scratch->cost_vcpu_hour == 0.05);
    assert_true(scratch->cost_violation_factor == 10);
    json_decref(j);
    static const struct {
        const char *section, *json, *msg;
    } bad[] = {
        {"cost", "{}", "expected an object"},
        {"cost", "{\"price_vcpu_hour\": \"cheap\"}", "expected a number, got a string"},
        {"cost", "{\"price_vcpu_hour\": -1}", "price_vcpu_hour"},
        {"cost", "{\"price_gpu_hour\": 1}", "not an option of [cost]"},
        {"sculpt", "{\"blueprint_step\": 1.5}", "expected an integer"},
        {"api", "{\"admin_token\": \"x\"}", "is a secret"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        j = parse(bad[i].json);
        assert_int_equal(api_parse_settings(j, bad[i].section, scratch, &err), -1);
        expect_msg(err, bad[i].msg, bad[i].json);
        err_clear(&err);
        json_decref(j);
    }
    cfg_unref(scratch);
}

static void test_res_and_kv(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct drv_res r;
    json_t *j = parse("{\"vcpu\": 0.35, \"mem_mib\": 1536}");
    assert_int_equal(api_parse_res(j, "need", &r, &err), 0);
    assert_true(r.v[DRV_RES_VCPU] == 0.35 && r.v[DRV_RES_NET_IN_MBPS] == 0);
    json_decref(j);
    j = parse("{\"vcpu\": -1}");
    assert_int_equal(api_parse_res(j, "need", &r, &err), -1);
    expect_msg(err, "`need.vcpu` is -1", "negative");
    err_clear(&err);
    json_decref(j);

    struct drv_kv *kv;
    size_t n;
    assert_int_equal(api_parse_kv_text("a=b,c=d=e", "metadata", &kv, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(drv_kv_get(kv, n, "c"), "d=e");
    drv_kv_release(kv, n);
    assert_int_equal(api_parse_kv_text("a=b,novalue", "metadata", &kv, &n, &err), -1);
    expect_msg(err, "expected key=value", "novalue");
    err_clear(&err);
}

/* A shape says its effective CPU weight: its own, else 100 per vCPU. */
static void test_shape_out(void **state)
{
    (void)state;
    struct drv_shape s = {.vcpus_online = 2, .vcpus_max = 4, .mem_max_mib = 2048, .numa_node = -1};
    s.res.v[DRV_RES_VCPU] = 1.5;
    json_t *j = api_shape_json(&s);
    assert_int_equal(json_integer_value(json_object_get(j, "cpu_weight")), 150);
    assert_int_equal(json_integer_value(json_object_get(j, "vcpus_max")), 4);
    json_decref(j);
    s.cpu_weight = 600;
    j = api_shape_json(&s);
    assert_int_equal(json_integer_value(json_object_get(j, "cpu_weight")), 600);
    json_decref(j);
}

/* The inventory per Placement resource class, with the rule bounding
 * each room (null: the configured ratio). */
static void test_inventory_out(void **state)
{
    (void)state;
    struct drv_sculpt_inventory inv = {
        .vcpu = {8, 1, 1, 3, 1, 2.5, 4.0, 3.0, DRV_SCULPT_RULE_RISK, 1.5},
        .memory_mb = {16384, 512, 1, 8192, 1, 1.0, 2048, 8192, DRV_SCULPT_RULE_LAST},
        .disk_gb = {100, 0, 1, 100, 1, 1.0, 20, 80, DRV_SCULPT_RULE_LAST},
    };
    json_t *j = api_inventory_json(&inv);
    json_t *v = json_object_get(j, "VCPU");
    assert_int_equal(json_integer_value(json_object_get(v, "total")), 8);
    assert_int_equal(json_integer_value(json_object_get(v, "reserved")), 1);
    assert_int_equal(json_integer_value(json_object_get(v, "max_unit")), 3);
    assert_true(json_real_value(json_object_get(v, "allocation_ratio")) == 2.5);
    assert_true(json_real_value(json_object_get(v, "room")) == 3.0);
    assert_string_equal(json_string_value(json_object_get(v, "bound")), "risk");
    /* idle pool members' room, free to Placement */
    assert_true(json_real_value(json_object_get(v, "reclaimable")) == 1.5);
    json_t *m = json_object_get(j, "MEMORY_MB");
    assert_int_equal(json_integer_value(json_object_get(m, "max_unit")), 8192);
    assert_true(json_is_null(json_object_get(m, "bound")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "DISK_GB"), "total")),
                     100);
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instance_request),
        cmocka_unit_test(test_blueprint),
        cmocka_unit_test(test_custom_blueprint),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_res_and_kv),
        cmocka_unit_test(test_shape_out),
        cmocka_unit_test(test_inventory_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
