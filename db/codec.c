#include "db/codec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"

/* Room for a cpuset in libvirt syntax: 1024 CPUs, every other one. */
#define DB_CPUSET_TEXT_MAX 4096

void db_params_release(struct db_params *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->owned[i]);
    p->n = 0;
}

static void db_param_push(struct db_params *p, const char *borrowed, char *owned)
{
    if (p->n >= DB_PARAMS_MAX)
        abort(); /* a statement with more parameters is a bug in db/ */
    p->owned[p->n] = owned;
    p->v[p->n] = owned ? owned : borrowed;
    p->n++;
}

void db_param_str(struct db_params *p, const char *s)
{
    if (p->own && s)
        db_param_push(p, NULL, xstrdup(s));
    else
        db_param_push(p, s, NULL);
}

void db_param_strdup(struct db_params *p, const char *s)
{
    db_param_push(p, NULL, s ? xstrdup(s) : NULL);
}

void db_param_uuid(struct db_params *p, const char *uuid)
{
    db_param_str(p, uuid && uuid[0] ? uuid : NULL);
}

void db_param_int(struct db_params *p, long long v)
{
    db_param_push(p, NULL, xasprintf("%lld", v));
}

static char *db_format_double(double v)
{
    return xasprintf("%.17g", v);
}

void db_param_nonzero(struct db_params *p, long long v)
{
    if (v)
        db_param_int(p, v);
    else
        db_param_null(p);
}

void db_param_double(struct db_params *p, double v)
{
    db_param_push(p, NULL, db_format_double(v));
}

void db_param_bool(struct db_params *p, bool v)
{
    db_param_push(p, v ? "t" : "f", NULL); /* static strings */
}

void db_param_null(struct db_params *p)
{
    db_param_push(p, NULL, NULL);
}

char *db_format_doubles(const double *v, size_t n)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_append(&b, "{");
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&b, "%s%.17g", i ? "," : "", v[i]);
    strbuf_append(&b, "}");
    return strbuf_steal(&b);
}

char *db_format_texts(const char *const *v, size_t n)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_append(&b, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_append(&b, ",");
        if (!v[i]) {
            strbuf_append(&b, "NULL");
            continue;
        }
        /* Always quoted: then only " and \ need a backslash. */
        strbuf_append(&b, "\"");
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                strbuf_append_len(&b, "\\", 1);
            strbuf_append_len(&b, s, 1);
        }
        strbuf_append(&b, "\"");
    }
    strbuf_append(&b, "}");
    return strbuf_steal(&b);
}

void db_copy_append_text(struct strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\':
            strbuf_append_len(b, "\\\\", 2);
            break;
        case '\t':
            strbuf_append_len(b, "\\t", 2);
            break;
        case '\n':
            strbuf_append_len(b, "\\n", 2);
            break;
        case '\r':
            strbuf_append_len(b, "\\r", 2);
            break;
        default:
            strbuf_append_len(b, s, 1);
        }
    }
}

void db_param_doubles(struct db_params *p, const double *v, size_t n)
{
    db_param_push(p, NULL, db_format_doubles(v, n));
}

void db_param_texts(struct db_params *p, const char *const *v, size_t n)
{
    db_param_push(p, NULL, db_format_texts(v, n));
}

void db_param_res(struct db_params *p, const struct drv_res *r)
{
    db_param_doubles(p, r->v, DRV_RES_LAST);
}

void db_param_shape(struct db_params *p, const struct drv_shape *s)
{
    char buf[DB_CPUSET_TEXT_MAX];
    db_param_res(p, &s->res);
    db_param_int(p, s->vcpus_online);
    db_param_int(p, s->vcpus_max);
    db_param_double(p, s->mem_max_mib);
    db_param_strdup(p, drv_cpuset_format(&s->pcpus, buf, sizeof(buf)));
    db_param_int(p, s->numa_node);
    db_param_int(p, s->cpu_weight);
}

void db_param_shape_null(struct db_params *p)
{
    for (int i = 0; i < DB_SHAPE_COLS; i++)
        db_param_null(p);
}

/* Array elements of a one-dimensional array literal, unquoted in place
 * into a copy: calls fn for each (NULL for an unquoted NULL). */
static int db_parse_array(const char *text, int (*fn)(void *ctx, const char *elem),
                          void *ctx, struct err **err)
{
    const char *s = text;
    if (*s != '{')
        return err_set(err, ERR_INTERNAL, "array `%.40s` does not start with `{`", text);
    s++;
    autofree char *elem = xmalloc(strlen(text) + 1);
    if (*s == '}')
        return s[1] ? err_set(err, ERR_INTERNAL, "array `%.40s`: text after `}`", text) : 0;
    for (;;) {
        size_t n = 0;
        bool quoted = false;
        if (*s == '"') {
            quoted = true;
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1])
                    s++;
                elem[n++] = *s++;
            }
            if (*s != '"')
                return err_set(err, ERR_INTERNAL, "array `%.40s`: unterminated quote", text);
            s++;
        } else {
            while (*s && *s != ',' && *s != '}') {
                if (*s == '\\' && s[1])
                    s++;
                elem[n++] = *s++;
            }
        }
        elem[n] = '\0';
        bool is_null = !quoted && strcmp(elem, "NULL") == 0;
        if (fn(ctx, is_null ? NULL : elem) < 0)
            return err_set(err, ERR_INTERNAL, "array `%.40s`: bad element `%s`", text, elem);
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '}' && s[1] == '\0')
            return 0;
        return err_set(err, ERR_INTERNAL, "array `%.40s`: unexpected text", text);
    }
}

struct db_doubles_ctx {
    double *v;
    size_t n, cap;
    bool fixed;
};

static int db_doubles_add(void *ctx, const char *elem)
{
    struct db_doubles_ctx *c = ctx;
    if (!elem)
        return -1;
    char *end;
    errno = 0;
    double d = strtod(elem, &end);
    if (end == elem || *end || errno == ERANGE)
        return -1;
    if (c->n == c->cap) {
        if (c->fixed)
            return -1;
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = xreallocarray(c->v, c->cap, sizeof(double));
    }
    c->v[c->n++] = d;
    return 0;
}

int db_parse_doubles(const char *text, double *out, size_t n, struct err **err)
{
    struct db_doubles_ctx c = {out, 0, n, true};
    if (db_parse_array(text, db_doubles_add, &c, err) < 0)
        return -1;
    if (c.n != n)
        return err_set(err, ERR_INTERNAL, "array `%.40s` has %zu elements, expected %zu", text,
                       c.n, n);
    return 0;
}

int db_parse_doubles_alloc(const char *text, double **out, size_t *n, struct err **err)
{
    struct db_doubles_ctx c = {NULL, 0, 0, false};
    if (db_parse_array(text, db_doubles_add, &c, err) < 0) {
        free(c.v);
        return -1;
    }
    *out = c.v;
    *n = c.n;
    return 0;
}

struct db_texts_ctx {
    char **v;
    size_t n, cap;
};

static int db_texts_add(void *ctx, const char *elem)
{
    struct db_texts_ctx *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = xreallocarray(c->v, c->cap, sizeof(char *));
    }
    c->v[c->n++] = elem ? xstrdup(elem) : NULL;
    return 0;
}

int db_parse_texts(const char *text, char ***out, size_t *n, struct err **err)
{
    struct db_texts_ctx c = {NULL, 0, 0};
    if (db_parse_array(text, db_texts_add, &c, err) < 0) {
        for (size_t i = 0; i < c.n; i++)
            free(c.v[i]);
        free(c.v);
        return -1;
    }
    *out = c.v;
    *n = c.n;
    return 0;
}

bool db_col_is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

char *db_col_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

long long db_col_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double db_col_double(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0.0 : strtod(PQgetvalue(r, row, col), NULL);
}

bool db_col_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

void db_col_uuid(const PGresult *r, int row, int col, char out[37])
{
    out[0] = '\0';
    if (!PQgetisnull(r, row, col))
        snprintf(out, 37, "%s", PQgetvalue(r, row, col));
}

int db_col_doubles(const PGresult *r, int row, int col, double *out, size_t n,
                   struct err **err)
{
    if (PQgetisnull(r, row, col))
        return err_set(err, ERR_INTERNAL, "column `%s` is NULL", PQfname(r, col));
    return db_parse_doubles(PQgetvalue(r, row, col), out, n, err);
}

int db_col_res(const PGresult *r, int row, int col, struct drv_res *out, struct err **err)
{
    return db_col_doubles(r, row, col, out->v, DRV_RES_LAST, err);
}

int db_col_shape(const PGresult *r, int row, int col, struct drv_shape *out, bool *present,
                 struct err **err)
{
    memset(out, 0, sizeof(*out));
    out->numa_node = -1;
    if (PQgetisnull(r, row, col)) {
        if (present)
            *present = false;
        return 0;
    }
    if (db_col_res(r, row, col, &out->res, err) < 0)
        return -1;
    out->vcpus_online = (int32_t)db_col_int(r, row, col + 1);
    out->vcpus_max = (int32_t)db_col_int(r, row, col + 2);
    out->mem_max_mib = db_col_double(r, row, col + 3);
    if (drv_cpuset_parse(PQgetvalue(r, row, col + 4), &out->pcpus, err) < 0)
        return -1;
    out->numa_node = (int32_t)db_col_int(r, row, col + 5);
    long long w = db_col_int(r, row, col + 6);
    if (w < 0 || w > DRV_SHAPE_WEIGHT_MAX)
        return err_set(err, ERR_INTERNAL, "shape row with CPU weight %lld", w);
    out->cpu_weight = (uint32_t)w;
    if (present)
        *present = true;
    return 0;
}
