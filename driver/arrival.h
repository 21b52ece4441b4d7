/* Request-arrival traces read from the public datasets (Azure V1 VM
 * arrivals, Azure Functions 2019, Alibaba 2017 batch tasks), gzip read in
 * place, for replaying build requests through pre-sculpting policies.
 *
 * Every format becomes the same thing: classes of request (what one guest
 * asks for), each in a group of classes whose guests differ only in memory
 * (a pre-sculpted member of the group can be re-sculpted to any of them at
 * hand-over), and arrival records in time order.  A record is `count`
 * guests of one class arriving together (one tenant's batch, one minute of
 * a function, one task's instances) with their lifetime where the trace
 * knows it.
 */
#ifndef SC_DRIVER_ARRIVAL_H
#define SC_DRIVER_ARRIVAL_H

#include <stddef.h>
#include <stdint.h>

#include "driver/resource.h"

struct err;

enum drv_arrival_format {
    DRV_ARRIVAL_AZURE,      /* "azure-arrivals": v1.<split>.txt.gz (+ .c<T> lifetimes) */
    DRV_ARRIVAL_FUNCTIONS,  /* "azure-functions": <n>_inv/_run/_mem.csv.gz */
    DRV_ARRIVAL_ALIBABA,    /* "alibaba-batch": batch_task.csv.gz */
    DRV_ARRIVAL_FORMAT_LAST,
};

struct drv_arrival_class {
    char *key;              /* the flavor ("b"), function hash, or "cpu=50,mem=0.0054" */
    uint32_t group;         /* index into the trace's groups */
    struct drv_res size;    /* one guest's request: vcpu and mem_mib */
};

struct drv_arrival_group {
    char *key;              /* "vcpu=1", "cpu=50", or the function itself */
    uint32_t family;        /* index into the trace's families */
};

/* Groups whose guests differ in vCPUs too (same image and project): a
 * member of one can be re-sculpted live (vCPU hot-plug, balloon) to any
 * of their classes at hand-over. */
struct drv_arrival_family {
    char *key;              /* "vm" (Azure), "batch" (Alibaba), or the function */
};

struct drv_arrival {
    int64_t t;              /* arrival (s from the trace's origin; may be < 0) */
    uint32_t cls;           /* index into classes */
    uint32_t count;         /* guests in this record, >= 1 */
    float lifetime_s;       /* NAN when the trace does not say */
};

struct drv_arrival_trace {
    enum drv_arrival_format format;
    int32_t bin_s;          /* resolution of arrival times (300, 60, 1) */
    int64_t t_end;          /* end of observation: guests still running are cut here */
    int64_t score_from;     /* first arrival time with a known lifetime; INT64_MAX: none */
    size_t nclasses;
    struct drv_arrival_class *classes;
    size_t ngroups;
    struct drv_arrival_group *groups;
    size_t nfamilies;
    struct drv_arrival_family *families;
    size_t narr;
    struct drv_arrival *arr; /* sorted by t; ties keep the trace's order */
    uint64_t guests;        /* sum of counts */
    size_t files;           /* files read */
    size_t rows;            /* data rows (lines, CSV rows) read */
    size_t rows_dropped;    /* rows that request nothing replayable (no size) */
};

/* Load the dataset folder `dir` as its SOURCE.md describes it.  Returns a
 * trace the caller frees with drv_arrival_trace_free(), or NULL with *err
 * naming the file (and line) at fault. */
struct drv_arrival_trace *drv_arrival_load(enum drv_arrival_format format, const char *dir,
                                           struct err **err);
void drv_arrival_trace_free(struct drv_arrival_trace *tr);

/* "azure-arrivals", "azure-functions", "alibaba-batch"; parse returns -1
 * when unknown. */
const char *drv_arrival_format_name(enum drv_arrival_format f);
int drv_arrival_format_parse(const char *name);

#endif
