/*
 * test_dhcp.c - unit tests of dissectors/dhcp.c: a REQUEST with host name,
 * FQDN in wire and ASCII form, vendor class and requested address; an ACK
 * with its lease; hostile inputs (no magic cookie, cut options, unprintable
 * names, an option list without end, too many options). Messages are
 * hand-built byte arrays.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dissectors/dhcp.h"
#include "dissectors/ksd.h"

struct msg {
    uint8_t b[1024];
    size_t n;
};

static void start(struct msg *m, uint8_t op)
{
    memset(m, 0, sizeof(*m));
    m->b[0] = op;
    m->b[1] = 1; /* Ethernet */
    m->b[2] = 6;
    m->b[4] = 0x12; /* xid 0x12345678 */
    m->b[5] = 0x34;
    m->b[6] = 0x56;
    m->b[7] = 0x78;
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x1f};
    memcpy(m->b + 28, mac, 6);
    m->n = 236;
    static const uint8_t cookie[4] = {0x63, 0x82, 0x53, 0x63};
    memcpy(m->b + m->n, cookie, 4);
    m->n += 4;
}

static void opt(struct msg *m, uint8_t code, const void *d, size_t n)
{
    m->b[m->n++] = code;
    m->b[m->n++] = (uint8_t)n;
    memcpy(m->b + m->n, d, n);
    m->n += n;
}

static void end(struct msg *m)
{
    m->b[m->n++] = 255;
}

static void test_dhcp_request(void **state)
{
    (void)state;
    struct msg m;
    struct ksd_dhcp_msg d;
    start(&m, 1);
    opt(&m, 53, "\x03", 1);
    opt(&m, 50, "\x0a\x4d\x00\x1f", 4);
    opt(&m, 12, "DESKTOP-A31\0", 12); /* a NUL-terminated host name */
    opt(&m, 81,
        "\x04\x00\x00\x0b"
        "desktop-a31\x04"
        "corp\x07"
        "example\x00",
        28);
    opt(&m, 60, "MSFT 5.0", 8);
    end(&m);
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_OK);
    assert_int_equal(d.op, 1);
    assert_int_equal(d.type, KSD_DHCP_REQUEST);
    assert_int_equal(d.xid, 0x12345678u);
    assert_true(d.has_mac);
    assert_int_equal(d.chaddr[5], 0x1f);
    assert_true(d.has_requested);
    assert_memory_equal(d.requested, "\x0a\x4d\x00\x1f", 4);
    assert_string_equal(d.host, "DESKTOP-A31");
    assert_string_equal(d.fqdn, "desktop-a31.corp.example");
    assert_string_equal(d.vendor, "MSFT 5.0");
    assert_false(d.has_lease);
}

static void test_dhcp_ack_lease_and_ascii_fqdn(void **state)
{
    (void)state;
    struct msg m;
    struct ksd_dhcp_msg d;
    start(&m, 2);
    memcpy(m.b + 16, "\x0a\x4d\x00\x1f", 4); /* yiaddr */
    m.b[m.n++] = 0;                          /* a pad byte: code 0, no length */
    opt(&m, 53, "\x05", 1);
    opt(&m, 51, "\x00\x00\x0e\x10", 4);
    opt(&m, 81, "\x00\x00\x00pc.example", 13); /* E flag clear: ASCII */
    end(&m);
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_OK);
    assert_int_equal(d.type, KSD_DHCP_ACK);
    assert_memory_equal(d.yiaddr, "\x0a\x4d\x00\x1f", 4);
    assert_true(d.has_lease);
    assert_int_equal(d.lease_s, 3600);
    assert_string_equal(d.fqdn, "pc.example");
}

static void test_dhcp_hostile(void **state)
{
    (void)state;
    struct msg m;
    struct ksd_dhcp_msg d;
    /* not DHCP: no cookie, bad op, too short */
    start(&m, 1);
    m.b[236] = 0;
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_EINVAL);
    start(&m, 3);
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_EINVAL);
    assert_int_equal(ksd_dhcp_parse(m.b, 100, &d), KSD_ETRUNC);
    /* an option longer than the message: fields before it are kept */
    start(&m, 1);
    opt(&m, 53, "\x01", 1);
    m.b[m.n++] = 12;
    m.b[m.n++] = 40;
    memcpy(m.b + m.n, "short", 5);
    m.n += 5;
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_ETRUNC);
    assert_int_equal(d.type, KSD_DHCP_DISCOVER);
    assert_string_equal(d.host, "");
    /* unprintable bytes become '?'; no end option is accepted */
    start(&m, 1);
    opt(&m, 12, "a\tb\xff\x01z", 6);
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_OK);
    assert_string_equal(d.host, "a?b??z");
    /* an option 81 wire name with a label running past the option */
    start(&m, 1);
    opt(&m, 81,
        "\x04\x00\x00\x05"
        "ab\x3f",
        7);
    end(&m);
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_OK);
    assert_string_equal(d.fqdn, "");
    /* option count cap: 300 pad-free one-byte options */
    start(&m, 1);
    for (int i = 0; i < 300 && m.n + 3 < sizeof(m.b); i++)
        opt(&m, 200, "x", 1);
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_ELIMIT);
    /* a non-Ethernet hardware address is not a MAC */
    start(&m, 1);
    m.b[1] = 6;
    end(&m);
    assert_int_equal(ksd_dhcp_parse(m.b, m.n, &d), KSD_OK);
    assert_false(d.has_mac);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dhcp_request),
        cmocka_unit_test(test_dhcp_ack_lease_and_ascii_fqdn),
        cmocka_unit_test(test_dhcp_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
