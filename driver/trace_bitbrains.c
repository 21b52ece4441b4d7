/* Bitbrains GWA-T-12 (Rnd) per-VM files.
 *
 * `Timestamp [ms]; CPU cores; CPU capacity provisioned [MHZ]; CPU usage
 * [MHZ]; CPU usage [%]; Memory capacity provisioned [KB]; Memory usage
 * [KB]; Disk read/write throughput [KB/s]; Network received/transmitted
 * throughput [KB/s]`, fields separated by ";\t", one header row.  The
 * timestamp is in Unix seconds despite its label (SOURCE.md).
 *
 * CPU use in vCPUs = usage MHz / (capacity MHz / cores).  Rows with zero
 * cores or zero capacity (VM off or unmonitored) cannot be replayed and are
 * dropped.  The trace gives no provisioned network or disk bandwidth;
 * drv_trace_load() sets those caps to the VM's peak over the trace (a
 * flavor sized never to throttle), so `static` never violates there either.
 */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/trace_priv.h"

#define BB_FIELDS 11
#define KB 1024.0

int drv_trace_read_bitbrains(const char *path, char **id, struct drv_trace_rows *rows,
                             size_t *dropped, struct err **err)
{
    struct drv_lines *l = drv_lines_open(path, err);
    char *line;
    char *f[BB_FIELDS];
    int ret = -1;

    if (!l)
        return -1;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        if (drv_lines_lineno(l) == 1 && strncmp(line, "Timestamp", 9) == 0)
            continue;
        size_t nf = drv_split_fields(line, ';', f, BB_FIELDS);
        if (nf != BB_FIELDS) {
            err_set(err, ERR_INVALID, "%s:%zu: expected %d fields, found %zu", path,
                    drv_lines_lineno(l), BB_FIELDS, nf);
            goto cleanup;
        }
        double v[BB_FIELDS];
        for (int i = 0; i < BB_FIELDS; i++) {
            if (!drv_parse_number(f[i], &v[i]) || isnan(v[i])) {
                err_set(err, ERR_INVALID, "%s:%zu: field %d `%s` is not a number", path,
                        drv_lines_lineno(l), i + 1, f[i]);
                goto cleanup;
            }
        }
        double cores = v[1], cap_mhz = v[2];
        if (cores <= 0 || cap_mhz <= 0 || v[5] <= 0) {
            (*dropped)++;
            continue;
        }
        struct drv_trace_row r = {.t = (int64_t)v[0], .cpu_avg = NAN};
        r.use[DRV_TR_CPU] = (float)fmax(0, v[3] / (cap_mhz / cores));
        r.cap[DRV_TR_CPU] = (float)cores;
        r.use[DRV_TR_MEMORY] = (float)fmax(0, v[6] / KB);
        r.cap[DRV_TR_MEMORY] = (float)(v[5] / KB);
        r.use[DRV_TR_NET] = (float)fmax(0, (v[9] + v[10]) * KB * 8 / 1e6);
        r.cap[DRV_TR_NET] = NAN; /* filled from the VM's peak */
        r.use[DRV_TR_DISK] = (float)fmax(0, (v[7] + v[8]) * KB / 1e6);
        r.cap[DRV_TR_DISK] = NAN;
        drv_trace_rows_push(rows, &r);
    }
    if (err && *err)
        goto cleanup;

    const char *base = drv_trace_basename(path);
    if (strncmp(base, "vm_", 3) == 0)
        base += 3;
    *id = xstrndup(base, strcspn(base, "."));
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}
