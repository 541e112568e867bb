/*
 * report_read.c - reads what sensor/output/emit.c writes (the hosts sorted
 * set, the host:<client> hashes, the events stream, the sensor:<id> hashes)
 * into the records report.h describes: the flagged hosts with their verdict
 * and top indicators, the latest events, detections per hour and sensor
 * health. Every value read is captured data: values are bounded on input
 * (KSD_REPORT_MAX_VALUE, KSD_REPORT_MAX_FIELDS) and cleaned only on output
 * (report_fmt.c, ksd_json_string).
 *
 * It does not write to Redis and decides nothing the sensor has not stored:
 * the verdict comes from the host's categories (ksd_sig_verdict_of).
 */
#include "sensor/analyst/report.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ksd.h"
#include "sensor/analyst/report_int.h"
#include "signatures/sig.h"

/* ---- hosts ---- */

static int cmp_ev(const void *a, const void *b)
{
    return strcmp(((const struct ksd_report_count *)a)->name,
                  ((const struct ksd_report_count *)b)->name);
}

void ksd_report_set_evidence(struct ksd_report_host *h, struct ksd_report_count *ev, size_t nev)
{
    qsort(ev, nev, sizeof(ev[0]), cmp_ev);
    size_t l = 0;
    h->evidence[0] = '\0';
    for (size_t i = 0; i < nev; i++) {
        int w = snprintf(h->evidence + l, sizeof(h->evidence) - l, "%s%s:%llu", l ? "," : "",
                         ev[i].name, (unsigned long long)ev[i].n);
        if (w < 0 || (size_t)w >= sizeof(h->evidence) - l)
            break;
        l += (size_t)w;
    }
}

/* Fill h from an HGETALL reply. Returns 0, or -1 when the hash is empty. */
static int host_from_hash(struct ksd_report_host *h, const redisReply *r)
{
    struct ksd_report_count ev[KSD_REPORT_MAX_FIELDS];
    size_t nev = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return -1;
    for (size_t i = 0; i + 1 < r->elements && i < 4 * KSD_REPORT_MAX_FIELDS; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char val[32];
        ksd_report_copy(val, sizeof(val), v->str, v->len);
#define FIELD(name, dst)                                                                           \
    if (k->len == strlen(name) && memcmp(k->str, name, k->len) == 0) {                             \
        ksd_report_copy(dst, sizeof(dst), v->str, v->len);                                         \
        continue;                                                                                  \
    }
        FIELD("site", h->site);
        FIELD("managed", h->managed);
        FIELD("sensor", h->sensor);
        FIELD("ruleset", h->ruleset);
        FIELD("categories", h->categories);
        FIELD("last_indicator", h->last_indicator);
        FIELD("last_rule", h->last_rule);
        FIELD("mac", h->mac);
        FIELD("name", h->name);
        FIELD("name_source", h->name_source);
#undef FIELD
        if (k->len == 10 && memcmp(k->str, "first_seen", 10) == 0)
            h->first_seen = ksd_report_i64(val);
        else if (k->len == 9 && memcmp(k->str, "last_seen", 9) == 0)
            h->last_seen = ksd_report_i64(val);
        else if (k->len == 6 && memcmp(k->str, "events", 6) == 0)
            h->events = (uint64_t)ksd_report_i64(val);
        else if (k->len > 3 && memcmp(k->str, "ev:", 3) == 0 && nev < KSD_ARRAY_LEN(ev)) {
            ksd_report_copy(ev[nev].name, sizeof(ev[nev].name), k->str + 3, k->len - 3);
            ev[nev].n = (uint64_t)ksd_report_i64(val);
            nev++;
        }
    }
    ksd_report_set_evidence(h, ev, nev);
    h->verdict = ksd_sig_verdict_of(h->categories);
    return 0;
}

static int host_passes(const struct ksd_report_host *h, const struct ksd_report_filter *f)
{
    if (f->since && h->last_seen < f->since)
        return 0;
    if (f->site && strcmp(h->site, f->site) != 0)
        return 0;
    if (f->unmanaged && (strcmp(h->managed, "managed") == 0 || ksd_report_is_exception(h)))
        return 0;
    if (f->verdict >= 0 && (int)h->verdict != f->verdict)
        return 0;
    return 1;
}

/* Open-addressing map client -> host index, and (host, indicator) -> count
 * (FNV-1a, dissectors/ksd.h). */

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
    size_t i = ksd_fnv1a64(KSD_FNV1A64_BASIS, s, n) & (t->hcap - 1);
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
            size_t j = ksd_fnv1a64(t->pr[i].host, t->pr[i].ind, strlen(t->pr[i].ind)) & (ncap - 1);
            while (np[j].ind)
                j = (j + 1) & (ncap - 1);
            np[j] = t->pr[i];
        }
        free(t->pr);
        t->pr = np;
        t->pcap = ncap;
    }
    size_t i = ksd_fnv1a64(host, s, n) & (t->pcap - 1);
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

void ksd_report_top_add(struct ksd_report_host *h, const char *ind, uint64_t n)
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
const redisReply *ksd_report_entry_field(const redisReply *fields, const char *name)
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
const redisReply *ksd_report_entry_fields(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return e->element[1];
}

uint64_t ksd_report_entry_count(const redisReply *fields)
{
    const redisReply *c = ksd_report_entry_field(fields, "count");
    if (!c || !ksd_report_digits(c->str, c->len))
        return 1;
    uint64_t v = (uint64_t)ksd_report_i64(c->str);
    return v ? v : 1;
}

typedef int (*ksd_report_entry_fn)(void *arg, const redisReply *id, const redisReply *fields);

/* Walk the stream newest first, at most max entries; fn returns 1 to stop. */
int ksd_report_scan_stream(struct ksd_report_db *db, size_t max, ksd_report_entry_fn fn, void *arg)
{
    char key[REPORT_KEY_MAX], start[80] = "+", count[16];
    size_t seen = 0;
    ksd_report_db_key(db, key, sizeof(key), "events");
    while (seen < max) {
        size_t want = max - seen < KSD_REPORT_PAGE ? max - seen : KSD_REPORT_PAGE;
        snprintf(count, sizeof(count), "%zu", want);
        const char *argv[] = {"XREVRANGE", key, start, "-", "COUNT", count};
        redisReply *r = ksd_report_db_cmd(db, 6, argv);
        if (!r)
            return KSD_EINVAL;
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            snprintf(db->err, sizeof(db->err), "Redis: %.200s is not a stream", key);
            return KSD_EINVAL;
        }
        int last_page = r->elements < want, stop = 0;
        for (size_t i = 0; i < r->elements && !stop; i++) {
            const redisReply *f = ksd_report_entry_fields(r->element[i]);
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
                    ksd_report_copy(start + 1, sizeof(start) - 1, id->str, id->len);
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
    const redisReply *c = ksd_report_entry_field(fields, "client");
    const redisReply *ind = ksd_report_entry_field(fields, "indicator");
    if (!c || !ind || ind->len == 0)
        return 0;
    size_t hi = client_find(a->t, a->h, c->str, c->len);
    if (hi == (size_t)-1)
        return 0;
    if (pair_add(a->t, hi, ind->str, ind->len, ksd_report_entry_count(fields)) != KSD_OK) {
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
        size_t j = ksd_fnv1a64(KSD_FNV1A64_BASIS, h[i].client, strlen(h[i].client)) & (t.hcap - 1);
        while (t.hidx[j])
            j = (j + 1) & (t.hcap - 1);
        t.hidx[j] = i + 1;
    }
    struct top_arg a = {&t, h, KSD_OK};
    rc = ksd_report_scan_stream(db, scan < KSD_REPORT_MAX_SCAN ? scan : KSD_REPORT_MAX_SCAN,
                                top_entry, &a);
    if (rc == KSD_OK)
        rc = a.err;
    for (size_t i = 0; i < t.pcap; i++) {
        if (!t.pr[i].ind)
            continue;
        if (rc == KSD_OK)
            ksd_report_top_add(&h[t.pr[i].host], t.pr[i].ind, t.pr[i].n);
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
    ksd_report_db_key(db, key, sizeof(key), "hosts");
    if (f->since > 0)
        snprintf(min, sizeof(min), "%lld", (long long)f->since);
    else
        snprintf(min, sizeof(min), "-inf");
    snprintf(cnt, sizeof(cnt), "%d", KSD_REPORT_PAGE);
    while (offset < KSD_REPORT_MAX_HOSTS) {
        snprintf(off, sizeof(off), "%zu", offset);
        const char *argv[] = {"ZREVRANGEBYSCORE", key, "+inf", min, "LIMIT", off, cnt};
        redisReply *r = ksd_report_db_cmd(db, 7, argv);
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
                ksd_report_db_fail(db, "HGETALL");
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
                ksd_report_db_fail(db, "HGETALL");
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
                    ksd_report_db_fail(db, "out of memory");
                    rc = KSD_ENOMEM;
                    goto err;
                }
                h = nhp;
                cap = ncap;
            }
            struct ksd_report_host *x = &h[nh];
            memset(x, 0, sizeof(*x));
            ksd_report_copy(x->client, sizeof(x->client), m->str, m->len);
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
                num = ksd_report_digits(v->str, v->len);
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
    int rc = ksd_report_scan_stream(db, count, events_entry, &a);
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
    const redisReply *ts = ksd_report_entry_field(fields, "ts");
    int64_t t = ts ? ksd_report_event_ts(ts->str, ts->len) : -1;
    if (t < 0)
        return 0;
    if (t > a->newest)
        a->newest = t;
    a->ts[a->n] = t;
    a->w[a->n] = ksd_report_entry_count(fields);
    a->n++;
    /* entries are added after capture: an id older than the window ends the walk */
    if (id->type == REDIS_REPLY_STRING && a->n > 1) {
        int64_t idsec = ksd_report_i64(id->str) / 1000;
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
    rc = ksd_report_scan_stream(db, KSD_REPORT_MAX_SCAN, tl_entry, &a);
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
        ksd_report_buf_u64(b, cnt[i]);
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

int ksd_report_sensors(struct ksd_report_db *db, ksd_report_sensor_fn fn, void *cls)
{
    struct ksd_report_field f[KSD_REPORT_MAX_FIELDS];
    char pat[REPORT_KEY_MAX * 2 + 16], esc[REPORT_KEY_MAX * 2], cursor[32] = "0";
    char *keys[KSD_REPORT_MAX_SENSORS];
    size_t nk = 0, plen = strlen(db->prefix) + 7;
    int rc = KSD_OK;
    glob_escape(db->prefix, esc, sizeof(esc));
    snprintf(pat, sizeof(pat), "%ssensor:*", esc);
    for (int round = 0; round < REPORT_SCAN_ROUNDS && nk < KSD_REPORT_MAX_SENSORS; round++) {
        const char *argv[] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *r = ksd_report_db_cmd(db, 6, argv);
        if (!r) {
            rc = KSD_EINVAL;
            goto out;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            break;
        }
        ksd_report_copy(cursor, sizeof(cursor), r->element[0]->str, r->element[0]->len);
        const redisReply *ks = r->element[1];
        for (size_t i = 0; i < ks->elements && nk < KSD_REPORT_MAX_SENSORS; i++) {
            const redisReply *k = ks->element[i];
            if (k->type != REDIS_REPLY_STRING || k->len <= plen || k->len >= REPORT_KEY_MAX)
                continue;
            keys[nk] = malloc(k->len + 1);
            if (!keys[nk])
                break;
            ksd_report_copy(keys[nk], k->len + 1, k->str, k->len);
            nk++;
        }
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0)
            break;
    }
    qsort(keys, nk, sizeof(keys[0]), cmp_str);
    for (size_t i = 0; i < nk; i++) {
        const char *argv[] = {"HGETALL", keys[i]};
        redisReply *r = ksd_report_db_cmd(db, 2, argv);
        if (!r) {
            if (db->broken) {
                rc = KSD_EINVAL;
                break;
            }
            continue; /* not a hash (WRONGTYPE): skip */
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
            size_t nf = 0;
            for (size_t j = 0; j + 1 < r->elements && nf < KSD_REPORT_MAX_FIELDS; j += 2) {
                const redisReply *k = r->element[j], *v = r->element[j + 1];
                if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                    continue;
                f[nf++] = (struct ksd_report_field){k->str, v->str, k->len, v->len};
            }
            fn(cls, keys[i] + plen, f, nf);
        }
        freeReplyObject(r);
    }
out:
    for (size_t i = 0; i < nk; i++)
        free(keys[i]);
    return rc;
}

struct sensors_json {
    struct ksd_report_buf *b; /* output */
    size_t n;                 /* objects written */
};

/* ksd_report_sensors callback: one JSON object per sensor. */
static void sensor_json(void *cls, const char *id, const struct ksd_report_field *f, size_t n)
{
    struct sensors_json *sj = cls;
    struct ksd_report_buf *b = sj->b;
    ksd_report_buf_str(b, sj->n++ ? ",{\"id\":" : "{\"id\":");
    ksd_report_buf_json(b, id, strlen(id));
    for (size_t j = 0; j < n; j++) {
        if (f[j].klen == 0 || (f[j].klen == 2 && memcmp(f[j].k, "id", 2) == 0))
            continue;
        ksd_report_buf_add(b, ",", 1);
        ksd_report_buf_json(b, f[j].k, f[j].klen < 64 ? f[j].klen : 64);
        ksd_report_buf_add(b, ":", 1);
        if (ksd_report_digits(f[j].v, f[j].vlen))
            ksd_report_buf_add(b, f[j].v, f[j].vlen);
        else
            ksd_report_buf_json(b, f[j].v, f[j].vlen < 256 ? f[j].vlen : 256);
    }
    ksd_report_buf_str(b, "}");
}

int ksd_report_sensors_json(struct ksd_report_db *db, struct ksd_report_buf *b)
{
    struct sensors_json sj = {b, 0};
    ksd_report_buf_str(b, "[");
    int rc = ksd_report_sensors(db, sensor_json, &sj);
    ksd_report_buf_str(b, "]");
    return rc;
}

int ksd_report_is_exception(const struct ksd_report_host *h)
{
    return strcmp(h->managed, "exception") == 0;
}

/* ---- one host ---- */

struct host_arg {
    const char *client;          /* the host */
    size_t nl;                   /* its length */
    size_t max;                  /* events wanted */
    struct ksd_report_event *ev; /* NULL = no records */
    size_t n;                    /* events found */
    struct ksd_report_buf *b;    /* NULL = no JSON */
};

static void event_field(const redisReply *fields, const char *name, char *out, size_t cap)
{
    const redisReply *v = ksd_report_entry_field(fields, name);
    if (v)
        ksd_report_copy(out, cap, v->str, v->len);
    else
        out[0] = '\0';
}

static int host_entry(void *arg, const redisReply *id, const redisReply *fields)
{
    struct host_arg *a = arg;
    const redisReply *c = ksd_report_entry_field(fields, "client");
    if (!c || c->len != a->nl || memcmp(c->str, a->client, a->nl) != 0 ||
        id->type != REDIS_REPLY_STRING)
        return 0;
    if (a->b) {
        if (a->n)
            ksd_report_buf_add(a->b, ",", 1);
        entry_json(a->b, id, fields);
    }
    if (a->ev) {
        struct ksd_report_event *e = &a->ev[a->n];
        ksd_report_copy(e->stream_id, sizeof(e->stream_id), id->str, id->len);
        event_field(fields, "ts", e->ts, sizeof(e->ts));
        event_field(fields, "evidence", e->evidence, sizeof(e->evidence));
        event_field(fields, "indicator", e->indicator, sizeof(e->indicator));
        event_field(fields, "rule", e->rule, sizeof(e->rule));
        event_field(fields, "category", e->category, sizeof(e->category));
        event_field(fields, "server", e->server, sizeof(e->server));
        event_field(fields, "dport", e->dport, sizeof(e->dport));
        e->count = ksd_report_entry_count(fields);
    }
    return ++a->n >= a->max;
}

int ksd_report_host_page(struct ksd_report_db *db, const char *client, size_t max,
                         struct ksd_report_host *h, struct ksd_report_event *ev, size_t *nev,
                         struct ksd_report_buf *json, int *found)
{
    char hk[REPORT_KEY_MAX];
    *found = 0;
    if (nev)
        *nev = 0;
    memset(h, 0, sizeof(*h));
    if (max == 0)
        max = 1;
    if (max > KSD_REPORT_MAX_EVENTS)
        max = KSD_REPORT_MAX_EVENTS;
    if (strlen(client) >= sizeof(h->client)) {
        snprintf(db->err, sizeof(db->err), "client address too long");
        return KSD_OK; /* no such host */
    }
    int kl = snprintf(hk, sizeof(hk), "%shost:%s", db->prefix, client);
    if (kl < 0 || (size_t)kl >= sizeof(hk))
        return KSD_OK;
    const char *argv[] = {"HGETALL", hk};
    redisReply *r = ksd_report_db_cmd(db, 2, argv);
    if (!r)
        return KSD_EINVAL;
    snprintf(h->client, sizeof(h->client), "%s", client);
    int ok = host_from_hash(h, r) == 0;
    freeReplyObject(r);
    if (!ok)
        return KSD_OK;
    *found = 1;
    int rc = fill_top(db, h, 1, KSD_REPORT_MAX_SCAN);
    if (rc != KSD_OK)
        return rc;
    struct host_arg a = {client, strlen(client), max, ev, 0, NULL};
    if (json) {
        ksd_report_buf_str(json, "{\"host\":");
        ksd_report_host_json(json, h);
        ksd_report_buf_str(json, ",\"events\":[");
        a.b = json;
    }
    rc = ksd_report_scan_stream(db, KSD_REPORT_MAX_SCAN, host_entry, &a);
    if (json)
        ksd_report_buf_str(json, "]}");
    if (nev)
        *nev = a.n;
    return rc;
}
