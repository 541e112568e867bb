/*
 * learned.c - a bounded, thread-safe address -> Kaspersky name table with
 * expiry, shared by the workers (see learned.h).
 *
 * Set-associative: an address hashes (FNV-1a) to one set of
 * KSD_LEARNED_WAYS entries; a new address takes a free or expired way, else
 * the way that expires first (counted as evicted). Each set is guarded by
 * one of KSD_LEARNED_LOCKS mutexes, so workers rarely wait on each other.
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

static uint32_t set_of(int family, const uint8_t *addr)
{
    return ksd_addrkey_hash(family, addr) % KSD_LEARNED_SETS;
}

static int same(const struct entry *e, int family, const uint8_t *addr)
{
    return ksd_addrkey_eq(e->family, e->addr, family, addr);
}

void ksd_learned_put(struct ksd_learned *t, int family, const uint8_t *addr, const char *name,
                     uint32_t ttl_s, int64_t now_us)
{
    if (!t || (family != 4 && family != 6) || !name || !*name)
        return;
    uint32_t s = set_of(family, addr);
    pthread_mutex_t *lk = &t->lock[s % KSD_LEARNED_LOCKS];
    struct ksd_learned_stats *st = &t->st[s % KSD_LEARNED_LOCKS];
    pthread_mutex_lock(lk);
    struct entry *ways = t->set[s], *e = NULL;
    for (int i = 0; i < KSD_LEARNED_WAYS && !e; i++)
        if (same(&ways[i], family, addr))
            e = &ways[i];
    for (int i = 0; i < KSD_LEARNED_WAYS && !e; i++)
        if (!ways[i].family || ways[i].expires_us <= now_us)
            e = &ways[i];
    if (!e) {
        e = &ways[0];
        for (int i = 1; i < KSD_LEARNED_WAYS; i++)
            if (ways[i].expires_us < e->expires_us)
                e = &ways[i];
        st->evicted++;
    }
    if (!same(e, family, addr) || e->expires_us <= now_us)
        e->learned_us = now_us; /* a new binding starts now; a refresh keeps its start */
    e->family = (uint8_t)family;
    memset(e->addr, 0, sizeof(e->addr));
    memcpy(e->addr, addr, family == 4 ? 4 : 16);
    e->expires_us = now_us + (int64_t)ttl_s * 1000000;
    snprintf(e->name, sizeof(e->name), "%s", name);
    st->learned++;
    pthread_mutex_unlock(lk);
}

int ksd_learned_get(struct ksd_learned *t, int family, const uint8_t *addr, int64_t at_us,
                    char *name, size_t cap)
{
    if (!t || (family != 4 && family != 6))
        return 0;
    uint32_t s = set_of(family, addr);
    pthread_mutex_t *lk = &t->lock[s % KSD_LEARNED_LOCKS];
    int found = 0;
    pthread_mutex_lock(lk);
    for (int i = 0; i < KSD_LEARNED_WAYS; i++) {
        const struct entry *e = &t->set[s][i];
        if (same(e, family, addr) && e->learned_us <= at_us && e->expires_us > at_us) {
            snprintf(name, cap, "%s", e->name);
            found = 1;
            t->st[s % KSD_LEARNED_LOCKS].hits++;
            break;
        }
    }
    pthread_mutex_unlock(lk);
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
