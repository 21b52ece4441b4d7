/* Guest storage (nova/virt/libvirt/imagebackend.py's Qcow2 role): each
 * guest's folder under instances_path and its qcow2 overlay over a cached
 * base image, made with qemu-img.
 */
#ifndef SC_DRIVER_LIBVIRT_VOLUME_H
#define SC_DRIVER_LIBVIRT_VOLUME_H

#include <stdint.h>

struct err;
struct strbuf;

/* Run argv (argv[0] looked up in PATH; no shell, stdin /dev/null), wait,
 * and collect its stdout and stderr (the first 64 KiB, without the line
 * ends it closes with) into `out`.
 * Returns the exit status (0..255), or -1 with *err when it could not run
 * or died of a signal. */
int lv_volume_run(char *const argv[], struct strbuf *out, struct err **err);

/* Create the guest's folder `dir` (mode 0700, parents as needed).  CONFLICT
 * when it already holds a disk (another guest's leftovers are never
 * reused). */
int lv_volume_make_dir(const char *dir, struct err **err);

/* Create `overlay` (qcow2) backed by `base` in `base_format` ("qcow2" or
 * "raw"), of virtual size root_gb GiB, or the base's size when root_gb is 0
 * or smaller than the base.  Runs `qemu_img` (a program name or path). */
int lv_volume_create_overlay(const char *qemu_img, const char *base, const char *base_format,
                             int64_t root_gb, const char *overlay, struct err **err);

/* Point qcow2 `overlay` at `base` (in `base_format`) without reading or
 * writing any data (qemu-img rebase -u): the same base image, cached under
 * another path on this host (a migrated guest's). */
int lv_volume_rebase(const char *qemu_img, const char *overlay, const char *base,
                     const char *base_format, struct err **err);

/* Create `delta`, an empty qcow2 over the same base image as qcow2
 * `overlay` (which a running guest may hold) and of its virtual size: the
 * destination of a shallow block copy of it (nova's _live_snapshot).
 * INVALID when `overlay` has no base. */
int lv_volume_create_delta(const char *qemu_img, const char *overlay, const char *delta,
                           struct err **err);

/* Grow qcow2 `path` to root_gb GiB when it is smaller (a resize to a
 * flavor with a larger disk); never shrinks. */
int lv_volume_grow(const char *qemu_img, const char *path, int64_t root_gb, struct err **err);

/* Move file `from` to `to`: a rename, or across file systems a sparse copy
 * (cp) and the original removed. */
int lv_volume_move(const char *from, const char *to, struct err **err);

/* Remove the guest's folder and everything in it.  Refuses (INVALID) a
 * path outside `root` (instances_path).  A missing folder is not an
 * error. */
int lv_volume_remove_dir(const char *root, const char *dir, struct err **err);

#endif
