/* The dashboard and OpenAPI files, built into the binary with the
 * assembler's .incbin: no generated sources and no build step beyond the C
 * compiler.  The Makefile makes this object depend on the files. */
#include "api/assets.h"

#include <string.h>

#include "common/alloc.h"

/* Define NAME_start/NAME_end around the bytes of FILE (a path from the top
 * of the tree, where the compiler runs), then a NUL so text assets are C
 * strings too. */
#define API_INCBIN(name, file)                                                 \
    __asm__(".section .rodata\n"                                               \
            ".balign 16\n"                                                     \
            ".globl api_incbin_" #name "_start\n"                              \
            ".hidden api_incbin_" #name "_start\n"                             \
            "api_incbin_" #name "_start:\n"                                    \
            ".incbin \"" file "\"\n"                                           \
            ".globl api_incbin_" #name "_end\n"                                \
            ".hidden api_incbin_" #name "_end\n"                               \
            "api_incbin_" #name "_end:\n"                                      \
            ".byte 0\n"                                                        \
            ".previous\n");                                                    \
    extern const unsigned char api_incbin_##name##_start[];                    \
    extern const unsigned char api_incbin_##name##_end[]

/* clang-format off */
API_INCBIN(index_html, "api/dashboard/index.html");
API_INCBIN(dashboard_js, "api/dashboard/dashboard.js");
API_INCBIN(dashboard_css, "api/dashboard/dashboard.css");
API_INCBIN(uplot_js, "api/dashboard/vendor/uPlot.iife.min.js");
API_INCBIN(uplot_css, "api/dashboard/vendor/uPlot.min.css");
API_INCBIN(uplot_license, "api/dashboard/vendor/uPlot.LICENSE");
API_INCBIN(schemas_json, "api/openapi/schemas.json");
/* clang-format on */

struct api_asset_entry {
    const char *path;
    const unsigned char *start, *end;
};

#define API_ASSET(p, name) {p, api_incbin_##name##_start, api_incbin_##name##_end}

static const struct api_asset_entry api_assets[] = {
    API_ASSET("dashboard/index.html", index_html),
    API_ASSET("dashboard/dashboard.js", dashboard_js),
    API_ASSET("dashboard/dashboard.css", dashboard_css),
    API_ASSET("dashboard/vendor/uPlot.iife.min.js", uplot_js),
    API_ASSET("dashboard/vendor/uPlot.min.css", uplot_css),
    API_ASSET("dashboard/vendor/uPlot.LICENSE", uplot_license),
    API_ASSET("openapi/schemas.json", schemas_json),
};

const char *api_asset_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".png", "image/png"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "text/plain; charset=utf-8";
}

bool api_asset_find(const char *path, struct api_asset *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(api_assets); i++) {
        const struct api_asset_entry *a = &api_assets[i];
        if (strcmp(a->path, path) != 0)
            continue;
        *out = (struct api_asset){a->path, api_asset_type(a->path), a->start,
                                  (size_t)(a->end - a->start)};
        return true;
    }
    return false;
}
