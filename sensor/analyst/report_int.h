/*
 * report_int.h - what the files of the Redis reader share and nothing else
 * includes: the connection record, the command helpers and the stream
 * walker (report_db.c, report_read.c), and the small value helpers. Every
 * function here keeps the rule of report.h: a reply is checked before use,
 * a failed context is never reused.
 */
#ifndef KSD_REPORT_INT_H
#define KSD_REPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sensor/analyst/report.h"

/* hiredis types, by tag, so that files without replies need not include hiredis */
struct redisContext;
struct redisReply;

#define REPORT_KEY_MAX     512  /* a key we build */
#define REPORT_SCAN_ROUNDS 4096 /* SCAN round trips when looking for sensor hashes */

struct ksd_report_db {
    struct redisContext *c; /* NULL once broken */
    char prefix[128];       /* key prefix */
    char err[256];          /* last failure */
    int broken;             /* the connection failed; reopen */
};

/* "a" followed by b (b may be NULL) into err when err is not NULL. */
void ksd_report_set_err(char *err, size_t errlen, const char *a, const char *b);
/* s[0..n) into dst (cap bytes), truncated, NUL-terminated; an embedded NUL ends it. */
void ksd_report_copy(char *dst, size_t cap, const char *s, size_t n);
/* Decimal integer of s, 0 when not one. */
int64_t ksd_report_i64(const char *s);
/* 1 when s[0..n) is 1..18 decimal digits. */
int ksd_report_digits(const char *s, size_t n);
/* Unix seconds as "YYYY-MM-DD HH:MM:SS" (iso 0; "-" when t <= 0) or
 * "YYYY-MM-DDTHH:MM:SSZ" (iso 1; "" when t <= 0). */
void ksd_report_fmt_time(int64_t t, char *buf, size_t len, int iso);
/* An event's "ts" ("2026-11-27T01:11:41.463751Z") as Unix seconds, or -1. */
int64_t ksd_report_event_ts(const char *s, size_t n);

/* Connect (and AUTH) to c's Redis; NULL with a message in err. */
struct redisContext *ksd_report_connect(const struct ksd_report_conf *c, char *err, size_t errlen);
/* Record a connection-level failure: db->err set, the context freed, db broken. */
void ksd_report_db_fail(struct ksd_report_db *db, const char *what);
/* One command; its reply, or NULL with db->err set (error replies freed). */
struct redisReply *ksd_report_db_cmd(struct ksd_report_db *db, int argc, const char **argv);
/* prefix + name into out. */
void ksd_report_db_key(const struct ksd_report_db *db, char *out, size_t cap, const char *name);

/* Stream entries: the value of field name in an entry's field list (NULL
 * when absent or not a string), the field list of one valid entry
 * ([id, [f, v, ...]]) or NULL, and an entry's count field (1 when absent). */
const struct redisReply *ksd_report_entry_field(const struct redisReply *fields, const char *name);
const struct redisReply *ksd_report_entry_fields(const struct redisReply *e);
uint64_t ksd_report_entry_count(const struct redisReply *fields);

/* Called per stream entry, newest first; returns 1 to stop the walk. */
typedef int (*ksd_report_entry_fn)(void *arg, const struct redisReply *id,
                                   const struct redisReply *fields);
/* Walk the events stream newest first, at most max entries. 0 or KSD_EINVAL. */
int ksd_report_scan_stream(struct ksd_report_db *db, size_t max, ksd_report_entry_fn fn, void *arg);

/* JSON pieces: ,"k": (no comma when first), ,"k":"v" (escaped), a number. */
void ksd_report_buf_key(struct ksd_report_buf *b, const char *k, int first);
void ksd_report_buf_kv(struct ksd_report_buf *b, const char *k, const char *v);
void ksd_report_buf_u64(struct ksd_report_buf *b, uint64_t v);

#endif
