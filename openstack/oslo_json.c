/* A fast path for the JSON that oslo.messaging writes.
 *
 * jansson reads its input a byte at a time through a stream callback,
 * checks UTF-8 and grows a buffer for every token: parsing the message
 * inside a request (4-12 KB, mostly the Instance object) was most of
 * sculpt-compute's CPU per call.  Python's json.dumps writes a narrow
 * form of JSON -- ASCII only, short escapes, plain numbers -- which is
 * read here in one pass straight into jansson values.  Anything outside
 * that form (raw bytes above 0x7F, \u0000, lone surrogates, numbers out
 * of range, deep nesting, any error) makes the fast path step aside, and
 * the caller parses with jansson, so what is accepted and the errors
 * given never change.
 *
 * Why not jansson alone: no json_loadb flag avoids its byte-at-a-time
 * reader.  On the captured get_console_output request (4 KB) jansson
 * takes 718k instructions and this path 168k (callgrind), 51 against
 * 9.5 us: about 40 us more on a call whose whole CPU is about 60 us
 * (tests/harness/json-parse-cost.c; README, Nova).  Kept honest by the
 * unit tests (tests/unit/test_openstack_oslo.c: cases, the captured
 * messages mutated, nesting around the limit) and fuzz_oslo, which run
 * it and jansson on the same inputs and require the same tree. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "openstack/oslo_priv.h"

/* Deeper documents go to jansson (which allows 2048 levels): it bounds
 * the recursion here. */
#define JSON_FAST_MAX_DEPTH 64
/* Longer number tokens go to jansson. */
#define JSON_FAST_MAX_NUMBER 64

static int json_hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

long os_json_unescape(const char **pp, const char *end, char *out)
{
    const char *p = *pp;
    char *o = out;
    while (p < end) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"') {
            *pp = p;
            return o - out;
        }
        /* Control bytes are not JSON; raw non-ASCII bytes are left to
         * jansson, which checks their UTF-8 (Python's json.dumps escapes
         * everything above 0x7F, so the fast path never needs them). */
        if (c < 0x20 || c >= 0x80)
            return -1;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (p >= end)
            return -1;
        char e = *p++;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            int u = json_hex4(p, end);
            if (u < 0)
                return -1;
            p += 4;
            unsigned long cp = (unsigned long)u;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                    return -1;
                int lo = json_hex4(p + 2, end);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                p += 6;
                cp = 0x10000 + (((unsigned long)u - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
            } else if (u >= 0xDC00 && u <= 0xDFFF) {
                return -1;
            }
            if (cp == 0)
                return -1; /* a NUL would end the text early */
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (cp >> 18));
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            return -1;
        }
    }
    return -1;
}

struct json_fast {
    const char *p, *end;
    char *scratch; /* room for the longest string (the input's length),
                    * allocated at the first escape: most strings of an
                    * unwrapped message have none */
};

static void json_fast_ws(struct json_fast *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
        j->p++;
}

static bool json_is_digit(const struct json_fast *j)
{
    return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

/* A string after its opening quote.  *len gets its length; the text is
 * the input itself when it has no escape, else the scratch buffer
 * (valid until the next string). */
static const char *json_fast_string(struct json_fast *j, size_t *len)
{
    const char *s = j->p;
    const char *q = s;
    while (q < j->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 &&
           (unsigned char)*q < 0x80)
        q++;
    if (q < j->end && *q == '"') {
        *len = (size_t)(q - s);
        j->p = q + 1;
        return s;
    }
    if (!j->scratch)
        j->scratch = xmalloc((size_t)(j->end - j->p) + 1);
    long n = os_json_unescape(&j->p, j->end, j->scratch);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return j->scratch;
}

/* jansson's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * an integer (json_int_t) without fraction or exponent, else a real. */
static json_t *json_fast_number(struct json_fast *j)
{
    const char *s = j->p;
    bool integer = true;
    if (*j->p == '-')
        j->p++;
    if (!json_is_digit(j))
        return NULL;
    if (*j->p == '0') {
        j->p++;
        if (json_is_digit(j))
            return NULL;
    } else {
        while (json_is_digit(j))
            j->p++;
    }
    if (j->p < j->end && *j->p == '.') {
        integer = false;
        j->p++;
        if (!json_is_digit(j))
            return NULL;
        while (json_is_digit(j))
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        integer = false;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!json_is_digit(j))
            return NULL;
        while (json_is_digit(j))
            j->p++;
    }
    size_t n = (size_t)(j->p - s);
    char tok[JSON_FAST_MAX_NUMBER];
    if (n >= sizeof(tok))
        return NULL;
    memcpy(tok, s, n);
    tok[n] = '\0';
    char *endp;
    errno = 0;
    if (integer) {
        long long v = strtoll(tok, &endp, 10);
        if (errno != 0 || endp != tok + n)
            return NULL; /* out of range: jansson says so */
        return json_integer((json_int_t)v);
    }
    double d = strtod(tok, &endp);
    if (errno != 0 || endp != tok + n || !isfinite(d))
        return NULL; /* out of range, or a locale's other decimal point */
    return json_real(d);
}

static bool json_fast_literal(struct json_fast *j, const char *lit, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return false;
    j->p += n;
    return true;
}

static json_t *json_fast_value(struct json_fast *j, int depth);

static json_t *json_fast_object(struct json_fast *j, int depth)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    json_fast_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return obj;
    }
    for (;;) {
        if (j->p >= j->end || *j->p != '"')
            goto fail;
        j->p++;
        size_t klen;
        const char *k = json_fast_string(j, &klen);
        if (!k)
            goto fail;
        /* The key may sit in the scratch buffer, which the value's
         * strings reuse: keys are short, copy it aside. */
        char kbuf[128];
        autofree char *kheap = NULL;
        if (k == j->scratch) {
            if (klen < sizeof(kbuf)) {
                memcpy(kbuf, k, klen);
                k = kbuf;
            } else {
                k = kheap = xstrndup(k, klen);
            }
        }
        json_fast_ws(j);
        if (j->p >= j->end || *j->p != ':')
            goto fail;
        j->p++;
        json_fast_ws(j);
        json_t *v = json_fast_value(j, depth + 1);
        /* A repeated key replaces the earlier value, as in jansson. */
        if (!v || json_object_setn_new_nocheck(obj, k, klen, v) < 0)
            goto fail;
        json_fast_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            json_fast_ws(j);
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return obj;
        }
        goto fail;
    }
 fail:
    json_decref(obj);
    return NULL;
}

static json_t *json_fast_array(struct json_fast *j, int depth)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    json_fast_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return arr;
    }
    for (;;) {
        json_t *v = json_fast_value(j, depth + 1);
        if (!v || json_array_append_new(arr, v) < 0)
            break;
        json_fast_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            json_fast_ws(j);
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return arr;
        }
        break;
    }
    json_decref(arr);
    return NULL;
}

/* A value at j->p (no leading whitespace); NULL: not taken. */
static json_t *json_fast_value(struct json_fast *j, int depth)
{
    if (depth > JSON_FAST_MAX_DEPTH || j->p >= j->end)
        return NULL;
    switch (*j->p) {
    case '{':
        j->p++;
        return json_fast_object(j, depth);
    case '[':
        j->p++;
        return json_fast_array(j, depth);
    case '"': {
        j->p++;
        size_t n;
        const char *s = json_fast_string(j, &n);
        return s ? json_stringn_nocheck(s, n) : NULL;
    }
    case 't':
        return json_fast_literal(j, "true", 4) ? json_true() : NULL;
    case 'f':
        return json_fast_literal(j, "false", 5) ? json_false() : NULL;
    case 'n':
        return json_fast_literal(j, "null", 4) ? json_null() : NULL;
    default:
        return json_fast_number(j);
    }
}

json_t *os_json_load_fast(const char *text, size_t len)
{
    struct json_fast j = {.p = text, .end = text + len};
    json_fast_ws(&j);
    if (j.p >= j.end || *j.p != '{')
        return NULL; /* arrays and bare values: jansson's */
    j.p++;
    json_t *v = json_fast_object(&j, 1);
    free(j.scratch);
    if (!v)
        return NULL;
    json_fast_ws(&j);
    if (j.p != j.end) {
        json_decref(v);
        return NULL; /* trailing bytes: jansson's error */
    }
    return v;
}
