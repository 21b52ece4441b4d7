/* db/ without a server: the text codecs, the embedded migrations, and
 * every rule of the reconciliation plan on hand-made views.  The calls
 * against a real PostgreSQL are in test_db_pg.c. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "db/codec.h"
#include "db/db.h"
#include "db/migrate_priv.h"
#include "db/reconcile.h"

/* ---- codec ---- */

static void test_doubles_round_trip(void **state)
{
    (void)state;
    double v[] = {0.35, 1536, 1e-300, 123456789.123456789, 0, 1.0 / 3.0, 2.5e12};
    autofree char *text = db_format_doubles(v, ARRAY_SIZE(v));
    double back[ARRAY_SIZE(v)];
    assert_int_equal(db_parse_doubles(text, back, ARRAY_SIZE(v), NULL), 0);
    for (size_t i = 0; i < ARRAY_SIZE(v); i++)
        assert_true(back[i] == v[i]); /* exact: 17 significant digits */

    struct err *err = NULL;
    assert_int_equal(db_parse_doubles("{1,2}", back, 3, &err), -1);
    assert_non_null(strstr(err->msg, "has 2 elements, expected 3"));
    err_clear(&err);
    assert_int_equal(db_parse_doubles("{1,x}", back, 2, &err), -1);
    err_clear(&err);
    assert_int_equal(db_parse_doubles("1,2", back, 2, &err), -1);
    err_clear(&err);

    double *any = NULL;
    size_t n = 9;
    assert_int_equal(db_parse_doubles_alloc("{}", &any, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(any);
    assert_int_equal(db_parse_doubles_alloc("{4.5,-1,7e3}", &any, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_true(any[0] == 4.5 && any[1] == -1 && any[2] == 7000);
    free(any);
}

static void free_texts(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void test_texts_round_trip(void **state)
{
    (void)state;
    const char *v[] = {"plain", "with space", "quote\"d", "back\\slash", "com,ma", "{brace}",
                       "", "NULL", NULL};
    autofree char *text = db_format_texts(v, ARRAY_SIZE(v));
    char **back = NULL;
    size_t n = 0;
    assert_int_equal(db_parse_texts(text, &back, &n, NULL), 0);
    assert_int_equal(n, ARRAY_SIZE(v));
    for (size_t i = 0; i + 1 < ARRAY_SIZE(v); i++)
        assert_string_equal(back[i], v[i]);
    assert_null(back[ARRAY_SIZE(v) - 1]);
    free_texts(back, n);

    /* PostgreSQL's own output quotes only where it must. */
    assert_int_equal(db_parse_texts("{a,\"b c\",\"d\\\"e\",NULL,\"\",\"NULL\"}", &back, &n, NULL),
                     0);
    assert_int_equal(n, 6);
    assert_string_equal(back[0], "a");
    assert_string_equal(back[1], "b c");
    assert_string_equal(back[2], "d\"e");
    assert_null(back[3]);
    assert_string_equal(back[4], "");
    assert_string_equal(back[5], "NULL");
    free_texts(back, n);

    struct err *err = NULL;
    assert_int_equal(db_parse_texts("{\"open", &back, &n, &err), -1);
    err_clear(&err);
}

static void test_copy_escaping(void **state)
{
    (void)state;
    struct strbuf b = STRBUF_INIT;
    db_copy_append_text(&b, "a\tb\nc\\d\re");
    assert_string_equal(b.s, "a\\tb\\nc\\\\d\\re");
    strbuf_release(&b);
}

static void test_params(void **state)
{
    (void)state;
    struct db_params p = DB_PARAMS_INIT;
    struct drv_shape s = {.vcpus_online = 2, .vcpus_max = 8, .mem_max_mib = 4096,
                          .numa_node = 1};
    s.res.v[DRV_RES_VCPU] = 1.35;
    drv_cpuset_parse("0-3,8", &s.pcpus, NULL);
    char borrowed[] = "mutable";
    db_param_str(&p, borrowed);
    db_param_uuid(&p, "");
    s.cpu_weight = 270;
    db_param_shape(&p, &s);
    assert_int_equal(p.n, 2 + DB_SHAPE_COLS);
    assert_ptr_equal(p.v[0], borrowed); /* borrowed unless `own` */
    assert_null(p.v[1]);
    assert_string_equal(p.v[2], "{1.3500000000000001,0,0,0,0,0,0,0}");
    assert_string_equal(p.v[3], "2");
    assert_string_equal(p.v[6], "0-3,8");
    assert_string_equal(p.v[7], "1");
    assert_string_equal(p.v[8], "270");
    db_params_release(&p);

    struct db_params q = DB_PARAMS_INIT;
    q.own = true;
    db_param_str(&q, borrowed);
    borrowed[0] = 'X';
    assert_string_equal(q.v[0], "mutable"); /* a queued write keeps its own copy */
    db_params_release(&q);
}

/* ---- migrations ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct strbuf b = STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_append_len(&b, buf, n);
    fclose(f);
    return strbuf_steal(&b);
}

/* Every db/migrations/NNNN_*.sql is embedded, numbered from 0001 without
 * gaps, byte for byte (run from the top of the tree). */
static void test_migrations_embedded(void **state)
{
    (void)state;
    DIR *d = opendir("db/migrations");
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0) {
            assert_true(n < ARRAY_SIZE(names));
            names[n++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp_names);
    assert_int_equal(n, db_nmigrations);
    assert_int_equal(db_schema_latest(), (int)n);
    for (size_t i = 0; i < n; i++) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "%04zu_", i + 1);
        assert_memory_equal(names[i], prefix, 5);
        assert_string_equal(db_migrations[i].name, names[i]);
        autofree char *path = xasprintf("db/migrations/%s", names[i]);
        autofree char *text = read_file(path);
        assert_string_equal(db_migrations[i].sql, text);
        free(names[i]);
    }
}

/* ---- reconciliation plan ---- */

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define U3 "33333333-3333-4333-8333-333333333333"
#define M1 "44444444-4444-4444-8444-444444444444"
#define G9 "99999999-9999-4999-8999-999999999999"
#define S5 "55555555-5555-4555-8555-555555555555"

struct view_builder {
    struct db_view view;
    struct db_instance_list rows;
    struct db_intent_list intents;
    struct db_pool_member_list members;
    struct drv_instance *row[8];
    struct db_intent *intent[8];
    struct db_pool_member *member[8];
};

static void vb_init(struct view_builder *b)
{
    memset(b, 0, sizeof(*b));
    b->rows.v = b->row;
    b->intents.v = b->intent;
    b->members.v = b->member;
    b->view.instances = &b->rows;
    b->view.intents = &b->intents;
    b->view.members = &b->members;
}

static void vb_release(struct view_builder *b)
{
    for (size_t i = 0; i < b->rows.n; i++)
        drv_instance_free(b->row[i]);
    for (size_t i = 0; i < b->intents.n; i++)
        db_intent_free(b->intent[i]);
    for (size_t i = 0; i < b->members.n; i++)
        db_pool_member_free(b->member[i]);
}

static struct drv_instance *vb_row(struct view_builder *b, const char *uuid, const char *domain,
                                   enum drv_power_state power)
{
    struct drv_instance *in = xzalloc(sizeof(*in));
    snprintf(in->uuid, sizeof(in->uuid), "%s", uuid);
    in->domain = xstrdup(domain);
    in->vm_state = xstrdup("active");
    in->power_state = power;
    b->row[b->rows.n++] = in;
    return in;
}

static struct db_intent *vb_intent(struct view_builder *b, enum db_op op, const char *uuid,
                                   const char *domain)
{
    struct db_intent *in = xzalloc(sizeof(*in));
    in->id = (int64_t)b->intents.n + 100;
    in->op = op;
    snprintf(in->instance_uuid, sizeof(in->instance_uuid), "%s", uuid);
    in->domain = domain ? xstrdup(domain) : NULL;
    b->intent[b->intents.n++] = in;
    return in;
}

static struct db_pool_member *vb_member(struct view_builder *b, const char *uuid,
                                        const char *domain)
{
    struct db_pool_member *m = xzalloc(sizeof(*m));
    snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
    m->domain = xstrdup(domain);
    m->pool_key = xstrdup("m1.small:any:any");
    m->state = DB_MEMBER_PAUSED;
    b->member[b->members.n++] = m;
    return m;
}

static struct db_guest guest(const char *uuid, const char *domain, enum drv_power_state power)
{
    struct db_guest g = {.domain = domain, .power = power};
    snprintf(g.uuid, sizeof(g.uuid), "%s", uuid);
    return g;
}

static struct drv_shape shape(double vcpu, int online)
{
    struct drv_shape s = {.vcpus_online = online, .vcpus_max = 8, .mem_max_mib = 4096,
                          .numa_node = -1};
    s.res.v[DRV_RES_VCPU] = vcpu;
    s.res.v[DRV_RES_MEM_MIB] = 1024;
    return s;
}

static const struct db_reconcile_opts opts = {.domain_prefix = "instance-"};

/* The single fix of a plan, checked for kind and subject. */
static const struct db_fix *only_fix(const struct db_fix_list *l, enum db_fix_kind kind,
                                     const char *uuid)
{
    if (l->n != 1)
        fail_msg("expected one fix, got %zu (first: %s)", l->n,
                 l->n ? db_fix_kind_name(l->v[0].kind) : "none");
    assert_string_equal(db_fix_kind_name(l->v[0].kind), db_fix_kind_name(kind));
    assert_string_equal(l->v[0].uuid, uuid);
    return &l->v[0];
}

static void test_plan_clean(void **state)
{
    (void)state;
    struct view_builder b;
    vb_init(&b);
    vb_row(&b, U1, "instance-1", DRV_POWER_RUNNING);
    vb_member(&b, M1, "presculpt-1");
    struct db_guest g[] = {guest(U1, "instance-1", DRV_POWER_RUNNING),
                           guest(M1, "presculpt-1", DRV_POWER_PAUSED)};
    autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, 2, NULL, 0, &opts);
    assert_int_equal(l->n, 0);
    vb_release(&b);
}

static void test_plan_unknown_guests(void **state)
{
    (void)state;
    struct view_builder b;
    vb_init(&b);
    struct db_guest g[] = {guest(U1, "instance-1", DRV_POWER_RUNNING),
                           guest(G9, "someone-elses-vm", DRV_POWER_RUNNING)};
    g[0].has_shape = true;
    g[0].shape = shape(1.5, 2);
    autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, 2, NULL, 0, &opts);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->v[0].kind, DB_FIX_ADOPT);
    assert_string_equal(l->v[0].uuid, U1);
    assert_string_equal(l->v[0].domain, "instance-1");
    assert_true(l->v[0].shape.res.v[DRV_RES_VCPU] == 1.5);
    assert_false(l->v[0].destroy_domain);
    assert_int_equal(l->v[1].kind, DB_FIX_REPORT);
    assert_string_equal(l->v[1].uuid, G9);
    assert_false(l->v[1].destroy_domain);
    vb_release(&b);
}

static void test_plan_vanished_and_power(void **state)
{
    (void)state;
    struct view_builder b;
    vb_init(&b);
    vb_row(&b, U1, "instance-1", DRV_POWER_RUNNING);
    vb_row(&b, U2, "instance-2", DRV_POWER_RUNNING);
    struct drv_instance *marked = vb_row(&b, U3, "instance-3", DRV_POWER_NOSTATE);
    free(marked->vm_state);
    marked->vm_state = xstrdup("error"); /* marked at an earlier start: not again */
    struct db_guest g[] = {guest(U2, "instance-2", DRV_POWER_SHUTDOWN)};
    autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, 1, NULL, 0, &opts);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->v[0].kind, DB_FIX_MARK_VANISHED);
    assert_string_equal(l->v[0].uuid, U1);
    assert_int_equal(l->v[1].kind, DB_FIX_SYNC_POWER);
    assert_string_equal(l->v[1].uuid, U2);
    assert_int_equal(l->v[1].power, DRV_POWER_SHUTDOWN);
    vb_release(&b);
}

/* A move's leg is the compute manager's: the plan leaves its intent open
 * and the row to the other rules (here: in step with its guest). */
static void test_plan_migrate(void **state)
{
    (void)state;
    struct view_builder b;
    vb_init(&b);
    vb_row(&b, U1, "instance-1", DRV_POWER_SHUTDOWN);
    vb_intent(&b, DB_OP_MIGRATE, U1, "instance-1");
    struct db_guest g[] = {guest(U1, "instance-1", DRV_POWER_SHUTDOWN)};
    autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, 1, NULL, 0, &opts);
    assert_int_equal(l->n, 0);
    /* without its guest the row vanishes as any would; the intent stays */
    autoptr(db_fix_list) l2 = db_reconcile_plan(&b.view, g, 0, NULL, 0, &opts);
    only_fix(l2, DB_FIX_MARK_VANISHED, U1);
    assert_string_equal(db_op_name(DB_OP_MIGRATE), "migrate");
    vb_release(&b);
}

static void test_plan_spawn(void **state)
{
    (void)state;
    enum drv_power_state powers[] = {DRV_POWER_RUNNING, DRV_POWER_SHUTDOWN, DRV_POWER_NOSTATE};
    for (size_t i = 0; i < ARRAY_SIZE(powers); i++) {
        struct view_builder b;
        vb_init(&b);
        vb_row(&b, U1, "instance-1", DRV_POWER_NOSTATE);
        struct db_intent *in = vb_intent(&b, DB_OP_SPAWN, U1, "instance-1");
        in->has_to = true;
        in->to = shape(0.5, 1);
        struct db_guest g[] = {guest(U1, "instance-1", powers[i])};
        size_t ng = powers[i] == DRV_POWER_NOSTATE ? 0 : 1;
        autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, ng, NULL, 0, &opts);
        const struct db_fix *f;
        if (powers[i] == DRV_POWER_RUNNING) {
            f = only_fix(l, DB_FIX_COMPLETE, U1);
            assert_false(f->destroy_domain);
            assert_false(f->row_missing);
            assert_int_equal(f->power, DRV_POWER_RUNNING);
        } else {
            f = only_fix(l, DB_FIX_ROLL_BACK, U1);
            assert_int_equal(f->destroy_domain, ng == 1); /* a half-built guest goes */
        }
        assert_int_equal(f->op, DB_OP_SPAWN);
        assert_int_equal(f->intent_id, 100);
        vb_release(&b);
    }

    /* The intent was durable but the row's write was lost in the crash. */
    struct view_builder b;
    vb_init(&b);
    vb_intent(&b, DB_OP_SPAWN, U1, "instance-1");
    struct db_guest g[] = {guest(U1, "instance-1", DRV_POWER_PAUSED)};
    autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, 1, NULL, 0, &opts);
    assert_true(only_fix(l, DB_FIX_COMPLETE, U1)->row_missing);
    vb_release(&b);
}

static void test_plan_reshape(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++) { /* 0: took `to`, 1: half-way, 2: no guest */
        struct view_builder b;
        vb_init(&b);
        vb_row(&b, U1, "instance-1", DRV_POWER_RUNNING);
        struct db_intent *in = vb_intent(&b, DB_OP_RESHAPE, U1, "instance-1");
        in->has_from = in->has_to = true;
        in->from = shape(1.0, 1);
        in->to = shape(2.5, 3);
        struct db_guest g[] = {guest(U1, "instance-1", DRV_POWER_RUNNING)};
        g[0].has_shape = true;
        g[0].shape = c == 0 ? shape(2.5, 3) : shape(2.5, 1); /* vCPUs not yet plugged */
        autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, c == 2 ? 0 : 1, NULL, 0, &opts);
        if (c == 0) {
            const struct db_fix *f = only_fix(l, DB_FIX_COMPLETE, U1);
            assert_false(f->apply_shape);
            assert_true(f->shape.res.v[DRV_RES_VCPU] == 2.5);
            assert_true(f->from.res.v[DRV_RES_VCPU] == 1.0);
        } else if (c == 1) {
            const struct db_fix *f = only_fix(l, DB_FIX_ROLL_BACK, U1);
            assert_true(f->apply_shape);
            assert_true(f->shape.res.v[DRV_RES_VCPU] == 1.0);
            assert_string_equal(f->domain, "instance-1");
        } else {
            assert_int_equal(l->n, 2);
            assert_int_equal(l->v[0].kind, DB_FIX_ROLL_BACK);
            assert_false(l->v[0].apply_shape);
            assert_int_equal(l->v[1].kind, DB_FIX_MARK_VANISHED);
        }
        vb_release(&b);
    }
}

static void test_plan_destroy(void **state)
{
    (void)state;
    for (int present = 0; present < 2; present++) {
        struct view_builder b;
        vb_init(&b);
        vb_row(&b, U1, "instance-1", DRV_POWER_RUNNING);
        vb_intent(&b, DB_OP_DESTROY, U1, "instance-1");
        struct db_guest g[] = {guest(U1, "instance-1", DRV_POWER_SHUTDOWN)};
        autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, (size_t)present, NULL, 0, &opts);
        const struct db_fix *f = only_fix(l, DB_FIX_COMPLETE, U1);
        assert_int_equal(f->op, DB_OP_DESTROY);
        assert_int_equal(f->destroy_domain, present);
        vb_release(&b);
    }
}

static void test_plan_handover(void **state)
{
    (void)state;
    for (int renamed = 0; renamed < 2; renamed++) {
        struct view_builder b;
        vb_init(&b);
        vb_member(&b, M1, "presculpt-1");
        struct db_intent *in = vb_intent(&b, DB_OP_HANDOVER, U1, "instance-1");
        snprintf(in->member_uuid, sizeof(in->member_uuid), "%s", M1);
        /* The domain keeps the member's uuid under its new name. */
        struct db_guest g[] = {guest(M1, renamed ? "instance-1" : "presculpt-1",
                                     DRV_POWER_PAUSED)};
        autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, 1, NULL, 0, &opts);
        const struct db_fix *f;
        if (renamed) {
            /* the member's row still says presculpt-1: no MEMBER_GONE mid-hand-over */
            f = only_fix(l, DB_FIX_COMPLETE, U1);
            assert_true(f->row_missing);
            assert_false(f->destroy_domain);
        } else {
            f = only_fix(l, DB_FIX_ROLL_BACK, U1);
            assert_true(f->destroy_domain);
            assert_string_equal(f->domain, "presculpt-1");
        }
        assert_string_equal(f->member_uuid, M1);
        vb_release(&b);
    }
}

static void test_plan_members(void **state)
{
    (void)state;
    struct view_builder b;
    vb_init(&b);
    vb_member(&b, M1, "presculpt-1");
    autoptr(db_fix_list) l = db_reconcile_plan(&b.view, NULL, 0, NULL, 0, &opts);
    only_fix(l, DB_FIX_MEMBER_GONE, M1);
    vb_release(&b);
}

static void test_plan_nova(void **state)
{
    (void)state;
    struct view_builder b;
    vb_init(&b);
    vb_row(&b, U1, "instance-1", DRV_POWER_RUNNING); /* Nova deleted it */
    vb_row(&b, U2, "instance-2", DRV_POWER_RUNNING); /* fine */
    vb_row(&b, S5, "instance-5", DRV_POWER_SHUTDOWN); /* soft-deleted: kept, off */
    struct db_guest g[] = {guest(U1, "instance-1", DRV_POWER_RUNNING),
                           guest(U2, "instance-2", DRV_POWER_RUNNING),
                           guest(U3, "instance-3", DRV_POWER_RUNNING),  /* row lost */
                           guest(G9, "instance-9", DRV_POWER_RUNNING),  /* Nova: deleted */
                           guest(S5, "instance-5", DRV_POWER_SHUTDOWN)};
    struct db_nova_instance nova[] = {
        {U2, "active", NULL}, {U3, "active", NULL}, {M1, "building", "spawning"},
        {G9, "deleted", NULL}, {S5, "soft-delete", NULL}};
    for (int reap = 0; reap < 2; reap++) {
        struct db_reconcile_opts o = {.domain_prefix = "instance-", .reap_nova_deleted = reap};
        autoptr(db_fix_list) l = db_reconcile_plan(&b.view, g, 5, nova, 5, &o);
        assert_int_equal(l->n, 4);
        assert_int_equal(l->v[0].kind, DB_FIX_NOVA_DELETED);
        assert_string_equal(l->v[0].uuid, U1);
        assert_int_equal(l->v[0].destroy_domain, reap);
        assert_int_equal(l->v[1].kind, DB_FIX_ADOPT);
        assert_string_equal(l->v[1].uuid, U3);
        assert_string_equal(l->v[1].vm_state, "active");
        assert_int_equal(l->v[2].kind, DB_FIX_NOVA_DELETED);
        assert_string_equal(l->v[2].uuid, G9);
        assert_int_equal(l->v[2].destroy_domain, reap);
        assert_int_equal(l->v[3].kind, DB_FIX_NOVA_MISSING);
        assert_string_equal(l->v[3].uuid, M1);
    }
    vb_release(&b);
}

/* ---- which custom blueprint a request gets ---- */

static struct db_custom_blueprint *a_custom(int64_t id, const char *flavor, const char *image,
                                            const char *project)
{
    struct db_custom_blueprint *cb = xzalloc(sizeof(*cb));
    cb->id = id;
    cb->flavor_name = flavor ? xstrdup(flavor) : NULL;
    cb->image_ref = image ? xstrdup(image) : NULL;
    cb->project_id = project ? xstrdup(project) : NULL;
    return cb;
}

static void test_custom_blueprint_match(void **state)
{
    (void)state;
    struct db_custom_blueprint_list *lp = xzalloc(sizeof(*lp));
    struct db_custom_blueprint_list l = {.n = 5};
    l.v = xcalloc(l.n, sizeof(*l.v));
    l.v[0] = a_custom(7, "m1.small", NULL, NULL);         /* the flavor */
    l.v[1] = a_custom(3, "m1.small", NULL, "demo");       /* flavor and project */
    l.v[2] = a_custom(5, NULL, "cirros", "demo");         /* image and project */
    l.v[3] = a_custom(9, "m1.large", "cirros", "demo");   /* another flavor */
    l.v[4] = a_custom(2, NULL, NULL, NULL);               /* anything */
    struct drv_instance inst = {.image_ref = (char *)"cirros", .project_id = (char *)"demo"};
    inst.flavor.name = (char *)"m1.small";
    /* two members match for ids 3 and 5: the lower id wins the tie */
    assert_int_equal(db_custom_blueprint_match(&l, &inst), 1);
    inst.project_id = (char *)"other";
    assert_int_equal(db_custom_blueprint_match(&l, &inst), 0);
    inst.flavor.name = (char *)"m1.tiny";
    assert_int_equal(db_custom_blueprint_match(&l, &inst), 4);
    inst.flavor.name = NULL; /* a request without a flavor name matches no flavor */
    inst.project_id = (char *)"demo";
    assert_int_equal(db_custom_blueprint_match(&l, &inst), 2);
    l.n = 4;
    inst.image_ref = NULL;
    assert_int_equal(db_custom_blueprint_match(&l, &inst), -1);
    assert_int_equal(db_custom_blueprint_match(NULL, &inst), -1);
    l.n = 5;
    *lp = l;
    db_custom_blueprint_list_free(lp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_texts_round_trip),
        cmocka_unit_test(test_copy_escaping),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_migrations_embedded),
        cmocka_unit_test(test_plan_clean),
        cmocka_unit_test(test_plan_unknown_guests),
        cmocka_unit_test(test_plan_vanished_and_power),
        cmocka_unit_test(test_plan_migrate), cmocka_unit_test(test_plan_spawn),
        cmocka_unit_test(test_plan_reshape),
        cmocka_unit_test(test_plan_destroy),
        cmocka_unit_test(test_plan_handover),
        cmocka_unit_test(test_plan_members),
        cmocka_unit_test(test_plan_nova),
        cmocka_unit_test(test_custom_blueprint_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
