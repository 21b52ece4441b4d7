/* Reconciliation against a hypervisor backend: its guest list as the
 * hypervisor's view, its destroy and reshape as the fixes' hands. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/reconcile.h"
#include "driver/hypervisor.h"

struct db_hv_ctx {
    struct drv_hv *hv;
    const struct drv_hv_info *infos;
    size_t n;
};

/* Fixes name domains; the backend wants uuids. */
static const char *db_hv_uuid(const struct db_hv_ctx *c, const char *domain, struct err **err)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->infos[i].name, domain) == 0)
            return c->infos[i].uuid;
    err_set(err, ERR_NOT_FOUND, "no guest named `%s`", domain);
    return NULL;
}

static int db_hv_destroy(void *ctx, const char *domain, struct err **err)
{
    const struct db_hv_ctx *c = ctx;
    const char *uuid = db_hv_uuid(c, domain, err);
    if (!uuid)
        return -1;
    return drv_hv_destroy(c->hv, uuid, false, err);
}

static int db_hv_apply_shape(void *ctx, const char *domain, const struct drv_shape *shape,
                             struct err **err)
{
    const struct db_hv_ctx *c = ctx;
    const char *uuid = db_hv_uuid(c, domain, err);
    if (!uuid)
        return -1;
    return drv_hv_reshape(c->hv, uuid, shape, NULL, err);
}

struct db_fix_list *db_reconcile_hypervisor(struct db *db, struct drv_hv *hv,
                                            const struct db_nova_instance *nova, size_t nnova,
                                            const struct db_reconcile_opts *opts, int *failed,
                                            struct err **err)
{
    struct drv_hv_info *infos = NULL;
    size_t n = 0;
    if (drv_hv_list(hv, &infos, &n, err) < 0) {
        err_wrap(err, "list the hypervisor's guests");
        return NULL;
    }
    struct db_guest *guests = xcalloc(n + 1, sizeof(*guests));
    for (size_t i = 0; i < n; i++) {
        memcpy(guests[i].uuid, infos[i].uuid, sizeof(guests[i].uuid));
        guests[i].domain = infos[i].name;
        guests[i].power = infos[i].state;
        guests[i].has_shape = true;
        /* what the guest was asked to hold: a balloon still moving
         * towards a shrink's target is that shape, not a drift from it */
        drv_hv_info_asked(&infos[i], &guests[i].shape);
        guests[i].ours = infos[i].ours;
    }
    struct db_hv_ctx ctx = {hv, infos, n};
    struct db_reconcile_ops ops = {&ctx, db_hv_destroy, db_hv_apply_shape};
    struct db_fix_list *fixes = db_reconcile(db, guests, n, nova, nnova, opts, &ops, failed, err);
    free(guests);
    free(infos);
    return fixes;
}
