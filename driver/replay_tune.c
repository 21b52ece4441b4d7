/* --tune-baselines: bring a baseline to the operator's SLO before comparing
 * it, so policies are compared at the same violation rate and not wherever
 * their defaults land.
 *
 * Per resource (a policy's resources are independent: the state of one never
 * reads another's margin), the margin is bisected to the smallest value
 * whose violation rate is within the target, for each candidate percentile;
 * the percentile with the least slack wins.  All resources and percentiles
 * share each replay pass, so a search costs ~20 passes whatever their
 * number.
 */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/replay.h"

/* Margins are searched in [TUNE_MARGIN_MIN, TUNE_MARGIN_MAX]: -0.9 lets an
 * over-provisioning default come down to a tenth of its figure; 1e4 is
 * beyond any provisioned size (the replay clips there), where every policy
 * meets any SLO. */
#define TUNE_MARGIN_MIN (-0.9)
#define TUNE_MARGIN_MAX 1e4
/* Bisection steps on log(1 + margin): from a range of ~11.5 down to 0.005%. */
#define TUNE_STEPS 18
#define TUNE_MAX_PERCENTILES 16

struct tune_point {
    double lo, hi;             /* log(1+m): lo violates (or is the floor), hi meets */
    bool lo_is_floor_ok;       /* the floor itself meets the SLO */
};

static double tune_margin(double x)
{
    return expm1(x);
}

/* One pass: every (percentile, resource) at its current probe margin. */
static int tune_pass(const struct drv_trace *tr, const struct drv_policy_ops *ops,
                     const struct drv_policy_params *base, const double *pcts, size_t np,
                     double probe[][DRV_TR_LAST], struct drv_replay_result *res,
                     struct err **err)
{
    struct drv_replay_entry e[TUNE_MAX_PERCENTILES];
    for (size_t i = 0; i < np; i++) {
        e[i].ops = ops;
        e[i].params = *base;
        e[i].params.per_res = true;
        e[i].label = NULL;
        for (int k = 0; k < DRV_TR_LAST; k++) {
            e[i].params.res_margin[k] = tune_margin(probe[i][k]);
            e[i].params.res_percentile[k] = pcts[i];
        }
    }
    return drv_replay_run(tr, e, np, NULL, NULL, res, err);
}

int drv_replay_tune(const struct drv_trace *tr, const struct drv_policy_ops *ops,
                    const struct drv_policy_params *base, const double *percentiles,
                    size_t npercentiles, double target, struct drv_policy_params *out,
                    struct err **err)
{
    double own = -1;
    const double *pcts = npercentiles ? percentiles : &own;
    size_t np = npercentiles ? npercentiles : 1;
    struct tune_point pt[TUNE_MAX_PERCENTILES][DRV_TR_LAST];
    double probe[TUNE_MAX_PERCENTILES][DRV_TR_LAST];
    struct drv_replay_result res;

    if (np > TUNE_MAX_PERCENTILES)
        return err_set(err, ERR_INVALID, "at most %d percentiles to tune",
                       TUNE_MAX_PERCENTILES);
    if (!(target >= 0 && target < 1))
        return err_set(err, ERR_INVALID, "target violation rate %g outside [0, 1)", target);

    /* the floor first: where even it meets the SLO, there is nothing to search */
    for (size_t i = 0; i < np; i++)
        for (int k = 0; k < DRV_TR_LAST; k++) {
            pt[i][k].lo = log1p(TUNE_MARGIN_MIN);
            pt[i][k].hi = log1p(TUNE_MARGIN_MAX);
            probe[i][k] = pt[i][k].lo;
        }
    if (tune_pass(tr, ops, base, pcts, np, probe, &res, err) < 0)
        return err_wrap(err, "tune `%s`", ops->name);
    for (size_t i = 0; i < np; i++)
        for (int k = 0; k < DRV_TR_LAST; k++) {
            pt[i][k].lo_is_floor_ok =
                drv_replay_violation_rate(&res.policies[i].res[k]) <= target;
            if (pt[i][k].lo_is_floor_ok)
                pt[i][k].hi = pt[i][k].lo;
        }
    drv_replay_result_release(&res);

    for (int step = 0; step < TUNE_STEPS; step++) {
        for (size_t i = 0; i < np; i++)
            for (int k = 0; k < DRV_TR_LAST; k++)
                probe[i][k] = (pt[i][k].lo + pt[i][k].hi) / 2;
        if (tune_pass(tr, ops, base, pcts, np, probe, &res, err) < 0)
            return err_wrap(err, "tune `%s`", ops->name);
        for (size_t i = 0; i < np; i++)
            for (int k = 0; k < DRV_TR_LAST; k++) {
                if (pt[i][k].lo_is_floor_ok)
                    continue;
                if (drv_replay_violation_rate(&res.policies[i].res[k]) <= target)
                    pt[i][k].hi = probe[i][k];
                else
                    pt[i][k].lo = probe[i][k];
            }
        drv_replay_result_release(&res);
    }

    /* every percentile at its feasible margin; keep the least slack */
    for (size_t i = 0; i < np; i++)
        for (int k = 0; k < DRV_TR_LAST; k++)
            probe[i][k] = pt[i][k].hi;
    if (tune_pass(tr, ops, base, pcts, np, probe, &res, err) < 0)
        return err_wrap(err, "tune `%s`", ops->name);
    *out = *base;
    out->per_res = true;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        size_t best = 0;
        for (size_t i = 1; i < np; i++)
            if (drv_replay_slack(&res.policies[i].res[k]) <
                drv_replay_slack(&res.policies[best].res[k]))
                best = i;
        out->res_margin[k] = tune_margin(probe[best][k]);
        out->res_percentile[k] = pcts[best];
    }
    drv_replay_result_release(&res);
    return 0;
}
