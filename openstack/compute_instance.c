/* What every instance operation shares: the request's instance, failure
 * handling as Nova's decorators do it, the resource tracker's view, and
 * the operations sculpt does not implement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/messaging.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/rpc_client.h"

LOG_INIT("openstack.compute_instance");

void os_fault_instance_not_found(struct os_fault *f, const char *uuid)
{
    os_fault_nova(f, "InstanceNotFound", 404);
    f->kwargs = json_pack("{s:s}", "instance_id", uuid);
}

struct os_inst *os_compute_req_inst(struct os_compute *c, struct os_rpc_req *req,
                                    struct err **err)
{
    return os_inst_new(json_object_get(req->msg->args, "instance"), req->msg->ctx,
                       &c->conductor, c->host, err);
}

json_t *os_compute_instance_now(struct os_compute *c, const json_t *ctx, const char *uuid,
                                const char *const *attrs, bool *gone, struct err **err)
{
    json_t *want = json_array();
    for (size_t k = 0; attrs && attrs[k]; k++)
        json_array_append_new(want, json_string(attrs[k]));
    autofree char *cls = NULL;
    json_t *prim = os_conductor_class_action(&c->conductor, ctx, "Instance", "get_by_uuid",
                                             json_pack("[s]", uuid),
                                             json_pack("{s:o}", "expected_attrs", want), &cls, err);
    if (gone)
        *gone = !prim && cls && strcmp(cls, "InstanceNotFound") == 0;
    return prim;
}

int os_compute_cast_self(struct os_compute *c, const json_t *ctx, json_t *prim, const char *task,
                         const char *method, json_t *args, struct err **err)
{
    json_auto_t *a = args;
    autoptr(os_inst) i = os_inst_new(prim, ctx, &c->conductor, c->host, err);
    if (!i)
        return -1;
    const char *const none[] = {OS_TASK_NONE, NULL};
    os_inst_set_str(i, "task_state", task);
    if (os_inst_save(i, none, NULL, err) < 0)
        return err_wrap(err, "%s not saved", task);
    json_object_set(a, "instance", i->prim);
    const struct os_rpc_target t = {.topic = OS_COMPUTE_TOPIC, .server = c->host, .version = "6.0"};
    if (os_rpc_cast(c->msg->client, &t, method, a, ctx, err) < 0)
        return err_wrap(err, "%s not sent", method);
    return 0;
}

int os_compute_instance_facts(struct os_compute *c, const json_t *ctx, const char *uuid,
                              json_t **inst, bool *guest_here, struct err **err)
{
    bool gone = false;
    *inst = os_compute_instance_now(c, ctx, uuid, NULL, &gone, err);
    if (!*inst && !gone)
        return err_wrap(err, "instance %s not read", uuid);
    err_clear(err);
    struct drv_hv_info info;
    *guest_here = drv_hv_get_info(c->hv, uuid, &info, NULL) == 0;
    return 0;
}

void os_compute_fail_op(struct os_compute *c, struct os_inst *i, const char *event,
                        const struct err *failure)
{
    (void)c;
    os_inst_fault(i, failure);
    /* reverts_task_state: leave no task in progress behind */
    os_inst_set_str(i, "task_state", NULL);
    autoerr struct err *e = NULL;
    if (os_inst_save(i, NULL, NULL, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "task state not reverted");
    if (event)
        os_inst_event_finish(i, event, failure);
}

void os_compute_track_inst(struct os_compute *c, const struct os_inst *i)
{
    struct os_tracked t;
    memset(&t, 0, sizeof(t));
    snprintf(t.uuid, sizeof(t.uuid), "%s", i->inst->uuid);
    snprintf(t.project_id, sizeof(t.project_id), "%s",
             i->inst->project_id ? i->inst->project_id : "");
    t.vcpus = i->inst->flavor.vcpus;
    t.memory_mb = i->inst->flavor.memory_mb;
    t.disk_gb = i->inst->flavor.root_gb + i->inst->flavor.ephemeral_gb;
    const char *vm = os_inst_vm_state(i);
    const char *task = os_inst_task_state(i);
    snprintf(t.vm_state, sizeof(t.vm_state), "%s", vm ? vm : "");
    snprintf(t.task_state, sizeof(t.task_state), "%s", task ? task : "");
    os_compute_track(c, &t);
}

int os_compute_inject_network_info(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    autoptr(os_inst) i = os_compute_req_inst(c, req, err);
    if (!i)
        return -1;
    log_info("inject_network_info for %s: nothing to inject (no Neutron ports; Zed's libvirt "
             "driver injects nothing either)", os_inst_uuid(i));
    return 0;
}

int os_compute_unsupported(struct os_rpc_req *req, json_t **result, struct err **err)
{
    (void)result;
    struct os_compute *c = req->opaque;
    const char *method = req->msg->method;
    err_set(err, ERR_UNSUPPORTED, "sculpt-compute does not implement `%s`", method);

    json_t *migration = json_object_get(req->msg->args, "migration");
    if (ovo_is(migration, "Migration")) {
        /* errors_out_migration */
        autoerr struct err *e = NULL;
        json_auto_t *m = json_deep_copy(migration);
        ovo_clear_changes(m);
        ovo_set_str(m, "status", "error");
        json_t *r = os_conductor_object_action(&c->conductor, req->msg->ctx, m, "save", NULL,
                                               NULL, NULL, &e);
        if (!r)
            log_err(LOG_LEVEL_WARN, e, "migration not set to error");
        json_decref(r);
    }
    json_t *prim = json_object_get(req->msg->args, "instance");
    if (!prim)
        return -1;
    autoerr struct err *e = NULL;
    autoptr(os_inst) i = os_compute_req_inst(c, req, &e);
    if (!i) {
        log_err(LOG_LEVEL_WARN, e, "cannot record the failure of `%s` on its instance", method);
        return -1;
    }
    char event[96];
    snprintf(event, sizeof(event), "compute_%s", method);
    os_inst_event_start(i, event);
    os_inst_fault(i, *err);
    if (os_inst_task_state(i)) {
        os_inst_set_str(i, "task_state", NULL);
        if (os_inst_save(i, NULL, NULL, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "task state not reverted");
    }
    os_inst_event_finish(i, event, *err);
    return -1;
}

/* How long a clean shutdown may take: the image's os_shutdown_timeout
 * (kept by Nova in system_metadata), else [DEFAULT] shutdown_timeout --
 * nova/compute/manager.py _get_power_off_values. */
int os_compute_shutdown_timeout(const struct os_compute *c, const struct os_inst *i)
{
    json_t *sm = ovo_get(i->prim, "system_metadata");
    const char *v = json_string_value(json_object_get(sm, "image_os_shutdown_timeout"));
    if (v && *v) {
        char *end;
        long t = strtol(v, &end, 10);
        if (*end == '\0' && t >= 0 && t <= 86400)
            return (int)t;
    }
    return (int)c->cfg->shutdown_timeout;
}

int os_compute_hv_retry(struct os_compute *c, int rc, struct err **err)
{
    if (rc == 0 || err_code_of(*err) != ERR_UNAVAILABLE)
        return rc == 0 ? 0 : 1;
    /* libvirtd went away (a restart): the backend reconnects on its own,
     * wait for it as long as a request reasonably may. */
    log_err(LOG_LEVEL_WARN, *err, "hypervisor unavailable: waiting for it to come back");
    for (int i = 0; i < 60; i++) {
        struct drv_hv_host h;
        if (drv_hv_host_info(c->hv, &h, NULL) == 0) {
            err_clear(err);
            return -1;
        }
        clock_sleep_ms(500);
    }
    return 1;
}
