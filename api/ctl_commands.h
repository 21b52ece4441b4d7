/* sculptctl's commands: one entry per command word, each a thin client of
 * one or two REST routes that prints a table (or the JSON with -f json). */
#ifndef SC_API_CTL_COMMANDS_H
#define SC_API_CTL_COMMANDS_H

#include <stdbool.h>

#include "api/ctl_client.h"

struct ctl_ctx {
    struct ctl_client client;
    bool json;                  /* -f json */
};

struct ctl_command {
    const char *name;           /* "host", "blueprint create" */
    const char *usage;          /* arguments, for the help text */
    const char *help;
    int (*run)(struct ctl_ctx *x, int argc, char **argv); /* argv after the name */
    bool offline;               /* needs no API (config check, db) */
};

extern const struct ctl_command ctl_commands[];
extern const unsigned ctl_ncommands;

#endif
