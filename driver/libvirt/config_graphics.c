/* A domain's remote consoles in its XML (config.h): the port libvirt gave
 * a running guest's VNC server, and a migration's XML with the listen
 * address of the destination (Nova's _update_graphics_xml). */
#include "driver/libvirt/config.h"

#include <errno.h>
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

int lv_cfg_console_port(const char *xml, enum drv_hv_console type, int *port, struct err **err)
{
    const char *name = console_type_name(type);
    if (!name)
        return err_set(err, ERR_INVALID, "console type %d", (int)type);
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
        char *end = NULL;
        errno = 0;
        long p = v ? strtol((const char *)v, &end, 10) : -1;
        /* -1: not allocated (the domain is not running) */
        if (!v || errno || *end || p <= 0 || p > 65535)
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
