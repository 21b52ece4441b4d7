/* The config drive's image (nova/virt/configdrive.py's ConfigDriveBuilder):
 * the files of a drv_hv_config_drive made into an ISO9660 volume labelled
 * `config-2`, in-process (iso.h), as genisoimage makes it with the options
 * Nova passes it (Rock Ridge and Joliet names, lower case and several
 * dots allowed).
 */
#ifndef SC_DRIVER_LIBVIRT_CONFIGDRIVE_H
#define SC_DRIVER_LIBVIRT_CONFIGDRIVE_H

#include "driver/hypervisor.h"

struct err;

/* Write `cd` (validated here too) as the ISO `iso`, an absolute path:
 * the image is made as `iso`.part beside it, removed on failure, and
 * renamed to `iso` once complete, so an existing `iso` is replaced only by
 * a whole image.  INVALID for a bad drive or path, errno codes for the
 * file, INTERNAL when libarchive fails.  Any thread. */
int lv_configdrive_write(const struct drv_hv_config_drive *cd, const char *iso,
                         struct err **err);

#endif
