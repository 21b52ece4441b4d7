/* sculpt-replay --pack on a synthetic fleet whose answer is known: four
 * batch guests idle for days and then run flat out together, four others
 * stay idle.  Perfect foresight fits them all on one host; without it a
 * guest's past says nothing of the day its tenant's batch starts, so
 * sculpt must keep the host SLO by its long run and the fleet's history,
 * not by luck. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/host.h"
#include "driver/pack.h"

#define STEP 300
#define DAYS 6
#define NSTEPS (DAYS * 86400 / STEP)
#define NVMS 8

struct fleet {
    struct drv_trace tr;
    struct drv_trace_vm vm[NVMS];
    char id[NVMS][16];
    int64_t t[NSTEPS];
    float use[NVMS][NSTEPS];
    float cap[NSTEPS];
};

/* Even guests are the batch: 0.05 of their one unit, 0.9 on day 4. */
static void fleet_init(struct fleet *f)
{
    memset(f, 0, sizeof(*f));
    for (int s = 0; s < NSTEPS; s++) {
        f->t[s] = 1500000000 + (int64_t)s * STEP;
        f->cap[s] = 1;
    }
    for (int v = 0; v < NVMS; v++) {
        snprintf(f->id[v], sizeof(f->id[v]), "v%d", v);
        for (int s = 0; s < NSTEPS; s++) {
            bool busy = v % 2 == 0 && s >= 4 * 86400 / STEP && s < 5 * 86400 / STEP;
            f->use[v][s] = busy ? 0.9f : 0.05f;
        }
        struct drv_trace_vm *vm = &f->vm[v];
        vm->id = f->id[v];
        vm->n = NSTEPS;
        vm->t = f->t;
        vm->use[DRV_TR_CPU] = f->use[v];
        vm->cap[DRV_TR_CPU] = f->cap;
    }
    f->tr = (struct drv_trace){.format = DRV_TRACE_AZURE_CPU, .step_s = STEP, .nvms = NVMS,
                               .vms = f->vm};
    f->tr.has[DRV_TR_CPU] = true;
}

static const struct drv_pack_stats *stats_of(const struct drv_pack_result *r, const char *name)
{
    for (size_t i = 0; i < r->npolicies; i++)
        if (strcmp(r->policies[i].name, name) == 0)
            return &r->policies[i];
    fail_msg("no policy %s", name);
    return NULL;
}

static void run(const struct fleet *f, struct cfg *cfg, struct drv_pack_result *out)
{
    struct drv_host_limits lim;
    drv_host_limits_from_cfg(cfg, &lim);
    struct err *err = NULL;
    struct drv_host *h = drv_host_parse("cpus=4,mem_gib=16", &lim, &err);
    assert_non_null(h);
    const char *names[] = {"static", "sculpt", "sculpt-warm", "oracle"};
    const struct drv_pack_policy *pols[4];
    for (int i = 0; i < 4; i++)
        assert_non_null(pols[i] = drv_pack_policy_find(names[i]));
    if (drv_pack_run(&f->tr, h, cfg, pols, 4, NULL, NULL, out, &err) < 0)
        fail_msg("pack: %s", err->msg);
    drv_host_free(h);
}

static void test_pack_known_answer(void **state)
{
    (void)state;
    static struct fleet f;
    fleet_init(&f);
    struct cfg *cfg = cfg_new_defaults();
    struct drv_pack_result r;
    run(&f, cfg, &r);
    const struct drv_pack_stats *st = stats_of(&r, "static");
    const struct drv_pack_stats *cold = stats_of(&r, "sculpt");
    const struct drv_pack_stats *warm = stats_of(&r, "sculpt-warm");
    const struct drv_pack_stats *orc = stats_of(&r, "oracle");
    /* four flavors of one unit per 4-CPU host */
    assert_int_equal(st->hosts_peak, 2);
    assert_true(st->host_violation_rate == 0);
    /* foresight: 4 x 0.9 + 4 x 0.05 fits the host */
    assert_int_equal(orc->hosts_peak, 1);
    assert_true(orc->host_violation_rate == 0 && orc->guest_violation_rate == 0);
    /* sculpt keeps the host SLO whether or not its fleet knows the batch;
     * the warm prior was trained (on the other half) */
    assert_true(cold->hosts_peak <= st->hosts_peak && warm->hosts_peak <= st->hosts_peak);
    assert_true(cold->host_violation_rate <= 0.01);
    assert_true(warm->host_violation_rate <= 0.01);
    assert_true(warm->prior_s > 0 && cold->prior_s == 0);
    assert_int_equal(cold->placed + cold->unplaced, NVMS);
    assert_int_equal(warm->vm_steps, (uint64_t)NVMS * NSTEPS);

    /* deterministic */
    struct drv_pack_result r2;
    run(&f, cfg, &r2);
    for (size_t i = 0; i < r.npolicies; i++) {
        const struct drv_pack_stats *a = &r.policies[i], *b = &r2.policies[i];
        assert_int_equal(a->hosts_peak, b->hosts_peak);
        assert_true(a->host_violation_rate == b->host_violation_rate);
        assert_true(a->guest_violation_rate == b->guest_violation_rate);
        assert_true(a->cost == b->cost);
    }
    drv_pack_result_release(&r2);
    drv_pack_result_release(&r);

    /* an operator who trades the host SLO for hosts: each guest counted at
     * its long-run median packs everything on one host, and the batch day
     * shows it (the host runs over while the batch runs) */
    cfg->engine_longrun_quantile = 0.5;
    run(&f, cfg, &r);
    const struct drv_pack_stats *loose = stats_of(&r, "sculpt-warm");
    assert_int_equal(loose->hosts_peak, 1);
    drv_pack_result_release(&r);
    cfg_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_known_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
