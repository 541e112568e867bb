/*
 * tls.h - TLS handshake dissector: ClientHello (SNI, ALPN, versions, JA3,
 * JA4), ServerHello (JA3S) and, for TLS <= 1.2, the server certificate.
 *
 * Pure functions over (bytes, len): no I/O, no globals, no allocation kept
 * past a call. Strings in the output structs are copies, NUL-terminated.
 */
#ifndef KSD_TLS_H
#define KSD_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "dissectors/ja.h"

#define KSD_TLS_MAX_HELLO       65536 /* handshake message bytes ksd reassembles (64 KiB) */
#define KSD_TLS_NAME_MAX        256   /* SNI / certificate name buffer, with NUL */
#define KSD_TLS_MAX_SANS        16    /* DNS SANs kept from a certificate */
#define KSD_TLS_MAX_RECORDS     16384 /* TLS records walked per stream call */
#define KSD_TLS_MAX_MSGS        64    /* handshake messages walked per stream call */
#define KSD_TLS_MAX_SNI_ENTRIES 64    /* server_name_list entries read */
#define KSD_TLS_SERIAL_MAX      65    /* certificate serial as hex, with NUL */

/* Why a ClientHello gave no SNI (also used by the sensor for flows). */
enum ksd_tls_nosni {
    KSD_TLS_NOSNI_NONE = 0,  /* there is an SNI */
    KSD_TLS_NOSNI_ABSENT,    /* ClientHello without server_name extension */
    KSD_TLS_NOSNI_ECH,       /* only an outer SNI / ESNI / ECH present */
    KSD_TLS_NOSNI_TRUNCATED, /* ClientHello cut short */
    KSD_TLS_NOSNI_MALFORMED, /* a length inside the ClientHello overran its extension */
};

struct ksd_tls_hello {
    char transport;             /* 't' TLS over TCP, 'q' QUIC (first JA4 character) */
    uint16_t legacy_version;    /* client_version field */
    uint16_t max_version;       /* highest non-GREASE supported_versions value, else legacy */
    uint8_t has_sni_ext;        /* server_name extension present (JA4 'd') */
    char sni[KSD_TLS_NAME_MAX]; /* host_name, lower-cased, "" when none */
    uint8_t ech;                /* encrypted_client_hello (0xfe0d) present: sni is the outer name */
    uint8_t esni;               /* draft encrypted_server_name (0xffce) present */
    char alpn[64];              /* first ALPN protocol, printable bytes only, "" when none */
    uint8_t ja_ok;              /* JA3/JA4 defined (extension block parsed): see ksd_tls_hello_ja */
    uint8_t has_ja;             /* ja3/ja4 below are computed (by ksd_tls_hello_ja) */
    char ja3[33];               /* md5 hex of the JA3 string */
    char ja4[40];               /* FoxIO JA4 a_b_c */
    struct ksd_ja_hello ja_in;  /* what they are computed from (valid when ja_ok) */
    uint16_t n_ciphers;         /* cipher suites (GREASE included) */
    uint16_t n_exts;            /* extensions (GREASE included) */
    uint8_t nosni;              /* enum ksd_tls_nosni: why sni is "" (NONE when it is not) */
};

struct ksd_tls_server {
    uint16_t version;     /* negotiated version (supported_versions if present) */
    uint16_t cipher;      /* chosen cipher suite */
    char ja3s[33];        /* md5 hex of JA3S, by ksd_tls_server_ja3s */
    uint8_t ja3s_ok;      /* a ServerHello was parsed: JA3S is defined */
    uint16_t ja3s_legacy; /* its legacy_version */
    uint16_t ja3s_n_exts; /* its extension types, in order */
    uint16_t ja3s_exts[KSD_JA_MAX_EXTS];
    uint8_t has_cert;                  /* a Certificate message was parsed (TLS <= 1.2) */
    char serial[KSD_TLS_SERIAL_MAX];   /* first certificate's serial, lower-case hex */
    char subject[KSD_TLS_NAME_MAX];    /* subject DN as "C=RU, O=..., CN=..." */
    char issuer[KSD_TLS_NAME_MAX];     /* issuer DN, same format */
    char subject_cn[KSD_TLS_NAME_MAX]; /* subject CN, lower-cased */
    uint8_t n_sans;                    /* DNS SANs kept */
    char sans[KSD_TLS_MAX_SANS][KSD_TLS_NAME_MAX]; /* lower-cased */
};

/*
 * Parse one ClientHello handshake message: `msg` starts at the handshake
 * header (type 1, 24-bit length) and holds the whole message. `transport`
 * is 't' or 'q'. Returns KSD_OK, KSD_ETRUNC, KSD_EINVAL.
 *
 * KSD_OK with ja_ok == 0: the extension block does not parse (an extension
 * runs past it) or holds more values than ksd keeps; sni/alpn are what was
 * read before that point. KSD_ETRUNC: len is shorter than the message; the
 * prefix is parsed as far as it goes (sni may be set, ja_ok is 0, nosni is
 * KSD_TLS_NOSNI_TRUNCATED when no name was reached). KSD_EINVAL: not a
 * ClientHello, or a list inside it runs past the message; when a length
 * inside an extension (the server_name list, an entry of it, ALPN, groups,
 * ...) overruns the extension, or the extension block the message, out is
 * cleared (no name) with nosni KSD_TLS_NOSNI_MALFORMED. No length is ever
 * clamped: a server would reject such a hello, so it is no evidence.
 */
int ksd_tls_parse_hello(const uint8_t *msg, size_t len, char transport, struct ksd_tls_hello *out);

/*
 * JA3 and JA4 of a parsed ClientHello, computed on first call (the parsers
 * only keep the lists, so a sensor that needs no fingerprint for a hello pays
 * nothing for them). Returns has_ja: 1 with ja3/ja4 filled, 0 when the hello
 * has none (ja_ok == 0: extension block broken, lists over ksd's caps).
 */
int ksd_tls_hello_ja(struct ksd_tls_hello *h);

/*
 * Client side of a TCP stream: `p` holds the in-order bytes from the start of
 * the client's stream (or from where the capture picked it up). Walks TLS
 * records of type handshake, joins handshake fragments across records and
 * parses the first ClientHello found at or after `*consumed` (pass 0 first).
 * Returns KSD_OK (out filled, *consumed advanced past the records holding
 * that ClientHello, so a second call finds a later ClientHello, as after a
 * HelloRetryRequest), KSD_EAGAIN (more bytes needed), KSD_EINVAL (not TLS),
 * KSD_ETRUNC (a ClientHello larger than KSD_TLS_MAX_HELLO).
 *
 * Also KSD_ENOTSUP: no (further) ClientHello can come on this stream - an
 * SSLv2-format ClientHello (never fingerprinted), or the client moved on to
 * other handshake messages, application data or an SSLv2 record. On
 * KSD_ETRUNC, out holds what the first KSD_TLS_MAX_HELLO bytes gave (sni may
 * be set, ja_ok is 0) and *consumed is unchanged. Handshake bytes that
 * share the last record of a ClientHello are skipped with that record.
 */
int ksd_tls_client_stream(const uint8_t *p, size_t len, size_t *consumed,
                          struct ksd_tls_hello *out);

/*
 * Server side: ServerHello and, when the version is <= TLS 1.2, the
 * Certificate message (first certificate's subject, issuer, SANs). Returns
 * KSD_OK when the ServerHello (and the certificate, if it is to be expected)
 * were parsed, KSD_EAGAIN, KSD_EINVAL.
 *
 * KSD_OK with has_cert == 0: TLS 1.3 (or an unknown version), resumption
 * (ChangeCipherSpec right after the ServerHello), no Certificate message,
 * a first certificate larger than KSD_TLS_MAX_HELLO, or one that does not
 * parse. A HelloRetryRequest is skipped in favour of the ServerHello after
 * it. KSD_ELIMIT: more than KSD_TLS_MAX_MSGS messages or more ServerHello
 * extensions than ja.h keeps. `p` must start at a record boundary.
 */
int ksd_tls_server_stream(const uint8_t *p, size_t len, struct ksd_tls_server *out);

/* JA3S of the parsed ServerHello, computed on first call (as for
 * ksd_tls_hello_ja). Returns 1 with ja3s filled, 0 when there is none. */
int ksd_tls_server_ja3s(struct ksd_tls_server *s);

/* Quick probe: do these bytes start like a TLS handshake record? 1 yes, 0 no. */
int ksd_tls_probe(const uint8_t *p, size_t len);

#endif
