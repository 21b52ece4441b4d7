/* Azure Public Dataset V1, per-VM CPU (the 100-VM sample of DataCenterSim):
 * `step,max_cpu,avg_cpu`, one row per consecutive 5-minute interval, CPU in
 * percent of the VM's size.
 *
 * The VM size is not in the sample, so CPU is in units of the VM's size:
 * use = max_cpu / 100 (an allocation must hold the 5-minute peak) and the
 * provisioned size is 1.0.  avg_cpu / 100 is kept for predictors.
 */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/trace_priv.h"

#define AZ_STEP_S 300

int drv_trace_read_azure_cpu(const char *path, char **id, struct drv_trace_rows *rows,
                             size_t *dropped, struct err **err)
{
    struct drv_lines *l = drv_lines_open(path, err);
    char *line;
    char *f[3];
    int ret = -1;

    if (!l)
        return -1;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        if (drv_lines_lineno(l) == 1 && strncmp(line, "step", 4) == 0)
            continue;
        size_t nf = drv_split_fields(line, ',', f, 3);
        double step, maxc, avgc;
        if (nf != 3) {
            err_set(err, ERR_INVALID, "%s:%zu: expected 3 fields, found %zu", path,
                    drv_lines_lineno(l), nf);
            goto cleanup;
        }
        if (!drv_parse_number(f[0], &step) || !drv_parse_number(f[1], &maxc) ||
            !drv_parse_number(f[2], &avgc) || isnan(step) || step < 0) {
            err_set(err, ERR_INVALID, "%s:%zu: malformed row", path, drv_lines_lineno(l));
            goto cleanup;
        }
        if (isnan(maxc)) {
            (*dropped)++;
            continue;
        }
        struct drv_trace_row r = {.t = (int64_t)step * AZ_STEP_S};
        r.use[DRV_TR_CPU] = (float)fmax(0, maxc / 100.0);
        r.cap[DRV_TR_CPU] = 1.0f;
        r.cpu_avg = isnan(avgc) ? NAN : (float)fmax(0, avgc / 100.0);
        for (int k = DRV_TR_MEMORY; k < DRV_TR_LAST; k++)
            r.use[k] = r.cap[k] = NAN;
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
