#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static const char *const err_names[ERR_LAST] = {
    [ERR_INVALID] = "INVALID",
    [ERR_NOT_FOUND] = "NOT_FOUND",
    [ERR_CONFLICT] = "CONFLICT",
    [ERR_UNSUPPORTED] = "UNSUPPORTED",
    [ERR_CAPACITY] = "CAPACITY",
    [ERR_UNAVAILABLE] = "UNAVAILABLE",
    [ERR_TIMEOUT] = "TIMEOUT",
    [ERR_INTERNAL] = "INTERNAL",
};

const char *err_code_name(enum err_code code)
{
    if (code <= 0 || code >= ERR_LAST)
        return "UNKNOWN";
    return err_names[code];
}

enum err_code err_code_of(const struct err *e)
{
    return e ? e->code : 0;
}

static void err_replace(struct err **err, enum err_code code, char *msg)
{
    if (!err) {
        free(msg);
        return;
    }
    err_free(*err);
    struct err *e = xmalloc(sizeof(*e));
    e->code = code;
    e->msg = msg;
    *err = e;
}

int err_set(struct err **err, enum err_code code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    err_replace(err, code, msg);
    return -1;
}

static enum err_code err_code_from_errno(int errnum)
{
    switch (errnum) {
    case ENOENT:
    case ESRCH:
        return ERR_NOT_FOUND;
    case EINVAL:
    case ERANGE:
    case EISDIR:
    case ENOTDIR:
        return ERR_INVALID;
    case EEXIST:
    case EBUSY:
        return ERR_CONFLICT;
    case ENOSPC:
    case ENOMEM:
        return ERR_CAPACITY;
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EAGAIN:
        return ERR_UNAVAILABLE;
    case ETIMEDOUT:
        return ERR_TIMEOUT;
    case ENOTSUP:
        return ERR_UNSUPPORTED;
    default:
        return ERR_INTERNAL;
    }
}

int err_set_errno(struct err **err, int errnum, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", ctx, strerror(errnum));
    free(ctx);
    err_replace(err, err_code_from_errno(errnum), msg);
    return -1;
}

int err_wrap(struct err **err, const char *fmt, ...)
{
    va_list ap;

    if (!err || !*err)
        return -1;
    va_start(ap, fmt);
    char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", ctx, (*err)->msg);
    free(ctx);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void err_free(struct err *e)
{
    if (!e)
        return;
    free(e->msg);
    free(e);
}

void err_clear(struct err **e)
{
    if (!e)
        return;
    err_free(*e);
    *e = NULL;
}
