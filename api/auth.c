#include "api/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"

LOG_INIT("api.auth");

/* A direct-mapped cache of Keystone's answers: a collision only costs one
 * more call to Keystone.  Refusals are cached too, briefly, so a client
 * retrying a bad token does not turn into a flood on Keystone. */
#define API_AUTH_SLOTS 1024
#define API_AUTH_NEGATIVE_S 30
#define API_AUTH_MAX_TOKEN 8192

struct api_auth_entry {
    char *token;                 /* owned; NULL: empty slot */
    struct api_token_info info;
    int64_t until_s;             /* trusted until (Unix s) */
};

struct api_auth {
    api_token_validator validate;
    void *ctx;
    pthread_mutex_t lock;        /* guards slots */
    struct api_auth_entry slots[API_AUTH_SLOTS];
};

struct api_auth *api_auth_new(api_token_validator validator, void *ctx)
{
    struct api_auth *a = xzalloc(sizeof(*a));
    a->validate = validator;
    a->ctx = ctx;
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void api_auth_free(struct api_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < API_AUTH_SLOTS; i++)
        free(a->slots[i].token);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

bool api_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    /* Always walk the expected token's length so the time taken does not
     * tell how many leading characters were right. */
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
    return diff == 0;
}

static size_t api_auth_slot(const char *token)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)token; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % API_AUTH_SLOTS);
}

static bool api_auth_cached(struct api_auth *a, const char *token, int64_t now_s,
                            struct api_token_info *out)
{
    bool hit = false;
    struct api_auth_entry *e = &a->slots[api_auth_slot(token)];
    pthread_mutex_lock(&a->lock);
    if (e->token && now_s < e->until_s && strcmp(e->token, token) == 0) {
        *out = e->info;
        hit = true;
    }
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static void api_auth_remember(struct api_auth *a, const char *token,
                              const struct api_token_info *info, int64_t until_s)
{
    struct api_auth_entry *e = &a->slots[api_auth_slot(token)];
    pthread_mutex_lock(&a->lock);
    free(e->token);
    e->token = xstrdup(token);
    e->info = *info;
    e->until_s = until_s;
    pthread_mutex_unlock(&a->lock);
}

enum api_auth_result api_auth_check(struct api_auth *a, const struct cfg *cfg,
                                    const char *token, int64_t now_s, char *user,
                                    char *why, size_t size)
{
    if (!token || !*token) {
        snprintf(why, size, "a token is required (X-Auth-Token or Authorization: Bearer)");
        return API_AUTH_MISSING;
    }
    if (strlen(token) > API_AUTH_MAX_TOKEN) {
        snprintf(why, size, "the token is not valid");
        return API_AUTH_INVALID;
    }
    if (cfg->api_admin_token[0] && api_token_equal(token, cfg->api_admin_token)) {
        snprintf(user, size, "admin-token");
        return API_AUTH_OK;
    }
    if (!a->validate) {
        snprintf(why, size, "the token is not valid (Keystone is not configured; "
                 "only [api] admin_token is accepted)");
        return API_AUTH_INVALID;
    }

    struct api_token_info info;
    if (!api_auth_cached(a, token, now_s, &info)) {
        autoerr struct err *err = NULL;
        memset(&info, 0, sizeof(info));
        if (a->validate(a->ctx, token, cfg->api_required_role, &info, &err) < 0) {
            log_err(LOG_LEVEL_WARN, err, "token validation failed");
            snprintf(why, size, "Keystone could not validate the token: %s", err->msg);
            return API_AUTH_UNAVAILABLE;
        }
        int64_t until = now_s + (info.valid ? cfg->api_token_cache_s : API_AUTH_NEGATIVE_S);
        if (!info.valid && cfg->api_token_cache_s < API_AUTH_NEGATIVE_S)
            until = now_s + cfg->api_token_cache_s;
        if (info.expires_s > 0 && info.expires_s < until)
            until = info.expires_s;
        if (until > now_s)
            api_auth_remember(a, token, &info, until);
    }
    if (!info.valid || (info.expires_s > 0 && info.expires_s <= now_s)) {
        snprintf(why, size, "the token is not valid");
        return API_AUTH_INVALID;
    }
    if (!info.has_role) {
        snprintf(why, size, "the token lacks the role `%s`", cfg->api_required_role);
        return API_AUTH_FORBIDDEN;
    }
    api_identity_format(&info, user, size);
    return API_AUTH_OK;
}

/* " (name)" after an id, or nothing when the name says no more. */
static const char *api_name_suffix(const char *id, const char *name, char *buf, size_t size)
{
    if (!name[0] || strcmp(name, id) == 0)
        return "";
    snprintf(buf, size, " (%s)", name);
    return buf;
}

void api_identity_format(const struct api_token_info *info, char *out, size_t size)
{
    char un[sizeof(info->user_name) + 3], pn[sizeof(info->project_name) + 3];
    const char *user = info->user_id[0] ? info->user_id : "keystone-user";
    const char *user_name = api_name_suffix(user, info->user_name, un, sizeof(un));
    /* the project too: a user acts with the role its token has in one */
    if (info->project_id[0])
        snprintf(out, size, "%s%s in project %s%s", user, user_name, info->project_id,
                 api_name_suffix(info->project_id, info->project_name, pn, sizeof(pn)));
    else
        snprintf(out, size, "%s%s", user, user_name);
}
