/*
 * floodgen.c - write a hostile flood capture to standard output, for the
 * memory-budget flood tests (tests/e2e_flood.sh): N flows alive at once from
 * distinct client addresses, each holding handshake state that never
 * completes.
 *
 *   floodgen quic N    one QUIC v1 Initial per flow (1,200 bytes, valid
 *                      header, random ciphertext: the keys derive, the
 *                      AEAD tag never verifies)
 *   floodgen hello N [BYTES]
 *                      SYN, then the first BYTES (default 4096) of a TLS
 *                      ClientHello record announcing 16,000 bytes, in one
 *                      segment with a valid checksum: the hello never ends
 *
 *   floodgen decoys    the adversarial ClientHellos of the decoy tests
 *                      (tests/e2e_decoy.sh), one client 10.0.0.C per case:
 *                      C=1 a same-length decoy hello with a bad TCP checksum,
 *                          then the real one, same sequence number
 *                      C=2 the decoy's tail (out of order, good checksum),
 *                          then the real hello in order
 *                      C=3 the real hello with a 17,000-byte padding
 *                          extension before server_name (16 KiB records,
 *                          1,400-byte segments)
 *                      C=4 the same with 40,000 bytes of padding
 *                      C=5 a server_name list one byte longer than its
 *                          extension (must give no name)
 *                      C=6 the real hello with a bad checksum alone (a
 *                          capture on the sending host, checksum offload)
 *                      C=7 the real hello, then a decoy with a bad checksum
 *                      The real name is s01.upd.kaspersky.com, the decoy's
 *                      www.decoy-example.org (same length).
 *
 * Packets are Ethernet/IPv4, microsecond pcap, one second of capture time
 * per 1,000,000 packets, so no flow goes idle before the end.
 *
 * usage: floodgen quic|hello N [BYTES] > flood.pcap
 *        floodgen decoys 0 > decoys.pcap
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
static int bad_checksum; /* the next packets get a wrong TCP/UDP checksum */

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
    if (n)
        memcpy(l + hl, pl, n);
    uint8_t pseudo[12] = {0};
    memcpy(pseudo, ip + 12, 8);
    pseudo[9] = proto;
    be16(pseudo + 10, (uint32_t)l4);
    uint16_t c = csum_fold(csum_add(csum_add(0, pseudo, 12), l, l4));
    if (bad_checksum)
        c ^= 0x5a5a;
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

/* A whole ClientHello record stream for `name` after `pad` bytes of padding
 * extension, in TLS records of at most 16,384 bytes; list_delta is added to
 * the server_name list length (1 = malformed). Returns its length. */
static size_t hello_stream(uint8_t *out, const char *name, size_t pad, int list_delta)
{
    static uint8_t m[MAX_PAYLOAD];
    size_t nl = strlen(name), o = 0, ex, e;
    m[o++] = 1;
    o += 3;
    be16(m + o, 0x0303);
    o += 2;
    for (int k = 0; k < 32; k++)
        m[o++] = (uint8_t)(k * 7);
    m[o++] = 0;
    be16(m + o, 6);
    be16(m + o + 2, 0x1301);
    be16(m + o + 4, 0x1302);
    be16(m + o + 6, 0xc02f);
    o += 8;
    m[o++] = 1;
    m[o++] = 0;
    ex = o;
    o += 2;
    if (pad) {
        be16(m + o, 21);
        be16(m + o + 2, (uint32_t)pad);
        memset(m + o + 4, 0, pad);
        o += 4 + pad;
    }
    be16(m + o, 0);
    e = o + 2;
    be16(m + e + 2, (uint32_t)((int)nl + 3 + list_delta));
    m[e + 4] = 0;
    be16(m + e + 5, (uint32_t)nl);
    memcpy(m + e + 7, name, nl);
    o = e + 7 + nl;
    be16(m + e, (uint32_t)(o - e - 2));
    be16(m + o, 43); /* supported_versions: TLS 1.3 */
    be16(m + o + 2, 3);
    m[o + 4] = 2;
    be16(m + o + 5, 0x0304);
    o += 7;
    be16(m + ex, (uint32_t)(o - ex - 2));
    m[1] = (uint8_t)((o - 4) >> 16);
    be16(m + 2, (uint32_t)(o - 4));
    size_t n = 0;
    for (size_t off = 0; off < o; off += 16384) {
        size_t k = o - off < 16384 ? o - off : 16384;
        out[n++] = 0x16;
        be16(out + n, 0x0301);
        be16(out + n + 2, (uint32_t)k);
        memcpy(out + n + 4, m + off, k);
        n += 4 + k;
    }
    return n;
}

/* Client c's bytes [from, to) of s at sequence isn + 1 + from, in segments of
 * at most 1,400 bytes. */
static void send_range(long c, uint32_t isn, const uint8_t *s, size_t from, size_t to)
{
    for (size_t off = from; off < to; off += 1400) {
        size_t k = to - off < 1400 ? to - off : 1400;
        emit(c, 6, (uint16_t)(40000 + c), 443, 0x18, isn + 1 + (uint32_t)off, s + off, k);
    }
}

static void decoys(void)
{
    static uint8_t real[MAX_PAYLOAD], decoy[MAX_PAYLOAD];
    const char *rname = "s01.upd.kaspersky.com", *dname = "www.decoy-example.org";
    size_t rn = hello_stream(real, rname, 0, 0), dn = hello_stream(decoy, dname, 0, 0);
    if (rn != dn)
        abort();
    for (long c = 1; c <= 7; c++) {
        uint32_t isn = 1000000u * (uint32_t)c;
        emit(c, 6, (uint16_t)(40000 + c), 443, 0x02, isn, NULL, 0);
        if (c == 1 || c == 2) {
            bad_checksum = c == 1;
            send_range(c, isn, decoy, c == 1 ? 0 : rn / 2, rn);
            bad_checksum = 0;
            send_range(c, isn, real, 0, rn);
        } else if (c == 3 || c == 4) {
            static uint8_t big[MAX_PAYLOAD];
            size_t bn = hello_stream(big, rname, c == 3 ? 17000 : 40000, 0);
            send_range(c, isn, big, 0, bn);
        } else if (c == 5) {
            static uint8_t bad[MAX_PAYLOAD];
            size_t bn = hello_stream(bad, rname, 0, 1);
            send_range(c, isn, bad, 0, bn);
        } else if (c == 6) {
            bad_checksum = 1;
            send_range(c, isn, real, 0, rn);
            bad_checksum = 0;
        } else {
            send_range(c, isn, real, 0, rn);
            bad_checksum = 1;
            send_range(c, isn, decoy, 0, rn);
            bad_checksum = 0;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: floodgen quic|hello N [BYTES] > file.pcap\n");
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
    if (!strcmp(mode, "decoys")) {
        decoys();
        return fflush(stdout) == 0 ? 0 : 1;
    }
    for (long i = 0; i < n; i++) {
        uint16_t sport = (uint16_t)(1024 + rnd(&seed) % 60000);
        if (!strcmp(mode, "hello")) {
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
