/*
 * ja.h - JA3, JA3S and JA4 fingerprint strings and hashes built from the
 * values a TLS dissector has already read out of a hello. No packet bytes
 * reach this module: the lists are plain host arrays owned by the caller.
 */
#ifndef KSD_JA_H
#define KSD_JA_H

#include <stddef.h>
#include <stdint.h>

#define KSD_JA_MAX_CIPHERS 512 /* cipher suites kept for fingerprinting */
#define KSD_JA_MAX_EXTS    256 /* extension types kept */
#define KSD_JA_MAX_GROUPS  256 /* supported_groups values kept */
#define KSD_JA_MAX_PFMTS   255 /* ec_point_formats values (a u8-length list) */
#define KSD_JA_MAX_SIGALGS 256 /* signature_algorithms values kept */
#define KSD_JA_MAX_ALPN    255 /* first ALPN name bytes (a u8-length string) */

/* Longest JA3 / JA4_r string the caps above allow, with the NUL. */
#define KSD_JA_STR_MAX                                                                             \
    (16 + 6 * (KSD_JA_MAX_CIPHERS + KSD_JA_MAX_EXTS + KSD_JA_MAX_GROUPS + KSD_JA_MAX_SIGALGS) +    \
     4 * KSD_JA_MAX_PFMTS)

/* Everything JA3 and JA4 read from a ClientHello; lists in wire order,
 * GREASE values included (the builders remove them). */
struct ksd_ja_hello {
    char transport;          /* 't' or 'q' */
    uint16_t legacy_version; /* client_version (JA3) */
    uint16_t max_version;    /* highest non-GREASE supported_versions value, else legacy_version */
    uint8_t has_sni_ext;     /* server_name extension present */
    uint16_t n_ciphers;      /* entries in ciphers */
    uint16_t ciphers[KSD_JA_MAX_CIPHERS]; /* cipher suites */
    uint16_t n_exts;                      /* entries in exts */
    uint16_t exts[KSD_JA_MAX_EXTS];       /* extension types */
    uint16_t n_groups;                    /* entries in groups */
    uint16_t groups[KSD_JA_MAX_GROUPS];   /* supported_groups (first such extension) */
    uint16_t n_pfmts;                     /* entries in pfmts */
    uint8_t pfmts[KSD_JA_MAX_PFMTS];      /* ec_point_formats (first such extension) */
    uint8_t has_sigalgs;                  /* signature_algorithms extension seen */
    uint16_t n_sigalgs;                   /* entries in sigalgs */
    uint16_t sigalgs[KSD_JA_MAX_SIGALGS]; /* signature_algorithms (first such extension) */
    uint16_t alpn_len;                    /* bytes in alpn, 0 when none */
    uint8_t alpn[KSD_JA_MAX_ALPN];        /* first ALPN protocol name */
};

/* 1 for the 16 reserved GREASE values 0x0a0a, 0x1a1a, ... 0xfafa (RFC 8701). */
int ksd_ja_is_grease(uint16_t v);

/* JA3 string "Version,Ciphers,Extensions,Groups,PointFormats" into buf
 * (cap bytes, NUL-terminated). KSD_OK or KSD_ELIMIT when cap is too small. */
int ksd_ja_ja3_string(const struct ksd_ja_hello *h, char *buf, size_t cap);

/* JA3 as 32 lower-case hex digits of the MD5 of the JA3 string. KSD_OK,
 * KSD_ENOMEM when libcrypto fails. */
int ksd_ja_ja3(const struct ksd_ja_hello *h, char out[33]);

/* FoxIO JA4 "a_b_c" (36 characters). KSD_OK or KSD_ENOMEM. */
int ksd_ja_ja4(const struct ksd_ja_hello *h, char out[40]);

/* FoxIO JA4_r: "a_<sorted ciphers>_<sorted extensions>[_<signature algorithms>]".
 * KSD_OK or KSD_ELIMIT when cap is too small. */
int ksd_ja_ja4_raw(const struct ksd_ja_hello *h, char *buf, size_t cap);

/* JA3S: MD5 of "Version,Cipher,Extensions" (extensions in wire order). */
int ksd_ja_ja3s(uint16_t version, uint16_t cipher, const uint16_t *exts, size_t n_exts,
                char out[33]);

#endif
