#include "driver/instance.h"

#include <string.h>

const char *drv_kv_get(const struct drv_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

void drv_kv_release(struct drv_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

struct drv_kv *drv_kv_dup(const struct drv_kv *kv, size_t n)
{
    if (n == 0)
        return NULL;
    struct drv_kv *c = xcalloc(n, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i].key = xstrdup(kv[i].key);
        c[i].value = xstrdup(kv[i].value);
    }
    return c;
}

void drv_flavor_release(struct drv_flavor *f)
{
    free(f->name);
    drv_kv_release(f->extra_specs, f->nextra_specs);
    f->name = NULL;
    f->extra_specs = NULL;
    f->nextra_specs = 0;
}

void drv_instance_free(struct drv_instance *inst)
{
    if (!inst)
        return;
    free(inst->name);
    free(inst->project_id);
    free(inst->user_id);
    free(inst->image_ref);
    drv_flavor_release(&inst->flavor);
    drv_kv_release(inst->metadata, inst->nmetadata);
    free(inst->vm_state);
    free(inst->task_state);
    free(inst->domain);
    free(inst);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct drv_instance *drv_instance_dup(const struct drv_instance *inst)
{
    struct drv_instance *c = xmalloc(sizeof(*c));
    *c = *inst;
    c->name = dup_or_null(inst->name);
    c->project_id = dup_or_null(inst->project_id);
    c->user_id = dup_or_null(inst->user_id);
    c->image_ref = dup_or_null(inst->image_ref);
    c->flavor.name = dup_or_null(inst->flavor.name);
    c->flavor.extra_specs = drv_kv_dup(inst->flavor.extra_specs, inst->flavor.nextra_specs);
    c->metadata = drv_kv_dup(inst->metadata, inst->nmetadata);
    c->vm_state = dup_or_null(inst->vm_state);
    c->task_state = dup_or_null(inst->task_state);
    c->domain = dup_or_null(inst->domain);
    return c;
}
