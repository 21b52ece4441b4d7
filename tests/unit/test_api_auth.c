/* Who may use the API: the admin token, Keystone tokens with the role,
 * and the cache in front of Keystone (answers reused until the cache time
 * or the token's expiry, refusals remembered briefly, outages not cached).
 * Keystone itself is exercised by the Nova stack's integration test; here a
 * table of tokens stands in for its answers so the cache can be counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/auth.h"
#include "common/config.h"
#include "common/err.h"

struct keystone_answers {
    int calls;
    bool down;
};

static int validate(void *ctx, const char *token, const char *role, struct api_token_info *out,
                    struct err **err)
{
    struct keystone_answers *k = ctx;
    k->calls++;
    if (k->down)
        return err_set(err, ERR_UNAVAILABLE, "connection refused");
    out->valid = strncmp(token, "good", 4) == 0 || strncmp(token, "member", 6) == 0;
    snprintf(out->user_id, sizeof(out->user_id), "%s", token);
    bool demo = strncmp(token, "good-demo", 9) == 0;
    snprintf(out->project_id, sizeof(out->project_id), "%s", demo ? "0f3a9c" : "");
    /* Keystone names beside the ids; "good-demo-x" has none */
    snprintf(out->user_name, sizeof(out->user_name), "%s",
             strcmp(token, "good-demo") == 0 ? "alice" : "");
    snprintf(out->project_name, sizeof(out->project_name), "%s",
             strcmp(token, "good-demo") == 0 ? "demo" : "");
    out->has_role = strncmp(token, "good", 4) == 0 && strcmp(role, "admin") == 0;
    out->expires_s = strcmp(token, "good-short") == 0 ? 1000 + 10 : 0;
    return 0;
}

static void test_admin_token(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct cfg *cfg = cfg_new_defaults();
    assert_int_equal(cfg_set(cfg, "api", "admin_token", "s3cret", &err), 0);
    struct api_auth *a = api_auth_new(NULL, NULL);
    char user[256], why[256];
    assert_int_equal(api_auth_check(a, cfg, "s3cret", 1000, user, why, sizeof(why)), API_AUTH_OK);
    assert_string_equal(user, "admin-token");
    assert_int_equal(api_auth_check(a, cfg, NULL, 1000, user, why, sizeof(why)),
                     API_AUTH_MISSING);
    assert_int_equal(api_auth_check(a, cfg, "s3cre", 1000, user, why, sizeof(why)),
                     API_AUTH_INVALID);
    assert_int_equal(api_auth_check(a, cfg, "s3cret!", 1000, user, why, sizeof(why)),
                     API_AUTH_INVALID);
    assert_non_null(strstr(why, "only [api] admin_token"));
    /* no admin token configured: nothing matches the empty string */
    struct cfg *bare = cfg_new_defaults();
    assert_int_equal(api_auth_check(a, bare, "", 1000, user, why, sizeof(why)), API_AUTH_MISSING);
    assert_true(api_token_equal("abc", "abc") && !api_token_equal("abc", "abd") &&
                !api_token_equal("ab", "abc"));
    api_auth_free(a);
    cfg_unref(bare);
    cfg_unref(cfg);
}

static void test_keystone_cache(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct keystone_answers k = {0};
    struct cfg *cfg = cfg_new_defaults();
    assert_int_equal(cfg_set(cfg, "api", "token_cache_time", "60", &err), 0);
    struct api_auth *a = api_auth_new(validate, &k);
    char user[256], why[256];

    assert_int_equal(api_auth_check(a, cfg, "good-1", 1000, user, why, sizeof(why)), API_AUTH_OK);
    assert_string_equal(user, "good-1");
    assert_int_equal(api_auth_check(a, cfg, "good-1", 1030, user, why, sizeof(why)), API_AUTH_OK);
    assert_int_equal(k.calls, 1);              /* cached */
    assert_int_equal(api_auth_check(a, cfg, "good-1", 1061, user, why, sizeof(why)), API_AUTH_OK);
    assert_int_equal(k.calls, 2);              /* cache time over: asked again */
    /* who it is: the ids, each with its name, and the token's project when
     * Keystone gave one */
    assert_int_equal(api_auth_check(a, cfg, "good-demo", 1000, user, why, sizeof(why)),
                     API_AUTH_OK);
    assert_string_equal(user, "good-demo (alice) in project 0f3a9c (demo)");
    assert_int_equal(k.calls, 3);
    assert_int_equal(api_auth_check(a, cfg, "good-demo-x", 1000, user, why, sizeof(why)),
                     API_AUTH_OK);
    assert_string_equal(user, "good-demo-x in project 0f3a9c");
    assert_int_equal(k.calls, 4);

    /* a token expiring before the cache time is trusted only until then */
    assert_int_equal(api_auth_check(a, cfg, "good-short", 1000, user, why, sizeof(why)),
                     API_AUTH_OK);
    assert_int_equal(api_auth_check(a, cfg, "good-short", 1011, user, why, sizeof(why)),
                     API_AUTH_INVALID);
    assert_int_equal(k.calls, 6);

    /* valid but without the role: 403, and cached like any answer */
    assert_int_equal(api_auth_check(a, cfg, "member-1", 1000, user, why, sizeof(why)),
                     API_AUTH_FORBIDDEN);
    assert_non_null(strstr(why, "lacks the role `admin`"));

    /* refused tokens are remembered for a short while only */
    int before = k.calls;
    assert_int_equal(api_auth_check(a, cfg, "forged", 1000, user, why, sizeof(why)),
                     API_AUTH_INVALID);
    assert_int_equal(api_auth_check(a, cfg, "forged", 1010, user, why, sizeof(why)),
                     API_AUTH_INVALID);
    assert_int_equal(k.calls, before + 1);
    assert_int_equal(api_auth_check(a, cfg, "forged", 1031, user, why, sizeof(why)),
                     API_AUTH_INVALID);
    assert_int_equal(k.calls, before + 2);

    /* Keystone down: 503 for an unknown token, cached answers still count */
    k.down = true;
    assert_int_equal(api_auth_check(a, cfg, "good-2", 1100, user, why, sizeof(why)),
                     API_AUTH_UNAVAILABLE);
    assert_non_null(strstr(why, "connection refused"));
    assert_int_equal(api_auth_check(a, cfg, "good-1", 1100, user, why, sizeof(why)), API_AUTH_OK);
    k.down = false;
    assert_int_equal(api_auth_check(a, cfg, "good-2", 1100, user, why, sizeof(why)), API_AUTH_OK);
    api_auth_free(a);
    cfg_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_token),
        cmocka_unit_test(test_keystone_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
