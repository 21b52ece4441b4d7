/* Shelving's decisions on states alone (openstack/compute_shelve_rules.c):
 * what a (re)delivered request does, what a restart finishes or undoes,
 * and when [DEFAULT] shelved_offload_time offloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "openstack/compute_shelve.h"

static void test_check_shelve(void **state)
{
    (void)state;
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_SHELVE, "active", "shelving"), OS_SHELVE_GO_ON);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_SHELVE, "stopped", "shelving"), OS_SHELVE_GO_ON);
    /* redelivered after a restart undid it, or after it finished */
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_SHELVE, "active", NULL), OS_SHELVE_GO_SETTLED);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_SHELVE, "shelved_offloaded", NULL),
                     OS_SHELVE_GO_SETTLED);
    /* a step already taken by the first delivery is not taken again */
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_SHELVE, "active", "shelving_image_uploading"),
                     OS_SHELVE_GO_SETTLED);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_SHELVE, "active", "deleting"), OS_SHELVE_GO_GONE);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_SHELVE, "deleted", NULL), OS_SHELVE_GO_GONE);
}

static void test_check_offload_unshelve(void **state)
{
    (void)state;
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_OFFLOAD, "shelved", "shelving_offloading"),
                     OS_SHELVE_GO_ON);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_OFFLOAD, "shelved_offloaded", NULL),
                     OS_SHELVE_GO_SETTLED);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_OFFLOAD, "shelved", NULL), OS_SHELVE_GO_SETTLED);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_UNSHELVE, "shelved_offloaded", "unshelving"),
                     OS_SHELVE_GO_ON);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_UNSHELVE, "shelved_offloaded", "spawning"),
                     OS_SHELVE_GO_ON);
    /* a restart finished it (ACTIVE) or undid it (offloaded, no task) */
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_UNSHELVE, "active", NULL), OS_SHELVE_GO_SETTLED);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_UNSHELVE, "shelved_offloaded", NULL),
                     OS_SHELVE_GO_SETTLED);
    /* SHELVED (not offloaded) is the conductor's start_instance, not this */
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_UNSHELVE, "shelved", "unshelving"),
                     OS_SHELVE_GO_SETTLED);
    assert_int_equal(os_shelve_check(OS_SHELVE_OP_UNSHELVE, "shelved_offloaded", "deleting"),
                     OS_SHELVE_GO_GONE);
}

static void test_recover_plan(void **state)
{
    (void)state;
    /* nothing shelving */
    assert_int_equal(os_shelve_recover_plan("active", NULL, true, true), OS_SHELVE_FIX_NONE);
    assert_int_equal(os_shelve_recover_plan("shelved", NULL, true, false), OS_SHELVE_FIX_NONE);
    assert_int_equal(os_shelve_recover_plan("active", "image_uploading", true, true),
                     OS_SHELVE_FIX_NONE);
    /* a shelve cut before SHELVED was saved */
    static const char *const shelving[] = {"shelving", "shelving_image_pending_upload",
                                           "shelving_image_uploading"};
    for (size_t k = 0; k < 3; k++) {
        assert_true(os_shelve_task_is_shelving(shelving[k]));
        assert_int_equal(os_shelve_recover_plan("active", shelving[k], true, false),
                         OS_SHELVE_FIX_UNDO_SHELVE);
        assert_int_equal(os_shelve_recover_plan("stopped", shelving[k], false, false),
                         OS_SHELVE_FIX_CLEAR_TASK);
    }
    assert_false(os_shelve_task_is_shelving("shelving_offloading"));
    assert_false(os_shelve_task_is_shelving(NULL));
    /* SHELVED, offloading: finished, guest or not */
    assert_int_equal(os_shelve_recover_plan("shelved", "shelving_offloading", true, false),
                     OS_SHELVE_FIX_OFFLOAD);
    assert_int_equal(os_shelve_recover_plan("shelved", "shelving_offloading", false, false),
                     OS_SHELVE_FIX_OFFLOAD);
    /* an unshelve: its guest runs -> finished; not (yet) -> undone */
    assert_int_equal(os_shelve_recover_plan("shelved_offloaded", "spawning", true, true),
                     OS_SHELVE_FIX_FINISH_UNSHELVE);
    assert_int_equal(os_shelve_recover_plan("shelved_offloaded", "spawning", true, false),
                     OS_SHELVE_FIX_UNDO_UNSHELVE);
    assert_int_equal(os_shelve_recover_plan("shelved_offloaded", "spawning", false, false),
                     OS_SHELVE_FIX_UNDO_UNSHELVE);
    assert_int_equal(os_shelve_recover_plan("shelved_offloaded", "unshelving", false, false),
                     OS_SHELVE_FIX_UNDO_UNSHELVE);
    /* offloaded but still on this host (the last save cut): taken off;
     * with a guest here it is not the offload's leftover: left alone */
    assert_int_equal(os_shelve_recover_plan("shelved_offloaded", NULL, false, false),
                     OS_SHELVE_FIX_LEAVE_HOST);
    assert_int_equal(os_shelve_recover_plan("shelved_offloaded", NULL, true, true),
                     OS_SHELVE_FIX_NONE);
    /* a build's spawning is the build's recovery, not this */
    assert_int_equal(os_shelve_recover_plan("building", "spawning", false, false),
                     OS_SHELVE_FIX_NONE);
}

static void test_offload_time(void **state)
{
    (void)state;
    assert_true(os_shelve_offload_now(0));
    assert_false(os_shelve_offload_now(-1));
    assert_false(os_shelve_offload_now(60));
    int64_t at = 1764000000;
    assert_false(os_shelve_offload_due(60, at, at + 60)); /* older than: strictly */
    assert_true(os_shelve_offload_due(60, at, at + 61));
    assert_false(os_shelve_offload_due(0, at, at + 1000));  /* at once: not the poll's */
    assert_false(os_shelve_offload_due(-1, at, at + 1000)); /* never */
    assert_false(os_shelve_offload_due(60, 0, at));         /* shelved_at unknown */
}

/* The predictor state a shelved image carries: back as it was; anything
 * else refused, never half-read. */
static void test_carried_state(void **state)
{
    (void)state;
    unsigned char st[3000];
    for (size_t k = 0; k < sizeof(st); k++)
        st[k] = (unsigned char)(k % 7 == 0 ? k * 31 : k / 100);
    struct err *err = NULL;
    char *text = os_shelve_state_encode(st, sizeof(st), &err);
    assert_non_null(text);
    assert_true(strncmp(text, "z1:", 3) == 0);
    assert_true(strlen(text) < sizeof(st)); /* compressed, even as base64 */
    size_t len = 0;
    unsigned char *back = os_shelve_state_decode(text, 4096, &len, &err);
    assert_non_null(back);
    assert_int_equal(len, sizeof(st));
    assert_memory_equal(back, st, len);
    free(back);

    /* more than the caller takes */
    assert_null(os_shelve_state_decode(text, 100, &len, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    /* damaged: a character changed inside the compressed bytes */
    text[10] = text[10] == 'A' ? 'B' : 'A';
    assert_null(os_shelve_state_decode(text, 4096, &len, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    free(text);
    /* not ours, not base64 */
    assert_null(os_shelve_state_decode("zz:AAAA", 4096, &len, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_null(os_shelve_state_decode("z1:#not base64#", 4096, &len, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_null(os_shelve_state_decode(NULL, 4096, &len, &err));
    err_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_shelve),  cmocka_unit_test(test_check_offload_unshelve),
        cmocka_unit_test(test_recover_plan),  cmocka_unit_test(test_offload_time),
        cmocka_unit_test(test_carried_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
