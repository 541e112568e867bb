/*
 * decode_int.h - what the three parts of the frame decoder share: the walk
 * state (struct ksd_decode_walk), the step names, the window helpers and the steps
 * that live in decode_link.c (link layers and the encapsulations below IP)
 * and decode_tunnel.c (tunnels carried over IP and UDP). decode.c holds IP,
 * the transport headers and the walk itself; see its header for what the
 * decoder does and does not do. Internal to dissectors/decode*.c.
 */
#ifndef KSD_DECODE_INT_H
#define KSD_DECODE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/decode.h"
#include "dissectors/ksd.h"
#include "dissectors/rd.h"

#define DEC_MORE     (-1)     /* internal: the next step is set, keep walking */
#define WIRE_UNKNOWN SIZE_MAX /* the frame's own length is not known to us */

#define TEREDO_MAX_IND 2 /* Teredo indications before the IPv6 header */

/* Tags that keep the ctx contributions of different kinds apart. */
#define TAG_VLAN   1u
#define TAG_MPLS   2u
#define TAG_VNI    3u
#define TAG_GREKEY 4u
#define TAG_OUTER  5u

enum ly {
    LY_ETH,
    LY_ETYPE,
    LY_LLC,
    LY_VLAN,
    LY_MPLS,
    LY_PPPOE,
    LY_PPP,
    LY_IP,
    LY_IP4,
    LY_IP6,
    LY_AH4,
    LY_GRE,
    LY_ERSPAN2,
    LY_ERSPAN3,
    LY_TCP,
    LY_UDP,
    LY_ICMP4,
    LY_ICMP6,
    LY_VXLAN,
    LY_GENEVE,
    LY_GTP,
    LY_TEREDO,
    LY_SLL,
    LY_SLL2,
    LY_NULL,
    LY_LOOP,
    LY_RADIOTAP,
    LY_80211,
    LY_NFLOG,
};

struct ksd_decode_walk {
    struct ksd_rd r;     /* window of the current layer (captured bytes), cursor in it */
    size_t wire;         /* bytes the enclosing headers declare from r.base (>= r.len) */
    struct ksd_pkt *pkt; /* output */
    int next;            /* enum ly: the step to run */
    uint16_t etype;      /* LY_ETYPE: the protocol type to dispatch on */
    uint8_t from_gre;    /* LY_ETYPE: GRE-only protocol types allowed */
    uint8_t gre_seq;     /* GRE sequence bit seen (ERSPAN II has it, type I not) */
    uint8_t vlan_tags;   /* tags in the current Ethernet header */
    uint8_t ah4;         /* IPv4 AH headers skipped in the current IP header */
    uint8_t frag0;       /* inside a cut first fragment: declared lengths are lower bounds */
};

/* ---------------------------------------------------------------- helpers */

static inline uint32_t mix(uint32_t h, uint32_t tag, uint32_t v)
{
    h ^= tag * 0x9e3779b9u;
    h = (h ^ v) * 0x85ebca6bu;
    h ^= h >> 15;
    h *= 0xc2b2ae35u;
    h ^= h >> 13;
    return h;
}

static inline uint32_t addr_hash(const uint8_t *a, size_t n)
{
    return ksd_fnv1a(KSD_FNV1A_BASIS, a, n);
}

/* Mix the current (outer) IP address pair into ctx, the same whichever
 * address is the source. */
static inline void mix_outer(struct ksd_decode_walk *d)
{
    size_t n = d->pkt->family == 6 ? 16 : 4;
    uint32_t s = addr_hash(d->pkt->src, n) + addr_hash(d->pkt->dst, n);
    d->pkt->ctx = mix(d->pkt->ctx, TAG_OUTER, s);
}

/* Bytes the enclosing headers declare from the cursor on. */
static inline size_t wire_left(const struct ksd_decode_walk *d)
{
    if (d->wire == WIRE_UNKNOWN)
        return WIRE_UNKNOWN;
    return d->wire - d->r.off;
}

/* Why n bytes at the cursor are missing: the capture cut them (trunc) when
 * the enclosing headers declare them, else the header is malformed (bad). */
static inline int short_reason(const struct ksd_decode_walk *d, size_t n, int trunc, int bad)
{
    return n <= wire_left(d) || d->frag0 ? trunc : bad;
}

/* A length of n declared at the cursor runs past what the enclosing headers
 * declare (inside a cut first fragment those are lower bounds only). */
static inline int exceeds(const struct ksd_decode_walk *d, size_t n)
{
    return n > wire_left(d) && !d->frag0;
}

/* Start a new window at the cursor holding everything that is left. */
static inline void rebase(struct ksd_decode_walk *d)
{
    size_t w = wire_left(d);
    d->r = rd_rest(&d->r);
    d->wire = w;
}

/* Start a new window at the cursor of declared length n (the caller checked
 * n <= wire_left); it holds the captured part of those n bytes. */
static inline void rebase_len(struct ksd_decode_walk *d, size_t n)
{
    size_t cap = rd_left(&d->r);
    if (cap > n)
        cap = n;
    d->r = rd_sub(&d->r, cap);
    d->wire = n;
}

static inline int enter_tunnel(struct ksd_decode_walk *d, uint32_t tun)
{
    d->pkt->tunnels |= tun;
    if (d->pkt->layers >= KSD_MAX_LAYERS)
        return KSD_DEC_TOO_DEEP;
    d->pkt->layers++;
    return DEC_MORE;
}

static inline void clear_l4(struct ksd_pkt *p)
{
    p->sport = 0;
    p->dport = 0;
    p->tcp_flags = 0;
    p->seq = 0;
    p->ack = 0;
    p->payload = NULL;
    p->payload_len = 0;
    p->wire_payload_len = 0;
}

/* The rest of the window is the transport payload. */
static inline void set_payload_rest(struct ksd_decode_walk *d)
{
    d->pkt->payload = rd_ptr(&d->r);
    d->pkt->payload_len = rd_left(&d->r);
    d->pkt->wire_payload_len = wire_left(d);
}

/* Steps of decode_link.c: each reads its header at the cursor, sets d->next
 * and returns DEC_MORE, or returns a KSD_DEC_* result. */
int ksd_decode_link_eth(struct ksd_decode_walk *d);
int ksd_decode_link_llc(struct ksd_decode_walk *d);
int ksd_decode_link_etype(struct ksd_decode_walk *d);
int ksd_decode_link_vlan(struct ksd_decode_walk *d);
int ksd_decode_link_mpls(struct ksd_decode_walk *d);
int ksd_decode_link_pppoe(struct ksd_decode_walk *d);
int ksd_decode_link_ppp(struct ksd_decode_walk *d);
int ksd_decode_link_sll(struct ksd_decode_walk *d);
int ksd_decode_link_sll2(struct ksd_decode_walk *d);
int ksd_decode_link_null(struct ksd_decode_walk *d);
int ksd_decode_link_loop(struct ksd_decode_walk *d);
int ksd_decode_link_radiotap(struct ksd_decode_walk *d);
int ksd_decode_link_80211(struct ksd_decode_walk *d);
int ksd_decode_link_nflog(struct ksd_decode_walk *d);

/* Steps of decode_tunnel.c, with the same contract. */
int ksd_decode_tunnel_gre(struct ksd_decode_walk *d);
int ksd_decode_tunnel_erspan2(struct ksd_decode_walk *d);
int ksd_decode_tunnel_erspan3(struct ksd_decode_walk *d);
int ksd_decode_tunnel_vxlan(struct ksd_decode_walk *d);
int ksd_decode_tunnel_geneve(struct ksd_decode_walk *d);
int ksd_decode_tunnel_gtp(struct ksd_decode_walk *d);
int ksd_decode_tunnel_teredo(struct ksd_decode_walk *d);

#endif
