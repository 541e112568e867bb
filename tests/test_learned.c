/*
 * test_learned.c - unit tests of the sensor-wide address tables,
 * sensor/path/learned.c (address -> Kaspersky name) and
 * sensor/path/hostid.c (address -> MAC, announced names, vendor): expiry,
 * a binding not visible before it was learned, the refresh and change
 * results, the name preference, eviction within a full set, no eviction
 * while the tables are far from full (16,384 scattered addresses: a MAC fact
 * comes once per host), and four threads writing and reading at once (each
 * checks its own addresses).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sensor/path/hostid.h"
#include "sensor/path/learned.h"

#define S 1000000LL
#define T (1000 * S) /* one capture time for all threads: their clocks agree */

static void a4(uint8_t out[16], unsigned v)
{
    memset(out, 0, 16);
    out[0] = 10;
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

static void test_learned_expiry_and_order(void **state)
{
    (void)state;
    struct ksd_learned *t = ksd_learned_new();
    assert_non_null(t);
    uint8_t a[16];
    char name[KSD_LEARNED_NAME_MAX];
    a4(a, 1);
    ksd_learned_put(t, 4, a, "ksn.kaspersky.com", 60, 100 * S);
    assert_int_equal(ksd_learned_get(t, 4, a, 99 * S, name, sizeof(name)), 0); /* before */
    assert_int_equal(ksd_learned_get(t, 4, a, 120 * S, name, sizeof(name)), 1);
    assert_string_equal(name, "ksn.kaspersky.com");
    assert_int_equal(ksd_learned_get(t, 4, a, 160 * S, name, sizeof(name)), 0); /* expired */
    assert_int_equal(ksd_learned_get(t, 6, a, 120 * S, name, sizeof(name)), 0); /* family */
    /* a refresh keeps the start, so a flow at 110 s still matches */
    ksd_learned_put(t, 4, a, "ksn.kaspersky.com", 60, 130 * S);
    assert_int_equal(ksd_learned_get(t, 4, a, 110 * S, name, sizeof(name)), 1);
    /* more addresses than fit are evicted and counted, never overflowing */
    for (unsigned i = 0; i < KSD_LEARNED_SETS * KSD_LEARNED_WAYS + 1000; i++) {
        uint8_t b[16];
        a4(b, 100 + i);
        ksd_learned_put(t, 4, b, "x.kaspersky.com", 3600, 200 * S);
    }
    struct ksd_learned_stats st;
    ksd_learned_stats(t, &st);
    assert_true(st.evicted >= 1000);
    ksd_learned_free(t);
}

static void test_hostid_bindings(void **state)
{
    (void)state;
    struct ksd_hostid *t = ksd_hostid_new();
    assert_non_null(t);
    uint8_t a[16];
    a4(a, 7);
    const uint8_t mac[6] = {2, 0, 0, 0, 0, 7}, mac2[6] = {2, 0, 0, 0, 0, 8};
    struct ksd_hostid_view v;
    assert_int_equal(ksd_hostid_get(t, 4, a, 10 * S, &v), 0);
    assert_int_equal(ksd_hostid_set_mac(t, 4, a, mac, 10 * S, 20 * S), 1);
    assert_int_equal(ksd_hostid_set_mac(t, 4, a, mac, 11 * S, 20 * S), 0); /* same: no fact */
    assert_int_equal(ksd_hostid_set_mac(t, 4, a, mac2, 12 * S, 20 * S), 1);
    assert_int_equal(ksd_hostid_set_name(t, 4, a, KSD_NAME_MDNS, "mac-7", 10 * S, 30 * S), 1);
    assert_int_equal(ksd_hostid_get(t, 4, a, 15 * S, &v), 1);
    assert_string_equal(v.mac, "02:00:00:00:00:08");
    assert_string_equal(v.name, "mac-7");
    assert_string_equal(v.name_source, "mdns");
    /* DHCP is preferred while it lasts */
    assert_int_equal(ksd_hostid_set_name(t, 4, a, KSD_NAME_DHCP, "pc-7.corp", 15 * S, 25 * S), 1);
    assert_int_equal(ksd_hostid_set_vendor(t, 4, a, "MSFT 5.0", 15 * S, 25 * S), 1);
    assert_int_equal(ksd_hostid_get(t, 4, a, 16 * S, &v), 1);
    assert_string_equal(v.name, "pc-7.corp");
    assert_string_equal(v.name_source, "dhcp");
    assert_string_equal(v.vendor, "MSFT 5.0");
    /* the MAC expired at 20 s, the lease at 25 s, mDNS lasts to 30 s */
    assert_int_equal(ksd_hostid_get(t, 4, a, 26 * S, &v), 1);
    assert_string_equal(v.mac, "");
    assert_string_equal(v.name_source, "mdns");
    assert_int_equal(ksd_hostid_get(t, 4, a, 31 * S, &v), 0);
    assert_int_equal(ksd_hostid_set_name(t, 4, a, 9, "x", 1, 2), -1);
    ksd_hostid_free(t);
}

/* The i-th of a sequence of scattered addresses in 10/8 (distinct for i
 * below 2^24: an odd multiplier is a bijection modulo 2^24). */
static void scattered(uint8_t out[16], unsigned i)
{
    a4(out, (i * 2654435761u + 12345u) & 0xffffffu);
}

#define FAR_FROM_FULL 16384u /* addresses: a quarter of either table */

static void test_no_eviction_far_from_full(void **state)
{
    (void)state;
    struct ksd_hostid *h = ksd_hostid_new();
    struct ksd_learned *l = ksd_learned_new();
    assert_non_null(h);
    assert_non_null(l);
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < FAR_FROM_FULL; i++) {
            uint8_t a[16], mac[6] = {2, 0, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
            scattered(a, i);
            /* first pass: a new binding each; second: every one still held */
            assert_int_equal(ksd_hostid_set_mac(h, 4, a, mac, T + pass * S, T + 600 * S), !pass);
            if (!pass)
                ksd_learned_put(l, 4, a, "ksn.kaspersky.com", 600, T);
        }
    for (unsigned i = 0; i < FAR_FROM_FULL; i++) {
        uint8_t a[16];
        char name[KSD_LEARNED_NAME_MAX];
        scattered(a, i);
        assert_int_equal(ksd_learned_get(l, 4, a, T + S, name, sizeof(name)), 1);
    }
    struct ksd_learned_stats st;
    ksd_learned_stats(l, &st);
    assert_int_equal(st.evicted, 0);
    ksd_hostid_free(h);
    ksd_learned_free(l);
}

struct worker_arg {
    struct ksd_hostid *h;
    struct ksd_learned *l;
    unsigned base;
    int bad;
};

static void *hammer(void *p)
{
    struct worker_arg *w = p;
    for (unsigned i = 0; i < 20000; i++) {
        uint8_t a[16], mac[6] = {2, 0, (uint8_t)w->base, 0, (uint8_t)(i >> 8), (uint8_t)i};
        char want[32], got[KSD_LEARNED_NAME_MAX];
        a4(a, w->base * 100000 + i % 500);
        snprintf(want, sizeof(want), "h%u-%u", w->base, i % 500);
        ksd_learned_put(w->l, 4, a, want, 600, T);
        if (!ksd_learned_get(w->l, 4, a, T, got, sizeof(got)) || strcmp(got, want))
            w->bad++;
        ksd_hostid_set_mac(w->h, 4, a, mac, T, T + 600 * S);
        ksd_hostid_set_name(w->h, 4, a, KSD_NAME_NETBIOS, want, T, T + 600 * S);
        struct ksd_hostid_view v;
        if (!ksd_hostid_get(w->h, 4, a, T, &v) || strcmp(v.name, want))
            w->bad++;
    }
    return NULL;
}

static void test_tables_threads(void **state)
{
    (void)state;
    struct ksd_hostid *h = ksd_hostid_new();
    struct ksd_learned *l = ksd_learned_new();
    pthread_t th[4];
    struct worker_arg args[4];
    for (unsigned i = 0; i < 4; i++) {
        args[i] = (struct worker_arg){h, l, i + 1, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    ksd_hostid_free(h);
    ksd_learned_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learned_expiry_and_order),
        cmocka_unit_test(test_hostid_bindings),
        cmocka_unit_test(test_no_eviction_far_from_full),
        cmocka_unit_test(test_tables_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
