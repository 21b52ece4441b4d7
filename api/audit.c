/* Operator changes into the event log (api/audit.h). */
#include "api/audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "api/route.h"
#include "common/alloc.h"
#include "common/log.h"
#include "db/db.h"

LOG_INIT("api.audit");

/* The handlers whose routes change what sculpt does from then on.  Keyed
 * by handler: one handler serves each section's config route alike. */
static const struct {
    api_handler_fn handler;
    const char *action;
} api_audited[] = {
    {api_handle_config_put, "config.set"},
    {api_handle_config_delete, "config.reset"},
    {api_handle_blueprint_create, "blueprint.create"},
    {api_handle_blueprint_put, "blueprint.replace"},
    {api_handle_blueprint_delete, "blueprint.delete"},
};

/* Longest value shown; the rest is cut with "...". */
#define API_AUDIT_VALUE_MAX 96

const char *api_audit_action(const struct api_route *r)
{
    for (size_t i = 0; r && i < ARRAY_SIZE(api_audited); i++)
        if (api_audited[i].handler == r->handler)
            return api_audited[i].action;
    return NULL;
}

void api_audit_begin(struct api_req *req)
{
    req->audit.action = api_audit_action(req->route);
}

void api_audit_note(struct api_req *req, const char *fmt, ...)
{
    if (!req->audit.action)
        return;
    if (req->audit.notes.len)
        strbuf_append(&req->audit.notes, "; ");
    va_list ap;
    va_start(ap, fmt);
    autofree char *s = xvasprintf(fmt, ap);
    va_end(ap);
    strbuf_append(&req->audit.notes, s);
}

char *api_audit_value(const char *text, bool secret)
{
    if (!text)
        return xstrdup("(unset)");
    if (secret)
        return xstrdup(text[0] ? "***" : "\"\"");
    if (!text[0])
        return xstrdup("\"\"");
    if (strlen(text) > API_AUDIT_VALUE_MAX)
        return xasprintf("%.*s...", API_AUDIT_VALUE_MAX, text);
    return xstrdup(text);
}

char *api_audit_message(const struct api_req *req, const struct err *err)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "%s %s by %s", req->method, req->path,
                  req->user && req->user[0] ? req->user : "anonymous");
    if (req->audit.notes.len)
        strbuf_printf(&b, ": %s", req->audit.notes.s);
    if (err)
        strbuf_printf(&b, "%sfailed: %s", req->audit.notes.len ? "; " : ": ", err->msg);
    return strbuf_steal(&b);
}

void api_audit_finish(const struct api_req *req, const struct err *err, double duration_ms)
{
    if (!req->audit.action || !req->deps->db)
        return;
    autofree char *message = api_audit_message(req, err);
    struct db_event ev = {
        .request_id = (char *)req->request_id,
        .source = (char *)"api",
        .action = (char *)req->audit.action,
        .code = err ? err->code : 0,
        .message = message,
        .duration_ms = duration_ms,
    };
    autoerr struct err *e = NULL;
    if (db_event_add(req->deps->db, &ev, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "not in the event log: %s", message);
}

void api_audit_release(struct api_audit *a)
{
    if (!a)
        return;
    strbuf_release(&a->notes);
    a->action = NULL;
}
