/* Evacuate: the migration record and allocations on the destination,
 * and the source's clean-up when its sculpt-compute starts again
 * (compute_rebuild.h says what each side does). */
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_priv.h"
#include "openstack/compute_rebuild.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/placement.h"

LOG_INIT("openstack.compute_evacuate");

/* Migration.save of what was set on `mig`. */
static int evac_mig_save(struct os_compute *c, const json_t *ctx, json_t *mig, const char *status,
                         struct err **err)
{
    ovo_set_str(mig, "status", status);
    json_t *res =
        os_conductor_object_action(&c->conductor, ctx, mig, "save", NULL, NULL, NULL, err);
    if (!res)
        return err_wrap(err, "migration not saved as `%s`", status);
    json_decref(res);
    return 0;
}

int os_compute_evacuate_claimed(struct os_compute *c, const json_t *ctx, json_t *mig,
                                const char *node, struct err **err)
{
    if (!mig)
        return 0;
    ovo_set_str(mig, "dest_compute", c->host);
    ovo_set_str(mig, "dest_node", node);
    ovo_set_str(mig, "dest_host", c->cfg->my_ip);
    return evac_mig_save(c, ctx, mig, "pre-migrating", err);
}

void os_compute_evacuate_done(struct os_compute *c, const json_t *ctx, json_t *mig)
{
    autoerr struct err *e = NULL;
    if (mig && evac_mig_save(c, ctx, mig, "done", &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "evacuation over but its migration not `done`");
}

/* This host's provider dropped from consumer `uuid`'s allocations. */
static void evac_drop_allocations(struct os_compute *c, const char *uuid, const char *side)
{
    if (!c->placement)
        return;
    autoerr struct err *e = NULL;
    if (os_placement_remove_provider(c->placement, uuid, c->node_uuid, &e) < 0)
        log_err(LOG_LEVEL_ERROR, e, "Failed to clean allocation of evacuated instance %s on the "
                "%s node %s", uuid, side, c->node_uuid);
}

void os_compute_evacuate_failed(struct os_compute *c, const json_t *ctx, json_t *mig,
                                const char *uuid, bool elsewhere, enum os_evac_failure_kind kind)
{
    struct os_evac_failure f = os_evac_failure(kind);
    autoerr struct err *e = NULL;
    if (mig && evac_mig_save(c, ctx, mig, f.mig_status, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "failed evacuation's migration not `%s`", f.mig_status);
    if (!elsewhere) /* an instance of this host's: what it holds is its own */
        return;
    if (f.drop_dest_allocations)
        evac_drop_allocations(c, uuid, "destination");
    /* the instance stays its source's: nothing of it is left here (a
     * guest that ran would be no host's to delete) */
    if (os_compute_move_release(c, uuid, false, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "guest of the failed evacuation left here");
}

/* One evacuation from this host, as os_evac_source_plan says. */
static int evac_clean_one(struct os_compute *c, const json_t *ctx, json_t *mig, const char *uuid,
                          struct err **err)
{
    json_auto_t *inst = NULL;
    bool guest = false;
    if (os_compute_instance_facts(c, ctx, uuid, &inst, &guest, err) < 0)
        return -1;
    struct os_evac_source_plan p = os_evac_source_plan(guest, inst != NULL);
    if (p.destroy_guest)
        log_info("Destroying instance %s as it has been evacuated from this host but still "
                 "exists in the hypervisor", uuid);
    /* destroys what is left of the guest and its files (none is fine) */
    if (p.forget && os_compute_move_release(c, uuid, false, err) < 0)
        return -1;
    if (p.drop_allocations) {
        log_info("Cleaning up allocations of %s as it has been evacuated from this host", uuid);
        evac_drop_allocations(c, uuid, "source");
    }
    if (p.complete && evac_mig_save(c, ctx, mig, "completed", err) < 0)
        return -1;
    return 0;
}

int os_compute_evacuated_cleanup(struct os_compute *c, const json_t *ctx, json_t **skip,
                                 struct err **err)
{
    *skip = json_object();
    json_auto_t *dctx = json_deep_copy(ctx);
    json_object_set_new(dctx, "read_deleted", json_string("yes"));
    json_auto_t *list = os_conductor_class_action(
        &c->conductor, dctx, "MigrationList", "get_by_filters",
        json_pack("[{s:s, s:[s, s, s], s:s}]", "source_compute", c->host, "status", "accepted",
                  "pre-migrating", "done", "migration_type", "evacuation"),
        NULL, NULL, err);
    if (!list)
        return err_wrap(err, "evacuations from this host not read");
    size_t k;
    json_t *mig;
    json_array_foreach(ovo_list_objects(list), k, mig) {
        const char *uuid = ovo_get_str(mig, "instance_uuid");
        if (!ovo_is(mig, "Migration") || !uuid ||
            !os_evacuation_from(ovo_get_str(mig, "migration_type"),
                                ovo_get_str(mig, "source_compute"), ovo_get_str(mig, "status"),
                                c->host))
            continue;
        json_object_set_new(*skip, uuid, json_true());
        log_ctx_set_instance(uuid);
        autoerr struct err *e = NULL;
        if (evac_clean_one(c, ctx, mig, uuid, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "evacuated instance not cleaned up: at the next start");
        else
            log_info("evacuated from this host (migration %s): cleaned up",
                     ovo_get_str(mig, "uuid") ? ovo_get_str(mig, "uuid") : "?");
        log_ctx_set_instance(NULL);
    }
    return 0;
}
