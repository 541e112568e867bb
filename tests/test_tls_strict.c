/*
 * test_tls_strict.c - dissectors/tls.c on hellos a server would reject and
 * on hellos larger than a record (issue "evidence an analyst can act on",
 * points 2 and 3): a server_name list whose length overruns its extension,
 * or leaves bytes in it, or an entry that overruns the list, gives no name
 * (KSD_EINVAL, nosni MALFORMED) and nothing is clamped; ClientHellos of up
 * to 64 KiB (a 17,000- and a 40,000-byte padding extension before
 * server_name) are reassembled across records and give their name.
 * Hand-built bytes (test_tls.c holds the corpus hellos).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/tls.h"

struct hb {
    uint8_t b[140000];
    size_t n;
};

static void be(struct hb *h, unsigned v, int w)
{
    assert_true(h->n + (size_t)w <= sizeof(h->b));
    for (int i = w - 1; i >= 0; i--)
        h->b[h->n++] = (uint8_t)(v >> (8 * i));
}

static void raw(struct hb *h, const void *p, size_t n)
{
    assert_true(h->n + n <= sizeof(h->b));
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void patch(struct hb *h, size_t at, int w)
{
    size_t len = h->n - at - (size_t)w;
    for (int i = w - 1; i >= 0; i--, len >>= 8)
        h->b[at + (size_t)i] = (uint8_t)len;
}

/*
 * A ClientHello handshake message: TLS 1.2, one suite, then `pad` bytes of
 * padding extension (0 = none), then a server_name extension for `name`
 * whose list length is the true one plus `list_delta` and whose extension
 * length is the true one plus `ext_extra` (those bytes appended as zeros).
 */
static void build(struct hb *h, const char *name, size_t pad, int list_delta, size_t ext_extra)
{
    static const uint8_t zero[66000];
    size_t nl = strlen(name), hs, ex, e;
    h->n = 0;
    be(h, 1, 1);
    hs = h->n;
    be(h, 0, 3);
    be(h, 0x0303, 2);
    raw(h, zero, 32);
    be(h, 0, 1);
    be(h, 2, 2);
    be(h, 0x1301, 2);
    be(h, 0x0100, 2); /* one compression method: null */
    ex = h->n;
    be(h, 0, 2);
    if (pad) {
        be(h, 0x0015, 2);
        be(h, (unsigned)pad, 2);
        raw(h, zero, pad);
    }
    be(h, 0x0000, 2);
    e = h->n;
    be(h, 0, 2);
    be(h, (unsigned)((int)(nl + 3) + list_delta), 2);
    be(h, 0, 1);
    be(h, (unsigned)nl, 2);
    raw(h, name, nl);
    raw(h, zero, ext_extra);
    patch(h, e, 2);
    patch(h, ex, 2);
    patch(h, hs, 3);
}

/* The message in TLS records of at most `frag` bytes each. */
static void records(struct hb *out, const struct hb *msg, size_t frag)
{
    out->n = 0;
    for (size_t off = 0; off < msg->n; off += frag) {
        size_t k = msg->n - off < frag ? msg->n - off : frag;
        be(out, 0x16, 1);
        be(out, 0x0301, 2);
        be(out, (unsigned)k, 2);
        raw(out, msg->b + off, k);
    }
}

static struct hb m, s;

static void test_sni_list_overruns_extension_no_name(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    size_t consumed = 0;
    build(&m, "dnl-01.geo.kaspersky.com", 0, 0, 0);
    assert_int_equal(ksd_tls_parse_hello(m.b, m.n, 't', &h), KSD_OK);
    assert_string_equal(h.sni, "dnl-01.geo.kaspersky.com");
    /* list length one past the extension: a server rejects it, so does ksd */
    build(&m, "dnl-01.geo.kaspersky.com", 0, 1, 0);
    assert_int_equal(ksd_tls_parse_hello(m.b, m.n, 't', &h), KSD_EINVAL);
    assert_string_equal(h.sni, "");
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_MALFORMED);
    records(&s, &m, 16384);
    h.nosni = KSD_TLS_NOSNI_NONE;
    assert_int_equal(ksd_tls_client_stream(s.b, s.n, &consumed, &h), KSD_EINVAL);
    assert_string_equal(h.sni, "");
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_MALFORMED);
    /* a list length far past the extension (and past the message) */
    build(&m, "dnl-01.geo.kaspersky.com", 0, 3000, 0);
    assert_int_equal(ksd_tls_parse_hello(m.b, m.n, 't', &h), KSD_EINVAL);
    assert_string_equal(h.sni, "");
}

static void test_sni_list_short_of_extension_no_name(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    /* the extension holds 4 bytes more than the list says */
    build(&m, "dnl-01.geo.kaspersky.com", 0, 0, 4);
    assert_int_equal(ksd_tls_parse_hello(m.b, m.n, 't', &h), KSD_EINVAL);
    assert_string_equal(h.sni, "");
    assert_int_equal(h.nosni, KSD_TLS_NOSNI_MALFORMED);
}

static void test_sni_entry_overruns_list_no_name(void **state)
{
    (void)state;
    struct ksd_tls_hello h;
    /* list one byte short of its entry */
    build(&m, "dnl-01.geo.kaspersky.com", 0, -1, 0);
    assert_int_equal(ksd_tls_parse_hello(m.b, m.n, 't', &h), KSD_EINVAL);
    assert_string_equal(h.sni, "");
}

/* Point 2: padding of 17,000 and 40,000 bytes before server_name, in
 * records of 16,384 bytes (what OpenSSL accepts), and a hello of just under
 * 64 KiB: the name is found, with JA3/JA4 (the hello is whole). */
static void test_big_hellos_give_their_name(void **state)
{
    (void)state;
    static const size_t pads[] = {17000, 40000, 65000};
    for (size_t i = 0; i < KSD_ARRAY_LEN(pads); i++) {
        struct ksd_tls_hello h;
        size_t consumed = 0;
        build(&m, "ksn-a-1.kaspersky-labs.com", pads[i], 0, 0);
        assert_true(m.n <= KSD_TLS_MAX_HELLO);
        records(&s, &m, 16384);
        /* every prefix but the whole is "more bytes needed" */
        assert_int_equal(ksd_tls_client_stream(s.b, s.n - 1, &consumed, &h), KSD_EAGAIN);
        assert_int_equal(ksd_tls_client_stream(s.b, s.n, &consumed, &h), KSD_OK);
        assert_int_equal(consumed, s.n);
        assert_string_equal(h.sni, "ksn-a-1.kaspersky-labs.com");
        assert_int_equal(ksd_tls_hello_ja(&h), 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni_list_overruns_extension_no_name),
        cmocka_unit_test(test_sni_list_short_of_extension_no_name),
        cmocka_unit_test(test_sni_entry_overruns_list_no_name),
        cmocka_unit_test(test_big_hellos_give_their_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
