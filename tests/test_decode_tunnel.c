/*
 * test_decode_tunnel.c - unit tests for dissectors/decode_tunnel.c: GRE
 * (with key, sequence, checksum; TEB, ERSPAN I/II/III, PPTP), VXLAN, Geneve,
 * GTP-U, Teredo and IP-in-IP from hand-built bytes, the nesting limit, and
 * ctx: the same for both directions of a tunnelled flow, mirror GRE keys
 * ignored, the outer context kept by ksd_decode_ip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dissectors/decode.h"
#include "tests/decode_frames.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
        cmocka_unit_test(test_decode_ctx_symmetric_vxlan),
        cmocka_unit_test(test_decode_ctx_symmetric_gtp),
        cmocka_unit_test(test_decode_ctx_mirror_gre_key_ignored),
        cmocka_unit_test(test_decode_ip_keeps_outer_context),
    };
    return cmocka_run_group_tests_name("decode_tunnel", tests, NULL, NULL);
}
