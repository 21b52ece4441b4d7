/* The fake hypervisor backend (nova/virt/fake.py's role): guests held in
 * memory, a clock that moves only when told, usage that follows a demand
 * the caller sets, capped by the guest's shape as a real hypervisor would
 * enforce it.  Deterministic: the same calls give the same samples.
 *
 * Open it with drv_hv_open("fake", cfg, &err); [fake] topology describes
 * the host it pretends to be.  The functions below steer it; they return
 * ERR_INVALID when `hv` is not a fake backend.
 */
#ifndef SC_DRIVER_FAKE_FAKE_H
#define SC_DRIVER_FAKE_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "driver/hypervisor.h"

/* Unix time (ms) the fake clock starts at: 2026-01-01T00:00:00Z. */
#define DRV_FAKE_EPOCH_MS 1767225600000LL

/* What the guest would use if nothing held it back.  Use is this demand
 * capped by the shape: vCPUs at the entitlement, memory at the balloon,
 * bandwidth and I/O at their limits (0 = unlimited).  When the running
 * guests want more CPU than the host has, they share it as CFS does, by
 * their shapes' CPU weights (drv_shape_cpu_weight). */
int drv_fake_set_demand(struct drv_hv *hv, const char *uuid, const struct drv_res *demand,
                        struct err **err);

/* Report guest `uuid` in its samples as stalled short of a memory
 * hot-plug request, holding mib (0: not short), as the libvirt backend
 * does (drv_hv_sample.mem_short_mib). */
int drv_fake_set_mem_short(struct drv_hv *hv, const char *uuid, double mib, struct err **err);

/* Make guest `uuid` hold mib of memory while it runs, whatever its balloon
 * target (0: what it was asked), as a guest whose balloon trails its
 * target does: its info reports what it holds as its shape's memory and
 * the target as mem_asked_mib; its samples, what it holds. */
int drv_fake_set_mem_held(struct drv_hv *hv, const char *uuid, double mib, struct err **err);

/* Report guest `uuid` as booting (its balloon driver yet to report its
 * memory: drv_hv_counters.guest_mem_pending) or booted. */
int drv_fake_set_booting(struct drv_hv *hv, const char *uuid, bool booting, struct err **err);

/* Move the fake clock forward by ms (>= 0); running guests' counters grow
 * by their capped use over that time. */
int drv_fake_advance(struct drv_hv *hv, int64_t ms, struct err **err);
/* The fake clock, ms since it started. */
int64_t drv_fake_now_ms(struct drv_hv *hv);

/* The guest stops behind sculpt's back; `reason` is "crashed",
 * "shutdown" or "destroyed".  Emits a STOPPED event (by_sculpt false). */
int drv_fake_kill(struct drv_hv *hv, const char *uuid, const char *reason, struct err **err);

/* Change a guest's live shape behind sculpt's back (drift for reconcile). */
int drv_fake_tamper(struct drv_hv *hv, const char *uuid, const struct drv_shape *shape,
                    struct err **err);

/* Make the next `count` calls of backend op `op` ("spawn", "reshape",
 * "sample", ...) fail with `code`. */
int drv_fake_fail_next(struct drv_hv *hv, const char *op, enum err_code code, int count,
                       struct err **err);

/* Lose the hypervisor (every call fails UNAVAILABLE, a DISCONNECTED event
 * fires) and get it back (RECONNECTED).  Guests keep running meanwhile. */
int drv_fake_disconnect(struct drv_hv *hv, struct err **err);
int drv_fake_reconnect(struct drv_hv *hv, struct err **err);

/* Hypervisor calls the backend has made so far (each knob counts one). */
int64_t drv_fake_calls(struct drv_hv *hv);

/* The config drive attached to guest `uuid` (at spawn or inserted at a
 * hand-over): *out a copy the caller frees with drv_hv_config_drive_free(),
 * NULL when the drive is empty or absent; *tray (may be NULL): whether the
 * guest has a cdrom drive at all.  NOT_FOUND without such a guest. */
int drv_fake_config_drive(struct drv_hv *hv, const char *uuid, struct drv_hv_config_drive **out,
                          bool *tray, struct err **err);

#endif
