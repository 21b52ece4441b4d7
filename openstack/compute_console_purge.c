/* Expired console tokens leave Nova's database: Zed's periodic
 * _cleanup_expired_console_auth_tokens, every [DEFAULT]
 * instance_delete_interval.  nova-compute is the only service that purges
 * them, so a cloud whose hosts all run sculpt would keep every token a
 * console URL ever made (nova-manage has no command for it). */
#include <jansson.h>

#include "common/err.h"
#include "common/log.h"
#include "openstack/compute_priv.h"
#include "openstack/conductor.h"
#include "openstack/oslo.h"

LOG_INIT("openstack.compute_console_purge");

int os_compute_console_tokens_purge(struct os_compute *c, struct err **err)
{
    json_auto_t *ctx = os_ctx_new_admin();
    json_t *r = os_conductor_class_action(&c->conductor, ctx, "ConsoleAuthToken",
                                          "clean_expired_console_auths", NULL, NULL, NULL, err);
    if (!r)
        return -1;
    json_decref(r);
    log_debug("expired console tokens removed");
    return 0;
}
