#include "tests/bench/helpers/console_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

int console_log_count(const char *path, const char *tag)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, tag) != NULL;
    fclose(f);
    return n;
}

int64_t console_log_wait(const char *who, const char *path, const char *tag, int count,
                         int timeout_s)
{
    int64_t t0 = clock_mono_ms();
    while (console_log_count(path, tag) < count) {
        if (clock_mono_ms() - t0 > timeout_s * 1000LL) {
            fprintf(stderr, "%s: no `%s` x%d in %s\n", who, tag, count, path);
            exit(1);
        }
        clock_sleep_ms(20);
    }
    return clock_mono_ms() - t0;
}
