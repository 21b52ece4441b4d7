/* A map from strings to small integers (indices into an array the caller
 * keeps), for interning keys such as request classes.  Open addressing
 * with FNV-1a; keys are copied.  Not thread-safe: one owner. */
#ifndef SC_COMMON_STRMAP_H
#define SC_COMMON_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

struct strmap;

struct strmap *strmap_new(void);
/* Frees the map and its key copies; accepts NULL. */
void strmap_free(struct strmap *m);
DEFINE_AUTOPTR(strmap)

/* The value stored for key, or -1. */
int64_t strmap_get(const struct strmap *m, const char *key);
/* Store key -> value (value >= 0), replacing any previous value. */
void strmap_put(struct strmap *m, const char *key, int64_t value);
/* The same with a key of n bytes (need not be NUL-terminated). */
int64_t strmap_get_len(const struct strmap *m, const char *key, size_t n);
void strmap_put_len(struct strmap *m, const char *key, size_t n, int64_t value);
size_t strmap_size(const struct strmap *m);

#endif
