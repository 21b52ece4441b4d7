/* The pool manager: guests prepared ahead of build requests, in the
 * service.
 *
 * Every build request is recorded for the forecast (presculpt.h) by its
 * class (flavor x image x project) and group (same vCPUs, disk and image:
 * members differ only in memory, re-sculpted after hand-over).  Each round
 * (tick, every [presculpt] interval) the planner sizes the pools by the
 * cost model within the idle budget and the host share, and the manager
 * makes and destroys members to match:
 *   - a member is made from its class's template (the guest and engine
 *     specs of the class's last cold build: its images are in the cache):
 *     the engine places it at the lowest priority (its shape reserved,
 *     squeezed first), the backend spawns it under its own uuid, and it
 *     runs until its guest has booted (drv_pool_mgr_watch: the guest's
 *     console shows [presculpt] boot_marker; with no such sign, its
 *     class's learnt boot time, else cold_start_latency; paused anyway
 *     after boot_wait_max), then it is paused, so its hand-over is the
 *     resume of a booted guest;
 *   - a member not claimed by its expiry ([presculpt] member_lifetime) is
 *     destroyed and its resources go back; surplus members too;
 *   - when a real guest (a build, a resize) does not fit, the engine gives
 *     up idle members, least likely to be claimed first
 *     (drv_pool_mgr_reclaim_order, drv_sculpt_place_reclaiming), and
 *     drv_pool_mgr_reclaim_members() destroys them.
 * A build request takes a member of its class, else of its group
 * (drv_pool_mgr_claim): a paused one first, else one still booting (its
 * hand-over beats a cold build, and is recorded as such), and drv_pool_mgr_handover() makes it the
 * instance's guest (drv_hv_handover: alias, identity, resume; the engine
 * forgets the member and the caller adopts the instance in the member's
 * shape).  Every decision is logged with its confidence and expected cost,
 * and every member change goes to the hooks (the database).  After a
 * restart, drv_pool_mgr_restore() takes back the members the database kept.
 *
 * Threads: all functions take the manager's lock, which is never held
 * across a hypervisor call; drv_pool_mgr_start() runs the rounds, and the
 * watch of booting members between them, on a thread of its own.  Hooks
 * run without the lock, on the thread that made the change; they must not
 * call back into the manager.
 */
#ifndef SC_DRIVER_PRESCULPT_POOL_H
#define SC_DRIVER_PRESCULPT_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/hypervisor.h"
#include "driver/presculpt.h"
#include "driver/sculpt.h"

struct err;

#define DRV_POOL_KEY_MAX 160
/* Members' domains are named this followed by 8 hex digits of their uuid;
 * a handed-over guest keeps the name (libvirt renames only a shut-off
 * domain). */
#define DRV_POOL_DOMAIN_PREFIX "sculpt-pool-"

enum drv_member_state {
    DRV_MEMBER_PREPARING,   /* being placed and spawned */
    DRV_MEMBER_BOOTING,     /* started, its guest booting: may be handed over (recorded) */
    DRV_MEMBER_PAUSING,     /* booted, being paused: not claimed meanwhile */
    DRV_MEMBER_PAUSED,      /* booted and paused: ready, hand-over is a resume */
    DRV_MEMBER_CLAIMED,     /* taken by a build request, hand-over under way */
    DRV_MEMBER_HANDED_OVER, /* the guest of instance_uuid */
    DRV_MEMBER_RELEASED,    /* destroyed: expired, surplus, reclaimed or failed (reason) */
    DRV_MEMBER_LAST,
};
const char *drv_member_state_name(enum drv_member_state s);

struct drv_pool_member {
    char uuid[DRV_UUID_LEN + 1];        /* its own (its domain's) */
    char domain[DRV_HV_NAME_MAX + 1];   /* DRV_POOL_DOMAIN_PREFIX "<8 hex>" */
    char pool[DRV_POOL_KEY_MAX];        /* the pool it belongs to: class or group key */
    char class_key[DRV_POOL_KEY_MAX];   /* the class whose template made it */
    enum drv_member_state state;
    struct drv_shape shape;
    double confidence;                  /* of its pool when it was made */
    int64_t created_ms, ready_ms, expires_ms;
    int64_t started_ms;                 /* its guest started (the boot is timed from it) */
    int64_t boot_ms;                    /* start to seen booted; 0: not seen */
    bool booting;                       /* claimed or handed over before it was paused */
    bool guest_agent;                   /* its guest has the QEMU guest agent's channel
                                         * (its template's, read back from the domain
                                         * after a restart): it serves only requests
                                         * that want one, and those only it */
    char instance_uuid[DRV_UUID_LEN + 1]; /* handed over: to which instance */
    char reason[96];                    /* released: why */
};

/* A build request as pools see it. */
struct drv_pool_request {
    const char *flavor;                 /* flavor name */
    const char *image;                  /* image ref */
    const char *project;
    int32_t vcpus;
    double mem_mib;
    int64_t root_gb;
    bool guest_agent;                   /* the image asks for the guest agent's channel */
};

/* The class ("flavor:image:project") and group ("vcpu=N,disk=G:image")
 * keys of a request. */
void drv_pool_request_keys(const struct drv_pool_request *r, char cls[DRV_POOL_KEY_MAX],
                           char group[DRV_POOL_KEY_MAX]);
/* Its family key ("disk=G:image"): guests of any vCPUs and memory a wide
 * member (defined with the family's largest, started at a base shape) can
 * be re-sculpted to live. */
void drv_pool_request_family_key(const struct drv_pool_request *r, char family[DRV_POOL_KEY_MAX]);

/* What a class's members are made from: the specs of one of its cold
 * builds (uuid, name and identity are replaced per member; the guest's
 * shape is the one the engine gave the build). */
struct drv_pool_template {
    struct drv_hv_guest_spec guest;
    struct drv_sculpt_guest_spec engine;
};

/* A pool as the last round planned it (status, hooks). */
struct drv_pool_view {
    char key[DRV_POOL_KEY_MAX];
    bool group;                         /* a group's pool */
    uint32_t target;                    /* members wanted */
    uint32_t ready;                     /* members paused now */
    uint32_t booting;                   /* members started, not yet paused */
    int64_t booting_hits;               /* of hits, members handed over still booting */
    double boot_s;                      /* the class's learnt boot time; 0: none yet */
    double confidence, mean, quantile, exp_cost;
    struct drv_res member;              /* what a member reserves */
    int64_t hits, misses, expiries;
    int64_t reclaims;                   /* members given up for real guests */
    int64_t expires_ms;                 /* its members' expiry, the latest */
};

/* Where changes go (the database); each may be NULL.  `member` is called
 * at each change of a member; each round calls `pool` for every pool, then
 * `count` with what its counters gained since the last call (so a pool has
 * its row before its counters move): `gained` holds only hits, misses,
 * expiries and reclaims.  drv_pool_mgr_reclaim_members() calls `count` too,
 * at once, for the pools whose members it destroyed. */
struct drv_pool_hooks {
    void (*member)(const struct drv_pool_member *m, void *opaque);
    void (*pool)(const struct drv_pool_view *p, void *opaque);
    void (*count)(const char *pool, const struct drv_pool_view *gained, void *opaque);
    void *opaque;
};

struct drv_pool_mgr;

/* A manager over `hv` and `engine` (borrowed; they must outlive it).
 * Returns NULL with *err on bad parameters. */
struct drv_pool_mgr *drv_pool_mgr_new(const struct drv_presculpt_params *p, struct drv_hv *hv,
                                      struct drv_sculpt *engine,
                                      const struct drv_pool_hooks *hooks, struct err **err);
/* Stops the thread if it runs; members stay (the next start restores
 * them).  Accepts NULL. */
void drv_pool_mgr_free(struct drv_pool_mgr *m);
DEFINE_AUTOPTR(drv_pool_mgr)

/* New parameters (PUT /v1/config/presculpt), at once.  A new interval
 * re-bins the forecast: a new planner learns again from the latest
 * arrivals kept (up to 16384; the classes, their templates and the
 * members stay).  A new member lifetime counts
 * for the live members too, from their creation.  When
 * drv_pool_params_round_now() says so, the manager's thread runs a round
 * at once. */
int drv_pool_mgr_set_params(struct drv_pool_mgr *m, const struct drv_presculpt_params *p,
                            struct err **err);
/* Whether new parameters `now` (after `was`) want a round at once rather
 * than at the next interval, which may be minutes away: pre-sculpting
 * turned on (members to make) or off (members to destroy: their room goes
 * back now), a new interval, or a shorter member lifetime, a smaller host
 * share or idle budget (members may be expired or surplus already). */
bool drv_pool_params_round_now(const struct drv_presculpt_params *was,
                               const struct drv_presculpt_params *now);

/* The class of `r` may be pre-sculpted from `t` (copied): called after a
 * cold build of it succeeded. */
void drv_pool_mgr_learn(struct drv_pool_mgr *m, const struct drv_pool_request *r,
                        const struct drv_pool_template *t);

/* `count` build requests of the class of `r` arrived at t_ms, before
 * this run (the database kept them): recorded for the forecast as
 * drv_pool_mgr_claim() records a request, nothing claimed nor counted.
 * Call in time order, before the first claim, so that a restarted
 * service forecasts as it would have without the restart. */
void drv_pool_mgr_record(struct drv_pool_mgr *m, const struct drv_pool_request *r, int64_t t_ms,
                         uint32_t count);

/* What the manager learnt besides the forecast, kept across a restart:
 * each class's boot time (start of a member to its boot seen), and the
 * planner's idle-budget calibration (drv_presculpt_calibration). */
struct drv_pool_boot {
    char key[DRV_POOL_KEY_MAX]; /* the class */
    double boot_ms;             /* its learnt boot time, > 0 */
};
/* The classes with a learnt boot time (caller frees *out with free());
 * returns how many.  Any thread. */
size_t drv_pool_mgr_boot_times(struct drv_pool_mgr *m, struct drv_pool_boot **out);
/* The class of `r` booted in `boot_ms` (a saved boot time, read back at
 * start-up): its members are paused once that long has passed, not
 * after cold_start_latency, until new boots are seen.  ERR_INVALID unless
 * 0 < boot_ms <= a day. */
int drv_pool_mgr_set_boot_time(struct drv_pool_mgr *m, const struct drv_pool_request *r,
                               double boot_ms, struct err **err);
void drv_pool_mgr_calibration(struct drv_pool_mgr *m, struct drv_presculpt_calibration *out);
/* drv_presculpt_calibration_set() on the manager's planner. */
int drv_pool_mgr_set_calibration(struct drv_pool_mgr *m,
                                 const struct drv_presculpt_calibration *in, struct err **err);

/* The class of `r` was last asked for at t_ms (the database's record, read
 * back at start-up), for drv_pool_mgr_trim(). */
void drv_pool_mgr_seen(struct drv_pool_mgr *m, const struct drv_pool_request *r, int64_t t_ms);
/* Forget at most `max` classes nobody asked for in the keep_ms before
 * now_ms and no live member was made from ([database]
 * pool_class_retention, as the database's retention drops their rows):
 * the planner's forecasters of them (and of their groups and families
 * left without a class), their templates, the arrivals kept of them and
 * the views of their pools.  A class whose last request is not known is
 * counted from now_ms.  Returns how many went.  Any thread. */
size_t drv_pool_mgr_trim(struct drv_pool_mgr *m, int64_t now_ms, int64_t keep_ms, size_t max);

/* A build request arrived at now_ms: recorded for the forecast; a member
 * of its class (else of its group, else of its family: one whose defined
 * maxima hold the request) is claimed for the request and copied to *out:
 * a paused one, else the one booting longest (out->booting); only a member
 * with the guest agent's channel when the request wants one, and only one
 * without when it does not.  A member
 * whose shape is not the request's is re-sculpted by the caller before its
 * hand-over (the engine admits the request first, as a cold build).
 * Returns 1 when claimed, 0 when the request must be built cold. */
int drv_pool_mgr_claim(struct drv_pool_mgr *m, const struct drv_pool_request *r, int64_t now_ms,
                       struct drv_pool_member *out);

/* Hand claimed member `member_uuid` over to instance inst->uuid
 * (drv_hv_handover), and let the engine forget the member: the caller then
 * holds the instance in the member's shape (drv_control_adopt).  On
 * failure the member is destroyed, its pool's hit counted a miss, and -1
 * returned: build cold. */
int drv_pool_mgr_handover(struct drv_pool_mgr *m, const char *member_uuid,
                          const struct drv_hv_guest_spec *inst, struct err **err);

/* A claimed member the request did not take after all (its build ended
 * before the hand-over): destroyed, released with `why`.  NOT_FOUND when
 * no such claimed member. */
int drv_pool_mgr_release(struct drv_pool_mgr *m, const char *member_uuid, const char *why,
                         struct err **err);
/* The same for a member that could not serve its request (the engine did
 * not admit the request's shape, its re-sculpt failed): its pool's hit
 * becomes a miss. */
int drv_pool_mgr_release_miss(struct drv_pool_mgr *m, const char *member_uuid,
                              const char *why, struct err **err);

/* One round at now_ms: expire, plan, destroy surplus, make members (at
 * most `max_make`; 0: no limit).  Members are spawned outside the lock.
 * Returns 0, or -1 with *err when the planner failed. */
int drv_pool_mgr_tick(struct drv_pool_mgr *m, int64_t now_ms, size_t max_make,
                      struct err **err);

/* Booting members at now_ms: each whose guest is seen booted (or has had
 * its class's boot time where there is no sign, or boot_wait_max) is
 * paused and ready.  Consoles are read and guests paused outside the lock.
 * Returns how many were paused.  The manager's thread calls it every
 * DRV_POOL_BOOT_POLL_MS while members boot. */
#define DRV_POOL_BOOT_POLL_MS 500
size_t drv_pool_mgr_watch(struct drv_pool_mgr *m, int64_t now_ms);

/* The idle members (paused or booting) a real guest may take the room
 * of, the least likely to be claimed first: by their pool's confidence
 * as last planned (the member's own when its pool is gone), then the
 * nearest to its expiry.  *uuids (caller frees with free()) gets their
 * uuids; returns how many. */
typedef char drv_pool_uuid[DRV_UUID_LEN + 1];
size_t drv_pool_mgr_reclaim_order(struct drv_pool_mgr *m, drv_pool_uuid **uuids);

/* The engine gave up these members for a real guest
 * (drv_sculpt_place_reclaiming): each still idle is destroyed and
 * released with `why`, as a trim would (the hooks record it), and counted
 * in its pool's reclaims.  Returns how many were destroyed; one no longer
 * idle (pausing meanwhile) goes at the next round, which destroys idle
 * members the engine does not hold.  `gone` (NULL: not wanted; room for n)
 * gets the members destroyed, released, in the order given. */
size_t drv_pool_mgr_reclaim_members(struct drv_pool_mgr *m, const drv_pool_uuid *uuids, size_t n,
                                    const char *why, struct drv_pool_member *gone);

/* After a restart: the members the database kept.  A handed-over one
 * gives its instance's alias back (drv_hv_alias); a live one whose guest
 * is still there, paused (or booting and running: it is watched again,
 * its boot timed from its creation), is held again (the engine adopts
 * it); the others are released (destroyed if their guest is there).  Call before
 * anything lists the hypervisor's guests. */
int drv_pool_mgr_restore(struct drv_pool_mgr *m, const struct drv_pool_member *members,
                         size_t n, int64_t now_ms, struct err **err);

/* Is `uuid` a live member (preparing, booting, paused or claimed)? */
bool drv_pool_mgr_has(struct drv_pool_mgr *m, const char *uuid);

/* Run rounds on the manager's own thread every interval.  ERR_CONFLICT
 * when running. */
int drv_pool_mgr_start(struct drv_pool_mgr *m, struct err **err);
void drv_pool_mgr_stop(struct drv_pool_mgr *m);

/* What the manager holds now: pools as last planned, live members. */
struct drv_pool_status {
    int64_t t_ms;                       /* the last round */
    double idle_price_factor;           /* of the last plan */
    bool budget_bound;
    size_t npools;
    struct drv_pool_view *pools;
    size_t nmembers;
    struct drv_pool_member *members;
};
struct drv_pool_status *drv_pool_mgr_status(struct drv_pool_mgr *m);
void drv_pool_status_free(struct drv_pool_status *s);
DEFINE_AUTOPTR(drv_pool_status)

#endif
