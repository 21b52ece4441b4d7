/* ISO 9660 images made in-process with libarchive's iso9660 writer: a set
 * of files held in memory becomes an image with Rock Ridge and Joliet
 * names and the volume id as given, as `genisoimage -l -J -r -V ID` makes
 * it (Nova's _make_iso9660).  Rock Ridge and Joliet keep the exact names
 * (up to 255 bytes a component); the plain ISO 9660 names are libarchive's
 * level-2 ones (upper case); files are world-readable and owned by root,
 * as -r makes them.
 *
 * Part of the libvirt module (its only user today), so the library is
 * mapped only into a process that loads that backend.
 */
#ifndef SC_DRIVER_LIBVIRT_ISO_H
#define SC_DRIVER_LIBVIRT_ISO_H

#include <stddef.h>

#include "driver/hypervisor.h"

struct err;

struct lv_iso_label {
    const char *volume_id; /* "config-2": at most 32 characters */
    const char *publisher; /* publisher id, or NULL */
};

/* Write the `n` files (paths relative, '/'-separated; their folders are
 * made as needed) as the image `path`, created or truncated, mode 0644.
 * The caller removes `path` on failure.  INVALID for a path that cannot
 * be a name on the image (one component a file and a folder, a component
 * over 255 bytes, a bad volume id), errno codes for the file, INTERNAL
 * when libarchive fails (its message quoted).  Any thread; images are made
 * independently of one another. */
int lv_iso_write(const struct lv_iso_label *label, const struct drv_hv_file *files, size_t n,
                 const char *path, struct err **err);

#endif
