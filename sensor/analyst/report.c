/*
 * report.c - reads what sensor/output/emit.c writes to Redis (CONTRACT.md "Redis
 * keys") and turns it into what analysts look at: the flagged hosts with
 * their verdict and top indicators, a per-site roll-up, the latest events,
 * detections per hour, sensor health and the live channel. It also holds the
 * `ksd report` command (table, CSV or JSON on standard output).
 *
 * It does not write to Redis and does not decide anything the sensor has not
 * stored: the verdict is derived from the host's categories only. Every value
 * read is captured data; values are bounded on input (KSD_REPORT_MAX_VALUE,
 * KSD_REPORT_MAX_FIELDS) and cleaned on output: printable ASCII with \xNN
 * escapes on a terminal, RFC 4180 quoting in CSV (plus a leading quote on
 * cells that a spreadsheet would read as a formula), ksd_json_string in
 * JSON. Redis is reached through hiredis with the blocking API; a context
 * that has failed is never reused (the caller reopens).
 */
#include "sensor/analyst/report.h"
#include "signatures/sig.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ksd.h"
#include "sensor/output/emit.h"
#include "sensor/output/event.h"

#define REPORT_KEY_MAX     512  /* a key we build */
#define REPORT_SECRET_MAX  512  /* auth file line */
#define REPORT_SCAN_ROUNDS 4096 /* SCAN round trips when looking for sensor hashes */

struct ksd_report_db {
    redisContext *c;  /* NULL once broken */
    char prefix[128]; /* key prefix */
    char err[256];    /* last failure */
    int broken;       /* the connection failed; reopen */
};

struct ksd_report_sub {
    redisContext *c; /* subscribed connection */
};

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s", a, b ? b : "");
}

static void copy_bounded(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    /* an embedded NUL simply ends the value */
}

static int64_t parse_i64(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return 0;
    return (int64_t)v;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static void fmt_time(int64_t t, char *buf, size_t len, int iso)
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

/* ---- buffer ---- */

static int buf_reserve(struct ksd_report_buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (more < b->cap - b->len && b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len <= more) {
        if (cap > ((size_t)1 << 30)) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void ksd_report_buf_add(struct ksd_report_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n + 1) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ksd_report_buf_str(struct ksd_report_buf *b, const char *s)
{
    ksd_report_buf_add(b, s, strlen(s));
}

void ksd_report_buf_json(struct ksd_report_buf *b, const char *s, size_t n)
{
    size_t need = n * 6 + 3;
    if (buf_reserve(b, need + 1) != 0)
        return;
    int w = ksd_json_string(s, n, b->p + b->len, b->cap - b->len);
    if (w < 0) {
        b->oom = 1;
        return;
    }
    b->len += (size_t)w;
}

static void buf_fmt_u64(struct ksd_report_buf *b, uint64_t v)
{
    char t[24];
    snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    ksd_report_buf_str(b, t);
}

static void buf_key(struct ksd_report_buf *b, const char *k, int first)
{
    if (!first)
        ksd_report_buf_add(b, ",", 1);
    ksd_report_buf_add(b, "\"", 1);
    ksd_report_buf_str(b, k);
    ksd_report_buf_add(b, "\":", 2);
}

static void buf_kv_str(struct ksd_report_buf *b, const char *k, const char *v)
{
    buf_key(b, k, 0);
    ksd_report_buf_json(b, v, strlen(v));
}

void ksd_report_buf_free(struct ksd_report_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- verdict and dates ---- */

enum ksd_report_verdict ksd_report_verdict_of(const char *categories)
{
    int any = 0, website = 0, other = 0;
    const char *p = categories ? categories : "";
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - s);
        while (n && s[n - 1] == ' ')
            n--;
        if (n == 0)
            continue;
        any = 1;
        if (ksd_sig_category_is_product(s, n))
            return KSD_REPORT_PRODUCT;
        if (n == 7 && memcmp(s, "website", 7) == 0)
            website = 1;
        else
            other = 1;
    }
    if (any && website && !other)
        return KSD_REPORT_WEBSITE_ONLY;
    return KSD_REPORT_SUSPECTED;
}

const char *ksd_report_verdict_name(enum ksd_report_verdict v)
{
    switch (v) {
        case KSD_REPORT_PRODUCT:
            return "product";
        case KSD_REPORT_WEBSITE_ONLY:
            return "website-only";
        case KSD_REPORT_SUSPECTED:
            break;
    }
    return "suspected";
}

int ksd_report_verdict_parse(const char *s, enum ksd_report_verdict *out)
{
    static const enum ksd_report_verdict all[] = {KSD_REPORT_PRODUCT, KSD_REPORT_WEBSITE_ONLY,
                                                  KSD_REPORT_SUSPECTED};
    for (size_t i = 0; i < KSD_ARRAY_LEN(all); i++) {
        if (s && strcmp(s, ksd_report_verdict_name(all[i])) == 0) {
            *out = all[i];
            return KSD_OK;
        }
    }
    return KSD_EINVAL;
}

/* n decimal digits at *p into *v; advances p. */
static int take_digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return 0;
}

int ksd_report_parse_date(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    const char *p = s;
    if (!s || take_digits(&p, 4, &y) || *p++ != '-' || take_digits(&p, 2, &mo) || *p++ != '-' ||
        take_digits(&p, 2, &d))
        return KSD_EINVAL;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (take_digits(&p, 2, &h) || *p++ != ':' || take_digits(&p, 2, &mi))
            return KSD_EINVAL;
        if (*p == ':') {
            p++;
            if (take_digits(&p, 2, &sec))
                return KSD_EINVAL;
            if (*p == '.' || *p == ',') {
                p++;
                if (*p < '0' || *p > '9')
                    return KSD_EINVAL;
                while (*p >= '0' && *p <= '9')
                    p++;
            }
        }
    }
    if (*p == 'Z' || *p == 'z')
        p++;
    if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 60)
        return KSD_EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return KSD_EINVAL;
    *out = (int64_t)t;
    return KSD_OK;
}

int ksd_report_parse_since(const char *s, int64_t now_s, int64_t *out)
{
    static const struct {
        char unit;
        int64_t secs;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    const char *p = s;
    int64_t n = 0;
    while (p && *p >= '0' && *p <= '9' && n <= 10 * 366 * 86400)
        n = n * 10 + (*p++ - '0');
    if (!p || p == s || !p[0] || p[1])
        return ksd_report_parse_date(s, out);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (*p == units[i].unit) {
            if (n > 10 * 366 * 86400 / units[i].secs)
                return KSD_EINVAL;
            *out = now_s - n * units[i].secs;
            return KSD_OK;
        }
    }
    return KSD_EINVAL;
}

/* "2026-11-27T01:11:41.463751Z" -> Unix seconds, or -1. */
static int64_t parse_event_ts(const char *s, size_t n)
{
    char t[32];
    if (n < 19 || n >= sizeof(t))
        return -1;
    memcpy(t, s, 19);
    t[19] = '\0';
    int64_t v;
    return ksd_report_parse_date(t, &v) == KSD_OK ? v : -1;
}

/* ---- connection ---- */

int ksd_report_read_secret(const char *path, char *user, size_t ulen, char *pass, size_t plen,
                           char *err, size_t errlen)
{
    char line[REPORT_SECRET_MAX + 2];
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "cannot read auth file ", path);
        return KSD_EINVAL;
    }
    int ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    size_t n = ok ? strlen(line) : 0;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0 || n > REPORT_SECRET_MAX) {
        explicit_bzero(line, sizeof(line));
        set_err(err, errlen, "empty or too long first line in ", path);
        return KSD_EINVAL;
    }
    user[0] = '\0';
    const char *pw = line;
    char *sp = strchr(line, ' ');
    if (sp) {
        size_t ul = (size_t)(sp - line);
        if (ul == 0 || ul >= ulen || sp[1] == '\0') {
            explicit_bzero(line, sizeof(line));
            set_err(err, errlen, "bad \"user password\" line in ", path);
            return KSD_EINVAL;
        }
        memcpy(user, line, ul);
        user[ul] = '\0';
        pw = sp + 1;
    }
    if (strlen(pw) >= plen) {
        explicit_bzero(line, sizeof(line));
        set_err(err, errlen, "password too long in ", path);
        return KSD_EINVAL;
    }
    snprintf(pass, plen, "%s", pw);
    explicit_bzero(line, sizeof(line));
    return KSD_OK;
}

static redisContext *connect_hostport(const char *host, int port, struct timeval tv)
{
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Ask the sentinels for the master's address and connect to it. */
static redisContext *connect_sentinel(const struct ksd_emit_target *t, struct timeval tv)
{
    for (int i = 0; i < t->nsentinels && i < KSD_EMIT_MAX_SENTINELS; i++) {
        redisContext *s = connect_hostport(t->sentinels[i].host, t->sentinels[i].port, tv);
        if (!s)
            continue;
        redisSetTimeout(s, tv);
        const char *argv[] = {"SENTINEL", "get-master-addr-by-name", t->master};
        redisReply *r = redisCommandArgv(s, 3, argv, NULL);
        redisContext *m = NULL;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING)
            m = connect_hostport(r->element[0]->str, (int)parse_i64(r->element[1]->str), tv);
        if (r)
            freeReplyObject(r);
        redisFree(s);
        if (m)
            return m;
    }
    return NULL;
}

static redisContext *connect_conf(const struct ksd_report_conf *c, char *err, size_t errlen)
{
    struct ksd_emit_target t;
    const char *reason = NULL;
    char user[128], pass[REPORT_SECRET_MAX + 1];
    int ms = c->timeout_ms > 0 ? c->timeout_ms : 2000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    redisContext *rc = NULL;
    if (!c->target || ksd_emit_parse_target(c->target, &t, &reason) != KSD_OK) {
        set_err(err, errlen, "bad --redis target: ", reason ? reason : "missing");
        return NULL;
    }
    pass[0] = '\0';
    if (c->auth_file && ksd_report_read_secret(c->auth_file, user, sizeof(user), pass, sizeof(pass),
                                               err, errlen) != KSD_OK)
        return NULL;
    switch (t.kind) {
        case KSD_EMIT_TCP:
            rc = connect_hostport(t.addr.host, t.addr.port, tv);
            break;
        case KSD_EMIT_UNIX:
            rc = redisConnectUnixWithTimeout(t.path, tv);
            if (rc && rc->err) {
                redisFree(rc);
                rc = NULL;
            }
            break;
        case KSD_EMIT_SENTINEL:
            rc = connect_sentinel(&t, tv);
            break;
    }
    if (!rc) {
        explicit_bzero(pass, sizeof(pass));
        set_err(err, errlen, "cannot connect to Redis at ", c->target);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    if (pass[0]) {
        const char *argv[3] = {"AUTH", user, pass};
        int argc = 3;
        if (!user[0]) {
            argv[1] = pass;
            argc = 2;
        }
        redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
        explicit_bzero(pass, sizeof(pass));
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            redisFree(rc);
            set_err(err, errlen, "Redis AUTH failed at ", c->target);
            return NULL;
        }
    }
    return rc;
}

struct ksd_report_db *ksd_report_open(const struct ksd_report_conf *c, char *err, size_t errlen)
{
    const char *prefix = c->prefix ? c->prefix : "ksd:";
    if (strlen(prefix) >= sizeof(((struct ksd_report_db *)0)->prefix)) {
        set_err(err, errlen, "--redis-prefix too long", NULL);
        return NULL;
    }
    struct ksd_report_db *db = calloc(1, sizeof(*db));
    if (!db) {
        set_err(err, errlen, "out of memory", NULL);
        return NULL;
    }
    snprintf(db->prefix, sizeof(db->prefix), "%s", prefix);
    db->c = connect_conf(c, err, errlen);
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

static void db_fail(struct ksd_report_db *db, const char *what)
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
        db_fail(db, what);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char msg[128];
        copy_bounded(msg, sizeof(msg), r->str, r->len);
        for (char *q = msg; *q; q++)
            if (*q < 0x20 || *q > 0x7e)
                *q = '?';
        snprintf(db->err, sizeof(db->err), "Redis: %s: %s", what, msg);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static redisReply *db_cmd(struct ksd_report_db *db, int argc, const char **argv)
{
    if (!db->c) {
        snprintf(db->err, sizeof(db->err), "Redis: not connected");
        return NULL;
    }
    return db_check(db, redisCommandArgv(db->c, argc, argv, NULL), argv[0]);
}

static void db_key(const struct ksd_report_db *db, char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s%s", db->prefix, name);
}

/* ---- hosts ---- */

struct ev_count {
    char name[32];
    uint64_t n;
};

static int cmp_ev(const void *a, const void *b)
{
    return strcmp(((const struct ev_count *)a)->name, ((const struct ev_count *)b)->name);
}

/* Fill h from an HGETALL reply. Returns 0, or -1 when the hash is empty. */
static int host_from_hash(struct ksd_report_host *h, const redisReply *r)
{
    struct ev_count ev[KSD_REPORT_MAX_FIELDS];
    size_t nev = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return -1;
    for (size_t i = 0; i + 1 < r->elements && i < 4 * KSD_REPORT_MAX_FIELDS; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char val[32];
        copy_bounded(val, sizeof(val), v->str, v->len);
#define FIELD(name, dst)                                                                           \
    if (k->len == strlen(name) && memcmp(k->str, name, k->len) == 0) {                             \
        copy_bounded(dst, sizeof(dst), v->str, v->len);                                            \
        continue;                                                                                  \
    }
        FIELD("site", h->site);
        FIELD("managed", h->managed);
        FIELD("sensor", h->sensor);
        FIELD("ruleset", h->ruleset);
        FIELD("categories", h->categories);
        FIELD("last_indicator", h->last_indicator);
        FIELD("last_rule", h->last_rule);
#undef FIELD
        if (k->len == 10 && memcmp(k->str, "first_seen", 10) == 0)
            h->first_seen = parse_i64(val);
        else if (k->len == 9 && memcmp(k->str, "last_seen", 9) == 0)
            h->last_seen = parse_i64(val);
        else if (k->len == 6 && memcmp(k->str, "events", 6) == 0)
            h->events = (uint64_t)parse_i64(val);
        else if (k->len > 3 && memcmp(k->str, "ev:", 3) == 0 && nev < KSD_ARRAY_LEN(ev)) {
            copy_bounded(ev[nev].name, sizeof(ev[nev].name), k->str + 3, k->len - 3);
            ev[nev].n = (uint64_t)parse_i64(val);
            nev++;
        }
    }
    qsort(ev, nev, sizeof(ev[0]), cmp_ev);
    size_t l = 0;
    for (size_t i = 0; i < nev; i++) {
        int w = snprintf(h->evidence + l, sizeof(h->evidence) - l, "%s%s:%llu", l ? "," : "",
                         ev[i].name, (unsigned long long)ev[i].n);
        if (w < 0 || (size_t)w >= sizeof(h->evidence) - l)
            break;
        l += (size_t)w;
    }
    h->verdict = ksd_report_verdict_of(h->categories);
    return 0;
}

static int host_passes(const struct ksd_report_host *h, const struct ksd_report_filter *f)
{
    if (f->since && h->last_seen < f->since)
        return 0;
    if (f->site && strcmp(h->site, f->site) != 0)
        return 0;
    if (f->unmanaged && strcmp(h->managed, "managed") == 0)
        return 0;
    if (f->verdict >= 0 && (int)h->verdict != f->verdict)
        return 0;
    return 1;
}

/* Open-addressing map client -> host index, and (host, indicator) -> count. */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

struct pair {
    char *ind;   /* NULL = empty slot */
    size_t host; /* index into hosts */
    uint64_t n;  /* detections */
};

struct top_scan {
    size_t *hidx;    /* client map: host index + 1, 0 = empty */
    size_t hcap;     /* power of two */
    struct pair *pr; /* pair map */
    size_t pcap;     /* power of two */
    size_t pn;       /* pairs used */
};

static size_t client_find(const struct top_scan *t, const struct ksd_report_host *h, const char *s,
                          size_t n)
{
    size_t i = hash_bytes(0xcbf29ce484222325ULL, s, n) & (t->hcap - 1);
    for (size_t k = 0; k < t->hcap; k++, i = (i + 1) & (t->hcap - 1)) {
        size_t v = t->hidx[i];
        if (v == 0)
            return (size_t)-1;
        const char *c = h[v - 1].client;
        if (strlen(c) == n && memcmp(c, s, n) == 0)
            return v - 1;
    }
    return (size_t)-1;
}

static int pair_add(struct top_scan *t, size_t host, const char *s, size_t n, uint64_t cnt)
{
    if (n >= KSD_REPORT_MAX_VALUE)
        n = KSD_REPORT_MAX_VALUE - 1;
    if ((t->pn + 1) * 2 > t->pcap) {
        size_t ncap = t->pcap ? t->pcap * 2 : 1024;
        struct pair *np = calloc(ncap, sizeof(*np));
        if (!np)
            return KSD_ENOMEM;
        for (size_t i = 0; i < t->pcap; i++) {
            if (!t->pr[i].ind)
                continue;
            size_t j = hash_bytes(t->pr[i].host, t->pr[i].ind, strlen(t->pr[i].ind)) & (ncap - 1);
            while (np[j].ind)
                j = (j + 1) & (ncap - 1);
            np[j] = t->pr[i];
        }
        free(t->pr);
        t->pr = np;
        t->pcap = ncap;
    }
    size_t i = hash_bytes(host, s, n) & (t->pcap - 1);
    while (t->pr[i].ind) {
        if (t->pr[i].host == host && strlen(t->pr[i].ind) == n && memcmp(t->pr[i].ind, s, n) == 0) {
            t->pr[i].n += cnt;
            return KSD_OK;
        }
        i = (i + 1) & (t->pcap - 1);
    }
    char *d = malloc(n + 1);
    if (!d)
        return KSD_ENOMEM;
    memcpy(d, s, n);
    d[n] = '\0';
    t->pr[i].ind = d;
    t->pr[i].host = host;
    t->pr[i].n = cnt;
    t->pn++;
    return KSD_OK;
}

static void top_insert(struct ksd_report_host *h, const char *ind, uint64_t n)
{
    int pos = h->ntop;
    while (pos > 0 &&
           (h->top_n[pos - 1] < n || (h->top_n[pos - 1] == n && strcmp(h->top[pos - 1], ind) > 0)))
        pos--;
    if (pos >= KSD_REPORT_TOP)
        return;
    int last = h->ntop < KSD_REPORT_TOP ? h->ntop : KSD_REPORT_TOP - 1;
    for (int i = last; i > pos; i--) {
        memcpy(h->top[i], h->top[i - 1], sizeof(h->top[i]));
        h->top_n[i] = h->top_n[i - 1];
    }
    snprintf(h->top[pos], sizeof(h->top[pos]), "%s", ind);
    h->top_n[pos] = n;
    if (h->ntop < KSD_REPORT_TOP)
        h->ntop++;
}

/* Look up a field of a stream entry's field list. */
static const redisReply *entry_field(const redisReply *fields, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 < fields->elements && i < 2 * KSD_REPORT_MAX_FIELDS; i += 2) {
        const redisReply *k = fields->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == nl && memcmp(k->str, name, nl) == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1];
    }
    return NULL;
}

/* One valid stream entry: [id, [f, v, ...]]. */
static const redisReply *entry_fields(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return e->element[1];
}

static uint64_t entry_count(const redisReply *fields)
{
    const redisReply *c = entry_field(fields, "count");
    if (!c || !all_digits(c->str, c->len))
        return 1;
    uint64_t v = (uint64_t)parse_i64(c->str);
    return v ? v : 1;
}

typedef int (*entry_fn)(void *arg, const redisReply *id, const redisReply *fields);

/* Walk the stream newest first, at most max entries; fn returns 1 to stop. */
static int scan_stream(struct ksd_report_db *db, size_t max, entry_fn fn, void *arg)
{
    char key[REPORT_KEY_MAX], start[80] = "+", count[16];
    size_t seen = 0;
    db_key(db, key, sizeof(key), "events");
    while (seen < max) {
        size_t want = max - seen < KSD_REPORT_PAGE ? max - seen : KSD_REPORT_PAGE;
        snprintf(count, sizeof(count), "%zu", want);
        const char *argv[] = {"XREVRANGE", key, start, "-", "COUNT", count};
        redisReply *r = db_cmd(db, 6, argv);
        if (!r)
            return KSD_EINVAL;
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            snprintf(db->err, sizeof(db->err), "Redis: %.200s is not a stream", key);
            return KSD_EINVAL;
        }
        int last_page = r->elements < want, stop = 0;
        for (size_t i = 0; i < r->elements && !stop; i++) {
            const redisReply *f = entry_fields(r->element[i]);
            seen++;
            if (!f) {
                stop = 1; /* not an entry: the rest cannot be paged */
                break;
            }
            if (fn(arg, r->element[i]->element[0], f))
                stop = 1;
            if (i + 1 == r->elements) {
                const redisReply *id = r->element[i]->element[0];
                if (id->type != REDIS_REPLY_STRING || id->len + 2 > sizeof(start)) {
                    stop = 1;
                } else {
                    start[0] = '(';
                    copy_bounded(start + 1, sizeof(start) - 1, id->str, id->len);
                }
            }
        }
        freeReplyObject(r);
        if (stop || last_page)
            break;
    }
    return KSD_OK;
}

struct top_arg {
    struct top_scan *t;
    struct ksd_report_host *h;
    int err;
};

static int top_entry(void *arg, const redisReply *id, const redisReply *fields)
{
    struct top_arg *a = arg;
    (void)id;
    const redisReply *c = entry_field(fields, "client");
    const redisReply *ind = entry_field(fields, "indicator");
    if (!c || !ind || ind->len == 0)
        return 0;
    size_t hi = client_find(a->t, a->h, c->str, c->len);
    if (hi == (size_t)-1)
        return 0;
    if (pair_add(a->t, hi, ind->str, ind->len, entry_count(fields)) != KSD_OK) {
        a->err = KSD_ENOMEM;
        return 1;
    }
    return 0;
}

static int fill_top(struct ksd_report_db *db, struct ksd_report_host *h, size_t n, size_t scan)
{
    struct top_scan t;
    memset(&t, 0, sizeof(t));
    int rc = KSD_OK;
    t.hcap = 16;
    while (t.hcap < n * 2)
        t.hcap *= 2;
    t.hidx = calloc(t.hcap, sizeof(*t.hidx));
    if (!t.hidx)
        return KSD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t j =
            hash_bytes(0xcbf29ce484222325ULL, h[i].client, strlen(h[i].client)) & (t.hcap - 1);
        while (t.hidx[j])
            j = (j + 1) & (t.hcap - 1);
        t.hidx[j] = i + 1;
    }
    struct top_arg a = {&t, h, KSD_OK};
    rc = scan_stream(db, scan < KSD_REPORT_MAX_SCAN ? scan : KSD_REPORT_MAX_SCAN, top_entry, &a);
    if (rc == KSD_OK)
        rc = a.err;
    for (size_t i = 0; i < t.pcap; i++) {
        if (!t.pr[i].ind)
            continue;
        if (rc == KSD_OK)
            top_insert(&h[t.pr[i].host], t.pr[i].ind, t.pr[i].n);
        free(t.pr[i].ind);
    }
    free(t.pr);
    free(t.hidx);
    if (rc == KSD_ENOMEM)
        snprintf(db->err, sizeof(db->err), "out of memory");
    return rc;
}

int ksd_report_hosts(struct ksd_report_db *db, const struct ksd_report_filter *f,
                     struct ksd_report_host **out, size_t *n)
{
    char key[REPORT_KEY_MAX], min[32], off[24], cnt[24];
    struct ksd_report_host *h = NULL;
    size_t nh = 0, cap = 0, offset = 0;
    int rc = KSD_OK;
    *out = NULL;
    *n = 0;
    db_key(db, key, sizeof(key), "hosts");
    if (f->since > 0)
        snprintf(min, sizeof(min), "%lld", (long long)f->since);
    else
        snprintf(min, sizeof(min), "-inf");
    snprintf(cnt, sizeof(cnt), "%d", KSD_REPORT_PAGE);
    while (offset < KSD_REPORT_MAX_HOSTS) {
        snprintf(off, sizeof(off), "%zu", offset);
        const char *argv[] = {"ZREVRANGEBYSCORE", key, "+inf", min, "LIMIT", off, cnt};
        redisReply *r = db_cmd(db, 7, argv);
        if (!r) {
            rc = KSD_EINVAL;
            goto err;
        }
        size_t got = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        offset += got;
        /* pipeline one HGETALL per member */
        size_t sent = 0;
        for (size_t i = 0; i < got; i++) {
            const redisReply *m = r->element[i];
            char hk[REPORT_KEY_MAX];
            if (m->type != REDIS_REPLY_STRING || m->len >= sizeof(h->client))
                continue;
            int kl = snprintf(hk, sizeof(hk), "%shost:", db->prefix);
            if (kl < 0 || (size_t)kl + m->len >= sizeof(hk))
                continue;
            memcpy(hk + kl, m->str, m->len);
            const char *av[] = {"HGETALL", hk};
            size_t al[] = {7, (size_t)kl + m->len};
            if (redisAppendCommandArgv(db->c, 2, av, al) != REDIS_OK) {
                freeReplyObject(r);
                db_fail(db, "HGETALL");
                rc = KSD_EINVAL;
                goto err;
            }
            sent++;
        }
        size_t done = 0;
        for (size_t i = 0; i < got && done < sent; i++) {
            const redisReply *m = r->element[i];
            char hk[REPORT_KEY_MAX];
            if (m->type != REDIS_REPLY_STRING || m->len >= sizeof(h->client))
                continue;
            int kl = snprintf(hk, sizeof(hk), "%shost:", db->prefix);
            if (kl < 0 || (size_t)kl + m->len >= sizeof(hk))
                continue;
            void *vr = NULL;
            done++;
            if (redisGetReply(db->c, &vr) != REDIS_OK || !vr) {
                freeReplyObject(r);
                db_fail(db, "HGETALL");
                rc = KSD_EINVAL;
                goto err;
            }
            redisReply *hr = vr;
            if (nh == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct ksd_report_host *nhp = realloc(h, ncap * sizeof(*h));
                if (!nhp) {
                    freeReplyObject(hr);
                    freeReplyObject(r);
                    /* replies still pending: the context cannot be reused */
                    db_fail(db, "out of memory");
                    rc = KSD_ENOMEM;
                    goto err;
                }
                h = nhp;
                cap = ncap;
            }
            struct ksd_report_host *x = &h[nh];
            memset(x, 0, sizeof(*x));
            copy_bounded(x->client, sizeof(x->client), m->str, m->len);
            if (host_from_hash(x, hr) == 0 && host_passes(x, f))
                nh++;
            freeReplyObject(hr);
        }
        freeReplyObject(r);
        if (got < KSD_REPORT_PAGE)
            break;
    }
    if (f->top_scan && nh) {
        rc = fill_top(db, h, nh, f->top_scan);
        if (rc != KSD_OK)
            goto err;
    }
    *out = h;
    *n = nh;
    return KSD_OK;
err:
    free(h);
    return rc;
}

/* ---- sites ---- */

static int cmp_site_idx(const void *a, const void *b, void *arg)
{
    const struct ksd_report_host *h = arg;
    return strcmp(h[*(const size_t *)a].site, h[*(const size_t *)b].site);
}

size_t ksd_report_sites(const struct ksd_report_host *h, size_t n, struct ksd_report_site **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    size_t *idx = malloc(n * sizeof(*idx));
    struct ksd_report_site *s = calloc(n, sizeof(*s));
    if (!idx || !s) {
        free(idx);
        free(s);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), cmp_site_idx, (void *)h);
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ksd_report_host *x = &h[idx[i]];
        if (ns == 0 || strcmp(s[ns - 1].name, x->site) != 0)
            snprintf(s[ns++].name, sizeof(s[0].name), "%s", x->site);
        struct ksd_report_site *y = &s[ns - 1];
        y->hosts++;
        if (x->verdict == KSD_REPORT_PRODUCT)
            y->product_hosts++;
        y->events += x->events;
        if (x->last_seen > y->last_seen)
            y->last_seen = x->last_seen;
    }
    free(idx);
    *out = s;
    return ns;
}

/* ---- output ---- */

/* Printable ASCII kept, anything else as \xNN; "-" when empty. */
static void clean_term(const char *s, char *out, size_t cap)
{
    size_t l = 0;
    if (!s[0]) {
        snprintf(out, cap, "-");
        return;
    }
    for (; *s && l + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f)
            out[l++] = (char)c;
        else
            l += (size_t)snprintf(out + l, cap - l, "\\x%02x", c);
    }
    out[l] = '\0';
}

static void top_text(const struct ksd_report_host *h, char *out, size_t cap)
{
    size_t l = 0;
    out[0] = '\0';
    for (int i = 0; i < h->ntop && l + 1 < cap; i++) {
        int w = snprintf(out + l, cap - l, "%s%s (%llu)", i ? "; " : "", h->top[i],
                         (unsigned long long)h->top_n[i]);
        if (w < 0 || (size_t)w >= cap - l)
            break;
        l += (size_t)w;
    }
}

enum {
    COL_CLIENT,
    COL_SITE,
    COL_MANAGED,
    COL_VERDICT,
    COL_FIRST,
    COL_LAST,
    COL_EVENTS,
    COL_EVIDENCE,
    COL_TOP,
    COL_N
};

#define REPORT_CELL 2048 /* one cleaned cell */

static void host_cells(const struct ksd_report_host *h, int iso, char cells[COL_N][REPORT_CELL])
{
    char tmp[KSD_REPORT_TOP * (KSD_REPORT_MAX_VALUE + 32)];
    clean_term(h->client, cells[COL_CLIENT], REPORT_CELL);
    clean_term(h->site, cells[COL_SITE], REPORT_CELL);
    clean_term(h->managed[0] ? h->managed : "no", cells[COL_MANAGED], REPORT_CELL);
    snprintf(cells[COL_VERDICT], REPORT_CELL, "%s", ksd_report_verdict_name(h->verdict));
    fmt_time(h->first_seen, cells[COL_FIRST], REPORT_CELL, iso);
    fmt_time(h->last_seen, cells[COL_LAST], REPORT_CELL, iso);
    snprintf(cells[COL_EVENTS], REPORT_CELL, "%llu", (unsigned long long)h->events);
    clean_term(h->evidence, cells[COL_EVIDENCE], REPORT_CELL);
    top_text(h, tmp, sizeof(tmp));
    clean_term(tmp, cells[COL_TOP], REPORT_CELL);
}

static void print_row(FILE *f, const char *const *cells, const size_t *w, int ncol, int right_from,
                      int right_to)
{
    for (int i = 0; i < ncol; i++) {
        int right = i >= right_from && i <= right_to;
        if (i + 1 == ncol)
            fprintf(f, "%s\n", cells[i]);
        else if (right)
            fprintf(f, "%*s  ", (int)w[i], cells[i]);
        else
            fprintf(f, "%-*s  ", (int)w[i], cells[i]);
    }
}

static void write_table_hosts(FILE *f, const struct ksd_report_host *h, size_t n)
{
    static const char *const head[COL_N] = {
        "CLIENT",          "SITE",   "MANAGED",  "VERDICT",       "FIRST SEEN (UTC)",
        "LAST SEEN (UTC)", "EVENTS", "EVIDENCE", "TOP INDICATORS"};
    char cells[COL_N][REPORT_CELL];
    size_t w[COL_N];
    if (n == 0) {
        fprintf(f, "no flagged hosts\n");
        return;
    }
    for (int c = 0; c < COL_N; c++)
        w[c] = strlen(head[c]);
    for (size_t i = 0; i < n; i++) {
        host_cells(&h[i], 0, cells);
        for (int c = 0; c < COL_N; c++)
            if (strlen(cells[c]) > w[c])
                w[c] = strlen(cells[c]);
    }
    print_row(f, head, w, COL_N, COL_EVENTS, COL_EVENTS);
    for (size_t i = 0; i < n; i++) {
        const char *row[COL_N];
        host_cells(&h[i], 0, cells);
        for (int c = 0; c < COL_N; c++)
            row[c] = cells[c];
        print_row(f, row, w, COL_N, COL_EVENTS, COL_EVENTS);
    }
}

static void write_table_sites(FILE *f, const struct ksd_report_site *s, size_t n)
{
    static const char *const head[] = {"SITE", "HOSTS", "PRODUCT HOSTS", "EVENTS",
                                       "LAST SEEN (UTC)"};
    char cells[5][128];
    size_t w[5];
    for (int c = 0; c < 5; c++)
        w[c] = strlen(head[c]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            print_row(f, head, w, 5, 1, 3);
        for (size_t i = 0; i < n; i++) {
            const char *row[5];
            clean_term(s[i].name, cells[0], sizeof(cells[0]));
            snprintf(cells[1], sizeof(cells[1]), "%zu", s[i].hosts);
            snprintf(cells[2], sizeof(cells[2]), "%zu", s[i].product_hosts);
            snprintf(cells[3], sizeof(cells[3]), "%llu", (unsigned long long)s[i].events);
            fmt_time(s[i].last_seen, cells[4], sizeof(cells[4]), 0);
            for (int c = 0; c < 5; c++) {
                row[c] = cells[c];
                if (pass == 0 && strlen(cells[c]) > w[c])
                    w[c] = strlen(cells[c]);
            }
            if (pass == 1)
                print_row(f, row, w, 5, 1, 3);
        }
    }
}

/* One CSV cell: control bytes as \xNN, a formula-like start quoted with ',
 * then RFC 4180 quoting when needed. */
static void csv_cell(FILE *f, const char *s, int last)
{
    char clean[REPORT_CELL * 2];
    size_t l = 0;
    if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')
        clean[l++] = '\'';
    for (; *s && l + 5 < sizeof(clean); s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            l += (size_t)snprintf(clean + l, sizeof(clean) - l, "\\x%02x", c);
        else
            clean[l++] = (char)c;
    }
    clean[l] = '\0';
    if (strpbrk(clean, ",\"") || (l && (clean[0] == ' ' || clean[l - 1] == ' '))) {
        fputc('"', f);
        for (const char *p = clean; *p; p++) {
            if (*p == '"')
                fputc('"', f);
            fputc(*p, f);
        }
        fputc('"', f);
    } else {
        fputs(clean, f);
    }
    fputs(last ? "\r\n" : ",", f);
}

static void write_csv_hosts(FILE *f, const struct ksd_report_host *h, size_t n)
{
    fputs("client,site,managed,verdict,first_seen,last_seen,events,evidence,categories,"
          "top_indicators,last_rule,sensor\r\n",
          f);
    for (size_t i = 0; i < n; i++) {
        char first[32], last[32], ev[24], top[KSD_REPORT_TOP * (KSD_REPORT_MAX_VALUE + 32)];
        fmt_time(h[i].first_seen, first, sizeof(first), 1);
        fmt_time(h[i].last_seen, last, sizeof(last), 1);
        snprintf(ev, sizeof(ev), "%llu", (unsigned long long)h[i].events);
        top_text(&h[i], top, sizeof(top));
        csv_cell(f, h[i].client, 0);
        csv_cell(f, h[i].site, 0);
        csv_cell(f, h[i].managed, 0);
        csv_cell(f, ksd_report_verdict_name(h[i].verdict), 0);
        csv_cell(f, first, 0);
        csv_cell(f, last, 0);
        csv_cell(f, ev, 0);
        csv_cell(f, h[i].evidence, 0);
        csv_cell(f, h[i].categories, 0);
        csv_cell(f, top, 0);
        csv_cell(f, h[i].last_rule, 0);
        csv_cell(f, h[i].sensor, 1);
    }
}

static void write_csv_sites(FILE *f, const struct ksd_report_site *s, size_t n)
{
    fputs("site,hosts,product_hosts,events,last_seen\r\n", f);
    for (size_t i = 0; i < n; i++) {
        char a[24], b[24], c[24], last[32];
        snprintf(a, sizeof(a), "%zu", s[i].hosts);
        snprintf(b, sizeof(b), "%zu", s[i].product_hosts);
        snprintf(c, sizeof(c), "%llu", (unsigned long long)s[i].events);
        fmt_time(s[i].last_seen, last, sizeof(last), 1);
        csv_cell(f, s[i].name, 0);
        csv_cell(f, a, 0);
        csv_cell(f, b, 0);
        csv_cell(f, c, 0);
        csv_cell(f, last, 1);
    }
}

void ksd_report_hosts_json(struct ksd_report_buf *b, const struct ksd_report_host *h, size_t n)
{
    ksd_report_buf_str(b, "[");
    for (size_t i = 0; i < n; i++) {
        char t[32];
        ksd_report_buf_str(b, i ? ",{\"client\":" : "{\"client\":");
        ksd_report_buf_json(b, h[i].client, strlen(h[i].client));
        buf_kv_str(b, "site", h[i].site);
        buf_kv_str(b, "managed", h[i].managed);
        buf_kv_str(b, "verdict", ksd_report_verdict_name(h[i].verdict));
        buf_key(b, "first_seen", 0);
        buf_fmt_u64(b, (uint64_t)(h[i].first_seen > 0 ? h[i].first_seen : 0));
        buf_key(b, "last_seen", 0);
        buf_fmt_u64(b, (uint64_t)(h[i].last_seen > 0 ? h[i].last_seen : 0));
        fmt_time(h[i].first_seen, t, sizeof(t), 1);
        buf_kv_str(b, "first_seen_iso", t);
        fmt_time(h[i].last_seen, t, sizeof(t), 1);
        buf_kv_str(b, "last_seen_iso", t);
        buf_key(b, "events", 0);
        buf_fmt_u64(b, h[i].events);
        buf_kv_str(b, "evidence", h[i].evidence);
        buf_kv_str(b, "categories", h[i].categories);
        buf_key(b, "top", 0);
        ksd_report_buf_str(b, "[");
        for (int k = 0; k < h[i].ntop; k++) {
            ksd_report_buf_str(b, k ? ",{\"indicator\":" : "{\"indicator\":");
            ksd_report_buf_json(b, h[i].top[k], strlen(h[i].top[k]));
            buf_key(b, "count", 0);
            buf_fmt_u64(b, h[i].top_n[k]);
            ksd_report_buf_str(b, "}");
        }
        ksd_report_buf_str(b, "]");
        buf_kv_str(b, "last_indicator", h[i].last_indicator);
        buf_kv_str(b, "last_rule", h[i].last_rule);
        buf_kv_str(b, "sensor", h[i].sensor);
        buf_kv_str(b, "ruleset", h[i].ruleset);
        ksd_report_buf_str(b, "}");
    }
    ksd_report_buf_str(b, "]");
}

void ksd_report_sites_json(struct ksd_report_buf *b, const struct ksd_report_site *s, size_t n)
{
    ksd_report_buf_str(b, "[");
    for (size_t i = 0; i < n; i++) {
        char t[32];
        ksd_report_buf_str(b, i ? ",{\"site\":" : "{\"site\":");
        ksd_report_buf_json(b, s[i].name, strlen(s[i].name));
        buf_key(b, "hosts", 0);
        buf_fmt_u64(b, s[i].hosts);
        buf_key(b, "product_hosts", 0);
        buf_fmt_u64(b, s[i].product_hosts);
        buf_key(b, "events", 0);
        buf_fmt_u64(b, s[i].events);
        buf_key(b, "last_seen", 0);
        buf_fmt_u64(b, (uint64_t)(s[i].last_seen > 0 ? s[i].last_seen : 0));
        fmt_time(s[i].last_seen, t, sizeof(t), 1);
        buf_kv_str(b, "last_seen_iso", t);
        ksd_report_buf_str(b, "}");
    }
    ksd_report_buf_str(b, "]");
}

int ksd_report_write(FILE *f, enum ksd_report_format fmt, unsigned parts,
                     const struct ksd_report_host *h, size_t n, const struct ksd_report_site *s,
                     size_t ns)
{
    switch (fmt) {
        case KSD_REPORT_TABLE:
            if (n == 0) {
                fprintf(f, "no flagged hosts\n");
                break;
            }
            if (parts & KSD_REPORT_PART_HOSTS)
                write_table_hosts(f, h, n);
            if (parts == (KSD_REPORT_PART_HOSTS | KSD_REPORT_PART_SITES))
                fputc('\n', f);
            if (parts & KSD_REPORT_PART_SITES)
                write_table_sites(f, s, ns);
            break;
        case KSD_REPORT_CSV:
            if (parts & KSD_REPORT_PART_HOSTS)
                write_csv_hosts(f, h, n);
            else
                write_csv_sites(f, s, ns);
            break;
        case KSD_REPORT_JSON: {
            struct ksd_report_buf b = {0};
            if (parts & KSD_REPORT_PART_HOSTS)
                ksd_report_hosts_json(&b, h, n);
            else
                ksd_report_sites_json(&b, s, ns);
            ksd_report_buf_str(&b, "\n");
            int bad = b.oom || fwrite(b.p, 1, b.len, f) != b.len;
            ksd_report_buf_free(&b);
            if (bad)
                return -1;
            break;
        }
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* ---- events, timeline, sensors ---- */

static void entry_json(struct ksd_report_buf *b, const redisReply *id, const redisReply *f)
{
    static const char *const numeric[] = {"sport", "dport", "confidence", "count"};
    ksd_report_buf_str(b, "{\"stream_id\":");
    ksd_report_buf_json(b, id->str, id->len);
    for (size_t i = 0; i + 1 < f->elements && i < 2 * KSD_REPORT_MAX_FIELDS; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len == 0 ||
            (k->len == 9 && memcmp(k->str, "stream_id", 9) == 0))
            continue;
        int num = 0;
        for (size_t j = 0; j < KSD_ARRAY_LEN(numeric); j++)
            if (strlen(numeric[j]) == k->len && memcmp(numeric[j], k->str, k->len) == 0)
                num = all_digits(v->str, v->len);
        ksd_report_buf_add(b, ",", 1);
        ksd_report_buf_json(b, k->str, k->len < 64 ? k->len : 64);
        ksd_report_buf_add(b, ":", 1);
        if (num)
            ksd_report_buf_add(b, v->str, v->len);
        else
            ksd_report_buf_json(b, v->str,
                                v->len < KSD_REPORT_MAX_VALUE ? v->len : KSD_REPORT_MAX_VALUE);
    }
    ksd_report_buf_str(b, "}");
}

struct events_arg {
    struct ksd_report_buf *b;
    size_t n;
};

static int events_entry(void *arg, const redisReply *id, const redisReply *fields)
{
    struct events_arg *a = arg;
    if (id->type != REDIS_REPLY_STRING)
        return 0;
    if (a->n++)
        ksd_report_buf_add(a->b, ",", 1);
    entry_json(a->b, id, fields);
    return 0;
}

int ksd_report_events_json(struct ksd_report_db *db, size_t count, struct ksd_report_buf *b)
{
    struct events_arg a = {b, 0};
    if (count == 0)
        count = 1;
    if (count > KSD_REPORT_MAX_EVENTS)
        count = KSD_REPORT_MAX_EVENTS;
    ksd_report_buf_str(b, "[");
    int rc = scan_stream(db, count, events_entry, &a);
    ksd_report_buf_str(b, "]");
    return rc;
}

struct tl_arg {
    int64_t *ts;     /* event capture times */
    uint64_t *w;     /* their detection counts */
    size_t n;        /* used */
    int64_t newest;  /* newest ts seen */
    int64_t horizon; /* hours * 3600 + 3600 */
};

static int tl_entry(void *arg, const redisReply *id, const redisReply *fields)
{
    struct tl_arg *a = arg;
    const redisReply *ts = entry_field(fields, "ts");
    int64_t t = ts ? parse_event_ts(ts->str, ts->len) : -1;
    if (t < 0)
        return 0;
    if (t > a->newest)
        a->newest = t;
    a->ts[a->n] = t;
    a->w[a->n] = entry_count(fields);
    a->n++;
    /* entries are added after capture: an id older than the window ends the walk */
    if (id->type == REDIS_REPLY_STRING && a->n > 1) {
        int64_t idsec = parse_i64(id->str) / 1000;
        if (idsec > 0 && idsec < a->newest - a->horizon)
            return 1;
    }
    return 0;
}

int ksd_report_timeline_json(struct ksd_report_db *db, int hours, struct ksd_report_buf *b)
{
    if (hours < 1)
        hours = 1;
    if (hours > KSD_REPORT_MAX_HOURS)
        hours = KSD_REPORT_MAX_HOURS;
    struct tl_arg a = {0};
    a.ts = malloc(KSD_REPORT_MAX_SCAN * sizeof(*a.ts));
    a.w = malloc(KSD_REPORT_MAX_SCAN * sizeof(*a.w));
    uint64_t *cnt = calloc((size_t)hours, sizeof(*cnt));
    int rc = KSD_ENOMEM;
    if (!a.ts || !a.w || !cnt)
        goto out;
    a.horizon = (int64_t)hours * 3600 + 3600;
    rc = scan_stream(db, KSD_REPORT_MAX_SCAN, tl_entry, &a);
    if (rc != KSD_OK)
        goto out;
    int64_t newest = a.n ? a.newest : (int64_t)time(NULL);
    int64_t end = newest - newest % 3600 + 3600;
    int64_t start = end - (int64_t)hours * 3600;
    for (size_t i = 0; i < a.n; i++)
        if (a.ts[i] >= start && a.ts[i] < end)
            cnt[(a.ts[i] - start) / 3600] += a.w[i];
    char t[96];
    snprintf(t, sizeof(t), "{\"start\":%lld,\"end\":%lld,\"bucket\":3600,\"counts\":[",
             (long long)start, (long long)end);
    ksd_report_buf_str(b, t);
    for (int i = 0; i < hours; i++) {
        if (i)
            ksd_report_buf_add(b, ",", 1);
        buf_fmt_u64(b, cnt[i]);
    }
    snprintf(t, sizeof(t), "],\"scanned\":%zu}", a.n);
    ksd_report_buf_str(b, t);
out:
    if (rc == KSD_ENOMEM)
        snprintf(db->err, sizeof(db->err), "out of memory");
    free(a.ts);
    free(a.w);
    free(cnt);
    return rc;
}

/* Escape glob characters of the prefix for SCAN MATCH. */
static void glob_escape(const char *s, char *out, size_t cap)
{
    size_t l = 0;
    for (; *s && l + 3 < cap; s++) {
        if (strchr("*?[]\\", *s))
            out[l++] = '\\';
        out[l++] = *s;
    }
    out[l] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ksd_report_sensors_json(struct ksd_report_db *db, struct ksd_report_buf *b)
{
    char pat[REPORT_KEY_MAX * 2 + 16], esc[REPORT_KEY_MAX * 2], cursor[32] = "0";
    char *keys[KSD_REPORT_MAX_SENSORS];
    size_t nk = 0, plen = strlen(db->prefix) + 7;
    int rc = KSD_OK;
    glob_escape(db->prefix, esc, sizeof(esc));
    snprintf(pat, sizeof(pat), "%ssensor:*", esc);
    for (int round = 0; round < REPORT_SCAN_ROUNDS && nk < KSD_REPORT_MAX_SENSORS; round++) {
        const char *argv[] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *r = db_cmd(db, 6, argv);
        if (!r) {
            rc = KSD_EINVAL;
            goto out;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            break;
        }
        copy_bounded(cursor, sizeof(cursor), r->element[0]->str, r->element[0]->len);
        const redisReply *ks = r->element[1];
        for (size_t i = 0; i < ks->elements && nk < KSD_REPORT_MAX_SENSORS; i++) {
            const redisReply *k = ks->element[i];
            if (k->type != REDIS_REPLY_STRING || k->len <= plen || k->len >= REPORT_KEY_MAX)
                continue;
            keys[nk] = malloc(k->len + 1);
            if (!keys[nk])
                break;
            copy_bounded(keys[nk], k->len + 1, k->str, k->len);
            nk++;
        }
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0)
            break;
    }
    qsort(keys, nk, sizeof(keys[0]), cmp_str);
    ksd_report_buf_str(b, "[");
    size_t out_n = 0;
    for (size_t i = 0; i < nk; i++) {
        const char *argv[] = {"HGETALL", keys[i]};
        redisReply *r = db_cmd(db, 2, argv);
        if (!r) {
            if (db->broken) {
                rc = KSD_EINVAL;
                break;
            }
            continue; /* not a hash (WRONGTYPE): skip */
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
            ksd_report_buf_str(b, out_n++ ? ",{\"id\":" : "{\"id\":");
            ksd_report_buf_json(b, keys[i] + plen, strlen(keys[i] + plen));
            for (size_t j = 0; j + 1 < r->elements && j < 2 * KSD_REPORT_MAX_FIELDS; j += 2) {
                const redisReply *k = r->element[j], *v = r->element[j + 1];
                if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len == 0 ||
                    (k->len == 2 && memcmp(k->str, "id", 2) == 0))
                    continue;
                ksd_report_buf_add(b, ",", 1);
                ksd_report_buf_json(b, k->str, k->len < 64 ? k->len : 64);
                ksd_report_buf_add(b, ":", 1);
                if (all_digits(v->str, v->len))
                    ksd_report_buf_add(b, v->str, v->len);
                else
                    ksd_report_buf_json(b, v->str, v->len < 256 ? v->len : 256);
            }
            ksd_report_buf_str(b, "}");
        }
        freeReplyObject(r);
    }
    ksd_report_buf_str(b, "]");
out:
    for (size_t i = 0; i < nk; i++)
        free(keys[i]);
    return rc;
}

/* ---- live channel ---- */

struct ksd_report_sub *ksd_report_subscribe(const struct ksd_report_conf *c, char *err,
                                            size_t errlen)
{
    char chan[REPORT_KEY_MAX];
    snprintf(chan, sizeof(chan), "%slive", c->prefix ? c->prefix : "ksd:");
    struct ksd_report_sub *s = calloc(1, sizeof(*s));
    if (!s) {
        set_err(err, errlen, "out of memory", NULL);
        return NULL;
    }
    s->c = connect_conf(c, err, errlen);
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
        set_err(err, errlen, "SUBSCRIBE failed on ", chan);
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

/* ---- ksd report ---- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ksd report [--redis HOST:PORT|unix:PATH] [--redis-prefix P]\n"
        "                  [--redis-auth-file FILE] [--since DATE] [--unmanaged]\n"
        "                  [--site NAME] [--verdict product|website-only|suspected]\n"
        "                  [--csv|--json] [--by-site] [--no-top] [--fail-if-any]\n"
        "\n"
        "  --redis TARGET        Redis written by ksd --redis (default 127.0.0.1:6379)\n"
        "  --since DATE          hosts last seen at or after DATE (UTC, YYYY-MM-DD[THH:MM[:SS]])\n"
        "                        or within the last N s/m/h/d/w (24h, 7d)\n"
        "  --unmanaged           only hosts not marked \"managed\"\n"
        "  --site NAME           only hosts of this site\n"
        "  --verdict V           only hosts with this verdict\n"
        "  --csv, --json         hosts as CSV (RFC 4180) or a JSON array\n"
        "  --by-site             the per-site roll-up only\n"
        "  --no-top              do not read the events stream for top indicators\n"
        "  --fail-if-any         exit 3 when any host is listed\n"
        "\n"
        "Exit status: 0 ok, 1 Redis error, 2 bad usage, 3 hosts listed with --fail-if-any.\n");
}

int ksd_report_main(int argc, char **argv)
{
    enum {
        O_REDIS = 256,
        O_PREFIX,
        O_AUTH,
        O_SINCE,
        O_UNMANAGED,
        O_SITE,
        O_CSV,
        O_JSON,
        O_FAIL,
        O_VERDICT,
        O_BYSITE,
        O_NOTOP
    };
    static const struct option opts[] = {
        {"redis", required_argument, NULL, O_REDIS},
        {"redis-prefix", required_argument, NULL, O_PREFIX},
        {"redis-auth-file", required_argument, NULL, O_AUTH},
        {"since", required_argument, NULL, O_SINCE},
        {"unmanaged", no_argument, NULL, O_UNMANAGED},
        {"site", required_argument, NULL, O_SITE},
        {"csv", no_argument, NULL, O_CSV},
        {"json", no_argument, NULL, O_JSON},
        {"fail-if-any", no_argument, NULL, O_FAIL},
        {"verdict", required_argument, NULL, O_VERDICT},
        {"by-site", no_argument, NULL, O_BYSITE},
        {"no-top", no_argument, NULL, O_NOTOP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ksd_report_conf conf = {"127.0.0.1:6379", NULL, NULL, 0};
    struct ksd_report_filter f = {0, NULL, 0, -1, KSD_REPORT_MAX_SCAN};
    enum ksd_report_format fmt = KSD_REPORT_TABLE;
    int fail_if_any = 0, by_site = 0, o;
    char err[256];
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
            case O_REDIS:
                conf.target = optarg;
                break;
            case O_PREFIX:
                conf.prefix = optarg;
                break;
            case O_AUTH:
                conf.auth_file = optarg;
                break;
            case O_SINCE:
                if (ksd_report_parse_since(optarg, (int64_t)time(NULL), &f.since) != KSD_OK) {
                    fprintf(stderr,
                            "ksd report: --since: not a UTC date or date-time, nor a time "
                            "ago such as 24h or 7d: %s\n",
                            optarg);
                    return 2;
                }
                break;
            case O_UNMANAGED:
                f.unmanaged = 1;
                break;
            case O_SITE:
                f.site = optarg;
                break;
            case O_CSV:
                fmt = KSD_REPORT_CSV;
                break;
            case O_JSON:
                fmt = KSD_REPORT_JSON;
                break;
            case O_FAIL:
                fail_if_any = 1;
                break;
            case O_VERDICT: {
                enum ksd_report_verdict v;
                if (ksd_report_verdict_parse(optarg, &v) != KSD_OK) {
                    fprintf(stderr, "ksd report: --verdict: expected product, website-only or "
                                    "suspected\n");
                    return 2;
                }
                f.verdict = (int)v;
                break;
            }
            case O_BYSITE:
                by_site = 1;
                break;
            case O_NOTOP:
                f.top_scan = 0;
                break;
            case 'h':
                usage(stdout);
                return 0;
            default:
                fprintf(stderr, "ksd report: unknown option or missing argument: %s\n",
                        optind > 0 && optind <= argc ? argv[optind - 1] : "?");
                usage(stderr);
                return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ksd report: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    if (ksd_emit_parse_target(conf.target, NULL, NULL) != KSD_OK) {
        fprintf(stderr, "ksd report: --redis: bad target (HOST:PORT or unix:PATH)\n");
        return 2;
    }
    unsigned parts = KSD_REPORT_PART_HOSTS;
    if (by_site) {
        f.top_scan = 0;
        parts = KSD_REPORT_PART_SITES;
    } else if (fmt == KSD_REPORT_TABLE) {
        parts |= KSD_REPORT_PART_SITES;
    }
    struct ksd_report_db *db = ksd_report_open(&conf, err, sizeof(err));
    if (!db) {
        fprintf(stderr, "ksd report: %s\n", err);
        return 1;
    }
    struct ksd_report_host *h = NULL;
    struct ksd_report_site *s = NULL;
    size_t n = 0, ns = 0;
    int status = 0;
    if (ksd_report_hosts(db, &f, &h, &n) != KSD_OK) {
        fprintf(stderr, "ksd report: %s\n", ksd_report_error(db));
        ksd_report_close(db);
        return 1;
    }
    ksd_report_close(db);
    ns = ksd_report_sites(h, n, &s);
    if (n && !s) {
        fprintf(stderr, "ksd report: out of memory\n");
        status = 1;
    } else if (ksd_report_write(stdout, fmt, parts, h, n, s, ns) != 0) {
        fprintf(stderr, "ksd report: cannot write the report\n");
        status = 1;
    } else if (fail_if_any && n) {
        status = 3;
    }
    free(h);
    free(s);
    return status;
}
