/* Values to and from PostgreSQL's text format: statement parameters and
 * result columns.  Internal to db/, unit tested (tests/unit/test_db.c).
 *
 * Floats are written with 17 significant digits, so a double survives the
 * round trip exactly.  Arrays use PostgreSQL's literal syntax ({1,2},
 * {"a b","c\"d"}).  A shape spans DB_SHAPE_COLS parameters or columns, in
 * the order res, vcpus_online, vcpus_max, mem_max_mib, pcpus, numa_node,
 * cpu_weight (0: not set).
 */
#ifndef SC_DB_CODEC_H
#define SC_DB_CODEC_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/resource.h"
#include "driver/shape.h"

struct err;

#define DB_PARAMS_MAX 40
/* Parameters or columns of one shape. */
#define DB_SHAPE_COLS 7

/* Parameters of one statement; values are owned copies or borrowed
 * strings the caller keeps alive until the statement ran.  With `own` set
 * (parameters of a queued write, run after the call returned) every
 * string is copied. */
struct db_params {
    int n;
    bool own;
    const char *v[DB_PARAMS_MAX];
    char *owned[DB_PARAMS_MAX];
};

#define DB_PARAMS_INIT {0, false, {NULL}, {NULL}}
void db_params_release(struct db_params *p);
#define autoparams __attribute__((cleanup(db_params_release))) struct db_params

/* Each appends one parameter (db_param_shape: DB_SHAPE_COLS). */
void db_param_str(struct db_params *p, const char *s);      /* NULL: SQL NULL */
void db_param_strdup(struct db_params *p, const char *s);   /* always copied */
void db_param_uuid(struct db_params *p, const char *uuid);  /* "" or NULL: NULL */
void db_param_int(struct db_params *p, long long v);
void db_param_double(struct db_params *p, double v);
void db_param_bool(struct db_params *p, bool v);
void db_param_null(struct db_params *p);
/* v, or SQL NULL when v is 0 (an unset time, limit or id). */
void db_param_nonzero(struct db_params *p, long long v);
void db_param_doubles(struct db_params *p, const double *v, size_t n); /* float8[] */
void db_param_texts(struct db_params *p, const char *const *v, size_t n); /* text[] */
void db_param_res(struct db_params *p, const struct drv_res *r);
void db_param_shape(struct db_params *p, const struct drv_shape *s);
void db_param_shape_null(struct db_params *p);

/* Text forms (caller frees). */
char *db_format_doubles(const double *v, size_t n);
char *db_format_texts(const char *const *v, size_t n);
/* One value in COPY's text format, appended to b (escaping \, tab, newline). */
struct strbuf;
void db_copy_append_text(struct strbuf *b, const char *s);

/* Parse PostgreSQL array output.  db_parse_doubles wants exactly n
 * elements; db_parse_doubles_alloc any number (caller frees *out). */
int db_parse_doubles(const char *text, double *out, size_t n, struct err **err);
int db_parse_doubles_alloc(const char *text, double **out, size_t *n, struct err **err);
/* Elements of a text[] (NULL elements become NULL); caller frees each and
 * the array. */
int db_parse_texts(const char *text, char ***out, size_t *n, struct err **err);

/* Result columns. */
bool db_col_is_null(const PGresult *r, int row, int col);
char *db_col_str(const PGresult *r, int row, int col);      /* copy; NULL for NULL */
long long db_col_int(const PGresult *r, int row, int col);  /* 0 for NULL */
double db_col_double(const PGresult *r, int row, int col);  /* 0 for NULL */
bool db_col_bool(const PGresult *r, int row, int col);
/* A uuid column into out ("" for NULL). */
void db_col_uuid(const PGresult *r, int row, int col, char out[37]);
int db_col_res(const PGresult *r, int row, int col, struct drv_res *out, struct err **err);
int db_col_doubles(const PGresult *r, int row, int col, double *out, size_t n,
                   struct err **err);
/* DB_SHAPE_COLS columns from col on; NULL res means "no shape":
 * *present = false. */
int db_col_shape(const PGresult *r, int row, int col, struct drv_shape *out, bool *present,
                 struct err **err);

#endif
