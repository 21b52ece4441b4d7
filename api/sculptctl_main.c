/* sculptctl: the operator's command line for sculpt. */
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "db/db.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: sculptctl config check FILE\n"
                 "       sculptctl db migrate|version [--config FILE] [--url URL]\n");
}

int main(int argc, char **argv)
{
    autoerr struct err *err = NULL;

    if (argc == 4 && strcmp(argv[1], "config") == 0 && strcmp(argv[2], "check") == 0) {
        autocfg cfg = cfg_load(argv[3], &err);
        if (!cfg) {
            fprintf(stderr, "sculptctl: %s\n", err->msg);
            return 1;
        }
        printf("%s: OK\n", argv[3]);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "db") == 0)
        return db_cli_main(argc - 2, argv + 2);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
