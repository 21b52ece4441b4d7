/* sculptctl's HTTP client for the REST API (libcurl). */
#ifndef SC_API_CTL_CLIENT_H
#define SC_API_CTL_CLIENT_H

#include <jansson.h>

struct err;

struct ctl_client {
    char *url;        /* base URL without trailing slash: "http://127.0.0.1:8790" */
    char *token;      /* sent as X-Auth-Token; NULL: none */
    long timeout_s;
};

/* Where to reach the API, first found wins: the url/token arguments (from
 * the command line), SCULPT_URL / SCULPT_TOKEN, then sculpt.conf at
 * `config_path` ([api] url, else http://listen:port; [api] admin_token).
 * `config_path` NULL: SCULPT_CONFIG, else /etc/sculpt/sculpt.conf when it
 * exists.  Returns 0 or -1 with *err (a config that does not load). */
int ctl_client_init(struct ctl_client *c, const char *url, const char *token,
                    const char *config_path, struct err **err);
void ctl_client_release(struct ctl_client *c);

/* One request.  `body` (borrowed, may be NULL) is sent as JSON.  On any
 * HTTP answer returns 0 with *status and, for a JSON answer, *json (caller
 * decrefs) or else *text (caller frees); an error answer is turned into -1
 * with *err "CODE: message" (and *status still set).  -1 with
 * ERR_UNAVAILABLE when the server cannot be reached. */
int ctl_request(const struct ctl_client *c, const char *method, const char *path, json_t *body,
                long *status, json_t **json, char **text, struct err **err);

/* GET path and return the JSON object, or NULL with *err. */
json_t *ctl_get(const struct ctl_client *c, const char *path, struct err **err);

#endif
