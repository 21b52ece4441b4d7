/* The token validator backed by the Keystone client of openstack/. */
#ifndef SC_API_KEYSTONE_AUTH_H
#define SC_API_KEYSTONE_AUTH_H

#include "api/auth.h"

struct os_keystone;

/* An authenticator that accepts the admin token and, when `ks` is not NULL,
 * Keystone tokens validated with it.  Free with api_auth_free(). */
struct api_auth *api_keystone_auth_new(struct os_keystone *ks);

#endif
