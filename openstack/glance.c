#include "openstack/glance.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "openstack/http.h"
#include "openstack/keystone.h"

LOG_INIT("openstack.glance");

#define GLANCE_META_TIMEOUT_MS 30000
/* A download may be large; libcurl's timeout covers the whole transfer. */
#define GLANCE_DATA_TIMEOUT_MS (30L * 60 * 1000)

struct os_glance {
    struct os_keystone *ks;
    char **servers;          /* from api_servers or endpoint_override; empty: catalog */
    size_t nservers;
    char *interfaces;
};

static void glance_add_server(struct os_glance *g, const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '/'))
        n--;
    if (n == 0)
        return;
    g->servers = xreallocarray(g->servers, g->nservers + 1, sizeof(char *));
    /* nova.conf accepts bare host:port */
    g->servers[g->nservers++] = strncmp(s, "http", 4) == 0 ? xstrndup(s, n)
                                                             : xasprintf("http://%.*s", (int)n, s);
}

struct os_glance *os_glance_new(const struct cfg *cfg, struct os_keystone *ks)
{
    struct os_glance *g = xzalloc(sizeof(*g));
    g->ks = ks;
    g->interfaces = xstrdup(cfg->glance_valid_interfaces);
    const char *p = cfg->glance_api_servers;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        glance_add_server(g, p, comma ? (size_t)(comma - p) : strlen(p));
        p = comma ? comma + 1 : NULL;
    }
    if (g->nservers == 0 && cfg->glance_endpoint_override[0])
        glance_add_server(g, cfg->glance_endpoint_override, strlen(cfg->glance_endpoint_override));
    return g;
}

void os_glance_free(struct os_glance *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nservers; i++)
        free(g->servers[i]);
    free(g->servers);
    free(g->interfaces);
    free(g);
}

char *os_glance_image_url(struct os_glance *g, const char *id)
{
    if (!id)
        id = "";
    if (g && g->nservers > 0)
        return xasprintf("%s/images/%s", g->servers[0], id);
    autoerr struct err *e = NULL;
    autofree char *catalog = g && g->ks ? os_keystone_endpoint(g->ks, "image", g->interfaces, &e)
                                        : NULL;
    if (!catalog) {
        if (e)
            log_err(LOG_LEVEL_DEBUG, e, "image URL: no Glance endpoint, the image id stands");
        return xstrdup(id);
    }
    /* python-glanceclient's bug 1707995 workaround in nova: a trailing
     * /vN or /vN.M becomes "/" */
    size_t len = strlen(catalog);
    while (len > 0 && catalog[len - 1] == '/')
        len--;
    size_t v = len;
    while (v > 0 && (isdigit((unsigned char)catalog[v - 1]) || catalog[v - 1] == '.'))
        v--;
    if (v < len && v >= 2 && catalog[v - 1] == 'v' && catalog[v - 2] == '/' &&
        isdigit((unsigned char)catalog[v]))
        catalog[v - 1] = '\0';
    return xasprintf("%s/images/%s", catalog, id);
}

/* Run `method path` against each server until one answers; on 401 with
 * the user's token, once more with ours.  The caller judges the status. */
static int glance_request(struct os_glance *g, const char *path, const char *user_token,
                          const struct os_http_req *tmpl, struct os_http_resp *resp,
                          struct err **err)
{
    FILE *download = tmpl->download;
    char **servers = g->servers;
    size_t n = g->nservers;
    autofree char *catalog = NULL;
    if (n == 0) {
        if (!g->ks)
            return err_set(err, ERR_INVALID, "no Glance endpoint: set [glance] api_servers");
        catalog = os_keystone_endpoint(g->ks, "image", g->interfaces, err);
        if (!catalog)
            return -1;
        size_t len = strlen(catalog);
        while (len > 0 && catalog[len - 1] == '/')
            catalog[--len] = '\0';
        servers = &catalog;
        n = 1;
    }
    autofree char *service_token = NULL;
    const char *token = user_token;
    if (!token && g->ks) {
        service_token = os_keystone_token(g->ks, err);
        if (!service_token)
            return -1;
        token = service_token;
    }
    for (size_t i = 0; i < n; i++) {
        autofree char *url = xasprintf("%s%s", servers[i], path);
        for (int attempt = 0; attempt < 2; attempt++) {
            autoerr struct err *e = NULL;
            if (download && (fflush(download) != 0 || ftruncate(fileno(download), 0) < 0 ||
                             fseek(download, 0, SEEK_SET) < 0))
                return err_set_errno(err, errno, "rewind the download file");
            if (tmpl->upload && fseek(tmpl->upload, 0, SEEK_SET) < 0)
                return err_set_errno(err, errno, "rewind the upload file");
            struct os_http_req req = *tmpl;
            req.url = url;
            req.token = token;
            if (os_http_do(&req, resp, &e) < 0) {
                log_err(LOG_LEVEL_WARN, e, "Glance server %s", servers[i]);
                if (i + 1 == n) {
                    *err = steal_pointer(&e);
                    return -1;
                }
                break;
            }
            if (resp->status == 401 && attempt == 0 && g->ks && token == user_token) {
                /* the user's token expired while the request waited */
                os_http_resp_release(resp);
                service_token = os_keystone_token(g->ks, err);
                if (!service_token)
                    return -1;
                token = service_token;
                continue;
            }
            return 0;
        }
    }
    return err_set(err, ERR_UNAVAILABLE, "no Glance server answered");
}

json_t *os_glance_image_get(struct os_glance *g, const char *id, const char *user_token,
                            struct err **err)
{
    autofree char *path = xasprintf("/v2/images/%s", id);
    struct os_http_resp r;
    struct os_http_req req = {.method = "GET", .timeout_ms = GLANCE_META_TIMEOUT_MS};
    if (glance_request(g, path, user_token, &req, &r, err) < 0)
        return NULL;
    if (r.status != 200 || !json_is_object(r.json)) {
        char why[256];
        os_http_error_text(&r, why, sizeof(why));
        err_set(err, os_http_status_code(r.status), "Glance image %s: %ld %s", id, r.status, why);
        os_http_resp_release(&r);
        return NULL;
    }
    json_t *j = json_incref(r.json);
    os_http_resp_release(&r);
    return j;
}

#define GLANCE_LIST_MAX 10000

/* `s` percent-encoded onto b's query string, by libcurl (RFC 3986's
 * unreserved characters kept). */
static void glance_query_escape(struct strbuf *b, const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e)
        abort(); /* libcurl's only failure is out of memory */
    strbuf_append(b, e);
    curl_free(e);
}

json_t *os_glance_image_list(struct os_glance *g, const char *user_token, const json_t *filters,
                             const char *sort_key, const char *sort_dir, struct err **err)
{
    struct strbuf q = STRBUF_INIT;
    strbuf_append(&q, "/v2/images?sort_key=");
    glance_query_escape(&q, sort_key);
    strbuf_append(&q, "&sort_dir=");
    glance_query_escape(&q, sort_dir);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)filters, k, v) {
        if (!json_is_string(v))
            continue;
        strbuf_append(&q, "&");
        glance_query_escape(&q, k);
        strbuf_append(&q, "=");
        glance_query_escape(&q, json_string_value(v));
    }
    json_t *all = json_array();
    autofree char *path = strbuf_steal(&q);
    while (path) {
        struct os_http_resp r;
        struct os_http_req req = {.method = "GET", .timeout_ms = GLANCE_META_TIMEOUT_MS};
        if (glance_request(g, path, user_token, &req, &r, err) < 0) {
            json_decref(all);
            return NULL;
        }
        json_t *images = json_object_get(r.json, "images");
        if (r.status != 200 || !json_is_array(images)) {
            char why[256];
            os_http_error_text(&r, why, sizeof(why));
            err_set(err, os_http_status_code(r.status), "Glance image list: %ld %s", r.status,
                    why);
            os_http_resp_release(&r);
            json_decref(all);
            return NULL;
        }
        json_array_extend(all, images);
        /* the next page's path and query, from the server's root */
        const char *next = json_string_value(json_object_get(r.json, "next"));
        free(path);
        path = next && *next == '/' && json_array_size(images) > 0 &&
                       json_array_size(all) < GLANCE_LIST_MAX
                   ? xstrdup(next)
                   : NULL;
        os_http_resp_release(&r);
    }
    return all;
}

int os_glance_image_download(struct os_glance *g, const char *id, const char *user_token,
                             FILE *out, struct err **err)
{
    autofree char *path = xasprintf("/v2/images/%s/file", id);
    struct os_http_resp r;
    struct os_http_req req = {.method = "GET", .download = out,
                              .timeout_ms = GLANCE_DATA_TIMEOUT_MS};
    if (glance_request(g, path, user_token, &req, &r, err) < 0)
        return -1;
    long status = r.status;
    os_http_resp_release(&r);
    if (status == 204)
        return err_set(err, ERR_INVALID, "Glance image %s has no data", id);
    if (status != 200)
        return err_set(err, os_http_status_code(status), "Glance image %s data: HTTP %ld", id,
                       status);
    if (fflush(out) != 0)
        return err_set_errno(err, errno, "write image %s", id);
    return 0;
}

json_t *os_glance_patch_ops(const json_t *image, const json_t *want)
{
    json_t *ops = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        /* a JSON pointer: `~` and `/` escaped (RFC 6901) */
        autostrbuf ptr = STRBUF_INIT;
        strbuf_append(&ptr, "/");
        for (const char *p = k; *p; p++) {
            if (*p == '~' || *p == '/')
                strbuf_append(&ptr, *p == '~' ? "~0" : "~1");
            else
                strbuf_append_len(&ptr, p, 1);
        }
        bool has = json_object_get(image, k) != NULL;
        if (json_is_null(v)) {
            if (has)
                json_array_append_new(ops, json_pack("{s:s, s:s}", "op", "remove", "path", ptr.s));
            continue;
        }
        if (has && json_equal(json_object_get(image, k), v))
            continue;
        json_array_append_new(ops, json_pack("{s:s, s:s, s:O}", "op", has ? "replace" : "add",
                                             "path", ptr.s, "value", v));
    }
    return ops;
}

json_t *os_glance_image_update(struct os_glance *g, const char *id, const char *user_token,
                               const json_t *want, struct err **err)
{
    json_auto_t *image = os_glance_image_get(g, id, user_token, err);
    if (!image)
        return NULL;
    json_auto_t *ops = os_glance_patch_ops(image, want);
    if (json_array_size(ops) == 0)
        return json_incref(image);
    autofree char *path = xasprintf("/v2/images/%s", id);
    autofree char *body = json_dumps(ops, JSON_COMPACT);
    static const char *const headers[] = {
        "Content-Type: application/openstack-images-v2.1-json-patch", NULL};
    struct os_http_req req = {.method = "PATCH", .headers = headers, .raw_body = body,
                              .timeout_ms = GLANCE_META_TIMEOUT_MS};
    struct os_http_resp r;
    if (glance_request(g, path, user_token, &req, &r, err) < 0)
        return NULL;
    if (r.status != 200 || !json_is_object(r.json)) {
        char why[256];
        os_http_error_text(&r, why, sizeof(why));
        err_set(err, os_http_status_code(r.status), "update Glance image %s: %ld %s", id,
                r.status, why);
        os_http_resp_release(&r);
        return NULL;
    }
    json_t *j = json_incref(r.json);
    os_http_resp_release(&r);
    return j;
}

int os_glance_image_upload(struct os_glance *g, const char *id, const char *user_token,
                           const char *file, struct err **err)
{
    FILE *in = fopen(file, "rbe");
    if (!in)
        return err_set_errno(err, errno, "open `%s`", file);
    struct stat st;
    if (fstat(fileno(in), &st) < 0) {
        int e = errno;
        fclose(in);
        return err_set_errno(err, e, "stat `%s`", file);
    }
    autofree char *path = xasprintf("/v2/images/%s/file", id);
    static const char *const headers[] = {"Content-Type: application/octet-stream", NULL};
    struct os_http_req req = {.method = "PUT", .headers = headers, .upload = in,
                              .upload_size = st.st_size, .timeout_ms = GLANCE_DATA_TIMEOUT_MS};
    struct os_http_resp r;
    int rc = glance_request(g, path, user_token, &req, &r, err);
    fclose(in);
    if (rc < 0)
        return -1;
    if (r.status != 204 && r.status != 200) {
        char why[256];
        os_http_error_text(&r, why, sizeof(why));
        err_set(err, os_http_status_code(r.status), "upload to Glance image %s: %ld %s", id,
                r.status, why);
        os_http_resp_release(&r);
        return -1;
    }
    os_http_resp_release(&r);
    log_info("image %s: %lld bytes uploaded", id, (long long)st.st_size);
    return 0;
}

int os_glance_image_delete(struct os_glance *g, const char *id, const char *user_token,
                           struct err **err)
{
    autofree char *path = xasprintf("/v2/images/%s", id);
    struct os_http_req req = {.method = "DELETE", .timeout_ms = GLANCE_META_TIMEOUT_MS};
    struct os_http_resp r;
    if (glance_request(g, path, user_token, &req, &r, err) < 0)
        return -1;
    long status = r.status;
    char why[256];
    os_http_error_text(&r, why, sizeof(why));
    os_http_resp_release(&r);
    if (status == 404)
        return err_set(err, ERR_NOT_FOUND, "Glance image %s: not found", id);
    if (status != 204 && status != 200)
        return err_set(err, os_http_status_code(status), "delete Glance image %s: %ld %s", id,
                       status, why);
    return 0;
}
