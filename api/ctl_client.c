#include "api/ctl_client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/strbuf.h"

static char *ctl_strip_slash(const char *url)
{
    char *u = xstrdup(url);
    size_t n = strlen(u);
    while (n && u[n - 1] == '/')
        u[--n] = '\0';
    return u;
}

int ctl_client_init(struct ctl_client *c, const char *url, const char *token,
                    const char *config_path, struct err **err)
{
    memset(c, 0, sizeof(*c));
    c->timeout_s = 60;
    if (!url || !*url)
        url = getenv("SCULPT_URL");
    if (!token || !*token)
        token = getenv("SCULPT_TOKEN");
    if (url && *url && token && *token) {
        c->url = ctl_strip_slash(url);
        c->token = xstrdup(token);
        return 0;
    }

    if (!config_path)
        config_path = getenv("SCULPT_CONFIG");
    bool explicit = config_path != NULL;
    if (!config_path)
        config_path = "/etc/sculpt/sculpt.conf";
    autocfg cfg = NULL;
    if (explicit || access(config_path, R_OK) == 0) {
        cfg = cfg_load(config_path, err);
        if (!cfg)
            return -1;
    } else {
        cfg = cfg_new_defaults();
    }
    if (url && *url)
        c->url = ctl_strip_slash(url);
    else if (cfg->api_url[0])
        c->url = ctl_strip_slash(cfg->api_url);
    else
        c->url = xasprintf(strchr(cfg->api_listen, ':') ? "http://[%s]:%lld" : "http://%s:%lld",
                           cfg->api_listen, cfg->api_port);
    if (token && *token)
        c->token = xstrdup(token);
    else if (cfg->api_admin_token[0])
        c->token = xstrdup(cfg->api_admin_token);
    return 0;
}

void ctl_client_release(struct ctl_client *c)
{
    free(c->url);
    free(c->token);
    memset(c, 0, sizeof(*c));
}

static size_t ctl_collect(char *p, size_t size, size_t n, void *ud)
{
    strbuf_append_len(ud, p, size * n);
    return size * n;
}

int ctl_request(const struct ctl_client *c, const char *method, const char *path, json_t *body,
                long *status, json_t **json, char **text, struct err **err)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return err_set(err, ERR_INTERNAL, "libcurl could not start");
    autofree char *url = xasprintf("%s%s", c->url, path);
    autofree char *auth = c->token ? xasprintf("X-Auth-Token: %s", c->token) : NULL;
    autofree char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    if (payload)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    autostrbuf out = STRBUF_INIT;
    char cerr[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ctl_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (payload)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
    CURLcode rc = curl_easy_perform(curl);
    char *ctype = NULL;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
    bool is_json = ctype && strncmp(ctype, "application/json", 16) == 0;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK)
        return err_set(err, ERR_UNAVAILABLE, "cannot reach the API at %s: %s", c->url,
                       cerr[0] ? cerr : curl_easy_strerror(rc));

    json_t *j = NULL;
    if (is_json && out.len) {
        json_error_t jerr;
        j = json_loadb(out.s, out.len, 0, &jerr);
        if (!j)
            return err_set(err, ERR_INTERNAL, "the API answered invalid JSON: %s", jerr.text);
    }
    if (*status >= 400) {
        json_t *e = json_object_get(j, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        enum err_code ec = *status == 404   ? ERR_NOT_FOUND
                           : *status == 409 ? ERR_CONFLICT
                           : *status >= 500 ? ERR_UNAVAILABLE
                                            : ERR_INVALID;
        err_set(err, ec, "%s (HTTP %ld): %s", code ? code : "ERROR", *status,
                msg ? msg : (out.s ? out.s : ""));
        json_decref(j);
        return -1;
    }
    if (j && json) {
        *json = j;
    } else if (j) {
        json_decref(j);
    } else if (text) {
        *text = strbuf_steal(&out);
    }
    return 0;
}

json_t *ctl_get(const struct ctl_client *c, const char *path, struct err **err)
{
    long status;
    json_t *j = NULL;
    if (ctl_request(c, "GET", path, NULL, &status, &j, NULL, err) < 0)
        return NULL;
    if (!j)
        err_set(err, ERR_INTERNAL, "GET %s: the API answered without JSON", path);
    return j;
}
