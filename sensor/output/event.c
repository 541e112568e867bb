/*
 * event.c - JSON encoding of detection events (README.md "Events", ksd(8)
 * DETECTION EVENTS). Captured strings may hold any byte: the encoder escapes quotes,
 * backslashes and control characters, passes valid UTF-8 through and turns
 * every byte that is not part of a valid UTF-8 sequence into \u00XX, so the
 * output is always valid JSON in valid UTF-8. The encoder never allocates.
 *
 * Also the line writer of --json and --facts (ksd_event_out_*): whole lines
 * only reach the file, in one buffer per file that is written when full and
 * flushed by the caller's one-second timer; reopen after a rotation. What it
 * does not do: no locking (the caller's), no fsync.
 */
#include "sensor/output/event.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct jbuf {
    char *p;
    size_t cap;
    size_t len;
    int err;
};

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
    if (b->err || n >= b->cap - b->len) {
        b->err = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jb_str(struct jbuf *b, const char *s)
{
    jb_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (need > n)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

static void jb_escaped(struct jbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    jb_put(b, "\"", 1);
    size_t i = 0;
    while (i < n && !b->err) {
        unsigned char c = s[i];
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            jb_put(b, tmp, 2);
            i++;
        } else if (c == '\n') {
            jb_put(b, "\\n", 2);
            i++;
        } else if (c == '\r') {
            jb_put(b, "\\r", 2);
            i++;
        } else if (c == '\t') {
            jb_put(b, "\\t", 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", c);
            jb_put(b, tmp, 6);
            i++;
        } else if (c < 0x80) {
            jb_put(b, (const char *)s + i, 1);
            i++;
        } else {
            size_t l = utf8_len(s + i, n - i);
            if (l == 0) {
                snprintf(tmp, sizeof(tmp), "\\u%04x", c);
                jb_put(b, tmp, 6);
                i++;
            } else {
                jb_put(b, (const char *)s + i, l);
                i += l;
            }
        }
    }
    jb_put(b, "\"", 1);
}

int ksd_json_string(const char *s, size_t n, char *buf, size_t cap)
{
    struct jbuf b = {buf, cap, 0, cap == 0};
    if (cap)
        buf[0] = '\0';
    jb_escaped(&b, s, n);
    if (b.err) {
        if (cap)
            buf[0] = '\0';
        return -1;
    }
    return (int)b.len;
}

void ksd_format_ts(int64_t ts_us, char out[32])
{
    time_t sec = (time_t)(ts_us / 1000000);
    long us = (long)(ts_us % 1000000);
    if (us < 0) {
        us += 1000000;
        sec -= 1;
    }
    struct tm tm;
    char date[20];
    gmtime_r(&sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%06ldZ", date, us);
}

static void jb_key(struct jbuf *b, const char *key, int first)
{
    if (!first)
        jb_put(b, ",", 1);
    jb_put(b, "\"", 1);
    jb_str(b, key);
    jb_put(b, "\":", 2);
}

static void jb_field(struct jbuf *b, const char *key, const char *val)
{
    jb_key(b, key, 0);
    jb_escaped(b, val, strlen(val));
}

static void jb_num(struct jbuf *b, const char *key, long long v)
{
    char tmp[32];
    jb_key(b, key, 0);
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    jb_put(b, tmp, (size_t)n);
}

int ksd_event_json(const struct ksd_event *ev, char *buf, size_t cap)
{
    struct jbuf b = {buf, cap, 0, cap == 0};
    char ts[32];
    if (cap)
        buf[0] = '\0';
    ksd_format_ts(ev->ts_us, ts);
    jb_put(&b, "{", 1);
    jb_key(&b, "ts", 1);
    jb_escaped(&b, ts, strlen(ts));
    jb_field(&b, "sensor", ev->sensor);
    jb_field(&b, "client", ev->client);
    jb_field(&b, "server", ev->server);
    jb_num(&b, "sport", ev->sport);
    jb_num(&b, "dport", ev->dport);
    jb_field(&b, "proto", ev->proto);
    jb_field(&b, "evidence", ev->evidence);
    jb_field(&b, "indicator", ev->indicator);
    jb_field(&b, "rule", ev->rule);
    jb_field(&b, "category", ev->category);
    jb_num(&b, "confidence", ev->confidence);
    jb_field(&b, "app", ev->app);
    /* Extensions beyond the contract's example, always present so consumers
     * can rely on the keys. */
    jb_field(&b, "site", ev->site);
    jb_field(&b, "managed", ev->managed);
    jb_field(&b, "ruleset", ev->ruleset);
    if (ev->via[0])
        jb_field(&b, "via", ev->via);
    if (ev->community_id[0])
        jb_field(&b, "community_id", ev->community_id);
    if (ev->client_mac[0])
        jb_field(&b, "client_mac", ev->client_mac);
    if (ev->client_name[0]) {
        jb_field(&b, "client_name", ev->client_name);
        jb_field(&b, "client_name_source", ev->client_name_source);
    }
    jb_num(&b, "count", ev->count);
    if (ev->pcap[0])
        jb_field(&b, "pcap", ev->pcap);
    {
        char id[24];
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)ev->id);
        jb_field(&b, "id", id);
    }
    jb_put(&b, "}", 1);
    if (b.err) {
        if (cap)
            buf[0] = '\0';
        return -1;
    }
    return (int)b.len;
}

/* ---- line writer --------------------------------------------------------- */

#define KSD_EVENT_OUT_BUF (64u << 10) /* bytes buffered before a write */

struct ksd_event_out {
    char *path;       /* as given; "-" is standard output */
    int fd;           /* STDOUT_FILENO for "-" (never closed) */
    char *buf;        /* complete lines [0, done), the line being built [done, len) */
    size_t cap;       /* grows only for a line longer than the buffer */
    size_t done;      /* bytes of complete lines */
    size_t len;       /* bytes used */
    uint64_t lines;   /* lines written */
    uint64_t lost;    /* lines dropped on write errors */
    uint64_t pending; /* complete lines in the buffer */
};

static int out_openfd(const char *path, int flags)
{
    if (strcmp(path, "-") == 0)
        return STDOUT_FILENO;
    return open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0666);
}

struct ksd_event_out *ksd_event_out_open(const char *path, char *err, size_t errlen)
{
    struct ksd_event_out *o = calloc(1, sizeof(*o));
    if (!o || !(o->path = strdup(path)) || !(o->buf = malloc(KSD_EVENT_OUT_BUF))) {
        snprintf(err, errlen, "%s: out of memory", path);
        if (o)
            free(o->path);
        free(o);
        return NULL;
    }
    o->cap = KSD_EVENT_OUT_BUF;
    if ((o->fd = out_openfd(path, O_TRUNC)) < 0) {
        snprintf(err, errlen, "%s: cannot open for writing: %s", path, strerror(errno));
        free(o->buf);
        free(o->path);
        free(o);
        return NULL;
    }
    return o;
}

int ksd_event_out_flush(struct ksd_event_out *o)
{
    size_t off = 0;
    int rc = 0;
    while (off < o->done) {
        ssize_t n = write(o->fd, o->buf + off, o->done - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            o->lost += o->pending;
            o->pending = 0;
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    o->lines += o->pending;
    o->pending = 0;
    memmove(o->buf, o->buf + o->done, o->len - o->done);
    o->len -= o->done;
    o->done = 0;
    return rc;
}

void ksd_event_out_put(struct ksd_event_out *o, const char *s, size_t n)
{
    if (n > o->cap - o->len) {
        if (o->done)
            ksd_event_out_flush(o);
        if (n > o->cap - o->len) {
            size_t cap = o->cap;
            while (n > cap - o->len)
                cap *= 2;
            char *b = realloc(o->buf, cap);
            if (!b)
                return; /* the line is cut; it still ends with its newline */
            o->buf = b;
            o->cap = cap;
        }
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

void ksd_event_out_end(struct ksd_event_out *o)
{
    ksd_event_out_put(o, "\n", 1);
    o->done = o->len;
    o->pending++;
    if (o->done >= KSD_EVENT_OUT_BUF / 2)
        ksd_event_out_flush(o);
}

int ksd_event_out_reopen(struct ksd_event_out *o, char *err, size_t errlen)
{
    ksd_event_out_flush(o);
    if (o->fd == STDOUT_FILENO)
        return 0;
    int fd = out_openfd(o->path, O_APPEND);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot reopen: %s", o->path, strerror(errno));
        return -1;
    }
    close(o->fd);
    o->fd = fd;
    return 0;
}

uint64_t ksd_event_out_lines(const struct ksd_event_out *o)
{
    return o->lines;
}

uint64_t ksd_event_out_lost(const struct ksd_event_out *o)
{
    return o->lost;
}

void ksd_event_out_close(struct ksd_event_out *o)
{
    if (!o)
        return;
    ksd_event_out_flush(o);
    if (o->fd != STDOUT_FILENO)
        close(o->fd);
    free(o->buf);
    free(o->path);
    free(o);
}
