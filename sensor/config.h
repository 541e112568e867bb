/*
 * config.h - ksd's configuration: command line (ksd(8) OPTIONS) and the
 * configuration file (-c, INI syntax read with Debian's libinih). The
 * command line overrides the file. Read-only once loaded.
 */
#ifndef KSD_CONFIG_H
#define KSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KSD_MAX_INPUTS 64

struct ksd_config {
    const char *inputs[KSD_MAX_INPUTS]; /* -r files, in order */
    int n_inputs;
    const char *iface;        /* -i */
    const char *filter;       /* -f */
    const char *sigfile;      /* -s */
    const char *json;         /* --json FILE or "-" */
    const char *facts;        /* --facts FILE or "-" */
    const char *redis;        /* --redis target */
    const char *redis_prefix; /* --redis-prefix, default "ksd:" */
    const char *redis_auth_file;
    const char *spool;            /* --spool FILE: on-disk queue while Redis is down */
    const char *sensor_id;        /* default: host name */
    const char *check_sigs;       /* --check-signatures FILE */
    const char *conf_file;        /* -c */
    const char *known_hosts;      /* --known-hosts FILE */
    const char *sites;            /* --sites FILE */
    int stats;                    /* --stats */
    int hosts;                    /* --hosts: print the flagged-host table at the end */
    int threads;                  /* --threads, 0 = one per core */
    int ndpi;                     /* 1 unless --no-ndpi */
    int ndpi_full;                /* --ndpi-full: nDPI parses ClientHellos ksd has parsed too */
    int print_config;             /* --print-config */
    int dedup_window_s;           /* --dedup-window, default 300 */
    long max_flows;               /* --max-flows, default 1000000 */
    int snaplen;                  /* --snaplen (live) */
    int buffer_mb;                /* --buffer-mb (live) */
    int progress;                 /* --progress / --no-progress: -1 = auto (terminal) */
    long stream_maxlen;           /* --redis-maxlen */
    int redis_connect_timeout_ms; /* --redis-connect-timeout, default 1000 */
    int redis_timeout_ms;         /* --redis-timeout (command round trip), default 2000 */
    long redis_queue;             /* --redis-queue: events in memory, default 65536 */
    long spool_max_mb;            /* --spool-max, default 256 */
    const char *user;             /* --user: switch to this user after opening the capture */
    int use_syslog;               /* --syslog */
    char hostname[256];           /* storage for the default sensor id */
};

/* Exit status for bad usage or bad configuration input. */
#define KSD_EXIT_USAGE 2

/*
 * Fill cfg from argv and, when -c is given, from the file. Returns 0, or
 * KSD_EXIT_USAGE after printing the reason (as "FILE:LINE: reason" for the
 * file) to stderr. Returns -1 when --help or --version was printed (exit 0).
 */
int ksd_config_parse(struct ksd_config *cfg, int argc, char **argv);
void ksd_config_print(const struct ksd_config *cfg, FILE *out);
void ksd_config_usage(FILE *out);

#endif
