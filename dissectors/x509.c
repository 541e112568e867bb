/*
 * x509.c - bounded DER reading of an X.509 certificate (RFC 5280 section 4.1,
 * DER per ITU-T X.690 section 8.1 and 10) for the fields a passive sensor
 * reports: serial number, issuer and subject DNs (rendered close to RFC 4514
 * but in certificate order), the subject CN and dNSName entries of the
 * subjectAltName extension (RFC 5280 section 4.2.1.6).
 *
 * Every TLV is read through the rd.h reader: der_next() reads one tag and
 * length and hands back a child reader narrowed to the value, so the fixed
 * nesting of a certificate is walked by straight-line code, without
 * recursion. Only single-byte tags and definite lengths of up to 4 bytes are
 * accepted (DER). Signatures, validity, key and constraints are not checked
 * and nothing is trusted: this is a fact extractor, not a validator.
 */
#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/rd.h"
#include "dissectors/x509.h"

#define DER_BOOLEAN   0x01
#define DER_INTEGER   0x02
#define DER_OCTETS    0x04
#define DER_OID       0x06
#define DER_UTF8      0x0c
#define DER_NUMERIC   0x12
#define DER_PRINTABLE 0x13
#define DER_T61       0x14
#define DER_IA5       0x16
#define DER_VISIBLE   0x1a
#define DER_UNIVERSAL 0x1c
#define DER_BMP       0x1e
#define DER_SEQUENCE  0x30
#define DER_SET       0x31
#define DER_CTX0_C    0xa0 /* [0] constructed: version */
#define DER_CTX3_C    0xa3 /* [3] constructed: extensions */
#define DER_GN_DNS    0x82 /* GeneralName dNSName [2] IMPLICIT IA5String */

/* One TLV: tag in *tag, value as a child reader in *val. */
static int der_next(struct ksd_rd *r, uint8_t *tag, struct ksd_rd *val)
{
    uint8_t t = rd_u8(r);
    uint8_t l = rd_u8(r);
    size_t len = l;

    if (rd_err(r))
        return KSD_ETRUNC;
    if ((t & 0x1f) == 0x1f)
        return KSD_EINVAL; /* high tag numbers do not occur in certificates */
    if (l & 0x80) {
        size_t n = l & 0x7f;
        if (n == 0 || n > 4)
            return KSD_EINVAL; /* indefinite or absurd length */
        len = 0;
        for (size_t i = 0; i < n; i++)
            len = (len << 8) | rd_u8(r);
        if (rd_err(r))
            return KSD_ETRUNC;
    }
    *tag = t;
    *val = rd_sub(r, len);
    return rd_err(r) ? KSD_ETRUNC : KSD_OK;
}

/* A TLV whose tag must be `want`. */
static int der_expect(struct ksd_rd *r, uint8_t want, struct ksd_rd *val)
{
    uint8_t tag = 0;
    int rc = der_next(r, &tag, val);
    if (rc != KSD_OK)
        return rc;
    return tag == want ? KSD_OK : KSD_EINVAL;
}

/* A bounded output string; characters past the buffer are dropped. */
struct dn_out {
    char *p;    /* destination */
    size_t cap; /* bytes at p, including the NUL */
    size_t len; /* characters written */
};

static void out_putc(struct dn_out *o, char c)
{
    if (o->len + 1 >= o->cap)
        return;
    o->p[o->len++] = c;
    o->p[o->len] = '\0';
}

static void out_puts(struct dn_out *o, const char *s)
{
    for (size_t i = 0; s[i] != '\0' && i < o->cap; i++)
        out_putc(o, s[i]);
}

static void out_dec(struct dn_out *o, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < sizeof(tmp));
    while (n > 0)
        out_putc(o, tmp[--n]);
}

static const char hexdig[] = "0123456789abcdef";

static void out_hex(struct dn_out *o, struct ksd_rd *r)
{
    size_t n = rd_left(r);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = rd_u8(r);
        out_putc(o, hexdig[b >> 4]);
        out_putc(o, hexdig[b & 0xf]);
    }
}

/* The short name of a common attribute type (id-at, 2.5.4.x), or NULL. */
static const char *attr_short_name(struct ksd_rd oid)
{
    if (rd_left(&oid) != 3 || rd_u8(&oid) != 0x55 || rd_u8(&oid) != 0x04)
        return NULL;
    switch (rd_u8(&oid)) {
        case 0x03:
            return "CN";
        case 0x06:
            return "C";
        case 0x07:
            return "L";
        case 0x08:
            return "ST";
        case 0x0a:
            return "O";
        case 0x0b:
            return "OU";
        default:
            return NULL;
    }
}

/* Dotted form of an OID value (X.690 section 8.19); "?" when malformed. */
static void out_oid(struct dn_out *o, struct ksd_rd oid)
{
    uint64_t v = 0;
    size_t nbytes = 0, arcs = 0;
    int first = 1;

    if (rd_left(&oid) == 0) {
        out_putc(o, '?');
        return;
    }
    while (rd_left(&oid) > 0 && arcs < KSD_X509_MAX_ARCS) {
        uint8_t b = rd_u8(&oid);
        if (++nbytes > 9) { /* more than 63 bits */
            out_putc(o, '?');
            return;
        }
        v = (v << 7) | (b & 0x7f);
        if (b & 0x80)
            continue;
        if (first) {
            uint64_t top = v < 40 ? 0 : v < 80 ? 1 : 2;
            out_dec(o, top);
            out_putc(o, '.');
            out_dec(o, v - 40 * top);
            first = 0;
        } else {
            out_putc(o, '.');
            out_dec(o, v);
        }
        arcs++;
        v = 0;
        nbytes = 0;
    }
    if (nbytes != 0)
        out_putc(o, '?'); /* ends inside a sub-identifier */
}

/* A directory string value as printable ASCII ('?' for anything else). */
static void out_value(struct dn_out *o, uint8_t tag, struct ksd_rd *v, int lower)
{
    size_t width = tag == DER_BMP ? 2 : tag == DER_UNIVERSAL ? 4 : 1;

    switch (tag) {
        case DER_UTF8:
        case DER_NUMERIC:
        case DER_PRINTABLE:
        case DER_T61:
        case DER_IA5:
        case DER_VISIBLE:
        case DER_UNIVERSAL:
        case DER_BMP:
            break;
        default:
            out_putc(o, '#');
            out_hex(o, v);
            return;
    }
    while (rd_left(v) >= width) {
        uint32_t c = width == 1 ? rd_u8(v) : width == 2 ? rd_be16(v) : rd_be32(v);
        if (tag == DER_UTF8 && c >= 0x80 && c < 0xc0)
            continue; /* UTF-8 continuation byte: one '?' per character */
        if (c < 0x80 && ksd_is_print((uint8_t)c))
            out_putc(o, (char)(lower ? ksd_ascii_lower((uint8_t)c) : c));
        else
            out_putc(o, '?');
    }
}

/*
 * Name ::= SEQUENCE OF RelativeDistinguishedName
 * RelativeDistinguishedName ::= SET OF AttributeTypeAndValue
 * AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
 */
static int render_name(struct ksd_rd name, char *dst, size_t cap, char *cn, size_t cn_cap)
{
    struct dn_out o = {dst, cap, 0};
    size_t rdns = 0;

    dst[0] = '\0';
    while (rd_left(&name) > 0 && rdns < KSD_X509_MAX_RDNS) {
        struct ksd_rd set, ava, oid, val;
        size_t avas = 0;
        int rc = der_expect(&name, DER_SET, &set);
        if (rc != KSD_OK)
            return rc;
        while (rd_left(&set) > 0 && avas < KSD_X509_MAX_AVAS) {
            uint8_t vtag = 0;
            rc = der_expect(&set, DER_SEQUENCE, &ava);
            if (rc == KSD_OK)
                rc = der_expect(&ava, DER_OID, &oid);
            if (rc == KSD_OK)
                rc = der_next(&ava, &vtag, &val);
            if (rc != KSD_OK)
                return rc;
            if (avas > 0)
                out_putc(&o, '+');
            else if (rdns > 0)
                out_puts(&o, ", ");
            const char *sn = attr_short_name(oid);
            if (sn != NULL)
                out_puts(&o, sn);
            else
                out_oid(&o, oid);
            out_putc(&o, '=');
            struct ksd_rd copy = val;
            out_value(&o, vtag, &val, 0);
            if (cn != NULL && sn != NULL && strcmp(sn, "CN") == 0) {
                struct dn_out c = {cn, cn_cap, 0};
                cn[0] = '\0';
                out_value(&c, vtag, &copy, 1);
            }
            avas++;
        }
        rdns++;
    }
    return KSD_OK;
}

/* subjectAltName ::= GeneralNames ::= SEQUENCE OF GeneralName; keep dNSName. */
static int read_sans(struct ksd_rd val, struct ksd_x509_cert *out)
{
    struct ksd_rd names;
    size_t seen = 0;
    int rc = der_expect(&val, DER_SEQUENCE, &names);
    if (rc != KSD_OK)
        return rc;
    while (rd_left(&names) > 0 && seen < KSD_X509_MAX_GNAMES) {
        struct ksd_rd gn;
        uint8_t tag = 0;
        rc = der_next(&names, &tag, &gn);
        if (rc != KSD_OK)
            return rc;
        seen++;
        if (tag != DER_GN_DNS || rd_left(&gn) == 0 || out->n_sans >= KSD_X509_MAX_SANS)
            continue;
        if (rd_left(&gn) >= KSD_X509_NAME_MAX)
            continue; /* longer than any DNS name */
        struct dn_out o = {out->sans[out->n_sans], KSD_X509_NAME_MAX, 0};
        out_value(&o, DER_IA5, &gn, 1);
        out->n_sans++;
    }
    return KSD_OK;
}

/*
 * Extensions ::= SEQUENCE OF Extension
 * Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 *                          extnValue OCTET STRING }
 */
static int read_extensions(struct ksd_rd ctx3, struct ksd_x509_cert *out)
{
    static const uint8_t oid_san[3] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */
    struct ksd_rd exts;
    size_t n = 0;
    int rc = der_expect(&ctx3, DER_SEQUENCE, &exts);
    if (rc != KSD_OK)
        return rc;
    while (rd_left(&exts) > 0 && n < KSD_X509_MAX_EXTS) {
        struct ksd_rd ext, oid, val;
        uint8_t b = 0;
        rc = der_expect(&exts, DER_SEQUENCE, &ext);
        if (rc == KSD_OK)
            rc = der_expect(&ext, DER_OID, &oid);
        if (rc != KSD_OK)
            return rc;
        if (rd_peek_ok(&ext, 0, &b) && b == DER_BOOLEAN) {
            struct ksd_rd crit;
            rc = der_expect(&ext, DER_BOOLEAN, &crit);
            if (rc != KSD_OK)
                return rc;
        }
        rc = der_expect(&ext, DER_OCTETS, &val);
        if (rc != KSD_OK)
            return rc;
        n++;
        if (rd_left(&oid) == sizeof(oid_san) &&
            memcmp(rd_bytes(&oid, sizeof(oid_san)), oid_san, sizeof(oid_san)) == 0) {
            rc = read_sans(val, out);
            if (rc != KSD_OK)
                return rc;
        }
    }
    return KSD_OK;
}

/*
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
 * TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
 *     issuer, validity, subject, subjectPublicKeyInfo, [1] issuerUniqueID
 *     OPTIONAL, [2] subjectUniqueID OPTIONAL, [3] extensions OPTIONAL }
 */
int ksd_x509_parse(const uint8_t *der, size_t len, struct ksd_x509_cert *out)
{
    struct ksd_rd r = rd_make(der, len);
    struct ksd_rd cert, tbs, v;
    uint8_t b = 0, tag = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = der_expect(&r, DER_SEQUENCE, &cert);
    if (rc == KSD_OK)
        rc = der_expect(&cert, DER_SEQUENCE, &tbs);
    if (rc != KSD_OK)
        return rc;
    if (rd_peek_ok(&tbs, 0, &b) && b == DER_CTX0_C) {
        rc = der_expect(&tbs, DER_CTX0_C, &v);
        if (rc != KSD_OK)
            return rc;
    }
    rc = der_expect(&tbs, DER_INTEGER, &v);
    if (rc != KSD_OK)
        return rc;
    struct dn_out so = {out->serial, sizeof(out->serial), 0};
    out_hex(&so, &v);

    rc = der_expect(&tbs, DER_SEQUENCE, &v); /* signature algorithm */
    if (rc == KSD_OK)
        rc = der_expect(&tbs, DER_SEQUENCE, &v); /* issuer */
    if (rc == KSD_OK)
        rc = render_name(v, out->issuer, sizeof(out->issuer), NULL, 0);
    if (rc == KSD_OK)
        rc = der_expect(&tbs, DER_SEQUENCE, &v); /* validity */
    if (rc == KSD_OK)
        rc = der_expect(&tbs, DER_SEQUENCE, &v); /* subject */
    if (rc == KSD_OK)
        rc = render_name(v, out->subject, sizeof(out->subject), out->subject_cn,
                         sizeof(out->subject_cn));
    if (rc == KSD_OK)
        rc = der_expect(&tbs, DER_SEQUENCE, &v); /* subjectPublicKeyInfo */
    for (size_t i = 0; rc == KSD_OK && rd_left(&tbs) > 0 && i < KSD_X509_MAX_FIELDS; i++) {
        rc = der_next(&tbs, &tag, &v);
        if (rc == KSD_OK && tag == DER_CTX3_C)
            rc = read_extensions(v, out);
    }
    return rc;
}
