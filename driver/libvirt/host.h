/* The libvirt connection (nova/virt/libvirt/host.py's role): open, the
 * process-wide event loop thread, lifecycle events, keepalive, noticing a
 * lost libvirtd and reconnecting, and turning virError into struct err.
 */
#ifndef SC_DRIVER_LIBVIRT_HOST_H
#define SC_DRIVER_LIBVIRT_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

struct err;
struct lv_host;

/* Called on the event thread for each domain lifecycle event (libvirt's
 * virDomainEventType and detail). */
typedef void (*lv_host_lifecycle_fn)(void *opaque, const char *uuid, const char *name, int event,
                                     int detail);
/* Called on the event thread when a guest's memory device (virtio-mem)
 * changed the size it has plugged: its alias and that size (KiB). */
typedef void (*lv_host_memdev_fn)(void *opaque, const char *uuid, const char *alias,
                                  uint64_t size_kib);
/* Called on the host's watcher thread when the connection is lost
 * (connected false) and when it is back (true, after event callbacks are
 * registered again). */
typedef void (*lv_host_conn_fn)(void *opaque, bool connected);

/* Connect to `uri` (keepalive on, lifecycle and memory device events
 * registered) and start the watcher that reconnects every reconnect_ms
 * after a loss.  Returns the host or NULL with *err (UNAVAILABLE when
 * libvirtd cannot be reached). */
struct lv_host *lv_host_open(const char *uri, int64_t reconnect_ms,
                             lv_host_lifecycle_fn on_lifecycle, lv_host_memdev_fn on_memdev,
                             lv_host_conn_fn on_conn, void *opaque, struct err **err);
/* Stop the watcher, deregister events and close.  No callback runs after
 * it returns.  Accepts NULL. */
void lv_host_close(struct lv_host *h);

/* The live connection with a reference the caller drops with
 * virConnectClose().  If it was lost, one reconnection is tried first.
 * *generation (may be NULL) counts reconnections: domain handles from an
 * older generation are stale.  NULL with UNAVAILABLE when libvirtd is
 * unreachable. */
virConnectPtr lv_host_conn(struct lv_host *h, uint64_t *generation, struct err **err);

/* After a call failed with UNAVAILABLE: check the connection and, if it is
 * dead, mark it lost (the watcher reconnects). */
void lv_host_check(struct lv_host *h, virConnectPtr conn);

/* Is the connection up now? */
bool lv_host_connected(struct lv_host *h);

/* Set *err from libvirt's last error on this thread: "CALL on `DOMAIN`:
 * message" (DOMAIN may be NULL), with the project code that matches
 * (NO_DOMAIN -> NOT_FOUND, OPERATION_INVALID -> CONFLICT, the RPC layer ->
 * UNAVAILABLE, ...).  Returns -1. */
int lv_error(struct err **err, const char *call, const char *domain);
/* lv_error naming DOM's domain: libvirt's every call, virDomainGetName
 * too, clears the last error, so the name cannot be an argument of
 * lv_error once the failed call has returned. */
int lv_dom_error(struct err **err, const char *call, virDomainPtr dom);
/* lv_error from an error virSaveLastError kept (E may be NULL); E stays
 * the caller's. */
int lv_error_saved(struct err **err, virErrorPtr e, const char *call, const char *domain);

#endif
