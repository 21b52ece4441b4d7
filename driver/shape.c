#include "driver/shape.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

void drv_cpuset_clear(struct drv_cpuset *s)
{
    memset(s, 0, sizeof(*s));
}

void drv_cpuset_set(struct drv_cpuset *s, int cpu)
{
    if (cpu >= 0 && cpu < DRV_CPUSET_MAX)
        s->bits[cpu / 64] |= 1ULL << (cpu % 64);
}

void drv_cpuset_unset(struct drv_cpuset *s, int cpu)
{
    if (cpu >= 0 && cpu < DRV_CPUSET_MAX)
        s->bits[cpu / 64] &= ~(1ULL << (cpu % 64));
}

bool drv_cpuset_has(const struct drv_cpuset *s, int cpu)
{
    return cpu >= 0 && cpu < DRV_CPUSET_MAX && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

int drv_cpuset_count(const struct drv_cpuset *s)
{
    int n = 0;
    for (size_t i = 0; i < DRV_CPUSET_MAX / 64; i++)
        n += __builtin_popcountll(s->bits[i]);
    return n;
}

bool drv_cpuset_equal(const struct drv_cpuset *a, const struct drv_cpuset *b)
{
    return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}

char *drv_cpuset_format(const struct drv_cpuset *s, char *buf, int size)
{
    int n = 0;
    if (size <= 0)
        return buf;
    buf[0] = '\0';
    for (int c = 0; c < DRV_CPUSET_MAX; c++) {
        if (!drv_cpuset_has(s, c))
            continue;
        int end = c;
        while (end + 1 < DRV_CPUSET_MAX && drv_cpuset_has(s, end + 1))
            end++;
        int w = end == c ? snprintf(buf + n, (size_t)(size - n), "%s%d", n ? "," : "", c)
                         : snprintf(buf + n, (size_t)(size - n), "%s%d-%d", n ? "," : "", c, end);
        if (w < 0 || w >= size - n)
            break;
        n += w;
        c = end;
    }
    return buf;
}

static int drv_cpuset_number(const char **p, const char *text, struct err **err)
{
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (end == *p || errno || v < 0 || v >= DRV_CPUSET_MAX)
        return err_set(err, ERR_INVALID, "cpuset `%s`: bad CPU number (0 to %d)", text,
                       DRV_CPUSET_MAX - 1);
    *p = end;
    return (int)v;
}

int drv_cpuset_parse(const char *text, struct drv_cpuset *out, struct err **err)
{
    struct drv_cpuset s;
    const char *p = text;

    drv_cpuset_clear(&s);
    while (*p) {
        int lo = drv_cpuset_number(&p, text, err);
        if (lo < 0)
            return -1;
        int hi = lo;
        if (*p == '-') {
            p++;
            hi = drv_cpuset_number(&p, text, err);
            if (hi < 0)
                return -1;
            if (hi < lo)
                return err_set(err, ERR_INVALID, "cpuset `%s`: range %d-%d is reversed", text,
                               lo, hi);
        }
        for (int c = lo; c <= hi; c++)
            drv_cpuset_set(&s, c);
        if (*p == ',')
            p++;
        else if (*p)
            return err_set(err, ERR_INVALID, "cpuset `%s`: unexpected `%c`", text, *p);
    }
    *out = s;
    return 0;
}

int64_t drv_shape_vcpu_quota_us(const struct drv_shape *s, int64_t period_us)
{
    if (s->vcpus_online <= 0 || s->res.v[DRV_RES_VCPU] >= s->vcpus_online)
        return -1;
    double per_vcpu = s->res.v[DRV_RES_VCPU] / s->vcpus_online;
    int64_t q = (int64_t)llround(per_vcpu * (double)period_us);
    return q < 1000 ? 1000 : q; /* the kernel refuses quotas under 1 ms */
}

uint32_t drv_shape_weight_for(double vcpu, int32_t priority)
{
    double w = 100 * vcpu * exp2((double)priority / 100);
    if (!(w >= DRV_SHAPE_WEIGHT_MIN)) /* NaN too */
        return DRV_SHAPE_WEIGHT_MIN;
    return w >= DRV_SHAPE_WEIGHT_MAX ? DRV_SHAPE_WEIGHT_MAX : (uint32_t)llround(w);
}

uint32_t drv_shape_cpu_weight(const struct drv_shape *s)
{
    return s->cpu_weight ? s->cpu_weight : drv_shape_weight_for(s->res.v[DRV_RES_VCPU], 0);
}

int drv_shape_validate(const struct drv_shape *s, struct err **err)
{
    if (drv_res_validate(s->res, err) < 0)
        return err_wrap(err, "shape");
    if (s->vcpus_online < 1 || s->vcpus_online > s->vcpus_max)
        return err_set(err, ERR_INVALID, "shape: %d vCPUs online outside [1, %d]",
                       s->vcpus_online, s->vcpus_max);
    if (s->res.v[DRV_RES_VCPU] > s->vcpus_online + 1e-9)
        return err_set(err, ERR_INVALID, "shape: %g vCPU do not fit in %d online vCPUs",
                       s->res.v[DRV_RES_VCPU], s->vcpus_online);
    if (!(s->mem_max_mib > 0) || s->res.v[DRV_RES_MEM_MIB] > s->mem_max_mib + 1e-9)
        return err_set(err, ERR_INVALID, "shape: memory %g MiB above the maximum %g MiB",
                       s->res.v[DRV_RES_MEM_MIB], s->mem_max_mib);
    if (s->numa_node < -1)
        return err_set(err, ERR_INVALID, "shape: NUMA node %d", s->numa_node);
    if (s->cpu_weight > DRV_SHAPE_WEIGHT_MAX)
        return err_set(err, ERR_INVALID, "shape: CPU weight %u outside [%d, %d]", s->cpu_weight,
                       DRV_SHAPE_WEIGHT_MIN, DRV_SHAPE_WEIGHT_MAX);
    return 0;
}
