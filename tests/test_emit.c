/*
 * test_emit.c - the Redis output (sensor/output/emit.c) against real redis-server
 * and redis-sentinel processes started by the test (tests/redis_helpers.h):
 * every field of every key, AUTH with a password and with an ACL user, unix
 * sockets, an outage under load (exactly once across a server restart), a
 * replay of already stored events (no duplicates), a Sentinel failover, a
 * full spool and a full ring (drops counted), and configuration errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/redis_helpers.h"

#include "dissectors/ksd.h"
#include "sensor/output/emit.h"
#include "sensor/output/redisconn.h"
#include "sensor/output/spool.h"

#define T_MAX_SERVERS 6

struct tstate {
    struct rh_server srv[T_MAX_SERVERS]; /* stopped and removed in teardown */
    struct ksd_emit *em;                 /* stopped in teardown if still running */
    char dir[64];                        /* work directory: spool, auth files */
    char path[128];                      /* scratch path inside dir */
};

static int setup(void **state)
{
    struct tstate *t = calloc(1, sizeof(*t));
    if (!t || rh_mktemp(t->dir, sizeof(t->dir)) != 0) {
        free(t);
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tstate *t = *state;
    if (t->em)
        ksd_emit_stop(t->em, 0);
    for (int i = 0; i < T_MAX_SERVERS; i++)
        rh_cleanup(&t->srv[i]);
    rh_rmtree(t->dir);
    free(t);
    return 0;
}

static const char *in_dir(struct tstate *t, const char *name)
{
    snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
    return t->path;
}

static void make_event(struct ksd_event *ev, uint64_t id, const char *client, const char *evidence,
                       const char *category, int64_t ts_us)
{
    memset(ev, 0, sizeof(*ev));
    ev->id = id;
    ev->ts_us = ts_us;
    snprintf(ev->sensor, sizeof(ev->sensor), "s1");
    snprintf(ev->client, sizeof(ev->client), "%s", client);
    snprintf(ev->server, sizeof(ev->server), "203.0.113.5");
    ev->sport = 51514;
    ev->dport = 443;
    snprintf(ev->proto, sizeof(ev->proto), "tcp");
    snprintf(ev->evidence, sizeof(ev->evidence), "%s", evidence);
    snprintf(ev->indicator, sizeof(ev->indicator), "ksn-%llu.kaspersky-labs.com",
             (unsigned long long)id);
    snprintf(ev->rule, sizeof(ev->rule), "kl-%llu", (unsigned long long)id);
    snprintf(ev->category, sizeof(ev->category), "%s", category);
    ev->confidence = 90;
    snprintf(ev->app, sizeof(ev->app), "TLS");
    ev->count = 1;
}

static void simple_event(struct ksd_event *ev, uint64_t id)
{
    char client[32];
    snprintf(client, sizeof(client), "10.0.%u.%u", (unsigned)(id / 250 % 250),
             (unsigned)(id % 250));
    make_event(ev, id, client, "sni", "telemetry", 1700000000000000LL + (int64_t)id * 1000);
}

/* Write simple_event(0 .. n-1) to the spool file t->dir/spool; returns its path. */
static const char *spool_ids(struct tstate *t, uint64_t n)
{
    int err = 0;
    struct ksd_spool *sp = ksd_spool_open(in_dir(t, "spool"), 0, &err);
    assert_non_null(sp);
    for (uint64_t i = 0; i < n; i++) {
        struct ksd_event ev;
        simple_event(&ev, i);
        assert_int_equal(ksd_spool_append(sp, &ev, 1), 1);
    }
    ksd_spool_close(sp);
    return t->path;
}

static void conf_for(struct ksd_emit_conf *c, const char *target)
{
    memset(c, 0, sizeof(*c));
    c->target = target;
    c->prefix = "t:";
    c->sensor_id = "s1";
    c->stats_interval_ms = 200;
    c->connect_timeout_ms = 500;
    c->command_timeout_ms = 1000;
}

static struct ksd_emit *start_ok(const struct ksd_emit_conf *c)
{
    char err[256] = "";
    struct ksd_emit *e = ksd_emit_start(c, err, sizeof(err));
    if (!e)
        fail_msg("ksd_emit_start: %s", err);
    return e;
}

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static long long cmd_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("expected an integer reply, got type %d (%s)", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* The command's reply must be the string want. */
static void assert_cmd_str(redisContext *c, const char *want, const char *command)
{
    redisReply *r = redisCommand(c, command);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_STRING)
        fail_msg("%s: expected a string reply, got type %d", command, r->type);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
}

/* Field of a flat [k, v, k, v...] reply, or NULL. */
static const char *field(const redisReply *r, const char *k)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, k) == 0)
            return r->element[i + 1]->str;
    return NULL;
}

static void assert_field(const redisReply *r, const char *k, const char *want)
{
    const char *got = field(r, k);
    if (!got)
        fail_msg("field %s missing", k);
    assert_string_equal(got, want);
}

/* Wait until sent + duplicates reaches n (or timeout_ms passes). */
static void wait_delivered(struct ksd_emit *e, uint64_t n, int timeout_ms)
{
    struct ksd_emit_stats st;
    long long end = rh_now_ms() + timeout_ms;
    do {
        ksd_emit_get_stats(e, &st);
        if (st.sent + st.duplicates_skipped >= n)
            return;
        rh_sleep_ms(10);
    } while (rh_now_ms() < end);
    fail_msg("only %llu of %llu events delivered", (unsigned long long)st.sent,
             (unsigned long long)n);
}

/*
 * Check that the stream holds ids [0, n) exactly once each; returns the
 * number missing (printed) and fails on any duplicate or foreign id.
 */
static uint64_t check_exactly_once(redisContext *c, const char *key, uint64_t n)
{
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    redisReply *r = cmd(c, "XRANGE %s - +", key);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        const char *id = field(f, "id");
        assert_non_null(id);
        unsigned long long v = strtoull(id, NULL, 16);
        assert_true(v < n);
        if (seen[v])
            fail_msg("event id %llu stored twice", v);
        seen[v] = 1;
    }
    freeReplyObject(r);
    uint64_t missing = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!seen[i]) {
            if (missing < 20)
                print_message("lost event id %llu\n", (unsigned long long)i);
            missing++;
        }
    }
    free(seen);
    return missing;
}

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
    rh_sleep_ms(300);
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
    rh_sleep_ms(300);
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
    rh_sleep_ms(1000);
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
    assert_int_equal(sb.st_size, 0);
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
    rh_sleep_ms(250); /* past the first statistics refresh */

    /* freeze the server for longer than the emitter's command timeout: the
     * batch is read and stored when it wakes up, but the emitter has given up
     * on that connection and sends the batch again on a new one */
    redisContext *rc = rh_connect(s);
    assert_non_null(rc);
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

static void test_emit_rejected_event_retried_then_dropped_unmarked(void **state)
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
    long long end = rh_now_ms() + 5000;
    do {
        ksd_emit_get_stats(t->em, &st);
        rh_sleep_ms(10);
    } while (st.dropped < 3 && rh_now_ms() < end);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(st.sent, 0);
    assert_true(st.errors >= 3 * KSD_EMIT_MAX_ATTEMPTS);
    /* a failed event leaves no seen marker behind, so it could be stored later */
    assert_int_equal(cmd_int(rc, "EXISTS t:seen:s1:m28333333"), 0);
    assert_int_equal(cmd_int(rc, "EXISTS t:host:10.0.0.0"), 0);
    /* once the key is fixed, new events land */
    freeReplyObject(cmd(rc, "DEL t:events"));
    simple_event(&ev, 3);
    assert_int_equal(ksd_emit_push(t->em, &ev), 0);
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
    t->em = NULL;
    assert_int_equal(cmd_int(rc, "XLEN t:events"), 1);
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
    assert_int_equal(ksd_emit_stop(t->em, 3000), 0);
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
        cmocka_unit_test_setup_teardown(test_emit_rejected_event_retried_then_dropped_unmarked,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_wrong_hosts_key_stores_events_counts_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_full_spool_drops_counted_then_replays, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_full_ring_without_spool_counts_drops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emit_sentinel_failover_exactly_once, setup, teardown),
    };
    return cmocka_run_group_tests_name("emit", tests, NULL, NULL);
}
