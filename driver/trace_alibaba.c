/* Alibaba cluster-trace-v2018 machine usage: headerless rows
 * `machine_id,time_stamp,cpu_util_percent,mem_util_percent,mem_gps,mkpi,
 * net_in,net_out,disk_io_percent`, about one a minute, per physical machine.
 * The machine's size comes from `machine_meta_<id>.csv.gz` beside the usage
 * file (`machine_id,time_stamp,failure_domain_1,failure_domain_2,cpu_num,
 * mem_size,status`).
 *
 * Units: CPU in cores (cpu_num of them); memory is normalized in the trace
 * (mem_size = 100 for every machine), read here as GiB so it is in MiB like
 * the other formats; net is net_in + net_out in the trace's normalized
 * 0-100 scale each (provisioned 200); disk is disk_io_percent (provisioned
 * 100).  -1 and 101 mark abnormal disk readings (SOURCE.md): they are
 * replaced by the previous reading.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/trace_priv.h"

#define ALI_USAGE_PREFIX "machine_usage_"
#define ALI_META_PREFIX "machine_meta_"

/* Read cpu_num and mem_size from the meta file of the usage file `path`. */
static int drv_alibaba_meta(const char *path, double *cpu_num, double *mem_size,
                            struct err **err)
{
    const char *base = drv_trace_basename(path);
    if (strncmp(base, ALI_USAGE_PREFIX, strlen(ALI_USAGE_PREFIX)) != 0)
        return err_set(err, ERR_INVALID,
                       "%s: an Alibaba usage file is named `" ALI_USAGE_PREFIX "<id>.csv[.gz]`",
                       path);
    autofree char *meta = xasprintf("%.*s" ALI_META_PREFIX "%s", (int)(base - path), path,
                                    base + strlen(ALI_USAGE_PREFIX));
    struct drv_lines *l = drv_lines_open(meta, err);
    if (!l)
        return err_wrap(err, "machine size for `%s`", path);
    char *line, *f[7];
    int ret = -1;
    *cpu_num = *mem_size = NAN;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        double c, m;
        if (drv_split_fields(line, ',', f, 7) != 7 || !drv_parse_number(f[4], &c) ||
            !drv_parse_number(f[5], &m)) {
            err_set(err, ERR_INVALID, "%s:%zu: malformed machine_meta row", meta,
                    drv_lines_lineno(l));
            goto cleanup;
        }
        if (c > 0 && m > 0) { /* the latest row wins */
            *cpu_num = c;
            *mem_size = m;
        }
    }
    if (err && *err)
        goto cleanup;
    if (isnan(*cpu_num)) {
        err_set(err, ERR_INVALID, "%s: no row with cpu_num and mem_size", meta);
        goto cleanup;
    }
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}

int drv_trace_read_alibaba(const char *path, char **id, struct drv_trace_rows *rows,
                           size_t *dropped, struct err **err)
{
    double cpu_num = 0, mem_size = 0;
    char *line;
    char *f[9];
    int ret = -1;
    autofree char *machine = NULL;

    if (drv_alibaba_meta(path, &cpu_num, &mem_size, err) < 0)
        return -1;
    struct drv_lines *l = drv_lines_open(path, err);
    if (!l)
        return -1;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        size_t nf = drv_split_fields(line, ',', f, 9);
        if (nf != 9) {
            err_set(err, ERR_INVALID, "%s:%zu: expected 9 fields, found %zu", path,
                    drv_lines_lineno(l), nf);
            goto cleanup;
        }
        if (!machine)
            machine = xstrdup(f[0]);
        double t, cpu, mem, nin, nout, disk;
        if (!drv_parse_number(f[1], &t) || !drv_parse_number(f[2], &cpu) ||
            !drv_parse_number(f[3], &mem) || !drv_parse_number(f[6], &nin) ||
            !drv_parse_number(f[7], &nout) || !drv_parse_number(f[8], &disk) || isnan(t)) {
            err_set(err, ERR_INVALID, "%s:%zu: malformed row", path, drv_lines_lineno(l));
            goto cleanup;
        }
        if (isnan(cpu) || isnan(mem)) {
            (*dropped)++;
            continue;
        }
        struct drv_trace_row r = {.t = (int64_t)t, .cpu_avg = NAN};
        r.use[DRV_TR_CPU] = (float)(fmax(0, cpu) / 100.0 * cpu_num);
        r.cap[DRV_TR_CPU] = (float)cpu_num;
        r.use[DRV_TR_MEMORY] = (float)(fmax(0, mem) / 100.0 * mem_size * 1024.0);
        r.cap[DRV_TR_MEMORY] = (float)(mem_size * 1024.0);
        r.use[DRV_TR_NET] = (isnan(nin) || isnan(nout)) ? NAN : (float)fmax(0, nin + nout);
        r.cap[DRV_TR_NET] = 200.0f;
        /* abnormal markers become NaN, filled from the previous reading */
        r.use[DRV_TR_DISK] = (isnan(disk) || disk < 0 || disk > 100) ? NAN : (float)disk;
        r.cap[DRV_TR_DISK] = 100.0f;
        drv_trace_rows_push(rows, &r);
    }
    if (err && *err)
        goto cleanup;
    *id = machine ? steal_pointer(&machine)
                  : xstrdup(drv_trace_basename(path) + strlen(ALI_USAGE_PREFIX));
    (*id)[strcspn(*id, ".")] = '\0';
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}
