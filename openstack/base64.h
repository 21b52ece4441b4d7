/* Base64 (RFC 4648, standard alphabet, padded) for the payloads Nova sends
 * base64-encoded (user data, injected files) and the random seed of a
 * config drive.  OpenSSL's EVP coder does the work; this wrapper only pins
 * down which text Nova may send, since EVP alone is more lenient. */
#ifndef SC_OPENSTACK_BASE64_H
#define SC_OPENSTACK_BASE64_H

#include <stddef.h>

struct err;

/* Encode `len` bytes, without line breaks.  Returns NUL-terminated text the
 * caller frees; NULL with *err INVALID when `len` exceeds what one EVP call
 * takes (over 1.5 GiB).  Any thread. */
char *os_base64_encode(const void *data, size_t len, struct err **err);

/* Decode `len` characters of `text`.  Accepted: the standard alphabet with
 * `=` padding to a multiple of 4, and spaces, tabs, CR and LF anywhere (line
 * wrapping, as Python's base64.encodebytes writes it every 76 characters,
 * and Nova's API strips it too).  Refused: any other character (including
 * `-`, which EVP would take as the end of data and ignore what follows),
 * missing or misplaced padding, data after the padding.  Returns the bytes,
 * NUL-terminated beyond *out_len (caller frees), or NULL with *err INVALID
 * saying what is wrong and where.  Any thread. */
char *os_base64_decode(const char *text, size_t len, size_t *out_len, struct err **err);

#endif
