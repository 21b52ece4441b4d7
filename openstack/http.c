#include "openstack/http.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"

#define HTTP_DEFAULT_TIMEOUT_MS 30000
/* A JSON answer from an OpenStack API bigger than this is refused. */
#define HTTP_MAX_BODY (64u << 20)

int os_http_global_init(struct err **err)
{
    /* OpenSSL's error strings take a megabyte of every process that loads
     * them; curl reports TLS failures in its own words, so they are left
     * out (OpenSSL ignores later requests to load them). */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return err_set(err, ERR_INTERNAL, "curl_global_init: %s", curl_easy_strerror(rc));
    return 0;
}

void os_http_global_cleanup(void)
{
    curl_global_cleanup();
}

void os_http_resp_release(struct os_http_resp *r)
{
    if (!r)
        return;
    free(r->body);
    json_decref(r->json);
    free(r->subject_token);
    free(r->content_md5);
    memset(r, 0, sizeof(*r));
}

struct http_sink {
    struct strbuf buf;
    FILE *file;
    bool too_big;
};

static size_t http_write(char *data, size_t size, size_t n, void *opaque)
{
    struct http_sink *s = opaque;
    size_t len = size * n;
    if (s->file)
        return fwrite(data, 1, len, s->file);
    if (s->buf.len + len > HTTP_MAX_BODY) {
        s->too_big = true;
        return 0;
    }
    strbuf_append_len(&s->buf, data, len);
    return len;
}

struct http_headers {
    char *subject_token;
    char *content_md5;
};

/* Keep a header's value when its name matches. */
static void http_header_take(const char *line, size_t len, const char *name, char **out)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    free(*out);
    *out = xstrndup(v, (size_t)(end - v));
}

static size_t http_header(char *data, size_t size, size_t n, void *opaque)
{
    struct http_headers *h = opaque;
    size_t len = size * n;
    http_header_take(data, len, "X-Subject-Token", &h->subject_token);
    http_header_take(data, len, "Content-MD5", &h->content_md5);
    return len;
}

int os_http_do(const struct os_http_req *req, struct os_http_resp *resp, struct err **err)
{
    memset(resp, 0, sizeof(*resp));
    CURL *c = curl_easy_init();
    if (!c)
        return err_set(err, ERR_INTERNAL, "curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    autofree char *token_h = NULL;
    autofree char *rid_h = NULL;
    autofree char *payload = NULL;
    struct http_sink sink = {.buf = STRBUF_INIT, .file = req->download};
    struct http_headers got = {0};
    char errbuf[CURL_ERROR_SIZE] = "";

    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "User-Agent: sculpt-compute");
    if (req->token) {
        token_h = xasprintf("X-Auth-Token: %s", req->token);
        hdrs = curl_slist_append(hdrs, token_h);
    }
    if (req->request_id) {
        rid_h = xasprintf("X-OpenStack-Request-ID: %s", req->request_id);
        hdrs = curl_slist_append(hdrs, rid_h);
    }
    for (const char *const *h = req->headers; h && *h; h++)
        hdrs = curl_slist_append(hdrs, *h);
    if (req->body) {
        payload = json_dumps(req->body, JSON_COMPACT);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    } else if (req->raw_body) {
        payload = xstrdup(req->raw_body);
    }
    if (req->upload) {
        /* a body streamed from the file, neither copied nor kept */
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, req->upload);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_size);
        /* no 100-continue wait: Glance answers only at the end */
        hdrs = curl_slist_append(hdrs, "Expect:");
    } else if (payload)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    else if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &got);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : (long)HTTP_DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");

    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        curl_easy_cleanup(c);
        strbuf_release(&sink.buf);
        free(got.subject_token);
        free(got.content_md5);
        if (sink.too_big)
            return err_set(err, ERR_INVALID, "%s %s: response above %u bytes", req->method,
                           req->url, HTTP_MAX_BODY);
        return err_set(err, ERR_UNAVAILABLE, "%s %s: %s", req->method, req->url,
                       errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_cleanup(c);
    resp->subject_token = got.subject_token;
    resp->content_md5 = got.content_md5;
    if (!req->download) {
        resp->len = sink.buf.len;
        resp->body = strbuf_steal(&sink.buf);
        if (resp->len)
            resp->json = json_loadb(resp->body, resp->len, 0, NULL);
    }
    return 0;
}

char *os_http_error_text(const struct os_http_resp *r, char *buf, size_t size)
{
    const char *msg = NULL;
    json_t *j = r->json;
    if (json_is_object(j)) {
        json_t *e = json_object_get(j, "error");
        json_t *es = json_object_get(j, "errors");
        if (json_is_object(e))
            msg = json_string_value(json_object_get(e, "message"));
        else if (json_is_array(es) && json_array_size(es) > 0)
            msg = json_string_value(json_object_get(json_array_get(es, 0), "detail"));
        if (!msg) {
            /* Nova/Glance style: {"itemNotFound": {"message": ...}} */
            const char *k;
            json_t *v;
            json_object_foreach(j, k, v) {
                if (json_is_object(v) && (msg = json_string_value(json_object_get(v, "message"))))
                    break;
            }
        }
    }
    if (!msg && r->body)
        msg = r->body;
    snprintf(buf, size, "%s", msg ? msg : "(no body)");
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return buf;
}

int os_http_status_code(long status)
{
    if (status == 404)
        return ERR_NOT_FOUND;
    if (status == 409)
        return ERR_CONFLICT;
    if (status == 503 || status == 502 || status == 504)
        return ERR_UNAVAILABLE;
    if (status >= 400 && status < 500)
        return ERR_INVALID;
    return ERR_INTERNAL;
}
