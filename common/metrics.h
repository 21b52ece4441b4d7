/* A Prometheus metrics registry for the whole process.
 *
 * Any layer registers a family once (counter, gauge or histogram, with
 * label names) and then updates series by label values; the API renders the
 * registry in Prometheus' text exposition format at GET /metrics.  Every
 * function is thread-safe: families are registered under one lock and each
 * family's series are updated under the family's own lock.
 *
 *     static struct metrics_family *rpc_seconds;
 *     rpc_seconds = metrics_histogram("sculpt_rpc_seconds", "RPC handling time.",
 *                                     "method", metrics_latency_buckets,
 *                                     METRICS_LATENCY_NBUCKETS);
 *     metrics_observe(rpc_seconds, 0.012, METRICS_LABELS("build_and_run_instance"));
 *
 * Values that describe state rather than events (guests, allocated vCPUs)
 * are best set by a collector: a callback run before every render.
 */
#ifndef SC_COMMON_METRICS_H
#define SC_COMMON_METRICS_H

#include <stddef.h>

struct metrics_family;

#define METRICS_MAX_LABELS 8
#define METRICS_MAX_BUCKETS 32

/* Label values for one series, in the order the family named them. */
#define METRICS_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Upper bounds (seconds) suited to request latencies: 0.5 ms to 10 s. */
#define METRICS_LATENCY_NBUCKETS 14
extern const double metrics_latency_buckets[METRICS_LATENCY_NBUCKETS];

/* Register a family, or return the one already registered under `name`.
 * `labels` is a comma-separated list of label names ("method,route"), "" or
 * NULL for none.  Histograms take their ascending finite upper bounds (the
 * +Inf bucket is implicit; at most METRICS_MAX_BUCKETS).  Names follow
 * Prometheus' rules.  Registering one name twice with another type or other
 * labels is a programming error and aborts.  The family lives until
 * metrics_reset(); callers keep the pointer, they never free it. */
struct metrics_family *metrics_counter(const char *name, const char *help, const char *labels);
struct metrics_family *metrics_gauge(const char *name, const char *help, const char *labels);
struct metrics_family *metrics_histogram(const char *name, const char *help, const char *labels,
                                         const double *bounds, size_t nbounds);

/* Update the series named by `values` (one per label, NULL when the family
 * has none), creating it at zero the first time.  Values are copied.
 * metrics_add() on a counter ignores negative increments; metrics_set() is
 * for gauges; metrics_observe() for histograms.  A call of the wrong kind is
 * ignored. */
void metrics_add(struct metrics_family *f, double v, const char *const *values);
void metrics_set(struct metrics_family *f, double v, const char *const *values);
void metrics_observe(struct metrics_family *f, double v, const char *const *values);

/* For a counter whose total another component keeps (an engine's count of
 * reshapes read by a collector): set the series to `total` unless that
 * would lower it. */
void metrics_set_total(struct metrics_family *f, double total, const char *const *values);

/* Drop every series of a family (a gauge whose label sets come and go,
 * such as one per guest, is cleared and set again by its collector). */
void metrics_clear(struct metrics_family *f);

/* The current value of a counter or gauge series (0 when it does not exist),
 * or the number of observations of a histogram series.  For tests and for
 * callers that derive one figure from another. */
double metrics_value(struct metrics_family *f, const char *const *values);

/* A callback run (without any registry lock held) at the start of every
 * metrics_render(), to set gauges from live state.  Returns an id for
 * metrics_collector_remove(). */
int metrics_collector_add(void (*fn)(void *ctx), void *ctx);
void metrics_collector_remove(int id);

/* The whole registry in Prometheus text format 0.0.4.  Caller frees. */
char *metrics_render(void);

/* Forget every family and collector (tests; callers' pointers dangle). */
void metrics_reset(void);

#endif
