#include "api/ctl_commands.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ctl_table.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "db/db.h"
#include "driver/resource.h"

/* ---- option parsing ---- */

struct ctl_opt {
    const char *name;           /* without "--" */
    bool flag;                  /* takes no value */
    const char *value;          /* output: the value, "" for a flag, NULL when absent */
};

#define CTL_MAX_POS 8

/* --name value, --name=value, --flag; everything else is positional.
 * Returns 0, or 2 (usage) after printing why. */
static int ctl_parse(int argc, char **argv, struct ctl_opt *opts, char **pos, int *npos)
{
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            if (*npos == CTL_MAX_POS) {
                fprintf(stderr, "sculptctl: too many arguments\n");
                return 2;
            }
            pos[(*npos)++] = argv[i];
            continue;
        }
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        struct ctl_opt *o = opts;
        while (o && o->name && (strlen(o->name) != len || strncmp(o->name, a + 2, len) != 0))
            o++;
        if (!o || !o->name) {
            fprintf(stderr, "sculptctl: unknown option `%s`\n", a);
            return 2;
        }
        if (o->flag) {
            o->value = "";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "sculptctl: option `%s` needs a value\n", a);
            return 2;
        }
    }
    return 0;
}

static const char *ctl_opt(const struct ctl_opt *opts, const char *name)
{
    for (const struct ctl_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->value;
    return NULL;
}

/* ---- output helpers ---- */

static int ctl_fail(struct err *e)
{
    fprintf(stderr, "sculptctl: %s\n", e ? e->msg : "failed");
    err_free(e);
    return 1;
}

static void ctl_print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
}

static double ctl_res(json_t *res, enum drv_res_kind k)
{
    return json_number_value(json_object_get(res, drv_res_kind_name(k)));
}

static const char *ctl_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* GET path; JSON printed as is with -f json, else handed to `table`. */
static int ctl_show(struct ctl_ctx *x, const char *path, void (*table)(json_t *j))
{
    struct err *e = NULL;
    json_t *j = ctl_get(&x->client, path, &e);
    if (!j)
        return ctl_fail(e);
    if (x->json)
        ctl_print_json(j);
    else
        table(j);
    json_decref(j);
    return 0;
}

/* Append ?k=v&... with escaped values. */
static void ctl_query_add(struct strbuf *q, const char *key, const char *value)
{
    if (!value)
        return;
    char *v = curl_easy_escape(NULL, value, 0);
    strbuf_printf(q, "%c%s=%s", q->len ? '&' : '?', key, v ? v : "");
    curl_free(v);
}

/* ---- host ---- */

/* What sculpt reports to Placement (GET /v1/host's `inventory`): per
 * resource class Placement's fields, then what Nova's flavors hold, the
 * room admission leaves, what idle pool members hold (counted in the
 * room: a real guest reclaims them) and the rule that bounds the room
 * ("ratio": none does, the configured allocation ratio stands). */
static void ctl_inventory_table(json_t *inv, const char *title)
{
    if (!json_is_object(inv))
        return;
    static const char *const head[] = {"CLASS",    "TOTAL", "RESERVED", "MIN_UNIT",
                                       "MAX_UNIT", "STEP",  "RATIO",    "HELD",
                                       "ROOM",     "RECLAIMABLE", "BOUND", NULL};
    static const char *const ints[] = {"total", "reserved", "min_unit", "max_unit",
                                       "step_size"};
    static const char *const nums[] = {"allocation_ratio", "held", "room", "reclaimable"};
    struct ctl_table t;
    char b[32];
    ctl_table_init(&t, head);
    const char *rc;
    json_t *it;
    json_object_foreach(inv, rc, it) {
        ctl_table_cell(&t, "%s", rc);
        for (size_t c = 0; c < ARRAY_SIZE(ints); c++)
            ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(it, ints[c])));
        for (size_t c = 0; c < ARRAY_SIZE(nums); c++)
            ctl_table_cell(&t, "%s", ctl_num(json_number_value(json_object_get(it, nums[c])), b,
                                             sizeof(b)));
        json_t *bound = json_object_get(it, "bound");
        ctl_table_cell(&t, "%s", json_is_string(bound) ? json_string_value(bound) : "ratio");
    }
    printf("\n%s:\n", title);
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

static void ctl_host_table(json_t *j)
{
    char b[7][32];
    json_t *topo = json_object_get(j, "topology");
    printf("host %s: %lld guests, %lld CPUs (%s usable), %zu NUMA node(s), contiguity %s%s\n\n",
           ctl_str(j, "host"), (long long)json_integer_value(json_object_get(j, "guests")),
           (long long)json_integer_value(json_object_get(topo, "cpus")),
           ctl_str(topo, "usable_cpus"), json_array_size(json_object_get(topo, "numa_nodes")),
           ctl_num(json_number_value(json_object_get(j, "contiguity")), b[0], sizeof(b[0])),
           json_is_true(json_object_get(j, "shortage")) ? ", SHORT of capacity" : "");
    static const char *const head[] = {"RESOURCE", "CAPACITY", "RESERVED", "CEILING",
                                       "ALLOCATED", "USED", "FREE", "FLAVORS", NULL};
    static const char *const cols[] = {"capacity", "reserved", "ceiling", "allocated",
                                       "used", "free", "flavors"};
    struct ctl_table t;
    ctl_table_init(&t, head);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        ctl_table_cell(&t, "%s (%s)", drv_res_kind_name((enum drv_res_kind)k),
                       drv_res_kind_unit((enum drv_res_kind)k));
        for (size_t c = 0; c < ARRAY_SIZE(cols); c++)
            ctl_table_cell(&t, "%s",
                           ctl_num(ctl_res(json_object_get(j, cols[c]), (enum drv_res_kind)k),
                                   b[0], sizeof(b[0])));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
    json_t *now = json_object_get(j, "inventory");
    ctl_inventory_table(now, "Placement inventory (what sculpt reports now)");
    /* Placement's copy lags by up to the hysteresis: shown when it differs */
    json_t *rep = json_object_get(j, "inventory_reported");
    json_t *was = json_object_get(rep, "inventory");
    if (!json_is_object(was))
        printf("\nPlacement has not been written to yet\n");
    else if (json_equal(was, now))
        printf("\nPlacement has the same since %s\n", ctl_str(rep, "time"));
    else {
        char title[96];
        snprintf(title, sizeof(title), "Placement inventory (what Placement got at %s)",
                 ctl_str(rep, "time"));
        ctl_inventory_table(was, title);
    }
}

static int ctl_cmd_host(struct ctl_ctx *x, int argc, char **argv)
{
    (void)argv;
    if (argc) {
        fprintf(stderr, "usage: sculptctl host\n");
        return 2;
    }
    return ctl_show(x, "/v1/host", ctl_host_table);
}

/* ---- instances ---- */

/* A shape's CPU weight (cgroup cpu.weight, 1..10000), "-" when absent. */
static const char *ctl_weight(json_t *shape, char *buf, size_t size)
{
    json_t *w = json_object_get(shape, "cpu_weight");
    if (!json_is_integer(w))
        return "-";
    snprintf(buf, size, "%lld", (long long)json_integer_value(w));
    return buf;
}

static void ctl_instances_table(json_t *j)
{
    /* DOMAIN: what virsh takes (a handed-over pool member's own name
     * until it is first shut off) */
    static const char *const head[] = {"UUID",     "NAME",  "DOMAIN", "FLAVOR",     "STATE",
                                       "VCPU",     "USED",  "CPU_WEIGHT", "MEM_MIB", "USED",
                                       "RESHAPES", "MODEL", NULL};
    struct ctl_table t;
    char b[4][32];
    ctl_table_init(&t, head);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(j, "instances"), i, row) {
        json_t *eng = json_object_get(row, "engine");
        json_t *shape_obj = json_object_get(row, "shape");
        json_t *shape = json_object_get(shape_obj, "res");
        json_t *use = json_object_get(eng, "use");
        ctl_table_cell(&t, "%s", ctl_str(row, "uuid"));
        ctl_table_cell(&t, "%s", ctl_str(row, "name"));
        ctl_table_cell(&t, "%s", ctl_str(row, "domain"));
        ctl_table_cell(&t, "%s", ctl_str(json_object_get(row, "flavor"), "name"));
        ctl_table_cell(&t, "%s", ctl_str(row, "vm_state"));
        ctl_table_cell(&t, "%s", ctl_num(ctl_res(shape, DRV_RES_VCPU), b[0], 32));
        ctl_table_cell(&t, "%s", use ? ctl_num(ctl_res(use, DRV_RES_VCPU), b[1], 32) : "-");
        ctl_table_cell(&t, "%s", ctl_weight(shape_obj, b[2], 32));
        ctl_table_cell(&t, "%s", ctl_num(ctl_res(shape, DRV_RES_MEM_MIB), b[2], 32));
        ctl_table_cell(&t, "%s", use ? ctl_num(ctl_res(use, DRV_RES_MEM_MIB), b[3], 32) : "-");
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(eng, "reshapes")));
        ctl_table_cell(&t, "%s", ctl_str(eng, "model"));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

static int ctl_cmd_instances(struct ctl_ctx *x, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"project", false, NULL}, {"flavor", false, NULL},
                             {"image", false, NULL},   {"deleted", true, NULL},
                             {NULL, false, NULL}};
    char *pos[CTL_MAX_POS];
    int npos;
    if (ctl_parse(argc, argv, opts, pos, &npos) || npos) {
        fprintf(stderr, "usage: sculptctl instances [--project P] [--flavor F] [--image I] "
                        "[--deleted]\n");
        return 2;
    }
    autostrbuf q = STRBUF_INIT;
    strbuf_append(&q, "");
    ctl_query_add(&q, "project", ctl_opt(opts, "project"));
    ctl_query_add(&q, "flavor", ctl_opt(opts, "flavor"));
    ctl_query_add(&q, "image", ctl_opt(opts, "image"));
    if (ctl_opt(opts, "deleted"))
        ctl_query_add(&q, "deleted", "true");
    autofree char *path = xasprintf("/v1/instances%s", q.s);
    return ctl_show(x, path, ctl_instances_table);
}

static void ctl_shape_text(json_t *shape, char *out, size_t size)
{
    char a[32], b[32], w[32];
    json_t *res = json_object_get(shape, "res");
    snprintf(out, size, "%s vCPU (%lld online, cpus %s, weight %s), %s MiB",
             ctl_num(ctl_res(res, DRV_RES_VCPU), a, sizeof(a)),
             (long long)json_integer_value(json_object_get(shape, "vcpus_online")),
             json_string_length(json_object_get(shape, "pcpus"))
                 ? ctl_str(shape, "pcpus")
                 : "any",
             ctl_weight(shape, w, sizeof(w)), ctl_num(ctl_res(res, DRV_RES_MEM_MIB), b, sizeof(b)));
}

static void ctl_instance_table(json_t *j)
{
    char shape[200], b[32];
    json_t *eng = json_object_get(j, "engine");
    json_t *bp = json_object_get(j, "blueprint");
    ctl_shape_text(json_object_get(j, "shape"), shape, sizeof(shape));
    printf("uuid       %s\nname       %s\nproject    %s\nflavor     %s\nstate      %s\n"
           "shape      %s\n",
           ctl_str(j, "uuid"), ctl_str(j, "name"), ctl_str(j, "project_id"),
           ctl_str(json_object_get(j, "flavor"), "name"), ctl_str(j, "vm_state"), shape);
    if (json_is_object(eng))
        printf("model      %s (confidence %s)\n", ctl_str(eng, "model"),
               ctl_num(json_number_value(json_object_get(eng, "confidence")), b, sizeof(b)));
    if (json_is_object(bp))
        printf("blueprint  revision %lld, %s\n",
               (long long)json_integer_value(json_object_get(bp, "revision")),
               ctl_str(bp, "reason"));
    printf("usage      %zu samples\n\n",
           json_array_size(json_object_get(json_object_get(j, "usage"), "t")));

    static const char *const head[] = {"TIME", "FROM", "TO", "REASON", NULL};
    struct ctl_table t;
    ctl_table_init(&t, head);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "reshapes"), i, r) {
        char from[200], to[200];
        ctl_shape_text(json_object_get(r, "from"), from, sizeof(from));
        ctl_shape_text(json_object_get(r, "to"), to, sizeof(to));
        ctl_table_cell(&t, "%s", ctl_str(r, "time"));
        ctl_table_cell(&t, "%s", from);
        ctl_table_cell(&t, "%s", to);
        ctl_table_cell(&t, "%s%s", ctl_str(r, "reason"),
                       json_is_false(json_object_get(r, "ok")) ? " (FAILED)" : "");
    }
    printf("reshapes:\n");
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);

    static const char *const dhead[] = {"TIME", "DECISION", "RESOURCE", "WHY", NULL};
    ctl_table_init(&t, dhead);
    json_array_foreach(json_object_get(j, "decisions"), i, r) {
        ctl_table_cell(&t, "%s", ctl_str(r, "time"));
        ctl_table_cell(&t, "%s", ctl_str(r, "decision"));
        ctl_table_cell(&t, "%s", ctl_str(r, "resource"));
        ctl_table_cell(&t, "%s", ctl_str(r, "text"));
    }
    printf("\ndecisions:\n");
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

static void ctl_range_query(struct strbuf *q, const struct ctl_opt *opts)
{
    ctl_query_add(q, "from", ctl_opt(opts, "from"));
    ctl_query_add(q, "to", ctl_opt(opts, "to"));
    ctl_query_add(q, "step", ctl_opt(opts, "step"));
    ctl_query_add(q, "limit", ctl_opt(opts, "limit"));
}

static int ctl_cmd_instance_show(struct ctl_ctx *x, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"from", false, NULL}, {"to", false, NULL},
                             {"step", false, NULL}, {"limit", false, NULL},
                             {NULL, false, NULL}};
    char *pos[CTL_MAX_POS];
    int npos;
    if (ctl_parse(argc, argv, opts, pos, &npos) || npos != 1) {
        fprintf(stderr, "usage: sculptctl instance show UUID [--from T] [--to T] [--step S]\n");
        return 2;
    }
    autostrbuf q = STRBUF_INIT;
    strbuf_append(&q, "");
    ctl_range_query(&q, opts);
    char *id = curl_easy_escape(NULL, pos[0], 0);
    autofree char *path = xasprintf("/v1/instances/%s%s", id, q.s);
    curl_free(id);
    return ctl_show(x, path, ctl_instance_table);
}

static void ctl_reshapes_table(json_t *j)
{
    static const char *const head[] = {"TIME",    "INSTANCE", "VCPU", "CPU_WEIGHT",
                                       "MEM_MIB", "REASON",   NULL};
    struct ctl_table t;
    char a[32], b[32], c[32], d[32];
    ctl_table_init(&t, head);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "reshapes"), i, r) {
        json_t *from_shape = json_object_get(r, "from"), *to_shape = json_object_get(r, "to");
        json_t *from = json_object_get(from_shape, "res");
        json_t *to = json_object_get(to_shape, "res");
        ctl_table_cell(&t, "%s", ctl_str(r, "time"));
        ctl_table_cell(&t, "%s", ctl_str(r, "uuid"));
        ctl_table_cell(&t, "%s -> %s", ctl_num(ctl_res(from, DRV_RES_VCPU), a, 32),
                       ctl_num(ctl_res(to, DRV_RES_VCPU), b, 32));
        ctl_table_cell(&t, "%s -> %s", ctl_weight(from_shape, c, 32), ctl_weight(to_shape, d, 32));
        ctl_table_cell(&t, "%s -> %s", ctl_num(ctl_res(from, DRV_RES_MEM_MIB), c, 32),
                       ctl_num(ctl_res(to, DRV_RES_MEM_MIB), d, 32));
        ctl_table_cell(&t, "%s", ctl_str(r, "reason"));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

static int ctl_cmd_reshapes(struct ctl_ctx *x, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"from", false, NULL}, {"to", false, NULL},
                             {"limit", false, NULL}, {NULL, false, NULL}};
    char *pos[CTL_MAX_POS];
    int npos;
    if (ctl_parse(argc, argv, opts, pos, &npos) || npos) {
        fprintf(stderr, "usage: sculptctl reshapes [--from T] [--to T] [--limit N]\n");
        return 2;
    }
    autostrbuf q = STRBUF_INIT;
    strbuf_append(&q, "");
    ctl_range_query(&q, opts);
    autofree char *path = xasprintf("/v1/reshapes%s", q.s);
    return ctl_show(x, path, ctl_reshapes_table);
}

/* ---- the event log ---- */

#define CTL_EVENTS_USAGE                                                                    \
    "[--instance UUID] [--source S] [--action PREFIX] [--request-id R] "                  \
    "[--code C | --failed] [--from T] [--to T] [--limit N]"

static void ctl_events_table(json_t *j)
{
    static const char *const head[] = {"TIME",   "INSTANCE", "SOURCE",  "ACTION",
                                       "CODE",   "MS",       "MESSAGE", NULL};
    struct ctl_table t;
    char ms[32];
    ctl_table_init(&t, head);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "events"), i, e) {
        ctl_table_cell(&t, "%s", ctl_str(e, "time"));
        ctl_table_cell(&t, "%s", ctl_str(e, "instance"));
        ctl_table_cell(&t, "%s", ctl_str(e, "source"));
        ctl_table_cell(&t, "%s", ctl_str(e, "action"));
        ctl_table_cell(&t, "%s", ctl_str(e, "code"));
        json_t *d = json_object_get(e, "duration_ms");
        ctl_table_cell(&t, "%s", json_is_number(d) ? ctl_num(json_number_value(d), ms, 32) : "-");
        ctl_table_cell(&t, "%s", ctl_str(e, "message"));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
    if (json_is_true(json_object_get(j, "more")))
        printf("(more than %lld events match: narrow the filters or raise --limit)\n",
               (long long)json_integer_value(json_object_get(j, "limit")));
}

static int ctl_cmd_events(struct ctl_ctx *x, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"instance", false, NULL}, {"source", false, NULL},
                             {"action", false, NULL},   {"request-id", false, NULL},
                             {"code", false, NULL},     {"failed", true, NULL},
                             {"from", false, NULL},     {"to", false, NULL},
                             {"limit", false, NULL},    {NULL, false, NULL}};
    char *pos[CTL_MAX_POS];
    int npos;
    if (ctl_parse(argc, argv, opts, pos, &npos) || npos ||
        (ctl_opt(opts, "failed") && ctl_opt(opts, "code"))) {
        fprintf(stderr, "usage: sculptctl events " CTL_EVENTS_USAGE "\n");
        return 2;
    }
    autostrbuf q = STRBUF_INIT;
    strbuf_append(&q, "");
    ctl_query_add(&q, "instance", ctl_opt(opts, "instance"));
    ctl_query_add(&q, "source", ctl_opt(opts, "source"));
    ctl_query_add(&q, "action", ctl_opt(opts, "action"));
    ctl_query_add(&q, "request_id", ctl_opt(opts, "request-id"));
    ctl_query_add(&q, "code", ctl_opt(opts, "failed") ? "FAILED" : ctl_opt(opts, "code"));
    ctl_query_add(&q, "from", ctl_opt(opts, "from"));
    ctl_query_add(&q, "to", ctl_opt(opts, "to"));
    ctl_query_add(&q, "limit", ctl_opt(opts, "limit"));
    autofree char *path = xasprintf("/v1/events%s", q.s);
    return ctl_show(x, path, ctl_events_table);
}

/* ---- blueprints ---- */

static json_t *ctl_load_json_file(const char *path, struct err **err)
{
    json_error_t jerr;
    json_t *j = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                       : json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        err_set(err, ERR_INVALID, "%s:%d: %s", path, jerr.line, jerr.text);
    return j;
}

static void ctl_blueprint_summary(json_t *cb)
{
    json_t *bp = json_object_get(cb, "blueprint");
    json_t *m = json_object_get(cb, "match");
    printf("id %lld  name %s  match flavor=%s image=%s project=%s\n",
           (long long)json_integer_value(json_object_get(cb, "id")), ctl_str(cb, "name"),
           ctl_str(m, "flavor"), ctl_str(m, "image"), ctl_str(m, "project_id"));
    printf("%lld steps of %lld s, confidence %.2f, model %s\n",
           (long long)json_integer_value(json_object_get(bp, "nsteps")),
           (long long)json_integer_value(json_object_get(bp, "step_s")),
           json_number_value(json_object_get(bp, "confidence")), ctl_str(bp, "model"));
    static const char *const head[] = {"RESOURCE", "P50 MIN..MAX", "P90 MIN..MAX",
                                       "P99 MIN..MAX", "CONFIDENCE", NULL};
    struct ctl_table t;
    ctl_table_init(&t, head);
    const char *name;
    json_t *r;
    json_object_foreach(json_object_get(bp, "resources"), name, r) {
        ctl_table_cell(&t, "%s", name);
        static const char *const qs[] = {"p50", "p90", "p99"};
        for (size_t q = 0; q < 3; q++) {
            double lo = 0, hi = 0;
            size_t i;
            json_t *v;
            json_array_foreach(json_object_get(r, qs[q]), i, v) {
                double x = json_number_value(v);
                lo = i == 0 || x < lo ? x : lo;
                hi = i == 0 || x > hi ? x : hi;
            }
            char a[32], b[32];
            ctl_table_cell(&t, "%s..%s", ctl_num(lo, a, 32), ctl_num(hi, b, 32));
        }
        char c[32];
        ctl_table_cell(&t, "%s", ctl_num(json_number_value(json_object_get(r, "confidence")),
                                         c, 32));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

static void ctl_blueprint_list_table(json_t *j)
{
    static const char *const head[] = {"ID", "NAME", "FLAVOR", "IMAGE", "PROJECT", "STEPS",
                                       "STEP_S", "CONFIDENCE", NULL};
    struct ctl_table t;
    ctl_table_init(&t, head);
    size_t i;
    json_t *cb;
    json_array_foreach(json_object_get(j, "blueprints"), i, cb) {
        json_t *m = json_object_get(cb, "match"), *bp = json_object_get(cb, "blueprint");
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(cb, "id")));
        ctl_table_cell(&t, "%s", ctl_str(cb, "name"));
        ctl_table_cell(&t, "%s", ctl_str(m, "flavor"));
        ctl_table_cell(&t, "%s", ctl_str(m, "image"));
        ctl_table_cell(&t, "%s", ctl_str(m, "project_id"));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(bp, "nsteps")));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(bp, "step_s")));
        ctl_table_cell(&t, "%.2f", json_number_value(json_object_get(bp, "confidence")));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

/* Send `body` and print the answer (JSON, or through `table`). */
static int ctl_send(struct ctl_ctx *x, const char *method, const char *path, json_t *body,
                    void (*table)(json_t *j))
{
    struct err *e = NULL;
    long status;
    json_t *j = NULL;
    if (ctl_request(&x->client, method, path, body, &status, &j, NULL, &e) < 0)
        return ctl_fail(e);
    if (j && x->json)
        ctl_print_json(j);
    else if (j && table)
        table(j);
    json_decref(j);
    return 0;
}

static int ctl_cmd_blueprint_create(struct ctl_ctx *x, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: sculptctl blueprint create FILE|-\n");
        return 2;
    }
    struct err *e = NULL;
    json_t *body = ctl_load_json_file(argv[0], &e);
    if (!body)
        return ctl_fail(e);
    int rc = ctl_send(x, "POST", "/v1/blueprints", body, ctl_blueprint_summary);
    json_decref(body);
    return rc;
}

static int ctl_cmd_blueprint_update(struct ctl_ctx *x, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sculptctl blueprint update ID FILE|-\n");
        return 2;
    }
    struct err *e = NULL;
    json_t *body = ctl_load_json_file(argv[1], &e);
    if (!body)
        return ctl_fail(e);
    char *id = curl_easy_escape(NULL, argv[0], 0);
    autofree char *path = xasprintf("/v1/blueprints/%s", id);
    curl_free(id);
    int rc = ctl_send(x, "PUT", path, body, ctl_blueprint_summary);
    json_decref(body);
    return rc;
}

static int ctl_cmd_blueprint_list(struct ctl_ctx *x, int argc, char **argv)
{
    (void)argv;
    if (argc) {
        fprintf(stderr, "usage: sculptctl blueprint list\n");
        return 2;
    }
    return ctl_show(x, "/v1/blueprints", ctl_blueprint_list_table);
}

static int ctl_cmd_blueprint_show(struct ctl_ctx *x, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: sculptctl blueprint show ID\n");
        return 2;
    }
    char *id = curl_easy_escape(NULL, argv[0], 0);
    autofree char *path = xasprintf("/v1/blueprints/%s", id);
    curl_free(id);
    return ctl_show(x, path, ctl_blueprint_summary);
}

static int ctl_cmd_blueprint_delete(struct ctl_ctx *x, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: sculptctl blueprint delete ID\n");
        return 2;
    }
    char *id = curl_easy_escape(NULL, argv[0], 0);
    autofree char *path = xasprintf("/v1/blueprints/%s", id);
    curl_free(id);
    int rc = ctl_send(x, "DELETE", path, NULL, NULL);
    if (rc == 0 && !x->json)
        printf("blueprint %s deleted\n", argv[0]);
    return rc;
}

/* ---- requests: preview, candidates, cost estimate ---- */

#define CTL_REQUEST_OPTS                                                                     \
    {"flavor", false, NULL}, {"vcpus", false, NULL}, {"memory-mb", false, NULL},             \
        {"root-gb", false, NULL}, {"image", false, NULL}, {"project", false, NULL},          \
        {"name", false, NULL}, {"metadata", false, NULL}
#define CTL_REQUEST_USAGE                                                                    \
    "--flavor NAME --vcpus N --memory-mb M [--root-gb G] [--image I] [--project P] "        \
    "[--name N] [--metadata k=v,...]"

static json_t *ctl_int_or_string(const char *v)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    return *v && !*end ? json_integer(n) : json_string(v);
}

/* The request body from the options (or --file). */
static json_t *ctl_request_body(const struct ctl_opt *opts, struct err **err)
{
    const char *file = ctl_opt(opts, "file");
    if (file)
        return ctl_load_json_file(file, err);
    json_t *flavor = json_object();
    if (ctl_opt(opts, "flavor"))
        json_object_set_new(flavor, "name", json_string(ctl_opt(opts, "flavor")));
    if (ctl_opt(opts, "vcpus"))
        json_object_set_new(flavor, "vcpus", ctl_int_or_string(ctl_opt(opts, "vcpus")));
    if (ctl_opt(opts, "memory-mb"))
        json_object_set_new(flavor, "memory_mb", ctl_int_or_string(ctl_opt(opts, "memory-mb")));
    if (ctl_opt(opts, "root-gb"))
        json_object_set_new(flavor, "root_gb", ctl_int_or_string(ctl_opt(opts, "root-gb")));
    json_t *body = json_pack("{s:o}", "flavor", flavor);
    static const struct {
        const char *opt, *key;
    } str[] = {{"image", "image"}, {"project", "project_id"}, {"name", "name"}};
    for (size_t i = 0; i < ARRAY_SIZE(str); i++)
        if (ctl_opt(opts, str[i].opt))
            json_object_set_new(body, str[i].key, json_string(ctl_opt(opts, str[i].opt)));
    const char *md = ctl_opt(opts, "metadata");
    if (md) {
        json_t *m = json_object();
        autofree char *copy = xstrdup(md);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq) {
                json_decref(m);
                json_decref(body);
                err_set(err, ERR_INVALID, "--metadata: expected key=value, got `%s`", tok);
                return NULL;
            }
            *eq = '\0';
            json_object_set_new(m, tok, json_string(eq + 1));
        }
        json_object_set_new(body, "metadata", m);
    }
    const char *bp = ctl_opt(opts, "blueprint-id");
    if (bp)
        json_object_set_new(body, "blueprint_id", ctl_int_or_string(bp));
    return body;
}

static void ctl_preview_table(json_t *j)
{
    json_t *bp = json_object_get(j, "blueprint");
    printf("source %s\n", ctl_str(j, "source"));
    json_t *cb = json_pack("{s:I, s:s, s:{}, s:O}", "id", (json_int_t)0, "name", "(preview)",
                           "match", "blueprint", bp ? bp : json_null());
    ctl_blueprint_summary(cb);
    json_decref(cb);
}

static int ctl_cmd_blueprint_preview(struct ctl_ctx *x, int argc, char **argv)
{
    struct ctl_opt opts[] = {CTL_REQUEST_OPTS, {"horizon", false, NULL}, {"step", false, NULL},
                             {NULL, false, NULL}};
    char *pos[CTL_MAX_POS];
    int npos;
    if (ctl_parse(argc, argv, opts, pos, &npos) || npos) {
        fprintf(stderr, "usage: sculptctl blueprint preview " CTL_REQUEST_USAGE
                        " [--horizon S] [--step S]\n");
        return 2;
    }
    autostrbuf q = STRBUF_INIT;
    strbuf_append(&q, "");
    static const struct {
        const char *opt, *param;
    } map[] = {{"flavor", "flavor"},   {"vcpus", "vcpus"},     {"memory-mb", "memory_mb"},
               {"root-gb", "root_gb"}, {"image", "image"},     {"project", "project"},
               {"name", "name"},       {"metadata", "metadata"}, {"horizon", "horizon"},
               {"step", "step"}};
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        ctl_query_add(&q, map[i].param, ctl_opt(opts, map[i].opt));
    autofree char *path = xasprintf("/v1/blueprints/preview%s", q.s);
    return ctl_show(x, path, ctl_preview_table);
}

static void ctl_candidates_table(json_t *j)
{
    bool ok = json_is_true(json_object_get(j, "placeable"));
    printf("placeable  %s\n", ok ? "yes" : "no");
    printf("blueprint  %s (confidence %.2f)\n", ctl_str(j, "source"),
           json_number_value(json_object_get(json_object_get(j, "blueprint"), "confidence")));
    json_t *shape = json_object_get(j, "shape");
    if (json_is_object(shape)) {
        char s[200];
        ctl_shape_text(shape, s, sizeof(s));
        printf("shape      %s\n", s);
    }
    json_t *why = json_object_get(j, "refusal");
    if (json_is_object(why))
        printf("short      %s\n", ctl_str(why, "text"));
}

static int ctl_run_request(struct ctl_ctx *x, int argc, char **argv, const char *path,
                           const char *usage, void (*table)(json_t *j))
{
    struct ctl_opt opts[] = {CTL_REQUEST_OPTS, {"blueprint-id", false, NULL},
                             {"file", false, NULL}, {NULL, false, NULL}};
    char *pos[CTL_MAX_POS];
    int npos;
    if (ctl_parse(argc, argv, opts, pos, &npos) || npos) {
        fprintf(stderr, "usage: sculptctl %s " CTL_REQUEST_USAGE
                        " [--blueprint-id ID] | --file FILE\n", usage);
        return 2;
    }
    struct err *e = NULL;
    json_t *body = ctl_request_body(opts, &e);
    if (!body)
        return ctl_fail(e);
    int rc = ctl_send(x, "POST", path, body, table);
    json_decref(body);
    return rc;
}

static int ctl_cmd_candidates(struct ctl_ctx *x, int argc, char **argv)
{
    return ctl_run_request(x, argc, argv, "/v1/placement/candidates", "candidates",
                           ctl_candidates_table);
}

static void ctl_cost_table(json_t *j)
{
    json_t *sc = json_object_get(j, "sculpted"), *st = json_object_get(j, "static");
    printf("over %.2f h, blueprint %s\n", json_number_value(json_object_get(sc, "hours")),
           ctl_str(j, "source"));
    static const char *const head[] = {"TERM", "SCULPTED", "STATIC", NULL};
    struct ctl_table t;
    ctl_table_init(&t, head);
    for (int k = 0; k < DRV_RES_LAST; k++) {
        const char *n = drv_res_kind_name((enum drv_res_kind)k);
        double a = json_number_value(json_object_get(json_object_get(sc, "resource"), n));
        double b = json_number_value(json_object_get(json_object_get(st, "resource"), n));
        double va = json_number_value(json_object_get(json_object_get(sc, "violation"), n));
        double vb = json_number_value(json_object_get(json_object_get(st, "violation"), n));
        if (a == 0 && b == 0 && va == 0 && vb == 0)
            continue;
        ctl_table_cell(&t, "resource %s", n);
        ctl_table_cell(&t, "%.6f", a);
        ctl_table_cell(&t, "%.6f", b);
        ctl_table_cell(&t, "violation %s", n);
        ctl_table_cell(&t, "%.6f", va);
        ctl_table_cell(&t, "%.6f", vb);
    }
    static const char *const terms[] = {"reshape", "idle", "total"};
    for (size_t i = 0; i < ARRAY_SIZE(terms); i++) {
        ctl_table_cell(&t, "%s", terms[i]);
        ctl_table_cell(&t, "%.6f", json_number_value(json_object_get(sc, terms[i])));
        ctl_table_cell(&t, "%.6f", json_number_value(json_object_get(st, terms[i])));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
    printf("saving %.6f (%.1f%% of static)\n", json_number_value(json_object_get(j, "saving")),
           100 * json_number_value(json_object_get(j, "saving_share")));
}

static int ctl_cmd_cost_estimate(struct ctl_ctx *x, int argc, char **argv)
{
    return ctl_run_request(x, argc, argv, "/v1/cost/estimate", "cost estimate", ctl_cost_table);
}

static void ctl_cost_so_far_table(json_t *j)
{
    printf("since %s, %.2f guest-hours\n", ctl_str(j, "from_time"),
           json_number_value(json_object_get(j, "guest_hours")));
    static const char *const head[] = {"TERM", "COST", NULL};
    struct ctl_table t;
    ctl_table_init(&t, head);
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(j, "terms"), name, v) {
        ctl_table_cell(&t, "%s", name);
        ctl_table_cell(&t, "%.6f", json_number_value(v));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

static int ctl_cmd_cost_show(struct ctl_ctx *x, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"from", false, NULL}, {"to", false, NULL}, {NULL, false, NULL}};
    char *pos[CTL_MAX_POS];
    int npos;
    if (ctl_parse(argc, argv, opts, pos, &npos) || npos) {
        fprintf(stderr, "usage: sculptctl cost show [--from T] [--to T]\n");
        return 2;
    }
    autostrbuf q = STRBUF_INIT;
    strbuf_append(&q, "");
    ctl_query_add(&q, "from", ctl_opt(opts, "from"));
    ctl_query_add(&q, "to", ctl_opt(opts, "to"));
    autofree char *path = xasprintf("/v1/cost%s", q.s);
    return ctl_show(x, path, ctl_cost_so_far_table);
}

/* ---- pools ---- */

static void ctl_pools_table(json_t *j)
{
    static const char *const head[] = {"POOL",   "FLAVOR",     "IMAGE", "TARGET",
                                       "SIZE",   "BOOTING",    "CONFIDENCE", "HITS",
                                       "HITS-BOOTING", "MISSES", "EXPIRIES", "RECLAIMS", NULL};
    struct ctl_table t;
    ctl_table_init(&t, head);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "pools"), i, p) {
        json_t *c = json_object_get(p, "class");
        ctl_table_cell(&t, "%s", ctl_str(p, "key"));
        ctl_table_cell(&t, "%s", ctl_str(c, "flavor"));
        ctl_table_cell(&t, "%s", ctl_str(c, "image"));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(p, "target_size")));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(p, "size")));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(p, "booting")));
        ctl_table_cell(&t, "%.2f", json_number_value(json_object_get(p, "confidence")));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(p, "hits")));
        ctl_table_cell(&t, "%lld",
                       (long long)json_integer_value(json_object_get(p, "booting_hits")));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(p, "misses")));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(p, "expiries")));
        ctl_table_cell(&t, "%lld", (long long)json_integer_value(json_object_get(p, "reclaims")));
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
}

static int ctl_cmd_pools(struct ctl_ctx *x, int argc, char **argv)
{
    (void)argv;
    if (argc) {
        fprintf(stderr, "usage: sculptctl pools\n");
        return 2;
    }
    return ctl_show(x, "/v1/pools", ctl_pools_table);
}

/* ---- config ---- */

static bool ctl_config_name_ok(const char *s)
{
    return strcmp(s, "predictor") == 0 || strcmp(s, "cost") == 0 ||
           strcmp(s, "presculpt") == 0;
}

static void ctl_config_table(json_t *j)
{
    static const char *const head[] = {"OPTION", "VALUE", "CHANGED AT RUN TIME", NULL};
    struct ctl_table t;
    ctl_table_init(&t, head);
    json_t *over = json_object_get(j, "overrides");
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(j, "values"), name, v) {
        json_t *o = json_object_get(over, name);
        autofree char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
        ctl_table_cell(&t, "%s", name);
        ctl_table_cell(&t, "%s", text ? text : "?");
        if (o)
            ctl_table_cell(&t, "%s by %s", ctl_str(o, "updated"), ctl_str(o, "by"));
        else
            ctl_table_cell(&t, "-");
    }
    ctl_table_print(&t, stdout);
    ctl_table_release(&t);
    if (json_is_false(json_object_get(j, "persisted")))
        printf("(no database: run-time changes last until the service restarts)\n");
}

static int ctl_cmd_config_get(struct ctl_ctx *x, int argc, char **argv)
{
    if (argc != 1 || !ctl_config_name_ok(argv[0])) {
        fprintf(stderr, "usage: sculptctl config get predictor|cost|presculpt\n");
        return 2;
    }
    autofree char *path = xasprintf("/v1/config/%s", argv[0]);
    return ctl_show(x, path, ctl_config_table);
}

/* NAME=VALUE typed as the server says the option is. */
static json_t *ctl_config_value(json_t *options, const char *name, const char *value,
                                struct err **err)
{
    const char *type = json_string_value(
        json_object_get(json_object_get(options, name), "type"));
    if (!type) {
        err_set(err, ERR_INVALID, "`%s` is not an option here", name);
        return NULL;
    }
    char *end;
    if (strcmp(type, "integer") == 0) {
        long long n = strtoll(value, &end, 10);
        if (*value && !*end)
            return json_integer(n);
    } else if (strcmp(type, "number") == 0) {
        double d = strtod(value, &end);
        if (*value && !*end)
            return json_real(d);
    } else if (strcmp(type, "boolean") == 0) {
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
            return json_boolean(strcmp(value, "true") == 0);
    } else {
        return json_string(value);
    }
    err_set(err, ERR_INVALID, "`%s`: `%s` is not a valid %s", name, value, type);
    return NULL;
}

static int ctl_cmd_config_set(struct ctl_ctx *x, int argc, char **argv)
{
    if (argc < 2 || !ctl_config_name_ok(argv[0])) {
        fprintf(stderr, "usage: sculptctl config set predictor|cost|presculpt NAME=VALUE...\n");
        return 2;
    }
    autofree char *path = xasprintf("/v1/config/%s", argv[0]);
    struct err *e = NULL;
    json_t *cur = ctl_get(&x->client, path, &e);
    if (!cur)
        return ctl_fail(e);
    json_t *body = json_object();
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            json_decref(cur);
            json_decref(body);
            fprintf(stderr, "sculptctl: expected NAME=VALUE, got `%s`\n", argv[i]);
            return 2;
        }
        autofree char *name = xstrndup(argv[i], (size_t)(eq - argv[i]));
        json_t *v = ctl_config_value(json_object_get(cur, "options"), name, eq + 1, &e);
        if (!v) {
            json_decref(cur);
            json_decref(body);
            return ctl_fail(e);
        }
        json_object_set_new(body, name, v);
    }
    json_decref(cur);
    int rc = ctl_send(x, "PUT", path, body, ctl_config_table);
    json_decref(body);
    return rc;
}

static int ctl_cmd_config_reset(struct ctl_ctx *x, int argc, char **argv)
{
    if (argc != 1 || !ctl_config_name_ok(argv[0])) {
        fprintf(stderr, "usage: sculptctl config reset predictor|cost|presculpt\n");
        return 2;
    }
    autofree char *path = xasprintf("/v1/config/%s", argv[0]);
    return ctl_send(x, "DELETE", path, NULL, ctl_config_table);
}

static int ctl_cmd_config_check(struct ctl_ctx *x, int argc, char **argv)
{
    (void)x;
    if (argc != 1) {
        fprintf(stderr, "usage: sculptctl config check FILE\n");
        return 2;
    }
    autoerr struct err *err = NULL;
    autocfg cfg = cfg_load(argv[0], &err);
    if (!cfg) {
        fprintf(stderr, "sculptctl: %s\n", err->msg);
        return 1;
    }
    printf("%s: OK\n", argv[0]);
    return 0;
}

/* ---- misc ---- */

static int ctl_cmd_metrics(struct ctl_ctx *x, int argc, char **argv)
{
    (void)argv;
    if (argc) {
        fprintf(stderr, "usage: sculptctl metrics\n");
        return 2;
    }
    struct err *e = NULL;
    long status;
    char *text = NULL;
    if (ctl_request(&x->client, "GET", "/metrics", NULL, &status, NULL, &text, &e) < 0)
        return ctl_fail(e);
    fputs(text ? text : "", stdout);
    free(text);
    return 0;
}

static int ctl_cmd_db(struct ctl_ctx *x, int argc, char **argv)
{
    (void)x;
    /* db_cli_main takes the words after "db": "migrate", "version" ... */
    return db_cli_main(argc, argv);
}

const struct ctl_command ctl_commands[] = {
    {"host", "",
     "the host: capacity, reserved, allocated, used, free per resource; Placement inventory",
     ctl_cmd_host, false},
    {"instances", "[--project P] [--flavor F] [--image I] [--deleted]",
     "guests with their shape and use", ctl_cmd_instances, false},
    {"instance show", "UUID [--from T] [--to T] [--step S] [--limit N]",
     "one guest: shape, blueprint, usage, reshape log and decisions", ctl_cmd_instance_show,
     false},
    {"reshapes", "[--from T] [--to T] [--limit N]", "the host's reshape timeline",
     ctl_cmd_reshapes, false},
    {"events", CTL_EVENTS_USAGE,
     "the event log, newest first: requests, memory hot-plug outcomes, changes behind "
     "sculpt's back",
     ctl_cmd_events, false},
    {"blueprint create", "FILE|-", "create a custom blueprint (JSON, see the API docs)",
     ctl_cmd_blueprint_create, false},
    {"blueprint list", "", "custom blueprints", ctl_cmd_blueprint_list, false},
    {"blueprint show", "ID", "one custom blueprint", ctl_cmd_blueprint_show, false},
    {"blueprint update", "ID FILE|-", "replace a custom blueprint", ctl_cmd_blueprint_update,
     false},
    {"blueprint delete", "ID", "delete a custom blueprint", ctl_cmd_blueprint_delete, false},
    {"blueprint preview", CTL_REQUEST_USAGE " [--horizon S] [--step S]",
     "the blueprint a request would get now", ctl_cmd_blueprint_preview, false},
    {"candidates", CTL_REQUEST_USAGE " [--blueprint-id ID] | --file FILE",
     "can this host place the request, with which shape, or what is short when",
     ctl_cmd_candidates, false},
    {"cost estimate", CTL_REQUEST_USAGE " [--blueprint-id ID] | --file FILE",
     "cost of a request sculpted versus as a static flavor, term by term",
     ctl_cmd_cost_estimate, false},
    {"cost show", "[--from T] [--to T]", "the host's cost so far, by term", ctl_cmd_cost_show,
     false},
    {"pools", "", "pre-sculpted pools", ctl_cmd_pools, false},
    {"config get", "predictor|cost|presculpt", "settings as they are now", ctl_cmd_config_get,
     false},
    {"config set", "predictor|cost|presculpt NAME=VALUE...",
     "change settings at run time (persisted)", ctl_cmd_config_set, false},
    {"config reset", "predictor|cost|presculpt",
     "back to sculpt.conf's values (the run-time changes removed)", ctl_cmd_config_reset,
     false},
    {"config check", "FILE", "validate a sculpt.conf", ctl_cmd_config_check, true},
    {"metrics", "", "the Prometheus metrics as served", ctl_cmd_metrics, false},
    {"db", "migrate|version [--config FILE] [--url URL]", "database schema (offline)",
     ctl_cmd_db, true},
};

const unsigned ctl_ncommands = ARRAY_SIZE(ctl_commands);
