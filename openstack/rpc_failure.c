#include "openstack/rpc_failure.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "openstack/oslo.h"

/* What each of our codes becomes on the wire.  The classes exist in Zed's
 * nova.exception (or builtins), so callers rebuild them: Nova's API maps
 * NotImplementedError to HTTP 501, NotFound to 404, Invalid to 400. */
static const struct {
    enum err_code code;
    const char *cls;
    const char *module;
    int http;
} failure_out[] = {
    {ERR_INVALID, "Invalid", "nova.exception", 400},
    {ERR_NOT_FOUND, "NotFound", "nova.exception", 404},
    {ERR_CONFLICT, "InstanceInvalidState", "nova.exception", 409},
    {ERR_UNSUPPORTED, "NotImplementedError", "builtins", 0},
    {ERR_CAPACITY, "ComputeResourcesUnavailable", "nova.exception", 500},
    {ERR_UNAVAILABLE, "NovaException", "nova.exception", 503},
    {ERR_TIMEOUT, "NovaException", "nova.exception", 504},
    {ERR_INTERNAL, "NovaException", "nova.exception", 500},
};

/* What a received class means to us, by exact name or suffix. */
static const struct {
    const char *cls;      /* exact class name, or NULL */
    const char *suffix;   /* class name suffix, or NULL */
    enum err_code code;
} failure_in[] = {
    {"UnexpectedTaskStateError", NULL, ERR_CONFLICT},
    {"UnexpectedDeletingTaskStateError", NULL, ERR_CONFLICT},
    {"InstanceInvalidState", NULL, ERR_CONFLICT},
    {"ObjectActionError", NULL, ERR_CONFLICT},
    {"MessagingTimeout", NULL, ERR_TIMEOUT},
    {"UnsupportedVersion", NULL, ERR_UNSUPPORTED},
    {"NoSuchMethod", NULL, ERR_UNSUPPORTED},
    {"NotImplementedError", NULL, ERR_UNSUPPORTED},
    {"IncompatibleObjectVersion", NULL, ERR_UNSUPPORTED},
    {"ValueError", NULL, ERR_INVALID},
    {"TypeError", NULL, ERR_INVALID},
    {"KeyError", NULL, ERR_INVALID},
    {NULL, "NotFound", ERR_NOT_FOUND},
    {NULL, "Invalid", ERR_INVALID},
};

void os_fault_release(struct os_fault *f)
{
    if (!f)
        return;
    json_decref(f->kwargs);
    memset(f, 0, sizeof(*f));
}

void os_fault_nova(struct os_fault *f, const char *cls, int code)
{
    os_fault_release(f);
    f->cls = cls;
    f->module = "nova.exception";
    f->code = code;
}

char *os_failure_from_err(const struct err *e, const struct os_fault *fault)
{
    const char *msg = e && e->msg ? e->msg : "unknown failure";
    if (fault && fault->cls)
        return os_failure_encode(fault->cls, fault->module ? fault->module : "nova.exception",
                                 msg, fault->kwargs ? json_deep_copy(fault->kwargs) : NULL,
                                 fault->code);
    enum err_code code = e ? e->code : ERR_INTERNAL;
    for (size_t i = 0; i < ARRAY_SIZE(failure_out); i++)
        if (failure_out[i].code == code)
            return os_failure_encode(failure_out[i].cls, failure_out[i].module, msg, NULL,
                                     failure_out[i].http);
    return os_failure_encode("NovaException", "nova.exception", msg, NULL, 500);
}

static enum err_code failure_code_of(const char *cls)
{
    size_t n = strlen(cls);
    for (size_t i = 0; i < ARRAY_SIZE(failure_in); i++) {
        if (failure_in[i].cls && strcmp(cls, failure_in[i].cls) == 0)
            return failure_in[i].code;
        if (failure_in[i].suffix) {
            size_t m = strlen(failure_in[i].suffix);
            if (n >= m && strcmp(cls + n - m, failure_in[i].suffix) == 0)
                return failure_in[i].code;
        }
    }
    return ERR_INTERNAL;
}

int os_failure_to_err(const char *failure, const char *what, char **cls, struct err **err)
{
    autofree char *c = NULL;
    autofree char *message = NULL;
    if (os_failure_decode(failure, &c, NULL, &message, NULL) < 0 || !c) {
        if (cls)
            *cls = xstrdup("RemoteError");
        return err_set(err, ERR_INTERNAL, "%s: malformed failure reply", what);
    }
    enum err_code code = failure_code_of(c);
    /* The first line only: Nova appends tracebacks to some messages. */
    if (message) {
        char *nl = strchr(message, '\n');
        if (nl)
            *nl = '\0';
    }
    err_set(err, code, "%s: %s: %s", what, c, message ? message : "");
    if (cls)
        *cls = steal_pointer(&c);
    return -1;
}
