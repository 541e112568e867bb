/*
 * learned.c - a bounded, thread-safe address -> Kaspersky name table with
 * expiry, shared by the workers (see learned.h).
 *
 * Set-associative (addrkey.h): an address has two candidate sets of
 * KSD_LEARNED_WAYS entries; a new address takes a free or expired way of
 * the set with more of them, else the way of the two sets that expires
 * first (counted as evicted). Each set is guarded by one of
 * KSD_LEARNED_LOCKS mutexes, so workers rarely wait on each other.
 * Time is capture time, as everywhere on the packet path. What it does not
 * do: keep who resolved the address (the per-client cache in correlate.c
 * does), or hold more than one name per address (the latest wins).
 */
#include "sensor/path/learned.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/path/addrkey.h"

struct entry {
    uint8_t family; /* 0 = free */
    uint8_t addr[16];
    int64_t learned_us;
    int64_t expires_us;
    char name[KSD_LEARNED_NAME_MAX];
};

struct progress {
    _Alignas(64) _Atomic int64_t us; /* a line each: every worker writes its own */
};

struct ksd_learned {
    uint64_t seed;         /* of the set hash: random per table */
    struct progress *done; /* [KSD_LEARNED_WORKERS], 64-byte aligned */
    int workers;
    pthread_mutex_t lock[KSD_LEARNED_LOCKS];
    struct ksd_learned_stats st[KSD_LEARNED_LOCKS]; /* per lock, summed on read */
    struct entry set[KSD_LEARNED_SETS][KSD_LEARNED_WAYS];
};

struct ksd_learned *ksd_learned_new(void)
{
    /* calloc: the sets (about 19 MB) stay unresident until used */
    struct ksd_learned *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->done = aligned_alloc(64, sizeof(struct progress) * KSD_LEARNED_WORKERS);
    if (!t->done) {
        free(t);
        return NULL;
    }
    t->seed = ksd_mix_seed(t);
    t->workers = 1;
    for (int i = 0; i < KSD_LEARNED_WORKERS; i++)
        atomic_init(&t->done[i].us, INT64_MIN);
    for (int i = 0; i < KSD_LEARNED_LOCKS; i++)
        pthread_mutex_init(&t->lock[i], NULL);
    return t;
}

void ksd_learned_free(struct ksd_learned *t)
{
    if (!t)
        return;
    for (int i = 0; i < KSD_LEARNED_LOCKS; i++)
        pthread_mutex_destroy(&t->lock[i]);
    free(t->done);
    free(t);
}

_Static_assert((KSD_LEARNED_SETS & (KSD_LEARNED_SETS - 1)) == 0 &&
                   KSD_LEARNED_SETS % KSD_LEARNED_LOCKS == 0,
               "sets: a power of two the locks divide");

static int same(const struct entry *e, int family, const uint8_t *addr)
{
    return ksd_addrkey_eq(e->family, e->addr, family, addr);
}

/* addr's entry in its two sets, NULL when absent. Called with both sets'
 * locks held. */
static struct entry *find(struct ksd_learned *t, const uint32_t set[2], int family,
                          const uint8_t *addr)
{
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < KSD_LEARNED_WAYS; i++)
            if (same(&t->set[set[k]][i], family, addr))
                return &t->set[set[k]][i];
    return NULL;
}

/* The way a new address takes at now_us: a free or expired one of the set
 * with more of them, else the one of both sets that expires first (*evicted
 * set). */
static struct entry *place(struct ksd_learned *t, const uint32_t set[2], int64_t now_us,
                           int *evicted)
{
    struct entry *open[2] = {NULL, NULL}, *first = NULL;
    int n[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < KSD_LEARNED_WAYS; i++) {
            struct entry *e = &t->set[set[k]][i];
            if (!e->family || e->expires_us <= now_us) {
                open[k] = open[k] ? open[k] : e;
                n[k]++;
            } else if (!first || e->expires_us < first->expires_us) {
                first = e;
            }
        }
    *evicted = !open[0] && !open[1];
    return *evicted ? first : n[1] > n[0] ? open[1] : open[0];
}

void ksd_learned_put(struct ksd_learned *t, int family, const uint8_t *addr, const char *name,
                     uint32_t ttl_s, int64_t now_us)
{
    if (!t || (family != 4 && family != 6) || !name || !*name)
        return;
    uint32_t set[2];
    ksd_addrkey_sets(t->seed, family, addr, KSD_LEARNED_SETS, set);
    struct ksd_learned_stats *st = &t->st[set[0] % KSD_LEARNED_LOCKS];
    ksd_addrkey_lock(t->lock, KSD_LEARNED_LOCKS, set);
    int evicted = 0;
    struct entry *e = find(t, set, family, addr);
    if (!e)
        e = place(t, set, now_us, &evicted);
    st->evicted += (uint64_t)evicted;
    if (!same(e, family, addr) || e->expires_us <= now_us)
        e->learned_us = now_us; /* a new binding starts now; a refresh keeps its start */
    e->family = (uint8_t)family;
    memset(e->addr, 0, sizeof(e->addr));
    memcpy(e->addr, addr, family == 4 ? 4 : 16);
    e->expires_us = now_us + (int64_t)ttl_s * 1000000;
    snprintf(e->name, sizeof(e->name), "%s", name);
    st->learned++;
    ksd_addrkey_unlock(t->lock, KSD_LEARNED_LOCKS, set);
}

int ksd_learned_get(struct ksd_learned *t, int family, const uint8_t *addr, int64_t at_us,
                    char *name, size_t cap)
{
    if (!t || (family != 4 && family != 6))
        return 0;
    uint32_t set[2];
    ksd_addrkey_sets(t->seed, family, addr, KSD_LEARNED_SETS, set);
    int found = 0;
    ksd_addrkey_lock(t->lock, KSD_LEARNED_LOCKS, set);
    const struct entry *e = find(t, set, family, addr);
    if (e && e->learned_us <= at_us && e->expires_us > at_us) {
        snprintf(name, cap, "%s", e->name);
        found = 1;
        t->st[set[0] % KSD_LEARNED_LOCKS].hits++;
    }
    ksd_addrkey_unlock(t->lock, KSD_LEARNED_LOCKS, set);
    return found;
}

void ksd_learned_workers(struct ksd_learned *t, int n)
{
    if (t)
        t->workers = n < 1 ? 1 : n > KSD_LEARNED_WORKERS ? KSD_LEARNED_WORKERS : n;
}

void ksd_learned_progress(struct ksd_learned *t, int index, int64_t now_us)
{
    if (t && index >= 0 && index < KSD_LEARNED_WORKERS)
        atomic_store_explicit(&t->done[index].us, now_us, memory_order_release);
}

int ksd_learned_passed(struct ksd_learned *t, int64_t at_us)
{
    if (!t)
        return 1;
    for (int i = 0; i < t->workers; i++)
        if (atomic_load_explicit(&t->done[i].us, memory_order_acquire) <= at_us)
            return 0;
    return 1;
}

void ksd_learned_stats(struct ksd_learned *t, struct ksd_learned_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!t)
        return;
    for (int i = 0; i < KSD_LEARNED_LOCKS; i++) {
        pthread_mutex_lock(&t->lock[i]);
        out->learned += t->st[i].learned;
        out->evicted += t->st[i].evicted;
        out->hits += t->st[i].hits;
        pthread_mutex_unlock(&t->lock[i]);
    }
}
