/*
 * fuzz_quic.c - libFuzzer harness for dissectors/quic.c.
 *
 * Input: one mode byte, then datagrams, each as a 2-byte big-endian length
 * and that many bytes (the last one takes what is left). All datagrams go
 * to one per-flow state, so reassembly across packets is exercised.
 *
 * Mode bit 0 clear: datagrams are fed as they are (header walk, version
 * table, header protection and AEAD rejection paths; ksd_quic_probe too).
 * Mode bit 0 set: each datagram is the PLAINTEXT payload of a client
 * Initial that the harness seals with the real Initial keys (version from
 * mode bits 1-3, DCID from mode bits 4-5), so the frame walk, the CRYPTO
 * reassembly and ksd_tls_parse_hello see fuzzer-chosen bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "dissectors/ksd.h"
#include "dissectors/quic.h"
#include "dissectors/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_DGRAMS  16
#define FUZZ_MAX_PAYLOAD 4000

static const uint32_t fuzz_versions[8] = {
    0x00000001, 0x6b3343cf, 0xff00001d, 0xff00001b, 0xfaceb002, 0x54303531, 0x0a1a2a3a, 0xfaceb001,
};

/* Seal `pay` into a client Initial in `out` (at least FUZZ_MAX_PAYLOAD + 64
 * bytes). Returns the packet length, 0 on a libcrypto failure. */
static size_t fuzz_seal(uint32_t version, const uint8_t *dcid, size_t dcid_len, uint32_t pn,
                        const uint8_t *pay, size_t pay_len, uint8_t *out)
{
    struct ksd_quic_keys k;
    uint8_t nonce[12], mask[16], tag[16];
    size_t n = 0, pn_off, hdr_len, body;
    int outl = 0, ok;
    int v2 = version == 0x6b3343cf;
    EVP_CIPHER_CTX *ctx;

    if (ksd_quic_initial_keys(version, dcid, dcid_len, 0, &k) != KSD_OK)
        return 0;
    body = 4 + pay_len + 16;
    out[n++] = (uint8_t)(0xc3 | (v2 ? 0x10 : 0x00));
    for (int i = 3; i >= 0; i--)
        out[n++] = (uint8_t)(version >> (8 * i));
    out[n++] = (uint8_t)dcid_len;
    memcpy(out + n, dcid, dcid_len);
    n += dcid_len;
    out[n++] = 0; /* SCID length */
    out[n++] = 0; /* token length */
    out[n++] = (uint8_t)(0x40 | (body >> 8));
    out[n++] = (uint8_t)body;
    pn_off = n;
    for (int i = 3; i >= 0; i--)
        out[n++] = (uint8_t)(pn >> (8 * i));
    hdr_len = n;
    memcpy(nonce, k.iv, sizeof(nonce));
    for (int i = 0; i < 4; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));

    ctx = EVP_CIPHER_CTX_new();
    ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, k.key, nonce) == 1 &&
         EVP_EncryptUpdate(ctx, NULL, &outl, out, (int)hdr_len) == 1 &&
         EVP_EncryptUpdate(ctx, out + n, &outl, pay, (int)pay_len) == 1 &&
         EVP_EncryptFinal_ex(ctx, out + n + pay_len, &outl) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return 0;
    n += pay_len;
    memcpy(out + n, tag, 16);
    n += 16;

    ctx = EVP_CIPHER_CTX_new();
    ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k.hp, NULL) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
         EVP_EncryptUpdate(ctx, mask, &outl, out + pn_off + 4, 16) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return 0;
    out[0] ^= mask[0] & 0x0f;
    for (int i = 0; i < 4; i++)
        out[pn_off + (size_t)i] ^= mask[1 + i];
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t dcids[4][20] = {
        {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08},
        {0x01},
        {0},
        {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    };
    static const size_t dcid_lens[4] = {8, 1, 0, 20};
    static uint8_t sealed[FUZZ_MAX_PAYLOAD + 64];
    static uint8_t padded[FUZZ_MAX_PAYLOAD];
    struct ksd_tls_hello h;
    struct ksd_quic *q;
    uint8_t mode;

    if (size < 1)
        return 0;
    mode = data[0];
    data++;
    size--;
    q = ksd_quic_new();
    if (!q)
        return 0;
    for (unsigned i = 0; i < FUZZ_MAX_DGRAMS && size > 0; i++) {
        size_t n = size;
        if (size >= 2) {
            size_t want = ((size_t)data[0] << 8) | data[1];
            data += 2;
            size -= 2;
            n = want < size ? want : size;
        } else {
            data += size;
            size = 0;
            n = 0;
        }
        const uint8_t *d = data;
        data += n;
        size -= n;
        if (mode & 1) {
            size_t m = n > FUZZ_MAX_PAYLOAD ? FUZZ_MAX_PAYLOAD : n;
            size_t pl = m < 16 ? 16 : m; /* room for the header protection sample */
            memset(padded, 0, pl);
            memcpy(padded, d, m);
            size_t len = fuzz_seal(fuzz_versions[(mode >> 1) & 7], dcids[(mode >> 4) & 3],
                                   dcid_lens[(mode >> 4) & 3], i, padded, pl, sealed);
            if (len && ksd_quic_feed(q, sealed, len, &h) == KSD_OK)
                (void)ksd_tls_hello_ja(&h);
        } else {
            (void)ksd_quic_probe(d, n);
            if (ksd_quic_feed(q, d, n, &h) == KSD_OK)
                (void)ksd_tls_hello_ja(&h);
        }
    }
    const uint8_t *prefix;
    size_t plen = ksd_quic_crypto_prefix(q, &prefix);
    if (plen > KSD_QUIC_MAX_CRYPTO)
        __builtin_trap();
    ksd_quic_free(q);
    return 0;
}
