/* Loading a trace: which files, in which order, and assembling each VM's
 * samples from the rows a format reader produced. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/trace_priv.h"

static const char *const drv_trace_format_names[DRV_TRACE_FORMAT_LAST] = {
    [DRV_TRACE_BITBRAINS] = "bitbrains",
    [DRV_TRACE_AZURE_CPU] = "azure-cpu",
    [DRV_TRACE_ALIBABA_MACHINES] = "alibaba-machines",
};

static const char *const drv_trace_res_names[DRV_TR_LAST] = {
    [DRV_TR_CPU] = "cpu",
    [DRV_TR_MEMORY] = "memory",
    [DRV_TR_NET] = "net",
    [DRV_TR_DISK] = "disk",
};

typedef int (*drv_trace_reader_fn)(const char *path, char **id, struct drv_trace_rows *rows,
                                   size_t *dropped, struct err **err);

static const struct {
    drv_trace_reader_fn read;
    int32_t step_s;
    bool has[DRV_TR_LAST];
    bool has_cpu_avg;
    const char *skip_prefix; /* files in a folder that are not usage files */
} drv_trace_formats[DRV_TRACE_FORMAT_LAST] = {
    [DRV_TRACE_BITBRAINS] = {drv_trace_read_bitbrains, 300, {true, true, true, true}, false, NULL},
    [DRV_TRACE_AZURE_CPU] = {drv_trace_read_azure_cpu, 300, {true, false, false, false}, true, NULL},
    [DRV_TRACE_ALIBABA_MACHINES] = {drv_trace_read_alibaba, 60, {true, true, true, true}, false,
                                    "machine_meta_"},
};

const char *drv_trace_format_name(enum drv_trace_format f)
{
    return (f >= 0 && f < DRV_TRACE_FORMAT_LAST) ? drv_trace_format_names[f] : "?";
}

int drv_trace_format_parse(const char *name)
{
    for (int f = 0; f < DRV_TRACE_FORMAT_LAST; f++)
        if (strcmp(drv_trace_format_names[f], name) == 0)
            return f;
    return -1;
}

const char *drv_trace_res_name(enum drv_trace_res r)
{
    return (r >= 0 && r < DRV_TR_LAST) ? drv_trace_res_names[r] : "?";
}

const char *drv_trace_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

void drv_trace_rows_push(struct drv_trace_rows *rows, const struct drv_trace_row *row)
{
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? rows->cap * 2 : 1024;
        rows->r = xreallocarray(rows->r, rows->cap, sizeof(*rows->r));
    }
    rows->r[rows->n++] = *row;
}

void drv_trace_rows_release(struct drv_trace_rows *rows)
{
    free(rows->r);
    rows->r = NULL;
    rows->n = rows->cap = 0;
}

static int drv_row_cmp(const void *a, const void *b)
{
    const struct drv_trace_row *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

/* max() that lets a reading win over a missing one. */
static float drv_fmaxf_nan(float a, float b)
{
    if (isnan(a))
        return b;
    if (isnan(b))
        return a;
    return a > b ? a : b;
}

size_t drv_trace_vm_build(struct drv_trace_vm *vm, struct drv_trace_rows *rows,
                          const bool has[DRV_TR_LAST], bool has_cpu_avg)
{
    size_t merged = 0, n = 0;

    if (rows->n)
        qsort(rows->r, rows->n, sizeof(*rows->r), drv_row_cmp);
    /* merge rows sharing a timestamp: per field maximum, so an allocation
     * is judged against the larger of the duplicate readings */
    for (size_t i = 0; i < rows->n; i++) {
        if (n > 0 && rows->r[n - 1].t == rows->r[i].t) {
            struct drv_trace_row *d = &rows->r[n - 1];
            for (int k = 0; k < DRV_TR_LAST; k++) {
                d->use[k] = drv_fmaxf_nan(d->use[k], rows->r[i].use[k]);
                d->cap[k] = drv_fmaxf_nan(d->cap[k], rows->r[i].cap[k]);
            }
            d->cpu_avg = drv_fmaxf_nan(d->cpu_avg, rows->r[i].cpu_avg);
            merged++;
            continue;
        }
        rows->r[n++] = rows->r[i];
    }
    vm->n = n;
    vm->t = xcalloc(n, sizeof(int64_t));
    for (size_t i = 0; i < n; i++)
        vm->t[i] = rows->r[i].t;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!has[k])
            continue;
        vm->use[k] = xcalloc(n, sizeof(float));
        vm->cap[k] = xcalloc(n, sizeof(float));
        float last_use = 0, peak = 0;
        for (size_t i = 0; i < n; i++) {
            /* a missing reading repeats the previous one (0 at the start) */
            float u = rows->r[i].use[k];
            last_use = isnan(u) ? last_use : u;
            vm->use[k][i] = last_use;
            vm->cap[k][i] = rows->r[i].cap[k];
            peak = fmaxf(peak, last_use);
        }
        /* no provisioned figure in the trace: the VM's peak stands for it */
        for (size_t i = 0; i < n; i++)
            if (isnan(vm->cap[k][i]))
                vm->cap[k][i] = peak;
    }
    if (has_cpu_avg) {
        vm->cpu_avg = xcalloc(n, sizeof(float));
        for (size_t i = 0; i < n; i++)
            vm->cpu_avg[i] = isnan(rows->r[i].cpu_avg) ? 0 : rows->r[i].cpu_avg;
    }
    return merged;
}

static bool drv_has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Compare names with embedded numbers by value: vm_2 < vm_10. */
static int drv_natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return (*a != '\0') - (*b != '\0');
}

static int drv_natural_cmp_ptr(const void *a, const void *b)
{
    return drv_natural_cmp(*(char *const *)a, *(char *const *)b);
}

struct drv_path_list {
    char **p;
    size_t n, cap;
};

static void drv_path_list_add(struct drv_path_list *l, char *path)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->p = xreallocarray(l->p, l->cap, sizeof(char *));
    }
    l->p[l->n++] = path;
}

static void drv_path_list_release(struct drv_path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->p[i]);
    free(l->p);
}

static int drv_trace_collect(enum drv_trace_format format, const char *path,
                             struct drv_path_list *out, struct err **err)
{
    struct stat st;
    const char *skip = drv_trace_formats[format].skip_prefix;

    if (stat(path, &st) < 0)
        return err_set_errno(err, errno, "trace path `%s`", path);
    if (!S_ISDIR(st.st_mode)) {
        if (skip && strncmp(drv_trace_basename(path), skip, strlen(skip)) == 0)
            return 0;
        drv_path_list_add(out, xstrdup(path));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return err_set_errno(err, errno, "open folder `%s`", path);
    struct drv_path_list names = {0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!drv_has_suffix(de->d_name, ".csv") && !drv_has_suffix(de->d_name, ".csv.gz"))
            continue;
        if (skip && strncmp(de->d_name, skip, strlen(skip)) == 0)
            continue;
        drv_path_list_add(&names, xstrdup(de->d_name));
    }
    closedir(d);
    /* readdir order is arbitrary: sort so results are deterministic */
    if (names.n)
        qsort(names.p, names.n, sizeof(char *), drv_natural_cmp_ptr);
    size_t len = strlen(path);
    bool slash = len > 0 && path[len - 1] == '/';
    for (size_t i = 0; i < names.n; i++)
        drv_path_list_add(out, xasprintf("%s%s%s", path, slash ? "" : "/", names.p[i]));
    drv_path_list_release(&names);
    return 0;
}

static int drv_vm_cmp(const void *a, const void *b)
{
    return drv_natural_cmp(((const struct drv_trace_vm *)a)->id,
                           ((const struct drv_trace_vm *)b)->id);
}

static void drv_trace_vm_release(struct drv_trace_vm *vm)
{
    free(vm->id);
    free(vm->t);
    for (int k = 0; k < DRV_TR_LAST; k++) {
        free(vm->use[k]);
        free(vm->cap[k]);
    }
    free(vm->cpu_avg);
}

void drv_trace_free(struct drv_trace *tr)
{
    if (!tr)
        return;
    for (size_t i = 0; i < tr->nvms; i++)
        drv_trace_vm_release(&tr->vms[i]);
    free(tr->vms);
    free(tr);
}

size_t drv_trace_samples(const struct drv_trace *tr)
{
    size_t n = 0;
    for (size_t i = 0; i < tr->nvms; i++)
        n += tr->vms[i].n;
    return n;
}

struct drv_trace *drv_trace_load(enum drv_trace_format format,
                                 const char *const *paths, size_t npaths,
                                 drv_trace_progress_fn progress, void *opaque,
                                 struct err **err)
{
    struct drv_path_list files = {0};
    struct drv_trace *tr = NULL;

    if (format < 0 || format >= DRV_TRACE_FORMAT_LAST) {
        err_set(err, ERR_INVALID, "unknown trace format %d", (int)format);
        return NULL;
    }
    for (size_t i = 0; i < npaths; i++)
        if (drv_trace_collect(format, paths[i], &files, err) < 0)
            goto fail;
    if (files.n == 0) {
        err_set(err, ERR_NOT_FOUND, "no *.csv or *.csv.gz usage file in the given paths");
        goto fail;
    }

    tr = xzalloc(sizeof(*tr));
    tr->format = format;
    tr->step_s = drv_trace_formats[format].step_s;
    memcpy(tr->has, drv_trace_formats[format].has, sizeof(tr->has));
    tr->vms = xcalloc(files.n, sizeof(*tr->vms));

    struct drv_trace_rows rows = {0};
    for (size_t i = 0; i < files.n; i++) {
        char *id = NULL;
        size_t dropped = 0;
        rows.n = 0;
        if (drv_trace_formats[format].read(files.p[i], &id, &rows, &dropped, err) < 0) {
            drv_trace_rows_release(&rows);
            goto fail;
        }
        tr->files++;
        tr->rows += rows.n + dropped;
        tr->rows_dropped += dropped;
        if (rows.n == 0) {
            tr->vms_dropped++;
            free(id);
        } else {
            struct drv_trace_vm *vm = &tr->vms[tr->nvms++];
            vm->id = id;
            tr->rows_merged += drv_trace_vm_build(vm, &rows, tr->has,
                                                  drv_trace_formats[format].has_cpu_avg);
        }
        if (progress)
            progress(i + 1, files.n, opaque);
    }
    drv_trace_rows_release(&rows);
    if (tr->nvms)
        qsort(tr->vms, tr->nvms, sizeof(*tr->vms), drv_vm_cmp);
    drv_path_list_release(&files);
    return tr;

fail:
    drv_path_list_release(&files);
    drv_trace_free(tr);
    return NULL;
}
