/*
 * dhcp.c - DHCPv4 dissector: the fixed BOOTP header (RFC 2131 section 2),
 * the magic cookie, then options (RFC 2132) walked with a cap. Kept: the
 * message type (53), requested address (50), lease time (51), host name
 * (12), vendor class identifier (60) and the client FQDN (RFC 4702, option
 * 81: flags, two RCODE bytes, then the name, in DNS wire format when the E
 * flag is set, else ASCII).
 *
 * Does not: follow option overload (52) into sname/file, concatenate split
 * options (RFC 3396), parse DHCPv6. Pure: no state, every byte read
 * through rd.h.
 */
#include "dissectors/dhcp.h"

#include <string.h>

#include "dissectors/ksd.h"
#include "dissectors/rd.h"

#define DHCP_FIXED_LEN 236 /* op .. file */
#define DHCP_COOKIE    0x63825363u

/* Copy n bytes as a printable string: bytes outside 0x20..0x7e become '?'. */
static void copy_name(char *out, const uint8_t *s, size_t n)
{
    if (n > KSD_DHCP_NAME_MAX - 1)
        n = KSD_DHCP_NAME_MAX - 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0 && i + 1 == n)
            break; /* some clients NUL-terminate option 12 */
        out[k++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    }
    out[k] = '\0';
}

/* Option 81's name in DNS wire format (uncompressed labels, RFC 4702 2.3.1). */
static void copy_wire_name(char *out, struct ksd_rd r)
{
    size_t k = 0;
    out[0] = '\0';
    for (int labels = 0; labels < KSD_DHCP_MAX_LABELS && rd_left(&r) > 0; labels++) {
        uint8_t l = rd_u8(&r);
        if (l == 0 || l > 63 || !rd_has(&r, l))
            break;
        const uint8_t *lab = rd_bytes(&r, l);
        if (k + l + 2 > KSD_DHCP_NAME_MAX)
            break;
        if (k)
            out[k++] = '.';
        copy_name(out + k, lab, l);
        k += strlen(out + k);
    }
}

int ksd_dhcp_parse(const uint8_t *p, size_t len, struct ksd_dhcp_msg *m)
{
    memset(m, 0, sizeof(*m));
    struct ksd_rd r = rd_make(p, len);
    if (!rd_has(&r, DHCP_FIXED_LEN + 4))
        return KSD_ETRUNC;
    m->op = rd_u8(&r);
    uint8_t htype = rd_u8(&r), hlen = rd_u8(&r);
    if (m->op != 1 && m->op != 2)
        return KSD_EINVAL;
    rd_skip(&r, 1); /* hops */
    m->xid = rd_be32(&r);
    rd_skip(&r, 4); /* secs, flags */
    memcpy(m->ciaddr, rd_bytes(&r, 4), 4);
    memcpy(m->yiaddr, rd_bytes(&r, 4), 4);
    rd_skip(&r, 4); /* siaddr */
    memcpy(m->giaddr, rd_bytes(&r, 4), 4);
    const uint8_t *ch = rd_bytes(&r, 16);
    if (htype == 1 && hlen == 6) {
        m->has_mac = 1;
        memcpy(m->chaddr, ch, 6);
    }
    rd_skip(&r, 64 + 128); /* sname, file */
    if (rd_be32(&r) != DHCP_COOKIE)
        return KSD_EINVAL;
    for (int n = 0; rd_left(&r) > 0; n++) {
        if (n >= KSD_DHCP_MAX_OPTIONS)
            return KSD_ELIMIT;
        uint8_t code = rd_u8(&r);
        if (code == 0)
            continue;
        if (code == 255)
            return KSD_OK;
        if (!rd_has(&r, 1))
            return KSD_ETRUNC;
        uint8_t olen = rd_u8(&r);
        if (!rd_has(&r, olen))
            return KSD_ETRUNC;
        struct ksd_rd o = rd_sub(&r, olen);
        switch (code) {
            case 12:
                copy_name(m->host, rd_ptr(&o), olen);
                break;
            case 60:
                copy_name(m->vendor, rd_ptr(&o), olen);
                break;
            case 50:
                if (olen == 4) {
                    m->has_requested = 1;
                    memcpy(m->requested, rd_bytes(&o, 4), 4);
                }
                break;
            case 51:
                if (olen == 4) {
                    m->has_lease = 1;
                    m->lease_s = rd_be32(&o);
                }
                break;
            case 53:
                if (olen == 1)
                    m->type = rd_u8(&o);
                break;
            case 81:
                if (olen > 3) {
                    uint8_t flags = rd_u8(&o);
                    rd_skip(&o, 2); /* RCODE1, RCODE2 */
                    if (flags & 0x04)
                        copy_wire_name(m->fqdn, o);
                    else
                        copy_name(m->fqdn, rd_ptr(&o), rd_left(&o));
                }
                break;
            default:
                break;
        }
    }
    return KSD_OK; /* no end option: what was there is kept */
}
