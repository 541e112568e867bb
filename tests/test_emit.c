/*
 * test_emit.c - the Redis output (sensor/output/emit.c) against real redis-server
 * processes started by the test (tests/redis_helpers.h): every field of every
 * key, AUTH with a password and with an ACL user, unix sockets, an outage
 * under load (exactly once across a server restart), a replay of already
 * stored events (no duplicates), a reply lost after the store, a script cache
 * flush, and configuration errors. Faults and failover: test_emit_faults.c.
 */
#include "tests/emit_fixture.h"

static void test_emit_parse_target_forms_and_errors(void **state)
{
    (void)state;
    struct ksd_redis_target t;
    const char *why = NULL;
    assert_int_equal(ksd_redisconn_parse_target("127.0.0.1:6379", &t, &why), 0);
    assert_int_equal(t.kind, KSD_REDIS_TCP);
    assert_string_equal(t.addr.host, "127.0.0.1");
    assert_int_equal(t.addr.port, 6379);
    assert_int_equal(ksd_redisconn_parse_target("[::1]:7000", &t, &why), 0);
    assert_string_equal(t.addr.host, "::1");
    assert_int_equal(t.addr.port, 7000);
    assert_int_equal(ksd_redisconn_parse_target("redis.example:1", &t, &why), 0);
    assert_int_equal(ksd_redisconn_parse_target("unix:/run/redis/redis.sock", &t, &why), 0);
    assert_int_equal(t.kind, KSD_REDIS_UNIX);
    assert_string_equal(t.path, "/run/redis/redis.sock");
    assert_int_equal(
        ksd_redisconn_parse_target("sentinel://a:26379,[::1]:26380,c:3/mymaster", &t, &why), 0);
    assert_int_equal(t.kind, KSD_REDIS_SENTINEL);
    assert_int_equal(t.nsentinels, 3);
    assert_string_equal(t.sentinels[1].host, "::1");
    assert_int_equal(t.sentinels[2].port, 3);
    assert_string_equal(t.master, "mymaster");
    assert_int_equal(ksd_redisconn_parse_target("localhost:6379", NULL, NULL), 0);

    const char *bad[] = {"",
                         "localhost",
                         "localhost:",
                         "localhost:0",
                         "localhost:65536",
                         "localhost:12a",
                         ":6379",
                         "::1:6379",
                         "[::1]6379",
                         "unix:",
                         "sentinel://a:1/",
                         "sentinel:///m",
                         "sentinel://a:1,/m",
                         "sentinel://a:1",
                         "sentinel://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9/m",
                         "host name:1"};
    for (size_t i = 0; i < KSD_ARRAY_LEN(bad); i++) {
        why = NULL;
        if (ksd_redisconn_parse_target(bad[i], &t, &why) != KSD_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(why);
    }
    assert_int_equal(ksd_redisconn_parse_target(NULL, &t, &why), KSD_EINVAL);
}

static void test_emit_start_rejects_bad_config(void **state)
{
    struct tstate *t = *state;
    struct ksd_emit_conf c;
    char err[256];
    conf_for(&c, "127.0.0.1:1");
    c.auth_file = in_dir(t, "missing-auth");
    err[0] = '\0';
    assert_null(ksd_emit_start(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "missing-auth"));

    FILE *f = fopen(in_dir(t, "empty-auth"), "w");
    assert_non_null(f);
    fclose(f);
    c.auth_file = t->path;
    assert_null(ksd_emit_start(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));

    conf_for(&c, "nohost");
    assert_null(ksd_emit_start(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "nohost"));

    /* a spool is used by one emitter only */
    conf_for(&c, "127.0.0.1:1");
    c.spool_path = in_dir(t, "spool");
    t->em = start_ok(&c);
    assert_null(ksd_emit_start(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));
    assert_int_equal(ksd_emit_stop(t->em, 0), 0);
    t->em = NULL;
}

static void test_emit_normal_path_writes_every_key(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    assert_int_equal(rh_start(s, NULL), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    redisContext *sub = rh_connect(s);
    assert_non_null(sub);
    freeReplyObject(cmd(sub, "SUBSCRIBE t:live"));

    struct ksd_event ev[3];
    make_event(&ev[0], 1, "10.1.2.3", "sni", "telemetry", 1700000100500000LL);
    make_event(&ev[1], 2, "10.1.2.3", "dns", "update", 1700000050000000LL); /* older */
    make_event(&ev[2], 0xabcdef0123456789ull, "10.9.9.9", "dns_ip", "licensing",
               1700000200000001LL);
    snprintf(ev[2].site, sizeof(ev[2].site), "hq");
    snprintf(ev[2].managed, sizeof(ev[2].managed), "exception");
    snprintf(ev[2].ruleset, sizeof(ev[2].ruleset), "2026-11-01");
    snprintf(ev[2].via, sizeof(ev[2].via), "dnl-01.geo.kaspersky.com");
    snprintf(ev[2].indicator, sizeof(ev[2].indicator), "a\"b\\c\x01\xff");
    ev[2].count = 4;
    ev[2].app[0] = '\0';

    struct ksd_emit_conf c;
    conf_for(&c, target);
    t->em = start_ok(&c);
    struct ksd_sensor_snapshot snap = {1000, 200000, 3, 50, 3, 1700000000, "1.2.3"};
    ksd_emit_snapshot(t->em, &snap);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ksd_emit_push(t->em, &ev[i]), 0);
    wait_delivered(t->em, 3, 5000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.pushed, 3);
    assert_int_equal(st.sent, 3);
    assert_int_equal(st.duplicates_skipped, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.connected, 1);

    redisContext *rc = rh_connect(s);
    assert_non_null(rc);

    /* the stream: every field, in order, optional ones only when set */
    redisReply *r = cmd(rc, "XRANGE t:events - +");
    assert_int_equal(r->elements, 3);
    const char *want0[] = {"ts",         "2023-11-14T22:15:00.500000Z",
                           "sensor",     "s1",
                           "client",     "10.1.2.3",
                           "server",     "203.0.113.5",
                           "sport",      "51514",
                           "dport",      "443",
                           "proto",      "tcp",
                           "evidence",   "sni",
                           "indicator",  "ksn-1.kaspersky-labs.com",
                           "rule",       "kl-1",
                           "category",   "telemetry",
                           "confidence", "90",
                           "app",        "TLS",
                           "id",         "0000000000000001",
                           "count",      "1"};
    redisReply *f0 = r->element[0]->element[1];
    assert_int_equal(f0->elements, KSD_ARRAY_LEN(want0));
    for (size_t i = 0; i < KSD_ARRAY_LEN(want0); i++)
        assert_string_equal(f0->element[i]->str, want0[i]);
    redisReply *f1 = r->element[1]->element[1];
    assert_field(f1, "id", "0000000000000002");
    assert_field(f1, "evidence", "dns");
    assert_field(f1, "ts", "2023-11-14T22:14:10.000000Z");
    redisReply *f2 = r->element[2]->element[1];
    assert_field(f2, "id", "abcdef0123456789");
    assert_field(f2, "site", "hq");
    assert_field(f2, "managed", "exception");
    assert_field(f2, "ruleset", "2026-11-01");
    assert_field(f2, "via", "dnl-01.geo.kaspersky.com");
    assert_field(f2, "count", "4");
    assert_field(f2, "app", "");
    assert_field(f2, "ts", "2023-11-14T22:16:40.000001Z");
    /* binary-safe: the raw indicator bytes, not a formatted copy */
    assert_field(f2, "indicator", "a\"b\\c\x01\xff");
    assert_null(field(f0, "site"));
    assert_null(field(f0, "via"));
    freeReplyObject(r);

    /* the host hashes */
    r = cmd(rc, "HGETALL t:host:10.1.2.3");
    assert_int_equal(r->elements, 2 * 9);
    assert_field(r, "first_seen", "1700000050");
    assert_field(r, "last_seen", "1700000100");
    assert_field(r, "events", "2");
    assert_field(r, "ev:sni", "1");
    assert_field(r, "ev:dns", "1");
    assert_field(r, "categories", "telemetry,update");
    assert_field(r, "last_indicator", "ksn-1.kaspersky-labs.com"); /* the newest, not the last */
    assert_field(r, "last_rule", "kl-1");
    assert_field(r, "sensor", "s1");
    freeReplyObject(r);
    r = cmd(rc, "HGETALL t:host:10.9.9.9");
    assert_int_equal(r->elements, 2 * 11);
    assert_field(r, "first_seen", "1700000200");
    assert_field(r, "last_seen", "1700000200");
    assert_field(r, "events", "1");
    assert_field(r, "ev:dns_ip", "1");
    assert_field(r, "categories", "licensing");
    assert_field(r, "site", "hq");
    assert_field(r, "managed", "exception");
    assert_field(r, "ruleset", "2026-11-01");
    freeReplyObject(r);

    /* the hosts sorted set */
    r = cmd(rc, "ZRANGE t:hosts 0 -1 WITHSCORES");
    assert_int_equal(r->elements, 4);
    assert_string_equal(r->element[0]->str, "10.1.2.3");
    assert_string_equal(r->element[1]->str, "1700000100");
    assert_string_equal(r->element[2]->str, "10.9.9.9");
    assert_string_equal(r->element[3]->str, "1700000200");
    freeReplyObject(r);

    /* the dedup markers: the id in the hash of its sensor and ts minute */
    r = cmd(rc, "TTL t:seen:s1:m28333336");
    assert_true(r->integer > 86000 && r->integer <= 86400);
    freeReplyObject(r);
    assert_int_equal(cmd_int(rc, "HEXISTS t:seen:s1:m28333336 abcdef0123456789"), 1);
    assert_int_equal(cmd_int(rc, "HEXISTS t:seen:s1:m28333335 0000000000000001"), 1);
    assert_int_equal(cmd_int(rc, "HEXISTS t:seen:s1:m28333335 abcdef0123456789"), 0);

    /* the live channel: the JSON of each event, in order */
    for (int i = 0; i < 3; i++) {
        char json[16384];
        assert_true(ksd_event_json(&ev[i], json, sizeof(json)) > 0);
        redisReply *m = NULL;
        assert_int_equal(redisGetReply(sub, (void **)&m), REDIS_OK);
        assert_int_equal(m->elements, 3);
        assert_string_equal(m->element[0]->str, "message");
        assert_string_equal(m->element[1]->str, "t:live");
        assert_string_equal(m->element[2]->str, json);
        freeReplyObject(m);
    }
    redisFree(sub);

    /* the sensor hash, refreshed every 200 ms */
    long long end = rh_now_ms() + 3000;
    for (;;) {
        r = cmd(rc, "HGETALL t:sensor:s1");
        const char *b = field(r, "backlog");
        if (b && strcmp(b, "0") == 0 && field(r, "sent") && strcmp(field(r, "sent"), "3") == 0)
            break;
        freeReplyObject(r);
        assert_true(rh_now_ms() < end);
        rh_sleep_ms(50);
    }
    assert_field(r, "packets", "1000");
    assert_field(r, "bytes", "200000");
    assert_field(r, "drops", "3");
    assert_field(r, "flows", "50");
    assert_field(r, "events", "3");
    assert_field(r, "backlog", "0");
    assert_field(r, "started", "1700000000");
    assert_field(r, "version", "1.2.3");
    assert_field(r, "dropped", "0");
    freeReplyObject(r);
    long long ttl = cmd_int(rc, "TTL t:sensor:s1");
    assert_true(ttl >= 1 && ttl <= 1); /* 3 x 200 ms, rounded down to 1 s minimum */
    redisFree(rc);

    assert_int_equal(ksd_emit_stop(t->em, 2000), 0);
    t->em = NULL;
}

static void auth_case(struct tstate *t, const char *auth_line, int acl)
{
    struct rh_server *s = &t->srv[0];
    const char *pw[] = {"--requirepass", "s3cr3t-Pw", NULL};
    assert_int_equal(rh_start(s, acl ? NULL : pw), 0);
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    if (acl) {
        redisReply *r = cmd(rc, "ACL SETUSER ksd on >ksd-pass ~t:* &t:* +@all");
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    } else {
        freeReplyObject(cmd(rc, "AUTH s3cr3t-Pw"));
    }
    FILE *f = fopen(in_dir(t, "auth"), "w");
    assert_non_null(f);
    fprintf(f, "%s\n", auth_line);
    fclose(f);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.auth_file = t->path;
    t->em = start_ok(&c);
    struct ksd_event ev;
    for (uint64_t i = 0; i < 5; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    wait_delivered(t->em, 5, 5000);
    if (acl) {
        /* the emitter's connection runs as the ACL user */
        redisReply *r = cmd(rc, "CLIENT LIST");
        assert_non_null(strstr(r->str, "user=ksd "));
        freeReplyObject(r);
    }
    assert_int_equal(ksd_emit_stop(t->em, 2000), 0);
    t->em = NULL;
    assert_int_equal(cmd_int(rc, "XLEN t:events"), 5);
    assert_int_equal(check_exactly_once(rc, "t:events", 5), 0);
    redisFree(rc);
}

static void test_emit_auth_password(void **state)
{
    auth_case(*state, "s3cr3t-Pw", 0);
}

static void test_emit_auth_acl_user(void **state)
{
    auth_case(*state, "ksd ksd-pass", 1);
}

static void test_emit_wrong_password_keeps_events_in_spool(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    const char *pw[] = {"--requirepass", "right", NULL};
    assert_int_equal(rh_start(s, pw), 0);
    FILE *f = fopen(in_dir(t, "auth"), "w");
    assert_non_null(f);
    fprintf(f, "wrong\r\n");
    fclose(f);
    char target[64], auth[128];
    snprintf(auth, sizeof(auth), "%s", t->path);
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.auth_file = auth;
    c.spool_path = in_dir(t, "spool");
    t->em = start_ok(&c);
    struct ksd_event ev;
    simple_event(&ev, 7);
    assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    wait_failing(t->em, 1, 5000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.connected, 0);
    assert_int_equal(st.sent, 0);
    assert_true(st.errors >= 1);
    assert_int_equal(ksd_emit_stop(t->em, 200), 1); /* left in the spool */
    t->em = NULL;
}

static void test_emit_unix_socket(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    char sock[128];
    assert_int_equal(rh_mktemp(s->dir, sizeof(s->dir)), 0);
    snprintf(sock, sizeof(sock), "%s/redis.sock", s->dir);
    const char *extra[] = {"--unixsocket", sock, "--unixsocketperm", "700", NULL};
    assert_int_equal(rh_start(s, extra), 0);
    char target[160];
    snprintf(target, sizeof(target), "unix:%s", sock);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    t->em = start_ok(&c);
    struct ksd_event ev;
    for (uint64_t i = 0; i < 10; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    assert_int_equal(check_exactly_once(rc, "t:events", 10), 0);
    redisFree(rc);
}

static void test_emit_connects_when_redis_comes_up_later(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    s->port = rh_free_port();
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    t->em = start_ok(&c); /* nothing listens yet: not an error */
    struct ksd_event ev;
    for (uint64_t i = 0; i < 10; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    wait_failing(t->em, 1, 5000); /* it tried, and failed */
    assert_int_equal(rh_start(s, NULL), 0);
    assert_int_equal(ksd_emit_stop(t->em, 8000), 0);
    t->em = NULL;
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    assert_int_equal(check_exactly_once(rc, "t:events", 10), 0);
    redisFree(rc);
}

static void test_emit_outage_under_load_exactly_once(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    const uint64_t total = 20000, before = 5000;
    /* persistence on, so what was stored before the outage survives it */
    const char *aof[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    assert_int_equal(rh_start(s, aof), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.queue_max = 1000;
    c.spool_path = in_dir(t, "spool");
    t->em = start_ok(&c);
    struct ksd_event ev;
    uint64_t i = 0;
    for (; i < before; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    wait_delivered(t->em, 1000, 5000); /* mid-stream when the server goes away */
    rh_stop(s);
    for (; i < total; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    wait_failing(t->em, 1, 5000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.pushed, total);
    assert_int_equal(st.dropped, 0);
    assert_true(st.spooled >= total - before - 1000); /* the ring holds at most 1000 */
    assert_int_equal(st.connected, 0);
    assert_int_equal(rh_launch(s), 0); /* same port, same directory */
    long long end = rh_now_ms() + 20000;
    do {
        ksd_emit_get_stats(t->em, &st);
        if (st.sent + st.duplicates_skipped >= total && st.spool_now == 0 && st.queued_now == 0)
            break;
        rh_sleep_ms(20);
    } while (rh_now_ms() < end);
    assert_int_equal(ksd_emit_stop_stats(t->em, 5000, &st), 0);
    t->em = NULL;
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    long long stored = cmd_int(rc, "XLEN t:events");
    uint64_t lost = check_exactly_once(rc, "t:events", total); /* fails on a duplicate */
    print_message("outage: %llu events pushed, %llu stored once each (%llu lost, 0 twice); "
                  "sender: sent %llu, duplicates skipped %llu, dropped %llu, spooled %llu, "
                  "replayed %llu, reconnects %llu\n",
                  (unsigned long long)total, (unsigned long long)stored, (unsigned long long)lost,
                  (unsigned long long)st.sent, (unsigned long long)st.duplicates_skipped,
                  (unsigned long long)st.dropped, (unsigned long long)st.spooled,
                  (unsigned long long)st.replayed, (unsigned long long)st.reconnects);
    assert_int_equal(stored, (long long)total);
    assert_int_equal(lost, 0);
    /* host counters were incremented once per event too */
    assert_cmd_str(rc, "1", "HGET t:host:10.0.0.1 events");
    redisFree(rc);
    struct stat sb;
    assert_int_equal(stat(in_dir(t, "spool"), &sb), 0);
    assert_int_equal(sb.st_size, KSD_SPOOL_FILE_HDR); /* all retired */
}

static void test_emit_replay_of_stored_events_not_duplicated(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    const uint64_t n = 100;
    assert_int_equal(rh_start(s, NULL), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    t->em = start_ok(&c);
    struct ksd_event ev;
    for (uint64_t i = 0; i < n; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;

    /* the same events again, as if their replies had been lost: a spool
     * holding them is replayed when the next emitter starts */
    spool_ids(t, n);
    c.spool_path = t->path;
    t->em = start_ok(&c);
    wait_delivered(t->em, n, 5000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.duplicates_skipped, n);
    assert_int_equal(st.sent, 0);
    assert_int_equal(st.replayed, n);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    assert_int_equal(cmd_int(rc, "XLEN t:events"), (long long)n);
    assert_cmd_str(rc, "1", "HGET t:host:10.0.0.5 events");
    redisFree(rc);
}

static void test_emit_reply_lost_after_store_not_duplicated(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    const char *dbg[] = {"--enable-debug-command", "yes", NULL};
    assert_int_equal(rh_start(s, dbg), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.command_timeout_ms = 200;
    t->em = start_ok(&c);
    struct ksd_event ev;
    simple_event(&ev, 0);
    assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    wait_delivered(t->em, 1, 5000);
    /* past the first statistics refresh: the sensor hash counts the event */
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    long long end = rh_now_ms() + 5000;
    for (;;) {
        redisReply *r = cmd(rc, "HGET t:sensor:s1 sent");
        int refreshed = r->type == REDIS_REPLY_STRING && strcmp(r->str, "1") == 0;
        freeReplyObject(r);
        if (refreshed)
            break;
        assert_true(rh_now_ms() < end);
        rh_sleep_ms(10);
    }

    /* freeze the server for longer than the emitter's command timeout: the
     * batch is read and stored when it wakes up, but the emitter has given up
     * on that connection and sends the batch again on a new one */
    assert_int_equal(redisAppendCommand(rc, "DEBUG SLEEP 1"), REDIS_OK);
    int done = 0;
    while (!done)
        assert_int_equal(redisBufferWrite(rc, &done), REDIS_OK);
    rh_sleep_ms(50);
    for (uint64_t i = 1; i <= 10; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    redisReply *r = NULL;
    redisSetTimeout(rc, (struct timeval){5, 0});
    assert_int_equal(redisGetReply(rc, (void **)&r), REDIS_OK);
    freeReplyObject(r);
    wait_delivered(t->em, 11, 10000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    print_message("reply lost: sent %llu, duplicates skipped %llu, reconnects %llu\n",
                  (unsigned long long)st.sent, (unsigned long long)st.duplicates_skipped,
                  (unsigned long long)st.reconnects);
    assert_true(st.reconnects >= 1);
    assert_int_equal(st.sent + st.duplicates_skipped, 11);
    assert_true(st.duplicates_skipped >= 1);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    assert_int_equal(check_exactly_once(rc, "t:events", 11), 0);
    assert_cmd_str(rc, "1", "HGET t:host:10.0.0.5 events");
    redisFree(rc);
}

/* Both paths send their scripts with EVAL: a flushed script cache changes nothing. */
static void test_emit_script_cache_flush_changes_nothing(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    assert_int_equal(rh_start(s, NULL), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    t->em = start_ok(&c);
    struct ksd_event ev;
    simple_event(&ev, 0);
    assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    wait_delivered(t->em, 1, 5000);
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    freeReplyObject(cmd(rc, "SCRIPT FLUSH"));
    for (uint64_t i = 1; i < 50; i++) {
        simple_event(&ev, i);
        assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    }
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    assert_int_equal(check_exactly_once(rc, "t:events", 50), 0);
    redisFree(rc);
}

/*
 * Deliver evs: pushed all at once (DELIVER_BATCH: stored by one transaction
 * of the fresh path), pushed one by one, each delivered before the next
 * (DELIVER_SINGLE), or replayed from a spool written before the start
 * (DELIVER_SPOOL: the checked path, emit_script).
 */
enum { DELIVER_BATCH, DELIVER_SINGLE, DELIVER_SPOOL };

static void deliver(struct tstate *t, const char *target, const char *prefix,
                    const struct ksd_event *evs, size_t n, int how)
{
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.prefix = prefix;
    if (how == DELIVER_SPOOL) {
        int err = 0;
        struct ksd_spool *sp = ksd_spool_open(in_dir(t, "deliver.spool"), 0, &err);
        assert_non_null(sp);
        assert_int_equal(ksd_spool_append(sp, evs, n), (int)n);
        ksd_spool_close(sp);
        c.spool_path = t->path;
    }
    t->em = start_ok(&c);
    for (size_t i = 0; how != DELIVER_SPOOL && i < n; i++) {
        assert_int_equal(ksd_emit_push(t->em, &evs[i]), 0);
        if (how == DELIVER_SINGLE)
            wait_delivered(t->em, i + 1, 5000);
    }
    wait_delivered(t->em, n, 5000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.sent, n);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
}

/* HGETALL of key, sorted "field=value" lines, for comparing two hashes. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void hash_text(redisContext *rc, const char *key, char *out, size_t cap)
{
    redisReply *r = cmd(rc, "HGETALL %s", key);
    char *lines[64];
    size_t n = 0;
    assert_true(r->elements / 2 <= 64);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        lines[n] = malloc(strlen(r->element[i]->str) + strlen(r->element[i + 1]->str) + 2);
        assert_non_null(lines[n]);
        sprintf(lines[n], "%s=%s", r->element[i]->str, r->element[i + 1]->str);
        n++;
    }
    qsort(lines, n, sizeof(lines[0]), cmp_str);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(out + used, cap - used, "%s\n", lines[i]);
        assert_true(used < cap);
        free(lines[i]);
    }
    freeReplyObject(r);
}

static void test_emit_transaction_equals_one_by_one_and_replay(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    assert_int_equal(rh_start(s, NULL), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    /* one client, out-of-order times, equal times, site/managed only on
     * some events (also on one older than last_seen), several evidence kinds
     * and categories, a second client interleaved */
    static const struct {
        const char *client, *evidence, *category, *site, *managed;
        int64_t ts_s;
    } spec[] = {
        {"10.7.0.1", "sni", "telemetry", "", "", 1700000100},
        {"10.7.0.1", "dns", "update", "hq", "", 1700000050},
        {"10.7.0.2", "sni", "telemetry", "", "", 1700000000},
        {"10.7.0.1", "sni", "", "", "managed", 1700000100},
        {"10.7.0.1", "ja3", "telemetry", "", "", 1700000200},
        {"10.7.0.1", "dns", "licensing", "branch", "", 1700000150},
        {"10.7.0.2", "cert", "update", "hq", "", 1700000300},
        {"10.7.0.1", "sni", "update", "", "", 1700000200},
        {"10.7.0.1", "http_host", "", "", "", 1700000010},
    };
    struct ksd_event evs[KSD_ARRAY_LEN(spec)];
    for (size_t i = 0; i < KSD_ARRAY_LEN(spec); i++) {
        make_event(&evs[i], 100 + i, spec[i].client, spec[i].evidence, spec[i].category,
                   spec[i].ts_s * 1000000);
        snprintf(evs[i].site, sizeof(evs[i].site), "%s", spec[i].site);
        snprintf(evs[i].managed, sizeof(evs[i].managed), "%s", spec[i].managed);
    }
    /* a previous record under each prefix: the events fold into it */
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    for (int k = 0; k < 3; k++) {
        const char *pre = k == 0 ? "g:" : k == 1 ? "u:" : "r:";
        freeReplyObject(cmd(rc,
                            "HSET %shost:10.7.0.1 first_seen 1700000060 last_seen 1700000120 "
                            "events 3 ev:sni 2 categories licensing sensor old",
                            pre));
        freeReplyObject(cmd(rc, "ZADD %shosts 1700000120 10.7.0.1", pre));
    }
    deliver(t, target, "g:", evs, KSD_ARRAY_LEN(evs), DELIVER_BATCH);
    deliver(t, target, "u:", evs, KSD_ARRAY_LEN(evs), DELIVER_SINGLE);
    deliver(t, target, "r:", evs, KSD_ARRAY_LEN(evs), DELIVER_SPOOL);
    const char *clients[] = {"10.7.0.1", "10.7.0.2"};
    for (size_t i = 0; i < KSD_ARRAY_LEN(clients); i++) {
        for (int k = 1; k < 3; k++) {
            const char *other = k == 1 ? "u:" : "r:";
            char a[4096], b[4096], ka[64], kb[64];
            snprintf(ka, sizeof(ka), "g:host:%s", clients[i]);
            snprintf(kb, sizeof(kb), "%shost:%s", other, clients[i]);
            hash_text(rc, ka, a, sizeof(a));
            hash_text(rc, kb, b, sizeof(b));
            assert_string_equal(a, b);
            redisReply *za = cmd(rc, "ZSCORE g:hosts %s", clients[i]);
            redisReply *zb = cmd(rc, "ZSCORE %shosts %s", other, clients[i]);
            assert_string_equal(za->str, zb->str);
            freeReplyObject(za);
            freeReplyObject(zb);
        }
    }
    /* and the expected values, spelled out */
    redisReply *r = cmd(rc, "HGETALL g:host:10.7.0.1");
    assert_field(r, "first_seen", "1700000010");
    assert_field(r, "last_seen", "1700000200");
    assert_field(r, "events", "10");
    assert_field(r, "ev:sni", "5");
    assert_field(r, "ev:dns", "2");
    assert_field(r, "categories", "licensing,telemetry,update");
    assert_field(r, "last_rule", "kl-107");
    assert_field(r, "sensor", "s1");
    /* site and managed came only with events older than the running last_seen */
    assert_null(field(r, "site"));
    assert_null(field(r, "managed"));
    freeReplyObject(r);
    assert_int_equal(cmd_int(rc, "XLEN g:events"), (long long)KSD_ARRAY_LEN(evs));
    redisFree(rc);
}

static void test_emit_replay_honours_markers_of_earlier_versions(void **state)
{
    struct tstate *t = *state;
    struct rh_server *s = &t->srv[0];
    const uint64_t n = 10;
    assert_int_equal(rh_start(s, NULL), 0);
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
    /* an earlier ksd stored events 0..4 (per-event seen keys), then stopped
     * with all ten in its spool */
    for (uint64_t i = 0; i < 5; i++)
        freeReplyObject(cmd(rc, "SET t:seen:s1:%016llx 1 EX 600", (unsigned long long)i));
    spool_ids(t, n);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s->port);
    struct ksd_emit_conf c;
    conf_for(&c, target);
    c.spool_path = t->path;
    t->em = start_ok(&c);
    wait_delivered(t->em, n, 5000);
    struct ksd_emit_stats st;
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.duplicates_skipped, 5);
    assert_int_equal(st.sent, 5);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    /* the same ids spooled again (a second replay): all already there */
    spool_ids(t, n);
    t->em = start_ok(&c);
    wait_delivered(t->em, n, 5000);
    ksd_emit_get_stats(t->em, &st);
    assert_int_equal(st.duplicates_skipped, n);
    assert_int_equal(st.sent, 0);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    assert_int_equal(cmd_int(rc, "XLEN t:events"), 5);
    redisFree(rc);
}

/* The stream key has the wrong type (an operator's mistake): the events are
 * kept and retried, never dropped, and land once the key is fixed. */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emit_parse_target_forms_and_errors),
        cmocka_unit_test_setup_teardown(test_emit_start_rejects_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_normal_path_writes_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_auth_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_auth_acl_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_wrong_password_keeps_events_in_spool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_unix_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_connects_when_redis_comes_up_later, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_outage_under_load_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_replay_of_stored_events_not_duplicated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_reply_lost_after_store_not_duplicated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_script_cache_flush_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_transaction_equals_one_by_one_and_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_replay_honours_markers_of_earlier_versions, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
