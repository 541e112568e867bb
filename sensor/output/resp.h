/*
 * resp.h - a RESP2 command writer (the Redis protocol, "RESP" of the Redis
 * documentation: arrays of bulk strings). The store paths write whole
 * pipelines with it into one growing buffer and hand the bytes to hiredis
 * with redisAppendFormattedCommand: hiredis formats every argument through
 * sdscatfmt, which was most of the output thread's time. The bytes equal
 * those of hiredis' redisFormatCommandArgv for the same arguments
 * (tests/test_resp.c).
 *
 * The per-argument calls are inline (they run for every field of every
 * event); growing the buffer is in resp.c. It writes, never parses: replies
 * are read by hiredis.
 */
#ifndef KSD_RESP_H
#define KSD_RESP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A buffer of commands. Zero-initialised is empty; free with ksd_resp_free. */
struct ksd_resp {
    char *buf;  /* the commands so far */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int oom;    /* an allocation failed: the buffer is incomplete */
};

/* Grow r to hold more bytes beyond len. 0, or -1 (oom set). */
int ksd_resp_grow(struct ksd_resp *r, size_t more);

void ksd_resp_free(struct ksd_resp *r);

/* One whole command: an array of argc bulk strings (argl[i] bytes each). */
void ksd_resp_command(struct ksd_resp *r, int argc, const char *const *argv, const size_t *argl);

static inline int ksd_resp_room(struct ksd_resp *r, size_t more)
{
    return r->len + more <= r->cap ? 0 : ksd_resp_grow(r, more);
}

/* Decimal digits of v at p (room for 20); returns their count. */
static inline size_t ksd_resp_put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* A header: kind '*' (array of n) or '$' (bulk string of n bytes). */
static inline void ksd_resp_head(struct ksd_resp *r, char kind, uint64_t n)
{
    if (ksd_resp_room(r, 24) != 0)
        return;
    r->buf[r->len++] = kind;
    r->len += ksd_resp_put_u64(r->buf + r->len, n);
    r->buf[r->len++] = '\r';
    r->buf[r->len++] = '\n';
}

static inline void ksd_resp_bulk(struct ksd_resp *r, const char *s, size_t n)
{
    ksd_resp_head(r, '$', n);
    if (ksd_resp_room(r, n + 2) != 0)
        return;
    if (n)
        memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len++] = '\r';
    r->buf[r->len++] = '\n';
}

static inline void ksd_resp_str(struct ksd_resp *r, const char *s)
{
    ksd_resp_bulk(r, s, strlen(s));
}

/* v in decimal as a bulk string. */
static inline void ksd_resp_num(struct ksd_resp *r, long long v)
{
    char d[24];
    size_t n = 0;
    if (v < 0) {
        d[n++] = '-';
        n += ksd_resp_put_u64(d + n, (uint64_t)0 - (uint64_t)v);
    } else {
        n = ksd_resp_put_u64(d, (uint64_t)v);
    }
    ksd_resp_bulk(r, d, n);
}

#endif
