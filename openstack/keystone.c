#include "openstack/keystone.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/http.h"
#include "openstack/ovo.h"

LOG_INIT("openstack.keystone");

/* Renew the token when less than this is left (keystoneauth uses 5 min
 * too, the "stale duration"). */
#define KS_RENEW_MARGIN_S 300
#define KS_TIMEOUT_MS 20000

struct os_keystone {
    char *url;              /* ending in /v3 */
    char *username, *password, *project_name, *user_domain, *project_domain, *region;

    pthread_mutex_t lock;   /* token, catalog */
    char *token;
    int64_t expires_s;
    json_t *catalog;        /* from the last token */
};

int os_keystone_creds_from_cfg(const struct cfg *cfg, const char *section,
                               struct os_keystone_creds *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
#define KS_FILL(p)                                                                   \
    do {                                                                             \
        out->auth_url = cfg->p##_auth_url;                                           \
        out->username = cfg->p##_username;                                           \
        out->password = cfg->p##_password;                                           \
        out->project_name = cfg->p##_project_name;                                   \
        out->user_domain_name = cfg->p##_user_domain_name;                           \
        out->project_domain_name = cfg->p##_project_domain_name;                     \
        out->region_name = cfg->p##_region_name;                                     \
    } while (0)
    const char *used = section;
    if (strcmp(section, "placement") == 0 && cfg->placement_auth_url[0])
        KS_FILL(placement);
    else if (strcmp(section, "glance") == 0 && cfg->glance_auth_url[0])
        KS_FILL(glance);
    else {
        KS_FILL(ks);
        used = "keystone_authtoken";
    }
#undef KS_FILL
    if (!out->auth_url || !out->auth_url[0])
        return err_set(err, ERR_INVALID, "[%s] auth_url is not set", used);
    if (!out->username[0] || !out->project_name[0])
        return err_set(err, ERR_INVALID, "[%s] needs username and project_name", used);
    return 0;
}

static char *ks_v3_url(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n >= 3 && strncmp(url + n - 3, "/v3", 3) == 0)
        return xstrndup(url, n);
    return xasprintf("%.*s/v3", (int)n, url);
}

struct os_keystone *os_keystone_new(const struct os_keystone_creds *c, struct err **err)
{
    if (!c->auth_url || !c->auth_url[0] || !c->username || !c->username[0]) {
        err_set(err, ERR_INVALID, "Keystone credentials need auth_url and username");
        return NULL;
    }
    struct os_keystone *ks = xzalloc(sizeof(*ks));
    ks->url = ks_v3_url(c->auth_url);
    ks->username = xstrdup(c->username);
    ks->password = xstrdup(c->password ? c->password : "");
    ks->project_name = xstrdup(c->project_name ? c->project_name : "");
    ks->user_domain = xstrdup(c->user_domain_name && *c->user_domain_name
                                  ? c->user_domain_name : "Default");
    ks->project_domain = xstrdup(c->project_domain_name && *c->project_domain_name
                                     ? c->project_domain_name : "Default");
    ks->region = xstrdup(c->region_name ? c->region_name : "");
    pthread_mutex_init(&ks->lock, NULL);
    return ks;
}

void os_keystone_free(struct os_keystone *ks)
{
    if (!ks)
        return;
    free(ks->url);
    free(ks->username);
    if (ks->password) {
        memset(ks->password, 0, strlen(ks->password));
        free(ks->password);
    }
    free(ks->project_name);
    free(ks->user_domain);
    free(ks->project_domain);
    free(ks->region);
    free(ks->token);
    json_decref(ks->catalog);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

const char *os_keystone_url(const struct os_keystone *ks)
{
    return ks->url;
}

/* POST /v3/auth/tokens; called with the lock held. */
static int ks_authenticate(struct os_keystone *ks, struct err **err)
{
    json_auto_t *body = json_pack(
        "{s:{s:{s:[s], s:{s:{s:s, s:{s:s}, s:s}}}, s:{s:{s:s, s:{s:s}}}}}", "auth", "identity",
        "methods", "password", "password", "user", "name", ks->username, "domain", "name",
        ks->user_domain, "password", ks->password, "scope", "project", "name",
        ks->project_name, "domain", "name", ks->project_domain);
    autofree char *url = xasprintf("%s/auth/tokens", ks->url);
    struct os_http_req req = {.method = "POST", .url = url, .body = body,
                              .timeout_ms = KS_TIMEOUT_MS};
    struct os_http_resp resp;
    if (os_http_do(&req, &resp, err) < 0)
        return err_wrap(err, "Keystone");
    if (resp.status != 201 || !resp.subject_token) {
        char why[256];
        os_http_error_text(&resp, why, sizeof(why));
        int code = resp.status == 401 ? ERR_INVALID : os_http_status_code(resp.status);
        err_set(err, code, "Keystone refused user `%s` in project `%s`: %ld %s", ks->username,
                ks->project_name, resp.status, why);
        os_http_resp_release(&resp);
        return -1;
    }
    json_t *tok = json_object_get(resp.json, "token");
    int64_t exp = 0;
    if (ovo_datetime_parse(json_string_value(json_object_get(tok, "expires_at")), &exp) < 0)
        exp = time(NULL) + 3600;
    free(ks->token);
    ks->token = steal_pointer(&resp.subject_token);
    ks->expires_s = exp;
    json_decref(ks->catalog);
    ks->catalog = json_incref(json_object_get(tok, "catalog"));
    os_http_resp_release(&resp);
    log_info("Keystone token for `%s` in `%s`, valid until %lld", ks->username,
             ks->project_name, (long long)exp);
    return 0;
}

char *os_keystone_token(struct os_keystone *ks, struct err **err)
{
    pthread_mutex_lock(&ks->lock);
    if (!ks->token || ks->expires_s - KS_RENEW_MARGIN_S < (int64_t)time(NULL)) {
        if (ks_authenticate(ks, err) < 0) {
            pthread_mutex_unlock(&ks->lock);
            return NULL;
        }
    }
    char *t = xstrdup(ks->token);
    pthread_mutex_unlock(&ks->lock);
    return t;
}

void os_keystone_forget(struct os_keystone *ks, const char *token)
{
    pthread_mutex_lock(&ks->lock);
    if (ks->token && token && strcmp(ks->token, token) == 0) {
        free(ks->token);
        ks->token = NULL;
    }
    pthread_mutex_unlock(&ks->lock);
}

char *os_keystone_endpoint(struct os_keystone *ks, const char *service_type,
                           const char *interfaces, struct err **err)
{
    autofree char *tok = os_keystone_token(ks, err); /* loads the catalog */
    if (!tok)
        return NULL;
    if (!interfaces || !*interfaces)
        interfaces = "internal,public";
    pthread_mutex_lock(&ks->lock);
    char *found = NULL;
    /* Preference follows the order of `interfaces`. */
    const char *p = interfaces;
    while (!found && p && *p) {
        const char *comma = strchr(p, ',');
        autofree char *itf = comma ? xstrndup(p, (size_t)(comma - p)) : xstrdup(p);
        size_t i, j;
        json_t *svc, *ep;
        json_array_foreach(ks->catalog, i, svc) {
            if (found)
                break;
            const char *type = json_string_value(json_object_get(svc, "type"));
            if (!type || strcmp(type, service_type) != 0)
                continue;
            json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
                const char *e_itf = json_string_value(json_object_get(ep, "interface"));
                const char *region = json_string_value(json_object_get(ep, "region_id"));
                const char *url = json_string_value(json_object_get(ep, "url"));
                if (!e_itf || !url || strcmp(e_itf, itf) != 0)
                    continue;
                if (ks->region[0] && (!region || strcmp(region, ks->region) != 0))
                    continue;
                found = xstrdup(url);
                break;
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    pthread_mutex_unlock(&ks->lock);
    if (!found)
        err_set(err, ERR_NOT_FOUND, "no `%s` endpoint (%s) in the Keystone catalog",
                service_type, interfaces);
    return found;
}

void os_token_info_release(struct os_token_info *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->nroles; i++)
        free(info->roles[i]);
    free(info->roles);
    memset(info, 0, sizeof(*info));
}

bool os_token_info_has_role(const struct os_token_info *info, const char *role)
{
    for (size_t i = 0; i < info->nroles; i++)
        if (strcmp(info->roles[i], role) == 0)
            return true;
    return false;
}

static void ks_copy(char *dst, size_t n, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, n, "%s", s ? s : "");
}

int os_keystone_validate(struct os_keystone *ks, const char *subject, struct os_token_info *info,
                         struct err **err)
{
    memset(info, 0, sizeof(*info));
    autofree char *url = xasprintf("%s/auth/tokens", ks->url);
    for (int attempt = 0; attempt < 2; attempt++) {
        autofree char *tok = os_keystone_token(ks, err);
        if (!tok)
            return -1;
        autofree char *subj_h = xasprintf("X-Subject-Token: %s", subject);
        const char *hdrs[] = {subj_h, NULL};
        struct os_http_req req = {.method = "GET", .url = url, .token = tok, .headers = hdrs,
                                  .timeout_ms = KS_TIMEOUT_MS};
        struct os_http_resp resp;
        if (os_http_do(&req, &resp, err) < 0)
            return err_wrap(err, "Keystone token validation");
        if (resp.status == 401 && attempt == 0) {
            /* our own token went stale: get a new one and ask again */
            os_keystone_forget(ks, tok);
            os_http_resp_release(&resp);
            continue;
        }
        if (resp.status == 404 || resp.status == 401 || resp.status == 403) {
            os_http_resp_release(&resp);
            return 0; /* not valid */
        }
        if (resp.status != 200) {
            char why[256];
            os_http_error_text(&resp, why, sizeof(why));
            err_set(err, ERR_UNAVAILABLE, "Keystone token validation: %ld %s", resp.status, why);
            os_http_resp_release(&resp);
            return -1;
        }
        json_t *t = json_object_get(resp.json, "token");
        info->valid = true;
        ks_copy(info->user_id, sizeof(info->user_id),
                json_object_get(json_object_get(t, "user"), "id"));
        ks_copy(info->user_name, sizeof(info->user_name),
                json_object_get(json_object_get(t, "user"), "name"));
        ks_copy(info->project_id, sizeof(info->project_id),
                json_object_get(json_object_get(t, "project"), "id"));
        ks_copy(info->project_name, sizeof(info->project_name),
                json_object_get(json_object_get(t, "project"), "name"));
        json_t *roles = json_object_get(t, "roles");
        size_t i;
        json_t *r;
        info->roles = xcalloc(json_array_size(roles) + 1, sizeof(char *));
        json_array_foreach(roles, i, r) {
            const char *name = json_string_value(json_object_get(r, "name"));
            if (name)
                info->roles[info->nroles++] = xstrdup(name);
        }
        int64_t exp = 0;
        if (ovo_datetime_parse(json_string_value(json_object_get(t, "expires_at")), &exp) == 0)
            info->expires_s = exp;
        os_http_resp_release(&resp);
        return 0;
    }
    return err_set(err, ERR_UNAVAILABLE, "Keystone keeps refusing our own token");
}
