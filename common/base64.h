/* Base64 (RFC 4648, standard alphabet, padded), for the payloads Nova
 * sends base64-encoded (user data, injected files) and the random seed of
 * a config drive. */
#ifndef SC_COMMON_BASE64_H
#define SC_COMMON_BASE64_H

#include <stddef.h>

struct err;

/* Encode len bytes.  Caller frees the NUL-terminated text. */
char *base64_encode(const void *data, size_t len);

/* Decode `len` characters of `text` (ASCII whitespace ignored, as Python's
 * base64 module does for line-wrapped input; padding required where the
 * length needs it).  Returns the bytes (NUL-terminated beyond *out_len,
 * caller frees), or NULL with *err INVALID naming the first bad
 * character's offset. */
char *base64_decode(const char *text, size_t len, size_t *out_len, struct err **err);

#endif
