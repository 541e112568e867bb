/*
 * trend.c - the Redis output's migration-trend keys: after each stored
 * batch, the clients with product evidence go into one HyperLogLog per UTC
 * day and site, so that `ksd report --trend` and the dashboard can show
 * product hosts per day going to zero. What it does not do: decide what a
 * product category is (the caller's conf.trend_product, from signatures/)
 * or read the keys back (sensor/analyst/report_trend.c).
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sensor/output/emit_int.h"

/*
 * The migration trend: per UTC day of an event's
 * capture time and per site, the distinct clients with product evidence,
 * in a HyperLogLog <prefix>trend:<YYYY-MM-DD>:<site> ("" site: hosts
 * without one) that lives KSD_EMIT_TREND_TTL_S after its last write, and
 * the set <prefix>trend:sites of the sites written (same lifetime). Written
 * for every stored event of the batch (new or already there) whose category
 * is a product category and whose host is not a known-hosts "exception"
 * (waived hosts would keep a finished migration from reaching zero):
 * PFADD and SADD are idempotent, so a resent batch changes nothing. One
 * pipelined round trip per KSD_EMIT_TREND_KEYS distinct keys: PFADD key
 * clients... and EXPIRE per key, then SADD and EXPIRE of the site set.
 * Returns 0, or -1 when the connection failed (the events stay stored; the
 * trend of this batch may miss them).
 */
struct trend_key {
    char key[EMIT_KEY_MAX]; /* <prefix>trend:<day>:<site> */
    const char *site;       /* the site of its events */
};

int ksd_emit_write_trend(struct ksd_emit *e)
{
    size_t n = e->nbatch;
    if (!e->trend_product || n == 0)
        return 0;
    int rc = 0;
    char k_sites[EMIT_KEY_MAX], ttl[24];
    struct trend_key *k = malloc(KSD_EMIT_TREND_KEYS * sizeof(*k));
    int *at = malloc(n * sizeof(*at)); /* key index, -1 = to do, -2 = not for the trend */
    const char **argv = malloc((n + KSD_EMIT_TREND_KEYS + 2) * sizeof(*argv));
    if (!k || !at || !argv) {
        rc = 0; /* the trend is best effort: skip this batch */
        goto out;
    }
    snprintf(k_sites, sizeof(k_sites), "%strend:sites", e->prefix);
    snprintf(ttl, sizeof(ttl), "%d", KSD_EMIT_TREND_TTL_S);
    for (size_t i = 0; i < n; i++) {
        const struct ksd_event *ev = &e->batch[i];
        int stored = e->status[i] == EMIT_STORED || e->status[i] == EMIT_DUP;
        at[i] = stored && e->trend_product(ev->category, strlen(ev->category)) &&
                        strcmp(ev->managed, "exception") != 0
                    ? -1
                    : -2;
    }
    for (size_t round = 0; rc == 0 && round < n; round++) {
        size_t nk = 0;
        for (size_t i = 0; i < n; i++) {
            if (at[i] != -1)
                continue;
            const struct ksd_event *ev = &e->batch[i];
            char key[EMIT_KEY_MAX], day[16];
            time_t t = (time_t)(ev->ts_us / 1000000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(day, sizeof(day), "%Y-%m-%d", &tm);
            snprintf(key, sizeof(key), "%strend:%s:%s", e->prefix, day, ev->site);
            size_t j = 0;
            while (j < nk && strcmp(k[j].key, key) != 0)
                j++;
            if (j == nk && nk == KSD_EMIT_TREND_KEYS)
                continue; /* next round */
            if (j == nk) {
                snprintf(k[nk].key, sizeof(k[nk].key), "%s", key);
                k[nk++].site = ev->site;
            }
            at[i] = (int)j;
        }
        if (nk == 0)
            break;
        for (size_t j = 0; j < nk; j++) {
            int argc = 0;
            argv[argc++] = "PFADD";
            argv[argc++] = k[j].key;
            for (size_t i = 0; i < n; i++) {
                if (at[i] == (int)j) {
                    argv[argc++] = e->batch[i].client;
                    at[i] = -3; /* written */
                }
            }
            const char *ex[3] = {"EXPIRE", k[j].key, ttl};
            if (redisAppendCommandArgv(e->ctx, argc, argv, NULL) != REDIS_OK ||
                redisAppendCommandArgv(e->ctx, 3, ex, NULL) != REDIS_OK)
                rc = -1;
        }
        int argc = 0;
        argv[argc++] = "SADD";
        argv[argc++] = k_sites;
        for (size_t j = 0; j < nk; j++)
            argv[argc++] = k[j].site;
        const char *ex[3] = {"EXPIRE", k_sites, ttl};
        if (rc == 0 && (redisAppendCommandArgv(e->ctx, argc, argv, NULL) != REDIS_OK ||
                        redisAppendCommandArgv(e->ctx, 3, ex, NULL) != REDIS_OK))
            rc = -1;
        for (size_t r = 0; rc == 0 && r < 2 * nk + 2; r++) {
            redisReply *reply = NULL;
            if (redisGetReply(e->ctx, (void **)&reply) != REDIS_OK || !reply)
                rc = -1;
            else
                freeReplyObject(reply); /* an error reply (a wrong type) only skips the trend */
        }
    }
out:
    free(k);
    free(at);
    free(argv);
    return rc;
}
