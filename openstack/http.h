/* A small JSON-over-HTTP client on libcurl, for Keystone, Placement and
 * Glance.  One easy handle per request (no shared state), so any thread
 * may call; os_http_global_init() runs once in main before threads start.
 */
#ifndef SC_OPENSTACK_HTTP_H
#define SC_OPENSTACK_HTTP_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

struct err;

/* curl_global_init; returns 0 or -1 with *err.  Main thread, once. */
int os_http_global_init(struct err **err);
void os_http_global_cleanup(void);

struct os_http_req {
    const char *method;            /* "GET", "POST", "PUT", "DELETE" */
    const char *url;
    const char *token;             /* X-Auth-Token, or NULL */
    const char *const *headers;    /* extra "Name: value" lines, NULL-terminated, or NULL */
    const json_t *body;            /* sent as application/json, or NULL */
    const char *raw_body;          /* sent as is (when body is NULL), or NULL */
    long timeout_ms;               /* whole request; 0: 30 s */
    FILE *download;                /* stream the response body here instead of keeping it */
    FILE *upload;                  /* stream this file as the body (PUT), from where it
                                    * stands to its end; or NULL */
    int64_t upload_size;           /* its size in bytes (-1: unknown, sent chunked) */
    const char *request_id;        /* X-OpenStack-Request-ID, or NULL */
};

struct os_http_resp {
    long status;                   /* HTTP status */
    char *body;                    /* owned, NUL-terminated (NULL when downloading) */
    size_t len;
    json_t *json;                  /* body parsed when it is JSON, else NULL */
    char *subject_token;           /* X-Subject-Token header (Keystone), or NULL */
    char *content_md5;             /* Content-MD5 header (Glance), or NULL */
};

void os_http_resp_release(struct os_http_resp *r);

/* Perform a request.  Returns 0 with *resp filled whatever the status
 * (the caller judges it), or -1 with *err (ERR_UNAVAILABLE) when no
 * response came: connection refused, timeout, TLS failure. */
int os_http_do(const struct os_http_req *req, struct os_http_resp *resp, struct err **err);

/* The message of an OpenStack error body ({"error": {"message"}},
 * {"errors": [{"detail"}]}, {"itemNotFound": {...}}...), or the raw body's
 * first line; into buf.  Returns buf. */
char *os_http_error_text(const struct os_http_resp *r, char *buf, size_t size);

/* Map an HTTP status to our error codes (404 NOT_FOUND, 409 CONFLICT,
 * 4xx INVALID, 503 UNAVAILABLE, else INTERNAL). */
int os_http_status_code(long status);

#endif
