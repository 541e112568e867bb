/*
 * test_ipfrag.c - unit tests for dissectors/ipfrag.c: fragments are built as
 * Ethernet frames, decoded by ksd_decode and offered to the reassembler; the
 * result goes back through ksd_decode_ip. Covers in-order, out-of-order,
 * duplicate and overlapping fragments (first data wins), timeouts, eviction,
 * IPv6 with an unfragmentable part, the fragment and size caps, invalid and
 * cut fragments, ctx separation and GTP-U over fragmented IPv4.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dissectors/decode.h"
#include "dissectors/ipfrag.h"
#include "dissectors/ksd.h"

struct fb {
    uint8_t b[70000];
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

static void patch16(uint8_t *b, size_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *b)
{
    return (unsigned)(b[0] << 8 | b[1]);
}

static const uint8_t A4[4] = {10, 0, 0, 1};
static const uint8_t B4[4] = {10, 0, 0, 2};
static const uint8_t A6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t B6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static void eth(struct fb *f, unsigned etype)
{
    static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6};
    put(f, macs, 12);
    be16(f, etype);
}

/* The IP payload of the test datagrams: UDP 1111 -> 53 with n bytes of
 * pattern data. */
static size_t udp_payload(uint8_t *out, size_t n, uint8_t seed)
{
    patch16(out, 1111);
    patch16(out + 2, 53);
    patch16(out + 4, 8 + n);
    patch16(out + 6, 0);
    for (size_t i = 0; i < n; i++)
        out[8 + i] = (uint8_t)(seed + i);
    return 8 + n;
}

/* Ethernet frame with one IPv4 fragment of `pl` (the datagram's IP payload). */
static void frag4(struct fb *f, uint16_t id, const uint8_t *pl, size_t off, size_t len, int more)
{
    f->n = 0;
    eth(f, 0x0800);
    u8(f, 0x45);
    u8(f, 0);
    be16(f, 20 + len);
    be16(f, id);
    be16(f, (more ? 0x2000 : 0) | (off / 8));
    u8(f, 64);
    u8(f, 17);
    be16(f, 0);
    put(f, A4, 4);
    put(f, B4, 4);
    put(f, pl + off, len);
}

/* Ethernet frame with one IPv6 fragment, optionally after a hop-by-hop header. */
static void frag6(struct fb *f, uint32_t id, const uint8_t *pl, size_t off, size_t len, int more,
                  int hbh)
{
    f->n = 0;
    eth(f, 0x86dd);
    be32(f, 0x60000000);
    be16(f, (hbh ? 8 : 0) + 8 + len);
    u8(f, hbh ? 0 : 44);
    u8(f, 64);
    put(f, A6, 16);
    put(f, B6, 16);
    if (hbh) {
        u8(f, 44);
        u8(f, 0);
        be16(f, 0x0104); /* PadN */
        be32(f, 0);
    }
    u8(f, 17);
    u8(f, 0);
    be16(f, (unsigned)off | (more ? 1 : 0));
    be32(f, id);
    put(f, pl + off, len);
}

struct res {
    int rc;
    const uint8_t *out;
    size_t out_len;
};

static struct res offer(struct ksd_ipfrag *fr, const struct fb *f, uint64_t now, uint32_t ctx)
{
    struct ksd_pkt p;
    struct res r = {0, NULL, 0};
    assert_int_equal(ksd_decode(KSD_DLT_EN10MB, f->b, f->n, &p), KSD_DEC_FRAGMENT);
    p.ctx = ctx;
    r.rc = ksd_ipfrag_add(fr, &p, now, &r.out, &r.out_len);
    return r;
}

static uint16_t csum(const uint8_t *h, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += get16(h + i);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* The rebuilt IPv4 datagram: header fixed, UDP payload as built. */
static void expect_dgram4(const struct res *r, const uint8_t *pl, size_t pl_len)
{
    struct ksd_pkt p;
    assert_int_equal(r->rc, 1);
    assert_int_equal(r->out_len, 20 + pl_len);
    assert_int_equal(get16(r->out + 2), 20 + pl_len);
    assert_int_equal(get16(r->out + 6), 0);
    assert_int_equal(csum(r->out, 20), 0xffff);
    assert_memory_equal(r->out + 20, pl, pl_len);
    memset(&p, 0, sizeof(p));
    assert_int_equal(ksd_decode_ip(r->out, r->out_len, &p), KSD_DEC_OK);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.dport, 53);
    assert_int_equal(p.payload_len, pl_len - 8);
    assert_memory_equal(p.src, A4, 4);
}

static void test_ipfrag_in_order(void **state)
{
    (void)state;
    static uint8_t pl[64];
    static struct fb f;
    size_t n = udp_payload(pl, 32, 1);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    assert_non_null(fr);
    frag4(&f, 7, pl, 0, 16, 1);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 7, pl, 16, 16, 1);
    assert_int_equal(offer(fr, &f, 2, 0).rc, 0);
    frag4(&f, 7, pl, 32, n - 32, 0);
    struct res r = offer(fr, &f, 3, 0);
    expect_dgram4(&r, pl, n);
    const struct ksd_ipfrag_stats *s = ksd_ipfrag_stats(fr);
    assert_int_equal(s->fragments, 3);
    assert_int_equal(s->reassembled, 1);
    assert_int_equal(s->overlaps, 0);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_out_of_order(void **state)
{
    (void)state;
    static uint8_t pl[128];
    static struct fb f;
    size_t n = udp_payload(pl, 100, 9);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 8, pl, 96, n - 96, 0);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 8, pl, 48, 48, 1);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 8, pl, 0, 48, 1);
    struct res r = offer(fr, &f, 1, 0);
    expect_dgram4(&r, pl, n);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_duplicate_counted_once(void **state)
{
    (void)state;
    static uint8_t pl[64];
    static struct fb f;
    size_t n = udp_payload(pl, 24, 3);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 9, pl, 0, 16, 1);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 9, pl, 16, n - 16, 0);
    struct res r = offer(fr, &f, 1, 0);
    expect_dgram4(&r, pl, n);
    assert_int_equal(ksd_ipfrag_stats(fr)->overlaps, 1);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_overlap_first_data_wins(void **state)
{
    (void)state;
    static uint8_t pl[64], evil[64];
    static struct fb f;
    size_t n = udp_payload(pl, 32, 0x40);
    memcpy(evil, pl, n);
    memset(evil + 16, 'X', 16);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 10, pl, 0, 24, 1); /* [0,24) honest */
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 10, evil, 16, 16, 1); /* [16,32): only [24,32) is new */
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 10, pl, 32, n - 32, 0);
    struct res r = offer(fr, &f, 1, 0);
    assert_int_equal(r.rc, 1);
    assert_memory_equal(r.out + 20, pl, 24);            /* first data kept */
    assert_memory_equal(r.out + 20 + 24, evil + 24, 8); /* the hole filled by the later one */
    assert_memory_equal(r.out + 20 + 32, pl + 32, n - 32);
    assert_int_equal(ksd_ipfrag_stats(fr)->overlaps, 1);

    /* the other way round: the rewrite came first, so it stays */
    frag4(&f, 11, evil, 16, 16, 1);
    assert_int_equal(offer(fr, &f, 2, 0).rc, 0);
    frag4(&f, 11, pl, 0, 24, 1);
    assert_int_equal(offer(fr, &f, 2, 0).rc, 0);
    frag4(&f, 11, pl, 32, n - 32, 0);
    r = offer(fr, &f, 2, 0);
    assert_int_equal(r.rc, 1);
    assert_memory_equal(r.out + 20, pl, 16);
    assert_memory_equal(r.out + 20 + 16, evil + 16, 16);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_timeout_drops_incomplete(void **state)
{
    (void)state;
    static uint8_t pl[64];
    static struct fb f;
    size_t n = udp_payload(pl, 24, 5);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    uint64_t t0 = 1000000;
    frag4(&f, 12, pl, 0, 16, 1);
    assert_int_equal(offer(fr, &f, t0, 0).rc, 0);
    frag4(&f, 12, pl, 16, n - 16, 0);
    assert_int_equal(offer(fr, &f, t0 + KSD_FRAG_TIMEOUT_US + 1, 0).rc, 0);
    assert_int_equal(ksd_ipfrag_stats(fr)->timeouts, 1);
    /* the late last fragment started a new datagram, which expire() drops */
    ksd_ipfrag_expire(fr, t0 + KSD_FRAG_TIMEOUT_US);
    assert_int_equal(ksd_ipfrag_stats(fr)->timeouts, 1);
    ksd_ipfrag_expire(fr, t0 + 2 * KSD_FRAG_TIMEOUT_US + 2);
    assert_int_equal(ksd_ipfrag_stats(fr)->timeouts, 2);
    /* just inside the timeout it still completes */
    frag4(&f, 13, pl, 0, 16, 1);
    assert_int_equal(offer(fr, &f, t0 * 100, 0).rc, 0);
    frag4(&f, 13, pl, 16, n - 16, 0);
    struct res r = offer(fr, &f, t0 * 100 + KSD_FRAG_TIMEOUT_US, 0);
    expect_dgram4(&r, pl, n);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_eviction_oldest_first(void **state)
{
    (void)state;
    static uint8_t pl[64];
    static struct fb f;
    size_t n = udp_payload(pl, 24, 6);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    for (unsigned id = 0; id <= KSD_MAX_FRAG_DATAGRAMS; id++) {
        frag4(&f, (uint16_t)id, pl, 0, 16, 1);
        assert_int_equal(offer(fr, &f, 10 + id, 0).rc, 0);
    }
    assert_int_equal(ksd_ipfrag_stats(fr)->evicted, 1);
    frag4(&f, 0, pl, 16, n - 16, 0); /* datagram 0 was evicted */
    assert_int_equal(offer(fr, &f, 5000, 0).rc, 0);
    assert_int_equal(ksd_ipfrag_stats(fr)->evicted, 2); /* and now datagram 1 */
    frag4(&f, 2, pl, 16, n - 16, 0);
    struct res r = offer(fr, &f, 5000, 0);
    expect_dgram4(&r, pl, n);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_ipv6_with_hop_by_hop(void **state)
{
    (void)state;
    static uint8_t pl[128];
    static struct fb f;
    struct ksd_pkt p;
    size_t n = udp_payload(pl, 70, 7);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag6(&f, 0xabcdef, pl, 40, n - 40, 0, 1);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag6(&f, 0xabcdef, pl, 0, 40, 1, 1);
    struct res r = offer(fr, &f, 1, 0);
    assert_int_equal(r.rc, 1);
    assert_int_equal(r.out_len, 40 + 8 + n);
    assert_int_equal(get16(r.out + 4), 8 + n);
    assert_int_equal(r.out[6], 0);   /* hop-by-hop still first */
    assert_int_equal(r.out[40], 17); /* and it now names UDP */
    assert_memory_equal(r.out + 48, pl, n);
    memset(&p, 0, sizeof(p));
    assert_int_equal(ksd_decode_ip(r.out, r.out_len, &p), KSD_DEC_OK);
    assert_int_equal(p.family, 6);
    assert_memory_equal(p.src, A6, 16);
    assert_int_equal(p.dport, 53);
    assert_int_equal(p.payload_len, 70);

    /* without extension headers the IPv6 next header itself is fixed */
    frag6(&f, 5, pl, 0, 40, 1, 0);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag6(&f, 5, pl, 40, n - 40, 0, 0);
    r = offer(fr, &f, 1, 0);
    assert_int_equal(r.rc, 1);
    assert_int_equal(r.out_len, 40 + n);
    assert_int_equal(r.out[6], 17);
    assert_int_equal(get16(r.out + 4), n);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_too_many_fragments(void **state)
{
    (void)state;
    static uint8_t pl[1024];
    static struct fb f;
    udp_payload(pl, 8 * (KSD_MAX_FRAGS_PER_DGRAM + 1), 8);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    for (int i = 0; i < KSD_MAX_FRAGS_PER_DGRAM; i++) {
        frag4(&f, 14, pl, (size_t)i * 8, 8, 1);
        assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    }
    frag4(&f, 14, pl, (size_t)KSD_MAX_FRAGS_PER_DGRAM * 8, 8, 1);
    assert_int_equal(offer(fr, &f, 1, 0).rc, KSD_ELIMIT);
    assert_int_equal(ksd_ipfrag_stats(fr)->too_big, 1);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_too_big_rejected(void **state)
{
    (void)state;
    static uint8_t pl[70000];
    static struct fb f;
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 15, pl, 65528, 16, 0); /* ends at 65544 */
    assert_int_equal(offer(fr, &f, 1, 0).rc, KSD_ELIMIT);
    frag4(&f, 15, pl, 65512, 8, 0); /* 20 + 65520 > 65535 */
    assert_int_equal(offer(fr, &f, 1, 0).rc, KSD_ELIMIT);
    assert_int_equal(ksd_ipfrag_stats(fr)->too_big, 2);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_invalid_fragments(void **state)
{
    (void)state;
    static uint8_t pl[128];
    static struct fb f;
    size_t n = udp_payload(pl, 40, 2);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 16, pl, 0, 12, 1); /* not a multiple of 8 */
    assert_int_equal(offer(fr, &f, 1, 0).rc, KSD_EINVAL);
    frag4(&f, 17, pl, 16, n - 16, 0);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 17, pl, 16, 8, 0); /* another end */
    assert_int_equal(offer(fr, &f, 1, 0).rc, KSD_EINVAL);
    frag4(&f, 17, pl, 0, 16, 1); /* the datagram was dropped */
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 18, pl, 0, 16, 1);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 18, pl, 8, 4, 0); /* last ends before data already seen */
    assert_int_equal(offer(fr, &f, 1, 0).rc, KSD_EINVAL);
    assert_int_equal(ksd_ipfrag_stats(fr)->invalid, 3);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_cut_fragment_refused(void **state)
{
    (void)state;
    static uint8_t pl[128];
    static struct fb f;
    struct ksd_pkt p;
    const uint8_t *out;
    size_t out_len;
    size_t n = udp_payload(pl, 40, 2);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 19, pl, 16, n - 16, 0);
    assert_int_equal(ksd_decode(KSD_DLT_EN10MB, f.b, f.n - 4, &p), KSD_DEC_FRAGMENT);
    assert_int_equal(ksd_ipfrag_add(fr, &p, 1, &out, &out_len), KSD_ETRUNC);
    assert_int_equal(ksd_ipfrag_stats(fr)->invalid, 1);
    ksd_ipfrag_free(fr);
}

static void test_ipfrag_ctx_keeps_datagrams_apart(void **state)
{
    (void)state;
    static uint8_t pl[64];
    static struct fb f;
    size_t n = udp_payload(pl, 24, 4);
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 20, pl, 0, 16, 1);
    assert_int_equal(offer(fr, &f, 1, 111).rc, 0);
    frag4(&f, 20, pl, 16, n - 16, 0);
    assert_int_equal(offer(fr, &f, 1, 222).rc, 0);
    struct res r = offer(fr, &f, 1, 111);
    expect_dgram4(&r, pl, n);
    ksd_ipfrag_free(fr);
}

/* Outer IPv4 fragmented, GTP-U inside (zeek_gtp1-gn-incl-fragmentation.pcap). */
static void test_ipfrag_gtp_over_fragmented_outer(void **state)
{
    (void)state;
    static uint8_t pl[2048];
    static struct fb f;
    /* outer UDP 2152 / GTP G-PDU / inner IPv4 / TCP / 1000 bytes */
    size_t inner_len = 20 + 20 + 1000;
    size_t gtp_len = 8 + inner_len;
    size_t n = 8 + gtp_len;
    patch16(pl, 2152);
    patch16(pl + 2, 2152);
    patch16(pl + 4, n);
    patch16(pl + 6, 0);
    uint8_t *g = pl + 8;
    g[0] = 0x30;
    g[1] = 0xff;
    patch16(g + 2, inner_len);
    memset(g + 4, 0x77, 4);
    uint8_t *ip = g + 8;
    memset(ip, 0, 40);
    ip[0] = 0x45;
    patch16(ip + 2, inner_len);
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, B4, 4);
    memcpy(ip + 16, A4, 4);
    patch16(ip + 20, 1923);
    patch16(ip + 22, 80);
    ip[32] = 0x50;
    ip[33] = 0x18;
    memcpy(ip + 40, "GET / HTTP/1.1\r\nHost: kaspersky.example\r\n", 41);

    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    frag4(&f, 21, pl, 0, 600, 1);
    assert_int_equal(offer(fr, &f, 1, 0).rc, 0);
    frag4(&f, 21, pl, 600, n - 600, 0);
    struct ksd_pkt p;
    const uint8_t *out;
    size_t out_len;
    assert_int_equal(ksd_decode(KSD_DLT_EN10MB, f.b, f.n, &p), KSD_DEC_FRAGMENT);
    assert_int_equal(ksd_ipfrag_add(fr, &p, 1, &out, &out_len), 1);
    assert_int_equal(ksd_decode_ip(out, out_len, &p), KSD_DEC_OK);
    assert_true(p.tunnels & KSD_TUN_GTP);
    assert_int_equal(p.proto, 6);
    assert_memory_equal(p.src, B4, 4);
    assert_int_equal(p.sport, 1923);
    assert_int_equal(p.dport, 80);
    assert_int_equal(p.payload_len, 1000);
    assert_memory_equal(p.payload, "GET / HTTP/1.1", 14);
    ksd_ipfrag_free(fr);
}

/* Random fragments: nothing crashes, leaks (ASan) or completes wrongly. */
static void test_ipfrag_garbage_survives(void **state)
{
    (void)state;
    static uint8_t pl[70000];
    static struct fb f;
    struct ksd_pkt p;
    const uint8_t *out;
    size_t out_len;
    uint32_t x = 12345;
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        size_t off = ((x >> 8) % 8200) * 8;
        size_t len = (x >> 3) % 64 + 1;
        frag4(&f, (uint16_t)(x % 7), pl, off, len, (x >> 30) & 1);
        if (ksd_decode(KSD_DLT_EN10MB, f.b, f.n, &p) != KSD_DEC_FRAGMENT)
            continue;
        int rc = ksd_ipfrag_add(fr, &p, (uint64_t)i * 1000, &out, &out_len);
        assert_true(rc == 0 || rc == 1 || rc == KSD_EINVAL || rc == KSD_ELIMIT);
        if (rc == 1)
            assert_true(out_len >= 20 && out_len <= 65535);
    }
    ksd_ipfrag_free(fr);
    ksd_ipfrag_free(NULL);
}

/* Memory accounting for the reassembly budget: two datagrams held, the
 * oldest named and dropped first (counted as evicted), a completed one
 * gives its memory back. */
static void test_ipfrag_mem_and_drop_oldest(void **state)
{
    (void)state;
    struct ksd_ipfrag *fr = ksd_ipfrag_new();
    static uint8_t pl[3000];
    struct fb f;
    uint64_t first = 0;
    size_t n = udp_payload(pl, 2000, 1);
    assert_int_equal(ksd_ipfrag_mem(fr), 0);
    assert_int_equal(ksd_ipfrag_oldest(fr, &first), 0);
    frag4(&f, 1, pl, 0, 1000, 1);
    assert_int_equal(offer(fr, &f, 100, 0).rc, 0);
    size_t one = ksd_ipfrag_mem(fr);
    assert_true(one >= 1000);
    frag4(&f, 2, pl, 0, 1000, 1);
    assert_int_equal(offer(fr, &f, 200, 0).rc, 0);
    assert_int_equal(ksd_ipfrag_mem(fr), 2 * one);
    assert_int_equal(ksd_ipfrag_oldest(fr, &first), 1);
    assert_int_equal(first, 100);
    ksd_ipfrag_drop_oldest(fr);
    assert_int_equal(ksd_ipfrag_stats(fr)->evicted, 1);
    assert_int_equal(ksd_ipfrag_mem(fr), one);
    assert_int_equal(ksd_ipfrag_oldest(fr, &first), 1);
    assert_int_equal(first, 200);
    frag4(&f, 2, pl, 1000, n - 1000, 0);
    assert_int_equal(offer(fr, &f, 300, 0).rc, 1);
    assert_int_equal(ksd_ipfrag_mem(fr), 0);
    ksd_ipfrag_free(fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipfrag_in_order),
        cmocka_unit_test(test_ipfrag_out_of_order),
        cmocka_unit_test(test_ipfrag_duplicate_counted_once),
        cmocka_unit_test(test_ipfrag_overlap_first_data_wins),
        cmocka_unit_test(test_ipfrag_timeout_drops_incomplete),
        cmocka_unit_test(test_ipfrag_eviction_oldest_first),
        cmocka_unit_test(test_ipfrag_ipv6_with_hop_by_hop),
        cmocka_unit_test(test_ipfrag_too_many_fragments),
        cmocka_unit_test(test_ipfrag_too_big_rejected),
        cmocka_unit_test(test_ipfrag_invalid_fragments),
        cmocka_unit_test(test_ipfrag_cut_fragment_refused),
        cmocka_unit_test(test_ipfrag_ctx_keeps_datagrams_apart),
        cmocka_unit_test(test_ipfrag_gtp_over_fragmented_outer),
        cmocka_unit_test(test_ipfrag_garbage_survives),
        cmocka_unit_test(test_ipfrag_mem_and_drop_oldest),
    };
    return cmocka_run_group_tests_name("ipfrag", tests, NULL, NULL);
}
