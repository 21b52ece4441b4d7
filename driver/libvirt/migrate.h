/* Cold migration between libvirt hosts (nova/virt/libvirt/driver.py's
 * migrate_disk_and_power_off and finish_migration): the source copies the
 * guest's folder (overlay, config drive; never the cached base image) over
 * ssh into a staging folder on the destination, `<instances_path>/
 * <uuid>_migrating` (its own instances_path: the same on every host, as
 * Nova has it), and keeps its own copy for a revert; the destination moves
 * the files into its folder, rebases the overlay onto its own cached base
 * and defines the guest.  What the destination needs to know travels as
 * the migration's disk_info, the record below.
 */
#ifndef SC_DRIVER_LIBVIRT_MIGRATE_H
#define SC_DRIVER_LIBVIRT_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct err;

#define LV_MIG_MAX_FILES 32

/* disk_info: the staging folder on the destination and the files in it. */
struct lv_mig_info {
    char *dir;    /* absolute, ends in /<uuid>_migrating */
    char **files; /* plain names in dir */
    size_t n;
};

void lv_mig_info_release(struct lv_mig_info *m);

/* The record as text:
 *   sculpt-libvirt-migration 1
 *   dir <path>
 *   file <name>        (one line a file)
 * Caller frees. */
char *lv_mig_info_format(const struct lv_mig_info *m);

/* Parse it back into *out (overwritten; release with
 * lv_mig_info_release).  INVALID on another format, a relative folder or
 * one not named <uuid>_migrating, a file name that is not plain, or more
 * than LV_MIG_MAX_FILES files. */
int lv_mig_info_parse(const char *text, struct lv_mig_info *out, struct err **err);

/* `<instances_path>/<uuid>_migrating`.  Caller frees. */
char *lv_mig_staging_dir(const char *instances_path, const char *uuid);

/* Is `name` a plain file name (no '/', newline, not "." or "..")? */
bool lv_mig_name_ok(const char *name);

#endif
