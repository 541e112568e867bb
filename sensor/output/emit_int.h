/*
 * emit_int.h - what the parts of the Redis output share, inside
 * sensor/output/ only: the output's state (struct ksd_emit), the per-batch
 * scratch of the two store paths, and the calls between emit.c (thread,
 * queue, backoff) and store.c (the two store paths).
 */
#ifndef KSD_EMIT_INT_H
#define KSD_EMIT_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "sensor/output/emit.h"
#include "sensor/output/redisconn.h"
#include "sensor/output/resp.h"
#include "sensor/output/spool.h"

#define EMIT_JSON_MAX 16384 /* one event as JSON; event.h bounds it below 8 KiB */
#define EMIT_KEY_MAX  256   /* a Redis key we build */

/* Per-event strings of one group, referenced by argv until the append. */
struct emit_slot {
    char k_seen[EMIT_KEY_MAX]; /* the group's j-th distinct bucket: seen:<sensor>:m<minute> */
    char k_host[EMIT_KEY_MAX]; /* the group's j-th distinct client: host:<client> */
    char k_old[EMIT_KEY_MAX];  /* spool replay: seen:<sensor>:<id> of earlier versions */
    const char *b_sensor;      /* bucket j: its sensor */
    long long b_minute;        /* bucket j: its minute */
    size_t c_first;            /* client j: its first event in the group */
    char bi[24];               /* bucket index, 1-based */
    char ci[24];               /* client index, 1-based */
    char tss[24];              /* ts, Unix seconds */
    char ts[32];               /* ts, ISO 8601 */
    char id[24];               /* id, 16 hex digits */
    char sport[8];             /* decimal */
    char dport[8];             /* decimal */
    char conf[16];             /* decimal */
    char cnt[16];              /* decimal, "" when 0 */
    int jl;                    /* JSON length */
    char json[EMIT_JSON_MAX];  /* ksd_event_json */
};

#define EMIT_ARGS_PER_EVENT 31 /* 3 keys (bucket, host, former seen key) + 28 values */
#define EMIT_MAX_ARGS       (16 + KSD_EMIT_GROUP * EMIT_ARGS_PER_EVENT)
#define EMIT_CHASH          (4 * KSD_EMIT_GROUP) /* client hash slots, a power of two */

#define EMIT_HOST_KINDS 16                 /* evidence kinds and categories folded per client */
#define EMIT_TXN_CHASH  (4 * KSD_EMIT_TXN) /* client hash slots, a power of two */
#define EMIT_ALL_CHASH  (EMIT_TXN_CHASH > EMIT_CHASH ? EMIT_TXN_CHASH : EMIT_CHASH)

/* One client of a transaction: its events folded (plan_txn). */
struct emit_host {
    size_t ev0;                        /* its first event: client text */
    size_t last_ev;                    /* latest event raising the running maximum ts */
    size_t opt_ev[3];                  /* latest such event with site, managed, ruleset */
    long long first_s, max_s;          /* ts range, Unix s */
    uint32_t n;                        /* its events */
    int nkinds, ncats;                 /* used entries of kind/cat */
    const char *kind[EMIT_HOST_KINDS]; /* distinct evidence kinds */
    uint32_t kind_n[EMIT_HOST_KINDS];  /* their counts */
    const char *cat[EMIT_HOST_KINDS];  /* distinct categories, in order */
    char key[EMIT_KEY_MAX];            /* host:<client> */
    char cats[EMIT_HOST_KINDS * 17];   /* "a,b" */
};

/* One seen bucket of a transaction. */
struct emit_bucket {
    const char *sensor;     /* its sensor */
    long long minute;       /* its minute */
    size_t n, off;          /* its ids: e->ids + 16 * off, n of them */
    char key[EMIT_KEY_MAX]; /* seen:<sensor>:m<minute> */
};

struct emit_slot;
struct emit_host;
struct emit_bucket;

enum emit_status {
    EMIT_PENDING, /* not yet answered */
    EMIT_STORED,  /* script returned 1 */
    EMIT_DUP,     /* script returned 0 */
    EMIT_DROP,    /* rejected KSD_EMIT_MAX_ATTEMPTS times */
};

struct ksd_emit {
    /* configuration, read-only once the thread runs */
    struct ksd_redis_target tgt;                 /* parsed target */
    char target_text[KSD_REDIS_MAX_HOST];        /* for log messages */
    char prefix[64];                             /* key prefix */
    bool (*trend_product)(const char *, size_t); /* conf.trend_product (NULL = no trend) */
    char sensor_id[64];                          /* default sensor name */
    struct ksd_redis_auth auth;                  /* "" password = no AUTH */
    int connect_timeout_ms;                      /* per connection attempt */
    int command_timeout_ms;                      /* socket read/write timeout */
    size_t cap;                                  /* ring capacity */
    long maxlen;                                 /* XADD MAXLEN ~ */
    int stats_interval_ms;                       /* sensor:<id> refresh */
    int stats_ttl_s;                             /* its EXPIRE */
    int dedup_ttl_s;                             /* seen key EX */
    int wait_ms;                                 /* WAIT timeout; 0 = no WAIT */
    void (*log)(void *arg, const char *m);       /* state-change messages or NULL */
    void *log_arg;                               /* for log */
    char k_events[EMIT_KEY_MAX];                 /* prefix + "events" */
    char k_hosts[EMIT_KEY_MAX];                  /* prefix + "hosts" */
    char k_live[EMIT_KEY_MAX];                   /* prefix + "live" */
    char k_sensor[EMIT_KEY_MAX];                 /* prefix + "sensor:" + id */
    int64_t start_s;                             /* ksd_emit_start time, Unix s */

    pthread_t thr;                   /* the output thread */
    pthread_mutex_t mu;              /* guards the fields up to the thread-only block */
    pthread_cond_t cv;               /* wakes the thread: push, stop */
    struct ksd_event *ring;          /* cap events */
    size_t head;                     /* oldest */
    size_t count;                    /* queued */
    size_t inflight;                 /* batch size, for stats */
    size_t wake_at;                  /* thread waits until count (+ sp_new) >= wake_at */
    size_t sp_new;                   /* events spooled since the thread last read */
    int wake_sp;                     /* the wait counts sp_new */
    enum ksd_emit_sync sync;         /* spool fsync policy */
    char spool_path[256];            /* for log messages */
    int waiting;                     /* thread is in cond wait */
    int stopping;                    /* ksd_emit_stop called */
    int64_t deadline;                /* monotonic ms, when stopping */
    int connected;                   /* a usable context exists */
    struct ksd_emit_stats st;        /* counters */
    struct ksd_sensor_snapshot snap; /* latest ksd_emit_snapshot */
    char snap_version[64];           /* its version, copied */
    struct ksd_spool *spool;         /* NULL = no spool */
    int result;                      /* ksd_emit_stop's return value */

    /* output thread only */
    redisContext *ctx;        /* NULL while disconnected */
    int backoff_ms;           /* next reconnect delay */
    int64_t next_connect;     /* monotonic ms */
    int64_t next_stats;       /* monotonic ms */
    int64_t next_sync;        /* monotonic ms */
    int64_t wait_skip_until;  /* no WAIT before this, monotonic ms */
    int down_logged;          /* the current outage was logged */
    int stop_seen;            /* the stop was seen: backoff reset, short retries */
    unsigned drops_logged;    /* bit per enum ksd_emit_drop already logged */
    int corrupt_logged;       /* spool damage was logged */
    int ever_connected;       /* for the reconnect counter */
    struct ksd_event *batch;  /* KSD_EMIT_MAX_BATCH events in flight */
    unsigned char *status;    /* enum emit_status per batch event */
    unsigned char *attempts;  /* sends rejected per batch event */
    size_t nbatch;            /* events in batch */
    size_t batch_orig;        /* events the spool batch started with */
    int batch_from_spool;     /* batch was read from the spool */
    int batch_replay;         /* ... and holds records of an earlier run */
    int batch_sent;           /* some of the batch went out: resend with emit_script */
    uint64_t batch_next;      /* spool position after the batch */
    struct emit_slot *slots;  /* KSD_EMIT_GROUP per-event scratch */
    uint16_t *chash;          /* EMIT_CHASH, the group's clients by hash */
    struct emit_host *hosts;  /* KSD_EMIT_TXN, the transaction's clients */
    struct emit_bucket *bkts; /* KSD_EMIT_TXN, its seen buckets */
    uint16_t *bidx;           /* KSD_EMIT_TXN, bucket of each of its events */
    size_t *parts;            /* KSD_EMIT_MAX_BATCH, events per transaction or group */
    char *ids;                /* 16 * KSD_EMIT_TXN, the ids by bucket */
    char *json;               /* EMIT_JSON_MAX, one event */
    struct ksd_resp out;      /* the fresh path's commands */
    const char **argv;        /* EMIT_MAX_ARGS, one group command */
    size_t *argl;             /* their lengths */
    char errmsg[256];         /* last connection error */
};

static inline int64_t ksd_emit_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* emit.c: count and remove the resolved events of the batch. */
void ksd_emit_commit_batch(struct ksd_emit *e);
/* The trend keys of the batch's stored events (trend.c). 0, or -1 when the
 * connection failed. */
int ksd_emit_write_trend(struct ksd_emit *e);
/* emit.c: free the connection (logged once per outage) and back off. */
void ksd_emit_drop_conn(struct ksd_emit *e, const char *why);

/*
 * store.c: pipeline the batch (plus WAIT for sentinel targets) and read
 * every reply. Returns 0, or -1 when the connection must be dropped.
 */
int ksd_store_send_batch(struct ksd_emit *e);

#endif
