/* Internals of openstack/oslo.c, exposed for the unit tests and the fuzz
 * target. */
#ifndef SC_OPENSTACK_OSLO_PRIV_H
#define SC_OPENSTACK_OSLO_PRIV_H

#include <stddef.h>

#include <jansson.h>

/* The envelope's fast path: when `body` has exactly the form oslo writes,
 * {"oslo.version": "2.N", "oslo.message": "..."}, the unescaped message
 * text (caller frees; *inner_len its length); otherwise NULL and the
 * caller parses the whole body with jansson. */
char *os_envelope_inner(const char *body, size_t len, size_t *inner_len);

/* The envelope around an ASCII message text, byte for byte what jansson
 * writes for {"oslo.version": "2.0", "oslo.message": text} compact
 * (caller frees; *len its length when len is not NULL); NULL when text
 * has a byte above 0x7F (jansson then checks its UTF-8). */
char *os_envelope_wrap_ascii(const char *text, size_t *len);

/* Unescape the JSON string starting after its opening quote at *pp into
 * out (which has room: the result is never longer).  Returns the length,
 * or -1 when the string is not one the fast paths take (raw bytes above
 * 0x7F, \u0000, a lone surrogate, a bad escape, no closing quote); *pp
 * ends after the closing quote.  (openstack/oslo_json.c) */
long os_json_unescape(const char **pp, const char *end, char *out);

/* The JSON object in text[0..len) when it is written the way Python's
 * json.dumps writes (ASCII, plain numbers in range, nesting below 64):
 * a new reference equal to what json_loadb(text, len, 0) gives.  NULL
 * when it is anything else -- valid or not: the caller then asks
 * jansson, which decides and words the error.  Any thread. */
json_t *os_json_load_fast(const char *text, size_t len);

#endif
