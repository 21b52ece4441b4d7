/* The TCP ports of guests' serial consoles ([serial_console] port_range),
 * as Zed's nova/console/serial.py acquires them: the first port of the
 * range nothing holds -- no domain of this libvirt names it (Zed's
 * in-memory ALLOCATED_PORTS, which forgets them at a restart; the domains
 * do not), none was handed to an incoming live migration lately, and it
 * can be bound on the address the consoles listen on.
 */
#ifndef SC_DRIVER_LIBVIRT_SERIAL_PORT_H
#define SC_DRIVER_LIBVIRT_SERIAL_PORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

struct cfg;
struct err;

#define LV_SERIAL_HELD 32 /* ports held for incoming live migrations */

struct lv_serial {
    pthread_mutex_t lock; /* held from a port's choice until the domain
                           * naming it is defined (lv_serial_lock) */
    char *host;           /* [serial_console] proxyclient_address; NULL:
                           * serial consoles disabled */
    int start, stop;      /* port_range: [start, stop) */
    struct {
        int port;
        int64_t until_ms; /* wall clock; 0: free slot */
    } held[LV_SERIAL_HELD];
};

/* From the host's configuration (disabled: host NULL). */
void lv_serial_init(struct lv_serial *s, const struct cfg *cfg);
void lv_serial_release(struct lv_serial *s);

/* Can `port` be bound on `host` now (Zed's _verify_port)? */
bool lv_serial_port_bindable(const char *host, int port);

/* The first port of [start, stop) not in used[] that bindable() takes:
 * the port, or -1 with CAPACITY when the range is exhausted (Zed's
 * SocketPortRangeExhaustedException). */
int lv_serial_port_pick(int start, int stop, const int *used, size_t nused, const char *host,
                        bool (*bindable)(const char *host, int port), struct err **err);

/* A port for domain `uuid`'s serial console on connection `conn`: the one
 * its definition has already (a redefinition keeps it), otherwise a free
 * one (lv_serial_port_pick).  Call between lv_serial_lock and
 * lv_serial_unlock, the domain defined in between.  `hold_ms` > 0: the
 * port is also held that long for a domain not yet defined here (a live
 * migration's).  -1 with *err. */
int lv_serial_acquire(struct lv_serial *s, virConnectPtr conn, const char *uuid, int64_t hold_ms,
                      struct err **err);
void lv_serial_lock(struct lv_serial *s);
void lv_serial_unlock(struct lv_serial *s);

#endif
