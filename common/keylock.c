/* Locks named by strings (keylock.h): a short list, as only keys in use
 * (held or waited for) are on it. */
#include "common/keylock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct keylock {
    struct keylock *next;
    char *key;
    int refs; /* the holder and the waiters */
    bool held;
    pthread_cond_t cond;
};

struct keylocks {
    pthread_mutex_t lock;
    struct keylock *list;
};

struct keylocks *keylocks_new(void)
{
    struct keylocks *t = xzalloc(sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void keylocks_free(struct keylocks *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

struct keylock *keylock_acquire(struct keylocks *t, const char *key)
{
    pthread_mutex_lock(&t->lock);
    struct keylock *l = t->list;
    while (l && strcmp(l->key, key) != 0)
        l = l->next;
    if (!l) {
        l = xzalloc(sizeof(*l));
        l->key = xstrdup(key);
        pthread_cond_init(&l->cond, NULL);
        l->next = t->list;
        t->list = l;
    }
    l->refs++;
    while (l->held)
        pthread_cond_wait(&l->cond, &t->lock);
    l->held = true;
    pthread_mutex_unlock(&t->lock);
    return l;
}

void keylock_release(struct keylocks *t, struct keylock *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&t->lock);
    l->held = false;
    if (--l->refs == 0) {
        for (struct keylock **pl = &t->list; *pl; pl = &(*pl)->next) {
            if (*pl == l) {
                *pl = l->next;
                break;
            }
        }
        pthread_cond_destroy(&l->cond);
        free(l->key);
        free(l);
    } else {
        pthread_cond_signal(&l->cond);
    }
    pthread_mutex_unlock(&t->lock);
}
