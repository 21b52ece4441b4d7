/* resize_confirm_window: resizes left in VERIFY_RESIZE longer than the
 * window are confirmed on their own.  In Nova this is the destination
 * compute's periodic task (ComputeManager._poll_unconfirmed_resizes), not
 * the control plane's: sculpt-compute takes nova-compute's place, so it
 * runs it.  As Nova's: the migrations `finished` on this host for longer
 * than the window (MigrationList.get_unconfirmed_by_dest_compute), each
 * checked against its instance (gone or in ERROR: the migration in error;
 * being deleted or still finishing: left for the next pass; not RESIZED
 * with no task: in error), then what compute.API.confirm_resize does --
 * the migration `confirming`, a confirmResize action, confirm_resize cast
 * to the source compute (this host) -- so the confirm goes through the
 * RPC dispatch like one the API sent, one at a time with the instance's
 * other requests. */
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/compute_priv.h"
#include "openstack/messaging.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.compute_resize_confirm");

/* _set_migration_to_error. */
static void confirm_mig_error(struct os_compute *c, const json_t *ctx, json_t *mig,
                              const char *reason)
{
    int64_t id = 0;
    ovo_get_int(mig, "id", &id);
    log_warn("migration %lld set to error: %s", (long long)id, reason);
    ovo_set_str(mig, "status", "error");
    autoerr struct err *e = NULL;
    json_t *r = os_conductor_object_action(&c->conductor, ctx, mig, "save", NULL, NULL, NULL, &e);
    if (!r)
        log_err(LOG_LEVEL_WARN, e, "migration %lld not set to error", (long long)id);
    json_decref(r);
}

/* The checks of _poll_unconfirmed_resizes on one migration's instance:
 * true when it is to be confirmed now. */
static bool confirm_wanted(struct os_compute *c, const json_t *ctx, json_t *mig,
                           const json_t *inst)
{
    const char *vm = ovo_get_str(inst, "vm_state");
    const char *task = ovo_get_str(inst, "task_state");
    if (vm && strcmp(vm, "error") == 0) {
        confirm_mig_error(c, ctx, mig, "In ERROR state");
        return false;
    }
    if (task && (strcmp(task, "deleting") == 0 || strcmp(task, "soft-deleting") == 0)) {
        log_debug("instance being deleted during resize confirmation: skipped");
        return false;
    }
    if (task && strcmp(task, "resize_finish") == 0) {
        log_debug("instance still resizing during resize confirmation: skipped");
        return false;
    }
    if (!vm || strcmp(vm, "resized") != 0 || task) {
        autofree char *why = xasprintf("In states %s/%s, not RESIZED/None", vm ? vm : "None",
                                       task ? task : "None");
        confirm_mig_error(c, ctx, mig, why);
        return false;
    }
    return true;
}

/* compute.API.confirm_resize for one migration: `confirming`, the
 * confirmResize action, the cast to its source compute.  -1 with *err. */
static int confirm_one(struct os_compute *c, const json_t *ctx, json_t *mig, json_t *inst,
                       struct err **err)
{
    const char *uuid = ovo_get_str(inst, "uuid");
    const char *source = ovo_get_str(mig, "source_compute");
    if (!source || !*source)
        return err_set(err, ERR_INVALID, "migration %s has no source compute",
                       ovo_get_str(mig, "uuid"));
    ovo_set_str(mig, "status", "confirming");
    json_t *r = os_conductor_object_action(&c->conductor, ctx, mig, "save", NULL, NULL, NULL, err);
    if (!r)
        return err_wrap(err, "migration not set to confirming");
    json_decref(r);
    r = os_conductor_class_action(&c->conductor, ctx, "InstanceAction", "action_start",
                                  json_pack("[s, s]", uuid, "confirmResize"),
                                  json_pack("{s:b}", "want_result", 0), NULL, err);
    if (!r)
        return err_wrap(err, "confirmResize action not recorded");
    json_decref(r);
    const struct os_rpc_target t = {.topic = OS_COMPUTE_TOPIC, .server = source,
                                    .version = "6.0"};
    json_auto_t *args = json_pack("{s:O, s:O, s:s}", "instance", inst, "migration", mig,
                                  "source", source);
    if (os_rpc_cast(c->msg->client, &t, "confirm_resize", args, ctx, err) < 0)
        return err_wrap(err, "confirm_resize not sent to %s", source);
    return 0;
}

void os_compute_resize_autoconfirm(struct os_compute *c)
{
    int64_t window = c->cfg->resize_confirm_window;
    if (window <= 0)
        return;
    json_auto_t *ctx = os_ctx_new_admin();
    autoerr struct err *e = NULL;
    json_auto_t *list = os_conductor_class_action(&c->conductor, ctx, "MigrationList",
                                                  "get_unconfirmed_by_dest_compute",
                                                  json_pack("[I, s]", (json_int_t)window, c->host),
                                                  NULL, NULL, &e);
    if (!list) {
        log_err(LOG_LEVEL_WARN, e, "unconfirmed resizes not read: next pass");
        return;
    }
    json_t *objs = ovo_list_objects(list);
    if (json_array_size(objs) > 0)
        log_info("found %zu unconfirmed migrations older than %lld seconds",
                 json_array_size(objs), (long long)window);
    size_t k;
    json_t *mig;
    json_array_foreach(objs, k, mig) {
        const char *uuid = ovo_get_str(mig, "instance_uuid");
        if (!ovo_is(mig, "Migration") || !uuid)
            continue;
        log_ctx_set_instance(uuid);
        log_info("automatically confirming migration %s", ovo_get_str(mig, "uuid"));
        autoerr struct err *e2 = NULL;
        bool gone = false;
        json_auto_t *inst = os_compute_instance_now(
            c, ctx, uuid, (const char *const[]){"metadata", "system_metadata", "flavor", NULL},
            &gone, &e2);
        if (!inst && gone) {
            autofree char *why = xasprintf("Instance %s not found", uuid);
            confirm_mig_error(c, ctx, mig, why);
        } else if (!inst) {
            log_err(LOG_LEVEL_WARN, e2, "instance not read: its resize confirmed later");
        } else if (confirm_wanted(c, ctx, mig, inst) && confirm_one(c, ctx, mig, inst, &e2) < 0) {
            log_err(LOG_LEVEL_INFO, e2, "error auto-confirming resize: will retry later");
        }
        log_ctx_set_instance(NULL);
    }
}
