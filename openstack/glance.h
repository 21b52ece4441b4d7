/* A Glance v2 client: image metadata and image data, on the user's token
 * from the request (as Nova does) with the service's Keystone token as a
 * fallback.  Endpoints: [glance] api_servers (tried in order), else
 * endpoint_override, else the catalog's `image` service.
 *
 * Thread: every function is thread-safe.
 */
#ifndef SC_OPENSTACK_GLANCE_H
#define SC_OPENSTACK_GLANCE_H

#include <jansson.h>
#include <stdio.h>

#include "common/alloc.h"

struct cfg;
struct err;
struct os_keystone;

struct os_glance;

/* `ks` may be NULL (then only user tokens are used); borrowed. */
struct os_glance *os_glance_new(const struct cfg *cfg, struct os_keystone *ks);
void os_glance_free(struct os_glance *g);
DEFINE_AUTOPTR(os_glance)

/* GET /v2/images/{id}: a new reference to the image dict, or NULL with
 * *err (ERR_NOT_FOUND for an unknown image). */
json_t *os_glance_image_get(struct os_glance *g, const char *id, const char *user_token,
                            struct err **err);

/* Stream the image's data into `out` (GET /v2/images/{id}/file).  0, or
 * -1 with *err. */
int os_glance_image_download(struct os_glance *g, const char *id, const char *user_token,
                             FILE *out, struct err **err);

#endif
