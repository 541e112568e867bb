/*
 * report_trend.c - the migration trend: per UTC day and site, the distinct
 * hosts with product evidence that day, as the Redis writer records them
 * (sensor/output/emit.c write_trend: a HyperLogLog
 * <prefix>trend:<YYYY-MM-DD>:<site> per day and site, and the set
 * <prefix>trend:sites). One PFCOUNT per day and site, pipelined; a day
 * without a key counts 0, so a finished migration shows as a run of zeros.
 * HyperLogLog counts are exact for small sets in practice and within about
 * 1% (Redis's standard error 0.81%) for large ones.
 *
 * It writes nothing to Redis; the rows are printed by report_fmt.c's
 * formatters' rules (table, RFC 4180 CSV, JSON through ksd_json_string).
 */
#include "sensor/analyst/report.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ksd.h"
#include "sensor/analyst/report_int.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sites of the trend set, sorted; *out malloc'ed strings (free each). */
static int trend_sites(struct ksd_report_db *db, const char *only, char ***out, size_t *n)
{
    char key[REPORT_KEY_MAX];
    *out = NULL;
    *n = 0;
    ksd_report_db_key(db, key, sizeof(key), "trend:sites");
    const char *argv[] = {"SMEMBERS", key};
    redisReply *r = ksd_report_db_cmd(db, 2, argv);
    if (!r)
        return KSD_EINVAL;
    size_t m = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    if (m > KSD_REPORT_MAX_SITES)
        m = KSD_REPORT_MAX_SITES;
    char **s = calloc(m ? m : 1, sizeof(*s));
    if (!s) {
        freeReplyObject(r);
        return KSD_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len >= 64)
            continue;
        if (only && (strlen(only) != e->len || memcmp(only, e->str, e->len) != 0))
            continue;
        if (!(s[k] = malloc(e->len + 1)))
            break;
        ksd_report_copy(s[k], e->len + 1, e->str, e->len);
        k++;
    }
    freeReplyObject(r);
    qsort(s, k, sizeof(*s), cmp_str);
    *out = s;
    *n = k;
    return KSD_OK;
}

int ksd_report_trend(struct ksd_report_db *db, int64_t first_day, int64_t last_day,
                     const char *site, struct ksd_report_trend_row **rows, size_t *n)
{
    char **sites = NULL;
    size_t ns = 0;
    *rows = NULL;
    *n = 0;
    first_day -= first_day % 86400;
    last_day -= last_day % 86400;
    if (last_day - first_day >= (int64_t)KSD_REPORT_MAX_DAYS * 86400)
        first_day = last_day - (int64_t)(KSD_REPORT_MAX_DAYS - 1) * 86400;
    if (first_day > last_day)
        return KSD_OK;
    int rc = trend_sites(db, site, &sites, &ns);
    if (rc != KSD_OK || ns == 0)
        goto out;
    size_t ndays = (size_t)((last_day - first_day) / 86400 + 1), total = ndays * ns;
    struct ksd_report_trend_row *v = calloc(total, sizeof(*v));
    if (!v) {
        rc = KSD_ENOMEM;
        goto out;
    }
    for (size_t d = 0; d < ndays; d++) {
        time_t t = (time_t)(first_day + (int64_t)d * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        for (size_t i = 0; i < ns; i++) {
            struct ksd_report_trend_row *x = &v[d * ns + i];
            strftime(x->day, sizeof(x->day), "%Y-%m-%d", &tm);
            snprintf(x->site, sizeof(x->site), "%s", sites[i]);
        }
    }
    /* PFCOUNT per row, KSD_REPORT_PAGE commands per round trip */
    for (size_t at = 0; at < total && rc == KSD_OK; at += KSD_REPORT_PAGE) {
        size_t cnt = total - at < KSD_REPORT_PAGE ? total - at : KSD_REPORT_PAGE;
        for (size_t i = 0; i < cnt; i++) {
            char key[REPORT_KEY_MAX];
            snprintf(key, sizeof(key), "%strend:%s:%s", db->prefix, v[at + i].day, v[at + i].site);
            const char *argv[] = {"PFCOUNT", key};
            if (redisAppendCommandArgv(db->c, 2, argv, NULL) != REDIS_OK) {
                ksd_report_db_fail(db, "PFCOUNT");
                rc = KSD_EINVAL;
                break;
            }
        }
        for (size_t i = 0; i < cnt && rc == KSD_OK; i++) {
            void *vr = NULL;
            if (redisGetReply(db->c, &vr) != REDIS_OK || !vr) {
                ksd_report_db_fail(db, "PFCOUNT");
                rc = KSD_EINVAL;
                break;
            }
            redisReply *r = vr;
            if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
                v[at + i].product_hosts = (uint64_t)r->integer;
            freeReplyObject(r); /* an error (not a HyperLogLog) counts 0 */
        }
    }
    if (rc == KSD_OK) {
        *rows = v;
        *n = total;
    } else {
        free(v);
    }
out:
    for (size_t i = 0; i < ns; i++)
        free(sites[i]);
    free(sites);
    if (rc == KSD_ENOMEM)
        snprintf(db->err, sizeof(db->err), "out of memory");
    return rc;
}

void ksd_report_trend_json(struct ksd_report_buf *b, const struct ksd_report_trend_row *r, size_t n)
{
    ksd_report_buf_str(b, "[");
    for (size_t i = 0; i < n; i++) {
        ksd_report_buf_str(b, i ? ",{\"day\":" : "{\"day\":");
        ksd_report_buf_json(b, r[i].day, strlen(r[i].day));
        ksd_report_buf_kv(b, "site", r[i].site);
        ksd_report_buf_key(b, "product_hosts", 0);
        ksd_report_buf_u64(b, r[i].product_hosts);
        ksd_report_buf_str(b, "}");
    }
    ksd_report_buf_str(b, "]");
}
