/*
 * dhcp.h - DHCPv4 message dissector (RFC 2131 BOOTP header, RFC 2132
 * options 12 host name, 50 requested address, 51 lease time, 53 message
 * type, 60 vendor class; RFC 4702 option 81 client FQDN): what a DHCP
 * exchange says about a client, its hardware address, the address it asks
 * for or is given, its names and its lease.
 */
#ifndef KSD_DHCP_H
#define KSD_DHCP_H

#include <stddef.h>
#include <stdint.h>

#define KSD_DHCP_MAX_OPTIONS 255 /* options walked per message */
#define KSD_DHCP_NAME_MAX    256 /* host name / FQDN / vendor class bytes kept, with NUL */
#define KSD_DHCP_MAX_LABELS  128 /* labels of an option 81 name in DNS wire format */

#define KSD_DHCP_DISCOVER 1
#define KSD_DHCP_OFFER    2
#define KSD_DHCP_REQUEST  3
#define KSD_DHCP_ACK      5
#define KSD_DHCP_INFORM   8

struct ksd_dhcp_msg {
    uint8_t op;   /* 1 BOOTREQUEST (client), 2 BOOTREPLY (server) */
    uint8_t type; /* option 53, 0 when absent (plain BOOTP) */
    uint32_t xid; /* transaction id */
    uint8_t ciaddr[4], yiaddr[4], giaddr[4];
    uint8_t has_mac; /* htype 1 (Ethernet) with hlen 6 */
    uint8_t chaddr[6];
    uint8_t has_requested; /* option 50 */
    uint8_t requested[4];
    uint8_t has_lease; /* option 51 */
    uint32_t lease_s;
    char host[KSD_DHCP_NAME_MAX];   /* option 12, "" when absent */
    char fqdn[KSD_DHCP_NAME_MAX];   /* option 81 domain name, "" when absent */
    char vendor[KSD_DHCP_NAME_MAX]; /* option 60, "" when absent */
};

/*
 * Parse one DHCP/BOOTP message (the UDP payload). Returns KSD_OK,
 * KSD_ETRUNC when the fixed header or an option is cut short (fields read
 * before that point are kept), KSD_EINVAL when it is not DHCP (bad op,
 * missing magic cookie), KSD_ELIMIT past KSD_DHCP_MAX_OPTIONS.
 * Names keep their case; bytes outside printable ASCII become '?'. Option
 * overload (52) is not followed: names in sname/file are not read.
 */
int ksd_dhcp_parse(const uint8_t *p, size_t len, struct ksd_dhcp_msg *m);

#endif
