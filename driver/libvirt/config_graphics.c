/* A domain's remote consoles in its XML (config.h): the port libvirt gave
 * a running guest's VNC server, the TCP ports of its serial consoles, and
 * a migration's XML with the listen address (and serial ports) of the
 * destination (Nova's _update_graphics_xml, _update_serial_xml). */
#include "driver/libvirt/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/alloc.h"
#include "common/err.h"

static const char *console_type_name(enum drv_hv_console type)
{
    switch (type) {
    case DRV_HV_CONSOLE_VNC:
        return "vnc";
    case DRV_HV_CONSOLE_SERIAL:
        return "serial";
    }
    return NULL;
}

static bool named(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static bool prop_is(xmlNodePtr n, const char *name, const char *value)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    bool eq = v && strcmp((const char *)v, value) == 0;
    xmlFree(v);
    return eq;
}

static xmlDocPtr read_domain(const char *xml, xmlNodePtr *devs, struct err **err)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr dom = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!dom || !named(dom, "domain")) {
        xmlFreeDoc(doc);
        err_set(err, ERR_INVALID, "domain XML does not parse");
        return NULL;
    }
    *devs = NULL;
    for (xmlNodePtr n = dom->children; n && !*devs; n = n->next)
        if (named(n, "devices"))
            *devs = n;
    return doc;
}

/* A port number as an attribute states it; -1 if it is not one. */
static long port_of(const xmlChar *v)
{
    char *end = NULL;
    errno = 0;
    long p = v ? strtol((const char *)v, &end, 10) : -1;
    return !v || errno || *end || p <= 0 || p > 65535 ? -1 : p;
}

/* The <source mode='bind'> of a TCP character device, or NULL. */
static xmlNodePtr tcp_bind_source(xmlNodePtr chr)
{
    if (!prop_is(chr, "type", "tcp"))
        return NULL;
    for (xmlNodePtr s = chr->children; s; s = s->next)
        if (named(s, "source") && prop_is(s, "mode", "bind"))
            return s;
    return NULL;
}

/* The element name of the domain's TCP consoles: its <serial> devices,
 * or its <console> ones when no serial is TCP (Nova's order). */
static const char *tcp_console_element(xmlNodePtr devs)
{
    for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next)
        if (named(n, "serial") && tcp_bind_source(n))
            return "serial";
    return "console";
}

int lv_cfg_serial_ports(const char *xml, int *ports, size_t max, struct err **err)
{
    xmlNodePtr devs;
    xmlDocPtr doc = read_domain(xml, &devs, err);
    if (!doc)
        return -1;
    const char *el = tcp_console_element(devs);
    size_t n = 0;
    for (xmlNodePtr c = devs ? devs->children : NULL; c; c = c->next) {
        xmlNodePtr src = named(c, el) ? tcp_bind_source(c) : NULL;
        xmlChar *v = src ? xmlGetProp(src, BAD_CAST "service") : NULL;
        long p = port_of(v);
        xmlFree(v);
        if (p > 0 && n < max)
            ports[n++] = (int)p;
    }
    xmlFreeDoc(doc);
    return (int)n;
}

static int serial_port(const char *xml, int *port, struct err **err)
{
    int ports[1];
    int n = lv_cfg_serial_ports(xml, ports, 1, err);
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(err, ERR_UNSUPPORTED, "the domain has no TCP serial console");
    *port = ports[0];
    return 0;
}

int lv_cfg_console_port(const char *xml, enum drv_hv_console type, int *port, struct err **err)
{
    const char *name = console_type_name(type);
    if (!name)
        return err_set(err, ERR_INVALID, "console type %d", (int)type);
    if (type == DRV_HV_CONSOLE_SERIAL)
        return serial_port(xml, port, err);
    xmlNodePtr devs;
    xmlDocPtr doc = read_domain(xml, &devs, err);
    if (!doc)
        return -1;
    xmlNodePtr gr = NULL;
    for (xmlNodePtr n = devs ? devs->children : NULL; n && !gr; n = n->next)
        if (named(n, "graphics") && prop_is(n, "type", name))
            gr = n;
    int rc;
    xmlChar *v = gr ? xmlGetProp(gr, BAD_CAST "port") : NULL;
    if (!gr) {
        rc = err_set(err, ERR_UNSUPPORTED, "the domain has no %s console", name);
    } else {
        long p = port_of(v);
        /* -1: not allocated (the domain is not running) */
        if (p < 0)
            rc = err_set(err, ERR_CONFLICT, "the domain's %s console has no port (`%s`)", name,
                         v ? (const char *)v : "");
        else {
            *port = (int)p;
            rc = 0;
        }
    }
    xmlFree(v);
    xmlFreeDoc(doc);
    return rc;
}

static char *write_domain(xmlDocPtr doc, struct err **err)
{
    xmlChar *buf = NULL;
    int len = 0;
    xmlDocDumpMemory(doc, &buf, &len);
    xmlFreeDoc(doc);
    if (!buf) {
        err_set(err, ERR_INTERNAL, "domain XML cannot be written");
        return NULL;
    }
    char *out = xstrdup((const char *)buf);
    xmlFree(buf);
    return out;
}

char *lv_cfg_serial_rewrite(const char *xml, const char *host, int port, const char *socket,
                            struct err **err)
{
    xmlNodePtr devs;
    xmlDocPtr doc = read_domain(xml, &devs, err);
    if (!doc)
        return NULL;
    const char *el = tcp_console_element(devs);
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    for (xmlNodePtr c = devs ? devs->children : NULL; c; c = c->next) {
        xmlNodePtr src = named(c, el) ? tcp_bind_source(c) : NULL;
        if (!src)
            continue;
        if (host && port > 0) {
            xmlSetProp(src, BAD_CAST "host", BAD_CAST host);
            xmlSetProp(src, BAD_CAST "service", BAD_CAST service);
            continue;
        }
        if (!socket)
            continue; /* nowhere else to go: it stays as it is */
        /* a unix console as sculpt defines it without [serial_console]:
         * its <log> and <target> stay */
        xmlSetProp(c, BAD_CAST "type", BAD_CAST "unix");
        xmlUnsetProp(src, BAD_CAST "host");
        xmlUnsetProp(src, BAD_CAST "service");
        xmlSetProp(src, BAD_CAST "path", BAD_CAST socket);
        for (xmlNodePtr p = c->children, next; p; p = next) {
            next = p->next;
            if (named(p, "protocol")) {
                xmlUnlinkNode(p);
                xmlFreeNode(p);
            }
        }
    }
    return write_domain(doc, err);
}

char *lv_cfg_vnc_listen_rewrite(const char *xml, const char *listen, struct err **err)
{
    xmlNodePtr devs;
    xmlDocPtr doc = read_domain(xml, &devs, err);
    if (!doc)
        return NULL;
    for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next) {
        if (!named(n, "graphics") || !prop_is(n, "type", "vnc"))
            continue;
        if (xmlHasProp(n, BAD_CAST "listen"))
            xmlSetProp(n, BAD_CAST "listen", BAD_CAST listen);
        /* libvirt states the address again in a child (a socket or a
         * network listen is left as it is) */
        for (xmlNodePtr l = n->children; l; l = l->next)
            if (named(l, "listen") && prop_is(l, "type", "address"))
                xmlSetProp(l, BAD_CAST "address", BAD_CAST listen);
    }
    return write_domain(doc, err);
}
