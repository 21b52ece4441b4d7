/* Exclusive locks named by strings (instance uuids), made on first use and
 * dropped when nobody holds or waits for them: the RPC server serializes
 * an instance's requests with them, and work outside the RPC path that
 * must not interleave with those requests takes the same lock.
 * Thread-safe. */
#ifndef SC_COMMON_KEYLOCK_H
#define SC_COMMON_KEYLOCK_H

#include "common/alloc.h"

struct keylocks;
struct keylock;

struct keylocks *keylocks_new(void);
/* Accepts NULL; no lock may be held or waited for any more. */
void keylocks_free(struct keylocks *t);
DEFINE_AUTOPTR(keylocks)

/* Block until the lock named `key` is ours; returns the handle
 * keylock_release() takes.  Not reentrant: a thread holding `key` must
 * not ask for it again. */
struct keylock *keylock_acquire(struct keylocks *t, const char *key);
/* Give the lock up (NULL: nothing); `l` is invalid after the call. */
void keylock_release(struct keylocks *t, struct keylock *l);

#endif
