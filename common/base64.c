/* Base64 both ways; decoding is strict about the alphabet and padding. */
#include "common/base64.h"

#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = ALPHABET[(v >> 18) & 63];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = i + 1 < len ? ALPHABET[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? ALPHABET[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int value_of(char c)
{
    const char *p = c ? strchr(ALPHABET, c) : NULL;
    return p ? (int)(p - ALPHABET) : -1;
}

char *base64_decode(const char *text, size_t len, size_t *out_len, struct err **err)
{
    autofree char *out = xmalloc(len / 4 * 3 + 4);
    size_t o = 0;
    uint32_t acc = 0;
    int have = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            if (have < 2 || ++pad > 2) {
                err_set(err, ERR_INVALID, "bad base64: `=` at offset %zu", i);
                return NULL;
            }
            continue;
        }
        int v = value_of(c);
        if (v < 0 || pad) {
            err_set(err, ERR_INVALID, "bad base64: %s at offset %zu",
                    pad ? "data after the padding" : "character outside the alphabet", i);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        if (++have == 4) {
            out[o++] = (char)(acc >> 16);
            out[o++] = (char)(acc >> 8);
            out[o++] = (char)acc;
            acc = 0;
            have = 0;
        }
    }
    /* a final group of 2 or 3 characters needs its padding to make 4 */
    if (have == 1 || (have && have + pad != 4) || (!have && pad)) {
        err_set(err, ERR_INVALID, "bad base64: truncated (length not a multiple of 4)");
        return NULL;
    }
    if (have == 2) {
        out[o++] = (char)(acc >> 4);
    } else if (have == 3) {
        out[o++] = (char)(acc >> 10);
        out[o++] = (char)(acc >> 2);
    }
    out[o] = '\0';
    *out_len = o;
    return steal_pointer(&out);
}
