/*
 * socks.h - the client side of a SOCKS4, SOCKS4a or SOCKS5 (RFC 1928, with
 * RFC 1929 username/password sub-negotiation) connection request: the target
 * the client asks the proxy to reach. After it, the stream carries the
 * tunnelled protocol (often a TLS ClientHello).
 */
#ifndef KSD_SOCKS_H
#define KSD_SOCKS_H

#include <stddef.h>
#include <stdint.h>

#define KSD_SOCKS_MAX_FIELD 255 /* user id / domain bytes (SOCKS4 strings are NUL-terminated) */

struct ksd_socks_req {
    uint8_t version;  /* 4 or 5 */
    uint8_t command;  /* 1 CONNECT, 2 BIND, 3 UDP ASSOCIATE */
    uint8_t is_name;  /* target is a domain name (SOCKS4a, SOCKS5 atyp 3) */
    char target[256]; /* lower-cased domain name, or the address in text form */
    uint16_t port;    /* target port */
};

/*
 * Parse the client bytes from the start of the stream: greeting (SOCKS5),
 * optional username/password sub-negotiation, request. Returns KSD_OK with
 * *consumed = bytes of the SOCKS exchange, KSD_EAGAIN when more bytes are
 * needed, KSD_EINVAL when the bytes are not a SOCKS request.
 */
int ksd_socks_parse_client(const uint8_t *p, size_t len, struct ksd_socks_req *out,
                           size_t *consumed);

/* 1 when p may start a SOCKS4/5 client greeting (a cheap, strict probe). */
int ksd_socks_probe(const uint8_t *p, size_t len);

#endif
