/*
 * test_emit_faults.c - the Redis output under faults, against real
 * redis-server and redis-sentinel processes: a key of the wrong type, a full
 * spool and a full ring (drops counted), and a Sentinel failover (exactly
 * once). The normal paths: test_emit.c.
 */
#include "tests/emit_fixture.h"

static void test_emit_wrong_type_key_keeps_events_until_fixed(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    assert_int_equal(rh_start(s, NULL), 0);
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    /* the stream key has the wrong type: every XADD fails inside the script */
    freeReplyObject(cmd(rc, "SET t:events not-a-stream"));
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    t->em = start_ok(&c);
    struct ksd_event ev;
    for (uint64_t i = 0; i < 3; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    struct ksd_emit_stats st;
    long long end = rh_now_ms() + 10000;
    do { /* refused several times (with backoff) */
        ksd_emit_get_stats(t->em, &st);
        if (st.errors >= 2 * KSD_EMIT_MAX_ATTEMPTS)
            break;
        rh_sleep_ms(10);
    } while (rh_now_ms() < end);
    assert_true(st.errors >= 2 * KSD_EMIT_MAX_ATTEMPTS);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.sent, 0);
    /* a failed event leaves no seen marker behind, so it can be stored later */
    assert_int_equal(cmd_int(rc, "EXISTS t:seen:s1:m28333333"), 0);
    assert_int_equal(cmd_int(rc, "EXISTS t:host:10.0.0.0"), 0);
    /* once the key is fixed, the kept events and new ones land */
    freeReplyObject(cmd(rc, "DEL t:events"));
    simple_event(&ev, 3);
    assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    assert_int_equal(ksd_emit_stop(t->em, 10000), 0);
    t->em = NULL;
    assert_int_equal(check_exactly_once(rc, "t:events", 4), 0);
    redisFree(rc);
}

static void log_to_stderr(void *arg, const char *msg)
{
    (void)arg;
    print_message("  [emit] %s\n", msg);
}

/*
 * The hosts key has the wrong type: the fresh path stores the events, their
 * markers and host hashes, reports the failed ZADD as an error, and a
 * resend of the same ids (a replay) finds them all.
 */
static void test_emit_wrong_hosts_key_stores_events_counts_error(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    assert_int_equal(rh_start(s, NULL), 0);
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    freeReplyObject(cmd(rc, "SET t:hosts not-a-zset"));
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    t->em = start_ok(&c);
    struct ksd_event ev;
    for (uint64_t i = 0; i < 5; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    wait_delivered(t->em, 5, 5000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.sent, 5);
    assert_true(st.errors >= 1);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    assert_int_equal(check_exactly_once(rc, "t:events", 5), 0);
    assert_cmd_str(rc, "1", "HGET t:host:10.0.0.4 events");
    spool_ids(t, 5);
    c.spool_path = t->path;
    t->em = start_ok(&c);
    wait_delivered(t->em, 5, 5000);
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.duplicates_skipped, 5);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    assert_int_equal(check_exactly_once(rc, "t:events", 5), 0);
    redisFree(rc);
}

static void test_emit_full_spool_drops_counted_then_replays(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    s->port = rh_free_port(); /* nobody listens */
    char target[64], spool[128];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    snprintf(spool, sizeof(spool), "%s", in_dir(t, "spool"));
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.queue_max = 100;
    c.spool_path = spool;
    c.spool_max_bytes = 64 * 1024;
    t->em = start_ok(&c);
    struct ksd_event ev;
    int refused = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        simple_event(&ev, i);
        if (ksd_emit_push(t->em, &ev) == KSD_ELIMIT)
            refused++;
    }
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.pushed, 2000);
    assert_true(st.dropped > 0);
    assert_int_equal(st.dropped, (uint64_t)refused);
    assert_int_equal(st.spooled + st.queued_now + st.dropped, 2000);
    assert_int_equal(st.spool_now, st.spooled);
    /* stop without Redis: the ring cannot all go to the full spool */
    assert_int_equal(ksd_emit_stop(t->em, 0), KSD_ELIMIT);
    t->em = NULL;

    int err = 0;
    struct ksd_spool *sp = ksd_spool_open(spool, 0, &err);
    assert_non_null(sp);
    struct ksd_spool_stats ss;
    ksd_spool_get_stats(sp, &ss);
    ksd_spool_close(sp);
    assert_true(ss.records >= st.spooled);
    assert_true(ss.bytes <= 64 * 1024);

    /* Redis comes up: the next run replays the spool, in order */
    assert_int_equal(rh_start(s, NULL), 0);
    t->em = start_ok(&c);
    wait_delivered(t->em, ss.records, 5000);
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.replayed, ss.records);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    assert_int_equal(cmd_int(rc, "XLEN t:events"), (long long)ss.records);
    /* the first ones (oldest) are the ones kept, in push order */
    redisReply *r = cmd(rc, "XRANGE t:events - + COUNT 3");
    assert_int_equal(r->elements, 3);
    for (size_t i = 0; i < 3; i++) {
        char want[24];
        snprintf(want, sizeof(want), "%016zx", i);
        assert_field(r->element[i]->element[1], "id", want);
    }
    freeReplyObject(r);
    redisFree(rc);
}

static void test_emit_full_ring_without_spool_counts_drops(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    assert_int_equal(rh_start(s, NULL), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.queue_max = 10;
    t->em = start_ok(&c);
    wait_delivered(t->em, 0, 100);
    struct ksd_event ev;
    uint64_t refused = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        simple_event(&ev, i);
        if (ksd_emit_push(t->em, &ev) != 0)
            refused++;
    }
    assert_true(refused > 0);
    assert_int_equal(ksd_emit_stop(t->em, 3000), KSD_ELIMIT); /* some were dropped */
    t->em = NULL;
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    assert_int_equal(cmd_int(rc, "XLEN t:events"), (long long)(5000 - refused));
    redisReply *r = cmd(rc, "HGET t:sensor:s1 dropped");
    char want[24];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)refused);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
    redisFree(rc);
}

/* Sentinel master address as "port", or 0. */
static int sentinel_master_port(struct rh_server *sen)
{
    redisContext *c = rh_connect(sen);
    int port = 0;
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name mymaster");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        port = atoi(r->element[1]->str);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return port;
}

static size_t sentinel_count(struct rh_server *sen, const char *what)
{
    redisContext *c = rh_connect(sen);
    size_t n = 0;
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "SENTINEL %s mymaster", what);
    if (r && r->type == REDIS_REPLY_ARRAY)
        n = r->elements;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

static void test_emit_sentinel_failover_exactly_once(void **state)
{
    struct tstate *t = *state;
    struct rh_server *m = &t->srv[0], *rep = &t->srv[1];
    const char *fast[] = {"--repl-diskless-sync-delay", "0", NULL};
    assert_int_equal(rh_start(m, fast), 0);
    char mport[16];
    snprintf(mport, sizeof(mport), "%d", m->port);
    const char *ro[] = {"--replicaof", "127.0.0.1", mport, NULL};
    assert_int_equal(rh_start(rep, ro), 0);
    for (int i = 2; i < 5; i++)
        assert_int_equal(rh_start_sentinel(&t->srv[i], m->port, 2), 0);
    /* wait until the replica is in sync and the sentinels know it and each
     * other */
    long long end = rh_now_ms() + 15000;
    for (;;) {
        redisContext *rc = rh_connect(rep);
        assert_non_null(rc);
        redisReply *r = cmd(rc, "INFO replication");
        int ready = strstr(r->str, "master_link_status:up") != NULL;
        freeReplyObject(r);
        redisFree(rc);
        for (int i = 2; i < 5; i++)
            ready &= sentinel_count(&t->srv[i], "replicas") == 1 &&
                     sentinel_count(&t->srv[i], "sentinels") == 2;
        if (ready)
            break;
        assert_true(rh_now_ms() < end);
        rh_sleep_ms(100);
    }
    char target[160];
    snprintf(target, sizeof(target), "sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/mymaster",
             t->srv[2].port, t->srv[3].port, t->srv[4].port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.spool_path = in_dir(t, "spool");
    c.connect_timeout_ms = 300;
    c.log = log_to_stderr;
    t->em = start_ok(&c);

    /* push at ~2000 events/s; kill the master after 1 s; keep pushing until
     * the sentinels have promoted the replica, then 1 s more */
    struct ksd_event ev;
    uint64_t i = 0;
    long long killed = 0, promoted = 0;
    long long t0 = rh_now_ms();
    end = t0 + 20000;
    for (;;) {
        simple_event(&ev, i++);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
        long long now = rh_now_ms();
        if (!killed && now - t0 >= 1000) {
            rh_kill(m);
            killed = now;
        }
        if (killed && !promoted && i % 100 == 0 && sentinel_master_port(&t->srv[2]) == rep->port)
            promoted = now;
        if (promoted && now - promoted >= 1000)
            break;
        assert_true(now < end);
        rh_sleep_ms(1);
    }
    print_message("sentinel: %llu events, failover took %lld ms\n", (unsigned long long)i,
                  promoted - killed);
    struct ksd_emit_stats st;
    assert_int_equal(ksd_emit_stop_stats(t->em, 15000, &st), 0);
    t->em = NULL;
    redisContext *rc = rh_connect(rep);
    assert_non_null(rc);
    long long stored = cmd_int(rc, "XLEN t:events");
    uint64_t lost = check_exactly_once(rc, "t:events", i); /* fails on a duplicate */
    print_message("sentinel: %llu events pushed, %llu stored on the new master, %llu lost, 0 "
                  "twice; sender: sent %llu, duplicates skipped %llu, dropped %llu, "
                  "unreplicated batches %llu, reconnects %llu\n",
                  (unsigned long long)i, (unsigned long long)stored, (unsigned long long)lost,
                  (unsigned long long)st.sent, (unsigned long long)st.duplicates_skipped,
                  (unsigned long long)st.dropped, (unsigned long long)st.unreplicated,
                  (unsigned long long)st.reconnects);
    assert_int_equal(lost, 0);
    redisFree(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_emit_wrong_type_key_keeps_events_until_fixed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_wrong_hosts_key_stores_events_counts_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_full_spool_drops_counted_then_replays, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_full_ring_without_spool_counts_drops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_sentinel_failover_exactly_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
