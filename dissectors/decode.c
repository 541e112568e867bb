/*
 * decode.c - link layers, tunnels, IP and transport headers: one captured
 * frame in, one struct ksd_pkt out. This file holds IP, the transport
 * headers and the walk; the link-layer steps are in decode_link.c, the
 * tunnel steps in decode_tunnel.c, what they share in decode_int.h.
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

#include "dissectors/decode_int.h"

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

/* ------------------------------------------------------------------ IP */

static int dispatch_proto(struct ksd_decode_walk *d, uint8_t proto)
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
static int dec_ip(struct ksd_decode_walk *d)
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

static int dec_ip4(struct ksd_decode_walk *d)
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
static int dec_ah4(struct ksd_decode_walk *d)
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

static int dec_ip6(struct ksd_decode_walk *d)
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

static int dec_tcp(struct ksd_decode_walk *d)
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

static int dec_udp(struct ksd_decode_walk *d)
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
    switch (ksd_udp_tunnel(p->sport, p->dport)) {
        case KSD_TUN_VXLAN:
            d->next = LY_VXLAN;
            return DEC_MORE;
        case KSD_TUN_GENEVE:
            d->next = LY_GENEVE;
            return DEC_MORE;
        case KSD_TUN_GTP:
            d->next = LY_GTP;
            return DEC_MORE;
        case KSD_TUN_TEREDO:
            d->next = LY_TEREDO;
            return DEC_MORE;
        default:
            return KSD_DEC_OK;
    }
}

static int dec_icmp(struct ksd_decode_walk *d, int v6)
{
    uint8_t type;
    if (!rd_peek_ok(&d->r, 0, &type))
        return KSD_DEC_TRUNC_L4;
    if (v6 ? type < 128 : (type == 3 || type == 4 || type == 5 || type == 11 || type == 12))
        return KSD_DEC_ICMP_ERROR;
    set_payload_rest(d);
    return KSD_DEC_OK;
}

/* ------------------------------------------------------------ the walk */

static int step(struct ksd_decode_walk *d)
{
    switch (d->next) {
        case LY_ETH:
            return ksd_decode_link_eth(d);
        case LY_ETYPE:
            return ksd_decode_link_etype(d);
        case LY_LLC:
            return ksd_decode_link_llc(d);
        case LY_VLAN:
            return ksd_decode_link_vlan(d);
        case LY_MPLS:
            return ksd_decode_link_mpls(d);
        case LY_PPPOE:
            return ksd_decode_link_pppoe(d);
        case LY_PPP:
            return ksd_decode_link_ppp(d);
        case LY_IP:
            return dec_ip(d);
        case LY_IP4:
            return dec_ip4(d);
        case LY_IP6:
            return dec_ip6(d);
        case LY_AH4:
            return dec_ah4(d);
        case LY_GRE:
            return ksd_decode_tunnel_gre(d);
        case LY_ERSPAN2:
            return ksd_decode_tunnel_erspan2(d);
        case LY_ERSPAN3:
            return ksd_decode_tunnel_erspan3(d);
        case LY_TCP:
            return dec_tcp(d);
        case LY_UDP:
            return dec_udp(d);
        case LY_ICMP4:
            return dec_icmp(d, 0);
        case LY_ICMP6:
            return dec_icmp(d, 1);
        case LY_VXLAN:
            return ksd_decode_tunnel_vxlan(d);
        case LY_GENEVE:
            return ksd_decode_tunnel_geneve(d);
        case LY_GTP:
            return ksd_decode_tunnel_gtp(d);
        case LY_TEREDO:
            return ksd_decode_tunnel_teredo(d);
        case LY_SLL:
            return ksd_decode_link_sll(d);
        case LY_SLL2:
            return ksd_decode_link_sll2(d);
        case LY_NULL:
            return ksd_decode_link_null(d);
        case LY_LOOP:
            return ksd_decode_link_loop(d);
        case LY_RADIOTAP:
            return ksd_decode_link_radiotap(d);
        case LY_80211:
            return ksd_decode_link_80211(d);
        case LY_NFLOG:
            return ksd_decode_link_nflog(d);
        default:
            return KSD_DEC_LINKTYPE;
    }
}

static int walk(struct ksd_decode_walk *d)
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

static uint16_t be16_at(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t be32_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/*
 * Most frames on a span port: Ethernet II, then IPv4 that is no fragment
 * (options allowed) or IPv6 with no extension header, then TCP, or UDP on no
 * port the walk takes for a tunnel. For those the walk's dozen steps are
 * done here in one pass, with the same checks in the same terms (the
 * comments name the step each check comes from) and the same result; any
 * frame that would take another turn in the walk, an error included,
 * returns -1 and is walked. test_decode and the decode fuzzer compare the
 * two (ksd_decode_walked) on every frame they have.
 */
int ksd_decode_plain(const uint8_t *b, size_t caplen, struct ksd_pkt *p)
{
    memset(p, 0, sizeof(*p));
    if (caplen < 14 + 20)
        return -1;
    uint16_t et = be16_at(b + 12);
    const uint8_t *ip = b + 14;
    size_t iplen = caplen - 14; /* the IP window after dec_ip4/dec_ip6's rebase */
    size_t hl, total;
    uint8_t proto;
    if (et == 0x0800) { /* ksd_decode_link_etype -> dec_ip4 */
        hl = (size_t)(ip[0] & 0x0f) * 4;
        total = be16_at(ip + 2);
        /* version, header length, total 0 (offload) or short, cut options, MF or offset */
        if ((ip[0] >> 4) != 4 || hl < 20 || total < hl || hl > iplen || (be16_at(ip + 6) & 0x3fff))
            return -1;
        proto = ip[9];
        if (proto != 6 && proto != 17)
            return -1; /* dispatch_proto */
        p->family = 4;
        memcpy(p->src, ip + 12, 4);
        memcpy(p->dst, ip + 16, 4);
        p->ttl = ip[8];
    } else if (et == 0x86dd) { /* dec_ip6 */
        if (iplen < 40 || (ip[0] >> 4) != 6 || be16_at(ip + 4) == 0)
            return -1; /* cut, version, jumbogram or offload */
        hl = 40;
        total = 40 + (size_t)be16_at(ip + 4);
        proto = ip[6];
        if (proto != 6 && proto != 17)
            return -1; /* an extension header, or another transport */
        p->family = 6;
        memcpy(p->src, ip + 8, 16);
        memcpy(p->dst, ip + 24, 16);
        p->ttl = ip[7];
    } else {
        return -1;
    }
    p->proto = proto;
    p->l3 = ip;
    p->l3_len = iplen < total ? iplen : total;
    size_t w = total - hl;                        /* rebase_len: declared transport bytes */
    size_t cap = iplen - hl < w ? iplen - hl : w; /* and the captured part */
    const uint8_t *l4 = ip + hl;
    if (proto == 6) { /* dec_tcp */
        if (w < 20 || cap < 20)
            return -1;
        size_t thl = (size_t)(l4[12] >> 4) * 4;
        if (thl < 20 || thl > w || thl > cap)
            return -1;
        p->sport = be16_at(l4);
        p->dport = be16_at(l4 + 2);
        p->seq = be32_at(l4 + 4);
        p->ack = be32_at(l4 + 8);
        p->tcp_flags = l4[13];
        p->payload = l4 + thl;
        p->payload_len = cap - thl;
        p->wire_payload_len = w - thl;
    } else { /* dec_udp */
        if (w < 8 || cap < 8)
            return -1;
        uint16_t sp = be16_at(l4), dp = be16_at(l4 + 2);
        size_t ulen = be16_at(l4 + 4);
        if (ulen == 0)
            ulen = w;
        if (ulen < 8 || ulen > w || ksd_udp_tunnel(sp, dp))
            return -1;
        p->sport = sp;
        p->dport = dp;
        p->payload = l4 + 8;
        p->payload_len = cap - 8 < ulen - 8 ? cap - 8 : ulen - 8;
        p->wire_payload_len = ulen - 8;
    }
    memcpy(p->dst_mac, b, 6); /* ksd_decode_link_eth */
    memcpy(p->src_mac, b + 6, 6);
    p->has_mac = 1;
    return KSD_DEC_OK;
}

int ksd_decode(int linktype, const uint8_t *frame, size_t caplen, struct ksd_pkt *pkt)
{
    if (linktype == KSD_DLT_EN10MB && frame && ksd_decode_plain(frame, caplen, pkt) == KSD_DEC_OK)
        return KSD_DEC_OK;
    return ksd_decode_walked(linktype, frame, caplen, pkt);
}

int ksd_decode_walked(int linktype, const uint8_t *frame, size_t caplen, struct ksd_pkt *pkt)
{
    struct ksd_decode_walk d;
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
    struct ksd_decode_walk d;
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
