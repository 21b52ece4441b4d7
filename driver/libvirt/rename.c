/* Renaming a guest: a pool member handed over to an instance comes to
 * bear the instance's domain name (`instance-0000002a`) the first time it
 * is shut off.  libvirt renames only an inactive domain (QEMU refuses one
 * with a managed save image or snapshots too) and never changes a defined
 * domain's uuid: the guest keeps the member's uuid, which the handle's
 * alias ties to the instance (driver/hypervisor_handover.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/libvirt/driver_priv.h"

LOG_INIT("driver.libvirt.rename");

/* sculpt's metadata names the domain too (its owner's `name`): written in
 * the definition, the only one an inactive domain has. */
static int rename_record(struct lv *lv, virDomainPtr dom, const char *uuid, const char *name,
                         struct err **err)
{
    struct lv_meta meta = {0};
    if (!lv_entry_meta_get(lv, uuid, &meta))
        return 0;
    free(meta.spec.name);
    meta.spec.name = xstrdup(name);
    autofree char *xml = lv_meta_format_fragment(&meta);
    int rc = 0;
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, LV_META_PREFIX, LV_META_URI,
                             VIR_DOMAIN_AFFECT_CONFIG) < 0)
        rc = lv_error(err, "virDomainSetMetadata", name);
    else
        lv_entry_meta_put(lv, uuid, &meta);
    lv_meta_release(&meta);
    return rc;
}

/* Sculpt's record of the guest's name (a cached handle may keep the name
 * it was looked up with: the test driver's does), and, after a rename,
 * the handle dropped so that the next look-up is a fresh one. */
static void rename_entry(struct lv *lv, const char *uuid, const char *name, char *old,
                         size_t oldsz)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e && old)
        snprintf(old, oldsz, "%s", e->name);
    if (e && name) {
        snprintf(e->name, sizeof(e->name), "%s", name);
        if (e->dom)
            virDomainFree(e->dom);
        e->dom = NULL;
    }
    pthread_mutex_unlock(&lv->lock);
}

/* Another domain bears `name` (CONFLICT), or this one does already
 * (1), or none does (0). */
static int rename_taken(virDomainPtr dom, const char *uuid, const char *name, struct err **err)
{
    virDomainPtr other = virDomainLookupByName(virDomainGetConnect(dom), name);
    if (!other) {
        virResetLastError();
        return 0;
    }
    char ou[VIR_UUID_STRING_BUFLEN] = "";
    int got = virDomainGetUUIDString(other, ou);
    virDomainFree(other);
    if (got == 0 && strcasecmp(ou, uuid) == 0)
        return 1;
    return err_set(err, ERR_CONFLICT, "`%s` exists already", name);
}

int lv_rename(struct drv_hv *hv, const char *uuid, const char *name, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return err_wrap(err, "rename");
    int rc = -1;
    /* declared before the first goto: a jump must not skip a cleanup */
    autoerr struct err *me = NULL;
    char old[DRV_HV_NAME_MAX + 1] = "";
    rename_entry(lv, uuid, NULL, old, sizeof(old));
    if (!old[0])
        snprintf(old, sizeof(old), "%s", virDomainGetName(dom) ? virDomainGetName(dom) : "");
    int taken = strcmp(old, name) == 0 ? 1 : rename_taken(dom, uuid, name, err);
    if (taken != 0) {
        if (taken > 0)
            rename_entry(lv, uuid, name, NULL, 0);
        else
            err_wrap(err, "domain `%s` not renamed", old);
        rc = taken > 0 ? 0 : -1;
        goto cleanup;
    }
    int active = virDomainIsActive(dom);
    if (active < 0) {
        lv_error(err, "virDomainIsActive", old);
        goto cleanup;
    }
    if (active) {
        err_set(err, ERR_CONFLICT, "domain `%s` is active: libvirt renames only a domain that "
                "is shut off", old);
        goto cleanup;
    }
    if (virDomainHasManagedSaveImage(dom, 0) == 1) {
        err_set(err, ERR_CONFLICT, "domain `%s` has a managed save image: not renamed", old);
        goto cleanup;
    }
    if (virDomainRename(dom, name, 0) < 0) {
        lv_error(err, "virDomainRename", old);
        goto cleanup;
    }
    rename_entry(lv, uuid, name, NULL, 0);
    log_info("domain `%s` (%s) renamed `%s`", old, uuid, name);
    /* the rename is done: a metadata write that fails leaves the old name
     * there, which the next load corrects (lv_entry_load) */
    if (rename_record(lv, dom, uuid, name, &me) < 0)
        log_err(LOG_LEVEL_WARN, me, "metadata of `%s` still names `%s`", name, old);
    rc = 0;
cleanup:
    virDomainFree(dom);
    return rc;
}
