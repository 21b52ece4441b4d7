/* The local cache of Glance images guests are spawned from: each image
 * downloaded once into [libvirt] images_path (state_path/_base), its data
 * checked against Glance's os_hash_value (or the md5 `checksum`) before it
 * is used; per-guest qcow2 overlays are the backend's business.
 *
 * Concurrent fetches of one image (threads or processes) wait for a single
 * download (flock on IMAGE.lock).  Image data in Glance never changes for
 * an id, so a verified file is good for as long as it is kept.
 */
#ifndef SC_OPENSTACK_IMAGE_CACHE_H
#define SC_OPENSTACK_IMAGE_CACHE_H

#include <stdbool.h>

#include <jansson.h>

#include "common/alloc.h"

struct err;
struct os_glance;

struct os_image_cache;

/* A cache in `dir` (created) fed by `glance` (borrowed).  `retries`: extra
 * download attempts after a failure or a checksum mismatch. */
struct os_image_cache *os_image_cache_new(const char *dir, struct os_glance *glance,
                                          int retries, struct err **err);
void os_image_cache_free(struct os_image_cache *c);
DEFINE_AUTOPTR(os_image_cache)

/* The local path of image `id` (caller frees), downloading and verifying
 * it first when needed.  *meta (when given) receives Glance's image dict
 * (new reference).  NULL with *err: ERR_NOT_FOUND (no such image),
 * ERR_INVALID (not active, no data, checksum mismatch after the retries),
 * ERR_UNAVAILABLE (Glance unreachable).  Any thread. */
char *os_image_cache_fetch(struct os_image_cache *c, const char *id, const char *user_token,
                           json_t **meta, struct err **err);

/* The folder the cache keeps its images in. */
const char *os_image_cache_dir(const struct os_image_cache *c);

/* What one pass of the image cache manager found (os_image_cache_age). */
struct os_image_cache_pass {
    int in_use;       /* images a guest reads, marked used now */
    int young;        /* unused, but used within the minimum age */
    int removed;      /* unused for longer: removed */
    int removable;    /* the same, kept (removal off) */
    int busy;         /* held by a fetch: looked at next time */
    int leftovers;    /* downloads a crash left (IMAGE.part), removed */
    int64_t bytes_removed;
};

/* One pass of the image cache manager (Zed's libvirt imagecache, from
 * ComputeManager._run_image_cache_manager_pass): each cached image that
 * `in_use` (paths the guests read, any order) names is marked used now
 * (its mtime, which os_image_cache_fetch also sets); an image unused for
 * min_age_s since then is removed when `remove` is set, else only logged;
 * a download a crash left behind is removed.  An image a fetch holds is
 * left for the next pass.  0 (counts in *out), or -1 with *err when the
 * folder cannot be read. */
int os_image_cache_age(struct os_image_cache *c, char *const *in_use, size_t n_in_use,
                       int64_t min_age_s, bool remove, struct os_image_cache_pass *out,
                       struct err **err);

/* Whether image `id` is in the cache already (a download under way is
 * not). */
bool os_image_cache_holds(struct os_image_cache *c, const char *id);

/* The hex digest of `path` with `algo` ("md5", "sha256", "sha512") into
 * out (>= 129 bytes).  0, or -1 with *err. */
int os_image_digest(const char *path, const char *algo, char *out, size_t size,
                    struct err **err);

#endif
