/* The config drive's image (nova/virt/configdrive.py's ConfigDriveBuilder):
 * the files of a drv_hv_config_drive written into a private folder and
 * made into an ISO9660 volume labelled `config-2` by genisoimage, with
 * the options Nova passes it (Rock Ridge and Joliet names, lower case and
 * several dots allowed).
 */
#ifndef SC_DRIVER_LIBVIRT_CONFIGDRIVE_H
#define SC_DRIVER_LIBVIRT_CONFIGDRIVE_H

#include "driver/hypervisor.h"

struct err;

/* Write `cd` (validated here too) as the ISO `iso`, through a private
 * temporary folder beside it that is removed afterwards.  `mkisofs` is
 * the program (Nova's [DEFAULT] mkisofs_cmd, "genisoimage"), run with an
 * argument vector.  An existing `iso` is replaced only once the new image
 * is complete.  INVALID for a bad drive, NOT_FOUND when the program is
 * missing, INTERNAL when it fails (its output in the message). */
int lv_configdrive_write(const char *mkisofs, const struct drv_hv_config_drive *cd,
                         const char *iso, struct err **err);

#endif
