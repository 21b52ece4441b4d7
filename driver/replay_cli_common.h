/* What sculpt-replay's modes parse and report alike: the --policy list,
 * the --format of a usage trace, the config with its --set overrides and
 * the logging a CLI wants, and progress lines on stderr.  Each mode keeps
 * its own option table, usage text and output. */
#ifndef SC_DRIVER_REPLAY_CLI_COMMON_H
#define SC_DRIVER_REPLAY_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/trace.h"

struct cfg;
struct err;

/* Looks a policy name up: a key that is the same pointer for the same
 * policy (any non-NULL value the mode can map back), NULL when unknown. */
typedef const void *(*drv_replay_cli_find)(const char *name);

/* --policy LIST: splits @list at commas and looks each name up with @find
 * into @keys, in order.  Refused, with a message naming the name: one
 * @find does not know (the message lists @known), one given twice, more
 * than @max of them, none at all.  Returns how many keys were stored, or
 * -1. */
int drv_replay_cli_policies(const char *list, drv_replay_cli_find find, const char *known,
                            const void **keys, size_t max, struct err **err);

/* --format of a per-VM usage trace (bitbrains, azure-cpu, alibaba-machines). */
int drv_replay_cli_trace_format(const char *arg, enum drv_trace_format *out, struct err **err);

/* The configuration a mode runs with: @path (NULL: built-in defaults),
 * then each of @sets ("SECTION.OPTION=VALUE", as --set gives them) in
 * order; logging goes to stderr at WARN or quieter, stderr being where
 * progress goes.  Returns a config the caller drops with cfg_unref(), or
 * NULL. */
struct cfg *drv_replay_cli_config(const char *path, const char *const *sets, size_t nsets,
                                  struct err **err);

/* Progress on stderr, at most once a second and at the end of a run that
 * took a second or more: "sculpt-replay: WHAT DONE/TOTAL[UNIT]". */
struct drv_replay_progress {
    const char *what; /* e.g. "replaying VMs" */
    const char *unit; /* after the counts, e.g. " intervals"; NULL: none */
    bool quiet;       /* report nothing */
    int64_t start_ms; /* when the run began (clock_mono_ms) */
    int64_t last_ms;  /* the last line printed */
};

/* Starts @p's run now, as @what. */
void drv_replay_progress_start(struct drv_replay_progress *p, const char *what);

/* Reports @done of @total if a line is due. */
void drv_replay_progress_report(struct drv_replay_progress *p, uint64_t done, uint64_t total);

#endif
