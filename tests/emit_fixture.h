/*
 * emit_fixture.h - what the Redis output's tests share (test_emit.c,
 * test_emit_faults.c): a per-test directory and servers (tests/redis_helpers.h)
 * stopped in teardown, event builders, the emitter's configuration, Redis
 * command helpers, waits on the emitter's counters with a deadline, and the
 * exactly-once check of a stream.
 */
#ifndef KSD_TESTS_EMIT_FIXTURE_H
#define KSD_TESTS_EMIT_FIXTURE_H

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

static inline int setup(void **state)
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

static inline int teardown(void **state)
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

static inline const char *in_dir(struct tstate *t, const char *name)
{
    snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
    return t->path;
}

static inline void make_event(struct ksd_event *ev, uint64_t id, const char *client,
                              const char *evidence, const char *category, int64_t ts_us)
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

static inline void simple_event(struct ksd_event *ev, uint64_t id)
{
    char client[32];
    snprintf(client, sizeof(client), "10.0.%u.%u", (unsigned)(id / 250 % 250),
             (unsigned)(id % 250));
    make_event(ev, id, client, "sni", "telemetry", 1700000000000000LL + (int64_t)id * 1000);
}

/* Write simple_event(0 .. n-1) to the spool file t->dir/spool; returns its path. */
static inline const char *spool_ids(struct tstate *t, uint64_t n)
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

static inline void conf_for(struct ksd_emit_conf *c, const char *target)
{
    memset(c, 0, sizeof(*c));
    c->target = target;
    c->prefix = "t:";
    c->sensor_id = "s1";
    c->stats_interval_ms = 200;
    c->connect_timeout_ms = 500;
    c->command_timeout_ms = 1000;
}

static inline struct ksd_emit *start_ok(const struct ksd_emit_conf *c)
{
    char err[256] = "";
    struct ksd_emit *e = ksd_emit_start(c, err, sizeof(err));
    if (!e)
        fail_msg("ksd_emit_start: %s", err);
    return e;
}

static inline redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static inline long long cmd_int(redisContext *c, const char *fmt, ...)
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
static inline void assert_cmd_str(redisContext *c, const char *want, const char *command)
{
    redisReply *r = redisCommand(c, command);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_STRING)
        fail_msg("%s: expected a string reply, got type %d", command, r->type);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
}

/* Field of a flat [k, v, k, v...] reply, or NULL. */
static inline const char *field(const redisReply *r, const char *k)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, k) == 0)
            return r->element[i + 1]->str;
    return NULL;
}

static inline void assert_field(const redisReply *r, const char *k, const char *want)
{
    const char *got = field(r, k);
    if (!got)
        fail_msg("field %s missing", k);
    assert_string_equal(got, want);
}

/* Wait until sent + duplicates reaches n (or timeout_ms passes). */
static inline void wait_delivered(struct ksd_emit *e, uint64_t n, int timeout_ms)
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

/* Wait until the sender counted n errors and has no connection (a failed
 * connection attempt or a refused command). */
static inline void wait_failing(struct ksd_emit *e, uint64_t n, int timeout_ms)
{
    struct ksd_emit_stats st;
    long long end = rh_now_ms() + timeout_ms;
    do {
        ksd_emit_get_stats(e, &st);
        if (st.errors >= n && !st.connected)
            return;
        rh_sleep_ms(10);
    } while (rh_now_ms() < end);
    fail_msg("only %llu errors, connected %d", (unsigned long long)st.errors, st.connected);
}

/*
 * Check that the stream holds ids [0, n) exactly once each; returns the
 * number missing (printed) and fails on any duplicate or foreign id.
 */
static inline uint64_t check_exactly_once(redisContext *c, const char *key, uint64_t n)
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

#endif
