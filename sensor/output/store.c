/*
 * store.c - the two ways the Redis output stores a batch of events (the
 * events stream, host records and live channel of the README's Redis part).
 *
 * Delivery. Up to KSD_EMIT_MAX_BATCH events go out per round trip (the
 * checked path through redisAppendCommandArgv, the fresh path as RESP
 * written with resp.h, both binary-safe; then one redisGetReply per command, every
 * reply freed). Exactly-once rests on per-event markers: the id of
 * each stored event is a field of the hash <prefix>seen:<sensor>:m<M> (M =
 * the event's ts in Unix minutes, so a resend finds the same hash), written
 * atomically with the stream entry, the host hash, the hosts sorted set and
 * the live message. Each marker hash gets EXPIRE dedup_ttl_s whenever ids
 * are added, so a marker lives at least dedup_ttl_s after its event was
 * stored. Event ids are not monotonic (several workers, wall-clock start
 * times), so no high-water mark can replace the per-event markers.
 *
 * Two paths. A batch taken from the ring and never sent (the normal case)
 * cannot be in Redis yet: it takes the fresh path, one MULTI/EXEC per
 * KSD_EMIT_TXN events holding one EVAL of store_script (markers and host
 * records, one read and one write per client and transaction) and a plain
 * XADD and PUBLISH per event; the transaction runs all or nothing, also
 * when the connection breaks. A batch read from the spool, or sent before
 * (its replies lost with the connection, rejected events, an unconfirmed
 * WAIT), takes the checked path: emit_script, KSD_EMIT_GROUP events per
 * EVAL, first asks with one HMGET per seen hash which events are already
 * there, and stores only the others; what Redis already had answers 0 and
 * is counted as a duplicate, not stored twice. Both fold the events of one
 * client in order, with the same host record as one by one (tested).
 * Scripts always go as EVAL (Redis caches them by digest), so a flushed
 * script cache changes nothing. If the stream key has the wrong type,
 * nothing of the events concerned is written, so they stay retryable; after
 * KSD_EMIT_MAX_ATTEMPTS rejections an event is dropped and counted. A host
 * record or sorted set that cannot be written is counted as an error and
 * leaves its events stored.
 * Spool replays also honour the per-event keys <prefix>seen:<sensor>:<id> of
 * earlier versions (and mark those events in the new form).
 *
 * What it does not do: connect, back off or queue (emit.c), format RESP
 * (resp.h), decide what a temporary error is beyond err_is_transient.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "sensor/output/emit_int.h"
#include "sensor/output/scripts.h" /* generated: emit_script, store_script */

#define EMIT_WAIT_SKIP 1000 /* ms without WAIT after WAIT reported no replica */

/*
 * The checked path: one EVAL stores up to KSD_EMIT_GROUP events
 * (append_group builds it).
 * KEYS: 1 stream, 2 hosts zset, then 3 .. 2+nb the group's distinct seen
 *       buckets (hash <prefix>seen:<sensor>:m<minute of ts>, fields = event
 *       ids), then 3+nb .. 2+nb+nc the group's distinct host hashes, then,
 *       only when legacy is 1 (spool replay), per event j the per-event key
 *       <prefix>seen:<sensor>:<id> an earlier version of ksd set.
 * ARGV: 1 dedup ttl, 2 maxlen, 3 live channel, 4 n events, 5 nb, 6 nc,
 *       7 legacy, then per event j at p = 8 + 28 (j - 1): p its bucket index
 *       (1..nb), p+1 its client index (1..nc), p+2 ts (Unix s), p+3 JSON,
 *       p+4 .. p+17 the stream values ts, sensor, client, server, sport,
 *       dport, proto, evidence, indicator, rule, category, confidence, app,
 *       id, p+18 .. p+22 site, managed, ruleset, via, count, p+23 .. p+26
 *       community_id, client_mac, client_name, client_name_source, p+27
 *       pcap ("" = absent); client_mac, client_name and client_name_source of the
 *       newest event also go to the host record as mac, name, name_source.
 * Returns one integer per event: 1 stored, 0 already there (its id is in its
 * bucket), -1 failed (nothing of it written, so it stays retryable),
 * followed by the first error message when something failed (a failed host
 * record write leaves its events stored).
 *
 * Order of work: type check of the stream key (a wrong type fails the
 * whole group before anything is written) and of the hosts key (a wrong
 * type only skips the ZADDs, as in store_script); one HMGET per bucket
 * (which events are new); one HMGET per client (its current host record);
 * then per new event, in order, XADD and PUBLISH, folding the event into its
 * client's record exactly as a one-by-one update would (first_seen min,
 * last_seen and the last_* fields from the last event with ts >= the running
 * last_seen, site/managed/ruleset only when non-empty, categories union in
 * order); then one HSET (and ZADD when last_seen moved) per client and one
 * HSET + EXPIRE per bucket marking the stored ids. The marker and the entry
 * are written by the same script, so they exist together or not at all.
 */
/* emit_script: sensor/output/emit.lua, embedded at build time (Makefile, $(B)/gen). */

/*
 * The fresh-event path (send_fresh) stores events that were never sent
 * before, so nothing of them can be in Redis yet and no seen check is
 * needed: one MULTI/EXEC per KSD_EMIT_TXN events holds one EVAL of this
 * script (seen markers and host records), then XADD and PUBLISH per event
 * as plain commands. The transaction makes the markers and the entries
 * exist together or not at all, so a resend after a lost EXEC reply goes
 * through emit_script, which finds the markers.
 * KEYS: 1 stream, 2 hosts zset, 3 .. 2+nb the seen buckets, 3+nb .. 2+nb+nc
 *       the host hashes.
 * ARGV: 1 dedup ttl, 2 nb, 3 nc, 3+b the ids of bucket b (16 hex digits
 *       each, concatenated), then per client, from p = 4 + nb on:
 *       p client, p+1 its events in the transaction, p+2 their first ts,
 *       p+3 their last ts, p+4 .. p+6 last_indicator, last_rule, sensor of
 *       the latest of them, p+7 .. p+12 (ts, value) of the latest event with
 *       a site, managed, ruleset ("" = none) among those that raised the
 *       running maximum ts (only they can set these fields, see
 *       plan_txn), p+13 their categories in order ("a,b"), p+14 the
 *       number k of their evidence kinds, then k pairs (field "ev:<kind>",
 *       count); the next client starts at p + 15 + 2k.
 * The fold equals the one-by-one update of emit_script. Returns 1, or the
 * first error of a host or marker write as a string (the events are stored
 * anyway); an error reply only when the stream key has the wrong type, in
 * which case it wrote nothing and every XADD fails too.
 */
/* store_script: sensor/output/store.lua, embedded at build time (Makefile, $(B)/gen). */

static uint32_t str_hash(const char *s)
{
    return ksd_fnv1a(KSD_FNV1A_BASIS, s, strlen(s));
}

/* Append one EVAL of emit_script storing batch[start .. start+cnt). */
static int append_group(struct ksd_emit *e, size_t start, size_t cnt)
{
    const char **argv = e->argv;
    size_t *len = e->argl;
    const struct ksd_event *evs = &e->batch[start];
    int n = 0, legacy = e->batch_replay;
    size_t nb = 0, nc = 0;
    char ttl[16], maxlen[24], nkeys[24], nev[24], snb[24], snc[24];
#define A(s)                                                                                       \
    do {                                                                                           \
        argv[n] = (s);                                                                             \
        len[n] = strlen(argv[n]);                                                                  \
        n++;                                                                                       \
    } while (0)
    /* pass 1: distinct buckets and clients, per-event strings */
    memset(e->chash, 0, EMIT_CHASH * sizeof(*e->chash));
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &evs[j];
        struct emit_slot *sl = &e->slots[j];
        const char *sensor = ev->sensor[0] ? ev->sensor : e->sensor_id;
        long long tss = (long long)(ev->ts_us / 1000000);
        long long minute = tss >= 0 ? tss / 60 : -((59 - tss) / 60);
        size_t b = 0;
        while (b < nb && !(e->slots[b].b_minute == minute && !strcmp(e->slots[b].b_sensor, sensor)))
            b++;
        if (b == nb) {
            struct emit_slot *bs = &e->slots[nb++];
            bs->b_minute = minute;
            bs->b_sensor = sensor;
            snprintf(bs->k_seen, sizeof(bs->k_seen), "%sseen:%s:m%lld", e->prefix, sensor, minute);
        }
        snprintf(sl->bi, sizeof(sl->bi), "%zu", b + 1);
        uint32_t h = str_hash(ev->client) & (EMIT_CHASH - 1);
        size_t c;
        for (;; h = (h + 1) & (EMIT_CHASH - 1)) {
            if (e->chash[h] == 0) {
                c = nc++;
                e->chash[h] = (uint16_t)(c + 1);
                e->slots[c].c_first = j;
                snprintf(e->slots[c].k_host, sizeof(e->slots[c].k_host), "%shost:%s", e->prefix,
                         ev->client);
                break;
            }
            c = (size_t)e->chash[h] - 1;
            if (!strcmp(evs[e->slots[c].c_first].client, ev->client))
                break;
        }
        snprintf(sl->ci, sizeof(sl->ci), "%zu", c + 1);
        snprintf(sl->id, sizeof(sl->id), "%016llx", (unsigned long long)ev->id);
        if (legacy)
            snprintf(sl->k_old, sizeof(sl->k_old), "%sseen:%s:%s", e->prefix, sensor, sl->id);
        sl->jl = ksd_event_json(ev, sl->json, sizeof(sl->json));
        if (sl->jl < 0)
            sl->jl = 0;
        snprintf(sl->tss, sizeof(sl->tss), "%lld", tss);
        ksd_format_ts(ev->ts_us, sl->ts);
        snprintf(sl->sport, sizeof(sl->sport), "%u", ev->sport);
        snprintf(sl->dport, sizeof(sl->dport), "%u", ev->dport);
        snprintf(sl->conf, sizeof(sl->conf), "%d", ev->confidence);
        if (ev->count)
            snprintf(sl->cnt, sizeof(sl->cnt), "%u", ev->count);
        else
            sl->cnt[0] = '\0';
    }
    /* pass 2: the command */
    snprintf(ttl, sizeof(ttl), "%d", e->dedup_ttl_s);
    snprintf(maxlen, sizeof(maxlen), "%ld", e->maxlen);
    snprintf(nkeys, sizeof(nkeys), "%zu", 2 + nb + nc + (legacy ? cnt : 0));
    snprintf(nev, sizeof(nev), "%zu", cnt);
    snprintf(snb, sizeof(snb), "%zu", nb);
    snprintf(snc, sizeof(snc), "%zu", nc);
    A("EVAL");
    A(emit_script);
    A(nkeys);
    A(e->k_events);
    A(e->k_hosts);
    for (size_t b = 0; b < nb; b++)
        A(e->slots[b].k_seen);
    for (size_t c = 0; c < nc; c++)
        A(e->slots[c].k_host);
    if (legacy)
        for (size_t j = 0; j < cnt; j++)
            A(e->slots[j].k_old);
    A(ttl);
    A(maxlen);
    A(e->k_live);
    A(nev);
    A(snb);
    A(snc);
    A(legacy ? "1" : "0");
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &evs[j];
        struct emit_slot *sl = &e->slots[j];
        A(sl->bi);
        A(sl->ci);
        A(sl->tss);
        argv[n] = sl->json;
        len[n] = (size_t)sl->jl;
        n++;
        A(sl->ts);
        A(ev->sensor[0] ? ev->sensor : e->sensor_id);
        A(ev->client);
        A(ev->server);
        A(sl->sport);
        A(sl->dport);
        A(ev->proto);
        A(ev->evidence);
        A(ev->indicator);
        A(ev->rule);
        A(ev->category);
        A(sl->conf);
        A(ev->app);
        A(sl->id);
        A(ev->site);
        A(ev->managed);
        A(ev->ruleset);
        A(ev->via);
        A(sl->cnt);
        A(ev->community_id);
        A(ev->client_mac);
        A(ev->client_name);
        A(ev->client_name_source);
        A(ev->pcap);
    }
#undef A
    return redisAppendCommandArgv(e->ctx, n, argv, len) == REDIS_OK ? 0 : -1;
}

/*
 * A whole-command error that says "not now": the events are kept and sent
 * again after a backoff. WRONGTYPE is one too: an operator can fix the key.
 */
static int err_is_transient(const char *s)
{
    static const char *const codes[] = {"READONLY",  "LOADING",    "BUSY",      "MASTERDOWN",
                                        "OOM",       "NOREPLICAS", "TRYAGAIN",  "CLUSTERDOWN",
                                        "NOAUTH",    "NOPERM",     "WRONGPASS", "MISCONF",
                                        "UNBLOCKED", "WRONGTYPE",  "EXECABORT"};
    for (size_t i = 0; i < KSD_ARRAY_LEN(codes); i++) {
        size_t l = strlen(codes[i]);
        if (strncmp(s, codes[i], l) == 0 && (s[l] == ' ' || s[l] == '\0'))
            return 1;
    }
    return 0;
}

static void note_transient(struct ksd_emit *e, const char *err, int *transient)
{
    if (!*transient)
        snprintf(e->errmsg, sizeof(e->errmsg), "%.200s", err ? err : "no usable reply");
    *transient = 1;
}

/*
 * Apply one emit_script reply to batch[start .. start+cnt). The reply must
 * be an error (nothing stored: kept, sent again later) or an array of cnt
 * integers -1, 0 or 1, then optionally the first error as a string.
 * Anything else is not a reply of this script (a server that answers +OK to
 * everything): -1, and the connection is dropped with the events kept.
 * An event answered -1 is dropped after KSD_EMIT_MAX_ATTEMPTS only when the
 * error is about it (not a temporary one).
 */
static int group_reply(struct ksd_emit *e, const redisReply *r, size_t start, size_t cnt,
                       int *transient, uint64_t *errors)
{
    if (r->type == REDIS_REPLY_ERROR) {
        note_transient(e, r->str, transient);
        (*errors)++;
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || (r->elements != cnt && r->elements != cnt + 1))
        return -1;
    for (size_t j = 0; j < cnt; j++) {
        const redisReply *x = r->element[j];
        if (x->type != REDIS_REPLY_INTEGER || x->integer < -1 || x->integer > 1)
            return -1;
    }
    const char *firsterr = NULL;
    if (r->elements == cnt + 1) {
        if (r->element[cnt]->type != REDIS_REPLY_STRING)
            return -1;
        firsterr = r->element[cnt]->str;
        (*errors)++; /* the script's first error (also when events were stored) */
    }
    int keep = !firsterr || err_is_transient(firsterr);
    for (size_t j = 0; j < cnt; j++) {
        long long v = r->element[j]->integer;
        if (v >= 0) {
            e->status[start + j] = v == 1 ? EMIT_STORED : EMIT_DUP;
            continue;
        }
        /* nothing of this event was written */
        (*errors)++;
        if (keep)
            note_transient(e, firsterr, transient);
        else if (++e->attempts[start + j] >= KSD_EMIT_MAX_ATTEMPTS)
            e->status[start + j] = EMIT_DROP;
    }
    return 0;
}

/* ---- the fresh-event path (store_script) ---- */

static long long ev_seconds(const struct ksd_event *ev)
{
    return (long long)(ev->ts_us / 1000000);
}

static const char *ev_sensor(const struct ksd_emit *e, const struct ksd_event *ev)
{
    return ev->sensor[0] ? ev->sensor : e->sensor_id;
}

static int find_str(const char *const *list, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

/*
 * Plan one transaction over batch[start .. start+max): its distinct buckets
 * and clients, and each client's fold. An event that raises the running
 * maximum ts of its client (ts >= every earlier one) is the only kind that
 * can set last_* and site/managed/ruleset when applied one by one; those
 * with ts below the stored last_seen do not, and since the raising events
 * are in ts order, the script only has to compare the latest of each kind
 * with the stored last_seen. Stops early (at least one event) when a
 * client would exceed EMIT_HOST_KINDS kinds or categories. Returns the
 * events taken; *nb and *nc get the counts.
 */
static size_t plan_txn(struct ksd_emit *e, size_t start, size_t max, size_t *nb, size_t *nc)
{
    size_t b_n = 0, c_n = 0, j;
    memset(e->chash, 0, EMIT_TXN_CHASH * sizeof(*e->chash));
    for (j = 0; j < max; j++) {
        const struct ksd_event *ev = &e->batch[start + j];
        uint32_t hsh = str_hash(ev->client) & (EMIT_TXN_CHASH - 1);
        struct emit_host *h = NULL;
        for (;; hsh = (hsh + 1) & (EMIT_TXN_CHASH - 1)) {
            if (e->chash[hsh] == 0)
                break;
            h = &e->hosts[e->chash[hsh] - 1];
            if (strcmp(e->batch[h->ev0].client, ev->client) == 0)
                break;
            h = NULL;
        }
        int kind = h ? find_str(h->kind, h->nkinds, ev->evidence) : -1;
        int cat = h && ev->category[0] ? find_str(h->cat, h->ncats, ev->category) : -1;
        if (h && j > 0 &&
            ((kind < 0 && h->nkinds == EMIT_HOST_KINDS) ||
             (ev->category[0] && cat < 0 && h->ncats == EMIT_HOST_KINDS)))
            break;
        long long tss = ev_seconds(ev);
        if (!h) {
            h = &e->hosts[c_n++];
            e->chash[hsh] = (uint16_t)c_n;
            memset(h, 0, offsetof(struct emit_host, key));
            h->ev0 = start + j;
            h->first_s = h->max_s = tss;
            for (int k = 0; k < 3; k++)
                h->opt_ev[k] = SIZE_MAX;
            snprintf(h->key, sizeof(h->key), "%shost:%s", e->prefix, ev->client);
        }
        h->n++;
        if (kind < 0 && h->nkinds < EMIT_HOST_KINDS) {
            kind = h->nkinds++;
            h->kind[kind] = ev->evidence;
            h->kind_n[kind] = 0;
        }
        if (kind >= 0)
            h->kind_n[kind]++;
        if (ev->category[0] && cat < 0 && h->ncats < EMIT_HOST_KINDS)
            h->cat[h->ncats++] = ev->category;
        if (tss < h->first_s)
            h->first_s = tss;
        if (h->n == 1 || tss >= h->max_s) {
            const char *opt[3] = {ev->site, ev->managed, ev->ruleset};
            h->max_s = tss;
            h->last_ev = start + j;
            for (int k = 0; k < 3; k++)
                if (opt[k][0])
                    h->opt_ev[k] = start + j;
        }
        /* its seen bucket */
        const char *sensor = ev_sensor(e, ev);
        long long minute = tss >= 0 ? tss / 60 : -((59 - tss) / 60);
        size_t b = 0;
        while (b < b_n && !(e->bkts[b].minute == minute && !strcmp(e->bkts[b].sensor, sensor)))
            b++;
        if (b == b_n) {
            struct emit_bucket *bk = &e->bkts[b_n++];
            bk->minute = minute;
            bk->sensor = sensor;
            bk->n = 0;
            snprintf(bk->key, sizeof(bk->key), "%sseen:%s:m%lld", e->prefix, sensor, minute);
        }
        e->bkts[b].n++;
        e->bidx[j] = (uint16_t)b;
    }
    /* ids laid out by bucket */
    size_t off = 0;
    for (size_t b = 0; b < b_n; b++) {
        e->bkts[b].off = off;
        off += e->bkts[b].n;
        e->bkts[b].n = 0;
    }
    for (size_t i = 0; i < j; i++) {
        struct emit_bucket *bk = &e->bkts[e->bidx[i]];
        char id[24];
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)e->batch[start + i].id);
        memcpy(e->ids + 16 * (bk->off + bk->n++), id, 16);
    }
    /* per-client strings */
    for (size_t c = 0; c < c_n; c++) {
        struct emit_host *h = &e->hosts[c];
        size_t used = 0;
        h->cats[0] = '\0';
        for (int k = 0; k < h->ncats; k++)
            used += (size_t)snprintf(h->cats + used, sizeof(h->cats) - used, "%s%s", k ? "," : "",
                                     h->cat[k]);
    }
    *nb = b_n;
    *nc = c_n;
    return j;
}

/*
 * Field pairs an event adds to its client's host record besides what the
 * store script writes: mac, and name with name_source, when known. The
 * fresh path writes them with one plain HSET per such event after the
 * events' XADDs, in the same transaction and in event order (the newest
 * event of the batch wins; an older event replayed later could overwrite
 * them: the record says what the network said at the latest stored event).
 */
static size_t id_fields(const struct ksd_event *ev)
{
    return (ev->client_mac[0] ? 1 : 0) + (ev->client_name[0] ? 2 : 0);
}

static size_t id_writes(const struct ksd_event *evs, size_t cnt)
{
    size_t n = 0;
    for (size_t j = 0; j < cnt; j++)
        n += id_fields(&evs[j]) > 0;
    return n;
}

/* Append MULTI, EVAL store_script, XADD + PUBLISH per event, the host
 * records' mac/name HSETs, EXEC. 0 or -1. */
static int append_txn(struct ksd_emit *e, size_t start, size_t cnt, size_t nb, size_t nc)
{
    struct ksd_resp *r = &e->out;
    r->len = 0;
    r->oom = 0;
    ksd_resp_head(r, '*', 1);
    ksd_resp_str(r, "MULTI");
    /* EVAL store_script (see its comment for the layout) */
    size_t argc = 3 + 2 + nb + nc + 3 + nb;
    for (size_t c = 0; c < nc; c++)
        argc += 15 + 2 * (size_t)e->hosts[c].nkinds;
    ksd_resp_head(r, '*', argc);
    ksd_resp_str(r, "EVAL");
    ksd_resp_bulk(r, store_script, sizeof(store_script) - 1);
    ksd_resp_num(r, (long long)(2 + nb + nc));
    ksd_resp_str(r, e->k_events);
    ksd_resp_str(r, e->k_hosts);
    for (size_t b = 0; b < nb; b++)
        ksd_resp_str(r, e->bkts[b].key);
    for (size_t c = 0; c < nc; c++)
        ksd_resp_str(r, e->hosts[c].key);
    ksd_resp_num(r, e->dedup_ttl_s);
    ksd_resp_num(r, (long long)nb);
    ksd_resp_num(r, (long long)nc);
    for (size_t b = 0; b < nb; b++)
        ksd_resp_bulk(r, e->ids + 16 * e->bkts[b].off, 16 * e->bkts[b].n);
    for (size_t c = 0; c < nc; c++) {
        const struct emit_host *h = &e->hosts[c];
        const struct ksd_event *last = &e->batch[h->last_ev];
        ksd_resp_str(r, e->batch[h->ev0].client);
        ksd_resp_num(r, h->n);
        ksd_resp_num(r, h->first_s);
        ksd_resp_num(r, h->max_s);
        ksd_resp_str(r, last->indicator);
        ksd_resp_str(r, last->rule);
        ksd_resp_str(r, ev_sensor(e, last));
        for (int k = 0; k < 3; k++) {
            const struct ksd_event *o = h->opt_ev[k] != SIZE_MAX ? &e->batch[h->opt_ev[k]] : NULL;
            if (!o) {
                ksd_resp_bulk(r, "", 0);
                ksd_resp_bulk(r, "", 0);
                continue;
            }
            ksd_resp_num(r, ev_seconds(o));
            ksd_resp_str(r, k == 0 ? o->site : k == 1 ? o->managed : o->ruleset);
        }
        ksd_resp_str(r, h->cats);
        ksd_resp_num(r, h->nkinds);
        for (int k = 0; k < h->nkinds; k++) {
            size_t kl = strlen(h->kind[k]);
            ksd_resp_head(r, '$', 3 + kl);
            if (ksd_resp_room(r, 5 + kl) == 0) {
                memcpy(r->buf + r->len, "ev:", 3);
                memcpy(r->buf + r->len + 3, h->kind[k], kl);
                memcpy(r->buf + r->len + 3 + kl, "\r\n", 2);
                r->len += 5 + kl;
            }
            ksd_resp_num(r, h->kind_n[k]);
        }
    }
    /* XADD and PUBLISH per event */
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &e->batch[start + j];
        const char *opt[10] = {
            ev->site,       ev->managed,          ev->ruleset,
            ev->via,        ev->count ? "1" : "", ev->community_id,
            ev->client_mac, ev->client_name,      ev->client_name[0] ? ev->client_name_source : "",
            ev->pcap};
        static const char *const optf[10] = {"site",       "managed",     "ruleset",
                                             "via",        "count",       "community_id",
                                             "client_mac", "client_name", "client_name_source",
                                             "pcap"};
        char ts[32], id[24];
        size_t nopt = 0;
        for (int k = 0; k < 10; k++)
            nopt += opt[k][0] != '\0';
        ksd_resp_head(r, '*', 6 + 2 * (14 + nopt));
        ksd_resp_str(r, "XADD");
        ksd_resp_str(r, e->k_events);
        ksd_resp_str(r, "MAXLEN");
        ksd_resp_str(r, "~");
        ksd_resp_num(r, e->maxlen);
        ksd_resp_str(r, "*");
        ksd_format_ts(ev->ts_us, ts);
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)ev->id);
        ksd_resp_str(r, "ts");
        ksd_resp_str(r, ts);
        ksd_resp_str(r, "sensor");
        ksd_resp_str(r, ev_sensor(e, ev));
        ksd_resp_str(r, "client");
        ksd_resp_str(r, ev->client);
        ksd_resp_str(r, "server");
        ksd_resp_str(r, ev->server);
        ksd_resp_str(r, "sport");
        ksd_resp_num(r, ev->sport);
        ksd_resp_str(r, "dport");
        ksd_resp_num(r, ev->dport);
        ksd_resp_str(r, "proto");
        ksd_resp_str(r, ev->proto);
        ksd_resp_str(r, "evidence");
        ksd_resp_str(r, ev->evidence);
        ksd_resp_str(r, "indicator");
        ksd_resp_str(r, ev->indicator);
        ksd_resp_str(r, "rule");
        ksd_resp_str(r, ev->rule);
        ksd_resp_str(r, "category");
        ksd_resp_str(r, ev->category);
        ksd_resp_str(r, "confidence");
        ksd_resp_num(r, ev->confidence);
        ksd_resp_str(r, "app");
        ksd_resp_str(r, ev->app);
        ksd_resp_str(r, "id");
        ksd_resp_bulk(r, id, 16);
        for (int k = 0; k < 10; k++) {
            if (!opt[k][0])
                continue;
            ksd_resp_str(r, optf[k]);
            if (k == 4)
                ksd_resp_num(r, ev->count);
            else
                ksd_resp_str(r, opt[k]);
        }
        int jl = ksd_event_json(ev, e->json, EMIT_JSON_MAX);
        ksd_resp_head(r, '*', 3);
        ksd_resp_str(r, "PUBLISH");
        ksd_resp_str(r, e->k_live);
        ksd_resp_bulk(r, e->json, jl > 0 ? (size_t)jl : 0);
    }
    /* the client's MAC and name on its host record (see id_writes) */
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &e->batch[start + j];
        size_t nf = id_fields(ev);
        if (!nf)
            continue;
        char key[EMIT_KEY_MAX];
        snprintf(key, sizeof(key), "%shost:%s", e->prefix, ev->client);
        ksd_resp_head(r, '*', 2 + 2 * nf);
        ksd_resp_str(r, "HSET");
        ksd_resp_str(r, key);
        if (ev->client_mac[0]) {
            ksd_resp_str(r, "mac");
            ksd_resp_str(r, ev->client_mac);
        }
        if (ev->client_name[0]) {
            ksd_resp_str(r, "name");
            ksd_resp_str(r, ev->client_name);
            ksd_resp_str(r, "name_source");
            ksd_resp_str(r, ev->client_name_source);
        }
    }
    ksd_resp_head(r, '*', 1);
    ksd_resp_str(r, "EXEC");
    if (r->oom || redisAppendFormattedCommand(e->ctx, r->buf, r->len) != REDIS_OK)
        return -1;
    for (int done = 0; !done;)
        if (redisBufferWrite(e->ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* An event that was not stored: kept when the error is temporary (or
 * unknown), else dropped after the last attempt. */
static void not_stored(struct ksd_emit *e, size_t i, const char *err, int *transient,
                       uint64_t *errors)
{
    (*errors)++;
    if (!err || err_is_transient(err)) {
        note_transient(e, err, transient);
        return;
    }
    if (++e->attempts[i] >= KSD_EMIT_MAX_ATTEMPTS)
        e->status[i] = EMIT_DROP;
}

/* A stream entry id as XADD returns it: digits '-' digits. */
static int is_stream_id(const redisReply *x)
{
    size_t i = 0, d1 = 0, d2 = 0;
    if (x->type != REDIS_REPLY_STRING)
        return 0;
    for (; i < x->len && ksd_is_digit((uint8_t)x->str[i]); i++)
        d1++;
    if (i == x->len || x->str[i++] != '-')
        return 0;
    for (; i < x->len && ksd_is_digit((uint8_t)x->str[i]); i++)
        d2++;
    return d1 > 0 && d2 > 0 && i == x->len;
}

/*
 * Read the replies of one append_txn. 0, or -1 when the connection broke or
 * a reply is not what Redis answers (the events stay and are sent again
 * through emit_script, which skips what was stored).
 */
static int read_txn(struct ksd_emit *e, size_t start, size_t cnt, int *transient, uint64_t *errors)
{
    char queue_err[256] = "";
    redisReply *r = NULL;
    /* MULTI: +OK; the EVAL, XADD and PUBLISH per event, the id HSETs:
     * +QUEUED, or a queueing error that makes EXEC fail with EXECABORT */
    size_t nid = id_writes(&e->batch[start], cnt);
    for (size_t i = 0; i < 2 + 2 * cnt + nid; i++) {
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r)
            return -1;
        int ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, i == 0 ? "OK" : "QUEUED") == 0;
        if (r->type == REDIS_REPLY_ERROR && i > 0 && !queue_err[0])
            snprintf(queue_err, sizeof(queue_err), "%.200s", r->str);
        else if (!ok)
            queue_err[0] = '\1'; /* mark: not Redis */
        freeReplyObject(r);
    }
    if (queue_err[0] == '\1')
        return -1;
    if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r)
        return -1;
    if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_NIL) {
        /* nothing ran */
        const char *why = queue_err[0] ? queue_err : r->type == REDIS_REPLY_ERROR ? r->str : NULL;
        for (size_t j = 0; j < cnt; j++)
            not_stored(e, start + j, why, transient, errors);
        freeReplyObject(r);
        return 0;
    }
    /* EXEC ran everything: one reply per command, of the expected kinds */
    int shape = r->type == REDIS_REPLY_ARRAY && r->elements == 1 + 2 * cnt + nid;
    if (shape) {
        const redisReply *s = r->element[0];
        shape = s->type == REDIS_REPLY_ERROR || s->type == REDIS_REPLY_STRING ||
                (s->type == REDIS_REPLY_INTEGER && s->integer == 1);
        for (size_t j = 0; shape && j < cnt; j++) {
            const redisReply *x = r->element[1 + 2 * j], *p = r->element[2 + 2 * j];
            shape = (x->type == REDIS_REPLY_ERROR || is_stream_id(x)) &&
                    (p->type == REDIS_REPLY_ERROR || p->type == REDIS_REPLY_INTEGER);
        }
    }
    if (!shape) {
        freeReplyObject(r);
        return -1;
    }
    /* the script's reply: an error means it wrote nothing (the stream key
     * has the wrong type, so every XADD failed too); a string, that some
     * marker or host record could not be written */
    const redisReply *s = r->element[0];
    int marked = s->type != REDIS_REPLY_ERROR;
    if (s->type == REDIS_REPLY_ERROR || s->type == REDIS_REPLY_STRING)
        (*errors)++;
    for (size_t j = 0; j < cnt; j++) {
        const redisReply *x = r->element[1 + 2 * j];
        if (x->type == REDIS_REPLY_STRING) {
            e->status[start + j] = EMIT_STORED;
        } else if (marked) {
            /* its marker is there without its entry, so a resend would be
             * taken for a duplicate: count it lost (no XADD error other
             * than the wrong type the script checked is known to happen) */
            (*errors)++;
            e->status[start + j] = EMIT_DROP;
        } else {
            not_stored(e, start + j, x->str, transient, errors);
        }
        if (r->element[2 + 2 * j]->type == REDIS_REPLY_ERROR)
            (*errors)++;
    }
    for (size_t i = 0; i < nid; i++)
        if (r->element[1 + 2 * cnt + i]->type == REDIS_REPLY_ERROR)
            (*errors)++;
    freeReplyObject(r);
    return 0;
}

/*
 * Pipeline the batch (plus WAIT for sentinel targets) and read every reply.
 * A batch that never went out takes the fresh path, transactions of up to
 * KSD_EMIT_TXN events; a batch from the spool, or one sent before (reply
 * lost, rejected events, unconfirmed WAIT), goes through emit_script in
 * groups of KSD_EMIT_GROUP events, which skips what Redis already has.
 * Returns 0, or -1 when the connection must be dropped.
 */
int ksd_store_send_batch(struct ksd_emit *e)
{
    int64_t now = ksd_emit_mono_ms();
    int use_wait = e->tgt.kind == KSD_REDIS_SENTINEL && e->wait_ms > 0 && now >= e->wait_skip_until;
    int fresh = !e->batch_replay && !e->batch_sent;
    int transient = 0;
    uint64_t errors = 0;
    size_t start, cnt, nparts = 0;
    size_t *part = e->parts;
    char wait_ms[16];
    e->batch_sent = 1;
    for (start = 0; start < e->nbatch; start += cnt) {
        size_t rest = e->nbatch - start;
        if (fresh) {
            size_t nb, nc;
            cnt = plan_txn(e, start, rest < KSD_EMIT_TXN ? rest : KSD_EMIT_TXN, &nb, &nc);
            if (append_txn(e, start, cnt, nb, nc) != 0)
                return -1;
        } else {
            cnt = rest < KSD_EMIT_GROUP ? rest : KSD_EMIT_GROUP;
            if (append_group(e, start, cnt) != 0)
                return -1;
            /* write each group at once: Redis runs it while the next is built */
            for (int done = 0; !done;)
                if (redisBufferWrite(e->ctx, &done) != REDIS_OK)
                    return -1;
        }
        part[nparts++] = cnt;
    }
    if (use_wait) {
        snprintf(wait_ms, sizeof(wait_ms), "%d", e->wait_ms);
        const char *argv[3] = {"WAIT", "1", wait_ms};
        if (redisAppendCommandArgv(e->ctx, 3, argv, NULL) != REDIS_OK)
            return -1;
    }
    int broken = 0;
    start = 0;
    for (size_t k = 0; k < nparts && !broken; start += part[k++]) {
        if (fresh) {
            broken = read_txn(e, start, part[k], &transient, &errors) != 0;
            continue;
        }
        redisReply *r = NULL;
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r) {
            broken = 1;
            break;
        }
        broken = group_reply(e, r, start, part[k], &transient, &errors) != 0;
        freeReplyObject(r);
    }
    if (!broken && use_wait) {
        redisReply *r = NULL;
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r) {
            broken = 1;
        } else {
            if (r->type != REDIS_REPLY_INTEGER && r->type != REDIS_REPLY_ERROR) {
                broken = 1; /* not a WAIT reply: send it all again */
            } else if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
                /* no replica confirmed: accept, and stop waiting for a while */
                e->wait_skip_until = now + EMIT_WAIT_SKIP;
                pthread_mutex_lock(&e->mu);
                e->st.unreplicated++;
                pthread_mutex_unlock(&e->mu);
            }
            freeReplyObject(r);
        }
    }
    if (errors) {
        pthread_mutex_lock(&e->mu);
        e->st.errors += errors;
        pthread_mutex_unlock(&e->mu);
    }
    if (broken && use_wait) {
        /* unconfirmed: everything is sent again to whichever master is next */
        memset(e->status, EMIT_PENDING, e->nbatch);
    }
    if (!broken && ksd_emit_write_trend(e) != 0)
        broken = 1;
    ksd_emit_commit_batch(e);
    if (broken)
        return -1;
    if (transient) {
        ksd_emit_drop_conn(e, e->errmsg);
        return 0;
    }
    e->backoff_ms = KSD_EMIT_BACKOFF_MIN;
    return 0;
}
