/* sculpt-replay: what-if replays of real traces through the same code the
 * service runs.  A mode flag anywhere on the command line picks the mode;
 * without one, usage traces are replayed through allocation policies. */
#include <stdio.h>
#include <string.h>

#include "driver/replay_cli.h"

static const struct {
    const char *flag;  /* NULL: the default mode */
    int (*run)(int argc, char **argv);
} replay_modes[] = {
    {NULL, drv_replay_usage_cli},
    {"--pack", drv_replay_pack_cli},
    {"--bench-predict", drv_replay_bench_cli},
    {"--arrivals", drv_replay_arrivals_cli},
};

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        for (size_t m = 0; m < sizeof(replay_modes) / sizeof(replay_modes[0]); m++)
            if (replay_modes[m].flag && strcmp(argv[i], replay_modes[m].flag) == 0)
                return replay_modes[m].run(argc, argv);
    return replay_modes[0].run(argc, argv);
}
