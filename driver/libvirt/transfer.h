/* Copying a guest's files to another host over ssh, as nova's
 * [libvirt] remote_filesystem_transport does (nova/virt/libvirt/volume/
 * remotefs.py: SshDriver, RsyncDriver): the argument vectors of ssh,
 * rsync and scp, and the quoting of the commands ssh hands to the
 * remote shell.  Host keys are always checked; ssh never prompts.
 */
#ifndef SC_DRIVER_LIBVIRT_TRANSFER_H
#define SC_DRIVER_LIBVIRT_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>

struct cfg;
struct err;

/* [libvirt] migration_* */
struct lv_ssh {
    bool rsync;            /* rsync over ssh; false: scp */
    char *user;            /* NULL: the local user */
    int port;              /* the remote sshd's */
    char *identity;        /* private key file; NULL: ssh's defaults */
    char *known_hosts;     /* NULL: ssh's defaults */
    int connect_timeout_s; /* ssh's ConnectTimeout */
};

/* Fill *s from cfg; release with lv_ssh_release (accepts a zeroed one). */
void lv_ssh_init(struct lv_ssh *s, const struct cfg *cfg);
void lv_ssh_release(struct lv_ssh *s);

/* `s` as one word for a POSIX shell: '...', an embedded ' as '\''.
 * Caller frees. */
char *lv_ssh_quote(const char *s);

/* Can `host` be handed to ssh as a destination: a host name or an IPv4 or
 * IPv6 address (letters, digits, '.', '-', '_', ':'), not starting with
 * '-' (ssh would take it for an option), at most 255 bytes. */
bool lv_ssh_host_ok(const char *host);

/* The argument vector (NULL-terminated; caller frees with lv_argv_free)
 * of ssh running `command` (a shell command line) on `host`. */
char **lv_ssh_argv_command(const struct lv_ssh *s, const char *host, const char *command);

/* The argument vector of the copy (rsync or scp) of local `files` (n of
 * them) into the existing folder `remote_dir` of `host`.  NULL with
 * INVALID when a setting cannot be passed through rsync's -e (a path
 * holding both quote characters). */
char **lv_ssh_argv_copy(const struct lv_ssh *s, const char *host, char *const *files, size_t n,
                        const char *remote_dir, struct err **err);

void lv_argv_free(char **argv);

/* Run `command` on `host` over ssh.  INVALID for a bad host name;
 * UNAVAILABLE when ssh or the command fails (their output in the
 * message). */
int lv_ssh_run(const struct lv_ssh *s, const char *host, const char *command, struct err **err);

/* Copy `files` into `remote_dir` on `host` (lv_ssh_argv_copy).  Errors as
 * lv_ssh_run's. */
int lv_ssh_copy(const struct lv_ssh *s, const char *host, char *const *files, size_t n,
                const char *remote_dir, struct err **err);

#endif
