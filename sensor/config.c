/*
 * config.c - command line and configuration file.
 *
 * The file is INI syntax (libinih): `key = value` lines, `#` or `;`
 * comments; keys are the long option names (`read` for -r, `interface` for
 * -i, `filter` for -f, `signatures` for -s), sections are allowed and only
 * group keys for readability. A repeated `read` adds a file. Any unknown key
 * or bad value is reported as FILE:LINE: reason and ksd exits 2. Options on
 * the command line win over the file.
 */
#include "sensor/config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KSD_DEFAULT_RULES
#define KSD_DEFAULT_RULES "/usr/local/share/ksd/kaspersky.rules"
#endif

enum {
    OPT_JSON = 256,
    OPT_FACTS,
    OPT_REDIS,
    OPT_REDIS_PREFIX,
    OPT_REDIS_AUTH,
    OPT_SPOOL,
    OPT_SENSOR_ID,
    OPT_CHECK,
    OPT_STATS,
    OPT_THREADS,
    OPT_NO_NDPI,
    OPT_NDPI_FULL,
    OPT_PRINT_CONFIG,
    OPT_DEDUP,
    OPT_NAME_AGE,
    OPT_MAX_FLOWS,
    OPT_REASSEMBLY_MB,
    OPT_SNAPLEN,
    OPT_BUFFER,
    OPT_KNOWN,
    OPT_SITES,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_MAXLEN,
    OPT_REDIS_CONNECT_TIMEOUT,
    OPT_REDIS_TIMEOUT,
    OPT_REDIS_QUEUE,
    OPT_SPOOL_MAX,
    OPT_SPOOL_SYNC,
    OPT_REDIS_DRAIN,
    OPT_USER,
    OPT_SYSLOG,
    OPT_HOSTS,
    OPT_HOSTS_CSV,
    OPT_HOSTS_JSON,
};

static const struct option long_opts[] = {
    {"read", required_argument, NULL, 'r'},
    {"interface", required_argument, NULL, 'i'},
    {"filter", required_argument, NULL, 'f'},
    {"signatures", required_argument, NULL, 's'},
    {"config", required_argument, NULL, 'c'},
    {"json", required_argument, NULL, OPT_JSON},
    {"facts", required_argument, NULL, OPT_FACTS},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"redis-prefix", required_argument, NULL, OPT_REDIS_PREFIX},
    {"redis-auth-file", required_argument, NULL, OPT_REDIS_AUTH},
    {"redis-maxlen", required_argument, NULL, OPT_MAXLEN},
    {"redis-connect-timeout", required_argument, NULL, OPT_REDIS_CONNECT_TIMEOUT},
    {"redis-timeout", required_argument, NULL, OPT_REDIS_TIMEOUT},
    {"redis-queue", required_argument, NULL, OPT_REDIS_QUEUE},
    {"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
    {"spool-sync", required_argument, NULL, OPT_SPOOL_SYNC},
    {"redis-drain-timeout", required_argument, NULL, OPT_REDIS_DRAIN},
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"sensor-id", required_argument, NULL, OPT_SENSOR_ID},
    {"check-signatures", required_argument, NULL, OPT_CHECK},
    {"stats", no_argument, NULL, OPT_STATS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"no-ndpi", no_argument, NULL, OPT_NO_NDPI},
    {"ndpi-full", no_argument, NULL, OPT_NDPI_FULL},
    {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
    {"dedup-window", required_argument, NULL, OPT_DEDUP},
    {"name-age", required_argument, NULL, OPT_NAME_AGE},
    {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
    {"reassembly-mb", required_argument, NULL, OPT_REASSEMBLY_MB},
    {"snaplen", required_argument, NULL, OPT_SNAPLEN},
    {"buffer-mb", required_argument, NULL, OPT_BUFFER},
    {"known-hosts", required_argument, NULL, OPT_KNOWN},
    {"sites", required_argument, NULL, OPT_SITES},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"user", required_argument, NULL, OPT_USER},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"hosts", no_argument, NULL, OPT_HOSTS},
    {"hosts-csv", required_argument, NULL, OPT_HOSTS_CSV},
    {"hosts-json", required_argument, NULL, OPT_HOSTS_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

void ksd_config_usage(FILE *out)
{
    fputs("usage: ksd [options] [-r] FILE|DIR... | -i IFACE [options]\n"
          "       ksd --check-signatures FILE\n"
          "       ksd report [--redis T] [--since DATE] [--unmanaged] [--csv|--json] ...\n"
          "       ksd dashboard [--redis T] [--listen HOST:PORT] [--password-file F]\n"
          "\n"
          "input:\n"
          "  -r FILE                read a capture (pcap/pcapng; - is stdin); repeatable;\n"
          "                         FILE or DIR arguments without -r are read too\n"
          "                         (a directory: its captures, recursively, in name order)\n"
          "  -i IFACE               live capture (promiscuous, immediate mode)\n"
          "  -f BPF                 capture filter\n"
          "  --snaplen N            live: bytes per packet (default 262144)\n"
          "  --buffer-mb N          live: kernel buffer in MiB (default 64)\n"
          "detection:\n"
          "  -s FILE                signature file (default " KSD_DEFAULT_RULES "\n"
          "                         when installed, else the built-in copy; -s built-in)\n"
          "  --known-hosts FILE     CIDR -> managed | exception\n"
          "  --sites FILE           CIDR -> site name\n"
          "  --dedup-window SECONDS one event per (client, rule, evidence) per window (300)\n"
          "  --name-age SECONDS     how long a MAC or announced name stays bound (86400)\n"
          "  --threads N            worker threads (default: one per core)\n"
          "  --no-ndpi              do not classify flows with nDPI\n"
          "  --ndpi-full            nDPI also parses the hellos and queries ksd parsed\n"
          "  --max-flows N          flow cap over all workers (default 1000000)\n"
          "  --reassembly-mb N      handshake reassembly budget, all workers (default 64)\n"
          "output:\n"
          "  --json FILE            detection events as JSON lines (- = stdout)\n"
          "  --facts FILE           every extracted fact, tab-separated (- = stdout)\n"
          "  --redis TARGET         HOST:PORT, unix:PATH or sentinel://H:P[,H:P]/MASTER\n"
          "  --redis-prefix P       key prefix (default ksd:)\n"
          "  --redis-auth-file F    password, or user and password, for Redis\n"
          "  --redis-maxlen N       MAXLEN ~ of the events stream (default 1000000)\n"
          "  --redis-connect-timeout MS  per connection attempt (default 1000)\n"
          "  --redis-timeout MS     per wait for a reply (default 2000)\n"
          "  --redis-queue N        events held in memory before the spool (default 65536)\n"
          "  --redis-drain-timeout S  at stop, keep delivering for up to S seconds (default 10)\n"
          "  --spool FILE           on-disk queue: every event is written there first\n"
          "  --spool-max MB         spool size cap in MiB (default 256)\n"
          "  --spool-sync WHEN      fsync the spool: always, 1s (default) or never\n"
          "  --sensor-id NAME       name of this sensor (default: host name)\n"
          "  --hosts                print the table of flagged hosts on exit (the default\n"
          "                         when no other output is asked for)\n"
          "  --hosts-csv FILE       the same table as CSV (- = stdout)\n"
          "  --hosts-json FILE      the same table as a JSON array (- = stdout)\n"
          "  --stats                print statistics on exit (and on SIGUSR1)\n"
          "  --progress, --no-progress  progress line (default: when stderr is a terminal)\n"
          "process:\n"
          "  -c FILE                configuration file (INI; keys are the long option names)\n"
          "  --print-config         print the effective configuration\n"
          "  --check-signatures F   validate a signature file and print a summary\n"
          "  --user NAME            user to switch to once the capture is open\n"
          "  --syslog               log to syslog instead of standard error\n"
          "  -h, --help, -V, --version\n",
          out);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Apply one option; returns NULL or a static reason. `from_file` keeps the
 * command line's precedence: file values never override set ones. */
static const char *apply(struct ksd_config *c, int opt, const char *val, int from_file)
{
    long v;
#define SETSTR(field)                                                                              \
    do {                                                                                           \
        if (!from_file || !c->field)                                                               \
            c->field = val;                                                                        \
    } while (0)
    switch (opt) {
        case 'r':
            if (c->n_inputs == c->cap_inputs) {
                int cap = c->cap_inputs ? 2 * c->cap_inputs : 16;
                const char **n = realloc(c->inputs, (size_t)cap * sizeof(*n));
                if (!n)
                    return "out of memory";
                c->inputs = n;
                c->cap_inputs = cap;
            }
            c->inputs[c->n_inputs++] = val;
            return NULL;
        case 'i':
            SETSTR(iface);
            return NULL;
        case 'f':
            SETSTR(filter);
            return NULL;
        case 's':
            SETSTR(sigfile);
            return NULL;
        case OPT_JSON:
            SETSTR(json);
            return NULL;
        case OPT_FACTS:
            SETSTR(facts);
            return NULL;
        case OPT_REDIS:
            SETSTR(redis);
            return NULL;
        case OPT_REDIS_PREFIX:
            SETSTR(redis_prefix);
            return NULL;
        case OPT_REDIS_AUTH:
            SETSTR(redis_auth_file);
            return NULL;
        case OPT_SPOOL:
            SETSTR(spool);
            return NULL;
        case OPT_SENSOR_ID:
            if (!*val)
                return "sensor id must not be empty";
            SETSTR(sensor_id);
            return NULL;
        case OPT_KNOWN:
            SETSTR(known_hosts);
            return NULL;
        case OPT_SITES:
            SETSTR(sites);
            return NULL;
        case OPT_STATS:
            c->stats = 1;
            return NULL;
        case OPT_HOSTS:
            c->hosts = 1;
            return NULL;
        case OPT_HOSTS_CSV:
            SETSTR(hosts_csv);
            return NULL;
        case OPT_HOSTS_JSON:
            SETSTR(hosts_json);
            return NULL;
        case OPT_NO_NDPI:
            c->ndpi = 0;
            return NULL;
        case OPT_NDPI_FULL:
            c->ndpi_full = 1;
            return NULL;
        case OPT_PROGRESS:
            c->progress = 1;
            return NULL;
        case OPT_NO_PROGRESS:
            c->progress = 0;
            return NULL;
        case OPT_THREADS:
            if (parse_long(val, 0, 64, &v) < 0)
                return "threads must be a number from 0 to 64";
            c->threads = (int)v;
            return NULL;
        case OPT_DEDUP:
            if (parse_long(val, 0, 86400 * 7, &v) < 0)
                return "dedup window must be 0..604800 seconds";
            c->dedup_window_s = (int)v;
            return NULL;
        case OPT_NAME_AGE:
            if (parse_long(val, 1, 86400 * 30, &v) < 0)
                return "name age must be 1..2592000 seconds";
            c->name_age_s = (int)v;
            return NULL;
        case OPT_MAX_FLOWS:
            if (parse_long(val, 1000, 100000000L, &v) < 0)
                return "max flows must be 1000..100000000";
            c->max_flows = v;
            return NULL;
        case OPT_REASSEMBLY_MB:
            if (parse_long(val, 1, 65536, &v) < 0)
                return "reassembly budget must be 1..65536 MiB";
            c->reassembly_mb = v;
            return NULL;
        case OPT_SNAPLEN:
            if (parse_long(val, 64, 262144, &v) < 0)
                return "snaplen must be 64..262144";
            c->snaplen = (int)v;
            return NULL;
        case OPT_BUFFER:
            if (parse_long(val, 1, 4096, &v) < 0)
                return "buffer must be 1..4096 MiB";
            c->buffer_mb = (int)v;
            return NULL;
        case OPT_MAXLEN:
            if (parse_long(val, 1000, 1000000000L, &v) < 0)
                return "redis maxlen must be 1000..1000000000";
            c->stream_maxlen = v;
            return NULL;
        case OPT_REDIS_CONNECT_TIMEOUT:
            if (parse_long(val, 100, 600000, &v) < 0)
                return "redis connect timeout must be 100..600000 ms";
            c->redis_connect_timeout_ms = (int)v;
            return NULL;
        case OPT_REDIS_TIMEOUT:
            if (parse_long(val, 100, 600000, &v) < 0)
                return "redis timeout must be 100..600000 ms";
            c->redis_timeout_ms = (int)v;
            return NULL;
        case OPT_REDIS_QUEUE:
            if (parse_long(val, 64, 100000000L, &v) < 0)
                return "redis queue must be 64..100000000 events";
            c->redis_queue = v;
            return NULL;
        case OPT_SPOOL_MAX:
            if (parse_long(val, 1, 1048576, &v) < 0)
                return "spool max must be 1..1048576 MiB";
            c->spool_max_mb = v;
            return NULL;
        case OPT_SPOOL_SYNC:
            if (!strcmp(val, "1s"))
                c->spool_sync = 0;
            else if (!strcmp(val, "always"))
                c->spool_sync = 1;
            else if (!strcmp(val, "never"))
                c->spool_sync = 2;
            else
                return "spool sync must be always, 1s or never";
            return NULL;
        case OPT_REDIS_DRAIN:
            if (parse_long(val, 0, 3600, &v) < 0)
                return "redis drain timeout must be 0..3600 seconds";
            c->redis_drain_timeout_s = (int)v;
            return NULL;
        case OPT_USER:
            if (!*val)
                return "user must not be empty";
            SETSTR(user);
            return NULL;
        case OPT_SYSLOG:
            c->use_syslog = 1;
            return NULL;
        default:
            return "unknown option";
    }
#undef SETSTR
}

struct file_ctx {
    struct ksd_config *cfg;
    const char *reason;
    char *strings[256]; /* values kept for the life of the program */
    int n_strings;
};

static int conf_handler(void *user, const char *section, const char *name, const char *value)
{
    struct file_ctx *fc = user;
    (void)section;
    if (fc->reason)
        return 0; /* inih goes on after an error: keep the first reason */
    for (const struct option *o = long_opts; o->name; o++) {
        if (strcmp(o->name, name) != 0)
            continue;
        if (o->val == 'c' || o->val == 'h' || o->val == 'V' || o->val == OPT_CHECK ||
            o->val == OPT_PRINT_CONFIG) {
            fc->reason = "option not allowed in a configuration file";
            return 0;
        }
        if (fc->n_strings >= (int)(sizeof(fc->strings) / sizeof(fc->strings[0]))) {
            fc->reason = "too many settings";
            return 0;
        }
        char *copy = strdup(value);
        if (!copy) {
            fc->reason = "out of memory";
            return 0;
        }
        fc->strings[fc->n_strings++] = copy;
        if (o->has_arg == no_argument) {
            if (strcmp(value, "yes") && strcmp(value, "true") && strcmp(value, "1")) {
                if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
                    return 1;
                fc->reason = "expected yes or no";
                return 0;
            }
        }
        if (o->val != 'r' && o->val >= 0 && o->val < 512 &&
            (fc->cfg->cli_set[o->val / 64] >> (o->val % 64)) & 1)
            return 1; /* the command line wins */
        fc->reason = apply(fc->cfg, o->val, copy, 1);
        return fc->reason == NULL;
    }
    fc->reason = "unknown setting";
    return 0;
}

static int load_file(struct ksd_config *cfg, const char *path)
{
    static struct file_ctx fc; /* values live as long as the configuration */
    fc.cfg = cfg;
    fc.reason = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "ksd: %s: cannot open: %s\n", path, strerror(errno));
        return KSD_EXIT_USAGE;
    }
    int rc = ini_parse_file(fp, conf_handler, &fc);
    fclose(fp);
    if (rc != 0) {
        fprintf(stderr, "%s:%d: %s\n", path, rc > 0 ? rc : 0,
                fc.reason ? fc.reason : "syntax error (expected key = value or [section])");
        return KSD_EXIT_USAGE;
    }
    return 0;
}

int ksd_config_parse(struct ksd_config *c, int argc, char **argv)
{
    memset(c, 0, sizeof(*c));
    c->ndpi = 1;
    c->dedup_window_s = 300;
    c->name_age_s = 86400;
    c->max_flows = 1000000;
    c->reassembly_mb = 64;
    c->progress = -1;
    c->stream_maxlen = 1000000;
    c->redis_connect_timeout_ms = 1000;
    c->redis_timeout_ms = 2000;
    c->redis_queue = 65536;
    c->spool_max_mb = 256;
    c->redis_drain_timeout_s = 10;

    int opt;
    optind = 1;
    opterr = 0;
    int li = -1;
    while ((opt = getopt_long(argc, argv, ":r:i:f:s:c:hV", long_opts, &li)) != -1) {
        if (opt == 'h') {
            ksd_config_usage(stdout);
            return -1;
        }
        if (opt == 'V') {
            printf("ksd %s\n", KSD_VERSION);
            return -1;
        }
        if (opt == '?') {
            fprintf(stderr, "ksd: unknown option '%s'\n", argv[optind - 1]);
            ksd_config_usage(stderr);
            return KSD_EXIT_USAGE;
        }
        if (opt == ':') {
            fprintf(stderr, "ksd: option '%s' needs a value\n", argv[optind - 1]);
            return KSD_EXIT_USAGE;
        }
        if (opt == 'c') {
            c->conf_file = optarg;
            continue;
        }
        if (opt == OPT_CHECK) {
            c->check_sigs = optarg;
            continue;
        }
        if (opt == OPT_PRINT_CONFIG) {
            c->print_config = 1;
            continue;
        }
        const char *why = apply(c, opt, optarg, 0);
        if (opt >= 0 && opt < 512)
            c->cli_set[opt / 64] |= (uint64_t)1 << (opt % 64);
        int this_li = li;
        li = -1; /* getopt_long leaves it unchanged for short options */
        if (why) {
            if (this_li >= 0)
                fprintf(stderr, "ksd: --%s: %s\n", long_opts[this_li].name, why);
            else
                fprintf(stderr, "ksd: -%c: %s\n", opt, why);
            return KSD_EXIT_USAGE;
        }
    }
    /* positional arguments are inputs, as with -r (so shell globs work) */
    for (; optind < argc; optind++) {
        const char *why = apply(c, 'r', argv[optind], 0);
        if (why) {
            fprintf(stderr, "ksd: %s: %s\n", argv[optind], why);
            return KSD_EXIT_USAGE;
        }
    }
    if (c->conf_file) {
        int rc = load_file(c, c->conf_file);
        if (rc)
            return rc;
    }
    if (!c->sigfile) {
        c->sigfile = KSD_DEFAULT_RULES; /* or the built-in set: ksd_config_rules */
        c->sigfile_default = 1;
    }
    if (!c->redis_prefix)
        c->redis_prefix = "ksd:";
    if (!c->sensor_id) {
        if (gethostname(c->hostname, sizeof(c->hostname) - 1) != 0 || !c->hostname[0])
            strcpy(c->hostname, "ksd");
        c->sensor_id = c->hostname;
    }
    if (c->check_sigs)
        return 0;
    if (c->n_inputs && c->iface) {
        fprintf(stderr, "ksd: -r and -i cannot be used together\n");
        return KSD_EXIT_USAGE;
    }
    if (!c->n_inputs && !c->iface && !c->print_config) {
        fprintf(stderr, "ksd: nothing to read: give capture files or directories, or -i IFACE\n");
        ksd_config_usage(stderr);
        return KSD_EXIT_USAGE;
    }
    return 0;
}

const char *ksd_config_rules(const struct ksd_config *c)
{
    struct stat sb;
    /* the installed file wins over the copy compiled in; -s wins over both */
    if (c->sigfile_default && stat(c->sigfile, &sb) != 0)
        return KSD_BUILTIN_RULES;
    return c->sigfile;
}

void ksd_config_free(struct ksd_config *c)
{
    free(c->inputs);
    c->inputs = NULL;
    c->n_inputs = c->cap_inputs = 0;
}

static void pstr(FILE *out, const char *k, const char *v)
{
    if (v)
        fprintf(out, "%s = %s\n", k, v);
}

void ksd_config_print(const struct ksd_config *c, FILE *out)
{
    for (int i = 0; i < c->n_inputs; i++)
        pstr(out, "read", c->inputs[i]);
    pstr(out, "interface", c->iface);
    pstr(out, "filter", c->filter);
    pstr(out, "signatures", c->sigfile);
    pstr(out, "json", c->json);
    pstr(out, "hosts-csv", c->hosts_csv);
    pstr(out, "hosts-json", c->hosts_json);
    pstr(out, "facts", c->facts);
    pstr(out, "redis", c->redis);
    pstr(out, "redis-prefix", c->redis_prefix);
    pstr(out, "redis-auth-file", c->redis_auth_file);
    fprintf(out, "redis-maxlen = %ld\n", c->stream_maxlen);
    fprintf(out, "redis-connect-timeout = %d\n", c->redis_connect_timeout_ms);
    fprintf(out, "redis-timeout = %d\n", c->redis_timeout_ms);
    fprintf(out, "redis-queue = %ld\n", c->redis_queue);
    pstr(out, "spool", c->spool);
    fprintf(out, "spool-max = %ld\n", c->spool_max_mb);
    fprintf(out, "spool-sync = %s\n",
            c->spool_sync == 1   ? "always"
            : c->spool_sync == 2 ? "never"
                                 : "1s");
    fprintf(out, "redis-drain-timeout = %d\n", c->redis_drain_timeout_s);
    pstr(out, "sensor-id", c->sensor_id);
    pstr(out, "known-hosts", c->known_hosts);
    pstr(out, "sites", c->sites);
    pstr(out, "user", c->user);
    fprintf(out, "syslog = %s\n", c->use_syslog ? "yes" : "no");
    fprintf(out, "threads = %d\n", c->threads);
    fprintf(out, "no-ndpi = %s\n", c->ndpi ? "no" : "yes");
    fprintf(out, "ndpi-full = %s\n", c->ndpi_full ? "yes" : "no");
    fprintf(out, "stats = %s\n", c->stats ? "yes" : "no");
    fprintf(out, "dedup-window = %d\n", c->dedup_window_s);
    fprintf(out, "name-age = %d\n", c->name_age_s);
    fprintf(out, "max-flows = %ld\n", c->max_flows);
    fprintf(out, "reassembly-mb = %ld\n", c->reassembly_mb);
    if (c->snaplen)
        fprintf(out, "snaplen = %d\n", c->snaplen);
    if (c->buffer_mb)
        fprintf(out, "buffer-mb = %d\n", c->buffer_mb);
}
