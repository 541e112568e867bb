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

struct ksd_config {
    const char **inputs; /* -r and positional inputs (files, directories, "-"), in order */
    int n_inputs;
    int cap_inputs;           /* allocated slots of inputs */
    const char *iface;        /* -i */
    const char *filter;       /* -f */
    const char *sigfile;      /* -s */
    int sigfile_default;      /* no -s: sigfile is the installed default path */
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
    const char *hosts_csv;        /* --hosts-csv FILE: the host table as CSV ("-" = stdout) */
    const char *hosts_json;       /* --hosts-json FILE: the host table as a JSON array */
    int threads;                  /* --threads, 0 = one per core */
    int ndpi;                     /* 1 unless --no-ndpi */
    int ndpi_full;                /* --ndpi-full: nDPI parses ClientHellos ksd has parsed too */
    int print_config;             /* --print-config */
    int dedup_window_s;           /* --dedup-window, default 300 */
    int name_age_s;               /* --name-age: MAC / announced name bindings, default 86400 */
    long max_flows;               /* --max-flows, default 1000000 (all workers together) */
    long reassembly_mb;           /* --reassembly-mb, default 64 (all workers together) */
    int snaplen;                  /* --snaplen (live) */
    int buffer_mb;                /* --buffer-mb (live) */
    int progress;                 /* --progress / --no-progress: -1 = auto (terminal) */
    long stream_maxlen;           /* --redis-maxlen */
    int redis_connect_timeout_ms; /* --redis-connect-timeout, default 1000 */
    int redis_timeout_ms;         /* --redis-timeout (command round trip), default 2000 */
    long redis_queue;             /* --redis-queue: events in memory, default 65536 */
    long spool_max_mb;            /* --spool-max, default 256 */
    int spool_sync;               /* --spool-sync: 0 = 1s (default), 1 = always, 2 = never */
    int redis_drain_timeout_s;    /* --redis-drain-timeout, default 10 */
    const char *user;             /* --user: switch to this user after opening the capture */
    int use_syslog;               /* --syslog */
    char hostname[256];           /* storage for the default sensor id */
    uint64_t cli_set[8];          /* bit per option value given on the command line: the
                                     configuration file does not override it */
};

/* Exit status for bad usage or bad configuration input. */
#define KSD_EXIT_USAGE 2
/* An input could not be read completely (damaged, unreadable, not a capture);
 * the other inputs were read. */
#define KSD_EXIT_INPUT 3
/* Detections were not delivered to an output asked for (wins over 3). */
#define KSD_EXIT_DROPPED 4

/* `-s built-in` (and the default when no rule file is installed): the shipped
 * signatures/kaspersky.rules, compiled into ./ksd by the Makefile
 * (build/gen/builtin_rules.c, linked into the program only). */
#define KSD_BUILTIN_RULES "built-in"
extern const char ksd_builtin_rules[];
extern const size_t ksd_builtin_rules_len;

/*
 * Fill cfg from argv and, when -c is given, from the file. Returns 0, or
 * KSD_EXIT_USAGE after printing the reason (as "FILE:LINE: reason" for the
 * file) to stderr. Returns -1 when --help or --version was printed (exit 0).
 */
int ksd_config_parse(struct ksd_config *cfg, int argc, char **argv);
void ksd_config_print(const struct ksd_config *cfg, FILE *out);
/* The rule set a run loads: -s FILE; without -s the installed default file, or
 * KSD_BUILTIN_RULES when that does not exist. */
const char *ksd_config_rules(const struct ksd_config *cfg);
/* Free what ksd_config_parse allocated (the input list). */
void ksd_config_free(struct ksd_config *cfg);
void ksd_config_usage(FILE *out);

#endif
