/* A Keystone v3 client: password authentication scoped to a project (as
 * keystoneauth's `password` plugin does for nova.conf's [placement],
 * [glance], [keystone_authtoken] sections), the token cached and renewed
 * before it expires, the service catalog for endpoints, and validation of
 * other users' tokens (for the REST API).
 *
 * Thread: every function is thread-safe; one os_keystone is shared.
 */
#ifndef SC_OPENSTACK_KEYSTONE_H
#define SC_OPENSTACK_KEYSTONE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/alloc.h"

struct cfg;
struct err;

/* Password credentials, as nova.conf names them in an auth section.
 * Strings are borrowed by os_keystone_new (which copies them). */
struct os_keystone_creds {
    const char *auth_url;            /* http://host:5000/v3 (a URL without /v3 gets it) */
    const char *username;
    const char *password;
    const char *project_name;
    const char *user_domain_name;    /* "Default" when empty */
    const char *project_domain_name; /* "Default" when empty */
    const char *region_name;         /* catalog region; empty: any */
};

/* The credentials of section `section` ("keystone_authtoken", "placement",
 * "glance") of cfg (borrowing its strings).  Returns 0, or -1 with *err
 * (ERR_INVALID) naming what is missing when the section is not set up. */
int os_keystone_creds_from_cfg(const struct cfg *cfg, const char *section,
                               struct os_keystone_creds *out, struct err **err);

struct os_keystone;

struct os_keystone *os_keystone_new(const struct os_keystone_creds *creds, struct err **err);
void os_keystone_free(struct os_keystone *ks);
DEFINE_AUTOPTR(os_keystone)

/* A valid token for our user (caller frees): the cached one while it has
 * more than a few minutes left, else a new one.  -1/NULL with *err:
 * ERR_UNAVAILABLE (Keystone unreachable), ERR_INVALID (refused: bad
 * credentials). */
char *os_keystone_token(struct os_keystone *ks, struct err **err);

/* Drop the cached token when a service answered 401 with it. */
void os_keystone_forget(struct os_keystone *ks, const char *token);

/* The URL of `service_type` ("placement", "image", "network") from the
 * catalog, the first of `interfaces` (comma-separated, e.g.
 * "internal,public") that exists, in the configured region.  Caller frees;
 * NULL with ERR_NOT_FOUND when the catalog has none. */
char *os_keystone_endpoint(struct os_keystone *ks, const char *service_type,
                           const char *interfaces, struct err **err);

/* What Keystone says of somebody else's token. */
struct os_token_info {
    bool valid;               /* false: unknown, expired or revoked */
    char user_id[80];
    char user_name[80];
    char project_id[80];
    char project_name[80];
    char **roles;             /* owned role names */
    size_t nroles;
    int64_t expires_s;        /* Unix s, 0 when not given */
};
void os_token_info_release(struct os_token_info *info);
bool os_token_info_has_role(const struct os_token_info *info, const char *role);

/* Validate `subject` (GET /v3/auth/tokens).  Returns 0 with *info filled
 * (info->valid false for a token Keystone refuses), or -1 with *err when
 * Keystone could not answer. */
int os_keystone_validate(struct os_keystone *ks, const char *subject, struct os_token_info *info,
                         struct err **err);

/* The identity endpoint in use ("http://127.0.0.1:5000/v3"). */
const char *os_keystone_url(const struct os_keystone *ks);

#endif
