/*
 * dns.h - DNS message dissector (RFC 1035, AAAA RFC 3596, EDNS RFC 6891,
 * SVCB/HTTPS RFC 9460). mDNS and LLMNR share the wire format; the sensor
 * picks the protocol by port, this module only parses.
 *
 * Pure functions over (bytes, len): no I/O, no globals, no allocation. All
 * strings in the output structs are NUL-terminated copies; nothing points
 * into the packet.
 *
 * Name rendering (presentation form, as tshark renders it so that facts agree
 * with the oracle): labels joined by '.', no trailing dot, the root name is
 * "". ASCII letters are lower-cased; other printable ASCII (0x20..0x7e) is
 * copied as is, including '.', '\\' and ' ' inside a label (not escaped, so
 * "a.b" as one label renders like two labels); BEL BS HT LF VT FF CR become
 * \a \b \t \n \v \f \r; every other byte below 0x20, 0x7f and every byte
 * >= 0x80 becomes a three-digit octal escape "\ooo". (tshark copies valid
 * UTF-8 and prints U+FFFD for invalid bytes; ksd escapes every byte >= 0x80
 * instead, which keeps names ASCII-only and lossless.)
 */
#ifndef KSD_DNS_H
#define KSD_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/rd.h"

#define KSD_DNS_NAME_BUF        1024 /* presentation-form name buffer incl. NUL */
#define KSD_DNS_MAX_PTRS        32   /* compression pointers followed per name */
#define KSD_DNS_MAX_LABELS      128  /* labels per name (255 wire bytes allow 127) */
#define KSD_DNS_MAX_WIRE_NAME   255  /* wire bytes of a name incl. length bytes and root */
#define KSD_DNS_MAX_LABEL       63   /* bytes per label */
#define KSD_DNS_MAX_QUESTIONS   8    /* questions kept in struct ksd_dns_msg */
#define KSD_DNS_MAX_ANSWERS     64   /* answer entries kept in struct ksd_dns_msg */
#define KSD_DNS_MAX_RECORDS     1024 /* questions + records walked per message */
#define KSD_DNS_MAX_SVCPARAMS   64   /* SvcParams walked per SVCB/HTTPS record */
#define KSD_DNS_MAX_SKIP_LABELS 256  /* labels stepped over in an undecodable name */
#define KSD_DNS_HEADER_LEN      12   /* fixed header bytes */

#define KSD_DNS_TYPE_A     1
#define KSD_DNS_TYPE_CNAME 5
#define KSD_DNS_TYPE_AAAA  28
#define KSD_DNS_TYPE_OPT   41
#define KSD_DNS_TYPE_SVCB  64
#define KSD_DNS_TYPE_HTTPS 65

/* Reason of the first problem in a message (counter names: dns.err.<name>). */
enum ksd_dns_err {
    KSD_DNS_OK = 0,
    KSD_DNS_ERR_SHORT_HEADER,   /* fewer than 12 bytes */
    KSD_DNS_ERR_PTR_LOOP,       /* pointer to itself / an already visited place, or too many hops */
    KSD_DNS_ERR_PTR_FORWARD,    /* pointer not strictly before the previous target */
    KSD_DNS_ERR_PTR_RANGE,      /* pointer past the end of the message */
    KSD_DNS_ERR_LABEL_LEN,      /* label over 63 bytes or reserved label type 01/10 */
    KSD_DNS_ERR_NAME_LEN,       /* name over 255 wire bytes or 128 labels */
    KSD_DNS_ERR_TRUNC_QUESTION, /* bytes ran out inside the question section */
    KSD_DNS_ERR_TRUNC_RR,       /* bytes ran out inside a resource record */
    KSD_DNS_ERR_RDATA,          /* RDATA does not fit its RDLENGTH or its type */
    KSD_DNS_ERR_TOO_MANY,       /* a KSD_DNS_MAX_* count cap was reached */
    KSD_DNS_ERR_TRUNC_NAME,     /* bytes ran out inside a name (ksd_dns_read_name only) */
    KSD_DNS_ERR_COUNT,          /* number of values, not an error */
};

/* Short name of an enum ksd_dns_err value ("ptr_loop", "label_len", ...);
 * accepts the value or its negation; "unknown" for anything else. Static string. */
const char *ksd_dns_err_name(int err);

struct ksd_dns_question {
    char name[KSD_DNS_NAME_BUF]; /* presentation form (see above) */
    uint16_t qtype;              /* QTYPE */
    uint16_t qclass;             /* QCLASS, top bit (mDNS unicast-response) masked off */
};

struct ksd_dns_rr {
    char owner[KSD_DNS_NAME_BUF];  /* owner name, presentation form */
    uint16_t type;                 /* 1 A, 28 AAAA, 5 CNAME, 64 SVCB, 65 HTTPS */
    uint16_t rclass;               /* CLASS, top bit (mDNS cache-flush) masked off */
    uint32_t ttl;                  /* TTL */
    uint8_t family;                /* 4 or 6 when addr holds an address, else 0 */
    uint8_t addr[16];              /* A/AAAA address or one SVCB/HTTPS ipv4hint/ipv6hint */
    char target[KSD_DNS_NAME_BUF]; /* CNAME target, SVCB/HTTPS TargetName, else "" */
};

struct ksd_dns_msg {
    uint16_t id;            /* transaction ID */
    uint16_t flags;         /* the whole flags word */
    uint8_t qr;             /* 1 response, 0 query */
    uint8_t opcode;         /* 4-bit OPCODE */
    uint8_t tc;             /* truncation flag */
    uint8_t rcode;          /* 4-bit header RCODE */
    uint8_t edns;           /* an OPT record is in the additional section */
    uint16_t edns_udp_size; /* OPT CLASS: requestor's UDP payload size */
    uint16_t n_questions;   /* entries used in q[] */
    struct ksd_dns_question q[KSD_DNS_MAX_QUESTIONS];
    uint16_t n_answers;                        /* entries used in an[] */
    struct ksd_dns_rr an[KSD_DNS_MAX_ANSWERS]; /* answer section, A/AAAA/CNAME/SVCB/HTTPS:
                                                  one entry per SVCB/HTTPS hint address, or one
                                                  entry with family 0 when it has no hint */
    int err; /* enum ksd_dns_err of the first problem, KSD_DNS_OK when none */
};

/*
 * Parse one DNS message (UDP payload or one TCP-framed message without its
 * length prefix). The struct is large (about 140 KB): do not put it on a
 * small stack. Only header fields, counts and the entries in use are written.
 *
 * Parsing steps over what it can and stops only where the next item cannot
 * be found: a bad question name is dropped; a record whose owner cannot be
 * decoded is kept with owner ""; a record with bad RDATA (wrong A/AAAA
 * length, bad CNAME target, malformed SvcParams) is dropped. Bad names are
 * stepped over when their uncompressed part is intact (pointer errors, name
 * over 255 bytes). Parsing stops when bytes run out, so a snaplen-truncated
 * response still yields its question and first answers.
 *
 * Returns KSD_OK; KSD_ETRUNC (out->err SHORT_HEADER, TRUNC_QUESTION or
 * TRUNC_RR) or KSD_EINVAL (any other error) for the first problem met;
 * KSD_ELIMIT (out->err TOO_MANY) when there was no other problem but more
 * questions or answer entries than the caps (the extra ones are skipped).
 * Whatever the return code, out->q[0..n_questions) and
 * out->an[0..n_answers) are complete and valid.
 */
int ksd_dns_parse(const uint8_t *p, size_t len, struct ksd_dns_msg *out);

/*
 * Read the (possibly compressed) name at the cursor of `r`, a reader whose
 * window lies inside the message (msg, msg_len) - the message itself or an
 * rd_sub() of it such as one RDATA. Pointers are resolved against `msg`;
 * each must point strictly before the previous target (for the first one:
 * before the start of the name) and at most KSD_DNS_MAX_PTRS are followed.
 * Writes the presentation form to out (always NUL-terminated, "" on error).
 *
 * Returns 0 or a negative enum ksd_dns_err (-KSD_DNS_ERR_PTR_LOOP, ...).
 * On success the cursor is just after the name: after its root label, or
 * after the first pointer if it is compressed. On error the cursor position
 * is unspecified (the reader may be in error).
 */
int ksd_dns_read_name(struct ksd_rd *r, const uint8_t *msg, size_t msg_len,
                      char out[KSD_DNS_NAME_BUF]);

/*
 * DNS over TCP (RFC 1035 4.2.2): every message has a 2-byte length prefix.
 * `p` holds in-order stream bytes starting at a prefix. Returns KSD_OK when a
 * whole message is in p: it is at p + *msg_off, *msg_len bytes long, and the
 * next prefix starts at *msg_off + *msg_len. KSD_EAGAIN when more bytes are
 * needed; KSD_EINVAL when the prefix announces fewer than 12 bytes (cannot
 * be DNS, the stream should be abandoned).
 */
int ksd_dns_tcp_frame(const uint8_t *p, size_t len, size_t *msg_off, size_t *msg_len);

/*
 * Plausibility check for DNS on a port that is not 53: the header counts
 * and opcode are sane for the direction and the first question parses with
 * a known class. Returns 1 (looks like DNS) or 0.
 */
int ksd_dns_probe(const uint8_t *p, size_t len);

#endif
