/* sculpt-replay's default mode: replay real per-VM usage traces through
 * allocation policies and report how well each allocation fits observed
 * use. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/replay.h"
#include "driver/replay_cli.h"
#include "driver/replay_cli_common.h"
#include "driver/trace.h"

#define REPLAY_MAX_POLICIES 16

struct replay_opts {
    enum drv_trace_format format;
    bool json;
    bool quiet;
    bool tune;
    const char *target;         /* --target-violation-rate, NULL: sculpt.conf */
    const char *config;
    struct drv_replay_entry entries[REPLAY_MAX_POLICIES];
    size_t nentries;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sculpt-replay --format FORMAT [--policy LIST] [--json] [--quiet]\n"
            "                     [--tune-baselines] [--target-violation-rate RATE]\n"
            "                     [--config FILE] PATH...\n"
            "\n"
            "Replay per-VM usage traces through allocation policies and report, per\n"
            "policy and resource, slack, violation rate and shortfall.\n"
            "\n"
            "  --format FORMAT   bitbrains, azure-cpu or alibaba-machines\n"
            "  --policy LIST     comma-separated policies (default: %s)\n"
            "  --json            print one JSON object instead of a table\n"
            "  --quiet           no progress on stderr\n"
            "  --tune-baselines  also report vpa_slo and autopilot_slo: the baselines with\n"
            "                    margin (and VPA's percentile) tuned per resource to the\n"
            "                    least slack that meets the SLO\n"
            "  --target-violation-rate RATE\n"
            "                    the SLO (default: [sculpt] target_violation_rate, 0.01)\n"
            "  --config FILE     sculpt.conf to read (default: none, built-in defaults)\n"
            "  PATH              a trace file, or a folder of *.csv / *.csv.gz files\n",
            drv_policy_names());
}

static const void *find_policy(const char *name)
{
    return drv_policy_find(name);
}

static int parse_policies(struct replay_opts *o, const char *list, struct err **err)
{
    const void *keys[REPLAY_MAX_POLICIES];
    int n = drv_replay_cli_policies(list, find_policy, drv_policy_names(), keys,
                                    REPLAY_MAX_POLICIES, err);
    if (n < 0)
        return -1;
    for (o->nentries = 0; o->nentries < (size_t)n; o->nentries++)
        o->entries[o->nentries] = (struct drv_replay_entry){
            .ops = keys[o->nentries],
            .params = DRV_POLICY_PARAMS_DEFAULT,
        };
    return 0;
}

/* The baselines --tune-baselines brings to the SLO, and the percentiles
 * searched for each (none: only the margin). */
static const double tune_vpa_percentiles[] = {0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99};
static const struct {
    const char *policy;
    const char *label;
    const double *percentiles;
    size_t npercentiles;
} tuned_baselines[] = {
    {"vpa", "vpa_slo", tune_vpa_percentiles, ARRAY_SIZE(tune_vpa_percentiles)},
    {"autopilot", "autopilot_slo", NULL, 0},
};

/* Add an entry `<baseline>_slo` after the baselines in the list. */
static int add_tuned(struct replay_opts *o, const struct drv_trace *tr, const struct cfg *cfg,
                     struct err **err)
{
    size_t n = o->nentries;
    for (size_t b = 0; b < ARRAY_SIZE(tuned_baselines); b++) {
        const struct drv_replay_entry *base = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(o->entries[i].ops->name, tuned_baselines[b].policy) == 0)
                base = &o->entries[i];
        if (!base)
            continue;
        if (o->nentries == REPLAY_MAX_POLICIES)
            return err_set(err, ERR_INVALID, "more than %d policies", REPLAY_MAX_POLICIES);
        if (!o->quiet)
            fprintf(stderr, "sculpt-replay: tuning %s to %g%% violations\n",
                    tuned_baselines[b].policy, 100 * cfg->target_violation_rate);
        struct drv_replay_entry *e = &o->entries[o->nentries];
        if (drv_replay_tune(tr, base->ops, &base->params, tuned_baselines[b].percentiles,
                            tuned_baselines[b].npercentiles, cfg->target_violation_rate,
                            &e->params, err) < 0)
            return -1;
        e->ops = base->ops;
        e->label = tuned_baselines[b].label;
        o->nentries++;
    }
    return 0;
}

/* Progress on stderr at most once a second, for runs long enough to
 * wonder about. */
static void progress_cb(size_t done, size_t total, void *opaque)
{
    drv_replay_progress_report(opaque, done, total);
}

static void print_table(const struct drv_trace *tr, const struct drv_replay_result *r,
                        double load_s)
{
    printf("format %s: %zu VMs, %llu VM-steps (%zu files, %zu rows, %zu dropped, "
           "%zu duplicates merged)\n",
           drv_trace_format_name(tr->format), r->vms, (unsigned long long)r->vm_steps,
           tr->files, tr->rows, tr->rows_dropped, tr->rows_merged);
    printf("load %.2f s, replay %.2f s (%.0f VM-steps/s over %zu policies)\n\n", load_s,
           r->elapsed_s,
           r->elapsed_s > 0 ? (double)r->vm_steps * (double)r->npolicies / r->elapsed_s : 0,
           r->npolicies);
    printf("%-8s %-14s %8s %11s %10s %12s %12s\n", "resource", "policy", "slack",
           "violations", "shortfall", "mean_alloc", "mean_use");
    for (int k = 0; k < DRV_TR_LAST; k++) {
        if (!tr->has[k])
            continue;
        for (size_t p = 0; p < r->npolicies; p++) {
            const struct drv_replay_stats *s = &r->policies[p].res[k];
            printf("%-8s %-14s %7.1f%% %10.2f%% %9.2f%% %12.4g %12.4g\n",
                   drv_trace_res_name((enum drv_trace_res)k), r->policies[p].label,
                   100 * drv_replay_slack(s), 100 * drv_replay_violation_rate(s),
                   100 * drv_replay_shortfall(s), drv_replay_mean_alloc(s),
                   drv_replay_mean_use(s));
        }
    }
}

static void print_json(const struct drv_trace *tr, const struct drv_replay_result *r,
                       double load_s)
{
    double rate = r->elapsed_s > 0 ? (double)r->vm_steps * (double)r->npolicies / r->elapsed_s
                                   : 0;
    printf("{\"format\":\"%s\",\"vms\":%zu,\"steps\":%llu,\"elapsed_s\":%.6f,"
           "\"load_s\":%.6f,\"vm_steps_per_s\":%.1f,\"files\":%zu,\"rows\":%zu,"
           "\"rows_dropped\":%zu,\"rows_merged\":%zu,\"policies\":{",
           drv_trace_format_name(tr->format), r->vms, (unsigned long long)r->vm_steps,
           r->elapsed_s, load_s, rate, tr->files, tr->rows, tr->rows_dropped,
           tr->rows_merged);
    for (size_t p = 0; p < r->npolicies; p++) {
        printf("%s\"%s\":{", p ? "," : "", r->policies[p].label);
        bool first = true;
        for (int k = 0; k < DRV_TR_LAST; k++) {
            if (!tr->has[k])
                continue;
            const struct drv_replay_stats *s = &r->policies[p].res[k];
            printf("%s\"%s\":{\"slack\":%.6f,\"violation_rate\":%.6f,\"shortfall\":%.6f,"
                   "\"mean_alloc\":%.6g,\"mean_use\":%.6g,\"reshapes_per_vm_hour\":%.6g",
                   first ? "" : ",", drv_trace_res_name((enum drv_trace_res)k),
                   drv_replay_slack(s), drv_replay_violation_rate(s), drv_replay_shortfall(s),
                   drv_replay_mean_alloc(s), drv_replay_mean_use(s),
                   drv_replay_reshapes_per_vm_hour(s));
            if (drv_replay_has_bands(s))
                printf(",\"pinball_p50\":%.6g,\"pinball_p90\":%.6g,\"coverage_p50\":%.6f,"
                       "\"coverage_p90\":%.6f,\"coverage_p99\":%.6f",
                       drv_replay_pinball(s, DRV_Q_P50), drv_replay_pinball(s, DRV_Q_P90),
                       drv_replay_coverage(s, DRV_Q_P50), drv_replay_coverage(s, DRV_Q_P90),
                       drv_replay_coverage(s, DRV_Q_P99));
            const struct drv_policy_params *pp = &r->policies[p].params;
            if (pp->per_res) {
                printf(",\"margin\":%.6g", pp->res_margin[k]);
                if (pp->res_percentile[k] > 0)
                    printf(",\"percentile\":%.6g", pp->res_percentile[k]);
            }
            printf("}");
            first = false;
        }
        printf("}");
    }
    printf("}}\n");
}

int drv_replay_usage_cli(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"policy", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"config", required_argument, NULL, 'c'},
        {"tune-baselines", no_argument, NULL, 't'},
        {"target-violation-rate", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct replay_opts o = {.format = DRV_TRACE_FORMAT_LAST};
    autoerr struct err *err = NULL;
    autocfg cfg = NULL;
    int c;

    if (parse_policies(&o, drv_policy_names(), &err) < 0)
        goto fail;
    while ((c = getopt_long(argc, argv, "f:p:jqc:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (drv_replay_cli_trace_format(optarg, &o.format, &err) < 0)
                goto fail;
            break;
        case 'p':
            if (parse_policies(&o, optarg, &err) < 0)
                goto fail;
            break;
        case 'j':
            o.json = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'c':
            o.config = optarg;
            break;
        case 't':
            o.tune = true;
            break;
        case 'r':
            o.target = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o.format == DRV_TRACE_FORMAT_LAST || optind >= argc) {
        usage(stderr);
        return 2;
    }

    cfg = drv_replay_cli_config(o.config, NULL, 0, &err);
    if (!cfg)
        goto fail;
    if (o.target && cfg_set(cfg, "sculpt", "target_violation_rate", o.target, &err) < 0) {
        err_wrap(&err, "--target-violation-rate");
        goto fail;
    }
    for (size_t i = 0; i < o.nentries; i++)
        o.entries[i].params.cfg = cfg;

    struct drv_replay_progress prog = {.quiet = o.quiet};
    drv_replay_progress_start(&prog, "loading files");
    int64_t t0 = clock_mono_ns();
    struct drv_trace *tr = drv_trace_load(o.format, (const char *const *)argv + optind,
                                          (size_t)(argc - optind), progress_cb, &prog, &err);
    if (!tr)
        goto fail;
    double load_s = (double)(clock_mono_ns() - t0) / 1e9;
    if (tr->nvms == 0) {
        err_set(&err, ERR_INVALID, "no replayable VM in %zu file(s)", tr->files);
        drv_trace_free(tr);
        goto fail;
    }

    if (o.tune && add_tuned(&o, tr, cfg, &err) < 0) {
        drv_trace_free(tr);
        goto fail;
    }

    struct drv_replay_result res;
    drv_replay_progress_start(&prog, "replaying VMs");
    if (drv_replay_run(tr, o.entries, o.nentries, progress_cb, &prog, &res, &err) < 0) {
        drv_trace_free(tr);
        goto fail;
    }
    if (o.json)
        print_json(tr, &res, load_s);
    else
        print_table(tr, &res, load_s);
    drv_replay_result_release(&res);
    drv_trace_free(tr);
    return fflush(stdout) == 0 ? 0 : 1;

fail:
    fprintf(stderr, "sculpt-replay: %s\n", err ? err->msg : "failed");
    return 1;
}
