/* The OpenAPI 3 description of the API, built from the route table and the
 * schemas in api/openapi/schemas.json. */
#ifndef SC_API_OPENAPI_H
#define SC_API_OPENAPI_H

#include <jansson.h>

struct err;

/* A new reference to the whole document.  Fails (INTERNAL) when a route
 * names a schema the schemas file lacks or the file is not valid JSON:
 * the unit test catches that before a user can. */
json_t *api_openapi_build(struct err **err);

#endif
