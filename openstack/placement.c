#include "openstack/placement.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "openstack/http.h"
#include "openstack/keystone.h"

LOG_INIT("openstack.placement");

#define PL_TIMEOUT_MS 30000
#define PL_CONFLICT_RETRIES 4

struct os_placement {
    struct os_keystone *ks;
    char *override;
    char *interfaces;
    pthread_mutex_t lock;
    char *endpoint;          /* resolved */
};

struct os_placement *os_placement_new(struct os_keystone *ks, const char *endpoint_override,
                                      const char *interfaces)
{
    struct os_placement *p = xzalloc(sizeof(*p));
    p->ks = ks;
    p->override = endpoint_override && *endpoint_override ? xstrdup(endpoint_override) : NULL;
    p->interfaces = xstrdup(interfaces && *interfaces ? interfaces : "internal,public");
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void os_placement_free(struct os_placement *p)
{
    if (!p)
        return;
    free(p->override);
    free(p->interfaces);
    free(p->endpoint);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static char *pl_endpoint(struct os_placement *p, struct err **err)
{
    pthread_mutex_lock(&p->lock);
    if (!p->endpoint) {
        if (p->override)
            p->endpoint = xstrdup(p->override);
        else
            p->endpoint = os_keystone_endpoint(p->ks, "placement", p->interfaces, err);
        if (p->endpoint) {
            size_t n = strlen(p->endpoint);
            while (n > 0 && p->endpoint[n - 1] == '/')
                p->endpoint[--n] = '\0';
        }
    }
    char *e = p->endpoint ? xstrdup(p->endpoint) : NULL;
    pthread_mutex_unlock(&p->lock);
    return e;
}

/* One request with a microversion ("" for none); a 401 renews the token
 * once.  0 with *resp, or -1 with *err when no answer came. */
static int pl_request(struct os_placement *p, const char *method, const char *path,
                      const char *mv, const json_t *body, struct os_http_resp *resp,
                      struct err **err)
{
    autofree char *base = pl_endpoint(p, err);
    if (!base)
        return err_wrap(err, "Placement");
    autofree char *url = xasprintf("%s%s", base, path);
    autofree char *mvh = mv && *mv ? xasprintf("OpenStack-API-Version: placement %s", mv) : NULL;
    const char *hdrs[] = {mvh, NULL};
    for (int attempt = 0; attempt < 2; attempt++) {
        autofree char *tok = os_keystone_token(p->ks, err);
        if (!tok)
            return err_wrap(err, "Placement");
        struct os_http_req req = {.method = method, .url = url, .token = tok,
                                  .headers = mvh ? hdrs : NULL, .body = body,
                                  .timeout_ms = PL_TIMEOUT_MS};
        if (os_http_do(&req, resp, err) < 0)
            return err_wrap(err, "Placement");
        if (resp->status != 401 || attempt == 1)
            return 0;
        os_keystone_forget(p->ks, tok);
        os_http_resp_release(resp);
    }
    return 0;
}

static int pl_fail(struct os_http_resp *resp, const char *what, struct err **err)
{
    char why[256];
    os_http_error_text(resp, why, sizeof(why));
    err_set(err, os_http_status_code(resp->status), "Placement %s: %ld %s", what, resp->status,
            why);
    os_http_resp_release(resp);
    return -1;
}

static bool pl_is_concurrent_update(const struct os_http_resp *r)
{
    json_t *errs = json_object_get(r->json, "errors");
    const char *code = json_string_value(json_object_get(json_array_get(errs, 0), "code"));
    return r->status == 409 && code && strcmp(code, "placement.concurrent_update") == 0;
}

int os_placement_ensure_provider(struct os_placement *p, const char *uuid, const char *name,
                                 struct err **err)
{
    struct os_http_resp r;
    autofree char *path = xasprintf("/resource_providers/%s", uuid);
    if (pl_request(p, "GET", path, "1.14", NULL, &r, err) < 0)
        return -1;
    if (r.status == 200) {
        os_http_resp_release(&r);
        return 0;
    }
    if (r.status != 404)
        return pl_fail(&r, "GET provider", err);
    os_http_resp_release(&r);
    json_auto_t *body = json_pack("{s:s, s:s}", "uuid", uuid, "name", name);
    if (pl_request(p, "POST", "/resource_providers", "1.20", body, &r, err) < 0)
        return -1;
    if (r.status != 200 && r.status != 201) {
        if (r.status == 409) {
            /* A provider of that name with another uuid: an old ComputeNode
             * of this host was deleted without its provider. */
            return pl_fail(&r, "create provider (name taken by another uuid?)", err);
        }
        return pl_fail(&r, "create provider", err);
    }
    log_info("created resource provider %s (`%s`)", uuid, name);
    os_http_resp_release(&r);
    return 0;
}

/* The provider's generation and current inventories (new reference). */
static int pl_get_inventories(struct os_placement *p, const char *uuid, int64_t *gen,
                              json_t **inv, struct err **err)
{
    struct os_http_resp r;
    autofree char *path = xasprintf("/resource_providers/%s/inventories", uuid);
    if (pl_request(p, "GET", path, "1.26", NULL, &r, err) < 0)
        return -1;
    if (r.status != 200)
        return pl_fail(&r, "GET inventories", err);
    *gen = json_integer_value(json_object_get(r.json, "resource_provider_generation"));
    *inv = json_incref(json_object_get(r.json, "inventories"));
    os_http_resp_release(&r);
    return 0;
}

static bool pl_inventory_equal(json_t *have, const struct os_placement_inventory *inv, size_t n)
{
    if (!json_is_object(have) || json_object_size(have) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_object_get(have, inv[i].rc);
        if (!h)
            return false;
        if (json_integer_value(json_object_get(h, "total")) != inv[i].total ||
            json_integer_value(json_object_get(h, "reserved")) != inv[i].reserved ||
            json_integer_value(json_object_get(h, "min_unit")) != inv[i].min_unit ||
            json_integer_value(json_object_get(h, "max_unit")) != inv[i].max_unit ||
            json_integer_value(json_object_get(h, "step_size")) != inv[i].step_size ||
            fabs(json_number_value(json_object_get(h, "allocation_ratio")) -
                 inv[i].allocation_ratio) > 1e-4)
            return false;
    }
    return true;
}

int os_placement_set_inventories(struct os_placement *p, const char *uuid,
                                 const struct os_placement_inventory *inv, size_t n,
                                 struct err **err)
{
    autofree char *path = xasprintf("/resource_providers/%s/inventories", uuid);
    for (int attempt = 0; attempt < PL_CONFLICT_RETRIES; attempt++) {
        int64_t gen = 0; /* set by pl_get_inventories; -O1 cannot tell */
        json_auto_t *have = NULL;
        if (pl_get_inventories(p, uuid, &gen, &have, err) < 0)
            return -1;
        if (pl_inventory_equal(have, inv, n))
            return 0;
        json_auto_t *body = json_pack("{s:I, s:{}}", "resource_provider_generation",
                                      (json_int_t)gen, "inventories");
        json_t *invs = json_object_get(body, "inventories");
        for (size_t i = 0; i < n; i++)
            json_object_set_new(invs, inv[i].rc,
                                json_pack("{s:I, s:I, s:I, s:I, s:I, s:f}", "total",
                                          (json_int_t)inv[i].total, "reserved",
                                          (json_int_t)inv[i].reserved, "min_unit",
                                          (json_int_t)inv[i].min_unit, "max_unit",
                                          (json_int_t)inv[i].max_unit, "step_size",
                                          (json_int_t)inv[i].step_size, "allocation_ratio",
                                          inv[i].allocation_ratio));
        struct os_http_resp r;
        if (pl_request(p, "PUT", path, "1.26", body, &r, err) < 0)
            return -1;
        if (r.status == 200) {
            os_http_resp_release(&r);
            log_info("inventory of %s: VCPU/MEMORY_MB/DISK_GB updated", uuid);
            return 0;
        }
        if (pl_is_concurrent_update(&r)) {
            os_http_resp_release(&r);
            continue;
        }
        return pl_fail(&r, "PUT inventories", err);
    }
    return err_set(err, ERR_CONFLICT, "Placement: provider %s kept changing under us", uuid);
}

static int pl_ensure_custom_trait(struct os_placement *p, const char *trait, struct err **err)
{
    struct os_http_resp r;
    autofree char *path = xasprintf("/traits/%s", trait);
    if (pl_request(p, "PUT", path, "1.6", NULL, &r, err) < 0)
        return -1;
    if (r.status != 201 && r.status != 204)
        return pl_fail(&r, "create trait", err);
    os_http_resp_release(&r);
    return 0;
}

static bool pl_traits_equal(json_t *have, const char *const *traits, size_t n)
{
    if (!json_is_array(have) || json_array_size(have) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        size_t j;
        json_t *t;
        json_array_foreach(have, j, t) {
            if (json_is_string(t) && strcmp(json_string_value(t), traits[i]) == 0) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

int os_placement_set_traits(struct os_placement *p, const char *uuid,
                            const char *const *traits, size_t n, struct err **err)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(traits[i], "CUSTOM_", 7) == 0 && pl_ensure_custom_trait(p, traits[i], err) < 0)
            return -1;
    autofree char *path = xasprintf("/resource_providers/%s/traits", uuid);
    for (int attempt = 0; attempt < PL_CONFLICT_RETRIES; attempt++) {
        struct os_http_resp r;
        if (pl_request(p, "GET", path, "1.6", NULL, &r, err) < 0)
            return -1;
        if (r.status != 200)
            return pl_fail(&r, "GET traits", err);
        int64_t gen = json_integer_value(json_object_get(r.json, "resource_provider_generation"));
        bool same = pl_traits_equal(json_object_get(r.json, "traits"), traits, n);
        os_http_resp_release(&r);
        if (same)
            return 0;
        json_auto_t *body = json_pack("{s:I, s:[]}", "resource_provider_generation",
                                      (json_int_t)gen, "traits");
        for (size_t i = 0; i < n; i++)
            json_array_append_new(json_object_get(body, "traits"), json_string(traits[i]));
        if (pl_request(p, "PUT", path, "1.6", body, &r, err) < 0)
            return -1;
        if (r.status == 200) {
            os_http_resp_release(&r);
            return 0;
        }
        if (pl_is_concurrent_update(&r)) {
            os_http_resp_release(&r);
            continue;
        }
        return pl_fail(&r, "PUT traits", err);
    }
    return err_set(err, ERR_CONFLICT, "Placement: provider %s kept changing under us", uuid);
}

json_t *os_placement_get_allocations(struct os_placement *p, const char *consumer,
                                     struct err **err)
{
    struct os_http_resp r;
    autofree char *path = xasprintf("/allocations/%s", consumer);
    if (pl_request(p, "GET", path, "1.28", NULL, &r, err) < 0)
        return NULL;
    if (r.status != 200) {
        pl_fail(&r, "GET allocations", err);
        return NULL;
    }
    json_t *j = json_incref(r.json);
    os_http_resp_release(&r);
    return j;
}

int os_placement_delete_allocations(struct os_placement *p, const char *consumer,
                                    struct err **err)
{
    struct os_http_resp r;
    autofree char *path = xasprintf("/allocations/%s", consumer);
    if (pl_request(p, "DELETE", path, "", NULL, &r, err) < 0)
        return -1;
    if (r.status != 204 && r.status != 404)
        return pl_fail(&r, "DELETE allocations", err);
    if (r.status == 204)
        log_info("allocations of %s released", consumer);
    os_http_resp_release(&r);
    return 0;
}

json_t *os_placement_provider_allocations(struct os_placement *p, const char *uuid,
                                          struct err **err)
{
    struct os_http_resp r;
    autofree char *path = xasprintf("/resource_providers/%s/allocations", uuid);
    if (pl_request(p, "GET", path, "", NULL, &r, err) < 0)
        return NULL;
    if (r.status != 200) {
        pl_fail(&r, "GET provider allocations", err);
        return NULL;
    }
    json_t *j = json_incref(json_object_get(r.json, "allocations"));
    os_http_resp_release(&r);
    return j ? j : json_object();
}

/* Consumer `consumer`'s allocations written back without provider `rp`
 * (NULL: without any), with the consumer's generation, project and user
 * as read: a change made meanwhile makes the PUT fail rather than be
 * undone.  1 when written, 0 when there was nothing to drop (no such
 * consumer: Placement answers an empty one). */
static int pl_allocations_drop(struct os_placement *p, const char *consumer, const char *rp,
                               struct err **err)
{
    json_auto_t *have = os_placement_get_allocations(p, consumer, err);
    if (!have)
        return -1;
    json_t *allocs = json_object_get(have, "allocations");
    if (!json_is_object(allocs) || json_object_size(allocs) == 0 ||
        (rp && !json_object_get(allocs, rp)))
        return 0;
    json_t *keep = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(allocs, k, v) {
        json_t *res = json_object_get(v, "resources");
        if (rp && strcmp(k, rp) != 0 && json_is_object(res))
            json_object_set_new(keep, k, json_pack("{s:O}", "resources", res));
    }
    json_object_set_new(have, "allocations", keep);
    struct os_http_resp r;
    autofree char *path = xasprintf("/allocations/%s", consumer);
    if (pl_request(p, "PUT", path, "1.28", have, &r, err) < 0)
        return -1;
    if (r.status != 204)
        return pl_fail(&r, rp ? "PUT allocations without the provider" : "PUT empty allocations",
                       err);
    os_http_resp_release(&r);
    if (rp)
        log_info("allocations of %s on provider %s released", consumer, rp);
    else
        log_info("allocations of %s released", consumer);
    return 1;
}

int os_placement_clear_allocations(struct os_placement *p, const char *consumer, struct err **err)
{
    return pl_allocations_drop(p, consumer, NULL, err);
}

int os_placement_remove_provider(struct os_placement *p, const char *consumer, const char *rp,
                                 struct err **err)
{
    return pl_allocations_drop(p, consumer, rp, err);
}

/* One consumer's part of a POST /allocations body: its allocations
 * (resources only) with the project, user and generation read. */
static json_t *pl_consumer_body(const json_t *read, const json_t *allocs, const json_t *owner)
{
    json_t *a = json_object();
    const char *rp;
    json_t *v;
    json_object_foreach((json_t *)allocs, rp, v) {
        json_t *res = json_object_get(v, "resources");
        if (json_is_object(res))
            json_object_set_new(a, rp, json_pack("{s:O}", "resources", res));
    }
    json_t *gen = json_object_get(read, "consumer_generation");
    return json_pack("{s:o, s:O, s:O, s:O}", "allocations", a, "project_id",
                     json_object_get(owner, "project_id"), "user_id",
                     json_object_get(owner, "user_id"), "consumer_generation",
                     gen ? gen : json_null());
}

int os_placement_move_allocations(struct os_placement *p, const char *from, const char *to,
                                  struct err **err)
{
    json_auto_t *src = os_placement_get_allocations(p, from, err);
    if (!src)
        return -1;
    json_t *allocs = json_object_get(src, "allocations");
    if (!json_is_object(allocs) || json_object_size(allocs) == 0)
        return 0;
    json_auto_t *dst = os_placement_get_allocations(p, to, err);
    if (!dst)
        return -1;
    if (json_object_size(json_object_get(dst, "allocations")) > 0)
        log_info("allocations of %s replaced by those of %s", to, from);
    json_auto_t *empty = json_object();
    json_auto_t *body = json_object();
    json_object_set_new(body, from, pl_consumer_body(src, empty, src));
    json_object_set_new(body, to, pl_consumer_body(dst, allocs, src));
    struct os_http_resp r;
    if (pl_request(p, "POST", "/allocations", "1.28", body, &r, err) < 0)
        return -1;
    if (r.status != 204)
        return pl_fail(&r, "POST allocations", err);
    os_http_resp_release(&r);
    log_info("allocations of %s moved to %s", from, to);
    return 1;
}
