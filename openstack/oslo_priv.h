/* Internals of openstack/oslo.c, exposed for the unit tests and the fuzz
 * target. */
#ifndef SC_OPENSTACK_OSLO_PRIV_H
#define SC_OPENSTACK_OSLO_PRIV_H

#include <stddef.h>

/* The envelope's fast path: when `body` has exactly the form oslo writes,
 * {"oslo.version": "2.N", "oslo.message": "..."}, the unescaped message
 * text (caller frees; *inner_len its length); otherwise NULL and the
 * caller parses the whole body with jansson. */
char *os_envelope_inner(const char *body, size_t len, size_t *inner_len);

#endif
