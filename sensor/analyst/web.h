/*
 * web.h - `ksd dashboard`: a small HTTP server (libmicrohttpd) that serves
 * the analyst page (sensor/analyst/web/, embedded at build time) and a JSON
 * API over the Redis keys ksd writes, read through sensor/analyst/report.h:
 *
 *   GET /  /app.js  /style.css         the page (plain JS, no CDN)
 *   GET /api/hosts?since=&site=&unmanaged=1&verdict=   flagged hosts
 *   GET /api/sites                     per-site roll-up
 *   GET /api/timeline?hours=N          detections per hour (default 48)
 *   GET /api/sensors                   sensor:<id> hashes
 *   GET /api/events?count=N            newest events (default 50)
 *   GET /api/host?client=ADDR&count=N  one host: record and newest events (404: none)
 *   GET /api/trend?days=N&since=&until=&site=   product hosts per day and site
 *   GET /api/live                      Server-Sent Events from the live channel
 *   GET /metrics                       Prometheus text: per sensor counters (metrics.h)
 *
 * Bound to 127.0.0.1:8787 by default. With a password file, every path needs
 * HTTP Basic auth (user "ksd"). A client has KSD_WEB_HEADER_TIMEOUT_S to send
 * its request headers and KSD_WEB_BODY_TIMEOUT_S for a body, however slowly
 * the bytes trickle in (web_guard.h). Every response carries
 * Content-Security-Policy default-src 'self' and X-Content-Type-Options
 * nosniff.
 */
#ifndef KSD_WEB_H
#define KSD_WEB_H

#include "sensor/analyst/report.h"

#define KSD_WEB_DEFAULT_LISTEN  "127.0.0.1:8787"
#define KSD_WEB_MAX_CONNECTIONS 128 /* open HTTP connections (one thread each) */
#define KSD_WEB_MAX_PER_CLIENT  16  /* open connections from one address */
#define KSD_WEB_MAX_WAITING                                                                        \
    96                               /* connections without a whole request yet; beyond            \
                                        this the oldest is shut, so that 32 places stay            \
                                        for clients that send their request at once */
#define KSD_WEB_IDLE_TIMEOUT_S 30    /* no byte in either direction (an answer being read) */
#define KSD_WEB_MAX_LIVE       32    /* concurrent /api/live clients (one Redis connection each) */
#define KSD_WEB_HEARTBEAT_MS   15000 /* SSE comment line when no event came */
#define KSD_WEB_TOP_SCAN       20000 /* events read for the hosts' top indicators */
#define KSD_WEB_MAX_PASSWORD   256   /* password file line */

struct ksd_web_conf {
    const char *listen;           /* "HOST:PORT" or "[V6]:PORT"; NULL = KSD_WEB_DEFAULT_LISTEN;
                                     port 0 picks a free port (see ksd_web_port) */
    const char *password_file;    /* first line = password of user "ksd"; NULL = no auth */
    struct ksd_report_conf redis; /* where to read; strings are copied */
};

struct ksd_web;

/*
 * Read the password file, bind and start serving (own threads). Redis being
 * down is not an error: API calls answer 502 until it is back. NULL with a
 * message in err on a bad listen address, an unreadable/empty password file
 * or a port that cannot be bound. Stop with ksd_web_stop.
 */
struct ksd_web *ksd_web_start(const struct ksd_web_conf *c, char *err, size_t errlen);

/* The bound TCP port. */
int ksd_web_port(const struct ksd_web *w);

/* Close the listening socket, end live streams (within about a second) and free w. */
void ksd_web_stop(struct ksd_web *w);

/* `ksd dashboard [options]` (argv[0] is the subcommand name); serves until
 * SIGINT or SIGTERM. Returns the exit status (0, 1 runtime error, 2 usage). */
int ksd_web_main(int argc, char **argv);

#endif
