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

#endif
