/* libvirt capabilities XML -> drv_host.
 *
 * Reads /capabilities/host/topology/cells/cell (id, memory, cpus/cpu with
 * socket_id, die_id, core_id, siblings) and /capabilities/host/cache/bank
 * of level 3 (docs/formatcaps.rst).  What older libvirt or stripped
 * samples leave out is tolerated: no socket/core attributes (each CPU its
 * own core unless siblings say otherwise), no memory (limits->mem_mib), no
 * cache (no L3 domains).  A CPU listed without socket_id while others have
 * one is offline (libvirt prints offline CPUs bare) and is left out.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/err.h"
#include "driver/host_priv.h"

static bool drv_caps_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *drv_caps_child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (drv_caps_is(c, name))
            return c;
    return NULL;
}

/* Integer attribute; *out = dflt when absent.  -1 with *err when present
 * but not an integer in [0, INT32_MAX]. */
static int drv_caps_int_attr(const xmlNode *n, const char *name, int32_t dflt, int32_t *out,
                             struct err **err)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol((const char *)v, &end, 10);
    bool ok = end != (char *)v && *end == '\0' && errno == 0 && x >= 0 && x <= INT32_MAX;
    if (!ok)
        err_set(err, ERR_INVALID, "capabilities: <%s %s='%s'> is not a valid number",
                (const char *)n->name, name, (const char *)v);
    xmlFree(v);
    if (!ok)
        return -1;
    *out = (int32_t)x;
    return 0;
}

/* <memory unit='KiB'>N</memory> in MiB (libvirt's scaled integers: KB is
 * 1000, KiB and k are 1024). */
static int drv_caps_memory_mib(const xmlNode *mem, double *out, struct err **err)
{
    static const struct {
        const char *unit;
        double bytes;
    } units[] = {
        {"b", 1},
        {"bytes", 1},
        {"KB", 1e3},
        {"k", 1024.0},
        {"KiB", 1024.0},
        {"MB", 1e6},
        {"M", 1048576.0},
        {"MiB", 1048576.0},
        {"GB", 1e9},
        {"G", 1073741824.0},
        {"GiB", 1073741824.0},
        {"TB", 1e12},
        {"T", 1099511627776.0},
        {"TiB", 1099511627776.0},
    };
    xmlChar *unit = xmlGetProp(mem, (const xmlChar *)"unit");
    xmlChar *text = xmlNodeGetContent(mem);
    double scale = 1024.0; /* KiB when no unit is given */
    int ret = 0;

    if (unit) {
        scale = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++)
            if (strcmp((const char *)unit, units[i].unit) == 0)
                scale = units[i].bytes;
        if (scale == 0)
            ret = err_set(err, ERR_INVALID, "capabilities: unknown memory unit `%s`",
                          (const char *)unit);
    }
    if (ret == 0) {
        char *end;
        errno = 0;
        double x = strtod(text ? (const char *)text : "", &end);
        while (end && (*end == ' ' || *end == '\n' || *end == '\t'))
            end++;
        if (!text || end == (char *)text || *end || errno || !(x >= 0))
            ret = err_set(err, ERR_INVALID, "capabilities: memory `%s` is not a size",
                          text ? (const char *)text : "");
        else
            *out = x * scale / 1048576.0;
    }
    xmlFree(unit);
    xmlFree(text);
    return ret;
}

/* Does any CPU of the document carry socket_id? */
static bool drv_caps_any_socket(const xmlNode *cells)
{
    for (const xmlNode *cell = cells->children; cell; cell = cell->next) {
        if (!drv_caps_is(cell, "cell"))
            continue;
        for (const xmlNode *c = drv_caps_child(drv_caps_child(cell, "cpus"), "cpu"); c; c = c->next)
            if (drv_caps_is(c, "cpu") && xmlHasProp(c, (const xmlChar *)"socket_id"))
                return true;
    }
    return false;
}

static int drv_caps_cpu(struct drv_host_builder *b, const xmlNode *c, int32_t node_id,
                        bool need_socket, struct err **err)
{
    struct drv_host_raw_cpu cpu = {.node_id = node_id};
    if (!xmlHasProp(c, (const xmlChar *)"id"))
        return err_set(err, ERR_INVALID, "capabilities: a <cpu> of cell %d has no id", node_id);
    if (need_socket && !xmlHasProp(c, (const xmlChar *)"socket_id"))
        return 0; /* offline */
    if (drv_caps_int_attr(c, "id", -1, &cpu.id, err) < 0 ||
        drv_caps_int_attr(c, "socket_id", -1, &cpu.socket, err) < 0 ||
        drv_caps_int_attr(c, "die_id", -1, &cpu.die, err) < 0 ||
        drv_caps_int_attr(c, "core_id", -1, &cpu.core, err) < 0)
        return -1;
    cpu.sibling0 = -1;
    xmlChar *sib = xmlGetProp(c, (const xmlChar *)"siblings");
    if (sib) {
        struct drv_cpuset s;
        int rc = drv_cpuset_parse((const char *)sib, &s, err);
        xmlFree(sib);
        if (rc < 0)
            return err_wrap(err, "capabilities: siblings of CPU %d", cpu.id);
        for (int i = 0; i < DRV_CPUSET_MAX && cpu.sibling0 < 0; i++)
            if (drv_cpuset_has(&s, i))
                cpu.sibling0 = i;
    }
    return drv_host_builder_add_cpu(b, &cpu, err);
}

static int drv_caps_cells(struct drv_host_builder *b, const xmlNode *cells, struct err **err)
{
    bool need_socket = drv_caps_any_socket(cells);
    for (const xmlNode *cell = cells->children; cell; cell = cell->next) {
        if (!drv_caps_is(cell, "cell"))
            continue;
        int32_t id;
        double mem = -1;
        if (!xmlHasProp(cell, (const xmlChar *)"id"))
            return err_set(err, ERR_INVALID, "capabilities: a <cell> has no id");
        if (drv_caps_int_attr(cell, "id", -1, &id, err) < 0)
            return -1;
        const xmlNode *m = drv_caps_child(cell, "memory");
        if (m && drv_caps_memory_mib(m, &mem, err) < 0)
            return err_wrap(err, "cell %d", id);
        if (drv_host_builder_add_node(b, id, mem, err) < 0)
            return -1;
        for (const xmlNode *c = drv_caps_child(drv_caps_child(cell, "cpus"), "cpu"); c; c = c->next)
            if (drv_caps_is(c, "cpu") && drv_caps_cpu(b, c, id, need_socket, err) < 0)
                return -1;
    }
    return 0;
}

static int drv_caps_cache(struct drv_host_builder *b, const xmlNode *cache, struct err **err)
{
    for (const xmlNode *bank = cache ? cache->children : NULL; bank; bank = bank->next) {
        if (!drv_caps_is(bank, "bank"))
            continue;
        int32_t level, id;
        if (drv_caps_int_attr(bank, "level", 0, &level, err) < 0 ||
            drv_caps_int_attr(bank, "id", 0, &id, err) < 0)
            return -1;
        if (level != 3)
            continue;
        xmlChar *cpus = xmlGetProp(bank, (const xmlChar *)"cpus");
        if (!cpus)
            continue;
        struct drv_cpuset s;
        int rc = drv_cpuset_parse((const char *)cpus, &s, err);
        xmlFree(cpus);
        if (rc < 0)
            return err_wrap(err, "capabilities: L3 bank %d", id);
        drv_host_builder_add_l3(b, id, &s);
    }
    return 0;
}

struct drv_host *drv_host_parse_capabilities(const char *xml, const struct drv_host_limits *lim,
                                             struct err **err)
{
    struct drv_host_builder b;
    struct drv_host *h = NULL;
    size_t len = strlen(xml);

    if (len > INT_MAX) {
        err_set(err, ERR_INVALID, "capabilities XML too large");
        return NULL;
    }
    /* NOERROR/NOWARNING keep libxml2 off stderr; the last error (per
     * thread) becomes our one message */
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "capabilities.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        err_set(err, ERR_INVALID, "capabilities: not well-formed XML (line %d: %s)",
                e ? e->line : 0, e && e->message ? e->message : "parse error");
        return NULL;
    }
    drv_host_builder_init(&b, lim, "capabilities");
    const xmlNode *root = xmlDocGetRootElement(doc);
    const xmlNode *host =
        root && drv_caps_is(root, "capabilities") ? drv_caps_child(root, "host") : NULL;
    const xmlNode *cells = drv_caps_child(drv_caps_child(host, "topology"), "cells");
    if (!host)
        err_set(err, ERR_INVALID, "capabilities: no <capabilities><host> element");
    else if (!cells)
        err_set(err, ERR_INVALID, "capabilities: no <host><topology><cells> (NUMA) element");
    else if (drv_caps_cells(&b, cells, err) == 0 &&
             drv_caps_cache(&b, drv_caps_child(host, "cache"), err) == 0)
        h = drv_host_build(&b, err);
    drv_host_builder_release(&b);
    xmlFreeDoc(doc);
    return h;
}
