/*
 * redisconn.h - one way to reach Redis for every part of ksd: the sensor's
 * output thread (emit.c), `ksd report` and the dashboard. A target string
 * (HOST:PORT, [V6]:PORT, unix:PATH or sentinel://H:P[,H:P...]/MASTER), the
 * auth file ("password" or "user password" on its first line) and the
 * connection itself: Sentinel discovery, AUTH, and for Sentinel targets a
 * ROLE check that the address is a master.
 *
 * The header does not need hiredis.h (the context is an opaque struct), so
 * the dashboard can read its password file with the same reader.
 */
#ifndef KSD_REDISCONN_H
#define KSD_REDISCONN_H

#include <stddef.h>

#define KSD_REDIS_MAX_SENTINELS 8   /* sentinel://h1:p1,...,h8:p8/name */
#define KSD_REDIS_MAX_HOST      256 /* host name or address text */
#define KSD_REDIS_MAX_SECRET    512 /* password, and the first line of a secret file */

enum ksd_redis_kind {
    KSD_REDIS_TCP,      /* HOST:PORT or [V6]:PORT */
    KSD_REDIS_UNIX,     /* unix:PATH */
    KSD_REDIS_SENTINEL, /* sentinel://HOST:PORT[,HOST:PORT...]/MASTER */
};

struct ksd_redis_hostport {
    char host[KSD_REDIS_MAX_HOST]; /* without brackets */
    int port;                      /* 1..65535 */
};

struct ksd_redis_target {
    enum ksd_redis_kind kind;                                     /* which of the three forms */
    struct ksd_redis_hostport addr;                               /* KSD_REDIS_TCP */
    char path[108];                                               /* KSD_REDIS_UNIX socket path */
    struct ksd_redis_hostport sentinels[KSD_REDIS_MAX_SENTINELS]; /* KSD_REDIS_SENTINEL */
    int nsentinels;                                               /* 1..KSD_REDIS_MAX_SENTINELS */
    char master[128];                                             /* sentinel master name */
};

struct ksd_redis_auth {
    char user[128];                  /* ACL user, "" = password only */
    char pass[KSD_REDIS_MAX_SECRET]; /* "" = no AUTH */
};

struct redisContext; /* hiredis */

/*
 * Parse and validate a target string. Returns 0, or KSD_EINVAL with *reason
 * pointing to a static message (reason may be NULL). out may be NULL to only
 * validate.
 */
int ksd_redisconn_parse_target(const char *s, struct ksd_redis_target *out, const char **reason);

/*
 * The first line of a secret file, without its line end, into buf (cap
 * bytes); the stack copy is wiped. Returns 0, or KSD_EINVAL with "PATH:
 * reason" in err (unreadable, empty first line, longer than cap - 1).
 */
int ksd_redisconn_read_line(const char *path, char *buf, size_t cap, char *err, size_t errlen);

/* An auth file: "password" or "user password". 0 or KSD_EINVAL (err set). */
int ksd_redisconn_read_auth(const char *path, struct ksd_redis_auth *a, char *err, size_t errlen);

/* The parts of a connection attempt; what = "" on success. */
struct ksd_redisconn_opts {
    int connect_timeout_ms; /* per TCP or unix connection */
    int command_timeout_ms; /* socket read/write timeout */
    int check_role;         /* Sentinel targets: ROLE must say master */
};

enum ksd_redisconn_fail {
    KSD_REDISCONN_OK,      /* connected */
    KSD_REDISCONN_CONNECT, /* no connection (or no sentinel knew the master) */
    KSD_REDISCONN_AUTH,    /* AUTH refused, or ROLE not master */
};

/*
 * Connect to t (asking the sentinels in turn for a Sentinel target), AUTH
 * with a when a->pass is set, set the command timeout and TCP keepalive.
 * Returns the context (free with redisFree) or NULL with *fail set and a
 * message without secrets in err. where gets "host:port" or the path of the
 * server reached (may be NULL).
 */
struct redisContext *ksd_redisconn_open(const struct ksd_redis_target *t,
                                        const struct ksd_redis_auth *a,
                                        const struct ksd_redisconn_opts *o, char *where,
                                        size_t wlen, enum ksd_redisconn_fail *fail, char *err,
                                        size_t errlen);

#endif
