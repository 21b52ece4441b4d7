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
 *     squeezed first), the backend spawns it under its own uuid and pauses
 *     it, so its hand-over is a resume;
 *   - a member not claimed by its expiry ([presculpt] member_lifetime) is
 *     destroyed and its resources go back; surplus members too;
 *   - when a real guest does not fit, drv_pool_mgr_reclaim() destroys
 *     members, least likely to be claimed first.
 * A build request takes a member of its class, else of its group
 * (drv_pool_mgr_claim), and drv_pool_mgr_handover() makes it the
 * instance's guest (drv_hv_handover: alias, identity, resume; the engine
 * forgets the member and the caller adopts the instance in the member's
 * shape).  Every decision is logged with its confidence and expected cost,
 * and every member change goes to the hooks (the database).  After a
 * restart, drv_pool_mgr_restore() takes back the members the database kept.
 *
 * Threads: all functions take the manager's lock, which is never held
 * across a hypervisor call; drv_pool_mgr_start() runs the rounds on a
 * thread of the manager's own.  Hooks run without the lock, on the thread
 * that made the change; they must not call back into the manager.
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
    DRV_MEMBER_PAUSED,      /* started and paused: ready, hand-over is a resume */
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
};

/* The class ("flavor:image:project") and group ("vcpu=N,disk=G:image")
 * keys of a request. */
void drv_pool_request_keys(const struct drv_pool_request *r, char cls[DRV_POOL_KEY_MAX],
                           char group[DRV_POOL_KEY_MAX]);

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
    double confidence, mean, quantile, exp_cost;
    struct drv_res member;              /* what a member reserves */
    int64_t hits, misses, expiries;
    int64_t expires_ms;                 /* its members' expiry, the latest */
};

/* Where changes go (the database); each may be NULL.  `member` is called
 * at each change of a member; each round calls `pool` for every pool, then
 * `count` with what its counters gained since the last call (so a pool has
 * its row before its counters move). */
struct drv_pool_hooks {
    void (*member)(const struct drv_pool_member *m, void *opaque);
    void (*pool)(const struct drv_pool_view *p, void *opaque);
    void (*count)(const char *pool, int64_t hits, int64_t misses, int64_t expiries,
                  void *opaque);
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

/* New parameters (PUT /v1/config/presculpt).  A new interval applies at
 * the next start (the history is binned by it): the rest at once. */
int drv_pool_mgr_set_params(struct drv_pool_mgr *m, const struct drv_presculpt_params *p,
                            struct err **err);

/* The class of `r` may be pre-sculpted from `t` (copied): called after a
 * cold build of it succeeded. */
void drv_pool_mgr_learn(struct drv_pool_mgr *m, const struct drv_pool_request *r,
                        const struct drv_pool_template *t);

/* A build request arrived at now_ms: recorded for the forecast; when a
 * paused member of its class (else of its group) is ready it is claimed
 * for the request and copied to *out.  Returns 1 when claimed, 0 when the
 * request must be built cold. */
int drv_pool_mgr_claim(struct drv_pool_mgr *m, const struct drv_pool_request *r, int64_t now_ms,
                       struct drv_pool_member *out);

/* Hand claimed member `member_uuid` over to instance inst->uuid
 * (drv_hv_handover), and let the engine forget the member: the caller then
 * holds the instance in the member's shape (drv_control_adopt).  On
 * failure the member is destroyed and -1 returned: build cold. */
int drv_pool_mgr_handover(struct drv_pool_mgr *m, const char *member_uuid,
                          const struct drv_hv_guest_spec *inst, struct err **err);

/* A claimed member the request did not take after all (its build ended
 * before the hand-over): destroyed, released with `why`.  NOT_FOUND when
 * no such claimed member. */
int drv_pool_mgr_release(struct drv_pool_mgr *m, const char *member_uuid, const char *why,
                         struct err **err);

/* One round at now_ms: expire, plan, destroy surplus, make members (at
 * most `max_make`; 0: no limit).  Members are spawned outside the lock.
 * Returns 0, or -1 with *err when the planner failed. */
int drv_pool_mgr_tick(struct drv_pool_mgr *m, int64_t now_ms, size_t max_make,
                      struct err **err);

/* Destroy ready members, least likely to be claimed first, until `need`
 * (vcpu and mem_mib) is freed or none is left.  Returns how many. */
size_t drv_pool_mgr_reclaim(struct drv_pool_mgr *m, const struct drv_res *need,
                            const char *why);

/* After a restart: the members the database kept.  A handed-over one
 * gives its instance's alias back (drv_hv_alias); a live one whose guest
 * is still there and paused is held again (the engine adopts it); the
 * others are released (destroyed if their guest is there).  Call before
 * anything lists the hypervisor's guests. */
int drv_pool_mgr_restore(struct drv_pool_mgr *m, const struct drv_pool_member *members,
                         size_t n, int64_t now_ms, struct err **err);

/* Run rounds on the manager's own thread every interval.  ERR_CONFLICT
 * when running. */
/* Is `uuid` a live member (preparing, paused or claimed)? */
bool drv_pool_mgr_has(struct drv_pool_mgr *m, const char *uuid);

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
