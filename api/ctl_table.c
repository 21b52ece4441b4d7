#include "api/ctl_table.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "common/alloc.h"

void ctl_table_init(struct ctl_table *t, const char *const *head)
{
    memset(t, 0, sizeof(*t));
    while (head[t->ncols])
        t->ncols++;
    t->cells = xcalloc(t->ncols, sizeof(char *));
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[i] = xstrdup(head[i]);
}

void ctl_table_cell(struct ctl_table *t, const char *fmt, ...)
{
    if (t->filled == 0) {
        t->nrows++;
        t->cells = xreallocarray(t->cells, (t->nrows + 1) * t->ncols, sizeof(char *));
    }
    va_list ap;
    va_start(ap, fmt);
    t->cells[t->nrows * t->ncols + t->filled] = xvasprintf(fmt, ap);
    va_end(ap);
    t->filled = (t->filled + 1) % t->ncols;
}

void ctl_table_print(const struct ctl_table *t, FILE *out)
{
    size_t *w = xcalloc(t->ncols, sizeof(size_t));
    size_t complete = t->filled ? t->nrows : t->nrows + 1;
    for (size_t r = 0; r < complete; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < complete; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%-*s  ", (int)w[c], s);
        }
    }
    free(w);
}

void ctl_table_release(struct ctl_table *t)
{
    size_t n = (t->nrows + 1) * t->ncols - (t->filled ? t->ncols - t->filled : 0);
    for (size_t i = 0; i < n; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

const char *ctl_num(double v, char *buf, size_t size)
{
    if (!isfinite(v))
        snprintf(buf, size, "-");
    else if (fabs(v) >= 1000 || v == floor(v))
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.3g", v);
    return buf;
}
