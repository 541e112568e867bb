/*
 * x509.h - a small bounds-checked DER reader for the few X.509 certificate
 * fields ksd reports: serial number, issuer and subject distinguished names,
 * subject CN and dNSName subjectAltNames. Not a validator: signatures, dates
 * and constraints are not looked at.
 */
#ifndef KSD_X509_H
#define KSD_X509_H

#include <stddef.h>
#include <stdint.h>

#define KSD_X509_NAME_MAX   256 /* DN / name buffer, with the NUL */
#define KSD_X509_MAX_SANS   16  /* dNSName SANs kept */
#define KSD_X509_SERIAL_MAX 65  /* serial number as hex (32 bytes), with the NUL */
#define KSD_X509_MAX_RDNS   64  /* RDNs read per Name */
#define KSD_X509_MAX_AVAS   16  /* attributes read per RDN */
#define KSD_X509_MAX_EXTS   64  /* extensions read per certificate */
#define KSD_X509_MAX_GNAMES 512 /* GeneralNames read in subjectAltName */
#define KSD_X509_MAX_FIELDS 16  /* optional TBSCertificate fields after the key */
#define KSD_X509_MAX_ARCS   32  /* OID arcs rendered in dotted form */

struct ksd_x509_cert {
    char serial[KSD_X509_SERIAL_MAX];                /* serial number, lower-case hex as encoded */
    char subject[KSD_X509_NAME_MAX];                 /* subject DN "C=RU, O=..., CN=..." */
    char issuer[KSD_X509_NAME_MAX];                  /* issuer DN, same format */
    char subject_cn[KSD_X509_NAME_MAX];              /* last CN of the subject, lower-cased */
    uint8_t n_sans;                                  /* entries in sans */
    char sans[KSD_X509_MAX_SANS][KSD_X509_NAME_MAX]; /* dNSName SANs, lower-cased */
};

/*
 * Parse one DER certificate held in (der, len). DN rendering: attributes in
 * the order of the certificate, ", " between RDNs, "+" inside a multi-valued
 * RDN, short names C ST L O OU CN and dotted OIDs for the rest; string
 * values keep printable ASCII, every other character becomes '?'; values of
 * non-string types are written as '#' and hex. Strings longer than their
 * buffer are cut. Returns KSD_OK, KSD_ETRUNC (DER runs past len) or
 * KSD_EINVAL (not a certificate). `out` is zeroed first and may be partly
 * filled on failure.
 */
int ksd_x509_parse(const uint8_t *der, size_t len, struct ksd_x509_cert *out);

#endif
