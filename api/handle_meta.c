/* Routes that answer from the server itself: the version document, the
 * OpenAPI description, /metrics and the dashboard's files. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/assets.h"
#include "api/handlers.h"
#include "api/openapi.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/metrics.h"

int api_handle_root(struct api_req *req, struct api_resp *resp, struct err **err)
{
    (void)req;
    (void)err;
    resp->status = 302;
    resp->location = xstrdup("/dashboard/");
    return 0;
}

int api_handle_version(struct api_req *req, struct api_resp *resp, struct err **err)
{
    (void)err;
    return api_reply(resp, 0,
                     json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}",
                               "service", "sculpt", "version", "v1", "host", req->cfg->host,
                               "links", "rel", "describedby", "href", "/v1/openapi.json",
                               "rel", "dashboard", "href", "/dashboard/", "rel", "metrics",
                               "href", "/metrics"));
}

/* The description is the same for the life of the process: build it once. */
static pthread_once_t api_openapi_once = PTHREAD_ONCE_INIT;
static json_t *api_openapi_doc;
static char *api_openapi_error;

static void api_openapi_init(void)
{
    autoerr struct err *e = NULL;
    api_openapi_doc = api_openapi_build(&e);
    if (!api_openapi_doc)
        api_openapi_error = xstrdup(e->msg);
}

int api_handle_openapi(struct api_req *req, struct api_resp *resp, struct err **err)
{
    (void)req;
    pthread_once(&api_openapi_once, api_openapi_init);
    if (!api_openapi_doc)
        return err_set(err, ERR_INTERNAL, "%s", api_openapi_error);
    return api_reply(resp, 0, json_incref(api_openapi_doc));
}

int api_handle_metrics(struct api_req *req, struct api_resp *resp, struct err **err)
{
    (void)req;
    (void)err;
    resp->text = metrics_render();
    resp->text_len = strlen(resp->text);
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}

/* A dashboard file from [api] dashboard_dir (the router has refused any
 * path with ".."). */
static int api_dashboard_from_disk(const char *dir, const char *rel, struct api_resp *resp,
                                   struct err **err)
{
    autofree char *path = xasprintf("%s/%s", dir, rel);
    FILE *f = fopen(path, "rbe");
    if (!f)
        return errno == ENOENT ? err_set(err, ERR_NOT_FOUND, "no dashboard file `%s`", rel)
                               : err_set_errno(err, errno, "open `%s`", path);
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        fclose(f);
        return err_set(err, ERR_NOT_FOUND, "no dashboard file `%s`", rel);
    }
    char *buf = xmalloc((size_t)st.st_size + 1);
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    resp->text = buf;
    resp->text_len = n;
    resp->content_type = api_asset_type(rel);
    return 0;
}

int api_handle_dashboard(struct api_req *req, struct api_resp *resp, struct err **err)
{
    const char *rel = req->params[0] && *req->params[0] ? req->params[0] : "index.html";
    if (req->cfg->api_dashboard_dir[0])
        return api_dashboard_from_disk(req->cfg->api_dashboard_dir, rel, resp, err);
    autofree char *path = xasprintf("dashboard/%s", rel);
    struct api_asset a;
    if (!api_asset_find(path, &a))
        return err_set(err, ERR_NOT_FOUND, "no dashboard file `%.64s`", rel);
    resp->blob = a.data;
    resp->blob_len = a.len;
    resp->content_type = a.content_type;
    return 0;
}
