/*
 * test_flow.c - the flow table (sensor/path/flow.c) and the shared flow cap
 * (sensor/path/budget.c): lookup from both directions, client choice,
 * expiry per class, eviction of the least recently used flow, the cap of
 * one table, one cap shared by two tables (two workers), and the flush.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sensor/path/budget.h"
#include "sensor/path/flow.h"

struct released {
    int n;
    int reasons[3];
};

static void on_release(struct ksd_flow *f, int reason, void *arg)
{
    struct released *r = arg;
    (void)f;
    r->n++;
    r->reasons[reason]++;
}

/* A TCP packet from 10.0.0.C:SP to 192.0.2.S:DP. */
static struct ksd_pkt tcp(uint8_t c, uint16_t sp, uint8_t s, uint16_t dp, uint8_t flags)
{
    struct ksd_pkt p;
    memset(&p, 0, sizeof(p));
    p.family = 4;
    p.proto = 6;
    p.src[0] = 10;
    p.src[3] = c;
    p.dst[0] = 192;
    p.dst[2] = 2;
    p.dst[3] = s;
    p.sport = sp;
    p.dport = dp;
    p.tcp_flags = flags;
    return p;
}

static struct ksd_pkt reverse(struct ksd_pkt p)
{
    struct ksd_pkt r = p;
    memcpy(r.src, p.dst, 16);
    memcpy(r.dst, p.src, 16);
    r.sport = p.dport;
    r.dport = p.sport;
    return r;
}

static void test_both_directions_one_flow(void **state)
{
    (void)state;
    struct released rel = {0};
    struct ksd_flow_table *ft = ksd_flow_table_new(1000, NULL, on_release, &rel);
    assert_non_null(ft);
    struct ksd_pkt syn = tcp(1, 40000, 1, 443, 0x02);
    struct ksd_pkt synack = reverse(syn);
    synack.tcp_flags = 0x12;
    int d1 = -1, d2 = -1;
    struct ksd_flow *a = ksd_flow_lookup(ft, &syn, 1000, &d1);
    struct ksd_flow *b = ksd_flow_lookup(ft, &synack, 2000, &d2);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_int_equal(d1, 0);
    assert_int_equal(d2, 1);
    assert_memory_equal(ksd_flow_addr(a, a->client), syn.src, 4);
    assert_int_equal(ksd_flow_port(a, a->client), 40000);
    assert_int_equal(ksd_flow_table_stats(ft)->active, 1);
    assert_int_equal(ksd_flow_table_stats(ft)->created, 1);
    /* a different tunnel context is another flow */
    struct ksd_pkt other = syn;
    other.ctx = 7;
    assert_ptr_not_equal(ksd_flow_lookup(ft, &other, 3000, &d1), a);
    assert_int_equal(ksd_flow_table_stats(ft)->active, 2);
    ksd_flow_table_free(ft);
    assert_int_equal(rel.reasons[KSD_FLOW_GONE_SHUTDOWN], 2);
}

static void test_client_from_synack_and_port(void **state)
{
    (void)state;
    struct ksd_flow_table *ft = ksd_flow_table_new(1000, NULL, NULL, NULL);
    int dir;
    /* first packet seen is the SYN-ACK: its receiver is the client */
    struct ksd_pkt synack = reverse(tcp(2, 50000, 2, 443, 0));
    synack.tcp_flags = 0x12;
    struct ksd_flow *f = ksd_flow_lookup(ft, &synack, 1, &dir);
    assert_int_equal(dir, 1);
    assert_int_equal(ksd_flow_port(f, f->client), 50000);
    /* mid-stream data from the server port: the service port decides */
    struct ksd_pkt mid = reverse(tcp(3, 50001, 3, 443, 0x18));
    f = ksd_flow_lookup(ft, &mid, 2, &dir);
    assert_int_equal(dir, 1);
    assert_true(f->flags & KSD_FLOW_F_MIDSTREAM);
    ksd_flow_table_free(ft);
}

static void test_expiry_per_class(void **state)
{
    (void)state;
    struct released rel = {0};
    struct ksd_flow_timeouts t = {1000000, 5000000, 60000000};
    struct ksd_flow_table *ft = ksd_flow_table_new(1000, &t, on_release, &rel);
    int dir;
    struct ksd_pkt syn = tcp(1, 40000, 1, 443, 0x02);
    struct ksd_pkt udp = tcp(2, 40000, 2, 53, 0);
    udp.proto = 17;
    ksd_flow_lookup(ft, &syn, 0, &dir);
    ksd_flow_lookup(ft, &udp, 0, &dir);
    ksd_flow_expire(ft, 2000000); /* short (1 s) gone, udp (5 s) stays */
    assert_int_equal(rel.reasons[KSD_FLOW_GONE_EXPIRED], 1);
    assert_int_equal(ksd_flow_table_stats(ft)->active, 1);
    ksd_flow_expire(ft, 6000000);
    assert_int_equal(rel.reasons[KSD_FLOW_GONE_EXPIRED], 2);
    assert_int_equal(ksd_flow_table_stats(ft)->expired, 2);
    ksd_flow_table_free(ft);
}

static void test_cap_evicts_least_recently_used(void **state)
{
    (void)state;
    struct released rel = {0};
    struct ksd_flow_table *ft = ksd_flow_table_new(16, NULL, on_release, &rel);
    int dir;
    struct ksd_pkt first = tcp(0, 30000, 0, 443, 0x02);
    struct ksd_flow *keep = ksd_flow_lookup(ft, &first, 0, &dir);
    for (int i = 1; i < 16; i++) {
        struct ksd_pkt p = tcp((uint8_t)i, 30000, (uint8_t)i, 443, 0x02);
        ksd_flow_lookup(ft, &p, i, &dir);
    }
    /* touch the first: flow 1 is now the least recently used */
    assert_ptr_equal(ksd_flow_lookup(ft, &first, 100, &dir), keep);
    struct ksd_pkt extra = tcp(200, 30000, 200, 443, 0x02);
    ksd_flow_lookup(ft, &extra, 101, &dir);
    assert_int_equal(ksd_flow_table_stats(ft)->active, 16);
    assert_int_equal(ksd_flow_table_stats(ft)->evicted, 1);
    assert_int_equal(rel.reasons[KSD_FLOW_GONE_EVICTED], 1);
    assert_ptr_equal(ksd_flow_lookup(ft, &first, 102, &dir), keep); /* still there */
    struct ksd_pkt gone = tcp(1, 30000, 1, 443, 0x02);
    ksd_flow_lookup(ft, &gone, 103, &dir); /* re-created: another eviction */
    assert_int_equal(ksd_flow_table_stats(ft)->created, 18);
    assert_int_equal(ksd_flow_table_stats(ft)->evicted, 2);
    ksd_flow_table_free(ft);
}

/* Two tables (two workers) sharing one cap of 100: together they never hold
 * more, each evicts its own oldest, and the global peak is the cap. */
static void test_shared_cap_two_tables(void **state)
{
    (void)state;
    struct ksd_budget b;
    ksd_budget_init(&b, 100, 1 << 20, 2);
    struct released r0 = {0}, r1 = {0};
    struct ksd_flow_table *t0 = ksd_flow_table_new(100, NULL, on_release, &r0);
    struct ksd_flow_table *t1 = ksd_flow_table_new(100, NULL, on_release, &r1);
    ksd_flow_table_share(t0, &b);
    ksd_flow_table_share(t1, &b);
    int dir;
    for (int i = 0; i < 300; i++) {
        struct ksd_pkt p = tcp((uint8_t)i, (uint16_t)(20000 + i), (uint8_t)(i >> 8), 443, 0x02);
        ksd_flow_lookup(i % 3 ? t1 : t0, &p, i, &dir);
        uint64_t held = ksd_flow_table_stats(t0)->active + ksd_flow_table_stats(t1)->active;
        assert_true(held <= 100);
        assert_int_equal(held, atomic_load(&b.flows));
    }
    assert_int_equal(atomic_load(&b.flows_peak), 100);
    assert_int_equal(ksd_flow_table_stats(t0)->evicted + ksd_flow_table_stats(t1)->evicted, 200);
    /* one table's flows alone never exceed the global cap either */
    assert_true(ksd_flow_table_stats(t1)->active <= 100);
    ksd_flow_table_free(t0);
    assert_int_equal(atomic_load(&b.flows), ksd_flow_table_stats(t1)->active);
    ksd_flow_table_free(t1);
    assert_int_equal(atomic_load(&b.flows), 0);
    assert_int_equal(r0.n + r1.n, 300);
}

/* A table holding no flow still admits one when the shared cap is reached
 * by the other table (then its own oldest goes first next time). */
static void test_shared_cap_empty_table_admits(void **state)
{
    (void)state;
    struct ksd_budget b;
    ksd_budget_init(&b, 16, 1 << 20, 2);
    struct ksd_flow_table *t0 = ksd_flow_table_new(16, NULL, NULL, NULL);
    struct ksd_flow_table *t1 = ksd_flow_table_new(16, NULL, NULL, NULL);
    ksd_flow_table_share(t0, &b);
    ksd_flow_table_share(t1, &b);
    int dir;
    for (int i = 0; i < 16; i++) {
        struct ksd_pkt p = tcp((uint8_t)i, 20000, 1, 443, 0x02);
        ksd_flow_lookup(t0, &p, i, &dir);
    }
    struct ksd_pkt q = tcp(99, 20000, 2, 443, 0x02);
    assert_non_null(ksd_flow_lookup(t1, &q, 20, &dir));
    assert_int_equal(atomic_load(&b.flows), 17);
    struct ksd_pkt q2 = tcp(98, 20000, 2, 443, 0x02);
    ksd_flow_lookup(t1, &q2, 21, &dir); /* t1 now evicts its own oldest */
    assert_int_equal(atomic_load(&b.flows), 17);
    assert_int_equal(ksd_flow_table_stats(t1)->evicted, 1);
    ksd_flow_table_free(t0);
    ksd_flow_table_free(t1);
}

/* The order flows are released in, by their client's last address byte. */
struct order {
    int n;
    uint8_t ids[600];
};

static void on_release_order(struct ksd_flow *f, int reason, void *arg)
{
    struct order *o = arg;
    assert_int_equal(reason, KSD_FLOW_GONE_SHUTDOWN);
    assert_true(o->n < (int)sizeof(o->ids));
    uint16_t hi = ksd_flow_port(f, f->client); /* 20000 + id */
    o->ids[o->n++] = (uint8_t)(hi - 20000);
}

/*
 * A flush releases every flow once, class by class, least recently used
 * first; the table is empty and usable afterwards, and the shared count is
 * back to zero. Both ways: a few flows (removed one by one) and a table
 * full enough that the buckets are cleared at once.
 */
static void flush_case(int n)
{
    struct ksd_budget b;
    ksd_budget_init(&b, 1000, 1 << 20, 1);
    struct order o = {0};
    struct ksd_flow_table *ft = ksd_flow_table_new(1000, NULL, on_release_order, &o);
    ksd_flow_table_share(ft, &b);
    int dir;
    struct ksd_pkt ps[256];
    for (int i = 0; i < n; i++) { /* even: TCP (short class), odd: UDP */
        ps[i] = tcp((uint8_t)i, (uint16_t)(20000 + i), 1, 443, 0x02);
        ps[i].proto = i % 2 ? 17 : 6;
        assert_non_null(ksd_flow_lookup(ft, &ps[i], i, &dir));
    }
    for (int i = 0; i < n; i += 3) /* used again: the most recent of their class */
        ksd_flow_lookup(ft, &ps[i], 1000 + i, &dir);
    uint8_t want[256];
    int k = 0;
    for (int cls = 0; cls < 2; cls++) {
        for (int i = cls; i < n; i += 2)
            if (i % 3)
                want[k++] = (uint8_t)i;
        for (int i = 0; i < n; i += 3)
            if (i % 2 == cls)
                want[k++] = (uint8_t)i;
    }
    assert_int_equal(atomic_load(&b.flows), n);
    ksd_flow_flush(ft);
    assert_int_equal(o.n, n);
    assert_memory_equal(o.ids, want, (size_t)n);
    assert_int_equal(ksd_flow_table_stats(ft)->active, 0);
    assert_int_equal(atomic_load(&b.flows), 0);
    /* empty, and every key makes a new flow again */
    for (int i = 0; i < n; i++) {
        struct ksd_flow *f = ksd_flow_lookup(ft, &ps[i], 2000 + i, &dir);
        assert_non_null(f);
        assert_int_equal(f->pkts[0] + f->pkts[1], 0);
        assert_int_equal(f->first_us, 2000 + i);
    }
    assert_int_equal(ksd_flow_table_stats(ft)->active, n);
    assert_int_equal(ksd_flow_table_stats(ft)->created, 2 * n);
    assert_int_equal(atomic_load(&b.flows), n);
    o.n = 0;
    ksd_flow_table_free(ft);
    assert_int_equal(o.n, n);
    assert_int_equal(atomic_load(&b.flows), 0);
}

static void test_flush_few_and_full(void **state)
{
    (void)state;
    flush_case(10);  /* below a sixteenth of the 1024 buckets: one by one */
    flush_case(250); /* above: released in order, then the buckets cleared */
}

static void test_budget_charge_and_share(void **state)
{
    (void)state;
    struct ksd_budget b;
    ksd_budget_init(&b, 10, 1000, 4);
    assert_int_equal(ksd_budget_share(&b), 250);
    assert_int_equal(ksd_budget_charge(&b, 600), 600);
    assert_false(ksd_budget_over(&b));
    assert_int_equal(ksd_budget_charge(&b, 500), 1100);
    assert_true(ksd_budget_over(&b));
    assert_int_equal(ksd_budget_charge(&b, -700), 400);
    assert_false(ksd_budget_over(&b));
    assert_int_equal(atomic_load(&b.used_peak), 1100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_directions_one_flow),
        cmocka_unit_test(test_client_from_synack_and_port),
        cmocka_unit_test(test_expiry_per_class),
        cmocka_unit_test(test_cap_evicts_least_recently_used),
        cmocka_unit_test(test_shared_cap_two_tables),
        cmocka_unit_test(test_shared_cap_empty_table_admits),
        cmocka_unit_test(test_budget_charge_and_share),
        cmocka_unit_test(test_flush_few_and_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
