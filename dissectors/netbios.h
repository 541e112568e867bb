/*
 * netbios.h - NetBIOS name service dissector (RFC 1002 section 4.2, UDP
 * 137): name registrations, refreshes and positive name query responses,
 * i.e. the messages that bind a NetBIOS name to an IPv4 address.
 */
#ifndef KSD_NETBIOS_H
#define KSD_NETBIOS_H

#include <stddef.h>
#include <stdint.h>

#define KSD_NBNS_MAX_ADDRS        8  /* NB address entries kept from one record */
#define KSD_NBNS_MAX_SCOPE_LABELS 16 /* scope labels stepped over after the name */
#define KSD_NBNS_TYPE_NB          0x20

#define KSD_NBNS_OP_QUERY        0
#define KSD_NBNS_OP_REGISTRATION 5
#define KSD_NBNS_OP_REFRESH      8 /* 9 is used too (RFC 1002 errata) */
#define KSD_NBNS_OP_MULTIHOMED   15

struct ksd_nbns_msg {
    uint16_t id;
    uint8_t response; /* R bit */
    uint8_t opcode;
    uint8_t rcode;
    char name[16];   /* the first 15 bytes of the question / answer name, trailing
                        spaces removed, bytes outside printable ASCII as '?' */
    uint8_t suffix;  /* 16th byte: 0x00 workstation, 0x20 server, 0x1c domain, ... */
    uint8_t group;   /* G bit of the first NB entry (a group name) */
    uint8_t n_addrs; /* NB entries of the additional (requests) or answer (responses) record */
    uint8_t addrs[KSD_NBNS_MAX_ADDRS][4];
};

/*
 * Parse one name service packet. Returns KSD_OK when the packet carries a
 * name and at least one NB address (a registration/refresh request with its
 * additional record, or a response with its answer record), KSD_ENOTSUP for
 * a well-formed packet that binds nothing (a query, a negative response),
 * KSD_ETRUNC / KSD_EINVAL when cut short / malformed (a name that is not
 * the 32-byte first-level encoding, a record that does not fit).
 */
int ksd_nbns_parse(const uint8_t *p, size_t len, struct ksd_nbns_msg *m);

#endif
