/* Per-VM usage traces read from the public datasets (Bitbrains GWA-T-12,
 * Azure V1 CPU, Alibaba 2018 machines), gzip read in place.
 *
 * Every format becomes the same thing: per VM, samples in time order, each
 * with the use and the provisioned size of the four replay resources.  The
 * readers honour the caveats each dataset's SOURCE.md lists (duplicate
 * timestamps merged, gaps kept as gaps, zero-core rows dropped).
 */
#ifndef SC_DRIVER_TRACE_H
#define SC_DRIVER_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

enum drv_trace_format {
    DRV_TRACE_BITBRAINS,
    DRV_TRACE_AZURE_CPU,
    DRV_TRACE_ALIBABA_MACHINES,
    DRV_TRACE_FORMAT_LAST,
};

/* The four resources a replay compares.  Units: cpu in vCPUs (Azure: in
 * units of the VM's size), memory in MiB, net in Mbit/s (in + out), disk
 * in MB/s (read + write); Alibaba's normalized figures are documented in
 * trace_alibaba.c. */
enum drv_trace_res {
    DRV_TR_CPU,
    DRV_TR_MEMORY,
    DRV_TR_NET,
    DRV_TR_DISK,
    DRV_TR_LAST,
};

struct drv_trace_vm {
    char *id;                   /* the dataset's VM or machine id */
    size_t n;                   /* samples */
    int64_t *t;                 /* sample time (s), strictly increasing */
    float *use[DRV_TR_LAST];    /* observed use; NULL where the trace lacks it */
    float *cap[DRV_TR_LAST];    /* provisioned size at each sample; NULL likewise */
    float *cpu_avg;             /* Azure: the 5-minute average CPU; else NULL */
};

struct drv_trace {
    enum drv_trace_format format;
    int32_t step_s;             /* nominal sampling interval */
    size_t nvms;
    struct drv_trace_vm *vms;   /* sorted by id (numerically where ids are numbers) */
    bool has[DRV_TR_LAST];      /* which resources the format carries */
    size_t files;               /* usage files read */
    size_t rows;                /* data rows read */
    size_t rows_dropped;        /* rows not replayed (zero cores, unparsable) */
    size_t rows_merged;         /* duplicate-timestamp rows merged */
    size_t vms_dropped;         /* VMs with no replayable row */
};

/* Progress callback: called now and then while loading (done of total
 * files).  May be NULL. */
typedef void (*drv_trace_progress_fn)(size_t done, size_t total, void *opaque);

/* Load every usage file named by `paths` (files, or folders whose
 * *.csv / *.csv.gz files directly inside are read).  Returns a trace the
 * caller frees with drv_trace_free(), or NULL with *err naming the file
 * (and line) that could not be read. */
struct drv_trace *drv_trace_load(enum drv_trace_format format,
                                 const char *const *paths, size_t npaths,
                                 drv_trace_progress_fn progress, void *opaque,
                                 struct err **err);
void drv_trace_free(struct drv_trace *tr);

/* "bitbrains", "azure-cpu", "alibaba-machines"; parse returns -1 when
 * unknown. */
const char *drv_trace_format_name(enum drv_trace_format f);
int drv_trace_format_parse(const char *name);
/* "cpu", "memory", "net", "disk". */
const char *drv_trace_res_name(enum drv_trace_res r);

/* Total samples over all VMs. */
size_t drv_trace_samples(const struct drv_trace *tr);

#endif
