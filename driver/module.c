#include "driver/module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

LOG_INIT("driver.module");

static pthread_once_t drv_module_dir_once = PTHREAD_ONCE_INIT;
static char *drv_module_dir_str; /* set once, kept for the process */

static void drv_module_dir_init(void)
{
    const char *env = getenv("SCULPT_MODULE_DIR");
    if (env && *env) {
        drv_module_dir_str = xstrdup(env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        drv_module_dir_str = xstrdup("lib/sculpt");
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    drv_module_dir_str = xasprintf("%s/../lib/sculpt", exe);
}

const char *drv_module_dir(void)
{
    pthread_once(&drv_module_dir_once, drv_module_dir_init);
    return drv_module_dir_str;
}

/* Loaded modules, by name; never unloaded (their code may be running on
 * other threads, and libvirt registers process-wide state). */
#define DRV_MODULE_MAX 4
static pthread_mutex_t drv_module_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[32];
    void *handle;
} drv_modules[DRV_MODULE_MAX];

static void *drv_module_open(const char *name, struct err **err)
{
    void *handle = NULL;
    pthread_mutex_lock(&drv_module_lock);
    int slot = -1;
    for (int i = 0; i < DRV_MODULE_MAX && !handle; i++) {
        if (drv_modules[i].handle && strcmp(drv_modules[i].name, name) == 0)
            handle = drv_modules[i].handle;
        else if (!drv_modules[i].handle && slot < 0)
            slot = i;
    }
    if (!handle) {
        autofree char *path = xasprintf("%s/%s.so", drv_module_dir(), name);
        /* RTLD_NOW: a module that does not fit this program fails here,
         * with the missing symbol named, not later in the middle of a
         * call. */
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            const char *why = dlerror();
            err_set(err, ERR_UNAVAILABLE, "cannot load module `%s`: %s", path,
                    why ? why : "unknown error");
        } else if (slot < 0) {
            err_set(err, ERR_INTERNAL, "too many modules loaded for `%s`", name);
            dlclose(handle);
            handle = NULL;
        } else {
            snprintf(drv_modules[slot].name, sizeof(drv_modules[slot].name), "%s", name);
            drv_modules[slot].handle = handle;
            log_info("module `%s` loaded from %s", name, path);
        }
    }
    pthread_mutex_unlock(&drv_module_lock);
    return handle;
}

void *drv_module_sym(const char *name, const char *symbol, struct err **err)
{
    void *handle = drv_module_open(name, err);
    if (!handle)
        return NULL;
    void *p = dlsym(handle, symbol);
    if (!p)
        err_set(err, ERR_INTERNAL, "module `%s` has no `%s`", name, symbol);
    return p;
}
