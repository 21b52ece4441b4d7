/* info_from_instance and exception_to_dict, from the Instance primitive
 * (nova/notifications/base.py, nova/compute/utils.py). */
#include "openstack/notify_payload.h"

#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "openstack/nova_instance.h"
#include "openstack/ovo.h"

/* exception_to_dict truncates the message for the database's column */
#define NOTIFY_FAULT_MESSAGE_MAX 255

char *os_notify_str_datetime(const char *iso, char *buf, int size)
{
    int64_t t;
    if (!iso || ovo_datetime_parse(iso, &t) < 0) {
        snprintf(buf, (size_t)size, "None");
        return buf;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, (size_t)size, "%Y-%m-%d %H:%M:%S+00:00", &tm);
    return buf;
}

char *os_notify_isotime(const char *iso, char *buf, int size)
{
    int64_t t;
    if (!iso || ovo_datetime_parse(iso, &t) < 0) {
        buf[0] = '\0';
        return buf;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    /* primitives carry whole seconds (oslo's isotime) */
    strftime(buf, (size_t)size, "%Y-%m-%dT%H:%M:%S.000000", &tm);
    return buf;
}

/* A field as it is (a new reference), null when absent. */
static json_t *field(const json_t *prim, const char *name)
{
    json_t *v = prim ? ovo_get(prim, name) : NULL;
    return v ? json_incref(v) : json_null();
}

/* null_safe_str(): str(s) if s else '' */
static json_t *safe_str(const json_t *prim, const char *name)
{
    const char *s = ovo_get_str(prim, name);
    return json_string(s ? s : "");
}

static json_t *dated(const json_t *prim, const char *name, bool python_str)
{
    char buf[40];
    const char *iso = ovo_get_str(prim, name);
    return json_string(python_str ? os_notify_str_datetime(iso, buf, sizeof(buf))
                                  : os_notify_isotime(iso, buf, sizeof(buf)));
}

static int64_t flavor_int(const json_t *flavor, const char *name)
{
    int64_t v = 0;
    if (flavor)
        ovo_get_int(flavor, name, &v);
    return v;
}

json_t *os_notify_instance_info(const json_t *prim, const char *image_ref_url, json_t *fixed_ips)
{
    const json_t *flavor = ovo_get(prim, "flavor");
    if (flavor && !ovo_data(flavor))
        flavor = NULL;
    const char *flavor_name = flavor ? ovo_get_str(flavor, "name") : NULL;
    const char *flavorid = flavor ? ovo_get_str(flavor, "flavorid") : NULL;
    int64_t root_gb = flavor_int(flavor, "root_gb");
    int64_t ephemeral_gb = flavor_int(flavor, "ephemeral_gb");
    int64_t progress = 0;
    bool has_progress = ovo_get_int(prim, "progress", &progress) && progress != 0;

    json_t *info = json_object();
    /* owner */
    json_object_set_new(info, "tenant_id", field(prim, "project_id"));
    json_object_set_new(info, "user_id", field(prim, "user_id"));
    /* identity */
    json_object_set_new(info, "instance_id", field(prim, "uuid"));
    json_object_set_new(info, "display_name", field(prim, "display_name"));
    json_object_set_new(info, "reservation_id", field(prim, "reservation_id"));
    json_object_set_new(info, "hostname", field(prim, "hostname"));
    /* type */
    json_object_set_new(info, "instance_type", json_string(flavor_name ? flavor_name : ""));
    json_object_set_new(info, "instance_type_id", field(prim, "instance_type_id"));
    json_object_set_new(info, "instance_flavor_id", json_string(flavorid ? flavorid : ""));
    json_object_set_new(info, "architecture", field(prim, "architecture"));
    /* capacity */
    json_object_set_new(info, "memory_mb", json_integer(flavor_int(flavor, "memory_mb")));
    json_object_set_new(info, "disk_gb", json_integer(root_gb + ephemeral_gb));
    json_object_set_new(info, "vcpus", json_integer(flavor_int(flavor, "vcpus")));
    json_object_set_new(info, "root_gb", json_integer(root_gb));
    json_object_set_new(info, "ephemeral_gb", json_integer(ephemeral_gb));
    /* location */
    json_object_set_new(info, "host", field(prim, "host"));
    json_object_set_new(info, "node", field(prim, "node"));
    json_object_set_new(info, "availability_zone", field(prim, "availability_zone"));
    json_object_set_new(info, "cell_name", safe_str(prim, "cell_name"));
    /* dates: created_at is str(datetime), the others nova.utils.strtime */
    json_object_set_new(info, "created_at", dated(prim, "created_at", true));
    json_object_set_new(info, "terminated_at", dated(prim, "terminated_at", false));
    json_object_set_new(info, "deleted_at", dated(prim, "deleted_at", false));
    json_object_set_new(info, "launched_at", dated(prim, "launched_at", false));
    /* image */
    json_object_set_new(info, "image_ref_url",
                        image_ref_url ? json_string(image_ref_url) : json_null());
    json_object_set_new(info, "os_type", field(prim, "os_type"));
    json_object_set_new(info, "kernel_id", field(prim, "kernel_id"));
    json_object_set_new(info, "ramdisk_id", field(prim, "ramdisk_id"));
    /* status */
    json_object_set_new(info, "state", field(prim, "vm_state"));
    json_object_set_new(info, "state_description", safe_str(prim, "task_state"));
    json_object_set_new(info, "progress", has_progress ? json_integer(progress) : json_string(""));
    json_object_set_new(info, "access_ip_v4", field(prim, "access_ip_v4"));
    json_object_set_new(info, "access_ip_v6", field(prim, "access_ip_v6"));

    if (fixed_ips)
        json_object_set_new(info, "fixed_ips", fixed_ips);
    json_t *image_meta = json_object();
    json_t *sysmeta = ovo_get(prim, "system_metadata");
    const char *key;
    json_t *v;
    json_object_foreach(sysmeta, key, v) {
        if (strncmp(key, "image_", 6) == 0)
            json_object_set(image_meta, key + 6, v);
    }
    json_object_set_new(info, "image_meta", image_meta);
    json_t *md = ovo_get(prim, "metadata");
    json_object_set_new(info, "metadata", json_is_object(md) ? json_deep_copy(md) : json_object());
    return info;
}

json_t *os_notify_fixed_ips(const json_t *network_info)
{
    json_t *out = json_array();
    size_t i, j, k;
    json_t *vif, *subnet, *ip;
    json_array_foreach(network_info, i, vif) {
        json_t *net = json_object_get(vif, "network");
        json_t *label = json_object_get(net, "label");
        json_t *mac = json_object_get(vif, "address");
        json_array_foreach(json_object_get(net, "subnets"), j, subnet) {
            json_array_foreach(json_object_get(subnet, "ips"), k, ip) {
                if (!json_is_object(ip))
                    continue;
                json_t *copy = json_deep_copy(ip);
                json_object_set_new(copy, "label", label ? json_incref(label) : json_null());
                json_object_set_new(copy, "vif_mac", mac ? json_incref(mac) : json_null());
                json_array_append_new(out, copy);
            }
        }
    }
    return out;
}

/* repr() of an exception with one string argument, as the notifier's
 * JSON serializer falls back to str() of what it cannot encode. */
static char *exception_repr(const char *cls, const char *msg)
{
    bool single = strchr(msg, '\'') != NULL && strchr(msg, '"') == NULL;
    struct strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "%s(%c", cls, single ? '"' : '\'');
    for (const char *p = msg; *p; p++) {
        if (*p == '\\')
            strbuf_append(&b, "\\\\");
        else if (*p == '\n')
            strbuf_append(&b, "\\n");
        else if (*p == '\'' && !single)
            strbuf_append(&b, "\\'");
        else
            strbuf_append_len(&b, p, 1);
    }
    strbuf_printf(&b, "%c)", single ? '"' : '\'');
    return strbuf_steal(&b);
}

void os_notify_add_fault(json_t *payload, const char *cls, const struct err *fault)
{
    const char *msg = fault && fault->msg ? fault->msg : (cls ? cls : "NovaException");
    /* at most 255 characters, not cutting a UTF-8 sequence */
    size_t n = 0, chars = 0;
    while (msg[n] && chars < NOTIFY_FAULT_MESSAGE_MAX) {
        n++;
        while ((msg[n] & 0xC0) == 0x80)
            n++;
        chars++;
    }
    autofree char *cut = xstrndup(msg, n);
    autofree char *repr = exception_repr(cls ? cls : "NovaException", msg);
    json_object_set_new(payload, "exception", json_string(repr));
    json_object_set_new(payload, "message", json_string(cut));
    json_object_set_new(payload, "code", json_integer(os_fault_code_of(fault)));
}
