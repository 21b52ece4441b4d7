/* `sculptctl db ...`: the schema commands an operator runs by hand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"

static void db_cli_usage(FILE *out)
{
    fprintf(out,
            "usage: sculptctl db migrate|version [--config FILE] [--url URL]\n"
            "\n"
            "  migrate   apply pending schema migrations\n"
            "  version   print the schema version of the database\n"
            "\n"
            "The database is --url, else $SCULPT_DB_URL, else [database] connection of\n"
            "--config FILE (default /etc/sculpt/sculpt.conf).\n");
}

int db_cli_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"url", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *url = NULL;
    autoerr struct err *err = NULL;
    int c;

    if (argc < 1) {
        db_cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[0];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        db_cli_usage(stdout);
        return 0;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:u:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'u':
            url = optarg;
            break;
        case 'h':
            db_cli_usage(stdout);
            return 0;
        default:
            db_cli_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (strcmp(cmd, "migrate") != 0 && strcmp(cmd, "version") != 0)) {
        db_cli_usage(stderr);
        return 2;
    }
    if (!url && !config)
        url = getenv("SCULPT_DB_URL");
    autocfg cfg = NULL;
    if (!url || !*url) {
        cfg = cfg_load(config ? config : "/etc/sculpt/sculpt.conf", &err);
        if (!cfg) {
            fprintf(stderr, "sculptctl: %s\n", err->msg);
            return 1;
        }
        url = cfg->db_connection;
        if (!*url) {
            fprintf(stderr, "sculptctl: no database: [database] connection is empty in %s\n",
                    cfg->source);
            return 1;
        }
    }
    char shown[512];
    log_redact_url(url, shown, sizeof(shown));

    int from = 0, to = 0;
    if (strcmp(cmd, "version") == 0) {
        if (db_schema_version_at(url, &from, &err) < 0) {
            fprintf(stderr, "sculptctl: %s\n", err->msg);
            return 1;
        }
        printf("%s: schema version %d (this sculpt knows %d)\n", shown, from,
               db_schema_latest());
        return from > db_schema_latest() ? 1 : 0;
    }
    if (db_migrate(url, &from, &to, &err) < 0) {
        fprintf(stderr, "sculptctl: %s: %s\n", shown, err->msg);
        return 1;
    }
    if (from == to)
        printf("%s: schema already at version %d\n", shown, to);
    else
        printf("%s: schema migrated from version %d to %d\n", shown, from, to);
    return 0;
}
