/* sculptctl: the operator's command line for sculpt, a client of the REST
 * API.  Commands are listed in api/ctl_commands.c. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "api/ctl_commands.h"
#include "common/err.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sculptctl [--url URL] [--token TOKEN] [--config FILE] [-f table|json] "
            "[--json] COMMAND [ARGS]\n\n"
            "The API is found from --url/--token, else SCULPT_URL/SCULPT_TOKEN, else sculpt.conf\n"
            "([api] url or listen and port, [api] admin_token; --config, SCULPT_CONFIG or\n"
            "/etc/sculpt/sculpt.conf).  Times: Unix seconds, ISO 8601 UTC, or -SECONDS ago.\n\n"
            "commands:\n");
    for (unsigned i = 0; i < ctl_ncommands; i++)
        fprintf(out, "  %s %s\n      %s\n", ctl_commands[i].name, ctl_commands[i].usage,
                ctl_commands[i].help);
}

/* The command named by one or two words at argv[0..]; *words says how
 * many it took. */
static const struct ctl_command *ctl_find(int argc, char **argv, int *words)
{
    char two[128];
    if (argc >= 2) {
        snprintf(two, sizeof(two), "%s %s", argv[0], argv[1]);
        for (unsigned i = 0; i < ctl_ncommands; i++)
            if (strcmp(ctl_commands[i].name, two) == 0) {
                *words = 2;
                return &ctl_commands[i];
            }
    }
    for (unsigned i = 0; argc >= 1 && i < ctl_ncommands; i++)
        if (strcmp(ctl_commands[i].name, argv[0]) == 0) {
            *words = 1;
            return &ctl_commands[i];
        }
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'}, /* -f json */
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *token = NULL, *config = NULL;
    struct ctl_ctx x = {0};
    int c;
    while ((c = getopt_long(argc, argv, "+u:t:c:f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
                fprintf(stderr, "sculptctl: -f takes table or json\n");
                return 2;
            }
            x.json = strcmp(optarg, "json") == 0;
            break;
        case 'j':
            x.json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int words = 0;
    const struct ctl_command *cmd = ctl_find(argc - optind, argv + optind, &words);
    if (!cmd) {
        if (optind < argc)
            fprintf(stderr, "sculptctl: unknown command `%s`\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (cmd->offline)
        return cmd->run(&x, argc - optind - words, argv + optind + words);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    autoerr struct err *err = NULL;
    if (ctl_client_init(&x.client, url, token, config, &err) < 0) {
        fprintf(stderr, "sculptctl: %s\n", err->msg);
        curl_global_cleanup();
        return 1;
    }
    int rc = cmd->run(&x, argc - optind - words, argv + optind + words);
    ctl_client_release(&x.client);
    curl_global_cleanup();
    return rc;
}
