/* Who may use the API: the static admin token of [api] admin_token, or a
 * Keystone token carrying [api] required_role, validated against Keystone
 * and cached for [api] token_cache_time (never past the token's expiry).
 */
#ifndef SC_API_AUTH_H
#define SC_API_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;
struct err;

enum api_auth_result {
    API_AUTH_OK,
    API_AUTH_MISSING,       /* no token: 401 */
    API_AUTH_INVALID,       /* unknown, expired or revoked token: 401 */
    API_AUTH_FORBIDDEN,     /* valid token without the required role: 403 */
    API_AUTH_UNAVAILABLE,   /* Keystone could not be asked: 503 */
};

/* What Keystone said of a token. */
struct api_token_info {
    bool valid;             /* false: Keystone refused it (404/401) */
    char user_id[80];       /* Keystone's ids: what the record keys on */
    char project_id[80];
    char user_name[80];     /* names, for display only: they can be reused */
    char project_name[80];
    bool has_role;          /* carries the role asked for */
    int64_t expires_s;      /* Unix s; 0 when Keystone gave none */
};

/* Ask Keystone about `token`; returns 0 with *info filled (valid or not),
 * or -1 with *err when Keystone could not answer.  Called from server
 * threads; must be thread-safe. */
typedef int (*api_token_validator)(void *ctx, const char *token, const char *role,
                                   struct api_token_info *info, struct err **err);

struct api_auth;

/* `validator` may be NULL: only the admin token is then accepted. */
struct api_auth *api_auth_new(api_token_validator validator, void *ctx);
void api_auth_free(struct api_auth *a);

/* Check a request's credential.  `token` is X-Auth-Token or the bearer
 * token of Authorization (NULL when neither); settings come from `cfg`.  On
 * API_AUTH_OK, `user` (size bytes) names who it is (api_identity_format):
 * "admin-token", or the Keystone user id and its token's project id, each
 * followed by its name; otherwise `why` (size bytes too) says what is
 * wrong, for the 401/403/503 message.  Thread-safe. */
enum api_auth_result api_auth_check(struct api_auth *a, const struct cfg *cfg,
                                    const char *token, int64_t now_s, char *user,
                                    char *why, size_t size);

/* Who a Keystone token is, into out (size bytes): "<user_id> (<user_name>)
 * in project <project_id> (<project_name>)".  The ids come first because
 * names can be renamed or reused (Nova's instance actions keep user_id and
 * project_id too); a name empty or equal to its id is left out, and so is
 * the project when the token has none. */
void api_identity_format(const struct api_token_info *info, char *out, size_t size);

/* Constant-time string equality (tokens). */
bool api_token_equal(const char *a, const char *b);

#endif
