/* The tail of a console log as nova-compute cuts it for get_console_output
 * (nova.compute.manager._tail_log). */
#ifndef SC_OPENSTACK_CONSOLE_TAIL_H
#define SC_OPENSTACK_CONSOLE_TAIL_H

/* The last `n` pieces of `log` split at '\n' (a log ending in a newline
 * ends with an empty piece, which counts), joined again: a suffix of
 * `log`, borrowed.  n == 0 gives "", as Nova's does. */
const char *os_console_tail(const char *log, long n);

#endif
