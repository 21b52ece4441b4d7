/* Loading an arrival trace: the format table, and the builder every reader
 * fills (class interning, records, time order). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strmap.h"
#include "driver/arrival_priv.h"

typedef int (*drv_arrival_reader_fn)(const char *dir, struct drv_arrival_builder *b,
                                     struct err **err);

static const struct {
    const char *name;
    drv_arrival_reader_fn read;
    int32_t bin_s;
} drv_arrival_formats[DRV_ARRIVAL_FORMAT_LAST] = {
    [DRV_ARRIVAL_AZURE] = {"azure-arrivals", drv_arrival_read_azure, 300},
    [DRV_ARRIVAL_FUNCTIONS] = {"azure-functions", drv_arrival_read_functions, 60},
    [DRV_ARRIVAL_ALIBABA] = {"alibaba-batch", drv_arrival_read_alibaba, 1},
};

const char *drv_arrival_format_name(enum drv_arrival_format f)
{
    return (f >= 0 && f < DRV_ARRIVAL_FORMAT_LAST) ? drv_arrival_formats[f].name : "?";
}

int drv_arrival_format_parse(const char *name)
{
    for (int f = 0; f < DRV_ARRIVAL_FORMAT_LAST; f++)
        if (strcmp(drv_arrival_formats[f].name, name) == 0)
            return f;
    return -1;
}

void drv_arrival_builder_init(struct drv_arrival_builder *b, enum drv_arrival_format f,
                              int32_t bin_s)
{
    memset(b, 0, sizeof(*b));
    b->tr = xzalloc(sizeof(*b->tr));
    b->tr->format = f;
    b->tr->bin_s = bin_s;
    b->tr->t_end = INT64_MIN;
    b->tr->score_from = INT64_MAX;
    b->class_ix = strmap_new();
    b->group_ix = strmap_new();
    b->family_ix = strmap_new();
}

static uint32_t drv_arrival_builder_family(struct drv_arrival_builder *b, const char *key)
{
    int64_t ix = strmap_get(b->family_ix, key);
    if (ix >= 0)
        return (uint32_t)ix;
    struct drv_arrival_trace *tr = b->tr;
    if (tr->nfamilies == b->family_cap) {
        b->family_cap = b->family_cap ? 2 * b->family_cap : 16;
        tr->families = xreallocarray(tr->families, b->family_cap, sizeof(*tr->families));
    }
    tr->families[tr->nfamilies].key = xstrdup(key);
    strmap_put(b->family_ix, key, (int64_t)tr->nfamilies);
    return (uint32_t)tr->nfamilies++;
}

static uint32_t drv_arrival_builder_group(struct drv_arrival_builder *b, const char *key,
                                          const char *family_key)
{
    int64_t ix = strmap_get(b->group_ix, key);
    if (ix >= 0)
        return (uint32_t)ix;
    struct drv_arrival_trace *tr = b->tr;
    if (tr->ngroups == b->group_cap) {
        b->group_cap = b->group_cap ? 2 * b->group_cap : 16;
        tr->groups = xreallocarray(tr->groups, b->group_cap, sizeof(*tr->groups));
    }
    tr->groups[tr->ngroups].key = xstrdup(key);
    tr->groups[tr->ngroups].family = drv_arrival_builder_family(b, family_key);
    strmap_put(b->group_ix, key, (int64_t)tr->ngroups);
    return (uint32_t)tr->ngroups++;
}

uint32_t drv_arrival_builder_class(struct drv_arrival_builder *b, const char *key,
                                   const char *group_key, const char *family_key,
                                   const struct drv_res *size)
{
    int64_t ix = strmap_get(b->class_ix, key);
    if (ix >= 0)
        return (uint32_t)ix;
    uint32_t g = drv_arrival_builder_group(b, group_key, family_key);
    struct drv_arrival_trace *tr = b->tr;
    if (tr->nclasses == b->class_cap) {
        b->class_cap = b->class_cap ? 2 * b->class_cap : 16;
        tr->classes = xreallocarray(tr->classes, b->class_cap, sizeof(*tr->classes));
    }
    struct drv_arrival_class *c = &tr->classes[tr->nclasses];
    c->key = xstrdup(key);
    c->group = g;
    c->size = *size;
    strmap_put(b->class_ix, key, (int64_t)tr->nclasses);
    return (uint32_t)tr->nclasses++;
}

void drv_arrival_builder_push(struct drv_arrival_builder *b, int64_t t, uint32_t cls,
                              uint32_t count, float lifetime_s)
{
    if (count == 0)
        return;
    struct drv_arrival_trace *tr = b->tr;
    if (tr->narr == b->arr_cap) {
        b->arr_cap = b->arr_cap ? 2 * b->arr_cap : 4096;
        tr->arr = xreallocarray(tr->arr, b->arr_cap, sizeof(*tr->arr));
    }
    tr->arr[tr->narr++] = (struct drv_arrival){t, cls, count, lifetime_s};
}

/* Records are mostly in order already (the readers go through time);
 * a stable merge sort keeps the trace's order among equal times. */
static void drv_arrival_sort(struct drv_arrival *a, size_t n)
{
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = a[i - 1].t <= a[i].t;
    if (sorted)
        return;
    struct drv_arrival *tmp = xcalloc(n, sizeof(*tmp));
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = a[j].t < a[i].t ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof(*a));
    }
    free(tmp);
}

struct drv_arrival_trace *drv_arrival_builder_finish(struct drv_arrival_builder *b)
{
    struct drv_arrival_trace *tr = steal_pointer(&b->tr);
    drv_arrival_sort(tr->arr, tr->narr);
    for (size_t i = 0; i < tr->narr; i++) {
        const struct drv_arrival *a = &tr->arr[i];
        tr->guests += a->count;
        if (!isnan(a->lifetime_s) && a->t < tr->score_from)
            tr->score_from = a->t;
        if (a->t + tr->bin_s > tr->t_end)
            tr->t_end = a->t + tr->bin_s;
    }
    drv_arrival_builder_release(b);
    return tr;
}

void drv_arrival_builder_release(struct drv_arrival_builder *b)
{
    drv_arrival_trace_free(steal_pointer(&b->tr));
    strmap_free(steal_pointer(&b->class_ix));
    strmap_free(steal_pointer(&b->group_ix));
    strmap_free(steal_pointer(&b->family_ix));
}

void drv_arrival_trace_free(struct drv_arrival_trace *tr)
{
    if (!tr)
        return;
    for (size_t i = 0; i < tr->nclasses; i++)
        free(tr->classes[i].key);
    for (size_t i = 0; i < tr->ngroups; i++)
        free(tr->groups[i].key);
    for (size_t i = 0; i < tr->nfamilies; i++)
        free(tr->families[i].key);
    free(tr->classes);
    free(tr->groups);
    free(tr->families);
    free(tr->arr);
    free(tr);
}

char *drv_arrival_find_file(const char *dir, const char *name)
{
    struct stat st;
    char *p = xasprintf("%s/%s", dir, name);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
        return p;
    free(p);
    p = xasprintf("%s/%s.gz", dir, name);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
        return p;
    free(p);
    return NULL;
}

struct drv_arrival_trace *drv_arrival_load(enum drv_arrival_format format, const char *dir,
                                           struct err **err)
{
    struct stat st;
    if (format < 0 || format >= DRV_ARRIVAL_FORMAT_LAST) {
        err_set(err, ERR_INVALID, "unknown arrival format %d", (int)format);
        return NULL;
    }
    if (stat(dir, &st) < 0) {
        err_set_errno(err, errno, "dataset folder `%s`", dir);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        err_set(err, ERR_INVALID, "`%s` is not a folder (give the dataset folder)", dir);
        return NULL;
    }
    struct drv_arrival_builder b;
    drv_arrival_builder_init(&b, format, drv_arrival_formats[format].bin_s);
    if (drv_arrival_formats[format].read(dir, &b, err) < 0) {
        drv_arrival_builder_release(&b);
        return NULL;
    }
    if (b.tr->narr == 0) {
        err_set(err, ERR_INVALID, "no arrival in `%s` (%zu files, %zu rows)", dir, b.tr->files,
                b.tr->rows);
        drv_arrival_builder_release(&b);
        return NULL;
    }
    int64_t t_end = b.tr->t_end;
    struct drv_arrival_trace *tr = drv_arrival_builder_finish(&b);
    if (t_end > tr->t_end) /* a reader knows the end of observation */
        tr->t_end = t_end;
    return tr;
}
