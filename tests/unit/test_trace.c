/* Trace readers on real excerpts (tests/data/traces, see PROVENANCE.md);
 * expected figures were computed from the files independently (python). */
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

#include "common/err.h"
#include "driver/trace.h"
#include "driver/trace_priv.h"
#include "helpers/tmpdir.h"

#define DATA "tests/data/traces/"

static struct drv_trace *load1(enum drv_trace_format f, const char *path)
{
    struct err *err = NULL;
    struct drv_trace *tr = drv_trace_load(f, &path, 1, NULL, NULL, &err);
    if (!tr)
        fail_msg("load %s: %s", path, err->msg);
    return tr;
}

static const struct drv_trace_vm *find_vm(const struct drv_trace *tr, const char *id)
{
    for (size_t i = 0; i < tr->nvms; i++)
        if (strcmp(tr->vms[i].id, id) == 0)
            return &tr->vms[i];
    fail_msg("no VM %s", id);
    return NULL;
}

static void test_parse_number(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        double v;
    } ok[] = {
        {"0", 0}, {"12", 12}, {"-3.5", -3.5}, {"5851.9989", 5851.9989},
        {"0.26666666666666666", 0.26666666666666666}, {"1.2e-05", 1.2e-5},
        {"8218624.0", 8218624.0}, {"+7", 7}, {"1372629804", 1372629804.0}, {".5", 0.5},
        {"1E3", 1000},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        double v;
        assert_true(drv_parse_number(ok[i].s, &v));
        if (fabs(v - ok[i].v) > 1e-12 * fmax(1, fabs(ok[i].v)))
            fail_msg("%s parsed as %.17g", ok[i].s, v);
    }
    double v;
    assert_true(drv_parse_number("", &v));
    assert_true(isnan(v));
    static const char *const bad[] = {"abc", "1.2.3", "1e", "-", "12x", " 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(drv_parse_number(bad[i], &v));
}

static void test_split(void **state)
{
    (void)state;
    char line[] = "1372629804;\t2;\t5851.9989; \t87.77";
    char *f[8];
    assert_int_equal(drv_split_fields(line, ';', f, 8), 4);
    assert_string_equal(f[0], "1372629804");
    assert_string_equal(f[1], "2");
    assert_string_equal(f[3], "87.77");
    char line2[] = "a,,c";
    assert_int_equal(drv_split_fields(line2, ',', f, 8), 3);
    assert_string_equal(f[1], "");
    char line3[] = "a,b,c,d";
    assert_int_equal(drv_split_fields(line3, ',', f, 2), 4);
}

static void test_bitbrains(void **state)
{
    (void)state;
    struct drv_trace *tr = load1(DRV_TRACE_BITBRAINS, DATA "bitbrains");
    assert_int_equal(tr->files, 10);
    assert_int_equal(tr->step_s, 300);
    assert_true(tr->has[DRV_TR_CPU] && tr->has[DRV_TR_MEMORY] && tr->has[DRV_TR_NET] &&
                tr->has[DRV_TR_DISK]);
    /* numeric order, not lexical */
    assert_string_equal(tr->vms[0].id, "1");
    assert_string_equal(tr->vms[1].id, "2");
    assert_string_equal(tr->vms[2].id, "7");

    const struct drv_trace_vm *vm = find_vm(tr, "14");
    assert_int_equal(vm->n, 420); /* 428 rows, 8 with zero cores */
    assert_int_equal(vm->t[0], 1375095746);
    assert_true(fabs(vm->use[DRV_TR_CPU][0] - 0.175) < 1e-6);
    assert_true(fabs(vm->use[DRV_TR_MEMORY][0] - 1633.27734375) < 1e-3);
    assert_true(vm->cap[DRV_TR_CPU][0] == 1.0f);
    /* no provisioned bandwidth in Bitbrains: the peak stands for it */
    assert_true(fabs(vm->cap[DRV_TR_NET][0] - 5.961045333) < 1e-5);
    assert_int_equal(vm->t[vm->n - 1], 1375221457);
    for (size_t i = 1; i < vm->n; i++)
        assert_true(vm->t[i] > vm->t[i - 1]);

    vm = find_vm(tr, "20"); /* 16,553 rows, 12,077 with zero cores */
    assert_int_equal(vm->n, 4476);
    assert_true(fabs(vm->use[DRV_TR_CPU][0] - 0.0066666667) < 1e-7);
    vm = find_vm(tr, "165");
    assert_int_equal(vm->n, 119);
    assert_true(vm->use[DRV_TR_CPU][0] == 0.0f);
    assert_true(vm->cpu_avg == NULL);
    drv_trace_free(tr);
}

static void test_azure(void **state)
{
    (void)state;
    struct drv_trace *tr = load1(DRV_TRACE_AZURE_CPU, DATA "azure-cpu/vm_1126.csv.gz");
    assert_int_equal(tr->nvms, 1);
    assert_false(tr->has[DRV_TR_MEMORY]);
    const struct drv_trace_vm *vm = &tr->vms[0];
    assert_string_equal(vm->id, "1126");
    assert_int_equal(vm->n, 8004);
    assert_int_equal(vm->t[1] - vm->t[0], 300);
    assert_true(fabs(vm->use[DRV_TR_CPU][0] - 0.11924391) < 1e-7);
    assert_true(fabs(vm->cpu_avg[0] - 0.06532283) < 1e-7);
    assert_true(fabs(vm->use[DRV_TR_CPU][8003] - 0.1104327) < 1e-7);
    assert_true(vm->cap[DRV_TR_CPU][0] == 1.0f);
    assert_null(vm->use[DRV_TR_MEMORY]);
    drv_trace_free(tr);
}

static void test_alibaba(void **state)
{
    (void)state;
    struct drv_trace *tr = load1(DRV_TRACE_ALIBABA_MACHINES, DATA "alibaba-machines");
    assert_int_equal(tr->files, 3); /* meta files are not usage files */
    const struct drv_trace_vm *vm = find_vm(tr, "m_1932");
    assert_int_equal(vm->n, 3325);
    assert_int_equal(vm->t[0], 386640);
    assert_int_equal(vm->t[vm->n - 1], 691110);
    /* 41% of 96 cores, 92% of 100 normalized units read as GiB */
    assert_true(fabs(vm->use[DRV_TR_CPU][0] - 0.41 * 96) < 1e-4);
    assert_true(vm->cap[DRV_TR_CPU][0] == 96.0f);
    assert_true(fabs(vm->use[DRV_TR_MEMORY][0] - 0.92 * 100 * 1024) < 1e-2);
    assert_true(fabs(vm->use[DRV_TR_NET][0] - (43.04 + 33.08)) < 1e-4);
    assert_true(vm->use[DRV_TR_DISK][0] == 5.0f);
    drv_trace_free(tr);
}

static char *tmpdir; /* the group's scratch folder (helpers/tmpdir) */

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int make_tmpdir(void **state)
{
    (void)state;
    tmpdir = test_tmpdir("test-trace");
    return 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    int rc = test_rmtree(tmpdir);
    free(tmpdir);
    tmpdir = NULL;
    return rc;
}

static void test_duplicates_gaps_and_errors(void **state)
{
    (void)state;
    write_file("vm_9.csv",
               "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\t"
               "CPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\t"
               "Disk read throughput [KB/s];\tDisk write throughput [KB/s];\t"
               "Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]\n"
               "1000;\t2;\t4000;\t1000;\t25;\t2097152;\t1048576;\t0;\t0;\t0;\t0\n"
               "400;\t2;\t4000;\t500;\t12.5;\t2097152;\t524288;\t0;\t0;\t10;\t0\n"
               "1000;\t2;\t4000;\t3000;\t75;\t2097152;\t262144;\t0;\t0;\t0;\t0\n"
               "99000;\t0;\t0;\t0;\t0;\t0;\t0;\t0;\t0;\t0;\t0\n"
               "700;\t2;\t4000;\t0;\t0;\t2097152;\t1;\t0;\t0;\t0;\t0\n");
    char path[256];
    snprintf(path, sizeof(path), "%s/vm_9.csv", tmpdir);
    struct drv_trace *tr = load1(DRV_TRACE_BITBRAINS, path);
    const struct drv_trace_vm *vm = &tr->vms[0];
    assert_int_equal(vm->n, 3);     /* 400, 700, 1000 (two rows merged) */
    assert_int_equal(tr->rows_merged, 1);
    assert_int_equal(tr->rows_dropped, 1);
    assert_int_equal(vm->t[0], 400);
    assert_int_equal(vm->t[2], 1000);
    /* merged row: the larger reading of each field */
    assert_true(fabs(vm->use[DRV_TR_CPU][2] - 1.5) < 1e-6);
    assert_true(fabs(vm->use[DRV_TR_MEMORY][2] - 1024) < 1e-6);
    drv_trace_free(tr);

    /* malformed input names the file and line */
    write_file("vm_10.csv", "Timestamp\n1;\t2;\t3\n");
    snprintf(path, sizeof(path), "%s/vm_10.csv", tmpdir);
    struct err *err = NULL;
    const char *p = path;
    assert_null(drv_trace_load(DRV_TRACE_BITBRAINS, &p, 1, NULL, NULL, &err));
    assert_non_null(strstr(err->msg, "vm_10.csv:2: expected 11 fields, found 3"));
    err_clear(&err);

    write_file("vm_11.csv", "step,max_cpu,avg_cpu\n0,abc,1\n");
    snprintf(path, sizeof(path), "%s/vm_11.csv", tmpdir);
    assert_null(drv_trace_load(DRV_TRACE_AZURE_CPU, &p, 1, NULL, NULL, &err));
    assert_non_null(strstr(err->msg, "vm_11.csv:2: malformed row"));
    err_clear(&err);

    /* alibaba without its meta file */
    write_file("machine_usage_m_1.csv", "m_1,10,5,5,,,1,1,1\n");
    snprintf(path, sizeof(path), "%s/machine_usage_m_1.csv", tmpdir);
    assert_null(drv_trace_load(DRV_TRACE_ALIBABA_MACHINES, &p, 1, NULL, NULL, &err));
    assert_non_null(strstr(err->msg, "machine_meta_m_1.csv"));
    err_clear(&err);
    /* with it, and an abnormal disk reading filled from the previous one */
    write_file("machine_meta_m_1.csv", "m_1,0,1,1,8,100,USING\n");
    write_file("machine_usage_m_1.csv", "m_1,10,50,5,,,1,1,7\nm_1,70,50,5,,,1,1,101\n");
    tr = load1(DRV_TRACE_ALIBABA_MACHINES, path);
    assert_true(tr->vms[0].use[DRV_TR_CPU][0] == 4.0f);
    assert_true(tr->vms[0].use[DRV_TR_DISK][1] == 7.0f);
    drv_trace_free(tr);

    /* nonexistent and empty */
    p = "/nonexistent/trace";
    assert_null(drv_trace_load(DRV_TRACE_BITBRAINS, &p, 1, NULL, NULL, &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    char empty[128];
    snprintf(empty, sizeof(empty), "%s/empty", tmpdir);
    mkdir(empty, 0700);
    p = empty;
    assert_null(drv_trace_load(DRV_TRACE_BITBRAINS, &p, 1, NULL, NULL, &err));
    assert_non_null(strstr(err->msg, "no *.csv"));
    err_clear(&err);
}

static void test_names(void **state)
{
    (void)state;
    for (int f = 0; f < DRV_TRACE_FORMAT_LAST; f++)
        assert_int_equal(drv_trace_format_parse(drv_trace_format_name((enum drv_trace_format)f)), f);
    assert_int_equal(drv_trace_format_parse("google"), -1);
    assert_string_equal(drv_trace_res_name(DRV_TR_DISK), "disk");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_number),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_bitbrains),
        cmocka_unit_test(test_azure),
        cmocka_unit_test(test_alibaba),
        cmocka_unit_test(test_duplicates_gaps_and_errors),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
