/* Allocation wrappers and cleanup helpers.
 *
 * Out of memory aborts inside the wrappers (crun's xmalloc/OOM()): callers
 * never check for NULL.  Cleanup attributes make ownership visible at the
 * declaration: `autofree char *s = ...` is freed when it goes out of scope
 * unless handed over with steal_pointer(&s).
 */
#ifndef SC_COMMON_ALLOC_H
#define SC_COMMON_ALLOC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h> /* free(), for every user of these wrappers */

void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
/* Grow an array of n elements of `size` each; aborts on overflow. */
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Cleanup helpers for the attributes below. */
void freep(void *p);   /* p is a pointer to a pointer to free() */
void closep(int *fd);  /* closes *fd when >= 0 */

#define autofree __attribute__((cleanup(freep)))
#define autoclose __attribute__((cleanup(closep)))

/* autoptr(type) frees with type_free(); declare the pairing next to the
 * type's _free with DEFINE_AUTOPTR(type). */
#define DEFINE_AUTOPTR(type)                                                 \
    static inline void type##_autoptr_cleanup(struct type **p)               \
    {                                                                        \
        if (p && *p)                                                         \
            type##_free(*p);                                                 \
    }
#define autoptr(type) __attribute__((cleanup(type##_autoptr_cleanup))) struct type *

/* Hand over ownership: returns *pp and sets it to NULL. */
#define steal_pointer(pp)                                                    \
    __extension__({                                                          \
        __typeof__(*(pp)) steal_tmp_ = *(pp);                                \
        *(pp) = NULL;                                                        \
        steal_tmp_;                                                          \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
