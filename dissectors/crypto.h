/*
 * crypto.h - the few OpenSSL algorithms the dissectors use (MD5 and SHA-256
 * for JA3/JA4, HMAC-SHA-256, AES-128-ECB and AES-128-GCM for QUIC Initials),
 * fetched from the provider once per process instead of by name on every
 * call: OpenSSL 3's implicit fetch takes a lock and a table lookup per
 * EVP_Digest/EVP_*Init, which showed as a fifth of ksd's CPU time in the
 * benchmark. The fetched handles are immutable after the first call
 * (pthread_once), so they are shared safely by every worker.
 */
#ifndef KSD_CRYPTO_H
#define KSD_CRYPTO_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

const EVP_MD *ksd_crypto_md5(void);
const EVP_MD *ksd_crypto_sha256(void);
const EVP_CIPHER *ksd_crypto_aes128_ecb(void);
const EVP_CIPHER *ksd_crypto_aes128_gcm(void);

/* HMAC-SHA-256 (RFC 2104) of (d, d_len) under key, computed in the
 * caller's digest context (EVP_MD_CTX_new; reused for several HMACs in a
 * row, as HKDF does, instead of one made and freed per call). Returns 0 or
 * KSD_ENOMEM. */
int ksd_crypto_hmac_sha256(EVP_MD_CTX *ctx, const uint8_t *key, size_t key_len, const uint8_t *d,
                           size_t d_len, uint8_t out[32]);

#endif
