/*
 * main.c - the ksd program: wires capture, the worker pipeline, signatures
 * and outputs together, handles signals and prints statistics. It is the
 * only file that knows every stage (STYLE.md part 3).
 *
 * Signals: SIGINT/SIGTERM stop reading, drain and flush, exit 0; SIGUSR1
 * prints statistics to stderr; SIGHUP reloads the signature file (a bad file
 * keeps the old set and logs FILE:LINE: reason).
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sensor/capture.h"
#include "sensor/classify.h"
#include "sensor/config.h"
#include "sensor/event.h"
#include "sensor/known.h"
#include "sensor/pipeline.h"
#include "signatures/sig.h"

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
    va_list ap;
    va_start(ap, fmt);
    fputs("ksd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int check_signatures(const char *path)
{
    struct ksd_sigset *s = NULL;
    struct ksd_sig_error err;
    if (ksd_sig_load_file(path, &s, &err) != 0) {
        if (err.line > 0)
            fprintf(stderr, "%s:%d: %s\n", err.file, err.line, err.reason);
        else
            fprintf(stderr, "%s: %s\n", err.file[0] ? err.file : path, err.reason);
        return 1;
    }
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

/* What SIGHUP reloads, owned by main. */
struct lists {
    struct ksd_sigset **sigs;
    struct ksd_known **known;
    struct ksd_known **sites;
};

static struct ksd_sigset *load_sigs(const char *path)
{
    struct ksd_sigset *s = NULL;
    struct ksd_sig_error err;
    if (ksd_sig_load_file(path, &s, &err) != 0) {
        if (err.line > 0)
            fprintf(stderr, "%s:%d: %s\n", err.file, err.line, err.reason);
        else
            fprintf(stderr, "ksd: %s: %s\n", err.file[0] ? err.file : path, err.reason);
        return NULL;
    }
    return s;
}

static FILE *open_out(const char *path)
{
    if (!path)
        return NULL;
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *fp = fopen(path, "w");
    if (!fp)
        log_msg("%s: cannot open for writing: %s", path, strerror(errno));
    return fp;
}

/*
 * The domain rules as an nDPI protocols file (custom protocol "Kaspersky"),
 * so nDPI's own host matching labels the same flows. Returns the path of a
 * temporary file (the caller unlinks it) or NULL.
 */
static char *write_ndpi_protos(const struct ksd_sigset *s)
{
    static char path[] = "/tmp/ksd-ndpi-XXXXXX";
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

struct progress {
    int on;
    int64_t last;
    int64_t start;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void show_progress(struct progress *pg, struct ksd_capture *c, const char *name,
                          const struct ksd_stats *st, int final)
{
    if (!pg->on)
        return;
    int64_t now = mono_us();
    if (!final && now - pg->last < 500000)
        return;
    pg->last = now;
    double secs = (double)(now - pg->start) / 1e6;
    uint64_t size = ksd_capture_size(c), off = ksd_capture_offset(c);
    fprintf(stderr, "\r%s: %llu/%llu MB (%3.0f%%), %.0f packets/s, %llu detections   %s", name,
            (unsigned long long)(off >> 20), (unsigned long long)(size >> 20),
            size ? 100.0 * (double)off / (double)size : 0.0,
            secs > 0 ? (double)st->packets / secs : 0.0, (unsigned long long)st->events,
            final ? "\n" : "");
}

/*
 * SIGHUP: load rules, known hosts and sites anew; only when all three load
 * are they swapped in (between two packets, so none is lost); otherwise the
 * old set stays and the reason is logged as FILE:LINE: reason.
 */
static void reload(struct ksd_worker *w, struct lists *ls, const struct ksd_config *cfg)
{
    struct ksd_sigset *n = load_sigs(cfg->sigfile);
    struct ksd_known *nk, *ns;
    if (!n || load_lists(cfg, &nk, &ns) < 0) {
        ksd_sig_free(n);
        log_msg("reload failed; keeping rule set version %s", ksd_sig_version(*ls->sigs));
        return;
    }
    ksd_worker_set_sigs(w, n);
    ksd_worker_set_known(w, nk, ns);
    ksd_sig_free(*ls->sigs);
    ksd_known_free(*ls->known);
    ksd_known_free(*ls->sites);
    *ls->sigs = n;
    *ls->known = nk;
    *ls->sites = ns;
    log_msg("reloaded %s (version %s, %zu rules), %zu known hosts, %zu sites", cfg->sigfile,
            ksd_sig_version(n), ksd_sig_count(n, -1), ksd_known_count(nk), ksd_known_count(ns));
}

/* Read one source to its end (or until stopped). Returns 0, or 1 on a read error. */
static int run_source(struct ksd_capture *c, const char *name, struct ksd_worker *w,
                      struct lists *ls, const struct ksd_config *cfg, struct progress *pg)
{
    struct ksd_frame fr;
    int rc = 0;
    current_capture = c;
    while (!stop_requested) {
        int r = ksd_capture_next(c, &fr);
        if (r == 1) {
            ksd_worker_packet(w, &fr);
            if ((ksd_worker_stats(w)->packets & 0x3ff) == 0)
                show_progress(pg, c, name, ksd_worker_stats(w), 0);
        } else if (r == 2) {
            /* live read timeout: fall through to the signal checks */
        } else if (r == 0) {
            break;
        } else {
            log_msg("%s: read error: %s", name, ksd_capture_error(c));
            rc = 1;
            break;
        }
        if (stats_requested) {
            stats_requested = 0;
            ksd_worker_print_stats(w, stderr);
        }
        if (reload_requested) {
            reload_requested = 0;
            reload(w, ls, cfg);
        }
    }
    show_progress(pg, c, name, ksd_worker_stats(w), 1);
    current_capture = NULL;
    return rc;
}

int main(int argc, char **argv)
{
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
    if (cfg.redis) {
        log_msg("--redis: the Redis output is not built yet");
        return KSD_EXIT_USAGE;
    }
    struct ksd_sigset *sigs = load_sigs(cfg.sigfile);
    if (!sigs)
        return KSD_EXIT_USAGE;
    struct ksd_known *known = NULL, *sites = NULL;
    if (load_lists(&cfg, &known, &sites) < 0) {
        ksd_sig_free(sigs);
        return KSD_EXIT_USAGE;
    }
    struct lists lists = {&sigs, &known, &sites};

    struct ksd_sink sink;
    memset(&sink, 0, sizeof(sink));
    int status = 0;
    struct ksd_worker *w = NULL;
    if (cfg.json && !(sink.json = open_out(cfg.json))) {
        status = 1;
        goto out;
    }
    if (cfg.facts && !(sink.facts = open_out(cfg.facts))) {
        status = 1;
        goto out;
    }

    struct ksd_worker_conf wc = {cfg.max_flows, (int64_t)cfg.dedup_window_s * 1000000,
                                 cfg.sensor_id, cfg.ndpi, NULL};
    char *protos = cfg.ndpi ? write_ndpi_protos(sigs) : NULL;
    wc.ndpi_protos = protos;
    w = ksd_worker_new(&wc, &sink);
    if (protos)
        unlink(protos);
    if (!w) {
        log_msg("out of memory");
        status = 1;
        goto out;
    }
    ksd_worker_set_sigs(w, sigs);
    ksd_worker_set_known(w, known, sites);
    install_signals();

    struct ksd_capture_opts co = {cfg.snaplen, cfg.buffer_mb, 1, cfg.filter};
    struct progress pg = {0, 0, mono_us()};
    pg.on = cfg.progress == 1 || (cfg.progress == -1 && isatty(2) && !cfg.iface);
    char err[512];
    if (cfg.iface) {
        struct ksd_capture *c = ksd_capture_open_live(cfg.iface, &co, err, sizeof(err));
        if (!c) {
            log_msg("%s", err);
            status = 1;
            goto out;
        }
        log_msg("capturing on %s (%s)", cfg.iface, ksd_capture_linktype_name(c));
        status = run_source(c, cfg.iface, w, &lists, &cfg, &pg);
        struct ksd_capture_stats cs;
        if (ksd_capture_stats(c, &cs) == 0 && (cfg.stats || cs.dropped))
            fprintf(stderr, "capture: received=%llu dropped=%llu ifdropped=%llu\n",
                    (unsigned long long)cs.received, (unsigned long long)cs.dropped,
                    (unsigned long long)cs.ifdropped);
        ksd_capture_close(c);
    } else {
        for (int i = 0; i < cfg.n_inputs && !stop_requested; i++) {
            struct ksd_capture *c = ksd_capture_open_file(cfg.inputs[i], &co, err, sizeof(err));
            if (!c) {
                log_msg("%s", err);
                status = 1;
                continue;
            }
            if (run_source(c, cfg.inputs[i], w, &lists, &cfg, &pg))
                status = 1;
            ksd_capture_close(c);
        }
    }
    ksd_worker_finish(w);
    if (cfg.stats)
        ksd_worker_print_stats(w, stderr);
    if (cfg.hosts)
        ksd_worker_print_hosts(w, stdout);

out:
    if (sink.json && sink.json != stdout)
        fclose(sink.json);
    if (sink.facts && sink.facts != stdout)
        fclose(sink.facts);
    fflush(stdout);
    ksd_worker_free(w);
    ksd_sig_free(sigs);
    ksd_known_free(known);
    ksd_known_free(sites);
    return status;
}
