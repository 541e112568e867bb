/*
 * web_guard.h - deadlines for the dashboard's connections that a trickle of
 * bytes does not reset, and room kept for new clients.
 *
 * libmicrohttpd 0.9.75 has an idle timeout (MHD_OPTION_CONNECTION_TIMEOUT),
 * a global cap (MHD_OPTION_CONNECTION_LIMIT) and a per-address cap
 * (MHD_OPTION_PER_IP_CONNECTION_LIMIT); web.c sets all three. The idle
 * timeout restarts with every byte received, so a client that sends one byte
 * every few seconds keeps its connection (and, with thread per connection,
 * its thread) for ever. The guard adds what is missing: each connection has
 * KSD_WEB_HEADER_TIMEOUT_S from its start (or from the end of its previous
 * answer) to complete the request line and headers, then
 * KSD_WEB_BODY_TIMEOUT_S to complete the body; a watchdog thread shuts the
 * socket of a connection past its deadline, which makes libmicrohttpd close
 * it. When more than KSD_WEB_MAX_WAITING connections have not yet sent a
 * whole request, the oldest of them is shut at once, so a flood of slow
 * clients never fills the global cap. Connections being answered (a page, a
 * live stream) have no deadline here.
 */
#ifndef KSD_WEB_GUARD_H
#define KSD_WEB_GUARD_H

#include <microhttpd.h>

#define KSD_WEB_HEADER_TIMEOUT_S 10  /* request line and headers, from connect or last answer */
#define KSD_WEB_BODY_TIMEOUT_S   10  /* request body, from the end of the headers */
#define KSD_WEB_GUARD_TICK_MS    250 /* watchdog period */

struct ksd_web_guard;

/* Start the watchdog thread; max_waiting = connections allowed without a
 * complete request before the oldest is shut. NULL when out of memory or
 * threads. */
struct ksd_web_guard *ksd_web_guard_start(int max_waiting);

/* Stop the watchdog and free g (after MHD_stop_daemon: no callback may run). */
void ksd_web_guard_stop(struct ksd_web_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls = the guard): records and
 * forgets connections. */
void ksd_web_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);

/* MHD_OPTION_NOTIFY_COMPLETED callback (cls = the guard): an answer ended;
 * the connection's next request gets a new header deadline. */
void ksd_web_guard_completed(void *cls, struct MHD_Connection *c, void **req,
                             enum MHD_RequestTerminationCode toe);

/* From the access handler: the headers are in (body deadline starts). */
void ksd_web_guard_headers(struct ksd_web_guard *g, struct MHD_Connection *c);

/* From the access handler: the request is complete and being answered. */
void ksd_web_guard_answering(struct ksd_web_guard *g, struct MHD_Connection *c);

/* Connections shut by the guard so far (deadline or eviction). */
unsigned long ksd_web_guard_shut(struct ksd_web_guard *g);

#endif
