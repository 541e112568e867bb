/*
 * main.c - the ksd program: wires capture, the worker pipeline, signatures
 * and outputs together, handles signals and prints statistics. It is the
 * only file that knows every stage (README, "Architecture").
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
#include "sensor/path/correlate.h"
#include "sensor/config.h"
#include "sensor/output/event.h"
#include "sensor/path/known.h"
#include "sensor/path/hostid.h"
#include "sensor/path/learned.h"
#include "sensor/log.h"
#include "sensor/privdrop.h"
#include "sensor/output/emit.h"
#include "sensor/output/redisconn.h"
#include "sensor/path/worker.h"
#include "sensor/path/pool.h"
#include "sensor/hosttable.h"
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

static int check_signatures(const char *path, const char *in_use)
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
    printf("\nrule set a run uses: %s%s\n", in_use,
           strcmp(in_use, KSD_BUILTIN_RULES) == 0 ? " (compiled in; no installed file)" : "");
    ksd_sig_free(s);
    return 0;
}

/* --print-config: which rule set a run would use, as a comment line. */
static int print_config(const struct ksd_config *cfg)
{
    ksd_config_print(cfg, stdout);
    const char *rules = ksd_config_rules(cfg);
    struct ksd_sigset *s = load_sigs(rules);
    if (!s) {
        /* showing the configuration is not running it: the reason is on stderr */
        printf("# rule set in use: %s (cannot be loaded)\n", rules);
        return 0;
    }
    printf("# rule set in use: %s%s, version %s, %zu rules\n", rules,
           strcmp(rules, cfg->sigfile) ? " (no installed file)" : "", ksd_sig_version(s),
           ksd_sig_count(s, -1));
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
    int rc = strcmp(path, KSD_BUILTIN_RULES) == 0
                 ? ksd_sig_load_buf(KSD_BUILTIN_RULES, ksd_builtin_rules, ksd_builtin_rules_len, &s,
                                    &err)
                 : ksd_sig_load_file(path, &s, &err);
    if (rc != 0) {
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
    struct ksd_capture_inputs in; /* offline: the files to read, in order */
    struct file_stat *files;      /* offline: per input file, as in.paths */
    uint32_t cur;                 /* offline: index of the file being read */
    size_t n_bad;                 /* offline: inputs not read completely */
};

/* What an offline run did with one input file. */
struct file_stat {
    uint64_t packets; /* frames read */
    int error;        /* 0, or 1 when it could not be opened or read to its end */
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
    char files[64] = "";
    if (r->files)
        snprintf(files, sizeof(files), "[%u/%zu, %zu damaged] ", r->cur + 1, r->in.n, r->n_bad);
    fprintf(stderr,
            "\r%s%s: %llu/%llu MB (%3.0f%%), %llu packets, %.0f packets/s, %llu detections   %s",
            files, name, (unsigned long long)(off >> 20), (unsigned long long)(size >> 20),
            size ? 100.0 * (double)off / (double)size : 0.0,
            (unsigned long long)(r->files ? r->files[r->cur].packets : ksd_pool_packets(r->pool)),
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
    struct ksd_sigset *n = load_sigs(ksd_config_rules(r->cfg));
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
    log_msg("reloaded %s (version %s, %zu rules), %zu known hosts, %zu sites",
            ksd_config_rules(r->cfg), ksd_sig_version(n), ksd_sig_count(n, -1), ksd_known_count(nk),
            ksd_known_count(ns));
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
            fr.src = r->cur;
            if (r->files)
                r->files[r->cur].packets++;
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
    /* several files: one progress line that ends with the last of them */
    show_progress(r, c, name, !r->files || r->cur + 1 >= r->in.n);
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
    if (ksd_redisconn_parse_target(cfg->redis, NULL, &why) != 0) {
        log_msg("--redis %s: %s", cfg->redis, why);
        return KSD_EXIT_USAGE;
    }
    struct ksd_emit_conf ec;
    memset(&ec, 0, sizeof(ec));
    ec.target = cfg->redis;
    ec.prefix = cfg->redis_prefix;
    ec.trend_product = ksd_sig_category_is_product;
    ec.auth_file = cfg->redis_auth_file;
    ec.sensor_id = cfg->sensor_id;
    ec.spool_path = cfg->spool;
    ec.stream_maxlen = cfg->stream_maxlen;
    ec.connect_timeout_ms = cfg->redis_connect_timeout_ms;
    ec.command_timeout_ms = cfg->redis_timeout_ms;
    ec.queue_max = (size_t)cfg->redis_queue;
    ec.spool_max_bytes = (uint64_t)cfg->spool_max_mb << 20;
    ec.spool_sync = (enum ksd_emit_sync)cfg->spool_sync;
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

/* Drain and stop the Redis output; returns 1 when detections were dropped.
 * Events left in the spool (--spool) are not lost: the next run delivers
 * them first, and the note on standard error says how many wait there. */
static int stop_redis(struct run *r, int stats)
{
    if (!r->emit)
        return 0;
    snapshot(r, 1);
    struct ksd_emit_stats es;
    /* keep connecting and delivering until the drain deadline; what is
     * left then goes to the spool */
    int rc = ksd_emit_stop_stats(r->emit, r->cfg->redis_drain_timeout_s * 1000, &es);
    if (stats) {
        fprintf(stderr,
                "redis: pushed=%llu sent=%llu duplicates_skipped=%llu spooled=%llu "
                "replayed=%llu left_in_spool=%llu dropped=%llu reconnects=%llu errors=%llu",
                (unsigned long long)es.pushed, (unsigned long long)es.sent,
                (unsigned long long)es.duplicates_skipped, (unsigned long long)es.spooled,
                (unsigned long long)es.replayed, (unsigned long long)es.spool_now,
                (unsigned long long)es.dropped, (unsigned long long)es.reconnects,
                (unsigned long long)es.errors);
        for (int d = 0; d < KSD_EMIT_DROP_N; d++)
            fprintf(stderr, " dropped_%s=%llu", ksd_emit_drop_name((enum ksd_emit_drop)d),
                    (unsigned long long)es.drops[d]);
        fprintf(stderr, " spool_corrupt=%llu\n", (unsigned long long)es.spool_corrupt);
    }
    if (rc == 1)
        log_msg("redis: not all events delivered before the drain deadline; %llu kept in the "
                "spool %s for the next run",
                (unsigned long long)es.spool_now, r->cfg->spool ? r->cfg->spool : "(none)");
    else if (rc < 0)
        log_msg("redis: %llu events could not be delivered (dropped; see --stats)",
                (unsigned long long)es.dropped);
    r->emit = NULL;
    uint64_t stored = es.sent + es.duplicates_skipped;
    if (rc == 0 && es.dropped == 0 && stored < es.pushed)
        log_msg("redis: %llu of %llu events were not delivered",
                (unsigned long long)(es.pushed - stored), (unsigned long long)es.pushed);
    if (rc < 0 || es.dropped > 0)
        return 1;
    return rc == 0 && stored < es.pushed; /* neither stored, spooled nor counted */
}

static void skip_input(void *arg, const char *path, const char *reason)
{
    (void)arg;
    log_msg("%s: skipped: %s", path, reason);
}

/* The offline inputs: files as given, directories expanded. 0, or an exit status. */
static int expand_inputs(struct run *r)
{
    const struct ksd_config *cfg = r->cfg;
    for (int i = 0; i < cfg->n_inputs; i++) {
        if (ksd_capture_expand(cfg->inputs[i], &r->in, skip_input, r) < 0) {
            log_msg("too many capture files (more than %d: split the run) or out of memory",
                    KSD_MAX_INPUT_FILES);
            return 1;
        }
    }
    if (r->in.n == 0) {
        log_msg("no capture files in the inputs given");
        return KSD_EXIT_INPUT;
    }
    if (!(r->files = calloc(r->in.n, sizeof(*r->files)))) {
        log_msg("out of memory");
        return 1;
    }
    return 0;
}

/* Read every offline input in order; a file that fails is counted and the others are read. */
static void read_inputs(struct run *r, const struct ksd_capture_opts *co)
{
    char err[1024];
    size_t walked = 0;
    while (walked < r->in.n && ksd_capture_file_walkable(r->in.paths[walked]))
        walked++;
    if (walked == r->in.n)
        ksd_pool_offline_walked(r->pool); /* N workers: frames are handed on by offset */
    for (size_t i = 0; i < r->in.n && !stop_requested; i++) {
        const char *name = r->in.paths[i];
        r->cur = (uint32_t)i;
        struct ksd_capture *c = ksd_capture_open_file(name, co, err, sizeof(err));
        if (!c) {
            log_msg("%s", err);
            r->files[i].error = 1;
            r->n_bad++;
            continue;
        }
        ksd_pool_file_begin(r->pool, c, co);
        if (run_source(r, c, name)) {
            r->files[i].error = 1;
            r->n_bad++;
        }
        ksd_pool_file_end(r->pool);
        ksd_capture_close(c);
    }
}

/* --hosts-csv / --hosts-json: the host table for scripts. 0, or -1 when it could not be
 * written. */
static int write_hosts(struct run *r, const char *path, int fmt)
{
    if (!path)
        return 0;
    FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!fp) {
        log_msg("%s: cannot open for writing: %s", path, strerror(errno));
        return -1;
    }
    int bad = ksd_hosttable_write(r->pool, fmt, fp) < 0;
    bad |= fflush(fp) != 0 || ferror(fp);
    if (fp != stdout)
        bad |= fclose(fp) != 0;
    if (bad)
        log_msg("%s: cannot write the host table: %s", path, strerror(errno));
    return bad ? -1 : 0;
}

/* Where the events of this run went, for the closing line. */
static void events_went(const struct ksd_config *cfg, char *buf, size_t len)
{
    if (!cfg->json && !cfg->redis) {
        snprintf(buf, len, "events not kept (give --json FILE or --redis TARGET)");
        return;
    }
    snprintf(buf, len, "events to %s%s%s%s%s", cfg->json ? "--json " : "",
             cfg->json ? (strcmp(cfg->json, "-") ? cfg->json : "standard output") : "",
             cfg->json && cfg->redis ? " and " : "", cfg->redis ? "Redis " : "",
             cfg->redis ? cfg->redis : "");
}

/* The closing line of an offline run: on standard error when it is not a terminal
 * (a terminal has the progress line), or when events were not kept. */
static void summary(struct run *r, size_t hosts)
{
    char went[512];
    events_went(r->cfg, went, sizeof(went));
    uint64_t events;
    pthread_mutex_lock(&r->sink.lock);
    events = r->sink.events;
    pthread_mutex_unlock(&r->sink.lock);
    if (isatty(2)) {
        if (!r->cfg->json && !r->cfg->redis)
            log_msg("%llu events: %s", (unsigned long long)events, went);
        return;
    }
    log_msg("%zu file%s (%zu not read completely), %llu packets, %llu events, %zu flagged "
            "host%s, %.2f s; %s",
            r->in.n, r->in.n == 1 ? "" : "s", r->n_bad,
            (unsigned long long)ksd_pool_packets(r->pool), (unsigned long long)events, hosts,
            hosts == 1 ? "" : "s", (double)(mono_us() - r->prog_start) / 1e6, went);
}

/* A capture run: offline inputs or a live interface. Returns the exit status. */
static int run_sensor(const struct ksd_config *cfgp)
{
    const struct ksd_config cfg = *cfgp; /* read-only for the run */
    ksd_log_init(cfg.use_syslog, "ksd");

    struct run r;
    memset(&r, 0, sizeof(r));
    r.cfg = &cfg;
    pthread_mutex_init(&r.sink.lock, NULL);
    r.sink.learned = ksd_learned_new(); /* NULL (out of memory): no cross-host dns_ip */
    r.sink.hostid = ksd_hostid_new();   /* NULL: events say nothing of the machine */
    r.started = (int64_t)time(NULL);
    int status = 0, dropped = 0;
    char *protos = NULL, pbuf[32];
    struct ksd_capture *live = NULL;                        /* opened before the privilege drop */
    struct ksd_capture *fan[KSD_POOL_MAX_WORKERS] = {NULL}; /* its fanout sockets */
    int workers = cfg.threads > 0 ? cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 1)
        workers = 1;
    if (workers > KSD_POOL_MAX_WORKERS)
        workers = KSD_POOL_MAX_WORKERS;
    char err[512];
    if (!(r.sigs = load_sigs(ksd_config_rules(&cfg)))) {
        status = KSD_EXIT_USAGE; /* through out: the address tables are freed */
        goto out;
    }
    if (load_lists(&cfg, &r.known, &r.sites) < 0) {
        status = KSD_EXIT_USAGE;
        goto out;
    }
    if ((cfg.json && !(r.sink.json = open_out(cfg.json))) ||
        (cfg.facts && !(r.sink.facts = open_out(cfg.facts)))) {
        status = 1;
        goto out;
    }
    if (!cfg.iface && ksd_capture_filter_check(cfg.filter, err, sizeof(err)) < 0) {
        log_msg("-f: %s", err);
        status = KSD_EXIT_USAGE;
        goto out;
    }
    if (!cfg.iface && (status = expand_inputs(&r)) != 0)
        goto out;
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
    ksd_learned_workers(r.sink.learned, workers);
    struct ksd_worker_conf wc = {cfg.max_flows, (int64_t)cfg.dedup_window_s * 1000000,
                                 cfg.sensor_id, cfg.ndpi,
                                 NULL,          cfg.ndpi_full};
    protos = cfg.ndpi ? write_ndpi_protos(r.sigs, pbuf) : NULL;
    wc.ndpi_protos = protos;
    wc.sources = (const char *const *)r.in.paths; /* the pcap field of offline events */
    wc.n_sources = r.in.n;
    wc.name_age_us = (int64_t)cfg.name_age_s * 1000000;
    wc.reassembly_mb = cfg.reassembly_mb;
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
        read_inputs(&r, &co);
    }
    ksd_pool_finish(r.pool);
    if (cfg.stats) {
        for (size_t i = 0; r.files && i < r.in.n; i++)
            fprintf(stderr, "file: %s packets=%llu errors=%d\n", r.in.paths[i],
                    (unsigned long long)r.files[i].packets, r.files[i].error);
        ksd_pool_print_stats(r.pool, stderr);
        /* reading and analysis only: before the Redis output's drain */
        fprintf(stderr, "time: packets processed in %.3f s\n",
                (double)(mono_us() - r.prog_start) / 1e6);
    }
    flush_outputs(&r); /* events before the host table when both go to standard output */
    /* with no output asked for, the flagged-host table is the answer */
    if (cfg.hosts || (!cfg.json && !cfg.facts && !cfg.redis && !cfg.hosts_csv && !cfg.hosts_json))
        ksd_hosttable_write(r.pool, KSD_REPORT_TABLE, stdout);
    if (write_hosts(&r, cfg.hosts_csv, KSD_REPORT_CSV) < 0 ||
        write_hosts(&r, cfg.hosts_json, KSD_REPORT_JSON) < 0)
        dropped = 1;
out:
    if (stop_redis(&r, cfg.stats))
        dropped = 1;
    if (r.sink.json) {
        /* a full disk loses events as surely as an unreachable Redis */
        if (ksd_event_out_flush(r.sink.json) != 0 || ksd_event_out_lost(r.sink.json)) {
            log_msg("%s: %llu events could not be written", cfg.json,
                    (unsigned long long)ksd_event_out_lost(r.sink.json));
            dropped = 1;
        }
    }
    ksd_event_out_close(r.sink.json);
    ksd_event_out_close(r.sink.facts);
    fflush(stdout);
    if (r.pool && r.files) {
        long hosts = ksd_hosttable_write(r.pool, KSD_REPORT_TABLE, NULL); /* counts only */
        summary(&r, hosts > 0 ? (size_t)hosts : 0);
    }
    if (dropped)
        status = KSD_EXIT_DROPPED;
    else if (status == 0 && r.n_bad)
        status = KSD_EXIT_INPUT;
    free(r.files);
    ksd_capture_inputs_free(&r.in);
    if (live)
        ksd_capture_close(live);
    for (int i = 1; i < KSD_POOL_MAX_WORKERS; i++)
        ksd_capture_close(fan[i]);
    ksd_pool_free(r.pool);
    ksd_sig_free(r.sigs);
    ksd_known_free(r.known);
    ksd_known_free(r.sites);
    ksd_learned_free(r.sink.learned);
    ksd_hostid_free(r.sink.hostid);
    pthread_mutex_destroy(&r.sink.lock);
    return status;
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
    if (rc == 0 && cfg.check_sigs)
        rc = check_signatures(cfg.check_sigs, ksd_config_rules(&cfg));
    else if (rc == 0 && cfg.print_config)
        rc = print_config(&cfg);
    else if (rc == 0)
        rc = run_sensor(&cfg);
    ksd_config_free(&cfg);
    return rc < 0 ? 0 : rc;
}
