/* UUIDs in their 36-character text form, as Nova and libvirt use them. */
#ifndef SC_COMMON_UUID_H
#define SC_COMMON_UUID_H

#include <stdbool.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* A random (version 4) UUID into out.  Returns 0, or -1 with *err when the
 * kernel's random source fails. */
struct err;
int uuid_generate(char out[UUID_STR_LEN], struct err **err);

/* 8-4-4-4-12 hexadecimal digits (either case). */
bool uuid_is_valid(const char *s);

#endif
