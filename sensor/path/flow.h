/*
 * flow.h - the bidirectional flow table of one worker.
 *
 * A flow is keyed by (family, protocol, both addresses, both ports, tunnel
 * context) in a canonical order, so both directions find the same record.
 * The client is the side that sent the SYN; without a SYN, the side on the
 * ephemeral port (or, when both ports look alike, the first sender).
 *
 * Flows expire on capture time, so a file gives the same result as the same
 * traffic live. Three idle-timeout classes, each an LRU list, so expiry costs
 * O(flows expired): short (TCP before the handshake completes and after
 * FIN/RST), udp, and long (established TCP). The table holds at most
 * max_flows records; when full, the least recently used flow of all lists is
 * evicted (counted). Tables of several workers may share one cap
 * (ksd_flow_table_share, sensor/path/budget.h): then "full" means all the
 * tables together hold the cap, and a worker evicts its own oldest flow. Per-flow dissection state
 * hangs off `ext` and is released through the table's destructor as soon as it is no longer needed,
 * so an idle flow costs sizeof(struct ksd_flow) only.
 */
#ifndef KSD_FLOW_H
#define KSD_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/decode.h"

enum ksd_flow_class {
    KSD_FLOW_SHORT = 0, /* TCP not yet established, or closing */
    KSD_FLOW_UDP,       /* UDP and other protocols */
    KSD_FLOW_LONG,      /* established TCP */
    KSD_FLOW__CLASSES,
};

#define KSD_FLOW_F_SYN       0x01 /* a SYN from the client was seen */
#define KSD_FLOW_F_SYNACK    0x02 /* a SYN-ACK from the server was seen */
#define KSD_FLOW_F_FIN_C     0x04 /* FIN from the client */
#define KSD_FLOW_F_FIN_S     0x08 /* FIN from the server */
#define KSD_FLOW_F_RST       0x10 /* RST seen */
#define KSD_FLOW_F_MIDSTREAM 0x20 /* picked up without a SYN */
#define KSD_FLOW_F_DONE      0x40 /* nothing more to dissect */

struct ksd_flow_key {
    uint8_t family;   /* 4 or 6 */
    uint8_t proto;    /* IP protocol */
    uint16_t port[2]; /* port[i] belongs to addr[i]; side 0 sorts lower */
    uint32_t ctx;     /* tunnel/VLAN context */
    uint8_t addr[2][16];
};

struct ksd_flow {
    struct ksd_flow_key key; /* canonical key */
    struct ksd_flow *hnext;  /* hash chain */
    struct ksd_flow *prev;   /* LRU list of its class */
    struct ksd_flow *next;
    int64_t first_us; /* capture time of the first packet */
    int64_t last_us;  /* capture time of the latest packet */
    uint32_t pkts[2]; /* packets from client (0) and server (1) */
    uint32_t hash;    /* key hash */
    uint32_t isn[2];  /* initial sequence numbers from SYN (0) and SYN-ACK (1) */
    uint8_t client;   /* which key side (0/1) is the client */
    uint8_t flags;    /* KSD_FLOW_F_* */
    uint8_t cls;      /* enum ksd_flow_class */
    uint8_t app;      /* application label index (sensor-defined) */
    uint8_t ndpi_app; /* nDPI label index (sensor-defined), 0 = none yet */
    uint16_t src;     /* input file of the latest packet (sensor-defined; in the padding) */
    uint32_t evmask;  /* evidence kinds already seen on this flow (sensor-defined) */
    void *ext;        /* dissection state while needed, freed by the table's destructor */
};

struct ksd_flow_stats {
    uint64_t created; /* flows created */
    uint64_t expired; /* flows removed by idle timeout */
    uint64_t evicted; /* flows removed because the table was full */
    uint64_t active;  /* flows in the table now */
    uint64_t peak;    /* highest number of flows at once */
};

struct ksd_flow_timeouts {
    int64_t short_us; /* default 30 s */
    int64_t udp_us;   /* default 120 s */
    int64_t long_us;  /* default 600 s */
};

struct ksd_flow_table;

/* Called for every flow leaving the table (expiry, eviction, ksd_flow_table_free). */
typedef void (*ksd_flow_release_fn)(struct ksd_flow *f, int reason, void *arg);
#define KSD_FLOW_GONE_EXPIRED  0
#define KSD_FLOW_GONE_EVICTED  1
#define KSD_FLOW_GONE_SHUTDOWN 2

struct ksd_flow_table *ksd_flow_table_new(size_t max_flows, const struct ksd_flow_timeouts *t,
                                          ksd_flow_release_fn release, void *arg);
void ksd_flow_table_free(struct ksd_flow_table *ft);

/*
 * Find or create the flow of pkt at time now. *dir is set to 0 when the packet
 * goes client -> server, 1 otherwise. Returns NULL only when allocation
 * fails. A created flow has its client chosen from this first packet.
 */
struct ksd_flow *ksd_flow_lookup(struct ksd_flow_table *ft, const struct ksd_pkt *pkt, int64_t now,
                                 int *dir);
struct ksd_flow_hint;
/* The same, with the hint ksd_flow_prefetch made for this pkt (or NULL). */
struct ksd_flow *ksd_flow_lookup_hint(struct ksd_flow_table *ft, const struct ksd_pkt *pkt,
                                      int64_t now, int *dir, const struct ksd_flow_hint *hint);

/* A packet's flow key and hash, worked out ahead of its lookup. */
struct ksd_flow_hint {
    struct ksd_flow_key key;
    uint32_t hash;
    int side; /* the key side of the packet's source */
};

/* Work out pkt's key into *hint and start fetching its hash bucket: a
 * lookup a little later (ksd_flow_lookup_hint) finds the bucket in the
 * cache (the bucket array is the table's miss) and the key made. */
void ksd_flow_prefetch(const struct ksd_flow_table *ft, const struct ksd_pkt *pkt,
                       struct ksd_flow_hint *hint);

/* Later, the bucket fetched: start fetching the first flow record of its
 * chain (a prefetch only: the table may change before the lookup). */
void ksd_flow_prefetch_record(const struct ksd_flow_table *ft, const struct ksd_flow_hint *hint);

/* Update TCP state from a packet (flags) in direction dir; moves the flow between classes. */
void ksd_flow_tcp_update(struct ksd_flow_table *ft, struct ksd_flow *f, uint8_t tcp_flags, int dir);

/* Call fn for every flow in the table (fn must not remove flows). */
void ksd_flow_foreach(struct ksd_flow_table *ft, void (*fn)(struct ksd_flow *f, void *arg),
                      void *arg);

/* Remove every flow (end of input), releasing each through the destructor. */
void ksd_flow_flush(struct ksd_flow_table *ft);

/* Remove flows idle past their class timeout at capture time now. */
void ksd_flow_expire(struct ksd_flow_table *ft, int64_t now);

struct ksd_budget;
/* Count this table's flows against b's global cap instead of its own max_flows
 * (call before the first lookup; b outlives the table). */
void ksd_flow_table_share(struct ksd_flow_table *ft, struct ksd_budget *b);

const struct ksd_flow_stats *ksd_flow_table_stats(const struct ksd_flow_table *ft);

/* Address and port of a side: side = f->client for the client. */
static inline const uint8_t *ksd_flow_addr(const struct ksd_flow *f, int side)
{
    return f->key.addr[side];
}
static inline uint16_t ksd_flow_port(const struct ksd_flow *f, int side)
{
    return f->key.port[side];
}

/* Heuristic used for mid-stream pickup: is this a server-side (service) port? */
int ksd_flow_is_service_port(uint8_t proto, uint16_t port);

#endif
