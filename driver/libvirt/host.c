/* The libvirt connection: one process-wide event loop thread (libvirt's
 * default implementation, needed for events and keepalive), and per host a
 * watcher thread that replaces a lost connection.
 *
 * Locking: h->lock guards conn, generation, lost and quit.  Libvirt calls
 * that may block (open, close) are made without it.  The close callback
 * runs on the event thread and only flags the loss; the watcher does the
 * rest, so no libvirt call is made from inside a libvirt callback. */
#include "driver/libvirt/host.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

LOG_INIT("driver.libvirt.host");

struct lv_host {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *uri;
    int64_t reconnect_ms;
    virConnectPtr conn;  /* NULL while lost */
    uint64_t generation; /* bumped on every (re)connection */
    int lifecycle_id;    /* event registrations on conn */
    int memdev_id;       /* -1: none (a libvirt without the event) */
    bool lost;           /* conn died: the watcher must replace it */
    bool quit;
    pthread_t watcher;
    lv_host_lifecycle_fn on_lifecycle;
    lv_host_memdev_fn on_memdev;
    lv_host_conn_fn on_conn;
    void *opaque;
};

/* ---- the process-wide event loop ---- */

static pthread_mutex_t lv_loop_lock = PTHREAD_MUTEX_INITIALIZER;
static int lv_loop_users;
static bool lv_loop_ready;
static bool lv_loop_quit;
static int lv_loop_timer = -1;
static pthread_t lv_loop_thread;

/* libvirt prints every error to stderr unless told otherwise; errors are
 * reported once, where they are handled, through lv_error(). */
static void lv_quiet(void *opaque, virErrorPtr e)
{
    (void)opaque;
    (void)e;
}

static void lv_loop_wake(int timer, void *opaque)
{
    (void)opaque;
    virEventUpdateTimeout(timer, -1);
}

static void *lv_loop_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&lv_loop_quit, __ATOMIC_ACQUIRE))
        if (virEventRunDefaultImpl() < 0)
            log_warn("libvirt event loop iteration failed");
    return NULL;
}

static int lv_loop_get(struct err **err)
{
    pthread_mutex_lock(&lv_loop_lock);
    if (!lv_loop_ready) {
        if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0) {
            pthread_mutex_unlock(&lv_loop_lock);
            return err_set(err, ERR_INTERNAL, "libvirt: cannot set up the event loop");
        }
        virSetErrorFunc(NULL, lv_quiet);
        lv_loop_timer = virEventAddTimeout(-1, lv_loop_wake, NULL, NULL);
        lv_loop_ready = true;
    }
    if (lv_loop_users++ == 0) {
        __atomic_store_n(&lv_loop_quit, false, __ATOMIC_RELEASE);
        if (pthread_create(&lv_loop_thread, NULL, lv_loop_main, NULL) != 0) {
            lv_loop_users--;
            pthread_mutex_unlock(&lv_loop_lock);
            return err_set(err, ERR_INTERNAL, "libvirt: cannot start the event thread");
        }
    }
    pthread_mutex_unlock(&lv_loop_lock);
    return 0;
}

static void lv_loop_put(void)
{
    pthread_mutex_lock(&lv_loop_lock);
    if (--lv_loop_users == 0) {
        __atomic_store_n(&lv_loop_quit, true, __ATOMIC_RELEASE);
        virEventUpdateTimeout(lv_loop_timer, 0); /* wake the poll */
        pthread_join(lv_loop_thread, NULL);
    }
    pthread_mutex_unlock(&lv_loop_lock);
}

/* ---- errors ---- */

static enum err_code lv_error_code(const virError *e)
{
    if (!e)
        return ERR_INTERNAL;
    if (e->domain == VIR_FROM_RPC || e->domain == VIR_FROM_REMOTE)
        return ERR_UNAVAILABLE;
    switch (e->code) {
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_DOMAIN_METADATA:
    case VIR_ERR_NO_DOMAIN_SNAPSHOT:
    case VIR_ERR_NO_STORAGE_VOL:
        return ERR_NOT_FOUND;
    case VIR_ERR_OPERATION_INVALID:
    case VIR_ERR_DOM_EXIST:
        return ERR_CONFLICT;
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
    case VIR_ERR_OPERATION_UNSUPPORTED:
    case VIR_ERR_CONFIG_UNSUPPORTED:
        return ERR_UNSUPPORTED;
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
        return ERR_INVALID;
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AGENT_UNRESPONSIVE:
        return ERR_TIMEOUT;
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_RPC:
        return ERR_UNAVAILABLE;
    default:
        return ERR_INTERNAL;
    }
}

int lv_error_saved(struct err **err, virErrorPtr e, const char *call, const char *domain)
{
    const char *msg = e && e->message ? e->message : "unknown libvirt error";
    enum err_code code = lv_error_code(e);
    if (domain)
        err_set(err, code, "%s on `%s`: %s", call, domain, msg);
    else
        err_set(err, code, "%s: %s", call, msg);
    return -1;
}

int lv_error(struct err **err, const char *call, const char *domain)
{
    lv_error_saved(err, virGetLastError(), call, domain);
    virResetLastError();
    return -1;
}

int lv_dom_error(struct err **err, const char *call, virDomainPtr dom)
{
    virErrorPtr e = virSaveLastError(); /* virDomainGetName clears it */
    lv_error_saved(err, e, call, virDomainGetName(dom));
    virFreeError(e);
    virResetLastError();
    return -1;
}

/* ---- callbacks (event thread) ---- */

static void lv_host_on_close(virConnectPtr conn, int reason, void *opaque)
{
    static const char *const why[] = {"I/O error", "end of file", "keepalive timeout",
                                      "closed by client"};
    struct lv_host *h = opaque;
    pthread_mutex_lock(&h->lock);
    if (h->conn == conn && !h->lost) {
        log_warn("libvirt connection to %s lost (%s)", h->uri,
                 reason >= 0 && reason < 4 ? why[reason] : "?");
        h->lost = true;
        pthread_cond_broadcast(&h->cond);
    }
    pthread_mutex_unlock(&h->lock);
}

static int lv_host_on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                                void *opaque)
{
    (void)conn;
    struct lv_host *h = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) < 0)
        return 0;
    const char *name = virDomainGetName(dom);
    h->on_lifecycle(h->opaque, uuid, name ? name : "", event, detail);
    return 0;
}

static void lv_host_on_memdev(virConnectPtr conn, virDomainPtr dom, const char *alias,
                              unsigned long long size_kib, void *opaque)
{
    (void)conn;
    struct lv_host *h = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) < 0)
        return;
    h->on_memdev(h->opaque, uuid, alias ? alias : "", (uint64_t)size_kib);
}

/* ---- connecting ---- */

static virConnectPtr lv_host_connect(struct lv_host *h, int *lifecycle_id, int *memdev_id,
                                     struct err **err)
{
    virConnectPtr c = virConnectOpen(h->uri);
    if (!c) {
        lv_error(err, "virConnectOpen", NULL);
        (*err)->code = ERR_UNAVAILABLE;
        return NULL;
    }
    /* a dead libvirtd is noticed within ~20 s even without traffic */
    if (virConnectSetKeepAlive(c, 5, 3) < 0)
        virResetLastError(); /* not every driver has it (test://) */
    if (virConnectRegisterCloseCallback(c, lv_host_on_close, h, NULL) < 0)
        virResetLastError();
    *lifecycle_id =
        virConnectDomainEventRegisterAny(c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(lv_host_on_lifecycle), h, NULL);
    if (*lifecycle_id < 0) {
        lv_error(err, "virConnectDomainEventRegisterAny", NULL);
        virConnectUnregisterCloseCallback(c, lv_host_on_close);
        virConnectClose(c);
        return NULL;
    }
    /* memory hot-plug progress; without it (libvirt < 7.9) a guest's
     * plugged size is read back with its knobs */
    *memdev_id =
        virConnectDomainEventRegisterAny(c, NULL, VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE,
                                         VIR_DOMAIN_EVENT_CALLBACK(lv_host_on_memdev), h, NULL);
    if (*memdev_id < 0)
        virResetLastError();
    return c;
}

static void lv_host_disconnect(virConnectPtr c, int lifecycle_id, int memdev_id)
{
    if (!c)
        return;
    if (lifecycle_id >= 0 && virConnectDomainEventDeregisterAny(c, lifecycle_id) < 0)
        virResetLastError(); /* a dead connection cannot deregister */
    if (memdev_id >= 0 && virConnectDomainEventDeregisterAny(c, memdev_id) < 0)
        virResetLastError();
    if (virConnectUnregisterCloseCallback(c, lv_host_on_close) < 0)
        virResetLastError();
    if (virConnectClose(c) < 0)
        virResetLastError();
}

static void lv_host_timedwait(struct lv_host *h, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&h->cond, &h->lock, &ts);
}

/* The watcher: waits for a loss, drops the dead connection, reconnects. */
static void *lv_host_watch(void *arg)
{
    struct lv_host *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->quit) {
        if (!h->lost) {
            pthread_cond_wait(&h->cond, &h->lock);
            continue;
        }
        virConnectPtr dead = h->conn;
        int dead_id = h->lifecycle_id, dead_mem = h->memdev_id;
        h->conn = NULL;
        h->lifecycle_id = -1;
        h->memdev_id = -1;
        pthread_mutex_unlock(&h->lock);
        lv_host_disconnect(dead, dead_id, dead_mem);
        if (dead)
            h->on_conn(h->opaque, false);
        pthread_mutex_lock(&h->lock);

        while (!h->quit) {
            pthread_mutex_unlock(&h->lock);
            autoerr struct err *err = NULL;
            int id = -1, mem = -1;
            virConnectPtr c = lv_host_connect(h, &id, &mem, &err);
            pthread_mutex_lock(&h->lock);
            if (c && h->quit) {
                pthread_mutex_unlock(&h->lock);
                lv_host_disconnect(c, id, mem);
                pthread_mutex_lock(&h->lock);
                break;
            }
            if (c) {
                h->conn = c;
                h->lifecycle_id = id;
                h->memdev_id = mem;
                h->generation++;
                h->lost = false;
                log_info("libvirt connection to %s back", h->uri);
                pthread_mutex_unlock(&h->lock);
                h->on_conn(h->opaque, true);
                pthread_mutex_lock(&h->lock);
                break;
            }
            log_debug("reconnect to %s: %s", h->uri, err->msg);
            lv_host_timedwait(h, h->reconnect_ms);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

struct lv_host *lv_host_open(const char *uri, int64_t reconnect_ms,
                             lv_host_lifecycle_fn on_lifecycle, lv_host_memdev_fn on_memdev,
                             lv_host_conn_fn on_conn, void *opaque, struct err **err)
{
    if (lv_loop_get(err) < 0)
        return NULL;
    struct lv_host *h = xzalloc(sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    h->uri = xstrdup(uri);
    h->reconnect_ms = reconnect_ms;
    h->on_lifecycle = on_lifecycle;
    h->on_memdev = on_memdev;
    h->on_conn = on_conn;
    h->opaque = opaque;
    h->lifecycle_id = -1;
    h->memdev_id = -1;
    h->conn = lv_host_connect(h, &h->lifecycle_id, &h->memdev_id, err);
    if (!h->conn || pthread_create(&h->watcher, NULL, lv_host_watch, h) != 0) {
        if (h->conn) {
            lv_host_disconnect(h->conn, h->lifecycle_id, h->memdev_id);
            err_set(err, ERR_INTERNAL, "libvirt: cannot start the connection watcher");
        }
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        free(h->uri);
        free(h);
        lv_loop_put();
        return NULL;
    }
    h->generation = 1;
    return h;
}

void lv_host_close(struct lv_host *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->quit = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->watcher, NULL);
    lv_host_disconnect(h->conn, h->lifecycle_id, h->memdev_id);
    lv_loop_put();
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h->uri);
    free(h);
}

virConnectPtr lv_host_conn(struct lv_host *h, uint64_t *generation, struct err **err)
{
    pthread_mutex_lock(&h->lock);
    virConnectPtr c = h->lost ? NULL : h->conn;
    if (c)
        virConnectRef(c);
    if (generation)
        *generation = h->generation;
    pthread_mutex_unlock(&h->lock);
    if (!c)
        err_set(err, ERR_UNAVAILABLE, "libvirtd at `%s` is unreachable (reconnecting)", h->uri);
    return c;
}

void lv_host_check(struct lv_host *h, virConnectPtr conn)
{
    if (virConnectIsAlive(conn) == 1)
        return;
    virResetLastError();
    pthread_mutex_lock(&h->lock);
    if (h->conn == conn && !h->lost) {
        log_warn("libvirt connection to %s is dead", h->uri);
        h->lost = true;
        pthread_cond_broadcast(&h->cond);
    }
    pthread_mutex_unlock(&h->lock);
}

bool lv_host_connected(struct lv_host *h)
{
    pthread_mutex_lock(&h->lock);
    bool up = h->conn && !h->lost;
    pthread_mutex_unlock(&h->lock);
    return up;
}
