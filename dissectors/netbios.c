/*
 * netbios.c - NetBIOS name service (RFC 1002 4.2.1 header, 4.2.12 and
 * 4.2.13 registration, 4.2.16 refresh, 4.2.10/4.2.13 name query
 * response). A NetBIOS name is one 32-byte label in "first-level encoding"
 * (RFC 1001 14.1: each half-byte as 'A' + value) followed by scope labels;
 * the decoded 16 bytes are 15 name bytes padded with spaces and a suffix
 * byte.
 *
 * Kept: the question name of a registration or refresh with the NB
 * address(es) of its additional record, or the answer name of a positive
 * response with its addresses. Not done: node status (NBSTAT) parsing,
 * following a compressed name elsewhere than to the question (the only
 * place RFC 1002 uses it), NetBIOS datagram service (UDP 138). Pure; every
 * byte through rd.h.
 */
#include "dissectors/netbios.h"

#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/rd.h"

/* A name at r: the encoded label (decoded into m when want), scope labels
 * skipped, or a 2-byte compression pointer (not followed). */
static int read_name(struct ksd_rd *r, struct ksd_nbns_msg *m, int want)
{
    if (!rd_has(r, 1))
        return KSD_ETRUNC;
    uint8_t l = rd_peek(r, 0);
    if ((l & 0xc0) == 0xc0) {
        if (want)
            return KSD_EINVAL; /* the name itself must be written out */
        rd_skip(r, 2);
        return rd_err(r) ? KSD_ETRUNC : KSD_OK;
    }
    rd_skip(r, 1);
    if (l != 32)
        return KSD_EINVAL;
    if (!rd_has(r, 32))
        return KSD_ETRUNC;
    const uint8_t *e = rd_bytes(r, 32);
    uint8_t raw[16];
    for (int i = 0; i < 16; i++) {
        uint8_t hi = e[2 * i], lo = e[2 * i + 1];
        if (hi < 'A' || hi > 'P' || lo < 'A' || lo > 'P')
            return KSD_EINVAL;
        raw[i] = (uint8_t)((hi - 'A') << 4 | (lo - 'A'));
    }
    for (int labels = 0;; labels++) {
        if (labels > KSD_NBNS_MAX_SCOPE_LABELS)
            return KSD_EINVAL;
        if (!rd_has(r, 1))
            return KSD_ETRUNC;
        uint8_t sl = rd_u8(r);
        if (sl == 0)
            break;
        if (sl > 63)
            return KSD_EINVAL;
        if (!rd_has(r, sl))
            return KSD_ETRUNC;
        rd_skip(r, sl);
    }
    if (want) {
        int n = 15;
        while (n > 0 && raw[n - 1] == ' ')
            n--;
        for (int i = 0; i < n; i++)
            m->name[i] = raw[i] >= 0x21 && raw[i] < 0x7f ? (char)raw[i] : '?';
        m->name[n] = '\0';
        m->suffix = raw[15];
    }
    return KSD_OK;
}

/* One resource record whose RDATA is NB entries (flags, IPv4 address). */
static int read_nb_record(struct ksd_rd *r, struct ksd_nbns_msg *m, int want_name)
{
    int rc = read_name(r, m, want_name);
    if (rc != KSD_OK)
        return rc;
    if (!rd_has(r, 10))
        return KSD_ETRUNC;
    uint16_t type = rd_be16(r);
    rd_skip(r, 6); /* class, TTL */
    uint16_t rdlen = rd_be16(r);
    if (!rd_has(r, rdlen))
        return KSD_ETRUNC;
    if (type != KSD_NBNS_TYPE_NB || rdlen % 6 != 0)
        return KSD_ENOTSUP;
    struct ksd_rd d = rd_sub(r, rdlen);
    for (int i = 0; rd_left(&d) >= 6 && i < KSD_NBNS_MAX_ADDRS; i++) {
        uint16_t flags = rd_be16(&d);
        if (i == 0)
            m->group = (flags & 0x8000) != 0;
        memcpy(m->addrs[m->n_addrs++], rd_bytes(&d, 4), 4);
    }
    return m->n_addrs ? KSD_OK : KSD_ENOTSUP;
}

int ksd_nbns_parse(const uint8_t *p, size_t len, struct ksd_nbns_msg *m)
{
    memset(m, 0, sizeof(*m));
    struct ksd_rd r = rd_make(p, len);
    if (!rd_has(&r, 12))
        return KSD_ETRUNC;
    m->id = rd_be16(&r);
    uint16_t flags = rd_be16(&r);
    m->response = (flags & 0x8000) != 0;
    m->opcode = (uint8_t)((flags >> 11) & 0x0f);
    m->rcode = (uint8_t)(flags & 0x0f);
    uint16_t qd = rd_be16(&r), an = rd_be16(&r);
    rd_skip(&r, 2); /* NSCOUNT */
    uint16_t ar = rd_be16(&r);
    int reg = m->opcode == KSD_NBNS_OP_REGISTRATION || m->opcode == KSD_NBNS_OP_REFRESH ||
              m->opcode == 9 || m->opcode == KSD_NBNS_OP_MULTIHOMED;
    if (!m->response) {
        if (qd != 1 || !reg || ar != 1)
            return KSD_ENOTSUP; /* a query (asks for someone else's name) */
        int rc = read_name(&r, m, 1);
        if (rc != KSD_OK)
            return rc;
        if (!rd_has(&r, 4))
            return KSD_ETRUNC;
        rd_skip(&r, 4); /* QTYPE, QCLASS */
        return read_nb_record(&r, m, 0);
    }
    if (m->rcode != 0 || an != 1 || qd != 0 || (m->opcode != KSD_NBNS_OP_QUERY && !reg))
        return KSD_ENOTSUP;
    return read_nb_record(&r, m, 1);
}
