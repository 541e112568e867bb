/*
 * emit.h - the Redis output of ksd: one output thread that delivers every
 * detection event to Redis exactly once (the README's Redis keys), whatever
 * Redis does, without ever blocking the capture path on the network.
 *
 * Delivery order is the order of ksd_emit_push, with one documented
 * exception: events that were in flight when a connection broke and that are
 * written to the spool at stop land after events that overflowed to the spool
 * while they were in flight. Exactly-once rests on the event id: each event is
 * stored by one Lua script that checks and then marks its id in the hash
 * <prefix>seen:<sensor>:m<minute of ts> (kept dedup_ttl_s after the last id
 * added), so a resend after a broken connection is a no-op.
 */
#ifndef KSD_EMIT_H
#define KSD_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sensor/output/event.h"

#define KSD_EMIT_MAX_BATCH    4096          /* events pipelined per round trip */
#define KSD_EMIT_GROUP        128           /* resent events checked and stored by one EVAL */
#define KSD_EMIT_TXN          512           /* fresh events stored by one MULTI/EXEC */
#define KSD_EMIT_SPILL_CHUNK  256           /* events moved from the ring to the spool at once */
#define KSD_EMIT_BACKOFF_MIN  100           /* ms before the first reconnect attempt */
#define KSD_EMIT_BACKOFF_MAX  5000          /* reconnect backoff cap, ms */
#define KSD_EMIT_MAX_ATTEMPTS 3             /* sends of an event that Redis rejects for good */
#define KSD_EMIT_TREND_KEYS   256           /* (day, site) trend keys written per round trip */
#define KSD_EMIT_TREND_TTL_S  (366 * 86400) /* lifetime of a trend key: a year of days */

/* --spool-sync: when the spool file is fsynced (loss window on power failure). */
enum ksd_emit_sync {
    KSD_EMIT_SYNC_1S,     /* about once a second, and at stop (default): up to ~1 s lost */
    KSD_EMIT_SYNC_ALWAYS, /* after every event: nothing acknowledged by the disk is lost */
    KSD_EMIT_SYNC_NEVER,  /* left to the kernel (typically within 30 s) */
};

/* Why events were dropped (counted per cause; ksd_emit_drop_name). */
enum ksd_emit_drop {
    KSD_EMIT_DROP_QUEUE,    /* queue full: the ring, and the spool full, failing or absent */
    KSD_EMIT_DROP_REJECTED, /* Redis refused the event itself KSD_EMIT_MAX_ATTEMPTS times */
    KSD_EMIT_DROP_EXIT,     /* undelivered at stop with no spool (or no room in it) */
    KSD_EMIT_DROP_N,
};

struct ksd_emit_conf {
    const char *target;            /* see ksd_redisconn_parse_target (redisconn.h) */
    const char *prefix;            /* key prefix, NULL = "ksd:" */
    const char *auth_file;         /* first line "password" or "user password"; NULL = no AUTH */
    const char *sensor_id;         /* NULL = "ksd" */
    int connect_timeout_ms;        /* 0 = 1000 */
    int command_timeout_ms;        /* 0 = 2000 */
    size_t queue_max;              /* in-memory ring, events; 0 = 65536 */
    const char *spool_path;        /* on-disk queue: every event is written there as it is
                                      pushed; NULL = none (a full ring then drops) */
    enum ksd_emit_sync spool_sync; /* fsync policy of the spool */
    uint64_t spool_max_bytes;      /* 0 = 256 MiB */
    long stream_maxlen;            /* XADD MAXLEN ~; 0 = 1000000 */
    int stats_interval_ms;         /* sensor:<id> refresh; 0 = 5000 */
    int stats_ttl_s;               /* TTL of sensor:<id>; 0 = 3 x interval */
    int dedup_ttl_s;               /* lifetime of the seen:<sensor>:m<minute> markers; 0 = 86400 */
    int replica_wait_ms;           /* sentinel targets: WAIT 1 <ms> after each batch; 0 = 100,
                                      < 0 = never WAIT. Ignored for other targets. */
    /* The migration trend: true when an event's category means a running
       product (ksd_sig_category_is_product); NULL = no trend keys written.
       See sensor/output/trend.c for the keys. */
    bool (*trend_product)(const char *category, size_t len);
    void (*log)(void *arg, const char *msg); /* connection state changes, from the output
                                                thread; NULL = silent. Never gets secrets. */
    void *log_arg;                           /* passed to log */
};

struct ksd_emit_stats {
    uint64_t pushed;                 /* ksd_emit_push calls */
    uint64_t sent;                   /* events newly stored in Redis */
    uint64_t duplicates_skipped;     /* resends that Redis already had (seen key present) */
    uint64_t queued_now;             /* events in memory (ring + batch in flight) */
    uint64_t spooled;                /* events written to the spool file (total) */
    uint64_t spool_now;              /* events waiting in the spool file */
    uint64_t replayed;               /* events delivered from the spool */
    uint64_t dropped;                /* events lost, the sum of drops[] */
    uint64_t drops[KSD_EMIT_DROP_N]; /* per cause */
    uint64_t reconnects;             /* successful connections after the first */
    uint64_t errors;                 /* connection failures and error replies */
    uint64_t spool_corrupt;          /* damaged spool regions skipped */
    uint64_t unreplicated;           /* sentinel: batches stored without WAIT confirmation */
    int connected;                   /* 1 while a usable connection exists */
};

struct ksd_sensor_snapshot {
    uint64_t packets;    /* captured packets */
    uint64_t bytes;      /* captured bytes */
    uint64_t drops;      /* capture drops (kernel + interface) */
    uint64_t flows;      /* flows tracked */
    uint64_t events;     /* detection events produced */
    int64_t started;     /* sensor start, Unix seconds */
    const char *version; /* ksd version; copied */
};

struct ksd_emit;

/* "queue_full", "rejected", "unsent_at_exit": the cause's name in --stats
 * (dropped_<name>) and in the sensor hash. */
const char *ksd_emit_drop_name(enum ksd_emit_drop d);

/*
 * Validate c, read the auth file, open (and schedule replay of) the spool and
 * start the output thread. Redis being unreachable is not an error: the thread
 * connects in the background. Returns NULL with a message in err on bad
 * configuration (bad target, unreadable or empty auth file, spool that cannot
 * be opened or is locked by another process). Free with ksd_emit_stop.
 */
struct ksd_emit *ksd_emit_start(const struct ksd_emit_conf *c, char *err, size_t errlen);

/*
 * Queue a copy of ev. Never does network I/O and never waits for Redis: it
 * takes a mutex and, with a spool, writes the event to the spool file (one
 * write(2) into the page cache; an fsync too with KSD_EMIT_SYNC_ALWAYS), so
 * a crash right after loses nothing; without a spool (or when the spool is
 * full or failing) it copies the event into the ring. Then it signals the
 * thread. Returns 0 when the event is queued or spooled, KSD_ELIMIT when it
 * was dropped (counted).
 */
int ksd_emit_push(struct ksd_emit *e, const struct ksd_event *ev);

/* Latest sensor statistics for sensor:<id>; s->version is copied. */
void ksd_emit_snapshot(struct ksd_emit *e, const struct ksd_sensor_snapshot *s);

void ksd_emit_get_stats(struct ksd_emit *e, struct ksd_emit_stats *out);

/*
 * Stop: reset the reconnect backoff and keep connecting and delivering (ring,
 * spool, batch in flight) for at most drain_timeout_ms; then write whatever
 * remains to the spool (replayed by the next run), fsync it, join the thread
 * and free e.
 * Returns 0 when everything was delivered, 1 when events were left in the
 * spool, KSD_ELIMIT when events had to be dropped (no spool, or spool full).
 */
int ksd_emit_stop(struct ksd_emit *e, int drain_timeout_ms);
/* The same, filling *final with the counters as they stood at the end. */
int ksd_emit_stop_stats(struct ksd_emit *e, int drain_timeout_ms, struct ksd_emit_stats *final);

#endif
