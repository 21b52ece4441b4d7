/* Line reading and number parsing for the trace readers.  The traces are
 * hundreds of MB of CSV once inflated; this is the hot path of a replay's
 * load, so it avoids stdio and strtod. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/trace_priv.h"

#define DRV_LINES_CHUNK (256 * 1024)
#define DRV_LINES_MAX (1024 * 1024) /* longer lines are malformed input */

struct drv_lines {
    gzFile gz;
    char *path;
    char *buf;      /* [start, end) holds unread bytes */
    size_t start, end, cap;
    size_t lineno;
    bool eof;
};

struct drv_lines *drv_lines_open(const char *path, struct err **err)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        err_set_errno(err, errno ? errno : EIO, "open trace `%s`", path);
        return NULL;
    }
    gzbuffer(gz, 128 * 1024);
    struct drv_lines *l = xzalloc(sizeof(*l));
    l->gz = gz;
    l->path = xstrdup(path);
    l->cap = DRV_LINES_CHUNK;
    l->buf = xmalloc(l->cap + 1);
    return l;
}

void drv_lines_close(struct drv_lines *l)
{
    if (!l)
        return;
    gzclose(l->gz);
    free(l->path);
    free(l->buf);
    free(l);
}

size_t drv_lines_lineno(const struct drv_lines *l)
{
    return l->lineno;
}

/* Move unread bytes to the front and read more.  Returns 1 when bytes were
 * read, 0 at the end of the file, -1 with *err on a read error. */
static int drv_lines_fill(struct drv_lines *l, struct err **err)
{
    if (l->start > 0) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
    }
    if (l->end == l->cap) {
        if (l->cap >= DRV_LINES_MAX)
            return err_set(err, ERR_INVALID, "%s:%zu: line longer than %d bytes", l->path,
                           l->lineno + 1, DRV_LINES_MAX);
        l->cap *= 2;
        l->buf = xrealloc(l->buf, l->cap + 1);
    }
    int n = gzread(l->gz, l->buf + l->end, (unsigned)(l->cap - l->end));
    if (n < 0) {
        int zerr;
        return err_set(err, ERR_INVALID, "%s: read failed: %s", l->path,
                       gzerror(l->gz, &zerr));
    }
    if (n == 0) {
        l->eof = true;
        return 0;
    }
    l->end += (size_t)n;
    return 1;
}

char *drv_lines_next(struct drv_lines *l, size_t *len, struct err **err)
{
    for (;;) {
        char *s = l->buf + l->start;
        char *nl = memchr(s, '\n', l->end - l->start);
        if (nl || (l->eof && l->end > l->start)) {
            char *e = nl ? nl : l->buf + l->end;
            size_t n = (size_t)(e - s);
            l->start = nl ? (size_t)(nl - l->buf) + 1 : l->end;
            if (n > 0 && s[n - 1] == '\r')
                n--;
            s[n] = '\0';
            l->lineno++;
            if (len)
                *len = n;
            return s;
        }
        if (l->eof || drv_lines_fill(l, err) < 0)
            return NULL;
    }
}

size_t drv_split_fields(char *line, char sep, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *f = p;
        while (*p && *p != sep)
            p++;
        char *e = p;
        while (e > f && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        bool last = *p == '\0';
        *e = '\0';
        if (n < max)
            fields[n] = f;
        n++;
        if (last)
            break;
        p++;
    }
    return n;
}

static const double drv_pow10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

bool drv_parse_number(const char *s, double *out)
{
    const char *p = s;
    bool neg = false;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    bool any = false;

    if (*p == '\0') {
        *out = NAN;
        return true;
    }
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    for (; *p >= '0' && *p <= '9'; p++) {
        any = true;
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(*p - '0');
            if (mant)
                digits++;
        } else {
            exp10++; /* digits beyond 19 only scale */
        }
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            any = true;
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                if (mant)
                    digits++;
                exp10--;
            }
        }
    }
    if (!any)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        bool eneg = false;
        int e = 0;
        if (*p == '-' || *p == '+')
            eneg = *p++ == '-';
        if (!(*p >= '0' && *p <= '9'))
            return false;
        for (; *p >= '0' && *p <= '9'; p++)
            if (e < 10000)
                e = e * 10 + (*p - '0');
        exp10 += eneg ? -e : e;
    }
    if (*p != '\0')
        return false;
    double v = (double)mant;
    if (exp10 != 0) {
        int ae = exp10 < 0 ? -exp10 : exp10;
        double scale = ae <= 22 ? drv_pow10[ae] : pow(10.0, ae);
        v = exp10 < 0 ? v / scale : v * scale;
    }
    *out = neg ? -v : v;
    return true;
}
