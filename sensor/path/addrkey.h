/*
 * addrkey.h - hashing and comparing a (family, address) key, for the
 * sensor-wide address tables (learned.c, hostid.c).
 */
#ifndef KSD_ADDRKEY_H
#define KSD_ADDRKEY_H

#include <stdint.h>
#include <string.h>

/* FNV-1a over the address bytes (4 for IPv4, 16 for IPv6). */
static inline uint32_t ksd_addrkey_hash(int family, const uint8_t *addr)
{
    uint32_t h = 2166136261u;
    size_t n = family == 4 ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        h = (h ^ addr[i]) * 16777619u;
    return h;
}

static inline int ksd_addrkey_eq(uint8_t fa, const uint8_t *a, int family, const uint8_t *addr)
{
    return fa == family && memcmp(a, addr, family == 4 ? 4 : 16) == 0;
}

#endif
