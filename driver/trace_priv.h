/* Internals shared by the trace readers; tested through tests/unit. */
#ifndef SC_DRIVER_TRACE_PRIV_H
#define SC_DRIVER_TRACE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/trace.h"

struct err;

/* A gzip (or plain) text file read line by line through zlib. */
struct drv_lines;

struct drv_lines *drv_lines_open(const char *path, struct err **err);
/* Next line without its newline (and without a trailing \r), NUL
 * terminated, valid until the next call; *len gets its length.  Returns
 * NULL at the end, or NULL with *err on a read error. */
char *drv_lines_next(struct drv_lines *l, size_t *len, struct err **err);
size_t drv_lines_lineno(const struct drv_lines *l);
void drv_lines_close(struct drv_lines *l);

/* Split `line` in place at `sep` (and any spaces or tabs around fields).
 * Fills up to `max` field pointers; returns the number of fields found
 * (which may exceed max: the rest are not stored). */
size_t drv_split_fields(char *line, char sep, char **fields, size_t max);

/* Parse a decimal number ("12", "-3.5", "1.2e-05").  An empty field gives
 * NaN.  Returns false when the text is not a number.  Deterministic and
 * several times faster than strtod, accurate to ~1e-15 relative. */
bool drv_parse_number(const char *s, double *out);

/* One parsed row before per-VM assembly. */
struct drv_trace_row {
    int64_t t;
    float use[DRV_TR_LAST];
    float cap[DRV_TR_LAST];
    float cpu_avg;
};

/* Rows of one VM as they are read, unordered. */
struct drv_trace_rows {
    struct drv_trace_row *r;
    size_t n, cap;
};
void drv_trace_rows_push(struct drv_trace_rows *rows, const struct drv_trace_row *row);
void drv_trace_rows_release(struct drv_trace_rows *rows);

/* Sort rows by time, merge rows sharing a timestamp (per field maximum:
 * an allocation must hold the larger reading), and store them in vm.
 * Returns the number of rows merged away. */
size_t drv_trace_vm_build(struct drv_trace_vm *vm, struct drv_trace_rows *rows,
                          const bool has[DRV_TR_LAST], bool has_cpu_avg);

/* Per-format readers: read one usage file into rows.  `id` receives the
 * VM id (caller frees).  Rows that cannot be replayed are counted in
 * *dropped.  Return 0 or -1 with *err naming file:line. */
int drv_trace_read_bitbrains(const char *path, char **id, struct drv_trace_rows *rows,
                             size_t *dropped, struct err **err);
int drv_trace_read_azure_cpu(const char *path, char **id, struct drv_trace_rows *rows,
                             size_t *dropped, struct err **err);
/* Alibaba needs the machine's meta file (cpu_num, mem_size) beside it. */
int drv_trace_read_alibaba(const char *path, char **id, struct drv_trace_rows *rows,
                           size_t *dropped, struct err **err);

/* The file name (without folder) of path. */
const char *drv_trace_basename(const char *path);

#endif
