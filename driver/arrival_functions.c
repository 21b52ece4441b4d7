/* Azure Functions Trace 2019 (Shahrad et al., ATC 2020), as the vHive
 * invitro sampler kept it; SOURCE.md in the dataset folder has the
 * provenance.  A folder holds sets `<n>_inv.csv.gz` (HashFunction,
 * HashApp, HashOwner, minute_1 .. minute_1440: invocations per minute),
 * `<n>_run.csv.gz` (per function: Count, Average ms, ...) and
 * `<n>_mem.csv.gz` (per app: SampleCount, AverageAllocatedMb, ...).
 *
 * Each function is a class and its own group and family (its code is its image: a
 * guest prepared for one function cannot serve another).  One guest is one
 * function instance: 1 vCPU (the Consumption plan's instance) with the
 * app's average allocated memory.  An invocation is a request for a guest
 * that lives the function's average duration; the invocations of a minute
 * arrive at its start.  A function without a duration or a memory row is
 * dropped (counted in rows_dropped).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strmap.h"
#include "driver/arrival_priv.h"
#include "driver/trace_priv.h"

#define FN_MAX_FIELDS 4096
#define FN_MINUTE_S 60

/* Column `name` in a header split into f[0..n), or -1. */
static int fn_column(char **f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i], name) == 0)
            return (int)i;
    return -1;
}

/* Read one numeric column of a per-key CSV into keys -> values. */
static int fn_read_table(const char *path, const char *key_col, const char *val_col,
                         struct strmap *ix, double **vals, size_t *n, size_t *rows,
                         struct err **err)
{
    struct drv_lines *l = drv_lines_open(path, err);
    if (!l)
        return -1;
    char *line, *f[64];
    int kc = -1, vc = -1, ret = -1;
    size_t nf_head = 0, cap = 0;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        size_t nf = drv_split_fields(line, ',', f, 64);
        if (kc < 0) {
            kc = fn_column(f, nf < 64 ? nf : 64, key_col);
            vc = fn_column(f, nf < 64 ? nf : 64, val_col);
            if (kc < 0 || vc < 0) {
                err_set(err, ERR_INVALID, "%s:%zu: header lacks `%s` or `%s`", path,
                        drv_lines_lineno(l), key_col, val_col);
                goto cleanup;
            }
            nf_head = nf;
            continue;
        }
        double v;
        if (nf != nf_head || !drv_parse_number(f[vc], &v) || !isfinite(v) || v < 0) {
            err_set(err, ERR_INVALID, "%s:%zu: expected %zu fields with a number in `%s`", path,
                    drv_lines_lineno(l), nf_head, val_col);
            goto cleanup;
        }
        (*rows)++;
        int64_t i = strmap_get(ix, f[kc]);
        if (i < 0) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 256;
                *vals = xreallocarray(*vals, cap, sizeof(**vals));
            }
            i = (int64_t)(*n)++;
            strmap_put(ix, f[kc], i);
        }
        (*vals)[i] = v;
    }
    if (err && *err)
        goto cleanup;
    if (kc < 0) {
        err_set(err, ERR_INVALID, "%s: empty", path);
        goto cleanup;
    }
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}

static int fn_read_set(const char *dir, const char *prefix, struct drv_arrival_builder *b,
                       struct err **err)
{
    autofree char *inv_name = xasprintf("%s_inv.csv", prefix);
    autofree char *run_name = xasprintf("%s_run.csv", prefix);
    autofree char *mem_name = xasprintf("%s_mem.csv", prefix);
    autofree char *inv = drv_arrival_find_file(dir, inv_name);
    autofree char *run = drv_arrival_find_file(dir, run_name);
    autofree char *mem = drv_arrival_find_file(dir, mem_name);
    autoptr(strmap) run_ix = strmap_new();
    autoptr(strmap) mem_ix = strmap_new();
    autofree double *run_ms = NULL;
    autofree double *mem_mb = NULL;
    autofree char **f = xcalloc(FN_MAX_FIELDS, sizeof(*f));
    size_t nrun = 0, nmem = 0;
    int ret = -1;

    if (!inv || !run || !mem)
        return err_set(err, ERR_NOT_FOUND, "`%s/%s` needs `%s.gz` and `%s.gz` beside it", dir,
                       inv_name, run_name, mem_name);
    if (fn_read_table(run, "HashFunction", "Average", run_ix, &run_ms, &nrun, &b->tr->rows,
                      err) < 0 ||
        fn_read_table(mem, "HashApp", "AverageAllocatedMb", mem_ix, &mem_mb, &nmem,
                      &b->tr->rows, err) < 0)
        return -1;
    b->tr->files += 3;

    struct drv_lines *l = drv_lines_open(inv, err);
    if (!l)
        return -1;
    char *line;
    int fc = -1, ac = -1, m0 = -1;
    size_t nf_head = 0, minutes = 0;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        size_t nf = drv_split_fields(line, ',', f, FN_MAX_FIELDS);
        if (nf > FN_MAX_FIELDS) {
            err_set(err, ERR_INVALID, "%s:%zu: more than %d fields", inv, drv_lines_lineno(l),
                    FN_MAX_FIELDS);
            goto cleanup;
        }
        if (fc < 0) {
            fc = fn_column(f, nf, "HashFunction");
            ac = fn_column(f, nf, "HashApp");
            m0 = fn_column(f, nf, "minute_1");
            if (fc < 0 || ac < 0 || m0 < 0) {
                err_set(err, ERR_INVALID,
                        "%s:%zu: header lacks `HashFunction`, `HashApp` or `minute_1`", inv,
                        drv_lines_lineno(l));
                goto cleanup;
            }
            nf_head = nf;
            minutes = nf - (size_t)m0;
            continue;
        }
        if (nf != nf_head) {
            err_set(err, ERR_INVALID, "%s:%zu: expected %zu fields, found %zu", inv,
                    drv_lines_lineno(l), nf_head, nf);
            goto cleanup;
        }
        b->tr->rows++;
        int64_t ri = strmap_get(run_ix, f[fc]), mi = strmap_get(mem_ix, f[ac]);
        if (ri < 0 || mi < 0 || !(run_ms[ri] > 0)) {
            b->tr->rows_dropped++;
            continue;
        }
        struct drv_res size = drv_res_zero();
        size.v[DRV_RES_VCPU] = 1;
        size.v[DRV_RES_MEM_MIB] = mem_mb[mi];
        uint32_t cls = drv_arrival_builder_class(b, f[fc], f[fc], f[fc], &size);
        float life = (float)(run_ms[ri] / 1000.0);
        for (size_t m = 0; m < minutes; m++) {
            double c;
            if (!drv_parse_number(f[(size_t)m0 + m], &c) || !(c >= 0) || c != floor(c) ||
                c > UINT32_MAX) {
                err_set(err, ERR_INVALID, "%s:%zu: minute_%zu is not a count", inv,
                        drv_lines_lineno(l), m + 1);
                goto cleanup;
            }
            drv_arrival_builder_push(b, (int64_t)m * FN_MINUTE_S, cls, (uint32_t)c, life);
        }
    }
    if (err && *err)
        goto cleanup;
    if ((int64_t)minutes * FN_MINUTE_S > b->tr->t_end)
        b->tr->t_end = (int64_t)minutes * FN_MINUTE_S;
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}

static int fn_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int drv_arrival_read_functions(const char *dir, struct drv_arrival_builder *b,
                               struct err **err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set_errno(err, errno, "open folder `%s`", dir);
    char **prefixes = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name, *suffix = strstr(nm, "_inv.csv");
        if (!suffix || suffix == nm || (strcmp(suffix, "_inv.csv") != 0 &&
                                        strcmp(suffix, "_inv.csv.gz") != 0))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            prefixes = xreallocarray(prefixes, cap, sizeof(*prefixes));
        }
        prefixes[n++] = xstrndup(nm, (size_t)(suffix - nm));
    }
    closedir(d);
    int ret = 0;
    if (n == 0)
        ret = err_set(err, ERR_NOT_FOUND, "no `<n>_inv.csv.gz` in `%s`", dir);
    if (n > 0)
        qsort(prefixes, n, sizeof(*prefixes), fn_cmp);
    for (size_t i = 0; i < n && ret == 0; i++)
        if (i == 0 || strcmp(prefixes[i - 1], prefixes[i]) != 0) /* x.csv and x.csv.gz */
            ret = fn_read_set(dir, prefixes[i], b, err);
    for (size_t i = 0; i < n; i++)
        free(prefixes[i]);
    free(prefixes);
    return ret;
}
