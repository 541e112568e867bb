/*
 * test_decode.c - unit tests for dissectors/decode.c: every link type and
 * encapsulation from hand-built bytes (addresses, ports, payload checked),
 * truncated variants with their reasons, malformed headers, the nesting
 * limit, IPv6 extension chains, Ethernet padding and ctx symmetry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dissectors/decode.h"

/* ------------------------------------------------------- frame builder */

struct fb {
    uint8_t b[4096];
    size_t n;
};

static void put(struct fb *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof(f->b));
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void u8(struct fb *f, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(f, &b, 1);
}

static void be16(struct fb *f, unsigned v)
{
    u8(f, v >> 8);
    u8(f, v);
}

static void be32(struct fb *f, uint32_t v)
{
    be16(f, v >> 16);
    be16(f, v & 0xffff);
}

static void le16(struct fb *f, unsigned v)
{
    u8(f, v);
    u8(f, v >> 8);
}

static void zeros(struct fb *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        u8(f, 0);
}

static void patch16(struct fb *f, size_t at, size_t v)
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

static void eth(struct fb *f, unsigned etype)
{
    static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6};
    put(f, macs, 12);
    be16(f, etype);
}

static void vlan(struct fb *f, unsigned vid, unsigned etype)
{
    be16(f, vid);
    be16(f, etype);
}

/* IPv4 header with IHL 5 (or 5 + optwords); the total length is patched by ip4_end. */
static size_t ip4_opt(struct fb *f, unsigned proto, const uint8_t *src, const uint8_t *dst,
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

static size_t ip4(struct fb *f, unsigned proto, const uint8_t *src, const uint8_t *dst)
{
    return ip4_opt(f, proto, src, dst, 0);
}

static void ip4_end(struct fb *f, size_t at)
{
    patch16(f, at + 2, f->n - at);
}

static size_t ip6(struct fb *f, unsigned nh, const uint8_t *src, const uint8_t *dst)
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

static void ip6_end(struct fb *f, size_t at)
{
    patch16(f, at + 4, f->n - at - 40);
}

static size_t udp(struct fb *f, unsigned sport, unsigned dport)
{
    size_t at = f->n;
    be16(f, sport);
    be16(f, dport);
    be16(f, 0);
    be16(f, 0);
    return at;
}

static void udp_end(struct fb *f, size_t at)
{
    patch16(f, at + 4, f->n - at);
}

static void tcp(struct fb *f, unsigned sport, unsigned dport)
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
static void inner_udp4(struct fb *f)
{
    size_t ip = ip4(f, 17, A4, B4);
    size_t u = udp(f, 1111, 53);
    put(f, PAY, PAYLEN);
    udp_end(f, u);
    ip4_end(f, ip);
}

/* IPv4 (A -> B) / TCP 40000 -> 443 / PAY */
static void inner_tcp4(struct fb *f)
{
    size_t ip = ip4(f, 6, A4, B4);
    tcp(f, 40000, 443);
    put(f, PAY, PAYLEN);
    ip4_end(f, ip);
}

/* IPv6 (A -> B) / UDP 1111 -> 53 / PAY */
static void inner_udp6(struct fb *f)
{
    size_t ip = ip6(f, 17, A6, B6);
    size_t u = udp(f, 1111, 53);
    put(f, PAY, PAYLEN);
    udp_end(f, u);
    ip6_end(f, ip);
}

static void expect_udp4(const struct ksd_pkt *p)
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

static void expect_tcp4(const struct ksd_pkt *p)
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

static void expect_udp6(const struct ksd_pkt *p)
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

static int dec(int lt, const struct fb *f, struct ksd_pkt *p)
{
    return ksd_decode(lt, f->b, f->n, p);
}

/* Every proper prefix of a frame that decodes OK must give a truncation
 * reason, or OK with a payload shorter than declared: never a "bad" reason,
 * never more payload than captured. */
static void check_prefixes(int lt, const struct fb *f)
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

static void expect_cut(int lt, const struct fb *f, size_t cut, int reason)
{
    struct ksd_pkt p;
    int rc = ksd_decode(lt, f->b, cut, &p);
    if (rc != reason)
        print_error("cut %zu: got %s want %s\n", cut, ksd_decode_reason_name(rc),
                    ksd_decode_reason_name(reason));
    assert_int_equal(rc, reason);
}

/* --------------------------------------------------------- Ethernet, IP */

static void test_decode_eth_ipv4_tcp(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    inner_tcp4(&f);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_int_equal(p.ttl, 64);
    assert_int_equal(p.ctx, 0);
    assert_int_equal(p.layers, 0);
    assert_int_equal(p.tunnels, 0);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 13, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 19, KSD_DEC_TRUNC_IP);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 19, KSD_DEC_TRUNC_L4);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 22, KSD_DEC_TRUNC_L4); /* option word cut */
    /* cut in the payload: OK, captured part only */
    assert_int_equal(ksd_decode(KSD_DLT_EN10MB, f.b, f.n - 3, &p), KSD_DEC_OK);
    assert_int_equal(p.payload_len, PAYLEN - 3);
    assert_int_equal(p.wire_payload_len, PAYLEN);
}

static void test_decode_eth_padding_not_payload(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 17, A4, B4);
    size_t u = udp(&f, 1111, 53);
    put(&f, "ab", 2);
    udp_end(&f, u);
    ip4_end(&f, ip);
    while (f.n < 60)
        u8(&f, 0xee); /* Ethernet minimum-size padding */
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    assert_int_equal(p.payload_len, 2);
    assert_int_equal(p.wire_payload_len, 2);
    assert_memory_equal(p.payload, "ab", 2);
}

static void test_decode_ipv4_options(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    size_t ip = ip4_opt(&f, 17, A4, B4, 2);
    size_t u = udp(&f, 1111, 53);
    put(&f, PAY, PAYLEN);
    udp_end(&f, u);
    ip4_end(&f, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 24, KSD_DEC_TRUNC_IP);
    check_prefixes(KSD_DLT_EN10MB, &f);
}

static void test_decode_ipv4_tso_zero_length(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    inner_tcp4(&f);
    patch16(&f, 14 + 2, 0);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
}

static void test_decode_bad_ip_headers(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    inner_udp4(&f);
    struct fb g = f;
    g.b[14] = 0x55; /* version 5 */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_IP);
    g = f;
    g.b[14] = 0x44; /* IHL 4 */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_IP);
    g = f;
    patch16(&g, 14 + 2, 19); /* total length below the header */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_IP);
    g = f;
    g.b[14] = 0x4f; /* IHL 15: 60 bytes, more than the total length */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_IP);
}

static void test_decode_bad_tcp_and_udp(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    inner_tcp4(&f);
    struct fb g = f;
    g.b[14 + 20 + 12] = 0x40; /* data offset 4 */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TCP);
    g = f;
    g.b[14 + 20 + 12] = 0xf0; /* data offset 15: past the segment */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TCP);
    g = f;
    patch16(&g, 14 + 2, 20 + 10); /* IP says the segment is 10 bytes */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TCP);

    struct fb u = {0};
    eth(&u, 0x0800);
    inner_udp4(&u);
    g = u;
    patch16(&g, 14 + 20 + 4, 7); /* UDP length below 8 */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_UDP);
    g = u;
    patch16(&g, 14 + 20 + 4, 8 + PAYLEN + 1); /* past the IP payload */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_UDP);
    g = u;
    patch16(&g, 14 + 20 + 4, 8 + 2); /* shorter than the IP payload: bounds it */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_OK);
    assert_int_equal(p.payload_len, 2);
}

static void test_decode_eth_8023_llc_snap(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0);
    size_t len_at = f.n - 2;
    u8(&f, 0xaa);
    u8(&f, 0xaa);
    u8(&f, 0x03);
    u8(&f, 0);
    u8(&f, 0);
    u8(&f, 0);
    be16(&f, 0x0800);
    inner_udp4(&f);
    patch16(&f, len_at, f.n - 14);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 5, KSD_DEC_TRUNC_LINK);

    /* STP: LLC 42 42 03 */
    struct fb s = {0};
    eth(&s, 38);
    u8(&s, 0x42);
    u8(&s, 0x42);
    u8(&s, 0x03);
    zeros(&s, 35);
    assert_int_equal(dec(KSD_DLT_EN10MB, &s, &p), KSD_DEC_NOT_IP);
}

static void test_decode_arp_not_ip(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0806);
    zeros(&f, 28);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_NOT_IP);
    struct fb l = {0};
    eth(&l, 0x88cc); /* LLDP */
    zeros(&l, 20);
    assert_int_equal(dec(KSD_DLT_EN10MB, &l, &p), KSD_DEC_NOT_IP);
}

/* ------------------------------------------------------------- VLAN */

static void test_decode_vlan_single(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x8100);
    vlan(&f, 0x2000 | 100, 0x0800);
    inner_udp4(&f);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_int_equal(p.vlan, 100);
    assert_true(p.tunnels & KSD_TUN_VLAN);
    assert_int_equal(p.layers, 1);
    assert_int_not_equal(p.ctx, 0);
    uint32_t ctx100 = p.ctx;
    f.b[15] = 101;
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    assert_int_not_equal(p.ctx, ctx100);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 16, KSD_DEC_TRUNC_LINK);
}

static void test_decode_vlan_qinq_variants(void **state)
{
    (void)state;
    static const unsigned outer[] = {0x88a8, 0x9100, 0x8100};
    for (size_t i = 0; i < 3; i++) {
        struct fb f = {0};
        struct ksd_pkt p;
        eth(&f, outer[i]);
        vlan(&f, 10, 0x8100);
        vlan(&f, 20, 0x86dd);
        inner_udp6(&f);
        assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
        expect_udp6(&p);
        assert_int_equal(p.vlan, 20);
        assert_int_equal(p.layers, 2);
        check_prefixes(KSD_DLT_EN10MB, &f);
    }
}

static void test_decode_vlan_tag_limit(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x8100);
    for (int i = 0; i < KSD_MAX_VLAN_TAGS; i++)
        vlan(&f, 10 + i, i + 1 < KSD_MAX_VLAN_TAGS ? 0x8100 : 0x0800);
    inner_udp4(&f);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    assert_int_equal(p.vlan, 10 + KSD_MAX_VLAN_TAGS - 1);

    struct fb g = {0};
    eth(&g, 0x8100);
    for (int i = 0; i < KSD_MAX_VLAN_TAGS + 1; i++)
        vlan(&g, 10 + i, i < KSD_MAX_VLAN_TAGS ? 0x8100 : 0x0800);
    inner_udp4(&g);
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_TOO_DEEP);
}

/* ------------------------------------------------------------- MPLS */

static void test_decode_mpls_ipv4_ipv6(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x8847);
    be32(&f, (1000u << 12) | 0x40);       /* label 1000, not bottom */
    be32(&f, (2000u << 12) | 0x100 | 64); /* label 2000, bottom */
    inner_tcp4(&f);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_true(p.tunnels & KSD_TUN_MPLS);
    assert_int_not_equal(p.ctx, 0);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 6, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 8, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 8 + 10, KSD_DEC_TRUNC_IP);

    struct fb g = {0};
    eth(&g, 0x8848);
    be32(&g, (3000u << 12) | 0x100 | 64);
    inner_udp6(&g);
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_OK);
    expect_udp6(&p);

    g.b[18] = 0x90; /* first nibble 9 after the stack */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);
}

static void test_decode_mpls_pseudowire_ethernet(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x8847);
    be32(&f, (77u << 12) | 0x100 | 64);
    be32(&f, 0); /* control word */
    eth(&f, 0x0800);
    inner_udp4(&f);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 4 + 2, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 8 + 10, KSD_DEC_TRUNC_LINK);
}

static void test_decode_mpls_label_limit(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x8847);
    for (int i = 0; i < KSD_MAX_MPLS_LABELS + 1; i++)
        be32(&f, ((uint32_t)(16 + i) << 12) | (i == KSD_MAX_MPLS_LABELS ? 0x100 : 0) | 64);
    inner_udp4(&f);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_TOO_DEEP);
}

/* ------------------------------------------------------------ PPPoE */

static void pppoe(struct fb *f, unsigned proto, void (*inner)(struct fb *))
{
    u8(f, 0x11);
    u8(f, 0);
    be16(f, 0x1234);
    size_t len_at = f->n;
    be16(f, 0);
    be16(f, proto);
    inner(f);
    patch16(f, len_at, f->n - len_at - 2);
}

static void test_decode_pppoe_session(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x8864);
    pppoe(&f, 0x0021, inner_tcp4);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_true(p.tunnels & KSD_TUN_PPPOE);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 5, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 7, KSD_DEC_TRUNC_LINK);

    struct fb g = {0};
    eth(&g, 0x8864);
    pppoe(&g, 0x0057, inner_udp6);
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_OK);
    expect_udp6(&p);

    g.b[14] = 0x12; /* version/type */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);

    struct fb h = {0};
    eth(&h, 0x8864);
    pppoe(&h, 0xc021, inner_udp4); /* LCP */
    assert_int_equal(dec(KSD_DLT_EN10MB, &h, &p), KSD_DEC_NOT_IP);
}

/* PPPoE says 40 bytes of IP, the IP header says 46: the smaller wins (as tshark). */
static void test_decode_inner_ip_longer_than_outer_is_bounded(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x8864);
    pppoe(&f, 0x0021, inner_tcp4);
    patch16(&f, 14 + 4, 2 + 20 + 24); /* TCP header only */
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    assert_int_equal(p.proto, 6);
    assert_int_equal(p.payload_len, 0);
    assert_int_equal(p.wire_payload_len, 0);
}

/* -------------------------------------------------------------- GRE */

static size_t outer4(struct fb *f, unsigned proto, const uint8_t *s, const uint8_t *d)
{
    eth(f, 0x0800);
    return ip4(f, proto, s, d);
}

static void test_decode_gre_ipv4_key_seq_csum(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    size_t o = outer4(&f, 47, O1, O2);
    be16(&f, 0xb000); /* C K S */
    be16(&f, 0x0800);
    be32(&f, 0);      /* checksum + reserved */
    be32(&f, 0xabcd); /* key */
    be32(&f, 7);      /* sequence */
    inner_tcp4(&f);
    ip4_end(&f, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_true(p.tunnels & KSD_TUN_GRE);
    assert_int_equal(p.layers, 1);
    uint32_t c1 = p.ctx;
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 3, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 10, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 16 + 5, KSD_DEC_TRUNC_IP);

    f.b[14 + 20 + 11] = 0xce; /* another key: another ctx */
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    assert_int_not_equal(p.ctx, c1);

    struct fb g = f;
    g.b[14 + 20] = 0xf0; /* routing bit */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);
    g = f;
    g.b[14 + 21] = 0x02; /* version 2 */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);
    g = f;
    patch16(&g, 14 + 2, 20 + 14); /* outer IP ends inside the GRE header */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);
}

static void test_decode_gre_teb_ethernet(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    size_t o = outer4(&f, 47, O1, O2);
    be16(&f, 0);
    be16(&f, 0x6558);
    eth(&f, 0x86dd);
    inner_udp6(&f);
    ip4_end(&f, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp6(&p);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 4 + 13, KSD_DEC_TRUNC_LINK);
}

static void test_decode_gre_erspan2(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    size_t o = outer4(&f, 47, O1, O2);
    be16(&f, 0x1000); /* S */
    be16(&f, 0x88be);
    be32(&f, 1);
    be16(&f, 0x1000 | 5);  /* version 1, VLAN 5 */
    be16(&f, 0x0000 | 33); /* session 33 */
    be32(&f, 0);
    eth(&f, 0x0800);
    inner_tcp4(&f);
    ip4_end(&f, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_true(p.tunnels & KSD_TUN_ERSPAN);
    assert_int_equal(p.layers, 2);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 8 + 6, KSD_DEC_TRUNC_LINK);
    f.b[14 + 20 + 8] = 0x20; /* version 2 in a type II header */
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_BAD_TUNNEL);
}

static void test_decode_gre_erspan1_no_header(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    size_t o = outer4(&f, 47, O1, O2);
    be16(&f, 0); /* no sequence: type I */
    be16(&f, 0x88be);
    eth(&f, 0x0800);
    inner_udp4(&f);
    ip4_end(&f, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_true(p.tunnels & KSD_TUN_ERSPAN);
    check_prefixes(KSD_DLT_EN10MB, &f);
}

static void test_decode_gre_erspan3_with_platform_subheader(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    size_t o = outer4(&f, 47, O1, O2);
    be16(&f, 0x1000);
    be16(&f, 0x22eb);
    be32(&f, 9);
    be16(&f, 0x2000 | 7); /* version 2 */
    be16(&f, 44);         /* session */
    be32(&f, 0x11223344); /* timestamp */
    be16(&f, 0);          /* SGT */
    be16(&f, 0x0001);     /* FT 0 (Ethernet), O set */
    be32(&f, 0xdeadbeef); /* platform-specific subheader */
    be32(&f, 0xdeadbeef);
    eth(&f, 0x8100);
    vlan(&f, 300, 0x0800);
    inner_tcp4(&f);
    ip4_end(&f, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_int_equal(p.vlan, 300);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 8 + 12 + 4, KSD_DEC_TRUNC_LINK);

    f.b[14 + 20 + 8 + 11] = 0x00; /* O clear: the subheader is read as Ethernet */
    assert_int_not_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
}

static void test_decode_gre_pptp_ppp(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    size_t o = outer4(&f, 47, O1, O2);
    be16(&f, 0x3081); /* K S A, version 1 */
    be16(&f, 0x880b);
    size_t plen_at = f.n;
    be16(&f, 0);      /* payload length */
    be16(&f, 0x4242); /* call id */
    be32(&f, 5);      /* sequence */
    be32(&f, 4);      /* ack */
    size_t ppp_at = f.n;
    u8(&f, 0xff);
    u8(&f, 0x03);
    be16(&f, 0x0021);
    inner_udp4(&f);
    patch16(&f, plen_at, f.n - ppp_at);
    ip4_end(&f, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_true(p.tunnels & KSD_TUN_GRE);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, ppp_at + 3, KSD_DEC_TRUNC_LINK);

    struct fb g = f;
    patch16(&g, 14 + 20 + 2, 0x0800); /* version 1 must carry PPP */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);
    g = f;
    patch16(&g, plen_at, 2000); /* payload length past the packet */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);
}

/* -------------------------------------------------------- UDP tunnels */

static void vxlan_frame(struct fb *f, const uint8_t *os, const uint8_t *od, uint32_t vni, int rev)
{
    size_t o = outer4(f, 17, os, od);
    size_t u = udp(f, 50000, 4789);
    be32(f, 0x08000000);
    be32(f, vni << 8);
    eth(f, 0x0800);
    size_t ip = ip4(f, 17, rev ? B4 : A4, rev ? A4 : B4);
    size_t u2 = udp(f, rev ? 53 : 1111, rev ? 1111 : 53);
    put(f, PAY, PAYLEN);
    udp_end(f, u2);
    ip4_end(f, ip);
    udp_end(f, u);
    ip4_end(f, o);
}

static void test_decode_vxlan(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    vxlan_frame(&f, O1, O2, 4242, 0);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_true(p.tunnels & KSD_TUN_VXLAN);
    assert_int_equal(p.layers, 1);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 8 + 5, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 8 + 8 + 10, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 8 + 8 + 14 + 10, KSD_DEC_TRUNC_IP);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 20 + 8 + 8 + 14 + 20 + 4, KSD_DEC_TRUNC_L4);

    /* I flag clear: not VXLAN, the UDP payload stays as it is */
    f.b[14 + 28] = 0;
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    assert_int_equal(p.dport, 4789);
    assert_int_equal(p.tunnels, 0);
    assert_memory_equal(p.src, O1, 4);
}

static void test_decode_geneve_options_ethernet_and_ip(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    size_t o = outer4(&f, 17, O1, O2);
    size_t u = udp(&f, 47101, 6081);
    u8(&f, 2); /* version 0, 2 option words */
    u8(&f, 0);
    be16(&f, 0x6558);
    be32(&f, 77u << 8);
    be32(&f, 0x01020304);
    be32(&f, 0x05060708);
    eth(&f, 0x0800);
    inner_tcp4(&f);
    udp_end(&f, u);
    ip4_end(&f, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_true(p.tunnels & KSD_TUN_GENEVE);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 28 + 12, KSD_DEC_TRUNC_LINK);
    struct fb g = f;
    g.b[14 + 28] = 0x3f; /* options run past the UDP payload */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);

    struct fb h = {0};
    o = outer4(&h, 17, O1, O2);
    u = udp(&h, 47101, 6081);
    u8(&h, 0);
    u8(&h, 0);
    be16(&h, 0x86dd);
    be32(&h, 78u << 8);
    inner_udp6(&h);
    udp_end(&h, u);
    ip4_end(&h, o);
    assert_int_equal(dec(KSD_DLT_EN10MB, &h, &p), KSD_DEC_OK);
    expect_udp6(&p);
    check_prefixes(KSD_DLT_EN10MB, &h);
}

static void gtp_frame(struct fb *f, const uint8_t *os, const uint8_t *od, uint32_t teid, int rev,
                      int ext)
{
    size_t o = outer4(f, 17, os, od);
    size_t u = udp(f, 2152, 2152);
    u8(f, ext ? 0x34 : 0x30); /* version 1, PT, E */
    u8(f, 0xff);
    size_t len_at = f->n;
    be16(f, 0);
    be32(f, teid);
    size_t body = f->n;
    if (ext) {
        be16(f, 0);  /* sequence */
        u8(f, 0);    /* N-PDU */
        u8(f, 0x85); /* PDU session container */
        u8(f, 1);    /* 4 bytes */
        be16(f, 0x0009);
        u8(f, 0); /* no more */
    }
    size_t ip = ip4(f, 6, rev ? B4 : A4, rev ? A4 : B4);
    tcp(f, rev ? 443 : 40000, rev ? 40000 : 443);
    put(f, PAY, PAYLEN);
    ip4_end(f, ip);
    patch16(f, len_at, f->n - body);
    udp_end(f, u);
    ip4_end(f, o);
}

static void test_decode_gtpu_with_extension(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    gtp_frame(&f, O1, O2, 0x11111111, 0, 1);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    assert_true(p.tunnels & KSD_TUN_GTP);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 28 + 6, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 28 + 8 + 6, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 28 + 16 + 6, KSD_DEC_TRUNC_IP);

    struct fb g = f;
    g.b[14 + 28 + 12] = 0; /* extension length 0 */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);
    g = f;
    patch16(&g, 14 + 28 + 2, 3000); /* GTP length past the UDP payload */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_TUNNEL);

    struct fb h = {0};
    gtp_frame(&h, O1, O2, 0x1, 0, 0);
    assert_int_equal(dec(KSD_DLT_EN10MB, &h, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    h.b[14 + 28 + 1] = 1; /* echo request: plain UDP */
    assert_int_equal(dec(KSD_DLT_EN10MB, &h, &p), KSD_DEC_OK);
    assert_int_equal(p.dport, 2152);
    assert_int_equal(p.tunnels, 0);
}

static void teredo_frame(struct fb *f, int origin, int auth)
{
    size_t o = outer4(f, 17, O1, O2);
    size_t u = udp(f, 3544, 50001);
    if (auth) {
        be16(f, 0x0001);
        u8(f, 2); /* id length */
        u8(f, 3); /* auth length */
        put(f, "idaut", 5);
        zeros(f, 8 + 1);
    }
    if (origin) {
        be16(f, 0x0000);
        be16(f, 0xffff);
        be32(f, 0x3f00ff00);
    }
    inner_udp6(f);
    udp_end(f, u);
    ip4_end(f, o);
}

static void test_decode_teredo(void **state)
{
    (void)state;
    struct ksd_pkt p;
    for (int v = 0; v < 4; v++) {
        struct fb f = {0};
        teredo_frame(&f, v & 1, v & 2);
        assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
        expect_udp6(&p);
        assert_true(p.tunnels & KSD_TUN_TEREDO);
        check_prefixes(KSD_DLT_EN10MB, &f);
    }
    /* UDP 3544 whose payload is not exactly an IPv6 packet: plain UDP */
    struct fb g = {0};
    teredo_frame(&g, 0, 0);
    patch16(&g, 14 + 28 + 4, PAYLEN + 8 + 1);
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_OK);
    assert_int_equal(p.tunnels, 0);
    assert_int_equal(p.sport, 3544);
    assert_int_equal(p.family, 4);
}

/* ------------------------------------------------------------ IP in IP */

static void test_decode_ip_in_ip_all_four(void **state)
{
    (void)state;
    struct ksd_pkt p;
    for (int v = 0; v < 4; v++) {
        struct fb f = {0};
        int out6 = v & 1, in6 = v & 2;
        size_t o;
        if (out6) {
            eth(&f, 0x86dd);
            o = ip6(&f, in6 ? 41 : 4, B6, A6);
        } else {
            eth(&f, 0x0800);
            o = ip4(&f, in6 ? 41 : 4, O1, O2);
        }
        if (in6)
            inner_udp6(&f);
        else
            inner_udp4(&f);
        if (out6)
            ip6_end(&f, o);
        else
            ip4_end(&f, o);
        assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
        if (in6)
            expect_udp6(&p);
        else
            expect_udp4(&p);
        assert_true(p.tunnels & KSD_TUN_IPIP);
        assert_int_equal(p.layers, 1);
        assert_int_not_equal(p.ctx, 0);
        check_prefixes(KSD_DLT_EN10MB, &f);
    }
}

static void nest_ipip(struct fb *f, int depth)
{
    size_t at[KSD_MAX_LAYERS + 2];
    eth(f, 0x0800);
    for (int i = 0; i < depth; i++)
        at[i] = ip4(f, 4, O1, O2);
    inner_udp4(f);
    for (int i = depth - 1; i >= 0; i--)
        ip4_end(f, at[i]);
}

static void test_decode_nesting_limit(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0};
    nest_ipip(&f, KSD_MAX_LAYERS);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_int_equal(p.layers, KSD_MAX_LAYERS);
    struct fb g = {0};
    nest_ipip(&g, KSD_MAX_LAYERS + 1);
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_TOO_DEEP);
}

/* ---------------------------------------------------------------- IPv6 */

static void test_decode_ipv6_extension_chain(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x86dd);
    size_t ip = ip6(&f, 0, A6, B6);
    u8(&f, 43); /* hop-by-hop -> routing */
    u8(&f, 0);
    zeros(&f, 6);
    u8(&f, 60); /* routing -> destination options, 16 bytes */
    u8(&f, 1);
    zeros(&f, 14);
    u8(&f, 51); /* destination options -> AH */
    u8(&f, 0);
    zeros(&f, 6);
    u8(&f, 17); /* AH -> UDP, (1 + 2) * 4 = 12 bytes */
    u8(&f, 1);
    zeros(&f, 10);
    size_t u = udp(&f, 1111, 53);
    put(&f, PAY, PAYLEN);
    udp_end(&f, u);
    ip6_end(&f, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp6(&p);
    check_prefixes(KSD_DLT_EN10MB, &f);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 40 + 1, KSD_DEC_TRUNC_IP);
    expect_cut(KSD_DLT_EN10MB, &f, 14 + 40 + 8 + 10, KSD_DEC_TRUNC_IP);

    struct fb g = f;
    g.b[14 + 40 + 8 + 1] = 200; /* routing header longer than the payload */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_IP6_EXT);
    g = f;
    g.b[14 + 40 + 8] = 0; /* hop-by-hop not first */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_BAD_IP6_EXT);
}

static void test_decode_ipv6_too_many_extensions(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x86dd);
    size_t ip = ip6(&f, 60, A6, B6);
    for (int i = 0; i < KSD_MAX_IPV6_EXT + 1; i++) {
        u8(&f, i < KSD_MAX_IPV6_EXT ? 60 : 17);
        u8(&f, 0);
        zeros(&f, 6);
    }
    size_t u = udp(&f, 1111, 53);
    put(&f, PAY, PAYLEN);
    udp_end(&f, u);
    ip6_end(&f, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_BAD_IP6_EXT);
}

static void test_decode_ipv6_no_next_header(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x86dd);
    size_t ip = ip6(&f, 59, A6, B6);
    ip6_end(&f, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    assert_int_equal(p.proto, 59);
    assert_int_equal(p.payload_len, 0);
    assert_int_equal(p.sport, 0);
}

/* ------------------------------------------------------------ fragments */

static void test_decode_ipv4_fragments_reported(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    inner_udp4(&f);
    patch16(&f, 14 + 6, 0x2000); /* MF, offset 0 */
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_FRAGMENT);
    assert_int_equal(p.family, 4);
    assert_memory_equal(p.src, A4, 4);
    assert_memory_equal(p.dst, B4, 4);
    assert_int_equal(p.frag.id, 0x1234);
    assert_int_equal(p.frag.offset, 0);
    assert_int_equal(p.frag.more, 1);
    assert_int_equal(p.frag.next, 17);
    assert_ptr_equal(p.frag.hdr, f.b + 14);
    assert_int_equal(p.frag.hdr_len, 20);
    assert_ptr_equal(p.frag.data, f.b + 34);
    assert_int_equal(p.frag.data_len, 8 + PAYLEN);
    assert_int_equal(p.frag.wire_len, 8 + PAYLEN);

    patch16(&f, 14 + 6, 0x0003); /* offset 24, last */
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_FRAGMENT);
    assert_int_equal(p.frag.offset, 24);
    assert_int_equal(p.frag.more, 0);
}

/* A first fragment the capture cut can never be reassembled: decoded as far
 * as it goes, like any cut packet (ndpi_badpackets.pcap). */
static void test_decode_cut_first_fragment_decoded(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 17, A4, B4);
    size_t u = udp(&f, 53, 1111);
    put(&f, PAY, PAYLEN);
    zeros(&f, 100);
    udp_end(&f, u);
    ip4_end(&f, ip);
    patch16(&f, 14 + 20 + 4, 3000); /* the whole datagram is 3000 bytes */
    patch16(&f, 14 + 6, 0x2000);
    assert_int_equal(ksd_decode(KSD_DLT_EN10MB, f.b, 14 + 20 + 8 + PAYLEN, &p), KSD_DEC_OK);
    assert_int_equal(p.sport, 53);
    assert_int_equal(p.payload_len, PAYLEN);
    assert_int_equal(p.wire_payload_len, 3000 - 8);
    assert_memory_equal(p.payload, PAY, PAYLEN);
    /* the same fragment captured whole goes to reassembly */
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_FRAGMENT);
}

static void test_decode_ipv6_fragment_header(void **state)
{
    (void)state;
    struct fb f = {0};
    struct ksd_pkt p;
    eth(&f, 0x86dd);
    size_t ip = ip6(&f, 0, A6, B6);
    u8(&f, 44); /* hop-by-hop -> fragment */
    u8(&f, 0);
    zeros(&f, 6);
    u8(&f, 17);
    u8(&f, 0);
    be16(&f, (1u << 3) | 1); /* offset 8, M */
    be32(&f, 0xcafe);
    put(&f, "01234567", 8);
    ip6_end(&f, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_FRAGMENT);
    assert_int_equal(p.family, 6);
    assert_memory_equal(p.src, A6, 16);
    assert_int_equal(p.frag.id, 0xcafe);
    assert_int_equal(p.frag.offset, 8);
    assert_int_equal(p.frag.more, 1);
    assert_int_equal(p.frag.next, 17);
    assert_int_equal(p.frag.hdr_len, 48);
    assert_int_equal(p.frag.nh_off, 40);
    assert_int_equal(p.frag.data_len, 8);
    assert_memory_equal(p.frag.data, "01234567", 8);

    /* atomic fragment: offset 0, no M: decoded on */
    struct fb g = {0};
    eth(&g, 0x86dd);
    ip = ip6(&g, 44, A6, B6);
    u8(&g, 17);
    u8(&g, 0);
    be16(&g, 0);
    be32(&g, 1);
    size_t u = udp(&g, 1111, 53);
    put(&g, PAY, PAYLEN);
    udp_end(&g, u);
    ip6_end(&g, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_OK);
    expect_udp6(&p);
    expect_cut(KSD_DLT_EN10MB, &g, 14 + 40 + 5, KSD_DEC_TRUNC_IP);

    /* a cut first fragment (offset 0, M) is decoded as far as it goes */
    g.b[14 + 40 + 3] = 1;
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_FRAGMENT);
    assert_int_equal(ksd_decode(KSD_DLT_EN10MB, g.b, g.n - 2, &p), KSD_DEC_OK);
    assert_int_equal(p.sport, 1111);
    assert_int_equal(p.payload_len, PAYLEN - 2);
    assert_int_equal(p.wire_payload_len, PAYLEN);
}

/* ----------------------------------------------------------------- ICMP */

static void test_decode_icmp_errors_not_dissected(void **state)
{
    (void)state;
    struct ksd_pkt p;
    static const uint8_t err4[] = {3, 11, 12, 5, 4};
    for (size_t i = 0; i < sizeof(err4); i++) {
        struct fb f = {0};
        eth(&f, 0x0800);
        size_t ip = ip4(&f, 1, O1, O2);
        u8(&f, err4[i]);
        u8(&f, 0);
        be16(&f, 0);
        be32(&f, 0);
        inner_udp4(&f); /* the quoted packet */
        ip4_end(&f, ip);
        assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_ICMP_ERROR);
    }
    struct fb e = {0};
    eth(&e, 0x0800);
    size_t ip = ip4(&e, 1, O1, O2);
    u8(&e, 8); /* echo request */
    u8(&e, 0);
    zeros(&e, 6);
    ip4_end(&e, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &e, &p), KSD_DEC_OK);
    assert_int_equal(p.proto, 1);
    assert_int_equal(p.sport, 0);
    assert_int_equal(p.dport, 0);
    assert_int_equal(p.payload_len, 8);

    struct fb g = {0};
    eth(&g, 0x86dd);
    ip = ip6(&g, 58, A6, B6);
    u8(&g, 1); /* destination unreachable */
    zeros(&g, 7);
    inner_udp6(&g);
    ip6_end(&g, ip);
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_ICMP_ERROR);
    g.b[14 + 40] = 128; /* echo request */
    assert_int_equal(dec(KSD_DLT_EN10MB, &g, &p), KSD_DEC_OK);
    assert_int_equal(p.proto, 58);
    assert_int_equal(p.sport, 0);
}

/* ----------------------------------------------------------- link types */

static void test_decode_linux_sll_and_sll2(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0};
    be16(&f, 0);  /* packet type */
    be16(&f, 1);  /* ARPHRD_ETHER */
    be16(&f, 6);  /* address length */
    zeros(&f, 8); /* address */
    be16(&f, 0x0800);
    inner_tcp4(&f);
    assert_int_equal(dec(KSD_DLT_LINUX_SLL, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    check_prefixes(KSD_DLT_LINUX_SLL, &f);
    expect_cut(KSD_DLT_LINUX_SLL, &f, 15, KSD_DEC_TRUNC_LINK);

    struct fb g = {0};
    be16(&g, 0x86dd);
    be16(&g, 0);
    be32(&g, 3); /* ifindex */
    be16(&g, 1);
    u8(&g, 0);
    u8(&g, 6);
    zeros(&g, 8);
    inner_udp6(&g);
    assert_int_equal(dec(KSD_DLT_LINUX_SLL2, &g, &p), KSD_DEC_OK);
    expect_udp6(&p);
    check_prefixes(KSD_DLT_LINUX_SLL2, &g);
    expect_cut(KSD_DLT_LINUX_SLL2, &g, 19, KSD_DEC_TRUNC_LINK);
}

static void test_decode_raw_ip_link_types(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f4 = {0}, f6 = {0};
    inner_udp4(&f4);
    inner_udp6(&f6);
    static const int raw[] = {KSD_DLT_RAW, KSD_DLT_RAW14, KSD_DLT_RAW101};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(dec(raw[i], &f4, &p), KSD_DEC_OK);
        expect_udp4(&p);
        assert_int_equal(dec(raw[i], &f6, &p), KSD_DEC_OK);
        expect_udp6(&p);
    }
    assert_int_equal(dec(KSD_DLT_IPV4, &f4, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_int_equal(dec(KSD_DLT_IPV6, &f6, &p), KSD_DEC_OK);
    expect_udp6(&p);
    assert_int_equal(dec(KSD_DLT_IPV4, &f6, &p), KSD_DEC_BAD_IP);
    check_prefixes(KSD_DLT_RAW101, &f4);
    expect_cut(KSD_DLT_RAW101, &f4, 0, KSD_DEC_TRUNC_IP);
    expect_cut(KSD_DLT_IPV6, &f6, 39, KSD_DEC_TRUNC_IP);
    assert_int_equal(ksd_decode(4242, f4.b, f4.n, &p), KSD_DEC_LINKTYPE);
}

static void test_decode_null_both_orders_and_loop(void **state)
{
    (void)state;
    struct ksd_pkt p;
    static const uint32_t fam6[] = {24, 28, 30};
    struct fb f = {0};
    be32(&f, 0x02000000); /* AF_INET, little-endian host */
    inner_udp4(&f);
    assert_int_equal(dec(KSD_DLT_NULL, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    f.b[0] = 0;
    f.b[3] = 2; /* big-endian host */
    assert_int_equal(dec(KSD_DLT_NULL, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_int_equal(dec(KSD_DLT_LOOP, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    expect_cut(KSD_DLT_NULL, &f, 3, KSD_DEC_TRUNC_LINK);
    for (size_t i = 0; i < 3; i++) {
        struct fb g = {0};
        u8(&g, fam6[i]);
        zeros(&g, 3);
        inner_udp6(&g);
        assert_int_equal(dec(KSD_DLT_NULL, &g, &p), KSD_DEC_OK);
        expect_udp6(&p);
    }
    struct fb h = {0};
    be32(&h, 23); /* AF_IPX or so */
    zeros(&h, 30);
    assert_int_equal(dec(KSD_DLT_NULL, &h, &p), KSD_DEC_NOT_IP);
}

static void test_decode_ppp_link(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0};
    u8(&f, 0xff);
    u8(&f, 0x03);
    be16(&f, 0x0021);
    inner_tcp4(&f);
    assert_int_equal(dec(KSD_DLT_PPP, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    check_prefixes(KSD_DLT_PPP, &f);
    struct fb g = {0};
    be16(&g, 0x0057); /* no address/control */
    inner_udp6(&g);
    assert_int_equal(dec(KSD_DLT_PPP, &g, &p), KSD_DEC_OK);
    expect_udp6(&p);
    struct fb h = {0};
    u8(&h, 0x21); /* compressed protocol field */
    inner_udp4(&h);
    assert_int_equal(dec(KSD_DLT_PPP, &h, &p), KSD_DEC_OK);
    expect_udp4(&p);
}

static void wlan_data(struct fb *f, int qos, int protected_)
{
    u8(f, qos ? 0x88 : 0x08);              /* type data, subtype QoS data / data */
    u8(f, 0x01 | (protected_ ? 0x40 : 0)); /* to DS */
    be16(f, 0);
    zeros(f, 18);
    le16(f, 0x0010); /* sequence 1, fragment 0 */
    if (qos)
        le16(f, 0);
    u8(f, 0xaa);
    u8(f, 0xaa);
    u8(f, 0x03);
    zeros(f, 3);
    be16(f, 0x0800);
    inner_tcp4(f);
}

static void test_decode_80211_radiotap_qos_and_plain(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0};
    u8(&f, 0);
    u8(&f, 0);
    le16(&f, 12);
    be32(&f, 0x02000000); /* flags present */
    be32(&f, 0);
    wlan_data(&f, 1, 0);
    assert_int_equal(dec(KSD_DLT_IEEE802_11_RADIO, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    check_prefixes(KSD_DLT_IEEE802_11_RADIO, &f);
    expect_cut(KSD_DLT_IEEE802_11_RADIO, &f, 10, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_IEEE802_11_RADIO, &f, 12 + 25, KSD_DEC_TRUNC_LINK);
    f.b[2] = 4; /* radiotap length below 8 */
    assert_int_equal(dec(KSD_DLT_IEEE802_11_RADIO, &f, &p), KSD_DEC_BAD_LINK);

    struct fb g = {0};
    wlan_data(&g, 0, 0);
    assert_int_equal(dec(KSD_DLT_IEEE802_11, &g, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    check_prefixes(KSD_DLT_IEEE802_11, &g);

    struct fb h = {0};
    wlan_data(&h, 0, 1);
    assert_int_equal(dec(KSD_DLT_IEEE802_11, &h, &p), KSD_DEC_NOT_IP);
    h.b[0] = 0x80; /* beacon */
    assert_int_equal(dec(KSD_DLT_IEEE802_11, &h, &p), KSD_DEC_NOT_IP);
}

static void test_decode_nflog_tlvs(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0};
    u8(&f, 2); /* AF_INET */
    u8(&f, 0);
    be16(&f, 0);
    le16(&f, 8); /* packet header TLV */
    le16(&f, 1);
    be32(&f, 0x08000300);
    le16(&f, 9); /* prefix, 5 bytes: padded to 8 */
    le16(&f, 10);
    put(&f, "abcd", 4);
    u8(&f, 0);
    zeros(&f, 3);
    size_t tl_at = f.n;
    le16(&f, 0);
    le16(&f, 9); /* payload */
    inner_tcp4(&f);
    size_t tl = f.n - tl_at;
    f.b[tl_at] = (uint8_t)tl;
    f.b[tl_at + 1] = (uint8_t)(tl >> 8);
    assert_int_equal(dec(KSD_DLT_NFLOG, &f, &p), KSD_DEC_OK);
    expect_tcp4(&p);
    check_prefixes(KSD_DLT_NFLOG, &f);
    expect_cut(KSD_DLT_NFLOG, &f, 6, KSD_DEC_TRUNC_LINK);
    expect_cut(KSD_DLT_NFLOG, &f, tl_at + 4 + 10, KSD_DEC_TRUNC_IP);
    struct fb g = f;
    g.b[4] = 2; /* TLV length below its header */
    assert_int_equal(dec(KSD_DLT_NFLOG, &g, &p), KSD_DEC_BAD_LINK);
    /* no payload TLV */
    assert_int_equal(ksd_decode(KSD_DLT_NFLOG, f.b, tl_at, &p), KSD_DEC_NOT_IP);
}

/* --------------------------------------------------------------- ctx */

static void test_decode_ctx_symmetric_vxlan(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0}, r = {0}, o = {0};
    vxlan_frame(&f, O1, O2, 4242, 0);
    vxlan_frame(&r, O2, O1, 4242, 1);
    vxlan_frame(&o, O1, O2, 4243, 0);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    uint32_t c1 = p.ctx;
    assert_int_equal(dec(KSD_DLT_EN10MB, &r, &p), KSD_DEC_OK);
    assert_int_equal(p.sport, 53);
    assert_int_equal(p.ctx, c1);
    assert_int_equal(dec(KSD_DLT_EN10MB, &o, &p), KSD_DEC_OK);
    assert_int_not_equal(p.ctx, c1);
}

/* GTP TEIDs differ per direction: ctx must not depend on them. */
static void test_decode_ctx_symmetric_gtp(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0}, r = {0}, o = {0};
    static const uint8_t O3[4] = {192, 0, 2, 3};
    gtp_frame(&f, O1, O2, 0x8c61be36, 0, 0);
    gtp_frame(&r, O2, O1, 0x0000b2b7, 1, 0);
    gtp_frame(&o, O1, O3, 0x8c61be36, 0, 0);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    uint32_t c1 = p.ctx;
    assert_int_not_equal(c1, 0);
    assert_int_equal(dec(KSD_DLT_EN10MB, &r, &p), KSD_DEC_OK);
    assert_int_equal(p.sport, 443);
    assert_int_equal(p.ctx, c1);
    assert_int_equal(dec(KSD_DLT_EN10MB, &o, &p), KSD_DEC_OK);
    assert_int_not_equal(p.ctx, c1); /* another tunnel endpoint */
}

/* Mirrored traffic keys GRE by direction (zeek_erspan-gre-teb.pcap: 0 and
 * 0x02000000): for TEB the key stays out of ctx. */
static void gre_teb_frame(struct fb *f, uint32_t key, int rev)
{
    size_t o = outer4(f, 47, O1, O2);
    be16(f, 0x2000);
    be16(f, 0x6558);
    be32(f, key);
    eth(f, 0x0800);
    size_t ip = ip4(f, 17, rev ? B4 : A4, rev ? A4 : B4);
    size_t u = udp(f, rev ? 53 : 1111, rev ? 1111 : 53);
    put(f, PAY, PAYLEN);
    udp_end(f, u);
    ip4_end(f, ip);
    ip4_end(f, o);
}

static void test_decode_ctx_mirror_gre_key_ignored(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0}, r = {0};
    gre_teb_frame(&f, 0, 0);
    gre_teb_frame(&r, 0x02000000, 1);
    assert_int_equal(dec(KSD_DLT_EN10MB, &f, &p), KSD_DEC_OK);
    expect_udp4(&p);
    uint32_t c1 = p.ctx;
    assert_int_equal(dec(KSD_DLT_EN10MB, &r, &p), KSD_DEC_OK);
    assert_int_equal(p.ctx, c1);
}

static void test_decode_ip_keeps_outer_context(void **state)
{
    (void)state;
    struct ksd_pkt p;
    struct fb f = {0};
    inner_udp4(&f);
    memset(&p, 0xab, sizeof(p));
    p.ctx = 77;
    p.vlan = 5;
    p.layers = 2;
    p.tunnels = KSD_TUN_GTP;
    assert_int_equal(ksd_decode_ip(f.b, f.n, &p), KSD_DEC_OK);
    expect_udp4(&p);
    assert_int_equal(p.ctx, 77);
    assert_int_equal(p.vlan, 5);
    assert_int_equal(p.layers, 2);
    assert_int_equal(p.tunnels, KSD_TUN_GTP);
    assert_int_equal(ksd_decode_ip(NULL, 0, &p), KSD_DEC_TRUNC_IP);
}

static void test_decode_reason_names_stable(void **state)
{
    (void)state;
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_OK), "ok");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_NOT_IP), "not_ip");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_FRAGMENT), "fragment");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_LINKTYPE), "linktype");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_TRUNC_LINK), "trunc_link");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_TRUNC_IP), "trunc_ip");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_TRUNC_L4), "trunc_l4");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_BAD_IP), "bad_ip");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_BAD_IP6_EXT), "bad_ip6_ext");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_BAD_TCP), "bad_tcp");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_BAD_UDP), "bad_udp");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_BAD_TUNNEL), "bad_tunnel");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_TOO_DEEP), "too_deep");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_ICMP_ERROR), "icmp_error");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC_BAD_LINK), "bad_link");
    assert_string_equal(ksd_decode_reason_name(-1), "unknown");
    assert_string_equal(ksd_decode_reason_name(KSD_DEC__COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_eth_ipv4_tcp),
        cmocka_unit_test(test_decode_eth_padding_not_payload),
        cmocka_unit_test(test_decode_ipv4_options),
        cmocka_unit_test(test_decode_ipv4_tso_zero_length),
        cmocka_unit_test(test_decode_bad_ip_headers),
        cmocka_unit_test(test_decode_bad_tcp_and_udp),
        cmocka_unit_test(test_decode_eth_8023_llc_snap),
        cmocka_unit_test(test_decode_arp_not_ip),
        cmocka_unit_test(test_decode_vlan_single),
        cmocka_unit_test(test_decode_vlan_qinq_variants),
        cmocka_unit_test(test_decode_vlan_tag_limit),
        cmocka_unit_test(test_decode_mpls_ipv4_ipv6),
        cmocka_unit_test(test_decode_mpls_pseudowire_ethernet),
        cmocka_unit_test(test_decode_mpls_label_limit),
        cmocka_unit_test(test_decode_pppoe_session),
        cmocka_unit_test(test_decode_inner_ip_longer_than_outer_is_bounded),
        cmocka_unit_test(test_decode_gre_ipv4_key_seq_csum),
        cmocka_unit_test(test_decode_gre_teb_ethernet),
        cmocka_unit_test(test_decode_gre_erspan2),
        cmocka_unit_test(test_decode_gre_erspan1_no_header),
        cmocka_unit_test(test_decode_gre_erspan3_with_platform_subheader),
        cmocka_unit_test(test_decode_gre_pptp_ppp),
        cmocka_unit_test(test_decode_vxlan),
        cmocka_unit_test(test_decode_geneve_options_ethernet_and_ip),
        cmocka_unit_test(test_decode_gtpu_with_extension),
        cmocka_unit_test(test_decode_teredo),
        cmocka_unit_test(test_decode_ip_in_ip_all_four),
        cmocka_unit_test(test_decode_nesting_limit),
        cmocka_unit_test(test_decode_ipv6_extension_chain),
        cmocka_unit_test(test_decode_ipv6_too_many_extensions),
        cmocka_unit_test(test_decode_ipv6_no_next_header),
        cmocka_unit_test(test_decode_ipv4_fragments_reported),
        cmocka_unit_test(test_decode_cut_first_fragment_decoded),
        cmocka_unit_test(test_decode_ipv6_fragment_header),
        cmocka_unit_test(test_decode_icmp_errors_not_dissected),
        cmocka_unit_test(test_decode_linux_sll_and_sll2),
        cmocka_unit_test(test_decode_raw_ip_link_types),
        cmocka_unit_test(test_decode_null_both_orders_and_loop),
        cmocka_unit_test(test_decode_ppp_link),
        cmocka_unit_test(test_decode_80211_radiotap_qos_and_plain),
        cmocka_unit_test(test_decode_nflog_tlvs),
        cmocka_unit_test(test_decode_ctx_symmetric_vxlan),
        cmocka_unit_test(test_decode_ctx_symmetric_gtp),
        cmocka_unit_test(test_decode_ctx_mirror_gre_key_ignored),
        cmocka_unit_test(test_decode_ip_keeps_outer_context),
        cmocka_unit_test(test_decode_reason_names_stable),
    };
    return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
