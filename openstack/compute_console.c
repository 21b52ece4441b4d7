/* Remote consoles (`openstack console url show --novnc` or `--serial`):
 * get_vnc_console and get_serial_console as Zed's ComputeManager does them
 * -- the port of the guest's VNC server or TCP serial console read from
 * its running domain, a ConsoleAuthToken created through the conductor
 * for it, the connection info nova-api turns into the URL -- and
 * validate_console_port, which nova-novncproxy and nova-serialproxy ask
 * before they connect a token's holder to the port. */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/conductor.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/rpc_failure.h"

LOG_INIT("openstack.compute_console");

/* Nova's exception `cls` with its one keyword argument; `msg` its text. */
static int console_fault(struct os_rpc_req *req, const char *cls, int code, const char *kw,
                         const char *value, struct err **err, const char *msg)
{
    os_fault_nova(&req->fault, cls, code);
    req->fault.kwargs = json_pack("{s:s}", kw, value);
    return err_set(err, ERR_UNSUPPORTED, "%s", msg);
}

int os_console_type_unavailable(struct os_rpc_req *req, const char *type, struct err **err)
{
    autofree char *msg = xasprintf("Unavailable console type %s.", type);
    return console_fault(req, "ConsoleTypeUnavailable", 400, "console_type", type, err, msg);
}

/* The port of the guest's console of `type`, or -1 with the fault Zed's
 * manager raises: InstanceNotFound, InstanceNotReady (not running, or
 * still building), ConsoleTypeUnavailable (none defined). */
static int console_port(struct os_rpc_req *req, const json_t *inst, enum drv_hv_console type,
                        const char *type_name, int *port, struct err **err)
{
    struct os_compute *c = req->opaque;
    const char *uuid = ovo_get_str(inst, "uuid");
    if (drv_hv_console_port(c->hv, uuid, type, port, err) == 0)
        return 0;
    const char *vm_state = ovo_get_str(inst, "vm_state");
    switch (err_code_of(*err)) {
    case ERR_NOT_FOUND:
        if (vm_state && strcmp(vm_state, "building") == 0)
            break;
        os_fault_instance_not_found(&req->fault, uuid);
        return -1;
    case ERR_CONFLICT:
        break;
    case ERR_UNSUPPORTED:
        err_clear(err);
        return os_console_type_unavailable(req, type_name, err);
    default:
        return -1;
    }
    log_info("console of %s: %s", uuid, (*err)->msg);
    err_clear(err);
    autofree char *msg = xasprintf("Instance %s is not ready", uuid);
    return console_fault(req, "InstanceNotReady", 400, "instance_id", uuid, err, msg);
}

/* Zed's @wrap_instance_fault on the console calls: a failure other than
 * InstanceNotFound is recorded on the instance, with the code of the
 * Nova exception that goes back (500 for any other error).  Returns rc. */
static int console_faulted(struct os_rpc_req *req, int rc, struct err **err)
{
    if (rc == 0 || !*err || (req->fault.cls && strcmp(req->fault.cls, "InstanceNotFound") == 0))
        return rc;
    struct os_compute *c = req->opaque;
    autoerr struct err *e = NULL;
    autoptr(os_inst) i = os_compute_req_inst(c, req, &e);
    if (!i) {
        log_err(LOG_LEVEL_WARN, e, "%s: the fault is not recorded", req->msg->method);
        return rc;
    }
    os_inst_fault_as(i, (*err)->msg, req->fault.cls ? req->fault.code : os_fault_code_of(*err));
    return rc;
}

static const json_t *console_instance(struct os_rpc_req *req, struct err **err)
{
    json_t *inst = json_object_get(req->msg->args, "instance");
    if (!ovo_is(inst, "Instance") || !ovo_get_str(inst, "uuid")) {
        err_set(err, ERR_INVALID, "%s needs an Instance", req->msg->method);
        return NULL;
    }
    return inst;
}

json_t *os_console_token_new(const char *type, const char *host, int port, const char *uuid,
                             const char *base)
{
    json_t *tok = ovo_new("ConsoleAuthToken");
    ovo_set_str(tok, "console_type", type);
    ovo_set_str(tok, "host", host);
    ovo_set_int(tok, "port", port);
    ovo_set(tok, "internal_access_path", json_null());
    ovo_set_str(tok, "instance_uuid", uuid);
    ovo_set_str(tok, "access_url_base", base);
    return tok;
}

json_t *os_console_connect_info(const char *type, const char *host, int port, const char *token,
                                const char *base)
{
    /* ConsoleAuthToken.access_url: noVNC 1.1 and later take the token
     * inside their `path` parameter (a token is a UUID: nothing in it to
     * escape) */
    autofree char *url = strcmp(type, "novnc") == 0
                             ? xasprintf("%s?path=%%3Ftoken%%3D%s", base, token)
                             : xasprintf("%s?token=%s", base, token);
    /* Console.get_connection_info: the port as Zed's driver has it -- the
     * VNC one a string, as the domain XML states it; the serial one an
     * integer, which its driver parses */
    json_t *jport = strcmp(type, "novnc") == 0 ? json_sprintf("%d", port) : json_integer(port);
    return json_pack("{s:s, s:o, s:n, s:s, s:s}", "host", host, "port", jport,
                     "internal_access_path", "token", token, "access_url", url);
}

/* One kind of remote console as the manager serves it. */
struct console_kind {
    bool enabled;              /* its [section] enabled */
    const char *type;          /* the console_type it answers */
    enum drv_hv_console drv;   /* the driver's device */
    const char *drv_name;      /* as the driver's ConsoleTypeUnavailable names it */
    const char *host;          /* the address its proxy connects to */
    const char *base;          /* the proxy's public URL */
};

/* Zed's get_vnc_console and get_serial_console: the guest's port, a
 * ConsoleAuthToken for it authorized through the conductor, the
 * connection info. */
static int get_console(struct os_rpc_req *req, const struct console_kind *k, json_t **result,
                       struct err **err)
{
    struct os_compute *c = req->opaque;
    const json_t *inst = console_instance(req, err);
    if (!inst)
        return -1;
    const char *type = json_string_value(json_object_get(req->msg->args, "console_type"));
    if (!type)
        type = "";
    if (!k->enabled)
        return os_console_type_unavailable(req, type, err);
    if (strcmp(type, k->type) != 0) {
        autofree char *msg = xasprintf("Invalid console type %s", type);
        return console_fault(req, "ConsoleTypeInvalid", 400, "console_type", type, err, msg);
    }
    int port = 0;
    if (console_port(req, inst, k->drv, k->drv_name, &port, err) < 0)
        return -1;

    const char *uuid = ovo_get_str(inst, "uuid");
    json_auto_t *tok = os_console_token_new(type, k->host, port, uuid, k->base);
    json_auto_t *token =
        os_conductor_object_action(&c->conductor, req->msg->ctx, tok, "authorize",
                                   json_pack("[I]", (json_int_t)c->cfg->consoleauth_token_ttl),
                                   NULL, NULL, err);
    if (!token)
        return err_wrap(err, "console auth token for %s", uuid);
    if (!json_is_string(token))
        return err_set(err, ERR_INTERNAL, "ConsoleAuthToken.authorize returned no token");
    *result = os_console_connect_info(type, k->host, port, json_string_value(token), k->base);
    log_info("%s console of %s at %s:%d, token good for %lld s", k->drv_name, uuid, k->host, port,
             (long long)c->cfg->consoleauth_token_ttl);
    return 0;
}

int os_compute_get_vnc_console(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    const struct console_kind vnc = {
        .enabled = c->cfg->vnc_enabled,
        .type = "novnc",
        .drv = DRV_HV_CONSOLE_VNC,
        .drv_name = "vnc",
        .host = c->cfg->vnc_server_proxyclient_address,
        .base = c->cfg->vnc_novncproxy_base_url,
    };
    return console_faulted(req, get_console(req, &vnc, result, err), err);
}

int os_compute_get_serial_console(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    const struct console_kind serial = {
        .enabled = c->cfg->serial_console_enabled,
        .type = "serial",
        .drv = DRV_HV_CONSOLE_SERIAL,
        .drv_name = "serial",
        .host = c->cfg->serial_console_proxyclient_address,
        .base = c->cfg->serial_console_base_url,
    };
    return console_faulted(req, get_console(req, &serial, result, err), err);
}

/* Zed's validate_console_port: is `port` the one of the guest's console
 * of that type now (a token outliving a restart of its guest, which got
 * another port, is refused)?  Errors of the driver go back as they are. */
static int validate_console_port(struct os_rpc_req *req, json_t **result, struct err **err)
{
    const json_t *inst = console_instance(req, err);
    if (!inst)
        return -1;
    const char *type = json_string_value(json_object_get(req->msg->args, "console_type"));
    json_t *jport = json_object_get(req->msg->args, "port");
    if (!type || !(json_is_string(jport) || json_is_integer(jport)))
        return err_set(err, ERR_INVALID, "validate_console_port needs a console_type and a port");
    /* the manager asks the driver by type: VNC for novnc and any type it
     * does not name */
    if (strcmp(type, "spice-html5") == 0 || strcmp(type, "rdp-html5") == 0 ||
        strcmp(type, "webmks") == 0) {
        const char *t = strcmp(type, "spice-html5") == 0 ? "spice"
                        : strcmp(type, "rdp-html5") == 0 ? "rdp"
                                                         : "webmks";
        return os_console_type_unavailable(req, t, err);
    }
    bool serial = strcmp(type, "serial") == 0;
    int port = 0;
    if (console_port(req, inst, serial ? DRV_HV_CONSOLE_SERIAL : DRV_HV_CONSOLE_VNC,
                     serial ? "serial" : "vnc", &port, err) < 0)
        return -1;
    char mine[16];
    snprintf(mine, sizeof(mine), "%d", port);
    /* str(console_info.port) == port: Nova sends the port as a string */
    *result = json_boolean(json_is_string(jport) ? strcmp(json_string_value(jport), mine) == 0
                                                 : json_integer_value(jport) == port);
    return 0;
}

int os_compute_validate_console_port(struct os_rpc_req *req, json_t **result, struct err **err)
{
    return console_faulted(req, validate_console_port(req, result, err), err);
}

void os_compute_console_tokens_clean(struct os_compute *c, const json_t *ctx, const char *uuid)
{
    if (!c->cfg->vnc_enabled && !c->cfg->serial_console_enabled)
        return;
    autoerr struct err *e = NULL;
    json_t *r = os_conductor_class_action(&c->conductor, ctx, "ConsoleAuthToken",
                                          "clean_console_auths_for_instance",
                                          json_pack("[s]", uuid), NULL, NULL, &e);
    if (!r)
        log_err(LOG_LEVEL_WARN, e, "console tokens of %s not deleted", uuid);
    json_decref(r);
}
