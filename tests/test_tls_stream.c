/*
 * test_tls_stream.c - unit tests for dissectors/tls.c's client stream
 * (record and handshake reassembly across records and calls, tiny records,
 * a second hello after HelloRetryRequest, SSLv2 hellos, oversized hellos),
 * the server flight (JA3S, a TLS 1.2 certificate made by openssl,
 * resumption without a certificate) and x509.c's DN rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dissectors/ja.h"
#include "dissectors/ksd.h"
#include "dissectors/tls.h"
#include "dissectors/x509.h"
#include "tests/tls_frames.h"

/* ------------------------------------------------------------------------ */
/* Client stream                                                            */
/* ------------------------------------------------------------------------ */

static void test_tls_stream_single_record(void **state)
{
    (void)state;
    static struct buf s;
    struct ksd_tls_hello h;
    size_t consumed = 0;
    memset(&s, 0, sizeof(s));
    records(&s, 22, ch_firefox, sizeof(ch_firefox), 16384);
    assert_int_equal(ksd_tls_probe(s.b, s.n), 1);
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_OK);
    assert_int_equal(consumed, s.n);
    assert_string_equal(h.ja4, "t13d1715h2_5b57614c22b0_3d5424432f57");
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_EAGAIN);
}

/* One ClientHello in two records, delivered in two calls split inside the
 * second record, then in pieces of every size ending inside the record
 * header. */
static void test_tls_stream_hello_split_records_and_calls(void **state)
{
    (void)state;
    static struct buf s;
    struct ksd_tls_hello h;
    size_t consumed = 0;
    memset(&s, 0, sizeof(s));
    records(&s, 22, ch_ech, sizeof(ch_ech), 300);
    assert_int_equal(s.n, sizeof(ch_ech) + 10);
    assert_int_equal(client_stream(s.b, 305 + 40, &consumed, &h), KSD_EAGAIN);
    assert_int_equal(consumed, 0);
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_OK);
    assert_int_equal(consumed, s.n);
    assert_int_equal(h.ech, 1);
    assert_string_equal(h.ja3, "2fcbf8655473005933c5869b2b5d8044");
    for (size_t k = 0; k < s.n; k++) {
        consumed = 0;
        assert_int_equal(client_stream(s.b, k, &consumed, &h), KSD_EAGAIN);
    }
}

/* Handshake split into 1-byte records: the header itself arrives in pieces. */
static void test_tls_stream_tiny_records(void **state)
{
    (void)state;
    static struct buf s;
    struct ksd_tls_hello h;
    size_t consumed = 0;
    memset(&s, 0, sizeof(s));
    records(&s, 22, ch_https3_301, sizeof(ch_https3_301), 1);
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_OK);
    assert_string_equal(h.sni, "www.github.com");
    assert_string_equal(h.ja4, "t10d230100_6a57a6f57151_000000000000");
}

/* CH1, ChangeCipherSpec, CH2 (after a HelloRetryRequest); then the client
 * goes encrypted. */
static void test_tls_stream_second_hello_after_hrr(void **state)
{
    (void)state;
    static struct buf s;
    static const uint8_t ccs[] = {1};
    static const uint8_t appdata[] = {0x17, 0x03, 0x03, 0x00, 0x01, 0x00};
    struct ksd_tls_hello h;
    size_t consumed = 0;
    memset(&s, 0, sizeof(s));
    records(&s, 22, ch_https3_301, sizeof(ch_https3_301), 16384);
    records(&s, 20, ccs, 1, 16384);
    records(&s, 22, ch_firefox, sizeof(ch_firefox), 100);
    putn(&s, appdata, sizeof(appdata));
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_OK);
    assert_string_equal(h.sni, "www.github.com");
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_OK);
    assert_string_equal(h.sni, "contile.services.mozilla.com");
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_ENOTSUP);
}

static void test_tls_stream_not_tls_rejected(void **state)
{
    (void)state;
    static const uint8_t http[] = "GET / HTTP/1.1\r\n";
    static const uint8_t badver[] = {0x16, 0x02};
    static const uint8_t huge[] = {0x16, 0x03, 0x01, 0x48, 0x01};
    static const uint8_t partial[] = {0x16, 0x03};
    struct ksd_tls_hello h;
    size_t consumed = 0;
    assert_int_equal(client_stream(http, sizeof(http) - 1, &consumed, &h), KSD_EINVAL);
    assert_int_equal(client_stream(badver, sizeof(badver), &consumed, &h), KSD_EINVAL);
    assert_int_equal(client_stream(huge, sizeof(huge), &consumed, &h), KSD_EINVAL);
    assert_int_equal(client_stream(partial, sizeof(partial), &consumed, &h), KSD_EAGAIN);
    assert_int_equal(ksd_tls_probe(http, sizeof(http) - 1), 0);
    consumed = 100;
    assert_int_equal(client_stream(partial, sizeof(partial), &consumed, &h), KSD_EINVAL);
}

static void test_tls_stream_sslv2_hello_not_fingerprinted(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    size_t consumed = 0;
    memset(&h, 0, sizeof(h));
    assert_int_equal(client_stream(sslv2_hello, sizeof(sslv2_hello), &consumed, &h), KSD_ENOTSUP);
    assert_int_equal(h.has_ja, 0);
    assert_int_equal(ksd_tls_probe(sslv2_hello, sizeof(sslv2_hello)), 0);
}

/* A ClientHello over KSD_TLS_MAX_HELLO (64 KiB): ETRUNC, but the SNI in its
 * first 64 KiB is still reported. */
static void test_tls_stream_oversized_hello_truncated(void **state)
{
    (void)state;
    static struct buf m, s;
    static uint16_t cs[20000]; /* 40,000 bytes of cipher suites, then 30,000 of padding */
    static uint8_t pad[30000];
    struct ksd_tls_hello h;
    size_t consumed = 0;
    memset(&m, 0, sizeof(m));
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < KSD_ARRAY_LEN(cs); i++)
        cs[i] = 0x1301;
    size_t hs = hello_begin(&m, 0x0303, cs, KSD_ARRAY_LEN(cs));
    size_t ex = open_len(&m, 2);
    ext_sni(&m, "big.example");
    ext_raw(&m, 0x0015, pad, sizeof(pad));
    close_len(&m, ex, 2);
    close_len(&m, hs, 3);
    records(&s, 22, m.b, m.n, 16384);
    assert_int_equal(client_stream(s.b, s.n, &consumed, &h), KSD_ETRUNC);
    assert_int_equal(consumed, 0);
    assert_string_equal(h.sni, "big.example");
    assert_int_equal(h.has_ja, 0);
    assert_int_equal(parse_hello(m.b, m.n, 't', &h), KSD_OK);
    assert_string_equal(h.sni, "big.example");
}

/* ------------------------------------------------------------------------ */
/* Server side                                                              */
/* ------------------------------------------------------------------------ */

static void server_hello(struct buf *b, unsigned version, unsigned cipher, int tls13)
{
    put8(b, 2);
    size_t hs = open_len(b, 3);
    put16(b, version);
    for (int i = 0; i < 32; i++)
        put8(b, 0x40 + (unsigned)i);
    put8(b, 0);
    put16(b, cipher);
    put8(b, 0);
    size_t ex = open_len(b, 2);
    if (tls13) {
        put16(b, 0x002b);
        put16(b, 2);
        put16(b, 0x0304);
        ext_raw(b, 0x0033, "\x00\x1d\x00\x00", 4);
    } else {
        ext_raw(b, 0xff01, "\0", 1);
        ext_raw(b, 0x000b, "\x01\x00", 2);
        ext_raw(b, 0x0010, "\x00\x03\x02h2", 5);
    }
    close_len(b, ex, 2);
    close_len(b, hs, 3);
}

static void test_tls_server_hello_ja3s_tls13(void **state)
{
    (void)state;
    static struct buf m, s;
    struct ksd_tls_server sv;
    memset(&m, 0, sizeof(m));
    memset(&s, 0, sizeof(s));
    server_hello(&m, 0x0303, 0x1301, 1);
    records(&s, 22, m.b, m.n, 16384);
    assert_int_equal(ksd_tls_server_stream(s.b, s.n, &sv), KSD_OK);
    assert_int_equal(sv.version, 0x0304);
    assert_int_equal(sv.cipher, 0x1301);
    assert_int_equal(sv.has_cert, 0);
    assert_string_equal(sv.ja3s, ""); /* computed on demand */
    assert_int_equal(ksd_tls_server_ja3s(&sv), 1);
    assert_string_equal(sv.ja3s, "f4febc55ea12b31ae17cfb7e614afda8"); /* md5("771,4865,43-51") */
    assert_int_equal(ksd_tls_server_stream(s.b, s.n - 1, &sv), KSD_EAGAIN);
}

/* TLS 1.2 flight: ServerHello + Certificate (openssl-made leaf and CA) +
 * ServerHelloDone in one record, then the same cut into 50-byte records. */
static void test_tls_server_certificate_tls12(void **state)
{
    (void)state;
    static struct buf m, s;
    struct ksd_tls_server sv;
    memset(&m, 0, sizeof(m));
    server_hello(&m, 0x0303, 0xc02f, 0);
    put8(&m, 11);
    size_t hs = open_len(&m, 3);
    size_t list = open_len(&m, 3);
    put8(&m, 0);
    put16(&m, sizeof(cert_leaf));
    putn(&m, cert_leaf, sizeof(cert_leaf));
    put8(&m, 0);
    put16(&m, sizeof(cert_odd));
    putn(&m, cert_odd, sizeof(cert_odd));
    close_len(&m, list, 3);
    close_len(&m, hs, 3);
    putn(&m, "\x0e\x00\x00\x00", 4);

    for (size_t frag = 16384; frag >= 50; frag = frag == 16384 ? 50 : 0) {
        memset(&s, 0, sizeof(s));
        records(&s, 22, m.b, m.n, frag);
        assert_int_equal(ksd_tls_server_stream(s.b, s.n, &sv), KSD_OK);
        assert_int_equal(sv.version, 0x0303);
        assert_int_equal(sv.cipher, 0xc02f);
        /* md5("771,49199,65281-11-16") */
        assert_int_equal(ksd_tls_server_ja3s(&sv), 1);
        assert_string_equal(sv.ja3s, "1089ea6f0461a29006cc96dfe7a11d80");
        assert_int_equal(sv.has_cert, 1);
        assert_string_equal(
            sv.subject, "C=RU, ST=Moscow, L=Moscow, O=Kaspersky, OU=IT, CN=KSN.Kaspersky-Labs.com");
        assert_string_equal(sv.issuer,
                            "C=RU, O=Kaspersky Lab, CN=Kaspersky Lab Public Services TLS CA");
        assert_string_equal(sv.subject_cn, "ksn.kaspersky-labs.com");
        assert_string_equal(sv.serial, "3a00000b750d71e0c54f8a4dae000000000b75");
        assert_int_equal(sv.n_sans, 2);
        assert_string_equal(sv.sans[0], "ksn.kaspersky-labs.com");
        assert_string_equal(sv.sans[1], "*.ksn.kaspersky-labs.com");
        /* Cut inside the first certificate: more bytes needed. */
        assert_int_equal(ksd_tls_server_stream(s.b, s.n - sizeof(cert_odd) - 200, &sv), KSD_EAGAIN);
        if (frag == 50)
            break;
    }
}

/* Resumption: ServerHello then ChangeCipherSpec, no certificate. */
static void test_tls_server_resumption_no_cert(void **state)
{
    (void)state;
    static struct buf m, s;
    static const uint8_t ccs[] = {1};
    struct ksd_tls_server sv;
    memset(&m, 0, sizeof(m));
    memset(&s, 0, sizeof(s));
    server_hello(&m, 0x0303, 0xc02f, 0);
    records(&s, 22, m.b, m.n, 16384);
    assert_int_equal(ksd_tls_server_stream(s.b, s.n, &sv), KSD_EAGAIN);
    records(&s, 20, ccs, 1, 16384);
    assert_int_equal(ksd_tls_server_stream(s.b, s.n, &sv), KSD_OK);
    assert_int_equal(sv.has_cert, 0);
    assert_int_equal(ksd_tls_server_stream(ch_firefox, sizeof(ch_firefox), &sv), KSD_EINVAL);
}

/* DN rendering: multi-valued RDN with '+', other OIDs dotted. */
static void test_tls_x509_dn_rendering(void **state)
{
    (void)state;
    static struct ksd_x509_cert c;
    assert_int_equal(ksd_x509_parse(cert_odd, sizeof(cert_odd), &c), KSD_OK);
    assert_string_equal(c.subject, "CN=A+OU=B, 1.2.840.113549.1.9.1=x@y.z, O=Org");
    assert_string_equal(c.subject_cn, "a");
    assert_int_equal(c.n_sans, 0);
    for (size_t k = 0; k < sizeof(cert_leaf); k++)
        assert_int_not_equal(ksd_x509_parse(cert_leaf, k, &c), KSD_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_stream_single_record),
        cmocka_unit_test(test_tls_stream_hello_split_records_and_calls),
        cmocka_unit_test(test_tls_stream_tiny_records),
        cmocka_unit_test(test_tls_stream_second_hello_after_hrr),
        cmocka_unit_test(test_tls_stream_not_tls_rejected),
        cmocka_unit_test(test_tls_stream_sslv2_hello_not_fingerprinted),
        cmocka_unit_test(test_tls_stream_oversized_hello_truncated),
        cmocka_unit_test(test_tls_server_hello_ja3s_tls13),
        cmocka_unit_test(test_tls_server_certificate_tls12),
        cmocka_unit_test(test_tls_server_resumption_no_cert),
        cmocka_unit_test(test_tls_x509_dn_rendering),
    };
    return cmocka_run_group_tests_name("tls_stream", tests, NULL, NULL);
}
