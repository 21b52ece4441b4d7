/* Matching a request line against the route table. */
#include <stdio.h>
#include <string.h>

#include "api/route.h"
#include "common/alloc.h"

/* Match one pattern against a path.  "{name}" takes one non-empty segment;
 * a trailing "*" (API_ROUTE_PREFIX) takes the rest of the path, which must
 * not climb with "..".  Fills params (copies) only on success. */
static bool api_pattern_match(const struct api_route *r, const char *path,
                              char *params[API_MAX_PATH_PARAMS])
{
    const char *p = r->pattern;
    const char *s = path;
    const char *found[API_MAX_PATH_PARAMS][2];
    size_t n = 0;

    while (*p) {
        if (*p == '*' && p[1] == '\0' && (r->flags & API_ROUTE_PREFIX)) {
            if (strstr(s, "..") || n == API_MAX_PATH_PARAMS)
                return false;
            found[n][0] = s;
            found[n][1] = s + strlen(s);
            n++;
            s += strlen(s);
            p++;
            break;
        }
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *end = strchr(s, '/');
            if (!end)
                end = s + strlen(s);
            if (!close || end == s || n == API_MAX_PATH_PARAMS)
                return false;
            found[n][0] = s;
            found[n][1] = end;
            n++;
            s = end;
            p = close + 1;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*s)
        return false;
    for (size_t i = 0; i < n; i++)
        params[i] = xstrndup(found[i][0], (size_t)(found[i][1] - found[i][0]));
    return true;
}

enum api_match api_route_match(const char *method, const char *path,
                               const struct api_route **route,
                               char *params[API_MAX_PATH_PARAMS], char *allow,
                               size_t allow_size)
{
    bool path_known = false;
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    if (allow && allow_size)
        allow[0] = '\0';

    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *r = &api_routes[i];
        char *tmp[API_MAX_PATH_PARAMS] = {NULL};
        if (!api_pattern_match(r, path, tmp))
            continue;
        if (strcmp(r->method, method) == 0) {
            memcpy(params, tmp, sizeof(tmp));
            *route = r;
            return API_MATCH_OK;
        }
        for (size_t k = 0; k < API_MAX_PATH_PARAMS; k++)
            free(tmp[k]);
        path_known = true;
        if (allow && allow_size && !strstr(allow, r->method)) {
            size_t len = strlen(allow);
            snprintf(allow + len, allow_size - len, "%s%s", len ? ", " : "", r->method);
        }
    }
    return path_known ? API_MATCH_NO_METHOD : API_MATCH_NO_PATH;
}

bool api_route_has_param(const struct api_route *route, const char *name)
{
    for (const struct api_param *q = route->query; q && q->name; q++)
        if (strcmp(q->name, name) == 0)
            return true;
    return false;
}
