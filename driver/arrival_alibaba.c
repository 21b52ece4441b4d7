/* Alibaba cluster-trace-v2017 batch tasks (`batch_task.csv.gz`, the header
 * as the copy has it, some names starting with a space); SOURCE.md in the
 * dataset folder has the provenance.
 *
 * A task is a batch: `number_of_instances` guests, each requesting
 * plan_cpu / 100 cores and plan_mem of normalized memory, read as a share of
 * 100 GiB (as the 2018 machine reader does).  The class is the request
 * (plan_cpu, plan_mem) as written; its group is plan_cpu (requests that
 * differ only in memory), all of one family ("batch": one image, a member
 * can be re-sculpted live to any request).  The guests arrive at task_create_time and live
 * until task_end_time; a Running task, or one whose end is not after its
 * creation, still runs at the end of observation (the latest time in the
 * file).  Rows without plan_cpu or plan_mem (mostly Waiting tasks) request
 * nothing a pool could hold and are counted in rows_dropped.  The file is
 * not in time order; records are sorted.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/arrival_priv.h"
#include "driver/trace_priv.h"

#define ALI_FIELDS 8
#define ALI_MEM_MIB (100.0 * 1024) /* normalized memory 1.0 */

enum {
    ALI_CREATE,
    ALI_END,
    ALI_INSTANCES,
    ALI_STATUS,
    ALI_CPU,
    ALI_MEM,
    ALI_COLS,
};

static const char *const ali_columns[ALI_COLS] = {
    [ALI_CREATE] = "task_create_time",
    [ALI_END] = "task_end_time",
    [ALI_INSTANCES] = "number_of_instances",
    [ALI_STATUS] = "status",
    [ALI_CPU] = "number_of_cpus_requested_per_instance_in_the_task",
    [ALI_MEM] = "normalized_memory_requested_per_instance_in_the_task",
};

int drv_arrival_read_alibaba(const char *dir, struct drv_arrival_builder *b, struct err **err)
{
    autofree char *path = drv_arrival_find_file(dir, "batch_task.csv");
    if (!path)
        return err_set(err, ERR_NOT_FOUND, "no `batch_task.csv.gz` in `%s`", dir);
    struct drv_lines *l = drv_lines_open(path, err);
    if (!l)
        return -1;
    b->tr->files++;
    char *line, *f[ALI_FIELDS + 1];
    int col[ALI_COLS];
    bool header = false;
    int ret = -1;
    size_t first = b->tr->narr;
    int64_t t_last = INT64_MIN;

    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        size_t nf = drv_split_fields(line, ',', f, ALI_FIELDS + 1);
        if (!header) {
            for (int c = 0; c < ALI_COLS; c++) {
                col[c] = -1;
                for (size_t i = 0; i < nf && i < ALI_FIELDS; i++)
                    if (strcmp(f[i], ali_columns[c]) == 0)
                        col[c] = (int)i;
                if (col[c] < 0) {
                    err_set(err, ERR_INVALID, "%s:%zu: header lacks `%s`", path,
                            drv_lines_lineno(l), ali_columns[c]);
                    goto cleanup;
                }
            }
            header = true;
            continue;
        }
        if (nf != ALI_FIELDS) {
            err_set(err, ERR_INVALID, "%s:%zu: expected %d fields, found %zu", path,
                    drv_lines_lineno(l), ALI_FIELDS, nf);
            goto cleanup;
        }
        b->tr->rows++;
        double create, end, n, cpu, mem;
        if (!drv_parse_number(f[col[ALI_CREATE]], &create) ||
            !drv_parse_number(f[col[ALI_END]], &end) ||
            !drv_parse_number(f[col[ALI_INSTANCES]], &n) ||
            !drv_parse_number(f[col[ALI_CPU]], &cpu) || !drv_parse_number(f[col[ALI_MEM]], &mem) ||
            !isfinite(create) || !isfinite(end) || !isfinite(n)) {
            err_set(err, ERR_INVALID, "%s:%zu: malformed row", path, drv_lines_lineno(l));
            goto cleanup;
        }
        if (create > t_last)
            t_last = (int64_t)create;
        if (end > t_last)
            t_last = (int64_t)end;
        if (!(cpu > 0) || !(mem > 0) || !(n >= 1) || n > UINT32_MAX) {
            b->tr->rows_dropped++;
            continue;
        }
        autofree char *key = xasprintf("cpu=%s,mem=%s", f[col[ALI_CPU]], f[col[ALI_MEM]]);
        autofree char *group = xasprintf("cpu=%s", f[col[ALI_CPU]]);
        struct drv_res size = drv_res_zero();
        size.v[DRV_RES_VCPU] = cpu / 100.0;
        size.v[DRV_RES_MEM_MIB] = mem * ALI_MEM_MIB;
        uint32_t cls = drv_arrival_builder_class(b, key, group, "batch", &size);
        bool running = strcmp(f[col[ALI_STATUS]], "Running") == 0 || end <= create;
        /* INFINITY: runs to the end of observation, set below */
        drv_arrival_builder_push(b, (int64_t)create, cls, (uint32_t)n,
                                 running ? INFINITY : (float)(end - create));
    }
    if (err && *err)
        goto cleanup;
    if (!header) {
        err_set(err, ERR_INVALID, "%s: empty", path);
        goto cleanup;
    }
    for (size_t i = first; i < b->tr->narr; i++)
        if (isinf(b->tr->arr[i].lifetime_s))
            b->tr->arr[i].lifetime_s = (float)(t_last - b->tr->arr[i].t);
    if (t_last > b->tr->t_end)
        b->tr->t_end = t_last;
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}
