/*
 * socks.c - SOCKS client requests (socks.h).
 *
 * specification: SOCKS4 and SOCKS4a (the NEC/Koblas protocol notes), RFC 1928
 * (SOCKS5), RFC 1929 (username/password). Only the client's bytes are read:
 * the server's choice of method is not needed, because a client that offers
 * only method 0x02 must send the RFC 1929 sub-negotiation (version 0x01)
 * before its request, and that is recognised by its first byte.
 *
 *   SOCKS4:  VN=4 CD PORT(2) IP(4) USERID... NUL [DOMAIN... NUL if IP=0.0.0.x]
 *   SOCKS5:  VER=5 NMETHODS METHODS...  [01 ULEN USER PLEN PASS]
 *            VER=5 CMD RSV=0 ATYP ADDR PORT(2)
 */
#include "dissectors/socks.h"

#include <stdio.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/rd.h"

int ksd_socks_probe(const uint8_t *p, size_t len)
{
    struct ksd_rd r = rd_make(p, len);
    uint8_t v = rd_u8(&r);
    if (rd_err(&r))
        return 0;
    if (v == 4) {
        uint8_t cd = rd_u8(&r);
        return !rd_err(&r) && (cd == 1 || cd == 2);
    }
    if (v == 5) {
        uint8_t n = rd_u8(&r);
        if (rd_err(&r) || n == 0 || n > 16)
            return 0;
        /* methods are 0x00..0x09 or private 0x80..0xfe */
        for (uint8_t i = 0; i < n && rd_left(&r); i++) {
            uint8_t m = rd_u8(&r);
            if (m > 0x09 && m < 0x80)
                return 0;
        }
        return 1;
    }
    return 0;
}

/* A NUL-terminated string of at most KSD_SOCKS_MAX_FIELD bytes; copied (lower-cased) into out
 * when out is not NULL. Returns KSD_OK, KSD_EAGAIN or KSD_EINVAL. */
static int read_cstr(struct ksd_rd *r, char *out, size_t outlen)
{
    size_t n = 0;
    for (;;) {
        if (!rd_has(r, 1))
            return KSD_EAGAIN;
        uint8_t c = rd_u8(r);
        if (c == 0)
            break;
        if (n >= KSD_SOCKS_MAX_FIELD)
            return KSD_EINVAL;
        if (out) {
            if (!ksd_is_print(c))
                return KSD_EINVAL;
            if (n + 1 < outlen)
                out[n] = (char)ksd_ascii_lower(c);
        }
        n++;
    }
    if (out)
        out[n < outlen ? n : outlen - 1] = '\0';
    return KSD_OK;
}

static int parse4(struct ksd_rd *r, struct ksd_socks_req *out)
{
    out->version = 4;
    out->command = rd_u8(r);
    out->port = rd_be16(r);
    const uint8_t *ip = rd_bytes(r, 4);
    if (rd_err(r))
        return KSD_EAGAIN;
    if (out->command != 1 && out->command != 2)
        return KSD_EINVAL;
    int rc = read_cstr(r, NULL, 0);
    if (rc)
        return rc;
    if (ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0) {
        out->is_name = 1;
        return read_cstr(r, out->target, sizeof(out->target));
    }
    snprintf(out->target, sizeof(out->target), "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
    return KSD_OK;
}

static int parse5(struct ksd_rd *r, struct ksd_socks_req *out)
{
    out->version = 5;
    uint8_t n = rd_u8(r);
    rd_skip(r, n);
    if (rd_err(r))
        return KSD_EAGAIN;
    if (n == 0)
        return KSD_EINVAL;
    uint8_t b;
    if (!rd_peek_ok(r, 0, &b))
        return KSD_EAGAIN;
    if (b == 0x01) { /* RFC 1929 sub-negotiation */
        rd_skip(r, 1);
        uint8_t ul = rd_u8(r);
        rd_skip(r, ul);
        uint8_t pl = rd_u8(r);
        rd_skip(r, pl);
        if (rd_err(r))
            return KSD_EAGAIN;
    }
    uint8_t ver = rd_u8(r);
    out->command = rd_u8(r);
    uint8_t rsv = rd_u8(r);
    uint8_t atyp = rd_u8(r);
    if (rd_err(r))
        return KSD_EAGAIN;
    if (ver != 5 || rsv != 0 || out->command < 1 || out->command > 3)
        return KSD_EINVAL;
    if (atyp == 1) {
        const uint8_t *a = rd_bytes(r, 4);
        if (!a)
            return KSD_EAGAIN;
        snprintf(out->target, sizeof(out->target), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    } else if (atyp == 3) {
        uint8_t l = rd_u8(r);
        const uint8_t *d = rd_bytes(r, l);
        if (!d)
            return KSD_EAGAIN;
        if (l == 0)
            return KSD_EINVAL;
        for (size_t i = 0; i < l; i++) {
            if (!ksd_is_print(d[i]))
                return KSD_EINVAL;
            out->target[i] = (char)ksd_ascii_lower(d[i]);
        }
        out->target[l] = '\0';
        out->is_name = 1;
    } else if (atyp == 4) {
        const uint8_t *a = rd_bytes(r, 16);
        if (!a)
            return KSD_EAGAIN;
        size_t o = 0;
        o += (size_t)snprintf(out->target, sizeof(out->target), "[");
        for (int i = 0; i < 16; i += 2)
            o += (size_t)snprintf(out->target + o, sizeof(out->target) - o, "%s%x", i ? ":" : "",
                                  (unsigned)((a[i] << 8) | a[i + 1]));
        snprintf(out->target + o, sizeof(out->target) - o, "]");
    } else {
        return KSD_EINVAL;
    }
    out->port = rd_be16(r);
    return rd_err(r) ? KSD_EAGAIN : KSD_OK;
}

int ksd_socks_parse_client(const uint8_t *p, size_t len, struct ksd_socks_req *out,
                           size_t *consumed)
{
    struct ksd_rd r = rd_make(p, len);
    memset(out, 0, sizeof(*out));
    *consumed = 0;
    uint8_t v = rd_u8(&r);
    if (rd_err(&r))
        return KSD_EAGAIN;
    int rc = v == 4 ? parse4(&r, out) : v == 5 ? parse5(&r, out) : KSD_EINVAL;
    if (rc == KSD_OK)
        *consumed = rd_off(&r);
    return rc;
}
