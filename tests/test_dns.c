/*
 * test_dns.c - unit tests of dissectors/dns.c: questions, A/AAAA/CNAME and
 * HTTPS answers, name compression and its four hostile pointer cases, label
 * and name length limits, truncated responses, EDNS, TCP framing, name
 * rendering of unusual bytes, caps and the probe. Hostile inputs are
 * hand-built byte arrays; one case uses real bytes from the corpus
 * (ndpi_dns-invalid-chars.pcap).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dissectors/dns.h"
#include "dissectors/ksd.h"

/* ---------------------------------------------------------- builders */

struct buf {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct buf *w, unsigned v)
{
    assert_true(w->n < sizeof(w->b));
    w->b[w->n++] = (uint8_t)v;
}

static void put16(struct buf *w, unsigned v)
{
    put8(w, v >> 8);
    put8(w, v & 0xff);
}

static void put32(struct buf *w, uint32_t v)
{
    put16(w, v >> 16);
    put16(w, v & 0xffff);
}

static void putmem(struct buf *w, const void *p, size_t n)
{
    assert_true(n <= sizeof(w->b) - w->n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

/* Uncompressed wire name from "www.example.com" (no escapes). */
static void putname(struct buf *w, const char *dotted)
{
    const char *s = dotted;
    while (*s) {
        const char *e = strchr(s, '.');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        put8(w, (unsigned)l);
        putmem(w, s, l);
        s += l;
        if (*s == '.')
            s++;
    }
    put8(w, 0);
}

static void header(struct buf *w, unsigned id, unsigned flags, unsigned qd, unsigned an,
                   unsigned ns, unsigned ar)
{
    w->n = 0;
    put16(w, id);
    put16(w, flags);
    put16(w, qd);
    put16(w, an);
    put16(w, ns);
    put16(w, ar);
}

/* Record header after the owner name. */
static void rrhdr(struct buf *w, unsigned type, unsigned rclass, uint32_t ttl, unsigned rdlen)
{
    put16(w, type);
    put16(w, rclass);
    put32(w, ttl);
    put16(w, rdlen);
}

static struct ksd_dns_msg *new_msg(void)
{
    struct ksd_dns_msg *m = malloc(sizeof(*m));
    assert_non_null(m);
    memset(m, 0xa5, sizeof(*m)); /* garbage: the parser must set what it reports */
    return m;
}

/* ------------------------------------------------------------ basics */

static void test_dns_query_parsed(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 0x1234, 0x0100, 1, 0, 0, 0);
    putname(&w, "WWW.Kaspersky.COM");
    put16(&w, KSD_DNS_TYPE_A);
    put16(&w, 1);

    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->err, KSD_DNS_OK);
    assert_int_equal(m->id, 0x1234);
    assert_int_equal(m->flags, 0x0100);
    assert_int_equal(m->qr, 0);
    assert_int_equal(m->opcode, 0);
    assert_int_equal(m->tc, 0);
    assert_int_equal(m->rcode, 0);
    assert_int_equal(m->edns, 0);
    assert_int_equal(m->n_questions, 1);
    assert_string_equal(m->q[0].name, "www.kaspersky.com");
    assert_int_equal(m->q[0].qtype, 1);
    assert_int_equal(m->q[0].qclass, 1);
    assert_int_equal(m->n_answers, 0);
    free(m);
}

static void test_dns_root_name_is_empty(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 1, 0x0000, 1, 0, 0, 0);
    put8(&w, 0);
    put16(&w, 2); /* NS */
    put16(&w, 1);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->n_questions, 1);
    assert_string_equal(m->q[0].name, "");
    free(m);
}

/* Response: question kaspersky.com, answers with compressed owners:
 * www.kaspersky.com CNAME edge.kaspersky.com; edge A 1.2.3.4; edge AAAA. */
static size_t build_cname_response(struct buf *w)
{
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    header(w, 0xbeef, 0x8180, 1, 3, 0, 0);
    putname(w, "www.kaspersky.com"); /* at 12; "kaspersky.com" at 16 */
    put16(w, 1);
    put16(w, 1);
    /* answer 1: owner -> 12, CNAME edge + ptr 16 */
    put16(w, 0xc00c);
    rrhdr(w, KSD_DNS_TYPE_CNAME, 1, 300, 7);
    size_t edge = w->n;
    put8(w, 4);
    putmem(w, "edge", 4);
    put16(w, 0xc010);
    /* answer 2: owner -> edge, A */
    put16(w, 0xc000 | (unsigned)edge);
    rrhdr(w, KSD_DNS_TYPE_A, 1, 60, 4);
    putmem(w, "\x01\x02\x03\x04", 4);
    /* answer 3: owner -> edge, AAAA */
    put16(w, 0xc000 | (unsigned)edge);
    rrhdr(w, KSD_DNS_TYPE_AAAA, 1, 61, 16);
    putmem(w, v6, 16);
    return edge;
}

static void test_dns_a_aaaa_cname_answers(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    build_cname_response(&w);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->qr, 1);
    assert_int_equal(m->n_questions, 1);
    assert_string_equal(m->q[0].name, "www.kaspersky.com");
    assert_int_equal(m->n_answers, 3);

    assert_string_equal(m->an[0].owner, "www.kaspersky.com");
    assert_int_equal(m->an[0].type, KSD_DNS_TYPE_CNAME);
    assert_int_equal(m->an[0].ttl, 300);
    assert_int_equal(m->an[0].family, 0);
    assert_string_equal(m->an[0].target, "edge.kaspersky.com");

    assert_string_equal(m->an[1].owner, "edge.kaspersky.com");
    assert_int_equal(m->an[1].type, KSD_DNS_TYPE_A);
    assert_int_equal(m->an[1].rclass, 1);
    assert_int_equal(m->an[1].ttl, 60);
    assert_int_equal(m->an[1].family, 4);
    assert_memory_equal(m->an[1].addr, "\x01\x02\x03\x04", 4);
    assert_string_equal(m->an[1].target, "");

    assert_string_equal(m->an[2].owner, "edge.kaspersky.com");
    assert_int_equal(m->an[2].type, KSD_DNS_TYPE_AAAA);
    assert_int_equal(m->an[2].family, 6);
    assert_memory_equal(m->an[2].addr, v6, 16);
    free(m);
}

static void test_dns_read_name_cursor_after_first_pointer(void **state)
{
    (void)state;
    struct buf w;
    char name[KSD_DNS_NAME_BUF];

    size_t edge = build_cname_response(&w);
    /* the CNAME target "edge" + pointer: cursor must land right after the pointer */
    struct ksd_rd r = rd_make(w.b, w.n);
    rd_skip(&r, edge);
    assert_int_equal(ksd_dns_read_name(&r, w.b, w.n, name), 0);
    assert_string_equal(name, "edge.kaspersky.com");
    assert_int_equal(rd_off(&r), edge + 7);
    /* a name that is only a pointer: cursor advances by 2 */
    r = rd_make(w.b, w.n);
    rd_skip(&r, edge + 7);
    assert_int_equal(ksd_dns_read_name(&r, w.b, w.n, name), 0);
    assert_string_equal(name, "edge.kaspersky.com");
    assert_int_equal(rd_off(&r), edge + 9);
    /* uncompressed name: cursor after the root label */
    r = rd_make(w.b, w.n);
    rd_skip(&r, 12);
    assert_int_equal(ksd_dns_read_name(&r, w.b, w.n, name), 0);
    assert_string_equal(name, "www.kaspersky.com");
    assert_int_equal(rd_off(&r), 12 + 19);
}

/* --------------------------------------------------- pointer attacks */

static void expect_query_name_err(const uint8_t *msg, size_t len, size_t name_off, int err)
{
    char name[KSD_DNS_NAME_BUF];
    struct ksd_rd r = rd_make(msg, len);
    struct ksd_dns_msg *m = new_msg();

    rd_skip(&r, name_off);
    memcpy(name, "junk", 5);
    assert_int_equal(ksd_dns_read_name(&r, msg, len, name), -err);
    assert_string_equal(name, "");
    assert_int_equal(ksd_dns_parse(msg, len, m), KSD_EINVAL);
    assert_int_equal(m->err, err);
    assert_int_equal(m->n_questions, 0);
    free(m);
}

static void test_dns_ptr_to_self_rejected(void **state)
{
    (void)state;
    static const uint8_t msg[] = {0,    1,  1, 0, 0, 1, 0, 0, 0, 0, 0, 0, /* header */
                                  0xc0, 12,                               /* -> itself */
                                  0,    1,  0, 1};
    expect_query_name_err(msg, sizeof(msg), 12, KSD_DNS_ERR_PTR_LOOP);
}

static void test_dns_ptr_mutual_loop_rejected(void **state)
{
    (void)state;
    /* ID = c0 02 (pointer to offset 2), flags = c0 00 (pointer to offset 0):
     * question -> 2 -> 0 -> 2 ... */
    static const uint8_t msg[] = {0xc0, 2, 0xc0, 0, 0, 1, 0, 0, 0, 0, 0, 0, /* header */
                                  0xc0, 2, 0,    1, 0, 1};
    expect_query_name_err(msg, sizeof(msg), 12, KSD_DNS_ERR_PTR_LOOP);

    /* loop through a label: "a" + pointer back to the start of the name */
    static const uint8_t msg2[] = {0, 1, 1, 0,   0,    1,  0, 0, 0, 0,
                                   0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1};
    expect_query_name_err(msg2, sizeof(msg2), 12, KSD_DNS_ERR_PTR_LOOP);
}

static void test_dns_ptr_forward_rejected(void **state)
{
    (void)state;
    /* question name points forward to a well-formed name at offset 18 */
    static const uint8_t msg[] = {0,    1,  1, 0, 0, 1, 0, 0,   0, 0, 0, 0, /* header */
                                  0xc0, 18, 0, 1, 0, 1, 1, 'x', 0};
    expect_query_name_err(msg, sizeof(msg), 12, KSD_DNS_ERR_PTR_FORWARD);
}

static void test_dns_ptr_out_of_range_rejected(void **state)
{
    (void)state;
    static const uint8_t msg[] = {0,    1,    1, 0, 0, 1, 0, 0, 0, 0, 0, 0, /* header */
                                  0xff, 0xff, 0, 1, 0, 1};
    expect_query_name_err(msg, sizeof(msg), 12, KSD_DNS_ERR_PTR_RANGE);
    /* one past the end is out of range too */
    static const uint8_t msg2[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 18, 0, 1, 0, 1};
    expect_query_name_err(msg2, sizeof(msg2), 12, KSD_DNS_ERR_PTR_RANGE);
}

/* A chain of n backward pointers, each at a lower offset: the name at the
 * end of the chain is "a". Returns the offset of the first pointer. */
static size_t build_chain(struct buf *w, unsigned n)
{
    header(w, 1, 0x0100, 1, 0, 0, 0);
    size_t a = w->n; /* "a" */
    put8(w, 1);
    put8(w, 'a');
    put8(w, 0);
    size_t prev = a;
    for (unsigned i = 0; i < n; i++) {
        size_t here = w->n;
        put16(w, 0xc000 | (unsigned)prev);
        prev = here;
    }
    return prev;
}

static void test_dns_ptr_hop_cap(void **state)
{
    (void)state;
    struct buf w;
    char name[KSD_DNS_NAME_BUF];

    size_t start = build_chain(&w, KSD_DNS_MAX_PTRS);
    struct ksd_rd r = rd_make(w.b, w.n);
    rd_skip(&r, start);
    assert_int_equal(ksd_dns_read_name(&r, w.b, w.n, name), 0);
    assert_string_equal(name, "a");
    assert_int_equal(rd_off(&r), start + 2);

    start = build_chain(&w, KSD_DNS_MAX_PTRS + 1);
    r = rd_make(w.b, w.n);
    rd_skip(&r, start);
    assert_int_equal(ksd_dns_read_name(&r, w.b, w.n, name), -KSD_DNS_ERR_PTR_LOOP);
}

/* ------------------------------------------------------ length limits */

static void test_dns_label_len_limit(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();
    char label[64];

    memset(label, 'a', 63);
    label[63] = '\0';
    header(&w, 1, 0x0100, 1, 0, 0, 0);
    putname(&w, label);
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(strlen(m->q[0].name), 63);

    /* 64 = 0x40: the 01 label type, not a length */
    header(&w, 1, 0x0100, 1, 0, 0, 0);
    put8(&w, 64);
    for (int i = 0; i < 64; i++)
        put8(&w, 'a');
    put8(&w, 0);
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_EINVAL);
    assert_int_equal(m->err, KSD_DNS_ERR_LABEL_LEN);
    assert_int_equal(m->n_questions, 0);
    /* 0x80 (reserved 10 type) as well */
    w.b[12] = 0x80;
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_EINVAL);
    assert_int_equal(m->err, KSD_DNS_ERR_LABEL_LEN);
    free(m);
}

/* Name of `wire` bytes on the wire (labels of 63 and a last shorter one). */
static void put_long_name(struct buf *w, size_t wire)
{
    size_t left = wire - 1; /* root */
    while (left > 0) {
        size_t l = left - 1 > 63 ? 63 : left - 1;
        if (left - (l + 1) == 1) /* avoid a remainder of 1 (a lone length byte) */
            l--;
        put8(w, (unsigned)l);
        for (size_t i = 0; i < l; i++)
            put8(w, 'b');
        left -= l + 1;
    }
    put8(w, 0);
}

static void test_dns_name_len_limit(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 1, 0x0100, 1, 0, 0, 0);
    put_long_name(&w, 255);
    assert_int_equal(w.n, 12 + 255);
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->n_questions, 1);
    assert_int_equal(strlen(m->q[0].name), 253);

    header(&w, 1, 0x0100, 1, 0, 0, 0);
    put_long_name(&w, 256);
    assert_int_equal(w.n, 12 + 256);
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_EINVAL);
    assert_int_equal(m->err, KSD_DNS_ERR_NAME_LEN);
    assert_int_equal(m->n_questions, 0);
    free(m);
}

/* A name made long through a pointer is measured across the pointer too. */
static void test_dns_name_len_counts_across_pointers(void **state)
{
    (void)state;
    struct buf w;
    char name[KSD_DNS_NAME_BUF];

    header(&w, 1, 0x0100, 1, 0, 0, 0);
    put_long_name(&w, 200); /* at 12 */
    size_t second = w.n;
    put8(&w, 60);
    for (int i = 0; i < 60; i++)
        put8(&w, 'c');
    put16(&w, 0xc00c); /* 61 + 200 = 261 wire bytes */
    struct ksd_rd r = rd_make(w.b, w.n);
    rd_skip(&r, second);
    assert_int_equal(ksd_dns_read_name(&r, w.b, w.n, name), -KSD_DNS_ERR_NAME_LEN);
}

/* ------------------------------------------------- truncation, errors */

static void test_dns_short_header(void **state)
{
    (void)state;
    static const uint8_t msg[11] = {0x12, 0x34, 0x81, 0x80};
    struct ksd_dns_msg *m = new_msg();

    assert_int_equal(ksd_dns_parse(msg, sizeof(msg), m), KSD_ETRUNC);
    assert_int_equal(m->err, KSD_DNS_ERR_SHORT_HEADER);
    assert_int_equal(m->n_questions, 0);
    assert_int_equal(m->n_answers, 0);
    assert_int_equal(ksd_dns_parse(NULL, 0, m), KSD_ETRUNC);
    free(m);
}

static void test_dns_truncated_response_keeps_partial(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 7, 0x8180, 1, 2, 0, 0);
    putname(&w, "upd.kaspersky.com");
    put16(&w, 1);
    put16(&w, 1);
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_A, 1, 10, 4);
    putmem(&w, "\x0a\x00\x00\x01", 4);
    size_t second = w.n;
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_A, 1, 10, 4);
    putmem(&w, "\x0a\x00\x00\x02", 4);

    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->n_answers, 2);

    /* cut inside the second answer's RDATA, then inside its header */
    for (size_t cut = second; cut < w.n; cut++) {
        assert_int_equal(ksd_dns_parse(w.b, cut, m), KSD_ETRUNC);
        assert_int_equal(m->err, KSD_DNS_ERR_TRUNC_RR);
        assert_int_equal(m->n_questions, 1);
        assert_string_equal(m->q[0].name, "upd.kaspersky.com");
        assert_int_equal(m->n_answers, 1);
        assert_memory_equal(m->an[0].addr, "\x0a\x00\x00\x01", 4);
    }
    /* cut inside the question */
    assert_int_equal(ksd_dns_parse(w.b, 20, m), KSD_ETRUNC);
    assert_int_equal(m->err, KSD_DNS_ERR_TRUNC_QUESTION);
    assert_int_equal(m->n_questions, 0);
    assert_int_equal(ksd_dns_parse(w.b, 12 + 19 + 3, m), KSD_ETRUNC);
    assert_int_equal(m->err, KSD_DNS_ERR_TRUNC_QUESTION);
    free(m);
}

/* As ndpi_malformed_dns.pcap: a second question with an over-long name is
 * stepped over and the answers are still read. */
static void test_dns_bad_name_skipped_parsing_continues(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 7, 0x8100, 2, 1, 0, 0);
    putname(&w, "www.xt.com");
    put16(&w, 1);
    put16(&w, 1);
    put_long_name(&w, 300);
    put16(&w, 1);
    put16(&w, 1);
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_A, 1, 0, 4);
    putmem(&w, "\x42\x42\x42\x42", 4);

    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_EINVAL);
    assert_int_equal(m->err, KSD_DNS_ERR_NAME_LEN);
    assert_int_equal(m->n_questions, 1);
    assert_string_equal(m->q[0].name, "www.xt.com");
    assert_int_equal(m->n_answers, 1);
    assert_string_equal(m->an[0].owner, "www.xt.com");
    assert_memory_equal(m->an[0].addr, "\x42\x42\x42\x42", 4);
    free(m);
}

static void test_dns_bad_rdata_dropped(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 7, 0x8180, 1, 3, 0, 0);
    putname(&w, "a.example");
    put16(&w, 1);
    put16(&w, 1);
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_A, 1, 0, 5); /* A with 5 bytes */
    putmem(&w, "\x01\x01\x01\x01\x01", 5);
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_CNAME, 1, 0, 2); /* CNAME pointing at itself */
    put16(&w, 0xc000 | (unsigned)(w.n));
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_A, 1, 0, 4);
    putmem(&w, "\x02\x02\x02\x02", 4);

    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_EINVAL);
    assert_int_equal(m->err, KSD_DNS_ERR_RDATA);
    assert_int_equal(m->n_answers, 1);
    assert_memory_equal(m->an[0].addr, "\x02\x02\x02\x02", 4);
    free(m);
}

/* ---------------------------------------------------- EDNS, HTTPS, mDNS */

static void test_dns_edns_opt(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 9, 0x0120, 1, 0, 0, 1);
    putname(&w, "ksn.kaspersky-labs.com");
    put16(&w, 1);
    put16(&w, 1);
    put8(&w, 0); /* root owner */
    rrhdr(&w, KSD_DNS_TYPE_OPT, 1232, 0, 12);
    put16(&w, 8); /* ECS option */
    put16(&w, 8);
    putmem(&w, "\x00\x01\x18\x00\xc0\x00\x02\x00", 8);

    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->edns, 1);
    assert_int_equal(m->edns_udp_size, 1232);
    assert_string_equal(m->q[0].name, "ksn.kaspersky-labs.com");
    free(m);
}

static void test_dns_https_hints(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();
    static const uint8_t v6[16] = {0x26, 0x06, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x10};

    header(&w, 9, 0x8180, 1, 2, 0, 0);
    putname(&w, "click.kaspersky.com");
    put16(&w, KSD_DNS_TYPE_HTTPS);
    put16(&w, 1);
    /* ServiceMode, TargetName ".", alpn=h2, ipv4hint 2 addrs, ipv6hint 1 */
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_HTTPS, 1, 300, 2 + 1 + 7 + 12 + 20);
    put16(&w, 1);
    put8(&w, 0);
    put16(&w, 1); /* alpn */
    put16(&w, 3);
    putmem(&w, "\x02h2", 3);
    put16(&w, 4); /* ipv4hint */
    put16(&w, 8);
    putmem(&w, "\x68\x10\x01\x01\x68\x10\x02\x02", 8);
    put16(&w, 6); /* ipv6hint */
    put16(&w, 16);
    putmem(&w, v6, 16);
    /* SVCB with a TargetName and no hints */
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_SVCB, 1, 30, 2 + 13);
    put16(&w, 1);
    putname(&w, "svc.example");

    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->q[0].qtype, KSD_DNS_TYPE_HTTPS);
    assert_int_equal(m->n_answers, 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(m->an[i].type, KSD_DNS_TYPE_HTTPS);
        assert_string_equal(m->an[i].owner, "click.kaspersky.com");
        assert_string_equal(m->an[i].target, "");
        assert_int_equal(m->an[i].ttl, 300);
    }
    assert_int_equal(m->an[0].family, 4);
    assert_memory_equal(m->an[0].addr, "\x68\x10\x01\x01", 4);
    assert_int_equal(m->an[1].family, 4);
    assert_memory_equal(m->an[1].addr, "\x68\x10\x02\x02", 4);
    assert_int_equal(m->an[2].family, 6);
    assert_memory_equal(m->an[2].addr, v6, 16);
    assert_int_equal(m->an[3].type, KSD_DNS_TYPE_SVCB);
    assert_int_equal(m->an[3].family, 0);
    assert_string_equal(m->an[3].target, "svc.example");

    /* an ipv4hint whose length is not a multiple of 4 drops the record */
    w.b[12 + 21 + 4 + 12 + 3 + 7 + 3] = 7;
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_EINVAL);
    assert_int_equal(m->err, KSD_DNS_ERR_RDATA);
    assert_int_equal(m->n_answers, 1);
    assert_int_equal(m->an[0].type, KSD_DNS_TYPE_SVCB);
    free(m);
}

static void test_dns_mdns_class_top_bit_masked(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 0, 0x8400, 1, 1, 0, 0);
    putname(&w, "printer.local");
    put16(&w, 1);
    put16(&w, 0x8001); /* QU bit */
    put16(&w, 0xc00c);
    rrhdr(&w, KSD_DNS_TYPE_A, 0x8001, 120, 4); /* cache-flush bit */
    putmem(&w, "\xc0\xa8\x01\x05", 4);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_int_equal(m->q[0].qclass, 1);
    assert_int_equal(m->an[0].rclass, 1);
    free(m);
}

/* ------------------------------------------------------------- caps */

static void test_dns_too_many_answers_capped(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();
    const unsigned n = KSD_DNS_MAX_ANSWERS + 6;

    header(&w, 3, 0x8180, 1, n, 0, 0);
    putname(&w, "many.example");
    put16(&w, 1);
    put16(&w, 1);
    for (unsigned i = 0; i < n; i++) {
        put16(&w, 0xc00c);
        rrhdr(&w, KSD_DNS_TYPE_A, 1, 1, 4);
        put32(&w, 0x0a000000u + i);
    }
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_ELIMIT);
    assert_int_equal(m->err, KSD_DNS_ERR_TOO_MANY);
    assert_int_equal(m->n_answers, KSD_DNS_MAX_ANSWERS);
    assert_memory_equal(m->an[KSD_DNS_MAX_ANSWERS - 1].addr, "\x0a\x00\x00\x3f", 4);
    free(m);
}

static void test_dns_too_many_questions_capped(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 3, 0x0000, KSD_DNS_MAX_QUESTIONS + 2, 0, 0, 1);
    putname(&w, "q.example");
    put16(&w, 1);
    put16(&w, 1);
    for (unsigned i = 1; i < KSD_DNS_MAX_QUESTIONS + 2; i++) {
        put16(&w, 0xc00c);
        put16(&w, 28);
        put16(&w, 1);
    }
    put8(&w, 0);
    rrhdr(&w, KSD_DNS_TYPE_OPT, 4096, 0, 0);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_ELIMIT);
    assert_int_equal(m->n_questions, KSD_DNS_MAX_QUESTIONS);
    assert_int_equal(m->q[7].qtype, 28);
    assert_int_equal(m->edns, 1); /* parsing went on past the extra questions */
    assert_int_equal(m->edns_udp_size, 4096);
    free(m);
}

/* ------------------------------------------------------- TCP framing */

static void test_dns_tcp_two_messages_in_one_buffer(void **state)
{
    (void)state;
    struct buf a, b;
    uint8_t s[1024];
    size_t n = 0, off, len;
    struct ksd_dns_msg *m = new_msg();

    header(&a, 1, 0x0100, 1, 0, 0, 0);
    putname(&a, "one.example");
    put16(&a, 1);
    put16(&a, 1);
    header(&b, 2, 0x0100, 1, 0, 0, 0);
    putname(&b, "two.example");
    put16(&b, 28);
    put16(&b, 1);
    s[n++] = (uint8_t)(a.n >> 8);
    s[n++] = (uint8_t)a.n;
    memcpy(s + n, a.b, a.n);
    n += a.n;
    s[n++] = (uint8_t)(b.n >> 8);
    s[n++] = (uint8_t)b.n;
    memcpy(s + n, b.b, b.n);
    n += b.n;

    assert_int_equal(ksd_dns_tcp_frame(s, n, &off, &len), KSD_OK);
    assert_int_equal(off, 2);
    assert_int_equal(len, a.n);
    assert_int_equal(ksd_dns_parse(s + off, len, m), KSD_OK);
    assert_string_equal(m->q[0].name, "one.example");
    size_t next = off + len;
    assert_int_equal(ksd_dns_tcp_frame(s + next, n - next, &off, &len), KSD_OK);
    assert_int_equal(len, b.n);
    assert_int_equal(ksd_dns_parse(s + next + off, len, m), KSD_OK);
    assert_string_equal(m->q[0].name, "two.example");
    assert_int_equal(m->q[0].qtype, 28);
    assert_int_equal(next + off + len, n);
    free(m);
}

static void test_dns_tcp_message_split_across_calls(void **state)
{
    (void)state;
    struct buf a;
    uint8_t s[512];
    size_t off = 99, len = 99;

    header(&a, 1, 0x0100, 1, 0, 0, 0);
    putname(&a, "split.example");
    put16(&a, 1);
    put16(&a, 1);
    s[0] = 0;
    s[1] = (uint8_t)a.n;
    memcpy(s + 2, a.b, a.n);
    for (size_t have = 0; have < a.n + 2; have++)
        assert_int_equal(ksd_dns_tcp_frame(s, have, &off, &len), KSD_EAGAIN);
    assert_int_equal(off, 99); /* untouched until complete */
    assert_int_equal(ksd_dns_tcp_frame(s, a.n + 2, &off, &len), KSD_OK);
    assert_int_equal(off, 2);
    assert_int_equal(len, a.n);

    static const uint8_t tiny[] = {0, 5, 1, 2, 3, 4, 5};
    assert_int_equal(ksd_dns_tcp_frame(tiny, sizeof(tiny), &off, &len), KSD_EINVAL);
}

/* --------------------------------------------------------- rendering */

static void test_dns_nonprintable_rendering(void **state)
{
    (void)state;
    /* UDP payload of ndpi_dns-invalid-chars.pcap frame 2 (response) */
    static const char hex[] = "9f6c818000010001000000000377777717616c6c796f7572626173657361"
                              "72650102036f6e67746f02636e0000010001c00c000100010000003c0004"
                              "13b98df1";
    uint8_t msg[sizeof(hex) / 2];
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    for (size_t i = 0; i < sizeof(msg); i++) {
        unsigned v;
        char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
        v = (unsigned)strtoul(two, NULL, 16);
        msg[i] = (uint8_t)v;
    }
    assert_int_equal(ksd_dns_parse(msg, sizeof(msg), m), KSD_OK);
    assert_string_equal(m->q[0].name, "www.allyourbasesare\\001\\002\\003ongto.cn");
    assert_int_equal(m->n_answers, 1);
    assert_string_equal(m->an[0].owner, "www.allyourbasesare\\001\\002\\003ongto.cn");
    assert_memory_equal(m->an[0].addr, "\x13\xb9\x8d\xf1", 4);

    /* C escapes, octal for other controls / DEL / high bytes, literal dot
     * and backslash, lower-casing, NUL */
    header(&w, 1, 0x0100, 1, 0, 0, 0);
    put8(&w, 9);
    putmem(&w, "A\x07\x08\x09\x0a\x0b\x0c\x0d\x7f", 9);
    put8(&w, 8);
    putmem(&w, "d.t\\\x00\x1f\x80\xff", 8);
    put8(&w, 5);
    putmem(&w, "UTF\xc3\xa9", 5);
    put8(&w, 0);
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    assert_string_equal(m->q[0].name, "a\\a\\b\\t\\n\\v\\f\\r\\177."
                                      "d.t\\\\000\\037\\200\\377."
                                      "utf\\303\\251");
    free(m);
}

/* Worst case rendering: 255 wire bytes of escaped bytes fit the buffer. */
static void test_dns_longest_escaped_name_fits(void **state)
{
    (void)state;
    struct buf w;
    struct ksd_dns_msg *m = new_msg();

    header(&w, 1, 0x0100, 1, 0, 0, 0);
    size_t left = 254;
    while (left > 1) {
        size_t l = left - 1 > 63 ? 63 : left - 1;
        put8(&w, (unsigned)l);
        for (size_t i = 0; i < l; i++)
            put8(&w, 0x01);
        left -= l + 1;
    }
    put8(&w, 0);
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_parse(w.b, w.n, m), KSD_OK);
    size_t n = strlen(m->q[0].name);
    assert_true(n < KSD_DNS_NAME_BUF);
    assert_int_equal(n, 250 * 4 + 3); /* 250 escaped bytes, 3 dots */
    free(m);
}

/* --------------------------------------------------------- probe, misc */

static void test_dns_probe(void **state)
{
    (void)state;
    struct buf w;

    header(&w, 0x4242, 0x0100, 1, 0, 0, 0);
    putname(&w, "example.com");
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_probe(w.b, w.n), 1);
    build_cname_response(&w);
    assert_int_equal(ksd_dns_probe(w.b, w.n), 1);

    static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_int_equal(ksd_dns_probe(http, sizeof(http) - 1), 0);
    static const uint8_t zero[64] = {0};
    assert_int_equal(ksd_dns_probe(zero, sizeof(zero)), 0);
    assert_int_equal(ksd_dns_probe(w.b, 11), 0);
    /* query with answers is not plausible */
    header(&w, 0x4242, 0x0100, 1, 1, 0, 0);
    putname(&w, "example.com");
    put16(&w, 1);
    put16(&w, 1);
    assert_int_equal(ksd_dns_probe(w.b, w.n), 0);
    /* unknown class */
    header(&w, 0x4242, 0x0100, 1, 0, 0, 0);
    putname(&w, "example.com");
    put16(&w, 1);
    put16(&w, 77);
    assert_int_equal(ksd_dns_probe(w.b, w.n), 0);
}

static void test_dns_err_names(void **state)
{
    (void)state;
    assert_string_equal(ksd_dns_err_name(KSD_DNS_ERR_PTR_LOOP), "ptr_loop");
    assert_string_equal(ksd_dns_err_name(-KSD_DNS_ERR_PTR_LOOP), "ptr_loop");
    assert_string_equal(ksd_dns_err_name(KSD_DNS_ERR_LABEL_LEN), "label_len");
    assert_string_equal(ksd_dns_err_name(KSD_DNS_ERR_TRUNC_RR), "trunc_rr");
    assert_string_equal(ksd_dns_err_name(KSD_DNS_OK), "ok");
    assert_string_equal(ksd_dns_err_name(KSD_DNS_ERR_COUNT), "unknown");
    assert_string_equal(ksd_dns_err_name(1000), "unknown");
    for (int e = 0; e < KSD_DNS_ERR_COUNT; e++)
        assert_string_not_equal(ksd_dns_err_name(e), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_query_parsed),
        cmocka_unit_test(test_dns_root_name_is_empty),
        cmocka_unit_test(test_dns_a_aaaa_cname_answers),
        cmocka_unit_test(test_dns_read_name_cursor_after_first_pointer),
        cmocka_unit_test(test_dns_ptr_to_self_rejected),
        cmocka_unit_test(test_dns_ptr_mutual_loop_rejected),
        cmocka_unit_test(test_dns_ptr_forward_rejected),
        cmocka_unit_test(test_dns_ptr_out_of_range_rejected),
        cmocka_unit_test(test_dns_ptr_hop_cap),
        cmocka_unit_test(test_dns_label_len_limit),
        cmocka_unit_test(test_dns_name_len_limit),
        cmocka_unit_test(test_dns_name_len_counts_across_pointers),
        cmocka_unit_test(test_dns_short_header),
        cmocka_unit_test(test_dns_truncated_response_keeps_partial),
        cmocka_unit_test(test_dns_bad_name_skipped_parsing_continues),
        cmocka_unit_test(test_dns_bad_rdata_dropped),
        cmocka_unit_test(test_dns_edns_opt),
        cmocka_unit_test(test_dns_https_hints),
        cmocka_unit_test(test_dns_mdns_class_top_bit_masked),
        cmocka_unit_test(test_dns_too_many_answers_capped),
        cmocka_unit_test(test_dns_too_many_questions_capped),
        cmocka_unit_test(test_dns_tcp_two_messages_in_one_buffer),
        cmocka_unit_test(test_dns_tcp_message_split_across_calls),
        cmocka_unit_test(test_dns_nonprintable_rendering),
        cmocka_unit_test(test_dns_longest_escaped_name_fits),
        cmocka_unit_test(test_dns_probe),
        cmocka_unit_test(test_dns_err_names),
    };
    return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
