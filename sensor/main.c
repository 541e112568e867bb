/*
 * main.c - the ksd program: wires capture, the worker pipeline, signatures
 * and outputs together, handles signals and prints statistics. It is the
 * only file that knows every stage (STYLE.md part 3).
 *
 * Signals: SIGINT/SIGTERM stop reading, drain and flush, exit 0; SIGUSR1
 * prints statistics to stderr; SIGHUP reopens --json, --facts and the log
 * file (after a rotation) and reloads the signature file (a bad file keeps
 * the old set and logs FILE:LINE: reason). Signals go to this thread only
 * (the others block them), which sleeps in poll(2) on an idle link, so each
 * is acted on within a timer period.
 *
 * Timers run on the monotonic clock, packets or not: every KSD_TICK_US the
 * workers get the wall-clock time (live flow expiry, address rules that
 * waited for a label) and the output files their whole lines; every
 * KSD_SNAPSHOT_US the figures of sensor:<id> go to the Redis output, whose
 * thread writes the hash every 5 s on its own clock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sensor/path/capture.h"
#include "sensor/path/classify.h"
#include "sensor/config.h"
#include "sensor/output/event.h"
#include "sensor/path/known.h"
#include "sensor/log.h"
#include "sensor/privdrop.h"
#include "sensor/output/emit.h"
#include "sensor/path/worker.h"
#include "sensor/path/pool.h"
#include "sensor/analyst/report.h"
#include "sensor/analyst/web.h"
#include "signatures/sig.h"

#define KSD_TICK_US 250000 /* timers: live clock to workers, output flush, signals */
#define KSD_SNAPSHOT_US                                                                            \
    1000000 /* figures handed to the Redis output (it writes sensor:<id> every 5 s) */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t stats_requested;
static volatile sig_atomic_t reload_requested;
static struct ksd_capture *volatile current_capture;

static void on_signal(int sig)
{
    if (sig == SIGUSR1) {
        stats_requested = 1;
    } else if (sig == SIGHUP) {
        reload_requested = 1;
    } else {
        stop_requested = 1;
        if (current_capture)
            ksd_capture_break(current_capture);
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Reload and statistics must not interrupt a read in progress. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...)
{
    char buf[KSD_LOG_MAX_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ksd_log(LOG_ERR, "%s", buf);
}

static struct ksd_sigset *load_sigs(const char *path);

static int check_signatures(const char *path)
{
    struct ksd_sigset *s = load_sigs(path);
    if (!s)
        return 1;
    static const char *const kinds[] = {"domain", "cidr", "port",      "ja3",
                                        "ja4",    "cert", "http_path", "http_ua"};
    printf("%s: ok, version %s, %zu rules, %zu bytes compiled\n", path, ksd_sig_version(s),
           ksd_sig_count(s, -1), ksd_sig_memory(s));
    printf("by kind:");
    for (int k = 0; k < KSD_RULE__COUNT && k < 8; k++)
        printf(" %s=%zu", kinds[k], ksd_sig_count(s, k));
    printf("\nby category:");
    size_t nc;
    const char *const *cats = ksd_sig_categories(&nc);
    for (size_t i = 0; i < nc; i++)
        printf(" %s=%zu", cats[i], ksd_sig_count_category(s, cats[i]));
    printf("\n");
    ksd_sig_free(s);
    return 0;
}

/* The known-host and site files of the configuration; both or neither. */
static int load_lists(const struct ksd_config *cfg, struct ksd_known **known,
                      struct ksd_known **sites)
{
    char err[512];
    *known = *sites = NULL;
    if (cfg->known_hosts &&
        !(*known = ksd_known_load(cfg->known_hosts, KSD_KNOWN_HOSTS, err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (cfg->sites && !(*sites = ksd_known_load(cfg->sites, KSD_KNOWN_SITES, err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        ksd_known_free(*known);
        *known = NULL;
        return -1;
    }
    return 0;
}

static struct ksd_sigset *load_sigs(const char *path)
{
    struct ksd_sigset *s = NULL;
    struct ksd_sig_error err;
    if (ksd_sig_load_file(path, &s, &err) != 0) {
        /* FILE:LINE: reason for a bad line, FILE: reason for a file that cannot be read */
        if (err.line > 0)
            fprintf(stderr, "%s:%d: %s\n", err.file, err.line, err.reason);
        else
            fprintf(stderr, "%s: %s\n", err.file[0] ? err.file : path, err.reason);
        return NULL;
    }
    return s;
}

static struct ksd_event_out *open_out(const char *path)
{
    char err[512];
    struct ksd_event_out *o = ksd_event_out_open(path, err, sizeof(err));
    if (!o)
        log_msg("%s", err);
    return o;
}

/*
 * The domain rules as an nDPI protocols file (custom protocol "Kaspersky"),
 * so nDPI's own host matching labels the same flows. Website rules are left
 * out: a visit to kaspersky.com is not the product. Returns the path of a
 * temporary file (the caller unlinks it) or NULL.
 */
static char *write_ndpi_protos(const struct ksd_sigset *s, char path[32])
{
    snprintf(path, 32, "/tmp/ksd-ndpi-XXXXXX");
    size_t n = ksd_sig_count(s, -1), k = 0;
    const char **names = calloc(n ? n : 1, sizeof(*names));
    if (!names)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const struct ksd_rule *r = ksd_sig_rule_at(s, i);
        if (r && r->kind == KSD_RULE_DOMAIN && strcmp(r->category, "website") != 0)
            names[k++] = r->pattern;
    }
    int fd = mkstemp(path);
    if (fd < 0) {
        free(names);
        return NULL;
    }
    close(fd);
    int rc = ksd_classify_write_protos(path, names, k);
    free(names);
    if (rc < 0) {
        unlink(path);
        return NULL;
    }
    return path;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Everything a run needs, owned by main. */
struct run {
    const struct ksd_config *cfg;
    struct ksd_pool *pool;
    struct ksd_sink sink;
    struct ksd_emit *emit;
    struct ksd_sigset *sigs;
    struct ksd_known *known;
    struct ksd_known *sites;
    uint64_t drops;        /* capture drops reported so far */
    int64_t started;       /* Unix seconds */
    int64_t last_snap;     /* monotonic us of the last Redis snapshot */
    int64_t next_tick;     /* monotonic us of the next timer run */
    int live;              /* reading an interface */
    uint64_t lost_said[2]; /* lines lost on --json, --facts at the last flush */
    int losing[2];         /* losing lines at the last flush (logged once per burst) */
    int progress;          /* show a progress line */
    int64_t prog_last;     /* monotonic us of the last progress line */
    int64_t prog_start;
};

static void emit_log(void *arg, const char *msg)
{
    (void)arg;
    log_msg("redis: %s", msg);
}

static void push_event(void *arg, const struct ksd_event *ev)
{
    ksd_emit_push(arg, ev);
}

static void snapshot(struct run *r, int force)
{
    if (!r->emit)
        return;
    int64_t now = mono_us();
    if (!force && now - r->last_snap < KSD_SNAPSHOT_US)
        return;
    r->last_snap = now;
    struct ksd_sensor_snapshot s = {ksd_pool_packets(r->pool),
                                    ksd_pool_bytes(r->pool),
                                    r->drops,
                                    ksd_pool_flows(r->pool),
                                    0,
                                    r->started,
                                    KSD_VERSION};
    pthread_mutex_lock(&r->sink.lock);
    s.events = r->sink.events;
    pthread_mutex_unlock(&r->sink.lock);
    ksd_emit_snapshot(r->emit, &s);
}

static void show_progress(struct run *r, struct ksd_capture *c, const char *name, int final)
{
    if (!r->progress)
        return;
    int64_t now = mono_us();
    if (!final && now - r->prog_last < 500000)
        return;
    r->prog_last = now;
    double secs = (double)(now - r->prog_start) / 1e6;
    uint64_t size = ksd_capture_size(c), off = ksd_capture_offset(c);
    pthread_mutex_lock(&r->sink.lock);
    uint64_t events = r->sink.events;
    pthread_mutex_unlock(&r->sink.lock);
    fprintf(stderr, "\r%s: %llu/%llu MB (%3.0f%%), %.0f packets/s, %llu detections   %s", name,
            (unsigned long long)(off >> 20), (unsigned long long)(size >> 20),
            size ? 100.0 * (double)off / (double)size : 0.0,
            secs > 0 ? (double)ksd_pool_packets(r->pool) / secs : 0.0, (unsigned long long)events,
            final ? "\n" : "");
}

/* Write the whole lines of --json and --facts (with the workers' lock). */
static void flush_outputs(struct run *r)
{
    if (!r->sink.json && !r->sink.facts)
        return;
    struct ksd_event_out *outs[2] = {r->sink.json, r->sink.facts};
    static const char *const names[2] = {"--json", "--facts"};
    uint64_t lost[2] = {0, 0};
    pthread_mutex_lock(&r->sink.lock);
    for (int i = 0; i < 2; i++)
        if (outs[i]) {
            ksd_event_out_flush(outs[i]);
            lost[i] = ksd_event_out_lost(outs[i]);
        }
    pthread_mutex_unlock(&r->sink.lock);
    /* a full disk or a closed pipe: said once per burst of losses */
    for (int i = 0; i < 2; i++) {
        int losing = lost[i] > r->lost_said[i];
        if (losing && !r->losing[i])
            log_msg("%s: cannot write; %llu lines lost so far", names[i],
                    (unsigned long long)lost[i]);
        r->losing[i] = losing;
        r->lost_said[i] = lost[i];
    }
}

/* SIGHUP, the logrotate postrotate contract: --json, --facts and the log
 * file are written to the paths anew (created when they were moved away). */
static void reopen_outputs(struct run *r)
{
    char err[512];
    struct ksd_event_out *outs[2] = {r->sink.json, r->sink.facts};
    pthread_mutex_lock(&r->sink.lock);
    for (int i = 0; i < 2; i++)
        if (outs[i] && ksd_event_out_reopen(outs[i], err, sizeof(err)) < 0)
            log_msg("%s", err);
    pthread_mutex_unlock(&r->sink.lock);
    if (ksd_log_reopen(err, sizeof(err)) < 0)
        log_msg("%s", err);
}

/*
 * SIGHUP: load rules, known hosts and sites anew; only when all three load
 * are they swapped in, between two frames, so no packet is lost. Otherwise
 * the old set stays and the reason is logged as FILE:LINE: reason.
 */
static void reload(struct run *r)
{
    struct ksd_sigset *n = load_sigs(r->cfg->sigfile);
    struct ksd_known *nk, *ns;
    if (!n || load_lists(r->cfg, &nk, &ns) < 0) {
        ksd_sig_free(n);
        log_msg("reload failed; keeping rule set version %s", ksd_sig_version(r->sigs));
        return;
    }
    char pbuf[32];
    char *protos = r->cfg->ndpi ? write_ndpi_protos(n, pbuf) : NULL;
    struct ksd_lists l = {n, nk, ns, protos};
    ksd_pool_set_lists(r->pool, &l); /* returns once every worker has adopted them */
    if (protos)
        unlink(protos);
    ksd_sig_free(r->sigs);
    ksd_known_free(r->known);
    ksd_known_free(r->sites);
    r->sigs = n;
    r->known = nk;
    r->sites = ns;
    log_msg("reloaded %s (version %s, %zu rules), %zu known hosts, %zu sites", r->cfg->sigfile,
            ksd_sig_version(n), ksd_sig_count(n, -1), ksd_known_count(nk), ksd_known_count(ns));
}

/* The timers, and the requests of signals; called after each batch of
 * frames and whenever the capture has nothing to read. */
static void timers(struct run *r, struct ksd_capture *c, const char *name)
{
    int64_t now = mono_us();
    if (now >= r->next_tick) {
        r->next_tick = now + KSD_TICK_US;
        if (r->live) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ksd_pool_clock(r->pool, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
        }
        flush_outputs(r);
        show_progress(r, c, name, 0);
        if (r->emit) {
            struct ksd_capture_stats cs;
            if (ksd_capture_stats(c, &cs) == 0)
                r->drops = cs.dropped + cs.ifdropped + ksd_pool_capture_drops(r->pool, NULL);
            snapshot(r, 0);
        }
    }
    if (stats_requested) {
        stats_requested = 0;
        ksd_pool_print_stats(r->pool, stderr);
    }
    if (reload_requested) {
        reload_requested = 0;
        reopen_outputs(r);
        reload(r);
    }
}

/* Read one source to its end (or until stopped). Returns 0, or 1 on a read error. */
static int run_source(struct run *r, struct ksd_capture *c, const char *name)
{
    struct ksd_frame fr;
    int rc = 0;
    uint64_t n = 0;
    current_capture = c;
    while (!stop_requested) {
        int got = ksd_capture_next(c, &fr);
        if (got == 1) {
            ksd_pool_packet(r->pool, &fr);
            if ((++n & 0x3ff) != 0 && !stats_requested && !reload_requested)
                continue;
        } else if (got == 0) {
            break;
        } else if (got < 0) {
            log_msg("%s: read error: %s", name, ksd_capture_error(c));
            rc = 1;
            break;
        } else {
            /* nothing to read now: workers take what is queued, then sleep
             * until a packet, the next timer or a signal */
            ksd_pool_kick(r->pool);
            int64_t wait = r->next_tick - mono_us();
            if (wait > 0 && !stats_requested && !reload_requested &&
                ksd_capture_wait(c, -1, (int)(wait / 1000) + 1) < 0) {
                log_msg("%s: read error: %s", name, ksd_capture_error(c));
                rc = 1;
                break;
            }
        }
        timers(r, c, name);
    }
    ksd_pool_kick(r->pool);
    show_progress(r, c, name, 1);
    current_capture = NULL;
    return rc;
}

/*
 * Live with N workers: N - 1 more sockets on the interface, all N in one
 * PACKET_FANOUT group, so the kernel hands each worker its own clients'
 * packets and no thread copies frames for another. On failure (an old
 * kernel, a socket limit) the capture thread dispatches as offline.
 */
static void open_fanout(struct ksd_capture *first, const char *iface,
                        const struct ksd_capture_opts *co, int workers,
                        const struct ksd_sigset *sigs,
                        struct ksd_capture *fan[KSD_POOL_MAX_WORKERS])
{
    char err[512];
    int group = (int)(getpid() & 0xffff);
    /* where managed hosts listen (from-server port rules, e.g. KSC's UDP
     * 15000): that side is the client, so those flows meet the host's others */
    uint16_t agent[KSD_CAPTURE_MAX_AGENT_PORTS];
    int na = 0;
    size_t nr = sigs ? ksd_sig_count(sigs, -1) : 0;
    for (size_t i = 0; i < nr; i++) {
        const struct ksd_rule *r = ksd_sig_rule_at(sigs, i);
        if (!r || r->kind != KSD_RULE_PORT || r->dir != KSD_SIG_FROM_SERVER)
            continue;
        for (uint32_t port = r->port_lo; port <= r->port_hi && na < KSD_CAPTURE_MAX_AGENT_PORTS;
             port++)
            agent[na++] = (uint16_t)port;
    }
    fan[0] = first;
    int ok = ksd_capture_fanout(first, group, agent, na, err, sizeof(err)) == 0;
    for (int i = 1; ok && i < workers; i++)
        ok = (fan[i] = ksd_capture_open_live(iface, co, err, sizeof(err))) &&
             ksd_capture_fanout(fan[i], group, agent, na, err, sizeof(err)) == 0;
    if (ok)
        return;
    ksd_log(LOG_WARNING, "%s: no fanout (%s); the capture thread dispatches", iface, err);
    for (int i = 1; i < workers; i++) {
        ksd_capture_close(fan[i]);
        fan[i] = NULL;
    }
    fan[0] = NULL;
}

static int start_redis(struct run *r)
{
    const struct ksd_config *cfg = r->cfg;
    const char *why;
    if (ksd_emit_parse_target(cfg->redis, NULL, &why) != 0) {
        log_msg("--redis %s: %s", cfg->redis, why);
        return KSD_EXIT_USAGE;
    }
    struct ksd_emit_conf ec;
    memset(&ec, 0, sizeof(ec));
    ec.target = cfg->redis;
    ec.prefix = cfg->redis_prefix;
    ec.auth_file = cfg->redis_auth_file;
    ec.sensor_id = cfg->sensor_id;
    ec.spool_path = cfg->spool;
    ec.stream_maxlen = cfg->stream_maxlen;
    ec.connect_timeout_ms = cfg->redis_connect_timeout_ms;
    ec.command_timeout_ms = cfg->redis_timeout_ms;
    ec.queue_max = (size_t)cfg->redis_queue;
    ec.spool_max_bytes = (uint64_t)cfg->spool_max_mb << 20;
    ec.log = emit_log;
    char err[512];
    r->emit = ksd_emit_start(&ec, err, sizeof(err));
    if (!r->emit) {
        log_msg("redis: %s", err);
        return KSD_EXIT_USAGE;
    }
    r->sink.push = push_event;
    r->sink.push_arg = r->emit;
    return 0;
}

static void stop_redis(struct run *r, int stats)
{
    if (!r->emit)
        return;
    snapshot(r, 1);
    struct ksd_emit_stats es;
    ksd_emit_get_stats(r->emit, &es);
    /* Drain for up to 10 s while Redis answers; when it is down, one more
     * second for a reconnect, then what is left goes to the spool. */
    int rc = ksd_emit_stop_stats(r->emit, es.connected ? 10000 : 1000, &es);
    if (stats)
        fprintf(stderr,
                "redis: pushed=%llu sent=%llu duplicates_skipped=%llu spooled=%llu "
                "replayed=%llu left_in_spool=%llu dropped=%llu reconnects=%llu errors=%llu\n",
                (unsigned long long)es.pushed, (unsigned long long)es.sent,
                (unsigned long long)es.duplicates_skipped, (unsigned long long)es.spooled,
                (unsigned long long)es.replayed, (unsigned long long)es.spool_now,
                (unsigned long long)es.dropped, (unsigned long long)es.reconnects,
                (unsigned long long)es.errors);
    if (rc == 1)
        log_msg("redis: unreachable at exit; undelivered events kept in the spool %s",
                r->cfg->spool ? r->cfg->spool : "(none)");
    else if (rc < 0)
        log_msg("redis: some events could not be delivered (see the dropped counter)");
    r->emit = NULL;
}

int main(int argc, char **argv)
{
    /* Subcommands that read Redis: the report and the web dashboard. */
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return ksd_report_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "dashboard") == 0)
        return ksd_web_main(argc - 1, argv + 1);
    struct ksd_config cfg;
    int rc = ksd_config_parse(&cfg, argc, argv);
    if (rc < 0)
        return 0;
    if (rc)
        return rc;
    if (cfg.check_sigs)
        return check_signatures(cfg.check_sigs);
    if (cfg.print_config) {
        ksd_config_print(&cfg, stdout);
        return 0;
    }
    ksd_log_init(cfg.use_syslog, "ksd");

    struct run r;
    memset(&r, 0, sizeof(r));
    r.cfg = &cfg;
    pthread_mutex_init(&r.sink.lock, NULL);
    r.started = (int64_t)time(NULL);
    int status = 0;
    char *protos = NULL, pbuf[32];
    struct ksd_capture *live = NULL;                        /* opened before the privilege drop */
    struct ksd_capture *fan[KSD_POOL_MAX_WORKERS] = {NULL}; /* its fanout sockets */
    int workers = cfg.threads > 0 ? cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 1)
        workers = 1;
    if (workers > KSD_POOL_MAX_WORKERS)
        workers = KSD_POOL_MAX_WORKERS;
    char err[512];
    if (!(r.sigs = load_sigs(cfg.sigfile)))
        return KSD_EXIT_USAGE;
    if (load_lists(&cfg, &r.known, &r.sites) < 0) {
        status = KSD_EXIT_USAGE;
        goto out;
    }
    if ((cfg.json && !(r.sink.json = open_out(cfg.json))) ||
        (cfg.facts && !(r.sink.facts = open_out(cfg.facts)))) {
        status = 1;
        goto out;
    }
    struct ksd_capture_opts co = {cfg.snaplen, cfg.buffer_mb, 1, cfg.filter};
    if (cfg.iface) {
        live = ksd_capture_open_live(cfg.iface, &co, err, sizeof(err));
        if (!live) {
            log_msg("%s", err);
            status = 1;
            goto out;
        }
        if (workers > 1)
            open_fanout(live, cfg.iface, &co, workers, r.sigs, fan);
    }
    if (cfg.iface || cfg.user) {
        int pd = ksd_privdrop(cfg.user, err, sizeof(err));
        if (pd < 0) {
            log_msg("cannot drop privileges: %s", err);
            status = 1;
            goto out;
        }
        if (pd == 1)
            ksd_log(LOG_WARNING, "%s (give --user to choose an unprivileged user)", err);
    }
    /* Signals are for this thread alone (the emit and worker threads inherit
     * the mask): it is the one that sleeps in poll and acts on them. */
    sigset_t sigs, oldmask;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, &oldmask);
    if (cfg.redis && (status = start_redis(&r)) != 0) {
        pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
        goto out;
    }

    r.sink.threaded = workers > 1;
    struct ksd_worker_conf wc = {cfg.max_flows, (int64_t)cfg.dedup_window_s * 1000000,
                                 cfg.sensor_id, cfg.ndpi,
                                 NULL,          cfg.ndpi_full};
    protos = cfg.ndpi ? write_ndpi_protos(r.sigs, pbuf) : NULL;
    wc.ndpi_protos = protos;
    struct ksd_lists lists = {r.sigs, r.known, r.sites, NULL};
    int fanout = fan[1] != NULL;
    r.pool = fanout ? ksd_pool_new_fanout(workers, &wc, &r.sink, &lists, fan)
                    : ksd_pool_new(workers, &wc, &r.sink, &lists);
    memset(fan, 0, sizeof(fan)); /* the pool owns them now (also when it failed) */
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    if (protos)
        unlink(protos);
    if (!r.pool) {
        log_msg("cannot start %d workers (out of memory?)", workers);
        status = 1;
        goto out;
    }
    install_signals();

    r.prog_start = mono_us();
    r.progress = cfg.progress == 1 || (cfg.progress == -1 && isatty(2) && !cfg.iface);
    if (live) {
        struct ksd_capture *c = live;
        live = NULL;
        r.live = 1;
        log_msg("capturing on %s (%s), %d worker%s%s", cfg.iface, ksd_capture_linktype_name(c),
                workers, workers > 1 ? "s" : "",
                fanout ? ", one socket each (PACKET_FANOUT by client address)" : "");
        status = run_source(&r, c, cfg.iface);
        ksd_pool_finish(r.pool); /* the workers' sockets report their last figures */
        struct ksd_capture_stats cs;
        if (ksd_capture_stats(c, &cs) == 0) {
            uint64_t recv = 0, drops = ksd_pool_capture_drops(r.pool, &recv);
            r.drops = cs.dropped + cs.ifdropped + drops;
            if (cfg.stats || r.drops)
                fprintf(stderr, "capture: received=%llu dropped=%llu ifdropped=%llu\n",
                        (unsigned long long)(cs.received + recv),
                        (unsigned long long)(cs.dropped + drops), (unsigned long long)cs.ifdropped);
        }
        ksd_capture_close(c);
    } else {
        for (int i = 0; i < cfg.n_inputs && !stop_requested; i++) {
            struct ksd_capture *c = ksd_capture_open_file(cfg.inputs[i], &co, err, sizeof(err));
            if (!c) {
                log_msg("%s", err);
                status = 1;
                continue;
            }
            if (run_source(&r, c, cfg.inputs[i]))
                status = 1;
            ksd_capture_close(c);
        }
    }
    ksd_pool_finish(r.pool);
    if (cfg.stats) {
        ksd_pool_print_stats(r.pool, stderr);
        /* reading and analysis only: before the Redis output's drain */
        fprintf(stderr, "time: packets processed in %.3f s\n",
                (double)(mono_us() - r.prog_start) / 1e6);
    }
    flush_outputs(&r); /* events before the host table when both go to standard output */
    if (cfg.hosts)
        ksd_pool_print_hosts(r.pool, stdout);
out:
    stop_redis(&r, cfg.stats);
    ksd_event_out_close(r.sink.json);
    ksd_event_out_close(r.sink.facts);
    fflush(stdout);
    if (live)
        ksd_capture_close(live);
    for (int i = 1; i < KSD_POOL_MAX_WORKERS; i++)
        ksd_capture_close(fan[i]);
    ksd_pool_free(r.pool);
    ksd_sig_free(r.sigs);
    ksd_known_free(r.known);
    ksd_known_free(r.sites);
    pthread_mutex_destroy(&r.sink.lock);
    return status;
}
