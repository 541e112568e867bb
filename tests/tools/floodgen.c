/*
 * floodgen.c - write a hostile flood capture to standard output, for the
 * memory-budget flood tests (tests/e2e_flood.sh): N flows alive at once from
 * distinct client addresses, each holding handshake state that never
 * completes.
 *
 *   floodgen syn N     one TCP SYN per flow, no data
 *   floodgen quic N    one QUIC v1 Initial per flow (1,200 bytes, valid
 *                      header, random ciphertext: the keys derive, the
 *                      AEAD tag never verifies)
 *   floodgen hello N [BYTES]
 *                      SYN, then the first BYTES (default 4096) of a TLS
 *                      ClientHello record announcing 16,000 bytes, in one
 *                      segment with a valid checksum: the hello never ends
 *
 * Packets are Ethernet/IPv4, microsecond pcap, one second of capture time
 * per 1,000,000 packets, so no flow goes idle before the end.
 *
 * usage: floodgen syn|quic|hello N [BYTES] > flood.pcap
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAYLOAD 65000

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static uint8_t frame[16 + 14 + 20 + 20 + MAX_PAYLOAD];
static long npkt;

/* One IPv4 packet from 10.(i) to 198.18.x.y with an L4 header of hl bytes
 * and payload (pl, n); the L4 checksum is computed. */
static void emit(long i, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t tcpflags,
                 uint32_t seq, const uint8_t *pl, size_t n)
{
    size_t hl = proto == 6 ? 20 : 8, l4 = hl + n, iplen = 20 + l4, caplen = 14 + iplen;
    uint8_t *e = frame + 16, *ip = e + 14, *l = ip + 20;
    le32(frame, 1700000000u + (uint32_t)(npkt / 1000000));
    le32(frame + 4, (uint32_t)(npkt % 1000000));
    le32(frame + 8, (uint32_t)caplen);
    le32(frame + 12, (uint32_t)caplen);
    npkt++;
    memset(e, 0, 14 + 20 + hl);
    e[12] = 0x08;
    ip[0] = 0x45;
    be16(ip + 2, (uint32_t)iplen);
    ip[8] = 64;
    ip[9] = proto;
    ip[12] = 10;
    ip[13] = (uint8_t)(i >> 16);
    ip[14] = (uint8_t)(i >> 8);
    ip[15] = (uint8_t)i;
    ip[16] = 198;
    ip[17] = 18;
    ip[18] = (uint8_t)(i >> 8);
    ip[19] = (uint8_t)(i >> 3);
    be16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    be16(l, sport);
    be16(l + 2, dport);
    if (proto == 6) {
        l[4] = (uint8_t)(seq >> 24);
        l[5] = (uint8_t)(seq >> 16);
        l[6] = (uint8_t)(seq >> 8);
        l[7] = (uint8_t)seq;
        l[12] = 0x50;
        l[13] = tcpflags;
        be16(l + 14, 65535);
    } else {
        be16(l + 4, (uint32_t)l4);
    }
    memcpy(l + hl, pl, n);
    uint8_t pseudo[12] = {0};
    memcpy(pseudo, ip + 12, 8);
    pseudo[9] = proto;
    be16(pseudo + 10, (uint32_t)l4);
    uint16_t c = csum_fold(csum_add(csum_add(0, pseudo, 12), l, l4));
    be16(l + (proto == 6 ? 16 : 6), c ? c : 0xffff);
    fwrite(frame, 1, 16 + caplen, stdout);
}

/* A ClientHello record announcing 16,000 bytes of which the first n are
 * written: header, version, random, no session, two suites, no compression,
 * then a padding extension that runs past n. */
static size_t hello_prefix(uint8_t *p, size_t n)
{
    size_t rec = 16000, hs = rec - 4, o = 0;
    memset(p, 0, n);
    p[o++] = 0x16;
    p[o++] = 3;
    p[o++] = 1;
    be16(p + o, (uint32_t)rec);
    o += 2;
    p[o++] = 1;
    p[o++] = (uint8_t)(hs >> 16);
    be16(p + o, (uint32_t)hs);
    o += 2;
    p[o++] = 3;
    p[o++] = 3;
    o += 32;    /* random */
    p[o++] = 0; /* session id */
    be16(p + o, 4);
    o += 2;
    be16(p + o, 0x1301);
    be16(p + o + 2, 0x1302);
    o += 4;
    p[o++] = 1;
    p[o++] = 0; /* null compression */
    be16(p + o, (uint32_t)(hs - (o - 9) - 2));
    o += 2;
    be16(p + o, 21); /* padding */
    be16(p + o + 2, (uint32_t)(hs - (o - 9) - 4));
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: floodgen syn|quic|hello N [BYTES] > file.pcap\n");
        return 2;
    }
    const char *mode = argv[1];
    long n = strtol(argv[2], NULL, 10);
    size_t bytes = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 4096;
    if (bytes < 64 || bytes > MAX_PAYLOAD)
        bytes = 4096;
    uint64_t seed = 1;
    uint8_t gh[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0};
    le32(gh + 16, 65535 + 100);
    le32(gh + 20, 1);
    fwrite(gh, 1, sizeof(gh), stdout);
    static uint8_t pl[MAX_PAYLOAD];
    if (!strcmp(mode, "hello"))
        hello_prefix(pl, bytes);
    for (long i = 0; i < n; i++) {
        uint16_t sport = (uint16_t)(1024 + rnd(&seed) % 60000);
        if (!strcmp(mode, "syn")) {
            emit(i, 6, sport, 443, 0x02, (uint32_t)rnd(&seed), NULL, 0);
        } else if (!strcmp(mode, "hello")) {
            uint32_t isn = (uint32_t)rnd(&seed);
            emit(i, 6, sport, 443, 0x02, isn, NULL, 0);
            memcpy(pl + 11, &isn, 4); /* a different random per flow */
            emit(i, 6, sport, 443, 0x18, isn + 1, pl, bytes);
        } else if (!strcmp(mode, "quic")) {
            size_t o = 0;
            pl[o++] = 0xc3; /* long header, Initial, 4-byte packet number */
            pl[o++] = 0;
            pl[o++] = 0;
            pl[o++] = 0;
            pl[o++] = 1; /* version 1 */
            pl[o++] = 8;
            for (int k = 0; k < 8; k++)
                pl[o++] = (uint8_t)rnd(&seed);
            pl[o++] = 0; /* no source CID */
            pl[o++] = 0; /* no token */
            size_t rest = 1200 - o - 2;
            be16(pl + o, 0x4000 | (uint32_t)rest);
            o += 2;
            if (i == 0) /* random ciphertext, drawn once: the keys differ per flow */
                for (size_t k = 0; k < rest; k++)
                    pl[o + k] = (uint8_t)rnd(&seed);
            emit(i, 17, sport, 443, 0, 0, pl, 1200);
        } else {
            fprintf(stderr, "floodgen: unknown mode %s\n", mode);
            return 2;
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
