/*
 * report_db.c - the connection of the Redis reader of `ksd report` and the
 * dashboard: the connection (through sensor/output/redisconn.c: target, auth
 * file, Sentinel discovery, AUTH), the command helpers that keep a failed context from being
 * reused, and the dedicated connection subscribed to the live channel. Also
 * the small value helpers the reader files share (bounded copies, numbers,
 * dates).
 *
 * It reads Redis with hiredis's blocking API and writes nothing. It does not
 * interpret what it reads: report_read.c does.
 */
#include "sensor/analyst/report.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ksd.h"
#include "sensor/analyst/report_int.h"
#include "sensor/output/emit.h"
#include "sensor/output/redisconn.h"

struct ksd_report_sub {
    redisContext *c; /* subscribed connection */
};

/* ---- small helpers ---- */

void ksd_report_set_err(char *err, size_t errlen, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s", a, b ? b : "");
}

void ksd_report_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    /* an embedded NUL simply ends the value */
}

int64_t ksd_report_i64(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return 0;
    return (int64_t)v;
}

int ksd_report_digits(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

void ksd_report_fmt_time(int64_t t, char *buf, size_t len, int iso)
{
    if (t <= 0) {
        snprintf(buf, len, "%s", iso ? "" : "-");
        return;
    }
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- connection ---- */

/* The shared connection (sensor/output/redisconn.c): target, auth file,
 * Sentinel discovery. */
redisContext *ksd_report_connect(const struct ksd_report_conf *c, char *err, size_t errlen)
{
    struct ksd_redis_target t;
    struct ksd_redis_auth auth;
    const char *reason = NULL;
    int ms = c->timeout_ms > 0 ? c->timeout_ms : 2000;
    struct ksd_redisconn_opts o = {ms, ms, 0};
    enum ksd_redisconn_fail fail;
    char why[256];
    if (!c->target || ksd_redisconn_parse_target(c->target, &t, &reason) != KSD_OK) {
        ksd_report_set_err(err, errlen, "bad --redis target: ", reason ? reason : "missing");
        return NULL;
    }
    memset(&auth, 0, sizeof(auth));
    if (c->auth_file && ksd_redisconn_read_auth(c->auth_file, &auth, err, errlen) != KSD_OK)
        return NULL;
    redisContext *rc = ksd_redisconn_open(&t, &auth, &o, NULL, 0, &fail, why, sizeof(why));
    explicit_bzero(&auth, sizeof(auth));
    if (!rc)
        ksd_report_set_err(err, errlen,
                           fail == KSD_REDISCONN_AUTH ? "Redis AUTH failed at "
                                                      : "cannot connect to Redis at ",
                           c->target);
    return rc;
}

struct ksd_report_db *ksd_report_open(const struct ksd_report_conf *c, char *err, size_t errlen)
{
    const char *prefix = c->prefix ? c->prefix : "ksd:";
    if (strlen(prefix) >= sizeof(((struct ksd_report_db *)0)->prefix)) {
        ksd_report_set_err(err, errlen, "--redis-prefix too long", NULL);
        return NULL;
    }
    struct ksd_report_db *db = calloc(1, sizeof(*db));
    if (!db) {
        ksd_report_set_err(err, errlen, "out of memory", NULL);
        return NULL;
    }
    snprintf(db->prefix, sizeof(db->prefix), "%s", prefix);
    db->c = ksd_report_connect(c, err, errlen);
    if (!db->c) {
        free(db);
        return NULL;
    }
    return db;
}

void ksd_report_close(struct ksd_report_db *db)
{
    if (!db)
        return;
    if (db->c)
        redisFree(db->c);
    free(db);
}

const char *ksd_report_error(const struct ksd_report_db *db)
{
    return db->err;
}

int ksd_report_broken(const struct ksd_report_db *db)
{
    return db->broken;
}

void ksd_report_db_fail(struct ksd_report_db *db, const char *what)
{
    snprintf(db->err, sizeof(db->err), "Redis: %s: %s", what,
             db->c && db->c->errstr[0] ? db->c->errstr : "connection lost");
    db->broken = 1;
    if (db->c)
        redisFree(db->c);
    db->c = NULL;
}

/* A reply, or NULL with db->err set (connection errors also mark db broken). */
static redisReply *db_check(struct ksd_report_db *db, redisReply *r, const char *what)
{
    if (!r) {
        ksd_report_db_fail(db, what);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char msg[128];
        ksd_report_copy(msg, sizeof(msg), r->str, r->len);
        for (char *q = msg; *q; q++)
            if (*q < 0x20 || *q > 0x7e)
                *q = '?';
        snprintf(db->err, sizeof(db->err), "Redis: %s: %s", what, msg);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

redisReply *ksd_report_db_cmd(struct ksd_report_db *db, int argc, const char **argv)
{
    if (!db->c) {
        snprintf(db->err, sizeof(db->err), "Redis: not connected");
        return NULL;
    }
    return db_check(db, redisCommandArgv(db->c, argc, argv, NULL), argv[0]);
}

void ksd_report_db_key(const struct ksd_report_db *db, char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s%s", db->prefix, name);
}
/* ---- live channel ---- */

struct ksd_report_sub *ksd_report_subscribe(const struct ksd_report_conf *c, char *err,
                                            size_t errlen)
{
    char chan[REPORT_KEY_MAX];
    snprintf(chan, sizeof(chan), "%slive", c->prefix ? c->prefix : "ksd:");
    struct ksd_report_sub *s = calloc(1, sizeof(*s));
    if (!s) {
        ksd_report_set_err(err, errlen, "out of memory", NULL);
        return NULL;
    }
    s->c = ksd_report_connect(c, err, errlen);
    if (!s->c) {
        free(s);
        return NULL;
    }
    const char *argv[] = {"SUBSCRIBE", chan};
    redisReply *r = redisCommandArgv(s->c, 2, argv, NULL);
    int ok = r && r->type == REDIS_REPLY_ARRAY;
    if (r)
        freeReplyObject(r);
    if (!ok) {
        ksd_report_set_err(err, errlen, "SUBSCRIBE failed on ", chan);
        ksd_report_sub_close(s);
        return NULL;
    }
    return s;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ksd_report_sub_next(struct ksd_report_sub *s, int timeout_ms, struct ksd_report_buf *b)
{
    int64_t deadline = mono_ms() + timeout_ms;
    if (!s->c)
        return KSD_EINVAL;
    for (;;) {
        void *vr = NULL;
        if (redisGetReplyFromReader(s->c, &vr) != REDIS_OK)
            return KSD_EINVAL;
        if (vr) {
            redisReply *r = vr;
            int got = 0;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 7 &&
                memcmp(r->element[0]->str, "message", 7) == 0 &&
                r->element[2]->type == REDIS_REPLY_STRING) {
                const redisReply *p = r->element[2];
                size_t n = p->len < KSD_REPORT_MAX_MSG ? p->len : KSD_REPORT_MAX_MSG;
                size_t at = b->len;
                ksd_report_buf_add(b, p->str, n);
                for (size_t i = at; i < b->len && !b->oom; i++)
                    if (b->p[i] == '\r' || b->p[i] == '\n' || b->p[i] == '\0')
                        b->p[i] = ' ';
                got = 1;
            }
            freeReplyObject(r);
            if (got)
                return 1;
            continue;
        }
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {s->c->fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return KSD_EINVAL;
        if (pr == 0)
            return 0;
        if (redisBufferRead(s->c) != REDIS_OK)
            return KSD_EINVAL;
    }
}

void ksd_report_sub_close(struct ksd_report_sub *s)
{
    if (!s)
        return;
    if (s->c)
        redisFree(s->c);
    free(s);
}
