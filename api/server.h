/* The REST API server: /v1 routes, /metrics and the dashboard, served by
 * libmicrohttpd on its own threads.
 *
 * The daemon (sculpt-compute) owns every component and lends them to the
 * server through struct api_deps; the server never creates or frees them.
 * Handlers run on the server's threads and call into the components
 * concurrently with the daemon's own threads: each component's header says
 * how it may be called from several threads.
 */
#ifndef SC_API_SERVER_H
#define SC_API_SERVER_H

#include <stdbool.h>
#include <stdint.h>

struct cfg;
struct err;
struct drv_sculpt;
struct drv_fleet;
struct drv_presculpt;
struct drv_sculpt_inventory;
struct db;
struct os_keystone;

/* What the server answers from.  Every pointer is borrowed and must outlive
 * api_server_stop().  A NULL component makes the routes that need it answer
 * 503 UNAVAILABLE naming what is missing; the others keep working. */
struct api_deps {
    struct drv_sculpt *engine;        /* host model, admission, placement, reshape log, cost */
    struct drv_fleet *fleet;          /* fleet history: blueprint previews for a request */
    struct drv_presculpt *presculpt;  /* pools (GET /v1/pools, PUT /v1/config/presculpt) */
    struct db *db;                    /* instances, usage history, custom blueprints,
                                         persisted run-time settings */
    struct os_keystone *keystone;     /* token validation; NULL: admin token only */
    /* Called after a PUT /v1/config/... has validated, persisted and
     * published (cfg_publish) a new configuration, so the daemon can hand
     * the new settings to components that copied them at start.  May be
     * NULL.  Runs on a server thread. */
    void (*config_changed)(void *ctx, const struct cfg *cfg);
    /* The inventory Placement last got and when (wall clock ms); false
     * when none was written yet.  May be NULL (no Nova side: GET /v1/host
     * then says null).  Runs on a server thread. */
    bool (*inventory_reported)(void *ctx, struct drv_sculpt_inventory *out, int64_t *at_ms);
    void *ctx;                        /* passed to config_changed, inventory_reported */
};

struct api_server;

/* Listen on [api] listen:port of `cfg` and serve until api_server_stop().
 * The server keeps a reference on `cfg` for what is fixed at start
 * (address, threads, body limit) and reads the published config
 * (cfg_acquire) per request for what may change at run time.  `deps` is
 * copied.  Returns the server or NULL with *err (address in use, bad
 * listen address...).  Call from the main thread. */
struct api_server *api_server_start(const struct api_deps *deps, const struct cfg *cfg,
                                    struct err **err);

/* The TCP port the server listens on (the one picked when [api] port = 0). */
uint16_t api_server_port(const struct api_server *srv);

/* Stop serving: waits for requests in flight, closes the socket, frees the
 * server.  Accepts NULL. */
void api_server_stop(struct api_server *srv);

#endif
