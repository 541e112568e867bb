/*
 * emitbench.c - throughput of the Redis output (sensor/output/emit.c) against a
 * running server: pushes N distinct detection events as fast as it can and
 * reports delivered events per second (from the first push until Redis has
 * acknowledged the last one). It starts nothing itself.
 *
 *   build/tools/emitbench TARGET N [PREFIX [HOSTS]]
 *   e.g. build/tools/emitbench 127.0.0.1:6379 200000 bench: 1000
 *
 * Events come in runs of four per client address. Without HOSTS (or with
 * 0) every run has a new client, so nearly every host record is created
 * (about 50,000 for 200,000 events); with HOSTS the runs cycle through that
 * many clients, so after the first cycle every host record exists already.
 *
 * The producer keeps the in-memory ring (EMITBENCH_QUEUE events, default
 * 16384, more than 64) from filling: when it is nearly full it waits 50 us,
 * as a sensor's ring in steady state is reused rather than grown, so the
 * figure is the output thread's delivery rate, not the page faults of a ring
 * as large as N.
 *
 * Event ids are derived from the current time, so repeated runs against the
 * same server store new events instead of being deduplicated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sensor/output/emit.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, us % 1000000 * 1000};
    nanosleep(&ts, NULL);
}

/* the producer checks the ring once per PUSH_BURST pushes and waits while
 * fewer than RING_ROOM slots are free, so it never fills the ring */
enum { PUSH_BURST = 32, RING_ROOM = 64 };

static void make_event(struct ksd_event *ev, uint64_t id, uint64_t i, uint64_t hosts)
{
    uint64_t run = i / 4, c = hosts ? run % hosts : run;
    memset(ev, 0, sizeof(*ev));
    ev->id = id;
    ev->ts_us = (int64_t)time(NULL) * 1000000 + (int64_t)(i % 1000000);
    snprintf(ev->sensor, sizeof(ev->sensor), "bench");
    snprintf(ev->client, sizeof(ev->client), "10.%u.%u.%u", (unsigned)(c >> 16 & 255),
             (unsigned)(c >> 8 & 255), (unsigned)(c & 255));
    snprintf(ev->server, sizeof(ev->server), "203.0.113.5");
    ev->sport = (uint16_t)(1024 + i % 60000);
    ev->dport = 443;
    snprintf(ev->proto, sizeof(ev->proto), "tcp");
    snprintf(ev->evidence, sizeof(ev->evidence), i % 2 ? "sni" : "dns");
    snprintf(ev->indicator, sizeof(ev->indicator), "ksn-file-geo.kaspersky-labs.com");
    snprintf(ev->rule, sizeof(ev->rule), "kl-ksn-001");
    snprintf(ev->category, sizeof(ev->category), "telemetry");
    ev->confidence = 90;
    snprintf(ev->app, sizeof(ev->app), "TLS");
    ev->count = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST:PORT|unix:PATH|sentinel://... N [PREFIX [HOSTS]]\n",
                argv[0]);
        return 2;
    }
    long long n = atoll(argv[2]);
    if (n <= 0) {
        fprintf(stderr, "emitbench: N must be positive\n");
        return 2;
    }
    struct ksd_emit_conf c;
    memset(&c, 0, sizeof(c));
    c.target = argv[1];
    c.prefix = argc > 3 ? argv[3] : "bench:";
    uint64_t hosts = argc > 4 ? (uint64_t)atoll(argv[4]) : 0;
    c.sensor_id = "bench";
    const char *q = getenv("EMITBENCH_QUEUE");
    long long qn = q ? atoll(q) : 16384;
    if (qn <= RING_ROOM) {
        fprintf(stderr, "emitbench: EMITBENCH_QUEUE must be more than %d events\n", RING_ROOM);
        return 2;
    }
    c.queue_max = (size_t)qn;
    char err[256];
    struct ksd_emit *e = ksd_emit_start(&c, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "emitbench: %s\n", err);
        return 2;
    }
    /* wait for the connection so the figure measures delivery, not connect */
    struct ksd_emit_stats st;
    double t_conn = now_s();
    do {
        ksd_emit_get_stats(e, &st);
        if (st.connected)
            break;
        sleep_us(1000);
    } while (now_s() - t_conn < 5);
    if (!st.connected) {
        fprintf(stderr, "emitbench: cannot connect to %s\n", argv[1]);
        ksd_emit_stop(e, 0);
        return 1;
    }
    uint64_t base = (uint64_t)time(NULL) << 32;
    struct ksd_event ev;
    double t0 = now_s();
    for (long long i = 0; i < n; i++) {
        make_event(&ev, base + (uint64_t)i, (uint64_t)i, hosts);
        while (i % PUSH_BURST == 0) {
            ksd_emit_get_stats(e, &st);
            if (st.queued_now + RING_ROOM < c.queue_max)
                break;
            sleep_us(50);
        }
        ksd_emit_push(e, &ev);
    }
    double t_push = now_s();
    for (;;) {
        ksd_emit_get_stats(e, &st);
        if (st.sent + st.duplicates_skipped + st.dropped >= (uint64_t)n)
            break;
        sleep_us(200);
    }
    double t1 = now_s();
    int rc = ksd_emit_stop(e, 5000);
    printf("%lld events: pushed in %.3f s, delivered in %.3f s: %.0f events/s "
           "(sent %llu, duplicates %llu, dropped %llu, errors %llu)\n",
           n, t_push - t0, t1 - t0, (double)n / (t1 - t0), (unsigned long long)st.sent,
           (unsigned long long)st.duplicates_skipped, (unsigned long long)st.dropped,
           (unsigned long long)st.errors);
    return rc == 0 && st.dropped == 0 ? 0 : 1;
}
