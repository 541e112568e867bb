/*
 * crypto.c - algorithm handles fetched once (see crypto.h) and HMAC-SHA-256
 * built from two digests (RFC 2104), which avoids creating an EVP_MAC
 * context per call.
 */
#include "dissectors/crypto.h"

#include <pthread.h>
#include <string.h>

#include "dissectors/ksd.h"

struct handles {
    EVP_MD *md5;
    EVP_MD *sha256;
    EVP_CIPHER *ecb;
    EVP_CIPHER *gcm;
};

/* Written once under pthread_once, read-only afterwards. */
static struct handles h;
static pthread_once_t h_once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
    h.md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    h.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    h.ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    h.gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
}

static const struct handles *get(void)
{
    pthread_once(&h_once, fetch_all);
    return &h;
}

const EVP_MD *ksd_crypto_md5(void)
{
    return get()->md5 ? get()->md5 : EVP_md5();
}

const EVP_MD *ksd_crypto_sha256(void)
{
    return get()->sha256 ? get()->sha256 : EVP_sha256();
}

const EVP_CIPHER *ksd_crypto_aes128_ecb(void)
{
    return get()->ecb ? get()->ecb : EVP_aes_128_ecb();
}

const EVP_CIPHER *ksd_crypto_aes128_gcm(void)
{
    return get()->gcm ? get()->gcm : EVP_aes_128_gcm();
}

int ksd_crypto_hmac_sha256(EVP_MD_CTX *ctx, const uint8_t *key, size_t key_len, const uint8_t *d,
                           size_t d_len, uint8_t out[32])
{
    enum { BLOCK = 64, SHORT = 64 };
    /* a pad and a short message hashed in one update: most callers (HKDF
     * labels, QUIC connection ids) pass a few dozen bytes */
    uint8_t k0[BLOCK], buf[BLOCK + SHORT];
    unsigned int n = 0;
    const EVP_MD *md = ksd_crypto_sha256();
    memset(k0, 0, sizeof(k0));
    if (key_len > BLOCK) {
        if (EVP_Digest(key, key_len, k0, &n, md, NULL) != 1)
            return KSD_ENOMEM;
    } else if (key_len) {
        memcpy(k0, key, key_len);
    }
    for (int i = 0; i < BLOCK; i++)
        buf[i] = k0[i] ^ 0x36;
    int one = d_len <= SHORT;
    if (one && d_len)
        memcpy(buf + BLOCK, d, d_len);
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, buf, one ? BLOCK + d_len : BLOCK) != 1 ||
        (!one && EVP_DigestUpdate(ctx, d, d_len) != 1) ||
        EVP_DigestFinal_ex(ctx, buf + BLOCK, &n) != 1)
        return KSD_ENOMEM;
    for (int i = 0; i < BLOCK; i++)
        buf[i] = k0[i] ^ 0x5c;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, buf, BLOCK + 32) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1)
        return KSD_ENOMEM;
    return KSD_OK;
}
