/* Internals of the pool replay, tested through tests/unit. */
#ifndef SC_DRIVER_PRESCULPT_REPLAY_PRIV_H
#define SC_DRIVER_PRESCULPT_REPLAY_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "driver/presculpt_replay.h"

/* The hybrid histogram baseline (presculpt_hybrid.c): per class, the
 * pool it wants in interval `bin` given the active intervals observed. */
struct drv_hybrid;
struct drv_hybrid *drv_hybrid_new(size_t nclasses, int64_t bin_s);
void drv_hybrid_free(struct drv_hybrid *h);
/* Class `cls` had `count` requests in interval `bin` (count 0: ignored). */
void drv_hybrid_observe(struct drv_hybrid *h, size_t cls, int64_t bin, uint32_t count);
uint32_t drv_hybrid_target(const struct drv_hybrid *h, size_t cls, int64_t bin);

#endif
