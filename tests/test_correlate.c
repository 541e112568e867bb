/*
 * test_correlate.c - the state that joins evidence across packets and flows
 * (sensor/path/correlate.c), through its public API only: the DNS answer
 * cache (per resolving client, TTL clamped to its floor and cap, expiry,
 * least-recently-used eviction at KSD_DNSCACHE_MAX), prerequisite flows,
 * event suppression (one event per client, rule and evidence per window, the
 * folded detections counted into the next event), and the host records as
 * the --hosts table prints them (first/last seen, evidence kinds, at most
 * KSD_HOST_TOP_INDICATORS distinct indicators, the verdict, eviction).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sensor/path/correlate.h"
#include "signatures/sig.h"

#define SEC 1000000LL

static struct ksd_addr A(const char *text) {
    struct ksd_addr a;
    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, text, a.a) == 1) {
        a.family = 4;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, a.a), 1);
        a.family = 6;
    }
    return a;
}

/* Address number i as 10.x.y.z. */
static struct ksd_addr
An(uint32_t i)
{
    struct ksd_addr a;
    memset(&a, 0, sizeof(a));
    a.family = 4;
    a.a[0] = 10;
    a.a[1] = (uint8_t)(i >> 16);
    a.a[2] = (uint8_t)(i >> 8);
    a.a[3] = (uint8_t)i;
    return a;
}

static void test_dns_cache(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    assert_non_null(c);
    struct ksd_addr cl = A("10.0.0.5"), other = A("10.0.0.6"), srv = A("203.0.113.9");
    int64_t t0 = 1000 * SEC;
    assert_null(ksd_corr_dns_lookup(c, &cl, &srv, t0));
    ksd_corr_dns_learn(c, &cl, &srv, "dnl-03.geo.kaspersky.com", 300, t0);
    assert_string_equal(ksd_corr_dns_lookup(c, &cl, &srv, t0 + SEC), "dnl-03.geo.kaspersky.com");
    /* per resolving client: another client did not ask */
    assert_null(ksd_corr_dns_lookup(c, &other, &srv, t0 + SEC));
    /* valid for the TTL, gone after it */
    assert_non_null(ksd_corr_dns_lookup(c, &cl, &srv, t0 + 300 * SEC));
    assert_null(ksd_corr_dns_lookup(c, &cl, &srv, t0 + 301 * SEC));
    /* a later answer replaces the name and the expiry, and is not a new address */
    ksd_corr_dns_learn(c, &cl, &srv, "s07.upd.kaspersky.com", 3600, t0 + 400 * SEC);
    assert_string_equal(ksd_corr_dns_lookup(c, &cl, &srv, t0 + 3000 * SEC),
                        "s07.upd.kaspersky.com");
    const struct ksd_corr_stats *st = ksd_corr_stats(c);
    assert_int_equal(st->dns_learned, 1);
    assert_int_equal(st->dns_hits, 3);
    /* a TTL below the floor counts as the floor, above the cap as the cap */
    struct ksd_addr s2 = A("2001:db8::9"), s3 = A("198.51.100.1");
    ksd_corr_dns_learn(c, &cl, &s2, "ksn.kaspersky.com", 0, t0);
    assert_non_null(ksd_corr_dns_lookup(c, &cl, &s2, t0 + KSD_DNSCACHE_MIN_TTL_S * SEC));
    assert_null(ksd_corr_dns_lookup(c, &cl, &s2, t0 + (KSD_DNSCACHE_MIN_TTL_S + 1) * SEC));
    ksd_corr_dns_learn(c, &cl, &s3, "ds.kaspersky.com", 0xffffffffu, t0);
    assert_non_null(ksd_corr_dns_lookup(c, &cl, &s3, t0 + KSD_DNSCACHE_MAX_TTL_S * SEC));
    assert_null(ksd_corr_dns_lookup(c, &cl, &s3, t0 + (KSD_DNSCACHE_MAX_TTL_S + 1) * SEC));
    /* an IPv4 client never matches the IPv6 one with the same leading bytes */
    struct ksd_addr cl6 = A("a00:5::");
    assert_null(ksd_corr_dns_lookup(c, &cl6, &s2, t0));
    ksd_corr_free(c);
}

/* Full cache: the least recently used address goes first, and is counted. */
static void test_dns_eviction(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    struct ksd_addr cl = A("192.168.0.1");
    int64_t t = 5000 * SEC;
    for (uint32_t i = 0; i < KSD_DNSCACHE_MAX; i++) {
        struct ksd_addr s = An(i);
        ksd_corr_dns_learn(c, &cl, &s, "x.kaspersky.com", 600, t);
    }
    struct ksd_addr first = An(0), second = An(1), fresh = An(KSD_DNSCACHE_MAX);
    assert_non_null(ksd_corr_dns_lookup(c, &cl, &first, t)); /* now the most recent */
    ksd_corr_dns_learn(c, &cl, &fresh, "y.kaspersky.com", 600, t);
    assert_int_equal(ksd_corr_stats(c)->dns_evicted, 1);
    assert_int_equal(ksd_corr_stats(c)->dns_learned, KSD_DNSCACHE_MAX + 1);
    assert_null(ksd_corr_dns_lookup(c, &cl, &second, t));
    assert_non_null(ksd_corr_dns_lookup(c, &cl, &first, t));
    assert_string_equal(ksd_corr_dns_lookup(c, &cl, &fresh, t), "y.kaspersky.com");
    ksd_corr_free(c);
}

static void test_pairs(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    struct ksd_addr cl = A("10.1.0.2"), ksc = A("10.1.0.200");
    int64_t t = 100 * SEC;
    assert_false(ksd_corr_pair_seen(c, &cl, &ksc, 6, 13000, t));
    ksd_corr_pair_note(c, &cl, &ksc, 6, 13000, t);
    assert_true(ksd_corr_pair_seen(c, &cl, &ksc, 6, 13000, t + KSD_PAIR_WINDOW_US));
    assert_false(ksd_corr_pair_seen(c, &cl, &ksc, 6, 13000, t + KSD_PAIR_WINDOW_US + 1));
    assert_false(ksd_corr_pair_seen(c, &cl, &ksc, 17, 13000, t)); /* other protocol */
    assert_false(ksd_corr_pair_seen(c, &cl, &ksc, 6, 13291, t));  /* other port */
    assert_false(ksd_corr_pair_seen(c, &ksc, &cl, 6, 13000, t));  /* other direction */
    ksd_corr_free(c);
}

/* One event per (client, rule, evidence) per window; folded ones counted. */
static void test_dedup(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    struct ksd_addr cl = A("10.2.0.1"), cl2 = A("10.2.0.2");
    const int64_t w = 300 * SEC, t = 10000 * SEC;
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", "sni", t, w), 1);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", "sni", t + SEC, w), 0);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", "sni", t + 299 * SEC, w), 0);
    /* other evidence, rule or client: its own key */
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", "dns", t + SEC, w), 1);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-dnl03", "sni", t + SEC, w), 1);
    assert_int_equal(ksd_corr_dedup(c, &cl2, "kl-upd-s07", "sni", t + SEC, w), 1);
    /* the window has passed: a new event carrying itself and the 2 folded */
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", "sni", t + 300 * SEC, w), 3);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", "sni", t + 301 * SEC, w), 0);
    /* time going backwards (a second capture file) starts a new event */
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", "sni", t, w), 2);
    assert_int_equal(ksd_corr_stats(c)->suppressed, 3);
    /* window 0: every detection is an event */
    for (int i = 0; i < 5; i++)
        assert_int_equal(ksd_corr_dedup(c, &cl2, "kl-web-www", "sni", t, 0), 1);
    ksd_corr_free(c);
}

/* The --hosts table of c into buf; returns the number of lines. */
static int table(const struct ksd_corr *c, char *buf, size_t cap)
{
    FILE *f = fmemopen(buf, cap, "w");
    assert_non_null(f);
    ksd_corr_hosts_print(&c, 1, f);
    fclose(f);
    int n = 0;
    for (const char *p = buf; *p; p++)
        n += *p == '\n';
    return n;
}

/* The line of the table that starts with addr, or NULL. */
static const char *row(const char *buf, const char *addr)
{
    size_t l = strlen(addr);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, addr, l) == 0 && p[l] == ' ')
            return p;
    return NULL;
}

static int row_has(const char *buf, const char *addr, const char *text)
{
    const char *r = row(buf, addr);
    if (!r)
        return 0;
    const char *end = strchr(r, '\n');
    const char *hit = strstr(r, text);
    return hit && (!end || hit < end);
}

static void test_hosts(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    static char buf[1 << 16];
    assert_int_equal(table(c, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "no flagged hosts\n");
    struct ksd_addr a = A("10.3.0.1"), b = A("10.3.0.2"), d = A("2001:db8::7");
    int64_t t = 1764198000LL * SEC; /* 2025-11-26 23:00:00 UTC */
    ksd_corr_host_add(c, &b, t + 60 * SEC, "sni", "website", "www.kaspersky.com", "hq", "");
    ksd_corr_host_add(c, &a, t + 120 * SEC, "dns", "update", "s07.upd.kaspersky.com", "hq",
                      "managed");
    ksd_corr_host_add(c, &a, t, "sni", "update", "s07.upd.kaspersky.com", "hq", "managed");
    ksd_corr_host_add(c, &a, t + 30 * SEC, "ja3", "update",
                      "a\x01"
                      "b c",
                      "hq", "managed");
    for (int i = 0; i < 6; i++) {
        char ind[32];
        snprintf(ind, sizeof(ind), "n%d.kaspersky.com", i);
        ksd_corr_host_add(c, &d, t, "dns_ip", "infrastructure", ind, "", "");
    }
    assert_int_equal(ksd_corr_hosts_count(c), 3);
    assert_int_equal(table(c, buf, sizeof(buf)), 4); /* header and three hosts */
    /* sorted: IPv4 addresses in order, then IPv6 */
    const char *ra = row(buf, "10.3.0.1"), *rb = row(buf, "10.3.0.2"),
               *rd = row(buf, "2001:db8::7");
    assert_true(ra && rb && rd && ra < rb && rb < rd);
    /* first and last seen whatever the order of arrival; events; evidence kinds */
    assert_true(row_has(buf, "10.3.0.1", "2025-11-26 23:00:00  2025-11-26 23:02:00"));
    assert_true(row_has(buf, "10.3.0.1", "      3  "));
    assert_true(row_has(buf, "10.3.0.1", "dns,sni,ja3"));
    assert_true(row_has(buf, "10.3.0.1", "managed"));
    assert_true(row_has(buf, "10.3.0.1", "product"));
    /* indicators: each once; unsafe bytes shown as '?' */
    if (!row_has(buf, "10.3.0.1", "s07.upd.kaspersky.com a?b?c"))
        fail_msg("%s", buf);
    assert_false(row_has(buf, "10.3.0.1", "s07.upd.kaspersky.com s07"));
    assert_true(row_has(buf, "10.3.0.2", "website-only"));
    assert_true(row_has(buf, "10.3.0.2", "  no  ")); /* not managed */
    assert_true(row_has(buf, "2001:db8::7", "suspected"));
    /* at most KSD_HOST_TOP_INDICATORS indicators per host */
    char last[32];
    snprintf(last, sizeof(last), "n%d.kaspersky.com", KSD_HOST_TOP_INDICATORS - 1);
    assert_true(row_has(buf, "2001:db8::7", last));
    snprintf(last, sizeof(last), "n%d.kaspersky.com", KSD_HOST_TOP_INDICATORS);
    assert_false(row_has(buf, "2001:db8::7", last));
    /* two tables (two workers) print as one sorted table */
    struct ksd_corr *c2 = ksd_corr_new();
    struct ksd_addr e = A("10.3.0.0");
    ksd_corr_host_add(c2, &e, t, "port", "management", "tcp/13000", "", "");
    const struct ksd_corr *both[2] = {c, c2};
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    ksd_corr_hosts_print(both, 2, f);
    fclose(f);
    assert_true(row(buf, "10.3.0.0") && row(buf, "10.3.0.0") < row(buf, "10.3.0.1"));
    ksd_corr_free(c2);
    ksd_corr_free(c);
}

/* A full host table evicts the least recently updated host and counts it. */
static void test_hosts_eviction(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    for (uint32_t i = 0; i <= KSD_HOSTS_MAX; i++) {
        struct ksd_addr a = An(i);
        ksd_corr_host_add(c, &a, (int64_t)i, "sni", "update", "x", "", "");
    }
    assert_int_equal(ksd_corr_hosts_count(c), KSD_HOSTS_MAX);
    assert_int_equal(ksd_corr_stats(c)->hosts_evicted, 1);
    ksd_corr_free(c);
}

/* The verdict from the categories seen. */
static void test_verdict(void **state)
{
    (void)state;
    size_t n;
    const char *const *cats = ksd_sig_categories(&n);
    assert_true(n > 0 && n <= 32);
    uint32_t website = 0, product = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cats[i], "website") == 0)
            website = 1u << i;
        else if (ksd_sig_category_is_product(cats[i], strlen(cats[i])))
            product |= 1u << i;
        else
            other |= 1u << i;
    }
    assert_true(website && product && other);
    assert_string_equal(ksd_corr_verdict_of(0), "suspected");
    assert_string_equal(ksd_corr_verdict_of(website), "website-only");
    assert_string_equal(ksd_corr_verdict_of(website | other), "suspected");
    assert_string_equal(ksd_corr_verdict_of(other), "suspected");
    for (size_t i = 0; i < n; i++)
        if (product & (1u << i))
            assert_string_equal(ksd_corr_verdict_of((1u << i) | website | other), "product");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_cache), cmocka_unit_test(test_dns_eviction),
        cmocka_unit_test(test_pairs),     cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_hosts),     cmocka_unit_test(test_hosts_eviction),
        cmocka_unit_test(test_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
