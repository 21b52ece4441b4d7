/* rebuild_instance on this host (`openstack server rebuild --image X`):
 * nova/compute/manager.py rebuild_instance / _do_rebuild_instance with the
 * libvirt driver's default path (_rebuild_default_impl), and the pure
 * rules the compute manager's rebuild and its start-up recovery follow
 * (compute_rebuild_plan.c, unit tested).
 *
 * The API has already pointed the instance at the new image (image_ref,
 * the image_* system metadata) and set task_state `rebuilding`.  Here:
 *
 *   event_start(compute_rebuild_instance)
 *   the new image into the cache, checked against the flavor's disk
 *     (failures to reach the image leave the instance as it was, as
 *     Nova's ImageMeta.from_image_ref does; a bad image is Nova's ERROR)
 *   the engine's shape: a new image is a new workload -- its blueprint
 *     starts cold for its class (the predictor keys on the image), its
 *     reservation given back first as for a resize; the same image keeps
 *     the blueprint and what its predictor learnt
 *   save(expected rebuilding) power_state
 *   clean power-off, destroy (disks and config drive go)
 *   save(expected rebuilding) rebuild_block_device_mapping
 *   save(expected rebuild_block_device_mapping) rebuild_spawning
 *   spawn the same domain (uuid, name) from the new image with a new
 *     config drive (new password, files, metadata); boot allowance
 *   save(expected rebuild_spawning) active, power_state, launched_at --
 *     then stopped again when it was stopped (Nova's stop_instance)
 *   event_finish
 *
 * Any failure once the guest was touched leaves the instance in ERROR
 * (_error_out_instance_on_exception).  evacuate (recreate=True) is not
 * implemented: it fails as every unsupported method does.
 */
#ifndef SC_OPENSTACK_COMPUTE_REBUILD_H
#define SC_OPENSTACK_COMPUTE_REBUILD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/instance.h"
#include "openstack/rpc_server.h"

struct drv_hv_info;
struct err;
struct os_compute;
struct os_inst;

int os_compute_rebuild_instance(struct os_rpc_req *req, json_t **result, struct err **err);

/* At start, for an instance whose task state is a rebuild's (`g`: its
 * guest here, NULL: none): finished when the rebuilt guest runs (its
 * spawn was under way and its disk is the new image's), ERROR otherwise
 * as Nova's _init_instance does.  1 when the task was a rebuild's, 0
 * otherwise (nothing done). */
int os_compute_rebuild_recover(struct os_compute *c, struct os_inst *i,
                               const struct drv_hv_info *g);

/* A failure to get image `image_id` (os_compute_build_images) as the
 * exception Nova raises for it: ImageNotFound, GlanceConnectionFailed,
 * ImageUnacceptable; others keep the dispatch table's class. */
struct os_fault;
void os_fault_image(struct os_fault *f, const char *image_id, const struct err *e);

/* ---- pure rules (compute_rebuild_plan.c) ---- */

/* Whether task state `task` (NULL: none) is one of a rebuild's. */
bool os_rebuild_task(const char *task);

/* Whether a rebuild from `orig_image` to `new_image` (either may be NULL
 * or "") gives the guest a new cold-start blueprint: yes when the image
 * changes (or the old one is unknown); the same image keeps what the
 * guest's predictor learnt. */
bool os_rebuild_new_blueprint(const char *orig_image, const char *new_image);

enum os_rebuild_recovery {
    OS_REBUILD_RECOVER_FINISH, /* the rebuilt guest runs: the rebuild is over */
    OS_REBUILD_RECOVER_ERROR,  /* interrupted before its guest ran: ERROR */
};
/* What the start-up recovery does with an instance interrupted in
 * rebuild task `task`: FINISH only when the spawn was under way
 * (rebuild_spawning, saved after the old guest was destroyed), a guest
 * runs (`power`; `have_guest` false: none) and its disk comes from image
 * `guest_image` == the instance's `image_ref`. */
enum os_rebuild_recovery os_rebuild_recover_decide(const char *task, bool have_guest,
                                                   enum drv_power_state power,
                                                   const char *guest_image, const char *image_ref);

/* The Glance image id a cached base image's path names (its file name:
 * the cache keeps IMAGES_PATH/<id>), or NULL.  Borrowed from `path`. */
const char *os_rebuild_image_of_base(const char *path);

/* The virtual size in bytes of disk image `path` in `format` ("qcow2":
 * its header's size field; "raw": the file's size) into *out.  -1 with
 * *err: the file cannot be read, is not of the format (INVALID), or the
 * format is another (UNSUPPORTED). */
int os_image_virtual_size(const char *path, const char *format, int64_t *out, struct err **err);

#endif
