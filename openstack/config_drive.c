/* A build's config drive in Nova's layout (config_drive.h).  What each
 * metadata version holds follows InstanceMetadata._metadata_as_json and
 * metadata_for_config_drive of Nova Zed. */
#include "openstack/config_drive.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/alloc.h"
#include "common/err.h"
#include "openstack/base64.h"
#include "openstack/ovo.h"

/* nova/api/metadata/base.py OPENSTACK_VERSIONS, then "latest" (ordered:
 * a version includes what the ones before it introduced). */
enum md_version {
    MD_FOLSOM,     /* 2012-08-10 */
    MD_GRIZZLY,    /* 2013-04-04: random_seed */
    MD_HAVANA,     /* 2013-10-17: vendor_data.json */
    MD_LIBERTY,    /* 2015-10-15: project_id, network_data.json */
    MD_NEWTON_ONE, /* 2016-06-30: devices */
    MD_NEWTON_TWO, /* 2016-10-06: vendor_data2.json */
    MD_OCATA,      /* 2017-02-22 */
    MD_ROCKY,      /* 2018-08-27 */
    MD_VICTORIA,   /* 2020-10-14: dedicated_cpus */
    MD_LATEST,
    MD_LAST,
};

static const char *const MD_NAMES[MD_LAST] = {
    "2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
    "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest",
};

/* Nova's StrOpt-as-bool: config_drive is "True" or "" on the wire. */
static bool truthy(const char *s)
{
    return s && *s && strcasecmp(s, "false") != 0 && strcmp(s, "0") != 0 &&
           strcasecmp(s, "no") != 0 && strcasecmp(s, "off") != 0;
}

bool os_config_drive_required(const json_t *inst, const json_t *image,
                              const struct os_config_drive_opts *o)
{
    if (truthy(ovo_get_str(inst, "config_drive")))
        return true;
    const char *launched = ovo_get_str(inst, "launched_at");
    if (o->force && !launched)
        return true;
    json_t *props = json_object_get(image, "properties");
    const char *policy = json_string_value(json_object_get(props, "img_config_drive"));
    if (policy && strcmp(policy, "mandatory") == 0)
        return true;
    const char *ud = ovo_get_str(inst, "user_data");
    return ud && *ud;
}

json_t *os_config_drive_image_of(const json_t *inst)
{
    /* nova/utils.py get_image_from_system_metadata */
    static const char *const top[] = {"min_ram", "min_disk", "disk_format", "container_format"};
    static const char *const skip[] = {"mappings", "block_device_mapping", "img_mappings",
                                       "img_block_device_mapping"};
    json_t *props = json_object();
    const char *ref = ovo_get_str(inst, "image_ref");
    json_t *image = json_pack("{s:s?, s:o}", "id", ref && *ref ? ref : NULL, "properties", props);
    json_t *sm = ovo_get(inst, "system_metadata");
    const char *key;
    json_t *v;
    json_object_foreach(sm, key, v) {
        if (strncmp(key, "image_", 6) != 0 || json_is_null(v))
            continue;
        const char *name = key + 6;
        bool at_top = false, skipped = false;
        for (size_t k = 0; k < sizeof(top) / sizeof(top[0]); k++)
            at_top = at_top || strcmp(name, top[k]) == 0;
        for (size_t k = 0; k < sizeof(skip) / sizeof(skip[0]); k++)
            skipped = skipped || strcmp(name, skip[k]) == 0;
        if (!skipped && *name)
            json_object_set(at_top ? image : props, name, v);
    }
    return image;
}

static void add_json(struct drv_hv_config_drive *cd, const char *version, const char *name,
                     const json_t *v)
{
    autofree char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    autofree char *path = xasprintf("openstack/%s/%s", version, name);
    drv_hv_config_drive_add(cd, path, text, strlen(text));
}

/* The key pair Nova puts in public_keys and keys: the instance's
 * KeyPairList first, else key_name/key_data. */
static void add_keys(json_t *md, const json_t *inst)
{
    const char *name = ovo_get_str(inst, "key_name");
    const char *data = ovo_get_str(inst, "key_data");
    const char *type = "ssh";
    json_t *pairs = ovo_list_objects(ovo_get(inst, "keypairs"));
    json_t *first = json_array_get(pairs, 0);
    if (first && ovo_get_str(first, "public_key")) {
        name = ovo_get_str(first, "name");
        data = ovo_get_str(first, "public_key");
        if (ovo_get_str(first, "type"))
            type = ovo_get_str(first, "type");
    }
    if (!name || !data)
        return;
    json_object_set_new(md, "public_keys", json_pack("{s:s}", name, data));
    json_object_set_new(md, "keys",
                        json_pack("[{s:s, s:s, s:s}]", "name", name, "type", type, "data", data));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* meta_data.json of one version. */
static json_t *meta_data(const json_t *inst, enum md_version v, const json_t *files,
                         const char *admin_password, const struct os_config_drive_opts *o,
                         struct err **err)
{
    json_t *md = json_object();
    json_object_set_new(md, "uuid", str_or_null(ovo_get_str(inst, "uuid")));
    json_t *meta = ovo_get(inst, "metadata");
    if (json_is_object(meta) && json_object_size(meta))
        json_object_set(md, "meta", meta);
    if (json_array_size(files))
        json_object_set(md, "files", (json_t *)files);
    if (admin_password)
        json_object_set_new(md, "admin_pass", json_string(admin_password));
    add_keys(md, inst);
    const char *host = ovo_get_str(inst, "hostname");
    if (host && o->dhcp_domain && *o->dhcp_domain) {
        autofree char *fqdn = xasprintf("%s.%s", host, o->dhcp_domain);
        json_object_set_new(md, "hostname", json_string(fqdn));
    } else {
        json_object_set_new(md, "hostname", str_or_null(host));
    }
    json_object_set_new(md, "name", str_or_null(ovo_get_str(inst, "display_name")));
    int64_t index = 0;
    json_object_set_new(md, "launch_index",
                        ovo_get_int(inst, "launch_index", &index) ? json_integer(index)
                                                                  : json_null());
    json_object_set_new(md, "availability_zone",
                        str_or_null(ovo_get_str(inst, "availability_zone")));
    if (v >= MD_GRIZZLY) {
        unsigned char seed[512];
        size_t got = 0;
        while (got < sizeof(seed)) {
            ssize_t n = getrandom(seed + got, sizeof(seed) - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                json_decref(md);
                err_set_errno(err, errno, "getrandom");
                return NULL;
            }
            got += (size_t)n;
        }
        autofree char *b64 = os_base64_encode(seed, sizeof(seed), err);
        if (!b64) {
            json_decref(md);
            return NULL;
        }
        json_object_set_new(md, "random_seed", json_string(b64));
    }
    if (v >= MD_LIBERTY)
        json_object_set_new(md, "project_id", str_or_null(ovo_get_str(inst, "project_id")));
    if (v >= MD_NEWTON_ONE)
        json_object_set_new(md, "devices", json_array());
    if (v >= MD_VICTORIA)
        json_object_set_new(md, "dedicated_cpus", json_array());
    return md;
}

/* Injected files into openstack/content/NNNN, and the `files` list that
 * points at them (InstanceMetadata.__init__). */
static json_t *add_injected(struct drv_hv_config_drive *cd, const json_t *injected,
                            struct err **err)
{
    json_auto_t *files = json_array();
    if (injected && !json_is_array(injected) && !json_is_null(injected)) {
        err_set(err, ERR_INVALID, "`injected_files` is not a list");
        return NULL;
    }
    size_t k;
    json_t *f;
    json_array_foreach(injected, k, f) {
        const char *path = json_string_value(json_array_get(f, 0));
        const char *b64 = json_string_value(json_array_get(f, 1));
        if (!json_is_array(f) || json_array_size(f) != 2 || !path || !*path || !b64) {
            err_set(err, ERR_INVALID, "injected file %zu is not [path, base64 contents]", k);
            return NULL;
        }
        size_t len;
        autofree char *bytes = os_base64_decode(b64, strlen(b64), &len, err);
        if (!bytes) {
            err_wrap(err, "injected file `%s`", path);
            return NULL;
        }
        char key[24];
        snprintf(key, sizeof(key), "%04zu", k);
        autofree char *at = xasprintf("openstack/content/%s", key);
        drv_hv_config_drive_add(cd, at, bytes, len);
        autofree char *content_path = xasprintf("/content/%s", key);
        json_array_append_new(files,
                              json_pack("{s:s, s:s}", "path", path, "content_path", content_path));
    }
    return json_incref(files);
}

struct drv_hv_config_drive *os_config_drive_build(const json_t *inst, const json_t *injected_files,
                                                  const char *admin_password,
                                                  const struct os_config_drive_opts *o,
                                                  struct err **err)
{
    const char *ud = ovo_get_str(inst, "user_data");
    autofree char *user_data = NULL;
    size_t ud_len = 0;
    if (ud && *ud) {
        size_t n = strlen(ud);
        if (n > OS_USER_DATA_MAX) {
            err_set(err, ERR_INVALID, "user_data of %zu base64 characters (Nova's limit: %d)", n,
                    OS_USER_DATA_MAX);
            return NULL;
        }
        user_data = os_base64_decode(ud, n, &ud_len, err);
        if (!user_data) {
            err_wrap(err, "user_data");
            return NULL;
        }
    }
    autoptr(drv_hv_config_drive) cd = xzalloc(sizeof(*cd));
    json_auto_t *files = add_injected(cd, injected_files, err);
    if (!files)
        return NULL;
    json_auto_t *empty = json_object();
    json_auto_t *network = json_pack("{s:[], s:[], s:[]}", "links", "networks", "services");
    for (enum md_version v = 0; v < MD_LAST; v++) {
        json_auto_t *md = meta_data(inst, v, files, admin_password, o, err);
        if (!md)
            return NULL;
        add_json(cd, MD_NAMES[v], "meta_data.json", md);
        if (user_data) {
            autofree char *path = xasprintf("openstack/%s/user_data", MD_NAMES[v]);
            drv_hv_config_drive_add(cd, path, user_data, ud_len);
        }
        if (v >= MD_HAVANA)
            add_json(cd, MD_NAMES[v], "vendor_data.json", empty);
        if (v >= MD_LIBERTY)
            add_json(cd, MD_NAMES[v], "network_data.json", network);
        if (v >= MD_NEWTON_TWO)
            add_json(cd, MD_NAMES[v], "vendor_data2.json", empty);
    }
    if (drv_hv_config_drive_validate(cd, err) < 0)
        return NULL;
    return steal_pointer(&cd);
}
