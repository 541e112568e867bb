/*
 * decode_tunnel.c - the tunnels carried over IP and UDP, steps of the frame
 * decoder (decode.c walks them): GRE (RFC 2784, 2890; enhanced GRE version 1
 * of RFC 2637 with PPP), ERSPAN types I, II and III (draft-foschiano-erspan),
 * VXLAN (RFC 7348), Geneve (RFC 8926), GTPv1-U (3GPP TS 29.281, with
 * extension headers) and Teredo (RFC 4380, origin and authentication
 * indications). Each enters a tunnel (counted against KSD_MAX_LAYERS), mixes
 * what identifies the tunnel into pkt->ctx as decode.c's header describes,
 * and names the inner step.
 *
 * It does not follow GRE source routing (RFC 1701).
 */
#include "dissectors/decode_int.h"

/* ------------------------------------------------------------- tunnels */

int ksd_decode_tunnel_gre(struct ksd_decode_walk *d)
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
int ksd_decode_tunnel_erspan2(struct ksd_decode_walk *d)
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
int ksd_decode_tunnel_erspan3(struct ksd_decode_walk *d)
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
int ksd_decode_tunnel_vxlan(struct ksd_decode_walk *d)
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
int ksd_decode_tunnel_geneve(struct ksd_decode_walk *d)
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
int ksd_decode_tunnel_gtp(struct ksd_decode_walk *d)
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
int ksd_decode_tunnel_teredo(struct ksd_decode_walk *d)
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
