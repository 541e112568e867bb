/*
 * tls.c - TLS handshake dissector: the client's ClientHello (server name,
 * ALPN, supported versions, ECH/ESNI flags, JA3 and JA4 through ja.c), the
 * server's ServerHello (JA3S) and, for TLS 1.2 and older, the first
 * certificate of the server's Certificate message (through x509.c).
 *
 * Follows RFC 8446 section 4.1.2 (ClientHello), 4.1.3 (ServerHello,
 * HelloRetryRequest), 4.2 (extension framing), 5.1 (record layer, handshake
 * messages fragmented over several records); RFC 5246 section 7.4.2
 * (Certificate); RFC 6066 section 3 (server_name), RFC 7301 (ALPN), RFC 8701
 * (GREASE), draft-ietf-tls-esni (0xffce ESNI, 0xfe0d ECH).
 *
 * The stream functions are stateless: the caller hands in the in-order bytes
 * of one direction from its start and calls again when more have arrived.
 * Handshake fragments are joined in a bounded stack buffer of
 * KSD_TLS_MAX_HELLO bytes. Record layout (RFC 8446 section 5.1):
 *
 *   +------+---------+---------+------------------------+
 *   | type | version | length  | fragment (length bytes) |
 *   | 1    | 2       | 2       |                         |
 *   +------+---------+---------+------------------------+
 *
 * Not done here: decryption, TLS 1.3 certificates (encrypted), DTLS,
 * renegotiation, SSLv2-format hellos (recognised, never fingerprinted),
 * finding TLS after a proxy preamble (the caller passes the offset).
 */
#include <string.h>

#include "dissectors/ja.h"
#include "dissectors/ksd.h"
#include "dissectors/rd.h"
#include "dissectors/tls.h"
#include "dissectors/x509.h"

#define TLS_REC_CCS         20
#define TLS_REC_ALERT       21
#define TLS_REC_HANDSHAKE   22
#define TLS_REC_APPDATA     23
#define TLS_REC_HEARTBEAT   24
#define TLS_REC_HDR         5
#define TLS_REC_MAX         (16384 + 2048) /* TLSCiphertext limit, RFC 5246 6.2.3 */
#define TLS_HS_HDR          4
#define TLS_HS_CLIENT_HELLO 1
#define TLS_HS_SERVER_HELLO 2
#define TLS_HS_CERTIFICATE  11

#define TLS_EXT_SERVER_NAME   0x0000
#define TLS_EXT_GROUPS        0x000a
#define TLS_EXT_POINT_FORMATS 0x000b
#define TLS_EXT_SIG_ALGS      0x000d
#define TLS_EXT_ALPN          0x0010
#define TLS_EXT_VERSIONS      0x002b
#define TLS_EXT_ECH           0xfe0d
#define TLS_EXT_ESNI          0xffce

_Static_assert(KSD_X509_NAME_MAX == KSD_TLS_NAME_MAX, "name buffers differ");
_Static_assert(KSD_X509_MAX_SANS == KSD_TLS_MAX_SANS, "SAN arrays differ");
_Static_assert(KSD_X509_SERIAL_MAX == KSD_TLS_SERIAL_MAX, "serial buffers differ");

/* What the ClientHello walk collects besides the public struct. */
struct hello_state {
    struct ksd_ja_hello *ja; /* fingerprint inputs: the hello's ja_in */
    int over_cap;            /* a list held more values than ja.h keeps */
    int ext_broken;          /* the extension block did not parse */
    int have_versions;       /* a non-GREASE supported_versions value was seen */
    int have_sigalgs;        /* signature_algorithms already taken */
    int have_alpn;           /* ALPN already taken */
    int malformed;           /* a length inside an extension overran it: no evidence */
};

/* A reader over the next `n` bytes of an extension. A declared length that
 * overruns what is left sets *bad (a server answers decode_error, RFC 8446
 * section 6.2) and gives an empty reader: never clamped, so no value is
 * read out of a list that does not fit. For ALPN, groups, versions and the
 * like *bad is ext_broken (no JA3/JA4, as the oracle); the server_name list
 * is checked in ext_server_name and makes the whole hello malformed. */
static struct ksd_rd sub_strict(struct ksd_rd *r, size_t n, int *malformed)
{
    if (n > rd_left(r)) {
        *malformed = 1;
        return rd_make(NULL, 0);
    }
    return rd_sub(r, n);
}

static void read_u16_list(struct ksd_rd *r, uint16_t *dst, uint16_t *n, size_t cap, int *over)
{
    while (rd_left(r) >= 2) {
        uint16_t v = rd_be16(r);
        if (*n >= cap) {
            *over = 1;
            return;
        }
        dst[(*n)++] = v;
    }
}

/* server_name (RFC 6066 section 3): the first host_name entry. The list
 * must fill the extension exactly and each entry must fit in the list;
 * otherwise the hello is malformed and gives no name. */
static void ext_server_name(struct ksd_rd *e, struct ksd_tls_hello *out, struct hello_state *st)
{
    if (rd_left(e) == 0)
        return; /* empty extension (as a server sends it): no name, accepted by the oracle */
    uint16_t ln = rd_be16(e);
    if (rd_err(e) || ln != rd_left(e)) {
        st->malformed = 1;
        return;
    }
    struct ksd_rd list = rd_sub(e, ln);

    for (size_t i = 0; i < KSD_TLS_MAX_SNI_ENTRIES && rd_left(&list) > 0; i++) {
        uint8_t type = rd_u8(&list);
        uint16_t n = rd_be16(&list);
        struct ksd_rd name = rd_sub(&list, n);
        if (rd_err(&list)) {
            st->malformed = 1;
            return;
        }
        if (type != 0)
            continue;
        if (n == 0 || n >= KSD_TLS_NAME_MAX)
            return;
        size_t k = 0;
        for (; k < n; k++) {
            uint8_t c = rd_u8(&name);
            out->sni[k] = ksd_is_print(c) ? (char)ksd_ascii_lower(c) : '?';
        }
        if (k > 0 && out->sni[k - 1] == '.')
            k--; /* one trailing dot, as the oracle normalises */
        out->sni[k] = '\0';
        return;
    }
}

/* ALPN (RFC 7301 section 3.1): the first protocol name. */
static void ext_alpn(struct ksd_rd *e, struct ksd_tls_hello *out, struct hello_state *st)
{
    struct ksd_rd list = sub_strict(e, rd_be16(e), &st->ext_broken);
    uint8_t n = rd_u8(&list);
    struct ksd_rd name = rd_sub(&list, n);
    size_t k = 0;

    if (st->have_alpn || rd_err(&list))
        return;
    st->have_alpn = 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = rd_u8(&name);
        st->ja->alpn[i] = c;
        if (ksd_is_print(c) && k + 1 < sizeof(out->alpn))
            out->alpn[k++] = (char)c;
    }
    out->alpn[k] = '\0';
    st->ja->alpn_len = n;
}

static void ext_versions(struct ksd_rd *e, struct hello_state *st)
{
    struct ksd_rd list = sub_strict(e, rd_u8(e), &st->ext_broken);
    while (rd_left(&list) >= 2) {
        uint16_t v = rd_be16(&list);
        if (ksd_ja_is_grease(v))
            continue;
        if (!st->have_versions || v > st->ja->max_version)
            st->ja->max_version = v;
        st->have_versions = 1;
    }
}

static void ext_point_formats(struct ksd_rd *e, struct hello_state *st)
{
    struct ksd_rd list = sub_strict(e, rd_u8(e), &st->ext_broken);
    while (rd_left(&list) >= 1) {
        uint8_t v = rd_u8(&list);
        if (st->ja->n_pfmts >= KSD_JA_MAX_PFMTS) {
            st->over_cap = 1;
            return;
        }
        st->ja->pfmts[st->ja->n_pfmts++] = v;
    }
}

static void parse_extension(uint16_t type, struct ksd_rd *e, struct ksd_tls_hello *out,
                            struct hello_state *st)
{
    struct ksd_rd list;

    switch (type) {
        case TLS_EXT_SERVER_NAME:
            out->has_sni_ext = 1;
            if (out->sni[0] == '\0')
                ext_server_name(e, out, st);
            break;
        case TLS_EXT_ALPN:
            ext_alpn(e, out, st);
            break;
        case TLS_EXT_VERSIONS:
            ext_versions(e, st);
            break;
        case TLS_EXT_GROUPS: /* appended across duplicates, as tshark's JA3 does */
            list = sub_strict(e, rd_be16(e), &st->ext_broken);
            read_u16_list(&list, st->ja->groups, &st->ja->n_groups, KSD_JA_MAX_GROUPS,
                          &st->over_cap);
            break;
        case TLS_EXT_POINT_FORMATS:
            ext_point_formats(e, st);
            break;
        case TLS_EXT_SIG_ALGS:
            if (st->have_sigalgs)
                break;
            st->have_sigalgs = 1;
            list = sub_strict(e, rd_be16(e), &st->ext_broken);
            read_u16_list(&list, st->ja->sigalgs, &st->ja->n_sigalgs, KSD_JA_MAX_SIGALGS,
                          &st->over_cap);
            break;
        case TLS_EXT_ECH:
            out->ech = 1;
            break;
        case TLS_EXT_ESNI:
            out->esni = 1;
            break;
        default:
            break;
    }
}

/*
 * The extension block. Tolerances kept from the oracle (MANIFEST "How the
 * .ja4 facts were made", item 4): fewer than 4 bytes left inside the block
 * are ignored; an extension running past the block breaks the block (no
 * JA3/JA4), keeping what was read before it.
 */
static void parse_extensions(struct ksd_rd *blk, struct ksd_tls_hello *out, struct hello_state *st)
{
    while (rd_left(blk) >= 4) {
        uint16_t type = rd_be16(blk);
        uint16_t n = rd_be16(blk);
        if (n > rd_left(blk)) {
            st->ext_broken = 1;
            return;
        }
        struct ksd_rd e = rd_sub(blk, n);
        if (out->n_exts < UINT16_MAX)
            out->n_exts++;
        if (st->ja->n_exts >= KSD_JA_MAX_EXTS)
            st->over_cap = 1;
        else
            st->ja->exts[st->ja->n_exts++] = type;
        parse_extension(type, &e, out, st);
    }
}

/* ClientHello body (RFC 8446 section 4.1.2). `complete` is 0 when the body
 * is a captured prefix of a longer message. */
static int parse_hello_body(struct ksd_rd *b, int complete, struct ksd_tls_hello *out,
                            struct hello_state *st)
{
    int short_rc = complete ? KSD_EINVAL : KSD_ETRUNC;

    out->legacy_version = rd_be16(b);
    rd_skip(b, 32); /* random */
    rd_skip(b, rd_u8(b));
    struct ksd_rd cs = rd_sub(b, rd_be16(b));
    if (rd_err(b))
        return short_rc;
    while (rd_left(&cs) >= 2) {
        uint16_t c = rd_be16(&cs);
        if (out->n_ciphers < UINT16_MAX)
            out->n_ciphers++;
        if (st->ja->n_ciphers >= KSD_JA_MAX_CIPHERS)
            st->over_cap = 1;
        else
            st->ja->ciphers[st->ja->n_ciphers++] = c;
    }
    rd_skip(b, rd_u8(b)); /* compression methods */
    if (rd_err(b))
        return short_rc;
    if (rd_left(b) >= 2) { /* 0 or 1 byte left: no extension block */
        uint16_t n = rd_be16(b);
        if (n > rd_left(b)) {
            /* the block overruns the message: each extension is still
             * checked whole (parse_extensions), as the oracle does */
            if (complete)
                st->ext_broken = 1;
            n = (uint16_t)rd_left(b);
        }
        struct ksd_rd blk = rd_sub(b, n);
        parse_extensions(&blk, out, st);
        if (!complete && rd_left(&blk) > 0)
            st->ext_broken = 1;
    } else if (!complete) {
        return KSD_ETRUNC;
    }
    return complete ? KSD_OK : KSD_ETRUNC;
}

int ksd_tls_parse_hello(const uint8_t *msg, size_t len, char transport, struct ksd_tls_hello *out)
{
    struct ksd_rd r = rd_make(msg, len);
    struct hello_state st;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&st, 0, sizeof(st));
    st.ja = &out->ja_in;
    out->transport = transport == 'q' ? 'q' : 't';
    out->nosni = KSD_TLS_NOSNI_TRUNCATED;

    uint8_t type = rd_u8(&r);
    uint32_t blen = rd_be24(&r);
    if (rd_err(&r))
        return KSD_ETRUNC;
    if (type != TLS_HS_CLIENT_HELLO)
        return KSD_EINVAL;
    int complete = blen <= rd_left(&r);
    struct ksd_rd body = complete ? rd_sub(&r, blen) : rd_rest(&r);

    rc = parse_hello_body(&body, complete, out, &st);
    if (st.malformed) {
        memset(out, 0, sizeof(*out));
        out->transport = transport == 'q' ? 'q' : 't';
        out->nosni = KSD_TLS_NOSNI_MALFORMED;
        return KSD_EINVAL;
    }
    if (rc == KSD_EINVAL)
        return rc;
    out->max_version = st.have_versions ? st.ja->max_version : out->legacy_version;
    if (out->sni[0] != '\0')
        out->nosni = KSD_TLS_NOSNI_NONE;
    else if (out->ech || out->esni)
        out->nosni = KSD_TLS_NOSNI_ECH;
    else if (rc == KSD_OK)
        out->nosni = KSD_TLS_NOSNI_ABSENT;
    if (rc != KSD_OK || st.ext_broken || st.over_cap)
        return rc;

    st.ja->transport = out->transport;
    st.ja->legacy_version = out->legacy_version;
    st.ja->max_version = out->max_version;
    st.ja->has_sni_ext = out->has_sni_ext;
    out->ja_ok = 1;
    return KSD_OK;
}

int ksd_tls_hello_ja(struct ksd_tls_hello *h)
{
    if (h->has_ja || !h->ja_ok)
        return h->has_ja;
    if (ksd_ja_ja3(&h->ja_in, h->ja3) == KSD_OK && ksd_ja_ja4(&h->ja_in, h->ja4) == KSD_OK) {
        h->has_ja = 1;
    } else {
        h->ja3[0] = h->ja4[0] = '\0';
        h->ja_ok = 0;
    }
    return h->has_ja;
}

/* ------------------------------------------------------------------------ */
/* Record layer                                                             */
/* ------------------------------------------------------------------------ */

/* An SSLv2-format CLIENT-HELLO (SSL 2.0 spec, also sent by SSLv3/TLS 1.0
 * clients for compatibility): 2-byte length with the top bit set, msg type
 * 1, version 0x0002 or 0x03xx. */
static int is_sslv2_hello(const struct ksd_rd *r)
{
    uint8_t b0 = 0, mt = 0, vmaj = 0, vmin = 0;
    if (!rd_peek_ok(r, 0, &b0) || !(b0 & 0x80))
        return 0;
    if (!rd_peek_ok(r, 2, &mt) || !rd_peek_ok(r, 3, &vmaj) || !rd_peek_ok(r, 4, &vmin))
        return 0;
    return mt == 1 && ((vmaj == 0 && vmin == 2) || vmaj == 3);
}

/* Check the (possibly partial) record header at the cursor: KSD_OK when
 * complete and plausible (fields filled), KSD_EAGAIN when the bytes present
 * are plausible but too few, KSD_EINVAL otherwise. */
static int record_header(const struct ksd_rd *r, uint8_t *type, uint16_t *rlen)
{
    uint8_t h[TLS_REC_HDR] = {0};
    size_t have = 0;
    while (have < TLS_REC_HDR && rd_peek_ok(r, have, &h[have]))
        have++;
    if (have >= 1 && (h[0] < TLS_REC_CCS || h[0] > TLS_REC_HEARTBEAT))
        return KSD_EINVAL;
    if (have >= 2 && h[1] != 3)
        return KSD_EINVAL;
    if (have >= 3 && h[2] > 4)
        return KSD_EINVAL;
    if (have < TLS_REC_HDR)
        return KSD_EAGAIN;
    *type = h[0];
    *rlen = (uint16_t)((h[3] << 8) | h[4]);
    return *rlen <= TLS_REC_MAX ? KSD_OK : KSD_EINVAL;
}

/* Type and body length of the handshake message at the start of buf. */
static int hs_header(const uint8_t *buf, size_t n, uint8_t *type, uint32_t *blen)
{
    struct ksd_rd h = rd_make(buf, n);
    *type = rd_u8(&h);
    *blen = rd_be24(&h);
    return !rd_err(&h);
}

int ksd_tls_client_stream(const uint8_t *p, size_t len, size_t *consumed, struct ksd_tls_hello *out)
{
    uint8_t hs[KSD_TLS_MAX_HELLO];
    size_t hs_len = 0;
    struct ksd_rd r = rd_make(p, len);

    if (*consumed > len)
        return KSD_EINVAL;
    rd_skip(&r, *consumed);
    for (size_t i = 0; i < KSD_TLS_MAX_RECORDS; i++) {
        uint8_t type = 0, hs_type = 0;
        uint16_t rlen = 0;
        uint32_t blen = 0;

        if (is_sslv2_hello(&r))
            return KSD_ENOTSUP;
        int rc = record_header(&r, &type, &rlen);
        if (rc != KSD_OK)
            return rc;
        if (rd_left(&r) - TLS_REC_HDR < rlen)
            return KSD_EAGAIN;
        rd_skip(&r, TLS_REC_HDR);
        struct ksd_rd frag = rd_sub(&r, rlen);

        if (type == TLS_REC_APPDATA)
            return KSD_ENOTSUP;
        if (type != TLS_REC_HANDSHAKE)
            continue; /* change_cipher_spec (TLS 1.3 compatibility), alert, heartbeat */

        size_t n = rd_left(&frag);
        size_t room = sizeof(hs) - hs_len;
        if (n > room)
            n = room;
        memcpy(hs + hs_len, rd_bytes(&frag, n), n);
        hs_len += n;
        if (!hs_header(hs, hs_len, &hs_type, &blen))
            continue;
        if (hs_type != TLS_HS_CLIENT_HELLO)
            return KSD_ENOTSUP;
        if (blen > sizeof(hs) - TLS_HS_HDR) {
            if (hs_len < sizeof(hs))
                continue;
            ksd_tls_parse_hello(hs, hs_len, 't', out);
            return KSD_ETRUNC;
        }
        if (hs_len < TLS_HS_HDR + blen)
            continue;
        rc = ksd_tls_parse_hello(hs, TLS_HS_HDR + blen, 't', out);
        *consumed = rd_off(&r);
        return rc;
    }
    return KSD_EAGAIN;
}

/* ------------------------------------------------------------------------ */
/* Server side                                                              */
/* ------------------------------------------------------------------------ */

/* SHA-256("HelloRetryRequest"), the random of a HelloRetryRequest. */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* ServerHello body (RFC 8446 section 4.1.3). 1 for a HelloRetryRequest. */
static int parse_server_hello(struct ksd_rd *b, struct ksd_tls_server *out, int *is_hrr)
{
    uint16_t *exts = out->ja3s_exts;
    size_t n_exts = 0;

    uint16_t legacy = rd_be16(b);
    const uint8_t *random = rd_bytes(b, 32);
    rd_skip(b, rd_u8(b));
    out->cipher = rd_be16(b);
    rd_skip(b, 1); /* compression method */
    if (rd_err(b))
        return KSD_EINVAL;
    *is_hrr = memcmp(random, hrr_random, sizeof(hrr_random)) == 0;
    out->version = legacy;
    if (rd_left(b) >= 2) {
        int bad = 0;
        struct ksd_rd blk = sub_strict(b, rd_be16(b), &bad);
        if (bad)
            return KSD_EINVAL;
        while (rd_left(&blk) >= 4) {
            uint16_t type = rd_be16(&blk);
            struct ksd_rd e = rd_sub(&blk, rd_be16(&blk));
            if (rd_err(&blk))
                return KSD_EINVAL;
            if (n_exts >= KSD_JA_MAX_EXTS)
                return KSD_ELIMIT;
            exts[n_exts++] = type;
            if (type == TLS_EXT_VERSIONS && rd_left(&e) >= 2)
                out->version = rd_be16(&e);
        }
    }
    out->ja3s_legacy = legacy;
    out->ja3s_n_exts = (uint16_t)n_exts;
    out->ja3s[0] = '\0';
    out->ja3s_ok = 1;
    return KSD_OK;
}

int ksd_tls_server_ja3s(struct ksd_tls_server *s)
{
    if (s->ja3s[0] || !s->ja3s_ok)
        return s->ja3s[0] != '\0';
    if (ksd_ja_ja3s(s->ja3s_legacy, s->cipher, s->ja3s_exts, s->ja3s_n_exts, s->ja3s) != KSD_OK) {
        s->ja3s[0] = '\0';
        s->ja3s_ok = 0;
    }
    return s->ja3s[0] != '\0';
}

/* Certificate (RFC 5246 section 7.4.2): the first certificate of the list,
 * `m` starting at the certificate_list length. */
static void parse_certificate(struct ksd_rd *m, struct ksd_tls_server *out)
{
    struct ksd_x509_cert cert;

    rd_be24(m); /* certificate_list length: the first entry is all we read */
    uint32_t n = rd_be24(m);
    const uint8_t *der = rd_bytes(m, n);
    if (der == NULL || ksd_x509_parse(der, n, &cert) != KSD_OK)
        return;
    out->has_cert = 1;
    memcpy(out->serial, cert.serial, sizeof(out->serial));
    memcpy(out->subject, cert.subject, sizeof(out->subject));
    memcpy(out->issuer, cert.issuer, sizeof(out->issuer));
    memcpy(out->subject_cn, cert.subject_cn, sizeof(out->subject_cn));
    out->n_sans = cert.n_sans;
    memcpy(out->sans, cert.sans, sizeof(out->sans));
}

/* Progress of the server-side walk over the joined handshake bytes. */
struct server_walk {
    uint8_t buf[KSD_TLS_MAX_HELLO]; /* joined handshake bytes not yet consumed */
    size_t len;                     /* bytes in buf */
    int have_sh;                    /* the final ServerHello has been parsed */
    size_t msgs;                    /* handshake messages walked */
};

/* Walk the complete messages in w->buf. KSD_OK when done, KSD_EAGAIN when
 * more bytes are needed, KSD_EINVAL/KSD_ELIMIT on error. */
static int server_messages(struct server_walk *w, struct ksd_tls_server *out)
{
    while (w->msgs < KSD_TLS_MAX_MSGS) {
        uint8_t type = 0;
        uint32_t blen = 0;
        if (!hs_header(w->buf, w->len, &type, &blen))
            return KSD_EAGAIN;
        if (!w->have_sh) {
            int is_hrr = 0;
            if (type != TLS_HS_SERVER_HELLO)
                return KSD_EINVAL;
            if (blen > sizeof(w->buf) - TLS_HS_HDR)
                return KSD_EINVAL;
            if (w->len < TLS_HS_HDR + blen)
                return KSD_EAGAIN;
            struct ksd_rd m = rd_make(w->buf + TLS_HS_HDR, blen);
            int rc = parse_server_hello(&m, out, &is_hrr);
            if (rc != KSD_OK)
                return rc;
            w->have_sh = !is_hrr;
            if (w->have_sh && (out->version < 0x0300 || out->version > 0x0303))
                return KSD_OK; /* TLS 1.3 or unknown: the certificate is encrypted */
            w->len -= TLS_HS_HDR + blen;
            memmove(w->buf, w->buf + TLS_HS_HDR + blen, w->len);
            w->msgs++;
            continue;
        }
        if (type != TLS_HS_CERTIFICATE)
            return KSD_OK; /* ServerKeyExchange, ServerHelloDone...: no certificate */
        /* Only the first certificate is needed: wait for it, not the chain. */
        struct ksd_rd m = rd_make(w->buf + TLS_HS_HDR, w->len - TLS_HS_HDR);
        rd_be24(&m);
        uint32_t first = rd_be24(&m);
        if (rd_err(&m))
            return w->len >= sizeof(w->buf) ? KSD_OK : KSD_EAGAIN;
        if (first > rd_left(&m))
            return w->len >= sizeof(w->buf) ? KSD_OK : KSD_EAGAIN;
        m = rd_make(w->buf + TLS_HS_HDR, w->len - TLS_HS_HDR);
        parse_certificate(&m, out);
        return KSD_OK;
    }
    return KSD_ELIMIT;
}

int ksd_tls_server_stream(const uint8_t *p, size_t len, struct ksd_tls_server *out)
{
    struct server_walk w;
    struct ksd_rd r = rd_make(p, len);

    memset(out, 0, sizeof(*out));
    w.len = 0;
    w.have_sh = 0;
    w.msgs = 0;
    for (size_t i = 0; i < KSD_TLS_MAX_RECORDS; i++) {
        uint8_t type = 0;
        uint16_t rlen = 0;
        int rc = record_header(&r, &type, &rlen);
        if (rc != KSD_OK)
            return rc;
        if (rd_left(&r) - TLS_REC_HDR < rlen)
            return KSD_EAGAIN;
        rd_skip(&r, TLS_REC_HDR);
        struct ksd_rd frag = rd_sub(&r, rlen);

        if (type == TLS_REC_CCS || type == TLS_REC_APPDATA) {
            if (w.have_sh)
                return KSD_OK; /* resumption: no certificate on the wire */
            if (type == TLS_REC_APPDATA)
                return KSD_EINVAL;
            continue;
        }
        if (type != TLS_REC_HANDSHAKE)
            continue;
        while (rd_left(&frag) > 0) {
            size_t n = rd_left(&frag);
            size_t room = sizeof(w.buf) - w.len;
            if (n > room)
                n = room;
            memcpy(w.buf + w.len, rd_bytes(&frag, n), n);
            w.len += n;
            rc = server_messages(&w, out);
            if (rc != KSD_EAGAIN)
                return rc;
            if (w.len >= sizeof(w.buf))
                return KSD_EINVAL; /* a message larger than ksd joins */
        }
    }
    return KSD_EAGAIN;
}

int ksd_tls_probe(const uint8_t *p, size_t len)
{
    struct ksd_rd r = rd_make(p, len);
    uint8_t type = 0, hs = 0;
    uint16_t rlen = 0;

    if (record_header(&r, &type, &rlen) != KSD_OK || type != TLS_REC_HANDSHAKE)
        return 0;
    if (rd_peek_ok(&r, TLS_REC_HDR, &hs) && hs != TLS_HS_CLIENT_HELLO && hs != TLS_HS_SERVER_HELLO)
        return 0;
    return 1;
}
