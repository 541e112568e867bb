/*
 * decode_frames.h - the frame builder of the decoder's unit tests
 * (test_decode.c, test_decode_tunnel.c): headers appended to a byte buffer
 * with their lengths patched afterwards, the standard inner packets and their
 * expected decodings, and the checks every frame goes through (each prefix
 * decodes without reading past it; a cut gives the expected reason).
 */
#ifndef KSD_TESTS_DECODE_FRAMES_H
#define KSD_TESTS_DECODE_FRAMES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dissectors/decode.h"

/* ------------------------------------------------------- frame builder */

struct fb {
    uint8_t b[4096];
    size_t n;
};

static inline void put(struct fb *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof(f->b));
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static inline void u8(struct fb *f, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(f, &b, 1);
}

static inline void be16(struct fb *f, unsigned v)
{
    u8(f, v >> 8);
    u8(f, v);
}

static inline void be32(struct fb *f, uint32_t v)
{
    be16(f, v >> 16);
    be16(f, v & 0xffff);
}

static inline void le16(struct fb *f, unsigned v)
{
    u8(f, v);
    u8(f, v >> 8);
}

static inline void zeros(struct fb *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        u8(f, 0);
}

static inline void patch16(struct fb *f, size_t at, size_t v)
{
    f->b[at] = (uint8_t)(v >> 8);
    f->b[at + 1] = (uint8_t)v;
}

static const uint8_t A4[4] = {10, 0, 0, 1};
static const uint8_t B4[4] = {10, 0, 0, 2};
static const uint8_t O1[4] = {192, 0, 2, 1};
static const uint8_t O2[4] = {192, 0, 2, 2};
static const uint8_t A6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t B6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t PAY[] = "kaspersky";
#define PAYLEN (sizeof(PAY) - 1)

static inline void eth(struct fb *f, unsigned etype)
{
    static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6};
    put(f, macs, 12);
    be16(f, etype);
}

static inline void vlan(struct fb *f, unsigned vid, unsigned etype)
{
    be16(f, vid);
    be16(f, etype);
}

/* IPv4 header with IHL 5 (or 5 + optwords); the total length is patched by ip4_end. */
static inline size_t ip4_opt(struct fb *f, unsigned proto, const uint8_t *src, const uint8_t *dst,
                             unsigned optwords)
{
    size_t at = f->n;
    u8(f, 0x45 + optwords);
    u8(f, 0);
    be16(f, 0);
    be16(f, 0x1234);
    be16(f, 0x4000); /* DF */
    u8(f, 64);
    u8(f, proto);
    be16(f, 0);
    put(f, src, 4);
    put(f, dst, 4);
    for (unsigned i = 0; i < optwords; i++)
        be32(f, 0x01010101); /* NOPs */
    return at;
}

static inline size_t ip4(struct fb *f, unsigned proto, const uint8_t *src, const uint8_t *dst)
{
    return ip4_opt(f, proto, src, dst, 0);
}

static inline void ip4_end(struct fb *f, size_t at)
{
    patch16(f, at + 2, f->n - at);
}

static inline size_t ip6(struct fb *f, unsigned nh, const uint8_t *src, const uint8_t *dst)
{
    size_t at = f->n;
    be32(f, 0x60000000);
    be16(f, 0);
    u8(f, nh);
    u8(f, 64);
    put(f, src, 16);
    put(f, dst, 16);
    return at;
}

static inline void ip6_end(struct fb *f, size_t at)
{
    patch16(f, at + 4, f->n - at - 40);
}

static inline size_t udp(struct fb *f, unsigned sport, unsigned dport)
{
    size_t at = f->n;
    be16(f, sport);
    be16(f, dport);
    be16(f, 0);
    be16(f, 0);
    return at;
}

static inline void udp_end(struct fb *f, size_t at)
{
    patch16(f, at + 4, f->n - at);
}

static inline void tcp(struct fb *f, unsigned sport, unsigned dport)
{
    be16(f, sport);
    be16(f, dport);
    be32(f, 1000);
    be32(f, 2000);
    u8(f, 0x60); /* data offset 6: one option word */
    u8(f, 0x18); /* PSH ACK */
    be16(f, 65535);
    be32(f, 0);
    be32(f, 0x020405b4); /* MSS */
}

/* IPv4 (A -> B) / UDP 1111 -> 53 / PAY */
static inline void inner_udp4(struct fb *f)
{
    size_t ip = ip4(f, 17, A4, B4);
    size_t u = udp(f, 1111, 53);
    put(f, PAY, PAYLEN);
    udp_end(f, u);
    ip4_end(f, ip);
}

/* IPv4 (A -> B) / TCP 40000 -> 443 / PAY */
static inline void inner_tcp4(struct fb *f)
{
    size_t ip = ip4(f, 6, A4, B4);
    tcp(f, 40000, 443);
    put(f, PAY, PAYLEN);
    ip4_end(f, ip);
}

/* IPv6 (A -> B) / UDP 1111 -> 53 / PAY */
static inline void inner_udp6(struct fb *f)
{
    size_t ip = ip6(f, 17, A6, B6);
    size_t u = udp(f, 1111, 53);
    put(f, PAY, PAYLEN);
    udp_end(f, u);
    ip6_end(f, ip);
}

static inline void expect_udp4(const struct ksd_pkt *p)
{
    assert_int_equal(p->family, 4);
    assert_int_equal(p->proto, 17);
    assert_memory_equal(p->src, A4, 4);
    assert_memory_equal(p->dst, B4, 4);
    assert_int_equal(p->sport, 1111);
    assert_int_equal(p->dport, 53);
    assert_int_equal(p->payload_len, PAYLEN);
    assert_int_equal(p->wire_payload_len, PAYLEN);
    assert_memory_equal(p->payload, PAY, PAYLEN);
}

static inline void expect_tcp4(const struct ksd_pkt *p)
{
    assert_int_equal(p->family, 4);
    assert_int_equal(p->proto, 6);
    assert_memory_equal(p->src, A4, 4);
    assert_memory_equal(p->dst, B4, 4);
    assert_int_equal(p->sport, 40000);
    assert_int_equal(p->dport, 443);
    assert_int_equal(p->seq, 1000);
    assert_int_equal(p->ack, 2000);
    assert_int_equal(p->tcp_flags, 0x18);
    assert_int_equal(p->payload_len, PAYLEN);
    assert_int_equal(p->wire_payload_len, PAYLEN);
    assert_memory_equal(p->payload, PAY, PAYLEN);
}

static inline void expect_udp6(const struct ksd_pkt *p)
{
    assert_int_equal(p->family, 6);
    assert_int_equal(p->proto, 17);
    assert_memory_equal(p->src, A6, 16);
    assert_memory_equal(p->dst, B6, 16);
    assert_int_equal(p->sport, 1111);
    assert_int_equal(p->dport, 53);
    assert_int_equal(p->payload_len, PAYLEN);
    assert_memory_equal(p->payload, PAY, PAYLEN);
}

static inline int dec(int lt, const struct fb *f, struct ksd_pkt *p)
{
    return ksd_decode(lt, f->b, f->n, p);
}

/* Every proper prefix of a frame that decodes OK must give a truncation
 * reason, or OK with a payload shorter than declared: never a "bad" reason,
 * never more payload than captured. */
static inline void check_prefixes(int lt, const struct fb *f)
{
    struct ksd_pkt p;
    for (size_t cut = 0; cut < f->n; cut++) {
        int rc = ksd_decode(lt, f->b, cut, &p);
        if (rc == KSD_DEC_OK) {
            assert_true(p.payload_len < p.wire_payload_len || p.payload_len == 0);
            assert_true(p.payload + p.payload_len <= f->b + cut);
            continue;
        }
        if (rc != KSD_DEC_TRUNC_LINK && rc != KSD_DEC_TRUNC_IP && rc != KSD_DEC_TRUNC_L4 &&
            rc != KSD_DEC_NOT_IP) {
            print_error("cut %zu of %zu: %s\n", cut, f->n, ksd_decode_reason_name(rc));
            fail();
        }
    }
}

static inline void expect_cut(int lt, const struct fb *f, size_t cut, int reason)
{
    struct ksd_pkt p;
    int rc = ksd_decode(lt, f->b, cut, &p);
    if (rc != reason)
        print_error("cut %zu: got %s want %s\n", cut, ksd_decode_reason_name(rc),
                    ksd_decode_reason_name(reason));
    assert_int_equal(rc, reason);
}

#endif
