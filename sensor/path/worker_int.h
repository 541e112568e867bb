/*
 * worker_int.h - what the worker's files share (worker.c: events, matching,
 * correlation, reassembly budget, entry points; worker_tcp.c: TCP streams,
 * TLS, HTTP, SOCKS; worker_udp.c: UDP, DNS, QUIC, and which machine: DHCP,
 * NetBIOS, mDNS, LLMNR, MACs; worker_stats.c: counters printed). Private to
 * sensor/path/worker*.c.
 */
#ifndef KSD_WORKER_INT_H
#define KSD_WORKER_INT_H

#include <stdint.h>
#include <string.h>

#include "dissectors/dhcp.h"
#include "dissectors/dns.h"
#include "dissectors/netbios.h"
#include "dissectors/http.h"
#include "dissectors/tls.h"
#include "sensor/path/budget.h"
#include "sensor/path/classify.h"
#include "sensor/path/correlate.h"
#include "sensor/path/budget.h"
#include "sensor/path/flow.h"
#include "sensor/path/worker.h"

struct ksd_rule;

#define KSD_MAX_HTTP_REQUESTS 32   /* requests dissected per connection */
#define KSD_MAX_TLS_HELLOS    2    /* ClientHellos per connection (HelloRetryRequest) */
#define KSD_MAX_DNS_TCP_MSGS  256  /* DNS messages per TCP connection */
#define KSD_MAX_CLIENT_PKTS   64   /* client packets dissected before giving up on a flow */
#define KSD_MAX_BUDGET_DROPS  1024 /* handshake states dropped after one packet at most */
#define KSD_EXPIRE_EVERY_US   1000000
#define KSD_START_WAIT_US     400000 /* live: longest wait for nDPI's label before address rules */
#define KSD_DNSIP_WAIT_US                                                                          \
    1000000 /* live: a flow to a DNS-learned address without a name by then is dns_ip */

/* Client-stream protocols. */
enum cproto {
    CP_UNKNOWN = 0,
    CP_TLS,
    CP_HTTP,
    CP_DNS,
    CP_SOCKS,
    CP_NONE,
};

/* Application labels of flows (until nDPI labels them; names in worker.c). */
enum {
    APP_NONE = 0,
    APP_DNS,
    APP_TLS,
    APP_HTTP,
    APP_QUIC,
    APP_MDNS,
    APP_LLMNR,
    APP_HTTP_PROXY,
};

/* Bits of ksd_flow.evmask used by the pipeline. */
#define FL_NAME        0x01   /* a server name was seen on the flow */
#define FL_DNSIP       0x02   /* the server address was learned from a Kaspersky DNS answer */
#define FL_TLSPORT     0x04   /* a TLS/QUIC flow, for no_sni accounting */
#define FL_SHARED_DONE 0x08   /* the sensor-wide learned-address table was consulted */
#define FL_CDONE       0x10   /* client side finished */
#define FL_SDONE       0x20   /* server side finished */
#define FL_HELLO       0x40   /* a ClientHello was parsed */
#define FL_NDPI_DONE   0x80   /* nDPI has labelled the flow */
#define FL_PORTHOST    0x1000 /* a port rule waits for a server name on this flow */
#define FL_STARTPEND   0x2000 /* address/port rules wait for nDPI's label */
#define FL_NDPI_HELD   0x4000 /* nDPI waits while ksd collects a ClientHello or DNS query */
#define FL_NDPI_DATA   0x8000 /* nDPI has been given a packet with payload */
#define FL_NOSNI_SHIFT 8      /* bits 8..11: enum ksd_nosni + 1 of a TLS/QUIC flow, 0 = none */

static inline void nosni_set(struct ksd_flow *f, int reason)
{
    f->evmask =
        (f->evmask & ~(0xfu << FL_NOSNI_SHIFT)) | ((uint32_t)(reason + 1) << FL_NOSNI_SHIFT);
}

static inline int nosni_get(const struct ksd_flow *f)
{
    return (int)((f->evmask >> FL_NOSNI_SHIFT) & 0xfu) - 1;
}

struct flow_ext {
    struct ksd_stream st[2];      /* client (0) and server (1) stream starts */
    struct ksd_quic *quic;        /* QUIC Initial state, client side */
    uint64_t skip_body;           /* HTTP body bytes still to skip */
    uint8_t cp;                   /* enum cproto of the client stream */
    uint8_t hellos;               /* ClientHellos parsed */
    uint8_t http_reqs;            /* HTTP requests parsed */
    uint16_t dns_msgs;            /* DNS messages on TCP */
    struct ksd_classify_flow *nd; /* nDPI state while classifying */
    struct ksd_flow *flow;        /* the flow this extends */
    struct flow_ext *hold_prev;   /* worker's list of reassembly-memory holders, */
    struct flow_ext *hold_next;   /* least recently active first */
    uint8_t *weak;                /* a segment with a bad TCP checksum, held back (or NULL) */
    uint32_t weak_seq;            /* its sequence number */
    uint32_t weak_len;            /* its length */
    uint8_t weak_dir;             /* its direction */
    uint32_t charged;             /* bytes charged to the budget for this flow */
    uint8_t held;                 /* on the holders' list */
};

#define KSD_PENDING_MAX 256 /* name-less flows waiting for another worker's answer */

struct ksd_worker {
    const struct ksd_flow_hint *hint; /* the key of the packet being processed, made ahead */
    struct ksd_worker_conf conf;
    struct ksd_sink *sink;
    const struct ksd_sigset *sigs;
    const struct ksd_known *known; /* --known-hosts, or NULL */
    const struct ksd_known *sites; /* --sites, or NULL */
    struct ksd_flow_table *ft;
    struct ksd_ipfrag *frag;
    struct ksd_budget *budget;    /* flow cap and reassembly budget (shared, or own_budget) */
    struct ksd_budget own_budget; /* when no pool shares one */
    struct flow_ext *hold_old;    /* flows holding reassembly memory, oldest first */
    struct flow_ext *hold_new;
    uint64_t held;       /* this worker's charged reassembly bytes */
    size_t frag_charged; /* of which the fragment table's */
    struct ksd_corr *corr;
    struct ksd_classify *cls;            /* nDPI, or NULL with --no-ndpi */
    int ndpi_full;                       /* nDPI parses hellos and queries too (--ndpi-full) */
    char labels[256][KSD_APP_LABEL_MAX]; /* interned nDPI labels; index 0 = none */
    int nlabels;
    struct ksd_stats st;
    int64_t now;          /* capture time of the current packet */
    uint32_t src;         /* input file of the current packet (ksd_frame.src) */
    int64_t last_expire;  /* capture time of the last expiry run */
    int64_t clock;        /* live: wall-clock time of the last ksd_worker_clock */
    uint64_t startpend;   /* flows with FL_STARTPEND set */
    uint64_t dnsippend;   /* flows with FL_DNSIP set */
    uint64_t id_epoch_ms; /* event ids: wall-clock ms this worker's id block started */
    uint32_t id_seq;      /* events in the current block */
    uint32_t index;       /* worker number (0..63), part of every event id */
    struct ksd_dns_msg dns;
    struct ksd_tls_hello hello;
    struct ksd_tls_server server;
    struct ksd_http_req req;
    struct ksd_dhcp_msg dhcp;
    struct ksd_nbns_msg nbns;
    struct ksd_flow pending[KSD_PENDING_MAX]; /* see settle_shared_dns_ip */
    int npending;
};

/* ---- addresses ----------------------------------------------------------- */

static inline void side_addr(const struct ksd_flow *f, int side, struct ksd_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->family = f->key.family;
    memcpy(a->a, f->key.addr[side], f->key.family == 4 ? 4 : 16);
}

/*
 * Indirect evidence, reported with its provenance in `via` and a confidence
 * below the rule's (README "Indirect evidence"):
 *  - a Kaspersky name reached through the CNAME chain of a DNS question that
 *    is not itself a Kaspersky name: the rule's confidence minus
 *    KSD_CONF_CNAME_PENALTY (the host asked for another name);
 *  - a name-less TLS/QUIC/HTTP flow to an address that another host
 *    resolved as Kaspersky's: category "infrastructure" (so the host's
 *    verdict is "suspected" unless other evidence proves more) and at most
 *    KSD_CONF_SHARED_DNSIP.
 */
#define KSD_CONF_CNAME_PENALTY 20
#define KSD_CONF_SHARED_DNSIP  40
#define KSD_CONF_MIN           10

static inline int conf_minus(int c, int penalty)
{
    return c - penalty > KSD_CONF_MIN ? c - penalty : (c < KSD_CONF_MIN ? c : KSD_CONF_MIN);
}

/* worker.c */
void ksd_worker_fact(struct ksd_worker *w, const char *kind, const char *v1, const char *v2);
uint8_t ksd_worker_label_intern(struct ksd_worker *w, const char *label);
void ksd_worker_detect_as(struct ksd_worker *w, struct ksd_flow *f, int flagged, int evidence,
                          const char *indicator, const struct ksd_rule *r, const char *via,
                          int confidence, const char *category);
void ksd_worker_detect(struct ksd_worker *w, struct ksd_flow *f, int flagged, int evidence,
                       const char *indicator, const struct ksd_rule *r, const char *via);
void ksd_worker_match_name(struct ksd_worker *w, struct ksd_flow *f, int evidence,
                           const char *name);
void ksd_worker_settle_dns_ip(struct ksd_worker *w, struct ksd_flow *f);
void ksd_worker_label_from_name(struct ksd_worker *w, struct ksd_flow *f, int proto,
                                const char *name);
struct flow_ext *ksd_worker_ext(struct ksd_flow *f);
void ksd_worker_ext_release(struct ksd_worker *w, struct ksd_flow *f);
void ksd_worker_ext_final(struct ksd_worker *w, struct ksd_flow *f);

/* worker_tcp.c */
int ksd_worker_is_tls_port(uint16_t port);
int ksd_worker_partial_hello(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x);
void ksd_worker_report_hello(struct ksd_worker *w, struct ksd_flow *f, struct ksd_tls_hello *h);
void ksd_worker_tcp(struct ksd_worker *w, struct ksd_flow *f, int *dirp, const struct ksd_pkt *p);
/* The held bad-checksum segment goes in now, filling holes only. */
void ksd_worker_weak_flush(struct ksd_worker *w, struct ksd_flow *f, struct flow_ext *x);

/* worker_udp.c */
void ksd_worker_dns(struct ksd_worker *w, struct ksd_flow *f, int dir, const uint8_t *p, size_t len,
                    int app);
void ksd_worker_udp(struct ksd_worker *w, struct ksd_flow *f, int dir, const struct ksd_pkt *p);
void ksd_worker_learn_mac(struct ksd_worker *w, const struct ksd_pkt *p);

#endif
