/*
 * report.h - the read side of ksd's Redis keys (ksd(8) REDIS KEYS):
 * flagged hosts with their verdict, per-site roll-up, latest events, hourly
 * timeline, sensor health and the live channel; and the `ksd report`
 * command that prints them. The dashboard (web.h) uses the same functions.
 * Files: report_db.c (connection, live channel), report_read.c (the records
 * read from Redis), report_fmt.c (tables, CSV, JSON), report.c (the command);
 * with sensor/output/ they are the only files that talk to Redis.
 *
 * Every string read from Redis is captured data: it is kept as read (bounded,
 * NUL-terminated) and cleaned only on output, for the output's own rules
 * (terminal: printable ASCII with \xNN escapes; CSV: RFC 4180 quoting; JSON:
 * ksd_json_string).
 */
#ifndef KSD_REPORT_H
#define KSD_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "signatures/sig.h"

#define KSD_REPORT_MAX_HOSTS   100000 /* hosts read from the hosts sorted set */
#define KSD_REPORT_MAX_SCAN    200000 /* newest stream entries read for indicators/timeline */
#define KSD_REPORT_PAGE        1000   /* entries per ZREVRANGEBYSCORE / XREVRANGE round trip */
#define KSD_REPORT_TOP         3      /* top indicators kept per host */
#define KSD_REPORT_MAX_EVENTS  1000   /* most events one events query returns */
#define KSD_REPORT_MAX_HOURS   720    /* longest timeline, hours */
#define KSD_REPORT_MAX_SENSORS 256    /* sensor:<id> hashes read */
#define KSD_REPORT_MAX_FIELDS  64     /* fields read from one hash or stream entry */
#define KSD_REPORT_MAX_VALUE   512    /* longest value kept; longer ones are truncated */
#define KSD_REPORT_MAX_MSG     65536  /* longest live message forwarded */
#define KSD_REPORT_HOST_EVENTS 50     /* events on a host page (ksd report --host) */
#define KSD_REPORT_MAX_DAYS    366    /* longest trend, days */
#define KSD_REPORT_TREND_DAYS  90     /* default trend, days */
#define KSD_REPORT_MAX_SITES   1024   /* sites read from the trend's site set */

enum ksd_report_format {
    KSD_REPORT_TABLE, /* aligned columns for a terminal */
    KSD_REPORT_CSV,   /* RFC 4180, header line first */
    KSD_REPORT_JSON,  /* one JSON array */
};

struct ksd_report_conf {
    const char *target;    /* "HOST:PORT", "unix:PATH" or "sentinel://H:P[,H:P]/MASTER" */
    const char *prefix;    /* key prefix, NULL = "ksd:" */
    const char *auth_file; /* first line "password" or "user password"; NULL = no AUTH */
    int timeout_ms;        /* connect and command timeout; 0 = 2000 */
};

struct ksd_report_filter {
    int64_t since;    /* hosts last seen at or after this Unix time; 0 = all */
    const char *site; /* only this site; NULL = all */
    int unmanaged;    /* only hosts labelled neither "managed" nor "exception" */
    int verdict;      /* an enum ksd_sig_verdict, or -1 = all */
    size_t top_scan;  /* newest events read for top indicators (<= KSD_REPORT_MAX_SCAN);
                         0 = leave them empty */
};

struct ksd_report_host {
    char client[64];                                /* the sorted-set member */
    char site[64];                                  /* "" when none */
    char managed[16];                               /* "managed", "exception" or "" */
    char sensor[64];                                /* sensor that saw it last */
    char ruleset[64];                               /* ruleset of the last event */
    char categories[256];                           /* comma-separated, as stored */
    char evidence[256];                             /* "dns:3,sni:2" from the ev:* counters */
    char last_indicator[KSD_REPORT_MAX_VALUE];      /* as stored */
    char last_rule[64];                             /* as stored */
    char mac[18];                                   /* the machine's MAC, "" when unknown */
    char name[64];                                  /* a name it announced, "" when unknown */
    char name_source[8];                            /* "dhcp", "netbios", "mdns", "llmnr" */
    char top[KSD_REPORT_TOP][KSD_REPORT_MAX_VALUE]; /* most frequent indicators first */
    uint64_t top_n[KSD_REPORT_TOP];                 /* their counts in the scanned events */
    int ntop;                                       /* 0..KSD_REPORT_TOP */
    int64_t first_seen;                             /* Unix seconds */
    int64_t last_seen;                              /* Unix seconds */
    uint64_t events;                                /* events counter */
    enum ksd_sig_verdict verdict;                   /* from categories (ksd_sig_verdict_of) */
};

/* An evidence kind and its counter (ksd_report_set_evidence). */
struct ksd_report_count {
    char name[32]; /* evidence kind */
    uint64_t n;    /* events */
};

struct ksd_report_site {
    char name[64];        /* "" = hosts without a site */
    size_t hosts;         /* hosts listed */
    size_t product_hosts; /* of which verdict product */
    uint64_t events;      /* sum of their events */
    int64_t last_seen;    /* newest last_seen, Unix seconds */
};

/* A growable text buffer; an allocation failure sets oom and keeps what fits. */
struct ksd_report_buf {
    char *p;    /* NUL-terminated when len > 0; owned, free() it */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int oom;    /* an append failed */
};

struct ksd_report_db;
struct ksd_report_sub;

/*
 * Parse an ISO 8601 date or date-time in UTC: YYYY-MM-DD, YYYY-MM-DDTHH:MM,
 * YYYY-MM-DDTHH:MM:SS (a space may replace T; a trailing Z is allowed;
 * fractions are ignored). 0 or KSD_EINVAL.
 */
int ksd_report_parse_date(const char *s, int64_t *out);

/*
 * --since: a date as ksd_report_parse_date, or a time before now_s: a whole
 * number and a unit, s, m, h, d or w (`24h`, `7d`), up to ten years. 0 or
 * KSD_EINVAL.
 */
int ksd_report_parse_since(const char *s, int64_t now_s, int64_t *out);

/*
 * Connect (and AUTH) to the Redis of c. Returns NULL with a message in err
 * on a bad target, an unreadable auth file, a refused connection or a failed
 * AUTH. Free with ksd_report_close. Not thread-safe: one user at a time.
 */
struct ksd_report_db *ksd_report_open(const struct ksd_report_conf *c, char *err, size_t errlen);
void ksd_report_close(struct ksd_report_db *db);
/* Message of the last failure of db (static storage of db; "" when none). */
const char *ksd_report_error(const struct ksd_report_db *db);
/* 1 when the last command failed at the connection level (reopen needed). */
int ksd_report_broken(const struct ksd_report_db *db);

/*
 * Read the flagged hosts that pass f, newest last_seen first, at most
 * KSD_REPORT_MAX_HOSTS. *out is malloc'ed (free() it; NULL when *n is 0).
 * The newest f->top_scan events give each host's top indicators (weighted by
 * each event's count field). Returns 0 or a negative KSD_E* code (message in db).
 */
int ksd_report_hosts(struct ksd_report_db *db, const struct ksd_report_filter *f,
                     struct ksd_report_host **out, size_t *n);

/* h->evidence as "kind:n,..." sorted by kind (ev is sorted in place). */
void ksd_report_set_evidence(struct ksd_report_host *h, struct ksd_report_count *ev, size_t nev);
/* Count n detections of indicator ind in h's top indicators (most first,
 * then by name; at most KSD_REPORT_TOP kept). Call once per indicator. */
void ksd_report_top_add(struct ksd_report_host *h, const char *ind, uint64_t n);

/*
 * 1 when the known-hosts file labels h "exception": a host allowed to run
 * the product (a lab, an analyst's machine). Its verdict stays what the
 * evidence says, but it is not "unmanaged" (--unmanaged leaves it out), it
 * does not trip --fail-if-any, and tables and the dashboard mark it.
 */
int ksd_report_is_exception(const struct ksd_report_host *h);

/* Roll hosts up per site, sorted by site name. *out malloc'ed; returns count
 * (0 with *out NULL when there are no hosts or on allocation failure). */
size_t ksd_report_sites(const struct ksd_report_host *h, size_t n, struct ksd_report_site **out);

#define KSD_REPORT_PART_HOSTS 1u /* the hosts table */
#define KSD_REPORT_PART_SITES 2u /* the per-site roll-up */

/*
 * Print the parts in format fmt. A table prints each part asked for (hosts
 * first) or "no flagged hosts"; CSV and JSON print one part: the hosts when
 * asked for, else the sites (CSV: a header line, CRLF line ends; JSON: one
 * array). 0, or -1 on a write error.
 */
int ksd_report_write(FILE *f, enum ksd_report_format fmt, unsigned parts,
                     const struct ksd_report_host *h, size_t n, const struct ksd_report_site *s,
                     size_t ns);

/* One host of a host page: an event as stored (bounded copies). */
struct ksd_report_event {
    char stream_id[32];                   /* stream entry id */
    char ts[40];                          /* capture time, ISO 8601 as stored */
    char evidence[16];                    /* evidence kind */
    char indicator[KSD_REPORT_MAX_VALUE]; /* observed value */
    char rule[64];                        /* rule id */
    char category[16];                    /* rule category */
    char server[64];                      /* peer address */
    char dport[8];                        /* peer port, as stored */
    uint64_t count;                       /* detections folded into it */
};

/*
 * The host page of client: its host:<client> record (with top indicators
 * over the newest KSD_REPORT_MAX_SCAN events) and its newest events, at
 * most max (1..KSD_REPORT_MAX_EVENTS), newest first, from the same scan.
 * ev (room for max records) and json may be NULL; json gets
 * {"host":{...as in /api/hosts...},"events":[...as in /api/events...]}.
 * *found is 0 (and nothing else filled) when the host has no record.
 * 0 or a negative KSD_E* (message in db).
 */
int ksd_report_host_page(struct ksd_report_db *db, const char *client, size_t max,
                         struct ksd_report_host *h, struct ksd_report_event *ev, size_t *nev,
                         struct ksd_report_buf *json, int *found);

/* The host page as a table (the record, then its events) or CSV (the
 * events). 0, or -1 on a write error. */
int ksd_report_write_host(FILE *f, enum ksd_report_format fmt, const struct ksd_report_host *h,
                          const struct ksd_report_event *ev, size_t nev);

/* One host as a JSON object, as in ksd_report_hosts_json. */
void ksd_report_host_json(struct ksd_report_buf *b, const struct ksd_report_host *h);

/* One row of the migration trend. */
struct ksd_report_trend_row {
    char day[16];           /* "YYYY-MM-DD", UTC */
    char site[64];          /* "" = hosts without a site */
    uint64_t product_hosts; /* distinct hosts with product evidence that day */
};

/*
 * The trend from the writer's per-day HyperLogLogs: one row per UTC day from
 * first_day to last_day (Unix seconds, any time of the day; at most
 * KSD_REPORT_MAX_DAYS, the newest kept) and per site of the trend set (only
 * `site` when not NULL), ordered by day then site; days without data count 0.
 * *rows malloc'ed (free() it; NULL when *n is 0). 0 or negative KSD_E*.
 */
int ksd_report_trend(struct ksd_report_db *db, int64_t first_day, int64_t last_day,
                     const char *site, struct ksd_report_trend_row **rows, size_t *n);
/* [{"day":"2026-12-01","site":"hq","product_hosts":3},...] appended to b. */
void ksd_report_trend_json(struct ksd_report_buf *b, const struct ksd_report_trend_row *r,
                           size_t n);
/* The rows as a table (DAY, SITE, PRODUCT HOSTS), CSV (day,site,product_hosts)
 * or a JSON array. 0, or -1 on a write error. */
int ksd_report_write_trend(FILE *f, enum ksd_report_format fmt,
                           const struct ksd_report_trend_row *r, size_t n);

/* JSON arrays appended to b. */
void ksd_report_hosts_json(struct ksd_report_buf *b, const struct ksd_report_host *h, size_t n);
void ksd_report_sites_json(struct ksd_report_buf *b, const struct ksd_report_site *s, size_t n);

/* The newest count (1..KSD_REPORT_MAX_EVENTS) events, newest first, as a JSON
 * array of objects (stream fields; sport, dport, confidence and count as
 * numbers; "stream_id" added). 0 or negative KSD_E*. */
int ksd_report_events_json(struct ksd_report_db *db, size_t count, struct ksd_report_buf *b);

/*
 * Detections per hour (sum of each event's count, at least 1) over the
 * `hours` hours (1..KSD_REPORT_MAX_HOURS) that end with the hour of the
 * newest event's ts (now when the stream is empty), from the newest
 * KSD_REPORT_MAX_SCAN events: {"start":S,"end":E,"bucket":3600,
 * "counts":[oldest..newest],"scanned":N}. 0 or negative KSD_E*.
 */
int ksd_report_timeline_json(struct ksd_report_db *db, int hours, struct ksd_report_buf *b);

/* One field of a hash as Redis returned it (not NUL-terminated). */
struct ksd_report_field {
    const char *k, *v; /* name, value */
    size_t klen, vlen; /* their lengths */
};

/* Called once per sensor:<id> hash with its id and its string fields (at
 * most KSD_REPORT_MAX_FIELDS); the pointers are valid during the call only. */
typedef void (*ksd_report_sensor_fn)(void *cls, const char *id, const struct ksd_report_field *f,
                                     size_t n);

/* Every sensor:<id> hash (at most KSD_REPORT_MAX_SENSORS), in id order; keys
 * that are not hashes are skipped. 0 or negative KSD_E*. */
int ksd_report_sensors(struct ksd_report_db *db, ksd_report_sensor_fn fn, void *cls);

/* Every sensor:<id> hash as a JSON array of objects ("id" plus the hash
 * fields; digit-only values as numbers). 0 or negative KSD_E*. */
int ksd_report_sensors_json(struct ksd_report_db *db, struct ksd_report_buf *b);

/* A dedicated connection subscribed to the live channel; NULL + err. */
struct ksd_report_sub *ksd_report_subscribe(const struct ksd_report_conf *c, char *err,
                                            size_t errlen);
/*
 * Wait up to timeout_ms for the next message and append its payload to b
 * (CR and LF replaced by spaces, at most KSD_REPORT_MAX_MSG bytes). Returns
 * 1 with a message, 0 on timeout, KSD_EINVAL when the connection is gone.
 */
int ksd_report_sub_next(struct ksd_report_sub *s, int timeout_ms, struct ksd_report_buf *b);
void ksd_report_sub_close(struct ksd_report_sub *s);

void ksd_report_buf_add(struct ksd_report_buf *b, const char *s, size_t n);
void ksd_report_buf_str(struct ksd_report_buf *b, const char *s);
/* A JSON string (with quotes) of s[0..n) via ksd_json_string. */
void ksd_report_buf_json(struct ksd_report_buf *b, const char *s, size_t n);
void ksd_report_buf_free(struct ksd_report_buf *b);

/* `ksd report [options]`; returns the exit status (0, 1 runtime error, 2 usage,
 * 3 with --fail-if-any when a host is listed). */
int ksd_report_main(int argc, char **argv);

#endif
