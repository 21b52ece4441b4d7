/* Nova's _tail_log is '\n'.join(log.split('\n')[-n:]): the suffix after
 * the n-th newline from the end, the trailing newline included in the
 * count.  tempest's console tests count the pieces of that answer. */
#include "openstack/console_tail.h"

#include <string.h>

const char *os_console_tail(const char *log, long n)
{
    size_t len = strlen(log);
    if (n <= 0)
        return log + len;
    for (const char *p = log + len; p > log;) {
        if (*--p == '\n' && --n == 0)
            return p + 1;
    }
    return log; /* fewer pieces than n: all of it */
}
