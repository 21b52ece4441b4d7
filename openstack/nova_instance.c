#include "openstack/nova_instance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "openstack/conductor.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.nova_instance");

const char OS_TASK_NONE[] = "(None)";

static char *ni_dup(const json_t *prim, const char *field)
{
    const char *s = ovo_get_str(prim, field);
    return s ? xstrdup(s) : NULL;
}

/* A dict of strings into a kv array. */
static int ni_kv(const json_t *dict, struct drv_kv **out, size_t *n, const char *what,
                 struct err **err)
{
    *out = NULL;
    *n = 0;
    if (!dict || json_is_null(dict))
        return 0;
    if (!json_is_object(dict))
        return err_set(err, ERR_INVALID, "`%s` is not a dict", what);
    *out = xcalloc(json_object_size(dict) + 1, sizeof(**out));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)dict, k, v) {
        const char *s = json_string_value(v);
        if (!s && !json_is_null(v))
            return err_set(err, ERR_INVALID, "`%s.%s` is not a string", what, k);
        (*out)[*n].key = xstrdup(k);
        (*out)[*n].value = xstrdup(s ? s : "");
        (*n)++;
    }
    return 0;
}

int os_flavor_decode(const json_t *prim, struct drv_flavor *f, struct err **err)
{
    int64_t v;
    memset(f, 0, sizeof(*f));
    if (!ovo_is(prim, "Flavor"))
        return err_set(err, ERR_INVALID, "instance without a Flavor");
    f->name = ni_dup(prim, "name");
    if (!ovo_get_int(prim, "vcpus", &v) || v < 1 || v > 4096)
        return err_set(err, ERR_INVALID, "flavor `%s`: bad vcpus", f->name ? f->name : "?");
    f->vcpus = (int32_t)v;
    if (!ovo_get_int(prim, "memory_mb", &v) || v < 1 || v > (1LL << 40))
        return err_set(err, ERR_INVALID, "flavor `%s`: bad memory_mb", f->name ? f->name : "?");
    f->memory_mb = v;
    f->root_gb = ovo_get_int(prim, "root_gb", &v) && v >= 0 ? v : 0;
    f->ephemeral_gb = ovo_get_int(prim, "ephemeral_gb", &v) && v >= 0 ? v : 0;
    f->swap_mb = ovo_get_int(prim, "swap", &v) && v >= 0 ? v : 0;
    return ni_kv(ovo_get(prim, "extra_specs"), &f->extra_specs, &f->nextra_specs,
                 "flavor.extra_specs", err);
}

struct drv_instance *os_instance_decode(const json_t *prim, struct err **err)
{
    if (ovo_validate(prim, "Instance", err) < 0)
        return NULL;
    autoptr(drv_instance) inst = xzalloc(sizeof(*inst));
    const char *uuid = ovo_get_str(prim, "uuid");
    if (!uuid || !uuid_is_valid(uuid)) {
        err_set(err, ERR_INVALID, "instance without a valid uuid");
        return NULL;
    }
    snprintf(inst->uuid, sizeof(inst->uuid), "%s", uuid);
    for (char *p = inst->uuid; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    inst->name = ni_dup(prim, "display_name");
    inst->project_id = ni_dup(prim, "project_id");
    inst->user_id = ni_dup(prim, "user_id");
    inst->image_ref = ni_dup(prim, "image_ref");
    inst->vm_state = ni_dup(prim, "vm_state");
    inst->task_state = ni_dup(prim, "task_state");
    int64_t v;
    inst->power_state = ovo_get_int(prim, "power_state", &v) ? (enum drv_power_state)v
                                                             : DRV_POWER_NOSTATE;
    int64_t created = 0;
    if (ovo_datetime_parse(ovo_get_str(prim, "created_at"), &created) == 0)
        inst->created_ms = created * 1000;
    json_t *flavor = ovo_get(prim, "flavor");
    if (flavor && os_flavor_decode(flavor, &inst->flavor, err) < 0) {
        err_wrap(err, "instance %s", inst->uuid);
        return NULL;
    }
    if (ni_kv(ovo_get(prim, "metadata"), &inst->metadata, &inst->nmetadata, "metadata", err) < 0)
        return NULL;
    return steal_pointer(&inst);
}

struct os_inst *os_inst_new(const json_t *prim, const json_t *ctx, struct os_conductor *cond,
                            const char *host, struct err **err)
{
    if (!prim) {
        err_set(err, ERR_INVALID, "request without an `instance` argument");
        return NULL;
    }
    struct drv_instance *inst = os_instance_decode(prim, err);
    if (!inst)
        return NULL;
    struct os_inst *i = xzalloc(sizeof(*i));
    i->prim = json_deep_copy(prim);
    /* Save only what we change: what the caller sent as dirty was saved
     * on its side already. */
    ovo_clear_changes(i->prim);
    i->inst = inst;
    i->ctx = ctx;
    i->cond = cond;
    i->host = host;
    return i;
}

void os_inst_free(struct os_inst *i)
{
    if (!i)
        return;
    json_decref(i->prim);
    drv_instance_free(i->inst);
    free(i);
}

const char *os_inst_uuid(const struct os_inst *i)
{
    return i->inst->uuid;
}

const char *os_inst_vm_state(const struct os_inst *i)
{
    return ovo_get_str(i->prim, "vm_state");
}

const char *os_inst_task_state(const struct os_inst *i)
{
    return ovo_get_str(i->prim, "task_state");
}

void os_inst_set_str(struct os_inst *i, const char *field, const char *v)
{
    ovo_set_str(i->prim, field, v);
}

void os_inst_set_int(struct os_inst *i, const char *field, int64_t v)
{
    ovo_set_int(i->prim, field, v);
}

void os_inst_set_now(struct os_inst *i, const char *field)
{
    char buf[32];
    ovo_set_str(i->prim, field, ovo_datetime_format(time(NULL), buf, sizeof(buf)));
}

int os_inst_save(struct os_inst *i, const char *const *expected, bool *deleting,
                 struct err **err)
{
    json_t *kwargs = json_object();
    if (expected) {
        json_t *list = json_array();
        for (const char *const *e = expected; *e; e++)
            json_array_append_new(list, *e == OS_TASK_NONE ? json_null() : json_string(*e));
        json_object_set_new(kwargs, "expected_task_state", list);
    }
    autofree char *cls = NULL;
    json_t *r = os_conductor_object_action(i->cond, i->ctx, i->prim, "save", NULL, kwargs, &cls,
                                           err);
    if (!r) {
        if (deleting)
            *deleting = cls && strcmp(cls, "UnexpectedDeletingTaskStateError") == 0;
        return -1;
    }
    json_decref(r);
    /* keep the decoded copy in step with what was saved */
    free(i->inst->vm_state);
    i->inst->vm_state = ni_dup(i->prim, "vm_state");
    free(i->inst->task_state);
    i->inst->task_state = ni_dup(i->prim, "task_state");
    int64_t p;
    if (ovo_get_int(i->prim, "power_state", &p))
        i->inst->power_state = (enum drv_power_state)p;
    return 0;
}

void os_inst_event_start(struct os_inst *i, const char *name)
{
    autoerr struct err *e = NULL;
    json_t *r = os_conductor_class_action(i->cond, i->ctx, "InstanceActionEvent", "event_start",
                                          json_pack("[s, s]", i->inst->uuid, name),
                                          json_pack("{s:b, s:s}", "want_result", 0, "host",
                                                    i->host),
                                          NULL, &e);
    if (!r)
        log_err(LOG_LEVEL_WARN, e, "instance action event `%s` not started", name);
    json_decref(r);
}

void os_inst_event_finish(struct os_inst *i, const char *name, const struct err *failure)
{
    autoerr struct err *e = NULL;
    json_t *kw = json_pack("{s:o, s:o, s:b}", "exc_val",
                           failure ? json_string(failure->msg) : json_null(), "exc_tb",
                           failure ? json_sprintf("sculpt-compute: %s\n", failure->msg)
                                   : json_null(),
                           "want_result", 0);
    json_t *r = os_conductor_class_action(i->cond, i->ctx, "InstanceActionEvent",
                                          "event_finish_with_failure",
                                          json_pack("[s, s]", i->inst->uuid, name), kw, NULL,
                                          &e);
    if (!r)
        log_err(LOG_LEVEL_WARN, e, "instance action event `%s` not finished", name);
    json_decref(r);
}

int os_fault_code_of(const struct err *failure)
{
    if (failure && failure->code == ERR_NOT_FOUND)
        return 404;
    if (failure && failure->code == ERR_INVALID)
        return 400;
    return 500;
}

void os_inst_fault(struct os_inst *i, const struct err *failure)
{
    os_inst_fault_as(i, failure && failure->msg ? failure->msg : "unknown failure",
                     os_fault_code_of(failure));
}

void os_inst_fault_as(struct os_inst *i, const char *msg, int code)
{
    autoerr struct err *e = NULL;
    json_auto_t *fault = ovo_new("InstanceFault");
    ovo_set_str(fault, "instance_uuid", i->inst->uuid);
    ovo_set_int(fault, "code", code);
    /* The message is what `server show` displays: keep it short, the
     * whole text goes to details. */
    char shortmsg[256];
    snprintf(shortmsg, sizeof(shortmsg), "%s", msg);
    ovo_set_str(fault, "message", shortmsg);
    ovo_set_str(fault, "details", msg);
    ovo_set_str(fault, "host", i->host);
    json_t *r = os_conductor_object_action(i->cond, i->ctx, fault, "create", NULL, NULL, NULL, &e);
    if (!r)
        log_err(LOG_LEVEL_WARN, e, "instance fault not recorded");
    json_decref(r);
}

int os_inst_destroy(struct os_inst *i, struct err **err)
{
    json_t *r = os_conductor_object_action(i->cond, i->ctx, i->prim, "destroy", NULL, NULL, NULL,
                                           err);
    if (!r)
        return -1;
    json_decref(r);
    return 0;
}
