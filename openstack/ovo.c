#include "openstack/ovo.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"

#define OVO_NAME "nova_object.name"
#define OVO_NAMESPACE "nova_object.namespace"
#define OVO_VERSION "nova_object.version"
#define OVO_DATA "nova_object.data"
#define OVO_CHANGES "nova_object.changes"

/* Nesting deeper than this is not a Nova object but an attack. */
#define OVO_MAX_DEPTH 32

/* Every object Zed (python3-nova 26.2.2) registers, at its version there:
 * protocol.md Appendix A, checked against nova.objects.register_all().
 * Sorted by name for bsearch. */
static const struct ovo_known {
    const char *name;
    const char *version;
} ovo_zed[] = {
    {"Aggregate", "1.3"},
    {"AggregateList", "1.3"},
    {"BlockDeviceMapping", "1.21"},
    {"BlockDeviceMappingList", "1.18"},
    {"BuildRequest", "1.3"},
    {"BuildRequestList", "1.0"},
    {"CellMapping", "1.1"},
    {"CellMappingList", "1.1"},
    {"ComputeNode", "1.19"},
    {"ComputeNodeList", "1.17"},
    {"ConsoleAuthToken", "1.1"},
    {"CpuDiagnostics", "1.0"},
    {"Destination", "1.4"},
    {"DeviceBus", "1.0"},
    {"DeviceMetadata", "1.0"},
    {"Diagnostics", "1.0"},
    {"DiskDiagnostics", "1.0"},
    {"DiskMetadata", "1.0"},
    {"EC2Ids", "1.0"},
    {"EC2InstanceMapping", "1.0"},
    {"Flavor", "1.2"},
    {"FlavorList", "1.1"},
    {"HVSpec", "1.2"},
    {"HostMapping", "1.0"},
    {"HostMappingList", "1.1"},
    {"HyperVLiveMigrateData", "1.4"},
    {"IDEDeviceBus", "1.0"},
    {"ImageMeta", "1.8"},
    {"ImageMetaProps", "1.34"},
    {"Instance", "2.7"},
    {"InstanceAction", "1.2"},
    {"InstanceActionEvent", "1.4"},
    {"InstanceActionEventList", "1.1"},
    {"InstanceActionList", "1.1"},
    {"InstanceDeviceMetadata", "1.0"},
    {"InstanceExternalEvent", "1.5"},
    {"InstanceFault", "1.2"},
    {"InstanceFaultList", "1.2"},
    {"InstanceGroup", "1.11"},
    {"InstanceGroupList", "1.8"},
    {"InstanceInfoCache", "1.5"},
    {"InstanceList", "2.6"},
    {"InstanceMapping", "1.2"},
    {"InstanceMappingList", "1.3"},
    {"InstanceNUMACell", "1.6"},
    {"InstanceNUMATopology", "1.3"},
    {"InstancePCIRequest", "1.4"},
    {"InstancePCIRequests", "1.1"},
    {"KeyPair", "1.4"},
    {"KeyPairList", "1.3"},
    {"LibvirtLiveMigrateBDMInfo", "1.1"},
    {"LibvirtLiveMigrateData", "1.10"},
    {"LibvirtLiveMigrateNUMAInfo", "1.0"},
    {"LibvirtVPMEMDevice", "1.0"},
    {"MemoryDiagnostics", "1.0"},
    {"Migration", "1.7"},
    {"MigrationContext", "1.2"},
    {"MigrationList", "1.5"},
    {"MonitorMetric", "1.1"},
    {"MonitorMetricList", "1.1"},
    {"NUMACell", "1.5"},
    {"NUMAPagesTopology", "1.1"},
    {"NUMATopology", "1.2"},
    {"NUMATopologyLimits", "1.1"},
    {"NetworkInterfaceMetadata", "1.2"},
    {"NetworkMetadata", "1.0"},
    {"NetworkRequest", "1.3"},
    {"NetworkRequestList", "1.1"},
    {"NicDiagnostics", "1.0"},
    {"PCIDeviceBus", "1.0"},
    {"PciDevice", "1.7"},
    {"PciDeviceList", "1.3"},
    {"PciDevicePool", "1.1"},
    {"PciDevicePoolList", "1.1"},
    {"Quotas", "1.3"},
    {"QuotasNoOp", "1.3"},
    {"RequestGroup", "1.3"},
    {"RequestLevelParams", "1.1"},
    {"RequestSpec", "1.14"},
    {"Resource", "1.0"},
    {"ResourceList", "1.0"},
    {"ResourceMetadata", "1.0"},
    {"S3ImageMapping", "1.0"},
    {"SCSIDeviceBus", "1.0"},
    {"SchedulerLimits", "1.0"},
    {"SchedulerRetries", "1.1"},
    {"SecurityGroup", "1.2"},
    {"SecurityGroupList", "1.1"},
    {"Selection", "1.1"},
    {"Service", "1.22"},
    {"ServiceList", "1.19"},
    {"Tag", "1.1"},
    {"TagList", "1.1"},
    {"TaskLog", "1.0"},
    {"TaskLogList", "1.0"},
    {"TrustedCerts", "1.0"},
    {"USBDeviceBus", "1.0"},
    {"VIFMigrateData", "1.0"},
    {"VMwareLiveMigrateData", "1.0"},
    {"VirtCPUFeature", "1.0"},
    {"VirtCPUModel", "1.0"},
    {"VirtCPUTopology", "1.0"},
    {"VirtualInterface", "1.3"},
    {"VirtualInterfaceList", "1.0"},
    {"VolumeUsage", "1.0"},
    {"XenDeviceBus", "1.0"},
};

static int ovo_known_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct ovo_known *)elem)->name);
}

const char *ovo_zed_version(const char *name)
{
    if (!name)
        return NULL;
    const struct ovo_known *k =
        bsearch(name, ovo_zed, ARRAY_SIZE(ovo_zed), sizeof(ovo_zed[0]), ovo_known_cmp);
    return k ? k->version : NULL;
}

int ovo_version_parse(const char *v, int *major, int *minor)
{
    int parts[3] = {0, 0, 0};
    int n = 0;
    const char *p = v;
    if (!p || !*p)
        return -1;
    for (;;) {
        if (!isdigit((unsigned char)*p) || n == 3)
            return -1;
        long x = 0;
        while (isdigit((unsigned char)*p)) {
            x = x * 10 + (*p - '0');
            if (x > 1000000)
                return -1;
            p++;
        }
        parts[n++] = (int)x;
        if (*p == '\0')
            break;
        if (*p != '.')
            return -1;
        p++;
    }
    if (n < 2)
        return -1;
    *major = parts[0];
    *minor = parts[1];
    return 0;
}

int ovo_version_cmp(const char *a, const char *b)
{
    int amaj = 0, amin = 0, bmaj = 0, bmin = 0;
    if (ovo_version_parse(a, &amaj, &amin) < 0)
        amaj = amin = 0;
    if (ovo_version_parse(b, &bmaj, &bmin) < 0)
        bmaj = bmin = 0;
    if (amaj != bmaj)
        return amaj < bmaj ? -1 : 1;
    if (amin != bmin)
        return amin < bmin ? -1 : 1;
    return 0;
}

json_t *ovo_new(const char *name)
{
    const char *version = ovo_zed_version(name);
    if (!version)
        abort(); /* a name typo in our own code */
    return json_pack("{s:s, s:s, s:s, s:{}, s:[]}", OVO_NAME, name, OVO_NAMESPACE, "nova",
                     OVO_VERSION, version, OVO_DATA, OVO_CHANGES);
}

bool ovo_is(const json_t *v, const char *name)
{
    if (!json_is_object(v))
        return false;
    const char *n = json_string_value(json_object_get(v, OVO_NAME));
    const char *ns = json_string_value(json_object_get(v, OVO_NAMESPACE));
    if (!n || !ns || strcmp(ns, "nova") != 0)
        return false;
    if (!json_is_string(json_object_get(v, OVO_VERSION)) ||
        !json_is_object(json_object_get(v, OVO_DATA)))
        return false;
    return !name || strcmp(n, name) == 0;
}

static int ovo_validate_value(const json_t *v, int depth, struct err **err);

static int ovo_validate_object(const json_t *v, int depth, struct err **err)
{
    const char *name = json_string_value(json_object_get(v, OVO_NAME));
    const char *ns = json_string_value(json_object_get(v, OVO_NAMESPACE));
    const char *version = json_string_value(json_object_get(v, OVO_VERSION));
    json_t *data = json_object_get(v, OVO_DATA);
    json_t *changes = json_object_get(v, OVO_CHANGES);
    int major, minor;

    if (!name || !ns || !version)
        return err_set(err, ERR_INVALID, "nova object without name, namespace or version");
    if (strcmp(ns, "nova") != 0)
        return err_set(err, ERR_INVALID, "object `%s` has namespace `%s`, not `nova`", name, ns);
    const char *zed = ovo_zed_version(name);
    if (!zed)
        return err_set(err, ERR_UNSUPPORTED, "unknown object class `%s`", name);
    if (ovo_version_parse(version, &major, &minor) < 0)
        return err_set(err, ERR_INVALID, "object `%s` has a malformed version `%s`", name,
                       version);
    if (ovo_version_cmp(version, zed) > 0)
        return err_set(err, ERR_UNSUPPORTED, "object `%s` version %s is newer than %s", name,
                       version, zed);
    int zmaj = 0, zmin = 0;
    ovo_version_parse(zed, &zmaj, &zmin);
    if (major != zmaj)
        return err_set(err, ERR_UNSUPPORTED, "object `%s` version %s: major %d not served",
                       name, version, major);
    if (!json_is_object(data))
        return err_set(err, ERR_INVALID, "object `%s` has no data dict", name);
    if (changes && !json_is_array(changes))
        return err_set(err, ERR_INVALID, "object `%s` has a malformed changes list", name);
    const char *key;
    json_t *field;
    json_object_foreach(data, key, field) {
        if (ovo_validate_value(field, depth + 1, err) < 0)
            return err_wrap(err, "%s.%s", name, key);
    }
    return 0;
}

static int ovo_validate_value(const json_t *v, int depth, struct err **err)
{
    if (depth > OVO_MAX_DEPTH)
        return err_set(err, ERR_INVALID, "objects nested deeper than %d", OVO_MAX_DEPTH);
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (ovo_validate_value(e, depth + 1, err) < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    if (json_object_get(v, OVO_NAME))
        return ovo_validate_object(v, depth, err);
    /* A plain dict (metadata, stats...) may still hold objects. */
    const char *key;
    json_t *e;
    json_object_foreach((json_t *)v, key, e) {
        if (ovo_validate_value(e, depth + 1, err) < 0)
            return -1;
    }
    return 0;
}

int ovo_validate(const json_t *v, const char *name, struct err **err)
{
    if (!json_is_object(v) || !json_object_get(v, OVO_NAME))
        return err_set(err, ERR_INVALID, "expected a %s object", name ? name : "nova");
    if (ovo_validate_object(v, 0, err) < 0)
        return -1;
    if (name && strcmp(ovo_name(v), name) != 0)
        return err_set(err, ERR_INVALID, "expected a %s object, got %s", name, ovo_name(v));
    return 0;
}

const char *ovo_name(const json_t *prim)
{
    return json_string_value(json_object_get(prim, OVO_NAME));
}

const char *ovo_version(const json_t *prim)
{
    return json_string_value(json_object_get(prim, OVO_VERSION));
}

json_t *ovo_data(const json_t *prim)
{
    json_t *d = json_object_get(prim, OVO_DATA);
    return json_is_object(d) ? d : NULL;
}

json_t *ovo_get(const json_t *prim, const char *field)
{
    json_t *d = ovo_data(prim);
    return d ? json_object_get(d, field) : NULL;
}

const char *ovo_get_str(const json_t *prim, const char *field)
{
    return json_string_value(ovo_get(prim, field));
}

bool ovo_get_int(const json_t *prim, const char *field, int64_t *out)
{
    json_t *v = ovo_get(prim, field);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

bool ovo_get_bool(const json_t *prim, const char *field, bool *out)
{
    json_t *v = ovo_get(prim, field);
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

void ovo_mark_changed(json_t *prim, const char *field)
{
    json_t *changes = json_object_get(prim, OVO_CHANGES);
    if (!json_is_array(changes)) {
        changes = json_array();
        json_object_set_new(prim, OVO_CHANGES, changes);
    }
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c) {
        if (json_is_string(c) && strcmp(json_string_value(c), field) == 0)
            return;
    }
    json_array_append_new(changes, json_string(field));
}

void ovo_set(json_t *prim, const char *field, json_t *value)
{
    json_t *d = ovo_data(prim);
    if (!d) {
        d = json_object();
        json_object_set_new(prim, OVO_DATA, d);
    }
    json_object_set_new(d, field, value ? value : json_null());
    ovo_mark_changed(prim, field);
}

void ovo_set_str(json_t *prim, const char *field, const char *s)
{
    ovo_set(prim, field, s ? json_string(s) : json_null());
}

void ovo_set_int(json_t *prim, const char *field, int64_t v)
{
    ovo_set(prim, field, json_integer(v));
}

void ovo_clear_changes(json_t *prim)
{
    if (!json_is_object(prim))
        return;
    if (json_object_get(prim, OVO_CHANGES))
        json_object_set_new(prim, OVO_CHANGES, json_array());
    json_t *d = ovo_data(prim);
    const char *key;
    json_t *v;
    json_object_foreach(d, key, v) {
        if (ovo_is(v, NULL))
            ovo_clear_changes(v);
    }
}

int ovo_apply_updates(json_t *prim, const json_t *updates, struct err **err)
{
    if (json_is_null(updates))
        return 0;
    if (!json_is_object(updates))
        return err_set(err, ERR_INVALID, "object_action updates is not a dict");
    json_t *d = ovo_data(prim);
    if (!d)
        return err_set(err, ERR_INVALID, "object has no data dict");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)updates, key, v) {
        if (strcmp(key, "obj_what_changed") == 0)
            continue;
        json_object_set(d, key, v);
    }
    return 0;
}

char *ovo_datetime_format(int64_t t, char *buf, int size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, (size_t)size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static int ovo_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int ovo_datetime_parse(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, se;
    const char *p = s;
    if (!s)
        return -1;
    if (ovo_digits(&p, 4, &y) < 0 || *p++ != '-' || ovo_digits(&p, 2, &mo) < 0 ||
        *p++ != '-' || ovo_digits(&p, 2, &d) < 0 || (*p != 'T' && *p != ' '))
        return -1;
    p++;
    if (ovo_digits(&p, 2, &h) < 0 || *p++ != ':' || ovo_digits(&p, 2, &mi) < 0 ||
        *p++ != ':' || ovo_digits(&p, 2, &se) < 0)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int offset_s = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (ovo_digits(&p, 2, &oh) < 0)
            return -1;
        if (*p == ':')
            p++;
        if (ovo_digits(&p, 2, &om) < 0)
            return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0')
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (int64_t)timegm(&tm) - offset_s;
    return 0;
}

json_t *ovo_list_objects(const json_t *prim)
{
    json_t *objs = ovo_get(prim, "objects");
    return json_is_array(objs) ? objs : NULL;
}
