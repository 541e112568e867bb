/*
 * quic.c - the client side of a QUIC handshake, up to its ClientHello.
 *
 * What it does: walks the long-header packets of one client UDP datagram
 * (coalesced packets are delimited by their Length field, RFC 9000 12.2 and
 * 17.2; the walk stops at a short header, a Retry or a Version Negotiation
 * packet), derives the Initial keys from the client's Destination Connection
 * ID (RFC 9001 5.2: HKDF-Extract with the version's salt, then
 * HKDF-Expand-Label "client in", "quic key", "quic iv", "quic hp"; RFC 9369
 * 3.3 for QUIC v2 with the "quicv2 ..." labels), removes header protection
 * (RFC 9001 5.4: AES-128-ECB over a 16-byte sample), opens the payload
 * (AEAD_AES_128_GCM, nonce = IV xor packet number, RFC 9001 5.3) through
 * OpenSSL's libcrypto, and walks the frames an Initial may carry (RFC 9000
 * 12.4 and 19: PADDING, PING, ACK with ranges and ECN counts, CRYPTO,
 * CONNECTION_CLOSE). CRYPTO bytes go into a per-flow buffer of up to
 * KSD_QUIC_MAX_CRYPTO bytes with a coverage bitmap, allocated on the first
 * CRYPTO frame and doubled as needed (a flow whose Initials never decrypt
 * holds only the small state, see ksd_quic_mem), so frames may arrive out
 * of order, duplicated, inside one packet or across several Initial packets.
 * Once bytes [0, 4 + handshake length) are all present the ClientHello goes
 * to ksd_tls_parse_hello() with transport 'q'.
 *
 * Keys: the first Initial fixes the keys (version family + DCID). A later
 * Initial whose DCID differs is opened with the kept keys first (a client
 * that has heard from the server sends to the server's connection ID but
 * keeps the original Initial keys); only if that fails are keys derived from
 * the new DCID, and when those open the packet they replace the old ones and
 * the reassembly restarts (the client got a Retry, RFC 9000 17.2.5, or
 * started over after Version Negotiation). The AEAD tag decides: a packet
 * that does not authenticate is never used.
 *
 * Versions: 1 (RFC 9001), 0x6b3343cf (v2, RFC 9369: its Initial is long
 * packet type 0b01 and Retry 0b00), drafts 29-32 (salt afbfec28...), drafts
 * 23-28 (salt c3eef712..., so drafts 27/28 do NOT share the draft-29 salt),
 * Facebook mvfst 0xfaceb001 (draft-22 salt 7fbcdb0e...) and 0xfaceb002 /
 * 0xfaceb00e (draft-27 based, draft-23 salt), Google T050/T051 (their own
 * salts). The salts were checked against Wireshark's packet-quic.c and
 * Chromium's QUIC code (kT051Salt = 7a4edef4...da6e033d). T05x carry
 * gQUIC frames inside IETF-style packets: CRYPTO is type 0x08 (IETF varint
 * offset and length), PING 0x07, PADDING 0x00; any other gQUIC frame ends the
 * packet. Anything else (Q0xx gQUIC with its CHLO, unknown versions) is
 * KSD_ENOTSUP.
 *
 * Reserved versions 0x?a?a?a?a (RFC 9000 15, used to force Version
 * Negotiation): no salt exists for them and a server answers with Version
 * Negotiation, but the client has already sent a real ClientHello naming the
 * server it wants, and for a sensor that name is worth having. The clients
 * of the interop "V" test (ndpi_quic_interop_V.pcapng) protect that Initial
 * with the draft-29 salt (which is also what Wireshark and nDPI assume: they
 * map 0x?a?a?a?a to draft 29; it is not the v1 salt), and newer stacks pick
 * the v1 salt for a version they do not know, so ksd tries draft-29 keys,
 * then v1 keys. The GCM tag makes a wrong guess harmless (a packet that does
 * not authenticate is dropped, nothing is read from it). This is a guess
 * about client behaviour, not a spec rule; ksd_quic_initial_keys() returns
 * the draft-29 keys for these versions.
 *
 * What it does not do: the server direction, Handshake/0-RTT/1-RTT packets
 * (skipped), ChaCha20 (Initials are always AES-128-GCM), packet number
 * recovery beyond the truncated value (Initial packet numbers are small),
 * Retry integrity tags, gQUIC CHLO parsing, a second ClientHello after a
 * HelloRetryRequest (only the first one in the CRYPTO stream is parsed).
 *
 * Packet bytes are read through rd.h. Header protection and the AEAD work on
 * a private heap copy of one packet (the copy is written in place, indexed
 * only after the lengths were checked); the decrypted frames are read back
 * through rd.h.
 */
#include "dissectors/quic.h"

#include "dissectors/crypto.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dissectors/ksd.h"
#include "dissectors/rd.h"
#include "dissectors/tls.h"

#define QUIC_SALT_LEN   20
#define QUIC_SECRET_LEN 32 /* SHA-256 output */
#define QUIC_TAG_LEN    16
#define QUIC_SAMPLE_LEN 16
#define QUIC_PN_MAX_LEN 4
#define QUIC_LABEL_MAX  16 /* longest label used here is "quicv2 key" */

#define QUIC_FRAME_PADDING      0x00
#define QUIC_FRAME_PING         0x01
#define QUIC_FRAME_ACK          0x02
#define QUIC_FRAME_ACK_ECN      0x03
#define QUIC_FRAME_CRYPTO       0x06
#define QUIC_FRAME_CLOSE        0x1c
#define QUIC_FRAME_CLOSE_APP    0x1d
#define QUIC_GQUIC_FRAME_PING   0x07 /* gQUIC frame types used by T050/T051 */
#define QUIC_GQUIC_FRAME_CRYPTO 0x08 /* offset and length are IETF varints */

#define QUIC_TLS_CLIENT_HELLO 1

enum quic_state {
    QUIC_COLLECTING = 0, /* waiting for CRYPTO bytes */
    QUIC_FINISHED,       /* ClientHello parsed, or the flow was given up */
};

/* Initial salts (RFC 9001 5.2, RFC 9369 3.3.1, draft-ietf-quic-tls-23 / -29,
 * Chromium T050/T051). */
static const uint8_t quic_salt_v1[QUIC_SALT_LEN] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34,
                                                    0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                                                    0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
static const uint8_t quic_salt_v2[QUIC_SALT_LEN] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6,
                                                    0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                                                    0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
static const uint8_t quic_salt_d29[QUIC_SALT_LEN] = {0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2,
                                                     0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61,
                                                     0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99};
static const uint8_t quic_salt_d23[QUIC_SALT_LEN] = {0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb,
                                                     0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4,
                                                     0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02};
static const uint8_t quic_salt_d22[QUIC_SALT_LEN] = {0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb,
                                                     0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51,
                                                     0x9e, 0xbd, 0x7a, 0x02, 0x64, 0x4a};
static const uint8_t quic_salt_t50[QUIC_SALT_LEN] = {0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72,
                                                     0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2,
                                                     0x36, 0x7c, 0x60, 0x48, 0x83, 0x10};
static const uint8_t quic_salt_t51[QUIC_SALT_LEN] = {0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee,
                                                     0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f,
                                                     0xc8, 0xcc, 0xda, 0x6e, 0x03, 0x3d};

/* What a version changes for Initial packets: the salt, and for v2 the
 * labels and the long packet type numbers. */
struct quic_family {
    const uint8_t *salt; /* QUIC_SALT_LEN bytes */
    uint8_t v2;          /* "quicv2" labels, Initial = type 1, Retry = type 0 */
    uint8_t gquic;       /* Google T05x: gQUIC frame types inside IETF packets */
};

static const struct quic_family quic_fam_v1 = {quic_salt_v1, 0, 0};
static const struct quic_family quic_fam_v2 = {quic_salt_v2, 1, 0};
static const struct quic_family quic_fam_d29 = {quic_salt_d29, 0, 0};
static const struct quic_family quic_fam_d23 = {quic_salt_d23, 0, 0};
static const struct quic_family quic_fam_d22 = {quic_salt_d22, 0, 0};
static const struct quic_family quic_fam_t50 = {quic_salt_t50, 0, 1};
static const struct quic_family quic_fam_t51 = {quic_salt_t51, 0, 1};

struct ksd_quic {
    enum quic_state state;          /* collecting or finished */
    uint8_t have_keys;              /* keys below are valid */
    const struct quic_family *fam;  /* family the keys were derived for */
    uint8_t dcid[KSD_QUIC_MAX_CID]; /* DCID the keys were derived from */
    size_t dcid_len;                /* its length */
    struct ksd_quic_keys keys;      /* client Initial keys */
    unsigned tried;                 /* Initial packets tried so far */
    size_t contig;                  /* CRYPTO bytes [0, contig) are present */
    size_t cap;                     /* bytes of crypto[] allocated (0: none yet) */
    uint8_t *crypto;                /* CRYPTO stream, offset 0 first; then the
                                       coverage bitmap have = crypto + cap */
};

#define QUIC_CRYPTO_MIN 2048 /* first CRYPTO buffer; doubles up to KSD_QUIC_MAX_CRYPTO */

/* One long-header packet located inside a datagram. */
struct quic_pkt {
    const struct quic_family *fam; /* version family */
    const struct quic_family *alt; /* second family to try (reserved versions), or NULL */
    uint8_t initial;               /* long packet type is Initial */
    const uint8_t *dcid;           /* Destination Connection ID (borrowed) */
    size_t dcid_len;               /* its length */
    const uint8_t *bytes;          /* first byte .. end of payload (borrowed) */
    size_t len;                    /* packet length */
    size_t pn_off;                 /* offset of the protected packet number */
};

static const struct quic_family *quic_family_of(uint32_t version)
{
    if (version == 0x00000001)
        return &quic_fam_v1;
    if (version == 0x6b3343cf)
        return &quic_fam_v2;
    if (version >= 0xff00001d && version <= 0xff000020) /* drafts 29-32 */
        return &quic_fam_d29;
    if (version >= 0xff000017 && version <= 0xff00001c) /* drafts 23-28 */
        return &quic_fam_d23;
    if (version == 0xfaceb001) /* mvfst, draft-22 based */
        return &quic_fam_d22;
    if (version == 0xfaceb002 || version == 0xfaceb00e) /* mvfst, draft-27 based */
        return &quic_fam_d23;
    if (version == 0x54303530) /* Google T050 */
        return &quic_fam_t50;
    if (version == 0x54303531) /* Google T051 */
        return &quic_fam_t51;
    if ((version & 0x0f0f0f0fu) == 0x0a0a0a0au) /* reserved: see the file comment */
        return &quic_fam_d29;
    return NULL;
}

/* RFC 9000 16: a 1, 2, 4 or 8 byte variable-length integer. */
static uint64_t quic_varint(struct ksd_rd *r)
{
    uint8_t b = rd_u8(r);
    size_t n = (size_t)1 << (b >> 6);
    uint64_t v = b & 0x3f;
    for (size_t i = 1; i < n; i++)
        v = (v << 8) | rd_u8(r);
    return rd_err(r) ? 0 : v;
}

/* ------------------------------------------------------------------------ */
/* Key derivation (RFC 5869, RFC 8446 7.1, RFC 9001 5.2)                     */
/* ------------------------------------------------------------------------ */

static int quic_hmac(EVP_MD_CTX *ctx, const uint8_t *key, size_t key_len, const uint8_t *d,
                     size_t d_len, uint8_t out[QUIC_SECRET_LEN])
{
    return ksd_crypto_hmac_sha256(ctx, key, key_len, d, d_len, out);
}

/* HKDF-Expand-Label(secret, label, "", out_len) for out_len <= 32: one
 * HMAC block, T(1) = HMAC(secret, HkdfLabel || 0x01). */
static int quic_expand_label(EVP_MD_CTX *ctx, const uint8_t secret[QUIC_SECRET_LEN],
                             const char *label, uint8_t *out, size_t out_len)
{
    static const char prefix[] = "tls13 ";
    uint8_t info[2 + 1 + sizeof(prefix) - 1 + QUIC_LABEL_MAX + 1 + 1];
    uint8_t t[QUIC_SECRET_LEN];
    size_t label_len = strlen(label);
    size_t n = 0;

    if (label_len > QUIC_LABEL_MAX || out_len > QUIC_SECRET_LEN) /* callers pass constants */
        return KSD_EINVAL;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(sizeof(prefix) - 1 + label_len);
    memcpy(info + n, prefix, sizeof(prefix) - 1);
    n += sizeof(prefix) - 1;
    memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = 0; /* empty context */
    info[n++] = 1; /* HKDF-Expand block counter */
    if (quic_hmac(ctx, secret, QUIC_SECRET_LEN, info, n, t) != KSD_OK)
        return KSD_ENOMEM;
    memcpy(out, t, out_len);
    return KSD_OK;
}

static int quic_derive(const struct quic_family *fam, const uint8_t *dcid, size_t dcid_len,
                       int server, struct ksd_quic_keys *out)
{
    uint8_t initial[QUIC_SECRET_LEN];
    static const uint8_t empty[1] = {0};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(); /* one for the five HMACs */
    int rc = KSD_ENOMEM;

    if (ctx &&
        quic_hmac(ctx, fam->salt, QUIC_SALT_LEN, dcid_len ? dcid : empty, dcid_len, initial) ==
            KSD_OK &&
        quic_expand_label(ctx, initial, server ? "server in" : "client in", out->secret,
                          QUIC_SECRET_LEN) == KSD_OK &&
        quic_expand_label(ctx, out->secret, fam->v2 ? "quicv2 key" : "quic key", out->key,
                          sizeof(out->key)) == KSD_OK &&
        quic_expand_label(ctx, out->secret, fam->v2 ? "quicv2 iv" : "quic iv", out->iv,
                          sizeof(out->iv)) == KSD_OK &&
        quic_expand_label(ctx, out->secret, fam->v2 ? "quicv2 hp" : "quic hp", out->hp,
                          sizeof(out->hp)) == KSD_OK)
        rc = KSD_OK;
    EVP_MD_CTX_free(ctx);
    return rc;
}

int ksd_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len, int server,
                          struct ksd_quic_keys *out)
{
    const struct quic_family *fam = quic_family_of(version);
    if (!fam)
        return KSD_ENOTSUP;
    if (dcid_len > KSD_QUIC_MAX_CID || (dcid_len && !dcid) || !out)
        return KSD_EINVAL;
    return quic_derive(fam, dcid, dcid_len, server, out);
}

/* ------------------------------------------------------------------------ */
/* Packet protection (RFC 9001 5.3, 5.4)                                     */
/* ------------------------------------------------------------------------ */

static int quic_hp_mask(const uint8_t hp[16], const uint8_t *sample, uint8_t mask[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    ok = ctx && EVP_EncryptInit_ex(ctx, ksd_crypto_aes128_ecb(), NULL, hp, NULL) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
         EVP_EncryptUpdate(ctx, mask, &n, sample, QUIC_SAMPLE_LEN) == 1 && n == QUIC_SAMPLE_LEN;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? KSD_OK : KSD_ENOMEM;
}

/* AEAD_AES_128_GCM open in place. KSD_OK, KSD_EINVAL (tag mismatch),
 * KSD_ENOMEM (libcrypto failure). */
static int quic_gcm_open(const struct ksd_quic_keys *k, const uint8_t nonce[12], const uint8_t *aad,
                         size_t aad_len, uint8_t *data, size_t len, const uint8_t *tag_in)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t tag[QUIC_TAG_LEN];
    int n = 0, rc = KSD_ENOMEM;

    memcpy(tag, tag_in, sizeof(tag));
    if (!ctx || EVP_DecryptInit_ex(ctx, ksd_crypto_aes128_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, nonce) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
        EVP_DecryptUpdate(ctx, data, &n, data, (int)len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, QUIC_TAG_LEN, tag) != 1)
        goto out;
    rc = EVP_DecryptFinal_ex(ctx, data + n, &n) == 1 ? KSD_OK : KSD_EINVAL;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/*
 * Remove header protection and open one packet with keys k. `buf` is a
 * private copy of the packet (pkt->len bytes), rewritten in place. On KSD_OK
 * *pay / *pay_len is the plaintext inside buf.
 */
static int quic_open(const struct ksd_quic_keys *k, const struct quic_pkt *pkt, uint8_t *buf,
                     const uint8_t **pay, size_t *pay_len)
{
    uint8_t mask[QUIC_SAMPLE_LEN];
    uint8_t nonce[12];
    uint64_t pn = 0;
    size_t pn_len, hdr_len;
    int rc;

    /* The sample starts 4 bytes after the packet number offset whatever the
     * real packet number length (RFC 9001 5.4.2). */
    if (pkt->len < pkt->pn_off || pkt->len - pkt->pn_off < QUIC_PN_MAX_LEN + QUIC_SAMPLE_LEN)
        return KSD_EINVAL;
    memcpy(buf, pkt->bytes, pkt->len);
    rc = quic_hp_mask(k->hp, buf + pkt->pn_off + QUIC_PN_MAX_LEN, mask);
    if (rc != KSD_OK)
        return rc;
    buf[0] ^= mask[0] & 0x0f; /* long header: 4 protected bits */
    pn_len = (size_t)(buf[0] & 0x03) + 1;
    for (size_t i = 0; i < pn_len; i++) {
        buf[pkt->pn_off + i] ^= mask[1 + i];
        pn = (pn << 8) | buf[pkt->pn_off + i];
    }
    hdr_len = pkt->pn_off + pn_len;
    if (pkt->len - hdr_len < QUIC_TAG_LEN)
        return KSD_EINVAL;
    memcpy(nonce, k->iv, sizeof(nonce));
    for (size_t i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
    *pay_len = pkt->len - hdr_len - QUIC_TAG_LEN;
    *pay = buf + hdr_len;
    return quic_gcm_open(k, nonce, buf, hdr_len, buf + hdr_len, *pay_len,
                         buf + pkt->len - QUIC_TAG_LEN);
}

/* ------------------------------------------------------------------------ */
/* Datagram walk (RFC 9000 17.2)                                             */
/* ------------------------------------------------------------------------ */

/*
 * Parse one long-header packet at the cursor and advance past it. KSD_OK
 * (pkt filled), KSD_ENOTSUP (long header of an unknown version), KSD_EINVAL
 * (short header, Version Negotiation, Retry, bad CID length, or a packet
 * that runs past the datagram: the walk stops there).
 */
static int quic_next_packet(struct ksd_rd *r, struct quic_pkt *pkt)
{
    struct ksd_rd h = *r; /* header reader; r itself moves by whole packets */
    const uint8_t *start = rd_ptr(r);
    uint8_t first = rd_u8(&h);
    uint32_t version;
    unsigned type;
    uint64_t n;

    if (rd_err(&h) || !(first & 0x80))
        return KSD_EINVAL;
    version = rd_be32(&h);
    if (rd_err(&h) || version == 0)
        return KSD_EINVAL;
    pkt->fam = quic_family_of(version);
    if (!pkt->fam)
        return KSD_ENOTSUP;
    pkt->alt = (version & 0x0f0f0f0fu) == 0x0a0a0a0au ? &quic_fam_v1 : NULL;
    pkt->dcid_len = rd_u8(&h);
    if (pkt->dcid_len > KSD_QUIC_MAX_CID)
        return KSD_EINVAL;
    pkt->dcid = rd_bytes(&h, pkt->dcid_len);
    n = rd_u8(&h); /* SCID length */
    if (n > KSD_QUIC_MAX_CID)
        return KSD_EINVAL;
    rd_skip(&h, (size_t)n);
    type = (first >> 4) & 0x03;
    if (type == (pkt->fam->v2 ? 0u : 3u)) /* Retry: no Length, ends the datagram */
        return KSD_EINVAL;
    pkt->initial = type == (pkt->fam->v2 ? 1u : 0u);
    if (pkt->initial) {
        n = quic_varint(&h); /* Token Length */
        if (n > rd_left(&h))
            return KSD_EINVAL;
        rd_skip(&h, (size_t)n);
    }
    n = quic_varint(&h); /* Length: packet number and payload */
    if (rd_err(&h) || n > rd_left(&h))
        return KSD_EINVAL;
    pkt->pn_off = rd_off(&h) - rd_off(r);
    pkt->len = pkt->pn_off + (size_t)n;
    pkt->bytes = start;
    rd_skip(r, pkt->len);
    return rd_err(r) ? KSD_EINVAL : KSD_OK;
}

int ksd_quic_probe(const uint8_t *p, size_t len)
{
    struct ksd_rd r = rd_make(p, len);
    struct quic_pkt pkt;
    return quic_next_packet(&r, &pkt) == KSD_OK && pkt.initial;
}

/* ------------------------------------------------------------------------ */
/* CRYPTO reassembly and frames (RFC 9000 19)                                */
/* ------------------------------------------------------------------------ */

static void quic_crypto_reset(struct ksd_quic *q)
{
    if (q->crypto)
        memset(q->crypto + q->cap, 0, q->cap / 8);
    q->contig = 0;
}

static int quic_covered(const struct ksd_quic *q, size_t i)
{
    return i < q->cap && (q->crypto[q->cap + (i >> 3)] >> (i & 7)) & 1;
}

/* Make crypto[0, end) addressable (end <= KSD_QUIC_MAX_CRYPTO): the buffer
 * is allocated on the first CRYPTO frame and doubles as needed, so a flow
 * whose Initials never decrypt holds none. */
static int quic_crypto_reserve(struct ksd_quic *q, size_t end)
{
    size_t cap = q->cap ? q->cap : QUIC_CRYPTO_MIN;
    while (cap < end && cap < KSD_QUIC_MAX_CRYPTO)
        cap *= 2;
    if (cap <= q->cap)
        return KSD_OK;
    uint8_t *nb = realloc(q->crypto, cap + cap / 8);
    if (!nb)
        return KSD_ENOMEM;
    if (q->cap)
        memmove(nb + cap, nb + q->cap, q->cap / 8);
    memset(nb + cap + q->cap / 8, 0, cap / 8 - q->cap / 8);
    q->crypto = nb;
    q->cap = cap;
    return KSD_OK;
}

/* Copy CRYPTO data at stream offset `off`; bytes at or past
 * KSD_QUIC_MAX_CRYPTO are dropped (and all of it when no memory). */
static void quic_crypto_add(struct ksd_quic *q, uint64_t off, const uint8_t *d, size_t n)
{
    if (off >= KSD_QUIC_MAX_CRYPTO || n == 0)
        return;
    if (n > KSD_QUIC_MAX_CRYPTO - off)
        n = KSD_QUIC_MAX_CRYPTO - (size_t)off;
    if (quic_crypto_reserve(q, (size_t)off + n) != KSD_OK)
        return;
    uint8_t *have = q->crypto + q->cap;
    memcpy(q->crypto + off, d, n);
    /* mark [off, off + n): partial bytes bit by bit, whole bytes at once */
    size_t i = (size_t)off, end = (size_t)off + n;
    for (; i < end && (i & 7); i++)
        have[i >> 3] |= (uint8_t)(1u << (i & 7));
    if (end - i >= 8) {
        memset(have + (i >> 3), 0xff, (end - i) >> 3);
        i += (end - i) & ~(size_t)7;
    }
    for (; i < end; i++)
        have[i >> 3] |= (uint8_t)(1u << (i & 7));
    /* advance the contiguous prefix, a whole byte of the bitmap at a time */
    while (q->contig < q->cap) {
        if (!(q->contig & 7) && have[q->contig >> 3] == 0xff)
            q->contig += 8;
        else if (quic_covered(q, q->contig))
            q->contig++;
        else
            break;
    }
}

/* gQUIC frame type (one byte) to the IETF type with the same layout; other
 * gQUIC frames (ACK 0x40-0x7f, STREAM 0x80-0xff, ...) end the walk. */
static uint64_t quic_gquic_type(uint8_t t)
{
    switch (t) {
        case QUIC_FRAME_PADDING:
            return QUIC_FRAME_PADDING;
        case QUIC_GQUIC_FRAME_PING:
            return QUIC_FRAME_PING;
        case QUIC_GQUIC_FRAME_CRYPTO:
            return QUIC_FRAME_CRYPTO;
        default:
            return UINT64_MAX;
    }
}

/* Walk the frames of one opened Initial. KSD_OK, or KSD_EINVAL / KSD_ELIMIT
 * at the first frame that is malformed or not allowed in an Initial (CRYPTO
 * data before it is kept). */
static int quic_frames(struct ksd_quic *q, struct ksd_rd *r, int gquic)
{
    for (unsigned nf = 0; rd_left(r) > 0; nf++) {
        uint64_t type, count, len, off;

        if (nf >= KSD_QUIC_MAX_FRAMES)
            return KSD_ELIMIT;
        type = gquic ? quic_gquic_type(rd_u8(r)) : quic_varint(r);
        switch (type) {
            case QUIC_FRAME_PADDING: {
                /* a run of PADDING counts as one frame */
                uint8_t b;
                for (size_t left = rd_left(r); left > 0 && rd_peek_ok(r, 0, &b) && b == 0; left--)
                    rd_skip(r, 1);
                break;
            }
            case QUIC_FRAME_PING:
                break;
            case QUIC_FRAME_ACK:
            case QUIC_FRAME_ACK_ECN:
                quic_varint(r);         /* Largest Acknowledged */
                quic_varint(r);         /* ACK Delay */
                count = quic_varint(r); /* ACK Range Count */
                quic_varint(r);         /* First ACK Range */
                if (count > KSD_QUIC_MAX_ACK_RANGES)
                    return KSD_ELIMIT;
                for (uint64_t i = 0; i < count; i++) {
                    quic_varint(r); /* Gap */
                    quic_varint(r); /* ACK Range Length */
                }
                if (type == QUIC_FRAME_ACK_ECN) {
                    quic_varint(r); /* ECT0 */
                    quic_varint(r); /* ECT1 */
                    quic_varint(r); /* ECN-CE */
                }
                break;
            case QUIC_FRAME_CRYPTO: {
                const uint8_t *d;
                off = quic_varint(r);
                len = quic_varint(r);
                if (rd_err(r) || len > rd_left(r))
                    return KSD_EINVAL;
                d = rd_bytes(r, (size_t)len);
                if (d)
                    quic_crypto_add(q, off, d, (size_t)len);
                break;
            }
            case QUIC_FRAME_CLOSE:
            case QUIC_FRAME_CLOSE_APP:
                quic_varint(r); /* Error Code */
                if (type == QUIC_FRAME_CLOSE)
                    quic_varint(r); /* Frame Type */
                len = quic_varint(r);
                if (rd_err(r) || len > rd_left(r))
                    return KSD_EINVAL;
                rd_skip(r, (size_t)len);
                break;
            default:
                return KSD_EINVAL;
        }
        if (rd_err(r))
            return KSD_EINVAL;
    }
    return KSD_OK;
}

/* ------------------------------------------------------------------------ */
/* Per-flow state and the feed                                               */
/* ------------------------------------------------------------------------ */

struct ksd_quic *ksd_quic_new(void)
{
    return calloc(1, sizeof(struct ksd_quic));
}

void ksd_quic_free(struct ksd_quic *q)
{
    if (!q)
        return;
    OPENSSL_cleanse(&q->keys, sizeof(q->keys));
    free(q->crypto);
    free(q);
}

size_t ksd_quic_mem(const struct ksd_quic *q)
{
    return q ? sizeof(*q) + q->cap + q->cap / 8 : 0;
}

size_t ksd_quic_crypto_prefix(const struct ksd_quic *q, const uint8_t **p)
{
    if (!q) {
        if (p)
            *p = NULL;
        return 0;
    }
    if (p)
        *p = q->crypto;
    return q->contig;
}

static int quic_same_keys(const struct ksd_quic *q, const struct quic_family *fam,
                          const struct quic_pkt *pkt)
{
    return q->have_keys && q->fam == fam && q->dcid_len == pkt->dcid_len &&
           memcmp(q->dcid, pkt->dcid, pkt->dcid_len) == 0;
}

/* Open one Initial (kept keys first, then keys from its own DCID) and take
 * its CRYPTO frames. KSD_OK when it opened, KSD_EINVAL when it did not,
 * KSD_ENOMEM. */
static int quic_initial(struct ksd_quic *q, const struct quic_pkt *pkt)
{
    const struct quic_family *cand[2] = {pkt->fam, pkt->alt};
    struct ksd_quic_keys fresh;
    const uint8_t *pay = NULL;
    size_t pay_len = 0;
    uint8_t local[1536]; /* an Initial in an Ethernet frame fits; a jumbo one is allocated */
    uint8_t *buf = local;
    int rc = KSD_EINVAL;

    if (pkt->len - pkt->pn_off < QUIC_PN_MAX_LEN + QUIC_SAMPLE_LEN)
        return KSD_EINVAL;
    if (pkt->len > sizeof(local) && !(buf = malloc(pkt->len)))
        return KSD_ENOMEM;
    if (q->have_keys && (q->fam == cand[0] || q->fam == cand[1])) {
        rc = quic_open(&q->keys, pkt, buf, &pay, &pay_len);
        if (rc == KSD_ENOMEM)
            goto out;
    }
    for (size_t i = 0; i < KSD_ARRAY_LEN(cand) && rc != KSD_OK; i++) {
        if (!cand[i] || quic_same_keys(q, cand[i], pkt))
            continue;
        rc = quic_derive(cand[i], pkt->dcid, pkt->dcid_len, 0, &fresh);
        if (rc != KSD_OK)
            goto out;
        rc = quic_open(&fresh, pkt, buf, &pay, &pay_len);
        if (rc == KSD_OK) {
            if (q->have_keys) /* Retry or a new attempt: the CRYPTO stream restarts */
                quic_crypto_reset(q);
            q->keys = fresh;
            q->fam = cand[i];
            memcpy(q->dcid, pkt->dcid, pkt->dcid_len);
            q->dcid_len = pkt->dcid_len;
            q->have_keys = 1;
        }
        OPENSSL_cleanse(&fresh, sizeof(fresh));
        if (rc == KSD_ENOMEM)
            goto out;
    }
    if (rc == KSD_OK) {
        struct ksd_rd fr = rd_make(pay, pay_len);
        (void)quic_frames(q, &fr, q->fam->gquic); /* a bad frame ends the packet only */
    }
out:
    if (buf != local)
        free(buf);
    return rc;
}

/* Parse the ClientHello once its bytes are all present. */
static int quic_try_hello(struct ksd_quic *q, struct ksd_tls_hello *out)
{
    struct ksd_rd r = rd_make(q->crypto, q->contig);
    uint8_t type;
    size_t need;
    int rc;

    if (q->contig < 4)
        return KSD_EAGAIN;
    type = rd_u8(&r);
    need = 4 + (size_t)rd_be24(&r);
    if (type != QUIC_TLS_CLIENT_HELLO) {
        q->state = QUIC_FINISHED;
        return KSD_EINVAL;
    }
    if (need > KSD_QUIC_MAX_CRYPTO) {
        q->state = QUIC_FINISHED;
        return KSD_ELIMIT;
    }
    if (q->contig < need)
        return KSD_EAGAIN;
    q->state = QUIC_FINISHED;
    rc = ksd_tls_parse_hello(q->crypto, need, 'q', out);
    return rc == KSD_OK ? KSD_OK : KSD_EINVAL;
}

int ksd_quic_feed(struct ksd_quic *q, const uint8_t *p, size_t len, struct ksd_tls_hello *out)
{
    struct ksd_rd r = rd_make(p, len);
    int opened = 0;

    if (!q || !out)
        return KSD_EINVAL;
    if (q->state != QUIC_COLLECTING)
        return KSD_ENOTSUP;
    for (unsigned n = 0; n < KSD_QUIC_MAX_COALESCED && rd_left(&r) > 0; n++) {
        struct quic_pkt pkt;
        int rc = quic_next_packet(&r, &pkt);

        if (rc == KSD_ENOTSUP && n == 0)
            return KSD_ENOTSUP;
        if (rc != KSD_OK)
            break;
        if (!pkt.initial)
            continue;
        if (q->tried >= KSD_QUIC_MAX_PACKETS) {
            q->state = QUIC_FINISHED;
            return KSD_ELIMIT;
        }
        q->tried++;
        rc = quic_initial(q, &pkt);
        if (rc == KSD_ENOMEM)
            return rc;
        if (rc == KSD_OK)
            opened = 1;
    }
    if (!opened)
        return KSD_EINVAL;
    return quic_try_hello(q, out);
}
