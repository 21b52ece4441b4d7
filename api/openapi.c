#include "api/openapi.h"

#include <string.h>

#include "api/assets.h"
#include "api/route.h"
#include "common/alloc.h"
#include "common/err.h"

static json_t *api_ref(const char *kind, const char *name)
{
    autofree char *ref = xasprintf("#/components/%s/%s", kind, name);
    return json_pack("{s:s}", "$ref", ref);
}

/* "{uuid}" segments become path parameters. */
static void api_openapi_path_params(const struct api_route *r, json_t *params)
{
    for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        autofree char *name = xstrndup(p + 1, (size_t)(close - p - 1));
        json_t *schema = json_pack("{s:s}", "type", "string");
        if (strcmp(name, "uuid") == 0)
            json_object_set_new(schema, "format", json_string("uuid"));
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:o}", "name", name, "in",
                                                "path", "required", 1, "schema", schema));
    }
}

static json_t *api_openapi_operation(const struct api_route *r)
{
    json_t *op = json_pack("{s:s, s:s, s:[s]}", "operationId", r->operation_id, "summary",
                           r->summary, "tags", r->tag);
    json_t *params = json_array();
    api_openapi_path_params(r, params);
    for (const struct api_param *q = r->query; q && q->name; q++)
        json_array_append_new(params, json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", q->name,
                                                "in", "query", "description", q->description,
                                                "schema", "type", q->type));
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);

    if (r->request_schema)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content",
                                      "application/json", "schema",
                                      api_ref("schemas", r->request_schema)));

    json_t *responses = json_object();
    char status[8];
    snprintf(status, sizeof(status), "%d", r->status);
    json_t *ok = json_pack("{s:s}", "description", r->summary);
    if (r->response_schema)
        json_object_set_new(ok, "content",
                            json_pack("{s:{s:o}}", r->content_type ? r->content_type
                                                                   : "application/json",
                                      "schema", api_ref("schemas", r->response_schema)));
    json_object_set_new(responses, status, ok);
    json_object_set_new(responses, "400", api_ref("responses", "Error"));
    if (!(r->flags & API_ROUTE_PUBLIC)) {
        json_object_set_new(responses, "401", api_ref("responses", "Error"));
        json_object_set_new(responses, "403", api_ref("responses", "Error"));
    } else {
        json_object_set_new(op, "security", json_array());
    }
    if (strchr(r->pattern, '{'))
        json_object_set_new(responses, "404", api_ref("responses", "Error"));
    if (r->flags & API_ROUTE_BODY) {
        json_object_set_new(responses, "413", api_ref("responses", "Error"));
        json_object_set_new(responses, "415", api_ref("responses", "Error"));
    }
    json_object_set_new(responses, "503", api_ref("responses", "Error"));
    json_object_set_new(responses, "default", api_ref("responses", "Error"));
    json_object_set_new(op, "responses", responses);
    return op;
}

/* Does every $ref in `node` point at something in components? */
static int api_openapi_check_refs(json_t *doc, json_t *node, struct err **err)
{
    if (json_is_object(node)) {
        const char *key;
        json_t *v;
        json_object_foreach(node, key, v) {
            if (strcmp(key, "$ref") == 0 && json_is_string(v)) {
                const char *ref = json_string_value(v);
                char kind[32], name[96];
                if (sscanf(ref, "#/components/%31[^/]/%95s", kind, name) != 2 ||
                    !json_object_get(json_object_get(json_object_get(doc, "components"), kind),
                                     name))
                    return err_set(err, ERR_INTERNAL, "OpenAPI: dangling reference `%s`", ref);
            } else if (api_openapi_check_refs(doc, v, err) < 0) {
                return -1;
            }
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
            if (api_openapi_check_refs(doc, v, err) < 0)
                return -1;
    }
    return 0;
}

json_t *api_openapi_build(struct err **err)
{
    struct api_asset a;
    json_error_t jerr;
    if (!api_asset_find("openapi/schemas.json", &a)) {
        err_set(err, ERR_INTERNAL, "OpenAPI: the schemas are not built in");
        return NULL;
    }
    json_t *schemas = json_loadb((const char *)a.data, a.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!schemas) {
        err_set(err, ERR_INTERNAL, "OpenAPI: api/openapi/schemas.json:%d: %s", jerr.line,
                jerr.text);
        return NULL;
    }
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:[{s:[]}, {s:[]}], s:{s:{s:{s:s, s:s, s:s}, "
        "s:{s:s, s:s}}, s:{s:{s:s, s:{s:{s:{s:s}}}}}, s:o}}",
        "openapi", "3.0.3",
        "info", "title", "sculpt management API", "version", "1",
        "description", "Placement, cost, blueprints, pools and usage of one sculpt compute "
        "host. Errors are {\"error\": {\"code\", \"message\", \"request_id\"}}.",
        "servers", "url", "/",
        "security", "token", "bearer",
        "components", "securitySchemes",
        "token", "type", "apiKey", "in", "header", "name", "X-Auth-Token",
        "bearer", "type", "http", "scheme", "bearer",
        "responses", "Error", "description", "An error", "content", "application/json",
        "schema", "$ref", "#/components/schemas/Error",
        "schemas", schemas);
    json_t *paths = json_object();
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *r = &api_routes[i];
        if (r->flags & API_ROUTE_HIDDEN)
            continue;
        json_t *item = json_object_get(paths, r->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, r->pattern, item);
        }
        char method[8];
        size_t k = 0;
        for (; r->method[k] && k < sizeof(method) - 1; k++)
            method[k] = (char)(r->method[k] | 0x20); /* lower case */
        method[k] = '\0';
        json_object_set_new(item, method, api_openapi_operation(r));
    }
    json_object_set_new(doc, "paths", paths);
    if (api_openapi_check_refs(doc, doc, err) < 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
