/* One error type for the whole project.
 *
 * The contract is crun's (design-docs/error_handling.md): a function that can
 * fail takes `struct err **err` as its last parameter and returns -1 (or
 * NULL).  On failure it sets *err to a code and an allocated message; on
 * success it leaves *err alone.  The error is reported once, where it is
 * finally handled; callers add context with err_wrap() or pass it on.
 */
#ifndef SC_COMMON_ERR_H
#define SC_COMMON_ERR_H

#include <stdbool.h>

enum err_code {
    ERR_INVALID = 1,  /* bad input: malformed message, out-of-range value */
    ERR_NOT_FOUND,    /* no such instance, blueprint, file... */
    ERR_CONFLICT,     /* state does not allow it (wrong task state, exists) */
    ERR_UNSUPPORTED,  /* a valid request we do not implement */
    ERR_CAPACITY,     /* the host cannot hold it (admission refused) */
    ERR_UNAVAILABLE,  /* a service we need is down; retrying may help */
    ERR_TIMEOUT,      /* we gave up waiting */
    ERR_INTERNAL,     /* a bug or an unexpected library failure */
    ERR_LAST,
};

struct err {
    enum err_code code;
    char *msg;        /* owned; human readable, values quoted */
};

/* Set *err (when err is not NULL) to a new error.  If *err already holds an
 * error, the old one is freed: the newest failure wins.  Always returns -1
 * so callers can write `return err_set(err, ERR_INVALID, "...")`. */
int err_set(struct err **err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message of *err with context ("context: old message").  The
 * code is kept.  No-op when err or *err is NULL.  Returns -1. */
int err_wrap(struct err **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set *err from errno-style failure: message is "fmt: strerror(errnum)".
 * The code is derived from errnum (ENOENT -> NOT_FOUND, ...).  Returns -1. */
int err_set_errno(struct err **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Free an error; accepts NULL. */
void err_free(struct err *e);

/* Convenience for cleanup attributes: frees *e and sets it to NULL. */
void err_clear(struct err **e);

/* Stable upper-case name of a code ("INVALID"), for logs and wire formats. */
const char *err_code_name(enum err_code code);

/* The code of *err, or 0 when err or *err is NULL. */
enum err_code err_code_of(const struct err *e);

#define autoerr __attribute__((cleanup(err_clear)))

#endif
