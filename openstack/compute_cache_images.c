/* cache_images (`openstack aggregate cache image`, microversion 2.81: the
 * conductor asks each host of the aggregate): the base images fetched into
 * this host's verified image cache ahead of the builds that will need
 * them, as Zed's ComputeManager.cache_images -- per image `cached`
 * (downloaded now), `existing` (there already), `error` (Glance refused,
 * the checksum never matched...) or `unsupported` (no image service). */
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/image_cache.h"
#include "openstack/oslo.h"

LOG_INIT("openstack.compute_cache_images");

int os_compute_cache_images(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    json_t *ids = json_object_get(req->msg->args, "image_ids");
    if (!json_is_array(ids))
        return err_set(err, ERR_INVALID, "cache_images needs a list `image_ids`");
    const char *token = os_ctx_str(req->msg->ctx, "auth_token");
    log_info("caching %zu image(s) by request", json_array_size(ids));
    json_t *out = json_object();
    size_t k;
    json_t *v;
    json_array_foreach(ids, k, v) {
        const char *id = json_string_value(v);
        if (!id)
            continue;
        const char *verdict;
        autoerr struct err *e = NULL;
        if (!c->images) {
            verdict = "unsupported";
        } else if (os_image_cache_holds(c->images, id)) {
            verdict = "existing";
        } else {
            autofree char *path = os_image_cache_fetch(c->images, id, token, NULL, &e);
            verdict = path ? "cached" : "error";
            if (!path)
                log_err(LOG_LEVEL_ERROR, e, "image %s not cached", id);
        }
        json_object_set_new(out, id, json_string(verdict));
    }
    *result = out;
    return 0;
}
