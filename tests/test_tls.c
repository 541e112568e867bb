/*
 * test_tls.c - unit tests for dissectors/tls.c and ja.c on the ClientHello:
 * SNI, ALPN, versions, GREASE, JA3/JA4 exact values (hand-built hellos and
 * real ClientHellos cut from the corpus, whose values the tshark oracle and
 * the JA4 reference give), the oracle's tolerances for malformed hellos and
 * truncation at every length. Record and handshake reassembly, SSLv2, the
 * server flight (JA3S) and x509.c: test_tls_stream.c.
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
/* ClientHello fields and fingerprints                                      */
/* ------------------------------------------------------------------------ */

static void test_tls_ja_computed_on_demand(void **state)
{
    (void)state;
    static struct buf b;
    struct ksd_tls_hello h, h2;
    build_known_hello(&b);
    assert_int_equal(ksd_tls_parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_int_equal(h.ja_ok, 1);
    assert_int_equal(h.has_ja, 0);
    assert_string_equal(h.ja3, "");
    assert_int_equal(ksd_tls_hello_ja(&h), 1);
    assert_int_equal(strlen(h.ja3), 32);
    assert_int_equal(strlen(h.ja4), 36);
    h2 = h;
    assert_int_equal(ksd_tls_hello_ja(&h), 1); /* a second call changes nothing */
    assert_memory_equal(&h, &h2, sizeof(h));
}

static void test_tls_sni_lowercased_trailing_dot_removed(void **state)
{
    (void)state;
    static struct buf b;
    struct ksd_tls_hello h;
    build_known_hello(&b);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    assert_int_equal(h.has_sni_ext, 1);
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_NONE);
    assert_string_equal(h.alpn, "h2");
    assert_int_equal(h.legacy_version, 0x0303);
    assert_int_equal(h.max_version, 0x0304);
    assert_int_equal(h.n_ciphers, 3);
    assert_int_equal(h.n_exts, 7);
    assert_int_equal(h.ech, 0);
    assert_int_equal(h.esni, 0);
}

static void test_tls_no_sni_absent(void **state)
{
    (void)state;
    static struct buf b;
    static const uint16_t cs[] = {0x002f, 0x0035};
    struct ksd_tls_hello h;
    memset(&b, 0, sizeof(b));
    size_t hs = hello_begin(&b, 0x0301, cs, 2);
    size_t ex = open_len(&b, 2);
    ext_raw(&b, 0xff01, "\0", 1);
    close_len(&b, ex, 2);
    close_len(&b, hs, 3);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_string_equal(h.sni, "");
    assert_int_equal(h.has_sni_ext, 0);
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_ABSENT);
    assert_int_equal(h.has_ja, 1);
    assert_int_equal(h.max_version, 0x0301);
    assert_memory_equal(h.ja4, "t10i020100_", 11);
}

/* JA3 string written out by hand: GREASE gone from ciphers (0x0a0a),
 * extensions (0x1a1a) and groups (0x2a2a); point formats kept. */
static void test_tls_ja3_known_hello_exact(void **state)
{
    (void)state;
    static struct buf b;
    struct ksd_tls_hello h;
    build_known_hello(&b);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_int_equal(h.has_ja, 1);
    /* md5("771,49195-47,0-10-11-13-16-43,29-23,0") */
    assert_string_equal(h.ja3, "4ac62e4c25000b7cc6e442f1b2839c3f");
}

/* JA4 of the same hello: 2 ciphers and 6 extensions once GREASE is gone,
 * version from supported_versions, b over "002f,c02b", c over
 * "000a,000b,000d,002b_0403,0804" (SNI and ALPN left out of c). */
static void test_tls_ja4_known_hello_exact(void **state)
{
    (void)state;
    static struct buf b;
    struct ksd_tls_hello h;
    build_known_hello(&b);
    assert_int_equal(parse_hello(b.b, b.n, 'q', &h), KSD_OK);
    assert_string_equal(h.ja4, "q13d0206h2_a137a120d3d9_fb71836bce29");
}

static void test_tls_ja_strings_exact(void **state)
{
    (void)state;
    static struct ksd_ja_hello j;
    char s[KSD_JA_STR_MAX];
    memset(&j, 0, sizeof(j));
    j.transport = 't';
    j.legacy_version = 0x0303;
    j.max_version = 0x0303;
    j.n_ciphers = 3;
    j.ciphers[0] = 0xfafa;
    j.ciphers[1] = 0xc02b;
    j.ciphers[2] = 0x002f;
    j.n_exts = 3;
    j.exts[0] = 0x0010;
    j.exts[1] = 0x000d;
    j.exts[2] = 0x0a0a;
    j.n_sigalgs = 2;
    j.sigalgs[0] = 0x0804;
    j.sigalgs[1] = 0x1a1a;
    assert_int_equal(ksd_ja_ja3_string(&j, s, sizeof(s)), KSD_OK);
    assert_string_equal(s, "771,49195-47,16-13,,");
    assert_int_equal(ksd_ja_ja4_raw(&j, s, sizeof(s)), KSD_OK);
    assert_string_equal(s, "t12i020200_002f,c02b_000d_0804");
    assert_int_equal(ksd_ja_ja3_string(&j, s, 8), KSD_ELIMIT);
    assert_int_equal(ksd_ja_is_grease(0x0a0a), 1);
    assert_int_equal(ksd_ja_is_grease(0xfafa), 1);
    assert_int_equal(ksd_ja_is_grease(0x0a1a), 0);
    assert_int_equal(ksd_ja_is_grease(0xeeee), 0);
}

static void test_tls_grease_only_versions_fall_back_to_legacy(void **state)
{
    (void)state;
    static struct buf b;
    static const uint16_t cs[] = {0x1301};
    static const uint16_t vers[] = {0x4a4a};
    struct ksd_tls_hello h;
    memset(&b, 0, sizeof(b));
    size_t hs = hello_begin(&b, 0x0303, cs, 1);
    size_t ex = open_len(&b, 2);
    ext_versions(&b, vers, 1);
    close_len(&b, ex, 2);
    close_len(&b, hs, 3);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_int_equal(h.max_version, 0x0303);
    assert_memory_equal(h.ja4, "t12i010100", 10);
}

/* "Highest" is literal: a TLS 1.3 draft value above 0x0304 gives "00". */
static void test_tls_ja4_version_draft_is_00(void **state)
{
    (void)state;
    static struct buf b;
    static const uint16_t cs[] = {0x1301};
    static const uint16_t vers[] = {0x0304, 0x7f1c, 0x0303};
    struct ksd_tls_hello h;
    memset(&b, 0, sizeof(b));
    size_t hs = hello_begin(&b, 0x0303, cs, 1);
    size_t ex = open_len(&b, 2);
    ext_versions(&b, vers, 3);
    close_len(&b, ex, 2);
    close_len(&b, hs, 3);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_int_equal(h.max_version, 0x7f1c);
    assert_memory_equal(h.ja4, "t00i010100", 10);
}

static void alpn_case(const char *first, const char *want)
{
    static struct buf b;
    static const uint16_t cs[] = {0x1301};
    const char *names[] = {first, "http/1.1"};
    struct ksd_tls_hello h;
    memset(&b, 0, sizeof(b));
    size_t hs = hello_begin(&b, 0x0303, cs, 1);
    size_t ex = open_len(&b, 2);
    ext_alpn(&b, names, 2);
    close_len(&b, ex, 2);
    close_len(&b, hs, 3);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_memory_equal(h.ja4 + 8, want, 2);
}

/* ALPN characters: alphanumeric first and last byte as they are, else the
 * first and last hex digit of the whole name; an empty first name is 00. */
static void test_tls_ja4_alpn_rules(void **state)
{
    (void)state;
    alpn_case("h2", "h2");
    alpn_case("http/1.1", "h1");
    alpn_case("h3-29", "h9");
    alpn_case("x", "xx");
    alpn_case("\xba\xad", "bd");
    alpn_case("h2/", "6f");
    alpn_case("-a", "21");
    alpn_case("", "00");
}

/* Real ClientHellos cut from the corpus; expected values are the oracle's
 * (expected/<file>.facts and .ja4). */
struct real_case {
    const uint8_t *p; /* handshake message */
    size_t n;         /* its length */
    const char *sni;  /* expected SNI */
    const char *ja3;  /* expected JA3 */
    const char *ja4;  /* expected JA4 */
};

#define REAL(a, s, j3, j4)                                                                         \
    {                                                                                              \
        a, sizeof(a), s, j3, j4                                                                    \
    }

static const struct real_case real_cases[] = {
    REAL(ch_https3_301, "www.github.com", "06a92bf69b367389d2feb0d70501ddfe",
         "t10d230100_6a57a6f57151_000000000000"),
    REAL(ch_non_ascii_alpn, "clientservices.googleapis.com", "1c258ebef8eee2dfa3df6d8d07285af9",
         "t13d1516bd_8daaf6152771_e5627efa2ab1"),
    REAL(ch_fizz, "i.instagram.com", "44dab16d680ef93487bc16ad23b3ffb1",
         "t00d0309h2_55b375c5d22e_566d5108064c"),
    REAL(ch_many_ciphers, "192.69.136.179", "50221ef5bde0fcee8864bbcea5211d51",
         "t12d990700_413fe4e0e24f_7b0ba9b4cf08"),
    REAL(ch_ech, "cloudflare-ech.com", "2fcbf8655473005933c5869b2b5d8044",
         "t13d1517h2_8daaf6152771_b1ff8ab2d16f"),
    REAL(ch_esni, "", "957015a0b1e2500d8777219893a09495", "t13i1813h2_29a2cd9e9f10_0d6ff543c596"),
    REAL(ch_firefox, "contile.services.mozilla.com", "579ccef312d18482fc42e2b822ca2430",
         "t13d1715h2_5b57614c22b0_3d5424432f57"),
    REAL(ch_stray_byte, "", "af67bec83aa1424953ce62433eade3fe",
         "t10i110000_c384039f30c5_000000000000"),
    REAL(ch_empty_sni, "", "5d9eb54dfeb9b4b50031e5f0cd0a479e",
         "t10d010100_a4c07683491e_000000000000"),
    REAL(ch_empty_lists, "", "ba12b548d225aa7163af96c47205964e",
         "ts3i000000_000000000000_000000000000"),
};

static void test_tls_real_hellos_match_oracle(void **state)
{
    (void)state;
    for (size_t i = 0; i < KSD_ARRAY_LEN(real_cases); i++) {
        const struct real_case *c = &real_cases[i];
        struct ksd_tls_hello h;
        assert_int_equal(parse_hello(c->p, c->n, 't', &h), KSD_OK);
        assert_int_equal(h.has_ja, 1);
        assert_string_equal(h.sni, c->sni);
        assert_string_equal(h.ja3, c->ja3);
        assert_string_equal(h.ja4, c->ja4);
    }
}

static void test_tls_real_many_ciphers_count_capped(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    assert_int_equal(parse_hello(ch_many_ciphers, sizeof(ch_many_ciphers), 't', &h), KSD_OK);
    assert_int_equal(h.n_ciphers, 131);
}

static void test_tls_ech_flag_outer_sni(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    assert_int_equal(parse_hello(ch_ech, sizeof(ch_ech), 't', &h), KSD_OK);
    assert_int_equal(h.ech, 1);
    assert_int_equal(h.esni, 0);
    assert_string_equal(h.sni, "cloudflare-ech.com");
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_NONE);
}

static void test_tls_esni_flag_no_sni(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    assert_int_equal(parse_hello(ch_esni, sizeof(ch_esni), 't', &h), KSD_OK);
    assert_int_equal(h.esni, 1);
    assert_int_equal(h.ech, 0);
    assert_int_equal(h.has_sni_ext, 0);
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_ECH);
}

/* An extension running past the block: no JA3/JA4 (the oracle has none),
 * the SNI read before it is kept. */
static void test_tls_bad_extension_no_ja_keeps_sni(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    assert_int_equal(parse_hello(ch_bad_ext, sizeof(ch_bad_ext), 't', &h), KSD_OK);
    assert_int_equal(h.has_ja, 0);
    assert_string_equal(h.ja3, "");
    assert_string_equal(h.ja4, "");
    assert_string_equal(h.sni, "e.crashlytics.com");
}

/* No extension block at all: five JA3 fields, JA4 c all zeros. */
static void test_tls_no_extension_block(void **state)
{
    (void)state;
    static struct buf b;
    static const uint16_t cs[] = {0x002f, 0x0035};
    struct ksd_tls_hello h;
    memset(&b, 0, sizeof(b));
    size_t hs = hello_begin(&b, 0x0301, cs, 2);
    close_len(&b, hs, 3);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_OK);
    assert_int_equal(h.has_ja, 1);
    assert_string_equal(h.ja3, "dac4920d4335e769327dbf4e1b759e15"); /* md5("769,47-53,,,") */
    assert_memory_equal(h.ja4, "t10i020000_", 11);
    assert_string_equal(h.ja4 + 24, "000000000000");
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_ABSENT);
}

static void test_tls_not_a_client_hello_rejected(void **state)
{
    (void)state;
    static const uint8_t sh[] = {0x02, 0x00, 0x00, 0x02, 0x03, 0x03};
    static struct buf b;
    struct ksd_tls_hello h;
    assert_int_equal(parse_hello(sh, sizeof(sh), 't', &h), KSD_EINVAL);
    assert_int_equal(parse_hello(sh, 0, 't', &h), KSD_ETRUNC);
    assert_int_equal(parse_hello(NULL, 0, 't', &h), KSD_ETRUNC);
    /* Complete message whose cipher list claims 0xffff bytes. */
    memset(&b, 0, sizeof(b));
    put8(&b, 1);
    size_t hs = open_len(&b, 3);
    put16(&b, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(&b, 0);
    put8(&b, 0);
    put16(&b, 0xffff);
    put16(&b, 0x1301);
    close_len(&b, hs, 3);
    assert_int_equal(parse_hello(b.b, b.n, 't', &h), KSD_EINVAL);
}

/* Every prefix of a real hello: ETRUNC, never a fingerprint, never a crash;
 * once the SNI is complete it is reported. */
static void test_tls_truncated_hello_every_length(void **state)
{
    (void)state;
    const uint8_t *p = ch_non_ascii_alpn;
    size_t n = sizeof(ch_non_ascii_alpn);
    int saw_sni = 0;
    for (size_t k = 0; k < n; k++) {
        struct ksd_tls_hello h;
        int rc = parse_hello(p, k, 't', &h);
        assert_int_equal(rc, KSD_ETRUNC);
        assert_int_equal(h.has_ja, 0);
        if (h.sni[0] != '\0') {
            assert_string_equal(h.sni, "clientservices.googleapis.com");
            saw_sni = 1;
        } else {
            assert_int_equal(h.nosni, KSD_TLS_NOSNI_TRUNCATED);
        }
    }
    assert_int_equal(saw_sni, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_ja_computed_on_demand),
        cmocka_unit_test(test_tls_sni_lowercased_trailing_dot_removed),
        cmocka_unit_test(test_tls_no_sni_absent),
        cmocka_unit_test(test_tls_ja3_known_hello_exact),
        cmocka_unit_test(test_tls_ja4_known_hello_exact),
        cmocka_unit_test(test_tls_ja_strings_exact),
        cmocka_unit_test(test_tls_grease_only_versions_fall_back_to_legacy),
        cmocka_unit_test(test_tls_ja4_version_draft_is_00),
        cmocka_unit_test(test_tls_ja4_alpn_rules),
        cmocka_unit_test(test_tls_real_hellos_match_oracle),
        cmocka_unit_test(test_tls_real_many_ciphers_count_capped),
        cmocka_unit_test(test_tls_ech_flag_outer_sni),
        cmocka_unit_test(test_tls_esni_flag_no_sni),
        cmocka_unit_test(test_tls_bad_extension_no_ja_keeps_sni),
        cmocka_unit_test(test_tls_no_extension_block),
        cmocka_unit_test(test_tls_not_a_client_hello_rejected),
        cmocka_unit_test(test_tls_truncated_hello_every_length),
    };
    return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
