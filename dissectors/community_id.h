/*
 * community_id.h - the Community ID v1 flow hash (corelight's specification,
 * as Zeek and Suricata write it): "1:" and the base64 of the SHA-1 of
 * seed, the two endpoints in a canonical order, the IP protocol and the
 * ports (ICMP: type and code, or the counterpart type).
 */
#ifndef KSD_COMMUNITY_ID_H
#define KSD_COMMUNITY_ID_H

#include <stdint.h>

#define KSD_COMMUNITY_ID_MAX 32 /* "1:" + 28 base64 characters + NUL */

/*
 * One flow's Community ID into out. family is 4 or 6 (addresses in network
 * order; IPv4 in the first 4 bytes). For TCP, UDP and SCTP, sport/dport are
 * the ports; for ICMP (1) and ICMPv6 (58) they are the message type and
 * code; other protocols hash no ports (has_ports 0). Returns 0, or -1 when
 * family is neither 4 nor 6 or the digest fails (out is then "").
 */
int ksd_community_id(uint16_t seed, int family, uint8_t proto, const uint8_t *saddr,
                     const uint8_t *daddr, uint16_t sport, uint16_t dport, int has_ports,
                     char out[KSD_COMMUNITY_ID_MAX]);

#endif
