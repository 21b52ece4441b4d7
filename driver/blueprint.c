#include "driver/blueprint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

const double drv_quantile_level[DRV_Q_LAST] = {
    [DRV_Q_P50] = 0.50,
    [DRV_Q_P90] = 0.90,
    [DRV_Q_P99] = 0.99,
};

const char *drv_quantile_name(enum drv_quantile q)
{
    static const char *const names[DRV_Q_LAST] = {"p50", "p90", "p99"};
    return (q >= 0 && q < DRV_Q_LAST) ? names[q] : "?";
}

static size_t drv_blueprint_cells(int32_t nsteps)
{
    return (size_t)nsteps * DRV_RES_LAST * DRV_Q_LAST;
}

struct drv_blueprint *drv_blueprint_new(int32_t nsteps, int32_t step_s,
                                        int64_t start_s, struct err **err)
{
    if (nsteps < 1 || nsteps > DRV_BLUEPRINT_MAX_STEPS) {
        err_set(err, ERR_INVALID, "blueprint steps %d outside [1, %d]", nsteps,
                DRV_BLUEPRINT_MAX_STEPS);
        return NULL;
    }
    if (step_s < 1 || step_s > DRV_BLUEPRINT_MAX_STEP_S) {
        err_set(err, ERR_INVALID, "blueprint step %d s outside [1, %d]", step_s,
                DRV_BLUEPRINT_MAX_STEP_S);
        return NULL;
    }
    struct drv_blueprint *bp = xzalloc(sizeof(*bp));
    bp->nsteps = nsteps;
    bp->step_s = step_s;
    bp->start_s = start_s;
    bp->q = xcalloc(drv_blueprint_cells(nsteps), sizeof(double));
    return bp;
}

void drv_blueprint_free(struct drv_blueprint *bp)
{
    if (!bp)
        return;
    free(bp->q);
    free(bp->alloc);
    free(bp);
}

struct drv_blueprint *drv_blueprint_dup(const struct drv_blueprint *bp)
{
    struct drv_blueprint *c = xmalloc(sizeof(*c));
    *c = *bp;
    size_t bytes = drv_blueprint_cells(bp->nsteps) * sizeof(double);
    c->q = xmalloc(bytes);
    memcpy(c->q, bp->q, bytes);
    c->alloc = NULL;
    if (bp->alloc) {
        bytes = (size_t)bp->nsteps * DRV_RES_LAST * sizeof(double);
        c->alloc = xmalloc(bytes);
        memcpy(c->alloc, bp->alloc, bytes);
    }
    return c;
}

void drv_blueprint_alloc_ensure(struct drv_blueprint *bp)
{
    if (!bp->alloc)
        bp->alloc = xcalloc((size_t)bp->nsteps * DRV_RES_LAST, sizeof(double));
}

struct drv_res drv_blueprint_alloc_step(const struct drv_blueprint *bp, int32_t step)
{
    struct drv_res r = drv_res_zero();
    if (!bp->alloc || step < 0 || step >= bp->nsteps)
        return r;
    for (int k = 0; k < DRV_RES_LAST; k++)
        r.v[k] = bp->alloc[(size_t)step * DRV_RES_LAST + (size_t)k];
    return r;
}

void drv_blueprint_set_alloc(struct drv_blueprint *bp, int32_t step, struct drv_res a)
{
    if (step < 0 || step >= bp->nsteps)
        return;
    drv_blueprint_alloc_ensure(bp);
    for (int k = 0; k < DRV_RES_LAST; k++)
        bp->alloc[(size_t)step * DRV_RES_LAST + (size_t)k] = a.v[k];
}

struct drv_res drv_blueprint_step(const struct drv_blueprint *bp, int32_t step,
                                  enum drv_quantile q)
{
    struct drv_res r = drv_res_zero();
    if (step < 0 || step >= bp->nsteps)
        return r;
    for (int k = 0; k < DRV_RES_LAST; k++)
        r.v[k] = drv_blueprint_get(bp, step, (enum drv_res_kind)k, q);
    return r;
}

struct drv_res drv_blueprint_peak(const struct drv_blueprint *bp, enum drv_quantile q,
                                  int32_t from, int32_t to)
{
    struct drv_res r = drv_res_zero();
    if (from < 0)
        from = 0;
    if (to > bp->nsteps)
        to = bp->nsteps;
    for (int32_t s = from; s < to; s++)
        r = drv_res_max(r, drv_blueprint_step(bp, s, q));
    return r;
}

int32_t drv_blueprint_step_at(const struct drv_blueprint *bp, int64_t t_s)
{
    if (t_s < bp->start_s)
        return -1;
    int64_t idx = (t_s - bp->start_s) / bp->step_s;
    return idx < bp->nsteps ? (int32_t)idx : -1;
}

void drv_blueprint_fill_flat(struct drv_blueprint *bp, struct drv_res need)
{
    for (int32_t s = 0; s < bp->nsteps; s++)
        for (int k = 0; k < DRV_RES_LAST; k++)
            for (int q = 0; q < DRV_Q_LAST; q++)
                drv_blueprint_set(bp, s, (enum drv_res_kind)k, (enum drv_quantile)q,
                                  need.v[k]);
}

static bool drv_unit_interval(double x)
{
    return isfinite(x) && x >= 0 && x <= 1;
}

int drv_blueprint_validate(const struct drv_blueprint *bp, struct err **err)
{
    if (bp->nsteps < 1 || bp->nsteps > DRV_BLUEPRINT_MAX_STEPS)
        return err_set(err, ERR_INVALID, "blueprint steps %d outside [1, %d]",
                       bp->nsteps, DRV_BLUEPRINT_MAX_STEPS);
    if (bp->step_s < 1 || bp->step_s > DRV_BLUEPRINT_MAX_STEP_S)
        return err_set(err, ERR_INVALID, "blueprint step %d s outside [1, %d]",
                       bp->step_s, DRV_BLUEPRINT_MAX_STEP_S);
    if (!drv_unit_interval(bp->confidence))
        return err_set(err, ERR_INVALID, "blueprint confidence %g outside [0, 1]",
                       bp->confidence);
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (!drv_unit_interval(bp->res_confidence[k]))
            return err_set(err, ERR_INVALID, "blueprint `%s` confidence %g outside [0, 1]",
                           drv_res_kind_name((enum drv_res_kind)k), bp->res_confidence[k]);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        double prev = 0, m = bp->longrun_mean[k];
        for (int q = 0; q < DRV_Q_LAST; q++) {
            double x = bp->longrun[k][q];
            /* written so that NaN fails too */
            if (!(x >= prev && x <= DRV_RES_MAX))
                return err_set(err, ERR_INVALID,
                               "blueprint `%s` long-run %s is %g (must be 0 to %g, ordered)",
                               drv_res_kind_name((enum drv_res_kind)k),
                               drv_quantile_name((enum drv_quantile)q), x, DRV_RES_MAX);
            prev = x;
        }
        if (!(m >= 0 && m <= DRV_RES_MAX))
            return err_set(err, ERR_INVALID, "blueprint `%s` long-run mean is %g",
                           drv_res_kind_name((enum drv_res_kind)k), m);
    }
    for (int32_t s = 0; s < bp->nsteps; s++) {
        for (int k = 0; k < DRV_RES_LAST; k++) {
            double prev = 0;
            for (int q = 0; q < DRV_Q_LAST; q++) {
                double x = drv_blueprint_get(bp, s, (enum drv_res_kind)k, (enum drv_quantile)q);
                if (x >= prev && x <= DRV_RES_MAX) { /* NaN fails */
                    prev = x;
                    continue;
                }
                const char *rn = drv_res_kind_name((enum drv_res_kind)k);
                const char *qn = drv_quantile_name((enum drv_quantile)q);
                if (!isfinite(x) || x < 0 || x > DRV_RES_MAX)
                    return err_set(err, ERR_INVALID,
                                   "blueprint step %d `%s` %s is %g (must be 0 to %g)", s,
                                   rn, qn, x, DRV_RES_MAX);
                return err_set(err, ERR_INVALID,
                               "blueprint step %d `%s` bands out of order: %s %g < %g", s, rn, qn,
                               x, prev);
            }
            if (bp->alloc) {
                double a = bp->alloc[(size_t)s * DRV_RES_LAST + (size_t)k];
                if (!isfinite(a) || a < 0 || a > DRV_RES_MAX)
                    return err_set(err, ERR_INVALID,
                                   "blueprint step %d `%s` allocation is %g (must be 0 to %g)",
                                   s, drv_res_kind_name((enum drv_res_kind)k), a, DRV_RES_MAX);
            }
        }
    }
    return 0;
}
