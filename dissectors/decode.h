/*
 * decode.h - link layers, tunnels, IP and transport headers: one captured
 * frame in, one struct ksd_pkt out (L3/L4 tuple, tunnel context, payload view).
 *
 * Nothing here keeps state between packets. IP fragments are recognised and
 * described (struct ksd_frag) but not reassembled: see ipfrag.h, whose output
 * goes back through ksd_decode_ip().
 */
#ifndef KSD_DECODE_H
#define KSD_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define KSD_MAX_LAYERS       12 /* encapsulation nesting limit (each tunnel/tag counts) */
#define KSD_MAX_IPV6_EXT     8  /* IPv6 extension headers walked per packet */
#define KSD_MAX_VLAN_TAGS    4
#define KSD_MAX_MPLS_LABELS  8
#define KSD_MAX_DECODE_STEPS 64 /* headers walked per frame, all kinds together */
#define KSD_MAX_NFLOG_TLVS   32 /* NFLOG TLVs walked looking for the payload */
#define KSD_MAX_GTP_EXT      8  /* GTP-U extension headers walked */

/* libpcap link types ksd decodes (values from pcap/dlt.h, without including it). */
#define KSD_DLT_NULL             0
#define KSD_DLT_EN10MB           1
#define KSD_DLT_RAW              12 /* OpenBSD value; 14 on some; LINKTYPE_RAW is 101 */
#define KSD_DLT_RAW14            14
#define KSD_DLT_LOOP             108
#define KSD_DLT_LINUX_SLL        113
#define KSD_DLT_RAW101           101
#define KSD_DLT_IEEE802_11_RADIO 127
#define KSD_DLT_IPV4             228
#define KSD_DLT_IPV6             229
#define KSD_DLT_NFLOG            239
#define KSD_DLT_LINUX_SLL2       276
#define KSD_DLT_PPP              9
#define KSD_DLT_IEEE802_11       105

/* Why a frame was not decoded to a transport payload. Each has a counter
 * named "decode.<name>" (ksd_decode_reason_name). KSD_DEC_OK and the
 * "not an error" outcomes come first. */
enum ksd_dec {
    KSD_DEC_OK = 0,      /* pkt filled: IPv4/IPv6 with TCP, UDP or another L4 */
    KSD_DEC_NOT_IP,      /* ARP, LLDP, STP...: valid, nothing for ksd */
    KSD_DEC_FRAGMENT,    /* IP fragment: pkt->frag describes it, hand to ipfrag */
    KSD_DEC_LINKTYPE,    /* link type not supported */
    KSD_DEC_TRUNC_LINK,  /* link-layer header cut short */
    KSD_DEC_TRUNC_IP,    /* IP header cut short */
    KSD_DEC_TRUNC_L4,    /* TCP/UDP header cut short */
    KSD_DEC_BAD_IP,      /* version, IHL or total length inconsistent */
    KSD_DEC_BAD_IP6_EXT, /* IPv6 extension chain malformed or too long */
    KSD_DEC_BAD_TCP,     /* TCP data offset below 20 or past the segment */
    KSD_DEC_BAD_UDP,     /* UDP length inconsistent */
    KSD_DEC_BAD_TUNNEL,  /* GRE/VXLAN/Geneve/ERSPAN/GTP/MPLS/PPPoE header malformed */
    KSD_DEC_TOO_DEEP,    /* more than KSD_MAX_LAYERS encapsulations */
    KSD_DEC_ICMP_ERROR,  /* ICMP/ICMPv6 error: quoted packet never dissected */
    KSD_DEC_BAD_LINK,    /* link-layer header malformed (radiotap, 802.11, NFLOG, LLC) */
    KSD_DEC__COUNT,
};

const char *ksd_decode_reason_name(int reason);

struct ksd_frag {
    uint32_t id;         /* IPv4 identification or IPv6 fragment identification */
    uint16_t offset;     /* fragment offset in bytes */
    uint8_t more;        /* more-fragments flag */
    uint8_t next;        /* IPv6: next header after the fragment header; IPv4: protocol */
    const uint8_t *data; /* fragment payload (borrowed, in the frame) */
    size_t data_len;
    const uint8_t *hdr; /* the IP header (and IPv6 unfragmentable part) of this fragment */
    size_t hdr_len;
    size_t wire_len; /* fragment payload bytes the IP header declares (>= data_len;
                        larger when the capture cut the fragment) */
    uint16_t nh_off; /* IPv6: offset in hdr of the next-header byte that names the
                        fragment header (6, or inside the last extension header) */
};

struct ksd_pkt {
    uint8_t family;          /* 4 or 6 (of the innermost IP header) */
    uint8_t proto;           /* IP protocol of the transport (6 TCP, 17 UDP, ...) */
    uint8_t src[16];         /* source address; IPv4 in the first 4 bytes */
    uint8_t dst[16];         /* destination address */
    uint16_t sport;          /* TCP/UDP source port, host order (0 otherwise) */
    uint16_t dport;          /* TCP/UDP destination port */
    uint8_t tcp_flags;       /* TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10) */
    uint32_t seq;            /* TCP sequence number */
    uint32_t ack;            /* TCP acknowledgement number */
    const uint8_t *payload;  /* transport payload (borrowed view into the frame) */
    size_t payload_len;      /* captured payload bytes (may be less than on the wire) */
    size_t wire_payload_len; /* payload bytes the headers declare */
    uint32_t ctx;            /* hash of VLAN ids, MPLS labels and tunnel ids/outer addresses:
                                part of the flow key so that overlapping address spaces stay apart */
    uint16_t vlan;           /* innermost 802.1Q VLAN id, 0 if none */
    uint8_t layers;          /* encapsulation layers walked */
    uint8_t ttl;             /* innermost IP TTL / hop limit */
    struct ksd_frag frag;    /* valid when ksd_decode returned KSD_DEC_FRAGMENT */
    uint32_t tunnels;        /* bit set of KSD_TUN_* seen on the way in */
    const uint8_t *l3;       /* innermost IP header (borrowed; for the flow classifier) */
    size_t l3_len;           /* captured bytes of that IP packet */
    uint8_t has_mac;         /* an Ethernet header was walked: the MACs below are set */
    uint8_t src_mac[6];      /* its source and destination (innermost Ethernet header) */
    uint8_t dst_mac[6];
};

#define KSD_TUN_VLAN   0x0001
#define KSD_TUN_MPLS   0x0002
#define KSD_TUN_PPPOE  0x0004
#define KSD_TUN_GRE    0x0008
#define KSD_TUN_ERSPAN 0x0010
#define KSD_TUN_VXLAN  0x0020
#define KSD_TUN_GENEVE 0x0040
#define KSD_TUN_IPIP   0x0080
#define KSD_TUN_GTP    0x0100
#define KSD_TUN_TEREDO 0x0200

/* The tunnel a UDP datagram with these ports carries for the decoder
 * (KSD_TUN_VXLAN, _GENEVE, _GTP or _TEREDO), or 0: the one list of the
 * ports it descends into, for the walk and for whoever predicts it. */
static inline uint32_t ksd_udp_tunnel(uint16_t sport, uint16_t dport)
{
    if (dport == 4789)
        return KSD_TUN_VXLAN;
    if (dport == 6081)
        return KSD_TUN_GENEVE;
    if (dport == 2152 || sport == 2152)
        return KSD_TUN_GTP;
    if (dport == 3544 || sport == 3544)
        return KSD_TUN_TEREDO;
    return 0;
}

/*
 * Decode one captured frame of link type `linktype` (a libpcap DLT value).
 * Returns KSD_DEC_OK with *pkt filled, or another enum ksd_dec value. The
 * payload and fragment pointers borrow from `frame`.
 */
int ksd_decode(int linktype, const uint8_t *frame, size_t caplen, struct ksd_pkt *pkt);
/* The same by the general walk alone: ksd_decode takes a shortcut for plain
 * Ethernet/IP/TCP-or-UDP frames, whose result must equal this one (tests). */
int ksd_decode_walked(int linktype, const uint8_t *frame, size_t caplen, struct ksd_pkt *pkt);
/* That shortcut alone (an Ethernet frame): KSD_DEC_OK, or -1 when the frame
 * is not plain Ethernet II + IPv4/IPv6 + TCP/UDP and must be walked. */
int ksd_decode_plain(const uint8_t *frame, size_t caplen, struct ksd_pkt *pkt);

/*
 * Decode starting at an IP header (version taken from the first nibble), as
 * for a datagram that ipfrag reassembled. `pkt` keeps ctx, vlan, layers and
 * tunnels from the outer decode (set them before calling); the rest is
 * overwritten.
 */
int ksd_decode_ip(const uint8_t *p, size_t len, struct ksd_pkt *pkt);

#endif
