/*
 * emit.c - the Redis output: one thread that takes detection events from a
 * bounded in-memory ring (filled by ksd_emit_push on the capture path) and
 * delivers each of them exactly once to Redis (the README's Redis keys;
 * capture never waits on Redis) through the store paths of store.c, over a connection
 * made by redisconn.c. This file holds the queue (ring and spool), the
 * reconnect backoff, the thread and the sensor:<id> statistics hash.
 *
 * Outages. A connection that returned any I/O, EOF or timeout error is freed,
 * never reused; reconnection backs off from KSD_EMIT_BACKOFF_MIN doubling to
 * KSD_EMIT_BACKOFF_MAX (100 ms first; STYLE rule 19's "once per
 * second" is reached after four failures). While Redis is away, events stay
 * in the ring; once it is half full the thread moves the oldest events to the
 * spool file (sensor/output/spool.c), and a push that finds the ring full does the
 * same for KSD_EMIT_SPILL_CHUNK events. Spool writes happen under the ring
 * mutex, so the spool always holds events older than the ring: the thread
 * sends the batch in flight, then the spool (replay, oldest first), then the
 * ring, which keeps push order. The spool is fsynced about once a second and
 * at stop; a spool left by a previous run is replayed first.
 *
 * Sentinel. sentinel://h1:p1,h2:p2/name asks each sentinel in turn for
 * SENTINEL get-master-addr-by-name, connects to that address and checks with
 * ROLE that it is a master; any later error re-discovers (failover, or a
 * READONLY reply from a demoted master). After each batch it sends WAIT 1
 * replica_wait_ms and keeps the batch until a replica confirmed it, so events
 * stored on a master that dies before replicating them are sent again to the
 * new master. If WAIT reports no replica, the batch is accepted (counted in
 * unreplicated) and WAIT is skipped for a second: a master without replicas
 * then runs at full speed, with the loss window that implies.
 *
 * What it does not do: build or parse the store commands (store.c), parse
 * targets, read the auth file or talk to the sentinels (redisconn.c).
 */
#include "sensor/output/emit.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ksd.h"
#include "sensor/output/emit_int.h"
#include "sensor/output/spool.h"

#define EMIT_SYNC_MS      1000 /* spool fsync period */
#define EMIT_STOP_BACKOFF 250  /* reconnect backoff cap while stopping, ms */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

__attribute__((format(printf, 2, 3))) static void emit_log(struct ksd_emit *e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!e->log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->log(e->log_arg, msg);
}

/* ---- connection ---- */

static int emit_connect(struct ksd_emit *e)
{
    char where[KSD_REDIS_MAX_HOST + 16];
    enum ksd_redisconn_fail fail;
    struct ksd_redisconn_opts o = {e->connect_timeout_ms, e->command_timeout_ms,
                                   e->tgt.kind == KSD_REDIS_SENTINEL};
    redisContext *c = ksd_redisconn_open(&e->tgt, &e->auth, &o, where, sizeof(where), &fail,
                                         e->errmsg, sizeof(e->errmsg));
    if (!c)
        return -1;
    e->ctx = c;
    pthread_mutex_lock(&e->mu);
    e->connected = 1;
    if (e->ever_connected)
        e->st.reconnects++;
    pthread_mutex_unlock(&e->mu);
    e->ever_connected = 1;
    e->down_logged = 0;
    emit_log(e, "connected to %s", where);
    return 0;
}

void ksd_emit_drop_conn(struct ksd_emit *e, const char *why)
{
    int64_t now = ksd_emit_mono_ms();
    if (e->ctx) {
        if (!e->down_logged)
            emit_log(e, "connection lost (%s), reconnecting",
                     why ? why : (e->ctx->errstr[0] ? e->ctx->errstr : "error"));
        e->down_logged = 1;
        redisFree(e->ctx);
        e->ctx = NULL;
    }
    /* a SIGPIPE raised by a write on the dead socket stays pending on this
     * thread (it is blocked here): consume it */
    sigset_t pipe;
    struct timespec zero = {0, 0};
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    while (sigtimedwait(&pipe, NULL, &zero) > 0)
        ;
    pthread_mutex_lock(&e->mu);
    e->connected = 0;
    e->st.errors++;
    pthread_mutex_unlock(&e->mu);
    e->next_connect = now + e->backoff_ms;
    /* while stopping, keep trying every few hundred ms until the deadline */
    int cap = e->stop_seen ? EMIT_STOP_BACKOFF : KSD_EMIT_BACKOFF_MAX;
    e->backoff_ms = e->backoff_ms * 2 > cap ? cap : e->backoff_ms * 2;
}

const char *ksd_emit_drop_name(enum ksd_emit_drop d)
{
    static const char *const names[KSD_EMIT_DROP_N] = {"queue_full", "rejected", "unsent_at_exit"};
    return d < KSD_EMIT_DROP_N ? names[d] : "?";
}

/* Count n dropped events of cause d. Caller holds e->mu. */
static void drop_locked(struct ksd_emit *e, enum ksd_emit_drop d, uint64_t n)
{
    e->st.drops[d] += n;
    e->st.dropped += n;
}

/* Log each drop cause and spool damage once (from the output thread). */
static void log_news(struct ksd_emit *e)
{
    struct ksd_emit_stats st;
    pthread_mutex_lock(&e->mu);
    st = e->st;
    pthread_mutex_unlock(&e->mu);
    for (int d = 0; d < KSD_EMIT_DROP_N; d++) {
        if (st.drops[d] == 0 || (e->drops_logged & (1u << d)))
            continue;
        static const char *const why[KSD_EMIT_DROP_N] = {
            "the queue is full (no spool, or the spool is full or failing)",
            "Redis refused them for good", "Redis was unreachable at stop and there is no spool"};
        emit_log(e, "dropping events: %s (counted as dropped_%s)", why[d],
                 ksd_emit_drop_name((enum ksd_emit_drop)d));
        e->drops_logged |= 1u << d;
    }
    if (e->spool && !e->corrupt_logged) {
        struct ksd_spool_stats ss;
        ksd_spool_get_stats(e->spool, &ss);
        if (ss.corrupt) {
            emit_log(e, "spool %s: damaged data at byte %llu skipped (counted as spool_corrupt)",
                     e->spool_path, (unsigned long long)ss.corrupt_at);
            e->corrupt_logged = 1;
        }
    }
}

/* ---- ring and spool ---- */

/* Move up to max oldest ring events to the spool. Caller holds e->mu. */
static void spill_locked(struct ksd_emit *e, size_t max)
{
    size_t n = e->count < max ? e->count : max;
    while (n > 0) {
        size_t run_len = e->cap - e->head < n ? e->cap - e->head : n;
        int w = ksd_spool_append(e->spool, &e->ring[e->head], run_len);
        if (w <= 0) {
            if (w < 0)
                e->st.errors++;
            return;
        }
        e->head = (e->head + (size_t)w) % e->cap;
        e->count -= (size_t)w;
        e->st.spooled += (uint64_t)w;
        n -= (size_t)w;
        if ((size_t)w < run_len)
            return; /* spool cap reached */
    }
}

int ksd_emit_push(struct ksd_emit *e, const struct ksd_event *ev)
{
    pthread_mutex_lock(&e->mu);
    e->st.pushed++;
    if (e->spool && e->count == 0) {
        /* the spool is the queue: written before the event is sent, so a
         * crash loses nothing that was pushed (the ring only takes events
         * while the spool is full or failing, and until it is empty again) */
        int w = ksd_spool_append(e->spool, ev, 1);
        if (w == 1) {
            e->st.spooled++;
            e->sp_new++;
            if (e->waiting && e->wake_sp && e->count + e->sp_new >= e->wake_at)
                pthread_cond_signal(&e->cv);
            pthread_mutex_unlock(&e->mu);
            if (e->sync == KSD_EMIT_SYNC_ALWAYS)
                ksd_spool_sync(e->spool);
            return 0;
        }
        if (w < 0)
            e->st.errors++;
    }
    if (e->count == e->cap && e->spool)
        spill_locked(e, KSD_EMIT_SPILL_CHUNK);
    if (e->count == e->cap) {
        drop_locked(e, KSD_EMIT_DROP_QUEUE, 1);
        pthread_mutex_unlock(&e->mu);
        return KSD_ELIMIT;
    }
    e->ring[(e->head + e->count) % e->cap] = *ev;
    e->count++;
    if (e->waiting && e->count + (e->wake_sp ? e->sp_new : 0) >= e->wake_at)
        pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

void ksd_emit_snapshot(struct ksd_emit *e, const struct ksd_sensor_snapshot *s)
{
    pthread_mutex_lock(&e->mu);
    e->snap = *s;
    copy_str(e->snap_version, sizeof(e->snap_version), s->version ? s->version : "");
    e->snap.version = e->snap_version;
    pthread_mutex_unlock(&e->mu);
}

void ksd_emit_get_stats(struct ksd_emit *e, struct ksd_emit_stats *out)
{
    struct ksd_spool_stats ss = {0};
    if (e->spool)
        ksd_spool_get_stats(e->spool, &ss);
    pthread_mutex_lock(&e->mu);
    *out = e->st;
    out->queued_now = e->count + e->inflight;
    out->connected = e->connected;
    pthread_mutex_unlock(&e->mu);
    out->spool_now = ss.records;
    out->spool_corrupt = ss.corrupt;
}

/*
 * Wait until count >= wake_at, stop, or the monotonic time until. Returns at
 * once if the condition already holds.
 */
static void wait_for(struct ksd_emit *e, size_t wake_at, int use_sp, int64_t until)
{
    pthread_mutex_lock(&e->mu);
    if (e->stopping && e->deadline < until)
        until = e->deadline;
    while (e->count + (use_sp ? e->sp_new : 0) < wake_at && ksd_emit_mono_ms() < until) {
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};
        int was_stopping = e->stopping;
        e->wake_at = wake_at;
        e->wake_sp = use_sp;
        e->waiting = 1;
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        e->waiting = 0;
        if (e->stopping != was_stopping)
            break;
    }
    pthread_mutex_unlock(&e->mu);
}

/* Fill the batch: the spool first (older), then the ring. Returns its size. */
static size_t fill_batch(struct ksd_emit *e)
{
    e->batch_from_spool = 0;
    e->batch_replay = 0;
    pthread_mutex_lock(&e->mu);
    e->sp_new = 0;
    pthread_mutex_unlock(&e->mu);
    for (int guard = 0; e->spool && guard < 64 && ksd_spool_pending(e->spool) > 0; guard++) {
        uint64_t next;
        e->batch_replay = ksd_spool_replaying(e->spool);
        int n = ksd_spool_peek(e->spool, e->batch, KSD_EMIT_MAX_BATCH, &next);
        if (n < 0) {
            pthread_mutex_lock(&e->mu);
            e->st.errors++;
            pthread_mutex_unlock(&e->mu);
            break; /* unreadable spool: keep serving the ring */
        }
        if (n == 0) {
            ksd_spool_consume(e->spool, next, 0); /* only damage there */
            continue;
        }
        e->nbatch = e->batch_orig = (size_t)n;
        e->batch_from_spool = 1;
        e->batch_next = next;
        break;
    }
    if (!e->batch_from_spool) {
        pthread_mutex_lock(&e->mu);
        size_t n = e->count < KSD_EMIT_MAX_BATCH ? e->count : KSD_EMIT_MAX_BATCH;
        for (size_t i = 0; i < n; i++) {
            e->batch[i] = e->ring[e->head];
            e->head = (e->head + 1) % e->cap;
        }
        e->count -= n;
        e->nbatch = n;
        pthread_mutex_unlock(&e->mu);
    }
    memset(e->status, EMIT_PENDING, e->nbatch);
    memset(e->attempts, 0, e->nbatch);
    e->batch_sent = 0;
    pthread_mutex_lock(&e->mu);
    e->inflight = e->batch_from_spool ? 0 : e->nbatch;
    pthread_mutex_unlock(&e->mu);
    return e->nbatch;
}

/* Count and remove resolved events; consume a fully delivered spool batch. */
void ksd_emit_commit_batch(struct ksd_emit *e)
{
    uint64_t stored = 0, dup = 0, drop = 0;
    size_t k = 0;
    for (size_t i = 0; i < e->nbatch; i++) {
        switch (e->status[i]) {
            case EMIT_STORED:
                stored++;
                break;
            case EMIT_DUP:
                dup++;
                break;
            case EMIT_DROP:
                drop++;
                break;
            default:
                if (k != i) {
                    e->batch[k] = e->batch[i];
                    e->attempts[k] = e->attempts[i];
                }
                e->status[k] = EMIT_PENDING;
                k++;
                break;
        }
    }
    e->nbatch = k;
    if (k == 0 && e->batch_from_spool) {
        if (ksd_spool_consume(e->spool, e->batch_next, e->batch_orig) != 0) {
            pthread_mutex_lock(&e->mu);
            e->st.errors++;
            pthread_mutex_unlock(&e->mu);
        }
    }
    pthread_mutex_lock(&e->mu);
    e->st.sent += stored;
    e->st.duplicates_skipped += dup;
    drop_locked(e, KSD_EMIT_DROP_REJECTED, drop);
    if (e->batch_replay)
        e->st.replayed += stored + dup;
    e->inflight = e->batch_from_spool ? 0 : k;
    pthread_mutex_unlock(&e->mu);
}

static int send_stats(struct ksd_emit *e)
{
    char v[15][24];
    char ttl[16];
    struct ksd_sensor_snapshot s;
    struct ksd_emit_stats st;
    ksd_emit_get_stats(e, &st);
    pthread_mutex_lock(&e->mu);
    s = e->snap;
    char version[64];
    copy_str(version, sizeof(version), e->snap_version);
    pthread_mutex_unlock(&e->mu);
    snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)s.packets);
    snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)s.bytes);
    snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long)s.drops);
    snprintf(v[3], sizeof(v[3]), "%llu", (unsigned long long)s.flows);
    snprintf(v[4], sizeof(v[4]), "%llu", (unsigned long long)s.events);
    snprintf(v[5], sizeof(v[5]), "%llu", (unsigned long long)(st.queued_now + st.spool_now));
    snprintf(v[6], sizeof(v[6]), "%lld", (long long)(s.started ? s.started : e->start_s));
    snprintf(v[7], sizeof(v[7]), "%llu", (unsigned long long)st.dropped);
    snprintf(v[8], sizeof(v[8]), "%llu", (unsigned long long)st.sent);
    snprintf(v[9], sizeof(v[9]), "%llu", (unsigned long long)st.spooled);
    for (int d = 0; d < KSD_EMIT_DROP_N; d++)
        snprintf(v[10 + d], sizeof(v[0]), "%llu", (unsigned long long)st.drops[d]);
    snprintf(v[13], sizeof(v[13]), "%llu", (unsigned long long)st.spool_corrupt);
    snprintf(v[14], sizeof(v[14]), "%lld", (long long)time(NULL)); /* this refresh */
    snprintf(ttl, sizeof(ttl), "%d", e->stats_ttl_s);
    const char *hset[] = {"HSET",
                          e->k_sensor,
                          "packets",
                          v[0],
                          "bytes",
                          v[1],
                          "drops",
                          v[2],
                          "flows",
                          v[3],
                          "events",
                          v[4],
                          "backlog",
                          v[5],
                          "started",
                          v[6],
                          "version",
                          version,
                          "dropped",
                          v[7],
                          "sent",
                          v[8],
                          "spooled",
                          v[9],
                          "dropped_queue_full",
                          v[10],
                          "dropped_rejected",
                          v[11],
                          "dropped_unsent_at_exit",
                          v[12],
                          "spool_corrupt",
                          v[13],
                          "updated",
                          v[14]};
    const char *expire[] = {"EXPIRE", e->k_sensor, ttl};
    if (redisAppendCommandArgv(e->ctx, (int)KSD_ARRAY_LEN(hset), hset, NULL) != REDIS_OK ||
        redisAppendCommandArgv(e->ctx, 3, expire, NULL) != REDIS_OK)
        return -1;
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r)
            return -1;
        int type = r->type;
        freeReplyObject(r);
        if (type == REDIS_REPLY_ERROR) {
            pthread_mutex_lock(&e->mu);
            e->st.errors++;
            pthread_mutex_unlock(&e->mu);
        } else if (type != REDIS_REPLY_INTEGER) {
            /* HSET and EXPIRE answer integers: this is not a Redis we know */
            snprintf(e->errmsg, sizeof(e->errmsg), "unexpected reply to HSET/EXPIRE");
            return -1;
        }
    }
    return 0;
}

/* ---- the thread ---- */

/* Everything undelivered goes to the spool (or is dropped). */
static void emit_finish(struct ksd_emit *e)
{
    uint64_t dropped = 0;
    if (e->ctx) {
        redisFree(e->ctx);
        e->ctx = NULL;
    }
    pthread_mutex_lock(&e->mu);
    if (e->nbatch > 0 && !e->batch_from_spool) {
        /* in flight from the ring: older than the ring, maybe newer than
         * part of the spool (the order exception documented in emit.h) */
        int w = e->spool ? ksd_spool_append(e->spool, e->batch, e->nbatch) : 0;
        if (w < 0)
            w = 0;
        e->st.spooled += (uint64_t)w;
        dropped += e->nbatch - (size_t)w;
    }
    e->nbatch = 0;
    e->inflight = 0;
    if (e->spool)
        while (e->count > 0) {
            size_t before = e->count;
            spill_locked(e, KSD_EMIT_SPILL_CHUNK);
            if (e->count == before)
                break;
        }
    dropped += e->count;
    e->count = 0;
    drop_locked(e, KSD_EMIT_DROP_EXIT, dropped);
    e->connected = 0;
    pthread_mutex_unlock(&e->mu);
    if (dropped || e->st.dropped)
        e->result = KSD_ELIMIT;
    else if (e->spool && ksd_spool_pending(e->spool) > 0)
        e->result = 1;
    else
        e->result = 0;
    if (e->spool && e->sync != KSD_EMIT_SYNC_NEVER)
        ksd_spool_sync(e->spool);
    log_news(e);
}

static void *emit_main(void *arg)
{
    struct ksd_emit *e = arg;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    e->backoff_ms = KSD_EMIT_BACKOFF_MIN;
    e->next_connect = 0;
    e->next_stats = 0;
    e->next_sync = ksd_emit_mono_ms() + EMIT_SYNC_MS;
    for (;;) {
        int64_t now = ksd_emit_mono_ms();
        pthread_mutex_lock(&e->mu);
        int stopping = e->stopping;
        int64_t deadline = e->deadline;
        size_t queued = e->count;
        pthread_mutex_unlock(&e->mu);
        int work = e->nbatch > 0 || queued > 0 || (e->spool && ksd_spool_pending(e->spool) > 0);
        if (stopping && (!work || now >= deadline))
            break;
        if (stopping && !e->stop_seen) {
            /* try at once, and again every EMIT_STOP_BACKOFF ms until the deadline */
            e->stop_seen = 1;
            e->backoff_ms = KSD_EMIT_BACKOFF_MIN;
            e->next_connect = now;
        }
        if (now >= e->next_sync) {
            /* kept moving without a spool too: the waits below end at next_sync */
            if (e->spool && e->sync == KSD_EMIT_SYNC_1S)
                ksd_spool_sync(e->spool);
            e->next_sync = now + EMIT_SYNC_MS;
            log_news(e);
        }
        if (!e->ctx) {
            if (now >= e->next_connect && emit_connect(e) != 0) {
                if (!e->down_logged)
                    emit_log(e, "cannot connect to %s (%s), retrying", e->target_text, e->errmsg);
                e->down_logged = 1;
                e->ctx = NULL;
                ksd_emit_drop_conn(e, NULL);
            }
            if (!e->ctx) {
                if (e->spool) {
                    pthread_mutex_lock(&e->mu);
                    while (e->count >= e->cap / 2 && e->count > 0) {
                        size_t before = e->count;
                        spill_locked(e, KSD_EMIT_SPILL_CHUNK);
                        if (e->count == before)
                            break;
                    }
                    pthread_mutex_unlock(&e->mu);
                }
                int64_t until = e->next_connect < e->next_sync ? e->next_connect : e->next_sync;
                wait_for(e, e->spool ? (e->cap / 2 > 0 ? e->cap / 2 : 1) : SIZE_MAX, 0, until);
                continue;
            }
        }
        if (now >= e->next_stats) {
            if (send_stats(e) != 0) {
                ksd_emit_drop_conn(e, NULL);
                continue;
            }
            e->next_stats = now + e->stats_interval_ms;
        }
        if (e->nbatch == 0 && fill_batch(e) == 0) {
            int64_t until = e->next_stats < e->next_sync ? e->next_stats : e->next_sync;
            wait_for(e, 1, 1, until);
            continue;
        }
        if (ksd_store_send_batch(e) != 0)
            ksd_emit_drop_conn(e, NULL);
    }
    /* a last statistics refresh so sensor:<id> shows the final backlog */
    if (e->ctx && send_stats(e) != 0) {
        redisFree(e->ctx);
        e->ctx = NULL;
    }
    emit_finish(e);
    return NULL;
}

/* ---- start / stop ---- */

static void emit_free(struct ksd_emit *e)
{
    if (!e)
        return;
    if (e->spool)
        ksd_spool_close(e->spool);
    explicit_bzero(&e->auth, sizeof(e->auth));
    free(e->ring);
    free(e->batch);
    free(e->status);
    free(e->attempts);
    free(e->hosts);
    free(e->bkts);
    free(e->bidx);
    free(e->parts);
    free(e->ids);
    free(e->json);
    ksd_resp_free(&e->out);
    free(e->slots);
    free(e->chash);
    free(e->argv);
    free(e->argl);
    free(e);
}

struct ksd_emit *ksd_emit_start(const struct ksd_emit_conf *c, char *err, size_t errlen)
{
    struct ksd_emit *e = calloc(1, sizeof(*e));
    const char *reason = NULL;
    pthread_condattr_t ca;
    int mu_ok = 0, cv_ok = 0;
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ksd_redisconn_parse_target(c->target, &e->tgt, &reason) != 0) {
        snprintf(err, errlen, "redis target \"%s\": %s", c->target ? c->target : "", reason);
        goto fail;
    }
    copy_str(e->target_text, sizeof(e->target_text), c->target);
    const char *prefix = c->prefix ? c->prefix : "ksd:";
    const char *sid = c->sensor_id && *c->sensor_id ? c->sensor_id : "ksd";
    if (strlen(prefix) >= sizeof(e->prefix) || strlen(sid) >= sizeof(e->sensor_id)) {
        snprintf(err, errlen, "redis prefix or sensor id too long (at most 63 bytes)");
        goto fail;
    }
    copy_str(e->prefix, sizeof(e->prefix), prefix);
    copy_str(e->sensor_id, sizeof(e->sensor_id), sid);
    if (c->auth_file && ksd_redisconn_read_auth(c->auth_file, &e->auth, err, errlen) != 0)
        goto fail;
    e->connect_timeout_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 1000;
    e->command_timeout_ms = c->command_timeout_ms > 0 ? c->command_timeout_ms : 2000;
    e->cap = c->queue_max > 0 ? c->queue_max : 65536;
    e->maxlen = c->stream_maxlen > 0 ? c->stream_maxlen : 1000000;
    e->stats_interval_ms = c->stats_interval_ms > 0 ? c->stats_interval_ms : 5000;
    e->stats_ttl_s = c->stats_ttl_s > 0 ? c->stats_ttl_s : 3 * e->stats_interval_ms / 1000;
    if (e->stats_ttl_s < 1)
        e->stats_ttl_s = 1;
    e->dedup_ttl_s = c->dedup_ttl_s > 0 ? c->dedup_ttl_s : 86400;
    e->wait_ms = c->replica_wait_ms == 0 ? 100 : (c->replica_wait_ms < 0 ? 0 : c->replica_wait_ms);
    e->trend_product = c->trend_product;
    e->log = c->log;
    e->log_arg = c->log_arg;
    e->start_s = (int64_t)time(NULL);
    snprintf(e->k_events, sizeof(e->k_events), "%sevents", e->prefix);
    snprintf(e->k_hosts, sizeof(e->k_hosts), "%shosts", e->prefix);
    snprintf(e->k_live, sizeof(e->k_live), "%slive", e->prefix);
    snprintf(e->k_sensor, sizeof(e->k_sensor), "%ssensor:%s", e->prefix, e->sensor_id);
    /* calloc: pages of an unused ring are never touched, so a large
     * queue_max costs address space, not memory */
    e->ring = calloc(e->cap, sizeof(*e->ring));
    e->batch = calloc(KSD_EMIT_MAX_BATCH, sizeof(*e->batch));
    e->status = calloc(KSD_EMIT_MAX_BATCH, 1);
    e->attempts = calloc(KSD_EMIT_MAX_BATCH, 1);
    e->slots = calloc(KSD_EMIT_GROUP, sizeof(*e->slots));
    e->chash = calloc(EMIT_ALL_CHASH, sizeof(*e->chash));
    e->argv = calloc(EMIT_MAX_ARGS, sizeof(*e->argv));
    e->argl = calloc(EMIT_MAX_ARGS, sizeof(*e->argl));
    e->hosts = calloc(KSD_EMIT_TXN, sizeof(*e->hosts));
    e->bkts = calloc(KSD_EMIT_TXN, sizeof(*e->bkts));
    e->bidx = calloc(KSD_EMIT_TXN, sizeof(*e->bidx));
    e->parts = calloc(KSD_EMIT_MAX_BATCH, sizeof(*e->parts));
    e->ids = malloc(16 * KSD_EMIT_TXN);
    e->json = malloc(EMIT_JSON_MAX);
    if (!e->ring || !e->batch || !e->status || !e->attempts || !e->slots || !e->chash || !e->argv ||
        !e->argl || !e->hosts || !e->bkts || !e->bidx || !e->parts || !e->ids || !e->json) {
        snprintf(err, errlen, "out of memory for a queue of %zu events", e->cap);
        goto fail;
    }
    if (c->spool_path) {
        int serr = 0;
        copy_str(e->spool_path, sizeof(e->spool_path), c->spool_path);
        e->sync = c->spool_sync;
        uint64_t max = c->spool_max_bytes ? c->spool_max_bytes : 256ull << 20;
        e->spool = ksd_spool_open(c->spool_path, max, &serr);
        if (!e->spool) {
            snprintf(err, errlen, "%s: %s", c->spool_path,
                     serr == KSD_SPOOL_EFOREIGN   ? "not a ksd spool"
                     : serr == KSD_SPOOL_EVERSION ? "a ksd spool of another version"
                     : serr == -EWOULDBLOCK       ? "in use by another process"
                     : serr < 0 && serr > -4096   ? strerror(-serr)
                                                  : "not a regular file");
            goto fail;
        }
    }
    if (pthread_mutex_init(&e->mu, NULL) != 0)
        goto fail_sys;
    mu_ok = 1;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_sys;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cv_ok = pthread_cond_init(&e->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv_ok)
        goto fail_sys;
    /* the thread starts with every signal blocked: signals go to the
     * capture threads, and a SIGPIPE from a dead socket is handled there */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&e->thr, NULL, emit_main, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail_sys;
    return e;
fail_sys:
    snprintf(err, errlen, "cannot start the Redis output thread");
fail:
    if (cv_ok)
        pthread_cond_destroy(&e->cv);
    if (mu_ok)
        pthread_mutex_destroy(&e->mu);
    emit_free(e);
    return NULL;
}

int ksd_emit_stop(struct ksd_emit *e, int drain_timeout_ms)
{
    return ksd_emit_stop_stats(e, drain_timeout_ms, NULL);
}

int ksd_emit_stop_stats(struct ksd_emit *e, int drain_timeout_ms, struct ksd_emit_stats *final)
{
    if (!e)
        return 0;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    e->deadline = ksd_emit_mono_ms() + (drain_timeout_ms > 0 ? drain_timeout_ms : 0);
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thr, NULL);
    int result = e->result;
    if (final)
        ksd_emit_get_stats(e, final);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    emit_free(e);
    return result;
}
