/* db/ against a real PostgreSQL 15: migrations, every typed call, batching,
 * a server restart in the middle of writes, retention, reconciliation.
 * Run by tests/integration/db.sh, which starts the server; skipped when
 * SCULPT_TEST_DB_URL is unset (`make check`). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "db/db.h"
#include "db/reconcile.h"
#include "driver/control.h"
#include "driver/cost.h"
#include "driver/fake/fake.h"
#include "driver/hypervisor.h"
#include "driver/predict.h"
#include "driver/presculpt.h"
#include "driver/presculpt_pool.h"
#include "helpers/engine.h"
#include "helpers/pg.h"
#include "openstack/compute_priv.h"

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define U3 "33333333-3333-4333-8333-333333333333"
#define M1 "44444444-4444-4444-8444-444444444444"

/* Each test gets a fresh database and, when it wants one, an open db. */
struct fixture {
    char *url;
    struct db *db;
};

static struct db *open_db(const char *url, long long queue_max)
{
    struct db_options o = {.url = url, .queue_max = queue_max, .migrate = true,
                           .sync_timeout_ms = 20000, .backoff_max_ms = 500};
    struct err *err = NULL;
    struct db *db = db_open(&o, &err);
    if (!db)
        fail_msg("db_open: %s", err->msg);
    return db;
}

static int setup_empty(void **state)
{
    if (!test_pg_available())
        return 0;
    struct fixture *f = xzalloc(sizeof(*f));
    f->url = test_pg_scratch("db");
    *state = f;
    return 0;
}

static int setup_open(void **state)
{
    setup_empty(state);
    struct fixture *f = *state;
    if (f)
        f->db = open_db(f->url, 0);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    db_close(f->db);
    test_pg_drop(f->url);
    free(f->url);
    free(f);
    return 0;
}

#define FIXTURE(state)                                                                      \
    __extension__({                                                                         \
        if (!*(state))                                                                      \
            skip();                                                                         \
        (struct fixture *)*(state);                                                         \
    })

static void check_ok(int rc, struct err *err)
{
    if (rc < 0)
        fail_msg("unexpected failure: %s", err ? err->msg : "?");
}
#define OK(call)                                                                            \
    do {                                                                                    \
        struct err *e_ = NULL;                                                              \
        int rc_ = (call);                                                                   \
        check_ok(rc_, e_);                                                                  \
        err_free(e_);                                                                       \
    } while (0)
/* `call` must use `&e_` as its err argument. */

static void sync_db(struct db *db)
{
    struct err *err = NULL;
    if (db_sync(db, 30000, &err) < 0)
        fail_msg("db_sync: %s", err->msg);
}

static struct drv_shape a_shape(double vcpu, int online, double mem)
{
    struct drv_shape s = {.vcpus_online = online, .vcpus_max = 8, .mem_max_mib = 8192,
                          .numa_node = 0};
    s.res.v[DRV_RES_VCPU] = vcpu;
    s.res.v[DRV_RES_MEM_MIB] = mem;
    /* a weight none of the derived ones (100 per vCPU) is: round trips keep it */
    s.cpu_weight = (uint32_t)(vcpu * 100) + 7;
    s.res.v[DRV_RES_NET_IN_MBPS] = 120;
    s.res.v[DRV_RES_DISK_READ_IOPS] = 800;
    drv_cpuset_parse("2-3,6", &s.pcpus, NULL);
    return s;
}

static struct drv_instance *an_instance(const char *uuid, const char *flavor,
                                        const char *project)
{
    struct drv_instance *in = xzalloc(sizeof(*in));
    snprintf(in->uuid, sizeof(in->uuid), "%s", uuid);
    in->name = xstrdup("vm \"one\", with, commas");
    in->project_id = xstrdup(project);
    in->user_id = xstrdup("user-1");
    in->image_ref = xstrdup("cirros-0.6");
    in->flavor.name = xstrdup(flavor);
    in->flavor.vcpus = 2;
    in->flavor.memory_mb = 2048;
    in->flavor.root_gb = 10;
    in->flavor.swap_mb = 512;
    in->flavor.nextra_specs = 1;
    in->flavor.extra_specs = xcalloc(1, sizeof(struct drv_kv));
    in->flavor.extra_specs[0].key = xstrdup("hw:cpu_policy");
    in->flavor.extra_specs[0].value = xstrdup("shared");
    in->nmetadata = 2;
    in->metadata = xcalloc(2, sizeof(struct drv_kv));
    in->metadata[0].key = xstrdup("role");
    in->metadata[0].value = xstrdup("web {front}");
    in->metadata[1].key = xstrdup("quote");
    in->metadata[1].value = xstrdup("a \"b\" \\c");
    in->vm_state = xstrdup("building");
    in->task_state = xstrdup("spawning");
    in->power_state = DRV_POWER_NOSTATE;
    in->domain = xasprintf("instance-%.8s", uuid);
    in->created_ms = 1764000000123;
    in->shape = a_shape(1.35, 2, 1536);
    return in;
}

/* ---- migrations ---- */

static void test_migrate_from_empty(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    int from = -1, to = -1, v = -1;
    assert_int_equal(db_schema_version_at(f->url, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(db_migrate(f->url, &from, &to, &err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, db_schema_latest());
    assert_int_equal(db_migrate(f->url, &from, &to, &err), 0); /* idempotent */
    assert_int_equal(from, db_schema_latest());
    assert_int_equal(to, db_schema_latest());
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM sculpt_schema"),
                     db_schema_latest());
}

/* Data written at each earlier version survives the upgrade to the latest
 * and reads back through the typed calls. */
static void test_migrate_from_each_version(void **state)
{
    struct fixture *f = FIXTURE(state);
    for (int k = 0; k < db_schema_latest(); k++) {
        autofree char *url = test_pg_scratch("mig");
        struct err *err = NULL;
        int from = -1, to = -1;
        assert_int_equal(db_migrate_to(url, k, &from, &to, &err), 0);
        assert_int_equal(to, k);
        if (k >= 1) { /* rows in the version 1 layout */
            free(test_pg_exec(url,
                              "INSERT INTO instances (uuid, name, flavor_name, vm_state, "
                              "power_state, shape_res, shape_vcpus_online, shape_vcpus_max, "
                              "shape_mem_max_mib) VALUES ('" U1 "', 'old', 'm1.small', "
                              "'active', 1, '{1,512,0,0,0,0,0,0}', 1, 2, 1024)"));
            free(test_pg_exec(url,
                              "INSERT INTO reshapes (instance_uuid, at, from_res, "
                              "from_vcpus_online, from_vcpus_max, from_mem_max_mib, from_pcpus, "
                              "from_numa_node, to_res, to_vcpus_online, to_vcpus_max, "
                              "to_mem_max_mib, to_pcpus, to_numa_node, reason, duration_ms, ok) "
                              "VALUES ('" U1 "', now(), '{1,512,0,0,0,0,0,0}', 1, 2, 1024, '', "
                              "-1, '{2,512,0,0,0,0,0,0}', 2, 2, 1024, '0-1', -1, 'v1', 3, true)"));
            free(test_pg_exec(url,
                              "INSERT INTO pools (key, target_size, confidence, shape_res, "
                              "shape_vcpus_online, shape_vcpus_max, shape_mem_max_mib, "
                              "shape_pcpus, shape_numa_node, term_names, term_values, hits, "
                              "misses, expiries) VALUES ('m1.small:cirros:any', 2, 0.5, "
                              "'{1,512,0,0,0,0,0,0}', 1, 1, 512, '', -1, '{}', '{}', 4, 5, 6)"));
        }
        struct db *db = open_db(url, 0); /* migrates the rest */
        struct db_status st;
        db_status_get(db, &st);
        assert_int_equal(st.schema_version, db_schema_latest());
        if (k >= 1) {
            struct drv_instance *in = db_instance_get(db, U1, &err);
            assert_non_null(in);
            assert_string_equal(in->name, "old");
            assert_true(in->shape.res.v[DRV_RES_MEM_MIB] == 512);
            /* rows from before version 6 carry no weight: 100 per vCPU */
            assert_int_equal(in->shape.cpu_weight, 0);
            assert_int_equal(drv_shape_cpu_weight(&in->shape), 100);
            drv_instance_free(in);
            struct db_reshape_list *rl = db_reshape_list(db, U1, 0, 0, 0, &err);
            assert_int_equal(rl->n, 1);
            assert_string_equal(rl->v[0].reason, "v1");
            assert_int_equal(rl->v[0].knobs, 0); /* version 2: none recorded then */
            db_reshape_list_free(rl);
            /* a pool's counters survive; reclaims (version 10) start at 0 and count */
            struct db_pool_list *pl = db_pool_list(db, &err);
            assert_non_null(pl);
            assert_int_equal(pl->n, 1);
            assert_int_equal(pl->v[0]->hits, 4);
            assert_int_equal(pl->v[0]->expiries, 6);
            assert_int_equal(pl->v[0]->reclaims, 0);
            db_pool_list_free(pl);
            OK(db_pool_count(db, "m1.small:cirros:any", &(struct db_pool_counts){.reclaims = 1},
                             &e_));
            sync_db(db);
            pl = db_pool_list(db, &err);
            assert_int_equal(pl->v[0]->reclaims, 1);
            assert_int_equal(pl->v[0]->misses, 5);
            db_pool_list_free(pl);
        }
        db_close(db);
        test_pg_drop(url);
    }
    (void)f;
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    assert_int_equal(db_migrate(f->url, NULL, NULL, &err), 0);
    autofree char *sql = xasprintf("INSERT INTO sculpt_schema (version, name) VALUES (%d, "
                                   "'from the future')", db_schema_latest() + 1);
    free(test_pg_exec(f->url, sql));
    struct db_options o = {.url = f->url, .migrate = true};
    assert_null(db_open(&o, &err));
    assert_int_equal(err->code, ERR_CONFLICT);
    assert_non_null(strstr(err->msg, "is newer than this sculpt knows"));
    err_clear(&err);
    o.migrate = false;
    assert_null(db_open(&o, &err));
    assert_non_null(strstr(err->msg, "is newer than this sculpt knows"));
    err_clear(&err);
    assert_int_equal(db_migrate(f->url, NULL, NULL, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
}

static void test_old_schema_without_migrate(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_options o = {.url = f->url, .migrate = false};
    assert_null(db_open(&o, &err));
    assert_int_equal(err->code, ERR_CONFLICT);
    assert_non_null(strstr(err->msg, "run `sculptctl db migrate`"));
    err_clear(&err);

    o.url = "postgresql://sculpt@127.0.0.1:1/none?connect_timeout=1";
    o.startup_wait_ms = 300;
    assert_null(db_open(&o, &err));
    assert_int_equal(err->code, ERR_UNAVAILABLE);
    err_clear(&err);
    o.url = "";
    assert_null(db_open(&o, &err));
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

/* ---- instances ---- */

static void test_instances(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autoptr(drv_instance) a = an_instance(U1, "m1.small", "proj-a");
    autoptr(drv_instance) b = an_instance(U2, "m1.large", "proj-a");
    autoptr(drv_instance) c = an_instance(U3, "m1.small", "proj-b");
    c->created_ms = a->created_ms + 1000;
    OK(db_instance_put(f->db, a, &e_));
    OK(db_instance_put(f->db, b, &e_));
    OK(db_instance_put(f->db, c, &e_));

    /* No db_sync: reads see every write acknowledged before them. */
    autoptr(drv_instance) got = db_instance_get(f->db, U1, &err);
    assert_non_null(got);
    assert_string_equal(got->uuid, U1);
    assert_string_equal(got->name, a->name);
    assert_string_equal(got->project_id, "proj-a");
    assert_string_equal(got->user_id, "user-1");
    assert_string_equal(got->image_ref, "cirros-0.6");
    assert_string_equal(got->flavor.name, "m1.small");
    assert_int_equal(got->flavor.vcpus, 2);
    assert_int_equal(got->flavor.memory_mb, 2048);
    assert_int_equal(got->flavor.root_gb, 10);
    assert_int_equal(got->flavor.swap_mb, 512);
    assert_int_equal(got->flavor.nextra_specs, 1);
    assert_string_equal(got->flavor.extra_specs[0].key, "hw:cpu_policy");
    assert_int_equal(got->nmetadata, 2);
    assert_string_equal(got->metadata[0].value, "web {front}");
    assert_string_equal(got->metadata[1].key, "quote");
    assert_string_equal(got->metadata[1].value, "a \"b\" \\c");
    assert_string_equal(got->vm_state, "building");
    assert_string_equal(got->task_state, "spawning");
    assert_string_equal(got->domain, "instance-11111111");
    assert_int_equal(got->created_ms, a->created_ms);
    assert_int_equal(got->deleted_ms, 0);
    assert_true(drv_res_eq(got->shape.res, a->shape.res, 0));
    assert_int_equal(got->shape.vcpus_online, 2);
    assert_int_equal(got->shape.vcpus_max, 8);
    assert_true(drv_cpuset_equal(&got->shape.pcpus, &a->shape.pcpus));
    assert_int_equal(got->shape.numa_node, 0);
    assert_int_equal(got->shape.cpu_weight, 142);

    OK(db_instance_set_state(f->db, U1, "active", NULL, DRV_POWER_RUNNING, &e_));
    /* replace: metadata shrinks to what is given */
    drv_kv_release(b->metadata, b->nmetadata);
    b->metadata = NULL;
    b->nmetadata = 0;
    OK(db_instance_put(f->db, b, &e_));
    drv_instance_free(got);
    got = db_instance_get(f->db, U1, &err);
    assert_string_equal(got->vm_state, "active");
    assert_null(got->task_state);
    assert_int_equal(got->power_state, DRV_POWER_RUNNING);
    drv_instance_free(got);
    got = db_instance_get(f->db, U2, &err);
    assert_int_equal(got->nmetadata, 0);
    assert_int_equal(got->flavor.nextra_specs, 1);

    struct db_instance_filter flt = {.flavor_name = "m1.small"};
    autoptr(db_instance_list) l = db_instance_list(f->db, &flt, &err);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->v[0]->uuid, U1); /* oldest first */
    assert_string_equal(l->v[1]->uuid, U3);
    db_instance_list_free(l);
    flt = (struct db_instance_filter){.project_id = "proj-a", .flavor_name = "m1.small"};
    l = db_instance_list(f->db, &flt, &err);
    assert_int_equal(l->n, 1);
    db_instance_list_free(l);

    OK(db_instance_delete(f->db, U3, 1764000009000, &e_));
    l = db_instance_list(f->db, NULL, &err);
    assert_int_equal(l->n, 2);
    db_instance_list_free(l);
    flt = (struct db_instance_filter){.include_deleted = true};
    l = db_instance_list(f->db, &flt, &err);
    assert_int_equal(l->n, 3);
    drv_instance_free(got);
    got = db_instance_get(f->db, U3, &err);
    assert_int_equal(got->deleted_ms, 1764000009000);
    assert_string_equal(got->vm_state, "deleted");

    assert_null(db_instance_get(f->db, "00000000-0000-4000-8000-000000000000", &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(db_instance_put(f->db, &(struct drv_instance){.uuid = "nope"}, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    /* an update of a row that does not exist is skipped, not fatal */
    OK(db_instance_set_state(f->db, "00000000-0000-4000-8000-000000000000", "active", NULL,
                             DRV_POWER_RUNNING, &e_));
    sync_db(f->db);
    struct db_status st;
    db_status_get(f->db, &st);
    assert_int_equal(st.dropped, 0);
}

/* ---- blueprints ---- */

static struct drv_blueprint *a_blueprint(int32_t nsteps, double base)
{
    struct drv_blueprint *bp = drv_blueprint_new(nsteps, 60, 1764000000, NULL);
    snprintf(bp->model, sizeof(bp->model), "ewma(h=30)");
    bp->confidence = 0.7;
    for (int k = 0; k < DRV_RES_LAST; k++)
        bp->res_confidence[k] = 0.5 + k * 0.01;
    for (int32_t s = 0; s < nsteps; s++)
        for (int k = 0; k < DRV_RES_LAST; k++)
            for (int q = 0; q < DRV_Q_LAST; q++)
                drv_blueprint_set(bp, s, (enum drv_res_kind)k, (enum drv_quantile)q,
                                  base + s * 0.01 + k + q * 0.1);
    return bp;
}

static void test_blueprints(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_cost_term terms[] = {{"alloc", 0.12}, {"violation", 0.03}};
    struct db_blueprint_rev rev = {.reason = (char *)"spawn", .terms = terms, .nterms = 2};
    snprintf(rev.instance_uuid, sizeof(rev.instance_uuid), "%s", U1);
    for (int k = 0; k < DRV_RES_LAST; k++)
        rev.band[k] = 0.99;
    rev.bp = a_blueprint(30, 1.0);
    OK(db_blueprint_add(f->db, &rev, &e_));
    drv_blueprint_free(rev.bp);
    rev.bp = a_blueprint(30, 2.0);
    rev.reason = (char *)"use above p90";
    rev.nterms = 0;
    OK(db_blueprint_add(f->db, &rev, &e_));

    autoptr(db_blueprint_rev) last = db_blueprint_latest(f->db, U1, &err);
    assert_non_null(last);
    assert_int_equal(last->revision, 2);
    assert_string_equal(last->reason, "use above p90");
    assert_string_equal(last->bp->model, "ewma(h=30)");
    assert_int_equal(last->bp->nsteps, 30);
    assert_int_equal(last->bp->step_s, 60);
    assert_int_equal(last->bp->start_s, 1764000000);
    assert_true(last->bp->confidence == 0.7);
    assert_true(last->band[3] == 0.99);
    assert_int_equal(last->nterms, 0);
    assert_memory_equal(last->bp->q, rev.bp->q, sizeof(double) * 30 * DRV_RES_LAST * DRV_Q_LAST);
    assert_memory_equal(last->bp->res_confidence, rev.bp->res_confidence,
                        sizeof(rev.bp->res_confidence));

    autoptr(db_blueprint_rev_list) h = db_blueprint_history(f->db, U1, 0, &err);
    assert_int_equal(h->n, 2);
    assert_int_equal(h->v[1]->revision, 1);
    assert_int_equal(h->v[1]->nterms, 2);
    assert_string_equal(h->v[1]->terms[1].name, "violation");
    assert_true(h->v[1]->terms[1].value == 0.03);
    assert_null(db_blueprint_latest(f->db, U2, &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);

    /* a bad blueprint is refused before anything is queued */
    drv_blueprint_set(rev.bp, 3, DRV_RES_VCPU, DRV_Q_P50, 99.0); /* p50 > p90 */
    assert_int_equal(db_blueprint_add(f->db, &rev, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    drv_blueprint_free(rev.bp);

    /* custom blueprints: synchronous CRUD */
    struct db_custom_blueprint cb = {.name = (char *)"batch-nightly",
                                     .flavor_name = (char *)"m1.large",
                                     .bp = a_blueprint(60, 0.5)};
    int64_t id = db_custom_blueprint_create(f->db, &cb, &err);
    assert_true(id > 0);
    assert_int_equal(db_custom_blueprint_create(f->db, &cb, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    assert_non_null(strstr(err->msg, "batch-nightly"));
    err_clear(&err);
    cb.id = id;
    cb.description = (char *)"night jobs";
    OK(db_custom_blueprint_update(f->db, &cb, &e_));
    autoptr(db_custom_blueprint) got = db_custom_blueprint_get(f->db, id, &err);
    assert_string_equal(got->name, "batch-nightly");
    assert_string_equal(got->description, "night jobs");
    assert_string_equal(got->flavor_name, "m1.large");
    assert_null(got->project_id);
    assert_int_equal(got->bp->nsteps, 60);
    assert_true(got->updated_ms >= got->created_ms);
    autoptr(db_custom_blueprint_list) l = db_custom_blueprint_list(f->db, &err);
    assert_int_equal(l->n, 1);
    /* the rule real builds follow: an m1.large gets it, an m1.small none */
    struct drv_instance *req = an_instance(U2, "m1.large", "demo");
    autoptr(db_custom_blueprint) mine = db_custom_blueprint_for(f->db, req, &err);
    assert_non_null(mine);
    assert_string_equal(mine->name, "batch-nightly");
    assert_int_equal(mine->bp->nsteps, 60);
    free(req->flavor.name);
    req->flavor.name = xstrdup("m1.small");
    assert_null(db_custom_blueprint_for(f->db, req, &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    drv_instance_free(req);
    OK(db_custom_blueprint_delete(f->db, id, &e_));
    assert_int_equal(db_custom_blueprint_delete(f->db, id, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    cb.id = id;
    assert_int_equal(db_custom_blueprint_update(f->db, &cb, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_null(db_custom_blueprint_get(f->db, id, &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    drv_blueprint_free(cb.bp);
}

/* ---- usage ---- */

static const int64_t T0 = 1764000000000; /* a minute boundary */

static struct db_usage_sample a_sample(const char *uuid, int step, double vcpu)
{
    struct db_usage_sample s = {.t_ms = T0 + (int64_t)step * 60000, .step_s = 60};
    snprintf(s.instance_uuid, sizeof(s.instance_uuid), "%s", uuid);
    s.use.v[DRV_RES_VCPU] = vcpu;
    s.use.v[DRV_RES_MEM_MIB] = 1000 + step;
    s.use.v[DRV_RES_DISK_WRITE_MBPS] = 0.5;
    return s;
}

/* 10,000 samples (100 guests x 100 steps) in one call go out in one
 * transaction, one COPY. */
static void test_usage_batch(void **state)
{
    struct fixture *f = FIXTURE(state);
    enum { GUESTS = 100, STEPS = 100 };
    struct db_usage_sample *v = xcalloc(GUESTS * STEPS, sizeof(*v));
    char uuid[40];
    for (int g = 0; g < GUESTS; g++) {
        snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012d", g);
        for (int s = 0; s < STEPS; s++)
            v[g * STEPS + s] = a_sample(uuid, s, g * 0.01 + s * 0.001);
    }
    struct db_status before, after;
    sync_db(f->db);
    db_status_get(f->db, &before);
    OK(db_usage_add(f->db, v, GUESTS * STEPS, &e_));
    sync_db(f->db);
    db_status_get(f->db, &after);
    assert_int_equal(after.written - before.written, GUESTS * STEPS);
    assert_int_equal(after.transactions - before.transactions, 1);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM usage_samples"), GUESTS * STEPS);
    /* the values round-trip exactly */
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM usage_samples WHERE "
                                           "instance_uuid = '00000000-0000-4000-8000-000000000042'"
                                           " AND t = sculpt_ts(1764000000000 + 7 * 60000) AND "
                                           "vcpu = 0.42 + 0.007 AND mem_mib = 1007"),
                     1);
    /* a repeated sample is ignored, the rest of its batch kept */
    struct db_usage_sample again[2] = {v[0], a_sample(U1, 0, 0.3)};
    OK(db_usage_add(f->db, again, 2, &e_));
    sync_db(f->db);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM usage_samples"),
                     GUESTS * STEPS + 1);
    free(v);

    struct err *err = NULL;
    struct db_usage_sample bad = a_sample(U1, 1, -1.0);
    assert_int_equal(db_usage_add(f->db, &bad, 1, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

static void test_usage_queries(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autoptr(drv_instance) a = an_instance(U1, "m1.small", "proj-a");
    autoptr(drv_instance) b = an_instance(U2, "m1.large", "proj-a");
    OK(db_instance_put(f->db, a, &e_));
    OK(db_instance_put(f->db, b, &e_));
    struct db_usage_sample v[120];
    for (int s = 0; s < 60; s++) {
        v[s] = a_sample(U1, s, s < 30 ? 1.0 : 2.0);
        v[60 + s] = a_sample(U2, s, 0.25);
    }
    OK(db_usage_add(f->db, v, 120, &e_));

    struct db_usage_query q = {.instance_uuid = U1};
    autoptr(db_usage_list) l = db_usage_query(f->db, &q, &err);
    assert_non_null(l);
    assert_int_equal(l->n, 60);
    assert_int_equal(l->v[0].t_ms, T0);
    assert_int_equal(l->v[59].t_ms, T0 + 59 * 60000);
    assert_int_equal(l->v[0].count, 1);
    assert_true(l->v[0].use.v[DRV_RES_DISK_WRITE_MBPS] == 0.5);
    assert_true(l->v[0].peak.v[DRV_RES_VCPU] == 1.0);
    db_usage_list_free(l);

    q = (struct db_usage_query){.flavor_name = "m1.large", .from_ms = T0 + 10 * 60000,
                                .to_ms = T0 + 20 * 60000};
    l = db_usage_query(f->db, &q, &err);
    assert_int_equal(l->n, 10);
    assert_string_equal(l->v[0].instance_uuid, U2);
    db_usage_list_free(l);

    q = (struct db_usage_query){.project_id = "proj-a", .limit = 7};
    l = db_usage_query(f->db, &q, &err);
    assert_int_equal(l->n, 7);
    db_usage_list_free(l);
    q = (struct db_usage_query){.image_ref = "no-such-image"};
    l = db_usage_query(f->db, &q, &err);
    assert_int_equal(l->n, 0);
    db_usage_list_free(l);

    /* 30-minute buckets: mean and peak */
    q = (struct db_usage_query){.instance_uuid = U1, .bucket_s = 1800};
    l = db_usage_query(f->db, &q, &err);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->v[0].count, 30);
    assert_int_equal(l->v[0].step_s, 1800);
    assert_true(l->v[0].use.v[DRV_RES_VCPU] == 1.0);
    assert_true(l->v[1].use.v[DRV_RES_VCPU] == 2.0);
    assert_true(l->v[1].peak.v[DRV_RES_MEM_MIB] == 1059);
    db_usage_list_free(l);
    q.bucket_s = 3600;
    l = db_usage_query(f->db, &q, &err);
    assert_int_equal(l->n, 1);
    assert_true(l->v[0].use.v[DRV_RES_VCPU] == 1.5);
    assert_true(l->v[0].peak.v[DRV_RES_VCPU] == 2.0);
}

/* Raw samples past their retention are rolled up; a query over both
 * tiers sees the same totals. */
static void test_retention(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_usage_sample v[180];
    for (int s = 0; s < 180; s++)
        v[s] = a_sample(U1, s, s < 60 ? 1.0 : 3.0);
    OK(db_usage_add(f->db, v, 180, &e_));
    autoptr(drv_instance) gone = an_instance(U2, "m1.small", "proj-a");
    OK(db_instance_put(f->db, gone, &e_));
    struct db_usage_sample g = a_sample(U2, 0, 1.0);
    OK(db_usage_add(f->db, &g, 1, &e_));
    OK(db_instance_delete(f->db, U2, T0, &e_));
    struct db_event ev = {.at_ms = T0, .source = (char *)"api", .action = (char *)"old"};
    OK(db_event_add(f->db, &ev, &e_));
    sync_db(f->db);

    /* now = T0 + 3 h + 30 min, raw kept 1.5 h, rollups hourly: the first two
     * hours go to rollups; deleted instances kept 1 h: U2 goes. */
    struct db_options o = {.url = f->url, .retention = {.usage_raw_s = 5400,
                                                        .usage_rollup_step_s = 3600,
                                                        .usage_rollup_s = 30 * 86400,
                                                        .blueprints_s = 86400,
                                                        .events_s = 3600,
                                                        .snapshots_s = 86400,
                                                        .deleted_s = 3600,
                                                        .interval_s = 86400}};
    struct db *db = open_db(f->url, 0);
    db_close(db);
    db = db_open(&o, &err);
    assert_non_null(db);
    assert_int_equal(db_retention_run(db, T0 + 12600000, &err), 0);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM usage_samples"), 60);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM usage_rollups"), 2);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM instances"), 0);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM events"), 0);

    struct db_usage_query q = {.instance_uuid = U1, .source = DB_USAGE_ROLLUP};
    autoptr(db_usage_list) l = db_usage_query(db, &q, &err);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->v[0].count, 60);
    assert_int_equal(l->v[0].step_s, 3600);
    assert_true(l->v[0].use.v[DRV_RES_VCPU] == 1.0);
    assert_true(l->v[1].use.v[DRV_RES_VCPU] == 3.0);
    db_usage_list_free(l);
    q = (struct db_usage_query){.instance_uuid = U1, .bucket_s = 14400}; /* T0 is on a 4 h boundary */
    l = db_usage_query(db, &q, &err);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->v[0].count, 180);
    assert_true(fabs(l->v[0].use.v[DRV_RES_VCPU] - (60 * 1.0 + 120 * 3.0) / 180) < 1e-12);

    /* a straggler in an hour already rolled up merges into its bucket */
    struct db_usage_sample late = a_sample(U1, 30, 4.0);
    late.t_ms += 1000;
    OK(db_usage_add(db, &late, 1, &e_));
    assert_int_equal(db_retention_run(db, T0 + 12600000, &err), 0);
    db_usage_list_free(l);
    q = (struct db_usage_query){.instance_uuid = U1, .source = DB_USAGE_ROLLUP};
    l = db_usage_query(db, &q, &err);
    assert_int_equal(l->v[0].count, 61);
    assert_true(fabs(l->v[0].use.v[DRV_RES_VCPU] - 64.0 / 61) < 1e-12);
    assert_true(l->v[0].peak.v[DRV_RES_VCPU] == 4.0);
    db_close(db);
}

/* ---- reshapes, snapshots, events, settings ---- */

static void test_reshapes_snapshots_events(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autoptr(drv_instance) a = an_instance(U1, "m1.small", "proj-a");
    OK(db_instance_put(f->db, a, &e_));
    struct db_reshape r = {.at_ms = T0, .from = a->shape, .to = a_shape(2.6, 3, 3072),
                           .reason = (char *)"p90 rose", .duration_ms = 12.5, .ok = true,
                           .intent_id = 7, .hv_calls = 3,
                           .knobs = 1u << DRV_HV_KNOB_VCPUS | 1u << DRV_HV_KNOB_QUOTA |
                                    1u << DRV_HV_KNOB_BALLOON};
    snprintf(r.instance_uuid, sizeof(r.instance_uuid), "%s", U1);
    OK(db_reshape_add(f->db, &r, &e_));
    OK(db_reshape_add(f->db, &r, &e_)); /* same intent: recorded once */
    r.at_ms = T0 + 60000;
    r.ok = false;
    r.error = (char *)"balloon refused";
    r.intent_id = 0;
    r.knobs = 0;
    r.to = a_shape(4, 4, 4096);
    OK(db_reshape_add(f->db, &r, &e_));

    autoptr(db_reshape_list) l = db_reshape_list(f->db, U1, 0, 0, 0, &err);
    assert_int_equal(l->n, 2);
    assert_false(l->v[0].ok); /* newest first */
    assert_string_equal(l->v[0].error, "balloon refused");
    assert_true(l->v[1].ok);
    assert_int_equal(l->v[1].intent_id, 7);
    assert_int_equal(l->v[1].knobs,
                     1u << DRV_HV_KNOB_VCPUS | 1u << DRV_HV_KNOB_QUOTA | 1u << DRV_HV_KNOB_BALLOON);
    assert_int_equal(l->v[1].hv_calls, 3);
    assert_int_equal(l->v[0].knobs, 0);
    assert_true(l->v[1].duration_ms == 12.5);
    assert_string_equal(l->v[1].reason, "p90 rose");
    assert_true(l->v[1].to.res.v[DRV_RES_VCPU] == 2.6);
    assert_true(l->v[1].from.res.v[DRV_RES_VCPU] == 1.35);
    assert_int_equal(l->v[1].from.cpu_weight, 142);
    assert_int_equal(l->v[1].to.cpu_weight, 267);
    /* the applied reshape moved the stored shape, the failed one did not */
    autoptr(drv_instance) got = db_instance_get(f->db, U1, &err);
    assert_true(got->shape.res.v[DRV_RES_VCPU] == 2.6);
    assert_int_equal(got->shape.vcpus_online, 3);
    assert_int_equal(got->shape.cpu_weight, 267);
    db_reshape_list_free(l);
    l = db_reshape_list(f->db, NULL, T0 + 1, 0, 0, &err);
    assert_int_equal(l->n, 1);

    struct db_host_snapshot s = {.at_ms = T0, .host = (char *)"cmp-1", .cpus = 16,
                                 .numa_nodes = 2, .fragmentation = 0.25,
                                 .topology = (char *)"node0: 0-7\nnode1: 8-15"};
    s.capacity.v[DRV_RES_VCPU] = 16;
    s.allocated.v[DRV_RES_VCPU] = 9.5;
    OK(db_host_snapshot_add(f->db, &s, &e_));
    s.at_ms = T0 + 60000;
    s.allocated.v[DRV_RES_VCPU] = 10.5;
    OK(db_host_snapshot_add(f->db, &s, &e_));
    autoptr(db_host_snapshot) hs = db_host_snapshot_latest(f->db, &err);
    assert_true(hs->allocated.v[DRV_RES_VCPU] == 10.5);
    assert_string_equal(hs->topology, "node0: 0-7\nnode1: 8-15");
    assert_int_equal(hs->numa_nodes, 2);
    autoptr(db_host_snapshot_list) hl = db_host_snapshot_list(f->db, T0, T0 + 60000, 0, &err);
    assert_int_equal(hl->n, 1);
    assert_true(hl->v[0]->fragmentation == 0.25);

    struct db_event e1 = {.at_ms = T0, .request_id = (char *)"req-1", .source = (char *)"rpc",
                          .action = (char *)"build_and_run_instance", .duration_ms = 812};
    snprintf(e1.instance_uuid, sizeof(e1.instance_uuid), "%s", U1);
    struct db_event e2 = {.at_ms = T0 + 1, .source = (char *)"api",
                          .action = (char *)"PUT /v1/config/cost", .code = ERR_INVALID,
                          .message = (char *)"`price_vcpu_hour` is -1"};
    OK(db_event_add(f->db, &e1, &e_));
    OK(db_event_add(f->db, &e2, &e_));
    autoptr(db_event_list) el = db_event_list(f->db, NULL, &err);
    assert_int_equal(el->n, 2);
    assert_string_equal(el->v[0].action, "PUT /v1/config/cost");
    assert_int_equal(el->v[0].code, ERR_INVALID);
    assert_string_equal(el->v[0].instance_uuid, "");
    assert_int_equal(el->v[1].code, 0);
    assert_string_equal(el->v[1].request_id, "req-1");
    assert_true(el->v[1].duration_ms == 812);
    db_event_list_free(el);
    struct db_event_filter ef = {.instance_uuid = U1};
    el = db_event_list(f->db, &ef, &err);
    assert_int_equal(el->n, 1);
    assert_string_equal(el->v[0].instance_uuid, U1);
    db_event_list_free(el);
    ef = (struct db_event_filter){.source = "api", .limit = 5};
    el = db_event_list(f->db, &ef, &err);
    assert_int_equal(el->n, 1);
    db_event_list_free(el);
    /* the action's prefix and the outcome: how many match, the newest */
    static const struct {
        struct db_event_filter f;
        size_t n;
        const char *action;
    } by[] = {
        {{.action_prefix = "build_"}, 1, "build_and_run_instance"},
        {{.action_prefix = "build_and_run_instance_"}, 0, NULL},
        {{.code = "FAILED"}, 1, "PUT /v1/config/cost"},
        {{.code = "OK"}, 1, "build_and_run_instance"},
        {{.code = "INVALID", .action_prefix = "PUT "}, 1, "PUT /v1/config/cost"},
        {{.code = "TIMEOUT"}, 0, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(by); i++) {
        el = db_event_list(f->db, &by[i].f, &err);
        assert_non_null(el);
        assert_int_equal(el->n, by[i].n);
        if (by[i].action)
            assert_string_equal(el->v[0].action, by[i].action);
        db_event_list_free(el);
    }
    ef = (struct db_event_filter){.code = "SLOW"};
    el = db_event_list(f->db, &ef, &err);
    assert_null(el);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_free(err);
}

static void test_settings(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_setting s[] = {
        {.section = (char *)"cost", .name = (char *)"price_vcpu_hour", .value = (char *)"0.07",
         .updated_by = (char *)"admin"},
        {.section = (char *)"sculpt", .name = (char *)"target_violation_rate",
         .value = (char *)"0.02"},
        {.section = (char *)"cost", .name = (char *)"no_such_option", .value = (char *)"1"},
    };
    OK(db_settings_put(f->db, s, 3, &e_));
    s[0].value = (char *)"0.05";
    OK(db_settings_put(f->db, s, 1, &e_));
    autoptr(db_setting_list) l = db_settings_list(f->db, "cost", &err);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->v[0].name, "no_such_option");
    assert_string_equal(l->v[1].value, "0.05");
    assert_string_equal(l->v[1].updated_by, "admin");
    assert_true(l->v[1].updated_ms > 0);

    autocfg cfg = cfg_new_defaults();
    assert_int_equal(db_settings_apply(f->db, cfg, &err), 2); /* the unknown one skipped */
    assert_true(cfg->cost_vcpu_hour == 0.05);
    assert_true(cfg->target_violation_rate == 0.02);

    OK(db_settings_clear(f->db, "cost", "no_such_option", &e_));
    db_setting_list_free(l);
    l = db_settings_list(f->db, NULL, &err);
    assert_int_equal(l->n, 2);
    OK(db_settings_clear(f->db, NULL, NULL, &e_));
    db_setting_list_free(l);
    l = db_settings_list(f->db, NULL, &err);
    assert_int_equal(l->n, 0);
}

/* ---- pools, intents ---- */

static void test_pools(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_cost_term terms[] = {{"idle", 0.4}, {"cold_start", 1.2}};
    struct db_pool p = {.key = (char *)"m1.small:cirros:any", .flavor_name = (char *)"m1.small",
                        .image_ref = (char *)"cirros", .target_size = 3, .confidence = 0.85,
                        .expires_ms = T0 + 3600000, .shape = a_shape(0.5, 1, 512),
                        .terms = terms, .nterms = 2};
    OK(db_pool_put(f->db, &p, &e_));
    OK(db_pool_count(f->db, p.key, &(struct db_pool_counts){.misses = 2, .expiries = 1, .reclaims = 3},
                     &e_));
    p.target_size = 4;
    OK(db_pool_put(f->db, &p, &e_)); /* counters survive an update */

    struct db_pool_member m = {.pool_key = p.key, .domain = (char *)"presculpt-1",
                               .state = DB_MEMBER_PREPARING, .shape = p.shape,
                               .created_ms = T0, .expires_ms = T0 + 3600000};
    snprintf(m.uuid, sizeof(m.uuid), "%s", M1);
    OK(db_pool_member_put(f->db, &m, &e_));
    OK(db_pool_member_set_state(f->db, M1, DB_MEMBER_PAUSED, NULL, &e_));
    autoptr(db_pool_member_list) ml = db_pool_member_list(f->db, p.key, true, &err);
    assert_int_equal(ml->n, 1);
    assert_int_equal(ml->v[0]->state, DB_MEMBER_PAUSED);
    assert_true(ml->v[0]->ready_ms > 0);
    assert_string_equal(ml->v[0]->domain, "presculpt-1");
    assert_int_equal(ml->v[0]->shape.cpu_weight, 57);
    db_pool_member_list_free(ml);

    autoptr(drv_instance) in = an_instance(U1, "m1.small", "proj-a");
    free(in->domain);
    in->domain = xstrdup("instance-11111111");
    OK(db_pool_handover(f->db, M1, in, false, &e_));
    ml = db_pool_member_list(f->db, NULL, true, &err);
    assert_int_equal(ml->n, 0);
    db_pool_member_list_free(ml);
    ml = db_pool_member_list(f->db, NULL, false, &err);
    assert_int_equal(ml->n, 1);
    assert_int_equal(ml->v[0]->state, DB_MEMBER_HANDED_OVER);
    assert_string_equal(ml->v[0]->instance_uuid, U1);
    assert_true(ml->v[0]->handed_over_ms > 0);
    autoptr(drv_instance) got = db_instance_get(f->db, U1, &err);
    assert_string_equal(got->domain, "instance-11111111");
    /* the member's domain renamed to the instance's name: both rows */
    OK(db_instance_set_domain(f->db, U1, "instance-0000002a", &e_));
    drv_instance_free(got);
    got = db_instance_get(f->db, U1, &err);
    assert_string_equal(got->domain, "instance-0000002a");
    db_pool_member_list_free(ml);
    ml = db_pool_member_list(f->db, NULL, false, &err);
    assert_int_equal(ml->n, 1);
    assert_string_equal(ml->v[0]->domain, "instance-0000002a");
    assert_int_equal(db_instance_set_domain(f->db, U1, "", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(db_instance_set_domain(f->db, "nope", "x", &err), -1);
    err_clear(&err);

    autoptr(db_pool_list) pl = db_pool_list(f->db, &err);
    assert_int_equal(pl->n, 1);
    assert_int_equal(pl->v[0]->target_size, 4);
    assert_int_equal(pl->v[0]->hits, 1);
    assert_int_equal(pl->v[0]->misses, 2);
    assert_int_equal(pl->v[0]->expiries, 1);
    assert_int_equal(pl->v[0]->reclaims, 3);
    assert_null(pl->v[0]->project_id);
    assert_int_equal(pl->v[0]->nterms, 2);
    assert_string_equal(pl->v[0]->terms[1].name, "cold_start");
    assert_true(pl->v[0]->confidence == 0.85);
    assert_int_equal(pl->v[0]->shape.cpu_weight, 57);
    assert_int_equal(pl->v[0]->expires_ms, T0 + 3600000);
    OK(db_pool_delete(f->db, p.key, &e_));
    db_pool_list_free(pl);
    pl = db_pool_list(f->db, &err);
    assert_int_equal(pl->n, 0);
    assert_int_equal(db_member_state_parse("handed_over"), DB_MEMBER_HANDED_OVER);
}

/* A restart reads the live members and the handed-over ones of live
 * instances only; retention removes released rows and those of deleted
 * instances, never the row a live instance's guest answers through.  A
 * hand-over of a member still booting is counted and said. */
static void test_pool_members_bounded(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_pool p = {.key = (char *)"m1.small:cirros:-", .target_size = 2,
                        .confidence = 0.5, .shape = a_shape(0.5, 1, 512)};
    OK(db_pool_put(f->db, &p, &e_));
    static const struct {
        const char *uuid;
        enum db_member_state state;
    } rows[] = {
        {"a0000000-0000-4000-8000-000000000001", DB_MEMBER_BOOTING},
        {"a0000000-0000-4000-8000-000000000002", DB_MEMBER_PAUSED},
        {"a0000000-0000-4000-8000-000000000003", DB_MEMBER_RELEASED},
        {"a0000000-0000-4000-8000-000000000004", DB_MEMBER_BOOTING},  /* to U1, live */
        {"a0000000-0000-4000-8000-000000000005", DB_MEMBER_PAUSED},   /* to U2, deleted */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct db_pool_member m = {.pool_key = p.key, .domain = (char *)"sculpt-pool-x",
                                   .state = rows[i].state, .shape = p.shape,
                                   .created_ms = T0 + (int64_t)i, .expires_ms = T0 + 3600000};
        snprintf(m.uuid, sizeof(m.uuid), "%s", rows[i].uuid);
        OK(db_pool_member_put(f->db, &m, &e_));
    }
    autoptr(drv_instance) live = an_instance(U1, "m1.small", "proj-a");
    autoptr(drv_instance) gone = an_instance(U2, "m1.small", "proj-a");
    OK(db_pool_handover(f->db, rows[3].uuid, live, true, &e_));
    OK(db_pool_handover(f->db, rows[4].uuid, gone, false, &e_));
    OK(db_instance_delete(f->db, U2, T0, &e_));

    autoptr(db_pool_member_list) ml = db_pool_member_list_restore(f->db, &err);
    assert_non_null(ml);
    assert_int_equal(ml->n, 3);
    assert_string_equal(ml->v[0]->uuid, rows[0].uuid);
    assert_int_equal(ml->v[0]->state, DB_MEMBER_BOOTING);
    assert_int_equal(ml->v[1]->state, DB_MEMBER_PAUSED);
    assert_string_equal(ml->v[2]->uuid, rows[3].uuid);
    assert_int_equal(ml->v[2]->state, DB_MEMBER_HANDED_OVER);
    assert_string_equal(ml->v[2]->instance_uuid, U1);
    assert_string_equal(ml->v[2]->reason, "handed over still booting");
    db_pool_member_list_free(ml);
    ml = db_pool_member_list(f->db, NULL, true, &err);
    assert_int_equal(ml->n, 2); /* booting counts as live */
    autoptr(db_pool_list) pl = db_pool_list(f->db, &err);
    assert_int_equal(pl->v[0]->hits, 2);
    assert_int_equal(pl->v[0]->booting_hits, 1);

    /* retention an hour past its cutoff (rows are stamped now) */
    struct db_options o = {.url = f->url, .retention = {.usage_raw_s = 86400,
                                                        .usage_rollup_step_s = 3600,
                                                        .usage_rollup_s = 30 * 86400,
                                                        .blueprints_s = 86400,
                                                        .events_s = 3600,
                                                        .snapshots_s = 86400,
                                                        .deleted_s = 30 * 86400,
                                                        .interval_s = 86400}};
    sync_db(f->db);
    struct db *db = db_open(&o, &err);
    assert_non_null(db);
    assert_int_equal(db_retention_run(db, clock_wall_ms() + 2 * 3600000LL, &err), 0);
    db_close(db);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_members"), 3);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_members WHERE uuid IN"
                                           " ('a0000000-0000-4000-8000-000000000003',"
                                           " 'a0000000-0000-4000-8000-000000000005')"),
                     0);
}

/* ---- what the pool manager learnt (classes, templates, requests) ---- */

static void test_pool_classes(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_pool_class a = {.key = (char *)"m1.tiny:img-1:proj-a",
                              .flavor_name = (char *)"m1.tiny", .image_ref = (char *)"img-1",
                              .project_id = (char *)"proj-a", .vcpus = 1, .mem_mib = 512,
                              .root_gb = 1};
    struct db_pool_class b = {.key = (char *)"m1.small:-:-", .flavor_name = (char *)"m1.small",
                              .vcpus = 2, .mem_mib = 2048};
    OK(db_pool_arrival_add(f->db, &a, T0, &e_));
    OK(db_pool_arrival_add(f->db, &a, T0 + 500, &e_)); /* the same second */
    OK(db_pool_arrival_add(f->db, &b, T0 + 30000, &e_));
    OK(db_pool_arrival_add(f->db, &a, T0 + 61000, &e_));
    /* bad input */
    struct db_pool_class bad = a;
    bad.key = (char *)"";
    assert_int_equal(db_pool_arrival_add(f->db, &bad, T0, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    bad = a;
    bad.vcpus = -1;
    assert_int_equal(db_pool_class_learn(f->db, &bad, T0, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);

    /* a's template */
    struct db_pool_class t = a;
    struct drv_hv_guest_spec *g = &t.tmpl.guest;
    g->flavor_name = (char *)"m1.tiny";
    g->image.kernel = (char *)"/var/cache/sculpt/images/k";
    g->image.disk_base = (char *)"/var/cache/sculpt/images/d \"q\"";
    g->image.disk_format = (char *)"qcow2";
    g->image.cmdline = (char *)"console=ttyS0 quiet";
    g->image.root_gb = 1;
    g->nvifs = 1;
    g->guest_agent = true;
    g->shape = a_shape(0.75, 1, 512);
    g->shape.cpu_weight = 150;
    t.tmpl.engine.ceiling.v[DRV_RES_VCPU] = 1;
    t.tmpl.engine.ceiling.v[DRV_RES_MEM_MIB] = 512;
    t.tmpl.engine.vcpus_max = 2;
    t.tmpl.engine.mem_max_mib = 1024;
    t.tmpl.engine.mem_floor_mib = 64;
    OK(db_pool_class_learn(f->db, &t, T0 + 60000, &e_));

    autoptr(db_pool_class_list) l = db_pool_class_list(f->db, 0, 100, &err);
    assert_non_null(l);
    assert_int_equal(l->n, 2);
    const struct db_pool_class *ra = l->v[0], *rb = l->v[1]; /* the latest request first */
    assert_string_equal(ra->key, a.key);
    assert_int_equal(ra->last_request_ms, T0 + 61000); /* the learning came before it */
    assert_string_equal(ra->project_id, "proj-a");
    assert_int_equal(ra->vcpus, 1);
    assert_true(ra->mem_mib == 512 && ra->root_gb == 1);
    assert_true(ra->has_template);
    assert_int_equal(ra->learnt_ms, T0 + 60000);
    assert_string_equal(ra->tmpl.guest.flavor_name, "m1.tiny");
    assert_string_equal(ra->tmpl.guest.image.kernel, g->image.kernel);
    assert_null(ra->tmpl.guest.image.initrd);
    assert_string_equal(ra->tmpl.guest.image.disk_base, g->image.disk_base);
    assert_string_equal(ra->tmpl.guest.image.cmdline, g->image.cmdline);
    assert_int_equal(ra->tmpl.guest.nvifs, 1);
    assert_true(ra->tmpl.guest.guest_agent); /* version 11 */
    const struct drv_shape *rs = &ra->tmpl.guest.shape;
    assert_true(rs->res.v[DRV_RES_VCPU] == 0.75 && rs->res.v[DRV_RES_NET_IN_MBPS] == 120);
    assert_true(rs->vcpus_online == 1 && rs->vcpus_max == 8 && rs->mem_max_mib == 8192);
    assert_true(drv_cpuset_equal(&rs->pcpus, &g->shape.pcpus) && rs->numa_node == 0);
    assert_int_equal(rs->cpu_weight, 150);
    assert_true(ra->tmpl.engine.ceiling.v[DRV_RES_MEM_MIB] == 512);
    assert_int_equal(ra->tmpl.engine.vcpus_max, 2);
    assert_true(ra->tmpl.engine.mem_max_mib == 1024 && ra->tmpl.engine.mem_floor_mib == 64);
    assert_string_equal(rb->key, b.key);
    assert_null(rb->image_ref);
    assert_false(rb->has_template);
    db_pool_class_list_free(l);
    /* bounded: by time and by count */
    l = db_pool_class_list(f->db, T0 + 40000, 100, &err);
    assert_int_equal(l->n, 1);
    db_pool_class_list_free(l);
    l = db_pool_class_list(f->db, 0, 1, &err);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->v[0]->key, a.key);

    /* requests per minute (T0 is a minute boundary), oldest first */
    autoptr(db_pool_arrival_list) al = db_pool_arrival_list(f->db, 0, 60, 100, &err);
    assert_non_null(al);
    assert_int_equal(al->n, 3);
    assert_string_equal(al->v[0].class_key, b.key); /* same minute: by key */
    assert_int_equal(al->v[0].t_s, T0 / 1000);
    assert_int_equal(al->v[0].n, 1);
    assert_string_equal(al->v[1].class_key, a.key);
    assert_int_equal(al->v[1].n, 2);
    assert_int_equal(al->v[2].t_s, T0 / 1000 + 60);
    assert_int_equal(al->v[2].n, 1);
    db_pool_arrival_list_free(al);
    al = db_pool_arrival_list(f->db, 0, 1, 100, &err); /* per second */
    assert_int_equal(al->n, 3);
    assert_int_equal(al->v[0].n, 2);
    assert_int_equal(al->v[1].t_s, T0 / 1000 + 30);
    db_pool_arrival_list_free(al);
    al = db_pool_arrival_list(f->db, 0, 60, 1, &err); /* the newest bin */
    assert_int_equal(al->n, 1);
    assert_int_equal(al->v[0].t_s, T0 / 1000 + 60);
    db_pool_arrival_list_free(al);
    al = db_pool_arrival_list(f->db, T0 + 1000, 60, 100, &err);
    assert_int_equal(al->n, 2); /* b at +30 s and a at +61 s, each in its minute */
    db_pool_arrival_list_free(steal_pointer(&al));
    assert_null(db_pool_arrival_list(f->db, 0, 0, 100, &err));
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);

    /* retention: classes kept an hour, requests 3570 s; now = T0 + 3631 s:
     * b (last asked at +30 s) goes with its request, a stays with its
     * request of +61 s only */
    struct db_pool p = {.key = (char *)"m1.small:-:-", .target_size = 0, .confidence = 0.5,
                        .shape = a_shape(0.5, 1, 512)};
    OK(db_pool_put(f->db, &p, &e_));
    sync_db(f->db);
    struct db_options o = {.url = f->url, .retention = {.pool_classes_s = 3600,
                                                        .pool_arrivals_s = 3570}};
    struct db *db = db_open(&o, &err);
    assert_non_null(db);
    assert_int_equal(db_retention_run(db, T0 + 3631000, &err), 0);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_classes"), 1);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_arrivals"), 1);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_arrivals WHERE class_key"
                                           " = 'm1.tiny:img-1:proj-a' AND n = 1"),
                     1);
    /* the pool's row (updated now, no member) stays until an hour past now */
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pools"), 1);
    assert_int_equal(db_retention_run(db, clock_wall_ms() + 2 * 3600000LL, &err), 0);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pools"), 0);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_classes"), 0);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_arrivals"), 0);
    db_close(db);
}

/* What else the pool manager learnt: each class's boot time, on its row,
 * and the planner's idle calibration, one row replaced at each save. */
static void test_pool_learnt(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_pool_class a = {.key = (char *)"m1.tiny:img-1:proj-a", .vcpus = 1, .mem_mib = 512};
    struct db_pool_class b = {.key = (char *)"m1.small:-:-", .vcpus = 2, .mem_mib = 2048};
    OK(db_pool_arrival_add(f->db, &a, T0, &e_));
    OK(db_pool_arrival_add(f->db, &b, T0 + 1000, &e_));
    struct drv_pool_boot boots[2] = {{.key = "m1.tiny:img-1:proj-a", .boot_ms = 1500.5},
                                     {.key = "gone:-:-", .boot_ms = 700}};
    OK(db_pool_class_boot_times_save(f->db, boots, 2, &e_));
    boots[0].boot_ms = 1800.25; /* a later save replaces it */
    OK(db_pool_class_boot_times_save(f->db, boots, 1, &e_));
    OK(db_pool_class_boot_times_save(f->db, boots, 0, &e_));
    struct drv_pool_boot bad = {.key = "m1.tiny:img-1:proj-a", .boot_ms = 0};
    assert_int_equal(db_pool_class_boot_times_save(f->db, &bad, 1, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    bad.boot_ms = NAN;
    assert_int_equal(db_pool_class_boot_times_save(f->db, &bad, 1, &err), -1);
    err_clear(&err);

    struct drv_presculpt_calibration c;
    assert_int_equal(db_presculpt_calibration_get(f->db, &c, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    struct drv_presculpt_calibration c1 = {.interval_s = 60, .real_idle = 12.5,
                                           .allowed_idle = 10, .weight = 0.25,
                                           .log_factor = 0.125};
    struct drv_presculpt_calibration c2 = c1;
    c2.real_idle = 30;
    c2.weight = 0.5;
    c2.log_factor = 0.75;
    OK(db_presculpt_calibration_save(f->db, &c1, &e_));
    OK(db_presculpt_calibration_save(f->db, &c2, &e_));
    struct drv_presculpt_calibration cbad = c1;
    cbad.weight = 1.5;
    assert_int_equal(db_presculpt_calibration_save(f->db, &cbad, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    cbad = c1;
    cbad.interval_s = 0;
    assert_int_equal(db_presculpt_calibration_save(f->db, &cbad, &err), -1);
    err_clear(&err);
    sync_db(f->db);

    autoptr(db_pool_class_list) l = db_pool_class_list(f->db, 0, 100, &err);
    assert_non_null(l);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->v[1]->key, a.key);
    assert_true(l->v[1]->boot_ms == 1800.25);
    assert_true(l->v[0]->boot_ms == 0); /* none learnt */
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_classes"), 2);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM presculpt_calibration"), 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_presculpt_calibration_get(f->db, &c, &err), 0);
    assert_int_equal(c.interval_s, 60);
    assert_true(c.real_idle == 30 && c.allowed_idle == 10 && c.weight == 0.5 &&
                c.log_factor == 0.75);
}

static void test_intents(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct db_intent in = {.op = DB_OP_RESHAPE, .domain = (char *)"instance-1",
                           .has_from = true, .from = a_shape(1, 1, 1024), .has_to = true,
                           .to = a_shape(2, 2, 2048), .request_id = (char *)"req-9"};
    snprintf(in.instance_uuid, sizeof(in.instance_uuid), "%s", U1);
    int64_t id = db_intent_begin(f->db, &in, &err);
    assert_true(id > 0);
    /* durable when begin returns: visible from another connection */
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM intents WHERE state = 'open'"),
                     1);
    OK(db_intent_step(f->db, id, "vcpus plugged", &e_));
    struct db_intent sp = {.op = DB_OP_SPAWN};
    snprintf(sp.instance_uuid, sizeof(sp.instance_uuid), "%s", U2);
    int64_t id2 = db_intent_begin(f->db, &sp, &err);
    assert_true(id2 > id);

    autoptr(db_intent_list) l = db_intent_list_open(f->db, &err);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->v[0]->op, DB_OP_RESHAPE);
    assert_string_equal(l->v[0]->step, "vcpus plugged");
    assert_true(l->v[0]->has_from && l->v[0]->has_to);
    assert_true(l->v[0]->to.res.v[DRV_RES_MEM_MIB] == 2048);
    assert_int_equal(l->v[0]->from.cpu_weight, 107);
    assert_int_equal(l->v[0]->to.cpu_weight, 207);
    assert_string_equal(l->v[0]->request_id, "req-9");
    assert_false(l->v[1]->has_from);
    assert_false(l->v[1]->has_to);
    assert_null(l->v[1]->domain);

    OK(db_intent_finish(f->db, id, DB_INTENT_DONE, NULL, &e_));
    db_intent_list_free(l);
    l = db_intent_list_open(f->db, &err);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->v[0]->id, id2);

    /* a leg of a move (schema 9's `migrate`): recorded, read back, closed */
    struct db_intent mv = {.op = DB_OP_MIGRATE, .domain = (char *)"instance-3",
                           .step = (char *)"migrate_out"};
    snprintf(mv.instance_uuid, sizeof(mv.instance_uuid), "%s", U1);
    int64_t id3 = db_intent_begin(f->db, &mv, &err);
    assert_true(id3 > id2);
    OK(db_intent_step(f->db, id3, "handed over", &e_));
    db_intent_list_free(l);
    l = db_intent_list_open(f->db, &err);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->v[1]->op, DB_OP_MIGRATE);
    assert_string_equal(l->v[1]->step, "handed over");
    OK(db_intent_finish(f->db, id3, DB_INTENT_ROLLED_BACK, "the guest stayed here", &e_));
    sync_db(f->db);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM intents WHERE op = 'migrate'"
                                           " AND state = 'rolled_back'"),
                     1);

    struct db_intent bad = {.op = DB_OP_RESHAPE};
    snprintf(bad.instance_uuid, sizeof(bad.instance_uuid), "%s", U1);
    assert_int_equal(db_intent_begin(f->db, &bad, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

/* A write the server refuses (bytes that are not UTF-8) is dropped alone;
 * the records queued around it are written. */
static void test_refused_write_isolated(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct db_event e = {.source = (char *)"rpc", .action = (char *)"before"};
    OK(db_event_add(f->db, &e, &e_));
    autoptr(drv_instance) bad = an_instance(U1, "m1.small", "proj-a");
    free(bad->name);
    bad->name = xstrdup("\xff\xfe not utf-8");
    OK(db_instance_put(f->db, bad, &e_));
    e.action = (char *)"after";
    OK(db_event_add(f->db, &e, &e_));
    sync_db(f->db);
    struct db_status st;
    db_status_get(f->db, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM events"), 2);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM instances"), 0);
}

/* ---- PostgreSQL going away ---- */

struct writer_ctx {
    struct db *db;
    int id;
    atomic_bool stop;
    long long samples_ok, events_ok, refused;
};

/* Writes as the control loop would: a batch of samples per step and an
 * event, counting what was acknowledged. */
static void *writer_thread(void *arg)
{
    struct writer_ctx *w = arg;
    char uuid[40];
    snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012d", w->id);
    for (int step = 0; !atomic_load(&w->stop); step++) {
        struct db_usage_sample s[10];
        for (int i = 0; i < 10; i++) {
            s[i] = a_sample(uuid, step * 10 + i, 0.5);
        }
        struct err *err = NULL;
        if (db_usage_add(w->db, s, 10, &err) == 0)
            w->samples_ok += 10;
        else
            w->refused++;
        err_clear(&err);
        struct db_event e = {.source = (char *)"test", .action = (char *)"step",
                             .duration_ms = step};
        if (db_event_add(w->db, &e, &err) == 0)
            w->events_ok++;
        else
            w->refused++;
        err_clear(&err);
        clock_sleep_ms(2);
    }
    return NULL;
}

static void test_restart_mid_writes(void **state)
{
    struct fixture *f = FIXTURE(state);
    if (!getenv("SCULPT_TEST_DB_RUN_DIR"))
        skip();
    struct writer_ctx w[2] = {{.db = f->db, .id = 1}, {.db = f->db, .id = 2}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, writer_thread, &w[i]);
    clock_sleep_ms(500);
    test_pg_stop(); /* fast shutdown by PID, in the middle of the writes */
    clock_sleep_ms(1500);

    /* While it is away: writes are acknowledged into the queue, reads and
     * synchronous writes fail fast with UNAVAILABLE. */
    struct db_status st;
    db_status_get(f->db, &st);
    assert_false(st.connected);
    assert_true(st.queued > 0);
    struct err *err = NULL;
    int64_t t0 = clock_mono_ms();
    assert_null(db_instance_get(f->db, U1, &err));
    assert_int_equal(err->code, ERR_UNAVAILABLE);
    err_clear(&err);
    struct db_intent in = {.op = DB_OP_SPAWN};
    snprintf(in.instance_uuid, sizeof(in.instance_uuid), "%s", U1);
    assert_int_equal(db_intent_begin(f->db, &in, &err), -1);
    assert_int_equal(err->code, ERR_UNAVAILABLE);
    err_clear(&err);
    assert_true(clock_mono_ms() - t0 < 10000);

    test_pg_start();
    clock_sleep_ms(500);
    for (int i = 0; i < 2; i++) {
        atomic_store(&w[i].stop, true);
        pthread_join(t[i], NULL);
    }
    sync_db(f->db);
    db_status_get(f->db, &st);
    assert_true(st.connected);
    assert_true(st.reconnects >= 1);
    assert_int_equal(st.dropped, 0);
    long long samples = w[0].samples_ok + w[1].samples_ok;
    long long events = w[0].events_ok + w[1].events_ok;
    assert_int_equal(w[0].refused + w[1].refused, 0);
    assert_true(samples > 100);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM usage_samples"), samples);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM events"), events);
    /* and reads work again on fresh sessions */
    struct db_event_filter ef = {.limit = 1};
    autoptr(db_event_list) el = db_event_list(f->db, &ef, &err);
    assert_non_null(el);

    /* what /metrics shows of it */
    autofree char *text = metrics_render();
    assert_non_null(strstr(text, "\nsculpt_db_up 1\n"));
    assert_non_null(strstr(text, "\nsculpt_db_queue_records 0\n"));
    assert_non_null(strstr(text, "sculpt_db_transaction_seconds_count"));
    struct metrics_family *reconnects = metrics_counter("sculpt_db_reconnects_total", "", NULL);
    assert_true(metrics_value(reconnects, NULL) >= 1);
    struct metrics_family *written = metrics_counter("sculpt_db_records_written_total", "", NULL);
    assert_true(metrics_value(written, NULL) >= (double)(samples + events));
}

/* The queue is bounded: past queue_max, writes are refused (and counted),
 * what was queued is kept and written when the server is back. */
static void test_queue_bound(void **state)
{
    struct fixture *f = FIXTURE(state);
    if (!getenv("SCULPT_TEST_DB_RUN_DIR"))
        skip();
    db_close(f->db);
    f->db = open_db(f->url, 1000);
    test_pg_stop();
    struct err *err = NULL;
    struct db_usage_sample s[100];
    int acked = 0;
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < 100; i++)
            s[i] = a_sample(U1, round * 100 + i, 1.0);
        if (db_usage_add(f->db, s, 100, &err) == 0) {
            acked += 100;
        } else {
            assert_int_equal(err->code, ERR_UNAVAILABLE);
            assert_non_null(strstr(err->msg, "queue full"));
            err_clear(&err);
        }
    }
    assert_int_equal(acked, 1000);
    struct db_status st;
    db_status_get(f->db, &st);
    assert_int_equal(st.queued, 1000);
    assert_int_equal(st.refused, 200);
    test_pg_start();
    sync_db(f->db);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM usage_samples"), 1000);
    /* room again */
    s[0] = a_sample(U1, 5000, 1.0);
    OK(db_usage_add(f->db, s, 1, &e_));
}

/* A restart while nothing is written: the sessions' connections are dead
 * and nobody noticed; the next read reconnects rather than failing, and
 * the next write goes through the writer's reconnection. */
static void test_idle_restart(void **state)
{
    struct fixture *f = FIXTURE(state);
    if (!getenv("SCULPT_TEST_DB_RUN_DIR"))
        skip();
    struct err *err = NULL;
    autoptr(drv_instance) a = an_instance(U1, "m1.small", "proj-a");
    OK(db_instance_put(f->db, a, &e_));
    autoptr(drv_instance) got = db_instance_get(f->db, U1, &err);
    assert_non_null(got);
    test_pg_stop();
    test_pg_start();
    drv_instance_free(got);
    got = db_instance_get(f->db, U1, &err);
    if (!got)
        fail_msg("read after an idle restart: %s", err->msg);
    OK(db_instance_set_state(f->db, U1, "active", NULL, DRV_POWER_RUNNING, &e_));
    drv_instance_free(got);
    got = db_instance_get(f->db, U1, &err);
    assert_non_null(got);
    assert_string_equal(got->vm_state, "active");
}

/* ---- reconciliation against the database ---- */

struct fake_hv {
    char destroyed[4][64];
    int ndestroyed;
    char reshaped[4][64];
    struct drv_shape shapes[4];
    int nreshaped;
};

static int fake_destroy(void *ctx, const char *domain, struct err **err)
{
    (void)err;
    struct fake_hv *hv = ctx;
    snprintf(hv->destroyed[hv->ndestroyed++], 64, "%s", domain);
    return 0;
}

static int fake_apply_shape(void *ctx, const char *domain, const struct drv_shape *s,
                            struct err **err)
{
    (void)err;
    struct fake_hv *hv = ctx;
    hv->shapes[hv->nreshaped] = *s;
    snprintf(hv->reshaped[hv->nreshaped++], 64, "%s", domain);
    return 0;
}

static void test_reconcile(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    /* U1: a reshape interrupted half-way; U2: a spawn interrupted after its
     * guest started (its row never written); U3: a row whose guest is gone;
     * M1: a pool member whose guest is gone; plus a guest nobody knows. */
    autoptr(drv_instance) a = an_instance(U1, "m1.small", "proj-a");
    a->power_state = DRV_POWER_RUNNING;
    autoptr(drv_instance) c = an_instance(U3, "m1.small", "proj-a");
    OK(db_instance_put(f->db, a, &e_));
    OK(db_instance_put(f->db, c, &e_));
    struct db_intent rs = {.op = DB_OP_RESHAPE, .domain = a->domain, .has_from = true,
                           .from = a->shape, .has_to = true, .to = a_shape(3, 3, 3000)};
    snprintf(rs.instance_uuid, sizeof(rs.instance_uuid), "%s", U1);
    assert_true(db_intent_begin(f->db, &rs, &err) > 0);
    struct db_intent sp = {.op = DB_OP_SPAWN, .domain = (char *)"instance-22222222",
                           .has_to = true, .to = a_shape(0.5, 1, 512)};
    snprintf(sp.instance_uuid, sizeof(sp.instance_uuid), "%s", U2);
    assert_true(db_intent_begin(f->db, &sp, &err) > 0);
    struct db_pool_member m = {.pool_key = (char *)"k", .domain = (char *)"presculpt-1",
                               .state = DB_MEMBER_READY, .shape = a->shape};
    snprintf(m.uuid, sizeof(m.uuid), "%s", M1);
    OK(db_pool_member_put(f->db, &m, &e_));

    struct db_guest guests[3] = {
        {.domain = a->domain, .power = DRV_POWER_RUNNING, .has_shape = true, .shape = a->shape},
        {.domain = "instance-22222222", .power = DRV_POWER_RUNNING},
        {.domain = "other-vm", .power = DRV_POWER_RUNNING},
    };
    snprintf(guests[0].uuid, 37, "%s", U1);
    snprintf(guests[1].uuid, 37, "%s", U2);
    snprintf(guests[2].uuid, 37, "%s", "55555555-5555-4555-8555-555555555555");
    guests[0].shape.vcpus_online = 3; /* half-way: vCPUs plugged, quota not yet */

    struct fake_hv hv = {0};
    struct db_reconcile_ops ops = {&hv, fake_destroy, fake_apply_shape};
    struct db_reconcile_opts o = {.domain_prefix = "instance-"};
    int failed = -1;
    autoptr(db_fix_list) fixes = db_reconcile(f->db, guests, 3, NULL, 0, &o, &ops, &failed, &err);
    assert_non_null(fixes);
    assert_int_equal(failed, 0);
    assert_int_equal(fixes->n, 5);
    /* the guest as it is with the interrupted reshape's balloon target
     * first (a balloon reads back its actual size, so the roll-back would
     * not see that target), then the previous shape */
    assert_int_equal(hv.nreshaped, 2);
    assert_string_equal(hv.reshaped[0], a->domain);
    assert_int_equal(hv.shapes[0].vcpus_online, 3);
    assert_true(hv.shapes[0].res.v[DRV_RES_VCPU] == 1.35);
    assert_true(hv.shapes[0].res.v[DRV_RES_MEM_MIB] == 3000);
    assert_string_equal(hv.reshaped[1], a->domain);
    assert_true(hv.shapes[1].res.v[DRV_RES_VCPU] == 1.35);
    assert_int_equal(hv.shapes[1].vcpus_online, 2);
    assert_true(hv.shapes[1].res.v[DRV_RES_MEM_MIB] == 1536);
    assert_int_equal(hv.ndestroyed, 0);

    autoptr(db_intent_list) open = db_intent_list_open(f->db, &err);
    assert_int_equal(open->n, 0);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM intents WHERE state = "
                                           "'rolled_back' AND op = 'reshape'"), 1);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM intents WHERE state = "
                                           "'done' AND op = 'spawn'"), 1);
    autoptr(drv_instance) got2 = db_instance_get(f->db, U2, &err);
    assert_non_null(got2);
    assert_string_equal(got2->vm_state, "active");
    assert_int_equal(got2->power_state, DRV_POWER_RUNNING);
    assert_true(got2->shape.res.v[DRV_RES_VCPU] == 0.5);
    autoptr(drv_instance) got3 = db_instance_get(f->db, U3, &err);
    assert_string_equal(got3->vm_state, "error");
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM instances WHERE "
                                           "vanished_at IS NOT NULL"), 1);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM pool_members WHERE state = "
                                           "'gone'"), 1);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM events WHERE source = "
                                           "'reconcile'"), 5);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM events WHERE action = "
                                           "'reconcile.report'"), 1);

    /* A second start finds nothing left to fix (the foreign guest is
     * reported again, nothing else). */
    db_fix_list_free(fixes);
    fixes = db_reconcile(f->db, guests, 3, NULL, 0, &o, &ops, &failed, &err);
    assert_int_equal(fixes->n, 1);
    assert_int_equal(fixes->v[0].kind, DB_FIX_REPORT);

    /* Without hypervisor operations a fix that needs them stays undone. */
    struct db_intent ds = {.op = DB_OP_DESTROY, .domain = a->domain};
    snprintf(ds.instance_uuid, sizeof(ds.instance_uuid), "%s", U1);
    assert_true(db_intent_begin(f->db, &ds, &err) > 0);
    db_fix_list_free(fixes);
    fixes = db_reconcile(f->db, guests, 1, NULL, 0, &o, NULL, &failed, &err);
    assert_int_equal(failed, 1);
    db_intent_list_free(open);
    open = db_intent_list_open(f->db, &err);
    assert_int_equal(open->n, 1);
    db_fix_list_free(fixes);
    fixes = db_reconcile(f->db, guests, 1, NULL, 0, &o, &ops, &failed, &err);
    assert_int_equal(failed, 0);
    assert_int_equal(hv.ndestroyed, 1);
    drv_instance_free(got2);
    got2 = db_instance_get(f->db, U1, &err);
    assert_true(got2->deleted_ms > 0);
}

/* The same through a hypervisor backend (the fake one): the guest list
 * from drv_hv_list(), fixes carried out by drv_hv_destroy/drv_hv_reshape. */
static struct drv_shape hv_shape(double vcpu, int online)
{
    struct drv_shape s = {.vcpus_online = online, .vcpus_max = 4, .mem_max_mib = 2048,
                          .numa_node = -1};
    s.res.v[DRV_RES_VCPU] = vcpu;
    s.res.v[DRV_RES_MEM_MIB] = 1024;
    return s;
}

static void hv_spawn(struct drv_hv *hv, const char *uuid, struct drv_shape shape)
{
    struct drv_hv_guest_spec spec = {.shape = shape};
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", uuid);
    spec.image.kernel = (char *)"/images/vmlinuz";
    spec.image.disk_base = (char *)"/images/base.qcow2";
    OK(drv_hv_spawn(hv, &spec, &e_));
}

/* The fake backend, opened as sculpt-compute would. */
static struct drv_hv *fake_hv_open(void)
{
    struct err *err = NULL;
    autocfg cfg = cfg_new_defaults();
    OK(cfg_set(cfg, "DEFAULT", "compute_driver", "fake", &e_));
    struct drv_hv *hv = drv_hv_open(NULL, cfg, &err);
    if (!hv)
        fail_msg("fake backend: %s", err->msg);
    return hv;
}

/* A row of guest `uuid` running as sculpt-<uuid> in `shape`. */
static void put_running(struct fixture *f, const char *uuid, const struct drv_shape *shape)
{
    autoptr(drv_instance) in = an_instance(uuid, "m1.small", "proj-a");
    free(in->domain);
    in->domain = xasprintf("sculpt-%s", uuid);
    in->shape = *shape;
    in->power_state = DRV_POWER_RUNNING;
    OK(db_instance_put(f->db, in, &e_));
}

static void test_reconcile_hypervisor(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autoptr(drv_hv) hv = fake_hv_open();

    struct drv_shape s1 = hv_shape(1.0, 1), s2 = hv_shape(2.5, 3);
    const char *uuids[] = {U1, U2, U3, M1};
    for (int i = 0; i < 4; i++)
        hv_spawn(hv, uuids[i], s1);
    /* U1: reshape s1 -> s2 interrupted after the guest took s2 */
    OK(drv_fake_tamper(hv, U1, &s2, &e_));
    /* U2: stopped behind sculpt's back */
    OK(drv_fake_kill(hv, U2, "crashed", &e_));
    /* U3: spawn interrupted before the guest ran */
    OK(drv_hv_power_off(hv, U3, 0, &e_));
    /* M1 (a guest of sculpt's): no row at all */

    for (int i = 0; i < 2; i++)
        put_running(f, uuids[i], &s1);
    struct db_intent rs = {.op = DB_OP_RESHAPE, .has_from = true, .from = s1, .has_to = true,
                           .to = s2};
    snprintf(rs.instance_uuid, sizeof(rs.instance_uuid), "%s", U1);
    assert_true(db_intent_begin(f->db, &rs, &err) > 0);
    struct db_intent sp = {.op = DB_OP_SPAWN, .has_to = true, .to = s1};
    snprintf(sp.instance_uuid, sizeof(sp.instance_uuid), "%s", U3);
    assert_true(db_intent_begin(f->db, &sp, &err) > 0);

    int failed = -1;
    struct db_reconcile_opts o = {0};
    autoptr(db_fix_list) fixes = db_reconcile_hypervisor(f->db, hv, NULL, 0, &o, &failed, &err);
    assert_non_null(fixes);
    assert_int_equal(failed, 0);
    assert_int_equal(fixes->n, 4); /* complete U1, roll back U3, sync U2, adopt M1 */

    struct drv_hv_info *infos = NULL;
    size_t n = 0;
    OK(drv_hv_list(hv, &infos, &n, &e_));
    assert_int_equal(n, 3); /* U3's half-built guest destroyed */
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(infos[i].uuid, U3);
    free(infos);

    autoptr(drv_instance) g1 = db_instance_get(f->db, U1, &err);
    assert_true(g1->shape.res.v[DRV_RES_VCPU] == 2.5);
    autoptr(drv_instance) g2 = db_instance_get(f->db, U2, &err);
    assert_int_equal(g2->power_state, DRV_POWER_CRASHED);
    autoptr(drv_instance) g4 = db_instance_get(f->db, M1, &err);
    assert_non_null(g4);
    assert_string_equal(g4->domain, "sculpt-" M1);
    assert_int_equal(g4->power_state, DRV_POWER_RUNNING);
    assert_int_equal(test_pg_count(f->url, "SELECT count(*) FROM reshapes WHERE intent_id IS "
                                           "NOT NULL"), 1);
    autoptr(db_intent_list) open = db_intent_list_open(f->db, &err);
    assert_int_equal(open->n, 0);

    /* and the views agree now */
    db_fix_list_free(fixes);
    fixes = db_reconcile_hypervisor(f->db, hv, NULL, 0, &o, &failed, &err);
    assert_int_equal(fixes->n, 0);
}

/* A shrink interrupted after its balloon target was set, the guest still
 * giving the memory back (a balloon reads back its actual size): the
 * reshape is complete -- the guest holds more than asked on its way down,
 * which is progress -- not rolled back to the larger shape, and the
 * target is not touched. */
static void test_reconcile_balloon_on_its_way(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autoptr(drv_hv) hv = fake_hv_open();
    struct drv_shape big = hv_shape(1.0, 1), small = big;
    small.res.v[DRV_RES_MEM_MIB] = 256;
    hv_spawn(hv, U1, big);
    put_running(f, U1, &big);
    struct db_intent rs = {.op = DB_OP_RESHAPE, .has_from = true, .from = big, .has_to = true,
                           .to = small};
    snprintf(rs.instance_uuid, sizeof(rs.instance_uuid), "%s", U1);
    assert_true(db_intent_begin(f->db, &rs, &err) > 0);
    /* the crash came after the balloon was set; the guest holds 700 MiB */
    OK(drv_hv_reshape(hv, U1, &small, NULL, &e_));
    OK(drv_fake_set_mem_held(hv, U1, 700, &e_));

    int failed = -1;
    struct db_reconcile_opts o = {0};
    autoptr(db_fix_list) fixes = db_reconcile_hypervisor(f->db, hv, NULL, 0, &o, &failed, &err);
    assert_non_null(fixes);
    assert_int_equal(failed, 0);
    assert_int_equal(fixes->n, 1);
    assert_int_equal(fixes->v[0].kind, DB_FIX_COMPLETE);
    assert_false(fixes->v[0].apply_shape);
    struct drv_hv_info info;
    OK(drv_hv_get_info(hv, U1, &info, &e_));
    assert_true(info.mem_asked_mib == 256); /* the target stands */
    assert_true(info.shape.res.v[DRV_RES_MEM_MIB] == 700);
    autoptr(drv_instance) row = db_instance_get(f->db, U1, &err);
    assert_true(row->shape.res.v[DRV_RES_MEM_MIB] == 256);
}

/* A memory event (a hot-plug stall, a catch-up) the backend reports
 * reaches the event log through sculpt-compute's subscription, with what
 * the guest was asked and holds; a stall as a TIMEOUT. */
static void test_memory_events_logged(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autoptr(drv_hv) hv = fake_hv_open();
    struct drv_shape s = hv_shape(1.0, 1);
    hv_spawn(hv, U2, s);
    struct os_compute c;
    memset(&c, 0, sizeof(c));
    c.hv = hv;
    c.db = f->db;
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cond, NULL);
    os_compute_sync_subscribe(&c);
    struct drv_hv_event ev = {.type = DRV_HV_EVENT_MEMORY, .state = DRV_POWER_RUNNING,
                              .wall_ms = T0 + 5000};
    snprintf(ev.uuid, sizeof(ev.uuid), "%s", U2);
    snprintf(ev.reason, sizeof(ev.reason), "plug-stalled");
    hv->event_cb(&ev, hv->event_opaque); /* as the backend calls it */
    snprintf(ev.reason, sizeof(ev.reason), "caught-up");
    ev.wall_ms = T0 + 9000;
    hv->event_cb(&ev, hv->event_opaque);
    drv_hv_set_event_cb(hv, NULL, NULL);
    OK(db_sync(f->db, 10000, &e_));
    struct db_event_filter ef = {.instance_uuid = U2, .source = "hypervisor"};
    autoptr(db_event_list) el = db_event_list(f->db, &ef, &err);
    assert_non_null(el);
    assert_int_equal(el->n, 2);
    assert_string_equal(el->v[0].action, "memory.caught-up");
    assert_int_equal(el->v[0].code, 0);
    assert_string_equal(el->v[1].action, "memory.plug-stalled");
    assert_int_equal(el->v[1].code, ERR_TIMEOUT);
    assert_int_equal(el->v[1].at_ms, T0 + 5000);
    assert_non_null(strstr(el->v[1].message, "asked 1024 MiB, holds 1024 MiB"));
    assert_int_equal(c.nto_sync, 0); /* nothing for Nova: the power state is unchanged */
    pthread_cond_destroy(&c.cond);
    pthread_mutex_destroy(&c.lock);
}

/* Pool members made for a class of m1.tiny guests under steady demand
 * (claims missing, then learnt), booted and paused: idle, reclaimable. */
static void pool_demand(struct drv_pool_mgr *pm, int64_t t0_ms, int minutes)
{
    struct err *err = NULL;
    const struct drv_pool_request rq = {.flavor = "m1.tiny", .image = "img-1", .project = "proj",
                                        .vcpus = 1, .mem_mib = 512, .root_gb = 1};
    struct drv_pool_template t;
    memset(&t, 0, sizeof(t));
    t.guest.flavor_name = (char *)"m1.tiny";
    t.guest.shape = (struct drv_shape){.vcpus_online = 1, .vcpus_max = 1, .mem_max_mib = 512,
                                       .numa_node = -1};
    t.guest.shape.res.v[DRV_RES_VCPU] = 1;
    t.guest.shape.res.v[DRV_RES_MEM_MIB] = 512;
    t.guest.image.kernel = (char *)"/images/vmlinuz";
    t.engine.vcpus_max = 1;
    t.engine.mem_max_mib = 512;
    t.engine.ceiling = t.guest.shape.res;
    for (int k = 0; k < minutes; k++) {
        int64_t now = t0_ms + k * 60000LL;
        for (int i = 0; i < 2; i++) {
            struct drv_pool_member mb = {.state = DRV_MEMBER_LAST};
            if (drv_pool_mgr_claim(pm, &rq, now + i, &mb) == 0)
                drv_pool_mgr_learn(pm, &rq, &t);
            else if (mb.state == DRV_MEMBER_CLAIMED)
                OK(drv_pool_mgr_release(pm, mb.uuid, "test", &e_));
        }
        if (drv_pool_mgr_tick(pm, now + 30000, 0, &err) < 0)
            fail_msg("pool round: %s", err->msg);
        drv_pool_mgr_watch(pm, now + 31000);
    }
}

/* A build that reclaims idle pool members: each member destroyed is an
 * event of its own (source presculpt, action pool.reclaim) under the
 * instance built and its request, naming the pool and the member; a
 * member no longer idle when the engine's choice is carried out is not
 * destroyed, and not recorded. */
static void test_pool_reclaim_logged(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct cfg *cfg;
    struct drv_hv *hv;
    struct drv_host *host;
    struct drv_sculpt *engine;
    test_engine_open("nodes=1,sockets=1,cores=8,threads=2,mem_mib=32768", &cfg, &hv, &host,
                     &engine);
    struct drv_presculpt_params p;
    drv_presculpt_params_from_cfg(cfg, &p);
    p.idle_budget = 1.0;
    p.max_share = 0.5;
    struct drv_pool_mgr *pm = drv_pool_mgr_new(&p, hv, engine, NULL, &err);
    assert_non_null(pm);
    /* a real guest: the idle budget is a share of what real guests hold */
    int64_t t0_ms = clock_wall_ms() - 3600 * 1000LL;
    struct drv_sculpt_guest_spec es = test_guest_spec(U2, 4, 4096, 0);
    autoptr(drv_blueprint) bp = test_bp_flat(30, 60, t0_ms / 1000, 4, 4096);
    struct drv_shape shape;
    OK(drv_sculpt_place(engine, &es, bp, t0_ms / 1000, &shape, NULL, &e_));
    pool_demand(pm, t0_ms, 30);

    struct os_compute c;
    memset(&c, 0, sizeof(c));
    c.db = f->db;
    c.pools = pm;
    struct drv_control_reclaim r;
    os_compute_pools_reclaim_order(&c, &r);
    assert_true(r.n >= 2);
    char taken[2][DRV_UUID_LEN + 1];
    for (int k = 0; k < 2; k++)
        snprintf(taken[k], sizeof(taken[k]), "%s", r.order[k]);
    r.taken = 2;
    log_ctx_set("req-reclaim-1", U1);
    os_compute_pools_reclaimed(&c, U1, "build", &r);
    log_ctx_clear();
    assert_null(r.order);

    /* the engine's choice carried out again: those members are gone */
    char **again = xcalloc(2, sizeof(*again) + DRV_UUID_LEN + 1);
    again[0] = (char *)(again + 2);
    snprintf(again[0], DRV_UUID_LEN + 1, "%s", taken[0]);
    r = (struct drv_control_reclaim){.order = (const char *const *)again, .n = 1, .taken = 1};
    os_compute_pools_reclaimed(&c, U3, "resize", &r);

    sync_db(f->db);
    struct db_event_filter ef = {.source = "presculpt"};
    autoptr(db_event_list) el = db_event_list(f->db, &ef, &err);
    assert_non_null(el);
    assert_int_equal(el->n, 2);
    for (size_t i = 0; i < el->n; i++) {
        const struct db_event *e = &el->v[i];
        assert_string_equal(e->action, "pool.reclaim");
        assert_string_equal(e->instance_uuid, U1);
        assert_string_equal(e->request_id, "req-reclaim-1");
        assert_int_equal(e->code, 0);
        assert_non_null(strstr(e->message, "pool `"));
        assert_non_null(strstr(e->message, "destroyed to make room for the instance's build"));
        assert_non_null(strstr(e->message, "(vcpu="));
    }
    /* one event per member, each naming its own */
    bool named[2] = {false, false};
    for (size_t i = 0; i < el->n; i++)
        for (int k = 0; k < 2; k++)
            named[k] |= strstr(el->v[i].message, taken[k]) != NULL;
    assert_true(named[0] && named[1]);
    /* and the members are gone from the pools */
    autoptr(drv_pool_status) st = drv_pool_mgr_status(pm);
    for (size_t i = 0; i < st->nmembers; i++)
        for (int k = 0; k < 2; k++)
            assert_string_not_equal(st->members[i].uuid, taken[k]);
    drv_pool_mgr_free(pm);
    test_engine_close(cfg, hv, host, engine);
}

/* ---- fleet history ---- */

/* Five m1.small guests of `demo` using a third of a vCPU: what a cold
 * start of a sixth reads. */
static struct drv_fleet *a_fleet(const struct drv_predict_config *pc, int64_t t0)
{
    struct drv_fleet *fleet = drv_fleet_new(pc);
    for (int g = 0; g < 5; g++) {
        struct drv_predict_request req = {.flavor_name = "m1.small", .project_id = "demo",
                                          .name = "web-1", .boot_s = t0};
        req.ceiling.v[DRV_RES_VCPU] = 1;
        req.ceiling.v[DRV_RES_MEM_MIB] = 2048;
        req.resources = (1u << DRV_RES_VCPU) | (1u << DRV_RES_MEM_MIB);
        struct err *err = NULL;
        autoptr(drv_predictor) p = drv_predictor_new(fleet, &req, pc, &err);
        assert_non_null(p);
        for (int i = 1; i <= 60; i++) {
            struct drv_res use = drv_res_zero();
            use.v[DRV_RES_VCPU] = 0.3 + 0.05 * (i % 3);
            use.v[DRV_RES_MEM_MIB] = 700;
            drv_predictor_observe(p, t0 + i * 60, &use);
        }
    }
    return fleet;
}

/* The confidence a new m1.small of `demo` starts with (a what-if). */
static double cold_confidence(struct drv_fleet *fleet, const struct drv_predict_config *pc,
                              int64_t t)
{
    struct drv_predict_request req = {.flavor_name = "m1.small", .project_id = "demo",
                                      .name = "web-9", .boot_s = t, .counted = true};
    req.ceiling.v[DRV_RES_VCPU] = 1;
    req.ceiling.v[DRV_RES_MEM_MIB] = 2048;
    struct err *err = NULL;
    autoptr(drv_predictor) p = drv_predictor_new(fleet, &req, pc, &err);
    struct drv_cost_model cm;
    autocfg cfg = cfg_new_defaults();
    drv_cost_model_from_cfg(cfg, &cm);
    autoptr(drv_blueprint) bp = drv_predictor_blueprint(p, t, 1800, 60, &cm, &err);
    assert_non_null(bp);
    return bp->confidence;
}

static void test_fleet_history(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autocfg cfg = cfg_new_defaults();
    struct drv_predict_config pc;
    drv_predict_config_from_cfg(cfg, &pc);
    const int64_t t0 = 1764000000;
    autoptr(drv_fleet) fleet = a_fleet(&pc, t0);
    double before = cold_confidence(fleet, &pc, t0 + 7200);
    assert_true(before > 0);

    /* an empty database loads nothing */
    autoptr(drv_fleet) empty = drv_fleet_new(&pc);
    assert_int_equal(db_fleet_load(f->db, empty, 100, NULL, &err), 0);

    autoptr(db_fleet_marks) marks = db_fleet_marks_new();
    size_t written = 0;
    OK(db_fleet_save(f->db, fleet, marks, &written, &e_));
    assert_int_equal(written, drv_fleet_groups(fleet));
    /* nothing changed since: nothing written */
    OK(db_fleet_save(f->db, fleet, marks, &written, &e_));
    assert_int_equal(written, 0);
    sync_db(f->db);

    /* a restart: a new fleet from the database answers as the old one */
    autoptr(drv_fleet) back = drv_fleet_new(&pc);
    autoptr(db_fleet_marks) marks2 = db_fleet_marks_new();
    int n = db_fleet_load(f->db, back, 100, marks2, &err);
    assert_int_equal(n, (int)drv_fleet_groups(fleet));
    double after = cold_confidence(back, &pc, t0 + 7200);
    /* (weights are kept relative to a group's own reference time, which
     * the records move to their last sample: equal to within decay) */
    assert_true(fabs(after - before) < 1e-3 * before);
    /* what was loaded is not written again */
    OK(db_fleet_save(f->db, back, marks2, &written, &e_));
    assert_int_equal(written, 0);
    /* the bound: the most recently updated groups only */
    autoptr(drv_fleet) few = drv_fleet_new(&pc);
    assert_int_equal(db_fleet_load(f->db, few, 2, NULL, &err), 2);

    /* a record of another layout version is skipped, the rest loads */
    free(test_pg_exec(f->url, "UPDATE fleet_groups SET version = version + 1"
                              " WHERE key = (SELECT min(key) FROM fleet_groups)"));
    autoptr(drv_fleet) most = drv_fleet_new(&pc);
    assert_int_equal(db_fleet_load(f->db, most, 100, NULL, &err), n - 1);
}

/* ---- predictor states ---- */

static void test_predictor_states(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    autocfg cfg = cfg_new_defaults();
    struct drv_predict_config pc;
    drv_predict_config_from_cfg(cfg, &pc);
    autoptr(drv_instance) in = an_instance(U1, "m1.small", "demo");
    OK(db_instance_put(f->db, in, &e_));

    struct drv_predict_request req = {.flavor_name = "m1.small", .boot_s = 1764000000};
    req.ceiling.v[DRV_RES_VCPU] = 2;
    req.ceiling.v[DRV_RES_MEM_MIB] = 2048;
    req.resources = (1u << DRV_RES_VCPU) | (1u << DRV_RES_MEM_MIB);
    autoptr(drv_predictor) p = drv_predictor_new(NULL, &req, &pc, &err);
    for (int i = 1; i <= 200; i++) {
        struct drv_res use = drv_res_zero();
        use.v[DRV_RES_VCPU] = 0.5 + 0.3 * sin(i / 20.0);
        use.v[DRV_RES_MEM_MIB] = 900 + i;
        drv_predictor_observe(p, req.boot_s + i * 60, &use);
    }
    /* one guest with an instance row, one without (skipped) */
    struct drv_control_state v[2] = {{.uuid = U1, .samples = 200}, {.uuid = U2, .samples = 200}};
    v[0].len = drv_predictor_export(p, &v[0].state);
    v[1].len = drv_predictor_export(p, &v[1].state);
    size_t stored = 0;
    OK(db_predictor_states_save(f->db, v, 2, &stored, &e_));
    assert_true(stored > 0 && stored < v[0].len + v[1].len);
    sync_db(f->db);

    size_t len = 0;
    autofree unsigned char *back = db_predictor_state_get(f->db, U1, &len, &err);
    assert_non_null(back);
    assert_int_equal(len, v[0].len);
    assert_memory_equal(back, v[0].state, len);
    autoptr(drv_predictor) q = drv_predictor_import(NULL, &req, &pc, back, len, &err);
    assert_non_null(q);
    assert_int_equal(drv_predictor_samples(q), 200);
    assert_null(db_predictor_state_get(f->db, U2, &len, &err));
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    /* a later save replaces the row */
    OK(db_predictor_states_save(f->db, v, 1, NULL, &e_));
    sync_db(f->db);

    /* damaged bytes: refused here, before the driver sees them */
    free(test_pg_exec(f->url, "UPDATE predictor_states SET state = '\\x0001'"));
    assert_null(db_predictor_state_get(f->db, U1, &len, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);

    /* shelve offloaded: the row reads as gone from this host, the state
     * stays for an unshelve */
    OK(db_predictor_states_save(f->db, v, 1, NULL, &e_));
    OK(db_instance_offloaded(f->db, U1, 0, &e_));
    sync_db(f->db);
    {
        autoptr(drv_instance) gone = db_instance_get(f->db, U1, &err);
        assert_non_null(gone);
        assert_true(gone->deleted_ms > 0);
        assert_string_equal(gone->vm_state, "shelved_offloaded");
        autoptr(db_instance_list) live = db_instance_list(f->db, NULL, &err);
        assert_non_null(live);
        for (size_t k = 0; k < live->n; k++)
            assert_string_not_equal(live->v[k]->uuid, U1);
        autofree unsigned char *kept = db_predictor_state_get(f->db, U1, &len, &err);
        assert_non_null(kept);
        assert_int_equal(len, v[0].len);
    }
    /* unshelved here: the row is live again, the state still there */
    OK(db_instance_put(f->db, in, &e_));
    sync_db(f->db);
    {
        autoptr(drv_instance) back2 = db_instance_get(f->db, U1, &err);
        assert_non_null(back2);
        assert_int_equal(back2->deleted_ms, 0);
        autofree unsigned char *kept = db_predictor_state_get(f->db, U1, &len, &err);
        assert_non_null(kept);
    }

    /* deleted with its instance, and not brought back by a late save */
    OK(db_predictor_states_save(f->db, v, 1, NULL, &e_));
    OK(db_instance_delete(f->db, U1, 0, &e_));
    OK(db_predictor_states_save(f->db, v, 1, NULL, &e_));
    sync_db(f->db);
    assert_null(db_predictor_state_get(f->db, U1, &len, &err));
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    free(v[0].state);
    free(v[1].state);
}

/* A held guest a rebuild (new image) or a resize (new flavor) moves into
 * a class an operator wrote a blueprint for gets it as a build would
 * (os_compute_engine_reclass: db_custom_blueprint_for's rule, the
 * revision recorded, the engine following it); moved into a class without
 * one, the predictor's. */
static void test_reclass_custom(void **state)
{
    struct fixture *f = FIXTURE(state);
    struct err *err = NULL;
    struct test_control t;
    const char *const opts[] = {"fake.topology=nodes=1,sockets=1,cores=4,threads=1,mem_mib=8192",
                                NULL};
    test_control_open(opts, NULL, &t);
    struct os_compute c;
    memset(&c, 0, sizeof(c));
    c.db = f->db;
    c.cfg = t.cfg;
    c.control = t.ctl;
    c.engine = t.engine;
    struct db_custom_blueprint cb = {.name = (char *)"batch-image",
                                     .image_ref = (char *)"img-batch",
                                     .bp = test_bp_flat(10, 60, 1764000000, 0.75, 768)};
    assert_true(db_custom_blueprint_create(f->db, &cb, &err) > 0);
    drv_blueprint_free(cb.bp);
    cb = (struct db_custom_blueprint){.name = (char *)"big-flavor",
                                      .flavor_name = (char *)"m1.big",
                                      .bp = test_bp_flat(10, 60, 1764000000, 1.5, 1536)};
    int64_t big_id = db_custom_blueprint_create(f->db, &cb, &err);
    assert_true(big_id > 0);
    drv_blueprint_free(cb.bp);

    autoptr(drv_instance) was = an_instance(U1, "m1.small", "demo");
    was->booted = true; /* no boot allowance: the shape is the blueprint's */
    struct drv_shape s0, out;
    OK(drv_control_admit(t.ctl, was, time(NULL), &s0, NULL, &e_));
    was->vcpus_defined = s0.vcpus_max;
    was->mem_defined_mib = s0.mem_max_mib;
    autoptr(drv_instance) rebuilt = drv_instance_dup(was);
    free(rebuilt->image_ref);
    rebuilt->image_ref = xstrdup("img-batch");
    autoptr(drv_instance) big = drv_instance_dup(was);
    free(big->flavor.name);
    big->flavor.name = xstrdup("m1.big");

    /* rebuilt onto img-batch: its blueprint */
    char *custom = NULL;
    OK(os_compute_engine_reclass(&c, was, rebuilt, "rebuild", &out, &custom, &e_));
    assert_non_null(custom);
    assert_string_equal(custom, "batch-image");
    free(custom);
    assert_true(fabs(out.res.v[DRV_RES_VCPU] - 0.75) < 1e-9);
    autoptr(drv_blueprint) cur = drv_control_blueprint(t.ctl, U1, &err);
    assert_string_equal(cur->model, "custom:batch-image");
    /* back onto its first image: no blueprint for that class */
    OK(os_compute_engine_reclass(&c, rebuilt, was, "rebuild", &out, &custom, &e_));
    assert_null(custom);
    autoptr(drv_blueprint) pred = drv_control_blueprint(t.ctl, U1, &err);
    assert_null(strstr(pred->model, "custom:"));
    /* resized to m1.big: its blueprint */
    OK(os_compute_engine_reclass(&c, was, big, "resize", &out, &custom, &e_));
    assert_non_null(custom);
    assert_string_equal(custom, "big-flavor");
    free(custom);
    assert_true(fabs(out.res.v[DRV_RES_VCPU] - 1.5) < 1e-9);
    assert_true(fabs(out.res.v[DRV_RES_MEM_MIB] - 1536) < 1e-6);

    sync_db(f->db);
    autoptr(db_blueprint_rev) last = db_blueprint_latest(f->db, U1, &err);
    assert_non_null(last);
    autofree char *reason = xasprintf("custom blueprint `big-flavor` (id %lld)",
                                      (long long)big_id);
    assert_string_equal(last->reason, reason);
    assert_string_equal(last->bp->model, "custom:big-flavor");
    assert_int_equal(last->revision, 2); /* batch-image's, then big-flavor's */
    test_control_close(&t);
}

int main(void)
{
    log_setup(LOG_LEVEL_WARN, "stderr", false, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_from_empty, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_each_version, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_old_schema_without_migrate, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_instances, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_blueprints, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_usage_batch, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_usage_queries, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_pool_members_bounded, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_reshapes_snapshots_events, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_history, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_predictor_states, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_pools, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_pool_classes, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_pool_learnt, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_intents, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_refused_write_isolated, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_balloon_on_its_way, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_memory_events_logged, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_pool_reclaim_logged, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_hypervisor, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_restart_mid_writes, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_idle_restart, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_reclass_custom, setup_open, teardown),
    };
    if (!test_pg_available())
        fprintf(stderr, "test_db_pg: SCULPT_TEST_DB_URL unset: skipped "
                        "(tests/integration/db.sh runs it against a real PostgreSQL)\n");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
