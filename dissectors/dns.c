/*
 * dns.c - DNS message dissector: header, question names, and from the answer
 * section the A, AAAA, CNAME, SVCB and HTTPS records; the additional section
 * is only searched for an EDNS OPT record. DNS over TCP framing and a
 * header plausibility probe for DNS on other ports.
 *
 * What it does not do: no other record types are decoded (their RDATA is
 * skipped through RDLENGTH), no authority section content is kept, no
 * DNSSEC, no EDNS options, no name decoding of mDNS/DNS-SD service labels
 * beyond the plain wire format.
 *
 * Follows RFC 1035 sections 4.1 (message format), 4.1.4 (compression) and
 * 4.2.2 (TCP framing), RFC 3596 section 2 (AAAA), RFC 6891 section 6 (OPT),
 * RFC 9460 sections 2.2 and 7.3 (SVCB/HTTPS RDATA, ipv4hint/ipv6hint),
 * RFC 6762 sections 5.4 and 10.2 (mDNS unicast-response / cache-flush bit).
 *
 * Names are read with a loop, no recursion; a compression pointer
 * must point strictly before the previous target (the first one before the
 * start of the name) and at most KSD_DNS_MAX_PTRS are followed; labels are
 * at most 63 bytes, the wire name at most 255 bytes. A violating pointer is
 * classed PTR_LOOP when its target lies in bytes this name already read
 * (pointer to itself, mutual loop) and PTR_FORWARD otherwise.
 */
#include <string.h>

#include "dissectors/dns.h"
#include "dissectors/ksd.h"
#include "dissectors/rd.h"

#define KSD_DNS_PTR_MASK   0xc0   /* top bits of a length byte: 11 pointer, 00 label */
#define KSD_DNS_CLASS_MASK 0x7fff /* mDNS unicast-response / cache-flush bit removed */
#define KSD_DNS_SVC_IPV4   4      /* SvcParamKey ipv4hint */
#define KSD_DNS_SVC_IPV6   6      /* SvcParamKey ipv6hint */

static const char *const dns_err_names[KSD_DNS_ERR_COUNT] = {
    [KSD_DNS_OK] = "ok",
    [KSD_DNS_ERR_SHORT_HEADER] = "short_header",
    [KSD_DNS_ERR_PTR_LOOP] = "ptr_loop",
    [KSD_DNS_ERR_PTR_FORWARD] = "ptr_forward",
    [KSD_DNS_ERR_PTR_RANGE] = "ptr_range",
    [KSD_DNS_ERR_LABEL_LEN] = "label_len",
    [KSD_DNS_ERR_NAME_LEN] = "name_len",
    [KSD_DNS_ERR_TRUNC_QUESTION] = "trunc_question",
    [KSD_DNS_ERR_TRUNC_RR] = "trunc_rr",
    [KSD_DNS_ERR_RDATA] = "rdata",
    [KSD_DNS_ERR_TOO_MANY] = "too_many",
    [KSD_DNS_ERR_TRUNC_NAME] = "trunc_name",
};

const char *ksd_dns_err_name(int err)
{
    if (err < 0)
        err = -err;
    if (err >= KSD_DNS_ERR_COUNT || !dns_err_names[err])
        return "unknown";
    return dns_err_names[err];
}

/* ------------------------------------------------------------------ names */

/* Append one label byte in presentation form; o stays below the buffer size
 * because a 255-byte wire name renders to at most 1000 characters. */
static size_t dns_put_byte(char *out, size_t o, uint8_t c)
{
    static const char esc[] = "abtnvfr"; /* \a..\r for 0x07..0x0d */

    if (o + 5 > KSD_DNS_NAME_BUF)
        return o;
    if (ksd_is_print(c)) {
        out[o++] = (char)ksd_ascii_lower(c);
    } else if (c >= 0x07 && c <= 0x0d) {
        out[o++] = '\\';
        out[o++] = esc[c - 0x07];
    } else {
        out[o++] = '\\';
        out[o++] = (char)('0' + ((c >> 6) & 7));
        out[o++] = (char)('0' + ((c >> 3) & 7));
        out[o++] = (char)('0' + (c & 7));
    }
    return o;
}

/* Offset of the reader's cursor inside msg, or msg_len when the reader does
 * not look into msg (then any in-range pointer is acceptable as first hop). */
static size_t dns_msg_offset(const struct ksd_rd *r, const uint8_t *msg, size_t msg_len)
{
    uintptr_t at = (uintptr_t)rd_ptr(r);
    uintptr_t lo = (uintptr_t)msg;

    if (at < lo || at - lo > msg_len)
        return msg_len;
    return (size_t)(at - lo);
}

static int dns_name_fail(char *out, int err)
{
    out[0] = '\0';
    return -err;
}

int ksd_dns_read_name(struct ksd_rd *r, const uint8_t *msg, size_t msg_len,
                      char out[KSD_DNS_NAME_BUF])
{
    size_t seg_start[KSD_DNS_MAX_PTRS + 1]; /* bytes read: [seg_start[i], seg_end[i]) */
    size_t seg_end[KSD_DNS_MAX_PTRS + 1];
    size_t n_segs = 0;
    struct ksd_rd m = rd_make(msg, msg_len); /* reader used once a pointer is followed */
    struct ksd_rd *cur = r;
    size_t start = dns_msg_offset(r, msg, msg_len); /* msg offset of the name */
    size_t off0 = rd_off(r);
    size_t bound = start; /* a pointer target must be below this */
    size_t wire = 0, o = 0, n_labels = 0;
    unsigned hops = 0;

    out[0] = '\0';
    seg_start[0] = bound;
    for (size_t step = 0; step < KSD_DNS_MAX_LABELS + KSD_DNS_MAX_PTRS + 1; step++) {
        size_t pos = cur == r ? start + (rd_off(r) - off0) : rd_off(cur);
        uint8_t c = rd_u8(cur);

        if (rd_err(cur))
            return dns_name_fail(out, KSD_DNS_ERR_TRUNC_NAME);
        if ((c & KSD_DNS_PTR_MASK) == KSD_DNS_PTR_MASK) {
            uint8_t lo = rd_u8(cur);
            if (rd_err(cur))
                return dns_name_fail(out, KSD_DNS_ERR_TRUNC_NAME);
            size_t target = ((size_t)(c & 0x3f) << 8) | lo;
            if (target >= msg_len)
                return dns_name_fail(out, KSD_DNS_ERR_PTR_RANGE);
            seg_end[n_segs++] = pos + 2;
            if (target >= bound) {
                for (size_t i = 0; i < n_segs; i++)
                    if (target >= seg_start[i] && target < seg_end[i])
                        return dns_name_fail(out, KSD_DNS_ERR_PTR_LOOP);
                return dns_name_fail(out, KSD_DNS_ERR_PTR_FORWARD);
            }
            if (++hops > KSD_DNS_MAX_PTRS)
                return dns_name_fail(out, KSD_DNS_ERR_PTR_LOOP);
            bound = target;
            seg_start[n_segs] = target;
            m = rd_make(msg, msg_len);
            rd_skip(&m, target);
            cur = &m;
            continue;
        }
        if (c & KSD_DNS_PTR_MASK) /* 01 (extended, RFC 6891) and 10 (reserved) */
            return dns_name_fail(out, KSD_DNS_ERR_LABEL_LEN);
        if (c == 0) {
            out[o] = '\0';
            return 0;
        }
        if (++n_labels >= KSD_DNS_MAX_LABELS)
            return dns_name_fail(out, KSD_DNS_ERR_NAME_LEN);
        wire += 1 + (size_t)c;
        if (wire + 1 > KSD_DNS_MAX_WIRE_NAME) /* +1: the root label still follows */
            return dns_name_fail(out, KSD_DNS_ERR_NAME_LEN);
        if (!rd_has(cur, c))
            return dns_name_fail(out, KSD_DNS_ERR_TRUNC_NAME);
        if (o > 0 && o + 1 < KSD_DNS_NAME_BUF)
            out[o++] = '.';
        for (size_t i = 0; i < c; i++)
            o = dns_put_byte(out, o, rd_u8(cur));
        out[o] = '\0';
    }
    /* unreachable: labels and hops are capped above */
    return dns_name_fail(out, KSD_DNS_ERR_NAME_LEN);
}

/* ------------------------------------------------------------- messages */

struct dns_ctx {
    const uint8_t *msg;      /* whole message */
    size_t len;              /* its length */
    struct ksd_dns_msg *out; /* result */
    int too_many;            /* a count cap was reached (not fatal) */
};

/* Record a problem; only the first one is kept. */
static void dns_note(struct dns_ctx *c, int err)
{
    if (c->out->err == KSD_DNS_OK)
        c->out->err = err;
}

static int dns_rc(int err)
{
    switch (err) {
        case KSD_DNS_OK:
            return KSD_OK;
        case KSD_DNS_ERR_SHORT_HEADER:
        case KSD_DNS_ERR_TRUNC_QUESTION:
        case KSD_DNS_ERR_TRUNC_RR:
            return KSD_ETRUNC;
        case KSD_DNS_ERR_TOO_MANY:
            return KSD_ELIMIT;
        default:
            return KSD_EINVAL;
    }
}

/* Step over a name that could not be decoded, using only its uncompressed
 * part at the cursor: labels up to a root label or a pointer. Returns 0, or
 * -1 when its extent cannot be known (bad label type, bytes ran out). */
static int dns_skip_name(struct ksd_rd *r)
{
    for (unsigned i = 0; i < KSD_DNS_MAX_SKIP_LABELS; i++) {
        uint8_t c = rd_u8(r);
        if (rd_err(r))
            return -1;
        if (c == 0)
            return 0;
        if ((c & KSD_DNS_PTR_MASK) == KSD_DNS_PTR_MASK) {
            rd_skip(r, 1);
            return rd_err(r) ? -1 : 0;
        }
        if (c & KSD_DNS_PTR_MASK)
            return -1;
        rd_skip(r, c);
    }
    return -1;
}

/* Read a name of the question or a record header. Returns 0 (dst filled),
 * 1 (bad name stepped over, problem noted, dst ""), or -1 (cannot go on). */
static int dns_name(struct dns_ctx *c, struct ksd_rd *r, char *dst, int trunc_err)
{
    struct ksd_rd save = *r;
    int e = ksd_dns_read_name(r, c->msg, c->len, dst);

    if (e == 0)
        return 0;
    dns_note(c, e == -KSD_DNS_ERR_TRUNC_NAME ? trunc_err : -e);
    *r = save;
    if (dns_skip_name(r) < 0) {
        dns_note(c, trunc_err);
        return -1;
    }
    return 1;
}

/* Read a name inside RDATA; a bad name is noted. Returns 0 or -1. */
static int dns_rdata_name(struct dns_ctx *c, struct ksd_rd *rd, char *dst)
{
    int e = ksd_dns_read_name(rd, c->msg, c->len, dst);

    if (e == 0)
        return 0;
    dns_note(c, e == -KSD_DNS_ERR_TRUNC_NAME ? KSD_DNS_ERR_RDATA : -e);
    return -1;
}

/* Next free answer entry, filled with the record's common fields, or NULL
 * when the cap is reached. */
static struct ksd_dns_rr *dns_add_answer(struct dns_ctx *c, const char *owner, uint16_t type,
                                         uint16_t rclass, uint32_t ttl, const char *target)
{
    struct ksd_dns_msg *out = c->out;

    if (out->n_answers >= KSD_DNS_MAX_ANSWERS) {
        c->too_many = 1;
        return NULL;
    }
    struct ksd_dns_rr *rr = &out->an[out->n_answers++];
    size_t n = strlen(owner);
    memcpy(rr->owner, owner, n + 1);
    rr->type = type;
    rr->rclass = rclass;
    rr->ttl = ttl;
    rr->family = 0;
    memset(rr->addr, 0, sizeof(rr->addr));
    n = strlen(target);
    memcpy(rr->target, target, n + 1);
    return rr;
}

/* SVCB/HTTPS RDATA (RFC 9460 2.2): SvcPriority, TargetName, SvcParams. One
 * answer entry per ipv4hint/ipv6hint address, or one without address. The
 * entries are added only when the whole RDATA is well formed. */
static void dns_svcb(struct dns_ctx *c, struct ksd_rd *rd, const char *owner, uint16_t type,
                     uint16_t rclass, uint32_t ttl)
{
    char target[KSD_DNS_NAME_BUF];
    struct ksd_rd params;
    unsigned n_addrs = 0;

    uint16_t prio = rd_be16(rd);
    if (rd_err(rd)) {
        dns_note(c, KSD_DNS_ERR_RDATA);
        return;
    }
    if (dns_rdata_name(c, rd, target) < 0)
        return;
    /* First pass validates the SvcParams, the second stores the hints.
     * AliasMode (priority 0) carries no meaningful SvcParams. */
    params = *rd;
    for (unsigned i = 0; prio != 0 && rd_left(&params) > 0; i++) {
        if (i >= KSD_DNS_MAX_SVCPARAMS) {
            dns_note(c, KSD_DNS_ERR_TOO_MANY);
            return;
        }
        uint16_t key = rd_be16(&params);
        uint16_t vlen = rd_be16(&params);
        rd_skip(&params, vlen);
        if (rd_err(&params)) {
            dns_note(c, KSD_DNS_ERR_RDATA);
            return;
        }
        if ((key == KSD_DNS_SVC_IPV4 && (vlen == 0 || vlen % 4 != 0)) ||
            (key == KSD_DNS_SVC_IPV6 && (vlen == 0 || vlen % 16 != 0))) {
            dns_note(c, KSD_DNS_ERR_RDATA);
            return;
        }
    }
    for (unsigned i = 0; prio != 0 && rd_left(rd) > 0 && i < KSD_DNS_MAX_SVCPARAMS; i++) {
        uint16_t key = rd_be16(rd);
        uint16_t vlen = rd_be16(rd);
        struct ksd_rd v = rd_sub(rd, vlen);
        size_t alen = key == KSD_DNS_SVC_IPV4 ? 4 : key == KSD_DNS_SVC_IPV6 ? 16 : 0;
        /* at most 65535 / 4 addresses; the answer cap stops storing early */
        while (alen != 0 && rd_left(&v) >= alen) {
            struct ksd_dns_rr *rr = dns_add_answer(c, owner, type, rclass, ttl, target);
            n_addrs++;
            if (!rr)
                break;
            rr->family = alen == 4 ? 4 : 6;
            memcpy(rr->addr, rd_bytes(&v, alen), alen);
        }
    }
    if (n_addrs == 0)
        dns_add_answer(c, owner, type, rclass, ttl, target);
}

/* One record of the answer section whose RDATA window is rd. */
static void dns_answer(struct dns_ctx *c, struct ksd_rd *rd, const char *owner, uint16_t type,
                       uint16_t rclass, uint32_t ttl)
{
    char target[KSD_DNS_NAME_BUF];
    struct ksd_dns_rr *rr;
    size_t alen = type == KSD_DNS_TYPE_A ? 4 : 16;

    switch (type) {
        case KSD_DNS_TYPE_A:
        case KSD_DNS_TYPE_AAAA:
            if (rd_left(rd) != alen) {
                dns_note(c, KSD_DNS_ERR_RDATA);
                return;
            }
            rr = dns_add_answer(c, owner, type, rclass, ttl, "");
            if (rr) {
                rr->family = alen == 4 ? 4 : 6;
                memcpy(rr->addr, rd_bytes(rd, alen), alen);
            }
            return;
        case KSD_DNS_TYPE_CNAME:
            if (dns_rdata_name(c, rd, target) == 0)
                dns_add_answer(c, owner, type, rclass, ttl, target);
            return;
        case KSD_DNS_TYPE_SVCB:
        case KSD_DNS_TYPE_HTTPS:
            dns_svcb(c, rd, owner, type, rclass, ttl);
            return;
        default:
            return;
    }
}

/* Walk the questions and records; returns when done or when a problem
 * leaves no way to find the next item (out->err says which). */
static void dns_walk(struct dns_ctx *c, struct ksd_rd *r, const uint16_t count[4])
{
    struct ksd_dns_msg *out = c->out;
    char name[KSD_DNS_NAME_BUF];
    size_t walked = 0;

    /* Question section (RFC 1035 4.1.2). */
    for (unsigned i = 0; i < count[0]; i++) {
        if (++walked > KSD_DNS_MAX_RECORDS) {
            dns_note(c, KSD_DNS_ERR_TOO_MANY);
            return;
        }
        int keep = out->n_questions < KSD_DNS_MAX_QUESTIONS;
        int bad =
            dns_name(c, r, keep ? out->q[out->n_questions].name : name, KSD_DNS_ERR_TRUNC_QUESTION);
        if (bad < 0)
            return;
        uint16_t qtype = rd_be16(r);
        uint16_t qclass = rd_be16(r);
        if (rd_err(r)) {
            dns_note(c, KSD_DNS_ERR_TRUNC_QUESTION);
            return;
        }
        if (bad)
            continue;
        if (!keep) {
            c->too_many = 1;
            continue;
        }
        out->q[out->n_questions].qtype = qtype;
        out->q[out->n_questions].qclass = qclass & KSD_DNS_CLASS_MASK;
        out->n_questions++;
    }

    /* Answer, authority and additional sections (RFC 1035 4.1.3). A record
     * whose owner cannot be decoded is kept with owner "". */
    for (size_t s = 1; s < 4; s++) {
        for (unsigned i = 0; i < count[s]; i++) {
            if (++walked > KSD_DNS_MAX_RECORDS) {
                dns_note(c, KSD_DNS_ERR_TOO_MANY);
                return;
            }
            if (dns_name(c, r, name, KSD_DNS_ERR_TRUNC_RR) < 0)
                return;
            uint16_t type = rd_be16(r);
            uint16_t rclass = rd_be16(r);
            uint32_t ttl = rd_be32(r);
            uint16_t rdlen = rd_be16(r);
            struct ksd_rd rd = rd_sub(r, rdlen);
            if (rd_err(r)) {
                dns_note(c, KSD_DNS_ERR_TRUNC_RR);
                return;
            }
            if (s == 1) {
                dns_answer(c, &rd, name, type, rclass & KSD_DNS_CLASS_MASK, ttl);
            } else if (s == 3 && type == KSD_DNS_TYPE_OPT) {
                /* RFC 6891 6.1.2: owner is root, CLASS is the UDP payload size */
                out->edns = 1;
                out->edns_udp_size = rclass;
            }
        }
    }
}

int ksd_dns_parse(const uint8_t *p, size_t len, struct ksd_dns_msg *out)
{
    struct dns_ctx c = {p, len, out, 0};
    struct ksd_rd r = rd_make(p, len);
    uint16_t count[4]; /* QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT */

    out->id = out->flags = 0;
    out->qr = out->opcode = out->tc = out->rcode = 0;
    out->edns = 0;
    out->edns_udp_size = 0;
    out->n_questions = out->n_answers = 0;
    out->err = KSD_DNS_OK;

    if (len < KSD_DNS_HEADER_LEN) {
        out->err = KSD_DNS_ERR_SHORT_HEADER;
        return KSD_ETRUNC;
    }
    out->id = rd_be16(&r);
    out->flags = rd_be16(&r);
    out->qr = (uint8_t)(out->flags >> 15);
    out->opcode = (uint8_t)((out->flags >> 11) & 0xf);
    out->tc = (uint8_t)((out->flags >> 9) & 1);
    out->rcode = (uint8_t)(out->flags & 0xf);
    for (size_t i = 0; i < 4; i++)
        count[i] = rd_be16(&r);

    dns_walk(&c, &r, count);
    if (out->err == KSD_DNS_OK && c.too_many)
        out->err = KSD_DNS_ERR_TOO_MANY;
    return dns_rc(out->err);
}

/* ----------------------------------------------------------- TCP, probe */

int ksd_dns_tcp_frame(const uint8_t *p, size_t len, size_t *msg_off, size_t *msg_len)
{
    struct ksd_rd r = rd_make(p, len);
    uint16_t n = rd_be16(&r);

    if (rd_err(&r))
        return KSD_EAGAIN;
    if (n < KSD_DNS_HEADER_LEN)
        return KSD_EINVAL;
    if (rd_left(&r) < n)
        return KSD_EAGAIN;
    *msg_off = 2;
    *msg_len = n;
    return KSD_OK;
}

int ksd_dns_probe(const uint8_t *p, size_t len)
{
    struct ksd_rd r = rd_make(p, len);
    char name[KSD_DNS_NAME_BUF];

    if (len < KSD_DNS_HEADER_LEN + 5)
        return 0;
    rd_skip(&r, 2); /* ID */
    uint16_t flags = rd_be16(&r);
    uint16_t qd = rd_be16(&r);
    uint16_t an = rd_be16(&r);
    uint16_t ns = rd_be16(&r);
    uint16_t ar = rd_be16(&r);
    unsigned opcode = (flags >> 11) & 0xf;

    if (flags & 0x0040) /* Z bit: must be zero */
        return 0;
    if (opcode == 3 || opcode > 6)
        return 0;
    if (qd == 0 || qd > KSD_DNS_MAX_QUESTIONS)
        return 0;
    if (an > 256 || ns > 256 || ar > 256)
        return 0;
    if (!(flags & 0x8000) && (an != 0 || (flags & 0xf) != 0))
        return 0; /* a query carries no answers and no RCODE */
    if (ksd_dns_read_name(&r, p, len, name) < 0)
        return 0;
    uint16_t qtype = rd_be16(&r);
    uint16_t qclass = rd_be16(&r) & KSD_DNS_CLASS_MASK;
    if (rd_err(&r) || qtype == 0)
        return 0;
    return qclass == 1 || qclass == 3 || qclass == 4 || qclass == 254 || qclass == 255;
}
