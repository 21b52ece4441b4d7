/* sculpt-replay --bench-predict: what prediction costs on a real trace.
 *
 * Every VM of the trace warms a predictor (one fleet) on the first half of
 * its samples, in time order across VMs as the service would see them;
 * then, with the state frozen, the predictor is asked again and again for a
 * blueprint ([sculpt] blueprint_horizon at blueprint_step) and for the
 * next step alone, and the VPA recommender, warmed on the same samples, for
 * its recommendation: the baseline measured in the same run.
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

/* Warm every VM on its first half, in time order across VMs. */
static void bench_warm(const struct drv_trace *tr, struct bench_vm *bv,
                       const struct drv_cost_model *cm)
{
    size_t *next = xcalloc(tr->nvms, sizeof(size_t));
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t v = 0; v < tr->nvms; v++)
            if (next[v] < bv[v].half &&
                (best == SIZE_MAX || tr->vms[v].t[next[v]] < tr->vms[best].t[next[best]]))
                best = v;
        if (best == SIZE_MAX)
            break;
        const struct drv_trace_vm *vm = &tr->vms[best];
        size_t i = next[best]++;
        double cap[DRV_TR_LAST], use[DRV_TR_LAST], alloc[DRV_TR_LAST];
        struct drv_res u = bench_use(tr, vm, i, cap, use);
        struct drv_predict_step st;
        drv_predictor_next(bv[best].p, vm->t[i], cm, &st);
        drv_predictor_observe(bv[best].p, vm->t[i], &u);
        struct drv_policy_sample s = {.t = vm->t[i], .cpu_avg = 0};
        memcpy(s.use, use, sizeof(use));
        memcpy(s.cap, cap, sizeof(cap));
        drv_policy_vpa.decide(bv[best].vpa, s.t, cap, alloc);
        drv_policy_vpa.observe(bv[best].vpa, &s, alloc);
    }
    free(next);
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
    int format = -1, c, rc = 1;
    bool json = false;
    const char *config = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:jc:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            break;
        case 'f':
            format = drv_trace_format_parse(optarg);
            if (format < 0) {
                err_set(&err, ERR_INVALID,
                        "unknown format `%s` (bitbrains, azure-cpu, alibaba-machines)", optarg);
                goto fail;
            }
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
    if (format < 0 || optind >= argc) {
        bench_usage(stderr);
        return 2;
    }
    cfg = config ? cfg_load(config, &err) : cfg_new_defaults();
    if (!cfg)
        goto fail;
    struct drv_trace *tr = drv_trace_load((enum drv_trace_format)format,
                                          (const char *const *)argv + optind,
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
    bench_warm(tr, bv, &cm);

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
        int64_t t = tr->vms[v].t[bv[v].half];
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
        bench_use(tr, &tr->vms[v], bv[v].half, cap, use);
        for (size_t i = 0; i < per_vm; i++) {
            drv_policy_vpa.decide(bv[v].vpa, tr->vms[v].t[bv[v].half], cap, alloc);
            sink += alloc[0];
        }
    }
    double vpa_us = (double)(clock_mono_ns() - t0) / 1e3 / (double)calls;

    if (json)
        printf("{\"format\":\"%s\",\"vms\":%zu,\"calls\":%zu,\"blueprint_steps\":%d,"
               "\"blueprint_us\":%.3f,\"next_us\":%.3f,\"vpa_decide_us\":%.4f,\"checksum\":%g}\n",
               drv_trace_format_name(tr->format), tr->nvms, calls, nsteps, blueprint_us, next_us,
               vpa_us, sink);
    else
        printf("%zu VMs, %zu calls each: blueprint (%d steps) %.2f us, next step %.2f us, "
               "VPA recommendation %.3f us\n",
               tr->nvms, calls, nsteps, blueprint_us, next_us, vpa_us);
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
