/* sculpt-compute: the compute service Nova talks to in place of
 * nova-compute. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"

LOG_INIT("openstack.main");

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sculpt-compute [--config FILE] [--check-config] [--sample-config]\n"
            "\n"
            "  --config FILE     sculpt.conf to read (default /etc/sculpt/sculpt.conf)\n"
            "  --check-config    load and validate the config, print it, and exit\n"
            "  --sample-config   print a sample sculpt.conf documenting every option\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"sample-config", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = "/etc/sculpt/sculpt.conf";
    bool check = false;
    autoerr struct err *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "c:ksh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 's':
            cfg_write_sample(stdout);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    autocfg cfg = cfg_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "sculpt-compute: %s\n", err->msg);
        return 1;
    }
    enum log_level level = LOG_LEVEL_INFO;
    log_level_parse(cfg->log_level, &level);
    if (log_setup(level, cfg->log_file, cfg->log_json, &err) < 0) {
        fprintf(stderr, "sculpt-compute: %s\n", err->msg);
        return 1;
    }
    cfg_publish(cfg);
    cfg_log(cfg);
    if (check)
        return 0;
    log_error("the compute service is not built yet: only --check-config works");
    return 1;
}
