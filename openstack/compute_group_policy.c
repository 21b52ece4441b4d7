/* The late server group check, as Zed's _validate_instance_group_policy
 * (nova/compute/manager.py): the scheduler enforces a group's affinity or
 * anti-affinity, but two requests scheduled at once, or a host forced by
 * the API (`--availability-zone nova:HOST`, evacuate --force), can still
 * put a server where its group's policy forbids.  The host that would take
 * it asks Nova about the group once it has claimed the server (a build) or
 * before it claims it (a resize, an evacuation) and refuses it.
 *
 * Nova's own decision, from its records:
 *   anti-affinity  the group's members on this host (Nova's instances with
 *                  host = this host, and those migrating here), this one
 *                  left out, must be fewer than the rule max_server_per_host
 *                  (1 without the rule)
 *   affinity       the hosts of the group's other members, when there are
 *                  any, must include this host
 * Checks of one group on this host take turns (Zed's lock named after the
 * group): the members counted are the ones whose claims came first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/keylock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "openstack/compute_group_policy.h"
#include "openstack/compute_priv.h"
#include "openstack/conductor.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.compute_group_policy");

const char *os_group_hint(const json_t *args)
{
    /* Zed's _get_scheduler_hints: the request spec's hints when it has
     * any (a dict of lists), else the legacy filter properties' */
    const json_t *hints = ovo_get(json_object_get(args, "request_spec"), "scheduler_hints");
    if (!json_is_object(hints) || json_object_size(hints) == 0)
        hints = json_object_get(json_object_get(args, "filter_properties"), "scheduler_hints");
    const json_t *group = json_object_get(hints, "group");
    if (json_is_array(group))
        group = json_array_get(group, 0);
    const char *s = json_string_value(group);
    return s && *s ? s : NULL;
}

long os_group_max_per_host(const json_t *group)
{
    /* InstanceGroup.rules: _rules is a dict of strings; the API accepts
     * only a positive integer for max_server_per_host */
    const char *v = json_string_value(json_object_get(ovo_get(group, "_rules"),
                                                      "max_server_per_host"));
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    return v && end != v && *end == '\0' && n > 0 ? n : 1;
}

static bool str_in(const json_t *list, const char *s)
{
    size_t k;
    json_t *v;
    json_array_foreach(list, k, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

size_t os_group_members_here(const json_t *members, const json_t *here, const char *uuid)
{
    size_t n = 0, k;
    json_t *m;
    json_array_foreach(members, k, m) {
        const char *s = json_string_value(m);
        if (s && strcmp(s, uuid) != 0 && str_in(here, s))
            n++;
    }
    return n;
}

bool os_group_affinity_ok(const json_t *hosts, const char *host)
{
    return json_array_size(hosts) == 0 || str_in(hosts, host);
}

/* A remotable classmethod of InstanceGroup; *absent when Nova has no
 * such group (InstanceGroupNotFound). */
static json_t *group_get(struct os_compute *c, const json_t *ctx, const char *method,
                         const char *arg, bool *absent, struct err **err)
{
    autofree char *cls = NULL;
    json_t *g = os_conductor_class_action(&c->conductor, ctx, "InstanceGroup", method,
                                          json_pack("[s]", arg), NULL, &cls, err);
    *absent = !g && cls && strcmp(cls, "InstanceGroupNotFound") == 0;
    if (!g && !*absent)
        err_wrap(err, "server group %s not read", arg);
    return g;
}

/* The uuids of the instances Nova places here or is moving here. */
static json_t *group_uuids_here(struct os_compute *c, const json_t *ctx, struct err **err)
{
    json_t *here = os_conductor_class_action(&c->conductor, ctx, "InstanceList",
                                             "get_uuids_by_host", json_pack("[s]", c->host),
                                             NULL, NULL, err);
    if (!here) {
        err_wrap(err, "instances on this host not read");
        return NULL;
    }
    if (!json_is_array(here)) {
        json_decref(here);
        err_set(err, ERR_INVALID, "get_uuids_by_host answered with no list");
        return NULL;
    }
    json_auto_t *migs = os_conductor_class_action(
        &c->conductor, ctx, "MigrationList", "get_in_progress_by_host_and_node",
        json_pack("[s, s]", c->host, c->node), NULL, NULL, err);
    if (!migs) {
        json_decref(here);
        err_wrap(err, "migrations to this host not read");
        return NULL;
    }
    size_t k;
    json_t *m;
    json_array_foreach(ovo_list_objects(migs), k, m) {
        const char *uuid = ovo_get_str(m, "instance_uuid");
        if (uuid && !str_in(here, uuid))
            json_array_append_new(here, json_string(uuid));
    }
    return here;
}

/* _do_validation, under the group's lock. */
static int group_validate(struct os_compute *c, const json_t *ctx, const char *uuid,
                          json_t *group, struct err **err)
{
    const char *policy = ovo_get_str(group, "policy");
    const char *gid = ovo_get_str(group, "uuid");
    if (policy && strcmp(policy, "anti-affinity") == 0) {
        json_auto_t *here = group_uuids_here(c, ctx, err);
        if (!here)
            return -1;
        /* the members again, now that claims before ours are counted */
        bool absent = false;
        json_auto_t *now = group_get(c, ctx, "get_by_uuid", gid, &absent, err);
        if (!now && !absent)
            return -1;
        if (!now) {
            err_clear(err); /* deleted meanwhile: no policy left to break */
            return 0;
        }
        long max = os_group_max_per_host(now);
        size_t n = os_group_members_here(ovo_get(now, "members"), here, uuid);
        if ((long)n < max)
            return 0;
        log_warn("server group %s (anti-affinity, at most %ld a host) has %zu other member(s) "
                 "on this host", gid, max, n);
        err_set(err, ERR_CONFLICT, "Anti-affinity instance group policy was violated");
        return 1;
    }
    if (policy && strcmp(policy, "affinity") == 0) {
        json_auto_t *hosts = os_conductor_object_action(
            &c->conductor, ctx, group, "get_hosts", NULL,
            json_pack("{s:[s]}", "exclude", uuid), NULL, err);
        if (!hosts)
            return err_wrap(err, "hosts of server group %s not read", gid);
        if (os_group_affinity_ok(hosts, c->host))
            return 0;
        log_warn("server group %s (affinity) has its members on other hosts", gid);
        err_set(err, ERR_CONFLICT, "Affinity instance group policy was violated");
        return 1;
    }
    return 0;
}

int os_compute_group_policy_check(struct os_compute *c, const json_t *ctx, const char *uuid,
                                  const json_t *args, bool by_instance, struct err **err)
{
    if (c->cfg->disable_group_policy_check_upcall)
        return 0;
    const char *hint = by_instance ? NULL : os_group_hint(args);
    if (!by_instance && !hint)
        return 0;
    bool absent = false;
    json_auto_t *group =
        !hint             ? group_get(c, ctx, "get_by_instance_uuid", uuid, &absent, err)
        : uuid_is_valid(hint) ? group_get(c, ctx, "get_by_uuid", hint, &absent, err)
                              : group_get(c, ctx, "get_by_name", hint, &absent, err);
    if (!group) {
        if (!absent)
            return -1;
        err_clear(err);
        return 0;
    }
    const char *gid = ovo_get_str(group, "uuid");
    if (!gid)
        return err_set(err, ERR_INVALID, "server group %s has no uuid", hint ? hint : uuid);
    char key[64];
    snprintf(key, sizeof(key), "group:%s", gid);
    struct keylock *l = keylock_acquire(c->inst_locks, key);
    int rc = group_validate(c, ctx, uuid, group, err);
    keylock_release(c->inst_locks, l);
    return rc;
}
