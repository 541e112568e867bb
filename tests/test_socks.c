/*
 * test_socks.c - the SOCKS client-request dissector (dissectors/socks.c):
 * SOCKS4 and SOCKS4a (the NEC/Koblas protocol notes), SOCKS5 (RFC 1928
 * sections 3-5) with and without the RFC 1929 username/password
 * sub-negotiation, over hand-built byte arrays. Each accepted request: the
 * target, port, command and version, the bytes consumed (trailing bytes are
 * not consumed), and every proper prefix answers "need more bytes"; malformed
 * requests are refused; the probe accepts the greetings and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dissectors/ksd.h"
#include "dissectors/socks.h"

struct good {
    const char *what;
    const uint8_t *p;
    size_t len;
    uint8_t version, command, is_name;
    const char *target;
    uint16_t port;
};

static const uint8_t s4_ip[] = {4, 1, 0x01, 0xbb, 192, 0, 2, 7, 'b', 'o', 'b', 0};
static const uint8_t s4a_name[] = {4,   1,   0x00, 0x50, 0,   0,   0,   1,   0,
                                   'D', 'S', '.',  'k',  'a', 's', 'p', 'e', 'r',
                                   's', 'k', 'y',  '.',  'c', 'o', 'm', 0};
static const uint8_t s4_bind[] = {4, 2, 0x1f, 0x90, 10, 0, 0, 1, 0};
static const uint8_t s5_name[] = {5,   1,   0x00, /* greeting: no auth */
                                  5,   1,   0,    3,   21,  's', '0',  '7', '.', 'u',
                                  'p', 'd', '.',  'K', 'A', 'S', 'P',  'E', 'R', 'S',
                                  'K', 'Y', '.',  'c', 'o', 'm', 0x01, 0xbb};
static const uint8_t s5_auth[] = {5, 2, 0x00, 0x02,                              /* greeting */
                                  1, 3, 'u',  's',  'r', 4, 'p', 'a', 's',  's', /* RFC 1929 */
                                  5, 1, 0,    1,    203, 0, 113, 9,   0x00, 0x50};
static const uint8_t s5_v6[] = {5, 1, 0x00, 5, 3, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0,   0,
                                0, 0, 0,    0, 0, 0, 0, 0,    0,    0x01, 0x13, 0x88};

static const struct good goods[] = {
    {"socks4 address", s4_ip, sizeof(s4_ip), 4, 1, 0, "192.0.2.7", 443},
    {"socks4a name", s4a_name, sizeof(s4a_name), 4, 1, 1, "ds.kaspersky.com", 80},
    {"socks4 bind", s4_bind, sizeof(s4_bind), 4, 2, 0, "10.0.0.1", 8080},
    {"socks5 name", s5_name, sizeof(s5_name), 5, 1, 1, "s07.upd.kaspersky.com", 443},
    {"socks5 user/password", s5_auth, sizeof(s5_auth), 5, 1, 0, "203.0.113.9", 80},
    {"socks5 ipv6 udp associate", s5_v6, sizeof(s5_v6), 5, 3, 0, "[2001:db8:0:0:0:0:0:1]", 5000},
};

/* Parse a copy of exactly n bytes (ASan sees any read past them). */
static int parse_n(const uint8_t *p, size_t n, struct ksd_socks_req *out, size_t *used)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    memcpy(c, p, n);
    int rc = ksd_socks_parse_client(c, n, out, used);
    free(c);
    return rc;
}

static void test_requests(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const struct good *g = &goods[i];
        struct ksd_socks_req q;
        size_t used = 0;
        if (parse_n(g->p, g->len, &q, &used) != KSD_OK)
            fail_msg("%s: not accepted", g->what);
        assert_int_equal(used, g->len);
        assert_int_equal(q.version, g->version);
        assert_int_equal(q.command, g->command);
        assert_int_equal(q.is_name, g->is_name);
        assert_string_equal(q.target, g->target);
        assert_int_equal(q.port, g->port);
        assert_true(ksd_socks_probe(g->p, g->len));
    }
}

/* Bytes after the request (the tunnelled TLS) are not consumed. */
static void test_trailing_bytes(void **state)
{
    (void)state;
    uint8_t buf[256];
    memcpy(buf, s5_name, sizeof(s5_name));
    memcpy(buf + sizeof(s5_name), "\x16\x03\x01\x02\x00", 5);
    struct ksd_socks_req q;
    size_t used;
    assert_int_equal(parse_n(buf, sizeof(s5_name) + 5, &q, &used), KSD_OK);
    assert_int_equal(used, sizeof(s5_name));
    assert_string_equal(q.target, "s07.upd.kaspersky.com");
}

/* Every proper prefix of an accepted request needs more bytes. */
static void test_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        for (size_t n = 0; n < goods[i].len; n++) {
            struct ksd_socks_req q;
            size_t used = 99;
            int rc = parse_n(goods[i].p, n, &q, &used);
            if (rc != KSD_EAGAIN)
                fail_msg("%s: prefix of %zu bytes gave %d", goods[i].what, n, rc);
            assert_int_equal(used, 0);
        }
    }
}

/* Malformed requests are refused. */
static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        uint8_t b[32];
        size_t len;
    } bad[] = {
        {"version 3", {3, 1, 0, 80, 1, 2, 3, 4, 0}, 9},
        {"socks4 command 3", {4, 3, 0, 80, 1, 2, 3, 4, 0}, 9},
        {"socks4a name with a control byte", {4, 1, 0, 80, 0, 0, 0, 1, 0, 'a', 1, 'b', 0}, 13},
        {"socks5 no methods", {5, 0, 5, 1, 0, 1, 1, 2, 3, 4, 0, 80}, 12},
        {"socks5 request version 4", {5, 1, 0, 4, 1, 0, 1, 1, 2, 3, 4, 0, 80}, 13},
        {"socks5 reserved byte set", {5, 1, 0, 5, 1, 1, 1, 1, 2, 3, 4, 0, 80}, 13},
        {"socks5 command 4", {5, 1, 0, 5, 4, 0, 1, 1, 2, 3, 4, 0, 80}, 13},
        {"socks5 address type 2", {5, 1, 0, 5, 1, 0, 2, 1, 2, 3, 4, 0, 80}, 13},
        {"socks5 empty name", {5, 1, 0, 5, 1, 0, 3, 0, 0, 80}, 10},
        {"socks5 name with a DEL byte", {5, 1, 0, 5, 1, 0, 3, 3, 'a', 0x7f, 'b', 0, 80}, 13},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ksd_socks_req q;
        size_t used = 99;
        int rc = parse_n(bad[i].b, bad[i].len, &q, &used);
        if (rc != KSD_EINVAL)
            fail_msg("%s: gave %d", bad[i].what, rc);
        assert_int_equal(used, 0);
    }
    /* a SOCKS4 user id longer than the cap */
    uint8_t big[8 + KSD_SOCKS_MAX_FIELD + 2];
    memcpy(big, "\x04\x01\x00\x50\x01\x02\x03\x04", 8);
    memset(big + 8, 'u', sizeof(big) - 8);
    big[sizeof(big) - 1] = 0;
    struct ksd_socks_req q;
    size_t used;
    assert_int_equal(parse_n(big, sizeof(big), &q, &used), KSD_EINVAL);
}

/* The probe: the SOCKS4 and SOCKS5 greetings, nothing else. */
static void test_probe(void **state)
{
    (void)state;
    assert_true(ksd_socks_probe((const uint8_t *)"\x04\x01", 2));
    assert_true(ksd_socks_probe((const uint8_t *)"\x04\x02", 2));
    assert_true(ksd_socks_probe((const uint8_t *)"\x05\x02\x00\x02", 4));
    assert_true(ksd_socks_probe((const uint8_t *)"\x05\x01\x80", 3)); /* private method */
    assert_false(ksd_socks_probe((const uint8_t *)"", 0));
    assert_false(ksd_socks_probe((const uint8_t *)"\x04", 1));
    assert_false(ksd_socks_probe((const uint8_t *)"\x04\x03", 2));
    assert_false(ksd_socks_probe((const uint8_t *)"\x05\x00", 2));
    assert_false(ksd_socks_probe((const uint8_t *)"\x05\x11", 2)); /* more than 16 methods */
    assert_false(ksd_socks_probe((const uint8_t *)"\x05\x01\x0a", 3));
    assert_false(ksd_socks_probe((const uint8_t *)"GET / HTTP/1.1\r\n", 16));
    assert_false(ksd_socks_probe((const uint8_t *)"\x16\x03\x01\x02\x00", 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests), cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_prefixes), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
