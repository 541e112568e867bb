/*
 * community_id.c - Community ID v1 (https://github.com/corelight/community-id-spec).
 *
 * The hash input is: seed (2 bytes, network order), source address,
 * destination address, protocol (1 byte), one zero byte, source port and
 * destination port (2 bytes each, network order), with the endpoints
 * ordered so that the smaller (address, port) comes first. ICMP and ICMPv6
 * messages that have a counterpart (echo request/reply, router and neighbor
 * solicitation/advertisement, ...) use (type, counterpart type) as ports
 * and are ordered like any two-way flow; other ICMP messages use (type,
 * code) and keep their direction ("one-way"). Protocols without ports hash
 * the addresses and protocol only. The result is "1:" followed by the
 * base64 of the SHA-1 digest.
 *
 * Pure function of its arguments: no packet bytes are read here (the caller
 * passes the tuple), no state is kept. SHA-1 and base64 come from libcrypto.
 */
#include "dissectors/community_id.h"

#include <openssl/evp.h>
#include <string.h>

/* ICMP message types that pair up (specification, "ICMP" section). */
static int icmp_counterpart(int v6, uint16_t type, uint16_t *other)
{
    static const uint8_t v4[][2] = {{8, 0},   {0, 8},  {13, 14}, {14, 13}, {15, 16},
                                    {16, 15}, {10, 9}, {9, 10},  {17, 18}, {18, 17}};
    static const uint8_t v6map[][2] = {{128, 129}, {129, 128}, {133, 134}, {134, 133},
                                       {135, 136}, {136, 135}, {130, 131}, {131, 130},
                                       {139, 140}, {140, 139}, {144, 145}, {145, 144}};
    const uint8_t(*m)[2] = v6 ? v6map : v4;
    size_t n = v6 ? sizeof(v6map) / sizeof(v6map[0]) : sizeof(v4) / sizeof(v4[0]);
    for (size_t i = 0; i < n; i++)
        if (m[i][0] == type) {
            *other = m[i][1];
            return 1;
        }
    return 0;
}

int ksd_community_id(uint16_t seed, int family, uint8_t proto, const uint8_t *saddr,
                     const uint8_t *daddr, uint16_t sport, uint16_t dport, int has_ports,
                     char out[KSD_COMMUNITY_ID_MAX])
{
    out[0] = '\0';
    if (family != 4 && family != 6)
        return -1;
    size_t alen = family == 4 ? 4 : 16;
    int one_way = 0;
    if (has_ports && (proto == 1 || proto == 58)) {
        uint16_t other;
        if (icmp_counterpart(proto == 58, sport, &other))
            dport = other;
        else
            one_way = 1;
    }
    const uint8_t *a = saddr, *b = daddr;
    uint16_t pa = sport, pb = dport;
    int c = memcmp(a, b, alen);
    if (!one_way && (c > 0 || (c == 0 && has_ports && pa > pb))) {
        a = daddr;
        b = saddr;
        pa = dport;
        pb = sport;
    }
    uint8_t buf[2 + 16 + 16 + 2 + 4];
    size_t n = 0;
    buf[n++] = (uint8_t)(seed >> 8);
    buf[n++] = (uint8_t)seed;
    memcpy(buf + n, a, alen);
    n += alen;
    memcpy(buf + n, b, alen);
    n += alen;
    buf[n++] = proto;
    buf[n++] = 0;
    if (has_ports) {
        buf[n++] = (uint8_t)(pa >> 8);
        buf[n++] = (uint8_t)pa;
        buf[n++] = (uint8_t)(pb >> 8);
        buf[n++] = (uint8_t)pb;
    }
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(buf, n, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -1;
    memcpy(out, "1:", 2);
    EVP_EncodeBlock((unsigned char *)out + 2, md, 20); /* 28 characters and a NUL */
    return 0;
}
