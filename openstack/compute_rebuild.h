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
 * (_error_out_instance_on_exception).
 *
 * Evacuate (recreate=True) is the same request on the host the scheduler
 * chose while the instance's own host is down (compute_evacuate.c):
 * instance disks are never shared here (on_shared_storage=True is Nova's
 * InvalidSharedStorage), so the guest is spawned from the instance's
 * image with a new config drive, admitted by the engine as a build is
 * (a cold-start blueprint for its class: the source and its predictor
 * state are out of reach), the migration set `pre-migrating` with this
 * host as its destination at the claim, `done` once instance.host/node
 * name this host, `failed` on any failure -- which also drops this
 * host's provider from the instance's allocations (the engine's refusal
 * leaves vm_state as it was: BuildAbortException).  A leftover guest of
 * an earlier attempt here is destroyed first.  The source, when its
 * sculpt-compute starts again, cleans up (os_compute_evacuated_cleanup).
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

/* ---- evacuate's pure rules (compute_rebuild_plan.c) ---- */

/* Whether a migration (its migration_type, source_compute, status) is an
 * evacuation from `host` the source cleans up at start: accepted,
 * pre-migrating or done (Nova's filter; completed is cleaned up already,
 * failed/error left the instance where it was). */
bool os_evacuation_from(const char *type, const char *source, const char *status,
                        const char *host);

struct os_evac_source_plan {
    bool destroy_guest;    /* a guest of the instance is defined here */
    bool forget;           /* the engine's and the database's rows */
    bool drop_allocations; /* this host's provider from its allocations */
    bool complete;         /* the migration `completed` */
};
/* What the source does for one evacuation: its guest (when `guest_here`)
 * and rows go; when Nova still has the instance (`inst_found`), its
 * allocations here and the migration are settled; a deleted instance's
 * were settled by its delete. */
struct os_evac_source_plan os_evac_source_plan(bool guest_here, bool inst_found);

enum os_evac_failure_kind {
    OS_EVAC_FAIL_REFUSED, /* the engine's admission refused: nothing done */
    OS_EVAC_FAIL_DELETED, /* the instance deleted meanwhile */
    OS_EVAC_FAIL_OTHER,   /* anything else: the instance in ERROR */
};
struct os_evac_failure {
    const char *mig_status;     /* "failed" */
    bool drop_dest_allocations; /* this host's provider from the allocations */
    bool keep_vm_state;         /* InstanceFaultRollback: vm_state unchanged */
};
/* What a failed evacuation to this host leaves (rebuild_instance's except
 * clauses). */
struct os_evac_failure os_evac_failure(enum os_evac_failure_kind kind);

/* ---- evacuate (compute_evacuate.c) ---- */

/* The instance is evacuated to this host: migration `mig` (may be NULL)
 * gets this host as its destination and `pre-migrating` (rebuild_claim's
 * _claim_existing_migration).  -1 with *err when not saved. */
int os_compute_evacuate_claimed(struct os_compute *c, const json_t *ctx, json_t *mig,
                                const char *node, struct err **err);
/* finish_evacuation: the migration `done` (logged when not saved). */
void os_compute_evacuate_done(struct os_compute *c, const json_t *ctx, json_t *mig);
/* An evacuation here failed (`kind`, os_evac_failure): the migration
 * `failed`; when the instance's host is another (`elsewhere`), this
 * host's provider dropped from its allocations unless it was deleted
 * meanwhile, and whatever of it is here (guest, files, rows) released.
 * Logged, not returned. */
void os_compute_evacuate_failed(struct os_compute *c, const json_t *ctx, json_t *mig,
                                const char *uuid, bool elsewhere, enum os_evac_failure_kind kind);
/* At start, before the instances are recovered
 * (_destroy_evacuated_instances): every evacuation from this host
 * (os_evacuation_from) has its guest here destroyed with its files, the
 * engine's and the database's rows of it dropped, this host's provider
 * dropped from its allocations and the migration `completed` -- in that
 * order, each step harmless when done again, so a restart midway does the
 * rest.  *skip gets the uuids of those instances (a new reference to an
 * object used as a set): the recovery leaves them alone.  -1 with *err
 * when Nova could not list the migrations. */
int os_compute_evacuated_cleanup(struct os_compute *c, const json_t *ctx, json_t **skip,
                                 struct err **err);

#endif
