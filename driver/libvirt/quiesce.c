/* Guests' filesystems frozen and thawed through their QEMU guest agent
 * (virDomainFSFreeze / virDomainFSThaw: qemu-ga's guest-fsfreeze-freeze
 * and -thaw), as Zed's libvirt driver quiesces (driver.py _set_quiesced).
 *
 * A freeze sculpt makes for its own snapshot is recorded first, in the
 * running domain's live metadata, and the record is dropped once the
 * guest is thawed: a crash in between leaves a frozen guest whose
 * applications block on their next write, and the next start of the
 * backend (lv_quiesce_sweep) thaws the guests so recorded.  Live metadata
 * lives as long as the guest's run (a guest that stops is thawed by
 * definition) and survives libvirtd's restarts.  A freeze Nova asks for
 * (quiesce_instance) is not recorded: Nova thaws it itself
 * (unquiesce_instance) once its volume snapshots are done, which a
 * restart of sculpt must not cut short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/libvirt/driver_priv.h"

LOG_INIT("driver.libvirt.quiesce");

#define LV_QUIESCE_URI "https://sculpt.openstack.org/xmlns/quiesce/1"
#define LV_QUIESCE_PREFIX "sculptquiesce"

/* libvirt's error as Zed words it in its own ("[Error Code N] message"),
 * our code from libvirt's. */
static int lv_quiesce_error(struct err **err, const char *call)
{
    virErrorPtr e = virSaveLastError();
    autoerr struct err *mapped = NULL;
    lv_error_saved(&mapped, e, call, NULL);
    err_set(err, err_code_of(mapped), "[Error Code %d] %s", e ? e->code : 0,
            e && e->message ? e->message : "unknown libvirt error");
    virFreeError(e);
    virResetLastError();
    return -1;
}

int lv_fs_set(virDomainPtr dom, bool freeze, int *count, struct err **err)
{
    int n = freeze ? virDomainFSFreeze(dom, NULL, 0, 0) : virDomainFSThaw(dom, NULL, 0, 0);
    if (n < 0)
        return lv_quiesce_error(err, freeze ? "virDomainFSFreeze" : "virDomainFSThaw");
    if (count)
        *count = n;
    return 0;
}

static int lv_fs_op(struct drv_hv *hv, const char *uuid, bool freeze, int *count,
                    struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return err_wrap(err, "%s", freeze ? "freeze filesystems" : "thaw filesystems");
    int rc = lv_fs_set(dom, freeze, count, err);
    virDomainFree(dom);
    if (rc == 0)
        log_info("guest %s: %d filesystem(s) %s", uuid, *count, freeze ? "frozen" : "thawed");
    return rc;
}

int lv_fs_freeze(struct drv_hv *hv, const char *uuid, int *count, struct err **err)
{
    return lv_fs_op(hv, uuid, true, count, err);
}

int lv_fs_thaw(struct drv_hv *hv, const char *uuid, int *count, struct err **err)
{
    return lv_fs_op(hv, uuid, false, count, err);
}

int lv_quiesce_record(virDomainPtr dom, bool frozen, struct err **err)
{
    char xml[96];
    snprintf(xml, sizeof(xml), "<frozen by='snapshot' at_ms='%lld'/>", (long long)clock_wall_ms());
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, frozen ? xml : NULL,
                             frozen ? LV_QUIESCE_PREFIX : NULL, LV_QUIESCE_URI,
                             VIR_DOMAIN_AFFECT_LIVE) < 0)
        return lv_dom_error(err, "virDomainSetMetadata", dom);
    return 0;
}

bool lv_quiesce_recorded(virDomainPtr dom)
{
    char *m = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, LV_QUIESCE_URI,
                                   VIR_DOMAIN_AFFECT_LIVE);
    virResetLastError();
    bool found = m != NULL;
    free(m);
    return found;
}

int lv_quiesce_thaw(virDomainPtr dom, const char *uuid, struct err **err)
{
    int n = 0;
    if (lv_fs_set(dom, false, &n, err) < 0)
        return err_wrap(err, "thaw the filesystems of `%s`", uuid);
    autoerr struct err *e = NULL;
    if (lv_quiesce_record(dom, false, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "the freeze record of %s kept (the next start thaws it again)",
                uuid);
    return n;
}

static void quiesce_thaw_left(struct lv *lv, const char *uuid, virDomainPtr dom, void *arg)
{
    (void)lv;
    (void)arg;
    if (!lv_quiesce_recorded(dom))
        return;
    autoerr struct err *e = NULL;
    int thawed = lv_quiesce_thaw(dom, uuid, &e);
    if (thawed < 0)
        log_err(LOG_LEVEL_ERROR, e, "guest %s left frozen by an earlier run", uuid);
    else
        log_warn("guest %s frozen by an earlier run's snapshot: %d filesystem(s) thawed", uuid,
                 thawed);
}

void lv_quiesce_sweep(struct lv *lv)
{
    lv_each_active(lv, quiesce_thaw_left, NULL);
}
