/* Internals shared by the arrival-trace readers; tested through
 * tests/unit/test_arrival.c. */
#ifndef SC_DRIVER_ARRIVAL_PRIV_H
#define SC_DRIVER_ARRIVAL_PRIV_H

#include <stdbool.h>

#include "driver/arrival.h"

struct err;
struct strmap;

/* Assembles a trace while a reader runs: interns classes and groups,
 * collects records.  One per load. */
struct drv_arrival_builder {
    struct drv_arrival_trace *tr;   /* owned until finish */
    struct strmap *class_ix;
    struct strmap *group_ix;
    struct strmap *family_ix;
    size_t class_cap, group_cap, family_cap, arr_cap;
};

void drv_arrival_builder_init(struct drv_arrival_builder *b, enum drv_arrival_format f,
                              int32_t bin_s);
/* The index of class `key` (added with `group_key` and `size` when new;
 * an existing class keeps its first group and size).  A new group joins
 * family `family_key` (an existing group keeps its first family). */
uint32_t drv_arrival_builder_class(struct drv_arrival_builder *b, const char *key,
                                   const char *group_key, const char *family_key,
                                   const struct drv_res *size);
/* Append `count` guests of class `cls` arriving at t.  count 0 is ignored. */
void drv_arrival_builder_push(struct drv_arrival_builder *b, int64_t t, uint32_t cls,
                              uint32_t count, float lifetime_s);
/* Sort the records by time (stably), fill the summary fields and hand the
 * trace over; the builder is empty afterwards. */
struct drv_arrival_trace *drv_arrival_builder_finish(struct drv_arrival_builder *b);
/* Drop everything (after a failed read). */
void drv_arrival_builder_release(struct drv_arrival_builder *b);

/* `dir/name` if it exists as name or name.gz: returns the path (caller
 * frees) or NULL. */
char *drv_arrival_find_file(const char *dir, const char *name);

/* Per-format readers: read the dataset folder into the builder.  Return 0,
 * or -1 with *err naming file:line. */
int drv_arrival_read_azure(const char *dir, struct drv_arrival_builder *b, struct err **err);
int drv_arrival_read_functions(const char *dir, struct drv_arrival_builder *b,
                               struct err **err);
int drv_arrival_read_alibaba(const char *dir, struct drv_arrival_builder *b,
                             struct err **err);

/* Azure lifetime token ("U13", "C38") as seconds for a VM that arrived at
 * t in a split observed until t_end: U<k> is the representative lifetime
 * of bin k (`rep`, indexed by bin, nrep entries), C<k> runs to t_end.
 * Returns false when the token is malformed or k is unknown. */
bool drv_arrival_azure_lifetime(const char *tok, const double *rep, size_t nrep, int64_t t,
                                int64_t t_end, float *out);

#endif
