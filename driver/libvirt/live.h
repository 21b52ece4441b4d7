/* Live migration between libvirt hosts with the disks copied as the guest
 * runs (nova/virt/libvirt/driver.py's live_migration with block
 * migration): the destination makes the guest's folder, an empty overlay
 * over its own cached base and the config drive (live_prepare); the
 * source's libvirtd hands the domain to the destination's, peer to peer,
 * QEMU copying the memory and the overlay's data (drive-mirror over NBD)
 * while the guest runs (live_migrate).  Hosts need not share an
 * instances_path: the destination names its paths in dest_info, the
 * record below, and the source rewrites its own to them in the domain
 * XML it hands over.
 */
#ifndef SC_DRIVER_LIBVIRT_LIVE_H
#define SC_DRIVER_LIBVIRT_LIVE_H

#include <stdbool.h>
#include <stdint.h>

struct err;
struct lv_meta;

/* dest_info: where the guest's files are on the destination, and the
 * address its libvirtd and QEMU take migrations at.  Each field NULL when
 * absent. */
struct lv_live_info {
    char *addr;    /* live_migration_inbound_addr; NULL: its host name */
    char *dir;     /* the guest's folder */
    char *disk;    /* the overlay */
    char *base;    /* the overlay's base */
    char *log;     /* console log */
    char *socket;  /* console socket */
    char *cdrom;   /* config drive */
    char *vnc;     /* [vnc] server_listen there, VNC enabled or not (Nova's
                    * graphics_listen_addr_vnc) */
    char *serial;  /* with [serial_console] enabled there, the address and
                    * the port the guest's serial console is to listen on
                    * (Nova's serial_listen_addr, serial_listen_ports) */
    char *serial_port;
};

void lv_live_info_release(struct lv_live_info *i);

/* The destination's paths for guest meta (lv_design_meta's), with addr.
 * Pointers into meta and addr: do not release. */
void lv_live_info_of(const struct lv_meta *meta, const char *addr, struct lv_live_info *out);

/* The record as text:
 *   sculpt-libvirt-live 1
 *   addr <address>     (each line only when set)
 *   dir <path>  disk <path>  base <path>  log <path>  socket <path>  cdrom <path>
 *   vnc <address>  serial <address>  serial_port <port>
 * Caller frees. */
char *lv_live_info_format(const struct lv_live_info *i);

/* Parse it back into *out (overwritten; release with
 * lv_live_info_release).  INVALID on another format, a line twice, a
 * relative path or one holding a character XML escapes (&<>"'), a bad
 * address (addr, vnc, serial) or port, a serial address without its port
 * or the other way round, or no folder. */
int lv_live_info_parse(const char *text, struct lv_live_info *out, struct err **err);

/* The domain XML `xml` with each of the source's paths (src, a guest's
 * metadata) replaced by the destination's (dst): folder, overlay, base,
 * console log and socket, config drive; every occurrence, in one pass,
 * the longest first.  INVALID when the destination lacks a file the
 * source has (a disk, a config drive) or a source path holds a character
 * XML escapes.  Caller frees. */
char *lv_live_rewrite_xml(const char *xml, const struct lv_meta *src,
                          const struct lv_live_info *dst, struct err **err);

/* The destination libvirtd's URI: `tmpl` (live_migration_uri) with each
 * %s replaced by `host` (bracketed when an IPv6 address).  INVALID for
 * another % sequence.  Caller frees. */
char *lv_live_dest_uri(const char *tmpl, const char *host, struct err **err);

/* The migration stream's URI: tcp://host (bracketed when IPv6). */
char *lv_live_migrate_uri(const char *host);

/* How long (ms) a live migration moving total_bytes may take: timeout_s
 * for each GiB of it, 2 GiB at least; 0: no limit (timeout_s 0). */
int64_t lv_live_deadline_ms(int64_t timeout_s, uint64_t total_bytes);

/* Whether a migration `elapsed_ms` under way, limited to `limit_ms` (0:
 * none), is past its deadline now: never once it runs in post-copy (it
 * cannot be aborted, and it is forced already), as nova's
 * should_trigger_timeout_action. */
bool lv_live_past_deadline(int64_t limit_ms, int64_t elapsed_ms, bool in_postcopy);

/* How a forced completion is carried out (nova's run_tasks). */
enum lv_live_force {
    LV_LIVE_FORCE_DONE,     /* nothing more to do: in post-copy, or not running (paused) */
    LV_LIVE_FORCE_POSTCOPY, /* switch to post-copy (virDomainMigrateStartPostCopy) */
    LV_LIVE_FORCE_PAUSE,    /* pause the guest until the copy converges */
    LV_LIVE_FORCE_LAST,
};

/* The way to force a migration started with post-copy permitted or not
 * (VIR_MIGRATE_POSTCOPY), running in post-copy already or not, of a
 * guest running or not. */
enum lv_live_force lv_live_force_how(bool postcopy_permitted, bool in_postcopy, bool running);

#endif
