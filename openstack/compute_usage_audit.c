/* [DEFAULT] instance_usage_audit: Zed's _instance_usage_audit periodic.
 * Once per audit period a host sends compute.instance.exists for each
 * instance active on it during the last completed period (billing's
 * record of who held what) and records the run in Nova's task log, which
 * nova-api's os-instance_usage_audit_log reports per host.  The task log
 * is what makes it once: a restart, or a second pass in the same period,
 * finds the period there and sends nothing. */
#include <stdio.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/audit_period.h"
#include "openstack/compute_priv.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_usage_audit");

#define AUDIT_TASK "instance_usage_audit"

void os_compute_usage_audit(struct os_compute *c)
{
    if (!c->cfg->instance_usage_audit)
        return;
    char unit[8];
    int offset;
    if (cfg_audit_period(c->cfg, unit, &offset) < 0)
        return; /* refused at start */
    int64_t begin, end;
    os_audit_period_last(unit, offset, time(NULL), &begin, &end);
    if (c->audit_done_end == end)
        return; /* this period is in the task log: no need to ask */
    char b_iso[32], e_iso[32];
    ovo_datetime_format(begin, b_iso, sizeof(b_iso));
    ovo_datetime_format(end, e_iso, sizeof(e_iso));
    json_auto_t *ctx = os_ctx_new_admin();
    autoerr struct err *e = NULL;
    json_auto_t *done = os_conductor_class_action(
        &c->conductor, ctx, "TaskLog", "get",
        json_pack("[s, s, s, s]", AUDIT_TASK, b_iso, e_iso, c->host), NULL, NULL, &e);
    if (!done && e) {
        log_err(LOG_LEVEL_WARN, e, "task log not read: the usage audit waits for the next pass");
        return;
    }
    if (ovo_is(done, "TaskLog")) {
        c->audit_done_end = end;
        return;
    }
    json_auto_t *list = os_conductor_class_action(
        &c->conductor, ctx, "InstanceList", "_get_active_by_window_joined",
        json_pack("[s, s, n, s, [s, s, s, s]]", b_iso, e_iso, c->host, "system_metadata",
                  "info_cache", "metadata", "flavor"),
        json_pack("{s:b, s:n, s:n}", "use_slave", 1, "limit", "marker"), NULL, &e);
    if (!list) {
        log_err(LOG_LEVEL_WARN, e, "instances of the audit period not read: next pass");
        return;
    }
    json_t *objs = ovo_list_objects(list);
    size_t n = json_array_size(objs);
    log_info("Running instance usage audit for host %s from %s to %s. %zu instances.", c->host,
             b_iso, e_iso, n);
    int64_t t0 = clock_mono_ms();
    json_auto_t *task = ovo_new("TaskLog");
    ovo_set_str(task, "task_name", AUDIT_TASK);
    ovo_set_str(task, "period_beginning", b_iso);
    ovo_set_str(task, "period_ending", e_iso);
    ovo_set_str(task, "host", c->host);
    ovo_set(task, "task_items", json_integer((json_int_t)n));
    ovo_set_str(task, "message", "Instance usage audit started...");
    json_t *r = os_conductor_object_action(&c->conductor, ctx, task, "begin_task", NULL, NULL,
                                           NULL, &e);
    if (!r) {
        /* another run of this host began it (Nova: TaskLogExists) */
        log_err(LOG_LEVEL_WARN, e, "usage audit of %s not begun", b_iso);
        return;
    }
    json_decref(r);
    char b_str[32], e_str[32];
    os_audit_time_str(begin, b_str, sizeof(b_str));
    os_audit_time_str(end, e_str, sizeof(e_str));
    size_t k;
    json_t *prim;
    json_array_foreach(objs, k, prim) {
        log_ctx_set_instance(ovo_get_str(prim, "uuid"));
        os_compute_notify_exists_prim(c, ctx, prim, NULL, NULL, b_str, e_str);
        log_ctx_set_instance(NULL);
    }
    autofree char *msg =
        xasprintf("Instance usage audit ran for host %s, %zu instances in %.6f seconds.", c->host,
                  n, (double)(clock_mono_ms() - t0) / 1000.0);
    ovo_set(task, "errors", json_integer(0));
    ovo_set_str(task, "message", msg);
    r = os_conductor_object_action(&c->conductor, ctx, task, "end_task", NULL, NULL, NULL, &e);
    if (!r) {
        log_err(LOG_LEVEL_WARN, e, "usage audit of %s not ended in the task log", b_iso);
        return;
    }
    json_decref(r);
    c->audit_done_end = end;
    log_info("%s", msg);
}
