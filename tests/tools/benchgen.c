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
#include "tests/tools/benchgen.h"

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
    f->hello_len = (uint16_t)ksd_bg_build_hello(g, f, g->buf, NULL);
    add_segments(g, f, BG_C, BG_OP_CH, f->hello_len, 0);
    add_step(g, f, BG_S, BG_OP_ACK, 0, 1, 0);
    f->body = 1200 + rng_below(r, 2600);
    add_segments(g, f, BG_S, BG_OP_FLIGHT, ksd_bg_flight_len(g, f), 0);
    add_step(g, f, BG_C, BG_OP_ACK, 0, 1, 0);
    f->req = (uint16_t)(60 + rng_below(r, 600));
    add_step(g, f, BG_C, BG_OP_CFIN, ksd_bg_cfin_len(g, f), 1, 0);
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
    f->srv = f->kasp ? ksd_bg_kname_addr(f->name) : ksd_bg_name_addr(g, f->name);
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
            f->hello_len = (uint16_t)ksd_bg_build_hello(g, f, g->buf, NULL);
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
            add_step(g, f, BG_C, BG_OP_HREQ, ksd_bg_build_hreq(g, f, g->buf), 1, 0);
            add_step(g, f, BG_S, BG_OP_ACK, 0, 1, 0);
            if (kind == BG_K_HTTP) {
                f->body = 100 + rng_below(r, 8000);
                add_segments(g, f, BG_S, BG_OP_HRESP, ksd_bg_build_hresp_hdr(f, g->buf) + f->body,
                             1);
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
        f->body = dseg * BG_MSS - (uint32_t)ksd_bg_build_hresp_hdr(f, g->buf);
        f->body = dseg * BG_MSS - (uint32_t)ksd_bg_build_hresp_hdr(f, g->buf); /* header grew */
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
            ksd_bg_tcp_out(g, f, BG_C, BG_TF_SYN, NULL, 0);
            break;
        case BG_OP_SYNACK:
            ksd_bg_tcp_out(g, f, BG_S, BG_TF_SYN | BG_TF_ACK, NULL, 0);
            break;
        case BG_OP_ACK:
            ksd_bg_tcp_out(g, f, s->dir, BG_TF_ACK, NULL, 0);
            break;
        case BG_OP_FIN:
            ksd_bg_tcp_out(g, f, s->dir, BG_TF_FIN | BG_TF_ACK, NULL, 0);
            break;
        case BG_OP_CH:
            ksd_bg_build_hello(g, f, b, NULL);
            ksd_bg_tcp_out(g, f, BG_C, BG_TF_ACK | BG_TF_PSH, b + s->arg, s->len);
            break;
        case BG_OP_FLIGHT:
            ksd_bg_build_flight(g, f, b);
            ksd_bg_tcp_out(g, f, BG_S, BG_TF_ACK | BG_TF_PSH, b + s->arg, s->len);
            break;
        case BG_OP_CFIN:
            n = ksd_bg_build_cfin(g, f, b);
            ksd_bg_tcp_out(g, f, BG_C, BG_TF_ACK | BG_TF_PSH, b, n);
            break;
        case BG_OP_SFIN: {
            struct bg_rng r = rng_make(f->seed, BG_ST_MISC + 1);
            static const uint8_t hdr[11] = {0x14, 3, 3, 0, 1, 1, 0x16, 3, 3, 0, 40};
            memcpy(b, hdr, 11);
            rng_fill(&r, b + 11, 40);
            ksd_bg_tcp_out(g, f, BG_S, BG_TF_ACK | BG_TF_PSH, b, 51);
            break;
        }
        case BG_OP_APP:
        case BG_OP_BULK: {
            int dir = s->dir;
            if (s->op == BG_OP_BULK && f->rep % 3 == 2) {
                ksd_bg_tcp_out(g, f, BG_C, BG_TF_ACK, NULL, 0);
                break;
            }
            uint32_t off = (f->sseq * 2654435761u) & (BG_RAND_POOL - 1);
            const uint8_t *pl = g->rnd + off;
            if (s->op == BG_OP_BULK && f->kind == BG_K_BULK_HTTP && f->rep == 0) {
                size_t h = ksd_bg_build_hresp_hdr(f, b);
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
            ksd_bg_tcp_out(g, f, dir, BG_TF_ACK, pl, s->len);
            break;
        }
        case BG_OP_HREQ:
            n = ksd_bg_build_hreq(g, f, b);
            ksd_bg_tcp_out(g, f, BG_C, BG_TF_ACK | BG_TF_PSH, b, n);
            break;
        case BG_OP_HRESP: {
            size_t h = ksd_bg_build_hresp_hdr(f, b);
            size_t off = s->arg;
            const uint8_t *pl;
            if (off == 0) {
                memcpy(b + h, g->rnd + (f->sseq & 0xffff), s->len - h);
                pl = b;
            } else {
                pl = g->rnd + ((f->sseq * 2654435761u) & (BG_RAND_POOL - 1));
            }
            ksd_bg_tcp_out(g, f, BG_S, BG_TF_ACK, pl, s->len);
            break;
        }
        case BG_OP_DNSQ:
        case BG_OP_DNSR:
            n = ksd_bg_build_dns(g, f, s->op == BG_OP_DNSR, b);
            ksd_bg_udp_out(g, f, s->dir, b, n);
            break;
        case BG_OP_QINIT:
            n = ksd_bg_build_qinit(g, f, s->arg, b);
            ksd_bg_udp_out(g, f, BG_C, b, n);
            break;
        case BG_OP_QSHORT:
        case BG_OP_UDP: {
            struct bg_rng r = rng_make(f->seed, 100u + f->pos);
            rng_fill(&r, b, s->len);
            if (s->op == BG_OP_QSHORT)
                b[0] = (uint8_t)(0x40 | (b[0] & 0x3f));
            ksd_bg_udp_out(g, f, s->dir, b, s->len);
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
        if (ksd_bg_load_hex(dir, s->file, &s->raw, &s->raw_len) != 0)
            return -1;
        if (ksd_bg_parse_sh(s) != 0) {
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
        if (ksd_bg_load_hex(dir, c->file, &c->raw, &c->raw_len) != 0)
            return -1;
        if (ksd_bg_parse_ch(c) != 0) {
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
    ksd_bg_make_names(g);
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
        ksd_bg_fmt_ip(g->pool[i], s, sizeof(s));
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
