/*
 * benchgen.c - deterministic traffic generator for the ksd benchmark
 * (tests/bench/bench.sh). It writes a classic pcap (Ethernet, microsecond
 * timestamps) with an enterprise-like mix of interleaved flows: DNS over UDP
 * (A/AAAA queries, answers with CNAME chains and compression pointers), TLS
 * 1.3 over TCP with post-quantum ClientHellos (X25519MLKEM768 0x11ec and
 * X25519Kyber768 0x6399, 1.7 KB, so the hello spans two segments), classic
 * TLS 1.3 and TLS 1.2, QUIC v1 Initials encrypted per RFC 9001 section 5
 * (keys from ksd_quic_initial_keys(), AES-128-GCM payload protection and
 * AES-128-ECB header protection through libcrypto), HTTP/1.1, long bulk TCP
 * transfers that carry most of the bytes, and UDP noise.
 *
 * Every handshake starts from real bytes stored as hex in tests/bench/hellos/
 * (each file names its source); per flow the generator replaces the SNI
 * (fixing the record, handshake, extensions and server-name-list lengths),
 * the client and server random, the session id and the key-share bytes.
 * A small set of "Kaspersky clients" (-k, default 20) resolve and connect to
 * real Kaspersky names (DNS, TLS SNI, QUIC SNI) at Kaspersky-only server
 * addresses; no other client ever uses a Kaspersky name or address. Their
 * addresses go to FILE.kaspersky, one per line, for the accuracy check.
 *
 * Output is a function of (-n, -k, -s) only: no clock, a fixed base time
 * (2026-11-26T08:00:00Z), one seeded splitmix64 stream per flow. IPv4, TCP
 * and UDP checksums are valid. It does not model loss, retransmission,
 * IPv6 transport or fragmentation.
 *
 * Usage: benchgen -n PACKETS -o FILE [-k KASPERSKY_CLIENTS] [-s SEED]
 *                 [-d HELLO_DIR]
 */
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

static uint64_t rng_next(struct bg_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rng_below(struct bg_rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static struct bg_rng rng_make(uint64_t seed, uint64_t stream)
{
    struct bg_rng r = {seed ^ (stream * 0xd1b54a32d192ed03ull)};
    rng_next(&r);
    return r;
}

static void rng_fill(struct bg_rng *r, uint8_t *p, size_t n)
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

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
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

static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* ---- templates ------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read DIR/NAME.hex: '#' lines are comments, the rest is hex. */
static int load_hex(const char *dir, const char *name, uint8_t **out, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.hex", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "benchgen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *b = malloc(BG_MAX_TMPL);
    size_t n = 0;
    char line[1024];
    int hi = -1;
    while (b != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#')
            continue;
        for (const char *p = line; *p != '\0'; p++) {
            int v = hexval((unsigned char)*p);
            if (v < 0)
                continue;
            if (hi < 0) {
                hi = v;
            } else if (n < BG_MAX_TMPL) {
                b[n++] = (uint8_t)(hi << 4 | v);
                hi = -1;
            }
        }
    }
    fclose(f);
    if (b == NULL || n == 0 || hi >= 0) {
        fprintf(stderr, "benchgen: %s: no hex bytes\n", path);
        free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

static int parse_ch(struct bg_ch *t)
{
    struct ksd_rd r = rd_make(t->raw, t->raw_len);
    if (t->tcp) {
        if (rd_u8(&r) != 0x16)
            return -1;
        rd_skip(&r, 2);
        uint16_t rl = rd_be16(&r);
        if (rl != rd_left(&r))
            return -1;
    }
    if (rd_u8(&r) != 1)
        return -1;
    uint32_t hl = rd_be24(&r);
    if (rd_err(&r) || hl != rd_left(&r) || hl + 300 > BG_MAX_HELLO)
        return -1;
    t->version = rd_be16(&r);
    rd_skip(&r, 32);
    t->sid_len = rd_u8(&r);
    rd_skip(&r, t->sid_len);
    t->mid = rd_ptr(&r);
    size_t start = rd_off(&r);
    rd_skip(&r, rd_be16(&r));
    rd_skip(&r, rd_u8(&r));
    t->mid_len = rd_off(&r) - start;
    uint16_t el = rd_be16(&r);
    struct ksd_rd e = rd_sub(&r, el);
    while (rd_left(&e) > 0 && t->next < BG_MAX_EXT) {
        uint16_t ty = rd_be16(&e);
        uint16_t l = rd_be16(&e);
        const uint8_t *d = rd_bytes(&e, l);
        if (rd_err(&e))
            return -1;
        t->ext_type[t->next] = ty;
        t->ext_data[t->next] = d;
        t->ext_len[t->next] = l;
        t->next++;
        if (ty == 51) {
            struct ksd_rd k = rd_make(d, l);
            struct ksd_rd ks = rd_sub(&k, rd_be16(&k));
            while (rd_left(&ks) > 0 && t->nkey < BG_MAX_KEYS) {
                uint16_t g = rd_be16(&ks);
                uint16_t kl = rd_be16(&ks);
                t->key_grp[t->nkey] = g;
                t->key_off[t->nkey] = (uint16_t)(rd_off(&ks) + 2);
                t->key_len[t->nkey] = kl;
                rd_skip(&ks, kl);
                if (rd_err(&ks))
                    return -1;
                t->nkey++;
            }
        }
    }
    return rd_err(&r) || rd_err(&e) ? -1 : 0;
}

static int parse_sh(struct bg_sh *t)
{
    struct ksd_rd r = rd_make(t->raw, t->raw_len);
    if (rd_u8(&r) != 0x16)
        return -1;
    rd_skip(&r, 2);
    struct ksd_rd rec = rd_sub(&r, rd_be16(&r));
    if (rd_u8(&rec) != 2)
        return -1;
    struct ksd_rd hs = rd_sub(&rec, rd_be24(&rec));
    rd_skip(&hs, 2);
    t->rand_off = (size_t)(rd_ptr(&hs) - t->raw);
    const uint8_t *rand = rd_bytes(&hs, 32);
    t->rand_len = 32;
    if (rand != NULL && memcmp(rand + 24, "DOWNGRD", 7) == 0)
        t->rand_len = 24;
    t->sid_len = rd_u8(&hs);
    t->sid_off = (size_t)(rd_ptr(&hs) - t->raw);
    rd_skip(&hs, t->sid_len);
    rd_skip(&hs, 3);
    if (rd_left(&hs) > 0) {
        struct ksd_rd e = rd_sub(&hs, rd_be16(&hs));
        while (rd_left(&e) > 0) {
            uint16_t ty = rd_be16(&e);
            struct ksd_rd d = rd_sub(&e, rd_be16(&e));
            if (ty == 51 && rd_left(&d) > 4 && t->nkey < BG_MAX_KEYS) {
                rd_skip(&d, 2);
                t->key_len[t->nkey] = rd_be16(&d);
                t->key_off[t->nkey] = (size_t)(rd_ptr(&d) - t->raw);
                t->nkey++;
            }
            if (rd_err(&e))
                return -1;
        }
    }
    return rd_err(&r) || rd_err(&hs) ? -1 : 0;
}

/*
 * Build the ClientHello of template t for host name sni: a TLS record for a
 * TCP template, the bare handshake message for a QUIC one. Random, session
 * id and key shares come from r. Returns the length written to out.
 */
static size_t ch_build(const struct bg_ch *t, struct bg_rng *r, const char *sni, uint8_t *out,
                       uint8_t *sid_out)
{
    size_t o = t->tcp ? 5 : 0;
    size_t hs = o;
    o += 4;
    put16(out + o, t->version);
    o += 2;
    rng_fill(r, out + o, 32);
    o += 32;
    out[o++] = (uint8_t)t->sid_len;
    rng_fill(r, out + o, t->sid_len);
    if (sid_out != NULL)
        memcpy(sid_out, out + o, t->sid_len);
    o += t->sid_len;
    memcpy(out + o, t->mid, t->mid_len);
    o += t->mid_len;
    size_t el = o;
    o += 2;
    size_t n = strlen(sni);
    for (size_t i = 0; i < t->next; i++) {
        put16(out + o, t->ext_type[i]);
        if (t->ext_type[i] == 0) {
            put16(out + o + 2, (uint32_t)n + 5); /* extension length */
            put16(out + o + 4, (uint32_t)n + 3); /* server_name_list length */
            out[o + 6] = 0;                      /* host_name */
            put16(out + o + 7, (uint32_t)n);
            memcpy(out + o + 9, sni, n);
            o += 9 + n;
            continue;
        }
        put16(out + o + 2, t->ext_len[i]);
        memcpy(out + o + 4, t->ext_data[i], t->ext_len[i]);
        if (t->ext_type[i] == 51) {
            for (size_t k = 0; k < t->nkey; k++) {
                uint8_t *kp = out + o + 4 + t->key_off[k];
                size_t kl = t->key_len[k];
                if (kl <= 1)
                    continue; /* GREASE share */
                if (t->key_grp[k] >= 23 && t->key_grp[k] <= 25)
                    rng_fill(r, kp + 1, kl - 1); /* keep the 0x04 point format */
                else
                    rng_fill(r, kp, kl);
            }
        }
        o += 4 + t->ext_len[i];
    }
    put16(out + el, (uint32_t)(o - el - 2));
    out[hs] = 1;
    put24(out + hs + 1, (uint32_t)(o - hs - 4));
    if (t->tcp) {
        out[0] = 0x16;
        out[1] = t->raw[1];
        out[2] = t->raw[2];
        put16(out + 3, (uint32_t)(o - 5));
    }
    return o;
}

/* ---- names and addresses -------------------------------------------------- */

static void make_names(struct bg_gen *g)
{
    static const char *const pre[] = {"www",  "api",    "cdn",  "static", "img",   "login", "mail",
                                      "app",  "assets", "edge", "m",      "news",  "shop",  "video",
                                      "auth", "gw",     "docs", "portal", "files", "media"};
    static const char *const syl[] = {"ba",  "lo", "mi",  "ra",  "ven", "tor", "qui", "del",
                                      "sa",  "no", "ri",  "fa",  "zen", "pol", "mar", "tu",
                                      "lin", "go", "ex",  "vi",  "sol", "nu",  "par", "den",
                                      "cor", "ly", "bri", "ton", "ma",  "fe"};
    static const char *const tld[] = {"com",   "net",   "org", "io", "de",
                                      "co.uk", "cloud", "app", "fr", "nl"};
    struct bg_rng r = rng_make(g->seed, 1);
    for (size_t i = 0; i < BG_NNAMES; i++) {
        char body[40] = "";
        unsigned ns = 2 + rng_below(&r, 2);
        for (unsigned k = 0; k < ns; k++)
            strcat(body, syl[rng_below(&r, KSD_ARRAY_LEN(syl))]);
        char num[8] = "";
        if (rng_below(&r, 4) == 0)
            snprintf(num, sizeof(num), "%u", rng_below(&r, 100));
        snprintf(g->names[i], BG_NAME_MAX, "%s.%s%s.%s", pre[rng_below(&r, KSD_ARRAY_LEN(pre))],
                 body, num, tld[rng_below(&r, KSD_ARRAY_LEN(tld))]);
    }
}

static uint32_t mix32(uint64_t x)
{
    struct bg_rng r = {x};
    return (uint32_t)rng_next(&r);
}

/* Server of a generated name: 198.18.0.0 - 198.19.253.255 (198.19.254/23 is Kaspersky's). */
static uint32_t name_addr(const struct bg_gen *g, uint32_t name)
{
    return 0xc6120000u + mix32(g->seed ^ ((uint64_t)name << 20) ^ 0x5eed) % (131072u - 512u);
}

/* Server of a Kaspersky name: the real prefix 77.74.176.0/21 or 198.19.254.0/24. */
static uint32_t kname_addr(uint32_t k)
{
    if (k % 2 == 0)
        return (77u << 24) | (74u << 16) | ((176u + k % 8) << 8) | (10u + k);
    return 0xc613fe00u | (10u + k);
}

static const char *flow_name(const struct bg_gen *g, const struct bg_flow *f)
{
    return f->kasp ? bg_knames[f->name] : g->names[f->name];
}

static void fmt_ip(uint32_t a, char *s, size_t n)
{
    snprintf(s, n, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* ---- output ---------------------------------------------------------------- */

static void write_frame(struct bg_gen *g, const struct bg_flow *f, size_t len)
{
    int64_t t = f->t;
    uint32_t hdr[4] = {BG_BASE_TS + (uint32_t)(t / 1000000), (uint32_t)(t % 1000000), (uint32_t)len,
                       (uint32_t)len};
    fwrite(hdr, sizeof(hdr), 1, g->out);
    fwrite(g->frame, len, 1, g->out);
    g->pkts++;
    g->bytes += len;
}

/* Ethernet + IPv4 header into g->frame; returns 34. */
static size_t put_l2l3(struct bg_gen *g, struct bg_flow *f, int dir, uint8_t proto, size_t l4len)
{
    static const uint8_t gw[6] = {0x00, 0x1b, 0x21, 0x3a, 0x4c, 0x5e};
    uint8_t cm[6] = {0x02,
                     0x42,
                     (uint8_t)(f->cli >> 24),
                     (uint8_t)(f->cli >> 16),
                     (uint8_t)(f->cli >> 8),
                     (uint8_t)f->cli};
    uint8_t *p = g->frame;
    memcpy(p, dir == BG_C ? gw : cm, 6);
    memcpy(p + 6, dir == BG_C ? cm : gw, 6);
    p[12] = 0x08;
    p[13] = 0x00;
    uint8_t *ip = p + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint32_t)(20 + l4len));
    put16(ip + 4, dir == BG_C ? f->cipid++ : f->sipid++);
    put16(ip + 6, proto == 6 ? 0x4000 : 0);
    ip[8] = dir == BG_C ? f->cttl : f->sttl;
    ip[9] = proto;
    put16(ip + 10, 0);
    put32(ip + 12, dir == BG_C ? f->cli : f->srv);
    put32(ip + 16, dir == BG_C ? f->srv : f->cli);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    return 34;
}

static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4len)
{
    uint32_t s = csum_add(0, ip + 12, 8);
    return s + proto + (uint32_t)l4len;
}

#define BG_TF_FIN 0x01
#define BG_TF_SYN 0x02
#define BG_TF_PSH 0x08
#define BG_TF_ACK 0x10

static void tcp_out(struct bg_gen *g, struct bg_flow *f, int dir, uint8_t flags, const uint8_t *pl,
                    size_t len)
{
    static const uint8_t synopt[12] = {2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2};
    size_t hl = (flags & BG_TF_SYN) ? 32 : 20;
    size_t o = put_l2l3(g, f, dir, 6, hl + len);
    uint8_t *t = g->frame + o;
    uint32_t *seq = dir == BG_C ? &f->cseq : &f->sseq;
    put16(t, dir == BG_C ? f->cport : f->sport);
    put16(t + 2, dir == BG_C ? f->sport : f->cport);
    put32(t + 4, *seq);
    put32(t + 8, (flags & BG_TF_ACK) ? (dir == BG_C ? f->sseq : f->cseq) : 0);
    t[12] = (uint8_t)(hl / 4) << 4;
    t[13] = flags;
    put16(t + 14, (flags & BG_TF_SYN) ? (dir == BG_C ? 64240 : 65160) : (dir == BG_C ? 1026 : 501));
    put16(t + 16, 0);
    put16(t + 18, 0);
    if (hl == 32)
        memcpy(t + 20, synopt, 12);
    if (len > 0)
        memcpy(t + hl, pl, len);
    put16(t + 16, csum_fold(csum_add(pseudo_sum(g->frame + 14, 6, hl + len), t, hl + len)));
    *seq += (uint32_t)len + ((flags & (BG_TF_SYN | BG_TF_FIN)) ? 1 : 0);
    write_frame(g, f, o + hl + len);
}

static void udp_out(struct bg_gen *g, struct bg_flow *f, int dir, const uint8_t *pl, size_t len)
{
    size_t o = put_l2l3(g, f, dir, 17, 8 + len);
    uint8_t *u = g->frame + o;
    put16(u, dir == BG_C ? f->cport : f->sport);
    put16(u + 2, dir == BG_C ? f->sport : f->cport);
    put16(u + 4, (uint32_t)(8 + len));
    put16(u + 6, 0);
    memcpy(u + 8, pl, len);
    uint16_t c = csum_fold(csum_add(pseudo_sum(g->frame + 14, 17, 8 + len), u, 8 + len));
    put16(u + 6, c == 0 ? 0xffff : c);
    write_frame(g, f, o + 8 + len);
}

/* ---- payload builders (deterministic from the flow seed) ------------------------ */

enum bg_stream {
    BG_ST_HELLO = 11,
    BG_ST_FLIGHT,
    BG_ST_DNS,
    BG_ST_HTTP,
    BG_ST_MISC,
};

static size_t build_hello(struct bg_gen *g, const struct bg_flow *f, uint8_t *out, uint8_t *sid)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_HELLO);
    return ch_build(&g->ch[f->ch], &r, flow_name(g, f), out, sid);
}

/* Server flight: ServerHello (+ TLS 1.3: CCS and one encrypted record of f->body bytes). */
static size_t build_flight(struct bg_gen *g, const struct bg_flow *f, uint8_t *out)
{
    const struct bg_ch *c = &g->ch[f->ch];
    const struct bg_sh *s = &g->sh[c->sh];
    uint8_t sid[32];
    build_hello(g, f, g->buf2, sid);
    struct bg_rng r = rng_make(f->seed, BG_ST_FLIGHT);
    memcpy(out, s->raw, s->raw_len);
    rng_fill(&r, out + s->rand_off, s->rand_len);
    if (s->sid_len == c->sid_len && s->sid_len > 0)
        memcpy(out + s->sid_off, sid, s->sid_len);
    for (size_t k = 0; k < s->nkey; k++)
        rng_fill(&r, out + s->key_off[k], s->key_len[k]);
    size_t o = s->raw_len;
    if (!c->tls12) {
        static const uint8_t ccs[6] = {0x14, 3, 3, 0, 1, 1};
        memcpy(out + o, ccs, 6);
        o += 6;
        out[o] = 0x17;
        out[o + 1] = 3;
        out[o + 2] = 3;
        put16(out + o + 3, f->body);
        rng_fill(&r, out + o + 5, f->body);
        o += 5 + f->body;
    }
    return o;
}

static size_t flight_len(const struct bg_gen *g, const struct bg_flow *f)
{
    const struct bg_ch *c = &g->ch[f->ch];
    return g->sh[c->sh].raw_len + (c->tls12 ? 0 : 11 + (size_t)f->body);
}

/* Client second flight: TLS 1.3 CCS + Finished + request; TLS 1.2 CKE + CCS + Finished. */
static size_t build_cfin(const struct bg_gen *g, const struct bg_flow *f, uint8_t *out)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_MISC);
    size_t o = 0;
    if (g->ch[f->ch].tls12) {
        static const uint8_t cke[9] = {0x16, 3, 3, 0, 0x25, 0x10, 0, 0, 0x21};
        memcpy(out, cke, 9);
        out[9] = 0x20;
        rng_fill(&r, out + 10, 32);
        o = 42;
    }
    static const uint8_t ccs[6] = {0x14, 3, 3, 0, 1, 1};
    memcpy(out + o, ccs, 6);
    o += 6;
    int t12 = g->ch[f->ch].tls12;
    out[o] = t12 ? 0x16 : 0x17;
    out[o + 1] = 3;
    out[o + 2] = 3;
    put16(out + o + 3, t12 ? 40 : 53);
    rng_fill(&r, out + o + 5, t12 ? 40 : 53);
    o += t12 ? 45 : 58;
    out[o] = 0x17;
    out[o + 1] = 3;
    out[o + 2] = 3;
    put16(out + o + 3, f->req);
    rng_fill(&r, out + o + 5, f->req);
    return o + 5 + f->req;
}

static size_t cfin_len(const struct bg_gen *g, const struct bg_flow *f)
{
    return (g->ch[f->ch].tls12 ? 42 + 6 + 45 : 6 + 58) + 5 + (size_t)f->req;
}

static const char *const bg_uas[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Microsoft-Delivery-Optimization/10.0",
    "curl/7.88.1",
};

static size_t build_hreq(const struct bg_gen *g, const struct bg_flow *f, uint8_t *out)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_HTTP);
    char path[96];
    uint32_t v = rng_below(&r, 100000);
    switch (rng_below(&r, 6)) {
        case 0:
            snprintf(path, sizeof(path), "/");
            break;
        case 1:
            snprintf(path, sizeof(path), "/index.html");
            break;
        case 2:
            snprintf(path, sizeof(path), "/api/v2/items/%u", v);
            break;
        case 3:
            snprintf(path, sizeof(path), "/static/js/app.%x.js", v * 2654435761u);
            break;
        case 4:
            snprintf(path, sizeof(path), "/images/p%u.jpg", v);
            break;
        default:
            snprintf(path, sizeof(path), "/downloads/pkg-%u.bin", v);
            break;
    }
    int n = snprintf((char *)out, BG_MAX_FLIGHT,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                     "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
                     path, flow_name(g, f), bg_uas[rng_below(&r, KSD_ARRAY_LEN(bg_uas))]);
    return (size_t)n;
}

static size_t build_hresp_hdr(const struct bg_flow *f, uint8_t *out)
{
    int n = snprintf((char *)out, 512,
                     "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 08:00:00 GMT\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %u\r\n"
                     "Connection: keep-alive\r\n\r\n",
                     f->body);
    return (size_t)n;
}

static size_t dns_name(uint8_t *p, const char *name)
{
    size_t o = 0;
    while (*name != '\0') {
        const char *dot = strchr(name, '.');
        size_t l = dot != NULL ? (size_t)(dot - name) : strlen(name);
        p[o++] = (uint8_t)l;
        memcpy(p + o, name, l);
        o += l;
        name += l;
        if (*name == '.')
            name++;
    }
    p[o++] = 0;
    return o;
}

static size_t build_dns(const struct bg_gen *g, const struct bg_flow *f, int resp, uint8_t *out)
{
    struct bg_rng r = rng_make(f->seed, BG_ST_DNS);
    uint16_t id = (uint16_t)rng_next(&r);
    int aaaa = !f->kasp && rng_below(&r, 4) == 0;
    int cname = !f->kasp && rng_below(&r, 3) == 0;
    int edns = rng_below(&r, 2);
    unsigned nans = f->kasp ? 1 : 1 + rng_below(&r, 3);
    put16(out, id);
    put16(out + 2, resp ? 0x8180 : 0x0100);
    put16(out + 4, 1);
    put16(out + 6, resp ? nans + (unsigned)cname : 0);
    put16(out + 8, 0);
    put16(out + 10, (uint32_t)edns);
    size_t o = 12;
    o += dns_name(out + o, flow_name(g, f));
    put16(out + o, aaaa ? 28 : 1);
    put16(out + o + 2, 1);
    o += 4;
    if (resp) {
        uint16_t ptr = 0xc00c;
        uint32_t addr = f->kasp ? kname_addr(f->name) : name_addr(g, f->name);
        if (cname) {
            static const char *const cdn[] = {"edgebench-cdn.net", "fastedge.example.net",
                                              "akam-bench.net"};
            char target[BG_NAME_MAX + 32];
            snprintf(target, sizeof(target), "e%u.edge%u.%s", rng_below(&r, 9999),
                     rng_below(&r, 64), cdn[rng_below(&r, KSD_ARRAY_LEN(cdn))]);
            put16(out + o, ptr);
            put16(out + o + 2, 5);
            put16(out + o + 4, 1);
            put32(out + o + 6, 300);
            size_t nl = dns_name(out + o + 12, target);
            put16(out + o + 10, (uint32_t)nl);
            ptr = (uint16_t)(0xc000 | (o + 12));
            o += 12 + nl;
        }
        for (unsigned i = 0; i < nans; i++) {
            put16(out + o, ptr);
            put16(out + o + 2, aaaa ? 28 : 1);
            put16(out + o + 4, 1);
            put32(out + o + 6, 60 + rng_below(&r, 3600));
            put16(out + o + 10, aaaa ? 16 : 4);
            o += 12;
            if (aaaa) {
                static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xe0};
                memcpy(out + o, pfx, 6);
                put32(out + o + 6, 0);
                put16(out + o + 10, i);
                put32(out + o + 12, addr);
                o += 16;
            } else {
                /* a Kaspersky name only ever maps to its own server */
                put32(out + o, f->kasp ? addr : addr + i * 7919u % 509u);
                o += 4;
            }
        }
    }
    if (edns) {
        static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
        memcpy(out + o, opt, 11);
        o += 11;
    }
    return o;
}

static size_t varint(uint8_t *p, uint64_t v, size_t want)
{
    if (want == 1) {
        p[0] = (uint8_t)v;
        return 1;
    }
    put16(p, 0x4000 | (uint32_t)v);
    return 2;
}

#define BG_QUIC_HDR  (1 + 4 + 1 + 8 + 1 + 1 + 2 + 2) /* Initial header, pn 2 bytes */
#define BG_QUIC_DATA (BG_QUIC_DGRAM - BG_QUIC_HDR - 16 - 5)

/* One protected client Initial (RFC 9000 17.2.2, RFC 9001 5.3-5.4) of packet number pn. */
static size_t build_qinit(struct bg_gen *g, const struct bg_flow *f, uint32_t pn, uint8_t *out)
{
    size_t hl = build_hello(g, f, g->buf2, NULL);
    size_t off = (size_t)pn * BG_QUIC_DATA;
    size_t n = hl - off < BG_QUIC_DATA ? hl - off : BG_QUIC_DATA;
    uint8_t pt[BG_QUIC_DGRAM];
    size_t ptlen = BG_QUIC_DGRAM - BG_QUIC_HDR - 16;
    memset(pt, 0, ptlen);
    size_t o = 0;
    pt[o++] = 0x06;
    o += varint(pt + o, off, off < 64 ? 1 : 2);
    o += varint(pt + o, n, 2);
    memcpy(pt + o, g->buf2 + off, n);

    size_t h = 0;
    out[h++] = 0xc1; /* long header, Initial, 2-byte packet number */
    put32(out + h, 1);
    h += 4;
    out[h++] = 8;
    memcpy(out + h, f->dcid, 8);
    h += 8;
    out[h++] = 0; /* SCID length (Chrome sends none) */
    out[h++] = 0; /* token length */
    put16(out + h, 0x4000 | (uint32_t)(2 + ptlen + 16));
    h += 2;
    size_t pn_off = h;
    put16(out + h, pn);
    h += 2;

    struct ksd_quic_keys k;
    if (ksd_quic_initial_keys(1, f->dcid, 8, 0, &k) != KSD_OK) {
        fprintf(stderr, "benchgen: ksd_quic_initial_keys failed\n");
        exit(1);
    }
    uint8_t nonce[12];
    memcpy(nonce, k.iv, 12);
    nonce[10] ^= (uint8_t)(pn >> 8);
    nonce[11] ^= (uint8_t)pn;
    int l = 0;
    if (EVP_EncryptInit_ex(g->gcm, EVP_aes_128_gcm(), NULL, k.key, nonce) != 1 ||
        EVP_EncryptUpdate(g->gcm, NULL, &l, out, (int)h) != 1 ||
        EVP_EncryptUpdate(g->gcm, out + h, &l, pt, (int)ptlen) != 1 ||
        EVP_EncryptFinal_ex(g->gcm, out + h + l, &l) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->gcm, EVP_CTRL_GCM_GET_TAG, 16, out + h + ptlen) != 1) {
        fprintf(stderr, "benchgen: AES-128-GCM failed\n");
        exit(1);
    }
    uint8_t mask[32];
    if (EVP_EncryptInit_ex(g->ecb, EVP_aes_128_ecb(), NULL, k.hp, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(g->ecb, 0) != 1 ||
        EVP_EncryptUpdate(g->ecb, mask, &l, out + pn_off + 4, 16) != 1) {
        fprintf(stderr, "benchgen: AES-128-ECB failed\n");
        exit(1);
    }
    out[0] ^= mask[0] & 0x0f;
    out[pn_off] ^= mask[1];
    out[pn_off + 1] ^= mask[2];
    return h + ptlen + 16;
}

/* ---- flow scripts ------------------------------------------------------------- */

static void add_step(struct bg_gen *g, struct bg_flow *f, int dir, int op, size_t len,
                     uint32_t count, uint32_t arg)
{
    if (g->nsteps == g->capsteps) {
        g->capsteps = g->capsteps ? g->capsteps * 2 : 1u << 20;
        g->steps = realloc(g->steps, g->capsteps * sizeof(*g->steps));
        if (g->steps == NULL) {
            fprintf(stderr, "benchgen: out of memory\n");
            exit(1);
        }
    }
    struct bg_step *s = &g->steps[g->nsteps++];
    s->dir = (uint8_t)dir;
    s->op = (uint8_t)op;
    s->len = (uint16_t)len;
    s->count = count;
    s->arg = arg;
    f->nstep++;
}

/* Split n bytes of op into MSS segments; acks from the other side every second one. */
static void add_segments(struct bg_gen *g, struct bg_flow *f, int dir, int op, size_t n, int acks)
{
    size_t segs = 0;
    for (size_t off = 0; off < n; off += BG_MSS) {
        size_t l = n - off < BG_MSS ? n - off : BG_MSS;
        add_step(g, f, dir, op, l, 1, (uint32_t)off);
        if (acks && ++segs % 2 == 0 && off + l < n)
            add_step(g, f, !dir, BG_OP_ACK, 0, 1, 0);
    }
    if (acks)
        add_step(g, f, !dir, BG_OP_ACK, 0, 1, 0);
}

static uint32_t script_packets(const struct bg_gen *g, const struct bg_flow *f)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->nstep; i++)
        n += g->steps[f->step + i].count;
    return n;
}

static void script_tls_open(struct bg_gen *g, struct bg_flow *f, struct bg_rng *r)
{
    add_step(g, f, BG_C, BG_OP_SYN, 0, 1, 0);
    add_step(g, f, BG_S, BG_OP_SYNACK, 0, 1, 0);
    add_step(g, f, BG_C, BG_OP_ACK, 0, 1, 0);
    f->hello_len = (uint16_t)build_hello(g, f, g->buf, NULL);
    add_segments(g, f, BG_C, BG_OP_CH, f->hello_len, 0);
    add_step(g, f, BG_S, BG_OP_ACK, 0, 1, 0);
    f->body = 1200 + rng_below(r, 2600);
    add_segments(g, f, BG_S, BG_OP_FLIGHT, flight_len(g, f), 0);
    add_step(g, f, BG_C, BG_OP_ACK, 0, 1, 0);
    f->req = (uint16_t)(60 + rng_below(r, 600));
    add_step(g, f, BG_C, BG_OP_CFIN, cfin_len(g, f), 1, 0);
    if (g->ch[f->ch].tls12)
        add_step(g, f, BG_S, BG_OP_SFIN, 51, 1, 0);
}

static void script_close(struct bg_gen *g, struct bg_flow *f)
{
    add_step(g, f, BG_C, BG_OP_FIN, 0, 1, 0);
    add_step(g, f, BG_S, BG_OP_FIN, 0, 1, 0);
    add_step(g, f, BG_C, BG_OP_ACK, 0, 1, 0);
}

static uint32_t pick_ch_tcp(struct bg_rng *r)
{
    uint32_t v = rng_below(r, 100);
    if (v < 58)
        return 0; /* Chrome X25519MLKEM768 */
    if (v < 68)
        return 1; /* Chrome X25519Kyber768 */
    if (v < 76)
        return 2;
    if (v < 84)
        return 3;
    if (v < 92)
        return 4;
    return 5;
}

/* Plan flow f of `kind`; keep_name: f->name is already chosen. */
static void plan_flow(struct bg_gen *g, struct bg_flow *f, int kind, struct bg_rng *r,
                      int keep_name)
{
    f->kind = (uint8_t)kind;
    f->step = (uint32_t)g->nsteps;
    f->cttl = rng_below(r, 2) ? 128 : 64;
    f->sttl = (uint8_t)(44 + rng_below(r, 16));
    f->cseq = (uint32_t)rng_next(r);
    f->sseq = (uint32_t)rng_next(r);
    f->cipid = (uint16_t)rng_next(r);
    f->sipid = (uint16_t)rng_next(r);
    f->cport = (uint16_t)(49152 + rng_below(r, 16384));
    f->rtt = 4000 + rng_below(r, 120000);
    f->trng = rng_next(r);
    if (!keep_name)
        f->name = rng_below(r, BG_NNAMES);
    f->srv = f->kasp ? kname_addr(f->name) : name_addr(g, f->name);
    switch (kind) {
        case BG_K_DNS:
            f->srv = rng_below(r, 4) == 0 ? 0x0a000036u : 0x0a000035u; /* 10.0.0.53/54 */
            f->sport = 53;
            f->rtt = 300 + rng_below(r, 40000);
            add_step(g, f, BG_C, BG_OP_DNSQ, 0, 1, 0);
            add_step(g, f, BG_S, BG_OP_DNSR, 0, 1, 0);
            g->dns_queries++;
            break;
        case BG_K_TLS:
        case BG_K_BULK_TLS: {
            f->sport = 443;
            f->ch = (uint8_t)(f->kasp ? (rng_below(r, 2) ? 0 : 2) : pick_ch_tcp(r));
            script_tls_open(g, f, r);
            if (kind == BG_K_TLS) {
                size_t resp = 100 + rng_below(r, 2400);
                for (size_t off = 0, k = 0; off < resp; off += BG_MSS, k++) {
                    size_t l = resp - off < BG_MSS ? resp - off : BG_MSS;
                    if (l < 40)
                        l = 40; /* room for a record header */
                    add_step(g, f, BG_S, BG_OP_APP, l, 1, 0);
                    if (k % 2 == 1 || off + l >= resp)
                        add_step(g, f, BG_C, BG_OP_ACK, 0, 1, 0);
                }
                script_close(g, f);
            }
            g->tcp_hellos++;
            break;
        }
        case BG_K_QUIC: {
            f->sport = 443;
            f->ch = (uint8_t)(rng_below(r, 3) == 0 ? 7 : 6);
            rng_fill(r, f->dcid, 8);
            f->hello_len = (uint16_t)build_hello(g, f, g->buf, NULL);
            for (uint32_t pn = 0; (size_t)pn * BG_QUIC_DATA < f->hello_len; pn++)
                add_step(g, f, BG_C, BG_OP_QINIT, BG_QUIC_DGRAM, 1, pn);
            add_step(g, f, BG_S, BG_OP_QSHORT, 1200 + rng_below(r, 52), 1, 0);
            add_step(g, f, BG_S, BG_OP_QSHORT, 1200 + rng_below(r, 52), 1, 0);
            add_step(g, f, BG_S, BG_OP_QSHORT, 200 + rng_below(r, 600), 1, 0);
            add_step(g, f, BG_C, BG_OP_QSHORT, 30 + rng_below(r, 60), 1, 0);
            unsigned nd = rng_below(r, 8);
            for (unsigned i = 0; i < nd; i++) {
                add_step(g, f, BG_S, BG_OP_QSHORT, 1000 + rng_below(r, 250), 1, 0);
                if (i % 2 == 1 || i + 1 == nd)
                    add_step(g, f, BG_C, BG_OP_QSHORT, 30 + rng_below(r, 30), 1, 0);
            }
            g->quic_hellos++;
            break;
        }
        case BG_K_HTTP:
        case BG_K_BULK_HTTP:
            f->sport = 80;
            add_step(g, f, BG_C, BG_OP_SYN, 0, 1, 0);
            add_step(g, f, BG_S, BG_OP_SYNACK, 0, 1, 0);
            add_step(g, f, BG_C, BG_OP_ACK, 0, 1, 0);
            add_step(g, f, BG_C, BG_OP_HREQ, build_hreq(g, f, g->buf), 1, 0);
            add_step(g, f, BG_S, BG_OP_ACK, 0, 1, 0);
            if (kind == BG_K_HTTP) {
                f->body = 100 + rng_below(r, 8000);
                add_segments(g, f, BG_S, BG_OP_HRESP, build_hresp_hdr(f, g->buf) + f->body, 1);
                script_close(g, f);
            } else {
                f->body = 0; /* set by plan_bulk */
            }
            break;
        case BG_K_NOISE: {
            static const uint16_t ports[] = {123, 161, 514, 1900, 3478, 4500, 5004, 27015};
            f->sport = rng_below(r, 3) == 0 ? (uint16_t)(30000 + rng_below(r, 10000))
                                            : ports[rng_below(r, KSD_ARRAY_LEN(ports))];
            if (f->sport == 123)
                f->cport = 123;
            unsigned np = 1 + rng_below(r, 4);
            for (unsigned i = 0; i < np; i++)
                add_step(g, f, (int)(i % 2), BG_OP_UDP, 40 + rng_below(r, 1160), 1, 0);
            break;
        }
        default:
            break;
    }
}

/* The data phase of a bulk flow: exactly `pkts` packets in total. */
static void plan_bulk(struct bg_gen *g, struct bg_flow *f, uint32_t pkts, int64_t span)
{
    uint32_t fixed = script_packets(g, f) + 3;
    uint32_t d = pkts > fixed ? pkts - fixed : 1;
    if (f->kind == BG_K_BULK_HTTP) {
        uint32_t dseg = d - d / 3;
        f->body = dseg * BG_MSS - (uint32_t)build_hresp_hdr(f, g->buf);
        f->body = dseg * BG_MSS - (uint32_t)build_hresp_hdr(f, g->buf); /* header grew */
    }
    add_step(g, f, BG_S, BG_OP_BULK, BG_MSS, d, 0);
    script_close(g, f);
    f->gap = (uint32_t)(span / d);
    if (f->gap < 2)
        f->gap = 2;
}

/* ---- emission --------------------------------------------------------------- */

static void flow_emit(struct bg_gen *g, struct bg_flow *f)
{
    const struct bg_step *s = &g->steps[f->step + f->pos];
    uint8_t *b = g->buf;
    size_t n;
    switch (s->op) {
        case BG_OP_SYN:
            tcp_out(g, f, BG_C, BG_TF_SYN, NULL, 0);
            break;
        case BG_OP_SYNACK:
            tcp_out(g, f, BG_S, BG_TF_SYN | BG_TF_ACK, NULL, 0);
            break;
        case BG_OP_ACK:
            tcp_out(g, f, s->dir, BG_TF_ACK, NULL, 0);
            break;
        case BG_OP_FIN:
            tcp_out(g, f, s->dir, BG_TF_FIN | BG_TF_ACK, NULL, 0);
            break;
        case BG_OP_CH:
            build_hello(g, f, b, NULL);
            tcp_out(g, f, BG_C, BG_TF_ACK | BG_TF_PSH, b + s->arg, s->len);
            break;
        case BG_OP_FLIGHT:
            build_flight(g, f, b);
            tcp_out(g, f, BG_S, BG_TF_ACK | BG_TF_PSH, b + s->arg, s->len);
            break;
        case BG_OP_CFIN:
            n = build_cfin(g, f, b);
            tcp_out(g, f, BG_C, BG_TF_ACK | BG_TF_PSH, b, n);
            break;
        case BG_OP_SFIN: {
            struct bg_rng r = rng_make(f->seed, BG_ST_MISC + 1);
            static const uint8_t hdr[11] = {0x14, 3, 3, 0, 1, 1, 0x16, 3, 3, 0, 40};
            memcpy(b, hdr, 11);
            rng_fill(&r, b + 11, 40);
            tcp_out(g, f, BG_S, BG_TF_ACK | BG_TF_PSH, b, 51);
            break;
        }
        case BG_OP_APP:
        case BG_OP_BULK: {
            int dir = s->dir;
            if (s->op == BG_OP_BULK && f->rep % 3 == 2) {
                tcp_out(g, f, BG_C, BG_TF_ACK, NULL, 0);
                break;
            }
            uint32_t off = (f->sseq * 2654435761u) & (BG_RAND_POOL - 1);
            const uint8_t *pl = g->rnd + off;
            if (s->op == BG_OP_BULK && f->kind == BG_K_BULK_HTTP && f->rep == 0) {
                size_t h = build_hresp_hdr(f, b);
                memcpy(b + h, pl, s->len - h);
                pl = b;
            } else if (s->op == BG_OP_APP || f->kind == BG_K_BULK_TLS) {
                memcpy(b + 5, pl, s->len - 5u);
                b[0] = 0x17;
                b[1] = 3;
                b[2] = 3;
                put16(b + 3, s->len - 5u);
                pl = b;
            }
            tcp_out(g, f, dir, BG_TF_ACK, pl, s->len);
            break;
        }
        case BG_OP_HREQ:
            n = build_hreq(g, f, b);
            tcp_out(g, f, BG_C, BG_TF_ACK | BG_TF_PSH, b, n);
            break;
        case BG_OP_HRESP: {
            size_t h = build_hresp_hdr(f, b);
            size_t off = s->arg;
            const uint8_t *pl;
            if (off == 0) {
                memcpy(b + h, g->rnd + (f->sseq & 0xffff), s->len - h);
                pl = b;
            } else {
                pl = g->rnd + ((f->sseq * 2654435761u) & (BG_RAND_POOL - 1));
            }
            tcp_out(g, f, BG_S, BG_TF_ACK, pl, s->len);
            break;
        }
        case BG_OP_DNSQ:
        case BG_OP_DNSR:
            n = build_dns(g, f, s->op == BG_OP_DNSR, b);
            udp_out(g, f, s->dir, b, n);
            break;
        case BG_OP_QINIT:
            n = build_qinit(g, f, s->arg, b);
            udp_out(g, f, BG_C, b, n);
            break;
        case BG_OP_QSHORT:
        case BG_OP_UDP: {
            struct bg_rng r = rng_make(f->seed, 100u + f->pos);
            rng_fill(&r, b, s->len);
            if (s->op == BG_OP_QSHORT)
                b[0] = (uint8_t)(0x40 | (b[0] & 0x3f));
            udp_out(g, f, s->dir, b, s->len);
            break;
        }
        default:
            break;
    }
}

/* Advance f past the packet just sent; returns 0 when the flow is finished. */
static int flow_advance(struct bg_gen *g, struct bg_flow *f)
{
    const struct bg_step *s = &g->steps[f->step + f->pos];
    int dir = s->op == BG_OP_BULK ? (f->rep % 3 == 2 ? BG_C : BG_S) : s->dir;
    struct bg_rng tr = {f->trng};
    f->rep++;
    if (f->rep >= s->count) {
        f->rep = 0;
        f->pos++;
        if (f->pos >= f->nstep)
            return 0;
    }
    const struct bg_step *nx = &g->steps[f->step + f->pos];
    int ndir = nx->op == BG_OP_BULK ? (f->rep % 3 == 2 ? BG_C : BG_S) : nx->dir;
    int64_t gap;
    if (nx->op == BG_OP_BULK && f->rep > 0)
        gap = f->gap / 2 + rng_below(&tr, f->gap);
    else if (ndir == dir)
        gap = 5 + rng_below(&tr, 300);
    else if (f->kind == BG_K_DNS)
        gap = f->rtt;
    else
        gap = f->rtt / 2 + rng_below(&tr, f->rtt / 8 + 1);
    f->trng = tr.s;
    f->t += gap;
    return 1;
}

/* ---- the event heap ------------------------------------------------------------- */

static int heap_less(const struct bg_gen *g, uint32_t a, uint32_t b)
{
    const struct bg_flow *fa = &g->flows[a], *fb = &g->flows[b];
    return fa->t < fb->t || (fa->t == fb->t && a < b);
}

static void heap_down(struct bg_gen *g, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < g->nheap && heap_less(g, g->heap[l], g->heap[m]))
            m = l;
        if (l + 1 < g->nheap && heap_less(g, g->heap[l + 1], g->heap[m]))
            m = l + 1;
        if (m == i)
            return;
        uint32_t t = g->heap[i];
        g->heap[i] = g->heap[m];
        g->heap[m] = t;
        i = m;
    }
}

static void heap_push(struct bg_gen *g, uint32_t v)
{
    size_t i = g->nheap++;
    g->heap[i] = v;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(g, g->heap[i], g->heap[p]))
            break;
        uint32_t t = g->heap[i];
        g->heap[i] = g->heap[p];
        g->heap[p] = t;
        i = p;
    }
}

static int cmp_flow(const void *a, const void *b)
{
    const struct bg_flow *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seed < y->seed ? -1 : x->seed > y->seed;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: benchgen -n PACKETS -o FILE [-k KASPERSKY_CLIENTS] [-s SEED] "
                    "[-d HELLO_DIR]\n");
    exit(2);
}

static int load_templates(struct bg_gen *g, const char *dir)
{
    for (size_t i = 0; i < KSD_ARRAY_LEN(bg_sh_files); i++) {
        struct bg_sh *s = &g->sh[g->nsh++];
        s->file = bg_sh_files[i];
        if (load_hex(dir, s->file, &s->raw, &s->raw_len) != 0)
            return -1;
        if (parse_sh(s) != 0) {
            fprintf(stderr, "benchgen: %s/%s.hex: not a ServerHello record\n", dir, s->file);
            return -1;
        }
    }
    for (size_t i = 0; i < KSD_ARRAY_LEN(bg_ch_files); i++) {
        struct bg_ch *c = &g->ch[g->nch++];
        c->file = bg_ch_files[i].file;
        c->tcp = bg_ch_files[i].tcp;
        c->tls12 = bg_ch_files[i].tls12;
        c->sh = bg_ch_files[i].sh;
        if (load_hex(dir, c->file, &c->raw, &c->raw_len) != 0)
            return -1;
        if (parse_ch(c) != 0) {
            fprintf(stderr, "benchgen: %s/%s.hex: not a ClientHello\n", dir, c->file);
            return -1;
        }
    }
    return 0;
}

static int pick_kind(struct bg_rng *r)
{
    /* per 1000 flows: dns 420, tls 330, quic 80, http 60, noise 110 */
    uint32_t v = rng_below(r, 1000);
    if (v < 420)
        return BG_K_DNS;
    if (v < 750)
        return BG_K_TLS;
    if (v < 830)
        return BG_K_QUIC;
    if (v < 890)
        return BG_K_HTTP;
    return BG_K_NOISE;
}

int main(int argc, char **argv)
{
    uint64_t npkts = 0;
    const char *outpath = NULL;
    const char *dir = "tests/bench/hellos";
    unsigned kc = 20;
    uint64_t seed = 1;
    int c;
    while ((c = getopt(argc, argv, "n:o:k:s:d:h")) != -1) {
        switch (c) {
            case 'n':
                npkts = strtoull(optarg, NULL, 10);
                break;
            case 'o':
                outpath = optarg;
                break;
            case 'k':
                kc = (unsigned)strtoul(optarg, NULL, 10);
                break;
            case 's':
                seed = strtoull(optarg, NULL, 10);
                break;
            case 'd':
                dir = optarg;
                break;
            default:
                usage();
        }
    }
    if (outpath == NULL || npkts < 1000 || npkts > 200000000 || kc > 1000)
        usage();

    static struct bg_gen gen;
    struct bg_gen *g = &gen;
    g->seed = seed;
    g->kc = kc;
    g->names = calloc(BG_NNAMES, sizeof(*g->names));
    g->rnd = malloc(BG_RAND_POOL + 2 * BG_MSS);
    g->gcm = EVP_CIPHER_CTX_new();
    g->ecb = EVP_CIPHER_CTX_new();
    if (g->names == NULL || g->rnd == NULL || g->gcm == NULL || g->ecb == NULL) {
        fprintf(stderr, "benchgen: out of memory\n");
        return 1;
    }
    if (load_templates(g, dir) != 0)
        return 1;
    struct bg_rng r0 = rng_make(seed, 2);
    rng_fill(&r0, g->rnd, BG_RAND_POOL + 2 * BG_MSS);
    make_names(g);
    /* Client pool: 10.1.0.0 - 10.255.255.255, a bijective scramble of the index. */
    for (uint32_t i = 0; i < BG_NPOOL; i++) {
        uint32_t x = (uint32_t)((i * 0x9e3779b1u + (uint32_t)(seed * 0x85ebca6bu)) & 0xffffffu);
        if (x < 0x010000u)
            x += 0x010000u * (1 + (i & 7)); /* keep 10.0.x.x for resolvers */
        g->pool[i] = 0x0a000000u | x;
    }
    for (uint32_t i = 0; i < BG_NPOOL; i++) /* make the scramble collision-free */
        for (uint32_t j = 0; j < i; j++)
            if (g->pool[j] == g->pool[i]) {
                g->pool[i] ^= 0x000100u;
                j = (uint32_t)-1;
            }

    /* Plan the non-bulk flows until they hold BG_NONBULK of the packets. */
    int64_t span = (int64_t)npkts * BG_US_PER_PKT;
    uint64_t target = (uint64_t)((double)npkts * BG_NONBULK);
    double est_flows = (double)target / 8.9;
    uint32_t kint = 150;
    if (kc > 0 && est_flows * 0.85 / (3.0 * kc) < kint)
        kint = (uint32_t)(est_flows * 0.85 / (3.0 * kc));
    if (kint < 1)
        kint = 1;
    size_t nbulk = npkts / 10000 ? npkts / 10000 : 1;
    size_t cap = (size_t)(est_flows * 1.5) + nbulk + 64;
    g->flows = calloc(cap, sizeof(*g->flows));
    if (g->flows == NULL) {
        fprintf(stderr, "benchgen: out of memory\n");
        return 1;
    }
    uint64_t sum = 0;
    uint64_t kj = 0;
    double spacing = (double)span * 0.95 / est_flows;
    for (size_t i = 0; sum < target && g->nflows + nbulk + 2 < cap; i++) {
        struct bg_flow *f = &g->flows[g->nflows++];
        struct bg_rng r = rng_make(seed, 1000 + i);
        f->seed = rng_next(&r);
        f->t = (int64_t)((double)i * spacing) + rng_below(&r, (uint32_t)(spacing / 2) + 1);
        int kind;
        if (kc > 0 && i % kint == kint / 2 && (double)i < est_flows * 0.9) {
            uint32_t ci = (uint32_t)(kj % kc);
            static const int kkinds[3] = {BG_K_DNS, BG_K_TLS, BG_K_QUIC};
            kind = kkinds[(kj / kc) % 3];
            f->kasp = 1;
            f->name = (uint32_t)((kj * 7) % BG_NKNAMES);
            f->cli = g->pool[ci];
            g->kused[ci] = 1;
            g->kflows++;
            kj++;
        } else {
            kind = pick_kind(&r);
            f->cli = g->pool[rng_below(&r, BG_NPOOL)];
        }
        plan_flow(g, f, kind, &r, f->kasp);
        if (f->kind == BG_K_DNS && !f->kasp && rng_below(&r, 5) == 0) {
            /* a quarter of the A lookups precede a connection: same name, same client */
            struct bg_flow *f2 = &g->flows[g->nflows++];
            struct bg_rng r2 = rng_make(seed, 0x7000000000ull + i);
            f2->seed = rng_next(&r2);
            f2->t = f->t + 50000;
            f2->cli = f->cli;
            f2->name = f->name;
            plan_flow(g, f2, BG_K_TLS, &r2, 1);
            g->count[BG_K_TLS]++;
            sum += script_packets(g, f2);
        }
        g->count[f->kind]++;
        sum += script_packets(g, f);
    }
    /* Bulk flows take the rest so that the file holds exactly npkts packets. */
    uint64_t rest = npkts > sum ? npkts - sum : 0;
    while (nbulk > 1 && rest / nbulk < 60)
        nbulk--;
    for (size_t b = 0; b < nbulk; b++) {
        struct bg_flow *f = &g->flows[g->nflows++];
        struct bg_rng r = rng_make(seed, 0x5000000000ull + b);
        f->seed = rng_next(&r);
        f->t = (int64_t)rng_below(&r, (uint32_t)(span / 2));
        f->cli = g->pool[rng_below(&r, BG_NPOOL)];
        int kind = rng_below(&r, 4) == 0 ? BG_K_BULK_HTTP : BG_K_BULK_TLS;
        plan_flow(g, f, kind, &r, 0);
        uint64_t share = rest / nbulk + (b < rest % nbulk ? 1 : 0);
        int64_t dur =
            (int64_t)((double)(span - f->t) * (0.5 + 0.45 * rng_below(&r, 1000) / 1000.0));
        plan_bulk(g, f, (uint32_t)share, dur);
        g->count[kind]++;
        sum += script_packets(g, f);
    }

    qsort(g->flows, g->nflows, sizeof(*g->flows), cmp_flow);
    g->heap = calloc(g->nflows, sizeof(*g->heap));
    g->out = fopen(outpath, "wb");
    if (g->heap == NULL || g->out == NULL) {
        fprintf(stderr, "benchgen: %s: %s\n", outpath, strerror(errno));
        return 1;
    }
    setvbuf(g->out, NULL, _IOFBF, 8u << 20);
    uint32_t gh[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, 1};
    fwrite(gh, sizeof(gh), 1, g->out);
    size_t next = 0;
    while (next < g->nflows || g->nheap > 0) {
        while (next < g->nflows && (g->nheap == 0 || g->flows[next].t <= g->flows[g->heap[0]].t))
            heap_push(g, (uint32_t)next++);
        struct bg_flow *f = &g->flows[g->heap[0]];
        flow_emit(g, f);
        if (flow_advance(g, f)) {
            heap_down(g, 0);
        } else {
            g->heap[0] = g->heap[--g->nheap];
            heap_down(g, 0);
        }
    }
    if (fclose(g->out) != 0) {
        fprintf(stderr, "benchgen: %s: %s\n", outpath, strerror(errno));
        return 1;
    }

    char kpath[4096];
    snprintf(kpath, sizeof(kpath), "%s.kaspersky", outpath);
    FILE *kf = fopen(kpath, "w");
    if (kf == NULL) {
        fprintf(stderr, "benchgen: %s: %s\n", kpath, strerror(errno));
        return 1;
    }
    unsigned nk = 0;
    for (unsigned i = 0; i < kc && i < BG_NPOOL; i++) {
        if (!g->kused[i])
            continue;
        char s[16];
        fmt_ip(g->pool[i], s, sizeof(s));
        fprintf(kf, "%s\n", s);
        nk++;
    }
    fclose(kf);
    fprintf(stderr, "benchgen: %llu packets, %llu bytes, %zu flows (", (unsigned long long)g->pkts,
            (unsigned long long)g->bytes, g->nflows);
    for (int k = 0; k < BG_K_COUNT; k++)
        fprintf(stderr, "%s%s %llu", k ? ", " : "", bg_kind_names[k],
                (unsigned long long)g->count[k]);
    fprintf(stderr,
            "); tcp_client_hellos %llu quic_client_hellos %llu dns_queries %llu; kaspersky "
            "flows %llu from %u clients -> %s\n",
            (unsigned long long)g->tcp_hellos, (unsigned long long)g->quic_hellos,
            (unsigned long long)g->dns_queries, (unsigned long long)g->kflows, nk, kpath);
    if (g->pkts != npkts)
        fprintf(stderr, "benchgen: warning: %llu packets planned, %llu written\n",
                (unsigned long long)npkts, (unsigned long long)g->pkts);
    EVP_CIPHER_CTX_free(g->gcm);
    EVP_CIPHER_CTX_free(g->ecb);
    return 0;
}
