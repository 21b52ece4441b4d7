/* Pre-sculpted guests at the hypervisor boundary: the hand-over of a pool
 * member to an instance, and the aliases that name a handed-over guest by
 * its instance's uuid (hypervisor.h).
 *
 * libvirt cannot change a domain's uuid, nor rename a running one, so the
 * guest keeps both while it runs (drv_hv_rename() gives it the instance's
 * name once it is off; the uuid stays); the handle keeps, per handed-over
 * guest, the instance uuid callers use and the domain uuid the backend
 * knows.  Every checked entry point translates on the way in (instance
 * -> domain) and on the way out (domain -> instance: info, lists,
 * samples, specs, events). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "driver/hypervisor_priv.h"

LOG_INIT("driver.hypervisor_handover");

struct drv_hv_alias_pair {
    char inst[DRV_UUID_LEN + 1];
    char dom[DRV_UUID_LEN + 1];
};

struct drv_hv_aliases {
    pthread_mutex_t lock;
    struct drv_hv_alias_pair *v;
    size_t n, cap;
};

/* The handle's table, made on first use.  Handles are made and closed on
 * one thread; the first alias is set before concurrent use in practice,
 * and the compare-and-swap keeps a race harmless anyway. */
static struct drv_hv_aliases *aliases(struct drv_hv *hv, bool create)
{
    struct drv_hv_aliases *a = __atomic_load_n(&hv->aliases, __ATOMIC_ACQUIRE);
    if (a || !create)
        return a;
    struct drv_hv_aliases *fresh = xzalloc(sizeof(*fresh));
    pthread_mutex_init(&fresh->lock, NULL);
    struct drv_hv_aliases *expected = NULL;
    if (__atomic_compare_exchange_n(&hv->aliases, &expected, fresh, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return fresh;
    pthread_mutex_destroy(&fresh->lock);
    free(fresh);
    return expected;
}

void drv_hv_aliases_free(struct drv_hv *hv)
{
    struct drv_hv_aliases *a = hv->aliases;
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a->v);
    free(a);
    hv->aliases = NULL;
}

void drv_hv_alias(struct drv_hv *hv, const char *instance_uuid, const char *domain_uuid)
{
    if (!uuid_is_valid(instance_uuid) || !uuid_is_valid(domain_uuid))
        return;
    struct drv_hv_aliases *a = aliases(hv, true);
    pthread_mutex_lock(&a->lock);
    size_t i;
    for (i = 0; i < a->n; i++)
        if (strcasecmp(a->v[i].inst, instance_uuid) == 0)
            break;
    if (i == a->n) {
        if (a->n == a->cap) {
            a->cap = a->cap ? 2 * a->cap : 16;
            a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
        }
        a->n++;
    }
    snprintf(a->v[i].inst, sizeof(a->v[i].inst), "%s", instance_uuid);
    snprintf(a->v[i].dom, sizeof(a->v[i].dom), "%s", domain_uuid);
    pthread_mutex_unlock(&a->lock);
}

void drv_hv_alias_drop(struct drv_hv *hv, const char *instance_uuid)
{
    struct drv_hv_aliases *a = aliases(hv, false);
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n; i++)
        if (strcasecmp(a->v[i].inst, instance_uuid) == 0) {
            a->v[i] = a->v[--a->n];
            break;
        }
    pthread_mutex_unlock(&a->lock);
}

void drv_hv_domain_uuid(struct drv_hv *hv, const char *uuid, char out[DRV_UUID_LEN + 1])
{
    struct drv_hv_aliases *a = aliases(hv, false);
    const char *found = uuid;
    if (a) {
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < a->n; i++)
            if (strcasecmp(a->v[i].inst, uuid) == 0) {
                snprintf(out, DRV_UUID_LEN + 1, "%s", a->v[i].dom);
                pthread_mutex_unlock(&a->lock);
                return;
            }
        pthread_mutex_unlock(&a->lock);
    }
    snprintf(out, DRV_UUID_LEN + 1, "%s", found);
}

void drv_hv_instance_uuid(struct drv_hv *hv, char uuid[DRV_UUID_LEN + 1])
{
    struct drv_hv_aliases *a = aliases(hv, false);
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n; i++)
        if (strcasecmp(a->v[i].dom, uuid) == 0) {
            memcpy(uuid, a->v[i].inst, DRV_UUID_LEN + 1);
            break;
        }
    pthread_mutex_unlock(&a->lock);
}

int drv_hv_handover(struct drv_hv *hv, const char *member_uuid,
                    const struct drv_hv_guest_spec *inst, struct err **err)
{
    if (!uuid_is_valid(member_uuid))
        return err_set(err, ERR_INVALID, "bad member uuid `%s`", member_uuid);
    if (!uuid_is_valid(inst->uuid))
        return err_set(err, ERR_INVALID, "bad instance uuid `%s`", inst->uuid);
    char taken[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(hv, inst->uuid, taken);
    if (strcasecmp(taken, inst->uuid) != 0)
        return err_set(err, ERR_CONFLICT, "instance %s already has guest %s", inst->uuid, taken);
    struct drv_hv_info info;
    if (hv->ops->get_info(hv, member_uuid, &info, err) < 0)
        return err_wrap(err, "hand-over of member %s", member_uuid);
    if (info.state != DRV_POWER_PAUSED && info.state != DRV_POWER_RUNNING)
        return err_set(err, ERR_CONFLICT,
                       "member %s is %s: only a paused or running member "
                       "can be handed over",
                       member_uuid, drv_power_state_name(info.state));
    /* the instance's user data is in its drive before its guest runs a
     * single instruction as the instance */
    if (inst->config_drive) {
        if (drv_hv_config_drive_validate(inst->config_drive, err) < 0)
            return err_wrap(err, "hand-over of member %s", member_uuid);
        if (!hv->ops->insert_config_drive)
            return err_set(err, ERR_UNSUPPORTED,
                           "member %s: backend `%s` cannot insert a config drive live",
                           member_uuid, hv->ops->name);
        if (hv->ops->insert_config_drive(hv, member_uuid, inst->config_drive, err) < 0)
            return err_wrap(err, "hand-over of member %s", member_uuid);
    }
    /* from here on the guest answers to the instance's uuid, events too */
    drv_hv_alias(hv, inst->uuid, member_uuid);
    if (info.state == DRV_POWER_PAUSED && hv->ops->unpause(hv, member_uuid, err) < 0)
        goto undo;
    log_info("member %s (`%s`) is now instance %s", member_uuid, info.name, inst->uuid);
    return 0;
undo:
    drv_hv_alias_drop(hv, inst->uuid);
    return err_wrap(err, "hand-over of member %s to %s", member_uuid, inst->uuid);
}

int drv_hv_set_identity(struct drv_hv *hv, const char *uuid, const struct drv_hv_guest_spec *inst,
                        struct err **err)
{
    if (!hv->ops->set_identity)
        return 0;
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(hv, uuid, dom);
    if (hv->ops->set_identity(hv, dom, inst, err) < 0)
        return err_wrap(err, "identity of %s", uuid);
    return 0;
}

/* A name libvirt, virsh and a shell take as it is. */
static bool rename_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > DRV_HV_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '-' || ch == '_' || ch == '.';
        if (!ok)
            return false;
    }
    return true;
}

int drv_hv_rename(struct drv_hv *hv, const char *uuid, const char *name, struct err **err)
{
    if (!uuid_is_valid(uuid))
        return err_set(err, ERR_INVALID, "bad uuid `%s`", uuid);
    if (!name || !rename_name_ok(name))
        return err_set(err, ERR_INVALID, "bad domain name `%s`", name ? name : "");
    if (!hv->ops->rename)
        return err_set(err, ERR_UNSUPPORTED, "backend `%s` cannot rename a guest", hv->ops->name);
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(hv, uuid, dom);
    if (hv->ops->rename(hv, dom, name, err) < 0)
        return err_wrap(err, "rename of %s to `%s`", uuid, name);
    return 0;
}
