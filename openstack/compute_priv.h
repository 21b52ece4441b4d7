/* Internals of the compute manager (openstack/compute*.c). */
#ifndef SC_OPENSTACK_COMPUTE_PRIV_H
#define SC_OPENSTACK_COMPUTE_PRIV_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/control.h"
#include "driver/instance.h"
#include "driver/sculpt.h"
#include "openstack/compute.h"
#include "openstack/conductor.h"
#include "openstack/rpc_server.h"

struct drv_pool_mgr;
struct metrics_family;
struct os_pool_saved;
struct os_live_runs;
struct os_notifier;
struct os_inst;

/* Zed's SERVICE_VERSION: RPC 6.1 and every feature flag up to it
 * (protocol.md 4.1).  Lower than 61 would stop the control plane. */
#define OS_SERVICE_VERSION 64
#define OS_COMPUTE_BINARY "nova-compute"
#define OS_COMPUTE_TOPIC "compute"

/* What the resource tracker counts of one instance on this host: the
 * flavor Nova allocated (usage in ComputeNode is in flavor units, as Nova
 * computes it). */
struct os_tracked {
    char uuid[DRV_UUID_LEN + 1];
    char project_id[64];
    int32_t vcpus;
    int64_t memory_mb;
    int64_t disk_gb;
    char vm_state[24];
    char task_state[32];
};

struct os_compute {
    struct cfg *cfg;                /* a reference */
    int64_t audit_done_end;         /* the usage audit's last period logged (periodic thread) */
    char host[256];
    char node[256];
    struct os_messaging *msg;
    struct os_conductor conductor;
    struct drv_hv *hv;
    const struct drv_host *host_topo;
    struct drv_sculpt *engine;
    struct drv_fleet *fleet;
    struct drv_control *control;    /* owned: the per-step control loop */
    struct drv_pool_mgr *pools;     /* owned: pre-sculpted pools; NULL when disabled */
    struct os_pool_saved *pools_saved; /* owned: what os_compute_pools_save() last queued */
    struct db *db;
    struct os_placement *placement;
    struct drv_sculpt_inventory inv_reported; /* what Placement last got (under lock);
                                               * zero: nothing yet */
    int64_t inv_reported_ms;        /* when, wall clock (under lock); 0: never */
    struct os_image_cache *images;
    struct os_glance *glance;       /* borrowed; NULL: no snapshots */
    int64_t started_s;
    struct metrics_family *rpc_seconds; /* sculpt_rpc_duration_seconds */

    pthread_mutex_t lock;           /* everything below */
    pthread_cond_t cond;            /* stop/cancel wake-ups */
    bool cancelled;
    bool stopping;
    json_t *service;                /* our Service primitive */
    json_t *node_obj;               /* our ComputeNode primitive */
    char node_uuid[DRV_UUID_LEN + 1];
    bool disabled;                  /* Service.disabled: trait COMPUTE_STATUS_DISABLED */
    bool resources_dirty;           /* usage changed since the last report */
    bool recovered;                 /* recovery and first report over: tracked is whole */
    struct os_tracked *tracked;
    size_t ntracked;
    uint64_t failed_builds;
    char (*to_sync)[DRV_UUID_LEN + 1]; /* guests whose power changed behind our back */
    size_t nto_sync;
    struct keylocks *inst_locks;    /* serialize an instance's RPCs and other work on it */
    struct os_live_runs *live_runs; /* live migrations out, for their abort (live_runs.h) */
    struct os_notifier *notifier;   /* owned: Nova's notifications (notifier.h) */
    struct os_move_claim *moves_in; /* move claims to check (compute_migrate_claims.c) */
    size_t nmoves_in;
    bool moves_in_new;              /* one noted since the periodic thread looked */

    pthread_t heartbeat;
    bool heartbeat_started;
    pthread_t periodic;
    bool periodic_started;
};

/* ---- compute_notify.c: Nova's legacy instance notifications ---- */

/* compute.instance.SUFFIX ("power_off.start") about the instance `prim`
 * (borrowed) in the name of `ctx`, at ERROR when SUFFIX ends in "error"
 * (with the fault's exception, message and code; `fault_cls` its Nova
 * class, NULL: NovaException), else INFO; `extra` (stolen, may be NULL)
 * overrides or adds payload keys, as extra_usage_info does.  The flavor,
 * metadata and system_metadata are loaded into `prim` (through the
 * conductor, as Nova lazy-loads them) when it came without.  Nothing is
 * built when notifications are off.  Never fails, never waits for the
 * broker.  Any thread. */
void os_compute_notify_prim(struct os_compute *c, const json_t *ctx, json_t *prim,
                            const char *suffix, json_t *extra, const char *fault_cls,
                            const struct err *fault);
/* The same for a request's instance, as it is now. */
void os_compute_notify(struct os_compute *c, const struct os_inst *i, const char *suffix,
                       json_t *extra);
void os_compute_notify_error(struct os_compute *c, const struct os_inst *i, const char *suffix,
                             const char *fault_cls, const struct err *fault);
/* The fixed IPs of the network info Nova cached for the instance
 * (info_cache), as the payload lists them ([] without any); and the extra
 * {"fixed_ips": [...]} of the events Zed sends with network_info.  New. */
json_t *os_compute_notify_fixed_ips(const struct os_inst *i);
json_t *os_compute_notify_nw(const struct os_inst *i);
/* compute.instance.exists for the current audit period (Zed's
 * notify_usage_exists(current_period=True)), with the image metadata of
 * `sysmeta` (borrowed; NULL: none) and the URL of `image_ref` (NULL: the
 * instance's) -- what a rebuild reports of the image it leaves. */
void os_compute_notify_exists(struct os_compute *c, const struct os_inst *i,
                              const json_t *sysmeta, const char *image_ref);
/* compute.instance.exists of the instance `prim` for the audit period
 * [begin, end) (str() of naive UTC datetimes): the usage audit's. */
void os_compute_notify_exists_prim(struct os_compute *c, const json_t *ctx, json_t *prim,
                                   const json_t *sysmeta, const char *image_ref,
                                   const char *begin, const char *end);

/* ---- compute_service.c: registration, heartbeat, resources ---- */

/* Ping the conductor until it answers (or cancel).  0 or -1. */
int os_compute_wait_conductor(struct os_compute *c, struct err **err);
/* Service get/create (and version update), ComputeNode get/create. */
int os_compute_register(struct os_compute *c, struct err **err);
/* ComputeNode.save of the usage and Placement inventories/traits, when
 * they changed (force: always).  Failures are logged and retried later. */
void os_compute_report_resources(struct os_compute *c, bool force);
/* compute_recover.c: instances Nova places here meet the hypervisor's
 * guests (tracked, adopted, interrupted operations finished). */
int os_compute_recover(struct os_compute *c, struct err **err);
/* Start/stop the heartbeat and periodic threads. */
int os_compute_threads_start(struct os_compute *c, struct err **err);
void os_compute_threads_stop(struct os_compute *c);

/* compute_orphans.c: allocations against our provider held by instances
 * Nova deleted are released (the resource tracker's
 * _remove_deleted_instances_allocations, with its safety rules). */
enum os_orphan_verdict {
    OS_ORPHAN_KEEP_TRACKED,   /* an instance this host manages */
    OS_ORPHAN_KEEP_UNKNOWN,   /* not an instance Nova knows (a build racing, a migration) */
    OS_ORPHAN_RELEASE,        /* deleted: its allocations go */
    OS_ORPHAN_KEEP_HIDDEN,    /* deleted but hidden: a cross-cell move cleans up */
    OS_ORPHAN_KEEP_SCHEDULED, /* no host yet: scheduled here, not started */
    OS_ORPHAN_KEEP_IN_MOTION, /* on this host and node, a task under way */
    OS_ORPHAN_KEEP_UNMANAGED, /* on this host and node, no task, not tracked */
    OS_ORPHAN_KEEP_MOVED,     /* on another host or node */
    OS_ORPHAN_LAST,
};
/* What Nova says of a consumer (fields borrowed from its record). */
struct os_orphan_instance {
    bool found;               /* Nova has the instance (deleted ones included) */
    bool deleted;
    bool hidden;
    const char *host;         /* NULL or "" when not on a host yet */
    const char *node;
    const char *task_state;   /* NULL when none */
};
/* The verdict on a consumer of our provider's allocations: `tracked` when
 * this host tracks it, `in` Nova's record (NULL: none), `host`/`node`
 * ours.  Pure. */
enum os_orphan_verdict os_orphan_decide(bool tracked, const struct os_orphan_instance *in,
                                        const char *host, const char *node);
const char *os_orphan_verdict_name(enum os_orphan_verdict v);
/* One pass over the provider's allocations (periodic thread, after the
 * start-up recovery): the number released, or -1 when Placement could not
 * be read.  Lookups and releases that fail are logged and left for the
 * next pass. */
int os_compute_orphans_release(struct os_compute *c);

/* compute_sync.c: power states changed behind sculpt's back (a guest that
 * shut itself down or crashed) reach Nova, as _sync_power_states does. */
void os_compute_sync_subscribe(struct os_compute *c);
/* Sync the queued guests (periodic thread). */
void os_compute_sync_pending(struct os_compute *c);
/* The event log's record of a memory event (DRV_HV_EVENT_MEMORY: a
 * hot-plug stall, memory left offline, a catch-up): source "hypervisor",
 * action "memory.<reason>", a stall or offline memory as TIMEOUT (it was
 * declared after [libvirt] memory_hotplug_timeout), the figures of `info`
 * (the guest's now; NULL when it could not be read) in the message.
 * Release with db_event_release(). */
struct db_event;
void os_compute_memory_event(const struct drv_hv_event *ev, const struct drv_hv_info *info,
                             struct db_event *out);

/* The resource tracker's table. */
void os_compute_track(struct os_compute *c, const struct os_tracked *t);
/* What the node reports moved (usage, the engine's inventory): the
 * periodic pass reports it within RESOURCES_SOON_MS, not at its next
 * minute.  c->lock held. */
void os_compute_resources_moved_locked(struct os_compute *c);
void os_compute_untrack(struct os_compute *c, const char *uuid);

/* ---- compute_engine.c: the engine, the predictor and the database ---- */

struct os_inst;
struct drv_shape;

/* Admit and place the instance's blueprint: *shape is what to spawn.
 * ERR_CAPACITY (with the engine's reason) when the host cannot hold it. */
int os_compute_engine_place(struct os_compute *c, struct os_inst *i, struct drv_shape *shape,
                            struct err **err);
/* The same for an instance that comes back (an unshelve): its predictor
 * continues from `carried` (a state its shelved image carried; NULL:
 * none), else from the one saved when it was offloaded from this host
 * (os_compute_record_offloaded), else from the fleet. */
int os_compute_engine_place_again(struct os_compute *c, struct os_inst *i,
                                  const unsigned char *carried, size_t carried_len,
                                  struct drv_shape *shape, struct err **err);
/* A held guest moved to another workload class -- `was` as it is held,
 * `now` with its new image (a rebuild) or flavor (a resize) -- admitted
 * again as a build would be (drv_control_resize_reclaiming: the old
 * reservation given back first, idle pool members' room taken for `what`,
 * "rebuild" or "resize"): with the operator's custom blueprint for the
 * new class when one matches (recorded as its first revision, *custom its
 * name, the caller frees), else the predictor's cold start (*custom
 * NULL).  *shape is the shape to give the guest.  ERR_CAPACITY when
 * refused: the guest held as before. */
int os_compute_engine_reclass(struct os_compute *c, const struct drv_instance *was,
                              const struct drv_instance *now, const char *what,
                              struct drv_shape *shape, char **custom, struct err **err);
/* Forget a guest's placement (failed build, delete); unknown is fine. */
void os_compute_engine_forget(struct os_compute *c, const char *uuid);
/* The guest `uuid` was started or restarted (power-on, reboot, a moved
 * guest started): its boot allowance (drv_control_boot).  A failure is
 * logged: the guest boots at the shape it holds. */
void os_compute_engine_booting(struct os_compute *c, const char *uuid);
/* Power guest `uuid` on, its OS booting, with its boot allowance: a
 * start, a recovery finishing an interrupted power-on or reboot, a failed
 * or undone move's source started again (a reboot gives its own).  A
 * resize in place boots nothing and gives none. */
int os_compute_power_on_booting(struct os_compute *c, const char *uuid, struct err **err);
/* The config drive instance primitive `prim` gets here (*out NULL when
 * it needs none: Nova's required_by, `image` its image meta or NULL): its
 * metadata, with `files` injected and `password` as admin_pass (either
 * may be NULL).  -1 with *err when it cannot be made. */
int os_compute_config_drive(struct os_compute *c, const json_t *prim, const json_t *image,
                            const json_t *files, const char *password,
                            struct drv_hv_config_drive **out, struct err **err);
/* os_compute_config_drive() for the guest of instance `i` a build or a
 * rebuild spawns: when it gets a drive, the instance is marked
 * config_drive=True (saved with its next save), as Nova's
 * configdrive.update_instance() does, so later spawns keep it. */
int os_compute_instance_config_drive(struct os_compute *c, struct os_inst *i, const json_t *image,
                                     const json_t *files, const char *password,
                                     struct drv_hv_config_drive **out, struct err **err);
/* Nova's Instance record of `uuid` as it is now (Instance.get_by_uuid
 * under `ctx`, loading `attrs`: a NULL-terminated list of
 * expected_attrs, NULL for none): a new reference, or NULL with *err --
 * then *gone (may be NULL) says whether Nova answered InstanceNotFound
 * rather than not answering.  What the record means is the caller's. */
json_t *os_compute_instance_now(struct os_compute *c, const json_t *ctx, const char *uuid,
                                const char *const *attrs, bool *gone, struct err **err);
/* What a start-up pass weighs for instance `uuid`: Nova's record now
 * (*inst, a new reference; NULL when Nova has no such instance) and
 * whether its guest is defined here (*guest_here).  -1 with *err when
 * Nova could not say. */
/* A periodic task's request to this host itself: `task` saved on the
 * instance `prim` (guarded by no task, so an API request that came first
 * wins), then `method` cast to this host's own queue with `args` (stolen;
 * "instance" is added), served one at a time with the instance's other
 * requests, and found by a restart through its task state.  -1 with *err. */
int os_compute_cast_self(struct os_compute *c, const json_t *ctx, json_t *prim, const char *task,
                         const char *method, json_t *args, struct err **err);
int os_compute_instance_facts(struct os_compute *c, const json_t *ctx, const char *uuid,
                              json_t **inst, bool *guest_here, struct err **err);
/* compute_password.c: an image property's truth as Nova reads it
 * (oslo's bool_from_string: 1, t, true, on, y, yes in any case). */
bool os_image_prop_true(const char *v);
/* Does the guest of Instance primitive `inst` get a QEMU guest agent
 * channel (hw_qemu_guest_agent)?  From `image`'s properties when given (a
 * build's or rebuild's image dict), else from the instance's image
 * properties in system_metadata. */
bool os_compute_wants_agent(const json_t *inst, const json_t *image);
/* The user set_admin_password acts for: the image's os_admin_user, else
 * Administrator for os_type windows, root otherwise (Zed's libvirt
 * driver).  Borrowed from `inst`. */
const char *os_compute_admin_user(const json_t *inst);

/* compute_quiesce.c: the image's os_require_quiesce (Nova's
 * _requires_quiesce) of Instance primitive `inst`. */
bool os_compute_requires_quiesce(const json_t *inst);
/* Zed's _can_quiesce: 0, or -1 with *err (INVALID) and, when `fault` is
 * not NULL, its class there: InstanceQuiesceNotSupported when the backend
 * cannot freeze, QemuGuestAgentNotEnabled without hw_qemu_guest_agent. */
int os_compute_can_quiesce(const struct os_compute *c, const json_t *inst, struct os_fault *fault,
                           struct err **err);
/* Turn the freeze's (thaw's) failure *err into Zed's InternalError
 * ("Error from libvirt while quiescing NAME: ..."), its class in `fault`
 * when not NULL. */
void os_compute_quiesce_error(const struct os_compute *c, const struct os_inst *i,
                              struct os_fault *fault, struct err **err);
/* How a snapshot of instance `i` quiesces (Zed's _live_snapshot before its
 * copy): NONE for a copy that is not `live` or a guest that cannot be
 * quiesced (logged), TRY, or REQUIRE for an image with os_require_quiesce;
 * -1 with *err (_can_quiesce's) when it cannot and the image requires it. */
int os_compute_snapshot_quiesce(const struct os_compute *c, const struct os_inst *i, bool live,
                                enum drv_hv_quiesce *mode, struct err **err);

/* Guest `uuid`'s power state now, as Nova numbers it (NOSTATE when the
 * backend does not know it). */
enum drv_power_state os_compute_power_now(struct os_compute *c, const char *uuid);
/* Hand a guest that runs in `shape` to the control loop (start-up, a
 * build delivered again).  new_guest: a pool member just handed over, new
 * to the fleet's guest counts (drv_control_adopt_new). */
int os_compute_engine_adopt(struct os_compute *c, const struct drv_instance *inst,
                            const struct drv_shape *shape, bool new_guest, struct err **err);
/* The same after a restart: the guest's predictor continues from the
 * state a previous run saved in the database (a cold start from the fleet
 * when none is saved or it cannot be read, logged). */
int os_compute_engine_restore(struct os_compute *c, const struct drv_instance *inst,
                              const struct drv_shape *shape, struct err **err);
/* The control loop's callbacks: samples, blueprints, reshapes and steps
 * into the database, and Placement refreshed when shapes change. */
void os_compute_control_callbacks(struct os_compute *c, struct drv_control_callbacks *cb);

/* compute_build.c: fetch the images instance i boots from (`image`: the
 * request's image dict; ctx: the request's context, whose token Glance
 * takes) into the image cache and spec->image. */
struct drv_hv_guest_spec;
int os_compute_build_images(struct os_compute *c, struct os_inst *i, const json_t *image,
                            const json_t *ctx, struct drv_hv_guest_spec *spec, struct err **err);
/* The same, an ISO taken too when `iso` (disk_format iso, attached as
 * raw: a stable rescue's cdrom), and *meta_out (may be NULL) given the
 * image's Glance record, whose properties decide how it is used (caller
 * decrefs). */
int os_compute_fetch_images(struct os_compute *c, struct os_inst *i, const json_t *image,
                            const json_t *ctx, struct drv_hv_guest_spec *spec, bool iso,
                            json_t **meta_out, struct err **err);
/* The hypervisor's name for an instance's guest: Nova's
 * instance_name_template, instance-%08x of Instance.id (caller frees). */
char *os_compute_domain_name(const struct os_inst *i);

/* The database's journal around an operation on the hypervisor
 * (db_intent_*): begin returns the intent id, or 0 when there is no
 * database or it is unreachable (the operation goes on: the start-up
 * reconcile still finds the guest).  `to` may be NULL. */
int64_t os_compute_intent_begin(struct os_compute *c, int op, const struct os_inst *i,
                                const struct drv_shape *to);
/* The same for a reshape the compute manager makes itself (a resize): from
 * the shape in force to `to`. */
int64_t os_compute_intent_reshape_begin(struct os_compute *c, const struct os_inst *i,
                                        const struct drv_shape *from,
                                        const struct drv_shape *to);
/* The same for a leg of a move between hosts (DB_OP_MIGRATE), its first
 * step recorded with it (compute_migrate_priv.h, OS_MIG_STEP_*). */
int64_t os_compute_intent_migrate_begin(struct os_compute *c, const struct os_inst *i,
                                        const struct drv_shape *to, const char *step);
void os_compute_intent_step(struct os_compute *c, int64_t id, const char *step);
void os_compute_intent_finish(struct os_compute *c, int64_t id, bool ok, const struct err *e);
/* Tests only: hold an open intent of `op` when SCULPT_TEST_PAUSE_INTENT
 * asks for it and the vCPU entitlement's change `from` -> `to` (both 0
 * for a spawn) is the one asked for (compute_engine.c); nothing
 * otherwise. */
void os_compute_intent_test_pause(const char *op, int64_t id, const char *uuid, double from,
                                  double to);
/* Tests only: the same for a step of `op` recorded by Nova's task state
 * and the hypervisor rather than by an intent (a rescue, an unrescue, an
 * offload): held after the hypervisor did its part, before Nova's record
 * is saved.  Nothing unless SCULPT_TEST_PAUSE_INTENT names `op`. */
void os_compute_test_pause(const char *op, const char *uuid);
/* The instance row as it is now (states, shape, domain). */
void os_compute_record_instance(struct os_compute *c, const struct os_inst *i);
/* The states Nova sees, after an operation. */
void os_compute_record_state(struct os_compute *c, const struct os_inst *i);
/* The instance was shelve-offloaded: gone from this host, its predictor
 * state saved (before the engine forgets the guest) and kept. */
void os_compute_record_offloaded(struct os_compute *c, const char *uuid);
/* The instance was deleted. */
void os_compute_record_deleted(struct os_compute *c, const char *uuid);

/* The schedulers' view of what runs where ([filter_scheduler]
 * track_instance_changes): instance i is now on this host
 * (compute_build.c), instance uuid no longer is (compute_terminate.c).
 * Failures are logged. */
void os_compute_tell_schedulers_new(struct os_compute *c, const struct os_inst *i,
                                    const json_t *ctx);
void os_compute_tell_schedulers_gone(struct os_compute *c, const json_t *ctx, const char *uuid);
/* compute_console.c: the console tokens handed out for instance `uuid`
 * deleted through the conductor (Zed's _clean_instance_console_tokens,
 * when consoles are enabled), once it is deleted or has left this host
 * live; a failure is logged only. */
void os_compute_console_tokens_clean(struct os_compute *c, const json_t *ctx, const char *uuid);
/* The ConsoleAuthToken Zed's manager authorizes for a console of `type`
 * ("novnc") at host:port of instance `uuid`, its URLs based on `base`. */
json_t *os_console_token_new(const char *type, const char *host, int port, const char *uuid,
                             const char *base);
/* The connection info get_*_console returns (Console.get_connection_info
 * with the token's access_url). */
json_t *os_console_connect_info(const char *type, const char *host, int port, const char *token,
                                const char *base);

/* compute_terminate.c: destroy the guest, drop its placement and its
 * Placement allocations.  -1 only when the guest could not be destroyed. */
int os_compute_release_guest(struct os_compute *c, const char *uuid, struct err **err);

/* ---- compute_presculpt.c: pre-sculpted pools ---- */

struct drv_hv_guest_spec;

/* The pool manager from [presculpt] (NULL when disabled or on error, with
 * *err set on error); its changes go to the database. */
struct drv_pool_mgr *os_compute_pools_new(struct os_compute *c, struct err **err);
/* New [presculpt] settings (PUT /v1/config/presculpt). */
void os_compute_pools_config(struct os_compute *c, const struct cfg *cfg);
/* At start, before the recovery lists the hypervisor: handed-over guests
 * answer to their instances again (pools on or off), a hand-over a crash
 * interrupted is resumed for the recovery to complete, live members are
 * taken back (pools off: destroyed), and member guests no row holds are
 * destroyed. */
void os_compute_pools_restore(struct os_compute *c);
/* A build request: when a member of its class (or group) is ready, it is
 * handed over to the instance -- the guest runs, the engine holds it,
 * inst->domain and inst->shape are set, the database has the hand-over
 * -- and 1 is returned (*intent: the HANDOVER intent to finish); 0: build
 * cold (a failed hand-over is logged, its member destroyed).  `cd` (may be
 * NULL): the instance's config drive, inserted into the member's empty
 * cdrom before it runs; a member that cannot take it is not handed over. */
int os_compute_pools_take(struct os_compute *c, struct os_inst *i,
                          const struct drv_hv_config_drive *cd, int64_t *intent,
                          struct err **err);
/* A build that comes again (redelivered) after a crash in the middle of
 * its hand-over, which the restart completed: the instance's guest, a
 * member's domain (whatever its name now), runs already -- inst->domain and inst->shape are set,
 * the engine holds it -- and 1 is returned; 0: no such guest. */
int os_compute_pools_resume(struct os_compute *c, struct os_inst *i);
/* After a hand-over, the guest running: the instance's identity written
 * into it (libvirt: title, metadata).  Logged, not returned. */
void os_compute_pools_identify(struct os_compute *c, const struct os_inst *i);
/* compute_domain_name.c: a handed-over guest that is shut off (or
 * crashed) is renamed to the instance's domain name (libvirt renames only
 * an inactive domain; its uuid stays), and the instance's and member's
 * rows name the domain as it is named now -- also after a crash between
 * a rename and its rows.  A running one keeps its name until it is off;
 * a cold build's guest is left alone.  Logged, not returned. */
void os_compute_domain_settle(struct os_compute *c, const struct os_inst *i);
/* After a build: members of the request's class can be made like its
 * guest (spec NULL: read from the hypervisor -- after a hand-over, which
 * teaches the class again after a restart). */
void os_compute_pools_learn(struct os_compute *c, const struct os_inst *i,
                            const struct drv_hv_guest_spec *spec);
/* The idle members a real guest may take the room of, cheapest to lose
 * first, into *r (its order allocated; r->n 0 without pools); give it to
 * drv_control_admit_reclaiming(), then os_compute_pools_reclaimed(). */
void os_compute_pools_reclaim_order(struct os_compute *c, struct drv_control_reclaim *r);
/* The engine gave up the first r->taken members of r for instance
 * `uuid`'s `what` ("build", "resize"): their guests are destroyed, their
 * rows released, the reclaim counted (sculpt_pool_reclaimed_total), logged
 * and in the event log (source "presculpt", action "pool.reclaim", one
 * event per member destroyed, the instance's); r's order freed. */
void os_compute_pools_reclaimed(struct os_compute *c, const char *uuid, const char *what,
                                struct drv_control_reclaim *r);

/* ---- compute_presculpt_fit.c: members re-sculpted at hand-over ---- */

struct drv_pool_member;

/* A wide pool's member m (idling at its family's base shape) claimed for
 * instance i: admit it as a cold build would be (the member's reservation
 * given back first) and re-sculpt member m, still the member's domain, to
 * the shape the engine gives (*out; within the maxima its domain was
 * defined with, which the engine then keeps).  0: the engine holds the
 * instance at *out; -1 with *err (ERR_CAPACITY: not admitted): the member
 * cannot serve, the request builds cold. */
int os_compute_pools_fit(struct os_compute *c, struct os_inst *i, const struct drv_pool_member *m,
                         struct drv_shape *out, struct err **err);

/* ---- compute_pool_history.c: what the pool manager learnt, across restarts ---- */

struct drv_pool_request;
struct drv_pool_template;

/* At start, before os_compute_pools_restore(): the classes asked for
 * within [database] pool_class_retention come back with their templates
 * (those whose image files are still there), and the forecaster learns
 * the requests of pool_arrival_retention again.  Logged, not returned. */
void os_compute_pools_recall(struct os_compute *c);
void os_compute_pools_saved_free(struct os_pool_saved *s);
/* A build request of `r` at t_ms, recorded (queued) for the next start. */
void os_compute_pools_note_request(struct os_compute *c, const struct drv_pool_request *r,
                                   int64_t t_ms);
/* The class of `r` was taught template `t`: recorded (queued). */
void os_compute_pools_note_template(struct os_compute *c, const struct drv_pool_request *r,
                                    const struct drv_pool_template *t);

/* ---- compute_resize.c: resizes done live ---- */

/* At start, for an instance Nova shows in a resize task (resize_prep ...
 * resize_reverting): a resize a restart interrupted before the new flavor
 * was the instance's is rolled back (as if refused), one after it is
 * finished (VERIFY_RESIZE), a revert is completed; a move between hosts
 * as compute_migrate.c says.  `guest`: whether the instance's guest is on
 * this host (without it only a move is recovered).  `migrating` is a live
 * migration out, cut (os_compute_live_recover).  1
 * when the task was handled (failures logged), 0 otherwise. */
int os_compute_resize_recover(struct os_compute *c, struct os_inst *i, bool guest);

/* compute_resize_confirm.c: one pass of the resize_confirm_window
 * periodic task (_poll_unconfirmed_resizes): resizes VERIFY_RESIZE on this
 * host for longer than [DEFAULT] resize_confirm_window seconds are
 * confirmed (cast to their source compute, as the API's confirm is);
 * nothing when the window is 0.  Failures are logged and retried at the
 * next pass.  Periodic thread. */
void os_compute_resize_autoconfirm(struct os_compute *c);
/* compute_reclaim.c: soft-deleted instances here older than [DEFAULT]
 * reclaim_instance_interval are deleted for good; nothing when it is 0.
 * Periodic thread. */
void os_compute_reclaim_poll(struct os_compute *c);

/* ---- compute_usage_audit.c: [DEFAULT] instance_usage_audit ---- */

/* One pass of Zed's _instance_usage_audit: nothing when the last completed
 * audit period is in Nova's task log for this host already; else exists
 * for every instance active here in it, the run recorded (begin_task,
 * end_task).  From the periodic thread. */
void os_compute_usage_audit(struct os_compute *c);

/* ---- compute_console_purge.c: [DEFAULT] instance_delete_interval ---- */

/* Every expired console token removed from Nova's database (the
 * conductor's ConsoleAuthToken.clean_expired_console_auths), whatever its
 * host, as Zed's manager does.  From the periodic thread. */
int os_compute_console_tokens_purge(struct os_compute *c, struct err **err);

/* ---- compute_image_cache.c: [image_cache] ---- */

/* One pass of the image cache manager over the host's image cache, with
 * the images the hypervisor's guests read (none removed when that list
 * cannot be had).  From the periodic thread. */
void os_compute_image_cache_pass(struct os_compute *c);
/* Whether a server soft-deleted at deleted_at_s (or at no recorded time)
 * is due for reclaim at now_s. */
bool os_reclaim_due(int64_t interval_s, bool has_deleted_at, int64_t deleted_at_s, int64_t now_s);

/* compute_migrate_claims.c: the admissions a destination made for moves
 * (prep_resize) are checked against their migrations until the instance
 * is here; one whose move ended elsewhere (the source rolled back, the
 * instance deleted) is released, as Nova's resource tracker stops
 * counting a migration no longer in progress. */

/* os_migrate_check_backend for the source `src`'s node `node`: its
 * ComputeNode read through the conductor (elevated, as Nova's compute
 * reads nodes), this host's hypervisor_type as it last reported it.
 * Worker threads. */
int os_migrate_check_source_node(struct os_compute *c, const char *src, const char *node,
                                 struct err **err);

/* A claim to check; `gen` counts its notes, so a pass whose answer came
 * from before a newer prep_resize of the same instance does not act on
 * it. */
struct os_move_claim {
    char uuid[DRV_UUID_LEN + 1];
    unsigned gen;
};

/* Check instance `uuid`'s claim from now on (prep_resize admitted it;
 * a restart found its row without the instance here).  Any thread. */
void os_compute_move_claim_note(struct os_compute *c, const char *uuid);
/* Stop checking it.  Any thread. */
void os_compute_move_claim_drop(struct os_compute *c, const char *uuid);
/* Whether claim `m` (a copy) is still noted as it was copied: not
 * dropped, not noted again since.  Any thread. */
bool os_compute_move_claim_current(struct os_compute *c, const struct os_move_claim *m);
/* One pass over the claims noted (periodic thread, after the start-up
 * recovery): each is asked of Nova (its latest migration naming this
 * host, the instance) and kept, dropped or released, under the
 * instance's RPC lock and only if no prep_resize noted it meanwhile;
 * failures are logged and asked again at the next pass. */
void os_compute_move_claims_check(struct os_compute *c);
/* The instance's guest gone from this host: the hypervisor's (one
 * already gone is fine), the engine's admission, the tracker's and the
 * database's row, and with `staging` what an incoming copy left
 * (drv_hv_migrate_cleanup; logged when it fails).  -1 only when the guest
 * could not be destroyed. */
int os_compute_move_release(struct os_compute *c, const char *uuid, bool staging,
                            struct err **err);

/* compute_migrate_intents.c: at start, once the instances are recovered,
 * the legs of moves a crash left open in this host's journal are closed
 * as they ended (os_mig_intent_outcome), a destination's interrupted
 * taking in with what the source copied here removed.  Failures are
 * logged; an intent whose instance Nova could not tell of stays open for
 * the next start. */
void os_compute_migrate_intents_recover(struct os_compute *c);

/* ---- compute_rpc.c: the dispatch table ---- */
extern const struct os_rpc_method os_compute_rpc_table[];
extern const size_t os_compute_rpc_table_len;

#endif
