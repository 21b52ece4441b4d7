/* Base64 through OpenSSL's EVP coder (libcrypto, linked already for image
 * checksums and TLS).  EVP_DecodeUpdate skips whitespace and checks the
 * padding; before it we refuse what it would let through silently (`-`
 * ends its input: anything after it would be dropped) and find the offset
 * of a bad character for the error message. */
#include "openstack/base64.h"

#include <limits.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

/* Every character Nova's text may hold: the alphabet, padding, and the
 * whitespace of line-wrapped base64. */
static const char TEXT_CHARS[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n";

/* EVP takes int lengths: refuse what does not fit rather than truncate. */
#define EVP_MAX_TEXT ((size_t)INT_MAX / 4 * 3)

char *os_base64_encode(const void *data, size_t len, struct err **err)
{
    if (len > EVP_MAX_TEXT / 4 * 3) {
        err_set(err, ERR_INVALID, "base64: %zu bytes to encode (at most %zu)", len,
                EVP_MAX_TEXT / 4 * 3);
        return NULL;
    }
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len); /* NUL-terminates */
    return out;
}

static int check_chars(const char *text, size_t len, struct err **err)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!c || !strchr(TEXT_CHARS, c)) {
            if (c > 0x20 && c < 0x7f)
                err_set(err, ERR_INVALID, "bad base64: character `%c` at offset %zu", c, i);
            else
                err_set(err, ERR_INVALID, "bad base64: byte 0x%02x at offset %zu", c, i);
            return -1;
        }
    }
    return 0;
}

/* EVP refused text whose characters are all valid: say which padding
 * rule it broke. */
static char *padding_error(const char *text, size_t len, struct err **err)
{
    const char *eq = memchr(text, '=', len);
    size_t first = eq ? (size_t)(eq - text) : len, pads = 0;
    for (size_t i = first; i < len; i++) {
        if (text[i] == '=') {
            pads++;
        } else if (!strchr(" \t\r\n", text[i])) {
            err_set(err, ERR_INVALID, "bad base64: data after the padding `=` at offset %zu",
                    first);
            return NULL;
        }
    }
    if (pads > 2)
        err_set(err, ERR_INVALID, "bad base64: %zu `=` of padding at offset %zu (at most 2)",
                pads, first);
    else
        err_set(err, ERR_INVALID, "bad base64: truncated (not a multiple of 4 characters "
                                  "with its padding)");
    return NULL;
}

char *os_base64_decode(const char *text, size_t len, size_t *out_len, struct err **err)
{
    if (len > EVP_MAX_TEXT) {
        err_set(err, ERR_INVALID, "bad base64: %zu characters (at most %zu)", len, EVP_MAX_TEXT);
        return NULL;
    }
    if (check_chars(text, len, err) < 0)
        return NULL;
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    if (!ctx) {
        err_set(err, ERR_INTERNAL, "base64: EVP_ENCODE_CTX_new failed");
        return NULL;
    }
    /* at most 3 bytes per 4 characters, plus the NUL we add */
    autofree unsigned char *out = xmalloc(len / 4 * 3 + 4);
    int n = 0, tail = 0;
    EVP_DecodeInit(ctx);
    int rc = EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)text, (int)len);
    if (rc >= 0)
        rc = EVP_DecodeFinal(ctx, out + n, &tail);
    EVP_ENCODE_CTX_free(ctx);
    if (rc < 0)
        return padding_error(text, len, err);
    out[n + tail] = '\0';
    *out_len = (size_t)(n + tail);
    return (char *)steal_pointer(&out);
}
