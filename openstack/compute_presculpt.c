/* Pre-sculpted pools in the compute service: the pool manager
 * (driver/presculpt_pool.h) wired to the database, to the build path (a
 * request takes a member, handed over without a cold spawn) and to the
 * start-up (members the database kept are taken back before the recovery
 * lists the hypervisor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "db/db.h"
#include "driver/presculpt_pool.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/config_drive.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"

LOG_INIT("openstack.compute_presculpt");

static enum db_member_state db_state_of(enum drv_member_state s)
{
    switch (s) {
    case DRV_MEMBER_PREPARING:
        return DB_MEMBER_PREPARING;
    case DRV_MEMBER_BOOTING:
    case DRV_MEMBER_PAUSING:
        return DB_MEMBER_BOOTING;
    case DRV_MEMBER_PAUSED:
    case DRV_MEMBER_CLAIMED:
        return DB_MEMBER_PAUSED;
    case DRV_MEMBER_HANDED_OVER:
        return DB_MEMBER_HANDED_OVER;
    case DRV_MEMBER_RELEASED:
    case DRV_MEMBER_LAST:
        break;
    }
    return DB_MEMBER_RELEASED;
}

static enum drv_member_state drv_state_of(enum db_member_state s)
{
    switch (s) {
    case DB_MEMBER_PREPARING:
        return DRV_MEMBER_PREPARING;
    case DB_MEMBER_BOOTING:
        return DRV_MEMBER_BOOTING;
    case DB_MEMBER_READY:
    case DB_MEMBER_PAUSED:
        return DRV_MEMBER_PAUSED;
    case DB_MEMBER_HANDED_OVER:
        return DRV_MEMBER_HANDED_OVER;
    default:
        return DRV_MEMBER_RELEASED;
    }
}

/* ---- the database side (hooks run on the pool manager's thread) ---- */

static void hook_member(const struct drv_pool_member *m, void *opaque)
{
    struct os_compute *c = opaque;
    /* a member made, paused or gone moves the room Placement is told of */
    pthread_mutex_lock(&c->lock);
    os_compute_resources_moved_locked(c);
    pthread_mutex_unlock(&c->lock);
    /* a hand-over is written with its instance row (db_pool_handover) */
    if (!c->db || m->state == DRV_MEMBER_HANDED_OVER)
        return;
    struct db_pool_member row = {
        .pool_key = (char *)m->pool,
        .domain = (char *)m->domain,
        .state = db_state_of(m->state),
        .shape = m->shape,
        .created_ms = m->created_ms,
        .ready_ms = m->ready_ms,
        .expires_ms = m->expires_ms,
        .reason = m->reason[0] ? (char *)m->reason : NULL,
    };
    snprintf(row.uuid, sizeof(row.uuid), "%s", m->uuid);
    autoerr struct err *e = NULL;
    if (db_pool_member_put(c->db, &row, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "pool member %s not recorded", m->uuid);
}

static void hook_pool(const struct drv_pool_view *p, void *opaque)
{
    struct os_compute *c = opaque;
    if (!c->db)
        return;
    /* a class key is "flavor:image:project" */
    char flavor[DRV_POOL_KEY_MAX] = "", image[DRV_POOL_KEY_MAX] = "", project[DRV_POOL_KEY_MAX] = "";
    if (!p->group)
        sscanf(p->key, "%159[^:]:%159[^:]:%159s", flavor, image, project);
    struct db_cost_term terms[] = {
        {"expected_requests", p->mean},
        {"quantile", p->quantile},
        {"expected_cost", p->exp_cost},
        {"member_vcpu", p->member.v[DRV_RES_VCPU]},
        {"member_mem_mib", p->member.v[DRV_RES_MEM_MIB]},
    };
    struct db_pool row = {
        .key = (char *)p->key,
        .flavor_name = flavor[0] && strcmp(flavor, "-") ? flavor : NULL,
        .image_ref = image[0] && strcmp(image, "-") ? image : NULL,
        .project_id = project[0] && strcmp(project, "-") ? project : NULL,
        .target_size = (int32_t)p->target,
        .confidence = p->confidence,
        .expires_ms = p->expires_ms,
        .terms = terms,
        .nterms = sizeof(terms) / sizeof(terms[0]),
    };
    row.shape.res = p->member;
    row.shape.numa_node = -1;
    autoerr struct err *e = NULL;
    if (db_pool_put(c->db, &row, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "pool `%s` not recorded", p->key);
}

static void hook_count(const char *pool, const struct drv_pool_view *gained, void *opaque)
{
    struct os_compute *c = opaque;
    /* hits are counted with the hand-over itself (db_pool_handover) */
    struct db_pool_counts d = {.misses = gained->misses, .expiries = gained->expiries,
                               .reclaims = gained->reclaims};
    autoerr struct err *e = NULL;
    if (c->db && (d.misses || d.expiries || d.reclaims) && db_pool_count(c->db, pool, &d, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "pool `%s` counters not recorded", pool);
}

/* [presculpt] as the pool manager takes it; -1 with *err when an option
 * does not fit it. */
static int pools_params(const struct cfg *cfg, struct drv_presculpt_params *p, struct err **err)
{
    drv_presculpt_params_from_cfg(cfg, p);
    const char *marker = cfg->presculpt_boot_marker ? cfg->presculpt_boot_marker : "";
    if (strlen(marker) >= sizeof(p->boot_marker))
        return err_set(err, ERR_INVALID, "[presculpt] boot_marker: %zu characters, at most %zu",
                       strlen(marker), sizeof(p->boot_marker) - 1);
    return 0;
}

struct drv_pool_mgr *os_compute_pools_new(struct os_compute *c, struct err **err)
{
    /* made even when disabled: `enabled = true` applies at run time */
    if (!c->cfg->presculpt_enabled)
        log_info("pre-sculpting disabled ([presculpt] enabled = false): the pool manager "
                 "learns arrivals and templates, makes no member");
    struct drv_presculpt_params p;
    if (pools_params(c->cfg, &p, err) < 0)
        return NULL;
    struct drv_pool_hooks h = {hook_member, hook_pool, hook_count, c};
    return drv_pool_mgr_new(&p, c->hv, c->engine, &h, err);
}

void os_compute_pools_config(struct os_compute *c, const struct cfg *cfg)
{
    if (!c->pools)
        return;
    struct drv_presculpt_params p;
    autoerr struct err *e = NULL;
    if (pools_params(cfg, &p, &e) < 0 || drv_pool_mgr_set_params(c->pools, &p, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "new [presculpt] settings not applied");
}

/* The open hand-over intent naming member `uuid`, or NULL. */
static const struct db_intent *restore_handover_of(const struct db_intent_list *open,
                                                   const char *uuid)
{
    for (size_t k = 0; open && k < open->n; k++)
        if (open->v[k]->op == DB_OP_HANDOVER && strcasecmp(open->v[k]->member_uuid, uuid) == 0)
            return open->v[k];
    return NULL;
}

/* The config drive of an instance whose hand-over a crash interrupted,
 * made again from Nova's record (its injected files and admin password
 * were the request's and are not in it): the crash may have come before
 * the drive was in.  0 with *out NULL when the instance needs none. */
static int restore_config_drive(struct os_compute *c, const char *uuid,
                                struct drv_hv_config_drive **out, struct err **err)
{
    *out = NULL;
    json_auto_t *ctx = os_ctx_new_admin();
    json_auto_t *prim = os_compute_instance_now(
        c, ctx, uuid, (const char *const[]){"metadata", "keypairs", NULL}, NULL, err);
    if (!prim)
        return err_wrap(err, "instance %s", uuid);
    return os_compute_config_drive(c, prim, NULL, NULL, NULL, out, err);
}

/* A hand-over a crash interrupted: its guest is the instance's again
 * (alias; its config drive in; resumed if the crash came before the
 * resume), and the recovery completes it (db/reconcile.c); with no guest
 * left, the recovery rolls it back -- which is what a guest that cannot
 * get the instance's config drive gets: it never runs as the instance
 * without its user data. */
static void restore_handover(struct os_compute *c, const struct db_intent *in)
{
    struct drv_hv_guest_spec id;
    memset(&id, 0, sizeof(id));
    snprintf(id.uuid, sizeof(id.uuid), "%s", in->instance_uuid);
    autoerr struct err *e = NULL;
    autoptr(drv_hv_config_drive) cd = NULL;
    bool needs_drive = restore_config_drive(c, in->instance_uuid, &cd, &e) < 0 || cd;
    id.config_drive = cd;
    int rc = needs_drive && !cd ? -1 : drv_hv_handover(c->hv, in->member_uuid, &id, &e);
    if (rc < 0 && needs_drive) {
        /* the drive not made or not in: the guest goes, the recovery rolls back */
        log_err(LOG_LEVEL_WARN, e, "interrupted hand-over of member %s to %s: no config drive "
                "in its guest, destroyed", in->member_uuid, in->instance_uuid);
        err_clear(&e);
        if (drv_hv_destroy(c->hv, in->member_uuid, false, &e) < 0 &&
            err_code_of(e) != ERR_NOT_FOUND)
            log_err(LOG_LEVEL_WARN, e, "member %s not destroyed", in->member_uuid);
        return;
    }
    if (rc < 0)
        log_err(LOG_LEVEL_WARN, e, "interrupted hand-over of member %s to %s not resumed",
                in->member_uuid, in->instance_uuid);
    else
        log_info("interrupted hand-over of member %s: its guest is instance %s again",
                 in->member_uuid, in->instance_uuid);
}

/* A live member nobody will hold (pre-sculpting is off): its guest goes. */
static void restore_drop(struct os_compute *c, const char *uuid, const char *domain,
                         const char *why)
{
    autoerr struct err *e = NULL;
    if (drv_hv_destroy(c->hv, uuid, false, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND) {
        log_err(LOG_LEVEL_WARN, e, "pool member %s (`%s`) not destroyed", uuid, domain);
        return;
    }
    err_clear(&e);
    if (db_pool_member_set_state(c->db, uuid, DB_MEMBER_RELEASED, why, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "release of pool member %s not recorded", uuid);
    log_info("pool member %s (`%s`) destroyed: %s", uuid, domain, why);
}

/* Guests named as members that no row holds (a crash between a member's
 * spawn and its row reaching PostgreSQL, a destroy that failed): nobody
 * would ever claim or expire them. */
static void restore_orphans(struct os_compute *c, const struct db_pool_member_list *rows)
{
    struct drv_hv_info *guests = NULL;
    size_t n = 0;
    autoerr struct err *e = NULL;
    if (drv_hv_list(c->hv, &guests, &n, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "guests not listed: pool members without a row not looked for");
        return;
    }
    const size_t plen = strlen(DRV_POOL_DOMAIN_PREFIX);
    for (size_t g = 0; g < n; g++) {
        if (strncmp(guests[g].name, DRV_POOL_DOMAIN_PREFIX, plen) != 0)
            continue;
        bool held = false;
        for (size_t i = 0; i < rows->n && !held; i++) {
            const struct db_pool_member *r = rows->v[i];
            /* by name, or by uuid (a handed-over guest's is its
             * instance's here): a row may still name a domain renamed
             * since (compute_domain_name.c) */
            held = r->state != DB_MEMBER_RELEASED && r->state != DB_MEMBER_GONE &&
                   ((r->domain && strcmp(r->domain, guests[g].name) == 0) ||
                    strcasecmp(r->uuid, guests[g].uuid) == 0 ||
                    (r->instance_uuid[0] && strcasecmp(r->instance_uuid, guests[g].uuid) == 0));
        }
        if (held)
            continue;
        if (drv_hv_destroy(c->hv, guests[g].uuid, false, &e) < 0 &&
            err_code_of(e) != ERR_NOT_FOUND)
            log_err(LOG_LEVEL_WARN, e, "pool member `%s` without a row not destroyed",
                    guests[g].name);
        else
            log_info("pool member `%s` (%s) had no row: destroyed", guests[g].name,
                     guests[g].uuid);
        err_clear(&e);
    }
    free(guests);
}

void os_compute_pools_restore(struct os_compute *c)
{
    if (!c->db)
        return;
    autoerr struct err *e = NULL;
    autoptr(db_pool_member_list) rows = db_pool_member_list_restore(c->db, &e);
    if (!rows) {
        log_err(LOG_LEVEL_WARN, e, "pool members not read back: none reused");
        return;
    }
    autoptr(db_intent_list) open = db_intent_list_open(c->db, &e);
    if (!open) {
        log_err(LOG_LEVEL_WARN, e, "open intents not read: interrupted hand-overs left to the "
                "recovery");
        err_clear(&e);
    }
    struct drv_pool_member *mb = xcalloc(rows->n + 1, sizeof(*mb));
    size_t n = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const struct db_pool_member *r = rows->v[i];
        enum drv_member_state st = drv_state_of(r->state);
        if (st == DRV_MEMBER_RELEASED)
            continue;
        const struct db_intent *in = restore_handover_of(open, r->uuid);
        if (in) {
            restore_handover(c, in);
            continue;
        }
        /* handed over: the guest answers to its instance's uuid, pools or not */
        if (st == DRV_MEMBER_HANDED_OVER) {
            if (r->instance_uuid[0])
                drv_hv_alias(c->hv, r->instance_uuid, r->uuid);
            continue;
        }
        if (!c->pools || !c->cfg->presculpt_enabled) {
            restore_drop(c, r->uuid, r->domain ? r->domain : "?", "pre-sculpting disabled");
            continue;
        }
        struct drv_pool_member *m = &mb[n++];
        snprintf(m->uuid, sizeof(m->uuid), "%s", r->uuid);
        snprintf(m->domain, sizeof(m->domain), "%s", r->domain ? r->domain : "");
        snprintf(m->pool, sizeof(m->pool), "%s", r->pool_key ? r->pool_key : "");
        snprintf(m->class_key, sizeof(m->class_key), "%s", m->pool);
        m->state = st;
        m->shape = r->shape;
        m->created_ms = r->created_ms;
        m->ready_ms = r->ready_ms;
        m->expires_ms = r->expires_ms;
    }
    if (c->pools && drv_pool_mgr_restore(c->pools, mb, n, clock_wall_ms(), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "pool members not taken back");
    free(mb);
    restore_orphans(c, rows);
}

static void request_of(const struct os_inst *i, struct drv_pool_request *r)
{
    const struct drv_instance *in = i->inst;
    memset(r, 0, sizeof(*r));
    r->flavor = in->flavor.name;
    r->image = in->image_ref;
    r->project = in->project_id;
    r->vcpus = in->flavor.vcpus;
    r->mem_mib = (double)in->flavor.memory_mb;
    r->root_gb = in->flavor.root_gb;
}

/* What a handed-over guest must say of its instance (borrowed strings). */
static void identity_of(const struct drv_instance *inst, struct drv_hv_guest_spec *id)
{
    memset(id, 0, sizeof(*id));
    id->display_name = inst->name;
    id->project_id = inst->project_id;
    id->user_id = inst->user_id;
    id->flavor_name = inst->flavor.name;
    snprintf(id->uuid, sizeof(id->uuid), "%s", inst->uuid);
}

int os_compute_pools_take(struct os_compute *c, struct os_inst *i,
                          const struct drv_hv_config_drive *cd, int64_t *intent,
                          struct err **err)
{
    *intent = 0;
    if (!c->pools)
        return 0;
    struct drv_pool_request r;
    request_of(i, &r);
    /* a member with the guest agent's channel for an image that asks for
     * it (hw_qemu_guest_agent), one without for the others */
    r.guest_agent = os_compute_wants_agent(i->prim, NULL);
    struct drv_pool_member m;
    int64_t now_ms = clock_wall_ms();
    os_compute_pools_note_request(c, &r, now_ms);
    if (drv_pool_mgr_claim(c->pools, &r, now_ms, &m) <= 0)
        return 0;
    struct drv_instance *inst = i->inst;
    if (c->db) {
        struct db_intent in = {
            .op = DB_OP_HANDOVER,
            .domain = m.domain,
            .has_to = true,
            .to = m.shape,
            .request_id = (char *)os_ctx_str(i->ctx, "request_id"),
        };
        snprintf(in.instance_uuid, sizeof(in.instance_uuid), "%s", inst->uuid);
        snprintf(in.member_uuid, sizeof(in.member_uuid), "%s", m.uuid);
        autoerr struct err *e = NULL;
        *intent = db_intent_begin(c->db, &in, &e);
        if (*intent < 0) {
            /* no journal, no hand-over: a crash could not tell whose guest it is */
            log_err(LOG_LEVEL_WARN, e, "hand-over not journalled: building cold");
            drv_pool_mgr_release(c->pools, m.uuid, "hand-over not journalled", NULL);
            *intent = 0;
            return 0;
        }
    }
    /* a wide pool's member (of its family's pool, at the base shape):
     * admitted and re-sculpted to the request's first, or it does not
     * serve (a miss) */
    char family[DRV_POOL_KEY_MAX];
    drv_pool_request_family_key(&r, family);
    bool fit = strcmp(m.pool, family) == 0;
    struct drv_shape shape = m.shape;
    autoerr struct err *fe = NULL;
    int32_t vcpus_defined = inst->vcpus_defined; /* the fit sets the member's */
    double mem_defined_mib = inst->mem_defined_mib;
    if (fit && os_compute_pools_fit(c, i, &m, &shape, &fe) < 0) {
        log_err(LOG_LEVEL_WARN, fe, "pre-sculpted member %s does not serve: building cold",
                m.uuid);
        os_compute_intent_finish(c, *intent, false, fe);
        *intent = 0;
        drv_pool_mgr_release_miss(c->pools, m.uuid, "not re-sculpted for its request", NULL);
        return 0;
    }
    struct drv_hv_guest_spec id;
    identity_of(inst, &id);
    id.config_drive = (struct drv_hv_config_drive *)cd; /* borrowed, as the rest of id */
    if (drv_pool_mgr_handover(c->pools, m.uuid, &id, err) < 0) {
        if (fit) {
            os_compute_engine_forget(c, inst->uuid);
            /* the cold build that follows defines its domain by the flavor */
            inst->vcpus_defined = vcpus_defined;
            inst->mem_defined_mib = mem_defined_mib;
        }
        os_compute_intent_finish(c, *intent, false, err ? *err : NULL);
        *intent = 0;
        log_err(LOG_LEVEL_WARN, err ? *err : NULL, "pre-sculpted member not handed over");
        if (err)
            err_clear(err);
        return 0;
    }
    free(inst->domain);
    inst->domain = xstrdup(m.domain);
    inst->shape = shape;
    inst->vcpus_defined = m.shape.vcpus_max;
    inst->mem_defined_mib = m.shape.mem_max_mib;
    autoerr struct err *e = NULL;
    if (!fit && os_compute_engine_adopt(c, inst, &m.shape, true, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "handed-over guest not held by the engine");
    /* tests: a crash here finds the guest resumed as the instance's, the
     * database still naming it a member */
    os_compute_intent_test_pause("handover", *intent, inst->uuid, 0, 0);
    if (m.booting)
        log_warn("instance %s got pool member %s still booting (no member was paused): "
                 "its guest finishes its boot as the instance's",
                 inst->uuid, m.uuid);
    if (c->db && db_pool_handover(c->db, m.uuid, inst, m.booting, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "hand-over not recorded");
    return 1;
}

int os_compute_pools_resume(struct os_compute *c, struct os_inst *i)
{
    struct drv_instance *inst = i->inst;
    /* Sculpt's record of the hand-over, not the guest's name (it takes
     * Nova's instance_name once it is off, compute_domain_name.c): only a
     * handed-over guest answers to another uuid, through the alias the
     * hand-over made, or the start made from the member's handed-over row
     * or the open hand-over intent (os_compute_pools_restore).  A look-up
     * in memory, nothing asked of the backend on the way of every build. */
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(c->hv, inst->uuid, dom);
    if (strcasecmp(dom, inst->uuid) == 0)
        return 0;
    struct drv_hv_info info;
    autoerr struct err *e = NULL;
    if (drv_hv_get_info(c->hv, inst->uuid, &info, &e) < 0)
        return 0; /* the hand-over was rolled back: its guest is gone */
    log_warn("build of %s came again after a restart that completed its hand-over: its guest "
             "`%s` runs, nothing is spawned",
             inst->uuid, info.name);
    free(inst->domain);
    inst->domain = xstrdup(info.name);
    drv_hv_info_asked(&info, &inst->shape);
    if (os_compute_engine_adopt(c, inst, &inst->shape, false, &e) < 0 &&
        err_code_of(e) != ERR_CONFLICT)
        log_err(LOG_LEVEL_WARN, e, "handed-over guest not held by the engine");
    return 1;
}

void os_compute_pools_identify(struct os_compute *c, const struct os_inst *i)
{
    const struct drv_instance *inst = i->inst;
    struct drv_hv_guest_spec id;
    identity_of(inst, &id);
    autoerr struct err *e = NULL;
    if (drv_hv_set_identity(c->hv, inst->uuid, &id, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "guest `%s` runs as %s under the member's title", inst->domain,
                inst->uuid);
}

void os_compute_pools_learn(struct os_compute *c, const struct os_inst *i,
                            const struct drv_hv_guest_spec *spec)
{
    if (!c->pools)
        return;
    struct drv_pool_request r;
    request_of(i, &r);
    struct drv_pool_template t;
    memset(&t, 0, sizeof(t));
    autoerr struct err *e = NULL;
    struct drv_hv_guest_spec running;
    memset(&running, 0, sizeof(running));
    if (!spec) {
        if (drv_hv_get_spec(c->hv, i->inst->uuid, &running, &e) < 0) {
            log_err(LOG_LEVEL_WARN, e, "class of %s not learnt", i->inst->uuid);
            return;
        }
        spec = &running;
    }
    /* the guest agent's channel too: members of the class have it */
    t.guest = *spec;
    /* the class's guests share a shape and an image, never a config drive */
    t.guest.config_drive = NULL;
    if (drv_sculpt_spec_from_instance(i->inst, c->host_topo, 0, &t.engine, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "class of %s not pre-sculptable", i->inst->uuid);
    else {
        drv_pool_mgr_learn(c->pools, &r, &t);
        os_compute_pools_note_template(c, &r, &t);
    }
    drv_hv_guest_spec_release(&running);
}

void os_compute_pools_reclaim_order(struct os_compute *c, struct drv_control_reclaim *r)
{
    memset(r, 0, sizeof(*r));
    if (!c->pools)
        return;
    drv_pool_uuid *uuids = NULL;
    size_t n = drv_pool_mgr_reclaim_order(c->pools, &uuids);
    /* one block: the pointers, then the uuids they point into */
    char **order = xmalloc((n + 1) * sizeof(*order) + (n + 1) * sizeof(*uuids));
    drv_pool_uuid *store = (drv_pool_uuid *)(order + n + 1);
    memcpy(store, uuids, n * sizeof(*uuids));
    for (size_t k = 0; k < n; k++)
        order[k] = store[k];
    order[n] = NULL;
    free(uuids);
    r->order = (const char *const *)order;
    r->n = n;
}

/* A member destroyed for a real guest, in the event log under that
 * guest: what it held, how long it idled, which pool loses it. */
static void pools_record_reclaim(struct os_compute *c, const char *uuid, const char *what,
                                 const struct drv_pool_member *mb, int64_t now_ms)
{
    if (!c->db)
        return;
    char res[160];
    autofree char *msg = xasprintf(
        "pool `%s`: idle member %s (%s, confidence %.2f, made %.0f s ago) destroyed to make "
        "room for the instance's %s",
        mb->pool, mb->uuid, drv_res_format(mb->shape.res, res, sizeof(res)), mb->confidence,
        (double)(now_ms - mb->created_ms) / 1000, what);
    const char *rid = log_ctx_request_id();
    struct db_event ev = {.request_id = (char *)rid,
                          .source = (char *)"presculpt",
                          .action = (char *)"pool.reclaim",
                          .message = msg};
    snprintf(ev.instance_uuid, sizeof(ev.instance_uuid), "%s", uuid);
    autoerr struct err *e = NULL;
    if (db_event_add(c->db, &ev, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "reclaim of member %s not in the event log", mb->uuid);
}

void os_compute_pools_reclaimed(struct os_compute *c, const char *uuid, const char *what,
                                struct drv_control_reclaim *r)
{
    static struct metrics_family *reclaimed;
    if (r->taken > 0 && c->pools) {
        if (!reclaimed)
            reclaimed = metrics_counter("sculpt_pool_reclaimed_total",
                                        "Pre-sculpted pool members destroyed to make room for "
                                        "a real guest.",
                                        "");
        drv_pool_uuid *uuids = xcalloc(r->taken, sizeof(*uuids));
        for (size_t k = 0; k < r->taken; k++)
            snprintf(uuids[k], sizeof(uuids[k]), "%s", r->order[k]);
        autofree char *why = xasprintf("reclaimed for instance %s", uuid);
        struct drv_pool_member *gone = xcalloc(r->taken, sizeof(*gone));
        size_t n = drv_pool_mgr_reclaim_members(c->pools, uuids, r->taken, why, gone);
        int64_t now_ms = clock_wall_ms();
        for (size_t k = 0; k < n; k++)
            pools_record_reclaim(c, uuid, what, &gone[k], now_ms);
        free(gone);
        metrics_add(reclaimed, (double)r->taken, NULL);
        log_info("instance %s fits by reclaiming %zu idle pool member(s) of %zu (%zu destroyed "
                 "now, the rest at the next round)",
                 uuid, r->taken, r->n, n);
        free(uuids);
    }
    free((void *)r->order);
    r->order = NULL;
    r->n = r->taken = 0;
}
