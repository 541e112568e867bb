/*
 * decode.c - link layers, tunnels, IP and transport headers: one captured
 * frame in, one struct ksd_pkt out.
 *
 * What it does: walks the headers of a frame one after another in a single
 * loop (no recursion), each step reading through the bounds-checked reader
 * and choosing the next step. Link types: Ethernet II and 802.3 LLC/SNAP,
 * Linux cooked v1/v2, raw IP, BSD NULL/LOOP, PPP, 802.11 (plain and radiotap),
 * NFLOG. Encapsulations: 802.1Q/802.1ad/QinQ, MPLS (RFC 3032; IP by first
 * nibble, Ethernet pseudowire with control word, RFC 4448), PPPoE session
 * (RFC 2516), GRE (RFC 2784, 2890; enhanced GRE version 1 of RFC 2637 with
 * PPP), ERSPAN types I, II and III (draft-foschiano-erspan), VXLAN (RFC
 * 7348), Geneve (RFC 8926), GTPv1-U (3GPP TS 29.281, with extension
 * headers), Teredo (RFC 4380, origin and authentication indications), IPv4
 * with options (RFC 791), IPv6 with extension headers (RFC 8200: hop-by-hop,
 * routing, destination options, fragment, mobility, HIP, shim6; AH of RFC
 * 4302 skipped by its length), IP-in-IP (RFC 2003, 4213), TCP (RFC 9293),
 * UDP (RFC 768), ICMP/ICMPv6 error recognition (RFC 792, 4443).
 *
 * Lengths: every header that declares a length narrows the window, so the
 * IP total length bounds the transport (Ethernet padding never becomes
 * payload). Each window remembers how many bytes the enclosing headers
 * declare ("wire"); a short read inside that declaration is a capture cut
 * (KSD_DEC_TRUNC_*), a short read past it is a malformed header (KSD_DEC_BAD_*).
 * On the outermost link layer the wire length is unknown, so a short read
 * there is always a truncation.
 *
 * pkt->ctx: VLAN ids (0 excepted), MPLS labels, VXLAN/Geneve VNIs and the
 * GRE key of routed GRE tunnels (IP or MPLS payload) are mixed in, and for
 * every IP tunnel (IP-in-IP, GRE, VXLAN, Geneve, GTP-U, Teredo) the outer
 * address pair is mixed in order-independently, so both directions of a flow
 * under one tunnel get the same ctx. Not mixed, because they differ per
 * direction in real traffic: GTP TEIDs and PPTP call ids (each receiver
 * allocates its own), GRE keys of mirrored traffic (TEB, ERSPAN) and ERSPAN
 * session ids. MPLS labels are mixed although label stacks can differ per
 * direction (as ksd's flow key asks).
 *
 * What it does not do: reassemble IP fragments (ipfrag.c does; a fragment
 * is described in pkt->frag and KSD_DEC_FRAGMENT returned), dissect the
 * packet quoted in an ICMP error, verify checksums, decrypt 802.11,
 * decode 802.11 A-MSDUs or fragments, or follow GRE source routing (RFC 1701).
 */
#include <string.h>

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

struct dec {
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

static const char *const reason_names[KSD_DEC__COUNT] = {
    [KSD_DEC_OK] = "ok",
    [KSD_DEC_NOT_IP] = "not_ip",
    [KSD_DEC_FRAGMENT] = "fragment",
    [KSD_DEC_LINKTYPE] = "linktype",
    [KSD_DEC_TRUNC_LINK] = "trunc_link",
    [KSD_DEC_TRUNC_IP] = "trunc_ip",
    [KSD_DEC_TRUNC_L4] = "trunc_l4",
    [KSD_DEC_BAD_IP] = "bad_ip",
    [KSD_DEC_BAD_IP6_EXT] = "bad_ip6_ext",
    [KSD_DEC_BAD_TCP] = "bad_tcp",
    [KSD_DEC_BAD_UDP] = "bad_udp",
    [KSD_DEC_BAD_TUNNEL] = "bad_tunnel",
    [KSD_DEC_TOO_DEEP] = "too_deep",
    [KSD_DEC_ICMP_ERROR] = "icmp_error",
    [KSD_DEC_BAD_LINK] = "bad_link",
};

const char *ksd_decode_reason_name(int reason)
{
    if (reason < 0 || reason >= KSD_DEC__COUNT || !reason_names[reason])
        return "unknown";
    return reason_names[reason];
}

/* ---------------------------------------------------------------- helpers */

static uint32_t mix(uint32_t h, uint32_t tag, uint32_t v)
{
    h ^= tag * 0x9e3779b9u;
    h = (h ^ v) * 0x85ebca6bu;
    h ^= h >> 15;
    h *= 0xc2b2ae35u;
    h ^= h >> 13;
    return h;
}

static uint32_t addr_hash(const uint8_t *a, size_t n)
{
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ a[i]) * 0x01000193u;
    return h;
}

/* Mix the current (outer) IP address pair into ctx, the same whichever
 * address is the source. */
static void mix_outer(struct dec *d)
{
    size_t n = d->pkt->family == 6 ? 16 : 4;
    uint32_t s = addr_hash(d->pkt->src, n) + addr_hash(d->pkt->dst, n);
    d->pkt->ctx = mix(d->pkt->ctx, TAG_OUTER, s);
}

/* Bytes the enclosing headers declare from the cursor on. */
static size_t wire_left(const struct dec *d)
{
    if (d->wire == WIRE_UNKNOWN)
        return WIRE_UNKNOWN;
    return d->wire - d->r.off;
}

/* Why n bytes at the cursor are missing: the capture cut them (trunc) when
 * the enclosing headers declare them, else the header is malformed (bad). */
static int short_reason(const struct dec *d, size_t n, int trunc, int bad)
{
    return n <= wire_left(d) || d->frag0 ? trunc : bad;
}

/* A length of n declared at the cursor runs past what the enclosing headers
 * declare (inside a cut first fragment those are lower bounds only). */
static int exceeds(const struct dec *d, size_t n)
{
    return n > wire_left(d) && !d->frag0;
}

/* Start a new window at the cursor holding everything that is left. */
static void rebase(struct dec *d)
{
    size_t w = wire_left(d);
    d->r = rd_rest(&d->r);
    d->wire = w;
}

/* Start a new window at the cursor of declared length n (the caller checked
 * n <= wire_left); it holds the captured part of those n bytes. */
static void rebase_len(struct dec *d, size_t n)
{
    size_t cap = rd_left(&d->r);
    if (cap > n)
        cap = n;
    d->r = rd_sub(&d->r, cap);
    d->wire = n;
}

static int enter_tunnel(struct dec *d, uint32_t tun)
{
    d->pkt->tunnels |= tun;
    if (d->pkt->layers >= KSD_MAX_LAYERS)
        return KSD_DEC_TOO_DEEP;
    d->pkt->layers++;
    return DEC_MORE;
}

static void clear_l4(struct ksd_pkt *p)
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
static void set_payload_rest(struct dec *d)
{
    d->pkt->payload = rd_ptr(&d->r);
    d->pkt->payload_len = rd_left(&d->r);
    d->pkt->wire_payload_len = wire_left(d);
}

/* ------------------------------------------------------------ link layers */

static int dec_eth(struct dec *d)
{
    if (!rd_has(&d->r, 14))
        return short_reason(d, 14, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    const uint8_t *macs = rd_bytes(&d->r, 12); /* destination, source */
    memcpy(d->pkt->dst_mac, macs, 6);
    memcpy(d->pkt->src_mac, macs + 6, 6);
    d->pkt->has_mac = 1; /* the innermost Ethernet header's addresses win */
    uint16_t t = rd_be16(&d->r);
    d->vlan_tags = 0;
    d->from_gre = 0;
    if (t <= 1500) { /* 802.3 length field: LLC follows, the length bounds it */
        if (exceeds(d, t))
            return KSD_DEC_BAD_LINK;
        rebase_len(d, t);
        d->next = LY_LLC;
        return DEC_MORE;
    }
    d->etype = t;
    d->next = LY_ETYPE;
    return DEC_MORE;
}

/* IEEE 802.2 LLC; only SNAP with an ethertype (OUI 0 or 0x0000f8) leads on. */
static int dec_llc(struct dec *d)
{
    if (!rd_has(&d->r, 3))
        return short_reason(d, 3, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_LINK);
    uint8_t dsap = rd_u8(&d->r);
    uint8_t ssap = rd_u8(&d->r);
    uint8_t ctl = rd_u8(&d->r);
    if (dsap != 0xaa || ssap != 0xaa || ctl != 0x03)
        return KSD_DEC_NOT_IP;
    if (!rd_has(&d->r, 5))
        return short_reason(d, 5, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_LINK);
    uint32_t oui = rd_be24(&d->r);
    d->etype = rd_be16(&d->r);
    if (oui != 0 && oui != 0xf8)
        return KSD_DEC_NOT_IP;
    d->next = LY_ETYPE;
    return DEC_MORE;
}

static int dec_etype(struct dec *d)
{
    int gre = d->from_gre;
    d->from_gre = 0;
    switch (d->etype) {
        case 0x0800:
            d->next = LY_IP4;
            return DEC_MORE;
        case 0x86dd:
            d->next = LY_IP6;
            return DEC_MORE;
        case 0x8100:
        case 0x88a8:
        case 0x9100:
            d->next = LY_VLAN;
            return DEC_MORE;
        case 0x8847:
        case 0x8848:
            d->next = LY_MPLS;
            return DEC_MORE;
        case 0x8864:
            d->next = LY_PPPOE;
            return DEC_MORE;
        default:
            break;
    }
    if (!gre)
        return KSD_DEC_NOT_IP;
    switch (d->etype) {
        case 0x6558: /* transparent Ethernet bridging */
            d->next = LY_ETH;
            return DEC_MORE;
        case 0x880b:
            d->next = LY_PPP;
            return DEC_MORE;
        case 0x88be:
            if (d->gre_seq) {
                d->next = LY_ERSPAN2;
                return DEC_MORE;
            }
            /* ERSPAN type I: no ERSPAN header, the mirrored frame follows */
            d->next = LY_ETH;
            return enter_tunnel(d, KSD_TUN_ERSPAN);
        case 0x22eb:
            d->next = LY_ERSPAN3;
            return DEC_MORE;
        default:
            return KSD_DEC_NOT_IP;
    }
}

static int dec_vlan(struct dec *d)
{
    if (d->vlan_tags >= KSD_MAX_VLAN_TAGS)
        return KSD_DEC_TOO_DEEP;
    int rc = enter_tunnel(d, KSD_TUN_VLAN);
    if (rc != DEC_MORE)
        return rc;
    if (!rd_has(&d->r, 4))
        return short_reason(d, 4, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    uint16_t vid = rd_be16(&d->r) & 0x0fff;
    uint16_t t = rd_be16(&d->r);
    d->vlan_tags++;
    if (vid != 0) { /* VID 0 is a priority tag only */
        d->pkt->vlan = vid;
        d->pkt->ctx = mix(d->pkt->ctx, TAG_VLAN, vid);
    }
    if (t <= 1500) {
        if (exceeds(d, t))
            return KSD_DEC_BAD_LINK;
        rebase_len(d, t);
        d->next = LY_LLC;
        return DEC_MORE;
    }
    d->etype = t;
    d->next = LY_ETYPE;
    return DEC_MORE;
}

static int dec_mpls(struct dec *d)
{
    int rc = enter_tunnel(d, KSD_TUN_MPLS);
    if (rc != DEC_MORE)
        return rc;
    int i;
    for (i = 0; i < KSD_MAX_MPLS_LABELS; i++) {
        if (!rd_has(&d->r, 4))
            return short_reason(d, 4, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
        uint32_t e = rd_be32(&d->r);
        d->pkt->ctx = mix(d->pkt->ctx, TAG_MPLS, e >> 12);
        if (e & 0x100) /* bottom of stack */
            break;
    }
    if (i == KSD_MAX_MPLS_LABELS)
        return KSD_DEC_TOO_DEEP;
    uint8_t b;
    if (!rd_peek_ok(&d->r, 0, &b))
        return short_reason(d, 1, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    switch (b >> 4) {
        case 4:
            d->next = LY_IP4;
            return DEC_MORE;
        case 6:
            d->next = LY_IP6;
            return DEC_MORE;
        case 0: /* Ethernet pseudowire: 4-byte control word, then the frame */
            if (!rd_has(&d->r, 4))
                return short_reason(d, 4, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
            rd_skip(&d->r, 4);
            d->next = LY_ETH;
            return DEC_MORE;
        default:
            return KSD_DEC_BAD_TUNNEL;
    }
}

static int dec_pppoe(struct dec *d)
{
    int rc = enter_tunnel(d, KSD_TUN_PPPOE);
    if (rc != DEC_MORE)
        return rc;
    if (!rd_has(&d->r, 6))
        return short_reason(d, 6, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    uint8_t vt = rd_u8(&d->r);
    uint8_t code = rd_u8(&d->r);
    rd_skip(&d->r, 2); /* session id */
    size_t len = rd_be16(&d->r);
    if (vt != 0x11 || code != 0 || exceeds(d, len))
        return KSD_DEC_BAD_TUNNEL;
    rebase_len(d, len);
    d->next = LY_PPP;
    return DEC_MORE;
}

/* PPP (RFC 1661): optional HDLC address/control 0xff 0x03 (RFC 1662), then a
 * 1-byte (compressed, odd) or 2-byte protocol. */
static int dec_ppp(struct dec *d)
{
    uint8_t b0, b1;
    if (rd_peek_ok(&d->r, 0, &b0) && b0 == 0xff && rd_peek_ok(&d->r, 1, &b1) && b1 == 0x03)
        rd_skip(&d->r, 2);
    if (!rd_peek_ok(&d->r, 0, &b0))
        return short_reason(d, 1, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    uint16_t proto;
    if (b0 & 1) {
        proto = rd_u8(&d->r);
    } else {
        if (!rd_has(&d->r, 2))
            return short_reason(d, 2, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
        proto = rd_be16(&d->r);
    }
    if (proto == 0x0021)
        d->next = LY_IP4;
    else if (proto == 0x0057)
        d->next = LY_IP6;
    else
        return KSD_DEC_NOT_IP;
    return DEC_MORE;
}

static int dec_sll(struct dec *d)
{
    if (!rd_has(&d->r, 16))
        return KSD_DEC_TRUNC_LINK;
    rd_skip(&d->r, 14); /* packet type, ARPHRD, address length, address */
    d->etype = rd_be16(&d->r);
    d->next = LY_ETYPE;
    return DEC_MORE;
}

static int dec_sll2(struct dec *d)
{
    if (!rd_has(&d->r, 20))
        return KSD_DEC_TRUNC_LINK;
    d->etype = rd_be16(&d->r);
    rd_skip(&d->r, 18); /* reserved, ifindex, ARPHRD, type, address length, address */
    d->next = LY_ETYPE;
    return DEC_MORE;
}

static int null_family(struct dec *d, uint32_t fam)
{
    if (fam == 2)
        d->next = LY_IP4;
    else if (fam == 24 || fam == 28 || fam == 30) /* AF_INET6 of the BSDs and Darwin */
        d->next = LY_IP6;
    else
        return KSD_DEC_NOT_IP;
    return DEC_MORE;
}

/* DLT_NULL: the family is in the capturing host's byte order, either one. */
static int dec_null(struct dec *d)
{
    if (!rd_has(&d->r, 4))
        return KSD_DEC_TRUNC_LINK;
    struct ksd_rd t = d->r;
    uint32_t le = rd_le32(&t);
    uint32_t be = rd_be32(&d->r);
    return null_family(d, le < 256 ? le : be);
}

static int dec_loop(struct dec *d)
{
    if (!rd_has(&d->r, 4))
        return KSD_DEC_TRUNC_LINK;
    return null_family(d, rd_be32(&d->r));
}

static int dec_radiotap(struct dec *d)
{
    if (!rd_has(&d->r, 4))
        return KSD_DEC_TRUNC_LINK;
    uint8_t ver = rd_u8(&d->r);
    rd_skip(&d->r, 1);
    size_t len = rd_le16(&d->r);
    if (ver != 0 || len < 8)
        return KSD_DEC_BAD_LINK;
    if (!rd_has(&d->r, len - 4))
        return KSD_DEC_TRUNC_LINK;
    rd_skip(&d->r, len - 4);
    d->next = LY_80211;
    return DEC_MORE;
}

/* IEEE 802.11 data frames: 3 or 4 addresses, QoS control, HT control. */
static int dec_80211(struct dec *d)
{
    if (!rd_has(&d->r, 2))
        return KSD_DEC_TRUNC_LINK;
    uint8_t fc0 = rd_u8(&d->r);
    uint8_t fc1 = rd_u8(&d->r);
    if ((fc0 & 0x03) != 0)
        return KSD_DEC_BAD_LINK;
    uint8_t type = (fc0 >> 2) & 0x03;
    uint8_t sub = fc0 >> 4;
    if (type != 2 || (sub & 0x04) || (fc1 & 0x40)) /* not data, no body, protected */
        return KSD_DEC_NOT_IP;
    size_t hl = 22 + ((fc1 & 0x03) == 0x03 ? 6 : 0);
    size_t qos = (sub & 0x08) ? ((fc1 & 0x80) ? 6 : 2) : 0;
    if (!rd_has(&d->r, hl + qos))
        return KSD_DEC_TRUNC_LINK;
    rd_skip(&d->r, 20); /* duration, three addresses */
    uint16_t seqctl = rd_le16(&d->r);
    rd_skip(&d->r, hl - 22);
    if ((seqctl & 0x0f) != 0 || (fc1 & 0x04)) /* 802.11 fragment */
        return KSD_DEC_NOT_IP;
    if (qos) {
        uint8_t q0 = rd_u8(&d->r);
        rd_skip(&d->r, qos - 1);
        if (q0 & 0x80) /* A-MSDU */
            return KSD_DEC_NOT_IP;
    }
    d->next = LY_LLC;
    return DEC_MORE;
}

/* NFLOG: family, version, resource id, then TLVs with little-endian length
 * (header included) and type, each padded to 4 bytes; type 9 is the packet. */
static int dec_nflog(struct dec *d)
{
    if (!rd_has(&d->r, 4))
        return KSD_DEC_TRUNC_LINK;
    rd_skip(&d->r, 1);
    uint8_t ver = rd_u8(&d->r);
    rd_skip(&d->r, 2);
    if (ver != 0)
        return KSD_DEC_BAD_LINK;
    for (int i = 0; i < KSD_MAX_NFLOG_TLVS; i++) {
        if (rd_left(&d->r) == 0)
            return KSD_DEC_NOT_IP;
        if (!rd_has(&d->r, 4))
            return KSD_DEC_TRUNC_LINK;
        size_t tl = rd_le16(&d->r);
        uint16_t tt = rd_le16(&d->r);
        if (tl < 4)
            return KSD_DEC_BAD_LINK;
        if ((tt & 0x3fff) == 9) {
            rebase_len(d, tl - 4);
            d->next = LY_IP;
            return DEC_MORE;
        }
        size_t skip = ((tl + 3) & ~(size_t)3) - 4;
        if (!rd_has(&d->r, skip)) {
            if (rd_has(&d->r, tl - 4)) /* last TLV without its padding */
                return KSD_DEC_NOT_IP;
            return KSD_DEC_TRUNC_LINK;
        }
        rd_skip(&d->r, skip);
    }
    return KSD_DEC_BAD_LINK;
}

/* ------------------------------------------------------------------ IP */

static int dispatch_proto(struct dec *d, uint8_t proto)
{
    int rc;
    d->pkt->proto = proto;
    switch (proto) {
        case 6:
            d->next = LY_TCP;
            return DEC_MORE;
        case 17:
            d->next = LY_UDP;
            return DEC_MORE;
        case 1:
            d->next = LY_ICMP4;
            return DEC_MORE;
        case 58:
            d->next = LY_ICMP6;
            return DEC_MORE;
        case 47:
            d->next = LY_GRE;
            return DEC_MORE;
        case 4:
        case 41:
            rc = enter_tunnel(d, KSD_TUN_IPIP);
            if (rc != DEC_MORE)
                return rc;
            mix_outer(d);
            d->next = proto == 4 ? LY_IP4 : LY_IP6;
            return DEC_MORE;
        case 51:
            if (d->pkt->family == 4) {
                d->next = LY_AH4;
                return DEC_MORE;
            }
            break;
        default:
            break;
    }
    set_payload_rest(d);
    return KSD_DEC_OK;
}

/* IP version taken from the first nibble. */
static int dec_ip(struct dec *d)
{
    uint8_t b;
    if (!rd_peek_ok(&d->r, 0, &b))
        return short_reason(d, 1, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP);
    if ((b >> 4) == 4)
        d->next = LY_IP4;
    else if ((b >> 4) == 6)
        d->next = LY_IP6;
    else
        return KSD_DEC_BAD_IP;
    return DEC_MORE;
}

static int dec_ip4(struct dec *d)
{
    struct ksd_pkt *p = d->pkt;
    rebase(d);
    if (!rd_has(&d->r, 20))
        return short_reason(d, 20, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP);
    const uint8_t *start = rd_ptr(&d->r);
    uint8_t vihl = rd_u8(&d->r);
    rd_skip(&d->r, 1);
    size_t total = rd_be16(&d->r);
    uint16_t id = rd_be16(&d->r);
    uint16_t fo = rd_be16(&d->r);
    uint8_t ttl = rd_u8(&d->r);
    uint8_t proto = rd_u8(&d->r);
    rd_skip(&d->r, 2);
    const uint8_t *src = rd_bytes(&d->r, 4);
    const uint8_t *dst = rd_bytes(&d->r, 4);
    size_t hl = (size_t)(vihl & 0x0f) * 4;
    if ((vihl >> 4) != 4 || hl < 20)
        return KSD_DEC_BAD_IP;
    if (total == 0) /* segmentation offload: the length was never filled in */
        total = d->wire == WIRE_UNKNOWN ? d->r.len : d->wire;
    if (total < hl)
        return KSD_DEC_BAD_IP;
    if (total > d->wire) /* the smaller declared length wins, as in tshark */
        total = d->wire;
    if (total < hl)
        return KSD_DEC_BAD_TUNNEL;
    if (hl > d->r.len)
        return KSD_DEC_TRUNC_IP;
    rd_skip(&d->r, hl - 20); /* options */

    clear_l4(p);
    p->family = 4;
    memset(p->src, 0, sizeof(p->src));
    memset(p->dst, 0, sizeof(p->dst));
    memcpy(p->src, src, 4);
    memcpy(p->dst, dst, 4);
    p->ttl = ttl;
    p->proto = proto;
    d->ah4 = 0;
    p->l3 = start;
    p->l3_len = d->r.len < total ? d->r.len : total;

    if (fo & 0x3fff) { /* MF set or a non-zero offset */
        struct ksd_frag *f = &p->frag;
        size_t cap = d->r.len < total ? d->r.len : total;
        f->id = id;
        f->offset = (uint16_t)((fo & 0x1fff) * 8);
        f->more = (fo & 0x2000) != 0;
        f->next = proto;
        f->hdr = start;
        f->hdr_len = hl;
        f->data = rd_ptr(&d->r);
        f->data_len = cap - hl;
        f->wire_len = total - hl;
        f->nh_off = 0;
        if (f->offset != 0 || f->data_len >= f->wire_len)
            return KSD_DEC_FRAGMENT;
        /* A first fragment the capture cut can never be reassembled: decode
         * it as far as the bytes go, as any cut packet. */
        d->frag0 = 1;
    }
    rebase_len(d, total - hl);
    return dispatch_proto(d, proto);
}

/* IPv4 Authentication Header (RFC 4302): length in 4-byte units minus 2. */
static int dec_ah4(struct dec *d)
{
    if (d->ah4++ >= KSD_MAX_IPV6_EXT)
        return KSD_DEC_BAD_IP;
    if (!rd_has(&d->r, 2))
        return short_reason(d, 2, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP);
    uint8_t nh = rd_peek(&d->r, 0);
    size_t len = ((size_t)rd_peek(&d->r, 1) + 2) * 4;
    if (!rd_has(&d->r, len))
        return short_reason(d, len, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP);
    rd_skip(&d->r, len);
    return dispatch_proto(d, nh);
}

static int dec_ip6(struct dec *d)
{
    struct ksd_pkt *p = d->pkt;
    rebase(d);
    if (!rd_has(&d->r, 40))
        return short_reason(d, 40, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP);
    const uint8_t *start = rd_ptr(&d->r);
    uint32_t vtf = rd_be32(&d->r);
    size_t plen = rd_be16(&d->r);
    uint8_t nh = rd_u8(&d->r);
    uint8_t hlim = rd_u8(&d->r);
    const uint8_t *src = rd_bytes(&d->r, 16);
    const uint8_t *dst = rd_bytes(&d->r, 16);
    if ((vtf >> 28) != 6)
        return KSD_DEC_BAD_IP;
    size_t total = 40 + plen;
    if (plen == 0) /* jumbogram or segmentation offload */
        total = d->wire == WIRE_UNKNOWN ? d->r.len : d->wire;
    if (total > d->wire) /* the smaller declared length wins */
        total = d->wire;
    if (total < 40)
        return KSD_DEC_BAD_TUNNEL;

    clear_l4(p);
    p->family = 6;
    memcpy(p->src, src, 16);
    memcpy(p->dst, dst, 16);
    p->ttl = hlim;
    p->proto = nh;
    p->l3 = start;
    p->l3_len = d->r.len < total ? d->r.len : total;
    rebase_len(d, total - 40);

    size_t nh_off = 6; /* from start: the byte naming the current header */
    for (int i = 0; i <= KSD_MAX_IPV6_EXT; i++) {
        size_t here = rd_off(&d->r);
        size_t len;
        switch (nh) {
            case 0:   /* hop-by-hop options: only right after the IPv6 header */
            case 43:  /* routing */
            case 60:  /* destination options */
            case 135: /* mobility */
            case 139: /* HIP */
            case 140: /* shim6 */
            case 51:  /* AH */
                if (i == KSD_MAX_IPV6_EXT || (nh == 0 && i != 0))
                    return KSD_DEC_BAD_IP6_EXT;
                if (!rd_has(&d->r, 2))
                    return short_reason(d, 2, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP6_EXT);
                len = rd_peek(&d->r, 1);
                len = nh == 51 ? (len + 2) * 4 : (len + 1) * 8;
                nh = rd_peek(&d->r, 0);
                if (!rd_has(&d->r, len))
                    return short_reason(d, len, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP6_EXT);
                rd_skip(&d->r, len);
                nh_off = 40 + here;
                p->proto = nh;
                break;
            case 44: { /* fragment */
                if (i == KSD_MAX_IPV6_EXT)
                    return KSD_DEC_BAD_IP6_EXT;
                if (!rd_has(&d->r, 8))
                    return short_reason(d, 8, KSD_DEC_TRUNC_IP, KSD_DEC_BAD_IP6_EXT);
                uint8_t fnh = rd_u8(&d->r);
                rd_skip(&d->r, 1);
                uint16_t offlg = rd_be16(&d->r);
                uint32_t id = rd_be32(&d->r);
                p->proto = fnh;
                int cut0 = (offlg & 0xfff8) == 0 && rd_left(&d->r) < wire_left(d);
                if ((offlg & 0xfff9) && !cut0) { /* offset or M set: a real fragment */
                    struct ksd_frag *f = &p->frag;
                    f->id = id;
                    f->offset = offlg & 0xfff8;
                    f->more = offlg & 1;
                    f->next = fnh;
                    f->hdr = start;
                    f->hdr_len = 40 + here;
                    f->nh_off = (uint16_t)nh_off;
                    f->data = rd_ptr(&d->r);
                    f->data_len = rd_left(&d->r);
                    f->wire_len = wire_left(d);
                    return KSD_DEC_FRAGMENT;
                }
                if (offlg & 0xfff9) /* a cut first fragment: decoded as far as it goes */
                    d->frag0 = 1;
                nh = fnh; /* or an atomic fragment (RFC 6946): go on */
                nh_off = 40 + here;
                break;
            }
            case 59: /* no next header */
                set_payload_rest(d);
                p->payload_len = 0;
                p->wire_payload_len = 0;
                return KSD_DEC_OK;
            default:
                return dispatch_proto(d, nh);
        }
    }
    return KSD_DEC_BAD_IP6_EXT;
}

/* ----------------------------------------------------------- transport */

static int dec_tcp(struct dec *d)
{
    struct ksd_pkt *p = d->pkt;
    size_t w = wire_left(d);
    if (exceeds(d, 20))
        return KSD_DEC_BAD_TCP;
    if (!rd_has(&d->r, 20))
        return KSD_DEC_TRUNC_L4;
    p->sport = rd_be16(&d->r);
    p->dport = rd_be16(&d->r);
    p->seq = rd_be32(&d->r);
    p->ack = rd_be32(&d->r);
    size_t hl = (size_t)(rd_u8(&d->r) >> 4) * 4;
    p->tcp_flags = rd_u8(&d->r);
    rd_skip(&d->r, 6); /* window, checksum, urgent pointer */
    if (hl < 20 || (hl > w && !d->frag0))
        return KSD_DEC_BAD_TCP;
    if (hl > d->r.len)
        return KSD_DEC_TRUNC_L4;
    rd_skip(&d->r, hl - 20);
    set_payload_rest(d);
    return KSD_DEC_OK;
}

static int dec_udp(struct dec *d)
{
    struct ksd_pkt *p = d->pkt;
    size_t w = wire_left(d);
    if (exceeds(d, 8))
        return KSD_DEC_BAD_UDP;
    if (!rd_has(&d->r, 8))
        return KSD_DEC_TRUNC_L4;
    p->sport = rd_be16(&d->r);
    p->dport = rd_be16(&d->r);
    size_t ulen = rd_be16(&d->r);
    rd_skip(&d->r, 2);
    if (ulen == 0) /* IPv6 jumbogram or offload: the IP length rules */
        ulen = w;
    if (ulen < 8 || (ulen > w && !d->frag0))
        return KSD_DEC_BAD_UDP;
    rebase_len(d, ulen - 8);
    set_payload_rest(d);
    if (p->dport == 4789)
        d->next = LY_VXLAN;
    else if (p->dport == 6081)
        d->next = LY_GENEVE;
    else if (p->dport == 2152 || p->sport == 2152)
        d->next = LY_GTP;
    else if (p->dport == 3544 || p->sport == 3544)
        d->next = LY_TEREDO;
    else
        return KSD_DEC_OK;
    return DEC_MORE;
}

static int dec_icmp(struct dec *d, int v6)
{
    uint8_t type;
    if (!rd_peek_ok(&d->r, 0, &type))
        return KSD_DEC_TRUNC_L4;
    if (v6 ? type < 128 : (type == 3 || type == 4 || type == 5 || type == 11 || type == 12))
        return KSD_DEC_ICMP_ERROR;
    set_payload_rest(d);
    return KSD_DEC_OK;
}

/* ------------------------------------------------------------- tunnels */

static int dec_gre(struct dec *d)
{
    int rc = enter_tunnel(d, KSD_TUN_GRE);
    if (rc != DEC_MORE)
        return rc;
    if (!rd_has(&d->r, 4))
        return short_reason(d, 4, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    uint16_t fl = rd_be16(&d->r);
    uint16_t proto = rd_be16(&d->r);
    uint16_t ver = fl & 0x0007;
    int c = (fl & 0x8000) != 0, k = (fl & 0x2000) != 0, s = (fl & 0x1000) != 0;
    int a = (fl & 0x0080) != 0;
    if (ver == 0) {
        if (fl & 0x4f00) /* routing, strict source route, recursion (RFC 1701) */
            return KSD_DEC_BAD_TUNNEL;
        a = 0;
    } else if (ver == 1) { /* enhanced GRE, RFC 2637 section 4.1 */
        if (proto != 0x880b || !k || (fl & 0xcf00))
            return KSD_DEC_BAD_TUNNEL;
    } else {
        return KSD_DEC_BAD_TUNNEL;
    }
    size_t hl = (size_t)(c + k + s + a) * 4;
    if (!rd_has(&d->r, hl))
        return short_reason(d, hl, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    if (c)
        rd_skip(&d->r, 4); /* checksum, reserved1 */
    uint32_t key = k ? rd_be32(&d->r) : 0;
    rd_skip(&d->r, (size_t)(s + a) * 4); /* sequence, acknowledgement */
    mix_outer(d);
    if (ver == 1) { /* key = payload length, call id (per direction: not mixed) */
        size_t plen = key >> 16;
        if (exceeds(d, plen))
            return KSD_DEC_BAD_TUNNEL;
        if (plen == 0) /* acknowledgement only */
            return KSD_DEC_NOT_IP;
        rebase_len(d, plen);
        d->next = LY_PPP;
        return DEC_MORE;
    }
    /* The key of a routed tunnel (IP, MPLS) is configured alike at both
     * ends; mirroring setups (TEB, ERSPAN) key by direction, e.g. 0 for
     * ingress and 0x02000000 for egress in zeek_erspan-gre-teb.pcap. */
    if (k && (proto == 0x0800 || proto == 0x86dd || proto == 0x8847 || proto == 0x8848))
        d->pkt->ctx = mix(d->pkt->ctx, TAG_GREKEY, key);
    d->gre_seq = (uint8_t)s;
    d->from_gre = 1;
    d->etype = proto;
    d->next = LY_ETYPE;
    return DEC_MORE;
}

/* ERSPAN type II: Ver(4)=1 VLAN(12) | COS(3) En(2) T(1) Session(10) | Reserved(12) Index(20) */
static int dec_erspan2(struct dec *d)
{
    int rc = enter_tunnel(d, KSD_TUN_ERSPAN);
    if (rc != DEC_MORE)
        return rc;
    if (!rd_has(&d->r, 8))
        return short_reason(d, 8, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    uint16_t w0 = rd_be16(&d->r);
    rd_skip(&d->r, 6); /* session id: mirror sessions may differ per direction */
    if ((w0 >> 12) != 1)
        return KSD_DEC_BAD_TUNNEL;
    d->next = LY_ETH;
    return DEC_MORE;
}

/* ERSPAN type III: Ver(4)=2 VLAN(12) | COS(3) BSO(2) T(1) Session(10) | Timestamp(32) |
 * SGT(16) | P(1) FT(5) HwID(6) D(1) Gra(2) O(1), then 8 platform bytes when O. */
static int dec_erspan3(struct dec *d)
{
    int rc = enter_tunnel(d, KSD_TUN_ERSPAN);
    if (rc != DEC_MORE)
        return rc;
    if (!rd_has(&d->r, 12))
        return short_reason(d, 12, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    uint16_t w0 = rd_be16(&d->r);
    rd_skip(&d->r, 8); /* session, timestamp, SGT */
    uint16_t w5 = rd_be16(&d->r);
    if ((w0 >> 12) != 2)
        return KSD_DEC_BAD_TUNNEL;
    if (w5 & 1) {
        if (!rd_has(&d->r, 8))
            return short_reason(d, 8, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
        rd_skip(&d->r, 8);
    }
    switch ((w5 >> 10) & 0x1f) {
        case 0:
            d->next = LY_ETH;
            return DEC_MORE;
        case 2:
            d->next = LY_IP;
            return DEC_MORE;
        default:
            return KSD_DEC_NOT_IP;
    }
}

/* VXLAN: flags (I = 0x08) | reserved(24) | VNI(24) | reserved(8). A UDP
 * payload without the I flag is left as plain UDP. */
static int dec_vxlan(struct dec *d)
{
    uint8_t fl;
    if (wire_left(d) < 8)
        return KSD_DEC_OK;
    if (!rd_has(&d->r, 8))
        return KSD_DEC_TRUNC_LINK;
    if (!rd_peek_ok(&d->r, 0, &fl) || !(fl & 0x08))
        return KSD_DEC_OK;
    int rc = enter_tunnel(d, KSD_TUN_VXLAN);
    if (rc != DEC_MORE)
        return rc;
    rd_skip(&d->r, 4);
    uint32_t vni = rd_be24(&d->r);
    rd_skip(&d->r, 1);
    mix_outer(d);
    d->pkt->ctx = mix(d->pkt->ctx, TAG_VNI, vni);
    d->next = LY_ETH;
    return DEC_MORE;
}

/* Geneve: Ver(2) OptLen(6) | O C Rsvd | Protocol(16) | VNI(24) | Rsvd(8) | options */
static int dec_geneve(struct dec *d)
{
    uint8_t b0;
    if (wire_left(d) < 8)
        return KSD_DEC_OK;
    if (!rd_has(&d->r, 8))
        return KSD_DEC_TRUNC_LINK;
    if (!rd_peek_ok(&d->r, 0, &b0) || (b0 >> 6) != 0)
        return KSD_DEC_OK;
    int rc = enter_tunnel(d, KSD_TUN_GENEVE);
    if (rc != DEC_MORE)
        return rc;
    size_t optlen = (size_t)(b0 & 0x3f) * 4;
    rd_skip(&d->r, 2);
    uint16_t proto = rd_be16(&d->r);
    uint32_t vni = rd_be24(&d->r);
    rd_skip(&d->r, 1);
    if (!rd_has(&d->r, optlen))
        return short_reason(d, optlen, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
    rd_skip(&d->r, optlen);
    mix_outer(d);
    d->pkt->ctx = mix(d->pkt->ctx, TAG_VNI, vni);
    if (proto == 0x6558)
        d->next = LY_ETH;
    else if (proto == 0x0800)
        d->next = LY_IP4;
    else if (proto == 0x86dd)
        d->next = LY_IP6;
    else
        return KSD_DEC_NOT_IP;
    return DEC_MORE;
}

/* GTPv1-U: Ver(3)=1 PT(1)=1 R E S PN | type | length | TEID, then when E, S
 * or PN: sequence(16), N-PDU(8), next extension type(8); extensions are
 * length(8, in 4-byte units) ... next type(8). Only G-PDUs (type 255) carry
 * a user packet; other GTP-U messages stay plain UDP. */
static int dec_gtp(struct dec *d)
{
    uint8_t fl, type;
    if (wire_left(d) < 8)
        return KSD_DEC_OK;
    if (!rd_has(&d->r, 8))
        return KSD_DEC_TRUNC_LINK;
    if (!rd_peek_ok(&d->r, 0, &fl) || !rd_peek_ok(&d->r, 1, &type))
        return KSD_DEC_TRUNC_LINK;
    if ((fl >> 5) != 1 || !(fl & 0x10) || type != 0xff)
        return KSD_DEC_OK;
    int rc = enter_tunnel(d, KSD_TUN_GTP);
    if (rc != DEC_MORE)
        return rc;
    rd_skip(&d->r, 2);
    size_t len = rd_be16(&d->r);
    rd_skip(&d->r, 4); /* TEID: per direction, not mixed */
    if (exceeds(d, len))
        return KSD_DEC_BAD_TUNNEL;
    rebase_len(d, len);
    if (fl & 0x07) {
        if (!rd_has(&d->r, 4))
            return short_reason(d, 4, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
        rd_skip(&d->r, 3);
        uint8_t nxt = rd_u8(&d->r);
        int i;
        for (i = 0; i < KSD_MAX_GTP_EXT && nxt != 0; i++) {
            uint8_t el;
            if (!rd_peek_ok(&d->r, 0, &el))
                return short_reason(d, 1, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
            size_t n = (size_t)el * 4;
            if (n == 0)
                return KSD_DEC_BAD_TUNNEL;
            if (!rd_has(&d->r, n))
                return short_reason(d, n, KSD_DEC_TRUNC_LINK, KSD_DEC_BAD_TUNNEL);
            rd_skip(&d->r, n - 1);
            nxt = rd_u8(&d->r);
        }
        if (nxt != 0)
            return KSD_DEC_BAD_TUNNEL;
    }
    mix_outer(d);
    uint8_t b;
    if (!rd_peek_ok(&d->r, 0, &b)) {
        if (wire_left(d) == 0)
            return KSD_DEC_NOT_IP;
        return KSD_DEC_TRUNC_LINK;
    }
    if ((b >> 4) == 4)
        d->next = LY_IP4;
    else if ((b >> 4) == 6)
        d->next = LY_IP6;
    else
        return KSD_DEC_NOT_IP;
    return DEC_MORE;
}

/* Teredo: optional authentication (0x0001, id-len, au-len, id, auth, nonce(8),
 * confirmation(1)) and origin (0x0000, port, address) indications, then an
 * IPv6 packet filling the UDP payload exactly. Anything else stays plain UDP. */
static int dec_teredo(struct dec *d)
{
    struct ksd_rd t = d->r;
    uint8_t b0, b1, b2, b3;
    for (int i = 0; i < TEREDO_MAX_IND; i++) {
        if (!rd_peek_ok(&t, 0, &b0) || !rd_peek_ok(&t, 1, &b1) || b0 != 0)
            break;
        if (b1 == 1) {
            if (!rd_peek_ok(&t, 2, &b2) || !rd_peek_ok(&t, 3, &b3))
                return KSD_DEC_OK;
            rd_skip(&t, 4 + (size_t)b2 + b3 + 9);
        } else if (b1 == 0) {
            rd_skip(&t, 8);
        } else {
            break;
        }
        if (rd_err(&t))
            return KSD_DEC_OK;
    }
    uint8_t v, p0, p1;
    if (!rd_peek_ok(&t, 0, &v) || !rd_peek_ok(&t, 4, &p0) || !rd_peek_ok(&t, 5, &p1))
        return KSD_DEC_OK;
    size_t plen = ((size_t)p0 << 8) | p1;
    if ((v >> 4) != 6 || 40 + plen != d->wire - t.off)
        return KSD_DEC_OK;
    int rc = enter_tunnel(d, KSD_TUN_TEREDO);
    if (rc != DEC_MORE)
        return rc;
    d->r = t;
    mix_outer(d);
    d->next = LY_IP6;
    return DEC_MORE;
}

/* ------------------------------------------------------------ the walk */

static int step(struct dec *d)
{
    switch (d->next) {
        case LY_ETH:
            return dec_eth(d);
        case LY_ETYPE:
            return dec_etype(d);
        case LY_LLC:
            return dec_llc(d);
        case LY_VLAN:
            return dec_vlan(d);
        case LY_MPLS:
            return dec_mpls(d);
        case LY_PPPOE:
            return dec_pppoe(d);
        case LY_PPP:
            return dec_ppp(d);
        case LY_IP:
            return dec_ip(d);
        case LY_IP4:
            return dec_ip4(d);
        case LY_IP6:
            return dec_ip6(d);
        case LY_AH4:
            return dec_ah4(d);
        case LY_GRE:
            return dec_gre(d);
        case LY_ERSPAN2:
            return dec_erspan2(d);
        case LY_ERSPAN3:
            return dec_erspan3(d);
        case LY_TCP:
            return dec_tcp(d);
        case LY_UDP:
            return dec_udp(d);
        case LY_ICMP4:
            return dec_icmp(d, 0);
        case LY_ICMP6:
            return dec_icmp(d, 1);
        case LY_VXLAN:
            return dec_vxlan(d);
        case LY_GENEVE:
            return dec_geneve(d);
        case LY_GTP:
            return dec_gtp(d);
        case LY_TEREDO:
            return dec_teredo(d);
        case LY_SLL:
            return dec_sll(d);
        case LY_SLL2:
            return dec_sll2(d);
        case LY_NULL:
            return dec_null(d);
        case LY_LOOP:
            return dec_loop(d);
        case LY_RADIOTAP:
            return dec_radiotap(d);
        case LY_80211:
            return dec_80211(d);
        case LY_NFLOG:
            return dec_nflog(d);
        default:
            return KSD_DEC_LINKTYPE;
    }
}

static int walk(struct dec *d)
{
    for (int i = 0; i < KSD_MAX_DECODE_STEPS; i++) {
        int rc = step(d);
        if (rc != DEC_MORE)
            return rc;
    }
    return KSD_DEC_TOO_DEEP;
}

static int first_step(int linktype)
{
    switch (linktype) {
        case KSD_DLT_EN10MB:
            return LY_ETH;
        case KSD_DLT_NULL:
            return LY_NULL;
        case KSD_DLT_LOOP:
            return LY_LOOP;
        case KSD_DLT_RAW:
        case KSD_DLT_RAW14:
        case KSD_DLT_RAW101:
            return LY_IP;
        case KSD_DLT_IPV4:
            return LY_IP4;
        case KSD_DLT_IPV6:
            return LY_IP6;
        case KSD_DLT_PPP:
            return LY_PPP;
        case KSD_DLT_LINUX_SLL:
            return LY_SLL;
        case KSD_DLT_LINUX_SLL2:
            return LY_SLL2;
        case KSD_DLT_IEEE802_11_RADIO:
            return LY_RADIOTAP;
        case KSD_DLT_IEEE802_11:
            return LY_80211;
        case KSD_DLT_NFLOG:
            return LY_NFLOG;
        default:
            return -1;
    }
}

static const uint8_t empty_frame[1];

int ksd_decode(int linktype, const uint8_t *frame, size_t caplen, struct ksd_pkt *pkt)
{
    struct dec d;
    memset(pkt, 0, sizeof(*pkt));
    memset(&d, 0, sizeof(d));
    if (!frame) {
        frame = empty_frame;
        caplen = 0;
    }
    d.r = rd_make(frame, caplen);
    d.wire = WIRE_UNKNOWN;
    d.pkt = pkt;
    d.next = first_step(linktype);
    if (d.next < 0)
        return KSD_DEC_LINKTYPE;
    return walk(&d);
}

int ksd_decode_ip(const uint8_t *p, size_t len, struct ksd_pkt *pkt)
{
    struct dec d;
    uint32_t ctx = pkt->ctx, tunnels = pkt->tunnels;
    uint16_t vlan = pkt->vlan;
    uint8_t layers = pkt->layers;
    memset(pkt, 0, sizeof(*pkt));
    pkt->ctx = ctx;
    pkt->tunnels = tunnels;
    pkt->vlan = vlan;
    pkt->layers = layers;
    memset(&d, 0, sizeof(d));
    if (!p) {
        p = empty_frame;
        len = 0;
    }
    d.r = rd_make(p, len);
    d.wire = WIRE_UNKNOWN; /* the IP header's own length rules, as for a raw-IP frame */
    d.pkt = pkt;
    d.next = LY_IP;
    return walk(&d);
}
