/*
 * report.c - the `ksd report` command: options, filters and the choice of
 * output (table, CSV or JSON on standard output), over the Redis reader
 * (report_db.c, report_read.c) and the formatters (report_fmt.c). Also the
 * UTC date parser its --since option and the reader share.
 *
 * It does not write to Redis and prints nothing but what was asked for on
 * standard output; errors go to standard error with the exit status of
 * report.h.
 */
#include "sensor/analyst/report.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ksd.h"
#include "sensor/analyst/report_int.h"
#include "sensor/output/emit.h"
#include "sensor/output/redisconn.h"
#include "signatures/sig.h"

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
int64_t ksd_report_event_ts(const char *s, size_t n)
{
    char t[32];
    if (n < 19 || n >= sizeof(t))
        return -1;
    memcpy(t, s, 19);
    t[19] = '\0';
    int64_t v;
    return ksd_report_parse_date(t, &v) == KSD_OK ? v : -1;
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
        "       ksd report --host ADDR [--csv|--json]\n"
        "       ksd report --trend [--days N] [--since DATE] [--until DATE] [--site NAME]\n"
        "                  [--csv|--json]\n"
        "\n"
        "  --redis TARGET        Redis written by ksd --redis (default 127.0.0.1:6379)\n"
        "  --since DATE          hosts last seen at or after DATE (UTC, YYYY-MM-DD[THH:MM[:SS]])\n"
        "                        or within the last N s/m/h/d/w (24h, 7d)\n"
        "  --unmanaged           only hosts labelled neither \"managed\" nor \"exception\"\n"
        "  --site NAME           only hosts of this site\n"
        "  --verdict V           only hosts with this verdict\n"
        "  --csv, --json         hosts as CSV (RFC 4180) or a JSON array\n"
        "  --by-site             the per-site roll-up only\n"
        "  --no-top              do not read the events stream for top indicators\n"
        "  --host ADDR           one host: its record and its newest events (--csv: the events)\n"
        "  --trend               product hosts per UTC day and site (the migration trend)\n"
        "  --days N              --trend: the last N days (default 90, at most 366)\n"
        "  --since DATE          --trend: from the cut-over day DATE on\n"
        "  --until DATE          --trend: the last day (default today, UTC)\n"
        "  --fail-if-any         exit 3 when any host but an exception is listed\n"
        "\n"
        "Exit status: 0 ok, 1 Redis error, 2 bad usage, 3 hosts listed with --fail-if-any.\n");
}

/* ksd report --host ADDR: exit 0, 1 on a Redis error, 3 when the host has no record. */
static int host_page(const struct ksd_report_conf *conf, const char *client,
                     enum ksd_report_format fmt)
{
    char err[256];
    struct ksd_report_host h;
    struct ksd_report_buf b = {0};
    struct ksd_report_event *ev = calloc(KSD_REPORT_HOST_EVENTS, sizeof(*ev));
    size_t nev = 0;
    int found = 0, status = 0;
    struct ksd_report_db *db = ev ? ksd_report_open(conf, err, sizeof(err)) : NULL;
    if (!db) {
        fprintf(stderr, "ksd report: %s\n", ev ? err : "out of memory");
        free(ev);
        return 1;
    }
    if (ksd_report_host_page(db, client, KSD_REPORT_HOST_EVENTS, &h, ev, &nev,
                             fmt == KSD_REPORT_JSON ? &b : NULL, &found) != KSD_OK) {
        fprintf(stderr, "ksd report: %s\n", ksd_report_error(db));
        status = 1;
    } else if (!found) {
        fprintf(stderr, "ksd report: no host record for %s\n", client);
        status = 3;
    } else if (fmt == KSD_REPORT_JSON) {
        ksd_report_buf_str(&b, "\n");
        if (b.oom || fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout) != 0)
            status = 1;
    } else {
        status = ksd_report_write_host(stdout, fmt, &h, ev, nev) != 0;
    }
    if (status == 1 && found)
        fprintf(stderr, "ksd report: cannot write the report\n");
    ksd_report_close(db);
    ksd_report_buf_free(&b);
    free(ev);
    return status;
}

/* ksd report --trend: exit 0, or 1 on a Redis error. */
static int trend_rows(const struct ksd_report_conf *conf, int64_t first, int64_t last,
                      const char *site, enum ksd_report_format fmt)
{
    char err[256];
    struct ksd_report_trend_row *r = NULL;
    size_t n = 0;
    int status = 0;
    struct ksd_report_db *db = ksd_report_open(conf, err, sizeof(err));
    if (!db) {
        fprintf(stderr, "ksd report: %s\n", err);
        return 1;
    }
    if (ksd_report_trend(db, first, last, site, &r, &n) != KSD_OK) {
        fprintf(stderr, "ksd report: %s\n", ksd_report_error(db));
        status = 1;
    } else if (ksd_report_write_trend(stdout, fmt, r, n) != 0) {
        fprintf(stderr, "ksd report: cannot write the report\n");
        status = 1;
    }
    ksd_report_close(db);
    free(r);
    return status;
}

/* Hosts that --fail-if-any counts: every listed host but the exceptions. */
static size_t listed_problems(const struct ksd_report_host *h, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !ksd_report_is_exception(&h[i]);
    return k;
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
        O_NOTOP,
        O_HOST,
        O_TREND,
        O_DAYS,
        O_UNTIL,
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
        {"host", required_argument, NULL, O_HOST},
        {"trend", no_argument, NULL, O_TREND},
        {"days", required_argument, NULL, O_DAYS},
        {"until", required_argument, NULL, O_UNTIL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ksd_report_conf conf = {"127.0.0.1:6379", NULL, NULL, 0};
    struct ksd_report_filter f = {0, NULL, 0, -1, KSD_REPORT_MAX_SCAN};
    enum ksd_report_format fmt = KSD_REPORT_TABLE;
    int fail_if_any = 0, by_site = 0, o;
    const char *host = NULL;
    int trend = 0, days = KSD_REPORT_TREND_DAYS;
    int64_t until = 0;
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
                enum ksd_sig_verdict v;
                if (ksd_sig_verdict_parse(optarg, &v) != KSD_OK) {
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
            case O_HOST:
                host = optarg;
                break;
            case O_TREND:
                trend = 1;
                break;
            case O_DAYS: {
                char *end;
                long d = strtol(optarg, &end, 10);
                if (*end || end == optarg || d < 1 || d > KSD_REPORT_MAX_DAYS) {
                    fprintf(stderr, "ksd report: --days: 1..%d\n", KSD_REPORT_MAX_DAYS);
                    return 2;
                }
                days = (int)d;
                break;
            }
            case O_UNTIL:
                if (ksd_report_parse_date(optarg, &until) != KSD_OK) {
                    fprintf(stderr, "ksd report: --until: not a UTC date: %s\n", optarg);
                    return 2;
                }
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
    if (ksd_redisconn_parse_target(conf.target, NULL, NULL) != KSD_OK) {
        fprintf(stderr, "ksd report: --redis: bad target (HOST:PORT or unix:PATH)\n");
        return 2;
    }
    if (host)
        return host_page(&conf, host, fmt);
    if (trend) {
        int64_t last = until ? until : (int64_t)time(NULL);
        int64_t first = last - (int64_t)(days - 1) * 86400;
        if (f.since > first)
            first = f.since;
        return trend_rows(&conf, first, last, f.site, fmt);
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
    } else if (fail_if_any && listed_problems(h, n)) {
        status = 3;
    }
    free(h);
    free(s);
    return status;
}
