/*
 * correlate.h - the state that joins evidence across packets and flows:
 *  - the DNS answer cache (address -> Kaspersky name learned from a DNS
 *    answer, per resolving client), so that a later flow to that address
 *    without a name on the wire becomes a `dns_ip` detection;
 *  - event suppression: one event per (client, rule, evidence) per window of
 *    capture time, with a counter of the detections folded into it;
 *  - the host table: per flagged client, first/last seen, evidence kinds,
 *    categories and top indicators, from which the verdict is derived.
 * Every table is bounded; what does not fit evicts the oldest entry and is
 * counted.
 */
#ifndef KSD_CORRELATE_H
#define KSD_CORRELATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KSD_DNSCACHE_MAX        65536         /* learned addresses kept */
#define KSD_DNSCACHE_MAX_TTL_S  86400         /* TTLs are honoured up to this cap */
#define KSD_DNSCACHE_MIN_TTL_S  60            /* and at least this long (clients cache longer) */
#define KSD_DEDUP_MAX           262144        /* (client, rule, evidence) keys kept */
#define KSD_HOSTS_MAX           65536         /* flagged hosts kept in memory */
#define KSD_HOST_INDICATORS_MAX 262144        /* (host, indicator) detection counters kept */
#define KSD_CORR_NEVIDENCE      KSD_EV__COUNT /* evidence kinds counted per host */
#define KSD_PAIRS_MAX           65536         /* (client, server, proto, port) flows remembered */
#define KSD_PAIR_WINDOW_US      (3600LL * 1000000) /* a prerequisite flow counts for an hour */

struct ksd_addr {
    uint8_t family; /* 4 or 6 */
    uint8_t a[16];
};

/* Evidence kinds (the event's "evidence"); the order is the --hosts
 * table's EVIDENCE column order. Names: ksd_evidence_name. */
enum ksd_evidence {
    KSD_EV_DNS = 0,
    KSD_EV_SNI,
    KSD_EV_QUIC_SNI,
    KSD_EV_HTTP_HOST,
    KSD_EV_HTTP_UA,
    KSD_EV_CERT,
    KSD_EV_JA3,
    KSD_EV_JA4,
    KSD_EV_IP,
    KSD_EV_DNS_IP,
    KSD_EV_PORT,
    KSD_EV_HTTP_PATH,
    KSD_EV_SOCKS,
    KSD_EV__COUNT,
};

/* "dns", "sni", ... (static storage); "" for a value out of range. */
const char *ksd_evidence_name(int evidence);

struct ksd_corr_stats {
    uint64_t dns_learned;   /* addresses learned from answers */
    uint64_t dns_evicted;   /* learned addresses dropped because the cache was full */
    uint64_t dns_hits;      /* flows matched to a learned address */
    uint64_t dedup_evicted; /* suppression keys dropped because the table was full */
    uint64_t suppressed;    /* detections folded into an earlier event */
    uint64_t hosts_evicted; /* host records dropped because the table was full */
    uint64_t pairs_evicted; /* prerequisite-flow records dropped because the table was full */
    uint64_t host_indicators_evicted; /* (host, indicator) counters dropped, table full */
};

struct ksd_corr;

struct ksd_corr *ksd_corr_new(void);
void ksd_corr_free(struct ksd_corr *c);
const struct ksd_corr_stats *ksd_corr_stats(const struct ksd_corr *c);

/* Remember that `client` resolved `name` to `addr` (ttl seconds) at now_us. */
void ksd_corr_dns_learn(struct ksd_corr *c, const struct ksd_addr *client,
                        const struct ksd_addr *addr, const char *name, uint32_t ttl,
                        int64_t now_us);
/* The name `client` learned for addr, or NULL (expired entries are ignored). */
const char *ksd_corr_dns_lookup(struct ksd_corr *c, const struct ksd_addr *client,
                                const struct ksd_addr *addr, int64_t now_us);

/* Remember a flow from client to server's proto/port (a rule prerequisite, e.g.
 * KSC's TCP 13000 before its UDP 15000 connection requests count). */
void ksd_corr_pair_note(struct ksd_corr *c, const struct ksd_addr *client,
                        const struct ksd_addr *server, uint8_t proto, uint16_t port,
                        int64_t now_us);
/* 1 when such a flow was seen within KSD_PAIR_WINDOW_US before now_us. */
int ksd_corr_pair_seen(struct ksd_corr *c, const struct ksd_addr *client,
                       const struct ksd_addr *server, uint8_t proto, uint16_t port, int64_t now_us);

/*
 * Suppression: returns the number of detections to report in a new event
 * (>= 1) when (client, rule, evidence) has no event in the last window_us,
 * or 0 when this detection is folded into the previous event.
 */
uint32_t ksd_corr_dedup(struct ksd_corr *c, const struct ksd_addr *client, const char *rule,
                        int evidence, int64_t now_us, int64_t window_us);

/*
 * A flagged host as the host table (--hosts) and the Redis host record
 * (ksd:host:<client>) both define it: counted per event emitted, so the
 * detections suppression folds into an event count once, through its count.
 */
struct ksd_corr_host {
    struct ksd_addr addr;              /* the client */
    int64_t first_us;                  /* time of its first event */
    int64_t last_us;                   /* time of its last event */
    uint64_t events;                   /* events emitted */
    uint32_t ev_n[KSD_CORR_NEVIDENCE]; /* events per kind (ksd_corr_evidence_name) */
    uint32_t catmask;                  /* bit i = ksd_sig_categories()[i] */
    char site[32];                     /* last non-empty site label */
    char managed[12];                  /* last non-empty known-hosts label */
    char mac[18];                      /* last non-empty client MAC of its events */
    char name[64];                     /* last non-empty client name of its events */
    char name_source[8];               /* the source of that name ("dhcp", ...) */
};

/* Record an event of `count` detections for the host table (call it for
 * each event emitted, not for suppressed detections). */
void ksd_corr_host_add(struct ksd_corr *c, const struct ksd_addr *client, int64_t ts_us,
                       int evidence, const char *category, const char *indicator, const char *site,
                       const char *managed, uint32_t count);

/* The machine an event of client named (its client_mac, client_name,
 * client_name_source): as the Redis host record, a non-empty MAC replaces
 * the kept one, a non-empty name replaces name and source. Call it after
 * ksd_corr_host_add for the same event; a host without a record is left
 * alone. */
void ksd_corr_host_machine(struct ksd_corr *c, const struct ksd_addr *client, const char *mac,
                           const char *name, const char *name_source);

/* Name of evidence kind i of ksd_corr_host.ev_n, NULL past the last. */
const char *ksd_corr_evidence_name(size_t i);

/* Visitors of the host table: each host record, then each (host, indicator)
 * with its detections (the sum of the counts of its events; indicators cut
 * at 127 bytes). Records are valid during the call only. */
struct ksd_corr_host_visit {
    void (*host)(void *arg, const struct ksd_corr_host *h);
    void (*indicator)(void *arg, const struct ksd_addr *client, const char *indicator, uint64_t n);
    void *arg;
};
/* Call v's functions for every host of c, then every indicator (any order). */
void ksd_corr_hosts_each(const struct ksd_corr *c, const struct ksd_corr_host_visit *v);
size_t ksd_corr_hosts_count(const struct ksd_corr *c);

void ksd_addr_str(const struct ksd_addr *a, char *buf, size_t len);

#endif
