/* Aligned text tables for sculptctl's default output. */
#ifndef SC_API_CTL_TABLE_H
#define SC_API_CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct ctl_table {
    size_t ncols;
    size_t nrows;
    char **cells;       /* owned: header row first, then nrows rows of ncols */
    size_t filled;      /* cells filled in the current row */
};

/* Columns named by `head` (NULL-terminated). */
void ctl_table_init(struct ctl_table *t, const char *const *head);
/* Append the next cell (a new row starts after ncols cells). */
void ctl_table_cell(struct ctl_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print with columns padded to their widest cell; numbers are not
 * right-aligned (they stay readable with plain spaces). */
void ctl_table_print(const struct ctl_table *t, FILE *out);
void ctl_table_release(struct ctl_table *t);

/* A resource amount with few significant digits ("0.35", "1536"). */
const char *ctl_num(double v, char *buf, size_t size);

#endif
