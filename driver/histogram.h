/* An exponentially-bucketed histogram whose samples decay with a
 * half-life: the Kubernetes VPA recommender's decaying histogram
 * (vertical-pod-autoscaler/pkg/recommender/util/histogram.go and
 * decaying_histogram.go), kept bucket-for-bucket compatible so the `vpa`
 * baseline is VPA and not an approximation of it.
 */
#ifndef SC_DRIVER_HISTOGRAM_H
#define SC_DRIVER_HISTOGRAM_H

#include <stdbool.h>
#include <stdint.h>

#define DRV_HIST_MAX_BUCKETS 512

struct drv_hist {
    double first_bucket;   /* size of bucket 0 */
    double ratio;          /* each bucket is `ratio` times the previous */
    int nbuckets;
    double half_life_s;    /* <= 0: no decay */
    int64_t ref_t;         /* reference time of weight 1 (s); INT64_MIN unset */
    double total;
    int min_b, max_b;      /* range of non-empty buckets */
    double w[DRV_HIST_MAX_BUCKETS];
};

/* Buckets cover [0, max_value]; the last is open-ended.  Returns false when
 * that would need more than DRV_HIST_MAX_BUCKETS buckets. */
bool drv_hist_init(struct drv_hist *h, double first_bucket, double ratio,
                   double max_value, double half_life_s);

int drv_hist_bucket(const struct drv_hist *h, double value);
double drv_hist_bucket_start(const struct drv_hist *h, int bucket);

/* Add (or, with a negative weight, subtract) a sample taken at time t. */
void drv_hist_add(struct drv_hist *h, double value, double weight, int64_t t);
void drv_hist_subtract(struct drv_hist *h, double value, double weight, int64_t t);

bool drv_hist_empty(const struct drv_hist *h);
/* VPA's Percentile(): the end of the bucket where the cumulative weight
 * reaches p of the total (0 when empty). */
double drv_hist_percentile(const struct drv_hist *h, double p);

#endif
