/*
 * report_fmt.c - the formatters of the report records: the growable text
 * buffer the JSON answers are built in (strings escaped by
 * ksd_json_string of sensor/output/event.c, the one JSON escaper), the
 * per-site roll-up, and the host and site tables, CSV and JSON. Captured
 * strings are cleaned for each output's own rules: printable ASCII with \xNN
 * escapes on a terminal, RFC 4180 quoting in CSV (plus a leading quote on
 * cells a spreadsheet would read as a formula), JSON escaping in JSON.
 *
 * It does no I/O other than writing to the FILE it is given.
 */
#include "sensor/analyst/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "sensor/analyst/report_int.h"
#include "sensor/output/event.h"
#include "signatures/sig.h"

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

void ksd_report_buf_u64(struct ksd_report_buf *b, uint64_t v)
{
    char t[24];
    snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    ksd_report_buf_str(b, t);
}

void ksd_report_buf_key(struct ksd_report_buf *b, const char *k, int first)
{
    if (!first)
        ksd_report_buf_add(b, ",", 1);
    ksd_report_buf_add(b, "\"", 1);
    ksd_report_buf_str(b, k);
    ksd_report_buf_add(b, "\":", 2);
}

void ksd_report_buf_kv(struct ksd_report_buf *b, const char *k, const char *v)
{
    ksd_report_buf_key(b, k, 0);
    ksd_report_buf_json(b, v, strlen(v));
}

void ksd_report_buf_free(struct ksd_report_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
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
        if (x->verdict == KSD_SIG_VERDICT_PRODUCT)
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

/* The machine: "name (source) mac", either part alone, or "" when unknown. */
static void machine_text(const struct ksd_report_host *h, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s%s%s%s", h->name, h->name[0] && h->name_source[0] ? " (" : "",
             h->name[0] ? h->name_source : "", h->name[0] && h->name_source[0] ? ")" : "",
             h->name[0] && h->mac[0] ? " " : "", h->mac);
}

enum {
    COL_CLIENT,
    COL_MACHINE,
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
    machine_text(h, tmp, sizeof(tmp));
    clean_term(tmp, cells[COL_MACHINE], REPORT_CELL);
    clean_term(h->site, cells[COL_SITE], REPORT_CELL);
    clean_term(h->managed[0] ? h->managed : "no", cells[COL_MANAGED], REPORT_CELL);
    snprintf(cells[COL_VERDICT], REPORT_CELL, "%s%s", ksd_sig_verdict_name(h->verdict),
             ksd_report_is_exception(h) ? " (exception)" : "");
    ksd_report_fmt_time(h->first_seen, cells[COL_FIRST], REPORT_CELL, iso);
    ksd_report_fmt_time(h->last_seen, cells[COL_LAST], REPORT_CELL, iso);
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
        "CLIENT",           "MACHINE",         "SITE",   "MANAGED",  "VERDICT",
        "FIRST SEEN (UTC)", "LAST SEEN (UTC)", "EVENTS", "EVIDENCE", "TOP INDICATORS"};
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
            ksd_report_fmt_time(s[i].last_seen, cells[4], sizeof(cells[4]), 0);
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
          "top_indicators,last_rule,sensor,mac,name,name_source\r\n",
          f);
    for (size_t i = 0; i < n; i++) {
        char first[32], last[32], ev[24], top[KSD_REPORT_TOP * (KSD_REPORT_MAX_VALUE + 32)];
        ksd_report_fmt_time(h[i].first_seen, first, sizeof(first), 1);
        ksd_report_fmt_time(h[i].last_seen, last, sizeof(last), 1);
        snprintf(ev, sizeof(ev), "%llu", (unsigned long long)h[i].events);
        top_text(&h[i], top, sizeof(top));
        csv_cell(f, h[i].client, 0);
        csv_cell(f, h[i].site, 0);
        csv_cell(f, h[i].managed, 0);
        csv_cell(f, ksd_sig_verdict_name(h[i].verdict), 0);
        csv_cell(f, first, 0);
        csv_cell(f, last, 0);
        csv_cell(f, ev, 0);
        csv_cell(f, h[i].evidence, 0);
        csv_cell(f, h[i].categories, 0);
        csv_cell(f, top, 0);
        csv_cell(f, h[i].last_rule, 0);
        csv_cell(f, h[i].sensor, 0);
        csv_cell(f, h[i].mac, 0);
        csv_cell(f, h[i].name, 0);
        csv_cell(f, h[i].name_source, 1);
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
        ksd_report_fmt_time(s[i].last_seen, last, sizeof(last), 1);
        csv_cell(f, s[i].name, 0);
        csv_cell(f, a, 0);
        csv_cell(f, b, 0);
        csv_cell(f, c, 0);
        csv_cell(f, last, 1);
    }
}

void ksd_report_host_json(struct ksd_report_buf *b, const struct ksd_report_host *x)
{
    const struct ksd_report_host *h = x;
    {
        char t[32];
        ksd_report_buf_str(b, "{\"client\":");
        ksd_report_buf_json(b, h->client, strlen(h->client));
        ksd_report_buf_kv(b, "site", h->site);
        ksd_report_buf_kv(b, "managed", h->managed);
        ksd_report_buf_kv(b, "verdict", ksd_sig_verdict_name(h->verdict));
        ksd_report_buf_key(b, "first_seen", 0);
        ksd_report_buf_u64(b, (uint64_t)(h->first_seen > 0 ? h->first_seen : 0));
        ksd_report_buf_key(b, "last_seen", 0);
        ksd_report_buf_u64(b, (uint64_t)(h->last_seen > 0 ? h->last_seen : 0));
        ksd_report_fmt_time(h->first_seen, t, sizeof(t), 1);
        ksd_report_buf_kv(b, "first_seen_iso", t);
        ksd_report_fmt_time(h->last_seen, t, sizeof(t), 1);
        ksd_report_buf_kv(b, "last_seen_iso", t);
        ksd_report_buf_key(b, "events", 0);
        ksd_report_buf_u64(b, h->events);
        ksd_report_buf_kv(b, "evidence", h->evidence);
        ksd_report_buf_kv(b, "categories", h->categories);
        ksd_report_buf_key(b, "top", 0);
        ksd_report_buf_str(b, "[");
        for (int k = 0; k < h->ntop; k++) {
            ksd_report_buf_str(b, k ? ",{\"indicator\":" : "{\"indicator\":");
            ksd_report_buf_json(b, h->top[k], strlen(h->top[k]));
            ksd_report_buf_key(b, "count", 0);
            ksd_report_buf_u64(b, h->top_n[k]);
            ksd_report_buf_str(b, "}");
        }
        ksd_report_buf_str(b, "]");
        ksd_report_buf_kv(b, "last_indicator", h->last_indicator);
        ksd_report_buf_kv(b, "last_rule", h->last_rule);
        ksd_report_buf_kv(b, "sensor", h->sensor);
        ksd_report_buf_kv(b, "ruleset", h->ruleset);
        ksd_report_buf_key(b, "exception", 0);
        ksd_report_buf_str(b, ksd_report_is_exception(h) ? "true" : "false");
        ksd_report_buf_kv(b, "mac", h->mac);
        ksd_report_buf_kv(b, "name", h->name);
        ksd_report_buf_kv(b, "name_source", h->name_source);
        ksd_report_buf_str(b, "}");
    }
}

void ksd_report_hosts_json(struct ksd_report_buf *b, const struct ksd_report_host *h, size_t n)
{
    ksd_report_buf_str(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ksd_report_buf_str(b, ",");
        ksd_report_host_json(b, &h[i]);
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
        ksd_report_buf_key(b, "hosts", 0);
        ksd_report_buf_u64(b, s[i].hosts);
        ksd_report_buf_key(b, "product_hosts", 0);
        ksd_report_buf_u64(b, s[i].product_hosts);
        ksd_report_buf_key(b, "events", 0);
        ksd_report_buf_u64(b, s[i].events);
        ksd_report_buf_key(b, "last_seen", 0);
        ksd_report_buf_u64(b, (uint64_t)(s[i].last_seen > 0 ? s[i].last_seen : 0));
        ksd_report_fmt_time(s[i].last_seen, t, sizeof(t), 1);
        ksd_report_buf_kv(b, "last_seen_iso", t);
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

/* ---- one host ---- */

int ksd_report_write_host(FILE *f, enum ksd_report_format fmt, const struct ksd_report_host *h,
                          const struct ksd_report_event *ev, size_t nev)
{
    static const char *const ehead[] = {"TIME (UTC)", "EVIDENCE", "INDICATOR", "RULE",
                                        "CATEGORY",   "SERVER",   "PORT",      "COUNT"};
    enum { NE = 8 };
    char cells[NE][REPORT_CELL], top[KSD_REPORT_TOP * (KSD_REPORT_MAX_VALUE + 32)];
    if (fmt == KSD_REPORT_CSV) {
        fputs("ts,evidence,indicator,rule,category,server,dport,count\r\n", f);
        for (size_t i = 0; i < nev; i++) {
            char cnt[24];
            snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long)ev[i].count);
            csv_cell(f, ev[i].ts, 0);
            csv_cell(f, ev[i].evidence, 0);
            csv_cell(f, ev[i].indicator, 0);
            csv_cell(f, ev[i].rule, 0);
            csv_cell(f, ev[i].category, 0);
            csv_cell(f, ev[i].server, 0);
            csv_cell(f, ev[i].dport, 0);
            csv_cell(f, cnt, 1);
        }
        return fflush(f) == 0 && !ferror(f) ? 0 : -1;
    }
    char hc[COL_N][REPORT_CELL];
    host_cells(h, 0, hc);
    top_text(h, top, sizeof(top));
    fprintf(f, "CLIENT          %s\n", hc[COL_CLIENT]);
    fprintf(f, "MACHINE         %s\n", hc[COL_MACHINE]);
    fprintf(f, "SITE            %s\n", hc[COL_SITE]);
    fprintf(f, "MANAGED         %s\n", hc[COL_MANAGED]);
    fprintf(f, "VERDICT         %s\n", hc[COL_VERDICT]);
    fprintf(f, "FIRST SEEN      %s\n", hc[COL_FIRST]);
    fprintf(f, "LAST SEEN       %s\n", hc[COL_LAST]);
    fprintf(f, "EVENTS          %s\n", hc[COL_EVENTS]);
    fprintf(f, "EVIDENCE        %s\n", hc[COL_EVIDENCE]);
    clean_term(h->categories, cells[0], REPORT_CELL);
    fprintf(f, "CATEGORIES      %s\n", cells[0]);
    fprintf(f, "TOP INDICATORS  %s\n", hc[COL_TOP]);
    clean_term(h->last_rule, cells[0], REPORT_CELL);
    fprintf(f, "LAST RULE       %s\n", cells[0]);
    clean_term(h->sensor, cells[0], REPORT_CELL);
    fprintf(f, "SENSOR          %s\n\n", cells[0]);
    if (nev == 0) {
        fprintf(f, "no events of this host in the stream\n");
        return fflush(f) == 0 && !ferror(f) ? 0 : -1;
    }
    size_t w[NE];
    for (int c = 0; c < NE; c++)
        w[c] = strlen(ehead[c]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            print_row(f, ehead, w, NE, 6, 7);
        for (size_t i = 0; i < nev; i++) {
            const char *row[NE];
            int64_t t = ksd_report_event_ts(ev[i].ts, strlen(ev[i].ts));
            ksd_report_fmt_time(t, cells[0], REPORT_CELL, 0);
            clean_term(ev[i].evidence, cells[1], REPORT_CELL);
            clean_term(ev[i].indicator, cells[2], REPORT_CELL);
            clean_term(ev[i].rule, cells[3], REPORT_CELL);
            clean_term(ev[i].category, cells[4], REPORT_CELL);
            clean_term(ev[i].server, cells[5], REPORT_CELL);
            clean_term(ev[i].dport, cells[6], REPORT_CELL);
            snprintf(cells[7], REPORT_CELL, "%llu", (unsigned long long)ev[i].count);
            for (int c = 0; c < NE; c++) {
                row[c] = cells[c];
                if (pass == 0 && strlen(cells[c]) > w[c])
                    w[c] = strlen(cells[c]);
            }
            if (pass == 1)
                print_row(f, row, w, NE, 6, 7);
        }
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* ---- trend ---- */

int ksd_report_write_trend(FILE *f, enum ksd_report_format fmt,
                           const struct ksd_report_trend_row *r, size_t n)
{
    if (fmt == KSD_REPORT_JSON) {
        struct ksd_report_buf b = {0};
        ksd_report_trend_json(&b, r, n);
        ksd_report_buf_str(&b, "\n");
        int bad = b.oom || fwrite(b.p, 1, b.len, f) != b.len;
        ksd_report_buf_free(&b);
        if (bad)
            return -1;
    } else if (fmt == KSD_REPORT_CSV) {
        fputs("day,site,product_hosts\r\n", f);
        for (size_t i = 0; i < n; i++) {
            char c[24];
            snprintf(c, sizeof(c), "%llu", (unsigned long long)r[i].product_hosts);
            csv_cell(f, r[i].day, 0);
            csv_cell(f, r[i].site, 0);
            csv_cell(f, c, 1);
        }
    } else if (n == 0) {
        fprintf(f, "no trend data (ksd writes it with --redis since this version)\n");
    } else {
        static const char *const head[] = {"DAY (UTC)", "SITE", "PRODUCT HOSTS"};
        char cells[3][128];
        size_t w[3];
        for (int c = 0; c < 3; c++)
            w[c] = strlen(head[c]);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1)
                print_row(f, head, w, 3, 2, 2);
            for (size_t i = 0; i < n; i++) {
                const char *row[3];
                clean_term(r[i].day, cells[0], sizeof(cells[0]));
                clean_term(r[i].site, cells[1], sizeof(cells[1]));
                snprintf(cells[2], sizeof(cells[2]), "%llu",
                         (unsigned long long)r[i].product_hosts);
                for (int c = 0; c < 3; c++) {
                    row[c] = cells[c];
                    if (pass == 0 && strlen(cells[c]) > w[c])
                        w[c] = strlen(cells[c]);
                }
                if (pass == 1)
                    print_row(f, row, w, 3, 2, 2);
            }
        }
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}
