/*
 * cidr.c - IPv4/IPv6 prefix rules: parsing "addr/len" and longest-prefix
 * match.
 *
 * The prefixes of each family are kept in one array sorted by prefix length
 * (longest first), then by address; each run of equal length is a group. A
 * lookup masks the address to each group's length, longest first, and
 * binary-searches the group: cost = (distinct lengths) x log(prefixes), no
 * allocation, no pointer chasing. Addresses are parsed with inet_pton
 * (RFC 4291 section 2.2 text forms for IPv6, dotted quad for IPv4).
 *
 * What it does not do: ASN lookups, or prefixes given as ranges.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/ksd.h"
#include "signatures/sig_int.h"

int ksd_sig_parse_cidr(const char *p, uint8_t addr[16], int *family, int *plen, char *why,
                       size_t cap)
{
    char host[64];
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    int fam, maxlen, len;

    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(why, cap, "bad CIDR: missing or overlong address");
        return -1;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    memset(addr, 0, 16);
    if (strchr(host, ':') != NULL) {
        fam = 6;
        maxlen = 128;
        if (inet_pton(AF_INET6, host, addr) != 1) {
            snprintf(why, cap, "bad CIDR: '%s' is not an IPv6 address", host);
            return -1;
        }
    } else {
        fam = 4;
        maxlen = 32;
        if (inet_pton(AF_INET, host, addr) != 1) {
            snprintf(why, cap, "bad CIDR: '%s' is not an IPv4 address", host);
            return -1;
        }
    }
    if (slash == NULL) {
        len = maxlen;
    } else {
        const char *d = slash + 1;
        len = 0;
        if (*d == '\0' || strlen(d) > 3) {
            snprintf(why, cap, "bad CIDR: prefix length must be 1..%d", maxlen);
            return -1;
        }
        for (; *d; d++) {
            if (!ksd_is_digit((uint8_t)*d)) {
                snprintf(why, cap, "bad CIDR: prefix length must be 1..%d", maxlen);
                return -1;
            }
            len = len * 10 + (*d - '0');
        }
        if (len < 1 || len > maxlen) {
            snprintf(why, cap, "bad CIDR: prefix length must be 1..%d", maxlen);
            return -1;
        }
    }
    for (int bit = len; bit < maxlen; bit++) {
        if (addr[bit / 8] & (0x80u >> (bit % 8))) {
            snprintf(why, cap, "bad CIDR: host bits set after /%d", len);
            return -1;
        }
    }
    *family = fam;
    *plen = len;
    return 0;
}

static int pfx_cmp(const void *a, const void *b)
{
    const struct ksd_sig_pfx *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    int c = memcmp(x->addr, y->addr, 16);
    if (c != 0)
        return c;
    return x->rule < y->rule ? -1 : (x->rule > y->rule);
}

int ksd_sig_build_cidr(struct ksd_sigset *s, int *bad_line, char *why, size_t cap)
{
    size_t cnt[2] = {0, 0};
    for (size_t i = 0; i < s->n; i++) {
        const struct ksd_rule *r = &s->rules[i];
        if (r->kind == KSD_RULE_CIDR)
            cnt[strchr(r->pattern, ':') ? 1 : 0]++;
    }
    for (int f = 0; f < 2; f++) {
        if (cnt[f] == 0)
            continue;
        s->pfx[f] = calloc(cnt[f], sizeof(*s->pfx[f]));
        s->pgrp[f] = calloc(f ? 128 : 32, sizeof(*s->pgrp[f]));
        if (s->pfx[f] == NULL || s->pgrp[f] == NULL)
            return KSD_ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct ksd_rule *r = &s->rules[i];
        if (r->kind != KSD_RULE_CIDR)
            continue;
        uint8_t addr[16];
        int fam, len;
        if (ksd_sig_parse_cidr(r->pattern, addr, &fam, &len, why, cap) != 0) {
            *bad_line = r->line;
            return KSD_EINVAL; /* cannot happen: the loader parsed it already */
        }
        int f = fam == 6;
        struct ksd_sig_pfx *e = &s->pfx[f][s->npfx[f]++];
        memcpy(e->addr, addr, 16);
        e->len = (uint8_t)len;
        e->rule = (uint32_t)i;
    }
    for (int f = 0; f < 2; f++) {
        if (s->npfx[f] == 0)
            continue;
        qsort(s->pfx[f], s->npfx[f], sizeof(*s->pfx[f]), pfx_cmp);
        for (size_t i = 0; i < s->npfx[f]; i++) {
            const struct ksd_sig_pfx *e = &s->pfx[f][i];
            if (i > 0 && e->len == e[-1].len && memcmp(e->addr, e[-1].addr, 16) == 0) {
                *bad_line = s->rules[e->rule].line;
                snprintf(why, cap, "duplicate prefix %s (also rule '%s' at line %d)",
                         s->rules[e->rule].pattern, s->rules[e[-1].rule].id,
                         s->rules[e[-1].rule].line);
                return KSD_EINVAL;
            }
            if (i == 0 || e->len != e[-1].len) {
                struct ksd_sig_pgrp *g = &s->pgrp[f][s->npgrp[f]++];
                g->len = e->len;
                g->start = (uint32_t)i;
            }
            s->pgrp[f][s->npgrp[f] - 1].end = (uint32_t)i + 1;
        }
    }
    return KSD_OK;
}

const struct ksd_rule *ksd_sig_match_addr(const struct ksd_sigset *s, int family,
                                          const uint8_t *addr)
{
    if (s == NULL || addr == NULL || (family != 4 && family != 6))
        return NULL;
    int f = family == 6;
    size_t alen = f ? 16 : 4;
    for (size_t g = 0; g < s->npgrp[f]; g++) {
        const struct ksd_sig_pgrp *grp = &s->pgrp[f][g];
        uint8_t key[16] = {0};
        memcpy(key, addr, alen);
        size_t full = grp->len / 8;
        if (full < 16) {
            key[full] &= (uint8_t)(0xff00u >> (grp->len % 8));
            memset(key + full + 1, 0, 15 - full);
        }
        size_t lo = grp->start, hi = grp->end;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = memcmp(s->pfx[f][mid].addr, key, 16);
            if (c == 0)
                return &s->rules[s->pfx[f][mid].rule];
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return NULL;
}
