/*
 * test_report.c - the read side of Redis (sensor/analyst/report.c) and the dashboard
 * server (sensor/analyst/web.c) against a real redis-server started by the test
 * (tests/redis_helpers.h) and filled by the real writer (ksd_emit_*): hosts
 * with their verdict, evidence counters and top indicators, the --since,
 * --unmanaged, --site and --verdict filters, the table/CSV/JSON output
 * (hostile captured strings cleaned), --fail-if-any, and the HTTP API:
 * security headers, Basic auth, JSON answers and the Server-Sent Events
 * stream of the live channel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/redis_helpers.h"

#include <arpa/inet.h>
#include <sys/time.h>

#include "dissectors/ksd.h"
#include "sensor/output/emit.h"
#include "sensor/analyst/report.h"
#include "sensor/analyst/web.h"
#include "signatures/sig.h"

#define T_OUT_MAX (256 * 1024) /* captured output of one call */

/* 2026-11-20T10:00:00Z and friends */
#define T_DAY20 1795168800LL
#define T_DAY25 (T_DAY20 + 5 * 86400)
#define T_DAY26 (T_DAY20 + 6 * 86400)

/* ESC, BEL, a quote, a comma and markup: all must come out harmless */
#define T_HOSTILE "\x1b[31mevil\x07\",<script>alert(1)</script>"

struct tstate {
    struct rh_server srv; /* the Redis the report reads */
    char target[64];      /* "127.0.0.1:PORT" */
    char dir[64];         /* scratch directory */
    char out[T_OUT_MAX];  /* captured standard output */
};

static void make_event(struct ksd_event *ev, uint64_t id, int64_t ts, const char *client,
                       const char *evidence, const char *indicator, const char *rule,
                       const char *category, const char *site, const char *managed)
{
    memset(ev, 0, sizeof(*ev));
    ev->id = id;
    ev->ts_us = ts * 1000000;
    snprintf(ev->sensor, sizeof(ev->sensor), "t1");
    snprintf(ev->client, sizeof(ev->client), "%s", client);
    snprintf(ev->server, sizeof(ev->server), "192.0.2.1");
    ev->sport = 40000;
    ev->dport = 443;
    snprintf(ev->proto, sizeof(ev->proto), "tcp");
    snprintf(ev->evidence, sizeof(ev->evidence), "%s", evidence);
    snprintf(ev->indicator, sizeof(ev->indicator), "%s", indicator);
    snprintf(ev->rule, sizeof(ev->rule), "%s", rule);
    snprintf(ev->category, sizeof(ev->category), "%s", category);
    ev->confidence = 90;
    snprintf(ev->app, sizeof(ev->app), "TLS");
    snprintf(ev->site, sizeof(ev->site), "%s", site);
    snprintf(ev->managed, sizeof(ev->managed), "%s", managed);
    snprintf(ev->ruleset, sizeof(ev->ruleset), "2026.11.27-1");
    ev->count = 1;
}

/* 0 once ksd:events holds n entries and ksd:sensor:t1 exists; -1 after 10 s. */
static int wait_stored(const struct rh_server *srv, long long n)
{
    redisContext *c = rh_connect(srv);
    if (!c)
        return -1;
    int rc = -1;
    for (long long end = rh_now_ms() + 10000; rc != 0 && rh_now_ms() < end;) {
        redisReply *len = redisCommand(c, "XLEN ksd:events");
        redisReply *ex = redisCommand(c, "EXISTS ksd:sensor:t1");
        if (len && ex && len->type == REDIS_REPLY_INTEGER && ex->type == REDIS_REPLY_INTEGER &&
            len->integer == n && ex->integer == 1)
            rc = 0;
        else
            rh_sleep_ms(10);
        if (len)
            freeReplyObject(len);
        if (ex)
            freeReplyObject(ex);
    }
    redisFree(c);
    return rc;
}

/*
 * The data set:
 *   10.1.0.1 hq, unmanaged, update: sni s07 x3, dns s07 x1, sni dnl-03 x1  -> product
 *   10.1.0.2 hq, managed, management (port)                               -> product
 *   10.1.0.3 branch, website only                                         -> website-only
 *   10.1.0.4 no site, infrastructure cert with a hostile subject           -> suspected
 */
static int fill(struct tstate *t)
{
    struct ksd_emit_conf c;
    char err[256];
    struct ksd_event ev;
    uint64_t id = 0x1000;
    memset(&c, 0, sizeof(c));
    c.target = t->target;
    c.sensor_id = "t1";
    c.stats_interval_ms = 50;
    c.stats_ttl_s = 600;
    struct ksd_emit *e = ksd_emit_start(&c, err, sizeof(err));
    if (!e)
        return -1;
    struct ksd_sensor_snapshot snap = {1234, 99999, 7, 42, 9, T_DAY20, "test-1"};
    ksd_emit_snapshot(e, &snap);
    for (int i = 0; i < 3; i++) {
        make_event(&ev, id++, T_DAY20 + i, "10.1.0.1", "sni", "s07.upd.kaspersky.com", "kl-upd-s07",
                   "update", "hq", "");
        ksd_emit_push(e, &ev);
    }
    /* the machine: a name from one event, the MAC from the newest (point 6) */
    make_event(&ev, id++, T_DAY20 + 10, "10.1.0.1", "dns", "s07.upd.kaspersky.com", "kl-upd-s07",
               "update", "hq", "");
    snprintf(ev.client_name, sizeof(ev.client_name), "ACCT-PC7");
    snprintf(ev.client_name_source, sizeof(ev.client_name_source), "dhcp");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T_DAY20 + 20, "10.1.0.1", "sni", "dnl-03.geo.kaspersky.com",
               "kl-upd-dnl03", "update", "hq", "");
    snprintf(ev.client_mac, sizeof(ev.client_mac), "02:00:5e:10:00:01");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T_DAY25, "10.1.0.2", "port", "tcp/13000", "kl-ksc-tcp13000", "management",
               "hq", "managed");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T_DAY26, "10.1.0.3", "sni", "www.kaspersky.com", "kl-web-www", "website",
               "branch", "");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T_DAY26 + 60, "10.1.0.4", "cert", T_HOSTILE, "kl-cert-ca",
               "infrastructure", "", "");
    ksd_emit_push(e, &ev);
    /* wait (with a deadline) for all events and one sensor:<id> refresh */
    int stored = wait_stored(&t->srv, 8);
    return ksd_emit_stop(e, 5000) == 0 && stored == 0 ? 0 : -1;
}

/*
 * A second data set under the prefix "t2:" (other tests keep theirs):
 *   10.2.0.1 lab, exception, update (3 events)     -> product, but an exception
 *   10.2.0.2 lab, no label, telemetry (2 events)   -> product
 *   10.2.0.3 lab, update, day 0; 10.2.0.4 lab, website, day 0; 10.2.0.5 no
 *   site, update, day 2
 * Events span three UTC days for the trend (T2_DAY0 .. T2_DAY0 + 2 days),
 * written with the trend on (as ksd does).
 */
#define T2_DAY0 (T_DAY20 + 30 * 86400)
static int fill2(struct tstate *t)
{
    struct ksd_emit_conf c;
    char err[256];
    struct ksd_event ev;
    uint64_t id = 0x2000;
    memset(&c, 0, sizeof(c));
    c.target = t->target;
    c.prefix = "t2:";
    c.sensor_id = "t2";
    c.trend_product = ksd_sig_category_is_product;
    struct ksd_emit *e = ksd_emit_start(&c, err, sizeof(err));
    if (!e)
        return -1;
    for (int i = 0; i < 3; i++) {
        make_event(&ev, id++, T2_DAY0 + i * 86400 + 60, "10.2.0.1", "sni",
                   i == 2 ? "ksn.kaspersky-labs.com" : "s07.upd.kaspersky.com", "kl-upd-s07",
                   "update", "lab", "exception");
        ksd_emit_push(e, &ev);
    }
    make_event(&ev, id++, T2_DAY0 + 120, "10.2.0.2", "dns", "ksn.kaspersky-labs.com", "kl-ksn",
               "telemetry", "lab", "");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T2_DAY0 + 86400 + 120, "10.2.0.2", "sni", "ksn.kaspersky-labs.com",
               "kl-ksn", "telemetry", "lab", "");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T2_DAY0 + 300, "10.2.0.3", "sni", "s07.upd.kaspersky.com", "kl-upd-s07",
               "update", "lab", "");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T2_DAY0 + 300, "10.2.0.4", "sni", "www.kaspersky.com", "kl-web-www",
               "website", "lab", "");
    ksd_emit_push(e, &ev);
    make_event(&ev, id++, T2_DAY0 + 2 * 86400 + 300, "10.2.0.5", "dns", "s07.upd.kaspersky.com",
               "kl-upd-s07", "update", "", "");
    ksd_emit_push(e, &ev);
    return ksd_emit_stop(e, 5000) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    struct tstate *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    if (rh_mktemp(t->dir, sizeof(t->dir)) != 0 || rh_start(&t->srv, NULL) != 0)
        goto err;
    snprintf(t->target, sizeof(t->target), "127.0.0.1:%d", t->srv.port);
    if (fill(t) != 0 || fill2(t) != 0)
        goto err;
    *state = t;
    return 0;
err:
    rh_cleanup(&t->srv);
    rh_rmtree(t->dir);
    free(t);
    return -1;
}

static int teardown(void **state)
{
    struct tstate *t = *state;
    rh_cleanup(&t->srv);
    rh_rmtree(t->dir);
    free(t);
    return 0;
}

/* Run ksd_report_main with NULL-terminated arguments; stdout goes to t->out. */
static int run_report(struct tstate *t, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)"report";
    argv[argc++] = (char *)"--redis";
    argv[argc++] = t->target;
    va_start(ap, t);
    for (char *a; argc < 31 && (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char path[128];
    snprintf(path, sizeof(path), "%s/out", t->dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    int rc = ksd_report_main(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(t->out, 1, sizeof(t->out) - 1, f);
    t->out[n] = '\0';
    fclose(f);
    return rc;
}

static void assert_no_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p != '\n' && *p != '\r' && (*p < 0x20 || *p == 0x7f))
            fail_msg("control byte 0x%02x at offset %td", *p, (const char *)p - s);
}

static const struct ksd_report_host *find(const struct ksd_report_host *h, size_t n,
                                          const char *client)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].client, client) == 0)
            return &h[i];
    return NULL;
}

static struct ksd_report_db *open_db(struct tstate *t)
{
    struct ksd_report_conf c = {t->target, NULL, NULL, 0};
    char err[256];
    struct ksd_report_db *db = ksd_report_open(&c, err, sizeof(err));
    if (!db)
        fail_msg("ksd_report_open: %s", err);
    return db;
}

/* ---- pure functions ---- */

static void test_report_verdict_from_categories(void **state)
{
    (void)state;
    assert_int_equal(ksd_sig_verdict_of("website,update"), KSD_SIG_VERDICT_PRODUCT);
    assert_int_equal(ksd_sig_verdict_of("oem"), KSD_SIG_VERDICT_PRODUCT);
    assert_int_equal(ksd_sig_verdict_of("management"), KSD_SIG_VERDICT_PRODUCT);
    assert_int_equal(ksd_sig_verdict_of("website"), KSD_SIG_VERDICT_WEBSITE_ONLY);
    assert_int_equal(ksd_sig_verdict_of(" website , website"), KSD_SIG_VERDICT_WEBSITE_ONLY);
    assert_int_equal(ksd_sig_verdict_of("website,infrastructure"), KSD_SIG_VERDICT_SUSPECTED);
    assert_int_equal(ksd_sig_verdict_of("updates"), KSD_SIG_VERDICT_SUSPECTED);
    assert_int_equal(ksd_sig_verdict_of(""), KSD_SIG_VERDICT_SUSPECTED);
    assert_int_equal(ksd_sig_verdict_of(NULL), KSD_SIG_VERDICT_SUSPECTED);
    enum ksd_sig_verdict v;
    assert_int_equal(ksd_sig_verdict_parse("website-only", &v), KSD_OK);
    assert_int_equal(v, KSD_SIG_VERDICT_WEBSITE_ONLY);
    assert_int_equal(ksd_sig_verdict_parse("Product", &v), KSD_EINVAL);
}

static void test_report_since_relative(void **state)
{
    (void)state;
    int64_t t = 0, now = 1796000000;
    assert_int_equal(ksd_report_parse_since("24h", now, &t), KSD_OK);
    assert_true(t == now - 86400);
    assert_int_equal(ksd_report_parse_since("7d", now, &t), KSD_OK);
    assert_true(t == now - 7 * 86400);
    assert_int_equal(ksd_report_parse_since("90m", now, &t), KSD_OK);
    assert_true(t == now - 5400);
    assert_int_equal(ksd_report_parse_since("2w", now, &t), KSD_OK);
    assert_true(t == now - 14 * 86400);
    assert_int_equal(ksd_report_parse_since("2026-11-20", now, &t), KSD_OK);
    assert_true(t == 1795132800);
    assert_int_equal(ksd_report_parse_since("7", now, &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_since("h", now, &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_since("7y", now, &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_since("7dd", now, &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_since("99999999999d", now, &t), KSD_EINVAL);
}

static void test_report_parse_date_forms(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(ksd_report_parse_date("2026-11-20", &t), KSD_OK);
    assert_int_equal(t, T_DAY20 - 10 * 3600);
    assert_int_equal(ksd_report_parse_date("2026-11-20T10:00", &t), KSD_OK);
    assert_int_equal(t, T_DAY20);
    assert_int_equal(ksd_report_parse_date("2026-11-20 10:00:05Z", &t), KSD_OK);
    assert_int_equal(t, T_DAY20 + 5);
    assert_int_equal(ksd_report_parse_date("2026-11-20T10:00:05.123456Z", &t), KSD_OK);
    assert_int_equal(t, T_DAY20 + 5);
    assert_int_equal(ksd_report_parse_date("2026-13-01", &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_date("2026-11-31", &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_date("2026-11-20T25:00", &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_date("2026-11-20x", &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_date("20261120", &t), KSD_EINVAL);
    assert_int_equal(ksd_report_parse_date("", &t), KSD_EINVAL);
}

/* ---- reading Redis ---- */

static void test_report_hosts_fields_and_verdicts(void **state)
{
    struct tstate *t = *state;
    struct ksd_report_db *db = open_db(t);
    struct ksd_report_filter f = {0, NULL, 0, -1, KSD_REPORT_MAX_SCAN};
    struct ksd_report_host *h = NULL;
    size_t n = 0;
    assert_int_equal(ksd_report_hosts(db, &f, &h, &n), KSD_OK);
    ksd_report_close(db);
    assert_int_equal(n, 4);
    /* newest last_seen first */
    assert_string_equal(h[0].client, "10.1.0.4");
    assert_string_equal(h[3].client, "10.1.0.1");
    const struct ksd_report_host *a = find(h, n, "10.1.0.1");
    assert_non_null(a);
    assert_int_equal(a->verdict, KSD_SIG_VERDICT_PRODUCT);
    assert_string_equal(a->site, "hq");
    assert_string_equal(a->managed, "");
    assert_string_equal(a->evidence, "dns:1,sni:4");
    assert_string_equal(a->categories, "update");
    assert_int_equal(a->events, 5);
    assert_int_equal(a->first_seen, T_DAY20);
    assert_int_equal(a->last_seen, T_DAY20 + 20);
    assert_string_equal(a->last_indicator, "dnl-03.geo.kaspersky.com");
    assert_string_equal(a->last_rule, "kl-upd-dnl03");
    assert_string_equal(a->sensor, "t1");
    assert_string_equal(a->mac, "02:00:5e:10:00:01");
    assert_string_equal(a->name, "ACCT-PC7");
    assert_string_equal(a->name_source, "dhcp");
    assert_int_equal(a->ntop, 2);
    assert_string_equal(a->top[0], "s07.upd.kaspersky.com");
    assert_int_equal(a->top_n[0], 4);
    assert_string_equal(a->top[1], "dnl-03.geo.kaspersky.com");
    assert_int_equal(a->top_n[1], 1);
    const struct ksd_report_host *b = find(h, n, "10.1.0.2");
    assert_non_null(b);
    assert_int_equal(b->verdict, KSD_SIG_VERDICT_PRODUCT);
    assert_string_equal(b->managed, "managed");
    assert_int_equal(find(h, n, "10.1.0.3")->verdict, KSD_SIG_VERDICT_WEBSITE_ONLY);
    const struct ksd_report_host *d = find(h, n, "10.1.0.4");
    assert_int_equal(d->verdict, KSD_SIG_VERDICT_SUSPECTED);
    assert_string_equal(d->top[0], T_HOSTILE); /* kept as read; cleaned on output */

    struct ksd_report_site *s = NULL;
    size_t ns = ksd_report_sites(h, n, &s);
    assert_int_equal(ns, 3);
    assert_string_equal(s[0].name, "");
    assert_int_equal(s[0].hosts, 1);
    assert_int_equal(s[0].product_hosts, 0);
    assert_string_equal(s[1].name, "branch");
    assert_string_equal(s[2].name, "hq");
    assert_int_equal(s[2].hosts, 2);
    assert_int_equal(s[2].product_hosts, 2);
    assert_int_equal(s[2].events, 6);
    assert_int_equal(s[2].last_seen, T_DAY25);
    free(s);
    free(h);
}

static void test_report_filters_since_site_unmanaged_verdict(void **state)
{
    struct tstate *t = *state;
    struct ksd_report_db *db = open_db(t);
    struct ksd_report_host *h = NULL;
    size_t n = 0;
    struct ksd_report_filter f = {T_DAY25, NULL, 0, -1, 0};
    assert_int_equal(ksd_report_hosts(db, &f, &h, &n), KSD_OK);
    assert_int_equal(n, 3);
    assert_null(find(h, n, "10.1.0.1"));
    assert_int_equal(h[0].ntop, 0); /* top_scan 0: stream not read */
    free(h);
    struct ksd_report_filter g = {0, "hq", 1, -1, 0};
    assert_int_equal(ksd_report_hosts(db, &g, &h, &n), KSD_OK);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].client, "10.1.0.1");
    free(h);
    struct ksd_report_filter v = {0, NULL, 0, KSD_SIG_VERDICT_WEBSITE_ONLY, 0};
    assert_int_equal(ksd_report_hosts(db, &v, &h, &n), KSD_OK);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].client, "10.1.0.3");
    free(h);
    ksd_report_close(db);
}

static void test_report_table_is_aligned_and_clean(void **state)
{
    struct tstate *t = *state;
    assert_int_equal(run_report(t, NULL), 0);
    assert_no_control(t->out);
    assert_non_null(strstr(t->out, "CLIENT"));
    assert_non_null(strstr(t->out, "\\x1b[31mevil\\x07"));
    assert_non_null(strstr(t->out, "s07.upd.kaspersky.com (4); dnl-03.geo.kaspersky.com (1)"));
    /* every host row starts its VERDICT column at the header's offset */
    const char *head = t->out;
    size_t vcol = (size_t)(strstr(head, "VERDICT") - head);
    const char *row = strstr(t->out, "\n10.1.0.3");
    assert_non_null(row);
    assert_memory_equal(row + 1 + vcol, "website-only", 12);
    row = strstr(t->out, "\n10.1.0.4");
    assert_memory_equal(row + 1 + vcol, "suspected", 9);
    /* the machine next to the address; "-" when the network named none */
    assert_non_null(strstr(t->out, "\n10.1.0.1  ACCT-PC7 (dhcp) 02:00:5e:10:00:01  hq  "));
    assert_non_null(strstr(row, "  -  "));
    /* then the roll-up */
    assert_non_null(strstr(t->out, "\nSITE"));
    assert_non_null(strstr(t->out, "\nhq "));
}

static void test_report_csv_quotes_and_header(void **state)
{
    struct tstate *t = *state;
    assert_int_equal(run_report(t, "--csv", NULL), 0);
    assert_no_control(t->out);
    const char *hdr = "client,site,managed,verdict,first_seen,last_seen,events,evidence,"
                      "categories,top_indicators,last_rule,sensor,mac,name,name_source\r\n";
    assert_memory_equal(t->out, hdr, strlen(hdr));
    assert_non_null(strstr(t->out, "\r\n10.1.0.1,hq,,product,2026-11-20T10:00:00Z,"
                                   "2026-11-20T10:00:20Z,5,\"dns:1,sni:4\",update,"
                                   "s07.upd.kaspersky.com (4); dnl-03.geo.kaspersky.com (1),"
                                   "kl-upd-dnl03,t1,02:00:5e:10:00:01,ACCT-PC7,dhcp\r\n"));
    assert_non_null(strstr(t->out, "\r\n10.1.0.2,hq,managed,product,"));
    assert_non_null(strstr(t->out, ",kl-ksc-tcp13000,t1,,,\r\n"));
    /* the quote is doubled and the cell quoted; ESC and BEL escaped */
    assert_non_null(
        strstr(t->out, ",\"\\x1b[31mevil\\x07\"\",<script>alert(1)</script> (1)\",kl-cert-ca,"));
    int lines = 0;
    for (const char *p = t->out; (p = strstr(p, "\r\n")) != NULL; p += 2)
        lines++;
    assert_int_equal(lines, 5);
}

static void test_report_json_array_escaped(void **state)
{
    struct tstate *t = *state;
    assert_int_equal(run_report(t, "--json", "--verdict", "suspected", NULL), 0);
    assert_no_control(t->out);
    assert_int_equal(t->out[0], '[');
    assert_non_null(strstr(t->out, "\"client\":\"10.1.0.4\""));
    assert_non_null(strstr(t->out, "\"indicator\":\"\\u001b[31mevil\\u0007\\\",<script>"));
    assert_null(strstr(t->out, "10.1.0.1"));
    assert_int_equal(run_report(t, "--json", "--by-site", NULL), 0);
    assert_memory_equal(t->out, "[{\"site\":\"\",\"hosts\":1,", 22);
    assert_non_null(
        strstr(t->out, "{\"site\":\"hq\",\"hosts\":2,\"product_hosts\":2,\"events\":6"));
}

static void test_report_since_and_unmanaged_options(void **state)
{
    struct tstate *t = *state;
    assert_int_equal(run_report(t, "--csv", "--since", "2026-11-26", NULL), 0);
    assert_null(strstr(t->out, "10.1.0.1"));
    assert_null(strstr(t->out, "10.1.0.2"));
    assert_non_null(strstr(t->out, "\r\n10.1.0.3,"));
    assert_non_null(strstr(t->out, "\r\n10.1.0.4,"));
    assert_int_equal(run_report(t, "--csv", "--unmanaged", NULL), 0);
    assert_null(strstr(t->out, "10.1.0.2"));
    assert_non_null(strstr(t->out, "\r\n10.1.0.1,"));
    assert_int_equal(run_report(t, "--csv", "--site", "branch", NULL), 0);
    assert_non_null(strstr(t->out, "\r\n10.1.0.3,"));
    assert_null(strstr(t->out, "10.1.0.1"));
}

static void test_report_fail_if_any_exit_codes(void **state)
{
    struct tstate *t = *state;
    assert_int_equal(run_report(t, "--fail-if-any", NULL), 3);
    assert_int_equal(run_report(t, "--fail-if-any", "--since", "2030-01-01", NULL), 0);
    assert_string_equal(t->out, "no flagged hosts\n");
    assert_int_equal(run_report(t, "--since", "yesterday", NULL), 2);
    assert_int_equal(run_report(t, "--verdict", "bad", NULL), 2);
    assert_int_equal(run_report(t, "--bogus", NULL), 2);
    char *argv[] = {(char *)"report", (char *)"--redis", (char *)"127.0.0.1:1", NULL};
    assert_int_equal(ksd_report_main(3, argv), 1);
}

/* Point 10 of issue 17: an "exception" host keeps its verdict but is not
 * unmanaged, does not trip --fail-if-any, and says so in every output. */
static void test_report_exception_is_its_own_case(void **state)
{
    struct tstate *t = *state;
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--csv", NULL), 0);
    assert_non_null(strstr(t->out, "\r\n10.2.0.1,lab,exception,product,"));
    assert_non_null(strstr(t->out, "\r\n10.2.0.2,lab,,product,"));
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--csv", "--unmanaged", NULL), 0);
    assert_null(strstr(t->out, "10.2.0.1"));
    assert_non_null(strstr(t->out, "\r\n10.2.0.2,"));
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", NULL), 0);
    assert_non_null(strstr(t->out, "product (exception)"));
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--json", NULL), 0);
    assert_non_null(strstr(t->out, "\"client\":\"10.2.0.1\",\"site\":\"lab\",\"managed\":"
                                   "\"exception\""));
    assert_non_null(strstr(t->out, "\"exception\":true,"));
    assert_non_null(strstr(t->out, "\"exception\":false,"));
    assert_non_null(strstr(t->out, "\"mac\":\"\",\"name\":\"\",\"name_source\":\"\"}"));
    /* the exception alone: listed, but no alarm; with the other host: alarm */
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--fail-if-any", "--site", "lab",
                                "--since", "2026-12-22", NULL),
                     0);
    assert_non_null(strstr(t->out, "10.2.0.1"));
    assert_null(strstr(t->out, "10.2.0.2"));
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--fail-if-any", NULL), 3);
}

static void test_report_timeline_events_sensors(void **state)
{
    struct tstate *t = *state;
    struct ksd_report_db *db = open_db(t);
    struct ksd_report_buf b = {0};
    assert_int_equal(ksd_report_timeline_json(db, 3, &b), KSD_OK);
    /* newest ts 2026-11-26T10:01:00Z: window 08:00..11:00 */
    char want[128];
    snprintf(want, sizeof(want), "{\"start\":%lld,\"end\":%lld,\"bucket\":3600,\"counts\":[0,0,2]",
             T_DAY26 - 2 * 3600, T_DAY26 + 3600);
    assert_memory_equal(b.p, want, strlen(want));
    ksd_report_buf_free(&b);
    assert_int_equal(ksd_report_events_json(db, 2, &b), KSD_OK);
    assert_non_null(strstr(b.p, "\"client\":\"10.1.0.4\""));
    assert_non_null(strstr(b.p, "\"client\":\"10.1.0.3\""));
    assert_null(strstr(b.p, "10.1.0.2"));
    assert_non_null(strstr(b.p, "\"dport\":443,"));
    ksd_report_buf_free(&b);
    assert_int_equal(ksd_report_sensors_json(db, &b), KSD_OK);
    assert_non_null(strstr(b.p, "[{\"id\":\"t1\""));
    assert_non_null(strstr(b.p, "\"packets\":1234"));
    assert_non_null(strstr(b.p, "\"drops\":7"));
    ksd_report_buf_free(&b);
    ksd_report_close(db);
}

/* ---- the dashboard server ---- */

static int http_connect(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* GET path; the whole answer (headers and body) in out; returns the status. */
static int http_get(int port, const char *path, const char *auth, char *out, size_t cap)
{
    char req[512];
    int fd = http_connect(port);
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s\r\n", path,
                     auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(out, "HTTP/1.1 %d", &status);
    return status;
}

static struct ksd_web *start_web(struct tstate *t, const char *password_file)
{
    struct ksd_web_conf c;
    char err[256];
    memset(&c, 0, sizeof(c));
    c.listen = "127.0.0.1:0";
    c.password_file = password_file;
    c.redis.target = t->target;
    struct ksd_web *w = ksd_web_start(&c, err, sizeof(err));
    if (!w)
        fail_msg("ksd_web_start: %s", err);
    assert_true(ksd_web_port(w) > 0);
    return w;
}

static void test_web_api_answers_with_security_headers(void **state)
{
    struct tstate *t = *state;
    struct ksd_web *w = start_web(t, NULL);
    int port = ksd_web_port(w);
    assert_int_equal(http_get(port, "/", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "Content-Security-Policy: default-src 'self'"));
    assert_non_null(strstr(t->out, "X-Content-Type-Options: nosniff"));
    assert_non_null(strstr(t->out, "<script src=\"/app.js\""));
    assert_int_equal(http_get(port, "/app.js", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "Content-Type: text/javascript"));
    assert_null(strstr(t->out, "innerHTML"));
    assert_int_equal(http_get(port, "/style.css", NULL, t->out, sizeof(t->out)), 200);
    assert_int_equal(http_get(port, "/api/hosts", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "Content-Type: application/json"));
    assert_non_null(strstr(t->out, "\"client\":\"10.1.0.1\",\"site\":\"hq\",\"managed\":\"\","
                                   "\"verdict\":\"product\""));
    assert_non_null(strstr(t->out, "\"verdict\":\"website-only\""));
    assert_non_null(strstr(t->out, "\\u001b[31mevil\\u0007"));
    assert_int_equal(http_get(port, "/api/hosts?unmanaged=1&site=hq", NULL, t->out, sizeof(t->out)),
                     200);
    assert_non_null(strstr(t->out, "10.1.0.1"));
    assert_null(strstr(t->out, "10.1.0.2"));
    assert_int_equal(http_get(port, "/api/hosts?since=2026-11-26", NULL, t->out, sizeof(t->out)),
                     200);
    assert_null(strstr(t->out, "10.1.0.1"));
    assert_non_null(strstr(t->out, "10.1.0.3"));
    assert_int_equal(http_get(port, "/api/hosts?since=junk", NULL, t->out, sizeof(t->out)), 400);
    assert_int_equal(http_get(port, "/api/sites", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "{\"site\":\"branch\",\"hosts\":1,\"product_hosts\":0"));
    assert_int_equal(http_get(port, "/api/timeline?hours=2", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "\"counts\":[0,2]"));
    assert_int_equal(http_get(port, "/api/timeline?hours=x", NULL, t->out, sizeof(t->out)), 400);
    assert_int_equal(http_get(port, "/api/sensors", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "\"id\":\"t1\""));
    assert_int_equal(http_get(port, "/api/events?count=1", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "\"client\":\"10.1.0.4\""));
    assert_int_equal(http_get(port, "/nope", NULL, t->out, sizeof(t->out)), 404);
    assert_int_equal(http_get(port, "/../etc/passwd", NULL, t->out, sizeof(t->out)), 404);
    ksd_web_stop(w);
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Point 8 of issue 17: a host page, in the report and in the API. */
static void test_report_host_page_record_and_newest_events(void **state)
{
    struct tstate *t = *state;
    assert_int_equal(run_report(t, "--host", "10.1.0.1", NULL), 0);
    assert_non_null(strstr(t->out, "CLIENT          10.1.0.1\n"));
    assert_non_null(strstr(t->out, "MACHINE         ACCT-PC7 (dhcp) 02:00:5e:10:00:01\n"));
    assert_non_null(strstr(t->out, "VERDICT         product\n"));
    assert_non_null(strstr(t->out, "EVENTS          5\n"));
    assert_non_null(strstr(t->out, "EVIDENCE        dns:1,sni:4\n"));
    assert_non_null(strstr(t->out, "TOP INDICATORS  s07.upd.kaspersky.com (4); dnl-03"));
    /* the events, newest first: dnl-03 (T_DAY20 + 20), the dns one (+10), then sni */
    const char *hd = strstr(t->out, "TIME (UTC)");
    assert_non_null(hd);
    const char *a = strstr(hd, "dnl-03.geo.kaspersky.com"), *b = strstr(hd, "  dns  "),
               *c = strstr(hd, "2026-11-20 10:00:00");
    assert_true(a && b && c && a < b && b < c);
    assert_null(strstr(t->out, "10.1.0.2"));
    assert_int_equal(run_report(t, "--host", "10.1.0.1", "--json", NULL), 0);
    assert_true(starts(t->out, "{\"host\":{\"client\":\"10.1.0.1\""));
    assert_non_null(strstr(t->out, ",\"mac\":\"02:00:5e:10:00:01\",\"name\":\"ACCT-PC7\","
                                   "\"name_source\":\"dhcp\"},\"events\":["));
    a = strstr(t->out, "\"events\":[{\"stream_id\":");
    assert_non_null(a);
    assert_non_null(strstr(a, "\"indicator\":\"dnl-03.geo.kaspersky.com\""));
    assert_true(strstr(a, "dnl-03") < strstr(a, "\"evidence\":\"dns\""));
    assert_int_equal(run_report(t, "--host", "10.1.0.1", "--csv", NULL), 0);
    assert_true(starts(t->out, "ts,evidence,indicator,rule,category,server,dport,count\r\n"));
    assert_int_equal(run_report(t, "--host", "10.1.0.4", NULL), 0);
    assert_no_control(t->out);
    assert_int_equal(run_report(t, "--host", "10.9.9.9", NULL), 3);

    struct ksd_web *w = start_web(t, NULL);
    int port = ksd_web_port(w);
    assert_int_equal(http_get(port, "/api/host?client=10.1.0.1", NULL, t->out, sizeof(t->out)),
                     200);
    assert_non_null(strstr(t->out, "{\"host\":{\"client\":\"10.1.0.1\",\"site\":\"hq\""));
    assert_non_null(strstr(t->out, "\"events\":[{\"stream_id\":"));
    assert_int_equal(
        http_get(port, "/api/host?client=10.1.0.1&count=1", NULL, t->out, sizeof(t->out)), 200);
    a = strstr(t->out, "\"events\":[");
    assert_non_null(a);
    assert_null(strstr(a, "},{"));
    assert_int_equal(http_get(port, "/api/host?client=10.9.9.9", NULL, t->out, sizeof(t->out)),
                     404);
    assert_int_equal(http_get(port, "/api/host", NULL, t->out, sizeof(t->out)), 400);
    ksd_web_stop(w);
}

/* Point 9 of issue 17: product hosts per UTC day and site, from the keys the
 * real writer stored (exceptions and website-only hosts not counted). */
static void test_report_trend_rows_from_the_writer(void **state)
{
    struct tstate *t = *state;
    static const char want[] = "[{\"day\":\"2026-12-20\",\"site\":\"\",\"product_hosts\":0},"
                               "{\"day\":\"2026-12-20\",\"site\":\"lab\",\"product_hosts\":2},"
                               "{\"day\":\"2026-12-21\",\"site\":\"\",\"product_hosts\":0},"
                               "{\"day\":\"2026-12-21\",\"site\":\"lab\",\"product_hosts\":1},"
                               "{\"day\":\"2026-12-22\",\"site\":\"\",\"product_hosts\":1},"
                               "{\"day\":\"2026-12-22\",\"site\":\"lab\",\"product_hosts\":0}]";
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--trend", "--days", "3", "--until",
                                "2026-12-22", "--json", NULL),
                     0);
    assert_true(strncmp(t->out, want, strlen(want)) == 0 && t->out[strlen(want)] == '\n');
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--trend", "--until", "2026-12-22",
                                "--since", "2026-12-21", "--site", "lab", "--csv", NULL),
                     0);
    assert_string_equal(t->out, "day,site,product_hosts\r\n2026-12-21,lab,1\r\n"
                                "2026-12-22,lab,0\r\n");
    assert_int_equal(run_report(t, "--redis-prefix", "t2:", "--trend", "--days", "1", "--until",
                                "2026-12-20T23:59", NULL),
                     0);
    assert_non_null(strstr(t->out, "DAY (UTC)   SITE  PRODUCT HOSTS\n"));
    assert_non_null(strstr(t->out, "2026-12-20  lab   2\n"));
    assert_int_equal(run_report(t, "--trend", "--days", "0", NULL), 2);
    assert_int_equal(run_report(t, "--trend", "--days", "367", NULL), 2);
    /* the default data set was written without the trend: no rows */
    assert_int_equal(run_report(t, "--trend", "--json", NULL), 0);
    assert_string_equal(t->out, "[]\n");

    /* bounded: every trend key expires within a year and a day */
    redisContext *rc = rh_connect(&t->srv);
    assert_non_null(rc);
    redisReply *r = redisCommand(rc, "TTL t2:trend:2026-12-20:lab");
    assert_true(r && r->type == REDIS_REPLY_INTEGER && r->integer > 365 * 86400 &&
                r->integer <= 366 * 86400);
    freeReplyObject(r);
    r = redisCommand(rc, "TTL t2:trend:sites");
    assert_true(r && r->type == REDIS_REPLY_INTEGER && r->integer > 365 * 86400);
    freeReplyObject(r);
    redisFree(rc);

    struct ksd_web *w = start_web(t, NULL);
    int port = ksd_web_port(w);
    /* the API's prefix is the default one: same answer as the report there */
    assert_int_equal(
        http_get(port, "/api/trend?days=3&until=2026-12-22", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "\r\n\r\n[]"));
    assert_int_equal(http_get(port, "/api/trend?days=0", NULL, t->out, sizeof(t->out)), 400);
    assert_int_equal(http_get(port, "/api/trend?until=junk", NULL, t->out, sizeof(t->out)), 400);
    ksd_web_stop(w);
    struct ksd_web_conf wc;
    memset(&wc, 0, sizeof(wc));
    wc.listen = "127.0.0.1:0";
    wc.redis.target = t->target;
    wc.redis.prefix = "t2:";
    char err[256];
    w = ksd_web_start(&wc, err, sizeof(err));
    assert_non_null(w);
    port = ksd_web_port(w);
    assert_int_equal(
        http_get(port, "/api/trend?days=3&until=2026-12-22", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, want));
    ksd_web_stop(w);
}

static void test_web_redis_down_is_502_then_recovers(void **state)
{
    struct tstate *t = *state;
    struct ksd_web *w = start_web(t, NULL);
    int port = ksd_web_port(w);
    assert_int_equal(http_get(port, "/api/hosts", NULL, t->out, sizeof(t->out)), 200);
    rh_stop(&t->srv);
    assert_int_equal(http_get(port, "/api/hosts", NULL, t->out, sizeof(t->out)), 502);
    assert_non_null(strstr(t->out, "{\"error\":"));
    assert_int_equal(rh_launch(&t->srv), 0);
    /* persistence is off: the restarted server is empty */
    assert_int_equal(http_get(port, "/api/hosts", NULL, t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "\r\n\r\n[]"));
    assert_int_equal(fill(t), 0);
    ksd_web_stop(w);
}

static void test_web_basic_auth_required_everywhere(void **state)
{
    struct tstate *t = *state;
    char pw[128];
    snprintf(pw, sizeof(pw), "%s/pw", t->dir);
    FILE *f = fopen(pw, "w");
    assert_non_null(f);
    fputs("s3cret pass\n", f);
    fclose(f);
    chmod(pw, 0600);
    struct ksd_web *w = start_web(t, pw);
    int port = ksd_web_port(w);
    assert_int_equal(http_get(port, "/", NULL, t->out, sizeof(t->out)), 401);
    assert_non_null(strstr(t->out, "WWW-Authenticate: Basic realm=\"ksd\""));
    assert_int_equal(http_get(port, "/api/hosts", NULL, t->out, sizeof(t->out)), 401);
    assert_null(strstr(t->out, "10.1.0.1"));
    assert_int_equal(http_get(port, "/api/live", NULL, t->out, sizeof(t->out)), 401);
    /* ksd:wrong, ksd:s3cret pass */
    assert_int_equal(http_get(port, "/", "Basic a3NkOndyb25n", t->out, sizeof(t->out)), 401);
    assert_int_equal(http_get(port, "/", "Basic !!!", t->out, sizeof(t->out)), 401);
    assert_int_equal(
        http_get(port, "/api/hosts", "Basic a3NkOnMzY3JldCBwYXNz", t->out, sizeof(t->out)), 200);
    assert_non_null(strstr(t->out, "10.1.0.1"));
    /* another user name with the right password */
    assert_int_equal(http_get(port, "/", "Basic YWRtaW46czNjcmV0IHBhc3M=", t->out, sizeof(t->out)),
                     401);
    ksd_web_stop(w);
    /* an empty password file is refused */
    f = fopen(pw, "w");
    assert_non_null(f);
    fclose(f);
    struct ksd_web_conf c;
    char err[256];
    memset(&c, 0, sizeof(c));
    c.listen = "127.0.0.1:0";
    c.password_file = pw;
    c.redis.target = t->target;
    assert_null(ksd_web_start(&c, err, sizeof(err)));
    c.password_file = NULL;
    c.listen = "nonsense";
    assert_null(ksd_web_start(&c, err, sizeof(err)));
}

/* Read from fd until needle appears in buf (or 5 s pass); returns 1 when found. */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle)
{
    long long end = rh_now_ms() + 5000;
    while (rh_now_ms() < end) {
        buf[*len] = '\0';
        if (strstr(buf, needle))
            return 1;
        if (*len + 1 >= cap)
            return 0;
        ssize_t r = read(fd, buf + *len, cap - 1 - *len);
        if (r <= 0)
            return 0;
        *len += (size_t)r;
    }
    return 0;
}

static void test_web_live_forwards_published_events(void **state)
{
    struct tstate *t = *state;
    struct ksd_web *w = start_web(t, NULL);
    int fd = http_connect(ksd_web_port(w));
    const char req[] = "GET /api/live HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
    size_t len = 0;
    assert_true(read_until(fd, t->out, sizeof(t->out), &len, ": connected"));
    assert_non_null(strstr(t->out, "Content-Type: text/event-stream"));
    redisContext *c = rh_connect(&t->srv);
    assert_non_null(c);
    /* a payload with a raw newline must not split into two SSE fields */
    redisReply *r = redisCommand(c, "PUBLISH ksd:live %s", "{\"indicator\":\"a\nevent: x\"}");
    assert_non_null(r);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    assert_true(
        read_until(fd, t->out, sizeof(t->out), &len, "data: {\"indicator\":\"a event: x\"}"));
    redisFree(c);
    close(fd);
    ksd_web_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_verdict_from_categories),
        cmocka_unit_test(test_report_parse_date_forms),
        cmocka_unit_test(test_report_since_relative),
        cmocka_unit_test(test_report_hosts_fields_and_verdicts),
        cmocka_unit_test(test_report_filters_since_site_unmanaged_verdict),
        cmocka_unit_test(test_report_table_is_aligned_and_clean),
        cmocka_unit_test(test_report_csv_quotes_and_header),
        cmocka_unit_test(test_report_json_array_escaped),
        cmocka_unit_test(test_report_since_and_unmanaged_options),
        cmocka_unit_test(test_report_fail_if_any_exit_codes),
        cmocka_unit_test(test_report_exception_is_its_own_case),
        cmocka_unit_test(test_report_timeline_events_sensors),
        cmocka_unit_test(test_web_api_answers_with_security_headers),
        cmocka_unit_test(test_web_basic_auth_required_everywhere),
        cmocka_unit_test(test_web_live_forwards_published_events),
        cmocka_unit_test(test_report_host_page_record_and_newest_events),
        cmocka_unit_test(test_report_trend_rows_from_the_writer),
        cmocka_unit_test(test_web_redis_down_is_502_then_recovers),
    };
    return cmocka_run_group_tests_name("report", tests, setup, teardown);
}
