/*
 * test_netbios.c - unit tests of dissectors/netbios.c: a name registration
 * (question name, additional record with a compressed name), a positive
 * query response with two addresses, a query (binds nothing), a group name,
 * and hostile inputs (bad first-level encoding, cut records, a compressed
 * question name, too many scope labels). Packets are hand-built.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/netbios.h"

struct pkt {
    uint8_t b[512];
    size_t n;
};

static void put(struct pkt *p, const void *d, size_t n)
{
    assert_true(p->n + n <= sizeof(p->b));
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void put16(struct pkt *p, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(p, b, 2);
}

/* First-level encoding of a 15-byte space-padded name plus suffix, no scope. */
static void put_name(struct pkt *p, const char *name, uint8_t suffix)
{
    uint8_t raw[16], enc[34];
    memset(raw, ' ', 15);
    memcpy(raw, name, strlen(name));
    raw[15] = suffix;
    enc[0] = 32;
    for (int i = 0; i < 16; i++) {
        enc[1 + 2 * i] = (uint8_t)('A' + (raw[i] >> 4));
        enc[2 + 2 * i] = (uint8_t)('A' + (raw[i] & 15));
    }
    enc[33] = 0;
    put(p, enc, sizeof(enc));
}

static void header(struct pkt *p, unsigned flags, unsigned qd, unsigned an, unsigned ar)
{
    memset(p, 0, sizeof(*p));
    put16(p, 0x1234);
    put16(p, flags);
    put16(p, qd);
    put16(p, an);
    put16(p, 0);
    put16(p, ar);
}

static void nb_rr_tail(struct pkt *p, unsigned nbflags, const char *addr4, int naddr)
{
    put16(p, 0x20);
    put16(p, 1);
    put(p, "\x00\x04\x93\xe0", 4); /* TTL */
    put16(p, 6 * (unsigned)naddr);
    for (int i = 0; i < naddr; i++) {
        put16(p, nbflags);
        put(p, addr4 + 4 * i, 4);
    }
}

static void registration(struct pkt *p, const char *name, uint8_t suffix, unsigned nbflags)
{
    header(p, (5 << 11) | 0x0110, 1, 0, 1);
    put_name(p, name, suffix);
    put16(p, 0x20);
    put16(p, 1);
    put(p, "\xc0\x0c", 2);
    nb_rr_tail(p, nbflags, "\x0a\x4d\x00\x20", 1);
}

static void test_nbns_registration(void **state)
{
    (void)state;
    struct pkt p;
    struct ksd_nbns_msg m;
    registration(&p, "WKS-B32", 0x00, 0x0000);
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_OK);
    assert_false(m.response);
    assert_int_equal(m.opcode, KSD_NBNS_OP_REGISTRATION);
    assert_string_equal(m.name, "WKS-B32");
    assert_int_equal(m.suffix, 0);
    assert_false(m.group);
    assert_int_equal(m.n_addrs, 1);
    assert_memory_equal(m.addrs[0], "\x0a\x4d\x00\x20", 4);
    /* a group name */
    registration(&p, "WORKGROUP", 0x00, 0x8000);
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_OK);
    assert_true(m.group);
}

static void test_nbns_positive_answer(void **state)
{
    (void)state;
    struct pkt p;
    struct ksd_nbns_msg m;
    header(&p, 0x8500, 0, 1, 0);
    put_name(&p, "SRV-X", 0x20);
    nb_rr_tail(&p, 0, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 2);
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_OK);
    assert_true(m.response);
    assert_string_equal(m.name, "SRV-X");
    assert_int_equal(m.suffix, 0x20);
    assert_int_equal(m.n_addrs, 2);
    assert_memory_equal(m.addrs[1], "\x0a\x00\x00\x02", 4);
    /* a negative answer binds nothing */
    p.b[3] = 0x03; /* RCODE 3 */
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_ENOTSUP);
}

static void test_nbns_query_binds_nothing(void **state)
{
    (void)state;
    struct pkt p;
    struct ksd_nbns_msg m;
    header(&p, 0x0110, 1, 0, 0);
    put_name(&p, "OTHER", 0);
    put16(&p, 0x20);
    put16(&p, 1);
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_ENOTSUP);
}

static void test_nbns_hostile(void **state)
{
    (void)state;
    struct pkt p;
    struct ksd_nbns_msg m;
    assert_int_equal(ksd_nbns_parse((const uint8_t *)"\x12", 1, &m), KSD_ETRUNC);
    /* a byte outside 'A'..'P' in the encoded name */
    registration(&p, "WKS", 0, 0);
    p.b[13] = 'Z';
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_EINVAL);
    /* every cut of a registration fails cleanly */
    registration(&p, "WKS", 0, 0);
    for (size_t cut = 0; cut < p.n; cut++)
        assert_true(ksd_nbns_parse(p.b, cut, &m) < 0);
    /* a compressed question name is refused */
    header(&p, (5 << 11) | 0x0110, 1, 0, 1);
    put(&p, "\xc0\x0c", 2);
    put16(&p, 0x20);
    put16(&p, 1);
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_EINVAL);
    /* too many scope labels */
    header(&p, 0x8500, 0, 1, 0);
    put_name(&p, "X", 0);
    p.n--; /* drop the root byte: scope labels follow */
    for (int i = 0; i < KSD_NBNS_MAX_SCOPE_LABELS + 2; i++)
        put(&p, "\x01y", 2);
    put(&p, "\x00", 1);
    nb_rr_tail(&p, 0, "\x0a\x00\x00\x01", 1);
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_EINVAL);
    /* an unprintable byte in the name */
    registration(&p, "A\x01", 0, 0);
    assert_int_equal(ksd_nbns_parse(p.b, p.n, &m), KSD_OK);
    assert_string_equal(m.name, "A?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nbns_registration),
        cmocka_unit_test(test_nbns_positive_answer),
        cmocka_unit_test(test_nbns_query_binds_nothing),
        cmocka_unit_test(test_nbns_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
