/* Serial console ports (serial_port.h). */
#include "driver/libvirt/serial_port.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/libvirt/config.h"

LOG_INIT("driver.libvirt.serial");

#define PORTS_PER_DOMAIN 4 /* QEMU's serial ports on x86 */

void lv_serial_init(struct lv_serial *s, const struct cfg *cfg)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    if (!cfg->serial_console_enabled || cfg_serial_port_range(cfg, &s->start, &s->stop) < 0)
        return; /* (the load refused a bad range) */
    s->host = xstrdup(cfg->serial_console_proxyclient_address);
}

void lv_serial_release(struct lv_serial *s)
{
    free(s->host);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof(*s));
}

void lv_serial_lock(struct lv_serial *s)
{
    pthread_mutex_lock(&s->lock);
}

void lv_serial_unlock(struct lv_serial *s)
{
    pthread_mutex_unlock(&s->lock);
}

bool lv_serial_port_bindable(const char *host, int port)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, service, &hints, &ai) != 0 || !ai)
        return false;
    bool ok = false;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0) {
        /* as QEMU binds it: a port left in TIME_WAIT is free to it */
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

int lv_serial_port_pick(int start, int stop, const int *used, size_t nused, const char *host,
                        bool (*bindable)(const char *host, int port), struct err **err)
{
    for (int port = start; port < stop; port++) {
        bool taken = false;
        for (size_t i = 0; i < nused && !taken; i++)
            taken = used[i] == port;
        if (taken)
            continue;
        if (bindable(host, port))
            return port;
        log_warn("serial console port %s:%d is in use", host, port);
    }
    err_set(err, ERR_CAPACITY, "no free serial console port on %s in [serial_console] port_range "
            "%d:%d",
            host, start, stop);
    return -1;
}

/* The TCP serial ports domain `dom` names (flags: which definition). */
static int domain_ports(virDomainPtr dom, unsigned flags, int *ports, size_t max)
{
    char *xml = virDomainGetXMLDesc(dom, flags);
    if (!xml) {
        virResetLastError(); /* gone meanwhile */
        return 0;
    }
    autoerr struct err *e = NULL;
    int n = lv_cfg_serial_ports(xml, ports, max, &e);
    free(xml);
    return n < 0 ? 0 : n;
}

int lv_serial_acquire(struct lv_serial *s, virConnectPtr conn, const char *uuid, int64_t hold_ms,
                      struct err **err)
{
    int mine[PORTS_PER_DOMAIN];
    virDomainPtr self = virDomainLookupByUUIDString(conn, uuid);
    if (!self)
        virResetLastError();
    int n = self ? domain_ports(self, VIR_DOMAIN_XML_INACTIVE, mine, PORTS_PER_DOMAIN) : 0;
    if (self)
        virDomainFree(self);
    if (n > 0)
        return mine[0]; /* Zed's _serial_ports_already_defined */

    virDomainPtr *doms = NULL;
    int ndoms = virConnectListAllDomains(conn, &doms, 0);
    if (ndoms < 0) {
        err_set(err, ERR_UNAVAILABLE, "virConnectListAllDomains: %s", virGetLastErrorMessage());
        virResetLastError();
        return -1;
    }
    size_t cap = (size_t)ndoms * PORTS_PER_DOMAIN + LV_SERIAL_HELD, nused = 0;
    int *used = xcalloc(cap ? cap : 1, sizeof(*used));
    for (int i = 0; i < ndoms; i++) {
        /* a running domain's live definition, a stopped one's persistent
         * one: a port it is to take at its next start is not free */
        nused += (size_t)domain_ports(doms[i], 0, used + nused, PORTS_PER_DOMAIN);
        virDomainFree(doms[i]);
    }
    free(doms);
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < LV_SERIAL_HELD; i++)
        if (s->held[i].until_ms > now)
            used[nused++] = s->held[i].port;
    int port = lv_serial_port_pick(s->start, s->stop, used, nused, s->host,
                                   lv_serial_port_bindable, err);
    free(used);
    if (port > 0 && hold_ms > 0) {
        size_t slot = 0;
        for (size_t i = 1; i < LV_SERIAL_HELD; i++) /* a free or the oldest slot */
            if (s->held[i].until_ms < s->held[slot].until_ms)
                slot = i;
        s->held[slot].port = port;
        s->held[slot].until_ms = now + hold_ms;
    }
    if (port > 0)
        log_info("serial console of %s on %s:%d", uuid, s->host, port);
    return port;
}
