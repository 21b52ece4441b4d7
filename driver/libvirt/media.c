/* Media changes: a config drive inserted live into the empty cdrom drive a
 * guest was defined with (a pool member at its hand-over).  QEMU changes
 * the medium of a SATA (or IDE) cdrom on a running or paused guest; it
 * cannot hot-plug a new one, hence the empty drive at definition. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/libvirt/configdrive.h"
#include "driver/libvirt/designer.h"
#include "driver/libvirt/driver_priv.h"

LOG_INIT("driver.libvirt.media");

/* Put `path` (NULL: eject) into dom's cdrom, live when it runs, and in
 * its definition. */
static int media_change(virDomainPtr dom, const char *path, struct err **err)
{
    autofree char *xml = lv_cfg_cdrom_format(path);
    if (virDomainUpdateDeviceFlags(dom, xml, lv_affect_now(dom)) < 0)
        return lv_dom_error(err, "virDomainUpdateDeviceFlags", dom);
    return 0;
}

/* Record the drive in sculpt's metadata (a redefinition keeps it). */
static int media_record(virDomainPtr dom, const struct lv_meta *meta, struct err **err)
{
    autofree char *xml = lv_meta_format_fragment(meta);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, LV_META_PREFIX, LV_META_URI,
                             lv_affect_now(dom)) < 0)
        return lv_dom_error(err, "virDomainSetMetadata", dom);
    return 0;
}

int lv_insert_config_drive(struct drv_hv *hv, const char *uuid,
                           const struct drv_hv_config_drive *cd, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "insert config drive");
    struct lv_meta meta;
    memset(&meta, 0, sizeof(meta));
    bool ours = lv_entry_meta_get(lv, uuid, &meta);
    int rc = -1;
    /* declared before the first goto: a jump must not skip a cleanup */
    autofree char *iso = NULL;
    if (!ours || !meta.instance_dir) {
        err_set(err, ERR_UNSUPPORTED, "`%s` is not a guest of sculpt's", uuid);
        goto cleanup;
    }
    if (!meta.spec.cdrom_tray && !meta.config_drive) {
        err_set(err, ERR_UNSUPPORTED, "guest `%s` has no cdrom drive to take a config drive",
                uuid);
        goto cleanup;
    }
    /* a drive already there is this instance's: its hand-over, done
     * again after a crash (a failed hand-over destroys its member) */
    if (meta.config_drive) {
        log_info("%s holds its config drive already", uuid);
        rc = 0;
        goto cleanup;
    }
    iso = xasprintf("%s/%s", meta.instance_dir, LV_CONFIG_DRIVE_FILE);
    int64_t t0 = clock_mono_ns();
    if (lv_configdrive_write(cd, iso, err) < 0)
        goto cleanup;
    int64_t t1 = clock_mono_ns();
    if (media_change(dom, iso, err) < 0) {
        unlink(iso);
        goto cleanup;
    }
    meta.config_drive = xstrdup(iso);
    if (media_record(dom, &meta, err) < 0) {
        autoerr struct err *undo = NULL;
        if (media_change(dom, NULL, &undo) < 0)
            log_err(LOG_LEVEL_WARN, undo, "config drive of `%s` not ejected", uuid);
        goto cleanup;
    }
    lv_entry_meta_put(lv, uuid, &meta);
    /* both on the hand-over's path: the times say which one to look at */
    log_info("config drive inserted into %s (%zu files; image %.1f ms, media change %.1f ms)",
             uuid, cd->n, (double)(t1 - t0) / 1e6, (double)(clock_mono_ns() - t1) / 1e6);
    rc = 0;
cleanup:
    lv_meta_release(&meta);
    virDomainFree(dom);
    return rc < 0 ? err_wrap(err, "insert config drive") : 0;
}
