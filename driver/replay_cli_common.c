#include "driver/replay_cli_common.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"

int drv_replay_cli_policies(const char *list, drv_replay_cli_find find, const char *known,
                            const void **keys, size_t max, struct err **err)
{
    autofree char *copy = xstrdup(list);
    char *save = NULL;
    size_t n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const void *key = find(tok);
        if (!key)
            return err_set(err, ERR_INVALID, "unknown policy `%s` (known: %s)", tok, known);
        for (size_t i = 0; i < n; i++)
            if (keys[i] == key)
                return err_set(err, ERR_INVALID, "policy `%s` given twice", tok);
        if (n == max)
            return err_set(err, ERR_INVALID, "more than %zu policies", max);
        keys[n++] = key;
    }
    if (n == 0)
        return err_set(err, ERR_INVALID, "--policy needs at least one policy");
    return (int)n;
}

int drv_replay_cli_trace_format(const char *arg, enum drv_trace_format *out, struct err **err)
{
    int f = drv_trace_format_parse(arg);
    if (f < 0)
        return err_set(err, ERR_INVALID,
                       "unknown format `%s` (bitbrains, azure-cpu, alibaba-machines)", arg);
    *out = (enum drv_trace_format)f;
    return 0;
}

/* --set presculpt.idle_budget=0.05 */
static int replay_cli_set(struct cfg *cfg, const char *arg, struct err **err)
{
    autofree char *copy = xstrdup(arg);
    char *eq = strchr(copy, '='), *dot = strchr(copy, '.');
    if (!eq || !dot || dot > eq)
        return err_set(err, ERR_INVALID, "--set `%s`: expected SECTION.OPTION=VALUE", arg);
    *eq = '\0';
    *dot = '\0';
    if (cfg_set(cfg, copy, dot + 1, eq + 1, err) < 0)
        return err_wrap(err, "--set `%s`", arg);
    return 0;
}

struct cfg *drv_replay_cli_config(const char *path, const char *const *sets, size_t nsets,
                                  struct err **err)
{
    autocfg cfg = path ? cfg_load(path, err) : cfg_new_defaults();
    if (!cfg)
        return NULL;
    for (size_t i = 0; i < nsets; i++)
        if (replay_cli_set(cfg, sets[i], err) < 0)
            return NULL;
    enum log_level lvl = LOG_LEVEL_WARN;
    log_level_parse(cfg->log_level, &lvl);
    if (lvl < LOG_LEVEL_WARN)
        lvl = LOG_LEVEL_WARN; /* a CLI tool: keep stderr for progress */
    if (log_setup(lvl, "stderr", false, err) < 0)
        return NULL;
    return steal_pointer(&cfg);
}

void drv_replay_progress_start(struct drv_replay_progress *p, const char *what)
{
    p->what = what;
    p->start_ms = p->last_ms = clock_mono_ms();
}

void drv_replay_progress_report(struct drv_replay_progress *p, uint64_t done, uint64_t total)
{
    int64_t now = clock_mono_ms();
    if (p->quiet || (now - p->last_ms < 1000 && done != total) ||
        (done == total && now - p->start_ms < 1000))
        return;
    p->last_ms = now;
    fprintf(stderr, "sculpt-replay: %s %llu/%llu%s\n", p->what, (unsigned long long)done,
            (unsigned long long)total, p->unit ? p->unit : "");
}
