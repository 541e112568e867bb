/*
 * decode_link.c - the link layers of the frame decoder (decode.c walks the
 * steps): Ethernet II and 802.3 LLC/SNAP, the EtherType dispatch, 802.1Q,
 * 802.1ad and QinQ tags, MPLS (RFC 3032; IP by first nibble, Ethernet
 * pseudowire with control word, RFC 4448), PPPoE session (RFC 2516), PPP
 * (RFC 1661), Linux cooked v1/v2, BSD NULL/LOOP, 802.11 (plain and radiotap)
 * and NFLOG. Each step reads through the bounds-checked reader, narrows the
 * window to the lengths its header declares and names the next step.
 *
 * It does not decrypt 802.11 or decode its A-MSDUs or fragments; IP and
 * everything above it are decode.c's, tunnels over IP decode_tunnel.c's.
 */
#include <string.h>

#include "dissectors/decode_int.h"

/* ------------------------------------------------------------ link layers */

int ksd_decode_link_eth(struct ksd_decode_walk *d)
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
int ksd_decode_link_llc(struct ksd_decode_walk *d)
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

int ksd_decode_link_etype(struct ksd_decode_walk *d)
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

int ksd_decode_link_vlan(struct ksd_decode_walk *d)
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

int ksd_decode_link_mpls(struct ksd_decode_walk *d)
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

int ksd_decode_link_pppoe(struct ksd_decode_walk *d)
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
int ksd_decode_link_ppp(struct ksd_decode_walk *d)
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

int ksd_decode_link_sll(struct ksd_decode_walk *d)
{
    if (!rd_has(&d->r, 16))
        return KSD_DEC_TRUNC_LINK;
    rd_skip(&d->r, 14); /* packet type, ARPHRD, address length, address */
    d->etype = rd_be16(&d->r);
    d->next = LY_ETYPE;
    return DEC_MORE;
}

int ksd_decode_link_sll2(struct ksd_decode_walk *d)
{
    if (!rd_has(&d->r, 20))
        return KSD_DEC_TRUNC_LINK;
    d->etype = rd_be16(&d->r);
    rd_skip(&d->r, 18); /* reserved, ifindex, ARPHRD, type, address length, address */
    d->next = LY_ETYPE;
    return DEC_MORE;
}

static int null_family(struct ksd_decode_walk *d, uint32_t fam)
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
int ksd_decode_link_null(struct ksd_decode_walk *d)
{
    if (!rd_has(&d->r, 4))
        return KSD_DEC_TRUNC_LINK;
    struct ksd_rd t = d->r;
    uint32_t le = rd_le32(&t);
    uint32_t be = rd_be32(&d->r);
    return null_family(d, le < 256 ? le : be);
}

int ksd_decode_link_loop(struct ksd_decode_walk *d)
{
    if (!rd_has(&d->r, 4))
        return KSD_DEC_TRUNC_LINK;
    return null_family(d, rd_be32(&d->r));
}

int ksd_decode_link_radiotap(struct ksd_decode_walk *d)
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
int ksd_decode_link_80211(struct ksd_decode_walk *d)
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
int ksd_decode_link_nflog(struct ksd_decode_walk *d)
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
