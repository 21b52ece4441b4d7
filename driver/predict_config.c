/* Settings changed while predictors and the fleet run (PUT
 * /v1/config/predictor, SIGHUP): what can change in place does. */
#include <math.h>
#include <pthread.h>

#include "driver/predict.h"
#include "driver/predict_priv.h"

void drv_predict_day_decay(struct drv_predictor *p)
{
    for (int d = 0; d < PR_DECAY_DAYS; d++)
        p->day_decay[d] = (float)exp2(-d * 86400.0 / p->pc.season_half_life_s);
}

void drv_predictor_set_config(struct drv_predictor *p, const struct drv_predict_config *pc)
{
    int32_t bin = p->pc.season_bin_s; /* sizes the seasonal profile held */
    p->pc = *pc;
    p->pc.season_bin_s = bin;
    drv_predict_day_decay(p);
}

void drv_fleet_set_config(struct drv_fleet *f, const struct drv_predict_config *pc)
{
    pthread_mutex_lock(&f->lock);
    f->pc = *pc;
    pthread_mutex_unlock(&f->lock);
}
