/* Azure Public Dataset V1 VM arrivals, as Bergsma et al. (SOSP 2021,
 * huaweicloud/trace_generation_rnn) processed vmtable.csv.gz; SOURCE.md in
 * the dataset folder has the provenance.
 *
 * - Flavor traces `v1.<split>.txt.gz`: one line per 300-s bin, `<t> <tokens>`,
 *   tokens comma-separated; a letter is one VM of that flavor, `|` closes a
 *   batch (the VMs one tenant started in that bin).  Every split in the
 *   folder is read, in time order.
 * - Lifetime traces `v1.<split>.c<T>.txt.gz`, where present: the same shape;
 *   `U<k>`: the VM ended before T, its lifetime in bin k of
 *   maps/v1.interval_map.txt; `C<k>`: still running at T.  A split without
 *   one has unknown lifetimes (the train split).
 * - maps/flav_map.txt: `<vcpu>,<memory GB> <letter>`.
 *
 * A U<k> lifetime is the mean of the seconds the interval map puts in bin k
 * (bin 13 is 3900..7200 s: 5550 s); bin 0 is "0 s", a VM created and gone
 * within one 5-minute reading of vmtable, taken as 150 s.  A C<k> VM runs
 * to T.  Exact arrival seconds within a bin are not recorded: every VM of a
 * line arrives at its bin's time.  Groups are vCPU counts: flavors with the
 * same vCPUs differ only in memory.  The trace names no image: every
 * flavor is of one family ("vm"), so a member can be re-sculpted live to
 * any of them.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/arrival_priv.h"
#include "driver/trace_priv.h"

#define AZ_FLAVORS 26
#define AZ_MAX_BINS 256
#define AZ_BIN_S 300

struct az_flavor {
    bool known;
    double vcpu, mem_gb;
    uint32_t cls;
};

struct az_split {
    char *name;       /* "train", "dev", ... */
    char *flavors;    /* path of v1.<split>.txt[.gz] */
    char *lifetimes;  /* path of v1.<split>.c<T>.txt[.gz], or NULL */
    int64_t t_obs;    /* T of the lifetime file */
    int64_t first_t;  /* first bin's time, to order splits */
};

static int az_read_flavor_map(const char *dir, struct az_flavor *fl, struct err **err)
{
    autofree char *path = drv_arrival_find_file(dir, "maps/flav_map.txt");
    if (!path)
        return err_set(err, ERR_NOT_FOUND, "`%s/maps/flav_map.txt` is missing", dir);
    struct drv_lines *l = drv_lines_open(path, err);
    if (!l)
        return -1;
    char *line, *f[3];
    int ret = -1, n = 0;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        if (*line == '\0')
            continue;
        char *sp = strchr(line, ' ');
        double v, m;
        if (!sp || sp[1] < 'a' || sp[1] > 'z' || sp[2] != '\0') {
            err_set(err, ERR_INVALID, "%s:%zu: expected `<vcpu>,<memory GB> <letter>`", path,
                    drv_lines_lineno(l));
            goto cleanup;
        }
        *sp = '\0';
        if (drv_split_fields(line, ',', f, 3) != 2 || !drv_parse_number(f[0], &v) ||
            !drv_parse_number(f[1], &m) || !(v > 0) || !(m > 0)) {
            err_set(err, ERR_INVALID, "%s:%zu: bad flavor size", path, drv_lines_lineno(l));
            goto cleanup;
        }
        struct az_flavor *x = &fl[sp[1] - 'a'];
        *x = (struct az_flavor){.known = true, .vcpu = v, .mem_gb = m};
        n++;
    }
    if (err && *err)
        goto cleanup;
    if (n == 0) {
        err_set(err, ERR_INVALID, "%s: no flavor", path);
        goto cleanup;
    }
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}

/* rep[k]: representative lifetime of bin k (see the header comment). */
static int az_read_interval_map(const char *dir, double *rep, size_t *nrep, struct err **err)
{
    autofree char *path = drv_arrival_find_file(dir, "maps/v1.interval_map.txt");
    if (!path)
        return err_set(err, ERR_NOT_FOUND, "`%s/maps/v1.interval_map.txt` is missing", dir);
    struct drv_lines *l = drv_lines_open(path, err);
    if (!l)
        return -1;
    double sum[AZ_MAX_BINS] = {0};
    int cnt[AZ_MAX_BINS] = {0};
    char *line, *f[3];
    int ret = -1;
    *nrep = 0;
    while ((line = drv_lines_next(l, NULL, err)) != NULL) {
        double s, k;
        if (*line == '\0')
            continue;
        if (drv_split_fields(line, ' ', f, 3) != 2 || !drv_parse_number(f[0], &s) ||
            !drv_parse_number(f[1], &k) || !(s >= 0) || !(k >= 0) || k >= AZ_MAX_BINS ||
            k != floor(k)) {
            err_set(err, ERR_INVALID, "%s:%zu: expected `<seconds> <bin>`", path,
                    drv_lines_lineno(l));
            goto cleanup;
        }
        sum[(int)k] += s;
        cnt[(int)k]++;
        if ((size_t)k + 1 > *nrep)
            *nrep = (size_t)k + 1;
    }
    if (err && *err)
        goto cleanup;
    for (size_t k = 0; k < *nrep; k++) {
        rep[k] = cnt[k] ? sum[k] / cnt[k] : NAN;
        if (cnt[k] && rep[k] == 0)
            rep[k] = AZ_BIN_S / 2.0; /* gone within one 5-minute reading */
    }
    ret = 0;
cleanup:
    drv_lines_close(l);
    return ret;
}

bool drv_arrival_azure_lifetime(const char *tok, const double *rep, size_t nrep, int64_t t,
                                int64_t t_end, float *out)
{
    double k;
    if ((tok[0] != 'U' && tok[0] != 'C') || !drv_parse_number(tok + 1, &k) || !(k >= 0) ||
        k != floor(k) || k >= (double)nrep || isnan(rep[(size_t)k]))
        return false;
    if (tok[0] == 'C') {
        *out = (float)(t_end > t ? t_end - t : 0);
        return true;
    }
    *out = (float)rep[(size_t)k];
    return true;
}

/* Splits in the folder: every v1.<split>.txt[.gz], paired with its
 * v1.<split>.c<T>.txt[.gz] when present. */
static int az_find_splits(const char *dir, struct az_split **out, size_t *n, struct err **err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set_errno(err, errno, "open folder `%s`", dir);
    struct dirent *de;
    struct az_split *sp = NULL;
    size_t cap = 0;
    *n = 0;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (strncmp(nm, "v1.", 3) != 0)
            continue;
        size_t stem = len;
        if (stem > 3 && strcmp(nm + stem - 3, ".gz") == 0)
            stem -= 3;
        if (stem < 8 || strncmp(nm + stem - 4, ".txt", 4) != 0)
            continue;
        stem -= 4;
        /* "v1.<split>" or "v1.<split>.c<T>" */
        const char *split = nm + 3;
        const char *dot = memchr(split, '.', stem - 3);
        size_t split_len = dot ? (size_t)(dot - split) : stem - 3;
        long long T = -1;
        if (dot) {
            char *endp;
            if (dot[1] != 'c')
                continue;
            T = strtoll(dot + 2, &endp, 10);
            if (endp != nm + stem || T <= 0)
                continue;
        }
        if (split_len == 0)
            continue;
        struct az_split *s = NULL;
        for (size_t i = 0; i < *n; i++)
            if (strlen(sp[i].name) == split_len && strncmp(sp[i].name, split, split_len) == 0)
                s = &sp[i];
        if (!s) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 4;
                sp = xreallocarray(sp, cap, sizeof(*sp));
            }
            s = &sp[(*n)++];
            *s = (struct az_split){.name = xstrndup(split, split_len), .t_obs = -1};
        }
        char *path = xasprintf("%s/%s", dir, nm);
        if (T < 0) {
            free(s->flavors);
            s->flavors = path;
        } else if (!s->lifetimes || T > s->t_obs) {
            free(s->lifetimes);
            s->lifetimes = path;
            s->t_obs = T;
        } else {
            free(path);
        }
    }
    closedir(d);
    *out = sp;
    return 0;
}

static void az_splits_free(struct az_split *sp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(sp[i].name);
        free(sp[i].flavors);
        free(sp[i].lifetimes);
    }
    free(sp);
}

/* Split "<t> <tokens>" in place; returns false when t is not a number. */
static bool az_line(char *line, int64_t *t, char **tokens)
{
    char *sp = strchr(line, ' ');
    if (sp)
        *sp = '\0';
    double v;
    if (!drv_parse_number(line, &v) || isnan(v) || v != floor(v))
        return false;
    *t = (int64_t)v;
    *tokens = sp ? sp + 1 : line + strlen(line);
    return true;
}

static int az_first_time(struct az_split *s, struct err **err)
{
    struct drv_lines *l = drv_lines_open(s->flavors, err);
    if (!l)
        return -1;
    char *line, *tok;
    int ret = -1;
    while ((line = drv_lines_next(l, NULL, err)) != NULL && *line == '\0')
        ;
    if (!line) {
        if (!(err && *err))
            err_set(err, ERR_INVALID, "%s: empty", s->flavors);
    } else if (!az_line(line, &s->first_t, &tok)) {
        err_set(err, ERR_INVALID, "%s:%zu: expected `<t> <tokens>`", s->flavors,
                drv_lines_lineno(l));
    } else {
        ret = 0;
    }
    drv_lines_close(l);
    return ret;
}

static int az_split_cmp(const void *a, const void *b)
{
    const struct az_split *x = a, *y = b;
    return x->first_t < y->first_t ? -1 : x->first_t > y->first_t;
}

/* Push the VMs of one line: consecutive tokens of one class and lifetime
 * become one record. */
static int az_read_split(struct az_split *s, struct az_flavor *fl, const double *rep,
                         size_t nrep, struct drv_arrival_builder *b, struct err **err)
{
    struct drv_lines *fl_l = drv_lines_open(s->flavors, err);
    struct drv_lines *lt_l = NULL;
    int ret = -1;
    int64_t last_t = INT64_MIN;
    char *line;

    if (!fl_l)
        return -1;
    if (s->lifetimes && !(lt_l = drv_lines_open(s->lifetimes, err)))
        goto cleanup;
    b->tr->files += s->lifetimes ? 2 : 1;
    while ((line = drv_lines_next(fl_l, NULL, err)) != NULL) {
        size_t lineno = drv_lines_lineno(fl_l);
        int64_t t, lt_t;
        char *toks, *lt_toks = NULL;
        if (*line == '\0')
            continue;
        if (!az_line(line, &t, &toks)) {
            err_set(err, ERR_INVALID, "%s:%zu: expected `<t> <tokens>`", s->flavors, lineno);
            goto cleanup;
        }
        if (t <= last_t) {
            err_set(err, ERR_INVALID, "%s:%zu: time %lld is not after %lld", s->flavors, lineno,
                    (long long)t, (long long)last_t);
            goto cleanup;
        }
        last_t = t;
        b->tr->rows++;
        if (lt_l) {
            char *lt_line;
            while ((lt_line = drv_lines_next(lt_l, NULL, err)) != NULL && *lt_line == '\0')
                ;
            if (!lt_line || !az_line(lt_line, &lt_t, &lt_toks) || lt_t != t) {
                if (!(err && *err))
                    err_set(err, ERR_INVALID, "%s:%zu: no lifetime line for time %lld",
                            s->lifetimes, drv_lines_lineno(lt_l), (long long)t);
                goto cleanup;
            }
        }
        uint32_t run_cls = UINT32_MAX, run_n = 0;
        float run_life = NAN;
        char *p = toks, *q = lt_toks;
        while (*p) {
            char *e = strchr(p, ','), *qe = NULL;
            if (e)
                *e = '\0';
            if (q) {
                if (!*q) {
                    err_set(err, ERR_INVALID, "%s: time %lld has fewer lifetimes than VMs",
                            s->lifetimes, (long long)t);
                    goto cleanup;
                }
                qe = strchr(q, ',');
                if (qe)
                    *qe = '\0';
            }
            if (strcmp(p, "|") != 0) {
                if (p[0] < 'a' || p[0] > 'z' || p[1] != '\0' || !fl[p[0] - 'a'].known) {
                    err_set(err, ERR_INVALID, "%s:%zu: unknown flavor `%s`", s->flavors,
                            lineno, p);
                    goto cleanup;
                }
                float life = NAN;
                if (q && !drv_arrival_azure_lifetime(q, rep, nrep, t, s->t_obs, &life)) {
                    err_set(err, ERR_INVALID, "%s: time %lld: bad lifetime `%s`", s->lifetimes,
                            (long long)t, q);
                    goto cleanup;
                }
                uint32_t cls = fl[p[0] - 'a'].cls;
                bool same = cls == run_cls && (life == run_life || (isnan(life) && isnan(run_life)));
                if (!same) {
                    drv_arrival_builder_push(b, t, run_cls, run_n, run_life);
                    run_cls = cls;
                    run_n = 0;
                    run_life = life;
                }
                run_n++;
            } else {
                drv_arrival_builder_push(b, t, run_cls, run_n, run_life);
                run_n = 0;
                run_cls = UINT32_MAX;
                if (q && strcmp(q, "|") != 0) {
                    err_set(err, ERR_INVALID, "%s: time %lld: batches do not line up",
                            s->lifetimes, (long long)t);
                    goto cleanup;
                }
            }
            p = e ? e + 1 : p + strlen(p);
            if (q)
                q = qe ? qe + 1 : q + strlen(q);
        }
        drv_arrival_builder_push(b, t, run_cls, run_n, run_life);
        if (q && *q) {
            err_set(err, ERR_INVALID, "%s: time %lld has more lifetimes than VMs", s->lifetimes,
                    (long long)t);
            goto cleanup;
        }
    }
    if (err && *err)
        goto cleanup;
    int64_t end = s->lifetimes ? s->t_obs : last_t + AZ_BIN_S;
    if (end > b->tr->t_end)
        b->tr->t_end = end;
    ret = 0;
cleanup:
    drv_lines_close(fl_l);
    drv_lines_close(lt_l);
    return ret;
}

int drv_arrival_read_azure(const char *dir, struct drv_arrival_builder *b, struct err **err)
{
    struct az_flavor fl[AZ_FLAVORS] = {{0}};
    double rep[AZ_MAX_BINS];
    size_t nrep = 0, nsplits = 0;
    struct az_split *sp = NULL;
    int ret = -1;

    if (az_read_flavor_map(dir, fl, err) < 0)
        return -1;
    for (int i = 0; i < AZ_FLAVORS; i++) {
        if (!fl[i].known)
            continue;
        char key[2] = {(char)('a' + i), '\0'};
        autofree char *group = xasprintf("vcpu=%g", fl[i].vcpu);
        struct drv_res size = drv_res_zero();
        size.v[DRV_RES_VCPU] = fl[i].vcpu;
        size.v[DRV_RES_MEM_MIB] = fl[i].mem_gb * 1024;
        fl[i].cls = drv_arrival_builder_class(b, key, group, "vm", &size);
    }
    if (az_find_splits(dir, &sp, &nsplits, err) < 0)
        return -1;
    bool any_lifetimes = false;
    size_t nflav = 0;
    for (size_t i = 0; i < nsplits; i++) {
        if (!sp[i].flavors) {
            err_set(err, ERR_NOT_FOUND, "`%s` has no flavor trace `v1.%s.txt.gz`",
                    sp[i].lifetimes, sp[i].name);
            goto cleanup;
        }
        if (az_first_time(&sp[i], err) < 0)
            goto cleanup;
        any_lifetimes |= sp[i].lifetimes != NULL;
        nflav++;
    }
    if (nflav == 0) {
        err_set(err, ERR_NOT_FOUND, "no `v1.<split>.txt.gz` in `%s`", dir);
        goto cleanup;
    }
    if (any_lifetimes && az_read_interval_map(dir, rep, &nrep, err) < 0)
        goto cleanup;
    qsort(sp, nsplits, sizeof(*sp), az_split_cmp);
    for (size_t i = 0; i < nsplits; i++)
        if (az_read_split(&sp[i], fl, rep, nrep, b, err) < 0)
            goto cleanup;
    ret = 0;
cleanup:
    az_splits_free(sp, nsplits);
    return ret;
}
