/* A handed-over pool member comes to bear its instance's domain name.
 *
 * A member runs as `sculpt-pool-<8 hex>` and is handed over running:
 * libvirt renames only a domain that is shut off, and never changes a
 * defined domain's uuid.  So the first time the instance's guest is found
 * shut off -- a Nova stop, a start of a guest that stopped on its own, a
 * soft reboot, a restart of sculpt-compute -- it is renamed to Nova's
 * instance_name (`instance-0000002a`), as `virsh domstate
 * instance-0000002a` expects; its uuid stays the member's (the alias ties
 * the instance to it).
 *
 * No intent is needed: the guest is found by its uuid, never by its name,
 * and the rename comes before the rows.  A crash between the two leaves
 * rows that name the old domain; the next settle -- the recovery at start
 * runs one for every handed-over instance -- finds the guest renamed and
 * writes its name again.  Idempotent throughout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/hypervisor.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"

LOG_INIT("openstack.compute_domain_name");

void os_compute_domain_settle(struct os_compute *c, const struct os_inst *i)
{
    const char *uuid = i->inst->uuid;
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(c->hv, uuid, dom);
    if (strcasecmp(dom, uuid) == 0)
        return; /* not handed over: spawned under its own name */
    struct drv_hv_info info;
    autoerr struct err *e = NULL;
    if (drv_hv_get_info(c->hv, uuid, &info, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "domain of %s not looked up: its name is left as it is", uuid);
        return;
    }
    autofree char *want = os_compute_domain_name(i);
    bool off = info.state == DRV_POWER_SHUTDOWN || info.state == DRV_POWER_CRASHED;
    if (strcmp(info.name, want) != 0) {
        if (!off)
            return; /* running: renamed the next time it is off */
        if (drv_hv_rename(c->hv, uuid, want, &e) < 0) {
            /* the guest keeps working under its old name */
            log_err(LOG_LEVEL_WARN, e, "domain `%s` of %s keeps its name", info.name, uuid);
            return;
        }
        log_info("domain `%s` of %s is now `%s` (uuid %s)", info.name, uuid, want, dom);
    }
    /* the rows, also when a crash came between an earlier rename and them */
    if (c->db && db_instance_set_domain(c->db, uuid, want, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "domain name `%s` of %s not recorded", want, uuid);
}
