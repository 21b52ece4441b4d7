/* hvctl: drive a hypervisor backend (driver/hypervisor.h) from the shell,
 * for the integration tests and the benchmark.
 *
 *   hvctl [-c sculpt.conf] [-o section.name=value]... COMMAND [key=value]...
 *   hvctl [-c ...] [-o ...] run        commands from stdin, one per line,
 *                                      on one handle; events printed as
 *                                      they arrive
 *
 * Every command ends with one line "OK <command> ..." or
 * "ERR <command> <CODE> <message>" (and exits 1 outside `run`); lines of
 * detail (SAMPLE, GUEST, DRIFT) come before it.  In `run`
 * mode values cannot hold spaces; give cmdline=@FILE to read it from a file.  Events
 * print as "EVENT <type> <uuid|-> reason=<r> state=<s> by_sculpt=<0|1>".
 *
 * Commands (keys in brackets are optional):
 *   host | caps | list | sample | events
 *   spawn uuid= (kernel= [initrd=] [cmdline=] | disk=) [disk_format=] [root_gb=]
 *         [vifs=N] [name=] [agent=1] SHAPE   (agent=1: a guest agent channel)
 *   reshape uuid= SHAPE      SHAPE keys override the guest's current shape:
 *   cold uuid= SHAPE           vcpu= mem_mib= net_in_mbps= net_out_mbps=
 *                              disk_read_iops= disk_write_iops= disk_read_mbps=
 *                              disk_write_mbps= online= max= mem_max= pcpus= numa=
 *                              weight= (CPU weight, cpu.weight units; 0: per vCPU)
 *   info uuid= | destroy uuid= [keep=1] | power-off uuid= [timeout=S]
 *   power-on | pause | unpause | suspend | resume | nmi uuid=
 *   reboot uuid= [hard=1] | console uuid= [bytes=N] | spec uuid=
 *   set-password uuid= [user=root] password=   (through the guest agent)
 *   reconcile uuid= [state=running|shutdown|paused] SHAPE
 *   migrate-out uuid= dest=HOST info=FILE [timeout=S]   (disk_info into FILE)
 *   migrate-in info=FILE [off=1] <spawn's keys>         (FILE from migrate-out)
 *   live-prepare info=FILE <spawn's keys>   (destination: dest_info into FILE)
 *   live-migrate uuid= dest=HOST info=FILE  (source; PROGRESS lines as it goes;
 *                 [force-complete=N] [abort-after=N]: asked after N of them;
 *                 PAUSED once a forced completion paused the guest,
 *                 POSTCOPY once it switched the migration to post-copy)
 *   live-finish | live-rollback uuid=       (destination, after it)
 *   live-abort uuid=                        (source, from another process while it runs)
 *   snapshot uuid= out=FILE [quiesce=try|require]   (the snapshot image moved to FILE)
 *   fs-freeze | fs-thaw uuid=               (through the guest agent: OK ... count=N)
 *   wait-event type= [uuid=] [timeout_ms=]   (run mode: wait for an event)
 *   sleep ms=
 *   quit                                     (run mode: end the session)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor.h"

#define MAX_ARGS 32

struct args {
    char *key[MAX_ARGS];
    char *val[MAX_ARGS];
    int n;
};

static const char *arg(const struct args *a, const char *key)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->key[i], key) == 0)
            return a->val[i];
    return NULL;
}

static int arg_int(const struct args *a, const char *key, long long def, long long *out,
                   struct err **err)
{
    const char *v = arg(a, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno)
        return err_set(err, ERR_INVALID, "`%s=%s` is not an integer", key, v);
    *out = x;
    return 0;
}

/* ---- events, queued for wait-event ---- */

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct drv_hv_event ev_queue[256];
static int ev_n;

static void print_event(const struct drv_hv_event *ev)
{
    printf("EVENT %s %s reason=%s state=%s by_sculpt=%d\n", drv_hv_event_name(ev->type),
           ev->uuid[0] ? ev->uuid : "-", ev->reason, drv_power_state_name(ev->state),
           ev->by_sculpt);
    fflush(stdout);
}

static void on_event(const struct drv_hv_event *ev, void *opaque)
{
    (void)opaque;
    print_event(ev);
    pthread_mutex_lock(&ev_lock);
    if (ev_n == (int)ARRAY_SIZE(ev_queue)) {
        memmove(ev_queue, ev_queue + 1, sizeof(ev_queue) - sizeof(ev_queue[0]));
        ev_n--;
    }
    ev_queue[ev_n++] = *ev;
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_lock);
}

static int cmd_wait_event(const struct args *a, struct err **err)
{
    const char *type = arg(a, "type");
    const char *uuid = arg(a, "uuid");
    long long timeout;
    if (!type)
        return err_set(err, ERR_INVALID, "type= missing");
    if (arg_int(a, "timeout_ms", 30000, &timeout, err) < 0)
        return -1;
    int64_t deadline = clock_mono_ms() + timeout;
    pthread_mutex_lock(&ev_lock);
    for (;;) {
        for (int i = 0; i < ev_n; i++) {
            if (strcmp(drv_hv_event_name(ev_queue[i].type), type) != 0)
                continue;
            if (uuid && strcmp(ev_queue[i].uuid, uuid) != 0)
                continue;
            struct drv_hv_event ev = ev_queue[i];
            memmove(&ev_queue[i], &ev_queue[i + 1], sizeof(ev_queue[0]) * (size_t)(ev_n - i - 1));
            ev_n--;
            pthread_mutex_unlock(&ev_lock);
            printf("OK wait-event %s %s reason=%s by_sculpt=%d\n", drv_hv_event_name(ev.type),
                   ev.uuid[0] ? ev.uuid : "-", ev.reason, ev.by_sculpt);
            return 0;
        }
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&ev_cond, &ev_lock, &ts);
    }
    pthread_mutex_unlock(&ev_lock);
    return err_set(err, ERR_TIMEOUT, "no `%s` event within %lld ms", type, timeout);
}

/* ---- shapes ---- */

static int parse_shape(const struct args *a, struct drv_shape *s, struct err **err)
{
    for (int i = 0; i < a->n; i++) {
        const char *k = a->key[i], *v = a->val[i];
        int kind = drv_res_kind_parse(k);
        char *end;
        if (kind >= 0) {
            s->res.v[kind] = strtod(v, &end);
            if (end == v || *end)
                return err_set(err, ERR_INVALID, "`%s=%s` is not a number", k, v);
        } else if (strcmp(k, "online") == 0) {
            s->vcpus_online = (int32_t)strtol(v, NULL, 10);
        } else if (strcmp(k, "max") == 0) {
            s->vcpus_max = (int32_t)strtol(v, NULL, 10);
        } else if (strcmp(k, "mem_max") == 0) {
            s->mem_max_mib = strtod(v, NULL);
        } else if (strcmp(k, "numa") == 0) {
            s->numa_node = (int32_t)strtol(v, NULL, 10);
        } else if (strcmp(k, "weight") == 0) {
            unsigned long w = strtoul(v, &end, 10);
            if (end == v || *end || w > DRV_SHAPE_WEIGHT_MAX)
                return err_set(err, ERR_INVALID, "`weight=%s` is not a weight in [0, %d]", v,
                               DRV_SHAPE_WEIGHT_MAX);
            s->cpu_weight = (uint32_t)w;
        } else if (strcmp(k, "pcpus") == 0) {
            if (drv_cpuset_parse(v, &s->pcpus, err) < 0)
                return -1;
        }
    }
    return 0;
}

static void print_shape(const struct drv_shape *s)
{
    char cpus[256];
    printf(" online=%d max=%d mem_max=%.0f pcpus=%s numa=%d weight=%u", s->vcpus_online,
           s->vcpus_max, s->mem_max_mib, drv_cpuset_format(&s->pcpus, cpus, sizeof(cpus)),
           s->numa_node, drv_shape_cpu_weight(s));
    for (int k = 0; k < DRV_RES_LAST; k++)
        printf(" %s=%.6g", drv_res_kind_name((enum drv_res_kind)k), s->res.v[k]);
}

static int current_shape(struct drv_hv *hv, const char *uuid, struct drv_shape *s, struct err **err)
{
    struct drv_hv_info info;
    if (drv_hv_get_info(hv, uuid, &info, err) < 0)
        return -1;
    drv_hv_info_asked(&info, s); /* not the balloon on its way */
    return 0;
}

/* ---- commands ---- */

/* The guest spec spawn and migrate-in take; its strings point into `a`
 * but the command line read from a file (*cmdline_file, caller frees). */
static int spec_of_args(const struct args *a, struct drv_hv_guest_spec *spec, char **cmdline_file,
                        struct err **err)
{
    memset(spec, 0, sizeof(*spec));
    const char *uuid = arg(a, "uuid");
    snprintf(spec->uuid, sizeof(spec->uuid), "%s", uuid ? uuid : "");
    spec->name = (char *)arg(a, "name");
    spec->display_name = (char *)arg(a, "display_name");
    spec->image.kernel = (char *)arg(a, "kernel");
    spec->image.initrd = (char *)arg(a, "initrd");
    const char *cmdline = arg(a, "cmdline");
    if (cmdline && cmdline[0] == '@') {
        FILE *f = fopen(cmdline + 1, "r");
        char buf[2048] = "";
        if (!f || !fgets(buf, sizeof(buf), f)) {
            if (f)
                fclose(f);
            return err_set(err, ERR_NOT_FOUND, "cannot read `%s`", cmdline + 1);
        }
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        cmdline = *cmdline_file = xstrdup(buf);
    }
    spec->image.cmdline = (char *)cmdline;
    spec->image.disk_base = (char *)arg(a, "disk");
    spec->image.disk_format = (char *)arg(a, "disk_format");
    long long root_gb, vifs;
    if (arg_int(a, "root_gb", 0, &root_gb, err) < 0 || arg_int(a, "vifs", 1, &vifs, err) < 0)
        return -1;
    long long agent;
    if (arg_int(a, "agent", 0, &agent, err) < 0)
        return -1;
    spec->image.root_gb = root_gb;
    spec->nvifs = (size_t)vifs;
    spec->guest_agent = agent != 0;
    spec->shape = (struct drv_shape){.vcpus_online = 1, .vcpus_max = 1, .numa_node = -1};
    spec->shape.res.v[DRV_RES_VCPU] = 1;
    return parse_shape(a, &spec->shape, err);
}

/* rescue: boot guest uuid= from kernel=/initrd=/cmdline=/disk=/
 * disk_format= (spawn's words), its disk second; password= puts a config
 * drive in with that admin_pass; timeout= the clean shutdown's; device=
 * (disk, cdrom, floppy) and/or bus= (virtio, scsi, usb, ide, sata, fdc):
 * a stable device rescue instead, the image added last as that device. */
static int cmd_rescue(struct drv_hv *hv, const struct args *a, struct err **err)
{
    struct drv_hv_guest_spec spec;
    autofree char *cmdline_file = NULL;
    long long timeout;
    if (spec_of_args(a, &spec, &cmdline_file, err) < 0 ||
        arg_int(a, "timeout", 0, &timeout, err) < 0)
        return -1;
    const char *password = arg(a, "password");
    const char *device = arg(a, "device");
    const char *bus = arg(a, "bus");
    struct drv_hv_rescue_dev dev = {DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT};
    if (device || bus) {
        dev.device = DRV_HV_RESCUE_DISK;
        if ((device && drv_hv_rescue_device_parse(device, &dev.device) < 0) ||
            (bus && drv_hv_bus_parse(bus, &dev.bus) < 0))
            return err_set(err, ERR_INVALID, "rescue device `%s` on bus `%s`",
                           device ? device : "disk", bus ? bus : "default");
    }
    struct drv_hv_config_drive cd = {0};
    if (password) {
        autofree char *md = xasprintf("{\"uuid\": \"%s\", \"admin_pass\": \"%s\"}", spec.uuid,
                                      password);
        drv_hv_config_drive_add(&cd, "openstack/latest/meta_data.json", md, strlen(md));
    }
    int64_t t0 = clock_mono_ns();
    int rc = drv_hv_rescue(hv, spec.uuid, &spec.image, &dev, password ? &cd : NULL, (int)timeout,
                           err);
    for (size_t k = 0; k < cd.n; k++) {
        free(cd.files[k].path);
        free(cd.files[k].data);
    }
    free(cd.files);
    if (rc == 0)
        printf("OK rescue %s ms=%.1f\n", spec.uuid, (double)(clock_mono_ns() - t0) / 1e6);
    return rc;
}

static int cmd_spawn(struct drv_hv *hv, const struct args *a, struct err **err)
{
    struct drv_hv_guest_spec spec;
    autofree char *cmdline_file = NULL;
    if (spec_of_args(a, &spec, &cmdline_file, err) < 0)
        return -1;
    int64_t t0 = clock_mono_ns();
    if (drv_hv_spawn(hv, &spec, err) < 0)
        return -1;
    printf("OK spawn %s ms=%.1f\n", spec.uuid, (double)(clock_mono_ns() - t0) / 1e6);
    return 0;
}

/* The record (disk_info, dest_info) in file `path` into info. */
static int read_info(const char *path, char info[8192], struct err **err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set_errno(err, errno, "open `%s`", path);
    size_t n = fread(info, 1, 8191, f);
    fclose(f);
    info[n] = '\0';
    return 0;
}

static int write_info(const char *path, const char *info, struct err **err)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(info, f) < 0 || fclose(f) != 0) {
        int e = errno;
        return err_set_errno(err, e, "write `%s`", path);
    }
    return 0;
}

/* migrate-out: the disk_info goes to the file info= names (it spans
 * lines), for a migrate-in on another handle. */
static int cmd_migrate_out(struct drv_hv *hv, const struct args *a, struct err **err)
{
    const char *uuid = arg(a, "uuid"), *dest = arg(a, "dest"), *path = arg(a, "info");
    long long timeout;
    if (!uuid || !dest || !path)
        return err_set(err, ERR_INVALID, "uuid=, dest= and info= are needed");
    if (arg_int(a, "timeout", 0, &timeout, err) < 0)
        return -1;
    autofree char *info = NULL;
    int64_t t0 = clock_mono_ns();
    if (drv_hv_migrate_out(hv, uuid, dest, (int)timeout, &info, err) < 0)
        return -1;
    if (write_info(path, info, err) < 0)
        return -1;
    printf("OK migrate-out %s ms=%.1f\n", uuid, (double)(clock_mono_ns() - t0) / 1e6);
    return 0;
}

static int cmd_migrate_in(struct drv_hv *hv, const struct args *a, struct err **err)
{
    const char *path = arg(a, "info");
    long long off;
    if (!path)
        return err_set(err, ERR_INVALID, "info= missing");
    if (arg_int(a, "off", 0, &off, err) < 0)
        return -1;
    char info[8192];
    if (read_info(path, info, err) < 0)
        return -1;
    struct drv_hv_guest_spec spec;
    autofree char *cmdline_file = NULL;
    if (spec_of_args(a, &spec, &cmdline_file, err) < 0)
        return -1;
    int64_t t0 = clock_mono_ns();
    if (drv_hv_migrate_in(hv, &spec, info, !off, err) < 0)
        return -1;
    printf("OK migrate-in %s ms=%.1f\n", spec.uuid, (double)(clock_mono_ns() - t0) / 1e6);
    return 0;
}

static int cmd_live_prepare(struct drv_hv *hv, const struct args *a, struct err **err)
{
    const char *path = arg(a, "info");
    if (!path)
        return err_set(err, ERR_INVALID, "info= missing");
    struct drv_hv_guest_spec spec;
    autofree char *cmdline_file = NULL;
    if (spec_of_args(a, &spec, &cmdline_file, err) < 0)
        return -1;
    autofree char *info = NULL;
    int64_t t0 = clock_mono_ns();
    if (drv_hv_live_prepare(hv, &spec, &info, err) < 0 || write_info(path, info, err) < 0)
        return -1;
    printf("OK live-prepare %s ms=%.1f\n", spec.uuid, (double)(clock_mono_ns() - t0) / 1e6);
    return 0;
}

/* A live migration followed: its progress printed, and a request
 * (force-complete=N, abort-after=N) made once N progress reports came. */
struct live_follow {
    long long progress;      /* reports so far */
    long long force_after;   /* 0: never */
    long long abort_after;
};

static void print_progress(void *opaque, const struct drv_hv_live_progress *p)
{
    struct live_follow *f = opaque;
    f->progress++;
    printf("PROGRESS elapsed_ms=%lld memory=%llu/%llu remaining=%llu disk=%llu/%llu "
           "remaining=%llu\n",
           (long long)p->elapsed_ms, (unsigned long long)p->memory_processed,
           (unsigned long long)p->memory_total, (unsigned long long)p->memory_remaining,
           (unsigned long long)p->disk_processed, (unsigned long long)p->disk_total,
           (unsigned long long)p->disk_remaining);
    fflush(stdout);
}

static unsigned live_requests(void *opaque)
{
    struct live_follow *f = opaque;
    unsigned r = 0;
    if (f->force_after > 0 && f->progress >= f->force_after) {
        f->force_after = 0;
        r |= DRV_HV_LIVE_FORCE_COMPLETE;
        printf("FORCE-COMPLETE\n");
    }
    if (f->abort_after > 0 && f->progress >= f->abort_after) {
        f->abort_after = 0;
        r |= DRV_HV_LIVE_ABORT;
        printf("ABORT\n");
    }
    fflush(stdout);
    return r;
}

static void live_paused(void *opaque)
{
    (void)opaque;
    printf("PAUSED\n");
    fflush(stdout);
}

static void live_postcopy(void *opaque)
{
    (void)opaque;
    printf("POSTCOPY\n");
    fflush(stdout);
}

static int cmd_live_migrate(struct drv_hv *hv, const struct args *a, struct err **err)
{
    const char *uuid = arg(a, "uuid"), *dest = arg(a, "dest"), *path = arg(a, "info");
    if (!uuid || !dest || !path)
        return err_set(err, ERR_INVALID, "uuid=, dest= and info= are needed");
    struct live_follow f = {0};
    if (arg_int(a, "force-complete", 0, &f.force_after, err) < 0 ||
        arg_int(a, "abort-after", 0, &f.abort_after, err) < 0)
        return -1;
    char info[8192];
    if (read_info(path, info, err) < 0)
        return -1;
    struct drv_hv_live_watch w = {.progress = print_progress, .requests = live_requests,
                                  .paused = live_paused, .postcopy = live_postcopy,
                                  .opaque = &f};
    int64_t t0 = clock_mono_ns();
    if (drv_hv_live_migrate(hv, uuid, dest, info, &w, err) < 0)
        return -1;
    printf("OK live-migrate %s ms=%.1f\n", uuid, (double)(clock_mono_ns() - t0) / 1e6);
    return 0;
}

static int cmd_reshape(struct drv_hv *hv, const struct args *a, bool cold, struct err **err)
{
    const char *uuid = arg(a, "uuid");
    struct drv_shape s;
    if (!uuid)
        return err_set(err, ERR_INVALID, "uuid= missing");
    if (current_shape(hv, uuid, &s, err) < 0 || parse_shape(a, &s, err) < 0)
        return -1;
    int64_t t0 = clock_mono_ns();
    if (cold) {
        if (drv_hv_resize_cold(hv, uuid, &s, err) < 0)
            return -1;
        printf("OK cold ms=%.1f\n", (double)(clock_mono_ns() - t0) / 1e6);
        return 0;
    }
    struct drv_hv_reshape_report rep;
    if (drv_hv_reshape(hv, uuid, &s, &rep, err) < 0)
        return -1;
    char knobs[128] = "";
    size_t n = 0;
    for (int k = 0; k < DRV_HV_KNOB_LAST; k++)
        if (rep.changed & (1u << k))
            n += (size_t)snprintf(knobs + n, sizeof(knobs) - n, "%s%s", n ? "," : "",
                                  drv_hv_knob_name((enum drv_hv_knob)k));
    printf("OK reshape changed=%s calls=%d ms=%.2f kept=%d\n", n ? knobs : "none", rep.calls,
           (double)rep.total_ns / 1e6, rep.vcpus_kept);
    return 0;
}

static void print_info(const char *what, const struct drv_hv_info *in)
{
    flockfile(stdout); /* one line, not cut by an event line */
    printf("%s %s name=%s state=%s reason=%s ours=%d id=%lld uptime_ms=%lld cpu_ns=%llu "
           "actual=%d rescued=%d rescue_device=%s rescue_bus=%s",
           what, in->uuid, in->name, drv_power_state_name(in->state), in->state_reason, in->ours,
           (long long)in->domain_id, (long long)in->uptime_ms, (unsigned long long)in->cpu_time_ns,
           in->vcpus_online_actual, in->rescued, drv_hv_rescue_device_name(in->rescue_dev.device),
           drv_hv_bus_name(in->rescue_dev.bus));
    print_shape(&in->shape);
    printf(" mem_requested=%.0f mem_plugged=%.0f mem_stalled=%d mem_offline=%.0f "
           "mem_asked=%.0f\n",
           in->mem_requested_mib, in->mem_plugged_mib, in->mem_stalled, in->mem_offline_mib,
           in->mem_asked_mib);
    funlockfile(stdout);
}

static int cmd_sample(struct drv_hv *hv, struct err **err)
{
    autofree struct drv_hv_sample *s = NULL;
    size_t n;
    if (drv_hv_sample(hv, &s, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct drv_hv_counters *c = &s[i].raw;
        flockfile(stdout);
        printf("SAMPLE %s state=%s interval_s=%.3f cpu_ns=%llu balloon_mib=%.1f "
               "guest_total_mib=%.1f net_rx=%llu net_tx=%llu blk_rd=%llu blk_wr=%llu "
               "blk_wr_bytes=%llu",
               s[i].uuid, drv_power_state_name(s[i].state), s[i].interval_s,
               (unsigned long long)c->cpu_time_ns, c->balloon_mib, c->guest_total_mib,
               (unsigned long long)c->net_rx_bytes, (unsigned long long)c->net_tx_bytes,
               (unsigned long long)c->blk_rd_reqs, (unsigned long long)c->blk_wr_reqs,
               (unsigned long long)c->blk_wr_bytes);
        for (int k = 0; k < DRV_RES_LAST; k++)
            printf(" use_%s=%.4g", drv_res_kind_name((enum drv_res_kind)k), s[i].use.v[k]);
        /* the engine's boot signal (drv_sculpt_guest_up): the balloon
         * driver's figures and when the guest took them */
        printf(" booting=%d guest_mem=%d guest_stats_s=%lld", c->guest_mem_pending,
               c->has_guest_mem, (long long)c->guest_stats_wall_s);
        printf("\n");
        funlockfile(stdout);
    }
    printf("OK sample n=%zu\n", n);
    return 0;
}

static int cmd_reconcile(struct drv_hv *hv, const struct args *a, struct err **err)
{
    struct drv_hv_expect ex;
    memset(&ex, 0, sizeof(ex));
    const char *uuid = arg(a, "uuid");
    const char *state = arg(a, "state");
    if (!uuid)
        return err_set(err, ERR_INVALID, "uuid= missing");
    snprintf(ex.uuid, sizeof(ex.uuid), "%s", uuid);
    ex.state = !state || strcmp(state, "running") == 0 ? DRV_POWER_RUNNING
               : strcmp(state, "paused") == 0          ? DRV_POWER_PAUSED
                                                       : DRV_POWER_SHUTDOWN;
    struct drv_hv_guest_spec spec;
    if (drv_hv_get_spec(hv, uuid, &spec, err) < 0)
        return -1;
    ex.shape = spec.shape;
    drv_hv_guest_spec_release(&spec);
    if (parse_shape(a, &ex.shape, err) < 0)
        return -1;
    autoptr(drv_hv_reconcile) r = drv_hv_reconcile_run(hv, &ex, 1, err);
    if (!r)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        printf("DRIFT %s %s actual=%s %s\n", r->items[i].uuid, drv_hv_drift_name(r->items[i].drift),
               drv_power_state_name(r->items[i].actual), r->items[i].message);
    printf("OK reconcile n=%zu\n", r->n);
    return 0;
}

static int cmd_host(struct drv_hv *hv, struct err **err)
{
    struct drv_hv_host h;
    if (drv_hv_host_info(hv, &h, err) < 0)
        return -1;
    printf("OK host hostname=%s hypervisor=%s virt_type=%s version=%llu cpus=%d mem_mib=%.0f "
           "max_vcpus=%d max_mem_mib=%.0f vcpu_unplug=%d\n",
           h.hostname, h.hypervisor, h.virt_type, (unsigned long long)h.hypervisor_version, h.cpus,
           h.mem_mib, h.max_vcpus, h.max_mem_mib, h.vcpu_unplug);
    return 0;
}

static int cmd_uuid_op(struct drv_hv *hv, const char *cmd, const struct args *a, struct err **err)
{
    const char *uuid = arg(a, "uuid");
    long long v;
    if (!uuid)
        return err_set(err, ERR_INVALID, "uuid= missing");
    int rc;
    if (strcmp(cmd, "destroy") == 0)
        rc = arg_int(a, "keep", 0, &v, err) < 0 ? -1 : drv_hv_destroy(hv, uuid, v != 0, err);
    else if (strcmp(cmd, "power-off") == 0)
        rc = arg_int(a, "timeout", 0, &v, err) < 0 ? -1 : drv_hv_power_off(hv, uuid, (int)v, err);
    else if (strcmp(cmd, "reboot") == 0)
        rc = arg_int(a, "hard", 0, &v, err) < 0 ? -1 : drv_hv_reboot(hv, uuid, v != 0, err);
    else if (strcmp(cmd, "power-on") == 0)
        rc = drv_hv_power_on(hv, uuid, err);
    else if (strcmp(cmd, "pause") == 0)
        rc = drv_hv_pause(hv, uuid, err);
    else if (strcmp(cmd, "unpause") == 0)
        rc = drv_hv_unpause(hv, uuid, err);
    else if (strcmp(cmd, "suspend") == 0)
        rc = drv_hv_suspend(hv, uuid, err);
    else if (strcmp(cmd, "resume") == 0)
        rc = drv_hv_resume(hv, uuid, err);
    else if (strcmp(cmd, "nmi") == 0)
        rc = drv_hv_inject_nmi(hv, uuid, err);
    else if (strcmp(cmd, "set-password") == 0) {
        const char *user = arg(a, "user") ? arg(a, "user") : "root";
        const char *password = arg(a, "password");
        if (!password)
            return err_set(err, ERR_INVALID, "password= missing");
        if (drv_hv_set_user_password(hv, uuid, user, password, err) < 0)
            return -1;
        printf("OK set-password %s user=%s\n", uuid, user); /* never the password */
        return 0;
    }
    else if (strcmp(cmd, "fs-freeze") == 0 || strcmp(cmd, "fs-thaw") == 0) {
        int n = 0;
        bool freeze = strcmp(cmd, "fs-freeze") == 0;
        if ((freeze ? drv_hv_fs_freeze : drv_hv_fs_thaw)(hv, uuid, &n, err) < 0)
            return -1;
        printf("OK %s %s count=%d\n", cmd, uuid, n);
        return 0;
    }
    else if (strcmp(cmd, "live-finish") == 0)
        rc = drv_hv_live_finish(hv, uuid, err);
    else if (strcmp(cmd, "live-rollback") == 0)
        rc = drv_hv_live_rollback(hv, uuid, err);
    else if (strcmp(cmd, "live-abort") == 0)
        rc = drv_hv_live_abort(hv, uuid, err);
    else if (strcmp(cmd, "unrescue") == 0)
        rc = drv_hv_unrescue(hv, uuid, err);
    else
        return err_set(err, ERR_INVALID, "unknown command `%s`", cmd);
    if (rc == 0)
        printf("OK %s %s\n", cmd, uuid);
    return rc;
}

static int dispatch(struct drv_hv *hv, const char *cmd, const struct args *a, struct err **err)
{
    const char *uuid = arg(a, "uuid");
    if (strcmp(cmd, "host") == 0)
        return cmd_host(hv, err);
    if (strcmp(cmd, "caps") == 0) {
        autofree char *caps = drv_hv_capabilities(hv, err);
        if (!caps)
            return -1;
        printf("%sOK caps\n", caps);
        return 0;
    }
    if (strcmp(cmd, "spawn") == 0)
        return cmd_spawn(hv, a, err);
    if (strcmp(cmd, "migrate-out") == 0)
        return cmd_migrate_out(hv, a, err);
    if (strcmp(cmd, "migrate-in") == 0)
        return cmd_migrate_in(hv, a, err);
    if (strcmp(cmd, "live-prepare") == 0)
        return cmd_live_prepare(hv, a, err);
    if (strcmp(cmd, "live-migrate") == 0)
        return cmd_live_migrate(hv, a, err);
    if (strcmp(cmd, "rescue") == 0)
        return cmd_rescue(hv, a, err);
    if (strcmp(cmd, "snapshot") == 0) {
        const char *out = arg(a, "out");
        if (!out)
            return err_set(err, ERR_INVALID, "out= missing");
        const char *q = arg(a, "quiesce");
        enum drv_hv_quiesce quiesce = DRV_HV_QUIESCE_NONE;
        if (q && strcmp(q, "try") == 0)
            quiesce = DRV_HV_QUIESCE_TRY;
        else if (q && strcmp(q, "require") == 0)
            quiesce = DRV_HV_QUIESCE_REQUIRE;
        else if (q)
            return err_set(err, ERR_INVALID, "quiesce=%s (try, require)", q);
        struct drv_hv_snapshot snap;
        if (drv_hv_snapshot(hv, uuid ? uuid : "", quiesce, &snap, err) < 0)
            return -1;
        int rc = rename(snap.path, out) < 0 ? err_set_errno(err, errno, "rename to `%s`", out)
                                            : 0;
        if (rc == 0)
            printf("OK snapshot format=%s bytes=%lld live=%d quiesced=%d frozen=%d\n",
                   snap.format, (long long)snap.bytes, snap.live, snap.quiesced, snap.frozen);
        drv_hv_snapshot_release(&snap);
        return rc;
    }
    if (strcmp(cmd, "reshape") == 0 || strcmp(cmd, "cold") == 0)
        return cmd_reshape(hv, a, strcmp(cmd, "cold") == 0, err);
    if (strcmp(cmd, "info") == 0) {
        struct drv_hv_info in;
        if (drv_hv_get_info(hv, uuid ? uuid : "", &in, err) < 0)
            return -1;
        print_info("OK info", &in);
        return 0;
    }
    if (strcmp(cmd, "list") == 0) {
        autofree struct drv_hv_info *l = NULL;
        size_t n;
        if (drv_hv_list(hv, &l, &n, err) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            print_info("GUEST", &l[i]);
        printf("OK list n=%zu\n", n);
        return 0;
    }
    if (strcmp(cmd, "sample") == 0)
        return cmd_sample(hv, err);
    if (strcmp(cmd, "console") == 0) {
        long long bytes;
        if (arg_int(a, "bytes", 0, &bytes, err) < 0)
            return -1;
        autofree char *out = drv_hv_console_output(hv, uuid ? uuid : "", (size_t)bytes, err);
        if (!out)
            return -1;
        printf("%s\nOK console\n", out);
        return 0;
    }
    if (strcmp(cmd, "spec") == 0) {
        struct drv_hv_guest_spec s;
        if (drv_hv_get_spec(hv, uuid ? uuid : "", &s, err) < 0)
            return -1;
        flockfile(stdout);
        printf("OK spec name=%s kernel=%s disk=%s vifs=%zu tap0=%s mac0=%s agent=%d", s.name,
               s.image.kernel ? s.image.kernel : "-", s.image.disk_base ? s.image.disk_base : "-",
               s.nvifs, s.nvifs ? s.vifs[0].tap : "-", s.nvifs ? s.vifs[0].mac : "-",
               s.guest_agent);
        print_shape(&s.shape);
        printf("\n");
        funlockfile(stdout);
        drv_hv_guest_spec_release(&s);
        return 0;
    }
    if (strcmp(cmd, "reconcile") == 0)
        return cmd_reconcile(hv, a, err);
    if (strcmp(cmd, "wait-event") == 0)
        return cmd_wait_event(a, err);
    if (strcmp(cmd, "events") == 0) {
        pthread_mutex_lock(&ev_lock);
        printf("OK events n=%d\n", ev_n);
        ev_n = 0;
        pthread_mutex_unlock(&ev_lock);
        return 0;
    }
    if (strcmp(cmd, "sleep") == 0) {
        long long ms;
        if (arg_int(a, "ms", 0, &ms, err) < 0)
            return -1;
        clock_sleep_ms(ms);
        printf("OK sleep\n");
        return 0;
    }
    return cmd_uuid_op(hv, cmd, a, err);
}

/* Split "cmd k=v k=v" in place. */
static int split(char *line, char **cmd, struct args *a, struct err **err)
{
    char *save = NULL;
    a->n = 0;
    *cmd = strtok_r(line, " \t\n", &save);
    for (char *t = strtok_r(NULL, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
        char *eq = strchr(t, '=');
        if (!eq || a->n == MAX_ARGS)
            return err_set(err, ERR_INVALID, "argument `%s` is not key=value", t);
        *eq = '\0';
        a->key[a->n] = t;
        a->val[a->n++] = eq + 1;
    }
    return 0;
}

static int run_args(struct drv_hv *hv, char *cmd, struct args *a, int rc, struct err *err)
{
    if (rc == 0)
        rc = dispatch(hv, cmd, a, &err);
    if (rc < 0) {
        printf("ERR %s %s %s\n", cmd ? cmd : "-", err_code_name(err->code), err->msg);
        err_free(err);
    }
    fflush(stdout);
    return rc;
}

static int run_line(struct drv_hv *hv, char *line)
{
    char *cmd;
    struct args a;
    struct err *err = NULL;
    int rc = split(line, &cmd, &a, &err);
    if (rc == 0 && !cmd)
        return 0;
    return run_args(hv, cmd, &a, rc, err);
}

static void usage(void)
{
    fprintf(stderr, "usage: hvctl [-c FILE] [-o section.name=value]... (run | COMMAND [k=v]...)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    autocfg cfg = NULL;
    struct err *err = NULL;
    int i = 1;
    const char *conf = NULL;
    for (; i + 1 < argc && strcmp(argv[i], "-c") == 0; i += 2)
        conf = argv[i + 1];
    cfg = conf ? cfg_load(conf, &err) : cfg_new_defaults();
    if (!cfg) {
        fprintf(stderr, "hvctl: %s\n", err->msg);
        return 2;
    }
    for (; i + 1 < argc && strcmp(argv[i], "-o") == 0; i += 2) {
        autofree char *o = xstrdup(argv[i + 1]);
        char *dot = strchr(o, '.'), *eq = strchr(o, '=');
        if (!dot || !eq || eq < dot)
            usage();
        *dot = *eq = '\0';
        if (cfg_set(cfg, o, dot + 1, eq + 1, &err) < 0) {
            fprintf(stderr, "hvctl: %s\n", err->msg);
            return 2;
        }
    }
    if (i >= argc)
        usage();
    enum log_level lvl;
    log_level_parse(cfg->log_level, &lvl);
    log_setup(lvl, "stderr", false, NULL);
    struct drv_hv *hv = drv_hv_open(NULL, cfg, &err);
    if (!hv) {
        printf("ERR open %s %s\n", err_code_name(err->code), err->msg);
        return 1;
    }
    drv_hv_set_event_cb(hv, on_event, NULL);
    int rc = 0;
    if (strcmp(argv[i], "run") == 0) {
        char line[4096];
        while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4) != 0)
            run_line(hv, line);
    } else {
        /* arguments as given: values may hold spaces (cmdline=...) */
        struct args a = {.n = 0};
        char *cmd = argv[i++];
        int bad = 0;
        for (; i < argc && a.n < MAX_ARGS; i++) {
            char *eq = strchr(argv[i], '=');
            if (!eq) {
                bad = err_set(&err, ERR_INVALID, "argument `%s` is not key=value", argv[i]);
                break;
            }
            *eq = '\0';
            a.key[a.n] = argv[i];
            a.val[a.n++] = eq + 1;
        }
        rc = run_args(hv, cmd, &a, bad, err) < 0 ? 1 : 0;
    }
    drv_hv_close(hv);
    log_shutdown();
    return rc;
}
