/*
 * ja.c - TLS client and server fingerprints: JA3, JA3S (Salesforce) and JA4
 * (FoxIO, technical_details/JA4.md), computed from lists the TLS dissector
 * has already read out of a ClientHello or ServerHello.
 *
 * JA3 is the MD5 of "Version,Ciphers,Extensions,Groups,PointFormats": decimal
 * values joined with '-', GREASE (RFC 8701) removed from ciphers, extensions
 * and groups, the ClientHello legacy_version as the version. A hello without
 * an extension block still has five fields ("769,4-5-10,,,").
 *
 * JA4 is "a_b_c": a = transport, version, d/i, cipher and extension counts
 * (GREASE removed, capped at 99) and two ALPN characters; b = first 12 hex of
 * the SHA-256 of the sorted cipher list; c = the same over the sorted
 * extension list without server_name and ALPN, followed by '_' and the
 * signature algorithms in wire order. Both hashes are "000000000000" when the
 * list they cover is empty. MD5 and SHA-256 come from libcrypto's EVP API.
 *
 * This file reads no packet bytes and keeps no state.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dissectors/ja.h"

#include "dissectors/crypto.h"
#include "dissectors/ksd.h"

/* A bounded string under construction; overflow sets err and stays set. */
struct sbuf {
    char *p;    /* destination */
    size_t cap; /* bytes available at p, including the NUL */
    size_t len; /* characters written */
    int err;    /* ran out of room */
};

static void sb_init(struct sbuf *s, char *p, size_t cap)
{
    s->p = p;
    s->cap = cap;
    s->len = 0;
    s->err = cap == 0;
    if (cap > 0)
        p[0] = '\0';
}

static void sb_putc(struct sbuf *s, char c)
{
    if (s->err || s->len + 1 >= s->cap) {
        s->err = 1;
        return;
    }
    s->p[s->len++] = c;
    s->p[s->len] = '\0';
}

/* n characters at once: one room check (these run for every ClientHello). */
static void sb_putn(struct sbuf *s, const char *src, size_t n)
{
    if (s->err || s->len + n >= s->cap) {
        s->err = 1;
        return;
    }
    memcpy(s->p + s->len, src, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_dec(struct sbuf *s, unsigned v)
{
    char tmp[12];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && i > 0);
    sb_putn(s, tmp + i, sizeof(tmp) - i);
}

static const char hexdig[] = "0123456789abcdef";

static void sb_hex4(struct sbuf *s, uint16_t v)
{
    const char t[4] = {hexdig[(v >> 12) & 0xf], hexdig[(v >> 8) & 0xf], hexdig[(v >> 4) & 0xf],
                       hexdig[v & 0xf]};
    sb_putn(s, t, sizeof(t));
}

int ksd_ja_is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* Decimal values of a u16 list joined with '-', GREASE dropped if asked. */
static void sb_dec_list(struct sbuf *s, const uint16_t *v, size_t n, int drop_grease)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (drop_grease && ksd_ja_is_grease(v[i]))
            continue;
        if (!first)
            sb_putc(s, '-');
        sb_dec(s, v[i]);
        first = 0;
    }
}

int ksd_ja_ja3_string(const struct ksd_ja_hello *h, char *buf, size_t cap)
{
    struct sbuf s;
    sb_init(&s, buf, cap);
    sb_dec(&s, h->legacy_version);
    sb_putc(&s, ',');
    sb_dec_list(&s, h->ciphers, h->n_ciphers, 1);
    sb_putc(&s, ',');
    sb_dec_list(&s, h->exts, h->n_exts, 1);
    sb_putc(&s, ',');
    sb_dec_list(&s, h->groups, h->n_groups, 1);
    sb_putc(&s, ',');
    for (size_t i = 0; i < h->n_pfmts; i++) {
        if (i > 0)
            sb_putc(&s, '-');
        sb_dec(&s, h->pfmts[i]);
    }
    return s.err ? KSD_ELIMIT : KSD_OK;
}

/* Lower-case hex of the first `nhex` characters of a digest of (p, n). */
static int digest_hex(const EVP_MD *md, const char *p, size_t n, char *out, size_t nhex)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (md == NULL || EVP_Digest(p, n, d, &dlen, md, NULL) != 1 || nhex > 2 * (size_t)dlen)
        return KSD_ENOMEM;
    for (size_t i = 0; i < nhex; i++)
        out[i] = hexdig[(i % 2 == 0) ? (d[i / 2] >> 4) : (d[i / 2] & 0xf)];
    out[nhex] = '\0';
    return KSD_OK;
}

int ksd_ja_ja3(const struct ksd_ja_hello *h, char out[33])
{
    char buf[KSD_JA_STR_MAX];
    out[0] = '\0';
    int rc = ksd_ja_ja3_string(h, buf, sizeof(buf));
    if (rc != KSD_OK)
        return rc;
    return digest_hex(ksd_crypto_md5(), buf, strlen(buf), out, 32);
}

int ksd_ja_ja3s(uint16_t version, uint16_t cipher, const uint16_t *exts, size_t n_exts,
                char out[33])
{
    char buf[16 + 6 * KSD_JA_MAX_EXTS];
    struct sbuf s;
    out[0] = '\0';
    if (n_exts > KSD_JA_MAX_EXTS)
        return KSD_ELIMIT;
    sb_init(&s, buf, sizeof(buf));
    sb_dec(&s, version);
    sb_putc(&s, ',');
    sb_dec(&s, cipher);
    sb_putc(&s, ',');
    sb_dec_list(&s, exts, n_exts, 0);
    if (s.err)
        return KSD_ELIMIT;
    return digest_hex(ksd_crypto_md5(), buf, s.len, out, 32);
}

/* Insertion sort: the lists are short (at most a few hundred values, usually
 * 10-30), and glibc's qsort allocates and calls back per comparison. */
static void sort_u16(uint16_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint16_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* The sorted lists and the signature list JA4 hashes. */
struct ja4_lists {
    uint16_t ciphers[KSD_JA_MAX_CIPHERS]; /* sorted, no GREASE */
    size_t n_ciphers;                     /* entries in ciphers */
    size_t n_exts_all;                    /* non-GREASE extensions (count for part a) */
    uint16_t exts[KSD_JA_MAX_EXTS];       /* sorted, no GREASE, no SNI / ALPN */
    size_t n_exts;                        /* entries in exts */
    size_t n_sigs;                        /* non-GREASE signature algorithms */
};

static void ja4_collect(const struct ksd_ja_hello *h, struct ja4_lists *l)
{
    size_t n_c = h->n_ciphers < KSD_JA_MAX_CIPHERS ? h->n_ciphers : KSD_JA_MAX_CIPHERS;
    size_t n_e = h->n_exts < KSD_JA_MAX_EXTS ? h->n_exts : KSD_JA_MAX_EXTS;
    size_t n_s = h->n_sigalgs < KSD_JA_MAX_SIGALGS ? h->n_sigalgs : KSD_JA_MAX_SIGALGS;

    memset(l, 0, sizeof(*l));
    for (size_t i = 0; i < n_c; i++)
        if (!ksd_ja_is_grease(h->ciphers[i]))
            l->ciphers[l->n_ciphers++] = h->ciphers[i];
    for (size_t i = 0; i < n_e; i++) {
        uint16_t e = h->exts[i];
        if (ksd_ja_is_grease(e))
            continue;
        l->n_exts_all++;
        if (e != 0x0000 && e != 0x0010)
            l->exts[l->n_exts++] = e;
    }
    for (size_t i = 0; i < n_s; i++)
        if (!ksd_ja_is_grease(h->sigalgs[i]))
            l->n_sigs++;
    sort_u16(l->ciphers, l->n_ciphers);
    sort_u16(l->exts, l->n_exts);
}

static const char *ja4_version(uint16_t v)
{
    switch (v) {
        case 0x0304:
            return "13";
        case 0x0303:
            return "12";
        case 0x0302:
            return "11";
        case 0x0301:
            return "10";
        case 0x0300:
            return "s3";
        case 0x0002:
            return "s2";
        case 0xfeff:
            return "d1";
        case 0xfefd:
            return "d2";
        case 0xfefc:
            return "d3";
        default:
            return "00";
    }
}

/* Part a: "t13d1516h2". */
static void ja4_part_a(const struct ksd_ja_hello *h, const struct ja4_lists *l, struct sbuf *s)
{
    const char *ver = ja4_version(h->max_version);
    size_t nc = l->n_ciphers > 99 ? 99 : l->n_ciphers;
    size_t ne = l->n_exts_all > 99 ? 99 : l->n_exts_all;

    sb_putc(s, h->transport == 'q' ? 'q' : 't');
    sb_putc(s, ver[0]);
    sb_putc(s, ver[1]);
    sb_putc(s, h->has_sni_ext ? 'd' : 'i');
    sb_putc(s, (char)('0' + nc / 10));
    sb_putc(s, (char)('0' + nc % 10));
    sb_putc(s, (char)('0' + ne / 10));
    sb_putc(s, (char)('0' + ne % 10));
    if (h->alpn_len == 0) {
        sb_putc(s, '0');
        sb_putc(s, '0');
        return;
    }
    uint8_t first = h->alpn[0];
    uint8_t last = h->alpn[h->alpn_len - 1];
    if (ksd_is_alnum(first) && ksd_is_alnum(last)) {
        sb_putc(s, (char)first);
        sb_putc(s, (char)last);
    } else {
        sb_putc(s, hexdig[first >> 4]);
        sb_putc(s, hexdig[last & 0xf]);
    }
}

static void sb_hex_list(struct sbuf *s, const uint16_t *v, size_t n, int drop_grease)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (drop_grease && ksd_ja_is_grease(v[i]))
            continue;
        if (!first)
            sb_putc(s, ',');
        sb_hex4(s, v[i]);
        first = 0;
    }
}

/* The string behind part c: sorted extensions, then '_' and signatures. */
static void ja4_c_string(const struct ksd_ja_hello *h, const struct ja4_lists *l, struct sbuf *s)
{
    size_t n_s = h->n_sigalgs < KSD_JA_MAX_SIGALGS ? h->n_sigalgs : KSD_JA_MAX_SIGALGS;
    sb_hex_list(s, l->exts, l->n_exts, 0);
    if (l->n_sigs > 0) {
        sb_putc(s, '_');
        sb_hex_list(s, h->sigalgs, n_s, 1);
    }
}

int ksd_ja_ja4_raw(const struct ksd_ja_hello *h, char *buf, size_t cap)
{
    struct ja4_lists l;
    struct sbuf s;
    ja4_collect(h, &l);
    sb_init(&s, buf, cap);
    ja4_part_a(h, &l, &s);
    sb_putc(&s, '_');
    sb_hex_list(&s, l.ciphers, l.n_ciphers, 0);
    sb_putc(&s, '_');
    ja4_c_string(h, &l, &s);
    return s.err ? KSD_ELIMIT : KSD_OK;
}

int ksd_ja_ja4(const struct ksd_ja_hello *h, char out[40])
{
    struct ja4_lists l;
    char buf[KSD_JA_STR_MAX];
    struct sbuf s, o;
    int rc = KSD_OK;

    ja4_collect(h, &l);
    sb_init(&o, out, 40);
    ja4_part_a(h, &l, &o);
    sb_putc(&o, '_');
    if (o.err)
        return KSD_ELIMIT;

    if (l.n_ciphers == 0) {
        memcpy(out + o.len, "000000000000", 13);
    } else {
        sb_init(&s, buf, sizeof(buf));
        sb_hex_list(&s, l.ciphers, l.n_ciphers, 0);
        rc = s.err ? KSD_ELIMIT : digest_hex(ksd_crypto_sha256(), buf, s.len, out + o.len, 12);
    }
    if (rc != KSD_OK)
        goto fail;
    o.len += 12;
    sb_putc(&o, '_');
    if (l.n_exts == 0) {
        if (o.err || o.len + 13 > 40)
            goto fail_limit;
        memcpy(out + o.len, "000000000000", 13);
        return KSD_OK;
    }
    sb_init(&s, buf, sizeof(buf));
    ja4_c_string(h, &l, &s);
    if (s.err || o.err)
        goto fail_limit;
    rc = digest_hex(ksd_crypto_sha256(), buf, s.len, out + o.len, 12);
    if (rc != KSD_OK)
        goto fail;
    return KSD_OK;

fail_limit:
    rc = KSD_ELIMIT;
fail:
    out[0] = '\0';
    return rc;
}
