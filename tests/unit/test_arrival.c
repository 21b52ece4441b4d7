/* Arrival-trace readers on real excerpts (tests/data/arrivals, see
 * PROVENANCE.md); expected figures were computed from the files
 * independently (python), and malformed inputs are refused with the file
 * and line named. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/arrival.h"
#include "driver/arrival_priv.h"
#include "helpers/tmpdir.h"

#define DATA "tests/data/arrivals/"

static struct drv_arrival_trace *load(enum drv_arrival_format f, const char *dir)
{
    struct err *err = NULL;
    struct drv_arrival_trace *tr = drv_arrival_load(f, dir, &err);
    if (!tr)
        fail_msg("load %s: %s", dir, err->msg);
    return tr;
}

static uint64_t class_guests(const struct drv_arrival_trace *tr, const char *key)
{
    uint64_t n = 0;
    for (size_t i = 0; i < tr->narr; i++)
        if (strcmp(tr->classes[tr->arr[i].cls].key, key) == 0)
            n += tr->arr[i].count;
    return n;
}

static int find_class(const struct drv_arrival_trace *tr, const char *key)
{
    for (size_t i = 0; i < tr->nclasses; i++)
        if (strcmp(tr->classes[i].key, key) == 0)
            return (int)i;
    fail_msg("no class %s", key);
    return -1;
}

/* vCPU-hours used by guests of known lifetime, cut at the end of observation */
static double used_vcpu_h(const struct drv_arrival_trace *tr)
{
    double u = 0;
    for (size_t i = 0; i < tr->narr; i++) {
        const struct drv_arrival *a = &tr->arr[i];
        if (isnan(a->lifetime_s))
            continue;
        double life = fmin(a->lifetime_s, (double)(tr->t_end - a->t));
        u += a->count * tr->classes[a->cls].size.v[DRV_RES_VCPU] * life;
    }
    return u / 3600;
}

static void assert_sorted(const struct drv_arrival_trace *tr)
{
    for (size_t i = 1; i < tr->narr; i++)
        assert_true(tr->arr[i - 1].t <= tr->arr[i].t);
}

static void test_azure(void **state)
{
    (void)state;
    struct drv_arrival_trace *tr = load(DRV_ARRIVAL_AZURE, DATA "azure-arrivals");
    assert_int_equal(tr->format, DRV_ARRIVAL_AZURE);
    assert_int_equal(tr->bin_s, 300);
    assert_int_equal(tr->files, 3);
    assert_int_equal(tr->rows, 576);
    assert_int_equal(tr->nclasses, 16); /* every flavor of the map */
    assert_int_equal(tr->ngroups, 5);   /* 1, 2, 4, 8, 16 vCPUs */
    assert_int_equal(tr->guests, 149492);
    assert_int_equal(class_guests(tr, "b"), 96535);
    assert_int_equal(class_guests(tr, "g"), 29262);
    assert_int_equal(class_guests(tr, "m"), 8999);
    assert_int_equal(class_guests(tr, "c"), 3);
    /* the train split has no lifetimes: scoring starts with dev */
    assert_int_equal(tr->score_from, 1800000);
    assert_int_equal(tr->t_end, 2100000);
    assert_int_equal(tr->arr[0].t, 1713600);
    assert_true(isnan(tr->arr[0].lifetime_s));
    assert_true(fabs(used_vcpu_h(tr) - 604763.5) < 0.5);
    const struct drv_arrival_class *m = &tr->classes[find_class(tr, "m")];
    assert_true(m->size.v[DRV_RES_VCPU] == 8 && m->size.v[DRV_RES_MEM_MIB] == 14 * 1024);
    assert_string_equal(tr->groups[m->group].key, "vcpu=8");
    assert_int_equal(tr->classes[find_class(tr, "b")].group,
                     tr->classes[find_class(tr, "a")].group);
    assert_sorted(tr);
    drv_arrival_trace_free(tr);
}

static void test_azure_lifetime_tokens(void **state)
{
    (void)state;
    double rep[40];
    for (int k = 0; k < 40; k++)
        rep[k] = k * 300.0;
    rep[0] = 150;
    rep[13] = 5550;
    float life;
    assert_true(drv_arrival_azure_lifetime("U13", rep, 40, 0, 1000, &life));
    assert_true(life == 5550);
    assert_true(drv_arrival_azure_lifetime("U0", rep, 40, 0, 1000, &life));
    assert_true(life == 150);
    /* still running at T: lives until T */
    assert_true(drv_arrival_azure_lifetime("C38", rep, 40, 400, 1000, &life));
    assert_true(life == 600);
    assert_false(drv_arrival_azure_lifetime("U40", rep, 40, 0, 1000, &life));
    assert_false(drv_arrival_azure_lifetime("X1", rep, 40, 0, 1000, &life));
    assert_false(drv_arrival_azure_lifetime("U", rep, 40, 0, 1000, &life));
    assert_false(drv_arrival_azure_lifetime("U1.5", rep, 40, 0, 1000, &life));
}

static void test_functions(void **state)
{
    (void)state;
    struct drv_arrival_trace *tr = load(DRV_ARRIVAL_FUNCTIONS, DATA "azure-functions");
    assert_int_equal(tr->bin_s, 60);
    assert_int_equal(tr->files, 3);
    assert_int_equal(tr->nclasses, 31);
    assert_int_equal(tr->ngroups, 31); /* a function is its own group */
    assert_int_equal(tr->guests, 343150);
    assert_int_equal(tr->narr, 8752);  /* (function, minute) with invocations */
    assert_int_equal(tr->t_end, 86400);
    assert_int_equal(tr->score_from, 0);
    const char *k = "09cef6606729e6524c2b30b816a4851299ee02815bc118a86ae553c3924e8936";
    const struct drv_arrival_class *c = &tr->classes[find_class(tr, k)];
    assert_int_equal(class_guests(tr, k), 1118);
    assert_true(c->size.v[DRV_RES_VCPU] == 1 && c->size.v[DRV_RES_MEM_MIB] == 2247);
    for (size_t i = 0; i < tr->narr; i++)
        if (tr->arr[i].cls == (uint32_t)find_class(tr, k))
            assert_true(fabsf(tr->arr[i].lifetime_s - 13.48f) < 1e-4);
    assert_true(fabs(used_vcpu_h(tr) - 57658.716) < 0.01);
    assert_sorted(tr);
    drv_arrival_trace_free(tr);
}

static void test_alibaba(void **state)
{
    (void)state;
    struct drv_arrival_trace *tr = load(DRV_ARRIVAL_ALIBABA, DATA "alibaba-batch");
    assert_int_equal(tr->bin_s, 1);
    assert_int_equal(tr->rows, 3000);
    assert_int_equal(tr->rows_dropped, 100); /* no plan_cpu / plan_mem */
    assert_int_equal(tr->guests, 450391);
    assert_int_equal(tr->nclasses, 377);
    assert_int_equal(tr->ngroups, 8);
    assert_int_equal(tr->t_end, 51443);
    assert_int_equal(tr->arr[0].t, 276); /* the file is not in time order */
    assert_true(fabs(used_vcpu_h(tr) - 153036.959) < 0.01);
    const struct drv_arrival_class *c = &tr->classes[find_class(tr, "cpu=50,mem=0.007956928")];
    assert_true(c->size.v[DRV_RES_VCPU] == 0.5);
    assert_string_equal(tr->groups[c->group].key, "cpu=50");
    assert_sorted(tr);
    drv_arrival_trace_free(tr);
}

/* A scratch dataset folder. */
static char *scratch(void)
{
    return test_tmpdir("arrival");
}

static void put(const char *dir, const char *name, const char *text)
{
    autofree char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void rmtree(const char *dir)
{
    assert_int_equal(test_rmtree(dir), 0);
}

static void expect_error(enum drv_arrival_format f, const char *dir, const char *text)
{
    struct err *err = NULL;
    struct drv_arrival_trace *tr = drv_arrival_load(f, dir, &err);
    assert_null(tr);
    assert_non_null(err);
    if (!strstr(err->msg, text))
        fail_msg("error `%s` lacks `%s`", err->msg, text);
    err_free(err);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(DRV_ARRIVAL_AZURE, "/nonexistent/x", "/nonexistent/x");
    expect_error(DRV_ARRIVAL_AZURE, DATA "azure-arrivals/maps/flav_map.txt", "not a folder");

    autofree char *d = scratch();
    expect_error(DRV_ARRIVAL_AZURE, d, "maps/flav_map.txt");
    autofree char *maps = xasprintf("%s/maps", d);
    assert_int_equal(mkdir(maps, 0755), 0);
    put(d, "maps/flav_map.txt", "1,0.75 a\n2,3.5 g\n");
    expect_error(DRV_ARRIVAL_AZURE, d, "no `v1.<split>.txt.gz`");
    put(d, "v1.x.txt", "300 a,|,g,g,|\n600 a,z,|\n");
    expect_error(DRV_ARRIVAL_AZURE, d, "v1.x.txt:2: unknown flavor `z`");
    put(d, "v1.x.txt", "300 a,|,g,g,|\n600 a,|\n");
    put(d, "v1.x.c900.txt", "300 U1,|,U1,C2,|\n600 U0,U1,|\n");
    expect_error(DRV_ARRIVAL_AZURE, d, "maps/v1.interval_map.txt");
    put(d, "maps/v1.interval_map.txt", "0 0\n300 1\n600 2\n");
    expect_error(DRV_ARRIVAL_AZURE, d, "batches do not line up");
    put(d, "v1.x.c900.txt", "300 U1,|,U1,C2,|\n600 U0,|\n");
    struct err *err = NULL;
    struct drv_arrival_trace *tr = drv_arrival_load(DRV_ARRIVAL_AZURE, d, &err);
    assert_non_null(tr);
    assert_int_equal(tr->guests, 4);
    assert_int_equal(tr->t_end, 900);
    /* a, then g with lifetimes 300 and 600 (C: runs to T), then a: 150 */
    assert_int_equal(tr->narr, 4);
    assert_true(tr->arr[1].lifetime_s == 300 && tr->arr[2].lifetime_s == 600);
    assert_true(tr->arr[3].lifetime_s == 150);
    drv_arrival_trace_free(tr);
    rmtree(d);

    autofree char *fd = scratch();
    expect_error(DRV_ARRIVAL_FUNCTIONS, fd, "no `<n>_inv.csv.gz`");
    put(fd, "2_inv.csv", "HashFunction,HashApp,HashOwner,minute_1,minute_2\nf,a,o,1,2\n");
    expect_error(DRV_ARRIVAL_FUNCTIONS, fd, "2_run.csv");
    put(fd, "2_run.csv", "HashFunction,HashApp,HashOwner,Count,Average\nf,a,o,3,1500\n");
    put(fd, "2_mem.csv", "HashApp,HashOwner,SampleCount,AverageAllocatedMb\na,o,9,128\n");
    tr = drv_arrival_load(DRV_ARRIVAL_FUNCTIONS, fd, &err);
    assert_non_null(tr);
    assert_int_equal(tr->guests, 3);
    assert_true(tr->arr[1].t == 60 && tr->arr[1].lifetime_s == 1.5f);
    drv_arrival_trace_free(tr);
    put(fd, "2_inv.csv", "HashFunction,HashApp,HashOwner,minute_1,minute_2\nf,a,o,1,x\n");
    expect_error(DRV_ARRIVAL_FUNCTIONS, fd, "2_inv.csv:2: minute_2 is not a count");
    rmtree(fd);

    autofree char *ad = scratch();
    expect_error(DRV_ARRIVAL_ALIBABA, ad, "batch_task.csv.gz");
    put(ad, "batch_task.csv", "task_create_time, task_end_time, job_id\n1,2,3\n");
    expect_error(DRV_ARRIVAL_ALIBABA, ad, "header lacks `number_of_instances`");
    put(ad, "batch_task.csv",
        "task_create_time, task_end_time, job_id, task_id,number_of_instances, status, "
        "number_of_cpus_requested_per_instance_in_the_task,"
        "normalized_memory_requested_per_instance_in_the_task\n"
        "10,20,1,1,2,Terminated,50,0.01\n5,x,1,2,1,Running,100,0.02\n");
    expect_error(DRV_ARRIVAL_ALIBABA, ad, "batch_task.csv:3: malformed row");
    rmtree(ad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_azure),
        cmocka_unit_test(test_azure_lifetime_tokens),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_alibaba),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
