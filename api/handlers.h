/* Every route's handler (one file per area: handle_<area>.c).  Each
 * follows api_handler_fn (api/http.h) and runs on a server thread. */
#ifndef SC_API_HANDLERS_H
#define SC_API_HANDLERS_H

#include "api/http.h"

/* handle_meta.c: what needs no component */
int api_handle_root(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_version(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_openapi(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_metrics(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_dashboard(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_host.c */
int api_handle_host(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_host_history(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_instances.c */
int api_handle_instance_list(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_instance_show(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_reshapes(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_events.c */
int api_handle_events(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_blueprints.c */
int api_handle_blueprint_list(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_blueprint_create(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_blueprint_get(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_blueprint_put(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_blueprint_delete(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_blueprint_preview(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_placement.c */
int api_handle_candidates(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_cost.c */
int api_handle_cost_estimate(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_cost(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_config.c: the route's `arg` names the sections */
int api_handle_config_get(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_config_put(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_config_delete(struct api_req *req, struct api_resp *resp, struct err **err);

/* handle_pools.c */
int api_handle_pools(struct api_req *req, struct api_resp *resp, struct err **err);
int api_handle_pools_history(struct api_req *req, struct api_resp *resp, struct err **err);

#endif
