/*
 * addrkey.h - hashing and comparing a (family, address) key, for the
 * sensor-wide address tables (learned.c, hostid.c).
 */
#ifndef KSD_ADDRKEY_H
#define KSD_ADDRKEY_H

#include <stdint.h>
#include <string.h>

#include "dissectors/ksd.h"

/* FNV-1a over the address bytes (4 for IPv4, 16 for IPv6). */
static inline uint32_t ksd_addrkey_hash(int family, const uint8_t *addr)
{
    return ksd_fnv1a(KSD_FNV1A_BASIS, addr, family == 4 ? 4 : 16);
}

static inline int ksd_addrkey_eq(uint8_t fa, const uint8_t *a, int family, const uint8_t *addr)
{
    return fa == family && memcmp(a, addr, family == 4 ? 4 : 16) == 0;
}

#endif
