#include "api/keystone_auth.h"

#include <stdio.h>

#include "common/err.h"
#include "openstack/keystone.h"

/* api_token_validator over the Keystone client: GET /v3/auth/tokens with
 * the service's own token, the subject's roles checked here. */
static int api_keystone_validate(void *ctx, const char *token, const char *role,
                                 struct api_token_info *out, struct err **err)
{
    struct os_token_info info = {0};
    if (os_keystone_validate(ctx, token, &info, err) < 0)
        return -1;
    out->valid = info.valid;
    snprintf(out->user_id, sizeof(out->user_id), "%s", info.user_id);
    snprintf(out->project_id, sizeof(out->project_id), "%s", info.project_id);
    snprintf(out->user_name, sizeof(out->user_name), "%s", info.user_name);
    snprintf(out->project_name, sizeof(out->project_name), "%s", info.project_name);
    out->has_role = info.valid && os_token_info_has_role(&info, role);
    out->expires_s = info.expires_s;
    os_token_info_release(&info);
    return 0;
}

struct api_auth *api_keystone_auth_new(struct os_keystone *ks)
{
    return ks ? api_auth_new(api_keystone_validate, ks) : api_auth_new(NULL, NULL);
}
