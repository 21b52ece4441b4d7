/* The pool manager over the fake backend and the real engine: members made
 * from a class's template as requests are forecast, started, paused once
 * booted and held by the engine at the lowest priority; a claim and a
 * hand-over (of a booting member too); expiry; reclaim; a restart with
 * members present, and one with none left (classes and requests read
 * back); pre-sculpting and a new interval at run time, and which changes
 * run a round at once. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "driver/control.h"
#include "driver/fake/fake.h"
#include "driver/presculpt_pool.h"
#include "helpers/engine.h"

#define T0 1767225600000LL /* ms */
#define MIN 60000LL

struct seen {
    struct drv_pool_member first, last; /* member changes */
    int nm;
    int by_state[DRV_MEMBER_LAST];
    bool expired;                       /* a member went "expired unclaimed" or "surplus" */
    int hits, misses, expiries, reclaims; /* what the count hook was given */
    int pools;
    struct drv_sculpt *engine; /* when set: the engine's reclaimable flag */
    int reclaimable[DRV_MEMBER_LAST]; /* of members as each change was seen */
};

/* The engine's reclaimable flag of guest `uuid` (false: not held). */
static bool engine_reclaimable(struct drv_sculpt *e, const char *uuid)
{
    autoptr(drv_sculpt_snapshot) s = drv_sculpt_snapshot(e);
    for (size_t i = 0; i < s->nguests; i++)
        if (strcmp(s->guests[i].uuid, uuid) == 0)
            return s->guests[i].reclaimable;
    return false;
}

static void on_member(const struct drv_pool_member *m, void *opaque)
{
    struct seen *s = opaque;
    if (s->nm++ == 0)
        s->first = *m;
    s->last = *m;
    s->by_state[m->state]++;
    if (s->engine)
        s->reclaimable[m->state] += engine_reclaimable(s->engine, m->uuid);
    s->expired |= strcmp(m->reason, "expired unclaimed") == 0 || strcmp(m->reason, "surplus") == 0;
}

static void on_pool(const struct drv_pool_view *p, void *opaque)
{
    (void)p;
    ((struct seen *)opaque)->pools++;
}

static void on_count(const char *pool, const struct drv_pool_view *gained, void *opaque)
{
    (void)pool;
    struct seen *s = opaque;
    s->hits += (int)gained->hits;
    s->misses += (int)gained->misses;
    s->expiries += (int)gained->expiries;
    s->reclaims += (int)gained->reclaims;
}

struct rig {
    struct cfg *cfg;
    struct drv_hv *hv;
    struct drv_host *host;
    struct drv_sculpt *engine;
    struct drv_presculpt_params p;
    struct seen seen;
    struct drv_pool_mgr *pm;
};

static const struct drv_pool_request req = {
    .flavor = "m1.tiny", .image = "img-1", .project = "proj", .vcpus = 1, .mem_mib = 512,
    .root_gb = 1};

static void template_of(struct drv_pool_template *t)
{
    memset(t, 0, sizeof(*t));
    t->guest.flavor_name = (char *)"m1.tiny";
    t->guest.shape = (struct drv_shape){.vcpus_online = 1, .vcpus_max = 1, .mem_max_mib = 512,
                                        .numa_node = -1};
    t->guest.shape.res.v[DRV_RES_VCPU] = 1;
    t->guest.shape.res.v[DRV_RES_MEM_MIB] = 512;
    t->guest.image.kernel = (char *)"/images/vmlinuz";
    t->engine.vcpus_max = 1;
    t->engine.mem_max_mib = 512;
    t->engine.ceiling.v[DRV_RES_VCPU] = 1;
    t->engine.ceiling.v[DRV_RES_MEM_MIB] = 512;
}

/* A real guest of 4 vCPUs, so that the idle budget allows something. */
static void real_guest(struct rig *r)
{
    struct err *err = NULL;
    struct drv_sculpt_guest_spec es = {.uuid = "9f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                                       .vcpus_max = 4, .mem_max_mib = 4096};
    es.ceiling.v[DRV_RES_VCPU] = 4;
    es.ceiling.v[DRV_RES_MEM_MIB] = 4096;
    struct drv_blueprint *bp = drv_blueprint_new(30, 60, T0 / 1000, &err);
    struct drv_res need = es.ceiling;
    drv_blueprint_fill_flat(bp, need);
    struct drv_shape shape;
    if (drv_sculpt_place(r->engine, &es, bp, T0 / 1000, &shape, NULL, &err) < 0)
        fail_msg("place: %s", err->msg);
    drv_blueprint_free(bp);
}

static int rig_setup(void **state)
{
    struct rig *r = xzalloc(sizeof(*r));
    struct err *err = NULL;
    test_engine_open("nodes=1,sockets=1,cores=8,threads=2,mem_mib=32768", &r->cfg, &r->hv,
                     &r->host, &r->engine);
    drv_presculpt_params_from_cfg(r->cfg, &r->p);
    r->p.idle_budget = 1.0;
    r->p.max_share = 0.5;
    struct drv_pool_hooks h = {on_member, on_pool, on_count, &r->seen};
    r->pm = drv_pool_mgr_new(&r->p, r->hv, r->engine, &h, &err);
    assert_non_null(r->pm);
    real_guest(r);
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *r = *state;
    drv_pool_mgr_free(r->pm);
    test_engine_close(r->cfg, r->hv, r->host, r->engine);
    free(r);
    return 0;
}

static int count_state(struct rig *r, enum drv_member_state st)
{
    return r->seen.by_state[st];
}

/* `rate` requests `rq` a minute, a round each minute; the class learns
 * the template (with the guest agent's channel when rq wants it). */
static void steady_of(struct rig *r, const struct drv_pool_request *rq, int64_t from,
                      int minutes, int rate, bool learn)
{
    struct err *err = NULL;
    struct drv_pool_template t;
    template_of(&t);
    t.guest.guest_agent = rq->guest_agent;
    for (int k = 0; k < minutes; k++) {
        int64_t now = from + k * MIN;
        for (int i = 0; i < rate; i++) {
            struct drv_pool_member mb = {.state = DRV_MEMBER_LAST};
            if (drv_pool_mgr_claim(r->pm, rq, now + i, &mb) == 0 && learn)
                drv_pool_mgr_learn(r->pm, rq, &t);
            else if (mb.state == DRV_MEMBER_CLAIMED)
                /* taken, but no instance is built in this test */
                assert_int_equal(drv_pool_mgr_release(r->pm, mb.uuid, "test", &err), 0);
        }
        assert_int_equal(drv_pool_mgr_tick(r->pm, now + 30000, 0, &err), 0);
        /* the fake guest shows its boot at once: the watch pauses it */
        drv_pool_mgr_watch(r->pm, now + 31000);
    }
}

static void steady(struct rig *r, int64_t from, int minutes, int rate, bool learn)
{
    steady_of(r, &req, from, minutes, rate, learn);
}

/* The status's member `uuid`, copied; fails when it has none. */
static struct drv_pool_member member_of(struct rig *r, const char *uuid)
{
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    for (size_t i = 0; i < st->nmembers; i++)
        if (strcmp(st->members[i].uuid, uuid) == 0)
            return st->members[i];
    fail_msg("no member %s", uuid);
    return (struct drv_pool_member){0};
}

/* Destroy the first `k` idle members of the reclaim order (all: SIZE_MAX),
 * as sculpt-compute does once the engine gave their room up.  Returns how
 * many were destroyed. */
static size_t reclaim_first(struct rig *r, size_t k, const char *why)
{
    drv_pool_uuid *order = NULL;
    size_t n = drv_pool_mgr_reclaim_order(r->pm, &order);
    size_t got = drv_pool_mgr_reclaim_members(r->pm, order, k < n ? k : n, why, NULL);
    free(order);
    return got;
}

/* A member is offered as reclaimable room only while it can be given up
 * (booting or paused): placed and being spawned, it is not, so Placement
 * never counts room the engine could not reclaim for a build. */
static void test_reclaimable_only_when_idle(void **state)
{
    struct rig *r = *state;
    r->seen.engine = r->engine;
    steady(r, T0, 10, 2, true);
    assert_true(r->seen.by_state[DRV_MEMBER_PREPARING] > 0);
    assert_int_equal(r->seen.reclaimable[DRV_MEMBER_PREPARING], 0);
    assert_true(r->seen.by_state[DRV_MEMBER_BOOTING] > 0);
    assert_int_equal(r->seen.reclaimable[DRV_MEMBER_BOOTING],
                     r->seen.by_state[DRV_MEMBER_BOOTING]);
    assert_true(r->seen.by_state[DRV_MEMBER_PAUSED] > 0);
    assert_int_equal(r->seen.reclaimable[DRV_MEMBER_PAUSED], r->seen.by_state[DRV_MEMBER_PAUSED]);
    /* and the reclaim order lists exactly the members the engine offers */
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    drv_pool_uuid *order = NULL;
    size_t n = drv_pool_mgr_reclaim_order(r->pm, &order);
    size_t offered = 0;
    for (size_t i = 0; i < st->nmembers; i++)
        offered += engine_reclaimable(r->engine, st->members[i].uuid);
    assert_int_equal(offered, n);
    assert_true(n > 0);
    free(order);
}

/* Demand for 30 minutes, every member reclaimed, then one round without
 * a watch: the members it makes boot.  Returns the first started. */
static struct drv_pool_member booting_member(struct rig *r)
{
    struct err *err = NULL;
    steady(r, T0, 30, 2, true);
    reclaim_first(r, SIZE_MAX, "test");
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 30 * MIN + 30000, 0, &err), 0);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_true(st->nmembers > 0);
    size_t first = 0; /* the first started: the first a watch pauses */
    for (size_t i = 0; i < st->nmembers; i++) {
        assert_int_equal(st->members[i].state, DRV_MEMBER_BOOTING);
        if (st->members[i].started_ms < st->members[first].started_ms)
            first = i;
    }
    return st->members[first];
}

static void test_members_made_and_handed_over(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    steady(r, T0, 60, 2, true);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_true(st->nmembers >= 2);
    assert_true(st->npools >= 1);
    const struct drv_pool_member *mb = &st->members[0];
    assert_int_equal(mb->state, DRV_MEMBER_PAUSED);
    assert_string_equal(mb->pool, "m1.tiny:img-1:proj");
    assert_true(strncmp(mb->domain, "sculpt-pool-", 12) == 0);
    /* paused in the backend, held by the engine below every guest */
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->hv, mb->uuid, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_PAUSED);
    assert_string_equal(info.name, mb->domain);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(r->engine);
    bool held = false;
    for (size_t i = 0; i < snap->nguests; i++)
        if (strcmp(snap->guests[i].uuid, mb->uuid) == 0)
            held = snap->guests[i].priority < 0;
    assert_true(held);
    assert_true(st->pools[0].confidence > 0.99);
    assert_true(r->seen.pools > 0);

    /* a request takes it; the hand-over resumes it under the instance's uuid */
    struct drv_pool_member claimed;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 61 * MIN, &claimed), 1);
    assert_int_equal(claimed.state, DRV_MEMBER_CLAIMED);
    struct drv_hv_guest_spec inst = {.uuid = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                                     .display_name = (char *)"web-1"};
    /* members wait with an empty cdrom drive; the instance's drive goes in */
    struct drv_hv_config_drive *cd = NULL;
    bool tray = false;
    assert_int_equal(drv_fake_config_drive(r->hv, claimed.uuid, &cd, &tray, &err), 0);
    assert_true(tray);
    assert_null(cd);
    inst.config_drive = xzalloc(sizeof(*inst.config_drive));
    drv_hv_config_drive_add(inst.config_drive, "openstack/latest/user_data", "hi", 2);
    assert_int_equal(drv_pool_mgr_handover(r->pm, claimed.uuid, &inst, &err), 0);
    drv_hv_config_drive_free(inst.config_drive);
    inst.config_drive = NULL;
    assert_int_equal(drv_fake_config_drive(r->hv, inst.uuid, &cd, &tray, &err), 0);
    assert_non_null(cd);
    assert_string_equal(drv_hv_config_drive_get(cd, "openstack/latest/user_data")->data, "hi");
    drv_hv_config_drive_free(cd);
    assert_int_equal(drv_hv_get_info(r->hv, inst.uuid, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_string_equal(info.name, claimed.domain);
    assert_int_equal(count_state(r, DRV_MEMBER_HANDED_OVER), 1);
    assert_string_equal(r->seen.last.instance_uuid, inst.uuid);
    drv_sculpt_snapshot_free(snap);
    snap = drv_sculpt_snapshot(r->engine);
    for (size_t i = 0; i < snap->nguests; i++)
        assert_string_not_equal(snap->guests[i].uuid, claimed.uuid);
    /* a second hand-over of the same member is refused */
    assert_int_equal(drv_pool_mgr_handover(r->pm, claimed.uuid, &inst, &err), -1);
    err_clear(&err);
    assert_true(r->seen.hits >= 1 && r->seen.misses >= 1);
}

/* The pool view of `key` in a status (fails when there is none). */
static struct drv_pool_view view_of(struct rig *r, const char *key)
{
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    for (size_t i = 0; i < st->npools; i++)
        if (strcmp(st->pools[i].key, key) == 0)
            return st->pools[i];
    fail_msg("no pool `%s`", key);
    return (struct drv_pool_view){0};
}

/* A hand-over the backend refuses: the member is destroyed, the engine
 * forgets it, and the claim's hit is counted a miss -- in the status and
 * in what the next round gives the database. */
static void test_handover_failed(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    steady(r, T0, 60, 2, true);
    struct drv_pool_view before = view_of(r, "m1.tiny:img-1:proj");
    int hits = r->seen.hits, misses = r->seen.misses;
    struct drv_pool_member claimed;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 61 * MIN, &claimed), 1);
    assert_int_equal(view_of(r, claimed.pool).hits, before.hits + 1);
    struct drv_hv_guest_spec inst = {.uuid = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"};
    assert_int_equal(drv_fake_fail_next(r->hv, "unpause", ERR_UNAVAILABLE, 1, &err), 0);
    assert_int_equal(drv_pool_mgr_handover(r->pm, claimed.uuid, &inst, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNAVAILABLE);
    err_clear(&err);
    struct drv_pool_view after = view_of(r, claimed.pool);
    assert_int_equal(after.hits, before.hits);
    assert_int_equal(after.misses, before.misses + 1);
    /* gone: the guest, the engine's hold, the manager's member */
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->hv, claimed.uuid, &info, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(drv_hv_get_info(r->hv, inst.uuid, &info, &err), -1);
    err_clear(&err);
    assert_false(drv_pool_mgr_has(r->pm, claimed.uuid));
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(r->engine);
    for (size_t i = 0; i < snap->nguests; i++)
        assert_string_not_equal(snap->guests[i].uuid, claimed.uuid);
    assert_int_equal(r->seen.last.state, DRV_MEMBER_RELEASED);
    assert_string_equal(r->seen.last.uuid, claimed.uuid);
    assert_non_null(strstr(r->seen.last.reason, "hand-over failed"));
    /* the next round tells the database a miss, no hit */
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 61 * MIN + 30000, 0, &err), 0);
    assert_int_equal(r->seen.hits, hits);
    assert_int_equal(r->seen.misses, misses + 1);
}

/* Members are held reclaimable, the real guest is not; the order to
 * reclaim them is by their pool's confidence, then expiry; a claim makes
 * a member the request's (not reclaimable); the members the engine gave
 * up are destroyed now, or at the next round when they were busy. */
static void test_reclaim_order(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    steady(r, T0, 30, 4, true);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_true(st->nmembers >= 3);
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(r->engine);
    for (size_t i = 0; i < snap->nguests; i++)
        assert_int_equal(snap->guests[i].reclaimable,
                         drv_pool_mgr_has(r->pm, snap->guests[i].uuid));

    drv_pool_uuid *order = NULL;
    size_t n = drv_pool_mgr_reclaim_order(r->pm, &order);
    assert_int_equal(n, st->nmembers);
    double conf = -1;
    int64_t exp = 0;
    for (size_t k = 0; k < n; k++) {
        struct drv_pool_member mb = member_of(r, order[k]);
        double c = mb.confidence;
        for (size_t p = 0; p < st->npools; p++)
            if (strcmp(st->pools[p].key, mb.pool) == 0)
                c = st->pools[p].confidence;
        assert_true(c > conf || (c == conf && mb.expires_ms >= exp));
        conf = c;
        exp = mb.expires_ms;
    }
    free(order);

    /* claimed: the request's now */
    struct drv_pool_member claimed = {.state = DRV_MEMBER_LAST};
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 31 * MIN, &claimed), 1);
    drv_sculpt_snapshot_free(snap);
    snap = drv_sculpt_snapshot(r->engine);
    for (size_t i = 0; i < snap->nguests; i++)
        if (strcmp(snap->guests[i].uuid, claimed.uuid) == 0)
            assert_false(snap->guests[i].reclaimable);
    n = drv_pool_mgr_reclaim_order(r->pm, &order);
    assert_int_equal(n, st->nmembers - 1);
    for (size_t k = 0; k < n; k++)
        assert_string_not_equal(order[k], claimed.uuid);

    /* the engine gave up the first two: one destroyed at once, the other
     * (busy meanwhile: forgotten by the engine only) at the next round */
    assert_int_equal(drv_sculpt_remove(r->engine, order[0], &err), 0);
    assert_int_equal(drv_sculpt_remove(r->engine, order[1], &err), 0);
    int counted = r->seen.reclaims;
    assert_int_equal(drv_pool_mgr_reclaim_members(r->pm, order, 1, "reclaimed for test", NULL), 1);
    assert_false(drv_pool_mgr_has(r->pm, order[0]));
    assert_string_equal(r->seen.last.reason, "reclaimed for test");
    assert_int_equal(r->seen.last.state, DRV_MEMBER_RELEASED);
    assert_int_equal(r->seen.reclaims, counted + 1); /* recorded at once, not a round later */
    assert_true(drv_pool_mgr_has(r->pm, order[1]));
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 31 * MIN + 30000, 0, &err), 0);
    assert_false(drv_pool_mgr_has(r->pm, order[1]));
    assert_int_equal(r->seen.reclaims, counted + 2); /* the other one with the round */
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    int64_t reclaims = 0;
    for (size_t p = 0; p < st->npools; p++)
        reclaims += st->pools[p].reclaims;
    assert_int_equal(reclaims, 2);
    assert_int_equal(drv_pool_mgr_release(r->pm, claimed.uuid, "test", &err), 0);
    free(order);
}

static void test_expiry_and_reclaim(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    r->p.member_ttl_s = 300;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    steady(r, T0, 30, 2, true);
    /* demand stops: members are not claimed; they expire or go as surplus */
    for (int k = 30; k < 50; k++)
        assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + k * MIN, 0, &err), 0);
    int released = count_state(r, DRV_MEMBER_RELEASED);
    assert_true(released > 0);
    assert_true(r->seen.expired);

    /* demand again, then a real guest needs the room */
    steady(r, T0 + 60 * MIN, 30, 2, false);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    size_t before = st->nmembers;
    assert_true(before > 0);
    assert_int_equal(reclaim_first(r, 1, "a guest needs the room"), 1);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, before - 1);
    assert_string_equal(r->seen.last.reason, "a guest needs the room");

    /* pre-sculpting off at run time (max_share 0): the next round destroys
     * every member, demand or not */
    r->p.max_share = 0;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 90 * MIN + 30000, 0, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, 0);
    assert_string_equal(r->seen.last.reason, "surplus");
    /* and on again: members come back */
    r->p.max_share = 0.5;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 91 * MIN + 30000, 0, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_true(st->nmembers > 0);
}

static void test_restart(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    steady(r, T0, 60, 4, true);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_true(st->nmembers >= 3);
    /* the service stops; its database kept the members */
    struct drv_pool_member kept[8];
    size_t n = st->nmembers < 6 ? st->nmembers : 6;
    memcpy(kept, st->members, n * sizeof(*kept));
    drv_pool_mgr_free(r->pm);
    /* one member's guest vanished meanwhile; another was handed over */
    assert_int_equal(drv_hv_destroy(r->hv, kept[0].uuid, false, &err), 0);
    assert_int_equal(drv_sculpt_remove(r->engine, kept[0].uuid, &err), 0);
    struct drv_pool_member handed = {.state = DRV_MEMBER_HANDED_OVER,
                                      .instance_uuid = "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"};
    snprintf(handed.uuid, sizeof(handed.uuid), "%s", kept[1].uuid);
    kept[1] = handed;
    assert_int_equal(drv_hv_unpause(r->hv, handed.uuid, &err), 0);
    assert_int_equal(drv_sculpt_remove(r->engine, handed.uuid, &err), 0);
    /* one was still booting: its guest runs */
    kept[2].state = DRV_MEMBER_BOOTING;
    kept[2].started_ms = 0;
    assert_int_equal(drv_hv_unpause(r->hv, kept[2].uuid, &err), 0);

    memset(&r->seen, 0, sizeof(r->seen));
    struct drv_pool_hooks h = {on_member, on_pool, on_count, &r->seen};
    r->pm = drv_pool_mgr_new(&r->p, r->hv, r->engine, &h, &err);
    assert_non_null(r->pm);
    /* the engine forgets nothing of a restart of the pool manager here:
     * members still held are taken back as they are */
    assert_int_equal(drv_pool_mgr_restore(r->pm, kept, n, T0 + 61 * MIN, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, n - 2);
    assert_string_equal(r->seen.first.reason, "its guest is gone");
    /* the booting one is watched again, its boot timed from its creation */
    struct drv_pool_member b = member_of(r, kept[2].uuid);
    assert_int_equal(b.state, DRV_MEMBER_BOOTING);
    assert_int_equal(b.started_ms, kept[2].created_ms);
    /* the handed-over guest answers to its instance again */
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->hv, handed.instance_uuid, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    /* a request of the class takes a restored member without a forecast */
    struct drv_pool_member claimed;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 62 * MIN, &claimed), 1);
}

/* An image with hw_qemu_guest_agent: its class's members are made with the
 * agent's channel, serve its builds and no build without it (nor does a
 * member without the channel serve a build that wants one); after a
 * restart the member's domain says whether it has one. */
static void test_guest_agent_members(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    struct drv_pool_request agent_req = req;
    agent_req.guest_agent = true;
    steady_of(r, &agent_req, T0, 60, 4, true);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_true(st->nmembers >= 2);
    for (size_t i = 0; i < st->nmembers; i++) {
        assert_true(st->members[i].guest_agent);
        struct drv_hv_guest_spec spec;
        memset(&spec, 0, sizeof(spec));
        assert_int_equal(drv_hv_get_spec(r->hv, st->members[i].uuid, &spec, &err), 0);
        assert_true(spec.guest_agent);
        drv_hv_guest_spec_release(&spec);
    }
    /* the same class's request without the agent: built cold, a miss */
    struct drv_pool_member claimed;
    int misses = r->seen.misses;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 61 * MIN, &claimed), 0);
    drv_pool_mgr_tick(r->pm, T0 + 61 * MIN + 1000, 0, &err);
    assert_int_equal(r->seen.misses, misses + 1);
    /* with it: served */
    assert_int_equal(drv_pool_mgr_claim(r->pm, &agent_req, T0 + 61 * MIN + 2, &claimed), 1);
    assert_true(claimed.guest_agent);
    assert_int_equal(drv_pool_mgr_release(r->pm, claimed.uuid, "test", &err), 0);

    /* restarted: the database's rows do not say it, the domains do */
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    struct drv_pool_member kept[8];
    size_t n = 0;
    for (size_t i = 0; i < st->nmembers && n < 8; i++)
        if (st->members[i].state == DRV_MEMBER_PAUSED) {
            kept[n] = st->members[i];
            kept[n++].guest_agent = false;
        }
    assert_true(n >= 1);
    drv_pool_mgr_free(r->pm);
    struct drv_pool_hooks h = {on_member, on_pool, on_count, &r->seen};
    r->pm = drv_pool_mgr_new(&r->p, r->hv, r->engine, &h, &err);
    assert_non_null(r->pm);
    assert_int_equal(drv_pool_mgr_restore(r->pm, kept, n, T0 + 62 * MIN, &err), 0);
    assert_true(member_of(r, kept[0].uuid).guest_agent);
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 62 * MIN + 1, &claimed), 0);
    assert_int_equal(drv_pool_mgr_claim(r->pm, &agent_req, T0 + 62 * MIN + 2, &claimed), 1);
}

/* A member runs until its guest shows its boot on its console, then is
 * paused; the class learns how long its guests take. */
static void test_paused_once_booted(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    struct drv_pool_member mb = booting_member(r);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->hv, mb.uuid, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_true(count_state(r, DRV_MEMBER_BOOTING) > 0);
    /* the fake guest's console has shown GUEST-INIT-READY since its start */
    assert_true(drv_pool_mgr_watch(r->pm, mb.started_ms + 2500) >= 1);
    struct drv_pool_member now = member_of(r, mb.uuid);
    assert_int_equal(now.state, DRV_MEMBER_PAUSED);
    assert_int_equal(now.boot_ms, 2500);
    assert_int_equal(now.ready_ms, mb.started_ms + 2500);
    assert_string_equal(now.reason, "");
    assert_int_equal(drv_hv_get_info(r->hv, mb.uuid, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_PAUSED);
    assert_int_equal(r->seen.last.state, DRV_MEMBER_PAUSED);
    /* the pool's view carries the boot time from the next round: an
     * average of the boots seen, 1 s each during steady(), 2.5 s last */
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 31 * MIN, 0, &err), 0);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    bool found = false;
    for (size_t i = 0; i < st->npools; i++)
        if (strcmp(st->pools[i].key, "m1.tiny:img-1:proj") == 0) {
            found = true;
            assert_true(st->pools[i].boot_s > 1.1 && st->pools[i].boot_s < 2.5);
        }
    assert_true(found);
    /* a paused member is taken, not a booting one */
    struct drv_pool_member claimed;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 31 * MIN + 1, &claimed), 1);
    assert_false(claimed.booting);
}

/* With no sign to wait for, a member is paused after its class's boot
 * time, here cold_start_latency (nothing learnt). */
static void test_paused_without_sign(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    r->p.boot_marker[0] = '\0';
    r->p.cold_start_s = 20;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    struct drv_pool_member mb = booting_member(r);
    assert_int_equal(drv_pool_mgr_watch(r->pm, mb.started_ms + 19999), 0);
    assert_int_equal(member_of(r, mb.uuid).state, DRV_MEMBER_BOOTING);
    assert_true(drv_pool_mgr_watch(r->pm, mb.started_ms + 20000) >= 1);
    struct drv_pool_member now = member_of(r, mb.uuid);
    assert_int_equal(now.state, DRV_MEMBER_PAUSED);
    assert_int_equal(now.boot_ms, 0);
    assert_string_equal(now.reason, "");
}

/* A boot time read back at start-up: members are paused once it has
 * passed, not after cold_start_latency, and it is listed for the next
 * save. */
static void test_boot_time_recalled(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    r->p.boot_marker[0] = '\0';
    r->p.cold_start_s = 20;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    struct drv_pool_boot *b = NULL;
    assert_int_equal(drv_pool_mgr_boot_times(r->pm, &b), 0);
    free(b);
    assert_int_equal(drv_pool_mgr_set_boot_time(r->pm, &req, 0, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_pool_mgr_set_boot_time(r->pm, &req, NAN, &err), -1);
    err_clear(&err);
    assert_int_equal(drv_pool_mgr_set_boot_time(r->pm, &req, 3000, &err), 0);
    assert_int_equal(drv_pool_mgr_boot_times(r->pm, &b), 1);
    assert_string_equal(b[0].key, "m1.tiny:img-1:proj");
    assert_true(b[0].boot_ms == 3000);
    free(b);
    struct drv_pool_member mb = booting_member(r);
    assert_int_equal(drv_pool_mgr_watch(r->pm, mb.started_ms + 2999), 0);
    assert_int_equal(member_of(r, mb.uuid).state, DRV_MEMBER_BOOTING);
    assert_true(drv_pool_mgr_watch(r->pm, mb.started_ms + 3000) >= 1);
    assert_int_equal(member_of(r, mb.uuid).state, DRV_MEMBER_PAUSED);
    /* and the calibration goes to the planner as it is */
    struct drv_presculpt_calibration c;
    drv_pool_mgr_calibration(r->pm, &c);
    assert_int_equal(c.interval_s, r->p.interval_s);
    c.weight = 0.5;
    c.log_factor = 0.25;
    assert_int_equal(drv_pool_mgr_set_calibration(r->pm, &c, &err), 0);
    struct drv_presculpt_calibration back;
    drv_pool_mgr_calibration(r->pm, &back);
    assert_memory_equal(&c, &back, sizeof(c));
    c.interval_s++;
    assert_int_equal(drv_pool_mgr_set_calibration(r->pm, &c, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
}

/* A sign that never comes: paused anyway after boot_wait_max, and said. */
static void test_paused_unseen(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    snprintf(r->p.boot_marker, sizeof(r->p.boot_marker), "NEVER-PRINTED");
    r->p.boot_wait_max_s = 90;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    struct drv_pool_member mb = booting_member(r);
    assert_int_equal(drv_pool_mgr_watch(r->pm, mb.started_ms + 89999), 0);
    assert_true(drv_pool_mgr_watch(r->pm, mb.started_ms + 90000) >= 1);
    struct drv_pool_member now = member_of(r, mb.uuid);
    assert_int_equal(now.state, DRV_MEMBER_PAUSED);
    assert_int_equal(now.boot_ms, 0);
    assert_string_equal(now.reason, "paused unseen booted after 90 s");
    assert_string_equal(r->seen.last.reason, now.reason);
}

/* No member paused: a request takes a booting one (better than a cold
 * build), recorded as such; the watch leaves it alone. */
static void test_booting_handover(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    booting_member(r);
    struct drv_pool_member claimed;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, T0 + 31 * MIN, &claimed), 1);
    assert_true(claimed.booting);
    assert_int_equal(claimed.state, DRV_MEMBER_CLAIMED);
    drv_pool_mgr_watch(r->pm, claimed.started_ms + 5000);
    assert_int_equal(member_of(r, claimed.uuid).state, DRV_MEMBER_CLAIMED);
    struct drv_hv_guest_spec inst = {.uuid = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                                     .display_name = (char *)"web-1"};
    assert_int_equal(drv_pool_mgr_handover(r->pm, claimed.uuid, &inst, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->hv, inst.uuid, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_int_equal(r->seen.last.state, DRV_MEMBER_HANDED_OVER);
    assert_true(r->seen.last.booting);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    int64_t hits = 0, booting_hits = 0;
    for (size_t i = 0; i < st->npools; i++) {
        hits += st->pools[i].hits;
        booting_hits += st->pools[i].booting_hits;
    }
    assert_int_equal(booting_hits, 1);
    assert_true(hits >= 1);
}

/* Pre-sculpting turned on at run time: arrivals and templates learnt while
 * it was off make members at the next round; a new interval starts the
 * forecast over from the arrivals kept, classes, templates and members
 * kept. */
static void test_enable_at_run_time(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    r->p.enabled = false;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    steady(r, T0, 30, 2, true);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, 0);
    assert_int_equal(r->seen.nm, 0);
    assert_int_equal(r->seen.hits + r->seen.misses, 0);
    r->p.enabled = true;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 30 * MIN + 30000, 0, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    size_t made = st->nmembers;
    assert_true(made > 0);

    r->p.interval_s = 30;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, made);
    /* the new planner learnt the arrivals kept: its first round wants
     * members again, made from the templates kept */
    reclaim_first(r, SIZE_MAX, "test");
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 31 * MIN, 0, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_true(st->nmembers > 0);
    drv_pool_mgr_watch(r->pm, T0 + 31 * MIN + 1000);
    /* a shorter lifetime holds for the members there are (made at
     * T0 + 31 min): they expire at the next round */
    int expiries = r->seen.expiries;
    r->p.member_ttl_s = 20;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 61 * MIN + 1000, 0, &err), 0);
    assert_true(r->seen.expiries > expiries);
    /* off again: the next round destroys them */
    r->p.enabled = false;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0 + 62 * MIN, 0, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, 0);
    /* bad parameters are refused, the old ones kept */
    r->p.interval_s = 0;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
}

/* A fresh manager (as sculpt-compute starts: no request seen, no pool):
 * a round and a status with empty tables. */
static void test_empty_round(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    assert_int_equal(drv_pool_mgr_tick(r->pm, T0, 0, &err), 0);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->npools, 0);
    assert_int_equal(st->nmembers, 0);
    assert_int_equal(r->seen.nm, 0);
    assert_int_equal(r->seen.pools, 0);
    assert_int_equal(reclaim_first(r, 1, "a guest needs the room"), 0);
    assert_false(drv_pool_mgr_has(r->pm, "9f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"));
}

/* Two flavors of one image and disk, 1 and 4 vCPUs, each asked now and
 * then (thin, irregular demand): one family pool of members idling at its
 * base shape, defined with 4 vCPUs and 2 GiB, that either flavor takes. */
static void test_wide_members(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    const struct drv_pool_request big = {.flavor = "m1.large", .image = "img-1",
                                         .project = "proj", .vcpus = 4, .mem_mib = 2048,
                                         .root_gb = 1};
    char fam[DRV_POOL_KEY_MAX], other[DRV_POOL_KEY_MAX];
    drv_pool_request_family_key(&req, fam);
    drv_pool_request_family_key(&big, other);
    assert_string_equal(fam, "disk=1:img-1");
    assert_string_equal(fam, other);
    struct drv_pool_template small_t, big_t;
    template_of(&small_t);
    template_of(&big_t);
    big_t.guest.flavor_name = (char *)"m1.large";
    big_t.guest.shape.vcpus_online = big_t.guest.shape.vcpus_max = 4;
    big_t.guest.shape.mem_max_mib = big_t.guest.shape.res.v[DRV_RES_MEM_MIB] = 2048;
    big_t.guest.shape.res.v[DRV_RES_VCPU] = 4;
    big_t.engine.vcpus_max = 4;
    big_t.engine.mem_max_mib = big_t.engine.ceiling.v[DRV_RES_MEM_MIB] = 2048;
    big_t.engine.ceiling.v[DRV_RES_VCPU] = 4;
    uint32_t rng = 7;
    for (int k = 0; k < 120; k++) {
        int64_t now = T0 + k * MIN;
        for (int f = 0; f < 2; f++) {
            rng = rng * 1103515245u + 12345u;
            if ((rng >> 16) % 100 >= 35)
                continue;
            const struct drv_pool_request *rq = f ? &big : &req;
            struct drv_pool_member mb = {.state = DRV_MEMBER_LAST};
            if (drv_pool_mgr_claim(r->pm, rq, now + f, &mb) == 0)
                drv_pool_mgr_learn(r->pm, rq, f ? &big_t : &small_t);
            else
                assert_int_equal(drv_pool_mgr_release(r->pm, mb.uuid, "test", &err), 0);
        }
        assert_int_equal(drv_pool_mgr_tick(r->pm, now + 30000, 0, &err), 0);
        drv_pool_mgr_watch(r->pm, now + 31000);
    }
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    const struct drv_pool_view *pv = NULL;
    for (size_t i = 0; i < st->npools; i++)
        if (strcmp(st->pools[i].key, fam) == 0)
            pv = &st->pools[i];
    assert_non_null(pv);
    assert_true(pv->group);
    assert_true(pv->target > 0);
    /* its members: started at the base shape the plan chose (what the
     * engine holds), defined with the family's largest */
    autoptr(drv_sculpt_snapshot) snap = drv_sculpt_snapshot(r->engine);
    int n = 0;
    for (size_t i = 0; i < st->nmembers; i++) {
        const struct drv_pool_member *w = &st->members[i];
        if (strcmp(w->pool, fam) != 0)
            continue;
        n++;
        assert_int_equal(w->shape.vcpus_max, 4);
        assert_true(w->shape.mem_max_mib == 2048);
        assert_true(w->shape.res.v[DRV_RES_VCPU] == pv->member.v[DRV_RES_VCPU]);
        assert_true(w->shape.res.v[DRV_RES_MEM_MIB] == pv->member.v[DRV_RES_MEM_MIB]);
        for (size_t g = 0; g < snap->nguests; g++)
            if (strcmp(snap->guests[g].uuid, w->uuid) == 0)
                assert_true(snap->guests[g].shape.res.v[DRV_RES_VCPU] ==
                            pv->member.v[DRV_RES_VCPU]);
    }
    assert_true(n > 0);
    /* thin demand, cheap re-sculpts: the base is the small flavor */
    assert_true(pv->member.v[DRV_RES_VCPU] == 1);
    /* a request of the big flavor takes it; it grows live to 4 vCPUs */
    struct drv_pool_member claimed;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &big, T0 + 121 * MIN, &claimed), 1);
    assert_string_equal(claimed.pool, fam);
    struct drv_shape grown = claimed.shape;
    grown.vcpus_online = 4;
    grown.res.v[DRV_RES_VCPU] = 4;
    grown.res.v[DRV_RES_MEM_MIB] = 2048;
    struct drv_hv_reshape_report rep;
    assert_int_equal(drv_hv_reshape(r->hv, claimed.uuid, &grown, &rep, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(r->hv, claimed.uuid, &info, &err), 0);
    assert_int_equal(info.shape.vcpus_online, 4);
    assert_true(info.shape.res.v[DRV_RES_MEM_MIB] == 2048);
    /* a member that cannot serve after all counts as a miss, not a hit */
    int64_t hits = 0, misses = 0;
    autoptr(drv_pool_status) before = drv_pool_mgr_status(r->pm);
    for (size_t i = 0; i < before->npools; i++)
        if (strcmp(before->pools[i].key, fam) == 0)
            hits = before->pools[i].hits, misses = before->pools[i].misses;
    assert_int_equal(drv_pool_mgr_release_miss(r->pm, claimed.uuid, "not admitted", &err), 0);
    autoptr(drv_pool_status) after = drv_pool_mgr_status(r->pm);
    for (size_t i = 0; i < after->npools; i++)
        if (strcmp(after->pools[i].key, fam) == 0) {
            assert_int_equal(after->pools[i].hits, hits - 1);
            assert_int_equal(after->pools[i].misses, misses + 1);
        }
    /* a request beyond the maxima is not served by the family */
    const struct drv_pool_request huge = {.flavor = "m1.xlarge", .image = "img-1",
                                          .project = "proj", .vcpus = 8, .mem_mib = 8192,
                                          .root_gb = 1};
    struct drv_pool_member none;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &huge, T0 + 122 * MIN, &none), 0);
}

/* The class's wanted members per the last round (0: no such pool). */
static uint32_t target_of(struct rig *r, const char *key)
{
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    for (size_t i = 0; i < st->npools; i++)
        if (strcmp(st->pools[i].key, key) == 0)
            return st->pools[i].target;
    return 0;
}

/* A new manager in place of r->pm (the service restarted), no member
 * left: the members it had were destroyed. */
static void rig_restart(struct rig *r)
{
    struct err *err = NULL;
    reclaim_first(r, SIZE_MAX, "test");
    drv_pool_mgr_free(r->pm);
    memset(&r->seen, 0, sizeof(r->seen));
    struct drv_pool_hooks h = {on_member, on_pool, on_count, &r->seen};
    r->pm = drv_pool_mgr_new(&r->p, r->hv, r->engine, &h, &err);
    assert_non_null(r->pm);
}

/* A restart with no member left: forgetting the class and its requests,
 * the manager makes nothing until a new cold build; given them back (the
 * database's classes, templates and requests), it plans what it would
 * have planned without the restart, makes the members and one is taken. */
static void test_restart_recalled(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    steady(r, T0, 60, 2, true);
    reclaim_first(r, SIZE_MAX, "test");
    const int64_t at = T0 + 60 * MIN + 30000;
    assert_int_equal(drv_pool_mgr_tick(r->pm, at, 0, &err), 0);
    uint32_t want = target_of(r, "m1.tiny:img-1:proj");
    assert_true(want >= 1);

    rig_restart(r); /* forgotten */
    assert_int_equal(drv_pool_mgr_tick(r->pm, at, 0, &err), 0);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, 0);
    assert_int_equal(target_of(r, "m1.tiny:img-1:proj"), 0);

    rig_restart(r); /* read back */
    for (int k = 0; k < 60; k++)
        drv_pool_mgr_record(r->pm, &req, T0 + k * MIN, 2);
    drv_pool_mgr_record(r->pm, &req, T0, 0); /* nothing */
    struct drv_pool_template t;
    template_of(&t);
    drv_pool_mgr_learn(r->pm, &req, &t);
    assert_int_equal(drv_pool_mgr_tick(r->pm, at, 0, &err), 0);
    assert_int_equal(target_of(r, "m1.tiny:img-1:proj"), want);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, want);
    assert_int_equal(r->seen.misses + r->seen.hits, 0); /* read back, not counted */
    drv_pool_mgr_watch(r->pm, at + 1000);
    struct drv_pool_member claimed;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, at + 2000, &claimed), 1);
    assert_true(claimed.booting == false);
    assert_int_equal(drv_pool_mgr_release(r->pm, claimed.uuid, "test", &err), 0);
}

/* Classes nobody asked for within the retention are forgotten in the
 * running service, a bounded number per call, except one a live member
 * was made from; the others plan as before, also when the planner
 * relearns from the arrivals kept (a new interval). */
static void test_trim(void **state)
{
    struct rig *r = *state;
    struct err *err = NULL;
    const struct drv_pool_request old1 = {.flavor = "m1.old", .image = "img-2", .project = "proj",
                                          .vcpus = 2, .mem_mib = 1024, .root_gb = 1};
    const struct drv_pool_request old2 = {.flavor = "m1.gone", .image = "img-3", .vcpus = 1,
                                          .mem_mib = 256, .root_gb = 1};
    drv_pool_mgr_record(r->pm, &old1, T0 - 5 * MIN, 3);
    drv_pool_mgr_record(r->pm, &old2, T0 - 4 * MIN, 1);
    drv_pool_mgr_seen(r->pm, &old2, T0 - 3 * MIN);
    steady(r, T0, 60, 2, true);
    const int64_t now = T0 + 60 * MIN;
    assert_int_equal(drv_pool_mgr_tick(r->pm, now, 0, &err), 0);
    uint32_t want = target_of(r, "m1.tiny:img-1:proj");
    assert_true(want >= 1);

    /* kept 30 min: the two old classes go, one per call */
    assert_int_equal(drv_pool_mgr_trim(r->pm, now, 30 * MIN, 1), 1);
    assert_int_equal(drv_pool_mgr_trim(r->pm, now, 30 * MIN, 1), 1);
    assert_int_equal(drv_pool_mgr_trim(r->pm, now, 30 * MIN, 8), 0);
    assert_int_equal(drv_pool_mgr_tick(r->pm, now + 30000, 0, &err), 0);
    autoptr(drv_pool_status) st = drv_pool_mgr_status(r->pm);
    for (size_t i = 0; i < st->npools; i++)
        assert_null(strstr(st->pools[i].key, "m1.old"));
    assert_true(target_of(r, "m1.tiny:img-1:proj") >= 1);
    /* the planner relearns from the arrivals kept: m1.tiny's, remapped */
    r->p.interval_s = 120;
    assert_int_equal(drv_pool_mgr_set_params(r->pm, &r->p, &err), 0);
    assert_int_equal(drv_pool_mgr_tick(r->pm, now + 60000, 0, &err), 0);
    assert_true(target_of(r, "m1.tiny:img-1:proj") >= 1);

    /* a day later m1.tiny stays while its members live, then goes */
    assert_true(st->nmembers > 0);
    assert_int_equal(drv_pool_mgr_trim(r->pm, now + 1440 * MIN, 30 * MIN, 8), 0);
    reclaim_first(r, SIZE_MAX, "test");
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->nmembers, 0);
    assert_int_equal(drv_pool_mgr_trim(r->pm, now + 1440 * MIN, 30 * MIN, 8), 1);
    assert_int_equal(drv_pool_mgr_tick(r->pm, now + 1441 * MIN, 0, &err), 0);
    drv_pool_status_free(st);
    st = drv_pool_mgr_status(r->pm);
    assert_int_equal(st->npools, 0);
    /* its template went too: a request of it is built cold */
    struct drv_pool_member mb;
    assert_int_equal(drv_pool_mgr_claim(r->pm, &req, now + 1442 * MIN, &mb), 0);
}

/* Which changes at run time run a round at once: those that make or free
 * members now (a shorter lifetime, a smaller share or budget, on, off, a
 * new interval); not those that only keep more, or change nothing. */
static void test_params_round_now(void **state)
{
    (void)state;
    struct drv_presculpt_params was = {.interval_s = 600, .member_ttl_s = 1800,
                                       .idle_budget = 0.2, .max_share = 0.5, .enabled = true};
    struct drv_presculpt_params now = was;
    assert_false(drv_pool_params_round_now(&was, &now));
    now.member_ttl_s = 3600;
    assert_false(drv_pool_params_round_now(&was, &now));
    now.member_ttl_s = 60;
    assert_true(drv_pool_params_round_now(&was, &now));
    now = was;
    now.enabled = false;
    assert_true(drv_pool_params_round_now(&was, &now));
    assert_true(drv_pool_params_round_now(&now, &was));
    now = was;
    now.interval_s = 300;
    assert_true(drv_pool_params_round_now(&was, &now));
    now = was;
    now.max_share = 0.25;
    assert_true(drv_pool_params_round_now(&was, &now));
    now.max_share = 0.75;
    assert_false(drv_pool_params_round_now(&was, &now));
    now = was;
    now.idle_budget = 0.1;
    assert_true(drv_pool_params_round_now(&was, &now));
    now.idle_budget = 0.4;
    assert_false(drv_pool_params_round_now(&was, &now));
}

static void test_keys(void **state)
{
    (void)state;
    char c[DRV_POOL_KEY_MAX], g[DRV_POOL_KEY_MAX];
    drv_pool_request_keys(&req, c, g);
    assert_string_equal(c, "m1.tiny:img-1:proj");
    assert_string_equal(g, "vcpu=1,disk=1:img-1");
    struct drv_pool_request anon = {.vcpus = 2, .root_gb = 10};
    drv_pool_request_keys(&anon, c, g);
    assert_string_equal(c, "-:-:-");
    assert_string_equal(g, "vcpu=2,disk=10:-");
    assert_string_equal(drv_member_state_name(DRV_MEMBER_PAUSED), "paused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_members_made_and_handed_over, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_reclaim, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_order, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_reclaimable_only_when_idle, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_restart, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_restart_recalled, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_guest_agent_members, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_empty_round, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_paused_once_booted, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_paused_without_sign, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_boot_time_recalled, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_trim, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_paused_unseen, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_booting_handover, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_enable_at_run_time, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_wide_members, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_handover_failed, rig_setup, rig_teardown),
        cmocka_unit_test(test_params_round_now),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
