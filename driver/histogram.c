#include "driver/histogram.h"

#include <math.h>
#include <string.h>

/* VPA: epsilon = 0.001 * minSampleWeight (0.1); weights below it are empty. */
#define DRV_HIST_EPSILON 1e-4
/* VPA's maxDecayExponent: shift the reference before 2^x overflows. */
#define DRV_HIST_MAX_DECAY_EXP 100.0

bool drv_hist_init(struct drv_hist *h, double first_bucket, double ratio,
                   double max_value, double half_life_s)
{
    memset(h, 0, sizeof(*h));
    int n = (int)ceil(log(max_value * (ratio - 1) / first_bucket + 1) / log(ratio)) + 1;
    if (n < 1 || n > DRV_HIST_MAX_BUCKETS)
        return false;
    h->first_bucket = first_bucket;
    h->ratio = ratio;
    h->nbuckets = n;
    h->half_life_s = half_life_s;
    h->ref_t = INT64_MIN;
    h->min_b = n - 1;
    h->max_b = 0;
    return true;
}

int drv_hist_bucket(const struct drv_hist *h, double value)
{
    if (value < h->first_bucket)
        return 0;
    int b = (int)(log(value * (h->ratio - 1) / h->first_bucket + 1) / log(h->ratio));
    return b >= h->nbuckets ? h->nbuckets - 1 : b;
}

double drv_hist_bucket_start(const struct drv_hist *h, int bucket)
{
    if (bucket <= 0)
        return 0;
    return h->first_bucket * (pow(h->ratio, bucket) - 1) / (h->ratio - 1);
}

/* histogram.go updateMinAndMaxBucket: shrink the range past buckets that
 * fell below epsilon. */
static void drv_hist_update_range(struct drv_hist *h)
{
    int last = h->nbuckets - 1;
    while (h->w[h->min_b] < DRV_HIST_EPSILON && h->min_b < last)
        h->min_b++;
    while (h->w[h->max_b] < DRV_HIST_EPSILON && h->max_b > 0)
        h->max_b--;
}

static void drv_hist_scale(struct drv_hist *h, double f)
{
    for (int b = h->min_b; b <= h->max_b; b++)
        h->w[b] *= f;
    h->total *= f;
    drv_hist_update_range(h);
}

/* The weight multiplier of a sample at t (decaying_histogram.go decayFactor:
 * time rounded down to the hour, reference shifted in whole half-lives). */
static double drv_hist_decay(struct drv_hist *h, int64_t t)
{
    if (h->half_life_s <= 0)
        return 1.0;
    int64_t rounded = t - (((t % 3600) + 3600) % 3600);
    int64_t hl = (int64_t)h->half_life_s;
    if (h->ref_t == INT64_MIN) {
        h->ref_t = (int64_t)llround((double)rounded / (double)hl) * hl;
    }
    double exponent = (double)(rounded - h->ref_t) / h->half_life_s;
    if (exponent > DRV_HIST_MAX_DECAY_EXP) {
        int64_t new_ref = (int64_t)llround((double)rounded / (double)hl) * hl;
        double shift = round((double)(h->ref_t - new_ref) / h->half_life_s);
        drv_hist_scale(h, exp2(shift));
        h->ref_t = new_ref;
        exponent = (double)(rounded - h->ref_t) / h->half_life_s;
    }
    return exp2(exponent);
}

void drv_hist_add(struct drv_hist *h, double value, double weight, int64_t t)
{
    double w = weight * drv_hist_decay(h, t);
    int b = drv_hist_bucket(h, value);
    h->w[b] += w;
    h->total += w;
    if (b < h->min_b && h->w[b] >= DRV_HIST_EPSILON)
        h->min_b = b;
    if (b > h->max_b && h->w[b] >= DRV_HIST_EPSILON)
        h->max_b = b;
}

void drv_hist_subtract(struct drv_hist *h, double value, double weight, int64_t t)
{
    int b = drv_hist_bucket(h, value);
    double w = fmin(weight * drv_hist_decay(h, t), h->w[b]);
    h->w[b] -= w;
    h->total -= w;
    if (h->w[b] < DRV_HIST_EPSILON)
        drv_hist_update_range(h);
}

bool drv_hist_empty(const struct drv_hist *h)
{
    return h->total < DRV_HIST_EPSILON;
}

double drv_hist_percentile(const struct drv_hist *h, double p)
{
    if (drv_hist_empty(h))
        return 0;
    double partial = 0, threshold = p * h->total;
    int b = h->min_b;
    for (; b < h->max_b; b++) {
        partial += h->w[b];
        if (partial >= threshold)
            break;
    }
    if (b < h->nbuckets - 1)
        return drv_hist_bucket_start(h, b + 1);
    return drv_hist_bucket_start(h, b);
}
