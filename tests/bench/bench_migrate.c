/* bench-libvirt, cold migration: a stopped guest's folder moved between
 * two private libvirtds over the loopback sshd (driver/libvirt/migrate.c:
 * migrate_out on A, migrate_in on B, left off), against a plain copy of
 * the same files in the same run: rsync over the same ssh with the
 * options sculpt passes (the transfer alone, no staging folder, rebase,
 * grow or define), a local cp (the floor without a network) and one bare
 * ssh session (what preparing the staging folder costs).  Rounds
 * alternate sculpt and the copies so both see the same host noise; each
 * sculpt round is reverted (B's guest destroyed, A's kept).  Then one
 * move of the running guest: its downtime, from the start of migrate_out
 * (the clean shutdown) to the guest running on B, and to its init ready.
 *
 *   bench_migrate URI_A INSTANCES_A URI_B INSTANCES_B BASE_B GUEST_DIR
 *                 SSH_PORT SSH_KEY KNOWN_HOSTS [ROUNDS] [MIB] [VIRT_TYPE]
 *
 * MIB of data (a pattern, not zeros: --sparse would skip those) is
 * written into A's overlay before the rounds, as a used disk holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "driver/hypervisor.h"
#include "helpers/console_log.h"

#define MAXR 64
#define MAXF 16

static char UUID[UUID_STR_LEN];

static void die(const char *what, struct err *e)
{
    fprintf(stderr, "bench_migrate: %s: %s\n", what, e ? e->msg : "failed");
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Run argv (no shell), its output to /dev/null; dies unless it exits 0. */
static void run(const char *const argv[])
{
    fflush(NULL); /* the child would write out our buffered lines again */
    pid_t pid = fork();
    if (pid < 0)
        die("fork", NULL);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(127);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid", NULL);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_migrate: `%s` failed\n", argv[0]);
        exit(1);
    }
}

static struct drv_hv *open_host(const char *uri, const char *inst, const char *vt,
                                const char *port, const char *key, const char *known)
{
    struct err *err = NULL;
    struct cfg *cfg = cfg_new_defaults();
    if (cfg_set(cfg, "DEFAULT", "log_level", "warning", &err) < 0 ||
        cfg_set(cfg, "libvirt", "connection_uri", uri, &err) < 0 ||
        cfg_set(cfg, "libvirt", "instances_path", inst, &err) < 0 ||
        cfg_set(cfg, "libvirt", "virt_type", vt, &err) < 0 ||
        cfg_set(cfg, "libvirt", "max_vcpus", "4", &err) < 0 ||
        cfg_set(cfg, "libvirt", "migration_ssh_port", port, &err) < 0 ||
        cfg_set(cfg, "libvirt", "migration_ssh_identity", key, &err) < 0 ||
        cfg_set(cfg, "libvirt", "migration_ssh_known_hosts", known, &err) < 0)
        die("config", err);
    struct drv_hv *hv = drv_hv_open("libvirt", cfg, &err);
    if (!hv)
        die(uri, err);
    cfg_unref(cfg);
    return hv;
}

/* The files a move copies: the guest folder's regular files but its
 * console log (what migrate.c's list_files picks). */
static int guest_files(const char *dir, char *paths[MAXF])
{
    DIR *d = opendir(dir);
    if (!d)
        die(dir, NULL);
    int n = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        autofree char *p = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (strcmp(de->d_name, "console.log") == 0 || lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == MAXF)
            die("too many files", NULL);
        paths[n++] = steal_pointer(&p);
    }
    closedir(d);
    return n;
}

static off_t files_bytes(char *const paths[], int n)
{
    off_t sum = 0;
    struct stat st;
    for (int i = 0; i < n; i++)
        if (stat(paths[i], &st) == 0)
            sum += st.st_blocks * 512;
    return sum;
}

int main(int argc, char **argv)
{
    if (argc < 10) {
        fprintf(stderr, "usage: bench_migrate URI_A INSTANCES_A URI_B INSTANCES_B BASE_B "
                        "GUEST_DIR SSH_PORT SSH_KEY KNOWN_HOSTS [ROUNDS] [MIB] [VIRT_TYPE]\n");
        return 2;
    }
    const char *uri_a = argv[1], *inst_a = argv[2], *uri_b = argv[3], *inst_b = argv[4];
    const char *base_b = argv[5], *guest = argv[6], *port = argv[7], *key = argv[8];
    const char *known = argv[9];
    int rounds = argc > 10 ? atoi(argv[10]) : 5;
    int mib = argc > 11 ? atoi(argv[11]) : 128;
    const char *vt = argc > 12 ? argv[12] : "qemu";
    if (rounds < 1 || rounds > MAXR || mib < 0 || mib > 768) {
        fprintf(stderr, "bench_migrate: ROUNDS 1-%d, MIB 0-768\n", MAXR);
        return 2;
    }
    struct err *err = NULL;
    if (uuid_generate(UUID, &err) < 0)
        die("uuid", err);
    log_setup(LOG_LEVEL_WARN, "stderr", false, NULL);
    struct drv_hv *ha = open_host(uri_a, inst_a, vt, port, key, known);
    struct drv_hv *hb = open_host(uri_b, inst_b, vt, port, key, known);

    /* the tiny guest, as libvirt_migrate.sh spawns it, on a 1 GiB disk */
    autofree char *kernel = xasprintf("%s/vmlinuz", guest);
    autofree char *initrd = xasprintf("%s/initrd.gz", guest);
    autofree char *base_a = xasprintf("%s/base.qcow2", guest);
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.uuid, sizeof(spec.uuid), "%s", UUID);
    spec.image.kernel = kernel;
    spec.image.initrd = initrd;
    spec.image.cmdline = (char *)"console=ttyS0 panic=-1 quiet loglevel=4";
    spec.image.disk_base = base_a;
    spec.image.root_gb = 1;
    spec.nvifs = 1;
    spec.shape = (struct drv_shape){.vcpus_online = 1, .vcpus_max = 2, .mem_max_mib = 384,
                                    .numa_node = -1};
    spec.shape.res.v[DRV_RES_VCPU] = 1;
    spec.shape.res.v[DRV_RES_MEM_MIB] = 256;
    struct drv_hv_guest_spec spec_b = spec;
    spec_b.image.disk_base = (char *)base_b;

    autofree char *dir_a = xasprintf("%s/%s", inst_a, UUID);
    autofree char *log_a = xasprintf("%s/console.log", dir_a);
    autofree char *log_b = xasprintf("%s/%s/console.log", inst_b, UUID);
    autofree char *disk_a = xasprintf("%s/disk", dir_a);
    if (drv_hv_spawn(ha, &spec, &err) < 0)
        die("spawn on A", err);
    if (drv_hv_power_off(ha, UUID, 0, &err) < 0)
        die("power off on A", err);
    /* a used disk: MIB of a pattern in the overlay, past the base's 64 MiB */
    autofree char *wr = xasprintf("write -P 0x5a 128M %dM", mib);
    if (mib > 0)
        run((const char *[]){"qemu-io", "-f", "qcow2", "-c", wr, disk_a, NULL});

    char *files[MAXF + 1] = {0};
    int nfiles = guest_files(dir_a, files);
    off_t bytes = files_bytes(files, nfiles);
    printf("guest folder: %d file(s) to copy, %.1f MiB allocated\n", nfiles,
           (double)bytes / (1 << 20));

    /* the plain copies: rsync as transfer.c runs it (same ssh options), cp */
    autofree char *ssh_e = xasprintf("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes "
                                     "-o ConnectTimeout=30 -o ServerAliveInterval=15 "
                                     "-o ServerAliveCountMax=4 -o UserKnownHostsFile=%s "
                                     "-i %s -o IdentitiesOnly=yes -p %s",
                                     known, key, port);
    autofree char *known_opt = xasprintf("UserKnownHostsFile=%s", known);
    autofree char *copy_dir = xasprintf("%s/bench-copy", inst_b);
    autofree char *rsync_to = xasprintf("127.0.0.1:%s/", copy_dir);
    const char *rsync_argv[MAXF + 10], *cp_argv[MAXF + 10];
    int ra = 0, ca = 0;
    rsync_argv[ra++] = "rsync";
    rsync_argv[ra++] = "--archive";
    rsync_argv[ra++] = "--sparse";
    rsync_argv[ra++] = "--protect-args";
    rsync_argv[ra++] = "-e";
    rsync_argv[ra++] = ssh_e;
    rsync_argv[ra++] = "--";
    cp_argv[ca++] = "cp";
    cp_argv[ca++] = "--preserve=all";
    cp_argv[ca++] = "--sparse=always";
    cp_argv[ca++] = "--";
    for (int i = 0; i < nfiles; i++)
        rsync_argv[ra++] = cp_argv[ca++] = files[i];
    rsync_argv[ra++] = rsync_to;
    cp_argv[ca++] = copy_dir;
    rsync_argv[ra] = cp_argv[ca] = NULL;
    /* one ssh session alone (key exchange, login, `true`): migrate_out opens
     * one to prepare the staging folder before the copy's, as Nova's
     * create_dir does before its copy */
    const char *ssh_argv[] = {"ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                              "-o", known_opt, "-i", key, "-o", "IdentitiesOnly=yes",
                              "-p", port, "127.0.0.1", "true", NULL};
    const char *rm_argv[] = {"rm", "-rf", "--", copy_dir, NULL};
    const char *mkdir_argv[] = {"mkdir", "-p", "--", copy_dir, NULL};

    static double mig[MAXR], out[MAXR], in[MAXR], rs[MAXR], cp[MAXR], sh[MAXR];
    for (int r = 0; r < rounds; r++) {
        /* the copies first on odd rounds: neither always finds the page cache warm */
        for (int half = 0; half < 2; half++) {
            if ((half == 0) == (r % 2 == 0)) {
                int64_t t0 = clock_mono_ns();
                autofree char *info = NULL;
                if (drv_hv_migrate_out(ha, UUID, "127.0.0.1", 0, &info, &err) < 0)
                    die("migrate_out", err);
                int64_t t1 = clock_mono_ns();
                if (drv_hv_migrate_in(hb, &spec_b, info, false, &err) < 0)
                    die("migrate_in", err);
                int64_t t2 = clock_mono_ns();
                out[r] = (double)(t1 - t0) / 1e6;
                in[r] = (double)(t2 - t1) / 1e6;
                mig[r] = (double)(t2 - t0) / 1e6;
                /* a revert: B's copy goes, A's guest stays as it was */
                if (drv_hv_destroy(hb, UUID, false, &err) < 0)
                    die("destroy on B", err);
            } else {
                int64_t t0 = clock_mono_ns();
                run(rsync_argv);
                rs[r] = (double)(clock_mono_ns() - t0) / 1e6;
                run(rm_argv);
                run(mkdir_argv);
                t0 = clock_mono_ns();
                run(cp_argv);
                cp[r] = (double)(clock_mono_ns() - t0) / 1e6;
                run(rm_argv);
                t0 = clock_mono_ns();
                run(ssh_argv);
                sh[r] = (double)(clock_mono_ns() - t0) / 1e6;
            }
        }
    }

    /* downtime: the running guest moved, started on B */
    int boots = console_log_count(log_a, "GUEST-INIT-READY");
    int stats = console_log_count(log_a, "GUEST-STAT");
    if (drv_hv_power_on(ha, UUID, &err) < 0)
        die("power on on A", err);
    console_log_wait("bench_migrate", log_a, "GUEST-INIT-READY", boots + 1, 240);
    /* the guest's power-button watcher starts after READY and prints its
     * first GUEST-STAT: a press before it runs is missed, and the clean
     * shutdown would wait out its timeout (the 60 s measured before) */
    console_log_wait("bench_migrate", log_a, "GUEST-STAT", stats + 1, 60);
    int64_t t0 = clock_mono_ns();
    autofree char *info = NULL;
    if (drv_hv_migrate_out(ha, UUID, "127.0.0.1", 60, &info, &err) < 0)
        die("migrate_out (running)", err);
    int64_t t_off = clock_mono_ns();
    if (drv_hv_migrate_in(hb, &spec_b, info, true, &err) < 0)
        die("migrate_in (started)", err);
    int64_t t_run = clock_mono_ns();
    console_log_wait("bench_migrate", log_b, "GUEST-INIT-READY", 1, 240);
    int64_t t_ready = clock_mono_ns();

    double mig_ms = median(mig, rounds), rs_ms = median(rs, rounds);
    printf("%d rounds of %.1f MiB; medians: migrate_out %.1f ms, migrate_in %.1f ms\n", rounds,
           (double)bytes / (1 << 20), median(out, rounds), median(in, rounds));
    printf("BENCH migrate_copy_ms %.1f\n", mig_ms);
    printf("BENCH migrate_copy_baseline_ms %.1f\n", rs_ms);
    printf("BENCH migrate_copy_overhead_ratio %.3f\n", mig_ms / rs_ms);
    printf("BENCH migrate_copy_cp_ms %.1f\n", median(cp, rounds));
    printf("BENCH migrate_ssh_session_ms %.1f\n", median(sh, rounds));
    printf("BENCH migrate_copy_mib_per_s %.1f\n",
           (double)bytes / (1 << 20) / (mig_ms / 1000.0));
    printf("running guest: shut down and copied in %.0f ms, defined and started on B in %.0f ms\n",
           (double)(t_off - t0) / 1e6, (double)(t_run - t_off) / 1e6);
    printf("BENCH migrate_downtime_ms %.0f\n", (double)(t_run - t0) / 1e6);
    printf("BENCH migrate_downtime_guest_ready_ms %.0f\n", (double)(t_ready - t0) / 1e6);

    if (drv_hv_destroy(hb, UUID, false, &err) < 0 || drv_hv_destroy(ha, UUID, false, &err) < 0)
        die("destroy", err);
    for (int i = 0; i < nfiles; i++)
        free(files[i]);
    drv_hv_close(ha);
    drv_hv_close(hb);
    log_shutdown();
    return 0;
}
