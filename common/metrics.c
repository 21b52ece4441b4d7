#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "strbuf.h"

LOG_INIT("common.metrics");

enum metrics_type {
    METRICS_T_COUNTER,
    METRICS_T_GAUGE,
    METRICS_T_HISTOGRAM,
    METRICS_T_COUNTER_TOTAL, /* an update kind only: a counter set to a total */
};

struct metrics_series {
    struct metrics_series *next;
    char *values[METRICS_MAX_LABELS];  /* owned, one per label */
    double value;                      /* counter or gauge */
    double sum;                        /* histogram: sum of observations */
    unsigned long long count;          /* histogram: observations */
    unsigned long long buckets[METRICS_MAX_BUCKETS + 1]; /* per bucket, not cumulative */
};

struct metrics_family {
    char *name;
    char *help;
    enum metrics_type type;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    size_t nbounds;
    double bounds[METRICS_MAX_BUCKETS];
    pthread_mutex_t lock;              /* guards the series list and values */
    struct metrics_series *series;     /* newest first; rendered oldest first */
};

struct metrics_collector {
    int id;
    void (*fn)(void *ctx);
    void *ctx;
};

const double metrics_latency_buckets[METRICS_LATENCY_NBUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The registry.  reg_lock guards the family and collector arrays;
 * collect_lock is held while collectors run, so that once
 * metrics_collector_remove() returns its callback is not running. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t collect_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_family **families;
static size_t nfamilies;
static struct metrics_collector *collectors;
static size_t ncollectors;
static int next_collector_id = 1;

static bool metrics_name_ok(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                     (colon && *p == ':');
        bool digit = *p >= '0' && *p <= '9';
        if (!alpha && !(digit && p != s))
            return false;
    }
    return true;
}

static void metrics_die(const char *name, const char *why)
{
    log_error("metric `%s`: %s", name, why);
    abort();
}

/* Split "a,b" into f->labels. */
static void metrics_parse_labels(struct metrics_family *f, const char *labels)
{
    if (!labels || !*labels)
        return;
    autofree char *copy = xstrdup(labels);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (f->nlabels == METRICS_MAX_LABELS || !metrics_name_ok(tok, false) ||
            strcmp(tok, "le") == 0)
            metrics_die(f->name, "bad or too many label names");
        f->labels[f->nlabels++] = xstrdup(tok);
    }
}

static bool metrics_same_shape(const struct metrics_family *a, const struct metrics_family *b)
{
    if (a->type != b->type || a->nlabels != b->nlabels || a->nbounds != b->nbounds)
        return false;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return false;
    for (size_t i = 0; i < a->nbounds; i++)
        if (a->bounds[i] != b->bounds[i])
            return false;
    return true;
}

static void metrics_series_free(struct metrics_series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s);
}

static void metrics_family_free(struct metrics_family *f)
{
    if (!f)
        return;
    struct metrics_series *s = f->series;
    while (s) {
        struct metrics_series *next = s->next;
        metrics_series_free(s, f->nlabels);
        s = next;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    pthread_mutex_destroy(&f->lock);
    free(f->name);
    free(f->help);
    free(f);
}

static struct metrics_family *metrics_register(const char *name, const char *help,
                                               enum metrics_type type, const char *labels,
                                               const double *bounds, size_t nbounds)
{
    if (!metrics_name_ok(name, true))
        metrics_die(name ? name : "(null)", "invalid metric name");
    if (nbounds > METRICS_MAX_BUCKETS)
        metrics_die(name, "too many histogram buckets");
    struct metrics_family *f = xzalloc(sizeof(*f));
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    f->type = type;
    metrics_parse_labels(f, labels);
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            metrics_die(name, "histogram bounds must be finite and ascending");
        f->bounds[i] = bounds[i];
    }
    f->nbounds = nbounds;
    pthread_mutex_init(&f->lock, NULL);

    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nfamilies; i++) {
        if (strcmp(families[i]->name, name) != 0)
            continue;
        struct metrics_family *old = families[i];
        pthread_mutex_unlock(&reg_lock);
        if (!metrics_same_shape(old, f))
            metrics_die(name, "registered twice with different types or labels");
        metrics_family_free(f);
        return old;
    }
    families = xreallocarray(families, nfamilies + 1, sizeof(*families));
    families[nfamilies++] = f;
    pthread_mutex_unlock(&reg_lock);
    return f;
}

struct metrics_family *metrics_counter(const char *name, const char *help, const char *labels)
{
    return metrics_register(name, help, METRICS_T_COUNTER, labels, NULL, 0);
}

struct metrics_family *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return metrics_register(name, help, METRICS_T_GAUGE, labels, NULL, 0);
}

struct metrics_family *metrics_histogram(const char *name, const char *help, const char *labels,
                                         const double *bounds, size_t nbounds)
{
    return metrics_register(name, help, METRICS_T_HISTOGRAM, labels, bounds, nbounds);
}

/* The series for `values`, created when `create`.  Called with f->lock. */
static struct metrics_series *metrics_series_get(struct metrics_family *f,
                                                 const char *const *values, bool create)
{
    for (struct metrics_series *s = f->series; s; s = s->next) {
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    if (!create)
        return NULL;
    struct metrics_series *s = xzalloc(sizeof(*s));
    for (size_t i = 0; i < f->nlabels; i++)
        s->values[i] = xstrdup(values[i]);
    s->next = f->series;
    f->series = s;
    return s;
}

/* Label values must match the family's label count; a mismatch is a bug
 * that we report rather than crash on in a running service. */
static bool metrics_values_ok(const struct metrics_family *f, const char *const *values)
{
    size_t n = 0;
    while (values && n <= f->nlabels && values[n])
        n++;
    if (n == f->nlabels)
        return true;
    log_warn("metric `%s`: %zu label values given, %zu expected", f->name, n, f->nlabels);
    return false;
}

static void metrics_update(struct metrics_family *f, enum metrics_type type, double v,
                           const char *const *values)
{
    enum metrics_type family_type = type == METRICS_T_COUNTER_TOTAL ? METRICS_T_COUNTER : type;
    if (!f || f->type != family_type || !metrics_values_ok(f, values) || isnan(v))
        return;
    pthread_mutex_lock(&f->lock);
    struct metrics_series *s = metrics_series_get(f, values, true);
    switch (type) {
    case METRICS_T_COUNTER:
        if (v > 0)
            s->value += v;
        break;
    case METRICS_T_GAUGE:
        s->value = v;
        break;
    case METRICS_T_COUNTER_TOTAL:
        if (v > s->value)
            s->value = v;
        break;
    case METRICS_T_HISTOGRAM: {
        size_t b = 0;
        while (b < f->nbounds && v > f->bounds[b])
            b++;
        s->buckets[b]++;
        s->count++;
        s->sum += v;
        break;
    }
    }
    pthread_mutex_unlock(&f->lock);
}

void metrics_add(struct metrics_family *f, double v, const char *const *values)
{
    metrics_update(f, METRICS_T_COUNTER, v, values);
}

void metrics_set(struct metrics_family *f, double v, const char *const *values)
{
    metrics_update(f, METRICS_T_GAUGE, v, values);
}

void metrics_observe(struct metrics_family *f, double v, const char *const *values)
{
    metrics_update(f, METRICS_T_HISTOGRAM, v, values);
}

void metrics_set_total(struct metrics_family *f, double total, const char *const *values)
{
    metrics_update(f, METRICS_T_COUNTER_TOTAL, total, values);
}

void metrics_clear(struct metrics_family *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    struct metrics_series *s = f->series;
    f->series = NULL;
    pthread_mutex_unlock(&f->lock);
    while (s) {
        struct metrics_series *next = s->next;
        metrics_series_free(s, f->nlabels);
        s = next;
    }
}

double metrics_value(struct metrics_family *f, const char *const *values)
{
    if (!f || !metrics_values_ok(f, values))
        return 0;
    pthread_mutex_lock(&f->lock);
    struct metrics_series *s = metrics_series_get(f, values, false);
    double v = !s ? 0 : f->type == METRICS_T_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&f->lock);
    return v;
}

int metrics_collector_add(void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&reg_lock);
    collectors = xreallocarray(collectors, ncollectors + 1, sizeof(*collectors));
    int id = next_collector_id++;
    collectors[ncollectors++] = (struct metrics_collector){id, fn, ctx};
    pthread_mutex_unlock(&reg_lock);
    return id;
}

void metrics_collector_remove(int id)
{
    pthread_mutex_lock(&collect_lock);
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < ncollectors; i++) {
        if (collectors[i].id != id)
            continue;
        memmove(&collectors[i], &collectors[i + 1], (ncollectors - i - 1) * sizeof(*collectors));
        ncollectors--;
        break;
    }
    pthread_mutex_unlock(&reg_lock);
    pthread_mutex_unlock(&collect_lock);
}

static void metrics_run_collectors(void)
{
    pthread_mutex_lock(&collect_lock);
    pthread_mutex_lock(&reg_lock);
    size_t n = ncollectors;
    struct metrics_collector *copy = n ? xcalloc(n, sizeof(*copy)) : NULL;
    if (n)
        memcpy(copy, collectors, n * sizeof(*copy));
    pthread_mutex_unlock(&reg_lock);
    for (size_t i = 0; i < n; i++)
        copy[i].fn(copy[i].ctx);
    pthread_mutex_unlock(&collect_lock);
    free(copy);
}

static void metrics_put_escaped(struct strbuf *b, const char *s, bool quote)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            strbuf_append(b, "\\\\");
        else if (*p == '\n')
            strbuf_append(b, "\\n");
        else if (quote && *p == '"')
            strbuf_append(b, "\\\"");
        else
            strbuf_append_len(b, p, 1);
    }
}

/* The shortest of %.15g and %.17g that reads back as v: "0.1", not
 * "0.10000000000000001". */
static void metrics_format_number(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, size, "%.17g", v);
    }
}

static void metrics_put_number(struct strbuf *b, double v)
{
    char buf[40];
    metrics_format_number(v, buf, sizeof(buf));
    strbuf_append(b, buf);
}

/* name{l1="v1",...,extra_name="extra_value"} value */
static void metrics_put_sample(struct strbuf *b, const struct metrics_family *f,
                               const struct metrics_series *s, const char *suffix,
                               const char *extra_name, const char *extra_value, double v)
{
    strbuf_append(b, f->name);
    strbuf_append(b, suffix);
    if (f->nlabels || extra_name) {
        strbuf_append(b, "{");
        for (size_t i = 0; i < f->nlabels; i++) {
            strbuf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
            metrics_put_escaped(b, s->values[i], true);
            strbuf_append(b, "\"");
        }
        if (extra_name)
            strbuf_printf(b, "%s%s=\"%s\"", f->nlabels ? "," : "", extra_name, extra_value);
        strbuf_append(b, "}");
    }
    strbuf_append(b, " ");
    metrics_put_number(b, v);
    strbuf_append(b, "\n");
}

static void metrics_render_family(struct strbuf *b, struct metrics_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    strbuf_printf(b, "# HELP %s ", f->name);
    metrics_put_escaped(b, f->help, false);
    strbuf_printf(b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);

    pthread_mutex_lock(&f->lock);
    /* The list is newest first; render in creation order for stable output. */
    size_t n = 0;
    for (struct metrics_series *s = f->series; s; s = s->next)
        n++;
    struct metrics_series **order = n ? xcalloc(n, sizeof(*order)) : NULL;
    size_t i = n;
    for (struct metrics_series *s = f->series; s; s = s->next)
        order[--i] = s;
    for (i = 0; i < n; i++) {
        const struct metrics_series *s = order[i];
        if (f->type != METRICS_T_HISTOGRAM) {
            metrics_put_sample(b, f, s, "", NULL, NULL, s->value);
            continue;
        }
        unsigned long long cum = 0;
        char le[40];
        for (size_t k = 0; k < f->nbounds; k++) {
            cum += s->buckets[k];
            metrics_format_number(f->bounds[k], le, sizeof(le));
            metrics_put_sample(b, f, s, "_bucket", "le", le, (double)cum);
        }
        metrics_put_sample(b, f, s, "_bucket", "le", "+Inf", (double)s->count);
        metrics_put_sample(b, f, s, "_sum", NULL, NULL, s->sum);
        metrics_put_sample(b, f, s, "_count", NULL, NULL, (double)s->count);
    }
    pthread_mutex_unlock(&f->lock);
    free(order);
}

char *metrics_render(void)
{
    metrics_run_collectors();
    struct strbuf b = STRBUF_INIT;
    /* Families are never freed while the process serves (only by
     * metrics_reset() in tests), so a snapshot of the array suffices. */
    pthread_mutex_lock(&reg_lock);
    size_t n = nfamilies;
    struct metrics_family **snap = n ? xcalloc(n, sizeof(*snap)) : NULL;
    if (n)
        memcpy(snap, families, n * sizeof(*snap));
    pthread_mutex_unlock(&reg_lock);
    for (size_t i = 0; i < n; i++)
        metrics_render_family(&b, snap[i]);
    free(snap);
    return strbuf_steal(&b);
}

void metrics_reset(void)
{
    pthread_mutex_lock(&collect_lock);
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nfamilies; i++)
        metrics_family_free(families[i]);
    free(families);
    families = NULL;
    nfamilies = 0;
    free(collectors);
    collectors = NULL;
    ncollectors = 0;
    pthread_mutex_unlock(&reg_lock);
    pthread_mutex_unlock(&collect_lock);
}
