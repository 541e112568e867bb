/*
 * web_guard.c - request deadlines and room for new clients on the dashboard
 * (see web_guard.h for what libmicrohttpd offers and what this adds).
 *
 * Every connection libmicrohttpd accepts gets a record (its socket context)
 * in one list under a mutex: its socket, the phase of its current request
 * and when that phase began. The watchdog thread wakes every
 * KSD_WEB_GUARD_TICK_MS and shuts (shutdown(2), both directions) the socket
 * of each connection whose header or body phase has lasted too long; the
 * connection's own thread then sees the end of the stream and closes it.
 * libmicrohttpd calls the CLOSED notification before it closes the socket,
 * and that notification takes the same mutex, so the guard never touches a
 * socket number that was closed and reused. It does not parse HTTP, count
 * bytes or look at addresses (the per-address cap is libmicrohttpd's).
 * RFC 9112 section 9.8 allows a server to close an idle connection at any
 * time; a client whose request was cut gets no answer, as with any timeout.
 */
#include "sensor/analyst/web_guard.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

enum guard_phase {
    GUARD_HEADERS,   /* waiting for the request line and headers */
    GUARD_BODY,      /* headers in, waiting for the end of the body */
    GUARD_ANSWERING, /* request complete: no deadline */
    GUARD_SHUT,      /* shut by the guard; waiting for the CLOSED notification */
};

struct guard_conn {
    struct guard_conn *prev, *next; /* list of open connections */
    int fd;                         /* the connection's socket */
    enum guard_phase phase;         /* of the current request */
    int64_t since_ms;               /* monotonic start of the phase */
};

struct ksd_web_guard {
    pthread_mutex_t mu;      /* guards everything below */
    pthread_cond_t wake;     /* signalled by stop */
    pthread_t thread;        /* the watchdog */
    struct guard_conn *head; /* open connections, newest first */
    int waiting;             /* connections in GUARD_HEADERS or GUARD_BODY */
    int max_waiting;         /* above this, the oldest waiting one is shut */
    int stopping;            /* set by stop */
    unsigned long shut;      /* connections shut so far */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_waiting(enum guard_phase p)
{
    return p == GUARD_HEADERS || p == GUARD_BODY;
}

/* Under mu: move x to phase p from now on, keeping the waiting count. */
static void set_phase(struct ksd_web_guard *g, struct guard_conn *x, enum guard_phase p)
{
    g->waiting += is_waiting(p) - is_waiting(x->phase);
    x->phase = p;
    x->since_ms = now_ms();
}

/* Under mu: shut x's socket; its thread closes the connection. */
static void shut(struct ksd_web_guard *g, struct guard_conn *x)
{
    shutdown(x->fd, SHUT_RDWR);
    set_phase(g, x, GUARD_SHUT);
    g->shut++;
}

static void *watchdog(void *arg)
{
    struct ksd_web_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)KSD_WEB_GUARD_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->wake, &g->mu, &until);
        int64_t now = now_ms();
        for (struct guard_conn *x = g->head; x; x = x->next) {
            int64_t limit = x->phase == GUARD_HEADERS ? KSD_WEB_HEADER_TIMEOUT_S * 1000
                            : x->phase == GUARD_BODY  ? KSD_WEB_BODY_TIMEOUT_S * 1000
                                                      : -1;
            if (limit >= 0 && now - x->since_ms >= limit)
                shut(g, x);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

struct ksd_web_guard *ksd_web_guard_start(int max_waiting)
{
    struct ksd_web_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->max_waiting = max_waiting;
    if (pthread_create(&g->thread, NULL, watchdog, g) != 0) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

void ksd_web_guard_stop(struct ksd_web_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopping = 1;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    while (g->head) {
        struct guard_conn *x = g->head;
        g->head = x->next;
        free(x);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void ksd_web_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct ksd_web_guard *g = cls;
    struct guard_conn *x = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!x)
            return;
        pthread_mutex_lock(&g->mu);
        g->waiting -= is_waiting(x->phase);
        if (x->prev)
            x->prev->next = x->next;
        else
            g->head = x->next;
        if (x->next)
            x->next->prev = x->prev;
        pthread_mutex_unlock(&g->mu);
        free(x);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || !(x = calloc(1, sizeof(*x))))
        return; /* unguarded: libmicrohttpd's own limits still apply */
    x->fd = ci->connect_fd;
    x->phase = GUARD_ANSWERING;
    pthread_mutex_lock(&g->mu);
    set_phase(g, x, GUARD_HEADERS);
    x->next = g->head;
    if (g->head)
        g->head->prev = x;
    g->head = x;
    /* keep room: one more waiting connection than allowed shuts the oldest */
    if (g->waiting > g->max_waiting) {
        struct guard_conn *oldest = NULL;
        for (struct guard_conn *y = g->head; y; y = y->next)
            if (is_waiting(y->phase) && (!oldest || y->since_ms < oldest->since_ms))
                oldest = y;
        shut(g, oldest);
    }
    pthread_mutex_unlock(&g->mu);
    *socket_context = x;
}

/* The guard record of c, or NULL when it has none. */
static struct guard_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void move(struct ksd_web_guard *g, struct MHD_Connection *c, enum guard_phase p)
{
    struct guard_conn *x = conn_of(c);
    if (!x)
        return;
    pthread_mutex_lock(&g->mu);
    if (x->phase != GUARD_SHUT)
        set_phase(g, x, p);
    pthread_mutex_unlock(&g->mu);
}

void ksd_web_guard_completed(void *cls, struct MHD_Connection *c, void **req,
                             enum MHD_RequestTerminationCode toe)
{
    (void)req;
    (void)toe;
    move(cls, c, GUARD_HEADERS);
}

void ksd_web_guard_headers(struct ksd_web_guard *g, struct MHD_Connection *c)
{
    move(g, c, GUARD_BODY);
}

void ksd_web_guard_answering(struct ksd_web_guard *g, struct MHD_Connection *c)
{
    move(g, c, GUARD_ANSWERING);
}

unsigned long ksd_web_guard_shut(struct ksd_web_guard *g)
{
    pthread_mutex_lock(&g->mu);
    unsigned long n = g->shut;
    pthread_mutex_unlock(&g->mu);
    return n;
}
