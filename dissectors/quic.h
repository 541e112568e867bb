/*
 * quic.h - QUIC Initial packets (RFC 9000/9001, v2 RFC 9369, draft-29 and
 * draft-27): key derivation, header protection removal, AES-128-GCM through
 * OpenSSL's libcrypto, CRYPTO frame reassembly (out of order, across several
 * Initial packets and coalesced packets), then the ClientHello goes to
 * ksd_tls_parse_hello() with transport 'q'.
 */
#ifndef KSD_QUIC_H
#define KSD_QUIC_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/tls.h"

#define KSD_QUIC_MAX_CRYPTO     16384 /* CRYPTO stream bytes reassembled per flow */
#define KSD_QUIC_MAX_PACKETS    8     /* Initial packets tried per flow before giving up */
#define KSD_QUIC_MAX_COALESCED  8     /* long-header packets walked per datagram */
#define KSD_QUIC_MAX_FRAMES     512 /* frames parsed per decrypted packet (a PADDING run is one) */
#define KSD_QUIC_MAX_ACK_RANGES 64  /* ACK Range Count accepted in one ACK frame */
#define KSD_QUIC_MAX_CID        20  /* connection ID bytes (RFC 9000 17.2) */

struct ksd_quic; /* per-flow client-direction state, opaque */

struct ksd_quic *ksd_quic_new(void);
void ksd_quic_free(struct ksd_quic *q);

/* Heap bytes the state holds (0 for NULL): the record, plus the CRYPTO
 * buffer once an Initial has opened (none for Initials that never decrypt). */
size_t ksd_quic_mem(const struct ksd_quic *q);

/* 1 when the datagram starts with a long-header Initial of a version ksd
 * can decrypt, 0 otherwise. */
int ksd_quic_probe(const uint8_t *p, size_t len);

/*
 * Feed one client UDP datagram. Returns KSD_OK when the ClientHello is
 * complete and parsed into *out (later calls return KSD_ENOTSUP), KSD_EAGAIN
 * when more Initial packets are needed, KSD_ENOTSUP for an unknown version,
 * KSD_EINVAL when the datagram is not a decryptable QUIC Initial.
 * KSD_EINVAL is about this datagram only: the state stays usable and a later
 * datagram may still complete the ClientHello (unless the CRYPTO stream did
 * not start with a ClientHello, or the ClientHello did not parse: then the
 * flow is finished and later calls return KSD_ENOTSUP). KSD_ELIMIT: the
 * ClientHello is larger than KSD_QUIC_MAX_CRYPTO - 4, or KSD_QUIC_MAX_PACKETS
 * Initial packets did not complete it; later calls return KSD_ENOTSUP.
 * KSD_ENOMEM: an allocation or libcrypto call failed. `p` is borrowed for
 * the call only; *out is written only on KSD_OK.
 */
int ksd_quic_feed(struct ksd_quic *q, const uint8_t *p, size_t len, struct ksd_tls_hello *out);

/* Initial packet protection keys of one side (RFC 9001 5.2, RFC 9369 3.3). */
struct ksd_quic_keys {
    uint8_t secret[32]; /* client_initial_secret or server_initial_secret */
    uint8_t key[16];    /* AEAD_AES_128_GCM key ("quic key" / "quicv2 key") */
    uint8_t iv[12];     /* AEAD IV ("quic iv" / "quicv2 iv") */
    uint8_t hp[16];     /* header protection key ("quic hp" / "quicv2 hp") */
};

/*
 * Derive the Initial keys of `version` from the client's first Destination
 * Connection ID (dcid_len <= KSD_QUIC_MAX_CID); server != 0 gives the
 * server's keys. Returns KSD_OK, KSD_ENOTSUP (no known salt for the
 * version), KSD_EINVAL (dcid too long), KSD_ENOMEM (libcrypto failed).
 */
int ksd_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len, int server,
                          struct ksd_quic_keys *out);

/*
 * The contiguous prefix of the reassembled client CRYPTO stream: *p points
 * into the state (valid until the next ksd_quic_feed or ksd_quic_free), the
 * return value is its length. For tests and debugging.
 */
size_t ksd_quic_crypto_prefix(const struct ksd_quic *q, const uint8_t **p);

#endif
