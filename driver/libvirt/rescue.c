/* Rescue and unrescue (nova/virt/libvirt/driver.py rescue/unrescue): the
 * guest's domain defined again booting from an overlay of the rescue
 * image (disk.rescue, Nova's name) -- a legacy rescue with its own disk
 * attached second and the rescue's config drive (disk.config.rescue), a
 * stable device rescue with its own disk and drive where they were and
 * the overlay added last as the device asked for, boot order 1 (the
 * rescue's drive is not attached: Nova attaches disk.config there);
 * unrescue defines the guest's own domain again.  The rescue lives in sculpt's metadata of the
 * domain (<sculpt:rescue>), written with the definition: whatever a
 * restart finds defined is what the guest is, and the rescue files are
 * removed by an unrescue whatever state it finds. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/libvirt/configdrive.h"
#include "driver/libvirt/designer.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt.rescue");

#define RESCUE_DISK "disk.rescue"
#define RESCUE_DRIVE LV_CONFIG_DRIVE_FILE ".rescue"

static char *dup_opt(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Remove the rescue files of a guest in `dir` (missing ones are fine). */
static void rescue_files_remove(const char *dir)
{
    const char *names[] = {RESCUE_DISK, RESCUE_DRIVE};
    for (size_t k = 0; k < 2; k++) {
        autofree char *path = xasprintf("%s/%s", dir, names[k]);
        if (unlink(path) == 0)
            log_debug("removed %s", path);
    }
}

static int rescue_active(virDomainPtr dom)
{
    int active = virDomainIsActive(dom);
    virResetLastError();
    return active;
}

int lv_rescue(struct drv_hv *hv, const char *uuid, const struct drv_hv_image *image,
              const struct drv_hv_rescue_dev *dev, const struct drv_hv_config_drive *cd,
              int timeout_s, struct err **err)
{
    struct lv *lv = lv_of(hv);
    bool stable = dev->device != DRV_HV_RESCUE_LEGACY;
    /* before the guest is touched, as Nova's get_disk_info comes first */
    if (stable && lv_design_rescue_check(dev, err) < 0)
        return -1;
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return -1;
    struct lv_meta meta;
    memset(&meta, 0, sizeof(meta));
    int rc = -1;
    /* declared before the first goto: a jump must not skip a cleanup */
    autofree char *dir = NULL;
    struct drv_shape shape;
    if (!lv_entry_meta_get(lv, uuid, &meta) || !meta.instance_dir) {
        err_set(err, ERR_UNSUPPORTED, "`%s` is not a guest of sculpt's", uuid);
        goto out;
    }
    dir = xstrdup(meta.instance_dir);
    shape = meta.spec.shape;
    if (meta.rescued) {
        /* rescued already (a rescue done again after a restart) */
        log_info("%s is rescued already", uuid);
        rc = rescue_active(dom) == 1 ? 0 : lv_boot(lv, uuid, err);
        goto out;
    }
    if (lv_power_off(hv, uuid, timeout_s, err) < 0)
        goto out;
    meta.rescued = true;
    meta.rescue_dev = *dev;
    meta.rescue_image = (struct drv_hv_image){.kernel = dup_opt(image->kernel),
                                              .initrd = dup_opt(image->initrd),
                                              .cmdline = dup_opt(image->cmdline),
                                              .disk_base = dup_opt(image->disk_base),
                                              .disk_format = dup_opt(image->disk_format)};
    if (image->disk_base) {
        meta.rescue_disk = xasprintf("%s/%s", meta.instance_dir, RESCUE_DISK);
        unlink(meta.rescue_disk); /* a failed rescue's */
        if (lv_volume_create_overlay(lv->qemu_img, image->disk_base,
                                     image->disk_format ? image->disk_format : "qcow2", 0,
                                     meta.rescue_disk, err) < 0)
            goto undo;
    }
    if (cd && !stable) {
        meta.rescue_config_drive = xasprintf("%s/%s", meta.instance_dir, RESCUE_DRIVE);
        if (lv_configdrive_write(cd, meta.rescue_config_drive, err) < 0)
            goto undo;
    }
    struct lv_meta was;
    lv_meta_copy(&was, &meta);
    lv_meta_rescue_clear(&was);
    lv_entry_meta_put(lv, uuid, &meta);
    if (lv_boot(lv, uuid, err) < 0) {
        /* its own definition back, off, as it was before */
        lv_entry_meta_put(lv, uuid, &was);
        lv_meta_release(&was);
        autoerr struct err *e = NULL;
        virDomainPtr back = lv_define(lv, uuid, &shape, &e);
        if (back) {
            lv_stop_hard(lv, back, uuid, NULL);
            virDomainFree(back);
        } else {
            log_err(LOG_LEVEL_WARN, e, "own definition of %s not restored", uuid);
        }
        goto undo;
    }
    lv_meta_release(&was);
    if (stable)
        log_info("rescued %s: its own disks as they were, %s added as a %s on %s, booted first",
                 uuid, image->disk_base, drv_hv_rescue_device_name(dev->device),
                 drv_hv_bus_name(dev->bus));
    else
        log_info("rescued %s: boots from %s, its disk second", uuid,
                 image->disk_base ? image->disk_base : image->kernel);
    rc = 0;
    goto out;
undo:
    rescue_files_remove(dir);
out:
    lv_meta_release(&meta);
    virDomainFree(dom);
    return rc;
}

int lv_unrescue(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return -1;
    struct lv_meta meta;
    memset(&meta, 0, sizeof(meta));
    int rc = -1;
    if (!lv_entry_meta_get(lv, uuid, &meta) || !meta.instance_dir) {
        err_set(err, ERR_UNSUPPORTED, "`%s` is not a guest of sculpt's", uuid);
        goto out;
    }
    bool rescued = meta.rescued;
    if (rescued) {
        /* Nova destroys the rescue domain: nothing in it is kept */
        if (lv_stop_hard(lv, dom, uuid, err) < 0)
            goto out;
        lv_meta_rescue_clear(&meta);
        struct lv_meta put;
        lv_meta_copy(&put, &meta);
        lv_entry_meta_put(lv, uuid, &put);
        lv_meta_release(&put);
    }
    if (rescued || rescue_active(dom) != 1) {
        if (lv_boot(lv, uuid, err) < 0)
            goto out;
    }
    rescue_files_remove(meta.instance_dir);
    log_info("unrescued %s%s", uuid, rescued ? "" : " (was not rescued)");
    rc = 0;
out:
    lv_meta_release(&meta);
    virDomainFree(dom);
    return rc;
}
