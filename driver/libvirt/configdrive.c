/* The config drive's ISO (Nova's _make_iso9660): the drive's files, held
 * in memory, made into the image in-process (iso.h), first under a
 * ".part" name and renamed into place once complete. */
#include "driver/libvirt/configdrive.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/libvirt/iso.h"

LOG_INIT("driver.libvirt.configdrive");

int lv_configdrive_write(const struct drv_hv_config_drive *cd, const char *iso, struct err **err)
{
    if (drv_hv_config_drive_validate(cd, err) < 0)
        return -1;
    if (iso[0] != '/')
        return err_set(err, ERR_INVALID, "config drive path `%s` is not absolute", iso);
    const struct lv_iso_label label = {
        .volume_id = DRV_HV_CONFIG_DRIVE_LABEL,
        .publisher = "OpenStack Compute (sculpt)",
    };
    autofree char *part = xasprintf("%s.part", iso);
    int rc = lv_iso_write(&label, cd->files, cd->n, part, err);
    if (rc == 0 && rename(part, iso) < 0)
        rc = err_set_errno(err, errno, "rename `%s`", part);
    if (rc < 0) {
        unlink(part);
        return err_wrap(err, "config drive `%s`", iso);
    }
    log_debug("config drive %s: %zu files", iso, cd->n);
    return 0;
}
