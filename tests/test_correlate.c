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
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", KSD_EV_SNI, t, w), 1);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", KSD_EV_SNI, t + SEC, w), 0);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", KSD_EV_SNI, t + 299 * SEC, w), 0);
    /* other evidence, rule or client: its own key */
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", KSD_EV_DNS, t + SEC, w), 1);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-dnl03", KSD_EV_SNI, t + SEC, w), 1);
    assert_int_equal(ksd_corr_dedup(c, &cl2, "kl-upd-s07", KSD_EV_SNI, t + SEC, w), 1);
    /* the window has passed: a new event carrying itself and the 2 folded */
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", KSD_EV_SNI, t + 300 * SEC, w), 3);
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", KSD_EV_SNI, t + 301 * SEC, w), 0);
    /* time going backwards (a second capture file) starts a new event */
    assert_int_equal(ksd_corr_dedup(c, &cl, "kl-upd-s07", KSD_EV_SNI, t, w), 2);
    assert_int_equal(ksd_corr_stats(c)->suppressed, 3);
    /* window 0: every detection is an event */
    for (int i = 0; i < 5; i++)
        assert_int_equal(ksd_corr_dedup(c, &cl2, "kl-web-www", KSD_EV_SNI, t, 0), 1);
    ksd_corr_free(c);
}

/* What ksd_corr_hosts_each shows of a table: the records and the indicators. */
struct seen {
    struct ksd_corr_host h[8]; /* records, in visiting order */
    int nh;
    char ind[32][128]; /* "client indicator" */
    uint64_t n[32];    /* its detections */
    int ni;
};

static void see_host(void *arg, const struct ksd_corr_host *h)
{
    struct seen *s = arg;
    assert_true(s->nh < 8);
    s->h[s->nh++] = *h;
}

static void see_ind(void *arg, const struct ksd_addr *client, const char *ind, uint64_t n)
{
    struct seen *s = arg;
    char a[64];
    assert_true(s->ni < 32);
    ksd_addr_str(client, a, sizeof(a));
    snprintf(s->ind[s->ni], sizeof(s->ind[0]), "%s %s", a, ind);
    s->n[s->ni++] = n;
}

static const struct ksd_corr_host *host_of(const struct seen *s, const char *addr)
{
    for (int i = 0; i < s->nh; i++) {
        char a[64];
        ksd_addr_str(&s->h[i].addr, a, sizeof(a));
        if (strcmp(a, addr) == 0)
            return &s->h[i];
    }
    return NULL;
}

static uint64_t ind_of(const struct seen *s, const char *client_ind)
{
    for (int i = 0; i < s->ni; i++)
        if (strcmp(s->ind[i], client_ind) == 0)
            return s->n[i];
    return 0;
}

static uint32_t ev_of(const struct ksd_corr_host *h, const char *kind)
{
    for (size_t i = 0; ksd_corr_evidence_name(i); i++)
        if (strcmp(ksd_corr_evidence_name(i), kind) == 0)
            return h->ev_n[i];
    return 0;
}

/* Host records as --hosts and the Redis host record define them: counted per
 * event emitted (detections through its count), first and last event
 * whatever the order, events per evidence kind, the last non-empty labels. */
static void test_hosts(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    static struct seen s;
    memset(&s, 0, sizeof(s));
    struct ksd_corr_host_visit v = {see_host, see_ind, &s};
    ksd_corr_hosts_each(c, &v);
    assert_int_equal(s.nh, 0);
    struct ksd_addr a = A("10.3.0.1"), b = A("10.3.0.2"), d = A("2001:db8::7");
    int64_t t = 1764198000LL * SEC; /* 2025-11-26 23:00:00 UTC */
    ksd_corr_host_add(c, &b, t + 60 * SEC, KSD_EV_SNI, "website", "www.kaspersky.com", "hq", "", 1);
    ksd_corr_host_add(c, &a, t + 120 * SEC, KSD_EV_DNS, "update", "s07.upd.kaspersky.com", "hq",
                      "managed", 1);
    ksd_corr_host_add(c, &a, t, KSD_EV_SNI, "update", "s07.upd.kaspersky.com", "", "managed", 4);
    ksd_corr_host_add(c, &a, t + 30 * SEC, KSD_EV_JA3, "update", "abc", "hq", "", 1);
    ksd_corr_host_add(c, &d, t, KSD_EV_DNS_IP, "infrastructure", "n0.kaspersky.com", "", "", 2);
    assert_int_equal(ksd_corr_hosts_count(c), 3);
    memset(&s, 0, sizeof(s));
    ksd_corr_hosts_each(c, &v);
    assert_int_equal(s.nh, 3);
    const struct ksd_corr_host *ha = host_of(&s, "10.3.0.1"), *hb = host_of(&s, "10.3.0.2"),
                               *hd = host_of(&s, "2001:db8::7");
    assert_non_null(ha);
    assert_non_null(hb);
    assert_non_null(hd);
    assert_int_equal(ha->first_us, t);
    assert_int_equal(ha->last_us, t + 120 * SEC);
    assert_int_equal(ha->events, 3); /* events, not detections */
    assert_int_equal(ev_of(ha, "dns"), 1);
    assert_int_equal(ev_of(ha, "sni"), 1);
    assert_int_equal(ev_of(ha, "ja3"), 1);
    assert_string_equal(ha->site, "hq");         /* the last non-empty */
    assert_string_equal(ha->managed, "managed"); /* an empty label does not clear it */
    /* detections per indicator: the counts of its events */
    assert_int_equal(ind_of(&s, "10.3.0.1 s07.upd.kaspersky.com"), 5);
    assert_int_equal(ind_of(&s, "2001:db8::7 n0.kaspersky.com"), 2);
    /* verdicts from the categories seen */
    assert_string_equal(ksd_sig_verdict_name(ksd_sig_verdict_of_mask(ha->catmask)), "product");
    assert_string_equal(ksd_sig_verdict_name(ksd_sig_verdict_of_mask(hb->catmask)), "website-only");
    assert_string_equal(ksd_sig_verdict_name(ksd_sig_verdict_of_mask(hd->catmask)), "suspected");
    ksd_corr_free(c);
}

/* A full host table evicts the least recently updated host and counts it. */
static void test_hosts_eviction(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    for (uint32_t i = 0; i <= KSD_HOSTS_MAX; i++) {
        struct ksd_addr a = An(i);
        ksd_corr_host_add(c, &a, (int64_t)i, KSD_EV_SNI, "update", "x", "", "", 1);
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
    assert_string_equal(ksd_sig_verdict_name(ksd_sig_verdict_of_mask(0)), "suspected");
    assert_string_equal(ksd_sig_verdict_name(ksd_sig_verdict_of_mask(website)), "website-only");
    assert_string_equal(ksd_sig_verdict_name(ksd_sig_verdict_of_mask(website | other)),
                        "suspected");
    assert_string_equal(ksd_sig_verdict_name(ksd_sig_verdict_of_mask(other)), "suspected");
    for (size_t i = 0; i < n; i++)
        if (product & (1u << i))
            assert_string_equal(
                ksd_sig_verdict_name(ksd_sig_verdict_of_mask((1u << i) | website | other)),
                "product");
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
