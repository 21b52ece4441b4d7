/* Files the API serves as they are: the dashboard and the OpenAPI
 * schemas.  They are built into the binary (api/assets.c), so a deployed
 * sculpt-compute needs no data directory; [api] dashboard_dir serves the
 * dashboard from disk instead while working on it.
 */
#ifndef SC_API_ASSETS_H
#define SC_API_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct api_asset {
    const char *path;              /* relative to api/: "dashboard/index.html" */
    const char *content_type;
    const unsigned char *data;     /* static; followed by a NUL byte */
    size_t len;
};

/* Fill *out with the asset at `path` (as in struct api_asset); false when
 * there is none. */
bool api_asset_find(const char *path, struct api_asset *out);

/* The content type for a file name, from its extension. */
const char *api_asset_type(const char *name);

#endif
