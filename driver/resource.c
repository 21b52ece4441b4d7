#include "driver/resource.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

static const struct {
    const char *name;
    const char *unit;
} drv_res_kinds[DRV_RES_LAST] = {
    [DRV_RES_VCPU] = {"vcpu", "vCPU"},
    [DRV_RES_MEM_MIB] = {"mem_mib", "MiB"},
    [DRV_RES_NET_IN_MBPS] = {"net_in_mbps", "Mbit/s"},
    [DRV_RES_NET_OUT_MBPS] = {"net_out_mbps", "Mbit/s"},
    [DRV_RES_DISK_READ_IOPS] = {"disk_read_iops", "IOPS"},
    [DRV_RES_DISK_WRITE_IOPS] = {"disk_write_iops", "IOPS"},
    [DRV_RES_DISK_READ_MBPS] = {"disk_read_mbps", "MB/s"},
    [DRV_RES_DISK_WRITE_MBPS] = {"disk_write_mbps", "MB/s"},
};

const char *drv_res_kind_name(enum drv_res_kind k)
{
    return (k >= 0 && k < DRV_RES_LAST) ? drv_res_kinds[k].name : "?";
}

const char *drv_res_kind_unit(enum drv_res_kind k)
{
    return (k >= 0 && k < DRV_RES_LAST) ? drv_res_kinds[k].unit : "?";
}

int drv_res_kind_parse(const char *name)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (strcmp(drv_res_kinds[k].name, name) == 0)
            return k;
    return -1;
}

struct drv_res drv_res_add(struct drv_res a, struct drv_res b)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        a.v[k] += b.v[k];
    return a;
}

struct drv_res drv_res_sub(struct drv_res a, struct drv_res b)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        a.v[k] -= b.v[k];
    return a;
}

struct drv_res drv_res_scale(struct drv_res a, double f)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        a.v[k] *= f;
    return a;
}

struct drv_res drv_res_mul(struct drv_res a, struct drv_res f)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        a.v[k] *= f.v[k];
    return a;
}

struct drv_res drv_res_max(struct drv_res a, struct drv_res b)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        a.v[k] = fmax(a.v[k], b.v[k]);
    return a;
}

struct drv_res drv_res_min(struct drv_res a, struct drv_res b)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        a.v[k] = fmin(a.v[k], b.v[k]);
    return a;
}

struct drv_res drv_res_clamp_nonneg(struct drv_res a)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (!(a.v[k] > 0))
            a.v[k] = 0;
    return a;
}

static double drv_res_tol(double x)
{
    return 1e-9 * fmax(1.0, fabs(x));
}

bool drv_res_le(struct drv_res a, struct drv_res b)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (a.v[k] > b.v[k] + drv_res_tol(b.v[k]))
            return false;
    return true;
}

bool drv_res_eq(struct drv_res a, struct drv_res b, double tol)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (fabs(a.v[k] - b.v[k]) > tol * fmax(1.0, fabs(b.v[k])))
            return false;
    return true;
}

bool drv_res_is_zero(struct drv_res a)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (a.v[k] != 0)
            return false;
    return true;
}

bool drv_res_fits(struct drv_res need, struct drv_res cap,
                  enum drv_res_kind *over, double *by)
{
    bool fits = true;
    double worst = 0;

    for (int k = 0; k < DRV_RES_LAST; k++) {
        double excess = need.v[k] - cap.v[k];
        if (excess <= drv_res_tol(cap.v[k]))
            continue;
        /* relative excess, so 1 MiB over does not outrank 1 vCPU over */
        double rel = cap.v[k] > 0 ? excess / cap.v[k] : INFINITY;
        if (fits || rel > worst) {
            worst = rel;
            if (over)
                *over = (enum drv_res_kind)k;
            if (by)
                *by = excess;
        }
        fits = false;
    }
    return fits;
}

int drv_res_validate(struct drv_res a, struct err **err)
{
    for (int k = 0; k < DRV_RES_LAST; k++) {
        double x = a.v[k];
        if (!isfinite(x))
            return err_set(err, ERR_INVALID, "`%s` is not a finite number",
                           drv_res_kinds[k].name);
        if (x < 0)
            return err_set(err, ERR_INVALID, "`%s` is negative (%g)",
                           drv_res_kinds[k].name, x);
        if (x > DRV_RES_MAX)
            return err_set(err, ERR_INVALID, "`%s` is too large (%g > %g)",
                           drv_res_kinds[k].name, x, DRV_RES_MAX);
    }
    return 0;
}

int drv_res_parse(const char *text, struct drv_res *out, struct err **err)
{
    struct drv_res r = drv_res_zero();
    bool seen[DRV_RES_LAST] = {false};
    autofree char *copy = xstrdup(text);
    char *save = NULL;

    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return err_set(err, ERR_INVALID, "expected `name=value`, got `%s`", tok);
        *eq = '\0';
        int k = drv_res_kind_parse(tok);
        if (k < 0)
            return err_set(err, ERR_INVALID, "unknown resource `%s`", tok);
        if (seen[k])
            return err_set(err, ERR_INVALID, "resource `%s` given twice", tok);
        seen[k] = true;
        char *end;
        errno = 0;
        double x = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || errno == ERANGE)
            return err_set(err, ERR_INVALID, "`%s` is not a number for `%s`", eq + 1, tok);
        r.v[k] = x;
    }
    if (drv_res_validate(r, err) < 0)
        return -1;
    *out = r;
    return 0;
}

char *drv_res_format(struct drv_res a, char *buf, size_t size)
{
    size_t n = 0;

    if (!size)
        return buf;
    buf[0] = '\0';
    for (int k = 0; k < DRV_RES_LAST; k++) {
        if (a.v[k] == 0)
            continue;
        int w = snprintf(buf + n, size - n, "%s%s=%.6g", n ? "," : "",
                         drv_res_kinds[k].name, a.v[k]);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, size, "0");
    return buf;
}
