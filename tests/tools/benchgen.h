/*
 * benchgen.h - what the two parts of the benchmark traffic generator share
 * (benchgen.c: flow plans, emission order and the command line;
 * benchgen_build.c: the handshake templates, names and addresses, and the
 * packet and payload builders): sizes, the generator state, the tables of
 * names and templates, the seeded random numbers and byte helpers.
 */
#ifndef KSD_TESTS_BENCHGEN_H
#define KSD_TESTS_BENCHGEN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dissectors/ksd.h"
#include "dissectors/quic.h"
#include "dissectors/rd.h"

#define BG_MSS        1460
#define BG_MAX_EXT    64   /* extensions kept from one ClientHello template */
#define BG_MAX_KEYS   8    /* key shares randomized in one template */
#define BG_MAX_HELLO  4096 /* bytes of one built ClientHello record */
#define BG_MAX_FLIGHT 8192 /* bytes of one built server flight */
#define BG_MAX_TMPL   16384
#define BG_NPOOL      6000  /* client addresses */
#define BG_NNAMES     20000 /* generated host names */
#define BG_NAME_MAX   80
#define BG_RAND_POOL  (1u << 20)
#define BG_BASE_TS    1795680000u /* 2026-11-26T08:00:00Z */
#define BG_US_PER_PKT 15          /* nominal capture span per packet */
#define BG_QUIC_DGRAM 1250        /* client Initial datagram payload size */
#define BG_NONBULK    0.64        /* share of packets in non-bulk flows */

enum bg_dir {
    BG_C = 0, /* client to server */
    BG_S = 1, /* server to client */
};

enum bg_kind {
    BG_K_DNS,
    BG_K_TLS,
    BG_K_QUIC,
    BG_K_HTTP,
    BG_K_NOISE,
    BG_K_BULK_TLS,
    BG_K_BULK_HTTP,
    BG_K_COUNT,
};

static const char *const bg_kind_names[BG_K_COUNT] = {"dns",   "tls",      "quic",     "http",
                                                      "noise", "bulk-tls", "bulk-http"};

enum bg_op {
    BG_OP_SYN,
    BG_OP_SYNACK,
    BG_OP_ACK,
    BG_OP_FIN,
    BG_OP_CH,     /* ClientHello segment: arg = offset in the record */
    BG_OP_FLIGHT, /* server flight segment: arg = offset */
    BG_OP_CFIN,   /* client Finished (+ request) */
    BG_OP_SFIN,   /* TLS 1.2 server CCS + Finished */
    BG_OP_APP,    /* one TLS application-data record filling the segment */
    BG_OP_HREQ,   /* HTTP request */
    BG_OP_HRESP,  /* HTTP response segment: arg = offset in the response */
    BG_OP_BULK,   /* count data segments (server) with a client ACK every third */
    BG_OP_DNSQ,   /* DNS query */
    BG_OP_DNSR,   /* DNS response */
    BG_OP_QINIT,  /* QUIC client Initial: arg = packet number */
    BG_OP_QSHORT, /* QUIC short-header datagram of len bytes */
    BG_OP_UDP,    /* UDP noise of len bytes */
};

/* One script entry: `count` packets of one kind. */
struct bg_step {
    uint8_t dir;    /* enum bg_dir */
    uint8_t op;     /* enum bg_op */
    uint16_t len;   /* payload bytes */
    uint32_t count; /* packets (> 1 only for BG_OP_BULK) */
    uint32_t arg;   /* op-specific */
};

struct bg_flow {
    int64_t t;         /* time of the next packet, us after BG_BASE_TS */
    uint64_t seed;     /* payload builders reseed from this */
    uint64_t trng;     /* timing jitter stream */
    uint32_t cli, srv; /* IPv4 addresses, host order */
    uint16_t cport, sport;
    uint32_t cseq, sseq; /* next sequence number of each side */
    uint16_t cipid, sipid;
    uint32_t step;      /* first script entry in gen.steps */
    uint16_t nstep;     /* entries */
    uint16_t pos;       /* current entry */
    uint32_t rep;       /* packets sent of the current entry */
    uint32_t rtt;       /* us */
    uint32_t gap;       /* bulk inter-packet gap, us */
    uint32_t name;      /* host name index (knames[] when kasp) */
    uint32_t body;      /* HTTP body / flight payload length */
    uint16_t req;       /* TLS request record length */
    uint16_t hello_len; /* built ClientHello (record or CRYPTO) length */
    uint8_t kind;       /* enum bg_kind */
    uint8_t ch;         /* ClientHello template */
    uint8_t kasp;       /* 1: a Kaspersky flow */
    uint8_t sttl;       /* server-side TTL */
    uint8_t cttl;       /* client-side TTL */
    uint8_t dcid[8];    /* QUIC destination connection id */
};

/* A ClientHello template split into the parts a flow rewrites. */
struct bg_ch {
    const char *file;
    int tcp;   /* 1: file is a TLS record, 0: a bare handshake (QUIC) */
    int tls12; /* 1: a TLS 1.2-only client */
    int sh;    /* server template index */
    uint8_t *raw;
    size_t raw_len;
    const uint8_t *mid; /* cipher suites + compression methods */
    size_t mid_len;
    uint16_t version;
    size_t sid_len;
    size_t next;
    uint16_t ext_type[BG_MAX_EXT];
    const uint8_t *ext_data[BG_MAX_EXT];
    uint16_t ext_len[BG_MAX_EXT];
    size_t nkey;
    uint16_t key_off[BG_MAX_KEYS]; /* key_exchange offset inside the key_share data */
    uint16_t key_len[BG_MAX_KEYS];
    uint16_t key_grp[BG_MAX_KEYS];
};

/* A server flight template (ServerHello record first). */
struct bg_sh {
    const char *file;
    uint8_t *raw;
    size_t raw_len;
    size_t rand_off;
    size_t rand_len; /* 24 when the TLS 1.3 downgrade sentinel must stay */
    size_t sid_off, sid_len;
    size_t nkey;
    size_t key_off[BG_MAX_KEYS]; /* absolute offsets in raw */
    size_t key_len[BG_MAX_KEYS];
};

struct bg_rng {
    uint64_t s;
};

struct bg_gen {
    uint64_t seed;
    FILE *out;
    uint64_t pkts, bytes;
    struct bg_flow *flows;
    size_t nflows;
    struct bg_step *steps;
    size_t nsteps, capsteps;
    uint32_t *heap;
    size_t nheap;
    uint32_t pool[BG_NPOOL]; /* client addresses */
    unsigned kc;             /* Kaspersky clients: pool[0..kc-1] */
    uint8_t kused[BG_NPOOL];
    char (*names)[BG_NAME_MAX];
    uint8_t *rnd; /* BG_RAND_POOL random bytes (+ BG_MSS slack) */
    struct bg_ch ch[12];
    size_t nch;
    struct bg_sh sh[8];
    size_t nsh;
    EVP_CIPHER_CTX *gcm, *ecb;
    uint64_t count[BG_K_COUNT];
    uint64_t tcp_hellos, quic_hellos, dns_queries, kflows;
    uint8_t frame[2048];
    uint8_t buf[BG_MAX_FLIGHT];
    uint8_t buf2[BG_MAX_FLIGHT];
};

/* Real Kaspersky names, all matched by signatures/kaspersky.rules. */
static const char *const bg_knames[] = {
    "s05.upd.kaspersky.com",
    "s12.upd.kaspersky.com",
    "dnl-07.geo.kaspersky.com",
    "downloads.upd.kaspersky.com",
    "ksn-file-geo.kaspersky-labs.com",
    "ksn-url-geo.kaspersky-labs.com",
    "ksn-verdict-geo.kaspersky-labs.com",
    "dc1.ksn.kaspersky-labs.com",
    "dc1-file.ksn.kaspersky-labs.com",
    "activation-v2.kaspersky.com",
    "ds.kaspersky.com",
    "telemetry.kaspersky.com",
};
#define BG_NKNAMES KSD_ARRAY_LEN(bg_knames)

/* ClientHello templates: file, tcp, tls12, server template, weight. */
static const struct {
    const char *file;
    int tcp, tls12, sh;
} bg_ch_files[] = {
    {"ch-tcp-chrome-11ec", 1, 0, 0},       /* 0 */
    {"ch-tcp-chrome-6399", 1, 0, 1},       /* 1 */
    {"ch-tcp-openssl13", 1, 0, 2},         /* 2 */
    {"ch-tcp-curl13", 1, 0, 2},            /* 3 */
    {"ch-tcp-openssl12", 1, 1, 3},         /* 4 */
    {"ch-tcp-curl12", 1, 1, 3},            /* 5 */
    {"ch-quic-chrome-11ec", 0, 0, -1},     /* 6 */
    {"ch-quic-chrome-11ec-big", 0, 0, -1}, /* 7 */
};
static const char *const bg_sh_files[] = {"sh-tcp-chrome-11ec", "sh-tcp-chrome-6399",
                                          "sh-tcp-openssl13", "sh-tcp-openssl12"};

/* ---- random numbers ---------------------------------------------------- */

static inline uint64_t rng_next(struct bg_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint32_t rng_below(struct bg_rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static inline struct bg_rng rng_make(uint64_t seed, uint64_t stream)
{
    struct bg_rng r = {seed ^ (stream * 0xd1b54a32d192ed03ull)};
    rng_next(&r);
    return r;
}

static inline void rng_fill(struct bg_rng *r, uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, n);
    }
}

/* ---- byte helpers --------------------------------------------------------- */

static inline void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    size_t i = 0;
    uint64_t s = sum;
    for (; i + 8 <= n; i += 8) {
        s += ((uint32_t)p[i] << 8 | p[i + 1]) + ((uint32_t)p[i + 2] << 8 | p[i + 3]) +
             ((uint32_t)p[i + 4] << 8 | p[i + 5]) + ((uint32_t)p[i + 6] << 8 | p[i + 7]);
    }
    for (; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < n)
        s += (uint32_t)p[i] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

static inline uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* TCP flags of built segments */
#define BG_TF_FIN 0x01
#define BG_TF_SYN 0x02
#define BG_TF_PSH 0x08
#define BG_TF_ACK 0x10

/* random streams of one flow (the seed's other streams are the plan's) */
enum bg_stream {
    BG_ST_HELLO = 11,
    BG_ST_FLIGHT,
    BG_ST_DNS,
    BG_ST_HTTP,
    BG_ST_MISC,
};

/* the QUIC Initial a client sends */
#define BG_QUIC_HDR  (1 + 4 + 1 + 8 + 1 + 1 + 2 + 2) /* Initial header, pn 2 bytes */
#define BG_QUIC_DATA (BG_QUIC_DGRAM - BG_QUIC_HDR - 16 - 5)

/* ---- benchgen_build.c ------------------------------------------------------ */

int ksd_bg_load_hex(const char *dir, const char *name, uint8_t **out, size_t *len);
int ksd_bg_parse_ch(struct bg_ch *t);
int ksd_bg_parse_sh(struct bg_sh *t);
void ksd_bg_make_names(struct bg_gen *g);
uint32_t ksd_bg_name_addr(const struct bg_gen *g, uint32_t name);
uint32_t ksd_bg_kname_addr(uint32_t k);
void ksd_bg_fmt_ip(uint32_t a, char *s, size_t n);
void ksd_bg_tcp_out(struct bg_gen *g, struct bg_flow *f, int dir, uint8_t flags, const uint8_t *pl,
                    size_t len);
void ksd_bg_udp_out(struct bg_gen *g, struct bg_flow *f, int dir, const uint8_t *pl, size_t len);
size_t ksd_bg_build_hello(struct bg_gen *g, const struct bg_flow *f, uint8_t *out, uint8_t *sid);
size_t ksd_bg_build_flight(struct bg_gen *g, const struct bg_flow *f, uint8_t *out);
size_t ksd_bg_flight_len(const struct bg_gen *g, const struct bg_flow *f);
size_t ksd_bg_build_cfin(const struct bg_gen *g, const struct bg_flow *f, uint8_t *out);
size_t ksd_bg_cfin_len(const struct bg_gen *g, const struct bg_flow *f);
size_t ksd_bg_build_hreq(const struct bg_gen *g, const struct bg_flow *f, uint8_t *out);
size_t ksd_bg_build_hresp_hdr(const struct bg_flow *f, uint8_t *out);
size_t ksd_bg_build_dns(const struct bg_gen *g, const struct bg_flow *f, int resp, uint8_t *out);
size_t ksd_bg_build_qinit(struct bg_gen *g, const struct bg_flow *f, uint32_t pn, uint8_t *out);

#endif
