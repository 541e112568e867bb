/*
 * addrkey.h - placing a (family, address) key in the sensor-wide address
 * tables (learned.c, hostid.c): set-associative tables where each address
 * has two candidate sets ("two choices": a new address goes to the emptier
 * one), so a set overflows only when the table is close to full. With one
 * set per address, 6,000 hosts in a 65,536-entry table already overflowed
 * sets (evicting live bindings, and the order of two workers' updates then
 * decided which); with two, random placement of 20,000 addresses in 16,384
 * four-way sets overflows none. The hash is keyed with a random seed per
 * table, so crafted addresses cannot be aimed at one set.
 */
#ifndef KSD_ADDRKEY_H
#define KSD_ADDRKEY_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "sensor/path/mix.h"

/* The two candidate sets of addr (4 bytes for IPv4, 16 for IPv6) among
 * nsets, a power of two: two halves of a keyed 64-bit hash (the words
 * multiplied in, then MurmurHash3's fmix64), never the same set twice. */
static inline void ksd_addrkey_sets(uint64_t seed, int family, const uint8_t *addr, uint32_t nsets,
                                    uint32_t set[2])
{
    uint64_t h = seed ^ (uint64_t)family;
    if (family == 4) {
        uint32_t a;
        memcpy(&a, addr, 4);
        h += ((uint64_t)a + 0x632be59bd9b4e019ull) * 0xc2b2ae3d27d4eb4full;
    } else {
        uint64_t w[2];
        memcpy(w, addr, 16);
        h += w[0] * 0xc2b2ae3d27d4eb4full + (w[1] ^ 0x27d4eb2f165667c5ull) * 0x165667b19e3779f9ull;
    }
    h = ksd_mix_fmix64(h);
    set[0] = (uint32_t)h & (nsets - 1);
    set[1] = (uint32_t)(h >> 32) & (nsets - 1);
    if (set[1] == set[0])
        set[1] ^= 1;
}

/* Take (give back) the mutexes guarding both sets, locks[set % nlocks], in
 * index order and once when the sets share one. */
static inline void ksd_addrkey_lock(pthread_mutex_t *locks, uint32_t nlocks, const uint32_t set[2])
{
    uint32_t a = set[0] % nlocks, b = set[1] % nlocks;
    pthread_mutex_lock(&locks[a < b ? a : b]);
    if (a != b)
        pthread_mutex_lock(&locks[a < b ? b : a]);
}

static inline void ksd_addrkey_unlock(pthread_mutex_t *locks, uint32_t nlocks,
                                      const uint32_t set[2])
{
    uint32_t a = set[0] % nlocks, b = set[1] % nlocks;
    if (a != b)
        pthread_mutex_unlock(&locks[b]);
    pthread_mutex_unlock(&locks[a]);
}

static inline int ksd_addrkey_eq(uint8_t fa, const uint8_t *a, int family, const uint8_t *addr)
{
    return fa == family && memcmp(a, addr, family == 4 ? 4 : 16) == 0;
}

#endif
