/*
 * test_correlate.c - the state that joins evidence across packets and flows
 * (sensor/path/correlate.c), through its public API only: the DNS answer
 * cache (per resolving client, TTL clamped to its floor and cap, expiry,
 * least-recently-used eviction at KSD_DNSCACHE_MAX), prerequisite flows,
 * event suppression (one event per client, rule and evidence per window, the
 * folded detections counted into the next event), and the host records
 * through ksd_corr_hosts_each (first/last seen, events and evidence kinds,
 * categories, labels, detections per indicator, eviction).
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

/* What ksd_corr_hosts_each visits, copied. */
#define T_HOSTS 8
#define T_INDS  16
struct seen {
    struct ksd_corr_host h[T_HOSTS];
    int nh;
    struct {
        struct ksd_addr client;
        char ind[160];
        uint64_t n;
    } ind[T_INDS];
    int ni;
};

static void see_host(void *arg, const struct ksd_corr_host *h)
{
    struct seen *s = arg;
    assert_true(s->nh < T_HOSTS);
    s->h[s->nh++] = *h;
}

static void see_ind(void *arg, const struct ksd_addr *client, const char *indicator, uint64_t n)
{
    struct seen *s = arg;
    assert_true(s->ni < T_INDS);
    s->ind[s->ni].client = *client;
    snprintf(s->ind[s->ni].ind, sizeof(s->ind[0].ind), "%s", indicator);
    s->ind[s->ni++].n = n;
}

static void visit(const struct ksd_corr *c, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    struct ksd_corr_host_visit v = {see_host, see_ind, s};
    ksd_corr_hosts_each(c, &v);
}

static const struct ksd_corr_host *host_of(const struct seen *s, const struct ksd_addr *a)
{
    for (int i = 0; i < s->nh; i++)
        if (memcmp(&s->h[i].addr, a, sizeof(*a)) == 0)
            return &s->h[i];
    return NULL;
}

/* Detections of indicator for client, or -1 when not visited. */
static long long ind_of(const struct seen *s, const struct ksd_addr *a, const char *ind)
{
    for (int i = 0; i < s->ni; i++)
        if (memcmp(&s->ind[i].client, a, sizeof(*a)) == 0 && strcmp(s->ind[i].ind, ind) == 0)
            return (long long)s->ind[i].n;
    return -1;
}

static uint32_t ev_n(const struct ksd_corr_host *h, const char *kind)
{
    for (size_t i = 0; ksd_corr_evidence_name(i); i++)
        if (strcmp(ksd_corr_evidence_name(i), kind) == 0)
            return h->ev_n[i];
    fail_msg("no evidence kind %s", kind);
    return 0;
}

static uint32_t cat_bit(const char *name)
{
    size_t n;
    const char *const *cats = ksd_sig_categories(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(cats[i], name) == 0)
            return 1u << i;
    fail_msg("no category %s", name);
    return 0;
}

static void test_hosts(void **state)
{
    (void)state;
    struct ksd_corr *c = ksd_corr_new();
    static struct seen s;
    visit(c, &s);
    assert_int_equal(s.nh, 0);
    assert_int_equal(s.ni, 0);
    struct ksd_addr a = A("10.3.0.1"), b = A("10.3.0.2"), d = A("2001:db8::7");
    int64_t t = 1764198000LL * SEC;
    ksd_corr_host_add(c, &b, t + 60 * SEC, KSD_EV_SNI, "website", "www.kaspersky.com", "hq", "", 1);
    ksd_corr_host_add(c, &a, t + 120 * SEC, KSD_EV_DNS, "update", "s07.upd.kaspersky.com", "hq",
                      "managed", 1);
    ksd_corr_host_add(c, &a, t, KSD_EV_SNI, "update", "s07.upd.kaspersky.com", "", "", 2);
    ksd_corr_host_add(c, &a, t + 30 * SEC, KSD_EV_JA3, "activation",
                      "a\x01"
                      "b c",
                      "hq", "managed", 1);
    for (int i = 0; i < 6; i++) {
        char ind[32];
        snprintf(ind, sizeof(ind), "n%d.kaspersky.com", i);
        ksd_corr_host_add(c, &d, t, KSD_EV_DNS_IP, "infrastructure", ind, "", "", 1);
    }
    /* the machine: a non-empty MAC or name replaces the kept one, an empty one does not */
    ksd_corr_host_machine(c, &a, "02:00:00:00:00:0a", "", "");
    ksd_corr_host_machine(c, &a, "", "ACCT-PC7", "netbios");
    ksd_corr_host_machine(c, &a, "", "", "");
    ksd_corr_host_machine(c, &b, "", "", "");
    struct ksd_addr none = A("10.3.0.9");
    ksd_corr_host_machine(c, &none, "02:00:00:00:00:09", "X", "dhcp"); /* no record: no host */
    assert_int_equal(ksd_corr_hosts_count(c), 3);
    visit(c, &s);
    assert_int_equal(s.nh, 3);
    const struct ksd_corr_host *ha = host_of(&s, &a), *hb = host_of(&s, &b), *hd = host_of(&s, &d);
    assert_true(ha && hb && hd);
    /* first and last seen whatever the order of arrival; one per event */
    assert_int_equal(ha->first_us, t);
    assert_int_equal(ha->last_us, t + 120 * SEC);
    assert_int_equal(ha->events, 3);
    assert_int_equal(ev_n(ha, "dns"), 1);
    assert_int_equal(ev_n(ha, "sni"), 1);
    assert_int_equal(ev_n(ha, "ja3"), 1);
    assert_int_equal(ev_n(ha, "http_host"), 0);
    assert_int_equal(ha->catmask, cat_bit("update") | cat_bit("activation"));
    /* labels: an empty one does not replace a set one */
    assert_string_equal(ha->site, "hq");
    assert_string_equal(ha->managed, "managed");
    assert_string_equal(hb->managed, "");
    assert_string_equal(ha->mac, "02:00:00:00:00:0a");
    assert_string_equal(ha->name, "ACCT-PC7");
    assert_string_equal(ha->name_source, "netbios");
    assert_string_equal(hb->mac, "");
    assert_string_equal(hb->name, "");
    assert_int_equal(hb->catmask, cat_bit("website"));
    assert_int_equal(hd->events, 6);
    assert_int_equal(ev_n(hd, "dns_ip"), 6);
    /* indicators: detections summed over the events' counts, bytes kept */
    assert_int_equal(ind_of(&s, &a, "s07.upd.kaspersky.com"), 3);
    assert_int_equal(ind_of(&s, &a,
                            "a\x01"
                            "b c"),
                     1);
    assert_int_equal(ind_of(&s, &b, "www.kaspersky.com"), 1);
    assert_int_equal(ind_of(&s, &b, "s07.upd.kaspersky.com"), -1);
    for (int i = 0; i < 6; i++) {
        char ind[32];
        snprintf(ind, sizeof(ind), "n%d.kaspersky.com", i);
        assert_int_equal(ind_of(&s, &d, ind), 1);
    }
    assert_int_equal(s.ni, 2 + 1 + 6);
    /* evidence kind names end with a NULL */
    assert_null(ksd_corr_evidence_name(KSD_CORR_NEVIDENCE));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_cache), cmocka_unit_test(test_dns_eviction),
        cmocka_unit_test(test_pairs),     cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_hosts),     cmocka_unit_test(test_hosts_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
