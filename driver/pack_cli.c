/* sculpt-replay --pack: replay a trace's VMs onto hosts of a given size
 * under every packing policy and compare hosts, violations, reshapes,
 * contiguity and cost side by side (driver/pack.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/pack.h"
#include "driver/replay_cli.h"
#include "driver/replay_cli_common.h"
#include "driver/trace.h"

#define PACK_MAX_POLICIES 8

struct pack_opts {
    enum drv_trace_format format;
    const char *host;
    const char *config;
    bool json, quiet;
    const struct drv_pack_policy *pols[PACK_MAX_POLICIES];
    size_t npols;
};

static void pack_usage(FILE *out)
{
    fprintf(out,
            "usage: sculpt-replay --pack --format FORMAT [--host SPEC|FILE] [--policy LIST]\n"
            "                     [--json] [--quiet] [--config FILE] PATH...\n"
            "\n"
            "Replay a trace's VMs, arriving in trace order, onto hosts of one size and\n"
            "report per policy: hosts needed (peak, mean), VMs per host, host violation\n"
            "rate, guests affected, reshapes per VM-hour, contiguity and total cost.\n"
            "\n"
            "  --format FORMAT   bitbrains, azure-cpu or alibaba-machines\n"
            "  --host SPEC|FILE  host size, e.g. cpus=32,mem_gib=256,sockets=2,threads=2,\n"
            "                    or a file (capabilities XML or key=value lines);\n"
            "                    default cpus=32,mem_gib=256\n"
            "  --policy LIST     comma-separated (default: %s)\n"
            "  --json            one JSON object instead of a table\n"
            "  --quiet           no progress on stderr\n"
            "  --config FILE     sculpt.conf (prices, [engine], [predict], ratios for sculpt)\n"
            "  PATH              a trace file, or a folder of *.csv / *.csv.gz files\n",
            drv_pack_policy_names());
}

static const void *pack_find_policy(const char *name)
{
    return drv_pack_policy_find(name);
}

static int pack_parse_policies(struct pack_opts *o, const char *list, struct err **err)
{
    const void *keys[PACK_MAX_POLICIES];
    int n = drv_replay_cli_policies(list, pack_find_policy, drv_pack_policy_names(), keys,
                                    PACK_MAX_POLICIES, err);
    if (n < 0)
        return -1;
    for (o->npols = 0; o->npols < (size_t)n; o->npols++)
        o->pols[o->npols] = keys[o->npols];
    return 0;
}

/* --host: a file when one exists at that path, else a description. */
static struct drv_host *pack_host(const char *arg, const struct cfg *cfg, struct err **err)
{
    struct drv_host_limits lim;
    drv_host_limits_from_cfg(cfg, &lim);
    struct stat st;
    if (stat(arg, &st) == 0)
        return drv_host_load(arg, &lim, err);
    struct drv_host *h = drv_host_parse(arg, &lim, err);
    if (!h)
        err_wrap(err, "--host `%s`", arg);
    return h;
}

struct pack_progress {
    bool quiet;
    int64_t last_ms;
};

static void pack_progress_cb(size_t done, size_t total, void *opaque)
{
    struct pack_progress *p = opaque;
    int64_t now = clock_mono_ms();
    if (p->quiet || now - p->last_ms < 1000)
        return;
    p->last_ms = now;
    fprintf(stderr, "sculpt-replay: packing step %zu/%zu\n", done, total);
}

static void pack_print_table(const struct drv_trace *tr, const struct drv_host *h,
                             const struct drv_pack_result *r)
{
    char desc[256];
    printf("format %s: %zu VMs, step %d s; host: %s\n", drv_trace_format_name(tr->format), r->vms,
           r->step_s, drv_host_describe(h, desc, sizeof(desc)));
    printf("replay %.2f s (%.0f VM-steps/s over %zu policies)\n\n", r->elapsed_s,
           r->elapsed_s > 0 ? (double)r->vm_steps / r->elapsed_s : 0, r->npolicies);
    printf("%-13s %6s %7s %8s %9s %8s %9s %9s %7s %10s %8s\n", "policy", "hosts", "mean",
           "vms/host", "host_viol", "affected", "vm_viol", "resh/vmh", "contig", "cost",
           "unplaced");
    for (size_t p = 0; p < r->npolicies; p++) {
        const struct drv_pack_stats *s = &r->policies[p];
        printf("%-13s %6d %7.2f %8.2f %8.3f%% %8llu %8.3f%% %9.3f %7.3f %10.2f %8zu\n", s->name,
               s->hosts_peak, s->hosts_mean, s->vms_per_host, 100 * s->host_violation_rate,
               (unsigned long long)s->guests_affected, 100 * s->guest_violation_rate,
               s->reshapes_per_vm_hour, s->contiguity, s->cost, s->unplaced);
    }
}

static void pack_print_json(const struct drv_trace *tr, const struct drv_host *h,
                            const struct drv_pack_result *r)
{
    printf("{\"format\":\"%s\",\"vms\":%zu,\"step_s\":%d,\"host\":{\"cpus\":%d,\"mem_mib\":%.0f,"
           "\"nodes\":%d},\"vm_steps\":%llu,\"elapsed_s\":%.6f,\"vm_steps_per_s\":%.1f,"
           "\"policies\":{",
           drv_trace_format_name(tr->format), r->vms, r->step_s, h->ncpus,
           h->capacity.v[DRV_RES_MEM_MIB], h->nnodes, (unsigned long long)r->vm_steps, r->elapsed_s,
           r->elapsed_s > 0 ? (double)r->vm_steps / r->elapsed_s : 0);
    for (size_t p = 0; p < r->npolicies; p++) {
        const struct drv_pack_stats *s = &r->policies[p];
        printf("%s\"%s\":{\"hosts_peak\":%d,\"hosts_mean\":%.6f,\"vms_per_host\":%.6f,"
               "\"host_violation_rate\":%.6f,\"guests_affected\":%llu,"
               "\"guest_violation_rate\":%.6f,\"reshapes_per_vm_hour\":%.6f,"
               "\"contiguity\":%.6f,\"cost\":%.6f,\"cost_resource\":%.6f,"
               "\"cost_violation\":%.6f,\"cost_reshape\":%.6f,\"placed\":%zu,\"unplaced\":%zu,"
               "\"vm_steps\":%llu,\"host_steps\":%llu,\"elapsed_s\":%.6f,\"prior_s\":%.6f}",
               p ? "," : "", s->name, s->hosts_peak, s->hosts_mean, s->vms_per_host,
               s->host_violation_rate, (unsigned long long)s->guests_affected,
               s->guest_violation_rate, s->reshapes_per_vm_hour, s->contiguity, s->cost,
               s->cost_resource, s->cost_violation, s->cost_reshape, s->placed, s->unplaced,
               (unsigned long long)s->vm_steps, (unsigned long long)s->host_steps, s->elapsed_s,
               s->prior_s);
    }
    printf("}}\n");
}

int drv_replay_pack_cli(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pack", no_argument, NULL, 'P'},
        {"format", required_argument, NULL, 'f'},
        {"host", required_argument, NULL, 'H'},
        {"policy", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pack_opts o = {.format = DRV_TRACE_FORMAT_LAST, .host = "cpus=32,mem_gib=256"};
    autoerr struct err *err = NULL;
    autocfg cfg = NULL;
    struct drv_trace *tr = NULL;
    struct drv_host *host = NULL;
    int c, ret = 1;

    optind = 0;
    if (pack_parse_policies(&o, drv_pack_policy_names(), &err) < 0)
        goto fail;
    while ((c = getopt_long(argc, argv, "f:H:p:jqc:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'P':
            break;
        case 'f':
            if (drv_replay_cli_trace_format(optarg, &o.format, &err) < 0)
                goto fail;
            break;
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            if (pack_parse_policies(&o, optarg, &err) < 0)
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
        case 'h':
            pack_usage(stdout);
            return 0;
        default:
            pack_usage(stderr);
            return 2;
        }
    }
    if (o.format == DRV_TRACE_FORMAT_LAST || optind >= argc) {
        pack_usage(stderr);
        return 2;
    }
    cfg = drv_replay_cli_config(o.config, NULL, 0, &err);
    if (!cfg)
        goto fail;
    host = pack_host(o.host, cfg, &err);
    if (!host)
        goto fail;
    tr = drv_trace_load(o.format, (const char *const *)argv + optind, (size_t)(argc - optind), NULL,
                        NULL, &err);
    if (!tr)
        goto fail;
    if (tr->nvms == 0) {
        err_set(&err, ERR_INVALID, "no replayable VM in %zu file(s)", tr->files);
        goto fail;
    }
    struct pack_progress prog = {.quiet = o.quiet, .last_ms = clock_mono_ms()};
    struct drv_pack_result res;
    if (drv_pack_run(tr, host, cfg, o.pols, o.npols, pack_progress_cb, &prog, &res, &err) < 0)
        goto fail;
    if (o.json)
        pack_print_json(tr, host, &res);
    else
        pack_print_table(tr, host, &res);
    drv_pack_result_release(&res);
    ret = fflush(stdout) == 0 ? 0 : 1;
    drv_trace_free(tr);
    drv_host_free(host);
    return ret;

fail:
    fprintf(stderr, "sculpt-replay: %s\n", err ? err->msg : "failed");
    drv_trace_free(tr);
    drv_host_free(host);
    return 1;
}
