/*
 * web.c - the `ksd dashboard` HTTP server: the embedded analyst page and a
 * read-only JSON API over Redis (through sensor/analyst/report.h), plus a
 * Server-Sent Events stream (/api/live, text/event-stream as in the WHATWG
 * HTML standard, section 9.2) that forwards the live channel.
 *
 * It does not write to Redis, serve files from disk, accept request bodies
 * or anything but GET/HEAD. libmicrohttpd runs one thread per connection, so
 * a live stream may block in its reader callback: it waits at most a second
 * at a time for the next message, sends a comment line every
 * KSD_WEB_HEARTBEAT_MS (which also finds a client that went away: the write
 * fails and the stream is freed), and ends when the server stops. Ordinary
 * API calls share one Redis connection under a mutex, reopened after a
 * failure. HTTP Basic auth (RFC 7617) is libmicrohttpd's; the password's
 * SHA-256 is compared with CRYPTO_memcmp, so the time taken depends on
 * neither the password nor its length. Every string in a JSON answer is
 * written with ksd_json_string; the page inserts them with textContent only.
 *
 * Limits: a global connection cap, a per-address cap and an idle timeout
 * (libmicrohttpd options), and deadlines for the request headers and body
 * that a trickle of bytes does not reset (web_guard.c), which also keeps
 * room for new clients under a flood of slow ones. The server binds its own
 * socket so that a busy port is reported with the address.
 */
#include "sensor/analyst/web.h"

#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "dissectors/ksd.h"
#include "sensor/output/emit.h"
#include "sensor/analyst/metrics.h"
#include "sensor/output/redisconn.h"
#include "sensor/analyst/web_assets.h"
#include "sensor/analyst/web_guard.h"

#define WEB_USER      "ksd" /* the Basic auth user name */
#define WEB_BACKLOG   64    /* listen(2) queue */
#define WEB_WAIT_MS   1000  /* live stream: longest wait before checking for shutdown */
#define WEB_MAX_COUNT 1000  /* /api/events?count cap (also KSD_REPORT_MAX_EVENTS) */

struct ksd_web {
    struct MHD_Daemon *d;                       /* the server */
    struct ksd_web_guard *guard;                /* request deadlines */
    int fd;                                     /* listening socket; -1 = none */
    pthread_mutex_t mu;                         /* guards db */
    struct ksd_report_db *db;                   /* shared connection for API calls; NULL = closed */
    struct ksd_report_conf rc;                  /* points into the copies below */
    char target[512];                           /* copy of conf target */
    char prefix[128];                           /* copy of conf prefix */
    char auth_file[512];                        /* copy of conf auth file */
    int auth;                                   /* 1 = Basic auth required */
    unsigned char pw_sha[SHA256_DIGEST_LENGTH]; /* SHA-256 of the password */
    atomic_int live;                            /* open live streams */
    atomic_int stopping;                        /* set by ksd_web_stop */
    atomic_llong log_second;                    /* Unix second of the last libmicrohttpd message */
    int port;                                   /* bound port */
};

struct web_live {
    struct ksd_web *w;          /* server */
    struct ksd_report_sub *sub; /* dedicated subscription */
    struct ksd_report_buf out;  /* bytes to send */
    size_t off;                 /* sent so far from out */
    int idle_ms;                /* time since the last line was queued */
};

/* ---- responses ---- */

static void add_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                            "form-action 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static enum MHD_Result send_bytes(struct MHD_Connection *c, unsigned status, const char *type,
                                  const void *p, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    add_headers(r, type);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_bytes(c, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static enum MHD_Result send_json_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    struct ksd_report_buf b = {0};
    ksd_report_buf_str(&b, "{\"error\":");
    ksd_report_buf_json(&b, msg, strlen(msg));
    ksd_report_buf_str(&b, "}");
    enum MHD_Result ok =
        b.oom ? MHD_NO : send_bytes(c, status, "application/json; charset=utf-8", b.p, b.len);
    ksd_report_buf_free(&b);
    return ok;
}

/* ---- auth ---- */

static int authorized(const struct ksd_web *w, struct MHD_Connection *c)
{
    char *pass = NULL;
    unsigned char got[SHA256_DIGEST_LENGTH];
    if (!w->auth)
        return 1;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    int ok = 0;
    if (user && pass) {
        SHA256((const unsigned char *)pass, strlen(pass), got);
        /* both tests always run: the time says nothing about which failed */
        int same_user = strcmp(user, WEB_USER) == 0;
        int same_pass = CRYPTO_memcmp(got, w->pw_sha, sizeof(got)) == 0;
        ok = same_user & same_pass;
        explicit_bzero(got, sizeof(got));
    }
    if (pass) {
        explicit_bzero(pass, strlen(pass));
        MHD_free(pass);
    }
    if (user)
        MHD_free(user);
    return ok;
}

static enum MHD_Result send_unauthorized(struct MHD_Connection *c)
{
    static const char msg[] = "authentication required\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    add_headers(r, "text/plain; charset=utf-8");
    enum MHD_Result ok = MHD_queue_basic_auth_fail_response(c, "ksd", r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- API ---- */

static const char *arg(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && v[0] ? v : NULL;
}

/* A small non-negative integer argument, def when absent, -1 when malformed. */
static long arg_long(struct MHD_Connection *c, const char *name, long def, long max)
{
    const char *v = arg(c, name);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < 0)
        return -1;
    return x > max ? max : x;
}

enum web_api {
    WEB_API_HOSTS,
    WEB_API_SITES,
    WEB_API_TIMELINE,
    WEB_API_SENSORS,
    WEB_API_EVENTS,
    WEB_API_METRICS,
};

struct web_query {
    struct ksd_report_filter f; /* hosts, sites */
    long n;                     /* hours or count */
};

/* One report call on the shared connection, reopened once when broken. */
typedef int (*web_db_fn)(struct ksd_report_db *db, void *arg, struct ksd_report_buf *b);

static int run_db(struct ksd_web *w, web_db_fn fn, void *arg, struct ksd_report_buf *b, char *err,
                  size_t errlen)
{
    int rc = KSD_EINVAL;
    pthread_mutex_lock(&w->mu);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!w->db && !(w->db = ksd_report_open(&w->rc, err, errlen)))
            break;
        b->len = 0;
        if (b->p)
            b->p[0] = '\0';
        rc = fn(w->db, arg, b);
        if (rc == KSD_OK)
            break;
        snprintf(err, errlen, "%s", ksd_report_error(w->db));
        if (!ksd_report_broken(w->db))
            break;
        ksd_report_close(w->db);
        w->db = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == KSD_OK && b->oom) {
        snprintf(err, errlen, "out of memory");
        rc = KSD_ENOMEM;
    }
    return rc;
}

/* The call of one web_api on a connection (run_db's callback). */
struct web_api_call {
    enum web_api api;          /* which */
    const struct web_query *q; /* its arguments */
};

static int api_call(struct ksd_report_db *db, void *arg, struct ksd_report_buf *b)
{
    const struct web_api_call *a = arg;
    const struct web_query *q = a->q;
    int rc = KSD_EINVAL;
    switch (a->api) {
        case WEB_API_HOSTS:
        case WEB_API_SITES: {
            struct ksd_report_host *h = NULL;
            struct ksd_report_site *s = NULL;
            size_t n = 0;
            rc = ksd_report_hosts(db, &q->f, &h, &n);
            if (rc == KSD_OK && a->api == WEB_API_HOSTS) {
                ksd_report_hosts_json(b, h, n);
            } else if (rc == KSD_OK) {
                size_t ns = ksd_report_sites(h, n, &s);
                ksd_report_sites_json(b, s, ns);
            }
            free(h);
            free(s);
            break;
        }
        case WEB_API_TIMELINE:
            rc = ksd_report_timeline_json(db, (int)q->n, b);
            break;
        case WEB_API_SENSORS:
            rc = ksd_report_sensors_json(db, b);
            break;
        case WEB_API_EVENTS:
            rc = ksd_report_events_json(db, (size_t)q->n, b);
            break;
        case WEB_API_METRICS: {
            struct ksd_metrics *m = calloc(1, sizeof(*m));
            rc = m ? ksd_report_sensors(db, ksd_metrics_add, m) : KSD_ENOMEM;
            if (rc == KSD_OK)
                ksd_metrics_format(m, b);
            free(m);
            break;
        }
    }
    return rc;
}

static enum MHD_Result serve_api(struct ksd_web *w, struct MHD_Connection *c, enum web_api api)
{
    struct web_query q;
    struct ksd_report_buf b = {0};
    char err[256] = "";
    memset(&q, 0, sizeof(q));
    q.f.verdict = -1;
    if (api == WEB_API_HOSTS || api == WEB_API_SITES) {
        const char *since = arg(c, "since"), *site = arg(c, "site"), *v = arg(c, "verdict");
        const char *um = arg(c, "unmanaged");
        if (since && ksd_report_parse_date(since, &q.f.since) != KSD_OK) {
            char *end;
            long long t = strtoll(since, &end, 10);
            if (*end || t < 0)
                return send_json_error(c, MHD_HTTP_BAD_REQUEST, "since: not a date");
            q.f.since = (int64_t)t;
        }
        if (v) {
            enum ksd_sig_verdict vd;
            if (ksd_sig_verdict_parse(v, &vd) != KSD_OK)
                return send_json_error(c, MHD_HTTP_BAD_REQUEST, "verdict: unknown");
            q.f.verdict = (int)vd;
        }
        q.f.site = site;
        q.f.unmanaged = um && strcmp(um, "0") != 0;
        q.f.top_scan = api == WEB_API_HOSTS ? KSD_WEB_TOP_SCAN : 0;
    } else if (api == WEB_API_TIMELINE) {
        q.n = arg_long(c, "hours", 48, KSD_REPORT_MAX_HOURS);
        if (q.n < 1)
            return send_json_error(c, MHD_HTTP_BAD_REQUEST, "hours: 1..720");
    } else if (api == WEB_API_EVENTS) {
        q.n = arg_long(c, "count", 50, WEB_MAX_COUNT);
        if (q.n < 1)
            return send_json_error(c, MHD_HTTP_BAD_REQUEST, "count: 1..1000");
    }
    enum MHD_Result ok;
    struct web_api_call call = {api, &q};
    if (run_db(w, api_call, &call, &b, err, sizeof(err)) != KSD_OK)
        ok = send_json_error(c, MHD_HTTP_BAD_GATEWAY, err[0] ? err : "Redis error");
    else
        ok = send_bytes(c, MHD_HTTP_OK,
                        api == WEB_API_METRICS ? KSD_METRICS_CONTENT_TYPE
                                               : "application/json; charset=utf-8",
                        b.p, b.len);
    ksd_report_buf_free(&b);
    return ok;
}

/* ---- host page and trend (issue 17, points 8 and 9) ---- */

struct web_host_arg {
    const char *client; /* asked for */
    long count;         /* events */
    int found;          /* the host has a record */
};

static int host_call(struct ksd_report_db *db, void *arg, struct ksd_report_buf *b)
{
    struct web_host_arg *a = arg;
    struct ksd_report_host h;
    return ksd_report_host_page(db, a->client, (size_t)a->count, &h, NULL, NULL, b, &a->found);
}

/* GET /api/host?client=ADDR[&count=N]: the host record and its newest events. */
static enum MHD_Result serve_host(struct ksd_web *w, struct MHD_Connection *c)
{
    struct web_host_arg a = {arg(c, "client"),
                             arg_long(c, "count", KSD_REPORT_HOST_EVENTS, WEB_MAX_COUNT), 0};
    struct ksd_report_buf b = {0};
    char err[256] = "";
    if (!a.client || !a.client[0] || strlen(a.client) >= 64)
        return send_json_error(c, MHD_HTTP_BAD_REQUEST, "client: an address is required");
    if (a.count < 1)
        return send_json_error(c, MHD_HTTP_BAD_REQUEST, "count: 1..1000");
    enum MHD_Result ok;
    if (run_db(w, host_call, &a, &b, err, sizeof(err)) != KSD_OK)
        ok = send_json_error(c, MHD_HTTP_BAD_GATEWAY, err[0] ? err : "Redis error");
    else if (!a.found)
        ok = send_json_error(c, MHD_HTTP_NOT_FOUND, "no such host");
    else
        ok = send_bytes(c, MHD_HTTP_OK, "application/json; charset=utf-8", b.p, b.len);
    ksd_report_buf_free(&b);
    return ok;
}

struct web_trend_arg {
    int64_t first, last; /* days asked for */
    const char *site;    /* NULL = every site */
};

static int trend_call(struct ksd_report_db *db, void *arg, struct ksd_report_buf *b)
{
    struct web_trend_arg *a = arg;
    struct ksd_report_trend_row *r = NULL;
    size_t n = 0;
    int rc = ksd_report_trend(db, a->first, a->last, a->site, &r, &n);
    if (rc == KSD_OK)
        ksd_report_trend_json(b, r, n);
    free(r);
    return rc;
}

/* GET /api/trend?days=N[&since=DATE][&until=DATE][&site=S]: the rows of
 * ksd report --trend --json. */
static enum MHD_Result serve_trend(struct ksd_web *w, struct MHD_Connection *c)
{
    long days = arg_long(c, "days", KSD_REPORT_TREND_DAYS, KSD_REPORT_MAX_DAYS);
    const char *since = arg(c, "since"), *until = arg(c, "until");
    struct web_trend_arg a = {0, (int64_t)time(NULL), arg(c, "site")};
    struct ksd_report_buf b = {0};
    char err[256] = "";
    int64_t t;
    if (days < 1)
        return send_json_error(c, MHD_HTTP_BAD_REQUEST, "days: 1..366");
    if (until) {
        if (ksd_report_parse_date(until, &t) != KSD_OK)
            return send_json_error(c, MHD_HTTP_BAD_REQUEST, "until: not a date");
        a.last = t;
    }
    a.first = a.last - (int64_t)(days - 1) * 86400;
    if (since) {
        if (ksd_report_parse_date(since, &t) != KSD_OK)
            return send_json_error(c, MHD_HTTP_BAD_REQUEST, "since: not a date");
        if (t > a.first)
            a.first = t;
    }
    enum MHD_Result ok;
    if (run_db(w, trend_call, &a, &b, err, sizeof(err)) != KSD_OK)
        ok = send_json_error(c, MHD_HTTP_BAD_GATEWAY, err[0] ? err : "Redis error");
    else
        ok = send_bytes(c, MHD_HTTP_OK, "application/json; charset=utf-8", b.p, b.len);
    ksd_report_buf_free(&b);
    return ok;
}

/* ---- live stream ---- */

static ssize_t live_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct web_live *l = cls;
    (void)pos;
    while (l->off >= l->out.len) {
        if (atomic_load(&l->w->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        l->out.len = 0;
        l->off = 0;
        struct ksd_report_buf msg = {0};
        int rc = ksd_report_sub_next(l->sub, WEB_WAIT_MS, &msg);
        if (rc < 0) {
            ksd_report_buf_free(&msg);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (rc == 1 && !msg.oom) {
            ksd_report_buf_str(&l->out, "data: ");
            ksd_report_buf_add(&l->out, msg.p, msg.len);
            ksd_report_buf_str(&l->out, "\n\n");
            l->idle_ms = 0;
        } else {
            l->idle_ms += WEB_WAIT_MS;
            if (l->idle_ms >= KSD_WEB_HEARTBEAT_MS) {
                ksd_report_buf_str(&l->out, ": heartbeat\n\n");
                l->idle_ms = 0;
            }
        }
        ksd_report_buf_free(&msg);
        if (l->out.oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = l->out.len - l->off;
    if (n > max)
        n = max;
    memcpy(buf, l->out.p + l->off, n);
    l->off += n;
    return (ssize_t)n;
}

static void live_free(void *cls)
{
    struct web_live *l = cls;
    ksd_report_sub_close(l->sub);
    ksd_report_buf_free(&l->out);
    atomic_fetch_sub(&l->w->live, 1);
    free(l);
}

static enum MHD_Result serve_live(struct ksd_web *w, struct MHD_Connection *c)
{
    char err[256];
    if (atomic_fetch_add(&w->live, 1) >= KSD_WEB_MAX_LIVE) {
        atomic_fetch_sub(&w->live, 1);
        return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many live streams\n");
    }
    struct web_live *l = calloc(1, sizeof(*l));
    if (!l) {
        atomic_fetch_sub(&w->live, 1);
        return MHD_NO;
    }
    l->w = w;
    l->sub = ksd_report_subscribe(&w->rc, err, sizeof(err));
    if (!l->sub) {
        free(l);
        atomic_fetch_sub(&w->live, 1);
        return send_json_error(c, MHD_HTTP_BAD_GATEWAY, err);
    }
    /* the first bytes go out at once so that the client sees the stream open */
    ksd_report_buf_str(&l->out, "retry: 3000\n: connected\n\n");
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, live_read, l, live_free);
    if (!r) {
        live_free(l);
        return MHD_NO;
    }
    add_headers(r, "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- dispatch ---- */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req)
{
    struct ksd_web *w = cls;
    (void)version;
    (void)upload;
    if (*req == NULL) {
        /* first call: headers only; answer on the last (a body is dropped below) */
        static int marker;
        *req = &marker;
        ksd_web_guard_headers(w->guard, c);
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    ksd_web_guard_answering(w->guard, c);
    if (!authorized(w, c))
        return send_unauthorized(c);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return send_bytes(c, MHD_HTTP_OK, "text/html; charset=utf-8", ksd_web_index_html,
                          sizeof(ksd_web_index_html) - 1);
    if (strcmp(url, "/app.js") == 0)
        return send_bytes(c, MHD_HTTP_OK, "text/javascript; charset=utf-8", ksd_web_app_js,
                          sizeof(ksd_web_app_js) - 1);
    if (strcmp(url, "/style.css") == 0)
        return send_bytes(c, MHD_HTTP_OK, "text/css; charset=utf-8", ksd_web_style_css,
                          sizeof(ksd_web_style_css) - 1);
    if (strcmp(url, "/api/hosts") == 0)
        return serve_api(w, c, WEB_API_HOSTS);
    if (strcmp(url, "/api/sites") == 0)
        return serve_api(w, c, WEB_API_SITES);
    if (strcmp(url, "/api/timeline") == 0)
        return serve_api(w, c, WEB_API_TIMELINE);
    if (strcmp(url, "/api/sensors") == 0)
        return serve_api(w, c, WEB_API_SENSORS);
    if (strcmp(url, "/api/events") == 0)
        return serve_api(w, c, WEB_API_EVENTS);
    if (strcmp(url, "/api/live") == 0)
        return serve_live(w, c);
    if (strcmp(url, "/metrics") == 0)
        return serve_api(w, c, WEB_API_METRICS);
    if (strcmp(url, "/api/host") == 0)
        return serve_host(w, c);
    if (strcmp(url, "/api/trend") == 0)
        return serve_trend(w, c);
    return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* ---- start / stop ---- */

/* The password file's first line (the whole line, spaces included) into its
 * SHA-256; the only place the dashboard reads a secret. */
static int read_password(const char *path, unsigned char sha[SHA256_DIGEST_LENGTH], char *err,
                         size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "ksd dashboard: warning: %s is readable by other users\n", path);
    char line[KSD_WEB_MAX_PASSWORD];
    if (ksd_redisconn_read_line(path, line, sizeof(line), err, errlen) != KSD_OK)
        return -1;
    SHA256((const unsigned char *)line, strlen(line), sha);
    explicit_bzero(line, sizeof(line));
    return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl, char *err,
                        size_t errlen)
{
    char host[256], port[16];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            goto bad;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
            goto bad;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
        goto bad;
    snprintf(port, sizeof(port), "%s", colon + 1);
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p < 0 || p > 65535)
        goto bad;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        goto bad;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sl = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
bad:
    snprintf(err, errlen, "--listen: expected HOST:PORT or [V6]:PORT, got %s", s);
    return -1;
}

static int copy_opt(char *dst, size_t cap, const char *s, const char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    if (strlen(s) >= cap)
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    *out = dst;
    return 0;
}

/* A listening socket on ss; -1 with a message naming the address (and what
 * to do when the port is taken). */
static int open_listener(const struct sockaddr_storage *ss, socklen_t sl, const char *name,
                         int *port, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", name, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, WEB_BACKLOG) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s%s", name, strerror(e),
                 e == EADDRINUSE ? " (another program, perhaps another ksd dashboard, holds "
                                   "this port; stop it or choose another with --listen)"
                                 : "");
        close(fd);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof(got);
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
        *port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

/* libmicrohttpd's own error messages, marked as the dashboard's; at most one
 * a second, since clients can cause them (a bad Authorization header). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct ksd_web *w = cls;
    long long now = (long long)time(NULL);
    if (atomic_exchange(&w->log_second, now) == now)
        return;
    fputs("ksd dashboard: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void web_free(struct ksd_web *w)
{
    if (w->fd >= 0)
        close(w->fd);
    ksd_web_guard_stop(w->guard);
    ksd_report_close(w->db);
    explicit_bzero(w->pw_sha, sizeof(w->pw_sha));
    pthread_mutex_destroy(&w->mu);
    free(w);
}

struct ksd_web *ksd_web_start(const struct ksd_web_conf *c, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    const char *listen = c->listen ? c->listen : KSD_WEB_DEFAULT_LISTEN;
    if (parse_listen(listen, &ss, &sl, err, errlen) != 0)
        return NULL;
    if (!c->redis.target || ksd_redisconn_parse_target(c->redis.target, NULL, NULL) != KSD_OK) {
        snprintf(err, errlen, "--redis: bad target (HOST:PORT or unix:PATH)");
        return NULL;
    }
    struct ksd_web *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    atomic_init(&w->live, 0);
    atomic_init(&w->stopping, 0);
    atomic_init(&w->log_second, 0);
    w->rc.timeout_ms = c->redis.timeout_ms;
    if (copy_opt(w->target, sizeof(w->target), c->redis.target, &w->rc.target) ||
        copy_opt(w->prefix, sizeof(w->prefix), c->redis.prefix, &w->rc.prefix) ||
        copy_opt(w->auth_file, sizeof(w->auth_file), c->redis.auth_file, &w->rc.auth_file)) {
        snprintf(err, errlen, "Redis option too long");
        goto err;
    }
    if (c->password_file) {
        if (read_password(c->password_file, w->pw_sha, err, errlen) != 0)
            goto err;
        w->auth = 1;
    }
    w->fd = open_listener(&ss, sl, listen, &w->port, err, errlen);
    if (w->fd < 0)
        goto err;
    w->guard = ksd_web_guard_start(KSD_WEB_MAX_WAITING);
    if (!w->guard) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    w->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w,
                            MHD_OPTION_LISTEN_SOCKET, w->fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)KSD_WEB_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)KSD_WEB_MAX_PER_CLIENT, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)KSD_WEB_IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION,
                            ksd_web_guard_notify, w->guard, MHD_OPTION_NOTIFY_COMPLETED,
                            ksd_web_guard_completed, w->guard, MHD_OPTION_END);
    if (!w->d) {
        snprintf(err, errlen, "cannot serve on %s (libmicrohttpd failed to start)", listen);
        goto err;
    }
    w->fd = -1; /* the daemon's now: closed by MHD_stop_daemon */
    return w;
err:
    web_free(w);
    return NULL;
}

int ksd_web_port(const struct ksd_web *w)
{
    return w->port;
}

void ksd_web_stop(struct ksd_web *w)
{
    if (!w)
        return;
    atomic_store(&w->stopping, 1);
    MHD_stop_daemon(w->d);
    web_free(w);
}

/* ---- ksd dashboard ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: ksd dashboard [--redis HOST:PORT|unix:PATH] [--redis-prefix P]\n"
               "                     [--redis-auth-file FILE] [--listen HOST:PORT]\n"
               "                     [--password-file FILE]\n"
               "\n"
               "  --redis TARGET        Redis written by ksd --redis (default 127.0.0.1:6379)\n"
               "  --listen HOST:PORT    address to serve on (default " KSD_WEB_DEFAULT_LISTEN ")\n"
               "  --password-file FILE  require HTTP Basic auth: user ksd, password = first "
               "line\n");
}

int ksd_web_main(int argc, char **argv)
{
    enum {
        O_REDIS = 256,
        O_PREFIX,
        O_AUTH,
        O_LISTEN,
        O_PASSWORD,
    };
    static const struct option opts[] = {
        {"redis", required_argument, NULL, O_REDIS},
        {"redis-prefix", required_argument, NULL, O_PREFIX},
        {"redis-auth-file", required_argument, NULL, O_AUTH},
        {"listen", required_argument, NULL, O_LISTEN},
        {"password-file", required_argument, NULL, O_PASSWORD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ksd_web_conf conf;
    char err[512];
    int o;
    memset(&conf, 0, sizeof(conf));
    conf.redis.target = "127.0.0.1:6379";
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
            case O_REDIS:
                conf.redis.target = optarg;
                break;
            case O_PREFIX:
                conf.redis.prefix = optarg;
                break;
            case O_AUTH:
                conf.redis.auth_file = optarg;
                break;
            case O_LISTEN:
                conf.listen = optarg;
                break;
            case O_PASSWORD:
                conf.password_file = optarg;
                break;
            case 'h':
                usage(stdout);
                return 0;
            default:
                fprintf(stderr, "ksd dashboard: unknown option or missing argument: %s\n",
                        optind > 0 && optind <= argc ? argv[optind - 1] : "?");
                usage(stderr);
                return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ksd dashboard: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    /* the server threads inherit this mask: only sigwait below sees the signals */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct ksd_web *w = ksd_web_start(&conf, err, sizeof(err));
    if (!w) {
        fprintf(stderr, "ksd dashboard: %s\n", err);
        return strncmp(err, "--", 2) == 0 ? 2 : 1;
    }
    fprintf(stderr, "ksd dashboard: serving on port %d (%s), reading %s\n", ksd_web_port(w),
            conf.listen ? conf.listen : KSD_WEB_DEFAULT_LISTEN, conf.redis.target);
    int sig = 0;
    sigwait(&set, &sig);
    ksd_web_stop(w);
    return 0;
}
