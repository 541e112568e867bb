/*
 * classify.h - nDPI as ksd's flow classifier: one detection module per
 * worker, nDPI state per flow only while the flow is being classified (at
 * most KSD_NDPI_MAX_PACKETS packets), an application label per flow.
 * The only module that includes nDPI's headers.
 */
#ifndef KSD_CLASSIFY_H
#define KSD_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#define KSD_NDPI_MAX_PACKETS 24 /* packets given to nDPI per flow before it must decide */
#define KSD_APP_LABEL_MAX    32

struct ksd_classify;
struct ksd_classify_flow; /* per-flow nDPI state, opaque */

/*
 * A detection module. `protos_file` (nDPI protocols-file syntax, may be NULL)
 * adds custom protocols, e.g. the `Kaspersky` protocol generated from the
 * domain rules. NULL and a message in err on failure.
 */
struct ksd_classify *ksd_classify_new(const char *protos_file, char *err, size_t errlen);
void ksd_classify_free(struct ksd_classify *c);

/*
 * Give one packet (starting at its IP header) of a flow to nDPI. *state is
 * created on the first call. Returns 1 when the flow is classified (label
 * written, state freed and set to NULL), 0 when nDPI wants more packets.
 */
int ksd_classify_packet(struct ksd_classify *c, struct ksd_classify_flow **state, const uint8_t *l3,
                        size_t l3_len, int64_t ts_us, char *label, size_t label_len);

/* The same, and the server name nDPI extracted for the flow (SNI, Host, DNS
 * question; "" when none) copied into name when the label is final. */
int ksd_classify_packet_name(struct ksd_classify *c, struct ksd_classify_flow **state,
                             const uint8_t *l3, size_t l3_len, int64_t ts_us, char *label,
                             size_t label_len, char *name, size_t name_len);

/* Protocols whose first client message ksd parses itself. */
enum ksd_classify_proto {
    KSD_CLASSIFY_TLS,  /* TLS over TCP: the ClientHello's SNI */
    KSD_CLASSIFY_QUIC, /* QUIC: the Initial's ClientHello SNI */
    KSD_CLASSIFY_DNS,  /* DNS over UDP: the query's first question */
};

/*
 * Label a flow from the name in its first client message, which ksd has
 * parsed, through nDPI's own host-name tables (the call nDPI's TLS, QUIC and
 * DNS dissectors make for that name): "TLS.Kaspersky", "QUIC.Google",
 * "DNS.Apple"; when no host rule matches, nDPI's address table for the IPv4
 * client, then server (4 bytes each, or NULL; the order nDPI's own address
 * guess takes): "TLS.AmazonAWS", "DNS.Google"; else the bare protocol. nDPI then does not parse the
 * same message a second time. Frees the state; always writes a label.
 */
void ksd_classify_by_name(struct ksd_classify *c, struct ksd_classify_flow **state, int proto,
                          const char *name, const uint8_t *client_ip4, const uint8_t *server_ip4,
                          char *label, size_t label_len);

/* The flow ended before nDPI decided: take its best guess, free the state. */
void ksd_classify_giveup(struct ksd_classify *c, struct ksd_classify_flow **state, char *label,
                         size_t label_len);

/* Bytes of nDPI state per flow being classified. */
size_t ksd_classify_flow_bytes(void);

/*
 * Write an nDPI protocols file mapping every domain pattern to the custom
 * protocol `Kaspersky` (patterns as "name" for exact/suffix rules; wildcard
 * rules contribute their fixed suffix). Returns 0 or -errno.
 */
int ksd_classify_write_protos(const char *path, const char *const *domains, size_t n);

#endif
