#include "common/strmap.h"

#include <string.h>

struct strmap_slot {
    char *key;      /* NULL: empty */
    size_t len;
    uint64_t hash;
    int64_t value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap;     /* a power of two */
    size_t n;
};

static uint64_t strmap_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct strmap *strmap_new(void)
{
    struct strmap *m = xzalloc(sizeof(*m));
    m->cap = 16;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    return m;
}

void strmap_free(struct strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *key, size_t n,
                                       uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == n && memcmp(s->key, key, n) == 0))
            return s;
    }
}

static void strmap_grow(struct strmap *m)
{
    struct strmap old = *m;
    m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            *strmap_find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) =
                old.slots[i];
    free(old.slots);
}

int64_t strmap_get_len(const struct strmap *m, const char *key, size_t n)
{
    const struct strmap_slot *s = strmap_find(m, key, n, strmap_hash(key, n));
    return s->key ? s->value : -1;
}

void strmap_put_len(struct strmap *m, const char *key, size_t n, int64_t value)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        strmap_grow(m);
    uint64_t h = strmap_hash(key, n);
    struct strmap_slot *s = strmap_find(m, key, n, h);
    if (!s->key) {
        s->key = xstrndup(key, n);
        s->len = n;
        s->hash = h;
        m->n++;
    }
    s->value = value;
}

int64_t strmap_get(const struct strmap *m, const char *key)
{
    return strmap_get_len(m, key, strlen(key));
}

void strmap_put(struct strmap *m, const char *key, int64_t value)
{
    strmap_put_len(m, key, strlen(key), value);
}

size_t strmap_size(const struct strmap *m)
{
    return m->n;
}
