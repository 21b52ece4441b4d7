/* rescue_instance / unrescue_instance on this host (`openstack server
 * rescue [--image X] [--password P]`, `openstack server unrescue`):
 * nova/compute/manager.py rescue_instance / unrescue_instance with the
 * libvirt driver's rescue/unrescue, and the pure rules they and the
 * start-up recovery follow (compute_rescue_plan.c, unit tested).
 *
 * The API has set task_state `rescuing` (`unrescuing`).  rescue:
 *   event_start(compute_rescue_instance)
 *   the rescue image (_get_rescue_image: rescue_image_ref, else the
 *     image_base_image_ref of the system metadata, else the instance's
 *     image) into the image cache -- unreachable or unknown: ImageNotFound
 *     and the like, the instance left as it was (task reverted)
 *   a config drive when the instance needs one, its admin_pass the
 *     rescue password (generated when none was given, as Nova does)
 *   power-off (clean within the image's shutdown timeout when
 *     clean_shutdown, else at once), then drv_hv_rescue: the same domain
 *     boots from the rescue disk, the guest's own disk attached second;
 *     with the image's hw_rescue_device / hw_rescue_bus a stable device
 *     rescue: its own disk and drive as they were, the rescue image
 *     added last as that device (os_rescue_dev_of), booted first --
 *     any failure there: InstanceNotRescuable, vm_state ERROR
 *   save(expected rescuing) rescued, power_state, launched_at
 * unrescue: drv_hv_unrescue (the guest's own definition back, started,
 * the rescue files gone); failure: ERROR; save(expected unrescuing)
 * active.
 *
 * The engine: the rescued guest is the same instance and keeps its
 * reservation and its shape (the one in force when it was rescued); its
 * blueprint and predictor are kept, the rescue boot counted as a boot.
 */
#ifndef SC_OPENSTACK_COMPUTE_RESCUE_H
#define SC_OPENSTACK_COMPUTE_RESCUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "driver/instance.h"
#include "openstack/rpc_server.h"

struct drv_hv_info;
struct os_compute;
struct os_inst;

int os_compute_rescue_instance(struct os_rpc_req *req, json_t **result, struct err **err);
int os_compute_unrescue_instance(struct os_rpc_req *req, json_t **result, struct err **err);

/* At start, for an instance whose task state is `rescuing` or
 * `unrescuing` (`g`: its guest here, NULL: none): brought to a consistent
 * end (os_rescue_recover_decide).  1 when the task was one of these, 0
 * otherwise (nothing done). */
int os_compute_rescue_recover(struct os_compute *c, struct os_inst *i,
                              const struct drv_hv_info *g);

/* ---- pure rules (compute_rescue_plan.c) ---- */

/* The image a rescue boots (_get_rescue_image): `requested` when given,
 * else `base_image` (system_metadata image_base_image_ref), else
 * `image_ref`; NULL when none is ("" counts as none). */
const char *os_rescue_image_ref(const char *requested, const char *base_image,
                                const char *image_ref);

/* A password as nova.utils.generate_password makes it: `len` characters
 * (1..63) of its default symbols (no 0, O, 1, l, I) from the kernel's
 * random source, into buf (len + 1 bytes).  -1 with *err when there is
 * no randomness. */
int os_rescue_password(char *buf, size_t len, struct err **err);

enum os_rescue_recovery {
    OS_RESCUE_RECOVER_RESCUED,  /* the rescue guest is defined: run it, RESCUED */
    OS_RESCUE_RECOVER_ACTIVE,   /* its own definition: run it, ACTIVE (a rescue
                                 * that never took, an unrescue to finish) */
    OS_RESCUE_RECOVER_STOPPED,  /* a stopped server's rescue that never took:
                                 * its own definition left off, STOPPED */
    OS_RESCUE_RECOVER_ERROR,    /* no guest: ERROR */
};
/* What the start-up recovery does with an instance interrupted in task
 * `task` ("rescuing" or "unrescuing"), vm_state `vm` (the one it had
 * before: the API sets only the task), whose guest is `have_guest` and
 * defined rescued (`rescued`): an unrescue is always finished; a rescue
 * is finished when its definition was written (it is what a restart
 * finds defined), else undone -- the server back as it was, running
 * unless it was stopped.  Nova's _init_instance leaves both tasks as
 * they are (the server stuck until reset-state). */
enum os_rescue_recovery os_rescue_recover_decide(const char *task, const char *vm, bool have_guest,
                                                 bool rescued);

/* Whether `task` is "rescuing" or "unrescuing". */
bool os_rescue_task(const char *task);

/* Whether the image whose Glance record is `meta` asks for a stable
 * device rescue: it has hw_rescue_device or hw_rescue_bus
 * (hardware.check_hw_rescue_props). */
bool os_rescue_is_stable(const json_t *meta);

/* How a rescue attaches the image whose Glance record (properties at the
 * top level) is `meta` (blockinfo.get_rescue_device / get_rescue_bus):
 * LEGACY unless os_rescue_is_stable; the device then defaults to a disk,
 * the bus to the image's hw_<device>_bus, else the device's own
 * (DEFAULT).  A device or bus Nova does not know, or one this host's
 * qemu/kvm cannot attach (a LUN: the image is a file; xen, lxc, uml):
 * UNSUPPORTED or INVALID with Nova's words, *out untouched. */
struct drv_hv_rescue_dev;
int os_rescue_dev_of(const json_t *meta, struct drv_hv_rescue_dev *out, struct err **err);

#endif
