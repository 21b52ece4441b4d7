/* The image cache manager in sculpt-compute: Zed's periodic
 * _run_image_cache_manager_pass, every [image_cache] manager_interval,
 * with the hypervisor's word on which images its guests read. */
#include <stdbool.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "driver/hypervisor.h"
#include "openstack/compute_priv.h"
#include "openstack/image_cache.h"

LOG_INIT("openstack.compute_image_cache");

/* What the last pass found, for /metrics: the cached images by state, and
 * what the passes removed. */
static void image_cache_metrics(const struct os_image_cache_pass *p)
{
    struct metrics_family *images =
        metrics_gauge("sculpt_image_cache_images",
                      "Cached base images at the image cache manager's last pass, by state: "
                      "in_use (a guest reads it), recent (unused, within the minimum age), "
                      "removable (unused for longer, kept: removal off), busy (a download "
                      "held it).",
                      "state");
    metrics_set(images, p->in_use, METRICS_LABELS("in_use"));
    metrics_set(images, p->young, METRICS_LABELS("recent"));
    metrics_set(images, p->removable, METRICS_LABELS("removable"));
    metrics_set(images, p->busy, METRICS_LABELS("busy"));
    metrics_add(metrics_counter("sculpt_image_cache_removed_total",
                                "Cached base images the image cache manager removed (unused "
                                "for the minimum age).",
                                NULL),
                p->removed, NULL);
    metrics_add(metrics_counter("sculpt_image_cache_removed_bytes_total",
                                "Bytes of the cached base images the image cache manager "
                                "removed.",
                                NULL),
                (double)p->bytes_removed, NULL);
}

void os_compute_image_cache_pass(struct os_compute *c)
{
    if (!c->images)
        return;
    autoerr struct err *err = NULL;
    struct drv_hv_paths used;
    if (drv_hv_images_in_use(c->hv, &used, &err) < 0) {
        /* nothing is removed without the whole list */
        log_err(LOG_LEVEL_WARN, err, "image cache manager: pass skipped");
        return;
    }
    struct os_image_cache_pass pass;
    if (os_image_cache_age(c->images, used.v, used.n, c->cfg->image_cache_min_age_s,
                           c->cfg->image_cache_remove_unused, &pass, &err) < 0)
        log_err(LOG_LEVEL_WARN, err, "image cache manager");
    else {
        image_cache_metrics(&pass);
        log_debug("image cache manager: %d in use, %d unused recently, %d removed (%lld bytes), "
                  "%d removable, %d busy, %d leftovers",
                  pass.in_use, pass.young, pass.removed, (long long)pass.bytes_removed,
                  pass.removable, pass.busy, pass.leftovers);
    }
    drv_hv_paths_release(&used);
}
