/*
 * mix.h - what the packet path's keyed hash tables share (flow.c's flow
 * table, addrkey.h's address tables): a random seed per table, so crafted
 * keys cannot be aimed at one bucket or set, and MurmurHash3's fmix64, so
 * that every bit of the mixed-in key reaches the bits an index uses.
 */
#ifndef KSD_MIX_H
#define KSD_MIX_H

#include <stdint.h>
#include <sys/random.h>

/* A random seed for the table at p (its address is the fallback when the
 * kernel has no entropy yet: still varies). */
static inline uint64_t ksd_mix_seed(const void *p)
{
    uint64_t s;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ull;
    return s;
}

/* MurmurHash3's 64-bit finaliser. */
static inline uint64_t ksd_mix_fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#endif
