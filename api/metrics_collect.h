/* The figures /metrics shows about the host, its guests and the pools,
 * read from the components at every scrape (a metrics collector).  Events
 * (requests, RPCs) are counted where they happen, and the database layer
 * reports its own series. */
#ifndef SC_API_METRICS_COLLECT_H
#define SC_API_METRICS_COLLECT_H

struct api_deps;

/* Register the families and a collector reading `deps` (borrowed until
 * api_metrics_collect_stop()).  Returns the collector id. */
int api_metrics_collect_start(const struct api_deps *deps);
void api_metrics_collect_stop(int id);

#endif
