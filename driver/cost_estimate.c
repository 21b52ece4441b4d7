#include "driver/cost_estimate.h"

#include <math.h>
#include <string.h>

#include "common/err.h"

/* The knots of the quantile function the bands define. */
#define BAND_KNOTS 5
static const double band_u[BAND_KNOTS] = {0.0, 0.5, 0.9, 0.99, 1.0};

static void band_knots(double p50, double p90, double p99, double q[BAND_KNOTS])
{
    /* below the median the p50-p90 slope continues down to 0: flat bands
     * mean a need known exactly, not one spread down to nothing */
    double lo = p50 - (p90 - p50) * (0.5 / 0.4);
    q[0] = lo > 0 ? lo : 0;
    q[1] = p50;
    q[2] = p90;
    q[3] = p99;
    /* the tail beyond p99 continues the p90-p99 slope */
    q[4] = p99 + (p99 - p90) * (0.01 / 0.09);
}

double drv_cost_band_quantile(double p50, double p90, double p99, double u)
{
    double q[BAND_KNOTS];
    band_knots(p50, p90, p99, q);
    if (!(u > 0))
        return q[0];
    if (u >= 1)
        return q[BAND_KNOTS - 1];
    for (int i = 1; i < BAND_KNOTS; i++) {
        if (u <= band_u[i]) {
            double f = (u - band_u[i - 1]) / (band_u[i] - band_u[i - 1]);
            return q[i - 1] + f * (q[i] - q[i - 1]);
        }
    }
    return q[BAND_KNOTS - 1];
}

double drv_cost_band_overrun(double p50, double p90, double p99, double a)
{
    double q[BAND_KNOTS], e = 0;
    band_knots(p50, p90, p99, q);
    for (int i = 1; i < BAND_KNOTS; i++) {
        double w = band_u[i] - band_u[i - 1], q0 = q[i - 1], q1 = q[i];
        if (a <= q0)
            e += w * ((q0 + q1) / 2 - a);
        else if (a < q1) /* the part of the segment above a is a triangle */
            e += w * (q1 - a) / (q1 - q0) * (q1 - a) / 2;
    }
    return e;
}

double drv_cost_band_exceed(double p50, double p90, double p99, double a)
{
    double q[BAND_KNOTS];
    band_knots(p50, p90, p99, q);
    if (a < 0)
        return 1;
    /* the largest u with Q(u) <= a */
    for (int i = BAND_KNOTS - 1; i >= 1; i--) {
        if (a >= q[i])
            return 1 - band_u[i];
        if (a >= q[i - 1]) {
            double f = q[i] > q[i - 1] ? (a - q[i - 1]) / (q[i] - q[i - 1]) : 1;
            return 1 - (band_u[i - 1] + f * (band_u[i] - band_u[i - 1]));
        }
    }
    return 1;
}

void drv_cost_band_moments(double p50, double p90, double p99, double *mean, double *sd)
{
    double q[BAND_KNOTS], m1 = 0, m2 = 0;
    band_knots(p50, p90, p99, q);
    for (int i = 1; i < BAND_KNOTS; i++) {
        double w = band_u[i] - band_u[i - 1], q0 = q[i - 1], q1 = q[i];
        m1 += w * (q0 + q1) / 2;
        m2 += w * (q0 * q0 + q0 * q1 + q1 * q1) / 3;
    }
    double var = m2 - m1 * m1;
    *mean = m1;
    *sd = var > 0 ? sqrt(var) : 0;
}

static double band_at(const struct drv_blueprint *bp, int32_t step, enum drv_res_kind k, double u)
{
    return drv_cost_band_quantile(drv_blueprint_get(bp, step, k, DRV_Q_P50),
                                  drv_blueprint_get(bp, step, k, DRV_Q_P90),
                                  drv_blueprint_get(bp, step, k, DRV_Q_P99), u);
}

double drv_cost_sculpted_alloc(const struct drv_cost_model *m, const struct drv_blueprint *bp,
                               int32_t step, enum drv_res_kind k, double floor, double ceiling)
{
    double a;
    if (bp->alloc && (bp->alloc[(size_t)step * DRV_RES_LAST + (size_t)k] > 0 ||
                      drv_blueprint_get(bp, step, k, DRV_Q_P99) == 0))
        a = bp->alloc[(size_t)step * DRV_RES_LAST + (size_t)k];
    else
        a = band_at(bp, step, k, drv_cost_critical_quantile(m, k));
    if (a < floor)
        a = floor;
    if (ceiling > 0 && a > ceiling)
        a = ceiling;
    return a;
}

static int drv_cost_policy_validate(const struct drv_cost_shape_policy *pol, struct err **err)
{
    if (pol->kind < 0 || pol->kind >= DRV_COST_SHAPE_LAST)
        return err_set(err, ERR_INVALID, "unknown shape policy %d", (int)pol->kind);
    if (drv_res_validate(pol->flavor, err) < 0 || drv_res_validate(pol->floor, err) < 0)
        return err_wrap(err, "shape policy");
    if (!(pol->hysteresis >= 0 && pol->hysteresis < 1))
        return err_set(err, ERR_INVALID, "hysteresis %g outside [0, 1)", pol->hysteresis);
    if (!(pol->presculpted_s >= 0 && pol->presculpted_s <= 366.0 * 86400))
        return err_set(err, ERR_INVALID, "pre-sculpted time %g s out of range", pol->presculpted_s);
    return 0;
}

int drv_cost_estimate(const struct drv_cost_model *m, const struct drv_blueprint *bp,
                      const struct drv_cost_shape_policy *pol, struct drv_cost_terms *out,
                      struct err **err)
{
    if (drv_blueprint_validate(bp, err) < 0 || drv_cost_policy_validate(pol, err) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    double h = bp->step_s / 3600.0;
    double cur[DRV_RES_LAST];

    for (int32_t s = 0; s < bp->nsteps; s++) {
        bool changed = false;
        for (int k = 0; k < DRV_RES_LAST; k++) {
            double a;
            if (pol->flavor.v[k] <= 0)
                continue; /* not limited, hence neither shaped nor priced */
            if (pol->kind == DRV_COST_SHAPE_STATIC) {
                a = pol->flavor.v[k];
            } else {
                double t = drv_cost_sculpted_alloc(m, bp, s, (enum drv_res_kind)k,
                                                   fmin(pol->floor.v[k], pol->flavor.v[k]),
                                                   pol->flavor.v[k]);
                /* the engine's rule: grow at once, shrink past the dead band */
                if (s == 0 || t > cur[k] || t < cur[k] * (1 - pol->hysteresis)) {
                    changed = changed || (s > 0 && t != cur[k]);
                    cur[k] = t;
                }
                a = cur[k];
            }
            double p50 = drv_blueprint_get(bp, s, (enum drv_res_kind)k, DRV_Q_P50);
            double p90 = drv_blueprint_get(bp, s, (enum drv_res_kind)k, DRV_Q_P90);
            double p99 = drv_blueprint_get(bp, s, (enum drv_res_kind)k, DRV_Q_P99);
            out->resource[k] += m->price[k] * a * h;
            out->violation[k] += m->violation[k] * drv_cost_band_overrun(p50, p90, p99, a) * h;
            if (s == 0)
                out->idle += m->idle[k] * a * pol->presculpted_s / 3600.0;
        }
        if (changed)
            out->reshapes++;
    }
    for (int k = 0; k < DRV_RES_LAST; k++) {
        out->resource_total += out->resource[k];
        out->violation_total += out->violation[k];
    }
    out->reshape = out->reshapes * m->reshape;
    out->hours = bp->nsteps * h;
    out->total = out->resource_total + out->violation_total + out->reshape + out->idle;
    return 0;
}
