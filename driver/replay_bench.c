/* sculpt-replay --bench-predict: what prediction costs on a real trace,
 * and how its blueprints hold over their horizon.
 *
 * Every VM of the trace warms a predictor (one fleet) on the first half of
 * its samples, in time order across VMs as the service would see them;
 * then, with the state frozen, the predictor is asked again and again for a
 * blueprint ([sculpt] blueprint_horizon at blueprint_step) and for the
 * next step alone, and the VPA recommender, warmed on the same samples, for
 * its recommendation: the baseline measured in the same run.  Last, the
 * second half is fed on, and every BENCH_EVERY samples a blueprint at the
 * trace's step is scored against the samples that follow it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "driver/policy.h"
#include "driver/predict.h"
#include "driver/replay_cli.h"
#include "driver/replay_cli_common.h"
#include "driver/trace.h"

/* Calls timed per figure, spread over the VMs. */
#define BENCH_CALLS 20000

static const enum drv_res_kind bench_dim[DRV_TR_LAST] = {
    [DRV_TR_CPU] = DRV_RES_VCPU,
    [DRV_TR_MEMORY] = DRV_RES_MEM_MIB,
    [DRV_TR_NET] = DRV_RES_NET_IN_MBPS,
    [DRV_TR_DISK] = DRV_RES_DISK_READ_MBPS,
};

static void bench_usage(FILE *out)
{
    fprintf(out, "usage: sculpt-replay --bench-predict --format FORMAT [--json] [--config FILE] "
                 "PATH...\n"
                 "\n"
                 "Time one blueprint, one next-step prediction and one VPA recommendation on\n"
                 "predictors warmed on the first half of each VM of a trace.\n");
}

struct bench_vm {
    struct drv_predictor *p;
    void *vpa;
    size_t half;             /* samples used to warm */
};

static struct drv_res bench_use(const struct drv_trace *tr, const struct drv_trace_vm *vm,
                                size_t i, double cap[DRV_TR_LAST], double use[DRV_TR_LAST])
{
    struct drv_res r = drv_res_zero();
    for (int k = 0; k < DRV_TR_LAST; k++) {
        cap[k] = tr->has[k] ? vm->cap[k][i] : 0;
        use[k] = tr->has[k] ? (vm->use[k][i] < cap[k] ? vm->use[k][i] : cap[k]) : 0;
        if (tr->has[k])
            r.v[bench_dim[k]] = use[k];
    }
    return r;
}

/* Horizon calibration: blueprints of PR_BENCH_HSTEPS trace steps, one every
 * PR_BENCH_EVERY samples, scored against the samples that follow. */
#define BENCH_HSTEPS 6
#define BENCH_EVERY 12

struct bench_horizon {
    uint64_t n[BENCH_HSTEPS][DRV_TR_LAST];
    uint64_t in[BENCH_HSTEPS][DRV_TR_LAST][DRV_Q_LAST];
};

static void bench_score(const struct drv_trace *tr, const struct drv_trace_vm *vm, size_t i,
                        struct bench_vm *b, const struct drv_cost_model *cm,
                        struct bench_horizon *hz)
{
    if (i + BENCH_HSTEPS >= vm->n)
        return;
    struct drv_blueprint *bp = drv_predictor_blueprint(b->p, vm->t[i], BENCH_HSTEPS * tr->step_s,
                                                       tr->step_s, cm, NULL);
    if (!bp)
        return;
    for (size_t h = 1; h <= BENCH_HSTEPS; h++) {
        /* the step whose interval ends at or after the sample */
        int32_t s = drv_blueprint_step_at(bp, vm->t[i + h] - 1);
        if (s < 0)
            continue;
        double cap[DRV_TR_LAST], use[DRV_TR_LAST];
        bench_use(tr, vm, i + h, cap, use);
        for (int k = 0; k < DRV_TR_LAST; k++) {
            if (!tr->has[k])
                continue;
            hz->n[s][k]++;
            for (int q = 0; q < DRV_Q_LAST; q++)
                hz->in[s][k][q] +=
                    use[k] <= drv_blueprint_get(bp, s, bench_dim[k], (enum drv_quantile)q);
        }
    }
    drv_blueprint_free(bp);
}

/* The sample the timed calls are made at: the first after the warm-up, or
 * the last one of a VM too short to have a second half (one sample). */
static size_t bench_first_after(const struct drv_trace_vm *vm, const struct bench_vm *b)
{
    return b->half < vm->n ? b->half : vm->n - 1;
}

/* Feed every VM its samples [from, to) (from = 0: the first half warms
 * VPA too), in time order across VMs; with hz, score blueprints as it
 * goes. */
static void bench_feed(const struct drv_trace *tr, struct bench_vm *bv,
                       const struct drv_cost_model *cm, bool warm, struct bench_horizon *hz)
{
    size_t *next = xcalloc(tr->nvms, sizeof(size_t));
    for (size_t v = 0; v < tr->nvms; v++)
        next[v] = warm ? 0 : bv[v].half;
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t v = 0; v < tr->nvms; v++) {
            size_t end = warm ? bv[v].half : tr->vms[v].n;
            if (next[v] < end &&
                (best == SIZE_MAX || tr->vms[v].t[next[v]] < tr->vms[best].t[next[best]]))
                best = v;
        }
        if (best == SIZE_MAX)
            break;
        const struct drv_trace_vm *vm = &tr->vms[best];
        size_t i = next[best]++;
        double cap[DRV_TR_LAST], use[DRV_TR_LAST], alloc[DRV_TR_LAST];
        struct drv_res u = bench_use(tr, vm, i, cap, use);
        struct drv_predict_step st;
        drv_predictor_next(bv[best].p, vm->t[i], cm, &st);
        drv_predictor_observe(bv[best].p, vm->t[i], &u);
        if (hz && i % BENCH_EVERY == 0)
            bench_score(tr, vm, i, &bv[best], cm, hz);
        if (!warm)
            continue;
        struct drv_policy_sample s = {.t = vm->t[i], .cpu_avg = 0};
        memcpy(s.use, use, sizeof(use));
        memcpy(s.cap, cap, sizeof(cap));
        drv_policy_vpa.decide(bv[best].vpa, s.t, cap, alloc);
        drv_policy_vpa.observe(bv[best].vpa, &s, alloc);
    }
    free(next);
}

/* The horizon figures as JSON: per resource, per step, the share of
 * samples at or below p50, p90, p99. */
static void bench_print_horizon(const struct drv_trace *tr, const struct bench_horizon *hz)
{
    printf(",\"horizon_step_s\":%d,\"horizon_coverage\":{", tr->step_s);
    bool first = true;
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!tr->has[k])
            continue;
        printf("%s\"%s\":[", first ? "" : ",", drv_trace_res_name((enum drv_trace_res)k));
        first = false;
        for (int s = 0; s < BENCH_HSTEPS; s++) {
            double n = hz->n[s][k] ? (double)hz->n[s][k] : 1;
            printf("%s[%.4f,%.4f,%.4f]", s ? "," : "", hz->in[s][k][0] / n, hz->in[s][k][1] / n,
                   hz->in[s][k][2] / n);
        }
        printf("]");
    }
    printf("}");
}

int drv_replay_bench_cli(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bench-predict", no_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    autoerr struct err *err = NULL;
    autocfg cfg = NULL;
    enum drv_trace_format format = DRV_TRACE_FORMAT_LAST;
    int c, rc = 1;
    bool json = false;
    const char *config = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:jc:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            break;
        case 'f':
            if (drv_replay_cli_trace_format(optarg, &format, &err) < 0)
                goto fail;
            break;
        case 'j':
            json = true;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            bench_usage(stdout);
            return 0;
        default:
            bench_usage(stderr);
            return 2;
        }
    }
    if (format == DRV_TRACE_FORMAT_LAST || optind >= argc) {
        bench_usage(stderr);
        return 2;
    }
    cfg = config ? cfg_load(config, &err) : cfg_new_defaults();
    if (!cfg)
        goto fail;
    struct drv_trace *tr = drv_trace_load(format, (const char *const *)argv + optind,
                                          (size_t)(argc - optind), NULL, NULL, &err);
    if (!tr)
        goto fail;
    if (tr->nvms == 0) {
        err_set(&err, ERR_INVALID, "no replayable VM in %zu file(s)", tr->files);
        drv_trace_free(tr);
        goto fail;
    }

    struct drv_predict_config pc;
    struct drv_cost_model cm;
    drv_predict_config_from_cfg(cfg, &pc);
    drv_cost_model_from_cfg(cfg, &cm);
    struct drv_fleet *fleet = drv_fleet_new(&pc);
    struct bench_vm *bv = xcalloc(tr->nvms, sizeof(*bv));
    struct drv_policy_params params = DRV_POLICY_PARAMS_DEFAULT;
    for (size_t v = 0; v < tr->nvms; v++) {
        const struct drv_trace_vm *vm = &tr->vms[v];
        struct drv_predict_request req = {.name = vm->id, .boot_s = vm->t[0]};
        struct drv_policy_vm info = {.id = vm->id, .step_s = tr->step_s};
        for (int k = 0; k < DRV_TR_LAST; k++) {
            info.has[k] = tr->has[k];
            info.cap0[k] = tr->has[k] ? vm->cap[k][0] : 0;
            if (tr->has[k]) {
                req.ceiling.v[bench_dim[k]] = vm->cap[k][0];
                req.resources |= 1u << bench_dim[k];
            }
        }
        bv[v].p = drv_predictor_new(fleet, &req, &pc, NULL);
        bv[v].vpa = xzalloc(drv_policy_vpa.state_size);
        drv_policy_vpa.init(bv[v].vpa, &info, &params, NULL);
        bv[v].half = vm->n / 2 ? vm->n / 2 : 1;
    }
    bench_feed(tr, bv, &cm, true, NULL);

    size_t per_vm = BENCH_CALLS / tr->nvms + 1, calls = per_vm * tr->nvms;
    int32_t horizon = (int32_t)cfg->blueprint_horizon_s, step = (int32_t)cfg->blueprint_step_s;
    int32_t nsteps = 0;
    double sink = 0;

    int64_t t0 = clock_mono_ns();
    for (size_t v = 0; v < tr->nvms; v++) {
        int64_t now = tr->vms[v].t[bv[v].half - 1];
        for (size_t i = 0; i < per_vm; i++) {
            struct drv_blueprint *bp = drv_predictor_blueprint(bv[v].p, now, horizon, step, &cm,
                                                               &err);
            if (!bp)
                goto cleanup_bench;
            nsteps = bp->nsteps;
            sink += bp->alloc[0];
            drv_blueprint_free(bp);
        }
    }
    double blueprint_us = (double)(clock_mono_ns() - t0) / 1e3 / (double)calls;

    t0 = clock_mono_ns();
    for (size_t v = 0; v < tr->nvms; v++) {
        int64_t t = tr->vms[v].t[bench_first_after(&tr->vms[v], &bv[v])];
        for (size_t i = 0; i < per_vm; i++) {
            struct drv_predict_step st;
            drv_predictor_next(bv[v].p, t, &cm, &st);
            sink += st.alloc.v[0];
        }
    }
    double next_us = (double)(clock_mono_ns() - t0) / 1e3 / (double)calls;

    t0 = clock_mono_ns();
    for (size_t v = 0; v < tr->nvms; v++) {
        double cap[DRV_TR_LAST], use[DRV_TR_LAST], alloc[DRV_TR_LAST];
        size_t at = bench_first_after(&tr->vms[v], &bv[v]);
        bench_use(tr, &tr->vms[v], at, cap, use);
        for (size_t i = 0; i < per_vm; i++) {
            drv_policy_vpa.decide(bv[v].vpa, tr->vms[v].t[at], cap, alloc);
            sink += alloc[0];
        }
    }
    double vpa_us = (double)(clock_mono_ns() - t0) / 1e3 / (double)calls;

    /* then the second half, scoring blueprints against what came */
    struct bench_horizon *hz = xzalloc(sizeof(*hz));
    bench_feed(tr, bv, &cm, false, hz);
    if (json) {
        printf("{\"format\":\"%s\",\"vms\":%zu,\"calls\":%zu,\"blueprint_steps\":%d,"
               "\"blueprint_us\":%.3f,\"next_us\":%.3f,\"vpa_decide_us\":%.4f,\"checksum\":%g",
               drv_trace_format_name(tr->format), tr->nvms, calls, nsteps, blueprint_us, next_us,
               vpa_us, sink);
        bench_print_horizon(tr, hz);
        printf("}\n");
    } else {
        printf("%zu VMs, %zu calls each: blueprint (%d steps) %.2f us, next step %.2f us, "
               "VPA recommendation %.3f us\n",
               tr->nvms, calls, nsteps, blueprint_us, next_us, vpa_us);
        for (int k = 0; k < DRV_TR_LAST; k++) {
            if (!tr->has[k])
                continue;
            printf("%-6s coverage p50/p90/p99 by blueprint step (%d s):",
                   drv_trace_res_name((enum drv_trace_res)k), tr->step_s);
            for (int st = 0; st < BENCH_HSTEPS; st++) {
                double n = hz->n[st][k] ? (double)hz->n[st][k] : 1;
                printf("  +%d %.1f/%.1f/%.1f", st + 1, 100 * hz->in[st][k][0] / n,
                       100 * hz->in[st][k][1] / n, 100 * hz->in[st][k][2] / n);
            }
            printf("\n");
        }
    }
    free(hz);
    rc = fflush(stdout) == 0 ? 0 : 1;

cleanup_bench:
    for (size_t v = 0; v < tr->nvms; v++) {
        drv_predictor_free(bv[v].p);
        free(bv[v].vpa);
    }
    free(bv);
    drv_fleet_free(fleet);
    drv_trace_free(tr);
    if (rc == 0)
        return 0;
fail:
    fprintf(stderr, "sculpt-replay: %s\n", err ? err->msg : "failed");
    return 1;
}
