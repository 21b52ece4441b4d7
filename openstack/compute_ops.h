/* Handlers of the compute RPC methods that act on instances, with the
 * state transitions Nova expects (protocol.md section 7).  Each runs on an
 * RPC worker, serialized per instance; req->opaque is the os_compute. */
#ifndef SC_OPENSTACK_COMPUTE_OPS_H
#define SC_OPENSTACK_COMPUTE_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "openstack/rpc_server.h"

struct err;
struct os_compute;
struct os_inst;

int os_compute_build(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_terminate(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_stop_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_start_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_reboot_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_pause_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_unpause_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_suspend_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_resume_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_soft_delete_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_restore_instance(struct os_rpc_req *req, json_t **result, struct err **err);
/* compute_diagnostics.c: a running guest's counters, as a Diagnostics
 * object (os_diag_object) or Nova's older flat dict (os_diag_legacy). */
int os_compute_get_instance_diagnostics(struct os_rpc_req *req, json_t **result,
                                        struct err **err);
int os_compute_get_diagnostics(struct os_rpc_req *req, json_t **result, struct err **err);
struct drv_hv_diag;
json_t *os_diag_object(const struct drv_hv_diag *d, const char *hypervisor, bool config_drive,
                       int64_t uptime_s);
json_t *os_diag_legacy(const struct drv_hv_diag *d);
/* compute_console.c: a guest's VNC console through nova-novncproxy and
 * its serial console through nova-serialproxy (a ConsoleAuthToken made
 * through the conductor), and the port check the proxies ask for before
 * they connect. */
int os_compute_get_vnc_console(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_get_serial_console(struct os_rpc_req *req, json_t **result, struct err **err);
/* The ConsoleTypeUnavailable fault for console `type`, as Zed's manager
 * raises it (every console type sculpt does not serve).  Returns -1. */
int os_console_type_unavailable(struct os_rpc_req *req, const char *type, struct err **err);
int os_compute_validate_console_port(struct os_rpc_req *req, json_t **result, struct err **err);
/* compute_cache_images.c: base images fetched into the cache ahead of
 * builds; the answer says per image what happened. */
int os_compute_cache_images(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_trigger_crash_dump(struct os_rpc_req *req, json_t **result, struct err **err);
/* compute_password.c: the admin user's password set through the guest's
 * QEMU guest agent (Zed's set_admin_password, an RPC call). */
int os_compute_set_admin_password(struct os_rpc_req *req, json_t **result, struct err **err);

/* compute_quiesce.c: the guest's filesystems frozen (thawed) through its
 * QEMU guest agent (Zed's quiesce_instance, a call, and
 * unquiesce_instance, a cast: nova-api's volume-backed snapshots). */
int os_compute_quiesce_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_unquiesce_instance(struct os_rpc_req *req, json_t **result, struct err **err);

/* compute_resize.c: a resize to another flavor on this host, done live
 * (prep_resize runs the resize_instance and finish_resize legs itself,
 * revert_resize the finish_revert_resize one). */
int os_compute_prep_resize(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_confirm_resize(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_revert_resize(struct os_rpc_req *req, json_t **result, struct err **err);
/* compute_migrate.c: the legs only another compute sends, of a resize or
 * cold migration between two hosts. */
int os_compute_resize_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_finish_resize(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_finish_revert_resize(struct os_rpc_req *req, json_t **result, struct err **err);

/* compute_snapshot.c: `openstack server image create` (nova's
 * snapshot_instance): the guest's disk uploaded to the image nova-api
 * created. */
int os_compute_snapshot_instance(struct os_rpc_req *req, json_t **result, struct err **err);
/* The same from `openstack server backup create`, then the rotation. */
int os_compute_backup_instance(struct os_rpc_req *req, json_t **result, struct err **err);
/* The fields and properties a snapshot sets on its Glance image (nova's
 * _create_snapshot_metadata) for Instance primitive `inst` and the
 * image's format.  A new object. */
json_t *os_snapshot_image_meta(const json_t *inst, const char *disk_format);
/* The request's `image_id` (the image nova-api made for a snapshot or a
 * shelve), or NULL with *err when it is missing or unusable, or Glance is
 * not configured: then the action `event` is recorded failed, with the
 * fault, as Nova's decorators do. */
const char *os_compute_req_image_id(struct os_compute *c, struct os_rpc_req *req,
                                    struct os_inst *i, const char *event, struct err **err);

/* A method sculpt does not implement: NotImplementedError for a call; for
 * an instance operation also the fault, the task state reverted, the
 * action event failed and a migration (if any) set to error. */
/* inject_network_info (injectNetworkInfo): Zed's manager hands the
 * instance's network info to the driver, and its libvirt driver does
 * nothing with it; sculpt's guests take no Neutron ports.  It succeeds as
 * there, for an instance Nova knows. */
int os_compute_inject_network_info(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_unsupported(struct os_rpc_req *req, json_t **result, struct err **err);

/* compute_live.c: live migration between two hosts (Nova's RPCs of the
 * same names). */
int os_compute_live_check_dest(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_live_check_source(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_pre_live_migration(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_live_migration(struct os_rpc_req *req, json_t **result, struct err **err);
/* compute_live_ctl.c: abort and force-complete of a live migration under
 * way (not serialized: live_migration holds the instance's lock). */
int os_compute_live_migration_abort(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_live_migration_force_complete(struct os_rpc_req *req, json_t **result,
                                             struct err **err);
int os_compute_post_live_at_dest(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_rollback_live_at_dest(struct os_rpc_req *req, json_t **result, struct err **err);

/* Make the failure Nova's InstanceNotFound(instance_id). */
void os_fault_instance_not_found(struct os_fault *f, const char *uuid);

/* The request's instance, wrapped (NULL with *err when missing or bad). */
struct os_inst *os_compute_req_inst(struct os_compute *c, struct os_rpc_req *req,
                                    struct err **err);

/* What @wrap_instance_fault and @reverts_task_state do when an operation
 * failed: record the fault, save task_state None, finish the action event
 * with the failure (event NULL: none). */
void os_compute_fail_op(struct os_compute *c, struct os_inst *i, const char *event,
                        const struct err *failure);

/* How long a clean shutdown may take: the image's os_shutdown_timeout
 * (in system_metadata), else [DEFAULT] shutdown_timeout. */
int os_compute_shutdown_timeout(const struct os_compute *c, const struct os_inst *i);

/* After a backend call returned rc (with *err when -1): when it failed
 * because the hypervisor was unreachable, wait (up to 30 s) for the
 * backend to reconnect and return -1 with *err cleared: the caller tries
 * once more.  Returns 0 when rc was 0, 1 when the failure stands. */
int os_compute_hv_retry(struct os_compute *c, int rc, struct err **err);

/* Update the resource tracker's view of an instance from its state. */
void os_compute_track_inst(struct os_compute *c, const struct os_inst *i);

#endif
