/* bench-libvirt, config drives: the image of a drive of Nova's layout
 * made by sculpt's libvirt backend in-process (libarchive, configdrive.c)
 * against the same drive made as nova-compute makes it, in the same run:
 * its files written into a folder, genisoimage run over it with Nova's
 * options (nova/virt/configdrive.py _make_iso9660), the folder removed.
 * Both images land in the same folder; medians over ROUNDS, alternated.
 *
 *   bench_configdrive DIR [ROUNDS]
 *
 *   BENCH configdrive_image_p50_ms        sculpt (libarchive)
 *   BENCH configdrive_genisoimage_p50_ms  the baseline (genisoimage)
 *   BENCH configdrive_speedup             their ratio
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "driver/hypervisor.h"
#include "driver/libvirt/configdrive.h"
#include "driver/libvirt/volume.h"

/* The versions nova Zed writes (openstack/config_drive.c), and latest. */
static const char *const versions[] = {"2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15",
                                       "2016-06-30", "2016-10-06", "2017-02-22", "2018-08-27",
                                       "2020-10-14", "latest"};

/* A drive as a build with user data gets it: meta_data.json, user_data,
 * vendor_data(2).json and network_data.json in each version. */
static void nova_drive(struct drv_hv_config_drive *cd)
{
    size_t ud_len = 16 * 1024;
    autofree char *ud = xmalloc(ud_len);
    for (size_t i = 0; i < ud_len; i++)
        ud[i] = (char)('a' + i % 26);
    autofree char *md = xasprintf(
        "{\"uuid\": \"6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\", \"meta\": {\"role\": \"bench\"}, "
        "\"public_keys\": {\"k\": \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO bench\"}, "
        "\"hostname\": \"bench.novalocal\", \"name\": \"bench\", \"launch_index\": 0, "
        "\"availability_zone\": \"nova\", \"project_id\": \"p\", \"devices\": []}");
    for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
        const char *names[] = {"meta_data.json", "vendor_data.json", "vendor_data2.json",
                               "network_data.json"};
        for (size_t k = 0; k < 4; k++) {
            autofree char *p = xasprintf("openstack/%s/%s", versions[v], names[k]);
            const char *body = k == 0 ? md : "{}";
            drv_hv_config_drive_add(cd, p, body, strlen(body));
        }
        autofree char *p = xasprintf("openstack/%s/user_data", versions[v]);
        drv_hv_config_drive_add(cd, p, ud, ud_len);
    }
}

static void die(struct err *e, const char *what)
{
    fprintf(stderr, "bench_configdrive: %s: %s\n", what, e ? e->msg : "failed");
    exit(1);
}

static void write_tree(const char *top, const struct drv_hv_config_drive *cd)
{
    for (size_t i = 0; i < cd->n; i++) {
        autofree char *p = xasprintf("%s/%s", top, cd->files[i].path);
        for (char *s = p + strlen(top) + 1; *s; s++) {
            if (*s != '/')
                continue;
            *s = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                die(NULL, p);
            *s = '/';
        }
        FILE *f = fopen(p, "wb");
        if (!f || fwrite(cd->files[i].data, 1, cd->files[i].len, f) != cd->files[i].len ||
            fclose(f) != 0)
            die(NULL, p);
    }
}

/* nova-compute's way, as the backend did it before libarchive. */
static void nova_way(const char *dir, const struct drv_hv_config_drive *cd, const char *iso)
{
    autofree char *tree = xasprintf("%s/.config-drive.XXXXXX", dir);
    if (!mkdtemp(tree))
        die(NULL, "mkdtemp");
    write_tree(tree, cd);
    char *argv[] = {(char *)"genisoimage", (char *)"-o", (char *)iso, (char *)"-ldots",
                    (char *)"-allow-lowercase", (char *)"-allow-multidot", (char *)"-l",
                    (char *)"-publisher", (char *)"OpenStack Compute", (char *)"-quiet",
                    (char *)"-J", (char *)"-r", (char *)"-V", (char *)"config-2", tree, NULL};
    autostrbuf out = STRBUF_INIT;
    struct err *e = NULL;
    if (lv_volume_run(argv, &out, &e) != 0)
        die(e, "genisoimage");
    if (lv_volume_remove_dir(dir, tree, &e) < 0)
        die(e, "remove the tree");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_configdrive DIR [ROUNDS]\n");
        return 2;
    }
    const char *dir = argv[1];
    int rounds = argc > 2 ? atoi(argv[2]) : 30;
    if (rounds < 1 || rounds > 100000) {
        fprintf(stderr, "bench_configdrive: ROUNDS `%s` is not 1 to 100000\n", argv[2]);
        return 2;
    }
    struct drv_hv_config_drive cd = {0};
    nova_drive(&cd);
    autofree char *ours = xasprintf("%s/disk.config", dir);
    autofree char *nova = xasprintf("%s/nova.config", dir);
    double *t_ours = xcalloc((size_t)rounds, sizeof(double));
    double *t_nova = xcalloc((size_t)rounds, sizeof(double));
    struct err *e = NULL;
    for (int r = 0; r < rounds; r++) {
        int64_t t0 = clock_mono_ns();
        if (lv_configdrive_write(&cd, ours, &e) < 0)
            die(e, "lv_configdrive_write");
        int64_t t1 = clock_mono_ns();
        nova_way(dir, &cd, nova);
        int64_t t2 = clock_mono_ns();
        t_ours[r] = (double)(t1 - t0) / 1e6;
        t_nova[r] = (double)(t2 - t1) / 1e6;
    }
    struct stat a, b;
    if (stat(ours, &a) < 0 || stat(nova, &b) < 0)
        die(NULL, "stat");
    fprintf(stderr, "config drive of %zu files: %lld bytes (libarchive), %lld (genisoimage)\n",
            cd.n, (long long)a.st_size, (long long)b.st_size);
    double mo = median(t_ours, rounds), mn = median(t_nova, rounds);
    printf("BENCH configdrive_image_p50_ms %.2f\n", mo);
    printf("BENCH configdrive_genisoimage_p50_ms %.2f\n", mn);
    printf("BENCH configdrive_speedup %.1f\n", mn / mo);
    unlink(ours);
    unlink(nova);
    free(t_ours);
    free(t_nova);
    for (size_t i = 0; i < cd.n; i++) {
        free(cd.files[i].path);
        free(cd.files[i].data);
    }
    free(cd.files);
    return 0;
}
