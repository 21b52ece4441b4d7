/* Fractional resource vectors: the unit of everything sculpt allocates.
 *
 * A guest's need, its shape and a host's capacity are all a drv_res: one
 * float per dimension (0.35 vCPU, 1536 MiB, 120 Mbit/s, 800 IOPS), never a
 * flavor integer.  Functions here are pure and allocation-free.
 */
#ifndef SC_DRIVER_RESOURCE_H
#define SC_DRIVER_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>

struct err;

enum drv_res_kind {
    DRV_RES_VCPU,            /* vCPUs (1.0 = one host CPU fully busy) */
    DRV_RES_MEM_MIB,         /* MiB */
    DRV_RES_NET_IN_MBPS,     /* Mbit/s received by the guest */
    DRV_RES_NET_OUT_MBPS,    /* Mbit/s sent by the guest */
    DRV_RES_DISK_READ_IOPS,  /* read operations/s */
    DRV_RES_DISK_WRITE_IOPS, /* write operations/s */
    DRV_RES_DISK_READ_MBPS,  /* MB/s read */
    DRV_RES_DISK_WRITE_MBPS, /* MB/s written */
    DRV_RES_LAST,
};

struct drv_res {
    double v[DRV_RES_LAST];
};

/* Largest value any dimension may hold: far above any real host (2^40 MiB
 * is a exbibyte), low enough that sums of thousands of guests stay exact
 * enough in a double.  Inputs above it are rejected, not clamped. */
#define DRV_RES_MAX 1099511627776.0

/* Short stable name ("vcpu", "mem_mib", "net_in_mbps"...) used in config,
 * JSON and logs, and its unit ("vCPU", "MiB", "Mbit/s"...). */
const char *drv_res_kind_name(enum drv_res_kind k);
const char *drv_res_kind_unit(enum drv_res_kind k);
/* Returns the kind for a name, or -1. */
int drv_res_kind_parse(const char *name);

static inline struct drv_res drv_res_zero(void)
{
    struct drv_res r = {{0}};
    return r;
}

struct drv_res drv_res_add(struct drv_res a, struct drv_res b);
struct drv_res drv_res_sub(struct drv_res a, struct drv_res b);
struct drv_res drv_res_scale(struct drv_res a, double f);
/* Per-dimension multiply: a.v[i] * f.v[i]. */
struct drv_res drv_res_mul(struct drv_res a, struct drv_res f);
struct drv_res drv_res_max(struct drv_res a, struct drv_res b);
struct drv_res drv_res_min(struct drv_res a, struct drv_res b);
/* Negative dimensions become 0. */
struct drv_res drv_res_clamp_nonneg(struct drv_res a);

/* a <= b in every dimension (with a relative tolerance of 1e-9 so sums
 * that equal a capacity in exact arithmetic still fit). */
bool drv_res_le(struct drv_res a, struct drv_res b);
bool drv_res_eq(struct drv_res a, struct drv_res b, double tol);
bool drv_res_is_zero(struct drv_res a);

/* Does `need` fit in `cap`?  When it does not and `over` is given, *over
 * is the dimension with the largest relative excess and *by the amount it
 * is over (in that dimension's unit). */
bool drv_res_fits(struct drv_res need, struct drv_res cap,
                  enum drv_res_kind *over, double *by);

/* Every dimension finite, >= 0 and <= DRV_RES_MAX.  Otherwise -1 with *err
 * naming the dimension and the value ("`mem_mib` is -3"). */
int drv_res_validate(struct drv_res a, struct err **err);

/* Parse "vcpu=0.35,mem_mib=1536,net_in_mbps=120"; unnamed dimensions are
 * 0.  Rejects unknown names, duplicates and invalid numbers.  Returns 0 or
 * -1 with *err. */
int drv_res_parse(const char *text, struct drv_res *out, struct err **err);

/* Format non-zero dimensions as "vcpu=0.35,mem_mib=1536" ("0" when all are
 * zero) into buf; returns buf. */
char *drv_res_format(struct drv_res a, char *buf, size_t size);

#endif
