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

/* The image's URL as nova's glance.API().generate_image_url makes it for
 * the image_ref_url of notifications: "<endpoint>/images/<id>" from the
 * first of [glance] api_servers / endpoint_override, else the catalog's
 * image endpoint without its version suffix; the bare id when neither is
 * known (Nova's fallback without an endpoint).  Never NULL; caller frees.
 * `g` may be NULL. */
char *os_glance_image_url(struct os_glance *g, const char *id);

/* GET /v2/images/{id}: a new reference to the image dict, or NULL with
 * *err (ERR_NOT_FOUND for an unknown image). */
json_t *os_glance_image_get(struct os_glance *g, const char *id, const char *user_token,
                            struct err **err);

/* GET /v2/images with `filters` (an object of string values: fields or
 * properties, e.g. {"image_type": "backup", "instance_uuid": ...}), sorted
 * by `sort_key` in `sort_dir` ("asc"/"desc"), every page followed (at most
 * GLANCE_LIST_MAX images).  A new array of image dicts, or NULL with *err. */
json_t *os_glance_image_list(struct os_glance *g, const char *user_token, const json_t *filters,
                             const char *sort_key, const char *sort_dir, struct err **err);

/* Stream the image's data into `out` (GET /v2/images/{id}/file).  0, or
 * -1 with *err. */
int os_glance_image_download(struct os_glance *g, const char *id, const char *user_token,
                             FILE *out, struct err **err);

/* The JSON patch (RFC 6902, Glance's
 * application/openstack-images-v2.1-json-patch) that makes image dict
 * `image` hold `want`'s keys: "add" for a new key, "replace" for one that
 * differs, "remove" for a key `want` gives as null.  A new array. */
json_t *os_glance_patch_ops(const json_t *image, const json_t *want);

/* Set image `id`'s fields and properties to `want` (an object; a null
 * value removes the property) with one PATCH after a GET, as nova's
 * image API update does.  The image dict after it (new reference), or
 * NULL with *err (ERR_NOT_FOUND when the image is gone). */
json_t *os_glance_image_update(struct os_glance *g, const char *id, const char *user_token,
                               const json_t *want, struct err **err);

/* Upload the whole of `file` as image `id`'s data (PUT
 * /v2/images/{id}/file, streamed).  0, or -1 with *err: ERR_NOT_FOUND when
 * the image is gone, ERR_CONFLICT when it is not waiting for data. */
int os_glance_image_upload(struct os_glance *g, const char *id, const char *user_token,
                           const char *file, struct err **err);

/* DELETE /v2/images/{id}.  0, or -1 with *err (ERR_NOT_FOUND when it was
 * gone already). */
int os_glance_image_delete(struct os_glance *g, const char *id, const char *user_token,
                           struct err **err);

#endif
