/* sculpt-replay --arrivals: replay request-arrival traces through pool
 * policies (none, fixed, hybrid, sculpt) and report hits, idle capacity,
 * cold starts and cost (presculpt_replay.h has the definitions). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/arrival.h"
#include "driver/presculpt_replay.h"
#include "driver/replay_cli.h"
#include "driver/replay_cli_common.h"

struct arrivals_opts {
    enum drv_arrival_format format;
    enum drv_pool_policy policies[DRV_POOL_POLICY_LAST];
    size_t npolicies;
    bool json, quiet;
    const char *config;
    long fixed_size;
    const char **sets;
    size_t nsets;
    long classes;       /* --classes N: the N worst pools per policy */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sculpt-replay --arrivals --format FORMAT [--policy LIST] [--json] [--quiet]\n"
            "                     [--config FILE] [--set SECTION.OPTION=VALUE]...\n"
            "                     [--fixed-size N] [--classes N] DIR\n"
            "\n"
            "Replay the build requests of a request-arrival dataset through pool policies\n"
            "and report, per policy, the hit rate (requests served from a pool), idle_share\n"
            "(pre-sculpted vCPU-hours that sat idle / vCPU-hours the arriving guests used),\n"
            "cold starts and cost.\n"
            "\n"
            "  --format FORMAT   azure-arrivals, azure-functions or alibaba-batch\n"
            "  --policy LIST     comma-separated, among none, fixed, hybrid, sculpt (default: all)\n"
            "  --json            print one JSON object instead of a table\n"
            "  --quiet           no progress on stderr\n"
            "  --config FILE     sculpt.conf to read ([presculpt], [cost]; default: built-in)\n"
            "  --set S.O=V       override one option, e.g. --set presculpt.idle_budget=0.05\n"
            "  --fixed-size N    members per class of the `fixed` policy (default 1)\n"
            "  --classes N       also list, per policy, the N classes with most cold starts\n"
            "                    and the N pools with most idle capacity\n"
            "  DIR               the dataset folder, as its SOURCE.md describes it\n");
}

/* A policy's key for drv_replay_cli_policies(): its slot here. */
static const enum drv_pool_policy pool_policies[DRV_POOL_POLICY_LAST] = {
    DRV_POOL_POLICY_NONE,
    DRV_POOL_POLICY_FIXED,
    DRV_POOL_POLICY_HYBRID,
    DRV_POOL_POLICY_SCULPT,
};

static const void *find_policy(const char *name)
{
    int p = drv_pool_policy_parse(name);
    return p < 0 ? NULL : &pool_policies[p];
}

static int parse_policies(struct arrivals_opts *o, const char *list, struct err **err)
{
    const void *keys[DRV_POOL_POLICY_LAST];
    int n = drv_replay_cli_policies(list, find_policy, "none, fixed, hybrid, sculpt", keys,
                                    DRV_POOL_POLICY_LAST, err);
    if (n < 0)
        return -1;
    for (o->npolicies = 0; o->npolicies < (size_t)n; o->npolicies++)
        o->policies[o->npolicies] = *(const enum drv_pool_policy *)keys[o->npolicies];
    return 0;
}

/* --fixed-size, --classes: a whole number from 0 to @max. */
static bool parse_count(const char *arg, long max, long *out)
{
    char *end;
    *out = strtol(arg, &end, 10);
    return !*end && end != arg && *out >= 0 && *out <= max;
}

static void progress_cb(uint64_t done, uint64_t total, void *opaque)
{
    drv_replay_progress_report(opaque, done, total);
}

static void print_table(const struct drv_arrival_trace *tr, int64_t bin_s,
                        const struct drv_pool_result *r, size_t n, double load_s)
{
    printf("format %s: %llu requests in %zu records, %zu classes in %zu groups "
           "(%zu files, %zu rows, %zu dropped), load %.2f s\n",
           drv_arrival_format_name(tr->format), (unsigned long long)tr->guests, tr->narr,
           tr->nclasses, tr->ngroups, tr->files, tr->rows, tr->rows_dropped, load_s);
    if (n > 0)
        printf("interval %lld s; scored: %llu requests, %.1f vCPU-hours used%s\n\n",
               (long long)bin_s, (unsigned long long)r[0].requests, r[0].used_vcpu_s / 3600,
               tr->score_from == INT64_MAX ? " (no lifetime known: idle_share unknown)" : "");
    printf("%-8s %9s %11s %12s %12s %10s %10s %10s\n", "policy", "hit_rate", "idle_share",
           "cold_starts", "cost", "made", "expired", "destroyed");
    for (size_t i = 0; i < n; i++) {
        double idle = drv_pool_idle_share(&r[i]);
        printf("%-8s %8.2f%% %10.2f%% %12llu %12.2f %10llu %10llu %10llu\n",
               drv_pool_policy_name(r[i].policy), 100 * drv_pool_hit_rate(&r[i]),
               isnan(idle) ? NAN : 100 * idle, (unsigned long long)r[i].cold,
               drv_pool_cost(&r[i]), (unsigned long long)r[i].made,
               (unsigned long long)r[i].expired, (unsigned long long)r[i].destroyed);
    }
}

struct worst {
    size_t slot;
    double v;
};

static int worst_cmp(const void *a, const void *b)
{
    const struct worst *x = a, *y = b;
    return x->v < y->v ? 1 : x->v > y->v ? -1 : (x->slot > y->slot) - (x->slot < y->slot);
}

/* Slot k's key: classes, then groups, then families. */
static const char *slot_key(const struct drv_arrival_trace *tr, size_t k)
{
    if (k < tr->nclasses)
        return tr->classes[k].key;
    k -= tr->nclasses;
    return k < tr->ngroups ? tr->groups[k].key : tr->families[k - tr->ngroups].key;
}

/* The classes with most cold starts and the pools with most idle vCPU-hours. */
static void print_worst(const struct drv_arrival_trace *tr, const struct drv_pool_result *r,
                        size_t n)
{
    size_t nslots = tr->nclasses + tr->ngroups + tr->nfamilies;
    struct worst *w = xcalloc(nslots, sizeof(*w));
    printf("\n%s: classes with most cold starts\n%-40s %12s %9s %12s\n",
           drv_pool_policy_name(r->policy), "class", "requests", "hit_rate", "idle_vcpu_h");
    for (size_t k = 0; k < tr->nclasses; k++)
        w[k] = (struct worst){k, (double)(r->slots[k].requests - r->slots[k].hits)};
    qsort(w, tr->nclasses, sizeof(*w), worst_cmp);
    for (size_t i = 0; i < n && i < tr->nclasses; i++) {
        const struct drv_pool_slot_result *s = &r->slots[w[i].slot];
        printf("%-40.40s %12llu %8.2f%% %12.1f\n", tr->classes[w[i].slot].key,
               (unsigned long long)s->requests,
               s->requests ? 100.0 * (double)s->hits / (double)s->requests : 0,
               s->idle_vcpu_s / 3600);
    }
    printf("%s: pools with most idle capacity\n%-40s %12s %9s %12s\n",
           drv_pool_policy_name(r->policy), "pool", "requests", "hit_rate", "idle_vcpu_h");
    for (size_t k = 0; k < nslots; k++)
        w[k] = (struct worst){k, r->slots[k].idle_vcpu_s};
    qsort(w, nslots, sizeof(*w), worst_cmp);
    for (size_t i = 0; i < n && i < nslots && w[i].v > 0; i++) {
        size_t k = w[i].slot;
        const struct drv_pool_slot_result *s = &r->slots[k];
        printf("%-40.40s %12llu %8.2f%% %12.1f\n",
               slot_key(tr, k),
               (unsigned long long)s->requests,
               s->requests ? 100.0 * (double)s->hits / (double)s->requests : 0,
               s->idle_vcpu_s / 3600);
    }
    free(w);
}

static void print_num(const char *name, double v, bool comma)
{
    if (isfinite(v))
        printf("%s\"%s\":%.6g", comma ? "," : "", name, v);
    else
        printf("%s\"%s\":null", comma ? "," : "", name);
}

static void print_json(const struct drv_arrival_trace *tr, int64_t bin_s,
                       const struct drv_pool_result *r, size_t n, double load_s)
{
    printf("{\"format\":\"%s\",\"interval_s\":%lld,\"requests\":%llu,\"records\":%zu,"
           "\"classes\":%zu,\"groups\":%zu,\"files\":%zu,\"rows\":%zu,\"rows_dropped\":%zu",
           drv_arrival_format_name(tr->format), (long long)bin_s,
           (unsigned long long)(n ? r[0].requests : 0), tr->narr, tr->nclasses, tr->ngroups,
           tr->files, tr->rows, tr->rows_dropped);
    print_num("used_vcpu_h", n ? r[0].used_vcpu_s / 3600 : 0, true);
    print_num("load_s", load_s, true);
    printf(",\"policies\":{");
    for (size_t i = 0; i < n; i++) {
        printf("%s\"%s\":{", i ? "," : "", drv_pool_policy_name(r[i].policy));
        print_num("hit_rate", drv_pool_hit_rate(&r[i]), false);
        print_num("idle_share", drv_pool_idle_share(&r[i]), true);
        printf(",\"cold_starts\":%llu,\"hits\":%llu", (unsigned long long)r[i].cold,
               (unsigned long long)r[i].hits);
        print_num("cost", drv_pool_cost(&r[i]), true);
        print_num("cost_idle", r[i].cost_idle, true);
        print_num("cost_cold", r[i].cost_cold, true);
        print_num("cost_reshape", r[i].cost_reshape, true);
        printf(",\"reshapes\":%llu", (unsigned long long)r[i].reshapes);
        print_num("idle_vcpu_h", r[i].idle_vcpu_s / 3600, true);
        print_num("waste_vcpu_h", r[i].waste_vcpu_s / 3600, true);
        printf(",\"members_made\":%llu,\"members_expired\":%llu,\"members_destroyed\":%llu",
               (unsigned long long)r[i].made, (unsigned long long)r[i].expired,
               (unsigned long long)r[i].destroyed);
        if (r[i].policy == DRV_POOL_POLICY_SCULPT)
            print_num("budget_bound_share", r[i].budget_bound_share, true);
        print_num("elapsed_s", r[i].elapsed_s, true);
        printf("}");
    }
    printf("}}\n");
}

int drv_replay_arrivals_cli(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"arrivals", no_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'},
        {"policy", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"fixed-size", required_argument, NULL, 'n'},
        {"classes", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct arrivals_opts o = {.format = DRV_ARRIVAL_FORMAT_LAST, .fixed_size = 1};
    autoerr struct err *err = NULL;
    autocfg cfg = NULL;
    autofree const char **sets = xcalloc((size_t)argc + 1, sizeof(*sets));
    struct drv_arrival_trace *tr = NULL;
    int c, rc = 1;

    o.sets = sets;
    if (parse_policies(&o, "none,fixed,hybrid,sculpt", &err) < 0)
        goto fail;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            break;
        case 'f': {
            int f = drv_arrival_format_parse(optarg);
            if (f < 0) {
                err_set(&err, ERR_INVALID,
                        "unknown format `%s` (azure-arrivals, azure-functions, alibaba-batch)",
                        optarg);
                goto fail;
            }
            o.format = (enum drv_arrival_format)f;
            break;
        }
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
        case 's':
            o.sets[o.nsets++] = optarg;
            break;
        case 'n':
            if (!parse_count(optarg, 1000000, &o.fixed_size)) {
                err_set(&err, ERR_INVALID, "--fixed-size `%s`: a count from 0 to 1000000",
                        optarg);
                goto fail;
            }
            break;
        case 'k':
            if (!parse_count(optarg, 100000, &o.classes)) {
                err_set(&err, ERR_INVALID, "--classes `%s`: a count", optarg);
                goto fail;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o.format == DRV_ARRIVAL_FORMAT_LAST || optind != argc - 1) {
        usage(stderr);
        return 2;
    }

    cfg = drv_replay_cli_config(o.config, o.sets, o.nsets, &err);
    if (!cfg)
        goto fail;

    int64_t t0 = clock_mono_ns();
    tr = drv_arrival_load(o.format, argv[optind], &err);
    if (!tr)
        goto fail;
    double load_s = (double)(clock_mono_ns() - t0) / 1e9;

    struct drv_pool_replay_opts ro = {.fixed_size = (uint32_t)o.fixed_size,
                                      .per_slot = o.classes > 0};
    drv_presculpt_params_from_cfg(cfg, &ro.params);
    struct drv_pool_result res[DRV_POOL_POLICY_LAST];
    struct drv_replay_progress prog = {.quiet = o.quiet, .unit = " intervals"};
    drv_replay_progress_start(&prog, "replaying");
    int64_t bin_s = 0;
    if (drv_pool_replay(tr, &ro, o.policies, o.npolicies, progress_cb, &prog, res, &bin_s,
                        &err) < 0)
        goto fail;
    if (o.json)
        print_json(tr, bin_s, res, o.npolicies, load_s);
    else
        print_table(tr, bin_s, res, o.npolicies, load_s);
    if (o.classes > 0 && !o.json)
        for (size_t i = 0; i < o.npolicies; i++)
            print_worst(tr, &res[i], (size_t)o.classes);
    for (size_t i = 0; i < o.npolicies; i++)
        free(res[i].slots);
    rc = fflush(stdout) == 0 ? 0 : 1;
    drv_arrival_trace_free(tr);
    return rc;

fail:
    drv_arrival_trace_free(tr);
    fprintf(stderr, "sculpt-replay: %s\n", err ? err->msg : "failed");
    return 1;
}
