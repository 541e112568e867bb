/*
 * test_decode.c - unit tests for dissectors/decode.c and decode_link.c:
 * every link type and the encapsulations below IP from hand-built bytes
 * (addresses, ports, payload checked), truncated variants with their
 * reasons, malformed headers, IPv6 extension chains, fragments, ICMP errors,
 * Ethernet padding and the reason names. Tunnels: test_decode_tunnel.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dissectors/decode.h"
#include "tests/decode_frames.h"

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

/* ksd_decode's shortcut for plain frames against the general walk: the same
 * result code and the same struct, byte for byte. */
static int same_as_walk(const uint8_t *f, size_t n)
{
    struct ksd_pkt a, b;
    int plain = ksd_decode_plain(f, n, &a) == KSD_DEC_OK;
    int rb = ksd_decode_walked(KSD_DLT_EN10MB, f, n, &b);
    if (plain) {
        assert_int_equal(rb, KSD_DEC_OK);
        assert_memory_equal(&a, &b, sizeof(a));
    }
    int ra = ksd_decode(KSD_DLT_EN10MB, f, n, &a);
    assert_int_equal(ra, rb);
    assert_memory_equal(&a, &b, sizeof(a));
    return plain;
}

/* Plain frames (IPv4 with and without options, IPv6; TCP with options, UDP,
 * UDP on tunnel ports), every byte of the first 80 set to each of six
 * values, and every length cut: whichever path a frame takes, the shortcut
 * and the walk agree. */
static void test_decode_shortcut_equals_walk(void **state)
{
    (void)state;
    static const uint8_t eth4[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
    static const uint8_t eth6[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd};
    uint8_t frames[8][160];
    size_t lens[8];
    int nf = 0;
    for (int v6 = 0; v6 < 2; v6++) {
        for (int kind = 0; kind < 4; kind++) { /* tcp, tcp + options, udp, udp to 4789 */
            uint8_t *f = frames[nf];
            memset(f, 0, 160);
            memcpy(f, v6 ? eth6 : eth4, 14);
            size_t iph = v6 ? 40 : (kind == 1 ? 24 : 20), l4h = kind < 2 ? (kind ? 32 : 20) : 8;
            size_t pay = 30, tot = iph + l4h + pay;
            uint8_t *ip = f + 14, *l4 = f + 14 + iph;
            if (v6) {
                ip[0] = 0x60;
                ip[4] = (uint8_t)((l4h + pay) >> 8);
                ip[5] = (uint8_t)(l4h + pay);
                ip[6] = kind < 2 ? 6 : 17;
                ip[7] = 64;
                ip[8] = 0x20;
                ip[23] = 1;
                ip[24] = 0x20;
                ip[39] = 2;
            } else {
                ip[0] = (uint8_t)(0x40 | iph / 4);
                ip[2] = (uint8_t)(tot >> 8);
                ip[3] = (uint8_t)tot;
                ip[8] = 64;
                ip[9] = kind < 2 ? 6 : 17;
                ip[12] = 10;
                ip[15] = 1;
                ip[16] = 10;
                ip[19] = 2;
            }
            l4[0] = 0x9c;
            l4[1] = 0x41;
            l4[2] = kind == 3 ? 0x12 : 0x01;
            l4[3] = kind == 3 ? 0xb5 : 0xbb;
            if (kind < 2) {
                l4[12] = (uint8_t)(l4h / 4 << 4);
                l4[13] = 0x18;
            } else {
                l4[4] = (uint8_t)((8 + pay) >> 8);
                l4[5] = (uint8_t)(8 + pay);
            }
            for (size_t i = 0; i < pay; i++)
                l4[l4h + i] = (uint8_t)(i * 37);
            lens[nf++] = 14 + tot + 4; /* Ethernet padding after the datagram */
        }
    }
    static const uint8_t vals[6] = {0x00, 0x01, 0x06, 0x11, 0x7f, 0xff};
    int shortcut = 0;
    for (int i = 0; i < nf; i++) {
        uint8_t *f = frames[i];
        /* the frames as built are plain, but for UDP to VXLAN's port */
        assert_int_equal(same_as_walk(f, lens[i]), i % 4 != 3);
        for (size_t n = 0; n <= lens[i]; n++)
            same_as_walk(f, n);
        for (size_t pos = 0; pos < 80 && pos < lens[i]; pos++) {
            uint8_t keep = f[pos];
            for (size_t v = 0; v < sizeof(vals); v++) {
                f[pos] = vals[v];
                shortcut += same_as_walk(f, lens[i]);
            }
            f[pos] = (uint8_t)(keep ^ 0x40);
            same_as_walk(f, lens[i]);
            f[pos] = keep;
        }
    }
    assert_true(shortcut > 1000); /* both paths were compared, not only the walk */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_shortcut_equals_walk),
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
        cmocka_unit_test(test_decode_reason_names_stable),
    };
    return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
